/* tests/core/test_executor.c - isolation: every way a plugin can misbehave
 * costs one job (status error with the right reason) and one executor,
 * never the runner; limits (timeout, output, CPU, memory) are enforced.
 * Most tests go through the runner; the pipelining and kill tests submit
 * to a pool directly, to place jobs behind one another and to wait for
 * each with a bound of their own. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "exec/pool.h"
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

/* Pool-level runs: jobs submitted straight to a pool, each callback
 * counted, and every wait bounded by a deadline of its own, so that a job
 * that never ends fails its test here instead of hanging the suite until
 * its timeout. WAIT_MS is far beyond what any of them needs: a bound for a
 * lost job, not a speed requirement. */
#define WAIT_MS 60000
#define CRASHY_SO HARNESS_FIXTURES "crashy/crashy.so"

typedef struct pooled {
    char id[32];
    const char *action;
    int calls;      /* callbacks received: exactly one is right */
    json_t *result; /* the first one */
    int64_t end_ms; /* when it arrived */
    char want[64];  /* the output it must have, if `wanted` */
    size_t want_len;
    bool wanted;
    /* Runs inside the pool's callback, before it returns: the pool does
     * nothing else meanwhile, while its executors go on. */
    void (*then)(struct pooled *p);
    void *then_arg;
} pooled;

static void on_pooled(void *arg, json_t *result)
{
    pooled *p = arg;
    if (p->calls++ == 0) {
        p->result = result;
        p->end_ms = assay_now_ms();
        if (p->then)
            p->then(p);
    } else {
        json_decref(result);
    }
}

/* Submits crashy.<action> as job `id` with `params` (a reference is
 * taken) or none. */
static void pool_submit_params(assay_pool *pool, pooled *p, const char *id,
                               const char *action, json_t *params,
                               int64_t timeout_ms)
{
    snprintf(p->id, sizeof p->id, "%s", id);
    p->action = action;
    assay_task t = {.job_id = p->id,
                    .plugin_path = CRASHY_SO,
                    .action = action,
                    .params = params ? params : json_object(),
                    .timeout_ms = timeout_ms};
    cr_assert_eq(assay_pool_submit(pool, &t, on_pooled, p), 0, "%s", id);
    if (!params)
        json_decref((json_t *)t.params);
}

/* Submits crashy.<action> as job `id` (print gets `text` as its text). */
static void pool_submit(assay_pool *pool, pooled *p, const char *id,
                        const char *action, const char *text,
                        int64_t timeout_ms)
{
    snprintf(p->id, sizeof p->id, "%s", id);
    p->action = action;
    json_t *params = text ? json_pack("{s:s}", "text", text) : json_object();
    assay_task t = {.job_id = p->id,
                    .plugin_path = CRASHY_SO,
                    .action = action,
                    .params = params,
                    .timeout_ms = timeout_ms};
    cr_assert_eq(assay_pool_submit(pool, &t, on_pooled, p), 0, "%s", id);
    json_decref(params);
}

/* Polls until every job of `jobs` had its callback, or WAIT_MS passed;
 * asserts the former. On failure the pool is destroyed first, which
 * SIGKILLs its executors: a stuck one must not outlive the test (it would
 * hold ctest's output pipe open until ctest's own timeout). */
static void pool_drain(assay_pool **pool, pooled *jobs, size_t n)
{
    int64_t deadline = assay_now_ms() + WAIT_MS;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += jobs[i].calls > 0;
        if (done == n)
            break;
        int64_t left = deadline - assay_now_ms();
        if (left <= 0) {
            assay_pool_destroy(pool);
            for (size_t i = 0; i < n; i++)
                json_decref(jobs[i].result);
            cr_assert_fail("%zu of %zu jobs had no result after %d ms",
                           n - done, n, WAIT_MS);
        }
        cr_assert_geq(assay_pool_poll(*pool, left < 1000 ? (int)left : 1000),
                      0);
    }
    cr_expect_eq(assay_pool_outstanding(*pool), 0);
}

static const char *pooled_field(const pooled *p, const char *key)
{
    const char *s = json_string_value(json_object_get(p->result, key));
    return s ? s : "";
}

/* A pool of `executors` holding up to `depth` jobs each, the test's own
 * (kill grace: conf's 200 ms), with an output limit of `limit` bytes. */
