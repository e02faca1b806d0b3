/* core/sched/def.c - a schedule's definition: checked, normalized, and
 * its events (see def.h). */
#include "sched/def.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include <assay/error.h>

#include "base/errtext.h"
#include "base/ident.h"

/* Bounds of what a definition may say. */
#define INTERVAL_MAX_S (366LL * 86400)
#define JITTER_MAX_S 3600
#define CATCHUP_MAX_S (30LL * 86400)
#define KEEP_FOR_MAX_S 3153600000LL /* a century, as retain_seconds */
#define MAX_RUNS_MAX 1000000000LL
/* "Never fires" looks this far ahead; "too often" at this many events. */
#define HORIZON_MS (10LL * 366 * 86400 * 1000)
#define SAMPLE_EVENTS 1000
/* Times a definition may name: 1970 to 9999. */
#define TIME_MAX_MS 253402300799999LL

static const char *const s_overlaps[] = {"skip", "buffer_one", "buffer_all",
                                         "cancel_other", "allow_all"};

const char *assay_overlap_name(int o)
{
    return o >= 0 && o <= ASSAY_OVERLAP_ALLOW_ALL ? s_overlaps[o] : "unknown";
}

int assay_overlap_parse(const char *name)
{
    for (int i = 0; name && i <= ASSAY_OVERLAP_ALLOW_ALL; i++)
        if (!strcmp(name, s_overlaps[i]))
            return i;
    return -1;
}

void assay_sched_def_destroy(assay_sched_def **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_sched_def *self = *self_p;
    for (size_t i = 0; i < self->n_cron; i++) {
        free(self->cron_text[i]);
        assay_cron_destroy(&self->cron[i]);
    }
    assay_tz_destroy(&self->tz);
    json_decref(self->spec);
    free(self->note);
    free(self);
    *self_p = NULL;
}

int assay_sched_duration(const json_t *v, const char *what, int64_t *out_s,
                         char *err, size_t errlen)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out_s = json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    int64_t total = 0;
    bool any = false;
    while (s && *s) {
        if (!isdigit((unsigned char)*s))
            break;
        int64_t n = 0;
        while (isdigit((unsigned char)*s) && n < 1000000000LL)
            n = n * 10 + (*s++ - '0');
        int64_t unit = *s == 's' ? 1 : *s == 'm' ? 60 : *s == 'h' ? 3600
                     : *s == 'd'   ? 86400
                                   : 0;
        if (!unit || isdigit((unsigned char)*s))
            break;
        s++;
        total += n * unit;
        any = true;
    }
    if (!any || !s || *s || total > 100LL * 366 * 86400)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: a duration is seconds (an integer) or text "
                          "like \"90s\", \"15m\", \"1h30m\", \"7d\" (at most "
                          "a century)",
                          what);
    *out_s = total;
    return 0;
}

static int s_2(const char *p)
{
    return isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1])
               ? (p[0] - '0') * 10 + (p[1] - '0')
               : -1;
}

int assay_sched_time(const char *t, const char *what, int64_t *out_ms,
                     char *err, size_t errlen)
{
    /* YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM) */
    size_t n = t ? strlen(t) : 0;
    int y1 = n >= 20 ? s_2(t) : -1, y2 = n >= 20 ? s_2(t + 2) : -1;
    int mo = y1 >= 0 ? s_2(t + 5) : -1, d = y1 >= 0 ? s_2(t + 8) : -1;
    int h = y1 >= 0 ? s_2(t + 11) : -1, mi = y1 >= 0 ? s_2(t + 14) : -1;
    int se = y1 >= 0 ? s_2(t + 17) : -1;
    bool shape = y1 >= 0 && y2 >= 0 && t[4] == '-' && t[7] == '-' &&
                 (t[10] == 'T' || t[10] == 't' || t[10] == ' ') &&
                 t[13] == ':' && t[16] == ':';
    const char *p = t ? t + 19 : NULL;
    int64_t ms = 0;
    if (shape && *p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        for (; digits < 3 && digits > 0; digits++)
            ms *= 10;
        shape = digits > 0;
    }
    int off = 0;
    if (shape && (*p == 'Z' || *p == 'z') && !p[1]) {
        off = 0;
    } else if (shape && (*p == '+' || *p == '-') && strlen(p) == 6 &&
               p[3] == ':' && s_2(p + 1) >= 0 && s_2(p + 1) < 24 &&
               s_2(p + 4) >= 0 && s_2(p + 4) < 60) {
        off = (s_2(p + 1) * 60 + s_2(p + 4)) * 60 * (*p == '-' ? -1 : 1);
    } else {
        shape = false;
    }
    int64_t year = y1 * 100 + y2;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (!shape || mo < 1 || mo > 12 || d < 1 ||
        d > mdays[mo - 1] - (mo == 2 && !leap) || h > 23 || mi > 59 ||
        se > 59)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: '%.40s' is not an RFC 3339 time like "
                          "\"2026-03-29T02:30:00+01:00\" or "
                          "\"2026-03-29T01:30:00Z\"",
                          what, t ? t : "");
    int64_t days = assay_tz_days_from_civil(year, (unsigned)mo, (unsigned)d);
    int64_t v = ((days * 24 + h) * 60 + mi) * 60 + se - off;
    if (v < 0 || v * 1000 + ms > TIME_MAX_MS)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: '%.40s' is before 1970", what, t);
    *out_ms = v * 1000 + ms;
    return 0;
}

