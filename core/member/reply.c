/* core/member/reply.c - the bottom of the member role: replies and errors
 * to clients, commands committed with what to do once applied (pending),
 * batches of dispatches, results and requeues, and each runtime session's
 * outbox (acks and dispatches sent once per loop turn); sessions dropped
 * when silent, refusals of registrations counted. */
#include "member/internal.h"

static void s_rt_free(assay_leader *self, s_rt *r)
{
    assay_index_remove(self->rts, r->id);
    msgpack_sbuffer_destroy(&r->out_jobs);
    free(r->acks);
    free(r);
}

void mb_forget_runtimes(assay_leader *self)
{
    for (s_rt *r = self->rt_list, *next; r; r = next) {
        next = r->next;
        s_rt_free(self, r);
    }
    self->rt_list = NULL;
    self->out_list = NULL;
}

/* Drops the sessions of runtimes silent for twice their allowance (marked
 * dead by then): a flood of registrations that never heartbeat cannot
 * fill the table. A runtime that comes back registers again. */
void mb_expire_sessions(assay_leader *self, int64_t now)
{
    for (s_rt **pp = &self->rt_list, *r; (r = *pp);) {
        if (r->out_listed ||
            now - r->last_seen_ms <=
                2 * r->heartbeat_ms * self->conf->heartbeat_misses) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        assay_debug("runtime %s: session dropped after %lld ms of silence",
                    r->id, (long long)(now - r->last_seen_ms));
        s_rt_free(self, r);
    }
}

/* Says that a registration was refused, at most every REFUSAL_LOG_MS. */
void mb_refused(assay_leader *self, const char *id)
{
    int64_t now = assay_now_ms();
    self->refused++;
    if (now - self->refused_logged_ms < REFUSAL_LOG_MS)
        return;
    assay_logf_ids(ASSAY_LOG_WARN, NULL, id,
                   "refused registration from %s: max_runtimes (%lld) sessions "
               "held (%llu refused since the last such line)",
               id, (long long)self->conf->max_runtimes,
               (unsigned long long)(self->refused - self->refused_said));
    self->refused_logged_ms = now;
    self->refused_said = self->refused;
}

const char *mb_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

void mb_reply(assay_leader *self, const assay_bytes *route, const char *service,
              json_t *body)
{
    if (json_is_false(json_object_get(body, "ok"))) {
        json_int_t code = json_integer_value(json_object_get(body, "code"));
        self->refusals[code < 0 && -code < MB_REFUSAL_CODES ? -code : 0]++;
    }
    int rc = assay_link_send(self->link, self->server, route,
                             ASSAY_MDP_CLIENT, service, body);
    if (rc)
        assay_debug("reply %s: %s", service, assay_strerror(rc));
    json_decref(body);
}

s_pending *mb_pending_new(assay_leader *self, const assay_bytes *route,
                          const char *verb, json_t *data)
{
    s_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->leader = self;
    p->route_len = route && route->len <= sizeof p->route ? route->len : 0;
    if (p->route_len)
        memcpy(p->route, route->data, p->route_len);
    strlcpy(p->verb, verb, sizeof p->verb);
    p->data = data;
    return p;
}

void mb_batch_clear(s_batch *b)
{
    assay_cmd_list_destroy(&b->list);
    free(b->items);
    *b = (s_batch){0};
}

/* Notes one more entry of b, which the caller then appends to b->list;
 * false without memory. */
bool mb_batch_add(s_batch *b, const char *job, int64_t attempt,
                  const char *runtime)
{
    if (!b->list && !(b->list = assay_cmd_list_new()))
        return false;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        s_item *items = realloc(b->items, cap * sizeof *items);
        if (!items)
            return false;
        b->items = items;
        b->cap = cap;
    }
    s_item *it = &b->items[b->n++];
    strlcpy(it->job, job, sizeof it->job);
    strlcpy(it->runtime, runtime ? runtime : "", sizeof it->runtime);
    it->attempt = attempt;
    return true;
}

