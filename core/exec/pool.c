/* core/exec/pool.c - executor processes seen from the daemon (see pool.h).
 *
 * Each executor runs its queued jobs strictly in order and answers each
 * before starting the next, so the job at the head of its queue is the one
 * running: its deadline runs from the previous answer. When an executor dies
 * the head job pays with an error result; the jobs behind it never started
 * and go back to the front of the pending queue.
 *
 * Output: the executor's stdout/stderr pipe is one byte stream shared by all
 * the jobs it runs, and with pipelining it may already carry the next job's
 * output when a result arrives. So after each job, and before its result
 * frame, the executor writes an end-of-output mark into the pipe: the
 * executor's random token (OUT_TOKEN bytes, from --output-mark at spawn)
 * then the job's seq (8 bytes, big-endian). Bytes before a job's mark are
 * that job's; the pipe is cut at marks, never at reads. Since the mark goes
 * into the pipe before the result goes into the socket, a drained pipe holds
 * the mark of every result read: a result whose mark is missing after that
 * is a protocol error.
 *
 * Users: each executor runs as one user (run_as, exec/runas.h), and a job
 * goes only to an executor of its plugin's user. When no executor runs
 * as a job's user, the least loaded one of a user with others to spare
 * takes no more jobs (draining) and, once idle, starts again as the user
 * wanted: every user's jobs get an executor in bounded time, whatever
 * the others keep submitting. */
#include "exec/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/child.h"
#include "base/clock.h"
#include "base/errtext.h"
#include "base/log.h"
#include "exec/executor.h"
#include "exec/frame.h"
#include "exec/runas.h"

/* Result frames can carry a lot of evidence; job frames are small. */
#define RESULT_FRAME_MAX ASSAY_FRAME_MAX
/* An executor that dies this many times in a row without finishing a
 * job is broken (bad binary, failing start-up): stop respawning. */
#define MAX_SPAWN_FAILURES 5
/* pollfds per executor: protocol socket, output pipe, pidfd. */
#define POOL_FDS 3
/* The end-of-output mark (executor.h). */
#define OUT_TOKEN ASSAY_EXECUTOR_TOKEN
#define OUT_MARK ASSAY_EXECUTOR_MARK
/* Why a write to an executor failed: a symptom, which a death of the
 * executor's own (a signal we did not send, an exit) explains better. */
#define STOPPED_READING "executor stopped reading its socket"

typedef struct s_job {
    uint64_t seq;
    char *job_id;
    const char *user; /* who runs it (runas.h; NULL: as we do) */
    json_t *frame;
    int64_t timeout_ms;
    assay_pool_done_fn cb;
    void *arg;
    char *output;      /* its captured output, up to the limit */
    size_t output_len;
    bool marked;       /* its end-of-output mark was read: output complete */
    bool over_limit;   /* it wrote more than the output limit */
    bool cancelled;
    assay_pool_faults *faults; /* its plugin's counts */
    struct s_job *next;
} s_job;

typedef struct {
    s_job *head, *tail;
    size_t count;
} s_queue;

typedef struct {
    pid_t pid;
    int sock, out;     /* protocol socket, output pipe; -1 = closed */
    /* Readable once the process has ended: its death is known by its pid,
     * not by EOF on its socket, which a grandchild may hold open. */
    int pidfd;
    assay_buf rx, tx;
    s_queue jobs;      /* head = running */
    s_job *writer;     /* first job not marked: the pipe carries its output */
    int64_t head_start_ms;
    unsigned char token[OUT_TOKEN];  /* its end-of-output mark's token */
    unsigned char carry[OUT_MARK];   /* what may be a mark cut by a read */
    size_t carry_len;
    int64_t kill_at_ms; /* SIGKILL deadline once SIGTERM went out; 0 = none */
    char reason[ASSAY_ERRMSG_SIZE]; /* why we are killing it */
    bool symptom;      /* reason is STOPPED_READING: its death may say more */
    bool alive;
    const char *user;  /* whom it runs as (runas.h; NULL: as we do) */
    /* Taking no more jobs: once idle it starts again as next_user. */
    bool draining;
    const char *next_user;
} s_exec;

struct assay_pool {
    assay_pool_config cfg;
    char executor_path[4096];
    assay_runas *runas; /* cfg.user and cfg.run_as */
    s_exec *execs;
    s_queue pending;
    uint64_t next_seq;
    size_t outstanding;
    uint64_t spawned;
    int next_exec; /* where the search for an executor starts */
    int spawn_failures;
    int delivered;
    /* Per plugin; the last entry once the others are taken: the rest. */
    assay_pool_faults faults[ASSAY_POOL_PLUGINS + 1];
    size_t n_faults;
};

