/* tests/member/test_member_placement.c - placement classes and
 * reservations (core/state/placement.c, core/member/dispatch.c), on the
 * member fixture's real in-process member and runtime links: jobs no
 * runtime can take, however many, never hold back runnable ones behind
 * them; a class nobody can take is parked saying why and woken by a
 * runtime that can; the oldest head goes first across classes; memory
 * requested is reserved until results come, never over the runtime's
 * total. */
#include <criterion/criterion.h>
#include <string.h>

#include "member_fixture.h"

TestSuite(member_placement, .init = mf_setup, .fini = mf_teardown);

/* The ids in r's next dispatch, joined by ' '. */
static void next_ids(mf_rt *r, char *ids, size_t cap)
{
    json_t *d = mf_rt_expect(r, ASSAY_RT_DISPATCH);
    *ids = '\0';
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(d, "jobs"), i, x) {
        assay_rtmsg_dispatch it;
        cr_assert(assay_rtmsg_read_dispatch(x, &it));
        if (*ids)
            strlcat(ids, " ", cap);
        strlcat(ids, it.job, cap);
    }
    json_decref(d);
}

/* The next dispatch to r: its job ids must be `want`. */
static void expect_ids(mf_rt *r, const char *want)
{
    char ids[256];
    next_ids(r, ids, sizeof ids);
    cr_expect_str_eq(ids, want);
}

static const char *note_of(const char *job)
{
    const assay_job *j = assay_state_job(m->state, job);
    cr_assert_not_null(j);
    return j->spec->placement->waiting;
}

/* The planner once walked at most 20,000 queued jobs from the head: more
 * jobs than that which nobody could take, ahead at the same priority,
 * starved a runnable job for good. */
Test(member_placement, unplaceable_jobs_ahead_never_starve_runnable_ones)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_pack("{s:s}", "zone", "a"));
    mf_submit_spec("far", 21000,
                   (mf_spec){.selector = json_pack("{s:s}", "zone", "b")});
    mf_submit_spec("near", 1, (mf_spec){0});
    mf_rt_credit(r, 1);
    expect_ids(r, "near-0");
    assay_class *far = assay_state_job(m->state, "far-0")->spec->placement;
    cr_expect(far->parked, "a class no live runtime offers is parked");
    cr_expect_eq(far->queued, 21000);
    cr_expect_eq(assay_state_parked(m->state), far);
    cr_expect_null(assay_state_classes(m->state), "nothing else queued");
    const char *note = note_of("far-20999");
    cr_expect(note && strstr(note, "no live runtime offers typed.echo 1.0.0"),
              "waiting: %s", note ? note : "(none)");
}

/* A parked class costs nothing until what runtimes offer changes: then a
 * runtime with the labels it selects takes it. */
Test(member_placement, a_parked_class_wakes_when_a_runtime_that_fits_joins)
{
    mf_rt *a = mf_rt_up("rt-a", 1000, json_pack("{s:s}", "zone", "a"));
    mf_submit_spec("far", 2,
                   (mf_spec){.selector = json_pack("{s:s}", "zone", "b")});
    mf_rt_credit(a, 2);
    mf_rt_sync(a); /* planned after the credit came */
    assay_class *c = assay_state_job(m->state, "far-0")->spec->placement;
    cr_assert(c->parked);
    mf_rt *b = mf_rt_up("rt-b", 1000, json_pack("{s:s}", "zone", "b"));
    cr_expect_not(c->parked, "woken by the registration");
    mf_rt_credit(b, 2);
    expect_ids(b, "far-0 far-1");
    mf_rt_sync(a);
    cr_expect_eq(mf_session("rt-a")->sent, 0);
}

/* Across classes at one priority, the oldest job at a class's head goes
 * first: classes keep the queue's order where they can. */
