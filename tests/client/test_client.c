/* tests/client/test_client.c - libassay-client (assay/client.h) against
 * real members on 127.0.0.1: synchronous calls and events, asynchronous
 * requests matched to their replies, redirects to the leader, silent
 * members, an outside loop on the client's descriptor, and bad input.
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <assay/client.h>

#include "base/clock.h"
#include "cluster.h"
#include "harness.h"

#define WAIT_MS 10000

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(client, .fini = teardown, .timeout = 240);

/* A client of `endpoints` and `events` (either may be NULL). */
static assay_client *open_client(const char *endpoints, const char *events,
                                 int64_t timeout_ms)
{
    assay_client_opts o = ASSAY_CLIENT_OPTS_INIT;
    o.endpoints = endpoints;
    o.events = events;
    o.timeout_ms = timeout_ms;
    assay_client *cl = NULL;
    char err[512];
    cr_assert_eq(assay_client_new(&o, &cl, err, sizeof err), 0, "%s", err);
    return cl;
}

/* A client of a port nobody listens on (`events`: its event stream
 * instead), where no cluster made keys: plain (it tests what happens
 * before or without an answer). */
static assay_client *open_nowhere(const char *events)
{
    assay_client_opts o = ASSAY_CLIENT_OPTS_INIT;
    o.endpoints = events ? NULL : "tcp://127.0.0.1:1";
    o.events = events;
    o.timeout_ms = 60000;
    o.security = ASSAY_CLIENT_SECURITY_NONE;
    assay_client *cl = NULL;
    char err[512];
    cr_assert_eq(assay_client_new(&o, &cl, err, sizeof err), 0, "%s", err);
    return cl;
}

static json_t *spec(const char *json)
{
    json_error_t e;
    json_t *s = json_loads(json, 0, &e);
    cr_assert_not_null(s, "bad test JobSpec: %s", e.text);
    return s;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The next message, at most WAIT_MS away. */
static void next(assay_client *cl, assay_client_msg *m)
{
    *m = (assay_client_msg){.size = sizeof *m};
    cr_assert_eq(assay_client_next(cl, m, WAIT_MS), 1, "nothing came: %s",
                 assay_client_error(cl));
}

Test(client, synchronous_calls_and_events)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt1", NULL);
    assay_client *cl = open_client(c.endpoint, c.events, WAIT_MS);
    cr_assert_eq(assay_client_subscribe(cl, "job.completed"), 0);
    assay_client_msg m;
    next(cl, &m);
    cr_assert_eq(m.kind, ASSAY_CLIENT_LIVE);
    cr_assert_str_eq(m.endpoint, c.events);

    /* No id: the client gives one, and the reply names it. */
    json_t *s = spec("{\"action\": \"noop.pass\", \"targets\": [{}, {}, {}]}");
    json_t *r = NULL;
    cr_assert_eq(assay_client_submit(cl, s, &r), 0, "%s",
                 assay_client_error(cl));
    cr_assert_null(json_object_get(s, "id"), "the caller's JobSpec changed");
    json_decref(s);
    char id[65];
    snprintf(id, sizeof id, "%s", str(r, "spec"));
    cr_assert_eq(strlen(id), 24, "spec id '%s'", id);
    cr_assert_eq(json_array_size(json_object_get(r, "jobs")), 3);
    json_decref(r);

    const char *ids[] = {id};
    json_t *jobs = NULL;
    cr_assert_eq(assay_client_wait(cl, ids, 1, WAIT_MS, &jobs), 0, "%s",
                 assay_client_error(cl));
    cr_assert_eq(json_array_size(jobs), 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert_str_eq(str(json_array_get(jobs, i), "state"), "completed");
    json_decref(jobs);

    /* The events that came during the calls wait for assay_client_next. */
    for (int i = 0; i < 3; i++) {
        next(cl, &m);
        cr_assert_eq(m.kind, ASSAY_CLIENT_EVENT);
        cr_assert_str_eq(m.name, "job.completed");
        cr_assert_str_eq(str(m.body, "spec"), id);
    }

    json_t *filter = json_pack("{s:s}", "spec", id);
    cr_assert_eq(assay_client_jobs(cl, filter, &r), 0);
    json_decref(filter);
    cr_assert_eq(json_integer_value(json_object_get(r, "total")), 3);
    json_decref(r);
    cr_assert_eq(assay_client_job(cl, "nope", &r), ASSAY_ENOENT);
    cr_assert_str_eq(str(r, "error"), "ASSAY_ENOENT");
    cr_assert(strstr(assay_client_error(cl), "assay.job: no job or JobSpec "
                                             "'nope' (ASSAY_ENOENT)"),
              "%s", assay_client_error(cl));
    json_decref(r);
    const char *cancel[] = {id, "ghost"};
    cr_assert_eq(assay_client_cancel(cl, cancel, 2, &r), 0);
    cr_assert_eq(json_array_size(json_object_get(r, "cancelled")), 0);
    cr_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(r, "unknown"), 0)),
                     "ghost");
    json_decref(r);
    assay_client_destroy(&cl);
    cr_assert_null(cl);
}

