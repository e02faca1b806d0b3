/* tests/fuzz/fuzz_rtmsg.c - the runtime link's messages as either side
 * reads them (core/proto/rtmsg.c): msgpack bytes decoded as the wire
 * decodes them, then read as a heartbeat or result (the member) and as a
 * dispatch with its acks (the runtime). Whatever the bytes: no crash, no
 * leak, and what a reader accepts holds what it promises. */
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "fuzz.h"
#include "proto/rtmsg.h"

static void s_attempts(const json_t *list)
{
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it) {
        assay_rtmsg_attempt a;
        if (assay_rtmsg_read_attempt(it, &a) && !a.job)
            abort(); /* accepted without a job */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    char err[256];
    if (assay_codec_decode(data, size, &body, err, sizeof err) != 0)
        return 0;
    assay_rtmsg_alive a;
    assay_rtmsg_read_alive(body, &a);
    if (a.limit < -1 || a.mem_available_mb < -1 ||
        (a.running && !json_is_array(a.running)))
        abort(); /* a count that says something it cannot */
    s_attempts(a.running);
    s_attempts(json_object_get(body, "acks"));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(body, "results"), i, it) {
        assay_rtmsg_result r;
        assay_rtmsg_read_result(it, &r);
        if (r.result && !json_is_object(r.result))
            abort();
    }
    json_array_foreach(json_object_get(body, "jobs"), i, it) {
        assay_rtmsg_dispatch d;
        if (assay_rtmsg_read_dispatch(it, &d) &&
            (!d.job || strlen(d.job) > ASSAY_RTMSG_JOB_MAX || d.attempt < 1 ||
             d.timeout_ms < 1 || !json_is_object(d.params_json)))
            abort(); /* a dispatch the runtime would take but cannot hold */
    }
    json_decref(body);
    return 0;
}
