/* core/state/schedule.c - schedules in the replicated state (see
 * state/schedule.h for the commands, docs/schedules.md for semantics).
 *
 * Exactly once: a due fire applies only after the cursor, and moves it,
 * so a fire two leaders both proposed (one died before it saw its own
 * commit) runs once; its JobSpec id is the schedule's and the fire
 * time's, so a backfill of a time already run is a duplicate, recorded
 * as skipped. Overlap is decided here, on every member alike: a run
 * whose JobSpec still has queued or running jobs is active, and when its
 * last job ends the next buffered run starts (st_sched_run_ended).
 *
 * Bounded: ASSAY_SCHEDULES_MAX schedules; per schedule ASSAY_SCHED_RUNS
 * decisions, ASSAY_SCHED_BUFFER_MAX buffered runs, and keep_runs runs
 * held (the oldest finished run is forgotten when a newer one passes the
 * bound). */
#include "state/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "base/ident.h"
#include "base/log.h"

/* Room for a run's JobSpec id (at most 64 bytes). */
#define RUN_ID_SIZE 96
/* Ids changed since the leader last looked, at most (then: all). */
#define CHANGED_MAX 4096

/* A run waiting for the overlapping one: the fire item's spec and jobs,
 * as msgpack ({spec, jobs}). */
struct st_buffered {
    int64_t nominal_ms;
    uint8_t kind;
    st_buffered *next;
    size_t len;
    unsigned char bytes[];
};

/* A schedule whose run ended within the command being applied. */
typedef struct {
    char id[ASSAY_SCHED_ID_MAX + 1];
    int64_t at;
} s_ended;

struct st_scheds {
    assay_index *by_id;
    assay_sched_rec *head, *tail;
    size_t count;
    assay_index *changed; /* id -> itself: made, changed or deleted */
    bool all_changed;
    /* Settled after the command (st_scheds_settle): starting a buffered
     * run or forgetting an old one there, inside the op that ended a
     * job, would pull records from under it. */
    s_ended *ended;
    size_t n_ended, cap_ended;
};

static const char *const s_kinds[] = {"due", "trigger", "backfill"};
static const char *const s_outcomes[] = {"started", "buffered",    "skipped",
                                         "missed",  "nonexistent", "failed"};

#define S_NAMES(a) (sizeof(a) / sizeof *(a))

static const char *s_name(const char *const *names, size_t n, int i)
{
    return i >= 0 && (size_t)i < n ? names[i] : "unknown";
}

static int s_parse(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (!strcmp(name, names[i]))
            return (int)i;
    return -1;
}

const char *assay_fire_kind_name(int k)
{
    return s_name(s_kinds, S_NAMES(s_kinds), k);
}
int assay_fire_kind_parse(const char *name)
{
    return s_parse(s_kinds, S_NAMES(s_kinds), name);
}
const char *assay_run_outcome_name(int o)
{
    return s_name(s_outcomes, S_NAMES(s_outcomes), o);
}
int assay_run_outcome_parse(const char *name)
{
    return s_parse(s_outcomes, S_NAMES(s_outcomes), name);
}

st_scheds *st_scheds_new(void)
{
    st_scheds *self = calloc(1, sizeof *self);
    if (self && (!(self->by_id = assay_index_new()) ||
                 !(self->changed = assay_index_new())))
        st_scheds_destroy(&self);
    return self;
}

