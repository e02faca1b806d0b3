/* tests/integration/test_metrics.c - metrics_listen with real processes:
 * a member's and a runtime's /metrics parsed by a real Prometheus parser
 * (tests/integration/metrics_probe.py, python3-prometheus-client) with
 * the values the jobs run should give; bad HTTP answered with its status;
 * a thousand idle connections leave the data path working; a port in use
 * or an address that is none is a startup error naming metrics_listen.
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "cluster.h"
#include "harness.h"

#define WAIT_MS 20000
#define PROBE "/usr/bin/python3 " ASSAY_SOURCE_DIR \
              "/tests/integration/metrics_probe.py"

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(metrics, .fini = teardown, .timeout = 180);

/* The status of a request with `auth` as its Authorization header. */
static int status_as(int port, const char *auth, const char *args)
{
    char *out;
    harness_sh(&out, "AUTH='%s' " PROBE " status 127.0.0.1:%d %s", auth,
               port, args);
    int code = atoi(out);
    free(out);
    return code;
}

/* ... as a reader: with a token of role read. */
static int status(int port, const char *args)
{
    return status_as(port, cluster_http_auth(), args);
}

Test(metrics, a_member_and_a_runtime_report_what_ran)
{
    int mport = harness_port(), rport = harness_port();
    char extra[96];
    /* One raft member, snapshots every 16 entries, so that some are
     * made. */
    snprintf(extra, sizeof extra,
             "--set metrics_listen=127.0.0.1:%d --set snapshot_threshold=16",
             mport);
    cluster_start_raft(&c, 1, extra);
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", rport);
    cluster_runtime(&c, "rt", extra);
    cr_assert(cluster_submit(&c, "m", 5));
    json_decref(cluster_wait(&c, "m", WAIT_MS));
    /* A job its timeout kills: its executor is replaced, a fault of
     * plugin sleep's; and a request refused. */
    json_t *r = cluster_ctl(
        &c, NULL, "submit %s",
        cluster_spec(&c, "t.json",
                     "{\"id\": \"t\", \"action\": \"sleep.sleep\", "
                     "\"params\": {\"ms\": 60000}, \"timeout_ms\": 300, "
                     "\"max_attempts\": 1}"));
    json_decref(r);
    json_decref(cluster_wait(&c, "t", WAIT_MS));
    int code;
    json_decref(cluster_ctl(&c, &code, "job nope-0"));
    cr_expect_neq(code, 0, "a job that is not there");

    /* Snapshots are taken as commands come: a few more until one is. */
    json_t *m = NULL;
    for (int i = 0; i < 40; i++) {
        json_decref(m);
        m = cluster_metrics(mport);
        if (cluster_metric(m, "assay_snapshot_seconds_count", "") >= 1)
            break;
        char id[16];
        snprintf(id, sizeof id, "more%d", i);
        cr_assert(cluster_submit(&c, id, 1));
        usleep(100 * 1000);
    }
    cr_expect_geq(cluster_metric(m, "assay_snapshot_seconds_count", ""), 1);
    cr_expect_gt(cluster_metric(m, "assay_snapshot_last_bytes", ""), 0);
    cr_expect_eq(cluster_metric(m, "assay_snapshot_failures_total", ""), 0);
    cr_expect_eq(cluster_metric(m, "assay_leader", ""), 1);
    cr_expect_eq(cluster_metric(m, "assay_jobs_submitted_total",
                                "action=sleep.sleep"),
                 1);
    cr_expect_geq(cluster_metric(m, "assay_jobs_submitted_total",
                                 "action=noop.pass"),
                  5);
    cr_expect_eq(cluster_metric(m, "assay_jobs_ended_total",
                                "action=sleep.sleep,state=failed"),
                 1);
    cr_expect_eq(cluster_metric(m, "assay_jobs_ended_total",
                                "action=noop.pass,state=failed"),
                 0);
    cr_expect_geq(cluster_metric(m, "assay_jobs_ended_total",
                                 "action=noop.pass,state=completed"),
                  5);
    cr_expect_eq(cluster_metric(m, "assay_jobs", "state=failed"), 1);
    cr_expect_eq(cluster_metric(m, "assay_jobs_queued", "priority=0"), 0);
    cr_expect_geq(cluster_metric(m, "assay_job_run_seconds_count", ""), 6);
    cr_expect_eq(cluster_metric(m, "assay_job_run_seconds_count", ""),
                 cluster_metric(m, "assay_job_run_seconds_bucket",
                                "le=+Inf"));
    cr_expect_geq(cluster_metric(m, "assay_job_wait_seconds_count", ""), 6);
    cr_expect_geq(cluster_metric(m, "assay_stream_end", ""), 6);
    cr_expect_geq(cluster_metric(m, "assay_runtimes", "state=alive"), 1);
    cr_expect_gt(cluster_metric(m, "assay_raft_applied_index", ""), 0);
    cr_expect_eq(cluster_metric(m, "assay_schedules", "state=active"), 0);
    cr_expect_eq(
        cluster_metric(m, "assay_schedule_fires", "outcome=started"), 0);
    cr_expect_lt(
        cluster_metric(m, "assay_runtime_heard_seconds", "runtime=rt"), 60);
    /* Idle: its whole grant is there to use. */
    cr_expect_gt(
        cluster_metric(m, "assay_runtime_credit_left", "runtime=rt"), 0);
    cr_expect_eq(cluster_metric(m, "assay_requests_refused_total",
                                "reason=ASSAY_ENOENT"),
                 1);
    cr_expect_eq(cluster_metric(m, "assay_auth_failures_total",
                                "reason=unknown_key"),
                 0);
    json_decref(m);

    r = cluster_metrics(rport);
    cr_expect_eq(cluster_metric(r, "assay_runtime_registered", "runtime=rt"),
                 1);
    cr_expect_gt(cluster_metric(r, "assay_runtime_slots", "runtime=rt"), 0);
    cr_expect_eq(cluster_metric(r, "assay_runtime_attempts", "runtime=rt"),
                 0);
    cr_expect_geq(cluster_metric(r, "assay_runtime_executor_spawns_total",
                                 "runtime=rt"),
                  2);
    cr_expect_eq(cluster_metric(r, "assay_runtime_executor_restarts_total",
                                "cause=timeout,plugin=sleep,runtime=rt"),
                 1);
    cr_expect_eq(cluster_metric(r, "assay_runtime_plugin_faults_total",
                                "plugin=sleep,runtime=rt"),
                 1);
    cr_expect_eq(cluster_metric(r, "assay_runtime_plugin_faults_total",
                                "plugin=noop,runtime=rt"),
                 0);
    cr_expect_null(json_object_get(r, "assay_jobs"),
                   "a runtime reports the member's families");
    json_decref(r);
}

