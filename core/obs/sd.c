/* core/obs/sd.c - what assayd tells systemd: see sd.h. */
#include "obs/sd.h"

#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

/* The last STATUS= sent, so that a steady one is not sent every tick. */
static char s_last[256];

int64_t assay_sd_watchdog_ms(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? (int64_t)(usec / 2000) : 0;
}

void assay_sd_ready(const char *status)
{
    snprintf(s_last, sizeof s_last, "%s", status);
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void assay_sd_status(const char *status)
{
    if (!strcmp(status, s_last))
        return;
    snprintf(s_last, sizeof s_last, "%s", status);
    sd_notifyf(0, "STATUS=%s", status);
}

void assay_sd_watchdog(void) { sd_notify(0, "WATCHDOG=1"); }

void assay_sd_stopping(void) { sd_notify(0, "STOPPING=1"); }