static void s_free_rec(assay_sched_rec *r)
{
    for (uint32_t i = 0; i < ASSAY_SCHED_RUNS; i++)
        free(r->runs[i].reason);
    for (st_buffered *b = r->buffer, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    /* Its runs outlive it, on the member's retention alone. */
    for (assay_spec_rec *s = r->held_head, *next; s; s = next) {
        next = s->sched_next;
        s->sched = NULL;
        s->sched_prev = s->sched_next = NULL;
    }
    json_decref(r->def);
    free(r->note);
    free(r);
}

static void s_changed(st_scheds *self, const char *id)
{
    if (self->all_changed)
        return;
    if (assay_index_size(self->changed) >= CHANGED_MAX) {
        self->all_changed = true;
        assay_index_destroy(&self->changed);
        self->changed = assay_index_new();
        return;
    }
    if (!assay_index_get(self->changed, id) &&
        assay_index_put(self->changed, id, (void *)self) != 0)
        self->all_changed = true; /* out of memory: plan everything */
}

void st_scheds_clear(st_scheds *self)
{
    for (assay_sched_rec *r = self->head, *next; r; r = next) {
        next = r->next;
        assay_index_remove(self->by_id, r->id);
        s_free_rec(r);
    }
    self->head = self->tail = NULL;
    self->count = 0;
    self->all_changed = true;
}

void st_scheds_destroy(st_scheds **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_scheds *self = *self_p;
    st_scheds_clear(self);
    assay_index_destroy(&self->by_id);
    assay_index_destroy(&self->changed);
    free(self->ended);
    free(self);
    *self_p = NULL;
}

assay_sched_rec *assay_state_schedule(const assay_state *self, const char *id)
{
    return id ? assay_index_get(self->scheds->by_id, id) : NULL;
}

assay_sched_rec *assay_state_schedules(const assay_state *self)
{
    return self->scheds->head;
}

size_t assay_state_schedule_count(const assay_state *self)
{
    return self->scheds->count;
}

typedef struct {
    void (*fn)(void *arg, const char *id);
    void *arg;
} s_each;

static void s_each_changed(const char *key, void *value, void *arg)
{
    (void)value;
    s_each *e = arg;
    e->fn(e->arg, key);
}

bool assay_state_schedules_changed(assay_state *self,
                                   void (*fn)(void *arg, const char *id),
                                   void *arg)
{
    st_scheds *sc = self->scheds;
    bool all = sc->all_changed;
    if (!all)
        assay_index_each(sc->changed, s_each_changed,
                         &(s_each){.fn = fn, .arg = arg});
    sc->all_changed = false;
    if (assay_index_size(sc->changed)) {
        assay_index_destroy(&sc->changed);
        sc->changed = assay_index_new();
        if (!sc->changed)
            sc->all_changed = true;
    }
    return all;
}

bool assay_sched_ended(const assay_sched_rec *r)
{
    return r->paused || (r->max_runs > 0 && r->started >= (uint64_t)r->max_runs) ||
           (r->end_ms > 0 && r->cursor_ms >= r->end_ms);
}

const assay_sched_run *assay_sched_run_at(const assay_sched_rec *r,
                                          uint32_t i)
{
    if (i >= r->n_runs)
        return NULL;
    return &r->runs[(r->head + r->n_runs - 1 - i) % ASSAY_SCHED_RUNS];
}

void assay_sched_run_id(const char *id, int64_t nominal_ms, int kind,
                        char *buf, size_t len)
{
    char t[40]; /* 2026-03-29T01:00:00.000Z */
    assay_sched_time_text(nominal_ms, t, sizeof t);
    if (kind == ASSAY_FIRE_TRIGGER)
        snprintf(buf, len, "%s.t%.4s%.2s%.2sT%.2s%.2s%.2s.%.3sZ", id, t,
                 t + 5, t + 8, t + 11, t + 14, t + 17, t + 20);
    else
        snprintf(buf, len, "%s.%.4s%.2s%.2sT%.2s%.2s%.2sZ", id, t, t + 5,
                 t + 8, t + 11, t + 14, t + 17);
}

/* Records a decision, the oldest falling out of the ring, and counts it;
 * publishes schedule.run. */
static void s_note(assay_state *self, assay_sched_rec *r, int64_t nominal,
                   int64_t at, uint32_t count, int kind, int outcome,
                   const char *reason, const char *spec)
{
    assay_sched_run *run;
    if (r->n_runs < ASSAY_SCHED_RUNS) {
        run = &r->runs[(r->head + r->n_runs++) % ASSAY_SCHED_RUNS];
    } else {
        run = &r->runs[r->head];
        r->head = (r->head + 1) % ASSAY_SCHED_RUNS;
    }
    run->nominal_ms = nominal;
    run->at_ms = at;
    run->count = count;
    run->kind = (uint8_t)kind;
    run->outcome = (uint8_t)outcome;
    assay_job_note(&run->reason, reason);
    uint64_t *counts[] = {&r->started, &r->buffered,    &r->skipped,
                          &r->missed,  &r->nonexistent, &r->failed};
    *counts[outcome] += count;
    if (!self->on_event)
        return;
    if (self->wants && !self->wants(self->arg, ASSAY_EV_SCHEDULE_RUN)) {
        self->on_event(self->arg, ASSAY_EV_SCHEDULE_RUN, NULL, 0);
        return;
    }
    msgpack_sbuffer_clear(&self->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &self->scratch, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5 + !!run->reason + !!spec);
    assay_codec_pack_kv_str(&pk, "schedule", r->id);
    assay_codec_pack_kv_int(&pk, "nominal_ms", nominal);
    assay_codec_pack_kv_str(&pk, "kind", assay_fire_kind_name(kind));
    assay_codec_pack_kv_str(&pk, "outcome", assay_run_outcome_name(outcome));
    assay_codec_pack_kv_int(&pk, "count", count);
    if (run->reason)
        assay_codec_pack_kv_str(&pk, "reason", run->reason);
    if (spec)
        assay_codec_pack_kv_str(&pk, "spec", spec);
    self->on_event(self->arg, ASSAY_EV_SCHEDULE_RUN, self->scratch.data,
                   self->scratch.size);
}

/* Spec s (a run of r) joins r's held runs. */
static void s_hold(assay_sched_rec *r, assay_spec_rec *s)
{
    s->sched = r;
    s->sched_next = NULL;
    s->sched_prev = r->held_tail;
    if (r->held_tail)
        r->held_tail->sched_next = s;
    else
        r->held_head = s;
    r->held_tail = s;
    r->n_held++;
    if (s->unfinished)
        r->n_active++;
}

void st_sched_detach(assay_state *self, assay_spec_rec *s)
{
    (void)self;
    assay_sched_rec *r = s->sched;
    if (!r)
        return;
    if (s->sched_prev)
        s->sched_prev->sched_next = s->sched_next;
    else
        r->held_head = s->sched_next;
    if (s->sched_next)
        s->sched_next->sched_prev = s->sched_prev;
    else
        r->held_tail = s->sched_prev;
    r->n_held--;
    if (s->unfinished)
        r->n_active--;
    s->sched = NULL;
}

/* Forgets r's oldest runs beyond keep_runs that have ended. */
static void s_trim(assay_state *self, assay_sched_rec *r)
{
    /* The newest keep_runs runs stay, and older ones while they go on:
     * of the others, oldest first, the ended ones go. */
    size_t older = r->keep_runs > 0 && r->n_held > (size_t)r->keep_runs
                       ? r->n_held - (size_t)r->keep_runs
                       : 0;
    for (assay_spec_rec *s = r->held_head, *next; s && older;
         s = next, older--) {
        next = s->sched_next;
        if (s->unfinished)
            continue;
        /* Its last job takes the record (and its place here) with it. */
        for (size_t n = s->live; n; n--)
            st_forget(self, s->first);
    }
}

static int s_start(assay_state *self, assay_sched_rec *r,
                   const msgpack_object *spec, const msgpack_object *jobs,
                   const char *id, int64_t nominal, int kind, int64_t at);

/* Starts a run: submits its JobSpec, which becomes one of r's runs. */
static int s_submit_run(assay_state *self, assay_sched_rec *r,
                        const msgpack_object *spec,
                        const msgpack_object *jobs, const char *id,
                        int64_t nominal, int kind, int64_t at)
{
    char err[ASSAY_ERRMSG_SIZE];
    if (assay_state_spec(self, id)) { /* ran already: never held twice */
        snprintf(err, sizeof err, "already ran: JobSpec %s is held", id);
        s_note(self, r, nominal, at, 1, kind, ASSAY_RUN_SKIPPED, err, id);
        return 0;
    }
    if (r->max_runs > 0 && r->started >= (uint64_t)r->max_runs) {
        s_note(self, r, nominal, at, 1, kind, ASSAY_RUN_SKIPPED,
               "max_runs reached", NULL);
        return 0;
    }
    int rc = st_submit(self, spec, jobs, NULL, err, sizeof err);
    assay_spec_rec *s = rc ? NULL : assay_state_spec(self, id);
    if (!s) {
        s_note(self, r, nominal, at, 1, kind, ASSAY_RUN_FAILED,
               rc ? err : "not submitted", NULL);
        return rc ? rc : ASSAY_EINVAL;
    }
    s_hold(r, s);
    s_note(self, r, nominal, at, 1, kind, ASSAY_RUN_STARTED, NULL, id);
    s_trim(self, r);
    return 0;
}

/* Keeps a run until the overlapping one ends: false if the buffer is
 * full (or no memory). */
static bool s_buffer(assay_state *self, assay_sched_rec *r,
                     const msgpack_object *spec, const msgpack_object *jobs,
                     int64_t nominal, int kind)
{
    uint32_t max = r->overlap == ASSAY_OVERLAP_BUFFER_ONE
                       ? 1
                       : ASSAY_SCHED_BUFFER_MAX;
    if (r->n_buffer >= max)
        return false;
    msgpack_sbuffer_clear(&self->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &self->scratch, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "spec", 4);
    msgpack_pack_object(&pk, *spec);
    msgpack_pack_str_with_body(&pk, "jobs", 4);
    msgpack_pack_object(&pk, *jobs);
    st_buffered *b = malloc(sizeof *b + self->scratch.size);
    if (!b)
        return false;
    b->nominal_ms = nominal;
    b->kind = (uint8_t)kind;
    b->next = NULL;
    b->len = self->scratch.size;
    memcpy(b->bytes, self->scratch.data, b->len);
    st_buffered **tail = &r->buffer;
    while (*tail)
        tail = &(*tail)->next;
    *tail = b;
    r->n_buffer++;
    return true;
}

/* Cancels the unfinished jobs of r's active runs (cancel_other). */
static void s_cancel_active(assay_state *self, assay_sched_rec *r,
                            int64_t nominal, int64_t at)
{
    char why[160], when[40];
    assay_sched_time_text(nominal, when, sizeof when);
    snprintf(why, sizeof why,
             "cancelled: schedule %s started its run of %s (overlap "
             "cancel_other)",
             r->id, when);
    for (assay_spec_rec *s = r->held_head, *next; s && r->n_active;
         s = next) {
        next = s->sched_next;
        for (assay_job *j = s->first, *jn; j && s->unfinished; j = jn) {
            jn = assay_spec_next(j);
            if (j->state == ASSAY_JOB_QUEUED || j->state == ASSAY_JOB_RUNNING)
                st_cancel_job(self, j, at, why);
        }
    }
}

/* Whether spec (a fire item's) is the JobSpec of r's fire at nominal. */
static bool s_is_run(const assay_sched_rec *r, const msgpack_object *spec,
                     int64_t nominal, int kind)
{
    char id[RUN_ID_SIZE], want[RUN_ID_SIZE], whose[ASSAY_SCHED_ID_MAX + 2];
    assay_sched_run_id(r->id, nominal, kind, want, sizeof want);
    return st_text(spec, "id", id, sizeof id, false) && !strcmp(id, want) &&
           ST_ID(spec, "schedule", whose) && !strcmp(whose, r->id);
}

static int s_start(assay_state *self, assay_sched_rec *r,
                   const msgpack_object *spec, const msgpack_object *jobs,
                   const char *id, int64_t nominal, int kind, int64_t at)
{
    char why[200];
    const char *skip = NULL;
    if (assay_state_spec(self, id)) {
        snprintf(why, sizeof why, "already ran: JobSpec %s is held", id);
        skip = why;
    }
    for (const st_buffered *b = r->buffer; b && !skip; b = b->next)
        if (b->nominal_ms == nominal && b->kind == kind)
            skip = "already waiting for the run before it to end";
    if (!skip && r->max_runs > 0 &&
        r->started + r->n_buffer >= (uint64_t)r->max_runs)
        skip = "max_runs reached";
    if (skip) {
        s_note(self, r, nominal, at, 1, kind, ASSAY_RUN_SKIPPED, skip, id);
        return 0;
    }
    int overlap = r->overlap;
    if (kind == ASSAY_FIRE_BACKFILL && overlap != ASSAY_OVERLAP_ALLOW_ALL)
        overlap = ASSAY_OVERLAP_BUFFER_ALL; /* a backfill runs them all */
    if (r->n_active && overlap != ASSAY_OVERLAP_ALLOW_ALL) {
        if (overlap == ASSAY_OVERLAP_CANCEL_OTHER) {
            s_cancel_active(self, r, nominal, at);
        } else if (overlap != ASSAY_OVERLAP_SKIP &&
                   s_buffer(self, r, spec, jobs, nominal, kind)) {
            s_note(self, r, nominal, at, 1, kind, ASSAY_RUN_BUFFERED,
                   "waits for the run before it to end", id);
            return 0;
        } else {
            snprintf(why, sizeof why,
                     overlap == ASSAY_OVERLAP_SKIP
                         ? "the run before it had not ended (overlap skip)"
                         : "the buffer of runs waiting was full (overlap %s)",
                     assay_overlap_name(overlap));
            s_note(self, r, nominal, at, 1, kind, ASSAY_RUN_SKIPPED, why,
                   NULL);
            return 0;
        }
    }
    return s_submit_run(self, r, spec, jobs, id, nominal, kind, at);
}

void st_sched_run_ended(assay_state *self, assay_spec_rec *s, int64_t at)
{
    st_scheds *sc = self->scheds;
    s->sched->n_active--;
    if (sc->n_ended == sc->cap_ended) {
        size_t cap = sc->cap_ended ? 2 * sc->cap_ended : 8;
        s_ended *p = realloc(sc->ended, cap * sizeof *p);
        if (!p) {
            assay_warn("out of memory: schedule %s's next run waits for "
                       "the next of its runs to end",
                       s->sched->id);
            return;
        }
        sc->ended = p;
        sc->cap_ended = cap;
    }
    s_ended *e = &sc->ended[sc->n_ended++];
    strlcpy(e->id, s->sched->id, sizeof e->id);
    e->at = at;
}

/* Starts r's buffered runs while none is active (and it is not paused:
 * resuming starts them), and forgets its runs beyond keep_runs. */
static void s_settle(assay_state *self, assay_sched_rec *r, int64_t at)
{
    while (r->buffer && !r->n_active && !r->paused) {
        st_buffered *b = r->buffer;
        r->buffer = b->next;
        r->n_buffer--;
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        char id[RUN_ID_SIZE];
        assay_sched_run_id(r->id, b->nominal_ms, b->kind, id, sizeof id);
        if (msgpack_unpack_next(&u, (const char *)b->bytes, b->len, NULL) ==
            MSGPACK_UNPACK_SUCCESS)
            s_submit_run(self, r, st_get(&u.data, "spec"),
                         st_get(&u.data, "jobs"), id, b->nominal_ms, b->kind,
                         at);
        msgpack_unpacked_destroy(&u);
        free(b);
    }
    s_trim(self, r);
}

void st_scheds_settle(assay_state *self)
{
    st_scheds *sc = self->scheds;
    /* Starting a run may end none, but settle what it does end too. */
    for (size_t i = 0; i < sc->n_ended; i++) {
        s_ended e = sc->ended[i];
        assay_sched_rec *r = assay_state_schedule(self, e.id);
        if (r)
            s_settle(self, r, e.at);
    }
    sc->n_ended = 0;
}

/* Reads the numbers of a definition the state acts on. */
static int s_def_read(assay_sched_rec *r, const msgpack_object *def,
                      char *err, size_t errlen)
{
    char overlap[16];
    int o = assay_overlap_parse(
        st_text(def, "overlap", overlap, sizeof overlap, false));
    r->max_runs = st_int(def, "max_runs");
    r->keep_runs = st_int(def, "keep_runs");
    r->start_ms = st_int(def, "start_ms");
    r->end_ms = st_int(def, "end_ms");
    if (o < 0 || r->max_runs < 0 || r->keep_runs < 1 ||
        r->keep_runs > ASSAY_SCHED_KEEP_MAX || r->start_ms < 0 ||
        r->end_ms < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "schedule %s: def needs a known overlap, "
                          "keep_runs 1..%d, max_runs, start_ms and end_ms "
                          ">= 0",
                          r->id, ASSAY_SCHED_KEEP_MAX);
    r->overlap = (uint8_t)o;
    return 0;
}

static void s_add(st_scheds *sc, assay_sched_rec *r)
{
    r->prev = sc->tail;
    r->next = NULL;
    if (sc->tail)
        sc->tail->next = r;
    else
        sc->head = r;
    sc->tail = r;
    sc->count++;
    s_changed(sc, r->id);
}

/* A new record of id from def (a map): NULL and err when refused. */
static assay_sched_rec *s_rec_new(assay_state *self, const char *id,
                                  const msgpack_object *def, int *rc,
                                  char *err, size_t errlen)
{
    if (!id || !assay_ident_node_valid(id, ASSAY_SCHED_ID_MAX) ||
        !st_is(def, MSGPACK_OBJECT_MAP)) {
        *rc = assay_errf(err, errlen, ASSAY_EINVAL,
                         "schedule: needs an id (letters, digits, '.', "
                         "'_', '-'; at most %d bytes) and a def",
                         ASSAY_SCHED_ID_MAX);
        return NULL;
    }
    if (assay_state_schedule(self, id)) {
        *rc = assay_errf(err, errlen, ASSAY_EEXIST,
                         "schedule %s: already exists", id);
        return NULL;
    }
    if (self->scheds->count >= ASSAY_SCHEDULES_MAX) {
        *rc = assay_errf(err, errlen, ASSAY_ERANGE,
                         "schedule %s: %d schedules are held already", id,
                         ASSAY_SCHEDULES_MAX);
        return NULL;
    }
    assay_sched_rec *r = calloc(1, sizeof *r);
    if (!r || !(r->def = st_json(def))) {
        free(r);
        *rc = ASSAY_ENOMEM;
        return NULL;
    }
    strlcpy(r->id, id, sizeof r->id);
    if ((*rc = s_def_read(r, def, err, errlen)) != 0) {
        s_free_rec(r);
        return NULL;
    }
    return r;
}

int st_schedule(assay_state *self, const msgpack_object *cmd,
                json_t **result, char *err, size_t errlen)
{
    (void)result;
    char id[ASSAY_SCHED_ID_MAX + 2];
    int rc = 0;
    assay_sched_rec *r = s_rec_new(self, ST_ID(cmd, "id", id),
                                   st_get(cmd, "def"), &rc, err, errlen);
    if (!r)
        return rc;
    r->created_ms = st_int(cmd, "at");
    /* Fires after its creation (and its start) only. */
    r->cursor_ms = r->start_ms > r->created_ms ? r->start_ms - 1
                                               : r->created_ms;
    st_by_read(self, cmd, &r->by_name, &r->by_role);
    if (assay_index_put(self->scheds->by_id, r->id, r) != 0) {
        s_free_rec(r);
        return ASSAY_ENOMEM;
    }
    s_add(self->scheds, r);
    return 0;
}

static assay_sched_rec *s_named(assay_state *self, const msgpack_object *cmd,
                                const char *op, char *err, size_t errlen)
{
    char id[ASSAY_SCHED_ID_MAX + 2];
    assay_sched_rec *r = assay_state_schedule(self, ST_ID(cmd, "id", id));
    if (!r)
        assay_errf(err, errlen, ASSAY_ENOENT, "%s: no schedule '%s'", op,
                   ST_ID(cmd, "id", id) ? id : "");
    return r;
}

int st_schedule_state(assay_state *self, const msgpack_object *cmd,
                      json_t **result, char *err, size_t errlen)
{
    (void)result;
    assay_sched_rec *r = s_named(self, cmd, "schedule_state", err, errlen);
    if (!r)
        return ASSAY_ENOENT;
    const msgpack_object *p = st_get(cmd, "paused");
    if (!st_is(p, MSGPACK_OBJECT_BOOLEAN))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "schedule_state: paused must be true or false");
    int64_t at = st_int(cmd, "at");
    char note[512];
    if (p->via.boolean) {
        r->paused = true;
        assay_job_note(&r->note, st_text(cmd, "note", note, sizeof note,
                                         true));
    } else if (r->paused) {
        /* What was due while it was paused is decided: skipped. */
        const msgpack_object *sk = st_get(cmd, "skipped");
        int64_t n = st_int(sk, "count");
        if (n > 0)
            s_note(self, r, st_int(sk, "first"), at,
                   n > UINT32_MAX ? UINT32_MAX : (uint32_t)n, ASSAY_FIRE_DUE,
                   ASSAY_RUN_SKIPPED, "paused", NULL);
        if (at > r->cursor_ms)
            r->cursor_ms = at;
        r->paused = false;
        assay_job_note(&r->note, NULL);
        s_settle(self, r, at);
    }
    s_changed(self->scheds, r->id);
    return 0;
}

