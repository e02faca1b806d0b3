/* core/sched/def.h - a schedule's definition, typed: what a user asks for
 * (docs/schedules.md), checked once at the boundary, and when it fires.
 *
 * The JSON a user gives:
 *   {id, spec (a JobSpec without id), cron ("EXPR" or [..]; "@every D"
 *    is an interval), intervals [{every: D, phase: D}], timezone (IANA,
 *    default "UTC"), jitter D, start / end (RFC 3339), max_runs,
 *    overlap (skip | buffer_one | buffer_all | cancel_other | allow_all),
 *    catchup_window D (default 1h), keep_runs (default 100),
 *    keep_for D (runs' jobs kept that long; default: the member's),
 *    note}
 * where D is a duration: seconds as an integer, or text like "90s",
 * "15m", "1h30m", "7d". The normalized form (assay_sched_def_json, what
 * the replicated state holds and `schedule show` prints) has durations in
 * seconds, start_ms / end_ms, and every cron expression as a string. */
#ifndef ASSAY_CORE_SCHED_DEF_H
#define ASSAY_CORE_SCHED_DEF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sched/cron.h"
#include "sched/tz.h"

/* Longest schedule id: its runs' JobSpec ids add at most 23 bytes. */
#define ASSAY_SCHED_ID_MAX 40

/* Runs a schedule keeps at most (keep_runs). */
#define ASSAY_SCHED_KEEP_MAX 10000

/* What a fire does while a run of the schedule goes on. */
typedef enum {
    ASSAY_OVERLAP_SKIP = 0,
    ASSAY_OVERLAP_BUFFER_ONE,
    ASSAY_OVERLAP_BUFFER_ALL,
    ASSAY_OVERLAP_CANCEL_OTHER,
    ASSAY_OVERLAP_ALLOW_ALL,
} assay_overlap;

const char *assay_overlap_name(int overlap);
int assay_overlap_parse(const char *name); /* -1: unknown */

/* A definition file, at most. */
#define ASSAY_SCHED_DEF_MAX (1u << 20)
/* Cron expressions and intervals a schedule may have, each. */
#define ASSAY_SCHED_EXPRS_MAX 16
/* The catch-up window's default (s). */
#define ASSAY_SCHED_CATCHUP_DEFAULT 3600
#define ASSAY_SCHED_KEEP_DEFAULT 100

/* What the member allows: from its configuration. */
typedef struct assay_sched_limits {
    const char *tzdir;       /* NULL: /usr/share/zoneinfo */
    int64_t min_interval_s;  /* fires at least this far apart */
    int64_t now_ms;          /* "never fires" is looked for from here */
} assay_sched_limits;

typedef struct assay_sched_interval {
    int64_t every_s, phase_s; /* fires at phase + k * every (Unix s) */
} assay_sched_interval;

typedef struct assay_sched_def {
    char id[ASSAY_SCHED_ID_MAX + 1];
    json_t *spec; /* the JobSpec template (an object, without id) */
    char *cron_text[ASSAY_SCHED_EXPRS_MAX];
    assay_cron *cron[ASSAY_SCHED_EXPRS_MAX];
    size_t n_cron;
    assay_sched_interval intervals[ASSAY_SCHED_EXPRS_MAX];
    size_t n_intervals;
    assay_tz *tz;
    int64_t jitter_s, start_ms, end_ms, max_runs, catchup_s, keep_runs,
        keep_for_s;
    int overlap; /* assay_overlap */
    char *note;  /* or NULL */
} assay_sched_def;

/* Checks `in` (a user's definition, or a normalized one) into *out. A
 * refusal (ASSAY_EINVAL, or ASSAY_ENOENT for an unknown time zone) names
 * the field: "cron[1]: ...", "timezone: ...", "intervals[0].every: ...".
 * Besides each field's own bounds, a schedule must fire (within ten
 * years of its start or now) and no two of its fires may come closer
 * than limits->min_interval_s. `strict` false (a definition the cluster
 * already holds) skips those two, which depend on the clock. */
int assay_sched_def_parse(const json_t *in, const assay_sched_limits *limits,
                          bool strict, assay_sched_def **out, char *err,
                          size_t errlen);
void assay_sched_def_destroy(assay_sched_def **self_p);
/* The normalized form (new). */
json_t *assay_sched_def_json(const assay_sched_def *self);

/* What happens at one instant (ms) of a schedule: a fire, and/or local
 * times a clock change skipped (gap_count of them, the first gap_local,
 * in local seconds). */
typedef struct assay_sched_event {
    int64_t at_ms;
    bool fire;
    int64_t gap_local;
    uint32_t gap_count;
} assay_sched_event;

/* The first event strictly after after_ms and at most until_ms (within
 * start and end): 1, or 0 if none. Cron expressions and intervals
 * merge: one event per instant. */
int assay_sched_def_next(const assay_sched_def *self, int64_t after_ms,
                         int64_t until_ms, assay_sched_event *ev);
/* How long after its nominal time a fire is due (0 .. jitter), the same
 * on every member. */
int64_t assay_sched_def_jitter_ms(const assay_sched_def *self,
                                  int64_t nominal_ms);

/* Durations and times as users write them ("1h30m"; RFC 3339), into
 * seconds / ms; 0, or ASSAY_EINVAL naming `what`. */
int assay_sched_duration(const json_t *v, const char *what, int64_t *out_s,
                         char *err, size_t errlen);
int assay_sched_time(const char *text, const char *what, int64_t *out_ms,
                     char *err, size_t errlen);
/* ms since the epoch as RFC 3339 UTC with ms ("2026-03-29T01:00:00.000Z"). */
void assay_sched_time_text(int64_t ms, char *buf, size_t len);

#endif
