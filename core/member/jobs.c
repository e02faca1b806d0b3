/* core/member/jobs.c - the job manager's services: assay.jobs (a page of
 * the jobs a filter matches; or every one of them cancelled, restarted,
 * or counted in a dry run), assay.cancel and assay.restart by id
 * (docs/protocol.md).
 *
 * A filter is answered from what the state indexes: a JobSpec's jobs, a
 * schedule's runs, an action's JobSpecs, the running jobs (of one
 * runtime), or every JobSpec; each in submission order, JobSpec filters
 * (action, schedule, labels, submission time) deciding whole JobSpecs at
 * once. A page looks at no more than JOBS_SCAN jobs and JobSpecs: a
 * filter nothing indexes may return a short page, and its `next`. */
#include "member/internal.h"

/* Jobs one bulk change may name at most. */
#define BULK_MAX ASSAY_CP_MAX_IDS

typedef enum {
    WALK_SPECS, /* JobSpecs linked by `by` (or one, or every) */
    WALK_RUNNING,
    WALK_RUNNING_ON,
} s_walk_kind;

/* A walk over the jobs a query may match. */
typedef struct {
    assay_leader *self;
    const assay_cp_jobs *q;
    int state; /* wanted, or -1 */
    s_walk_kind kind;
    int by;        /* WALK_SPECS: ASSAY_SPECS_BY_*, or -1: next / one */
    bool one_spec; /* WALK_SPECS: only q->spec */
    assay_spec_rec *spec;
    assay_job *job; /* the next to look at, NULL: done */
    assay_spec_rec *skipped; /* the last JobSpec passed over whole */
    size_t scanned;
} s_walk;

/* Does JobSpec s pass the filters that are the JobSpec's? */
static bool s_spec_match(const s_walk *w, const assay_spec_rec *s)
{
    const assay_cp_jobs *q = w->q;
    return (!q->schedule || !strcmp(s->schedule, q->schedule)) &&
           (!q->action || !strcmp(s->action, q->action)) &&
           (!q->since_ms || s->submitted_ms >= q->since_ms) &&
           (!q->until_ms || (s->submitted_ms && s->submitted_ms <= q->until_ms)) &&
           (!q->labels || mb_labels_match(q->labels, s->labels));
}

static bool s_job_match(const s_walk *w, const assay_job *j)
{
    /* Evidence is of what ended. */
    if (w->q->evidence && (j->state == ASSAY_JOB_QUEUED ||
                           j->state == ASSAY_JOB_RUNNING))
        return false;
    return (w->state < 0 || (int)j->state == w->state) &&
           (!w->q->runtime || !strcmp(j->runtime, w->q->runtime)) &&
           s_spec_match(w, j->spec);
}

static assay_spec_rec *s_next_spec(const s_walk *w, const assay_spec_rec *s)
{
    return w->one_spec ? NULL : w->by >= 0 ? s->by_next[w->by] : s->next;
}

/* From spec s on: the first job of a JobSpec that passes. */
static void s_enter(s_walk *w, assay_spec_rec *s)
{
    for (; s && w->scanned < JOBS_SCAN; s = s_next_spec(w, s)) {
        w->scanned++;
        if (s_spec_match(w, s) && assay_spec_jobs(s)) {
            w->spec = s;
            w->job = assay_spec_jobs(s);
            return;
        }
        w->skipped = s;
    }
    w->spec = s;
    w->job = NULL;
}

static void s_advance(s_walk *w)
{
    assay_job *j = w->job;
    w->scanned++;
    if (w->kind == WALK_RUNNING) {
        w->job = j->next;
    } else if (w->kind == WALK_RUNNING_ON) {
        w->job = j->rt_next;
    } else if (!(w->job = assay_spec_next(j))) {
        s_enter(w, s_next_spec(w, w->spec));
    }
}

/* Whether the walk stopped at its bound with more to look at. */
static bool s_more(const s_walk *w)
{
    return w->job || (w->kind == WALK_SPECS && w->spec);
}

