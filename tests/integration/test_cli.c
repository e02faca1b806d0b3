/* tests/integration/test_cli.c - assayd and assayctl as a user runs them:
 * exit codes, error messages that name the bad input, nothing run when any
 * input is bad, and the daemon's start/stop. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define CTL HARNESS_BIN "assayctl --local --plugins-dir " HARNESS_PLUGINS
#define D HARNESS_BIN "assayd"

/* ---- Helpers ---------------------------------------------------------- */

static char *dir;

static void setup(void) { dir = harness_tmpdir(); }
static void teardown(void) { free(dir); }

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);


static char *spec(const char *name, const char *json)
{
    return harness_write(dir, name, json);
}

/* ---- assayctl --------------------------------------------------------- */

Test(cli, usage_errors_exit_64)
{
    harness_expect(64, "usage: assayctl", HARNESS_BIN "assayctl");
    harness_expect(64, "--local supports plugins and run, not 'frob'",
           HARNESS_BIN "assayctl --local frob");
    harness_expect(64, "unknown command 'run'", HARNESS_BIN "assayctl run x.json");
    harness_expect(64, "needs a SPEC.json", CTL " run");
    harness_expect(0, "78 bad config\n", HARNESS_BIN "assayctl --help");
}

Test(cli, exit_code_follows_the_worst_status)
{
    char cmd[1024], *p = spec("p.json", "{\"action\": \"noop.pass\"}");
    char *f = spec("f.json", "{\"action\": \"file.exists\", \"params\": "
                             "{\"path\": \"/nonexistent\"}}");
    char *e = spec("e.json", "{\"action\": \"exec.run\", \"params\": "
                             "{\"argv\": [\"/bin/sh\", \"-c\", \"exit 9\"]}}");
    snprintf(cmd, sizeof cmd, CTL " run %s", p);
    harness_expect(0, "1 jobs: 1 passed, 0 failed, 0 errors", cmd);
    snprintf(cmd, sizeof cmd, CTL " run %s %s", p, f);
    harness_expect(1, "2 jobs: 1 passed, 1 failed, 0 errors", cmd);
    snprintf(cmd, sizeof cmd, CTL " run %s %s %s", p, f, e);
    harness_expect(2, "3 jobs: 1 passed, 1 failed, 1 errors", cmd);
    free(p);
    free(f);
    free(e);
}

Test(cli, bad_specs_exit_65_naming_the_problem)
{
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"action\": \"noop.pass\",,}", ":1:"},
        {"[1]", "JobSpec must be a JSON object"},
        {"{\"action\": \"noop.pass\", \"colour\": 1}", "unknown field 'colour'"},
        {"{\"action\": \"nope.x\"}",
         "unknown plugin 'nope' in " HARNESS_PLUGINS
         " (installed: exec, file, noop, sleep)"},
        {"{\"action\": \"file.frob\"}", "has no action 'frob' (actions: exists"},
        {"{\"action\": \"file.mode\", \"params\": {\"path\": \"/\"}}",
         "missing required param 'mode'"},
        {"{\"action\": \"file.mode\", \"params\": {\"path\": \"/\", \"mode\": "
         "\"644\"}}",
         "param 'mode': expected int64, got string"},
        {"{\"action\": \"noop.pass\", \"version\": \"^9\"}",
         "no version of 'noop' matches '^9' (installed: 1.0.0)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char cmd[1024], *path = spec("bad.json", cases[i].json);
        snprintf(cmd, sizeof cmd, CTL " run %s", path);
        harness_expect(65, cases[i].needle, cmd);
        free(path);
    }
    harness_expect(65, "/nonexistent.json", CTL " run /nonexistent.json");
}

Test(cli, one_bad_spec_means_nothing_runs)
{
    char cmd[2048], marker[512];
    snprintf(marker, sizeof marker, "%s/ran", dir);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"action\": \"exec.run\", \"params\": {\"argv\": "
             "[\"/usr/bin/touch\", \"%s\"]}}",
             marker);
    char *good = spec("good.json", json);
    char *bad = spec("bad.json", "{\"action\": \"file.mode\"}");
    snprintf(cmd, sizeof cmd, CTL " run %s %s", good, bad);
    harness_expect(65, "missing required param 'path'", cmd);
    cr_expect_neq(access(marker, F_OK), 0, "the good spec ran");
    free(good);
    free(bad);
}

