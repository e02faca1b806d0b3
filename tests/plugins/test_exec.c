/* test_exec - the `exec` plugin through the real executor, with /bin/sh
 * scripts as providers: exit-code mapping, output capture and bounds,
 * timeouts, the JSON report takeover, and spawn failures. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <criterion/criterion.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "../lib/harness.h"

/* Runs exec.run with argv `argv` plus `extra` params (reference stolen,
 * may be NULL); returns the single result object (a new reference). */
static json_t *run_argv(json_t *argv, json_t *extra)
{
    json_t *params = extra ? extra : json_object();
    json_object_set_new(params, "argv", argv);
    json_t *spec = json_pack("{s:s,s:o}", "action", "exec.run", "params",
                             params);
    cr_assert_not_null(spec);
    char *text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    json_t *results = harness_run(text);
    cr_assert_not_null(results, "spec refused: %s", text);
    free(text);
    cr_assert_eq(json_array_size(results), 1);
    json_t *r = json_incref(json_array_get(results, 0));
    json_decref(results);
    return r;
}

/* Runs `script` with /bin/sh -c as the provider. */
static json_t *run_sh(const char *script, json_t *extra)
{
    return run_argv(json_pack("[s,s,s]", "/bin/sh", "-c", script), extra);
}

static const char *status(json_t *r)
{
    return json_string_value(json_object_get(r, "status"));
}

static const char *message(json_t *r)
{
    return json_string_value(json_object_get(r, "message"));
}

static const char *data(json_t *r, const char *key)
{
    return json_string_value(json_object_get(json_object_get(r, "data"), key));
}

/* Whether the message or the error reason mentions `needle`. */
static bool says(json_t *r, const char *needle)
{
    const char *m = message(r);
    const char *why = json_string_value(json_object_get(r, "reason"));
    return (m && strstr(m, needle)) || (why && strstr(why, needle));
}

static json_t *finding(json_t *r, size_t i)
{
    json_t *f = json_array_get(json_object_get(r, "findings"), i);
    cr_assert_not_null(f, "no finding %zu", i);
    return f;
}

static const char *evidence(json_t *f, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(f, "evidence"), key));
}

/* ---- exit-code mapping ----------------------------------------------- */

Test(exec, exit_0_passes_and_captures_output)
{
    json_t *r = run_sh("echo out; echo err >&2; exit 0", NULL);
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(data(r, "exit_code"), "0");
    cr_assert_str_eq(data(r, "stdout"), "out\n");
    cr_assert_str_eq(data(r, "stderr"), "err\n");
    json_t *f = finding(r, 0);
    cr_assert_str_eq(json_string_value(json_object_get(f, "state")),
                     "satisfied");
    cr_assert_str_eq(evidence(f, "exit_code"), "0");
    json_decref(r);
}

Test(exec, exit_1_fails)
{
    json_t *r = run_sh("echo oops >&2; exit 1", NULL);
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(data(r, "exit_code"), "1");
    cr_assert_str_eq(data(r, "stderr"), "oops\n");
    cr_assert_str_eq(json_string_value(json_object_get(finding(r, 0), "state")),
                     "not-satisfied");
    json_decref(r);
}

Test(exec, other_exit_codes_are_errors)
{
    json_t *r = run_sh("exit 2", NULL);
    cr_assert_str_eq(status(r), "error");
    cr_assert_str_eq(data(r, "exit_code"), "2");
    cr_assert(says(r, "code 2"));
    json_decref(r);
}

Test(exec, custom_exit_codes_override_defaults)
{
    json_t *map = json_pack("{s:s,s:s,s:s}", "3", "pass", "0", "fail", "1",
                            "error");
    json_t *r = run_sh("exit 3", json_pack("{s:O}", "exit_codes", map));
    cr_assert_str_eq(status(r), "pass");
    json_decref(r);
    r = run_sh("exit 0", json_pack("{s:O}", "exit_codes", map));
    cr_assert_str_eq(status(r), "fail");
    json_decref(r);
    r = run_sh("exit 1", json_pack("{s:O}", "exit_codes", map));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
    json_decref(map);
    /* Codes the map does not name keep their default meaning. */
    r = run_sh("exit 1", json_pack("{s:{s:s}}", "exit_codes", "3", "pass"));
    cr_assert_str_eq(status(r), "fail");
    json_decref(r);
}

Test(exec, invalid_exit_codes_are_refused)
{
    json_t *r = run_sh("exit 0",
                       json_pack("{s:{s:s}}", "exit_codes", "0", "maybe"));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, "maybe"));
    json_decref(r);
    r = run_sh("exit 0", json_pack("{s:{s:s}}", "exit_codes", "x", "pass"));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, "\"x\""));
    json_decref(r);
    r = run_sh("exit 0", json_pack("{s:{s:s}}", "exit_codes", "256", "pass"));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
}

