/* tests/core/test_semver.c - semver parsing, precedence and ranges. */
#include <criterion/criterion.h>
#include <string.h>

#include <assay/error.h>

#include "base/semver.h"

static assay_semver ver(const char *s)
{
    assay_semver v;

    cr_assert_eq(assay_semver_parse(s, &v), 0, "parse '%s'", s);
    return v;
}

static bool matches(const char *range, const char *version)
{
    assay_semver_range *r = NULL;
    assay_semver v = ver(version);
    char err[ASSAY_ERRMSG_SIZE] = "";
    bool m;

    cr_assert_eq(assay_semver_range_parse(range, &r, err, sizeof err), 0,
                 "range '%s': %s", range, err);
    m = assay_semver_range_match(r, &v);
    assay_semver_range_destroy(&r);
    cr_assert_null(r);
    return m;
}

/* Every listed version must match `range`, every unlisted one not. */
static void expect(const char *range, const char *const *yes,
                   const char *const *no)
{
    for (; *yes; yes++)
        cr_expect(matches(range, *yes), "'%s' should match '%s'", *yes, range);
    for (; *no; no++)
        cr_expect(!matches(range, *no), "'%s' should not match '%s'", *no,
                  range);
}

#define L(...)                                                                 \
    (const char *const[])                                                      \
    {                                                                          \
        __VA_ARGS__, NULL                                                      \
    }

Test(semver, parse_valid)
{
    assay_semver v = ver("1.2.3");

    cr_expect_eq(v.major, 1);
    cr_expect_eq(v.minor, 2);
    cr_expect_eq(v.patch, 3);
    cr_expect_str_empty(v.pre);

    v = ver("0.0.0");
    cr_expect_eq(v.major + v.minor + v.patch, 0);

    v = ver("10.20.30-alpha.1.x-y-z.0+build.007.sha-1");
    cr_expect_eq(v.major, 10);
    cr_expect_eq(v.patch, 30);
    cr_expect_str_eq(v.pre, "alpha.1.x-y-z.0");

    v = ver("1.0.0+20130313144700");
    cr_expect_str_empty(v.pre, "build metadata is dropped");

    v = ver("4294967295.4294967295.4294967295");
    cr_expect_eq(v.major, UINT32_MAX);
    cr_expect_eq(v.patch, UINT32_MAX);

    v = ver("1.0.0--");
    cr_expect_str_eq(v.pre, "-");
    v = ver("1.0.0-0a.00a");
    cr_expect_str_eq(v.pre, "0a.00a", "alphanumerics may start with 0");
}

Test(semver, parse_invalid)
{
    static const char *const bad[] = {
        "",
        "1",
        "1.2",
        "1.2.3.4",
        "v1.2.3",
        "=1.2.3",
        " 1.2.3",
        "1.2.3 ",
        "01.2.3",
        "1.02.3",
        "1.2.03",
        "1.2.3-01",
        "1.2.3-alpha.01",
        "1.2.3-",
        "1.2.3-alpha.",
        "1.2.3-alpha..1",
        "1.2.3+",
        "1.2.3+a..b",
        "1.2.3-al_pha",
        "1.2.3-é",
        "1.2.3+build+more",
        "4294967296.0.0",
        "0.99999999999.0",
        "1.2.-3",
        "-1.2.3",
        "1..3",
        "a.b.c",
        "1.2.3-alpha.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    assay_semver v = {.major = 7};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(assay_semver_parse(bad[i], &v), ASSAY_EINVAL, "'%s'",
                     bad[i]);
    cr_expect_eq(v.major, 7, "output untouched on error");
    cr_expect_eq(assay_semver_parse(NULL, &v), ASSAY_EINVAL);
}

Test(semver, length_limit)
{
    char s[80];

    /* "1.0.0-" + 57 = 63 characters: the longest accepted */
    strcpy(s, "1.0.0-");
    memset(s + 6, 'a', 57);
    s[63] = '\0';
    cr_expect_eq(ver(s).pre[56], 'a');
    cr_expect_eq(strlen(ver(s).pre), 57);
    strcat(s, "a");
    cr_expect_eq(assay_semver_parse(s, &(assay_semver){0}), ASSAY_EINVAL);
}

