/* consensus/raft/secure.c - raft links authenticated and encrypted (see
 * secure.h).
 *
 * After raft's own handshake, which the wrapped TCP transport writes and
 * reads in the clear:
 *
 *   connecting member                       accepting member
 *   "ASR1" static_pk eph_pk           ->
 *                                     <-    "ASR1" static_pk eph_pk header
 *                                           (or "ASRN" len reason; closes)
 *   header frame("assay-raft-ok")     ->
 *                                     <-    frame("assay-raft-ok")
 *
 * Each direction's key is BLAKE2b(kx(static, static) || kx(eph, eph) ||
 * transcript). Only the holders of both static keys derive the first, so
 * a peer that decrypts the confirmation holds the key it named; the
 * ephemeral pair keeps a recorded session unreadable after a key is
 * stolen; the transcript binds the id and address raft's handshake
 * claimed, and both hellos. A frame is a 4-byte big-endian length and a
 * crypto_secretstream_xchacha20poly1305 message: reordered, replayed, cut
 * or altered bytes fail to decrypt and the connection is closed.
 *
 * Everything runs on raft's loop thread. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "secure.h"

#include <assay.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "allowlist.h"

#define MAGIC "ASR1"
#define REFUSAL "ASRN"
#define MAGIC_LEN 4
#define KEY_LEN 32
#define HELLO_LEN (MAGIC_LEN + 2 * KEY_LEN)
#define HEADER_LEN crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define REPLY_LEN (HELLO_LEN + HEADER_LEN)
#define CHUNK 65536 /* most plaintext bytes in one frame */
#define FRAME_MAX (CHUNK + ABYTES)
#define IN_CAP (4 + FRAME_MAX + CHUNK)
#define CONFIRM "assay-raft-ok"
#define HANDSHAKE_MS 10000
#define MAX_HANDSHAKES 64
/* Bytes queued toward one side past which the other is not read. */
#define QUEUE_HIGH ((size_t)8 << 20)
#define RECHECK_MS 1000 /* how often the allow-list is looked at */

typedef crypto_secretstream_xchacha20poly1305_state stream_state;

enum { C_CONNECTING, C_HELLO, C_CONFIRM, C_PROXY };

typedef struct sec sec;

typedef struct conn {
    sec *t;
    struct conn *prev, *next;
    bool client;
    int state;
    raft_id peer;  /* the member the other end is (client) or claims */
    char *address; /* whom we reach (client), or what it claims */
    struct raft_uv_connect ireq; /* the wrapped transport's request */
    struct raft_uv_connect *req; /* raft's, until answered */
    int status;                  /* what req is answered */
    uv_stream_t *tcp;            /* from the wrapped transport */
    uv_pipe_t mine;              /* our end of the socketpair */
    uv_pipe_t *theirs;           /* raft's, until handed over */
    uv_timer_t timer;            /* the handshake's deadline */
    int handles;                 /* open handles */
    bool closing, mine_open, tcp_paused, mine_paused, rx_started;
    uint8_t eph_pk[KEY_LEN], eph_sk[KEY_LEN], peer_key[KEY_LEN];
    uint8_t rx_key[KEY_LEN]; /* server: until the client's header comes */
    uint8_t hello[HELLO_LEN]; /* the client's hello, for the transcript */
    stream_state tx, rx;
    uint8_t *in; /* bytes read from tcp, not yet used */
    size_t in_len;
    uint8_t plain[CHUNK]; /* what raft wrote, read from mine */
} conn;

struct sec {
    struct raft_uv_transport inner; /* raft's TCP transport */
    struct raft_uv_transport *outer;
    uv_loop_t *loop;
    uint8_t pk[KEY_LEN], sk[KEY_LEN];
    raft_id id;
    char *address;
    assay_allowlist *allowed;
    raft_uv_accept_cb accept_cb;
    raft_uv_transport_close_cb close_cb;
    uv_timer_t recheck;
    bool recheck_on, closing, inner_closed;
    conn *conns;
    unsigned nconns, handshakes;
    uint64_t refused;
    time_t refused_said;
};

/* ---- log ---------------------------------------------------------------- */

