/* tests/integration/test_watch.c - what a client sees of the event stream
 * and of the tables, with real processes: the welcome a subscriber can
 * wait for (docs/protocol.md#knowing-a-subscription-is-live), the
 * runtime.plugins event of a catalogue change and how `assayctl watch`
 * shows it, and result tables whose ACTION column fits its actions.
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "cluster.h"
#include "cluster/link.h"
#include "harness.h"

#define WAIT_MS 10000
#define NOOP HARNESS_PLUGINS "/assay-action_noop.so"
#define SLEEP HARNESS_PLUGINS "/assay-action_sleep.so"

/* ---- Fixture ---------------------------------------------------------- */

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(watch, .fini = teardown, .timeout = 240);

/* ---- Helpers ---------------------------------------------------------- */

/* Runs "cmd a b" (a shell command of three words); asserts exit 0. */
static void sh(const char *cmd, const char *a, const char *b)
{
    char *out;
    int rc = harness_sh(&out, "%s %s %s", cmd, a, b);
    cr_assert_eq(rc, 0, "%s %s %s: %s", cmd, a, b, out);
    free(out);
}

/* The next event on `link`, at most WAIT_MS away; false if none came. */
static bool next_event(assay_link *link, assay_link_msg *m)
{
    int64_t until = assay_now_ms() + WAIT_MS;
    char err[ASSAY_ERRMSG_SIZE];
    for (;;) {
        int rc = assay_link_recv(link, m, err, sizeof err);
        cr_assert_geq(rc, 0, "malformed event: %s", err);
        if (rc == 1)
            return true;
        int64_t left = until - assay_now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {assay_link_fd(link), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

/* Copies src into dir as name through a temporary name and a rename, as
 * plugin-guide.md says to deploy a plugin. */
static void deploy(const char *src, const char *dir, const char *name)
{
    char tmp[512], dst[512];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    sh("cp", src, tmp);
    sh("mv", tmp, dst);
}

/* A plugin "longname" with two actions whose names are long, built from
 * source into dir/longname.so. */
static void build_longname(const char *dir)
{
    static const char src[] =
        "#include <assay.h>\n"
        "static int pass(assay_ctx *ctx) { (void)ctx; return ASSAY_PASS; }\n"
        "static const assay_action actions[] = {\n"
        "    {.name = \"check_a_rather_long_name\", .help = \"passes\",\n"
        "     .fn = ASSAY_FN(pass)},\n"
        "    {.name = \"check_a_name_that_is_longer_than_the_column_bound\",\n"
        "     .help = \"passes\", .fn = ASSAY_FN(pass)},\n"
        "    {0},\n"
        "};\n"
        "static const assay_module desc = {\n"
        "    ASSAY_MODULE_HEADER, .kind = ASSAY_KIND_ACTION,\n"
        "    .name = \"longname\", .version = \"1.0.0\",\n"
        "    .license = \"Apache-2.0\", .description = \"long action names\",\n"
        "    .actions = actions,\n"
        "};\n"
        "ASSAY_MODULE_DEFINE(desc)\n";
    free(harness_write(dir, "longname.c", src));
    char *out;
    int rc = harness_sh(&out,
                        "cc -I%s/plugin-api/include -fvisibility=hidden -fPIC "
                        "-shared -o %s/longname.so %s/longname.c 2>&1",
                        ASSAY_SOURCE_DIR, dir, dir);
    cr_assert_eq(rc, 0, "building the longname plugin: %s", out);
    free(out);
}

/* ---- Tests ------------------------------------------------------------ */

/* The documented recipe, repeated with a fresh subscriber each time and no
 * warm-up: subscribe to job. and then to assay.welcome, wait for the
 * welcome, submit; the submission's job.queued event always arrives. */
Test(watch, welcomed_subscriber_sees_the_events_of_its_next_submission)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt1", NULL);
    for (int round = 0; round < 20; round++) {
        assay_link *link = NULL;
        char err[ASSAY_ERRMSG_SIZE * 2];
        link = harness_link(NULL, NULL, NULL, 1u << 20);
        int sub = assay_link_open(link, ASSAY_LINK_SUBSCRIBE, c.events, err,
                                  sizeof err);
        cr_assert_geq(sub, 0, "%s", err);
        cr_assert_eq(assay_link_subscribe(link, sub, "job."), 0);
        cr_assert_eq(assay_link_subscribe(link, sub, "assay.welcome"), 0);
        assay_link_msg m;
        cr_assert(next_event(link, &m), "round %d: no welcome", round);
        cr_assert_str_eq(m.proto, "assay.welcome");
        cr_expect(json_is_object(m.body) && !json_object_size(m.body));
        assay_link_msg_fini(&m);

        char name[32], json[96], job[40];
        snprintf(name, sizeof name, "w%d.json", round);
        snprintf(json, sizeof json,
                 "{\"id\": \"w%d\", \"action\": \"noop.pass\"}", round);
        snprintf(job, sizeof job, "w%d-0", round);
        int code;
        json_decref(cluster_ctl(&c, &code, "submit %s",
                                cluster_spec(&c, name, json)));
        cr_assert_eq(code, 0, "round %d: submit exit %d", round, code);
        bool queued = false;
        while (!queued) {
            cr_assert(next_event(link, &m),
                      "round %d: no job.queued for %s after the welcome",
                      round, job);
            const char *id = json_string_value(json_object_get(m.body, "id"));
            queued = !strcmp(m.proto, "job.queued") && id && !strcmp(id, job);
            assay_link_msg_fini(&m);
        }
        assay_link_destroy(&link);
    }
}

/* A plugin deployed and one withdrawn while the runtime runs: the event
 * says which, with versions, and watch prints it. */
Test(watch, catalogue_change_is_published_and_shown)
{
    cluster_start(&c, NULL);
    char pdir[256];
    snprintf(pdir, sizeof pdir, "%s/plugins", c.dir);
    sh("mkdir", "-p", pdir);
    deploy(NOOP, pdir, "assay-action_noop.so");
    char args[512];
    snprintf(args, sizeof args, "--executors 1 --plugins-dir %s", pdir);
    cluster_runtime(&c, "rt1", args);

    cluster_node *text = cluster_bg(&c, "watch",
                                    "%sassayctl --events %s watch --topic "
                                    "runtime.",
                                    HARNESS_BIN, c.events);
    cluster_node *js = cluster_bg(&c, "watchjson",
                                  "%sassayctl --events %s --json watch "
                                  "--topic runtime.plugins",
                                  HARNESS_BIN, c.events);
    /* watch says on stderr when its subscription is live. */
    char live[128];
    snprintf(live, sizeof live, "assayctl: watch: subscribed at %s",
             c.events);
    cr_assert(cluster_log_has(text, live, WAIT_MS), "watch never live");
    cr_assert(cluster_log_has(js, live, WAIT_MS), "watch --json never live");

    deploy(SLEEP, pdir, "assay-action_sleep.so");
    cr_assert(cluster_log_has(text, "runtime.plugins  rt1", WAIT_MS),
              "no runtime.plugins line");
    cr_expect(cluster_log_has(text, "+sleep 1.0.0", WAIT_MS));
    cr_expect(cluster_log_has(js, "{\"topic\":\"runtime.plugins\",\"body\":"
                                  "{\"id\":\"rt1\",\"added\":[{\"name\":"
                                  "\"sleep\",\"version\":\"1.0.0\"}],"
                                  "\"removed\":[],\"refused\":[]}}",
                              WAIT_MS));

    char gone[320];
    snprintf(gone, sizeof gone, "%s/assay-action_noop.so", pdir);
    cr_assert_eq(unlink(gone), 0, "%s", strerror(errno));
    cr_expect(cluster_log_has(text, "-noop 1.0.0", WAIT_MS),
              "no line for the withdrawn plugin");
}

Test(watch, result_table_action_column_fits_its_actions)
{
    char *dir = harness_tmpdir();
    build_longname(dir);
    sh("cp", NOOP, dir);
    char *a = harness_write(dir, "a.json",
                            "{\"id\": \"a\", \"action\": \"noop.pass\"}");
    char *b = harness_write(dir, "b.json",
                            "{\"id\": \"b\", \"action\": "
                            "\"longname.check_a_rather_long_name\"}");
    char *l = harness_write(dir, "l.json",
                            "{\"id\": \"l\", \"action\": \"longname.check_a_"
                            "name_that_is_longer_than_the_column_bound\"}");
    char *out;
    int rc = harness_sh(&out, "%sassayctl run --local --plugins-dir %s %s %s "
                              "%s 2>&1",
                        HARNESS_BIN, dir, a, b, l);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, out);
    /* Every row's VERSION starts where the header's does. */
    const char *head = strstr(out, "JOB ");
    cr_assert_not_null(head, "%s", out);
    const char *ver = strstr(head, "VERSION");
    cr_assert_not_null(ver, "%s", out);
    long col = ver - head;
    int rows = 0;
    for (const char *line = strchr(head, '\n'); line && line[1];
         line = strchr(line + 1, '\n')) {
        const char *row = line + 1;
        if (!strstr(row, "1.0.0") || strstr(row, "jobs:") == row)
            continue;
        rows++;
        cr_expect(!strncmp(row + col, "1.0.0 ", 6), "misaligned row:\n%s",
                  out);
    }
    cr_expect_eq(rows, 3, "%s", out);
    /* The bounded width: 33 bytes fit, 58 are clipped. */
    cr_expect(strstr(out, "longname.check_a_rather_long_name "), "%s", out);
    cr_expect(strstr(out, "longname.check_a_name_that_is_longer_than_the... "),
              "%s", out);
    free(out);
    free(a);
    free(b);
    free(l);
    free(dir);
}
