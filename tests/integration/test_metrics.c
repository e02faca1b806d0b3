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

/* The scrape at 127.0.0.1:port, as {name: {labels: value}}. */
static json_t *scrape(int port)
{
    char *out;
    int rc = harness_sh(&out, PROBE " scrape 127.0.0.1:%d", port);
    cr_assert_eq(rc, 0, "scrape: %s", out);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "not JSON: %s", out);
    free(out);
    return j;
}

static double value(const json_t *m, const char *name, const char *labels)
{
    const json_t *v = json_object_get(json_object_get(m, name), labels);
    cr_assert(json_is_number(v), "no %s{%s}", name, labels);
    return json_number_value(v);
}

static int status(int port, const char *args)
{
    char *out;
    harness_sh(&out, PROBE " status 127.0.0.1:%d %s", port, args);
    int code = atoi(out);
    free(out);
    return code;
}

Test(metrics, a_member_and_a_runtime_report_what_ran)
{
    int mport = harness_port(), rport = harness_port();
    char extra[64];
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", mport);
    cluster_start(&c, extra);
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", rport);
    cluster_runtime(&c, "rt", extra);
    cr_assert(cluster_submit(&c, "m", 5));
    json_decref(cluster_wait(&c, "m", WAIT_MS));

    json_t *m = scrape(mport);
    cr_expect_eq(value(m, "assay_leader", ""), 1);
    cr_expect_eq(value(m, "assay_jobs_submitted_total", ""), 5);
    cr_expect_eq(value(m, "assay_jobs_ended_total", ""), 5);
    cr_expect_eq(value(m, "assay_jobs", "state=completed"), 5);
    cr_expect_eq(value(m, "assay_jobs", "state=queued"), 0);
    cr_expect_eq(value(m, "assay_job_run_seconds_count", ""), 5);
    cr_expect_eq(value(m, "assay_job_run_seconds_bucket", "le=+Inf"), 5);
    cr_expect_eq(value(m, "assay_job_wait_seconds_count", ""), 5);
    cr_expect_eq(value(m, "assay_stream_end", ""), 5);
    cr_expect_geq(value(m, "assay_runtimes", "state=alive"), 1);
    cr_expect_gt(value(m, "assay_raft_applied_index", ""), 0);
    cr_expect_eq(value(m, "assay_schedules", "state=active"), 0);
    cr_expect_eq(value(m, "assay_schedule_fires", "outcome=started"), 0);
    cr_expect_lt(value(m, "assay_runtime_heard_seconds", "runtime=rt"), 60);
    json_decref(m);

    json_t *r = scrape(rport);
    cr_expect_eq(value(r, "assay_runtime_registered", "runtime=rt"), 1);
    cr_expect_gt(value(r, "assay_runtime_slots", "runtime=rt"), 0);
    cr_expect_eq(value(r, "assay_runtime_attempts", "runtime=rt"), 0);
    cr_expect_geq(
        value(r, "assay_runtime_executor_spawns_total", "runtime=rt"), 1);
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
