/* bench/assay-bench/loop.c - assay-bench's one loop: the control-plane
 * client and the simulated runtimes' links polled together with their
 * timers, and the progress line once a second. Everything that waits
 * (calls included) pumps it, so the simulated runtimes never stall. */
#include <math.h>
#include <poll.h>
#include <time.h>

#include "base/clock.h"
#include "bench.h"

static void s_progress(s_bench *b, int64_t now)
{
    if (now < b->progress_next)
        return;
    b->progress_next = now + SEC;
    bench_check_children(b);
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
    if (b->nrts)
        n += snprintf(line + n, sizeof line - (size_t)n,
                      "; %ld/%d simulated runtimes registered",
                      bench_sim_registered(b), b->nrts);
    pid_t pid = bench_leader_pid(b);
    if (pid > 0) {
        double cpu = bench_cpu_s(pid);
        if (b->cpu_prev_us && pid == b->cpu_prev_pid && isfinite(cpu) &&
            isfinite(b->cpu_prev))
            n += snprintf(line + n, sizeof line - (size_t)n,
                          "; leader CPU %.0f%%, RSS %ld MB",
                          (cpu - b->cpu_prev) * 1e8 /
                              (double)(now - b->cpu_prev_us),
                          bench_status_kb(pid, "VmRSS") / 1024);
        b->cpu_prev = cpu;
        b->cpu_prev_us = now;
        b->cpu_prev_pid = pid;
    }
    (void)n;
    fprintf(stderr, "assay-bench: %s\n", line);
}

/* Timers, then every instance that was readable or sent on, until none is
 * (a send can swallow the wake-up of a message that arrived meanwhile, so
 * each instance is drained after its sends: core/cluster/link.h's contract;
 * the client is drained after the bench's sends on it likewise, and when
 * one of its timers is due). */
static void s_process(s_bench *b)
{
    for (int pass = 0; pass < 64; pass++) {
        bench_sim_timers(b, assay_now_us());
        bool any = false;
        if (b->cl && (b->cl_dirty || assay_client_timeout(b->cl) == 0)) {
            any = true;
            bench_cp_drain(b);
        }
        any = bench_sim_process(b) || any;
        if (!any)
            break;
    }
    s_progress(b, assay_now_us());
}

/* One turn: process, wait for input at most until `until` (or a timer),
 * process again. */
void bench_pump(s_bench *b, int64_t until)
{
    s_process(b);
    int64_t now = assay_now_us(), wake = until;
    if (b->nrts && b->sim_next_us < wake)
        wake = b->sim_next_us;
    if (b->progress_next < wake)
        wake = b->progress_next;
    if (b->deadline < wake)
        wake = b->deadline;
    /* The client's own timers: a silent member, a retry, a deadline. */
    int64_t cl_ms = b->cl ? assay_client_timeout(b->cl) : -1;
    if (cl_ms >= 0 && now + cl_ms * 1000 < wake)
        wake = now + cl_ms * 1000;
    bool dirty = b->cl_dirty;
    struct pollfd pfd[1 + MAX_GROUPS];
    int n = 0;
    if (b->cl)
        pfd[n++] = (struct pollfd){assay_client_fd(b->cl), POLLIN, 0};
    n += bench_sim_pollfds(b, pfd + n, &dirty);
    int64_t left = dirty || bench_interrupted ? 0 : wake - now;
    if (left < 0)
        left = 0;
    struct timespec ts = {left / 1000000, (left % 1000000) * 1000};
    if (ppoll(pfd, (nfds_t)n, &ts, NULL) > 0) {
        if (b->cl && pfd[0].revents)
            b->cl_dirty = true;
        bench_sim_polled(b, pfd + (b->cl ? 1 : 0));
    }
    s_process(b);
}

/* Pumps for `us` microseconds (or until stopping). */
void bench_sleep(s_bench *b, int64_t us)
{
    int64_t until = assay_now_us() + us;
    while (assay_now_us() < until && !bench_stopping(b))
        bench_pump(b, until);
}

