/* transport/zmq/zmq.c - the ZeroMQ transport module ("zmq"): SERVER links
 * are ROUTER sockets, CLIENT links DEALER, PUBLISH links XPUB and SUBSCRIBE
 * links SUB, all in one zmq context per instance. The core never links
 * libzmq; it reaches all of this through the assay_transport_ops vtable.
 *
 * Welcome. A PUBLISH link answers every subscription to the topic
 * "assay.welcome" by publishing [assay.welcome][{}]
 * (docs/protocol.md#knowing-a-subscription-is-live). It is sent only after
 * every subscription message waiting here has been read, and libzmq only
 * delivers it to subscribers whose subscription to it it has read, in
 * order after their others: so a subscriber that receives it knows that
 * what it subscribed to before is known here, and wanted() says so before
 * the core reads its next request. libzmq's own ZMQ_XPUB_WELCOME_MSG
 * cannot promise that: it goes out when the connection is attached,
 * before its subscriptions are read, and as one frame (events are two).
 *
 * Event loop contract. fd() is an epoll fd watching every socket's ZMQ_FD.
 * ZMQ_FD is edge-like: it signals that the socket's state may have changed,
 * not that a message is waiting, and any zmq call on the socket (send, recv,
 * ZMQ_EVENTS) may consume that signal while messages stay queued. So:
 *   - after fd() polls readable, the caller calls recv() until ASSAY_EBUSY;
 *   - after any send(), the caller also drains recv() until ASSAY_EBUSY,
 *     since the send may have swallowed the signal of a message that
 *     arrived meanwhile.
 * recv() works in rounds: a round reads every socket until libzmq says
 * EAGAIN (a PUBLISH socket's subscriptions until ZMQ_EVENTS shows none),
 * a send puts its socket back into the round, and ASSAY_EBUSY ends it.
 * Both EAGAIN and ZMQ_EVENTS process the socket's pending commands, so
 * once a round ended, any new arrival signals the fd again. Whether epoll
 * watches ZMQ_FD level- or edge-triggered makes no difference under this
 * contract. A round costs libzmq's mailbox check once per socket, where
 * asking every socket before each message had cost a poll() and a
 * getpid() per socket per message.
 *
 * Security (CURVE, config curve_secret_key). Binding links serve with
 * the instance's key and set ZMQ_ZAP_DOMAIN with ZMQ_ZAP_ENFORCE_DOMAIN:
 * libzmq then lets a client in only when a ZAP handler (RFC 27) says so,
 * and refuses it when no handler is there at all (without the enforce
 * option a CURVE server with no handler accepts any key). The handler is
 * this instance's own REP socket on inproc://zeromq.zap.01, served in the
 * caller's loop like any link (its ZMQ_FD is in fd()): a client key is
 * allowed when allow_dir holds a certificate for it (keyring/allowlist.h, re-read
 * when the directory changes). Its "name" becomes the
 * connection's User-Id and its "role" a "Role" property, which every
 * message from it carries (peer()). Key files are czmq's zcert format.
 *
 * An instance is not thread-safe (zmq sockets are not): one thread calls
 * all of its functions. */
#define _GNU_SOURCE
#include <assay.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <czmq.h>
#include <zmq.h>

#include "allowlist.h"
#include "keyset.h"
#include "prefixset.h"

#define MAX_LINKS 16
#define MAX_FRAMES 16                  /* per message, routing id included */
#define DEFAULT_MAX_MESSAGE (1u << 20) /* bytes, when the config says 0 */
/* Subscription messages one recv() call reads at most. */
#define SUBS_PER_RECV 1024
#define HWM 100000 /* messages queued per peer and direction; past it
                      * send() says ASSAY_EBUSY */
/* PUBLISH links: bytes of publications libzmq may hold unsent, and how
 * long a subscriber's connection may take no data before it is cut, when
 * the config says 0. */
#define DEFAULT_PUBLISH_BUFFER ((size_t)64 << 20)
#define DEFAULT_PUBLISH_STALL_MS 10000
#define RECONNECT_IVL_MS 100
#define RECONNECT_IVL_MAX_MS 1000
#define MAX_ROUTING_ID 255 /* zmq's limit on a routing id */
#define WELCOME_TOPIC "assay.welcome"
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* a draft option Debian's libzmq takes */
#endif
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define DEFAULT_ZAP_DOMAIN "assay"
/* ZAP requests one recv() answers at most before returning to the caller
 * (a flood of handshakes must not hold the loop). */
#define ZAP_PER_RECV 256
#define Z85_KEY ASSAY_Z85_KEY
/* Key files are small; larger ones are refused unread. */
#define KEY_FILE_MAX ASSAY_KEY_FILE_MAX
/* Keys let in that a revocation is checked against, and keys revoked
 * while connected that are remembered (each the most recent). */
#define ADMITTED_MAX 65536
#define REVOKED_MAX 4096
/* The welcome's body: an empty msgpack map. */
static const uint8_t welcome_body[] = {0x80};

typedef struct zlink {
    void *sock;
    int kind; /* ASSAY_LINK_* */
    char *endpoint; /* for log lines */
    /* PUBLISH links (an XPUB socket): the topic prefixes subscribers want
     * now, as XPUB reports them (first subscribe, last unsubscribe). */
    prefixset prefixes;
    /* Secured PUBLISH links: a monitor of the connections it accepted
     * (their fds), so that a revocation can cut subscribers. */
    void *monitor;
    int *fds;
    size_t nfds, fds_cap;
    char bound[256]; /* the endpoint bound, as libzmq resolved it */
} zlink;

struct assay_transport {
    void *ctx;
    int epfd;
    /* In epfd, and signalled while subscription messages are left unread
     * (drain_subscriptions' bound): ZMQ_FD is edge-triggered and would not
     * wake the caller for them again. */
    int more_fd;
    bool more_written; /* more_fd was signalled since it was last read */
    char *identity; /* NULL = let the server pick a routing id */
    size_t max_message;
    zlink links[MAX_LINKS];
    int nlinks;
    int next; /* where recv() starts looking, for round-robin fairness */
    uint32_t round; /* links still to read in this round (bit per id) */
    /* The message recv() last returned, valid until the next recv(). */
    zmq_msg_t parts[MAX_FRAMES];
    assay_bytes frames[MAX_FRAMES];
    size_t nparts;
    uint64_t dropped; /* oversized or over-fragmented messages discarded */
    bool prefixes_full_said; /* the prefix-set bound was logged */
    /* Publications libzmq holds unsent, in bytes: a frame counts from its
     * send until libzmq frees it (written to every subscriber it was for,
     * or dropped with a connection), in libzmq's I/O thread too. Frames
     * fan out by reference, so this is the backlog of the subscriber
     * furthest behind. */
    size_t publish_buffer;
    int publish_stall_ms;
    size_t held; /* __atomic */
    uint64_t unpublished; /* refused past publish_buffer, this streak */
    /* Security: all of it unset without curve_secret_key. */
    bool secure;
    char secret[Z85_KEY + 1], public_[Z85_KEY + 1], server_key[Z85_KEY + 1];
    char *domain;
    /* PUBLISH links' own ZAP domain, and the roles it lets subscribe
     * (" read submit admin "); NULL: as every link, any allowed key. */
    char *publish_domain, *publish_roles;
    assay_allowlist *allowed; /* binding links need it */
    void *zap;             /* the ZAP handler's REP socket */
    bool guests;           /* unknown keys let in as "guest" (guests()) */
    uint64_t zap_refused;  /* handshakes refused, for the log's pace */
    assay_transport_refusals refusals; /* the same, by why */
    time_t zap_said;       /* when a refusal was last logged */
    keyset admitted;       /* keys let in since start */
    keyset revoked;        /* keys whose certificate went while in */
    time_t allow_checked;  /* when the allow-list was last looked at */
};

/* Whether the caller's config struct (of its struct_size) has `field`. */
#define CFG_COVERS(cfg, field)                                                 \
    ((cfg)->struct_size >=                                                     \
     offsetof(assay_transport_config, field) + sizeof((cfg)->field))

/* link() and the hot path have no error buffer, so their reasons go to the
 * host log, one line naming the endpoint or link. */