Test(exec, killed_by_signal_is_error)
{
    json_t *r = run_sh("kill -KILL $$", NULL);
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, "SIGKILL"));
    json_decref(r);
}

/* ---- timeout ---------------------------------------------------------- */

/* The provider outlives the timeout by orders of magnitude, so the verdict
 * does not depend on how fast the machine is. */
Test(exec, timeout_is_error)
{
    json_t *r = run_sh("exec sleep 600", json_pack("{s:i}", "timeout_ms", 100));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, "timed out"));
    json_decref(r);
}

Test(exec, timeout_escalates_to_sigkill)
{
    /* Ignoring SIGTERM (inherited by sleep) forces the SIGKILL step. */
    json_t *r = run_sh("trap '' TERM; sleep 600; sleep 600",
                       json_pack("{s:i}", "timeout_ms", 100));
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, "timed out"));
    json_decref(r);
}

/* ---- output ----------------------------------------------------------- */

Test(exec, output_is_truncated_and_counted)
{
    json_t *r = run_sh("i=0; while [ $i -lt 1000 ]; do "
                       "echo 01234567890123456789012345678901234567890123456; "
                       "i=$((i+1)); done",
                       json_pack("{s:i}", "max_output", 1000));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_eq(strlen(data(r, "stdout")), 1000);
    cr_assert_str_eq(data(r, "stdout_truncated"), "47000");
    cr_assert_str_eq(evidence(finding(r, 0), "stdout_truncated"), "47000");
    json_decref(r);
}

Test(exec, env_is_exactly_the_map)
{
    json_t *r = run_sh("printf '%s:%s' \"$FOO\" \"${HOME-unset}\"",
                       json_pack("{s:{s:s}}", "env", "FOO", "bar"));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(data(r, "stdout"), "bar:unset");
    json_decref(r);
    /* Not PATH: dash gives itself a default one. */
    r = run_sh("printf '%s' \"${HOME-unset}\"", NULL);
    cr_assert_str_eq(data(r, "stdout"), "unset");
    json_decref(r);
}

Test(exec, cwd_is_applied)
{
    char *dir = harness_tmpdir();
    char real[PATH_MAX], *want;
    cr_assert_not_null(realpath(dir, real));
    cr_assert_geq(asprintf(&want, "%s\n", real), 0);
    json_t *r = run_sh("pwd -P", json_pack("{s:s}", "cwd", dir));
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_eq(data(r, "stdout"), want);
    json_decref(r);
    free(want);
    free(dir);
}

/* ---- JSON report takeover --------------------------------------------- */

Test(exec, json_report_takes_over)
{
    json_t *r = run_sh(
        "printf '%s' '{\"status\":\"fail\",\"message\":\"custom\","
        "\"findings\":[{\"title\":\"t1\",\"subject\":\"s1\","
        "\"state\":\"not-satisfied\","
        "\"evidence\":{\"k\":\"v\",\"n\":3,\"b\":true}}]}'; exit 0",
        NULL);
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(message(r), "custom");
    cr_assert_eq(json_array_size(json_object_get(r, "findings")), 1);
    json_t *f = finding(r, 0);
    cr_assert_str_eq(json_string_value(json_object_get(f, "title")), "t1");
    cr_assert_str_eq(json_string_value(json_object_get(f, "subject")), "s1");
    cr_assert_str_eq(json_string_value(json_object_get(f, "state")),
                     "not-satisfied");
    cr_assert_str_eq(evidence(f, "k"), "v");
    cr_assert_str_eq(evidence(f, "n"), "3");
    cr_assert_str_eq(evidence(f, "b"), "true");
    json_decref(r);
}

Test(exec, json_status_overrides_only_when_present)
{
    /* No status: the exit code still decides. */
    json_t *r = run_sh("echo '{\"message\":\"hello\"}'; exit 1", NULL);
    cr_assert_str_eq(status(r), "fail");
    cr_assert_str_eq(message(r), "hello");
    json_decref(r);
    /* A status beats an exit code that maps to error. */
    r = run_sh("echo '{\"status\":\"pass\"}'; exit 7", NULL);
    cr_assert_str_eq(status(r), "pass");
    json_decref(r);
}

Test(exec, malformed_json_is_not_taken_over)
{
    json_t *r = run_sh("echo '{\"status\":\"fail\",'; exit 0", NULL);
    cr_assert_str_eq(status(r), "pass");
    json_decref(r);
    /* Valid JSON of the wrong shape is ignored whole. */
    r = run_sh("echo '{\"status\":\"maybe\",\"message\":\"x\"}'; exit 0", NULL);
    cr_assert_str_eq(status(r), "pass");
    cr_assert_str_neq(message(r), "x");
    json_decref(r);
}