/* Starts w at the beginning, or right after job `after`; 0, or a
 * refusal in err. */
static int s_walk_init(s_walk *w, assay_leader *self, const assay_cp_jobs *q,
                       const char *after, char *err, size_t errlen)
{
    *w = (s_walk){.self = self, .q = q, .by = -1};
    w->state = q->state ? assay_job_state_parse(q->state) : -1;
    if (q->state && w->state < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "state '%.32s': want queued, running, completed, "
                          "failed or cancelled",
                          q->state);
    assay_state *st = self->state;
    assay_spec_rec *first;
    if (q->spec) {
        w->one_spec = true;
        first = assay_state_spec(st, q->spec);
    } else if (q->schedule) {
        w->by = ASSAY_SPECS_BY_SCHEDULE;
        first = assay_state_specs_by(st, w->by, q->schedule);
    } else if (q->action) {
        w->by = ASSAY_SPECS_BY_ACTION;
        first = assay_state_specs_by(st, w->by, q->action);
    } else if (w->state == ASSAY_JOB_RUNNING) {
        w->kind = q->runtime ? WALK_RUNNING_ON : WALK_RUNNING;
        first = NULL;
    } else {
        first = assay_state_specs(st);
    }
    const assay_job *a = after ? assay_state_job(st, after) : NULL;
    if (after && !a)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "after: job '%.96s' is not held (forgotten by "
                          "retention?): list again from the start",
                          after);
    if (w->kind != WALK_SPECS) {
        bool on = a && a->state == ASSAY_JOB_RUNNING &&
                  (w->kind == WALK_RUNNING ||
                   !strcmp(a->runtime, q->runtime));
        if (a && !on)
            return assay_errf(err, errlen, ASSAY_ENOENT,
                              "after: job '%.96s' is no longer running%s: "
                              "list again from the start",
                              after, q->runtime ? " there" : "");
        w->job = a ? (w->kind == WALK_RUNNING ? a->next : a->rt_next)
               : w->kind == WALK_RUNNING
                   ? assay_state_running(st)
                   : assay_state_running_on(st, q->runtime, NULL);
        return 0;
    }
    if (!a) {
        s_enter(w, first);
        return 0;
    }
    /* On the list walked (its JobSpec may have been passed over whole). */
    const assay_spec_rec *as = a->spec;
    const char *off = q->spec       ? (strcmp(as->id, q->spec) ? "JobSpec"
                                                               : NULL)
                      : q->schedule ? (strcmp(as->schedule, q->schedule)
                                           ? "schedule"
                                           : NULL)
                      : q->action   ? (strcmp(as->action, q->action)
                                           ? "action"
                                           : NULL)
                                    : NULL;
    if (off)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "after: job '%.96s' is not of %s '%.64s': pass the "
                          "same filter as for the page before",
                          after, off,
                          q->spec ? q->spec : q->schedule ? q->schedule
                                                          : q->action);
    w->spec = a->spec;
    w->job = assay_spec_next(a);
    if (!w->job)
        s_enter(w, s_next_spec(w, a->spec));
    return 0;
}

/* The jobs matched in a whole JobSpec filter, when that costs no walk of
 * more than one JobSpec, or of nothing: else -1. */
static int64_t s_total(const s_walk *w)
{
    const assay_cp_jobs *q = w->q;
    bool spec_filters = q->schedule || q->action || q->labels ||
                        q->since_ms || q->until_ms || q->runtime;
    if (q->spec) {
        const assay_spec_rec *s = assay_state_spec(w->self->state, q->spec);
        int64_t n = 0;
        for (const assay_job *k = s && s_spec_match(w, s) ? assay_spec_jobs(s)
                                                           : NULL;
             k; k = assay_spec_next(k))
            n += s_job_match(w, k);
        return n;
    }
    if (spec_filters)
        return -1;
    return w->state < 0 ? (int64_t)assay_state_job_count(w->self->state)
                        : (int64_t)assay_state_count(w->self->state,
                                                     w->state);
}

