/* bench/bench_schedules.c - schedules over a simulated month (issue 17,
 * docs/benchmarks.md#schedules-issue-17).
 *
 * N schedules firing every minute (allow_all, keep_runs K) on one member
 * in this process (consensus none), the wall clock its schedules go by
 * injected and moved a minute at a time. Each simulated minute: the
 * leader's schedule tick is called (planning, building each run's
 * JobSpec as assay.submit would, committing the fires), then every run is
 * dispatched and completed by "dispatch" and "result" commands committed
 * like a runtime's would be, so that runs end and retention has work.
 * The planner and the network are not what this measures.
 *
 * Reported per simulated day: fires decided and started, JobSpecs held,
 * RSS, snapshot bytes, and CPU per minute of simulated time as a share
 * of a core if that minute had been real: the schedule tick's own, and
 * the whole process's (applying every fire, dispatch and result, and this
 * program building them: an upper bound on what firing costs). At the end
 * it checks every fire time was started exactly once. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inproc.h"
#include "state/schedule.h"

#define T0 1798761600000LL /* 2027-01-01T00:00:00Z */
#define MIN_MS 60000LL

static int64_t now_ms = T0;
static long n_sched = 1000;

static int64_t s_wall(void *arg)
{
    (void)arg;
    return now_ms;
}

static void s_tune(assay_conf *conf)
{
    conf->max_schedules = n_sched;
    conf->retain_jobs = 0; /* the schedules' keep_runs bound what is held */
    conf->retain_seconds = 0;
}

/* Dispatches and completes every queued job, as a runtime would. */
static size_t s_run_all(bench_member *b)
{
    assay_leader *m = b->m;
    assay_cmd_list *disp = assay_cmd_list_new(), *res = assay_cmd_list_new();
    json_t *ok = json_pack("{s:s}", "status", "pass");
    size_t n = 0;
    assay_class *lists[] = {assay_state_classes(m->state),
                            assay_state_parked(m->state)};
    for (int l = 0; l < 2; l++)
        for (assay_class *c = lists[l]; c; c = c->next)
            for (assay_job *j = c->jobs.head; j; j = j->next, n++) {
                assay_cmd_list_dispatch(disp, j->id, j->attempt + 1, "sim",
                                        "1.0.0", now_ms + 1);
                assay_cmd_list_result(res, j->id, j->attempt + 1, ok, "sim",
                                      now_ms + 2);
            }
    json_decref(ok);
    if (!n) {
        assay_cmd_list_destroy(&disp);
        assay_cmd_list_destroy(&res);
        return 0;
    }
    bench_member_commit(b, assay_cmd_batch("dispatch", &disp));
    bench_member_commit(b, assay_cmd_batch("result", &res));
    return n;
}

static bool s_all_fired(void *arg)
{
    assay_leader *m = arg;
    for (const assay_sched_rec *r = assay_state_schedules(m->state); r;
         r = r->next)
        if (r->cursor_ms < now_ms)
            return false;
    return true;
}

int main(int argc, char **argv)
{
    long days = 30, keep = 100;
    static const struct option opts[] = {{"schedules", 1, NULL, 's'},
                                         {"days", 1, NULL, 'd'},
                                         {"keep-runs", 1, NULL, 'k'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        long v = strtol(optarg ? optarg : "", NULL, 10);
        if (v < 1) {
            fprintf(stderr, "usage: bench-schedules [--schedules N] [--days "
                            "D] [--keep-runs K]\n");
            return 64;
        }
        *(c == 's' ? &n_sched : c == 'd' ? &days : &keep) = v;
    }
    bench_member b;
    bench_member_start(&b, s_tune);
    assay_leader *m = b.m;
    assay_leader_set_clock(m, s_wall, NULL);
    /* A runtime offering sim.check in the registry (its catalogue is what
     * runs resolve against); it never heartbeats within the run. */
    bench_member_runtime(&b, "sim", "sim", (const char *const[]){"check", NULL});
    char err[512];
    for (long i = 0; i < n_sched; i++) {
        char id[32];
        snprintf(id, sizeof id, "s%04ld", i);
        json_t *def = json_pack("{s:s, s:[s], s:s, s:i, s:{s:s}}", "id", id,
                                "cron", "* * * * *", "overlap", "allow_all",
                                "keep_runs", (int)keep, "spec", "action",
                                "sim.check");
        assay_sched_limits lim = mb_sched_limits(m);
        assay_sched_def *d = NULL;
        if (assay_sched_def_parse(def, &lim, true, &d, err, sizeof err)) {
            fprintf(stderr, "bench-schedules: %s\n", err);
            return 1;
        }
        json_t *norm = assay_sched_def_json(d);
        bench_member_commit(&b, assay_cmd_schedule(id, norm, now_ms, NULL,
                                                   NULL));
        json_decref(norm);
        json_decref(def);
        assay_sched_def_destroy(&d);
    }
    bench_member_until(&b, NULL, NULL);
    printf("day  fires_started  specs_held  rss_kb  snapshot_bytes  "
           "tick_cpu_pct  process_cpu_pct\n");
    uint64_t runs = 0;
    double cpu0 = bench_cpu_s();
    int64_t tick0 = mb_scheds_cpu_ns(m);
    for (long day = 1; day <= days; day++) {
        for (int minute = 0; minute < 1440; minute++) {
            now_ms += MIN_MS;
            mb_scheds_tick(m);
            bench_member_until(&b, s_all_fired, m);
            runs += s_run_all(&b);
            bench_member_until(&b, NULL, NULL);
        }
        char *snap = NULL;
        size_t snap_len = 0;
        assay_fsm_snapshot(m->state, &snap, &snap_len);
        free(snap);
        double cpu = bench_cpu_s();
        int64_t tick = mb_scheds_cpu_ns(m);
        /* Share of a core, had these 1,440 minutes been real. */
        double real_s = 1440.0 * 60;
        printf("%3ld  %13llu  %10zu  %6ld  %14zu  %12.5f  %15.5f\n", day,
               (unsigned long long)runs, assay_state_spec_count(m->state),
               bench_rss_kb(), snap_len, (tick - tick0) / 1e9 / real_s * 100,
               (cpu - cpu0) / real_s * 100);
        fflush(stdout);
        cpu0 = cpu;
        tick0 = tick;
    }
    /* Exactly once: each schedule started one run per minute, skipped and
     * missed none. */
    int bad = 0;
    for (const assay_sched_rec *r = assay_state_schedules(m->state); r;
         r = r->next)
        if (r->started != (uint64_t)(days * 1440) || r->skipped ||
            r->missed || r->failed || r->nonexistent)
            bad++;
    printf("schedules with a fire not started exactly once: %d of %ld; "
           "runs completed: %llu (expected %llu)\n",
           bad, n_sched, (unsigned long long)runs,
           (unsigned long long)(n_sched * days * 1440));
    bench_member_stop(&b);
    return bad ? 1 : 0;
}
