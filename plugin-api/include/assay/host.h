/* assay/host.h - the table of host functions a module receives.
 *
 * APPEND-ONLY. New entries go at the end under a comment naming the ABI
 * minor that added them; nothing is ever removed or reordered (a retired
 * entry stays as a NULL slot). A module that uses an entry newer than 1.0
 * checks host->abi_minor (or struct_size) and the pointer before calling.
 *
 * Ownership: strings the module passes in are copied by the host; strings
 * the host returns belong to the host. Nothing crosses that the other side
 * must free by hand, except memory from host->alloc, which goes back
 * through host->free. */
#ifndef ASSAY_HOST_H
#define ASSAY_HOST_H

#include <stdarg.h>
#include <stdint.h>

#include "types.h"
#include "version.h"

typedef struct assay_ctx assay_ctx; /* one job attempt; opaque */

/* Job status an action returns. A negative ASSAY_E* return is an ERROR
 * whose reason is assay_strerror() of the code. */
enum {
    ASSAY_PASS = 0,
    ASSAY_FAIL = 1,
    ASSAY_ERROR = 2,
};

/* Finding states, after OSCAL's finding target status. INFO is an
 * observation that neither satisfies nor fails a requirement. */
enum {
    ASSAY_SATISFIED = 1,
    ASSAY_NOT_SATISFIED = 2,
    ASSAY_INFO = 3,
};

enum {
    ASSAY_LOG_ERROR = 0,
    ASSAY_LOG_WARN = 1,
    ASSAY_LOG_INFO = 2,
    ASSAY_LOG_DEBUG = 3,
};

typedef struct assay_host_api {
    uint16_t abi_major;   /* ASSAY_ABI_MAJOR of the host */
    uint16_t abi_minor;   /* ASSAY_ABI_MINOR of the host */
    uint32_t struct_size; /* sizeof(assay_host_api) in the host */

    /* ---- ABI 1.0 ---------------------------------------------------- */
    void (*log)(int level, const char *fmt, ...) ASSAY_PRINTF(2, 3);
    void *(*alloc)(size_t size); /* zero-filled; NULL on failure */
    void (*free)(void *ptr);
    const char *(*strerror)(int err);

    /* Result building; `ctx` is the one the action was called with. */
    void (*message)(assay_ctx *ctx, const char *fmt, ...) ASSAY_PRINTF(2, 3);
    /* Adds a finding; returns its index (>= 0) or a negative ASSAY_E*. */
    int (*finding)(assay_ctx *ctx, int state, const char *title,
                   const char *subject);
    /* Adds evidence key = value to finding `finding`. */
    int (*evidence)(assay_ctx *ctx, int finding, const char *key,
                    const char *fmt, ...) ASSAY_PRINTF(4, 5);
    /* Sets key = value in the result's free-form data map. */
    int (*data)(assay_ctx *ctx, const char *key, const char *fmt, ...)
        ASSAY_PRINTF(3, 4);

    /* Plugin config value (declared in assay_module.config) as text;
     * the declared default when the operator set none; NULL if the key
     * was not declared. */
    const char *(*config)(assay_ctx *ctx, const char *key);
    /* Milliseconds left before the job's deadline (never negative). */
    int64_t (*remaining_ms)(assay_ctx *ctx);
    /* The state the module's init() returned, or NULL. */
    void *(*state)(assay_ctx *ctx);
} assay_host_api;

#endif
