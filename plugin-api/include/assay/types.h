/* assay/types.h - value types a module declares for parameters and config,
 * and the C types the host passes for each.
 *
 *   type               C parameter type              JSON / msgpack form
 *   ASSAY_TYPE_STRING  const char *                  string
 *   ASSAY_TYPE_INT64   int64_t                       integer
 *   ASSAY_TYPE_DOUBLE  double                        number
 *   ASSAY_TYPE_BOOL    bool                          true / false
 *   ASSAY_TYPE_BYTES   const assay_bytes *           base64 string / bin
 *   ASSAY_TYPE_STRLIST const assay_strlist *         array of strings
 *   ASSAY_TYPE_MAP     const assay_map *             object of string values
 *
 * Pointer arguments are NULL when an optional parameter is absent and has no
 * default. Everything the host passes is owned by the host and valid until
 * the action returns. */
#ifndef ASSAY_TYPES_H
#define ASSAY_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum assay_type {
    ASSAY_TYPE_STRING = 1,
    ASSAY_TYPE_INT64 = 2,
    ASSAY_TYPE_DOUBLE = 3,
    ASSAY_TYPE_BOOL = 4,
    ASSAY_TYPE_BYTES = 5,
    ASSAY_TYPE_STRLIST = 6,
    ASSAY_TYPE_MAP = 7,
} assay_type;

typedef struct assay_bytes {
    const uint8_t *data;
    size_t len;
} assay_bytes;

typedef struct assay_strlist {
    const char *const *items;
    size_t count;
} assay_strlist;

typedef struct assay_kv {
    const char *key;
    const char *value;
} assay_kv;

typedef struct assay_map {
    const assay_kv *items;
    size_t count;
} assay_map;

/* Parameter (and plugin config key) declaration. Arrays of these end with an
 * entry whose name is NULL.
 *
 * `def` is the default in text form: plain text for STRING, decimal for
 * INT64/DOUBLE, "true"/"false" for BOOL, base64 for BYTES, JSON for STRLIST
 * and MAP. An optional INT64, DOUBLE or BOOL parameter must have a default
 * (there is no NULL for a scalar); the host refuses the module otherwise. */
#define ASSAY_PARAM_REQUIRED 0x1u

typedef struct assay_param {
    const char *name; /* [a-z][a-z0-9_]*, at most 63 bytes */
    uint32_t type;    /* assay_type */
    uint32_t flags;   /* ASSAY_PARAM_* */
    const char *def;  /* default, text form; NULL = none */
    const char *help; /* one line */
} assay_param;

#endif
