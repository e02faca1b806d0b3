/* core/state/command.h - typed constructors of the state's commands: the
 * one place that knows their fields (state.h lists them) and stamps each
 * with its op and encoding version. A command is built straight into
 * the msgpack the log holds (no JSON tree per job); constructors return
 * a new command, or NULL without memory.
 *
 * Commands that carry one entry per job (submit's jobs, the dispatch,
 * result and requeue batches) gather them in a list first; the
 * constructor takes the list (it is destroyed, even on failure). */
#ifndef ASSAY_CORE_STATE_COMMAND_H
#define ASSAY_CORE_STATE_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct assay_cmd assay_cmd;
typedef struct assay_cmd_list assay_cmd_list;

/* The encoded command, valid until it is destroyed. */
const void *assay_cmd_data(const assay_cmd *self);
size_t assay_cmd_size(const assay_cmd *self);
void assay_cmd_destroy(assay_cmd **self_p);

assay_cmd_list *assay_cmd_list_new(void);
void assay_cmd_list_destroy(assay_cmd_list **self_p);
size_t assay_cmd_list_count(const assay_cmd_list *self);
/* Each appends one entry: 0, or ASSAY_ENOMEM (the list is then refused
 * by the constructor it goes to). */
int assay_cmd_list_job(assay_cmd_list *self, const char *id,
                       const json_t *params);
int assay_cmd_list_dispatch(assay_cmd_list *self, const char *job,
                            int64_t attempt, const char *runtime,
                            const char *version, int64_t at);
int assay_cmd_list_result(assay_cmd_list *self, const char *job,
                          int64_t attempt, const json_t *result,
                          const char *runtime, int64_t at);
/* runtime (may be NULL): the runtime whose report this answers. */
int assay_cmd_list_requeue(assay_cmd_list *self, const char *job,
                           int64_t attempt, const char *reason,
                           const char *runtime, int64_t at);

typedef struct assay_cmd_spec {
    const char *id, *action, *version, *resolved;
    const json_t *labels, *selector;
    int64_t timeout_ms, max_attempts, priority, memory_mb;
    int64_t cpu_milli; /* level 6; 0: not asked (and not written) */
    bool pack;         /* level 6: placement "pack" (written only then) */
    int64_t retain_seconds; /* 0: not in the command (the member's) */
    /* Who asked (level 4); NULL: not in the command. */
    const char *by_name, *by_role;
    /* The schedule it is a run of (level 7, fire only); NULL: none. */
    const char *schedule;
    /* When it was submitted (level 7); 0: not said. */
    int64_t submitted_ms;
    /* Evidence metadata (level 8); NULL or "": not said. controls: a
     * JSON array, or the msgpack array a record holds (controls_raw). */
    const char *title, *description, *series;
    const json_t *controls;
    const void *controls_raw;
    size_t controls_raw_len;
} assay_cmd_spec;

/* jobs: assay_cmd_list_job entries. */
assay_cmd *assay_cmd_submit(const assay_cmd_spec *spec,
                            assay_cmd_list **jobs);
/* op is "dispatch", "result" or "requeue", with entries of that kind. */
assay_cmd *assay_cmd_batch(const char *op, assay_cmd_list **items);
/* jobs: a JSON array of job ids; by_name/by_role (level 4; NULL: not
 * said): who asked. */
assay_cmd *assay_cmd_cancel(const json_t *jobs, int64_t at,
                            const char *by_name, const char *by_role);
/* restart (level 7): failed or cancelled jobs queued again. */
assay_cmd *assay_cmd_restart(const json_t *jobs, int64_t at,
                             const char *by_name, const char *by_role);
assay_cmd *assay_cmd_expire(const json_t *jobs);
/* forget {runtimes} (level 3): dead runtimes the leader lets go. */
assay_cmd *assay_cmd_forget(const json_t *runtimes);
/* host (level 8; NULL: not said): {hostname, os, kernel, machine_id}. */
assay_cmd *assay_cmd_runtime(const char *id, int64_t heartbeat_ms,
                             const json_t *labels, const json_t *capacity,
                             const json_t *catalog, const json_t *host);
assay_cmd *assay_cmd_runtime_state(const char *id, bool alive);
assay_cmd *assay_cmd_leader(const char *id, const char *endpoint,
                            const char *events, int64_t member,
                            int64_t level);
assay_cmd *assay_cmd_level(int64_t level, int64_t at);
/* Enrolment (level 5; state.h): hash is the token secret's, hex. */
assay_cmd *assay_cmd_token(const char *name, const char *role,
                           const char *hash, int64_t expires_ms, int64_t at,
                           const char *by_name, const char *by_role);
assay_cmd *assay_cmd_enrol(const char *name, const char *key,
                           const char *hash, int64_t at);
assay_cmd *assay_cmd_unenrol(const char *name, int64_t at,
                             const char *by_name, const char *by_role);

/* Stream consumers (level 8; consumer.c): acked only moves on; behind
 * as given (the leader marks one that fell too far behind). */
assay_cmd *assay_cmd_consumer(const char *name, uint64_t acked, bool behind,
                              int64_t at);
assay_cmd *assay_cmd_unconsumer(const char *name, int64_t at);

/* Schedules (level 7; state/schedule.h). def: the checked definition. */
assay_cmd *assay_cmd_schedule(const char *id, const json_t *def, int64_t at,
                              const char *by_name, const char *by_role);
/* Pause (note may be NULL) or resume; skipped_count fires from
 * skipped_first on were due while it was paused. */
assay_cmd *assay_cmd_schedule_state(const char *id, bool paused,
                                    const char *note, int64_t skipped_count,
                                    int64_t skipped_first, int64_t at,
                                    const char *by_name, const char *by_role);
assay_cmd *assay_cmd_unschedule(const char *id, int64_t at,
                                const char *by_name, const char *by_role);

/* One fire of a schedule (a "fire" command's items: assay_cmd_batch
 * ("fire", ...) with at, see assay_cmd_fire). */
typedef struct assay_cmd_fire {
    const char *schedule;
    int64_t nominal; /* ms */
    int kind;        /* assay_fire_kind */
    /* The run: spec (its id assay_sched_run_id's, its schedule set) and
     * jobs (assay_cmd_list_job entries, taken); or NULL and `reason`:
     * why it could not be built; or neither (only what was skipped). */
    const assay_cmd_spec *spec;
    const char *reason;
    /* Fires that did not happen before this one: skipped_count of them
     * from skipped_first, with outcome (missed or nonexistent) and why. */
    int64_t skipped_count, skipped_first;
    int skipped_outcome;
    const char *skipped_reason;
} assay_cmd_fire;
int assay_cmd_list_fire(assay_cmd_list *self, const assay_cmd_fire *f,
                        assay_cmd_list **jobs);
assay_cmd *assay_cmd_fire_batch(assay_cmd_list **items, int64_t at);

#endif
