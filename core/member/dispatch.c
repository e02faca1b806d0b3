/* core/member/dispatch.c - the dispatcher: each loop turn, queued jobs go
 * to live runtimes with credit that offer their version and match their
 * selector and memory, highest priority first, the runtime with most
 * credit winning; "waiting" notes say why a job cannot go anywhere. */
#include "member/internal.h"

/* The plugin version runtime rec would run job j with, "" if it cannot. */
static const char *s_choose_now(const assay_job *j,
                                const assay_runtime_rec *rec)
{
    const assay_spec_rec *spec = j->spec;
    char name[64];
    const char *action;
    const char *version = "";
    assay_semver_range *range = NULL;
    char want[80];
    snprintf(want, sizeof want, "=%s", spec->resolved);
    if (assay_action_ref_split(spec->action, name, sizeof name, &action) &&
        mb_labels_match(spec->selector, json_object_get(rec->info, "labels")) &&
        !assay_semver_range_parse(want, &range, NULL, 0)) {
        assay_semver v;
        const json_t *p = mb_pick(json_object_get(rec->info, "catalog"), name,
                                  action, range, &v);
        if (p)
            version = mb_str(p, "version");
    }
    assay_semver_range_destroy(&range);
    return version ? version : "";
}

/* The offer class of j's JobSpec: the jobs of JobSpecs alike in action,
 * resolved version and selector can run on the same runtimes, with the
 * same version. Written into buf when it fits (no selector, usually),
 * else into a heap string the caller frees: compare the result to buf. */
static char *s_class_key(const assay_job *j, char *buf, size_t cap)
{
    const json_t *sel = j->spec->selector;
    char *dump = json_object_size(sel)
                     ? json_dumps(sel, JSON_COMPACT | JSON_SORT_KEYS)
                     : NULL;
    const char *a = j->spec->action, *v = j->spec->resolved;
    size_t len = strlen(a) + strlen(v) + (dump ? strlen(dump) : 0) + 3;
    char *key = len <= cap ? buf : malloc(len);
    if (key)
        snprintf(key, len, "%s\n%s\n%s", a, v, dump ? dump : "");
    free(dump);
    return key;
}

/* The remembered choices for j's offer class, made empty on first use;
 * NULL when they cannot be remembered. */
static s_choices *s_choices_for(assay_leader *self, const assay_job *j)
{
    if (!self->choice)
        return NULL;
    char buf[256];
    char *key = s_class_key(j, buf, sizeof buf);
    s_choices *c = key ? assay_index_get(self->choice, key) : NULL;
    if (key && !c && (c = calloc(1, sizeof *c)) &&
        assay_index_put(self->choice, key, c) != 0) {
        free(c);
        c = NULL;
    }
    if (key != buf)
        free(key);
    return c;
}

/* s_choose_now, worked out once per offer class and runtime (c may be
 * NULL: then every time). */
static const char *s_choose(assay_leader *self, s_choices *c,
                            const assay_job *j, const assay_runtime_rec *rec)
{
    if (!c)
        return s_choose_now(j, rec);
    if (rec->pos >= c->n) {
        size_t n = json_array_size(assay_state_runtime_ids(self->state));
        n = n > rec->pos ? n : rec->pos + 1;
        const char **v = reallocarray(c->v, n, sizeof *v);
        if (!v)
            return s_choose_now(j, rec);
        memset(v + c->n, 0, (n - c->n) * sizeof *v);
        c->v = v;
        c->n = n;
    }
    if (!c->v[rec->pos])
        c->v[rec->pos] = s_choose_now(j, rec);
    return c->v[rec->pos];
}

static void s_dispatched(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    json_t *applied = json_object_get(result, "applied");
    for (size_t i = 0; i < p->batch.n; i++) {
        const s_item *it = &p->batch.items[i];
        assay_job *j = assay_state_job(self->state, it->job);
        s_rt *r = assay_index_get(self->rts, it->runtime);
        if (status || !json_is_true(json_array_get(applied, i))) {
            if (j)
                j->dispatching = false;
            if (r && r->sent)
                r->sent--;
            self->dirty = true;
            continue;
        }
        j->lease_ms = assay_now_ms() + j->spec->timeout_ms +
                      self->conf->lease_grace_ms;
        if (!r)
            continue; /* gone since: the lease takes the job back */
        mb_queue_dispatch(self, r, j);
    }
    json_decref(result);
    mb_pending_free(p);
}