const char *const ASSAY_POOL_CAUSE_NAMES[ASSAY_POOL_CAUSES] = {
    "crash", "timeout", "output_limit", "protocol", "cancelled"};

/* The counts of plugin `name`: found, or made while there is room. */
static assay_pool_faults *s_faults(assay_pool *self, const char *name)
{
    for (size_t i = 0; i < self->n_faults; i++)
        if (!strcmp(self->faults[i].plugin, name))
            return &self->faults[i];
    assay_pool_faults *f = &self->faults[self->n_faults];
    if (self->n_faults < ASSAY_POOL_PLUGINS) {
        strlcpy(f->plugin, name, sizeof f->plugin);
        self->n_faults++;
    } else {
        strlcpy(f->plugin, ASSAY_POOL_OTHER, sizeof f->plugin);
    }
    return f;
}

const assay_pool_faults *assay_pool_faults_at(const assay_pool *self,
                                              size_t i)
{
    if (i < self->n_faults)
        return &self->faults[i];
    /* The rest, once anything was counted there. */
    return i == self->n_faults && self->n_faults == ASSAY_POOL_PLUGINS &&
                   self->faults[i].plugin[0]
               ? &self->faults[i]
               : NULL;
}

static void s_push_back(s_queue *q, s_job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->count++;
}

static s_job *s_pop(s_queue *q)
{
    s_job *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->count--;
    }
    return j;
}

static void s_job_free(s_job *j)
{
    free(j->output);
    json_decref(j->frame);
    free(j->job_id);
    free(j);
}

static void s_deliver(assay_pool *self, s_job *j, json_t *result)
{
    json_object_del(result, "t");
    json_object_del(result, "seq");
    json_object_set_new(result, "job", json_string(j->job_id));
    const char *status = json_string_value(json_object_get(result, "status"));
    if (!j->cancelled && status && !strcmp(status, "error"))
        j->faults->errors++;
    self->outstanding--;
    self->delivered++;
    j->cb(j->arg, result);
    s_job_free(j);
}

static void s_fail(assay_pool *self, s_job *j, const char *reason,
                   json_t *output)
{
    /* The attempt was lost, not judged: the caller may run it again,
     * unless it was lost because the caller cancelled it. */
    json_t *r = json_pack("{s:s, s:s, s:s, s:b, s:[], s:{}}", "status",
                          "error", "reason", j->cancelled ? "cancelled" : reason,
                          "message", reason, "retryable", !j->cancelled,
                          "findings", "data");
    if (j->cancelled)
        json_object_set_new(r, "cancelled", json_true());
    if (output)
        json_object_set_new(r, "output", output);
    s_deliver(self, j, r);
}

/* Starts e as `user` (NULL: as we do). */
static int s_spawn(assay_pool *self, s_exec *e, const char *user)
{
    int sv[2], op[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return ASSAY_EIO;
    if (pipe2(op, O_CLOEXEC) != 0) {
        close(sv[0]);
        close(sv[1]);
        return ASSAY_EIO;
    }
    unsigned char token[OUT_TOKEN];
    if (getrandom(token, sizeof token, 0) != (ssize_t)sizeof token) {
        close(sv[0]);
        close(sv[1]);
        close(op[0]);
        close(op[1]);
        return ASSAY_EIO;
    }
    char mark[2 * OUT_TOKEN + 1];
    for (size_t i = 0; i < OUT_TOKEN; i++)
        snprintf(mark + 2 * i, 3, "%02x", token[i]);
    char mem[32];
    snprintf(mem, sizeof mem, "%lld", (long long)self->cfg.memory_mb);
    /* The executor logs at our level into our log (fd 4), not into its
     * stderr, which is the running job's captured output. */
    char *argv[20] = {self->executor_path, "--fd", "3", "--memory-mb", mem,
                      "--log-level", (char *)assay_log_level_name(
                                         assay_log_level()),
                      "--log-fd", "4", "--output-mark", mark};
    int argc = 11;
    if (user) {
        argv[argc++] = "--user";
        argv[argc++] = (char *)user;
    }
    if (self->cfg.private_tmp) {
        argv[argc++] = "--private-tmp";
        argv[argc++] = "1";
    }
    if (self->cfg.all_syscalls) {
        argv[argc++] = "--seccomp";
        argv[argc++] = "0";
    }
    argv[argc] = NULL;
    /* Above 4, so that the dup2s onto 1..3 cannot overwrite it. */
    int log_fd = fcntl(assay_log_fd(), F_DUPFD_CLOEXEC, 5);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, op[1], 2);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
    if (log_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, log_fd, 4);
    else /* we have no log: neither has the executor */
        posix_spawn_file_actions_addopen(&fa, 4, "/dev/null", O_WRONLY, 0);
    /* Own process group: a timeout kill reaches the providers too. */
    pid_t pid;
    int rc = assay_child_spawn(&pid, self->executor_path, &fa, argv);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    close(op[1]);
    if (log_fd >= 0)
        close(log_fd);
    if (rc != 0) {
        close(sv[0]);
        close(op[0]);
        assay_error("cannot start executor %s: %s", self->executor_path,
                    strerror(rc));
        return ASSAY_EIO;
    }
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(op[0], F_SETFL, O_NONBLOCK);
    memset(e, 0, sizeof *e);
    e->pid = pid;
    e->sock = sv[0];
    e->out = op[0];
    e->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    memcpy(e->token, token, sizeof token);
    e->alive = true;
    e->user = user;
    self->spawned++;
    return 0;
}

