/* core/job/jobspec.c - JobSpec parsing, expansion and resolution (jobspec.h). */
#include "job/jobspec.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <bsd/string.h>
#include <sodium.h>

#include "base/errtext.h"
#include "base/ident.h"
#include "plugin/params.h"

static int s_int_field(const json_t *j, const char *key, int64_t min,
                       int64_t max, int64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(j, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return assay_errf(err, errlen, ASSAY_ETYPE,
                          "field '%s': expected integer", key);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return assay_errf(err, errlen, ASSAY_ERANGE,
                          "field '%s': %lld out of range %lld..%lld", key,
                          (long long)x, (long long)min, (long long)max);
    *out = x;
    return 0;
}

/* resources.cpus: a number above 0 and at most ASSAY_CPUS_MAX (0.5: half
 * a CPU), kept in thousandths. */
static int s_cpus(const json_t *v, int64_t *milli, char *err, size_t errlen)
{
    if (!v)
        return 0;
    if (!json_is_number(v))
        return assay_errf(err, errlen, ASSAY_ETYPE,
                          "resources.cpus: expected a number");
    double x = json_number_value(v);
    if (!(x > 0 && x <= ASSAY_CPUS_MAX))
        return assay_errf(err, errlen, ASSAY_ERANGE,
                          "resources.cpus: %g out of range (above 0, at "
                          "most %d)",
                          x, ASSAY_CPUS_MAX);
    *milli = (int64_t)(x * 1000 + 0.5);
    if (*milli < 1)
        *milli = 1;
    return 0;
}

static int s_labels(const char *field, const json_t *v, char *err,
                    size_t errlen)
{
    if (!json_is_object(v))
        return assay_errf(err, errlen, ASSAY_ETYPE,
                          "field '%s': expected object of strings", field);
    if (json_object_size(v) > 64)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "field '%s': more than 64 labels", field);
    const char *k;
    json_t *item;
    json_object_foreach((json_t *)v, k, item) {
        if (!assay_name_valid(k, true) || !json_is_string(item) ||
            json_string_length(item) > 255)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "%s '%.64s': key must match [a-z][a-z0-9_-]* "
                              "and value be a string of at most 255 bytes",
                              field, k);
    }
    return 0;
}

/* title or description: a string of 1 to max bytes without control
 * characters other than newlines and tabs (description only), copied. */
static int s_text(const json_t *j, const char *key, size_t max,
                  bool multiline, char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(j, key);
    if (!v)
        return 0;
    const char *str = json_string_value(v);
    size_t n = str ? json_string_length(v) : 0;
    bool ok = str && n >= 1 && n <= max && strlen(str) == n;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)str[i];
        ok = !(c < 0x20 || c == 0x7f) || (multiline && (c == '\n' ||
                                                        c == '\t'));
    }
    if (!ok)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "field '%s': expected a string of 1 to %zu bytes "
                          "without control characters%s",
                          key, max, multiline ? " (newlines and tabs allowed)"
                                              : "");
    return (*out = strdup(str)) ? 0 : ASSAY_ENOMEM;
}

/* A control id as OSCAL tokens have it, in ASCII: a letter or _, then
 * letters, digits, '.', '-', '_' (ac-6.1, CIS-5.2.10). */
static bool s_control_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > ASSAY_CONTROL_ID_MAX ||
        !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return false;
    return true;
}

/* controls: [{catalog, id, targets?}], at most ASSAY_CONTROLS_MAX, no
 * control twice; targets (indexes of the JobSpec's targets, each once)
 * narrow a control to those jobs. Kept normalized as given. */
