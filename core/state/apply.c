/* core/state/apply.c - the op table: every command the log may hold, the
 * encoding versions this build reads and the feature level that brought
 * it, and how it changes the state (see state.h for the fields). */
#include "state/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "base/errtext.h"
#include "base/log.h"
#include "job/jobspec.h"

typedef int (*s_apply_fn)(assay_state *self, const msgpack_object *cmd,
                          json_t **result, char *err, size_t errlen);

typedef struct {
    const char *name;
    int64_t version; /* newest encoding this build reads (it reads 1..) */
    int64_t level;   /* feature level that brought it */
    s_apply_fn apply;
} s_op;

/* A JobSpec's evidence metadata (level 8) as the log says it: title and
 * description (bounded as JobSpecs are), series, controls (an array, as
 * kept). Malformed fields are left out; ASSAY_ENOMEM without memory. */
static int s_evidence_meta(assay_state *self, assay_spec_rec *s,
                           const msgpack_object *spec)
{
    char text[ASSAY_DESCRIPTION_MAX + 1], series[65];
    const char *t = st_text(spec, "title", text, ASSAY_TITLE_MAX + 1,
                            false);
    if (t && *t && !(s->title = strdup(t)))
        return ASSAY_ENOMEM;
    t = st_text(spec, "description", text, sizeof text, false);
    if (t && *t && !(s->description = strdup(t)))
        return ASSAY_ENOMEM;
    t = ST_ID(spec, "series", series);
    if (t && *t && !(s->series = st_intern(self, t)))
        return ASSAY_ENOMEM;
    const msgpack_object *c = st_get(spec, "controls");
    if (st_is(c, MSGPACK_OBJECT_ARRAY) && c->via.array.size &&
        c->via.array.size <= ASSAY_CONTROLS_MAX &&
        !st_pack_copy(c, &s->controls, &s->controls_len))
        return ASSAY_ENOMEM;
    return 0;
}