void assay_sched_time_text(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
    int64_t rem = s - days * 86400, y;
    unsigned m, d;
    assay_tz_civil_from_days(days, &y, &m, &d);
    snprintf(buf, len, "%04" PRId64 "-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m,
             d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
             (int)(ms - s * 1000));
}

/* "@every D" in a cron list: an interval with phase 0. */
static bool s_every_expr(const char *text)
{
    return !strncmp(text, "@every", 6) &&
           (text[6] == ' ' || text[6] == '\t');
}

static int s_interval(assay_sched_def *d, const json_t *every,
                      const json_t *phase, const char *what, char *err,
                      size_t errlen)
{
    char field[64];
    if (d->n_intervals == ASSAY_SCHED_EXPRS_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: at most %d intervals", what,
                          ASSAY_SCHED_EXPRS_MAX);
    assay_sched_interval *iv = &d->intervals[d->n_intervals];
    snprintf(field, sizeof field, "%s.every", what);
    int rc = assay_sched_duration(every, field, &iv->every_s, err, errlen);
    if (!rc && (iv->every_s < 1 || iv->every_s > INTERVAL_MAX_S))
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "%s: between 1 s and 366 days", field);
    snprintf(field, sizeof field, "%s.phase", what);
    iv->phase_s = 0;
    if (!rc && phase)
        rc = assay_sched_duration(phase, field, &iv->phase_s, err, errlen);
    if (!rc && iv->phase_s >= iv->every_s)
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "%s: must be shorter than every (%" PRId64 " s)",
                        field, iv->every_s);
    if (!rc)
        d->n_intervals++;
    return rc;
}

static int s_cron(assay_sched_def *d, const json_t *v, size_t i, char *err,
                  size_t errlen)
{
    char what[32], why[ASSAY_ERRMSG_SIZE];
    snprintf(what, sizeof what, "cron[%zu]", i);
    const char *text = json_string_value(v);
    if (!text)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: a cron expression is a string", what);
    if (s_every_expr(text)) {
        json_t *dur = json_string(text + 7);
        int rc = s_interval(d, dur, NULL, what, err, errlen);
        json_decref(dur);
        return rc;
    }
    if (d->n_cron == ASSAY_SCHED_EXPRS_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "cron: at most %d expressions",
                          ASSAY_SCHED_EXPRS_MAX);
    int rc = assay_cron_parse(text, &d->cron[d->n_cron], why, sizeof why);
    if (rc)
        return assay_errf(err, errlen, rc, "%s: %s", what, why);
    if (!(d->cron_text[d->n_cron] = strdup(text))) {
        assay_cron_destroy(&d->cron[d->n_cron]);
        return ASSAY_ENOMEM;
    }
    d->n_cron++;
    return 0;
}

/* An integer field within lo..hi, or its default when absent. */
static int s_int(const json_t *in, const char *key, int64_t lo, int64_t hi,
                 int64_t dflt, int64_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(in, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo ||
        json_integer_value(v) > hi)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: an integer from %" PRId64 " to %" PRId64, key,
                          lo, hi);
    *out = json_integer_value(v);
    return 0;
}