Test(cli, json_output_parses)
{
    char cmd[1024], *out;
    char *p = spec("p.json", "{\"id\": \"j\", \"action\": \"noop.pass\", "
                             "\"targets\": [{}, {}]}");
    snprintf(cmd, sizeof cmd, CTL " --json run %s 2>/dev/null", p);
    cr_assert_eq(harness_sh(&out, "%s", cmd), 0);
    json_t *doc = json_loads(out, 0, NULL);
    cr_assert_not_null(doc, "%s", out);
    json_t *results = json_object_get(doc, "results");
    cr_expect_eq(json_array_size(results), 2);
    cr_expect_str_eq(harness_field(results, 1, "job"), "j-1");
    cr_expect_str_eq(harness_field(results, 1, "status"), "pass");
    json_decref(doc);
    free(out);
    free(p);
}

Test(cli, plugins_lists_catalogue_and_refusals)
{
    harness_expect(0, "noop.pass()", CTL " plugins");
    /* A refused file fails a plugin author's check (65) and says so. */
    harness_expect(65, "refused:", HARNESS_BIN "assayctl plugins --local "
                           "--plugins-dir " HARNESS_FIXTURES "broken");
    harness_expect(65, "plugin files in " HARNESS_FIXTURES "broken were refused",
           HARNESS_BIN "assayctl plugins --local --plugins-dir "
           HARNESS_FIXTURES "broken");
    harness_expect(69, "/nonexistent/dir", HARNESS_BIN "assayctl plugins --local "
                                   "--plugins-dir /nonexistent/dir");
    /* An empty directory is not a silent success. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             HARNESS_BIN "assayctl plugins --local --plugins-dir %s", dir);
    harness_expect(69, "no plugins in", cmd);
}

Test(cli, inline_run_takes_action_params_and_targets_as_flags)
{
    /* Values are read as the declared type: mode is an int64. */
    harness_expect(1, "2 jobs: 1 passed, 1 failed, 0 errors",
           CTL " run --action file.mode --param mode=420"
               " --target path=/etc/passwd"
               " --target '{\"path\": \"/etc/shadow\"}'");
    harness_expect(0, "1 jobs: 1 passed", CTL " run --action noop.pass");
    harness_expect(0, "inline-0", CTL " run --action file.exists@^1"
                          " --param path=/etc/passwd --param follow=false");
    /* Bad flags name the flag, the value and the declared type. */
    harness_expect(65, "--param mode=rw: not a valid int64",
           CTL " run --action file.mode --param mode=rw "
               "--target path=/etc/passwd");
    harness_expect(65, "--action nope.x: unknown plugin 'nope'",
           CTL " run --action nope.x");
    harness_expect(65, "--target wants KEY=VALUE, got 'path'",
           CTL " run --action file.exists --target path");
    harness_expect(65, "unknown param 'colour'",
           CTL " run --action noop.pass --param colour=red");
    harness_expect(64, "--param and --target need --action",
           CTL " run --param x=1 spec.json");
    /* Elsewhere they would be ignored, so they are refused. */
    harness_expect(64, "--action, --param and --target are for run --local",
           HARNESS_BIN "assayctl submit x.json --param a=1");
    harness_expect(64, "--dir is for plugin new", CTL " run x.json --dir /tmp");
    harness_expect(65, "--param mode: given twice",
           CTL " run --action file.mode --param mode=420 --param mode=384"
               " --target path=/etc/passwd");
    harness_expect(65, "(a value with commas: give the target as a JSON object)",
           CTL " run --action file.exists --target 'path=/a,b'");
    harness_expect(65, "--param path: value is not valid UTF-8",
           CTL " run --action noop.pass --param path=$(printf '\\377')");
}

Test(cli, plugin_new_refuses_bad_names_and_never_overwrites)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, HARNESS_BIN "assayctl plugin new 'Bad Name' "
                              "--dir %s/bad", dir);
    harness_expect(65, "plugin name 'Bad Name': use a lowercase letter", cmd);
    snprintf(cmd, sizeof cmd, "test ! -e %s/bad", dir);
    harness_expect(0, "", cmd);
    snprintf(cmd, sizeof cmd, HARNESS_BIN "assayctl plugin new ok --dir %s",
             dir); /* not empty: it holds this suite's files */
    char *f = spec("keep.txt", "mine\n");
    harness_expect(65, "exists and is not empty; nothing written", cmd);
    snprintf(cmd, sizeof cmd, "cat %s", f);
    harness_expect(0, "mine", cmd);
    harness_expect(64, "usage: plugin new NAME", HARNESS_BIN "assayctl plugin new");
    free(f);
}

