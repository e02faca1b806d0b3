/* core/state/apply.c - the op table: every command the log may hold, the
 * encoding versions this build reads and the feature level that brought
 * it, and how it changes the state (see state.h for the fields). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "error.h"
#include "log.h"

typedef int (*s_apply_fn)(assay_state *self, const json_t *cmd,
                          json_t **result, char *err, size_t errlen);

typedef struct {
    const char *name;
    int64_t version; /* newest encoding this build reads (it reads 1..) */
    int64_t level;   /* feature level that brought it */
    s_apply_fn apply;
} s_op;

int st_submit(assay_state *self, const json_t *spec, const json_t *jobs,
              json_t **result, char *err, size_t errlen)
{
    const char *sid = st_str(spec, "id");
    if (!sid || strlen(sid) > 64 || !json_is_array(jobs) ||
        !json_array_size(jobs) || !st_str(spec, "action"))
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
    size_t i;
    json_t *jj;
    /* Ids repeated within the command are looked for only when it has
     * several jobs: most JobSpecs of one job paid for an index here. */
    assay_index *seen = json_array_size(jobs) > 1 ? assay_index_new() : NULL;
    if (json_array_size(jobs) > 1 && !seen)
        return ASSAY_ENOMEM;
    int rc = 0;
    json_array_foreach(jobs, i, jj) {
        const char *jid = st_str(jj, "id");
        if (!jid || strlen(jid) > ASSAY_JOB_ID_MAX ||
            assay_index_get(self->jobs, jid) ||
            (seen && (assay_index_get(seen, jid) ||
                      assay_index_put(seen, jid, (void *)jj) != 0))) {
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "submit: job %zu has no id, a too long one or one "
                        "already held",
                        i);
            break;
        }
    }
    assay_index_destroy(&seen);
    if (rc)
        return rc;
    assay_spec_rec *s = calloc(1, sizeof *s);
    if (!s)
        return ASSAY_ENOMEM;
    strlcpy(s->id, sid, sizeof s->id);
    s->spec = json_deep_copy(spec);
    /* Fields the job view reads are always there, whatever the log said. */
    static const char *objects[] = {"labels", "selector"};
    for (size_t k = 0; k < 2; k++)
        if (!json_is_object(json_object_get(s->spec, objects[k])))
            json_object_set_new(s->spec, objects[k], json_object());
    s->timeout_ms = st_int(spec, "timeout_ms");
    s->max_attempts = st_int(spec, "max_attempts");
    s->priority = prio;
    /* Bounded as JobSpecs are (a century); 0 or absent: the member's. */
    int64_t keep = st_int(spec, "retain_seconds");
    s->retain_ms = keep > 0 && keep <= 3153600000LL ? keep * 1000 : 0;
    if (s->max_attempts < 1)
        s->max_attempts = 1;
    st_add_spec(self, s);
    json_array_foreach(jobs, i, jj) {
        json_t *params = json_object_get(jj, "params");
        assay_job *j = st_job_new(self, s, st_str(jj, "id"),
                                  json_is_object(params) ? params : NULL);
        if (!j)
            return ASSAY_ENOMEM;
        st_add_job(self, j);
        st_enqueue(self, j);
        st_job_event(self, "job.queued", j);
    }
    if (result)
        *result = json_pack("{s:s, s:o, s:b}", "spec", sid, "jobs",
                            assay_spec_job_ids(s), "duplicate", 0);
    return 0;
}

static int s_submit(assay_state *self, const json_t *cmd, json_t **result,
                    char *err, size_t errlen)
{
    return st_submit(self, json_object_get(cmd, "spec"),
                     json_object_get(cmd, "jobs"), result, err, errlen);
}

/* Each item of a batch is fenced on its own; the result lists which
 * items applied ("applied": [bool...]). */
typedef int (*s_item_fn)(assay_state *self, const json_t *item);

static int s_batch(assay_state *self, const json_t *cmd, s_item_fn fn,
                   json_t **result, char *err, size_t errlen)
{
    const json_t *items = json_object_get(cmd, "items");
    if (!json_is_array(items))
        return assay_errf(err, errlen, ASSAY_EINVAL, "%s: items must be an array",
                      st_str(cmd, "op"));
    json_t *applied = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
        json_array_append_new(applied, json_boolean(fn(self, it) == 0));
    if (result)
        *result = json_pack("{s:o}", "applied", applied);
    else
        json_decref(applied);
    return 0;
}

