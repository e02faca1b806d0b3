/* Adapted from /work/shared/peers/gm_bench.c (gearmand no-op driver): same
 * libgearman use (do_background + W forked workers), plus per-job
 * completion times in shared memory and an open-loop latency phase.
 *
 * Usage: gm_bench PORT N WORKERS MAX_LAT_JOBS
 * Prints raw figures for gm_bench.py (which makes the JSON line):
 *   tput N DONE T0 TLAST TSUBMIT_SECONDS
 * then reads "RATE L" on stdin (L <= MAX_LAT_JOBS; L = 0: no latency
 * phase) and prints
 *   lat L L0 MAX_LAG_SECONDS SEND_SECONDS
 *   then L completion times (0: not completed), one a line.
 * Times are CLOCK_MONOTONIC seconds. A job's completion time is taken when
 * gearman_worker_work() returned success (WORK_COMPLETE sent). */
#define _GNU_SOURCE
#include <libgearman/gearman.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

static int port;
static long N, L, W;
static double *tput, *lat, *warm; /* shared with the workers */
static volatile int *stop;

typedef struct {
    char kind;
    long idx;
} job_id;

static gearman_return_t noop(gearman_job_st *job, void *ctx)
{
    job_id *id = ctx;
    const char *p = gearman_job_workload(job);
    size_t n = gearman_job_workload_size(job);
    char buf[32];
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, p, n);
    buf[n] = 0;
    id->kind = buf[0];
    id->idx = atol(buf + 2);
    return GEARMAN_SUCCESS;
}

static void worker(void)
{
    gearman_worker_st *w = gearman_worker_create(NULL);
    gearman_worker_add_server(w, "127.0.0.1", port);
    job_id id = {0, -1};
    gearman_function_t f = gearman_function_create(noop);
    gearman_worker_define_function(w, "noop", 4, f, 0, &id);
    gearman_worker_set_timeout(w, 200);
    double dl = now() + 600;
    while (!*stop && now() < dl) {
        id.idx = -1;
        gearman_return_t r = gearman_worker_work(w);
        if (r == GEARMAN_SUCCESS) {
            double t = now();
            if (id.kind == 'T' && id.idx >= 0 && id.idx < N)
                tput[id.idx] = t;
            else if (id.kind == 'L' && id.idx >= 0 && id.idx < L)
                lat[id.idx] = t;
            else if (id.kind == 'W' && id.idx >= 0 && id.idx < W)
                warm[id.idx] = t;
        } else if (r != GEARMAN_TIMEOUT && r != GEARMAN_NO_JOBS &&
                   r != GEARMAN_IO_WAIT) {
            fprintf(stderr, "gm_bench: worker: %s\n", gearman_strerror(r));
            usleep(100000);
        }
    }
    gearman_worker_free(w);
}

static long count_done(const double *a, long n)
{
    long d = 0;
    for (long i = 0; i < n; i++)
        d += a[i] != 0;
    return d;
}

static void wait_done(const double *a, long n, double secs)
{
    double dl = now() + secs;
    while (count_done(a, n) < n && now() < dl)
        usleep(20000);
}

static gearman_client_st *c;

static int submit(char kind, long i)
{
    char body[32], h[GEARMAN_JOB_HANDLE_SIZE];
    int n = snprintf(body, sizeof body, "%c %ld", kind, i);
    gearman_return_t r =
        gearman_client_do_background(c, "noop", NULL, body, (size_t)n, h);
    if (r != GEARMAN_SUCCESS) {
        fprintf(stderr, "gm_bench: submit: %s\n", gearman_client_error(c));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: gm_bench PORT N WORKERS MAX_LAT_JOBS\n");
        return 2;
    }
    port = atoi(argv[1]);
    N = atol(argv[2]);
    W = atol(argv[3]);
    L = atol(argv[4]);
    double rate = 0;
    size_t sz = sizeof(double) * (size_t)(N + (L > 0 ? L : 1) + W) + 64;
    char *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    if (m == MAP_FAILED)
        return 1;
    stop = (volatile int *)m;
    tput = (double *)(m + 64);
    lat = tput + N;
    warm = lat + (L > 0 ? L : 1);
    pid_t ps[64];
    if (W > 64)
        W = 64;
    for (long i = 0; i < W; i++) {
        if (!(ps[i] = fork())) {
            worker();
            _exit(0);
        }
    }
    c = gearman_client_create(NULL);
    gearman_client_add_server(c, "127.0.0.1", port);
    int rc = 0;
    for (long i = 0; i < W && !rc; i++) /* warm-up */
        rc = submit('W', i);
    wait_done(warm, W, 15);
    usleep(200000);

    double t0 = now();
    for (long i = 0; i < N && !rc; i++)
        rc = submit('T', i);
    double tsub = now() - t0;
    wait_done(tput, N, 300);
    double last = 0;
    for (long i = 0; i < N; i++)
        if (tput[i] > last)
            last = tput[i];
    printf("tput %ld %ld %.6f %.6f %.6f\n", N, count_done(tput, N), t0, last,
           tsub);
    fflush(stdout);
    long maxl = L;
    if (scanf("%lf %ld", &rate, &L) != 2 || L > maxl || rate <= 0)
        L = 0;

    if (L > 0 && !rc) {
        double l0 = now(), lag = 0;
        for (long i = 0; i < L && !rc; i++) {
            double due = l0 + (double)i / rate, t = now();
            if (due > t)
                sleep_until(due);
            else if (t - due > lag)
                lag = t - due;
            rc = submit('L', i);
        }
        double lsecs = now() - l0;
        wait_done(lat, L, 120);
        printf("lat %ld %.6f %.6f %.6f\n", L, l0, lag, lsecs);
        for (long i = 0; i < L; i++)
            printf("%.6f\n", lat[i]);
    }
    fflush(stdout);
    *stop = 1;
    for (long i = 0; i < W; i++)
        waitpid(ps[i], 0, 0);
    gearman_client_free(c);
    return rc ? 1 : 0;
}
