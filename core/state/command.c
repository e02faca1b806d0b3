/* core/state/command.c - the state's commands, built (see command.h). */
#include "command.h"

#include "state.h"

/* Stamps cmd (taken) with its op and the version this build writes. */
static json_t *s_cmd(const char *op, json_t *cmd)
{
    if (cmd &&
        (json_object_set_new(cmd, "op", json_string(op)) ||
         json_object_set_new(cmd, "v",
                             json_integer(assay_state_op_version(op))))) {
        json_decref(cmd);
        return NULL;
    }
    return cmd;
}

json_t *assay_cmd_submit(const assay_cmd_spec *s, json_t *jobs)
{
    json_t *cmd = json_pack("{s:{s:s, s:s, s:s, s:s, s:O, s:O, s:I, s:I, s:I, s:I}, "
                  "s:o}",
                  "spec", "id", s->id, "action", s->action, "version",
                  s->version, "resolved", s->resolved, "labels", s->labels,
                  "selector", s->selector, "timeout_ms",
                  (json_int_t)s->timeout_ms, "max_attempts",
                  (json_int_t)s->max_attempts, "priority",
                  (json_int_t)s->priority, "memory_mb",
                  (json_int_t)s->memory_mb, "jobs", jobs);
    /* Absent unless set: a member of level 1 never sees the field. */
    if (cmd && s->retain_seconds > 0 &&
        json_object_set_new(json_object_get(cmd, "spec"), "retain_seconds",
                            json_integer(s->retain_seconds))) {
        json_decref(cmd);
        cmd = NULL;
    }
    return s_cmd("submit", cmd);
}

json_t *assay_cmd_job(const char *id, const json_t *params)
{
    return json_pack("{s:s, s:O}", "id", id, "params", params);
}

json_t *assay_cmd_batch(const char *op, json_t *items)
{
    return s_cmd(op, json_pack("{s:o}", "items", items));
}

json_t *assay_cmd_dispatch_item(const char *job, int64_t attempt,
                                const char *runtime, const char *version,
                                int64_t at)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:I}", "job", job, "attempt",
                     (json_int_t)attempt, "runtime", runtime, "version",
                     version, "at", (json_int_t)at);
}

json_t *assay_cmd_result_item(const char *job, int64_t attempt,
                              const json_t *result, const char *runtime,
                              int64_t at)
{
    return json_pack("{s:s, s:I, s:O, s:s, s:I}", "job", job, "attempt",
                     (json_int_t)attempt, "result", result, "runtime",
                     runtime, "at", (json_int_t)at);
}

json_t *assay_cmd_requeue_item(const char *job, int64_t attempt,
                               const char *reason, const char *runtime,
                               int64_t at)
{
    return json_pack("{s:s, s:I, s:s, s:s?, s:I}", "job", job, "attempt",
                     (json_int_t)attempt, "reason", reason, "runtime",
                     runtime, "at", (json_int_t)at);
}

json_t *assay_cmd_cancel(json_t *jobs, int64_t at)
{
    return s_cmd("cancel",
                 json_pack("{s:o, s:I}", "jobs", jobs, "at", (json_int_t)at));
}

json_t *assay_cmd_runtime(const char *id, int64_t heartbeat_ms,
                          const json_t *labels, const json_t *capacity,
                          const json_t *catalog)
{
    return s_cmd("runtime",
                 json_pack("{s:s, s:I, s:O, s:O, s:O}", "id", id,
                           "heartbeat_ms", (json_int_t)heartbeat_ms, "labels",
                           labels, "capacity",
                           capacity ? capacity : json_null(), "catalog",
                           catalog));
}

json_t *assay_cmd_runtime_state(const char *id, bool alive)
{
    return s_cmd("runtime_state",
                 json_pack("{s:s, s:b}", "id", id, "alive", alive));
}

json_t *assay_cmd_leader(const char *id, const char *endpoint,
                         const char *events, int64_t member, int64_t level)
{
    return s_cmd("leader", json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", id,
                                     "endpoint", endpoint, "events", events,
                                     "member", (json_int_t)member, "level",
                                     (json_int_t)level));
}

json_t *assay_cmd_expire(json_t *jobs)
{
    return s_cmd("expire", json_pack("{s:o}", "jobs", jobs));
}

json_t *assay_cmd_level(int64_t level, int64_t at)
{
    return s_cmd("level", json_pack("{s:I, s:I}", "level", (json_int_t)level,
                                     "at", (json_int_t)at));
}
