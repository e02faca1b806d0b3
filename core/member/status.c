/* core/member/status.c - what the status page reads (docs/operations.md
 * #the-status-page): GET /api/v1/status on metrics_listen, one JSON
 * document built from what assay.cluster, assay.stats and
 * assay.runtimes answer (each runtime with its plugins), the first
 * schedules with when each fires next, and the most recent failures
 * with their reasons. Read-only; bounded: SCHEDULES schedules, and the
 * failures looked for among the newest SCAN ended jobs only. */
#include "member/internal.h"

#include "state/schedule.h"

/* Failures listed, and ended jobs looked at for them, at most. */
#define FAILURES 20
#define SCAN 20000
/* Schedules listed at most (a member that does not lead compiles each
 * to tell its next fire). */
#define SCHEDULES 50

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

/* The first SCHEDULES schedules in creation order: {id, state, next_ms
 * (null: none), last (its newest decision, null: none)}. */
static json_t *s_schedules(assay_leader *self)
{
    json_t *list = json_array();
    for (const assay_sched_rec *r = assay_state_schedules(self->state);
         r && json_array_size(list) < SCHEDULES; r = r->next) {
        int64_t due = mb_sched_next_due(self, r);
        const assay_sched_run *run = assay_sched_run_at(r, 0);
        json_t *last = run ? json_pack("{s:s, s:I}", "outcome",
                                       assay_run_outcome_name(run->outcome),
                                       "nominal_ms",
                                       (json_int_t)run->nominal_ms)
                           : json_null();
        if (run && run->reason)
            json_object_set_new(last, "reason", json_string(run->reason));
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:o, s:o}", "id", r->id, "state",
                      r->paused              ? "paused"
                      : assay_sched_ended(r) ? "ended"
                                             : "active",
                      "next_ms",
                      due == INT64_MAX ? json_null() : json_integer(due),
                      "last", last));
    }
    return list;
}

/* assay.runtimes' list, each runtime with "plugins": ["name@version",
 * ...] from its catalogue. */
static json_t *s_runtimes(assay_leader *self)
{
    json_t *o = mb_runtimes_json(self), *rt;
    size_t i;
    json_array_foreach(json_object_get(o, "runtimes"), i, rt) {
        const assay_runtime_rec *rec =
            assay_state_runtime(self->state, mb_str(rt, "id"));
        json_t *names = json_array(), *p;
        size_t k;
        json_array_foreach(
            json_object_get(
                json_object_get(rec ? rec->info : NULL, "catalog"),
                "plugins"),
            k, p) {
            const char *name = mb_str(p, "name"), *ver = mb_str(p, "version");
            if (name && ver) {
                char nv[512];
                snprintf(nv, sizeof nv, "%s@%s", name, ver);
                json_array_append_new(names, json_string(nv));
            }
        }
        json_object_set_new(rt, "plugins", names);
    }
    return o;
}

char *assay_leader_status_json(assay_leader *self, size_t *len)
{
    json_t *cluster = mb_cluster_json(self);
    json_object_del(cluster, "ok");
    size_t n_sched = assay_state_schedule_count(self->state);
    json_t *o = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:I, s:o}", "member", self->id, "cluster",
        cluster, "stats", mb_stats_json(self), "runtimes", s_runtimes(self),
        "schedules", s_schedules(self), "schedules_more",
        (json_int_t)(n_sched > SCHEDULES ? n_sched - SCHEDULES : 0),
        "failures", s_failures(self));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    *len = text ? strlen(text) : 0;
    json_decref(o);
    return text;
}
