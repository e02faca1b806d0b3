/* core/base/loop.h - the daemon's one event loop: poll(2) over fd watchers,
 * sources that bring their own changing fds (the executor pool), and
 * timers on the monotonic clock. Single-threaded; callbacks may add and
 * remove watchers and timers, including their own. */
#ifndef ASSAY_CORE_LOOP_H
#define ASSAY_CORE_LOOP_H

#include <poll.h>
#include <stdint.h>

typedef struct assay_loop assay_loop;

typedef void (*assay_loop_fd_fn)(void *arg, int fd, short revents);
typedef void (*assay_loop_timer_fn)(void *arg);

/* A source fills up to `max` pollfds and may lower *deadline_ms (monotonic
 * ms; INT64_MAX = none); after poll it gets its pollfds back (dispatch
 * may be NULL). */
typedef struct assay_loop_source {
    int (*prepare)(void *arg, struct pollfd *pfd, int max,
                   int64_t *deadline_ms);
    void (*dispatch)(void *arg, const struct pollfd *pfd, int n);
    void *arg;
} assay_loop_source;

assay_loop *assay_loop_new(void);
void assay_loop_destroy(assay_loop **self_p);

int assay_loop_add_fd(assay_loop *self, int fd, short events,
                      assay_loop_fd_fn fn, void *arg);
void assay_loop_remove_fd(assay_loop *self, int fd);
int assay_loop_add_source(assay_loop *self, const assay_loop_source *src);

/* Returns a timer id > 0; repeat_ms = 0 for one shot. */
int assay_loop_add_timer(assay_loop *self, int64_t delay_ms,
                         int64_t repeat_ms, assay_loop_timer_fn fn,
                         void *arg);
void assay_loop_cancel_timer(assay_loop *self, int id);

/* Runs until assay_loop_stop(); returns 0 or ASSAY_EIO. */
int assay_loop_run(assay_loop *self);
/* One iteration, waiting at most timeout_ms (-1 = until something). */
int assay_loop_once(assay_loop *self, int timeout_ms);
void assay_loop_stop(assay_loop *self);

#endif