/* Requests in flight on one socket, answered out of order: a refusal
 * answered at once overtakes a submission waiting for its commit, and
 * each reply still reaches its own ticket. Driven the way an outside loop
 * would: poll() on the client's descriptor and its timeout. */
Test(client, replies_reach_their_own_tickets)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt1", NULL);
    assay_client *cl = open_client(c.endpoint, NULL, WAIT_MS);
    const char *specs[] = {
        "{\"id\": \"a\", \"action\": \"noop.pass\"}",
        "{\"id\": \"b\", \"action\": \"nope.pass\"}",
        "{\"id\": \"c\", \"action\": \"noop.pass\"}",
    };
    uint64_t t[4];
    for (int i = 0; i < 3; i++) {
        json_t *s = spec(specs[i]);
        cr_assert_eq(assay_client_send(cl, "assay.submit", s, &t[i]), 0);
        json_decref(s);
    }
    cr_assert_eq(assay_client_send(cl, "assay.runtimes", NULL, &t[3]), 0);
    int status[4], got = 0;
    bool seen[4] = {false};
    int64_t until = assay_now_ms() + WAIT_MS;
    while (got < 4) {
        int64_t left = until - assay_now_ms();
        cr_assert_gt(left, 0, "only %d replies", got);
        int64_t t_ms = assay_client_timeout(cl);
        struct pollfd p = {assay_client_fd(cl), POLLIN, 0};
        poll(&p, 1, (int)(t_ms >= 0 && t_ms < left ? t_ms : left));
        assay_client_msg m = {.size = sizeof m};
        while (assay_client_next(cl, &m, 0) == 1) {
            cr_assert_eq(m.kind, ASSAY_CLIENT_REPLY);
            int k = 0;
            while (k < 4 && t[k] != m.ticket)
                k++;
            cr_assert_lt(k, 4, "unknown ticket %llu",
                         (unsigned long long)m.ticket);
            cr_assert_not(seen[k], "ticket %d answered twice", k);
            seen[k] = true;
            status[k] = m.status;
            if (k < 3)
                cr_assert_str_eq(str(m.body, "spec"), k == 0   ? "a"
                                                      : k == 1 ? "b"
                                                               : "c");
            got++;
        }
    }
    cr_assert_eq(status[0], 0);
    cr_assert_eq(status[1], ASSAY_ENOENT);
    cr_assert_eq(status[2], 0);
    cr_assert_eq(status[3], 0);
    assay_client_destroy(&cl);
}

/* Given a follower alone, the client finds the leader by its redirect. */
Test(client, follows_the_leader)
{
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    int leader = cluster_leader(&c, WAIT_MS);
    cr_assert_gt(leader, 0, "no leader");
    int follower = leader % 3 + 1;
    assay_client *cl = open_client(c.member_ep[follower], NULL, WAIT_MS);
    json_t *s = spec("{\"id\": \"r\", \"action\": \"noop.pass\"}");
    json_t *r = NULL;
    cr_assert_eq(assay_client_submit(cl, s, &r), 0, "%s",
                 assay_client_error(cl));
    cr_assert_str_eq(str(r, "spec"), "r");
    json_decref(r);
    json_decref(s);
    const char *ids[] = {"r"};
    cr_assert_eq(assay_client_wait(cl, ids, 1, WAIT_MS, NULL), 0, "%s",
                 assay_client_error(cl));
    assay_client_destroy(&cl);
}

