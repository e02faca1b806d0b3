/* tests/core/test_cron.c - cron parsing, and the iterator in UTC and across
 * the 2026 clock changes of Berlin, New York and Lord Howe Island (Debian's
 * tzdata). Every instant is a constant. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <assay/error.h>

#include "sched/cron.h"
#include "sched/tz.h"
#include "zones.h"

static assay_cron *parse(const char *expr)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_cron *c = NULL;

    cr_assert_eq(assay_cron_parse(expr, &c, err, sizeof err), 0, "'%s': %s",
                 expr, err);
    return c;
}

/* The events in (after, until], at most max of them, each call starting
 * after the previous event. */
static size_t events(const assay_cron *c, const assay_tz *tz, int64_t after,
                     int64_t until, assay_cron_event *ev, size_t max)
{
    size_t n = 0;

    while (n < max && assay_cron_next(c, tz, after, until, &ev[n]) == 1) {
        cr_assert_gt(ev[n].at, after);
        cr_assert_leq(ev[n].at, until);
        after = ev[n++].at;
    }
    return n;
}

/* An expression's events in a zone, checked against the expected list:
 * {at, fire, gap_local, gap_count}. */
static void expect_events(const char *expr, const char *tzname, int64_t after,
                          int64_t until, const assay_cron_event *want,
                          size_t nwant)
{
    assay_cron *c = parse(expr);
    assay_tz *tz = zones_load(tzname);
    assay_cron_event got[64];
    size_t n = events(c, tz, after, until, got, 64);

    cr_expect_eq(n, nwant, "'%s' in %s: %zu events, want %zu", expr, tzname, n,
                 nwant);
    for (size_t i = 0; i < n && i < nwant; i++) {
        cr_expect_eq(got[i].at, want[i].at,
                     "'%s' %s event %zu: at %lld, want %lld", expr, tzname, i,
                     (long long)got[i].at, (long long)want[i].at);
        cr_expect_eq(got[i].fire, want[i].fire, "'%s' %s event %zu: fire", expr,
                     tzname, i);
        cr_expect_eq(got[i].gap_count, want[i].gap_count,
                     "'%s' %s event %zu: gap_count %u", expr, tzname, i,
                     got[i].gap_count);
        if (want[i].gap_count)
            cr_expect_eq(got[i].gap_local, want[i].gap_local,
                         "'%s' %s event %zu: gap_local %lld", expr, tzname, i,
                         (long long)got[i].gap_local);
    }
    assay_tz_destroy(&tz);
    assay_cron_destroy(&c);
}

#define FIRE(t) ((assay_cron_event){.at = (t), .fire = true})
#define GAP(t, l, n)                                                           \
    ((assay_cron_event){.at = (t), .gap_local = (l), .gap_count = (n)})
#define GAPFIRE(t, l, n)                                                       \
    ((assay_cron_event){                                                       \
        .at = (t), .fire = true, .gap_local = (l), .gap_count = (n)})
#define EXPECT(expr, tz, after, until, ...)                                    \
    do {                                                                       \
        const assay_cron_event want_[] = {__VA_ARGS__};                        \
        expect_events(expr, tz, after, until, want_,                           \
                      sizeof want_ / sizeof want_[0]);                         \
    } while (0)

static void expect_refused(const char *expr, const char *fragment)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_cron *c = NULL;

    cr_expect_eq(assay_cron_parse(expr, &c, err, sizeof err), ASSAY_EINVAL,
                 "'%s' accepted", expr);
    cr_expect_null(c);
    cr_expect(strstr(err, fragment), "'%s': '%s' lacks '%s'", expr, err,
              fragment);
}

