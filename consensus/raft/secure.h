/* consensus/raft/secure.h - raft links authenticated and encrypted
 * (docs/security.md#raft-links).
 *
 * A raft_uv_transport that wraps raft's own TCP transport: raft's
 * handshake (protocol, id, address) still opens each connection, then
 * both ends prove their member keys and agree on session keys, and raft
 * gets one end of a socketpair while this module carries the bytes
 * between it and the TCP connection, encrypted. A peer is let in only if
 * its key has a certificate in the allow-list with role "member" and the
 * name of the member id it claims; a connecting member checks the one it
 * reached the same way. */
#ifndef ASSAY_RAFT_SECURE_H
#define ASSAY_RAFT_SECURE_H

#include <stddef.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>

/* Fills `t` (its version, impl and methods) for a member presenting
 * `secret` (a CURVE secret key, 32 bytes) and letting in the members
 * allow_dir names. 0, or a RAFT_* code with the reason in errbuf. */
int secure_transport_init(struct raft_uv_transport *t, struct uv_loop_s *loop,
                          const uint8_t secret[32], const char *allow_dir,
                          char *errbuf, size_t errlen);

/* Releases what init made, once the transport's close callback has run
 * (or if listen never ran). */
void secure_transport_destroy(struct raft_uv_transport *t);

#endif
