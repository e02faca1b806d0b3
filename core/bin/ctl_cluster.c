/* core/bin/ctl_cluster.c - assayctl against a running cluster, through
 * libassay-client (assay/client.h): requests and the event stream. */
#include "ctl_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <assay/client.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "cli.h"
#include "proto/cpmsg.h"
#include "proto/names.h"
#include "render.h"
#include "sched/def.h"

typedef struct {
    assay_client *cl;
    const assay_ctl_opts *o;
} s_client;

/* A client of `endpoints` (control plane) or `events` (watch). */
static int s_open(s_client *c, const assay_ctl_opts *o, const char *endpoints,
                  const char *events)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_client_opts co = ASSAY_CLIENT_OPTS_INIT;
    co.endpoints = endpoints;
    co.events = events;
    co.timeout_ms = o->timeout_ms;
    co.modules_dir = o->modules_dir;
    co.keys_dir = o->keys_dir;
    co.key = o->key;
    co.security = o->plain ? ASSAY_CLIENT_SECURITY_NONE
                           : ASSAY_CLIENT_SECURITY_CURVE;
    c->o = o;
    int rc = assay_client_new(&co, &c->cl, err, sizeof err);
    if (rc) {
        fprintf(stderr, "assayctl: %s\n", err);
        return rc == ASSAY_EINVAL ? ASSAY_EXIT_USAGE : ASSAY_EXIT_UNAVAILABLE;
    }
    return 0;
}

/* One request/reply. Returns the reply body (caller decrefs) or NULL after
 * printing why; *code gets the exit code for that failure. */
/* A request's outcome: the reply body, or NULL after printing why with
 * *code set for that failure. */
static json_t *s_outcome(s_client *c, int rc, json_t *reply, int *code)
{
    if (!rc)
        return reply;
    fprintf(stderr, "assayctl: %s\n", assay_client_error(c->cl));
    *code = reply && rc == ASSAY_EPERM ? ASSAY_EXIT_NOPERM
            : reply && (rc == ASSAY_ENOENT || rc == ASSAY_EINVAL ||
                        rc == ASSAY_EEXIST ||
                        rc == ASSAY_ETYPE || rc == ASSAY_ERANGE ||
                        rc == ASSAY_ETOOBIG || rc == ASSAY_EPARSE)
                ? ASSAY_EXIT_DATA
                : ASSAY_EXIT_UNAVAILABLE;
    json_decref(reply);
    return NULL;
}

static json_t *s_call(s_client *c, const char *service, json_t *body,
                      int *code)
{
    json_t *reply = NULL;
    int rc = assay_client_call(c->cl, service, body, &reply);
    json_decref(body);
    return s_outcome(c, rc, reply, code);
}

static void s_dump(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
}

/* A job as a result row for render.c: completed jobs show their result;
 * failed and cancelled ones an error with the reason. */
static json_t *s_row(const json_t *job)
{
    const json_t *res = json_object_get(job, "result");
    /* Without a result the state stands in for the status (failed,
     * cancelled, or still queued/running). */
    json_t *row = res ? json_deep_copy(res)
                      : json_pack("{s:O, s:s, s:[], s:{}}", "status",
                                  json_object_get(job, "state"), "message",
                                  "", "findings", "data");
    const char *reason = json_string_value(json_object_get(job, "reason"));
    if (!res && reason)
        json_object_set_new(row, "reason", json_string(reason));
    if (!res)
        json_object_set_new(row, "message",
                            json_string(json_string_value(
                                json_object_get(job, "state"))));
    static const char *copy[] = {"action", "version", "attempt", "runtime"};
    for (size_t i = 0; i < 4; i++)
        json_object_set(row, copy[i], json_object_get(job, copy[i]));
    json_object_set(row, "job", json_object_get(job, "id"));
    return row;
}

static void s_progress(void *arg, const json_t *jobs)
{
    int64_t t0 = *(const int64_t *)arg;
    assay_render_progress(stderr, (double)(assay_now_ms() - t0) / 1000.0,
                          jobs);
}

/* Waits until every job of every id (job or JobSpec) has ended, then
 * prints them; bounded by --wait-ms when given. On a terminal (not with
 * --json) a progress line on stderr says how far it got. */