int st_submit(assay_state *self, const msgpack_object *spec,
              const msgpack_object *jobs, json_t **result, char *err,
              size_t errlen)
{
    char sid[65], action[256];
    if (!ST_ID(spec, "id", sid) || !st_is(jobs, MSGPACK_OBJECT_ARRAY) ||
        !jobs->via.array.size || !ST_ID(spec, "action", action))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "submit: needs spec.id (at most 64 bytes), "
                      "spec.action and a non-empty jobs array");
    int64_t prio = st_int(spec, "priority");
    if (prio < ST_PRIO_MIN || prio > ST_PRIO_MAX)
        return assay_errf(err, errlen, ASSAY_ERANGE,
                      "submit: priority %lld outside %d..%d",
                      (long long)prio, ST_PRIO_MIN, ST_PRIO_MAX);
    assay_spec_rec *old = assay_index_get(self->specs, sid);
    if (old) { /* idempotent: the first submission stands */
        if (result)
            *result = json_pack("{s:s, s:o, s:b}", "spec", sid, "jobs",
                                assay_spec_job_ids(old), "duplicate", 1);
        return 0;
    }
    uint32_t n = jobs->via.array.size;
    /* Ids repeated within the command are looked for only when it has
     * several jobs: most JobSpecs of one job paid for an index here. */
    assay_index *seen = n > 1 ? assay_index_new() : NULL;
    if (n > 1 && !seen)
        return ASSAY_ENOMEM;
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        char jid[ASSAY_JOB_ID_MAX + 1];
        if (!ST_ID(&jobs->via.array.ptr[i], "id", jid) ||
            assay_index_get(self->jobs, jid) ||
            (seen && (assay_index_get(seen, jid) ||
                      assay_index_put(seen, jid, (void *)seen) != 0)))
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "submit: job %u has no id, a too long one or one "
                            "already held",
                            i);
    }
    assay_index_destroy(&seen);
    if (rc)
        return rc;
    assay_spec_rec *s = calloc(1, sizeof *s);
    if (!s)
        return ASSAY_ENOMEM;
    char text[256];
    strlcpy(s->id, sid, sizeof s->id);
    s->action = st_intern(self, action);
    s->version = st_intern(self, st_text(spec, "version", text, sizeof text,
                                         false));
    s->resolved = st_intern(self, st_text(spec, "resolved", text,
                                          sizeof text, false));
    /* Objects the planner and the job view read are always there,
     * whatever the log said; most JobSpecs share one empty one. */
    const msgpack_object *labels = st_get(spec, "labels"),
                         *selector = st_get(spec, "selector");
    s->labels = st_is(labels, MSGPACK_OBJECT_MAP) && labels->via.map.size
                    ? st_json(labels)
                    : json_incref(self->empty);
    s->selector = st_is(selector, MSGPACK_OBJECT_MAP) &&
                          selector->via.map.size
                      ? st_json(selector)
                      : json_incref(self->empty);
    if (!s->action || !s->version || !s->resolved || !s->labels ||
        !s->selector) {
        json_decref(s->labels);
        json_decref(s->selector);
        free(s);
        return ASSAY_ENOMEM;
    }
    s->timeout_ms = st_int(spec, "timeout_ms");
    s->max_attempts = st_int(spec, "max_attempts");
    s->priority = prio;
    s->memory_mb = st_int(spec, "memory_mb");
    /* What the state's level keeps, and no more: a field of a later level
     * (in a crafted log, or a snapshot whose level was lost) would live
     * on in this member and not in the snapshot that level writes. */
    int64_t lv = self->level;
    /* Bounded as JobSpecs are (1,024 CPUs); anything else asks for none. */
    int64_t cpu = lv >= ASSAY_LEVEL_PLANNER ? st_int(spec, "cpu_milli") : 0;
    s->cpu_milli = cpu > 0 && cpu <= 1024000 ? cpu : 0;
    char placement[8];
    s->pack = lv >= ASSAY_LEVEL_PLANNER &&
              st_text(spec, "placement", placement, sizeof placement,
                      false) &&
              !strcmp(placement, "pack");
    /* Bounded as JobSpecs are (a century); 0 or absent: the member's. */
    int64_t keep = st_int(spec, "retain_seconds");
    s->retain_ms = keep > 0 && keep <= 3153600000LL ? keep * 1000 : 0;
    if (lv >= ASSAY_LEVEL_ATTRIBUTION)
        st_by_read(self, spec, &s->by_name, &s->by_role);
    const char *sched = lv >= ASSAY_LEVEL_SCHEDULES
                            ? st_intern(self, st_text(spec, "schedule", text,
                                                      sizeof text, false))
                            : "";
    s->schedule = sched ? sched : "";
    int64_t when = lv >= ASSAY_LEVEL_SCHEDULES ? st_int(spec, "submitted_ms")
                                               : 0;
    s->submitted_ms = when > 0 ? when : 0;
    if (lv >= ASSAY_LEVEL_EVIDENCE && s_evidence_meta(self, s, spec)) {
        st_spec_free_meta(s);
        json_decref(s->labels);
        json_decref(s->selector);
        free(s);
        return ASSAY_ENOMEM;
    }
    if (!s->series)
        s->series = "";
    if (s->max_attempts < 1)
        s->max_attempts = 1;
    if (st_class_attach(self, s)) {
        st_spec_free_meta(s);
        json_decref(s->labels);
        json_decref(s->selector);
        free(s);
        return ASSAY_ENOMEM;
    }
    st_add_spec(self, s);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *jo = &jobs->via.array.ptr[i],
                             *p = st_get(jo, "params");
        char jid[ASSAY_JOB_ID_MAX + 1];
        assay_job *j = st_job_new(self, s, ST_ID(jo, "id", jid),
                                  st_is(p, MSGPACK_OBJECT_MAP) ? p : NULL);
        if (!j)
            return ASSAY_ENOMEM;
        st_add_job(self, j);
        st_enqueue(self, j);
        st_job_event(self, ASSAY_EV_JOB_QUEUED, j);
    }
    if (result)
        *result = json_pack("{s:s, s:o, s:b}", "spec", sid, "jobs",
                            assay_spec_job_ids(s), "duplicate", 0);
    return 0;
}

