/* bench/peers/cdriver.h - what the peer drivers written in C share
 * (gm_bench.c, bs_bench.c): the clock, the completion times in memory
 * shared with the forked workers, and the two phases with the raw output
 * cdriver.py turns into the JSON line:
 *   tput N DONE T0 TLAST TSUBMIT_SECONDS
 * then "RATE L" read on stdin, then
 *   lat L L0 MAX_LAG_SECONDS SEND_SECONDS
 *   and L completion times (0: not completed), one a line.
 * Times are CLOCK_MONOTONIC seconds. Header-only: each driver is built
 * by its script with one gcc command. */
#ifndef ASSAY_BENCH_CDRIVER_H
#define ASSAY_BENCH_CDRIVER_H

#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cd_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void cd_sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

/* Jobs of each kind, and their completion times, shared with workers:
 * 'T' throughput, 'L' latency, 'W' warm-up (one per worker). */
static long cd_n, cd_l, cd_w;
static double *cd_tput, *cd_lat, *cd_warm;
static volatile int *cd_stop;
static pid_t cd_pids[64];

/* Maps the shared arrays and forks w workers (at most 64) that run
 * `worker` until *cd_stop; -1 when it cannot. */
static int cd_start(long n, long l, long w, void (*worker)(void))
{
    cd_n = n;
    cd_l = l;
    cd_w = w = w > 64 ? 64 : w;
    size_t sz = sizeof(double) * (size_t)(n + (l > 0 ? l : 1) + w) + 64;
    char *m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -1;
    cd_stop = (volatile int *)m;
    cd_tput = (double *)(m + 64);
    cd_lat = cd_tput + n;
    cd_warm = cd_lat + (l > 0 ? l : 1);
    for (long i = 0; i < w; i++) {
        if (!(cd_pids[i] = fork())) {
            worker();
            _exit(0);
        }
    }
    return 0;
}

/* Stops the workers: *cd_stop, then `wake` (NULL: none) for those
 * blocked in a receive, then waits for each. */
static void cd_end(void (*wake)(void))
{
    *cd_stop = 1;
    if (wake)
        wake();
    for (long i = 0; i < cd_w; i++)
        waitpid(cd_pids[i], 0, 0);
}

/* A worker records that job KIND IDX completed now. */
static void cd_done(char kind, long idx)
{
    double t = cd_now();
    if (kind == 'T' && idx >= 0 && idx < cd_n)
        cd_tput[idx] = t;
    else if (kind == 'L' && idx >= 0 && idx < cd_l)
        cd_lat[idx] = t;
    else if (kind == 'W' && idx >= 0 && idx < cd_w)
        cd_warm[idx] = t;
}

static long cd_count(const double *a, long n)
{
    long d = 0;
    for (long i = 0; i < n; i++)
        d += a[i] != 0;
    return d;
}

static void cd_wait(const double *a, long n, double secs)
{
    double dl = cd_now() + secs;
    while (cd_count(a, n) < n && cd_now() < dl)
        usleep(20000);
}

/* The driver's submission of job KIND I, and (or NULL) what waits until
 * every submission in flight is acknowledged. 0 or -1. */
typedef int (*cd_submit_fn)(char kind, long i);
typedef int (*cd_flush_fn)(void);

static int cd_flushed(int rc, cd_flush_fn flush)
{
    return rc || !flush ? rc : flush();
}

/* Warm-up, the throughput phase, then the open-loop latency phase at the
 * rate cdriver.py gives; prints the raw figures. 0 or -1. */
static int cd_phases(cd_submit_fn submit, cd_flush_fn flush)
{
    int rc = 0;
    for (long i = 0; i < cd_w && !rc; i++)
        rc = submit('W', i);
    rc = cd_flushed(rc, flush);
    cd_wait(cd_warm, cd_w, 15);
    usleep(200000);

    double t0 = cd_now();
    for (long i = 0; i < cd_n && !rc; i++)
        rc = submit('T', i);
    rc = cd_flushed(rc, flush);
    double tsub = cd_now() - t0;
    cd_wait(cd_tput, cd_n, 300);
    double last = 0;
    for (long i = 0; i < cd_n; i++)
        if (cd_tput[i] > last)
            last = cd_tput[i];
    printf("tput %ld %ld %.6f %.6f %.6f\n", cd_n, cd_count(cd_tput, cd_n), t0,
           last, tsub);
    fflush(stdout);
    double rate = 0;
    long maxl = cd_l;
    if (scanf("%lf %ld", &rate, &cd_l) != 2 || cd_l > maxl || rate <= 0)
        cd_l = 0;

    if (cd_l > 0 && !rc) {
        double l0 = cd_now(), lag = 0;
        for (long i = 0; i < cd_l && !rc; i++) {
            double due = l0 + (double)i / rate, t = cd_now();
            if (due > t)
                cd_sleep_until(due);
            else if (t - due > lag)
                lag = t - due;
            rc = submit('L', i);
        }
        rc = cd_flushed(rc, flush);
        double lsecs = cd_now() - l0;
        cd_wait(cd_lat, cd_l, 120);
        printf("lat %ld %.6f %.6f %.6f\n", cd_l, l0, lag, lsecs);
        for (long i = 0; i < cd_l; i++)
            printf("%.6f\n", cd_lat[i]);
    }
    fflush(stdout);
    return rc;
}

#endif
