/* tests/member/test_member_sessions.c - core/member/sessions.c: a real
 * member (consensus `none`, on 127.0.0.1) and runtimes that are real
 * DEALER links packing their messages with proto/rtmsg.h. Registration
 * opens a session or is refused without a trace; heartbeats carry credit,
 * liveness and leases; results are fenced to the current attempt, stale
 * ones acked as such; re-registration gives up attempts the runtime no
 * longer holds; strangers are told to register. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"
#include "member_fixture.h"

/* Handles what the member has received until it handled one message:
 * the test then sees exactly what that message did. */
static void drain_one(void)
{
    int64_t until = assay_now_ms() + WAIT_MS;
    for (int n = 0; mb_drain(m) == 0; n++) {
        cr_assert(n < MAX_STEPS && assay_now_ms() < until,
                  "the member received nothing");
        harness_sleep_ms(1);
    }
}

/* ---- jobs -------------------------------------------------------------- */

/* Registers rt1, submits one job and has it dispatched there (attempt 1). */
static mf_rt *running_job(void)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit("s", 1, 60000);
    mf_rt_credit(r, 1);
    json_t *d = mf_rt_expect(r, ASSAY_RT_DISPATCH);
    assay_rtmsg_dispatch it;
    cr_assert(assay_rtmsg_read_dispatch(
        json_array_get(json_object_get(d, "jobs"), 0), &it));
    cr_assert_str_eq(it.job, "s-0");
    cr_assert_eq(it.attempt, 1);
    json_decref(d);
    assay_job *j = assay_state_job(m->state, "s-0");
    cr_assert_eq(j->state, ASSAY_JOB_RUNNING);
    return r;
}

TestSuite(member_sessions, .init = mf_setup, .fini = mf_teardown);

/* ---- registration ------------------------------------------------------ */

Test(member_sessions, registration_opens_a_session)
{
    mf_rt_up("rt1", 300, json_pack("{s:s}", "zone", "a"));
    s_rt *s = mf_session("rt1");
    cr_assert_not_null(s, "no session for rt1");
    cr_expect_str_eq(s->id, "rt1");
    cr_expect_eq(s->heartbeat_ms, 300);
    cr_expect_eq(s->limit, 0, "no credit before a heartbeat grants it");
    cr_expect_eq(s->sent, 0);
    cr_expect_gt(s->route_len, 0);
    cr_expect(s->acks_ride, "it said acks_in_dispatch");
    assay_runtime_rec *rec = assay_state_runtime(m->state, "rt1");
    cr_assert_not_null(rec, "registration not committed");
    cr_expect(rec->alive);
    cr_expect_eq(rec->heartbeat_ms, 300);
    cr_expect_str_eq(mb_str(json_object_get(rec->info, "labels"), "zone"),
                     "a");
}

/* Each fault is caught at the door: no session, nothing committed. */
Test(member_sessions, bad_registrations_leave_no_trace)
{
    mf_rt *r = mf_rt_open("rt1");
    json_t *bad[] = {
        json_pack("{s:s, s:i, s:{}, s:o}", "id", "-dash", "heartbeat_ms",
                  1000, "labels", "catalog", mf_catalog("1.0.0")),
        json_pack("{s:s, s:i, s:{}, s:o}", "id", "rt1", "heartbeat_ms", 5,
                  "labels", "catalog", mf_catalog("1.0.0")),
        json_pack("{s:s, s:i, s:{}, s:o, s:s}", "id", "rt1", "heartbeat_ms",
                  1000, "labels", "catalog", mf_catalog("1.0.0"),
                  "acks_in_dispatch", "yes"),
        json_pack("{s:s, s:i, s:[], s:o}", "id", "rt1", "heartbeat_ms", 1000,
                  "labels", "catalog", mf_catalog("1.0.0")),
        json_pack("{s:s, s:i, s:{}, s:o}", "id", "rt1", "heartbeat_ms", 1000,
                  "labels", "catalog", mf_catalog("not-semver")),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_not_null(bad[i]);
        m->committed = false;
        mf_rt_send_json(r, ASSAY_RT_REGISTER, bad[i]);
        drain_one();
        cr_expect_not(m->committed, "bad registration %zu committed", i);
        cr_expect_eq(assay_index_size(m->rts), 0,
                     "bad registration %zu opened a session", i);
    }
    /* Nothing answered them: the first answer is this one's. */
    mf_rt_register_ok(r, 1000, json_object());
    cr_expect_eq(json_array_size(assay_state_runtime_ids(m->state)), 1);
    cr_expect_null(assay_state_runtime(m->state, "-dash"));
}

