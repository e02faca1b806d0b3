/* tests/core/test_retention.c - retention (core/state/retention.c and the
 * "expire" op): a member that has run 1,000,000 jobs holds only what
 * retention keeps; by age it goes by the log's clock, oldest end first;
 * a hold keeps what a consumer still needs; below feature level 2 expire
 * is refused. Records are counted, not memory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "state/fsm.h"
#include "state/state.h"
#include "statecmd.h"

static assay_state *level2(void)
{
    return sc_at_level(2);
}

/* JobSpec `sid` of n jobs, all run to a result ending at `at`; its own
 * retain_seconds unless 0. */
static void run_spec_kept(assay_state *st, const char *sid, int n,
                          int64_t at, int retain_seconds)
{
    sc_run(st, sid, n,
           (sc_run_opts){.start = at - 1, .took_all = 1,
                         .retain_seconds = retain_seconds});
}

/* A new state loaded from a snapshot of st (caller destroys). */
static assay_state *restored(assay_state *st)
{
    char *snap, err[ASSAY_ERRMSG_SIZE];
    size_t len;
    cr_assert_eq(assay_fsm_snapshot(st, &snap, &len), 0);
    assay_state *back = assay_state_new(NULL, NULL);
    cr_assert_eq(assay_fsm_restore(back, snap, len, err, sizeof err), 0,
                 "%s", err);
    free(snap);
    return back;
}

/* JobSpec `sid` of one job, `sid`-0, queued. */
static void submit_one(assay_state *st, const char *sid)
{
    char jid[64];
    snprintf(jid, sizeof jid, "%s-0", sid);
    sc_ok(st, json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:i, s:i, s:i}, "
                     "s:[{s:s, s:{}}]}",
                     "v", 1, "op", "submit", "spec", "id", sid, "action",
                     "noop.pass", "resolved", "1.0.0", "timeout_ms", 1000,
                     "max_attempts", 1, "priority", 0, "jobs", "id", jid,
                     "params"));
}

static void run_spec(assay_state *st, const char *sid, int n, int64_t at)
{
    run_spec_kept(st, sid, n, at, 0);
}

/* What the leader does every tick: expire what falls out, in batches. */
static size_t expire_all(assay_state *st, const assay_retention *p,
                         int64_t now)
{
    size_t total = 0;
    for (int round = 0; round < 1000; round++) {
        json_t *ids = json_array();
        size_t n = assay_state_expirable(st, p, now, ids, 4096);
        if (!n) {
            json_decref(ids);
            break;
        }
        sc_ok(st, json_pack("{s:i, s:s, s:o}", "v", 1, "op", "expire", "jobs",
                         ids));
        total += n;
    }
    return total;
}

Test(retention, a_million_jobs_run_only_the_retained_are_held,
     .timeout = 600)
{
    assay_state *st = level2();
    assay_retention p = {.keep_jobs = 10000};
    size_t expired = 0;
    for (int s = 0; s < 1000; s++) {
        char sid[32];
        snprintf(sid, sizeof sid, "s%d", s);
        run_spec(st, sid, 1000, 1000 + s);
        expired += expire_all(st, &p, 0);
        cr_assert_leq(assay_state_job_count(st), 10000, "after %d", s);
        cr_assert_leq(assay_state_spec_count(st), 10, "after %d", s);
    }
    cr_expect_eq(expired, 1000000 - 10000);
    size_t done;
    const assay_job *oldest = assay_state_done(st, &done);
    cr_expect_eq(done, 10000);
    /* The newest are kept: the last ten JobSpecs, whole. */
    cr_expect_str_eq(oldest->id, "s990-0");
    cr_expect_not_null(assay_state_spec(st, "s999"));
    cr_expect_null(assay_state_spec(st, "s989"));
    assay_state_destroy(&st);
}

static bool hold_b1(void *arg, const assay_job *j)
{
    (void)arg;
    return !strcmp(j->id, "b-1");
}