static int s_dispatch_item(assay_state *self, const json_t *it)
{
    assay_job *j = assay_state_job(self, st_str(it, "job"));
    const char *rt = st_str(it, "runtime");
    if (!j || !rt || j->state != ASSAY_JOB_QUEUED ||
        st_int(it, "attempt") != j->attempt + 1)
        return ASSAY_ERANGE;
    st_leave(self, j);
    j->state = ASSAY_JOB_RUNNING;
    j->attempt++;
    j->dispatching = false;
    j->reported = false;
    j->lease_ms = 0;
    const char *irt = st_intern(self, rt),
               *iv = st_intern(self, st_str(it, "version"));
    j->runtime = irt ? irt : "";
    j->version = iv ? iv : "";
    assay_job_note(&j->reason, NULL);
    if (!st_attempt_begin(self, j, st_int(it, "at"), rt))
        assay_warn("out of memory recording attempt %lld of %s",
                   (long long)j->attempt, j->id);
    st_list_append(&self->running, j);
    if (!st_rt_link(self, j))
        assay_warn("out of memory indexing %s on runtime %s", j->id, rt);
    st_job_event(self, "job.running", j);
    return 0;
}

static int s_result_item(assay_state *self, const json_t *it)
{
    assay_job *j = assay_state_job(self, st_str(it, "job"));
    json_t *res = json_object_get(it, "result");
    if (!j || j->state != ASSAY_JOB_RUNNING || !json_is_object(res) ||
        st_int(it, "attempt") != j->attempt)
        return ASSAY_ERANGE;
    st_leave(self, j);
    int64_t at = st_int(it, "at");
    st_attempt_end(j, at, ASSAY_JOB_COMPLETED, NULL);
    st_finish(self, j, ASSAY_JOB_COMPLETED, at);
    json_decref(j->result);
    j->result = json_incref(res);
    st_job_event(self, "job.completed", j);
    return 0;
}

static int s_requeue_item(assay_state *self, const json_t *it)
{
    assay_job *j = assay_state_job(self, st_str(it, "job"));
    if (!j || j->state != ASSAY_JOB_RUNNING ||
        st_int(it, "attempt") != j->attempt)
        return ASSAY_ERANGE;
    st_leave(self, j);
    const char *why = st_str(it, "reason") ? st_str(it, "reason") : "lost";
    int64_t at = st_int(it, "at");
    assay_job_note(&j->reason, why);
    if (j->attempt >= j->spec->max_attempts) {
        st_attempt_end(j, at, ASSAY_JOB_FAILED, why);
        st_finish(self, j, ASSAY_JOB_FAILED, at);
        st_job_event(self, "job.failed", j);
    } else {
        st_attempt_end(j, at, ASSAY_JOB_QUEUED, why);
        j->state = ASSAY_JOB_QUEUED;
        st_enqueue(self, j);
        st_job_event(self, "job.queued", j);
    }
    return 0;
}

static int s_dispatch(assay_state *self, const json_t *cmd, json_t **result,
                      char *err, size_t errlen)
{
    return s_batch(self, cmd, s_dispatch_item, result, err, errlen);
}

static int s_result(assay_state *self, const json_t *cmd, json_t **result,
                    char *err, size_t errlen)
{
    return s_batch(self, cmd, s_result_item, result, err, errlen);
}

static int s_requeue(assay_state *self, const json_t *cmd, json_t **result,
                     char *err, size_t errlen)
{
    return s_batch(self, cmd, s_requeue_item, result, err, errlen);
}

static int s_cancel(assay_state *self, const json_t *cmd, json_t **result,
                    char *err, size_t errlen)
{
    const json_t *ids = json_object_get(cmd, "jobs");
    if (!json_is_array(ids))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "cancel: jobs must be an array");
    int64_t at = st_int(cmd, "at");
    json_t *was = json_object();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        assay_job *j = assay_state_job(self, json_string_value(id));
        if (!j || (j->state != ASSAY_JOB_QUEUED &&
                   j->state != ASSAY_JOB_RUNNING))
            continue;
        json_object_set_new(was, j->id,
                            json_string(assay_job_state_name(j->state)));
        if (j->state == ASSAY_JOB_RUNNING)
            st_attempt_end(j, at, ASSAY_JOB_CANCELLED, "cancelled");
        st_leave(self, j);
        st_finish(self, j, ASSAY_JOB_CANCELLED, at);
        assay_job_note(&j->reason, "cancelled");
        st_job_event(self, "job.cancelled", j);
    }
    if (result)
        *result = json_pack("{s:o}", "was", was);
    else
        json_decref(was);
    return 0;
}

