/* bench/assay-bench/procs.c - the processes assay-bench starts: finding
 * assayd, free ports, starting, watching and stopping children, their
 * logs; and the leader's figures from /proc (CPU, RSS). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "base/log.h"
#include "bench.h"
#include "cluster/keys.h"

#define STOP_GRACE_US 5000000

static bool s_exists(const char *path) { return access(path, X_OK) == 0; }

/* The keys of the cluster it starts, made before its client needs them
 * (the members would make the same on their first start). */
int bench_keys(s_bench *b)
{
    char dir[4096], err[ASSAY_ERRMSG_SIZE * 2];
    int made;
    if (assay_keys_dir(NULL, dir, sizeof dir, err, sizeof err) ||
        assay_keys_init(NULL, "zmq", dir, &made, err, sizeof err)) {
        bench_fmt(b->fatal, sizeof b->fatal, "keys: %s", err);
        bench_note("%s", b->fatal);
        return -1;
    }
    return 0;
}

/* assayd beside this binary (build tree or install), else from $PATH. */
int bench_locate(s_bench *b)
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
        bench_fmt(b->assayd, sizeof b->assayd, "%s/%s", self, rel[i]);
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
    bench_fmt(b->plugins, sizeof b->plugins, "%s/../plugins-out", self);
    struct stat st;
    if (stat(b->plugins, &st) != 0 || !S_ISDIR(st.st_mode))
        b->plugins[0] = '\0'; /* installed: assayd's own default */
    return 0;
}

int bench_free_port(void)
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

s_proc *bench_proc_new(s_bench *b, const char *name, bool member)
{
    if (b->nprocs == MAX_PROCS)
        return NULL;
    s_proc *p = &b->procs[b->nprocs++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    bench_fmt(p->log, sizeof p->log, "%s/%s.log", b->tmp, name);
    p->member = member;
    return p;
}

void bench_arg(s_proc *p, const char *fmt, ...)
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

int bench_spawn(s_bench *b, s_proc *p)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        bench_note("fork: %s", strerror(errno));
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
void bench_kill9(s_proc *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    p->pid = 0;
}

/* SIGTERM everything, SIGKILL what is left after 5 s. */
void bench_stop_all(s_bench *b)
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
            bench_note("%s did not stop within 5 s: SIGKILL",
                       b->procs[i].name);
            bench_kill9(&b->procs[i]);
        }
}

/* A started process that exited on its own is fatal: nothing it did can be
 * measured any more. */
void bench_check_children(s_bench *b)
{
    for (int i = 0; i < b->nprocs; i++) {
        s_proc *p = &b->procs[i];
        int st;
        if (p->pid <= 0 || waitpid(p->pid, &st, WNOHANG) != p->pid)
            continue;
        p->pid = 0;
        if (!b->fatal[0])
            bench_fmt(b->fatal, sizeof b->fatal, "%s exited (%s %d); log: %s",
                      p->name, WIFSIGNALED(st) ? "signal" : "status",
                      WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
                      p->log);
    }
}

/* Sanitizer reports of the children are copied to stderr (ctest fails the
 * test on them); with `tails`, the end of every log too. */
void bench_show_logs(s_bench *b, bool tails)
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

/* ---- /proc -------------------------------------------------------------- */

/* utime + stime of `pid` in seconds, or NAN. */
double bench_cpu_s(pid_t pid)
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
long bench_status_kb(pid_t pid, const char *key)
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

pid_t bench_leader_pid(const s_bench *b)
{
    if (!b->own || b->leader < 0 || b->leader >= b->consensus_members)
        return 0;
    return b->procs[b->member_proc[b->leader]].pid;
}

/* ---- The leader's figures ----------------------------------------------- */

void bench_cpu_start(s_bench *b, s_cpu *c)
{
    c->pid = bench_leader_pid(b);
    c->cpu0 = c->pid > 0 ? bench_cpu_s(c->pid) : NAN;
    c->t0 = assay_now_us();
}

void bench_cpu_stop(s_cpu *c)
{
    c->cpu1 = c->pid > 0 ? bench_cpu_s(c->pid) : NAN;
    c->t1 = assay_now_us();
}

json_t *bench_leader_json(const s_cpu *c)
{
    if (c->pid <= 0)
        return json_null();
    double cpu = c->cpu1 - c->cpu0, wall = (double)(c->t1 - c->t0) / 1e6;
    return json_pack("{s:i, s:o, s:o, s:o, s:I, s:I}", "pid", (int)c->pid,
                     "cpu_seconds", bench_real(cpu), "wall_seconds",
                     bench_real(wall), "cpu_percent",
                     bench_real(wall > 0 ? cpu * 100 / wall : NAN),
                     "peak_rss_kb",
                     (json_int_t)bench_status_kb(c->pid, "VmHWM"), "rss_kb",
                     (json_int_t)bench_status_kb(c->pid, "VmRSS"));
}

void bench_print_leader(const s_cpu *c)
{
    if (c->pid <= 0) {
        printf("  leader: not started by assay-bench (no CPU or RSS figures)\n");
        return;
    }
    double cpu = c->cpu1 - c->cpu0, wall = (double)(c->t1 - c->t0) / 1e6;
    printf("  leader (pid %d): CPU %.2f s over %.2f s = %.1f%% of one core; "
           "peak RSS %.1f MB, RSS %.1f MB\n",
           (int)c->pid, cpu, wall, wall > 0 ? cpu * 100 / wall : NAN,
           (double)bench_status_kb(c->pid, "VmHWM") / 1024,
           (double)bench_status_kb(c->pid, "VmRSS") / 1024);
}
