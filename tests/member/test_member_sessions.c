/* tests/member/test_member_sessions.c - core/member/sessions.c: a real
 * member (consensus `none`, on 127.0.0.1) and runtimes that are real
 * DEALER links packing their messages with proto/rtmsg.h. Registration
 * opens a session or is refused without a trace; heartbeats carry credit,
 * liveness and leases; results are fenced to the current attempt, stale
 * ones acked as such; re-registration gives up attempts the runtime no
 * longer holds; strangers are told to register. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/codec.h"
#include "harness.h"
#include "member/internal.h"

#define WAIT_MS 10000
#define MAX_STEPS 200000

static assay_conf conf;
static assay_loop *loop;
static assay_leader *m;

static void step(void)
{
    cr_assert_eq(assay_loop_once(loop, 2), 0);
}

/* Steps the member until cond holds, bounded in steps and time. */
#define UNTIL(cond, ...)                                                       \
    do {                                                                       \
        int64_t until_ = assay_now_ms() + WAIT_MS;                             \
        for (int n_ = 0; !(cond); n_++) {                                      \
            if (n_ >= MAX_STEPS || assay_now_ms() > until_)                    \
                cr_assert_fail(__VA_ARGS__);                                   \
            step();                                                            \
        }                                                                      \
    } while (0)

/* ---- runtimes: DEALER links speaking the runtime protocol ------------- */

typedef struct {
    assay_link *link;
    int id;
    char name[64];
    int64_t limit, mem; /* what its heartbeats say; mem -1: not said */
} rt_t;

static rt_t rts[4];
static int nrts;

static rt_t *rt_open(const char *name)
{
    char err[512];
    cr_assert_lt(nrts, 4);
    rt_t *r = &rts[nrts++];
    *r = (rt_t){.mem = -1};
    strlcpy(r->name, name, sizeof r->name);
    cr_assert_eq(assay_link_new(NULL, "zmq", NULL, 1u << 20, &r->link, err,
                                sizeof err),
                 0, "%s", err);
    r->id = assay_link_open(r->link, ASSAY_LINK_CLIENT, conf.listen, err,
                            sizeof err);
    cr_assert_geq(r->id, 0, "%s", err);
    return r;
}

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} packed;

static msgpack_packer *pk_init(packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
    return &p->pk;
}

static void rt_send_packed(rt_t *r, const char *verb, packed *p)
{
    assay_bytes body = {(const uint8_t *)p->sb.data, p->sb.size};
    cr_assert_eq(assay_link_send_raw(r->link, r->id, NULL,
                                     ASSAY_RUNTIME_PROTO, verb, &body),
                 0);
    msgpack_sbuffer_destroy(&p->sb);
}

/* Sends a body given as JSON (NULL: no body frame); steals it. */
static void rt_send_json(rt_t *r, const char *verb, json_t *body)
{
    cr_assert_eq(assay_link_send(r->link, r->id, NULL, ASSAY_RUNTIME_PROTO,
                                 verb, body),
                 0);
    json_decref(body);
}

/* Appends the attempts of `running` ([{job, attempt}]), as runtime.c does. */
static void pack_running(msgpack_packer *pk, const json_t *running)
{
    size_t i;
    json_t *x;
    json_array_foreach(running, i, x) {
        assay_rtmsg_pack_attempt(
            pk, &(assay_rtmsg_attempt){
                    mb_str(x, "job"),
                    json_integer_value(json_object_get(x, "attempt")), false});
    }
}

/* typed@version offering action echo, in assay_catalog_json's shape. */
static json_t *catalog(const char *version)
{
    return json_pack("{s:[{s:s, s:s, s:[{s:s, s:[]}]}]}", "plugins", "name",
                     "typed", "version", version, "actions", "name", "echo",
                     "params");
}

/* Sends a registration; steals labels, cat and running (may be NULL). */
static void rt_register(rt_t *r, int64_t hb, json_t *labels, json_t *cat,
                        json_t *running)
{
    packed p;
    msgpack_packer *pk = pk_init(&p);
    assay_rtmsg_pack_register(pk,
                              &(assay_rtmsg_register){.id = r->name,
                                                      .heartbeat_ms = hb,
                                                      .labels = labels,
                                                      .slots = 2,
                                                      .memory_mb = 1024,
                                                      .catalog = cat},
                              json_array_size(running));
    pack_running(pk, running);
    rt_send_packed(r, ASSAY_RT_REGISTER, &p);
    json_decref(labels);
    json_decref(cat);
    json_decref(running);
}

