/* assay-bench - starts an Assay cluster on loopback (or joins one), loads
 * it, and reports what it measured (issue 5; docs/benchmarks.md).
 *
 *   assay-bench run --jobs N --runtimes R [--simulated] [--rate JOBS/S]
 *                   [--members 1|3] [--endpoint EP[,EP..] [--events EP]]
 *                   [--action A --params JSON] [--idle SECONDS] [--json]
 *   assay-bench failover --kills K [--jobs-per-kill M] [--simulated] [--json]
 *   assay-bench memory --queued N [--per-spec K] [--json]
 *
 * Cluster. Unless --endpoint is given, assay-bench starts the cluster itself:
 * `assayd` from the same build or install (beside the binary: ../bin/assayd,
 * bin/assayd, assayd; else $PATH), plugins from ../plugins-out when that
 * exists, every process bound to 127.0.0.1 on free ports, logs and raft data
 * in a temporary directory that is removed at the end (--keep keeps it).
 * Members run no jobs (--executors 0); one member uses consensus `none`,
 * three use `raft`. R real runtimes are `assayd --join <every member>`
 * (--executors E, jobs_per_executor D, no CPU or memory gate) unless
 * --simulated.
 *
 * Simulated runtimes (--simulated) live inside assay-bench: each is a real
 * DEALER link (the zmq transport holds at most 16 links per instance, so
 * they are spread over ceil(R/16) assay_link instances) that speaks the
 * runtime protocol of docs/protocol.md: register with the catalogue shape of
 * assay_catalog_json (plugin noop 1.0.0, action "pass", no params), a
 * heartbeat every --heartbeat-ms with a credit `limit` (received + --slots),
 * an immediate pass result for every dispatch (nothing runs), and ack,
 * pulse, redirect, reregister and silence handling as core/cluster/runtime.c does.
 *
 * run: N JobSpecs of --action (noop.pass) with --params. Throughput mode
 * (no --rate): ceil(N/K) JobSpecs of K targets (--per-spec, 100), at most W
 * submits awaiting their reply (--window, 8) and, with --backlog B, at most
 * B jobs submitted and not ended; jobs/s = completed / (first submit -> last
 * completion event). Latency mode (--rate R): N one-job
 * JobSpecs offered open loop (spec i is sent at t0 + i/R whatever the
 * replies do), latency = completion event - *scheduled* send time, so no
 * coordinated omission. In throughput mode latency is event - send time of
 * the job's JobSpec. Events (job.completed/failed/cancelled) come from the
 * leader's stream; jobs whose event was missed are looked up with
 * assay.job. With --jobs 0 --idle S: the runtimes only heartbeat for S
 * seconds; reported: the leader's CPU % of one core over that period and
 * the runtimes assay.runtimes reports dead (alive=false).
 *
 * failover: 3 raft members and 1 runtime (real, or --simulated). K times:
 * M one-job JobSpecs submitted and acknowledged one by one (--jobs-per-kill,
 * 20), the leader killed with SIGKILL, submissions continued through the
 * members (200 ms for a silent member, redirects followed) until one is
 * acknowledged: failover time = kill -> that acknowledgement. The victim is
 * restarted and given --settle seconds (1). Then every acknowledged JobSpec
 * is looked up until its jobs completed: lost = acknowledged JobSpecs with a
 * job missing or not completed (must be 0).
 *
 * memory: one member (consensus none) and one simulated runtime that grants
 * no credit; N noop jobs as JobSpecs of K targets (--per-spec, 1000) stay
 * queued; leader VmRSS growth per queued job = (after - before) / N.
 *
 * Leader figures (clusters it started): CPU = utime + stime from
 * /proc/PID/stat over the measured period, peak RSS = VmHWM, RSS = VmRSS.
 * Progress goes to stderr once a second; a summary (or with --json one JSON
 * object) to stdout at the end. Everything is bounded by --timeout (300 s);
 * everything started is stopped (SIGTERM, SIGKILL after 5 s), also on error
 * and SIGINT. Exit 0 when every job completed and no submit failed (and,
 * for failover, nothing was lost); 1 otherwise; 2 on a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <msgpack.h>

#include "base/clock.h"
#include "base/dir.h"
#include "base/errtext.h"
#include "base/log.h"
#include "cluster/link.h"

#define DEFAULT_TIMEOUT_S 300
#define GROUP_LINKS 16 /* transport/zmq MAX_LINKS: links per instance */
#define MAX_EPS 8
#define MAX_REAL_RUNTIMES 64
#define MAX_SIM_RUNTIMES 4096 /* the leader's MAX_RUNTIMES */
#define MAX_PROCS (3 + MAX_REAL_RUNTIMES)
#define MAX_ARGS 48
#define JOIN_TRIES 3 /* unanswered registrations before the next member */
#define STOP_GRACE_US 5000000
#define MAX_MESSAGE ((size_t)256 << 20)
#define RESULT_BATCH 2000 /* result items per message (well under 1 MiB) */
#define DRAIN_BOUND 4096
#define SEC 1000000LL

enum { CMD_RUN = 1, CMD_FAILOVER, CMD_MEMORY };

static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

static void s_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("assay-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* snprintf that truncates quietly (paths and messages are bounded). */
static void s_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/* ---- State ------------------------------------------------------------- */

typedef struct {
    int cmd;
    long jobs, runtimes, per_spec, window, backlog, queued, jobs_per_kill,
        slots;
    bool simulated, json, keep, per_spec_given, jobs_given;
    double rate, idle_s, settle_s;
    int members, heartbeat_ms, timeout_s, kills, executors, depth;
    const char *endpoint, *events, *action, *params;
    const char *member_sets[8]; /* --member-set KEY=VALUE, in order */
    int n_member_sets;
} s_opts;

typedef struct {
    pid_t pid; /* 0: not running */
    char name[32];
    char *argv[MAX_ARGS];
    char log[PATH_MAX];
    bool member;
} s_proc;

/* The control-plane client: one DEALER to a member, and (optionally) a SUB
 * to the leader's events, in one transport instance (recreated when it
 * changes member, so a late reply of another member is never taken for
 * the answer). */
typedef struct {
    assay_link *link;
    int dealer, sub, ep;
    bool dirty; /* sent or readable since the last drain */
} s_cp;

typedef struct {
    char job[96];
    int64_t attempt;
    bool unsent, bad;
} s_held;

/* A simulated runtime. */
typedef struct {
    char id[64];
    int group, link, ep;
    bool registered;
    uint64_t received;
    int unanswered;
    int64_t next_us, heard_us, last_hb_us;
    s_held *held;
    size_t nheld, cap, unsent;
} s_srt;

typedef struct {
    assay_link *link;
    int fd, n;
    bool dirty, reconnect;
    int rt[GROUP_LINKS];      /* runtime indices */
    int by_link[GROUP_LINKS]; /* link id -> runtime index */
} s_group;

typedef struct {
    s_opts o;
    char exe_dir[PATH_MAX], assayd[PATH_MAX], plugins[PATH_MAX];
    char tmp[PATH_MAX];
    int64_t t_start, deadline;
    char fatal[512];
    /* Members: control-plane and event endpoints (ours, or --endpoint). */
    char eps[MAX_EPS][256], evs[MAX_EPS][256], raft[3][64];
    int neps, leader; /* leader: index into eps, -1 unknown */
    bool own;         /* we started the cluster */
    int consensus_members;
    s_proc procs[MAX_PROCS];
    int nprocs;
    int member_proc[3]; /* index into procs */
    char rt_prefix[32]; /* ids of our runtimes start with it */
    /* Control plane. */
    s_cp cp;
    char await[64];
    json_t *reply;
    /* Simulated runtimes. */
    s_srt *rts;
    int nrts;
    s_group *groups;
    int ngroups;
    int64_t sim_next_us;
    json_t *catalog;
    long slots;
    uint64_t sim_sessions, sim_dispatched, sim_results, sim_heartbeats,
        sim_pulses, sim_reregisters, sim_redirects, sim_silent, sim_acks;
    int64_t hb_gap_max_us;
    /* Jobs (run). */
    char prefix[40];
    size_t prefix_len;
    long nspecs, per_spec;
    json_t *params, *targets;
    int64_t *spec_sent_us;
    uint8_t *spec_acked, *done;
    int64_t *lat_us;
    long sent, replied, acked_specs, submitted, completed, failed,
        submit_errors, passed, dup_events, reconciled;
    int64_t first_send_us, last_send_us, last_event_us, t0_us,
        max_send_lag_us;
    bool warm, measuring;
    long warm_sent, dead_events;
    char first_error[512];
    /* Progress. */
    const char *phase;
    int64_t progress_next;
    double cpu_prev;
    int64_t cpu_prev_us;
    pid_t cpu_prev_pid;
} s_bench;

static s_bench B;

static bool s_stopping(const s_bench *b)
{
    return s_interrupted || b->fatal[0] || assay_now_us() >= b->deadline;
}

static void s_error(s_bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_error(s_bench *b, const char *fmt, ...)
{
    if (b->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->first_error, sizeof b->first_error, fmt, ap);
    va_end(ap);
}

/* ---- Processes ----------------------------------------------------------- */

static bool s_exists(const char *path) { return access(path, X_OK) == 0; }

/* assayd beside this binary (build tree or install), else from $PATH. */
static int s_locate(s_bench *b)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(b->exe_dir, sizeof b->exe_dir, "%s", self);
    static const char *rel[] = {"../bin/assayd", "bin/assayd", "assayd"};
    for (size_t i = 0; i < 3; i++) {
        s_fmt(b->assayd, sizeof b->assayd, "%s/%s", self, rel[i]);
        if (s_exists(b->assayd))
            goto plugins;
    }
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        size_t len = strcspn(p, ":");
        snprintf(b->assayd, sizeof b->assayd, "%.*s/assayd", (int)len, p);
        if (len && s_exists(b->assayd))
            goto plugins;
        p += len + (p[len] == ':');
    }
    b->assayd[0] = '\0';
    return -1;
plugins:
    s_fmt(b->plugins, sizeof b->plugins, "%s/../plugins-out", self);
    struct stat st;
    if (stat(b->plugins, &st) != 0 || !S_ISDIR(st.st_mode))
        b->plugins[0] = '\0'; /* installed: assayd's own default */
    return 0;
}

static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static s_proc *s_proc_new(s_bench *b, const char *name, bool member)
{
    if (b->nprocs == MAX_PROCS)
        return NULL;
    s_proc *p = &b->procs[b->nprocs++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    s_fmt(p->log, sizeof p->log, "%s/%s.log", b->tmp, name);
    p->member = member;
    return p;
}

static void s_arg(s_proc *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void s_arg(s_proc *p, const char *fmt, ...)
{
    int n = 0;
    while (n < MAX_ARGS - 1 && p->argv[n])
        n++;
    if (n == MAX_ARGS - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&p->argv[n], fmt, ap) < 0)
        p->argv[n] = NULL;
    va_end(ap);
}

static int s_spawn(s_bench *b, s_proc *p)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        s_note("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Our own process group: a terminal's ^C reaches assay-bench
         * only, which stops everything in order. If assay-bench dies
         * without stopping us, the kernel does. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int log = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                       0644);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        if (null >= 0)
            dup2(null, 0);
        signal(SIGPIPE, SIG_DFL); /* ignored here; exec would keep that */
        execv(b->assayd, p->argv);
        _exit(127);
    }
    p->pid = pid;
    return 0;
}

/* SIGKILL and reap. */
static void s_kill9(s_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    p->pid = 0;
}

/* SIGTERM everything, SIGKILL what is left after 5 s. */
static void s_stop_all(s_bench *b)
{
    for (int i = 0; i < b->nprocs; i++)
        if (b->procs[i].pid > 0)
            kill(b->procs[i].pid, SIGTERM);
    int64_t until = assay_now_us() + STOP_GRACE_US;
    for (;;) {
        int left = 0;
        for (int i = 0; i < b->nprocs; i++) {
            s_proc *p = &b->procs[i];
            if (p->pid <= 0)
                continue;
            int st;
            pid_t r = waitpid(p->pid, &st, WNOHANG);
            if (r == p->pid || (r < 0 && errno == ECHILD))
                p->pid = 0;
            else
                left++;
        }
        if (!left)
            return;
        if (assay_now_us() >= until)
            break;
        usleep(20000);
    }
    for (int i = 0; i < b->nprocs; i++)
        if (b->procs[i].pid > 0) {
            s_note("%s did not stop within 5 s: SIGKILL", b->procs[i].name);
            s_kill9(&b->procs[i]);
        }
}

