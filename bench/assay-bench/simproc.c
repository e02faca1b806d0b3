/* bench/assay-bench/simproc.c - simulated runtimes beyond SIM_PER_PROC run
 * in child processes: each runtime is a ZeroMQ socket and a connection,
 * two descriptors, and this machine allows a process 20,000. A child
 * forks before it opens anything, runs its slice of runtimes in a loop of
 * its own (sim.c's hooks), starts counting heartbeats when the parent
 * says the measured period begins ('m' on its pipe), and when that pipe
 * closes (or on a signal) writes what it counted back and exits. The
 * control-plane side (assay.runtimes, the leader's CPU) stays with the
 * parent, which asks the leader, not its children, who is alive. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "bench.h"

/* What a child counted, written back when it ends. */
typedef struct {
    uint64_t sessions, dispatched, results, reregisters, redirects, silent,
        acks;
    uint64_t measured_heartbeats, measured_pulses;
    int64_t hb_gap_max_us;
} s_counts;

struct s_kid {
    pid_t pid;
    int ctl; /* write end: 'm', then closed */
    int res; /* read end: its s_counts */
};

static void s_child(s_bench *b, long first, long n, int ep, int ctl, int res)
{
    s_counts c = {0};
    uint64_t hb0 = 0, pulses0 = 0;
    if (bench_sim_slice(b, first, n, ep, b->slots) == 0) {
        for (;;) {
            bench_sim_timers(b, assay_now_us());
            while (bench_sim_process(b))
                bench_sim_timers(b, assay_now_us());
            struct pollfd pfd[1 + MAX_GROUPS];
            bool dirty = false;
            pfd[0] = (struct pollfd){ctl, POLLIN, 0};
            int nfd = 1 + bench_sim_pollfds(b, pfd + 1, &dirty);
            int64_t left = (b->sim_next_us - assay_now_us()) / 1000;
            if (dirty)
                left = 0;
            if (poll(pfd, (nfds_t)nfd, left < 0 ? 0 : (int)(left + 1)) < 0 &&
                errno != EINTR)
                break;
            if (bench_interrupted)
                break;
            bench_sim_polled(b, pfd + 1);
            if (pfd[0].revents) {
                char m;
                if (read(ctl, &m, 1) != 1)
                    break; /* the parent is done with us */
                b->measuring = true;
                b->hb_gap_max_us = 0;
                hb0 = b->sim_heartbeats;
                pulses0 = b->sim_pulses;
            }
        }
    }
    c = (s_counts){.sessions = b->sim_sessions,
                   .dispatched = b->sim_dispatched,
                   .results = b->sim_results,
                   .reregisters = b->sim_reregisters,
                   .redirects = b->sim_redirects,
                   .silent = b->sim_silent,
                   .acks = b->sim_acks,
                   .measured_heartbeats = b->measuring ? b->sim_heartbeats - hb0
                                                       : 0,
                   .measured_pulses = b->measuring ? b->sim_pulses - pulses0
                                                   : 0,
                   .hb_gap_max_us = b->measuring ? b->hb_gap_max_us : 0};
    ssize_t w = write(res, &c, sizeof c);
    (void)w;
    /* Not exit(): the parent's ZeroMQ contexts, copied by fork, must not
     * be torn down from here. */
    _exit(0);
}

int bench_sim_start(s_bench *b, long n, int ep, long slots)
{
    b->slots = slots;
    if (n <= SIM_PER_PROC)
        return bench_sim_slice(b, 0, n, ep, slots);
    if (bench_sim_key_ready(b))
        return -1;
    int nkids = (int)((n - 1) / SIM_PER_PROC);
    b->kids = calloc((size_t)nkids, sizeof *b->kids);
    if (!b->kids)
        return -1;
    fflush(NULL);
    for (int k = 0; k < nkids; k++) {
        long first = (long)(k + 1) * SIM_PER_PROC;
        long count = n - first < SIM_PER_PROC ? n - first : SIM_PER_PROC;
        int ctl[2], res[2];
        if (pipe(ctl) || pipe(res)) {
            bench_fmt(b->fatal, sizeof b->fatal, "pipe: %s",
                      strerror(errno));
            return -1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            bench_fmt(b->fatal, sizeof b->fatal, "fork: %s", strerror(errno));
            return -1;
        }
        if (pid == 0) {
            close(ctl[1]);
            close(res[0]);
            for (int j = 0; j < k; j++) { /* its elder siblings' pipes */
                close(b->kids[j].ctl);
                close(b->kids[j].res);
            }
            s_child(b, first, count, ep, ctl[0], res[1]);
        }
        close(ctl[0]);
        close(res[1]);
        b->kids[b->nkids++] = (struct s_kid){pid, ctl[1], res[0]};
    }
    return bench_sim_slice(b, 0, SIM_PER_PROC, ep, slots);
}

void bench_sim_measure(s_bench *b)
{
    for (int k = 0; k < b->nkids; k++)
        if (b->kids[k].ctl >= 0 && write(b->kids[k].ctl, "m", 1) != 1)
            bench_note("simulated runtimes %d: %s", k, strerror(errno));
}

void bench_sim_collect(s_bench *b)
{
    for (int k = 0; k < b->nkids; k++) {
        struct s_kid *kid = &b->kids[k];
        if (kid->pid <= 0)
            continue;
        close(kid->ctl);
        kid->ctl = -1;
        s_counts c;
        if (read(kid->res, &c, sizeof c) == (ssize_t)sizeof c) {
            b->sim_sessions += c.sessions;
            b->sim_dispatched += c.dispatched;
            b->sim_results += c.results;

            b->sim_reregisters += c.reregisters;
            b->sim_redirects += c.redirects;
            b->sim_silent += c.silent;
            b->sim_acks += c.acks;
            b->sim_heartbeats += c.measured_heartbeats;
            b->sim_pulses += c.measured_pulses;
            if (c.hb_gap_max_us > b->hb_gap_max_us)
                b->hb_gap_max_us = c.hb_gap_max_us;
        }
        close(kid->res);
        waitpid(kid->pid, NULL, 0);
        kid->pid = 0;
    }
}