int st_unschedule(assay_state *self, const msgpack_object *cmd,
                  json_t **result, char *err, size_t errlen)
{
    (void)result;
    assay_sched_rec *r = s_named(self, cmd, "unschedule", err, errlen);
    if (!r)
        return ASSAY_ENOENT;
    st_scheds *sc = self->scheds;
    assay_index_remove(sc->by_id, r->id);
    if (r->prev)
        r->prev->next = r->next;
    else
        sc->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        sc->tail = r->prev;
    sc->count--;
    s_changed(sc, r->id);
    s_free_rec(r);
    return 0;
}

static int s_fire_item(assay_state *self, const msgpack_object *it,
                       int64_t at)
{
    char id[ASSAY_SCHED_ID_MAX + 2], kname[16], oname[16], why[512];
    assay_sched_rec *r =
        assay_state_schedule(self, ST_ID(it, "schedule", id));
    int kind = assay_fire_kind_parse(
        st_text(it, "kind", kname, sizeof kname, false));
    int64_t nominal = st_int(it, "nominal");
    const msgpack_object *spec = st_get(it, "spec"),
                         *jobs = st_get(it, "jobs");
    if (!r || kind < 0 || nominal <= 0)
        return ASSAY_ERANGE;
    /* Refused before anything changes: not this fire's JobSpec. */
    if ((spec || jobs) && (!spec || !jobs || !s_is_run(r, spec, nominal, kind)))
        return ASSAY_EINVAL;
    if (kind == ASSAY_FIRE_DUE) {
        if (nominal <= r->cursor_ms || assay_sched_ended(r))
            return ASSAY_ERANGE; /* decided already: exactly once */
        r->cursor_ms = nominal;
    } else if (kind == ASSAY_FIRE_BACKFILL && nominal > r->cursor_ms) {
        return ASSAY_ERANGE; /* not past: it will be due */
    }
    s_changed(self->scheds, r->id);
    const msgpack_object *sk = st_get(it, "skipped");
    int outcome = assay_run_outcome_parse(
        st_text(sk, "outcome", oname, sizeof oname, false));
    int64_t n = st_int(sk, "count");
    if (sk && (outcome == ASSAY_RUN_MISSED ||
               outcome == ASSAY_RUN_NONEXISTENT) && n > 0)
        s_note(self, r, st_int(sk, "first"), at,
               n > UINT32_MAX ? UINT32_MAX : (uint32_t)n, kind, outcome,
               st_text(sk, "reason", why, sizeof why, true), NULL);
    if (spec) {
        char run[RUN_ID_SIZE];
        assay_sched_run_id(r->id, nominal, kind, run, sizeof run);
        return s_start(self, r, spec, jobs, run, nominal, kind, at);
    }
    if (st_text(it, "reason", why, sizeof why, true))
        s_note(self, r, nominal, at, 1, kind, ASSAY_RUN_FAILED, why, NULL);
    return 0;
}

