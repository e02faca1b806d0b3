/* core/plugin/params.h - declared parameters: validating declarations and
 * type-checking values against them.
 *
 * Used twice: where a JobSpec is accepted (bad params are refused at the
 * door, nothing runs) and again in the executor before marshalling, so that
 * an executor never trusts its pipe. */
#ifndef ASSAY_CORE_PARAMS_H
#define ASSAY_CORE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#include <assay/types.h>
#include <jansson.h>

#define ASSAY_MAX_PARAMS 32
#define ASSAY_NAME_MAX 63

const char *assay_type_name(int type);
/* "[a-z][a-z0-9_]*" (allow_dash adds '-'), 1..ASSAY_NAME_MAX bytes. */
bool assay_name_valid(const char *s, bool allow_dash);

/* Checks a NULL-terminated declaration array: names, types, duplicate
 * names, defaults that parse, optional scalars that have a default. */
int assay_params_validate_decl(const assay_param *decl, char *err,
                               size_t errlen);

/* Converts a declared default (text form) to its JSON value. */
int assay_params_default(const assay_param *p, json_t **out, char *err,
                         size_t errlen);

/* Type-checks `given` (a JSON object, may be NULL) against `decl` and
 * returns in *out a new object holding every declared param that has a
 * value (given or default). Errors name the param. */
int assay_params_check(const assay_param *decl, const json_t *given,
                       json_t **out, char *err, size_t errlen);
/* The same; on refusal *bad names the given param whose value was at
 * fault (unknown or mistyped; it lives as long as `decl` and `given`), or
 * is NULL when a required param was missing, so that a caller that merged
 * `given` from several objects can name the one that held the value. */
int assay_params_check_key(const assay_param *decl, const json_t *given,
                           json_t **out, const char **bad, char *err,
                           size_t errlen);

/* Builds a declaration array from its JSON form (as assay_catalog_json
 * writes it: [{name, type, required, default, help}]), validated; the
 * strings point into `decl`, which must outlive *out (free() it). */
int assay_params_from_json(const json_t *decl, assay_param **out, char *err,
                           size_t errlen);

/* "path: string, mode: int64, [follow: bool = true]" */
int assay_params_signature(const assay_param *decl, char *buf, size_t len);

#endif