/* What an evidence query may not ask: a time not yet come, or a run the
 * member does not hold (an export must not be silently empty). */
static int s_evidence_ok(assay_leader *self, const assay_cp_jobs *q,
                         char *err, size_t errlen)
{
    int64_t now = assay_wall_ms();
    if (q->since_ms > now + 60000)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "since_ms: %lld is in the future (now %lld)",
                          (long long)q->since_ms, (long long)now);
    if (q->spec && !assay_state_spec(self->state, q->spec))
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "run '%.64s' is not held: never submitted, or "
                          "forgotten by retention (retain_seconds)",
                          q->spec);
    return 0;
}

static void s_page(assay_leader *self, const assay_bytes *route,
                   const char *verb, const assay_cp_jobs *q)
{
    char err[ASSAY_ERRMSG_SIZE];
    s_walk w;
    int rc = q->evidence ? s_evidence_ok(self, q, err, sizeof err) : 0;
    if (!rc)
        rc = s_walk_init(&w, self, q, q->after, err, sizeof err);
    if (rc) {
        mb_reply(self, route, verb, assay_cp_error(rc, "%s", err));
        return;
    }
    int64_t limit = q->limit <= 0 || q->limit > JOBS_PAGE ? JOBS_PAGE
                                                          : q->limit;
    json_t *jobs = json_array();
    const assay_job *last = NULL;
    while (w.job && (int64_t)json_array_size(jobs) < limit &&
           w.scanned < JOBS_SCAN) {
        if (s_job_match(&w, w.job))
            json_array_append_new(jobs, q->evidence
                                            ? mb_evidence_record(w.job)
                                            : assay_job_json(w.job, 0));
        last = w.job;
        s_advance(&w);
    }
    json_t *o = json_pack("{s:o}", "jobs", jobs);
    /* Stopped with more to look at: the next page starts after the last
     * job looked at (a short page when few matched in the scan), or after
     * the last JobSpec passed over when none was. */
    if (s_more(&w) && !last && w.skipped)
        for (last = assay_spec_jobs(w.skipped); last && assay_spec_next(last);)
            last = assay_spec_next(last);
    if (s_more(&w) && last)
        json_object_set_new(o, "next", json_string(last->id));
    int64_t total = s_total(&w);
    if (total >= 0)
        json_object_set_new(o, "total", json_integer(total));
    mb_reply(self, route, verb, assay_cp_ok(o));
}

/* ---- changes ------------------------------------------------------------- */

void mb_stop_on_runtime(void *arg, const assay_job *j)
{
    assay_leader *self = arg;
    s_rt *r = assay_index_get(self->rts, j->runtime);
    if (!r)
        return;
    json_t *b = json_pack("{s:s, s:I}", "job", j->id, "attempt",
                          (json_int_t)j->attempt);
    mb_send_rt(self, r, ASSAY_RT_CANCEL, b);
    json_decref(b);
}

/* What a change of jobs replies once applied. p->data: {reply: the body
 * so far, list: whether to list the jobs changed}. */
static void s_changed(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    assay_bytes route = mb_route(p);
    json_t *res = result;
    if (status) {
        mb_reply(self, &route, p->verb,
                 assay_cp_error(status, "not committed: %s",
                                assay_strerror(status)));
        json_decref(res);
        mb_pending_free(p);
        return;
    }
    json_t *body = json_deep_copy(json_object_get(p->data, "reply"));
    const json_t *was = json_object_get(res, "was");
    if (was) { /* cancel: {id: the state it was in}; runtimes are told by
                  mb_prepare (assay_state_cancelled_drain) */
        json_t *cancelled = json_array();
        const char *id;
        json_t *prev;
        json_object_foreach((json_t *)was, id, prev)
            json_array_append_new(cancelled, json_string(id));
        json_object_set_new(body, "changed",
                            json_integer((json_int_t)json_array_size(
                                cancelled)));
        if (json_is_true(json_object_get(p->data, "list")))
            json_object_set(body, "cancelled", cancelled);
        json_decref(cancelled);
    } else {
        const json_t *restarted = json_object_get(res, "restarted");
        json_object_set_new(body, "changed",
                            json_integer((json_int_t)json_array_size(
                                restarted)));
        if (json_is_true(json_object_get(p->data, "list")))
            json_object_set(body, "restarted", (json_t *)restarted);
    }
    mb_reply(self, &route, p->verb, assay_cp_ok(body));
    json_decref(res);
    mb_pending_free(p);
}

