/* core/sched/cron.c - cron expressions as bit sets, and their iterator.
 *
 * Each field is a bit set of the values it matches. The iterator works in
 * local time: s_next_match advances field by field (month, day, hour,
 * minute, second) to the next matching local time, and assay_tz_instants
 * maps it to an instant. That map never goes backwards (a fold gives its
 * earlier instant, a gap the instant of the jump), so matches come in the
 * order of their instants, and those that land on one instant (the
 * skipped times of a gap and a real match right at the jump) come one
 * after the other and merge into one event. */
#include "sched/cron.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/errtext.h"

/* Instants beyond are never reported; local times stay within tz's range. */
#define CRON_LIMIT ((int64_t)1 << 55)
/* More than any UTC offset (+-167:59:59): how far past `until` a local
 * time may lie whose instant is not. */
#define CRON_SLACK (8 * 86400)

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_COUNT };

static const char *const s_months[] = {"jan", "feb", "mar", "apr", "may",
                                       "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec", NULL};
static const char *const s_days[] = {"sun", "mon", "tue", "wed",
                                     "thu", "fri", "sat", NULL};

static const struct {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is min + i */
} s_fields[F_COUNT] = {
    {"second", 0, 59, NULL},    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},      {"day of month", 1, 31, NULL},
    {"month", 1, 12, s_months}, {"day of week", 0, 7, s_days},
};

static const struct {
    const char *name, *expr;
} s_named[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

struct assay_cron {
    uint64_t bits[F_COUNT]; /* bit v: value v matches (weekdays 0-6) */
    bool has_seconds;
    bool dom_star, dow_star; /* the day field starts with '*' or '?' */
    bool never;              /* no date can match ("0 0 30 2 *") */
};

static bool s_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool s_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A number, or a field's three-letter name; *v = -1 if neither. */
static const char *s_value(int f, const char *p, const char *end, int *v)
{
    *v = -1;
    if (p < end && s_digit(*p)) {
        for (*v = 0; p < end && s_digit(*p); p++)
            *v = *v > 9999 ? *v : *v * 10 + (*p - '0'); /* stays too big */
        return p;
    }
    for (int i = 0; s_fields[f].names && s_fields[f].names[i]; i++)
        if (end - p >= 3 && !strncasecmp(p, s_fields[f].names[i], 3)) {
            *v = s_fields[f].min + i;
            return p + 3;
        }
    return p;
}

/* One list element [*?]|a|a-b, then /n; NULL or why it is refused. */
static const char *s_item(int f, const char *p, const char *end, uint64_t *bits,
                          char *why, size_t whylen)
{
    int min = s_fields[f].min, max = s_fields[f].max;
    int lo = min, hi = max, step = 1;
    bool range = true;

    if (*p == '*' || (*p == '?' && (f == F_DOM || f == F_DOW))) {
        p++;
    } else {
        p = s_value(f, p, end, &lo);
        if (lo < 0)
            return "not a number or name";
        hi = lo;
        range = false;
        if (p < end && *p == '-') {
            p = s_value(f, p + 1, end, &hi);
            if (hi < 0)
                return "range end not a number or name";
            range = true;
        }
    }
    if (p < end && *p == '/') {
        p = s_value(F_SEC, p + 1, end, &step); /* no names */
        if (step < 0)
            return "step not a number";
        if (step < 1 || step > max - min + 1) {
            snprintf(why, whylen, "step out of range 1-%d", max - min + 1);
            return why;
        }
        if (!range) /* a/n: from a to the end */
            hi = max;
    }
    if (p < end) {
        snprintf(why, whylen, "unexpected '%c'", *p);
        return why;
    }
    if (lo < min || lo > max || hi > max) {
        snprintf(why, whylen, "out of range %d-%d", min, max);
        return why;
    }
    if (lo > hi)
        return "reversed range";
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ull << v;
    return NULL;
}

static int s_field(assay_cron *c, int f, const char *p, const char *end,
                   int pos, const char *expr, char *err, size_t errlen)
{
    const char *field = p;
    char why[64];

    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *msg;
        const char *stop = comma ? comma : end;

        if (stop == p)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "cron '%s': field %d (%s) '%.*s': empty list "
                              "element",
                              expr, pos, s_fields[f].name, (int)(end - field),
                              field);
        if ((msg = s_item(f, p, stop, &c->bits[f], why, sizeof why)))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "cron '%s': field %d (%s) '%.*s': %s", expr, pos,
                              s_fields[f].name, (int)(stop - p), p, msg);
        if (!comma)
            break;
        p = comma + 1;
    }
    if (f == F_DOW && (c->bits[f] & 1ull << 7)) /* 7 is Sunday too */
        c->bits[f] = (c->bits[f] & 0x7f) | 1;
    if (f == F_DOM || f == F_DOW) {
        bool star = *field == '*' || *field == '?';
        *(f == F_DOM ? &c->dom_star : &c->dow_star) = star;
    }
    return 0;
}

