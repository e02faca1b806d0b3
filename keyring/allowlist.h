/* keyring/allowlist.h - the allow-list: the certificates (czmq zcert
 * files) in a directory, each a peer's public key with the name and role
 * its holder acts under (docs/security.md#keys).
 *
 * The directory is read again when it or a file in it changes. czmq's
 * zcertstore was not used: it asserts (aborting the process) on two files
 * holding one key, takes hidden and temporary files and subdirectories,
 * keeps every key of a directory that was removed, and misses a change
 * that keeps file count, total size and newest second. Only top-level,
 * non-hidden NAME.key regular files count; a key in two files is kept
 * once, with a warning.
 *
 * Not thread-safe: each user keeps its own, on one thread. */
#ifndef ASSAY_KEYRING_ALLOWLIST_H
#define ASSAY_KEYRING_ALLOWLIST_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#define ASSAY_Z85_KEY 40 /* a CURVE key's length in Z85 */
#define ASSAY_KEY_FILE_MAX 65536

typedef struct assay_allowed {
    char key[ASSAY_Z85_KEY + 1]; /* public key, Z85 */
    char name[128], role[64];    /* "" when the certificate gives none */
} assay_allowed;

typedef struct assay_allowlist assay_allowlist;

/* An allow-list of `dir` (which may not exist yet), read at the first
 * refresh. `warn` (may be NULL) hears about files that are skipped. */
assay_allowlist *assay_allowlist_new(const char *dir,
                                     void (*warn)(const char *msg));
void assay_allowlist_destroy(assay_allowlist **self_p);

/* Reads the directory again if anything in it changed since the last
 * read; true if it did. */
bool assay_allowlist_refresh(assay_allowlist *self);

/* The certificate of a public key (Z85), NULL if not allowed (a binary
 * search: a handshake or a revocation sweep costs O(log n) a key). Valid
 * until the next refresh. */
const assay_allowed *assay_allowlist_find(const assay_allowlist *self,
                                          const char *key);

/* A key file's ZPL tree (at most ASSAY_KEY_FILE_MAX bytes), NULL if it
 * cannot be read or parsed; what was read is wiped (it may hold a secret
 * key). czmq's zconfig_load leaks its file handle on a file that does not
 * parse. */
zconfig_t *assay_zpl_load(const char *path);

#endif