static assay_pool *pool_of(int executors, int depth, size_t limit)
{
    assay_pool_config cfg = {.executor_path = conf.executor_path,
                             .executors = executors,
                             .depth = depth,
                             .kill_grace_ms = conf.kill_grace_ms,
                             .output_limit = limit};
    assay_pool *pool;
    char err[512];
    cr_assert_eq(assay_pool_new(&cfg, &pool, err, sizeof err), 0, "%s", err);
    return pool;
}

/* With one executor, every job submitted together is queued behind the
 * ones before it, on the same process. */
static assay_pool *one_executor_pool(int depth)
{
    return pool_of(1, depth, 64 << 10);
}

static bool exists(void *path)
{
    return access(path, F_OK) == 0;
}

/* A `then`: holds the pool until the file then_arg exists. Queue a
 * crashy.mark of that file behind the other jobs on the same executor, and
 * the executor has run them all (and written all their output) before the
 * pool reads a single result after this one. */
static void hold_until_marked(pooled *p)
{
    cr_assert(harness_until(WAIT_MS, exists, p->then_arg),
              "%s: no %s after %d ms", p->id, (char *)p->then_arg, WAIT_MS);
}

/* Checks each job's output is exactly the one it was given in want. */
static void expect_own_output(const pooled *p)
{
    json_t *o = json_object_get(p->result, "output");
    const char *got = o ? json_string_value(o) : "";
    size_t len = o ? json_string_length(o) : 0;
    cr_expect(len == p->want_len && !memcmp(got, p->want, len),
              "%s: output '%.*s' (%zu bytes), not its own '%.*s' (%zu)",
              p->id, (int)(len < 200 ? len : 200), got, len,
              (int)p->want_len, p->want, p->want_len);
}

/* Its output is n bytes, all c. */
static void expect_filled(const pooled *p, size_t n, char c)
{
    json_t *o = json_object_get(p->result, "output");
    const char *got = o ? json_string_value(o) : "";
    size_t len = o ? json_string_length(o) : 0;
    size_t same = 0;
    while (same < len && got[same] == c)
        same++;
    cr_expect(len == n && same == n,
              "%s: %zu bytes of output, %zu of them '%c' (want %zu)", p->id,
              len, same, c, n);
}

/* crashy.fill's: n bytes, each the first byte of text. */
static json_t *fill_params(size_t n, const char *text)
{
    json_t *params = json_pack("{s:I, s:s}", "n", (json_int_t)n, "text",
                               text);
    cr_assert_not_null(params, "%s", text);
    return params;
}

/* crashy.<action> overruns its timeout_ms with crashy.print queued behind
 * it on the same executor: it must end as a timeout, no sooner than
 * `at_least_ms` after it was submitted (a lower bound, which a slow
 * machine cannot break), within WAIT_MS; the executor is replaced and the
 * job behind it runs there. A first job has the executor started and the
 * plugin loaded before the clock starts: on a loaded machine the timeout
 * could otherwise fire before the action ran at all (stubborn's SIGTERM
 * then ends an executor that does not yet ignore it). */
static void expect_timeout_kill(const char *action, int64_t timeout_ms,
                                int64_t at_least_ms)
{
    assay_pool *pool = one_executor_pool(4);
    cr_assert_eq(assay_pool_spawned(pool), 1);
    pooled warm = {0};
    pool_submit(pool, &warm, "warm", "print", "ready", WAIT_MS);
    pool_drain(&pool, &warm, 1);
    cr_assert_str_eq(pooled_field(&warm, "status"), "pass");
    json_decref(warm.result);
    pooled jobs[2] = {0};
    int64_t start = assay_now_ms();
    pool_submit(pool, &jobs[0], "stuck", action, NULL, timeout_ms);
    pool_submit(pool, &jobs[1], "behind", "print", "after the kill",
                WAIT_MS);
    pool_drain(&pool, jobs, 2);

    const pooled *stuck = &jobs[0], *behind = &jobs[1];
    cr_expect_eq(stuck->calls, 1);
    cr_expect_str_eq(pooled_field(stuck, "status"), "error");
    cr_expect_str_eq(pooled_field(stuck, "reason"), "timeout");
    cr_expect(json_is_true(json_object_get(stuck->result, "retryable")));
    cr_expect_geq(stuck->end_ms - start, at_least_ms,
                  "%s ended %lld ms after submission, before %lld ms",
                  action, (long long)(stuck->end_ms - start),
                  (long long)at_least_ms);
    /* The killed executor was replaced, and the job queued behind the
     * stuck one ran on the replacement, after it. */
    cr_expect_eq(assay_pool_spawned(pool), 2);
    cr_expect_eq(behind->calls, 1);
    cr_expect_str_eq(pooled_field(behind, "status"), "pass");
    cr_expect_str_eq(pooled_field(behind, "output"), "after the kill\n");
    cr_expect_geq(behind->end_ms, stuck->end_ms);
    json_decref(jobs[0].result);
    json_decref(jobs[1].result);
    assay_pool_destroy(&pool);
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
    /* SIGTERM at the deadline ends it. */
    expect_timeout_kill("hang", 300, 300);
}

