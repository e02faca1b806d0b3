/* core/bin/export.c - evidence records streamed out as OSCAL assessment
 * results, Assay's JSON or JUnit XML (see export.h, docs/evidence.md).
 *
 * Nothing here grows with the number of records. Each record's part is
 * written when it arrives; what a format places after a run's records
 * (OSCAL: its findings, log entries and hosts; JUnit: the cases, behind a
 * testsuite header that counts them) waits in a tmpfile() until the run
 * ends, and OSCAL's back-matter in one until the document ends. Memory
 * holds per run only its distinct control ids (a JobSpec has at most
 * ASSAY_CONTROLS_MAX) and host ids (at most ASSAY_EXPORT_HOSTS_MAX). */
#include "export.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "base/errtext.h"
#include "base/index.h"
#include "base/uuid.h"
#include "job/jobspec.h"

/* The OSCAL version the documents are written against (tests/oscal/). */
#define OSCAL_VERSION "1.0.4"
/* The namespace of Assay's OSCAL props: its evidence namespace as a URN,
 * a URI that needs no domain of its own. */
#define OSCAL_NS "urn:uuid:" ASSAY_UUID_NS
/* A target shown as "key=value ..." in titles and names: at most this
 * many bytes, then "...". The record keeps it whole. */
#define TARGET_TEXT_MAX 200
/* Date-times kept as a run's start and end; longer ones (many fraction
 * digits) still appear on their records. */
#define TIME_TEXT_MAX 64

typedef enum { FMT_JSON, FMT_JUNIT, FMT_OSCAL } s_format;

/* A section that is written after items that arrive later: a tmpfile
 * and how many items it holds (for the commas). */
typedef struct {
    FILE *f;
    size_t n;
} s_spool;

struct assay_export {
    FILE *out;
    s_format format;
    int failed; /* the error that ended the export; later calls repeat it */
    bool finished;
    char *generated, *tool_version, *title, *member; /* meta */
    bool head;      /* the document's head is written */
    size_t records; /* written, in the document */
    size_t runs;    /* begun, in the document */
    /* The run under way: consecutive records with one "spec". */
    bool in_run;
    size_t run_records; /* written, in the run */
    char *spec, *schedule, *fire_time, *run_title;
    size_t tests, failures, errors, skipped; /* JUnit */
    int64_t time_ms;                         /* JUnit: the cases' sum */
    bool timed;
    char start[TIME_TEXT_MAX], end[TIME_TEXT_MAX]; /* OSCAL: "" = none */
    int64_t start_ms, end_ms;
    assay_index *controls; /* control id -> its copy in control_ids */
    char *control_ids[ASSAY_CONTROLS_MAX];
    size_t n_controls;
    assay_index *hosts; /* host uuid -> (void *)1: its item is spooled */
    size_t n_hosts;
    s_spool cases;                /* JUnit: the run's testcases */
    s_spool findings, log, items; /* OSCAL: the run's later sections */
    s_spool resources;            /* OSCAL: the document's back-matter */
};

/* ---------------------------------------------------------------- text */

static const char *s_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : NULL;
}

/* Length of the UTF-8 sequence at s and its code point; 0 when s starts
 * none (a stray byte, overlong, a surrogate, beyond U+10FFFF). */
static size_t s_utf8(const unsigned char *s, uint32_t *cp)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t c = s[0];
    size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                          : (c & 0xf8) == 0xf0   ? 4
                                                 : 0;
    if (n > 1) {
        c &= 0x7fu >> n;
        for (size_t i = 1; i < n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            c = c << 6 | (s[i] & 0x3f);
        }
        if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0;
    }
    *cp = c;
    return n;
}

/* What the schema's patterns take for \s (Unicode White_Space, and the
 * separators Python's str counts too). */
static bool s_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) ||
           c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* A copy of s in valid UTF-8 (stray bytes become '?'). `oneline`: also
 * control characters and line breaks become spaces and blank ends go,
 * which is what OSCAL's plain strings (`^\S(.*\S)?$`) require. */
static char *s_clean(const char *s, bool oneline)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0, first = SIZE_MAX, last = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t c;
        size_t len = s_utf8(p, &c);
        if (!len) {
            c = '?';
            out[o] = '?';
            len = 1;
        } else if (oneline && (c < 0x20 || c == 0x7f || c == 0x85 ||
                               c == 0x2028 || c == 0x2029)) {
            c = ' ';
            out[o] = ' ';
        } else {
            memcpy(out + o, p, len);
        }
        size_t w = c == '?' || c == ' ' ? 1 : len;
        if (oneline && !s_space(c)) {
            first = first == SIZE_MAX ? o : first;
            last = o + w;
        }
        o += w;
        p += len;
    }
    out[o] = '\0';
    if (oneline) {
        if (first == SIZE_MAX)
            first = last = 0;
        memmove(out, out + first, last - first);
        out[last - first] = '\0';
    }
    return out;
}

static char *s_fmt(const char *fmt, ...) ASSAY_PRINTF(1, 2);
static char *s_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

/* UUIDv5 in Assay's namespace of a formatted name; 0 or ASSAY_ENOMEM. */
static int s_uuid(char out[37], const char *fmt, ...) ASSAY_PRINTF(2, 3);
static int s_uuid(char out[37], const char *fmt, ...)
{
    va_list ap;
    char *name = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&name, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ASSAY_ENOMEM;
    int rc = assay_uuid5_text(ASSAY_UUID_NS, name, out);
    free(name);
    return rc;
}

/* A JSON value as text: strings as they are, the rest compact JSON. */
static void s_put_value(FILE *f, const json_t *v)
{
    if (json_is_string(v)) {
        fputs(json_string_value(v), f);
        return;
    }
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (d)
        fputs(d, f);
    free(d);
}

/* The target as one line, "key=value ..." (values that are not strings
 * as JSON), cut at TARGET_TEXT_MAX bytes; "" for none. NULL: no memory. */
static char *s_target_text(const json_t *target)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    if (json_is_object(target)) {
        const char *k;
        json_t *v;
        bool first = true;
        json_object_foreach((json_t *)target, k, v) {
            fprintf(m, "%s%s=", first ? "" : " ", k);
            s_put_value(m, v);
            first = false;
            if (ftell(m) > TARGET_TEXT_MAX)
                break;
        }
    } else if (target && !json_is_null(target)) {
        s_put_value(m, target);
    }
    if (fclose(m)) {
        free(buf);
        return NULL;
    }
    if (len > TARGET_TEXT_MAX) {
        size_t cut = TARGET_TEXT_MAX;
        while (cut && ((unsigned char)buf[cut] & 0xc0) == 0x80)
            cut--; /* never inside a UTF-8 sequence */
        char *clipped = realloc(buf, cut + 4);
        if (!clipped) {
            free(buf);
            return NULL;
        }
        memcpy(clipped + cut, "...", 4);
        buf = clipped;
    }
    char *clean = s_clean(buf, true);
    free(buf);
    return clean;
}