static int s_wait(s_client *c, char **ids, int n)
{
    json_t *jobs = NULL;
    int64_t t0 = assay_now_ms();
    bool live = !c->o->json && isatty(STDERR_FILENO);
    int rc = assay_client_wait_progress(
        c->cl, (const char *const *)ids, (size_t)n, c->o->wait_ms, &jobs,
        live ? s_progress : NULL, &t0);
    if (live)
        assay_render_progress(stderr, 0, NULL);
    if (rc == ASSAY_ETIMEOUT && jobs) {
        json_decref(jobs);
        fprintf(stderr, "assayctl: wait: jobs still running after %lld "
                        "ms\n", (long long)c->o->wait_ms);
        return ASSAY_EXIT_TEMPFAIL;
    }
    if (rc) {
        fprintf(stderr, "assayctl: %s\n", assay_client_error(c->cl));
        return rc == ASSAY_ENOENT ? ASSAY_EXIT_DATA : ASSAY_EXIT_UNAVAILABLE;
    }
    json_t *rows = json_array();
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j)
        json_array_append_new(rows, s_row(j));
    json_decref(jobs);
    if (c->o->json)
        s_dump(rows);
    else
        assay_render_results(stdout, rows);
    int code = assay_cli_exit_code(rows);
    json_decref(rows);
    return code;
}

static int s_submit(s_client *c, char **args, int n)
{
    if (n != 1) {
        fprintf(stderr, "assayctl: submit needs exactly one SPEC.json\n");
        return ASSAY_EXIT_USAGE;
    }
    json_error_t je;
    json_t *spec = json_load_file(args[0], JSON_REJECT_DUPLICATES, &je);
    if (!spec) {
        if (je.line > 0)
            fprintf(stderr, "assayctl: %s:%d:%d: %s\n", args[0], je.line,
                    je.column, je.text);
        else
            fprintf(stderr, "assayctl: %s: %s\n", args[0], je.text);
        return ASSAY_EXIT_DATA;
    }
    /* Without an id, the client gives one: a retry after a lost reply (a
     * leader change) then returns the original jobs. */
    int code = 0;
    json_t *r = s_call(c, ASSAY_SVC_SUBMIT, spec, &code);
    if (!r)
        return code;
    const char *id = json_string_value(json_object_get(r, "spec"));
    if (c->o->json && !c->o->wait) {
        s_dump(r);
    } else if (!c->o->wait || !c->o->json) {
        printf("spec %s%s\n", id,
               json_is_true(json_object_get(r, "duplicate"))
                   ? " (already submitted: original jobs)"
                   : "");
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(r, "jobs"), i, j)
            printf("job %s\n", json_string_value(j));
    }
    if (c->o->wait) {
        char *ids[] = {(char *)id};
        code = s_wait(c, ids, 1);
    }
    json_decref(r);
    return code;
}

/* Calls `service` and prints the reply: as JSON with --json, else with
 * `render`. Returns the exit code. */
static int s_show(s_client *c, const char *service, json_t *body,
                  void (*render)(const json_t *reply))
{
    int code = 0;
    json_t *r = s_call(c, service, body, &code);
    if (!r)
        return code;
    if (c->o->json)
        s_dump(r);
    else
        render(r);
    json_decref(r);
    return 0;
}

static void s_render_job(const json_t *r)
{
    json_t *rows = json_array(), *jobs = json_object_get(r, "jobs");
    size_t i;
    json_t *j;
    if (jobs)
        json_array_foreach(jobs, i, j) json_array_append_new(rows, s_row(j));
    else
        json_array_append_new(rows, s_row(json_object_get(r, "job")));
    assay_render_results(stdout, rows);
    json_decref(rows);
    const json_t *by =
        json_object_get(jobs ? json_array_get(jobs, 0) : json_object_get(r,
                                                                     "job"),
                        "submitted_by");
    if (by)
        printf("submitted by %s (%s)\n",
               json_string_value(json_object_get(by, "name")),
               json_string_value(json_object_get(by, "role")));
}

