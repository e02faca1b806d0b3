/* core/member/schedules.c - the leader's side of schedules: when each is
 * next due, and the "fire" commands that decide each fire once
 * (core/state/schedule.c applies them; docs/schedules.md).
 *
 * The leader keeps, per schedule, its definition compiled (cron
 * expressions, time zone) and its next event, in a min-heap by when it is
 * due (its nominal time plus its jitter). A tick pops what is due, builds
 * each fire's JobSpec from the template as assay.submit would (a template
 * that no longer resolves is recorded as a failed fire, never a silent
 * one) and commits the fires in one command. What was due while no
 * leader led and is older than the schedule's catch-up window is
 * committed as one "missed" record. The state tells which schedules
 * changed (made, fired, paused, deleted: assay_state_schedules_changed);
 * only those are planned again. Nothing here is replicated: a new leader
 * plans every schedule from the state's cursors. */
#include "member/internal.h"

#include "sched/def.h"
#include "state/schedule.h"

/* Fires one tick commits at most; the rest wait for the next tick. */
#define FIRE_BATCH 512
/* Missed fires counted in one record at most (then another, at the next
 * tick), and looked at by one tick in all: a leader back after a long
 * outage catches up over a few ticks instead of holding its loop. */
#define MISSED_SCAN 10000
#define TICK_SCAN 100000
/* How late (ms) past its due time a fire may be and still count as on
 * time with a catch-up window of 0: the tick's own lateness. */
#define LATE_GRACE_MS 2000
/* The next fire is looked for this far ahead at most. */
#define LOOKAHEAD_MS (10LL * 366 * 86400 * 1000)

typedef struct s_entry {
    char id[ASSAY_SCHED_ID_MAX + 1];
    const assay_sched_rec *rec; /* what def was compiled from */
    int64_t created_ms;
    assay_sched_def *def;   /* NULL: it failed to compile (logged) */
    assay_sched_event next; /* valid when due_ms < INT64_MAX */
    int64_t due_ms;
    size_t heap_pos; /* SIZE_MAX: not on the heap */
    bool firing;     /* a fire of it is being committed */
} s_entry;

struct mb_scheds {
    assay_index *by_id; /* id -> s_entry */
    s_entry **heap;
    size_t n, cap;
    bool all; /* plan every schedule at the next tick */
    int64_t cpu_ns; /* thread CPU its ticks took, all told */
};

/* Fires being committed: whose, to plan them again once applied. */
typedef struct {
    assay_leader *leader;
    size_t n;
    char ids[][ASSAY_SCHED_ID_MAX + 1];
} s_flight;

int64_t mb_wall_ms(const assay_leader *self)
{
    return self->wall ? self->wall(self->wall_arg) : assay_wall_ms();
}

assay_sched_limits mb_sched_limits(const assay_leader *self)
{
    return (assay_sched_limits){
        .tzdir = NULL,
        .min_interval_s = self->conf->schedule_min_interval,
        .now_ms = mb_wall_ms(self)};
}

/* ---- the heap ------------------------------------------------------------ */

static bool s_before(const s_entry *a, const s_entry *b)
{
    return a->due_ms < b->due_ms ||
           (a->due_ms == b->due_ms && strcmp(a->id, b->id) < 0);
}

static void s_set(mb_scheds *h, size_t i, s_entry *e)
{
    h->heap[i] = e;
    e->heap_pos = i;
}

static void s_up(mb_scheds *h, size_t i)
{
    s_entry *e = h->heap[i];
    while (i > 0 && s_before(e, h->heap[(i - 1) / 2])) {
        s_set(h, i, h->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    s_set(h, i, e);
}

static void s_down(mb_scheds *h, size_t i)
{
    s_entry *e = h->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && s_before(h->heap[c + 1], h->heap[c]))
            c++;
        if (!s_before(h->heap[c], e))
            break;
        s_set(h, i, h->heap[c]);
        i = c;
    }
    s_set(h, i, e);
}

static void s_unheap(mb_scheds *h, s_entry *e)
{
    size_t i = e->heap_pos;
    if (i >= h->n || h->heap[i] != e)
        return;
    e->heap_pos = SIZE_MAX;
    s_entry *last = h->heap[--h->n];
    if (last == e)
        return;
    s_set(h, i, last);
    s_up(h, i);
    s_down(h, last->heap_pos);
}

