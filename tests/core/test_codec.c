/* tests/core/test_codec.c - msgpack <-> JSON conversion, hostile msgpack,
 * and length-prefixed frames (codec.h, frame.h). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <assay/error.h>

#include "base/codec.h"
#include "exec/frame.h"

/* A string literal as (bytes, length), embedded NULs included. */
#define B(s) s, sizeof(s) - 1

static json_t *json(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);

    cr_assert_not_null(v, "bad test JSON '%s': %s", text, je.text);
    return v;
}

/* Decodes len bytes, asserting success. */
static json_t *decode(const void *buf, size_t len)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_t *v = NULL;

    cr_assert_eq(assay_codec_decode(buf, len, &v, err, sizeof err), 0, "%s",
                 err);
    cr_assert_not_null(v);
    return v;
}

/* Compares a decoded value with JSON text; takes `got`. */
static void expect_json(json_t *got, const char *want)
{
    json_t *w = json(want);
    char *text = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS);

    cr_expect(json_equal(got, w), "got %s, want %s", text, want);
    free(text);
    json_decref(w);
    json_decref(got);
}

Test(codec, round_trip)
{
    static const char *const values[] = {
        "{\"a\": {\"b\": [1, -2, 3.25, \"x\", true, false, null, {}, []]}, "
        "\"\": \"empty key\", \"k\": [[[\"deep\"]]]}",
        "[9223372036854775807, -9223372036854775808, 0, -1, 127, 128, "
        "65536, 4294967296, -33, -129, -32769, -2147483649]",
        "[1e300, -0.5, 3.141592653589793]",
        "\"h\\u00e9llo \\u20ac \\ud83d\\ude00\"",
        "\"\"",
        "42",
        "null",
        "{\"long\": \"0123456789012345678901234567890123456789\"}",
    };

    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        json_t *v = json(values[i]);
        char *buf = NULL;
        size_t len = 0;

        cr_assert_eq(assay_codec_encode(v, &buf, &len), 0);
        expect_json(decode(buf, len), values[i]);
        free(buf);
        json_decref(v);
    }
}

Test(codec, long_strings_and_containers)
{
    /* str16/str32, array16/map16: the wider headers round-trip too */
    json_t *v = json_object(), *arr = json_array();
    char *big = malloc(70000), *buf = NULL;
    size_t len = 0;

    memset(big, 'z', 69999);
    big[69999] = '\0';
    for (int i = 0; i < 300; i++) {
        char key[16];

        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(v, key, json_integer(i));
        json_array_append_new(arr, json_integer(-i));
    }
    json_object_set_new(v, "big", json_string(big));
    json_object_set_new(v, "arr", arr);
    cr_assert_eq(assay_codec_encode(v, &buf, &len), 0);
    json_t *back = decode(buf, len);
    cr_expect(json_equal(back, v));
    json_decref(back);
    json_decref(v);
    free(buf);
    free(big);
}

Test(codec, bin_becomes_base64)
{
    expect_json(decode(B("\xc4\x03\x01\x02\x03")), "\"AQID\"");
    expect_json(decode(B("\xc4\x00")), "\"\"");
    expect_json(decode(B("\x81\xa1k\xc5\x00\x01\xff")), "{\"k\": \"/w==\"}");
}

Test(codec, other_encodings)
{
    /* forms assay_codec_pack never writes but a peer may */
    expect_json(decode(B("\xca\x3f\xc0\x00\x00")), "1.5"); /* float32 */
    expect_json(decode(B("\xcc\xff")), "255");             /* uint8 */
    expect_json(decode(B("\xd0\x80")), "-128");            /* int8 */
    expect_json(decode(B("\xd9\x01x")), "\"x\"");          /* str8 */
    expect_json(decode(B("\xdc\x00\x01\x01")), "[1]");     /* array16 */
    /* map16, and uint64 at INT64_MAX */
    expect_json(decode(B("\xde\x00\x01\xa1k\xc3")), "{\"k\": true}");
    expect_json(decode(B("\xcf\x7f\xff\xff\xff\xff\xff\xff\xff")),
                "9223372036854775807");
}

