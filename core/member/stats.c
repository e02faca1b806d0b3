/* core/member/stats.c - assay.stats: what the cluster holds and how fast
 * it moves (docs/protocol.md#assaystats). Queue depth by state, priority
 * and action, from the placement classes and the running list; jobs in
 * and out per second over the last minute and hour, from the state's
 * counters sampled once a second into a ring (an hour of them); latency
 * percentiles per action (core/state/stats.c); runtimes alive and dead;
 * schedules by state and their decisions. Nothing here is replicated: a
 * member counts from its start (`since_ms`). */
#include "member/internal.h"

#include "state/schedule.h"

#define HOUR_S 3600

struct mb_rates {
    uint64_t in[HOUR_S + 1], out[HOUR_S + 1]; /* cumulative, per second */
    size_t pos, n;                            /* next slot; samples held */
    int64_t since_ms;
};

int mb_rates_new(assay_leader *self)
{
    self->rates = calloc(1, sizeof *self->rates);
    if (self->rates)
        self->rates->since_ms = assay_wall_ms();
    return self->rates ? 0 : ASSAY_ENOMEM;
}

void mb_rates_destroy(assay_leader *self)
{
    free(self->rates);
    self->rates = NULL;
}

void mb_rates_sample(assay_leader *self)
{
    mb_rates *r = self->rates;
    r->in[r->pos] = assay_state_submitted(self->state);
    r->out[r->pos] = assay_state_ended(self->state);
    r->pos = (r->pos + 1) % (HOUR_S + 1);
    if (r->n < HOUR_S + 1)
        r->n++;
}

/* Per second over the last `span` seconds (or since the first sample). */
static double s_rate(const mb_rates *r, const uint64_t *ring, size_t span)
{
    if (r->n < 2)
        return 0;
    size_t back = span < r->n - 1 ? span : r->n - 1;
    size_t last = (r->pos + HOUR_S) % (HOUR_S + 1);
    size_t first = (last + HOUR_S + 1 - back) % (HOUR_S + 1);
    return ring[last] >= ring[first]
               ? (double)(ring[last] - ring[first]) / (double)back
               : 0;
}

static void s_count(json_t *o, const char *key, size_t n)
{
    json_t *v = json_object_get(o, key);
    json_object_set_new(o, key,
                        json_integer(json_integer_value(v) + (json_int_t)n));
}

static json_t *s_queue(assay_leader *self)
{
    json_t *by_prio = json_object(), *by_action = json_object(),
           *running = json_object();
    for (int parked = 0; parked < 2; parked++)
        for (const assay_class *c = parked ? assay_state_parked(self->state)
                                           : assay_state_classes(self->state);
             c; c = c->next) {
            char prio[24];
            snprintf(prio, sizeof prio, "%lld", (long long)c->priority);
            s_count(by_prio, prio, c->queued);
            s_count(by_action, c->action, c->queued);
        }
    for (const assay_job *j = assay_state_running(self->state); j; j = j->next)
        s_count(running, j->spec->action, 1);
    json_t *states = json_object();
    for (int st = 0; st <= ASSAY_JOB_CANCELLED; st++)
        json_object_set_new(states, assay_job_state_name(st),
                            json_integer((json_int_t)assay_state_count(
                                self->state, st)));
    return json_pack("{s:o, s:o, s:o, s:o}", "by_state", states,
                     "queued_by_priority", by_prio, "queued_by_action",
                     by_action, "running_by_action", running);
}

void mb_sched_counts(assay_leader *self, json_int_t n[3], uint64_t c[6])
{
    memset(n, 0, 3 * sizeof *n);
    memset(c, 0, 6 * sizeof *c);
    for (const assay_sched_rec *r = assay_state_schedules(self->state); r;
         r = r->next) {
        n[r->paused ? 1 : assay_sched_ended(r) ? 2 : 0]++;
        const uint64_t v[6] = {r->started, r->buffered,    r->skipped,
                               r->missed,  r->nonexistent, r->failed};
        for (int i = 0; i < 6; i++)
            c[i] += v[i];
    }
}

static json_t *s_schedules(assay_leader *self)
{
    json_int_t n[3];
    uint64_t c[6];
    mb_sched_counts(self, n, c);
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, "
                     "s:I, s:I}}",
                     "planning_cpu_ms",
                     (json_int_t)(mb_scheds_cpu_ns(self) / 1000000), "total",
                     (json_int_t)assay_state_schedule_count(self->state),
                     "active", n[0], "paused", n[1], "ended", n[2], "due",
                     (json_int_t)mb_scheds_due_now(self), "fires", "started",
                     (json_int_t)c[0], "buffered", (json_int_t)c[1],
                     "skipped", (json_int_t)c[2], "missed", (json_int_t)c[3],
                     "nonexistent", (json_int_t)c[4], "failed",
                     (json_int_t)c[5]);
}

json_t *mb_stats_json(assay_leader *self)
{
    const mb_rates *r = self->rates;
    json_int_t alive = 0, dead = 0;
    assay_runtime_rec *rec;
    for (size_t i = 0; (rec = assay_state_runtime_at(self->state, i)); i++)
        rec->alive ? alive++ : dead++;
    json_t *o = json_pack(
        "{s:o, s:{s:{s:f, s:f}, s:{s:f, s:f}}, s:o, s:{s:I, s:I}, s:o, "
        "s:I}",
        "queue", s_queue(self), "rates", "in_per_s", "minute",
        s_rate(r, r->in, 60), "hour", s_rate(r, r->in, HOUR_S), "out_per_s",
        "minute", s_rate(r, r->out, 60), "hour", s_rate(r, r->out, HOUR_S),
        "latency_ms", assay_state_latency_json(self->state), "runtimes",
        "alive", alive, "dead", dead, "schedules", s_schedules(self),
        "since_ms", (json_int_t)r->since_ms);
    return o;
}

void mb_svc_stats(assay_leader *self, const assay_bytes *route,
                  const char *verb, const json_t *body)
{
    (void)body;
    mb_reply(self, route, verb, assay_cp_ok(mb_stats_json(self)));
}
