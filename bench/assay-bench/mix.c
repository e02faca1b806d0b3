/* bench/assay-bench/mix.c - --mix durations: jobs of mixed lengths on the
 * simulated runtimes, for the planner's makespan (issue 16). The
 * simulated runtimes offer plugin `sim` 1.0.0 with actions ms1, ms3, ...
 * ms10000, each holding its job that many milliseconds before a pass
 * (sim.c). Spec i of the run gets one of them, fixed by a small LCG so
 * that every round and build runs the same mix; before the run, a few
 * jobs of each teach the leader how long each takes; after it, the lower
 * bound on the makespan: total work over the slots, or the longest job. */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "bench.h"
#include "proto/cpmsg.h"

static const int s_ms[] = {1, 3, 10, 30, 100, 300, 1000, 3000, 10000};
#define N_MIX ((long)(sizeof s_ms / sizeof s_ms[0]))
#define TEACH_JOBS 4

static long s_pick(long spec)
{
    uint32_t x = (uint32_t)spec * 2654435761u + 12345u;
    x ^= x >> 15;
    x *= 2246822519u;
    x ^= x >> 13;
    return (long)(x % (uint32_t)N_MIX);
}

const char *bench_mix_action(long spec, char *buf, size_t cap)
{
    snprintf(buf, cap, "sim.ms%d", s_ms[s_pick(spec)]);
    return buf;
}

int64_t bench_mix_ms(const char *action)
{
    if (!action)
        return -1;
    if (!strcmp(action, "noop.pass"))
        return 0;
    for (long k = 0; k < N_MIX; k++) {
        char name[32];
        snprintf(name, sizeof name, "sim.ms%d", s_ms[k]);
        if (!strcmp(action, name))
            return s_ms[k];
    }
    return -1;
}

json_t *bench_mix_catalog_actions(void)
{
    json_t *a = json_array();
    for (long k = 0; a && k < N_MIX; k++) {
        char name[32], help[64];
        snprintf(name, sizeof name, "ms%d", s_ms[k]);
        snprintf(help, sizeof help, "passes after %d ms", s_ms[k]);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:[]}", "name",
                                           name, "help", help, "signature",
                                           "", "params"));
    }
    return a;
}

/* Every teaching job ended (completed or failed), asked with assay.job. */
static bool s_taught(s_bench *b, const char *id)
{
    json_t *q = json_pack("{s:s}", "id", id);
    json_t *r = bench_call(b, ASSAY_SVC_JOB, q, 5 * SEC);
    json_decref(q);
    size_t i, ended = 0;
    json_t *job;
    json_array_foreach(json_object_get(r, "jobs"), i, job) {
        const char *st = json_string_value(json_object_get(job, "state"));
        ended += st && (!strcmp(st, "completed") || !strcmp(st, "failed"));
    }
    json_decref(r);
    return ended == TEACH_JOBS;
}

int bench_mix_teach(s_bench *b)
{
    b->phase = "teaching the leader how long each action takes";
    for (long k = 0; k < N_MIX; k++) {
        char id[96], action[32];
        snprintf(id, sizeof id, "%s-teach%ld", b->prefix, k);
        snprintf(action, sizeof action, "sim.ms%d", s_ms[k]);
        json_t *s = bench_spec_body(b, id, TEACH_JOBS);
        json_object_set_new(s, "action", json_string(action));
        json_t *r = bench_call(b, ASSAY_SVC_SUBMIT, s, 10 * SEC);
        json_decref(s);
        bool ok = bench_ok(r);
        json_decref(r);
        if (!ok) {
            bench_fmt(b->fatal, sizeof b->fatal, "teaching %s: refused",
                      action);
            return -1;
        }
    }
    for (long k = 0; k < N_MIX && !bench_stopping(b); k++) {
        char id[96];
        snprintf(id, sizeof id, "%s-teach%ld", b->prefix, k);
        while (!bench_stopping(b) && !s_taught(b, id))
            bench_sleep(b, 200000);
    }
    return bench_stopping(b) ? -1 : 0;
}

double bench_mix_bound_s(const s_bench *b)
{
    double work = 0, longest = 0;
    for (long i = 0; i < b->nspecs; i++) {
        double ms = s_ms[s_pick(i)] * (double)bench_spec_jobs(b, i);
        work += ms;
        if (s_ms[s_pick(i)] > longest)
            longest = s_ms[s_pick(i)];
    }
    double slots = (double)b->o.runtimes * (double)b->slots;
    double bound = slots > 0 ? work / slots : 0;
    return (bound > longest ? bound : longest) / 1e3;
}
