/* core/base/codec.c - msgpack <-> JSON value conversion (see codec.h).
 *
 * Each thread keeps a scratch buffer to encode into and a zone to decode
 * with: msgpack-c starts every buffer at 8 KiB and every zone with a
 * chunk of its own, one of each per message (measured: 3-8 % of the
 * leader's CPU for one-job JobSpecs). Encoded bytes are then copied into
 * a buffer of their own size. */
#include "base/codec.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/errtext.h"

int assay_codec_pack(msgpack_packer *pk, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *item;
        msgpack_pack_map(pk, json_object_size(v));
        json_object_foreach((json_t *)v, k, item) {
            size_t kl = strlen(k);
            msgpack_pack_str(pk, kl);
            msgpack_pack_str_body(pk, k, kl);
            if (assay_codec_pack(pk, item) != 0)
                return ASSAY_EINVAL;
        }
        return 0;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *item;
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, item) {
            if (assay_codec_pack(pk, item) != 0)
                return ASSAY_EINVAL;
        }
        return 0;
    }
    case JSON_STRING: {
        size_t l = json_string_length(v);
        msgpack_pack_str(pk, l);
        msgpack_pack_str_body(pk, json_string_value(v), l);
        return 0;
    }
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        return 0;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        return 0;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        return 0;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        return 0;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        return 0;
    }
    return ASSAY_EINVAL;
}

void assay_codec_pack_raw(msgpack_packer *pk, const void *bytes, size_t len)
{
    /* msgpack-c's body writers append bytes as they are. */
    msgpack_pack_bin_body(pk, bytes, len);
}

void assay_codec_pack_str(msgpack_packer *pk, const char *s)
{
    if (!s) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void assay_codec_pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    assay_codec_pack_str(pk, k);
    assay_codec_pack_str(pk, v);
}

void assay_codec_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    assay_codec_pack_str(pk, k);
    msgpack_pack_int64(pk, v);
}

void assay_codec_pack_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
    assay_codec_pack_str(pk, k);
    if (v)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void assay_codec_pack_kv_json(msgpack_packer *pk, const char *k,
                              const json_t *v)
{
    assay_codec_pack_str(pk, k);
    if (!v || assay_codec_pack(pk, v) != 0)
        msgpack_pack_nil(pk);
}

/* A msgpack string's bytes: msgpack-c leaves ptr NULL when the string is
 * empty, which memchr, memcpy and jansson must not be given. */
static const char *s_str(const msgpack_object_str *s)
{
    return s->size ? s->ptr : "";
}

/* UTF-8 as jansson takes it: no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static bool s_utf8(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i - 1 < k)
            return false;
        for (size_t m = 1; m <= k; m++) {
            if ((p[i + m] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + m] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

/* Everything a value must be to become JSON, checked without building
 * it: what the decoders accept, and a state's records may hold. */
static int s_check(const msgpack_object *o, int depth, char *err,
                   size_t errlen)
{
    if (depth > ASSAY_CODEC_MAX_DEPTH)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "value nested deeper than %d levels",
                          ASSAY_CODEC_MAX_DEPTH);
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_BOOLEAN:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_BIN:
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            return assay_errf(err, errlen, ASSAY_ERANGE,
                              "integer %llu does not fit int64",
                              (unsigned long long)o->via.u64);
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return assay_errf(err, errlen, ASSAY_EPARSE,
                              "invalid value (not a finite number)");
        return 0;
    case MSGPACK_OBJECT_STR:
        if (memchr(s_str(&o->via.str), '\0', o->via.str.size))
            return assay_errf(err, errlen, ASSAY_EPARSE,
                              "string contains a NUL byte");
        if (!s_utf8((const unsigned char *)s_str(&o->via.str),
                    o->via.str.size))
            return assay_errf(err, errlen, ASSAY_EPARSE,
                              "string is not valid UTF-8");
        return 0;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            int rc = s_check(&o->via.array.ptr[i], depth + 1, err, errlen);
            if (rc)
                return rc;
        }
        return 0;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR ||
                kv->key.via.str.size > 255 ||
                memchr(s_str(&kv->key.via.str), '\0', kv->key.via.str.size))
                return assay_errf(err, errlen, ASSAY_EPARSE,
                                  "map key is not a short string");
            if (!s_utf8((const unsigned char *)s_str(&kv->key.via.str),
                        kv->key.via.str.size))
                return assay_errf(err, errlen, ASSAY_EPARSE,
                                  "map key is not valid UTF-8");
            int rc = s_check(&kv->val, depth + 1, err, errlen);
            if (rc)
                return rc;
        }
        return 0;
    default:
        return assay_errf(err, errlen, ASSAY_EPARSE,
                          "unsupported msgpack type %d", (int)o->type);
    }
}

