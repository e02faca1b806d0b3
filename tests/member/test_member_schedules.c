/* tests/member/test_member_schedules.c - the leader's side of schedules
 * (core/member/schedules.c, schedule_service.c) on the member fixture's
 * real in-process member, with the wall clock schedules go by injected:
 * no test sleeps until a fire time. A due fire is committed once, even
 * when the leader plans everything again (as a new leader does); both
 * 2026 transition days in Europe/Berlin and America/New_York: a local
 * time that does not exist is recorded as skipped, one that occurs twice
 * fires once; what fell due while no leader led is missed beyond the
 * catch-up window and fired within it, none silently; overlap with a run
 * that is still going; pause, resume, trigger, backfill, delete; and
 * every kind of bad definition refused, naming the field, changing
 * nothing. */
#include <criterion/criterion.h>
#include <string.h>

#include "member_fixture.h"
#include "state/schedule.h"

static int64_t now_ms;
static assay_link *cp;
static int cp_id;
static mf_rt *rt;

static int64_t fake_wall(void *arg)
{
    (void)arg;
    return now_ms;
}

/* 2026-mm-ddThh:mm:ssZ as ms. */
static int64_t utc(const char *t)
{
    int64_t ms;
    char err[256];
    cr_assert_eq(assay_sched_time(t, "t", &ms, err, sizeof err), 0, "%s",
                 err);
    return ms;
}

static void setup(void)
{
    mf_start(0);
    assay_leader_set_clock(m, fake_wall, NULL);
    now_ms = utc("2026-01-01T00:00:00Z");
    cp_id = mf_link_connect(&cp);
    rt = mf_rt_up("rt1", 1000, json_object());
    rt->beat_ms = 200; /* alive however long a test steps */
}

static void teardown(void)
{
    assay_link_destroy(&cp);
    mf_teardown();
}

TestSuite(member_schedules, .init = setup, .fini = teardown);

static json_t *sched(json_t *body)
{
    return mf_request(cp, cp_id, ASSAY_SVC_SCHEDULE, body);
}

static void expect_ok(json_t *reply)
{
    cr_assert_not_null(reply);
    cr_assert(json_is_true(json_object_get(reply, "ok")), "refused: %s",
              mb_str(reply, "message"));
    json_decref(reply);
}

static void expect_error(json_t *reply, int code, const char *says)
{
    cr_assert_not_null(reply);
    cr_assert(json_is_false(json_object_get(reply, "ok")), "not refused");
    const char *msg = mb_str(reply, "message");
    cr_expect_eq(json_integer_value(json_object_get(reply, "code")), code,
                 "%s", msg);
    cr_expect(msg && strstr(msg, says), "'%s' does not say '%s'", msg, says);
    json_decref(reply);
}

/* Creates schedule id from a definition (stolen) without id and spec. */
static json_t *create(const char *id, json_t *def)
{
    json_object_set_new(def, "id", json_string(id));
    if (!json_object_get(def, "spec"))
        json_object_set_new(def, "spec",
                            json_pack("{s:s}", "action", "typed.echo"));
    return sched(json_pack("{s:s, s:o}", "op", "create", "schedule", def));
}

static const assay_sched_rec *rec(const char *id)
{
    const assay_sched_rec *r = assay_state_schedule(m->state, id);
    cr_assert_not_null(r, "no schedule %s", id);
    return r;
}

static uint64_t decided(const assay_sched_rec *r)
{
    return r->started + r->buffered + r->skipped + r->missed +
           r->nonexistent + r->failed;
}

/* Moves the clock to t and steps until the schedule's cursor reaches
 * `cursor` (ms). */
static void at(const char *t, const char *id, const char *cursor)
{
    now_ms = utc(t);
    int64_t want = utc(cursor);
    UNTIL(rec(id)->cursor_ms >= want, "%s: cursor never reached %s", id,
          cursor);
    cr_expect_eq(rec(id)->cursor_ms, want);
}

/* Steps a while (a few ticks) without moving the clock. */
static void settle(void)
{
    int64_t until = assay_now_ms() + 4 * TICK_MS;
    UNTIL(assay_now_ms() >= until, "never");
}

static bool run(const char *id, const char *nominal)
{
    char sid[128];
    assay_sched_run_id(id, utc(nominal), ASSAY_FIRE_DUE, sid, sizeof sid);
    return assay_state_spec(m->state, sid) != NULL;
}

