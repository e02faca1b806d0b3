/* core/exec/runner.c - local JobSpec execution (see runner.h). */
#include "exec/runner.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/errtext.h"
#include "base/prefix.h"
#include "plugin/params.h"


struct assay_runner {
    assay_catalog *catalog;
    assay_plugdir *plugdir;
    assay_pool *pool;
    json_t *plugin_config; /* {plugin: {key: "text"}} */
    int64_t default_timeout_ms;
    int64_t default_attempts;
};

void assay_executor_path(const char *configured, char *buf, size_t len)
{
    if (configured && *configured)
        strlcpy(buf, configured, len);
    else
        assay_prefix_path(ASSAY_PART_EXECUTOR, buf, len);
}

/* Operator-set plugin config must name declared keys with values of the
 * declared type; checked against every loaded version of the plugin. */
/* The operator's config for one plugin (`keys`: {key: "text"}) must name
 * keys the plugin declares, with values of the declared type. */
static int s_check_plugin(const assay_plugin *p, const json_t *keys,
                          char *err, size_t errlen)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)keys, key, val) {
        const assay_param *d = p->module->config;
        while (d && d->name && strcmp(d->name, key))
            d++;
        if (!d || !d->name)
            return assay_errf(err, errlen, ASSAY_ENOENT,
                              "plugin.%s.%s: %s %s declares no such config "
                              "key",
                              p->name, key, p->name, p->version);
        assay_param probe = *d;
        probe.def = json_string_value(val);
        json_t *parsed;
        char why[ASSAY_ERRMSG_SIZE];
        if (!probe.def ||
            assay_params_default(&probe, &parsed, why, sizeof why))
            return assay_errf(err, errlen, ASSAY_ETYPE,
                              "plugin.%s.%s: expected %s", p->name, key,
                              assay_type_name((int)d->type));
        json_decref(parsed);
    }
    return 0;
}

