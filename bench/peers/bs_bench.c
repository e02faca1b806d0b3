/* bench/peers/bs_bench.c - beanstalkd no-op driver in C with a chosen
 * number of puts in flight, so that beanstalkd is measured at the same
 * client concurrency as Assay (assay-bench's --window): the same protocol
 * use as bs_bench.py (put; W worker processes reserve + delete), but the
 * producer pipelines up to INFLIGHT puts on its connection before it
 * reads an INSERTED (beanstalkd answers a connection's commands in order).
 *
 * Usage: bs_bench PORT N WORKERS MAX_LAT_JOBS INFLIGHT
 * Raw figures for cdriver.py (the format and the phases are cdriver.h's);
 * a job's completion time is taken when its DELETED arrived. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cdriver.h"

/* A connection with a read buffer for line-oriented replies. */
typedef struct {
    int fd;
    char buf[65536];
    size_t len;
} conn;

static int port;
static long K; /* puts in flight at most */

static int conn_open(conn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

static int send_all(conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until buf holds `need` bytes or a line (need = 0); -1 on EOF. */
static int fill(conn *c, size_t need)
{
    while (need ? c->len < need : !memchr(c->buf, '\n', c->len)) {
        if (c->len == sizeof c->buf)
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (r <= 0)
            return -1;
        c->len += (size_t)r;
    }
    return 0;
}

/* Takes one line (without CRLF) into out. */
static int read_line(conn *c, char *out, size_t cap)
{
    if (fill(c, 0))
        return -1;
    char *nl = memchr(c->buf, '\n', c->len);
    size_t n = (size_t)(nl - c->buf) + 1, k = n >= 2 ? n - 2 : 0;
    if (k >= cap)
        k = cap - 1;
    memcpy(out, c->buf, k);
    out[k] = '\0';
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    return 0;
}

static void worker(void)
{
    conn c;
    if (conn_open(&c))
        _exit(1);
    char line[256], cmd[64];
    double dl = cd_now() + 600;
    while (!*cd_stop && cd_now() < dl) {
        if (send_all(&c, "reserve-with-timeout 1\r\n", 24) ||
            read_line(&c, line, sizeof line))
            break;
        unsigned long long id;
        size_t bytes;
        if (sscanf(line, "RESERVED %llu %zu", &id, &bytes) != 2)
            continue; /* TIMED_OUT */
        if (fill(&c, bytes + 2))
            break;
        char body[32];
        size_t n = bytes < sizeof body - 1 ? bytes : sizeof body - 1;
        memcpy(body, c.buf, n);
        body[n] = '\0';
        memmove(c.buf, c.buf + bytes + 2, c.len - bytes - 2);
        c.len -= bytes + 2;
        int m = snprintf(cmd, sizeof cmd, "delete %llu\r\n", id);
        if (send_all(&c, cmd, (size_t)m) || read_line(&c, line, sizeof line) ||
            strcmp(line, "DELETED"))
            break;
        if (body[0] == 'X')
            break;
        cd_done(body[0], atol(body + 2));
    }
    close(c.fd);
}

static conn prod;
static long inflight;

/* Reads one INSERTED; -1 on anything else. */
static int take_reply(void)
{
    char line[128];
    if (read_line(&prod, line, sizeof line) || strncmp(line, "INSERTED", 8)) {
        fprintf(stderr, "bs_bench: put: %s\n", line);
        return -1;
    }
    inflight--;
    return 0;
}

/* Sends a put, then reads replies while INFLIGHT are out (and those that
 * already came, without waiting). */
static int put(char kind, long i)
{
    char cmd[96], body[32];
    int n = snprintf(body, sizeof body, "%c %ld", kind, i);
    int m = snprintf(cmd, sizeof cmd, "put 0 0 60 %d\r\n%s\r\n", n, body);
    if (send_all(&prod, cmd, (size_t)m))
        return -1;
    inflight++;
    while (inflight >= K ||
           (inflight && (memchr(prod.buf, '\n', prod.len) ||
                         poll(&(struct pollfd){prod.fd, POLLIN, 0}, 1, 0) ==
                             1)))
        if (take_reply())
            return -1;
    return 0;
}

static int drain_replies(void)
{
    while (inflight)
        if (take_reply())
            return -1;
    return 0;
}

/* Workers blocked in a reserve take an "X" job and leave. */
static void wake_workers(void)
{
    for (long i = 0; i < cd_w && prod.fd >= 0; i++)
        send_all(&prod, "put 0 0 60 1\r\nX\r\n", 17);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: bs_bench PORT N WORKERS MAX_LAT_JOBS "
                        "INFLIGHT\n");
        return 2;
    }
    port = atoi(argv[1]);
    K = atol(argv[5]);
    if (K < 1)
        K = 1;
    if (cd_start(atol(argv[2]), atol(argv[4]), atol(argv[3]), worker))
        return 1;
    int rc = conn_open(&prod);
    if (!rc)
        rc = cd_phases(put, drain_replies);
    cd_end(wake_workers);
    return rc ? 1 : 0;
}
