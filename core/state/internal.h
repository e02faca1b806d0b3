/* core/state/internal.h - what the state machine's files share: the state
 * itself and the list and event helpers every op needs. Not for use
 * outside core/state/. */
#ifndef ASSAY_CORE_STATE_INTERNAL_H
#define ASSAY_CORE_STATE_INTERNAL_H

#include "state.h"

#define ST_PRIO_MIN (-1000)
#define ST_PRIO_MAX 1000
#define ST_NPRIO (ST_PRIO_MAX - ST_PRIO_MIN + 1)

typedef struct {
    assay_job *head, *tail;
} st_list;

struct assay_state {
    assay_index *jobs, *specs, *runtimes;
    assay_index *running_on; /* runtime id -> its running jobs */
    json_t *runtime_ids;
    st_list queue[ST_NPRIO]; /* by priority - ST_PRIO_MIN */
    int top;                 /* highest non-empty bucket, or -1 */
    st_list running;
    st_list done; /* terminal jobs, oldest end first */
    size_t n_done, n_jobs, n_specs;
    /* Terminal jobs of JobSpecs with their own retain_ms, a min-heap by
     * when each falls out (ended_ms + retain_ms): not on `done`. */
    assay_job **heap;
    size_t heap_len, heap_cap;
    assay_job *all_head, *all_tail;
    assay_spec_rec *specs_head, *specs_tail;
    uint64_t seq;
    int64_t level;  /* feature level; 0 until the first leader says */
    assay_index *strings; /* interned runtime ids and versions */
    json_t *no_params;    /* the one {} every job without params shares */
    json_t *leader; /* the last "leader" command, NULL before one */
    assay_state_event_fn on_event;
    assay_state_wants_fn wants;
    void *arg;
};

void st_list_append(st_list *l, assay_job *j);
void st_list_unlink(st_list *l, assay_job *j);

void st_enqueue(assay_state *self, assay_job *j);
/* Moves j out of whatever list its current state keeps it in. */
void st_leave(assay_state *self, assay_job *j);
/* Puts running job j on its runtime's list; false without memory. */
bool st_rt_link(assay_state *self, assay_job *j);
/* Sets j terminal (state `st`, ended at `at`) on the retention list. */
void st_finish(assay_state *self, assay_job *j, assay_job_state st,
               int64_t at);
/* When a finished job of a JobSpec with its own retention falls out. */
int64_t st_expiry(const assay_job *j);

/* Puts j where its state says it belongs (after restore). */
bool st_place(assay_state *self, assay_job *j);

/* The submit op: a JobSpec and its jobs [{id, params}], all queued (a
 * JobSpec already held changes nothing). Snapshots load through it. */
int st_submit(assay_state *self, const json_t *spec, const json_t *jobs,
              json_t **result, char *err, size_t errlen);

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
/* A new queued job of s with params (borrowed; NULL or {}: none). */
assay_job *st_job_new(assay_state *self, assay_spec_rec *s, const char *id,
                      json_t *params);

/* Appends an attempt (a dispatch), or ends the latest one. */
bool st_attempt_begin(assay_state *self, assay_job *j, int64_t at,
                      const char *runtime);
void st_attempt_end(assay_job *j, int64_t at, assay_job_state outcome,
                    const char *reason);

/* A job's attempts as JSON ([{runtime, start_ms, end_ms, outcome,
 * reason?}]), and back (a snapshot's; false if malformed). */
json_t *st_attempts_json(const assay_job *j);
bool st_attempts_load(assay_state *self, assay_job *j, const json_t *list);

void st_job_event(assay_state *self, const char *topic, assay_job *j);
void st_runtime_event(assay_state *self, assay_runtime_rec *r);

/* Field readers for decoded commands. */
const char *st_str(const json_t *o, const char *k);
int64_t st_int(const json_t *o, const char *k);

#endif
