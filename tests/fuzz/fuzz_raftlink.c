/* tests/fuzz/fuzz_raftlink.c - the secured raft link's handshake and
 * frames (consensus/raft/secure.c) as a stranger on the network sends
 * them, over real TCP on 127.0.0.1 through a real libuv loop. The first
 * byte picks a side (bit 0) and whether the input starts after a hello
 * that names member 2's allowed key (bit 1), so that the stream header
 * and frames behind it are reached too:
 *   inbound:  a peer connecting to this member, after raft's own
 *             handshake (as member 2), sends the rest: a hello, a stream
 *             header, frames - anything;
 *   outbound: this member connects to a peer that answers with the
 *             rest: a reply, a refusal ("ASRN", a length, a reason),
 *             anything.
 * Whatever the bytes: no crash, no leak, the connection ends (within the
 * bound) and nothing reaches raft, which no valid key signed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>
#include <zmq.h>

#include <assay.h>

#include "fuzz.h"
#include "secure.h"

/* The module's host table, for its log: silent unless
 * FUZZ_RAFTLINK_LOG is set (to see what an input did). */
__attribute__((visibility("hidden"))) const assay_host_api *assay_host;

static void s_host_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%d] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* How long one input may keep a connection open, in loop turns of 1 ms. */
#define TURNS 400

static struct {
    uv_loop_t loop;
    struct raft_uv_transport t;
    char addr[64];
    int port;
    bool up;
    int accepted; /* streams raft was given: must stay 0 */
    int connect_status;
    bool connect_done;
    uint8_t peer_pk[32]; /* member 2's, allowed */
} g;

static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) ||
        getsockname(fd, (struct sockaddr *)&sa, &len))
        abort();
    close(fd);
    return ntohs(sa.sin_port);
}

static void s_accept(struct raft_uv_transport *t, raft_id id,
                     const char *address, uv_stream_t *stream)
{
    (void)t;
    (void)id;
    (void)address;
    g.accepted++;
    uv_close((uv_handle_t *)stream, (uv_close_cb)raft_free);
}

/* A certificate of `pub` (Z85) for member `name`, as keyring reads. */
static void s_cert(const char *dir, const char *name, const char *pub)
{
    char path[512];
    snprintf(path, sizeof path, "%s/member-%s.key", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fprintf(f, "metadata\n    name = \"%s\"\n    role = \"member\"\ncurve\n"
               "    public-key = \"%s\"\n", name, pub);
    fclose(f);
}

static void s_setup(void)
{
    char dir[] = "/tmp/assay-fuzz-raftlink-XXXXXX";
    char pub[41], sec[41], peer_pub[41], peer_sec[41];
    uint8_t secret[32];
    if (!mkdtemp(dir) || zmq_curve_keypair(pub, sec) ||
        zmq_curve_keypair(peer_pub, peer_sec) || !zmq_z85_decode(secret, sec))
        abort();
    s_cert(dir, "1", pub);
    s_cert(dir, "2", peer_pub);
    if (!zmq_z85_decode(g.peer_pk, peer_pub))
        abort();
    char err[256];
    g.port = s_free_port();
    snprintf(g.addr, sizeof g.addr, "127.0.0.1:%d", g.port);
    if (uv_loop_init(&g.loop) ||
        secure_transport_init(&g.t, &g.loop, secret, dir, err, sizeof err) ||
        g.t.init(&g.t, 1, g.addr) || g.t.listen(&g.t, s_accept)) {
        fprintf(stderr, "fuzz_raftlink: %s\n", err);
        abort();
    }
    static assay_host_api host = {.struct_size = sizeof host,
                                  .log = s_host_log};
    if (getenv("FUZZ_RAFTLINK_LOG"))
        assay_host = &host;
    g.up = true;
}

/* raft's own handshake: protocol 1, id, address length, address. */
static size_t s_raft_handshake(uint8_t out[64], uint64_t id)
{
    uint64_t proto = 1, len = 16;
    memset(out, 0, 64);
    memcpy(out, &proto, 8);
    memcpy(out + 8, &id, 8);
    memcpy(out + 16, &len, 8);
    snprintf((char *)out + 24, 16, "127.0.0.1:1");
    return 24 + len;
}

static int s_tcp_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa))
        abort();
    return fd;
}

