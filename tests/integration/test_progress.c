/* tests/integration/test_progress.c - assayctl where people wait and
 * type: on a terminal (a pseudo-terminal made by script(1)) `wait` draws
 * a progress line as the jobs end and erases it before the result table
 * (piped, or with --json, only the result is printed); bash completion
 * offers commands, option values and the cluster's job ids.
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

/* bash completion (conf/completion/assayctl): commands, option values,
 * and the ids of jobs and JobSpecs the cluster holds. */
static char *complete(const char *words, int cword)
{
    char *out;
    harness_sh(&out,
               "bash -c 'source %s/conf/completion/assayctl; "
               "COMP_WORDS=(%s); COMP_CWORD=%d; _assayctl; "
               "printf \"%%s \" \"${COMPREPLY[@]}\"'",
               ASSAY_SOURCE_DIR, words, cword);
    return out;
}

Test(progress, completion_knows_commands_values_and_ids)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt", NULL);
    cr_assert(cluster_submit(&c, "done-a", 2));
    json_decref(cluster_wait(&c, "done-a", 20000));
    char words[1024];
    char *out = complete("assayctl wa", 1);
    cr_expect(strstr(out, "wait ") && strstr(out, "watch "), "%s", out);
    free(out);
    out = complete("assayctl jobs --state f", 3);
    cr_expect_str_eq(out, "failed ");
    free(out);
    snprintf(words, sizeof words, "%sassayctl --endpoint %s wait done",
             HARNESS_BIN, c.endpoint);
    out = complete(words, 4);
    cr_expect(strstr(out, "done-a ") && strstr(out, "done-a-0 ") &&
                  strstr(out, "done-a-1 "),
              "ids: '%s'", out);
    free(out);
}