/* A started process that exited on its own is fatal: nothing it did can be
 * measured any more. */
static void s_check_children(s_bench *b)
{
    for (int i = 0; i < b->nprocs; i++) {
        s_proc *p = &b->procs[i];
        int st;
        if (p->pid <= 0 || waitpid(p->pid, &st, WNOHANG) != p->pid)
            continue;
        p->pid = 0;
        if (!b->fatal[0])
            s_fmt(b->fatal, sizeof b->fatal, "%s exited (%s %d); log: %s",
                     p->name, WIFSIGNALED(st) ? "signal" : "status",
                     WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
                     p->log);
    }
}

/* Sanitizer reports of the children are copied to stderr (ctest fails the
 * test on them); with `tails`, the end of every log too. */
static void s_show_logs(s_bench *b, bool tails)
{
    for (int i = 0; i < b->nprocs; i++) {
        FILE *f = fopen(b->procs[i].log, "r");
        if (!f)
            continue;
        char line[1024];
        bool san = false;
        while (!san && fgets(line, sizeof line, f))
            san = strstr(line, "Sanitizer") || strstr(line, "runtime error:");
        if (san) {
            rewind(f);
            fprintf(stderr, "--- %s: sanitizer report\n", b->procs[i].name);
            long k = 0;
            while (fgets(line, sizeof line, f) && k++ < 400)
                fputs(line, stderr);
        } else if (tails) {
            assay_log_tail(b->procs[i].log, b->procs[i].name, 15, stderr);
        }
        fclose(f);
    }
}

/* utime + stime of `pid` in seconds, or NAN. */
static double s_cpu_s(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return NAN;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    /* After ")": state(3) ... utime is field 14, stime 15. */
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &ut, &st) != 2)
        return NAN;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Key:   123 kB" line of /proc/PID/status, in kB, or -1. */
static long s_status_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return v;
}

static pid_t s_leader_pid(const s_bench *b)
{
    if (!b->own || b->leader < 0 || b->leader >= b->consensus_members)
        return 0;
    return b->procs[b->member_proc[b->leader]].pid;
}

/* ---- Cluster ------------------------------------------------------------- */

static int s_start_member(s_bench *b, int i)
{
    s_proc *p = &b->procs[b->member_proc[i]];
    return s_spawn(b, p);
}

static int s_start_cluster(s_bench *b, int members)
{
    b->own = true;
    b->consensus_members = members;
    b->neps = members;
    char all[256] = "";
    for (int i = 0; i < members; i++) {
        snprintf(b->eps[i], sizeof b->eps[i], "tcp://127.0.0.1:%d",
                 s_free_port());
        snprintf(b->evs[i], sizeof b->evs[i], "tcp://127.0.0.1:%d",
                 s_free_port());
        snprintf(b->raft[i], sizeof b->raft[i], "127.0.0.1:%d",
                 s_free_port());
        size_t len = strlen(all);
        snprintf(all + len, sizeof all - len, "%s%d@%s", i ? " " : "", i + 1,
                 b->raft[i]);
    }
    for (int i = 0; i < members; i++) {
        char name[32];
        snprintf(name, sizeof name, "member%d", i + 1);
        b->member_proc[i] = b->nprocs;
        s_proc *p = s_proc_new(b, name, true);
        s_arg(p, "assayd");
        s_arg(p, "--node-id");
        s_arg(p, "%s", name);
        s_arg(p, "--executors");
        s_arg(p, "0");
        s_arg(p, "--listen");
        s_arg(p, "%s", b->eps[i]);
        s_arg(p, "--events");
        s_arg(p, "%s", b->evs[i]);
        s_arg(p, "--set");
        s_arg(p, "log_level=warn");
        for (int k = 0; k < b->o.n_member_sets; k++) {
            s_arg(p, "--set");
            s_arg(p, "%s", b->o.member_sets[k]);
        }
        if (members > 1) {
            s_arg(p, "--set");
            s_arg(p, "consensus=raft");
            s_arg(p, "--set");
            s_arg(p, "member_id=%d", i + 1);
            s_arg(p, "--set");
            s_arg(p, "members=%s", all);
            s_arg(p, "--set");
            s_arg(p, "raft_address=%s", b->raft[i]);
            s_arg(p, "--set");
            s_arg(p, "data_dir=%s/%s", b->tmp, name);
        }
        if (s_start_member(b, i))
            return -1;
    }
    return 0;
}

static int s_start_real_runtimes(s_bench *b, long n)
{
    for (long k = 0; k < n; k++) {
        char name[32];
        s_fmt(name, sizeof name, "%s%ld", b->rt_prefix, k + 1);
        s_proc *p = s_proc_new(b, name, false);
        if (!p)
            return -1;
        s_arg(p, "assayd");
        s_arg(p, "--node-id");
        s_arg(p, "%s", name);
        for (int i = 0; i < b->neps; i++) {
            s_arg(p, "--join");
            s_arg(p, "%s", b->eps[i]);
        }
        if (b->plugins[0]) {
            s_arg(p, "--plugins-dir");
            s_arg(p, "%s", b->plugins);
        }
        s_arg(p, "--executors");
        s_arg(p, "%d", b->o.executors);
        s_arg(p, "--set");
        s_arg(p, "jobs_per_executor=%d", b->o.depth);
        s_arg(p, "--set");
        s_arg(p, "max_cpu_percent=100");
        s_arg(p, "--set");
        s_arg(p, "min_mem_free_percent=0");
        s_arg(p, "--set");
        s_arg(p, "heartbeat_ms=%d", b->o.heartbeat_ms);
        s_arg(p, "--set");
        s_arg(p, "log_level=warn");
        if (s_spawn(b, p))
            return -1;
    }
    return 0;
}

/* Index of `ep` in eps, added when new and there is room; -1 otherwise. */
static int s_ep_index(s_bench *b, const char *ep)
{
    if (!ep || !*ep)
        return -1;
    for (int i = 0; i < b->neps; i++)
        if (!strcmp(b->eps[i], ep))
            return i;
    if (b->neps == MAX_EPS || strlen(ep) >= sizeof b->eps[0])
        return -1;
    snprintf(b->eps[b->neps], sizeof b->eps[0], "%s", ep);
    b->evs[b->neps][0] = '\0';
    return b->neps++;
}

/* ---- Control-plane client ------------------------------------------------ */

static int s_cp_open(s_bench *b, int ep, const char *events)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_link_destroy(&b->cp.link);
    b->cp.dealer = b->cp.sub = -1;
    b->cp.ep = ep;
    if (assay_link_new(NULL, "zmq", NULL, MAX_MESSAGE, &b->cp.link, err,
                       sizeof err) != 0 ||
        (b->cp.dealer = assay_link_open(b->cp.link, ASSAY_LINK_CLIENT,
                                        b->eps[ep], err, sizeof err)) < 0 ||
        (events && *events &&
         (b->cp.sub = assay_link_open(b->cp.link, ASSAY_LINK_SUBSCRIBE,
                                      events, err, sizeof err)) < 0)) {
        s_fmt(b->fatal, sizeof b->fatal, "control plane: %s", err);
        assay_link_destroy(&b->cp.link);
        return -1;
    }
    if (b->cp.sub >= 0) {
        static const char *topics[] = {"job.completed", "job.failed",
                                       "job.cancelled", "runtime.dead"};
        for (size_t i = 0; i < 4; i++)
            assay_link_subscribe(b->cp.link, b->cp.sub, topics[i]);
    }
    b->cp.dirty = true;
    return 0;
}

static int s_cp_send(s_bench *b, const char *verb, const json_t *body)
{
    if (!b->cp.link)
        return ASSAY_EINVAL;
    int rc = assay_link_send(b->cp.link, b->cp.dealer, NULL,
                             ASSAY_MDP_CLIENT, verb, body);
    b->cp.dirty = true;
    return rc;
}

/* ---- Jobs: ids "<prefix>-<spec>" and "<prefix>-<spec>-<k>" ----------------- */

static bool s_parse_id(const s_bench *b, const char *id, long *spec, long *k)
{
    if (!id || strncmp(id, b->prefix, b->prefix_len) ||
        id[b->prefix_len] != '-')
        return false;
    const char *p = id + b->prefix_len + 1;
    char *end;
    errno = 0;
    long s = strtol(p, &end, 10);
    if (end == p || errno || s < 0 || s >= b->nspecs)
        return false;
    *spec = s;
    if (!k)
        return *end == '\0';
    if (*end != '-')
        return false;
    p = end + 1;
    long kk = strtol(p, &end, 10);
    if (end == p || *end || kk < 0)
        return false;
    *k = kk;
    return true;
}

static long s_spec_jobs(const s_bench *b, long spec)
{
    long left = b->o.jobs - spec * b->per_spec;
    return left < b->per_spec ? left : b->per_spec;
}

static long s_ended(const s_bench *b) { return b->completed + b->failed; }

static json_t *s_spec_body(s_bench *b, const char *id, long targets)
{
    json_t *s = json_pack("{s:s, s:s}", "id", id, "action", b->o.action);
    if (!s)
        return NULL;
    if (b->params)
        json_object_set(s, "params", b->params);
    if (targets > 1) {
        if (b->targets && (long)json_array_size(b->targets) == targets) {
            json_object_set(s, "targets", b->targets);
        } else {
            json_t *t = json_array();
            for (long i = 0; i < targets; i++)
                json_array_append_new(t, json_object());
            json_object_set_new(s, "targets", t);
        }
    }
    return s;
}

static int s_submit(s_bench *b, const char *id, long targets)
{
    json_t *spec = s_spec_body(b, id, targets);
    int rc = spec ? s_cp_send(b, "assay.submit", spec) : ASSAY_ENOMEM;
    json_decref(spec);
    return rc;
}

static void s_mark_done(s_bench *b, long spec, long k, const char *state,
                        const json_t *job, int64_t now, bool from_event)
{
    long j = spec * b->per_spec + k;
    if (k >= s_spec_jobs(b, spec))
        return;
    if (b->done[j]) {
        b->dup_events += from_event;
        return;
    }
    b->done[j] = 1;
    if (!strcmp(state, "completed")) {
        b->completed++;
        const char *st = json_string_value(
            json_object_get(json_object_get(job, "result"), "status"));
        b->passed += st && !strcmp(st, "pass");
    } else {
        b->failed++;
        s_error(b, "job %s-%ld-%ld %s: %s", b->prefix, spec, k, state,
                json_string_value(json_object_get(job, "reason")));
    }
    if (!from_event) {
        b->reconciled++;
        return;
    }
    b->last_event_us = now;
    if (b->lat_us)
        b->lat_us[j] = b->o.rate > 0
                           ? now - (b->t0_us + (int64_t)((double)spec * 1e6 /
                                                          b->o.rate))
                           : now - b->spec_sent_us[spec];
}

static bool s_is_warm(const s_bench *b, const char *spec)
{
    return spec && !strncmp(spec, b->prefix, b->prefix_len) &&
           !strncmp(spec + b->prefix_len, "-warm", 5);
}

static void s_on_event(s_bench *b, const assay_link_msg *m, int64_t now)
{
    if (!strcmp(m->proto, "runtime.dead")) {
        const char *id = json_string_value(json_object_get(m->body, "id"));
        if (id && b->rt_prefix[0] &&
            !strncmp(id, b->rt_prefix, strlen(b->rt_prefix)))
            b->dead_events++;
        return;
    }
    const char *spec = json_string_value(json_object_get(m->body, "spec"));
    if (s_is_warm(b, spec)) {
        b->warm = true;
        return;
    }
    long si, k;
    if (!b->done ||
        !s_parse_id(b, json_string_value(json_object_get(m->body, "id")), &si,
                    &k))
        return;
    const char *state = !strcmp(m->proto, "job.completed") ? "completed"
                        : !strcmp(m->proto, "job.failed")  ? "failed"
                                                           : "cancelled";
    s_mark_done(b, si, k, state, m->body, now, true);
}

