/* bench/assay-bench/run.c - `assay-bench run`: the cluster and runtimes
 * set up, a warm-up, then throughput (a window of JobSpecs in flight) or
 * latency (JobSpecs offered open loop at --rate), jobs whose event was
 * missed looked up, and the report; or, with --jobs 0 --idle S, the
 * leader's CPU while the runtimes only heartbeat. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "bench.h"

static int s_warmup(s_bench *b)
{
    b->phase = "warming up";
    int64_t next = 0;
    while (!b->warm && !bench_stopping(b)) {
        int64_t now = assay_now_us();
        if (now >= next) {
            /* A fresh id each time: a duplicate publishes nothing. */
            char id[96];
            snprintf(id, sizeof id, "%s-warm%ld", b->prefix, b->warm_sent++);
            bench_submit(b, id, 1);
            next = now + 500000;
        }
        bench_pump(b, next);
    }
    return b->warm ? 0 : -1;
}

/* Until every JobSpec is answered and its jobs ended; a pause of 3 s
 * without progress leaves it to reconciliation. */
static bool s_jobs_pending(s_bench *b, int64_t *quiet_since, long *seen)
{
    long progress = b->replied + bench_ended(b);
    int64_t now = assay_now_us();
    if (progress != *seen) {
        *seen = progress;
        *quiet_since = now;
    }
    if (b->replied >= b->nspecs && bench_ended(b) >= b->submitted)
        return false;
    return !(b->replied >= b->nspecs && now - *quiet_since > 3 * SEC);
}

static void s_throughput(s_bench *b)
{
    long next = 0, seen = -1;
    int64_t quiet = assay_now_us();
    b->first_send_us = assay_now_us();
    while (!bench_stopping(b) && s_jobs_pending(b, &quiet, &seen)) {
        while (next < b->nspecs && b->sent - b->replied < b->o.window &&
               (!b->o.backlog ||
                next * b->per_spec - bench_ended(b) < b->o.backlog))
            bench_submit_spec(b, next++);
        bench_pump(b, assay_now_us() + 100000);
    }
}

static void s_latency(s_bench *b)
{
    long next = 0, seen = -1;
    int64_t quiet = assay_now_us();
    double step = 1e6 / b->o.rate;
    b->t0_us = assay_now_us() + 1000;
    b->first_send_us = b->t0_us;
    while (!bench_stopping(b) && s_jobs_pending(b, &quiet, &seen)) {
        int64_t now = assay_now_us();
        while (next < b->nspecs &&
               b->t0_us + (int64_t)((double)next * step) <= now) {
            int64_t sched = b->t0_us + (int64_t)((double)next * step);
            bench_submit_spec(b, next);
            if (b->last_send_us - sched > b->max_send_lag_us)
                b->max_send_lag_us = b->last_send_us - sched;
            next++;
        }
        int64_t wake = next < b->nspecs
                           ? b->t0_us + (int64_t)((double)next * step)
                           : now + 100000;
        bench_pump(b, wake);
    }
}

/* Jobs whose terminal event was missed: asked for with assay.job. */
static void s_reconcile(s_bench *b)
{
    b->phase = "looking up jobs without an event";
    while (bench_ended(b) < b->submitted && !bench_stopping(b)) {
        long before = bench_ended(b);
        for (long i = 0; i < b->nspecs && !bench_stopping(b); i++) {
            if (!b->spec_acked[i])
                continue;
            long k, n = bench_spec_jobs(b, i);
            for (k = 0; k < n && b->done[i * b->per_spec + k]; k++)
                ;
            if (k == n)
                continue;
            char id[96];
            snprintf(id, sizeof id, "%s-%ld", b->prefix, i);
            json_t *q = json_pack("{s:s}", "id", id);
            json_t *r = bench_call(b, ASSAY_SVC_JOB, q, 5 * SEC);
            json_decref(q);
            size_t x;
            json_t *job;
            json_array_foreach(json_object_get(r, "jobs"), x, job) {
                const char *st =
                    json_string_value(json_object_get(job, "state"));
                long si, kk;
                if (st && (!strcmp(st, "completed") || !strcmp(st, "failed") ||
                           !strcmp(st, "cancelled")) &&
                    bench_parse_id(
                        b, json_string_value(json_object_get(job, "id")), &si,
                        &kk))
                    bench_mark_done(b, si, kk, st, job, assay_now_us(), false);
            }
            json_decref(r);
        }
        if (bench_ended(b) == before)
            bench_sleep(b, 500000);
    }
}

static int s_cmp64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
    return (a > c) - (a < c);
}

static double s_pct_ms(const int64_t *v, long n, double p)
{
    if (n <= 0)
        return NAN;
    long r = (long)ceil(p / 100.0 * (double)n);
    return (double)v[(r < 1 ? 1 : r) - 1] / 1e3;
}