Test(executor, sigterm_ignored_gets_sigkill)
{
    /* SIGTERM changes nothing: only the SIGKILL kill_grace_ms later ends
     * it, so it cannot end before timeout + grace. */
    cr_assert_eq(conf.kill_grace_ms, 200);
    expect_timeout_kill("stubborn", 300, 300 + 200);
}

Test(executor, timed_out_job_through_the_runner)
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
    /* 16 jobs queued at once on one executor, every third one crashing in
     * its own way: each crash costs its own job only; the jobs pipelined
     * behind it never started, go back to the pool, run on the
     * replacement, and each passes exactly once, with its own output. (A
     * crash with two executors: crash_reason_survives_a_write_to_the_dying_
     * executor.) */
    static const struct {
        const char *action, *reason;
    } crash[] = {{"segv", "killed by SIGSEGV"},
                 {"abort", "killed by SIGABRT"},
                 {"exit", "executor exited with status 3"}};
    assay_pool *pool = one_executor_pool(16);
    cr_assert_eq(assay_pool_spawned(pool), 1);
    pooled jobs[16] = {0};
    size_t crashes = 0;
    for (size_t i = 0; i < 16; i++) {
        char id[16], text[32];
        snprintf(id, sizeof id, "job-%zu", i);
        snprintf(text, sizeof text, "output of job %zu", i);
        if (i % 3 == 1)
            pool_submit(pool, &jobs[i], id, crash[crashes++ % 3].action,
                        NULL, WAIT_MS);
        else
            pool_submit(pool, &jobs[i], id, "print", text, WAIT_MS);
    }
    assay_pool_flush(pool);
    pool_drain(&pool, jobs, 16);

    for (size_t i = 0, k = 0; i < 16; i++) {
        const pooled *p = &jobs[i];
        cr_expect_eq(p->calls, 1, "%s: %d results", p->id, p->calls);
        cr_expect_str_eq(pooled_field(p, "job"), p->id);
        if (i % 3 == 1) {
            const char *reason = crash[k++ % 3].reason;
            cr_expect_str_eq(pooled_field(p, "status"), "error", "%s (%s)",
                             p->id, p->action);
            cr_expect_str_eq(pooled_field(p, "reason"), reason, "%s (%s)",
                             p->id, p->action);
            cr_expect_null(json_object_get(p->result, "output"), "%s",
                           p->id);
        } else {
            cr_expect_str_eq(pooled_field(p, "status"), "pass", "%s: %s",
                             p->id, pooled_field(p, "reason"));
            /* Its output is its own, whatever ran behind it on the same
             * executor before its result was read. */
            char line[32];
            snprintf(line, sizeof line, "output of job %zu\n", i);
            cr_expect_str_eq(pooled_field(p, "output"), line, "%s", p->id);
        }
    }
    for (size_t i = 0; i < 16; i++)
        json_decref(jobs[i].result);
    /* One replacement per crash, no more. */
    cr_expect_eq(assay_pool_spawned(pool), 1 + crashes);
    assay_pool_destroy(&pool);
}

/* Each result's output in a batch on one executor: jobs i % 4 == 1 or 3
 * write without stdio or a final newline, two jobs write about 16 KiB in
 * one write (the pool reads 16 KiB at a time: marks fall across reads). */
#define PIPELINED 48
#define PIPELINED_ROUNDS 12

