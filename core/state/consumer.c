/* core/state/consumer.c - durable consumers of the result stream (level
 * 8; docs/protocol.md#assaystream). A consumer is a name and the last
 * stream position it acknowledged, replicated, so that it resumes from
 * there through any leader. While it is not behind, the ended jobs after
 * its position are held against retention (the leader's `hold`); one
 * that falls further behind than the leader's stream_max_lag is marked
 * behind and holds nothing until it acknowledges again. At most
 * ASSAY_CONSUMERS_MAX, kept in a small array: every walk is over 64. */
#include "state/internal.h"

#include <string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "base/ident.h"

static assay_consumer_rec *s_find(assay_state *self, const char *name)
{
    for (size_t i = 0; i < self->n_consumers; i++)
        if (!strcmp(self->consumers[i].name, name))
            return &self->consumers[i];
    return NULL;
}

/* A consumer record of a "consumer" command or a snapshot. */
static int s_read(const msgpack_object *o, assay_consumer_rec *c,
                  const char *what, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    int64_t acked = st_int(o, "acked");
    const msgpack_object *behind = st_get(o, "behind");
    if (!st_text(o, "name", c->name, sizeof c->name, false) ||
        !assay_ident_valid(c->name, sizeof c->name - 1) || acked < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: a consumer needs a name (an identifier of "
                          "at most %zu bytes) and a position acked >= 0",
                          what, sizeof c->name - 1);
    c->acked = (uint64_t)acked;
    c->behind = st_is(behind, MSGPACK_OBJECT_BOOLEAN) && behind->via.boolean;
    return 0;
}

int st_consumer(assay_state *self, const msgpack_object *cmd,
                json_t **result, char *err, size_t errlen)
{
    assay_consumer_rec c;
    int rc = s_read(cmd, &c, "consumer", err, errlen);
    if (rc)
        return rc;
    if (c.acked > self->stream_pos)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "consumer %s: position %llu is beyond the "
                          "stream's end (%llu)",
                          c.name, (unsigned long long)c.acked,
                          (unsigned long long)self->stream_pos);
    int64_t at = st_int(cmd, "at");
    assay_consumer_rec *have = s_find(self, c.name);
    if (!have) {
        if (self->n_consumers == ASSAY_CONSUMERS_MAX)
            return assay_errf(err, errlen, ASSAY_ERANGE,
                              "consumer %s: there are %d consumers, the "
                              "most a cluster keeps: delete one",
                              c.name, ASSAY_CONSUMERS_MAX);
        have = &self->consumers[self->n_consumers++];
        *have = c;
        have->created_ms = at;
    }
    /* Acknowledgements only move on: a late or repeated one changes
     * nothing but whether it is behind and when it was last heard of. */
    if (c.acked > have->acked)
        have->acked = c.acked;
    have->behind = c.behind;
    have->acked_ms = at;
    if (result)
        *result = json_pack("{s:s, s:I, s:b}", "name", have->name, "acked",
                            (json_int_t)have->acked, "behind", have->behind);
    return 0;
}

int st_unconsumer(assay_state *self, const msgpack_object *cmd,
                  json_t **result, char *err, size_t errlen)
{
    char name[64];
    assay_consumer_rec *c =
        st_text(cmd, "name", name, sizeof name, false) ? s_find(self, name)
                                                       : NULL;
    if (!c)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "unconsumer: no consumer %.64s",
                          st_text(cmd, "name", name, sizeof name, true)
                              ? name
                              : "(unnamed)");
    if (result)
        *result = json_pack("{s:s, s:I}", "name", c->name, "acked",
                            (json_int_t)c->acked);
    *c = self->consumers[--self->n_consumers];
    return 0;
}

size_t assay_state_consumers(const assay_state *self)
{
    return self->n_consumers;
}

const assay_consumer_rec *assay_state_consumer_at(const assay_state *self,
                                                  size_t i)
{
    return i < self->n_consumers ? &self->consumers[i] : NULL;
}

const assay_consumer_rec *assay_state_consumer(const assay_state *self,
                                               const char *name)
{
    return name ? s_find((assay_state *)self, name) : NULL;
}

uint64_t assay_state_stream_hold(const assay_state *self)
{
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < self->n_consumers; i++)
        if (!self->consumers[i].behind && self->consumers[i].acked < low)
            low = self->consumers[i].acked;
    return low;
}

void st_consumers_pack(const assay_state *self, msgpack_packer *pk)
{
    msgpack_pack_array(pk, self->n_consumers);
    for (size_t i = 0; i < self->n_consumers; i++) {
        const assay_consumer_rec *c = &self->consumers[i];
        msgpack_pack_map(pk, 5);
        assay_codec_pack_kv_str(pk, "name", c->name);
        assay_codec_pack_kv_int(pk, "acked", (int64_t)c->acked);
        assay_codec_pack_kv_bool(pk, "behind", c->behind);
        assay_codec_pack_kv_int(pk, "created_ms", c->created_ms);
        assay_codec_pack_kv_int(pk, "acked_ms", c->acked_ms);
    }
}

int st_consumers_load(assay_state *self, const msgpack_object *list,
                      char *err, size_t errlen)
{
    self->n_consumers = 0;
    if (!list) /* a format 7 snapshot of before consumers */
        return 0;
    if (!st_is(list, MSGPACK_OBJECT_ARRAY) ||
        list->via.array.size > ASSAY_CONSUMERS_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: consumers: a list of at most %d",
                          ASSAY_CONSUMERS_MAX);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        assay_consumer_rec c;
        int rc = s_read(o, &c, "snapshot: consumers", err, errlen);
        if (rc)
            return rc;
        if (s_find(self, c.name))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "snapshot: consumers: %s twice", c.name);
        c.created_ms = st_int(o, "created_ms");
        c.acked_ms = st_int(o, "acked_ms");
        self->consumers[self->n_consumers++] = c;
    }
    return 0;
}
