/* plugin-api/testing/testing.c - libassay-testing (assay/testing.h): the
 * runner that `assayctl run --local` uses, behind a small C API that
 * keeps the core's types out of a plugin author's tests. */
#include <assay/testing.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <jansson.h>

#include "base/conf.h"
#include "base/errtext.h"
#include "base/log.h"
#include "base/prefix.h"
#include "exec/runner.h"
#include "job/jobspec.h"

#ifndef ASSAY_REL_LIB_TO_BIN
#define ASSAY_REL_LIB_TO_BIN "../bin"
#endif

struct assay_test {
    char dir[PATH_MAX]; /* private plugins directory: one link, the plugin */
    char link[PATH_MAX];
    assay_runner *runner;
};

struct assay_test_result {
    json_t *results; /* [{job, status, message, findings, data, ...}] */
    json_t *texts;   /* strings handed out for non-string values */
    char *json;
};

/* The executor installed with this library: bin/ is found from the
 * library's own file, as prefix.c finds it from a program's. */
static void s_executor(char *buf, size_t len)
{
    const char *env = getenv("ASSAY_EXECUTOR");
    Dl_info info;
    if (env && *env) {
        strlcpy(buf, env, len);
    } else if (dladdr((void *)s_executor, &info) && info.dli_fname) {
        char bin[PATH_MAX];
        strlcpy(bin, info.dli_fname, sizeof bin);
        char *slash = strrchr(bin, '/');
        if (slash)
            *slash = '\0';
        else
            strlcpy(bin, ".", sizeof bin);
        strlcat(bin, "/" ASSAY_REL_LIB_TO_BIN, sizeof bin);
        assay_prefix_path_at(bin, ASSAY_PART_EXECUTOR, buf, len);
    } else {
        assay_prefix_path(ASSAY_PART_EXECUTOR, buf, len);
    }
}

static void s_cleanup(assay_test *self)
{
    if (self->link[0])
        unlink(self->link);
    if (self->dir[0])
        rmdir(self->dir);
}

/* The first refusal's reason, for a plugin the catalogue did not take. */
static void s_refusal(const assay_catalog *cat, const char *path, char *err,
                      size_t errlen)
{
    json_t *j = assay_catalog_json(cat);
    const char *why = json_string_value(json_object_get(
        json_array_get(json_object_get(j, "refused"), 0), "reason"));
    assay_errf(err, errlen, ASSAY_EINVAL, "%s: refused: %s", path,
               why ? why : "not a plugin");
    json_decref(j);
}

