/* core/plugin/catalog.c - plugin loading, validation and resolution (see catalog.h). */
#include "plugin/catalog.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>
#include <sodium.h>

#include "base/errtext.h"
#include "base/log.h"
#include "base/textlist.h"
#include "plugin/loader.h"
#include "plugin/params.h"

typedef struct s_refused {
    char *path;
    char *reason;
    struct s_refused *next;
} s_refused;

struct assay_catalog {
    assay_plugin *plugins; /* in load order */
    size_t count;
    s_refused *refused;
    size_t refused_count;
    char dirs[PATH_MAX]; /* ", "-separated, for refusals; "" if none */
};

assay_catalog *assay_catalog_new(void)
{
    return calloc(1, sizeof(assay_catalog));
}

static void s_plugin_free(assay_plugin *p)
{
    if (p->initialized && p->init_rc == 0 && p->module->fini)
        p->module->fini(p->state);
    if (p->dl)
        dlclose(p->dl);
    assay_description_destroy(&p->described);
    free(p);
}

void assay_catalog_destroy(assay_catalog **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_catalog *self = *self_p;
    while (self->plugins) {
        assay_plugin *next = self->plugins->next;
        s_plugin_free(self->plugins);
        self->plugins = next;
    }
    while (self->refused) {
        s_refused *next = self->refused->next;
        free(self->refused->path);
        free(self->refused->reason);
        free(self->refused);
        self->refused = next;
    }
    free(self);
    *self_p = NULL;
}

void assay_catalog_refuse(assay_catalog *self, const char *path,
                          const char *why)
{
    s_refused *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->path = strdup(path);
    r->reason = strdup(why);
    r->next = self->refused;
    self->refused = r;
    self->refused_count++;
    assay_warn("refused %s", why);
}

void assay_catalog_add_dir(assay_catalog *self, const char *dir)
{
    assay_textlist_add(self->dirs, sizeof self->dirs, dir);
}

static const assay_plugin *s_find(const assay_catalog *self, const char *name,
                                  const assay_semver *v)
{
    for (const assay_plugin *p = self->plugins; p; p = p->next)
        if (!strcmp(p->name, name) && assay_semver_cmp(&p->semver, v) == 0)
            return p;
    return NULL;
}

int assay_catalog_load(assay_catalog *self, const char *path,
                       const assay_plugin **out, char *err, size_t errlen)
{
    return assay_catalog_load_from(self, path, path, out, err, errlen);
}

/* Takes p, whose module was loaded or described (rc 0) or not (rc and
 * why say why): into the catalogue, or refused. */
static int s_admit(assay_catalog *self, assay_plugin *p, int rc,
                   const char *why_not, const assay_plugin **out, char *err,
                   size_t errlen)
{
    char why[ASSAY_ERRMSG_SIZE];
    strlcpy(why, why_not, sizeof why);
    const assay_plugin *dup = NULL;
    if (!rc) {
        strlcpy(p->name, p->module->name, sizeof p->name);
        strlcpy(p->version, p->module->version, sizeof p->version);
        assay_semver_parse(p->version, &p->semver);
        dup = s_find(self, p->name, &p->semver);
    }
    if (dup)
        rc = assay_errf(why, sizeof why, ASSAY_EEXIST,
                        "duplicate of %s %s already loaded from %s (versions "
                        "are immutable: bump the version)",
                        p->name, p->version, dup->source);
    if (rc) {
        char line[sizeof p->source + sizeof why + 2];
        snprintf(line, sizeof line, "%s: %s", p->source, why);
        assay_errf(err, errlen, rc, "%s", line);
        assay_catalog_refuse(self, p->source, line);
        s_plugin_free(p);
        return rc;
    }
    assay_plugin **tail = &self->plugins;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    self->count++;
    assay_debug("loaded %s %s from %s", p->name, p->version, p->source);
    if (out)
        *out = p;
    return 0;
}

/* The SHA-256 of the file at `path` in hex, or "" if it cannot be read:
 * evidence names the very build that ran (docs/evidence.md). */
static void s_digest(const char *path, char out[65])
{
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[65536], d[crypto_hash_sha256_BYTES];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crypto_hash_sha256_update(&st, buf, n);
    bool ok = !ferror(f);
    fclose(f);
    crypto_hash_sha256_final(&st, d);
    if (ok)
        sodium_bin2hex(out, 65, d, sizeof d);
}

static assay_plugin *s_plugin_new(const char *path, const char *source,
                                  int *rc, char *why, size_t whylen)
{
    assay_plugin *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loaded_at = (int64_t)time(NULL);
    strlcpy(p->source, source, sizeof p->source);
    if (strlcpy(p->path, path, sizeof p->path) >= sizeof p->path ||
        strlen(source) >= sizeof p->source)
        *rc = assay_errf(why, whylen, ASSAY_ETOOBIG, "path too long");
    else
        s_digest(path, p->sha256);
    return p;
}

int assay_catalog_load_from(assay_catalog *self, const char *path,
                            const char *source, const assay_plugin **out,
                            char *err, size_t errlen)
{
    char why[ASSAY_ERRMSG_SIZE] = "";
    int rc = 0;
    assay_plugin *p = s_plugin_new(path, source, &rc, why, sizeof why);
    if (!p)
        return ASSAY_ENOMEM;
    if (!rc)
        rc = assay_module_open(path, ASSAY_KIND_ACTION, &p->dl, &p->module,
                               why, sizeof why);
    return s_admit(self, p, rc, why, out, err, errlen);
}