Test(executor, pipelined_jobs_each_get_their_own_output)
{
    /* One executor, a batch of jobs queued on it in one flush, so it runs
     * the next jobs while the pool reads a result. In even rounds the pool
     * is held at the first result until the executor has run the whole
     * batch (hold_until_marked): every later result then meets a pipe
     * holding the output of every job behind it. Odd rounds run as they
     * come. Each job must get exactly its own output. */
    char *dir = harness_tmpdir();
    assay_pool *pool = one_executor_pool(64);
    for (int r = 0; r < PIPELINED_ROUNDS; r++) {
        pooled jobs[PIPELINED + 1] = {0};
        char path[512];
        snprintf(path, sizeof path, "%s/batch-%d", dir, r);
        for (size_t i = 0; i < PIPELINED; i++) {
            pooled *p = &jobs[i];
            char id[32], text[48];
            snprintf(id, sizeof id, "r%d-job-%zu", r, i);
            if (i == 10 || i == 30) {
                p->want_len = 16384 - 40 + (size_t)r * 7 + (i == 30 ? 5 : 0);
                p->want[0] = (char)('a' + i % 26);
                json_t *params = fill_params(p->want_len, p->want);
                pool_submit_params(pool, p, id, "fill", params, WAIT_MS);
                json_decref(params);
                continue;
            }
            bool raw = i % 2;
            snprintf(text, sizeof text, "output of %s", id);
            snprintf(p->want, sizeof p->want, "%s%s", text, raw ? "" : "\n");
            p->want_len = strlen(p->want);
            p->wanted = true;
            pool_submit(pool, p, id, raw ? "write" : "print", text, WAIT_MS);
        }
        if (r % 2 == 0) {
            jobs[0].then = hold_until_marked;
            jobs[0].then_arg = path;
        }
        json_t *params = json_pack("{s:s}", "path", path);
        pool_submit_params(pool, &jobs[PIPELINED], "mark", "mark", params,
                           WAIT_MS);
        json_decref(params);
        assay_pool_flush(pool);
        pool_drain(&pool, jobs, PIPELINED + 1);

        for (size_t i = 0; i <= PIPELINED; i++) {
            const pooled *p = &jobs[i];
            cr_expect_eq(p->calls, 1, "%s: %d results", p->id, p->calls);
            cr_expect_str_eq(pooled_field(p, "status"), "pass", "%s: %s",
                             p->id, pooled_field(p, "reason"));
            if (i == PIPELINED)
                cr_expect_null(json_object_get(p->result, "output"));
            else if (p->wanted)
                expect_own_output(p);
            else
                expect_filled(p, p->want_len, p->want[0]);
        }
        for (size_t i = 0; i <= PIPELINED; i++)
            json_decref(jobs[i].result);
    }
    /* Nothing was killed on the way. */
    cr_expect_eq(assay_pool_spawned(pool), 1);
    assay_pool_destroy(&pool);
    free(dir);
}

