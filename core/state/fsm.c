/* core/state/fsm.c - the state machine at the level of bytes (fsm.h). */
#include "state/fsm.h"

#include <stdio.h>
#include <string.h>

#include "state/internal.h"

#include "base/codec.h"
#include "base/errtext.h"

int assay_fsm_apply(assay_state *st, const void *buf, size_t len,
                    json_t **result, char *err, size_t errlen)
{
    char why[ASSAY_ERRMSG_SIZE];
    msgpack_object cmd;
    *result = NULL;
    int rc = assay_codec_unpack(buf, len, st->zone, &cmd, why, sizeof why);
    if (rc)
        rc = assay_errf(err, errlen, ASSAY_EPARSE,
                        "log entry of %zu bytes does not decode: %s", len,
                        why);
    else
        rc = assay_state_apply(st, &cmd, result, err, errlen);
    msgpack_zone_clear(st->zone);
    return rc;
}

const char *assay_fsm_op(assay_state *st, const void *buf, size_t len,
                         char *op, size_t size)
{
    msgpack_object cmd;
    const char *name =
        assay_codec_unpack(buf, len, st->zone, &cmd, NULL, 0) == 0
            ? st_text(&cmd, "op", op, size, false)
            : NULL;
    msgpack_zone_clear(st->zone);
    return name;
}

int assay_fsm_snapshot(const assay_state *st, char **buf, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* Until every member speaks the cluster's next level, one of an
     * earlier release may have to install it: the format it reads. */
    int64_t level = assay_state_level(st);
    int rc = assay_state_pack(st,
                              level < ASSAY_LEVEL_RETENTION     ? 1
                              : level < ASSAY_LEVEL_ATTRIBUTION ? 2
                              : level < ASSAY_LEVEL_ENROLMENT   ? 3
                              : level < ASSAY_LEVEL_PLANNER     ? 4
                              : level < ASSAY_LEVEL_SCHEDULES   ? 5
                              : level < ASSAY_LEVEL_EVIDENCE    ? 6
                                                                : 7,
                              &pk);
    if (rc || !sb.data) {
        msgpack_sbuffer_destroy(&sb);
        return rc ? rc : ASSAY_ENOMEM;
    }
    *len = sb.size;
    *buf = msgpack_sbuffer_release(&sb);
    return 0;
}

static int s_restore_plain(assay_state *st, const void *buf, size_t len,
                           char *err, size_t errlen)
{
    char why[ASSAY_ERRMSG_SIZE];
    msgpack_zone *zone = msgpack_zone_new(ASSAY_CODEC_ZONE_CHUNK);
    if (!zone)
        return ASSAY_ENOMEM;
    msgpack_object dump;
    int rc = assay_codec_unpack(buf, len, zone, &dump, why, sizeof why);
    if (rc)
        rc = assay_errf(err, errlen, ASSAY_EPARSE,
                        "snapshot of %zu bytes does not decode: %s", len,
                        why);
    else
        rc = assay_state_unpack(st, &dump, err, errlen);
    msgpack_zone_free(zone);
    return rc;
}

static uint64_t s_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A container: its base, then each command applied after it, quietly
 * (restoring is not news) and refused ones skipped as they were live. */
static int s_restore_container(assay_state *st, const unsigned char *p,
                               size_t len, char *err, size_t errlen)
{
    uint64_t base = s_le(p + 16, 8);
    bool known = s_le(p + 8, 4) == ASSAY_SNAPSHOT_CONTAINER;
    if (!known || base > len - ASSAY_SNAPSHOT_HEADER ||
        len - ASSAY_SNAPSHOT_HEADER - base < 4) {
        snprintf(err, errlen, "snapshot container of %zu bytes: %s", len,
                 !known ? "unknown container version"
                                     : "truncated");
        return !known ? ASSAY_EUNSUPP : ASSAY_EPARSE;
    }
    const unsigned char *q = p + ASSAY_SNAPSHOT_HEADER + base,
                        *end = p + len;
    uint64_t count = s_le(q, 4);
    q += 4;
    /* Every entry's frame is checked before anything is replaced. */
    const unsigned char *r = q;
    for (uint64_t i = 0; i < count; i++) {
        if ((size_t)(end - r) < 4 || (size_t)(end - r - 4) < s_le(r, 4)) {
            snprintf(err, errlen,
                     "snapshot container: command %llu of %llu truncated",
                     (unsigned long long)i, (unsigned long long)count);
            return ASSAY_EPARSE;
        }
        r += 4 + s_le(r, 4);
    }
    if (r != end) {
        snprintf(err, errlen, "snapshot container: %zu bytes past its end",
                 (size_t)(end - r));
        return ASSAY_EPARSE;
    }
    int rc = s_restore_plain(st, p + ASSAY_SNAPSHOT_HEADER, base, err,
                             errlen);
    assay_state_event_fn ev = st->on_event;
    st->on_event = NULL;
    for (uint64_t i = 0; !rc && i < count; i++) {
        size_t n = s_le(q, 4);
        json_t *res = NULL;
        rc = assay_fsm_apply(st, q + 4, n, &res, err, errlen);
        json_decref(res);
        if (rc != ASSAY_EUNSUPP)
            rc = 0; /* refused live too (a member stops only on a newer
                       version, s_fsm_apply): it changed nothing then */
        q += 4 + n;
    }
    st->on_event = ev;
    return rc;
}

int assay_fsm_restore(assay_state *st, const void *buf, size_t len,
                      char *err, size_t errlen)
{
    if (len >= ASSAY_SNAPSHOT_HEADER &&
        !memcmp(buf, ASSAY_SNAPSHOT_MAGIC, 8))
        return s_restore_container(st, buf, len, err, errlen);
    return s_restore_plain(st, buf, len, err, errlen);
}