Test(member_schedules, a_due_fire_is_committed_once)
{
    expect_ok(create("s", json_pack("{s:s, s:s}", "cron", "*/5 * * * *",
                                    "overlap", "allow_all")));
    settle();
    cr_expect_eq(rec("s")->started, 0);
    at("2026-01-01T00:05:00Z", "s", "2026-01-01T00:05:00Z");
    cr_expect(run("s", "2026-01-01T00:05:00Z"));
    /* A new leader plans every schedule again from the state: nothing
     * fires twice. */
    mb_scheds_reset(m);
    settle();
    cr_expect_eq(rec("s")->started, 1);
    cr_expect_eq(assay_state_spec_count(m->state), 1);
    at("2026-01-01T00:10:00Z", "s", "2026-01-01T00:10:00Z");
    cr_expect_eq(rec("s")->started, 2);
    const assay_job *j =
        assay_state_job(m->state, "s.20260101T001000Z-0");
    cr_assert_not_null(j);
    cr_expect_str_eq(j->spec->schedule, "s");
}

Test(member_schedules, berlin_spring_forward_skips_and_fall_back_fires_once)
{
    now_ms = utc("2026-03-28T12:00:00Z");
    expect_ok(create("b", json_pack("{s:s, s:s, s:s}", "cron", "30 2 * * *",
                                    "timezone", "Europe/Berlin", "overlap",
                                    "allow_all")));
    /* 2026-03-29 02:30 does not exist: at 01:00Z clocks went from 02:00
     * to 03:00 CEST. Recorded at that instant, not run. */
    at("2026-03-29T01:00:00Z", "b", "2026-03-29T01:00:00Z");
    const assay_sched_rec *r = rec("b");
    cr_expect_eq(r->nonexistent, 1);
    cr_expect_eq(r->started, 0);
    const assay_sched_run *last = assay_sched_run_at(r, 0);
    cr_expect_eq(last->outcome, ASSAY_RUN_NONEXISTENT);
    cr_expect(strstr(last->reason, "2026-03-29 02:30") &&
                  strstr(last->reason, "Europe/Berlin"),
              "%s", last->reason);
    /* The next day 02:30 CEST is 00:30Z. */
    at("2026-03-30T00:30:00Z", "b", "2026-03-30T00:30:00Z");
    cr_expect(run("b", "2026-03-30T00:30:00Z"));
    /* 2026-10-25: 02:30 occurs at 00:30Z (CEST) and 01:30Z (CET): it
     * fires at the first only. */
    at("2026-10-25T00:30:00Z", "b", "2026-10-25T00:30:00Z");
    uint64_t started = rec("b")->started;
    now_ms = utc("2026-10-25T01:45:00Z");
    settle();
    cr_expect_eq(rec("b")->started, started);
    cr_expect_not(run("b", "2026-10-25T01:30:00Z"));
    /* And the day after, at 02:30 CET. */
    at("2026-10-26T01:30:00Z", "b", "2026-10-26T01:30:00Z");
    cr_expect(run("b", "2026-10-26T01:30:00Z"));
    /* The clock jumped from March to October: the days between were
     * missed (older than the hour of catch-up), each counted. */
    cr_expect_eq(rec("b")->missed, 208);
}

Test(member_schedules, new_york_spring_forward_skips_and_fall_back_fires_once)
{
    now_ms = utc("2026-03-07T12:00:00Z");
    expect_ok(create("ny", json_pack("{s:[s, s], s:s, s:s}", "cron",
                                     "30 2 * * *", "30 1 * * *", "timezone",
                                     "America/New_York", "overlap",
                                     "allow_all")));
    /* 2026-03-08 01:30 EST is 06:30Z; 02:30 does not exist (07:00Z:
     * 02:00 EST became 03:00 EDT). */
    at("2026-03-08T06:30:00Z", "ny", "2026-03-08T06:30:00Z");
    cr_expect(run("ny", "2026-03-08T06:30:00Z"));
    at("2026-03-08T07:00:00Z", "ny", "2026-03-08T07:00:00Z");
    cr_expect_eq(rec("ny")->nonexistent, 1);
    cr_expect_not(run("ny", "2026-03-08T07:00:00Z"));
    /* 2026-11-01: 01:30 occurs at 05:30Z (EDT) and 06:30Z (EST): once.
     * 02:30 EST is 07:30Z. */
    now_ms = utc("2026-10-31T23:00:00Z");
    at("2026-11-01T05:30:00Z", "ny", "2026-11-01T05:30:00Z");
    cr_expect(run("ny", "2026-11-01T05:30:00Z"));
    at("2026-11-01T07:30:00Z", "ny", "2026-11-01T07:30:00Z");
    cr_expect_not(run("ny", "2026-11-01T06:30:00Z"));
    cr_expect(run("ny", "2026-11-01T07:30:00Z"));
}