Test(semver, ordering)
{
    /* semver.org section 11 example chain, plus numeric-part cases */
    static const char *const chain[] = {
        "0.0.0-0",     "0.0.0",          "0.9.9",
        "1.0.0-alpha", "1.0.0-alpha.1",  "1.0.0-alpha.beta",
        "1.0.0-beta",  "1.0.0-beta.2",   "1.0.0-beta.11",
        "1.0.0-rc.1",  "1.0.0",          "1.0.1",
        "1.2.0",       "1.10.0",         "2.0.0",
        "10.0.0",      "4294967295.0.0",
    };
    size_t n = sizeof chain / sizeof chain[0];

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            assay_semver a = ver(chain[i]), b = ver(chain[j]);
            int want = (i > j) - (i < j);

            cr_expect_eq(assay_semver_cmp(&a, &b), want, "%s vs %s", chain[i],
                         chain[j]);
        }
    }
}

Test(semver, ordering_ignores_build)
{
    assay_semver a = ver("1.0.0+a"), b = ver("1.0.0+b");

    cr_expect_eq(assay_semver_cmp(&a, &b), 0);
}

Test(semver, ordering_prerelease_identifiers)
{
    /* numeric by value, not text; numeric below alphanumeric; ASCII */
    assay_semver a = ver("1.0.0-2"), b = ver("1.0.0-10");
    cr_expect_lt(assay_semver_cmp(&a, &b), 0);
    a = ver("1.0.0-999");
    b = ver("1.0.0-0a");
    cr_expect_lt(assay_semver_cmp(&a, &b), 0);
    a = ver("1.0.0-B");
    b = ver("1.0.0-a");
    cr_expect_lt(assay_semver_cmp(&a, &b), 0);
    a = ver("1.0.0-alpha");
    b = ver("1.0.0-alphabet");
    cr_expect_lt(assay_semver_cmp(&a, &b), 0);
    a = ver("1.0.0-1.2.3");
    b = ver("1.0.0-1.2.3.0");
    cr_expect_lt(assay_semver_cmp(&a, &b), 0);
    a = ver("1.0.0-12345678901234567890");
    b = ver("1.0.0-12345678901234567891");
    cr_expect_lt(assay_semver_cmp(&a, &b), 0, "no overflow on long numbers");
}

Test(semver, range_exact)
{
    expect("1.2.3", L("1.2.3", "1.2.3+build"),
           L("1.2.4", "1.2.2", "1.2.3-rc.1", "2.0.0"));
    expect("=1.2.3", L("1.2.3"), L("1.2.4", "1.2.3-rc.1"));
    expect("=1.2.3-rc.1", L("1.2.3-rc.1"), L("1.2.3-rc.2", "1.2.3"));
}

Test(semver, range_partial)
{
    expect("1.2", L("1.2.0", "1.2.99"),
           L("1.1.9", "1.3.0", "1.3.0-0", "1.2.5-beta"));
    expect("=1.2", L("1.2.7"), L("1.3.0"));
    expect("1", L("1.0.0", "1.99.99"), L("0.9.9", "2.0.0", "2.0.0-rc.1"));
    expect("0", L("0.0.0", "0.99.1"), L("1.0.0"));
}

Test(semver, range_bounds)
{
    expect(">1.2.3", L("1.2.4", "9.0.0"), L("1.2.3", "1.0.0"));
    expect(">=1.2.3", L("1.2.3", "1.3.0"), L("1.2.2", "1.2.3-rc.1"));
    expect("<1.2.3", L("1.2.2", "0.0.0"), L("1.2.3", "2.0.0", "1.2.3-rc.1"));
    expect("<=1.2.3", L("1.2.3", "1.0.0"), L("1.2.4"));
    /* partial bounds, npm semantics */
    expect(">1.2", L("1.3.0", "2.0.0"), L("1.2.99", "1.2.0"));
    expect(">1", L("2.0.0"), L("1.99.0"));
    expect(">=1.2", L("1.2.0", "5.0.0"), L("1.1.99"));
    expect("<1.2", L("1.1.99"), L("1.2.0"));
    expect("<=1.2", L("1.2.99", "0.1.0"), L("1.3.0"));
    expect("<=1", L("1.99.0"), L("2.0.0"));
}