/* A member that never answers: alone, the call times out naming it;
 * listed before a live one, it is left for that one. */
Test(client, silent_members)
{
    char silent[64], both[512];
    snprintf(silent, sizeof silent, "tcp://127.0.0.1:%d", harness_port());
    assay_client *cl = open_client(silent, NULL, 300);
    json_t *r = NULL;
    cr_assert_eq(assay_client_call(cl, "assay.runtimes", NULL, &r),
                 ASSAY_ETIMEOUT);
    cr_assert_null(r);
    char want[128];
    snprintf(want, sizeof want, "assay.runtimes: no answer from %s: timed "
                                "out", silent);
    cr_assert_str_eq(assay_client_error(cl), want);
    assay_client_destroy(&cl);

    cluster_start(&c, NULL);
    snprintf(both, sizeof both, "%s,%s", silent, c.endpoint);
    assay_client_opts o = ASSAY_CLIENT_OPTS_INIT;
    o.endpoints = both;
    o.timeout_ms = WAIT_MS;
    o.silence_ms = 200;
    char err[512];
    cr_assert_eq(assay_client_new(&o, &cl, err, sizeof err), 0, "%s", err);
    cr_assert_eq(assay_client_call(cl, "assay.runtimes", NULL, &r), 0, "%s",
                 assay_client_error(cl));
    cr_assert(json_is_array(json_object_get(r, "runtimes")));
    json_decref(r);
    assay_client_destroy(&cl);
}

static void refused_opts(assay_client_opts o, int code, const char *needle)
{
    assay_client *cl = (assay_client *)&o; /* must come back NULL */
    char err[512] = "";
    cr_assert_eq(assay_client_new(&o, &cl, err, sizeof err), code, "%s", err);
    cr_assert_null(cl);
    cr_assert(strstr(err, needle), "'%s' lacks '%s'", err, needle);
}

