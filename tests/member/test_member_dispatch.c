/* tests/member/test_member_dispatch.c - core/member/dispatch.c: mb_prepare
 * planning and sending dispatches, on a real member (consensus `none`, on
 * 127.0.0.1) whose runtimes are real DEALER links reading what arrives
 * with proto/rtmsg.h. A queued job goes to a runtime with credit, as one
 * dispatch item naming its job and attempt; no credit, no dispatch; a
 * runtime whose labels, plugins or memory do not fit gets nothing; the
 * jobs of one turn ride in one message, with the acks collected so far;
 * priority and the credit left choose what goes where. */
#include <criterion/criterion.h>
#include <string.h>

#include "member_fixture.h"

/* The next dispatch to r: its items' job ids joined by ' ', each item
 * checked with rtmsg's reader and found running there at attempt
 * `attempt`. The body is returned in *body when asked (caller frees). */
static void expect_dispatch(mf_rt *r, int64_t attempt, char *ids, size_t cap,
                            json_t **body)
{
    json_t *d = mf_rt_expect(r, ASSAY_RT_DISPATCH);
    const json_t *jobs = json_object_get(d, "jobs");
    cr_assert(json_is_array(jobs) && json_array_size(jobs) > 0,
              "dispatch without jobs");
    *ids = '\0';
    size_t i;
    json_t *x;
    json_array_foreach(jobs, i, x) {
        assay_rtmsg_dispatch it;
        cr_assert(assay_rtmsg_read_dispatch(x, &it), "malformed item %zu",
                  i);
        cr_expect_eq(it.attempt, attempt, "%s: attempt %lld", it.job,
                     (long long)it.attempt);
        assay_job *j = assay_state_job(m->state, it.job);
        cr_assert_not_null(j, "dispatch of unknown job %s", it.job);
        cr_expect_eq(j->state, ASSAY_JOB_RUNNING);
        cr_expect_eq(j->attempt, attempt);
        cr_expect_str_eq(j->runtime, r->name);
        if (*ids)
            strlcat(ids, " ", cap);
        strlcat(ids, it.job, cap);
    }
    if (body)
        *body = d;
    else
        json_decref(d);
}

/* The next dispatch to r, of attempt 1 (expect_dispatch's checks): its
 * job ids must be `want`. */
static void expect_ids(mf_rt *r, const char *want)
{
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, want);
}

TestSuite(member_dispatch, .init = mf_setup, .fini = mf_teardown);

Test(member_dispatch, queued_job_goes_to_a_runtime_with_credit)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit_spec("s", 1, (mf_spec){.params = json_pack("{s:i}", "n", 7)});
    mf_rt_credit(r, 1);
    json_t *d = mf_rt_expect(r, ASSAY_RT_DISPATCH);
    const json_t *jobs = json_object_get(d, "jobs");
    cr_assert_eq(json_array_size(jobs), 1);
    cr_expect_null(json_object_get(d, "acks"), "no acks were owed");
    assay_rtmsg_dispatch it;
    cr_assert(assay_rtmsg_read_dispatch(json_array_get(jobs, 0), &it));
    cr_expect_str_eq(it.job, "s-0");
    cr_expect_eq(it.attempt, 1);
    cr_expect_str_eq(it.action, "typed.echo");
    cr_expect_str_eq(it.version, "1.0.0", "the version to run exactly");
    cr_expect_eq(it.timeout_ms, 30000);
    cr_expect_eq(json_integer_value(json_object_get(it.params_json, "n")), 7);
    json_decref(d);
    assay_job *j = assay_state_job(m->state, "s-0");
    cr_expect_eq(j->state, ASSAY_JOB_RUNNING);
    cr_expect_str_eq(j->runtime, "rt1");
    cr_expect_str_eq(j->version, "1.0.0");
    cr_expect_gt(j->lease_ms, 0, "no lease once dispatched");
    cr_expect_eq(mf_session("rt1")->sent, 1);
    mf_rt_sync(r); /* nothing more */
}

