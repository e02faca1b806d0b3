/* assay/testing.h - libassay-testing: a plugin's own tests call its
 * actions and inspect the findings and evidence, without a daemon.
 *
 *     assay_test *t = assay_test_new("build/sshd.so", NULL, err, sizeof err);
 *     assay_test_result *r = assay_test_run(t,
 *         "{\"action\": \"sshd.option\", \"params\": {\"option\": "
 *         "\"PermitRootLogin\", \"expected\": \"no\"}}", err, sizeof err);
 *     assert(strcmp(assay_test_status(r, 0), "pass") == 0);
 *     assay_test_result_destroy(&r);
 *     assay_test_destroy(&t);
 *
 * The plugin is loaded and checked as assayd loads it (a refused plugin
 * fails assay_test_new with the daemon's reason), and each job runs in a
 * real assay-executor process with the daemon's type checks, timeout and
 * retries, so a crash or hang in the plugin is a job result, not a dead
 * test. Link with `pkg-config --libs assay-testing` or CMake's
 * `Assay::testing`. Every string returned belongs to its result or test
 * object: nothing here is freed by the caller except through the
 * *_destroy functions. */
#ifndef ASSAY_TESTING_H
#define ASSAY_TESTING_H

#include <stddef.h>

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct assay_test assay_test;
typedef struct assay_test_result assay_test_result;

/* Loads the plugin file at `path`. `settings` is NULL or a NULL-terminated
 * list of "key=value" assayd.conf overrides, e.g.
 * "plugin.sshd.config_path=/tmp/x" or "default_timeout_ms=2000". The
 * executor is the one installed beside this library ($ASSAY_EXECUTOR
 * overrides it). NULL on failure, with the reason in err. */
ASSAY_API assay_test *assay_test_new(const char *path,
                                     const char *const *settings, char *err,
                                     size_t errlen);
ASSAY_API void assay_test_destroy(assay_test **self_p);

/* Runs a JobSpec given as JSON text (docs/jobspec.md: action, params,
 * targets, timeout_ms, max_attempts...) to its end. NULL when the JobSpec
 * is refused (err says why, as `assayctl run --local` would). */
ASSAY_API assay_test_result *assay_test_run(assay_test *self,
                                            const char *jobspec_json,
                                            char *err, size_t errlen);
ASSAY_API void assay_test_result_destroy(assay_test_result **self_p);

/* Jobs in the result (one per target, or one). */
ASSAY_API size_t assay_test_jobs(const assay_test_result *r);
/* "pass", "fail" or "error"; NULL when `job` is out of range. */
ASSAY_API const char *assay_test_status(const assay_test_result *r,
                                        size_t job);
ASSAY_API const char *assay_test_message(const assay_test_result *r,
                                         size_t job);
/* Why a job ended in error (timeout, crash, the action's message). */
ASSAY_API const char *assay_test_reason(const assay_test_result *r,
                                        size_t job);
ASSAY_API size_t assay_test_findings(const assay_test_result *r, size_t job);
/* "satisfied", "not-satisfied", ... (docs/jobspec.md). */
ASSAY_API const char *assay_test_finding_state(const assay_test_result *r,
                                               size_t job, size_t finding);
ASSAY_API const char *assay_test_finding_title(const assay_test_result *r,
                                               size_t job, size_t finding);
/* A finding's evidence value, or a job's data value, as text (strings as
 * they are, other values as JSON); NULL when absent. */
ASSAY_API const char *assay_test_evidence(const assay_test_result *r,
                                          size_t job, size_t finding,
                                          const char *key);
ASSAY_API const char *assay_test_data(const assay_test_result *r, size_t job,
                                      const char *key);
/* The whole result, as `assayctl run --local --json` prints it. */
ASSAY_API const char *assay_test_json(const assay_test_result *r);

#ifdef __cplusplus
}
#endif

#endif