void mb_pending_free(s_pending *p)
{
    json_decref(p->data);
    mb_batch_clear(&p->batch);
    free(p);
}

assay_bytes mb_route(const s_pending *p)
{
    return (assay_bytes){p->route, p->route_len};
}

int mb_commit(assay_leader *self, assay_cmd *cmd, assay_commit_cb cb, void *arg)
{
    if (!cmd)
        return ASSAY_ENOMEM;
    int rc = S_COP(self, submit, self->cons, assay_cmd_data(cmd),
                   assay_cmd_size(cmd), cb, arg);
    self->committed = self->committed || rc == 0;
    assay_cmd_destroy(&cmd);
    return rc;
}

/* A liveness change in flight: which runtime, and whom to tell. */
typedef struct {
    assay_leader *leader;
    char id[64];
    assay_commit_cb cb;
    void *arg;
} s_flip;

static void s_flipped(void *arg, int status, void *result)
{
    s_flip *f = arg;
    assay_index_remove(f->leader->flipping, f->id);
    f->cb(f->arg, status, result);
    free(f);
}

/* Commits that runtime `id` is alive or dead, unless a change of its
 * liveness is in flight already (ASSAY_EBUSY): until the first is
 * applied, every tick would find a silent runtime still alive, and every
 * message of a dead one would find it still dead, and commit again. */
int mb_commit_liveness(assay_leader *self, const char *id, bool alive,
                       assay_commit_cb cb, void *arg)
{
    if (assay_index_get(self->flipping, id))
        return ASSAY_EBUSY;
    s_flip *f = calloc(1, sizeof *f);
    if (!f)
        return ASSAY_ENOMEM;
    *f = (s_flip){.leader = self, .cb = cb, .arg = arg};
    strlcpy(f->id, id, sizeof f->id);
    int rc = assay_index_put(self->flipping, f->id, f);
    if (!rc)
        rc = mb_commit(self, assay_cmd_runtime_state(id, alive), s_flipped,
                       f);
    if (rc) {
        assay_index_remove(self->flipping, f->id);
        free(f);
    }
    return rc;
}

/* Fire-and-forget commits: the result is only freed. */
void mb_ignore(void *arg, int status, void *result)
{
    (void)arg;
    if (status)
        assay_warn("commit failed: %s", assay_strerror(status));
    json_decref(result);
}

/* Says (at debug level) that a message to r could not be sent. */
static void s_send_rt_failed(const s_rt *r, const char *verb, int rc)
{
    if (rc)
        assay_debug("to runtime %s: %s: %s", r->id, verb,
                    assay_strerror(rc));
}

void mb_send_rt(assay_leader *self, const s_rt *r, const char *verb,
                const json_t *body)
{
    assay_bytes route = {r->route, r->route_len};
    s_send_rt_failed(r, verb,
                     assay_link_send(self->link, self->server, &route,
                                     ASSAY_RUNTIME_PROTO, verb, body));
}

/* r's registry entry, looked up once: entries live until the state is
 * cleared, when a snapshot is restored (mb_fsm_restore forgets them). */
assay_runtime_rec *mb_rt_rec(assay_leader *self, s_rt *r)
{
    if (!r->rec)
        r->rec = assay_state_runtime(self->state, r->id);
    return r->rec;
}

/* Puts r on the list of runtimes with something to send; mb_prepare sends
 * it. Only those are visited there: with a thousand runtimes, walking
 * all of them every loop turn was a fifth of the idle leader's CPU. */
static void s_out_list(assay_leader *self, s_rt *r)
{
    if (!r->out_listed) {
        r->out_listed = true;
        r->out_next = self->out_list;
        self->out_list = r;
    }
}