/* Starts (or finds) the cluster and runtimes for `run`. */
static int s_setup_run(s_bench *b)
{
    b->phase = "starting the cluster";
    if (!b->o.endpoint) {
        if (bench_start_cluster(b, b->o.members))
            return -1;
    } else {
        char *list = strdup(b->o.endpoint), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t && b->neps < MAX_EPS;
             t = strtok_r(NULL, ",", &save))
            bench_ep_index(b, t);
        free(list);
        if (!b->neps)
            return -1;
    }
    b->phase = "finding the leader";
    if (bench_find_leader(b, assay_now_us() + 30 * SEC) < 0) {
        if (!b->fatal[0])
            bench_fmt(b->fatal, sizeof b->fatal,
                      "no member leads within 30 s");
        return -1;
    }
    const char *events = b->o.events ? b->o.events : b->evs[b->leader];
    if (!*events) {
        bench_fmt(b->fatal, sizeof b->fatal,
                  "the leader's event endpoint is unknown: give --events");
        return -1;
    }
    if (bench_cp_open(b, events, 0))
        return -1;
    if (b->o.simulated) {
        if (bench_sim_start(b, b->o.runtimes, b->leader, b->o.slots))
            return -1;
    } else if (b->own && bench_start_real_runtimes(b, b->o.runtimes)) {
        return -1;
    }
    if (bench_wait_runtimes(b, b->o.simulated || b->own ? b->o.runtimes : 1))
        return -1;
    if (!b->o.simulated && !b->own) /* theirs: report how many there are */
        b->o.runtimes = bench_runtimes_alive(b, NULL);
    return 0;
}

/* --unplaceable U: U jobs that no runtime can take (a selector none has),
 * queued at the run's priority before it starts, in JobSpecs of 1,000:
 * they stay queued ahead of every job the run submits. */
static int s_queue_unplaceable(s_bench *b)
{
    b->phase = "queueing jobs no runtime can take";
    for (long i = 0, left = b->o.unplaceable; left > 0 && !bench_stopping(b);
         i++) {
        char id[96];
        snprintf(id, sizeof id, "%s-nowhere-%ld", b->prefix, i);
        long n = left < 1000 ? left : 1000;
        json_t *s = bench_spec_body(b, id, n);
        json_object_set_new(s, "selector",
                            json_pack("{s:s}", "assay-bench", "nowhere"));
        json_t *r = bench_call(b, ASSAY_SVC_SUBMIT, s, 60 * SEC);
        json_decref(s);
        bool ok = bench_ok(r);
        json_decref(r);
        if (!ok) {
            bench_fmt(b->fatal, sizeof b->fatal,
                      "queueing unplaceable JobSpec %s failed", id);
            return -1;
        }
        left -= n;
    }
    return 0;
}

static int s_idle(s_bench *b)
{
    s_cpu c;
    b->phase = "idle: runtimes heartbeating";
    b->measuring = true;
    b->hb_gap_max_us = 0;
    uint64_t hb0 = b->sim_heartbeats, pulses0 = b->sim_pulses;
    long dead0 = b->dead_events;
    bench_sim_measure(b);
    bench_cpu_start(b, &c);
    int64_t until = assay_now_us() + (int64_t)(b->o.idle_s * 1e6);
    if (until > b->deadline)
        until = b->deadline;
    while (assay_now_us() < until && !bench_stopping(b))
        bench_pump(b, until);
    bench_cpu_stop(&c);
    b->measuring = false;
    bench_sim_collect(b);
    long dead = -1;
    long alive = bench_runtimes_alive(b, &dead);
    bool full = (double)(c.t1 - c.t0) >= b->o.idle_s * 1e6 * 0.99;
    bool ok = full && alive == b->o.runtimes && dead == 0 && !b->fatal[0] &&
              !bench_interrupted;
    double cpu = c.cpu1 - c.cpu0, wall = (double)(c.t1 - c.t0) / 1e6;
    if (b->o.json) {
        json_t *r = json_pack(
            "{s:s, s:s, s:i, s:s, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
            "s:o, s:i, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:b}",
            "command", "run", "mode", "idle", "members",
            b->own ? b->consensus_members : 0, "consensus",
            b->own ? (b->consensus_members > 1 ? "raft" : "none")
                   : "external",
            "runtimes", (int)b->o.runtimes, "simulated", b->o.simulated,
            "submitted", (json_int_t)0, "completed", (json_int_t)0, "failed",
            (json_int_t)0, "errors", (json_int_t)0, "alive",
            (json_int_t)alive, "dead", (json_int_t)dead, "idle_seconds",
            bench_real(wall), "heartbeat_ms", b->o.heartbeat_ms,
            "leader_cpu_percent",
            bench_real(c.pid > 0 && wall > 0 ? cpu * 100 / wall : NAN),
            "leader", bench_leader_json(&c), "dead_events",
            (json_int_t)(b->dead_events - dead0),
            "heartbeats_sent", (json_int_t)(b->sim_heartbeats - hb0), "pulses",
            (json_int_t)(b->sim_pulses - pulses0), "max_heartbeat_gap_ms",
            (json_int_t)(b->hb_gap_max_us / 1000), "reregisters",
            (json_int_t)b->sim_reregisters, "ok", ok);
        bench_emit(r);
    } else {
        printf("assay-bench run --idle: %ld %s runtimes, heartbeat every %d "
               "ms, for %.1f s\n",
               b->o.runtimes, b->o.simulated ? "simulated" : "real",
               b->o.heartbeat_ms, wall);
        bench_print_leader(&c);
        printf("  runtimes the leader reports: %ld alive, %ld dead "
               "(runtime.dead events during the period: %ld)\n",
               alive, dead, b->dead_events - dead0);
        if (b->o.simulated)
            printf("  simulated: %llu heartbeats sent, %llu pulses received, "
                   "max gap between two heartbeats of one runtime %.0f ms, "
                   "%llu reregisters\n",
                   (unsigned long long)(b->sim_heartbeats - hb0),
                   (unsigned long long)(b->sim_pulses - pulses0),
                   (double)b->hb_gap_max_us / 1e3,
                   (unsigned long long)b->sim_reregisters);
        printf("  result: %s\n", ok ? "OK" : "FAILED");
    }
    return ok ? 0 : 1;
}

