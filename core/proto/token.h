/* core/proto/token.h - enrolment tokens as people copy them
 * (docs/security.md#enrolment): "assay1-" then, in hex, the cluster's
 * public key (32 bytes: the runtime trusts the member holding it) and a
 * one-time secret (16 bytes). Only the secret's hash (BLAKE2b-256, hex)
 * is kept by the cluster. */
#ifndef ASSAY_CORE_PROTO_TOKEN_H
#define ASSAY_CORE_PROTO_TOKEN_H

#include <stddef.h>

#define ASSAY_TOKEN_PREFIX "assay1-"
#define ASSAY_TOKEN_SECRET_BYTES 16
/* Bytes of a token's text, with its NUL. */
#define ASSAY_TOKEN_TEXT_SIZE (sizeof ASSAY_TOKEN_PREFIX + 2 * (32 + 16))
#define ASSAY_TOKEN_SECRET_HEX (2 * ASSAY_TOKEN_SECRET_BYTES + 1)
#define ASSAY_TOKEN_HASH_HEX 65

/* A new token for a cluster serving with `server_key` (Z85), and its
 * secret's hash; ASSAY_EINVAL for a key that is not Z85. */
int assay_token_new(const char *server_key, char text[ASSAY_TOKEN_TEXT_SIZE],
                    char hash[ASSAY_TOKEN_HASH_HEX]);
/* Reads a token: the cluster's key (Z85) and the secret (hex). */
int assay_token_read(const char *text, char server_key[41],
                     char secret[ASSAY_TOKEN_SECRET_HEX], char *err,
                     size_t errlen);
/* The hash of a secret given in hex; ASSAY_EINVAL if it is not one. */
int assay_token_hash(const char *secret, char hash[ASSAY_TOKEN_HASH_HEX]);

#endif