Test(cli, check_confirms_what_it_checked)
{
    char cmd[1024], *conf = spec("c.conf", "executors = 1;\n");
    snprintf(cmd, sizeof cmd,
             D " --check --config %s --plugins-dir " HARNESS_PLUGINS, conf);
    harness_expect(0, "configuration OK (", cmd);
    harness_expect(0, "plugins loaded, 0 refused, from " HARNESS_PLUGINS, cmd);
    harness_expect(0, "configuration OK (no file); runs no jobs",
           D " --check --no-config --executors 0");
    free(conf);
}

Test(cli, help_names_the_config_read_by_default)
{
    /* A build tree has no installed config: --help says where it would be
     * and that it is not there, so no file is read. */
    harness_expect(0, HARNESS_BUILD_DIR "/etc/assay/assayd.conf (not there now)",
           D " --help");
    harness_expect(0, "configuration OK (no file)",
           D " --check --executors 0");
}

/* ---- assayd ----------------------------------------------------------- */

Test(cli, help_config_lists_every_key)
{
    static const char *keys[] = {"plugins_dir", "executor_path", "executors",
                                 "jobs_per_executor", "default_timeout_ms",
                                 "kill_grace_ms", "job_memory_mb",
                                 "job_cpu_seconds", "output_limit_kb",
                                 "max_attempts", "log_level"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        harness_expect(0, keys[i], D " --help-config");
}

Test(cli, bad_config_exits_78_naming_file_line_key)
{
    char *conf = harness_write(dir, "bad.conf", "executors = 2;\n"
                                                "colour = \"blue\";\n");
    char cmd[1024], needle[600];
    snprintf(cmd, sizeof cmd, D " --check --config %s", conf);
    snprintf(needle, sizeof needle, "%s:2: unknown key 'colour'", conf);
    harness_expect(78, needle, cmd);
    harness_expect(78, "executors", D " --check --set executors=999");
    harness_expect(78, "KEY=VALUE", D " --check --set executors");
    harness_expect(64, "unexpected argument", D " stray");
    free(conf);
}

/* A node's id names it in every runtime table and notify_command's
 * environment: one that reads as an option or a path is refused. */
Test(cli, node_ids_that_read_as_paths_or_options_exit_78)
{
    harness_expect(78, "node_id '-rf': use 1 to 63 letters",
           D " --check --no-config --executors 0 --set node_id=-rf");
    harness_expect(78, "node_id '..': use 1 to 63 letters",
           D " --check --no-config --executors 0 --set node_id=..");
    harness_expect(78, "node_id 'a/b'",
           D " --check --no-config --executors 0 --set node_id=a/b");
    harness_expect(0, "configuration OK",
           D " --check --no-config --executors 0 --set node_id=rt-1.a_b");
}

/* Plugins run as the daemon: a plugins directory or plugin file that
 * every user may write is refused, naming it and the fix. */
Test(cli, world_writable_plugins_are_refused)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/open && chmod 0777 %s/open && " D
             " --check --no-config --executors 1 --plugins-dir %s/open",
             dir, dir, dir);
    harness_expect(69, "is writable by every user", cmd);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/mine && cp " HARNESS_PLUGINS
             "/assay-action_noop.so %s/mine/ && chmod 0666 "
             "%s/mine/assay-action_noop.so && " HARNESS_BIN
             "assayctl plugins --local --plugins-dir %s/mine",
             dir, dir, dir, dir);
    harness_expect(65, "assay-action_noop.so: writable by every user (chmod o-w it)",
           cmd);
}

Test(cli, check_validates_default_config_and_plugins)
{
    harness_expect(0, "4 plugins loaded, 0 refused",
           D " --check --config " ASSAY_SOURCE_DIR "/conf/assayd.conf "
             "--plugins-dir " HARNESS_PLUGINS " --executors 1");
}

Test(cli, daemon_starts_and_stops_on_sigterm)
{
    char cmd[2048];
    int port = harness_port();
    /* Bounded: at most 100 x 0.1 s for readiness. */
    snprintf(cmd, sizeof cmd,
             D " --plugins-dir " HARNESS_PLUGINS " --executors 2 "
               "--listen tcp://127.0.0.1:%d --events tcp://127.0.0.1:%d "
               ">%s/log 2>&1 & pid=$!; "
             "i=0; until grep -q 'registered with' %s/log || [ $i -ge 100 ]; "
             "do sleep 0.1; i=$((i+1)); done; "
             "kids=$(pgrep -P $pid | wc -l); kill -TERM $pid; wait $pid; "
             "echo \"exit=$? executors=$kids\"; cat %s/log",
             port, harness_port(), dir, dir, dir);
    harness_expect(0, "exit=0 executors=2", cmd);
}
