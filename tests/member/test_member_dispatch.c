/* tests/member/test_member_dispatch.c - core/member/dispatch.c: mb_prepare
 * planning and sending dispatches, on a real member (consensus `none`, on
 * 127.0.0.1) whose runtimes are real DEALER links reading what arrives
 * with proto/rtmsg.h. A queued job goes to a runtime with credit, as one
 * dispatch item naming its job and attempt; no credit, no dispatch; a
 * runtime whose labels, plugins or memory do not fit gets nothing; the
 * jobs of one turn ride in one message, with the acks collected so far;
 * priority and the credit left choose what goes where. */
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

static s_rt *session(const char *id)
{
    return assay_index_get(m->rts, id);
}

/* ---- jobs -------------------------------------------------------------- */

/* How a JobSpec differs from a plain typed.echo@1.0.0 one. */
typedef struct {
    const char *resolved; /* NULL: "1.0.0" */
    json_t *selector;     /* stolen; NULL: {} */
    json_t *params;       /* stolen; every job's; NULL: {} */
    int64_t priority, memory_mb;
} spec_opt;

/* Commits JobSpec `id` of n jobs as assay.submit would once it resolved
 * and checked it, and waits until it is queued. */
static void submit(const char *id, int n, spec_opt o)
{
    assay_cmd_list *jobs = assay_cmd_list_new();
    char jid[96];
    json_t *params = o.params ? o.params : json_object();
    json_t *selector = o.selector ? o.selector : json_object();
    for (int i = 0; i < n; i++) {
        snprintf(jid, sizeof jid, "%s-%d", id, i);
        cr_assert_eq(assay_cmd_list_job(jobs, jid, params), 0);
    }
    json_t *empty = json_object();
    assay_cmd_spec spec = {.id = id,
                           .action = "typed.echo",
                           .version = "",
                           .resolved = o.resolved ? o.resolved : "1.0.0",
                           .labels = empty,
                           .selector = selector,
                           .timeout_ms = 30000,
                           .max_attempts = 3,
                           .priority = o.priority,
                           .memory_mb = o.memory_mb};
    cr_assert_eq(mb_commit(m, assay_cmd_submit(&spec, &jobs), mb_ignore,
                           NULL),
                 0);
    json_decref(empty);
    json_decref(params);
    json_decref(selector);
    UNTIL(assay_state_job(m->state, jid), "JobSpec %s never applied", id);
}

/* The next dispatch to r: its items' job ids joined by ' ', each item
 * checked with rtmsg's reader and found running there at attempt
 * `attempt`. The body is returned in *body when asked (caller frees). */
static void expect_dispatch(rt_t *r, int64_t attempt, char *ids, size_t cap,
                            json_t **body)
{
    json_t *d = rt_expect(r, ASSAY_RT_DISPATCH);
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


TestSuite(member_dispatch, .init = setup, .fini = teardown);

Test(member_dispatch, queued_job_goes_to_a_runtime_with_credit)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 1, (spec_opt){.params = json_pack("{s:i}", "n", 7)});
    r->limit = 1;
    rt_sync(r);
    json_t *d = rt_expect(r, ASSAY_RT_DISPATCH);
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
    cr_expect_eq(session("rt1")->sent, 1);
    rt_sync(r); /* nothing more */
}

Test(member_dispatch, no_credit_no_dispatch)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 1, (spec_opt){0});
    rt_sync(r); /* limit 0 */
    rt_sync(r);
    assay_job *j = assay_state_job(m->state, "s-0");
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    cr_expect_not(j->dispatching);
    cr_expect_null(j->waiting, "waiting for credit is not worth a note");
    cr_expect_eq(session("rt1")->sent, 0);
    /* Credit was all it lacked. */
    r->limit = 1;
    rt_sync(r);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "s-0");
}

/* Everything planned in a turn goes in one message, as far as the credit
 * reaches; credit is cumulative, so a larger limit grants the rest. */
Test(member_dispatch, one_message_per_turn_within_credit)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 3, (spec_opt){0});
    r->limit = 2;
    rt_sync(r);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "s-0 s-1", "FIFO within a priority, in one message");
    rt_sync(r);
    cr_expect_eq(assay_state_job(m->state, "s-2")->state, ASSAY_JOB_QUEUED);
    cr_expect_eq(session("rt1")->sent, 2);
    r->limit = 3;
    rt_sync(r);
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "s-2");
    cr_expect_eq(session("rt1")->sent, 3);
    rt_sync(r);
}