static int s_job(s_client *c, char **args, int n)
{
    if (n != 1) {
        fprintf(stderr, "assayctl: job needs one job or JobSpec id\n");
        return ASSAY_EXIT_USAGE;
    }
    return s_show(c, ASSAY_SVC_JOB, json_pack("{s:s}", "id", args[0]),
                  s_render_job);
}

static void s_render_jobs(const json_t *r)
{
    const json_t *jobs = json_object_get(r, "jobs");
    int aw = assay_render_width(jobs, "action", 18, ASSAY_RENDER_ACTION_MAX);
    printf("%-28s %-*s %-10s %-3s %-16s %s\n", "JOB", aw, "ACTION", "STATE",
           "TRY", "RUNTIME", "REASON");
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) {
        /* A queued job's `waiting` says more than a stale reason. */
        const char *reason = json_string_value(json_object_get(j, "waiting"));
        if (!reason)
            reason = json_string_value(json_object_get(j, "reason"));
        printf("%-28s ", json_string_value(json_object_get(j, "id")));
        assay_render_cell(stdout,
                          json_string_value(json_object_get(j, "action")), aw);
        printf(" %-10s %-3lld %-16s %s\n",
               json_string_value(json_object_get(j, "state")),
               (long long)json_integer_value(json_object_get(j, "attempt")),
               json_string_value(json_object_get(j, "runtime")),
               reason ? reason : "");
    }
    printf("%zu jobs\n", json_array_size(jobs));
}

/* jobs' filter from the options; false (said why) if a time is bad. */
static bool s_filter(const assay_ctl_opts *o, assay_cp_jobs *q)
{
    char err[256];
    *q = (assay_cp_jobs){.op = o->bulk,
                         .state = o->state,
                         .schedule = o->schedule,
                         .action = o->action,
                         .runtime = o->runtime,
                         .labels = o->labels,
                         .dry_run = o->dry_run};
    if ((o->since && assay_sched_time(o->since, "--since", &q->since_ms, err,
                                      sizeof err)) ||
        (o->until && assay_sched_time(o->until, "--until", &q->until_ms, err,
                                      sizeof err))) {
        fprintf(stderr, "assayctl: jobs %s\n", err);
        return false;
    }
    return true;
}

/* jobs --cancel / --restart [--dry-run]: every job the filter matches. */
static int s_jobs_bulk(s_client *c, const assay_cp_jobs *q)
{
    int code = 0;
    json_t *r = s_call(c, ASSAY_SVC_JOBS, assay_cp_pack_jobs(q), &code);
    if (!r)
        return code;
    if (c->o->json) {
        s_dump(r);
    } else {
        const char *op = json_string_value(json_object_get(r, "op"));
        long long would = json_integer_value(json_object_get(r,
                                                             "would_change"));
        printf("%lld jobs match; %s %lld", (long long)json_integer_value(
                                                json_object_get(r, "matched")),
               q->dry_run ? "would" : "did", q->dry_run ? would
                                                        : (long long)json_integer_value(
                                                              json_object_get(
                                                                  r, "changed")));
        printf(" %s", op && !strcmp(op, "restart") ? "restart" : "cancel");
        long long others = json_integer_value(json_object_get(r, "not_yours"));
        if (others)
            printf(" (%lld submitted by other keys left alone)", others);
        putchar('\n');
    }
    json_decref(r);
    return 0;
}

/* Every matching job (or the first --limit): assay.jobs answers in
 * bounded pages, followed here through their `next` cursors and shown as
 * one list (--json: one reply, `next` dropped unless --limit cut it). */
