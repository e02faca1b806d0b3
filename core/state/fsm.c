/* core/state/fsm.c - the state machine at the level of bytes (fsm.h). */
#include "fsm.h"

#include <stdio.h>

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
    json_t *dump = assay_state_dump(st);
    if (!dump)
        return ASSAY_ENOMEM;
    int rc = assay_codec_encode(dump, buf, len);
    json_decref(dump);
    return rc;
}

int assay_fsm_restore(assay_state *st, const void *buf, size_t len,
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