static void s_heap(mb_scheds *h, s_entry *e)
{
    s_unheap(h, e);
    if (e->due_ms == INT64_MAX)
        return;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        s_entry **p = realloc(h->heap, cap * sizeof *p);
        if (!p) {
            assay_warn("out of memory: schedule %s is not planned", e->id);
            return;
        }
        h->heap = p;
        h->cap = cap;
    }
    s_set(h, h->n++, e);
    s_up(h, e->heap_pos);
}

/* ---- planning ------------------------------------------------------------ */

static void s_entry_free(mb_scheds *h, s_entry *e)
{
    s_unheap(h, e);
    assay_index_remove(h->by_id, e->id);
    assay_sched_def_destroy(&e->def);
    free(e);
}

static void s_free_each(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    s_entry *e = value;
    assay_sched_def_destroy(&e->def);
    free(e);
}

void mb_scheds_reset(assay_leader *self)
{
    mb_scheds *h = self->scheds;
    assay_index_each(h->by_id, s_free_each, NULL);
    assay_index_destroy(&h->by_id);
    h->by_id = assay_index_new();
    h->n = 0;
    h->all = true;
}

int mb_scheds_new(assay_leader *self)
{
    mb_scheds *h = calloc(1, sizeof *h);
    if (!h || !(h->by_id = assay_index_new())) {
        free(h);
        return ASSAY_ENOMEM;
    }
    h->all = true;
    self->scheds = h;
    return 0;
}

void mb_scheds_destroy(assay_leader *self)
{
    mb_scheds *h = self->scheds;
    if (!h)
        return;
    assay_index_each(h->by_id, s_free_each, NULL);
    assay_index_destroy(&h->by_id);
    free(h->heap);
    free(h);
    self->scheds = NULL;
}

/* The compiled definition of schedule rec (compiled when it is new or
 * was made again under the same id), or NULL. */
static s_entry *s_entry_of(assay_leader *self, const assay_sched_rec *rec)
{
    mb_scheds *h = self->scheds;
    s_entry *e = assay_index_get(h->by_id, rec->id);
    if (e && (e->rec != rec || e->created_ms != rec->created_ms)) {
        s_entry_free(h, e);
        e = NULL;
    }
    if (e)
        return e;
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    strlcpy(e->id, rec->id, sizeof e->id);
    e->rec = rec;
    e->created_ms = rec->created_ms;
    e->heap_pos = SIZE_MAX;
    e->due_ms = INT64_MAX;
    char err[ASSAY_ERRMSG_SIZE];
    assay_sched_limits lim = mb_sched_limits(self);
    if (assay_sched_def_parse(rec->def, &lim, false, &e->def, err,
                              sizeof err) != 0)
        /* e.g. a time zone this host lacks: it fires on members that
         * have it; said once per leadership. */
        assay_warn("schedule %s cannot be planned here: %s", rec->id, err);
    if (assay_index_put(h->by_id, e->id, e) != 0) {
        assay_sched_def_destroy(&e->def);
        free(e);
        return NULL;
    }
    return e;
}

/* When rec (compiled as d, or NULL) is next due: its next event's time
 * plus its jitter, the event in *next; INT64_MAX if never. */
static int64_t s_next_due(const assay_sched_def *d,
                          const assay_sched_rec *rec, assay_sched_event *next)
{
    if (!d || assay_sched_ended(rec) ||
        !assay_sched_def_next(d, rec->cursor_ms,
                              rec->cursor_ms + LOOKAHEAD_MS, next))
        return INT64_MAX;
    return next->at_ms + assay_sched_def_jitter_ms(d, next->at_ms);
}

/* Works out when schedule `id` is next due, from the state's record. */
static void s_plan(assay_leader *self, const char *id)
{
    mb_scheds *h = self->scheds;
    const assay_sched_rec *rec = assay_state_schedule(self->state, id);
    s_entry *e = assay_index_get(h->by_id, id);
    if (!rec) {
        if (e)
            s_entry_free(h, e);
        return;
    }
    if (!(e = s_entry_of(self, rec)) || e->firing)
        return;
    e->due_ms = s_next_due(e->def, rec, &e->next);
    s_heap(h, e);
}

static void s_plan_cb(void *arg, const char *id) { s_plan(arg, id); }

static void s_plan_all(assay_leader *self)
{
    mb_scheds *h = self->scheds;
    mb_scheds_reset(self);
    h->all = false;
    for (const assay_sched_rec *r = assay_state_schedules(self->state); r;
         r = r->next)
        s_plan(self, r->id);
}

