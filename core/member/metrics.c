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

/* Queued jobs by priority (-1000 to 1000, jobspec.c), summed over the
 * placement classes, parked ones too: one sample per priority that has
 * any, and always priority 0. */
static void s_queued(assay_leader *self, assay_expo *e)
{
    enum { LOW = -1000, SPAN = 2001 };
    uint64_t *n = calloc(SPAN, sizeof *n);
    if (!n)
        return;
    for (int parked = 0; parked < 2; parked++)
        for (const assay_class *c = parked ? assay_state_parked(self->state)
                                           : assay_state_classes(self->state);
             c; c = c->next)
            if (c->priority >= LOW && c->priority < LOW + SPAN)
                n[c->priority - LOW] += c->queued;
    assay_expo_family(e, "assay_jobs_queued", "gauge",
                      "Jobs queued, by priority.");
    for (int i = SPAN - 1; i >= 0; i--)
        if (n[i] || i == -LOW) {
            char prio[16];
            snprintf(prio, sizeof prio, "%d", i + LOW);
            assay_expo_sample(e, "assay_jobs_queued",
                              (const char *[]){"priority", prio, NULL},
                              (double)n[i]);
        }
    free(n);
}

/* One action's samples of one family: submitted, or ended by state. */
typedef struct {
    assay_expo *e;
    bool ended;
} s_counts_arg;

static void s_action_counts(void *arg, const assay_action_counts *c)
{
    const s_counts_arg *a = arg;
    if (!a->ended) {
        assay_expo_sample(a->e, "assay_jobs_submitted_total",
                          (const char *[]){"action", c->action, NULL},
                          (double)c->submitted);
        return;
    }
    static const char *const st[] = {"completed", "failed", "cancelled"};
    const uint64_t v[] = {c->completed, c->failed, c->cancelled};
    for (int i = 0; i < 3; i++)
        assay_expo_sample(a->e, "assay_jobs_ended_total",
                          (const char *[]){"action", c->action, "state",
                                           st[i], NULL},
                          (double)v[i]);
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
    s_queued(self, e);
    assay_expo_family(e, "assay_jobs_submitted_total", "counter",
                      "Jobs submitted, by action, as this member applied "
                      "them since it started.");
    assay_state_action_counts(self->state, s_action_counts,
                              &(s_counts_arg){e, false});
    assay_expo_family(e, "assay_jobs_ended_total", "counter",
                      "Jobs that ended, by action and state, as this "
                      "member applied them since it started.");
    assay_state_action_counts(self->state, s_action_counts,
                              &(s_counts_arg){e, true});
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
    assay_expo_family(e, "assay_runtime_credit_left", "gauge",
                      "Dispatches the leader may still send each runtime "
                      "it holds a session with: its grant less what was "
                      "sent.");
    for (const s_rt *r = self->rt_list; r; r = r->next)
        assay_expo_sample(e, "assay_runtime_credit_left",
                          (const char *[]){"runtime", r->id, NULL},
                          r->limit > r->sent ? (double)(r->limit - r->sent)
                                             : 0);
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

/* Every error reply, by its code: a client's mistakes, a full disk, a
 * follower asked what only the leader answers. */
static void s_refusals(assay_leader *self, assay_expo *e)
{
    assay_expo_family(e, "assay_requests_refused_total", "counter",
                      "Requests this member answered with an error since it "
                      "started, by the error's code.");
    for (int i = 0; i < MB_REFUSAL_CODES; i++)
        if (self->refusals[i] || i == -ASSAY_EPERM)
            assay_expo_sample(
                e, "assay_requests_refused_total",
                (const char *[]){"reason",
                                 i ? assay_err_name(-i) : "ASSAY_EUNKNOWN",
                                 NULL},
                (double)self->refusals[i]);
}

/* Who was kept out: handshakes the transport refused (keys no
 * certificate allows, roles that may not subscribe, requests it could
 * not read), requests a key's role may not make, enrolment tokens
 * refused. */
static void s_auth(assay_leader *self, assay_expo *e)
{
    assay_transport_refusals t;
    if (!self->link || assay_link_refusals(self->link, &t))
        t = (assay_transport_refusals){0};
    const struct {
        const char *reason;
        uint64_t n;
    } r[] = {{"unknown_key", t.unknown_key},
             {"may_not_subscribe", t.subscribe},
             {"malformed_handshake", t.malformed},
             {"role", self->denied},
             {"enrol_token", self->enrol_refused}};
    assay_expo_family(e, "assay_auth_failures_total", "counter",
                      "Authentication and authorisation failures since "
                      "this member started, by reason.");
    for (size_t i = 0; i < sizeof r / sizeof *r; i++)
        assay_expo_sample(e, "assay_auth_failures_total",
                          (const char *[]){"reason", r[i].reason, NULL},
                          (double)r[i].n);
}

static void s_snapshots(assay_leader *self, assay_expo *e)
{
    if (!self->snap)
        return;
    const assay_snapshot_stats *st = assay_snapshotter_stats(self->snap);
    assay_expo_family(e, "assay_snapshot_seconds", "histogram",
                      "Snapshots made since this member started: from the "
                      "fork of the encoding child until the member took "
                      "its encoding.");
    assay_expo_histogram(e, "assay_snapshot_seconds", NULL,
                         ASSAY_SNAPSHOT_BOUNDS_S, st->counts,
                         ASSAY_SNAPSHOT_BUCKETS - 1, st->sum_s);
    s_one(e, "counter", "assay_snapshot_failures_total",
          "Snapshots whose encoding child failed or was killed.",
          (double)st->failed);
    s_one(e, "gauge", "assay_snapshot_last_bytes",
          "The size of the last snapshot made, in bytes.",
          (double)st->last_bytes);
    s_one(e, "gauge", "assay_snapshot_last_fork_seconds",
          "How long the loop paused to fork for the last snapshot.",
          st->last_fork_s);
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
    s_refusals(self, e);
    s_auth(self, e);
    s_snapshots(self, e);
    s_one(e, "counter", "assay_registrations_refused_total",
          "Runtime registrations refused at max_runtimes since this "
          "member started.",
          (double)self->refused);
}