static void zlog(int level, const char *fmt, ...) ASSAY_PRINTF(2, 3);
static void zlog(int level, const char *fmt, ...)
{
    if (!assay_host || !assay_host->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    assay_host->log(level, "zmq: %s", msg);
}

static int errf(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
    ASSAY_PRINTF(4, 5);
static int errf(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static zlink *get_link(assay_transport *self, int link)
{
    if (!self || link < 0 || link >= self->nlinks)
        return NULL;
    return &self->links[link];
}

/* Gives back the frames of the previous recv(). */
static void release_parts(assay_transport *self)
{
    for (size_t i = 0; i < self->nparts; i++)
        zmq_msg_close(&self->parts[i]);
    self->nparts = 0;
}

/* ---- the allow-list ------------------------------------------------ */

static int s_dir_private(const char *dir, char *errbuf, size_t errlen);

static void s_allow_warn(const char *msg)
{
    zlog(ASSAY_LOG_WARN, "%s", msg);
}

/* ---- open / close ----------------------------------------------------- */

static void s_close(assay_transport **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_transport *self = *self_p;
    release_parts(self);
    if (self->epfd >= 0)
        close(self->epfd);
    if (self->more_fd >= 0)
        close(self->more_fd);
    for (int i = 0; i < self->nlinks; i++) {
        zmq_close(self->links[i].sock); /* ZMQ_LINGER is 0: nothing waits */
        if (self->links[i].monitor)
            zmq_close(self->links[i].monitor);
        free(self->links[i].fds);
        free(self->links[i].endpoint);
        prefixset_fini(&self->links[i].prefixes);
    }
    keyset_fini(&self->admitted);
    keyset_fini(&self->revoked);
    if (self->zap)
        zmq_close(self->zap);
    if (self->ctx)
        while (zmq_ctx_term(self->ctx) < 0 && errno == EINTR)
            ;
    assay_allowlist_destroy(&self->allowed);
    free(self->domain);
    free(self->publish_domain);
    free(self->publish_roles);
    explicit_bzero(self->secret, sizeof self->secret);
    free(self->identity);
    free(self);
    *self_p = NULL;
}

/* ---- security: keys, ZAP ------------------------------------------- */


/* A security field of the config, NULL where the caller's struct ends
 * before it. */
#define SECURITY(cfg, field) (CFG_COVERS(cfg, field) ? (cfg)->field : NULL)

static bool s_z85_key(const char *txt)
{
    uint8_t bin[32];
    return txt && strlen(txt) == Z85_KEY && zmq_z85_decode(bin, txt);
}

/* Whether `secret`'s public half is `public_` (both Z85). */
static bool s_pair(const char *public_, const char *secret)
{
    char derived[Z85_KEY + 1];
    return zmq_curve_public(derived, secret) == 0 &&
           !strcmp(derived, public_);
}

static int s_check_security(const assay_transport_config *cfg, char *errbuf,
                            size_t errlen)
{
    const char *secret = SECURITY(cfg, curve_secret_key),
               *pub = SECURITY(cfg, curve_public_key),
               *server = SECURITY(cfg, curve_server_key),
               *domain = SECURITY(cfg, zap_domain),
               *allow = SECURITY(cfg, allow_dir);
    if (!secret)
        return pub || server || domain || allow
                   ? errf(errbuf, errlen, ASSAY_EINVAL,
                          "curve_public_key, curve_server_key, zap_domain "
                          "and allow_dir need curve_secret_key")
                   : 0;
    if (!s_z85_key(secret))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "curve_secret_key: not a CURVE key (40 Z85 characters)");
    if (pub && (!s_z85_key(pub) || !s_pair(pub, secret)))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "curve_public_key: not the public half of "
                    "curve_secret_key");
    if (server && !s_z85_key(server))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "curve_server_key: not a CURVE key (40 Z85 characters)");
    if (domain && (!*domain || strlen(domain) > 254))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "zap_domain: 1 to 254 bytes");
    if (allow && (!*allow || strlen(allow) > 4000))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "allow_dir: a directory path of 1 to 4000 bytes");
    if (!assay_host || !assay_host->log) /* ZAP's refusals are logged */
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "security needs the host's log function");
    return 0;
}

static int watch(assay_transport *self, void *sock, const char *endpoint);
static int recv_part(zmq_msg_t *m, void *sock);

