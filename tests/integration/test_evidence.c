/* tests/integration/test_evidence.c - results as evidence, with real
 * processes: a check run three times on a file whose mode changes
 * (series "perm"), exported as OSCAL assessment results that NIST's
 * schema accepts (tests/oscal/validate.py), with the provenance of each
 * result (host facts with the configured asset id, the digest of the
 * plugin file that ran, when it ran, its stream position), drift
 * (regressed, then fixed, naming the evidence that changed), stable
 * evidence ids, and bad input refused with nothing changed.
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cluster.h"
#include "harness.h"

#define WAIT_MS 15000

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(evidence, .fini = teardown, .timeout = 240);

/* Runs check `id` of series perm on `file` (expected mode 0644) and waits
 * until it ended. */
static void check(const char *id, const char *file)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"id\": \"%s\", \"action\": \"file.mode\", \"series\": "
             "\"perm\", \"title\": \"app.conf is 0644\", \"params\": "
             "{\"path\": \"%s\", \"mode\": 420}, \"controls\": "
             "[{\"catalog\": \"NIST_SP-800-53_rev5\", \"id\": \"ac-3\"}]}",
             id, file);
    int code;
    json_decref(cluster_ctl(&c, &code, "submit %s", cluster_spec(&c, id, json)));
    cr_assert_eq(code, 0, "submit %s", id);
    json_decref(cluster_wait(&c, id, WAIT_MS));
}

/* The evidence record of job `job` in a JSON export. */
static const json_t *record(const json_t *doc, const char *job)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(doc, "results"), i, r)
        if (!strcmp(json_string_value(json_object_get(r, "job")), job))
            return r;
    return NULL;
}

Test(evidence, three_runs_exported_validated_and_compared)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt-a", "--set asset_id=asset-A");
    char file[256];
    snprintf(file, sizeof file, "%s/app.conf", c.dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("debug = false\n", f);
    fclose(f);
    chmod(file, 0644);
    check("perm-1", file);
    chmod(file, 0600);
    check("perm-2", file);
    chmod(file, 0644);
    check("perm-3", file);

    /* OSCAL, valid against NIST's schema. */
    char *out;
    int rc = harness_sh(&out,
                        "%sassayctl --endpoint %s "
                        "export --format oscal-ar >%s/ar.json && "
                        "/usr/bin/python3 %s/tests/oscal/validate.py "
                        "%s/ar.json",
                        HARNESS_BIN, c.endpoint, c.dir,
                        ASSAY_SOURCE_DIR, c.dir);
    cr_expect_eq(rc, 0, "%s", out);
    free(out);

    /* Assay's own JSON: provenance and drift on each record. */
    int code;
    json_t *doc = cluster_ctl(&c, &code, "export --format json");
    cr_assert_eq(code, 0);
    cr_assert_not_null(doc);
    const json_t *r1 = record(doc, "perm-1-0"), *r2 = record(doc, "perm-2-0"),
                 *r3 = record(doc, "perm-3-0");
    cr_assert(r1 && r2 && r3);
    const json_t *host = json_object_get(r2, "host");
    cr_expect_str_eq(json_string_value(json_object_get(host, "machine_id")),
                     "asset-A");
    cr_expect_not_null(json_object_get(host, "kernel"));
    const char *sha = json_string_value(
        json_object_get(json_object_get(r2, "plugin"), "sha256"));
    cr_assert_not_null(sha);
    rc = harness_sh(&out, "sha256sum %s/assay-action_file.so",
                    HARNESS_PLUGINS);
    cr_expect_eq(rc, 0);
    cr_expect(!strncmp(out, sha, 64), "plugin %s, file %s", sha, out);
    free(out);
    cr_expect(json_is_string(json_object_get(r2, "started")));
    cr_expect(json_is_string(json_object_get(r2, "ended")));
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r2, "controls"), 0),
                         "id")),
                     "ac-3");
    cr_expect_lt(json_integer_value(json_object_get(r1, "position")),
                 json_integer_value(json_object_get(r2, "position")));
    const json_t *d1 = json_object_get(r1, "drift"),
                 *d2 = json_object_get(r2, "drift"),
                 *d3 = json_object_get(r3, "drift");
    cr_expect_str_eq(json_string_value(json_object_get(d1, "change")), "new");
    cr_expect_str_eq(json_string_value(json_object_get(d2, "change")),
                     "regressed");
    cr_expect_str_eq(json_string_value(json_object_get(d2, "previous")),
                     "pass");
    cr_expect_str_eq(json_string_value(json_object_get(d3, "change")),
                     "fixed");
    cr_expect_str_eq(json_string_value(json_array_get(
                         json_object_get(d2, "changed"), 0)),
                     "findings[0].evidence.actual");
    /* The same evidence has the same id in every export. */
    json_t *again = cluster_ctl(&c, &code, "export --format json --run perm-2");
    cr_assert_eq(code, 0);
    const json_t *r2b = record(again, "perm-2-0");
    cr_assert_not_null(r2b);
    cr_expect_str_eq(json_string_value(json_object_get(r2b, "uuid")),
                     json_string_value(json_object_get(r2, "uuid")));
    cr_expect_eq(json_array_size(json_object_get(again, "results")), 1);
    json_decref(again);
    json_decref(doc);

    /* drift: the regression and the fix, nothing else. */
    rc = harness_sh(&out, "%sassayctl --endpoint %s "
                          "drift",
                    HARNESS_BIN, c.endpoint);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_not_null(strstr(out, "REGRESSED"), "%s", out);
    cr_expect_not_null(strstr(out, "FIXED"), "%s", out);
    cr_expect_not_null(strstr(out, "1 regressed, 1 fixed, of 3 results"),
                       "%s", out);
    free(out);
}

Test(evidence, bad_input_is_refused_and_changes_nothing)
{
    cluster_start(&c, NULL);
    struct {
        const char *args, *says;
        int code;
    } bad[] = {
        {"export --format yaml", "yaml", 64},
        {"export --run nope", "not held", 65},
        {"export --since 2099-01-01T00:00:00Z", "in the future", 65},
        {"export --run a --schedule b", "not both", 64},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cluster_ctl_refused(&c, bad[i].args, bad[i].code, bad[i].says);
    /* A control id that is no token: refused, naming it; nothing held. */
    int code;
    json_decref(cluster_ctl(
        &c, &code, "submit %s",
        cluster_spec(&c, "badctl",
                     "{\"id\": \"badctl\", \"action\": \"noop.pass\", "
                     "\"controls\": [{\"catalog\": \"NIST\", \"id\": "
                     "\"6 1; rm -rf\"}]}")));
    cr_expect_eq(code, 65);
    json_t *jobs = cluster_ctl(&c, &code, "jobs");
    cr_expect_eq(json_array_size(json_object_get(jobs, "jobs")), 0);
    json_decref(jobs);
}