/* Sends a heartbeat with r's credit; steals running (may be NULL). */
static void rt_heartbeat(rt_t *r, json_t *running)
{
    packed p;
    msgpack_packer *pk = pk_init(&p);
    assay_rtmsg_pack_heartbeat(pk,
                               &(assay_rtmsg_credit){.id = r->name,
                                                     .limit = r->limit,
                                                     .mem_available_mb =
                                                         r->mem,
                                                     .why = ""},
                               json_array_size(running));
    pack_running(pk, running);
    rt_send_packed(r, ASSAY_RT_HEARTBEAT, &p);
    json_decref(running);
}

/* Sends one result report; steals result. */
static void rt_result(rt_t *r, const char *job, int64_t attempt,
                      json_t *result)
{
    packed p;
    msgpack_packer *pk = pk_init(&p);
    assay_rtmsg_pack_results(pk, r->name, r->limit, 1);
    assay_rtmsg_pack_report(pk, job, attempt);
    cr_assert_eq(assay_codec_pack(pk, result), 0);
    rt_send_packed(r, ASSAY_RT_RESULT, &p);
    json_decref(result);
}

/* The next message to r, stepping the member meanwhile; pulses are
 * skipped unless `want` is one. Asserts its verb; returns its body (NULL:
 * none), which the caller frees. */
static json_t *rt_expect(rt_t *r, const char *want)
{
    char err[512];
    int64_t until = assay_now_ms() + WAIT_MS;
    for (int n = 0;; n++) {
        assay_link_msg msg;
        int rc = assay_link_recv(r->link, &msg, err, sizeof err);
        cr_assert_geq(rc, 0, "runtime %s: %s", r->name, err);
        if (rc == 1) {
            bool skip = !strcmp(msg.verb, ASSAY_RT_PULSE) &&
                        strcmp(want, ASSAY_RT_PULSE);
            cr_assert(skip || !strcmp(msg.verb, want),
                      "runtime %s: got '%s' while waiting for '%s'", r->name,
                      msg.verb, want);
            json_t *b = skip ? NULL : json_incref(msg.body);
            assay_link_msg_fini(&msg);
            if (!skip)
                return b;
            continue;
        }
        if (n >= MAX_STEPS || assay_now_ms() > until)
            cr_assert_fail("runtime %s: no '%s' came", r->name, want);
        step();
    }
}

/* A heartbeat round trip: whatever the member meant to send r before
 * arrives first, so getting the pulse first proves it sent nothing. */
static void rt_sync(rt_t *r)
{
    rt_heartbeat(r, NULL);
    json_decref(rt_expect(r, ASSAY_RT_PULSE));
}

static void rt_register_ok(rt_t *r, int64_t hb, json_t *labels)
{
    rt_register(r, hb, labels, catalog("1.0.0"), NULL);
    json_t *b = rt_expect(r, ASSAY_RT_REGISTERED);
    cr_assert_str_eq(mb_str(b, "leader"), "m1");
    json_decref(b);
}

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

static s_rt *session(const char *id)
{
    return assay_index_get(m->rts, id);
}

/* ---- jobs -------------------------------------------------------------- */

/* Commits a JobSpec `id` of n jobs of typed.echo@1.0.0, as assay.submit
 * would once it resolved and checked it, and waits until it is queued. */
static void submit(const char *id, int n, int64_t timeout_ms)
{
    assay_cmd_list *jobs = assay_cmd_list_new();
    char jid[96];
    json_t *params = json_object();
    for (int i = 0; i < n; i++) {
        snprintf(jid, sizeof jid, "%s-%d", id, i);
        cr_assert_eq(assay_cmd_list_job(jobs, jid, params), 0);
    }
    json_t *empty = json_object();
    assay_cmd_spec spec = {.id = id,
                           .action = "typed.echo",
                           .version = "",
                           .resolved = "1.0.0",
                           .labels = empty,
                           .selector = empty,
                           .timeout_ms = timeout_ms,
                           .max_attempts = 3};
    cr_assert_eq(mb_commit(m, assay_cmd_submit(&spec, &jobs), mb_ignore,
                           NULL),
                 0);
    json_decref(empty);
    json_decref(params);
    UNTIL(assay_state_job(m->state, jid), "JobSpec %s never applied", id);
}

