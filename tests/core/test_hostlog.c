/* tests/core/test_hostlog.c - what modules log through host->log: labelled
 * with the module the core called (plugin.action, "transport NAME") or,
 * unlabelled, with the shared object the call came from; bounded per call;
 * and, from an executor, written at the daemon's level into the daemon's
 * log rather than into the job's captured output. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "cluster/link.h"
#include "harness.h"
#include "plugin/hostapi.h"

/* ---- Fixture ---------------------------------------------------------- */

static char *dir, *log_path;
static int log_fd = -1;

/* The log goes to a file the test reads back. */
static void setup(void)
{
    dir = harness_tmpdir();
    log_path = harness_write(dir, "log", "");
    log_fd = open(log_path, O_WRONLY | O_APPEND);
    cr_assert_geq(log_fd, 0);
    assay_log_init("test", ASSAY_LOG_DEBUG);
    assay_log_set_fd(log_fd);
}

static void teardown(void)
{
    assay_log_set_fd(2);
    close(log_fd);
    free(log_path);
    free(dir);
}

TestSuite(hostlog, .init = setup, .fini = teardown, .timeout = 120);

/* ---- Helpers ---------------------------------------------------------- */

/* The log so far (caller frees). */
static char *logged(void)
{
    FILE *f = fopen(log_path, "r");
    cr_assert_not_null(f);
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static json_t *run_declared(int level, const char *spec)
{
    assay_log_set_level(level);
    assay_conf c;
    harness_conf(&c, HARNESS_FIXTURES "declared");
    json_t *r = harness_run_conf(&c, spec);
    assay_conf_fini(&c);
    cr_assert_not_null(r);
    return r;
}

/* ---- Tests ------------------------------------------------------------ */

Test(hostlog, lines_carry_the_label_the_core_set)
{
    const assay_host_api *host = assay_host_table();
    const char *prev = assay_host_label("sysctl.equals");
    host->log(ASSAY_LOG_INFO, "reading %s", "/proc/sys/x");
    assay_host_label(prev);
    char *text = logged();
    cr_expect(strstr(text, "info: sysctl.equals: reading /proc/sys/x\n"), "%s",
              text);
    cr_expect(!strstr(text, "plugin:"), "%s", text);
    free(text);
}

Test(hostlog, a_module_naming_itself_is_not_named_twice)
{
    const char *prev = assay_host_label("transport zmq");
    assay_host_table()->log(ASSAY_LOG_ERROR, "zmq: cannot bind 'x'");
    assay_host_label(prev);
    char *text = logged();
    cr_expect(strstr(text, "error: transport zmq: cannot bind 'x'\n"), "%s",
              text);
    free(text);
}

Test(hostlog, unlabelled_calls_name_the_calling_object)
{
    void *h;
    const assay_module *m = harness_module_load(
        HARNESS_FIXTURES "declared/declared.so", assay_host_table(), &h);
    int (*logs)(assay_ctx *, int64_t);
    /* A function pointer of another type, as dlsym hands them out. */
    assay_fn fn = m->actions[1].fn;
    memcpy(&logs, &fn, sizeof logs);
    cr_assert_str_eq(m->actions[1].name, "logs");
    logs(NULL, 1);
    dlclose(h);
    char *text = logged();
    cr_expect(strstr(text, "warn: declared.so: warn from declared\n"), "%s",
              text);
    free(text);
}

Test(hostlog, below_the_level_nothing_is_written)
{
    assay_log_set_level(ASSAY_LOG_WARN);
    const char *prev = assay_host_label("p.a");
    assay_host_table()->log(ASSAY_LOG_INFO, "quiet");
    assay_host_table()->log(ASSAY_LOG_WARN, "loud");
    assay_host_label(prev);
    char *text = logged();
    cr_expect(!strstr(text, "quiet"), "%s", text);
    cr_expect(strstr(text, "warn: p.a: loud"), "%s", text);
    free(text);
}

Test(hostlog, one_call_logs_at_most_the_bound)
{
    const char *prev = assay_host_label("p.a");
    for (int i = 0; i < ASSAY_MAX_LOG_LINES + 50; i++)
        assay_host_table()->log(ASSAY_LOG_DEBUG, "line %d", i);
    assay_host_label(prev);
    char *text = logged();
    cr_expect_eq(count(text, "debug: p.a: line "), ASSAY_MAX_LOG_LINES);
    cr_expect_eq(count(text, "p.a: more than 1000 log lines in one call; "
                             "the rest are dropped"),
                 1);
    free(text);
}

Test(hostlog, executor_logs_at_the_daemon_level_into_its_log)
{
    json_t *r = run_declared(ASSAY_LOG_DEBUG,
                             "{\"action\": \"declared.logs\", "
                             "\"params\": {\"lines\": 2}}");
    cr_expect_str_eq(harness_field(r, 0, "status"), "pass");
    /* Not in the job's output: logs are the daemon's, and cost no part
     * of the output limit. */
    cr_expect(!strstr(harness_field(r, 0, "output"), "from declared"), "%s",
              harness_field(r, 0, "output"));
    json_decref(r);
    char *text = logged();
    static const char *const want[] = {
        "error: declared.logs: error from declared\n",
        "warn: declared.logs: warn from declared\n",
        "info: declared.logs: info from declared\n",
        "debug: declared.logs: debug 1 from declared\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_expect(strstr(text, want[i]), "lacks '%s':\n%s", want[i], text);
    cr_expect(strstr(text, "assay-executor["), "%s", text);
    free(text);
}

Test(hostlog, executor_keeps_the_daemon_quiet_level)
{
    json_t *r = run_declared(ASSAY_LOG_WARN,
                             "{\"action\": \"declared.logs\"}");
    cr_expect_str_eq(harness_field(r, 0, "status"), "pass");
    json_decref(r);
    char *text = logged();
    cr_expect(strstr(text, "warn: declared.logs: warn from declared\n"), "%s",
              text);
    cr_expect(!strstr(text, "info from declared"), "%s", text);
    cr_expect(!strstr(text, "debug 0 from declared"), "%s", text);
    free(text);
}

Test(hostlog, transport_lines_name_the_transport)
{
    char endpoint[64], err[ASSAY_ERRMSG_SIZE];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", harness_port());
    assay_link *a, *b;
    cr_assert_eq(assay_link_new(HARNESS_BUILD_DIR "/modules-out", "zmq", "a",
                                1 << 20, &a, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(assay_link_new(HARNESS_BUILD_DIR "/modules-out", "zmq", "b",
                                1 << 20, &b, err, sizeof err),
                 0, "%s", err);
    cr_assert_geq(assay_link_open(a, ASSAY_LINK_SERVER, endpoint, err,
                                  sizeof err),
                  0, "%s", err);
    cr_expect_lt(assay_link_open(b, ASSAY_LINK_SERVER, endpoint, err,
                                 sizeof err),
                 0);
    assay_link_destroy(&a);
    assay_link_destroy(&b);
    char *text = logged();
    char want[128];
    snprintf(want, sizeof want, "error: transport zmq: cannot bind '%s'",
             endpoint);
    cr_expect(strstr(text, want), "lacks '%s':\n%s", want, text);
    free(text);
}