Test(executor, output_limit_is_per_job)
{
    /* A 16 KiB limit and one executor that runs the whole batch before
     * the pool reads the second result (hold_until_marked): the pipe then
     * holds 12000 + 12000 + 20000 bytes of three jobs. The two of 12000
     * are within the limit and pass; the one of 20000 alone is over it,
     * ends with the limit as its reason and its first 16 KiB, and the jobs
     * queued behind it run again on the replacement, with their own
     * output. Output that is not UTF-8 is kept printable ('?'). */
    char *dir = harness_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/batch", dir);
    assay_pool *pool = pool_of(1, 16, 16 << 10);
    pooled jobs[7] = {0};
    static const struct {
        const char *id;
        size_t n;
        const char *c;
    } fills[] = {{"twelve-a", 12000, "a"},
                 {"twelve-b", 12000, "b"},
                 {"twenty-c", 20000, "c"},
                 {"binary", 100, "\xc3\xa9"}};
    pool_submit(pool, &jobs[0], "first", "print", "first", WAIT_MS);
    jobs[0].then = hold_until_marked;
    jobs[0].then_arg = path;
    for (size_t i = 0; i < 4; i++) {
        json_t *params = fill_params(fills[i].n, fills[i].c);
        pool_submit_params(pool, &jobs[1 + i], fills[i].id, "fill", params,
                           WAIT_MS);
        json_decref(params);
    }
    pool_submit(pool, &jobs[5], "after", "print", "after", WAIT_MS);
    json_t *params = json_pack("{s:s}", "path", path);
    pool_submit_params(pool, &jobs[6], "mark", "mark", params, WAIT_MS);
    json_decref(params);
    assay_pool_flush(pool);
    pool_drain(&pool, jobs, 7);

    for (size_t i = 0; i < 7; i++)
        cr_expect_eq(jobs[i].calls, 1, "%s: %d results", jobs[i].id,
                     jobs[i].calls);
    cr_expect_str_eq(pooled_field(&jobs[0], "status"), "pass");
    cr_expect_str_eq(pooled_field(&jobs[0], "output"), "first\n");
    for (size_t i = 1; i <= 2; i++) {
        cr_expect_str_eq(pooled_field(&jobs[i], "status"), "pass", "%s: %s",
                         jobs[i].id, pooled_field(&jobs[i], "reason"));
        expect_filled(&jobs[i], 12000, fills[i - 1].c[0]);
    }
    cr_expect_str_eq(pooled_field(&jobs[3], "status"), "error");
    cr_expect_str_eq(pooled_field(&jobs[3], "reason"),
                     "output limit exceeded (16384 bytes)");
    expect_filled(&jobs[3], 16 << 10, 'c');
    cr_expect_str_eq(pooled_field(&jobs[4], "status"), "pass", "%s",
                     pooled_field(&jobs[4], "reason"));
    expect_filled(&jobs[4], 100, '?');
    cr_expect_str_eq(pooled_field(&jobs[5], "status"), "pass");
    cr_expect_str_eq(pooled_field(&jobs[5], "output"), "after\n");
    cr_expect_str_eq(pooled_field(&jobs[6], "status"), "pass");
    cr_expect_eq(assay_pool_spawned(pool), 2);
    for (size_t i = 0; i < 7; i++)
        json_decref(jobs[i].result);
    assay_pool_destroy(&pool);
    free(dir);
}

/* The executor processes of this test that have died and not been reaped:
 * a zombie (waitid WNOWAIT leaves it to the pool's waitpid). */
static bool child_died(void *arg)
{
    (void)arg;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           si.si_pid != 0;
}

typedef struct dying {
    assay_pool *pool;
    const char *other; /* the file the other executor's job waits for */
    pooled *extra;     /* 4 jobs submitted from the callback */
    int round;
} dying;

/* A `then` for the first crash: the other executor dies too (its job
 * aborts once `other` exists), and before the pool has seen it, jobs come
 * in as a runner's retries would: the pool sends some of them to the dead
 * executor (least loaded: the replacement gets one, then they share). */
static void kill_other_then_submit(pooled *p)
{
    dying *d = p->then_arg;
    FILE *f = fopen(d->other, "w");
    cr_assert_not_null(f, "%s", d->other);
    fclose(f);
    cr_assert(harness_until(WAIT_MS, child_died, NULL),
              "the other executor is still alive after %d ms", WAIT_MS);
    for (int i = 0; i < 4; i++) {
        char id[32], text[48];
        snprintf(id, sizeof id, "r%d-extra-%d", d->round, i);
        snprintf(text, sizeof text, "output of %s", id);
        if (i == 0)
            pool_submit(d->pool, &d->extra[i], id, "exit", NULL, WAIT_MS);
        else
            pool_submit(d->pool, &d->extra[i], id, "print", text, WAIT_MS);
    }
}

