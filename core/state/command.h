/* core/state/command.h - typed constructors of the state's commands: the
 * one place that knows their fields (state.h lists them) and stamps each
 * with its op and encoding version. Every function returns a new command
 * (NULL without memory); arguments documented "taken" are consumed even
 * on failure. Items are built one by one and gathered with
 * assay_cmd_batch. */
#ifndef ASSAY_CORE_STATE_COMMAND_H
#define ASSAY_CORE_STATE_COMMAND_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

typedef struct assay_cmd_spec {
    const char *id, *action, *version, *resolved;
    const json_t *labels, *selector;
    int64_t timeout_ms, max_attempts, priority, memory_mb;
    int64_t retain_seconds; /* 0: not in the command (the member's) */
} assay_cmd_spec;

/* jobs (taken): [assay_cmd_job(...)] */
json_t *assay_cmd_submit(const assay_cmd_spec *spec, json_t *jobs);
json_t *assay_cmd_job(const char *id, const json_t *params);

/* op is "dispatch", "result" or "requeue"; items (taken) built below. */
json_t *assay_cmd_batch(const char *op, json_t *items);
json_t *assay_cmd_dispatch_item(const char *job, int64_t attempt,
                                const char *runtime, const char *version,
                                int64_t at);
json_t *assay_cmd_result_item(const char *job, int64_t attempt,
                              const json_t *result, const char *runtime,
                              int64_t at);
/* runtime (may be NULL): the runtime whose report this answers. */
json_t *assay_cmd_requeue_item(const char *job, int64_t attempt,
                               const char *reason, const char *runtime,
                               int64_t at);

json_t *assay_cmd_cancel(json_t *jobs, int64_t at); /* jobs taken */
json_t *assay_cmd_runtime(const char *id, int64_t heartbeat_ms,
                          const json_t *labels, const json_t *capacity,
                          const json_t *catalog);
json_t *assay_cmd_runtime_state(const char *id, bool alive);
json_t *assay_cmd_leader(const char *id, const char *endpoint,
                         const char *events, int64_t member, int64_t level);
json_t *assay_cmd_expire(json_t *jobs); /* jobs taken */
json_t *assay_cmd_level(int64_t level, int64_t at);

#endif