/* Registers rt1, submits one job and has it dispatched there (attempt 1). */
static rt_t *running_job(void)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 1, 60000);
    r->limit = 1;
    rt_sync(r);
    json_t *d = rt_expect(r, ASSAY_RT_DISPATCH);
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

static json_t *ok_result(const char *answer)
{
    return json_pack("{s:s, s:[], s:{s:s}, s:b}", "status", "ok", "findings",
                     "data", "answer", answer, "retryable", 0);
}

/* The single ack of an "ack" message (or dispatch "acks"), checked. */
static void expect_ack(rt_t *r, const char *job, int64_t attempt, bool stale)
{
    json_t *b = rt_expect(r, ASSAY_RT_ACK);
    const json_t *jobs = json_object_get(b, "jobs");
    cr_assert_eq(json_array_size(jobs), 1, "one ack, got %zu",
                 json_array_size(jobs));
    assay_rtmsg_attempt a;
    cr_assert(assay_rtmsg_read_attempt(json_array_get(jobs, 0), &a));
    cr_expect_str_eq(a.job, job);
    cr_expect_eq(a.attempt, attempt);
    cr_expect_eq(a.stale, stale, "ack of %s: stale %d, want %d", job, a.stale,
                 stale);
    json_decref(b);
}

static void setup(void)
{
    char err[512];
    cr_assert_eq(assay_conf_init(&conf), 0);
    conf.member_id = 1;
    cr_assert_not_null(loop = assay_loop_new());
    int rc = ASSAY_EBUSY;
    /* A port taken meanwhile by another process: try fresh ones. */
    for (int t = 0; t < 5 && rc == ASSAY_EBUSY; t++) {
        snprintf(conf.listen, sizeof conf.listen, "tcp://127.0.0.1:%d",
                 harness_port());
        snprintf(conf.events, sizeof conf.events, "tcp://127.0.0.1:%d",
                 harness_port());
        rc = assay_leader_new(&conf, "m1", loop, &m, err, sizeof err);
    }
    cr_assert_eq(rc, 0, "%s", err);
    UNTIL(m->leading, "the member never took the lead");
}

static void teardown(void)
{
    for (int i = 0; i < nrts; i++)
        assay_link_destroy(&rts[i].link);
    assay_leader_destroy(&m);
    assay_loop_destroy(&loop);
    assay_conf_fini(&conf);
}

TestSuite(member_sessions, .init = setup, .fini = teardown);

/* ---- registration ------------------------------------------------------ */

Test(member_sessions, registration_opens_a_session)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 300, json_pack("{s:s}", "zone", "a"));
    s_rt *s = session("rt1");
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
    rt_t *r = rt_open("rt1");
    json_t *bad[] = {
        json_pack("{s:s, s:i, s:{}, s:o}", "id", "-dash", "heartbeat_ms",
                  1000, "labels", "catalog", catalog("1.0.0")),
        json_pack("{s:s, s:i, s:{}, s:o}", "id", "rt1", "heartbeat_ms", 5,
                  "labels", "catalog", catalog("1.0.0")),
        json_pack("{s:s, s:i, s:{}, s:o, s:s}", "id", "rt1", "heartbeat_ms",
                  1000, "labels", "catalog", catalog("1.0.0"),
                  "acks_in_dispatch", "yes"),
        json_pack("{s:s, s:i, s:[], s:o}", "id", "rt1", "heartbeat_ms", 1000,
                  "labels", "catalog", catalog("1.0.0")),
        json_pack("{s:s, s:i, s:{}, s:o}", "id", "rt1", "heartbeat_ms", 1000,
                  "labels", "catalog", catalog("not-semver")),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_not_null(bad[i]);
        m->committed = false;
        rt_send_json(r, ASSAY_RT_REGISTER, bad[i]);
        drain_one();
        cr_expect_not(m->committed, "bad registration %zu committed", i);
        cr_expect_eq(assay_index_size(m->rts), 0,
                     "bad registration %zu opened a session", i);
    }
    /* Nothing answered them: the first answer is this one's. */
    rt_register_ok(r, 1000, json_object());
    cr_expect_eq(json_array_size(assay_state_runtime_ids(m->state)), 1);
    cr_expect_null(assay_state_runtime(m->state, "-dash"));
}

