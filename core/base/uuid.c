/* core/base/uuid.c - UUIDv5 from SHA-1 (libmd), and canonical text (see
 * uuid.h). SHA-1 is what version 5 is defined with; it names, it does
 * not protect anything here. */
#include "base/uuid.h"

#include <stdint.h>
#include <string.h>

#include <sha1.h>

#include <assay/error.h>

static int s_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int assay_uuid_parse(const char *text, unsigned char out[16])
{
    if (!text || strlen(text) != 36)
        return ASSAY_EINVAL;
    unsigned char u[16];
    size_t n = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return ASSAY_EINVAL;
            continue;
        }
        int hi = s_hex(text[i]), lo = s_hex(text[i + 1]);
        if (hi < 0 || lo < 0)
            return ASSAY_EINVAL;
        u[n++] = (unsigned char)(hi << 4 | lo);
        i++; /* hyphens fall only between pairs of digits */
    }
    memcpy(out, u, sizeof u);
    return 0;
}

void assay_uuid_format(const unsigned char u[16], char out[37])
{
    static const char digits[] = "0123456789abcdef";
    char *p = out;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = digits[u[i] >> 4];
        *p++ = digits[u[i] & 15];
    }
    *p = '\0';
}

int assay_uuid_version(const unsigned char u[16])
{
    return (u[8] & 0xc0) == 0x80 ? u[6] >> 4 : -1;
}

int assay_uuid5(const unsigned char ns[16], const void *name, size_t len,
                char out[37])
{
    if (!name && len)
        return ASSAY_EINVAL;
    SHA1_CTX ctx;
    uint8_t digest[SHA1_DIGEST_LENGTH];
    SHA1Init(&ctx);
    SHA1Update(&ctx, ns, 16);
    if (len)
        SHA1Update(&ctx, name, len);
    SHA1Final(digest, &ctx);
    /* The first 16 bytes of the hash, version and variant overwritten. */
    digest[6] = (uint8_t)((digest[6] & 0x0f) | 0x50);
    digest[8] = (uint8_t)((digest[8] & 0x3f) | 0x80);
    assay_uuid_format(digest, out);
    return 0;
}

int assay_uuid5_text(const char *ns_text, const char *name, char out[37])
{
    unsigned char ns[16];
    if (assay_uuid_parse(ns_text, ns) || !name)
        return ASSAY_EINVAL;
    return assay_uuid5(ns, name, strlen(name), out);
}