/* Unknown paths, other methods, huge headers: a status, not a crash;
 * and a thousand idle connections cost the data path nothing. */
Test(metrics, bad_requests_and_idle_connections)
{
    int port = harness_port();
    char extra[64];
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", port);
    cluster_start(&c, extra);
    cluster_runtime(&c, "rt", NULL);
    /* metrics_auth = auto with security on: a token, on loopback too. */
    cr_expect_eq(status_as(port, "", "GET /metrics"), 401);
    cr_expect_eq(status(port, "GET /nope"), 404);
    cr_expect_eq(status(port, "POST /metrics"), 405);
    cr_expect_eq(status(port, "DELETE /metrics"), 405);
    int big = status(port, "GET /metrics 100000");
    cr_expect(big == 0 || big >= 400, "a 100 KB header: %d", big);
    cr_expect_eq(status(port, "GET /metrics"), 200);

    cluster_node *idle = cluster_bg(&c, "idle", PROBE " idle 127.0.0.1:%d "
                                                "1000 6", port);
    cr_assert(cluster_log_has(idle, "held ", WAIT_MS));
    cr_assert(cluster_submit(&c, "busy", 5), "submit with idle clients");
    json_t *jobs = cluster_wait(&c, "busy", WAIT_MS);
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j)
        cr_expect_str_eq(json_string_value(json_object_get(j, "state")),
                         "completed");
    json_decref(jobs);
    /* Once they are gone (closed, or timed out idle), it answers. */
    int64_t until = assay_now_ms() + WAIT_MS;
    int code = 0;
    while (assay_now_ms() < until &&
           (code = status(port, "GET /metrics")) != 200)
        usleep(200 * 1000);
    cr_expect_eq(code, 200);
}