static int s_dur(const json_t *in, const char *key, int64_t hi, int64_t dflt,
                 int64_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(in, key);
    *out = dflt;
    int rc = v ? assay_sched_duration(v, key, out, err, errlen) : 0;
    if (!rc && *out > hi)
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "%s: at most %" PRId64 " s", key, hi);
    return rc;
}

/* start / start_ms (and end): RFC 3339 text, or ms as normalized. */
static int s_when(const json_t *in, const char *key, int64_t *out,
                  char *err, size_t errlen)
{
    char ms_key[16];
    snprintf(ms_key, sizeof ms_key, "%s_ms", key);
    const json_t *t = json_object_get(in, key),
                 *ms = json_object_get(in, ms_key);
    *out = 0;
    if (t && ms)
        return assay_errf(err, errlen, ASSAY_EINVAL, "%s and %s: give one",
                          key, ms_key);
    if (t)
        return assay_sched_time(json_string_value(t), key, out, err, errlen);
    return s_int(in, ms_key, 0, TIME_MAX_MS, 0, out, err, errlen);
}

static const char *const s_keys[] = {
    "id",         "spec",      "cron",           "intervals", "timezone",
    "jitter",     "start",     "start_ms",       "end",       "end_ms",
    "max_runs",   "overlap",   "catchup_window", "keep_runs", "keep_for",
    "note",       NULL};

static int s_fields(assay_sched_def *d, const json_t *in, char *err,
                    size_t errlen)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)in, key, v) {
        size_t k = 0;
        while (s_keys[k] && strcmp(s_keys[k], key))
            k++;
        if (!s_keys[k])
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "'%.64s': not a field of a schedule "
                              "(docs/schedules.md)",
                              key);
    }
    const char *id = json_string_value(json_object_get(in, "id"));
    if (!id || !assay_ident_node_valid(id, ASSAY_SCHED_ID_MAX))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "id: 1 to %d letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit",
                          ASSAY_SCHED_ID_MAX);
    strlcpy(d->id, id, sizeof d->id);
    const json_t *spec = json_object_get(in, "spec");
    if (!json_is_object(spec))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "spec: the JobSpec each run submits (an object)");
    if (json_object_get(spec, "id"))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "spec.id: a schedule names each run's JobSpec "
                          "itself (<schedule>.<fire time>): leave it out");
    d->spec = json_deep_copy(spec);
    const char *ov = json_string_value(json_object_get(in, "overlap"));
    d->overlap = json_object_get(in, "overlap") ? assay_overlap_parse(ov)
                                                : ASSAY_OVERLAP_SKIP;
    if (d->overlap < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "overlap: skip, buffer_one, buffer_all, "
                          "cancel_other or allow_all");
    const char *note = json_string_value(json_object_get(in, "note"));
    if (json_object_get(in, "note") && (!note || strlen(note) > 500))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "note: text of at most 500 bytes");
    if (note && !(d->note = strdup(note)))
        return ASSAY_ENOMEM;
    int rc = s_dur(in, "jitter", JITTER_MAX_S, 0, &d->jitter_s, err, errlen);
    if (!rc)
        rc = s_dur(in, "catchup_window", CATCHUP_MAX_S,
                   ASSAY_SCHED_CATCHUP_DEFAULT, &d->catchup_s, err, errlen);
    if (!rc)
        rc = s_dur(in, "keep_for", KEEP_FOR_MAX_S, 0, &d->keep_for_s, err,
                   errlen);
    if (!rc)
        rc = s_int(in, "keep_runs", 1, ASSAY_SCHED_KEEP_MAX,
                   ASSAY_SCHED_KEEP_DEFAULT, &d->keep_runs, err, errlen);
    if (!rc)
        rc = s_int(in, "max_runs", 0, MAX_RUNS_MAX, 0, &d->max_runs, err,
                   errlen);
    if (!rc)
        rc = s_when(in, "start", &d->start_ms, err, errlen);
    if (!rc)
        rc = s_when(in, "end", &d->end_ms, err, errlen);
    if (!rc && d->end_ms && d->end_ms <= d->start_ms)
        rc = assay_errf(err, errlen, ASSAY_EINVAL, "end: before its start");
    return rc;
}