static int s_controls(const json_t *v, size_t njobs, json_t **out, char *err,
                      size_t errlen)
{
    if (!json_is_array(v) || json_array_size(v) > ASSAY_CONTROLS_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "field 'controls': expected an array of at most "
                          "%d objects {catalog, id, targets?}",
                          ASSAY_CONTROLS_MAX);
    size_t i;
    json_t *c;
    json_array_foreach(v, i, c) {
        const char *k;
        json_t *x;
        if (!json_is_object(c))
            return assay_errf(err, errlen, ASSAY_ETYPE,
                              "controls[%zu]: expected an object {catalog, "
                              "id, targets?}", i);
        json_object_foreach(c, k, x) {
            if (strcmp(k, "catalog") && strcmp(k, "id") && strcmp(k, "targets"))
                return assay_errf(err, errlen, ASSAY_EINVAL,
                                  "controls[%zu]: unknown field '%.64s' "
                                  "(known: catalog, id, targets)", i, k);
        }
        const char *cat = json_string_value(json_object_get(c, "catalog"));
        const char *id = json_string_value(json_object_get(c, "id"));
        if (!cat || !assay_ident_valid(cat, ASSAY_ID_MAX))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "controls[%zu].catalog: want 1-%d of "
                              "[A-Za-z0-9._-] (e.g. NIST_SP-800-53_rev5)",
                              i, ASSAY_ID_MAX);
        if (!s_control_id(id))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "controls[%zu].id: want a letter or '_', then "
                              "letters, digits, '.', '-' or '_', at most %d "
                              "bytes (e.g. ac-6.1)", i, ASSAY_CONTROL_ID_MAX);
        for (size_t k2 = 0; k2 < i; k2++) {
            const json_t *o = json_array_get(v, k2);
            if (!strcmp(cat, json_string_value(json_object_get(o, "catalog"))) &&
                !strcmp(id, json_string_value(json_object_get(o, "id"))))
                return assay_errf(err, errlen, ASSAY_EINVAL,
                                  "controls[%zu]: %s %s is controls[%zu] "
                                  "again", i, cat, id, k2);
        }
        json_t *ts = json_object_get(c, "targets");
        if (!ts)
            continue;
        if (!json_is_array(ts) || !json_array_size(ts) ||
            json_array_size(ts) > njobs)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "controls[%zu].targets: expected 1 to %zu "
                              "target indexes", i, njobs);
        size_t t;
        json_t *ix;
        json_array_foreach(ts, t, ix) {
            json_int_t n = json_integer_value(ix);
            bool dup = false;
            for (size_t u = 0; u < t && !dup; u++)
                dup = json_integer_value(json_array_get(ts, u)) == n;
            if (!json_is_integer(ix) || n < 0 || (size_t)n >= njobs || dup)
                return assay_errf(err, errlen, ASSAY_EINVAL,
                                  "controls[%zu].targets[%zu]: expected the "
                                  "index of one of the JobSpec's %zu "
                                  "target(s), each once", i, t, njobs);
        }
    }
    *out = json_incref((json_t *)v);
    return 0;
}

