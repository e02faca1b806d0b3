/* tests/integration/test_wire.c - hostile and malformed input on the wire:
 * every case gets a clear error reply or is dropped with a log line, and
 * changes nothing; the member keeps serving. A raw client (assay_link) is
 * used so that frames can be wrong in every way.
 *
 * The leader's guarantees to runtimes are proven here too, with fake
 * runtimes speaking the runtime protocol over real ZeroMQ, so that the
 * test decides every attempt, grant and memory figure: fencing of an old
 * attempt while the next one runs (invariant 2), credit, priority-then-
 * FIFO dispatch order and resources.memory_mb. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/clock.h"
#include "cluster.h"
#include "cluster/link.h"
#include "harness.h"

/* ---- Fixture ---------------------------------------------------------- */

static cluster c;
/* Two raw links: a control plane (the operator's key) and a runtime (a
 * runtime key of any id): each key may speak only its own protocol. */
static assay_link *link_, *rlink;
static int dealer, rdealer;

static void setup(void)
{
    cluster_start(&c, "--set max_message_kb=64");
    cluster_runtime(&c, "rt1", NULL);
    char err[512];
    link_ = harness_link(NULL, NULL, NULL, 1u << 20);
    dealer = assay_link_open(link_, ASSAY_LINK_CLIENT, c.endpoint, err,
                             sizeof err);
    cr_assert_geq(dealer, 0, "%s", err);
    rlink = HARNESS_RUNTIME_LINK(1u << 20);
    rdealer = assay_link_open(rlink, ASSAY_LINK_CLIENT, c.endpoint, err,
                              sizeof err);
    cr_assert_geq(rdealer, 0, "%s", err);
}

static void teardown(void)
{
    assay_link_destroy(&rlink);
    assay_link_destroy(&link_);
    cluster_stop(&c);
}

TestSuite(wire, .init = setup, .fini = teardown, .timeout = 120);

/* ---- Helpers ---------------------------------------------------------- */

/* Sends raw frames on the client link. */
static void send_raw(const char *const *frames, const size_t *lens, size_t n)
{
    /* assay_link frames for us; raw frames need the module directly, so
     * build them as [""][proto][verb][body] through send_text when the
     * body is text, which covers every malformed-body case below. */
    cr_assert(n == 4);
    char body[1 << 17];
    cr_assert_lt(lens[3], sizeof body);
    memcpy(body, frames[3], lens[3]);
    body[lens[3]] = '\0';
    bool rt = !strcmp(frames[1], ASSAY_RUNTIME_PROTO);
    cr_assert_eq(assay_link_send_text(rt ? rlink : link_, rt ? rdealer : dealer,
                                      NULL, frames[1], frames[2], body),
                 0);
}

/* Waits (bounded) for one reply on either link; NULL if none came in
 * timeout_ms. */
static json_t *reply(int timeout_ms, char *verb, size_t verblen)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (int turn = 0;; turn++) {
        assay_link_msg m;
        char err[512];
        int rc = assay_link_recv(turn % 2 ? rlink : link_, &m, err,
                                 sizeof err);
        if (rc == 0 && !(turn % 2))
            continue; /* the other link next */
        if (rc == 1) {
            if (verb)
                snprintf(verb, verblen, "%s", m.verb);
            /* pulse and reregister have no body frame */
            json_t *b = m.body       ? json_incref(m.body)
                        : m.raw_body ? json_stringn(
                                           (const char *)m.raw_body->data,
                                           m.raw_body->len)
                                     : json_object();
            assay_link_msg_fini(&m);
            return b;
        }
        int64_t left = deadline - assay_now_ms();
        if (left <= 0)
            return NULL;
        struct pollfd p[2] = {{assay_link_fd(link_), POLLIN, 0},
                              {assay_link_fd(rlink), POLLIN, 0}};
        poll(p, 2, (int)left);
    }
}

static json_t *call(const char *service, json_t *body)
{
    cluster_cp cp = {link_, dealer};
    return cluster_cp_call(&cp, service, body);
}

static void expect_error(json_t *r, const char *code, const char *needle)
{
    cr_expect(json_is_false(json_object_get(r, "ok")));
    const char *err = json_string_value(json_object_get(r, "error"));
    const char *msg = json_string_value(json_object_get(r, "message"));
    cr_expect_str_eq(err ? err : "", code, "message: %s", msg);
    cr_expect(msg && strstr(msg, needle), "'%s' lacks '%s'", msg, needle);
    json_decref(r);
}

/* Nothing was created by what came before. */
static void expect_no_jobs(void)
{
    json_t *r = call("assay.jobs", json_object());
    cr_expect_eq(json_integer_value(json_object_get(r, "total")), 0);
    json_decref(r);
}

/* A runtime of the test's own, on its own DEALER, so that the test decides
 * every credit grant, memory figure and result, and sees every message
 * the leader sends it. It offers plugin "fake" 1.0.0 (action "run"), which
 * the real runtime rt1 does not have, so every job of a "fake.run"
 * JobSpec can only go to fake runtimes. It heartbeats only when told to:
 * its heartbeat_ms is long enough that the leader never declares it dead
 * during a test. */
typedef struct fake {
    char id[32];
    assay_link *link;
    int dealer;
    json_t *dispatched; /* every dispatch item received, in order */
    json_t *acks;       /* every ack item received, in order */
    json_t *cancels;    /* every cancel body received, in order */
    int dispatches;     /* dispatch messages received */
    int pulses;
    bool registered;
} fake;

/* Reads one message for f (bounded by timeout_ms) and records it; false
 * if none came. */
