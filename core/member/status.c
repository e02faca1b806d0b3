/* core/member/status.c - what the status page reads (docs/operations.md
 * #the-status-page): GET /api/v1/status on metrics_listen, one JSON
 * document built from what assay.cluster, assay.stats and
 * assay.runtimes answer, and the most recent failures with their
 * reasons. Read-only; bounded: the failures are looked for among the
 * newest SCAN ended jobs only. */
#include "member/internal.h"

/* Failures listed, and ended jobs looked at for them, at most. */
#define FAILURES 20
#define SCAN 20000

/* A job that ended badly: failed or cancelled (its reason), or completed
 * with a check that did not pass (its message). NULL: it passed. */
static const char *s_why(const assay_job *j, json_t **result)
{
    *result = NULL;
    if (j->state == ASSAY_JOB_FAILED || j->state == ASSAY_JOB_CANCELLED)
        return j->reason ? j->reason : assay_job_state_name(j->state);
    /* Its evidence record knows the status (level 8): only a failure's
     * result is decoded, not every result the scan walks past. */
    if (j->end && j->end->status != ASSAY_STATUS_FAIL &&
        j->end->status != ASSAY_STATUS_ERROR)
        return NULL;
    if (!j->result ||
        assay_codec_decode(j->result, j->result_len, result, NULL, 0))
        return NULL;
    const char *status =
        json_string_value(json_object_get(*result, "status"));
    if (!status || !strcmp(status, "pass"))
        return NULL;
    const char *msg = json_string_value(json_object_get(*result, "message"));
    return msg && *msg ? msg : status;
}

static json_t *s_failures(assay_leader *self)
{
    json_t *list = json_array();
    size_t scanned = 0;
    for (const assay_job *j = assay_state_done_newest(self->state);
         j && scanned < SCAN && json_array_size(list) < FAILURES;
         j = j->prev, scanned++) {
        json_t *result;
        const char *why = s_why(j, &result);
        if (why)
            json_array_append_new(
                list, json_pack("{s:s, s:s, s:s, s:s, s:I}", "job", j->id,
                                "action", j->spec->action, "state",
                                assay_job_state_name(j->state), "why", why,
                                "ended_ms", (json_int_t)j->ended_ms));
        json_decref(result); /* why points into it: used above */
    }
    return list;
}

char *assay_leader_status_json(assay_leader *self, size_t *len)
{
    json_t *cluster = mb_cluster_json(self);
    json_object_del(cluster, "ok");
    json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o}", "member", self->id,
                          "cluster", cluster, "stats", mb_stats_json(self),
                          "runtimes", mb_runtimes_json(self), "failures",
                          s_failures(self));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    *len = text ? strlen(text) : 0;
    json_decref(o);
    return text;
}
