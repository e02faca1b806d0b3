/* core/state/internal.h - what the state machine's files share: the state
 * itself and the list and event helpers every op needs. Not for use
 * outside core/state/. */
#ifndef ASSAY_CORE_STATE_INTERNAL_H
#define ASSAY_CORE_STATE_INTERNAL_H

#include <msgpack.h>

#include "proto/names.h"
#include "state/command.h"
#include "state/schedule.h"
#include "state/state.h"

#define ST_PRIO_MIN (-1000)
#define ST_PRIO_MAX 1000

typedef assay_job_list st_list;

/* Enrolment tokens and enrolled keys (enrolment.c). */
typedef struct st_keys st_keys;
/* Schedules (schedule.c). */
typedef struct st_scheds st_scheds;
typedef struct st_action st_action;
/* Drift (drift.c) and the result stream's order (stream.c). */
typedef struct st_drift st_drift;
typedef struct st_stream st_stream;

struct assay_state {
    assay_index *jobs, *specs, *runtimes;
    assay_index *running_on; /* runtime id -> its running jobs */
    json_t *runtime_ids;
    /* Placement classes by key (placement.c), and those with queued
     * jobs: planned or parked. */
    assay_index *classes;
    assay_class *planned, *parked;
    assay_index *estimates; /* action -> assay_estimate (estimate.c) */
    /* action, and schedule id -> st_posting: JobSpecs in order. */
    assay_index *by[2];
    /* Running jobs cancelled since the leader last looked (id -> itself):
     * it tells their runtimes (assay_state_cancelled_drain). */
    assay_index *cancelled;
    /* stats.c: counters, and action -> st_action (its counts and
     * latencies). */
    uint64_t n_submitted, n_ended;
    assay_index *latency;
    assay_latency_hist hist[2]; /* waits and runs; never cleared */
    assay_action_counts other;  /* actions past ASSAY_STATS_ACTIONS */
    bool restoring;             /* a snapshot's jobs are not counted */
    st_list running;
    st_list done; /* terminal jobs, oldest end first */
    size_t n_done, n_jobs, n_specs;
    size_t n_state[ASSAY_JOB_CANCELLED + 1]; /* jobs in each state */
    /* Terminal jobs of JobSpecs with their own retain_ms, a min-heap by
     * when each falls out (ended_ms + retain_ms): not on `done`. */
    assay_job **heap;
    size_t heap_len, heap_cap;
    assay_job *all_head, *all_tail;
    assay_spec_rec *specs_head, *specs_tail;
    uint64_t seq;
    int64_t level;  /* feature level; 0 until the first leader says */
    assay_index *strings; /* interned runtime ids and versions */
    assay_index *catalogs; /* hash -> st_shared: catalogues held once */
    msgpack_zone *zone;   /* the command being applied is decoded here */
    json_t *empty;        /* the {} JobSpecs without labels share */
    /* Values packed before they are kept, and event bodies: used and
     * done with within one call. */
    msgpack_sbuffer scratch;
    json_t *leader; /* the last "leader" command, NULL before one */
    st_keys *keys;
    st_scheds *scheds;
    /* Evidence (level 8): hosts by key (assay_host, shared by the jobs
     * that ran there), the last stream position given, the ended jobs in
     * position order, each check's last result. */
    assay_index *hosts;
    uint64_t stream_pos;
    st_stream *stream;
    assay_consumer_rec consumers[ASSAY_CONSUMERS_MAX]; /* consumer.c */
    size_t n_consumers;
    st_drift *drift;
    assay_state_event_fn on_event;
    assay_state_wants_fn wants;
    void *arg;
};

/* JobSpecs of one action or schedule (assay_state_specs_by). */
typedef struct st_posting {
    assay_spec_rec *head, *tail;
} st_posting;

void st_list_append(st_list *l, assay_job *j);
void st_list_unlink(st_list *l, assay_job *j);

void st_enqueue(assay_state *self, assay_job *j);

/* placement.c: JobSpec s joins its placement class (made on first use);
 * 0 or ASSAY_ENOMEM. Detach when s is freed. */