Test(client, bad_input_is_refused_and_sends_nothing)
{
    assay_client_opts o = ASSAY_CLIENT_OPTS_INIT;
    o.endpoints = "tcp://127.0.0.1:1";
    assay_client_opts bad = o;
    bad.abi = 2;
    refused_opts(bad, ASSAY_EABI, "rebuild against its header");
    bad = o;
    bad.size = 8;
    refused_opts(bad, ASSAY_EABI, "size 8");
    bad = o;
    bad.endpoints = "a,b,c,d,e,f,g,h,i";
    refused_opts(bad, ASSAY_EINVAL, "endpoints: at most 8");
    char longest[400];
    memset(longest, 'x', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    bad.endpoints = longest;
    refused_opts(bad, ASSAY_EINVAL, "each under 256 bytes");
    bad.endpoints = " , ";
    refused_opts(bad, ASSAY_EINVAL, "no endpoint");
    bad = o;
    bad.timeout_ms = -1;
    refused_opts(bad, ASSAY_EINVAL, "must not be negative");
    bad = o;
    bad.security = 7;
    refused_opts(bad, ASSAY_EINVAL, "security: 7 is neither");
    /* Curve (the default) with no keys anywhere: the file is named. */
    bad = o;
    bad.keys_dir = "/nonexistent/keys";
    refused_opts(bad, ASSAY_ENOENT, "/nonexistent/keys/operator.key_secret");
    cr_assert_eq(assay_client_new(NULL, NULL, NULL, 0), ASSAY_EINVAL);

    /* A client of a port nobody listens on: every refusal below is made
     * before anything is sent (a sent request would time out instead). */
    assay_client *cl = open_nowhere(NULL);
    uint64_t t;
    char service[80];
    memset(service, 's', 64);
    service[64] = '\0';
    cr_assert_eq(assay_client_send(cl, service, NULL, &t), ASSAY_EINVAL);
    cr_assert_eq(assay_client_send(cl, "", NULL, &t), ASSAY_EINVAL);
    cr_assert_eq(assay_client_send(cl, NULL, NULL, &t), ASSAY_EINVAL);
    json_t *arr = json_array();
    cr_assert_eq(assay_client_send(cl, "assay.jobs", arr, &t), ASSAY_EINVAL);
    cr_assert(strstr(assay_client_error(cl), "must be a JSON object"));
    cr_assert_eq(assay_client_submit(cl, arr, NULL), ASSAY_EINVAL);
    json_decref(arr);
    json_t *s = spec("{\"id\": 7, \"action\": \"noop.pass\"}");
    cr_assert_eq(assay_client_submit(cl, s, NULL), ASSAY_EINVAL);
    cr_assert(strstr(assay_client_error(cl), "id must be a string"));
    json_decref(s);
    cr_assert_eq(assay_client_job(cl, NULL, NULL), ASSAY_EINVAL);
    cr_assert_eq(assay_client_cancel(cl, NULL, 0, NULL), ASSAY_EINVAL);
    const char *holes[] = {"a", NULL};
    cr_assert_eq(assay_client_cancel(cl, holes, 2, NULL), ASSAY_EINVAL);
    cr_assert(strstr(assay_client_error(cl), "id 1 is NULL"));
    cr_assert_eq(assay_client_wait(cl, NULL, 0, 0, NULL), ASSAY_EINVAL);
    cr_assert_eq(assay_client_subscribe(cl, "job."), ASSAY_EINVAL);
    cr_assert(strstr(assay_client_error(cl), "no events endpoint"));
    assay_client_msg m = {.size = 0};
    cr_assert_eq(assay_client_next(cl, &m, 0), ASSAY_EINVAL);
    /* Nothing is in flight: no timeout pending, nothing to take. */
    cr_assert_eq(assay_client_timeout(cl), -1);
    m.size = sizeof m;
    cr_assert_eq(assay_client_next(cl, &m, 0), 0);
    assay_client_destroy(&cl);

    /* Every prefix comes before the first look at the stream. */
    cl = open_nowhere("tcp://127.0.0.1:1");
    cr_assert_eq(assay_client_subscribe(cl, "job."), 0);
    cr_assert_eq(assay_client_next(cl, &m, 0), 0);
    cr_assert_eq(assay_client_subscribe(cl, "runtime."), ASSAY_EBUSY);
    cr_assert_eq(assay_client_call(cl, "assay.runtimes", NULL, NULL),
                 ASSAY_EINVAL);
    cr_assert(strstr(assay_client_error(cl), "no control endpoint"));
    assay_client_destroy(&cl);
    assay_client_destroy(&cl); /* twice: a no-op */
}

/* An abandoned request's reply is taken by it, not by the next request of
 * its service: MDP replies carry no request id. */
Test(client, an_abandoned_request_keeps_its_reply)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt1", NULL);
    assay_client *cl = open_client(c.endpoint, NULL, WAIT_MS);
    json_t *s = spec("{\"id\": \"held\", \"action\": \"noop.pass\"}");
    cr_assert_eq(assay_client_submit(cl, s, NULL), 0, "%s",
                 assay_client_error(cl));
    json_decref(s);
    json_t *q1 = json_pack("{s:s}", "id", "nope"),
           *q2 = json_pack("{s:s}", "id", "held-0");
    uint64_t t1, t2;
    cr_assert_eq(assay_client_send(cl, "assay.job", q1, &t1), 0);
    cr_assert_eq(assay_client_abandon(cl, t1), 0);
    cr_assert_eq(assay_client_abandon(cl, t1), ASSAY_ENOENT);
    cr_assert_eq(assay_client_send(cl, "assay.job", q2, &t2), 0);
    assay_client_msg m;
    next(cl, &m);
    cr_assert_eq(m.ticket, t2, "the abandoned request's reply was handed out");
    cr_assert_eq(m.status, 0);
    cr_assert_str_eq(str(json_object_get(m.body, "job"), "id"), "held-0");
    /* Abandoned before its reply is taken: never handed out. */
    uint64_t t3;
    cr_assert_eq(assay_client_send(cl, "assay.job", q2, &t3), 0);
    cr_assert_eq(assay_client_abandon(cl, t3), 0);
    m = (assay_client_msg){.size = sizeof m};
    cr_assert_eq(assay_client_next(cl, &m, 500), 0);
    json_decref(q1);
    json_decref(q2);
    assay_client_destroy(&cl);
}