/* Keys and, for binding links, the allow-list and the ZAP handler. */
static int s_open_security(assay_transport *self,
                           const assay_transport_config *cfg, char *errbuf,
                           size_t errlen)
{
    const char *secret = cfg->curve_secret_key,
               *server = SECURITY(cfg, curve_server_key),
               *domain = SECURITY(cfg, zap_domain),
               *allow = SECURITY(cfg, allow_dir);
    self->secure = true;
    strcpy(self->secret, secret);
    zmq_curve_public(self->public_, secret);
    if (server)
        strcpy(self->server_key, server);
    if (!(self->domain = strdup(domain ? domain : DEFAULT_ZAP_DOMAIN)))
        return errf(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    const char *roles = SECURITY(cfg, publish_roles);
    if (roles &&
        (asprintf(&self->publish_roles, " %s ", roles) < 0 ||
         asprintf(&self->publish_domain, "%.200s/publish", self->domain) < 0))
        return errf(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    if (!allow)
        return 0;
    int rc = s_dir_private(allow, errbuf, errlen);
    if (rc && rc != ASSAY_ENOENT) /* it may come later */
        return rc;
    if (!(self->allowed = assay_allowlist_new(allow, s_allow_warn)))
        return errf(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    int linger = 0;
    if (!(self->zap = zmq_socket(self->ctx, ZMQ_REP)) ||
        zmq_setsockopt(self->zap, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(self->zap, ZAP_ENDPOINT))
        return errf(errbuf, errlen, ASSAY_EIO, "ZAP handler: %s",
                    zmq_strerror(errno));
    return watch(self, self->zap, ZAP_ENDPOINT);
}

/* A ZAP reply's metadata property (ZMTP's encoding: name length, name,
 * value length big-endian, value); 0 if it does not fit. */
static size_t s_property(const char *name, const char *value, uint8_t *buf,
                         size_t cap)
{
    size_t k = strlen(name), n = strlen(value);
    if (!n || 1 + k + 4 + n > cap)
        return 0;
    buf[0] = (uint8_t)k;
    memcpy(buf + 1, name, k);
    buf[1 + k] = (uint8_t)(n >> 24);
    buf[2 + k] = (uint8_t)(n >> 16);
    buf[3 + k] = (uint8_t)(n >> 8);
    buf[4 + k] = (uint8_t)n;
    memcpy(buf + 5 + k, value, n);
    return 5 + k + n;
}

static void s_cut_subscribers(assay_transport *self);

/* Reads the allow-list again if it changed; a key let in whose
 * certificate is gone is revoked: from then on every message with it is
 * marked (peer() gives role "revoked"), and subscribers are cut (they
 * reconnect, and a revoked key is refused at its handshake). */
static void s_allow_refresh(assay_transport *self)
{
    self->allow_checked = time(NULL);
    if (!assay_allowlist_refresh(self->allowed))
        return;
    size_t gone = 0;
    for (size_t i = 0; i < self->admitted.n;) {
        const char *key = self->admitted.keys[i];
        if (assay_allowlist_find(self->allowed, key)) {
            i++;
            continue;
        }
        zlog(ASSAY_LOG_WARN, "key %s was revoked: its connections are "
             "refused from now on", key);
        keyset_add(&self->revoked, key);
        keyset_remove(&self->admitted, key);
        gone++;
    }
    if (gone)
        s_cut_subscribers(self);
}

static bool s_is(const zmq_msg_t *m, const char *s)
{
    size_t n = strlen(s);
    return zmq_msg_size((zmq_msg_t *)m) == n &&
           !memcmp(zmq_msg_data((zmq_msg_t *)m), s, n);
}

/* A handshake on a PUBLISH link (its own ZAP domain) with a key of a
 * role not in publish_roles. */
static bool s_may_not_subscribe(const assay_transport *self,
                                const zmq_msg_t *domain, const char *role)
{
    char word[80];
    if (!self->publish_domain || !s_is(domain, self->publish_domain))
        return false;
    snprintf(word, sizeof word, " %s ", role);
    return !*role || !strstr(self->publish_roles, word);
}

/* Answers one ZAP request: 200 for a CURVE key with a certificate in
 * allow_dir, 400 otherwise. Returns ASSAY_EBUSY when none was waiting. */
static int s_zap_answer(assay_transport *self)
{
    enum { PARTS = 7 };
    zmq_msg_t part[PARTS];
    size_t n = 0;
    zmq_msg_t scratch; /* parts past PARTS: read and dropped */
    for (bool more = true; more;) {
        zmq_msg_t *m = n < PARTS ? &part[n] : &scratch;
        zmq_msg_init(m);
        if (recv_part(m, self->zap) < 0) {
            int e = errno;
            zmq_msg_close(m);
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&part[i]);
            errno = e;
            return e == EAGAIN && !n ? ASSAY_EBUSY : ASSAY_EIO;
        }
        more = zmq_msg_more(m);
        if (m == &scratch)
            zmq_msg_close(m);
        else
            n++;
    }
    const char *status = "400", *text = "no such key";
    uint64_t *why = &self->refusals.unknown_key; /* counted if refused */
    char key[Z85_KEY + 1] = "", user[256] = "";
    uint8_t meta[400];
    size_t meta_len = 0;
    if (n == PARTS && s_is(&part[0], "1.0") && s_is(&part[5], "CURVE") &&
        zmq_msg_size(&part[6]) == 32) {
        zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
        s_allow_refresh(self);
        const assay_allowed *cert = assay_allowlist_find(self->allowed, key);
        if (cert && s_may_not_subscribe(self, &part[2], cert->role)) {
            text = "its role may not subscribe";
            why = &self->refusals.subscribe;
        } else if (!cert && self->guests && s_is(&part[2], self->domain)) {
            /* Not remembered as admitted: no certificate to revoke. */
            snprintf(user, sizeof user, "%s", key);
            meta_len = s_property("Role", ASSAY_ROLE_NAME_GUEST, meta,
                                  sizeof meta);
            status = "200";
            text = "OK";
        } else if (cert) {
            const char *name = cert->name, *role = cert->role;
            snprintf(user, sizeof user, "%s", name && *name ? name : key);
            /* Always a Role: libzmq takes the first of a name, and the
             * client's own handshake metadata comes after ours - without
             * one here, a client could name its own role. */
            meta_len = s_property("Role", role && *role ? role : "none",
                                  meta, sizeof meta);
            if (!meta_len)
                meta_len = s_property("Role", "none", meta, sizeof meta);
            /* The key itself, so that a revocation finds its messages. */
            meta_len += s_property("Key", key, meta + meta_len,
                                   sizeof meta - meta_len);
            keyset_add(&self->admitted, key);
            keyset_remove(&self->revoked, key);
            status = "200";
            text = "OK";
        }
    } else {
        text = "not a ZAP 1.0 CURVE request";
        why = &self->refusals.malformed;
    }
    uint64_t refused = *status == '2' ? 0 : ++self->zap_refused;
    if (refused)
        ++*why;
    /* At the 1st, 2nd, 4th, 8th... refusal, and once a minute besides: a
     * new client refused after a long flood is not left unsaid. */
    time_t now = time(NULL);
    if (refused && (!(refused & (refused - 1)) || now - self->zap_said >= 60)) {
        self->zap_said = now;
        char from[64] = "?";
        if (n > 3)
            snprintf(from, sizeof from, "%.*s",
                     (int)zmq_msg_size(&part[3]),
                     (const char *)zmq_msg_data(&part[3]));
        zlog(ASSAY_LOG_WARN, "refused a client from %s: %s%s%s (%llu "
             "refused so far)", from, text, *key ? ", key " : "", key,
             (unsigned long long)self->zap_refused);
    }
    assay_bytes reply[6] = {
        {(const uint8_t *)"1.0", 3},
        {n > 1 ? zmq_msg_data(&part[1]) : NULL, n > 1 ? zmq_msg_size(&part[1])
                                                      : 0},
        {(const uint8_t *)status, 3},
        {(const uint8_t *)text, strlen(text)},
        {(const uint8_t *)user, strlen(user)},
        {meta, meta_len}};
    int rc = 0;
    for (int i = 0; i < 6 && !rc; i++)
        if (zmq_send(self->zap, reply[i].data, reply[i].len,
                     i < 5 ? ZMQ_SNDMORE : 0) < 0)
            rc = ASSAY_EIO;
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
    return rc;
}

static int signal_more(assay_transport *self);

/* Answers the ZAP requests waiting, at most ZAP_PER_RECV (then more_fd
 * brings the caller back). */
static int s_serve_zap(assay_transport *self)
{
    for (int i = 0; self->zap && i < ZAP_PER_RECV; i++) {
        int rc = s_zap_answer(self);
        if (rc == ASSAY_EBUSY)
            return 0;
        if (rc) {
            zlog(ASSAY_LOG_ERROR, "ZAP handler: %s", zmq_strerror(errno));
            return rc;
        }
    }
    return self->zap ? signal_more(self) : 0;
}

static int s_open(const assay_transport_config *cfg, assay_transport **out,
                  char *errbuf, size_t errlen)
{
    if (!out)
        return errf(errbuf, errlen, ASSAY_EINVAL, "no output pointer");
    *out = NULL;
    if (!cfg)
        return errf(errbuf, errlen, ASSAY_EINVAL, "no transport config");
    if (!CFG_COVERS(cfg, max_message))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "transport config is %u bytes, need at least %zu",
                    (unsigned)cfg->struct_size,
                    offsetof(assay_transport_config, max_message) +
                        sizeof cfg->max_message);
    int rc = s_check_security(cfg, errbuf, errlen);
    if (rc)
        return rc;
    if (cfg->identity && (!*cfg->identity ||
                          strlen(cfg->identity) > MAX_ROUTING_ID))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "identity '%.64s' must be 1 to %d bytes", cfg->identity,
                    MAX_ROUTING_ID);
    /* ZMQ_MAXMSGSIZE is an int64_t. */
    if (cfg->max_message > (uint64_t)INT64_MAX)
        return errf(errbuf, errlen, ASSAY_ERANGE,
                    "max_message %zu too large", cfg->max_message);

    assay_transport *self = calloc(1, sizeof *self);
    if (!self)
        return errf(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    self->epfd = self->more_fd = -1;
    keyset_init(&self->admitted, ADMITTED_MAX);
    keyset_init(&self->revoked, REVOKED_MAX);
    self->max_message = cfg->max_message ? cfg->max_message
                                         : DEFAULT_MAX_MESSAGE;
    self->publish_buffer =
        CFG_COVERS(cfg, publish_buffer) && cfg->publish_buffer
            ? cfg->publish_buffer
            : DEFAULT_PUBLISH_BUFFER;
    self->publish_stall_ms =
        CFG_COVERS(cfg, publish_stall_ms) && cfg->publish_stall_ms > 0 &&
                cfg->publish_stall_ms <= INT32_MAX
            ? (int)cfg->publish_stall_ms
            : DEFAULT_PUBLISH_STALL_MS;
    if (cfg->identity && !(self->identity = strdup(cfg->identity)))
        rc = errf(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    else if (!(self->ctx = zmq_ctx_new()))
        rc = errf(errbuf, errlen, ASSAY_EIO, "zmq_ctx_new: %s",
                  zmq_strerror(errno));
    else if (zmq_ctx_set(self->ctx, ZMQ_IO_THREADS, 1) < 0)
        rc = errf(errbuf, errlen, ASSAY_EIO, "ZMQ_IO_THREADS: %s",
                  zmq_strerror(errno));
    else if ((self->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        rc = errf(errbuf, errlen, ASSAY_EIO, "epoll_create1: %s",
                  strerror(errno));
    else if ((self->more_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
             epoll_ctl(self->epfd, EPOLL_CTL_ADD, self->more_fd,
                       &(struct epoll_event){.events = EPOLLIN}) < 0)
        rc = errf(errbuf, errlen, ASSAY_EIO, "eventfd: %s", strerror(errno));
    if (!rc && SECURITY(cfg, curve_secret_key))
        rc = s_open_security(self, cfg, errbuf, errlen);
    if (rc) {
        s_close(&self);
        return rc;
    }
    *out = self;
    return 0;
}

/* ---- links ------------------------------------------------------------ */

static int set_int(void *sock, int opt, const char *name, int value,
                   const char *endpoint)
{
    if (zmq_setsockopt(sock, opt, &value, sizeof value) == 0)
        return 0;
    zlog(ASSAY_LOG_ERROR, "%s: setting %s: %s", endpoint, name,
         zmq_strerror(errno));
    return ASSAY_EIO;
}

#define SET_INT(sock, opt, value, endpoint)                                    \
    set_int((sock), (opt), #opt, (value), (endpoint))

static int set_str(void *sock, int opt, const char *name, const char *value,
                   const char *endpoint)
{
    if (zmq_setsockopt(sock, opt, value, strlen(value)) == 0)
        return 0;
    zlog(ASSAY_LOG_ERROR, "%s: setting %s: %s", endpoint, name,
         zmq_strerror(errno));
    return ASSAY_EIO;
}

#define SET_STR(sock, opt, value, endpoint)                                    \
    set_str((sock), (opt), #opt, (value), (endpoint))

/* CURVE on a link of a secure instance: a binding one serves, and lets in
 * only whom the ZAP handler allows (and nobody without a handler); a
 * connecting one trusts only curve_server_key. */
static int s_secure(assay_transport *self, void *sock, int kind,
                    const char *endpoint)
{
    if (kind == ASSAY_LINK_SERVER || kind == ASSAY_LINK_PUBLISH) {
        if (!self->allowed) {
            zlog(ASSAY_LOG_ERROR, "%s: a secure binding link needs allow_dir "
                 "(whom to let in)", endpoint);
            return ASSAY_EINVAL;
        }
        int rc = SET_INT(sock, ZMQ_CURVE_SERVER, 1, endpoint);
        if (!rc)
            rc = SET_STR(sock, ZMQ_CURVE_SECRETKEY, self->secret, endpoint);
        if (!rc)
            rc = SET_STR(sock, ZMQ_ZAP_DOMAIN,
                         kind == ASSAY_LINK_PUBLISH && self->publish_domain
                             ? self->publish_domain
                             : self->domain,
                         endpoint);
        if (!rc)
            rc = SET_INT(sock, ZMQ_ZAP_ENFORCE_DOMAIN, 1, endpoint);
        return rc;
    }
    if (!self->server_key[0]) {
        zlog(ASSAY_LOG_ERROR, "%s: a secure connecting link needs "
             "curve_server_key (whom to trust)", endpoint);
        return ASSAY_EINVAL;
    }
    int rc = SET_STR(sock, ZMQ_CURVE_SERVERKEY, self->server_key, endpoint);
    if (!rc)
        rc = SET_STR(sock, ZMQ_CURVE_PUBLICKEY, self->public_, endpoint);
    if (!rc)
        rc = SET_STR(sock, ZMQ_CURVE_SECRETKEY, self->secret, endpoint);
    return rc;
}

/* Applies the options of a link kind; all of them must precede
 * bind/connect to take effect on every connection. */
static int configure(assay_transport *self, void *sock, int kind,
                     const char *endpoint)
{
    /* close() must never wait for unsent messages. */
    int rc = SET_INT(sock, ZMQ_LINGER, 0, endpoint);
    switch (kind) {
    case ASSAY_LINK_SERVER:
        /* Sends to an unknown routing id fail (ASSAY_ENOENT) instead of
         * being dropped silently. */
        if (!rc)
            rc = SET_INT(sock, ZMQ_ROUTER_MANDATORY, 1, endpoint);
        break;
    case ASSAY_LINK_CLIENT:
        /* Queue messages while the server is not (yet) reachable. */
        if (!rc)
            rc = SET_INT(sock, ZMQ_IMMEDIATE, 0, endpoint);
        /* Only an explicit identity: two clients with the same routing id
         * would clash at the server's ROUTER. */
        if (!rc && self->identity &&
            zmq_setsockopt(sock, ZMQ_ROUTING_ID, self->identity,
                           strlen(self->identity))) {
            zlog(ASSAY_LOG_ERROR, "%s: routing id '%s': %s", endpoint,
                 self->identity, zmq_strerror(errno));
            rc = ASSAY_EIO;
        }
        break;
    case ASSAY_LINK_PUBLISH:
        /* Every subscription message, repeats included: a second
         * subscriber to the same welcome topic is welcomed too. */
        if (!rc)
            rc = SET_INT(sock, ZMQ_XPUB_VERBOSE, 1, endpoint);
        /* A subscriber that stops reading closes its TCP window; the
         * kernel then cuts its connection after publish_stall_ms
         * (TCP_USER_TIMEOUT), and libzmq frees what it held for it. */
        if (!rc)
            rc = SET_INT(sock, ZMQ_TCP_MAXRT, self->publish_stall_ms,
                         endpoint);
        break;
    default: /* SUBSCRIBE: nothing arrives until subscribe() */
        break;
    }
    /* Peers are untrusted, on every link a member binds (an XPUB reads
     * its subscribers' subscriptions) and every one it connects: a frame
     * larger than max_message is refused by libzmq's decoder before it is
     * buffered, and the connection dropped (the peer reconnects). A
     * subscriber keeps its connection and drops the publication in recv()
     * instead, so that one oversized event does not cost it the ones that
     * follow. Multi-frame messages whose sum is too large are dropped by
     * recv() too. libzmq 4.3 bounds neither the frames of a message that
     * never ends nor their number (docs/architecture.md, Known risks). */
    int64_t max = (int64_t)self->max_message;
    if (!rc && kind != ASSAY_LINK_SUBSCRIBE &&
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof max)) {
        zlog(ASSAY_LOG_ERROR, "%s: setting ZMQ_MAXMSGSIZE: %s", endpoint,
             zmq_strerror(errno));
        rc = ASSAY_EIO;
    }
    /* Each direction a link uses is bounded; a SUBSCRIBE link sends its
     * subscriptions (past libzmq's default of 1000 waiting, later ones,
     * the welcome among them, would be lost). */
    if (!rc)
        rc = SET_INT(sock, ZMQ_SNDHWM, HWM, endpoint);
    if (!rc && kind != ASSAY_LINK_PUBLISH)
        rc = SET_INT(sock, ZMQ_RCVHWM, HWM, endpoint);
    /* Connecting links retry quickly after a leader restart, backing off
     * to one second. */
    if (!rc && (kind == ASSAY_LINK_CLIENT || kind == ASSAY_LINK_SUBSCRIBE))
        rc = SET_INT(sock, ZMQ_RECONNECT_IVL, RECONNECT_IVL_MS, endpoint);
    if (!rc && (kind == ASSAY_LINK_CLIENT || kind == ASSAY_LINK_SUBSCRIBE))
        rc = SET_INT(sock, ZMQ_RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS,
                     endpoint);
    /* The one place CURVE is applied: no socket of a secure instance runs
     * without it. */
    if (!rc && self->secure)
        rc = s_secure(self, sock, kind, endpoint);
    return rc;
}

/* bind or connect; the reason, naming the endpoint, goes to the log. */
static int attach(void *sock, int kind, const char *endpoint)
{
    bool bind = kind == ASSAY_LINK_SERVER || kind == ASSAY_LINK_PUBLISH;
    if ((bind ? zmq_bind(sock, endpoint) : zmq_connect(sock, endpoint)) == 0)
        return 0;
    int e = errno;
    zlog(ASSAY_LOG_ERROR, "cannot %s '%s': %s", bind ? "bind" : "connect",
         endpoint, zmq_strerror(e));
    switch (e) {
    case EADDRINUSE:
        return ASSAY_EBUSY;
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
    case EADDRNOTAVAIL:
    case ENODEV:
        return ASSAY_EINVAL;
    default:
        return ASSAY_EIO;
    }
}

static int watch(assay_transport *self, void *sock, const char *endpoint)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) < 0) {
        zlog(ASSAY_LOG_ERROR, "%s: ZMQ_FD: %s", endpoint, zmq_strerror(errno));
        return ASSAY_EIO;
    }
    struct epoll_event ev = {.events = EPOLLIN};
    if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        zlog(ASSAY_LOG_ERROR, "%s: epoll_ctl: %s", endpoint, strerror(errno));
        return ASSAY_EIO;
    }
    return 0;
}

/* ---- subscribers' connections ---------------------------------------- */

/* Watches the connections a secured PUBLISH link accepts. */
static int s_monitor_open(assay_transport *self, zlink *l, int id)
{
    char ep[64];
    size_t len = sizeof l->bound;
    snprintf(ep, sizeof ep, "inproc://assay-monitor-%d-%p", id,
             (void *)self);
    int linger = 0;
    if (zmq_getsockopt(l->sock, ZMQ_LAST_ENDPOINT, l->bound, &len) ||
        zmq_socket_monitor(l->sock, ep,
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_CLOSED) ||
        !(l->monitor = zmq_socket(self->ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(l->monitor, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_connect(l->monitor, ep)) {
        zlog(ASSAY_LOG_ERROR, "%s: monitor: %s", l->endpoint,
             zmq_strerror(errno));
        return ASSAY_EIO;
    }
    return watch(self, l->monitor, ep);
}

static void s_fd_forget(zlink *l, int fd)
{
    for (size_t i = 0; i < l->nfds; i++)
        if (l->fds[i] == fd) {
            l->fds[i] = l->fds[--l->nfds];
            return;
        }
}

/* Reads what the monitors said: connections accepted and gone. */
static void s_drain_monitors(assay_transport *self)
{
    for (int i = 0; i < self->nlinks; i++) {
        zlink *l = &self->links[i];
        for (int n = 0; l->monitor && n < ZAP_PER_RECV; n++) {
            zmq_msg_t ev, addr;
            zmq_msg_init(&ev);
            if (zmq_msg_recv(&ev, l->monitor, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&ev);
                break;
            }
            uint16_t event = 0;
            uint32_t value = 0;
            if (zmq_msg_size(&ev) >= 6) {
                memcpy(&event, zmq_msg_data(&ev), 2);
                memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
            }
            bool more = zmq_msg_more(&ev);
            zmq_msg_close(&ev);
            if (more) { /* the endpoint */
                zmq_msg_init(&addr);
                zmq_msg_recv(&addr, l->monitor, ZMQ_DONTWAIT);
                zmq_msg_close(&addr);
            }
            int fd = (int)value;
            if (event == ZMQ_EVENT_ACCEPTED) {
                s_fd_forget(l, fd); /* a number reused */
                if (l->nfds == l->fds_cap) {
                    size_t cap = l->fds_cap ? l->fds_cap * 2 : 16;
                    int *grown = realloc(l->fds, cap * sizeof *grown);
                    if (!grown)
                        continue;
                    l->fds = grown;
                    l->fds_cap = cap;
                }
                l->fds[l->nfds++] = fd;
            } else {
                s_fd_forget(l, fd);
            }
        }
    }
}

/* Whether fd is a connection accepted on `bound` (tcp://HOST:PORT or
 * ipc://PATH): a number libzmq closed may have been reused meanwhile. */
static bool s_accepted_on(int fd, const char *bound)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return false;
    if (!strncmp(bound, "ipc://", 6))
        return ss.ss_family == AF_UNIX &&
               !strcmp(((struct sockaddr_un *)&ss)->sun_path, bound + 6);
    const char *colon = strrchr(bound, ':');
    int port = colon ? atoi(colon + 1) : -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port) == port;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == port;
    return false;
}

/* Cuts every subscriber of the secured PUBLISH links: libzmq's SUB
 * reconnects and subscribes again by itself, through a handshake that a
 * revoked key does not pass. Events are lossy for subscribers anyway
 * (docs/architecture.md); a revocation is rare. */
static void s_cut_subscribers(assay_transport *self)
{
    s_drain_monitors(self);
    for (int i = 0; i < self->nlinks; i++) {
        zlink *l = &self->links[i];
        size_t cut = 0;
        for (size_t k = 0; l->monitor && k < l->nfds; k++)
            if (s_accepted_on(l->fds[k], l->bound) &&
                shutdown(l->fds[k], SHUT_RDWR) == 0)
                cut++;
        if (cut)
            zlog(ASSAY_LOG_INFO, "%s: cut %zu subscriber connection%s after "
                 "a revocation; they reconnect, a revoked key is refused",
                 l->endpoint, cut, cut == 1 ? "" : "s");
    }
}

static int s_link(assay_transport *self, int kind, const char *endpoint)
{
    static const int types[] = {
        [ASSAY_LINK_SERVER] = ZMQ_ROUTER,
        [ASSAY_LINK_CLIENT] = ZMQ_DEALER,
        /* XPUB: a PUB that also tells which topics are subscribed. */
        [ASSAY_LINK_PUBLISH] = ZMQ_XPUB,
        [ASSAY_LINK_SUBSCRIBE] = ZMQ_SUB,
    };
    if (!self || !endpoint || kind < ASSAY_LINK_SERVER ||
        kind > ASSAY_LINK_SUBSCRIBE) {
        zlog(ASSAY_LOG_ERROR, "link: invalid kind %d or endpoint '%s'", kind,
             endpoint ? endpoint : "(null)");
        return ASSAY_EINVAL;
    }
    if (self->nlinks == MAX_LINKS) {
        zlog(ASSAY_LOG_ERROR, "'%s': more than %d links", endpoint,
             MAX_LINKS);
        return ASSAY_ETOOBIG;
    }
    char *copy = strdup(endpoint);
    if (!copy)
        return ASSAY_ENOMEM;
    void *sock = zmq_socket(self->ctx, types[kind]);
    if (!sock) {
        zlog(ASSAY_LOG_ERROR, "'%s': zmq_socket: %s", endpoint,
             zmq_strerror(errno));
        free(copy);
        return ASSAY_EIO;
    }
    int rc = configure(self, sock, kind, endpoint);
    if (!rc)
        rc = attach(sock, kind, endpoint);
    /* Last, so that no failure leaves its fd in the epoll set. */
    if (!rc)
        rc = watch(self, sock, endpoint);
    if (rc) {
        zmq_close(sock);
        free(copy);
        return rc;
    }
    int id = self->nlinks;
    self->links[id] = (zlink){.sock = sock, .kind = kind, .endpoint = copy};
    if (kind == ASSAY_LINK_PUBLISH && self->allowed &&
        (rc = s_monitor_open(self, &self->links[id], id))) {
        if (self->links[id].monitor)
            zmq_close(self->links[id].monitor);
        zmq_close(sock);
        free(copy);
        return rc;
    }
    self->nlinks++;
    return id;
}

static int s_fd(assay_transport *self)
{
    return self ? self->epfd : ASSAY_EINVAL;
}

static int s_subscribe(assay_transport *self, int link, const char *prefix)
{
    zlink *l = get_link(self, link);
    if (!l || !prefix || l->kind != ASSAY_LINK_SUBSCRIBE)
        return ASSAY_EINVAL;
    if (zmq_setsockopt(l->sock, ZMQ_SUBSCRIBE, prefix, strlen(prefix)) < 0) {
        zlog(ASSAY_LOG_ERROR, "%s: subscribe '%s': %s", l->endpoint, prefix,
             zmq_strerror(errno));
        return ASSAY_EIO;
    }
    return 0;
}

/* ---- send / recv ------------------------------------------------------ */

/* A publication frame's bytes, with their length ahead of them for the
 * count libzmq's free callback gives back. */
typedef struct {
    size_t len;
    uint8_t data[];
} held_frame;

static void s_held_free(void *data, void *hint)
{
    held_frame *f = (held_frame *)((uint8_t *)data - offsetof(held_frame,
                                                              data));
    __atomic_fetch_sub(&((assay_transport *)hint)->held, f->len,
                       __ATOMIC_RELAXED);
    free(f);
}

/* One frame into libzmq: copied by it, or for a PUBLISH link copied here
 * and counted until libzmq frees it. */
static int s_send_frame(assay_transport *self, zlink *l, const assay_bytes *b,
                        int flags)
{
    if (l->kind != ASSAY_LINK_PUBLISH)
        return zmq_send(l->sock, b->data, b->len, flags);
    held_frame *f = malloc(sizeof *f + b->len);
    zmq_msg_t m;
    if (!f) {
        errno = ENOMEM;
        return -1;
    }
    f->len = b->len;
    if (b->len)
        memcpy(f->data, b->data, b->len);
    __atomic_fetch_add(&self->held, b->len, __ATOMIC_RELAXED);
    zmq_msg_init_data(&m, f->data, b->len, s_held_free, self);
    int rc = zmq_msg_send(&m, l->sock, flags);
    if (rc < 0) {
        int e = errno;
        zmq_msg_close(&m); /* frees f */
        errno = e;
    }
    return rc;
}

/* A publication past publish_buffer is refused; each streak of refusals
 * is told once as it starts and once as it ends. */
static bool s_over_budget(assay_transport *self, zlink *l,
                          const assay_frames *msg)
{
    size_t len = 0;
    for (size_t i = 0; i < msg->count; i++)
        len += msg->frames[i].len;
    size_t held = __atomic_load_n(&self->held, __ATOMIC_RELAXED);
    if (held + len <= self->publish_buffer) {
        if (self->unpublished)
            zlog(ASSAY_LOG_INFO,
                 "%s: publishing again; %llu publications were dropped",
                 l->endpoint, (unsigned long long)self->unpublished);
        self->unpublished = 0;
        return false;
    }
    if (!self->unpublished++)
        zlog(ASSAY_LOG_WARN,
             "%s: subscribers are %zu bytes behind (the bound is %zu, "
             "events_buffer_mb): dropping publications until they catch up "
             "or stall out (events_stall_ms)",
             l->endpoint, held, self->publish_buffer);
    return true;
}

/* send(); `bounded`: a publication counts against publish_buffer (all
 * but the welcome, which a new subscriber must get however far behind
 * another one is). */
static int send_msg(assay_transport *self, int link, const assay_frames *msg,
                    bool bounded)
{
    zlink *l = get_link(self, link);
    if (!l || !msg || (msg->count && !msg->frames) ||
        l->kind == ASSAY_LINK_SUBSCRIBE)
        return ASSAY_EINVAL;
    /* A ROUTER silently discards a lone routing id: it needs a body. */
    if (msg->count < (l->kind == ASSAY_LINK_SERVER ? 2u : 1u))
        return ASSAY_EINVAL;
    for (size_t i = 0; i < msg->count; i++)
        if (!msg->frames[i].data && msg->frames[i].len)
            return ASSAY_EINVAL;
    if (bounded && l->kind == ASSAY_LINK_PUBLISH &&
        s_over_budget(self, l, msg))
        return ASSAY_EBUSY;
    /* The send may swallow the signal of an arrival: read it again in
     * this round (a round that ended starts again with every link). */
    if (self->round)
        self->round |= 1u << link;
    /* libzmq decides routing and the high-water mark on the first frame;
     * once that one is accepted, the rest of the message is too, so a
     * refusal never leaves half a message queued. */
    for (size_t i = 0; i < msg->count; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < msg->count ? ZMQ_SNDMORE : 0);
        int rc;
        while ((rc = s_send_frame(self, l, &msg->frames[i], flags)) < 0 &&
               errno == EINTR)
            ;
        if (rc >= 0)
            continue;
        switch (errno) {
        case EAGAIN:
            return ASSAY_EBUSY;
        case EHOSTUNREACH:
            return ASSAY_ENOENT;
        default:
            zlog(ASSAY_LOG_ERROR, "%s: send: %s", l->endpoint,
                 zmq_strerror(errno));
            return ASSAY_EIO;
        }
    }
    return 0;
}

static int s_send(assay_transport *self, int link, const assay_frames *msg)
{
    return send_msg(self, link, msg, true);
}

static int recv_part(zmq_msg_t *m, void *sock)
{
    int rc;
    while ((rc = zmq_msg_recv(m, sock, ZMQ_DONTWAIT)) < 0 && errno == EINTR)
        ;
    return rc < 0 ? -1 : 0;
}

enum { DROPPED = 1 };

/* Reads one whole message of link `id` into self->parts. Returns 0,
 * DROPPED when it was too large (all its parts consumed), ASSAY_EBUSY when
 * nothing was waiting after all, or ASSAY_EIO. */
static int read_message(assay_transport *self, int id)
{
    zlink *l = &self->links[id];
    zmq_msg_t scratch; /* parts of a message being dropped */
    size_t total = 0, count = 0;
    bool drop = false;
    for (;;) {
        if (!drop && self->nparts == MAX_FRAMES) {
            drop = true;
            release_parts(self);
        }
        zmq_msg_t *m = drop ? &scratch : &self->parts[self->nparts];
        zmq_msg_init(m);
        /* Parts of a multipart message arrive together, so only the first
         * can find nothing. */
        if (recv_part(m, l->sock) < 0) {
            int e = errno;
            zmq_msg_close(m);
            release_parts(self);
            if (e == EAGAIN && count == 0)
                return ASSAY_EBUSY;
            zlog(ASSAY_LOG_ERROR, "%s: recv: %s", l->endpoint,
                 zmq_strerror(e));
            return ASSAY_EIO;
        }
        count++;
        total += zmq_msg_size(m);
        bool more = zmq_msg_more(m);
        if (drop)
            zmq_msg_close(m);
        else
            self->nparts++;
        if (!drop && total > self->max_message) {
            drop = true;
            release_parts(self);
        }
        if (!more)
            break;
    }
    if (!drop) {
        for (size_t i = 0; i < self->nparts; i++)
            self->frames[i] = (assay_bytes){zmq_msg_data(&self->parts[i]),
                                            zmq_msg_size(&self->parts[i])};
        return 0;
    }
    /* A misbehaving peer can send these in a loop: log at 1, 2, 4, 8...
     * drops, so the count stays visible without flooding the log. */
    self->dropped++;
    if ((self->dropped & (self->dropped - 1)) == 0)
        zlog(ASSAY_LOG_WARN,
             "%s: dropped a message of %zu bytes in %zu frames (limits %zu "
             "bytes, %d frames); %llu dropped so far",
             l->endpoint, total, count, self->max_message, MAX_FRAMES,
             (unsigned long long)self->dropped);
    return DROPPED;
}

/* A subscription message on an XPUB link: 0x01 + prefix subscribes, 0x00 +
 * prefix unsubscribes. Kept in the link's prefix set; never returned. A
 * prefix longer than any topic, or past the set's bound, is not kept: it
 * could only ever match nothing, or cost memory. */
static void note_subscription(assay_transport *self, zlink *l,
                              const assay_bytes *f)
{
    if (f->len < 1 || (f->data[0] != 0 && f->data[0] != 1))
        return;
    size_t n = f->len - 1;
    const char *p = (const char *)f->data + 1;
    if (f->data[0] == 0) { /* last subscriber of it gone */
        prefixset_remove(&l->prefixes, p, n);
        return;
    }
    if (memchr(p, '\0', n))
        return;
    if (prefixset_add(&l->prefixes, p, n) == ASSAY_ERANGE &&
        n <= PREFIXSET_KEY_MAX && !self->prefixes_full_said) {
        zlog(ASSAY_LOG_WARN, "%s: %d distinct subscriptions held: more are "
                             "not recorded",
             l->endpoint, PREFIXSET_MAX);
        self->prefixes_full_said = true;
    }
}

static int s_wanted(assay_transport *self, int link, const char *topic)
{
    zlink *l = get_link(self, link);
    if (!l || !topic || l->kind != ASSAY_LINK_PUBLISH)
        return ASSAY_EINVAL;
    return prefixset_matches(&l->prefixes, topic);
}

/* Whether a subscription message subscribes to the welcome topic. */
static bool asks_welcome(const assay_bytes *f)
{
    size_t n = strlen(WELCOME_TOPIC);
    return f->len == n + 1 && f->data[0] == 1 &&
           !memcmp(f->data + 1, WELCOME_TOPIC, n);
}

/* Reads the subscription messages waiting on PUBLISH link `id` into its
 * prefix set, at most SUBS_PER_RECV of them (a flood of subscriptions
 * waits for later calls rather than hold this one); then, if any of them
 * asked for the welcome, publishes it once (it reaches every one of
 * them). Only then: the subscriptions a subscriber sent before its
 * welcome one (read before it: a connection's messages come in order)
 * must be known when it is welcomed. */
/* Makes fd() readable until the next round: work was left for it. */
static int signal_more(assay_transport *self)
{
    uint64_t one = 1;
    self->more_written = true;
    return write(self->more_fd, &one, sizeof one) < 0 && errno != EAGAIN
               ? ASSAY_EIO
               : 0;
}

static int drain_subscriptions(assay_transport *self, int id)
{
    zlink *l = &self->links[id];
    bool welcome = false;
    int rc = 0;
    for (int n = 0;; n++) {
        if (n == SUBS_PER_RECV) { /* more may wait: come back for them */
            rc = signal_more(self);
            break;
        }
        int events;
        size_t len = sizeof events;
        if (zmq_getsockopt(l->sock, ZMQ_EVENTS, &events, &len) < 0) {
            if (errno == EINTR)
                continue;
            zlog(ASSAY_LOG_ERROR, "%s: ZMQ_EVENTS: %s", l->endpoint,
                 zmq_strerror(errno));
            rc = ASSAY_EIO;
            break;
        }
        if (!(events & ZMQ_POLLIN))
            break;
        rc = read_message(self, id);
        if (rc == DROPPED)
            continue;
        if (rc) {
            rc = rc == ASSAY_EBUSY ? 0 : rc;
            break;
        }
        note_subscription(self, l, &self->frames[0]);
        welcome = welcome || (self->nparts == 1 &&
                              asks_welcome(&self->frames[0]));
        release_parts(self);
    }
    if (welcome) {
        assay_bytes f[2] = {{(const uint8_t *)WELCOME_TOPIC,
                             strlen(WELCOME_TOPIC)},
                            {welcome_body, sizeof welcome_body}};
        int sent = send_msg(self, id, &(assay_frames){f, 2}, false);
        if (sent)
            zlog(ASSAY_LOG_WARN, "%s: welcome not sent (code %d)",
                 l->endpoint, sent);
    }
    return rc;
}

/* Reads the subscriptions of the PUBLISH links still in the round. */
static int drain_round_subscriptions(assay_transport *self)
{
    for (int id = 0; id < self->nlinks; id++) {
        if (!(self->round & (1u << id)) ||
            self->links[id].kind != ASSAY_LINK_PUBLISH)
            continue;
        self->round &= ~(1u << id); /* a welcome sent puts it back */
        int rc = drain_subscriptions(self, id);
        if (rc)
            return rc;
    }
    return 0;
}

static bool publish_in_round(const assay_transport *self)
{
    for (int id = 0; id < self->nlinks; id++)
        if ((self->round & (1u << id)) &&
            self->links[id].kind == ASSAY_LINK_PUBLISH)
            return true;
    return false;
}

static int s_recv(assay_transport *self, int *link, assay_frames *msg)
{
    if (!self || !link || !msg)
        return ASSAY_EINVAL;
    release_parts(self);
    *msg = (assay_frames){NULL, 0};
    int rc;
    if (!self->round) { /* a new round: every link */
        if (self->more_written) {
            uint64_t ignored;
            if (read(self->more_fd, &ignored, sizeof ignored) < 0 &&
                errno != EAGAIN)
                return ASSAY_EIO;
            self->more_written = false;
        }
        self->round = (uint32_t)((1ull << self->nlinks) - 1);
        if ((rc = s_serve_zap(self)))
            return rc;
        s_drain_monitors(self);
        if (self->allowed && time(NULL) != self->allow_checked)
            s_allow_refresh(self);
        /* Subscriptions first, before any message another link returns:
         * a subscriber welcomed before it sent a request (on another
         * connection) has its subscriptions honoured for the events that
         * request causes. Publishing during the round puts a PUBLISH link
         * back; it is read again once the others have nothing. */
        if ((rc = drain_round_subscriptions(self)))
            return rc;
    }
    for (int tried = 0; tried < self->nlinks;) {
        int id = (self->next + tried) % self->nlinks;
        if (!(self->round & (1u << id)) ||
            self->links[id].kind == ASSAY_LINK_PUBLISH) {
            tried++;
            continue;
        }
        rc = read_message(self, id);
        if (rc == DROPPED)
            continue; /* the same socket may hold more */
        if (rc == ASSAY_EBUSY) {
            self->round &= ~(1u << id);
            tried++;
            continue;
        }
        if (rc < 0)
            return rc;
        self->next = (id + 1) % self->nlinks;
        *link = id;
        *msg = (assay_frames){self->frames, self->nparts};
        return 0;
    }
    /* A welcome sent while draining puts its link back once more; past
     * that, more_fd brings the caller back. */
    for (int pass = 0; pass < 2 && publish_in_round(self); pass++)
        if ((rc = drain_round_subscriptions(self)))
            return rc;
    if (publish_in_round(self) && (rc = signal_more(self)))
        return rc;
    /* Handshakes that came during the round: their socket's signal may
     * have been taken by a call on it. */
    if ((rc = s_serve_zap(self)))
        return rc;
    self->round = 0;
    return ASSAY_EBUSY;
}

static int s_peer(assay_transport *self, const char **name,
                  const char **role)
{
    if (!self || !name || !role)
        return ASSAY_EINVAL;
    *name = *role = NULL;
    if (!self->secure || !self->nparts)
        return 0;
    /* Properties ride on every part; a client link's server has none. */
    zmq_msg_t *m = &self->parts[self->nparts - 1];
    *name = zmq_msg_gets(m, "User-Id");
    *role = zmq_msg_gets(m, "Role");
    if (self->revoked.n && keyset_has(&self->revoked, zmq_msg_gets(m, "Key")))
        *role = ASSAY_ROLE_NAME_REVOKED;
    return 0;
}

static int s_guests(assay_transport *self, int allow)
{
    if (!self)
        return ASSAY_EINVAL;
    if (!self->zap)
        return allow ? ASSAY_EUNSUPP : 0;
    if (self->guests != !!allow)
        zlog(ASSAY_LOG_INFO, "%s clients with unknown keys as guests "
             "(enrolment)", allow ? "letting in" : "no longer letting in");
    self->guests = allow;
    return 0;
}

/* ---- key files -------------------------------------------------------- */

/* A path made of parts whose lengths s_key bounded. */
static void s_path(char *buf, size_t cap, const char *fmt, ...)
    ASSAY_PRINTF(3, 4);
static void s_path(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

/* A key file's name: letters, digits, '.', '-', '_', not starting with
 * '.', so it stays inside its directory and counts in an allow-list. */
static bool s_file_name(const char *s)
{
    if (!s || !*s || *s == '.' || strlen(s) > 100)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr(".-_", *s))
            return false;
    return true;
}

/* The key file at path, not followed if a link: ASSAY_ENOENT when there
 * is none, else 0 for a small regular file. */
static int s_key_stat(const char *path, struct stat *st, char *errbuf,
                      size_t errlen)
{
    if (lstat(path, st) < 0)
        return errno == ENOENT
                   ? errf(errbuf, errlen, ASSAY_ENOENT, "%s: no such key",
                          path)
                   : errf(errbuf, errlen, ASSAY_EIO, "%s: %s", path,
                          strerror(errno));
    if (!S_ISREG(st->st_mode) || st->st_size > KEY_FILE_MAX)
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "%s: not a key file (a regular file under %d bytes)",
                    path, KEY_FILE_MAX);
    return 0;
}

/* The certificate's name and role, "" when it gives none. */
static void s_cert_meta(zconfig_t *root, assay_transport_key *k)
{
    snprintf(k->cert_name, sizeof k->cert_name, "%s",
             zconfig_get(root, "/metadata/name", ""));
    snprintf(k->cert_role, sizeof k->cert_role, "%s",
             zconfig_get(root, "/metadata/role", ""));
}

/* The certificate's name and role as the request gave them. */
static void s_cert_meta_set(assay_transport_key *k)
{
    snprintf(k->cert_name, sizeof k->cert_name, "%s", k->name ? k->name : "");
    snprintf(k->cert_role, sizeof k->cert_role, "%s", k->role ? k->role : "");
}

/* Loads dir/FILE.key's pair from its secret file, checked: its own
 * (not group- or world-readable), small, and a real pair. */
static int s_key_load(assay_transport_key *k, const char *path,
                      char *errbuf, size_t errlen)
{
    char secret[PATH_MAX];
    s_path(secret, sizeof secret, "%s_secret", path);
    struct stat st;
    int rc = s_key_stat(secret, &st, errbuf, errlen);
    if (rc)
        return rc;
    if (st.st_mode & 077)
        return errf(errbuf, errlen, ASSAY_EPERM,
                    "%s: others may read it (mode %03o): chmod 600 it, and "
                    "replace the key if anyone else had it",
                    secret, (unsigned)(st.st_mode & 0777));
    if (st.st_uid != geteuid())
        return errf(errbuf, errlen, ASSAY_EPERM,
                    "%s: owned by uid %u, not by this user (%u)", secret,
                    (unsigned)st.st_uid, (unsigned)geteuid());
    zconfig_t *root = assay_zpl_load(secret);
    const char *pub = root ? zconfig_get(root, "/curve/public-key", NULL)
                           : NULL,
               *sec = root ? zconfig_get(root, "/curve/secret-key", NULL)
                           : NULL;
    if (!s_z85_key(pub) || !s_z85_key(sec) || !s_pair(pub, sec))
        rc = errf(errbuf, errlen, ASSAY_EINVAL,
                  "%s: not a CURVE key pair in zcert format", secret);
    else {
        strcpy(k->public_key, pub);
        strcpy(k->secret_key, sec);
        s_cert_meta(root, k);
    }
    if (sec) /* the tree's copy of the secret */
        explicit_bzero((char *)sec, strlen(sec));
    zconfig_destroy(&root);
    return rc;
}

/* Reads the public half from a certificate file. */
static int s_key_public(assay_transport_key *k, const char *path,
                        char *errbuf, size_t errlen)
{
    struct stat st;
    int rc = s_key_stat(path, &st, errbuf, errlen);
    if (rc)
        return rc;
    zconfig_t *root = assay_zpl_load(path);
    const char *pub = root ? zconfig_get(root, "/curve/public-key", NULL)
                           : NULL;
    if (!s_z85_key(pub))
        rc = errf(errbuf, errlen, ASSAY_EINVAL,
                  "%s: not a CURVE certificate in zcert format", path);
    else {
        strcpy(k->public_key, pub);
        s_cert_meta(root, k);
    }
    zconfig_destroy(&root);
    return rc;
}

/* A keys directory only this user may change, as ssh's StrictModes asks
 * of ~/.ssh: else another user could allow a key or swap a certificate. */
static int s_dir_private(const char *dir, char *errbuf, size_t errlen)
{
    struct stat st;
    if (lstat(dir, &st) < 0)
        return errno == ENOENT ? ASSAY_ENOENT
                               : errf(errbuf, errlen, ASSAY_EIO, "%s: %s",
                                      dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return errf(errbuf, errlen, ASSAY_EINVAL, "%s: not a directory",
                    dir);
    if (st.st_uid != geteuid() || (st.st_mode & 022))
        return errf(errbuf, errlen, ASSAY_EPERM,
                    "%s: owned by uid %u with mode %03o: a keys directory "
                    "must be this user's (uid %u) and not writable by "
                    "others (chmod 700)",
                    dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777),
                    (unsigned)geteuid());
    return 0;
}

/* Makes dir (and missing parents, as mkdir -p; new ones 0700). */
static int s_mkdir_private(const char *dir, char *errbuf, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
            return errf(errbuf, errlen, ASSAY_EIO, "%s: %s", path,
                        strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return errf(errbuf, errlen, ASSAY_EIO, "%s: %s", path,
                    strerror(errno));
    return s_dir_private(path, errbuf, errlen);
}

/* Makes dir/FILE.key (and its secret file, 0600) without ever showing a
 * half-written one: both are written under a temporary name, and the
 * secret is linked into place only if no one made it meanwhile (then
 * theirs is loaded). */
static int s_key_create(assay_transport_key *k, const char *path,
                        char *errbuf, size_t errlen)
{
    int rc = s_mkdir_private(k->dir, errbuf, errlen);
    if (rc)
        return rc;
    char tmp[PATH_MAX], tmp_secret[PATH_MAX], secret[PATH_MAX];
    s_path(tmp, sizeof tmp, "%s/.%s.key.%ld.tmp", k->dir, k->file,
             (long)getpid());
    s_path(tmp_secret, sizeof tmp_secret, "%s_secret", tmp);
    s_path(secret, sizeof secret, "%s_secret", path);
    zcert_t *cert = zcert_new();
    if (!cert)
        return errf(errbuf, errlen, ASSAY_EIO, "cannot make a key pair");
    if (k->name)
        zcert_set_meta(cert, "name", "%s", k->name);
    if (k->role)
        zcert_set_meta(cert, "role", "%s", k->role);
    int linked = 0;
    if (zcert_save(cert, tmp) < 0 || chmod(tmp_secret, 0600) < 0 ||
        chmod(tmp, 0644) < 0)
        rc = errf(errbuf, errlen, ASSAY_EIO, "%s: cannot write: %s", tmp,
                  strerror(errno));
    else if ((linked = link(tmp_secret, secret)) < 0 && errno != EEXIST)
        rc = errf(errbuf, errlen, ASSAY_EIO, "%s: %s", secret,
                  strerror(errno));
    else if (linked < 0) { /* another process made it first */
        unlink(tmp);
        unlink(tmp_secret);
        zcert_destroy(&cert);
        return s_key_load(k, path, errbuf, errlen);
    } else if (rename(tmp, path) < 0)
        rc = errf(errbuf, errlen, ASSAY_EIO, "%s: %s", path,
                  strerror(errno));
    unlink(tmp);
    unlink(tmp_secret);
    if (!rc && k->allow) {
        char allowed[PATH_MAX], final[PATH_MAX];
        s_path(allowed, sizeof allowed, "%s/allowed", k->dir);
        s_path(tmp, sizeof tmp, "%s/.%s.key.%ld.tmp", allowed, k->file,
                 (long)getpid());
        s_path(final, sizeof final, "%s/%s.key", allowed, k->file);
        rc = s_mkdir_private(allowed, errbuf, errlen);
        if (!rc && (zcert_save_public(cert, tmp) < 0 ||
                    rename(tmp, final) < 0))
            rc = errf(errbuf, errlen, ASSAY_EIO, "%s: cannot write: %s",
                      final, strerror(errno));
        unlink(tmp);
    }
    if (!rc) {
        strcpy(k->public_key, zcert_public_txt(cert));
        strcpy(k->secret_key, zcert_secret_txt(cert));
        s_cert_meta_set(k);
        k->created = 1;
    }
    zcert_destroy(&cert);
    return rc;
}

/* The certificate at path as asked (0), another (ASSAY_EEXIST: a key,
 * name or role of before), or none (ASSAY_ENOENT). */
static int s_certified_as(assay_transport_key *k, const char *path,
                          char *errbuf, size_t errlen)
{
    int rc = s_key_public(k, path, errbuf, errlen);
    if (rc)
        return rc;
    if (strcmp(k->public_key, k->certify) ||
        strcmp(k->cert_name, k->name ? k->name : "") ||
        strcmp(k->cert_role, k->role ? k->role : ""))
        return errf(errbuf, errlen, ASSAY_EEXIST,
                    "%s: holds another key, name or role", path);
    return 0;
}

/* Writes dir/FILE.key, a certificate of someone else's public key:
 * under a hidden name, then linked into place (never half of one). */
static int s_key_certify(assay_transport_key *k, const char *path,
                         char *errbuf, size_t errlen)
{
    if (!s_z85_key(k->certify))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "%s: '%.60s' is not a CURVE public key (40 characters "
                    "of Z85)", path, k->certify);
    int rc = s_certified_as(k, path, errbuf, errlen);
    if (rc != ASSAY_ENOENT)
        return rc;
    if ((rc = s_mkdir_private(k->dir, errbuf, errlen)))
        return rc;
    uint8_t pub[32];
    zcert_t *cert = zmq_z85_decode(pub, k->certify)
                        ? zcert_new_from(pub, (uint8_t[32]){0})
                        : NULL;
    if (!cert)
        return errf(errbuf, errlen, ASSAY_EIO, "cannot make a certificate");
    if (k->name)
        zcert_set_meta(cert, "name", "%s", k->name);
    if (k->role)
        zcert_set_meta(cert, "role", "%s", k->role);
    char tmp[PATH_MAX];
    s_path(tmp, sizeof tmp, "%s/.%s.key.%ld.tmp", k->dir, k->file,
           (long)getpid());
    unlink(tmp);
    if (zcert_save_public(cert, tmp) < 0 || chmod(tmp, 0644) < 0 ||
        link(tmp, path) < 0)
        rc = errno == EEXIST ? s_certified_as(k, path, errbuf, errlen)
                             : errf(errbuf, errlen, ASSAY_EIO,
                                    "%s: cannot write: %s", path,
                                    strerror(errno));
    else {
        strcpy(k->public_key, k->certify);
        s_cert_meta_set(k);
        k->created = 1;
    }
    unlink(tmp);
    zcert_destroy(&cert);
    return rc;
}

/* The part of a key request a version-3 caller fills in. */
#define KEY_V3_SIZE offsetof(assay_transport_key, certify)

static int s_key(assay_transport_key *k, char *errbuf, size_t errlen)
{
    if (!k || k->struct_size < KEY_V3_SIZE)
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "key request of %u bytes, need %zu",
                    k ? (unsigned)k->struct_size : 0u, KEY_V3_SIZE);
    k->public_key[0] = k->secret_key[0] = '\0';
    k->cert_name[0] = k->cert_role[0] = '\0';
    k->created = 0;
    if (!k->dir || !*k->dir || strlen(k->dir) > 3800 ||
        !s_file_name(k->file))
        return errf(errbuf, errlen, ASSAY_EINVAL,
                    "key '%.100s' in '%.200s': a directory and a file name "
                    "of letters, digits, '.', '-' and '_' are needed",
                    k->file ? k->file : "", k->dir ? k->dir : "");
    int rc = s_dir_private(k->dir, errbuf, errlen);
    if (rc && rc != ASSAY_ENOENT)
        return rc;
    char path[PATH_MAX];
    s_path(path, sizeof path, "%s/%s.key", k->dir, k->file);
    if (k->struct_size >= sizeof *k && k->certify && k->create)
        return s_key_certify(k, path, errbuf, errlen);
    if (k->public_only)
        return s_key_public(k, path, errbuf, errlen);
    rc = s_key_load(k, path, errbuf, errlen);
    struct stat st;
    /* A certificate without its secret is someone else's public key (a
     * client's copy of cluster.key): never replaced by a new pair. A
     * process making the pair meanwhile links the secret first, then
     * the certificate; the secret is given a bounded second. The verdict
     * rests on the look that entered the loop: a certificate that
     * appears after a look found none is another maker's, whose secret
     * s_key_create finds when its own link of one fails. */
    for (int i = 0; rc == ASSAY_ENOENT && k->create && lstat(path, &st) == 0;
         i++) {
        if (i == 50)
            return errf(errbuf, errlen, ASSAY_EEXIST,
                        "%s: a certificate without its secret is here: "
                        "not made anew",
                        path);
        usleep(20 * 1000);
        rc = s_key_load(k, path, errbuf, errlen); /* made meanwhile? */
    }
    if (rc == ASSAY_ENOENT && k->create)
        rc = s_key_create(k, path, errbuf, errlen);
    return rc;
}

/* ---- descriptor ------------------------------------------------------- */

static int s_refusals(assay_transport *self, assay_transport_refusals *out)
{
    /* Only what the caller's struct has room for. */
    size_t n = out->struct_size < sizeof *out ? out->struct_size
                                               : sizeof *out;
    uint32_t size = out->struct_size;
    memcpy(out, &self->refusals, n);
    out->struct_size = size;
    return 0;
}

static const assay_transport_ops ops = {
    .version = ASSAY_TRANSPORT_VERSION,
    .struct_size = sizeof ops,
    .open = s_open,
    .close = s_close,
    .link = s_link,
    .fd = s_fd,
    .send = s_send,
    .recv = s_recv,
    .subscribe = s_subscribe,
    .wanted = s_wanted,
    .peer = s_peer,
    .key = s_key,
    .guests = s_guests,
    .refusals = s_refusals,
};

static const assay_module desc = {
    ASSAY_MODULE_HEADER,
    .kind = ASSAY_KIND_TRANSPORT,
    .name = "zmq",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "ZeroMQ transport: ROUTER/DEALER links and PUB/SUB "
                   "events, CURVE with a ZAP allow-list",
    .transport = &ops,
};

ASSAY_MODULE_DEFINE(desc)
