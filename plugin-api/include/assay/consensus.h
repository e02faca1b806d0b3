/* assay/consensus.h - vtable of a consensus module (kind ASSAY_KIND_CONSENSUS).
 *
 * A consensus module is a replicated log. The host owns the state machine:
 * it passes apply/snapshot/restore callbacks in the config, and the module
 * calls apply() on every member, in log order, for every committed command.
 * `none` keeps the log in memory on one node; `raft` replicates it with
 * canonical raft. Commands and snapshots are opaque bytes to the module.
 *
 * Versioning follows transport.h: append-only, read up to `version`. */
#ifndef ASSAY_CONSENSUS_H
#define ASSAY_CONSENSUS_H

#include "types.h"

#define ASSAY_CONSENSUS_VERSION 1

typedef struct assay_consensus assay_consensus; /* module-private instance */

typedef struct assay_fsm {
    void *data;
    /* Applies one committed command; `result` (may be NULL) is handed to
     * the submit callback on the node that submitted it. */
    int (*apply)(void *data, const void *cmd, size_t len, void **result);
    /* Serialises the whole state; the buffer comes from host->alloc. */
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
} assay_consensus_config;

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
    /* Replicates `cmd` (copied before return). ASSAY_EPERM if not leader. */
    int (*submit)(assay_consensus *self, const void *cmd, size_t len,
                  assay_commit_cb cb, void *arg);
    int (*is_leader)(assay_consensus *self);
    /* Copies the current leader's address into buf; ASSAY_ENOENT if none. */
    int (*leader)(assay_consensus *self, char *buf, size_t cap);
    /* Pollable fd that turns readable when process() has work to do. */
    int (*fd)(assay_consensus *self);
    int (*process)(assay_consensus *self);
} assay_consensus_ops;

#endif
