/* tests/core/test_conf.c - defaults, file loading, errors, overrides, help.
 *
 * Fixture files go to a fresh mkdtemp directory per test (Criterion runs
 * each test in its own process). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, open_memstream */
#endif
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include <assay/error.h>
#include <assay/host.h>

#include "base/conf.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/assay-conf-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(conf, .init = setup, .fini = teardown);

/* Writes len bytes to dir/name; returns the path (static, per name slot). */
static const char *fixture_n(const char *name, const char *text, size_t len)
{
    static char path[4][128];
    static int slot;
    char *p = path[slot++ % 4];
    FILE *f;

    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return p;
}

static const char *fixture(const char *name, const char *text)
{
    return fixture_n(name, text, strlen(text));
}

/* A configuration with non-default values everywhere that a failed load
 * could touch, so that "unchanged" is a meaningful check. */
static void init_custom(assay_conf *c)
{
    char err[ASSAY_ERRMSG_SIZE];

    cr_assert_eq(assay_conf_init(c), 0);
    cr_assert_eq(assay_conf_set(c, "executors", "7", err, sizeof err), 0);
    cr_assert_eq(assay_conf_set(c, "log_level", "warn", err, sizeof err), 0);
    cr_assert_eq(assay_conf_set(c, "plugin.keep.k", "v", err, sizeof err), 0);
}

static void expect_unchanged(const assay_conf *c, const assay_conf *before,
                             const json_t *plugin_before)
{
    cr_expect_eq(memcmp(c, before, sizeof *c), 0, "fields changed");
    cr_expect(json_equal(c->plugin, (json_t *)plugin_before),
              "plugin settings changed");
}

/* Loads `text`; expects `code` and an error "PATH:LINE: ..." containing
 * `want`, and the configuration untouched. */
static void expect_load_error(const char *text, int code, unsigned line,
                              const char *want)
{
    const char *path = fixture("bad.conf", text);
    char err[ASSAY_ERRMSG_SIZE] = "", prefix[160];
    assay_conf c, before;
    json_t *plugin_before;

    init_custom(&c);
    memcpy(&before, &c, sizeof c);
    plugin_before = json_deep_copy(c.plugin);
    cr_expect_eq(assay_conf_load(&c, path, err, sizeof err), code,
                 "for:\n%s\nerr: %s", text, err);
    snprintf(prefix, sizeof prefix, "%s:%u: ", path, line);
    cr_expect_eq(strncmp(err, prefix, strlen(prefix)), 0,
                 "error '%s' does not start with '%s'", err, prefix);
    cr_expect_not_null(strstr(err, want), "error '%s' lacks '%s'", err, want);
    cr_expect_null(strchr(err, '\n'), "error is one line: '%s'", err);
    expect_unchanged(&c, &before, plugin_before);
    json_decref(plugin_before);
    assay_conf_fini(&c);
}

/* plugins_dir's default is found from the running binary: this test runs
 * from the build tree's bin/, whose stock plugins are in plugins-out/. */
static void expect_defaults(const assay_conf *c)
{
    cr_expect_str_eq(c->plugins_dir, HARNESS_BUILD_DIR "/plugins-out");
    cr_expect_str_empty(c->executor_path);
    cr_expect_eq(c->executors, -1);
    cr_expect_eq(c->jobs_per_executor, 16);
    cr_expect_eq(c->default_timeout_ms, 30000);
    cr_expect_eq(c->kill_grace_ms, 2000);
    cr_expect_eq(c->job_memory_mb, 0);
    cr_expect_eq(c->job_cpu_seconds, 0);
    cr_expect_eq(c->output_limit_kb, 1024);
    cr_expect_eq(c->max_attempts, 3);
    cr_expect_eq(c->log_level, ASSAY_LOG_INFO);
}

Test(conf, defaults)
{
    assay_conf c;

    cr_assert_eq(assay_conf_init(&c), 0);
    expect_defaults(&c);
    cr_expect(json_is_object(c.plugin));
    cr_expect_eq(json_object_size(c.plugin), 0);
    cr_expect_null(assay_conf_plugin(&c, "exec", "max_output"));
    assay_conf_fini(&c);
    cr_expect_null(c.plugin);
    assay_conf_fini(&c); /* twice is harmless */
}