Test(member_placement, oldest_head_first_across_classes)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_pack("{s:s}", "zone", "a"));
    r->mem = 1000;
    mf_submit_spec("s1", 1, (mf_spec){0});
    mf_submit_spec("s2", 1,
                   (mf_spec){.selector = json_pack("{s:s}", "zone", "a")});
    mf_submit_spec("s3", 1, (mf_spec){.memory_mb = 10});
    mf_submit_spec("s4", 1, (mf_spec){0}); /* s1's class */
    mf_submit_spec("s5", 1, (mf_spec){.priority = 5});
    mf_rt_credit(r, 5);
    expect_ids(r, "s5-0 s1-0 s2-0 s3-0 s4-0");
}

/* Memory requested is reserved on the runtime until the result is
 * applied: never more than its total, whatever it reports free. */
Test(member_placement, reservations_never_overcommit_memory)
{
    mf_rt *r = mf_rt_open("rt1");
    r->total = 1000;
    mf_rt_register_ok(r, 1000, json_object());
    r->mem = 1000; /* the monitor's figure lags behind what was placed */
    mf_submit_spec("big", 3, (mf_spec){.memory_mb = 400});
    mf_rt_credit(r, 5);
    expect_ids(r, "big-0 big-1");
    mf_rt_sync(r);
    cr_expect_eq(assay_state_reserved_mb(m->state, "rt1"), 800);
    mf_rt_credit(r, 6); /* another plan, the two now running */
    mf_rt_sync(r);
    cr_expect_eq(assay_state_job(m->state, "big-2")->state, ASSAY_JOB_QUEUED);
    cr_expect_null(note_of("big-2"), "waiting for memory to come back");
    mf_rt_result(r, "big-0", 1, mf_ok_result("done"));
    expect_ids(r, "big-2");
    cr_expect_eq(assay_state_reserved_mb(m->state, "rt1"), 800);
}

/* A request larger than any live runtime that offers the action has is
 * queued with a note saying so, and parked until a runtime comes. */
Test(member_placement, memory_no_runtime_has_is_parked_saying_why)
{
    mf_rt *r = mf_rt_open("rt1");
    r->total = 1000;
    mf_rt_register_ok(r, 1000, json_object());
    r->mem = 1000;
    mf_submit_spec("huge", 1, (mf_spec){.memory_mb = 5000});
    mf_submit_spec("small", 1, (mf_spec){0});
    mf_rt_credit(r, 2);
    expect_ids(r, "small-0");
    mf_rt_sync(r);
    const char *note = note_of("huge-0");
    cr_expect(note && strstr(note, "needs 5000 MB of memory") &&
                  strstr(note, "at most 1000 MB"),
              "waiting: %s", note ? note : "(none)");
    cr_expect(assay_state_job(m->state, "huge-0")->spec->placement->parked);
    /* A bigger runtime joins: it gets the job. */
    mf_rt *big = mf_rt_open("rt-big");
    big->total = 8000;
    mf_rt_register_ok(big, 1000, json_object());
    big->mem = 8000;
    mf_rt_credit(big, 1);
    expect_ids(big, "huge-0");
}

/* Teaches the state that `action` takes `ms`: a job of it committed as
 * dispatched at t and ended at t + ms, as the leader's clock would say. */
static void teach(const char *action, int64_t ms)
{
    static int n;
    char sid[32], jid[40];
    snprintf(sid, sizeof sid, "teach-%d", n++);
    snprintf(jid, sizeof jid, "%s-0", sid);
    mf_submit_spec(sid, 1, (mf_spec){.action = action});
    assay_cmd_list *l = assay_cmd_list_new();
    cr_assert_eq(assay_cmd_list_dispatch(l, jid, 1, "rt1", "1.0.0", 1000), 0);
    cr_assert_eq(mb_commit(m, assay_cmd_batch("dispatch", &l), mb_ignore,
                           NULL),
                 0);
    json_t *res = mf_ok_result("taught");
    l = assay_cmd_list_new();
    cr_assert_eq(assay_cmd_list_result(l, jid, 1, res, "rt1", 1000 + ms), 0);
    json_decref(res);
    cr_assert_eq(mb_commit(m, assay_cmd_batch("result", &l), mb_ignore,
                           NULL),
                 0);
    UNTIL(assay_state_job(m->state, jid)->state == ASSAY_JOB_COMPLETED,
          "%s never completed", jid);
}