/* Builds the JSON of a value s_check accepted: only memory can fail. */
static json_t *s_build(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return json_stringn_nocheck(s_str(&o->via.str), o->via.str.size);
    case MSGPACK_OBJECT_BIN: {
        size_t n = sodium_base64_ENCODED_LEN(o->via.bin.size,
                                             sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(n);
        if (!b64)
            return NULL;
        sodium_bin2base64(b64, n, (const unsigned char *)o->via.bin.ptr,
                          o->via.bin.size, sodium_base64_VARIANT_ORIGINAL);
        json_t *j = json_string_nocheck(b64);
        free(b64);
        return j;
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *j = json_array();
        for (uint32_t i = 0; j && i < o->via.array.size; i++) {
            json_t *item = s_build(&o->via.array.ptr[i]);
            if (!item || json_array_append_new(j, item)) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *j = json_object();
        for (uint32_t i = 0; j && i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            json_t *item = s_build(&kv->val);
            if (!item || json_object_setn_new_nocheck(
                             j, s_str(&kv->key.via.str), kv->key.via.str.size,
                             item)) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    }
    default:
        return NULL;
    }
}

int assay_codec_to_json(const msgpack_object *obj, json_t **out, char *err,
                        size_t errlen)
{
    int rc = s_check(obj, 0, err, errlen);
    if (rc)
        return rc;
    if (!(*out = s_build(obj)))
        return assay_errf(err, errlen, ASSAY_ENOMEM, "out of memory");
    return 0;
}

static uint64_t s_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Walks the encoding once without allocating, so that a header claiming
 * billions of elements is refused before msgpack-c sizes its zone by it:
 * every element needs at least one byte, so a count can never exceed the
 * bytes left. Also enforces the nesting bound. */
static int s_precheck(const uint8_t *p, size_t len, size_t max_values,
                      char *err, size_t errlen)
{
    uint64_t pending[ASSAY_CODEC_MAX_DEPTH + 2];
    size_t values = 0;
    int depth = 0;
    pending[0] = 1;
    size_t i = 0;
    while (depth >= 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        pending[depth]--;
        if (i >= len)
            return assay_errf(err, errlen, ASSAY_EPARSE, "truncated msgpack");
        if (++values > max_values)
            return assay_errf(err, errlen, ASSAY_ETOOBIG,
                              "more than %zu values (map keys count)",
                              max_values);
        uint8_t b = p[i++];
        uint64_t skip = 0, items = 0;
        int hdr = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        } else if (b >= 0x80 && b <= 0x8f) {
            items = 2u * (b & 0x0f);
        } else if (b >= 0x90 && b <= 0x9f) {
            items = b & 0x0f;
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: hdr = 1; break;
            case 0xc5: case 0xda: hdr = 2; break;
            case 0xc6: case 0xdb: hdr = 4; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xdc: case 0xde: hdr = 2; break;
            case 0xdd: case 0xdf: hdr = 4; break;
            default:
                return assay_errf(err, errlen, ASSAY_EPARSE,
                                  "unsupported msgpack type byte 0x%02x", b);
            }
            if (hdr) {
                if (len - i < (size_t)hdr)
                    return assay_errf(err, errlen, ASSAY_EPARSE,
                                      "truncated msgpack");
                uint64_t n = s_be(p + i, hdr);
                i += hdr;
                if (b == 0xdc || b == 0xdd)
                    items = n;
                else if (b == 0xde || b == 0xdf)
                    items = 2 * n;
                else
                    skip = n;
            }
        }
        if (skip > len - i || items > len - i)
            return assay_errf(err, errlen, ASSAY_EPARSE,
                              "msgpack length exceeds the message");
        i += skip;
        if (items) {
            if (depth + 1 > ASSAY_CODEC_MAX_DEPTH)
                return assay_errf(err, errlen, ASSAY_ETOOBIG,
                                  "value nested deeper than %d levels",
                                  ASSAY_CODEC_MAX_DEPTH);
            pending[++depth] = items;
        }
    }
    if (i != len)
        return assay_errf(err, errlen, ASSAY_EPARSE,
                          "%zu trailing bytes after msgpack value", len - i);
    return 0;
}

