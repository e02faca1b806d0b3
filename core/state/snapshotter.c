/* core/state/snapshotter.c - snapshots made by a forked child (see
 * snapshotter.h). */
#include "state/snapshotter.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "base/log.h"
#include "state/fsm.h"

/* A child still encoding after this long is stuck (stopped, or on a lock
 * another thread held at the fork): killed, and the next ask tries again.
 * Commands kept for the tail beyond this many bytes: the same. */
#define CHILD_MAX_MS (10 * 60 * 1000)
#define TAIL_MAX ((size_t)512 << 20)

struct assay_snapshotter {
    pid_t child;   /* encoding, or 0 */
    int64_t started_ms;
    int fd;        /* its memfd, or -1 */
    char *tail;    /* commands applied since the fork: {u32 len, bytes} */
    size_t tail_len, tail_cap;
    uint32_t tail_count;
    assay_snapshot_stats stats;
};

const double ASSAY_SNAPSHOT_BOUNDS_S[ASSAY_SNAPSHOT_BUCKETS - 1] = {
    0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

const assay_snapshot_stats *
assay_snapshotter_stats(const assay_snapshotter *self)
{
    return &self->stats;
}

assay_snapshotter *assay_snapshotter_new(void)
{
    assay_snapshotter *self = calloc(1, sizeof *self);
    if (self)
        self->fd = -1;
    return self;
}

void assay_snapshotter_reset(assay_snapshotter *self)
{
    if (self->child > 0) {
        kill(self->child, SIGKILL);
        while (waitpid(self->child, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    self->child = 0;
    if (self->fd >= 0)
        close(self->fd);
    self->fd = -1;
    self->tail_len = 0;
    self->tail_count = 0;
}

void assay_snapshotter_destroy(assay_snapshotter **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_snapshotter_reset(*self_p);
    free((*self_p)->tail);
    free(*self_p);
    *self_p = NULL;
}

static void s_put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

int assay_snapshotter_applied(assay_snapshotter *self, const void *cmd,
                              size_t len)
{
    if (self->child <= 0 || len > UINT32_MAX)
        return 0;
    if (self->tail_len + len + 4 > TAIL_MAX) {
        assay_warn("snapshot: %zu bytes of commands since the fork; made "
                   "again",
                   self->tail_len);
        assay_snapshotter_reset(self);
        return 0;
    }
    if (self->tail_cap - self->tail_len < len + 4) {
        size_t cap = self->tail_cap ? self->tail_cap : 4096;
        while (cap - self->tail_len < len + 4)
            cap *= 2;
        char *t = realloc(self->tail, cap);
        if (!t) {
            /* Without the command the snapshot would be wrong: drop it. */
            assay_warn("snapshot: out of memory keeping commands; it is "
                       "made again");
            assay_snapshotter_reset(self);
            return ASSAY_ENOMEM;
        }
        self->tail = t;
        self->tail_cap = cap;
    }
    s_put_le((unsigned char *)self->tail + self->tail_len, len, 4);
    memcpy(self->tail + self->tail_len + 4, cmd, len);
    self->tail_len += len + 4;
    self->tail_count++;
    return 0;
}

static bool s_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* In the child: encode the frozen state after the header's room, exit. */
static void s_child(const assay_state *st, int fd, pid_t parent)
{
    /* A member killed meanwhile takes its child along: its encoding
     * would go to nobody (also if it died before the prctl). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* It keeps none of the member's other fds either: a pipe or socket the
     * member closes (an executor told to go) must see its end now. */
    if (fd > 3)
        close_range(3, (unsigned)fd - 1, 0);
    close_range((unsigned)fd + 1, ~0u, 0);
    char *buf;
    size_t len;
    int ok = lseek(fd, ASSAY_SNAPSHOT_HEADER, SEEK_SET) ==
                 ASSAY_SNAPSHOT_HEADER &&
             assay_fsm_snapshot(st, &buf, &len) == 0 &&
             s_write_all(fd, buf, len);
    /* _exit: no atexit handlers, no stdio flush, nothing of the member's
     * (its sockets, its leak checker) runs twice. */
    _exit(ok ? 0 : 1);
}

static int s_fork(assay_snapshotter *self, const assay_state *st)
{
    self->fd = memfd_create("assay-snapshot", MFD_CLOEXEC);
    if (self->fd < 0)
        return ASSAY_EIO;
    int64_t before_us = assay_now_us();
    pid_t parent = getpid(), pid = fork();
    if (pid == 0)
        s_child(st, self->fd, parent);
    if (pid < 0) {
        close(self->fd);
        self->fd = -1;
        return ASSAY_EIO;
    }
    self->child = pid;
    self->started_ms = assay_now_ms();
    self->stats.last_fork_s = (double)(assay_now_us() - before_us) / 1e6;
    self->tail_len = 0;
    self->tail_count = 0;
    return ASSAY_EBUSY;
}

/* The child is done: header, its encoding, the tail, mapped. */
static int s_finish(assay_snapshotter *self, void **buf, size_t *len)
{
    struct stat sb;
    unsigned char head[ASSAY_SNAPSHOT_HEADER] = {0}, count[4];
    int rc = ASSAY_EIO;
    if (fstat(self->fd, &sb) == 0 && sb.st_size > ASSAY_SNAPSHOT_HEADER) {
        memcpy(head, ASSAY_SNAPSHOT_MAGIC, 8);
        s_put_le(head + 8, ASSAY_SNAPSHOT_CONTAINER, 4);
        s_put_le(head + 16, (uint64_t)sb.st_size - ASSAY_SNAPSHOT_HEADER, 8);
        s_put_le(count, self->tail_count, 4);
        size_t total = (size_t)sb.st_size + 4 + self->tail_len;
        void *m = MAP_FAILED;
        if (pwrite(self->fd, head, sizeof head, 0) == sizeof head &&
            lseek(self->fd, 0, SEEK_END) == sb.st_size &&
            s_write_all(self->fd, (char *)count, 4) &&
            s_write_all(self->fd, self->tail, self->tail_len))
            m = mmap(NULL, total, PROT_READ, MAP_SHARED, self->fd, 0);
        if (m != MAP_FAILED) {
            *buf = m;
            *len = total;
            rc = 0;
        }
    }
    if (rc == 0) {
        double took = (double)(assay_now_ms() - self->started_ms) / 1000;
        size_t b = 0;
        while (b < ASSAY_SNAPSHOT_BUCKETS - 1 &&
               took > ASSAY_SNAPSHOT_BOUNDS_S[b])
            b++;
        self->stats.counts[b]++;
        self->stats.sum_s += took;
        self->stats.made++;
        self->stats.last_bytes = *len;
    } else {
        self->stats.failed++;
    }
    self->child = 0;
    assay_snapshotter_reset(self);
    return rc;
}

int assay_snapshotter_take(assay_snapshotter *self, const assay_state *st,
                           void **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (self->child <= 0)
        return s_fork(self, st);
    int status;
    pid_t w = waitpid(self->child, &status, WNOHANG);
    if (w == 0 && assay_now_ms() - self->started_ms > CHILD_MAX_MS) {
        assay_warn("snapshot: the encoding child ran %d s; killed, trying "
                   "again",
                   CHILD_MAX_MS / 1000);
        assay_snapshotter_reset(self);
        self->stats.failed++;
        return ASSAY_EIO;
    }
    if (w == 0 || (w < 0 && errno == EINTR))
        return ASSAY_EBUSY;
    if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        assay_warn("snapshot: the encoding child failed (%s); trying again",
                   w < 0 ? "lost" : "exit status");
        self->child = 0; /* reaped, or not ours to kill any more */
        assay_snapshotter_reset(self);
        self->stats.failed++;
        return ASSAY_EIO;
    }
    return s_finish(self, buf, len);
}

void assay_snapshot_free(void *buf, size_t len)
{
    if (buf)
        munmap(buf, len);
}