static int s_submit(assay_state *self, const msgpack_object *cmd,
                    json_t **result, char *err, size_t errlen)
{
    if (st_get(st_get(cmd, "spec"), "schedule"))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "submit: spec.schedule is set by fire only");
    return st_submit(self, st_get(cmd, "spec"), st_get(cmd, "jobs"), result,
                     err, errlen);
}

/* Each item of a batch is fenced on its own; the result lists which
 * items applied ("applied": [bool...]). */
typedef int (*s_item_fn)(assay_state *self, const msgpack_object *item);

static int s_batch(assay_state *self, const msgpack_object *cmd,
                   const char *op, s_item_fn fn, json_t **result, char *err,
                   size_t errlen)
{
    const msgpack_object *items = st_get(cmd, "items");
    if (!st_is(items, MSGPACK_OBJECT_ARRAY))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: items must be an array", op);
    json_t *applied = result ? json_array() : NULL;
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        bool ok = fn(self, &items->via.array.ptr[i]) == 0;
        if (applied)
            json_array_append_new(applied, json_boolean(ok));
    }
    if (result)
        *result = json_pack("{s:o}", "applied", applied);
    return 0;
}

/* The job an item names, or NULL. */
static assay_job *s_item_job(assay_state *self, const msgpack_object *it)
{
    char id[ASSAY_JOB_ID_MAX + 1];
    return assay_state_job(self, ST_ID(it, "job", id));
}

static int s_dispatch_item(assay_state *self, const msgpack_object *it)
{
    assay_job *j = s_item_job(self, it);
    char rt[256], ver[256];
    if (!j || !ST_ID(it, "runtime", rt) || j->state != ASSAY_JOB_QUEUED ||
        st_int(it, "attempt") != j->attempt + 1)
        return ASSAY_ERANGE;
    st_leave(self, j);
    j->state = ASSAY_JOB_RUNNING;
    j->attempt++;
    j->dispatching = false;
    j->reported = false;
    j->lease_ms = 0;
    const char *irt = st_intern(self, rt),
               *iv = st_intern(self, ST_ID(it, "version", ver));
    j->runtime = irt ? irt : "";
    j->version = iv ? iv : "";
    assay_job_note(&j->reason, NULL);
    st_stats_dispatched(self, j, st_int(it, "at"));
    if (!st_attempt_begin(self, j, st_int(it, "at"), rt))
        assay_warn("out of memory recording attempt %lld of %s",
                   (long long)j->attempt, j->id);
    if (!st_run(self, j))
        assay_warn("out of memory indexing %s on runtime %s", j->id, rt);
    st_job_event(self, ASSAY_EV_JOB_RUNNING, j);
    return 0;
}

static int s_result_item(assay_state *self, const msgpack_object *it)
{
    assay_job *j = s_item_job(self, it);
    const msgpack_object *res = st_get(it, "result");
    if (!j || j->state != ASSAY_JOB_RUNNING ||
        !st_is(res, MSGPACK_OBJECT_MAP) ||
        st_int(it, "attempt") != j->attempt)
        return ASSAY_ERANGE;
    if (!st_job_result(self, j, res))
        return ASSAY_ENOMEM;
    st_leave(self, j);
    int64_t at = st_int(it, "at");
    const assay_attempt *a = j->n_attempts ? &j->attempts[j->n_attempts - 1]
                                           : NULL;
    if (a && a->start_ms > 0 && at > 0)
        st_estimate_sample(self, j->spec->action, at - a->start_ms, at);
    st_stats_ran(self, j, at);
    st_attempt_end(j, at, ASSAY_JOB_COMPLETED, NULL);
    st_finish(self, j, ASSAY_JOB_COMPLETED, at);
    st_job_event(self, ASSAY_EV_JOB_COMPLETED, j);
    return 0;
}