Test(retention, by_age_oldest_end_first_and_held_jobs_stay)
{
    assay_state *st = level2();
    run_spec(st, "a", 3, 1000);
    run_spec(st, "b", 3, 2000);
    run_spec(st, "c", 3, 3000);
    /* Only what ended more than 1500 ms before 2600 goes: a's jobs. */
    assay_retention p = {.keep_ms = 1500};
    cr_expect_eq(expire_all(st, &p, 2600), 3);
    cr_expect_null(assay_state_spec(st, "a"));
    cr_expect_not_null(assay_state_job(st, "b-0"));
    /* A consumer holding b-1: the others of b go, b-1 and b stay. */
    p.hold = hold_b1;
    cr_expect_eq(expire_all(st, &p, 4000), 2);
    cr_expect_not_null(assay_state_job(st, "b-1"));
    cr_expect_null(assay_state_job(st, "b-0"));
    cr_expect_not_null(assay_state_spec(st, "b"));
    cr_expect_eq(assay_state_job_count(st), 4);
    /* Queued and running jobs never go, whatever the ids asked. */
    submit_one(st, "q");
    sc_ok(st, json_pack("{s:i, s:s, s:[s, s, i]}", "v", 1, "op", "expire",
                     "jobs", "q-0", "nope", 7));
    cr_expect_not_null(assay_state_job(st, "q-0"));
    assay_state_destroy(&st);
}

Test(retention, expire_is_refused_below_level_2)
{
    assay_state *st = assay_state_new(NULL, NULL);
    /* A log from before levels: its first leader says none. */
    sc_ok(st, json_pack("{s:i, s:s, s:s, s:s, s:s, s:i}", "v", 1, "op",
                     "leader", "id", "m1", "endpoint", "tcp://a:1", "events",
                     "tcp://a:2", "member", 1));
    cr_expect_eq(assay_state_level(st), 1);
    run_spec(st, "a", 2, 1000);
    char err[ASSAY_ERRMSG_SIZE];
    int rc = sc_apply(st,
                   json_pack("{s:i, s:s, s:[s]}", "v", 1, "op", "expire",
                             "jobs", "a-0"),
                   err, sizeof err);
    cr_expect_eq(rc, ASSAY_EUNSUPP);
    cr_expect(strstr(err, "feature level 2"), "%s", err);
    cr_expect_not_null(assay_state_job(st, "a-0"));
    /* Raised, it applies; jobs that ended without a clock count from
     * the upgrade. */
    sc_ok(st, json_pack("{s:i, s:s, s:i, s:i}", "v", 1, "op", "level", "level",
                     2, "at", 5000));
    sc_ok(st, json_pack("{s:i, s:s, s:[s]}", "v", 1, "op", "expire", "jobs",
                     "a-0"));
    cr_expect_null(assay_state_job(st, "a-0"));
    /* Levels never fall, and one above this build is refused. */
    cr_expect_eq(sc_apply(st,
                       json_pack("{s:i, s:s, s:i}", "v", 1, "op", "level",
                                 "level", 1),
                       err, sizeof err),
                 ASSAY_ERANGE);
    cr_expect_eq(sc_apply(st,
                       json_pack("{s:i, s:s, s:i}", "v", 1, "op", "level",
                                 "level", ASSAY_STATE_LEVEL + 1),
                       err, sizeof err),
                 ASSAY_EUNSUPP);
    cr_expect(strstr(err, "upgrade"), "%s", err);
    /* A newer encoding of a known op names its version. */
    cr_expect_eq(sc_apply(st,
                       json_pack("{s:i, s:s, s:[]}", "v", 7, "op", "cancel",
                                 "jobs"),
                       err, sizeof err),
                 ASSAY_EUNSUPP);
    cr_expect(strstr(err, "version 7"), "%s", err);
    assay_state_destroy(&st);
}

/* A JobSpec's own retain_seconds: its jobs go by that age alone, outside
 * the count bound, oldest due first, and the same after a snapshot. */
Test(retention, a_jobspec_keeps_its_own_jobs_its_own_time)
{
    assay_state *st = level2();
    run_spec_kept(st, "audit", 3, 1000, 60);   /* due at 61,000 */
    run_spec_kept(st, "brief", 2, 2000, 5);    /* due at 7,000 */
    run_spec(st, "a", 4, 3000);
    run_spec(st, "b", 4, 4000);
    /* Count bound 4: a goes, b stays; the JobSpecs with their own time
     * are not counted, and not due yet. */
    assay_retention p = {.keep_jobs = 4, .keep_ms = 1000000};
    cr_expect_eq(expire_all(st, &p, 5000), 4);
    cr_expect_null(assay_state_spec(st, "a"));
    cr_expect_eq(assay_state_job_count(st), 9);
    /* A snapshot restores them where they were. */
    assay_state *back = restored(st);
    assay_state *both[] = {st, back};
    for (int k = 0; k < 2; k++) {
        json_t *ids = json_array();
        cr_expect_eq(assay_state_expirable(both[k], &p, 8000, ids, 10), 2);
        cr_expect_str_eq(json_string_value(json_array_get(ids, 0)),
                         "brief-0");
        json_decref(ids);
        cr_expect_eq(expire_all(both[k], &p, 8000), 2);
        cr_expect_null(assay_state_spec(both[k], "brief"));
        cr_expect_not_null(assay_state_job(both[k], "audit-2"));
        cr_expect_eq(expire_all(both[k], &p, 61001), 3);
        cr_expect_null(assay_state_spec(both[k], "audit"));
        cr_expect_not_null(assay_state_spec(both[k], "b"));
        cr_expect_eq(assay_state_job_count(both[k]), 4);
    }
    assay_state_destroy(&back);
    assay_state_destroy(&st);
}