static int s_digits(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Days from 1970-01-01 to a proleptic Gregorian date. */
static int64_t s_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* Whether t is a date-time the OSCAL schema takes (its pattern:
 * YYYY-MM-DDTHH:MM:SS[.f...](Z|+HH:MM|-HH:MM), years 1900 to 2999, 29
 * February only in the leap years from 2000 on); then *ms is its Unix
 * time in ms. A record's time that is not is left out of the OSCAL
 * document, and not counted in JUnit times. */
static bool s_time(const char *t, int64_t *ms)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    if (!t || strlen(t) < 20)
        return false;
    int y = s_digits(t, 4), mo = s_digits(t + 5, 2), d = s_digits(t + 8, 2);
    int h = s_digits(t + 11, 2), mi = s_digits(t + 14, 2);
    int s = s_digits(t + 17, 2);
    if (y < 1900 || y > 2999 || t[4] != '-' || t[7] != '-' || t[10] != 'T' ||
        t[13] != ':' || t[16] != ':' || mo < 1 || mo > 12 || d < 1 ||
        h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
        return false;
    int yy = y % 100;
    bool leap = y == 2000 || y == 2400 || y == 2800 ||
                (y > 2000 && yy % 4 == 0 && yy != 0);
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    const char *p = t + 19;
    int frac = 0, scale = 100;
    if (*p == '.') {
        if (!isdigit((unsigned char)p[1]))
            return false;
        for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    int off = 0;
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && s_digits(p + 1, 2) >= 0 &&
               p[3] == ':' && s_digits(p + 4, 2) >= 0) {
        off = (*p == '-' ? -1 : 1) * (s_digits(p + 1, 2) * 60 +
                                      s_digits(p + 4, 2));
        p += 6;
    } else {
        return false;
    }
    if (*p)
        return false;
    if (ms)
        *ms = ((s_days(y, mo, d) * 24 + h) * 60 + mi) * 60000 + s * 1000 +
              frac - off * 60000LL;
    return true;
}

/* A record's time field when the schema takes it, else NULL. */
static const char *s_time_field(const json_t *r, const char *key, int64_t *ms)
{
    const char *t = s_str(r, key);
    return s_time(t, ms) ? t : NULL;
}

/* pass, fail or error for a completed job; its state otherwise. */
static const char *s_verdict(const json_t *r)
{
    const char *state = s_str(r, "state"), *status = s_str(r, "status");
    if (state && !strcmp(state, "completed"))
        return status ? status : "completed";
    return state ? state : "unknown";
}

static bool s_passed(const json_t *r)
{
    return !strcmp(s_verdict(r), "pass");
}

/* A control id as OSCAL tokens have it, in ASCII (as JobSpecs check it). */
static bool s_token(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return false;
    return true;
}

/* ---------------------------------------------------------------- output */

/* 0, or ASSAY_EIO when `f` (the document or a spool) failed a write. */
static int s_io(FILE *f, const char *what, char *err, size_t errlen)
{
    if (f && ferror(f))
        return assay_errf(err, errlen, ASSAY_EIO, "export: cannot write %s",
                          what);
    return 0;
}

/* An object without its closing brace, for members written later. */
static int s_open(FILE *f, const json_t *obj)
{
    char *d = json_dumps(obj, JSON_COMPACT);
    if (!d)
        return ASSAY_ENOMEM;
    fwrite(d, 1, strlen(d) - 1, f);
    free(d);
    return 0;
}

/* An object's members after others: ",\"k\":v,..." (nothing for {}). */
static int s_members(FILE *f, const json_t *obj)
{
    if (!json_object_size(obj))
        return 0;
    char *d = json_dumps(obj, JSON_COMPACT);
    if (!d)
        return ASSAY_ENOMEM;
    fputc(',', f);
    fwrite(d + 1, 1, strlen(d) - 2, f);
    free(d);
    return 0;
}

/* Appends one item to a spool, created on first use. */
static int s_spool_json(s_spool *sp, const json_t *item)
{
    if (!sp->f && !(sp->f = tmpfile()))
        return ASSAY_EIO;
    if (sp->n++)
        fputs(",\n", sp->f);
    return json_dumpf(item, sp->f, JSON_COMPACT) ? ASSAY_EIO : 0;
}

/* Copies a spool to `out` and empties it. */
static int s_spool_drain(s_spool *sp, FILE *out)
{
    int rc = 0;
    if (sp->f) {
        char buf[65536];
        size_t n;
        if (fflush(sp->f) || ferror(sp->f) || fseek(sp->f, 0, SEEK_SET))
            rc = ASSAY_EIO;
        while (!rc && (n = fread(buf, 1, sizeof buf, sp->f)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                rc = ASSAY_EIO;
        if (!rc && ferror(sp->f))
            rc = ASSAY_EIO;
        fclose(sp->f);
    }
    sp->f = NULL;
    sp->n = 0;
    return rc;
}

static void s_spool_drop(s_spool *sp)
{
    if (sp->f)
        fclose(sp->f);
    sp->f = NULL;
    sp->n = 0;
}

/* ------------------------------------------------------- building JSON */

/* Builders note a failed allocation in *ok rather than at every call. */
static void s_put(json_t *obj, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(obj, key, v))
        *ok = false;
}

static void s_push(json_t *arr, json_t *v, bool *ok)
{
    if (!v || json_array_append_new(arr, v))
        *ok = false;
}

/* A string value, made valid UTF-8 when it is not. */
static json_t *s_jstr(const char *s)
{
    json_t *j = json_string(s);
    if (!j && s) {
        char *c = s_clean(s, false);
        j = c ? json_string(c) : NULL;
        free(c);
    }
    return j;
}

/* Sets obj.key to s when s is a string, made valid; skips NULL. */
static void s_put_str(json_t *obj, const char *key, const char *s, bool *ok)
{
    if (s)
        s_put(obj, key, s_jstr(s), ok);
}

/* Sets obj.key to s made one line (OSCAL titles are markup-line);
 * false when nothing is left of it, for callers to put a default. */
static bool s_put_line(json_t *obj, const char *key, const char *s, bool *ok)
{
    char *line = s ? s_clean(s, true) : NULL;
    bool set = line && *line;
    if (set)
        s_put(obj, key, json_string(line), ok);
    else if (s && !line)
        *ok = false;
    free(line);
    return set;
}

/* Sets obj.key to arr unless arr is empty (the schema wants arrays of at
 * least one item or none). */
static void s_put_array(json_t *obj, const char *key, json_t *arr, bool *ok)
{
    if (arr && !json_array_size(arr))
        json_decref(arr);
    else
        s_put(obj, key, arr, ok);
}

/* Appends an Assay prop when value, made one line, is not empty. */
static void s_prop(json_t *props, const char *name, const char *value,
                   bool *ok)
{
    if (!value)
        return;
    char *v = s_clean(value, true);
    if (!v) {
        *ok = false;
        return;
    }
    if (*v)
        s_push(props,
               json_pack("{s:s, s:s, s:s}", "name", name, "ns", OSCAL_NS,
                         "value", v),
               ok);
    free(v);
}

static void s_prop_int(json_t *props, const char *name, const json_t *v,
                       bool *ok)
{
    if (!json_is_integer(v))
        return;
    char buf[32];
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    s_prop(props, name, buf, ok);
}

/* ---------------------------------------------------------------- JSON */

static int s_json_head(assay_export *self)
{
    json_t *head = json_pack("{s:i, s:s, s:{s:s, s:s}}", "assay_evidence", 1,
                             "generated", self->generated, "tool", "name",
                             "assay", "version", self->tool_version);
    bool ok = head != NULL;
    if (ok) {
        s_put_str(head, "title", self->title, &ok);
        s_put_str(head, "member", self->member, &ok);
        s_put(head, "results", json_array(), &ok);
    }
    /* Everything but "[]}": the records go between the brackets. */
    char *d = ok ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    if (!d)
        return ASSAY_ENOMEM;
    fwrite(d, 1, strlen(d) - 3, self->out);
    fputc('[', self->out);
    free(d);
    return 0;
}

static int s_json_record(assay_export *self, const json_t *r)
{
    fputs(self->records ? ",\n" : "\n", self->out);
    return json_dumpf(r, self->out, JSON_COMPACT) ? ASSAY_EIO : 0;
}

/* ---------------------------------------------------------------- JUnit */

/* Text or an attribute value as XML 1.0 takes it. Characters XML cannot
 * carry at all (control characters, U+FFFE, U+FFFF, stray bytes) are
 * written visibly, as \uXXXX or \xXX. */
static void s_xml(FILE *f, const char *s, bool attr)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        uint32_t c;
        size_t n = s_utf8(p, &c);
        if (!n) {
            fprintf(f, "\\x%02X", *p++);
            continue;
        }
        if (c == '&')
            fputs("&amp;", f);
        else if (c == '<')
            fputs("&lt;", f);
        else if (c == '>')
            fputs("&gt;", f);
        else if (c == '"' && attr)
            fputs("&quot;", f);
        else if (c == '\r' || ((c == '\n' || c == '\t') && attr))
            fprintf(f, "&#%u;", (unsigned)c); /* kept through normalization */
        else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ||
                 c == 0xfffe || c == 0xffff)
            fprintf(f, "\\u%04X", (unsigned)c);
        else
            fwrite(p, 1, n, f);
        p += n;
    }
}