Test(conf, shipped_file_loads_as_defaults)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_conf c;

    cr_assert_eq(assay_conf_init(&c), 0);
    cr_expect_eq(assay_conf_load(&c, ASSAY_SOURCE_DIR "/conf/assayd.conf", err,
                                 sizeof err),
                 0, "%s", err);
    expect_defaults(&c);
    cr_expect_eq(json_object_size(c.plugin), 0);
    assay_conf_fini(&c);
}

/* The shipped file with its "#key = value;" lines and the plugin example
 * uncommented must still load, list every key, and match the defaults. */
Test(conf, shipped_file_documents_every_default)
{
    static const char *const names[] = {
        "plugins_dir",       "executor_path",      "executors",
        "jobs_per_executor", "default_timeout_ms", "kill_grace_ms",
        "job_memory_mb",     "job_cpu_seconds",    "output_limit_kb",
        "max_attempts",      "log_level",          "modules_dir",
        "transport",         "consensus",          "node_id",
        "listen",            "events",             "join",
        "labels",            "heartbeat_ms",       "heartbeat_misses",
        "lease_grace_ms",    "retain_jobs",        "retain_seconds",
        "stream_max_lag",    "metrics_listen",
        "max_message_kb",     "max_cpu_percent",
        "min_mem_free_percent", "proc_root",       "cgroup_root",
        "notify_command",    "member_id",          "members",
        "raft_address",      "data_dir",           "advertise",
        "advertise_events",  "election_ms",        "raft_heartbeat_ms",
        "snapshot_threshold", "snapshot_trailing", "feature_level",
    };
    FILE *in = fopen(ASSAY_SOURCE_DIR "/conf/assayd.conf", "r");
    char *text = NULL, *line = NULL, err[ASSAY_ERRMSG_SIZE] = "";
    size_t textlen = 0, cap = 0;
    FILE *out = open_memstream(&text, &textlen);
    bool in_plugin = false;
    assay_conf c;

    cr_assert_not_null(in);
    cr_assert_not_null(out);
    while (getline(&line, &cap, in) > 0) {
        bool setting = line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' &&
                       strstr(line, " = ");

        if (strncmp(line, "#plugin = {", 11) == 0)
            in_plugin = true;
        fputs(setting || in_plugin ? line + 1 : line, out);
        if (strncmp(line, "#};", 3) == 0)
            in_plugin = false;
    }
    free(line);
    fclose(in);
    fclose(out);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char want[64];

        snprintf(want, sizeof want, "\n%s = ", names[i]);
        cr_expect_not_null(strstr(text, want), "no line for '%s'", names[i]);
    }

    cr_assert_eq(assay_conf_init(&c), 0);
    cr_expect_eq(
        assay_conf_load(&c, fixture("all.conf", text), err, sizeof err), 0,
        "%s", err);
    /* the file's plugins_dir = "" means this program's stock plugins */
    expect_defaults(&c);
    cr_expect_str_eq(assay_conf_plugin(&c, "myplugin", "greeting"), "hello");
    assay_conf_fini(&c);
    free(text);
}