/* In a burst, the job whose action takes longest starts first, though
 * submitted last: the time until the last one ends is shorter. */
Test(member_placement, longest_predicted_first_within_a_priority)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object()); /* no credit yet */
    teach("typed.sleep", 5000);
    teach("typed.echo", 10);
    const assay_estimate *e = assay_state_estimate(m->state, "typed.sleep");
    cr_assert_not_null(e);
    cr_expect_eq(e->mean_us, 5000000);
    mf_submit_spec("short", 1, (mf_spec){0});
    mf_submit_spec("long", 1, (mf_spec){.action = "typed.sleep"});
    mf_rt_credit(r, 1);
    expect_ids(r, "long-0");
    mf_rt_credit(r, 2);
    expect_ids(r, "short-0");
}

/* A runtime chosen takes as many jobs as it runs at once (its executors)
 * before the next choice: they start as soon as if spread, in one
 * message instead of one each. */
Test(member_placement, a_runtime_takes_as_many_as_it_runs_at_once)
{
    mf_rt *a = mf_rt_open("rt-a"), *b = mf_rt_open("rt-b");
    a->executors = b->executors = 4;
    mf_rt_register_ok(a, 1000, json_object());
    mf_rt_register_ok(b, 1000, json_object());
    a->limit = b->limit = 8; /* both have credit before the jobs come */
    mf_rt_sync(a);
    mf_rt_sync(b);
    mf_submit_spec("s", 8, (mf_spec){0});
    char ia[256], ib[256];
    next_ids(a, ia, sizeof ia);
    next_ids(b, ib, sizeof ib);
    /* Whichever came first took s-0 to s-3, the other s-4 to s-7. */
    bool a_first = !strcmp(ia, "s-0 s-1 s-2 s-3");
    cr_expect_str_eq(a_first ? ia : ib, "s-0 s-1 s-2 s-3");
    cr_expect_str_eq(a_first ? ib : ia, "s-4 s-5 s-6 s-7");
}

/* CPUs requested are reserved like memory: never more than the runtime
 * has, whatever its credit. */
Test(member_placement, reservations_never_overcommit_cpus)
{
    mf_rt *r = mf_rt_open("rt1");
    r->cpus = 2;
    mf_rt_register_ok(r, 1000, json_object());
    mf_submit_spec("cpu", 3, (mf_spec){.cpu_milli = 1000});
    mf_rt_credit(r, 5);
    expect_ids(r, "cpu-0 cpu-1");
    mf_rt_sync(r);
    cr_expect_eq(assay_state_reserved_cpu(m->state, "rt1"), 2000);
    mf_rt_credit(r, 6); /* another plan, the two now running */
    mf_rt_sync(r);
    cr_expect_null(note_of("cpu-2"), "waiting for a CPU to come back");
    mf_rt_result(r, "cpu-0", 1, mf_ok_result("done"));
    expect_ids(r, "cpu-2");
    /* More than any runtime has: parked, saying so. */
    mf_submit_spec("huge", 1, (mf_spec){.cpu_milli = 4500});
    mf_rt_sync(r);
    const char *note = note_of("huge-0");
    cr_expect(note && strstr(note, "needs 4.5 CPUs") &&
                  strstr(note, "at most 2"),
              "waiting: %s", note ? note : "(none)");
}

/* placement "pack": the fullest runtime with credit takes the jobs, not
 * one each. */
Test(member_placement, packed_jobs_fill_one_runtime_first)
{
    mf_rt *a = mf_rt_open("rt-a"), *b = mf_rt_open("rt-b");
    mf_rt_register_ok(a, 1000, json_object());
    mf_rt_register_ok(b, 1000, json_object());
    a->limit = 4;
    b->limit = 3; /* the fuller: packing starts there */
    mf_rt_sync(a);
    mf_rt_sync(b);
    mf_submit_spec("p", 3, (mf_spec){.pack = true});
    expect_ids(b, "p-0 p-1 p-2");
    mf_rt_sync(a);
    cr_expect_eq(mf_session("rt-a")->sent, 0);
}
