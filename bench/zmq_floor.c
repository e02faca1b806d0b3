/* bench/zmq_floor.c - the latency floor of a job's path on this machine:
 * bare libzmq processes pass one small message along the same hops an
 * Assay job takes, with no job logic at all, at a fixed offered rate.
 *
 *   client -DEALER-> "leader" -ROUTER-> "runtime" -socketpair-> "executor"
 *   executor -> runtime -DEALER-> leader -PUB-> client (SUB)
 *   leader -ROUTER-> client: the submit reply
 *
 * Five processes' wake-ups, as in `assay-bench run --rate R --runtimes 1`,
 * so the two figures taken back to back say how much of Assay's tail is
 * its own and how much is the machine's (docs/benchmarks.md).
 *
 * usage: bench-floor [--rate R] [--jobs N] [--json] */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "base/clock.h" /* header only: bench-floor links no Assay code */

#define PAYLOAD 160 /* about a noop dispatch's size */

static void s_die(const char *what)
{
    fprintf(stderr, "bench-floor: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static void *s_socket(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    int zero = 0;
    if (!s)
        s_die("zmq_socket");
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    return s;
}

static void s_bind(void *s, char *ep, size_t len)
{
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) != 0)
        s_die("bind");
}

/* Echoes every message from the runtime back, as an executor answers. */
static void s_executor(int fd)
{
    char buf[PAYLOAD];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0 || write(fd, buf, (size_t)n) != n)
            _exit(0);
    }
}

/* Passes dispatches to its executor and results back to the leader. */
static void s_runtime(const char *leader_ep)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        _exit(1);
    if (fork() == 0) {
        close(sv[0]);
        s_executor(sv[1]);
    }
    close(sv[1]);
    void *ctx = zmq_ctx_new(), *d = s_socket(ctx, ZMQ_DEALER);
    if (zmq_connect(d, leader_ep) != 0 || zmq_send(d, "R", 1, 0) != 1)
        s_die("runtime connect");
    zmq_pollitem_t it[2] = {{d, 0, ZMQ_POLLIN, 0}, {NULL, sv[0], ZMQ_POLLIN, 0}};
    char buf[PAYLOAD];
    for (;;) {
        if (zmq_poll(it, 2, -1) < 0)
            _exit(0);
        int n;
        while ((n = zmq_recv(d, buf, sizeof buf, ZMQ_DONTWAIT)) > 0)
            if (write(sv[0], buf, (size_t)n) != n)
                _exit(1);
        if (it[1].revents) {
            ssize_t m = read(sv[0], buf, sizeof buf);
            if (m <= 0)
                _exit(0);
            zmq_send(d, buf, (size_t)m, 0);
        }
    }
}

/* Replies to each submit, passes it to the runtime, publishes results.
 * Its endpoints go to the parent over `out`: a ZeroMQ context does not
 * survive fork, so each process makes its own. */
static void s_leader(int out)
{
    char eps[3][256];
    void *ctx = zmq_ctx_new();
    void *front = s_socket(ctx, ZMQ_ROUTER), *back = s_socket(ctx, ZMQ_ROUTER),
         *pub = s_socket(ctx, ZMQ_PUB);
    s_bind(front, eps[0], sizeof eps[0]);
    s_bind(back, eps[1], sizeof eps[1]);
    s_bind(pub, eps[2], sizeof eps[2]);
    if (write(out, eps, sizeof eps) != (ssize_t)sizeof eps)
        _exit(1);
    close(out);
    uint8_t client[256], rt[256];
    int client_len = 0, rt_len = 0;
    char buf[PAYLOAD];
    zmq_pollitem_t it[2] = {{front, 0, ZMQ_POLLIN, 0},
                            {back, 0, ZMQ_POLLIN, 0}};
    for (;;) {
        if (zmq_poll(it, 2, -1) < 0)
            _exit(0);
        int n;
        while ((client_len = zmq_recv(front, client, sizeof client,
                                      ZMQ_DONTWAIT)) > 0) {
            n = zmq_recv(front, buf, sizeof buf, 0);
            zmq_send(front, client, (size_t)client_len, ZMQ_SNDMORE);
            zmq_send(front, "ok", 2, 0);
            if (rt_len > 0 && n > 0) {
                zmq_send(back, rt, (size_t)rt_len, ZMQ_SNDMORE);
                zmq_send(back, buf, (size_t)n, 0);
            }
        }
        int len;
        while ((len = zmq_recv(back, rt, sizeof rt, ZMQ_DONTWAIT)) > 0) {
            rt_len = len;
            n = zmq_recv(back, buf, sizeof buf, 0);
            if (n > 1) {
                zmq_send(pub, "job.completed", 13, ZMQ_SNDMORE);
                zmq_send(pub, buf, (size_t)n, 0);
            }
        }
    }
}

static int s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A whole decimal number within [lo, hi] from `text`, or an error naming
 * the option and the text; 0 or 2 (the exit code). */