static int s_requeue_item(assay_state *self, const msgpack_object *it)
{
    assay_job *j = s_item_job(self, it);
    if (!j || j->state != ASSAY_JOB_RUNNING ||
        st_int(it, "attempt") != j->attempt)
        return ASSAY_ERANGE;
    st_leave(self, j);
    char buf[1024];
    const char *why = st_text(it, "reason", buf, sizeof buf, true);
    if (!why)
        why = "lost";
    int64_t at = st_int(it, "at");
    assay_job_note(&j->reason, why);
    if (j->attempt - j->base >= j->spec->max_attempts) {
        st_attempt_end(j, at, ASSAY_JOB_FAILED, why);
        st_finish(self, j, ASSAY_JOB_FAILED, at);
        st_job_event(self, ASSAY_EV_JOB_FAILED, j);
    } else {
        st_attempt_end(j, at, ASSAY_JOB_QUEUED, why);
        j->state = ASSAY_JOB_QUEUED;
        st_enqueue(self, j);
        st_job_event(self, ASSAY_EV_JOB_QUEUED, j);
    }
    return 0;
}

static int s_dispatch(assay_state *self, const msgpack_object *cmd,
                      json_t **result, char *err, size_t errlen)
{
    return s_batch(self, cmd, "dispatch", s_dispatch_item, result, err,
                   errlen);
}

static int s_result(assay_state *self, const msgpack_object *cmd,
                    json_t **result, char *err, size_t errlen)
{
    return s_batch(self, cmd, "result", s_result_item, result, err, errlen);
}

static int s_requeue(assay_state *self, const msgpack_object *cmd,
                     json_t **result, char *err, size_t errlen)
{
    return s_batch(self, cmd, "requeue", s_requeue_item, result, err, errlen);
}

/* The jobs a cancel or expire names: an array (of ids). */
static const msgpack_object *s_ids(const msgpack_object *cmd,
                                   const char *op, char *err, size_t errlen)
{
    const msgpack_object *ids = st_get(cmd, "jobs");
    if (!st_is(ids, MSGPACK_OBJECT_ARRAY))
        assay_errf(err, errlen, ASSAY_EINVAL, "%s: jobs must be an array",
                   op);
    return st_is(ids, MSGPACK_OBJECT_ARRAY) ? ids : NULL;
}

/* The job the id at ids[i] names, or NULL. */
static assay_job *s_listed(assay_state *self, const msgpack_object *ids,
                           uint32_t i)
{
    const msgpack_object *o = &ids->via.array.ptr[i];
    char id[ASSAY_JOB_ID_MAX + 1];
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= sizeof id)
        return NULL;
    memcpy(id, o->via.str.ptr, o->via.str.size);
    id[o->via.str.size] = '\0';
    return assay_state_job(self, id);
}

void st_cancel_job(assay_state *self, assay_job *j, int64_t at,
                   const char *why)
{
    if (j->state == ASSAY_JOB_RUNNING) {
        st_attempt_end(j, at, ASSAY_JOB_CANCELLED, why);
        st_note_cancelled(self, j);
    }
    st_leave(self, j);
    st_finish(self, j, ASSAY_JOB_CANCELLED, at);
    assay_job_note(&j->reason, why);
    st_job_event(self, ASSAY_EV_JOB_CANCELLED, j);
}

/* The reason cancel and restart give the jobs they change: `done`, and
 * who asked when the command says (level 4). */
static void s_why(assay_state *self, const msgpack_object *cmd,
                  const char *done, char *why, size_t len)
{
    const char *by, *role;
    st_by_read(self, cmd, &by, &role);
    if (by)
        snprintf(why, len, "%s by %s (%s)", done, by, role);
    else
        snprintf(why, len, "%s", done);
}

/* Failed or cancelled jobs queued again, each for a new series of
 * max_attempts attempts; their history stays. */
