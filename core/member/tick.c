/* core/member/tick.c - what the member does every TICK_MS: leases of
 * running jobs, silent runtimes marked dead, retention (expire, forget;
 * what stream consumers hold is kept), parked stream reads and the
 * notification hooks' reaping. */
#include "member/internal.h"

void mb_chore_done(void *arg, int status, void *result)
{
    s_chore *chore = arg;
    chore->busy = false;
    if (status)
        assay_warn("%s: %s", chore->what, assay_strerror(status));
    json_decref(result);
}

/* Retention: what fell out of retain_jobs / retain_seconds is forgotten
 * by a replicated "expire", one bounded batch in flight at a time. */
static void s_expire(assay_leader *self, int64_t now)
{
    if (self->expiring.busy ||
        assay_state_level(self->state) < ASSAY_LEVEL_RETENTION)
        return;
    assay_retention policy = {.keep_jobs = self->conf->retain_jobs,
                              .keep_ms = self->conf->retain_seconds * 1000};
    uint64_t held_after;
    mb_stream_hold(self, &policy, &held_after);
    json_t *ids = json_array();
    if (!ids || !assay_state_expirable(self->state, &policy, now, ids,
                                       MAX_EXPIRE_BATCH)) {
        json_decref(ids);
        return;
    }
    self->expiring.busy = mb_commit(self, assay_cmd_expire(ids), mb_chore_done,
                                    &self->expiring) == 0;
    json_decref(ids);
}

/* Dead runtimes are forgotten by a replicated "forget" once this leader
 * has seen them dead for retain_runtime_seconds, when they hold no
 * running job and no session here: ids never seen again must not pile up
 * in every member. Death is timed by this leader's view (a new one starts
 * counting when it first sees them dead). Once a second, a batch at a
 * time. */
static void s_forget_dead(assay_leader *self, int64_t now)
{
    int64_t keep_ms = self->conf->retain_runtime_seconds * 1000;
    if (self->forgetting.busy || keep_ms <= 0 || now < self->forget_check_ms ||
        assay_state_level(self->state) < ASSAY_LEVEL_FORGET)
        return;
    self->forget_check_ms = now + 1000;
    json_t *ids = json_array();
    assay_runtime_rec *rec;
    for (size_t i = 0; (rec = assay_state_runtime_at(self->state, i)); i++) {
        size_t running = 0;
        if (rec->alive) {
            rec->dead_seen_ms = 0;
            continue;
        }
        if (!rec->dead_seen_ms)
            rec->dead_seen_ms = now;
        assay_state_running_on(self->state, rec->id, &running);
        if (now - rec->dead_seen_ms >= keep_ms && !running &&
            !assay_index_get(self->rts, rec->id) &&
            json_array_size(ids) < MAX_EXPIRE_BATCH)
            json_array_append_new(ids, json_string(rec->id));
    }
    if (ids && json_array_size(ids))
        self->forgetting.busy = mb_commit(self, assay_cmd_forget(ids),
                                          mb_chore_done, &self->forgetting) == 0;
    json_decref(ids);
}

void mb_runtime_gone(assay_leader *self, assay_runtime_rec *rec, s_rt *r,
                     const char *why)
{
    /* Announced (notify_command) once the log records it, as every
     * event is (notify.c): a leader deposed while it was stopped judges
     * every runtime silent, but its verdict never commits. */
    if (mb_commit_liveness(self, rec->id, false, mb_ignore, NULL) != 0)
        assay_logf_ids(ASSAY_LOG_WARN, NULL, rec->id,
                       "cannot commit the death of runtime %s", rec->id);
    for (assay_job *j = assay_state_running_on(self->state, rec->id, NULL); j;
         j = j->rt_next)
        if (!j->reported)
            mb_requeue_item(self, j, why, NULL);
    if (r)
        r->limit = r->sent; /* no credit until it speaks again */
}

/* Whether rec, last heard at `seen`, is silent past its heartbeats and
 * must be declared dead now. */