static bool fake_pump(fake *f, int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        assay_link_msg m;
        char err[512];
        int rc = assay_link_recv(f->link, &m, err, sizeof err);
        cr_assert_geq(rc, 0, "%s: malformed message: %s", f->id, err);
        if (rc == 1) {
            size_t i;
            json_t *it;
            if (!strcmp(m.verb, "dispatch")) {
                f->dispatches++;
                json_array_foreach(json_object_get(m.body, "jobs"), i, it)
                    json_array_append(f->dispatched, it);
            } else if (!strcmp(m.verb, "ack")) {
                json_array_foreach(json_object_get(m.body, "jobs"), i, it)
                    json_array_append(f->acks, it);
            } else if (!strcmp(m.verb, "cancel")) {
                json_array_append(f->cancels, m.body);
            } else if (!strcmp(m.verb, "pulse")) {
                f->pulses++;
            } else if (!strcmp(m.verb, "registered")) {
                f->registered = true;
            } else {
                cr_expect(false, "%s: unexpected %s", f->id, m.verb);
            }
            assay_link_msg_fini(&m);
            return true;
        }
        int64_t left = deadline - assay_now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {assay_link_fd(f->link), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

/* Pumps f until *count reaches want, at most 10 s. */
static void fake_until(fake *f, const int *count, int want, const char *what)
{
    int64_t deadline = assay_now_ms() + 10000;
    while (*count < want && assay_now_ms() < deadline)
        fake_pump(f, 500);
    cr_assert_geq(*count, want, "%s: %d %s, waited for %d", f->id, *count,
                  what, want);
}

/* Pumps f until it has received `want` dispatch items (or acks), at most
 * 10 s; asserts they came. */
static void fake_until_items(fake *f, json_t *list, size_t want,
                             const char *what)
{
    int64_t deadline = assay_now_ms() + 10000;
    while (json_array_size(list) < want && assay_now_ms() < deadline)
        fake_pump(f, 500);
    cr_assert_geq(json_array_size(list), want, "%s: %zu %s, waited for %zu",
                  f->id, json_array_size(list), what, want);
}

static void fake_send(fake *f, const char *verb, json_t *body)
{
    json_object_set_new(body, "id", json_string(f->id));
    cr_assert_eq(assay_link_send(f->link, f->dealer, NULL,
                                 ASSAY_RUNTIME_PROTO, verb, body),
                 0);
    json_decref(body);
}

/* Sends f's registration, listing `running` (taken; NULL: none) as the
 * attempts it holds, and waits for "registered". */
static void fake_register(fake *f, json_t *running)
{
    json_t *reg = json_pack("{s:i, s:{}, s:{s:[{s:s, s:s, s:[{s:s}]}]}}",
                            "heartbeat_ms", 60000, "labels", "catalog",
                            "plugins", "name", "fake", "version", "1.0.0",
                            "actions", "name", "run");
    if (running)
        json_object_set_new(reg, "running", running);
    f->registered = false;
    fake_send(f, "register", reg);
    int64_t deadline = assay_now_ms() + 10000;
    while (!f->registered && assay_now_ms() < deadline)
        fake_pump(f, 500);
    cr_assert(f->registered, "%s: no registered", f->id);
}

/* Registers a fake runtime `id` and waits for "registered". */
static void fake_start(fake *f, const char *id)
{
    memset(f, 0, sizeof *f);
    snprintf(f->id, sizeof f->id, "%s", id);
    f->dispatched = json_array();
    f->acks = json_array();
    f->cancels = json_array();
    char err[512];
    f->link = HARNESS_RUNTIME_LINK(1u << 20);
    f->dealer = assay_link_open(f->link, ASSAY_LINK_CLIENT, c.endpoint, err,
                                sizeof err);
    cr_assert_geq(f->dealer, 0, "%s", err);
    fake_register(f, NULL);
}

static void fake_stop(fake *f)
{
    assay_link_destroy(&f->link);
    json_decref(f->dispatched);
    json_decref(f->acks);
    json_decref(f->cancels);
    f->dispatched = f->acks = f->cancels = NULL;
}

/* Grants credit up to `limit` dispatches in this session (and reports
 * mem_available_mb when mem >= 0); returns once the leader has handled
 * it, as its pulse shows. */
static void fake_grant(fake *f, int limit, int mem)
{
    json_t *hb = json_pack("{s:i}", "limit", limit);
    if (mem >= 0)
        json_object_set_new(hb, "mem_available_mb", json_integer(mem));
    int pulses = f->pulses;
    fake_send(f, "heartbeat", hb);
    fake_until(f, &f->pulses, pulses + 1, "pulses");
}

/* Reports attempt `attempt` of `job`: a final result with `message`, or
 * with retryable a lost attempt (reason "crash"). */
static void fake_result(fake *f, const char *job, int attempt,
                        const char *message, bool retryable)
{
    json_t *res = retryable
                      ? json_pack("{s:s, s:s, s:s, s:b}", "status", "error",
                                  "message", message, "reason", "crash",
                                  "retryable", 1)
                      : json_pack("{s:s, s:s, s:[], s:{}}", "status", "pass",
                                  "message", message, "findings", "data");
    fake_send(f, "result",
              json_pack("{s:[{s:s, s:i, s:o}]}", "results", "job", job,
                        "attempt", attempt, "result", res));
}

/* Field `key` of dispatch/ack item i of list, "" if absent. */
static const char *item_str(const json_t *list, size_t i, const char *key)
{
    const char *s =
        json_string_value(json_object_get(json_array_get(list, i), key));
    return s ? s : "";
}

static json_int_t item_int(const json_t *list, size_t i, const char *key)
{
    return json_integer_value(json_object_get(json_array_get(list, i), key));
}

/* Submits a JobSpec given as JSON text; asserts it was accepted. */
static void submit(const char *spec)
{
    cluster_cp cp = {link_, dealer};
    cluster_cp_submit(&cp, spec);
}

/* The job record of `id` (caller decrefs). */
static json_t *job(const char *id)
{
    cluster_cp cp = {link_, dealer};
    return cluster_cp_job(&cp, id);
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The credit of runtime id as assay.runtimes shows it (-1: not listed). */
static json_int_t credit_of(const char *id)
{
    json_t *r = call("assay.runtimes", json_object());
    json_int_t credit = -1;
    size_t i;
    json_t *rt;
    json_array_foreach(json_object_get(r, "runtimes"), i, rt)
        if (!strcmp(jstr(rt, "id"), id))
            credit = json_integer_value(json_object_get(rt, "credit"));
    json_decref(r);
    return credit;
}

/* An event subscriber to job. events, live (welcomed) when it returns. */
static assay_link *subscribe_jobs(void)
{
    static const char *const topics[] = {"job.", NULL};
    return cluster_subscribe(c.events, topics);
}

/* Collects the events of job `id` from l, in order, as "topic:attempt"
 * strings joined by spaces, until its first event of topic `last` (at
 * most 10 s); the body of that last event is returned in *last_body. */
static void job_events(assay_link *l, const char *id, const char *last,
                       char *out, size_t outlen, json_t **last_body)
{
    out[0] = '\0';
    *last_body = NULL;
    int64_t deadline = assay_now_ms() + 10000;
    char err[512];
    while (!*last_body) {
        assay_link_msg m;
        int rc = assay_link_recv(l, &m, err, sizeof err);
        cr_assert_geq(rc, 0, "malformed event: %s", err);
        if (rc == 0) {
            int64_t left = deadline - assay_now_ms();
            cr_assert_gt(left, 0, "no %s for %s; saw: %s", last, id, out);
            struct pollfd p = {assay_link_fd(l), POLLIN, 0};
            poll(&p, 1, (int)left);
            continue;
        }
        if (!strcmp(jstr(m.body, "id"), id)) {
            char one[64];
            snprintf(one, sizeof one, "%s%s:%lld", out[0] ? " " : "", m.proto,
                     (long long)json_integer_value(
                         json_object_get(m.body, "attempt")));
            strlcat(out, one, outlen);
            if (!strcmp(m.proto, last))
                *last_body = json_incref(m.body);
        }
        assay_link_msg_fini(&m);
    }
}

/* ---- Tests ------------------------------------------------------------ */

Test(wire, malformed_bodies_get_error_replies)
{
    const char *bad[][4] = {
        {"", ASSAY_MDP_CLIENT, "assay.submit", "\xc1"},        /* never used */
        {"", ASSAY_MDP_CLIENT, "assay.submit", "\x92\x01"},    /* truncated */
        {"", ASSAY_MDP_CLIENT, "assay.submit", "\xdd\xff\xff\xff\xff"},
        {"", ASSAY_MDP_CLIENT, "assay.submit", "\x01\x02"},    /* trailing */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t lens[4] = {0, 6, 12, strlen(bad[i][3])};
        send_raw(bad[i], lens, 4);
        json_t *r = reply(10000, NULL, 0);
        cr_assert_not_null(r, "no reply to case %zu", i);
        cr_expect(json_is_false(json_object_get(r, "ok")), "case %zu", i);
        json_decref(r);
    }
    expect_error(call("assay.submit", json_pack("[i]", 1)), "ASSAY_EPROTO",
                 "body must be a msgpack map");
    expect_no_jobs();
}

Test(wire, unknown_service_lists_services)
{
    expect_error(call("assay.frob", json_object()), "ASSAY_ENOENT",
                 "unknown service 'assay.frob' (services: assay.submit");
}

Test(wire, mmi_service_discovery)
{
    cr_assert_eq(assay_link_send_text(link_, dealer, NULL, ASSAY_MDP_CLIENT,
                                      "mmi.service", "assay.submit"),
                 0);
    json_t *r = reply(10000, NULL, 0);
    cr_expect_str_eq(json_string_value(r), "200");
    json_decref(r);
    cr_assert_eq(assay_link_send_text(link_, dealer, NULL, ASSAY_MDP_CLIENT,
                                      "mmi.service", "assay.nope"),
                 0);
    r = reply(10000, NULL, 0);
    cr_expect_str_eq(json_string_value(r), "404");
    json_decref(r);
}

Test(wire, bad_jobspecs_are_refused_and_change_nothing)
{
    expect_error(call("assay.submit", json_pack("{s:i}", "action", 7)),
                 "ASSAY_EINVAL", "field 'action'");
    expect_error(call("assay.submit", json_pack("{s:s, s:s}", "action",
                                                "noop.pass", "timeout_ms",
                                                "soon")),
                 "ASSAY_ETYPE", "timeout_ms");
    expect_error(call("assay.submit", json_pack("{s:s}", "action", "nope.x")),
                 "ASSAY_ENOENT",
                 "no runtime offers plugin 'nope' (asked: rt1; known plugins: "
                 "exec, file, noop, sleep)");
    expect_error(call("assay.submit", json_pack("{s:s}", "action",
                                                "file.nope")),
                 "ASSAY_ENOENT",
                 "plugin 'file' has no action 'nope' on runtime rt1 "
                 "(actions: exists, mode");
    expect_error(call("assay.submit",
                      json_pack("{s:s, s:{s:s}}", "action", "file.mode",
                                "params", "path", "/")),
                 "ASSAY_EINVAL", "missing required param 'mode'");
    expect_error(call("assay.submit",
                      json_pack("{s:s, s:{s:s, s:s}}", "action", "file.mode",
                                "params", "path", "/", "mode", "0644")),
                 "ASSAY_ETYPE", "param 'mode': expected int64, got string");
    expect_error(call("assay.job", json_pack("{s:s}", "id", "nope")),
                 "ASSAY_ENOENT", "no job or JobSpec 'nope'");
    expect_error(call("assay.jobs", json_pack("{s:s}", "state", "weird")),
                 "ASSAY_EINVAL", "state 'weird'");
    expect_error(call("assay.cancel", json_pack("{s:s}", "ids", "x")),
                 "ASSAY_EINVAL", "ids");
    expect_no_jobs();
}

/* Thousands of runtimes must not make a refusal longer than a line: a
 * list that is full ends in ", ..." (here two 60-byte ids after rt1 pass
 * the 128 bytes a list may take). */
Test(wire, refusal_lists_stop_at_their_bound)
{
    char a[61], b[61], needle[256];
    memset(a, 'a', 60);
    memset(b, 'b', 60);
    a[60] = b[60] = '\0';
    cluster_runtime(&c, a, NULL);
    cluster_runtime(&c, b, NULL);
    snprintf(needle, sizeof needle,
             "no runtime offers plugin 'nope' (asked: rt1, %s, ...; known "
             "plugins: exec, file, noop, sleep)",
             a);
    expect_error(call("assay.submit", json_pack("{s:s}", "action", "nope.x")),
                 "ASSAY_ENOENT", needle);
}

/* The member checks params as `run --local` does: a bad value is blamed
 * on where it was given, the JobSpec's params or one target, not on the
 * first job it reached. */
Test(wire, param_errors_name_where_the_value_was)
{
    expect_error(call("assay.submit",
                      json_pack("{s:s, s:{s:s, s:s}, s:[{}, {}]}", "action",
                                "file.mode", "params", "path", "/", "mode",
                                "rw", "targets")),
                 "ASSAY_ETYPE",
                 "file.mode: params: param 'mode': expected int64, got "
                 "string");
    expect_error(call("assay.submit",
                      json_pack("{s:s, s:{s:s, s:i}, s:[{}, {s:s}]}",
                                "action", "file.mode", "params", "path", "/",
                                "mode", 420, "targets", "mode", "rw")),
                 "ASSAY_ETYPE",
                 "file.mode: targets[1]: param 'mode': expected int64, got "
                 "string");
    expect_no_jobs();
}

Test(wire, oversized_message_is_dropped_and_member_goes_on)
{
    json_t *big = json_pack("{s:s, s:{s:s}}", "action", "noop.pass",
                            "params", "pad", "");
    char *pad = malloc(200000);
    memset(pad, 'x', 199999);
    pad[199999] = '\0';
    json_object_set_new(json_object_get(big, "params"), "pad",
                        json_string(pad));
    free(pad);
    cr_assert_eq(assay_link_send(link_, dealer, NULL, ASSAY_MDP_CLIENT,
                                 "assay.submit", big),
                 0);
    json_decref(big);
    /* The member still answers (the client reconnects by itself; a
     * request sent while the dropped connection is torn down may be lost,
     * so it is sent again, bounded), and the first reply is to this
     * request: the member serves one connection in order, so a served
     * oversized submit would have been answered first. No window of
     * silence to wait out. */
    char verb[64] = "";
    json_t *r = NULL;
    for (int tries = 0; !r && tries < 20; tries++) {
        json_t *q = json_object();
        cr_assert_eq(assay_link_send(link_, dealer, NULL, ASSAY_MDP_CLIENT,
                                     "assay.runtimes", q),
                     0);
        json_decref(q);
        r = reply(1000, verb, sizeof verb);
    }
    cr_assert_not_null(r, "no reply to assay.runtimes");
    cr_expect_str_eq(verb, "assay.runtimes", "an oversized request was served");
    cr_expect(json_is_true(json_object_get(r, "ok")));
    cr_expect(json_is_array(json_object_get(r, "runtimes")), "not the "
                                                             "runtimes reply");
    json_decref(r);
    /* Replies to the resent requests that did arrive come before the one
     * to this probe: read up to it, so none is taken for a later reply. */
    cr_assert_eq(assay_link_send_text(link_, dealer, NULL, ASSAY_MDP_CLIENT,
                                      "mmi.service", "assay.submit"),
                 0);
    do {
        json_decref(r = reply(10000, verb, sizeof verb));
    } while (r && strcmp(verb, "mmi.service"));
    cr_assert_not_null(r, "no reply to mmi.service");
    expect_no_jobs();
}

/* Registers the raw client link as a runtime "impostor" with no plugins. */
static void register_impostor(void)
{
    json_t *reg = json_pack("{s:s, s:i, s:{}, s:{s:[]}}", "id", "impostor",
                            "heartbeat_ms", 1000, "labels", "catalog",
                            "plugins");
    cr_assert_eq(assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO,
                                 "register", reg),
                 0);
    json_decref(reg);
    char verb[64] = "";
    json_t *ack = reply(10000, verb, sizeof verb);
    cr_assert_str_eq(verb, "registered");
    json_decref(ack);
}

Test(wire, lying_runtime_changes_nothing)
{
    /* A real job completes first, then an impostor reports on it. */
    json_t *r = call("assay.submit", json_pack("{s:s, s:s}", "id", "real",
                                               "action", "noop.pass"));
    cr_assert(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    json_decref(cluster_wait(&c, "real", 20000));
    r = call("assay.job", json_pack("{s:s}", "id", "real-0"));
    json_t *before = json_deep_copy(json_object_get(r, "job"));
    json_decref(r);

    register_impostor();
    char verb[64] = "";
    json_t *ack;
    static const int attempts[] = {1, 99};
    for (size_t i = 0; i < 2; i++) {
        json_t *res = json_pack(
            "{s:s, s:[{s:s, s:i, s:{s:s, s:s, s:[], s:{}}}]}", "id",
            "impostor", "results", "job", "real-0", "attempt", attempts[i],
            "result", "status", "fail", "message", "forged", "findings",
            "data");
        cr_assert_eq(assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO,
                                     "result", res),
                     0);
        json_decref(res);
        ack = reply(10000, verb, sizeof verb);
        cr_expect_str_eq(verb, "ack");
        json_t *item = json_array_get(json_object_get(ack, "jobs"), 0);
        cr_expect_str_eq(json_string_value(json_object_get(item, "job")),
                         "real-0");
        cr_expect(json_is_true(json_object_get(item, "stale")));
        json_decref(ack);
    }
    /* Results for jobs that do not exist, and garbage registrations. */
    json_t *res = json_pack("{s:s, s:[{s:s, s:i, s:{}}]}", "id", "impostor",
                            "results", "job", "ghost-0", "attempt", 1,
                            "result");
    assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO, "result", res);
    json_decref(res);
    json_decref(reply(10000, verb, sizeof verb));
    json_t *garbage = json_pack("{s:s, s:i, s:{}, s:{s:[{s:i}]}}", "id",
                                "bad id!", "heartbeat_ms", 0, "labels",
                                "catalog", "plugins", "name", 3);
    assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO, "register",
                    garbage);
    json_decref(garbage);
    cr_expect(cluster_log_has(&c.nodes[0], "refused registration", 5000));
    r = call("assay.job", json_pack("{s:s}", "id", "real-0"));
    cr_expect(json_equal(before, json_object_get(r, "job")),
              "the job changed");
    json_decref(r);
    json_decref(before);
}