static void s_log(int level, const char *fmt, ...) ASSAY_PRINTF(2, 3);
static void s_log(int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (!assay_host || !assay_host->log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    assay_host->log(level, "raft link: %s", msg);
}

static void s_allow_warn(const char *msg) { s_log(ASSAY_LOG_WARN, "%s", msg); }

/* A refusal, said at the 1st, 2nd, 4th... and at least once a minute: a
 * flood of bad handshakes cannot flood the log. */
static void s_refused(sec *t, const char *fmt, ...) ASSAY_PRINTF(2, 3);
static void s_refused(sec *t, const char *fmt, ...)
{
    uint64_t n = ++t->refused;
    time_t now = time(NULL);
    char msg[768];
    va_list ap;
    if ((n & (n - 1)) && now - t->refused_said < 60)
        return;
    t->refused_said = now;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s_log(ASSAY_LOG_WARN, "%s (%" PRIu64 " refused so far)", msg, n);
}

/* ---- keys --------------------------------------------------------------- */

static void s_refresh(sec *t);

/* Why `key` may not speak as member `id`, NULL if it may. */
static const char *s_why_not(sec *t, const uint8_t key[KEY_LEN], raft_id id,
                             char *buf, size_t cap)
{
    char z85[ASSAY_Z85_KEY + 1], want[32];
    zmq_z85_encode(z85, key, KEY_LEN);
    s_refresh(t);
    const assay_allowed *a = assay_allowlist_find(t->allowed, z85);
    snprintf(want, sizeof want, "%" PRIu64, (uint64_t)id);
    if (!a)
        snprintf(buf, cap, "key %s is not in the allow-list", z85);
    else if (strcmp(a->role, "member"))
        snprintf(buf, cap, "key %s has role %s, not member", a->name,
                 *a->role ? a->role : "(none)");
    else if (strcmp(a->name, want))
        snprintf(buf, cap, "key of member %s claims to be member %s",
                 a->name, want);
    else
        return NULL;
    return buf;
}

static void s_mix(uint8_t out[KEY_LEN], const uint8_t a[KEY_LEN],
                  const uint8_t b[KEY_LEN], const uint8_t *transcript)
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, KEY_LEN);
    crypto_generichash_update(&h, a, KEY_LEN);
    crypto_generichash_update(&h, b, KEY_LEN);
    crypto_generichash_update(&h, transcript, crypto_generichash_BYTES);
    crypto_generichash_final(&h, out, KEY_LEN);
}

/* Derives both directions' keys from the peer's static and ephemeral keys
 * (the client's hello and the server's `reply` make the transcript) and
 * starts our direction; `header` gets what starts it at the other end. */
static int s_derive(conn *c, const uint8_t peer_eph[KEY_LEN],
                    const uint8_t *reply, uint8_t header[HEADER_LEN],
                    uint8_t rx_key[KEY_LEN])
{
    sec *t = c->t;
    uint8_t rx1[KEY_LEN], tx1[KEY_LEN], rx2[KEY_LEN], tx2[KEY_LEN];
    uint8_t tx_key[KEY_LEN], transcript[crypto_generichash_BYTES], id[8];
    uint64_t cid = c->client ? (uint64_t)t->id : (uint64_t)c->peer;
    const char *caddr = c->client ? t->address : c->address;
    int rc;
    if (c->client)
        rc = crypto_kx_client_session_keys(rx1, tx1, t->pk, t->sk,
                                           c->peer_key) |
             crypto_kx_client_session_keys(rx2, tx2, c->eph_pk, c->eph_sk,
                                           peer_eph);
    else
        rc = crypto_kx_server_session_keys(rx1, tx1, t->pk, t->sk,
                                           c->peer_key) |
             crypto_kx_server_session_keys(rx2, tx2, c->eph_pk, c->eph_sk,
                                           peer_eph);
    if (rc == 0) {
        crypto_generichash_state h;
        for (int i = 0; i < 8; i++)
            id[i] = (uint8_t)(cid >> (8 * i));
        crypto_generichash_init(&h, NULL, 0, sizeof transcript);
        crypto_generichash_update(&h, (const uint8_t *)MAGIC, MAGIC_LEN);
        crypto_generichash_update(&h, id, sizeof id);
        crypto_generichash_update(&h, (const uint8_t *)caddr,
                                  strlen(caddr) + 1);
        crypto_generichash_update(&h, c->hello, HELLO_LEN);
        crypto_generichash_update(&h, reply, HELLO_LEN);
        crypto_generichash_final(&h, transcript, sizeof transcript);
        s_mix(tx_key, tx1, tx2, transcript);
        s_mix(rx_key, rx1, rx2, transcript);
        crypto_secretstream_xchacha20poly1305_init_push(&c->tx, header,
                                                        tx_key);
    }
    sodium_memzero(rx1, sizeof rx1);
    sodium_memzero(tx1, sizeof tx1);
    sodium_memzero(rx2, sizeof rx2);
    sodium_memzero(tx2, sizeof tx2);
    sodium_memzero(tx_key, sizeof tx_key);
    sodium_memzero(c->eph_sk, sizeof c->eph_sk);
    return rc;
}

