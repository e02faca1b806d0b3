/* core/bin/ctl_schedule.c - assayctl schedule: create, list, show, pause,
 * resume, trigger, backfill and delete the cluster's schedules
 * (assay.schedule; docs/schedules.md). */
#include "ctl_schedule.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/errtext.h"
#include "cli.h"
#include "proto/cpmsg.h"
#include "proto/names.h"
#include "sched/def.h"

static int s_usage(void)
{
    fprintf(stderr,
            "assayctl: schedule create FILE.json | list | show ID | pause ID "
            "[--note TEXT] | resume ID | trigger ID | backfill ID --from "
            "TIME --to TIME [--dry-run] | delete ID\n");
    return ASSAY_EXIT_USAGE;
}

static void s_print_json(const json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    fputc('\n', stdout);
}

/* "2026-03-29T01:00:00Z" for ms (seconds precision), "-" for none. */
static const char *s_utc(const json_t *ms, char *buf, size_t len)
{
    if (!json_is_integer(ms))
        return "-";
    char t[40];
    assay_sched_time_text(json_integer_value(ms), t, sizeof t);
    snprintf(buf, len, "%.19sZ", t);
    return buf;
}

static json_t *s_load(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > (off_t)ASSAY_SCHED_DEF_MAX) {
        fprintf(stderr, "assayctl: %s: larger than %u bytes\n", path,
                ASSAY_SCHED_DEF_MAX);
        return NULL;
    }
    json_error_t e;
    json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (!v)
        fprintf(stderr, "assayctl: %s:%d:%d: %s\n", path, e.line, e.column,
                e.text);
    return v;
}

static void s_list(const json_t *reply)
{
    const json_t *list = json_object_get(reply, "schedules"), *s;
    size_t i;
    printf("%-24s %-7s %-22s %-21s %8s %7s %7s %7s\n", "SCHEDULE", "STATE",
           "WHEN", "NEXT (UTC)", "STARTED", "SKIPPED", "MISSED", "FAILED");
    json_array_foreach(list, i, s) {
        const json_t *def = json_object_get(s, "def"),
                     *counts = json_object_get(s, "counts");
        const json_t *cron = json_object_get(def, "cron");
        char when[64] = "", next[32];
        if (json_array_size(cron))
            snprintf(when, sizeof when, "%s",
                     json_string_value(json_array_get(cron, 0)));
        else
            snprintf(when, sizeof when, "every %llds",
                     (long long)json_integer_value(json_object_get(
                         json_array_get(json_object_get(def, "intervals"), 0),
                         "every")));
        printf("%-24s %-7s %-22.22s %-21s %8lld %7lld %7lld %7lld\n",
               json_string_value(json_object_get(s, "id")),
               json_string_value(json_object_get(s, "state")), when,
               s_utc(json_object_get(s, "next_ms"), next, sizeof next),
               (long long)json_integer_value(json_object_get(counts,
                                                             "started")),
               (long long)(json_integer_value(json_object_get(counts,
                                                              "skipped")) +
                           json_integer_value(json_object_get(
                               counts, "nonexistent"))),
               (long long)json_integer_value(json_object_get(counts,
                                                             "missed")),
               (long long)json_integer_value(json_object_get(counts,
                                                             "failed")));
    }
    const char *more = json_string_value(json_object_get(reply, "next"));
    if (more)
        printf("(more: the next page starts after %s)\n", more);
}

