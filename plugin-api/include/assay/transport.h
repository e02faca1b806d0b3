/* assay/transport.h - vtable of a transport module (kind ASSAY_KIND_TRANSPORT).
 *
 * A transport moves multi-frame messages between the leader (which binds),
 * runtimes and control-plane clients (which connect), and publishes events.
 * The core owns the event loop: a transport exposes one pollable fd per
 * instance that becomes readable when messages may be waiting, and the core
 * then calls recv() until it returns ASSAY_EBUSY (nothing left), which also
 * covers edge-triggered fds such as ZMQ_FD.
 *
 * Versioning: `version` is the vtable version the module fills in; the host
 * reads only fields that version (and struct_size) covers. Fields are only
 * ever appended, under a comment naming the version that added them. */
#ifndef ASSAY_TRANSPORT_H
#define ASSAY_TRANSPORT_H

#include "types.h"

#define ASSAY_TRANSPORT_VERSION 5

/* The role peer() gives a sender whose key was revoked while connected. */
#define ASSAY_ROLE_NAME_REVOKED "revoked"
/* The role peer() gives a key no certificate allows, let in while
 * guests() allows it (version 4); its name is the key itself (Z85). */
#define ASSAY_ROLE_NAME_GUEST "guest"

typedef struct assay_transport assay_transport; /* module-private instance */

/* A message is a list of frames. On a SERVER link, the first frame of every
 * message received is the sender's routing id, and the first frame of every
 * message sent names the peer to send to (as ROUTER sockets do). On a
 * PUBLISH link the first frame is the topic. */
typedef struct assay_frames {
    const assay_bytes *frames;
    size_t count;
} assay_frames;

typedef struct assay_transport_config {
    uint32_t struct_size;
    const char *identity;   /* this node's id, used as routing id */
    size_t max_message;     /* bytes; larger messages are dropped */
    /* Security. With curve_secret_key set (Z85; NULL = no security) every
     * link is encrypted and authenticated: a binding link serves with that
     * key and lets in only clients whose public key has a certificate in
     * allow_dir (below); a connecting link presents curve_public_key and
     * curve_secret_key and trusts only the server holding
     * curve_server_key. A transport that cannot do what is asked refuses
     * the config. zap_domain: NULL for the transport's own. */
    const char *curve_secret_key;
    const char *curve_public_key;
    const char *zap_domain;
    /* PUBLISH links (appended: a transport reads them only where the
     * caller's struct_size has them): bytes of publications the transport may hold unsent for its
     * subscribers, past which publications are dropped; and how long a
     * subscriber may take no data before it is disconnected. 0: the
     * transport's defaults. */
    size_t publish_buffer;
    int64_t publish_stall_ms;
    /* Version 2 (appended): the server's public key for connecting links
     * (Z85), and the directory of allowed clients' certificates for
     * binding ones, re-read when it changes. */
    const char *curve_server_key;
    const char *allow_dir;
    /* Version 3 (appended): the roles (space-separated) whose keys may
     * subscribe on PUBLISH links; a key of another role is refused at its
     * handshake. NULL: any allowed key. */
    const char *publish_roles;
} assay_transport_config;

/* A key pair in a directory of key files (the transport's format): read,
 * or created when absent and `create` is set. */
typedef struct assay_transport_key {
    uint32_t struct_size;
    const char *dir;  /* the key files' directory */
    const char *file; /* FILE.key (public), FILE.key_secret (both halves) */
    /* When created: the certificate's name and role, and whether its
     * public half is also allowed (copied to dir/allowed/). */
    const char *name, *role;
    int create, allow;
    /* Only the public half, from FILE.key (a server's key, for clients):
     * secret_key stays empty. */
    int public_only;
    /* Filled in: the pair, Z85 (40 characters), whether it was made, and
     * the name and role its certificate gives ("" when none). */
    char public_key[41], secret_key[41];
    int created;
    char cert_name[128], cert_role[64];
    /* Version 4 (appended: read only where struct_size has it): with
     * create set, makes FILE.key a certificate of this public key (Z85)
     * with name and role: someone else's key (a cluster's, or one the
     * cluster enrolled), no secret. One holding that key already is kept;
     * one holding another is ASSAY_EEXIST. */
    const char *certify;
} assay_transport_key;

