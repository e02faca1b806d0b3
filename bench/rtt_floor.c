/* bench/rtt_floor.c - bench-rtt [N]: the round trip of one request and its
 * reply on 127.0.0.1, with nothing in between: through libzmq (a DEALER
 * and a ROUTER echo, four frames as an MDP request, each side in its own
 * process and context) and over a bare TCP socket (TCP_NODELAY, one byte
 * echoed). What a client that waits for each reply can do at most, before
 * any job logic: 1 s / round trip (docs/benchmarks.md, "The floor under
 * one request in flight"). Prints the mean of N (5,000) round trips after
 * 500 of warm-up, for each. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define WARM 500

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void zmq_echo(const char *ep)
{
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_ROUTER);
    zmq_bind(s, ep);
    for (;;) {
        zmq_msg_t part[8];
        int n = 0, more = 1;
        while (more && n < 8) {
            zmq_msg_init(&part[n]);
            if (zmq_msg_recv(&part[n], s, 0) < 0)
                _exit(1);
            more = zmq_msg_more(&part[n++]);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_send(&part[i], s, i < n - 1 ? ZMQ_SNDMORE : 0);
    }
}

static double zmq_rtt(const char *ep, long n)
{
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_connect(s, ep);
    char buf[64];
    double t0 = 0;
    for (long i = 0; i < n + WARM; i++) {
        if (i == WARM)
            t0 = now();
        zmq_send(s, "", 0, ZMQ_SNDMORE);
        zmq_send(s, "MDPC01", 6, ZMQ_SNDMORE);
        zmq_send(s, "assay.job", 9, ZMQ_SNDMORE);
        zmq_send(s, "\x81\xa2id\xa1x", 7, 0);
        int more = 1;
        while (more) {
            size_t len = sizeof more;
            zmq_recv(s, buf, sizeof buf, 0);
            zmq_getsockopt(s, ZMQ_RCVMORE, &more, &len);
        }
    }
    double rtt = (now() - t0) / (double)n;
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rtt;
}

static int tcp_listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        listen(fd, 1) || getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

static void tcp_echo(int lfd)
{
    int one = 1, c = accept(lfd, NULL, NULL);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char b;
    while (recv(c, &b, 1, 0) == 1)
        if (send(c, &b, 1, MSG_NOSIGNAL) != 1)
            break;
    _exit(0);
}

static double tcp_rtt(int port, long n)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char b = 'x';
    double t0 = 0;
    for (long i = 0; i < n + WARM; i++) {
        if (i == WARM)
            t0 = now();
        if (send(fd, &b, 1, 0) != 1 || recv(fd, &b, 1, 0) != 1)
            return -1;
    }
    double rtt = (now() - t0) / (double)n;
    close(fd);
    return rtt;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000;
    int port;
    int lfd = n > 0 ? tcp_listener(&port) : -1;
    if (lfd < 0) {
        fprintf(stderr, "usage: bench-rtt [N > 0] (and a free port)\n");
        return 2;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    close(lfd); /* the port, free again, for the ZeroMQ echo */
    pid_t zp = fork();
    if (!zp)
        zmq_echo(ep);
    double z = zmq_rtt(ep, n);
    kill(zp, SIGKILL);
    waitpid(zp, NULL, 0);
    if ((lfd = tcp_listener(&port)) < 0)
        return 1;
    pid_t tp = fork();
    if (!tp)
        tcp_echo(lfd);
    close(lfd);
    double t = tcp_rtt(port, n);
    waitpid(tp, NULL, 0);
    printf("libzmq DEALER->ROUTER echo: %.1f us per round trip\n", z * 1e6);
    printf("bare TCP echo:              %.1f us per round trip\n", t * 1e6);
    return z > 0 && t > 0 ? 0 : 1;
}