/* "label: value\n", the value escaped. */
static void s_xml_line(FILE *f, const char *label, const char *value)
{
    if (!value)
        return;
    fprintf(f, "%s: ", label);
    s_xml(f, value, false);
    fputc('\n', f);
}

static int s_junit_head(assay_export *self)
{
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"",
          self->out);
    s_xml(self->out, self->title ? self->title : "Assay evidence", true);
    fputs("\">\n", self->out);
    return 0;
}

/* The evidence in a testcase's <system-out>. */
static void s_junit_out(FILE *f, const json_t *r)
{
    const json_t *host = json_object_get(r, "host"),
                 *plugin = json_object_get(r, "plugin"),
                 *drift = json_object_get(r, "drift"),
                 *target = json_object_get(r, "target");
    fputs("<system-out>", f);
    s_xml_line(f, "evidence", s_str(r, "uuid"));
    s_xml_line(f, "verdict", s_verdict(r));
    s_xml_line(f, "message", s_str(r, "message"));
    s_xml_line(f, "reason", s_str(r, "reason"));
    if (target && !json_is_null(target)) {
        char *d = json_dumps(target, JSON_COMPACT | JSON_ENCODE_ANY);
        s_xml_line(f, "target", d);
        free(d);
    }
    s_xml_line(f, "host", s_str(host, "hostname"));
    s_xml_line(f, "os", s_str(host, "os"));
    s_xml_line(f, "kernel", s_str(host, "kernel"));
    s_xml_line(f, "machine-id", s_str(host, "machine_id"));
    s_xml_line(f, "runtime", s_str(r, "runtime"));
    if (json_is_integer(json_object_get(r, "attempt")))
        fprintf(f, "attempt: %" JSON_INTEGER_FORMAT "\n",
                json_integer_value(json_object_get(r, "attempt")));
    s_xml_line(f, "plugin", s_str(plugin, "name"));
    s_xml_line(f, "plugin-version", s_str(plugin, "version"));
    s_xml_line(f, "plugin-sha256", s_str(plugin, "sha256"));
    s_xml_line(f, "started", s_str(r, "started"));
    s_xml_line(f, "ended", s_str(r, "ended"));
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "controls"), i, x) {
        fputs("control: ", f);
        s_xml(f, s_str(x, "catalog"), false);
        fputc(' ', f);
        s_xml(f, s_str(x, "id"), false);
        fputc('\n', f);
    }
    s_xml_line(f, "drift", s_str(drift, "change"));
    s_xml_line(f, "drift-previous", s_str(drift, "previous"));
    json_array_foreach(json_object_get(drift, "changed"), i, x)
        s_xml_line(f, "drift-changed", json_string_value(x));
    json_array_foreach(json_object_get(r, "findings"), i, x) {
        const char *k;
        json_t *v;
        fputs("finding: ", f);
        s_xml(f, s_str(x, "state"), false);
        fputc(' ', f);
        s_xml(f, s_str(x, "title"), false);
        fputc('\n', f);
        s_xml_line(f, "  subject", s_str(x, "subject"));
        json_object_foreach(json_object_get(x, "evidence"), k, v) {
            char *d = json_is_string(v)
                          ? strdup(json_string_value(v))
                          : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            fputs("  ", f);
            s_xml(f, k, false);
            fputs(": ", f);
            s_xml(f, d, false);
            fputc('\n', f);
            free(d);
        }
    }
    fputs("</system-out>\n", f);
}

static int s_junit_case(assay_export *self, const json_t *r)
{
    if (!self->cases.f && !(self->cases.f = tmpfile()))
        return ASSAY_EIO;
    FILE *f = self->cases.f;
    char *target = s_target_text(json_object_get(r, "target"));
    if (!target)
        return ASSAY_ENOMEM;
    const char *job = s_str(r, "job") ? s_str(r, "job") : s_str(r, "uuid");
    const char *verdict = s_verdict(r), *state = s_str(r, "state");
    const char *why = s_str(r, "message") ? s_str(r, "message")
                                          : s_str(r, "reason");
    int64_t t0, t1;

    fputs("<testcase classname=\"", f);
    s_xml(f, s_str(r, "action") ? s_str(r, "action") : "unknown", true);
    fputs("\" name=\"", f);
    s_xml(f, job, true);
    if (*target) {
        fputc(' ', f);
        s_xml(f, target, true);
    }
    fputc('"', f);
    free(target);
    if (s_time_field(r, "started", &t0) && s_time_field(r, "ended", &t1) &&
        t1 >= t0) {
        fprintf(f, " time=\"%.3f\"", (double)(t1 - t0) / 1000);
        self->time_ms += t1 - t0;
        self->timed = true;
    }
    fputs(">\n", f);
    self->tests++;
    if (!strcmp(verdict, "pass")) {
        /* nothing: a passed case is bare */
    } else if (state && !strcmp(state, "cancelled")) {
        self->skipped++;
        fputs("<skipped message=\"", f);
        s_xml(f, why ? why : "cancelled", true);
        fputs("\"/>\n", f);
    } else {
        bool failure = !strcmp(verdict, "fail");
        const char *el = failure ? "failure" : "error";
        if (failure)
            self->failures++;
        else
            self->errors++;
        fprintf(f, "<%s message=\"", el);
        s_xml(f, why ? why : verdict, true);
        fputs("\" type=\"", f);
        s_xml(f, verdict, true);
        fputs("\">", f);
        /* The findings that did not pass, one per line. */
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(r, "findings"), i, x) {
            const char *st = s_str(x, "state");
            if (st && (!strcmp(st, "pass") || !strcmp(st, "satisfied") ||
                       !strcmp(st, "info")))
                continue;
            s_xml(f, st ? st : "unknown", false);
            fputs(": ", f);
            s_xml(f, s_str(x, "title"), false);
            fputc('\n', f);
        }
        fprintf(f, "</%s>\n", el);
    }
    s_junit_out(f, r);
    fputs("</testcase>\n", f);
    return 0;
}