static int s_restart(assay_state *self, const msgpack_object *cmd,
                     json_t **result, char *err, size_t errlen)
{
    const msgpack_object *ids = s_ids(cmd, "restart", err, errlen);
    if (!ids)
        return ASSAY_EINVAL;
    char why[200];
    s_why(self, cmd, "restarted", why, sizeof why);
    json_t *done = result ? json_array() : NULL;
    for (uint32_t i = 0; i < ids->via.array.size; i++) {
        assay_job *j = s_listed(self, ids, i);
        if (!j || (j->state != ASSAY_JOB_FAILED &&
                   j->state != ASSAY_JOB_CANCELLED) ||
            j->attempt > UINT32_MAX)
            continue;
        st_leave(self, j);
        j->state = ASSAY_JOB_QUEUED;
        j->base = (uint32_t)j->attempt;
        j->ended_ms = 0;
        assay_job_note(&j->reason, why);
        st_reopen(self, j);
        st_enqueue(self, j);
        st_job_event(self, ASSAY_EV_JOB_QUEUED, j);
        if (done)
            json_array_append_new(done, json_string(j->id));
    }
    if (result)
        *result = json_pack("{s:o}", "restarted", done);
    return 0;
}

static int s_cancel(assay_state *self, const msgpack_object *cmd,
                    json_t **result, char *err, size_t errlen)
{
    const msgpack_object *ids = s_ids(cmd, "cancel", err, errlen);
    if (!ids)
        return ASSAY_EINVAL;
    int64_t at = st_int(cmd, "at");
    char why[200];
    s_why(self, cmd, "cancelled", why, sizeof why);
    json_t *was = result ? json_object() : NULL;
    for (uint32_t i = 0; i < ids->via.array.size; i++) {
        assay_job *j = s_listed(self, ids, i);
        if (!j || (j->state != ASSAY_JOB_QUEUED &&
                   j->state != ASSAY_JOB_RUNNING))
            continue;
        if (was)
            json_object_set_new(was, j->id,
                                json_string(assay_job_state_name(j->state)));
        st_cancel_job(self, j, at, why);
    }
    if (result)
        *result = json_pack("{s:o}", "was", was);
    return 0;
}

int st_runtime_put(assay_state *self, const msgpack_object *rec, char *err,
                   size_t errlen)
{
    char id[64];
    int64_t hb = st_int(rec, "heartbeat_ms");
    if (!ST_ID(rec, "id", id) || !*id || hb < 1)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "runtime: needs an id of 1 to 63 bytes and "
                      "heartbeat_ms >= 1");
    json_t *info = st_json(rec);
    if (!info)
        return ASSAY_ENOMEM;
    json_object_del(info, "op");
    json_object_del(info, "v");
    json_object_del(info, "alive"); /* a snapshot's, not the info */
    assay_runtime_rec *r = assay_index_get(self->runtimes, id);
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) {
            json_decref(info);
            return ASSAY_ENOMEM;
        }
        strlcpy(r->id, id, sizeof r->id);
        assay_index_put(self->runtimes, id, r);
        r->pos = json_array_size(self->runtime_ids);
        json_array_append_new(self->runtime_ids, json_string(id));
    }
    st_catalog_drop(self, r);
    json_decref(r->info);
    r->info = info;
    st_catalog_share(self, r);
    /* Held by the jobs that run there too: a host's facts outlive the
     * runtime's record in the evidence of its results. */
    st_host_drop(self, &r->host);
    if (self->level >= ASSAY_LEVEL_EVIDENCE)
        r->host = st_host_share(self, st_get(rec, "host"));
    else
        json_object_del(info, "host");
    r->heartbeat_ms = hb;
    r->alive = true;
    st_runtime_event(self, r, NULL);
    return 0;
}

static int s_runtime(assay_state *self, const msgpack_object *cmd,
                     json_t **result, char *err, size_t errlen)
{
    (void)result;
    return st_runtime_put(self, cmd, err, errlen);
}

static int s_runtime_state(assay_state *self, const msgpack_object *cmd,
                           json_t **result, char *err, size_t errlen)
{
    (void)result;
    char id[64];
    assay_runtime_rec *r = assay_state_runtime(self, ST_ID(cmd, "id", id));
    const msgpack_object *alive = st_get(cmd, "alive");
    if (!r || !st_is(alive, MSGPACK_OBJECT_BOOLEAN))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "runtime_state: needs a registered id and a boolean "
                      "alive");
    if (r->alive == alive->via.boolean)
        return ASSAY_ERANGE;
    r->alive = alive->via.boolean;
    st_runtime_event(self, r, NULL);
    return 0;
}