static void s_show(const json_t *reply)
{
    const json_t *s = json_object_get(reply, "schedule"),
                 *def = json_object_get(s, "def"),
                 *counts = json_object_get(s, "counts");
    char *cron = json_dumps(json_object_get(def, "cron"), JSON_COMPACT);
    char *ivs = json_dumps(json_object_get(def, "intervals"), JSON_COMPACT);
    printf("schedule %s: %s%s%s\n", json_string_value(json_object_get(s, "id")),
           json_string_value(json_object_get(s, "state")),
           json_object_get(s, "note") ? ": " : "",
           json_object_get(s, "note")
               ? json_string_value(json_object_get(s, "note"))
               : "");
    printf("  cron %s, intervals %s, time zone %s, overlap %s, catch-up "
           "window %llds, keep %lld runs\n",
           cron ? cron : "[]", ivs ? ivs : "[]",
           json_string_value(json_object_get(def, "timezone")),
           json_string_value(json_object_get(def, "overlap")),
           (long long)json_integer_value(json_object_get(def,
                                                         "catchup_window")),
           (long long)json_integer_value(json_object_get(def, "keep_runs")));
    free(cron);
    free(ivs);
    printf("  fires: %lld started, %lld buffered, %lld skipped, %lld "
           "nonexistent, %lld missed, %lld failed; %lld runs held, %lld "
           "going on\n",
           (long long)json_integer_value(json_object_get(counts, "started")),
           (long long)json_integer_value(json_object_get(counts, "buffered")),
           (long long)json_integer_value(json_object_get(counts, "skipped")),
           (long long)json_integer_value(
               json_object_get(counts, "nonexistent")),
           (long long)json_integer_value(json_object_get(counts, "missed")),
           (long long)json_integer_value(json_object_get(counts, "failed")),
           (long long)json_integer_value(json_object_get(s, "held")),
           (long long)json_integer_value(json_object_get(s, "active")));
    printf("\nnext fires:\n");
    const json_t *v;
    size_t i;
    json_array_foreach(json_object_get(s, "next"), i, v) {
        char utc[32];
        printf("  %s  (%s)\n", json_string_value(json_object_get(v, "local")),
               s_utc(json_object_get(v, "nominal_ms"), utc, sizeof utc));
    }
    printf("\nlast runs:\n");
    json_array_foreach(json_object_get(s, "runs"), i, v) {
        const json_t *jobs = json_object_get(v, "jobs");
        char *js = jobs ? json_dumps(jobs, JSON_COMPACT) : NULL;
        long long n = json_integer_value(json_object_get(v, "count"));
        printf("  %s  %-8s %-11s", json_string_value(json_object_get(v, "local")),
               json_string_value(json_object_get(v, "kind")),
               json_string_value(json_object_get(v, "outcome")));
        if (n > 1)
            printf(" x%lld", n);
        if (json_object_get(v, "spec"))
            printf(" %s", json_string_value(json_object_get(v, "spec")));
        if (js)
            printf(" %s", js);
        if (json_object_get(v, "reason"))
            printf(": %s", json_string_value(json_object_get(v, "reason")));
        putchar('\n');
        free(js);
    }
}

int assay_ctl_schedule(char **args, int n, const assay_ctl_opts *o)
{
    if (n < 1)
        return s_usage();
    const char *sub = args[0];
    assay_cp_sched req = {.op = -1};
    for (int op = 0; assay_cp_sched_op_name(op); op++)
        if (!strcmp(sub, assay_cp_sched_op_name(op)))
            req.op = (assay_cp_sched_op)op;
    bool one = req.op != ASSAY_CP_SCHED_LIST;
    if ((int)req.op < 0 || n != 1 + one)
        return s_usage();
    if ((o->note && req.op != ASSAY_CP_SCHED_PAUSE) ||
        ((o->from || o->to || o->dry_run) &&
         req.op != ASSAY_CP_SCHED_BACKFILL)) {
        fprintf(stderr, "assayctl: --note is for schedule pause; --from, "
                        "--to and --dry-run for schedule backfill\n");
        return ASSAY_EXIT_USAGE;
    }
    json_t *def = NULL;
    if (req.op == ASSAY_CP_SCHED_CREATE) {
        if (!(def = s_load(args[1])))
            return ASSAY_EXIT_USAGE;
        req.schedule = def;
    } else if (one) {
        req.id = args[1];
    }
    req.note = o->note;
    req.from = o->from;
    req.to = o->to;
    req.dry_run = o->dry_run;
    json_t *reply = NULL;
    int code = assay_ctl_request(o, ASSAY_SVC_SCHEDULE,
                                 assay_cp_pack_sched(&req), &reply);
    json_decref(def);
    if (code)
        return code;
    if (o->json)
        s_print_json(reply);
    else if (req.op == ASSAY_CP_SCHED_LIST)
        s_list(reply);
    else if (req.op == ASSAY_CP_SCHED_SHOW)
        s_show(reply);
    else if (req.op == ASSAY_CP_SCHED_BACKFILL)
        printf("%s %lld fires of %s\n",
               req.dry_run ? "would run" : "backfilled",
               (long long)json_integer_value(json_object_get(reply, "fires")),
               json_string_value(json_object_get(reply, "schedule")));
    else if (req.op == ASSAY_CP_SCHED_TRIGGER)
        printf("%s: %s%s%s\n", json_string_value(json_object_get(reply, "spec")),
               json_string_value(json_object_get(reply, "outcome")),
               json_object_get(reply, "reason") ? ": " : "",
               json_object_get(reply, "reason")
                   ? json_string_value(json_object_get(reply, "reason"))
                   : "");
    else
        printf("%s %s\n", json_string_value(json_object_get(reply, "schedule")),
               req.op == ASSAY_CP_SCHED_CREATE   ? "created"
               : req.op == ASSAY_CP_SCHED_PAUSE  ? "paused"
               : req.op == ASSAY_CP_SCHED_RESUME ? "resumed"
                                                 : "deleted (runs going on "
                                                   "finish)");
    json_decref(reply);
    return 0;
}