void mb_queue_ack(assay_leader *self, s_rt *r, const char *job, int64_t attempt,
                  bool stale)
{
    if (r->n_acks == r->cap_acks) {
        size_t cap = r->cap_acks ? 2 * r->cap_acks : 64;
        s_ack *a = realloc(r->acks, cap * sizeof *a);
        if (!a) {
            /* Unacked, the runtime reports again when it re-registers. */
            assay_warn("out of memory acking %.96s", job);
            return;
        }
        r->acks = a;
        r->cap_acks = cap;
    }
    s_ack *a = &r->acks[r->n_acks++];
    strlcpy(a->job, job, sizeof a->job);
    a->attempt = attempt;
    a->stale = stale;
    s_out_list(self, r);
}

/* The dispatch of j's current attempt, packed straight from its record
 * (its params as the log held them): {job, attempt, action, version,
 * params, timeout_ms}. */
void mb_queue_dispatch(assay_leader *self, s_rt *r, const assay_job *j)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r->out_jobs, msgpack_sbuffer_write);
    assay_rtmsg_pack_dispatch(&pk, &(assay_rtmsg_dispatch){
                                       .job = j->id,
                                       .attempt = j->attempt,
                                       .action = j->spec->action,
                                       .version = j->version,
                                       .params = j->params,
                                       .params_len = j->params_len,
                                       .timeout_ms = j->spec->timeout_ms});
    r->n_jobs++;
    s_out_list(self, r);
}

/* Packs acks[from, from + n) of r as an array. */
static void s_pack_acks(msgpack_packer *pk, const s_rt *r, size_t from,
                        size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t k = from; k < from + n; k++) {
        const s_ack *a = &r->acks[k];
        assay_rtmsg_pack_attempt(pk, &(assay_rtmsg_attempt){
                                         a->job, a->attempt, a->stale});
    }
}

/* Sends r a message whose body a packer wrote into sb, and frees it.
 * ASSAY_ENOENT: r's connection is gone (the server socket routes only to
 * connected peers), and r gets no credit until it is heard again. */
static int s_send_rt_packed(assay_leader *self, s_rt *r, const char *verb,
                            msgpack_sbuffer *sb)
{
    assay_bytes route = {r->route, r->route_len},
                body = {(const uint8_t *)sb->data, sb->size};
    int rc = assay_link_send_raw(self->link, self->server, &route,
                                 ASSAY_RUNTIME_PROTO, verb, &body);
    s_send_rt_failed(r, verb, rc);
    msgpack_sbuffer_destroy(sb);
    if (rc == ASSAY_ENOENT)
        r->limit = r->sent;
    return rc;
}

/* Queues a requeue of j's current attempt; `ack_to` (may be NULL) is the
 * runtime whose lost-attempt report this answers. */
void mb_requeue_item(assay_leader *self, assay_job *j, const char *reason,
                     const char *ack_to)
{
    j->reported = true;
    if (!mb_batch_add(&self->requeues, j->id, j->attempt, ack_to) ||
        assay_cmd_list_requeue(self->requeues.list, j->id, j->attempt, reason,
                               ack_to, assay_wall_ms()))
        assay_warn("out of memory queueing the requeue of %s", j->id);
}

/* The dispatches in r's outbox could not be sent: its connection is gone
 * (a runtime that vanished keeps its credit until its heartbeats are
 * missed, and got dispatches all that time). It never received them, so
 * each goes back to the queue now rather than when its lease ends. */
static void s_unreachable(assay_leader *self, s_rt *r)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, r->n_jobs);
    assay_codec_pack_raw(&pk, r->out_jobs.data, r->out_jobs.size);
    json_t *items = NULL;
    if (assay_codec_decode(sb.data, sb.size, &items, NULL, 0))
        items = NULL;
    msgpack_sbuffer_destroy(&sb);
    char why[128];
    snprintf(why, sizeof why, "runtime %s disconnected before the dispatch "
             "reached it", r->id);
    size_t i, n = 0;
    json_t *x;
    json_array_foreach(items, i, x) {
        assay_rtmsg_dispatch d;
        assay_job *j = assay_rtmsg_read_dispatch(x, &d)
                           ? assay_state_job(self->state, d.job)
                           : NULL;
        if (j && j->state == ASSAY_JOB_RUNNING && j->attempt == d.attempt &&
            !j->reported && !strcmp(j->runtime, r->id)) {
            mb_requeue_item(self, j, why, NULL);
            n++;
        }
    }
    json_decref(items);
    assay_logf_ids(ASSAY_LOG_WARN, NULL, r->id,
                   "runtime %s disconnected: %zu dispatched job%s requeued; no "
               "work for it until it is heard again",
               r->id, n, n == 1 ? "" : "s");
}

