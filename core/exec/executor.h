/* core/exec/executor.h - the executor process: runs actions for the daemon.
 *
 * assay-executor is started (posix_spawn) by the pool with the protocol
 * socket on `fd`; its stdout/stderr are a pipe the pool reads so that a job's
 * output is captured and bounded. It serves job frames one at a time, in
 * order, until the socket closes. A crash in a plugin ends this process; the
 * pool reports the job and replaces the executor.
 *
 * After each job, before its result frame, the executor flushes stdio and
 * writes the job's end-of-output mark into the output pipe (through a
 * descriptor of its own, so a plugin that closes or redirects fd 1 cannot
 * lose it): the token the pool gave it (ASSAY_EXECUTOR_TOKEN bytes, as hex
 * in --output-mark) then the job's seq, 8 bytes big-endian. The pool cuts
 * the shared pipe at these marks, so each job gets exactly its own output
 * even when the next job has already written when the result is read.
 *
 * Frames (msgpack maps, see frame.h and docs/architecture.md):
 *   pool -> executor  {t:"job", seq, plugin, action, params, config,
 *                      timeout_ms, cpu_s}
 *   executor -> pool  {t:"result", seq, status, message, reason, findings,
 *                      data, duration_us} */
#ifndef ASSAY_CORE_EXECUTOR_H
#define ASSAY_CORE_EXECUTOR_H

#include <stdint.h>

#define ASSAY_EXECUTOR_TOKEN 16                         /* random bytes */
#define ASSAY_EXECUTOR_MARK (ASSAY_EXECUTOR_TOKEN + 8) /* token + seq */

typedef struct assay_executor_opts {
    int fd;            /* protocol socket */
    int64_t memory_mb; /* RLIMIT_AS for the whole process; 0 = none */
    unsigned char token[ASSAY_EXECUTOR_TOKEN]; /* end-of-output mark */
} assay_executor_opts;

/* Runs until the socket closes; returns the process exit code. */
int assay_executor_main(const assay_executor_opts *opts);

#endif