static void s_junit_property(FILE *f, const char *name, const char *value)
{
    if (!value)
        return;
    fprintf(f, "<property name=\"%s\" value=\"", name);
    s_xml(f, value, true);
    fputs("\"/>\n", f);
}

/* The run's testsuite: its header, counted, then the spooled cases. */
static int s_junit_suite(assay_export *self)
{
    FILE *f = self->out;
    fputs("<testsuite name=\"", f);
    s_xml(f, *self->spec ? self->spec : "(no JobSpec)", true);
    if (self->schedule) {
        fputs(" (schedule ", f);
        s_xml(f, self->schedule, true);
        fputc(')', f);
    }
    fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
               "skipped=\"%zu\"",
            self->tests, self->failures, self->errors, self->skipped);
    if (self->timed)
        fprintf(f, " time=\"%.3f\"", (double)self->time_ms / 1000);
    fputs(">\n<properties>\n", f);
    s_junit_property(f, "spec", *self->spec ? self->spec : NULL);
    s_junit_property(f, "schedule", self->schedule);
    s_junit_property(f, "fire_time", self->fire_time);
    s_junit_property(f, "title", self->run_title);
    s_junit_property(f, "generated", self->generated);
    fputs("</properties>\n", f);
    int rc = s_spool_drain(&self->cases, f);
    fputs("</testsuite>\n", f);
    return rc;
}

/* ---------------------------------------------------------------- OSCAL */

static int s_oscal_head(assay_export *self, const char *first_uuid)
{
    char doc[37];
    int rc = s_uuid(doc, "document:%s:%s", self->generated,
                    first_uuid ? first_uuid : "");
    if (rc)
        return rc;
    bool ok = true;
    json_t *meta = json_object(), *props = json_array();
    if (!s_put_line(meta, "title", self->title, &ok))
        s_put_str(meta, "title", "Assay assessment results", &ok);
    s_put_str(meta, "last-modified", self->generated, &ok);
    char *version = s_clean(self->tool_version, true);
    s_put_str(meta, "version", version && *version ? version : "unknown",
              &ok);
    ok = ok && version;
    free(version);
    s_put_str(meta, "oscal-version", OSCAL_VERSION, &ok);
    s_prop(props, "generator", "assay", &ok);
    s_prop(props, "tool-version", self->tool_version, &ok);
    s_prop(props, "member", self->member, &ok);
    s_put_array(meta, "props", props, &ok);
    json_t *head = json_pack("{s:s, s:o, s:{s:s, s:s}}", "uuid", doc,
                             "metadata", meta, "import-ap", "href", "#",
                             "remarks",
                             "Assay assesses by JobSpecs, not by an OSCAL "
                             "assessment plan: each result names its "
                             "JobSpec in its props.");
    FILE *f = self->out;
    if (ok && head) {
        fputs("{\"assessment-results\":", f);
        rc = s_open(f, head);
        fputs(",\"results\":[", f);
    }
    json_decref(head);
    self->head = true;
    return !ok || !head ? ASSAY_ENOMEM : rc;
}

/* An observation's id: the record's evidence id when it is a UUID the
 * schema takes (versions 4 and 5), else one derived from it. */
static int s_obs_uuid(const char *uuid, char out[37])
{
    unsigned char u[16];
    int v = assay_uuid_parse(uuid, u) ? -1 : assay_uuid_version(u);
    if (v == 4 || v == 5) {
        assay_uuid_format(u, out); /* lowercase */
        return 0;
    }
    return s_uuid(out, "observation:%s", uuid);
}

static int s_oscal_run_begin(assay_export *self, const json_t *r,
                             const char *obs_uuid)
{
    char id[37];
    int rc = s_uuid(id, "result:%s", obs_uuid);
    if (rc)
        return rc;
    bool ok = true;
    const char *spec = *self->spec ? self->spec : "(none)";
    char *title = s_fmt("JobSpec %s", spec);
    char *sched = self->schedule
                      ? s_fmt(", a run of schedule %s%s%s", self->schedule,
                              self->fire_time ? " fired at " : "",
                              self->fire_time ? self->fire_time : "")
                      : strdup("");
    const char *what = s_str(r, "description");
    char *desc = sched ? s_fmt("%s%sEvidence Assay collected for JobSpec "
                               "%s%s.", what ? what : "", what ? "\n\n" : "",
                               spec, sched)
                       : NULL;
    json_t *res = json_object(), *props = json_array();
    s_put_str(res, "uuid", id, &ok);
    if (!s_put_line(res, "title", self->run_title, &ok))
        s_put_line(res, "title", title, &ok);
    s_put_str(res, "description", desc, &ok);
    ok = ok && title && desc;
    s_prop(props, "spec", *self->spec ? self->spec : NULL, &ok);
    s_prop(props, "schedule", self->schedule, &ok);
    s_prop(props, "fire-time", self->fire_time, &ok);
    s_put_array(res, "props", props, &ok);
    free(title);
    free(sched);
    free(desc);
    FILE *f = self->out;
    if (ok) {
        fputs(self->runs ? ",\n" : "\n", f);
        rc = s_open(f, res);
        fputs(",\"observations\":[", f);
    }
    json_decref(res);
    return ok ? rc : ASSAY_ENOMEM;
}

/* A host's id: from its machine id, else its name; "" for neither. */
static int s_host_id(const json_t *host, char id[37])
{
    const char *mid = s_str(host, "machine_id"),
               *name = s_str(host, "hostname");
    id[0] = '\0';
    if (!mid && !name)
        return 0;
    return mid ? s_uuid(id, "host:machine-id:%s", mid)
               : s_uuid(id, "host:hostname:%s", name);
}

/* The host as an inventory item: its id, and its item spooled the first
 * time the run names it. id "" when the record names no host. */
