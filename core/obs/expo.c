/* core/obs/expo.c - the Prometheus text exposition format: see expo.h. */
#include "obs/expo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct assay_expo {
    char *buf;
    size_t len, cap;
    int failed;
};

assay_expo *assay_expo_new(void) { return calloc(1, sizeof(assay_expo)); }

void assay_expo_destroy(assay_expo **self_p)
{
    if (!*self_p)
        return;
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

static void s_put(assay_expo *self, const char *s, size_t n)
{
    if (self->failed)
        return;
    if (self->len + n + 1 > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->len + n + 1)
            cap *= 2;
        char *buf = realloc(self->buf, cap);
        if (!buf) {
            self->failed = 1;
            return;
        }
        self->buf = buf;
        self->cap = cap;
    }
    memcpy(self->buf + self->len, s, n);
    self->len += n;
    self->buf[self->len] = '\0';
}

static void s_puts(assay_expo *self, const char *s)
{
    s_put(self, s, strlen(s));
}

/* s with the format's escapes: \\ and \n always, \" in label values. */
static void s_escaped(assay_expo *self, const char *s, int quotes)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            s_puts(self, "\\\\");
        else if (*p == '\n')
            s_puts(self, "\\n");
        else if (*p == '"' && quotes)
            s_puts(self, "\\\"");
        else
            s_put(self, p, 1);
    }
}

static void s_value(assay_expo *self, double v)
{
    char text[64];
    if (isnan(v))
        snprintf(text, sizeof text, "NaN");
    else if (isinf(v))
        snprintf(text, sizeof text, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        snprintf(text, sizeof text, "%lld", (long long)v);
    else
        snprintf(text, sizeof text, "%.17g", v);
    s_puts(self, text);
}

void assay_expo_family(assay_expo *self, const char *name, const char *type,
                       const char *help)
{
    s_puts(self, "# HELP ");
    s_puts(self, name);
    s_puts(self, " ");
    s_escaped(self, help, 0);
    s_puts(self, "\n# TYPE ");
    s_puts(self, name);
    s_puts(self, " ");
    s_puts(self, type);
    s_puts(self, "\n");
}

/* name{labels[,le="le"]} value\n */
static void s_line(assay_expo *self, const char *name, const char *suffix,
                   const char *const *labels, const char *le, double value)
{
    s_puts(self, name);
    s_puts(self, suffix);
    int n = 0;
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2, n++) {
        s_puts(self, n ? "," : "{");
        s_puts(self, labels[i]);
        s_puts(self, "=\"");
        s_escaped(self, labels[i + 1], 1);
        s_puts(self, "\"");
    }
    if (le) {
        s_puts(self, n ? ",le=\"" : "{le=\"");
        s_puts(self, le);
        s_puts(self, "\"");
        n++;
    }
    s_puts(self, n ? "} " : " ");
    s_value(self, value);
    s_puts(self, "\n");
}

void assay_expo_sample(assay_expo *self, const char *name,
                       const char *const *labels, double value)
{
    s_line(self, name, "", labels, NULL, value);
}

void assay_expo_histogram(assay_expo *self, const char *name,
                          const char *const *labels, const double *bounds,
                          const uint64_t *counts, size_t n, double sum)
{
    uint64_t total = 0;
    char le[64];
    for (size_t i = 0; i <= n; i++) {
        total += counts[i];
        if (i < n)
            snprintf(le, sizeof le, "%g", bounds[i]);
        s_line(self, name, "_bucket", labels, i < n ? le : "+Inf",
               (double)total);
    }
    s_line(self, name, "_sum", labels, NULL, sum);
    s_line(self, name, "_count", labels, NULL, (double)total);
}

const char *assay_expo_text(const assay_expo *self, size_t *len)
{
    if (len)
        *len = self->failed ? 0 : self->len;
    return self->failed ? NULL : self->buf ? self->buf : "";
}
