/* core/plugin/hostapi.h - the host side of the plugin ABI: the assay_host_api table
 * handed to every module, and the per-job context (assay_ctx) behind the
 * result-building functions in it. */
#ifndef ASSAY_CORE_HOSTAPI_H
#define ASSAY_CORE_HOSTAPI_H

#include <assay/host.h>
#include <assay/types.h>
#include <jansson.h>

/* Findings and data keys an action may add; past these, calls fail with
 * ASSAY_ETOOBIG so a runaway plugin cannot build an unbounded result. */
#define ASSAY_MAX_FINDINGS 1024
#define ASSAY_MAX_DATA_KEYS 256
#define ASSAY_MAX_TEXT 65536
/* Lines a module may log through host->log in one labelled call (one job,
 * one transport op): a plugin stuck in a logging loop fills no disk. */
#define ASSAY_MAX_LOG_LINES 1000

struct assay_ctx {
    json_t *result;             /* message, findings, data being built */
    const json_t *config;       /* operator's plugin config, text values */
    const assay_param *config_decl;
    int64_t deadline_ms;        /* monotonic */
    void *state;                /* module init() state */
};

const assay_host_api *assay_host_table(void);

/* Names the module this thread is about to call ("sysctl.equals",
 * "transport zmq"; NULL: none), so that host->log labels the lines it logs
 * meanwhile with it and not with "plugin". Returns the label it replaces,
 * for the caller to put back when the call returns. `label` must stay
 * valid until then. Each call restarts the ASSAY_MAX_LOG_LINES count. */
const char *assay_host_label(const char *label);

/* The int `call` into a module, made with `label` set (and the previous
 * label put back): what the module logs meanwhile is labelled. */
#define ASSAY_HOST_LABELLED(label, call)                                       \
    __extension__({                                                            \
        const char *prev_ = assay_host_label(label);                           \
        int rc_ = (call);                                                      \
        assay_host_label(prev_);                                               \
        rc_;                                                                   \
    })

/* Prepares ctx for one call: result = {"findings": [], "data": {}}. */
int assay_ctx_init(assay_ctx *ctx, const json_t *config,
                   const assay_param *config_decl, int64_t deadline_ms,
                   void *state);
void assay_ctx_fini(assay_ctx *ctx);

#endif
