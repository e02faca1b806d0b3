/* core/member/schedule_service.c - assay.schedule: create, list, show,
 * pause, resume, trigger, backfill and delete schedules
 * (docs/protocol.md#assayschedule, docs/schedules.md). Every change is a
 * command; the reply goes once it is applied. */
#include "member/internal.h"

#include "sched/def.h"
#include "state/schedule.h"

/* Upcoming fires `show` lists, and decided ones (the state keeps
 * ASSAY_SCHED_RUNS). */
#define SHOW_NEXT 10
#define SHOW_RUNS 10
/* Fires a resume counts as skipped at most (then: "at least"). */
#define SKIP_SCAN 100000
/* Jobs one backfill may submit in all. */
#define BACKFILL_JOBS_MAX 100000

static void s_error(assay_leader *self, const assay_bytes *route,
                    const char *verb, int rc, const char *fmt, ...)
    ASSAY_PRINTF(5, 6);

/* The refusal for a schedule this member cannot plan. */
#define S_UNPLANNED "schedule %s cannot be planned on this member (its time " \
                    "zone?): see its log"

static void s_error(assay_leader *self, const assay_bytes *route,
                    const char *verb, int rc, const char *fmt, ...)
{
    char msg[ASSAY_ERRMSG_SIZE * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mb_reply(self, route, verb, assay_cp_error(rc, "%s", msg));
}

/* A change applied (or not): the reply says which schedule, and for a
 * fire what became of it. */
static void s_applied(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_bytes route = mb_route(p);
    json_t *res = result;
    if (status) {
        mb_reply(p->leader, &route, p->verb,
                 assay_cp_error(status, "not committed: %s",
                                assay_strerror(status)));
    } else {
        json_t *body = json_deep_copy(p->data);
        const char *id = mb_str(body, "schedule");
        const assay_sched_rec *r =
            id ? assay_state_schedule(p->leader->state, id) : NULL;
        const assay_sched_run *run = r ? assay_sched_run_at(r, 0) : NULL;
        if (json_object_get(body, "fired") && run) {
            json_object_set_new(body, "outcome",
                                json_string(assay_run_outcome_name(
                                    run->outcome)));
            if (run->reason)
                json_object_set_new(body, "reason",
                                    json_string(run->reason));
        }
        json_object_del(body, "fired");
        mb_reply(p->leader, &route, p->verb, assay_cp_ok(body));
    }
    json_decref(res);
    mb_pending_free(p);
}

static void s_commit(assay_leader *self, const assay_bytes *route,
                     const char *verb, assay_cmd *cmd, json_t *reply)
{
    s_pending *p = mb_pending_new(self, route, verb, reply);
    int rc = p ? mb_commit(self, cmd, s_applied, p) : ASSAY_ENOMEM;
    if (!p)
        assay_cmd_destroy(&cmd);
    if (rc) {
        s_error(self, route, verb, rc, "cannot commit: %s",
                assay_strerror(rc));
        if (p)
            mb_pending_free(p);
    }
}

/* "2026-03-29 03:00:00+02:00": instant ms as the zone's wall clock. */
static void s_local(const assay_sched_def *d, int64_t ms, char *buf,
                    size_t len)
{
    char t[40];
    int32_t off = d ? assay_tz_offset(d->tz, ms / 1000) : 0;
    assay_sched_time_text(ms + (int64_t)off * 1000, t, sizeof t);
    int a = off < 0 ? -off : off;
    snprintf(buf, len, "%.10s %.8s%c%02d:%02d", t, t + 11,
             off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

static json_t *s_summary(assay_leader *self, const assay_sched_rec *r)
{
    json_t *o = assay_sched_json(r, false);
    if (!o)
        return NULL;
    int64_t due = mb_sched_due(self, r->id);
    if (due != INT64_MAX)
        json_object_set_new(o, "next_ms", json_integer(due));
    return o;
}

static void s_list(assay_leader *self, const assay_bytes *route,
                   const char *verb, const assay_cp_sched *req)
{
    const assay_sched_rec *r = assay_state_schedules(self->state);
    if (req->after) {
        const assay_sched_rec *a = assay_state_schedule(self->state,
                                                        req->after);
        if (!a) {
            s_error(self, route, verb, ASSAY_ENOENT,
                    "assay.schedule list: after: no schedule '%s' (deleted "
                    "since the page before?)",
                    req->after);
            return;
        }
        r = a->next;
    }
    json_t *list = json_array();
    for (; r && (int64_t)json_array_size(list) < req->limit; r = r->next)
        json_array_append_new(list, s_summary(self, r));
    json_t *body = json_pack("{s:o, s:I}", "schedules", list, "total",
                             (json_int_t)assay_state_schedule_count(
                                 self->state));
    if (r && r->prev)
        json_object_set_new(body, "next", json_string(r->prev->id));
    mb_reply(self, route, verb, assay_cp_ok(body));
}

/* How the jobs of a run still held stand: {queued: n, ...}. */
static json_t *s_run_jobs(const assay_spec_rec *s)
{
    size_t n[ASSAY_JOB_CANCELLED + 1] = {0};
    for (const assay_job *j = assay_spec_jobs(s); j; j = assay_spec_next(j))
        n[j->state]++;
    json_t *o = json_object();
    for (int st = 0; st <= ASSAY_JOB_CANCELLED; st++)
        if (n[st])
            json_object_set_new(o, assay_job_state_name(st),
                                json_integer((json_int_t)n[st]));
    return o;
}

static void s_show(assay_leader *self, const assay_bytes *route,
                   const char *verb, const assay_sched_rec *r)
{
    json_t *o = assay_sched_json(r, true);
    const assay_sched_def *d = mb_sched_def(self, r);
    json_t *runs = json_object_get(o, "runs"), *run;
    size_t i;
    char local[48];
    json_array_foreach(runs, i, run) {
        const char *sid = mb_str(run, "spec");
        const assay_spec_rec *s = sid ? assay_state_spec(self->state, sid)
                                      : NULL;
        if (s)
            json_object_set_new(run, "jobs", s_run_jobs(s));
        s_local(d, json_integer_value(json_object_get(run, "nominal_ms")),
                local, sizeof local);
        json_object_set_new(run, "local", json_string(local));
    }
    while (json_array_size(runs) > SHOW_RUNS)
        json_array_remove(runs, json_array_size(runs) - 1);
    json_t *next = json_array();
    assay_sched_event ev;
    int64_t after = r->cursor_ms;
    for (int n = 0; d && n < SHOW_NEXT && !assay_sched_ended(r) &&
                    assay_sched_def_next(d, after, INT64_MAX / 4, &ev);
         after = ev.at_ms) {
        if (!ev.fire)
            continue;
        s_local(d, ev.at_ms, local, sizeof local);
        json_array_append_new(
            next, json_pack("{s:I, s:I, s:s}", "nominal_ms",
                            (json_int_t)ev.at_ms, "due_ms",
                            (json_int_t)(ev.at_ms +
                                         assay_sched_def_jitter_ms(d,
                                                                   ev.at_ms)),
                            "local", local));
        n++;
    }
    json_object_set_new(o, "next", next);
    mb_reply(self, route, verb, assay_cp_ok(json_pack("{s:o}", "schedule", o)));
}

static void s_create(assay_leader *self, const assay_bytes *route,
                     const char *verb, const assay_cp_sched *req)
{
    char err[ASSAY_ERRMSG_SIZE * 2], why[ASSAY_ERRMSG_SIZE * 2];
    assay_sched_limits lim = mb_sched_limits(self);
    assay_sched_def *d = NULL;
    int rc = assay_sched_def_parse(req->schedule, &lim, true, &d, err,
                                   sizeof err);
    if (rc) {
        s_error(self, route, verb, rc, "schedule: %s", err);
        return;
    }
    if (assay_state_schedule(self->state, d->id)) {
        s_error(self, route, verb, ASSAY_EEXIST,
                "schedule %s: already exists (delete it first)", d->id);
        assay_sched_def_destroy(&d);
        return;
    }
    if ((int64_t)assay_state_schedule_count(self->state) >=
        self->conf->max_schedules) {
        s_error(self, route, verb, ASSAY_ERANGE,
                "schedule %s: the cluster holds %lld schedules already "
                "(max_schedules)",
                d->id, (long long)self->conf->max_schedules);
        assay_sched_def_destroy(&d);
        return;
    }
    /* The template is checked now, as its first run would be: a schedule
     * that could never submit is refused at creation. */
    assay_jobspec *spec = NULL;
    assay_cmd_spec cs;
    assay_cmd_list *jobs = NULL;
    rc = mb_sched_run_build(self, d, lim.now_ms, ASSAY_FIRE_DUE, &spec, &cs,
                            &jobs, why, sizeof why);
    assay_cmd_list_destroy(&jobs);
    assay_jobspec_destroy(&spec);
    if (rc) {
        s_error(self, route, verb, rc, "schedule %s: spec: %s", d->id, why);
        assay_sched_def_destroy(&d);
        return;
    }
    json_t *def = assay_sched_def_json(d);
    assay_cmd *cmd = assay_cmd_schedule(d->id, def, lim.now_ms,
                                        mb_attribution(self),
                                        self->asker_role);
    json_decref(def);
    s_commit(self, route, verb, cmd, json_pack("{s:s}", "schedule", d->id));
    assay_sched_def_destroy(&d);
}

/* Fires (with a fire) in (from, to] of d: how many, and the first. */
static int64_t s_count(const assay_sched_def *d, int64_t from, int64_t to,
                       int64_t max, int64_t *first)
{
    assay_sched_event ev;
    int64_t n = 0;
    *first = 0;
    for (int64_t after = from;
         n < max && assay_sched_def_next(d, after, to, &ev); after = ev.at_ms)
        if (ev.fire && !n++)
            *first = ev.at_ms;
    return n;
}

static void s_resume(assay_leader *self, const assay_bytes *route,
                     const char *verb, const assay_sched_rec *r)
{
    int64_t now = mb_wall_ms(self), first = 0, n = 0;
    const assay_sched_def *d = mb_sched_def(self, r);
    if (!r->paused) {
        s_error(self, route, verb, ASSAY_EINVAL,
                "schedule %s: not paused", r->id);
        return;
    }
    if (!d) { /* its fires meanwhile could not be counted */
        s_error(self, route, verb, ASSAY_EUNSUPP, S_UNPLANNED, r->id);
        return;
    }
    n = s_count(d, r->cursor_ms, now, SKIP_SCAN, &first);
    s_commit(self, route, verb,
             assay_cmd_schedule_state(r->id, false, NULL, n, first, now,
                                      mb_attribution(self), self->asker_role),
             json_pack("{s:s, s:I}", "schedule", r->id, "skipped",
                       (json_int_t)n));
}

/* Commits fires of d at the given nominal times (kind), as one command. */
static void s_fire_now(assay_leader *self, const assay_bytes *route,
                       const char *verb, const assay_sched_def *d,
                       const int64_t *at, size_t n, int kind, json_t *reply)
{
    assay_cmd_list *items = assay_cmd_list_new();
    int rc = items ? 0 : ASSAY_ENOMEM;
    char why[ASSAY_ERRMSG_SIZE * 2];
    for (size_t i = 0; i < n && !rc; i++) {
        assay_jobspec *spec = NULL;
        assay_cmd_spec cs;
        assay_cmd_list *jobs = NULL;
        rc = mb_sched_run_build(self, d, at[i], kind, &spec, &cs, &jobs, why,
                                sizeof why);
        if (!rc)
            rc = assay_cmd_list_fire(items,
                                     &(assay_cmd_fire){.schedule = d->id,
                                                       .nominal = at[i],
                                                       .kind = kind,
                                                       .spec = &cs},
                                     &jobs);
        assay_jobspec_destroy(&spec);
    }
    if (rc) {
        assay_cmd_list_destroy(&items);
        json_decref(reply);
        s_error(self, route, verb, rc, "schedule %s: spec: %s", d->id,
                rc == ASSAY_ENOMEM ? "out of memory" : why);
        return;
    }
    s_commit(self, route, verb, assay_cmd_fire_batch(&items, mb_wall_ms(self)),
             reply);
}

static void s_backfill(assay_leader *self, const assay_bytes *route,
                       const char *verb, const assay_cp_sched *req,
                       const assay_sched_rec *r, const assay_sched_def *d)
{
    char err[ASSAY_ERRMSG_SIZE], t[40];
    int64_t from, to, first;
    int rc = assay_sched_time(req->from, "from", &from, err, sizeof err);
    if (!rc)
        rc = assay_sched_time(req->to, "to", &to, err, sizeof err);
    if (!rc && to <= from)
        rc = assay_errf(err, sizeof err, ASSAY_EINVAL,
                        "to: not after from");
    if (!rc && to > r->cursor_ms) {
        assay_sched_time_text(r->cursor_ms, t, sizeof t);
        rc = assay_errf(err, sizeof err, ASSAY_EINVAL,
                        "to: after %s, the last fire time the schedule "
                        "decided: later fires are still to come",
                        t);
    }
    if (rc) {
        s_error(self, route, verb, rc, "schedule %s backfill: %s", r->id,
                err);
        return;
    }
    int64_t max = self->conf->schedule_backfill_max;
    /* from is inclusive for the user: a fire exactly at from counts. */
    int64_t n = s_count(d, from - 1, to, max + 1, &first);
    if (n > max) {
        s_error(self, route, verb, ASSAY_ERANGE,
                "schedule %s backfill: more than %lld fires from %s to %s "
                "(schedule_backfill_max): backfill a shorter range",
                r->id, (long long)max, req->from, req->to);
        return;
    }
    json_t *reply = json_pack("{s:s, s:I, s:b}", "schedule", r->id, "fires",
                              (json_int_t)n, "dry_run", req->dry_run);
    if (req->dry_run || !n) {
        mb_reply(self, route, verb, assay_cp_ok(reply));
        return;
    }
    int64_t *at = malloc((size_t)n * sizeof *at);
    size_t k = 0;
    assay_sched_event ev;
    for (int64_t after = from - 1; at && (int64_t)k < n &&
                                   assay_sched_def_next(d, after, to, &ev);
         after = ev.at_ms)
        if (ev.fire)
            at[k++] = ev.at_ms;
    size_t per = json_array_size(json_object_get(d->spec, "targets"));
    if (!at || (int64_t)k * (per ? per : 1) > BACKFILL_JOBS_MAX) {
        free(at);
        json_decref(reply);
        s_error(self, route, verb, at ? ASSAY_ERANGE : ASSAY_ENOMEM,
                "schedule %s backfill: %zu runs of %zu jobs is more than "
                "%d jobs at once: backfill a shorter range",
                r->id, k, per ? per : 1, BACKFILL_JOBS_MAX);
        return;
    }
    s_fire_now(self, route, verb, d, at, k, ASSAY_FIRE_BACKFILL, reply);
    free(at);
}

void mb_svc_schedule(assay_leader *self, const assay_bytes *route,
                     const char *verb, const json_t *body)
{
    assay_cp_sched req;
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_cp_read_sched(body, &req, err, sizeof err);
    if (rc) {
        s_error(self, route, verb, rc, "%s", err);
        return;
    }
    if (assay_state_level(self->state) < ASSAY_LEVEL_SCHEDULES) {
        s_error(self, route, verb, ASSAY_EUNSUPP,
                "schedules need feature level %d (the cluster is at %lld): "
                "`assayctl cluster upgrade` once every member runs this "
                "release",
                ASSAY_LEVEL_SCHEDULES,
                (long long)assay_state_level(self->state));
        return;
    }
    if (req.op == ASSAY_CP_SCHED_LIST) {
        s_list(self, route, verb, &req);
        return;
    }
    if (req.op == ASSAY_CP_SCHED_CREATE) {
        s_create(self, route, verb, &req);
        return;
    }
    const assay_sched_rec *r = assay_state_schedule(self->state, req.id);
    if (!r) {
        s_error(self, route, verb, ASSAY_ENOENT, "no schedule '%s'", req.id);
        return;
    }
    if (req.op == ASSAY_CP_SCHED_SHOW) {
        s_show(self, route, verb, r);
        return;
    }
    if (!mb_may_manage(self, r->by_name, ASSAY_SVC_SCHEDULE, r->id)) {
        s_error(self, route, verb, ASSAY_EPERM,
                "schedule %s was made by %s: only it or an admin may "
                "change it",
                r->id, r->by_name ? r->by_name : "an unrecorded key");
        return;
    }
    int64_t now = mb_wall_ms(self);
    const char *by = mb_attribution(self);
    const assay_sched_def *d = mb_sched_def(self, r);
    switch (req.op) {
    case ASSAY_CP_SCHED_PAUSE:
        s_commit(self, route, verb,
                 assay_cmd_schedule_state(r->id, true, req.note, 0, 0, now,
                                          by, self->asker_role),
                 json_pack("{s:s}", "schedule", r->id));
        return;
    case ASSAY_CP_SCHED_RESUME:
        s_resume(self, route, verb, r);
        return;
    case ASSAY_CP_SCHED_DELETE:
        s_commit(self, route, verb,
                 assay_cmd_unschedule(r->id, now, by, self->asker_role),
                 json_pack("{s:s, s:I}", "schedule", r->id, "running",
                           (json_int_t)r->n_active));
        return;
    default:
        break;
    }
    if (!d) {
        s_error(self, route, verb, ASSAY_EUNSUPP, S_UNPLANNED, r->id);
        return;
    }
    if (req.op == ASSAY_CP_SCHED_TRIGGER) {
        char sid[ASSAY_ID_MAX + 32];
        assay_sched_run_id(r->id, now, ASSAY_FIRE_TRIGGER, sid, sizeof sid);
        s_fire_now(self, route, verb, d, &now, 1, ASSAY_FIRE_TRIGGER,
                   json_pack("{s:s, s:s, s:b}", "schedule", r->id, "spec",
                             sid, "fired", 1));
        return;
    }
    s_backfill(self, route, verb, &req, r, d);
}
