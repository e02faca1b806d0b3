/* core/state/schedule.h - schedules in the replicated state
 * (core/state/schedule.c; docs/schedules.md).
 *
 * A schedule is a JobSpec template and when to run it. What the state
 * holds is what every member must agree on: the definition (as the leader
 * checked it), the cursor (the last fire time decided: a due fire at or
 * before it is never submitted again), pause, the runs it started and
 * still holds, the runs waiting for an overlapping one to end, the last
 * ASSAY_SCHED_RUNS decisions and their counts. When a fire is due is
 * the leader's business (cron and time zones, core/sched/): it commits
 * each decision as a "fire" item, and applying it is where exactly-once
 * holds.
 *
 * Commands (level ASSAY_LEVEL_SCHEDULES):
 *   schedule {id, def, at, by?}: a new schedule (def: the normalized
 *     definition, docs/schedules.md; the state reads its overlap,
 *     max_runs, keep_runs and start_ms).
 *   schedule_state {id, paused, note?, skipped?, at, by?}: pause or
 *     resume; resuming moves the cursor to `at` and records the fires
 *     the pause skipped (skipped: {count, first}).
 *   unschedule {id, at, by?}: deletes it; its runs go on and are kept
 *     by the member's retention.
 *   fire {items: [{schedule, nominal, kind, spec?, jobs?, reason?,
 *                  skipped?: {outcome, count, first, reason}}], at}:
 *     kind "due" (nominal after the cursor; moves it), "trigger" (now,
 *     by hand) or "backfill" (a past time again); spec and jobs as
 *     submit's, with the id assay_sched_run_id gives; reason instead of
 *     them: why the leader could not build the run; skipped: fires that
 *     did not happen ("missed", older than the catch-up window; or
 *     "nonexistent", local times a clock change skipped). Each item is
 *     fenced on its own. */
#ifndef ASSAY_CORE_STATE_SCHEDULE_H
#define ASSAY_CORE_STATE_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sched/def.h"

/* Decisions each schedule remembers (show lists them). */
#define ASSAY_SCHED_RUNS 32
/* Runs that may wait for an overlapping one (buffer_all). */
#define ASSAY_SCHED_BUFFER_MAX 64
/* Schedules a state holds at most (the member's max_schedules is lower). */
#define ASSAY_SCHEDULES_MAX 100000

typedef enum {
    ASSAY_FIRE_DUE = 0,
    ASSAY_FIRE_TRIGGER,
    ASSAY_FIRE_BACKFILL,
} assay_fire_kind;

/* What became of a fire. */
typedef enum {
    ASSAY_RUN_STARTED = 0, /* its JobSpec was submitted */
    ASSAY_RUN_BUFFERED,    /* waits for the run before it to end */
    ASSAY_RUN_SKIPPED,     /* not run: overlap, pause, already ran */
    ASSAY_RUN_MISSED,      /* due while no leader led, beyond catch-up */
    ASSAY_RUN_NONEXISTENT, /* a local time the clocks skipped */
    ASSAY_RUN_FAILED,      /* the leader could not build it (reason) */
} assay_run_outcome;

const char *assay_fire_kind_name(int kind);
int assay_fire_kind_parse(const char *name);
const char *assay_run_outcome_name(int outcome);
int assay_run_outcome_parse(const char *name);

typedef struct assay_sched_run {
    int64_t nominal_ms; /* the fire time (the first, of several) */
    int64_t at_ms;      /* when it was decided (leader's clock) */
    uint32_t count;     /* fires it stands for */
    uint8_t kind, outcome;
    char *reason; /* or NULL */
} assay_sched_run;

typedef struct st_buffered st_buffered;
typedef struct assay_spec_rec assay_spec_rec;

typedef struct assay_sched_rec {
    char id[ASSAY_SCHED_ID_MAX + 1];
    json_t *def; /* the definition as created (an object) */
    int64_t created_ms;
    int64_t cursor_ms; /* due fires at or before it are decided */
    int64_t start_ms, end_ms;    /* fires only between; 0: unbounded */
    int64_t max_runs, keep_runs; /* 0: no bound */
    uint8_t overlap;
    bool paused;
    char *note; /* why it was paused, or NULL */
    const char *by_name, *by_role; /* who made it (interned), or NULL */
    /* Counts of fires by what became of them, since it was made. */
    uint64_t started, buffered, skipped, missed, nonexistent, failed;
    /* Its last decisions, a ring: the newest at (head + n_runs - 1). */
    assay_sched_run runs[ASSAY_SCHED_RUNS];
    uint32_t head, n_runs;
    /* The JobSpecs of its runs still held, oldest first (linked by the
     * spec records' sched_prev/next), and how many have unfinished jobs. */
    assay_spec_rec *held_head, *held_tail;
    size_t n_held, n_active;
    st_buffered *buffer; /* runs waiting for the overlapping one, FIFO */
    uint32_t n_buffer;
    struct assay_sched_rec *prev, *next; /* creation order */
} assay_sched_rec;

typedef struct assay_state assay_state;

assay_sched_rec *assay_state_schedule(const assay_state *self,
                                      const char *id);
/* Schedules in creation order, linked by next. */
assay_sched_rec *assay_state_schedules(const assay_state *self);
size_t assay_state_schedule_count(const assay_state *self);
/* Hands fn the id of every schedule made, changed or deleted since the
 * last call (the leader plans them again), and forgets them. Returns
 * true instead, calling fn for none, when too many changed to remember:
 * then plan them all. */
bool assay_state_schedules_changed(assay_state *self,
                                   void (*fn)(void *arg, const char *id),
                                   void *arg);
/* Whether it fires no more: paused, past max_runs, or its end passed. */
bool assay_sched_ended(const assay_sched_rec *r);
/* Its i-th newest decision (i from 0), or NULL. */
const assay_sched_run *assay_sched_run_at(const assay_sched_rec *r,
                                          uint32_t i);
/* The id of the JobSpec a fire of schedule `id` at nominal_ms (of that
 * kind) submits: "<id>.<UTC time>" (backfills too: the same time runs
 * once), "<id>.t<UTC time with ms>" for a trigger. */
void assay_sched_run_id(const char *id, int64_t nominal_ms, int kind,
                        char *buf, size_t len);
/* {id, def, created_ms, cursor_ms, state (active, paused, ended), note?,
 *  by?, counts, held, active, buffered_runs, runs?: [newest first]}. */
json_t *assay_sched_json(const assay_sched_rec *r, bool runs);

#endif