Test(cron, refusals)
{
    char big[300];

    expect_refused("0 0 32 * *", "cron '0 0 32 * *': field 3 (day of month) "
                                 "'32': out of range 1-31");
    expect_refused("60 * * * *", "field 1 (minute) '60': out of range 0-59");
    expect_refused("* 24 * * *", "field 2 (hour) '24': out of range 0-23");
    expect_refused("0 0 0 * *", "field 3 (day of month) '0': out of range");
    expect_refused("0 0 * 13 *", "field 4 (month) '13': out of range 1-12");
    expect_refused("0 0 * 0 *", "field 4 (month) '0': out of range 1-12");
    expect_refused("0 0 * * 8", "field 5 (day of week) '8': out of range 0-7");
    expect_refused("60 0 0 * * *", "field 1 (second) '60': out of range 0-59");
    expect_refused("0 60 0 * * *", "field 2 (minute) '60'");
    expect_refused("*/0 * * * *", "field 1 (minute) '*/0': step out of range "
                                  "1-60");
    expect_refused("0 0/0 * * *", "field 2 (hour) '0/0': step out of range");
    expect_refused("*/61 * * * *", "'*/61': step out of range 1-60");
    expect_refused("5-1 * * * *", "field 1 (minute) '5-1': reversed range");
    expect_refused("0 0 * DEC-JAN *", "field 4 (month) 'DEC-JAN': reversed");
    expect_refused("0 0 * * 7-1", "field 5 (day of week) '7-1': reversed");
    expect_refused("0 0 1-32/2 * *", "'1-32/2': out of range 1-31");
    expect_refused("1,,2 * * * *", "field 1 (minute) '1,,2': empty list");
    expect_refused(",1 * * * *", "field 1 (minute) ',1': empty list element");
    expect_refused("0 0 1, * *", "field 3 (day of month) '1,': empty list");
    expect_refused("5x * * * *", "field 1 (minute) '5x': unexpected 'x'");
    expect_refused("*/2/3 * * * *", "'*/2/3': unexpected '/'");
    expect_refused("1-2-3 * * * *", "'1-2-3': unexpected '-'");
    expect_refused("1- * * * *", "'1-': range end not a number");
    expect_refused("1/ * * * *", "'1/': step not a number");
    expect_refused("*/MON * * * *", "'*/MON': step not a number");
    expect_refused("-1 * * * *", "'-1': not a number or name");
    expect_refused("MON * * * *", "field 1 (minute) 'MON': not a number");
    expect_refused("0 0 * FOO *", "field 4 (month) 'FOO': not a number");
    expect_refused("0 0 * * JAN", "field 5 (day of week) 'JAN': not a number");
    expect_refused("0 0 * JANUARY *", "field 4 (month) 'JANUARY'");
    expect_refused("? 0 * * *", "field 1 (minute) '?'");
    expect_refused("0 0 * ? *", "field 4 (month) '?'");
    expect_refused("99999999999 * * * *", "out of range 0-59");
    expect_refused("* * * *", "cron '* * * *': 4 fields, expected 5");
    expect_refused("* * * * * * *", "7 fields, expected 5");
    expect_refused("", "cron '': empty");
    expect_refused("  \t ", "empty");
    expect_refused("@every 5m", "cron '@every 5m': @every is an interval, not "
                                "a cron expression (intervals are given "
                                "separately)");
    expect_refused("@every", "@every is an interval");
    expect_refused("@fortnightly", "'@fortnightly' is not one of @yearly");
    expect_refused("@daily 0", "'@daily 0' is not one of");
    expect_refused("@DAILY", "'@DAILY' is not one of");
    memset(big, '*', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    expect_refused(big, "longer than 256 bytes");
}

/* Two expressions that must mean the same: equal first 300 events in UTC
 * from 2026-01-01. */
static void expect_same(const char *a, const char *b)
{
    assay_cron *ca = parse(a), *cb = parse(b);
    assay_tz *tz = zones_load("UTC");
    static assay_cron_event ea[300], eb[300];
    int64_t from = zones_utc(2026, 1, 1, 0, 0, 0);
    size_t na = events(ca, tz, from, from + 40LL * 365 * 86400, ea, 300);
    size_t nb = events(cb, tz, from, from + 40LL * 365 * 86400, eb, 300);

    cr_expect_eq(na, nb, "'%s' %zu events, '%s' %zu", a, na, b, nb);
    cr_expect_gt(na, 0, "'%s' never fires", a);
    for (size_t i = 0; i < na && i < nb; i++)
        if (ea[i].at != eb[i].at) {
            cr_expect_eq(ea[i].at, eb[i].at, "'%s' vs '%s' event %zu", a, b, i);
            break;
        }
    assay_tz_destroy(&tz);
    assay_cron_destroy(&ca);
    assay_cron_destroy(&cb);
}

Test(cron, names_ranges_steps)
{
    expect_same("0 0 * * 7", "0 0 * * 0");
    expect_same("0 0 * * SUN", "0 0 * * 0");
    expect_same("0 0 * * 5-7", "0 0 * * 0,5,6");
    expect_same("0 0 * * Fri-sAt", "0 0 * * 5,6");
    expect_same("0 12 * * mon-FRI/2", "0 12 * * 1,3,5");
    expect_same("0 0 1 jan-mar,Jul *", "0 0 1 1-3,7 *");
    expect_same("0 0 1 JUN/2 *", "0 0 1 6,8,10,12 *");
    expect_same("0 0 ? * *", "0 0 * * *");
    expect_same("0 0 * * ?", "0 0 * * *");
    expect_same("*/15 * * * *", "0,15,30,45 * * * *");
    expect_same("10/20 * * * *", "10,30,50 * * * *");
    expect_same("0 0 1-10/3 * *", "0 0 1,4,7,10 * *");
    expect_same("0 */6 * * *", "0 0,6,12,18 * * *");
    expect_same("0 0 * * *", "0 0 * * 0-7");
    expect_same("  0\t0 *  * *  ", "0 0 * * *");
    expect_same("5,1-3,2 * * * *", "1,2,3,5 * * * *");
    expect_same("*/60 * * * *", "0 * * * *");
    expect_same("@yearly", "0 0 1 1 *");
    expect_same("@annually", "0 0 1 JAN *");
    expect_same("@monthly", "0 0 1 * *");
    expect_same("@weekly", "0 0 * * 0");
    expect_same("@daily", "0 0 * * *");
    expect_same("@midnight", "0 0 * * *");
    expect_same(" @hourly ", "0 * * * *");
    expect_same("0 0 0 * * *", "0 0 * * *");
    expect_same("*/30 * * * * *", "0,30 * * * * *");

    /* and the plain meaning, once, in full: Thursday 2026-01-01 */
    int64_t t0 = zones_utc(2026, 1, 1, 0, 0, 0);
    EXPECT("30 9 * * MON-WED", "UTC", t0, zones_utc(2026, 1, 13, 0, 0, 0),
           FIRE(zones_utc(2026, 1, 5, 9, 30, 0)), FIRE(zones_utc(2026, 1, 6, 9, 30, 0)),
           FIRE(zones_utc(2026, 1, 7, 9, 30, 0)), FIRE(zones_utc(2026, 1, 12, 9, 30, 0)));
    EXPECT("0 0 29 2 *", "UTC", t0, zones_utc(2033, 1, 1, 0, 0, 0),
           FIRE(zones_utc(2028, 2, 29, 0, 0, 0)), FIRE(zones_utc(2032, 2, 29, 0, 0, 0)));
    EXPECT("0 0 31 * *", "UTC", t0, zones_utc(2026, 6, 1, 0, 0, 0),
           FIRE(zones_utc(2026, 1, 31, 0, 0, 0)), FIRE(zones_utc(2026, 3, 31, 0, 0, 0)),
           FIRE(zones_utc(2026, 5, 31, 0, 0, 0)));
    EXPECT("59 23 31 12 *", "UTC", t0, zones_utc(2028, 1, 1, 0, 0, 0),
           FIRE(zones_utc(2026, 12, 31, 23, 59, 0)),
           FIRE(zones_utc(2027, 12, 31, 23, 59, 0)));
}

/* Both day fields restricted: either matches (Vixie). One starting with
 * '*': both must. */
Test(cron, vixie_day_rule)
{
    int64_t t0 = zones_utc(2026, 1, 1, 0, 0, 0), t1 = zones_utc(2026, 3, 1, 0, 0, 0);

    EXPECT("0 0 13 * FRI", "UTC", t0, t1, FIRE(zones_utc(2026, 1, 2, 0, 0, 0)),
           FIRE(zones_utc(2026, 1, 9, 0, 0, 0)), FIRE(zones_utc(2026, 1, 13, 0, 0, 0)),
           FIRE(zones_utc(2026, 1, 16, 0, 0, 0)), FIRE(zones_utc(2026, 1, 23, 0, 0, 0)),
           FIRE(zones_utc(2026, 1, 30, 0, 0, 0)), FIRE(zones_utc(2026, 2, 6, 0, 0, 0)),
           FIRE(zones_utc(2026, 2, 13, 0, 0, 0)), FIRE(zones_utc(2026, 2, 20, 0, 0, 0)),
           FIRE(zones_utc(2026, 2, 27, 0, 0, 0)));
    EXPECT("0 0 */2 * FRI", "UTC", t0, t1, FIRE(zones_utc(2026, 1, 9, 0, 0, 0)),
           FIRE(zones_utc(2026, 1, 23, 0, 0, 0)), FIRE(zones_utc(2026, 2, 13, 0, 0, 0)),
           FIRE(zones_utc(2026, 2, 27, 0, 0, 0)));
    EXPECT("0 0 13 * *", "UTC", t0, t1, FIRE(zones_utc(2026, 1, 13, 0, 0, 0)),
           FIRE(zones_utc(2026, 2, 13, 0, 0, 0)));
    EXPECT("0 0 13 * ?", "UTC", t0, t1, FIRE(zones_utc(2026, 1, 13, 0, 0, 0)),
           FIRE(zones_utc(2026, 2, 13, 0, 0, 0)));
    EXPECT("0 0 ? * 5", "UTC", zones_utc(2026, 2, 1, 0, 0, 0), t1,
           FIRE(zones_utc(2026, 2, 6, 0, 0, 0)), FIRE(zones_utc(2026, 2, 13, 0, 0, 0)),
           FIRE(zones_utc(2026, 2, 20, 0, 0, 0)), FIRE(zones_utc(2026, 2, 27, 0, 0, 0)));
    /* OR even where the day of month never exists in that month */
    EXPECT("0 0 30 2 MON", "UTC", t0, zones_utc(2027, 1, 1, 0, 0, 0),
           FIRE(zones_utc(2026, 2, 2, 0, 0, 0)), FIRE(zones_utc(2026, 2, 9, 0, 0, 0)),
           FIRE(zones_utc(2026, 2, 16, 0, 0, 0)), FIRE(zones_utc(2026, 2, 23, 0, 0, 0)));
}

Test(cron, seconds)
{
    assay_cron *c = parse("*/20 * * * * *"), *c5 = parse("* * * * *");
    int64_t t0 = zones_utc(2026, 1, 1, 0, 0, 0);

    cr_expect(assay_cron_has_seconds(c));
    cr_expect_not(assay_cron_has_seconds(c5));
    assay_cron_destroy(&c);
    assay_cron_destroy(&c5);
    EXPECT("*/20 * * * * *", "UTC", t0, t0 + 60, FIRE(t0 + 20), FIRE(t0 + 40),
           FIRE(t0 + 60));
    EXPECT("5 30 12 * * *", "UTC", t0, t0 + 2 * 86400,
           FIRE(zones_utc(2026, 1, 1, 12, 30, 5)), FIRE(zones_utc(2026, 1, 2, 12, 30, 5)));
    EXPECT("* * * * *", "UTC", t0 - 1, t0 + 120, FIRE(t0), FIRE(t0 + 60),
           FIRE(t0 + 120));
    /* after is exclusive, until inclusive */
    EXPECT("* * * * * *", "UTC", t0, t0 + 2, FIRE(t0 + 1), FIRE(t0 + 2));
}

Test(cron, nothing_in_range)
{
    assay_cron *c = parse("0 0 * * *");
    assay_tz *tz = zones_load("UTC");
    assay_cron_event ev = {.at = 42};
    int64_t t0 = zones_utc(2026, 1, 1, 0, 0, 0);

    cr_expect_eq(assay_cron_next(c, tz, t0, t0 + 86399, &ev), 0);
    cr_expect_eq(assay_cron_next(c, tz, t0, t0, &ev), 0);
    cr_expect_eq(assay_cron_next(c, tz, t0 + 5, t0, &ev), 0);
    cr_expect_eq(ev.at, 42, "untouched");
    cr_expect_eq(assay_cron_next(c, tz, INT64_MAX - 1, INT64_MAX, &ev), 0);
    cr_expect_eq(assay_cron_next(c, tz, INT64_MIN, INT64_MIN + 86400 * 2, &ev),
                 0);
    cr_expect_eq(assay_cron_next(c, tz, t0, t0 + 86400, &ev), 1);
    cr_expect_eq(ev.at, t0 + 86400);
    assay_tz_destroy(&tz);
    assay_cron_destroy(&c);
}

/* Never-matching expressions return 0 at once, even over a century. */
Test(cron, never_fires)
{
    const char *exprs[] = {"0 0 31 2 *",    "0 0 30 2 *",
                           "0 0 30,31 2 *", "0 0 31 4,6,9,11 *",
                           "* * 31 2 */2",  "*/5 * * 30 2 *"};
    assay_tz *tz = zones_load("Europe/Berlin");
    int64_t t0 = zones_utc(2026, 1, 1, 0, 0, 0);

    for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
        assay_cron *c = parse(exprs[i]);
        assay_cron_event ev;
        for (int k = 0; k < 1000; k++)
            cr_expect_eq(
                assay_cron_next(c, tz, t0, t0 + 100LL * 366 * 86400, &ev), 0,
                "%s", exprs[i]);
        cr_expect_eq(assay_cron_next(c, tz, t0, INT64_MAX, &ev), 0);
        assay_cron_destroy(&c);
    }
    /* rare but possible: a Sunday 29 February, decades apart */
    assay_cron *c = parse("0 0 29 2 */7");
    assay_cron_event ev;
    cr_expect_eq(assay_cron_next(c, tz, t0, INT64_MAX, &ev), 1);
    cr_expect_eq(ev.at, zones_utc(2032, 2, 28, 23, 0, 0));
    cr_expect_eq(assay_cron_next(c, tz, ev.at, INT64_MAX, &ev), 1);
    cr_expect_eq(ev.at, zones_utc(2060, 2, 28, 23, 0, 0));
    assay_cron_destroy(&c);
    assay_tz_destroy(&tz);
}

