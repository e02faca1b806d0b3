/* core/proto/token.c - enrolment tokens (token.h). */
#include "proto/token.h"

#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "base/errtext.h"

/* ZeroMQ's Z85 (RFC 32), for the 32-byte keys alone. */
static const char s_z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
                            "KLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

static int s_z85_decode(const char *text, unsigned char out[32])
{
    if (!text || strlen(text) != 40)
        return ASSAY_EINVAL;
    for (int i = 0; i < 8; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 5; k++) {
            const char *at = strchr(s_z85, text[5 * i + k]);
            if (!at || !text[5 * i + k])
                return ASSAY_EINVAL;
            v = v * 85 + (uint64_t)(at - s_z85);
        }
        if (v > UINT32_MAX)
            return ASSAY_EINVAL;
        for (int k = 3; k >= 0; k--, v >>= 8)
            out[4 * i + k] = (unsigned char)v;
    }
    return 0;
}

static void s_z85_encode(const unsigned char in[32], char out[41])
{
    for (int i = 0; i < 8; i++) {
        uint32_t v = (uint32_t)in[4 * i] << 24 | (uint32_t)in[4 * i + 1] << 16 |
                     (uint32_t)in[4 * i + 2] << 8 | in[4 * i + 3];
        for (int k = 4; k >= 0; k--, v /= 85)
            out[5 * i + k] = s_z85[v % 85];
    }
    out[40] = '\0';
}

int assay_token_hash(const char *secret, char hash[ASSAY_TOKEN_HASH_HEX])
{
    unsigned char bin[ASSAY_TOKEN_SECRET_BYTES], h[32];
    size_t n = 0;
    if (!secret || strlen(secret) != 2 * sizeof bin ||
        sodium_hex2bin(bin, sizeof bin, secret, strlen(secret), NULL, &n,
                       NULL) ||
        n != sizeof bin)
        return ASSAY_EINVAL;
    crypto_generichash(h, sizeof h, bin, sizeof bin, NULL, 0);
    sodium_bin2hex(hash, ASSAY_TOKEN_HASH_HEX, h, sizeof h);
    sodium_memzero(bin, sizeof bin);
    return 0;
}

int assay_token_new(const char *server_key, char text[ASSAY_TOKEN_TEXT_SIZE],
                    char hash[ASSAY_TOKEN_HASH_HEX])
{
    unsigned char key[32], secret[ASSAY_TOKEN_SECRET_BYTES];
    if (s_z85_decode(server_key, key))
        return ASSAY_EINVAL;
    randombytes_buf(secret, sizeof secret);
    size_t p = strlen(ASSAY_TOKEN_PREFIX);
    memcpy(text, ASSAY_TOKEN_PREFIX, p);
    sodium_bin2hex(text + p, 65, key, sizeof key);
    sodium_bin2hex(text + p + 64, ASSAY_TOKEN_SECRET_HEX, secret,
                   sizeof secret);
    sodium_memzero(secret, sizeof secret);
    return assay_token_hash(text + p + 64, hash);
}

int assay_token_read(const char *text, char server_key[41],
                     char secret[ASSAY_TOKEN_SECRET_HEX], char *err,
                     size_t errlen)
{
    size_t p = strlen(ASSAY_TOKEN_PREFIX);
    unsigned char key[32];
    size_t n = 0;
    char hash[ASSAY_TOKEN_HASH_HEX];
    if (!text || strlen(text) != ASSAY_TOKEN_TEXT_SIZE - 1 ||
        strncmp(text, ASSAY_TOKEN_PREFIX, p) ||
        sodium_hex2bin(key, sizeof key, text + p, 64, NULL, &n, NULL) ||
        n != sizeof key)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "enrolment token: not one (want %s and %zu hex "
                          "digits, as `assayctl keys enroll` prints)",
                          ASSAY_TOKEN_PREFIX, ASSAY_TOKEN_TEXT_SIZE - 1 - p);
    memcpy(secret, text + p + 64, ASSAY_TOKEN_SECRET_HEX);
    if (assay_token_hash(secret, hash))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "enrolment token: its secret is not hex");
    s_z85_encode(key, server_key);
    return 0;
}
