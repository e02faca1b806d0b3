/* core/member/stream.c - assay.stream (docs/protocol.md#assaystream):
 * the result stream read from a position, durable consumers, and what
 * they hold back from retention.
 *
 * Every ended job has a replicated stream position (core/state/
 * stream.c), the same on every member, so a reader that remembers the
 * last position it has resumes through any leader with nothing missed
 * and nothing twice. Positions are dense: a reply counts the ones in its
 * range that are no longer held (`gone`: expired, or restarted and ended
 * again at a new position). A read with nothing to return may wait
 * (wait_ms): it is parked and answered at a tick once something ends,
 * its wait is over, or this member stops leading. Consumers are
 * replicated (core/state/consumer.c); one further behind than
 * stream_max_lag is marked behind by the leader, once, and holds
 * nothing back until it acknowledges again. */
#include "member/internal.h"

/* Reads parked at once; one more is answered at once (empty). */
#define PARKED_MAX 1024

typedef struct {
    s_pending *p; /* route, verb, and the request (data) */
    int64_t deadline;
} s_parked;

/* A reply body above this is not kept for the next one. */
#define SCRATCH_KEEP (8u << 20)
/* Records of one reply stop once they take this many bytes (one is sent
 * whatever its size): every value takes a byte at least, so a reply stays
 * within what a reader decodes (ASSAY_CODEC_MAX_VALUES) whatever the
 * records hold. */
#define PAGE_BYTES (192u << 10)

struct mb_stream {
    s_parked parked[PARKED_MAX];
    size_t n;
    s_chore marking; /* "consumer": one marked behind, in flight */
    /* Replies are packed straight from the records (no JSON tree): a
     * page of a thousand full records is the hot path of a reader
     * catching up. */
    msgpack_sbuffer sb, records;
    msgpack_zone *zone;
};

int mb_stream_new(assay_leader *self)
{
    struct mb_stream *s = calloc(1, sizeof *s);
    if (s && !(s->zone = msgpack_zone_new(8192))) {
        free(s);
        s = NULL;
    }
    if (s) {
        s->marking.what = "stream: marking a consumer behind";
        msgpack_sbuffer_init(&s->sb);
        msgpack_sbuffer_init(&s->records);
    }
    self->stream = s;
    return s ? 0 : ASSAY_ENOMEM;
}

void mb_stream_destroy(assay_leader *self)
{
    struct mb_stream *s = self->stream;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        mb_pending_free(s->parked[i].p);
    msgpack_sbuffer_destroy(&s->sb);
    msgpack_sbuffer_destroy(&s->records);
    msgpack_zone_free(s->zone);
    free(s);
    self->stream = NULL;
}

static void s_pack_consumer(msgpack_packer *pk, const assay_state *st,
                            const assay_consumer_rec *c)
{
    msgpack_pack_map(pk, 6);
    assay_codec_pack_kv_str(pk, "name", c->name);
    assay_codec_pack_kv_int(pk, "acked", (int64_t)c->acked);
    assay_codec_pack_kv_int(pk, "lag",
                            (int64_t)(assay_state_stream_end(st) - c->acked));
    assay_codec_pack_kv_bool(pk, "behind", c->behind);
    assay_codec_pack_kv_int(pk, "created_ms", c->created_ms);
    assay_codec_pack_kv_int(pk, "acked_ms", c->acked_ms);
}

/* A packer into the scratch buffer, emptied. */
static void s_packer(struct mb_stream *s, msgpack_packer *pk)
{
    msgpack_sbuffer_clear(&s->sb);
    msgpack_packer_init(pk, &s->sb, msgpack_sbuffer_write);
}

/* Sends what the scratch buffer holds as the reply. */
static void s_send(assay_leader *self, const assay_bytes *route,
                   const char *verb)
{
    struct mb_stream *s = self->stream;
    assay_bytes body = {(const uint8_t *)s->sb.data, s->sb.size};
    int rc = assay_link_send_raw(self->link, self->server, route,
                                 ASSAY_MDP_CLIENT, verb, &body);
    if (rc)
        assay_debug("reply %s: %s", verb, assay_strerror(rc));
    if (s->sb.alloc > SCRATCH_KEEP) {
        msgpack_sbuffer_destroy(&s->sb);
        msgpack_sbuffer_init(&s->sb);
    }
    if (s->records.alloc > SCRATCH_KEEP) {
        msgpack_sbuffer_destroy(&s->records);
        msgpack_sbuffer_init(&s->records);
    }
}

/* The position a read starts after: `from`, else the consumer's, else
 * the start. */
static uint64_t s_from(const assay_state *st, const assay_cp_stream *req)
{
    const assay_consumer_rec *c = assay_state_consumer(st, req->consumer);
    return req->from >= 0 ? (uint64_t)req->from : c ? c->acked : 0;
}

/* Answers a read, `from` not beyond the end: {ok, events, from, next,
 * end, first, gone, consumer?}. The records are packed apart first, so
 * that their count is known before the array's header. */
