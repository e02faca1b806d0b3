/* bench/assay-bench/memory.c - `assay-bench memory`: one member and one
 * simulated runtime that grants no credit; N noop jobs stay queued, and
 * the leader's VmRSS growth per queued job is reported. */
#include <math.h>

#include "base/clock.h"
#include "bench.h"

int bench_cmd_memory(s_bench *b)
{
    b->phase = "starting the cluster";
    b->o.runtimes = 1;
    if (bench_start_cluster(b, 1) ||
        bench_find_leader(b, assay_now_us() + 30 * SEC) < 0 ||
        bench_cp_open(b, NULL, 0) || bench_sim_start(b, 1, b->leader, 0) ||
        bench_wait_runtimes(b, 1))
        return 1;
    pid_t pid = bench_leader_pid(b);
    bench_sleep(b, SEC);
    long before = bench_status_kb(pid, "VmRSS");
    b->o.jobs = b->o.queued;
    if (bench_specs_init(b, b->o.per_spec))
        return 1;
    b->phase = "submitting jobs that stay queued";
    b->measuring = true;
    long next = 0;
    int64_t t0 = assay_now_us();
    b->first_send_us = t0;
    while (b->replied < b->nspecs && !bench_stopping(b)) {
        while (next < b->nspecs && b->sent - b->replied < b->o.window)
            bench_submit_spec(b, next++);
        bench_pump(b, assay_now_us() + 100000);
    }
    int64_t t1 = assay_now_us();
    b->measuring = false;
    bench_sleep(b, SEC);
    long after = bench_status_kb(pid, "VmRSS"),
         hwm = bench_status_kb(pid, "VmHWM");
    json_t *q = json_pack("{s:s, s:i}", "state", "queued", "limit", 1);
    json_t *r = bench_call(b, ASSAY_SVC_JOBS, q, 30 * SEC);
    json_decref(q);
    long queued = r && bench_ok(r)
                      ? (long)json_integer_value(json_object_get(r, "total"))
                      : -1;
    json_decref(r);
    double secs = (double)(t1 - t0) / 1e6;
    double per_job = b->submitted
                         ? (double)(after - before) * 1024 /
                               (double)b->submitted
                         : NAN;
    bool ok = b->submitted == b->o.queued && !b->submit_errors &&
              queued == b->o.queued && !bench_interrupted && !b->fatal[0];
    if (b->o.json) {
        json_t *o = json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, "
            "s:o, s:i, s:b}",
            "command", "memory", "queued", (json_int_t)b->o.queued,
            "per_spec", (json_int_t)b->per_spec, "submitted",
            (json_int_t)b->submitted, "submit_errors",
            (json_int_t)b->submit_errors, "errors",
            (json_int_t)b->submit_errors, "queued_reported",
            (json_int_t)queued, "rss_before_kb", (json_int_t)before,
            "rss_after_kb", (json_int_t)after, "peak_rss_kb",
            (json_int_t)hwm, "bytes_per_job", bench_real(per_job),
            "submit_seconds", bench_real(secs), "acked_jobs_per_s",
            bench_real((double)b->submitted / secs), "leader_pid", (int)pid,
            "ok", ok);
        if (b->first_error[0])
            json_object_set_new(o, "first_error", json_string(b->first_error));
        bench_emit(o);
    } else {
        printf("assay-bench memory: %ld noop jobs queued as %ld JobSpecs of "
               "up to %ld, 1 member (consensus none), 1 simulated runtime "
               "granting no credit\n",
               b->o.queued, b->nspecs, b->per_spec);
        printf("  acknowledged %ld jobs in %.2f s (%.0f jobs/s), submit "
               "errors %ld; the leader reports %ld queued\n",
               b->submitted, secs, (double)b->submitted / secs,
               b->submit_errors, queued);
        printf("  leader (pid %d) VmRSS %.1f MB -> %.1f MB (peak %.1f MB): "
               "%.0f bytes per queued job\n",
               (int)pid, (double)before / 1024, (double)after / 1024,
               (double)hwm / 1024, per_job);
        printf("  result: %s\n", ok ? "OK" : "FAILED");
    }
    if (b->first_error[0])
        bench_note("first error: %s", b->first_error);
    return ok ? 0 : 1;
}
