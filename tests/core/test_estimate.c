/* tests/core/test_estimate.c - duration estimates (core/state/estimate.c):
 * learned from the results the log records, from each attempt's dispatch
 * to its result: the mean and the 90th percentile settle on a fixture of
 * known durations and follow a change; nothing is learned below feature
 * level 6; at most 4,096 actions are kept, the one learned from longest
 * ago making room. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "state/fsm.h"
#include "state/state.h"

static void ok(assay_state *st, json_t *cmd)
{
    char *enc, err[ASSAY_ERRMSG_SIZE];
    size_t len;
    json_t *res = NULL;
    cr_assert_eq(assay_codec_encode(cmd, &enc, &len), 0);
    json_decref(cmd);
    int rc = assay_fsm_apply(st, enc, len, &res, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    json_decref(res);
    free(enc);
}

static assay_state *at_level(int level)
{
    assay_state *st = assay_state_new(NULL, NULL);
    ok(st, json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:i}", "v", 1, "op",
                     "leader", "id", "m1", "endpoint", "tcp://a:1", "events",
                     "tcp://a:2", "member", 1, "level", level));
    return st;
}

/* JobSpec `sid` of n jobs of `action`, each dispatched at `at` and its
 * result at at + ms[i]. */
static void run(assay_state *st, const char *sid, const char *action, int n,
                int64_t at, const int64_t *ms)
{
    json_t *jobs = json_array(), *disp = json_array(), *res = json_array();
    for (int i = 0; i < n; i++) {
        char jid[64];
        snprintf(jid, sizeof jid, "%s-%d", sid, i);
        json_array_append_new(jobs, json_pack("{s:s, s:{}}", "id", jid,
                                              "params"));
        json_array_append_new(disp, json_pack("{s:s, s:i, s:s, s:s, s:I}",
                                              "job", jid, "attempt", 1,
                                              "runtime", "rt", "version",
                                              "1.0.0", "at", (json_int_t)at));
        json_array_append_new(res, json_pack("{s:s, s:i, s:{}, s:s, s:I}",
                                             "job", jid, "attempt", 1,
                                             "result", "runtime", "rt", "at",
                                             (json_int_t)(at + ms[i])));
    }
    ok(st, json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:i, s:i, s:i}, s:o}",
                     "v", 1, "op", "submit", "spec", "id", sid, "action",
                     action, "resolved", "1.0.0", "timeout_ms", 100000,
                     "max_attempts", 1, "priority", 0, "jobs", jobs));
    ok(st, json_pack("{s:i, s:s, s:o}", "v", 1, "op", "dispatch", "items",
                     disp));
    ok(st, json_pack("{s:i, s:s, s:o}", "v", 1, "op", "result", "items",
                     res));
}

/* 1..100 ms, ten times each, in an order fixed by a small LCG. */
static void uniform_1_100(int64_t *ms)
{
    for (int i = 0; i < 1000; i++)
        ms[i] = i % 100 + 1;
    uint32_t x = 12345;
    for (int i = 999; i > 0; i--) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % (uint32_t)(i + 1));
        int64_t t = ms[i];
        ms[i] = ms[k];
        ms[k] = t;
    }
}

Test(estimate, mean_and_p90_settle_on_known_durations)
{
    assay_state *st = at_level(ASSAY_LEVEL_PLANNER);
    int64_t ms[1000];
    uniform_1_100(ms);
    run(st, "u", "typed.echo", 1000, 10000, ms);
    const assay_estimate *e = assay_state_estimate(st, "typed.echo");
    cr_assert_not_null(e);
    cr_expect_eq(e->n, 1000);
    /* Mean 50.5 ms, 90th percentile 90 ms. */
    cr_expect(e->mean_us > 44000 && e->mean_us < 57000, "mean %lld us",
              (long long)e->mean_us);
    cr_expect(e->p90_us > 82000 && e->p90_us < 98000, "p90 %lld us",
              (long long)e->p90_us);
    cr_expect_eq(e->at, 10000 + ms[999]);
    /* The same check takes 400 ms from now on: the figures follow. */
    int64_t slow[300];
    for (int i = 0; i < 300; i++)
        slow[i] = 400;
    run(st, "s", "typed.echo", 300, 20000, slow);
    cr_expect(e->mean_us > 390000 && e->mean_us <= 400000, "mean %lld us",
              (long long)e->mean_us);
    cr_expect(e->p90_us > 380000 && e->p90_us < 410000, "p90 %lld us",
              (long long)e->p90_us);
    cr_expect_null(assay_state_estimate(st, "typed.other"));
    assay_state_destroy(&st);
}

Test(estimate, nothing_is_learned_below_level_6)
{
    assay_state *st = at_level(ASSAY_LEVEL_ENROLMENT);
    int64_t ms[1] = {250};
    run(st, "a", "typed.echo", 1, 1000, ms);
    cr_expect_null(assay_state_estimate(st, "typed.echo"));
    assay_state_destroy(&st);
}

Test(estimate, at_most_4096_actions_the_stalest_making_room)
{
    assay_state *st = at_level(ASSAY_LEVEL_PLANNER);
    int64_t ms[1] = {5};
    for (int i = 0; i <= 4096; i++) {
        char sid[32], action[32];
        snprintf(sid, sizeof sid, "s%d", i);
        snprintf(action, sizeof action, "p.a%d", i);
        run(st, sid, action, 1, 1000 + i, ms);
    }
    const assay_estimate **v;
    size_t n;
    cr_assert_eq(assay_state_estimates(st, &v, &n), 0);
    free(v);
    cr_expect_eq(n, 4096);
    cr_expect_null(assay_state_estimate(st, "p.a0"), "the stalest went");
    cr_expect_not_null(assay_state_estimate(st, "p.a4096"));
    assay_state_destroy(&st);
}