/* Acks wait to ride on a dispatch; alone, they must still fit the message
 * cap (64 KiB here: at most (65536 - 1024) / 128 = 504 per message), so
 * 600 stale results come back acknowledged in parts, each exactly once. */
Test(wire, many_acks_are_sent_in_parts)
{
    register_impostor();
    enum { N = 600, PER_MESSAGE = (65536 - 1024) / 128 };
    json_t *items = json_array();
    for (int i = 0; i < N; i++) {
        char job[32];
        snprintf(job, sizeof job, "ghost-%d", i);
        json_array_append_new(items, json_pack("{s:s, s:i, s:{}}", "job", job,
                                               "attempt", 1, "result"));
    }
    json_t *res = json_pack("{s:s, s:o}", "id", "impostor", "results", items);
    cr_assert_eq(assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO,
                                 "result", res),
                 0);
    json_decref(res);
    static bool seen[N];
    int acked = 0, messages = 0;
    while (acked < N && messages < N) {
        char verb[64] = "";
        json_t *ack = reply(10000, verb, sizeof verb);
        cr_assert_not_null(ack, "only %d of %d results acknowledged", acked,
                           N);
        cr_assert_str_eq(verb, "ack");
        json_t *jobs = json_object_get(ack, "jobs");
        cr_expect_leq(json_array_size(jobs), PER_MESSAGE);
        size_t i;
        json_t *it;
        json_array_foreach(jobs, i, it) {
            int k = -1;
            const char *job = json_string_value(json_object_get(it, "job"));
            cr_assert(job && sscanf(job, "ghost-%d", &k) == 1 && k >= 0 &&
                          k < N,
                      "ack for %s", job ? job : "(none)");
            cr_expect_not(seen[k], "%s acknowledged twice", job);
            cr_expect(json_is_true(json_object_get(it, "stale")));
            seen[k] = true;
            acked++;
        }
        messages++;
        json_decref(ack);
    }
    cr_expect_eq(acked, N);
    cr_expect_geq(messages, 2);
}

