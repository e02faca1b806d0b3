/* tests/lib/cluster.c - see cluster.h. */
#include "cluster.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "harness.h"

extern char **environ;

/* No metrics endpoint unless a test asks for one: "auto" would bind
 * fixed ports, which suites running side by side contend for. */
#define S_FLAGS CLUSTER_NODE_FLAGS " --set metrics_listen= "

/* Tries at starting daemons whose port was taken meanwhile (harness_port
 * hands out a port that was free and that no other suite picks, but a
 * process outside the tests may still bind it). */
#define S_BIND_TRIES 4


static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Every process started, so that a test stopped by a failed assertion
 * (which skips its cluster_stop) still leaves none running: Criterion's
 * worker exits normally after a failure, and exit handlers run. */
static pid_t s_started[256];
static int s_nstarted;

static void s_kill_leftovers(void)
{
    for (int i = 0; i < s_nstarted; i++)
        if (s_started[i] > 0 && waitpid(s_started[i], NULL, WNOHANG) == 0) {
            kill(s_started[i], SIGCONT);
            kill(s_started[i], SIGKILL);
            waitpid(s_started[i], NULL, 0);
        }
}

static void s_track(pid_t pid)
{
    if (!s_nstarted)
        atexit(s_kill_leftovers);
    if (s_nstarted < (int)(sizeof s_started / sizeof *s_started))
        s_started[s_nstarted++] = pid;
}

/* Runs `body` in node n, with CLUSTER_DIR (the cluster's directory) in
 * its environment; a restarted node appends to its log. */
static void s_run(const cluster *c, cluster_node *n, const char *body,
                  bool append)
{
    char *cmd;
    cr_assert_neq(asprintf(&cmd, "CLUSTER_DIR='%s'; export CLUSTER_DIR; "
                                 "exec %s %s%s 2>&1",
                           c->dir, body, append ? ">>" : ">", n->log),
                  -1);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    cr_assert_eq(posix_spawn(&n->pid, "/bin/sh", NULL, NULL, argv, environ),
                 0);
    s_track(n->pid);
    free(cmd);
}

cluster_node *cluster_bg(cluster *c, const char *id, const char *fmt, ...)
{
    cr_assert_lt(c->n, CLUSTER_MAX_NODES + CLUSTER_MAX_MEMBERS);
    cluster_node *n = &c->nodes[c->n++];
    char log[sizeof n->log];
    snprintf(log, sizeof log, "%s/%s.log", c->dir, id);
    snprintf(n->id, sizeof n->id, "%s", id);
    memcpy(n->log, log, sizeof log);
    char *body;
    va_list ap;
    va_start(ap, fmt);
    cr_assert_neq(vasprintf(&body, fmt, ap), -1);
    va_end(ap);
    s_run(c, n, body, false);
    free(body);
    return n;
}

cluster_node *cluster_enrolling_runtime(cluster *c, const char *id,
                                        const char *logname,
                                        const char *keys_dir,
                                        const char *token, bool env)
{
    return cluster_bg(c, logname,
                      "%s%s%s%sassayd --node-id %s --join '%s' --executors 1 "
                      "--plugins-dir %s " CLUSTER_NODE_FLAGS
                      " --set keys_dir=%s%s%s",
                      env ? "env ASSAY_ENROL_TOKEN=" : "", env ? token : "",
                      env ? " " : "", HARNESS_BIN, id, c->join,
                      HARNESS_PLUGINS, keys_dir,
                      env ? "" : " --set enrol_token=", env ? "" : token);
}

static cluster_node *s_spawn(cluster *c, const char *id, const char *args)
{
    return cluster_bg(c, id, "%sassayd --node-id %s --plugins-dir %s " S_FLAGS
                             "%s",
                      HARNESS_BIN, id, HARNESS_PLUGINS, args);
}

/* How a node's start ended: up (its log says so), still starting at the
 * deadline, exited because a port it was given was taken meanwhile (exit
 * 69, EX_UNAVAILABLE, and the bind failure in its log), or exited. */
