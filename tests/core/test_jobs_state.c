/* tests/core/test_jobs_state.c - what the job manager reads and changes
 * in the state: the JobSpecs of an action and of a schedule in
 * submission order (and gone from them when forgotten); restart (level
 * 7): a failed or cancelled job queued again for a new series of
 * max_attempts attempts, its history kept, its JobSpec's schedule run
 * active again, kept across a snapshot; the counters and latency
 * percentiles assay.stats reads. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <assay/error.h>

#include "base/errtext.h"
#include "statecmd.h"

/* Submits JobSpec sid of one job of `action`, at submitted_ms `at`. */
static void submit(assay_state *st, const char *sid, const char *action,
                   int64_t at, int max_attempts)
{
    char jid[80];
    snprintf(jid, sizeof jid, "%s-0", sid);
    sc_ok(st, json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:i, s:i, s:i, s:I}, "
                        "s:[{s:s, s:{}}]}",
                        "v", 1, "op", "submit", "spec", "id", sid, "action",
                        action, "resolved", "1.0.0", "timeout_ms", 1000,
                        "max_attempts", max_attempts, "priority", 0,
                        "submitted_ms", (json_int_t)at, "jobs", "id", jid,
                        "params"));
}

static void item(assay_state *st, const char *op, const char *job,
                 int attempt, int64_t at)
{
    json_t *it = json_pack("{s:s, s:i, s:s, s:I}", "job", job, "attempt",
                           attempt, "runtime", "rt", "at", (json_int_t)at);
    if (!strcmp(op, "dispatch"))
        json_object_set_new(it, "version", json_string("1.0.0"));
    else if (!strcmp(op, "result"))
        json_object_set_new(it, "result", json_object());
    else
        json_object_set_new(it, "reason", json_string("lost"));
    sc_ok(st, json_pack("{s:i, s:s, s:[o]}", "v", 1, "op", op, "items", it));
}

static int listed(const assay_spec_rec *s, int by, const char **ids)
{
    int n = 0;
    for (; s; s = s->by_next[by], n++)
        if (ids[n])
            cr_expect_str_eq(s->id, ids[n]);
    return n;
}

Test(jobs_state, jobspecs_of_an_action_in_submission_order)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    submit(st, "a1", "x.check", 1000, 1);
    submit(st, "b1", "y.check", 1001, 1);
    submit(st, "a2", "x.check", 1002, 1);
    submit(st, "a3", "x.check", 1003, 1);
    const char *want[] = {"a1", "a2", "a3", NULL};
    cr_expect_eq(listed(assay_state_specs_by(st, ASSAY_SPECS_BY_ACTION,
                                             "x.check"),
                        ASSAY_SPECS_BY_ACTION, want),
                 3);
    cr_expect_null(assay_state_specs_by(st, ASSAY_SPECS_BY_SCHEDULE, "x"));
    cr_expect_eq(assay_state_spec(st, "a2")->submitted_ms, 1002);
    /* a2 ends and is forgotten: off the list, the others stay linked. */
    item(st, "dispatch", "a2-0", 1, 2000);
    item(st, "result", "a2-0", 1, 2100);
    sc_ok(st, json_pack("{s:i, s:s, s:[s]}", "v", 1, "op", "expire", "jobs",
                        "a2-0"));
    const char *after[] = {"a1", "a3", NULL};
    cr_expect_eq(listed(assay_state_specs_by(st, ASSAY_SPECS_BY_ACTION,
                                             "x.check"),
                        ASSAY_SPECS_BY_ACTION, after),
                 2);
    /* And the same after a snapshot. */
    json_t *dump = assay_state_dump(st);
    assay_state *copy = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_state_load(copy, dump, err, sizeof err), 0, "%s", err);
    cr_expect_eq(listed(assay_state_specs_by(copy, ASSAY_SPECS_BY_ACTION,
                                             "x.check"),
                        ASSAY_SPECS_BY_ACTION, after),
                 2);
    cr_expect_eq(assay_state_spec(copy, "a3")->submitted_ms, 1003);
    json_decref(dump);
    assay_state_destroy(&copy);
    assay_state_destroy(&st);
}