static int s_jobs(s_client *c)
{
    assay_cp_jobs q;
    if (!s_filter(c->o, &q))
        return ASSAY_EXIT_USAGE;
    if (q.op != ASSAY_CP_JOBS_LIST)
        return s_jobs_bulk(c, &q);
    json_t *all = json_array(), *r = NULL;
    char cursor[128] = "";
    for (;;) {
        q.after = *cursor ? cursor : NULL;
        if (c->o->limit)
            q.limit = c->o->limit - (long)json_array_size(all);
        int code = 0;
        json_decref(r);
        if (!(r = s_call(c, ASSAY_SVC_JOBS, assay_cp_pack_jobs(&q), &code))) {
            json_decref(all);
            return code;
        }
        json_array_extend(all, json_object_get(r, "jobs"));
        const char *next = json_string_value(json_object_get(r, "next"));
        if (!next || !*next || strlen(next) >= sizeof cursor ||
            !strcmp(next, cursor) /* no progress: a broken server */ ||
            (c->o->limit && (long)json_array_size(all) >= c->o->limit))
            break;
        snprintf(cursor, sizeof cursor, "%s", next);
    }
    json_object_set_new(r, "jobs", all);
    if (!c->o->limit)
        json_object_del(r, "next");
    if (c->o->json)
        s_dump(r);
    else
        s_render_jobs(r);
    json_decref(r);
    return 0;
}

/* cancel or restart ids (`verb`: the service, `what` the word). */
static int s_change(s_client *c, char **args, int n, const char *service,
                    const char *what)
{
    if (n < 1) {
        fprintf(stderr, "assayctl: %s needs job or JobSpec ids\n", what);
        return ASSAY_EXIT_USAGE;
    }
    json_t *ids = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(ids, json_string(args[i]));
    int code = 0;
    json_t *r = s_call(c, service, json_pack("{s:o}", "ids", ids), &code);
    if (!r)
        return code;
    if (c->o->json) {
        s_dump(r);
    } else {
        char done[32];
        snprintf(done, sizeof done, "%sed", what); /* cancelled, restarted */
        if (!strcmp(what, "cancel"))
            snprintf(done, sizeof done, "cancelled");
        size_t i;
        json_t *j;
        json_array_foreach(json_object_get(r, done), i, j)
            printf("%s %s\n", done, json_string_value(j));
        json_array_foreach(json_object_get(r, "unknown"), i, j)
            printf("unknown %s\n", json_string_value(j));
    }
    code = json_array_size(json_object_get(r, "unknown")) ? ASSAY_EXIT_DATA
                                                          : 0;
    json_decref(r);
    return code;
}

/* "k n, k n" of an object of counts, in key order. */
static void s_counts(const char *title, const json_t *o)
{
    printf("%s:", title);
    const char **keys = calloc(json_object_size(o) + 1, sizeof *keys);
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
        if (keys)
            keys[n++] = k;
    qsort(keys, n, sizeof *keys, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 0; i < n; i++)
        printf("%s %s %lld", i ? "," : "", keys[i],
               (long long)json_integer_value(json_object_get(o, keys[i])));
    printf("%s\n", n ? "" : " none");
    free(keys);
}

static void s_render_stats(const json_t *r)
{
    const json_t *q = json_object_get(r, "queue"),
                 *rates = json_object_get(r, "rates"),
                 *rts = json_object_get(r, "runtimes"),
                 *sc = json_object_get(r, "schedules");
    s_counts("jobs", json_object_get(q, "by_state"));
    s_counts("queued by priority", json_object_get(q, "queued_by_priority"));
    s_counts("queued by action", json_object_get(q, "queued_by_action"));
    s_counts("running by action", json_object_get(q, "running_by_action"));
    const json_t *in = json_object_get(rates, "in_per_s"),
                 *out = json_object_get(rates, "out_per_s");
    printf("jobs/s in: %.1f (last minute), %.1f (last hour); out: %.1f, "
           "%.1f\n",
           json_real_value(json_object_get(in, "minute")),
           json_real_value(json_object_get(in, "hour")),
           json_real_value(json_object_get(out, "minute")),
           json_real_value(json_object_get(out, "hour")));
    printf("runtimes: %lld alive, %lld dead\n",
           (long long)json_integer_value(json_object_get(rts, "alive")),
           (long long)json_integer_value(json_object_get(rts, "dead")));
    printf("schedules: %lld (%lld active, %lld paused, %lld ended), %lld "
           "due now\n",
           (long long)json_integer_value(json_object_get(sc, "total")),
           (long long)json_integer_value(json_object_get(sc, "active")),
           (long long)json_integer_value(json_object_get(sc, "paused")),
           (long long)json_integer_value(json_object_get(sc, "ended")),
           (long long)json_integer_value(json_object_get(sc, "due")));
    s_counts("schedule fires", json_object_get(sc, "fires"));
    const json_t *lat = json_object_get(r, "latency_ms");
    if (!json_object_size(lat))
        return;
    printf("\n%-32s %21s %21s\n", "ACTION (ms: p50/p90/p99)",
           "QUEUED->RUNNING", "RUNNING->DONE");
    const char *action;
    json_t *v;
    json_object_foreach((json_t *)lat, action, v) {
        char cell[2][64];
        static const char *const kinds[] = {"queued_to_running",
                                            "running_to_done"};
        for (int k = 0; k < 2; k++) {
            const json_t *p = json_object_get(v, kinds[k]);
            if (json_integer_value(json_object_get(p, "n")))
                snprintf(cell[k], sizeof cell[k], "%lld/%lld/%lld",
                         (long long)json_integer_value(json_object_get(p, "p50")),
                         (long long)json_integer_value(json_object_get(p, "p90")),
                         (long long)json_integer_value(json_object_get(p, "p99")));
            else
                snprintf(cell[k], sizeof cell[k], "-");
        }
        printf("%-32s %21s %21s\n", action, cell[0], cell[1]);
    }
}

