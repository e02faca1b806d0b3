/* core/cluster/link.h - the core's handle on its transport module: loads
 * assay-transport_NAME.so, opens it, and frames the two protocols spoken
 * over it (docs/protocol.md):
 *
 *   control plane  [""]["MDPC01"][service][body]     (ZeroMQ RFC 7 client)
 *   runtime link   [""]["ASSAYR1"][command][body]
 *
 * Bodies are msgpack maps. On a SERVER link every message is preceded by
 * the peer's routing id frame. */
#ifndef ASSAY_CORE_LINK_H
#define ASSAY_CORE_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include <assay/transport.h>
#include <jansson.h>

#include "proto/names.h"


typedef struct assay_link assay_link;

/* Names a module file in `dir`, or when it is empty in the running
 * binary's own modules directory (prefix.h). */
void assay_module_path(const char *dir, const char *kind, const char *name,
                       char *buf, size_t len);

int assay_link_new(const char *modules_dir, const char *transport,
                   const char *identity, size_t max_message,
                   assay_link **out, char *err, size_t errlen);
/* The same, with bounds on what PUBLISH links hold for subscribers
 * (assay_transport_config.publish_buffer, .publish_stall_ms). */
typedef struct assay_link_conf {
    const char *modules_dir, *transport, *identity;
    size_t max_message;
    size_t publish_buffer;    /* bytes; 0: the transport's default */
    int64_t publish_stall_ms; /* 0: the transport's default */
    /* Security (assay_transport_config; cluster/keys.h fills them in):
     * NULL curve_secret = none. */
    const char *curve_secret, *curve_public, *curve_server, *allow_dir;
    const char *publish_roles; /* who may subscribe; NULL: any key */
} assay_link_conf;
int assay_link_new_conf(const assay_link_conf *conf, assay_link **out,
                        char *err, size_t errlen);
void assay_link_destroy(assay_link **self_p);

/* Reads or makes a key pair with the transport module's own key files
 * (assay_transport_ops.key): ASSAY_EUNSUPP when it has none. */
int assay_link_key(const char *modules_dir, const char *transport,
                   assay_transport_key *key, char *err, size_t errlen);

/* Adds a SERVER/CLIENT/PUBLISH/SUBSCRIBE link; returns its id. */
int assay_link_open(assay_link *self, int kind, const char *endpoint,
                    char *err, size_t errlen);
int assay_link_fd(assay_link *self);
/* Lets clients with unknown keys in as guests, or no longer
 * (transport.h's guests(); ASSAY_EUNSUPP from a transport without it). */
int assay_link_guests(assay_link *self, bool allow);
/* Handshakes the transport refused, by why (transport.h's refusals();
 * zeros and ASSAY_EUNSUPP from a transport without it). */
int assay_link_refusals(assay_link *self, assay_transport_refusals *out);
int assay_link_subscribe(assay_link *self, int id, const char *prefix);
/* Whether anyone subscribes to `topic` on PUBLISH link `id` now. */
bool assay_link_wanted(assay_link *self, int id, const char *topic);

/* Sends [route][""][proto][verb][msgpack(body)] (route only when
 * non-NULL; body NULL = no body frame). */
int assay_link_send(assay_link *self, int id, const assay_bytes *route,
                    const char *proto, const char *verb, const json_t *body);
/* The same with a body frame already encoded (or NULL for none). */
int assay_link_send_raw(assay_link *self, int id, const assay_bytes *route,
                        const char *proto, const char *verb,
                        const assay_bytes *body);

/* The same with a plain-text body frame (RFC 8 MMI requests/replies). */
int assay_link_send_text(assay_link *self, int id, const assay_bytes *route,
                         const char *proto, const char *verb,
                         const char *text);

/* Publishes [topic][msgpack(body)] on a PUBLISH link. */
int assay_link_publish(assay_link *self, int id, const char *topic,
                       const json_t *body);
/* The same with a body already encoded (msgpack). */
int assay_link_publish_raw(assay_link *self, int id, const char *topic,
                           const assay_bytes *body);

/* A received message, decoded. */
typedef struct assay_link_msg {
    int id;             /* link it came on */
    assay_bytes route;  /* SERVER links: the sender's routing id */
    char proto[16];     /* "MDPC01", "ASSAYR1"; topic on SUBSCRIBE links */
    char verb[64];      /* service or command */
    json_t *body;       /* decoded map, or NULL when there was none */
    const assay_bytes *raw_body; /* the body frame as received, or NULL */
    /* Who sent it, as its key's certificate says (secure links only;
     * else NULL): valid until the next receive. */
    const char *peer, *role;
} assay_link_msg;

/* Receives one message: 1 = *msg filled (body owned by msg, release with
 * assay_link_msg_fini), 0 = nothing waiting, negative = a malformed
 * message was dropped (err says why; call again for the next). */
int assay_link_recv(assay_link *self, assay_link_msg *msg, char *err,
                    size_t errlen);
void assay_link_msg_fini(assay_link_msg *msg);

#endif
