/* assay/consensus.h - vtable of a consensus module (kind ASSAY_KIND_CONSENSUS).
 *
 * A consensus module is a replicated log. The host owns the state machine:
 * it passes apply/snapshot/restore callbacks in the config, and the module
 * calls apply() on every member, in log order, for every committed command.
 * `none` keeps the log in memory on one node; `raft` replicates it with
 * canonical raft. Commands and snapshots are opaque bytes to the module.
 *
 * Threads: the host calls every op from one thread, and every callback
 * (fsm, commit, member) runs inside process() on that thread, whatever
 * threads the module runs internally.
 *
 * Versioning follows transport.h: append-only, read up to `version`. */
#ifndef ASSAY_CONSENSUS_H
#define ASSAY_CONSENSUS_H

#include "types.h"

#define ASSAY_CONSENSUS_VERSION 4

/* Most voting and standby members a status reports. */
#define ASSAY_CONSENSUS_MAX_MEMBERS 16

typedef struct assay_consensus assay_consensus; /* module-private instance */

typedef struct assay_fsm {
    void *data;
    /* Applies one committed command; `result` (may be NULL) is handed to
     * the submit callback on the node that submitted it. */
    int (*apply)(void *data, const void *cmd, size_t len, void **result);
    /* Serialises the whole state; the buffer comes from host->alloc, or
     * is released with snapshot_free when the config has one. May return
     * ASSAY_EBUSY: one is being made, ask again later (after more applied
     * commands); the module keeps its log meanwhile. */
    int (*snapshot)(void *data, void **buf, size_t *len);
    int (*restore)(void *data, const void *buf, size_t len);
} assay_fsm;

typedef struct assay_consensus_config {
    uint32_t struct_size;
    uint64_t id;              /* this member's id */
    const char *address;      /* this member's consensus address */
    const char *data_dir;     /* durable state; NULL for in-memory modules */
    const char *const *peers; /* "ID@ADDR" of the initial members, NULL-ended */
    assay_fsm fsm;

    /* ---- appended in version 2 (read only when struct_size covers it) -- */
    /* Frees an apply() result that no submit callback receives (commands
     * applied on other members, or submitted without a callback). NULL:
     * apply() never allocates results. */
    void (*release)(void *data, void *result);
    uint32_t election_ms;        /* election timeout; 0: module default */
    uint32_t heartbeat_ms;       /* leader heartbeat; 0: module default */
    uint32_t snapshot_threshold; /* log entries between snapshots; 0: default */
    uint32_t snapshot_trailing;  /* entries kept after a snapshot; 0: default */

    /* ---- appended in version 3 ------------------------------------------ */
    /* Releases a buffer fsm.snapshot returned, on any thread of the
     * module's (the host may map it rather than allocate it). NULL:
     * host->free. */
    void (*snapshot_free)(void *data, void *buf, size_t len);

    /* ---- appended in version 4 ------------------------------------------ */
    /* Security of the links between members (docs/security.md). With
     * secret_key set (a CURVE secret key in Z85; NULL: none), every link
     * is authenticated and encrypted: this member presents that key, and
     * lets in (and connects to) only members whose public key has a
     * certificate in allow_dir with role "member" and as name the member
     * id it claims. A module with links that cannot secure them refuses
     * to open. */
    const char *secret_key;
    const char *allow_dir;
} assay_consensus_config;

/* Roles in assay_consensus_status. */
enum {
    ASSAY_ROLE_UNAVAILABLE = 0,
    ASSAY_ROLE_FOLLOWER = 1,
    ASSAY_ROLE_CANDIDATE = 2,
    ASSAY_ROLE_LEADER = 3,
};

/* Membership operations for ops->member(). */
enum {
    ASSAY_MEMBER_ADD = 1,      /* add `id` at `address` as a voter */
    ASSAY_MEMBER_REMOVE = 2,   /* remove `id` */
    ASSAY_MEMBER_TRANSFER = 3, /* hand leadership to `id` (0: any voter) */
    /* Make voter `id` a standby: it keeps receiving the log but neither
     * votes nor counts for a majority; ADD at its address promotes it
     * again once caught up. How a member whose data was lost rejoins. */
    ASSAY_MEMBER_DEMOTE = 4,
};

typedef struct assay_consensus_member {
    uint64_t id;
    char address[256];
    int voter; /* 1: votes; 0: standby or catching up */
} assay_consensus_member;

/* A consistent picture of this member's view, filled by ops->status().
 * The caller sets struct_size; the module fills what fits. */
typedef struct assay_consensus_status {
    uint32_t struct_size;
    uint64_t id;   /* this member */
    int role;      /* ASSAY_ROLE_* */
    uint64_t term;
    uint64_t commit_index;
    uint64_t applied_index; /* applied to the host's fsm */
    uint64_t last_index;    /* last entry in this member's log */
    uint64_t leader_id;     /* 0: no leader known */
    char leader_address[256];
    uint32_t n_members;
    assay_consensus_member members[ASSAY_CONSENSUS_MAX_MEMBERS];
    /* Appended: the data_dir's free bytes at the last check, the reserve
     * below which the member stands aside (0, 0: not known), and whether
     * it does (1: short of space; it ends a segment above the reserve). */
    uint64_t storage_free;
    uint64_t storage_need;
    uint32_t storage_short;
} assay_consensus_status;

/* Called on the submitting node once the command is committed and applied
 * (status 0, result from fsm.apply) or has failed (negative ASSAY_E*, e.g.
 * leadership lost). Never called if submit() itself returned an error. */
typedef void (*assay_commit_cb)(void *arg, int status, void *result);

typedef struct assay_consensus_ops {
    uint32_t version;
    uint32_t struct_size;

    /* ---- version 1 --------------------------------------------------- */
    int (*open)(const assay_consensus_config *cfg, assay_consensus **out,
                char *errbuf, size_t errlen);
    void (*close)(assay_consensus **self_p);
    /* Replicates `cmd` (copied before return). ASSAY_ENOTLEADER if not
     * leader. */
    int (*submit)(assay_consensus *self, const void *cmd, size_t len,
                  assay_commit_cb cb, void *arg);
    int (*is_leader)(assay_consensus *self);
    /* Copies the current leader's address into buf; ASSAY_ENOENT if none. */
    int (*leader)(assay_consensus *self, char *buf, size_t cap);
    /* Pollable fd that turns readable when process() has work to do. */
    int (*fd)(assay_consensus *self);
    int (*process)(assay_consensus *self);

    /* ---- version 2 --------------------------------------------------- */
    /* Fills *out (struct_size set by the caller). */
    int (*status)(assay_consensus *self, assay_consensus_status *out);
    /* Starts a membership change (ASSAY_MEMBER_*); `cb` runs from
     * process() when it is done (status 0) or failed. ASSAY_ENOTLEADER if
     * not leader, ASSAY_EUNSUPP for a module with a fixed membership. */
    int (*member)(assay_consensus *self, int op, uint64_t id,
                  const char *address, assay_commit_cb cb, void *arg);
} assay_consensus_ops;

#endif