Test(conf, load_values)
{
    const char *path = fixture(
        "ok.conf", "# comment\n"
                   "plugins_dir = \"/opt/assay/plugins\";\n"
                   "executor_path = \"/opt/assay/bin/assay-executor\";\n"
                   "executors = 2;\n"
                   "jobs_per_executor = 1024;\n"
                   "default_timeout_ms = 86400000;\n"
                   "kill_grace_ms = 0;\n"
                   "job_memory_mb = 512L; // 64-bit literal is fine\n"
                   "job_cpu_seconds = 0x3c;\n"
                   "output_limit_kb = 1;\n"
                   "max_attempts = 100;\n"
                   "log_level = \"debug\";\n");
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_conf c;

    init_custom(&c);
    cr_assert_eq(assay_conf_load(&c, path, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(c.plugins_dir, "/opt/assay/plugins");
    cr_expect_str_eq(c.executor_path, "/opt/assay/bin/assay-executor");
    cr_expect_eq(c.executors, 2);
    cr_expect_eq(c.jobs_per_executor, 1024);
    cr_expect_eq(c.default_timeout_ms, 86400000);
    cr_expect_eq(c.kill_grace_ms, 0);
    cr_expect_eq(c.job_memory_mb, 512);
    cr_expect_eq(c.job_cpu_seconds, 60);
    cr_expect_eq(c.output_limit_kb, 1);
    cr_expect_eq(c.max_attempts, 100);
    cr_expect_eq(c.log_level, ASSAY_LOG_DEBUG);
    cr_expect_str_eq(assay_conf_plugin(&c, "keep", "k"), "v",
                     "earlier plugin settings survive a load");
    assay_conf_fini(&c);
}

Test(conf, load_layers_on_current_values)
{
    const char *path = fixture("part.conf", "max_attempts = 5;\n");
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_conf c;

    init_custom(&c);
    cr_assert_eq(assay_conf_load(&c, path, err, sizeof err), 0, "%s", err);
    cr_expect_eq(c.max_attempts, 5);
    cr_expect_eq(c.executors, 7, "keys the file omits keep their value");
    cr_expect_eq(c.log_level, ASSAY_LOG_WARN);
    assay_conf_fini(&c);
}

Test(conf, plugin_group)
{
    const char *path = fixture(
        "plugin.conf", "plugin = {\n"
                       "  exec = { max_output = 1024; shell = \"/bin/sh\"; };\n"
                       "  http = {\n"
                       "    verify = true; insecure = false;\n"
                       "    ratio = 0.1; big = 99999999999L; neg = -3;\n"
                       "    hex = 0x10; exp = 1.5e300;\n"
                       "  };\n"
                       "  empty = {};\n"
                       "  keep = { k = \"replaced\"; };\n"
                       "};\n");
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_conf c;

    init_custom(&c);
    cr_assert_eq(assay_conf_load(&c, path, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(assay_conf_plugin(&c, "exec", "max_output"), "1024");
    cr_expect_str_eq(assay_conf_plugin(&c, "exec", "shell"), "/bin/sh");
    cr_expect_str_eq(assay_conf_plugin(&c, "http", "verify"), "true");
    cr_expect_str_eq(assay_conf_plugin(&c, "http", "insecure"), "false");
    cr_expect_str_eq(assay_conf_plugin(&c, "http", "ratio"), "0.1");
    cr_expect_str_eq(assay_conf_plugin(&c, "http", "big"), "99999999999");
    cr_expect_str_eq(assay_conf_plugin(&c, "http", "neg"), "-3");
    cr_expect_str_eq(assay_conf_plugin(&c, "http", "hex"), "16");
    cr_expect_str_eq(assay_conf_plugin(&c, "http", "exp"), "1.5e+300");
    cr_expect_str_eq(assay_conf_plugin(&c, "keep", "k"), "replaced");
    cr_expect_null(assay_conf_plugin(&c, "http", "nope"));
    cr_expect_null(assay_conf_plugin(&c, "nope", "verify"));
    cr_expect_null(json_object_get(c.plugin, "empty"),
                   "a plugin without settings adds nothing");
    assay_conf_fini(&c);
}

Test(conf, error_include)
{
    fixture("inc.conf", "executors = 3;\n");
    expect_load_error("max_attempts = 2;\n@include \"inc.conf\"\n",
                      ASSAY_EUNSUPP, 2, "@include is not supported");
    expect_load_error("# @include \"x\" in a comment is fine\n"
                      "plugins_dir = \"@include\";\n  @include \"inc.conf\"\n",
                      ASSAY_EUNSUPP, 3, "@include is not supported");
}

Test(conf, error_syntax)
{
    expect_load_error("executors = 2;\nlog_level = ;\n", ASSAY_EPARSE, 2,
                      "syntax error (expected settings of the form "
                      "name = value;)");
    expect_load_error("executors = 2;\n\nexecutors = 3;\n", ASSAY_EPARSE, 3,
                      "syntax error: duplicate setting name");
}

/* libconfig reports these where it gave up, often the end of the file
 * (an unclosed string on line 1 came out as line 3), or not at all (an
 * unclosed comment dropped the rest of the file). */
Test(conf, error_names_the_line_where_the_problem_starts)
{
    expect_load_error("log_level = \"info;\nexecutors = 2;\n"
                      "plugins_dir = \"/x\";\n",
                      ASSAY_EPARSE, 1, "unterminated string (a '\"' is missing)");
    expect_load_error("executors = 2;\nlog_level = \"info\n", ASSAY_EPARSE, 2,
                      "unterminated string (a '\"' is missing)");
    expect_load_error("plugins_dir = \"/x\\\n\";\n", ASSAY_EPARSE, 1,
                      "unterminated string");
    expect_load_error("executors = 2;\n/* executors = 3;\nlog_level = 1;\n",
                      ASSAY_EPARSE, 2,
                      "unterminated comment (a '*/' is missing)");
    expect_load_error("plugin = {\n  file = {\n    max = 1;\n  };\n"
                      "executors = 2;\n",
                      ASSAY_EPARSE, 1, "'{' is never closed (a '}' is missing)");
    expect_load_error("plugin = {\n  file = {\n    max = 1;\n  ];\n};\n",
                      ASSAY_EPARSE, 4,
                      "']' cannot close the '{' of line 2 (a '}' is missing)");
    expect_load_error("executors = 2;\n};\n", ASSAY_EPARSE, 2,
                      "'}' closes nothing (no '{' is open)");
    /* brackets, quotes and comment marks inside strings and comments are
     * text */
    expect_load_error("plugins_dir = \"{[( /* #\";\n# \" {\n/* \" ( */\n"
                      "// [\nfoo = 1;\n",
                      ASSAY_EINVAL, 5, "unknown key 'foo'");
}

/* Lists of `depth` nested lists: "a = ((...));" */
static const char *nested(char *text, size_t len, int depth)
{
    strlcpy(text, "a = ", len);
    for (int i = 0; i < depth; i++)
        strlcat(text, "(", len);
    for (int i = 0; i < depth; i++)
        strlcat(text, ")", len);
    strlcat(text, ";\n", len);
    return text;
}

Test(conf, nesting_limit)
{
    char text[256];

    /* 64 levels get past the pre-scan to the schema */
    expect_load_error(nested(text, sizeof text, 64), ASSAY_EINVAL, 1,
                      "unknown key 'a'");
    expect_load_error(nested(text, sizeof text, 65), ASSAY_ETOOBIG, 1,
                      "nested deeper than 64 levels");
}

Test(conf, error_unknown_key)
{
    expect_load_error("executors = 2;\n\nfoo = 1;\n", ASSAY_EINVAL, 3,
                      "unknown key 'foo'");
    expect_load_error("Executors = 2;\n", ASSAY_EINVAL, 1,
                      "unknown key 'Executors'");
}

Test(conf, error_wrong_type)
{
    expect_load_error("executors = \"two\";\n", ASSAY_ETYPE, 1,
                      "key 'executors': expected integer, got string");
    expect_load_error("\nmax_attempts = true;\n", ASSAY_ETYPE, 2,
                      "key 'max_attempts': expected integer, got boolean");
    expect_load_error("kill_grace_ms = 2.5;\n", ASSAY_ETYPE, 1,
                      "key 'kill_grace_ms': expected integer, got float");
    expect_load_error("plugins_dir = 3;\n", ASSAY_ETYPE, 1,
                      "key 'plugins_dir': expected string, got integer");
    expect_load_error("log_level = 3;\n", ASSAY_ETYPE, 1,
                      "key 'log_level': expected string, got integer");
    expect_load_error("executors = [1, 2];\n", ASSAY_ETYPE, 1,
                      "key 'executors': expected integer, got array");
    expect_load_error("executor_path = (\"a\");\n", ASSAY_ETYPE, 1,
                      "key 'executor_path': expected string, got list");
}

Test(conf, error_nested_group)
{
    expect_load_error("executors = {\n  a = 1;\n};\n", ASSAY_ETYPE, 1,
                      "key 'executors': expected integer, got group");
    expect_load_error("plugin = 3;\n", ASSAY_ETYPE, 1,
                      "key 'plugin': expected group, got integer");
    expect_load_error("plugin = {\n  exec = \"x\";\n};\n", ASSAY_ETYPE, 2,
                      "key 'plugin.exec': expected group, got string");
    expect_load_error("plugin = {\n  exec = {\n    x = { y = 1; };\n  };\n};\n",
                      ASSAY_ETYPE, 3,
                      "key 'plugin.exec.x': expected scalar, got group");
    expect_load_error("plugin = { exec = {\n x = (1, 2); }; };\n", ASSAY_ETYPE,
                      2, "key 'plugin.exec.x': expected scalar, got list");
}

Test(conf, error_out_of_range)
{
    expect_load_error("executors = 999;\n", ASSAY_ERANGE, 1,
                      "key 'executors': 999 out of range -1..256");
    expect_load_error("\n\njobs_per_executor = 0;\n", ASSAY_ERANGE, 3,
                      "key 'jobs_per_executor': 0 out of range 1..1024");
    expect_load_error("kill_grace_ms = -1;\n", ASSAY_ERANGE, 1,
                      "key 'kill_grace_ms': -1 out of range 0..60000");
    expect_load_error("job_memory_mb = 99999999999L;\n", ASSAY_ERANGE, 1,
                      "key 'job_memory_mb': 99999999999 out of range "
                      "0..1048576");
    /* a later key fails: nothing of the earlier ones is applied */
    expect_load_error("executors = 2;\nmax_attempts = 101;\n", ASSAY_ERANGE, 2,
                      "key 'max_attempts': 101 out of range 1..100");
}

/* libconfig 1.5 wraps 4294967298 to 2 without a word; conf refuses it. */
Test(conf, error_integer_literal_overflow)
{
    expect_load_error("# 99999999999 in a comment is fine\n"
                      "executors = 4294967298;\n",
                      ASSAY_ERANGE, 2, "integer 4294967298 does not fit");
    expect_load_error("output_limit_kb = 0x100000000;\n", ASSAY_ERANGE, 1,
                      "integer 0x100000000 does not fit in 32 bits");
    expect_load_error("plugin = { p = {\n"
                      "  s = \"99999999999 /* \\\" \";\n"
                      "  /* 99999999999\n   */ f = 99999999999.5;\n"
                      "  name-9999999999999 = 1;\n"
                      "  big = -99999999999999999999L;\n"
                      "}; };\n",
                      ASSAY_ERANGE, 6,
                      "integer 99999999999999999999L does not fit in 64 bits");
}

Test(conf, error_bad_enum)
{
    expect_load_error("log_level = \"verbose\";\n", ASSAY_EINVAL, 1,
                      "key 'log_level': 'verbose' is not one of error, warn, "
                      "info, debug");
}

Test(conf, error_string_too_long)
{
    char text[5000];

    strcpy(text, "\nplugins_dir = \"");
    memset(text + strlen(text), 'a', 4096);
    strcpy(text + strlen("\nplugins_dir = \"") + 4096, "\";\n");
    expect_load_error(text, ASSAY_ETOOBIG, 2,
                      "key 'plugins_dir': value of 4096 bytes exceeds the "
                      "limit of 4095");
}

Test(conf, error_plugin_value_not_utf8)
{
    expect_load_error("plugin = { p = { k = \"\xff\"; }; };\n", ASSAY_EINVAL, 1,
                      "key 'plugin.p.k': value is not valid UTF-8");
}

Test(conf, error_nul_byte)
{
    static const char text[] = "executors = 1;\n\nmax_attempts = 2;\0junk";
    const char *path = fixture_n("nul.conf", text, sizeof text - 1);
    char err[ASSAY_ERRMSG_SIZE] = "", want[160];
    assay_conf c;

    cr_assert_eq(assay_conf_init(&c), 0);
    cr_expect_eq(assay_conf_load(&c, path, err, sizeof err), ASSAY_EPARSE);
    snprintf(want, sizeof want, "%s:3: syntax error: NUL byte", path);
    cr_expect_str_eq(err, want);
    assay_conf_fini(&c);
}

Test(conf, error_missing_file)
{
    char err[ASSAY_ERRMSG_SIZE] = "", path[128], want[200];
    assay_conf c;

    snprintf(path, sizeof path, "%s/absent.conf", dir);
    cr_assert_eq(assay_conf_init(&c), 0);
    cr_expect_eq(assay_conf_load(&c, path, err, sizeof err), ASSAY_ENOENT);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory",
             path);
    cr_expect_str_eq(err, want);
    expect_defaults(&c);
    assay_conf_fini(&c);
}

Test(conf, error_directory)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_conf c;

    cr_assert_eq(assay_conf_init(&c), 0);
    cr_expect_eq(assay_conf_load(&c, dir, err, sizeof err), ASSAY_EIO);
    cr_expect_not_null(strstr(err, "cannot read"), "%s", err);
    assay_conf_fini(&c);
}

Test(conf, error_too_big)
{
    size_t len = ASSAY_CONF_MAX_BYTES + 1;
    char *text = malloc(len), err[ASSAY_ERRMSG_SIZE] = "", want[200];
    const char *path;
    assay_conf c;

    cr_assert_not_null(text);
    memset(text, '\n', len);
    path = fixture_n("big.conf", text, len);
    free(text);
    cr_assert_eq(assay_conf_init(&c), 0);
    cr_expect_eq(assay_conf_load(&c, path, err, sizeof err), ASSAY_ETOOBIG);
    snprintf(want, sizeof want, "%s: larger than 1048576 bytes", path);
    cr_expect_str_eq(err, want);

    /* exactly the limit is fine */
    text = malloc(len - 1);
    cr_assert_not_null(text);
    memset(text, '\n', len - 1);
    path = fixture_n("max.conf", text, len - 1);
    free(text);
    cr_expect_eq(assay_conf_load(&c, path, err, sizeof err), 0, "%s", err);
    assay_conf_fini(&c);
}

Test(conf, error_buffer_optional)
{
    assay_conf c;
    char tiny[8];

    cr_assert_eq(assay_conf_init(&c), 0);
    cr_expect_eq(assay_conf_set(&c, "executors", "999", NULL, 0), ASSAY_ERANGE);
    cr_expect_eq(assay_conf_load(&c, fixture("x.conf", "executors = 999;"),
                                 tiny, sizeof tiny),
                 ASSAY_ERANGE);
    cr_expect_eq(strlen(tiny), sizeof tiny - 1, "truncated, terminated");
    assay_conf_fini(&c);
}

Test(conf, set_overrides)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_conf c;

    cr_assert_eq(assay_conf_init(&c), 0);
    cr_expect_eq(assay_conf_set(&c, "executors", "4", err, sizeof err), 0);
    cr_expect_eq(c.executors, 4);
    cr_expect_eq(assay_conf_set(&c, "executors", "+5", err, sizeof err), 0);
    cr_expect_eq(c.executors, 5);
    cr_expect_eq(
        assay_conf_set(&c, "default_timeout_ms", "86400000", err, sizeof err),
        0);
    cr_expect_eq(c.default_timeout_ms, 86400000);
    cr_expect_eq(assay_conf_set(&c, "log_level", "error", err, sizeof err), 0);
    cr_expect_eq(c.log_level, ASSAY_LOG_ERROR);
    cr_expect_eq(assay_conf_set(&c, "plugins_dir", "/p", err, sizeof err), 0);
    cr_expect_str_eq(c.plugins_dir, "/p");
    cr_expect_eq(assay_conf_set(&c, "executor_path", "", err, sizeof err), 0);
    cr_expect_str_empty(c.executor_path);
    cr_expect_eq(
        assay_conf_set(&c, "plugin.exec.max_output", "2048", err, sizeof err),
        0);
    cr_expect_str_eq(assay_conf_plugin(&c, "exec", "max_output"), "2048");
    cr_expect_eq(
        assay_conf_set(&c, "plugin.exec.max_output", "4096", err, sizeof err),
        0);
    cr_expect_str_eq(assay_conf_plugin(&c, "exec", "max_output"), "4096");
    cr_expect_eq(
        assay_conf_set(&c, "plugin.my-plugin_2.Key-1", "a b", err, sizeof err),
        0);
    cr_expect_str_eq(assay_conf_plugin(&c, "my-plugin_2", "Key-1"), "a b");
    assay_conf_fini(&c);
}

static void expect_set_error(const char *key, const char *value, int code,
                             const char *want)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_conf c, before;
    json_t *plugin_before;

    init_custom(&c);
    memcpy(&before, &c, sizeof c);
    plugin_before = json_deep_copy(c.plugin);
    cr_expect_eq(assay_conf_set(&c, key, value, err, sizeof err), code,
                 "%s=%s: %s", key, value, err);
    cr_expect_str_eq(err, want);
    expect_unchanged(&c, &before, plugin_before);
    json_decref(plugin_before);
    assay_conf_fini(&c);
}