/* Every loaded version is checked against its config (at start-up). */
static int s_check_plugin_config(const assay_catalog *cat, const json_t *cfg,
                                 char *err, size_t errlen)
{
    for (const assay_plugin *p = assay_catalog_first(cat); p; p = p->next) {
        int rc = s_check_plugin(p, json_object_get(cfg, p->name), err,
                                errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* A version loaded later (hot loading) is refused if its config is bad. */
static int s_accept(void *arg, const assay_plugin *p, char *err,
                    size_t errlen)
{
    const assay_runner *self = arg;
    return s_check_plugin(p, json_object_get(self->plugin_config, p->name),
                          err, errlen);
}

/* Executors load plugins once they have a /tmp of their own, where
 * nothing of the host's /tmp is. */
static int s_check_private_tmp(const assay_conf *conf, char *err,
                               size_t errlen)
{
    char real[PATH_MAX];
    if (conf->executor_private_tmp != 1 ||
        !realpath(conf->plugins_dir, real) ||
        (strcmp(real, "/tmp") && strncmp(real, "/tmp/", 5)))
        return 0;
    return assay_errf(err, errlen, ASSAY_EINVAL,
                      "executor_private_tmp: plugins_dir %s is under /tmp, "
                      "which executors with a /tmp of their own do not see",
                      conf->plugins_dir);
}

int assay_runner_new(const assay_conf *conf, bool watch,
                     assay_runner **out, char *err, size_t errlen)
{
    assay_runner *self = calloc(1, sizeof *self);
    if (!self || !(self->catalog = assay_catalog_new())) {
        free(self);
        return ASSAY_ENOMEM;
    }
    self->default_timeout_ms = conf->default_timeout_ms;
    self->default_attempts = conf->max_attempts;
    self->plugin_config = conf->plugin ? json_deep_copy(conf->plugin)
                                       : json_object();
    char exe[PATH_MAX];
    assay_executor_path(conf->executor_path, exe, sizeof exe);
    assay_plugdir_conf dc = {.dir = conf->plugins_dir,
                             .watch = watch,
                             .describer = exe,
                             .load_timeout_ms = conf->plugin_load_timeout_ms};
    int rc = conf->executors == 0
                 ? assay_errf(err, errlen, ASSAY_EINVAL,
                              "executors = 0: this node runs no jobs")
                 : s_check_private_tmp(conf, err, errlen);
    if (!rc)
        rc = assay_plugdir_new(self->catalog, &dc, &self->plugdir, err,
                               errlen);
    if (!rc)
        rc = s_check_plugin_config(self->catalog, self->plugin_config, err,
                                   errlen);
    if (!rc)
        assay_plugdir_set_accept(self->plugdir, s_accept, self);
    if (!rc) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        assay_pool_config pc = {
            .executor_path = exe,
            .executors = conf->executors > 0 ? (int)conf->executors
                                             : (int)(ncpu > 0 ? ncpu : 1),
            .depth = (int)conf->jobs_per_executor,
            .kill_grace_ms = conf->kill_grace_ms,
            .memory_mb = conf->job_memory_mb,
            .cpu_s = conf->job_cpu_seconds,
            .output_limit = (size_t)conf->output_limit_kb * 1024,
            .user = *conf->executor_user ? conf->executor_user : NULL,
            .run_as = conf->run_as,
            .private_tmp = conf->executor_private_tmp == 1,
            .all_syscalls = conf->executor_seccomp == 0,
        };
        rc = assay_pool_new(&pc, &self->pool, err, errlen);
    }
    if (rc) {
        assay_runner_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void assay_runner_destroy(assay_runner **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_runner *self = *self_p;
    assay_pool_destroy(&self->pool);
    assay_plugdir_destroy(&self->plugdir);
    assay_catalog_destroy(&self->catalog);
    json_decref(self->plugin_config);
    free(self);
    *self_p = NULL;
}

const assay_catalog *assay_runner_catalog(const assay_runner *self)
{
    return self->catalog;
}

assay_pool *assay_runner_pool(assay_runner *self) { return self->pool; }

assay_plugdir *assay_runner_plugdir(assay_runner *self)
{
    return self->plugdir;
}

const json_t *assay_runner_plugin_config(const assay_runner *self,
                                         const char *plugin)
{
    return json_object_get(self->plugin_config, plugin);
}

typedef struct {
    assay_runner *runner;
    json_t *results;  /* array, one slot per job */
    json_t *params;   /* array of normalized params */
    const assay_plugin *plugin;
    const assay_action *action;
    const assay_jobspec *spec;
    int64_t timeout_ms, max_attempts;
    int *attempts;
    int submit_error;
} s_run;

typedef struct {
    s_run *run;
    size_t index;
} s_slot;

static void s_done(void *arg, json_t *result);

static int s_submit(s_run *run, s_slot *slot)
{
    char id[ASSAY_ID_MAX + 32];
    assay_jobspec_job_id(run->spec, slot->index, id, sizeof id);
    run->attempts[slot->index]++;
    assay_task t = {
        .job_id = id,
        .plugin = run->plugin->name,
        .plugin_path = run->plugin->path,
        .action = run->action->name,
        .params = json_array_get(run->params, slot->index),
        .config = assay_runner_plugin_config(run->runner, run->plugin->name),
        .timeout_ms = run->timeout_ms,
    };
    return assay_pool_submit(run->runner->pool, &t, s_done, slot);
}

static void s_done(void *arg, json_t *result)
{
    s_slot *slot = arg;
    s_run *run = slot->run;
    int attempt = run->attempts[slot->index];
    if (json_is_true(json_object_get(result, "retryable")) &&
        attempt < run->max_attempts && s_submit(run, slot) == 0) {
        json_decref(result);
        return;
    }
    json_object_del(result, "retryable");
    json_object_set_new(result, "action", json_string(run->spec->action));
    json_object_set_new(result, "version",
                        json_string(run->plugin->version));
    json_object_set_new(result, "attempt", json_integer(attempt));
    json_array_set_new(run->results, slot->index, result);
}

int assay_runner_run(assay_runner *self, const assay_jobspec *spec,
                     json_t **results, char *err, size_t errlen)
{
    s_run run = {.runner = self, .spec = spec};
    int rc = assay_jobspec_resolve(spec, self->catalog, &run.plugin,
                                   &run.action, &run.params, err, errlen);
    if (rc)
        return rc;
    size_t n = json_array_size(run.params);
    run.timeout_ms = spec->timeout_ms ? spec->timeout_ms
                                      : self->default_timeout_ms;
    run.max_attempts = spec->max_attempts ? spec->max_attempts
                                          : self->default_attempts;
    run.results = json_array();
    run.attempts = calloc(n, sizeof *run.attempts);
    s_slot *slots = calloc(n, sizeof *slots);
    if (!run.results || !run.attempts || !slots) {
        rc = ASSAY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(run.results, json_null());
    for (size_t i = 0; i < n && !rc; i++) {
        slots[i] = (s_slot){&run, i};
        rc = s_submit(&run, &slots[i]);
    }
    /* Every submitted job's callback runs exactly once, so the pool
     * drains; waiting even after a submit error keeps slots alive. */
    while (assay_pool_outstanding(self->pool) > 0)
        if (assay_pool_poll(self->pool, 1000) < 0)
            break;
    if (rc)
        assay_errf(err, errlen, rc, "cannot queue job: %s",
                   assay_strerror(rc));
out:
    if (!rc)
        *results = json_incref(run.results);
    json_decref(run.results);
    json_decref(run.params);
    free(run.attempts);
    free(slots);
    return rc;
}