static int s_report_run(s_bench *b, const s_cpu *c)
{
    bool ok = b->replied >= b->nspecs && bench_ended(b) == b->submitted &&
              b->submitted == b->o.jobs && !b->failed && !b->submit_errors &&
              !bench_interrupted && !b->fatal[0];
    double secs = b->last_event_us > b->first_send_us
                      ? (double)(b->last_event_us - b->first_send_us) / 1e6
                      : NAN;
    long n = 0;
    int64_t *v = malloc(sizeof *v * (size_t)(b->o.jobs ? b->o.jobs : 1));
    for (long j = 0; v && j < b->o.jobs; j++)
        if (b->lat_us[j] >= 0)
            v[n++] = b->lat_us[j];
    if (v)
        qsort(v, (size_t)n, sizeof *v, s_cmp64);
    double p50 = s_pct_ms(v, n, 50), p90 = s_pct_ms(v, n, 90),
           p99 = s_pct_ms(v, n, 99),
           max = n ? (double)v[n - 1] / 1e3 : NAN;
    free(v);
    double offered = b->o.rate > 0 && b->sent > 1 &&
                             b->last_send_us > b->first_send_us
                         ? (double)(b->sent - 1) * 1e6 /
                               (double)(b->last_send_us - b->first_send_us)
                         : NAN;
    const char *consensus =
        b->own ? (b->consensus_members > 1 ? "raft" : "none") : "external";
    if (b->o.json) {
        json_t *r = json_pack(
            "{s:s, s:s, s:i, s:s, s:i, s:b, s:s, s:I, s:I, s:I, s:I, s:I, "
            "s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:{s:o, s:o, s:o, s:o, "
            "s:I}, s:o, s:I, s:b}",
            "command", "run", "mode", b->o.rate > 0 ? "latency" : "throughput",
            "members", b->own ? b->consensus_members : 0, "consensus",
            consensus, "runtimes", (int)b->o.runtimes, "simulated",
            b->o.simulated, "action", b->o.action, "jobs",
            (json_int_t)b->o.jobs, "per_spec", (json_int_t)b->per_spec,
            "specs", (json_int_t)b->nspecs, "submitted",
            (json_int_t)b->submitted, "completed", (json_int_t)b->completed,
            "failed", (json_int_t)b->failed, "passed",
            (json_int_t)b->passed, "submit_errors",
            (json_int_t)b->submit_errors, "errors",
            (json_int_t)(b->submit_errors + b->failed), "reconciled",
            (json_int_t)b->reconciled, "seconds", bench_real(secs),
            "jobs_per_s", bench_real((double)b->completed / secs),
            "latency_ms", "p50", bench_real(p50), "p90", bench_real(p90),
            "p99", bench_real(p99), "max", bench_real(max), "samples",
            (json_int_t)n, "leader", bench_leader_json(c),
            "window", (json_int_t)(b->o.rate > 0 ? 0 : b->o.window), "ok", ok);
        if (b->o.rate > 0) {
            json_object_set_new(r, "rate", bench_real(b->o.rate));
            json_object_set_new(r, "offered_per_s", bench_real(offered));
            json_object_set_new(r, "max_send_lag_ms",
                                bench_real((double)b->max_send_lag_us / 1e3));
        }
        if (b->o.backlog && b->o.rate <= 0)
            json_object_set_new(r, "backlog", json_integer(b->o.backlog));
        if (b->o.unplaceable)
            json_object_set_new(r, "unplaceable",
                                json_integer(b->o.unplaceable));
        if (b->o.mix) {
            double bound = bench_mix_bound_s(b);
            json_object_set_new(r, "makespan_s", bench_real(secs));
            json_object_set_new(r, "makespan_bound_s", bench_real(bound));
            json_object_set_new(r, "makespan_ratio",
                                bench_real(secs / bound));
        }
        json_object_set_new(r, "sim", bench_sim_json(b));
        if (b->first_error[0])
            json_object_set_new(r, "first_error", json_string(b->first_error));
        bench_emit(r);
    } else {
        printf("assay-bench run: %ld %s jobs as %ld JobSpecs of %s%ld, "
               "%ld %s runtimes, %s\n",
               b->o.jobs, b->o.action, b->nspecs,
               b->o.rate > 0 ? "" : "up to ", b->per_spec, b->o.runtimes,
               b->o.simulated ? "simulated" : "real",
               b->own ? (b->consensus_members > 1
                             ? "3 raft members"
                             : "1 member (consensus none)")
                      : "external cluster");
        printf("  submitted %ld, completed %ld (%ld passed), failed %ld, "
               "submit errors %ld%s\n",
               b->submitted, b->completed, b->passed, b->failed,
               b->submit_errors,
               b->reconciled ? " (some seen by lookup, no event)" : "");
        if (b->o.rate > 0)
            printf("  offered %.0f JobSpecs/s (asked %.0f/s, max send lag "
                   "%.1f ms)\n",
                   offered, b->o.rate, (double)b->max_send_lag_us / 1e3);
        if (b->o.unplaceable)
            printf("  behind %ld queued jobs no runtime can take\n",
                   b->o.unplaceable);
        if (b->o.mix)
            printf("  makespan %.2f s; lower bound %.2f s (work / slots, or "
                   "the longest job): %.3fx\n",
                   secs, bench_mix_bound_s(b), secs / bench_mix_bound_s(b));
        printf("  end to end: %.0f jobs/s (%.2f s, first submit -> last "
               "completion)\n",
               (double)b->completed / secs, secs);
        printf("  latency submit -> completed%s: p50 %.2f ms, p90 %.2f ms, "
               "p99 %.2f ms, max %.2f ms (%ld samples)\n",
               b->o.rate > 0 ? " (from scheduled send)" : "", p50, p90, p99,
               max, n);
        bench_print_leader(c);
        bench_print_sim(b);
        printf("  result: %s\n", ok ? "OK" : "FAILED");
    }
    if (b->first_error[0])
        bench_note("first error: %s", b->first_error);
    return ok ? 0 : 1;
}

