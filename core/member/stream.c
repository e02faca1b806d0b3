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

struct mb_stream {
    s_parked parked[PARKED_MAX];
    size_t n;
    s_chore marking; /* "consumer": one marked behind, in flight */
};

int mb_stream_new(assay_leader *self)
{
    self->stream = calloc(1, sizeof *self->stream);
    if (self->stream)
        self->stream->marking.what = "stream: marking a consumer behind";
    return self->stream ? 0 : ASSAY_ENOMEM;
}

void mb_stream_destroy(assay_leader *self)
{
    if (!self->stream)
        return;
    for (size_t i = 0; i < self->stream->n; i++)
        mb_pending_free(self->stream->parked[i].p);
    free(self->stream);
    self->stream = NULL;
}

static json_t *s_consumer_json(const assay_state *st,
                               const assay_consumer_rec *c)
{
    uint64_t end = assay_state_stream_end(st);
    return json_pack("{s:s, s:I, s:I, s:b, s:I, s:I}", "name", c->name,
                     "acked", (json_int_t)c->acked, "lag",
                     (json_int_t)(end - c->acked), "behind", c->behind,
                     "created_ms", (json_int_t)c->created_ms, "acked_ms",
                     (json_int_t)c->acked_ms);
}

/* The position a read starts after: `from`, else the consumer's, else
 * the start. */
static uint64_t s_from(const assay_state *st, const assay_cp_stream *req)
{
    const assay_consumer_rec *c = assay_state_consumer(st, req->consumer);
    return req->from >= 0 ? (uint64_t)req->from : c ? c->acked : 0;
}

/* The reply to a read, `from` not beyond the end. */
static json_t *s_read(assay_leader *self, const assay_cp_stream *req)
{
    const assay_state *st = self->state;
    uint64_t from = s_from(st, req), end = assay_state_stream_end(st);
    uint64_t prev = from, gone = 0;
    json_t *events = json_array();
    const assay_job *j = assay_state_stream_after(st, from);
    for (; j && (int64_t)json_array_size(events) < req->max;
         j = assay_state_stream_after(st, j->end->pos)) {
        gone += j->end->pos - prev - 1;
        prev = j->end->pos;
        json_array_append_new(events, mb_evidence_record(j));
    }
    if (!j) { /* read to the end: what is not held is gone */
        gone += end - prev;
        prev = end;
    }
    const assay_job *first = assay_state_stream_after(st, 0);
    json_t *r = json_pack("{s:o, s:I, s:I, s:I, s:I, s:I}", "events", events,
                          "from", (json_int_t)from, "next", (json_int_t)prev,
                          "end", (json_int_t)end, "first",
                          (json_int_t)(first ? first->end->pos : end + 1),
                          "gone", (json_int_t)gone);
    const assay_consumer_rec *c = assay_state_consumer(st, req->consumer);
    if (c)
        json_object_set_new(r, "consumer", s_consumer_json(st, c));
    return assay_cp_ok(r);
}

static json_t *s_consumers(assay_leader *self)
{
    json_t *list = json_array();
    const assay_consumer_rec *c;
    for (size_t i = 0; (c = assay_state_consumer_at(self->state, i)); i++)
        json_array_append_new(list, s_consumer_json(self->state, c));
    return assay_cp_ok(json_pack("{s:o, s:I, s:I}", "consumers", list,
                                 "end",
                                 (json_int_t)assay_state_stream_end(
                                     self->state),
                                 "max_lag",
                                 (json_int_t)self->conf->stream_max_lag));
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
    else if (!rc && req.op == ASSAY_CP_STREAM_ACK &&
             (uint64_t)req.position > end)
        rc = assay_errf(err, sizeof err, ASSAY_EINVAL,
                        "%s ack: position %lld is beyond the stream's end "
                        "(%llu)",
                        verb, (long long)req.position,
                        (unsigned long long)end);
    else if (!rc && req.op == ASSAY_CP_STREAM_ACK && !c &&
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
        if (!s_park(self, route, verb, body, &req))
            mb_reply(self, route, verb, s_read(self, &req));
        return;
    case ASSAY_CP_STREAM_CONSUMERS:
        mb_reply(self, route, verb, s_consumers(self));
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
        mb_reply(self, &route, k->p->verb,
                 self->leading
                     ? s_read(self, &req)
                     : assay_cp_error(ASSAY_ENOTLEADER,
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