Test(semver, range_caret)
{
    expect("^1.2.3", L("1.2.3", "1.9.0", "1.2.4"),
           L("1.2.2", "2.0.0", "2.0.0-rc.1", "1.3.0-beta"));
    expect("^0.2.3", L("0.2.3", "0.2.9"), L("0.3.0", "0.2.2", "1.0.0"));
    expect("^0.0.3", L("0.0.3"), L("0.0.4", "0.0.2", "0.1.0"));
    expect("^1.2", L("1.2.0", "1.99.0"), L("1.1.9", "2.0.0"));
    expect("^1", L("1.0.0", "1.5.0"), L("2.0.0", "0.9.0"));
    expect("^0.2", L("0.2.0", "0.2.9"), L("0.3.0"));
    expect("^0.0", L("0.0.0", "0.0.9"), L("0.1.0"));
    expect("^0", L("0.0.0", "0.9.0"), L("1.0.0"));
    expect("^1.2.3-beta.2",
           L("1.2.3-beta.2", "1.2.3-beta.10", "1.2.3", "1.8.0"),
           L("1.2.3-beta.1", "1.2.4-beta", "2.0.0"));
}

Test(semver, range_tilde)
{
    expect("~1.4.0", L("1.4.0", "1.4.99"), L("1.5.0", "1.3.9"));
    expect("~1.4.2", L("1.4.2", "1.4.3"), L("1.4.1", "1.5.0"));
    expect("~1.4", L("1.4.0", "1.4.5"), L("1.5.0"));
    expect("~1", L("1.0.0", "1.9.9"), L("2.0.0", "0.9.0"));
    expect("~0.0.1", L("0.0.1", "0.0.9"), L("0.1.0"));
}

Test(semver, range_any)
{
    expect("*", L("0.0.0", "1.2.3", "4294967295.0.0"), L("1.0.0-alpha"));
    expect("", L("0.0.0", "99.0.0"), L("1.0.0-rc.1"));
    expect(" \t ", L("3.2.1"), L("3.2.1-x"));
}

Test(semver, range_and)
{
    expect(">=1.0 <2", L("1.0.0", "1.9.9"), L("0.9.9", "2.0.0"));
    expect("  >1.2.3\t<=1.4.0  ", L("1.2.4", "1.4.0"), L("1.2.3", "1.4.1"));
    expect("^1.2 ~1.3", L("1.3.0", "1.3.9"), L("1.2.0", "1.4.0"));
    expect(">2 <1", L(NULL), L("1.5.0", "2.5.0", "0.0.0"));
}

Test(semver, range_prerelease_rule)
{
    /* only on the MAJOR.MINOR.PATCH a comparator names with a prerelease */
    expect(">=1.2.3-alpha.3", L("1.2.3-alpha.7", "1.2.3", "3.4.5"),
           L("3.4.5-alpha.9", "1.2.3-alpha.2", "1.2.4-alpha"));
    expect("<2.0.0-rc.1 >1.0.0", L("2.0.0-beta", "1.5.0"),
           L("2.0.0-rc.1", "2.0.0-rc.2", "1.5.0-x"));
    /* an implied upper bound excludes that version's prereleases */
    expect("^1.2.3 >=2.0.0-alpha", L(NULL), L("2.0.0-beta", "2.0.0"));
    expect("<1.2 >=1.2.0-alpha", L(NULL), L("1.2.0-beta"));
}

Test(semver, range_overflow)
{
    expect("^4294967295", L("4294967295.0.0", "4294967295.4294967295.1"),
           L("4294967294.0.0"));
    expect(">4294967295", L(NULL), L("4294967295.4294967295.4294967295"));
    /* a full part carries: the version after 0.4294967295.x is 1.0.0 */
    expect("<=0.4294967295", L("0.4294967295.7", "0.0.0"), L("1.0.0"));
    expect(">0.4294967295", L("1.0.0"), L("0.4294967295.4294967295"));
    expect("~4294967295.4294967295.0", L("4294967295.4294967295.4294967295"),
           L("4294967295.4294967294.0"));
    expect("^0.0.4294967295", L("0.0.4294967295"),
           L("0.0.4294967294", "0.1.0"));
}

static void expect_bad(const char *range, int code, const char *token)
{
    assay_semver_range *r = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";

    cr_expect_eq(assay_semver_range_parse(range, &r, err, sizeof err), code,
                 "'%s'", range);
    cr_expect_null(r);
    cr_expect_not_null(strstr(err, token), "'%s': error '%s' lacks '%s'", range,
                       err, token);
}