/* A buffer `decode` must refuse with `code`, naming `why`. */
struct hostile {
    const char *what;
    const char *bytes;
    size_t len;
    int code;
    const char *why;
};

static const struct hostile hostiles[] = {
    {"array32 of 2^32-1", B("\xdd\xff\xff\xff\xff"), ASSAY_EPARSE,
     "exceeds the message"},
    {"map32 of 2^32-1", B("\xdf\xff\xff\xff\xff"), ASSAY_EPARSE,
     "exceeds the message"},
    {"array16 of 65535", B("\xdc\xff\xff\xc0"), ASSAY_EPARSE,
     "exceeds the message"},
    {"str32 of 4 GiB", B("\xdb\xff\xff\xff\xff"), ASSAY_EPARSE,
     "exceeds the message"},
    {"bin32 of 4 GiB", B("\xc6\xff\xff\xff\xffxyz"), ASSAY_EPARSE,
     "exceeds the message"},
    {"empty", B(""), ASSAY_EPARSE, "truncated"},
    {"array missing items", B("\x92\x01"), ASSAY_EPARSE, "exceeds the message"},
    {"inner array cut short", B("\x92\x91\x01"), ASSAY_EPARSE, "truncated"},
    {"map missing value", B("\x81\xa1k"), ASSAY_EPARSE, "truncated"},
    {"short str", B("\xa5xy"), ASSAY_EPARSE, "exceeds the message"},
    {"short uint16", B("\xcd\x01"), ASSAY_EPARSE, "exceeds the message"},
    {"short str32 header", B("\xdb\x00\x00"), ASSAY_EPARSE, "truncated"},
    {"trailing byte", B("\xc0\xc0"), ASSAY_EPARSE, "1 trailing bytes"},
    {"trailing after map", B("\x80\x01\x02"), ASSAY_EPARSE, "2 trailing bytes"},
    {"integer key", B("\x81\x01\x02"), ASSAY_EPARSE, "map key"},
    {"nil key", B("\x81\xc0\x02"), ASSAY_EPARSE, "map key"},
    {"array key", B("\x81\x90\x02"), ASSAY_EPARSE, "map key"},
    {"NUL in key", B("\x81\xa2k\0\xc0"), ASSAY_EPARSE, "map key"},
    {"fixext1", B("\xd4\x01\x00"), ASSAY_EPARSE, "0xd4"},
    {"fixext16", B("\xd8\x01ghijklmnopqrstuv"), ASSAY_EPARSE, "0xd8"},
    {"ext8", B("\xc7\x01\x05\x00"), ASSAY_EPARSE, "0xc7"},
    {"ext32 in array", B("\x91\xc9\x00\x00\x00\x01\x05\x00"), ASSAY_EPARSE,
     "0xc9"},
    {"never-used 0xc1", B("\xc1"), ASSAY_EPARSE, "0xc1"},
    {"NUL in string", B("\xa3z\0y"), ASSAY_EPARSE, "NUL"},
    {"invalid UTF-8", B("\xa2\xc3\x28"), ASSAY_EPARSE, "UTF-8"},
    {"lone surrogate", B("\xa3\xed\xa0\x80"), ASSAY_EPARSE, "UTF-8"},
    {"overlong UTF-8", B("\xa3\xe0\x80\xaf"), ASSAY_EPARSE, "UTF-8"},
    {"above U+10FFFF", B("\xa4\xf4\x90\x80\x80"), ASSAY_EPARSE, "UTF-8"},
    {"truncated UTF-8", B("\xa2\xe2\x82"), ASSAY_EPARSE, "UTF-8"},
    {"invalid UTF-8 key", B("\x81\xa1\xff\xc0"), ASSAY_EPARSE, "UTF-8"},
    {"uint64 over INT64_MAX", B("\xcf\x80\x00\x00\x00\x00\x00\x00\x00"),
     ASSAY_ERANGE, "9223372036854775808 does not fit int64"},
    {"NaN", B("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"), ASSAY_EPARSE,
     "not a finite number"},
    {"infinity", B("\xca\x7f\x80\x00\x00"), ASSAY_EPARSE,
     "not a finite number"},
};

