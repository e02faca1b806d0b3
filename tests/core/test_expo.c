/* tests/core/test_expo.c - the Prometheus text exposition (core/obs/
 * expo.c), read back by a real parser (python3-prometheus-client):
 * hostile label values and help text escaped, special values, and a
 * histogram's cumulative buckets, sum and count. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "obs/expo.h"

/* What the parser reads from text: "name{labels} value" per line. */
static char *parsed(const char *text)
{
    char *dir = harness_tmpdir();
    free(harness_write(dir, "m.txt", text));
    char *out;
    int rc = harness_sh(
        &out,
        "/usr/bin/python3 -c 'import sys\n"
        "from prometheus_client.parser import text_string_to_metric_families "
        "as p\n"
        "for f in p(open(sys.argv[1]).read()):\n"
        "  for s in f.samples: print(f.type, s.name, sorted(s.labels.items()),"
        " s.value)' %s/m.txt",
        dir);
    cr_assert_eq(rc, 0, "the parser refused it: %s\n%s", out, text);
    free(dir);
    return out;
}

Test(expo, hostile_labels_and_help_are_escaped)
{
    assay_expo *e = assay_expo_new();
    assay_expo_family(e, "assay_x", "gauge",
                      "Help with a \\ backslash\nand a newline.");
    assay_expo_sample(e, "assay_x",
                      (const char *[]){"consumer", "a\"b\\c\nd", "k", "",
                                       NULL},
                      3);
    assay_expo_sample(e, "assay_x", (const char *[]){"consumer", "nan", NULL},
                      NAN);
    assay_expo_sample(e, "assay_x", (const char *[]){"consumer", "inf", NULL},
                      INFINITY);
    assay_expo_sample(e, "assay_x", (const char *[]){"consumer", "big", NULL},
                      1e18);
    size_t len;
    const char *text = assay_expo_text(e, &len);
    cr_assert_not_null(text);
    cr_expect_eq(strlen(text), len);
    char *out = parsed(text);
    cr_expect(strstr(out, "gauge assay_x [('consumer', 'a\"b\\\\c\\nd'), "
                          "('k', '')] 3.0"),
              "%s", out);
    cr_expect(strstr(out, "[('consumer', 'nan')] nan"), "%s", out);
    cr_expect(strstr(out, "[('consumer', 'inf')] inf"), "%s", out);
    cr_expect(strstr(out, "[('consumer', 'big')] 1e+18"), "%s", out);
    free(out);
    assay_expo_destroy(&e);
}

Test(expo, a_histogram_is_cumulative)
{
    assay_expo *e = assay_expo_new();
    assay_expo_family(e, "assay_h_seconds", "histogram", "Durations.");
    const double bounds[] = {0.1, 1};
    const uint64_t counts[] = {2, 3, 4}; /* <= 0.1, <= 1, above */
    assay_expo_histogram(e, "assay_h_seconds",
                         (const char *[]){"action", "noop.pass", NULL},
                         bounds, counts, 2, 12.5);
    char *out = parsed(assay_expo_text(e, NULL));
    cr_expect(strstr(out, "assay_h_seconds_bucket [('action', 'noop.pass'), "
                          "('le', '0.1')] 2.0"),
              "%s", out);
    cr_expect(strstr(out, "('le', '1')] 5.0"), "%s", out);
    cr_expect(strstr(out, "('le', '+Inf')] 9.0"), "%s", out);
    cr_expect(strstr(out, "assay_h_seconds_count [('action', 'noop.pass')] "
                          "9.0"),
              "%s", out);
    cr_expect(strstr(out, "assay_h_seconds_sum [('action', 'noop.pass')] "
                          "12.5"),
              "%s", out);
    free(out);
    assay_expo_destroy(&e);
}
