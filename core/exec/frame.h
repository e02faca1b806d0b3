/* core/exec/frame.h - length-prefixed msgpack frames on a byte stream.
 *
 * The daemon and its executors talk over a socketpair: each frame is a
 * 4-byte big-endian length followed by one msgpack map. Buffers grow as
 * needed; a frame longer than the reader's limit is a protocol error, so a
 * misbehaving peer cannot make the other side allocate without bound. */
#ifndef ASSAY_CORE_FRAME_H
#define ASSAY_CORE_FRAME_H

#include <stddef.h>

#include <jansson.h>

#define ASSAY_FRAME_MAX (16u << 20)

typedef struct assay_buf {
    char *data;
    size_t len; /* bytes held */
    size_t off; /* bytes already consumed / written */
    size_t cap;
} assay_buf;

void assay_buf_fini(assay_buf *b);

/* Appends one encoded frame holding `msg`. */
int assay_frame_put(assay_buf *out, const json_t *msg);

/* Writes what it can of `out` to a non-blocking fd. Returns 0 when the
 * buffer is empty, ASSAY_EBUSY when bytes remain, ASSAY_EIO on error. */
int assay_frame_flush(int fd, assay_buf *out);

/* Reads what is available. Returns bytes read (> 0), 0 on end of stream,
 * ASSAY_EBUSY when nothing is ready, ASSAY_EIO on error. */
int assay_frame_fill(int fd, assay_buf *in);

/* Extracts one complete frame: 1 = *msg set, 0 = need more bytes,
 * negative = protocol error described in err. */
int assay_frame_next(assay_buf *in, size_t max, json_t **msg, char *err,
                     size_t errlen);

#endif
