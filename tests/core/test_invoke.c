/* tests/core/test_invoke.c - libffi marshalling end to end: every param
 * type reaches the plain C action intact, whether the action was declared
 * by hand (ABI 1.0, typed.c) or with ASSAY_ACTION (declared.c); defaults
 * fill gaps, plugin config reaches host->config, and bad params are
 * refused before any executor runs anything. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "job/jobspec.h"
#include "plugin/catalog.h"
#include "plugin/plugdir.h"

static json_t *run_in(const char *fixture, const char *spec)
{
    assay_conf c;
    harness_conf(&c, fixture);
    json_t *r = harness_run_conf(&c, spec);
    assay_conf_fini(&c);
    return r;
}

static json_t *run_typed(const char *spec)
{
    return run_in(HARNESS_FIXTURES "typed", spec);
}

/* The catalogue entry of the first action of the plugin in `dir`. */
static json_t *first_action(const char *dir)
{
    assay_catalog *cat = assay_catalog_new();
    char err[512];
    cr_assert_eq(assay_plugdir_scan(cat, dir, err, sizeof err), 0, "%s", err);
    json_t *j = assay_catalog_json(cat);
    json_t *a = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "plugins"), 0),
                        "actions"),
        0);
    json_incref(a);
    json_decref(j);
    assay_catalog_destroy(&cat);
    cr_assert_not_null(a, "no action in %s", dir);
    return a;
}

static const char *data(json_t *r, const char *key)
{
    const char *s = json_string_value(json_object_get(
        json_object_get(json_array_get(r, 0), "data"), key));
    return s ? s : "(absent)";
}

Test(invoke, every_type_is_marshalled)
{
    json_t *r = run_typed(
        "{\"action\": \"typed.echo\", \"params\": {\"s\": \"hi\", \"i\": "
        "-9000000000, \"d\": 2.25, \"b\": true, \"by\": \"AQID\", \"l\": "
        "[\"a\", \"b\", \"c\"], \"m\": {\"k1\": \"v1\", \"k2\": \"v2\"}}}");
    cr_assert_not_null(r);
    cr_expect_str_eq(harness_field(r, 0, "status"), "pass");
    cr_expect_str_eq(data(r, "s"), "hi");
    cr_expect_str_eq(data(r, "i"), "-9000000000");
    cr_expect_str_eq(data(r, "d"), "2.250");
    cr_expect_str_eq(data(r, "b"), "true");
    cr_expect_str_eq(data(r, "bytes"), "3");
    cr_expect_str_eq(data(r, "byte0"), "1");
    cr_expect_str_eq(data(r, "list"), "3");
    cr_expect_str_eq(data(r, "list_last"), "c");
    cr_expect_str_eq(data(r, "map"), "2");
    cr_expect_str_eq(data(r, "k2"), "v2");
    json_decref(r);
}

/* The C types in ASSAY_ARG become the same declaration typed.c spells by
 * hand, and the same values arrive. */
Test(invoke, macro_declared_action_matches_the_hand_written_one)
{
    json_t *by_hand = first_action(HARNESS_FIXTURES "typed");
    json_t *by_macro = first_action(HARNESS_FIXTURES "declared");
    cr_expect_str_eq(
        json_string_value(json_object_get(by_macro, "signature")),
        json_string_value(json_object_get(by_hand, "signature")));
    cr_expect(json_equal(json_object_get(by_macro, "params"),
                         json_object_get(by_hand, "params")));
    json_decref(by_hand);
    json_decref(by_macro);

    static const char *params =
        "\"params\": {\"s\": \"hi\", \"i\": -9000000000, \"d\": 2.25, "
        "\"b\": true, \"by\": \"AQID\", \"l\": [\"a\", \"b\", \"c\"], "
        "\"m\": {\"k1\": \"v1\", \"k2\": \"v2\"}}}";
    char spec[512];
    snprintf(spec, sizeof spec, "{\"action\": \"typed.echo\", %s", params);
    json_t *hand = run_typed(spec);
    snprintf(spec, sizeof spec, "{\"action\": \"declared.echo\", %s",
             params);
    json_t *macro = run_in(HARNESS_FIXTURES "declared", spec);
    cr_assert_not_null(hand);
    cr_assert_not_null(macro);
    cr_expect_str_eq(harness_field(macro, 0, "status"), "pass");
    cr_expect(json_equal(json_object_get(json_array_get(macro, 0), "data"),
                         json_object_get(json_array_get(hand, 0), "data")));
    cr_expect_str_eq(data(macro, "i"), "-9000000000");
    json_decref(hand);
    json_decref(macro);
}

