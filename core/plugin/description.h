/* core/plugin/description.h - what an action plugin declares, as data: the
 * descriptor's JSON form, and a descriptor rebuilt from it.
 *
 * The daemon never runs plugin code (docs/plugin-guide.md, "How a plugin
 * is loaded"): a helper process (assay-executor --describe) dlopens the
 * file and writes this JSON form; the daemon rebuilds an assay_module from
 * it that has names, versions and parameter declarations but no code, and
 * checks it as if it had loaded the file itself. The same JSON form is each
 * plugin's entry in a runtime's catalogue. */
#ifndef ASSAY_CORE_DESCRIPTION_H
#define ASSAY_CORE_DESCRIPTION_H

#include <stddef.h>

#include <assay/module.h>
#include <jansson.h>

/* {name, version, license, description, config: [param],
 *  actions: [{name, help, signature, params: [param]}]}, where param is
 * {name, type, required, default?, help?}. */
json_t *assay_module_json(const assay_module *m);

typedef struct assay_description assay_description;

/* Rebuilds an action module from its JSON form and validates it as
 * module.c validates a loaded one. Its actions have no function that may
 * be called: code runs only in executors. */
int assay_description_new(const json_t *json, assay_description **out,
                          char *err, size_t errlen);
void assay_description_destroy(assay_description **self_p);
const assay_module *assay_description_module(const assay_description *self);

#endif
