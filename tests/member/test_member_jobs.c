/* tests/member/test_member_jobs.c - the job manager's services
 * (core/member/jobs.c, stats.c) on the member fixture's real in-process
 * member: assay.jobs filters (action, schedule, state, runtime, labels,
 * submission time) and their pages; cancel and restart of every job a
 * filter matches, with a dry run that changes nothing; assay.restart by
 * id; assay.stats. */
#include <criterion/criterion.h>
#include <string.h>

#include "member_fixture.h"

static assay_link *cp;
static int cp_id;
static mf_rt *rt;

static void setup(void)
{
    mf_start(0);
    cp_id = mf_link_connect(&cp);
    rt = mf_rt_up("rt1", 1000, json_object());
    rt->beat_ms = 200;
}

static void teardown(void)
{
    assay_link_destroy(&cp);
    mf_teardown();
}

TestSuite(member_jobs, .init = setup, .fini = teardown);

static json_t *call(const char *service, json_t *body)
{
    json_t *r = mf_request(cp, cp_id, service, body);
    cr_assert(json_is_true(json_object_get(r, "ok")), "%s refused: %s",
              service, mb_str(r, "message"));
    return r;
}

/* Submits JobSpec id of n jobs of `action` with label team=team. */
static void submit(const char *id, int n, const char *action,
                   const char *team)
{
    json_t *targets = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(targets, json_object());
    json_decref(call(ASSAY_SVC_SUBMIT,
                     json_pack("{s:s, s:s, s:o, s:{s:s}}", "id", id, "action",
                               action, "targets", targets, "labels", "team",
                               team)));
}

/* The ids of a page of assay.jobs for `query` (stolen), joined by ' ';
 * its `next` into next (may be NULL). */
static void page(json_t *query, char *ids, size_t cap, char *next,
                 size_t ncap)
{
    json_t *r = call(ASSAY_SVC_JOBS, query);
    *ids = '\0';
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(r, "jobs"), i, j) {
        if (*ids)
            strlcat(ids, " ", cap);
        strlcat(ids, mb_str(j, "id"), cap);
    }
    if (next)
        strlcpy(next, mb_str(r, "next") ? mb_str(r, "next") : "", ncap);
    json_decref(r);
}

static void expect_page(json_t *query, const char *want)
{
    char ids[512];
    page(query, ids, sizeof ids, NULL, 0);
    cr_expect_str_eq(ids, want);
}

Test(member_jobs, filters_and_pages)
{
    submit("e1", 2, "typed.echo", "red");
    /* Each JobSpec submitted at least a millisecond after the one before,
     * so that a time range can part them. */
    int64_t t1 = assay_state_spec(m->state, "e1")->submitted_ms;
    UNTIL(assay_wall_ms() > t1, "the clock stands still");
    submit("s1", 2, "typed.sleep", "blue");
    int64_t t2 = assay_state_spec(m->state, "s1")->submitted_ms;
    UNTIL(assay_wall_ms() > t2, "the clock stands still");
    submit("e2", 1, "typed.echo", "blue");
    cr_assert_gt(t1, 0);
    expect_page(json_pack("{s:s}", "action", "typed.echo"), "e1-0 e1-1 e2-0");
    expect_page(json_pack("{s:s}", "action", "typed.sleep"), "s1-0 s1-1");
    expect_page(json_pack("{s:s, s:{s:s}}", "action", "typed.echo", "labels",
                          "team", "blue"),
                "e2-0");
    expect_page(json_pack("{s:{s:s}}", "labels", "team", "blue"),
                "s1-0 s1-1 e2-0");
    /* Submission time: since the second minute. */
    expect_page(json_pack("{s:I}", "since_ms", (json_int_t)t2),
                "s1-0 s1-1 e2-0");
    expect_page(json_pack("{s:I}", "until_ms", (json_int_t)t2),
                "e1-0 e1-1 s1-0 s1-1");
    expect_page(json_pack("{s:I, s:I}", "since_ms", (json_int_t)t2,
                          "until_ms", (json_int_t)t2),
                "s1-0 s1-1");
    expect_page(json_pack("{s:s}", "schedule", "none"), "");
    /* Every filter holds, whichever index is walked. */
    expect_page(json_pack("{s:s, s:s}", "spec", "e1", "action", "typed.sleep"),
                "");
    /* Pages of two, each after the one before, through the action's
     * JobSpecs. */
    char ids[256], next[128];
    page(json_pack("{s:s, s:i}", "action", "typed.echo", "limit", 2), ids,
         sizeof ids, next, sizeof next);
    cr_expect_str_eq(ids, "e1-0 e1-1");
    cr_expect_str_eq(next, "e1-1");
    page(json_pack("{s:s, s:i, s:s}", "action", "typed.echo", "limit", 2,
                   "after", next),
         ids, sizeof ids, next, sizeof next);
    cr_expect_str_eq(ids, "e2-0");
    cr_expect_str_eq(next, "");
    /* Running, and running on one runtime. */
    mf_rt_credit(rt, 2);
    UNTIL(assay_state_count(m->state, ASSAY_JOB_RUNNING) == 2, "never ran");
    page(json_pack("{s:s, s:s}", "state", "running", "runtime", "rt1"), ids,
         sizeof ids, NULL, 0);
    cr_expect(!strcmp(ids, "e1-0 e1-1") || !strcmp(ids, "e1-1 e1-0"), "%s",
              ids);
    expect_page(json_pack("{s:s, s:s}", "state", "running", "runtime", "rt9"),
                "");
    json_t *r = mf_request(cp, cp_id, ASSAY_SVC_JOBS,
                           json_pack("{s:s, s:s}", "action", "typed.echo",
                                     "after", "s1-0"));
    cr_expect(json_is_false(json_object_get(r, "ok")),
              "a cursor off the filter's walk is refused");
    json_decref(r);
}

