/* core/exec/pool.h - the daemon side of the executors: a pool of pre-spawned
 * assay-executor processes, the jobs queued to them, their deadlines, output
 * limits and replacement when one dies. Executors log at this process's
 * level (assay_log_level) into its log (assay_log_fd), what plugins log
 * included; their stdout and stderr are the running job's output.
 *
 * Single-threaded and loop-agnostic: assay_pool_poll() does the I/O and the
 * timers; a later event loop can drive the same work through its fds. */
#ifndef ASSAY_CORE_POOL_H
#define ASSAY_CORE_POOL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct assay_pool assay_pool;

typedef struct assay_pool_config {
    const char *executor_path; /* the assay-executor binary */
    int executors;             /* processes; >= 1 */
    int depth;                 /* jobs queued to one executor at once */
    int64_t kill_grace_ms;     /* SIGTERM -> SIGKILL */
    int64_t memory_mb;         /* RLIMIT_AS per executor; 0 = none */
    int64_t cpu_s;             /* RLIMIT_CPU per job; 0 = none */
    size_t output_limit;       /* stdout+stderr bytes per job */
    const char *user;          /* executors run as it; NULL: as we do */
    /* Plugins whose executors run as another user: "PLUGIN=USER ..."
     * (exec/runas.h); NULL: none. */
    const char *run_as;
    bool private_tmp;          /* executors get a /tmp of their own */
    bool all_syscalls;         /* executors keep every system call */
} assay_pool_config;

typedef struct assay_task {
    const char *job_id;
    const char *plugin; /* its name, for run_as; NULL: none */
    const char *plugin_path;
    const char *action;
    const json_t *params; /* from assay_params_check() */
    const json_t *config; /* plugin config (text values) or NULL */
    int64_t timeout_ms;
} assay_task;

/* Receives each job's result object (ownership passes to the callee):
 * {job, status, message, reason?, findings, data, output?, duration_us}. */
typedef void (*assay_pool_done_fn)(void *arg, json_t *result);

int assay_pool_new(const assay_pool_config *cfg, assay_pool **out, char *err,
                   size_t errlen);
/* Stops every executor (jobs still queued get no callback). */
void assay_pool_destroy(assay_pool **self_p);

/* Queues a job. It reaches an executor at assay_pool_flush() or at the
 * next prepare/dispatch/poll, together with the others queued meanwhile:
 * one write per executor, not one per job. */
int assay_pool_submit(assay_pool *self, const assay_task *task,
                      assay_pool_done_fn cb, void *arg);
/* Sends the jobs submitted so far to executors with room, now. */
void assay_pool_flush(assay_pool *self);

/* Waits up to timeout_ms for progress; returns results delivered. */
int assay_pool_poll(assay_pool *self, int timeout_ms);

/* The same work split for an outside loop (loop.h's source interface):
 * prepare fills pollfds (3 per executor) and lowers *deadline_ms; dispatch
 * takes the polled fds back, does the I/O and fires due timers. */
int assay_pool_prepare(assay_pool *self, struct pollfd *pfd, int max,
                       int64_t *deadline_ms);
void assay_pool_dispatch(assay_pool *self, const struct pollfd *pfd, int n);

/* Cancels a job by id: a queued one ends at once, a running one when its
 * executor has been killed; its result has "cancelled": true and is not
 * retryable. ASSAY_ENOENT if the pool does not hold it. */
int assay_pool_cancel(assay_pool *self, const char *job_id);

/* Tells every executor to unload a plugin it may have loaded (the file
 * was withdrawn); jobs already queued to an executor run first. */
int assay_pool_unload(assay_pool *self, const char *plugin_path);

/* Jobs submitted whose callback has not run yet. */
size_t assay_pool_outstanding(const assay_pool *self);

/* Jobs the pool holds at full pipelining: executors x depth. */
size_t assay_pool_capacity(const assay_pool *self);

/* Executors started since creation, replacements included. */
uint64_t assay_pool_spawned(const assay_pool *self);

/* Why an executor running a job ended (and was started again). */
typedef enum {
    ASSAY_POOL_CRASH,     /* a signal we did not send, or an exit */
    ASSAY_POOL_TIMEOUT,   /* killed at the job's timeout */
    ASSAY_POOL_OUTPUT,    /* killed past output_limit */
    ASSAY_POOL_PROTOCOL,  /* killed for breaking the executor protocol */
    ASSAY_POOL_CANCELLED, /* killed because its job was cancelled */
    ASSAY_POOL_CAUSES
} assay_pool_cause;
extern const char *const ASSAY_POOL_CAUSE_NAMES[ASSAY_POOL_CAUSES];

/* Per plugin since creation (metrics): executors that ended running one
 * of its jobs, by cause, and its jobs whose result was an error (the
 * plugin's own, or a lost attempt's). At most ASSAY_POOL_PLUGINS plugins
 * by name; the rest are counted together as ASSAY_POOL_OTHER. */
#define ASSAY_POOL_PLUGINS 64
#define ASSAY_POOL_OTHER "(other)"
typedef struct assay_pool_faults {
    char plugin[64];
    uint64_t ended[ASSAY_POOL_CAUSES];
    uint64_t errors;
} assay_pool_faults;
const assay_pool_faults *assay_pool_faults_at(const assay_pool *self,
                                              size_t i);

#endif
