/* tests/core/test_estimate.c - duration estimates (core/state/estimate.c):
 * learned from the results the log records, from each attempt's dispatch
 * to its result: the mean and the 90th percentile settle on a fixture of
 * known durations and follow a change; nothing is learned below feature
 * level 6; at most 4,096 actions are kept, the one learned from longest
 * ago making room. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "statecmd.h"

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
    assay_state *st = sc_at_level(ASSAY_LEVEL_PLANNER);
    int64_t ms[1000];
    uniform_1_100(ms);
    sc_run(st, "u", 1000,
           (sc_run_opts){.action = "typed.echo", .start = 10000, .took = ms});
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
    sc_run(st, "s", 300,
           (sc_run_opts){.action = "typed.echo", .start = 20000,
                         .took_all = 400});
    cr_expect(e->mean_us > 390000 && e->mean_us <= 400000, "mean %lld us",
              (long long)e->mean_us);
    cr_expect(e->p90_us > 380000 && e->p90_us < 410000, "p90 %lld us",
              (long long)e->p90_us);
    cr_expect_null(assay_state_estimate(st, "typed.other"));
    assay_state_destroy(&st);
}

Test(estimate, nothing_is_learned_below_level_6)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_ENROLMENT);
    sc_run(st, "a", 1,
           (sc_run_opts){.action = "typed.echo", .start = 1000,
                         .took_all = 250});
    cr_expect_null(assay_state_estimate(st, "typed.echo"));
    assay_state_destroy(&st);
}

Test(estimate, at_most_4096_actions_the_stalest_making_room)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_PLANNER);
    for (int i = 0; i <= 4096; i++) {
        char sid[32], action[32];
        snprintf(sid, sizeof sid, "s%d", i);
        snprintf(action, sizeof action, "p.a%d", i);
        sc_run(st, sid, 1,
               (sc_run_opts){.action = action, .start = 1000 + i,
                             .took_all = 5});
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