/* Starts killing e: SIGTERM to its group now, SIGKILL after the grace. */
static void s_kill(assay_pool *self, s_exec *e, const char *reason)
{
    if (e->kill_at_ms)
        return;
    strlcpy(e->reason, reason, sizeof e->reason);
    e->symptom = !strcmp(reason, STOPPED_READING);
    kill(-e->pid, SIGTERM);
    e->kill_at_ms = assay_now_ms() + self->cfg.kill_grace_ms;
    if (self->cfg.kill_grace_ms == 0)
        kill(-e->pid, SIGKILL);
}

static void s_kill_over_limit(assay_pool *self, s_exec *e)
{
    char why[ASSAY_ERRMSG_SIZE];
    snprintf(why, sizeof why, "output limit exceeded (%zu bytes)",
             self->cfg.output_limit);
    s_kill(self, e, why);
}

/* The head job is the one running now; it may have written already (its
 * output went to it from the previous job's mark on). */
static void s_head_started(assay_pool *self, s_exec *e)
{
    if (e->jobs.head->cancelled)
        s_kill(self, e, "cancelled");
    else if (e->jobs.head->over_limit)
        s_kill_over_limit(self, e);
    e->head_start_ms = assay_now_ms();
}

static int s_send(assay_pool *self, s_exec *e)
{
    int rc = assay_frame_flush(e->sock, &e->tx);
    if (rc == ASSAY_EIO)
        s_kill(self, e, STOPPED_READING);
    return rc;
}

/* An executor that may take a job of `user`: of that user, alive, with
 * room. Least loaded wins; ties go round the executors, so that at low
 * load one slow or descheduled executor holds few jobs. */
static s_exec *s_pick(assay_pool *self, const char *user)
{
    s_exec *best = NULL;
    for (int k = 0; k < self->cfg.executors; k++) {
        s_exec *e = &self->execs[(self->next_exec + k) % self->cfg.executors];
        if (!e->alive || e->kill_at_ms || e->draining || e->user != user ||
            e->jobs.count >= (size_t)self->cfg.depth)
            continue;
        if (!best || e->jobs.count < best->jobs.count)
            best = e;
    }
    return best;
}

/* Whether some executor runs, or will run, as `user`. */
static bool s_serves(const assay_pool *self, const char *user)
{
    for (int k = 0; k < self->cfg.executors; k++) {
        const s_exec *e = &self->execs[k];
        if (e->alive && !e->kill_at_ms &&
            (e->draining ? e->next_user : e->user) == user)
            return true;
    }
    return false;
}

static int s_count_user(const assay_pool *self, const char *user)
{
    int n = 0;
    for (int k = 0; k < self->cfg.executors; k++)
        n += self->execs[k].alive && !self->execs[k].draining &&
             self->execs[k].user == user;
    return n;
}

/* No executor runs as `user`: the least loaded of a user that has others
 * (else of any) drains, to start again as `user`; returns it. */
static s_exec *s_drain_for(assay_pool *self, const char *user)
{
    s_exec *best = NULL;
    bool spare = false;
    for (int k = 0; k < self->cfg.executors; k++) {
        s_exec *e = &self->execs[k];
        if (!e->alive || e->kill_at_ms || e->draining)
            continue;
        bool s = s_count_user(self, e->user) > 1;
        if (!best || (s && !spare) ||
            (s == spare && e->jobs.count < best->jobs.count)) {
            best = e;
            spare = s;
        }
    }
    if (best) {
        best->draining = true;
        best->next_user = user;
    }
    return best;
}

/* Starts a drained (idle) executor again as the user it drained for. Its
 * socket closed, it ends as at shutdown (plugins' fini run), given a
 * moment; what is left of its group is killed. */
