/* tests/integration/test_wire.c - hostile and malformed input on the wire:
 * every case gets a clear error reply or is dropped with a log line, and
 * changes nothing; the member keeps serving. A raw client (assay_link) is
 * used so that frames can be wrong in every way. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster.h"
#include "harness.h"
#include "link.h"

/* ---- Fixture ---------------------------------------------------------- */

static cluster c;
static assay_link *link_;
static int dealer;

static void setup(void)
{
    cluster_start(&c, "--set max_message_kb=64");
    cluster_runtime(&c, "rt1", NULL);
    char err[512];
    cr_assert_eq(assay_link_new(NULL, "zmq", NULL, 1u << 20, &link_, err,
                                sizeof err),
                 0, "%s", err);
    dealer = assay_link_open(link_, ASSAY_LINK_CLIENT, c.endpoint, err,
                             sizeof err);
    cr_assert_geq(dealer, 0, "%s", err);
}

static void teardown(void)
{
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
    cr_assert_eq(assay_link_send_text(link_, dealer, NULL, frames[1],
                                      frames[2], body),
                 0);
}

/* Waits (bounded) for one reply; NULL if none came in timeout_ms. */
static json_t *reply(int timeout_ms, char *verb, size_t verblen)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        assay_link_msg m;
        char err[512];
        int rc = assay_link_recv(link_, &m, err, sizeof err);
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
        struct pollfd p = {assay_link_fd(link_), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

static json_t *call(const char *service, json_t *body)
{
    cr_assert_eq(assay_link_send(link_, dealer, NULL, ASSAY_MDP_CLIENT,
                                 service, body),
                 0);
    json_decref(body);
    json_t *r = reply(10000, NULL, 0);
    cr_assert_not_null(r, "no reply to %s", service);
    return r;
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
    cr_expect_null(reply(1000, NULL, 0), "an oversized request was served");
    /* The member still answers (the client reconnects by itself). */
    json_t *r = call("assay.runtimes", json_object());
    cr_expect(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    expect_no_jobs();
}

/* Registers the raw client link as a runtime "impostor" with no plugins. */
static void register_impostor(void)
{
    json_t *reg = json_pack("{s:s, s:i, s:{}, s:{s:[]}}", "id", "impostor",
                            "heartbeat_ms", 1000, "labels", "catalog",
                            "plugins");
    cr_assert_eq(assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO,
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
        cr_assert_eq(assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO,
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
    assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO, "result", res);
    json_decref(res);
    json_decref(reply(10000, verb, sizeof verb));
    json_t *garbage = json_pack("{s:s, s:i, s:{}, s:{s:[{s:i}]}}", "id",
                                "bad id!", "heartbeat_ms", 0, "labels",
                                "catalog", "plugins", "name", 3);
    assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO, "register",
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
    cr_assert_eq(assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO,
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
    cr_assert_eq(assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO,
                                 "register", reg),
                 0);
    json_decref(reg);
    int acks = 0;
    json_decref(await_verb("registered", "a-0", &acks));
    json_t *hb = json_pack("{s:s, s:i}", "id", "fake", "limit", 2);
    assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO, "heartbeat", hb);
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
            assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO,
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
    cr_assert_eq(assay_link_send(link_, dealer, NULL, ASSAY_RUNTIME_PROTO,
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
