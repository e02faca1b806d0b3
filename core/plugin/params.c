/* core/plugin/params.c - parameter declarations and type-checking (see params.h). */
#include "plugin/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <sodium.h>

#include "base/errtext.h"

const char *assay_type_name(int type)
{
    switch (type) {
    case ASSAY_TYPE_STRING: return "string";
    case ASSAY_TYPE_INT64: return "int64";
    case ASSAY_TYPE_DOUBLE: return "double";
    case ASSAY_TYPE_BOOL: return "bool";
    case ASSAY_TYPE_BYTES: return "bytes";
    case ASSAY_TYPE_STRLIST: return "string list";
    case ASSAY_TYPE_MAP: return "map";
    default: return "invalid";
    }
}

bool assay_name_valid(const char *s, bool allow_dash)
{
    if (!s || !(*s >= 'a' && *s <= 'z'))
        return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              (allow_dash && c == '-')))
            return false;
    }
    return n <= ASSAY_NAME_MAX;
}

static bool s_base64_ok(const char *s)
{
    size_t n = strlen(s), out = 0;
    unsigned char *bin = malloc(n / 4 * 3 + 3);
    if (!bin)
        return false;
    bool ok = sodium_base642bin(bin, n / 4 * 3 + 3, s, n, NULL, &out, NULL,
                                sodium_base64_VARIANT_ORIGINAL) == 0;
    free(bin);
    return ok;
}

/* Checks one value against one type; *why says what is wrong. */
static bool s_type_ok(int type, const json_t *v, const char **why)
{
    *why = NULL;
    switch (type) {
    case ASSAY_TYPE_STRING:
        return json_is_string(v);
    case ASSAY_TYPE_INT64:
        return json_is_integer(v);
    case ASSAY_TYPE_DOUBLE:
        return json_is_number(v);
    case ASSAY_TYPE_BOOL:
        return json_is_boolean(v);
    case ASSAY_TYPE_BYTES:
        if (!json_is_string(v))
            return false;
        if (!s_base64_ok(json_string_value(v))) {
            *why = "not valid base64";
            return false;
        }
        return true;
    case ASSAY_TYPE_STRLIST: {
        size_t i;
        json_t *item;
        if (!json_is_array(v))
            return false;
        json_array_foreach(v, i, item) {
            if (!json_is_string(item)) {
                *why = "every element must be a string";
                return false;
            }
        }
        return true;
    }
    case ASSAY_TYPE_MAP: {
        const char *k;
        json_t *item;
        if (!json_is_object(v))
            return false;
        json_object_foreach((json_t *)v, k, item) {
            if (!json_is_string(item)) {
                *why = "every value must be a string";
                return false;
            }
        }
        return true;
    }
    }
    return false;
}

static const char *s_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

int assay_params_default(const assay_param *p, json_t **out, char *err,
                         size_t errlen)
{
    const char *d = p->def;
    json_t *v = NULL;
    switch (p->type) {
    case ASSAY_TYPE_STRING:
    case ASSAY_TYPE_BYTES:
        v = json_string(d);
        break;
    case ASSAY_TYPE_BOOL:
        if (!strcmp(d, "true"))
            v = json_true();
        else if (!strcmp(d, "false"))
            v = json_false();
        break;
    default: /* numbers, lists and maps: JSON text */
        v = json_loads(d, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        break;
    }
    const char *why = NULL;
    if (!v || !s_type_ok((int)p->type, v, &why)) {
        json_decref(v);
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "param '%s': default '%s' is not a valid %s%s%s",
                          p->name, d, assay_type_name((int)p->type),
                          why ? ": " : "", why ? why : "");
    }
    *out = v;
    return 0;
}

int assay_params_validate_decl(const assay_param *decl, char *err,
                               size_t errlen)
{
    if (!decl)
        return 0;
    for (size_t i = 0; decl[i].name; i++) {
        const assay_param *p = &decl[i];
        if (i >= ASSAY_MAX_PARAMS)
            return assay_errf(err, errlen, ASSAY_ETOOBIG,
                              "more than %d params", ASSAY_MAX_PARAMS);
        if (!assay_name_valid(p->name, false))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "invalid param name '%.64s'", p->name);
        if (p->type < ASSAY_TYPE_STRING || p->type > ASSAY_TYPE_MAP)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "param '%s': invalid type %u", p->name,
                              (unsigned)p->type);
        if (p->flags & ~ASSAY_PARAM_REQUIRED)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "param '%s': unknown flags 0x%x", p->name,
                              (unsigned)p->flags);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(decl[j].name, p->name))
                return assay_errf(err, errlen, ASSAY_EEXIST,
                                  "param '%s' declared twice", p->name);
        if (p->def) {
            json_t *v;
            int rc = assay_params_default(p, &v, err, errlen);
            if (rc)
                return rc;
            json_decref(v);
        } else if (!(p->flags & ASSAY_PARAM_REQUIRED) &&
                   (p->type == ASSAY_TYPE_INT64 ||
                    p->type == ASSAY_TYPE_DOUBLE ||
                    p->type == ASSAY_TYPE_BOOL)) {
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "param '%s': optional %s needs a default",
                              p->name, assay_type_name((int)p->type));
        }
    }
    return 0;
}

