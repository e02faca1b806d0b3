/* core/sched/tz.c - TZif files and the POSIX TZ rule of their footer.
 *
 * A zone keeps the file's transitions only where the UTC offset changes
 * (a new abbreviation or DST flag alone moves no clock): two arrays for a
 * binary search. After the file's last transition the footer rule answers,
 * computed for the year at hand. Every instant where the offset may change
 * is found by s_next_change, so instants() can walk the few stretches of
 * constant offset that a local time may fall in (bounded by the zone's
 * least and greatest offsets) and see every gap and fold. */
#include "sched/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/errtext.h"

#define TZ_MAX_TIMES 10000
#define TZ_MAX_TYPES 256
#define TZ_MAX_OFF (168 * 3600 - 1) /* RFC 8536's widest, +-167:59:59 */
/* The offset is held constant beyond, far from any int64 overflow. */
#define TZ_LIMIT ((int64_t)1 << 56)
#define TZ_HDR 44

struct tz_date {
    char kind;    /* 'J' (1-365, no Feb 29), 'n' (0-365) or 'M' */
    int m, w, d;  /* Mm.w.d; d alone for J and n */
    int32_t time; /* local seconds after midnight, +-167 h */
};

struct tz_rule {
    int32_t std, dst; /* seconds east of UTC */
    bool has_dst;
    struct tz_date start, end; /* of DST, in local std and dst time */
};

struct assay_tz {
    char name[ASSAY_TZ_NAME_MAX + 1];
    size_t n;
    int64_t *at;       /* instants where the offset changes, ascending */
    int32_t *off;      /* the offset from at[i] on */
    int32_t off0;      /* before at[0]: the file's type 0 */
    bool has_rule;     /* the footer rule holds from rule_from on */
    int64_t rule_from; /* the file's last transition, or INT64_MIN */
    struct tz_rule rule;
    int32_t min_off, max_off;
};

int64_t assay_tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

void assay_tz_civil_from_days(int64_t days, int64_t *y, unsigned *m,
                              unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t s_year_of(int64_t t)
{
    int64_t y, days = t / 86400 - (t % 86400 < 0);
    unsigned m, d;

    assay_tz_civil_from_days(days, &y, &m, &d);
    return y;
}

/* The day (since the epoch) a rule date falls on in year y. */
static int64_t s_rule_day(const struct tz_date *dt, int64_t y)
{
    int64_t jan1 = assay_tz_days_from_civil(y, 1, 1);
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);

    if (dt->kind == 'J')
        return jan1 + dt->d - 1 + (leap && dt->d >= 60);
    if (dt->kind == 'n')
        return jan1 + dt->d;
    int64_t first = assay_tz_days_from_civil(y, (unsigned)dt->m, 1);
    int64_t next = dt->m == 12 ? assay_tz_days_from_civil(y + 1, 1, 1)
                               : assay_tz_days_from_civil(y, dt->m + 1u, 1);
    int wd = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + (dt->d - wd + 7) % 7 + (int64_t)(dt->w - 1) * 7;

    while (day >= next) /* w = 5: the last such weekday */
        day -= 7;
    return day;
}

/* The instant DST starts (or ends) in year y: a local time in the offset
 * in force until then. */
static int64_t s_dst(const struct tz_rule *r, int64_t y, bool start)
{
    const struct tz_date *dt = start ? &r->start : &r->end;

    return s_rule_day(dt, y) * 86400 + dt->time - (start ? r->std : r->dst);
}

/* The rule's year is that of local standard time, so its start and end
 * compare within one year even south of the equator (start > end). */
static int32_t s_rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std;
    int64_t y = s_year_of(t + r->std);
    int64_t s = s_dst(r, y, true), e = s_dst(r, y, false);
    bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);

    return dst ? r->dst : r->std;
}

