/* tests/core/test_executor.c - isolation: every way a plugin can misbehave
 * costs one job (status error with the right reason) and one executor,
 * never the runner; limits (timeout, output, CPU, memory) are enforced. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

/* ---- Fixture ---------------------------------------------------------- */

static assay_conf conf;
static assay_runner *runner;

static void setup(void)
{
    harness_conf(&conf, HARNESS_FIXTURES "crashy");
    conf.output_limit_kb = 64;
    char err[512];
    cr_assert_eq(assay_runner_new(&conf, false, &runner, err, sizeof err), 0, "%s",
                 err);
}

static void teardown(void)
{
    assay_runner_destroy(&runner);
    assay_conf_fini(&conf);
}

TestSuite(executor, .init = setup, .fini = teardown, .timeout = 120);

/* ---- Helpers ---------------------------------------------------------- */

/* Runs crashy.<action> once (max_attempts 1) and returns its result. */
static json_t *run1(const char *action, const char *extra)
{
    char spec[512];
    snprintf(spec, sizeof spec,
             "{\"action\": \"crashy.%s\", \"max_attempts\": 1%s%s}", action,
             extra ? ", " : "", extra ? extra : "");
    json_t *r = harness_run_on(runner, spec);
    cr_assert_not_null(r);
    cr_assert_eq(json_array_size(r), 1);
    return r;
}

static void expect_error(const char *action, const char *extra,
                         const char *reason)
{
    json_t *r = run1(action, extra);
    cr_expect_str_eq(harness_field(r, 0, "status"), "error", "%s", action);
    cr_expect(strstr(harness_field(r, 0, "reason"), reason),
              "%s: reason '%s' lacks '%s'", action,
              harness_field(r, 0, "reason"), reason);
    json_decref(r);
}

/* The runner still works after whatever happened before. */
static void expect_alive(void)
{
    json_t *r = run1("print", "\"params\": {\"text\": \"still here\"}");
    cr_expect_str_eq(harness_field(r, 0, "status"), "pass");
    json_decref(r);
}

/* ---- Tests ------------------------------------------------------------ */

Test(executor, segfault_costs_one_job)
{
    expect_error("segv", NULL, "killed by SIGSEGV");
    expect_alive();
}

Test(executor, abort_reports_sigabrt)
{
    expect_error("abort", NULL, "killed by SIGABRT");
    expect_alive();
}

Test(executor, exit_reports_status)
{
    expect_error("exit", NULL, "executor exited with status 3");
    expect_alive();
}

Test(executor, hang_is_killed_at_timeout)
{
    expect_error("hang", "\"timeout_ms\": 300", "timeout");
    expect_alive();
}

Test(executor, sigterm_ignored_gets_sigkill)
{
    expect_error("stubborn", "\"timeout_ms\": 300", "timeout");
    expect_alive();
}

Test(executor, output_flood_hits_limit)
{
    expect_error("flood", NULL, "output limit exceeded");
    expect_alive();
}

Test(executor, garbage_on_protocol_socket)
{
    expect_error("garbage", NULL, "executor protocol error");
    expect_alive();
}

Test(executor, invalid_status_and_negative_code)
{
    expect_error("bad_status", NULL, "invalid status 7");
    expect_error("negative", NULL, "no such entry");
}

Test(executor, output_is_captured_per_job)
{
    json_t *r = run1("print", "\"params\": {\"text\": \"hello there\"}");
    cr_expect_str_eq(harness_field(r, 0, "output"), "hello there\n");
    json_decref(r);
}

Test(executor, lost_attempts_are_retried_up_to_max)
{
    json_t *r = harness_run_on(runner, "{\"action\": \"crashy.segv\", "
                                       "\"max_attempts\": 3}");
    cr_assert_not_null(r);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(r, 0),
                                                    "attempt")),
                 3);
    cr_expect_str_eq(harness_field(r, 0, "status"), "error");
    json_decref(r);
    /* 2 initial executors + one replacement per crash. */
    cr_expect_eq(assay_pool_spawned(assay_runner_pool(runner)), 2 + 3);
}

Test(executor, plugin_reported_error_is_not_retried)
{
    json_t *r = harness_run_on(runner, "{\"action\": \"crashy.negative\", "
                                       "\"max_attempts\": 3}");
    cr_assert_not_null(r);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(r, 0),
                                                    "attempt")),
                 1);
    json_decref(r);
}

Test(executor, crash_does_not_disturb_jobs_queued_behind_it)
{
    /* Many jobs queued at once: the crashing one is among them, every
     * other one must still pass, each exactly once. */
    json_t *r = harness_run_on(
        runner, "{\"action\": \"crashy.print\", \"max_attempts\": 1, "
                "\"params\": {\"text\": \"x\"}, \"targets\": [{}, {}, {}, "
                "{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}]}");
    cr_assert_not_null(r);
    cr_expect_eq(json_array_size(r), 16);
    for (size_t i = 0; i < 16; i++)
        cr_expect_str_eq(harness_field(r, i, "status"), "pass");
    json_decref(r);
}

Test(executor, cpu_limit_kills_spinning_job)
{
    assay_runner_destroy(&runner);
    conf.job_cpu_seconds = 1;
    char err[512];
    cr_assert_eq(assay_runner_new(&conf, false, &runner, err, sizeof err), 0);
    expect_error("spin", NULL, "killed by SIGXCPU");
}

/* RLIMIT_AS needs an executor and plugin built without ASan (see
 * core/CMakeLists.txt): ASan's shadow memory cannot fit under it. */
static json_t *run_alloc(int64_t limit_mb)
{
    assay_conf c;
    harness_conf(&c, HARNESS_FIXTURES "crashy-nosan");
    strcpy(c.executor_path, HARNESS_NOSAN_EXECUTOR);
    c.job_memory_mb = limit_mb;
    json_t *r = harness_run_conf(&c, "{\"action\": \"crashy.alloc\", "
                                     "\"params\": {\"mb\": 1024}}");
    assay_conf_fini(&c);
    cr_assert_not_null(r);
    return r;
}

Test(executor, memory_limit_refuses_allocation)
{
    json_t *r = run_alloc(256);
    cr_expect_str_eq(harness_field(r, 0, "status"), "fail", "%s",
                     harness_field(r, 0, "message"));
    json_decref(r);
    r = run_alloc(0); /* the same job passes without the limit */
    cr_expect_str_eq(harness_field(r, 0, "status"), "pass", "%s",
                     harness_field(r, 0, "message"));
    json_decref(r);
}