/* A member took the lead: where clients and runtimes should now go. */
int st_leader_set(assay_state *self, const msgpack_object *cmd, char *err,
                  size_t errlen)
{
    char id[64], ep[256], ev[256];
    int64_t level = st_int(cmd, "level");
    if (!ST_ID(cmd, "id", id) || !*id || !ST_ID(cmd, "endpoint", ep) ||
        !*ep || !ST_ID(cmd, "events", ev) || st_int(cmd, "member") < 0 ||
        level < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "leader: needs id (1 to 63 bytes), endpoint and "
                      "events (at most 255 bytes), member >= 0, level >= 0");
    /* The level is read only when it sets a new state's: a later leader
     * of the next release may speak more than this member does. */
    bool first = !self->leader && !self->level;
    if (first && level > ASSAY_STATE_LEVEL)
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                      "leader: feature level %lld is above what this member "
                      "speaks (%d): upgrade it",
                      (long long)level, ASSAY_STATE_LEVEL);
    json_t *l = json_pack("{s:s, s:s, s:s, s:I}", "id", id, "endpoint", ep,
                          "events", ev, "member",
                          (json_int_t)st_int(cmd, "member"));
    if (!l)
        return ASSAY_ENOMEM;
    /* The first leader of a state sets where its level starts: its own
     * (a new cluster), or 1 (a log from before levels). */
    if (first)
        self->level = level ? level : 1;
    json_decref(self->leader);
    self->leader = l;
    return 0;
}

static int s_leader(assay_state *self, const msgpack_object *cmd,
                    json_t **result, char *err, size_t errlen)
{
    (void)result;
    return st_leader_set(self, cmd, err, errlen);
}

static int s_expire(assay_state *self, const msgpack_object *cmd,
                    json_t **result, char *err, size_t errlen)
{
    const msgpack_object *ids = s_ids(cmd, "expire", err, errlen);
    if (!ids)
        return ASSAY_EINVAL;
    json_int_t n = 0;
    for (uint32_t i = 0; i < ids->via.array.size; i++) {
        assay_job *j = s_listed(self, ids, i);
        if (!j || j->state == ASSAY_JOB_QUEUED ||
            j->state == ASSAY_JOB_RUNNING)
            continue; /* gone already, or not finished: kept */
        st_forget(self, j);
        n++;
    }
    if (result)
        *result = json_pack("{s:I}", "expired", n);
    return 0;
}

/* Runtimes the leader chose to forget (dead past retain_runtime_seconds):
 * one that came back, or holds a running job again, is kept. */
static int s_forget(assay_state *self, const msgpack_object *cmd,
                    json_t **result, char *err, size_t errlen)
{
    const msgpack_object *ids = st_get(cmd, "runtimes");
    if (!st_is(ids, MSGPACK_OBJECT_ARRAY))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "forget: runtimes must be an array");
    json_int_t n = 0;
    for (uint32_t i = 0; i < ids->via.array.size; i++) {
        const msgpack_object *o = &ids->via.array.ptr[i];
        char id[64];
        size_t running = 0;
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= sizeof id)
            continue;
        memcpy(id, o->via.str.ptr, o->via.str.size);
        id[o->via.str.size] = '\0';
        assay_runtime_rec *r = assay_state_runtime(self, id);
        if (!r || r->alive || assay_state_running_on(self, id, &running) ||
            running)
            continue;
        st_runtime_forget(self, r);
        n++;
    }
    if (result)
        *result = json_pack("{s:I}", "forgotten", n);
    return 0;
}

/* Jobs that ended before there were clocks in the log are taken to have
 * ended now, so that retention by age starts counting for them. */