/* Commits cancel or restart of `ids` (taken); replies `reply` (taken)
 * with what changed. */
static void s_change(assay_leader *self, const assay_bytes *route,
                     const char *verb, bool restart, json_t *ids,
                     json_t *reply, bool list)
{
    const char *by = mb_attribution(self);
    int64_t now = assay_wall_ms();
    assay_cmd *cmd = restart
                         ? assay_cmd_restart(ids, now, by, self->asker_role)
                         : assay_cmd_cancel(ids, now, by, self->asker_role);
    json_decref(ids);
    s_pending *p = mb_pending_new(self, route, verb,
                                  json_pack("{s:o, s:b}", "reply", reply,
                                            "list", list));
    int rc = p ? mb_commit(self, cmd, s_changed, p) : ASSAY_ENOMEM;
    if (!p)
        assay_cmd_destroy(&cmd);
    if (rc) {
        mb_reply(self, route, verb,
                 assay_cp_error(rc, "cannot commit: %s", assay_strerror(rc)));
        if (p)
            mb_pending_free(p);
    }
}

/* Whether a job in state st is one a cancel or restart changes. */
static bool s_changes(bool restart, assay_job_state st)
{
    return restart ? st == ASSAY_JOB_FAILED || st == ASSAY_JOB_CANCELLED
                   : st == ASSAY_JOB_QUEUED || st == ASSAY_JOB_RUNNING;
}

/* Whether a restart is one the cluster may apply (level 7). */
static bool s_restart_ok(assay_leader *self, const assay_bytes *route,
                         const char *verb)
{
    if (assay_state_level(self->state) >= ASSAY_LEVEL_SCHEDULES)
        return true;
    mb_reply(self, route, verb,
             assay_cp_error(ASSAY_EUNSUPP,
                            "restart needs feature level %d (the cluster is "
                            "at %lld): `assayctl cluster upgrade` once every "
                            "member runs this release",
                            ASSAY_LEVEL_SCHEDULES,
                            (long long)assay_state_level(self->state)));
    return false;
}

/* assay.jobs op cancel / restart: every job the filter matches. A submit
 * key changes only the jobs it submitted; the others are counted. */
static void s_bulk(assay_leader *self, const assay_bytes *route,
                   const char *verb, const assay_cp_jobs *q)
{
    bool restart = q->op == ASSAY_CP_JOBS_RESTART;
    if (restart && !s_restart_ok(self, route, verb))
        return;
    char err[ASSAY_ERRMSG_SIZE];
    s_walk w;
    int rc = s_walk_init(&w, self, q, NULL, err, sizeof err);
    if (rc) {
        mb_reply(self, route, verb, assay_cp_error(rc, "%s", err));
        return;
    }
    json_t *ids = json_array();
    int64_t matched = 0, others = 0;
    /* The whole filter, not a page: bounded by what is held. */
    while (w.job || (w.kind == WALK_SPECS && w.spec)) {
        w.scanned = 0;
        for (; w.job && w.scanned < JOBS_SCAN; s_advance(&w)) {
            if (!s_job_match(&w, w.job))
                continue;
            matched++;
            if (!s_changes(restart, w.job->state))
                continue;
            if (self->asker && strcmp(self->asker_role, "admin") &&
                (!w.job->spec->by_name ||
                 strcmp(w.job->spec->by_name, self->asker))) {
                others++;
                continue;
            }
            if (json_array_size(ids) == BULK_MAX) {
                json_decref(ids);
                mb_reply(self, route, verb,
                         assay_cp_error(ASSAY_ERANGE,
                                        "more than %d jobs would change: "
                                        "narrow the filter",
                                        BULK_MAX));
                return;
            }
            json_array_append_new(ids, json_string(w.job->id));
        }
        if (!w.job && w.kind == WALK_SPECS && w.spec)
            s_enter(&w, w.spec); /* the scan bound, not the end */
    }
    json_t *reply = json_pack(
        "{s:s, s:I, s:I, s:I, s:b}", "op", restart ? "restart" : "cancel",
        "matched", (json_int_t)matched, "would_change",
        (json_int_t)json_array_size(ids), "not_yours", (json_int_t)others,
        "dry_run", q->dry_run);
    if (q->dry_run || !json_array_size(ids)) {
        json_decref(ids);
        json_object_set_new(reply, "changed", json_integer(0));
        mb_reply(self, route, verb, assay_cp_ok(reply));
        return;
    }
    s_change(self, route, verb, restart, ids, reply, false);
}