int bench_cmd_run(s_bench *b)
{
    if (s_setup_run(b))
        return 1;
    if (b->o.jobs == 0) {
        if (b->o.idle_s > 0)
            return s_idle(b);
        printf("assay-bench run: cluster and %ld runtimes up; nothing to do "
               "(--jobs 0 without --idle)\n",
               b->o.runtimes);
        return 0;
    }
    int specs = bench_specs_init(b, b->o.rate > 0 ? 1 : b->o.per_spec);
    b->done = calloc((size_t)b->o.jobs, 1);
    b->lat_us = malloc(sizeof *b->lat_us * (size_t)b->o.jobs);
    if (specs || !b->done || !b->lat_us) {
        bench_fmt(b->fatal, sizeof b->fatal, "out of memory");
        return 1;
    }
    for (long j = 0; j < b->o.jobs; j++)
        b->lat_us[j] = -1;
    if (b->o.unplaceable && s_queue_unplaceable(b))
        return 1;
    if (s_warmup(b) || (b->o.mix && bench_mix_teach(b))) {
        if (!b->fatal[0] && !bench_interrupted)
            bench_fmt(b->fatal, sizeof b->fatal,
                      "no completion event for %ld warm-up JobSpecs",
                      b->warm_sent);
        return 1;
    }
    s_cpu c;
    b->phase = b->o.rate > 0 ? "latency run" : "throughput run";
    b->measuring = true;
    bench_sim_measure(b);
    bench_cpu_start(b, &c);
    if (b->o.rate > 0)
        s_latency(b);
    else
        s_throughput(b);
    bench_cpu_stop(&c);
    if (bench_ended(b) < b->submitted)
        s_reconcile(b);
    b->measuring = false;
    bench_sim_collect(b);
    return s_report_run(b, &c);
}