static void s_render_runtimes(const json_t *r)
{
    printf("%-20s %-6s %-8s %-7s %-6s %-10s %s\n", "RUNTIME", "ALIVE",
           "HB(ms)", "RUNNING", "CREDIT", "SEEN(ms)", "WHY");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "runtimes"), i, x) {
        const char *why = json_string_value(json_object_get(x, "why"));
        printf("%-20s %-6s %-8lld %-7lld %-6lld %-10lld %s\n",
               json_string_value(json_object_get(x, "id")),
               json_is_true(json_object_get(x, "alive")) ? "yes" : "no",
               (long long)json_integer_value(
                   json_object_get(x, "heartbeat_ms")),
               (long long)json_integer_value(json_object_get(x, "running")),
               (long long)json_integer_value(json_object_get(x, "credit")),
               (long long)json_integer_value(
                   json_object_get(x, "last_seen_ms_ago")),
               why ? why : "");
    }
}

static void s_render_cluster(const json_t *r)
{
    const json_t *l = json_object_get(r, "leader");
    printf("asked member %s (id %lld, %s): %s%s\n",
           json_string_value(json_object_get(r, "member")),
           (long long)json_integer_value(json_object_get(r, "member_id")),
           json_string_value(json_object_get(r, "consensus")),
           json_string_value(json_object_get(r, "role")),
           json_is_true(json_object_get(r, "serving")) ? ", serving" : "");
    printf("term %lld, commit index %lld, applied %lld, last %lld\n",
           (long long)json_integer_value(json_object_get(r, "term")),
           (long long)json_integer_value(json_object_get(r, "commit_index")),
           (long long)json_integer_value(json_object_get(r, "applied_index")),
           (long long)json_integer_value(json_object_get(r, "last_index")));
    printf("feature level %lld (this member speaks up to %lld)\n",
           (long long)json_integer_value(json_object_get(r, "level")),
           (long long)json_integer_value(json_object_get(r, "speaks")));
    const char *sec = json_string_value(json_object_get(r, "security"));
    if (sec && !strcmp(sec, "none"))
        printf("security: NONE - plain TCP, anyone who reaches this member "
               "can run any command on every runtime (docs/security.md)\n");
    else if (sec)
        printf("security: %s (links encrypted, peers authenticated by "
               "key)\n", sec);
    if (l)
        printf("leader: %s (id %lld) at %s, events %s\n",
               json_string_value(json_object_get(l, "id")),
               (long long)json_integer_value(json_object_get(l, "member")),
               json_string_value(json_object_get(l, "endpoint")),
               json_string_value(json_object_get(l, "events")));
    else
        printf("leader: none known\n");
    printf("%-6s %-24s %-6s %s\n", "ID", "RAFT ADDRESS", "VOTER", "ROLE");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "members"), i, x)
        printf("%-6lld %-24s %-6s %s\n",
               (long long)json_integer_value(json_object_get(x, "id")),
               json_string_value(json_object_get(x, "address")),
               json_is_true(json_object_get(x, "voter")) ? "yes" : "no",
               json_is_true(json_object_get(x, "leader")) ? "leader" : "");
}