void mb_svc_jobs(assay_leader *self, const assay_bytes *route, const char *verb,
                 const json_t *body)
{
    assay_cp_jobs q;
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_cp_read_jobs(body, &q, err, sizeof err);
    if (rc) {
        mb_reply(self, route, verb, assay_cp_error(rc, "%s", err));
        return;
    }
    if (q.op == ASSAY_CP_JOBS_LIST)
        s_page(self, route, verb, &q);
    else
        s_bulk(self, route, verb, &q);
}

/* assay.cancel and assay.restart: job ids, and JobSpec ids for all their
 * jobs. A submit key changes only what it submitted: all or nothing. */
static void s_by_ids(assay_leader *self, const assay_bytes *route,
                     const char *verb, const json_t *body, bool restart)
{
    const json_t *ids;
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_cp_read_cancel(body, &ids, err, sizeof err);
    if (rc) {
        mb_reply(self, route, verb, assay_cp_error(rc, "%s", err));
        return;
    }
    if (restart && !s_restart_ok(self, route, verb))
        return;
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        const char *s = json_string_value(id);
        const assay_job *j = assay_state_job(self->state, s);
        const assay_spec_rec *spec =
            j ? j->spec : assay_state_spec(self->state, s);
        if (spec && !mb_may_cancel(self, spec)) {
            mb_reply(self, route, verb,
                     assay_cp_error(ASSAY_EPERM,
                                    "%s: %s was submitted by %s; key %s "
                                    "(role %s) may %s only what it "
                                    "submitted (docs/security.md#roles)",
                                    verb, s,
                                    spec->by_name ? spec->by_name
                                                  : "an unrecorded key",
                                    self->asker, self->asker_role,
                                    restart ? "restart" : "cancel"));
            return;
        }
    }
    json_t *jobs = json_array(), *unknown = json_array();
    json_array_foreach(ids, i, id) {
        const char *s = json_string_value(id);
        /* A job id first, as assay.job does, then a JobSpec id. */
        assay_spec_rec *spec = assay_state_spec(self->state, s);
        if (assay_state_job(self->state, s))
            json_array_append(jobs, id);
        else if (spec)
            for (const assay_job *sj = assay_spec_jobs(spec); sj;
                 sj = assay_spec_next(sj))
                json_array_append_new(jobs, json_string(sj->id));
        else
            json_array_append_new(unknown,
                                  json_string(s ? s : "(not a string)"));
    }
    s_change(self, route, verb, restart, jobs,
             json_pack("{s:o}", "unknown", unknown), true);
}

void mb_svc_cancel(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body)
{
    s_by_ids(self, route, verb, body, false);
}

void mb_svc_restart(assay_leader *self, const assay_bytes *route,
                    const char *verb, const json_t *body)
{
    s_by_ids(self, route, verb, body, true);
}