/* ---- connections -------------------------------------------------------- */

static void s_maybe_closed(sec *t)
{
    if (t->closing && t->inner_closed && !t->nconns && !t->recheck_on &&
        t->close_cb) {
        raft_uv_transport_close_cb cb = t->close_cb;
        t->close_cb = NULL;
        cb(t->outer);
    }
}

/* The last handle of c is closed: answer raft if it still waits, and let
 * c go. */
static void s_done(conn *c)
{
    sec *t = c->t;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    t->nconns--;
    if (c->state != C_PROXY)
        t->handshakes--;
    if (c->req)
        c->req->cb(c->req, NULL, c->status);
    sodium_memzero(&c->tx, sizeof c->tx);
    sodium_memzero(&c->rx, sizeof c->rx);
    sodium_memzero(c->rx_key, sizeof c->rx_key);
    free(c->in);
    free(c->address);
    free(c);
    s_maybe_closed(t);
}

static void s_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (h == (uv_handle_t *)c->tcp || h == (uv_handle_t *)c->theirs)
        raft_free(h);
    if (--c->handles == 0)
        s_done(c);
}

static void s_close_handle(conn *c, uv_handle_t *h)
{
    h->data = c;
    uv_close(h, s_handle_closed);
}

/* Ends c: raft's request, if any, is answered `status` once every handle
 * is closed. */
static void s_close(conn *c, int status)
{
    if (c->closing)
        return;
    c->closing = true;
    c->status = status;
    s_close_handle(c, (uv_handle_t *)&c->timer);
    if (c->tcp)
        s_close_handle(c, (uv_handle_t *)c->tcp);
    if (c->mine_open)
        s_close_handle(c, (uv_handle_t *)&c->mine);
    if (c->theirs)
        s_close_handle(c, (uv_handle_t *)c->theirs);
}

static conn *s_conn_new(sec *t, bool client, raft_id peer,
                        const char *address)
{
    conn *c = calloc(1, sizeof *c);
    if (!c || !(c->address = strdup(address))) {
        free(c);
        return NULL;
    }
    c->t = t;
    c->client = client;
    c->peer = peer;
    c->state = C_CONNECTING;
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    t->nconns++;
    t->handshakes++;
    uv_timer_init(t->loop, &c->timer);
    c->timer.data = c;
    c->handles = 1;
    crypto_kx_keypair(c->eph_pk, c->eph_sk);
    return c;
}

/* ---- writes ------------------------------------------------------------- */

typedef struct wbuf {
    uv_write_t w;
    conn *c;
    bool then_close; /* a refusal: the connection ends once it is sent */
    size_t len;
    uint8_t data[];
} wbuf;

static void s_resume(conn *c);

static void s_written(uv_write_t *w, int status)
{
    wbuf *b = w->data;
    conn *c = b->c;
    bool then_close = b->then_close;
    free(b);
    if (then_close) {
        s_close(c, RAFT_NOCONNECTION);
        return;
    }
    if (status < 0) {
        if (status != UV_ECANCELED)
            s_close(c, RAFT_NOCONNECTION);
        return;
    }
    s_resume(c);
}

static wbuf *s_wbuf(conn *c, size_t len)
{
    wbuf *b = malloc(sizeof *b + len);
    if (b) {
        b->c = c;
        b->then_close = false;
        b->len = len;
        b->w.data = b;
    }
    return b;
}