/* ---- Dead runtimes ("forget", level 3) ---------------------------------- */

static void s_count_forgotten(void *arg, const char *topic, const void *body,
                              size_t len)
{
    (void)body;
    (void)len;
    if (!strcmp(topic, "runtime.gone"))
        ++*(int *)arg;
}

static void put_runtime(assay_state *st, const char *id)
{
    sc_ok(st, json_pack("{s:i, s:s, s:s, s:i, s:{}, s:{}, s:{s:[]}}", "v", 1,
                     "op", "runtime", "id", id, "heartbeat_ms", 1000,
                     "labels", "capacity", "catalog", "plugins"));
}

static void runtime_dead(assay_state *st, const char *id)
{
    sc_ok(st, json_pack("{s:i, s:s, s:s, s:b}", "v", 1, "op", "runtime_state",
                     "id", id, "alive", 0));
}

static json_t *forget(const char *a, const char *b, const char *c)
{
    return json_pack("{s:i, s:s, s:[s, s, s]}", "v", 1, "op", "forget",
                     "runtimes", a, b, c);
}

/* A runtime registry entry goes only when the leader says so, and only if
 * it is still dead and runs nothing; the others keep their order and
 * their positions (the leader's offer cache is indexed by them); a
 * snapshot holds what is left; below level 3 the op is refused. */
Test(retention, dead_runtimes_are_forgotten_at_level_3)
{
    int forgotten = 0;
    assay_state *st = assay_state_new(s_count_forgotten, &forgotten);
    sc_ok(st, json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:i}", "v", 1, "op",
                     "leader", "id", "m1", "endpoint", "tcp://a:1", "events",
                     "tcp://a:2", "member", 1, "level", 2));
    put_runtime(st, "a");
    put_runtime(st, "b");
    put_runtime(st, "c");
    put_runtime(st, "d");
    runtime_dead(st, "b");
    runtime_dead(st, "d");
    /* d still runs a job (its death has not requeued it yet). */
    submit_one(st, "s");
    sc_ok(st, json_pack("{s:i, s:s, s:[{s:s, s:i, s:s, s:s}]}", "v", 1, "op",
                     "dispatch", "items", "job", "s-0", "attempt", 1,
                     "runtime", "d", "version", "1.0.0"));
    char err[ASSAY_ERRMSG_SIZE];
    cr_expect_eq(sc_apply(st, forget("b", "a", "d"), err, sizeof err),
                 ASSAY_EUNSUPP);
    cr_expect(strstr(err, "feature level 3"), "%s", err);
    cr_expect_not_null(assay_state_runtime(st, "b"));
    sc_ok(st, json_pack("{s:i, s:s, s:i, s:i}", "v", 1, "op", "level", "level",
                     3, "at", 5000));
    sc_ok(st, forget("b", "a", "d"));
    cr_expect_null(assay_state_runtime(st, "b"));
    cr_expect_not_null(assay_state_runtime(st, "a"), "alive: kept");
    cr_expect_not_null(assay_state_runtime(st, "d"), "running a job: kept");
    cr_expect_eq(forgotten, 1);
    const json_t *ids = assay_state_runtime_ids(st);
    cr_assert_eq(json_array_size(ids), 3);
    static const char *const left[] = {"a", "c", "d"};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_str_eq(json_string_value(json_array_get(ids, i)), left[i]);
        cr_expect_eq(assay_state_runtime(st, left[i])->pos, i, "%s",
                     left[i]);
    }
    /* A snapshot holds the registry as it is now. */
    assay_state *back = restored(st);
    cr_expect_null(assay_state_runtime(back, "b"));
    cr_expect_eq(json_array_size(assay_state_runtime_ids(back)), 3);
    /* Registering again after being forgotten is a new entry, at the end. */
    put_runtime(back, "b");
    cr_expect_eq(assay_state_runtime(back, "b")->pos, 3);
    assay_state_destroy(&back);
    assay_state_destroy(&st);
}