Test(semver, range_bad)
{
    expect_bad(">= 1.0", ASSAY_EINVAL, "'>='");
    expect_bad(">=1.0 <2 ||", ASSAY_EINVAL, "'||'");
    expect_bad("^1.2.3 v1.2.3", ASSAY_EINVAL, "'v1.2.3'");
    expect_bad("1.2.x", ASSAY_EINVAL, "'1.2.x'");
    expect_bad("01.2", ASSAY_EINVAL, "'01.2'");
    expect_bad("1.2-beta", ASSAY_EINVAL, "'1.2-beta'");
    expect_bad("1.2+b", ASSAY_EINVAL, "'1.2+b'");
    expect_bad("=>1.0.0", ASSAY_EINVAL, "'=>1.0.0'");
    expect_bad(">>1", ASSAY_EINVAL, "'>>1'");
    expect_bad("~>1.2", ASSAY_EINVAL, "'~>1.2'");
    expect_bad("**", ASSAY_EINVAL, "'**'");
    expect_bad("1.2.3 - 2.0.0", ASSAY_EINVAL, "'-'");
    expect_bad("1.4294967296", ASSAY_EINVAL, "'1.4294967296'");
    expect_bad(
        ">=1.0.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ASSAY_EINVAL, "'>=1.0.0-aaaa");
    expect_bad("1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", ASSAY_ETOOBIG,
               "'17'");
}

Test(semver, range_limit)
{
    /* exactly ASSAY_SEMVER_RANGE_MAX comparators is fine */
    expect(">=1 >=1 >=1 >=1 >=1 >=1 >=1 >=1 >=1 >=1 >=1 >=1 >=1 >=1 >=1 <2",
           L("1.5.0"), L("2.0.0"));
}

Test(semver, range_destroy_null)
{
    assay_semver_range *r = NULL;

    assay_semver_range_destroy(&r);
    assay_semver_range_destroy(NULL);
    cr_expect_null(r);
}

/* Adds each of `versions` in turn to a list of `len` bytes. */
static void list_of(char *list, size_t len, const char *const *versions)
{
    list[0] = '\0';
    for (size_t i = 0; versions[i]; i++)
        assay_semver_list_add(list, len, versions[i]);
}

Test(semver, list_is_sorted_by_precedence_without_repeats)
{
    char list[128];

    /* found in load order, and once per runtime that offers it */
    list_of(list, sizeof list,
            L("10.0.0", "1.4.1", "2.0.0", "1.2.0", "1.4.1", "2.0.0-rc.1",
              "1.2.0+build.7", "not-a-version"));
    cr_expect_str_eq(list, "1.2.0, 1.4.1, 2.0.0-rc.1, 2.0.0, 10.0.0");
}

Test(semver, list_that_is_full_says_so)
{
    char list[20];

    /* "1.0.0, 2.0.0" (12 bytes) leaves no room for ", 3.0.0" and ", ..." */
    list_of(list, sizeof list, L("2.0.0", "1.0.0", "3.0.0", "4.0.0"));
    cr_expect_str_eq(list, "1.0.0, 2.0.0, ...");
    /* whichever end the version left out sorts to */
    list_of(list, sizeof list, L("9.0.0", "8.0.0", "1.0.0"));
    cr_expect_str_eq(list, "8.0.0, 9.0.0, ...");
}

/* The one "highest in range" rule the catalogue and the leader share:
 * whatever the order of the candidates, the highest that matches wins;
 * one outside the range or not above the kept one is not taken. */
Test(semver, pick_keeps_the_highest_in_range)
{
    static const char *const order[][5] = {
        {"1.2.0", "2.0.0", "1.4.1", "1.4.1-rc.1", "0.9.0"},
        {"0.9.0", "1.4.1-rc.1", "1.4.1", "2.0.0", "1.2.0"},
    };
    assay_semver_range *r = NULL;
    cr_assert_eq(assay_semver_range_parse("^1.2", &r, NULL, 0), 0);
    for (size_t k = 0; k < 2; k++) {
        assay_semver_pick any = {0}, in = {0};
        for (size_t i = 0; i < 5; i++) {
            assay_semver v = ver(order[k][i]);
            assay_semver_pick_offer(&any, NULL, &v);
            assay_semver_pick_offer(&in, r, &v);
        }
        assay_semver want_any = ver("2.0.0"), want_in = ver("1.4.1");
        cr_expect(any.found && !assay_semver_cmp(&any.best, &want_any));
        cr_expect(in.found && !assay_semver_cmp(&in.best, &want_in));
        assay_semver same = ver("1.4.1"), out = ver("3.0.0");
        cr_expect_not(assay_semver_pick_offer(&in, r, &same));
        cr_expect_not(assay_semver_pick_offer(&in, r, &out));
    }
    assay_semver_pick none = {0};
    assay_semver old = ver("0.1.0");
    cr_expect_not(assay_semver_pick_offer(&none, r, &old));
    cr_expect_not(none.found);
    assay_semver_range_destroy(&r);
}
