/* core/bin/render.c - result and catalogue tables (see render.h). */
#include "render.h"

#include <string.h>

#include "proto/names.h"

static const char *s_str(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* Prints at most `width` bytes of s on one line (newlines become spaces). */
static void s_clip(FILE *out, const char *s, size_t width)
{
    size_t n = 0;
    for (; s[n] && n < width; n++)
        fputc(s[n] == '\n' || s[n] == '\t' ? ' ' : s[n], out);
    if (s[n])
        fputs("...", out);
}

int assay_render_width(const json_t *rows, const char *key, int min, int max)
{
    size_t i, width = (size_t)min;
    json_t *r;
    json_array_foreach(rows, i, r) {
        size_t n = strlen(s_str(r, key));
        width = n > width ? n : width;
    }
    return width > (size_t)max ? max : (int)width;
}

void assay_render_cell(FILE *out, const char *s, int width)
{
    if (!s)
        s = ""; /* a field missing from a member's reply */
    size_t n = strlen(s);
    if (n <= (size_t)width || width < 4)
        fprintf(out, "%-*s", width, s);
    else
        fprintf(out, "%.*s...", width - 3, s);
}

void assay_render_results(FILE *out, const json_t *results)
{
    size_t i, counts[3] = {0, 0, 0};
    json_t *r;
    int aw = assay_render_width(results, "action", 16, ASSAY_RENDER_ACTION_MAX);
    fprintf(out, "%-24s %-*s %-8s %-6s %-3s %9s  %s\n", "JOB", aw, "ACTION",
            "VERSION", "STATUS", "TRY", "TIME", "MESSAGE");
    json_array_foreach(results, i, r) {
        double ms = (double)json_integer_value(
                        json_object_get(r, "duration_us")) / 1000.0;
        const char *status = s_str(r, "status");
        counts[!strcmp(status, "pass") ? 0 : !strcmp(status, "fail") ? 1 : 2]++;
        const char *msg = s_str(r, "message");
        const char *reason = s_str(r, "reason");
        fprintf(out, "%-24s ", s_str(r, "job"));
        assay_render_cell(out, s_str(r, "action"), aw);
        fprintf(out, " %-8s %-6s %-3lld %7.1fms  ", s_str(r, "version"), status,
                (long long)json_integer_value(json_object_get(r, "attempt")),
                ms);
        s_clip(out, *msg ? msg : reason, 100);
        if (!strcmp(status, "error") && *reason && strcmp(reason, msg)) {
            fputs(" [", out);
            s_clip(out, reason, 60);
            fputc(']', out);
        }
        fputc('\n', out);
        size_t k;
        json_t *f;
        json_array_foreach(json_object_get(r, "findings"), k, f) {
            fprintf(out, "    %-13s %s", s_str(f, "state"), s_str(f, "title"));
            if (*s_str(f, "subject"))
                fprintf(out, " (%s)", s_str(f, "subject"));
            const char *key;
            json_t *v;
            json_object_foreach(json_object_get(f, "evidence"), key, v) {
                fprintf(out, "  %s=", key);
                s_clip(out, json_string_value(v) ? json_string_value(v) : "",
                       60);
            }
            fputc('\n', out);
        }
    }
    fprintf(out, "%zu jobs: %zu passed, %zu failed, %zu errors\n",
            json_array_size(results), counts[0], counts[1], counts[2]);
}

void assay_render_catalog(FILE *out, const json_t *catalog)
{
    size_t i, k;
    json_t *p, *a;
    json_array_foreach(json_object_get(catalog, "plugins"), i, p) {
        fprintf(out, "%s %s  (%s)  %s\n    %s", s_str(p, "name"),
                s_str(p, "version"), s_str(p, "license"),
                s_str(p, "description"),
                *s_str(p, "source") ? s_str(p, "source") : s_str(p, "path"));
        if (*s_str(p, "loaded_at"))
            fprintf(out, "  (loaded %s)", s_str(p, "loaded_at"));
        fputc('\n', out);
        json_array_foreach(json_object_get(p, "actions"), k, a)
            fprintf(out, "    %s.%s(%s)\n        %s\n", s_str(p, "name"),
                    s_str(a, "name"), s_str(a, "signature"), s_str(a, "help"));
    }
    json_t *refused = json_object_get(catalog, "refused");
    if (json_array_size(refused))
        fprintf(out, "\nrefused:\n");
    json_array_foreach(refused, i, p)
        fprintf(out, "    %s\n", s_str(p, "reason"));
}

/* "+name version" for each plugin of `list`, with `sign`. */
static void s_plugins(FILE *out, const json_t *list, char sign)
{
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
        fprintf(out, " %c%s %s", sign, s_str(p, "name"), s_str(p, "version"));
}

void assay_render_event(FILE *out, const char *topic, const json_t *body)
{
    const json_t *res = json_object_get(body, "result");
    const char *reason = json_string_value(json_object_get(body, "reason"));
    fprintf(out, "%-16s %-28s", topic, s_str(body, "id"));
    if (!strcmp(topic, ASSAY_EV_JOB_RUNNING)) {
        fprintf(out, " on %s, attempt %lld", s_str(body, "runtime"),
                (long long)json_integer_value(json_object_get(body,
                                                              "attempt")));
    } else if (!strcmp(topic, ASSAY_EV_RUNTIME_PLUGINS)) {
        size_t i;
        json_t *f;
        s_plugins(out, json_object_get(body, "added"), '+');
        s_plugins(out, json_object_get(body, "removed"), '-');
        json_array_foreach(json_object_get(body, "refused"), i, f)
            fprintf(out, " [refused: %s]", s_str(f, "reason"));
    } else if (res) {
        fprintf(out, " %s", s_str(res, "status"));
    }
    if (reason)
        fprintf(out, " (%s)", reason);
    fputc('\n', out);
}

void assay_render_progress(FILE *out, double elapsed_s, const json_t *jobs)
{
    if (!jobs) {
        fputs("\r\033[K", out);
        fflush(out);
        return;
    }
    size_t i, ended = 0, failed = 0, running = 0, queued = 0;
    const json_t *j;
    json_array_foreach(jobs, i, j) {
        const char *st = json_string_value(json_object_get(j, "state"));
        if (!st)
            continue;
        if (!strcmp(st, "running"))
            running++;
        else if (!strcmp(st, "queued"))
            queued++;
        else
            ended++;
        failed += !strcmp(st, "failed");
    }
    fprintf(out,
            "\r\033[K[%6.1fs] wait: ended %zu of %zu (failed %zu), running "
            "%zu, queued %zu, %.1f/s",
            elapsed_s, ended, json_array_size(jobs), failed, running, queued,
            elapsed_s > 0 ? (double)ended / elapsed_s : 0.0);
    fflush(out);
}