static void s_on_submit_reply(s_bench *b, const assay_link_msg *m)
{
    const char *spec = json_string_value(json_object_get(m->body, "spec"));
    bool ok = json_is_true(json_object_get(m->body, "ok"));
    long i;
    if (strcmp(m->verb, "assay.submit"))
        return;
    if (!b->measuring) {
        /* Only warm-up submits are out: a refusal ends the run. */
        if (!ok && !b->fatal[0])
            s_fmt(b->fatal, sizeof b->fatal, "warm-up submit refused: %s (%s)",
                  json_string_value(json_object_get(m->body, "message")),
                  json_string_value(json_object_get(m->body, "error")));
        return;
    }
    if (s_is_warm(b, spec))
        return;
    if (spec && s_parse_id(b, spec, &i, NULL)) {
        b->replied++;
        if (ok && !b->spec_acked[i]) {
            b->spec_acked[i] = 1;
            b->acked_specs++;
            b->submitted += s_spec_jobs(b, i);
        }
    } else if (!ok) {
        b->replied++; /* an error names no spec: the oldest submit's */
    }
    if (!ok) {
        b->submit_errors++;
        s_error(b, "submit refused: %s (%s)",
                json_string_value(json_object_get(m->body, "message")),
                json_string_value(json_object_get(m->body, "error")));
    }
}

static void s_cp_message(s_bench *b, const assay_link_msg *m, int64_t now)
{
    if (m->id == b->cp.sub) {
        if (m->body)
            s_on_event(b, m, now);
        return;
    }
    if (!m->body)
        return;
    if (b->await[0] && !b->reply && !strcmp(m->verb, b->await)) {
        b->reply = json_incref(m->body);
        return;
    }
    s_on_submit_reply(b, m);
}

static void s_cp_drain(s_bench *b)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    b->cp.dirty = false;
    for (int n = 0; b->cp.link && n < DRAIN_BOUND; n++) {
        assay_link_msg m;
        int rc = assay_link_recv(b->cp.link, &m, err, sizeof err);
        if (rc == 0)
            return;
        if (rc < 0) {
            s_note("dropped a malformed message: %s", err);
            continue;
        }
        s_cp_message(b, &m, assay_now_us());
        assay_link_msg_fini(&m);
    }
    b->cp.dirty = true; /* bound reached: more may wait */
}

/* ---- Simulated runtimes ---------------------------------------------------- */

static void s_pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static uint64_t s_rt_limit(const s_bench *b, const s_srt *r)
{
    return r->received + (uint64_t)b->slots;
}

static void s_rt_send(s_bench *b, s_srt *r, const char *verb,
                      const msgpack_sbuffer *sb)
{
    s_group *g = &b->groups[r->group];
    assay_bytes body = {(const uint8_t *)sb->data, sb->size};
    if (g->link)
        assay_link_send_raw(g->link, r->link, NULL, ASSAY_RUNTIME_PROTO, verb,
                            &body);
    g->dirty = true;
}

static void s_pk_running(msgpack_packer *pk, const s_srt *r)
{
    msgpack_pack_array(pk, r->nheld);
    for (size_t i = 0; i < r->nheld; i++) {
        msgpack_pack_map(pk, 2);
        s_pk_str(pk, "job");
        s_pk_str(pk, r->held[i].job);
        s_pk_str(pk, "attempt");
        msgpack_pack_int64(pk, r->held[i].attempt);
    }
}

static void s_rt_register(s_bench *b, s_srt *r, int64_t now)
{
    int64_t hb = (int64_t)b->o.heartbeat_ms * 1000;
    if (++r->unanswered > JOIN_TRIES && b->neps > 1) {
        /* As core/cluster/runtime.c: the member is silent, try the next one. */
        r->ep = (r->ep + 1) % b->neps;
        r->unanswered = 1;
        b->groups[r->group].reconnect = true;
        r->next_us = now + hb;
        return;
    }
    json_t *running = json_array();
    for (size_t i = 0; i < r->nheld; i++)
        json_array_append_new(running,
                              json_pack("{s:s, s:I}", "job", r->held[i].job,
                                        "attempt",
                                        (json_int_t)r->held[i].attempt));
    json_t *body = json_pack(
        "{s:s, s:I, s:{}, s:{s:I, s:I}, s:O, s:o, s:b}", "id", r->id,
        "heartbeat_ms", (json_int_t)b->o.heartbeat_ms, "labels", "capacity",
        "slots", (json_int_t)b->slots, "memory_mb", (json_int_t)1024,
        "catalog", b->catalog, "running", running, "acks_in_dispatch", 1);
    s_group *g = &b->groups[r->group];
    if (body && g->link)
        assay_link_send(g->link, r->link, NULL, ASSAY_RUNTIME_PROTO,
                        "register", body);
    json_decref(body);
    g->dirty = true;
    r->next_us = now + hb;
}

static void s_rt_heartbeat(s_bench *b, s_srt *r, int64_t now)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    s_pk_str(&pk, "id");
    s_pk_str(&pk, r->id);
    s_pk_str(&pk, "limit");
    msgpack_pack_uint64(&pk, s_rt_limit(b, r));
    s_pk_str(&pk, "mem_available_mb");
    msgpack_pack_int64(&pk, 1024);
    s_pk_str(&pk, "why");
    s_pk_str(&pk, b->slots ? "" : "simulated: grants no credit");
    s_pk_str(&pk, "running");
    s_pk_running(&pk, r);
    s_rt_send(b, r, "heartbeat", &sb);
    msgpack_sbuffer_destroy(&sb);
    if (r->last_hb_us && b->measuring && now - r->last_hb_us > b->hb_gap_max_us)
        b->hb_gap_max_us = now - r->last_hb_us;
    r->last_hb_us = now;
    b->sim_heartbeats++;
}

static void s_pk_result(msgpack_packer *pk, const s_held *h)
{
    msgpack_pack_map(pk, 3);
    s_pk_str(pk, "job");
    s_pk_str(pk, h->job);
    s_pk_str(pk, "attempt");
    msgpack_pack_int64(pk, h->attempt);
    s_pk_str(pk, "result");
    if (h->bad) {
        static const char why[] = "simulated runtime offers noop.pass 1.0.0 "
                                  "only";
        msgpack_pack_map(pk, 6);
        s_pk_str(pk, "status");
        s_pk_str(pk, "error");
        s_pk_str(pk, "reason");
        s_pk_str(pk, why);
        s_pk_str(pk, "message");
        s_pk_str(pk, why);
        s_pk_str(pk, "retryable");
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_map(pk, 5);
        s_pk_str(pk, "status");
        s_pk_str(pk, "pass");
        s_pk_str(pk, "message");
        s_pk_str(pk, "ok");
        s_pk_str(pk, "duration_us");
        msgpack_pack_int64(pk, 1);
    }
    s_pk_str(pk, "findings");
    msgpack_pack_array(pk, 0);
    s_pk_str(pk, "data");
    msgpack_pack_map(pk, 0);
}

/* Sends the results marked unsent, RESULT_BATCH per message. */
static void s_rt_flush(s_bench *b, s_srt *r)
{
    while (r->unsent) {
        size_t n = r->unsent < RESULT_BATCH ? r->unsent : RESULT_BATCH;
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        s_pk_str(&pk, "id");
        s_pk_str(&pk, r->id);
        s_pk_str(&pk, "results");
        msgpack_pack_array(&pk, n);
        size_t done = 0;
        for (size_t i = 0; i < r->nheld && done < n; i++)
            if (r->held[i].unsent) {
                s_pk_result(&pk, &r->held[i]);
                r->held[i].unsent = false;
                done++;
            }
        s_pk_str(&pk, "limit");
        msgpack_pack_uint64(&pk, s_rt_limit(b, r));
        s_rt_send(b, r, "result", &sb);
        msgpack_sbuffer_destroy(&sb);
        r->unsent -= done;
        b->sim_results += done;
        if (done < n) { /* cannot happen: counts out of step */
            r->unsent = 0;
            break;
        }
    }
}

static void s_rt_session_lost(s_srt *r)
{
    r->registered = false;
    r->received = 0;
}

static void s_rt_tick(s_bench *b, s_srt *r, int64_t now)
{
    int64_t hb = (int64_t)b->o.heartbeat_ms * 1000;
    if (!r->registered) {
        s_rt_register(b, r, now);
        return;
    }
    if (now - r->heard_us > hb * (JOIN_TRIES + 1)) {
        /* The leader answers every heartbeat: it died or was cut off. */
        b->sim_silent++;
        s_rt_session_lost(r);
        r->unanswered = 0;
        s_rt_register(b, r, now);
        return;
    }
    s_rt_heartbeat(b, r, now);
    r->next_us += hb;
    if (r->next_us <= now)
        r->next_us = now + hb;
}

static void s_sim_timers(s_bench *b, int64_t now)
{
    if (!b->nrts || now < b->sim_next_us)
        return;
    int64_t next = now + SEC;
    for (int i = 0; i < b->nrts; i++) {
        s_srt *r = &b->rts[i];
        if (r->next_us <= now)
            s_rt_tick(b, r, now);
        if (r->next_us < next)
            next = r->next_us;
    }
    b->sim_next_us = next;
}

static void s_rt_hold(s_srt *r, const char *job, int64_t attempt, bool bad)
{
    for (size_t i = 0; i < r->nheld; i++)
        if (r->held[i].attempt == attempt && !strcmp(r->held[i].job, job))
            return; /* a duplicate of one we hold */
    if (r->nheld == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        s_held *h = realloc(r->held, cap * sizeof *h);
        if (!h)
            return;
        r->held = h;
        r->cap = cap;
    }
    s_held *h = &r->held[r->nheld++];
    snprintf(h->job, sizeof h->job, "%s", job);
    h->attempt = attempt;
    h->unsent = true;
    h->bad = bad;
    r->unsent++;
}

static void s_rt_ack(s_bench *b, s_srt *r, const char *job, int64_t attempt)
{
    for (size_t i = 0; i < r->nheld; i++)
        if (r->held[i].attempt == attempt && !strcmp(r->held[i].job, job)) {
            if (r->held[i].unsent)
                r->unsent--;
            r->held[i] = r->held[--r->nheld];
            b->sim_acks++;
            return;
        }
}

static void s_rt_acks(s_bench *b, s_srt *r, const json_t *items)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        const char *job = json_string_value(json_object_get(it, "job"));
        if (job)
            s_rt_ack(b, r, job,
                     json_integer_value(json_object_get(it, "attempt")));
    }
}

static void s_rt_message(s_bench *b, s_group *g, const assay_link_msg *m,
                         int64_t now)
{
    if (m->id < 0 || m->id >= g->n)
        return;
    s_srt *r = &b->rts[g->by_link[m->id]];
    r->heard_us = now;
    if (strcmp(m->proto, ASSAY_RUNTIME_PROTO))
        return;
    const char *v = m->verb;
    if (!strcmp(v, "pulse")) {
        b->sim_pulses++;
    } else if (!strcmp(v, "dispatch")) {
        size_t i;
        json_t *it;
        s_rt_acks(b, r, json_object_get(m->body, "acks"));
        json_array_foreach(json_object_get(m->body, "jobs"), i, it) {
            r->received++; /* counted by the leader either way */
            b->sim_dispatched++;
            const char *job = json_string_value(json_object_get(it, "job"));
            json_int_t attempt =
                json_integer_value(json_object_get(it, "attempt"));
            const char *action =
                json_string_value(json_object_get(it, "action"));
            const char *version =
                json_string_value(json_object_get(it, "version"));
            if (!job || strlen(job) >= sizeof r->held[0].job || attempt < 1)
                continue;
            s_rt_hold(r, job, attempt,
                      !action || strcmp(action, "noop.pass") || !version ||
                          strcmp(version, "1.0.0"));
        }
    } else if (!strcmp(v, "ack")) {
        s_rt_acks(b, r, json_object_get(m->body, "jobs"));
    } else if (!strcmp(v, "registered")) {
        if (!r->registered)
            b->sim_sessions++;
        r->registered = true;
        r->unanswered = 0;
        /* Unacknowledged results are told again, then a heartbeat. */
        r->unsent = r->nheld;
        for (size_t i = 0; i < r->nheld; i++)
            r->held[i].unsent = true;
        s_rt_flush(b, r);
        s_rt_heartbeat(b, r, now);
        r->next_us = now + (int64_t)b->o.heartbeat_ms * 1000;
        if (r->next_us < b->sim_next_us)
            b->sim_next_us = r->next_us;
    } else if (!strcmp(v, "reregister")) {
        b->sim_reregisters++;
        s_rt_session_lost(r);
        r->unanswered = 0;
        s_rt_register(b, r, now);
        if (r->next_us < b->sim_next_us)
            b->sim_next_us = r->next_us;
    } else if (!strcmp(v, "redirect")) {
        b->sim_redirects++;
        int i = s_ep_index(
            b, json_string_value(json_object_get(m->body, "leader")));
        if (i >= 0) {
            r->ep = i;
            r->unanswered = 0;
            g->reconnect = true;
        }
    }
    /* cancel: nothing runs; rescan: nothing changes. */
}

