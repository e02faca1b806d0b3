/* core/member/sessions.c - the runtimes' side of the member: registration
 * (caps, max_runtimes, re-registration fencing), heartbeats and credit,
 * results (fenced to the current attempt), catalogue updates, and the
 * bounded drain of the transport each loop turn. */
#include "member/internal.h"

/* The catalogue a runtime advertises must have the shape the planner and
 * type checker read; anything else is refused at registration. */
static void s_registered(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    json_decref(result);
    s_rt *r = assay_index_get(self->rts, mb_str(p->data, "id"));
    if (!status && r) {
        json_t *b = json_pack("{s:s}", "leader", self->id);
        mb_send_rt(self, r, ASSAY_RT_REGISTERED, b);
        json_decref(b);
    }
    mb_pending_free(p);
}

mb_capacity mb_capacity_read(const json_t *cap)
{
    const json_t *total = json_object_get(cap, "memory_total_mb");
    json_int_t mem = json_integer_value(
        json_is_integer(total) ? total : json_object_get(cap, "memory_mb"));
    json_int_t cpus = json_integer_value(json_object_get(cap, "cpus"));
    json_int_t ex = json_integer_value(json_object_get(cap, "executors"));
    /* A figure that makes no sense counts as not said. */
    return (mb_capacity){
        .memory_mb = mem > 0 ? mem : 0,
        .cpu_milli = cpus > 0 && cpus <= 1000000 ? cpus * 1000 : 0,
        .executors = ex > 0 ? ex : 1};
}

static void s_on_register(assay_leader *self, const assay_link_msg *m)
{
    const json_t *b = m->body;
    const char *id = mb_str(b, "id");
    json_int_t hb = json_integer_value(json_object_get(b, "heartbeat_ms"));
    const json_t *ride = json_object_get(b, "acks_in_dispatch");
    const char *fault = m->route.len > sizeof((s_rt *)0)->route
                            ? "routing id too long"
                            : assay_registration_fault(b);
    if (fault) {
        assay_warn("refused registration from %.64s: %s", id ? id : "(no id)",
                   fault);
        return;
    }
    if (!mb_may_be(self, m, id))
        return;
    s_rt *r = assay_index_get(self->rts, id);
    /* A live session of another key keeps its id: a key shared by a fleet
     * ("NAME*") must not take over a runtime it does not run. */
    if (r && m->peer && strcmp(r->key, m->peer) &&
        assay_now_ms() - r->last_seen_ms <=
            r->heartbeat_ms * self->conf->heartbeat_misses) {
        assay_logf_ids(ASSAY_LOG_WARN, NULL, id,
                   "refused registration as runtime %s from key %s: key %s "
                   "holds its live session",
                   id, m->peer, r->key);
        return;
    }
    if (!r) {
        if (assay_index_size(self->rts) >= (size_t)self->conf->max_runtimes) {
            mb_refused(self, id);
            return;
        }
        if (!(r = calloc(1, sizeof *r))) {
            assay_warn("refused registration from %s: out of memory", id);
            return;
        }
        strlcpy(r->id, id, sizeof r->id);
        assay_index_put(self->rts, id, r);
        r->next = self->rt_list;
        self->rt_list = r;
    }
    memcpy(r->route, m->route.data, m->route.len);
    r->route_len = m->route.len;
    strlcpy(r->key, m->peer ? m->peer : "", sizeof r->key);
    r->last_seen_ms = assay_now_ms();
    r->heartbeat_ms = hb;
    r->sent = 0; /* a new session: the runtime counts from zero too */
    r->limit = 0;
    mb_capacity cap = mb_capacity_read(json_object_get(b, "capacity"));
    r->mem_total_mb = cap.memory_mb;
    r->cpu_total_milli = cap.cpu_milli;
    r->executors = cap.executors;
    r->acks_ride = json_is_true(ride);
    /* Jobs the state has running there that the runtime no longer holds
     * at their current attempt (it restarted, or it is not the session
     * that ran them) are lost attempts. */
    assay_index *held = assay_index_new();
    assay_rtmsg_alive alive;
    assay_rtmsg_read_alive(b, &alive);
    size_t i;
    json_t *x;
    json_array_foreach(alive.running, i, x) {
        assay_rtmsg_attempt h;
        if (held && assay_rtmsg_read_attempt(x, &h))
            assay_index_put(held, h.job, x);
    }
    for (assay_job *j = assay_state_running_on(self->state, id, NULL); j;
         j = j->rt_next) {
        assay_rtmsg_attempt h = {0};
        const json_t *it = held ? assay_index_get(held, j->id) : NULL;
        if (it)
            assay_rtmsg_read_attempt(it, &h);
        if (held && !j->reported && (!it || h.attempt != j->attempt))
            mb_requeue_item(self, j, "runtime restarted", NULL);
    }
    assay_index_destroy(&held);
    assay_cmd *cmd = assay_cmd_runtime(
        id, hb, json_object_get(b, "labels"), json_object_get(b, "capacity"),
        json_object_get(b, "catalog"),
        assay_state_level(self->state) >= ASSAY_LEVEL_EVIDENCE
            ? json_object_get(b, "host")
            : NULL);
    s_pending *p = mb_pending_new(self, &m->route, ASSAY_RT_REGISTER,
                                  json_pack("{s:s}", "id", id));
    int rc = ASSAY_ENOMEM;
    if (p)
        rc = mb_commit(self, cmd, s_registered, p);
    else
        assay_cmd_destroy(&cmd);
    if (rc) {
        /* A member short of space said so once; the runtime retries. */
        if (rc == ASSAY_ENOSPC)
            assay_debug("cannot commit registration of %s: %s", id,
                        assay_strerror(rc));
        else
            assay_warn("cannot commit registration of %s: %s", id,
                       assay_strerror(rc));
        if (p)
            mb_pending_free(p);
        return;
    }
    assay_logf_ids(ASSAY_LOG_INFO, NULL, id,
               "runtime %s registered (heartbeat %lld ms)", id,
               (long long)hb);
}