int st_fire(assay_state *self, const msgpack_object *cmd, json_t **result,
            char *err, size_t errlen)
{
    const msgpack_object *items = st_get(cmd, "items");
    if (!st_is(items, MSGPACK_OBJECT_ARRAY))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "fire: items must be an array");
    int64_t at = st_int(cmd, "at");
    json_t *applied = result ? json_array() : NULL;
    for (uint32_t i = 0; i < items->via.array.size; i++) {
        bool ok = s_fire_item(self, &items->via.array.ptr[i], at) == 0;
        if (applied)
            json_array_append_new(applied, json_boolean(ok));
    }
    if (result)
        *result = json_pack("{s:o}", "applied", applied);
    return 0;
}

/* Snapshots (format 6): {id, def, created_ms, cursor_ms, paused, note?,
 * by?, counts: [started, buffered, skipped, missed, nonexistent, failed],
 * runs: [{nominal_ms, at_ms, count, kind, outcome, reason?}] oldest
 * first, buffer: [{nominal_ms, kind, run: {spec, jobs}}], held: [the
 * JobSpec ids of its runs held, oldest first]}. The runs are listed, not
 * found by the JobSpecs' `schedule`: those of a schedule deleted and made
 * again under its id are not this one's. */
static void s_rec_pack(msgpack_packer *pk, const assay_sched_rec *r)
{
    msgpack_pack_map(pk, 9 + !!r->note + !!r->by_name);
    assay_codec_pack_kv_str(pk, "id", r->id);
    assay_codec_pack_kv_json(pk, "def", r->def);
    assay_codec_pack_kv_int(pk, "created_ms", r->created_ms);
    assay_codec_pack_kv_int(pk, "cursor_ms", r->cursor_ms);
    assay_codec_pack_str(pk, "paused");
    r->paused ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    if (r->note)
        assay_codec_pack_kv_str(pk, "note", r->note);
    if (r->by_name)
        st_by_pack(pk, r->by_name, r->by_role);
    assay_codec_pack_str(pk, "counts");
    msgpack_pack_array(pk, 6);
    const uint64_t counts[] = {r->started, r->buffered,    r->skipped,
                               r->missed,  r->nonexistent, r->failed};
    for (size_t i = 0; i < 6; i++)
        msgpack_pack_uint64(pk, counts[i]);
    assay_codec_pack_str(pk, "runs");
    msgpack_pack_array(pk, r->n_runs);
    for (uint32_t i = r->n_runs; i-- > 0;) {
        const assay_sched_run *run = assay_sched_run_at(r, i);
        msgpack_pack_map(pk, 5 + !!run->reason);
        assay_codec_pack_kv_int(pk, "nominal_ms", run->nominal_ms);
        assay_codec_pack_kv_int(pk, "at_ms", run->at_ms);
        assay_codec_pack_kv_int(pk, "count", run->count);
        assay_codec_pack_kv_str(pk, "kind", assay_fire_kind_name(run->kind));
        assay_codec_pack_kv_str(pk, "outcome",
                                assay_run_outcome_name(run->outcome));
        if (run->reason)
            assay_codec_pack_kv_str(pk, "reason", run->reason);
    }
    assay_codec_pack_str(pk, "buffer");
    msgpack_pack_array(pk, r->n_buffer);
    for (const st_buffered *b = r->buffer; b; b = b->next) {
        msgpack_pack_map(pk, 3);
        assay_codec_pack_kv_int(pk, "nominal_ms", b->nominal_ms);
        assay_codec_pack_kv_str(pk, "kind", assay_fire_kind_name(b->kind));
        assay_codec_pack_str(pk, "run");
        assay_codec_pack_raw(pk, b->bytes, b->len);
    }
    assay_codec_pack_str(pk, "held");
    msgpack_pack_array(pk, r->n_held);
    for (const assay_spec_rec *s = r->held_head; s; s = s->sched_next)
        assay_codec_pack_str(pk, s->id);
}