static int s_level(assay_state *self, const msgpack_object *cmd,
                   json_t **result, char *err, size_t errlen)
{
    (void)result;
    int64_t level = st_int(cmd, "level");
    if (level < assay_state_level(self))
        return assay_errf(err, errlen, ASSAY_ERANGE,
                      "level: %lld is below the cluster's %lld (levels "
                      "only rise)",
                      (long long)level, (long long)assay_state_level(self));
    if (level > ASSAY_STATE_LEVEL)
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                      "level: %lld is above what this member speaks (%d): "
                      "upgrade this member",
                      (long long)level, ASSAY_STATE_LEVEL);
    int64_t at = st_int(cmd, "at");
    for (assay_job *j = self->done.head; j; j = j->next)
        if (!j->ended_ms)
            j->ended_ms = at;
    self->level = level;
    return 0;
}

static const s_op s_ops[] = {
    {"submit", 1, 1, s_submit},
    {"dispatch", 1, 1, s_dispatch},
    {"result", 1, 1, s_result},
    {"requeue", 1, 1, s_requeue},
    {"cancel", 1, 1, s_cancel},
    {"runtime", 1, 1, s_runtime},
    {"runtime_state", 1, 1, s_runtime_state},
    {"leader", 1, 1, s_leader},
    {"expire", 1, ASSAY_LEVEL_RETENTION, s_expire},
    /* Readable at any level: it is how a cluster leaves level 1. */
    {"level", 1, 1, s_level},
    {"forget", 1, ASSAY_LEVEL_FORGET, s_forget},
    {"token", 1, ASSAY_LEVEL_ENROLMENT, st_token},
    {"enrol", 1, ASSAY_LEVEL_ENROLMENT, st_enrol},
    {"unenrol", 1, ASSAY_LEVEL_ENROLMENT, st_unenrol},
    {"schedule", 1, ASSAY_LEVEL_SCHEDULES, st_schedule},
    {"schedule_state", 1, ASSAY_LEVEL_SCHEDULES, st_schedule_state},
    {"unschedule", 1, ASSAY_LEVEL_SCHEDULES, st_unschedule},
    {"fire", 1, ASSAY_LEVEL_SCHEDULES, st_fire},
    {"restart", 1, ASSAY_LEVEL_SCHEDULES, s_restart},
    {"consumer", 1, ASSAY_LEVEL_EVIDENCE, st_consumer},
    {"unconsumer", 1, ASSAY_LEVEL_EVIDENCE, st_unconsumer},
};

int assay_state_op_version(const char *op)
{
    for (size_t i = 0; op && i < sizeof s_ops / sizeof *s_ops; i++)
        if (!strcmp(op, s_ops[i].name))
            return (int)s_ops[i].version;
    return ASSAY_ENOENT;
}

int assay_state_apply(assay_state *self, const msgpack_object *cmd,
                      json_t **result, char *err, size_t errlen)
{
    if (result)
        *result = NULL;
    if (err && errlen)
        *err = '\0';
    char op[33];
    const msgpack_object *v = st_get(cmd, "v");
    if (!st_text(cmd, "op", op, sizeof op, true) ||
        !st_is(v, MSGPACK_OBJECT_POSITIVE_INTEGER) || v->via.u64 < 1)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "command without a string op and a version v >= 1");
    const s_op *o = NULL;
    for (size_t i = 0; !o && i < sizeof s_ops / sizeof *s_ops; i++)
        if (!strcmp(op, s_ops[i].name))
            o = &s_ops[i];
    if (!o)
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                      "op '%.32s' is unknown to this member (state format "
                      "%d, level %d): upgrade it",
                      op, ASSAY_STATE_VERSION, ASSAY_STATE_LEVEL);
    if (v->via.u64 > (uint64_t)o->version)
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                      "op '%s' version %llu is newer than this member "
                      "reads (up to %lld): upgrade it",
                      op, (unsigned long long)v->via.u64,
                      (long long)o->version);
    if (o->level > assay_state_level(self))
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                      "op '%s' needs feature level %lld; the cluster is at "
                      "%lld (assayctl cluster upgrade raises it)",
                      op, (long long)o->level,
                      (long long)assay_state_level(self));
    int rc = o->apply(self, cmd, result, err, errlen);
    st_scheds_settle(self);
    return rc;
}
