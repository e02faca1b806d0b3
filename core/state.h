/* core/state.h - the replicated state machine: JobSpecs, Jobs and their
 * transitions, the runtime registry (with each runtime's heartbeat
 * interval: the configuration store of seed 002).
 *
 * Every change is a command (a versioned JSON object, msgpack in the log)
 * applied in log order on every member, so any member can take over. Only
 * the leader's bookkeeping (leases, credit, last heartbeat) lives outside.
 * Applying a command that does not fit the current state (a result for an
 * old attempt, a dispatch of a job no longer queued) changes nothing and
 * returns ASSAY_ERANGE: that is the fencing of invariant 2.
 *
 * Commands ("v": 1 on all):
 *   {op:"submit", spec:{id, action, version, resolved, labels, selector,
 *                       timeout_ms, max_attempts, priority, memory_mb},
 *    jobs:[{id, params}]}
 *   {op:"dispatch", items:[{job, attempt, runtime, version}]}
 *   {op:"result", items:[{job, attempt, result, runtime}]}
 *   {op:"requeue", items:[{job, attempt, reason, runtime?}]}
 *   {op:"cancel", jobs:[id]}
 *   {op:"runtime", id, heartbeat_ms, labels, capacity, catalog}
 *   {op:"runtime_state", id, alive}
 *   {op:"leader", id, endpoint, events, member}: a member took the lead;
 *     committed by each new leader before it acts, so it is also the
 *     barrier after which its state is complete. */
#ifndef ASSAY_CORE_STATE_H
#define ASSAY_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "index.h"

#define ASSAY_STATE_VERSION 1

typedef enum {
    ASSAY_JOB_QUEUED = 0,
    ASSAY_JOB_RUNNING,
    ASSAY_JOB_COMPLETED,
    ASSAY_JOB_FAILED,
    ASSAY_JOB_CANCELLED,
} assay_job_state;

typedef struct assay_spec_rec {
    char id[65];
    json_t *spec;  /* {id, action, version, labels, selector, timeout_ms,
                      max_attempts, priority} */
    json_t *jobs;  /* array of job ids */
    int64_t timeout_ms, max_attempts, priority;
    struct assay_spec_rec *next; /* submission order */
} assay_spec_rec;

typedef struct assay_job {
    char id[96];
    assay_spec_rec *spec;
    json_t *params;
    assay_job_state state;
    int64_t attempt;  /* attempt of the latest dispatch; 0 = never */
    char runtime[64]; /* where the latest attempt runs or ran */
    char version[64]; /* plugin version of the latest attempt */
    json_t *result;   /* COMPLETED: the result */
    char *reason;     /* FAILED / CANCELLED / requeue reason, or NULL */
    uint64_t seq;     /* submission order */
    /* Leader bookkeeping, not replicated. */
    int64_t lease_ms;
    bool dispatching;
    bool reported; /* a result or requeue for this attempt is committing */
    char *waiting; /* QUEUED: why no runtime can take it, NULL if any can */
    /* QUEUED: priority queue links; RUNNING: running list links. */
    struct assay_job *prev, *next;
    /* RUNNING: the list of its runtime (assay_state_running_on). */
    struct assay_job *rt_prev, *rt_next;
    struct assay_job *all_next; /* every job, submission order */
} assay_job;

typedef struct assay_runtime_rec {
    char id[64];
    json_t *info; /* {id, heartbeat_ms, labels, capacity, catalog} */
    int64_t heartbeat_ms;
    bool alive;
    size_t pos; /* its index in assay_state_runtime_ids (never changes) */
} assay_runtime_rec;

typedef struct assay_state assay_state;

/* Called after each applied transition with topic (job.queued, job.running,
 * job.completed, job.failed, job.cancelled, runtime.alive, runtime.dead)
 * and a body owned by the state (valid during the call), or NULL when the
 * wants filter said nobody listens to that topic. */
typedef void (*assay_state_event_fn)(void *arg, const char *topic,
                                     json_t *body);
/* Whether an event body for `topic` is worth building (same arg). */
typedef bool (*assay_state_wants_fn)(void *arg, const char *topic);

assay_state *assay_state_new(assay_state_event_fn on_event, void *arg);
void assay_state_destroy(assay_state **self_p);
void assay_state_set_wants(assay_state *self, assay_state_wants_fn wants);

/* Applies one command; *result (may be NULL) gets a new object describing
 * what happened (e.g. submit: {spec, jobs, duplicate}). */
int assay_state_apply(assay_state *self, const json_t *cmd, json_t **result);

/* Whole state as one JSON value, and back (snapshots). */
json_t *assay_state_dump(const assay_state *self);
int assay_state_load(assay_state *self, const json_t *dump);

assay_job *assay_state_job(const assay_state *self, const char *id);
assay_spec_rec *assay_state_spec(const assay_state *self, const char *id);
assay_runtime_rec *assay_state_runtime(const assay_state *self,
                                       const char *id);
/* Queued jobs, highest priority first, FIFO within a priority. */
assay_job *assay_state_queue_first(const assay_state *self);
assay_job *assay_state_queue_next(const assay_state *self,
                                  const assay_job *job);
assay_job *assay_state_running(const assay_state *self);
/* The running jobs whose latest attempt is on runtime `id`, linked by
 * rt_next (NULL if none), and in *count how many. */
assay_job *assay_state_running_on(const assay_state *self, const char *id,
                                  size_t *count);
assay_job *assay_state_jobs(const assay_state *self);
/* Clears every job's leader bookkeeping (lease, dispatching, reported,
 * waiting): a member starting or ceasing to lead trusts none of it. */
void assay_state_reset_marks(assay_state *self);
/* The last "leader" command applied: {id, endpoint, events, member}, or
 * NULL. */
const json_t *assay_state_leader(const assay_state *self);
/* Runtimes in registration order (json array of ids). */
const json_t *assay_state_runtime_ids(const assay_state *self);

/* Sets a job's reason or waiting note (NULL or "" clears it). Notes live
 * on the heap: most jobs never have one, and a million queued jobs must
 * not carry room for them (docs/benchmarks.md, memory per queued job). */
void assay_job_note(char **field, const char *text);

const char *assay_job_state_name(assay_job_state s);
int assay_job_state_parse(const char *name);
/* {id, spec, action, state, attempt, max_attempts, runtime, version,
 *  labels, priority, reason?, result?} */
json_t *assay_job_json(const assay_job *job, bool with_result);

#endif
