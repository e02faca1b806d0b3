/* core/bin/flagspec.c - a JobSpec from assayctl's flags (flagspec.h). */
#include "flagspec.h"

#include <stdio.h>
#include <string.h>

#include "base/errtext.h"
#include "plugin/params.h"

/* The value of `key` as the type `decl` declares for it; text when the
 * key is not declared (the JobSpec check names it then). */
static json_t *s_value(const assay_param *decl, const char *key,
                       const char *text, const char *flag, char *err,
                       size_t errlen)
{
    for (const assay_param *d = decl; d && d->name; d++) {
        if (strcmp(d->name, key))
            continue;
        assay_param p = *d;
        p.def = text;
        json_t *v;
        char why[ASSAY_ERRMSG_SIZE];
        if (assay_params_default(&p, &v, why, sizeof why) == 0)
            return v;
        assay_errf(err, errlen, ASSAY_ETYPE,
                   "%s %s=%s: not a valid %s (lists and maps are written "
                   "as JSON)",
                   flag, key, text, assay_type_name((int)d->type));
        return NULL;
    }
    json_t *v = json_string(text);
    if (!v)
        assay_errf(err, errlen, ASSAY_EINVAL, "%s %s: value is not valid "
                                              "UTF-8", flag, key);
    return v;
}

/* Adds "K=V" (one pair, V may hold commas when `one`) or "K=V,K=V" to
 * obj; a key given twice is refused, as in a JSON JobSpec. */
static int s_pairs(json_t *obj, const assay_param *decl, const char *arg,
                   const char *flag, int one, char *err, size_t errlen)
{
    char buf[4096];
    if (strlen(arg) >= sizeof buf)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "%s: value longer than %zu bytes", flag,
                          sizeof buf - 1);
    strcpy(buf, arg);
    for (char *kv = buf; kv;) {
        char *next = one ? NULL : strchr(kv, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(kv, '=');
        if (!eq || eq == kv)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "%s wants KEY=VALUE, got '%s'%s", flag, arg,
                              one ? ""
                                  : " (a value with commas: give the target "
                                    "as a JSON object)");
        *eq = '\0';
        if (json_object_get(obj, kv))
            return assay_errf(err, errlen, ASSAY_EEXIST,
                              "%s %s: given twice", flag, kv);
        json_t *v = s_value(decl, kv, eq + 1, flag, err, errlen);
        if (!v)
            return ASSAY_ETYPE;
        if (json_object_set_new(obj, kv, v) != 0)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "%s %s: key is not valid UTF-8", flag, kv);
        kv = next;
    }
    return 0;
}

int assay_flagspec_json(const assay_flagspec *f, const assay_catalog *cat,
                        json_t **out, char *err, size_t errlen)
{
    char ref[256];
    const char *at = strchr(f->action, '@');
    size_t len = at ? (size_t)(at - f->action) : strlen(f->action);
    if (len >= sizeof ref)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "--action: name longer than %zu bytes",
                          sizeof ref - 1);
    memcpy(ref, f->action, len);
    ref[len] = '\0';
    const assay_plugin *plugin;
    const assay_action *action;
    char why[ASSAY_ERRMSG_SIZE];
    int rc = assay_catalog_resolve(cat, ref, at ? at + 1 : NULL, &plugin,
                                   &action, why, sizeof why);
    if (rc)
        return assay_errf(err, errlen, rc, "--action %s: %s", f->action,
                          why);
    json_t *spec = json_pack("{s:s, s:s, s:{}}", "id", "inline", "action",
                             ref, "params");
    if (!spec)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "--action %s: not valid UTF-8", f->action);
    if (at)
        json_object_set_new(spec, "version", json_string(at + 1));
    json_t *params = json_object_get(spec, "params");
    for (int i = 0; i < f->nparams && !rc; i++)
        rc = s_pairs(params, action->params, f->params[i], "--param", 1,
                     err, errlen);
    json_t *targets = json_array();
    json_object_set_new(spec, "targets", targets);
    for (int i = 0; i < f->ntargets && !rc; i++) {
        json_t *t;
        if (f->targets[i][0] == '{') {
            json_error_t jerr;
            t = json_loads(f->targets[i], JSON_REJECT_DUPLICATES, &jerr);
            if (!json_is_object(t))
                rc = assay_errf(err, errlen, ASSAY_EINVAL,
                                "--target %s: not a JSON object: %s",
                                f->targets[i], t ? "" : jerr.text);
        } else {
            t = json_object();
            rc = s_pairs(t, action->params, f->targets[i], "--target", 0,
                         err, errlen);
        }
        json_array_append_new(targets, t);
    }
    if (!f->ntargets)
        json_object_del(spec, "targets");
    if (rc) {
        json_decref(spec);
        return rc;
    }
    *out = spec;
    return 0;
}
