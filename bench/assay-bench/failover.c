/* bench/assay-bench/failover.c - `assay-bench failover`: three raft
 * members and one runtime; K times the leader is killed (SIGKILL) between
 * acknowledged submissions, failover time = kill -> the next acknowledged
 * submission; then no acknowledged JobSpec may be lost. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "bench.h"

/* A member silent this long is left for the next (docs/benchmarks.md). */
#define SILENCE_MS 200

static int s_cmpd(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

/* Submits one one-job JobSpec through whichever member leads (the client
 * leaves a silent member after SILENCE_MS and follows redirects) until
 * `until`; true when acknowledged. */
static bool s_submit_one(s_bench *b, json_t *acked, long *n, int64_t until)
{
    char id[96];
    snprintf(id, sizeof id, "%s-%ld", b->prefix, (*n)++);
    json_t *spec = bench_spec_body(b, id, 1);
    json_t *r = bench_call(b, ASSAY_SVC_SUBMIT, spec, until - assay_now_us());
    json_decref(spec);
    bool ok = r && bench_ok(r);
    if (ok)
        json_array_append_new(acked, json_string(id));
    else if (r) {
        assay_cp_reply why;
        assay_cp_read_reply(r, &why);
        bench_error(b, "submit %s: %s", id, why.message);
    }
    json_decref(r);
    return ok;
}

int bench_cmd_failover(s_bench *b)
{
    b->phase = "starting 3 raft members";
    if (bench_start_cluster(b, 3) ||
        bench_find_leader(b, assay_now_us() + 30 * SEC) < 0 ||
        bench_cp_open(b, NULL, SILENCE_MS))
        return 1;
    b->o.runtimes = 1;
    if (b->o.simulated ? bench_sim_start(b, 1, b->leader, b->o.slots)
                       : bench_start_real_runtimes(b, 1))
        return 1;
    if (bench_wait_runtimes(b, 1))
        return 1;
    json_t *acked = json_array();
    double *times = calloc((size_t)b->o.kills, sizeof *times);
    long n = 0, unacked = 0;
    int done_kills = 0;
    for (int k = 0; k < b->o.kills && !bench_stopping(b); k++) {
        char phase[64];
        snprintf(phase, sizeof phase, "failover %d of %d", k + 1, b->o.kills);
        b->phase = phase;
        for (long m = 0; m < b->o.jobs_per_kill && !bench_stopping(b); m++)
            if (!s_submit_one(b, acked, &n, assay_now_us() + 30 * SEC))
                unacked++;
        int victim = bench_find_leader(b, assay_now_us() + 10 * SEC);
        if (victim < 0 || victim >= 3) {
            if (!b->fatal[0])
                bench_fmt(b->fatal, sizeof b->fatal,
                          "no leader before kill %d", k + 1);
            break;
        }
        /* A client on the victim: the next submission is sent to it
         * first, as a client that knew the old leader would. */
        if (bench_cp_open(b, NULL, SILENCE_MS))
            break;
        s_proc *p = &b->procs[b->member_proc[victim]];
        int64_t t_kill = assay_now_us();
        bench_kill9(p);
        b->leader = -1; /* known again at the next round */
        bool got = false;
        while (!got && !bench_stopping(b) &&
               assay_now_us() - t_kill < 30 * SEC) {
            got = s_submit_one(b, acked, &n, t_kill + 30 * SEC);
            unacked += !got;
        }
        if (!got) {
            if (!b->fatal[0])
                bench_fmt(b->fatal, sizeof b->fatal,
                          "no acknowledged submission 30 s after kill %d",
                          k + 1);
            break;
        }
        times[done_kills++] = (double)(assay_now_us() - t_kill) / 1e6;
        bench_note("kill %d: %s, failover %.3f s", k + 1, p->name,
                   times[done_kills - 1]);
        if (bench_start_member(b, victim))
            break;
        bench_sleep(b, (int64_t)(b->o.settle_s * 1e6));
    }
    /* Every acknowledged JobSpec must exist and its job complete. */
    b->phase = "checking acknowledged JobSpecs";
    size_t nacked = json_array_size(acked);
    uint8_t *ok_spec = calloc(nacked ? nacked : 1, 1);
    long completed = 0, failed = 0, missing = 0;
    int64_t until = assay_now_us() + 90 * SEC;
    if (until > b->deadline)
        until = b->deadline;
    for (;;) {
        size_t left = 0;
        missing = failed = 0;
        for (size_t i = 0; i < nacked && !bench_interrupted; i++) {
            if (ok_spec[i])
                continue;
            json_t *q = json_pack("{s:O}", "id", json_array_get(acked, i));
            json_t *r = bench_call(b, ASSAY_SVC_JOB, q, until - assay_now_us());
            json_decref(q);
            if (r && !bench_ok(r)) {
                missing++;
            } else if (r) {
                size_t x, njobs = json_array_size(json_object_get(r, "jobs"));
                size_t good = 0;
                json_t *job;
                json_array_foreach(json_object_get(r, "jobs"), x, job) {
                    const char *st =
                        json_string_value(json_object_get(job, "state"));
                    good += st && !strcmp(st, "completed");
                    failed += st && (!strcmp(st, "failed") ||
                                     !strcmp(st, "cancelled"));
                }
                if (njobs && good == njobs) {
                    ok_spec[i] = 1;
                    completed += (long)njobs;
                }
            }
            json_decref(r);
            left += !ok_spec[i];
        }
        if (!left || assay_now_us() >= until || bench_interrupted)
            break;
        bench_sleep(b, 500000);
    }
    long lost = 0;
    for (size_t i = 0; i < nacked; i++)
        lost += !ok_spec[i];
    qsort(times, (size_t)done_kills, sizeof *times, s_cmpd);
    double tmin = done_kills ? times[0] : NAN,
           tmax = done_kills ? times[done_kills - 1] : NAN,
           tmed = !done_kills ? NAN
                  : done_kills % 2
                      ? times[done_kills / 2]
                      : (times[done_kills / 2 - 1] + times[done_kills / 2]) / 2;
    bool ok = done_kills == b->o.kills && !lost && !bench_interrupted &&
              !b->fatal[0];
    if (b->o.json) {
        json_t *r = json_pack(
            "{s:s, s:i, s:i, s:b, s:I, s:{s:o, s:o, s:o}, s:I, s:I, s:I, "
            "s:I, s:I, s:I, s:I, s:b}",
            "command", "failover", "members", 3, "kills", done_kills,
            "simulated", b->o.simulated, "jobs_per_kill",
            (json_int_t)b->o.jobs_per_kill, "failover_s", "min",
            bench_real(tmin), "median", bench_real(tmed), "max",
            bench_real(tmax), "acked",
            (json_int_t)nacked, "unacked", (json_int_t)unacked, "submitted",
            (json_int_t)nacked, "completed", (json_int_t)completed, "failed",
            (json_int_t)failed, "missing", (json_int_t)missing, "lost",
            (json_int_t)lost, "ok", ok);
        json_t *all = json_array();
        for (int i = 0; i < done_kills; i++)
            json_array_append_new(all, json_real(times[i]));
        json_object_set_new(r, "failover_all_s", all);
        json_object_set_new(r, "sim", bench_sim_json(b));
        bench_emit(r);
    } else {
        printf("assay-bench failover: 3 raft members, 1 %s runtime, %d "
               "leader kills (kill -9), %ld JobSpecs between kills\n",
               b->o.simulated ? "simulated" : "real", done_kills,
               b->o.jobs_per_kill);
        printf("  failover (kill -> next acknowledged submission): min %.3f "
               "s, median %.3f s, max %.3f s\n",
               tmin, tmed, tmax);
        printf("  %zu JobSpecs acknowledged (%ld submissions unanswered or "
               "refused, retried under new ids): %ld jobs completed, %ld "
               "failed, %ld missing; lost %ld\n",
               nacked, unacked, completed, failed, missing, lost);
        bench_print_sim(b);
        printf("  result: %s\n", ok ? "OK" : "FAILED");
    }
    if (b->first_error[0])
        bench_note("last refused or unanswered submission: %s",
                   b->first_error);
    json_decref(acked);
    free(times);
    free(ok_spec);
    return ok ? 0 : 1;
}