/* ---- firing -------------------------------------------------------------- */

/* The JobSpec of a fire of d at nominal (of kind): its fields into *cs
 * (strings owned by *spec), its jobs into *jobs; or a refusal in err. */
int mb_sched_run_build(assay_leader *self, const assay_sched_def *d,
                       int64_t nominal, int kind, assay_jobspec **spec,
                       assay_cmd_spec *cs, assay_cmd_list **jobs, char *err,
                       size_t errlen)
{
    char id[ASSAY_ID_MAX + 32];
    assay_sched_run_id(d->id, nominal, kind, id, sizeof id);
    json_t *body = json_deep_copy(d->spec);
    if (!body || json_object_set_new(body, "id", json_string(id)) != 0) {
        json_decref(body);
        return ASSAY_ENOMEM;
    }
    const char *resolved = NULL;
    int rc = assay_jobspec_parse(body, spec, err, errlen);
    json_decref(body);
    if (!rc)
        rc = mb_spec_build(self, *spec, &resolved, jobs, err, errlen);
    if (rc) {
        assay_jobspec_destroy(spec);
        return rc;
    }
    *cs = mb_spec_fields(self, *spec, resolved);
    cs->schedule = d->id;
    /* The schedule's own keep_for, unless the template says. */
    if (!cs->retain_seconds)
        cs->retain_seconds = d->keep_for_s;
    return 0;
}

/* How late past its due time (with its jitter) an event is at now. */
static int64_t s_late(const assay_sched_def *d, const assay_sched_event *ev,
                      int64_t now)
{
    return now - ev->at_ms - assay_sched_def_jitter_ms(d, ev->at_ms);
}

/* Appends the fire of e's next event to items; when what was due is
 * later than the catch-up window, the events up to the first in time
 * (at most MISSED_SCAN, and what is left of *budget) are counted as
 * missed in this one item instead. */
static int s_fire_item(assay_leader *self, s_entry *e, int64_t now,
                       assay_cmd_list *items, int64_t *budget)
{
    const assay_sched_def *d = e->def;
    assay_cmd_fire f = {.schedule = e->id, .kind = ASSAY_FIRE_DUE};
    char why[ASSAY_ERRMSG_SIZE], skipped[200];
    int64_t window = d->catchup_s * 1000 + LATE_GRACE_MS;
    if (s_late(d, &e->next, now) > window) {
        int64_t first = e->next.at_ms, count = 0, scan = 0;
        assay_sched_event ev = e->next, last = ev;
        do {
            count += ev.fire + ev.gap_count;
            last = ev;
        } while (++scan < MISSED_SCAN && scan < *budget &&
                 assay_sched_def_next(d, last.at_ms, now, &ev) &&
                 s_late(d, &ev, now) > window);
        *budget -= scan;
        snprintf(skipped, sizeof skipped,
                 "due while no leader could fire it, more than the "
                 "catch-up window (%lld s) ago",
                 (long long)d->catchup_s);
        f.nominal = last.at_ms;
        f.skipped_count = count;
        f.skipped_first = first;
        f.skipped_outcome = ASSAY_RUN_MISSED;
        f.skipped_reason = skipped;
        return assay_cmd_list_fire(items, &f, NULL);
    }
    f.nominal = e->next.at_ms;
    if (e->next.gap_count) {
        char local[40];
        assay_sched_time_text(e->next.gap_local * 1000, local, sizeof local);
        local[10] = ' ';
        snprintf(skipped, sizeof skipped,
                 "%.16s local time did not exist in %s (clocks went "
                 "forward)%s",
                 local, assay_tz_name(d->tz),
                 e->next.gap_count > 1 ? ", nor the times after it" : "");
        f.skipped_count = e->next.gap_count;
        f.skipped_first = e->next.at_ms;
        f.skipped_outcome = ASSAY_RUN_NONEXISTENT;
        f.skipped_reason = skipped;
    }
    if (!e->next.fire)
        return assay_cmd_list_fire(items, &f, NULL);
    assay_jobspec *spec = NULL;
    assay_cmd_spec cs;
    assay_cmd_list *jobs = NULL;
    int rc = mb_sched_run_build(self, d, f.nominal, ASSAY_FIRE_DUE, &spec,
                                &cs, &jobs, why, sizeof why);
    if (rc == ASSAY_ENOMEM)
        return rc;
    if (rc)
        f.reason = why;
    else
        f.spec = &cs;
    rc = assay_cmd_list_fire(items, &f, &jobs);
    assay_jobspec_destroy(&spec);
    return rc;
}

