/* core/state.c - the replicated state machine (see state.h). */
#include "state.h"

#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "error.h"
#include "log.h"

#define PRIO_MIN (-1000)
#define PRIO_MAX 1000
#define NPRIO (PRIO_MAX - PRIO_MIN + 1)

typedef struct {
    assay_job *head, *tail;
} s_list;

/* A runtime's running jobs: registrations, deaths and assay.runtimes ask
 * for them, and walking every running job for each of 1,000 runtimes
 * was quadratic. Keyed by the job's runtime string, which need not be
 * registered (a restored snapshot lists jobs before runtimes). */
typedef struct {
    assay_job *head;
    size_t count;
} s_rt_list;

static void s_free_rt_list(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

struct assay_state {
    assay_index *jobs, *specs, *runtimes;
    assay_index *running_on; /* runtime id -> s_rt_list */
    json_t *runtime_ids;
    s_list queue[NPRIO]; /* by priority - PRIO_MIN */
    int top;             /* highest non-empty bucket, or -1 */
    s_list running;
    assay_job *all_head, *all_tail;
    assay_spec_rec *specs_head, *specs_tail;
    uint64_t seq;
    json_t *leader; /* the last "leader" command, NULL before one */
    assay_state_event_fn on_event;
    assay_state_wants_fn wants;
    void *arg;
};

static const char *s_state_names[] = {"queued", "running", "completed",
                                      "failed", "cancelled"};

/* Notes are capped like the fixed buffers they replaced. */
#define NOTE_MAX 255

void assay_job_note(char **field, const char *text)
{
    if (*field && text && !strncmp(*field, text, NOTE_MAX) &&
        strlen(*field) == strnlen(text, NOTE_MAX))
        return; /* unchanged: the planner notes the same reason often */
    free(*field);
    *field = text && *text ? strndup(text, NOTE_MAX) : NULL;
}

const char *assay_job_state_name(assay_job_state s)
{
    return (unsigned)s < 5 ? s_state_names[s] : "unknown";
}

int assay_job_state_parse(const char *name)
{
    for (int i = 0; name && i < 5; i++)
        if (!strcasecmp(name, s_state_names[i]))
            return i;
    return ASSAY_EINVAL;
}

assay_state *assay_state_new(assay_state_event_fn on_event, void *arg)
{
    assay_state *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->jobs = assay_index_new();
    self->specs = assay_index_new();
    self->runtimes = assay_index_new();
    self->running_on = assay_index_new();
    self->runtime_ids = json_array();
    self->top = -1;
    self->on_event = on_event;
    self->arg = arg;
    if (!self->jobs || !self->specs || !self->runtimes || !self->runtime_ids ||
        !self->running_on)
        assay_state_destroy(&self);
    return self;
}

static void s_clear(assay_state *self)
{
    for (assay_job *j = self->all_head, *next; j; j = next) {
        next = j->all_next;
        assay_index_remove(self->jobs, j->id);
        json_decref(j->params);
        json_decref(j->result);
        free(j->reason);
        free(j->waiting);
        free(j);
    }
    for (assay_spec_rec *s = self->specs_head, *next; s; s = next) {
        next = s->next;
        assay_index_remove(self->specs, s->id);
        json_decref(s->spec);
        json_decref(s->jobs);
        free(s);
    }
    self->all_head = self->all_tail = NULL;
    self->specs_head = self->specs_tail = NULL;
    json_decref(self->leader);
    self->leader = NULL;
    size_t i;
    json_t *id;
    json_array_foreach(self->runtime_ids, i, id) {
        assay_runtime_rec *r =
            assay_index_remove(self->runtimes, json_string_value(id));
        if (r) {
            json_decref(r->info);
            free(r);
        }
    }
    json_array_clear(self->runtime_ids);
    memset(self->queue, 0, sizeof self->queue);
    self->top = -1;
    self->running = (s_list){0};
    assay_index_each(self->running_on, s_free_rt_list, NULL);
    assay_index_destroy(&self->running_on);
    self->running_on = assay_index_new();
}

void assay_state_destroy(assay_state **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_state *self = *self_p;
    if (self->jobs && self->specs && self->runtimes && self->runtime_ids &&
        self->running_on)
        s_clear(self);
    assay_index_each(self->running_on, s_free_rt_list, NULL);
    assay_index_destroy(&self->running_on);
    assay_index_destroy(&self->jobs);
    assay_index_destroy(&self->specs);
    assay_index_destroy(&self->runtimes);
    json_decref(self->runtime_ids);
    free(self);
    *self_p = NULL;
}

/* ---- Lists ------------------------------------------------------------- */

static void s_append(s_list *l, assay_job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

static void s_unlink(s_list *l, assay_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
}

/* Puts running job j on its runtime's list; false without memory. */
static bool s_rt_link(assay_state *self, assay_job *j)
{
    if (!self->running_on)
        return false;
    s_rt_list *l = assay_index_get(self->running_on, j->runtime);
    if (!l) {
        if (!(l = calloc(1, sizeof *l)) ||
            assay_index_put(self->running_on, j->runtime, l) != 0) {
            free(l);
            return false;
        }
    }
    j->rt_prev = NULL;
    j->rt_next = l->head;
    if (l->head)
        l->head->rt_prev = j;
    l->head = j;
    l->count++;
    return true;
}

static void s_rt_unlink(assay_state *self, assay_job *j)
{
    s_rt_list *l = self->running_on
                       ? assay_index_get(self->running_on, j->runtime)
                       : NULL;
    if (!l)
        return;
    if (j->rt_prev)
        j->rt_prev->rt_next = j->rt_next;
    else if (l->head == j)
        l->head = j->rt_next;
    else
        return; /* never linked (out of memory when it started) */
    if (j->rt_next)
        j->rt_next->rt_prev = j->rt_prev;
    j->rt_prev = j->rt_next = NULL;
    if (!--l->count)
        free(assay_index_remove(self->running_on, j->runtime));
}

assay_job *assay_state_running_on(const assay_state *self, const char *id,
                                  size_t *count)
{
    s_rt_list *l = id && self->running_on
                       ? assay_index_get(self->running_on, id)
                       : NULL;
    if (count)
        *count = l ? l->count : 0;
    return l ? l->head : NULL;
}

static int s_bucket(const assay_job *j)
{
    return (int)(j->spec->priority - PRIO_MIN);
}

static void s_enqueue(assay_state *self, assay_job *j)
{
    int b = s_bucket(j);
    s_append(&self->queue[b], j);
    if (b > self->top)
        self->top = b;
}

static void s_dequeue(assay_state *self, assay_job *j)
{
    s_unlink(&self->queue[s_bucket(j)], j);
    while (self->top >= 0 && !self->queue[self->top].head)
        self->top--;
}

/* Moves j out of whatever list its current state keeps it in. */
static void s_leave(assay_state *self, assay_job *j)
{
    if (j->state == ASSAY_JOB_QUEUED)
        s_dequeue(self, j);
    else if (j->state == ASSAY_JOB_RUNNING) {
        s_unlink(&self->running, j);
        s_rt_unlink(self, j);
    }
}

assay_job *assay_state_queue_first(const assay_state *self)
{
    return self->top >= 0 ? self->queue[self->top].head : NULL;
}

assay_job *assay_state_queue_next(const assay_state *self,
                                  const assay_job *job)
{
    if (job->next)
        return job->next;
    for (int b = s_bucket(job) - 1; b >= 0; b--)
        if (self->queue[b].head)
            return self->queue[b].head;
    return NULL;
}

assay_job *assay_state_running(const assay_state *self)
{
    return self->running.head;
}

assay_job *assay_state_jobs(const assay_state *self) { return self->all_head; }

assay_job *assay_state_job(const assay_state *self, const char *id)
{
    return id ? assay_index_get(self->jobs, id) : NULL;
}

assay_spec_rec *assay_state_spec(const assay_state *self, const char *id)
{
    return id ? assay_index_get(self->specs, id) : NULL;
}

assay_runtime_rec *assay_state_runtime(const assay_state *self,
                                       const char *id)
{
    return id ? assay_index_get(self->runtimes, id) : NULL;
}

const json_t *assay_state_runtime_ids(const assay_state *self)
{
    return self->runtime_ids;
}

/* ---- Events ------------------------------------------------------------ */

json_t *assay_job_json(const assay_job *j, bool with_result)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:O, s:s, s:I, s:I, s:s, s:s, s:O?, s:I}", "id", j->id,
        "spec", j->spec->id, "action", json_object_get(j->spec->spec, "action"),
        "state", assay_job_state_name(j->state), "attempt",
        (json_int_t)j->attempt, "max_attempts",
        (json_int_t)j->spec->max_attempts, "runtime", j->runtime, "version",
        j->version, "labels", json_object_get(j->spec->spec, "labels"),
        "priority", (json_int_t)j->spec->priority);
    if (o && j->reason)
        json_object_set_new(o, "reason", json_string(j->reason));
    if (o && j->state == ASSAY_JOB_QUEUED && j->waiting)
        json_object_set_new(o, "waiting", json_string(j->waiting));
    if (o && with_result && j->result)
        json_object_set(o, "result", j->result);
    return o;
}