Test(jobs_state, restart_starts_a_new_series_and_keeps_the_history)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    submit(st, "f", "x.check", 1000, 2);
    item(st, "dispatch", "f-0", 1, 2000);
    item(st, "requeue", "f-0", 1, 2100);
    item(st, "dispatch", "f-0", 2, 2200);
    item(st, "requeue", "f-0", 2, 2300);
    const assay_job *j = assay_state_job(st, "f-0");
    cr_assert_eq(j->state, ASSAY_JOB_FAILED);
    /* Only failed and cancelled jobs restart; unknown ids change
     * nothing. */
    submit(st, "q", "x.check", 1000, 1);
    sc_ok(st, json_pack("{s:i, s:s, s:[s, s, s], s:i, s:{s:s, s:s}}", "v", 1,
                        "op", "restart", "jobs", "f-0", "q-0", "nope", "at",
                        3000, "by", "name", "bob", "role", "admin"));
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    cr_expect_eq(j->base, 2);
    cr_expect_eq(j->n_attempts, 2);
    cr_expect_str_eq(j->reason, "restarted by bob (admin)");
    cr_expect_eq(assay_state_job(st, "q-0")->state, ASSAY_JOB_QUEUED);
    cr_expect_eq(assay_state_count(st, ASSAY_JOB_FAILED), 0);
    /* A new series: two more attempts before it fails again, numbered on
     * (fencing never reuses an attempt number). */
    item(st, "dispatch", "f-0", 3, 3100);
    item(st, "requeue", "f-0", 3, 3200);
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    /* The snapshot keeps the series. */
    json_t *dump = assay_state_dump(st);
    assay_state *copy = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_state_load(copy, dump, err, sizeof err), 0, "%s", err);
    cr_expect_eq(assay_state_job(copy, "f-0")->base, 2);
    json_decref(dump);
    assay_state_destroy(&copy);
    item(st, "dispatch", "f-0", 4, 3300);
    item(st, "requeue", "f-0", 4, 3400);
    cr_expect_eq(j->state, ASSAY_JOB_FAILED);
    cr_expect_eq(j->n_attempts, 4);
    assay_state_destroy(&st);
}

Test(jobs_state, restart_is_refused_below_level_7)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_PLANNER);
    char err[ASSAY_ERRMSG_SIZE];
    cr_expect_eq(sc_apply(st,
                          json_pack("{s:i, s:s, s:[], s:i}", "v", 1, "op",
                                    "restart", "jobs", "at", 1),
                          err, sizeof err),
                 ASSAY_EUNSUPP);
    assay_state_destroy(&st);
}

Test(jobs_state, counters_and_latency_percentiles)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    uint64_t in = assay_state_submitted(st), out = assay_state_ended(st);
    for (int i = 0; i < 100; i++) {
        char sid[16], jid[20];
        snprintf(sid, sizeof sid, "l%d", i);
        snprintf(jid, sizeof jid, "l%d-0", i);
        submit(st, sid, "x.check", 10000, 1);
        /* Waits of 1..100 ms, runs of 10..1000 ms. */
        item(st, "dispatch", jid, 1, 10000 + i + 1);
        item(st, "result", jid, 1, 10000 + i + 1 + 10 * (i + 1));
    }
    cr_expect_eq(assay_state_submitted(st) - in, 100);
    cr_expect_eq(assay_state_ended(st) - out, 100);
    json_t *lat = assay_state_latency_json(st);
    json_t *x = json_object_get(lat, "x.check");
    json_t *w = json_object_get(x, "queued_to_running"),
           *r = json_object_get(x, "running_to_done");
    cr_expect_eq(json_integer_value(json_object_get(w, "n")), 100);
    cr_expect_eq(json_integer_value(json_object_get(w, "p50")), 50);
    cr_expect_eq(json_integer_value(json_object_get(w, "p90")), 90);
    cr_expect_eq(json_integer_value(json_object_get(w, "p99")), 99);
    cr_expect_eq(json_integer_value(json_object_get(r, "p50")), 500);
    cr_expect_eq(json_integer_value(json_object_get(r, "p99")), 990);
    json_decref(lat);
    assay_state_destroy(&st);
}