static int s_group_connect(s_bench *b, s_group *g)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_link_destroy(&g->link);
    g->reconnect = false;
    if (assay_link_new(NULL, "zmq", NULL, MAX_MESSAGE, &g->link, err,
                       sizeof err) != 0) {
        s_fmt(b->fatal, sizeof b->fatal, "simulated runtimes: %s", err);
        return -1;
    }
    int64_t now = assay_now_us();
    for (int k = 0; k < g->n; k++) {
        s_srt *r = &b->rts[g->rt[k]];
        int id = assay_link_open(g->link, ASSAY_LINK_CLIENT, b->eps[r->ep],
                                 err, sizeof err);
        if (id < 0 || id >= GROUP_LINKS) {
            s_fmt(b->fatal, sizeof b->fatal, "simulated runtime %s: %s",
                     r->id, err);
            return -1;
        }
        r->link = id;
        g->by_link[id] = g->rt[k];
        /* A new connection is a new session: register (again). */
        s_rt_session_lost(r);
        if (r->next_us > now)
            r->next_us = now;
    }
    g->fd = assay_link_fd(g->link);
    g->dirty = true;
    b->sim_next_us = now;
    return 0;
}

static void s_group_drain(s_bench *b, s_group *g)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    g->dirty = false;
    int n;
    for (n = 0; g->link && n < DRAIN_BOUND; n++) {
        assay_link_msg m;
        int rc = assay_link_recv(g->link, &m, err, sizeof err);
        if (rc == 0)
            break;
        if (rc < 0) {
            s_note("simulated runtime: dropped a malformed message: %s", err);
            continue;
        }
        s_rt_message(b, g, &m, assay_now_us());
        assay_link_msg_fini(&m);
    }
    if (n == DRAIN_BOUND)
        g->dirty = true;
    for (int k = 0; k < g->n; k++) {
        s_srt *r = &b->rts[g->rt[k]];
        if (r->registered && r->unsent)
            s_rt_flush(b, r);
    }
}

static json_t *s_sim_catalog(void)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    /* The shape of assay_catalog_json (core/plugin/catalog.c) for plugins/noop. */
    return json_pack(
        "{s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:[]}], "
        "s:[]}], s:[]}",
        "plugins", "name", "noop", "version", "1.0.0", "license",
        "Apache-2.0", "description",
        "does nothing and passes (benchmark workload)", "path",
        "(simulated by assay-bench)", "source", "(simulated by assay-bench)",
        "loaded_at", when, "actions", "name", "pass", "help",
        "always passes", "signature", "", "params", "config", "refused");
}

/* R simulated runtimes, all first joining member `ep`. */
static int s_sim_start(s_bench *b, long n, int ep, long slots)
{
    b->catalog = s_sim_catalog();
    b->slots = slots;
    b->nrts = (int)n;
    b->ngroups = (int)((n + GROUP_LINKS - 1) / GROUP_LINKS);
    b->rts = calloc((size_t)n, sizeof *b->rts);
    b->groups = calloc((size_t)b->ngroups, sizeof *b->groups);
    if (!b->catalog || !b->rts || !b->groups)
        return -1;
    int64_t now = assay_now_us(), hb = (int64_t)b->o.heartbeat_ms * 1000;
    for (int i = 0; i < b->nrts; i++) {
        s_srt *r = &b->rts[i];
        snprintf(r->id, sizeof r->id, "%s%d", b->rt_prefix, i + 1);
        r->ep = ep;
        r->group = i / GROUP_LINKS;
        /* Registrations, hence heartbeats, spread over one interval. */
        r->next_us = now + hb * i / b->nrts;
        s_group *g = &b->groups[r->group];
        g->rt[g->n++] = i;
    }
    for (int k = 0; k < b->ngroups; k++) {
        /* s_group_connect pulls every next_us to now: keep the spread. */
        int64_t keep[GROUP_LINKS];
        s_group *g = &b->groups[k];
        for (int j = 0; j < g->n; j++)
            keep[j] = b->rts[g->rt[j]].next_us;
        if (s_group_connect(b, g))
            return -1;
        for (int j = 0; j < g->n; j++)
            b->rts[g->rt[j]].next_us = keep[j];
    }
    b->sim_next_us = now;
    return 0;
}

static void s_sim_destroy(s_bench *b)
{
    for (int k = 0; k < b->ngroups; k++)
        assay_link_destroy(&b->groups[k].link);
    for (int i = 0; i < b->nrts; i++)
        free(b->rts[i].held);
    free(b->rts);
    free(b->groups);
    b->rts = NULL;
    b->groups = NULL;
    b->nrts = b->ngroups = 0;
    json_decref(b->catalog);
    b->catalog = NULL;
}

/* What the simulated runtimes did, for reports. */
static json_t *s_sim_json(const s_bench *b)
{
    if (!b->nrts)
        return json_null();
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "sessions", (json_int_t)b->sim_sessions, "heartbeats",
                     (json_int_t)b->sim_heartbeats, "pulses",
                     (json_int_t)b->sim_pulses, "dispatched",
                     (json_int_t)b->sim_dispatched, "results",
                     (json_int_t)b->sim_results, "acks",
                     (json_int_t)b->sim_acks, "reregisters",
                     (json_int_t)b->sim_reregisters, "redirects",
                     (json_int_t)b->sim_redirects, "leader_silent",
                     (json_int_t)b->sim_silent);
}

static void s_print_sim(const s_bench *b)
{
    if (!b->nrts)
        return;
    printf("  simulated runtimes: %llu sessions, %llu heartbeats, %llu "
           "pulses, %llu dispatched, %llu results, %llu acked, %llu "
           "reregister, %llu redirect, %llu leader silent\n",
           (unsigned long long)b->sim_sessions,
           (unsigned long long)b->sim_heartbeats,
           (unsigned long long)b->sim_pulses,
           (unsigned long long)b->sim_dispatched,
           (unsigned long long)b->sim_results,
           (unsigned long long)b->sim_acks,
           (unsigned long long)b->sim_reregisters,
           (unsigned long long)b->sim_redirects,
           (unsigned long long)b->sim_silent);
}

/* ---- The loop -------------------------------------------------------------- */

static void s_progress(s_bench *b, int64_t now)
{
    if (now < b->progress_next)
        return;
    b->progress_next = now + SEC;
    s_check_children(b);
    char line[512];
    int n = snprintf(line, sizeof line, "[%6.1fs] %s",
                     (double)(now - b->t_start) / 1e6,
                     b->phase ? b->phase : "");
    if (b->measuring && b->nspecs)
        n += snprintf(line + n, sizeof line - (size_t)n,
                      ": submitted %ld, completed %ld, failed %ld, submit "
                      "errors %ld",
                      b->submitted, b->completed, b->failed,
                      b->submit_errors);
    if (b->nrts) {
        long reg = 0;
        for (int i = 0; i < b->nrts; i++)
            reg += b->rts[i].registered;
        n += snprintf(line + n, sizeof line - (size_t)n,
                      "; %ld/%d simulated runtimes registered", reg, b->nrts);
    }
    pid_t pid = s_leader_pid(b);
    if (pid > 0) {
        double cpu = s_cpu_s(pid);
        if (b->cpu_prev_us && pid == b->cpu_prev_pid && isfinite(cpu) &&
            isfinite(b->cpu_prev))
            n += snprintf(line + n, sizeof line - (size_t)n,
                          "; leader CPU %.0f%%, RSS %ld MB",
                          (cpu - b->cpu_prev) * 1e8 /
                              (double)(now - b->cpu_prev_us),
                          s_status_kb(pid, "VmRSS") / 1024);
        b->cpu_prev = cpu;
        b->cpu_prev_us = now;
        b->cpu_prev_pid = pid;
    }
    (void)n;
    fprintf(stderr, "assay-bench: %s\n", line);
}

/* Timers, then every instance that was readable or sent on, until none is
 * (a send can swallow the wake-up of a message that arrived meanwhile, so
 * each instance is drained after its sends: core/cluster/link.h's contract). */
static void s_process(s_bench *b)
{
    for (int pass = 0; pass < 64; pass++) {
        s_sim_timers(b, assay_now_us());
        bool any = false;
        if (b->cp.link && b->cp.dirty) {
            any = true;
            s_cp_drain(b);
        }
        for (int k = 0; k < b->ngroups; k++) {
            s_group *g = &b->groups[k];
            if (g->dirty) {
                any = true;
                s_group_drain(b, g);
            }
        }
        for (int k = 0; k < b->ngroups; k++)
            if (b->groups[k].reconnect)
                s_group_connect(b, &b->groups[k]);
        if (!any)
            break;
    }
    s_progress(b, assay_now_us());
}

/* One turn: process, wait for input at most until `until` (or a timer),
 * process again. */
static void s_pump(s_bench *b, int64_t until)
{
    s_process(b);
    int64_t now = assay_now_us(), wake = until;
    if (b->nrts && b->sim_next_us < wake)
        wake = b->sim_next_us;
    if (b->progress_next < wake)
        wake = b->progress_next;
    if (b->deadline < wake)
        wake = b->deadline;
    bool dirty = b->cp.dirty;
    struct pollfd pfd[1 + MAX_SIM_RUNTIMES / GROUP_LINKS + 1];
    int n = 0;
    if (b->cp.link)
        pfd[n++] = (struct pollfd){assay_link_fd(b->cp.link), POLLIN, 0};
    for (int k = 0; k < b->ngroups; k++) {
        dirty = dirty || b->groups[k].dirty;
        pfd[n++] = (struct pollfd){b->groups[k].fd, POLLIN, 0};
    }
    int64_t left = dirty || s_interrupted ? 0 : wake - now;
    if (left < 0)
        left = 0;
    struct timespec ts = {left / 1000000, (left % 1000000) * 1000};
    if (ppoll(pfd, (nfds_t)n, &ts, NULL) > 0) {
        int i = 0;
        if (b->cp.link && pfd[i++].revents)
            b->cp.dirty = true;
        for (int k = 0; k < b->ngroups; k++)
            if (pfd[i++].revents)
                b->groups[k].dirty = true;
    }
    s_process(b);
}

/* Pumps for `us` microseconds (or until stopping). */
static void s_sleep(s_bench *b, int64_t us)
{
    int64_t until = assay_now_us() + us;
    while (assay_now_us() < until && !s_stopping(b))
        s_pump(b, until);
}

/* One request to the current member; the reply (owned) or NULL after
 * `wait_us` without one. */
static json_t *s_call(s_bench *b, const char *service, const json_t *body,
                      int64_t wait_us)
{
    if (!b->cp.link)
        return NULL;
    json_decref(b->reply);
    b->reply = NULL;
    snprintf(b->await, sizeof b->await, "%s", service);
    int64_t until = assay_now_us() + wait_us;
    if (until > b->deadline)
        until = b->deadline;
    if (s_cp_send(b, service, body) == 0)
        while (!b->reply && assay_now_us() < until && !s_interrupted &&
               !b->fatal[0])
            s_pump(b, until);
    b->await[0] = '\0';
    json_t *r = b->reply;
    b->reply = NULL;
    return r;
}