static int s_oscal_host(assay_export *self, const json_t *host, char id[37])
{
    const char *mid = s_str(host, "machine_id"),
               *name = s_str(host, "hostname");
    int rc = s_host_id(host, id);
    if (rc || !*id || assay_index_get(self->hosts, id))
        return rc;
    bool ok = true;
    const char *os = s_str(host, "os"), *kernel = s_str(host, "kernel");
    char *desc = s_fmt("Host %s%s%s%s%s%s", name ? name : mid,
                       os || kernel ? " (" : "", os ? os : "",
                       os && kernel ? ", " : "", kernel ? kernel : "",
                       os || kernel ? ")" : "");
    json_t *item = json_object(), *props = json_array();
    s_put_str(item, "uuid", id, &ok);
    s_put_str(item, "description", desc, &ok);
    ok = ok && desc;
    free(desc);
    s_prop(props, "hostname", name, &ok);
    s_prop(props, "os", os, &ok);
    s_prop(props, "kernel", kernel, &ok);
    s_prop(props, "machine-id", mid, &ok);
    s_put_array(item, "props", props, &ok);
    rc = ok ? s_spool_json(&self->items, item) : ASSAY_ENOMEM;
    json_decref(item);
    if (!rc && assay_index_put(self->hosts, id, (void *)1))
        rc = ASSAY_ENOMEM;
    self->n_hosts += !rc;
    return rc;
}

/* The target as a back-matter resource of its own (one per record, so
 * nothing is remembered to define it once); its id, "" for no target. */
static int s_oscal_target(assay_export *self, const json_t *r,
                          const char *obs_uuid, const char *target_text,
                          char id[37])
{
    const json_t *target = json_object_get(r, "target");
    id[0] = '\0';
    if (!target || json_is_null(target) ||
        (json_is_object(target) && !json_object_size(target)))
        return 0;
    int rc = s_uuid(id, "target:%s", obs_uuid);
    if (rc)
        return rc;
    bool ok = true;
    const char *action = s_str(r, "action"), *job = s_str(r, "job");
    char *json = json_dumps(target, JSON_COMPACT | JSON_ENCODE_ANY);
    char *title = s_fmt("%s%s%s", action ? action : "",
                        action ? " " : "", target_text);
    char *desc = s_fmt("The target of job %s: the params of its action, "
                       "as JSON in the prop \"target\".",
                       job ? job : obs_uuid);
    json_t *res = json_object(), *props = json_array();
    s_put_str(res, "uuid", id, &ok);
    s_put_line(res, "title", title, &ok);
    s_put_str(res, "description", desc, &ok);
    ok = ok && json && title && desc;
    s_prop(props, "action", action, &ok);
    s_prop(props, "target", json, &ok);
    s_put_array(res, "props", props, &ok);
    free(json);
    free(title);
    free(desc);
    rc = ok ? s_spool_json(&self->resources, res) : ASSAY_ENOMEM;
    json_decref(res);
    return rc;
}

/* One relevant-evidence entry per finding of the record. */
static json_t *s_oscal_evidence(const json_t *r, bool *ok)
{
    json_t *out = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "findings"), i, x) {
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        if (!m) {
            *ok = false;
            break;
        }
        const char *k, *state = s_str(x, "state");
        json_t *v;
        fprintf(m, "%s: %s", s_str(x, "title") ? s_str(x, "title")
                                                 : "finding",
                state ? state : "unknown");
        if (s_str(x, "subject"))
            fprintf(m, "\nsubject: %s", s_str(x, "subject"));
        json_object_foreach(json_object_get(x, "evidence"), k, v) {
            fprintf(m, "\n%s: ", k);
            s_put_value(m, v);
        }
        if (fclose(m)) {
            free(buf);
            *ok = false;
            break;
        }
        json_t *e = json_object(), *props = json_array();
        s_put_str(e, "description", buf, ok);
        s_prop(props, "finding-state", state, ok);
        s_put_array(e, "props", props, ok);
        s_push(out, e, ok);
        free(buf);
    }
    return out;
}

static json_t *s_oscal_obs_props(const json_t *r, const char *uuid,
                                 const char *obs_uuid, bool *ok)
{
    const json_t *plugin = json_object_get(r, "plugin"),
                 *drift = json_object_get(r, "drift"),
                 *by = json_object_get(r, "submitted_by");
    json_t *props = json_array();
    if (strcmp(uuid, obs_uuid))
        s_prop(props, "evidence", uuid, ok);
    s_prop(props, "job", s_str(r, "job"), ok);
    s_prop(props, "action", s_str(r, "action"), ok);
    s_prop(props, "state", s_str(r, "state"), ok);
    s_prop(props, "status", s_str(r, "status"), ok);
    s_prop(props, "reason", s_str(r, "reason"), ok);
    s_prop_int(props, "attempt", json_object_get(r, "attempt"), ok);
    s_prop(props, "runtime", s_str(r, "runtime"), ok);
    s_prop(props, "plugin", s_str(plugin, "name"), ok);
    s_prop(props, "plugin-version", s_str(plugin, "version"), ok);
    s_prop(props, "plugin-sha256", s_str(plugin, "sha256"), ok);
    s_prop(props, "drift", s_str(drift, "change"), ok);
    s_prop(props, "drift-previous", s_str(drift, "previous"), ok);
    if (s_str(by, "name")) {
        char *who = s_fmt("%s%s%s%s", s_str(by, "name"),
                          s_str(by, "role") ? " (" : "",
                          s_str(by, "role") ? s_str(by, "role") : "",
                          s_str(by, "role") ? ")" : "");
        s_prop(props, "submitted-by", who, ok);
        *ok = *ok && who;
        free(who);
    }
    s_prop_int(props, "position", json_object_get(r, "position"), ok);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(r, "labels"), k, v) {
        if (!json_is_string(v))
            continue;
        char *kv = s_fmt("%s=%s", k, json_string_value(v));
        s_prop(props, "label", kv, ok);
        *ok = *ok && kv;
        free(kv);
    }
    return props;
}

