/* core/plugin/plugdir.h - a runtime's plugins directory, kept in step with the
 * catalogue while the daemon runs: files dropped in are loaded, removed
 * files withdrawn, changed files checked (docs/plugin-guide.md, "Hot
 * loading").
 *
 * Only complete files count: inotify's IN_CLOSE_WRITE and IN_MOVED_TO (so
 * `install` or `cp` + `mv` into place is the safe way to deploy). When
 * watching, each accepted file is first copied into a private cache and
 * loaded from there, so that executors always load the bytes that were
 * validated, whatever happens to the original afterwards. A name+version
 * is immutable: different bytes under a loaded name+version are refused. */
#ifndef ASSAY_CORE_PLUGDIR_H
#define ASSAY_CORE_PLUGDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin/catalog.h"

typedef struct assay_plugdir assay_plugdir;

/* Called with the loaded path of each withdrawn plugin, before it is
 * unloaded from the catalogue (executors drop their copies). */
typedef void (*assay_plugdir_withdraw_fn)(void *arg, const char *path);

typedef struct assay_plugdir_conf {
    const char *dir;
    bool watch;
    /* The program that describes each file (describe.h); NULL or "": the
     * assay-executor beside the running program, else the installed one. */
    const char *describer;
    int64_t load_timeout_ms; /* 0: ASSAY_DESCRIBE_TIMEOUT_MS */
} assay_plugdir_conf;

/* Scans the directory into `cat`, waiting for every file's describer.
 * With `watch`, also sets up inotify and the private cache (removed by
 * destroy); files that change later are described while the loop goes
 * on, one at a time. */
int assay_plugdir_new(assay_catalog *cat, const assay_plugdir_conf *conf,
                      assay_plugdir **out, char *err, size_t errlen);
void assay_plugdir_destroy(assay_plugdir **self_p);

/* Called for each file loaded after start-up; a non-zero return refuses
 * the file with err as the reason (e.g. its operator config is wrong). */
typedef int (*assay_plugdir_accept_fn)(void *arg, const assay_plugin *p,
                                       char *err, size_t errlen);
void assay_plugdir_set_accept(assay_plugdir *self, assay_plugdir_accept_fn fn,
                              void *arg);

/* One scan of `dir` into `cat`, the one the daemon starts with, with the
 * describer found beside the running program: every *.so (sorted by name;
 * names starting with '.' are skipped). Returns 0, or an error if the
 * directory itself cannot be read; refused files are not errors. */
int assay_plugdir_scan(assay_catalog *cat, const char *dir, char *err,
                       size_t errlen);

/* Readable when something changed or a describer ended; -1 when not
 * watching. */
int assay_plugdir_fd(const assay_plugdir *self);

/* Applies pending inotify events and what describers answered; true if
 * the catalogue changed. */
bool assay_plugdir_process(assay_plugdir *self,
                           assay_plugdir_withdraw_fn withdraw, void *arg);
/* Compares the directory with what is loaded (SIGHUP, `plugins
 * --rescan`); true if the catalogue changed already (what changed files
 * hold is learnt later, through assay_plugdir_process, when watching). */
bool assay_plugdir_rescan(assay_plugdir *self,
                          assay_plugdir_withdraw_fn withdraw, void *arg);

#endif
