/* tests/integration/test_events.c - every transition on the event stream
 * (invariant 5): a subscriber, live once welcomed
 * (docs/protocol.md#knowing-a-subscription-is-live), sees job.queued,
 * job.running, job.completed, job.failed and job.cancelled for each job,
 * in the order the job went through them and with the bodies
 * docs/protocol.md#event-stream gives, and runtime.alive and runtime.dead
 * for runtimes. Real runtimes run real plugins; a fake runtime (the
 * runtime protocol spoken by the test over real ZeroMQ) is one that stops
 * heartbeating exactly when the test says.
 *
 * Every wait is bounded in time; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "base/clock.h"
#include "cluster.h"
#include "cluster/keys.h"
#include "cluster/link.h"
#include "harness.h"

#include <zmq.h>

#define WAIT_MS 15000

/* ---- Fixture ---------------------------------------------------------- */

static cluster c;
static cluster_cp cp;      /* to the member's control plane */
static assay_link *sub;    /* SUB to the member's events */
static json_t *seen;       /* every event received: [{topic, body}] */

static void setup(void)
{
    cluster_start(&c, NULL);
    cluster_cp_open(&cp, c.endpoint);
    seen = json_array();
}

static void teardown(void)
{
    assay_link_destroy(&sub);
    cluster_cp_close(&cp);
    json_decref(seen);
    seen = NULL;
    cluster_stop(&c);
}

TestSuite(events, .init = setup, .fini = teardown, .timeout = 120);

/* ---- Helpers ---------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static json_int_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

static json_t *call(const char *service, json_t *body)
{
    return cluster_cp_call(&cp, service, body);
}

static void submit(const char *spec) { cluster_cp_submit(&cp, spec); }

static json_t *job(const char *id) { return cluster_cp_job(&cp, id); }

/* Subscribes to job. and runtime. events, live when it returns. */
static void subscribe(void)
{
    static const char *const topics[] = {"job.", "runtime.", NULL};
    sub = cluster_subscribe(c.events, topics);
}

/* Records the events waiting on `sub`, waiting up to timeout_ms for the
 * first; returns how many were recorded. Welcomes are skipped. */