/* Handshakes refused on binding links (transports with security). */
typedef struct assay_transport_refusals {
    uint32_t struct_size; /* sizeof as the caller knows it */
    uint64_t unknown_key; /* no certificate allows the client's key */
    uint64_t subscribe;   /* a key whose role may not subscribe to events */
    uint64_t malformed;   /* not an authentication request it understands */
} assay_transport_refusals;

enum {
    ASSAY_LINK_SERVER = 1,   /* bind; receives from many peers (ROUTER) */
    ASSAY_LINK_CLIENT = 2,   /* connect to one server (DEALER) */
    ASSAY_LINK_PUBLISH = 3,  /* bind; send-only fan-out of events (PUB) */
    ASSAY_LINK_SUBSCRIBE = 4 /* connect to a publisher; receive-only (SUB) */
};

typedef struct assay_transport_ops {
    uint32_t version;     /* ASSAY_TRANSPORT_VERSION the module implements */
    uint32_t struct_size; /* sizeof(assay_transport_ops) in the module */

    /* ---- version 1 --------------------------------------------------- */
    int (*open)(const assay_transport_config *cfg, assay_transport **out,
                char *errbuf, size_t errlen);
    void (*close)(assay_transport **self_p);
    /* Adds a link; returns a link id >= 0 or a negative ASSAY_E*. */
    int (*link)(assay_transport *self, int kind, const char *endpoint);
    int (*fd)(assay_transport *self);
    /* Sends one message on link `link`. Frames are copied before return. */
    int (*send)(assay_transport *self, int link, const assay_frames *msg);
    /* Receives one message; *link says where it came from. The frames are
     * valid until the next recv() or close(). ASSAY_EBUSY = none waiting.
     * On a SERVER link frame 0 is the sender's routing id; on a SUBSCRIBE
     * link frame 0 is the topic. */
    int (*recv)(assay_transport *self, int *link, assay_frames *msg);
    /* Receives only topics starting with `prefix` ("" = all) on a
     * SUBSCRIBE link; may be called several times. */
    int (*subscribe)(assay_transport *self, int link, const char *prefix);
    /* On a PUBLISH link: 1 if some subscriber currently wants `topic`,
     * 0 if none does (the core then need not build the message), negative
     * on error. Optional: a NULL slot means "always". */
    int (*wanted)(assay_transport *self, int link, const char *topic);

    /* ---- version 2 --------------------------------------------------- */
    /* Who sent the message recv() returned last: the name and role its
     * key's certificate gives, NULL when the link has no security; role
     * "revoked" (ASSAY_ROLE_NAME_REVOKED) when the certificate was removed
     * while the sender was connected. Valid until the next recv(). */
    int (*peer)(assay_transport *self, const char **name, const char **role);
    /* Reads (or creates) a key pair; no instance needed. */
    int (*key)(assay_transport_key *key, char *errbuf, size_t errlen);

    /* ---- version 4 --------------------------------------------------- */
    /* While `allow` is set, a client whose key no certificate allows is
     * let in on SERVER links (never PUBLISH ones) as role "guest"
     * (ASSAY_ROLE_NAME_GUEST), named by its key: the core lets guests
     * reach enrolment alone. Off when a transport opens. */
    int (*guests)(assay_transport *self, int allow);

    /* ---- version 5 --------------------------------------------------- */
    /* Handshakes this instance refused since it opened, by why (counts
     * only grow; metrics). Fills the fields out->struct_size covers. */
    int (*refusals)(assay_transport *self, assay_transport_refusals *out);
} assay_transport_ops;

#endif
