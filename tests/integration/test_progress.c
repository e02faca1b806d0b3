/* tests/integration/test_progress.c - `assayctl wait` where people wait:
 * on a terminal (a pseudo-terminal made by script(1)) a progress line
 * counts the jobs as they end and is erased before the result table;
 * piped, or with --json, only the result is printed.
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "harness.h"

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(progress, .fini = teardown, .timeout = 120);

/* Four jobs of 300 ms on one executor: a wait of about a second, long
 * enough for the progress line to be drawn while jobs run. */
static void submit(const char *id)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"id\": \"%s\", \"action\": \"sleep.sleep\", \"params\": "
             "{\"ms\": 300}, \"targets\": [{}, {}, {}, {}]}",
             id);
    int code;
    json_decref(
        cluster_ctl(&c, &code, "submit %s", cluster_spec(&c, id, json)));
    cr_assert_eq(code, 0, "submit %s", id);
}

/* `assayctl ARGS` with its output captured: on a pseudo-terminal
 * (script -qec) or piped. */
static char *run(bool tty, const char *args)
{
    char *out;
    if (tty)
        harness_sh(&out,
                   "script -qec '%sassayctl --endpoint %s --wait-ms 20000 "
                   "%s' /dev/null",
                   HARNESS_BIN, c.endpoint, args);
    else
        harness_sh(&out,
                   "%sassayctl --endpoint %s --wait-ms 20000 %s 2>&1 | cat",
                   HARNESS_BIN, c.endpoint, args);
    return out;
}

Test(progress, a_terminal_sees_it_a_pipe_does_not)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt", "--executors 1 --set jobs_per_executor=1");
    submit("p1");
    char *out = run(true, "wait p1");
    cr_expect(strstr(out, "] wait: ended "), "no progress line: %s", out);
    cr_expect(strstr(out, "of 4 (failed 0)"), "%s", out);
    cr_expect(strstr(out, "\r\033[K"), "the line is not erased: %s", out);
    cr_expect(strstr(out, "p1-3"), "no result table: %s", out);
    free(out);

    submit("p2");
    out = run(false, "wait p2");
    cr_expect_null(strstr(out, "wait: ended"), "piped: %s", out);
    cr_expect(strstr(out, "p2-3"), "%s", out);
    free(out);

    submit("p3");
    out = run(true, "--json wait p3");
    cr_expect_null(strstr(out, "wait: ended"), "--json: %s", out);
    cr_expect(strstr(out, "\"p3-3\""), "%s", out);
    free(out);
}