static bool s_ok(const json_t *r) { return json_is_true(json_object_get(r, "ok")); }

static bool s_not_leader(const json_t *r)
{
    const char *e = json_string_value(json_object_get(r, "error"));
    return e && !strcmp(e, "ASSAY_ENOTLEADER");
}

/* A request to whichever member leads: a silent member (wait_us) gives way
 * to the next, ASSAY_ENOTLEADER is followed, until `until`. The reply
 * (owned, any but ENOTLEADER) or NULL. */
static json_t *s_call_leader(s_bench *b, const char *service,
                             const json_t *body, int64_t wait_us,
                             int64_t until)
{
    while (assay_now_us() < until && !s_stopping(b)) {
        if (!b->cp.link && s_cp_open(b, b->leader >= 0 ? b->leader : 0, NULL))
            return NULL;
        json_t *r = s_call(b, service, body, wait_us);
        if (!r) {
            if (b->neps > 1)
                s_cp_open(b, (b->cp.ep + 1) % b->neps, NULL);
            continue;
        }
        if (!s_not_leader(r)) {
            if (b->cp.ep < b->consensus_members || !b->own)
                b->leader = b->cp.ep;
            return r;
        }
        int i = s_ep_index(b, json_string_value(json_object_get(r, "leader")));
        json_decref(r);
        if (i >= 0 && i != b->cp.ep) {
            s_cp_open(b, i, NULL);
        } else {
            /* No leader known yet (an election): soon, the next member. */
            s_sleep(b, 20000);
            if (b->neps > 1)
                s_cp_open(b, (b->cp.ep + 1) % b->neps, NULL);
        }
    }
    return NULL;
}

/* The member that serves as leader (its index), asking each in turn; -1 if
 * none did before `until`. Fills in its events endpoint when unknown. */
static int s_find_leader(s_bench *b, int64_t until)
{
    json_t *q = json_pack("{s:s}", "op", "status");
    int found = -1;
    while (found < 0 && assay_now_us() < until && !s_stopping(b)) {
        for (int i = 0; i < b->neps && found < 0; i++) {
            if (b->own && i < b->consensus_members &&
                b->procs[b->member_proc[i]].pid <= 0)
                continue;
            if (s_cp_open(b, i, NULL))
                break;
            json_t *r = s_call(b, "assay.cluster", q, 500000);
            if (r && s_ok(r) && json_is_true(json_object_get(r, "serving"))) {
                found = i;
                const char *ev = json_string_value(json_object_get(
                    json_object_get(r, "leader"), "events"));
                if (!b->evs[i][0] && ev)
                    snprintf(b->evs[i], sizeof b->evs[i], "%s", ev);
            } else if (r) {
                /* A follower names the leader: ask it next. */
                s_ep_index(b, json_string_value(json_object_get(
                                  json_object_get(r, "leader"), "endpoint")));
            }
            json_decref(r);
        }
        if (found < 0)
            s_sleep(b, 200000);
    }
    json_decref(q);
    if (found >= 0)
        b->leader = found;
    return found;
}

/* Polls assay.runtimes until `want` of our runtimes are alive (any runtime
 * when we started none). Returns how many were alive, -1 on no answer. */
static long s_runtimes_alive(s_bench *b, long *dead)
{
    json_t *q = json_object();
    json_t *r = s_call(b, "assay.runtimes", q, 5 * SEC);
    json_decref(q);
    if (!r || !s_ok(r)) {
        json_decref(r);
        return -1;
    }
    long alive = 0, gone = 0;
    size_t plen = strlen(b->rt_prefix), i;
    json_t *it;
    json_array_foreach(json_object_get(r, "runtimes"), i, it) {
        const char *id = json_string_value(json_object_get(it, "id"));
        if (plen && (!id || strncmp(id, b->rt_prefix, plen)))
            continue;
        if (json_is_true(json_object_get(it, "alive")))
            alive++;
        else
            gone++;
    }
    json_decref(r);
    if (dead)
        *dead = gone;
    return alive;
}

static int s_wait_runtimes(s_bench *b, long want)
{
    b->phase = "waiting for the runtimes";
    int64_t until = assay_now_us() + 60 * SEC + want * 20000;
    while (assay_now_us() < until && !s_stopping(b)) {
        long alive = s_runtimes_alive(b, NULL);
        if (alive >= want)
            return 0;
        s_sleep(b, 300000);
    }
    if (!b->fatal[0] && !s_interrupted)
        s_fmt(b->fatal, sizeof b->fatal,
                 "%ld runtimes not alive within %.0f s", want,
                 (double)(until - b->t_start) / 1e6);
    return -1;
}

/* ---- run ----------------------------------------------------------------- */

static int s_warmup(s_bench *b)
{
    b->phase = "warming up";
    int64_t next = 0;
    while (!b->warm && !s_stopping(b)) {
        int64_t now = assay_now_us();
        if (now >= next) {
            /* A fresh id each time: a duplicate publishes nothing. */
            char id[96];
            snprintf(id, sizeof id, "%s-warm%ld", b->prefix, b->warm_sent++);
            s_submit(b, id, 1);
            next = now + 500000;
        }
        s_pump(b, next);
    }
    return b->warm ? 0 : -1;
}

static void s_submit_spec(s_bench *b, long i)
{
    char id[96];
    snprintf(id, sizeof id, "%s-%ld", b->prefix, i);
    int rc = s_submit(b, id, s_spec_jobs(b, i));
    int64_t now = assay_now_us();
    if (rc) {
        b->submit_errors++;
        b->replied++;
        s_error(b, "submit %s: %s", id, assay_strerror(rc));
    }
    b->spec_sent_us[i] = now;
    b->last_send_us = now;
    b->sent++;
}

/* Until every JobSpec is answered and its jobs ended; a pause of 3 s
 * without progress leaves it to reconciliation. */
static bool s_jobs_pending(s_bench *b, int64_t *quiet_since, long *seen)
{
    long progress = b->replied + s_ended(b);
    int64_t now = assay_now_us();
    if (progress != *seen) {
        *seen = progress;
        *quiet_since = now;
    }
    if (b->replied >= b->nspecs && s_ended(b) >= b->submitted)
        return false;
    return !(b->replied >= b->nspecs && now - *quiet_since > 3 * SEC);
}

static void s_throughput(s_bench *b)
{
    long next = 0, seen = -1;
    int64_t quiet = assay_now_us();
    b->first_send_us = assay_now_us();
    while (!s_stopping(b) && s_jobs_pending(b, &quiet, &seen)) {
        while (next < b->nspecs && b->sent - b->replied < b->o.window &&
               (!b->o.backlog ||
                next * b->per_spec - s_ended(b) < b->o.backlog))
            s_submit_spec(b, next++);
        s_pump(b, assay_now_us() + 100000);
    }
}

static void s_latency(s_bench *b)
{
    long next = 0, seen = -1;
    int64_t quiet = assay_now_us();
    double step = 1e6 / b->o.rate;
    b->t0_us = assay_now_us() + 1000;
    b->first_send_us = b->t0_us;
    while (!s_stopping(b) && s_jobs_pending(b, &quiet, &seen)) {
        int64_t now = assay_now_us();
        while (next < b->nspecs &&
               b->t0_us + (int64_t)((double)next * step) <= now) {
            int64_t sched = b->t0_us + (int64_t)((double)next * step);
            s_submit_spec(b, next);
            if (b->last_send_us - sched > b->max_send_lag_us)
                b->max_send_lag_us = b->last_send_us - sched;
            next++;
        }
        int64_t wake = next < b->nspecs
                           ? b->t0_us + (int64_t)((double)next * step)
                           : now + 100000;
        s_pump(b, wake);
    }
}

/* Jobs whose terminal event was missed: asked for with assay.job. */
static void s_reconcile(s_bench *b)
{
    b->phase = "looking up jobs without an event";
    while (s_ended(b) < b->submitted && !s_stopping(b)) {
        long before = s_ended(b);
        for (long i = 0; i < b->nspecs && !s_stopping(b); i++) {
            if (!b->spec_acked[i])
                continue;
            long k, n = s_spec_jobs(b, i);
            for (k = 0; k < n && b->done[i * b->per_spec + k]; k++)
                ;
            if (k == n)
                continue;
            char id[96];
            snprintf(id, sizeof id, "%s-%ld", b->prefix, i);
            json_t *q = json_pack("{s:s}", "id", id);
            json_t *r = s_call(b, "assay.job", q, 5 * SEC);
            json_decref(q);
            size_t x;
            json_t *job;
            json_array_foreach(json_object_get(r, "jobs"), x, job) {
                const char *st =
                    json_string_value(json_object_get(job, "state"));
                long si, kk;
                if (st && (!strcmp(st, "completed") || !strcmp(st, "failed") ||
                           !strcmp(st, "cancelled")) &&
                    s_parse_id(b,
                               json_string_value(json_object_get(job, "id")),
                               &si, &kk))
                    s_mark_done(b, si, kk, st, job, assay_now_us(), false);
            }
            json_decref(r);
        }
        if (s_ended(b) == before)
            s_sleep(b, 500000);
    }
}

static int s_cmp64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
    return (a > c) - (a < c);
}

static double s_pct_ms(const int64_t *v, long n, double p)
{
    if (n <= 0)
        return NAN;
    long r = (long)ceil(p / 100.0 * (double)n);
    return (double)v[(r < 1 ? 1 : r) - 1] / 1e3;
}

static json_t *s_real(double x) { return isfinite(x) ? json_real(x) : json_null(); }

/* The leader's CPU seconds over [t0, t1] and peak RSS. */
typedef struct {
    pid_t pid;
    double cpu0, cpu1;
    int64_t t0, t1;
} s_cpu;

static void s_cpu_start(s_bench *b, s_cpu *c)
{
    c->pid = s_leader_pid(b);
    c->cpu0 = c->pid > 0 ? s_cpu_s(c->pid) : NAN;
    c->t0 = assay_now_us();
}

static void s_cpu_stop(s_cpu *c)
{
    c->cpu1 = c->pid > 0 ? s_cpu_s(c->pid) : NAN;
    c->t1 = assay_now_us();
}

static json_t *s_leader_json(const s_cpu *c)
{
    if (c->pid <= 0)
        return json_null();
    double cpu = c->cpu1 - c->cpu0, wall = (double)(c->t1 - c->t0) / 1e6;
    return json_pack("{s:i, s:o, s:o, s:o, s:I, s:I}", "pid", (int)c->pid,
                     "cpu_seconds", s_real(cpu), "wall_seconds",
                     s_real(wall), "cpu_percent",
                     s_real(wall > 0 ? cpu * 100 / wall : NAN), "peak_rss_kb",
                     (json_int_t)s_status_kb(c->pid, "VmHWM"), "rss_kb",
                     (json_int_t)s_status_kb(c->pid, "VmRSS"));
}

static void s_print_leader(const s_cpu *c)
{
    if (c->pid <= 0) {
        printf("  leader: not started by assay-bench (no CPU or RSS figures)\n");
        return;
    }
    double cpu = c->cpu1 - c->cpu0, wall = (double)(c->t1 - c->t0) / 1e6;
    printf("  leader (pid %d): CPU %.2f s over %.2f s = %.1f%% of one core; "
           "peak RSS %.1f MB, RSS %.1f MB\n",
           (int)c->pid, cpu, wall, wall > 0 ? cpu * 100 / wall : NAN,
           (double)s_status_kb(c->pid, "VmHWM") / 1024,
           (double)s_status_kb(c->pid, "VmRSS") / 1024);
}

static bool s_emitted;