static int s_number(const char *opt, const char *text, long lo, long hi,
                    long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "bench-floor: %s '%s': a number from %ld to %ld\n",
                opt, text, lo, hi);
        return 2;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    long rate = 1000, jobs = 5000;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (!strcmp(argv[i], "--rate") && i + 1 < argc)
            bad = s_number("--rate", argv[++i], 1, 1000000, &rate);
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
            bad = s_number("--jobs", argv[++i], 100, 10000000, &jobs);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "usage: bench-floor [--rate R] [--jobs N] "
                            "[--json]\n");
            return 2;
        }
        if (bad)
            return bad;
    }
    char eps[3][256]; /* front, back, pub */
    int pv[2];
    if (pipe(pv) != 0)
        return 1;
    pid_t leader = fork();
    if (leader == 0) {
        close(pv[0]);
        s_leader(pv[1]);
    }
    close(pv[1]);
    if (read(pv[0], eps, sizeof eps) != (ssize_t)sizeof eps) {
        fprintf(stderr, "bench-floor: the leader process did not start\n");
        return 1;
    }
    close(pv[0]);
    pid_t runtime = fork();
    if (runtime == 0)
        s_runtime(eps[1]);
    void *ctx = zmq_ctx_new(), *d = s_socket(ctx, ZMQ_DEALER),
         *sub = s_socket(ctx, ZMQ_SUB);
    if (zmq_connect(d, eps[0]) || zmq_connect(sub, eps[2]) ||
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "job.completed", 13))
        s_die("client connect");
    /* Warm up until a message makes the whole round (bounded: 10 s). */
    char buf[PAYLOAD] = {0};
    int warm = 0;
    for (int i = 0; i < 1000 && !warm; i++) {
        int64_t t = -1;
        memcpy(buf, &t, sizeof t);
        zmq_send(d, buf, sizeof buf, 0);
        zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 10) > 0)
            warm = 1;
        while (zmq_recv(sub, buf, sizeof buf, ZMQ_DONTWAIT) >= 0 ||
               zmq_recv(d, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
            ;
    }
    struct pollfd pfd[2] = {{-1, POLLIN, 0}, {-1, POLLIN, 0}};
    size_t fdlen = sizeof pfd[0].fd;
    if (zmq_getsockopt(sub, ZMQ_FD, &pfd[0].fd, &fdlen) ||
        zmq_getsockopt(d, ZMQ_FD, &pfd[1].fd, &fdlen))
        s_die("ZMQ_FD");
    int64_t *lat = calloc((size_t)jobs, sizeof *lat);
    long sent = 0, got = 0;
    int64_t t0 = assay_now_us() + 1000, deadline = t0 + jobs * 1000000 / rate +
                                               30000000;
    while (warm && got < jobs && assay_now_us() < deadline) {
        int64_t now = assay_now_us(), due = t0 + sent * 1000000 / rate;
        if (sent < jobs && now >= due) {
            memcpy(buf, &due, sizeof due);
            zmq_send(d, buf, sizeof buf, 0);
            sent++;
            continue;
        }
        /* Drain (which re-arms ZMQ_FD), then sleep in ppoll until the next
         * send is due, to the microsecond, as assay-bench does: a client
         * that spun instead would lower the floor below what assay-bench
         * can see. */
        while (zmq_recv(d, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
            ; /* submit replies */
        char topic[32];
        int drained = 0;
        while (zmq_recv(sub, topic, sizeof topic, ZMQ_DONTWAIT) >= 0) {
            int64_t v;
            drained = 1;
            if (zmq_recv(sub, buf, sizeof buf, 0) >= (int)sizeof v) {
                memcpy(&v, buf, sizeof v);
                if (v >= 0 && got < jobs)
                    lat[got++] = assay_now_us() - v;
            }
        }
        if (drained)
            continue;
        now = assay_now_us();
        int64_t left = sent < jobs ? due - now : 100000;
        if (left <= 0)
            continue;
        struct timespec ts = {left / 1000000, (left % 1000000) * 1000};
        ppoll(pfd, 2, &ts, NULL);
    }
    kill(leader, SIGKILL);
    kill(runtime, SIGKILL);
    waitpid(leader, NULL, 0);
    waitpid(runtime, NULL, 0);
    if (got < jobs) {
        fprintf(stderr, "bench-floor: %ld of %ld messages came back\n", got,
                jobs);
        return 1;
    }
    qsort(lat, (size_t)got, sizeof *lat, s_cmp);
    double p50 = lat[got / 2] / 1e3, p90 = lat[got * 9 / 10] / 1e3,
           p99 = lat[got * 99 / 100] / 1e3, max = lat[got - 1] / 1e3;
    if (json)
        printf("{\"rate\": %ld, \"jobs\": %ld, \"p50_ms\": %.3f, \"p90_ms\": "
               "%.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
               rate, jobs, p50, p90, p99, max);
    else
        printf("floor (bare libzmq, a job's hops) at %ld/s: p50 %.2f ms, "
               "p90 %.2f ms, p99 %.2f ms, max %.2f ms (%ld samples)\n",
               rate, p50, p90, p99, max, got);
    free(lat);
    return 0;
}