int st_scheds_pack(const assay_state *self, msgpack_packer *pk)
{
    msgpack_pack_array(pk, self->scheds->count);
    for (const assay_sched_rec *r = self->scheds->head; r; r = r->next)
        s_rec_pack(pk, r);
    return 0;
}

static int s_rec_load(assay_state *self, const msgpack_object *o, char *err,
                      size_t errlen)
{
    char id[ASSAY_SCHED_ID_MAX + 2], text[512];
    int rc = 0;
    assay_sched_rec *r = s_rec_new(self, ST_ID(o, "id", id), st_get(o, "def"),
                                   &rc, err, errlen);
    if (!r)
        return rc;
    r->created_ms = st_int(o, "created_ms");
    r->cursor_ms = st_int(o, "cursor_ms");
    const msgpack_object *p = st_get(o, "paused"),
                         *counts = st_get(o, "counts"),
                         *runs = st_get(o, "runs"),
                         *buffer = st_get(o, "buffer");
    r->paused = st_is(p, MSGPACK_OBJECT_BOOLEAN) && p->via.boolean;
    assay_job_note(&r->note, st_text(o, "note", text, sizeof text, true));
    st_by_read(self, o, &r->by_name, &r->by_role);
    uint64_t *fields[] = {&r->started, &r->buffered,    &r->skipped,
                          &r->missed,  &r->nonexistent, &r->failed};
    for (uint32_t i = 0; st_is(counts, MSGPACK_OBJECT_ARRAY) &&
                         i < counts->via.array.size && i < 6;
         i++)
        if (counts->via.array.ptr[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            *fields[i] = counts->via.array.ptr[i].via.u64;
    uint32_t nr = st_is(runs, MSGPACK_OBJECT_ARRAY) ? runs->via.array.size : 0;
    for (uint32_t i = nr > ASSAY_SCHED_RUNS ? nr - ASSAY_SCHED_RUNS : 0;
         i < nr; i++) {
        const msgpack_object *ro = &runs->via.array.ptr[i];
        int kind = assay_fire_kind_parse(st_text(ro, "kind", id, sizeof id,
                                                 false)),
            out = assay_run_outcome_parse(
                st_text(ro, "outcome", id, sizeof id, false));
        int64_t count = st_int(ro, "count");
        if (kind < 0 || out < 0 || count < 0 || count > UINT32_MAX) {
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "snapshot: schedule %s: a run of unknown kind "
                            "or outcome",
                            r->id);
            break;
        }
        assay_sched_run *run = &r->runs[r->n_runs++];
        run->nominal_ms = st_int(ro, "nominal_ms");
        run->at_ms = st_int(ro, "at_ms");
        run->count = (uint32_t)count;
        run->kind = (uint8_t)kind;
        run->outcome = (uint8_t)out;
        assay_job_note(&run->reason,
                       st_text(ro, "reason", text, sizeof text, true));
    }
    uint32_t nb = st_is(buffer, MSGPACK_OBJECT_ARRAY) ? buffer->via.array.size
                                                      : 0;
    for (uint32_t i = 0; i < nb && !rc; i++) {
        const msgpack_object *bo = &buffer->via.array.ptr[i],
                             *run = st_get(bo, "run");
        int kind = assay_fire_kind_parse(st_text(bo, "kind", id, sizeof id,
                                                 false));
        if (kind < 0 || i >= ASSAY_SCHED_BUFFER_MAX ||
            !st_get(run, "spec") || !st_get(run, "jobs")) {
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "snapshot: schedule %s: a malformed buffered run",
                            r->id);
            break;
        }
        r->overlap = ASSAY_OVERLAP_BUFFER_ALL; /* room for what was kept */
        if (!s_buffer(self, r, st_get(run, "spec"), st_get(run, "jobs"),
                      st_int(bo, "nominal_ms"), kind))
            rc = ASSAY_ENOMEM;
    }
    if (!rc)
        rc = s_def_read(r, st_get(o, "def"), err, errlen);
    if (!rc && assay_index_put(self->scheds->by_id, r->id, r) != 0)
        rc = ASSAY_ENOMEM;
    if (rc) {
        s_free_rec(r);
        return rc;
    }
    s_add(self->scheds, r);
    const msgpack_object *held = st_get(o, "held");
    for (uint32_t i = 0; st_is(held, MSGPACK_OBJECT_ARRAY) &&
                         i < held->via.array.size;
         i++) {
        const msgpack_object *h = &held->via.array.ptr[i];
        char sid[66];
        if (h->type != MSGPACK_OBJECT_STR || h->via.str.size >= sizeof sid)
            continue;
        memcpy(sid, h->via.str.ptr, h->via.str.size);
        sid[h->via.str.size] = '\0';
        assay_spec_rec *s = assay_state_spec(self, sid);
        /* Once, and only a run of a schedule of this id. */
        if (s && !s->sched && !strcmp(s->schedule, r->id))
            s_hold(r, s);
    }
    return 0;
}