static void s_emit(json_t *r)
{
    s_emitted = true;
    json_dumpf(r, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
}

/* Starts (or finds) the cluster and runtimes for `run`. */
static int s_setup_run(s_bench *b)
{
    b->phase = "starting the cluster";
    if (!b->o.endpoint) {
        if (s_start_cluster(b, b->o.members))
            return -1;
    } else {
        char *list = strdup(b->o.endpoint), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t && b->neps < MAX_EPS;
             t = strtok_r(NULL, ",", &save))
            s_ep_index(b, t);
        free(list);
        if (!b->neps)
            return -1;
    }
    b->phase = "finding the leader";
    if (s_find_leader(b, assay_now_us() + 30 * SEC) < 0) {
        if (!b->fatal[0])
            s_fmt(b->fatal, sizeof b->fatal,
                     "no member leads within 30 s");
        return -1;
    }
    const char *events = b->o.events ? b->o.events : b->evs[b->leader];
    if (!*events) {
        s_fmt(b->fatal, sizeof b->fatal,
                 "the leader's event endpoint is unknown: give --events");
        return -1;
    }
    if (s_cp_open(b, b->leader, events))
        return -1;
    if (b->o.simulated) {
        if (s_sim_start(b, b->o.runtimes, b->leader, b->o.slots))
            return -1;
    } else if (b->own && s_start_real_runtimes(b, b->o.runtimes)) {
        return -1;
    }
    if (s_wait_runtimes(b, b->o.simulated || b->own ? b->o.runtimes : 1))
        return -1;
    if (!b->o.simulated && !b->own) /* theirs: report how many there are */
        b->o.runtimes = s_runtimes_alive(b, NULL);
    return 0;
}

static int s_idle(s_bench *b)
{
    s_cpu c;
    b->phase = "idle: runtimes heartbeating";
    b->measuring = true;
    b->hb_gap_max_us = 0;
    uint64_t hb0 = b->sim_heartbeats, pulses0 = b->sim_pulses;
    long dead0 = b->dead_events;
    s_cpu_start(b, &c);
    int64_t until = assay_now_us() + (int64_t)(b->o.idle_s * 1e6);
    if (until > b->deadline)
        until = b->deadline;
    while (assay_now_us() < until && !s_stopping(b))
        s_pump(b, until);
    s_cpu_stop(&c);
    b->measuring = false;
    long dead = -1;
    long alive = s_runtimes_alive(b, &dead);
    bool full = (double)(c.t1 - c.t0) >= b->o.idle_s * 1e6 * 0.99;
    bool ok = full && alive == b->o.runtimes && dead == 0 && !b->fatal[0] &&
              !s_interrupted;
    double cpu = c.cpu1 - c.cpu0, wall = (double)(c.t1 - c.t0) / 1e6;
    if (b->o.json) {
        json_t *r = json_pack(
            "{s:s, s:s, s:i, s:s, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
            "s:o, s:i, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:b}",
            "command", "run", "mode", "idle", "members",
            b->own ? b->consensus_members : 0, "consensus",
            b->own ? (b->consensus_members > 1 ? "raft" : "none")
                   : "external",
            "runtimes", (int)b->o.runtimes, "simulated", b->o.simulated,
            "submitted", (json_int_t)0, "completed", (json_int_t)0, "failed",
            (json_int_t)0, "errors", (json_int_t)0, "alive",
            (json_int_t)alive, "dead", (json_int_t)dead, "idle_seconds",
            s_real(wall), "heartbeat_ms", b->o.heartbeat_ms,
            "leader_cpu_percent",
            s_real(c.pid > 0 && wall > 0 ? cpu * 100 / wall : NAN), "leader",
            s_leader_json(&c), "dead_events", (json_int_t)(b->dead_events - dead0),
            "heartbeats_sent", (json_int_t)(b->sim_heartbeats - hb0), "pulses",
            (json_int_t)(b->sim_pulses - pulses0), "max_heartbeat_gap_ms",
            (json_int_t)(b->hb_gap_max_us / 1000), "reregisters",
            (json_int_t)b->sim_reregisters, "ok", ok);
        s_emit(r);
        json_decref(r);
    } else {
        printf("assay-bench run --idle: %ld %s runtimes, heartbeat every %d "
               "ms, for %.1f s\n",
               b->o.runtimes, b->o.simulated ? "simulated" : "real",
               b->o.heartbeat_ms, wall);
        s_print_leader(&c);
        printf("  runtimes the leader reports: %ld alive, %ld dead "
               "(runtime.dead events during the period: %ld)\n",
               alive, dead, b->dead_events - dead0);
        if (b->o.simulated)
            printf("  simulated: %llu heartbeats sent, %llu pulses received, "
                   "max gap between two heartbeats of one runtime %.0f ms, "
                   "%llu reregisters\n",
                   (unsigned long long)(b->sim_heartbeats - hb0),
                   (unsigned long long)(b->sim_pulses - pulses0),
                   (double)b->hb_gap_max_us / 1e3,
                   (unsigned long long)b->sim_reregisters);
        printf("  result: %s\n", ok ? "OK" : "FAILED");
    }
    return ok ? 0 : 1;
}

static int s_report_run(s_bench *b, const s_cpu *c)
{
    bool ok = b->replied >= b->nspecs && s_ended(b) == b->submitted &&
              b->submitted == b->o.jobs && !b->failed && !b->submit_errors &&
              !s_interrupted && !b->fatal[0];
    double secs = b->last_event_us > b->first_send_us
                      ? (double)(b->last_event_us - b->first_send_us) / 1e6
                      : NAN;
    long n = 0;
    int64_t *v = malloc(sizeof *v * (size_t)(b->o.jobs ? b->o.jobs : 1));
    for (long j = 0; v && j < b->o.jobs; j++)
        if (b->lat_us[j] >= 0)
            v[n++] = b->lat_us[j];
    if (v)
        qsort(v, (size_t)n, sizeof *v, s_cmp64);
    double p50 = s_pct_ms(v, n, 50), p90 = s_pct_ms(v, n, 90),
           p99 = s_pct_ms(v, n, 99),
           max = n ? (double)v[n - 1] / 1e3 : NAN;
    free(v);
    double offered = b->o.rate > 0 && b->sent > 1 &&
                             b->last_send_us > b->first_send_us
                         ? (double)(b->sent - 1) * 1e6 /
                               (double)(b->last_send_us - b->first_send_us)
                         : NAN;
    const char *consensus =
        b->own ? (b->consensus_members > 1 ? "raft" : "none") : "external";
    if (b->o.json) {
        json_t *r = json_pack(
            "{s:s, s:s, s:i, s:s, s:i, s:b, s:s, s:I, s:I, s:I, s:I, s:I, "
            "s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:{s:o, s:o, s:o, s:o, "
            "s:I}, s:o, s:I, s:b}",
            "command", "run", "mode", b->o.rate > 0 ? "latency" : "throughput",
            "members", b->own ? b->consensus_members : 0, "consensus",
            consensus, "runtimes", (int)b->o.runtimes, "simulated",
            b->o.simulated, "action", b->o.action, "jobs",
            (json_int_t)b->o.jobs, "per_spec", (json_int_t)b->per_spec,
            "specs", (json_int_t)b->nspecs, "submitted",
            (json_int_t)b->submitted, "completed", (json_int_t)b->completed,
            "failed", (json_int_t)b->failed, "passed",
            (json_int_t)b->passed, "submit_errors",
            (json_int_t)b->submit_errors, "errors",
            (json_int_t)(b->submit_errors + b->failed), "reconciled",
            (json_int_t)b->reconciled, "seconds", s_real(secs), "jobs_per_s",
            s_real((double)b->completed / secs), "latency_ms", "p50",
            s_real(p50), "p90", s_real(p90), "p99", s_real(p99), "max",
            s_real(max), "samples", (json_int_t)n, "leader", s_leader_json(c),
            "window", (json_int_t)(b->o.rate > 0 ? 0 : b->o.window), "ok", ok);
        if (b->o.rate > 0) {
            json_object_set_new(r, "rate", s_real(b->o.rate));
            json_object_set_new(r, "offered_per_s", s_real(offered));
            json_object_set_new(r, "max_send_lag_ms",
                                s_real((double)b->max_send_lag_us / 1e3));
        }
        if (b->o.backlog && b->o.rate <= 0)
            json_object_set_new(r, "backlog", json_integer(b->o.backlog));
        json_object_set_new(r, "sim", s_sim_json(b));
        if (b->first_error[0])
            json_object_set_new(r, "first_error", json_string(b->first_error));
        s_emit(r);
        json_decref(r);
    } else {
        printf("assay-bench run: %ld %s jobs as %ld JobSpecs of %s%ld, "
               "%ld %s runtimes, %s\n",
               b->o.jobs, b->o.action, b->nspecs,
               b->o.rate > 0 ? "" : "up to ", b->per_spec, b->o.runtimes,
               b->o.simulated ? "simulated" : "real",
               b->own ? (b->consensus_members > 1
                             ? "3 raft members"
                             : "1 member (consensus none)")
                      : "external cluster");
        printf("  submitted %ld, completed %ld (%ld passed), failed %ld, "
               "submit errors %ld%s\n",
               b->submitted, b->completed, b->passed, b->failed,
               b->submit_errors,
               b->reconciled ? " (some seen by lookup, no event)" : "");
        if (b->o.rate > 0)
            printf("  offered %.0f JobSpecs/s (asked %.0f/s, max send lag "
                   "%.1f ms)\n",
                   offered, b->o.rate, (double)b->max_send_lag_us / 1e3);
        printf("  end to end: %.0f jobs/s (%.2f s, first submit -> last "
               "completion)\n",
               (double)b->completed / secs, secs);
        printf("  latency submit -> completed%s: p50 %.2f ms, p90 %.2f ms, "
               "p99 %.2f ms, max %.2f ms (%ld samples)\n",
               b->o.rate > 0 ? " (from scheduled send)" : "", p50, p90, p99,
               max, n);
        s_print_leader(c);
        s_print_sim(b);
        printf("  result: %s\n", ok ? "OK" : "FAILED");
    }
    if (b->first_error[0])
        s_note("first error: %s", b->first_error);
    return ok ? 0 : 1;
}

static int s_cmd_run(s_bench *b)
{
    if (s_setup_run(b))
        return 1;
    if (b->o.jobs == 0) {
        if (b->o.idle_s > 0)
            return s_idle(b);
        printf("assay-bench run: cluster and %ld runtimes up; nothing to do "
               "(--jobs 0 without --idle)\n",
               b->o.runtimes);
        return 0;
    }
    b->per_spec = b->o.rate > 0 ? 1 : b->o.per_spec;
    b->nspecs = (b->o.jobs + b->per_spec - 1) / b->per_spec;
    b->spec_sent_us = calloc((size_t)b->nspecs, sizeof *b->spec_sent_us);
    b->spec_acked = calloc((size_t)b->nspecs, 1);
    b->done = calloc((size_t)b->o.jobs, 1);
    b->lat_us = malloc(sizeof *b->lat_us * (size_t)b->o.jobs);
    if (!b->spec_sent_us || !b->spec_acked || !b->done || !b->lat_us) {
        s_fmt(b->fatal, sizeof b->fatal, "out of memory");
        return 1;
    }
    for (long j = 0; j < b->o.jobs; j++)
        b->lat_us[j] = -1;
    if (b->per_spec > 1) {
        b->targets = json_array();
        for (long i = 0; i < b->per_spec; i++)
            json_array_append_new(b->targets, json_object());
    }
    if (s_warmup(b)) {
        if (!b->fatal[0] && !s_interrupted)
            s_fmt(b->fatal, sizeof b->fatal,
                     "no completion event for %ld warm-up JobSpecs",
                     b->warm_sent);
        return 1;
    }
    s_cpu c;
    b->phase = b->o.rate > 0 ? "latency run" : "throughput run";
    b->measuring = true;
    s_cpu_start(b, &c);
    if (b->o.rate > 0)
        s_latency(b);
    else
        s_throughput(b);
    s_cpu_stop(&c);
    if (s_ended(b) < b->submitted)
        s_reconcile(b);
    b->measuring = false;
    return s_report_run(b, &c);
}

/* ---- memory ---------------------------------------------------------------- */