void assay_state_set_wants(assay_state *self, assay_state_wants_fn wants)
{
    self->wants = wants;
}

/* Whether to build an event body for `topic`: only when someone wants it. */
static bool s_wanted(const assay_state *self, const char *topic)
{
    return !self->wants || self->wants(self->arg, topic);
}

static void s_job_event(assay_state *self, const char *topic, assay_job *j)
{
    if (!self->on_event)
        return;
    if (!s_wanted(self, topic)) {
        self->on_event(self->arg, topic, NULL);
        return;
    }
    /* Transitions on the way are frequent and small; the full record
     * (labels, result) goes with the end states only. */
    bool end = j->state != ASSAY_JOB_QUEUED && j->state != ASSAY_JOB_RUNNING;
    json_t *body = end ? assay_job_json(j, true)
                       : json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "id",
                                   j->id, "spec", j->spec->id, "state",
                                   assay_job_state_name(j->state), "attempt",
                                   (json_int_t)j->attempt, "runtime",
                                   j->runtime, "version", j->version);
    self->on_event(self->arg, topic, body);
    json_decref(body);
}

static void s_runtime_event(assay_state *self, assay_runtime_rec *r)
{
    if (!self->on_event)
        return;
    const char *topic = r->alive ? "runtime.alive" : "runtime.dead";
    json_t *body = s_wanted(self, topic)
                       ? json_pack("{s:s, s:b, s:I}", "id", r->id, "alive",
                                   r->alive, "heartbeat_ms",
                                   (json_int_t)r->heartbeat_ms)
                       : NULL;
    self->on_event(self->arg, topic, body);
    json_decref(body);
}