/* A runtime gets only jobs its labels and plugins fit, credit or not;
 * jobs nobody live can take say why. */
Test(member_dispatch, selector_and_offer_must_match)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_pack("{s:s}", "zone", "a"));
    submit("far", 1, (spec_opt){.selector = json_pack("{s:s}", "zone", "b")});
    submit("newer", 1, (spec_opt){.resolved = "2.0.0"});
    submit("near", 1, (spec_opt){.selector = json_pack("{s:s}", "zone", "a")});
    r->limit = 5;
    rt_sync(r);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "near-0");
    rt_sync(r);
    assay_job *far = assay_state_job(m->state, "far-0"),
              *newer = assay_state_job(m->state, "newer-0");
    cr_expect_eq(far->state, ASSAY_JOB_QUEUED);
    cr_expect_eq(newer->state, ASSAY_JOB_QUEUED);
    cr_expect(far->waiting && strstr(far->waiting, "no live runtime offers"),
              "far-0 waiting: %s", far->waiting ? far->waiting : "(none)");
    cr_expect(newer->waiting && strstr(newer->waiting, "typed.echo 2.0.0"),
              "newer-0 waiting: %s",
              newer->waiting ? newer->waiting : "(none)");
    cr_expect_eq(session("rt1")->sent, 1);
}

/* resources.memory_mb: only a runtime that reported that much free. */
Test(member_dispatch, memory_must_fit)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    r->limit = 1;
    r->mem = 100;
    rt_sync(r);
    submit("big", 1, (spec_opt){.memory_mb = 500});
    rt_sync(r);
    assay_job *j = assay_state_job(m->state, "big-0");
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    cr_expect_null(j->waiting, "a live runtime offers it: only memory lacks");
    r->mem = 1000;
    rt_sync(r);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "big-0");
}

/* Of the runtimes that fit, the one with most credit left gets the job. */
Test(member_dispatch, most_credit_left_wins)
{
    rt_t *a = rt_open("rt-a"), *b = rt_open("rt-b");
    rt_register_ok(a, 1000, json_object());
    rt_register_ok(b, 1000, json_object());
    a->limit = 1;
    b->limit = 3;
    rt_sync(a);
    rt_sync(b);
    submit("s", 1, (spec_opt){0});
    char ids[256];
    expect_dispatch(b, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "s-0");
    rt_sync(a);
    cr_expect_eq(session("rt-a")->sent, 0);
}

Test(member_dispatch, highest_priority_goes_first)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("low", 1, (spec_opt){.priority = 0});
    submit("high", 1, (spec_opt){.priority = 10});
    r->limit = 1;
    rt_sync(r);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "high-0");
    rt_sync(r);
    cr_expect_eq(assay_state_job(m->state, "low-0")->state, ASSAY_JOB_QUEUED);
}

/* A runtime that takes acks in dispatches gets the ack of a result in the
 * dispatch its credit brought, in the same turn. */
Test(member_dispatch, acks_ride_on_the_next_dispatch)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 2, (spec_opt){0});
    r->limit = 1;
    rt_sync(r);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    cr_expect_str_eq(ids, "s-0");
    r->limit = 2; /* the result frees a slot */
    rt_result(r, "s-0", 1, ok_result("done"));
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
    rt_t *r = rt_open("rt1");
    rt_send_json(r, ASSAY_RT_REGISTER,
                 json_pack("{s:s, s:i, s:{}, s:o}", "id", "rt1",
                           "heartbeat_ms", 1000, "labels", "catalog",
                           catalog("1.0.0")));
    json_decref(rt_expect(r, ASSAY_RT_REGISTERED));
    cr_expect_not(session("rt1")->acks_ride);
    submit("s", 2, (spec_opt){0});
    r->limit = 1;
    rt_sync(r);
    char ids[256];
    expect_dispatch(r, 1, ids, sizeof ids, NULL);
    r->limit = 2;
    rt_result(r, "s-0", 1, ok_result("done"));
    expect_ack(r, "s-0", 1, false);
    json_t *d;
    expect_dispatch(r, 1, ids, sizeof ids, &d);
    cr_expect_str_eq(ids, "s-1");
    cr_expect_null(json_object_get(d, "acks"));
    json_decref(d);
}
