/* Adapted from /work/shared/peers/gm_bench.c (gearmand no-op driver): same
 * libgearman use (do_background + W forked workers), plus per-job
 * completion times in shared memory and an open-loop latency phase.
 *
 * Usage: gm_bench PORT N WORKERS MAX_LAT_JOBS
 * Prints raw figures for cdriver.py (which makes the JSON line; the
 * format and the phases are cdriver.h's). A job's completion time is
 * taken when gearman_worker_work() returned success (WORK_COMPLETE sent). */
#define _GNU_SOURCE
#include <libgearman/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdriver.h"

static int port;

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
    double dl = cd_now() + 600;
    while (!*cd_stop && cd_now() < dl) {
        id.idx = -1;
        gearman_return_t r = gearman_worker_work(w);
        if (r == GEARMAN_SUCCESS) {
            cd_done(id.kind, id.idx);
        } else if (r != GEARMAN_TIMEOUT && r != GEARMAN_NO_JOBS &&
                   r != GEARMAN_IO_WAIT) {
            fprintf(stderr, "gm_bench: worker: %s\n", gearman_strerror(r));
            usleep(100000);
        }
    }
    gearman_worker_free(w);
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
    if (cd_start(atol(argv[2]), atol(argv[4]), atol(argv[3]), worker))
        return 1;
    c = gearman_client_create(NULL);
    gearman_client_add_server(c, "127.0.0.1", port);
    int rc = cd_phases(submit, NULL);
    cd_end(NULL);
    gearman_client_free(c);
    return rc ? 1 : 0;
}