/* ---- Commands ---------------------------------------------------------- */

static const char *s_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t s_int(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int s_submit(assay_state *self, const json_t *cmd, json_t **result)
{
    const json_t *spec = json_object_get(cmd, "spec");
    const json_t *jobs = json_object_get(cmd, "jobs");
    const char *sid = s_str(spec, "id");
    if (!sid || strlen(sid) > 64 || !json_is_array(jobs) ||
        !json_array_size(jobs) || !s_str(spec, "action"))
        return ASSAY_EINVAL;
    int64_t prio = s_int(spec, "priority");
    if (prio < PRIO_MIN || prio > PRIO_MAX)
        return ASSAY_ERANGE;
    assay_spec_rec *old = assay_index_get(self->specs, sid);
    if (old) { /* idempotent: the first submission stands */
        if (result)
            *result = json_pack("{s:s, s:O, s:b}", "spec", sid, "jobs",
                                old->jobs, "duplicate", 1);
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
        const char *jid = s_str(jj, "id");
        if (!jid || strlen(jid) >= sizeof((assay_job *)0)->id ||
            assay_index_get(self->jobs, jid) ||
            (seen && (assay_index_get(seen, jid) ||
                      assay_index_put(seen, jid, (void *)jj) != 0))) {
            rc = ASSAY_EINVAL;
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
    s->jobs = json_array();
    s->timeout_ms = s_int(spec, "timeout_ms");
    s->max_attempts = s_int(spec, "max_attempts");
    s->priority = prio;
    if (s->max_attempts < 1)
        s->max_attempts = 1;
    assay_index_put(self->specs, sid, s);
    if (self->specs_tail)
        self->specs_tail->next = s;
    else
        self->specs_head = s;
    self->specs_tail = s;
    json_array_foreach(jobs, i, jj) {
        assay_job *j = calloc(1, sizeof *j);
        if (!j)
            return ASSAY_ENOMEM;
        strlcpy(j->id, s_str(jj, "id"), sizeof j->id);
        j->spec = s;
        json_t *params = json_object_get(jj, "params");
        j->params = json_is_object(params) ? json_incref(params)
                                           : json_object();
        j->state = ASSAY_JOB_QUEUED;
        j->seq = ++self->seq;
        assay_index_put(self->jobs, j->id, j);
        json_array_append_new(s->jobs, json_string(j->id));
        if (self->all_tail)
            self->all_tail->all_next = j;
        else
            self->all_head = j;
        self->all_tail = j;
        s_enqueue(self, j);
        s_job_event(self, "job.queued", j);
    }
    if (result)
        *result = json_pack("{s:s, s:O, s:b}", "spec", sid, "jobs", s->jobs,
                            "duplicate", 0);
    return 0;
}

/* Each item of a batch is fenced on its own; the result lists which
 * items applied ("applied": [bool...]). */
typedef int (*s_item_fn)(assay_state *self, const json_t *item);

static int s_batch(assay_state *self, const json_t *cmd, s_item_fn fn,
                   json_t **result)
{
    const json_t *items = json_object_get(cmd, "items");
    if (!json_is_array(items))
        return ASSAY_EINVAL;
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

static int s_dispatch(assay_state *self, const json_t *it)
{
    assay_job *j = assay_state_job(self, s_str(it, "job"));
    const char *rt = s_str(it, "runtime");
    if (!j || !rt || j->state != ASSAY_JOB_QUEUED ||
        s_int(it, "attempt") != j->attempt + 1)
        return ASSAY_ERANGE;
    s_leave(self, j);
    j->state = ASSAY_JOB_RUNNING;
    j->attempt++;
    j->dispatching = false;
    j->reported = false;
    j->lease_ms = 0;
    strlcpy(j->runtime, rt, sizeof j->runtime);
    strlcpy(j->version, s_str(it, "version") ? s_str(it, "version") : "",
            sizeof j->version);
    assay_job_note(&j->reason, NULL);
    s_append(&self->running, j);
    if (!s_rt_link(self, j))
        assay_warn("out of memory indexing %s on runtime %s", j->id, rt);
    s_job_event(self, "job.running", j);
    return 0;
}

static int s_result(assay_state *self, const json_t *it)
{
    assay_job *j = assay_state_job(self, s_str(it, "job"));
    json_t *res = json_object_get(it, "result");
    if (!j || j->state != ASSAY_JOB_RUNNING || !json_is_object(res) ||
        s_int(it, "attempt") != j->attempt)
        return ASSAY_ERANGE;
    s_leave(self, j);
    j->state = ASSAY_JOB_COMPLETED;
    json_decref(j->result);
    j->result = json_incref(res);
    s_job_event(self, "job.completed", j);
    return 0;
}

static int s_requeue(assay_state *self, const json_t *it)
{
    assay_job *j = assay_state_job(self, s_str(it, "job"));
    if (!j || j->state != ASSAY_JOB_RUNNING ||
        s_int(it, "attempt") != j->attempt)
        return ASSAY_ERANGE;
    s_leave(self, j);
    assay_job_note(&j->reason,
                   s_str(it, "reason") ? s_str(it, "reason") : "lost");
    if (j->attempt >= j->spec->max_attempts) {
        j->state = ASSAY_JOB_FAILED;
        s_job_event(self, "job.failed", j);
    } else {
        j->state = ASSAY_JOB_QUEUED;
        s_enqueue(self, j);
        s_job_event(self, "job.queued", j);
    }
    return 0;
}

static int s_cancel(assay_state *self, const json_t *cmd, json_t **result)
{
    const json_t *ids = json_object_get(cmd, "jobs");
    if (!json_is_array(ids))
        return ASSAY_EINVAL;
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
        s_leave(self, j);
        j->state = ASSAY_JOB_CANCELLED;
        assay_job_note(&j->reason, "cancelled");
        s_job_event(self, "job.cancelled", j);
    }
    if (result)
        *result = json_pack("{s:o}", "was", was);
    else
        json_decref(was);
    return 0;
}

static int s_runtime(assay_state *self, const json_t *cmd)
{
    const char *id = s_str(cmd, "id");
    int64_t hb = s_int(cmd, "heartbeat_ms");
    if (!id || !*id || strlen(id) > 63 || hb < 1)
        return ASSAY_EINVAL;
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
    r->heartbeat_ms = hb;
    r->alive = true;
    s_runtime_event(self, r);
    return 0;
}

/* A member took the lead: where clients and runtimes should now go. */
static int s_leader(assay_state *self, const json_t *cmd)
{
    const char *id = s_str(cmd, "id"), *ep = s_str(cmd, "endpoint"),
               *ev = s_str(cmd, "events");
    if (!id || !*id || strlen(id) > 63 || !ep || !*ep || strlen(ep) > 255 ||
        !ev || strlen(ev) > 255 || s_int(cmd, "member") < 0)
        return ASSAY_EINVAL;
    json_decref(self->leader);
    self->leader = json_pack("{s:s, s:s, s:s, s:I}", "id", id, "endpoint", ep,
                             "events", ev, "member",
                             (json_int_t)s_int(cmd, "member"));
    return self->leader ? 0 : ASSAY_ENOMEM;
}

void assay_state_reset_marks(assay_state *self)
{
    for (assay_job *j = self->all_head; j; j = j->all_next) {
        j->lease_ms = 0;
        j->dispatching = false;
        j->reported = false;
        assay_job_note(&j->waiting, NULL);
    }
}

const json_t *assay_state_leader(const assay_state *self)
{
    return self->leader;
}

static int s_runtime_state(assay_state *self, const json_t *cmd)
{
    assay_runtime_rec *r = assay_state_runtime(self, s_str(cmd, "id"));
    json_t *alive = json_object_get(cmd, "alive");
    if (!r || !json_is_boolean(alive))
        return ASSAY_EINVAL;
    if (r->alive == json_is_true(alive))
        return ASSAY_ERANGE;
    r->alive = json_is_true(alive);
    s_runtime_event(self, r);
    return 0;
}

int assay_state_apply(assay_state *self, const json_t *cmd, json_t **result)
{
    if (result)
        *result = NULL;
    const char *op = s_str(cmd, "op");
    if (!op || s_int(cmd, "v") != ASSAY_STATE_VERSION)
        return ASSAY_EINVAL;
    if (!strcmp(op, "submit"))
        return s_submit(self, cmd, result);
    if (!strcmp(op, "dispatch"))
        return s_batch(self, cmd, s_dispatch, result);
    if (!strcmp(op, "result"))
        return s_batch(self, cmd, s_result, result);
    if (!strcmp(op, "requeue"))
        return s_batch(self, cmd, s_requeue, result);
    if (!strcmp(op, "cancel"))
        return s_cancel(self, cmd, result);
    if (!strcmp(op, "runtime"))
        return s_runtime(self, cmd);
    if (!strcmp(op, "runtime_state"))
        return s_runtime_state(self, cmd);
    if (!strcmp(op, "leader"))
        return s_leader(self, cmd);
    return ASSAY_EINVAL;
}

/* ---- Snapshots --------------------------------------------------------- */

json_t *assay_state_dump(const assay_state *self)
{
    json_t *specs = json_array(), *jobs = json_array(), *rts = json_array();
    for (const assay_spec_rec *s = self->specs_head; s; s = s->next)
        json_array_append(specs, s->spec);
    for (const assay_job *j = self->all_head; j; j = j->all_next) {
        json_t *o = assay_job_json(j, true);
        json_object_del(o, "waiting"); /* the leader's note, not state */
        json_object_set(o, "params", j->params);
        json_array_append_new(jobs, o);
    }
    size_t i;
    json_t *id;
    json_array_foreach(self->runtime_ids, i, id) {
        assay_runtime_rec *r = assay_index_get(self->runtimes,
                                               json_string_value(id));
        json_t *o = json_deep_copy(r->info);
        json_object_set_new(o, "alive", json_boolean(r->alive));
        json_array_append_new(rts, o);
    }
    json_t *dump = json_pack("{s:i, s:o, s:o, s:o}", "v", ASSAY_STATE_VERSION,
                             "specs", specs, "jobs", jobs, "runtimes", rts);
    if (dump && self->leader)
        json_object_set(dump, "leader", self->leader);
    return dump;
}

int assay_state_load(assay_state *self, const json_t *dump)
{
    if (s_int(dump, "v") != ASSAY_STATE_VERSION)
        return ASSAY_EINVAL;
    assay_state_event_fn ev = self->on_event;
    self->on_event = NULL; /* restoring is not news */
    s_clear(self);
    int rc = 0;
    size_t i;
    json_t *spec;
    json_t *jobs = json_object_get(dump, "jobs");
    /* Each JobSpec's jobs, in dump order, gathered in one pass: restore is
     * linear (a scan of every job per JobSpec took minutes at 200,000). */
    json_t *by_spec = json_object(), *j;
    json_array_foreach(jobs, i, j) {
        const char *sid = s_str(j, "spec");
        json_t *list = json_object_get(by_spec, sid ? sid : "");
        if (!list) {
            list = json_array();
            json_object_set_new(by_spec, sid ? sid : "", list);
        }
        json_array_append_new(list,
                              json_pack("{s:s, s:O}", "id", s_str(j, "id"),
                                        "params",
                                        json_object_get(j, "params")));
    }
    json_array_foreach(json_object_get(dump, "specs"), i, spec) {
        const char *sid = s_str(spec, "id");
        json_t *list = json_object_get(by_spec, sid ? sid : "");
        json_t *cmd = json_pack("{s:i, s:s, s:O, s:o}", "v",
                                ASSAY_STATE_VERSION, "op", "submit", "spec",
                                spec, "jobs",
                                list ? json_incref(list) : json_array());
        if (!rc)
            rc = s_submit(self, cmd, NULL);
        json_decref(cmd);
    }
    json_decref(by_spec);
    /* Submission left every job queued; put each where the dump had it. */
    json_array_foreach(jobs, i, j) {
        assay_job *job = assay_state_job(self, s_str(j, "id"));
        int st = assay_job_state_parse(s_str(j, "state"));
        if (!job || st < 0) {
            rc = rc ? rc : ASSAY_EINVAL;
            continue;
        }
        s_leave(self, job);
        job->state = st;
        job->attempt = s_int(j, "attempt");
        strlcpy(job->runtime, s_str(j, "runtime") ? s_str(j, "runtime") : "",
                sizeof job->runtime);
        strlcpy(job->version, s_str(j, "version") ? s_str(j, "version") : "",
                sizeof job->version);
        assay_job_note(&job->reason, s_str(j, "reason"));
        job->result = json_incref(json_object_get(j, "result"));
        if (st == ASSAY_JOB_QUEUED)
            s_enqueue(self, job);
        else if (st == ASSAY_JOB_RUNNING) {
            s_append(&self->running, job);
            if (!s_rt_link(self, job))
                rc = ASSAY_ENOMEM;
        }
    }
    json_t *r;
    json_array_foreach(json_object_get(dump, "runtimes"), i, r) {
        json_t *cmd = json_deep_copy(r);
        json_object_del(cmd, "alive");
        if (!rc)
            rc = s_runtime(self, cmd);
        assay_runtime_rec *rec = assay_state_runtime(self, s_str(r, "id"));
        if (rec)
            rec->alive = json_is_true(json_object_get(r, "alive"));
        json_decref(cmd);
    }
    json_t *lead = json_object_get(dump, "leader");
    if (lead && !rc) {
        json_t *cmd = json_deep_copy(lead);
        json_object_set_new(cmd, "op", json_string("leader"));
        json_object_set_new(cmd, "v", json_integer(ASSAY_STATE_VERSION));
        rc = s_leader(self, cmd);
        json_decref(cmd);
    }
    self->on_event = ev;
    return rc;
}