static json_t *s_oscal_observation(const json_t *r, const char *uuid,
                                   const char *obs_uuid, const char *collected,
                                   const char *host_id, const char *target_id,
                                   const char *target_text, bool *ok)
{
    const char *action = s_str(r, "action"), *job = s_str(r, "job"),
               *hostname = s_str(json_object_get(r, "host"), "hostname"),
               *message = s_str(r, "message"), *reason = s_str(r, "reason");
    char *title = s_fmt("%s%s%s%s%s", action ? action : "job",
                        *target_text ? " " : "", target_text,
                        hostname ? " on " : "", hostname ? hostname : "");
    char *desc = s_fmt("Job %s%s%s ran %s: %s.%s%s%s%s",
                       job ? job : "(unnamed)", s_str(r, "spec") ? " of "
                                                                 : "",
                       s_str(r, "spec") ? s_str(r, "spec") : "",
                       action ? action : "(unknown action)", s_verdict(r),
                       message ? "\n\n" : "", message ? message : "",
                       reason ? "\n\nReason: " : "", reason ? reason : "");
    json_t *obs = json_object(), *subjects = json_array();
    s_put_str(obs, "uuid", obs_uuid, ok);
    s_put_line(obs, "title", title, ok);
    s_put_str(obs, "description", desc, ok);
    *ok = *ok && title && desc;
    free(title);
    free(desc);
    s_put_array(obs, "props", s_oscal_obs_props(r, uuid, obs_uuid, ok), ok);
    s_put(obs, "methods", json_pack("[s]", "TEST"), ok);
    if (*host_id) {
        json_t *s = json_pack("{s:s, s:s}", "subject-uuid", host_id, "type",
                              "inventory-item");
        if (s && hostname)
            s_put_line(s, "title", hostname, ok);
        s_push(subjects, s, ok);
    }
    if (*target_id) {
        json_t *s = json_pack("{s:s, s:s}", "subject-uuid", target_id,
                              "type", "resource");
        if (s && *target_text)
            s_put_line(s, "title", target_text, ok);
        s_push(subjects, s, ok);
    }
    s_put_array(obs, "subjects", subjects, ok);
    s_put_array(obs, "relevant-evidence", s_oscal_evidence(r, ok), ok);
    s_put_str(obs, "collected", collected, ok);
    s_put_str(obs, "expires", s_time_field(r, "expires", NULL), ok);
    return obs;
}

/* One finding per control the record is evidence of. */
static int s_oscal_findings(assay_export *self, const json_t *r,
                            const char *obs_uuid, const char *target_text)
{
    const json_t *controls = json_object_get(r, "controls");
    const char *job = s_str(r, "job"), *action = s_str(r, "action"),
               *message = s_str(r, "message"), *verdict = s_verdict(r);
    bool pass = s_passed(r);
    const char *reason = pass                       ? "pass"
                         : !strcmp(verdict, "fail") ? "fail"
                                                    : "other";
    size_t i;
    json_t *c;
    json_array_foreach(controls, i, c) {
        const char *id = s_str(c, "id"), *cat = s_str(c, "catalog");
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++) {
            const json_t *o = json_array_get(controls, k);
            dup = !strcmp(id, s_str(o, "id")) &&
                  !strcmp(cat ? cat : "", s_str(o, "catalog")
                                              ? s_str(o, "catalog")
                                              : "");
        }
        if (dup)
            continue;
        char fid[37];
        int rc = s_uuid(fid, "finding:%s:%s:%s", obs_uuid, cat ? cat : "",
                        id);
        if (rc)
            return rc;
        bool ok = true;
        char *title = s_fmt("%s: %s%s%s", id, action ? action : "job",
                            *target_text ? " " : "", target_text);
        char *desc = s_fmt("Job %s: %s.%s%s", job ? job : obs_uuid, verdict,
                           message ? "\n\n" : "", message ? message : "");
        json_t *fnd = json_object(), *props = json_array();
        s_put_str(fnd, "uuid", fid, &ok);
        s_put_line(fnd, "title", title, &ok);
        s_put_str(fnd, "description", desc, &ok);
        ok = ok && title && desc;
        free(title);
        free(desc);
        s_prop(props, "catalog", cat, &ok);
        s_put_array(fnd, "props", props, &ok);
        s_put(fnd, "target",
              json_pack("{s:s, s:s, s:{s:s, s:s}}", "type", "objective-id",
                        "target-id", id, "status", "state",
                        pass ? "satisfied" : "not-satisfied", "reason",
                        reason),
              &ok);
        s_put(fnd, "related-observations",
              json_pack("[{s:s}]", "observation-uuid", obs_uuid), &ok);
        rc = ok ? s_spool_json(&self->findings, fnd) : ASSAY_ENOMEM;
        json_decref(fnd);
        if (rc)
            return rc;
        if (assay_index_get(self->controls, id))
            continue;
        char *copy = strdup(id);
        if (!copy || assay_index_put(self->controls, id, copy)) {
            free(copy);
            return ASSAY_ENOMEM;
        }
        self->control_ids[self->n_controls++] = copy;
    }
    return 0;
}

/* The assessment log's entry for the record: what ran it, where. */
static int s_oscal_log(assay_export *self, const json_t *r,
                       const char *obs_uuid, const char *start,
                       const char *target_text)
{
    const json_t *plugin = json_object_get(r, "plugin");
    const char *action = s_str(r, "action"), *rt = s_str(r, "runtime"),
               *pname = s_str(plugin, "name"),
               *pver = s_str(plugin, "version");
    char id[37];
    int rc = s_uuid(id, "log:%s", obs_uuid);
    if (rc)
        return rc;
    bool ok = true;
    char *title = s_fmt("%s%s%s", action ? action : "job",
                        *target_text ? " " : "", target_text);
    char *desc = s_fmt("Job %s ran with plugin %s%s%s on runtime %s: %s.",
                       s_str(r, "job") ? s_str(r, "job") : obs_uuid,
                       pname ? pname : "(unknown)", pver ? " " : "",
                       pver ? pver : "", rt ? rt : "(none)", s_verdict(r));
    json_t *e = json_object(), *props = json_array();
    s_put_str(e, "uuid", id, &ok);
    s_put_line(e, "title", title, &ok);
    s_put_str(e, "description", desc, &ok);
    ok = ok && title && desc;
    free(title);
    free(desc);
    s_put_str(e, "start", start, &ok);
    s_put_str(e, "end", s_time_field(r, "ended", NULL), &ok);
    s_prop(props, "plugin", pname, &ok);
    s_prop(props, "plugin-version", pver, &ok);
    s_prop(props, "runtime", rt, &ok);
    s_prop_int(props, "attempt", json_object_get(r, "attempt"), &ok);
    s_put_array(e, "props", props, &ok);
    rc = ok ? s_spool_json(&self->log, e) : ASSAY_ENOMEM;
    json_decref(e);
    return rc;
}

/* What a record needs before anything of it is written: control ids
 * the schema takes, room for its new controls and host. */
static int s_oscal_check(assay_export *self, const json_t *r, bool new_run,
                         char *err, size_t errlen)
{
    const char *uuid = s_str(r, "uuid");
    const json_t *controls = json_object_get(r, "controls");
    if (controls && !json_is_null(controls) && !json_is_array(controls))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "record %.64s: \"controls\" must be an array",
                          uuid);
    size_t i, fresh = 0;
    json_t *c;
    json_array_foreach(controls, i, c) {
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *cat = json_object_get(c, "catalog");
        if (!s_token(id) || (cat && !json_is_null(cat) && !json_is_string(cat)))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "record %.64s: controls[%zu]: want {catalog, "
                              "id} with an id that is an OSCAL token (a "
                              "letter or '_', then letters, digits, '.', "
                              "'-' or '_')", uuid, i);
        bool seen = !new_run && assay_index_get(self->controls, id);
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcmp(id, s_str(json_array_get(controls, k), "id"));
        fresh += !seen;
    }
    if ((new_run ? 0 : self->n_controls) + fresh > ASSAY_CONTROLS_MAX)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "record %.64s: its run would name more than %d "
                          "distinct controls (a JobSpec has at most that "
                          "many)", uuid, ASSAY_CONTROLS_MAX);
    if (!new_run && self->n_hosts >= ASSAY_EXPORT_HOSTS_MAX) {
        char id[37];
        int rc = s_host_id(json_object_get(r, "host"), id);
        if (rc)
            return assay_errf(err, errlen, rc, "export: out of memory");
        if (*id && !assay_index_get(self->hosts, id))
            return assay_errf(err, errlen, ASSAY_ETOOBIG,
                              "record %.64s: its run would name more than "
                              "%d hosts", uuid, ASSAY_EXPORT_HOSTS_MAX);
    }
    return 0;
}

