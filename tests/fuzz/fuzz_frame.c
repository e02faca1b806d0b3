/* tests/fuzz/fuzz_frame.c - a byte stream through assay_frame_next.
 *
 * The first byte picks how many bytes arrive per read (1..16), so that
 * headers and bodies split at every point; the rest is the stream. Frames
 * taken out must be maps that re-frame to themselves. */
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "exec/frame.h"
#include "fuzz.h"

/* Small enough that the fuzzer reaches the limit with short inputs. */
#define MAX_FRAME 4096

static void check_reframes(const json_t *msg)
{
    assay_buf out = {0};
    json_t *back = NULL;

    if (!json_is_object(msg) || assay_frame_put(&out, msg) != 0 ||
        assay_frame_next(&out, ASSAY_FRAME_MAX, &back, NULL, 0) != 1 ||
        !json_equal(msg, back) || out.off != out.len)
        abort();
    json_decref(back);
    assay_buf_fini(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ASSAY_ERRMSG_SIZE];
    assay_buf in = {0};
    size_t step;
    int rc = 0;

    if (size < 1)
        return 0;
    step = data[0] % 16 + 1;
    data++;
    size--;
    in.data = malloc(size + 1);
    if (!in.data)
        return 0;
    memcpy(in.data, data, size);
    in.cap = size;
    /* in.len grows as if each read brought `step` more bytes */
    while (rc >= 0 && in.len < size) {
        json_t *msg = NULL;

        in.len = in.len + step < size ? in.len + step : size;
        while ((rc = assay_frame_next(&in, MAX_FRAME, &msg, err, sizeof err)) ==
               1) {
            check_reframes(msg);
            json_decref(msg);
            msg = NULL;
        }
        if (in.off > in.len)
            abort();
    }
    assay_buf_fini(&in);
    return 0;
}
