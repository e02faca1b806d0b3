/* tests/integration/test_status_page.c - the status page in a real
 * browser (headless Chromium): served from the member's metrics_listen,
 * it loads with no console error and, from /api/v1/status, shows the
 * runtime that joined and a job that failed with its reason - a reason
 * carrying markup is shown as text, never made into an element. A
 * screenshot is kept in the build tree (artifacts/status-page.png).
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "harness.h"

#define WAIT_MS 20000
/* Chromium as root needs --no-sandbox; virtual time lets the page's
 * fetch and timers run before the DOM is dumped. */
#define CHROMIUM "timeout 90 chromium --headless --no-sandbox --disable-gpu " \
                 "--no-first-run --user-data-dir=%s/chrome " \
                 "--virtual-time-budget=6000 "

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(status_page, .fini = teardown, .timeout = 240);

Test(status_page, shows_runtimes_and_failures_in_a_browser)
{
    int port = harness_port();
    char extra[64];
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", port);
    cluster_start(&c, extra);
    cluster_runtime(&c, "rt-page", NULL);
    /* A check that fails: its path does not exist, and says so with
     * markup in it. */
    int code;
    json_decref(cluster_ctl(
        &c, &code, "submit %s",
        cluster_spec(&c, "bad",
                     "{\"id\": \"bad\", \"action\": \"file.mode\", "
                     "\"params\": {\"path\": \"/nonexistent/<b "
                     "id=injected>x</b>\", \"mode\": 420}}")));
    cr_assert_eq(code, 0);
    json_decref(cluster_wait(&c, "bad", WAIT_MS));

    char *api;
    cr_assert_eq(harness_sh(&api, "curl -s http://127.0.0.1:%d/api/v1/status",
                            port),
                 0);
    json_t *s = json_loads(api, 0, NULL);
    cr_assert_not_null(s, "/api/v1/status is not JSON: %s", api);
    cr_expect(strstr(api, "\"rt-page\""), "%s", api);
    cr_expect_eq(json_array_size(json_object_get(s, "failures")), 1, "%s",
                 api);
    json_decref(s);
    free(api);

    char *dom;
    harness_sh(&dom,
               CHROMIUM "--enable-logging=stderr --v=0 --dump-dom "
                        "http://127.0.0.1:%d/ 2>%s/chrome.log",
               c.dir, port, c.dir);
    cr_expect(strstr(dom, "Assay: member"), "no title: %.2000s", dom);
    cr_expect(strstr(dom, "<td>rt-page</td>"), "no runtime: %.4000s", dom);
    cr_expect(strstr(dom, "<td>bad-0</td>"), "no failed job: %.4000s", dom);
    cr_expect(strstr(dom, "&lt;b id=injected&gt;"),
              "the reason is not shown as text: %.4000s", dom);
    cr_expect_null(strstr(dom, "<b id=\"injected\">"),
                   "the reason became markup");
    free(dom);
    char *console;
    harness_sh(&console,
               "grep -i 'CONSOLE' %s/chrome.log | grep -iE "
               "'uncaught|error' || true",
               c.dir);
    cr_expect_str_empty(console, "console errors: %s", console);
    free(console);

    char *out;
    int rc = harness_sh(&out,
                        "mkdir -p %s/artifacts && " CHROMIUM
                        "--window-size=1200,900 --screenshot=%s/artifacts/"
                        "status-page.png http://127.0.0.1:%d/ 2>&1 && test "
                        "-s %s/artifacts/status-page.png",
                        HARNESS_BUILD_DIR, c.dir, HARNESS_BUILD_DIR, port,
                        HARNESS_BUILD_DIR);
    cr_expect_eq(rc, 0, "no screenshot: %s", out);
    free(out);
}
