/* tests/fuzz/fuzz_cpmsg.c - the control plane's messages as the member
 * and the client read them (core/proto/cpmsg.c): msgpack bytes decoded as
 * the wire decodes them, then read as a reply envelope and as each
 * service's request, and a string in it as an enrolment token
 * (core/proto/token.c). Whatever the bytes: no crash, no leak, and what
 * a reader accepts holds what it promises. */
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/ident.h"
#include "fuzz.h"
#include "proto/cpmsg.h"
#include "proto/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = NULL;
    char err[256];
    if (assay_codec_decode(data, size, &body, err, sizeof err) != 0)
        return 0;
    assay_cp_reply r;
    assay_cp_read_reply(body, &r);
    if (!r.error || !r.message || (r.ok && r.code) ||
        (!r.ok && (r.code >= 0 || !*r.error)))
        abort(); /* a refusal without a code, or a success with one */
    assay_cp_read_job(body);
    assay_cp_jobs q;
    if (!assay_cp_read_jobs(body, &q, err, sizeof err)) {
        if ((q.labels && !json_is_object(q.labels)) ||
            !assay_cp_jobs_op_name((int)q.op) || q.since_ms < 0 ||
            q.until_ms < 0 || (q.until_ms && q.until_ms < q.since_ms))
            abort();
        json_t *back = assay_cp_pack_jobs(&q);
        assay_cp_jobs again;
        if (!back || assay_cp_read_jobs(back, &again, err, sizeof err) ||
            again.op != q.op || again.since_ms != q.since_ms ||
            again.until_ms != q.until_ms || again.dry_run != q.dry_run ||
            !again.action != !q.action || !again.schedule != !q.schedule ||
            !again.runtime != !q.runtime)
            abort(); /* what was read does not pack back the same */
        json_decref(back);
    }
    assay_cp_sched sc;
    if (!assay_cp_read_sched(body, &sc, err, sizeof err)) {
        if (!assay_cp_sched_op_name((int)sc.op) ||
            (sc.op == ASSAY_CP_SCHED_LIST &&
             (sc.limit < 1 || sc.limit > ASSAY_CP_SCHED_PAGE)) ||
            (sc.op == ASSAY_CP_SCHED_CREATE && !json_is_object(sc.schedule)) ||
            (sc.op != ASSAY_CP_SCHED_LIST && sc.op != ASSAY_CP_SCHED_CREATE &&
             !sc.id) ||
            (sc.op == ASSAY_CP_SCHED_BACKFILL && (!sc.from || !sc.to)))
            abort();
        json_t *back = assay_cp_pack_sched(&sc);
        assay_cp_sched again;
        if (!back || assay_cp_read_sched(back, &again, err, sizeof err) ||
            again.op != sc.op || again.dry_run != sc.dry_run)
            abort();
        json_decref(back);
    }
    const json_t *ids;
    if (!assay_cp_read_cancel(body, &ids, err, sizeof err) &&
        (!json_is_array(ids) || json_array_size(ids) > ASSAY_CP_MAX_IDS))
        abort();
    assay_cp_cluster c;
    if (!assay_cp_read_cluster(body, &c, err, sizeof err)) {
        if (!assay_cp_cluster_op_name((int)c.op) || c.id < -1 || c.level < 0)
            abort();
        json_t *back = assay_cp_pack_cluster(&c);
        assay_cp_cluster again;
        if (!back || assay_cp_read_cluster(back, &again, err, sizeof err) ||
            again.op != c.op || again.id != c.id || again.level != c.level)
            abort(); /* what was read does not pack back the same */
        json_decref(back);
    }
    assay_cp_keys k;
    if (!assay_cp_read_keys(body, &k, err, sizeof err)) {
        if (k.op != ASSAY_CP_KEYS_LIST && !k.name)
            abort();
        if (k.op == ASSAY_CP_KEYS_ENROLL &&
            (!k.role || k.ttl_s < 1 || k.ttl_s > ASSAY_CP_TOKEN_TTL_MAX))
            abort();
        json_t *back = assay_cp_pack_keys(&k);
        assay_cp_keys again;
        if (!back || assay_cp_read_keys(back, &again, err, sizeof err) ||
            again.op != k.op)
            abort();
        json_decref(back);
    }
    assay_cp_stream st;
    if (!assay_cp_read_stream(body, &st, err, sizeof err)) {
        if ((unsigned)st.op > ASSAY_CP_STREAM_DELETE ||
            (st.consumer && !assay_ident_valid(st.consumer, 63)) ||
            ((st.op == ASSAY_CP_STREAM_ACK ||
              st.op == ASSAY_CP_STREAM_DELETE) &&
             !st.consumer) ||
            (st.op == ASSAY_CP_STREAM_ACK && st.position < 0) ||
            (st.op == ASSAY_CP_STREAM_READ &&
             (st.from < -1 || st.max < 1 || st.max > ASSAY_CP_STREAM_PAGE ||
              st.wait_ms < 0 || st.wait_ms > ASSAY_CP_STREAM_WAIT_MAX)))
            abort();
        json_t *back = assay_cp_pack_stream(&st);
        assay_cp_stream again;
        if (!back || assay_cp_read_stream(back, &again, err, sizeof err) ||
            again.op != st.op || !again.consumer != !st.consumer ||
            (st.consumer && strcmp(again.consumer, st.consumer)) ||
            (st.op == ASSAY_CP_STREAM_ACK &&
             again.position != st.position) ||
            (st.op == ASSAY_CP_STREAM_READ &&
             (again.from != st.from || again.max != st.max ||
              again.wait_ms != st.wait_ms)))
            abort(); /* what was read does not pack back the same */
        json_decref(back);
    }
    assay_cp_enrol e;
    if (!assay_cp_read_enrol(body, &e, err, sizeof err) &&
        (!e.name || !e.secret))
        abort();
    const char *text = json_string_value(json_object_get(body, "token"));
    char key[41], secret[ASSAY_TOKEN_SECRET_HEX], hash[ASSAY_TOKEN_HASH_HEX];
    if (text && !assay_token_read(text, key, secret, err, sizeof err) &&
        (strlen(key) != 40 || assay_token_hash(secret, hash)))
        abort(); /* read, but not a key and a secret */
    json_decref(body);
    return 0;
}