/* ---- spawn failures --------------------------------------------------- */

Test(exec, missing_binary_is_error)
{
    json_t *r = run_argv(json_pack("[s]", "/nonexistent/assay-provider"),
                         NULL);
    cr_assert_str_eq(status(r), "error");
    cr_assert(says(r, "/nonexistent/assay-provider"));
    json_decref(r);
}

Test(exec, bad_params_are_errors)
{
    json_t *r = run_argv(json_pack("[]"), NULL);
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
    r = run_sh("exit 0", json_pack("{s:i}", "timeout_ms", 0));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
    r = run_sh("exit 0", json_pack("{s:I}", "max_output", (json_int_t)1 << 40));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
    r = run_sh("exit 0", json_pack("{s:{s:s}}", "env", "A=B", "c"));
    cr_assert_str_eq(status(r), "error");
    json_decref(r);
}

/* ---- confinement (core/exec/confine.c) --------------------------------- */

/* Runs `script` as exec.run with conf `c`; the single result (new). */
static json_t *run_sh_conf(const assay_conf *c, const char *script)
{
    json_t *spec = json_pack("{s:s, s:{s:[s,s,s]}}", "action", "exec.run",
                             "params", "argv", "/bin/sh", "-c", script);
    char *text = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    json_t *results = harness_run_conf(c, text);
    cr_assert_not_null(results, "spec refused: %s", text);
    free(text);
    json_t *r = json_incref(json_array_get(results, 0));
    json_decref(results);
    return r;
}

/* The exec and file plugins, copied to a directory outside /tmp that any user may
 * read (/var/tmp/assay-test-*): a confined executor loads it from there,
 * wherever the build tree is and whoever may read it. */
static void plugins_copy(char dir[32])
{
    char cmd[8192];
    snprintf(dir, 32, "/var/tmp/assay-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "chmod 755 %s && install -m 644 %s/assay-action_exec.so "
             "%s/assay-action_file.so %s/",
             dir, HARNESS_PLUGINS, HARNESS_PLUGINS, dir);
    cr_assert_eq(system(cmd), 0);
}

static void plugins_remove(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Whatever runs a job cannot gain privileges through a set-user-ID
 * program, and dumps no core. */
Test(exec, jobs_run_with_no_new_privs_and_no_core_dumps)
{
    json_t *r = run_sh("grep NoNewPrivs /proc/self/status; ulimit -c", NULL);
    cr_assert_str_eq(status(r), "pass", "%s", message(r));
    cr_expect(strstr(data(r, "stdout"), "NoNewPrivs:\t1"), "%s",
              data(r, "stdout"));
    cr_expect(strstr(data(r, "stdout"), "\n0\n"), "%s", data(r, "stdout"));
    json_decref(r);
}

/* Run as root, executors become executor_user before any plugin code. */
Test(exec, executor_user_runs_jobs_as_that_user)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run executors as another user");
    char plugins[32];
    plugins_copy(plugins);
    assay_conf c;
    harness_conf(&c, plugins);
    strlcpy(c.executor_user, "nobody", sizeof c.executor_user);
    json_t *r = run_sh_conf(&c, "id -u; id -G");
    cr_assert_str_eq(status(r), "pass", "%s", message(r));
    cr_expect_str_eq(data(r, "stdout"), "65534\n65534\n");
    json_decref(r);
    /* An unknown user is refused when the runner starts. */
    strlcpy(c.executor_user, "no-such-user-here", sizeof c.executor_user);
    assay_runner *run = NULL;
    char err[512];
    cr_expect_neq(assay_runner_new(&c, false, &run, err, sizeof err), 0);
    cr_expect(strstr(err, "executor_user no-such-user-here: no such user"),
              "%s", err);
    plugins_remove(plugins);
    assay_conf_fini(&c);
}

/* The first result of spec (JSON) run on r, as a status. */
static char *status_on(assay_runner *r, const char *spec)
{
    json_t *res = harness_run_on(r, spec);
    cr_assert_not_null(res, "%s", spec);
    json_t *one = json_array_get(res, 0);
    const char *st = json_string_value(json_object_get(one, "status"));
    const char *out = json_string_value(
        json_object_get(json_object_get(one, "data"), "stdout"));
    char *text;
    cr_assert_neq(asprintf(&text, "%s %s", st ? st : "?", out ? out : ""),
                  -1);
    json_decref(res);
    return text;
}

/* run_as: the plugins it names run as their own user, the others as
 * executor_user, in one pool (one executor here: it changes user as the
 * jobs need, and back). */