/* Berlin 2026: 29 March 02:00 CET -> 03:00 CEST at 01:00Z; 25 October
 * 03:00 CEST -> 02:00 CET at 01:00Z. */
Test(cron, dst_berlin)
{
    const char *B = "Europe/Berlin";
    int64_t spring = zones_utc(2026, 3, 29, 1, 0, 0),
            fall = zones_utc(2026, 10, 25, 1, 0, 0);

    /* 02:30 does not exist on 29 March: skipped, reported at the jump */
    EXPECT("30 2 * * *", B, zones_utc(2026, 3, 27, 12, 0, 0),
           zones_utc(2026, 3, 30, 12, 0, 0), FIRE(zones_utc(2026, 3, 28, 1, 30, 0)),
           GAP(spring, zones_utc(2026, 3, 29, 2, 30, 0), 1),
           FIRE(zones_utc(2026, 3, 30, 0, 30, 0)));
    /* 02:30 happens twice on 25 October: fires at the first (CEST) only */
    EXPECT("30 2 * * *", B, zones_utc(2026, 10, 23, 12, 0, 0),
           zones_utc(2026, 10, 26, 12, 0, 0), FIRE(zones_utc(2026, 10, 24, 0, 30, 0)),
           FIRE(zones_utc(2026, 10, 25, 0, 30, 0)),
           FIRE(zones_utc(2026, 10, 26, 1, 30, 0)));
    /* the first instant after the jump is 03:00 itself */
    EXPECT("0 3 * * *", B, zones_utc(2026, 3, 28, 12, 0, 0),
           zones_utc(2026, 3, 29, 12, 0, 0), FIRE(spring));
    /* 02:00, 02:15, 02:30, 02:45 skipped and 03:00 fired: one event */
    EXPECT("*/15 * * * *", B, zones_utc(2026, 3, 29, 0, 40, 0),
           zones_utc(2026, 3, 29, 1, 20, 0), FIRE(zones_utc(2026, 3, 29, 0, 45, 0)),
           GAPFIRE(spring, zones_utc(2026, 3, 29, 2, 0, 0), 4),
           FIRE(zones_utc(2026, 3, 29, 1, 15, 0)));
    /* in the fold: 02:00-02:45 CEST fire, the CET repeats do not */
    EXPECT("*/15 * * * *", B, zones_utc(2026, 10, 24, 23, 50, 0),
           zones_utc(2026, 10, 25, 2, 15, 0), FIRE(zones_utc(2026, 10, 25, 0, 0, 0)),
           FIRE(zones_utc(2026, 10, 25, 0, 15, 0)), FIRE(zones_utc(2026, 10, 25, 0, 30, 0)),
           FIRE(zones_utc(2026, 10, 25, 0, 45, 0)), FIRE(zones_utc(2026, 10, 25, 2, 0, 0)),
           FIRE(zones_utc(2026, 10, 25, 2, 15, 0)));
    /* starting inside the repeated hour changes nothing */
    EXPECT("*/15 * * * *", B, zones_utc(2026, 10, 25, 1, 10, 0),
           zones_utc(2026, 10, 25, 2, 0, 0), FIRE(zones_utc(2026, 10, 25, 2, 0, 0)));
    EXPECT("* * * * * *", B, fall + 5, fall + 3600,
           FIRE(fall + 3600)); /* 03:00:00 CET */
    /* seconds in the gap are counted one by one */
    EXPECT("*/20 * 2 * * *", B, spring - 10, spring,
           GAP(spring, zones_utc(2026, 3, 29, 2, 0, 0), 180));
}

