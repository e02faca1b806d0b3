/* core/plugin/invoke.h - calls an action's plain C function with libffi.
 *
 * Plugin authors write `int f(assay_ctx *, const char *path, int64_t mode)`;
 * the invoker builds the call interface once per action from the declared
 * params and marshals each job's (already type-checked) JSON params into C
 * arguments. */
#ifndef ASSAY_CORE_INVOKE_H
#define ASSAY_CORE_INVOKE_H

#include <stddef.h>

#include <assay/module.h>
#include <jansson.h>

typedef struct assay_invoker assay_invoker;

int assay_invoker_new(const assay_action *action, assay_invoker **out,
                      char *err, size_t errlen);
void assay_invoker_destroy(assay_invoker **self_p);

/* Calls the action. `params` must come from assay_params_check() for the
 * same declaration. *ret receives the function's int return value. */
int assay_invoker_call(assay_invoker *self, assay_ctx *ctx,
                       const json_t *params, int *ret, char *err,
                       size_t errlen);

#endif