/* Asks the member at `endpoint` alone for its status (no redirects, no
 * other members tried). NULL after printing why. */
static json_t *s_member_status(s_client *c, const char *endpoint, int *code)
{
    s_client one;
    if ((*code = s_open(&one, c->o, endpoint, NULL)))
        return NULL;
    assay_cp_cluster status = {ASSAY_CP_CLUSTER_STATUS, -1, NULL, 0};
    json_t *r = s_call(&one, ASSAY_SVC_CLUSTER, assay_cp_pack_cluster(&status),
                       code);
    assay_client_destroy(&one.cl);
    return r;
}

/* cluster upgrade [LEVEL]: every member of the raft configuration must
 * answer at one of the --endpoint members and speak LEVEL (default: the
 * highest all speak) before the leader is asked to raise it: a member that
 * cannot read what the new level brings would stop. */
static int s_upgrade(s_client *c, const char *want)
{
    char *end = NULL;
    long long level = want ? strtoll(want, &end, 10) : 0;
    if (want && (!*want || *end || level < 1)) {
        fprintf(stderr, "assayctl: usage: cluster upgrade [LEVEL] (a "
                        "positive integer)\n");
        return ASSAY_EXIT_USAGE;
    }
    json_t *members = NULL, *speaks = json_object();
    int code = 0;
    long long all = INT64_MAX;
    char list[4096], *save;
    snprintf(list, sizeof list, "%s", c->o->endpoint);
    for (char *ep = strtok_r(list, " ,", &save); ep && !code;
         ep = strtok_r(NULL, " ,", &save)) {
        json_t *r = s_member_status(c, ep, &code);
        if (!r)
            break;
        char id[32];
        snprintf(id, sizeof id, "%lld",
                 (long long)json_integer_value(json_object_get(r, "member_id")));
        json_object_set(speaks, id, json_object_get(r, "speaks"));
        if (!members)
            members = json_incref(json_object_get(r, "members"));
        json_decref(r);
    }
    size_t i;
    json_t *m;
    json_array_foreach(code ? NULL : members, i, m) {
        char id[32];
        snprintf(id, sizeof id, "%lld",
                 (long long)json_integer_value(json_object_get(m, "id")));
        json_t *sp = json_object_get(speaks, id);
        if (!sp) {
            fprintf(stderr,
                    "assayctl: cluster upgrade: member %s (%s) was not "
                    "asked: give every member's endpoint with --endpoint\n",
                    id, json_string_value(json_object_get(m, "address")));
            code = ASSAY_EXIT_USAGE;
        } else if (json_integer_value(sp) < all)
            all = json_integer_value(sp);
        if (sp && want && json_integer_value(sp) < level) {
            fprintf(stderr,
                    "assayctl: cluster upgrade: member %s speaks up to "
                    "level %lld, not %lld: upgrade its binary first\n",
                    id, (long long)json_integer_value(sp), level);
            code = ASSAY_EXIT_UNAVAILABLE;
        }
    }
    json_decref(members);
    json_decref(speaks);
    if (code)
        return code;
    assay_cp_cluster req = {ASSAY_CP_CLUSTER_UPGRADE, -1, NULL,
                            want ? level : all};
    return s_show(c, ASSAY_SVC_CLUSTER, assay_cp_pack_cluster(&req),
                  s_render_cluster);
}

/* cluster [status | add ID ADDR | remove ID | demote ID | transfer [ID] |
 *          upgrade [LEVEL]] */