Test(invoke, defaults_and_absent_pointers)
{
    json_t *r = run_typed("{\"action\": \"typed.echo\", \"params\": "
                          "{\"s\": \"x\"}}");
    cr_assert_not_null(r);
    cr_expect_str_eq(data(r, "i"), "42");
    cr_expect_str_eq(data(r, "d"), "0.500");
    cr_expect_str_eq(data(r, "b"), "false");
    cr_expect_str_eq(data(r, "bytes"), "0"); /* NULL pointer */
    cr_expect_str_eq(data(r, "list_last"), "x");
    cr_expect_str_eq(data(r, "map"), "0");
    json_decref(r);
}

/* Runs spec_json in `fixture` expecting a refusal: returns the message
 * (static), after asserting that no results came back. */
static const char *refusal(const char *fixture, const char *spec_json)
{
    static char err[512];
    json_error_t je;
    json_t *j = json_loads(spec_json, 0, &je);
    cr_assert_not_null(j, "bad test JSON: %s", je.text);
    assay_jobspec *spec;
    err[0] = '\0';
    int rc = assay_jobspec_parse(j, &spec, err, sizeof err);
    json_decref(j);
    if (rc == 0) {
        assay_conf c;
        harness_conf(&c, fixture);
        assay_runner *r;
        char rerr[512];
        cr_assert_eq(assay_runner_new(&c, false, &r, rerr, sizeof rerr), 0,
                     "%s", rerr);
        json_t *results = NULL;
        rc = assay_runner_run(r, spec, &results, err, sizeof err);
        cr_expect_null(results, "results for %s", spec_json);
        json_decref(results);
        assay_runner_destroy(&r);
        assay_jobspec_destroy(&spec);
        assay_conf_fini(&c);
    }
    cr_expect_neq(rc, 0, "accepted: %s", spec_json);
    return err;
}