/* max_runtimes bounds sessions of new ids; a known id may come back. */
Test(member_sessions, max_runtimes_refuses_new_ids_only)
{
    conf.max_runtimes = 1;
    mf_rt *a = mf_rt_open("rt-a"), *b = mf_rt_open("rt-b");
    mf_rt_register_ok(a, 1000, json_object());
    m->committed = false;
    mf_rt_register(b, 1000, json_object(), mf_catalog("1.0.0"), NULL);
    drain_one();
    cr_expect_not(m->committed);
    cr_expect_null(mf_session("rt-b"));
    cr_expect_eq(m->refused, 1);
    mf_rt_register_ok(a, 500, json_object());
    cr_expect_eq(mf_session("rt-a")->heartbeat_ms, 500, "re-registered");
    cr_expect_eq(m->refused, 1);
}

/* ---- heartbeats -------------------------------------------------------- */

Test(member_sessions, heartbeat_brings_credit_and_liveness)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    s_rt *s = mf_session("rt1");
    s->last_seen_ms = 0;
    r->limit = 4;
    r->mem = 512;
    mf_rt_sync(r);
    cr_expect_eq(s->limit, 4);
    cr_expect_eq(s->mem_available_mb, 512);
    cr_expect_gt(s->last_seen_ms, 0, "last_seen not updated");
    cr_expect_str_eq(s->why, "");

    /* A negative limit says nothing; a why is kept as said. */
    mf_packed p;
    msgpack_packer *pk = mf_pk_init(&p);
    assay_rtmsg_pack_heartbeat(
        pk,
        &(assay_rtmsg_credit){.id = "rt1",
                              .limit = -3,
                              .mem_available_mb = -1,
                              .why = "cpu 97% over max_cpu_percent"},
        0);
    mf_rt_send_packed(r, ASSAY_RT_HEARTBEAT, &p);
    json_decref(mf_rt_expect(r, ASSAY_RT_PULSE));
    cr_expect_eq(s->limit, 4, "a negative limit changed the credit");
    cr_expect_eq(s->mem_available_mb, 512);
    cr_expect_str_eq(s->why, "cpu 97% over max_cpu_percent");
}

/* Leases are renewed only for attempts the runtime holds as current. */
Test(member_sessions, heartbeat_renews_leases_of_current_attempts)
{
    mf_rt *r = running_job();
    assay_job *j = assay_state_job(m->state, "s-0");
    int64_t far = assay_now_ms() + 3600000; /* no tick takes it meanwhile */
    j->lease_ms = far;
    mf_rt_heartbeat(r, json_pack("[{s:s, s:i}, {s:s, s:i}]", "job", "s-0",
                              "attempt", 2, "job", "nope", "attempt", 1));
    json_decref(mf_rt_expect(r, ASSAY_RT_PULSE));
    cr_expect_eq(j->lease_ms, far, "lease renewed for a stale attempt");
    int64_t before = assay_now_ms();
    mf_rt_heartbeat(r, json_pack("[{s:s, s:i}]", "job", "s-0", "attempt", 1));
    json_decref(mf_rt_expect(r, ASSAY_RT_PULSE));
    int64_t after = assay_now_ms();
    cr_expect_geq(j->lease_ms, before + 60000 + conf.lease_grace_ms);
    cr_expect_leq(j->lease_ms, after + 60000 + conf.lease_grace_ms);
}

/* ---- strangers --------------------------------------------------------- */

