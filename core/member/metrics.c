/* core/member/metrics.c - the member's metrics (docs/operations.md
 * #metrics), served on metrics_listen: what the state holds (jobs by
 * state, runtimes, the result stream and its consumers), what this
 * member applied and refused since it started, and its consensus view.
 * Built from what is kept anyway, at the scrape: nothing is counted on
 * the hot path for it. */
#include "member/internal.h"

#include "obs/expo.h"

/* A family of one sample without labels. */
static void s_one(assay_expo *e, const char *type, const char *name,
                  const char *help, double v)
{
    assay_expo_family(e, name, type, help);
    assay_expo_sample(e, name, NULL, v);
}

static void s_consensus(assay_leader *self, assay_expo *e)
{
    assay_consensus_status st;
    if (mb_status(self, &st))
        return;
    s_one(e, "gauge", "assay_raft_term",
          "The consensus term this member is in.", (double)st.term);
    s_one(e, "gauge", "assay_raft_commit_index",
          "The last log index this member knows committed.",
          (double)st.commit_index);
    s_one(e, "gauge", "assay_raft_applied_index",
          "The last log index this member applied.",
          (double)st.applied_index);
    s_one(e, "gauge", "assay_raft_last_index",
          "The last log index this member holds.", (double)st.last_index);
}

static void s_jobs(assay_leader *self, assay_expo *e)
{
    assay_expo_family(e, "assay_jobs", "gauge",
                      "Jobs the state holds, by state.");
    for (int k = 0; k <= ASSAY_JOB_CANCELLED; k++)
        assay_expo_sample(
            e, "assay_jobs",
            (const char *[]){"state",
                             assay_job_state_name((assay_job_state)k), NULL},
            (double)assay_state_count(self->state, (assay_job_state)k));
    s_one(e, "counter", "assay_jobs_submitted_total",
          "Jobs submitted, as this member applied them since it "
          "started.",
          (double)assay_state_submitted(self->state));
    s_one(e, "counter", "assay_jobs_ended_total",
          "Jobs that ended, as this member applied them since it "
          "started.",
          (double)assay_state_ended(self->state));
}

static void s_latency(assay_leader *self, assay_expo *e)
{
    static const char *const names[] = {
        "assay_job_wait_seconds", "assay_job_run_seconds"};
    static const char *const helps[] = {
        "Time a job waited queued before a dispatch (from its submission "
        "or its last attempt's end), by the log's clocks.",
        "Time from a dispatch to its result, by the log's clocks."};
    double bounds[ASSAY_LATENCY_BUCKETS - 1];
    for (size_t i = 0; i < ASSAY_LATENCY_BUCKETS - 1; i++)
        bounds[i] = (double)ASSAY_LATENCY_BOUNDS_MS[i] / 1000.0;
    for (int kind = 0; kind < 2; kind++) {
        const assay_latency_hist *h =
            assay_state_latency_hist(self->state, kind);
        assay_expo_family(e, names[kind], "histogram", helps[kind]);
        assay_expo_histogram(e, names[kind], NULL, bounds, h->counts,
                             ASSAY_LATENCY_BUCKETS - 1,
                             (double)h->sum_ms / 1000.0);
    }
}

static void s_runtimes(assay_leader *self, assay_expo *e)
{
    size_t alive = 0, dead = 0;
    assay_runtime_rec *r;
    for (size_t i = 0; (r = assay_state_runtime_at(self->state, i)); i++)
        r->alive ? alive++ : dead++;
    assay_expo_family(e, "assay_runtimes", "gauge",
                      "Runtimes in the registry, alive or dead.");
    assay_expo_sample(e, "assay_runtimes",
                      (const char *[]){"state", "alive", NULL},
                      (double)alive);
    assay_expo_sample(e, "assay_runtimes",
                      (const char *[]){"state", "dead", NULL}, (double)dead);
}

static void s_schedules(assay_leader *self, assay_expo *e)
{
    static const char *const state[] = {"active", "paused", "ended"};
    static const char *const outcome[] = {"started", "buffered", "skipped",
                                          "missed",  "nonexistent", "failed"};
    json_int_t n[3];
    uint64_t c[6];
    mb_sched_counts(self, n, c);
    assay_expo_family(e, "assay_schedules", "gauge",
                      "Schedules held, by state.");
    for (int i = 0; i < 3; i++)
        assay_expo_sample(e, "assay_schedules",
                          (const char *[]){"state", state[i], NULL},
                          (double)n[i]);
    assay_expo_family(e, "assay_schedule_fires", "gauge",
                      "Fires of the schedules held, by outcome (a schedule "
                      "deleted takes its count with it).");
    for (int i = 0; i < 6; i++)
        assay_expo_sample(e, "assay_schedule_fires",
                          (const char *[]){"outcome", outcome[i], NULL},
                          (double)c[i]);
}

/* On the leader: how long ago each runtime with a session was heard. */
static void s_heard(assay_leader *self, assay_expo *e)
{
    int64_t now = assay_now_ms();
    assay_expo_family(e, "assay_runtime_heard_seconds", "gauge",
                      "Seconds since the leader last heard each runtime "
                      "it holds a session with.");
    for (const s_rt *r = self->rt_list; r; r = r->next)
        assay_expo_sample(e, "assay_runtime_heard_seconds",
                          (const char *[]){"runtime", r->id, NULL},
                          (double)(now - r->last_seen_ms) / 1000.0);
}

static void s_stream(assay_leader *self, assay_expo *e)
{
    uint64_t end = assay_state_stream_end(self->state);
    s_one(e, "gauge", "assay_stream_end",
          "The result stream's last position.", (double)end);
    assay_expo_family(e, "assay_stream_consumer_lag", "gauge",
                      "Results a durable consumer has not acknowledged.");
    const assay_consumer_rec *c;
    for (size_t i = 0; (c = assay_state_consumer_at(self->state, i)); i++)
        assay_expo_sample(e, "assay_stream_consumer_lag",
                          (const char *[]){"consumer", c->name, "behind",
                                           c->behind ? "true" : "false",
                                           NULL},
                          (double)(end - c->acked));
}

void assay_leader_metrics(assay_leader *self, assay_expo *e)
{
    s_one(e, "gauge", "assay_leader",
          "1 while this member leads and serves, else 0.",
          self->leading ? 1 : 0);
    s_one(e, "gauge", "assay_feature_level", "The cluster's feature level.",
          (double)assay_state_level(self->state));
    s_consensus(self, e);
    s_jobs(self, e);
    s_latency(self, e);
    s_runtimes(self, e);
    s_heard(self, e);
    s_schedules(self, e);
    s_stream(self, e);
    s_one(e, "counter", "assay_requests_refused_total",
          "Requests and registrations this member refused for the "
          "asker's role since it started.",
          (double)self->denied);
    s_one(e, "counter", "assay_registrations_refused_total",
          "Runtime registrations refused at max_runtimes since this "
          "member started.",
          (double)self->refused);
}