/* Every hour on both local days: 23 events in spring (02:00 skipped and
 * merged with 03:00), 24 in autumn (the second 02:00 not fired). */
Test(cron, hourly_across_berlin_days)
{
    const char *B = "Europe/Berlin";
    /* the local days: 28 March 23:00Z - 29 March 22:00Z, and
     * 24 October 22:00Z - 25 October 23:00Z */
    int64_t s0 = zones_utc(2026, 3, 28, 23, 0, 0), s1 = zones_utc(2026, 3, 29, 22, 0, 0);
    int64_t f0 = zones_utc(2026, 10, 24, 22, 0, 0), f1 = zones_utc(2026, 10, 25, 23, 0, 0);
    assay_cron_event want[24];
    size_t n = 0;

    for (int64_t t = s0; t < s1; t += 3600)
        want[n++] = (assay_cron_event){.at = t, .fire = true};
    want[2].gap_count = 1; /* at 01:00Z: 03:00 CEST, and 02:00 skipped */
    want[2].gap_local = zones_utc(2026, 3, 29, 2, 0, 0);
    cr_assert_eq(n, 23);
    expect_events("0 * * * *", B, s0 - 1, s1 - 1, want, n);

    n = 0;
    for (int64_t t = f0; t < f1; t += 3600)
        if (t != zones_utc(2026, 10, 25, 1, 0, 0)) /* 02:00 CET, the repeat */
            want[n++] = (assay_cron_event){.at = t, .fire = true};
    cr_assert_eq(n, 24);
    expect_events("0 * * * *", B, f0 - 1, f1 - 1, want, n);
}