static int s_oscal_record(assay_export *self, const json_t *r)
{
    const char *uuid = s_str(r, "uuid");
    char obs_uuid[37], host_id[37], target_id[37];
    int64_t ms;
    int rc = s_obs_uuid(uuid, obs_uuid);
    if (rc)
        return rc;
    /* The run's start: the earliest started (else submitted); its end:
     * the latest ended. */
    const char *t = s_time_field(r, "started", &ms);
    if (!t)
        t = s_time_field(r, "submitted", &ms);
    if (t && strlen(t) < TIME_TEXT_MAX &&
        (!*self->start || ms < self->start_ms)) {
        strcpy(self->start, t);
        self->start_ms = ms;
    }
    const char *ended = s_time_field(r, "ended", &ms);
    if (ended && strlen(ended) < TIME_TEXT_MAX &&
        (!*self->end || ms > self->end_ms)) {
        strcpy(self->end, ended);
        self->end_ms = ms;
    }
    const char *collected = ended ? ended : t ? t : self->generated;
    char *target_text = s_target_text(json_object_get(r, "target"));
    if (!target_text)
        return ASSAY_ENOMEM;
    if (!(rc = s_oscal_host(self, json_object_get(r, "host"), host_id)))
        rc = s_oscal_target(self, r, obs_uuid, target_text, target_id);
    if (!rc) {
        bool ok = true;
        json_t *obs = s_oscal_observation(r, uuid, obs_uuid, collected,
                                          host_id, target_id, target_text,
                                          &ok);
        if (ok) {
            fputs(self->run_records ? ",\n" : "\n", self->out);
            rc = json_dumpf(obs, self->out, JSON_COMPACT) ? ASSAY_EIO : 0;
        }
        json_decref(obs);
        rc = ok ? rc : ASSAY_ENOMEM;
    }
    if (!rc)
        rc = s_oscal_findings(self, r, obs_uuid, target_text);
    if (!rc)
        rc = s_oscal_log(self, r, obs_uuid, t ? t : collected, target_text);
    free(target_text);
    return rc;
}

/* The run's sections that follow its observations. */
static int s_oscal_run_end(assay_export *self)
{
    FILE *f = self->out;
    int rc = 0;
    fputc(']', f);
    if (self->findings.n) {
        fputs(",\"findings\":[\n", f);
        rc = s_spool_drain(&self->findings, f);
        fputc(']', f);
    }
    bool ok = true;
    json_t *tail = json_object(), *sel = json_object();
    s_put_str(tail, "start", *self->start ? self->start : self->generated,
              &ok);
    s_put_str(tail, "end", *self->end ? self->end : NULL, &ok);
    if (self->n_controls) {
        json_t *ids = json_array();
        for (size_t i = 0; i < self->n_controls; i++)
            s_push(ids, json_pack("{s:s}", "control-id",
                                  self->control_ids[i]),
                   &ok);
        s_put(sel, "include-controls", ids, &ok);
    } else {
        s_put(sel, "include-all", json_object(), &ok);
    }
    s_put(tail, "reviewed-controls",
          json_pack("{s:[o]}", "control-selections", sel), &ok);
    if (!rc)
        rc = ok ? s_members(f, tail) : ASSAY_ENOMEM;
    json_decref(tail);
    if (!rc && self->items.n) {
        fputs(",\"local-definitions\":{\"inventory-items\":[\n", f);
        rc = s_spool_drain(&self->items, f);
        fputs("]}", f);
    }
    if (!rc && self->log.n) {
        fputs(",\"assessment-log\":{\"entries\":[\n", f);
        rc = s_spool_drain(&self->log, f);
        fputs("]}", f);
    }
    fputc('}', f);
    return rc;
}

/* A document without a record still has its one result: no evidence. */
static int s_oscal_empty(assay_export *self)
{
    char doc[37], id[37];
    int rc = s_uuid(doc, "document:%s:", self->generated);
    if (!rc)
        rc = s_uuid(id, "result:%s", doc);
    if (rc)
        return rc;
    json_t *res = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:[{s:s, s:{}}]}}", "uuid", id,
        "title", "No evidence", "description",
        "The export selected no evidence records.", "start",
        self->generated, "end", self->generated, "reviewed-controls",
        "control-selections", "description", "No control was assessed.",
        "include-all");
    if (!res)
        return ASSAY_ENOMEM;
    fputc('\n', self->out);
    rc = json_dumpf(res, self->out, JSON_COMPACT) ? ASSAY_EIO : 0;
    json_decref(res);
    return rc;
}

static int s_oscal_finish(assay_export *self)
{
    FILE *f = self->out;
    int rc = 0;
    if (!self->head && !(rc = s_oscal_head(self, NULL)))
        rc = s_oscal_empty(self);
    if (rc)
        return rc;
    fputs("\n]", f);
    if (self->resources.n) {
        fputs(",\"back-matter\":{\"resources\":[\n", f);
        rc = s_spool_drain(&self->resources, f);
        fputs("]}", f);
    }
    fputs("}}\n", f);
    return rc;
}

/* ---------------------------------------------------------------- runs */

static void s_run_reset(assay_export *self)
{
    free(self->spec);
    free(self->schedule);
    free(self->fire_time);
    free(self->run_title);
    self->spec = self->schedule = self->fire_time = self->run_title = NULL;
    self->run_records = 0;
    self->tests = self->failures = self->errors = self->skipped = 0;
    self->time_ms = 0;
    self->timed = false;
    self->start[0] = self->end[0] = '\0';
    for (size_t i = 0; i < self->n_controls; i++)
        free(self->control_ids[i]);
    self->n_controls = self->n_hosts = 0;
    assay_index_destroy(&self->controls);
    assay_index_destroy(&self->hosts);
    s_spool_drop(&self->cases);
    s_spool_drop(&self->findings);
    s_spool_drop(&self->log);
    s_spool_drop(&self->items);
    self->in_run = false;
}

static int s_run_end(assay_export *self)
{
    int rc = self->format == FMT_JUNIT ? s_junit_suite(self)
                                       : s_oscal_run_end(self);
    s_run_reset(self);
    return rc;
}

