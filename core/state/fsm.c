/* core/state/fsm.c - the state machine at the level of bytes (fsm.h). */
#include "fsm.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"

#include "codec.h"
#include "error.h"

int assay_fsm_apply(assay_state *st, const void *buf, size_t len,
                    json_t *decoded, json_t **result, char *err,
                    size_t errlen)
{
    json_t *cmd = decoded;
    char why[ASSAY_ERRMSG_SIZE];
    *result = NULL;
    if (!cmd && assay_codec_decode(buf, len, &cmd, why, sizeof why) != 0) {
        snprintf(err, errlen, "log entry of %zu bytes does not decode: %s",
                 len, why);
        return ASSAY_EPARSE;
    }
    int rc = assay_state_apply(st, cmd, result, err, errlen);
    json_decref(cmd);
    return rc;
}

int assay_fsm_snapshot(const assay_state *st, char **buf, size_t *len)
{
    /* Until every member speaks level 2, one of the previous release may
     * have to install it: the format it reads. */
    json_t *dump = assay_state_dump_format(
        st, assay_state_level(st) < ASSAY_LEVEL_RETENTION ? 1
                                                          : ASSAY_STATE_VERSION);
    if (!dump)
        return ASSAY_ENOMEM;
    int rc = assay_codec_encode(dump, buf, len);
    json_decref(dump);
    return rc;
}

static int s_restore_plain(assay_state *st, const void *buf, size_t len,
                           char *err, size_t errlen)
{
    json_t *dump;
    char why[ASSAY_ERRMSG_SIZE];
    if (assay_codec_decode(buf, len, &dump, why, sizeof why) != 0) {
        snprintf(err, errlen, "snapshot of %zu bytes does not decode: %s",
                 len, why);
        return ASSAY_EPARSE;
    }
    int rc = assay_state_load(st, dump, err, errlen);
    json_decref(dump);
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
    if (s_le(p + 8, 4) != 1 || base > len - ASSAY_SNAPSHOT_HEADER ||
        len - ASSAY_SNAPSHOT_HEADER - base < 4) {
        snprintf(err, errlen, "snapshot container of %zu bytes: %s", len,
                 s_le(p + 8, 4) != 1 ? "unknown container version"
                                     : "truncated");
        return s_le(p + 8, 4) != 1 ? ASSAY_EUNSUPP : ASSAY_EPARSE;
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
        rc = assay_fsm_apply(st, q + 4, n, NULL, &res, err, errlen);
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
