/* core/base/log.h - the process's log: one line per event on stderr (or the fd
 * given to assay_log_set_fd), at most 1 KiB of message per line. */
#ifndef ASSAY_CORE_LOG_H
#define ASSAY_CORE_LOG_H

#include <stdio.h>

#include <assay/host.h>

void assay_log_init(const char *program, int level);
void assay_log_set_level(int level);
int assay_log_level(void);
/* Writes the log to `fd` instead of stderr: an executor logs to the
 * daemon's log, because its own stderr is a job's captured output. */
void assay_log_set_fd(int fd);
int assay_log_fd(void);
/* "error", "warn", "info", "debug" (out-of-range levels are clamped), and
 * back; parse returns ASSAY_EINVAL for any other text. */
const char *assay_log_level_name(int level);
int assay_log_level_parse(const char *name);
void assay_logf(int level, const char *fmt, ...) ASSAY_PRINTF(2, 3);
/* A line about a job and/or a runtime (NULL: none): in the journal the
 * ids are fields of their own, ASSAY_JOB and ASSAY_RUNTIME, so that
 * `journalctl ASSAY_RUNTIME=rt7` finds every line about rt7; on stderr
 * the line alone (its text names them). */
void assay_logf_ids(int level, const char *job, const char *runtime,
                    const char *fmt, ...) ASSAY_PRINTF(4, 5);
/* Copies the last `lines` lines (at most 64) of the log file at `path` to
 * `out`, under a header naming `name`: what a daemon said, for the tools
 * and tests that started it. Nothing when the file cannot be read. */
void assay_log_tail(const char *path, const char *name, int lines,
                    FILE *out);

#define assay_error(...) assay_logf(ASSAY_LOG_ERROR, __VA_ARGS__)
#define assay_warn(...) assay_logf(ASSAY_LOG_WARN, __VA_ARGS__)
#define assay_info(...) assay_logf(ASSAY_LOG_INFO, __VA_ARGS__)
#define assay_debug(...) assay_logf(ASSAY_LOG_DEBUG, __VA_ARGS__)

#endif