/* Waits (bounded) for a message with verb `want`, counting on the way
 * every acknowledgement of `job` (in an "ack", or in a dispatch's
 * "acks"); returns its body or NULL. */
/* Replies to assay.submit that await_verb passed over: the test's later
 * call() must not read one of them as its own. */
static int submits_replied;

static json_t *await_verb(const char *want, const char *job, int *acks)
{
    int64_t deadline = assay_now_ms() + 10000;
    while (assay_now_ms() < deadline) {
        char verb[64] = "";
        json_t *b = reply(1000, verb, sizeof verb);
        if (!b)
            continue;
        const char *key = !strcmp(verb, "ack")        ? "jobs"
                          : !strcmp(verb, "dispatch") ? "acks"
                                                      : NULL;
        size_t i;
        json_t *it;
        json_array_foreach(key ? json_object_get(b, key) : NULL, i, it)
            if (!strcmp(json_string_value(json_object_get(it, "job")), job)) {
                cr_expect_not(json_is_true(json_object_get(it, "stale")));
                (*acks)++;
            }
        submits_replied += !strcmp(verb, "assay.submit");
        if (!strcmp(verb, want))
            return b;
        json_decref(b);
    }
    return NULL;
}

/* A result is acknowledged once: riding on the next dispatch to a
 * runtime that registered with acks_in_dispatch, or alone at the
 * leader's tick (docs/protocol.md). Runtimes that did not say so get
 * them alone at once (lying_runtime_changes_nothing). */