assay_test *assay_test_new(const char *path, const char *const *settings,
                           char *err, size_t errlen)
{
    char abs[PATH_MAX], exe[PATH_MAX], why[ASSAY_ERRMSG_SIZE * 2];
    if (!path || !realpath(path, abs)) {
        assay_errf(err, errlen, ASSAY_ENOENT, "plugin %s: no such file",
                   path ? path : "(null)");
        return NULL;
    }
    /* Quiet unless asked: the author's test output is theirs. */
    assay_log_init("assay-testing", getenv("ASSAY_TEST_VERBOSE")
                                        ? ASSAY_LOG_DEBUG
                                        : ASSAY_LOG_WARN);
    assay_test *self = calloc(1, sizeof *self);
    assay_conf conf;
    if (!self || assay_conf_init(&conf) != 0) {
        free(self);
        assay_errf(err, errlen, ASSAY_ENOMEM, "out of memory");
        return NULL;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(self->dir, sizeof self->dir, "%s/assay-test-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(self->dir)) {
        assay_errf(err, errlen, ASSAY_EIO, "cannot create %s", self->dir);
        self->dir[0] = '\0';
        goto fail;
    }
    const char *base = strrchr(abs, '/') + 1;
    if (snprintf(self->link, sizeof self->link, "%s/%s", self->dir, base) >=
            (int)sizeof self->link ||
        symlink(abs, self->link) != 0) {
        assay_errf(err, errlen, ASSAY_EIO, "cannot link %s", self->link);
        self->link[0] = '\0';
        goto fail;
    }
    s_executor(exe, sizeof exe);
    int rc = assay_conf_set(&conf, "plugins_dir", self->dir, why, sizeof why);
    if (!rc)
        rc = assay_conf_set(&conf, "executor_path", exe, why, sizeof why);
    if (!rc)
        rc = assay_conf_set(&conf, "executors", "1", why, sizeof why);
    for (size_t i = 0; !rc && settings && settings[i]; i++)
        rc = assay_conf_set_kv(&conf, settings[i], why, sizeof why);
    if (rc) {
        assay_errf(err, errlen, rc, "%s", why);
        goto fail;
    }
    if (assay_runner_new(&conf, false, &self->runner, why, sizeof why)) {
        assay_errf(err, errlen, ASSAY_EINVAL, "%s", why);
        goto fail;
    }
    if (!assay_catalog_count(assay_runner_catalog(self->runner))) {
        s_refusal(assay_runner_catalog(self->runner), path, err, errlen);
        goto fail;
    }
    assay_conf_fini(&conf);
    return self;
fail:
    assay_conf_fini(&conf);
    assay_test_destroy(&self);
    return NULL;
}

void assay_test_destroy(assay_test **self_p)
{
    assay_test *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    assay_runner_destroy(&self->runner);
    s_cleanup(self);
    free(self);
    *self_p = NULL;
}

assay_test_result *assay_test_run(assay_test *self, const char *jobspec_json,
                                  char *err, size_t errlen)
{
    if (!self) {
        assay_errf(err, errlen, ASSAY_EINVAL,
                   "no plugin: assay_test_new failed or was not called");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loads(jobspec_json ? jobspec_json : "",
                           JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        assay_errf(err, errlen, ASSAY_EPARSE, "JobSpec:%d:%d: %s", jerr.line,
                   jerr.column, jerr.text);
        return NULL;
    }
    assay_jobspec *spec = NULL;
    json_t *results = NULL;
    int rc = assay_jobspec_parse(j, &spec, err, errlen);
    json_decref(j);
    if (!rc)
        rc = assay_runner_run(self->runner, spec, &results, err, errlen);
    assay_jobspec_destroy(&spec);
    if (rc)
        return NULL;
    assay_test_result *r = calloc(1, sizeof *r);
    json_t *doc = json_pack("{s:O}", "results", results);
    if (r) {
        r->results = results;
        r->texts = json_array();
        r->json = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    } else {
        json_decref(results);
    }
    json_decref(doc);
    if (!r || !r->texts || !r->json) {
        assay_test_result_destroy(&r);
        assay_errf(err, errlen, ASSAY_ENOMEM, "out of memory");
    }
    return r;
}

void assay_test_result_destroy(assay_test_result **self_p)
{
    assay_test_result *r = self_p ? *self_p : NULL;
    if (!r)
        return;
    json_decref(r->results);
    json_decref(r->texts);
    free(r->json);
    free(r);
    *self_p = NULL;
}

static const json_t *s_job(const assay_test_result *r, size_t job)
{
    return r ? json_array_get(r->results, job) : NULL;
}

static const json_t *s_finding(const assay_test_result *r, size_t job,
                               size_t finding)
{
    return json_array_get(json_object_get(s_job(r, job), "findings"),
                          finding);
}

/* A value as text that lives as long as the result. */
static const char *s_text(const assay_test_result *r, const json_t *v)
{
    if (!v || json_is_string(v))
        return json_string_value(v);
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_t *kept = s ? json_string(s) : NULL;
    free(s);
    /* The array holds its own reference: kept lives as long as r. */
    int rc = kept ? json_array_append(r->texts, kept) : -1;
    json_decref(kept);
    return rc == 0 ? json_string_value(kept) : NULL;
}

size_t assay_test_jobs(const assay_test_result *r)
{
    return r ? json_array_size(r->results) : 0;
}

const char *assay_test_status(const assay_test_result *r, size_t job)
{
    return json_string_value(json_object_get(s_job(r, job), "status"));
}

const char *assay_test_message(const assay_test_result *r, size_t job)
{
    return json_string_value(json_object_get(s_job(r, job), "message"));
}

const char *assay_test_reason(const assay_test_result *r, size_t job)
{
    return json_string_value(json_object_get(s_job(r, job), "reason"));
}

size_t assay_test_findings(const assay_test_result *r, size_t job)
{
    return json_array_size(json_object_get(s_job(r, job), "findings"));
}

const char *assay_test_finding_state(const assay_test_result *r, size_t job,
                                     size_t finding)
{
    return json_string_value(
        json_object_get(s_finding(r, job, finding), "state"));
}

const char *assay_test_finding_title(const assay_test_result *r, size_t job,
                                     size_t finding)
{
    return json_string_value(
        json_object_get(s_finding(r, job, finding), "title"));
}

const char *assay_test_evidence(const assay_test_result *r, size_t job,
                                size_t finding, const char *key)
{
    return s_text(r, json_object_get(json_object_get(s_finding(r, job,
                                                                finding),
                                                      "evidence"),
                                      key));
}

const char *assay_test_data(const assay_test_result *r, size_t job,
                            const char *key)
{
    return s_text(r,
                  json_object_get(json_object_get(s_job(r, job), "data"),
                                  key));
}

const char *assay_test_json(const assay_test_result *r)
{
    return r ? r->json : NULL;
}