typedef enum { S_UP, S_SLOW, S_PORT_TAKEN, S_EXITED } s_start;

static bool s_log_now(const cluster_node *n, const char *needle)
{
    return cluster_log_has(n, needle, 0);
}

/* Waits (bounded) until node n logs `needle` or exits; an exited node is
 * reaped (pid 0). */
static s_start s_wait_up(cluster_node *n, const char *needle, int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        int st;
        if (n->pid > 0 && waitpid(n->pid, &st, WNOHANG) == n->pid) {
            n->pid = 0;
            /* The member's sockets say "address already in use"; the raft
             * module's says only "raft_start on HOST:PORT: I/O error". */
            bool taken = WIFEXITED(st) && WEXITSTATUS(st) == 69 &&
                         (s_log_now(n, "already in use") ||
                          s_log_now(n, "raft_start on"));
            return taken ? S_PORT_TAKEN : S_EXITED;
        }
        if (s_log_now(n, needle))
            return S_UP;
        if (assay_now_ms() >= deadline)
            return S_SLOW;
        s_sleep_ms(20);
    }
}

/* SIGKILLs and reaps node n if it runs. */
static void s_kill_node(cluster_node *n)
{
    if (n->pid > 0) {
        kill(n->pid, SIGCONT);
        kill(n->pid, SIGKILL);
        waitpid(n->pid, NULL, 0);
    }
    n->pid = 0;
}

static const char *s_start_name(s_start s)
{
    return s == S_SLOW ? "still starting" : s == S_EXITED ? "exited" : "?";
}

/* What a daemon logs once it serves ("ready" alone is also in "already"). */
#define S_READY "info: ready"

static void s_member_args(cluster *c, int id, const char *members,
                          const char *extra)
{
    char args[sizeof c->member_args[id]]; /* not into c: it is read too */
    snprintf(args, sizeof args,
             "%sassayd --node-id m%d --plugins-dir %s " S_FLAGS
             "--executors 0 --listen %s --events %s "
             "--set consensus=raft --set member_id=%d --set members='%s' "
             "--set raft_address=%s --set data_dir=%s/m%d %s",
             HARNESS_BIN, id, HARNESS_PLUGINS, c->member_ep[id],
             c->member_ev[id], id, members, c->member_raft[id], c->dir, id,
             extra ? extra : "");
    memcpy(c->member_args[id], args, sizeof args);
}

/* Picks fresh ports for member slot i (1-based); a restarted member
 * binds them again. */
static void s_member_ports(cluster *c, int i)
{
    snprintf(c->member_ep[i], sizeof c->member_ep[i], "tcp://127.0.0.1:%d",
             harness_port());
    snprintf(c->member_raft[i], sizeof c->member_raft[i], "127.0.0.1:%d",
             harness_port());
    snprintf(c->member_ev[i], sizeof c->member_ev[i], "tcp://127.0.0.1:%d",
             harness_port());
}

/* One try at starting n raft members on fresh ports; S_UP once each one
 * logged that it serves (not yet that one leads). */
static s_start s_start_raft_once(cluster *c, int n, const char *extra)
{
    char members[512] = "";
    for (int i = 1; i <= CLUSTER_MAX_MEMBERS; i++)
        s_member_ports(c, i);
    for (int i = 1; i <= n; i++) {
        size_t l = strlen(members);
        snprintf(members + l, sizeof members - l, "%s%d@%s", i > 1 ? " " : "",
                 i, c->member_raft[i]);
        l = strlen(c->endpoint);
        snprintf(c->endpoint + l, sizeof c->endpoint - l, "%s%s",
                 i > 1 ? "," : "", c->member_ep[i]);
        l = strlen(c->join);
        snprintf(c->join + l, sizeof c->join - l, "%s%s", i > 1 ? " " : "",
                 c->member_ep[i]);
    }
    snprintf(c->events, sizeof c->events, "tcp://127.0.0.1:%d",
             harness_port());
    for (int i = 1; i <= n; i++) {
        s_member_args(c, i, members, extra);
        c->member_node[i] = c->n;
        char id[16];
        snprintf(id, sizeof id, "m%d", i);
        cluster_bg(c, id, "%s", c->member_args[i]);
    }
    s_start worst = S_UP;
    for (int i = 1; i <= n; i++) {
        s_start s = s_wait_up(&c->nodes[c->member_node[i]], S_READY, 10000);
        if (s == S_PORT_TAKEN && worst == S_UP)
            worst = s;
        else if (s != S_UP && s != S_PORT_TAKEN)
            worst = s;
    }
    return worst;
}