Test(conf, set_errors)
{
    char longval[4097];

    expect_set_error("nope", "1", ASSAY_EINVAL, "unknown key 'nope'");
    expect_set_error("executors", "abc", ASSAY_ETYPE,
                     "key 'executors': expected integer, got 'abc'");
    expect_set_error("executors", "", ASSAY_ETYPE,
                     "key 'executors': expected integer, got ''");
    expect_set_error("executors", " 4", ASSAY_ETYPE,
                     "key 'executors': expected integer, got ' 4'");
    expect_set_error("executors", "4 ", ASSAY_ETYPE,
                     "key 'executors': expected integer, got '4 '");
    expect_set_error("executors", "0x10", ASSAY_ETYPE,
                     "key 'executors': expected integer, got '0x10'");
    expect_set_error("executors", "257", ASSAY_ERANGE,
                     "key 'executors': 257 out of range -1..256");
    expect_set_error("max_attempts", "-1", ASSAY_ERANGE,
                     "key 'max_attempts': -1 out of range 1..100");
    expect_set_error("executors", "99999999999999999999", ASSAY_ERANGE,
                     "key 'executors': 99999999999999999999 out of range "
                     "-1..256");
    expect_set_error("log_level", "loud", ASSAY_EINVAL,
                     "key 'log_level': 'loud' is not one of error, warn, "
                     "info, debug");
    memset(longval, 'x', 4096);
    longval[4096] = '\0';
    expect_set_error("executor_path", longval, ASSAY_ETOOBIG,
                     "key 'executor_path': value of 4096 bytes exceeds the "
                     "limit of 4095");
    expect_set_error("plugin.exec", "1", ASSAY_EINVAL,
                     "key 'plugin.exec': expected plugin.NAME.KEY");
    expect_set_error("plugin.", "1", ASSAY_EINVAL,
                     "key 'plugin.': expected plugin.NAME.KEY");
    expect_set_error("plugin..k", "1", ASSAY_EINVAL,
                     "key 'plugin..k': expected plugin.NAME.KEY");
    expect_set_error("plugin.exec.", "1", ASSAY_EINVAL,
                     "key 'plugin.exec.': expected plugin.NAME.KEY");
    expect_set_error("plugin.exec.a.b", "1", ASSAY_EINVAL,
                     "key 'plugin.exec.a.b': expected plugin.NAME.KEY");
    expect_set_error("plugin.ex ec.k", "1", ASSAY_EINVAL,
                     "key 'plugin.ex ec.k': expected plugin.NAME.KEY");
    expect_set_error("plugin", "1", ASSAY_EINVAL, "unknown key 'plugin'");
    expect_set_error("plugin.exec.k", "\xc3(", ASSAY_EINVAL,
                     "key 'plugin.exec.k': value is not valid UTF-8");
}

Test(conf, help_lists_every_key)
{
    static const char *const want[] = {
        "plugins_dir",
        "executor_path",
        "executors",
        "jobs_per_executor",
        "default_timeout_ms",
        "kill_grace_ms",
        "job_memory_mb",
        "job_cpu_seconds",
        "output_limit_kb",
        "max_attempts",
        "log_level",
        "plugin.NAME.KEY",
        /* types, defaults, ranges, help */
        "KEY",
        "DEFAULT",
        "integer",
        "string",
        "enum",
        "30000",
        "-1..256",
        "1..86400000",
        "error, warn, info, debug",
        "up to 4095 bytes",
        "(pipelining)",
        "\"\"",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    cr_assert_not_null(out);
    assay_conf_help(out);
    fclose(out);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect_not_null(strstr(text, want[i]), "help lacks '%s':\n%s",
                           want[i], text);
    free(text);
}