static void s_switch(assay_pool *self, s_exec *e)
{
    const char *user = e->next_user;
    pid_t was = e->pid;
    close(e->sock);
    bool reaped = false;
    for (int i = 0; i < 100 && !reaped; i++)
        if (!(reaped = waitpid(was, NULL, WNOHANG) == was))
            poll(NULL, 0, 2);
    kill(-was, SIGKILL);
    while (!reaped && waitpid(was, NULL, 0) < 0 && errno == EINTR)
        ;
    close(e->out);
    if (e->pidfd >= 0)
        close(e->pidfd);
    assay_buf_fini(&e->rx);
    assay_buf_fini(&e->tx);
    memset(e, 0, sizeof *e);
    e->sock = e->out = e->pidfd = -1;
    if (s_spawn(self, e, user) == 0)
        assay_info("executor %d replaced by %d, running as %s", (int)was,
                   (int)e->pid, user ? user : "assayd's user");
}

/* Hands pending jobs to executors; each executor's frames then go out in
 * one write (a write per job was a third of a busy runtime's time). A
 * job no executor of its user can take now waits, and those behind it
 * go on. */
static void s_dispatch(assay_pool *self)
{
    bool touched[self->cfg.executors > 0 ? self->cfg.executors : 1];
    memset(touched, 0, sizeof touched);
    for (int k = 0; k < self->cfg.executors; k++) {
        s_exec *e = &self->execs[k];
        if (e->alive && e->draining && !e->jobs.count && !e->kill_at_ms)
            s_switch(self, e);
    }
    s_job *prev = NULL;
    for (s_job *j = self->pending.head, *next; j; j = next) {
        next = j->next;
        s_exec *best = s_pick(self, j->user);
        if (!best && !s_serves(self, j->user)) {
            s_exec *e = s_drain_for(self, j->user);
            if (e && !e->jobs.count) { /* idle: switched at once */
                s_switch(self, e);
                best = s_pick(self, j->user);
            }
        }
        if (!best && !assay_runas_any(self->runas))
            break; /* one user: no executor has room for anything */
        if (!best) {
            prev = j;
            continue;
        }
        self->next_exec = (int)(best - self->execs + 1) % self->cfg.executors;
        if (prev)
            prev->next = next;
        else
            self->pending.head = next;
        if (self->pending.tail == j)
            self->pending.tail = prev;
        self->pending.count--;
        if (assay_frame_put(&best->tx, j->frame) != 0) {
            s_fail(self, j, "job too large for the executor frame", NULL);
            continue;
        }
        s_push_back(&best->jobs, j);
        if (!best->writer) /* every job before it has ended its output */
            best->writer = j;
        if (best->jobs.count == 1)
            s_head_started(self, best);
        touched[best - self->execs] = true;
    }
    for (int k = 0; k < self->cfg.executors; k++)
        if (touched[k])
            s_send(self, &self->execs[k]);
}

/* Appends n bytes of output to the job writing now; enforces its limit.
 * A job over the limit is killed once it is the head: before that, the
 * job ahead of it has ended and its result is on the way. */
static void s_capture(assay_pool *self, s_exec *e, const char *p, size_t n)
{
    s_job *w = e->writer;
    if (!n || !w || w->over_limit || e->kill_at_ms)
        return; /* output outside any job, or of a dying executor: drop */
    size_t room = self->cfg.output_limit - w->output_len;
    size_t take = n < room ? n : room;
    if (take) {
        char *grown = realloc(w->output, w->output_len + take + 1);
        if (grown) {
            memcpy(grown + w->output_len, p, take);
            w->output_len += take;
            grown[w->output_len] = '\0';
            w->output = grown;
        }
    }
    if (n > room) {
        w->over_limit = true;
        if (w == e->jobs.head)
            s_kill_over_limit(self, e);
    }
}

/* The length of the longest end of p[0..n) that begins the token. */
static size_t s_token_start(const s_exec *e, const char *p, size_t n)
{
    for (size_t k = n < OUT_TOKEN - 1 ? n : OUT_TOKEN - 1; k > 0; k--)
        if (!memcmp(p + n - k, e->token, k))
            return k;
    return 0;
}

/* Splits output at end-of-output marks: bytes go to the job writing, a
 * mark ends that job's output and passes the pipe to the next job. What
 * may be the beginning of a mark waits in carry for the next read. */
static void s_split(assay_pool *self, s_exec *e, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end && !e->kill_at_ms) {
        const char *m = memmem(p, (size_t)(end - p), e->token, OUT_TOKEN);
        if (!m) {
            size_t keep = s_token_start(e, p, (size_t)(end - p));
            s_capture(self, e, p, (size_t)(end - p) - keep);
            memcpy(e->carry, end - keep, keep);
            e->carry_len = keep;
            return;
        }
        s_capture(self, e, p, (size_t)(m - p));
        if (end - m < OUT_MARK) {
            memcpy(e->carry, m, (size_t)(end - m));
            e->carry_len = (size_t)(end - m);
            return;
        }
        uint64_t seq = 0;
        for (int i = 0; i < 8; i++)
            seq = seq << 8 | (unsigned char)m[OUT_TOKEN + i];
        s_job *w = e->writer;
        if (!w || w->seq != seq) {
            char why[ASSAY_ERRMSG_SIZE];
            snprintf(why, sizeof why,
                     "executor protocol error: output mark of job %llu, "
                     "expected %llu", (unsigned long long)seq,
                     (unsigned long long)(w ? w->seq : 0));
            s_kill(self, e, why);
            return;
        }
        w->marked = true;
        e->writer = w->next;
        p = m + OUT_MARK;
    }
    e->carry_len = 0;
}