Test(invoke, bad_params_are_refused_before_running)
{
    /* Each refusal names the param at fault. */
    static const char *bad[][2] = {
        {"{\"action\": \"typed.echo\", \"params\": {}}", "'s'"},
        {"{\"action\": \"typed.echo\", \"params\": {\"s\": 1}}", "'s'"},
        {"{\"action\": \"typed.echo\", \"params\": {\"s\": \"x\", \"zz\": "
         "1}}",
         "'zz'"},
        {"{\"action\": \"typed.echo\", \"params\": {\"s\": \"x\", \"i\": "
         "1.5}}",
         "'i'"},
        {"{\"action\": \"typed.echo\", \"params\": {\"s\": \"x\"}, "
         "\"targets\": [{\"b\": \"yes\"}]}",
         "'b'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *err = refusal(HARNESS_FIXTURES "typed", bad[i][0]);
        cr_expect(strstr(err, "param") && strstr(err, bad[i][1]),
                  "refusal of %s does not name param %s: '%s'", bad[i][0],
                  bad[i][1], err);
    }
}

/* Nothing runs: crashy.mark appends to the file named by its `path` param,
 * and after every refusal that file still does not exist, though each spec
 * names it; the same action with good params does write it. A JobSpec
 * whose second target is bad runs not even its first. */
Test(invoke, refused_params_run_nothing)
{
    char *dir = harness_tmpdir();
    char marker[512];
    snprintf(marker, sizeof marker, "%s/ran", dir);
    char bad[5][1024];
    static const char *why[] = {"'n'", "'zz'", "'flag'", "'flag'", "'path'"};
    snprintf(bad[0], sizeof bad[0],
             "{\"action\": \"crashy.mark\", \"params\": {\"path\": \"%s\", "
             "\"n\": 1.5}}",
             marker);
    snprintf(bad[1], sizeof bad[1],
             "{\"action\": \"crashy.mark\", \"params\": {\"path\": \"%s\", "
             "\"zz\": 1}}",
             marker);
    snprintf(bad[2], sizeof bad[2],
             "{\"action\": \"crashy.mark\", \"params\": {\"path\": \"%s\", "
             "\"flag\": \"yes\"}}",
             marker);
    snprintf(bad[3], sizeof bad[3],
             "{\"action\": \"crashy.mark\", \"params\": {\"path\": \"%s\"}, "
             "\"targets\": [{}, {\"n\": 2}, {\"flag\": 1}]}",
             marker);
    snprintf(bad[4], sizeof bad[4],
             "{\"action\": \"crashy.mark\", \"params\": {\"n\": 3}, "
             "\"targets\": [{\"path\": \"%s\"}, {}]}",
             marker);
    for (size_t i = 0; i < 5; i++) {
        const char *err = refusal(HARNESS_FIXTURES "crashy", bad[i]);
        cr_expect(strstr(err, "param") && strstr(err, why[i]),
                  "refusal of %s does not name param %s: '%s'", bad[i],
                  why[i], err);
        cr_expect_neq(access(marker, F_OK), 0, "%s ran: %s exists",
                      bad[i], marker);
    }

    /* The control: good params run and leave the mark. */
    char good[1024];
    snprintf(good, sizeof good,
             "{\"action\": \"crashy.mark\", \"params\": {\"path\": \"%s\", "
             "\"n\": 7, \"flag\": true}}",
             marker);
    json_t *r = run_in(HARNESS_FIXTURES "crashy", good);
    cr_assert_not_null(r);
    cr_expect_str_eq(harness_field(r, 0, "status"), "pass", "%s",
                     harness_field(r, 0, "message"));
    json_decref(r);
    char *out = NULL;
    cr_expect_eq(harness_sh(&out, "cat '%s'", marker), 0);
    cr_expect_str_eq(out, "ran n=7 flag=1\n");
    free(out);
    free(dir);
}

Test(invoke, plugin_config_reaches_the_action)
{
    json_t *r = run_typed("{\"action\": \"typed.greet\"}");
    cr_expect_str_eq(harness_field(r, 0, "message"), "hello");
    json_decref(r);

    assay_conf c;
    harness_conf(&c, HARNESS_FIXTURES "typed");
    char err[256];
    cr_assert_eq(assay_conf_set(&c, "plugin.typed.greeting", "bonjour", err,
                                sizeof err),
                 0, "%s", err);
    r = harness_run_conf(&c, "{\"action\": \"typed.greet\"}");
    cr_expect_str_eq(harness_field(r, 0, "message"), "bonjour");
    json_decref(r);
    assay_conf_fini(&c);
}

Test(invoke, undeclared_or_mistyped_plugin_config_is_refused)
{
    static const char *bad[][2] = {{"plugin.typed.nope", "1"},
                                   {"plugin.typed.loud", "maybe"}};
    for (size_t i = 0; i < 2; i++) {
        assay_conf c;
        harness_conf(&c, HARNESS_FIXTURES "typed");
        char err[256];
        cr_assert_eq(assay_conf_set(&c, bad[i][0], bad[i][1], err,
                                    sizeof err),
                     0, "%s", err);
        assay_runner *r;
        cr_expect_neq(assay_runner_new(&c, false, &r, err, sizeof err), 0);
        cr_expect(strstr(err, bad[i][0]), "%s", err);
        assay_conf_fini(&c);
    }
}