int st_class_attach(assay_state *self, assay_spec_rec *s);
void st_class_detach(assay_state *self, assay_spec_rec *s);
/* Queued job j joins the tail of its class, or leaves it. */
void st_class_push(assay_state *self, assay_job *j);
void st_class_pull(assay_state *self, assay_job *j);
/* estimate.c: a result of `action` took `ms` (ended at `at`), learned
 * from level ASSAY_LEVEL_PLANNER on; estimates forgotten; their part
 * of a snapshot (format 5), and back. */
void st_estimate_sample(assay_state *self, const char *action, int64_t ms,
                        int64_t at);
void st_estimates_clear(assay_state *self);
int st_estimates_pack(const assay_state *self, msgpack_packer *pk);
int st_estimates_load(assay_state *self, const msgpack_object *list,
                      char *err, size_t errlen);

/* Frees every class (after every JobSpec went). */
void st_classes_clear(assay_state *self);
/* Clears every class's leader bookkeeping. */
void st_classes_reset_marks(assay_state *self);
/* Moves j out of whatever list its current state keeps it in. */
void st_leave(assay_state *self, assay_job *j);
/* Puts running job j on its runtime's list; false without memory. */
bool st_rt_link(assay_state *self, assay_job *j);
/* Puts j, now running, on the running list and its runtime's. */
bool st_run(assay_state *self, assay_job *j);
/* Sets j terminal (state `st`, ended at `at`) on the retention list. */
void st_finish(assay_state *self, assay_job *j, assay_job_state st,
               int64_t at);
/* When a finished job of a JobSpec with its own retention falls out. */
int64_t st_expiry(const assay_job *j);

/* Terminal job j (just left its list) is unfinished again: its JobSpec,
 * and a schedule's run it is of, count it. */
void st_reopen(assay_state *self, assay_job *j);
/* Puts j where its state says it belongs (after restore). */
bool st_place(assay_state *self, assay_job *j);

/* The submit op: a JobSpec and its jobs (an array of maps {id, params}),
 * all queued (a JobSpec already held changes nothing). Snapshots load
 * through it. */
int st_submit(assay_state *self, const msgpack_object *spec,
              const msgpack_object *jobs, json_t **result, char *err,
              size_t errlen);
/* The runtime and leader ops' records, as commands and snapshots hold
 * them. */
int st_runtime_put(assay_state *self, const msgpack_object *rec, char *err,
                   size_t errlen);
int st_leader_set(assay_state *self, const msgpack_object *rec, char *err,
                  size_t errlen);

/* Frees s's evidence metadata (title, description, controls). */
void st_spec_free_meta(assay_spec_rec *s);
/* s is no schedule's run (a state below level 7 keeps none). */
void st_spec_unschedule(assay_state *self, assay_spec_rec *s);
/* Appends a new spec / job to the submission-order lists and indexes. */
void st_add_spec(assay_state *self, assay_spec_rec *s);
void st_add_job(assay_state *self, assay_job *j);
/* Forgets terminal job j, and its JobSpec with its last job. */
void st_forget(assay_state *self, assay_job *j);
/* Frees everything and starts empty (keeps the callbacks). */
void st_clear(assay_state *self);

/* The state's one copy of s ("" for NULL or ""), valid until the state
 * is cleared; NULL without memory. */
const char *st_intern(assay_state *self, const char *s);
/* Identical catalogues are held once (a fleet runs the same plugins): r's
 * info gets the shared copy of its catalogue; st_catalog_drop() before
 * r's info is replaced or freed. */
void st_catalog_share(assay_state *self, assay_runtime_rec *r);
void st_catalog_drop(assay_state *self, assay_runtime_rec *r);
/* A new queued job of s with params (a map, or NULL: {}), kept as
 * msgpack in the record's own allocation. */
assay_job *st_job_new(assay_state *self, assay_spec_rec *s, const char *id,
                      const msgpack_object *params);
/* o packed into a buffer of its own (*out, malloc'd, *len bytes); false
 * without memory or past 4 GiB. */
bool st_pack_copy(const msgpack_object *o, unsigned char **out,
                  uint32_t *len);
/* Sets a completed job's result (a map), kept as msgpack. */
bool st_job_result(assay_state *self, assay_job *j,
                   const msgpack_object *result);
/* A JobSpec's fields as a map (assay_spec_json's), and the same from a
 * submit's (command.c: one encoding for the log and the views). */