Test(member_jobs, bulk_cancel_and_restart_with_a_dry_run)
{
    submit("a", 3, "typed.echo", "red");
    submit("b", 2, "typed.sleep", "red");
    json_t *r = call(ASSAY_SVC_JOBS,
                     json_pack("{s:s, s:s, s:b}", "op", "cancel", "action",
                               "typed.echo", "dry_run", 1));
    cr_expect_eq(json_integer_value(json_object_get(r, "would_change")), 3);
    json_decref(r);
    cr_expect_eq(assay_state_count(m->state, ASSAY_JOB_CANCELLED), 0);
    r = call(ASSAY_SVC_JOBS, json_pack("{s:s, s:{s:s}}", "op", "cancel",
                                       "labels", "team", "red"));
    cr_expect_eq(json_integer_value(json_object_get(r, "changed")), 5);
    json_decref(r);
    cr_expect_eq(assay_state_count(m->state, ASSAY_JOB_CANCELLED), 5);
    /* Restart by id, then every cancelled sleep by filter. */
    r = call(ASSAY_SVC_RESTART, json_pack("{s:[s, s]}", "ids", "a-1", "zz"));
    cr_expect_eq(json_array_size(json_object_get(r, "restarted")), 1);
    cr_expect_eq(json_array_size(json_object_get(r, "unknown")), 1);
    json_decref(r);
    cr_expect_eq(assay_state_job(m->state, "a-1")->state, ASSAY_JOB_QUEUED);
    r = call(ASSAY_SVC_JOBS, json_pack("{s:s, s:s, s:s, s:b}", "op",
                                       "restart", "state", "cancelled",
                                       "action", "typed.sleep", "dry_run", 1));
    cr_expect_eq(json_integer_value(json_object_get(r, "would_change")), 2);
    json_decref(r);
    r = call(ASSAY_SVC_JOBS, json_pack("{s:s, s:s}", "op", "restart",
                                       "action", "typed.sleep"));
    cr_expect_eq(json_integer_value(json_object_get(r, "changed")), 2);
    json_decref(r);
    cr_expect_eq(assay_state_count(m->state, ASSAY_JOB_QUEUED), 3);
    cr_expect_eq(assay_state_count(m->state, ASSAY_JOB_CANCELLED), 2);
}

Test(member_jobs, stats_count_what_is_held)
{
    submit("a", 3, "typed.echo", "red");
    submit("b", 1, "typed.sleep", "red");
    mf_rt_credit(rt, 1);
    UNTIL(assay_state_count(m->state, ASSAY_JOB_RUNNING) == 1, "never ran");
    json_t *r = call(ASSAY_SVC_STATS, json_object());
    json_t *q = json_object_get(r, "queue");
    cr_expect_eq(json_integer_value(json_object_get(
                     json_object_get(q, "by_state"), "queued")),
                 3);
    cr_expect_eq(json_integer_value(json_object_get(
                     json_object_get(q, "queued_by_action"), "typed.echo")),
                 2);
    cr_expect_eq(json_integer_value(json_object_get(
                     json_object_get(q, "queued_by_action"), "typed.sleep")),
                 1);
    cr_expect_eq(json_integer_value(json_object_get(
                     json_object_get(q, "queued_by_priority"), "0")),
                 3);
    cr_expect_eq(json_integer_value(json_object_get(
                     json_object_get(q, "running_by_action"), "typed.echo")),
                 1);
    cr_expect_eq(json_integer_value(json_object_get(
                     json_object_get(r, "runtimes"), "alive")),
                 1);
    cr_expect_not_null(json_object_get(json_object_get(r, "latency_ms"),
                                       "typed.echo"));
    cr_expect_not_null(json_object_get(r, "schedules"));
    json_decref(r);
}