static int s_runtime(assay_state *self, const json_t *cmd, json_t **result,
                     char *err, size_t errlen)
{
    (void)result;
    const char *id = st_str(cmd, "id");
    int64_t hb = st_int(cmd, "heartbeat_ms");
    if (!id || !*id || strlen(id) > 63 || hb < 1)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "runtime: needs an id of 1 to 63 bytes and "
                      "heartbeat_ms >= 1");
    assay_runtime_rec *r = assay_index_get(self->runtimes, id);
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return ASSAY_ENOMEM;
        strlcpy(r->id, id, sizeof r->id);
        assay_index_put(self->runtimes, id, r);
        r->pos = json_array_size(self->runtime_ids);
        json_array_append_new(self->runtime_ids, json_string(id));
    }
    json_decref(r->info);
    r->info = json_deep_copy(cmd);
    json_object_del(r->info, "op");
    json_object_del(r->info, "v");
    json_object_del(r->info, "alive"); /* a snapshot's, not the info */
    r->heartbeat_ms = hb;
    r->alive = true;
    st_runtime_event(self, r);
    return 0;
}

static int s_runtime_state(assay_state *self, const json_t *cmd,
                           json_t **result, char *err, size_t errlen)
{
    (void)result;
    assay_runtime_rec *r = assay_state_runtime(self, st_str(cmd, "id"));
    json_t *alive = json_object_get(cmd, "alive");
    if (!r || !json_is_boolean(alive))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "runtime_state: needs a registered id and a boolean "
                      "alive");
    if (r->alive == json_is_true(alive))
        return ASSAY_ERANGE;
    r->alive = json_is_true(alive);
    st_runtime_event(self, r);
    return 0;
}

/* A member took the lead: where clients and runtimes should now go. */
static int s_leader(assay_state *self, const json_t *cmd, json_t **result,
                    char *err, size_t errlen)
{
    (void)result;
    const char *id = st_str(cmd, "id"), *ep = st_str(cmd, "endpoint"),
               *ev = st_str(cmd, "events");
    int64_t level = st_int(cmd, "level");
    if (!id || !*id || strlen(id) > 63 || !ep || !*ep || strlen(ep) > 255 ||
        !ev || strlen(ev) > 255 || st_int(cmd, "member") < 0 || level < 0)
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

static int s_expire(assay_state *self, const json_t *cmd, json_t **result,
                    char *err, size_t errlen)
{
    const json_t *ids = json_object_get(cmd, "jobs");
    if (!json_is_array(ids))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                      "expire: jobs must be an array");
    json_int_t n = 0;
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        assay_job *j = assay_state_job(self, json_string_value(id));
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

/* Jobs that ended before there were clocks in the log are taken to have
 * ended now, so that retention by age starts counting for them. */
static int s_level(assay_state *self, const json_t *cmd, json_t **result,
                   char *err, size_t errlen)
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
};

int assay_state_op_version(const char *op)
{
    for (size_t i = 0; op && i < sizeof s_ops / sizeof *s_ops; i++)
        if (!strcmp(op, s_ops[i].name))
            return (int)s_ops[i].version;
    return ASSAY_ENOENT;
}

int assay_state_apply(assay_state *self, const json_t *cmd, json_t **result,
                      char *err, size_t errlen)
{
    if (result)
        *result = NULL;
    if (err && errlen)
        *err = '\0';
    const char *op = st_str(cmd, "op");
    json_t *v = json_object_get(cmd, "v");
    if (!op || !json_is_integer(v) || json_integer_value(v) < 1)
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
    if (json_integer_value(v) > o->version)
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                      "op '%s' version %lld is newer than this member "
                      "reads (up to %lld): upgrade it",
                      op, (long long)json_integer_value(v),
                      (long long)o->version);
    if (o->level > assay_state_level(self))
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                      "op '%s' needs feature level %lld; the cluster is at "
                      "%lld (assayctl cluster upgrade raises it)",
                      op, (long long)o->level,
                      (long long)assay_state_level(self));
    return o->apply(self, cmd, result, err, errlen);
}