/* A JobSpec record in snapshot format `version` (before 3: no "by"). */
void st_spec_pack(msgpack_packer *pk, const assay_spec_rec *s, int version);
void st_spec_fields_pack(msgpack_packer *pk, const assay_cmd_spec *s);
/* "by": {name, role}, who asked for a submit or cancel (level 4). */
void st_by_pack(msgpack_packer *pk, const char *name, const char *role);
/* The "by" of a command or spec into name/role (interned), both NULL if
 * absent or malformed. */
void st_by_read(assay_state *self, const msgpack_object *o,
                const char **name, const char **role);
/* A job as events and assay_job_json show it (without waiting note and
 * history; its result if `result`): a map with `extra` more entries, for
 * the caller to append. */
void st_job_view_pack(msgpack_packer *pk, const assay_job *j, bool result,
                      size_t extra);

/* enrolment.c: the registry, its snapshot part ({tokens, enrolled}) and
 * its ops. */
st_keys *st_keys_new(void);
void st_keys_destroy(st_keys **self_p);
void st_keys_clear(st_keys *self);
int st_keys_pack(const st_keys *self, msgpack_packer *pk);
int st_keys_load(assay_state *self, const msgpack_object *keys, char *err,
                 size_t errlen);
int st_token(assay_state *self, const msgpack_object *cmd, json_t **result,
             char *err, size_t errlen);
int st_enrol(assay_state *self, const msgpack_object *cmd, json_t **result,
             char *err, size_t errlen);
int st_unenrol(assay_state *self, const msgpack_object *cmd, json_t **result,
               char *err, size_t errlen);

/* schedule.c: the registry, its snapshot part (format 6) and its ops;
 * a JobSpec that leaves the state leaves its schedule's runs; the last
 * job of a run ended (st_finish); what that set off, done once the
 * command is applied (st_scheds_settle). */
st_scheds *st_scheds_new(void);
void st_scheds_destroy(st_scheds **self_p);
void st_scheds_clear(st_scheds *self);
int st_scheds_pack(const assay_state *self, msgpack_packer *pk);
int st_scheds_load(assay_state *self, const msgpack_object *list, char *err,
                   size_t errlen);
void st_sched_detach(assay_state *self, assay_spec_rec *s);
void st_sched_run_ended(assay_state *self, assay_spec_rec *s, int64_t at);
void st_scheds_settle(assay_state *self);
int st_schedule(assay_state *self, const msgpack_object *cmd,
                json_t **result, char *err, size_t errlen);
int st_schedule_state(assay_state *self, const msgpack_object *cmd,
                      json_t **result, char *err, size_t errlen);
int st_unschedule(assay_state *self, const msgpack_object *cmd,
                  json_t **result, char *err, size_t errlen);
int st_fire(assay_state *self, const msgpack_object *cmd, json_t **result,
            char *err, size_t errlen);
/* evidence.c: host facts ({hostname, os, kernel, machine_id}) shared,
 * NULL when none are said; a share dropped (*host_p set NULL); packed. */
const assay_host *st_host_share(assay_state *self,
                                const msgpack_object *facts);
void st_host_drop(assay_state *self, const assay_host **host_p);
void st_host_pack(msgpack_packer *pk, const assay_host *host);
/* Job j just ended (level 8): its evidence record (position, host,
 * plugin digest, drift), listed in the stream. Freed when it is forgotten
 * or restarted. */
void st_end_begin(assay_state *self, assay_job *j);
void st_end_free(assay_state *self, assay_job *j);
/* Snapshots (format 7): the hosts list (by key; *order: the caller frees
 * it) then each ended job's record naming its host by number; and back
 * (the loaded hosts' references dropped once the jobs took theirs). */
int st_hosts_pack(const assay_state *self, msgpack_packer *pk,
                  const assay_host ***order, size_t *n);
void st_end_pack_snap(msgpack_packer *pk, const assay_end *e,
                      const assay_host **order, size_t n);
int st_hosts_load(assay_state *self, const msgpack_object *list,
                  const assay_host ***out, size_t *n, char *err,
                  size_t errlen);
