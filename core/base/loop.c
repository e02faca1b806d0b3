/* core/base/loop.c - poll(2) event loop (see loop.h). Sizes are small (a few
 * sockets, two fds per executor, a handful of timers), so plain arrays and
 * linear scans beat anything cleverer. */
#include "base/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/errtext.h"

#define MAX_WATCH 64
#define MAX_SOURCES 8
#define MAX_TIMERS 256
#define MAX_POLL 1024

typedef struct {
    int fd;
    short events;
    assay_loop_fd_fn fn;
    void *arg;
} s_watch;

typedef struct {
    int id; /* 0 = free slot */
    int64_t due_ms, repeat_ms;
    assay_loop_timer_fn fn;
    void *arg;
} s_timer;

struct assay_loop {
    s_watch watch[MAX_WATCH];
    int nwatch;
    assay_loop_source sources[MAX_SOURCES];
    int nsources;
    s_timer timers[MAX_TIMERS];
    int next_timer_id;
    bool stop;
};

assay_loop *assay_loop_new(void) { return calloc(1, sizeof(assay_loop)); }

void assay_loop_destroy(assay_loop **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

int assay_loop_add_fd(assay_loop *self, int fd, short events,
                      assay_loop_fd_fn fn, void *arg)
{
    if (fd < 0 || !fn)
        return ASSAY_EINVAL;
    if (self->nwatch == MAX_WATCH)
        return ASSAY_ETOOBIG;
    self->watch[self->nwatch++] = (s_watch){fd, events, fn, arg};
    return 0;
}

void assay_loop_remove_fd(assay_loop *self, int fd)
{
    for (int i = 0; i < self->nwatch; i++)
        if (self->watch[i].fd == fd) {
            self->watch[i] = self->watch[--self->nwatch];
            return;
        }
}

int assay_loop_add_source(assay_loop *self, const assay_loop_source *src)
{
    if (self->nsources == MAX_SOURCES)
        return ASSAY_ETOOBIG;
    self->sources[self->nsources++] = *src;
    return 0;
}

int assay_loop_add_timer(assay_loop *self, int64_t delay_ms,
                         int64_t repeat_ms, assay_loop_timer_fn fn,
                         void *arg)
{
    for (int i = 0; i < MAX_TIMERS; i++) {
        if (self->timers[i].id)
            continue;
        if (++self->next_timer_id <= 0)
            self->next_timer_id = 1;
        self->timers[i] = (s_timer){self->next_timer_id,
                                    assay_now_ms() + delay_ms, repeat_ms, fn,
                                    arg};
        return self->next_timer_id;
    }
    return ASSAY_ETOOBIG;
}

void assay_loop_cancel_timer(assay_loop *self, int id)
{
    for (int i = 0; id > 0 && i < MAX_TIMERS; i++)
        if (self->timers[i].id == id)
            self->timers[i].id = 0;
}

/* Still registered (not removed by an earlier callback this round)? */
static bool s_watching(const assay_loop *self, const s_watch *w)
{
    for (int i = 0; i < self->nwatch; i++)
        if (self->watch[i].fd == w->fd && self->watch[i].arg == w->arg)
            return true;
    return false;
}

static void s_run_timers(assay_loop *self)
{
    int64_t now = assay_now_ms();
    for (int i = 0; i < MAX_TIMERS; i++) {
        s_timer *t = &self->timers[i];
        if (!t->id || t->due_ms > now)
            continue;
        assay_loop_timer_fn fn = t->fn;
        void *arg = t->arg;
        if (t->repeat_ms > 0)
            t->due_ms = now + t->repeat_ms;
        else
            t->id = 0;
        fn(arg);
    }
}

int assay_loop_once(assay_loop *self, int timeout_ms)
{
    struct pollfd pfd[MAX_POLL];
    int counts[MAX_SOURCES];
    int n = 0;
    int64_t deadline = INT64_MAX;
    for (int i = 0; i < self->nwatch; i++)
        pfd[n++] = (struct pollfd){self->watch[i].fd, self->watch[i].events,
                                   0};
    int nw = n;
    for (int s = 0; s < self->nsources; s++) {
        assay_loop_source *src = &self->sources[s];
        counts[s] = src->prepare(src->arg, pfd + n, MAX_POLL - n, &deadline);
        n += counts[s];
    }
    for (int i = 0; i < MAX_TIMERS; i++)
        if (self->timers[i].id && self->timers[i].due_ms < deadline)
            deadline = self->timers[i].due_ms;
    if (deadline != INT64_MAX) {
        int64_t wait = deadline - assay_now_ms();
        if (wait < 0)
            wait = 0;
        if (timeout_ms < 0 || wait < timeout_ms)
            timeout_ms = (int)(wait > 60000 ? 60000 : wait);
    }
    if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR)
        return ASSAY_EIO;
    /* Watchers may remove themselves (or others): dispatch from a copy. */
    s_watch watch[MAX_WATCH];
    memcpy(watch, self->watch, sizeof watch);
    for (int i = 0; i < nw; i++)
        if (pfd[i].revents && s_watching(self, &watch[i]))
            watch[i].fn(watch[i].arg, pfd[i].fd, pfd[i].revents);
    int off = nw;
    for (int s = 0; s < self->nsources; s++) {
        if (self->sources[s].dispatch)
            self->sources[s].dispatch(self->sources[s].arg, pfd + off,
                                      counts[s]);
        off += counts[s];
    }
    s_run_timers(self);
    return 0;
}

int assay_loop_run(assay_loop *self)
{
    self->stop = false;
    while (!self->stop) {
        int rc = assay_loop_once(self, -1);
        if (rc)
            return rc;
    }
    return 0;
}

void assay_loop_stop(assay_loop *self) { self->stop = true; }