/* Whether some live runtime offers what j's offer class (c) needs. */
static bool s_any_live(assay_leader *self, s_choices *c, const assay_job *j)
{
    assay_runtime_rec *rec;
    for (size_t i = 0; (rec = assay_state_runtime_at(self->state, i)); i++) {
        if (rec->alive && *s_choose(self, c, j, rec))
            return true;
    }
    return false;
}

/* Says why a job no runtime took is waiting, when no live runtime could
 * take it even with credit (shown by assay.job / assay.jobs); waiting
 * only for credit is not worth a note. */
static void s_note_waiting(assay_job *j, bool any_live)
{
    if (any_live) {
        assay_job_note(&j->waiting, NULL);
        return;
    }
    char note[160];
    snprintf(note, sizeof note,
             "no live runtime offers %s %s with the labels it selects",
             j->spec->action, j->spec->resolved);
    assay_job_note(&j->waiting, note);
}

/* Plans dispatches for the queued jobs over the runtimes that may take
 * work now (`ready`, `recs`: arrays with room for every runtime). */
static void s_plan(assay_leader *self, s_rt **ready,
                   assay_runtime_rec **recs)
{
    /* Credit changes with every result: most plans find nothing queued,
     * and with 1,000 runtimes, looking at them all first was the cost. */
    if (!assay_state_queue_first(self->state))
        return;
    int n = 0;
    for (s_rt *r = self->rt_list; r; r = r->next) {
        assay_runtime_rec *rec = r->sent < r->limit ? mb_rt_rec(self, r) : NULL;
        if (rec && rec->alive) {
            ready[n] = r;
            recs[n++] = rec;
        }
    }
    if (!n)
        return;
    uint64_t credit = 0;
    int64_t now = assay_wall_ms(); /* recorded: the wall clock */
    for (int k = 0; k < n; k++)
        credit += ready[k]->limit - ready[k]->sent;
    s_pending *p = mb_pending_new(self, NULL, "dispatch", NULL);
    if (!p) {
        self->dirty = true; /* try again next turn */
        return;
    }
    /* Queued jobs come in runs of one JobSpec: its offer class is looked
     * up once per run. */
    s_choices *choices = NULL;
    const assay_spec_rec *choices_for = NULL;
    int any_live = -1; /* for choices_for, once asked: every runtime */
    int scanned = 0;
    for (assay_job *j = assay_state_queue_first(self->state);
         j && credit && scanned < MAX_QUEUE_SCAN &&
         p->batch.n < MAX_DISPATCH_BATCH;
         j = assay_state_queue_next(self->state, j), scanned++) {
        if (j->dispatching)
            continue;
        if (j->spec != choices_for) {
            choices = s_choices_for(self, j);
            choices_for = j->spec;
            any_live = -1;
        }
        int best = -1;
        const char *version = NULL;
        int64_t mem = j->spec->memory_mb;
        for (int k = 0; k < n; k++) {
            s_rt *r = ready[k];
            if (r->sent >= r->limit || (mem && r->mem_available_mb < mem))
                continue;
            const char *v = s_choose(self, choices, j, recs[k]);
            if (!*v)
                continue;
            /* Most credit left wins: spreads work across runtimes. */
            if (best < 0 || r->limit - r->sent >
                                ready[best]->limit - ready[best]->sent) {
                best = k;
                version = v;
            }
        }
        if (best < 0) {
            if (any_live < 0)
                any_live = s_any_live(self, choices, j);
            s_note_waiting(j, any_live);
            continue;
        }
        assay_job_note(&j->waiting, NULL);
        ready[best]->sent++;
        credit--;
        j->dispatching = true;
        if (!mb_batch_add(&p->batch, j->id, j->attempt + 1, ready[best]->id)) {
            j->dispatching = false;
            ready[best]->sent--;
            break;
        }
        /* Without memory the command is refused, and s_dispatched
         * hands the whole batch back. */
        if (assay_cmd_list_dispatch(p->batch.list, j->id, j->attempt + 1,
                                    ready[best]->id, version, now))
            break;
    }
    if (!p->batch.n) {
        mb_pending_free(p);
        return;
    }
    if (p->batch.n == MAX_DISPATCH_BATCH)
        self->dirty = true; /* more may fit: plan again next turn */
    if (mb_commit(self, assay_cmd_batch("dispatch", &p->batch.list),
                  s_dispatched, p) != 0) {
        assay_warn("cannot commit dispatches");
        s_dispatched(p, ASSAY_EIO, NULL);
    }
}