Test(member_schedules, catch_up_after_ten_minutes_without_a_leader)
{
    expect_ok(create("c", json_pack("{s:s, s:s, s:s}", "cron", "* * * * *",
                                    "catchup_window", "5m", "overlap",
                                    "allow_all")));
    /* Nobody led from 00:00:30 to 00:10:30: the fires of minutes 1-5 are
     * older than the window, those of 6-10 are caught up; none twice,
     * none silently. */
    at("2026-01-01T00:10:30Z", "c", "2026-01-01T00:10:00Z");
    const assay_sched_rec *r = rec("c");
    cr_expect_eq(r->missed, 5);
    cr_expect_eq(r->started, 5);
    cr_expect_eq(decided(r), 10);
    cr_expect_not(run("c", "2026-01-01T00:05:00Z"));
    cr_expect(run("c", "2026-01-01T00:06:00Z"));
    cr_expect(run("c", "2026-01-01T00:10:00Z"));
    const assay_sched_run *missed = assay_sched_run_at(r, 5);
    cr_assert_not_null(missed);
    cr_expect_eq(missed->outcome, ASSAY_RUN_MISSED);
    cr_expect_eq(missed->count, 5);
    cr_expect_eq(missed->nominal_ms, utc("2026-01-01T00:01:00Z"));
}

/* The jobs dispatched to rt until n came (one message may carry
 * several): their ids into ids[]. */
static void take(char ids[][128], int n)
{
    for (int k = 0; k < n;) {
        json_t *d = mf_rt_expect(rt, ASSAY_RT_DISPATCH);
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(d, "jobs"), i, x) {
            assay_rtmsg_dispatch it;
            cr_assert(assay_rtmsg_read_dispatch(x, &it));
            cr_assert_lt(k, n, "more jobs dispatched than runs fired");
            strlcpy(ids[k++], it.job, 128);
        }
        json_decref(d);
    }
}

Test(member_schedules, overlap_with_a_slow_run)
{
    expect_ok(create("skip", json_pack("{s:s, s:s}", "cron", "* * * * *",
                                       "overlap", "skip")));
    expect_ok(create("one", json_pack("{s:s, s:s}", "cron", "* * * * *",
                                      "overlap", "buffer_one")));
    mf_rt_credit(rt, 2);
    at("2026-01-01T00:01:00Z", "skip", "2026-01-01T00:01:00Z");
    UNTIL(rec("one")->cursor_ms >= utc("2026-01-01T00:01:00Z"), "one");
    char ids[2][128];
    take(ids, 2); /* both runs are dispatched, and stay running */
    at("2026-01-01T00:03:00Z", "skip", "2026-01-01T00:03:00Z");
    at("2026-01-01T00:03:00Z", "one", "2026-01-01T00:03:00Z");
    cr_expect_eq(rec("skip")->skipped, 2);
    cr_expect_eq(rec("one")->buffered, 1);
    cr_expect_eq(rec("one")->skipped, 1);
    /* The slow runs end: buffer_one starts the run it kept. */
    mf_rt_result(rt, ids[0], 1, mf_ok_result("a"));
    mf_rt_result(rt, ids[1], 1, mf_ok_result("b"));
    UNTIL(rec("one")->started == 2 && !rec("skip")->n_active,
          "the buffered run never started");
    cr_expect(run("one", "2026-01-01T00:02:00Z"));
    cr_expect_eq(rec("one")->n_active, 1);
}