static void s_read(assay_leader *self, const assay_bytes *route,
                   const char *verb, const assay_cp_stream *req)
{
    const assay_state *st = self->state;
    struct mb_stream *s = self->stream;
    uint64_t from = s_from(st, req), end = assay_state_stream_end(st);
    uint64_t prev = from, gone = 0;
    msgpack_packer pk;
    msgpack_sbuffer_clear(&s->records);
    msgpack_packer_init(&pk, &s->records, msgpack_sbuffer_write);
    const assay_job *j = assay_state_stream_after(st, from);
    int64_t n = 0;
    for (; j && n < req->max && s->records.size < PAGE_BYTES;
         j = assay_state_stream_after(st, j->end->pos)) {
        gone += j->end->pos - prev - 1;
        prev = j->end->pos;
        mb_evidence_pack(&pk, j, s->zone);
        n++;
    }
    if (!j) { /* read to the end: what is not held is gone */
        gone += end - prev;
        prev = end;
    }
    const assay_consumer_rec *c = assay_state_consumer(st, req->consumer);
    const assay_job *first = assay_state_stream_after(st, 0);
    s_packer(s, &pk);
    msgpack_pack_map(&pk, 7 + !!c);
    assay_codec_pack_kv_bool(&pk, "ok", true);
    assay_codec_pack_str(&pk, "events");
    msgpack_pack_array(&pk, (size_t)n);
    msgpack_sbuffer_write(&s->sb, s->records.data, s->records.size);
    assay_codec_pack_kv_int(&pk, "from", (int64_t)from);
    assay_codec_pack_kv_int(&pk, "next", (int64_t)prev);
    assay_codec_pack_kv_int(&pk, "end", (int64_t)end);
    assay_codec_pack_kv_int(&pk, "first",
                            (int64_t)(first ? first->end->pos : end + 1));
    assay_codec_pack_kv_int(&pk, "gone", (int64_t)gone);
    if (c) {
        assay_codec_pack_str(&pk, "consumer");
        s_pack_consumer(&pk, st, c);
    }
    s_send(self, route, verb);
}

static void s_consumers(assay_leader *self, const assay_bytes *route,
                        const char *verb)
{
    size_t n = assay_state_consumers(self->state);
    msgpack_packer pk;
    s_packer(self->stream, &pk);
    msgpack_pack_map(&pk, 4);
    assay_codec_pack_kv_bool(&pk, "ok", true);
    assay_codec_pack_str(&pk, "consumers");
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++)
        s_pack_consumer(&pk, self->state,
                        assay_state_consumer_at(self->state, i));
    assay_codec_pack_kv_int(&pk, "end",
                            (int64_t)assay_state_stream_end(self->state));
    assay_codec_pack_kv_int(&pk, "max_lag", self->conf->stream_max_lag);
    s_send(self, route, verb);
}

/* A read with nothing to return yet waits, if it may and there is room. */
static bool s_park(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body,
                   const assay_cp_stream *req)
{
    struct mb_stream *s = self->stream;
    if (!req->wait_ms || s->n == PARKED_MAX ||
        s_from(self->state, req) < assay_state_stream_end(self->state))
        return false;
    s_pending *p = mb_pending_new(self, route, verb, json_deep_copy(body));
    if (!p)
        return false;
    s->parked[s->n++] = (s_parked){p, assay_now_ms() + req->wait_ms};
    return true;
}

