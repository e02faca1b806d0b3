/* tests/fuzz/fuzz_register.c - a runtime's registration as a member
 * receives it: msgpack bytes decoded as the wire decodes them, then
 * checked (core/cluster/registration.c). Whatever the bytes: no crash, no leak,
 * and a body that passes meets every cap the member promises. */
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "cluster/registration.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    char err[256];
    if (assay_codec_decode(data, size, &body, err, sizeof err) != 0)
        return 0;
    if (!assay_registration_fault(body)) {
        const json_t *labels = json_object_get(body, "labels");
        const json_t *cat = json_object_get(body, "catalog");
        if (!json_is_object(labels) ||
            json_object_size(labels) > ASSAY_LABELS_MAX ||
            json_array_size(json_object_get(cat, "plugins")) >
                ASSAY_CATALOG_MAX_PLUGINS ||
            json_dumpb(cat, NULL, 0, JSON_COMPACT) > ASSAY_CATALOG_MAX_BYTES)
            abort(); /* accepted past a cap */
    }
    json_decref(body);
    return 0;
}
