/* core/member/dispatch.c - the dispatcher: each loop turn, the jobs at the
 * heads of the placement classes go to live runtimes with credit that
 * offer their version, match their selector and have the memory and CPUs
 * they ask for (reserved until results come): highest priority first,
 * then longest waited counting predicted durations; the runtime with most
 * credit left (or, to pack, least) takes a run of them. A class no live
 * runtime can take is parked with a "waiting" note saying why. */
#include "member/internal.h"

static void s_dispatched(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    json_t *applied = json_object_get(result, "applied");
    for (size_t i = 0; i < p->batch.n; i++) {
        const s_item *it = &p->batch.items[i];
        assay_job *j = assay_state_job(self->state, it->job);
        s_rt *r = assay_index_get(self->rts, it->runtime);
        if (r && j) { /* reserved by the state from now on, if applied */
            r->inflight_mb = r->inflight_mb > j->spec->memory_mb
                                 ? r->inflight_mb - j->spec->memory_mb
                                 : 0;
            r->inflight_cpu_milli =
                r->inflight_cpu_milli > j->spec->cpu_milli
                    ? r->inflight_cpu_milli - j->spec->cpu_milli
                    : 0;
        }
        if (status || !json_is_true(json_array_get(applied, i))) {
            if (j && j->dispatching) {
                j->dispatching = false;
                /* No longer a run of taken jobs at its class's head. */
                if (j->state == ASSAY_JOB_QUEUED)
                    j->spec->placement->taken = NULL;
            }
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

/* Whether a job of class c fits r now. Memory: what r last reported
 * free, and its total less what is reserved for the jobs it runs and is
 * being sent (the monitor's figure lags behind what was just placed).
 * CPUs: its count less what is reserved likewise. */
static bool s_fits(assay_leader *self, const s_rt *r, const assay_class *c)
{
    int64_t mem = c->memory_mb, cpu = c->cpu_milli;
    if (mem && (r->mem_available_mb < mem ||
                (r->mem_total_mb &&
                 assay_state_reserved_mb(self->state, r->id) +
                         r->inflight_mb + mem >
                     r->mem_total_mb)))
        return false;
    return !cpu || !r->cpu_total_milli ||
           assay_state_reserved_cpu(self->state, r->id) +
                   r->inflight_cpu_milli + cpu <=
               r->cpu_total_milli;
}

/* Parks class c when no live runtime could take its jobs even with credit
 * (nothing looks at it again until what runtimes offer changes), saying
 * why; else notes nothing (waiting for credit or memory is not worth a
 * note). Called only when no runtime with credit took its head. */
static void s_park_or_wait(assay_leader *self, assay_class *c)
{
    bool offered = false;
    int64_t most = 0, most_cpu = 0;
    bool mem_short = false;
    size_t n;
    const size_t *offering = mb_offering(self, c, &n);
    if (!offering)
        return; /* without memory to tell: planned again next time */
    for (size_t i = 0; i < n; i++) {
        const assay_runtime_rec *rec =
            assay_state_runtime_at(self->state, offering[i]);
        if (!rec || !rec->alive)
            continue;
        offered = true;
        mb_capacity cap =
            mb_capacity_read(json_object_get(rec->info, "capacity"));
        int64_t total = cap.memory_mb, cpus = cap.cpu_milli;
        bool mem_ok = !c->memory_mb || !total || total >= c->memory_mb,
             cpu_ok = !c->cpu_milli || !cpus || cpus >= c->cpu_milli;
        if (mem_ok && cpu_ok) {
            assay_state_park(self->state, c, false, NULL);
            return;
        }
        mem_short = mem_short || !mem_ok;
        most = total > most ? total : most;
        most_cpu = cpus > most_cpu ? cpus : most_cpu;
    }
    char note[200];
    if (offered && mem_short)
        snprintf(note, sizeof note,
                 "needs %lld MB of memory; the live runtimes that offer %s "
                 "%s have at most %lld MB",
                 (long long)c->memory_mb, c->action, c->resolved,
                 (long long)most);
    else if (offered)
        snprintf(note, sizeof note,
                 "needs %.3g CPUs; the live runtimes that offer %s %s have "
                 "at most %.3g",
                 (double)c->cpu_milli / 1000, c->action, c->resolved,
                 (double)most_cpu / 1000);
    else
        snprintf(note, sizeof note,
                 "no live runtime offers %s %s with the labels it selects",
                 c->action, c->resolved);
    assay_state_park(self->state, c, true, note);
}

/* A placement class as one plan sees it: the job it would place next,
 * and, once built, the runtimes that offer it with credit, as a heap by
 * credit left (keys only fall within a plan: stale ones are fixed when
 * they come to the top). */
typedef struct {
    int k;        /* into the plan's ready runtimes */
    uint64_t key; /* its credit left when pushed */
} s_slot;

typedef struct {
    assay_class *c;
    assay_job *next;
    int64_t order; /* when next became next, less its predicted duration */
    s_slot *slots; /* the ready runtimes that offer it */
    int *rts;      /* a heap of indexes into slots */
    int n;
    int run;       /* jobs the top runtime takes before the next choice */
    bool built;
} s_cand;

typedef struct {
    assay_leader *self;
    s_rt **ready;
    assay_runtime_rec **recs;
    int n_ready;
    int *ready_at; /* by registry position: index into ready, or -1 */
    s_cand *cands;
    int *heap; /* candidates, best first (s_cand_before) */
    int n_heap;
    /* The last estimate looked up: classes of one action come together. */
    const char *est_for;
    const assay_estimate *est;
} s_plan_ctx;

static uint64_t s_left(const s_rt *r)
{
    return r->limit > r->sent ? r->limit - r->sent : 0;
}

/* The next job of c no dispatch in flight holds: those are at its head,
 * up to c->taken (after a refused dispatch, anywhere: looked past). */
static assay_job *s_next_of(const assay_class *c)
{
    assay_job *j = c->taken ? c->taken->next : c->jobs.head;
    while (j && j->dispatching)
        j = j->next;
    return j;
}

/* Within a priority, the next job that has waited longest goes first,
 * counting PREDICT_WEIGHT times its predicted duration, at most
 * PREDICT_LEAD_MS, as time already waited: in a burst the longest
 * predicted jobs start first, which shortens the makespan (LPT, within
 * 4/3 of the best), while no job waits more than PREDICT_LEAD_MS longer
 * than first come, first served would make it. The weight keeps a burst
 * as long as ten times its longest job in LPT order: with the plain
 * duration, a 3 s job waiting since the burst began overtook the 10 s
 * ones after 7 s, and the last of those ended late. */
#define PREDICT_WEIGHT 10
#define PREDICT_LEAD_MS 60000

static bool s_cand_before(const void *arg, int a, int b)
{
    const s_plan_ctx *x = arg;
    const s_cand *p = &x->cands[a], *q = &x->cands[b];
    if (p->c->priority != q->c->priority)
        return p->c->priority > q->c->priority;
    if (p->order != q->order)
        return p->order < q->order;
    return p->next->seq < q->next->seq;
}

/* Sets cand's next job (NULL: none) and its order key. */
static void s_set_next(s_plan_ctx *x, s_cand *cand, int64_t now)
{
    assay_class *c = cand->c;
    if (!(cand->next = s_next_of(c)))
        return;
    if (c->stamped != cand->next) {
        c->stamped = cand->next;
        c->stamped_ms = now;
    }
    const assay_estimate *e = x->est_for == c->action
                                  ? x->est
                                  : assay_state_estimate(x->self->state,
                                                         c->action);
    x->est_for = c->action;
    x->est = e;
    int64_t lead = e ? e->mean_us / 1000 * PREDICT_WEIGHT : 0;
    cand->order = c->stamped_ms - (lead < PREDICT_LEAD_MS ? lead
                                                        : PREDICT_LEAD_MS);
}

/* Restores a binary heap of ints ordered by `before` after h[i] became
 * worse (its key grew, or the last entry took its place). */
static void s_sift(int *h, int n, int i,
                   bool (*before)(const void *, int, int), const void *arg)
{
    for (;;) {
        int best = i, l = 2 * i + 1, r = l + 1;
        if (l < n && before(arg, h[l], h[best]))
            best = l;
        if (r < n && before(arg, h[r], h[best]))
            best = r;
        if (best == i)
            return;
        int t = h[i];
        h[i] = h[best];
        h[best] = t;
        i = best;
    }
}

/* The most jobs of a class one choice of runtime takes in a row. */
#define RUN_MAX 64

/* Runtime heap order: more credit left first (spread). */
static bool s_rt_before(const void *arg, int a, int b)
{
    const s_cand *cand = arg;
    /* placement "pack": the fullest runtime that still has credit. */
    if (cand->c->pack)
        return cand->slots[a].key < cand->slots[b].key;
    return cand->slots[a].key > cand->slots[b].key;
}

/* Fills cand's runtimes: the ready ones among those that offer its class
 * (what a runtime offers is remembered per class, so a class costs the
 * runtimes that offer it, not every runtime); false without memory. */
static bool s_build(s_plan_ctx *x, s_cand *cand)
{
    size_t n;
    const size_t *offering = mb_offering(x->self, cand->c, &n);
    cand->built = true;
    if (!offering)
        return false;
    cand->slots = calloc(n ? n : 1, sizeof *cand->slots);
    cand->rts = calloc(n ? n : 1, sizeof *cand->rts);
    if (!cand->slots || !cand->rts)
        return false;
    for (size_t i = 0; i < n; i++) {
        int k = x->ready_at[offering[i]];
        if (k < 0)
            continue;
        cand->slots[cand->n] = (s_slot){k, s_left(x->ready[k])};
        cand->rts[cand->n] = cand->n;
        cand->n++;
    }
    for (int i = cand->n / 2 - 1; i >= 0; i--)
        s_sift(cand->rts, cand->n, i, s_rt_before, cand);
    return true;
}

/* Frees what s_build made, once cand leaves the plan. */
static void s_unbuild(s_cand *cand)
{
    free(cand->slots);
    free(cand->rts);
    cand->slots = NULL;
    cand->rts = NULL;
    cand->n = 0;
}

/* The runtime with most credit left that takes cand's next job now (its
 * slot is at the top of cand's heap), or -1. Runtimes out of credit or
 * memory for this class leave its heap. */
static int s_take_runtime(s_plan_ctx *x, s_cand *cand)
{
    const assay_class *c = cand->c;
    while (cand->n) {
        s_slot *top = &cand->slots[cand->rts[0]];
        s_rt *r = x->ready[top->k];
        uint64_t left = s_left(r);
        if (cand->run > 0 && left && s_fits(x->self, r, c))
            return top->k; /* a run of jobs to the one just chosen */
        cand->run = 0;
        if (left && left == top->key && s_fits(x->self, r, c)) {
            /* As many as it runs at once go together, in one message:
             * they start as soon as if spread, and spreading one job
             * per runtime was a message per job (with 1,000 runtimes,
             * 7.8k jobs/s against 23k with a few). */
            cand->run = (int)(r->executors < RUN_MAX && !c->pack
                                  ? r->executors
                                  : RUN_MAX);
            return top->k;
        }
        if (left && left != top->key) { /* spent on another class */
            top->key = left;
            s_sift(cand->rts, cand->n, 0, s_rt_before, cand);
            continue;
        }
        cand->rts[0] = cand->rts[--cand->n];
        s_sift(cand->rts, cand->n, 0, s_rt_before, cand);
    }
    return -1;
}

/* cand leaves the plan's heap of classes. */
static void s_drop(s_plan_ctx *x, s_cand *cand)
{
    s_unbuild(cand);
    x->heap[0] = x->heap[--x->n_heap];
    s_sift(x->heap, x->n_heap, 0, s_cand_before, x);
}

/* Plans dispatches for the queued jobs over the runtimes that may take
 * work now (`ready`, `recs`: arrays with room for every runtime): the
 * heads of the placement classes that are not parked, highest priority
 * and oldest first, each to the runtime with most credit left that takes
 * it. A class whose head finds no runtime waits out this plan (its jobs
 * all need the same), or is parked. */
static void s_plan(assay_leader *self, s_rt **ready,
                   assay_runtime_rec **recs, int *ready_at, size_t nrt)
{
    /* Credit changes with every result: most plans find nothing queued,
     * and with 1,000 runtimes, looking at them all first was the cost. */
    if (!assay_state_classes(self->state))
        return;
    int n = 0;
    for (size_t i = 0; i < nrt; i++)
        ready_at[i] = -1;
    for (s_rt *r = self->rt_list; r; r = r->next) {
        assay_runtime_rec *rec = r->sent < r->limit ? mb_rt_rec(self, r) : NULL;
        if (rec && rec->alive && rec->pos < nrt) {
            ready_at[rec->pos] = n;
            ready[n] = r;
            recs[n++] = rec;
        }
    }
    if (!n)
        return;
    uint64_t credit = 0;
    int64_t now = assay_wall_ms(); /* recorded: the wall clock */
    for (int k = 0; k < n; k++)
        credit += s_left(ready[k]);
    int nc = 0;
    for (assay_class *c = assay_state_classes(self->state); c; c = c->next)
        nc++;
    s_plan_ctx x = {.self = self,
                    .ready = ready,
                    .recs = recs,
                    .n_ready = n,
                    .ready_at = ready_at};
    x.cands = calloc((size_t)nc, sizeof *x.cands);
    x.heap = calloc((size_t)nc, sizeof *x.heap);
    s_pending *p = mb_pending_new(self, NULL, "dispatch", NULL);
    if (!x.cands || !x.heap || !p) {
        self->dirty = true; /* try again next turn */
        goto done;
    }
    int64_t mono = assay_now_ms();
    for (assay_class *c = assay_state_classes(self->state); c; c = c->next) {
        s_cand *cand = &x.cands[x.n_heap];
        *cand = (s_cand){.c = c};
        s_set_next(&x, cand, mono);
        if (!cand->next)
            continue; /* all of it on its way */
        x.heap[x.n_heap] = x.n_heap;
        x.n_heap++;
    }
    for (int i = x.n_heap / 2 - 1; i >= 0; i--)
        s_sift(x.heap, x.n_heap, i, s_cand_before, &x);
    while (x.n_heap && credit && p->batch.n < MAX_DISPATCH_BATCH) {
        s_cand *cand = &x.cands[x.heap[0]];
        if (!cand->built && !s_build(&x, cand)) {
            self->dirty = true;
            break;
        }
        int best = s_take_runtime(&x, cand);
        if (best < 0) {
            s_park_or_wait(self, cand->c);
            s_drop(&x, cand);
            continue;
        }
        assay_job *j = cand->next;
        assay_class *c = cand->c;
        s_rt *r = ready[best];
        const char *version = mb_offer(self, c, recs[best]);
        if (c->waiting)
            assay_state_park(self->state, c, false, NULL);
        r->sent++;
        r->inflight_mb += c->memory_mb;
        r->inflight_cpu_milli += c->cpu_milli;
        credit--;
        j->dispatching = true;
        c->taken = j;
        if (!mb_batch_add(&p->batch, j->id, j->attempt + 1, r->id)) {
            j->dispatching = false;
            c->taken = NULL;
            r->sent--;
            r->inflight_mb -= c->memory_mb;
            r->inflight_cpu_milli -= c->cpu_milli;
            break;
        }
        /* Without memory the command is refused, and s_dispatched
         * hands the whole batch back. */
        if (assay_cmd_list_dispatch(p->batch.list, j->id, j->attempt + 1,
                                    r->id, version, now))
            break;
        if (--cand->run <= 0) {
            cand->slots[cand->rts[0]].key = s_left(r);
            s_sift(cand->rts, cand->n, 0, s_rt_before, cand);
        }
        s_set_next(&x, cand, mono);
        if (cand->next)
            s_sift(x.heap, x.n_heap, 0, s_cand_before, &x);
        else
            s_drop(&x, cand);
    }
done:
    for (int i = 0; x.cands && i < nc; i++)
        s_unbuild(&x.cands[i]);
    free(x.cands);
    free(x.heap);
    if (!p)
        return;
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
    int *ready_at = calloc(nrt ? nrt : 1, sizeof *ready_at);
    if (ready && recs && ready_at)
        s_plan(self, ready, recs, ready_at, nrt);
    else
        self->dirty = true; /* try again next turn */
    free(ready);
    free(recs);
    free(ready_at);
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
        if (status)
            continue;
        /* What it held is no longer reserved: worth planning again. */
        const assay_job *j = assay_state_job(self->state, it->job);
        if (j && (j->spec->memory_mb || j->spec->cpu_milli))
            self->dirty = true;
        if (!r)
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
        /* Running jobs cancelled (assay.cancel, a schedule's
         * cancel_other): their runtimes stop them. */
        assay_state_cancelled_drain(self->state, mb_stop_on_runtime, self);
        /* Those left with acks to send (waiting for a dispatch to ride
         * on) stay listed: the tick sends them. */
        s_rt **pp = &self->out_list;
        for (s_rt *r = *pp; r; r = *pp) {
            mb_flush_rt(self, r, false);
            if (r->n_acks) {
                pp = &r->out_next;
                continue;
            }
            r->out_listed = false;
            *pp = r->out_next;
        }
    }
    /* Last, after every send: a send on a ZeroMQ socket can take the
     * wake-up of a message that arrived meanwhile, so what is waiting is
     * read now, and if anything was, the loop comes straight back. */
    if (mb_drain(self) > 0 || self->more ||
        (self->leading && (self->dirty || self->requeues.n)))
        *deadline_ms = 0;
    return 0;
}