/* Reads what the output pipe holds and attributes it (see s_split). */
static void s_read_output(assay_pool *self, s_exec *e)
{
    char buf[OUT_MARK + 16384];
    for (;;) {
        size_t carried = e->carry_len;
        memcpy(buf, e->carry, carried);
        ssize_t n = read(e->out, buf + carried, sizeof buf - OUT_MARK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        e->carry_len = 0;
        s_split(self, e, buf, carried + (size_t)n);
    }
}

/* Output the pipe left cut short (the executor died): the writer's. */
static void s_flush_carry(assay_pool *self, s_exec *e)
{
    size_t n = e->carry_len;
    e->carry_len = 0;
    s_capture(self, e, (const char *)e->carry, n);
}

/* A job's captured output as a JSON string (NULL if none). */
static json_t *s_output(s_job *j)
{
    if (!j->output_len)
        return NULL;
    json_t *o = json_stringn(j->output, j->output_len);
    if (!o) { /* not UTF-8: keep it printable */
        for (size_t i = 0; i < j->output_len; i++)
            if ((unsigned char)j->output[i] >= 0x80)
                j->output[i] = '?';
        o = json_stringn(j->output, j->output_len);
    }
    return o;
}

static void s_on_result(assay_pool *self, s_exec *e, json_t *msg)
{
    s_job *j = e->jobs.head;
    json_t *seq = json_object_get(msg, "seq");
    const char *status = json_string_value(json_object_get(msg, "status"));
    if (!j || !json_is_integer(seq) ||
        (uint64_t)json_integer_value(seq) != j->seq || !status ||
        !json_is_array(json_object_get(msg, "findings")) ||
        !json_is_object(json_object_get(msg, "data"))) {
        json_decref(msg);
        s_kill(self, e, "executor protocol error: unexpected result frame");
        return;
    }
    if (!j->marked) /* its mark is in the pipe, ahead of this result */
        s_read_output(self, e);
    if (e->kill_at_ms) { /* a kill decided while reading wins */
        json_decref(msg);
        return;
    }
    if (!j->marked) {
        json_decref(msg);
        s_kill(self, e, "executor protocol error: result before the end of "
                        "its output");
        return;
    }
    s_pop(&e->jobs);
    if (j->output_len)
        json_object_set_new(msg, "output", s_output(j));
    self->spawn_failures = 0;
    s_deliver(self, j, msg);
    if (e->jobs.head)
        s_head_started(self, e);
}

static void s_read_socket(assay_pool *self, s_exec *e)
{
    for (;;) {
        int n = assay_frame_fill(e->sock, &e->rx);
        if (n == ASSAY_EBUSY)
            break;
        if (n <= 0) { /* EOF or error: the process is going away */
            close(e->sock);
            e->sock = -1;
            if (!e->kill_at_ms)
                s_kill(self, e, "");
            break;
        }
        json_t *msg;
        char err[ASSAY_ERRMSG_SIZE];
        int got;
        while (!e->kill_at_ms &&
               (got = assay_frame_next(&e->rx, RESULT_FRAME_MAX, &msg, err,
                                       sizeof err)) != 0) {
            if (got < 0) {
                char why[ASSAY_ERRMSG_SIZE + 32];
                snprintf(why, sizeof why, "executor protocol error: %s", err);
                s_kill(self, e, why);
                break;
            }
            s_on_result(self, e, msg);
        }
    }
}

static void s_reason_from_status(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));
        snprintf(buf, len, "killed by SIG%s", name ? name : "?");
    } else if (WIFEXITED(status)) {
        snprintf(buf, len, "executor exited with status %d",
                 WEXITSTATUS(status));
    } else {
        snprintf(buf, len, "executor ended");
    }
}

/* Why an executor that was running `head` ended: the reason we killed it
 * for (`killed`: s_kill gave one, not a symptom), however it then died
 * (it may exit on our SIGTERM); else a crash. */