Test(wire, result_acknowledged_once_on_a_dispatch_or_alone)
{
    json_t *reg = json_pack(
        "{s:s, s:i, s:{s:s}, s:{s:[{s:s, s:s, s:[{s:s}]}]}, s:b}", "id",
        "fake", "heartbeat_ms", 1000, "labels", "who", "fake", "catalog",
        "plugins", "name", "noop", "version", "1.0.0", "actions", "name",
        "pass", "acks_in_dispatch", 1);
    cr_assert_eq(assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO,
                                 "register", reg),
                 0);
    json_decref(reg);
    int acks = 0;
    json_decref(await_verb("registered", "a-0", &acks));
    json_t *hb = json_pack("{s:s, s:i}", "id", "fake", "limit", 2);
    assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO, "heartbeat", hb);
    json_decref(hb);

    static const char *const specs[] = {"a", "b"};
    json_t *d[2];
    for (int k = 0; k < 2; k++) {
        json_t *spec = json_pack("{s:s, s:s, s:{s:s}}", "id", specs[k],
                                 "action", "noop.pass", "selector", "who",
                                 "fake");
        assay_link_send(link_, dealer, NULL, ASSAY_MDP_CLIENT, "assay.submit",
                        spec);
        json_decref(spec);
        d[k] = await_verb("dispatch", "a-0", &acks);
        cr_assert_not_null(d[k], "no dispatch of %s-0", specs[k]);
        json_t *item = json_array_get(json_object_get(d[k], "jobs"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(item, "job")),
                         k ? "b-0" : "a-0");
        if (k == 0) { /* a-0 ends; its ack may ride on b-0's dispatch */
            json_t *res = json_pack(
                "{s:s, s:i, s:[{s:s, s:i, s:{s:s, s:s, s:[], s:{}}}]}", "id",
                "fake", "limit", 2, "results", "job", "a-0", "attempt", 1,
                "result", "status", "pass", "message", "ok", "findings",
                "data");
            assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO,
                            "result", res);
            json_decref(res);
        }
    }
    /* Alone, it comes at the next tick (50 ms): give it a second. */
    int64_t until = assay_now_ms() + 1000;
    while (!acks && assay_now_ms() < until)
        json_decref(await_verb("ack", "a-0", &acks));
    cr_expect_eq(acks, 1, "a-0 acknowledged %d times", acks);
    json_decref(d[0]);
    json_decref(d[1]);
    until = assay_now_ms() + 10000;
    while (submits_replied < 2 && assay_now_ms() < until)
        json_decref(await_verb("assay.submit", "a-0", &acks));
    cr_assert_eq(submits_replied, 2, "submit replies: %d", submits_replied);
    json_t *r = call("assay.job", json_pack("{s:s}", "id", "a-0"));
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(r, "job"), "state")),
                     "completed");
    json_decref(r);
}

/* acks_in_dispatch, when present, must be a bool: anything else and the
 * registration is refused with a log line, like any other bad field. */
Test(wire, registration_with_a_non_bool_acks_in_dispatch_is_refused)
{
    json_t *reg = json_pack("{s:s, s:i, s:{}, s:{s:[]}, s:s}", "id",
                            "stringy", "heartbeat_ms", 1000, "labels",
                            "catalog", "plugins", "acks_in_dispatch", "yes");
    cr_assert_eq(assay_link_send(rlink, rdealer, NULL, ASSAY_RUNTIME_PROTO,
                                 "register", reg),
                 0);
    json_decref(reg);
    cr_expect(cluster_log_has(&c.nodes[0],
                              "refused registration from stringy", 5000));
    json_t *r = call("assay.runtimes", json_object());
    size_t i;
    json_t *rt;
    json_array_foreach(json_object_get(r, "runtimes"), i, rt)
        cr_expect_str_neq(json_string_value(json_object_get(rt, "id")),
                          "stringy");
    json_decref(r);
}

/* A runtime id reaches log lines, file names and notify_command's
 * environment (ASSAY_RUNTIME): one that reads as a path or an option is
 * refused at registration, naming it, and never registered. */
Test(wire, runtime_ids_that_read_as_paths_or_options_are_refused)
{
    static const char *const ids[] = {"-rf", "..", ".", "_x"};
    for (size_t k = 0; k < sizeof ids / sizeof *ids; k++) {
        json_t *reg = json_pack("{s:s, s:i, s:{}, s:{s:[]}}", "id", ids[k],
                                "heartbeat_ms", 1000, "labels", "catalog",
                                "plugins");
        cr_assert_eq(assay_link_send(rlink, rdealer, NULL,
                                     ASSAY_RUNTIME_PROTO, "register", reg),
                     0);
        json_decref(reg);
        char line[64];
        snprintf(line, sizeof line, "refused registration from %s: bad id",
                 ids[k]);
        cr_expect(cluster_log_has(&c.nodes[0], line, 5000), "%s", ids[k]);
    }
    json_t *r = call("assay.runtimes", json_object());
    size_t i;
    json_t *rt;
    json_array_foreach(json_object_get(r, "runtimes"), i, rt)
        for (size_t k = 0; k < sizeof ids / sizeof *ids; k++)
            cr_expect_str_neq(json_string_value(json_object_get(rt, "id")),
                              ids[k]);
    json_decref(r);
}

/* A registration under an id the state has jobs running on lists the
 * attempts it still holds: a job it lists at another attempt than the
 * one running there is a lost attempt, requeued at once (not left
 * running until its lease expires), and its next attempt dispatched. */
Test(wire, reregistration_keeps_only_the_attempts_it_holds)
{
    fake f;
    fake_start(&f, "again");
    fake_grant(&f, 1, -1);
    submit("{\"id\": \"g\", \"action\": \"fake.run\", "
           "\"max_attempts\": 3, \"timeout_ms\": 600000}");
    fake_until_items(&f, f.dispatched, 1, "dispatch items");
    cr_assert_eq(item_int(f.dispatched, 0, "attempt"), 1);
    fake_register(&f, json_pack("[{s:s, s:i}]", "job", "g-0", "attempt", 7));
    /* No credit since it registered: the requeued job waits, queued. */
    json_t *j = NULL;
    for (int k = 0; k < 50; k++) {
        json_decref(j);
        j = job("g-0");
        if (!strcmp(jstr(j, "state"), "queued"))
            break;
        poll(NULL, 0, 100);
    }
    cr_expect_str_eq(jstr(j, "state"), "queued");
    cr_expect_str_eq(jstr(j, "reason"), "runtime restarted");
    json_decref(j);
    fake_grant(&f, 1, -1);
    fake_until_items(&f, f.dispatched, 2, "dispatch items");
    cr_expect_str_eq(item_str(f.dispatched, 1, "job"), "g-0");
    cr_expect_eq(item_int(f.dispatched, 1, "attempt"), 2);
    fake_stop(&f);
}

/* After a result for attempt 1 of `jid` was sent while attempt 2 runs on
 * runtime `rt`: it is acknowledged as stale, refused by the leader itself
 * and changes nothing; then attempt 2's result is recorded, once, and the
 * job's events were exactly queued, running 1, queued, running 2,
 * completed 2. */
