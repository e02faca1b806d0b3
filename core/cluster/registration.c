/* core/cluster/registration.c - a runtime's registration checked before it is
 * recorded; see registration.h. */
#include "cluster/registration.h"

#include <stdlib.h>
#include <string.h>

#include "base/ident.h"
#include "base/semver.h"
#include "plugin/params.h"

static const char *s_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* What is wrong with a catalogue (NULL: nothing), in words for the log. */
const char *assay_catalog_fault(const json_t *cat)
{
    const json_t *plugins = json_object_get(cat, "plugins");
    if (!json_is_array(plugins))
        return "catalog: no plugins array";
    if (json_array_size(plugins) > ASSAY_CATALOG_MAX_PLUGINS)
        return "catalog: more than 256 plugins";
    if (json_dumpb(cat, NULL, 0, JSON_COMPACT) > ASSAY_CATALOG_MAX_BYTES)
        return "catalog: over 128 KiB";
    size_t i, k;
    json_t *p, *a;
    json_array_foreach(plugins, i, p) {
        assay_semver v;
        if (!s_str(p, "name") || !s_str(p, "version") ||
            assay_semver_parse(s_str(p, "version"), &v) ||
            !json_is_array(json_object_get(p, "actions")))
            return "catalog: a plugin without a name, semver or actions";
        if (json_array_size(json_object_get(p, "actions")) >
            ASSAY_CATALOG_MAX_ACTIONS)
            return "catalog: a plugin with more than 256 actions";
        json_array_foreach(json_object_get(p, "actions"), k, a) {
            assay_param *decl;
            if (!s_str(a, "name") ||
                assay_params_from_json(json_object_get(a, "params"), &decl,
                                       NULL, 0))
                return "catalog: an action without a name or with bad "
                       "params";
            free(decl);
        }
    }
    return NULL;
}

/* What is wrong with a registration's host facts (NULL: nothing): a map of
 * hostname, os, kernel and machine_id, strings of at most 255 bytes. */
static const char *s_host_fault(const json_t *host)
{
    const char *k;
    json_t *v;
    if (!host)
        return NULL;
    if (!json_is_object(host))
        return "host: not a map";
    json_object_foreach((json_t *)host, k, v) {
        if ((strcmp(k, "hostname") && strcmp(k, "os") && strcmp(k, "kernel") &&
             strcmp(k, "machine_id")) ||
            !json_is_string(v) || json_string_length(v) > 255)
            return "host: a key other than hostname, os, kernel, machine_id, "
                   "or a value not a string of at most 255 bytes";
    }
    return NULL;
}

/* What is wrong with a registration's labels and capacity (NULL: nothing). */
static const char *s_labels_fault(const json_t *labels, const json_t *cap)
{
    const char *k;
    json_t *v;
    if (!json_is_object(labels))
        return "labels: not a map";
    if (json_object_size(labels) > ASSAY_LABELS_MAX)
        return "labels: more than 64";
    json_object_foreach((json_t *)labels, k, v) {
        if (!*k || strlen(k) > 63 || !json_is_string(v) ||
            json_string_length(v) > ASSAY_LABEL_VALUE_MAX)
            return "labels: a key not of 1 to 63 bytes, or a value not a "
                   "string of at most 255";
    }
    if (cap && !json_is_null(cap) &&
        (!json_is_object(cap) || json_object_size(cap) > ASSAY_CAPACITY_MAX))
        return "capacity: not a map of at most 16 entries";
    json_object_foreach((json_t *)cap, k, v) {
        if (strlen(k) > 63 || !json_is_number(v))
            return "capacity: a key over 63 bytes or a value not a number";
    }
    return NULL;
}

const char *assay_registration_fault(const json_t *b)
{
    json_int_t hb = json_integer_value(json_object_get(b, "heartbeat_ms"));
    const json_t *ride = json_object_get(b, "acks_in_dispatch");
    const char *fault =
        !assay_ident_node_valid(s_str(b, "id"), 63) ? "bad id"
        : hb < 10 || hb > 600000 ? "heartbeat_ms not 10 to 600000"
        : ride && !json_is_boolean(ride)
            ? "acks_in_dispatch not a bool"
            : s_labels_fault(json_object_get(b, "labels"),
                             json_object_get(b, "capacity"));
    if (!fault)
        fault = s_host_fault(json_object_get(b, "host"));
    return fault ? fault : assay_catalog_fault(json_object_get(b, "catalog"));
}