static assay_pool_cause s_cause(const s_job *head, const char *reason,
                                bool killed)
{
    if (head->cancelled)
        return ASSAY_POOL_CANCELLED;
    if (!killed)
        return ASSAY_POOL_CRASH;
    if (!strcmp(reason, "timeout"))
        return ASSAY_POOL_TIMEOUT;
    if (!strncmp(reason, "output limit", 12))
        return ASSAY_POOL_OUTPUT;
    if (!strncmp(reason, "executor protocol error", 23))
        return ASSAY_POOL_PROTOCOL;
    return ASSAY_POOL_CRASH;
}

/* Reaps e once its socket is closed: the head job fails, the rest go
 * back to the front of the pending queue, and a replacement starts. */
static void s_reap(assay_pool *self, s_exec *e)
{
    kill(-e->pid, SIGKILL); /* also the case where it closed fd 3 itself */
    int status = 0;
    while (waitpid(e->pid, &status, 0) < 0 && errno == EINTR)
        ;
    s_read_output(self, e);
    s_flush_carry(self, e);
    if (e->out >= 0)
        close(e->out);
    if (e->pidfd >= 0)
        close(e->pidfd);
    char reason[ASSAY_ERRMSG_SIZE];
    /* A failed write is how we learned of a death, not its cause: unless
     * the process died of our own SIGTERM or SIGKILL (it had closed its
     * socket but lived on), the wait status says what happened. */
    bool ours = WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM ||
                                        WTERMSIG(status) == SIGKILL);
    if (e->reason[0] && (!e->symptom || ours))
        strlcpy(reason, e->reason, sizeof reason);
    else
        s_reason_from_status(status, reason, sizeof reason);
    s_job *head = s_pop(&e->jobs);
    assay_pool_cause cause =
        head ? s_cause(head, e->reason, e->reason[0] && !e->symptom)
             : ASSAY_POOL_CRASH;
    if (head) {
        /* The runtime names a job "ID#ATTEMPT": the journal field is ID. */
        char job[256];
        strlcpy(job, head->job_id, sizeof job);
        char *hash = strrchr(job, '#');
        if (hash)
            *hash = '\0';
        assay_logf_ids(ASSAY_LOG_WARN, job, NULL,
                       "executor %d ended running %s: %s", (int)e->pid,
                       head->job_id, reason);
    } else
        assay_warn("executor %d ended: %s", (int)e->pid, reason);
    /* The head's output is what was read before its mark, or before the
     * executor died if it never wrote one. */
    json_t *output = head ? s_output(head) : NULL;
    /* The jobs behind it start again from nothing (a job that ran after a
     * marked head was not reported; it will run again). */
    for (s_job *j = e->jobs.head; j; j = j->next) {
        free(j->output);
        j->output = NULL;
        j->output_len = 0;
        j->marked = j->over_limit = false;
    }
    /* Unstarted jobs keep their order ahead of everything pending. */
    if (e->jobs.head) {
        e->jobs.tail->next = self->pending.head;
        if (!self->pending.head)
            self->pending.tail = e->jobs.tail;
        self->pending.head = e->jobs.head;
        self->pending.count += e->jobs.count;
    }
    assay_buf_fini(&e->rx);
    assay_buf_fini(&e->tx);
    const char *user = e->draining ? e->next_user : e->user;
    memset(e, 0, sizeof *e);
    e->sock = e->out = e->pidfd = -1;
    if (head) {
        self->spawn_failures = 0;
        head->faults->ended[cause]++;
        s_fail(self, head, reason, output);
    } else {
        self->spawn_failures++;
    }
    if (self->spawn_failures < MAX_SPAWN_FAILURES)
        s_spawn(self, e, user);
}

static void s_timers(assay_pool *self, int64_t now)
{
    for (int i = 0; i < self->cfg.executors; i++) {
        s_exec *e = &self->execs[i];
        if (!e->alive)
            continue;
        if (e->kill_at_ms && now >= e->kill_at_ms)
            kill(-e->pid, SIGKILL);
        else if (!e->kill_at_ms && e->jobs.head &&
                 now >= e->head_start_ms + e->jobs.head->timeout_ms)
            s_kill(self, e, "timeout");
    }
}

static int64_t s_next_deadline(const assay_pool *self)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < self->cfg.executors; i++) {
        const s_exec *e = &self->execs[i];
        int64_t d = e->kill_at_ms
                        ? e->kill_at_ms
                        : (e->jobs.head ? e->head_start_ms +
                                              e->jobs.head->timeout_ms
                                        : INT64_MAX);
        if (e->alive && d < next)
            next = d;
    }
    return next;
}

/* Without live executors nothing pending can run: fail it, loudly. */
static void s_fail_pending_if_broken(assay_pool *self)
{
    for (int i = 0; i < self->cfg.executors; i++)
        if (self->execs[i].alive)
            return;
    s_job *j;
    while ((j = s_pop(&self->pending)))
        s_fail(self, j, "no executor could be started", NULL);
}

