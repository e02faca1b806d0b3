/* bench/bench_jobquery.c - assay.jobs over a million retained jobs
 * (issue 17, docs/benchmarks.md#schedules-issue-17).
 *
 * One member in this process holds N jobs (JobSpecs of 100 jobs, all run
 * to an end by commands as a runtime's would be): 1% of the JobSpecs of a
 * rare action and a rare label, and 1% of all jobs failed, spread evenly.
 * A client on a real ZeroMQ link asks for the first page of each filter,
 * ROUNDS times; the time from request to reply, min / median / max, and
 * how many jobs the page held. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inproc.h"

#define PER_SPEC 100
#define ROUNDS 21

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Submits, dispatches and ends JobSpec i's jobs (1% rare; every 100th job
 * failed). */
static void s_fill(bench_member *b, long i)
{
    char sid[32], jid[48];
    snprintf(sid, sizeof sid, "q%07ld", i);
    bool rare = i % 100 == 7;
    json_t *labels = json_pack("{s:s}", "team", rare ? "b" : "a"),
           *empty = json_object(), *ok = json_pack("{s:s}", "status", "pass");
    assay_cmd_list *jobs = assay_cmd_list_new(),
                   *disp = assay_cmd_list_new(), *res = assay_cmd_list_new(),
                   *lost = assay_cmd_list_new();
    for (int k = 0; k < PER_SPEC; k++) {
        snprintf(jid, sizeof jid, "%s-%d", sid, k);
        assay_cmd_list_job(jobs, jid, empty);
        assay_cmd_list_dispatch(disp, jid, 1, "sim", "1.0.0", 1000);
        if ((i * PER_SPEC + k) % 100 == 50)
            assay_cmd_list_requeue(lost, jid, 1, "exit 1", NULL, 2000);
        else
            assay_cmd_list_result(res, jid, 1, ok, "sim", 2000);
    }
    assay_cmd_spec spec = {.id = sid,
                           .action = rare ? "sim.rare" : "sim.check",
                           .version = "",
                           .resolved = "1.0.0",
                           .labels = labels,
                           .selector = empty,
                           .timeout_ms = 1000,
                           .max_attempts = 1,
                           .submitted_ms = 1000 + i};
    bench_member_commit(b, assay_cmd_submit(&spec, &jobs));
    bench_member_commit(b, assay_cmd_batch("dispatch", &disp));
    bench_member_commit(b, assay_cmd_batch("result", &res));
    if (assay_cmd_list_count(lost))
        bench_member_commit(b, assay_cmd_batch("requeue", &lost));
    else
        assay_cmd_list_destroy(&lost);
    json_decref(labels);
    json_decref(empty);
    json_decref(ok);
}

/* One request and its reply's round trip, in ms; *n the jobs it held. */
static double s_ask(bench_member *b, assay_link *cp, int id, json_t *q,
                    size_t *n)
{
    char err[256];
    int64_t t0 = assay_now_us();
    if (assay_link_send(cp, id, NULL, ASSAY_MDP_CLIENT, ASSAY_SVC_JOBS, q)) {
        fprintf(stderr, "bench-jobquery: cannot send\n");
        exit(1);
    }
    for (;;) {
        assay_link_msg msg;
        int rc = assay_link_recv(cp, &msg, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "bench-jobquery: %s\n", err);
            exit(1);
        }
        if (rc == 1) {
            double ms = (assay_now_us() - t0) / 1000.0;
            if (!json_is_true(json_object_get(msg.body, "ok"))) {
                fprintf(stderr, "bench-jobquery: refused: %s\n",
                        mb_str(msg.body, "message"));
                exit(1);
            }
            *n = json_array_size(json_object_get(msg.body, "jobs"));
            assay_link_msg_fini(&msg);
            return ms;
        }
        assay_loop_once(b->loop, 0);
    }
}

static void s_keep_all(assay_conf *conf)
{
    conf->retain_jobs = 0;
    conf->retain_seconds = 0;
}

int main(int argc, char **argv)
{
    long n_jobs = 1000000;
    static const struct option opts[] = {{"jobs", 1, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if ((n_jobs = strtol(optarg, NULL, 10)) < PER_SPEC) {
            fprintf(stderr, "usage: bench-jobquery [--jobs N]\n");
            return 64;
        }
    bench_member b;
    bench_member_start(&b, s_keep_all);
    bench_member_runtime(&b, "sim", "sim",
                         (const char *const[]){"check", "rare", NULL});
    double t0 = bench_cpu_s();
    for (long i = 0; i < n_jobs / PER_SPEC; i++) {
        s_fill(&b, i);
        if (b.inflight > 64)
            bench_member_until(&b, NULL, NULL);
    }
    bench_member_until(&b, NULL, NULL);
    printf("%zu jobs held (%zu failed), filled in %.1f s of CPU, RSS %ld "
           "KiB\n",
           assay_state_job_count(b.m->state),
           assay_state_count(b.m->state, ASSAY_JOB_FAILED), bench_cpu_s() - t0,
           bench_rss_kb());
    assay_link *cp = NULL;
    char err[256];
    int id = -1;
    if (assay_link_new(NULL, "zmq", NULL, 1u << 24, &cp, err, sizeof err) ||
        (id = assay_link_open(cp, ASSAY_LINK_CLIENT, b.conf.listen, err,
                              sizeof err)) < 0) {
        fprintf(stderr, "bench-jobquery: %s\n", err);
        return 1;
    }
    static const struct {
        const char *name, *query;
    } qs[] = {
        {"no filter", "{}"},
        {"state failed (1%, not indexed)", "{\"state\": \"failed\"}"},
        {"action sim.rare (1%, indexed)", "{\"action\": \"sim.rare\"}"},
        {"label team=b (1% of JobSpecs)", "{\"labels\": {\"team\": \"b\"}}"},
        {"action sim.rare + state failed",
         "{\"action\": \"sim.rare\", \"state\": \"failed\"}"},
        {"since (last 1% submitted)", NULL},
    };
    printf("%-34s %6s %9s %9s %9s\n", "filter (first page)", "jobs",
           "min_ms", "median_ms", "max_ms");
    for (size_t k = 0; k < sizeof qs / sizeof *qs; k++) {
        double ms[ROUNDS];
        size_t n = 0;
        for (int r = 0; r < ROUNDS; r++) {
            json_t *q = qs[k].query
                            ? json_loads(qs[k].query, 0, NULL)
                            : json_pack("{s:I}", "since_ms",
                                        (json_int_t)(1000 + n_jobs / PER_SPEC *
                                                                99 / 100));
            ms[r] = s_ask(&b, cp, id, q, &n);
            json_decref(q);
        }
        qsort(ms, ROUNDS, sizeof *ms, s_cmp);
        printf("%-34s %6zu %9.2f %9.2f %9.2f\n", qs[k].name, n, ms[0],
               ms[ROUNDS / 2], ms[ROUNDS - 1]);
    }
    assay_link_destroy(&cp);
    bench_member_stop(&b);
    return 0;
}