static int s_exprs(assay_sched_def *d, const json_t *in, const char *tzdir,
                   char *err, size_t errlen)
{
    const json_t *cron = json_object_get(in, "cron"),
                 *ivs = json_object_get(in, "intervals");
    int rc = 0;
    if (json_is_string(cron)) {
        rc = s_cron(d, cron, 0, err, errlen);
    } else if (json_is_array(cron)) {
        for (size_t i = 0; i < json_array_size(cron) && !rc; i++)
            rc = s_cron(d, json_array_get(cron, i), i, err, errlen);
    } else if (cron) {
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "cron: an expression or a list of them");
    }
    if (!rc && ivs && !json_is_array(ivs))
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "intervals: a list of {every, phase}");
    for (size_t i = 0; !rc && i < json_array_size(ivs); i++) {
        char what[32];
        const json_t *iv = json_array_get(ivs, i);
        snprintf(what, sizeof what, "intervals[%zu]", i);
        rc = json_is_object(iv)
                 ? s_interval(d, json_object_get(iv, "every"),
                              json_object_get(iv, "phase"), what, err, errlen)
                 : assay_errf(err, errlen, ASSAY_EINVAL,
                              "%s: an object {every, phase}", what);
    }
    if (!rc && !d->n_cron && !d->n_intervals)
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "cron or intervals: a schedule needs at least one "
                        "(\"cron\": \"0 * * * *\", \"cron\": \"@every 90s\")");
    const json_t *tz = json_object_get(in, "timezone");
    if (!rc && tz && !json_is_string(tz))
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "timezone: an IANA name like \"Europe/Berlin\"");
    char why[ASSAY_ERRMSG_SIZE];
    if (!rc && (rc = assay_tz_load(tzdir, tz ? json_string_value(tz) : "UTC",
                                   &d->tz, why, sizeof why)) != 0)
        assay_errf(err, errlen, rc, "timezone: %s", why);
    return rc;
}

/* The event of one cron expression or interval after `after` (ms). */
static int s_one(const assay_sched_def *d, size_t k, int64_t after_ms,
                 int64_t until_ms, assay_sched_event *ev)
{
    int64_t after = after_ms >= 0 ? after_ms / 1000 : (after_ms - 999) / 1000;
    int64_t until = until_ms / 1000;
    if (k < d->n_cron) {
        assay_cron_event ce;
        if (!assay_cron_next(d->cron[k], d->tz, after, until, &ce))
            return 0;
        *ev = (assay_sched_event){ce.at * 1000, ce.fire, ce.gap_local,
                                  ce.gap_count};
        return 1;
    }
    const assay_sched_interval *iv = &d->intervals[k - d->n_cron];
    int64_t rel = after - iv->phase_s;
    int64_t q = rel >= 0 ? rel / iv->every_s
                         : -((-rel + iv->every_s - 1) / iv->every_s);
    int64_t at = iv->phase_s + (q + 1) * iv->every_s;
    if (at > until)
        return 0;
    *ev = (assay_sched_event){at * 1000, true, 0, 0};
    return 1;
}

int assay_sched_def_next(const assay_sched_def *self, int64_t after_ms,
                         int64_t until_ms, assay_sched_event *ev)
{
    if (self->start_ms && after_ms < self->start_ms - 1)
        after_ms = self->start_ms - 1;
    if (self->end_ms && until_ms > self->end_ms)
        until_ms = self->end_ms;
    if (until_ms <= after_ms)
        return 0;
    bool found = false;
    for (size_t k = 0; k < self->n_cron + self->n_intervals; k++) {
        assay_sched_event e;
        if (!s_one(self, k, after_ms, until_ms, &e))
            continue;
        if (!found || e.at_ms < ev->at_ms) {
            *ev = e;
            found = true;
        } else if (e.at_ms == ev->at_ms) { /* one event per instant */
            ev->fire = ev->fire || e.fire;
            if (e.gap_count && (!ev->gap_count || e.gap_local < ev->gap_local))
                ev->gap_local = e.gap_local;
            ev->gap_count += e.gap_count;
        }
    }
    return found;
}

