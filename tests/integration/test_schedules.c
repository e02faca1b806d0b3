/* tests/integration/test_schedules.c - schedules on three raft members
 * as real processes: the leader is killed (SIGKILL) at fire instants, and
 * later every member at once; each fire time is still decided exactly
 * once: the decisions a schedule counts (started, skipped, missed, ...)
 * add up to the fire times from its creation to its cursor, and every
 * run started has its JobSpec. What fell due while all were down is
 * missed beyond the catch-up window and run within it. A schedule that
 * would break that (two decisions of one fire, or none) fails the
 * count. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cluster.h"
#include "harness.h"

/* `schedule show ID` through any member (a leader change may be under
 * way): the schedule object, or NULL. */
static json_t *s_show(cluster *c, const char *id)
{
    int code;
    json_t *r = cluster_ctl_until(c, 20000, &code,
                                  "--timeout-ms 3000 schedule show %s", id);
    json_t *s = json_incref(json_object_get(r, "schedule"));
    json_decref(r);
    return s;
}

static long long s_count(const json_t *s, const char *k)
{
    return json_integer_value(json_object_get(json_object_get(s, "counts"),
                                              k));
}

static long long s_decided(const json_t *s)
{
    return s_count(s, "started") + s_count(s, "buffered") +
           s_count(s, "skipped") + s_count(s, "missed") +
           s_count(s, "nonexistent") + s_count(s, "failed");
}

/* Fire times of "@every 1s" after created_ms, up to cursor_ms. */
static long long s_expected(const json_t *s)
{
    long long created = json_integer_value(json_object_get(s, "created_ms")),
              cursor = json_integer_value(json_object_get(s, "cursor_ms"));
    return cursor / 1000 - created / 1000;
}

/* Sleeps until `ms` before the next whole second of the wall clock. */
static void s_before_second(int ms)
{
    int64_t now = assay_wall_ms(), wait = 1000 - now % 1000 - ms;
    harness_sleep_ms(wait > 0 ? (int)wait : (int)wait + 1000);
}

typedef struct {
    cluster *c;
    long long started;
} s_progress;

static bool s_started(void *arg)
{
    s_progress *p = arg;
    json_t *s = s_show(p->c, "tick");
    bool ok = s && s_count(s, "started") >= p->started;
    json_decref(s);
    return ok;
}

static void s_create(cluster *c, const char *catchup)
{
    char def[512];
    snprintf(def, sizeof def,
             "{\"id\": \"tick\", \"cron\": \"@every 1s\", \"overlap\": "
             "\"allow_all\", \"catchup_window\": \"%s\", \"keep_runs\": "
             "1000, \"spec\": {\"action\": \"noop.pass\"}}",
             catchup);
    int code;
    json_t *r = cluster_ctl_until(c, 20000, &code, "schedule create %s",
                                  cluster_spec(c, "tick.json", def));
    cr_assert_eq(code, 0, "schedule create failed");
    json_decref(r);
}

Test(schedules, each_fire_decided_once_across_leader_kills, .timeout = 300)
{
    cluster c;
    cluster_start_raft(&c, 3, "--set schedule_min_interval=1");
    cluster_runtime(&c, "rt1", NULL);
    s_create(&c, "1h");
    s_progress p = {&c, 2};
    cr_assert(harness_until(20000, s_started, &p), "it never fired");
    for (int round = 0; round < 3; round++) {
        int lead = cluster_leader(&c, 20000);
        cr_assert(lead, "round %d: no leader", round);
        /* At the fire instant: the leader may have proposed it, may have
         * had it committed, or neither. */
        s_before_second(2);
        cluster_member_kill(&c, lead, SIGKILL);
        cr_assert(cluster_leader(&c, 20000), "round %d: no new leader",
                  round);
        cluster_member_restart(&c, lead);
        json_t *s = s_show(&c, "tick");
        cr_assert_not_null(s);
        p.started = s_count(s, "started") + 2;
        json_decref(s);
        cr_assert(harness_until(20000, s_started, &p),
                  "round %d: it stopped firing", round);
    }
    json_t *s = s_show(&c, "tick");
    cr_assert_not_null(s);
    /* Within the hour of catch-up nothing is missed: every fire time
     * from creation to cursor was started once, none twice. */
    cr_expect_eq(s_decided(s), s_expected(s), "decided %lld of %lld",
                 s_decided(s), s_expected(s));
    cr_expect_eq(s_count(s, "started"), s_expected(s));
    cr_expect_eq(s_count(s, "missed"), 0);
    /* Each run started is a JobSpec of its own fire time. */
    int code;
    json_t *jobs = cluster_ctl(&c, &code, "--timeout-ms 15000 jobs");
    long long runs = 0;
    size_t i;
    json_t *j;
    json_array_foreach(json_object_get(jobs, "jobs"), i, j) runs +=
        !strncmp(json_string_value(json_object_get(j, "spec")) ?: "",
                 "tick.", 5);
    cr_expect_eq(runs, s_count(s, "started"));
    json_decref(jobs);
    json_decref(s);
    cluster_stop(&c);
}

Test(schedules, catch_up_after_every_member_was_down, .timeout = 300)
{
    cluster c;
    cluster_start_raft(&c, 3, "--set schedule_min_interval=1");
    cluster_runtime(&c, "rt1", NULL);
    s_create(&c, "3s");
    s_progress p = {&c, 2};
    cr_assert(harness_until(20000, s_started, &p), "it never fired");
    for (int i = 1; i <= 3; i++)
        cluster_member_kill(&c, i, SIGKILL);
    harness_sleep_ms(8000); /* due meanwhile: eight fires */
    for (int i = 1; i <= 3; i++)
        cluster_member_restart(&c, i);
    cr_assert(cluster_leader(&c, 20000), "no leader after the restart");
    json_t *s = s_show(&c, "tick");
    cr_assert_not_null(s);
    p.started = s_count(s, "started") + 1;
    json_decref(s);
    cr_assert(harness_until(20000, s_started, &p), "it stopped firing");
    s = s_show(&c, "tick");
    cr_expect_gt(s_count(s, "missed"), 0,
                 "fires older than the window were not recorded missed");
    cr_expect_eq(s_decided(s), s_expected(s), "decided %lld of %lld",
                 s_decided(s), s_expected(s));
    json_decref(s);
    cluster_stop(&c);
}