/* max_runtimes bounds sessions of new ids; a known id may come back. */
Test(member_sessions, max_runtimes_refuses_new_ids_only)
{
    conf.max_runtimes = 1;
    rt_t *a = rt_open("rt-a"), *b = rt_open("rt-b");
    rt_register_ok(a, 1000, json_object());
    m->committed = false;
    rt_register(b, 1000, json_object(), catalog("1.0.0"), NULL);
    drain_one();
    cr_expect_not(m->committed);
    cr_expect_null(session("rt-b"));
    cr_expect_eq(m->refused, 1);
    rt_register_ok(a, 500, json_object());
    cr_expect_eq(session("rt-a")->heartbeat_ms, 500, "re-registered");
    cr_expect_eq(m->refused, 1);
}

/* ---- heartbeats -------------------------------------------------------- */

Test(member_sessions, heartbeat_brings_credit_and_liveness)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    s_rt *s = session("rt1");
    s->last_seen_ms = 0;
    r->limit = 4;
    r->mem = 512;
    rt_sync(r);
    cr_expect_eq(s->limit, 4);
    cr_expect_eq(s->mem_available_mb, 512);
    cr_expect_gt(s->last_seen_ms, 0, "last_seen not updated");
    cr_expect_str_eq(s->why, "");

    /* A negative limit says nothing; a why is kept as said. */
    packed p;
    msgpack_packer *pk = pk_init(&p);
    assay_rtmsg_pack_heartbeat(
        pk,
        &(assay_rtmsg_credit){.id = "rt1",
                              .limit = -3,
                              .mem_available_mb = -1,
                              .why = "cpu 97% over max_cpu_percent"},
        0);
    rt_send_packed(r, ASSAY_RT_HEARTBEAT, &p);
    json_decref(rt_expect(r, ASSAY_RT_PULSE));
    cr_expect_eq(s->limit, 4, "a negative limit changed the credit");
    cr_expect_eq(s->mem_available_mb, 512);
    cr_expect_str_eq(s->why, "cpu 97% over max_cpu_percent");
}

/* Leases are renewed only for attempts the runtime holds as current. */
Test(member_sessions, heartbeat_renews_leases_of_current_attempts)
{
    rt_t *r = running_job();
    assay_job *j = assay_state_job(m->state, "s-0");
    int64_t far = assay_now_ms() + 3600000; /* no tick takes it meanwhile */
    j->lease_ms = far;
    rt_heartbeat(r, json_pack("[{s:s, s:i}, {s:s, s:i}]", "job", "s-0",
                              "attempt", 2, "job", "nope", "attempt", 1));
    json_decref(rt_expect(r, ASSAY_RT_PULSE));
    cr_expect_eq(j->lease_ms, far, "lease renewed for a stale attempt");
    int64_t before = assay_now_ms();
    rt_heartbeat(r, json_pack("[{s:s, s:i}]", "job", "s-0", "attempt", 1));
    json_decref(rt_expect(r, ASSAY_RT_PULSE));
    int64_t after = assay_now_ms();
    cr_expect_geq(j->lease_ms, before + 60000 + conf.lease_grace_ms);
    cr_expect_leq(j->lease_ms, after + 60000 + conf.lease_grace_ms);
}

/* ---- strangers --------------------------------------------------------- */

Test(member_sessions, strangers_are_told_to_register)
{
    rt_t *ghost = rt_open("ghost");
    rt_heartbeat(ghost, NULL);
    json_t *b = rt_expect(ghost, ASSAY_RT_REREGISTER);
    cr_expect_null(b, "reregister has no body");
    cr_expect_null(session("ghost"));

    /* rt1's id from another connection is not rt1's session. */
    rt_t *r = running_job();
    s_rt *s = session("rt1");
    uint8_t route[256];
    size_t len = s->route_len;
    memcpy(route, s->route, len);
    rt_t *other = rt_open("rt1");
    other->limit = 9;
    rt_heartbeat(other, NULL);
    cr_expect_null(rt_expect(other, ASSAY_RT_REREGISTER));
    rt_result(other, "s-0", 1, ok_result("forged"));
    cr_expect_null(rt_expect(other, ASSAY_RT_REREGISTER));
    cr_expect_eq(s->route_len, len);
    cr_expect_eq(memcmp(s->route, route, len), 0, "session route changed");
    cr_expect_eq(s->limit, 1, "credit from another connection");
    rt_sync(r);
    cr_expect_eq(assay_state_job(m->state, "s-0")->state, ASSAY_JOB_RUNNING,
                 "a result from another connection was recorded");

    /* Messages without a map body, or of unknown commands, are dropped. */
    rt_send_json(r, ASSAY_RT_HEARTBEAT, NULL);
    rt_send_json(r, "bogus", json_pack("{s:s}", "id", "rt1"));
    rt_sync(r);
}