int assay_jobspec_parse(const json_t *j, assay_jobspec **out, char *err,
                        size_t errlen)
{
    static const char *known[] = {
        "id",       "action",       "version",  "params",   "targets",
        "timeout_ms", "labels",     "max_attempts", "priority", "selector",
        "resources", "retain_seconds", "placement", "title", "description",
        "series", "controls"};
    if (!json_is_object(j))
        return assay_errf(err, errlen, ASSAY_ETYPE,
                          "JobSpec must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known && !ok; i++)
            ok = !strcmp(key, known[i]);
        if (!ok)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "unknown field '%.64s'", key);
    }
    assay_jobspec *s = calloc(1, sizeof *s);
    if (!s)
        return ASSAY_ENOMEM;
    int rc = 0;
    const char *str;
    if ((v = json_object_get(j, "id"))) {
        str = json_string_value(v);
        if (!str || !assay_ident_valid(str, ASSAY_ID_MAX)) {
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "field 'id': want 1-%d of [A-Za-z0-9._-]",
                            ASSAY_ID_MAX);
            goto fail;
        }
        strlcpy(s->id, str, sizeof s->id);
    } else {
        unsigned char rnd[12];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(s->id, sizeof s->id, rnd, sizeof rnd);
    }
    str = json_string_value(json_object_get(j, "action"));
    if (!str || strlcpy(s->action, str, sizeof s->action) >= sizeof s->action ||
        !strchr(str, '.')) {
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "field 'action': required, of the form plugin.action");
        goto fail;
    }
    if ((v = json_object_get(j, "version"))) {
        str = json_string_value(v);
        if (!str || strlcpy(s->version, str, sizeof s->version) >=
                        sizeof s->version) {
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "field 'version': expected a version range "
                            "string of at most 63 bytes");
            goto fail;
        }
    }
    v = json_object_get(j, "params");
    if (v && !json_is_object(v)) {
        rc = assay_errf(err, errlen, ASSAY_ETYPE,
                        "field 'params': expected object");
        goto fail;
    }
    s->params = v ? json_incref(v) : json_object();
    if ((v = json_object_get(j, "targets"))) {
        size_t i;
        json_t *t;
        if (!json_is_array(v) || json_array_size(v) == 0 ||
            json_array_size(v) > ASSAY_MAX_TARGETS) {
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "field 'targets': expected 1..%d objects",
                            ASSAY_MAX_TARGETS);
            goto fail;
        }
        json_array_foreach(v, i, t) {
            if (!json_is_object(t)) {
                rc = assay_errf(err, errlen, ASSAY_ETYPE,
                                "targets[%zu]: expected object", i);
                goto fail;
            }
        }
        s->targets = json_incref(v);
    }
    if ((v = json_object_get(j, "labels")) &&
        (rc = s_labels("labels", v, err, errlen)))
        goto fail;
    s->labels = v ? json_incref(v) : json_object();
    if ((v = json_object_get(j, "selector")) &&
        (rc = s_labels("selector", v, err, errlen)))
        goto fail;
    s->selector = v ? json_incref(v) : json_object();
    if ((v = json_object_get(j, "resources"))) {
        const char *k;
        json_t *item;
        if (!json_is_object(v)) {
            rc = assay_errf(err, errlen, ASSAY_ETYPE,
                            "field 'resources': expected object");
            goto fail;
        }
        json_object_foreach(v, k, item) {
            if (strcmp(k, "memory_mb") && strcmp(k, "cpus")) {
                rc = assay_errf(err, errlen, ASSAY_EINVAL,
                                "resources: unknown field '%.64s' (known: "
                                "memory_mb, cpus)", k);
                goto fail;
            }
        }
        if ((rc = s_int_field(v, "memory_mb", 0, 1048576, &s->memory_mb, err,
                              errlen)) ||
            (rc = s_cpus(json_object_get(v, "cpus"), &s->cpu_milli, err,
                         errlen)))
            goto fail;
    }
    if ((v = json_object_get(j, "placement"))) {
        str = json_string_value(v);
        if (!str || (strcmp(str, "spread") && strcmp(str, "pack"))) {
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "field 'placement': want \"spread\" (the "
                            "default) or \"pack\"");
            goto fail;
        }
        s->pack = !strcmp(str, "pack");
    }
    if ((rc = s_int_field(j, "timeout_ms", 1, 86400000, &s->timeout_ms, err,
                          errlen)) ||
        (rc = s_int_field(j, "max_attempts", 1, 100, &s->max_attempts, err,
                          errlen)) ||
        (rc = s_int_field(j, "priority", -1000, 1000, &s->priority, err,
                          errlen)) ||
        (rc = s_int_field(j, "retain_seconds", 0, ASSAY_RETAIN_SECONDS_MAX,
                          &s->retain_seconds, err, errlen)) ||
        (rc = s_text(j, "title", ASSAY_TITLE_MAX, false, &s->title, err,
                     errlen)) ||
        (rc = s_text(j, "description", ASSAY_DESCRIPTION_MAX, true,
                     &s->description, err, errlen)))
        goto fail;
    if ((v = json_object_get(j, "series"))) {
        str = json_string_value(v);
        if (!str || !assay_ident_valid(str, ASSAY_ID_MAX)) {
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "field 'series': want 1-%d of [A-Za-z0-9._-]",
                            ASSAY_ID_MAX);
            goto fail;
        }
        strlcpy(s->series, str, sizeof s->series);
    }
    if ((v = json_object_get(j, "controls")) &&
        (rc = s_controls(v, assay_jobspec_jobs(s), &s->controls, err,
                         errlen)))
        goto fail;
    *out = s;
    return 0;