Test(codec, hostile_refused)
{
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++) {
        const struct hostile *h = &hostiles[i];
        char err[ASSAY_ERRMSG_SIZE] = "";
        json_t *v = NULL;

        cr_expect_eq(assay_codec_decode(h->bytes, h->len, &v, err, sizeof err),
                     h->code, "%s: '%s'", h->what, err);
        cr_expect_null(v, "%s: no value on error", h->what);
        cr_expect_not_null(strstr(err, h->why), "%s: '%s' lacks '%s'", h->what,
                           err, h->why);
        json_decref(v);
        /* Decoding without a JSON tree (the state's) refuses the same. */
        msgpack_zone *zone = msgpack_zone_new(ASSAY_CODEC_ZONE_CHUNK);
        msgpack_object o;
        cr_expect_eq(assay_codec_unpack(h->bytes, h->len, zone, &o, err,
                                        sizeof err),
                     h->code, "%s: unpack: '%s'", h->what, err);
        msgpack_zone_free(zone);
    }
}

/* Every valid code point in every encoding length round-trips. */
Test(codec, utf8_accepted)
{
    static const char *const texts[] = {"a", "\xc2\x80", "\xdf\xbf",
                                        "\xe0\xa0\x80", "\xef\xbf\xbf",
                                        "\xf0\x90\x80\x80",
                                        "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        json_t *in = json_string(texts[i]), *out = NULL;
        char *buf;
        size_t len;
        cr_assert_not_null(in);
        cr_assert_eq(assay_codec_encode(in, &buf, &len), 0);
        cr_expect_eq(assay_codec_decode(buf, len, &out, NULL, 0), 0, "%zu", i);
        cr_expect(json_equal(in, out), "%zu", i);
        free(buf);
        json_decref(in);
        json_decref(out);
    }
}

/* n nested one-element arrays around a nil. */
static int nested(size_t n, json_t **out, char *err, size_t errlen)
{
    char buf[64];

    cr_assert_lt(n, sizeof buf);
    memset(buf, 0x91, n);
    buf[n] = (char)0xc0;
    return assay_codec_decode(buf, n + 1, out, err, errlen);
}

Test(codec, nesting_limit)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_t *v = NULL;

    cr_expect_eq(nested(ASSAY_CODEC_MAX_DEPTH, &v, err, sizeof err), 0, "%s",
                 err);
    json_decref(v);
    v = NULL;
    cr_expect_eq(nested(ASSAY_CODEC_MAX_DEPTH + 1, &v, err, sizeof err),
                 ASSAY_ETOOBIG);
    cr_expect_null(v);
    cr_expect_not_null(strstr(err, "nested deeper than 32"), "%s", err);
    cr_expect_eq(nested(60, &v, err, sizeof err), ASSAY_ETOOBIG);
}

Test(codec, error_buffer_optional)
{
    json_t *v = NULL;

    cr_expect_eq(assay_codec_decode("\xc1", 1, &v, NULL, 0), ASSAY_EPARSE);
}

/* Frames */

static const char *const frame_msgs[] = {
    "{\"op\": \"hello\", \"v\": 1}",
    "{}",
    "{\"job\": {\"id\": \"j-0\", \"params\": {\"path\": [\"/etc\"]}}}",
};
#define NFRAMES (sizeof frame_msgs / sizeof frame_msgs[0])