int assay_pool_prepare(assay_pool *self, struct pollfd *pfd, int max,
                       int64_t *deadline_ms)
{
    s_fail_pending_if_broken(self);
    s_dispatch(self);
    int64_t next = s_next_deadline(self);
    if (next < *deadline_ms)
        *deadline_ms = next;
    int n = 0;
    for (int i = 0; i < self->cfg.executors && n + POOL_FDS <= max; i++) {
        s_exec *e = &self->execs[i];
        pfd[n] = (struct pollfd){.fd = e->alive ? e->sock : -1,
                                 .events = POLLIN};
        if (e->alive && e->tx.len > e->tx.off)
            pfd[n].events |= POLLOUT;
        pfd[n + 1] = (struct pollfd){.fd = e->alive ? e->out : -1,
                                     .events = POLLIN};
        pfd[n + 2] = (struct pollfd){.fd = e->alive ? e->pidfd : -1,
                                     .events = POLLIN};
        n += POOL_FDS;
    }
    return n;
}

/* e's process has ended (its pidfd says so): what it wrote before is
 * read, and the socket closed whoever else holds it, so that it is reaped
 * now, with its wait status as the reason. */
static void s_ended(assay_pool *self, s_exec *e)
{
    if (e->sock < 0)
        return;
    s_read_socket(self, e);
    if (e->sock >= 0) {
        close(e->sock);
        e->sock = -1;
    }
}

void assay_pool_dispatch(assay_pool *self, const struct pollfd *pfd, int n)
{
    for (int i = 0; i < self->cfg.executors && POOL_FDS * i + 2 < n; i++) {
        s_exec *e = &self->execs[i];
        const struct pollfd *p = pfd + POOL_FDS * i;
        if (!e->alive || p[0].fd != e->sock)
            continue; /* replaced since prepare: its fds are new */
        if (p[1].revents)
            s_read_output(self, e);
        if (p[0].revents & POLLOUT)
            s_send(self, e);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            s_read_socket(self, e);
        if (p[2].revents)
            s_ended(self, e);
        if (e->sock < 0)
            s_reap(self, e);
    }
    s_timers(self, assay_now_ms());
    s_dispatch(self);
}

int assay_pool_poll(assay_pool *self, int timeout_ms)
{
    self->delivered = 0;
    int64_t deadline = INT64_MAX;
    struct pollfd pfd[POOL_FDS * self->cfg.executors];
    int n = assay_pool_prepare(self, pfd, POOL_FDS * self->cfg.executors,
                               &deadline);
    if (deadline != INT64_MAX) {
        int64_t wait = deadline - assay_now_ms();
        if (wait < 0)
            wait = 0;
        if (timeout_ms < 0 || wait < timeout_ms)
            timeout_ms = (int)wait;
    }
    if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
        return ASSAY_EIO;
    assay_pool_dispatch(self, pfd, n);
    return self->delivered;
}

int assay_pool_new(const assay_pool_config *cfg, assay_pool **out, char *err,
                   size_t errlen)
{
    if (cfg->executors < 1 || cfg->depth < 1 || !cfg->executor_path)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "pool needs >= 1 executor and depth >= 1");
    if (access(cfg->executor_path, X_OK) != 0)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "executor %s: %s", cfg->executor_path,
                          strerror(errno));
    assay_runas *runas = NULL;
    int rc = assay_runas_new(cfg->run_as, cfg->user, &runas, err, errlen);
    if (rc)
        return rc;
    assay_pool *self = calloc(1, sizeof *self);
    if (!self) {
        assay_runas_destroy(&runas);
        return ASSAY_ENOMEM;
    }
    self->cfg = *cfg;
    self->runas = runas;
    strlcpy(self->executor_path, cfg->executor_path,
            sizeof self->executor_path);
    self->cfg.executor_path = self->executor_path;
    self->cfg.user = self->cfg.run_as = NULL; /* the caller's: runas has them */
    self->execs = calloc((size_t)cfg->executors, sizeof *self->execs);
    if (!self->execs) {
        free(self);
        return ASSAY_ENOMEM;
    }
    /* A dead executor must not take the daemon with it. */
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < cfg->executors; i++) {
        if (s_spawn(self, &self->execs[i],
                    assay_runas_user(self->runas, NULL)) != 0) {
            assay_pool_destroy(&self);
            return assay_errf(err, errlen, ASSAY_EIO,
                              "cannot start executor %s", cfg->executor_path);
        }
    }
    *out = self;
    return 0;
}

/* Closing an executor's socket asks it to exit (module fini() runs); a
 * job still running is not waited for beyond this. */
#define SHUTDOWN_GRACE_MS 1000

