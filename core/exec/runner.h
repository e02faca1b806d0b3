/* core/exec/runner.h - runs JobSpecs on this machine: catalogue + executor pool.
 *
 * This is `assayctl run --local` (the plugin author's inner loop) and the
 * execution half of every assayd. Jobs whose attempt was lost (executor
 * crash, timeout, output limit) are run again up to max_attempts. */
#ifndef ASSAY_CORE_RUNNER_H
#define ASSAY_CORE_RUNNER_H

#include <stddef.h>

#include <jansson.h>

#include "base/conf.h"
#include "exec/pool.h"
#include "job/jobspec.h"
#include "plugin/catalog.h"
#include "plugin/plugdir.h"

typedef struct assay_runner assay_runner;

/* Scans conf->plugins_dir, checks plugin config against the declarations,
 * and starts the executors. With `watch` the directory stays watched
 * (plugdir.h): the daemon's case. */
int assay_runner_new(const assay_conf *conf, bool watch,
                     assay_runner **out, char *err, size_t errlen);
void assay_runner_destroy(assay_runner **self_p);

const assay_catalog *assay_runner_catalog(const assay_runner *self);
assay_pool *assay_runner_pool(assay_runner *self);
assay_plugdir *assay_runner_plugdir(assay_runner *self);
/* The operator's config for one plugin ({key: "text"}), or NULL. */
const json_t *assay_runner_plugin_config(const assay_runner *self,
                                         const char *plugin);

/* Runs every job of `spec` to its end; *results is a new array, in job
 * order, of {job, action, version, attempt, status, message, reason?,
 * findings, data, output?, duration_us}. Refuses a spec that does not
 * resolve or type-check without running anything. */
int assay_runner_run(assay_runner *self, const assay_jobspec *spec,
                     json_t **results, char *err, size_t errlen);

/* Where assay-executor lives: the configured path, else the running
 * binary's own (prefix.h). */
void assay_executor_path(const char *configured, char *buf, size_t len);

#endif
