/* core/plugin/description.c - an action module as data (see description.h). */
#include "plugin/description.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/errtext.h"
#include "plugin/loader.h"
#include "plugin/params.h"

#define MAX_ACTIONS 256

struct assay_description {
    assay_module module;
    json_t *json;           /* the strings of module point into it */
    assay_action *actions;  /* count + 1, the last all NULL */
    assay_param **params;   /* each action's declarations, then config */
    size_t nparams;
};

static json_t *s_params_json(const assay_param *decl)
{
    json_t *arr = json_array();
    for (size_t i = 0; decl && decl[i].name; i++) {
        const assay_param *p = &decl[i];
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:b, s:s?, s:s?}", "name", p->name,
                           "type", assay_type_name((int)p->type), "required",
                           (p->flags & ASSAY_PARAM_REQUIRED) != 0, "default",
                           p->def, "help", p->help));
    }
    return arr;
}

json_t *assay_module_json(const assay_module *m)
{
    json_t *actions = json_array();
    for (const assay_action *a = m->actions; a && a->name; a++) {
        char sig[1024];
        assay_params_signature(a->params, sig, sizeof sig);
        json_array_append_new(
            actions, json_pack("{s:s, s:s?, s:s, s:o}", "name", a->name,
                               "help", a->help, "signature", sig, "params",
                               s_params_json(a->params)));
    }
    return json_pack("{s:s?, s:s?, s:s?, s:s?, s:o, s:o}", "name", m->name,
                     "version", m->version, "license", m->license,
                     "description", m->description, "actions", actions,
                     "config", s_params_json(m->config));
}

/* Never called: a described action runs in an executor, which loads the
 * file itself. Validation only asks that the slot is filled. */
static void s_runs_elsewhere(void) { abort(); }

static int s_params(assay_description *self, const json_t *decl,
                    const char *what, const assay_param **out, char *err,
                    size_t errlen)
{
    char why[ASSAY_ERRMSG_SIZE];
    assay_param *p = NULL;
    int rc = assay_params_from_json(decl, &p, why, sizeof why);
    if (rc)
        return assay_errf(err, errlen, rc, "%s: %s", what, why);
    self->params[self->nparams++] = p;
    *out = p;
    return 0;
}

int assay_description_new(const json_t *json, assay_description **out,
                          char *err, size_t errlen)
{
    if (!json_is_object(json))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "description is not an object");
    const json_t *actions = json_object_get(json, "actions");
    size_t n = json_array_size(actions);
    if (!json_is_array(actions) || n > MAX_ACTIONS)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "description: actions is not an array of at most "
                          "%d",
                          MAX_ACTIONS);
    assay_description *self = calloc(1, sizeof *self);
    if (!self || !(self->actions = calloc(n + 1, sizeof *self->actions)) ||
        !(self->params = calloc(n + 1, sizeof *self->params))) {
        assay_description_destroy(&self);
        return ASSAY_ENOMEM;
    }
    self->json = json_incref((json_t *)json);
    assay_module *m = &self->module;
    *m = (assay_module){
        .abi_major = ASSAY_ABI_MAJOR,
        .abi_minor = ASSAY_ABI_MINOR,
        .struct_size = sizeof *m,
        .kind = ASSAY_KIND_ACTION,
        .name = json_string_value(json_object_get(json, "name")),
        .version = json_string_value(json_object_get(json, "version")),
        .license = json_string_value(json_object_get(json, "license")),
        .description =
            json_string_value(json_object_get(json, "description")),
        .actions = self->actions,
    };
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        const json_t *a = json_array_get(actions, i);
        assay_action *act = &self->actions[i];
        act->name = json_string_value(json_object_get(a, "name"));
        act->help = json_string_value(json_object_get(a, "help"));
        act->fn = ASSAY_FN(s_runs_elsewhere);
        char what[ASSAY_NAME_MAX + 16];
        snprintf(what, sizeof what, "action '%.*s'", ASSAY_NAME_MAX,
                 act->name ? act->name : "?");
        if (!act->name)
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "description: action %zu has no name", i);
        else
            rc = s_params(self, json_object_get(a, "params"), what,
                          &act->params, err, errlen);
    }
    if (!rc)
        rc = s_params(self, json_object_get(json, "config"), "config",
                      &m->config, err, errlen);
    if (!rc)
        rc = assay_module_validate(m, ASSAY_KIND_ACTION, err, errlen);
    if (rc) {
        assay_description_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void assay_description_destroy(assay_description **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_description *self = *self_p;
    for (size_t i = 0; i < self->nparams; i++)
        free(self->params[i]);
    free(self->params);
    free(self->actions);
    json_decref(self->json);
    free(self);
    *self_p = NULL;
}

const assay_module *assay_description_module(const assay_description *self)
{
    return &self->module;
}