static void s_fired(void *arg, int status, void *result)
{
    s_flight *fl = arg;
    assay_leader *self = fl->leader;
    json_decref(result);
    if (status)
        assay_warn("schedules: %zu fires not committed: %s (planned again)",
                   fl->n, assay_strerror(status));
    for (size_t i = 0; self->scheds && i < fl->n; i++) {
        s_entry *e = assay_index_get(self->scheds->by_id, fl->ids[i]);
        if (e)
            e->firing = false;
        s_plan(self, fl->ids[i]);
    }
    free(fl);
}

/* Commits the due fires (up to FIRE_BATCH). */
static void s_fire_due(assay_leader *self, int64_t now)
{
    mb_scheds *h = self->scheds;
    if (!h->n || h->heap[0]->due_ms > now)
        return;
    s_flight *fl = malloc(sizeof *fl + FIRE_BATCH * sizeof fl->ids[0]);
    assay_cmd_list *items = assay_cmd_list_new();
    if (!fl || !items) {
        free(fl);
        assay_cmd_list_destroy(&items);
        return;
    }
    fl->leader = self;
    fl->n = 0;
    int64_t budget = TICK_SCAN;
    while (h->n && h->heap[0]->due_ms <= now && fl->n < FIRE_BATCH &&
           budget > 0) {
        s_entry *e = h->heap[0];
        s_unheap(h, e);
        if (s_fire_item(self, e, now, items, &budget) != 0) {
            s_heap(h, e); /* planned as it was: the next tick tries again */
            break;
        }
        budget--;
        e->firing = true;
        strlcpy(fl->ids[fl->n++], e->id, sizeof fl->ids[0]);
    }
    if (!fl->n) {
        free(fl);
        assay_cmd_list_destroy(&items);
        return;
    }
    assay_cmd *cmd = assay_cmd_fire_batch(&items, now);
    int rc = cmd ? mb_commit(self, cmd, s_fired, fl) : ASSAY_ENOMEM;
    if (rc)
        s_fired(fl, rc, NULL);
}

static int64_t s_thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mb_scheds_tick(assay_leader *self)
{
    mb_scheds *h = self->scheds;
    if (assay_state_level(self->state) < ASSAY_LEVEL_SCHEDULES)
        return;
    int64_t t0 = s_thread_ns();
    if (assay_state_schedules_changed(self->state, s_plan_cb, self) ||
        h->all)
        s_plan_all(self);
    s_fire_due(self, mb_wall_ms(self));
    h->cpu_ns += s_thread_ns() - t0;
}

int64_t mb_scheds_cpu_ns(const assay_leader *self)
{
    return self->scheds ? self->scheds->cpu_ns : 0;
}

int64_t mb_sched_due(const assay_leader *self, const char *id)
{
    const s_entry *e = assay_index_get(self->scheds->by_id, id);
    return e && e->def ? e->due_ms : INT64_MAX;
}

int64_t mb_sched_next_due(assay_leader *self, const assay_sched_rec *rec)
{
    if (self->leading)
        return mb_sched_due(self, rec->id);
    /* Compiled for this answer only: a member that does not lead keeps
     * no plans (they would outlive deleted schedules). */
    assay_sched_limits lim = mb_sched_limits(self);
    assay_sched_def *d = NULL;
    assay_sched_event ev;
    char err[ASSAY_ERRMSG_SIZE];
    int64_t due = assay_sched_def_parse(rec->def, &lim, false, &d, err,
                                        sizeof err)
                      ? INT64_MAX
                      : s_next_due(d, rec, &ev);
    assay_sched_def_destroy(&d);
    return due;
}

const assay_sched_def *mb_sched_def(assay_leader *self,
                                    const assay_sched_rec *rec)
{
    s_entry *e = s_entry_of(self, rec);
    return e ? e->def : NULL;
}

/* The heap's entries due by `now`: a subtree at its root. */
static size_t s_due_below(const mb_scheds *h, size_t i, int64_t now)
{
    if (i >= h->n || h->heap[i]->due_ms > now)
        return 0;
    return 1 + s_due_below(h, 2 * i + 1, now) + s_due_below(h, 2 * i + 2, now);
}

size_t mb_scheds_due_now(const assay_leader *self)
{
    return self->scheds ? s_due_below(self->scheds, 0, mb_wall_ms(self)) : 0;
}