static int s_write(conn *c, uv_stream_t *to, wbuf *b)
{
    uv_buf_t buf = b ? uv_buf_init((char *)b->data, (unsigned)b->len)
                     : uv_buf_init(NULL, 0);
    if (!b || uv_write(&b->w, to, &buf, 1, s_written)) {
        free(b);
        s_close(c, RAFT_NOCONNECTION);
        return -1;
    }
    return 0;
}

/* A frame of `m` after `pre` (the header, on the client's confirmation). */
static int s_write_frame(conn *c, const uint8_t *pre, size_t prelen,
                         const uint8_t *m, size_t mlen)
{
    size_t clen = mlen + ABYTES;
    wbuf *b = s_wbuf(c, prelen + 4 + clen);
    if (!b)
        return s_write(c, c->tcp, b);
    if (prelen)
        memcpy(b->data, pre, prelen);
    uint8_t *p = b->data + prelen;
    p[0] = (uint8_t)(clen >> 24);
    p[1] = (uint8_t)(clen >> 16);
    p[2] = (uint8_t)(clen >> 8);
    p[3] = (uint8_t)clen;
    crypto_secretstream_xchacha20poly1305_push(&c->tx, p + 4, NULL, m, mlen,
                                               NULL, 0, 0);
    return s_write(c, c->tcp, b);
}

/* ---- the proxy ---------------------------------------------------------- */

static void s_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void s_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void s_mine_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void s_mine_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static size_t s_queued(uv_stream_t *s) { return s->write_queue_size; }

/* Reads again from a side whose bytes were held while the other side's
 * queue drains. */
static void s_resume(conn *c)
{
    if (c->closing)
        return;
    if (c->tcp_paused && s_queued((uv_stream_t *)&c->mine) < QUEUE_HIGH / 4) {
        c->tcp_paused = false;
        uv_read_start(c->tcp, s_tcp_alloc, s_tcp_read);
    }
    if (c->mine_paused && s_queued(c->tcp) < QUEUE_HIGH / 4) {
        c->mine_paused = false;
        uv_read_start((uv_stream_t *)&c->mine, s_mine_alloc, s_mine_read);
    }
}

static void s_mine_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)c->plain, sizeof c->plain);
}

/* Raft wrote: encrypt it toward the peer. */
static void s_mine_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    (void)buf;
    if (n < 0) {
        s_close(c, 0);
        return;
    }
    if (n == 0 || s_write_frame(c, NULL, 0, c->plain, (size_t)n))
        return;
    if (s_queued(c->tcp) > QUEUE_HIGH) {
        c->mine_paused = true;
        uv_read_stop(s);
    }
}

/* Hands raft its end of a new socketpair; ours carries the bytes. */
static int s_hand_over(conn *c)
{
    sec *t = c->t;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    c->theirs = raft_malloc(sizeof *c->theirs);
    if (!c->theirs) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    uv_pipe_init(t->loop, &c->mine, 0);
    uv_pipe_init(t->loop, c->theirs, 0);
    c->mine.data = c->theirs->data = c;
    c->mine_open = true;
    c->handles += 2;
    /* A descriptor no handle took is closed here; the handles close
     * with the connection. */
    if (uv_pipe_open(&c->mine, sv[0])) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (uv_pipe_open(c->theirs, sv[1])) {
        close(sv[1]);
        return -1;
    }
    if (uv_read_start((uv_stream_t *)&c->mine, s_mine_alloc, s_mine_read))
        return -1;
    uv_timer_stop(&c->timer);
    t->handshakes--;
    c->state = C_PROXY;
    uv_stream_t *theirs = (uv_stream_t *)c->theirs;
    c->theirs = NULL; /* raft's now, and raft closes it */
    c->handles--;
    if (c->client) {
        struct raft_uv_connect *req = c->req;
        c->req = NULL;
        req->cb(req, theirs, 0);
    } else {
        t->accept_cb(t->outer, c->peer, c->address, theirs);
    }
    return 0;
}

