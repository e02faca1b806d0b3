/* core/cluster/keys.h - whose keys each role presents on the wire, where
 * they live, and the first start that makes them (docs/security.md).
 *
 * A keys directory holds key pairs (NAME.key public, NAME.key_secret
 * private, in the transport's format) and allowed/, the certificates of
 * every key a member lets in, each naming its holder and role:
 *
 *   cluster    the pair every member serves with; clients and runtimes
 *              trust its public half (cluster.key) and nothing else
 *   operator   an admin key for assayctl, made with the cluster's keys
 *   runtime-ID a runtime's own key (role runtime, name ID)
 *   member-ID  member ID's raft key (role member, name ID): raft links
 *              are secured with it, each member letting in the others'
 *
 * Keys are made only where every endpoint involved is on this host
 * (loopback, ipc): a development cluster needs no setup, and whoever can
 * read the directory (its owner, mode 0700) is the operator. A node bound
 * to or joining anything else must be given its keys (assayctl keys). */
#ifndef ASSAY_CORE_KEYS_H
#define ASSAY_CORE_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/conf.h"
#include "cluster/link.h"
#include "proto/token.h"

#define ASSAY_KEY_CLUSTER "cluster"
#define ASSAY_KEY_OPERATOR "operator"
#define ASSAY_KEY_RUNTIME_PREFIX "runtime-"
#define ASSAY_KEY_MEMBER_PREFIX "member-"
#define ASSAY_KEYS_ALLOWED "allowed"

/* What a node's links present; `secure` false: none (security = none). */
typedef struct assay_keys {
    bool secure;
    char dir[4096], allow[4200];
    char secret[41], public_[41], server[41];
    char raft_secret[41]; /* member-ID's, for raft links; "" if none */
    /* A runtime enrolling (enrol_token): the token's secret to present,
     * and the file that says it was not yet accepted (removed once it
     * is); both "" otherwise. */
    char enrol_secret[ASSAY_TOKEN_SECRET_HEX];
    char enrol_marker[4200];
} assay_keys;

/* The keys directory: `configured`, else $ASSAY_KEYS_DIR, else
 * $XDG_CONFIG_HOME/assay/keys, else $HOME/.config/assay/keys. */
int assay_keys_dir(const char *configured, char *out, size_t len, char *err,
                   size_t errlen);

/* Whether a ZeroMQ endpoint stays on this host (loopback TCP, ipc). */
bool assay_endpoint_local(const char *endpoint);
/* Whether this member's raft addresses (its own, and every ID@HOST:PORT
 * of members) stay on this host. */
bool assay_raft_local(const assay_conf *c);

/* Makes what a new cluster needs in `dir`, each only when absent: the
 * cluster key, and an operator key (role admin) that is allowed. *made
 * gets ASSAY_KEYS_MADE_* bits. */
enum { ASSAY_KEYS_MADE_CLUSTER = 1, ASSAY_KEYS_MADE_OPERATOR = 2 };
int assay_keys_init(const char *modules_dir, const char *transport,
                    const char *dir, int *made, char *err, size_t errlen);

/* A member: serves with the cluster key and lets in allowed/; with
 * consensus raft, secures its raft links with member-ID. On first start,
 * when its endpoints are local, makes the cluster key, an operator key
 * and member-ID (both allowed). */
int assay_keys_member(const assay_conf *c, assay_keys *out, char *err,
                      size_t errlen);
/* A runtime `id` joining `endpoints`: presents runtime-ID, trusts
 * cluster.key; when the endpoints are local, makes (and allows) its key,
 * and the cluster's as a member would (whichever starts first). With an
 * enrol_token: trusts the cluster key the token names, makes its key
 * without allowing it, and says what to enrol with (enrol_secret). */
int assay_keys_runtime(const assay_conf *c, const char *id,
                       const char *endpoints, assay_keys *out, char *err,
                       size_t errlen);
/* A control plane: presents key `name` (NULL: operator) from `dir` (NULL
 * or "": the default), trusts cluster.key. Makes nothing. */
int assay_keys_client(const char *modules_dir, const char *transport,
                      const char *dir, const char *name, assay_keys *out,
                      char *err, size_t errlen);

/* The file (NAME of NAME.key, in a static buffer) of the first
 * certificate in allow_dir that holds `key` and names `name` (either may
 * be NULL: any), skipping files whose name starts with `skip` (NULL:
 * none); NULL if none does. */
const char *assay_keys_allowed_find(const char *modules_dir,
                                    const char *transport,
                                    const char *allow_dir, const char *key,
                                    const char *name, const char *skip);

/* Points a link's config at the keys (which must outlive the link's
 * opening). */
void assay_keys_apply(const assay_keys *k, assay_link_conf *lc);

#endif