static char *s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int s_run_begin(assay_export *self, const json_t *r, const char *spec)
{
    self->in_run = true;
    self->spec = strdup(spec);
    self->schedule = s_dup(s_str(r, "schedule"));
    self->fire_time = s_dup(s_str(r, "fire_time"));
    self->run_title = s_dup(s_str(r, "title"));
    self->controls = assay_index_new();
    self->hosts = assay_index_new();
    if (!self->spec || !self->controls || !self->hosts ||
        (s_str(r, "schedule") && !self->schedule) ||
        (s_str(r, "fire_time") && !self->fire_time) ||
        (s_str(r, "title") && !self->run_title))
        return ASSAY_ENOMEM;
    int rc = 0;
    if (self->format == FMT_OSCAL) {
        char obs_uuid[37];
        if (!(rc = s_obs_uuid(s_str(r, "uuid"), obs_uuid)) && !self->head)
            rc = s_oscal_head(self, obs_uuid);
        if (!rc)
            rc = s_oscal_run_begin(self, r, obs_uuid);
    }
    self->runs++;
    return rc;
}

/* ---------------------------------------------------------------- API */

static int s_meta_text(const json_t *meta, const char *key, bool required,
                       char **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(meta, key);
    if ((!v || json_is_null(v)) && !required)
        return 0;
    if (!json_is_string(v) || !*json_string_value(v))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "export meta: \"%s\" must be a non-empty string",
                          key);
    return (*out = strdup(json_string_value(v))) ? 0 : ASSAY_ENOMEM;
}

assay_export *assay_export_new(FILE *out, const char *format,
                               const json_t *meta, char *err, size_t errlen)
{
    s_format fmt;
    if (format && !strcmp(format, "oscal-ar"))
        fmt = FMT_OSCAL;
    else if (format && !strcmp(format, "json"))
        fmt = FMT_JSON;
    else if (format && !strcmp(format, "junit"))
        fmt = FMT_JUNIT;
    else {
        assay_errf(err, errlen, ASSAY_EINVAL,
                   "unknown export format '%.64s' (known: %s)",
                   format ? format : "", ASSAY_EXPORT_FORMATS);
        return NULL;
    }
    if (!out || !json_is_object(meta)) {
        assay_errf(err, errlen, ASSAY_EINVAL,
                   "export: want an output stream and meta {generated, "
                   "tool_version, title?, member?}");
        return NULL;
    }
    assay_export *self = calloc(1, sizeof *self);
    if (!self) {
        assay_errf(err, errlen, ASSAY_ENOMEM, "export: out of memory");
        return NULL;
    }
    self->out = out;
    self->format = fmt;
    int rc = s_meta_text(meta, "generated", true, &self->generated, err,
                         errlen);
    if (!rc && !s_time(self->generated, NULL))
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "export meta: \"generated\" must be an RFC 3339 "
                        "date-time with a time zone, like "
                        "2026-12-03T02:00:00Z");
    if (!rc)
        rc = s_meta_text(meta, "tool_version", true, &self->tool_version,
                         err, errlen);
    if (!rc)
        rc = s_meta_text(meta, "title", false, &self->title, err, errlen);
    if (!rc)
        rc = s_meta_text(meta, "member", false, &self->member, err, errlen);
    /* OSCAL's head waits for the first record: its id names the
     * document. */
    if (!rc && fmt == FMT_JSON)
        rc = s_json_head(self);
    if (!rc && fmt == FMT_JUNIT)
        rc = s_junit_head(self);
    if (!rc)
        rc = s_io(out, "the export", err, errlen);
    if (rc) {
        if (rc == ASSAY_ENOMEM)
            assay_errf(err, errlen, rc, "export: out of memory");
        assay_export_destroy(&self);
    }
    return self;
}

/* The error text for a code from the writers, which leave err alone. */
static int s_fail(assay_export *self, int rc, char *err, size_t errlen)
{
    self->failed = rc;
    return assay_errf(err, errlen, rc, "export: %s",
                      rc == ASSAY_EIO ? "cannot write the document or a "
                                        "temporary file"
                                      : assay_strerror(rc));
}

int assay_export_record(assay_export *self, const json_t *r, char *err,
                        size_t errlen)
{
    if (!self)
        return assay_errf(err, errlen, ASSAY_EINVAL, "export: no exporter");
    if (self->failed)
        return assay_errf(err, errlen, self->failed,
                          "export: failed earlier (%s)",
                          assay_strerror(self->failed));
    if (self->finished)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "export: the document is finished");
    const char *uuid = s_str(r, "uuid");
    if (!json_is_object(r) || !uuid)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "export: an evidence record is an object with a "
                          "\"uuid\"");
    const json_t *sj = json_object_get(r, "spec");
    if (sj && !json_is_null(sj) && !json_is_string(sj))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "record %.64s: \"spec\" must be a string or null",
                          uuid);
    const char *spec = json_is_string(sj) ? json_string_value(sj) : "";
    bool new_run = !self->in_run || strcmp(self->spec, spec);
    int rc = 0;
    if (self->format == FMT_OSCAL &&
        (rc = s_oscal_check(self, r, new_run, err, errlen)))
        return rc; /* nothing written: the exporter goes on */
    if (self->format != FMT_JSON && self->in_run && new_run)
        rc = s_run_end(self);
    if (!rc && self->format != FMT_JSON && new_run)
        rc = s_run_begin(self, r, spec);
    if (!rc)
        rc = self->format == FMT_JSON    ? s_json_record(self, r)
             : self->format == FMT_JUNIT ? s_junit_case(self, r)
                                         : s_oscal_record(self, r);
    if (!rc && ((self->format == FMT_JUNIT && self->cases.f &&
                 ferror(self->cases.f)) ||
                (self->format == FMT_OSCAL &&
                 ((self->findings.f && ferror(self->findings.f)) ||
                  (self->log.f && ferror(self->log.f)) ||
                  (self->items.f && ferror(self->items.f)) ||
                  (self->resources.f && ferror(self->resources.f))))))
        rc = ASSAY_EIO;
    if (!rc && ferror(self->out))
        rc = ASSAY_EIO;
    if (rc)
        return s_fail(self, rc, err, errlen);
    self->records++;
    self->run_records++;
    return 0;
}

int assay_export_finish(assay_export *self, char *err, size_t errlen)
{
    if (!self)
        return assay_errf(err, errlen, ASSAY_EINVAL, "export: no exporter");
    if (self->failed)
        return assay_errf(err, errlen, self->failed,
                          "export: failed earlier (%s)",
                          assay_strerror(self->failed));
    if (self->finished)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "export: the document is finished");
    int rc = self->in_run ? s_run_end(self) : 0;
    if (!rc) {
        if (self->format == FMT_JSON)
            fputs(self->records ? "\n]}\n" : "]}\n", self->out);
        else if (self->format == FMT_JUNIT)
            fputs("</testsuites>\n", self->out);
        else
            rc = s_oscal_finish(self);
    }
    if (!rc && (fflush(self->out) || ferror(self->out)))
        rc = ASSAY_EIO;
    if (rc)
        return s_fail(self, rc, err, errlen);
    self->finished = true;
    return 0;
}

void assay_export_destroy(assay_export **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_export *self = *self_p;
    s_run_reset(self);
    s_spool_drop(&self->resources);
    free(self->generated);
    free(self->tool_version);
    free(self->title);
    free(self->member);
    free(self);
    *self_p = NULL;
}
