/* core/bin/ctl_evidence.c - assayctl export and drift: the evidence
 * records of assay.jobs (view "evidence"), page by page, streamed into a
 * document (export.h) or sifted for what changed. Memory does not grow
 * with the records: each page is written and dropped. */
#include "ctl_evidence.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <assay/version.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "cli.h"
#include "export.h"
#include "proto/cpmsg.h"
#include "proto/names.h"
#include "sched/def.h"

/* Records asked for per page: a page of full records stays well inside
 * the protocol's message limit. */
#define S_PAGE 200

typedef int (*s_record_fn)(void *arg, const json_t *record);

/* The query the options say; false (said why) if a time is bad. */
static bool s_query(const assay_ctl_opts *o, const char *cmd,
                    assay_cp_jobs *q)
{
    char err[256];
    *q = (assay_cp_jobs){.spec = o->run,
                         .schedule = o->schedule,
                         .action = o->action,
                         .runtime = o->runtime,
                         .state = o->state,
                         .labels = o->labels,
                         .limit = S_PAGE,
                         .evidence = true};
    if ((o->since && assay_sched_time(o->since, "--since", &q->since_ms, err,
                                      sizeof err)) ||
        (o->until && assay_sched_time(o->until, "--until", &q->until_ms, err,
                                      sizeof err))) {
        fprintf(stderr, "assayctl: %s %s\n", cmd, err);
        return false;
    }
    return true;
}

/* Every record the query matches, to fn, page by page; the exit code. */
static int s_each(const assay_ctl_opts *o, assay_cp_jobs *q, s_record_fn fn,
                  void *arg)
{
    assay_ctl_session *s;
    int code = assay_ctl_open(o, &s);
    if (code)
        return code;
    char cursor[128] = "";
    for (;;) {
        q->after = *cursor ? cursor : NULL;
        json_t *r = assay_ctl_call(s, ASSAY_SVC_JOBS, assay_cp_pack_jobs(q),
                                   &code);
        if (!r)
            break;
        size_t i;
        json_t *rec;
        json_array_foreach(json_object_get(r, "jobs"), i, rec) {
            if ((code = fn(arg, rec)))
                break;
        }
        const char *next = json_string_value(json_object_get(r, "next"));
        bool more = !code && next && *next && strlen(next) < sizeof cursor &&
                    strcmp(next, cursor); /* no progress: a broken server */
        if (more)
            snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(r);
        if (!more)
            break;
    }
    assay_ctl_close(&s);
    return code;
}

static int s_export_one(void *arg, const json_t *record)
{
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_export_record(arg, record, err, sizeof err);
    if (!rc)
        return 0;
    fprintf(stderr, "assayctl: export: %s\n", err);
    /* A record refused for what it holds is left out; the rest go on. */
    return rc == ASSAY_EINVAL || rc == ASSAY_ETOOBIG ? 0 : ASSAY_EXIT_IO;
}

int assay_ctl_export(const assay_ctl_opts *o)
{
    assay_cp_jobs q;
    if (!s_query(o, "export", &q))
        return ASSAY_EXIT_USAGE;
    if (o->run && o->schedule) {
        fprintf(stderr, "assayctl: export takes --run or --schedule, not "
                        "both\n");
        return ASSAY_EXIT_USAGE;
    }
    char now[40], err[ASSAY_ERRMSG_SIZE];
    time_t t = time(NULL);
    struct tm tm;
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    json_t *meta = json_pack("{s:s, s:s, s:s}", "generated", now,
                             "tool_version", ASSAY_VERSION_STRING, "member",
                             o->endpoint);
    assay_export *x = assay_export_new(stdout, o->format ? o->format
                                                         : "oscal-ar",
                                       meta, err, sizeof err);
    json_decref(meta);
    if (!x) {
        fprintf(stderr, "assayctl: export: %s\n", err);
        return ASSAY_EXIT_USAGE;
    }
    int code = s_each(o, &q, s_export_one, x);
    if (!code && assay_export_finish(x, err, sizeof err)) {
        fprintf(stderr, "assayctl: export: %s\n", err);
        code = ASSAY_EXIT_IO;
    }
    assay_export_destroy(&x);
    return code;
}

typedef struct {
    bool json;
    size_t regressed, fixed, seen;
} s_drift;

/* The controls of a record as "catalog:id ..." text. */
static void s_controls_text(const json_t *rec, char *out, size_t size)
{
    out[0] = '\0';
    size_t i, len = 0;
    json_t *c;
    json_array_foreach(json_object_get(rec, "controls"), i, c) {
        int n = snprintf(out + len, size - len, "%s%s", len ? "," : "",
                         json_string_value(json_object_get(c, "id")));
        if (n < 0 || (size_t)n >= size - len)
            break;
        len += (size_t)n;
    }
    if (!len)
        snprintf(out, size, "-");
}

static int s_drift_one(void *arg, const json_t *rec)
{
    s_drift *d = arg;
    d->seen++;
    const json_t *drift = json_object_get(rec, "drift");
    const char *change = json_string_value(json_object_get(drift, "change"));
    bool regressed = change && !strcmp(change, "regressed"),
         fixed = change && !strcmp(change, "fixed");
    if (!regressed && !fixed)
        return 0;
    d->regressed += regressed;
    d->fixed += fixed;
    if (d->json) {
        char *line = json_dumps(rec, JSON_COMPACT);
        if (line)
            puts(line);
        free(line);
        return 0;
    }
    char controls[256], changed[512] = "";
    s_controls_text(rec, controls, sizeof controls);
    size_t i, len = 0;
    json_t *k;
    json_array_foreach(json_object_get(drift, "changed"), i, k) {
        int n = snprintf(changed + len, sizeof changed - len, "%s%s",
                         len ? " " : "", json_string_value(k));
        if (n < 0 || (size_t)n >= sizeof changed - len)
            break;
        len += (size_t)n;
    }
    const json_t *host = json_object_get(rec, "host");
    const char *hn = json_string_value(json_object_get(host, "hostname")),
               *rt = json_string_value(json_object_get(rec, "runtime"));
    const char *prev = json_string_value(json_object_get(drift, "previous")),
               *now = json_string_value(json_object_get(rec, "status"));
    printf("%-9s %-20s %-20s %-30s %s -> %s%s%s\n",
           regressed ? "REGRESSED" : "FIXED", hn ? hn : rt ? rt : "-",
           controls, json_string_value(json_object_get(rec, "job")),
           prev ? prev : "-", now ? now : json_string_value(json_object_get(
                                                  rec, "state")),
           *changed ? "  changed: " : "", changed);
    return 0;
}

int assay_ctl_drift(const assay_ctl_opts *o)
{
    assay_cp_jobs q;
    if (!s_query(o, "drift", &q))
        return ASSAY_EXIT_USAGE;
    s_drift d = {.json = o->json};
    if (!o->json)
        printf("%-9s %-20s %-20s %-30s %s\n", "CHANGE", "HOST", "CONTROLS",
               "JOB", "STATUS");
    int code = s_each(o, &q, s_drift_one, &d);
    if (!code && !o->json)
        printf("%zu regressed, %zu fixed, of %zu results\n", d.regressed,
               d.fixed, d.seen);
    return code;
}
