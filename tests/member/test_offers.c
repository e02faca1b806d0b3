/* tests/member/test_offers.c - core/member/offers.c on its own: what a
 * JobSpec resolves to across the runtimes' catalogues (the highest version
 * in range that has the action, whichever runtime offers it), the refusal
 * that says what exists when nothing does, and the cache that must forget
 * when a catalogue may have changed. A member's struct with only a state,
 * no network and no consensus. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/codec.h"
#include "member/internal.h"
#include "state/fsm.h"

static assay_leader *m;

static void setup(void)
{
    m = calloc(1, sizeof *m);
    m->state = assay_state_new(NULL, NULL);
    mb_offers_reset(m, true);
}

static void teardown(void)
{
    mb_offers_reset(m, false);
    assay_state_destroy(&m->state);
    free(m);
}

TestSuite(offers, .init = setup, .fini = teardown);

/* Registers runtime `id` offering plugins given as JSON text. */
static void put_runtime(const char *id, const char *plugins)
{
    json_error_t e;
    json_t *list = json_loads(plugins, 0, &e);
    cr_assert_not_null(list, "%s", e.text);
    json_t *cmd = json_pack("{s:i, s:s, s:s, s:i, s:{}, s:{}, s:{s:o}}", "v",
                            1, "op", "runtime", "id", id, "heartbeat_ms",
                            1000, "labels", "capacity", "catalog", "plugins",
                            list);
    char *enc, err[ASSAY_ERRMSG_SIZE];
    size_t len;
    json_t *res = NULL;
    cr_assert_eq(assay_codec_encode(cmd, &enc, &len), 0);
    cr_assert_eq(assay_fsm_apply(m->state, enc, len, &res, err, sizeof err),
                 0, "%s", err);
    json_decref(res);
    json_decref(cmd);
    free(enc);
}

/* typed@VERSION with the given action names, as catalogue JSON text. */
#define TYPED(v, actions)                                                      \
    "{\"name\": \"typed\", \"version\": \"" v "\", \"actions\": [" actions   \
    "]}"
#define ACT(name) "{\"name\": \"" name "\", \"params\": []}"

static int resolve(const char *action, const char *range,
                   const char **version, char *err, size_t errlen)
{
    assay_jobspec spec = {0};
    snprintf(spec.action, sizeof spec.action, "%s", action);
    snprintf(spec.version, sizeof spec.version, "%s", range);
    const json_t *decl = NULL;
    return mb_resolve_cached(m, &spec, &decl, version, err, errlen);
}

Test(offers, highest_version_with_the_action_across_runtimes)
{
    put_runtime("rt-a", "[" TYPED("1.2.0", ACT("echo")) ", " TYPED(
                            "2.0.0", ACT("other")) "]");
    put_runtime("rt-b", "[" TYPED("1.4.1", ACT("echo")) "]");
    const char *v = NULL;
    char err[512];
    /* 2.0.0 lacks echo: the highest that has it is rt-b's 1.4.1. */
    cr_assert_eq(resolve("typed.echo", "", &v, err, sizeof err), 0, "%s",
                 err);
    cr_expect_str_eq(v, "1.4.1");
    cr_assert_eq(resolve("typed.echo", "~1.2", &v, err, sizeof err), 0,
                 "%s", err);
    cr_expect_str_eq(v, "1.2.0");
    cr_assert_eq(resolve("typed.other", "", &v, err, sizeof err), 0, "%s",
                 err);
    cr_expect_str_eq(v, "2.0.0");
}

Test(offers, refusals_say_what_exists)
{
    put_runtime("rt-a", "[" TYPED("1.2.0", ACT("echo")) ", "
                        "{\"name\": \"file\", \"version\": \"1.0.0\", "
                        "\"actions\": [" ACT("mode") "]}]");
    put_runtime("rt-b", "[" TYPED("1.4.1", ACT("echo") ", " ACT("nap")) "]");
    const char *v = NULL;
    char err[512];
    cr_expect_eq(resolve("nope.run", "", &v, err, sizeof err), ASSAY_ENOENT);
    cr_expect(strstr(err, "no runtime offers plugin 'nope' (asked: rt-a, "
                          "rt-b; known plugins: typed, file)"),
              "%s", err);
    cr_expect_eq(resolve("typed.echo", "^3", &v, err, sizeof err),
                 ASSAY_ENOENT);
    cr_expect(strstr(err, "no version of 'typed' matches '^3' on runtimes "
                          "rt-a, rt-b (offered: 1.2.0, 1.4.1)"),
              "%s", err);
    cr_expect_eq(resolve("typed.sing", "", &v, err, sizeof err),
                 ASSAY_ENOENT);
    cr_expect(strstr(err, "has no action 'sing'") && strstr(err, "echo") &&
                  strstr(err, "nap"),
              "%s", err);
    cr_expect_eq(resolve("typed", "", &v, err, sizeof err), ASSAY_EINVAL);
    cr_expect_eq(resolve("typed.echo", "not a range", &v, err, sizeof err),
                 ASSAY_EINVAL);
}

/* The answer is remembered per action and range until the offers are
 * reset (every runtime.alive does): a newer version is seen only then. */
Test(offers, cache_forgets_on_reset)
{
    put_runtime("rt-a", "[" TYPED("1.2.0", ACT("echo")) "]");
    const char *v = NULL;
    char err[512];
    cr_assert_eq(resolve("typed.echo", "", &v, err, sizeof err), 0, "%s",
                 err);
    cr_expect_str_eq(v, "1.2.0");
    put_runtime("rt-b", "[" TYPED("1.4.1", ACT("echo")) "]");
    cr_assert_eq(resolve("typed.echo", "", &v, err, sizeof err), 0, "%s",
                 err);
    cr_expect_str_eq(v, "1.2.0", "remembered");
    mb_offers_reset(m, true);
    cr_assert_eq(resolve("typed.echo", "", &v, err, sizeof err), 0, "%s",
                 err);
    cr_expect_str_eq(v, "1.4.1");
}
