/* tests/fuzz/fuzz_codec.c - the msgpack codec both ways on one input.
 *
 * As msgpack: assay_codec_decode must refuse or return a value, and a value
 * it returns must survive encode + decode unchanged. As JSON text (when it
 * is some): every JSON value must encode and decode back to itself, which
 * catches valid values the decoder wrongly refuses. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "base/codec.h"
#include "fuzz.h"

/* Encodes v and decodes the result, which must equal v. */
static void round_trip(const json_t *v)
{
    char err[ASSAY_ERRMSG_SIZE];
    json_t *again = NULL;
    char *buf;
    size_t len;

    if (assay_codec_encode(v, &buf, &len) != 0 ||
        assay_codec_decode(buf, len, &again, err, sizeof err) != 0 ||
        !json_equal(v, again))
        abort();
    free(buf);
    json_decref(again);
}

/* Whether v is within what the decoder accepts by design: at most
 * ASSAY_CODEC_MAX_DEPTH nested containers, map keys of at most 255 bytes. */
static bool within_limits(const json_t *v, int containers)
{
    const char *key;
    json_t *item;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v))
        return true;
    if (++containers > ASSAY_CODEC_MAX_DEPTH)
        return false;
    if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, key, item) {
            if (strlen(key) > 255 || !within_limits(item, containers))
                return false;
        }
        return true;
    }
    json_array_foreach (v, i, item) {
        if (!within_limits(item, containers))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ASSAY_ERRMSG_SIZE];
    json_t *v = NULL;

    if (assay_codec_decode(data, size, &v, err, sizeof err) == 0) {
        round_trip(v);
        json_decref(v);
    }
    v = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (v && within_limits(v, 0))
        round_trip(v);
    json_decref(v);
    return 0;
}