static int s_cluster(s_client *c, char **args, int n)
{
    if (n && !strcmp(args[0], "upgrade") && n <= 2)
        return s_upgrade(c, n == 2 ? args[1] : NULL);
    /* The words after the op each needs: -1 for transfer's optional id. */
    static const int words[] = {
        [ASSAY_CP_CLUSTER_STATUS] = 1, [ASSAY_CP_CLUSTER_ADD] = 3,
        [ASSAY_CP_CLUSTER_REMOVE] = 2, [ASSAY_CP_CLUSTER_TRANSFER] = -1,
        [ASSAY_CP_CLUSTER_UPGRADE] = 0, [ASSAY_CP_CLUSTER_DEMOTE] = 2};
    assay_cp_cluster req = {ASSAY_CP_CLUSTER_STATUS, 0, NULL, 0};
    const char *op = n ? args[0] : "status", *name;
    for (int i = 0; (name = assay_cp_cluster_op_name(i)); i++)
        if (!strcmp(op, name))
            req.op = (assay_cp_cluster_op)i;
    int want = strcmp(op, assay_cp_cluster_op_name((int)req.op))
                   ? 0
                   : words[req.op];
    char *end = NULL;
    long long id = n >= 2 ? strtoll(args[1], &end, 10) : 0;
    if (!want || (want > 1 && n != want) || (want == 1 && n > 1) ||
        (want < 0 && n > 2) ||
        (n >= 2 && (!*args[1] || *end || id <= 0))) {
        fprintf(stderr, "assayctl: usage: cluster [status | add ID HOST:PORT "
                        "| remove ID | demote ID | transfer [ID] | upgrade "
                        "[LEVEL]] (ID a positive integer)\n");
        return ASSAY_EXIT_USAGE;
    }
    req.id = id;
    req.address = n == 3 ? args[2] : NULL;
    return s_show(c, ASSAY_SVC_CLUSTER, assay_cp_pack_cluster(&req),
                  s_render_cluster);
}

static void s_render_plugins(const json_t *r)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "runtimes"), i, x) {
        printf("== runtime %s%s\n",
               json_string_value(json_object_get(x, "runtime")),
               json_is_true(json_object_get(x, "alive")) ? "" : " (dead)");
        assay_render_catalog(stdout, json_object_get(x, "catalog"));
    }
    const json_t *d = json_object_get(r, "durations");
    if (!json_object_size(d))
        return;
    printf("== durations learned from results\n");
    const char *action;
    json_object_foreach((json_t *)d, action, x)
        printf("  %-32s mean %.1f ms, p90 %.1f ms (%lld results)\n", action,
               json_number_value(json_object_get(x, "mean_ms")),
               json_number_value(json_object_get(x, "p90_ms")),
               (long long)json_integer_value(json_object_get(x, "results")));
}

static void s_render_rescan(const json_t *r)
{
    size_t i;
    json_t *x;
    printf("rescan requested on:");
    json_array_foreach(json_object_get(r, "runtimes"), i, x)
        printf(" %s", json_string_value(x));
    printf("\n(changes show in `assayctl plugins` once each runtime has "
           "looked)\n");
}

static int s_watch(const assay_ctl_opts *o)
{
    /* Only the leader publishes: subscribed to every member's stream,
     * watch follows a leader change by itself. */
    s_client c;
    int code = s_open(&c, o, NULL, o->events);
    if (code)
        return code;
    if (assay_client_subscribe(c.cl, o->topic ? o->topic : "")) {
        fprintf(stderr, "assayctl: %s\n", assay_client_error(c.cl));
        assay_client_destroy(&c.cl);
        return ASSAY_EXIT_UNAVAILABLE;
    }
    int64_t deadline = o->wait_ms > 0 ? assay_now_ms() + o->wait_ms
                                      : INT64_MAX;
    long seen = 0;
    while (o->count <= 0 || seen < o->count) {
        int64_t left = deadline - assay_now_ms();
        assay_client_msg m = {.size = sizeof m};
        if (left <= 0 ||
            assay_client_next(c.cl, &m, left > 1000 ? 1000 : left) != 1) {
            if (assay_now_ms() >= deadline)
                break;
            continue;
        }
        /* A stream's first welcome says it is live (on stderr, for scripts
         * that wait for it). */
        if (m.kind == ASSAY_CLIENT_LIVE) {
            fprintf(stderr, "assayctl: watch: subscribed at %s\n",
                    m.endpoint);
            continue;
        }
        seen++;
        if (o->json) {
            json_t *line = json_pack("{s:s, s:O}", "topic", m.name, "body",
                                     m.body);
            json_dumpf(line, stdout, JSON_COMPACT);
            fputc('\n', stdout);
            json_decref(line);
        } else {
            assay_render_event(stdout, m.name, m.body);
        }
        fflush(stdout);
    }
    assay_client_destroy(&c.cl);
    return 0;
}