/* New York 2026: 8 March 02:00 EST -> 03:00 EDT at 07:00Z; 1 November
 * 02:00 EDT -> 01:00 EST at 06:00Z. */
Test(cron, dst_new_york)
{
    const char *NY = "America/New_York";
    int64_t spring = zones_utc(2026, 3, 8, 7, 0, 0);
    assay_cron_event want[24];
    size_t n = 0;

    EXPECT("30 2 * * *", NY, zones_utc(2026, 3, 7, 0, 0, 0),
           zones_utc(2026, 3, 9, 12, 0, 0), FIRE(zones_utc(2026, 3, 7, 7, 30, 0)),
           GAP(spring, zones_utc(2026, 3, 8, 2, 30, 0), 1),
           FIRE(zones_utc(2026, 3, 9, 6, 30, 0)));
    EXPECT("30 1 * * *", NY, zones_utc(2026, 10, 31, 0, 0, 0),
           zones_utc(2026, 11, 2, 12, 0, 0), FIRE(zones_utc(2026, 10, 31, 5, 30, 0)),
           FIRE(zones_utc(2026, 11, 1, 5, 30, 0)), FIRE(zones_utc(2026, 11, 2, 6, 30, 0)));

    /* the local day 8 March: 05:00Z - 04:00Z, 23 hours */
    for (int64_t t = zones_utc(2026, 3, 8, 5, 0, 0); t < zones_utc(2026, 3, 9, 4, 0, 0);
         t += 3600)
        want[n++] = (assay_cron_event){.at = t, .fire = true};
    want[2].gap_count = 1;
    want[2].gap_local = zones_utc(2026, 3, 8, 2, 0, 0);
    cr_assert_eq(n, 23);
    expect_events("0 * * * *", NY, zones_utc(2026, 3, 8, 5, 0, 0) - 1,
                  zones_utc(2026, 3, 9, 4, 0, 0) - 1, want, n);
    /* the local day 1 November: 04:00Z - 05:00Z next day, 25 hours */
    n = 0;
    for (int64_t t = zones_utc(2026, 11, 1, 4, 0, 0); t < zones_utc(2026, 11, 2, 5, 0, 0);
         t += 3600)
        if (t != zones_utc(2026, 11, 1, 6, 0, 0)) /* 01:00 EST, the repeat */
            want[n++] = (assay_cron_event){.at = t, .fire = true};
    cr_assert_eq(n, 24);
    expect_events("0 * * * *", NY, zones_utc(2026, 11, 1, 4, 0, 0) - 1,
                  zones_utc(2026, 11, 2, 5, 0, 0) - 1, want, n);
}