/* The counts of `action` (metrics' assay_jobs_*_total{action}). */
static void s_take(void *arg, const assay_action_counts *c)
{
    assay_action_counts *want = arg;
    if (!strcmp(c->action, want->action))
        *want = *c;
}

static assay_action_counts counts_of(const assay_state *st,
                                     const char *action)
{
    assay_action_counts c = {0};
    snprintf(c.action, sizeof c.action, "%s", action);
    assay_state_action_counts(st, s_take, &c);
    return c;
}

/* Jobs submitted and ended per action are what this member applied: a
 * snapshot it loads (a restart, one installed from the leader) adds
 * none, or the counters would jump by every job it holds. */
Test(jobs_state, per_action_counts_are_what_was_applied)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    submit(st, "a", "x.check", 1000, 1);
    submit(st, "b", "x.check", 1001, 1);
    submit(st, "c", "y.other", 1002, 1);
    item(st, "dispatch", "a-0", 1, 1010);
    item(st, "result", "a-0", 1, 1020);
    sc_ok(st, json_pack("{s:i, s:s, s:[s], s:i}", "v", 1, "op", "cancel",
                        "jobs", "b-0", "at", 1030));
    assay_action_counts x = counts_of(st, "x.check");
    cr_expect_eq(x.submitted, 2);
    cr_expect_eq(x.completed, 1);
    cr_expect_eq(x.cancelled, 1);
    cr_expect_eq(x.failed, 0);
    cr_expect_eq(counts_of(st, "y.other").submitted, 1);
    json_t *dump = assay_state_dump(st);
    char err[256];
    cr_assert_eq(assay_state_load(st, dump, err, sizeof err), 0, "%s", err);
    cr_expect_eq(counts_of(st, "x.check").submitted, 2, "counted again");
    cr_expect_eq(counts_of(st, "y.other").submitted, 1);
    assay_state *fresh = assay_state_new(NULL, NULL);
    cr_assert_eq(assay_state_load(fresh, dump, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(counts_of(fresh, "x.check").submitted, 0);
    json_decref(dump);
    assay_state_destroy(&fresh);
    assay_state_destroy(&st);
}

Test(jobs_state, a_state_below_level_7_keeps_no_schedule_lists)
{
    /* A dump whose JobSpec names schedule "s" (a plain submit may not:
     * made by hand) lists it under "s" at level 7, and not at level 6,
     * which keeps no schedules. */
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    submit(st, "r", "x.check", 1000, 1);
    json_t *dump = assay_state_dump(st);
    json_t *spec = json_object_get(
        json_array_get(json_object_get(dump, "specs"), 0), "spec");
    json_object_set_new(spec, "schedule", json_string("s"));
    assay_state *copy = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_state_load(copy, dump, err, sizeof err), 0, "%s", err);
    cr_expect_not_null(assay_state_specs_by(copy, ASSAY_SPECS_BY_SCHEDULE,
                                            "s"));
    json_object_set_new(dump, "level", json_integer(ASSAY_LEVEL_PLANNER));
    cr_assert_eq(assay_state_load(copy, dump, err, sizeof err), 0, "%s", err);
    cr_expect_null(assay_state_specs_by(copy, ASSAY_SPECS_BY_SCHEDULE, "s"));
    cr_expect_str_eq(assay_state_spec(copy, "r")->schedule, "");
    json_decref(dump);
    assay_state_destroy(&copy);
    assay_state_destroy(&st);
}