static void s_consume(conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* The length of the frame at the front of c->in: 1 and its plaintext's
 * length in *len once it is all there, 0 until then, -1 if it is bad or
 * longer than cap. */
static int s_frame_len(conn *c, size_t cap, size_t *len)
{
    if (c->in_len < 4)
        return 0;
    size_t clen = (size_t)c->in[0] << 24 | (size_t)c->in[1] << 16 |
                  (size_t)c->in[2] << 8 | c->in[3];
    if (clen < ABYTES || clen > FRAME_MAX || clen - ABYTES > cap)
        return -1;
    if (c->in_len < 4 + clen)
        return 0;
    *len = clen - ABYTES;
    return 1;
}

/* Decrypts the frame s_frame_len found (of plaintext length len) into
 * out, and drops it from c->in: 0, or -1 if it does not decrypt. */
static int s_frame_take(conn *c, uint8_t *out, size_t len)
{
    unsigned char tag;
    int bad = crypto_secretstream_xchacha20poly1305_pull(
        &c->rx, out, NULL, &tag, c->in + 4, len + ABYTES, NULL, 0);
    s_consume(c, 4 + len + ABYTES);
    return bad ? -1 : 0;
}

/* The handshake's confirmation, in full: 1 (and it is dropped from
 * c->in), 0 until it is all there; anything else proves the peer lacks
 * its key: -1, and c is closed (`status` for raft). */
static int s_confirmed(conn *c, int status)
{
    uint8_t ok[sizeof CONFIRM];
    size_t len;
    int rc = s_frame_len(c, sizeof ok, &len);
    if (rc == 0)
        return 0;
    if (rc < 0 || s_frame_take(c, ok, len) || len != strlen(CONFIRM) ||
        memcmp(ok, CONFIRM, len)) {
        s_refused(c->t, "member %" PRIu64 " at %s does not hold the key it "
                  "presented", (uint64_t)c->peer, c->address);
        s_close(c, status);
        return -1;
    }
    return 1;
}

/* Frames from the peer, decrypted toward raft. */
static void s_proxy_in(conn *c)
{
    size_t len;
    int rc;
    while (!c->closing && (rc = s_frame_len(c, CHUNK, &len)) != 0) {
        wbuf *b = rc > 0 ? s_wbuf(c, len) : NULL;
        if (b && s_frame_take(c, b->data, len)) {
            free(b);
            rc = -1;
        }
        if (rc < 0) {
            s_refused(c->t, "member %" PRIu64 " at %s sent a frame that "
                      "does not decrypt: connection closed",
                      (uint64_t)c->peer, c->address);
            s_close(c, RAFT_NOCONNECTION);
            return;
        }
        if (s_write(c, (uv_stream_t *)&c->mine, b))
            return;
    }
    if (!c->closing && s_queued((uv_stream_t *)&c->mine) > QUEUE_HIGH) {
        c->tcp_paused = true;
        uv_read_stop(c->tcp);
    }
}

/* ---- the handshake ------------------------------------------------------ */

static void s_hello(conn *c, uint8_t out[HELLO_LEN], const uint8_t *eph)
{
    memcpy(out, MAGIC, MAGIC_LEN);
    memcpy(out + MAGIC_LEN, c->t->pk, KEY_LEN);
    memcpy(out + MAGIC_LEN + KEY_LEN, eph, KEY_LEN);
}

/* Server: tells the client why, then closes. */
static void s_refuse(conn *c, const char *why)
{
    size_t n = strlen(why) > 255 ? 255 : strlen(why);
    wbuf *b = s_wbuf(c, MAGIC_LEN + 1 + n);
    s_refused(c->t, "refused member %" PRIu64 " at %s: %s",
              (uint64_t)c->peer, c->address, why);
    if (b) {
        memcpy(b->data, REFUSAL, MAGIC_LEN);
        b->data[MAGIC_LEN] = (uint8_t)n;
        memcpy(b->data + MAGIC_LEN + 1, why, n);
        b->then_close = true; /* a close now would drop what is queued */
    }
    uv_read_stop(c->tcp);
    s_write(c, c->tcp, b);
}

/* A peer whose first bytes are no hello: closed (`status` for raft). */
static bool s_plain(conn *c, int status)
{
    if (!memcmp(c->in, MAGIC, MAGIC_LEN))
        return false;
    s_refused(c->t, "member %" PRIu64 " at %s speaks no secured raft (is it "
              "older, or has it security = none?)",
              (uint64_t)c->peer, c->address);
    s_close(c, status);
    return true;
}

static void s_server_step(conn *c)
{
    char why[512];
    uint8_t reply[REPLY_LEN], rx_key[KEY_LEN];
    if (c->state == C_HELLO) {
        if (c->in_len < HELLO_LEN)
            return;
        if (s_plain(c, 0))
            return;
        memcpy(c->hello, c->in, HELLO_LEN);
        memcpy(c->peer_key, c->in + MAGIC_LEN, KEY_LEN);
        s_consume(c, HELLO_LEN);
        const char *no = s_why_not(c->t, c->peer_key, c->peer, why,
                                   sizeof why);
        if (no) {
            s_refuse(c, no);
            return;
        }
        s_hello(c, reply, c->eph_pk);
        if (s_derive(c, c->hello + MAGIC_LEN + KEY_LEN, reply,
                     reply + HELLO_LEN, rx_key)) {
            s_refuse(c, "bad key");
            return;
        }
        c->state = C_CONFIRM;
        wbuf *b = s_wbuf(c, sizeof reply);
        if (b)
            memcpy(b->data, reply, sizeof reply);
        /* rx starts with the client's header: its key waits until then. */
        memcpy(c->rx_key, rx_key, KEY_LEN);
        sodium_memzero(rx_key, sizeof rx_key);
        if (s_write(c, c->tcp, b))
            return;
    }
    if (c->state == C_CONFIRM) {
        if (!c->rx_started) {
            if (c->in_len < HEADER_LEN)
                return;
            int bad = crypto_secretstream_xchacha20poly1305_init_pull(
                &c->rx, c->in, c->rx_key);
            sodium_memzero(c->rx_key, KEY_LEN);
            c->rx_started = true;
            s_consume(c, HEADER_LEN);
            if (bad) {
                s_close(c, 0);
                return;
            }
        }
        if (s_confirmed(c, 0) <= 0)
            return;
        if (s_write_frame(c, NULL, 0, (const uint8_t *)CONFIRM,
                          strlen(CONFIRM)) ||
            s_hand_over(c)) {
            s_close(c, 0);
            return;
        }
        s_proxy_in(c);
    }
}

static void s_client_step(conn *c)
{
    char why[512];
    uint8_t header[HEADER_LEN], rx_key[KEY_LEN];
    if (c->state == C_HELLO) {
        if (c->in_len >= MAGIC_LEN + 1 && !memcmp(c->in, REFUSAL, MAGIC_LEN)) {
            size_t n = c->in[MAGIC_LEN];
            if (c->in_len < MAGIC_LEN + 1 + n)
                return;
            s_refused(c->t, "member %" PRIu64 " at %s refused this member: "
                      "%.*s", (uint64_t)c->peer, c->address, (int)n,
                      (const char *)c->in + MAGIC_LEN + 1);
            s_close(c, RAFT_NOCONNECTION);
            return;
        }
        if (c->in_len < REPLY_LEN)
            return;
        if (s_plain(c, RAFT_NOCONNECTION))
            return;
        memcpy(c->peer_key, c->in + MAGIC_LEN, KEY_LEN);
        const char *no = s_why_not(c->t, c->peer_key, c->peer, why,
                                   sizeof why);
        if (no) {
            s_refused(c->t, "member %" PRIu64 " at %s is not who it should "
                      "be: %s", (uint64_t)c->peer, c->address, no);
            s_close(c, RAFT_NOCONNECTION);
            return;
        }
        int bad = s_derive(c, c->in + MAGIC_LEN + KEY_LEN, c->in, header,
                           rx_key) ||
                  crypto_secretstream_xchacha20poly1305_init_pull(
                      &c->rx, c->in + HELLO_LEN, rx_key);
        sodium_memzero(rx_key, sizeof rx_key);
        s_consume(c, REPLY_LEN);
        if (bad) {
            s_close(c, RAFT_NOCONNECTION);
            return;
        }
        c->state = C_CONFIRM;
        if (s_write_frame(c, header, sizeof header, (const uint8_t *)CONFIRM,
                          strlen(CONFIRM)))
            return;
    }
    if (c->state == C_CONFIRM) {
        if (s_confirmed(c, RAFT_NOCONNECTION) <= 0)
            return;
        if (s_hand_over(c)) {
            s_close(c, RAFT_NOCONNECTION);
            return;
        }
        s_proxy_in(c);
    }
}

static void s_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    if (!c->in)
        c->in = malloc(IN_CAP);
    *buf = c->in ? uv_buf_init((char *)c->in + c->in_len,
                               (unsigned)(IN_CAP - c->in_len))
                 : uv_buf_init(NULL, 0);
}