/* Lord Howe Island moves its clocks by 30 minutes: 4 October 2026
 * 02:00 -> 02:30 (+11) at 3 October 15:30Z; 5 April 02:00 -> 01:30
 * (+10:30) at 4 April 15:00Z. */
Test(cron, dst_lord_howe)
{
    const char *LH = "Australia/Lord_Howe";
    int64_t spring = zones_utc(2026, 10, 3, 15, 30, 0);

    /* 02:00 skipped, 02:30 is the jump itself */
    EXPECT("0,30 2 * * *", LH, spring - 3600, spring + 3600,
           GAPFIRE(spring, zones_utc(2026, 10, 4, 2, 0, 0), 1));
    EXPECT("*/10 2 * * *", LH, spring - 60, spring + 600,
           GAPFIRE(spring, zones_utc(2026, 10, 4, 2, 0, 0), 3), FIRE(spring + 600));
    /* 01:30-01:59 happens twice; +11 first */
    EXPECT("*/10 1 * * *", LH, zones_utc(2026, 4, 4, 14, 15, 0),
           zones_utc(2026, 4, 4, 16, 0, 0), FIRE(zones_utc(2026, 4, 4, 14, 20, 0)),
           FIRE(zones_utc(2026, 4, 4, 14, 30, 0)), FIRE(zones_utc(2026, 4, 4, 14, 40, 0)),
           FIRE(zones_utc(2026, 4, 4, 14, 50, 0)));
}

