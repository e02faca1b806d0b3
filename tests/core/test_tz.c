/* tests/core/test_tz.c - time zones from the system's TZif files (Debian's
 * tzdata) and from hand-made ones: offsets, gaps and folds, the footer
 * rule beyond the file's table, and refusals. Every instant is a constant. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <assay/error.h>

#include "sched/tz.h"
#include "zones.h"

/* The bytes of a zoneinfo file (malloc'd). */
static uint8_t *slurp(const char *name, size_t *len)
{
    char path[256];
    FILE *f;
    uint8_t *buf = malloc(ASSAY_TZ_FILE_MAX);

    snprintf(path, sizeof path, "%s/%s", ASSAY_TZ_DIR, name);
    cr_assert_not_null(f = fopen(path, "rb"), "%s", path);
    *len = fread(buf, 1, ASSAY_TZ_FILE_MAX, f);
    fclose(f);
    return buf;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A slim version 2 file: no transitions, one type (utoff), and the footer
 * TZ string: everything comes from the footer rule. */
static size_t slim(uint8_t *buf, int32_t utoff, const char *footer)
{
    size_t n = 0;

    for (int block = 0; block < 2; block++) {
        memset(buf + n, 0, 44);
        memcpy(buf + n, "TZif2", 5);
        put32(buf + n + 36, 1); /* typecnt */
        put32(buf + n + 40, 4); /* charcnt */
        n += 44;
        put32(buf + n, (uint32_t)utoff);
        buf[n + 4] = buf[n + 5] = 0;
        memcpy(buf + n + 6, "XXX", 4);
        n += 10;
    }
    n += (size_t)sprintf((char *)buf + n, "\n%s\n", footer);
    return n;
}

static void expect_instants(const assay_tz *tz, int64_t local, int n, int64_t a,
                            int64_t b)
{
    int64_t out[2] = {0, 0};

    cr_expect_eq(assay_tz_instants(tz, local, out), n, "%s local %lld",
                 assay_tz_name(tz), (long long)local);
    cr_expect_eq(out[0], a, "%s local %lld: out[0] %lld, want %lld",
                 assay_tz_name(tz), (long long)local, (long long)out[0],
                 (long long)a);
    if (n == 2)
        cr_expect_eq(out[1], b, "%s local %lld: out[1] %lld, want %lld",
                     assay_tz_name(tz), (long long)local, (long long)out[1],
                     (long long)b);
}

/* The offset changes from `before` to `after` exactly at instant t. */
static void expect_change(const assay_tz *tz, int64_t t, int32_t before,
                          int32_t after)
{
    cr_expect_eq(assay_tz_offset(tz, t - 1), before, "%s at %lld - 1: %d",
                 assay_tz_name(tz), (long long)t, assay_tz_offset(tz, t - 1));
    cr_expect_eq(assay_tz_offset(tz, t), after, "%s at %lld: %d",
                 assay_tz_name(tz), (long long)t, assay_tz_offset(tz, t));
}

Test(tz, utc)
{
    const char *names[] = {"UTC", "Etc/UTC"};

    for (int i = 0; i < 2; i++) {
        assay_tz *tz = zones_load(names[i]);
        for (int64_t t = -4000000000; t < 8000000000; t += 999999937) {
            cr_expect_eq(assay_tz_offset(tz, t), 0);
            expect_instants(tz, t, 1, t, 0);
        }
        assay_tz_destroy(&tz);
        cr_expect_null(tz);
    }
    assay_tz_destroy(NULL);

    /* Etc/GMT+5 is five hours west (POSIX's sign) and read from its file */
    assay_tz *tz = zones_load("Etc/GMT+5");
    cr_expect_eq(assay_tz_offset(tz, zones_utc(2026, 7, 1, 0, 0, 0)), -5 * 3600);
    assay_tz_destroy(&tz);
}

Test(tz, berlin_2026)
{
    assay_tz *tz = zones_load("Europe/Berlin");

    expect_change(tz, zones_utc(2026, 3, 29, 1, 0, 0), 3600, 7200);
    expect_change(tz, zones_utc(2026, 10, 25, 1, 0, 0), 7200, 3600);
    cr_expect_eq(assay_tz_offset(tz, zones_utc(2026, 1, 15, 12, 0, 0)), 3600);
    cr_expect_eq(assay_tz_offset(tz, zones_utc(2026, 7, 15, 12, 0, 0)), 7200);

    /* gap: 02:00-02:59:59 does not exist; 03:00 is the jump itself */
    int64_t jump = zones_utc(2026, 3, 29, 1, 0, 0);
    expect_instants(tz, zones_utc(2026, 3, 29, 2, 30, 0), 0, jump, 0);
    expect_instants(tz, zones_utc(2026, 3, 29, 2, 0, 0), 0, jump, 0);
    expect_instants(tz, zones_utc(2026, 3, 29, 2, 59, 59), 0, jump, 0);
    expect_instants(tz, zones_utc(2026, 3, 29, 1, 59, 59), 1, jump - 1, 0);
    expect_instants(tz, zones_utc(2026, 3, 29, 3, 0, 0), 1, jump, 0);
    /* fold: 02:00-02:59:59 happens twice, CEST first */
    expect_instants(tz, zones_utc(2026, 10, 25, 2, 30, 0), 2,
                    zones_utc(2026, 10, 25, 0, 30, 0), zones_utc(2026, 10, 25, 1, 30, 0));
    expect_instants(tz, zones_utc(2026, 10, 25, 2, 0, 0), 2,
                    zones_utc(2026, 10, 25, 0, 0, 0), zones_utc(2026, 10, 25, 1, 0, 0));
    expect_instants(tz, zones_utc(2026, 10, 25, 1, 59, 59), 1,
                    zones_utc(2026, 10, 24, 23, 59, 59), 0);
    expect_instants(tz, zones_utc(2026, 10, 25, 3, 0, 0), 1,
                    zones_utc(2026, 10, 25, 2, 0, 0), 0);
    /* normal */
    expect_instants(tz, zones_utc(2026, 6, 1, 12, 0, 0), 1, zones_utc(2026, 6, 1, 10, 0, 0),
                    0);
    assay_tz_destroy(&tz);
}

Test(tz, new_york_2026)
{
    assay_tz *tz = zones_load("America/New_York");

    expect_change(tz, zones_utc(2026, 3, 8, 7, 0, 0), -5 * 3600, -4 * 3600);
    expect_change(tz, zones_utc(2026, 11, 1, 6, 0, 0), -4 * 3600, -5 * 3600);
    expect_instants(tz, zones_utc(2026, 3, 8, 2, 30, 0), 0, zones_utc(2026, 3, 8, 7, 0, 0),
                    0);
    expect_instants(tz, zones_utc(2026, 11, 1, 1, 30, 0), 2,
                    zones_utc(2026, 11, 1, 5, 30, 0), zones_utc(2026, 11, 1, 6, 30, 0));
    expect_instants(tz, zones_utc(2026, 11, 1, 2, 0, 0), 1, zones_utc(2026, 11, 1, 7, 0, 0),
                    0);
    expect_instants(tz, zones_utc(2026, 12, 24, 18, 0, 0), 1,
                    zones_utc(2026, 12, 24, 23, 0, 0), 0);
    assay_tz_destroy(&tz);
}

/* Debian's files list transitions up to 2037; later years come from the
 * footer's POSIX TZ string. */
Test(tz, footer_rule_2045)
{
    assay_tz *tz = zones_load("Europe/Berlin");

    expect_change(tz, zones_utc(2045, 3, 26, 1, 0, 0), 3600, 7200);
    expect_change(tz, zones_utc(2045, 10, 29, 1, 0, 0), 7200, 3600);
    expect_instants(tz, zones_utc(2045, 3, 26, 2, 15, 0), 0,
                    zones_utc(2045, 3, 26, 1, 0, 0), 0);
    expect_instants(tz, zones_utc(2045, 10, 29, 2, 15, 0), 2,
                    zones_utc(2045, 10, 29, 0, 15, 0), zones_utc(2045, 10, 29, 1, 15, 0));
    /* far out the rule still holds: 2400-03-26 is the last Sunday */
    expect_change(tz, zones_utc(2400, 3, 26, 1, 0, 0), 3600, 7200);
    assay_tz_destroy(&tz);

    tz = zones_load("America/New_York");
    expect_change(tz, zones_utc(2045, 3, 12, 7, 0, 0), -5 * 3600, -4 * 3600);
    expect_change(tz, zones_utc(2045, 11, 5, 6, 0, 0), -4 * 3600, -5 * 3600);
    expect_instants(tz, zones_utc(2045, 11, 5, 1, 0, 0), 2, zones_utc(2045, 11, 5, 5, 0, 0),
                    zones_utc(2045, 11, 5, 6, 0, 0));
    assay_tz_destroy(&tz);
}

/* Lord Howe Island: +10:30 in winter, +11 in summer, clocks move by half
 * an hour (footer "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"). */
Test(tz, lord_howe_half_hour)
{
    assay_tz *tz = zones_load("Australia/Lord_Howe");

    expect_change(tz, zones_utc(2026, 4, 4, 15, 0, 0), 39600, 37800);
    expect_change(tz, zones_utc(2026, 10, 3, 15, 30, 0), 37800, 39600);
    /* 02:00-02:29:59 on 4 October is skipped, 01:30-01:59:59 on 5 April
     * happens twice */
    expect_instants(tz, zones_utc(2026, 10, 4, 2, 15, 0), 0,
                    zones_utc(2026, 10, 3, 15, 30, 0), 0);
    expect_instants(tz, zones_utc(2026, 10, 4, 2, 30, 0), 1,
                    zones_utc(2026, 10, 3, 15, 30, 0), 0);
    expect_instants(tz, zones_utc(2026, 4, 5, 1, 45, 0), 2,
                    zones_utc(2026, 4, 4, 14, 45, 0), zones_utc(2026, 4, 4, 15, 15, 0));
    expect_instants(tz, zones_utc(2026, 4, 5, 2, 0, 0), 1, zones_utc(2026, 4, 4, 15, 30, 0),
                    0);
    /* and from the footer */
    expect_change(tz, zones_utc(2045, 4, 1, 15, 0, 0), 39600, 37800);
    expect_change(tz, zones_utc(2045, 9, 30, 15, 30, 0), 37800, 39600);
    assay_tz_destroy(&tz);
}

/* Offsets that are not whole hours, without DST. */
Test(tz, odd_offsets)
{
    assay_tz *tz = zones_load("Asia/Kathmandu");

    cr_expect_eq(assay_tz_offset(tz, zones_utc(2026, 1, 1, 0, 0, 0)),
                 5 * 3600 + 2700);
    expect_instants(tz, zones_utc(2026, 1, 1, 5, 45, 0), 1, zones_utc(2026, 1, 1, 0, 0, 0),
                    0);
    assay_tz_destroy(&tz);
}

/* A slim file (no transitions) answers from its footer alone, as the fat
 * one does; J and n day forms and explicit times. */
Test(tz, slim_footer)
{
    uint8_t buf[512];
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_tz *tz = NULL, *fat = zones_load("Europe/Berlin");
    size_t n = slim(buf, 3600, "CET-1CEST,M3.5.0,M10.5.0/3");

    cr_assert_eq(assay_tz_parse("Slim/Berlin", buf, n, &tz, err, sizeof err), 0,
                 "%s", err);
    cr_expect_str_eq(assay_tz_name(tz), "Slim/Berlin");
    for (int64_t t = zones_utc(1997, 1, 1, 0, 0, 0); t < zones_utc(2060, 1, 1, 0, 0, 0);
         t += 86400 * 7 + 3599)
        cr_expect_eq(assay_tz_offset(tz, t), assay_tz_offset(fat, t), "%lld",
                     (long long)t);
    expect_change(tz, zones_utc(2026, 3, 29, 1, 0, 0), 3600, 7200);
    assay_tz_destroy(&tz);
    assay_tz_destroy(&fat);

    /* J60 is 1 March even in a leap year; n300 counts 29 February: in 2028
     * it is 27 October. Local times: start 02:00 standard, end 03:00 DST. */
    n = slim(buf, 3600, "<+01>-1<+02>,J60,300/3");
    cr_assert_eq(assay_tz_parse("Slim/Jn", buf, n, &tz, err, sizeof err), 0,
                 "%s", err);
    expect_change(tz, zones_utc(2028, 3, 1, 1, 0, 0), 3600, 7200);
    expect_change(tz, zones_utc(2028, 10, 27, 1, 0, 0), 7200, 3600);
    expect_change(tz, zones_utc(2027, 10, 28, 1, 0, 0), 7200, 3600);
    assay_tz_destroy(&tz);

    /* no DST at all, and a negative time of day (-1 h, i.e. 23:00 before) */
    n = slim(buf, 19800, "IST-5:30");
    cr_assert_eq(assay_tz_parse("Slim/IST", buf, n, &tz, err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(assay_tz_offset(tz, zones_utc(2030, 6, 1, 0, 0, 0)), 19800);
    assay_tz_destroy(&tz);
    n = slim(buf, -3 * 3600, "<-03>3<-02>,M3.2.0/-1,M11.1.0/25");
    cr_assert_eq(assay_tz_parse("Slim/Neg", buf, n, &tz, err, sizeof err), 0,
                 "%s", err);
    /* 2030-03-10 (second Sunday) at -1:00 local = 2030-03-09 23:00 -03 */
    expect_change(tz, zones_utc(2030, 3, 10, 2, 0, 0), -3 * 3600, -2 * 3600);
    /* 2030-11-03 (first Sunday) at 25:00 -02 = 11-04 01:00 -02 */
    expect_change(tz, zones_utc(2030, 11, 4, 3, 0, 0), -2 * 3600, -3 * 3600);
    assay_tz_destroy(&tz);
}

/* A version 1 file (32-bit data, no footer): Berlin's first block alone. */
Test(tz, version1)
{
    size_t len;
    uint8_t *buf = slurp("Europe/Berlin", &len);
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_tz *tz = NULL;

    buf[4] = 0;
    cr_assert_eq(assay_tz_parse("V1/Berlin", buf, len, &tz, err, sizeof err), 0,
                 "%s", err);
    expect_change(tz, zones_utc(2026, 3, 29, 1, 0, 0), 3600, 7200);
    expect_change(tz, zones_utc(2037, 10, 25, 1, 0, 0), 7200, 3600);
    assay_tz_destroy(&tz);
    free(buf);
}

static void expect_refused(const char *dir, const char *name, int code,
                           const char *fragment)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_tz *tz = NULL;

    cr_expect_eq(assay_tz_load(dir, name, &tz, err, sizeof err), code,
                 "'%s': %s", name, err);
    cr_expect_null(tz);
    cr_expect(strstr(err, fragment), "'%s': '%s' lacks '%s'", name, err,
              fragment);
}

Test(tz, refusals)
{
    char longname[80];

    memset(longname, 'A', 65);
    longname[65] = '\0';
    expect_refused(NULL, "Mars/Base", ASSAY_ENOENT,
                   "unknown time zone 'Mars/Base': no "
                   "/usr/share/zoneinfo/Mars/Base");
    expect_refused(NULL, "../etc/passwd", ASSAY_EINVAL,
                   "time zone '../etc/passwd': not a zone name");
    expect_refused(NULL, "/etc/passwd", ASSAY_EINVAL,
                   "time zone '/etc/passwd': not a zone name");
    expect_refused(NULL, "Europe/../../etc/passwd", ASSAY_EINVAL,
                   "'Europe/../../etc/passwd'");
    expect_refused(NULL, "", ASSAY_EINVAL, "time zone '': not a zone name");
    expect_refused(NULL, "Europe/Ber lin", ASSAY_EINVAL, "'Europe/Ber lin'");
    expect_refused(NULL, "Europe/Berlin\n", ASSAY_EINVAL, "not a zone name");
    expect_refused(NULL, longname, ASSAY_EINVAL, "longer than 64 bytes");
    expect_refused(NULL, "Europe", ASSAY_ENOENT,
                   "unknown time zone 'Europe': /usr/share/zoneinfo/Europe is "
                   "a directory");
    expect_refused(NULL, "Europe/Berlin/x", ASSAY_ENOENT,
                   "unknown time zone 'Europe/Berlin/x'");
    /* 64 bytes is allowed (and unknown) */
    longname[64] = '\0';
    expect_refused(NULL, longname, ASSAY_ENOENT, "unknown time zone");
}

/* Files that are not zones, in a directory of the test's own. */
Test(tz, bad_files)
{
    char dir[] = "/tmp/test_tz.XXXXXX", path[64];
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/Big", dir);
    cr_assert_not_null(f = fopen(path, "wb"));
    for (int i = 0; i < ASSAY_TZ_FILE_MAX + 1; i++)
        fputc(i == 0 ? 'T' : 0, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/Text", dir);
    cr_assert_not_null(f = fopen(path, "wb"));
    fputs("this is not a zone\n", f);
    fclose(f);

    expect_refused(dir, "Big", ASSAY_EPARSE, "time zone 'Big': ");
    expect_refused(dir, "Big", ASSAY_EPARSE, "/Big: over 512 KiB");
    expect_refused(dir, "Text", ASSAY_EPARSE, "/Text: truncated TZif header");
    expect_refused(dir, "Berlin", ASSAY_ENOENT, "unknown time zone 'Berlin'");

    snprintf(path, sizeof path, "%s/Big", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/Text", dir);
    unlink(path);
    rmdir(dir);
}

static void expect_corrupt(const uint8_t *buf, size_t len, const char *fragment)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_tz *tz = NULL;

    cr_expect_eq(assay_tz_parse("Test/Zone", buf, len, &tz, err, sizeof err),
                 ASSAY_EPARSE, "'%s': %s", fragment, err);
    cr_expect_null(tz);
    cr_expect(strstr(err, "time zone 'Test/Zone': "), "%s", err);
    cr_expect(strstr(err, fragment), "'%s' lacks '%s'", err, fragment);
}

Test(tz, corrupt)
{
    size_t len;
    uint8_t *berlin = slurp("Europe/Berlin", &len), *buf = malloc(len + 64);
    uint8_t slimbuf[512];
    size_t n;

    expect_corrupt(berlin, 20, "truncated TZif header");
    expect_corrupt(berlin, 0, "truncated TZif header");
    expect_corrupt(berlin, 100, "counts larger than the data");
    expect_corrupt(berlin, len - 40, "counts larger than the data");
    memcpy(buf, berlin, len);
    buf[0] = 'X';
    expect_corrupt(buf, len, "bad magic");

    /* counts near 2^32: no overflow, no allocation, just refused */
    memcpy(buf, berlin, len);
    put32(buf + 32, 0xffffffffu);
    expect_corrupt(buf, len, "counts larger than the data");
    memcpy(buf, berlin, len);
    put32(buf + 36, 0);
    expect_corrupt(buf, len, "local time types");

    /* the footer missing its newline, or not a TZ string */
    memcpy(buf, berlin, len);
    expect_corrupt(buf, len - 1, "footer");
    n = slim(slimbuf, 3600, "CET-1CEST,M3.5.0,M13.5.0/3");
    expect_corrupt(slimbuf, n, "bad footer TZ string");
    n = slim(slimbuf, 3600, "C-1");
    expect_corrupt(slimbuf, n, "bad footer TZ string");
    n = slim(slimbuf, 3600, "<+0530-5:30");
    expect_corrupt(slimbuf, n, "bad footer TZ string");
    n = slim(slimbuf, 3600, "CET-1CEST,M3.5.0/168,M10.5.0");
    expect_corrupt(slimbuf, n, "bad footer TZ string");
    n = slim(slimbuf, 3600, "CET-1CEST,M3.5.0");
    expect_corrupt(slimbuf, n, "bad footer TZ string");
    n = slim(slimbuf, 3600, "CET-1CEST-1:00:00x");
    expect_corrupt(slimbuf, n, "bad footer TZ string");
    n = slim(slimbuf, 200 * 3600, "CET-1");
    expect_corrupt(slimbuf, n, "UTC offset beyond");

    free(buf);
    free(berlin);
}