static void expect_fenced_then_recorded(fake *f, assay_link *events,
                                        const char *jid, const char *rt)
{
    size_t n = json_array_size(f->acks);
    fake_until_items(f, f->acks, n + 1, "acks");
    cr_expect_str_eq(item_str(f->acks, n, "job"), jid);
    cr_expect_eq(item_int(f->acks, n, "attempt"), 1);
    cr_expect(json_is_true(json_object_get(json_array_get(f->acks, n),
                                           "stale")),
              "the result of attempt 1 was not refused");
    char line[160];
    snprintf(line, sizeof line,
             "ignored result for %s attempt 1 from %s (job running)", jid,
             rt);
    cr_expect(cluster_log_has(&c.nodes[0], line, 5000),
              "the leader did not refuse the result of attempt 1 itself");
    json_t *j = job(jid);
    cr_expect_str_eq(jstr(j, "state"), "running");
    cr_expect_eq(json_integer_value(json_object_get(j, "attempt")), 2);
    cr_expect_null(json_object_get(j, "result"));
    json_decref(j);

    fake_result(f, jid, 2, "attempt 2", false);
    fake_until_items(f, f->acks, n + 2, "acks");
    cr_expect_eq(item_int(f->acks, n + 1, "attempt"), 2);
    cr_expect_not(json_is_true(json_object_get(json_array_get(f->acks, n + 1),
                                               "stale")),
                  "the result of attempt 2 was refused");
    char seen[512];
    json_t *done;
    job_events(events, jid, "job.completed", seen, sizeof seen, &done);
    cr_expect_str_eq(seen,
                     "job.queued:0 job.running:1 job.queued:1 "
                     "job.running:2 job.completed:2");
    cr_expect_str_eq(jstr(json_object_get(done, "result"), "message"),
                     "attempt 2");
    json_decref(done);
    j = job(jid);
    cr_expect_str_eq(jstr(j, "state"), "completed");
    cr_expect_eq(json_integer_value(json_object_get(j, "attempt")), 2);
    cr_expect_str_eq(jstr(json_object_get(j, "result"), "message"),
                     "attempt 2");
    json_decref(j);
}

/* Invariant 2 at the leader: attempt 1 of f-0 is reported lost, attempt 2
 * goes to the same runtime, and then a result for attempt 1 arrives (a
 * late copy). Only the leader's attempt comparison (core/member/sessions.c,
 * s_on_result) refuses it: the job, the runtime and the session are all
 * the current ones. It is acknowledged stale at once and changes nothing;
 * the result of attempt 2 is then recorded, once. */
Test(wire, late_result_of_a_lost_attempt_is_fenced_while_the_retry_runs)
{
    assay_link *events = subscribe_jobs();
    fake f;
    fake_start(&f, "fence");
    fake_grant(&f, 2, -1);
    submit("{\"id\": \"f\", \"action\": \"fake.run\", \"max_attempts\": 3}");
    fake_until_items(&f, f.dispatched, 1, "dispatch items");
    cr_assert_str_eq(item_str(f.dispatched, 0, "job"), "f-0");
    cr_assert_eq(item_int(f.dispatched, 0, "attempt"), 1);

    fake_result(&f, "f-0", 1, "crashed", true); /* attempt 1 is lost */
    fake_until_items(&f, f.dispatched, 2, "dispatch items");
    cr_assert_str_eq(item_str(f.dispatched, 1, "job"), "f-0");
    cr_assert_eq(item_int(f.dispatched, 1, "attempt"), 2);
    fake_until_items(&f, f.acks, 1, "acks");
    cr_expect_eq(item_int(f.acks, 0, "attempt"), 1);
    cr_expect_not(json_is_true(json_object_get(json_array_get(f.acks, 0),
                                               "stale")));

    fake_result(&f, "f-0", 1, "late", false); /* attempt 1 again, too late */
    expect_fenced_then_recorded(&f, events, "f-0", "fence");
    cr_expect_eq(json_array_size(f.dispatched), 2);
    fake_stop(&f);
    assay_link_destroy(&events);
}

/* The same after a lease expiry, the way a slow runtime meets it: the
 * leader gives attempt 1 up (cancel), dispatches attempt 2 to the same
 * runtime, and the result of attempt 1 that comes after is refused. The
 * lease is timeout_ms (1) + lease_grace_ms (5000): attempt 2's is renewed
 * by a heartbeat listing it, as a real runtime's heartbeats do. */
Test(wire, result_after_lease_expiry_is_fenced_while_the_retry_runs)
{
    assay_link *events = subscribe_jobs();
    fake f;
    fake_start(&f, "slow");
    fake_grant(&f, 2, -1);
    submit("{\"id\": \"l\", \"action\": \"fake.run\", \"max_attempts\": 2, "
           "\"timeout_ms\": 1}");
    fake_until_items(&f, f.dispatched, 1, "dispatch items");
    cr_assert_eq(item_int(f.dispatched, 0, "attempt"), 1);
    /* No answer: the lease of attempt 1 expires. */
    fake_until_items(&f, f.cancels, 1, "cancels");
    cr_expect_str_eq(item_str(f.cancels, 0, "job"), "l-0");
    cr_expect_eq(item_int(f.cancels, 0, "attempt"), 1);
    fake_until_items(&f, f.dispatched, 2, "dispatch items");
    cr_assert_str_eq(item_str(f.dispatched, 1, "job"), "l-0");
    cr_assert_eq(item_int(f.dispatched, 1, "attempt"), 2);
    int pulses = f.pulses;
    fake_send(&f, "heartbeat",
              json_pack("{s:i, s:[{s:s, s:i}]}", "limit", 2, "running", "job",
                        "l-0", "attempt", 2));
    fake_until(&f, &f.pulses, pulses + 1, "pulses");

    fake_result(&f, "l-0", 1, "late", false);
    expect_fenced_then_recorded(&f, events, "l-0", "slow");
    fake_stop(&f);
    assay_link_destroy(&events);
}

/* Credit (docs/protocol.md#credit): a runtime that granted 3 receives 3
 * of 10 queued jobs, and its credit shows 0; one more grant brings
 * exactly one more (a plan sends all it picked for a runtime in one
 * message, so a plan that ignored what it had sent would show here as
 * several); results with a grant of 10 bring the rest, each job once. */