Test(member_sessions, strangers_are_told_to_register)
{
    mf_rt *ghost = mf_rt_open("ghost");
    mf_rt_heartbeat(ghost, NULL);
    json_t *b = mf_rt_expect(ghost, ASSAY_RT_REREGISTER);
    cr_expect_null(b, "reregister has no body");
    cr_expect_null(mf_session("ghost"));

    /* rt1's id from another connection is not rt1's session. */
    mf_rt *r = running_job();
    s_rt *s = mf_session("rt1");
    uint8_t route[256];
    size_t len = s->route_len;
    memcpy(route, s->route, len);
    mf_rt *other = mf_rt_open("rt1");
    other->limit = 9;
    mf_rt_heartbeat(other, NULL);
    cr_expect_null(mf_rt_expect(other, ASSAY_RT_REREGISTER));
    mf_rt_result(other, "s-0", 1, mf_ok_result("forged"));
    cr_expect_null(mf_rt_expect(other, ASSAY_RT_REREGISTER));
    cr_expect_eq(s->route_len, len);
    cr_expect_eq(memcmp(s->route, route, len), 0, "session route changed");
    cr_expect_eq(s->limit, 1, "credit from another connection");
    mf_rt_sync(r);
    cr_expect_eq(assay_state_job(m->state, "s-0")->state, ASSAY_JOB_RUNNING,
                 "a result from another connection was recorded");

    /* Messages without a map body, or of unknown commands, are dropped. */
    mf_rt_send_json(r, ASSAY_RT_HEARTBEAT, NULL);
    mf_rt_send_json(r, "bogus", json_pack("{s:s}", "id", "rt1"));
    mf_rt_sync(r);
}

/* ---- results ----------------------------------------------------------- */

Test(member_sessions, result_of_current_attempt_is_committed_then_acked)
{
    mf_rt *r = running_job();
    mf_rt_result(r, "s-0", 1, mf_ok_result("42"));
    mf_expect_ack(r, "s-0", 1, false);
    assay_job *j = assay_state_job(m->state, "s-0");
    cr_assert_eq(j->state, ASSAY_JOB_COMPLETED);
    json_t *view = assay_job_json(j, ASSAY_JOB_RESULT);
    const json_t *res = json_object_get(view, "result");
    cr_expect_str_eq(mb_str(res, "status"), "ok");
    cr_expect_str_eq(mb_str(json_object_get(res, "data"), "answer"), "42");
    cr_expect_null(json_object_get(res, "retryable"),
                   "the message's retryable was stored");
    json_decref(view);

    /* A second copy of a recorded result is stale. */
    mf_rt_result(r, "s-0", 1, mf_ok_result("43"));
    mf_expect_ack(r, "s-0", 1, true);
    view = assay_job_json(j, ASSAY_JOB_RESULT);
    cr_expect_str_eq(
        mb_str(json_object_get(json_object_get(view, "result"), "data"),
               "answer"),
        "42", "a duplicate changed the result");
    json_decref(view);
}

Test(member_sessions, stale_results_are_acked_stale_and_change_nothing)
{
    mf_rt *r = running_job();
    mf_rt_result(r, "s-0", 2, mf_ok_result("wrong attempt"));
    mf_expect_ack(r, "s-0", 2, true);
    mf_rt_result(r, "nope-0", 1, mf_ok_result("no such job"));
    mf_expect_ack(r, "nope-0", 1, true);
    /* Not a map: nothing to record. */
    mf_packed p;
    msgpack_packer *pk = mf_pk_init(&p);
    assay_rtmsg_pack_results(pk, "rt1", 1, 1);
    assay_rtmsg_pack_report(pk, "s-0", 1);
    msgpack_pack_nil(pk);
    mf_rt_send_packed(r, ASSAY_RT_RESULT, &p);
    mf_expect_ack(r, "s-0", 1, true);
    assay_job *j = assay_state_job(m->state, "s-0");
    cr_expect_eq(j->state, ASSAY_JOB_RUNNING);
    cr_expect_eq(j->attempt, 1);
    cr_expect_not(j->reported);
    cr_expect_null(assay_state_job(m->state, "nope-0"));
}