int st_scheds_load(assay_state *self, const msgpack_object *list, char *err,
                   size_t errlen)
{
    if (!list)
        return 0;
    if (!st_is(list, MSGPACK_OBJECT_ARRAY))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: schedules must be an array");
    int rc = 0;
    for (uint32_t i = 0; i < list->via.array.size && !rc; i++)
        rc = s_rec_load(self, &list->via.array.ptr[i], err, errlen);
    return rc;
}

json_t *assay_sched_json(const assay_sched_rec *r, bool runs)
{
    json_t *o = json_pack(
        "{s:s, s:O, s:I, s:I, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I, "
        "s:I, s:I}",
        "id", r->id, "def", r->def, "created_ms", (json_int_t)r->created_ms,
        "cursor_ms", (json_int_t)r->cursor_ms, "state",
        r->paused                ? "paused"
        : assay_sched_ended(r) ? "ended"
                               : "active",
        "counts", "started", (json_int_t)r->started, "buffered",
        (json_int_t)r->buffered, "skipped", (json_int_t)r->skipped, "missed",
        (json_int_t)r->missed, "nonexistent", (json_int_t)r->nonexistent,
        "failed", (json_int_t)r->failed, "held", (json_int_t)r->n_held,
        "active", (json_int_t)r->n_active, "buffered_runs",
        (json_int_t)r->n_buffer);
    if (!o)
        return NULL;
    if (r->note)
        json_object_set_new(o, "note", json_string(r->note));
    if (r->by_name)
        json_object_set_new(o, "by",
                            json_pack("{s:s, s:s}", "name", r->by_name,
                                      "role", r->by_role));
    if (!runs)
        return o;
    json_t *list = json_array();
    for (uint32_t i = 0; i < r->n_runs; i++) {
        const assay_sched_run *run = assay_sched_run_at(r, i);
        json_t *ro = json_pack(
            "{s:I, s:I, s:I, s:s, s:s}", "nominal_ms",
            (json_int_t)run->nominal_ms, "at_ms", (json_int_t)run->at_ms,
            "count", (json_int_t)run->count, "kind",
            assay_fire_kind_name(run->kind), "outcome",
            assay_run_outcome_name(run->outcome));
        if (run->reason)
            json_object_set_new(ro, "reason", json_string(run->reason));
        if (run->outcome == ASSAY_RUN_STARTED ||
            run->outcome == ASSAY_RUN_BUFFERED) {
            char sid[RUN_ID_SIZE];
            assay_sched_run_id(r->id, run->nominal_ms, run->kind, sid,
                               sizeof sid);
            json_object_set_new(ro, "spec", json_string(sid));
        }
        json_array_append_new(list, ro);
    }
    json_object_set_new(o, "runs", list);
    return o;
}