int64_t assay_sched_def_jitter_ms(const assay_sched_def *self,
                                  int64_t nominal_ms)
{
    if (!self->jitter_s)
        return 0;
    /* FNV-1a of the id, mixed with the time (splitmix64's finalizer). */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = self->id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h ^= (uint64_t)nominal_ms;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return (int64_t)(h % (uint64_t)(self->jitter_s * 1000 + 1));
}

/* It fires, and never closer than the minimum interval. */
static int s_sane(const assay_sched_def *d, const assay_sched_limits *lim,
                  char *err, size_t errlen)
{
    int64_t from = d->start_ms > lim->now_ms ? d->start_ms : lim->now_ms;
    for (size_t k = 0; k < d->n_cron; k++) {
        assay_sched_def one = *d;
        one.n_cron = 1;
        one.cron[0] = d->cron[k];
        one.n_intervals = 0;
        assay_sched_event ev;
        bool fires = false;
        for (int64_t after = from; !fires &&
                                   assay_sched_def_next(&one, after, from + HORIZON_MS,
                                                        &ev);
             after = ev.at_ms)
            fires = ev.fire;
        if (!fires)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "cron[%zu]: '%s' never fires%s", k,
                              d->cron_text[k],
                              d->end_ms ? " before the schedule's end"
                                        : " (no such date in ten years)");
    }
    int64_t last = -1, after = from, gap = INT64_MAX, gap_at = 0;
    assay_sched_event ev;
    for (int i = 0; i < SAMPLE_EVENTS &&
                    assay_sched_def_next(d, after, from + HORIZON_MS, &ev);
         i++, after = ev.at_ms) {
        if (!ev.fire)
            continue;
        if (last >= 0 && ev.at_ms - last < gap) {
            gap = ev.at_ms - last;
            gap_at = last;
        }
        last = ev.at_ms;
    }
    if (last < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "cron and intervals: the schedule never fires "
                          "between its start and end");
    if (gap < lim->min_interval_s * 1000) {
        char when[40];
        assay_sched_time_text(gap_at, when, sizeof when);
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "cron and intervals: fires %" PRId64
                          " s apart (at %s): at least %" PRId64
                          " s apart (schedule_min_interval)",
                          gap / 1000, when, lim->min_interval_s);
    }
    return 0;
}

int assay_sched_def_parse(const json_t *in, const assay_sched_limits *limits,
                          bool strict, assay_sched_def **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    if (!json_is_object(in))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "a schedule is a JSON object (docs/schedules.md)");
    assay_sched_def *d = calloc(1, sizeof *d);
    if (!d)
        return ASSAY_ENOMEM;
    int rc = s_fields(d, in, err, errlen);
    if (!rc)
        rc = s_exprs(d, in, limits->tzdir, err, errlen);
    if (!rc && strict)
        rc = s_sane(d, limits, err, errlen);
    if (rc)
        assay_sched_def_destroy(&d);
    *out = d;
    return rc;
}

json_t *assay_sched_def_json(const assay_sched_def *self)
{
    json_t *cron = json_array(), *ivs = json_array();
    for (size_t i = 0; i < self->n_cron; i++)
        json_array_append_new(cron, json_string(self->cron_text[i]));
    for (size_t i = 0; i < self->n_intervals; i++)
        json_array_append_new(
            ivs, json_pack("{s:I, s:I}", "every",
                           (json_int_t)self->intervals[i].every_s, "phase",
                           (json_int_t)self->intervals[i].phase_s));
    json_t *o = json_pack(
        "{s:s, s:O, s:o, s:o, s:s, s:I, s:I, s:I, s:I, s:s, s:I, s:I, s:I}",
        "id", self->id, "spec", self->spec, "cron", cron, "intervals", ivs,
        "timezone", assay_tz_name(self->tz), "jitter",
        (json_int_t)self->jitter_s, "start_ms", (json_int_t)self->start_ms,
        "end_ms", (json_int_t)self->end_ms, "max_runs",
        (json_int_t)self->max_runs, "overlap",
        assay_overlap_name(self->overlap), "catchup_window",
        (json_int_t)self->catchup_s, "keep_runs", (json_int_t)self->keep_runs,
        "keep_for", (json_int_t)self->keep_for_s);
    if (o && self->note)
        json_object_set_new(o, "note", json_string(self->note));
    return o;
}
