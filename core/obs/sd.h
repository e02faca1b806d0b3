/* core/obs/sd.h - what assayd tells systemd (sd_notify(3), libsystemd):
 * READY=1 once it serves, STATUS= with its role and leader as they
 * change, WATCHDOG=1 from its loop while WatchdogSec asks for it, and
 * STOPPING=1 when it stops. Outside systemd (no $NOTIFY_SOCKET) each is
 * a no-op. */
#ifndef ASSAY_CORE_OBS_SD_H
#define ASSAY_CORE_OBS_SD_H

#include <stdint.h>

/* How often to send WATCHDOG=1 (half of what systemd waits for), in ms;
 * 0 when no watchdog is asked of this process. */
int64_t assay_sd_watchdog_ms(void);
void assay_sd_ready(const char *status);
/* Sends STATUS=status when it differs from the last one sent. */
void assay_sd_status(const char *status);
void assay_sd_watchdog(void);
void assay_sd_stopping(void);

#endif