static int s_cmd_memory(s_bench *b)
{
    b->phase = "starting the cluster";
    b->o.runtimes = 1;
    if (s_start_cluster(b, 1) || s_find_leader(b, assay_now_us() + 30 * SEC) < 0 ||
        s_cp_open(b, b->leader, NULL) || s_sim_start(b, 1, b->leader, 0) ||
        s_wait_runtimes(b, 1))
        return 1;
    pid_t pid = s_leader_pid(b);
    s_sleep(b, SEC);
    long before = s_status_kb(pid, "VmRSS");
    b->per_spec = b->o.per_spec;
    b->o.jobs = b->o.queued;
    b->nspecs = (b->o.jobs + b->per_spec - 1) / b->per_spec;
    b->spec_sent_us = calloc((size_t)b->nspecs, sizeof *b->spec_sent_us);
    b->spec_acked = calloc((size_t)b->nspecs, 1);
    if (!b->spec_sent_us || !b->spec_acked)
        return 1;
    if (b->per_spec > 1) {
        b->targets = json_array();
        for (long i = 0; i < b->per_spec; i++)
            json_array_append_new(b->targets, json_object());
    }
    b->phase = "submitting jobs that stay queued";
    b->measuring = true;
    long next = 0;
    int64_t t0 = assay_now_us();
    b->first_send_us = t0;
    while (b->replied < b->nspecs && !s_stopping(b)) {
        while (next < b->nspecs && b->sent - b->replied < b->o.window)
            s_submit_spec(b, next++);
        s_pump(b, assay_now_us() + 100000);
    }
    int64_t t1 = assay_now_us();
    b->measuring = false;
    s_sleep(b, SEC);
    long after = s_status_kb(pid, "VmRSS"), hwm = s_status_kb(pid, "VmHWM");
    json_t *q = json_pack("{s:s, s:i}", "state", "queued", "limit", 1);
    json_t *r = s_call(b, "assay.jobs", q, 30 * SEC);
    json_decref(q);
    long queued = r && s_ok(r)
                      ? (long)json_integer_value(json_object_get(r, "total"))
                      : -1;
    json_decref(r);
    double secs = (double)(t1 - t0) / 1e6;
    double per_job = b->submitted
                         ? (double)(after - before) * 1024 /
                               (double)b->submitted
                         : NAN;
    bool ok = b->submitted == b->o.queued && !b->submit_errors &&
              queued == b->o.queued && !s_interrupted && !b->fatal[0];
    if (b->o.json) {
        json_t *o = json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, "
            "s:o, s:i, s:b}",
            "command", "memory", "queued", (json_int_t)b->o.queued,
            "per_spec", (json_int_t)b->per_spec, "submitted",
            (json_int_t)b->submitted, "submit_errors",
            (json_int_t)b->submit_errors, "errors",
            (json_int_t)b->submit_errors, "queued_reported",
            (json_int_t)queued, "rss_before_kb", (json_int_t)before,
            "rss_after_kb", (json_int_t)after, "peak_rss_kb",
            (json_int_t)hwm, "bytes_per_job", s_real(per_job),
            "submit_seconds", s_real(secs), "acked_jobs_per_s",
            s_real((double)b->submitted / secs), "leader_pid", (int)pid,
            "ok", ok);
        if (b->first_error[0])
            json_object_set_new(o, "first_error", json_string(b->first_error));
        s_emit(o);
        json_decref(o);
    } else {
        printf("assay-bench memory: %ld noop jobs queued as %ld JobSpecs of "
               "up to %ld, 1 member (consensus none), 1 simulated runtime "
               "granting no credit\n",
               b->o.queued, b->nspecs, b->per_spec);
        printf("  acknowledged %ld jobs in %.2f s (%.0f jobs/s), submit "
               "errors %ld; the leader reports %ld queued\n",
               b->submitted, secs, (double)b->submitted / secs,
               b->submit_errors, queued);
        printf("  leader (pid %d) VmRSS %.1f MB -> %.1f MB (peak %.1f MB): "
               "%.0f bytes per queued job\n",
               (int)pid, (double)before / 1024, (double)after / 1024,
               (double)hwm / 1024, per_job);
        printf("  result: %s\n", ok ? "OK" : "FAILED");
    }
    if (b->first_error[0])
        s_note("first error: %s", b->first_error);
    return ok ? 0 : 1;
}

/* ---- failover -------------------------------------------------------------- */