static void s_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    (void)buf;
    if (n < 0 || !c->in) {
        s_close(c, RAFT_NOCONNECTION);
        return;
    }
    c->in_len += (size_t)n;
    if (c->state == C_PROXY)
        s_proxy_in(c);
    else if (c->client)
        s_client_step(c);
    else
        s_server_step(c);
    /* A full buffer that holds no whole frame is a bad length. */
    if (!c->closing && c->in_len == IN_CAP)
        s_close(c, RAFT_NOCONNECTION);
}

static void s_deadline(uv_timer_t *timer)
{
    conn *c = timer->data;
    s_refused(c->t, "member %" PRIu64 " at %s did not finish its handshake "
              "within %d s", (uint64_t)c->peer, c->address,
              HANDSHAKE_MS / 1000);
    s_close(c, RAFT_NOCONNECTION);
}

/* Starts the handshake on a connection the wrapped transport opened. */
static void s_start(conn *c, uv_stream_t *tcp)
{
    c->tcp = tcp;
    tcp->data = c;
    c->handles++;
    c->state = C_HELLO;
    uv_timer_start(&c->timer, s_deadline, HANDSHAKE_MS, 0);
    if (c->client) {
        s_hello(c, c->hello, c->eph_pk);
        wbuf *b = s_wbuf(c, HELLO_LEN);
        if (b)
            memcpy(b->data, c->hello, HELLO_LEN);
        if (s_write(c, tcp, b))
            return;
    }
    if (uv_read_start(tcp, s_tcp_alloc, s_tcp_read))
        s_close(c, RAFT_NOCONNECTION);
}