/* Credit and liveness, carried by heartbeats and results alike. */
static void s_on_alive(assay_leader *self, s_rt *r, const json_t *b)
{
    assay_rtmsg_alive a;
    assay_rtmsg_read_alive(b, &a);
    r->last_seen_ms = assay_now_ms();
    if (a.limit >= 0) {
        self->dirty = self->dirty || (uint64_t)a.limit > r->limit;
        r->limit = (uint64_t)a.limit;
    }
    if (a.mem_available_mb >= 0) {
        self->dirty = self->dirty || a.mem_available_mb > r->mem_available_mb;
        r->mem_available_mb = a.mem_available_mb;
    }
    /* Jobs it reports holding keep their lease: one may wait behind
     * others in an executor queue; silence is what the heartbeat rule
     * catches. */
    size_t i;
    json_t *x;
    int64_t now = assay_now_ms();
    json_array_foreach(a.running, i, x) {
        assay_rtmsg_attempt h;
        assay_job *j = assay_rtmsg_read_attempt(x, &h)
                           ? assay_state_job(self->state, h.job)
                           : NULL;
        if (j && j->state == ASSAY_JOB_RUNNING && !j->reported &&
            j->attempt == h.attempt && !strcmp(j->runtime, r->id))
            j->lease_ms = now + j->spec->timeout_ms +
                          self->conf->lease_grace_ms;
    }
    if (a.why)
        strlcpy(r->why, a.why, sizeof r->why);
    assay_runtime_rec *rec = assay_state_runtime(self->state, r->id);
    if (rec && !rec->alive)
        mb_commit_liveness(self, r->id, true, mb_ignore, NULL);
}

/* Levels of nesting in v (a scalar is 1); the decoder bounds it. */
static int s_depth(const json_t *v)
{
    int d = 0;
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x) {
            int c = s_depth(x);
            d = c > d ? c : d;
        }
    else if (json_is_array(v))
        json_array_foreach(v, i, x) {
            int c = s_depth(x);
            d = c > d ? c : d;
        }
    return d + 1;
}

/* A result sits deeper in a snapshot ({specs:[{jobs:[{result}]}]}) than
 * in the message that brought it; nested beyond this it could not be
 * decoded from the snapshot again. */
#define RESULT_MAX_DEPTH (ASSAY_CODEC_MAX_DEPTH - 8)