void mb_svc_stream(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body)
{
    assay_cp_stream req;
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_cp_read_stream(body, &req, err, sizeof err);
    if (!rc && assay_state_level(self->state) < ASSAY_LEVEL_EVIDENCE)
        rc = assay_errf(err, sizeof err, ASSAY_EUNSUPP,
                        "%s: the cluster is at feature level %lld; the "
                        "stream needs %d (`assayctl cluster upgrade` once "
                        "every member runs this release)",
                        verb, (long long)assay_state_level(self->state),
                        ASSAY_LEVEL_EVIDENCE);
    uint64_t end = assay_state_stream_end(self->state);
    const assay_consumer_rec *c =
        rc ? NULL : assay_state_consumer(self->state, req.consumer);
    if (!rc && req.op == ASSAY_CP_STREAM_READ &&
        s_from(self->state, &req) > end)
        rc = assay_errf(err, sizeof err, ASSAY_EINVAL,
                        "%s: from %lld is beyond the stream's end (%llu)",
                        verb, (long long)req.from, (unsigned long long)end);
    else if (!rc && req.op == ASSAY_CP_STREAM_READ &&
             (uint64_t)req.ack > end)
        rc = assay_errf(err, sizeof err, ASSAY_EINVAL,
                        "%s: ack %lld is beyond the stream's end (%llu)",
                        verb, (long long)req.ack, (unsigned long long)end);
    else if (!rc && req.op == ASSAY_CP_STREAM_ACK &&
             (uint64_t)req.position > end)
        rc = assay_errf(err, sizeof err, ASSAY_EINVAL,
                        "%s ack: position %lld is beyond the stream's end "
                        "(%llu)",
                        verb, (long long)req.position,
                        (unsigned long long)end);
    else if (!rc && (req.op == ASSAY_CP_STREAM_ACK || req.ack) && !c &&
             assay_state_consumers(self->state) >= ASSAY_CONSUMERS_MAX)
        rc = assay_errf(err, sizeof err, ASSAY_ERANGE,
                        "%s ack: there are %d consumers, the most a cluster "
                        "keeps: delete one (assayctl watch --delete NAME)",
                        verb, ASSAY_CONSUMERS_MAX);
    else if (!rc && req.op == ASSAY_CP_STREAM_DELETE && !c)
        rc = assay_errf(err, sizeof err, ASSAY_ENOENT, "%s delete: no "
                        "consumer %s", verb, req.consumer);
    if (rc) {
        mb_reply(self, route, verb, assay_cp_error(rc, "%s", err));
        return;
    }
    switch (req.op) {
    case ASSAY_CP_STREAM_READ:
        /* An ack riding on a read is committed without the read waiting
         * for it: one lost to a leader change is made good by the next. */
        if (req.ack && (!c || c->behind || (uint64_t)req.ack > c->acked) &&
            mb_commit(self,
                      assay_cmd_consumer(req.consumer, (uint64_t)req.ack,
                                         false, assay_wall_ms()),
                      mb_ignore, NULL))
            assay_warn("stream: consumer %s: cannot commit its ack",
                       req.consumer);
        if (!s_park(self, route, verb, body, &req))
            s_read(self, route, verb, &req);
        return;
    case ASSAY_CP_STREAM_CONSUMERS:
        s_consumers(self, route, verb);
        return;
    case ASSAY_CP_STREAM_ACK:
        mb_commit_reply(self, route, verb,
                        assay_cmd_consumer(req.consumer,
                                           (uint64_t)req.position, false,
                                           assay_wall_ms()),
                        json_object());
        return;
    case ASSAY_CP_STREAM_DELETE:
        mb_commit_reply(self, route, verb,
                        assay_cmd_unconsumer(req.consumer, assay_wall_ms()),
                        json_object());
        return;
    }
}

/* Parked reads that can be answered now are; the others wait on. */
static void s_unpark(assay_leader *self, int64_t now)
{
    struct mb_stream *s = self->stream;
    uint64_t end = assay_state_stream_end(self->state);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        s_parked *k = &s->parked[i];
        assay_cp_stream req;
        char err[ASSAY_ERRMSG_SIZE];
        assay_cp_read_stream(k->p->data, &req, err, sizeof err);
        bool ready = s_from(self->state, &req) < end;
        if (!ready && now < k->deadline && self->leading) {
            s->parked[w++] = *k;
            continue;
        }
        assay_bytes route = mb_route(k->p);
        /* Stopped leading: the reader asks the leader again. */
        if (self->leading)
            s_read(self, &route, k->p->verb, &req);
        else
            mb_reply(self, &route, k->p->verb,
                     assay_cp_error(ASSAY_ENOTLEADER,
                                    "%s: this member stopped leading",
                                    k->p->verb));
        mb_pending_free(k->p);
    }
    s->n = w;
}

/* A consumer further behind than stream_max_lag is marked behind (one
 * at a time): it no longer holds retention back. */
static void s_mark_behind(assay_leader *self)
{
    struct mb_stream *s = self->stream;
    uint64_t end = assay_state_stream_end(self->state);
    const assay_consumer_rec *c;
    for (size_t i = 0;
         !s->marking.busy && (c = assay_state_consumer_at(self->state, i));
         i++) {
        if (c->behind || end - c->acked <= (uint64_t)self->conf->stream_max_lag)
            continue;
        assay_warn("stream: consumer %s is %llu results behind (more than "
                   "stream_max_lag, %lld): retention no longer waits for it",
                   c->name, (unsigned long long)(end - c->acked),
                   (long long)self->conf->stream_max_lag);
        s->marking.busy =
            mb_commit(self,
                      assay_cmd_consumer(c->name, c->acked, true,
                                         assay_wall_ms()),
                      mb_chore_done, &s->marking) == 0;
    }
}

void mb_stream_tick(assay_leader *self, int64_t now)
{
    if (self->stream->n)
        s_unpark(self, now);
    if (self->leading &&
        assay_state_level(self->state) >= ASSAY_LEVEL_EVIDENCE)
        s_mark_behind(self);
}

static bool s_hold(void *arg, const assay_job *j)
{
    return j->end && j->end->pos > *(const uint64_t *)arg;
}

void mb_stream_hold(assay_leader *self, assay_retention *policy,
                    uint64_t *low)
{
    *low = assay_state_stream_hold(self->state);
    if (*low != UINT64_MAX) {
        policy->hold = s_hold;
        policy->arg = low;
    }
}