Test(metrics, a_port_in_use_or_no_address_stops_the_start)
{
    int port = harness_port();
    char extra[64];
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", port);
    cluster_start(&c, extra);
    static const struct {
        const char *value, *says;
    } bad[] = {
        {NULL, "metrics_listen: cannot listen on"},
        {"nonsense", "metrics_listen: 'nonsense' is not HOST:PORT"},
        {"example.com:80", "is not HOST:PORT"},
        {"127.0.0.1:99999", "is not HOST:PORT"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char *out, value[64];
        snprintf(value, sizeof value, "127.0.0.1:%d", port);
        int rc = harness_sh(
            &out,
            "%sassayd --node-id x%zu --executors 0 --listen "
            "tcp://127.0.0.1:%d --events tcp://127.0.0.1:%d --set "
            "metrics_listen=%s 2>&1",
            HARNESS_BIN, k, harness_port(), harness_port(),
            bad[k].value ? bad[k].value : value);
        cr_expect_eq(rc, 69, "%s: exit %d: %s", bad[k].value, rc, out);
        cr_expect(strstr(out, bad[k].says), "'%s' lacks '%s'", out,
                  bad[k].says);
        free(out);
    }
}

/* metrics_listen = auto, the default: a member serves on 127.0.0.1:7402
 * and a runtime on 7403 with no configuration at all; a second member on
 * the host, finding 7402 taken, says so and runs without one (an
 * explicit port taken stops the start: the test above). The ports are
 * fixed, so this runs in a network namespace of its own, where nothing
 * else holds them. Needs root. */
Test(metrics, auto_is_a_loopback_port_per_role)
{
    if (geteuid() != 0)
        cr_skip_test("needs root for a network namespace");
    char *out, *dir = harness_tmpdir();
    /* Each wait is bounded (300 x 50 ms); each daemon is stopped. */
    int rc = harness_sh(
        &out,
        "unshare -n sh -c 'ip link set lo up || exit 1; "
        "up() { i=0; until grep -q \"$2\" %s/$1.log || [ $i -ge 300 ]; do "
        "sleep 0.05; i=$((i+1)); done; }; "
        "%sassayd --node-id m1 --executors 0 >%s/m1.log 2>&1 & a=$!; "
        "up m1 ready; "
        "%sassayd --node-id m2 --executors 0 --listen tcp://127.0.0.1:7410 "
        "--events tcp://127.0.0.1:7411 >%s/m2.log 2>&1 & b=$!; "
        "%sassayd --node-id rt --join tcp://127.0.0.1:7400 --executors 1 "
        "--plugins-dir %s " CLUSTER_NODE_FLAGS " >%s/rt.log 2>&1 & r=$!; "
        "up m2 ready; up rt ready; "
        "curl -s -o /dev/null -w %%{http_code} "
        "http://127.0.0.1:7402/metrics >%s/code; "
        "kill $a $b $r; wait $a $b $r; true' 2>&1",
        dir, HARNESS_BIN, dir, HARNESS_BIN, dir, HARNESS_BIN,
        HARNESS_PLUGINS, dir, dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    static const struct {
        const char *log, *says;
    } want[] = {
        {"m1", "metrics on http://127.0.0.1:7402/metrics (a token of role "
               "read needed)"},
        {"rt", "metrics on http://127.0.0.1:7403/metrics"},
        {"m2", "metrics_listen: cannot listen on 127.0.0.1:7402"},
        {"m2", "(the default, auto): this node serves no metrics"},
        {"m2", "ready"},
    };
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
        cr_assert_eq(harness_sh(&out, "cat %s/%s.log", dir, want[k].log), 0);
        cr_expect(strstr(out, want[k].says), "%s lacks '%s': %s",
                  want[k].log, want[k].says, out);
        free(out);
    }
    /* Security is on (curve): reading asks for a token, on loopback too. */
    cr_assert_eq(harness_sh(&out, "cat %s/code", dir), 0);
    cr_expect_str_eq(out, "401");
    free(out);
    free(dir);
}

/* With metrics_auth = token, only a token of role read, submit or admin
 * is served (Bearer, or Basic with the token as password, as a browser
 * sends it); none, a wrong or malformed one: 401 asking for one; a token
 * file whose role may not read: 403; a revoked one: 401 at once. */
Test(metrics, a_token_is_needed_when_asked_for)
{
    int port = harness_port();
    char extra[96], *out;
    snprintf(extra, sizeof extra,
             "--set metrics_listen=127.0.0.1:%d --set metrics_auth=token",
             port);
    cluster_start(&c, extra);
    cr_expect_eq(status_as(port, "", "GET /metrics"), 401);
    cr_expect_eq(status_as(port, "", "GET /api/v1/status"), 401);
    char token[128];
    cluster_http_token("prom", token);
    cr_expect_eq(strncmp(token, "assayh1-", 8), 0, "%s", token);
    char auth[256];
    snprintf(auth, sizeof auth, "Bearer %s", token);
    cr_expect_eq(status_as(port, auth, "GET /metrics"), 200);
    cr_expect_eq(status_as(port, auth, "GET /"), 200);
    /* Basic: any user, the token as password. */
    cr_assert_eq(harness_sh(&out, "printf 'x:%s' | base64 -w0", token), 0);
    snprintf(auth, sizeof auth, "Basic %s", out);
    free(out);
    cr_expect_eq(status_as(port, auth, "GET /api/v1/status"), 200);
    token[strlen(token) - 1] ^= 1; /* one digit off */
    snprintf(auth, sizeof auth, "Bearer %s", token);
    cr_expect_eq(status_as(port, auth, "GET /metrics"), 401);
    token[strlen(token) - 1] ^= 1;
    cr_expect_eq(status_as(port, "Basic !!!", "GET /metrics"), 401);
    cr_expect_eq(status_as(port, "Bearer", "GET /metrics"), 401);
    /* A name taken, a role an HTTP token may not have: refused. */
    cluster_ctl_refused(&c, "keys token prom", 65, "there is a token");
    cluster_ctl_refused(&c, "keys token rt runtime", 64, "read, submit or");
    cluster_ctl_refused(&c, "keys token ../x", 65, "token name");
    cluster_ctl_refused(&c, "keys token enrolled-x", 65, "reserved");
    cluster_ctl_refused(&c, "keys list", 0, "prom.token               prom             read     (an HTTP token)");
    cluster_ctl_refused(&c, "keys token operator", 65, "a key of that name");
    /* A role that may not read, written into its file by hand: 403. */
    cr_assert_eq(harness_sh(&out,
                            "t=$(%sassayctl keys token ops 2>/dev/null) && "
                            "sed -i 's/^role = read/role = runtime/' "
                            "$ASSAY_KEYS_DIR/allowed/ops.token && echo $t",
                            HARNESS_BIN),
                 0, "%s", out);
    char ops[128];
    cr_assert_eq(sscanf(out, "%127s", ops), 1);
    free(out);
    snprintf(auth, sizeof auth, "Bearer %s", ops);
    cr_expect_eq(status_as(port, auth, "GET /metrics"), 403);
    /* Revoked: refused from its next request. */
    snprintf(auth, sizeof auth, "Bearer %s", token);
    cr_expect_eq(status_as(port, auth, "GET /metrics"), 200);
    cr_assert_eq(harness_sh(&out, "%sassayctl keys revoke prom", HARNESS_BIN),
                 0, "%s", out);
    free(out);
    cr_expect_eq(status_as(port, auth, "GET /metrics"), 401);
}