static int pump(int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    int n = 0;
    char err[512];
    for (;;) {
        assay_link_msg m;
        int rc = assay_link_recv(sub, &m, err, sizeof err);
        cr_assert_geq(rc, 0, "malformed event: %s", err);
        if (rc == 1) {
            if (strcmp(m.proto, "assay.welcome"))
                json_array_append_new(
                    seen, json_pack("{s:s, s:O}", "topic", m.proto, "body",
                                    m.body ? m.body : json_null()));
            assay_link_msg_fini(&m);
            n++;
            continue;
        }
        int64_t left = deadline - assay_now_ms();
        if (n || left <= 0)
            return n;
        struct pollfd p = {assay_link_fd(sub), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

/* The body of the first recorded event `topic` about `id`, or NULL. */
static json_t *recorded(const char *topic, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(seen, i, e)
        if (!strcmp(jstr(e, "topic"), topic) &&
            !strcmp(jstr(json_object_get(e, "body"), "id"), id))
            return json_object_get(e, "body");
    return NULL;
}

/* Waits (bounded, WAIT_MS) for event `topic` about `id`; returns its body
 * (borrowed from `seen`). */
static json_t *await(const char *topic, const char *id)
{
    int64_t deadline = assay_now_ms() + WAIT_MS;
    json_t *b;
    while (!(b = recorded(topic, id)) && assay_now_ms() < deadline)
        pump(500);
    cr_assert_not_null(b, "no %s for %s", topic, id);
    return b;
}

/* The events about `id` so far, in order: "topic:attempt" for jobs, the
 * topic alone for runtimes, joined by spaces (static buffer). */
static const char *trace(const char *id)
{
    static char out[1024];
    out[0] = '\0';
    size_t i;
    json_t *e;
    json_array_foreach(seen, i, e) {
        const json_t *b = json_object_get(e, "body");
        /* runtime.plugins says what a runtime offers, not a transition */
        if (strcmp(jstr(b, "id"), id) ||
            !strcmp(jstr(e, "topic"), "runtime.plugins"))
            continue;
        char one[64];
        if (!strncmp(jstr(e, "topic"), "job.", 4))
            snprintf(one, sizeof one, "%s%s:%lld", out[0] ? " " : "",
                     jstr(e, "topic"), (long long)jint(b, "attempt"));
        else
            snprintf(one, sizeof one, "%s%s", out[0] ? " " : "",
                     jstr(e, "topic"));
        strlcat(out, one, sizeof out);
    }
    return out;
}

/* A job's short view (job.queued, job.running): exactly these six
 * fields, with these values. */
static void expect_short(const json_t *b, const char *id, const char *spec,
                         const char *state, json_int_t attempt,
                         const char *runtime, const char *version)
{
    cr_expect_eq(json_object_size(b), 6, "%s %s: %zu fields", id, state,
                 json_object_size(b));
    cr_expect_str_eq(jstr(b, "id"), id);
    cr_expect_str_eq(jstr(b, "spec"), spec, "%s", id);
    cr_expect_str_eq(jstr(b, "state"), state, "%s", id);
    cr_expect_eq(jint(b, "attempt"), attempt, "%s %s", id, state);
    cr_expect_str_eq(jstr(b, "runtime"), runtime, "%s %s", id, state);
    cr_expect_str_eq(jstr(b, "version"), version, "%s %s", id, state);
}

/* A runtime event's body: exactly {id, alive, heartbeat_ms}. */
static void expect_runtime_body(const json_t *b, const char *id, bool alive,
                                json_int_t heartbeat_ms)
{
    cr_expect_eq(json_object_size(b), 3, "%s: %zu fields", id,
                 json_object_size(b));
    cr_expect_str_eq(jstr(b, "id"), id);
    cr_expect(json_is_boolean(json_object_get(b, "alive")) &&
                  json_is_true(json_object_get(b, "alive")) == alive,
              "%s: alive is not %d", id, alive);
    cr_expect_eq(jint(b, "heartbeat_ms"), heartbeat_ms, "%s", id);
}

/* The n-th recorded event `topic` about `id` (0-based), or NULL. */
static json_t *nth(const char *topic, const char *id, int n)
{
    size_t i;
    json_t *e;
    json_array_foreach(seen, i, e)
        if (!strcmp(jstr(e, "topic"), topic) &&
            !strcmp(jstr(json_object_get(e, "body"), "id"), id) && !n--)
            return json_object_get(e, "body");
    return NULL;
}

/* The resolved plugin version of JobSpec `spec`. */
static char *resolved(const char *spec)
{
    json_t *r = call("assay.job", json_pack("{s:s}", "id", spec));
    char *v = strdup(jstr(json_object_get(r, "spec"), "resolved"));
    json_decref(r);
    cr_assert(*v, "JobSpec %s has no resolved version", spec);
    return v;
}

/* A job ended: the terminal event carries the full record, the same one
 * assay.job answers with less the attempt history (and no second
 * terminal event follows, which the callers show by what they wait for
 * afterwards). assay.job has the history: an attempt per dispatch, ended
 * (on the wall clock) when the job ended. */
static void expect_record_is_final(const json_t *b, const char *id)
{
    json_t *j = job(id);
    json_t *att = json_object_get(j, "attempts");
    json_int_t ended = json_integer_value(json_object_get(j, "ended_ms"));
    cr_expect_eq(json_array_size(att),
                 (size_t)json_integer_value(json_object_get(j, "attempt")),
                 "%s: attempt history", id);
    cr_expect_gt(ended, 1600000000000, "%s: ended_ms %lld is no wall time",
                 id, (long long)ended);
    if (json_array_size(att))
        cr_expect_eq(json_integer_value(json_object_get(
                         json_array_get(att, json_array_size(att) - 1),
                         "end_ms")),
                     ended, "%s: the last attempt ends with the job", id);
    json_object_del(j, "attempts");
    json_object_del(j, "ended_ms");
    if (!json_equal(b, j)) {
        char *x = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
        char *y = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        cr_expect(false, "%s: event %s, assay.job %s", id, x, y);
        free(x);
        free(y);
    }
    json_decref(j);
}

/* A fake runtime "ghost" offering fake 1.0.0 (action "run") on its own
 * DEALER, registered with heartbeat_ms GHOST_HB: with the cluster's 10
 * misses the leader declares it dead after 3 s of silence, which its
 * heartbeats while it must live stay far from. */
#define GHOST_HB 300
typedef struct fake {
    assay_link *link;
    int dealer;
    json_t *dispatched; /* dispatch items received */
    bool registered;
    int pulses;
} fake;

static void fake_send(fake *f, const char *verb, json_t *body)
{
    json_object_set_new(body, "id", json_string("ghost"));
    cr_assert_eq(assay_link_send(f->link, f->dealer, NULL,
                                 ASSAY_RUNTIME_PROTO, verb, body),
                 0);
    json_decref(body);
}

/* Reads what came for f within timeout_ms (at most one message). */
static void fake_pump(fake *f, int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    char err[512];
    for (;;) {
        assay_link_msg m;
        int rc = assay_link_recv(f->link, &m, err, sizeof err);
        cr_assert_geq(rc, 0, "ghost: malformed message: %s", err);
        if (rc == 1) {
            size_t i;
            json_t *it;
            if (!strcmp(m.verb, "dispatch"))
                json_array_foreach(json_object_get(m.body, "jobs"), i, it)
                    json_array_append(f->dispatched, it);
            f->registered = f->registered || !strcmp(m.verb, "registered");
            f->pulses += !strcmp(m.verb, "pulse");
            assay_link_msg_fini(&m);
            return;
        }
        int64_t left = deadline - assay_now_ms();
        if (left <= 0)
            return;
        struct pollfd p = {assay_link_fd(f->link), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

/* A heartbeat granting `limit`; returns once its pulse came back. */
static void fake_heartbeat(fake *f, int limit)
{
    int pulses = f->pulses;
    fake_send(f, "heartbeat", json_pack("{s:i}", "limit", limit));
    int64_t deadline = assay_now_ms() + 10000;
    while (f->pulses == pulses && assay_now_ms() < deadline)
        fake_pump(f, 100);
    cr_assert_gt(f->pulses, pulses, "ghost: no pulse");
}

static void fake_start(fake *f)
{
    memset(f, 0, sizeof *f);
    f->dispatched = json_array();
    char err[512];
    f->link = HARNESS_RUNTIME_LINK(1u << 20);
    f->dealer = assay_link_open(f->link, ASSAY_LINK_CLIENT, c.endpoint, err,
                                sizeof err);
    cr_assert_geq(f->dealer, 0, "%s", err);
    fake_send(f, "register",
              json_pack("{s:i, s:{}, s:{s:[{s:s, s:s, s:[{s:s}]}]}}",
                        "heartbeat_ms", GHOST_HB, "labels", "catalog", "plugins",
                        "name", "fake", "version", "1.0.0", "actions", "name",
                        "run"));
    int64_t deadline = assay_now_ms() + 10000;
    while (!f->registered && assay_now_ms() < deadline)
        fake_pump(f, 100);
    cr_assert(f->registered, "ghost: no registered");
}

static void fake_stop(fake *f)
{
    assay_link_destroy(&f->link);
    json_decref(f->dispatched);
    f->dispatched = NULL;
}

/* ---- Tests ------------------------------------------------------------ */

/* A runtime's registration is runtime.alive; two jobs that pass go
 * queued -> running -> completed, each once, with the short view on the
 * way and the full record, result included, at the end. */
Test(events, passing_jobs_go_queued_running_completed)
{
    subscribe();
    cluster_runtime(&c, "rt1", NULL);
    expect_runtime_body(await("runtime.alive", "rt1"), "rt1", true, 100);
    submit("{\"id\": \"ok\", \"action\": \"noop.pass\", \"labels\": "
           "{\"team\": \"qa\"}, \"targets\": [{}, {}]}");
    char *v = resolved("ok");
    static const char *const jobs[] = {"ok-0", "ok-1"};
    for (int k = 0; k < 2; k++) {
        json_t *done = await("job.completed", jobs[k]);
        cr_expect_str_eq(trace(jobs[k]),
                         "job.queued:0 job.running:1 job.completed:1");
        expect_short(nth("job.queued", jobs[k], 0), jobs[k], "ok", "queued",
                     0, "", "");
        expect_short(nth("job.running", jobs[k], 0), jobs[k], "ok",
                     "running", 1, "rt1", v);
        cr_expect_str_eq(jstr(done, "state"), "completed");
        cr_expect_str_eq(jstr(done, "action"), "noop.pass");
        cr_expect_str_eq(jstr(done, "runtime"), "rt1");
        cr_expect_str_eq(jstr(done, "version"), v);
        cr_expect_eq(jint(done, "attempt"), 1);
        cr_expect_str_eq(jstr(json_object_get(done, "labels"), "team"), "qa");
        cr_expect_str_eq(jstr(json_object_get(done, "result"), "status"),
                         "pass");
        expect_record_is_final(done, jobs[k]);
    }
    free(v);
    /* Nothing more about them: a later job's events come, theirs do not. */
    submit("{\"id\": \"later\", \"action\": \"noop.pass\"}");
    await("job.completed", "later-0");
    for (int k = 0; k < 2; k++)
        cr_expect_str_eq(trace(jobs[k]),
                         "job.queued:0 job.running:1 job.completed:1");
    cr_expect_str_eq(trace("rt1"), "runtime.alive");
}

/* A job past its timeout loses attempt 1 (queued again, attempt 1 in its
 * short view), runs attempt 2, loses it too and with max_attempts 2 ends
 * job.failed, whose record says why and carries no result. */
Test(events, job_past_its_timeout_is_queued_again_then_failed)
{
    subscribe();
    cluster_runtime(&c, "rt1", NULL);
    submit("{\"id\": \"slow\", \"action\": \"sleep.sleep\", \"params\": "
           "{\"ms\": 60000}, \"timeout_ms\": 300, \"max_attempts\": 2}");
    char *v = resolved("slow");
    json_t *failed = await("job.failed", "slow-0");
    cr_expect_str_eq(trace("slow-0"), "job.queued:0 job.running:1 "
                                      "job.queued:1 job.running:2 "
                                      "job.failed:2");
    expect_short(nth("job.queued", "slow-0", 0), "slow-0", "slow", "queued",
                 0, "", "");
    expect_short(nth("job.running", "slow-0", 0), "slow-0", "slow",
                 "running", 1, "rt1", v);
    expect_short(nth("job.queued", "slow-0", 1), "slow-0", "slow", "queued",
                 1, "rt1", v);
    expect_short(nth("job.running", "slow-0", 1), "slow-0", "slow",
                 "running", 2, "rt1", v);
    cr_expect_str_eq(jstr(failed, "state"), "failed");
    cr_expect_eq(jint(failed, "attempt"), 2);
    cr_expect_eq(jint(failed, "max_attempts"), 2);
    cr_expect(strstr(jstr(failed, "reason"), "timeout"), "reason: %s",
              jstr(failed, "reason"));
    cr_expect_null(json_object_get(failed, "result"));
    expect_record_is_final(failed, "slow-0");
    free(v);
    submit("{\"id\": \"later\", \"action\": \"noop.pass\"}");
    await("job.completed", "later-0");
    cr_expect_str_eq(trace("slow-0"), "job.queued:0 job.running:1 "
                                      "job.queued:1 job.running:2 "
                                      "job.failed:2");
}

/* Cancel of a running job and of a queued one (no runtime has the label
 * it selects): each gets job.cancelled with reason "cancelled by operator
 * (admin)", and the running attempt's result, which the runtime still
 * sends once its executor is killed, is refused: no job.completed
 * follows. */
Test(events, cancelled_jobs_running_or_queued)
{
    subscribe();
    cluster_runtime(&c, "rt1", NULL);
    submit("{\"id\": \"long\", \"action\": \"sleep.sleep\", \"params\": "
           "{\"ms\": 60000}, \"timeout_ms\": 120000}");
    submit("{\"id\": \"stuck\", \"action\": \"noop.pass\", \"selector\": "
           "{\"zone\": \"nowhere\"}}");
    await("job.running", "long-0");
    await("job.queued", "stuck-0");
    json_t *r = call("assay.cancel", json_pack("{s:[s, s]}", "ids", "long",
                                               "stuck-0"));
    cr_expect_eq(json_array_size(json_object_get(r, "cancelled")), 2);
    json_decref(r);
    json_t *a = await("job.cancelled", "long-0");
    json_t *b = await("job.cancelled", "stuck-0");
    cr_expect_str_eq(jstr(a, "state"), "cancelled");
    /* Who cancelled, as the event stream's consumers see it. */
    cr_expect_str_eq(jstr(a, "reason"), "cancelled by operator (admin)");
    cr_expect_str_eq(jstr(a, "runtime"), "rt1");
    cr_expect_eq(jint(a, "attempt"), 1);
    cr_expect_str_eq(jstr(b, "state"), "cancelled");
    cr_expect_str_eq(jstr(b, "reason"), "cancelled by operator (admin)");
    cr_expect_eq(jint(b, "attempt"), 0);
    expect_record_is_final(a, "long-0");
    expect_record_is_final(b, "stuck-0");
    /* The killed attempt's result reaches the leader and is ignored. */
    cr_expect(cluster_log_has(&c.nodes[0],
                              "ignored result for long-0 attempt 1 from rt1 "
                              "(job cancelled)",
                              WAIT_MS));
    submit("{\"id\": \"later\", \"action\": \"noop.pass\"}");
    await("job.completed", "later-0");
    cr_expect_str_eq(trace("long-0"),
                     "job.queued:0 job.running:1 job.cancelled:1");
    cr_expect_str_eq(trace("stuck-0"), "job.queued:0 job.cancelled:0");
}

/* A runtime that stops heartbeating is runtime.dead, and the job it ran
 * (max_attempts 1) job.failed with reason "runtime dead"; when it speaks
 * again it is runtime.alive again. */
Test(events, silent_runtime_is_dead_then_alive_again)
{
    subscribe();
    fake f;
    fake_start(&f);
    expect_runtime_body(await("runtime.alive", "ghost"), "ghost", true,
                        GHOST_HB);
    fake_heartbeat(&f, 1);
    submit("{\"id\": \"g\", \"action\": \"fake.run\", \"max_attempts\": 1}");
    /* Heartbeats go on until the job is dispatched... */
    int64_t deadline = assay_now_ms() + WAIT_MS;
    while (!json_array_size(f.dispatched) && assay_now_ms() < deadline)
        fake_heartbeat(&f, 1);
    cr_assert_eq(json_array_size(f.dispatched), 1, "ghost got no job");
    await("job.running", "g-0");
    /* ...then stop: silence is death. */
    expect_runtime_body(await("runtime.dead", "ghost"), "ghost", false,
                        GHOST_HB);
    json_t *failed = await("job.failed", "g-0");
    cr_expect_str_eq(jstr(failed, "reason"), "runtime dead");
    cr_expect_str_eq(jstr(failed, "runtime"), "ghost");
    cr_expect_eq(jint(failed, "attempt"), 1);
    expect_record_is_final(failed, "g-0");
    cr_expect_str_eq(trace("g-0"), "job.queued:0 job.running:1 job.failed:1");
    fake_heartbeat(&f, 1);
    json_t *back = nth("runtime.alive", "ghost", 1);
    deadline = assay_now_ms() + WAIT_MS;
    while (!back && assay_now_ms() < deadline) {
        pump(500);
        back = nth("runtime.alive", "ghost", 1);
    }
    cr_assert_not_null(back, "ghost was not alive again");
    expect_runtime_body(back, "ghost", true, GHOST_HB);
    cr_expect_str_eq(trace("ghost"),
                     "runtime.alive runtime.dead runtime.alive");
    fake_stop(&f);
}

/* A runtime killed with SIGKILL while it runs a job is runtime.dead; its
 * job is queued again and completes on another runtime, attempt 2. */
Test(events, killed_runtime_is_dead_and_its_job_runs_elsewhere)
{
    subscribe();
    cluster_node *doomed = cluster_runtime(&c, "doomed", NULL);
    submit("{\"id\": \"moved\", \"action\": \"sleep.sleep\", \"params\": "
           "{\"ms\": 500}, \"timeout_ms\": 60000}");
    await("job.running", "moved-0");
    cr_assert_eq(kill(doomed->pid, SIGKILL), 0);
    expect_runtime_body(await("runtime.dead", "doomed"), "doomed", false,
                        100);
    json_t *requeued = nth("job.queued", "moved-0", 1);
    int64_t deadline = assay_now_ms() + WAIT_MS;
    while (!requeued && assay_now_ms() < deadline) {
        pump(500);
        requeued = nth("job.queued", "moved-0", 1);
    }
    cr_assert_not_null(requeued, "moved-0 was not queued again");
    cr_expect_str_eq(jstr(requeued, "runtime"), "doomed");
    cr_expect_eq(jint(requeued, "attempt"), 1);
    cluster_runtime(&c, "rescue", NULL);
    json_t *done = await("job.completed", "moved-0");
    cr_expect_str_eq(jstr(done, "runtime"), "rescue");
    cr_expect_eq(jint(done, "attempt"), 2);
    cr_expect_str_eq(trace("moved-0"), "job.queued:0 job.running:1 "
                                       "job.queued:1 job.running:2 "
                                       "job.completed:2");
    cr_expect_str_eq(trace("doomed"), "runtime.alive runtime.dead");
}

/* ---- Subscribers that lag ------------------------------------------------ */

/* A raw libzmq subscriber to job.completed that reads the welcome and then
 * nothing: its SUB socket holds one message and its kernel a few KiB, so
 * the member's TCP window to it closes, as a consumer that hangs would. */
static void *zctx, *lazy, *lazy_mon;

static void lazy_teardown(void)
{
    if (lazy_mon)
        zmq_close(lazy_mon);
    if (lazy)
        zmq_close(lazy);
    if (zctx)
        zmq_ctx_term(zctx);
    lazy = lazy_mon = zctx = NULL;
    teardown();
}

TestSuite(lagging, .fini = lazy_teardown, .timeout = 120);

static void lazy_subscribe(void)
{
    int one = 1, small = 4096, zero = 0;
    cr_assert_not_null(zctx = zmq_ctx_new());
    cr_assert_not_null(lazy = zmq_socket(zctx, ZMQ_SUB));
    zmq_setsockopt(lazy, ZMQ_RCVHWM, &one, sizeof one);
    zmq_setsockopt(lazy, ZMQ_RCVBUF, &small, sizeof small);
    zmq_setsockopt(lazy, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq(zmq_socket_monitor(lazy, "inproc://lazy",
                                    ZMQ_EVENT_DISCONNECTED),
                 0);
    cr_assert_not_null(lazy_mon = zmq_socket(zctx, ZMQ_PAIR));
    cr_assert_eq(zmq_connect(lazy_mon, "inproc://lazy"), 0);
    zmq_setsockopt(lazy, ZMQ_SUBSCRIBE, "job.completed", 13);
    zmq_setsockopt(lazy, ZMQ_SUBSCRIBE, "assay.welcome", 13);
    /* The operator's key, as the client library would present it. */
    assay_keys k;
    char err[1024];
    cr_assert_eq(assay_keys_client(NULL, "zmq", NULL, NULL, &k, err,
                                   sizeof err),
                 0, "%s", err);
    zmq_setsockopt(lazy, ZMQ_CURVE_SERVERKEY, k.server, 40);
    zmq_setsockopt(lazy, ZMQ_CURVE_PUBLICKEY, k.public_, 40);
    zmq_setsockopt(lazy, ZMQ_CURVE_SECRETKEY, k.secret, 40);
    cr_assert_eq(zmq_connect(lazy, c.events), 0);
    zmq_pollitem_t it = {lazy, 0, ZMQ_POLLIN, 0};
    cr_assert_eq(zmq_poll(&it, 1, 10000), 1, "no welcome in 10 s");
    char buf[64];
    cr_assert_gt(zmq_recv(lazy, buf, sizeof buf, 0), 0);
    cr_assert_geq(zmq_recv(lazy, buf, sizeof buf, 0), 0);
}

/* Jobs whose results (and so job.completed events) are `kb` KiB each. */
static void submit_big(const char *id, int jobs, int kb)
{
    char spec[4096];
    int n = snprintf(spec, sizeof spec,
                     "{\"id\": \"%s\", \"action\": \"crashy.fill\", "
                     "\"params\": {\"n\": %d}, \"targets\": [",
                     id, kb * 1024);
    for (int i = 0; i < jobs; i++)
        n += snprintf(spec + n, sizeof spec - (size_t)n, "%s{}",
                      i ? ", " : "");
    snprintf(spec + n, sizeof spec - (size_t)n, "]}");
    submit(spec);
}

/* Waits (bounded) until every job of `id` has ended. */
static void wait_spec(const char *id, int jobs)
{
    for (int i = 0; i < jobs; i++) {
        char jid[64];
        snprintf(jid, sizeof jid, "%s-%d", id, i);
        int64_t deadline = assay_now_ms() + WAIT_MS;
        json_t *j = job(jid);
        while (strcmp(jstr(j, "state"), "completed") &&
               assay_now_ms() < deadline) {
            json_decref(j);
            poll(NULL, 0, 50);
            j = job(jid);
        }
        char *text = json_dumps(j, JSON_COMPACT);
        bool done = !strcmp(jstr(j, "state"), "completed");
        json_decref(j);
        cr_assert(done, "%s: %.300s", jid, text);
        free(text);
    }
}

static void lagging_start(const char *member_args)
{
    cluster_start(&c, member_args);
    cluster_cp_open(&cp, c.endpoint);
    seen = json_array();
    cluster_runtime(&c, "rt1", "--plugins-dir " HARNESS_FIXTURES "crashy");
}

/* A subscriber that takes no data for events_stall_ms is disconnected by
 * the member (TCP_USER_TIMEOUT on its connection), which frees what the
 * member held for it. Without it, the connection stays, the member holding
 * up to 100000 events for it. The subscriber sees the cut when it reads
 * again: its connection was reset. */
Test(lagging, subscriber_that_stops_reading_is_cut_off)
{
    lagging_start("--set events_stall_ms=1000");
    lazy_subscribe();
    submit_big("big", 24, 256); /* 6 MiB: past every buffer on the way */
    wait_spec("big", 24);
    poll(NULL, 0, 3000); /* three stall times with the window closed */
    /* Read again, until the monitor tells of a disconnection (bounded). */
    zmq_pollitem_t it[2] = {{lazy, 0, ZMQ_POLLIN, 0},
                            {lazy_mon, 0, ZMQ_POLLIN, 0}};
    bool cut = false;
    int64_t deadline = assay_now_ms() + 10000;
    while (!cut && assay_now_ms() < deadline &&
           zmq_poll(it, 2, 500) >= 0) {
        char buf[64];
        while (zmq_recv(lazy, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
            ;
        cut = it[1].revents & ZMQ_POLLIN;
    }
    cr_expect(cut, "the subscriber that stopped reading kept its "
                   "connection");
}

/* Past events_buffer_mb held for the subscriber furthest behind, events
 * are dropped (told once); once it goes, the member publishes again, and
 * says how many were dropped. The member's memory stays within the bound
 * instead of growing by every event the laggard has not read. */
Test(lagging, events_past_the_buffer_are_dropped_and_counted)
{
    lagging_start("--set events_buffer_mb=1 --set events_stall_ms=600000");
    lazy_subscribe();
    submit_big("big", 24, 256);
    wait_spec("big", 24);
    cr_assert(cluster_log_has(&c.nodes[0], "dropping publications", 10000),
              "no events were dropped for a subscriber 6 MiB behind");
    /* The laggard goes: what was held for it is freed. */
    zmq_close(lazy_mon);
    zmq_close(lazy);
    lazy = lazy_mon = NULL;
    subscribe();
    submit("{\"id\": \"after\", \"action\": \"crashy.fill\", \"params\": "
           "{\"n\": 10}}");
    cr_expect_not_null(await("job.completed", "after-0"));
    cr_expect(cluster_log_has(&c.nodes[0], "publishing again", 10000));
}

/* ---- Runtimes that never come back ---------------------------------------- */

TestSuite(registry, .fini = teardown, .timeout = 120);

/* A runtime dead past retain_runtime_seconds, with no running job and no
 * session, is forgotten by every member (runtime.gone); it is no
 * longer listed, and registering again makes it new. Before, the registry
 * kept every id that ever registered. */
Test(registry, dead_runtime_is_forgotten_after_its_retention)
{
    cluster_start(&c, "--set retain_runtime_seconds=1");
    cluster_cp_open(&cp, c.endpoint);
    seen = json_array();
    subscribe();
    fake f;
    fake_start(&f);
    await("runtime.alive", "ghost");
    await("runtime.dead", "ghost");
    expect_runtime_body(await("runtime.gone", "ghost"), "ghost", false,
                        GHOST_HB);
    cr_expect_str_eq(trace("ghost"),
                     "runtime.alive runtime.dead runtime.gone");
    json_t *r = call("assay.runtimes", json_object());
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "runtimes"), i, x)
        cr_expect_str_neq(jstr(x, "id"), "ghost", "still listed");
    json_decref(r);
    fake_stop(&f);
}