static int s_cmpd(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

/* Submits one one-job JobSpec through whichever member leads; true when
 * acknowledged. */
static bool s_submit_one(s_bench *b, json_t *acked, long *n, int64_t wait_us,
                         int64_t until)
{
    char id[96];
    snprintf(id, sizeof id, "%s-%ld", b->prefix, (*n)++);
    json_t *spec = s_spec_body(b, id, 1);
    json_t *r = s_call_leader(b, "assay.submit", spec, wait_us, until);
    json_decref(spec);
    bool ok = r && s_ok(r);
    if (ok)
        json_array_append_new(acked, json_string(id));
    else if (r)
        s_error(b, "submit %s: %s", id,
                json_string_value(json_object_get(r, "message")));
    json_decref(r);
    return ok;
}

static int s_cmd_failover(s_bench *b)
{
    b->phase = "starting 3 raft members";
    if (s_start_cluster(b, 3) || s_find_leader(b, assay_now_us() + 30 * SEC) < 0)
        return 1;
    if (s_cp_open(b, b->leader, NULL))
        return 1;
    b->o.runtimes = 1;
    if (b->o.simulated ? s_sim_start(b, 1, b->leader, b->o.slots)
                       : s_start_real_runtimes(b, 1))
        return 1;
    if (s_wait_runtimes(b, 1))
        return 1;
    json_t *acked = json_array();
    double *times = calloc((size_t)b->o.kills, sizeof *times);
    long n = 0, unacked = 0;
    int done_kills = 0;
    for (int k = 0; k < b->o.kills && !s_stopping(b); k++) {
        char phase[64];
        snprintf(phase, sizeof phase, "failover %d of %d", k + 1, b->o.kills);
        b->phase = phase;
        for (long m = 0; m < b->o.jobs_per_kill && !s_stopping(b); m++)
            if (!s_submit_one(b, acked, &n, SEC, assay_now_us() + 30 * SEC))
                unacked++;
        int victim = s_find_leader(b, assay_now_us() + 10 * SEC);
        if (victim < 0 || victim >= 3) {
            if (!b->fatal[0])
                s_fmt(b->fatal, sizeof b->fatal,
                         "no leader before kill %d", k + 1);
            break;
        }
        /* Back on the victim: the next submission is sent to it first,
         * as a client that knew the old leader would. */
        s_cp_open(b, victim, NULL);
        s_proc *p = &b->procs[b->member_proc[victim]];
        int64_t t_kill = assay_now_us();
        s_kill9(p);
        bool got = false;
        while (!got && !s_stopping(b) && assay_now_us() - t_kill < 30 * SEC) {
            got = s_submit_one(b, acked, &n, 200000, t_kill + 30 * SEC);
            unacked += !got;
        }
        if (!got) {
            if (!b->fatal[0])
                s_fmt(b->fatal, sizeof b->fatal,
                         "no acknowledged submission 30 s after kill %d",
                         k + 1);
            break;
        }
        times[done_kills++] = (double)(assay_now_us() - t_kill) / 1e6;
        s_note("kill %d: %s, failover %.3f s", k + 1, p->name,
               times[done_kills - 1]);
        if (s_start_member(b, victim))
            break;
        s_sleep(b, (int64_t)(b->o.settle_s * 1e6));
    }
    /* Every acknowledged JobSpec must exist and its job complete. */
    b->phase = "checking acknowledged JobSpecs";
    size_t nacked = json_array_size(acked);
    uint8_t *ok_spec = calloc(nacked ? nacked : 1, 1);
    long completed = 0, failed = 0, missing = 0;
    int64_t until = assay_now_us() + 90 * SEC;
    if (until > b->deadline)
        until = b->deadline;
    for (;;) {
        size_t left = 0;
        missing = failed = 0;
        for (size_t i = 0; i < nacked && !s_interrupted; i++) {
            if (ok_spec[i])
                continue;
            json_t *q = json_pack("{s:O}", "id", json_array_get(acked, i));
            json_t *r = s_call_leader(b, "assay.job", q, SEC, until);
            json_decref(q);
            if (r && !s_ok(r)) {
                missing++;
            } else if (r) {
                size_t x, njobs = json_array_size(json_object_get(r, "jobs"));
                size_t good = 0;
                json_t *job;
                json_array_foreach(json_object_get(r, "jobs"), x, job) {
                    const char *st =
                        json_string_value(json_object_get(job, "state"));
                    good += st && !strcmp(st, "completed");
                    failed += st && (!strcmp(st, "failed") ||
                                     !strcmp(st, "cancelled"));
                }
                if (njobs && good == njobs) {
                    ok_spec[i] = 1;
                    completed += (long)njobs;
                }
            }
            json_decref(r);
            left += !ok_spec[i];
        }
        if (!left || assay_now_us() >= until || s_interrupted)
            break;
        s_sleep(b, 500000);
    }
    long lost = 0;
    for (size_t i = 0; i < nacked; i++)
        lost += !ok_spec[i];
    qsort(times, (size_t)done_kills, sizeof *times, s_cmpd);
    double tmin = done_kills ? times[0] : NAN,
           tmax = done_kills ? times[done_kills - 1] : NAN,
           tmed = !done_kills ? NAN
                  : done_kills % 2
                      ? times[done_kills / 2]
                      : (times[done_kills / 2 - 1] + times[done_kills / 2]) / 2;
    bool ok = done_kills == b->o.kills && !lost && !s_interrupted &&
              !b->fatal[0];
    if (b->o.json) {
        json_t *r = json_pack(
            "{s:s, s:i, s:i, s:b, s:I, s:{s:o, s:o, s:o}, s:I, s:I, s:I, "
            "s:I, s:I, s:I, s:I, s:b}",
            "command", "failover", "members", 3, "kills", done_kills,
            "simulated", b->o.simulated, "jobs_per_kill",
            (json_int_t)b->o.jobs_per_kill, "failover_s", "min", s_real(tmin),
            "median", s_real(tmed), "max", s_real(tmax), "acked",
            (json_int_t)nacked, "unacked", (json_int_t)unacked, "submitted",
            (json_int_t)nacked, "completed", (json_int_t)completed, "failed",
            (json_int_t)failed, "missing", (json_int_t)missing, "lost",
            (json_int_t)lost, "ok", ok);
        json_t *all = json_array();
        for (int i = 0; i < done_kills; i++)
            json_array_append_new(all, json_real(times[i]));
        json_object_set_new(r, "failover_all_s", all);
        json_object_set_new(r, "sim", s_sim_json(b));
        s_emit(r);
        json_decref(r);
    } else {
        printf("assay-bench failover: 3 raft members, 1 %s runtime, %d "
               "leader kills (kill -9), %ld JobSpecs between kills\n",
               b->o.simulated ? "simulated" : "real", done_kills,
               b->o.jobs_per_kill);
        printf("  failover (kill -> next acknowledged submission): min %.3f "
               "s, median %.3f s, max %.3f s\n",
               tmin, tmed, tmax);
        printf("  %zu JobSpecs acknowledged (%ld submissions unanswered or "
               "refused, retried under new ids): %ld jobs completed, %ld "
               "failed, %ld missing; lost %ld\n",
               nacked, unacked, completed, failed, missing, lost);
        s_print_sim(b);
        printf("  result: %s\n", ok ? "OK" : "FAILED");
    }
    if (b->first_error[0])
        s_note("last refused or unanswered submission: %s", b->first_error);
    json_decref(acked);
    free(times);
    free(ok_spec);
    return ok ? 0 : 1;
}

/* ---- main ------------------------------------------------------------------ */

static void s_usage(FILE *out)
{
    fputs(
        "usage: assay-bench COMMAND [OPTIONS]\n"
        "\n"
        "  run --jobs N --runtimes R [--simulated] [--rate JOBS/S]\n"
        "      [--members 1|3] [--endpoint EP[,EP..] [--events EP]]\n"
        "      [--action A --params JSON] [--idle SECONDS] [--json]\n"
        "      N jobs through a cluster it starts (or --endpoint): end-to-end\n"
        "      jobs/s, submit->completed latency p50/p90/p99/max, leader CPU\n"
        "      and peak RSS, errors. Without --rate: JobSpecs of --per-spec\n"
        "      targets, --window submits in flight; with --rate: one-job\n"
        "      JobSpecs offered open loop. --jobs 0 --idle S: runtimes only\n"
        "      heartbeat for S s; leader CPU % and runtimes reported dead.\n"
        "  failover --kills K [--jobs-per-kill M] [--simulated]\n"
        "      3 raft members + 1 runtime; kills the leader (kill -9) K times\n"
        "      while submitting: failover time min/median/max, jobs lost.\n"
        "  memory --queued N [--per-spec K]\n"
        "      1 member + 1 simulated runtime granting no credit; N queued\n"
        "      noop jobs: leader RSS growth per queued job.\n"
        "\n"
        "options:\n"
        "  --jobs N            jobs to run (run; default 10000)\n"
        "  --runtimes R        runtimes (default 2; simulated: up to 4096)\n"
        "  --simulated         runtimes simulated inside assay-bench\n"
        "  --rate R            latency mode: R one-job JobSpecs/s, open loop\n"
        "  --per-spec K        targets per JobSpec (run: 100, memory: 1000)\n"
        "  --window W          submits awaiting a reply (default 8)\n"
        "  --backlog B         throughput: at most B jobs submitted and not\n"
        "                      yet ended (default 0: no bound)\n"
        "  --members 1|3       members started (1: consensus none; 3: raft)\n"
        "  --endpoint EP,..    use this cluster instead of starting one\n"
        "  --events EP         its leader's event stream (default: asked)\n"
        "  --action A          action of every job (default noop.pass)\n"
        "  --params JSON       params of every job (a JSON object)\n"
        "  --idle S            with --jobs 0: heartbeat only, for S seconds\n"
        "  --heartbeat-ms MS   runtimes' heartbeat interval (default 1000)\n"
        "  --slots S           simulated runtime's credit (default 128)\n"
        "  --executors E       real runtime's executors (default 2)\n"
        "  --depth D           real runtime's jobs_per_executor (default 64)\n"
        "  --kills K           failover: leader kills (default 5)\n"
        "  --jobs-per-kill M   failover: JobSpecs acked between kills (20)\n"
        "  --settle S          failover: seconds after a restart (default 1)\n"
        "  --queued N          memory: jobs to leave queued\n"
        "  --timeout S         give up after S seconds (default 300)\n"
        "  --member-set K=V    a setting for the members it starts (up to\n"
        "                      8; e.g. retain_jobs=100000)\n"
        "  --keep              keep the temporary directory (logs, data)\n"
        "  --json              one JSON object on stdout\n"
        "\n"
        "Exit: 0 every job completed and no submit failed (failover: and\n"
        "nothing lost); 1 otherwise; 2 usage.\n",
        out);
}

static bool s_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int s_parse(s_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'n'},
        {"runtimes", required_argument, NULL, 'R'},
        {"simulated", no_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'r'},
        {"members", required_argument, NULL, 'm'},
        {"endpoint", required_argument, NULL, 'e'},
        {"events", required_argument, NULL, 'E'},
        {"action", required_argument, NULL, 'a'},
        {"params", required_argument, NULL, 'P'},
        {"per-spec", required_argument, NULL, 'k'},
        {"window", required_argument, NULL, 'w'},
        {"backlog", required_argument, NULL, 'b'},
        {"idle", required_argument, NULL, 'i'},
        {"heartbeat-ms", required_argument, NULL, 'H'},
        {"slots", required_argument, NULL, 's'},
        {"executors", required_argument, NULL, 'x'},
        {"depth", required_argument, NULL, 'd'},
        {"kills", required_argument, NULL, 'K'},
        {"jobs-per-kill", required_argument, NULL, 'M'},
        {"settle", required_argument, NULL, 'T'},
        {"queued", required_argument, NULL, 'q'},
        {"timeout", required_argument, NULL, 't'},
        {"member-set", required_argument, NULL, 'X'},
        {"keep", no_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    long v;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bool good = true;
        switch (c) {
        case 'n': good = s_num(optarg, 0, 100000000, &o->jobs);
                  o->jobs_given = true; break;
        case 'R': good = s_num(optarg, 1, MAX_SIM_RUNTIMES, &o->runtimes);
                  break;
        case 'S': o->simulated = true; break;
        case 'r': o->rate = strtod(optarg, &end);
                  good = *end == '\0' && o->rate > 0 && o->rate <= 1e6; break;
        case 'm': good = s_num(optarg, 1, 3, &v) && v != 2;
                  o->members = (int)v; break;
        case 'e': o->endpoint = optarg; break;
        case 'E': o->events = optarg; break;
        case 'a': o->action = optarg; break;
        case 'P': o->params = optarg; break;
        case 'k': good = s_num(optarg, 1, 10000, &o->per_spec);
                  o->per_spec_given = true; break;
        case 'w': good = s_num(optarg, 1, 100000, &o->window); break;
        case 'b': good = s_num(optarg, 0, 100000000, &o->backlog); break;
        case 'i': o->idle_s = strtod(optarg, &end);
                  good = *end == '\0' && o->idle_s >= 0 && o->idle_s < 1e6;
                  break;
        case 'H': good = s_num(optarg, 10, 600000, &v);
                  o->heartbeat_ms = (int)v; break;
        case 's': good = s_num(optarg, 0, 1000000, &o->slots); break;
        case 'x': good = s_num(optarg, 1, 256, &v); o->executors = (int)v;
                  break;
        case 'd': good = s_num(optarg, 1, 1024, &v); o->depth = (int)v; break;
        case 'K': good = s_num(optarg, 1, 1000, &v); o->kills = (int)v; break;
        case 'M': good = s_num(optarg, 1, 100000, &o->jobs_per_kill); break;
        case 'T': o->settle_s = strtod(optarg, &end);
                  good = *end == '\0' && o->settle_s >= 0 &&
                         o->settle_s < 3600; break;
        case 'q': good = s_num(optarg, 1, 100000000, &o->queued); break;
        case 'X': good = strchr(optarg, '=') && o->n_member_sets < 8;
                  if (good)
                      o->member_sets[o->n_member_sets++] = optarg;
                  break;
        case 't': good = s_num(optarg, 1, 86400, &v); o->timeout_s = (int)v;
                  break;
        case 'p': o->keep = true; break;
        case 'j': o->json = true; break;
        case 'h': s_usage(stdout); exit(0);
        default: return -1;
        }
        if (!good) {
            fprintf(stderr, "assay-bench: bad value '%s' for %s\n", optarg,
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "assay-bench: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    if (o->cmd == CMD_RUN) {
        if (!o->per_spec_given)
            o->per_spec = 100;
        if (o->rate > 0 && o->per_spec_given && o->per_spec != 1) {
            fprintf(stderr, "assay-bench: --rate sends one job per JobSpec\n");
            return -1;
        }
        if (!o->simulated && o->runtimes > MAX_REAL_RUNTIMES) {
            fprintf(stderr, "assay-bench: at most %d real runtimes (use "
                            "--simulated)\n", MAX_REAL_RUNTIMES);
            return -1;
        }
        if (o->simulated && strcmp(o->action, "noop.pass")) {
            fprintf(stderr, "assay-bench: simulated runtimes offer "
                            "noop.pass only\n");
            return -1;
        }
        if (o->endpoint && o->members != 1) {
            fprintf(stderr, "assay-bench: --members starts a cluster; not "
                            "with --endpoint\n");
            return -1;
        }
    } else if (o->cmd == CMD_MEMORY) {
        if (!o->queued) {
            fprintf(stderr, "assay-bench: memory needs --queued N\n");
            return -1;
        }
        if (!o->per_spec_given)
            o->per_spec = o->queued < 1000 ? o->queued : 1000;
    }
    if (o->cmd != CMD_RUN && o->endpoint) {
        fprintf(stderr, "assay-bench: --endpoint is for run only\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    s_bench *b = &B;
    s_opts *o = &b->o;
    *o = (s_opts){.jobs = 10000, .runtimes = 2, .per_spec = 100, .window = 8,
                  .jobs_per_kill = 20, .slots = 128, .settle_s = 1.0,
                  .members = 1, .heartbeat_ms = 1000,
                  .timeout_s = DEFAULT_TIMEOUT_S, .kills = 5, .executors = 2,
                  .depth = 64, .action = "noop.pass"};
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    o->cmd = !strcmp(argv[1], "run")        ? CMD_RUN
             : !strcmp(argv[1], "failover") ? CMD_FAILOVER
             : !strcmp(argv[1], "memory")   ? CMD_MEMORY
                                            : 0;
    if (!o->cmd) {
        fprintf(stderr, "assay-bench: unknown command '%s'\n", argv[1]);
        s_usage(stderr);
        return 2;
    }
    if (s_parse(o, argc - 1, argv + 1)) {
        s_usage(stderr);
        return 2;
    }
    if (o->params) {
        json_error_t je;
        b->params = json_loads(o->params, 0, &je);
        if (!json_is_object(b->params)) {
            fprintf(stderr, "assay-bench: --params: want a JSON object (%s)\n",
                    je.text);
            return 2;
        }
    }
    b->leader = -1;
    b->cp.dealer = b->cp.sub = -1;
    b->t_start = assay_now_us();
    b->deadline = b->t_start + (int64_t)o->timeout_s * SEC;
    b->progress_next = b->t_start + SEC;
    snprintf(b->prefix, sizeof b->prefix, "ab%dx%ld", (int)getpid(),
             (long)time(NULL) % 100000);
    b->prefix_len = strlen(b->prefix);
    if (o->simulated || o->cmd == CMD_MEMORY)
        snprintf(b->rt_prefix, sizeof b->rt_prefix, "sim%d-", (int)getpid());
    else if (!o->endpoint)
        snprintf(b->rt_prefix, sizeof b->rt_prefix, "rt%d-", (int)getpid());

    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A thousand connections on each side need more than 1024 fds; the
     * children inherit the limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    bool need_cluster = !(o->cmd == CMD_RUN && o->endpoint);
    if (need_cluster && s_locate(b)) {
        s_note("cannot find assayd beside %s or in $PATH", argv[0]);
        return 1;
    }
    snprintf(b->tmp, sizeof b->tmp, "/tmp/assay-bench.XXXXXX");
    if (!mkdtemp(b->tmp)) {
        s_note("mkdtemp: %s", strerror(errno));
        return 1;
    }
    if (need_cluster)
        s_note("assayd %s%s%s; logs in %s", b->assayd,
               b->plugins[0] ? ", plugins " : "", b->plugins, b->tmp);

    int code = o->cmd == CMD_RUN        ? s_cmd_run(b)
               : o->cmd == CMD_FAILOVER ? s_cmd_failover(b)
                                        : s_cmd_memory(b);
    fflush(stdout);
    if (s_interrupted)
        s_note("interrupted");
    if (b->fatal[0])
        s_note("%s", b->fatal);
    if (code && o->json && !s_emitted) {
        /* The caller still gets one JSON object. */
        json_t *r = json_pack("{s:s, s:s, s:b}", "command", argv[1], "error",
                              b->fatal[0] ? b->fatal : "interrupted", "ok", 0);
        s_emit(r);
        json_decref(r);
    }

    /* Stop everything; children first see their clients go. */
    assay_link_destroy(&b->cp.link);
    s_sim_destroy(b);
    s_stop_all(b);
    s_show_logs(b, code != 0);
    if (o->keep)
        s_note("logs and data kept in %s", b->tmp);
    else
        assay_dir_remove(b->tmp);
    for (int i = 0; i < b->nprocs; i++)
        for (int k = 0; k < MAX_ARGS && b->procs[i].argv[k]; k++)
            free(b->procs[i].argv[k]);
    json_decref(b->reply);
    json_decref(b->params);
    json_decref(b->targets);
    free(b->spec_sent_us);
    free(b->spec_acked);
    free(b->done);
    free(b->lat_us);
    return code;
}