Test(exec, run_as_gives_a_plugin_its_own_user)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run executors as another user");
    if (access("/etc/shadow", F_OK) != 0)
        cr_skip_test("no /etc/shadow to read");
    char plugins[32];
    plugins_copy(plugins);
    assay_conf c;
    harness_conf(&c, plugins);
    c.executors = 1;
    strlcpy(c.executor_user, "nobody", sizeof c.executor_user);
    strlcpy(c.run_as, "file=root", sizeof c.run_as);
    const char *id = "{\"action\": \"exec.run\", \"params\": {\"argv\": "
                     "[\"/bin/sh\", \"-c\", \"id -u\"]}}",
               *shadow = "{\"action\": \"file.contains\", \"params\": "
                         "{\"pattern\": \"^root:\", \"path\": "
                         "\"/etc/shadow\"}}";
    assay_runner *r = NULL;
    char err[512];
    cr_assert_eq(assay_runner_new(&c, false, &r, err, sizeof err), 0, "%s",
                 err);
    char *a = status_on(r, id), *b = status_on(r, shadow),
         *d = status_on(r, id);
    cr_expect_str_eq(a, "pass 65534\n");
    cr_expect_str_eq(b, "pass ");
    cr_expect_str_eq(d, "pass 65534\n");
    free(a);
    free(b);
    free(d);
    assay_runner_destroy(&r);
    /* Without it, the file plugin runs as nobody, which may not read it. */
    c.run_as[0] = '\0';
    cr_assert_eq(assay_runner_new(&c, false, &r, err, sizeof err), 0, "%s",
                 err);
    b = status_on(r, shadow);
    cr_expect_neq(strncmp(b, "pass", 4), 0, "%s", b);
    free(b);
    assay_runner_destroy(&r);
    /* Bad entries are refused, naming them. */
    const char *bad[][2] = {{"file=no-such-user-here", "run_as file=no-such"},
                            {"file", "want PLUGIN=USER"},
                            {"file=root file=root", "named twice"}};
    for (size_t i = 0; i < 3; i++) {
        strlcpy(c.run_as, bad[i][0], sizeof c.run_as);
        cr_expect_neq(assay_runner_new(&c, false, &r, err, sizeof err), 0);
        cr_expect(strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
    }
    plugins_remove(plugins);
    assay_conf_fini(&c);
}

/* With executor_private_tmp, a job's /tmp is its own: it sees nothing
 * of the host's, and what it writes there stays out of the host's. The
 * plugin is loaded from outside /tmp (executors load plugins once they
 * have their own), and a plugins_dir under /tmp is refused. */
Test(exec, a_private_tmp_is_the_jobs_own)
{
    if (geteuid() != 0)
        cr_skip_test("needs root for a mount namespace");
    char *dir = harness_tmpdir(); /* under the host's /tmp */
    char plugins[32];
    plugins_copy(plugins);
    assay_conf c;
    harness_conf(&c, plugins);
    c.executor_private_tmp = 1;
    char script[512];
    snprintf(script, sizeof script,
             "test -e %s && echo host-visible; touch /tmp/assay-job-mark; "
             "ls /tmp",
             dir);
    json_t *r = run_sh_conf(&c, script);
    plugins_remove(plugins);
    cr_assert_str_eq(status(r), "pass", "%s", message(r));
    cr_expect_str_eq(data(r, "stdout"), "assay-job-mark\n");
    cr_expect_neq(access("/tmp/assay-job-mark", F_OK), 0,
                  "the job wrote into the host's /tmp");
    json_decref(r);
    strlcpy(c.plugins_dir, dir, sizeof c.plugins_dir);
    assay_runner *run = NULL;
    char err[512];
    cr_expect_neq(assay_runner_new(&c, false, &run, err, sizeof err), 0);
    cr_expect(strstr(err, "is under /tmp"), "%s", err);
    free(dir);
    assay_conf_fini(&c);
}

/* Executors, and what jobs start, get EPERM from the system calls a
 * check never needs (a user namespace here, harmless to make); with
 * executor_seccomp = 0 they may make them. */
Test(exec, jobs_cannot_make_what_checks_never_need)
{
    json_t *r = run_sh("unshare -U true", NULL);
    cr_expect_str_neq(status(r), "pass", "%s", message(r));
    cr_expect(strstr(data(r, "stderr"), "Operation not permitted"), "%s",
              data(r, "stderr"));
    json_decref(r);
    assay_conf c;
    harness_conf(&c, HARNESS_PLUGINS);
    c.executor_seccomp = 0;
    r = run_sh_conf(&c, "unshare -U true && echo made");
    cr_expect_str_eq(data(r, "stdout"), "made\n", "%s",
                     data(r, "stderr"));
    json_decref(r);
    assay_conf_fini(&c);
}
