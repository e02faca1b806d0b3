/* core/executor.h - the executor process: runs actions for the daemon.
 *
 * assay-executor is started (posix_spawn) by the pool with the protocol
 * socket on `fd`; its stdout/stderr are a pipe the pool reads so that a job's
 * output is captured and bounded. It serves job frames one at a time, in
 * order, until the socket closes. A crash in a plugin ends this process; the
 * pool reports the job and replaces the executor.
 *
 * Frames (msgpack maps, see frame.h and docs/architecture.md):
 *   pool -> executor  {t:"job", seq, plugin, action, params, config,
 *                      timeout_ms, cpu_s}
 *   executor -> pool  {t:"result", seq, status, message, reason, findings,
 *                      data, duration_us} */
#ifndef ASSAY_CORE_EXECUTOR_H
#define ASSAY_CORE_EXECUTOR_H

#include <stdint.h>

typedef struct assay_executor_opts {
    int fd;            /* protocol socket */
    int64_t memory_mb; /* RLIMIT_AS for the whole process; 0 = none */
} assay_executor_opts;

/* Runs until the socket closes; returns the process exit code. */
int assay_executor_main(const assay_executor_opts *opts);

#endif