Test(executor, crash_reason_survives_a_write_to_the_dying_executor)
{
    /* Two executors, each running crashy.abort_when of its own file. The
     * test creates the first file: that executor aborts. Inside its crash
     * callback, the second executor aborts too, and is a zombie before the
     * pool's next write; new jobs are submitted, some of which the pool
     * sends to the dead executor, whose socket then refuses the write.
     * That write failure is how the pool learns of the death, not its
     * cause: both crashes must say "killed by SIGABRT". The jobs sent to
     * the dead executor go back to the pool and run elsewhere, each once,
     * with its own output. */
    char *dir = harness_tmpdir();
    for (int r = 0; r < 3; r++) {
        assay_pool *pool = pool_of(2, 16, 64 << 10);
        char first[512], second[512];
        snprintf(first, sizeof first, "%s/first-%d", dir, r);
        snprintf(second, sizeof second, "%s/second-%d", dir, r);
        pooled jobs[6] = {0}; /* 2 holds, then the 4 extra */
        dying d = {.pool = pool, .other = second, .extra = &jobs[2],
                   .round = r};
        json_t *params = json_pack("{s:s}", "path", first);
        pool_submit_params(pool, &jobs[0], "first", "abort_when", params,
                           WAIT_MS);
        json_decref(params);
        params = json_pack("{s:s}", "path", second);
        pool_submit_params(pool, &jobs[1], "second", "abort_when", params,
                           WAIT_MS);
        json_decref(params);
        jobs[0].then = kill_other_then_submit;
        jobs[0].then_arg = &d;
        /* One job each: the second goes to the executor with fewer. */
        assay_pool_flush(pool);
        free(harness_write(dir, strrchr(first, '/') + 1, ""));
        pool_drain(&pool, jobs, 6);

        for (size_t i = 0; i < 6; i++)
            cr_expect_eq(jobs[i].calls, 1, "round %d: %s: %d results", r,
                         jobs[i].id, jobs[i].calls);
        for (size_t i = 0; i < 2; i++) {
            cr_expect_str_eq(pooled_field(&jobs[i], "status"), "error");
            cr_expect_str_eq(pooled_field(&jobs[i], "reason"),
                             "killed by SIGABRT", "round %d: %s", r,
                             jobs[i].id);
        }
        cr_expect_str_eq(pooled_field(&jobs[2], "reason"),
                         "executor exited with status 3", "round %d", r);
        for (size_t i = 3; i < 6; i++) {
            char want[64];
            snprintf(want, sizeof want, "output of %s\n", jobs[i].id);
            cr_expect_str_eq(pooled_field(&jobs[i], "status"), "pass",
                             "round %d: %s: %s", r, jobs[i].id,
                             pooled_field(&jobs[i], "reason"));
            cr_expect_str_eq(pooled_field(&jobs[i], "output"), want);
        }
        /* One replacement per death: two aborts and one exit. */
        cr_expect_eq(assay_pool_spawned(pool), 2 + 3, "round %d", r);
        for (size_t i = 0; i < 6; i++)
            json_decref(jobs[i].result);
        assay_pool_destroy(&pool);
    }
    free(dir);
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

/* Reads the pid a crashy orphan/detached child wrote to `path`. */
static pid_t s_child_pid(const char *path)
{
    FILE *f = fopen(path, "r");
    int pid = 0;
    cr_assert_not_null(f, "%s: no pid", path);
    cr_assert_eq(fscanf(f, "%d", &pid), 1);
    fclose(f);
    return (pid_t)pid;
}

static bool s_gone(void *arg)
{
    return kill(*(pid_t *)arg, 0) != 0;
}

/* Runs crashy.<action> (orphan or detached: the executor crashes and
 * leaves a child holding its socket), expects the crash reported as such,
 * not as a timeout, and returns the child's pid. */
static pid_t s_crash_leaving_child(const char *action)
{
    char *dir = harness_tmpdir(), path[256], extra[384];
    snprintf(path, sizeof path, "%s/%s.pid", dir, action);
    snprintf(extra, sizeof extra,
             "\"timeout_ms\": 60000, \"params\": {\"path\": \"%s\"}", path);
    expect_error(action, extra, "killed by SIGSEGV");
    pid_t child = s_child_pid(path);
    free(dir);
    return child;
}

/* An executor that crashes while a child of its own still holds its
 * protocol socket is known dead by its pid: the crash is reported as
 * such (not as a timeout), its slot takes the next job, and the child,
 * left in the executor's process group, is killed with it. */
Test(executor, crash_with_a_child_holding_the_socket_is_seen_at_once)
{
    pid_t child = s_crash_leaving_child("orphan");
    cr_expect(harness_until(5000, s_gone, &child),
              "the executor's child %d outlived it", (int)child);
    expect_alive();
}

/* A child that left the executor's process group (setsid) outlives it,
 * holding the socket: the crash is still reported at once and the slot
 * freed. */
Test(executor, crash_with_a_detached_child_frees_the_slot)
{
    pid_t child = s_crash_leaving_child("detached");
    expect_alive();
    expect_alive(); /* both slots, the crashed one included */
    kill(child, SIGKILL);
}
