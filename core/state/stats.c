/* core/state/stats.c - what assay.stats reports from the state: jobs
 * submitted and ended so far (rates are the leader's differences of
 * these), and per action the latest waits (queued to running) and runs
 * (running to a result), as the log's clocks say. Derived on every member
 * from what it applies, not replicated: a member that restarts starts
 * counting again. Bounded: ASSAY_STATS_SAMPLES of each per action, at
 * most ASSAY_STATS_ACTIONS actions (others are not sampled). */
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

struct st_action {
    uint32_t n[2], pos[2]; /* samples held, and where the next goes */
    int64_t ms[2][ASSAY_STATS_SAMPLES];
    assay_action_counts counts;
};

const int64_t ASSAY_LATENCY_BOUNDS_MS[ASSAY_LATENCY_BUCKETS - 1] = {
    1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 60000, 300000};

/* Action `action`'s entry: found, or made while fewer than
 * ASSAY_STATS_ACTIONS are; NULL past that (or out of memory). */
static st_action *s_action(assay_state *self, const char *action)
{
    st_action *l = assay_index_get(self->latency, action);
    if (l || assay_index_size(self->latency) >= ASSAY_STATS_ACTIONS ||
        !(l = calloc(1, sizeof *l)))
        return l;
    strlcpy(l->counts.action, action, sizeof l->counts.action);
    if (assay_index_put(self->latency, action, l) != 0) {
        free(l);
        return NULL;
    }
    return l;
}

static assay_action_counts *s_counts(assay_state *self, const char *action)
{
    st_action *l = action ? s_action(self, action) : NULL;
    if (l)
        return &l->counts;
    strlcpy(self->other.action, ASSAY_STATS_OTHER, sizeof self->other.action);
    return &self->other;
}

void st_stats_submitted(assay_state *self, const assay_spec_rec *s)
{
    if (!self->restoring)
        s_counts(self, s->action)->submitted++;
}

void st_stats_ended(assay_state *self, const assay_job *j)
{
    assay_action_counts *c = s_counts(self, j->spec->action);
    if (j->state == ASSAY_JOB_COMPLETED)
        c->completed++;
    else if (j->state == ASSAY_JOB_FAILED)
        c->failed++;
    else
        c->cancelled++;
}

static void s_sample(assay_state *self, const char *action, int kind,
                     int64_t ms)
{
    if (ms < 0 || !action)
        return;
    assay_latency_hist *h = &self->hist[kind];
    size_t b = 0;
    while (b < ASSAY_LATENCY_BUCKETS - 1 && ms > ASSAY_LATENCY_BOUNDS_MS[b])
        b++;
    h->counts[b]++;
    h->sum_ms += ms;
    st_action *l = s_action(self, action);
    if (!l)
        return;
    l->ms[kind][l->pos[kind]] = ms;
    l->pos[kind] = (l->pos[kind] + 1) % ASSAY_STATS_SAMPLES;
    if (l->n[kind] < ASSAY_STATS_SAMPLES)
        l->n[kind]++;
}

void st_stats_dispatched(assay_state *self, const assay_job *j, int64_t at)
{
    /* Queued since its submission, or since its last attempt ended. */
    int64_t since = j->n_attempts ? j->attempts[j->n_attempts - 1].end_ms
                                  : j->spec->submitted_ms;
    if (since > 0 && at > 0)
        s_sample(self, j->spec->action, 0, at - since);
}

void st_stats_ran(assay_state *self, const assay_job *j, int64_t at)
{
    const assay_attempt *a = j->n_attempts ? &j->attempts[j->n_attempts - 1]
                                           : NULL;
    if (a && a->start_ms > 0 && at > 0)
        s_sample(self, j->spec->action, 1, at - a->start_ms);
}

static void s_free(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void st_stats_clear(assay_state *self)
{
    assay_index_each(self->latency, s_free, NULL);
    assay_index_destroy(&self->latency);
    self->latency = assay_index_new();
}

uint64_t assay_state_submitted(const assay_state *self)
{
    return self->n_submitted;
}

uint64_t assay_state_ended(const assay_state *self) { return self->n_ended; }

const assay_latency_hist *assay_state_latency_hist(const assay_state *self,
                                                   int kind)
{
    return &self->hist[kind ? 1 : 0];
}

static int s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* {n, p50, p90, p99} of one kind of samples (ms). */
static json_t *s_pct(const st_action *l, int kind)
{
    int64_t v[ASSAY_STATS_SAMPLES];
    uint32_t n = l->n[kind];
    memcpy(v, l->ms[kind], n * sizeof *v);
    qsort(v, n, sizeof *v, s_cmp);
    json_t *o = json_pack("{s:I}", "n", (json_int_t)n);
    static const struct {
        const char *name;
        int pct;
    } p[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}};
    for (size_t i = 0; n && i < 3; i++)
        json_object_set_new(o, p[i].name,
                            json_integer(v[(n - 1) * p[i].pct / 100]));
    return o;
}

typedef struct {
    json_t *out;
} s_collect;

static void s_each(const char *key, void *value, void *arg)
{
    const st_action *l = value;
    json_object_set_new(((s_collect *)arg)->out, key,
                        json_pack("{s:o, s:o}", "queued_to_running",
                                  s_pct(l, 0), "running_to_done",
                                  s_pct(l, 1)));
}

typedef struct {
    void (*fn)(void *arg, const assay_action_counts *c);
    void *arg;
} s_each_counts;

static void s_each_count(const char *key, void *value, void *arg)
{
    (void)key;
    const s_each_counts *e = arg;
    e->fn(e->arg, &((const st_action *)value)->counts);
}

void assay_state_action_counts(const assay_state *self,
                               void (*fn)(void *arg,
                                          const assay_action_counts *c),
                               void *arg)
{
    s_each_counts e = {fn, arg};
    assay_index_each(self->latency, s_each_count, &e);
    if (self->other.action[0])
        fn(arg, &self->other);
}

json_t *assay_state_latency_json(const assay_state *self)
{
    s_collect c = {json_object()};
    assay_index_each(self->latency, s_each, &c);
    return c.out;
}