/* ---- the transport's methods -------------------------------------------- */

static int s_init(struct raft_uv_transport *outer, raft_id id,
                  const char *address)
{
    sec *t = outer->impl;
    free(t->address);
    if (!(t->address = strdup(address)))
        return RAFT_NOMEM;
    t->id = id;
    int rv = t->inner.init(&t->inner, id, address);
    if (rv)
        memcpy(outer->errmsg, t->inner.errmsg, sizeof outer->errmsg);
    return rv;
}

static void s_accepted(struct raft_uv_transport *inner, raft_id id,
                       const char *address, uv_stream_t *stream)
{
    sec *t = inner->data;
    conn *c = NULL;
    if (t->closing || t->handshakes >= MAX_HANDSHAKES ||
        !(c = s_conn_new(t, false, id, address))) {
        if (!t->closing)
            s_refused(t, "refused member %" PRIu64 " at %s: %u handshakes "
                      "are in progress", (uint64_t)id, address,
                      t->handshakes);
        uv_close((uv_handle_t *)stream, (uv_close_cb)raft_free);
        return;
    }
    s_start(c, stream);
}

/* Reads the allow-list again if it changed; then links whose key it no
 * longer lets in end, whoever noticed the change. */
static void s_refresh(sec *t)
{
    char why[512];
    if (!assay_allowlist_refresh(t->allowed))
        return;
    for (conn *c = t->conns; c; c = c->next)
        if (c->state >= C_CONFIRM && !c->closing &&
            s_why_not(t, c->peer_key, c->peer, why, sizeof why)) {
            s_log(ASSAY_LOG_WARN, "closing the link with member %" PRIu64
                  " at %s: %s now", (uint64_t)c->peer, c->address, why);
            s_close(c, RAFT_NOCONNECTION);
        }
}

static void s_recheck(uv_timer_t *timer) { s_refresh(timer->data); }

