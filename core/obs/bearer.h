/* core/obs/bearer.h - bearer tokens for the HTTP endpoint
 * (docs/security.md#http-tokens). A browser or a Prometheus server
 * cannot present a CURVE key, so metrics_listen admits who presents a
 * token instead: `assayctl keys token NAME [ROLE]` makes one, prints it
 * once and keeps only its BLAKE2b hash, with the name and role, in
 * `allowed/NAME.token` beside the certificates. Revoking is removing the
 * file (`assayctl keys revoke NAME`). */
#ifndef ASSAY_CORE_OBS_BEARER_H
#define ASSAY_CORE_OBS_BEARER_H

#include <stddef.h>

/* "assayh1-" and 64 hex digits (32 random bytes). */
#define ASSAY_BEARER_PREFIX "assayh1-"
#define ASSAY_BEARER_LEN (sizeof ASSAY_BEARER_PREFIX - 1 + 64)

/* Makes a token for `name` (an identifier) with `role` in allow_dir:
 * writes NAME.token (refusing to replace one) and puts the token in
 * `token` (at least ASSAY_BEARER_LEN + 1 bytes). 0, or an error in err. */
int assay_bearer_make(const char *allow_dir, const char *name,
                     const char *role, char *token, size_t token_len,
                     char *err, size_t errlen);

/* The tokens of a directory (allow_dir), read again when it changes and
 * at most a second after the last read otherwise: a revoked token is
 * refused from the next request (its removal changes the directory). */
typedef struct assay_bearers assay_bearers;
assay_bearers *assay_bearers_new(const char *allow_dir);
void assay_bearers_destroy(assay_bearers **self_p);
/* Whether `token` is one of them: 0 with its file's name and role copied
 * out (name: 128 bytes, role: 64), ASSAY_EPERM if none holds it. At most
 * 1,024 token files count. */
int assay_bearers_check(assay_bearers *self, const char *token, char *name,
                        char *role);

/* The name and role of the token file `file` (NAME.token) in allow_dir:
 * 0, or ASSAY_EIO when it cannot be read as one. */
int assay_bearer_read(const char *allow_dir, const char *file, char *name,
                      char *role);

/* The token an HTTP Authorization header value presents: "Bearer TOKEN",
 * or "Basic BASE64(USER:TOKEN)" (any user); copied or decoded into buf
 * (cap bytes), NULL when h is NULL, another scheme, malformed or longer
 * than buf. */
const char *assay_bearer_from_header(const char *h, char *buf, size_t cap);

#endif
