/* core/base/errtext.h - error strings and contextual error messages.
 *
 * Codes come from plugin-api/include/assay/error.h; this file turns them
 * into text and formats "what, where, why" messages into caller buffers. */
#ifndef ASSAY_CORE_ERRTEXT_H
#define ASSAY_CORE_ERRTEXT_H

#include <stddef.h>

#include <assay/error.h>
#include <assay/version.h>

/* Static text for an ASSAY_E* code; "unknown error" for anything else. */
const char *assay_strerror(int err);
/* Symbolic name, e.g. "ASSAY_EINVAL". */
const char *assay_err_name(int err);

/* Formats into buf (when buf != NULL) and returns `code`, so that error
 * paths read `return assay_errf(err, len, ASSAY_EINVAL, "...", ...);`. */
int assay_errf(char *buf, size_t len, int code, const char *fmt, ...)
    ASSAY_PRINTF(4, 5);

#endif