void cluster_start_raft(cluster *c, int n, const char *extra)
{
    memset(c, 0, sizeof *c);
    cr_assert(n >= 1 && n <= CLUSTER_MAX_MEMBERS);
    char *d = harness_tmpdir();
    char dir[sizeof c->dir];
    snprintf(dir, sizeof dir, "%s", d);
    free(d);
    for (int try = 1;; try++) {
        memset(c, 0, sizeof *c);
        memcpy(c->dir, dir, sizeof dir);
        s_start s = s_start_raft_once(c, n, extra);
        if (s == S_UP)
            break;
        if (s != S_PORT_TAKEN || try == S_BIND_TRIES) {
            cluster_print_logs(c, 20);
            cr_assert_fail("raft members did not start (%s, try %d)",
                           s == S_PORT_TAKEN ? "ports taken"
                                             : s_start_name(s),
                           try);
        }
        fprintf(stderr, "cluster: a member's port was taken; every member "
                        "again on fresh ports (try %d)\n", try + 1);
        for (int i = 0; i < c->n; i++)
            s_kill_node(&c->nodes[i]);
        /* The next try starts afresh: no member's data survives. */
        char *out;
        harness_sh(&out, "rm -rf %s/m1 %s/m2 %s/m3 %s/m4 %s/m5", dir, dir,
                   dir, dir, dir);
        free(out);
    }
    c->members = n;
    if (!cluster_leader(c, 20000)) {
        cluster_print_logs(c, 20);
        cr_assert_fail("no member came to lead");
    }
}

cluster_node *cluster_member_extra(cluster *c, int id)
{
    cr_assert(id > c->members && id <= CLUSTER_MAX_MEMBERS);
    for (int try = 1;; try++) {
        s_member_args(c, id, "", NULL);
        c->member_node[id] = c->n;
        char name[16];
        snprintf(name, sizeof name, "m%d", id);
        cluster_node *n = cluster_bg(c, name, "%s", c->member_args[id]);
        s_start s = s_wait_up(n, S_READY, 10000);
        if (s == S_UP)
            return n;
        if (s != S_PORT_TAKEN || try == S_BIND_TRIES) {
            cluster_print_logs(c, 20);
            cr_assert_fail("member %d did not start (%s, try %d)", id,
                           s == S_PORT_TAKEN ? "ports taken"
                                             : s_start_name(s),
                           try);
        }
        fprintf(stderr, "cluster: member %d: a port was taken; again on "
                        "fresh ports (try %d)\n", id, try + 1);
        c->n--; /* its slot: n is the last node started */
        s_member_ports(c, id);
    }
}

void cluster_member_kill(cluster *c, int id, int sig)
{
    cluster_node *n = &c->nodes[c->member_node[id]];
    cr_assert_gt(n->pid, 0, "member %d is not running", id);
    kill(n->pid, sig);
    if (sig == SIGKILL) {
        waitpid(n->pid, NULL, 0);
        n->pid = 0;
    }
}