/* A scratch buffer that grew past this after a large message is given
 * back rather than kept. */
#define SCRATCH_KEEP (256 * 1024)

typedef struct {
    msgpack_sbuffer sb;
    msgpack_zone *zone;
} s_scratch;

static pthread_key_t s_key;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static bool s_keyed;

static void s_scratch_free(void *p)
{
    s_scratch *s = p;
    msgpack_sbuffer_destroy(&s->sb);
    if (s->zone)
        msgpack_zone_free(s->zone);
    free(s);
}

static void s_key_make(void)
{
    s_keyed = pthread_key_create(&s_key, s_scratch_free) == 0;
}

/* This thread's scratch (freed when the thread ends), NULL without
 * memory. */
static s_scratch *s_scratch_get(void)
{
    pthread_once(&s_once, s_key_make);
    if (!s_keyed)
        return NULL;
    s_scratch *s = pthread_getspecific(s_key);
    if (!s && (s = calloc(1, sizeof *s))) {
        msgpack_sbuffer_init(&s->sb);
        s->zone = msgpack_zone_new(ASSAY_CODEC_ZONE_CHUNK);
        if (!s->zone || pthread_setspecific(s_key, s) != 0) {
            s_scratch_free(s);
            s = NULL;
        }
    }
    return s;
}

static int s_unpack(const void *buf, size_t len, size_t max_values,
                    msgpack_zone *zone, msgpack_object *out, char *err,
                    size_t errlen)
{
    int rc = s_precheck(buf, len, max_values, err, errlen);
    if (rc)
        return rc;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack(buf, len, &off, zone, out);
    if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES)
        return assay_errf(err, errlen, ASSAY_EPARSE, "malformed msgpack");
    if (off != len)
        return assay_errf(err, errlen, ASSAY_EPARSE,
                          "%zu trailing bytes after msgpack value", len - off);
    return s_check(out, 0, err, errlen);
}

int assay_codec_unpack(const void *buf, size_t len, msgpack_zone *zone,
                       msgpack_object *out, char *err, size_t errlen)
{
    return s_unpack(buf, len, SIZE_MAX, zone, out, err, errlen);
}

int assay_codec_decode(const void *buf, size_t len, json_t **out, char *err,
                       size_t errlen)
{
    s_scratch *s = s_scratch_get();
    if (!s)
        return assay_errf(err, errlen, ASSAY_ENOMEM, "out of memory");
    msgpack_object obj;
    int rc = s_unpack(buf, len, ASSAY_CODEC_MAX_VALUES, s->zone, &obj, err,
                      errlen);
    if (!rc && !(*out = s_build(&obj)))
        rc = assay_errf(err, errlen, ASSAY_ENOMEM, "out of memory");
    msgpack_zone_clear(s->zone);
    return rc;
}

int assay_codec_encode(const json_t *value, char **buf, size_t *len)
{
    s_scratch *s = s_scratch_get();
    if (!s)
        return ASSAY_ENOMEM;
    msgpack_sbuffer *sb = &s->sb;
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int rc = assay_codec_pack(&pk, value);
    char *copy = rc ? NULL : malloc(sb->size ? sb->size : 1);
    if (!rc && !copy)
        rc = ASSAY_ENOMEM;
    if (copy) {
        memcpy(copy, sb->data, sb->size);
        *buf = copy;
        *len = sb->size;
    }
    if (sb->alloc > SCRATCH_KEEP) {
        msgpack_sbuffer_destroy(sb);
        msgpack_sbuffer_init(sb);
    }
    return rc;
}