Test(member_schedules, pause_resume_trigger_backfill_delete)
{
    expect_ok(create("p", json_pack("{s:s, s:s}", "cron", "*/10 * * * *",
                                    "overlap", "allow_all")));
    expect_ok(sched(json_pack("{s:s, s:s, s:s}", "op", "pause", "id", "p",
                              "note", "maintenance")));
    cr_expect(rec("p")->paused);
    now_ms = utc("2026-01-01T01:05:00Z");
    settle();
    cr_expect_eq(decided(rec("p")), 0);
    json_t *r = sched(json_pack("{s:s, s:s}", "op", "resume", "id", "p"));
    cr_expect_eq(json_integer_value(json_object_get(r, "skipped")), 6);
    json_decref(r);
    cr_expect_eq(rec("p")->skipped, 6);
    cr_expect_eq(rec("p")->cursor_ms, now_ms);
    /* Trigger: now, whatever the schedule says. */
    expect_ok(sched(json_pack("{s:s, s:s}", "op", "trigger", "id", "p")));
    cr_expect_not_null(assay_state_spec(m->state,
                                        "p.t20260101T010500.000Z"));
    /* Backfill: a dry run counts, a range too long is refused, one in
     * the future too; a real one submits each fire time's JobSpec. */
    r = sched(json_pack("{s:s, s:s, s:s, s:s, s:b}", "op", "backfill", "id",
                        "p", "from", "2026-01-01T00:00:00Z", "to",
                        "2026-01-01T00:30:00Z", "dry_run", 1));
    cr_expect_eq(json_integer_value(json_object_get(r, "fires")), 4);
    json_decref(r);
    cr_expect(!run("p", "2026-01-01T00:10:00Z"));
    expect_error(sched(json_pack("{s:s, s:s, s:s, s:s}", "op", "backfill",
                                 "id", "p", "from", "2016-01-01T00:00:00Z",
                                 "to", "2026-01-01T00:30:00Z")),
                 ASSAY_ERANGE, "schedule_backfill_max");
    expect_error(sched(json_pack("{s:s, s:s, s:s, s:s}", "op", "backfill",
                                 "id", "p", "from", "2026-01-01T00:00:00Z",
                                 "to", "2026-01-02T00:00:00Z")),
                 ASSAY_EINVAL, "still to come");
    expect_ok(sched(json_pack("{s:s, s:s, s:s, s:s}", "op", "backfill", "id",
                              "p", "from", "2026-01-01T00:00:00Z", "to",
                              "2026-01-01T00:30:00Z")));
    cr_expect(run("p", "2026-01-01T00:00:00Z"));
    cr_expect(run("p", "2026-01-01T00:30:00Z"));
    /* Show: the last runs and the next fire times. */
    r = sched(json_pack("{s:s, s:s}", "op", "show", "id", "p"));
    const json_t *s = json_object_get(r, "schedule");
    cr_expect_eq(json_array_size(json_object_get(s, "next")), 10);
    cr_expect_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(s, "next"), 0),
                     "nominal_ms")),
                 utc("2026-01-01T01:10:00Z"));
    cr_expect_gt(json_array_size(json_object_get(s, "runs")), 0);
    json_decref(r);
    /* Delete: its runs stay. */
    expect_ok(sched(json_pack("{s:s, s:s}", "op", "delete", "id", "p")));
    cr_expect_null(assay_state_schedule(m->state, "p"));
    cr_expect(run("p", "2026-01-01T00:00:00Z"));
    expect_error(sched(json_pack("{s:s, s:s}", "op", "show", "id", "p")),
                 ASSAY_ENOENT, "no schedule 'p'");
}

Test(member_schedules, bad_definitions_are_refused_naming_the_field)
{
    expect_error(create("x", json_pack("{s:s}", "cron", "0 0 31 2 *")),
                 ASSAY_EINVAL, "never fires");
    expect_error(create("x", json_pack("{s:s}", "cron", "* * * * * *")),
                 ASSAY_EINVAL, "schedule_min_interval");
    expect_error(create("x", json_pack("{s:s}", "cron", "@every 1s")),
                 ASSAY_EINVAL, "schedule_min_interval");
    expect_error(create("x", json_pack("{s:s}", "cron", "0 0 32 * *")),
                 ASSAY_EINVAL, "cron[0]");
    expect_error(create("x", json_pack("{s:s, s:s}", "cron", "0 * * * *",
                                       "timezone", "Mars/Base")),
                 ASSAY_ENOENT, "timezone");
    expect_error(create("x", json_pack("{s:s, s:s}", "cron", "0 * * * *",
                                       "timezone", "../../etc/passwd")),
                 ASSAY_EINVAL, "timezone");
    expect_error(create("x", json_pack("{s:s, s:i}", "cron", "0 * * * *",
                                       "keep_runs", 0)),
                 ASSAY_EINVAL, "keep_runs");
    expect_error(create("x", json_pack("{s:s, s:s}", "cron", "0 * * * *",
                                       "overlap", "sometimes")),
                 ASSAY_EINVAL, "overlap");
    expect_error(create("x", json_pack("{s:s, s:s}", "cron", "0 * * * *",
                                       "start", "yesterday")),
                 ASSAY_EINVAL, "start");
    expect_error(create("x", json_pack("{s:s, s:i}", "cron", "0 * * * *",
                                       "bogus", 1)),
                 ASSAY_EINVAL, "'bogus'");
    expect_error(create("x", json_pack("{}")), ASSAY_EINVAL,
                 "cron or intervals");
    expect_error(create("../x", json_pack("{s:s}", "cron", "0 * * * *")),
                 ASSAY_EINVAL, "id");
    /* The template is checked at creation as a submit would be. */
    expect_error(create("x", json_pack("{s:s, s:{s:s}}", "cron", "0 * * * *",
                                       "spec", "action", "typed.nope")),
                 ASSAY_ENOENT, "spec");
    expect_error(create("x", json_pack("{s:s, s:{s:s, s:{s:i}}}", "cron",
                                       "0 * * * *", "spec", "action",
                                       "typed.echo", "params", "bogus", 1)),
                 ASSAY_ENOENT, "unknown param 'bogus'");
    expect_error(create("x", json_pack("{s:s, s:{s:s, s:s}}", "cron",
                                       "0 * * * *", "spec", "action",
                                       "typed.echo", "id", "mine")),
                 ASSAY_EINVAL, "spec.id");
    cr_expect_eq(assay_state_schedule_count(m->state), 0);
    /* An id taken; max_schedules. */
    expect_ok(create("x", json_pack("{s:s}", "cron", "0 * * * *")));
    expect_error(create("x", json_pack("{s:s}", "cron", "0 * * * *")),
                 ASSAY_EEXIST, "already exists");
    conf.max_schedules = 1;
    expect_error(create("y", json_pack("{s:s}", "cron", "0 * * * *")),
                 ASSAY_ERANGE, "max_schedules");
    expect_error(sched(json_pack("{s:s}", "op", "explode")), ASSAY_EINVAL,
                 "unknown op");
    cr_expect_eq(assay_state_schedule_count(m->state), 1);
}