Test(member_dispatch, no_credit_no_dispatch)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit_spec("s", 1, (mf_spec){0});
    mf_rt_sync(r); /* limit 0 */
    mf_rt_sync(r);
    assay_job *j = assay_state_job(m->state, "s-0");
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    cr_expect_not(j->dispatching);
    cr_expect_null(j->spec->placement->waiting, "waiting for credit is not worth a note");
    cr_expect_eq(mf_session("rt1")->sent, 0);
    /* Credit was all it lacked. */
    mf_rt_credit(r, 1);
    expect_ids(r, "s-0");
}

/* Everything planned in a turn goes in one message, as far as the credit
 * reaches; credit is cumulative, so a larger limit grants the rest. */
Test(member_dispatch, one_message_per_turn_within_credit)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit_spec("s", 3, (mf_spec){0});
    mf_rt_credit(r, 2);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "s-0 s-1", "FIFO within a priority, in one message");
    mf_rt_sync(r);
    cr_expect_eq(assay_state_job(m->state, "s-2")->state, ASSAY_JOB_QUEUED);
    cr_expect_eq(mf_session("rt1")->sent, 2);
    mf_rt_credit(r, 3);
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "s-2");
    cr_expect_eq(mf_session("rt1")->sent, 3);
    mf_rt_sync(r);
}

/* A runtime gets only jobs its labels and plugins fit, credit or not;
 * jobs nobody live can take say why. */
Test(member_dispatch, selector_and_offer_must_match)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_pack("{s:s}", "zone", "a"));
    mf_submit_spec("far", 1,
                   (mf_spec){.selector = json_pack("{s:s}", "zone", "b")});
    mf_submit_spec("newer", 1, (mf_spec){.resolved = "2.0.0"});
    mf_submit_spec("near", 1,
                   (mf_spec){.selector = json_pack("{s:s}", "zone", "a")});
    mf_rt_credit(r, 5);
    expect_ids(r, "near-0");
    mf_rt_sync(r);
    assay_job *far = assay_state_job(m->state, "far-0"),
              *newer = assay_state_job(m->state, "newer-0");
    cr_expect_eq(far->state, ASSAY_JOB_QUEUED);
    cr_expect_eq(newer->state, ASSAY_JOB_QUEUED);
    cr_expect(far->spec->placement->waiting && strstr(far->spec->placement->waiting, "no live runtime offers"),
              "far-0 waiting: %s", far->spec->placement->waiting ? far->spec->placement->waiting : "(none)");
    cr_expect(newer->spec->placement->waiting && strstr(newer->spec->placement->waiting, "typed.echo 2.0.0"),
              "newer-0 waiting: %s",
              newer->spec->placement->waiting ? newer->spec->placement->waiting : "(none)");
    cr_expect_eq(mf_session("rt1")->sent, 1);
}

/* resources.memory_mb: only a runtime that reported that much free. */
Test(member_dispatch, memory_must_fit)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    r->limit = 1;
    r->mem = 100;
    mf_rt_sync(r);
    mf_submit_spec("big", 1, (mf_spec){.memory_mb = 500});
    mf_rt_sync(r);
    assay_job *j = assay_state_job(m->state, "big-0");
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    cr_expect_null(j->spec->placement->waiting, "a live runtime offers it: only memory lacks");
    r->mem = 1000;
    mf_rt_sync(r);
    expect_ids(r, "big-0");
}

/* Of the runtimes that fit, the one with most credit left gets the job. */
Test(member_dispatch, most_credit_left_wins)
{
    mf_rt *a = mf_rt_open("rt-a"), *b = mf_rt_open("rt-b");
    mf_rt_register_ok(a, 1000, json_object());
    mf_rt_register_ok(b, 1000, json_object());
    a->limit = 1;
    b->limit = 3;
    mf_rt_sync(a);
    mf_rt_sync(b);
    mf_submit_spec("s", 1, (mf_spec){0});
    expect_ids(b, "s-0");
    mf_rt_sync(a);
    cr_expect_eq(mf_session("rt-a")->sent, 0);
}

Test(member_dispatch, highest_priority_goes_first)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit_spec("low", 1, (mf_spec){.priority = 0});
    mf_submit_spec("high", 1, (mf_spec){.priority = 10});
    mf_rt_credit(r, 1);
    expect_ids(r, "high-0");
    mf_rt_sync(r);
    cr_expect_eq(assay_state_job(m->state, "low-0")->state, ASSAY_JOB_QUEUED);
}