int assay_params_check(const assay_param *decl, const json_t *given,
                       json_t **out, char *err, size_t errlen)
{
    const char *bad;
    return assay_params_check_key(decl, given, out, &bad, err, errlen);
}

int assay_params_check_key(const assay_param *decl, const json_t *given,
                           json_t **out, const char **bad, char *err,
                           size_t errlen)
{
    *bad = NULL;
    if (given && !json_is_object(given))
        return assay_errf(err, errlen, ASSAY_ETYPE,
                          "params must be an object, got %s",
                          s_json_type(given));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)given, key, v) {
        bool known = false;
        for (size_t i = 0; decl && decl[i].name && !known; i++)
            known = !strcmp(decl[i].name, key);
        if (!known) {
            char names[512] = "";
            for (size_t i = 0; decl && decl[i].name; i++) {
                if (i)
                    strlcat(names, ", ", sizeof names);
                strlcat(names, decl[i].name, sizeof names);
            }
            *bad = key;
            return assay_errf(err, errlen, ASSAY_ENOENT,
                              "unknown param '%.64s' (declared: %s)", key,
                              names[0] ? names : "none");
        }
    }
    json_t *norm = json_object();
    if (!norm)
        return ASSAY_ENOMEM;
    for (size_t i = 0; decl && decl[i].name; i++) {
        const assay_param *p = &decl[i];
        json_t *gv = given ? json_object_get(given, p->name) : NULL;
        if (gv && json_is_null(gv))
            gv = NULL;
        if (gv) {
            const char *why;
            if (!s_type_ok((int)p->type, gv, &why)) {
                json_decref(norm);
                *bad = p->name;
                return assay_errf(err, errlen, ASSAY_ETYPE,
                                  "param '%s': expected %s, got %s%s%s",
                                  p->name, assay_type_name((int)p->type),
                                  s_json_type(gv), why ? ": " : "",
                                  why ? why : "");
            }
            json_object_set(norm, p->name, gv);
        } else if (p->flags & ASSAY_PARAM_REQUIRED) {
            json_decref(norm);
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "missing required param '%s' (%s)", p->name,
                              assay_type_name((int)p->type));
        } else if (p->def) {
            json_t *dv;
            int rc = assay_params_default(p, &dv, err, errlen);
            if (rc) {
                json_decref(norm);
                return rc;
            }
            json_object_set_new(norm, p->name, dv);
        }
    }
    *out = norm;
    return 0;
}

int assay_params_signature(const assay_param *decl, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; decl && decl[i].name; i++) {
        const assay_param *p = &decl[i];
        char one[192];
        bool opt = !(p->flags & ASSAY_PARAM_REQUIRED);
        snprintf(one, sizeof one, "%s%s%s: %s%s%s%s", i ? ", " : "",
                 opt ? "[" : "", p->name, assay_type_name((int)p->type),
                 opt && p->def ? " = " : "", opt && p->def ? p->def : "",
                 opt ? "]" : "");
        strlcat(buf, one, len);
    }
    return 0;
}

int assay_params_from_json(const json_t *decl, assay_param **out, char *err,
                           size_t errlen)
{
    if (decl && !json_is_array(decl))
        return assay_errf(err, errlen, ASSAY_ETYPE, "params: not an array");
    size_t n = json_array_size(decl);
    if (n > ASSAY_MAX_PARAMS)
        return assay_errf(err, errlen, ASSAY_ETOOBIG, "more than %d params",
                          ASSAY_MAX_PARAMS);
    assay_param *p = calloc(n + 1, sizeof *p);
    if (!p)
        return ASSAY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_array_get(decl, i);
        const char *type = json_string_value(json_object_get(d, "type"));
        p[i].name = json_string_value(json_object_get(d, "name"));
        p[i].def = json_string_value(json_object_get(d, "default"));
        p[i].help = json_string_value(json_object_get(d, "help"));
        p[i].flags = json_is_true(json_object_get(d, "required"))
                         ? ASSAY_PARAM_REQUIRED
                         : 0;
        for (int t = ASSAY_TYPE_STRING; type && t <= ASSAY_TYPE_MAP; t++)
            if (!strcmp(type, assay_type_name(t)))
                p[i].type = (uint32_t)t;
        if (!p[i].name) {
            free(p);
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "params[%zu]: no name", i);
        }
    }
    int rc = assay_params_validate_decl(p, err, errlen);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}