/* Every local time the expression matches in a window, from the same
 * iterator in UTC (where local time is the instant), mapped through
 * assay_tz_instants: the events the zone must give. */
static size_t reference(const assay_cron *c, const assay_tz *tz,
                        const assay_tz *utc_tz, int64_t after, int64_t until,
                        assay_cron_event *out, size_t max)
{
    assay_cron_event m;
    int64_t local = after - 2 * 86400;
    size_t n = 0;

    while (assay_cron_next(c, utc_tz, local, until + 2 * 86400, &m) == 1) {
        int64_t in[2];
        int k = assay_tz_instants(tz, m.at, in);

        local = m.at;
        if (in[0] <= after || in[0] > until)
            continue;
        if (!n || out[n - 1].at != in[0]) {
            cr_assert_lt(n, max);
            out[n++] = (assay_cron_event){.at = in[0]};
        }
        cr_assert(!n || out[n - 1].at <= in[0]);
        if (k)
            out[n - 1].fire = true;
        else if (!out[n - 1].gap_count++)
            out[n - 1].gap_local = m.at;
    }
    return n;
}

/* A walk over March-April and October-November 2026 in several zones:
 * strictly increasing, each fire at a local time that matches, and the
 * same events as the reference; starting anywhere gives the next one. */
Test(cron, enumeration_property)
{
    const char *exprs[] = {
        "*/7 * * * *",       "0 * * * *", "30 2 * * *",       "*/20 1-3 * * *",
        "15,45 0-3 * * SUN", "0 0 * * *", "*/30 */10 2 * * *"};
    const char *zones[] = {"UTC",
                           "Europe/Berlin",
                           "America/New_York",
                           "Australia/Lord_Howe",
                           "Asia/Kathmandu",
                           "America/St_Johns"};
    const int64_t windows[][2] = {
        {zones_utc(2026, 3, 1, 0, 0, 0), zones_utc(2026, 4, 15, 0, 0, 0)},
        {zones_utc(2026, 9, 25, 0, 0, 0), zones_utc(2026, 11, 10, 0, 0, 0)},
    };
    static assay_cron_event got[20000], want[20000];
    assay_tz *u0 = zones_load("UTC");
    uint64_t seed = 1;

    for (size_t e = 0; e < sizeof exprs / sizeof *exprs; e++) {
        assay_cron *c = parse(exprs[e]);
        for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
            assay_tz *tz = zones_load(zones[z]);
            for (int w = 0; w < 2; w++) {
                int64_t a = windows[w][0], u = windows[w][1];
                size_t n = events(c, tz, a, u, got, 20000);
                size_t nw = reference(c, tz, u0, a, u, want, 20000);

                cr_assert_eq(n, nw, "'%s' %s: %zu events, reference %zu",
                             exprs[e], zones[z], n, nw);
                for (size_t i = 0; i < n; i++) {
                    cr_assert(i == 0 || got[i].at > got[i - 1].at);
                    cr_assert(got[i].fire || got[i].gap_count);
                    cr_assert_eq(got[i].at, want[i].at, "'%s' %s #%zu",
                                 exprs[e], zones[z], i);
                    cr_assert_eq(got[i].fire, want[i].fire);
                    cr_assert_eq(got[i].gap_count, want[i].gap_count);
                    cr_assert_eq(got[i].gap_local, want[i].gap_local);
                    if (got[i].fire) { /* the clock then reads a match */
                        int64_t l = got[i].at + assay_tz_offset(tz, got[i].at);
                        assay_cron_event m;
                        cr_assert_eq(assay_cron_next(c, u0, l - 1, l, &m), 1,
                                     "'%s' %s: %lld does not match", exprs[e],
                                     zones[z], (long long)l);
                    }
                }
                /* from an arbitrary instant: the first event after it */
                for (int k = 0; k < 200 && n; k++) {
                    seed =
                        seed * 6364136223846793005ull + 1442695040888963407ull;
                    int64_t after =
                        a + (int64_t)((seed >> 20) % (uint64_t)(u - a));
                    assay_cron_event ev;
                    size_t i = 0;
                    while (i < n && got[i].at <= after)
                        i++;
                    int r = assay_cron_next(c, tz, after, u, &ev);
                    cr_assert_eq(r, i < n, "'%s' %s after %lld", exprs[e],
                                 zones[z], (long long)after);
                    if (r)
                        cr_assert_eq(ev.at, got[i].at, "'%s' %s after %lld",
                                     exprs[e], zones[z], (long long)after);
                }
            }
            assay_tz_destroy(&tz);
        }
        assay_cron_destroy(&c);
    }
    assay_tz_destroy(&u0);
}