static int s_listen(struct raft_uv_transport *outer, raft_uv_accept_cb cb)
{
    sec *t = outer->impl;
    t->accept_cb = cb;
    int rv = t->inner.listen(&t->inner, s_accepted);
    if (rv) {
        memcpy(outer->errmsg, t->inner.errmsg, sizeof outer->errmsg);
        return rv;
    }
    if (!t->recheck_on) {
        uv_timer_init(t->loop, &t->recheck);
        t->recheck.data = t;
        uv_timer_start(&t->recheck, s_recheck, RECHECK_MS, RECHECK_MS);
        t->recheck_on = true;
    }
    return 0;
}

static void s_connected(struct raft_uv_connect *ireq, uv_stream_t *stream,
                        int status)
{
    conn *c = ireq->data;
    if (status != 0) {
        /* Nothing of c is open but its timer. */
        s_close(c, status);
        return;
    }
    if (c->t->closing) {
        c->tcp = stream;
        stream->data = c;
        c->handles++;
        s_close(c, RAFT_CANCELED);
        return;
    }
    s_start(c, stream);
}

static int s_connect(struct raft_uv_transport *outer,
                     struct raft_uv_connect *req, raft_id id,
                     const char *address, raft_uv_connect_cb cb)
{
    sec *t = outer->impl;
    conn *c = s_conn_new(t, true, id, address);
    if (!c)
        return RAFT_NOMEM;
    req->cb = cb;
    c->req = req;
    c->ireq.data = c;
    int rv = t->inner.connect(&t->inner, &c->ireq, id, address, s_connected);
    if (rv) {
        memcpy(outer->errmsg, t->inner.errmsg, sizeof outer->errmsg);
        c->req = NULL; /* raft hears rv, not a callback */
        s_close(c, rv);
    }
    return rv;
}

static void s_inner_closed(struct raft_uv_transport *inner)
{
    sec *t = inner->data;
    t->inner_closed = true;
    s_maybe_closed(t);
}

static void s_recheck_closed(uv_handle_t *h)
{
    sec *t = h->data;
    t->recheck_on = false;
    s_maybe_closed(t);
}

static void s_transport_close(struct raft_uv_transport *outer,
                              raft_uv_transport_close_cb cb)
{
    sec *t = outer->impl;
    t->closing = true;
    t->close_cb = cb;
    /* A connect still in the wrapped transport's hands is cancelled by
     * its close, and ends through s_connected. */
    for (conn *c = t->conns; c; c = c->next)
        if (c->state != C_CONNECTING)
            s_close(c, RAFT_CANCELED);
    if (t->recheck_on)
        uv_close((uv_handle_t *)&t->recheck, s_recheck_closed);
    t->inner.close(&t->inner, s_inner_closed);
}

int secure_transport_init(struct raft_uv_transport *outer, uv_loop_t *loop,
                          const uint8_t secret[32], const char *allow_dir,
                          char *errbuf, size_t errlen)
{
    sec *t;
    int rv;
    if (sodium_init() < 0) {
        snprintf(errbuf, errlen, "libsodium does not start");
        return RAFT_INVALID;
    }
    if (!(t = calloc(1, sizeof *t)) ||
        !(t->allowed = assay_allowlist_new(allow_dir, s_allow_warn))) {
        free(t);
        snprintf(errbuf, errlen, "out of memory");
        return RAFT_NOMEM;
    }
    if ((rv = raft_uv_tcp_init(&t->inner, loop))) {
        assay_allowlist_destroy(&t->allowed);
        free(t);
        snprintf(errbuf, errlen, "raft transport: %s", raft_strerror(rv));
        return rv;
    }
    memcpy(t->sk, secret, KEY_LEN);
    crypto_scalarmult_base(t->pk, t->sk);
    t->inner.data = t;
    t->outer = outer;
    t->loop = loop;
    memset(outer, 0, sizeof *outer);
    outer->impl = t;
    outer->init = s_init;
    outer->listen = s_listen;
    outer->connect = s_connect;
    outer->close = s_transport_close;
    return 0;
}

void secure_transport_destroy(struct raft_uv_transport *outer)
{
    sec *t = outer->impl;
    if (!t)
        return;
    raft_uv_tcp_close(&t->inner);
    assay_allowlist_destroy(&t->allowed);
    sodium_memzero(t->sk, sizeof t->sk);
    free(t->address);
    free(t);
    outer->impl = NULL;
}