static bool s_silent(assay_leader *self, const assay_runtime_rec *rec,
                     int64_t seen, int64_t now, bool flips)
{
    return rec->alive && now - seen > rec->heartbeat_ms *
                                          self->conf->heartbeat_misses &&
           !(flips && assay_index_get(self->flipping, rec->id));
}

static void s_dead(assay_leader *self, assay_runtime_rec *rec, s_rt *r)
{
    assay_logf_ids(ASSAY_LOG_WARN, NULL, rec->id,
                   "runtime %s missed %lld heartbeats: marking it dead", rec->id,
               (long long)self->conf->heartbeat_misses);
    mb_runtime_gone(self, rec, r, "runtime dead");
}

/* Heartbeats: silent runtimes are dead; their jobs move at once. The
 * sessions are walked with the registry entries they hold (with 4,096
 * runtimes, two lookups by id per runtime at every tick were a third of
 * the idle leader's loop); the registry only while some registered
 * runtime has no session here (not back since we took the lead). */
static void s_liveness(assay_leader *self, int64_t now)
{
    bool flips = assay_index_size(self->flipping) > 0;
    size_t held = 0;
    for (s_rt *r = self->rt_list; r; r = r->next) {
        assay_runtime_rec *rec = mb_rt_rec(self, r);
        if (!rec)
            continue;
        held++;
        if (s_silent(self, rec, r->last_seen_ms, now, flips))
            s_dead(self, rec, r);
    }
    if (held >= json_array_size(assay_state_runtime_ids(self->state)))
        return;
    assay_runtime_rec *rec;
    for (size_t i = 0; (rec = assay_state_runtime_at(self->state, i)); i++) {
        if (assay_index_get(self->rts, rec->id))
            continue; /* walked above */
        /* One not yet back since we took the lead gets longer: it must
         * notice the old leader's silence and find us first. */
        int64_t seen =
            self->started_ms + rec->heartbeat_ms * REJOIN_GRACE_BEATS;
        if (s_silent(self, rec, seen, now, flips))
            s_dead(self, rec, NULL);
    }
}

void mb_tick(void *arg)
{
    assay_leader *self = arg;
    int64_t now = assay_now_ms();
    mb_notify_reap(self);
    mb_stream_tick(self, now);
    if (++self->ticks % (1000 / TICK_MS) == 0) {
        mb_guests_check(self);
        mb_rates_sample(self);
    }
    if (!self->leading)
        return;
    s_expire(self, assay_wall_ms());
    s_forget_dead(self, now);
    mb_scheds_tick(self);
    /* Acks left waiting for a dispatch to ride on go now: those runtimes
     * stay on the outbox list (mb_prepare), and only they are visited. */
    for (s_rt *r = self->out_list; r; r = r->out_next)
        mb_flush_rt(self, r, true);
    /* Leases: a job whose result is overdue goes back to the queue. */
    for (assay_job *j = assay_state_running(self->state); j; j = j->next) {
        if (j->reported)
            continue; /* its requeue or result is being committed */
        if (!j->lease_ms) {
            /* Running before we led: a fresh lease from now. */
            if (!j->dispatching)
                j->lease_ms = now + j->spec->timeout_ms +
                              self->conf->lease_grace_ms;
            continue;
        }
        if (now < j->lease_ms)
            continue;
        s_rt *r = assay_index_get(self->rts, j->runtime);
        if (r) {
            json_t *b = json_pack("{s:s, s:I}", "job", j->id, "attempt",
                                  (json_int_t)j->attempt);
            mb_send_rt(self, r, ASSAY_RT_CANCEL, b);
            json_decref(b);
        }
        mb_requeue_item(
            self, j, "lease expired: no result within timeout + grace", NULL);
    }
    if (self->ticks % LIVENESS_TICKS == 0)
        s_liveness(self, now);
    if (self->ticks % (1000 / TICK_MS) == 0)
        mb_expire_sessions(self, now);
}