void assay_pool_destroy(assay_pool **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_pool *self = *self_p;
    for (int i = 0; i < self->cfg.executors; i++)
        if (self->execs[i].alive) {
            close(self->execs[i].sock);
            close(self->execs[i].out);
            if (self->execs[i].pidfd >= 0)
                close(self->execs[i].pidfd);
        }
    int64_t deadline = assay_now_ms() + SHUTDOWN_GRACE_MS;
    for (int i = 0; i < self->cfg.executors; i++) {
        s_exec *e = &self->execs[i];
        if (!e->alive)
            continue;
        while (waitpid(e->pid, NULL, WNOHANG) == 0) {
            if (assay_now_ms() >= deadline) {
                kill(-e->pid, SIGKILL);
                while (waitpid(e->pid, NULL, 0) < 0 && errno == EINTR)
                    ;
                break;
            }
            poll(NULL, 0, 5);
        }
        kill(-e->pid, SIGKILL); /* whatever it left in its group */
        s_job *j;
        while ((j = s_pop(&e->jobs)))
            s_job_free(j);
        assay_buf_fini(&e->rx);
        assay_buf_fini(&e->tx);
    }
    s_job *j;
    while ((j = s_pop(&self->pending)))
        s_job_free(j);
    free(self->execs);
    assay_runas_destroy(&self->runas);
    free(self);
    *self_p = NULL;
}

int assay_pool_submit(assay_pool *self, const assay_task *t,
                      assay_pool_done_fn cb, void *arg)
{
    s_job *j = calloc(1, sizeof *j);
    if (!j)
        return ASSAY_ENOMEM;
    j->seq = ++self->next_seq;
    j->job_id = strdup(t->job_id ? t->job_id : "");
    j->user = assay_runas_user(self->runas, t->plugin);
    j->faults = s_faults(self, t->plugin ? t->plugin : "(none)");
    j->timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : 1;
    j->cb = cb;
    j->arg = arg;
    j->frame = json_pack("{s:s, s:I, s:s, s:s, s:o, s:O, s:I, s:I}", "t",
                         "job", "seq", (json_int_t)j->seq, "plugin",
                         t->plugin_path, "action", t->action, "params",
                         t->params ? json_incref((json_t *)t->params)
                                   : json_object(),
                         "config", t->config ? t->config : json_null(),
                         "timeout_ms",
                         (json_int_t)j->timeout_ms, "cpu_s",
                         (json_int_t)self->cfg.cpu_s);
    if (!j->frame || !j->job_id) {
        s_job_free(j);
        return ASSAY_ENOMEM;
    }
    s_push_back(&self->pending, j);
    self->outstanding++;
    /* Sent by assay_pool_flush, or by the next prepare or dispatch. */
    return 0;
}

void assay_pool_flush(assay_pool *self)
{
    s_dispatch(self);
}

size_t assay_pool_outstanding(const assay_pool *self)
{
    return self->outstanding;
}

uint64_t assay_pool_spawned(const assay_pool *self) { return self->spawned; }

int assay_pool_cancel(assay_pool *self, const char *job_id)
{
    for (s_job **pp = &self->pending.head; *pp; pp = &(*pp)->next) {
        s_job *j = *pp;
        if (strcmp(j->job_id, job_id))
            continue;
        *pp = j->next;
        if (self->pending.tail == j) {
            self->pending.tail = NULL;
            for (s_job *t = self->pending.head; t; t = t->next)
                self->pending.tail = t;
        }
        self->pending.count--;
        j->cancelled = true;
        s_fail(self, j, "cancelled before it started", NULL);
        return 0;
    }
    for (int i = 0; i < self->cfg.executors; i++) {
        s_exec *e = &self->execs[i];
        for (s_job *j = e->jobs.head; e->alive && j; j = j->next) {
            if (strcmp(j->job_id, job_id))
                continue;
            j->cancelled = true;
            if (j == e->jobs.head)
                s_kill(self, e, "cancelled");
            return 0;
        }
    }
    return ASSAY_ENOENT;
}

size_t assay_pool_capacity(const assay_pool *self)
{
    return (size_t)self->cfg.executors * (size_t)self->cfg.depth;
}

int assay_pool_unload(assay_pool *self, const char *plugin_path)
{
    json_t *frame = json_pack("{s:s, s:s}", "t", "unload", "plugin",
                              plugin_path);
    if (!frame)
        return ASSAY_ENOMEM;
    /* In each executor's stream after the jobs already sent to it, which
     * still run on the old copy. No reply comes back for it. */
    for (int i = 0; i < self->cfg.executors; i++) {
        s_exec *e = &self->execs[i];
        if (e->alive && !e->kill_at_ms &&
            assay_frame_put(&e->tx, frame) == 0)
            s_send(self, e);
    }
    json_decref(frame);
    return 0;
}