/* Takes every complete frame out of `in` into got[*n]. */
static void drain(assay_buf *in, json_t **got, size_t *n)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_t *m = NULL;
    int rc;

    while ((rc = assay_frame_next(in, ASSAY_FRAME_MAX, &m, err, sizeof err)) ==
           1) {
        cr_assert_lt(*n, NFRAMES, "more frames than sent");
        got[(*n)++] = m;
    }
    cr_assert_eq(rc, 0, "%s", err);
}

Test(frame, round_trip_byte_by_byte)
{
    assay_buf out = {0}, in = {0};
    json_t *got[NFRAMES];
    size_t n = 0;
    int sv[2];

    for (size_t i = 0; i < NFRAMES; i++) {
        json_t *m = json(frame_msgs[i]);

        cr_assert_eq(assay_frame_put(&out, m), 0);
        json_decref(m);
    }
    /* one byte per read: every header and body arrives in pieces */
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    cr_expect_eq(assay_frame_fill(sv[1], &in), ASSAY_EBUSY);
    for (size_t i = 0; i < out.len; i++) {
        cr_assert_eq(write(sv[0], out.data + i, 1), 1);
        cr_assert_eq(assay_frame_fill(sv[1], &in), 1);
        drain(&in, got, &n);
    }
    cr_assert_eq(n, NFRAMES);
    for (size_t i = 0; i < NFRAMES; i++)
        expect_json(got[i], frame_msgs[i]);
    close(sv[0]);
    cr_expect_eq(assay_frame_fill(sv[1], &in), 0, "end of stream");
    close(sv[1]);
    assay_buf_fini(&out);
    assay_buf_fini(&in);
    cr_expect_null(in.data);
}

Test(frame, flush_then_fill)
{
    assay_buf out = {0}, in = {0};
    json_t *got[NFRAMES];
    size_t n = 0;
    int sv[2];

    for (size_t i = 0; i < NFRAMES; i++) {
        json_t *m = json(frame_msgs[i]);

        cr_assert_eq(assay_frame_put(&out, m), 0);
        json_decref(m);
    }
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(assay_frame_flush(sv[0], &out), 0);
    cr_expect_eq(out.len, 0, "flushed buffer is empty");
    cr_assert_gt(assay_frame_fill(sv[1], &in), 0);
    drain(&in, got, &n);
    cr_assert_eq(n, NFRAMES);
    for (size_t i = 0; i < NFRAMES; i++)
        expect_json(got[i], frame_msgs[i]);
    close(sv[0]);
    close(sv[1]);
    assay_buf_fini(&out);
    assay_buf_fini(&in);
}

/* A read buffer holding exactly `len` bytes. */
static assay_buf raw(const char *bytes, size_t len)
{
    assay_buf b = {.data = malloc(len), .len = len, .cap = len};

    cr_assert_not_null(b.data);
    memcpy(b.data, bytes, len);
    return b;
}

/* Expects the first frame of `bytes` to be refused with `code`. */
static void expect_refused(const char *bytes, size_t len, size_t max, int code,
                           const char *why)
{
    assay_buf in = raw(bytes, len);
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_t *m = NULL;

    cr_expect_eq(assay_frame_next(&in, max, &m, err, sizeof err), code, "'%s'",
                 err);
    cr_expect_null(m);
    cr_expect_not_null(strstr(err, why), "'%s' lacks '%s'", err, why);
    assay_buf_fini(&in);
}

Test(frame, refused)
{
    /* the header alone is enough to refuse: no waiting for 4 GiB */
    expect_refused(B("\xff\xff\xff\xff"), ASSAY_FRAME_MAX, ASSAY_ETOOBIG,
                   "frame of 4294967295 bytes (limit 16777216)");
    expect_refused(B("\x00\x00\x00\x03\x81\xa1k"), 2, ASSAY_ETOOBIG,
                   "frame of 3 bytes (limit 2)");
    expect_refused(B("\x00\x00\x00\x00"), ASSAY_FRAME_MAX, ASSAY_ETOOBIG,
                   "frame of 0 bytes");
    expect_refused(B("\x00\x00\x00\x01\x90"), 64, ASSAY_EPROTO,
                   "frame is not a map");
    expect_refused(B("\x00\x00\x00\x01\x01"), 64, ASSAY_EPROTO,
                   "frame is not a map");
    expect_refused(B("\x00\x00\x00\x02\x81\xa1"), 64, ASSAY_EPARSE,
                   "exceeds the message");
}