/* A retryable result is a lost attempt: the job goes back to the queue,
 * and the report is acked once the requeue is committed. */
Test(member_sessions, retryable_result_requeues)
{
    mf_rt *r = running_job();
    mf_rt_result(r, "s-0", 1,
              json_pack("{s:s, s:s, s:b}", "status", "error", "reason",
                        "executor crashed", "retryable", 1));
    mf_expect_ack(r, "s-0", 1, false);
    assay_job *j = assay_state_job(m->state, "s-0");
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    cr_expect_eq(j->attempt, 1);
    cr_expect_str_eq(j->reason, "executor crashed");
}

/* ---- re-registration --------------------------------------------------- */

/* A runtime that registers again holds only what it lists: attempts it
 * no longer holds are requeued, listed ones keep running. */
Test(member_sessions, reregistration_gives_up_attempts_not_held)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit("s", 2, 60000);
    mf_rt_credit(r, 2);
    json_t *d = mf_rt_expect(r, ASSAY_RT_DISPATCH);
    cr_assert_eq(json_array_size(json_object_get(d, "jobs")), 2);
    json_decref(d);
    s_rt *s = mf_session("rt1");
    cr_expect_eq(s->sent, 2);
    /* It holds s-0 at attempt 1, and s-1 only at an attempt of old. */
    mf_rt_register(r, 1000, json_object(), mf_catalog("1.0.0"),
                json_pack("[{s:s, s:i}, {s:s, s:i}]", "job", "s-0", "attempt",
                          1, "job", "s-1", "attempt", 7));
    json_decref(mf_rt_expect(r, ASSAY_RT_REGISTERED));
    cr_expect_eq(s->sent, 0, "a new session counts from zero");
    cr_expect_eq(s->limit, 0);
    assay_job *j0 = assay_state_job(m->state, "s-0"),
              *j1 = assay_state_job(m->state, "s-1");
    UNTIL(j1->state == ASSAY_JOB_QUEUED, "s-1 was not requeued");
    cr_expect_str_eq(j1->reason, "runtime restarted");
    cr_expect_eq(j0->state, ASSAY_JOB_RUNNING);
    cr_expect_str_eq(j0->runtime, "rt1");
}

/* ---- catalogue updates ------------------------------------------------- */

/* The version of the first plugin runtime `id`'s registry entry offers. */
static const char *offered_version(const char *id)
{
    assay_runtime_rec *rec = assay_state_runtime(m->state, id);
    const char *v = rec ? mb_str(json_array_get(json_object_get(
                                                    json_object_get(
                                                        rec->info, "catalog"),
                                                    "plugins"),
                                                0),
                                 "version")
                        : NULL;
    return v ? v : "";
}

Test(member_sessions, catalogue_update_is_committed_when_sound)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_pack("{s:s}", "zone", "a"));
    m->committed = false;
    mf_packed p;
    json_t *bad = json_pack("{s:s}", "plugins", "none");
    assay_rtmsg_pack_catalog(mf_pk_init(&p), "rt1", bad);
    json_decref(bad);
    mf_rt_send_packed(r, ASSAY_RT_CATALOG, &p);
    drain_one();
    cr_expect_not(m->committed, "a malformed catalogue was committed");

    json_t *cat = mf_catalog("2.0.0");
    assay_rtmsg_pack_catalog(mf_pk_init(&p), "rt1", cat);
    json_decref(cat);
    mf_rt_send_packed(r, ASSAY_RT_CATALOG, &p);
    UNTIL(!strcmp(offered_version("rt1"), "2.0.0"),
          "the catalogue update was not committed");
    assay_runtime_rec *rec = assay_state_runtime(m->state, "rt1");
    cr_expect_str_eq(mb_str(json_object_get(rec->info, "labels"), "zone"),
                     "a", "labels not kept");
    cr_expect_eq(rec->heartbeat_ms, 1000);
}
