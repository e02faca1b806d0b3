/* tests/lib/cluster.c - see cluster.h. */
#include "cluster.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "harness.h"

extern char **environ;

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

cluster_node *cluster_bg(cluster *c, const char *id, const char *fmt, ...)
{
    cr_assert_lt(c->n, CLUSTER_MAX_NODES);
    cluster_node *n = &c->nodes[c->n++];
    char log[sizeof n->log];
    snprintf(log, sizeof log, "%s/%s.log", c->dir, id);
    snprintf(n->id, sizeof n->id, "%s", id);
    memcpy(n->log, log, sizeof log);
    char *body, *cmd;
    va_list ap;
    va_start(ap, fmt);
    cr_assert_neq(vasprintf(&body, fmt, ap), -1);
    va_end(ap);
    cr_assert_neq(asprintf(&cmd, "exec %s >%s 2>&1", body, n->log), -1);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    cr_assert_eq(posix_spawn(&n->pid, "/bin/sh", NULL, NULL, argv, environ),
                 0);
    free(body);
    free(cmd);
    return n;
}

static cluster_node *s_spawn(cluster *c, const char *id, const char *args)
{
    return cluster_bg(c, id,
                      "%sassayd --node-id %s --plugins-dir %s "
                      "--set heartbeat_ms=100 --set heartbeat_misses=10 "
                      "--set kill_grace_ms=200 --set max_cpu_percent=100 "
                      "%s",
                      HARNESS_BIN, id, HARNESS_PLUGINS, args);
}

void cluster_start(cluster *c, const char *extra)
{
    memset(c, 0, sizeof *c);
    char *d = harness_tmpdir();
    snprintf(c->dir, sizeof c->dir, "%s", d);
    free(d);
    snprintf(c->endpoint, sizeof c->endpoint, "tcp://127.0.0.1:%d",
             harness_port());
    snprintf(c->events, sizeof c->events, "tcp://127.0.0.1:%d",
             harness_port());
    char args[1024];
    snprintf(args, sizeof args, "--executors 0 --listen %s --events %s %s",
             c->endpoint, c->events, extra ? extra : "");
    cluster_node *m = s_spawn(c, "member", args);
    cr_assert(cluster_log_has(m, "ready", 10000), "member did not start");
}

cluster_node *cluster_runtime(cluster *c, const char *id, const char *extra)
{
    char args[1024];
    snprintf(args, sizeof args, "--join %s %s", c->endpoint,
             extra ? extra : "--executors 1");
    cluster_node *n = s_spawn(c, id, args);
    cr_assert(cluster_log_has(n, "registered with", 10000),
              "runtime %s did not register", id);
    return n;
}

void cluster_stop(cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        cluster_node *n = &c->nodes[i];
        if (n->pid <= 0)
            continue;
        kill(n->pid, SIGCONT);
        kill(n->pid, SIGTERM);
        /* Bounded: 5 s for an orderly stop, then SIGKILL. */
        int st;
        for (int k = 0; k < 100 && waitpid(n->pid, &st, WNOHANG) == 0; k++)
            s_sleep_ms(50);
        if (waitpid(n->pid, &st, WNOHANG) == 0) {
            kill(n->pid, SIGKILL);
            waitpid(n->pid, &st, 0);
        }
        n->pid = 0;
        /* Daemons log to files, where ctest's sanitizer check cannot see:
         * a sanitizer report in any of them fails the test. */
        static const char *bad[] = {"runtime error:", "ERROR: AddressSanitizer",
                                    "ERROR: LeakSanitizer"};
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
            cr_expect(!cluster_log_has(n, bad[k], 0), "%s: %s", n->log,
                      bad[k]);
    }
}

bool cluster_log_has(const cluster_node *n, const char *needle,
                     int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        FILE *f = fopen(n->log, "r");
        if (f) {
            char line[4096];
            bool found = false;
            while (!found && fgets(line, sizeof line, f))
                found = strstr(line, needle) != NULL;
            fclose(f);
            if (found)
                return true;
        }
        if (assay_now_ms() >= deadline)
            return false;
        s_sleep_ms(50);
    }
}

json_t *cluster_ctl(cluster *c, int *code, const char *fmt, ...)
{
    char *args, *out;
    va_list ap;
    va_start(ap, fmt);
    cr_assert_neq(vasprintf(&args, fmt, ap), -1);
    va_end(ap);
    int rc = harness_sh(&out, "%sassayctl --endpoint %s --events %s --json "
                              "--timeout-ms 3000 %s 2>%s/ctl.err",
                        HARNESS_BIN, c->endpoint, c->events, args, c->dir);
    free(args);
    if (code)
        *code = rc;
    json_t *j = json_loads(out, JSON_DECODE_ANY, NULL);
    free(out);
    return j;
}

static bool s_terminal(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "state"));
    return s && (!strcmp(s, "completed") || !strcmp(s, "failed") ||
                 !strcmp(s, "cancelled"));
}

json_t *cluster_wait(cluster *c, const char *id, int timeout_ms)
{
    json_t *jobs = NULL;
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        json_t *r = cluster_ctl(c, NULL, "job %s", id);
        json_decref(jobs);
        jobs = json_array();
        if (json_object_get(r, "jobs"))
            json_array_extend(jobs, json_object_get(r, "jobs"));
        else if (json_object_get(r, "job"))
            json_array_append(jobs, json_object_get(r, "job"));
        json_decref(r);
        bool done = json_array_size(jobs) > 0;
        size_t i;
        json_t *j;
        json_array_foreach(jobs, i, j) done = done && s_terminal(j);
        if (done || assay_now_ms() >= deadline)
            return jobs;
        s_sleep_ms(50);
    }
}

bool cluster_until(cluster *c, int timeout_ms,
                   bool (*pred)(const json_t *jobs, void *arg), void *arg)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        json_t *r = cluster_ctl(c, NULL, "jobs");
        bool ok = r && pred(json_object_get(r, "jobs"), arg);
        json_decref(r);
        if (ok)
            return true;
        if (assay_now_ms() >= deadline)
            return false;
        s_sleep_ms(50);
    }
}

const char *cluster_spec(cluster *c, const char *name, const char *json)
{
    static char path[256];
    char *p = harness_write(c->dir, name, json);
    snprintf(path, sizeof path, "%s", p);
    free(p);
    return path;
}