/* Whether some month of the expression has one of its days; weekdays do
 * not matter: over the years each date falls on every weekday. */
static bool s_possible(const assay_cron *c)
{
    static const int mdays[13] = {0,  31, 29, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};

    if (!c->dom_star && !c->dow_star) /* either day field: every month */
        return true;
    for (int m = 1; m <= 12; m++)
        if ((c->bits[F_MON] & 1ull << m) &&
            (c->bits[F_DOM] & ((2ull << mdays[m]) - 1)))
            return true;
    return false;
}

static int s_parse(assay_cron *c, const char *text, const char *expr, char *err,
                   size_t errlen)
{
    const char *start[7], *end[7];
    int n = 0, rc;

    for (const char *p = text; *p;) {
        while (s_blank(*p))
            p++;
        if (!*p)
            break;
        if (n < 7)
            start[n] = p;
        while (*p && !s_blank(*p))
            p++;
        if (n < 7)
            end[n] = p;
        n++;
    }
    if (!n)
        return assay_errf(err, errlen, ASSAY_EINVAL, "cron '%s': empty", expr);
    if (n != 5 && n != 6)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "cron '%s': %d fields, expected 5 (minute hour "
                          "day-of-month month day-of-week) or 6 (second "
                          "first)",
                          expr, n);
    c->has_seconds = n == 6;
    if (!c->has_seconds)
        c->bits[F_SEC] = 1; /* second 0 */
    for (int i = 0; i < n; i++)
        if ((rc = s_field(c, i + (n == 5), start[i], end[i], i + 1, expr, err,
                          errlen)) < 0)
            return rc;
    c->never = !s_possible(c);
    return 0;
}