Test(wire, runtime_never_receives_more_jobs_than_its_credit)
{
    fake f;
    fake_start(&f, "credit");
    fake_grant(&f, 3, -1);
    submit("{\"id\": \"k\", \"action\": \"fake.run\", \"targets\": [{}, {}, "
           "{}, {}, {}, {}, {}, {}, {}, {}]}");
    fake_until_items(&f, f.dispatched, 3, "dispatch items");
    cr_expect_eq(credit_of("credit"), 0);
    fake_grant(&f, 4, -1);
    fake_until_items(&f, f.dispatched, 4, "dispatch items");
    cr_expect_eq(json_array_size(f.dispatched), 4,
                 "%zu jobs sent on a credit of 4",
                 json_array_size(f.dispatched));
    cr_expect_eq(credit_of("credit"), 0);
    json_t *jobs = call("assay.jobs", json_pack("{s:s, s:s}", "spec", "k",
                                                "state", "running"));
    cr_expect_eq(json_integer_value(json_object_get(jobs, "total")), 4);
    json_decref(jobs);

    /* Results for the four, carrying a grant of 10 in this session. */
    json_t *items = json_array();
    for (size_t i = 0; i < 4; i++)
        json_array_append_new(
            items, json_pack("{s:s, s:I, s:{s:s, s:s, s:[], s:{}}}", "job",
                             item_str(f.dispatched, i, "job"), "attempt",
                             item_int(f.dispatched, i, "attempt"), "result",
                             "status", "pass", "message", "ok", "findings",
                             "data"));
    fake_send(&f, "result",
              json_pack("{s:i, s:o}", "limit", 10, "results", items));
    fake_until_items(&f, f.dispatched, 10, "dispatch items");
    fake_until_items(&f, f.acks, 4, "acks");
    cr_expect_eq(credit_of("credit"), 0);
    cr_expect_eq(json_array_size(f.dispatched), 10);
    bool seen[10] = {false};
    for (size_t i = 0; i < json_array_size(f.dispatched); i++) {
        int k = -1;
        const char *id = item_str(f.dispatched, i, "job");
        cr_assert(sscanf(id, "k-%d", &k) == 1 && k >= 0 && k < 10, "%s", id);
        cr_expect_not(seen[k], "%s dispatched twice", id);
        cr_expect_eq(item_int(f.dispatched, i, "attempt"), 1);
        cr_expect_str_eq(item_str(f.dispatched, i, "action"), "fake.run");
        cr_expect_str_eq(item_str(f.dispatched, i, "version"), "1.0.0");
        seen[k] = true;
    }
    fake_stop(&f);
}

/* Highest priority first, first-in first-out within one: jobs of five
 * JobSpecs submitted in a mixed order come out, one grant at a time, in
 * (priority, submission) order. */
Test(wire, dispatch_follows_priority_then_submission_order)
{
    fake f;
    fake_start(&f, "order");
    submit("{\"id\": \"low\", \"action\": \"fake.run\", \"targets\": [{}, "
           "{}]}");
    submit("{\"id\": \"high\", \"action\": \"fake.run\", \"priority\": 10, "
           "\"targets\": [{}, {}]}");
    submit("{\"id\": \"neg\", \"action\": \"fake.run\", \"priority\": -5}");
    submit("{\"id\": \"mid\", \"action\": \"fake.run\", \"priority\": 5}");
    submit("{\"id\": \"low2\", \"action\": \"fake.run\"}");
    submit("{\"id\": \"high2\", \"action\": \"fake.run\", \"priority\": 10}");
    static const char *const want[] = {"high-0", "high-1", "high2-0", "mid-0",
                                       "low-0",  "low-1",  "low2-0",  "neg-0"};
    enum { N = sizeof want / sizeof *want };
    for (int k = 0; k < N; k++) {
        fake_grant(&f, k + 1, -1);
        fake_until_items(&f, f.dispatched, (size_t)k + 1, "dispatch items");
        cr_expect_eq(json_array_size(f.dispatched), (size_t)k + 1);
    }
    for (int k = 0; k < N; k++)
        cr_expect_str_eq(item_str(f.dispatched, (size_t)k, "job"), want[k],
                         "dispatch %d", k);
    fake_stop(&f);
}

/* resources.memory_mb filters runtimes by their last mem_available_mb:
 * "small" (100 MB, the most credit) gets none of the 500 MB jobs, which
 * all go to "big" (1000 MB); a 5000 MB job fits nowhere and stays queued
 * without holding back the job submitted after it, which goes to small. */
Test(wire, memory_requirement_keeps_jobs_off_runtimes_short_of_it)
{
    fake small, big;
    fake_start(&small, "small");
    fake_start(&big, "big");
    fake_grant(&small, 10, 100);
    fake_grant(&big, 4, 1000);
    submit("{\"id\": \"heavy\", \"action\": \"fake.run\", \"resources\": "
           "{\"memory_mb\": 500}, \"targets\": [{}, {}, {}, {}]}");
    submit("{\"id\": \"huge\", \"action\": \"fake.run\", \"resources\": "
           "{\"memory_mb\": 5000}}");
    submit("{\"id\": \"light\", \"action\": \"fake.run\"}");
    fake_until_items(&big, big.dispatched, 4, "dispatch items");
    fake_until_items(&small, small.dispatched, 1, "dispatch items");
    for (size_t i = 0; i < 4; i++)
        cr_expect(!strncmp(item_str(big.dispatched, i, "job"), "heavy-", 6),
                  "big got %s", item_str(big.dispatched, i, "job"));
    cr_expect_str_eq(item_str(small.dispatched, 0, "job"), "light-0");
    json_t *r = call("assay.job", json_pack("{s:s}", "id", "heavy"));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r, "jobs"), i, it) {
        cr_expect_str_eq(jstr(it, "state"), "running", "%s", jstr(it, "id"));
        cr_expect_str_eq(jstr(it, "runtime"), "big", "%s", jstr(it, "id"));
    }
    json_decref(r);
    json_t *j = job("huge-0");
    cr_expect_str_eq(jstr(j, "state"), "queued");
    cr_expect_eq(json_integer_value(json_object_get(j, "attempt")), 0);
    json_decref(j);
    cr_expect_eq(json_array_size(big.dispatched), 4);
    cr_expect_eq(json_array_size(small.dispatched), 1);
    fake_stop(&small);
    fake_stop(&big);
}

/* A result nested deeper than a snapshot could hold it (a result sits five
 * levels down there) is recorded as an error, not as sent: one such
 * result must not make every later snapshot undecodable. */
Test(wire, result_nested_too_deep_is_recorded_as_an_error)
{
    fake f;
    fake_start(&f, "deep");
    fake_grant(&f, 1, -1);
    submit("{\"id\": \"deep\", \"action\": \"fake.run\"}");
    fake_until_items(&f, f.dispatched, 1, "dispatch items");
    json_t *data = json_object();
    for (int i = 0; i < 27; i++)
        data = json_pack("{s:o}", "x", data);
    fake_send(&f, "result",
              json_pack("{s:[{s:s, s:i, s:{s:s, s:s, s:[], s:o}}]}",
                        "results", "job", "deep-0", "attempt", 1, "result",
                        "status", "pass", "message", "deep", "findings",
                        "data", data));
    fake_until_items(&f, f.acks, 1, "acks");
    json_t *j = job("deep-0");
    const json_t *res = json_object_get(j, "result");
    cr_expect_str_eq(jstr(j, "state"), "completed");
    cr_expect_str_eq(jstr(res, "status"), "error");
    cr_expect_str_eq(jstr(res, "reason"), "result too deep");
    json_decref(j);
    fake_stop(&f);
}

/* assay.cluster upgrade: a level that is not an integer from 1, or above
 * what the leader speaks, is refused naming the range; one the cluster is
 * already at changes nothing and answers with the status. (A new cluster
 * of this build starts at the level it speaks.) */
