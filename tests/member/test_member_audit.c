/* tests/member/test_member_audit.c - the audit log (core/member/audit.c):
 * a JSON line per entry, a file only its owner reads, a flood that costs
 * at most the burst (what is left out counted in the next line), and
 * rotation past its size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "member_fixture.h"

TestSuite(member_audit, .fini = mf_bare_free);

static char path[4000];

static void open_audit(void)
{
    char err[512], *dir = harness_tmpdir();
    mf_conf_init();
    snprintf(path, sizeof path, "%s/audit.log", dir);
    free(dir);
    snprintf(conf.audit_log, sizeof conf.audit_log, "%s", path);
    mf_bare_new();
    m->conf = &conf;
    snprintf(m->id, sizeof m->id, "m1");
    cr_assert_eq(mb_audit_open(m, err, sizeof err), 0, "%s", err);
}

static long long suppressed; /* the sum of what lines_of read */

/* Lines of the file, each checked to be a JSON object; the last one in
 * *last (new), if asked; their "suppressed" summed in `suppressed`. */
static int lines_of(const char *file, json_t **last)
{
    suppressed = 0;
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "%s", file);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        cr_assert(json_is_object(j), "line %d is not JSON: %s", n + 1, line);
        suppressed += json_integer_value(json_object_get(j, "suppressed"));
        if (last) {
            json_decref(*last);
            *last = j;
        } else {
            json_decref(j);
        }
        n++;
    }
    fclose(f);
    return n;
}

Test(member_audit, a_line_names_who_what_and_why)
{
    open_audit();
    mb_audit(m, "reader", "read", "assay.submit", "refused",
             "refused assay.submit from key %s (role %s)", "reader", "read");
    json_t *last = NULL;
    cr_assert_eq(lines_of(path, &last), 1);
    cr_expect_str_eq(json_string_value(json_object_get(last, "key")),
                     "reader");
    cr_expect_str_eq(json_string_value(json_object_get(last, "role")),
                     "read");
    cr_expect_str_eq(json_string_value(json_object_get(last, "service")),
                     "assay.submit");
    cr_expect_str_eq(json_string_value(json_object_get(last, "outcome")),
                     "refused");
    cr_expect_str_eq(json_string_value(json_object_get(last, "member")),
                     "m1");
    cr_expect(strstr(json_string_value(json_object_get(last, "detail")),
                     "role read"));
    cr_expect_eq(strlen(json_string_value(json_object_get(last, "time"))),
                 strlen("2026-12-03T04:05:06.789Z"));
    json_decref(last);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
}

Test(member_audit, a_flood_is_cut_to_the_burst_and_counted)
{
    open_audit();
    int64_t t0 = assay_now_ms();
    for (int i = 0; i < 5000; i++)
        mb_audit(m, "flood", "none", "assay.submit", "refused", "try %d", i);
    int64_t took = assay_now_ms() - t0;
    int n = lines_of(path, NULL);
    /* The burst, and what the rate (100 a second) refilled meanwhile. */
    cr_expect_leq(n, 1000 + took / 10 + 1, "%d lines in %lld ms", n,
                  (long long)took);
    cr_expect_geq(n, 1000);
    usleep(50 * 1000); /* a few tokens come back */
    mb_audit(m, "operator", "admin", "assay.cancel", "asked", "after");
    json_t *last = NULL;
    cr_assert_eq(lines_of(path, &last), n + 1);
    /* Every line left out is counted by the next one written. */
    cr_expect_eq(suppressed, 5000 - n, "%lld counted of %d left out",
                 suppressed, 5000 - n);
    cr_expect_gt(json_integer_value(json_object_get(last, "suppressed")), 0);
    json_decref(last);
}

Test(member_audit, past_its_size_it_is_rotated)
{
    open_audit();
    m->audit.max = 4096; /* audit_log_mb is whole MiB */
    for (int i = 0; i < 60; i++)
        mb_audit(m, "operator", "admin", "assay.cancel", "asked",
                 "{\"ids\": [\"job-%d\"]}", i);
    char old[sizeof path + 2];
    snprintf(old, sizeof old, "%s.1", path);
    struct stat st;
    cr_assert_eq(stat(old, &st), 0, "nothing rotated to %s", old);
    cr_expect_leq(st.st_size, 4096);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_leq(st.st_size, 4096);
    cr_expect_gt(lines_of(path, NULL) + lines_of(old, NULL), 0);
}