/* ---- results ----------------------------------------------------------- */

Test(member_sessions, result_of_current_attempt_is_committed_then_acked)
{
    rt_t *r = running_job();
    rt_result(r, "s-0", 1, ok_result("42"));
    expect_ack(r, "s-0", 1, false);
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
    rt_result(r, "s-0", 1, ok_result("43"));
    expect_ack(r, "s-0", 1, true);
    view = assay_job_json(j, ASSAY_JOB_RESULT);
    cr_expect_str_eq(
        mb_str(json_object_get(json_object_get(view, "result"), "data"),
               "answer"),
        "42", "a duplicate changed the result");
    json_decref(view);
}

Test(member_sessions, stale_results_are_acked_stale_and_change_nothing)
{
    rt_t *r = running_job();
    rt_result(r, "s-0", 2, ok_result("wrong attempt"));
    expect_ack(r, "s-0", 2, true);
    rt_result(r, "nope-0", 1, ok_result("no such job"));
    expect_ack(r, "nope-0", 1, true);
    /* Not a map: nothing to record. */
    packed p;
    msgpack_packer *pk = pk_init(&p);
    assay_rtmsg_pack_results(pk, "rt1", 1, 1);
    assay_rtmsg_pack_report(pk, "s-0", 1);
    msgpack_pack_nil(pk);
    rt_send_packed(r, ASSAY_RT_RESULT, &p);
    expect_ack(r, "s-0", 1, true);
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
    rt_t *r = running_job();
    rt_result(r, "s-0", 1,
              json_pack("{s:s, s:s, s:b}", "status", "error", "reason",
                        "executor crashed", "retryable", 1));
    expect_ack(r, "s-0", 1, false);
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
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 2, 60000);
    r->limit = 2;
    rt_sync(r);
    json_t *d = rt_expect(r, ASSAY_RT_DISPATCH);
    cr_assert_eq(json_array_size(json_object_get(d, "jobs")), 2);
    json_decref(d);
    s_rt *s = session("rt1");
    cr_expect_eq(s->sent, 2);
    /* It holds s-0 at attempt 1, and s-1 only at an attempt of old. */
    rt_register(r, 1000, json_object(), catalog("1.0.0"),
                json_pack("[{s:s, s:i}, {s:s, s:i}]", "job", "s-0", "attempt",
                          1, "job", "s-1", "attempt", 7));
    json_decref(rt_expect(r, ASSAY_RT_REGISTERED));
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
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_pack("{s:s}", "zone", "a"));
    m->committed = false;
    packed p;
    json_t *bad = json_pack("{s:s}", "plugins", "none");
    assay_rtmsg_pack_catalog(pk_init(&p), "rt1", bad);
    json_decref(bad);
    rt_send_packed(r, ASSAY_RT_CATALOG, &p);
    drain_one();
    cr_expect_not(m->committed, "a malformed catalogue was committed");

    json_t *cat = catalog("2.0.0");
    assay_rtmsg_pack_catalog(pk_init(&p), "rt1", cat);
    json_decref(cat);
    rt_send_packed(r, ASSAY_RT_CATALOG, &p);
    UNTIL(!strcmp(offered_version("rt1"), "2.0.0"),
          "the catalogue update was not committed");
    assay_runtime_rec *rec = assay_state_runtime(m->state, "rt1");
    cr_expect_str_eq(mb_str(json_object_get(rec->info, "labels"), "zone"),
                     "a", "labels not kept");
    cr_expect_eq(rec->heartbeat_ms, 1000);
}