int cluster_member_wait(cluster *c, int id, int timeout_ms)
{
    cluster_node *n = &c->nodes[c->member_node[id]];
    int64_t deadline = assay_now_ms() + timeout_ms;
    int st;
    cr_assert_gt(n->pid, 0, "member %d is not running", id);
    while (waitpid(n->pid, &st, WNOHANG) != n->pid) {
        if (assay_now_ms() >= deadline)
            return -1;
        s_sleep_ms(20);
    }
    n->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void cluster_member_restart(cluster *c, int id)
{
    cluster_node *n = &c->nodes[c->member_node[id]];
    cr_assert_eq(n->pid, 0, "member %d is still running", id);
    s_run(c, n, c->member_args[id], true);
}

json_t *cluster_ctl_member(cluster *c, int id, int *code, const char *fmt,
                           ...)
{
    char *args, *out;
    va_list ap;
    va_start(ap, fmt);
    cr_assert_neq(vasprintf(&args, fmt, ap), -1);
    va_end(ap);
    int rc = harness_sh(&out, "%sassayctl --endpoint %s --json "
                              "--timeout-ms 2000 %s 2>>%s/ctl.err",
                        HARNESS_BIN, c->member_ep[id], args, c->dir);
    free(args);
    if (code)
        *code = rc;
    json_t *j = json_loads(out, JSON_DECODE_ANY, NULL);
    free(out);
    return j;
}

int cluster_leader(cluster *c, int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        for (int i = 1; i <= CLUSTER_MAX_MEMBERS; i++) {
            if (!c->member_args[i][0] || c->nodes[c->member_node[i]].pid <= 0)
                continue;
            json_t *r = cluster_ctl_member(c, i, NULL, "cluster");
            bool leads = json_is_true(json_object_get(r, "serving"));
            json_decref(r);
            if (leads)
                return i;
        }
        if (assay_now_ms() >= deadline)
            return 0;
        s_sleep_ms(100);
    }
}

void cluster_start(cluster *c, const char *extra)
{
    memset(c, 0, sizeof *c);
    char *d = harness_tmpdir();
    snprintf(c->dir, sizeof c->dir, "%s", d);
    free(d);
    for (int try = 1;; try++) {
        snprintf(c->endpoint, sizeof c->endpoint, "tcp://127.0.0.1:%d",
                 harness_port());
        snprintf(c->events, sizeof c->events, "tcp://127.0.0.1:%d",
                 harness_port());
        snprintf(c->join, sizeof c->join, "%s", c->endpoint);
        char args[1024];
        snprintf(args, sizeof args, "--executors 0 --listen %s --events %s %s",
                 c->endpoint, c->events, extra ? extra : "");
        cluster_node *m = s_spawn(c, "member", args);
        s_start s = s_wait_up(m, S_READY, 10000);
        if (s == S_UP)
            return;
        if (s != S_PORT_TAKEN || try == S_BIND_TRIES) {
            cluster_print_logs(c, 20);
            cr_assert_fail("member did not start (%s, try %d)",
                           s == S_PORT_TAKEN ? "ports taken"
                                             : s_start_name(s),
                           try);
        }
        fprintf(stderr, "cluster: the member's port was taken; again on "
                        "fresh ports (try %d)\n", try + 1);
        c->n--; /* its slot: the member is the only node */
    }
}

cluster_node *cluster_runtime(cluster *c, const char *id, const char *extra)
{
    char args[1024];
    snprintf(args, sizeof args, "--join '%s' %s", c->join,
             extra ? extra : "--executors 1");
    cluster_node *n = s_spawn(c, id, args);
    s_start s = s_wait_up(n, "registered with", 10000);
    if (s != S_UP)
        cluster_print_logs(c, 20);
    cr_assert(s == S_UP, "runtime %s did not register (%s)", id,
              s_start_name(s));
    return n;
}