Test(frame, bad_frame_is_consumed)
{
    /* a refused body is skipped whole; the stream stays in step */
    assay_buf in = raw(B("\x00\x00\x00\x01\x90"
                         "\x00\x00\x00\x03\x81\xa1k"
                         "\x00\x00\x00\x04\x81\xa1k\x07"));
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_t *m = NULL;

    cr_expect_eq(assay_frame_next(&in, 64, &m, err, sizeof err), ASSAY_EPROTO);
    cr_expect_eq(assay_frame_next(&in, 64, &m, err, sizeof err), ASSAY_EPARSE);
    cr_assert_eq(assay_frame_next(&in, 64, &m, err, sizeof err), 1, "%s", err);
    expect_json(m, "{\"k\": 7}");
    cr_expect_eq(assay_frame_next(&in, 64, &m, err, sizeof err), 0);
    assay_buf_fini(&in);
}

Test(frame, partial_header_and_body)
{
    assay_buf in = raw(B("\x00\x00\x00\x04\x81\xa1k\x07"));
    json_t *m = NULL;

    for (in.len = 0; in.len < in.cap; in.len++)
        cr_expect_eq(assay_frame_next(&in, 64, &m, NULL, 0), 0,
                     "%zu bytes are not a frame", in.len);
    cr_assert_eq(assay_frame_next(&in, 64, &m, NULL, 0), 1);
    expect_json(m, "{\"k\": 7}");
    assay_buf_fini(&in);
}

Test(frame, put_refuses_oversized)
{
    size_t big = ASSAY_FRAME_MAX + 1;
    char *text = malloc(big + 1);
    assay_buf out = {0};

    memset(text, 'a', big);
    text[big] = '\0';
    json_t *m = json_pack("{s:s}", "k", text);
    cr_expect_eq(assay_frame_put(&out, m), ASSAY_ETOOBIG);
    cr_expect_eq(out.len, 0, "nothing appended");
    json_decref(m);
    free(text);
    assay_buf_fini(&out);
}

/* A message of more values than a JSON tree may be built from (a million
 * empty maps in a MiB) is refused before any is built; the same bytes as
 * a log entry (assay_codec_unpack) still decode, since committed entries
 * must replay. */
Test(codec, value_count_limit)
{
    size_t n = ASSAY_CODEC_MAX_VALUES; /* the array itself makes one more */
    uint8_t *buf = malloc(5 + n);
    cr_assert_not_null(buf);
    buf[0] = 0xdd;
    for (int k = 0; k < 4; k++)
        buf[1 + k] = (uint8_t)(n >> (24 - 8 * k));
    memset(buf + 5, 0x80, n); /* empty maps */
    json_t *out = NULL;
    char err[256] = "";
    cr_expect_eq(assay_codec_decode(buf, 5 + n, &out, err, sizeof err),
                 ASSAY_ETOOBIG);
    cr_expect(strstr(err, "more than 262144 values"), "%s", err);
    cr_expect_null(out);
    msgpack_zone *zone = msgpack_zone_new(4096);
    msgpack_object obj;
    cr_expect_eq(assay_codec_unpack(buf, 5 + n, zone, &obj, err, sizeof err),
                 0, "%s", err);
    msgpack_zone_free(zone);
    /* One value fewer decodes. */
    n--;
    for (int k = 0; k < 4; k++)
        buf[1 + k] = (uint8_t)(n >> (24 - 8 * k));
    cr_expect_eq(assay_codec_decode(buf, 5 + n, &out, err, sizeof err), 0,
                 "%s", err);
    json_decref(out);
    free(buf);
}
