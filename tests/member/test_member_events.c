/* tests/member/test_member_events.c - core/member/events.c on its own: a member's
 * struct with a state and a real PUBLISH link on 127.0.0.1 (no consensus,
 * no runtimes), and a real subscriber. runtime.plugins says what a
 * registration or catalogue update changed, and only when something did;
 * new work makes planning dirty. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "base/codec.h"
#include "harness.h"
#include "member_fixture.h"
#include "state/fsm.h"

static assay_link *sub;

/* The member's link and a subscriber of runtime.plugins, live (welcomed). */
static void setup(void)
{
    char err[512], ep[64];
    mf_bare_new();
    m->leading = true;
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", harness_port());
    m->pub = assay_link_open(m->link, ASSAY_LINK_PUBLISH, ep, err, sizeof err);
    cr_assert_geq(m->pub, 0, "%s", err);
    mf_link_new(&sub);
    int id = assay_link_open(sub, ASSAY_LINK_SUBSCRIBE, ep, err, sizeof err);
    cr_assert_geq(id, 0, "%s", err);
    assay_link_subscribe(sub, id, ASSAY_EV_RUNTIME_PLUGINS);
    assay_link_subscribe(sub, id, ASSAY_EV_WELCOME);
    int64_t until = assay_now_ms() + WAIT_MS;
    for (;;) {
        assay_link_msg msg;
        /* The member reads subscriptions (and welcomes) as it receives. */
        cr_assert_eq(assay_link_recv(m->link, &msg, err, sizeof err), 0);
        if (assay_link_recv(sub, &msg, err, sizeof err) == 1) {
            bool welcome = !strcmp(msg.proto, ASSAY_EV_WELCOME);
            assay_link_msg_fini(&msg);
            if (welcome)
                break;
        }
        cr_assert_lt(assay_now_ms(), until, "no welcome");
        harness_sleep_ms(5);
    }
    cr_assert(mb_wants(m, ASSAY_EV_RUNTIME_PLUGINS));
}

static void teardown(void)
{
    assay_link_destroy(&sub);
    mf_bare_free();
}

TestSuite(member_events, .init = setup, .fini = teardown);

/* Applies a registration of rt1 offering `plugins` (catalogue JSON text),
 * the way the member does: armed before, runtime.alive after. */
static void register_rt1(const char *plugins, const char *refused)
{
    json_error_t e;
    json_t *cat = json_pack("{s:o, s:o}", "plugins", json_loads(plugins, 0, &e),
                            "refused", json_loads(refused, 0, &e));
    cr_assert_not_null(cat, "bad test catalogue");
    json_t *cmd = json_pack("{s:i, s:s, s:s, s:i, s:{}, s:{}, s:o}", "v", 1,
                            "op", "runtime", "id", "rt1", "heartbeat_ms", 1000,
                            "labels", "capacity", "catalog", cat);
    char *enc, err[ASSAY_ERRMSG_SIZE];
    size_t len;
    json_t *res = NULL;
    cr_assert_eq(assay_codec_encode(cmd, &enc, &len), 0);
    mb_catalog_arm(m, enc, len);
    cr_assert_eq(assay_fsm_apply(m->state, enc, len, &res, err, sizeof err),
                 0, "%s", err);
    mb_on_event(m, ASSAY_EV_RUNTIME_ALIVE, NULL, 0);
    json_decref(res);
    json_decref(cmd);
    free(enc);
}

/* The next runtime.plugins body, or NULL when none comes within ms. */
static json_t *next_plugins(int ms)
{
    char err[512];
    int64_t until = assay_now_ms() + ms;
    for (;;) {
        assay_link_msg msg;
        int rc = assay_link_recv(sub, &msg, err, sizeof err);
        cr_assert_geq(rc, 0, "%s", err);
        if (rc == 1) {
            json_t *b = !strcmp(msg.proto, ASSAY_EV_RUNTIME_PLUGINS)
                            ? json_incref(msg.body)
                            : NULL;
            assay_link_msg_fini(&msg);
            if (b)
                return b;
            continue;
        }
        int64_t left = until - assay_now_ms();
        if (left <= 0)
            return NULL;
        struct pollfd p = {assay_link_fd(sub), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

static const char *name_at(const json_t *body, const char *list, size_t i)
{
    return mb_str(json_array_get(json_object_get(body, list), i), "name");
}

#define A1 "{\"name\": \"a\", \"version\": \"1.0.0\", \"actions\": []}"
#define A2 "{\"name\": \"a\", \"version\": \"2.0.0\", \"actions\": []}"
#define B1 "{\"name\": \"b\", \"version\": \"1.0.0\", \"actions\": []}"
#define BAD "{\"path\": \"/p/x.so\", \"reason\": \"no entry point\"}"

Test(member_events, a_catalogue_change_says_what_changed)
{
    register_rt1("[" A1 ", " B1 "]", "[]");
    json_t *b = next_plugins(WAIT_MS);
    cr_assert_not_null(b, "no runtime.plugins for a first registration");
    cr_expect_str_eq(mb_str(b, "id"), "rt1");
    cr_expect_eq(json_array_size(json_object_get(b, "added")), 2);
    cr_expect_eq(json_array_size(json_object_get(b, "removed")), 0);
    json_decref(b);

    /* a 1.0.0 replaced by 2.0.0, b gone, a file refused. */
    register_rt1("[" A2 "]", "[" BAD "]");
    b = next_plugins(WAIT_MS);
    cr_assert_not_null(b, "no runtime.plugins for a change");
    cr_expect_eq(json_array_size(json_object_get(b, "added")), 1);
    cr_expect_str_eq(name_at(b, "added", 0), "a");
    cr_expect_str_eq(mb_str(json_array_get(json_object_get(b, "added"), 0),
                            "version"),
                     "2.0.0");
    cr_expect_eq(json_array_size(json_object_get(b, "removed")), 2);
    cr_expect_eq(json_array_size(json_object_get(b, "refused")), 1);
    cr_expect_str_eq(mb_str(json_array_get(json_object_get(b, "refused"), 0),
                            "reason"),
                     "no entry point");
    json_decref(b);
    cr_expect_not(m->cat_armed, "disarmed once published");

    /* The same catalogue again: nothing to say. */
    register_rt1("[" A2 "]", "[" BAD "]");
    b = next_plugins(300);
    cr_expect_null(b, "runtime.plugins without a change");
    json_decref(b);
}

Test(member_events, new_work_and_returning_runtimes_make_planning_dirty)
{
    m->dirty = false;
    mb_on_event(m, ASSAY_EV_JOB_COMPLETED, NULL, 0);
    cr_expect_not(m->dirty, "an ended job brings no new work");
    mb_on_event(m, ASSAY_EV_JOB_QUEUED, NULL, 0);
    cr_expect(m->dirty);
    m->dirty = false;
    mb_on_event(m, ASSAY_EV_RUNTIME_ALIVE, NULL, 0);
    cr_expect(m->dirty);
}