int cluster_log_count(const cluster_node *n, const char *needle)
{
    FILE *f = fopen(n->log, "r");
    if (!f)
        return 0;
    char line[4096];
    int count = 0;
    while (fgets(line, sizeof line, f))
        count += strstr(line, needle) != NULL;
    fclose(f);
    return count;
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

void cluster_print_logs(const cluster *c, int lines)
{
    for (int i = 0; i < c->n; i++)
        assay_log_tail(c->nodes[i].log, c->nodes[i].id, lines, stderr);
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

json_t *cluster_ctl_until(cluster *c, int timeout_ms, int *code,
                          const char *fmt, ...)
{
    char *args;
    va_list ap;
    va_start(ap, fmt);
    cr_assert_neq(vasprintf(&args, fmt, ap), -1);
    va_end(ap);
    int64_t deadline = assay_now_ms() + timeout_ms;
    json_t *r = NULL;
    for (;;) {
        json_decref(r);
        r = cluster_ctl(c, code, "%s", args);
        if (*code == 0 || assay_now_ms() >= deadline)
            break;
        s_sleep_ms(200);
    }
    free(args);
    return r;
}

long long cluster_status_int(cluster *c, int id, const char *key)
{
    json_t *st = cluster_ctl_member(c, id, NULL, "cluster");
    json_t *v = json_object_get(st, key);
    long long n = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
    json_decref(st);
    return n;
}

bool cluster_applied_until(cluster *c, int id, long long index,
                           int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    while (cluster_status_int(c, id, "applied_index") < index) {
        if (assay_now_ms() >= deadline)
            return false;
        s_sleep_ms(100);
    }
    return true;
}

bool cluster_submit(cluster *c, const char *id, int jobs)
{
    char body[1024] = "";
    for (int i = 0; i < jobs; i++) {
        size_t l = strlen(body);
        snprintf(body + l, sizeof body - l, "%s{}", i ? "," : "");
    }
    char json[1200], name[96];
    snprintf(json, sizeof json,
             "{\"id\": \"%s\", \"action\": \"noop.pass\", \"targets\": [%s]}",
             id, body);
    snprintf(name, sizeof name, "%s.json", id);
    int code;
    json_t *r = cluster_ctl(c, &code, "--timeout-ms 15000 submit %s",
                            cluster_spec(c, name, json));
    bool ok = code == 0 && json_array_size(json_object_get(r, "jobs")) ==
                               (size_t)jobs;
    if (!ok) {
        char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
        fprintf(stderr, "submit %s: assayctl exit %d: %s\n", id, code,
                text ? text : "(no JSON)");
        free(text);
        cluster_print_logs(c, 30);
    }
    json_decref(r);
    return ok;
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

assay_link *cluster_subscribe(const char *events, const char *const *topics)
{
    return cluster_subscribe_as(events, topics, NULL, NULL, NULL);
}

assay_link *cluster_subscribe_as(const char *events,
                                 const char *const *topics, const char *file,
                                 const char *name, const char *role)
{
    assay_link *l = NULL;
    char err[512];
    l = harness_link(file, name, role, 1u << 20);
    int id = assay_link_open(l, ASSAY_LINK_SUBSCRIBE, events, err, sizeof err);
    cr_assert_geq(id, 0, "%s", err);
    for (size_t i = 0; topics[i]; i++)
        cr_assert_eq(assay_link_subscribe(l, id, topics[i]), 0);
    cr_assert_eq(assay_link_subscribe(l, id, "assay.welcome"), 0);
    int64_t deadline = assay_now_ms() + 10000;
    for (;;) {
        assay_link_msg m;
        int rc = assay_link_recv(l, &m, err, sizeof err);
        cr_assert_geq(rc, 0, "malformed event: %s", err);
        if (rc == 1) {
            bool welcome = !strcmp(m.proto, "assay.welcome");
            assay_link_msg_fini(&m);
            if (welcome)
                return l;
            continue;
        }
        int64_t left = deadline - assay_now_ms();
        cr_assert_gt(left, 0, "no welcome on %s", events);
        struct pollfd p = {assay_link_fd(l), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

void cluster_cp_open(cluster_cp *cp, const char *endpoint)
{
    char err[512];
    cp->link = harness_link(NULL, NULL, NULL, 1u << 20);
    cp->id = assay_link_open(cp->link, ASSAY_LINK_CLIENT, endpoint, err,
                             sizeof err);
    cr_assert_geq(cp->id, 0, "%s", err);
}

void cluster_cp_close(cluster_cp *cp) { assay_link_destroy(&cp->link); }

json_t *cluster_cp_call(cluster_cp *cp, const char *service, json_t *body)
{
    cr_assert_eq(assay_link_send(cp->link, cp->id, NULL, ASSAY_MDP_CLIENT,
                                 service, body),
                 0);
    json_decref(body);
    int64_t deadline = assay_now_ms() + 10000;
    char err[512];
    for (;;) {
        assay_link_msg m;
        int rc = assay_link_recv(cp->link, &m, err, sizeof err);
        cr_assert_geq(rc, 0, "malformed reply: %s", err);
        if (rc == 1) {
            json_t *b = json_incref(m.body);
            assay_link_msg_fini(&m);
            cr_assert_not_null(b, "%s: reply without a body", service);
            return b;
        }
        int64_t left = deadline - assay_now_ms();
        cr_assert_gt(left, 0, "no reply to %s", service);
        struct pollfd p = {assay_link_fd(cp->link), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

void cluster_cp_submit(cluster_cp *cp, const char *spec)
{
    json_error_t e;
    json_t *body = json_loads(spec, 0, &e);
    cr_assert_not_null(body, "bad test JobSpec: %s", e.text);
    json_t *r = cluster_cp_call(cp, "assay.submit", body);
    const char *msg = json_string_value(json_object_get(r, "message"));
    cr_assert(json_is_true(json_object_get(r, "ok")), "submit %s: %s", spec,
              msg ? msg : "");
    json_decref(r);
}

json_t *cluster_cp_job(cluster_cp *cp, const char *id)
{
    json_t *r = cluster_cp_call(cp, "assay.job", json_pack("{s:s}", "id", id));
    json_t *j = json_incref(json_object_get(r, "job"));
    json_decref(r);
    cr_assert_not_null(j, "no job %s", id);
    return j;
}

void cluster_ctl_refused(cluster *c, const char *args, int code,
                         const char *says)
{
    char *out;
    int rc = harness_sh(&out, "%sassayctl --endpoint %s --wait-ms 5000 %s 2>&1",
                        HARNESS_BIN, c->endpoint, args);
    cr_expect_eq(rc, code, "%s: exit %d: %s", args, rc, out);
    cr_expect(strstr(out, says), "%s: '%s' lacks '%s'", args, out, says);
    free(out);
}

json_t *cluster_metrics(int port)
{
    char *out;
    int rc = harness_sh(&out, "AUTH='%s' /usr/bin/python3 " ASSAY_SOURCE_DIR
                              "/tests/integration/metrics_probe.py scrape "
                              "127.0.0.1:%d",
                        cluster_http_auth(), port);
    cr_assert_eq(rc, 0, "scrape: %s", out);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "not JSON: %s", out);
    free(out);
    return j;
}

double cluster_metric(const json_t *m, const char *name, const char *labels)
{
    const json_t *v = json_object_get(json_object_get(m, name), labels);
    cr_assert(json_is_number(v), "no %s{%s}", name, labels);
    return json_number_value(v);
}

void cluster_http_token(const char *name, char token[128])
{
    char *out;
    cr_assert_eq(harness_sh(&out, "%sassayctl keys token %s 2>/dev/null",
                            HARNESS_BIN, name),
                 0, "%s", out);
    cr_assert_eq(sscanf(out, "%127s", token), 1, "%s", out);
    free(out);
}

const char *cluster_http_auth(void)
{
    /* Named for the process: the suite's tests share a keys directory. */
    static char auth[160];
    if (!auth[0]) {
        char name[32], token[128];
        snprintf(name, sizeof name, "scraper-%d", (int)getpid());
        cluster_http_token(name, token);
        snprintf(auth, sizeof auth, "Bearer %s", token);
    }
    return auth;
}