/* The first i with at[i] > t (n if none). */
static size_t s_after(const assay_tz *self, int64_t t)
{
    size_t lo = 0, hi = self->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->at[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int32_t assay_tz_offset(const assay_tz *self, int64_t t)
{
    t = t < -TZ_LIMIT ? -TZ_LIMIT : t > TZ_LIMIT ? TZ_LIMIT : t;
    if (self->has_rule && t >= self->rule_from)
        return s_rule_offset(&self->rule, t);
    size_t i = s_after(self, t);
    return i ? self->off[i - 1] : self->off0;
}

/* The first instant after t where the offset may change (a superset of the
 * real changes: the walk in instants() needs every one); false if none. */
static bool s_next_change(const assay_tz *self, int64_t t, int64_t *out)
{
    int64_t best = INT64_MAX;

    if (t >= TZ_LIMIT)
        return false;
    if (t < -TZ_LIMIT)
        t = -TZ_LIMIT; /* the offset is constant below */
    if (!self->has_rule || t < self->rule_from) {
        size_t i = s_after(self, t);
        if (i < self->n)
            best = self->at[i];
        else if (self->has_rule)
            best = self->rule_from;
    } else if (self->rule.has_dst) {
        /* the DST changes of nearby years, and where the rule's year turns */
        const struct tz_rule *r = &self->rule;
        int64_t y0 = s_year_of(t);
        for (int64_t y = y0 - 1; y <= y0 + 2; y++) {
            int64_t c[3] = {s_dst(r, y, true), s_dst(r, y, false),
                            assay_tz_days_from_civil(y, 1, 1) * 86400 - r->std};
            for (int i = 0; i < 3; i++)
                if (c[i] > t && c[i] < best)
                    best = c[i];
        }
    }
    if (best > TZ_LIMIT)
        return false;
    *out = best;
    return true;
}

int assay_tz_instants(const assay_tz *self, int64_t local, int64_t out[2])
{
    int n = 0;
    bool gap = false;

    if (local < -2 * TZ_LIMIT || local > 2 * TZ_LIMIT) {
        /* far out the offset is constant; the instant may not exist */
        if (__builtin_sub_overflow(local, assay_tz_offset(self, local),
                                   &out[0])) {
            out[0] = local < 0 ? INT64_MIN : INT64_MAX;
            return 0;
        }
        return 1;
    }
    int64_t t = local - self->max_off - 1, end = local - self->min_off;
    int32_t o = assay_tz_offset(self, t);
    out[0] = local - o;
    for (;;) {
        int64_t T = INT64_MAX, s = local - o;
        bool more = s_next_change(self, t, &T);

        if (s >= t && s < T && assay_tz_offset(self, s) == o) {
            if (n < 2)
                out[n] = s;
            n++;
        }
        if (!more || T > end)
            break;
        int32_t a = assay_tz_offset(self, T);
        if (!n && !gap && T + o <= local && local < T + a) {
            gap = true;
            out[0] = T;
        }
        t = T;
        o = a;
    }
    return n > 2 ? 2 : n;
}

/* ---- POSIX TZ strings (the footer) ---- */

static bool s_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool s_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Up to `maxdig` digits, at most `max`. */
static bool s_num(const char **p, int maxdig, int max, int *out)
{
    int v = 0, k = 0;

    for (; s_digit(**p) && k < maxdig; (*p)++, k++)
        v = v * 10 + (**p - '0');
    if (!k || v > max)
        return false;
    *out = v;
    return true;
}

/* "EST" (3+ letters) or "<+0530>" (3+ of alnum, '+', '-'). */
static bool s_abbr(const char **p)
{
    const char *s = *p, *b;

    if (*s == '<') {
        for (b = ++s; s_alpha(*s) || s_digit(*s) || *s == '+' || *s == '-';)
            s++;
        if (*s != '>' || s - b < 3)
            return false;
        *p = s + 1;
        return true;
    }
    for (b = s; s_alpha(*s);)
        s++;
    *p = s;
    return s - b >= 3;
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536's extension). */
static bool s_hms(const char **p, int32_t *out)
{
    int sign = 1, v[3] = {0, 0, 0};

    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    if (!s_num(p, 3, 167, &v[0]))
        return false;
    for (int i = 1; i < 3 && **p == ':'; i++) {
        (*p)++;
        if (!s_num(p, 2, 59, &v[i]))
            return false;
    }
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return true;
}

static bool s_date(const char **p, struct tz_date *dt)
{
    dt->time = 7200; /* 02:00 unless given */
    if (**p == 'M') {
        dt->kind = *(*p)++;
        if (!s_num(p, 2, 12, &dt->m) || dt->m < 1 || *(*p)++ != '.' ||
            !s_num(p, 1, 5, &dt->w) || dt->w < 1 || *(*p)++ != '.' ||
            !s_num(p, 1, 6, &dt->d))
            return false;
    } else {
        dt->kind = **p == 'J' ? *(*p)++ : 'n';
        if (!s_num(p, 3, 365, &dt->d) || dt->d < (dt->kind == 'J'))
            return false;
    }
    if (**p == '/') {
        (*p)++;
        return s_hms(p, &dt->time);
    }
    return true;
}

static bool s_posix(const char *s, struct tz_rule *r)
{
    int32_t v;

    *r = (struct tz_rule){0};
    if (!s_abbr(&s) || !s_hms(&s, &v))
        return false;
    r->std = -v; /* POSIX counts west of UTC */
    if (!*s)
        return true;
    if (!s_abbr(&s))
        return false;
    r->has_dst = true;
    r->dst = r->std + 3600;
    if (*s && *s != ',') {
        if (!s_hms(&s, &v))
            return false;
        r->dst = -v;
    }
    if (!*s) /* tzcode's default rule, the US one */
        s = ",M3.2.0,M11.1.0";
    if (*s++ != ',' || !s_date(&s, &r->start) || *s++ != ',' ||
        !s_date(&s, &r->end))
        return false;
    return *s == '\0' && r->dst >= -TZ_MAX_OFF && r->dst <= TZ_MAX_OFF;
}

/* ---- TZif ---- */

static uint32_t s_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

struct tzif_hdr {
    char version;
    uint32_t isut, isstd, leap, times, types, chars;
    uint64_t len; /* of the data block after the header */
};

static const char *s_header(const uint8_t *p, size_t avail, size_t tsize,
                            struct tzif_hdr *h)
{
    if (avail < TZ_HDR)
        return "truncated TZif header";
    if (memcmp(p, "TZif", 4) != 0)
        return "not a TZif file (bad magic)";
    h->version = (char)p[4];
    h->isut = s_be32(p + 20);
    h->isstd = s_be32(p + 24);
    h->leap = s_be32(p + 28);
    h->times = s_be32(p + 32);
    h->types = s_be32(p + 36);
    h->chars = s_be32(p + 40);
    /* 32-bit counts times at most 12: no overflow in 64 bits */
    h->len = (uint64_t)h->times * (tsize + 1) + (uint64_t)h->types * 6 +
             h->chars + (uint64_t)h->leap * (tsize + 4) + h->isstd + h->isut;
    if (h->len > avail - TZ_HDR)
        return "counts larger than the data (truncated)";
    if (h->times > TZ_MAX_TIMES)
        return "more than 10000 transitions";
    if (h->types < 1 || h->types > TZ_MAX_TYPES)
        return "local time types not 1-256";
    if ((h->isut && h->isut != h->types) || (h->isstd && h->isstd != h->types))
        return "indicator counts differ from the types'";
    return NULL;
}

/* Widens the least and greatest offsets the zone can give. */
static void s_bound(assay_tz *z, int32_t off)
{
    z->min_off = off < z->min_off ? off : z->min_off;
    z->max_off = off > z->max_off ? off : z->max_off;
}

static const char *s_data(assay_tz *z, const uint8_t *p,
                          const struct tzif_hdr *h, size_t tsize)
{
    const uint8_t *idx = p + (size_t)h->times * tsize;
    const uint8_t *types = idx + h->times;
    int64_t prev = INT64_MIN;

    for (uint32_t i = 0; i < h->types; i++) {
        int32_t off = (int32_t)s_be32(types + 6 * i);
        if (off < -TZ_MAX_OFF || off > TZ_MAX_OFF)
            return "UTC offset beyond +-167:59:59";
    }
    z->off0 = (int32_t)s_be32(types);
    z->min_off = z->max_off = z->off0;
    if (h->times && !(z->at = calloc(h->times, sizeof *z->at)))
        return "out of memory";
    if (h->times && !(z->off = calloc(h->times, sizeof *z->off)))
        return "out of memory";
    for (uint32_t i = 0; i < h->times; i++) {
        const uint8_t *q = p + (size_t)i * tsize;
        int64_t t = tsize == 8
                        ? (int64_t)((uint64_t)s_be32(q) << 32 | s_be32(q + 4))
                        : (int32_t)s_be32(q);
        if (t <= prev && i)
            return "transitions out of order";
        if (idx[i] >= h->types)
            return "transition to a type that does not exist";
        int32_t off = (int32_t)s_be32(types + 6 * idx[i]);
        prev = z->rule_from = t;
        if (off == (z->n ? z->off[z->n - 1] : z->off0))
            continue;
        z->at[z->n] = t;
        z->off[z->n++] = off;
        s_bound(z, off);
    }
    return NULL;
}

static const char *s_footer(assay_tz *z, const uint8_t *p, size_t avail)
{
    char tz[128];
    const uint8_t *nl;

    if (!avail) /* RFC 8536 requires one; tolerate its absence */
        return NULL;
    if (p[0] != '\n' || !(nl = memchr(p + 1, '\n', avail - 1)))
        return "footer not enclosed in newlines";
    size_t n = (size_t)(nl - p - 1);
    if (n >= sizeof tz)
        return "footer TZ string too long";
    if (!n)
        return NULL;
    memcpy(tz, p + 1, n);
    tz[n] = '\0';
    if (!s_posix(tz, &z->rule))
        return "bad footer TZ string";
    z->has_rule = true;
    s_bound(z, z->rule.std);
    s_bound(z, z->rule.has_dst ? z->rule.dst : z->rule.std);
    return NULL;
}

static const char *s_parse(assay_tz *z, const uint8_t *p, size_t len)
{
    struct tzif_hdr h;
    const char *why = s_header(p, len, 4, &h);

    if (why || h.version < '2') /* version 1: 32-bit data, no footer */
        return why ? why : s_data(z, p + TZ_HDR, &h, 4);
    p += TZ_HDR + h.len;
    len -= TZ_HDR + h.len;
    if ((why = s_header(p, len, 8, &h)) || (why = s_data(z, p + TZ_HDR, &h, 8)))
        return why;
    return s_footer(z, p + TZ_HDR + h.len, len - TZ_HDR - h.len);
}

static assay_tz *s_new(const char *name)
{
    assay_tz *z = calloc(1, sizeof *z);

    if (z) {
        strlcpy(z->name, name, sizeof z->name);
        z->rule_from = INT64_MIN;
    }
    return z;
}

/* A zone from TZif bytes; `path`, when read from a file, is named in
 * refusals beside the zone. */
static int s_build(const char *name, const char *path, const void *data,
                   size_t len, assay_tz **out, char *err, size_t errlen)
{
    assay_tz *z = s_new(name);
    const char *why;

    if (!z)
        return assay_errf(err, errlen, ASSAY_ENOMEM, "time zone '%s': %s", name,
                          assay_strerror(ASSAY_ENOMEM));
    if ((why = s_parse(z, data, len))) {
        assay_tz_destroy(&z);
        return assay_errf(err, errlen, ASSAY_EPARSE, "time zone '%s': %s%s%s",
                          name, path ? path : "", path ? ": " : "", why);
    }
    *out = z;
    return 0;
}

int assay_tz_parse(const char *name, const void *data, size_t len,
                   assay_tz **out, char *err, size_t errlen)
{
    if (!out || (!data && len))
        return assay_errf(err, errlen, ASSAY_EINVAL, "time zone: NULL");
    return s_build(name ? name : "", NULL, data, len, out, err, errlen);
}

static bool s_name_ok(const char *name)
{
    if (!*name || *name == '/' || strstr(name, ".."))
        return false;
    for (const char *c = name; *c; c++)
        if (!s_alpha(*c) && !s_digit(*c) && !strchr("/_+-", *c))
            return false;
    return true;
}

/* The whole regular file, at most ASSAY_TZ_FILE_MAX bytes (*big if
 * more); NULL with errno set when it cannot be read. */
static uint8_t *s_slurp(int fd, size_t *len, bool *big)
{
    struct stat st;
    uint8_t *buf;
    ssize_t r;

    if (fstat(fd, &st) != 0)
        return NULL;
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return NULL;
    }
    if ((*big = st.st_size > ASSAY_TZ_FILE_MAX) ||
        !(buf = malloc((size_t)st.st_size + 1)))
        return NULL;
    /* a regular file: read() returns it whole, short only at its end */
    while ((r = read(fd, buf, (size_t)st.st_size + 1)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        free(buf);
        return NULL;
    }
    *big = r > st.st_size; /* it grew */
    *len = (size_t)r;
    return buf;
}

int assay_tz_load(const char *dir, const char *name, assay_tz **out, char *err,
                  size_t errlen)
{
    char path[4096];
    size_t len = 0;
    bool big = false;
    uint8_t *buf;
    int fd, rc;

    if (!name || !out)
        return assay_errf(err, errlen, ASSAY_EINVAL, "time zone: NULL");
    if (strnlen(name, ASSAY_TZ_NAME_MAX + 1) > ASSAY_TZ_NAME_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "time zone '%.64s...': longer than %d bytes", name,
                          ASSAY_TZ_NAME_MAX);
    if (!s_name_ok(name))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "time zone '%s': not a zone name (letters, digits, "
                          "'/_+-', not starting with '/' nor containing '..')",
                          name);
    if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC")) {
        if (!(*out = s_new(name)))
            return assay_errf(err, errlen, ASSAY_ENOMEM, "time zone '%s': %s",
                              name, assay_strerror(ASSAY_ENOMEM));
        return 0;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir ? dir : ASSAY_TZ_DIR,
                         name) >= sizeof path)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "time zone '%s': directory path too long", name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return assay_errf(err, errlen, ASSAY_ENOENT,
                              "unknown time zone '%s': no %s", name, path);
        return assay_errf(err, errlen, ASSAY_EIO, "time zone '%s': %s: %s",
                          name, path, strerror(errno));
    }
    buf = s_slurp(fd, &len, &big);
    rc = errno;
    close(fd);
    if (big) {
        free(buf);
        return assay_errf(err, errlen, ASSAY_EPARSE,
                          "time zone '%s': %s: over 512 KiB", name, path);
    }
    if (!buf && rc == EISDIR)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "unknown time zone '%s': %s is a directory", name,
                          path);
    if (!buf)
        return assay_errf(err, errlen, ASSAY_EIO, "time zone '%s': %s: %s",
                          name, path, strerror(rc));
    rc = s_build(name, path, buf, len, out, err, errlen);
    free(buf);
    return rc;
}

void assay_tz_destroy(assay_tz **self_p)
{
    if (self_p && *self_p) {
        free((*self_p)->at);
        free((*self_p)->off);
        free(*self_p);
        *self_p = NULL;
    }
}

const char *assay_tz_name(const assay_tz *self)
{
    return self->name;
}