void st_hosts_release(assay_state *self, const assay_host **hosts, size_t n);
bool st_end_load(assay_state *self, assay_job *j, const msgpack_object *rec,
                 const assay_host **hosts, size_t n);
/* drift.c: the table; ended job j's status and change judged, the table
 * updated; its snapshot part. */
st_drift *st_drift_new(void);
void st_drift_destroy(st_drift **self_p);
void st_drift_clear(st_drift *self);
void st_drift_judge(assay_state *self, assay_job *j);
void st_drift_pack(const assay_state *self, msgpack_packer *pk);
int st_drift_load(assay_state *self, const msgpack_object *list, char *err,
                  size_t errlen);
/* stream.c: ended jobs in position order. */
st_stream *st_stream_new(void);
void st_stream_destroy(st_stream **self_p);
void st_stream_clear(st_stream *self);
void st_stream_add(assay_state *self, assay_job *j);
void st_stream_remove(assay_state *self, assay_job *j);
/* After a snapshot's jobs were added in any order. */
void st_stream_sort(assay_state *self);
/* consumer.c: the "consumer" and "unconsumer" ops; the snapshot part
 * (format 7, "consumers"; absent in one of before them: none). */
int st_consumer(assay_state *self, const msgpack_object *cmd,
                json_t **result, char *err, size_t errlen);
int st_unconsumer(assay_state *self, const msgpack_object *cmd,
                  json_t **result, char *err, size_t errlen);
void st_consumers_pack(const assay_state *self, msgpack_packer *pk);
int st_consumers_load(assay_state *self, const msgpack_object *list,
                      char *err, size_t errlen);
/* stats.c: job j is dispatched at `at`; its attempt ended with a result
 * at `at`; the samples forgotten. */
void st_stats_dispatched(assay_state *self, const assay_job *j, int64_t at);
void st_stats_ran(assay_state *self, const assay_job *j, int64_t at);
void st_stats_clear(assay_state *self);
void st_stats_submitted(assay_state *self, const assay_spec_rec *s);
void st_stats_ended(assay_state *self, const assay_job *j);
/* Running job j was cancelled: for the leader to tell its runtime. */
void st_note_cancelled(assay_state *self, const assay_job *j);
/* Cancels queued or running job j (ended at `at`, reason `why`). */
void st_cancel_job(assay_state *self, assay_job *j, int64_t at,
                   const char *why);

/* Appends an attempt (a dispatch), or ends the latest one. */
bool st_attempt_begin(assay_state *self, assay_job *j, int64_t at,
                      const char *runtime);
void st_attempt_end(assay_job *j, int64_t at, assay_job_state outcome,
                    const char *reason);

/* A job's attempts ([{runtime, start_ms, end_ms, outcome, reason?}]),
 * packed, and back (a snapshot's; false if malformed). */
void st_attempts_pack(msgpack_packer *pk, const assay_job *j);
bool st_attempts_load(assay_state *self, assay_job *j,
                      const msgpack_object *list);

void st_job_event(assay_state *self, const char *topic, assay_job *j);
/* runtime.alive or runtime.dead as r is (topic NULL), or `topic`. */
void st_runtime_event(assay_state *self, assay_runtime_rec *r,
                      const char *topic);
/* Removes r from the registry (runtime.gone first), and frees it. */
void st_runtime_forget(assay_state *self, assay_runtime_rec *r);

/* Field readers for decoded commands and snapshots (maps; of a key
 * repeated, the last, as decoding into JSON kept). NULL / 0 when absent
 * or of another type. */
const msgpack_object *st_get(const msgpack_object *map, const char *key);
int64_t st_int(const msgpack_object *map, const char *key);
/* The string at key, copied into buf with its NUL: NULL when absent, not
 * a string, or longer than size - 1 bytes (cut to fit instead when
 * `cut`). */
const char *st_text(const msgpack_object *map, const char *key, char *buf,
                    size_t size, bool cut);
bool st_is(const msgpack_object *o, msgpack_object_type type);
/* The id at `key` of a record, or NULL (absent, or longer than a job id
 * can be: then no job has it). */
#define ST_ID(obj, key, buf) st_text((obj), (key), (buf), sizeof(buf), false)
/* o as JSON (new), or NULL. */
json_t *st_json(const msgpack_object *o);

#endif
