/* core/plugin/catalog.h - the plugin host: action modules, loaded (in executors,
 * which run them) or described (in the daemon, which never runs plugin
 * code: describe.h), with validated descriptors; resolves "plugin.action"
 * + version range to one module version.
 *
 * A refused file is recorded with a one-line reason and never stops the
 * others from loading. Several versions of one plugin may be loaded side by
 * side; name + version must be unique. */
#ifndef ASSAY_CORE_CATALOG_H
#define ASSAY_CORE_CATALOG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <assay/module.h>
#include <jansson.h>

#include "base/semver.h"
#include "plugin/description.h"

typedef struct assay_plugin {
    char path[PATH_MAX];   /* the file loaded (a private copy when watched) */
    char source[PATH_MAX]; /* the file the operator installed */
    int64_t loaded_at;     /* unix time */
    char sha256[65];       /* of the file loaded, hex; "" if unreadable */
    char name[64];
    char version[64];
    assay_semver semver;
    const assay_module *module;
    void *dl;                       /* loaded: the handle; else NULL */
    assay_description *described;   /* described: owns module; else NULL */
    /* Executor side only: module init() state, run on first use. */
    bool initialized;
    int init_rc;
    void *state;
    struct assay_plugin *next;
} assay_plugin;

typedef struct assay_catalog assay_catalog;

assay_catalog *assay_catalog_new(void);
void assay_catalog_destroy(assay_catalog **self_p);

/* Records that the catalogue holds what `dir` offers, so that a refusal
 * to resolve names the directories searched (plugdir.c calls it for each
 * directory it scans). Each directory is named once. A whole directory is
 * scanned by plugdir.h (assay_plugdir_scan). */
void assay_catalog_add_dir(assay_catalog *self, const char *dir);

/* Loads one file. On refusal the reason (naming the file) is in err, is
 * recorded in the refused list, and the file is unloaded. */
int assay_catalog_load(assay_catalog *self, const char *path,
                       const assay_plugin **out, char *err, size_t errlen);
/* The same, loading the bytes at `path` (a private copy) but naming the
 * plugin, its refusals and duplicates by `source`. */
int assay_catalog_load_from(assay_catalog *self, const char *path,
                            const char *source, const assay_plugin **out,
                            char *err, size_t errlen);
/* The same for a file described by a helper (describe.h): the catalogue
 * takes *described (NULL afterwards) whether it admits it or not. */
int assay_catalog_add(assay_catalog *self, const char *path,
                      const char *source, assay_description **described,
                      const assay_plugin **out, char *err, size_t errlen);
/* Removes a plugin (fini, dlclose). */
void assay_catalog_unload(assay_catalog *self, const assay_plugin *plugin);
/* Records (and logs) a refusal of `path` with a one-line reason. */
void assay_catalog_refuse(assay_catalog *self, const char *path,
                          const char *why);
/* Drops the refusals recorded for `source` (the file changed or went);
 * returns how many there were. */
int assay_catalog_forget(assay_catalog *self, const char *source);

const assay_plugin *assay_catalog_first(const assay_catalog *self);
const assay_plugin *assay_catalog_find_path(const assay_catalog *self,
                                            const char *path);
size_t assay_catalog_count(const assay_catalog *self);
size_t assay_catalog_refused_count(const assay_catalog *self);

/* Resolves `ref` ("plugin.action") and an optional semver range (NULL or
 * "" = highest installed). Refusals say what exists: the plugins installed
 * and the directories searched, or every installed version of the plugin
 * in ascending order, or the plugin's actions. */
int assay_catalog_resolve(const assay_catalog *self, const char *ref,
                          const char *range, const assay_plugin **plugin,
                          const assay_action **action, char *err,
                          size_t errlen);

/* Splits "plugin.action": the plugin name (at most ASSAY_NAME_MAX bytes)
 * into `plugin`, the action into *action. False if `ref` is not of that
 * form (or the name does not fit `len`). */
bool assay_action_ref_split(const char *ref, char *plugin, size_t len,
                            const char **action);

/* Finds an action by name in a loaded plugin. */
const assay_action *assay_plugin_action(const assay_plugin *p,
                                        const char *name);

/* {"plugins": [...], "refused": [{"path", "reason"}]} */
json_t *assay_catalog_json(const assay_catalog *self);

#endif
