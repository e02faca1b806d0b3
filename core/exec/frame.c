/* core/exec/frame.c - length-prefixed msgpack frames (see frame.h). */
#include "exec/frame.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/codec.h"
#include "base/errtext.h"

void assay_buf_fini(assay_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Makes room for `more` bytes after compacting consumed ones. */
static int s_reserve(assay_buf *b, size_t more)
{
    if (b->off && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + more <= b->cap)
        return 0;
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap)
            return 0;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown)
        return ASSAY_ENOMEM;
    b->data = grown;
    b->cap = cap;
    return 0;
}

int assay_frame_put(assay_buf *out, const json_t *msg)
{
    char *body;
    size_t len;
    int rc = assay_codec_encode(msg, &body, &len);
    if (rc)
        return rc;
    if (len > ASSAY_FRAME_MAX || (rc = s_reserve(out, len + 4))) {
        free(body);
        return rc ? rc : ASSAY_ETOOBIG;
    }
    uint8_t *h = (uint8_t *)out->data + out->len;
    h[0] = (uint8_t)(len >> 24);
    h[1] = (uint8_t)(len >> 16);
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    memcpy(h + 4, body, len);
    out->len += len + 4;
    free(body);
    return 0;
}

int assay_frame_flush(int fd, assay_buf *out)
{
    while (out->off < out->len) {
        ssize_t n = write(fd, out->data + out->off, out->len - out->off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return ASSAY_EBUSY;
        if (n <= 0)
            return ASSAY_EIO;
        out->off += (size_t)n;
    }
    out->off = out->len = 0;
    return 0;
}

int assay_frame_fill(int fd, assay_buf *in)
{
    int rc = s_reserve(in, 65536);
    if (rc)
        return rc;
    for (;;) {
        ssize_t n = read(fd, in->data + in->len, in->cap - in->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return ASSAY_EBUSY;
        if (n < 0)
            return ASSAY_EIO;
        in->len += (size_t)n;
        return (int)n;
    }
}

int assay_frame_next(assay_buf *in, size_t max, json_t **msg, char *err,
                     size_t errlen)
{
    size_t avail = in->len - in->off;
    if (avail < 4)
        return 0;
    const uint8_t *h = (const uint8_t *)in->data + in->off;
    size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 |
                 (size_t)h[2] << 8 | h[3];
    if (len > max || len == 0)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "frame of %zu bytes (limit %zu)", len, max);
    if (avail < len + 4)
        return 0;
    int rc = assay_codec_decode(h + 4, len, msg, err, errlen);
    in->off += len + 4;
    if (rc)
        return rc;
    if (!json_is_object(*msg)) {
        json_decref(*msg);
        *msg = NULL;
        return assay_errf(err, errlen, ASSAY_EPROTO, "frame is not a map");
    }
    return 1;
}
