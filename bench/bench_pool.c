/* bench-pool - noop jobs per second through the executor pool
 * (docs/benchmarks.md). Usage: bench-pool [JOBS] [EXECUTORS] [DEPTH]
 * [SECCOMP]: SECCOMP 0 runs the executors without their syscall filter
 * (executor_seccomp = 0), to measure what it costs. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "exec/pool.h"
#include "plugin/catalog.h"

static long s_done_count, s_passed;

static void s_done(void *arg, json_t *result)
{
    (void)arg;
    const char *st = json_string_value(json_object_get(result, "status"));
    s_passed += st && st[0] == 'p';
    s_done_count++;
    json_decref(result);
}

int main(int argc, char **argv)
{
    long jobs = argc > 1 ? atol(argv[1]) : 200000;
    int execs = argc > 2 ? atoi(argv[2]) : 2;
    int depth = argc > 3 ? atoi(argv[3]) : 64;
    bool seccomp = argc > 4 ? atoi(argv[4]) != 0 : true;
    char plugin[PATH_MAX], err[256];
    snprintf(plugin, sizeof plugin, "%s/assay-action_noop.so",
             BENCH_PLUGIN_DIR);
    assay_pool_config cfg = {.executor_path = BENCH_EXECUTOR,
                             .executors = execs,
                             .depth = depth,
                             .kill_grace_ms = 1000,
                             .output_limit = 1 << 20,
                             .all_syscalls = !seccomp};
    assay_pool *pool;
    if (assay_pool_new(&cfg, &pool, err, sizeof err) != 0) {
        fprintf(stderr, "bench-pool: %s\n", err);
        return 1;
    }
    json_t *params = json_object();
    assay_task t = {.job_id = "bench", .plugin_path = plugin,
                    .action = "pass", .params = params, .timeout_ms = 10000};
    /* Warm-up: executors load the plugin once. */
    assay_pool_submit(pool, &t, s_done, NULL);
    while (assay_pool_outstanding(pool))
        assay_pool_poll(pool, 1000);
    s_done_count = s_passed = 0;

    int64_t t0 = assay_now_us();
    long submitted = 0;
    while (s_done_count < jobs) {
        /* Keep a bounded window in flight, as a dispatcher would. */
        while (submitted < jobs &&
               assay_pool_outstanding(pool) < (size_t)(execs * depth * 2)) {
            assay_pool_submit(pool, &t, s_done, NULL);
            submitted++;
        }
        assay_pool_poll(pool, 1000);
    }
    int64_t t1 = assay_now_us();
    json_decref(params);
    assay_pool_destroy(&pool);
    double secs = (t1 - t0) / 1e6;
    printf("executors=%d depth=%d seccomp=%d jobs=%ld passed=%ld "
           "time=%.3fs rate=%.0f jobs/s\n",
           execs, depth, seccomp, jobs, s_passed, secs, jobs / secs);
    return s_passed == jobs ? 0 : 1;
}