struct assay_ctl_session {
    s_client c;
};

int assay_ctl_open(const assay_ctl_opts *o, assay_ctl_session **out)
{
    assay_ctl_session *self = calloc(1, sizeof *self);
    if (!self)
        return ASSAY_EXIT_UNAVAILABLE;
    int code = s_open(&self->c, o, o->endpoint, NULL);
    if (code) {
        free(self);
        return code;
    }
    *out = self;
    return 0;
}

json_t *assay_ctl_call(assay_ctl_session *self, const char *service,
                       json_t *body, int *code)
{
    return s_call(&self->c, service, body, code);
}

int assay_ctl_send(assay_ctl_session *self, const char *service,
                   json_t *body, uint64_t *ticket)
{
    int rc = assay_client_send(self->c.cl, service, body, ticket), code = 0;
    json_decref(body);
    return rc ? (s_outcome(&self->c, rc, NULL, &code), code) : 0;
}

json_t *assay_ctl_await(assay_ctl_session *self, uint64_t ticket, int *code)
{
    json_t *reply = NULL;
    int rc = assay_client_await(self->c.cl, ticket, &reply);
    return s_outcome(&self->c, rc, reply, code);
}

void assay_ctl_close(assay_ctl_session **self_p)
{
    if (!*self_p)
        return;
    assay_client_destroy(&(*self_p)->c.cl);
    free(*self_p);
    *self_p = NULL;
}

int assay_ctl_request(const assay_ctl_opts *o, const char *service,
                      json_t *body, json_t **reply)
{
    s_client c;
    int code = s_open(&c, o, o->endpoint, NULL);
    if (code) {
        json_decref(body);
        return code;
    }
    *reply = s_call(&c, service, body, &code);
    assay_client_destroy(&c.cl);
    return *reply ? 0 : code;
}

int assay_ctl_cluster(const char *cmd, char **args, int nargs,
                      const assay_ctl_opts *o)
{
    if (!strcmp(cmd, "watch"))
        return s_watch(o);
    static const char *known[] = {"submit",   "job",     "jobs",
                                  "wait",     "cancel",  "restart",
                                  "runtimes", "plugins", "cluster",
                                  "stats"};
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        ok = ok || !strcmp(cmd, known[i]);
    if (!ok) {
        fprintf(stderr, "assayctl: unknown command '%s'\n", cmd);
        return ASSAY_EXIT_USAGE;
    }
    s_client c;
    int code = s_open(&c, o, o->endpoint, NULL);
    if (code)
        return code;
    if (!strcmp(cmd, "submit"))
        code = s_submit(&c, args, nargs);
    else if (!strcmp(cmd, "job"))
        code = s_job(&c, args, nargs);
    else if (!strcmp(cmd, "jobs"))
        code = s_jobs(&c);
    else if (!strcmp(cmd, "wait"))
        code = nargs ? s_wait(&c, args, nargs)
                     : (fprintf(stderr, "assayctl: wait needs job or "
                                        "JobSpec ids\n"),
                        ASSAY_EXIT_USAGE);
    else if (!strcmp(cmd, "cancel"))
        code = s_change(&c, args, nargs, ASSAY_SVC_CANCEL, "cancel");
    else if (!strcmp(cmd, "restart"))
        code = s_change(&c, args, nargs, ASSAY_SVC_RESTART, "restart");
    else if (!strcmp(cmd, "stats"))
        code = s_show(&c, ASSAY_SVC_STATS, json_object(), s_render_stats);
    else if (!strcmp(cmd, "cluster"))
        code = s_cluster(&c, args, nargs);
    else if (!strcmp(cmd, "runtimes"))
        code = s_show(&c, ASSAY_SVC_RUNTIMES, json_object(), s_render_runtimes);
    else if (o->rescan)
        code = s_show(&c, ASSAY_SVC_RESCAN, json_object(), s_render_rescan);
    else
        code = s_show(&c, ASSAY_SVC_PLUGINS, json_object(), s_render_plugins);
    assay_client_destroy(&c.cl);
    return code;
}