fail:
    assay_jobspec_destroy(&s);
    return rc;
}

int assay_jobspec_load(const char *path, assay_jobspec **out, char *err,
                       size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return assay_errf(err, errlen, ASSAY_ENOENT, "%s: %m", path);
    if (st.st_size > (off_t)ASSAY_JOBSPEC_FILE_MAX)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "%s: %lld bytes, limit %u", path,
                          (long long)st.st_size, ASSAY_JOBSPEC_FILE_MAX);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return assay_errf(err, errlen, ASSAY_EPARSE, "%s:%d:%d: %s", path,
                          je.line, je.column, je.text);
    char why[ASSAY_ERRMSG_SIZE];
    int rc = assay_jobspec_parse(j, out, why, sizeof why);
    json_decref(j);
    if (rc)
        return assay_errf(err, errlen, rc, "%s: %s", path, why);
    return 0;
}

void assay_jobspec_destroy(assay_jobspec **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_jobspec *s = *self_p;
    json_decref(s->params);
    json_decref(s->targets);
    json_decref(s->labels);
    json_decref(s->selector);
    json_decref(s->controls);
    free(s->title);
    free(s->description);
    free(s);
    *self_p = NULL;
}

size_t assay_jobspec_jobs(const assay_jobspec *self)
{
    return self->targets ? json_array_size(self->targets) : 1;
}

void assay_jobspec_job_id(const assay_jobspec *self, size_t i, char *buf,
                          size_t len)
{
    snprintf(buf, len, "%s-%zu", self->id, i);
}

int assay_jobspec_check_params(const assay_jobspec *self,
                               const assay_param *decl, json_t **params,
                               char *err, size_t errlen)
{
    json_t *all = json_array();
    if (!all)
        return ASSAY_ENOMEM;
    for (size_t i = 0; i < assay_jobspec_jobs(self); i++) {
        const json_t *target =
            self->targets ? json_array_get(self->targets, i) : NULL;
        json_t *merged = json_copy(self->params), *norm;
        if (!merged) {
            json_decref(all);
            return ASSAY_ENOMEM;
        }
        if (target)
            json_object_update(merged, (json_t *)target);
        char why[ASSAY_ERRMSG_SIZE], where[32] = "";
        const char *bad;
        int rc = assay_params_check_key(decl, merged, &norm, &bad, why,
                                        sizeof why);
        /* A value at fault came from the target if it has that key, else
         * from params; a missing param is the target's to give. */
        if (rc && target && (!bad || json_object_get(target, bad)))
            snprintf(where, sizeof where, "targets[%zu]: ", i);
        else if (rc && bad)
            strlcpy(where, "params: ", sizeof where);
        json_decref(merged);
        if (rc) {
            json_decref(all);
            return assay_errf(err, errlen, rc, "%s: %s%s", self->action,
                              where, why);
        }
        json_array_append_new(all, norm);
    }
    *params = all;
    return 0;
}

int assay_jobspec_resolve(const assay_jobspec *self,
                          const assay_catalog *catalog,
                          const assay_plugin **plugin,
                          const assay_action **action, json_t **params,
                          char *err, size_t errlen)
{
    int rc = assay_catalog_resolve(catalog, self->action, self->version,
                                   plugin, action, err, errlen);
    if (rc)
        return rc;
    return assay_jobspec_check_params(self, (*action)->params, params, err,
                                      errlen);
}