static void s_on_result(assay_leader *self, s_rt *r, const json_t *b)
{
    assay_rtmsg_result rep;
    assay_rtmsg_read_result(b, &rep);
    const char *jid = rep.job;
    int64_t attempt = rep.attempt;
    json_t *res = rep.result;
    assay_job *j = assay_state_job(self->state, jid);
    if (!j || !res || j->state != ASSAY_JOB_RUNNING ||
        j->attempt != attempt || strcmp(j->runtime, r->id) || j->reported) {
        /* Fencing: a late or foreign result changes nothing. The id is
         * the runtime's word: cut as in the text. */
        char jshort[97];
        snprintf(jshort, sizeof jshort, "%s", jid ? jid : "(none)");
        assay_logf_ids(ASSAY_LOG_INFO, jshort, r->id,
                   "ignored result for %.96s attempt %lld from %s (job %s)",
                   jid ? jid : "(none)", (long long)attempt, r->id,
                   j ? assay_job_state_name(j->state) : "unknown");
        mb_queue_ack(self, r, jid ? jid : "", attempt, true);
        return;
    }
    if (json_is_true(json_object_get(res, "retryable"))) {
        mb_requeue_item(self, j,
                        mb_str(res, "reason") ? mb_str(res, "reason")
                                              : "attempt lost",
                        r->id);
    } else {
        j->reported = true; /* recorded once: later copies are stale */
        json_object_del(res, "retryable"); /* the message's own */
        json_t *deep = NULL;
        if (s_depth(res) > RESULT_MAX_DEPTH) {
            assay_logf_ids(ASSAY_LOG_WARN, j->id, r->id,
                       "runtime %s: result of %s nested deeper than %d "
                       "levels: recorded as an error",
                       r->id, j->id, RESULT_MAX_DEPTH);
            deep = json_pack("{s:s, s:s, s:s, s:[], s:{}}", "status",
                             "error", "reason", "result too deep", "message",
                             "the runtime's result was nested deeper than "
                             "the member keeps",
                             "findings", "data");
        }
        if (!mb_batch_add(&self->results, j->id, attempt, r->id) ||
            assay_cmd_list_result(self->results.list, j->id, attempt,
                                  deep ? deep : res, r->id, assay_wall_ms()))
            assay_warn("out of memory queueing the result of %s", j->id);
        json_decref(deep);
    }
}

/* A runtime's plugins changed (hot loading): commit what it offers now;
 * what may run where is then planned anew. */
static void s_on_catalog(assay_leader *self, s_rt *r, const json_t *b)
{
    const json_t *cat = json_object_get(b, "catalog");
    assay_runtime_rec *rec = assay_state_runtime(self->state, r->id);
    const char *fault = rec ? assay_catalog_fault(cat) : "not registered";
    if (fault) {
        assay_logf_ids(ASSAY_LOG_WARN, NULL, r->id,
                       "runtime %s: catalogue update refused: %s", r->id,
                       fault);
        return;
    }
    mb_commit(self,
              assay_cmd_runtime(rec->id, rec->heartbeat_ms,
                                json_object_get(rec->info, "labels"),
                                json_object_get(rec->info, "capacity"), cat,
                                json_object_get(rec->info, "host")),
              mb_ignore, NULL);
    assay_logf_ids(ASSAY_LOG_INFO, NULL, r->id, "runtime %s: catalogue updated",
                   r->id);
}

/* A message from a runtime whose key was revoked while it was connected
 * (the transport marks it): the session that key holds gets no more work,
 * and the next tick finds it silent, declares it dead and moves its jobs. */
static void s_cut_revoked(assay_leader *self, const assay_link_msg *m)
{
    s_rt *r = json_is_object(m->body)
                  ? assay_index_get(self->rts, mb_str(m->body, "id"))
                  : NULL;
    if (!r || !m->peer || strcmp(r->key, m->peer) ||
        r->last_seen_ms == INT64_MIN / 2)
        return;
    assay_logf_ids(ASSAY_LOG_WARN, NULL, r->id,
               "runtime %s: its key %s was revoked: no more jobs for it, "
               "and those it runs move", r->id, m->peer);
    r->limit = r->sent;
    r->last_seen_ms = INT64_MIN / 2;
}