Test(member_schedules_level, refused_below_level_7, .fini = mf_teardown)
{
    mf_start(ASSAY_LEVEL_PLANNER);
    assay_link *c = NULL;
    int id = mf_link_connect(&c);
    json_t *r = mf_request(c, id, ASSAY_SVC_SCHEDULE,
                           json_pack("{s:s}", "op", "list"));
    cr_expect_eq(json_integer_value(json_object_get(r, "code")),
                 ASSAY_EUNSUPP);
    cr_expect(strstr(mb_str(r, "message"), "feature level 7"));
    json_decref(r);
    assay_link_destroy(&c);
}

/* The next message to rt of verb `want`, dispatches and pulses passed
 * over. */
static json_t *next_of(const char *want)
{
    char err[256];
    int64_t until = assay_now_ms() + WAIT_MS;
    for (int n = 0; n < MAX_STEPS && assay_now_ms() < until; n++) {
        assay_link_msg msg;
        int rc = assay_link_recv(rt->link, &msg, err, sizeof err);
        cr_assert_geq(rc, 0, "%s", err);
        if (rc == 1) {
            bool hit = !strcmp(msg.verb, want);
            json_t *b = hit ? json_incref(msg.body) : NULL;
            assay_link_msg_fini(&msg);
            if (hit)
                return b;
            continue;
        }
        mf_step();
    }
    cr_assert_fail("no %s came", want);
    return NULL;
}

Test(member_schedules, cancel_other_stops_the_run_on_its_runtime)
{
    expect_ok(create("co", json_pack("{s:s, s:s}", "cron", "* * * * *",
                                      "overlap", "cancel_other")));
    mf_rt_credit(rt, 4);
    at("2026-01-01T00:01:00Z", "co", "2026-01-01T00:01:00Z");
    char ids[1][128];
    take(ids, 1);
    at("2026-01-01T00:02:00Z", "co", "2026-01-01T00:02:00Z");
    json_t *c = next_of(ASSAY_RT_CANCEL);
    cr_expect_str_eq(mb_str(c, "job"), ids[0]);
    json_decref(c);
    cr_expect_eq(assay_state_job(m->state, ids[0])->state,
                 ASSAY_JOB_CANCELLED);
}

Test(member_schedules, jitter_is_not_lateness)
{
    /* No catch-up at all, and up to a minute of jitter: a fire reached at
     * its due time runs. */
    expect_ok(create("j", json_pack("{s:s, s:s, s:i, s:s}", "cron",
                                    "0 * * * *", "jitter", "1m",
                                    "catchup_window", 0, "overlap",
                                    "allow_all")));
    json_t *r = sched(json_pack("{s:s, s:s}", "op", "show", "id", "j"));
    const json_t *next = json_array_get(
        json_object_get(json_object_get(r, "schedule"), "next"), 0);
    int64_t nominal = json_integer_value(json_object_get(next, "nominal_ms")),
            due = json_integer_value(json_object_get(next, "due_ms"));
    json_decref(r);
    cr_expect_geq(due, nominal);
    now_ms = due;
    UNTIL(rec("j")->cursor_ms >= nominal, "it never fired");
    cr_expect_eq(rec("j")->started, 1);
    cr_expect_eq(rec("j")->missed, 0);
}