static void s_schedule(assay_leader *self)
{
    self->dirty = false;
    size_t nrt = json_array_size(assay_state_runtime_ids(self->state));
    s_rt **ready = calloc(nrt ? nrt : 1, sizeof *ready);
    assay_runtime_rec **recs = calloc(nrt ? nrt : 1, sizeof *recs);
    if (ready && recs)
        s_plan(self, ready, recs);
    else
        self->dirty = true; /* try again next turn */
    free(ready);
    free(recs);
}

/* Acknowledges each reported result or lost attempt once its command is
 * applied; one the state refused (cancelled meanwhile) is acked stale.
 * Without an ack the runtime keeps the report and sends it again when it
 * next registers; the lease covers the job meanwhile. */
static void s_reports_committed(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    json_t *applied = json_object_get(result, "applied");
    for (size_t i = 0; i < p->batch.n; i++) {
        const s_item *it = &p->batch.items[i];
        s_rt *r = *it->runtime ? assay_index_get(self->rts, it->runtime)
                               : NULL;
        if (!r || status)
            continue;
        mb_queue_ack(self, r, it->job, it->attempt,
                     !json_is_true(json_array_get(applied, i)));
    }
    json_decref(result);
    mb_pending_free(p);
}

static void s_flush_one(assay_leader *self, s_batch *batch, const char *op)
{
    if (!batch->n)
        return;
    s_pending *p = mb_pending_new(self, NULL, op, NULL);
    if (!p) {
        assay_warn("cannot commit %s", op);
        mb_batch_clear(batch);
        return;
    }
    p->batch = *batch;
    *batch = (s_batch){0};
    if (mb_commit(self, assay_cmd_batch(op, &p->batch.list),
                  s_reports_committed, p) != 0) {
        assay_warn("cannot commit %s", op);
        mb_pending_free(p);
    }
}

/* Commits what the last messages and timers collected, in two commands. */
static void s_flush(assay_leader *self)
{
    s_flush_one(self, &self->results, "result");
    s_flush_one(self, &self->requeues, "requeue");
}

/* Before every poll: commit what was collected, plan dispatches if
 * anything changed, send, then drain the transport (ZMQ_FD is
 * edge-triggered and sends can swallow its edge). */
int mb_prepare(void *arg, struct pollfd *pfd, int max, int64_t *deadline_ms)
{
    (void)pfd;
    (void)max;
    assay_leader *self = arg;
    mb_role(self);
    /* Commit, apply, plan, apply: a submit becomes a dispatch in one loop
     * turn where the consensus module applies at once (none), instead of
     * one turn per command through its fd, each turn with its syscalls.
     * Bounded: a module that applies later (raft) ends it at once. */
    for (int k = 0; k < 3 && self->leading; k++) {
        s_flush(self);
        if (self->dirty)
            s_schedule(self);
        if (!self->committed)
            break;
        self->committed = false;
        S_COP(self, process, self->cons);
        mb_role(self);
    }
    if (self->leading) {
        for (s_rt *r = self->out_list; r; r = r->out_next) {
            mb_flush_rt(self, r, false);
            r->out_listed = false;
        }
        self->out_list = NULL;
    }
    /* Last, after every send: a send on a ZeroMQ socket can take the
     * wake-up of a message that arrived meanwhile, so what is waiting is
     * read now, and if anything was, the loop comes straight back. */
    if (mb_drain(self) > 0 || self->more || (self->leading && self->dirty))
        *deadline_ms = 0;
    return 0;
}