static void *interrupt_later(void *arg)
{
    harness_sleep_ms(200);
    assay_client_interrupt(arg);
    return NULL;
}

/* assay_client_interrupt ends a wait that nothing else would end (a job
 * no runtime takes, no time bound), from another thread or ahead of it;
 * the client goes on working. */
Test(client, an_interrupt_ends_a_wait)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt1", NULL);
    assay_client *cl = open_client(c.endpoint, NULL, WAIT_MS);
    /* No runtime has this label: the job stays queued. */
    json_t *s = spec("{\"id\": \"stuck\", \"action\": \"noop.pass\", "
                     "\"selector\": {\"zone\": \"nowhere\"}}");
    cr_assert_eq(assay_client_submit(cl, s, NULL), 0, "%s",
                 assay_client_error(cl));
    json_decref(s);
    const char *ids[] = {"stuck"};
    cr_assert_eq(assay_client_interrupt(cl), 0);
    cr_assert_eq(assay_client_interrupt(cl), 0); /* counted once */
    cr_assert_eq(assay_client_wait(cl, ids, 1, 0, NULL), ASSAY_ECANCELLED);
    cr_assert(strstr(assay_client_error(cl), "interrupted"), "%s",
              assay_client_error(cl));

    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, interrupt_later, cl), 0);
    int rc = assay_client_wait(cl, ids, 1, 0, NULL);
    pthread_join(th, NULL);
    cr_assert_eq(rc, ASSAY_ECANCELLED, "%s", assay_client_error(cl));

    assay_client_msg m = {.size = sizeof m};
    cr_assert_eq(assay_client_interrupt(cl), 0);
    cr_assert_eq(assay_client_next(cl, &m, -1), ASSAY_ECANCELLED);
    json_t *r = NULL;
    cr_assert_eq(assay_client_job(cl, "stuck", &r), 0, "%s",
                 assay_client_error(cl));
    json_decref(r);
    assay_client_destroy(&cl);

    /* A call to a member that never answers, with a minute's budget. */
    cl = open_nowhere(NULL);
    cr_assert_eq(pthread_create(&th, NULL, interrupt_later, cl), 0);
    rc = assay_client_call(cl, "assay.runtimes", NULL, NULL);
    pthread_join(th, NULL);
    cr_assert_eq(rc, ASSAY_ECANCELLED, "%s", assay_client_error(cl));
    cr_assert_eq(assay_client_timeout(cl), -1, "the request was kept");
    assay_client_destroy(&cl);
}

/* A request's budget is the one set when it was sent. */
Test(client, a_timeout_set_applies_to_later_requests)
{
    assay_client *cl = open_nowhere(NULL);
    uint64_t t1, t2;
    cr_assert_eq(assay_client_send(cl, "assay.runtimes", NULL, &t1), 0);
    cr_assert_gt(assay_client_timeout(cl), 1000);
    cr_assert_eq(assay_client_set_timeout(cl, -5), ASSAY_EINVAL);
    cr_assert_eq(assay_client_set_timeout(cl, 200), 0);
    cr_assert_eq(assay_client_send(cl, "assay.runtimes", NULL, &t2), 0);
    cr_assert_leq(assay_client_timeout(cl), 200);
    assay_client_msg m;
    next(cl, &m);
    cr_assert_eq(m.ticket, t2);
    cr_assert_eq(m.status, ASSAY_ETIMEOUT);
    /* 0: back to the options' budget. */
    cr_assert_eq(assay_client_set_timeout(cl, 0), 0);
    cr_assert_eq(assay_client_abandon(cl, t1), 0);
    cr_assert_eq(assay_client_send(cl, "assay.runtimes", NULL, &t1), 0);
    cr_assert_gt(assay_client_timeout(cl), 1000);
    assay_client_destroy(&cl);
}