Test(wire, bad_cluster_upgrades_are_refused)
{
    expect_error(call("assay.cluster", json_pack("{s:s}", "op", "upgrade")),
                 "ASSAY_EINVAL", "level must be an integer from 1");
    expect_error(call("assay.cluster",
                      json_pack("{s:s, s:s}", "op", "upgrade", "level", "2")),
                 "ASSAY_EINVAL", "level must be an integer from 1");
    expect_error(call("assay.cluster",
                      json_pack("{s:s, s:i}", "op", "upgrade", "level", 0)),
                 "ASSAY_EINVAL", "level must be an integer from 1");
    expect_error(call("assay.cluster",
                      json_pack("{s:s, s:i}", "op", "upgrade", "level", 99)),
                 "ASSAY_EUNSUPP", "what the leader speaks");
    json_t *r = call("assay.cluster",
                     json_pack("{s:s, s:i}", "op", "upgrade", "level", 1));
    cr_expect(json_is_true(json_object_get(r, "ok")));
    cr_expect_eq(json_integer_value(json_object_get(r, "level")),
                 json_integer_value(json_object_get(r, "speaks")));
    json_decref(r);
}

/* assay.jobs answers in bounded pages: at most 1000 jobs (a larger limit
 * too), with a `next` cursor while more may match; following the cursors
 * lists every job once, in submission order. A cursor that names no job
 * held is refused. */
Test(wire, jobs_come_in_bounded_pages_with_a_cursor)
{
    fake f;
    fake_start(&f, "pages"); /* offers fake.run; grants no credit */
    enum { N = 2500 };
    size_t cap = 64 + 3 * N;
    char *spec = malloc(cap);
    cr_assert_not_null(spec);
    size_t l = (size_t)snprintf(spec, cap, "{\"id\": \"pg\", \"action\": "
                                          "\"fake.run\", \"targets\": [");
    for (int i = 0; i < N; i++)
        l += (size_t)snprintf(spec + l, cap - l, "%s{}", i ? "," : "");
    snprintf(spec + l, cap - l, "]}");
    submit(spec);
    free(spec);

    json_t *r = call("assay.jobs", json_pack("{s:i}", "limit", 100000));
    cr_expect_eq(json_array_size(json_object_get(r, "jobs")), 1000);
    cr_expect_eq(json_integer_value(json_object_get(r, "total")), N);
    cr_expect(json_is_string(json_object_get(r, "next")));
    json_decref(r);

    char after[128] = "";
    int seen = 0, pages = 0;
    for (; pages < 10; pages++) {
        json_t *q = json_pack("{s:s, s:s, s:i}", "spec", "pg", "state",
                              "queued", "limit", 1000);
        if (*after)
            json_object_set_new(q, "after", json_string(after));
        r = call("assay.jobs", q);
        cr_expect_eq(json_integer_value(json_object_get(r, "total")), N);
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(r, "jobs"), i, j) {
            char want[32];
            snprintf(want, sizeof want, "pg-%d", seen++);
            cr_expect_str_eq(json_string_value(json_object_get(j, "id")),
                             want);
        }
        const char *next = json_string_value(json_object_get(r, "next"));
        snprintf(after, sizeof after, "%s", next ? next : "");
        json_decref(r);
        if (!*after)
            break;
    }
    cr_expect_eq(seen, N);
    cr_expect_eq(pages, 2, "%d pages after the first", pages);

    expect_error(call("assay.jobs", json_pack("{s:s}", "after", "nope-0")),
                 "ASSAY_ENOENT", "after: job 'nope-0' is not held");
    expect_error(call("assay.jobs", json_pack("{s:i}", "after", 3)),
                 "ASSAY_ETYPE", "after must be strings");
    expect_error(call("assay.jobs", json_pack("{s:s, s:s}", "spec", "other",
                                              "after", "pg-0")),
                 "ASSAY_EINVAL", "after: job 'pg-0' is not of JobSpec 'other'");
    fake_stop(&f);
}

/* Writes all of buf, unless the member dropped the connection already (a
 * CURVE member drops a NULL peer at its greeting). */
static void s_write(int fd, const void *buf, size_t n)
{
    ssize_t w = write(fd, buf, n);
    cr_assert(w == (ssize_t)n || (w < 0 && (errno == EPIPE ||
                                            errno == ECONNRESET)),
              "write: %s", strerror(errno));
}

/* A raw ZMTP 3.0 peer (NULL mechanism) of `type` ("SUB", "DEALER") on
 * the member's tcp://127.0.0.1:PORT endpoint `ep` (a CURVE member drops it
 * at the handshake). */
static int s_zmtp_connect(const char *ep, const char *type)
{
    int port = 0;
    cr_assert_eq(sscanf(ep, "tcp://127.0.0.1:%d", &port), 1, "%s", ep);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    unsigned char greet[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0,
                               'N', 'U', 'L', 'L'};
    s_write(fd, greet, sizeof greet);
    unsigned char ready[64];
    size_t tl = strlen(type), n = 0;
    ready[n++] = 0x04; /* command, short */
    ready[n++] = (unsigned char)(6 + 1 + 11 + 4 + tl);
    memcpy(ready + n, "\x05READY", 6);
    n += 6;
    ready[n++] = 11;
    memcpy(ready + n, "Socket-Type", 11);
    n += 11;
    ready[n++] = 0;
    ready[n++] = 0;
    ready[n++] = 0;
    ready[n++] = (unsigned char)tl;
    memcpy(ready + n, type, tl);
    n += tl;
    s_write(fd, ready, n);
    return fd;
}

/* Reads and discards until the member closes the connection (true), or
 * timeout_ms passes (false). */
static bool s_closed_by_peer(int fd, int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    char buf[4096];
    for (;;) {
        int64_t left = deadline - assay_now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t got = read(fd, buf, sizeof buf);
        if (got <= 0)
            return true;
    }
}

/* A raw peer that skips CURVE and sends a frame declared at 1 GiB is
 * dropped on every socket (the events one too: a subscriber's
 * subscription is a frame the member reads), before any of it is
 * buffered, and the member goes on serving. Under CURVE it is dropped at
 * the handshake already; an authenticated peer's oversized frame is
 * refused by the size bound every link sets (test_zmq). Writes to the
 * dropped connection must not kill the test: SIGPIPE is ignored. */
Test(wire, oversized_frames_drop_the_connection_on_every_socket)
{
    signal(SIGPIPE, SIG_IGN);
    const char *eps[] = {c.events, c.endpoint};
    const char *types[] = {"SUB", "DEALER"};
    for (int k = 0; k < 2; k++) {
        int fd = s_zmtp_connect(eps[k], types[k]);
        unsigned char hdr[9] = {0x02, 0, 0, 0, 0, 0x40, 0, 0, 0}; /* 1 GiB */
        s_write(fd, hdr, sizeof hdr);
        static char chunk[64 << 10];
        (void)!write(fd, chunk, sizeof chunk);
        cr_expect(s_closed_by_peer(fd, 5000),
                  "%s: a 1 GiB frame was not refused", eps[k]);
        close(fd);
    }
    expect_no_jobs(); /* still serving */
}