int assay_cron_parse(const char *expr, assay_cron **out, char *err,
                     size_t errlen)
{
    const char *text;
    size_t len;
    assay_cron *c;
    int rc;

    if (!expr || !out)
        return assay_errf(err, errlen, ASSAY_EINVAL, "cron: NULL");
    if ((len = strnlen(expr, ASSAY_CRON_MAX + 1)) > ASSAY_CRON_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "cron '%.40s...': longer than %d bytes", expr,
                          ASSAY_CRON_MAX);
    for (text = expr; s_blank(*text); text++)
        ;
    if (*text == '@') {
        size_t n = strlen(text);

        while (n && s_blank(text[n - 1]))
            n--;
        if (!strncmp(text, "@every", 6) && (n == 6 || s_blank(text[6])))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "cron '%s': @every is an interval, not a cron "
                              "expression (intervals are given separately)",
                              expr);
        for (size_t i = 0; i < sizeof s_named / sizeof *s_named; i++)
            if (strlen(s_named[i].name) == n &&
                !strncmp(text, s_named[i].name, n))
                text = s_named[i].expr;
        if (*text == '@')
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "cron '%s': '%.*s' is not one of @yearly "
                              "@annually @monthly @weekly @daily @midnight "
                              "@hourly",
                              expr, (int)n, text);
    }
    if (!(c = calloc(1, sizeof *c)))
        return assay_errf(err, errlen, ASSAY_ENOMEM, "cron '%s': %s", expr,
                          assay_strerror(ASSAY_ENOMEM));
    if ((rc = s_parse(c, text, expr, err, errlen)) < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void assay_cron_destroy(assay_cron **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

bool assay_cron_has_seconds(const assay_cron *self)
{
    return self->has_seconds;
}

/* The lowest value of `set` at or above `from`, or -1. */
static int s_from(uint64_t set, int from)
{
    uint64_t m = set & (~0ull << from);

    return m ? __builtin_ctzll(m) : -1;
}

static int64_t s_floordiv(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The first matching local time at or after `from`, if it is at most
 * `limit`. Days are stepped one by one, months to the next matching one;
 * s_possible bounds the search to the decades a rare date can take. */
static bool s_next_match(const assay_cron *c, int64_t from, int64_t limit,
                         int64_t *out)
{
    while (from <= limit) {
        int64_t days = s_floordiv(from, 86400), y;
        int sec = (int)(from - days * 86400), v;
        unsigned mo, d;

        assay_tz_civil_from_days(days, &y, &mo, &d);
        int64_t day0 = days * 86400, hour0 = day0 + sec / 3600 * 3600;
        if ((v = s_from(c->bits[F_MON], (int)mo)) != (int)mo) {
            if (v < 0) { /* the first month of next year */
                y++;
                v = s_from(c->bits[F_MON], 1);
            }
            from = assay_tz_days_from_civil(y, (unsigned)v, 1) * 86400;
            continue;
        }
        bool dom = c->bits[F_DOM] >> d & 1;
        bool dow = c->bits[F_DOW] >> (((days + 4) % 7 + 7) % 7) & 1;
        if (!c->dom_star && !c->dow_star ? !(dom || dow) : !(dom && dow)) {
            from = day0 + 86400;
            continue;
        }
        if ((v = s_from(c->bits[F_HOUR], sec / 3600)) != sec / 3600) {
            from = v < 0 ? day0 + 86400 : day0 + v * 3600;
            continue;
        }
        if ((v = s_from(c->bits[F_MIN], sec / 60 % 60)) != sec / 60 % 60) {
            from = v < 0 ? hour0 + 3600 : hour0 + v * 60;
            continue;
        }
        if ((v = s_from(c->bits[F_SEC], sec % 60)) != sec % 60) {
            from = from - sec % 60 + (v < 0 ? 60 : v);
            continue;
        }
        *out = from;
        return true;
    }
    return false;
}

/* In a fold (in[0], in[1]: one local time's two instants), the local time
 * at which the clock set back reaches where it stood before: the jump is
 * found by halving, as the offset changes once between the two. */
static int64_t s_fold_end(const assay_tz *tz, const int64_t in[2])
{
    int32_t before = assay_tz_offset(tz, in[0]);
    int64_t lo = in[0], hi = in[1];

    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (assay_tz_offset(tz, mid) == before)
            lo = mid;
        else
            hi = mid;
    }
    return hi + before;
}

int assay_cron_next(const assay_cron *self, const assay_tz *tz, int64_t after,
                    int64_t until, assay_cron_event *ev)
{
    assay_cron_event e = {0};
    int64_t in[2], local;
    bool found = false;

    if (!self || !tz || !ev || self->never)
        return 0;
    until = until > CRON_LIMIT ? CRON_LIMIT : until;
    after = after < -CRON_LIMIT ? -CRON_LIMIT : after;
    if (after >= until)
        return 0;
    /* Local times up to the clock's reading at `after` have their instants
     * at or before it. */
    local = after + assay_tz_offset(tz, after) + 1;
    while (s_next_match(self, local, until + CRON_SLACK, &local)) {
        int n = assay_tz_instants(tz, local, in);

        if (in[0] <= after) { /* the second time round a fold: not again */
            int64_t next = n == 2 ? s_fold_end(tz, in) : local + 1;
            local = next > local ? next : local + 1;
            continue;
        }
        if (in[0] > until || (found && in[0] != e.at))
            break;
        found = true;
        e.at = in[0];
        if (n) { /* a real match: any later one is at a later instant */
            e.fire = true;
            break;
        }
        /* Skipped by the jump to in[0], with every match up to the clock's
         * reading then. */
        int64_t end = in[0] + assay_tz_offset(tz, in[0]);
        e.gap_local = local;
        do
            e.gap_count++;
        while (s_next_match(self, local + 1, end - 1, &local));
        local = end > local ? end : local + 1;
    }
    if (found)
        *ev = e;
    return found;
}