/* A runtime that takes acks in dispatches gets the ack of a result in the
 * dispatch its credit brought, in the same turn. */
Test(member_dispatch, acks_ride_on_the_next_dispatch)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit_spec("s", 2, (mf_spec){0});
    mf_rt_credit(r, 1);
    expect_ids(r, "s-0");
    r->limit = 2; /* the result frees a slot */
    mf_rt_result(r, "s-0", 1, mf_ok_result("done"));
    char ids[256];
    json_t *d;
    expect_dispatch(r, 1, ids, sizeof ids, &d);
    cr_expect_str_eq(ids, "s-1");
    const json_t *acks = json_object_get(d, "acks");
    cr_assert_eq(json_array_size(acks), 1, "the ack did not ride along");
    assay_rtmsg_attempt a;
    cr_assert(assay_rtmsg_read_attempt(json_array_get(acks, 0), &a));
    cr_expect_str_eq(a.job, "s-0");
    cr_expect_eq(a.attempt, 1);
    cr_expect_not(a.stale);
    json_decref(d);
    cr_expect_eq(assay_state_job(m->state, "s-0")->state,
                 ASSAY_JOB_COMPLETED);
}

/* One that did not say acks_in_dispatch gets them in an "ack" of their
 * own, first, and dispatches without them. */
Test(member_dispatch, acks_go_alone_to_runtimes_that_did_not_ask)
{
    mf_rt *r = mf_rt_open("rt1");
    mf_rt_send_json(r, ASSAY_RT_REGISTER,
                 json_pack("{s:s, s:i, s:{}, s:o}", "id", "rt1",
                           "heartbeat_ms", 1000, "labels", "catalog",
                           mf_catalog("1.0.0")));
    json_decref(mf_rt_expect(r, ASSAY_RT_REGISTERED));
    cr_expect_not(mf_session("rt1")->acks_ride);
    mf_submit_spec("s", 2, (mf_spec){0});
    mf_rt_credit(r, 1);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    r->limit = 2;
    mf_rt_result(r, "s-0", 1, mf_ok_result("done"));
    mf_expect_ack(r, "s-0", 1, false);
    json_t *d;
    expect_dispatch(r, 1, ids, sizeof ids, &d);
    cr_expect_str_eq(ids, "s-1");
    cr_expect_null(json_object_get(d, "acks"));
    json_decref(d);
}

/* Whether the member's server socket no longer routes to s's connection
 * (a pulse to it is refused). */
static bool route_gone(const s_rt *s)
{
    assay_bytes route = {s->route, s->route_len};
    return assay_link_send_raw(m->link, m->server, &route,
                               ASSAY_RUNTIME_PROTO, ASSAY_RT_PULSE,
                               NULL) == ASSAY_ENOENT;
}

/* A runtime whose connection is gone keeps its credit until its
 * heartbeats are missed; a dispatch to it cannot be sent, and the job
 * goes back to the queue at once (not after its 30 s lease), while the
 * runtime gets no more work until it is heard again. */
Test(member_dispatch, a_disconnected_runtime_gets_no_more_work)
{
    mf_rt *a = mf_rt_open("rt-a"), *b = mf_rt_open("rt-b");
    mf_rt_register_ok(a, 1000, json_object());
    mf_rt_register_ok(b, 1000, json_object());
    a->limit = 5;
    b->limit = 1;
    mf_rt_sync(a);
    mf_rt_sync(b);
    s_rt *sa = mf_session("rt-a");
    assay_link_destroy(&a->link);
    UNTIL(route_gone(sa), "the member never noticed that rt-a left");
    mf_submit_spec("s", 1, (mf_spec){0}); /* rt-a has most credit */
    char ids[256];
    expect_dispatch(b, 2, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "s-0");
    const assay_job *j = assay_state_job(m->state, "s-0");
    cr_assert_eq(j->n_attempts, 2);
    cr_expect_str_eq(j->attempts[0].runtime, "rt-a");
    cr_expect(j->attempts[0].reason &&
                  strstr(j->attempts[0].reason, "rt-a disconnected"),
              "reason: %s", j->attempts[0].reason);
    cr_expect_eq(sa->limit, sa->sent, "no credit until rt-a speaks again");
}