int assay_catalog_add(assay_catalog *self, const char *path,
                      const char *source, assay_description **described,
                      const assay_plugin **out, char *err, size_t errlen)
{
    char why[ASSAY_ERRMSG_SIZE] = "";
    int rc = 0;
    assay_plugin *p = s_plugin_new(path, source, &rc, why, sizeof why);
    if (!p) {
        assay_description_destroy(described);
        return ASSAY_ENOMEM;
    }
    p->described = *described;
    *described = NULL;
    p->module = assay_description_module(p->described);
    return s_admit(self, p, rc, why, out, err, errlen);
}

void assay_catalog_unload(assay_catalog *self, const assay_plugin *plugin)
{
    for (assay_plugin **pp = &self->plugins; *pp; pp = &(*pp)->next)
        if (*pp == plugin) {
            assay_plugin *p = *pp;
            *pp = p->next;
            self->count--;
            s_plugin_free(p);
            return;
        }
}

int assay_catalog_forget(assay_catalog *self, const char *source)
{
    int n = 0;
    for (s_refused **rp = &self->refused; *rp;) {
        s_refused *r = *rp;
        if (strcmp(r->path, source)) {
            rp = &r->next;
            continue;
        }
        *rp = r->next;
        free(r->path);
        free(r->reason);
        free(r);
        self->refused_count--;
        n++;
    }
    return n;
}

const assay_plugin *assay_catalog_first(const assay_catalog *self)
{
    return self->plugins;
}

const assay_plugin *assay_catalog_find_path(const assay_catalog *self,
                                            const char *path)
{
    for (const assay_plugin *p = self->plugins; p; p = p->next)
        if (!strcmp(p->path, path))
            return p;
    return NULL;
}

size_t assay_catalog_count(const assay_catalog *self) { return self->count; }

size_t assay_catalog_refused_count(const assay_catalog *self)
{
    return self->refused_count;
}

const assay_action *assay_plugin_action(const assay_plugin *p,
                                        const char *name)
{
    for (const assay_action *a = p->module->actions; a->name; a++)
        if (!strcmp(a->name, name))
            return a;
    return NULL;
}

bool assay_action_ref_split(const char *ref, char *plugin, size_t len,
                            const char **action)
{
    const char *dot = ref ? strchr(ref, '.') : NULL;
    if (!dot || dot == ref || (size_t)(dot - ref) > ASSAY_NAME_MAX ||
        (size_t)(dot - ref) >= len || !dot[1])
        return false;
    memcpy(plugin, ref, (size_t)(dot - ref));
    plugin[dot - ref] = '\0';
    *action = dot + 1;
    return true;
}

int assay_catalog_resolve(const assay_catalog *self, const char *ref,
                          const char *range, const assay_plugin **plugin,
                          const assay_action **action, char *err,
                          size_t errlen)
{
    char name[ASSAY_NAME_MAX + 1];
    const char *aname;
    if (!assay_action_ref_split(ref, name, sizeof name, &aname))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "action '%.128s' is not of the form plugin.action",
                          ref ? ref : "");

    assay_semver_range *r = NULL;
    if (range && *range) {
        char why[ASSAY_ERRMSG_SIZE];
        int rc = assay_semver_range_parse(range, &r, why, sizeof why);
        if (rc)
            return assay_errf(err, errlen, rc, "version '%.64s': %s", range,
                              why);
    }
    const assay_plugin *best = NULL;
    assay_semver_pick pick = {0};
    char installed[512] = "", versions[512] = "";
    for (const assay_plugin *p = self->plugins; p; p = p->next) {
        if (strcmp(p->name, name)) {
            assay_textlist_add(installed, sizeof installed, p->name);
            continue;
        }
        assay_semver_list_add(versions, sizeof versions, p->version);
        if (assay_semver_pick_offer(&pick, r, &p->semver))
            best = p;
    }
    assay_semver_range_destroy(&r);
    if (!versions[0])
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "unknown plugin '%s'%s%s (installed: %s)", name,
                          self->dirs[0] ? " in " : "", self->dirs,
                          installed[0] ? installed : "none");
    if (!best)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "no version of '%s' matches '%s' (installed: %s)",
                          name, range, versions);
    const assay_action *a = assay_plugin_action(best, aname);
    if (!a) {
        char names[512] = "";
        for (const assay_action *x = best->module->actions; x->name; x++)
            assay_textlist_add(names, sizeof names, x->name);
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "plugin '%s' %s has no action '%.64s' (actions: %s)",
                          name, best->version, aname, names);
    }
    *plugin = best;
    *action = a;
    return 0;
}

json_t *assay_catalog_json(const assay_catalog *self)
{
    json_t *plugins = json_array(), *refused = json_array();
    for (const assay_plugin *p = self->plugins; p; p = p->next) {
        char when[32];
        time_t t = (time_t)p->loaded_at;
        struct tm tm;
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        json_t *j = assay_module_json(p->module);
        json_object_set_new(j, "path", json_string(p->path));
        json_object_set_new(j, "source", json_string(p->source));
        json_object_set_new(j, "loaded_at", json_string(when));
        if (p->sha256[0])
            json_object_set_new(j, "sha256", json_string(p->sha256));
        json_array_append_new(plugins, j);
    }
    /* The refused list is kept newest first; report in load order. */
    for (const s_refused *r = self->refused; r; r = r->next)
        json_array_insert_new(refused, 0,
                              json_pack("{s:s, s:s}", "path", r->path,
                                        "reason", r->reason));
    return json_pack("{s:o, s:o}", "plugins", plugins, "refused", refused);
}