static void s_on_runtime(assay_leader *self, const assay_link_msg *m)
{
    if (!mb_may_run(self, m)) {
        if (m->role && !strcmp(m->role, ASSAY_ROLE_NAME_REVOKED))
            s_cut_revoked(self, m);
        return;
    }
    if (!json_is_object(m->body)) {
        assay_warn("runtime message %s without a map body: dropped", m->verb);
        return;
    }
    if (!self->leading) {
        /* Sent to the leader we were, or to any member it joined: point
         * it at the leader; while none is known it tries its next one. */
        const json_t *l = mb_known_leader(self);
        if (l) {
            json_t *b = json_pack("{s:s}", "leader", mb_str(l, "endpoint"));
            assay_link_send(self->link, self->server, &m->route,
                            ASSAY_RUNTIME_PROTO, ASSAY_RT_REDIRECT, b);
            json_decref(b);
        }
        return;
    }
    if (!strcmp(m->verb, ASSAY_RT_REGISTER)) {
        s_on_register(self, m);
        return;
    }
    s_rt *r = assay_index_get(self->rts, mb_str(m->body, "id"));
    if (!r || r->route_len != m->route.len ||
        memcmp(r->route, m->route.data, m->route.len) ||
        (m->peer && strcmp(r->key, m->peer))) {
        /* Unknown here (we restarted, or it reconnected): register again. */
        assay_link_send(self->link, self->server, &m->route,
                        ASSAY_RUNTIME_PROTO, ASSAY_RT_REREGISTER, NULL);
        return;
    }
    if (!strcmp(m->verb, ASSAY_RT_HEARTBEAT)) {
        s_on_alive(self, r, m->body);
        /* Lets the runtime tell a silent (dead, cut-off) leader apart. */
        mb_send_rt(self, r, ASSAY_RT_PULSE, NULL);
    } else if (!strcmp(m->verb, ASSAY_RT_CATALOG))
        s_on_catalog(self, r, m->body);
    else if (!strcmp(m->verb, ASSAY_RT_BYE)) {
        /* An orderly shutdown: no more work for it, and what it ran moves
         * now, not after its heartbeats are missed. */
        assay_runtime_rec *rec = mb_rt_rec(self, r);
        if (rec && rec->alive && !assay_index_get(self->flipping, r->id)) {
            assay_logf_ids(ASSAY_LOG_INFO, NULL, r->id,
                           "runtime %s leaves: its jobs move now", r->id);
            mb_runtime_gone(self, rec, r, "runtime left");
        }
    } else if (!strcmp(m->verb, ASSAY_RT_RESULT)) {
        s_on_alive(self, r, m->body);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(m->body, "results"), i, it)
            s_on_result(self, r, it);
    } else
        assay_logf_ids(ASSAY_LOG_WARN, NULL, r->id,
                       "runtime %s: unknown command '%s': dropped", r->id,
                   m->verb);
}

/* Handles what arrived; returns how many messages there were. Bounded,
 * so a flood cannot starve timers; `more` makes the next poll return at
 * once. */
int mb_drain(assay_leader *self)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_link_msg m;
    int i;
    size_t bytes = 0;
    self->more = true;
    /* Bounded per turn, in messages and in bytes decoded, so that a flood
     * of large messages cannot hold the loop: the rest waits a turn. */
    for (i = 0; i < 4096 && bytes < DRAIN_BYTES; i++) {
        int rc = assay_link_recv(self->link, &m, err, sizeof err);
        if (rc == 0) {
            self->more = false;
            break;
        }
        if (rc < 0) {
            if (!strcmp(m.proto, ASSAY_MDP_CLIENT) && m.route.len)
                mb_reply(self, &m.route, m.verb, assay_cp_error(rc, "%s", err));
            else
                assay_warn("dropped message: %s", err);
        } else if (!strcmp(m.proto, ASSAY_MDP_CLIENT)) {
            mb_on_client(self, &m);
        } else if (!strcmp(m.proto, ASSAY_RUNTIME_PROTO)) {
            s_on_runtime(self, &m);
        } else {
            assay_warn("dropped message with unknown protocol '%.16s'",
                       m.proto);
        }
        bytes += m.raw_body ? m.raw_body->len : 0;
        assay_link_msg_fini(&m);
    }
    return i;
}

void mb_on_transport(void *arg, int fd, short revents)
{
    (void)fd;
    (void)revents;
    mb_drain(arg);
}
