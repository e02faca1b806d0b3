/* tests/integration/test_status_page.c - the status page in a real
 * browser (headless Chromium): served from the member's metrics_listen,
 * it loads with no console error and, from /api/v1/status, shows the
 * runtime that joined with its plugins, a schedule with its next fire
 * time and last outcome, and a job that failed with its reason - a
 * reason carrying markup is shown as text, never made into an element.
 * A screenshot is kept in the build tree (artifacts/status-page.png).
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/string.h>

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
    char extra[96];
    /* Open to whoever reaches it, as on a lab: this test is about what
     * the page shows (the next, about tokens). */
    snprintf(extra, sizeof extra,
             "--set metrics_listen=127.0.0.1:%d --set metrics_auth=none",
             port);
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
    /* A schedule due at 03:00 UTC daily, run once by hand: its next fire
     * is the cron's, its last outcome the trigger's. */
    json_decref(cluster_ctl(
        &c, &code, "schedule create %s",
        cluster_spec(&c, "nightly.json",
                     "{\"id\": \"nightly\", \"cron\": \"0 3 * * *\", "
                     "\"spec\": {\"action\": \"noop.pass\"}}")));
    cr_assert_eq(code, 0, "schedule create failed");
    json_decref(cluster_ctl(&c, &code, "schedule trigger nightly"));
    cr_assert_eq(code, 0, "schedule trigger failed");

    char *api;
    cr_assert_eq(harness_sh(&api, "curl -s http://127.0.0.1:%d/api/v1/status",
                            port),
                 0);
    json_t *s = json_loads(api, 0, NULL);
    cr_assert_not_null(s, "/api/v1/status is not JSON: %s", api);
    cr_expect(strstr(api, "\"rt-page\""), "%s", api);
    cr_expect_eq(json_array_size(json_object_get(s, "failures")), 1, "%s",
                 api);
    json_t *sched = json_array_get(json_object_get(s, "schedules"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(sched, "id")),
                     "nightly", "%s", api);
    cr_expect_str_eq(json_string_value(json_object_get(sched, "state")),
                     "active", "%s", api);
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_object_get(sched, "last"), "outcome")),
                     "started", "%s", api);
    long long next = json_integer_value(json_object_get(sched, "next_ms"));
    cr_expect(next > time(NULL) * 1000LL && next % 86400000 == 3 * 3600000,
              "next_ms is not the next 03:00 UTC: %s", api);
    /* As the page shows it (Date.toISOString). */
    char iso[40];
    time_t next_s = (time_t)(next / 1000);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S.000Z", gmtime(&next_s));
    /* The runtime's plugins as name@version: noop's among them. */
    json_t *rt = json_array_get(
        json_object_get(json_object_get(s, "runtimes"), "runtimes"), 0);
    char plugin[128] = "";
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rt, "plugins"), i, p) {
        if (!strncmp(json_string_value(p), "noop@", 5))
            strlcpy(plugin, json_string_value(p), sizeof plugin);
    }
    cr_expect(*plugin, "no noop@VERSION among the plugins: %s", api);
    json_decref(s);
    free(api);

    char *dom;
    harness_sh(&dom,
               CHROMIUM "--enable-logging=stderr --v=0 --dump-dom "
                        "http://127.0.0.1:%d/ 2>%s/chrome.log",
               c.dir, port, c.dir);
    cr_expect(strstr(dom, "Assay: member"), "no title: %.2000s", dom);
    cr_expect(strstr(dom, "<td>rt-page</td>"), "no runtime: %.4000s", dom);
    cr_expect(*plugin && strstr(dom, plugin), "no plugin %s: %.4000s",
              plugin, dom);
    cr_expect(strstr(dom, "<td>nightly</td>"), "no schedule: %.4000s", dom);
    cr_expect(strstr(dom, iso), "no next fire %s: %.4000s", iso, dom);
    cr_expect(strstr(dom, "<td>started</td>"), "no last outcome: %.4000s",
              dom);
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

/* Behind tokens (metrics_auth = auto, the default, with security on):
 * without one the browser gets no page (the 401 asks it for
 * credentials); with one (the URL's credentials, as a browser's prompt
 * would give them) the page loads and its own reads of /api/v1/status
 * pass too: the title is drawn from them. */
Test(status_page, behind_a_token_in_a_browser)
{
    int port = harness_port();
    char extra[96], *dom;
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", port);
    cluster_start(&c, extra);
    char token[128];
    cluster_http_token("page", token);
    harness_sh(&dom, CHROMIUM "--dump-dom http://127.0.0.1:%d/ 2>/dev/null",
               c.dir, port);
    /* Headless, the browser's prompt is answered by nobody: no page. */
    cr_expect_null(strstr(dom, "Assay status"), "served without a token");
    free(dom);
    harness_sh(&dom,
               CHROMIUM "--dump-dom http://x:%s@127.0.0.1:%d/ 2>/dev/null",
               c.dir, token, port);
    cr_expect(strstr(dom, "Assay: member"), "no title: %.2000s", dom);
    cr_expect(strstr(dom, "<div id=\"err\"></div>"),
              "the page's own reads were refused: %.4000s", dom);
    free(dom);
}