/* The most acks one message carries: an ack is at most ~128 bytes
 * encoded (a job id of up to 96 characters and an attempt), and every
 * message must stay inside max_message_kb. */
static size_t s_ack_chunk(const assay_leader *self)
{
    size_t room = (size_t)self->conf->max_message_kb * 1024;
    return room > 2048 ? (room - 1024) / 128 : 8;
}

/* Sends acks[from, from + n) as one "ack" message. */
static void s_send_acks(assay_leader *self, s_rt *r, size_t from, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    assay_codec_pack_str(&pk, "jobs");
    s_pack_acks(&pk, r, from, n);
    s_send_rt_packed(self, r, ASSAY_RT_ACK, &sb);
}

/* Sends r's outboxes: dispatches, with the acks collected so far riding
 * along when the runtime said it takes them there. Acks alone wait for
 * the tick (`force`) unless ACK_BATCH piled up: an ack only lets the
 * runtime forget a result, and a message of its own per job was one in
 * six of the messages a job costs at low rates. More acks than one
 * message holds go first, on their own, in parts; so do all acks to a
 * runtime that did not say it takes them in dispatches, at once. */
void mb_flush_rt(assay_leader *self, s_rt *r, bool force)
{
    size_t nd = r->n_jobs, na = r->n_acks;
    if (!nd && (!na || (!force && na < ACK_BATCH && r->acks_ride)))
        return;
    size_t chunk = s_ack_chunk(self);
    if (na && (!nd || na > chunk || !r->acks_ride)) {
        for (size_t i = 0; i < na; i += chunk)
            s_send_acks(self, r, i, na - i < chunk ? na - i : chunk);
        r->n_acks = na = 0;
    }
    if (!nd)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, na ? 2 : 1);
    assay_codec_pack_str(&pk, "jobs");
    msgpack_pack_array(&pk, nd);
    assay_codec_pack_raw(&pk, r->out_jobs.data, r->out_jobs.size);
    if (na) {
        assay_codec_pack_str(&pk, "acks");
        s_pack_acks(&pk, r, 0, na);
    }
    if (s_send_rt_packed(self, r, ASSAY_RT_DISPATCH, &sb) == ASSAY_ENOENT)
        s_unreachable(self, r);
    msgpack_sbuffer_clear(&r->out_jobs);
    r->n_jobs = 0;
    r->n_acks = 0;
}

static void s_commit_replied(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    assay_bytes route = mb_route(p);
    json_t *res = result;
    if (status)
        mb_reply(self, &route, p->verb,
                 assay_cp_error(status, "%s: %s: %s", p->verb,
                                status == ASSAY_EPERM || status == ASSAY_EEXIST
                                    ? "refused as it was applied"
                                    : "not committed",
                                assay_strerror(status)));
    else {
        json_t *body = json_deep_copy(p->data);
        json_object_update_missing(body, res);
        mb_reply(self, &route, p->verb, assay_cp_ok(body));
    }
    json_decref(res);
    mb_pending_free(p);
}

void mb_commit_reply(assay_leader *self, const assay_bytes *route,
                     const char *verb, assay_cmd *cmd, json_t *data)
{
    s_pending *p = mb_pending_new(self, route, verb, data);
    int rc = p ? mb_commit(self, cmd, s_commit_replied, p) : ASSAY_ENOMEM;
    if (!p) {
        assay_cmd_destroy(&cmd);
        json_decref(data);
    }
    if (rc) {
        mb_reply(self, route, verb,
                 assay_cp_error(rc, "%s: cannot commit: %s", verb,
                                assay_strerror(rc)));
        if (p)
            mb_pending_free(p);
    }
}