/* Writes what fits without blocking the loop, turning it meanwhile. */
static void s_send_all(int fd, const uint8_t *p, size_t n)
{
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (int i = 0; n && i < TURNS; i++) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else {
            uv_run(&g.loop, UV_RUN_NOWAIT);
            poll(NULL, 0, 1);
        }
    }
}

/* Turns the loop until fd's peer has closed, or the bound. */
static void s_until_closed(int fd)
{
    uint8_t sink[4096];
    for (int i = 0; i < TURNS; i++) {
        uv_run(&g.loop, UV_RUN_NOWAIT);
        ssize_t r = read(fd, sink, sizeof sink);
        if (r == 0 || (r < 0 && errno != EAGAIN))
            return;
        if (r < 0)
            poll(NULL, 0, 1);
    }
}

/* "ASR1" and member 2's key: a hello's first 36 bytes. */
static void s_send_named(int fd)
{
    s_send_all(fd, (const uint8_t *)"ASR1", 4);
    s_send_all(fd, g.peer_pk, sizeof g.peer_pk);
}

/* A peer connecting to this member. */
static void s_inbound(const uint8_t *data, size_t size, bool named)
{
    int fd = s_tcp_to(g.port);
    uint8_t hs[64];
    s_send_all(fd, hs, s_raft_handshake(hs, 2));
    if (named)
        s_send_named(fd);
    s_send_all(fd, data, size);
    shutdown(fd, SHUT_WR); /* what was sent is all there is */
    s_until_closed(fd);
    close(fd);
}

static void s_connected(struct raft_uv_connect *req, uv_stream_t *stream,
                        int status)
{
    (void)req;
    g.connect_done = true;
    g.connect_status = status;
    if (stream) {
        g.accepted++;
        uv_close((uv_handle_t *)stream, (uv_close_cb)raft_free);
    }
}

/* This member connecting to a peer that answers with the input. */
static void s_outbound(const uint8_t *data, size_t size, bool named)
{
    int port = s_free_port(), one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) ||
        listen(lfd, 1))
        abort();
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    struct raft_uv_connect req;
    g.connect_done = false;
    if (g.t.connect(&g.t, &req, 2, addr, s_connected)) {
        close(lfd);
        return;
    }
    fcntl(lfd, F_SETFL, O_NONBLOCK);
    int fd = -1;
    for (int i = 0; i < TURNS && fd < 0 && !g.connect_done; i++) {
        uv_run(&g.loop, UV_RUN_NOWAIT);
        if ((fd = accept(lfd, NULL, NULL)) < 0)
            poll(NULL, 0, 1);
    }
    close(lfd);
    if (fd >= 0) {
        fcntl(fd, F_SETFL, O_NONBLOCK);
        if (named)
            s_send_named(fd);
        s_send_all(fd, data, size);
        shutdown(fd, SHUT_WR);
    }
    for (int i = 0; i < TURNS && !g.connect_done; i++) {
        uv_run(&g.loop, UV_RUN_NOWAIT);
        poll(NULL, 0, 1);
    }
    if (fd >= 0)
        close(fd);
    /* A reply no allowed key made never opens the link. */
    if (!g.connect_done) {
        for (int i = 0; i < 10 * TURNS && !g.connect_done; i++) {
            uv_run(&g.loop, UV_RUN_NOWAIT);
            poll(NULL, 0, 1);
        }
    }
    if (!g.connect_done)
        abort(); /* the handshake's deadline bounds it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g.up)
        s_setup();
    if (!size)
        return 0;
    if (data[0] & 1)
        s_outbound(data + 1, size - 1, data[0] & 2);
    else
        s_inbound(data + 1, size - 1, data[0] & 2);
    if (g.accepted)
        abort(); /* raft got a link from bytes no key signed */
    return 0;
}
