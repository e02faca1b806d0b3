/* core/proto/rtmsg.c - the runtime link's messages (see rtmsg.h). */
#include "proto/rtmsg.h"

#include <string.h>

#include "base/codec.h"

void assay_rtmsg_pack_dispatch(msgpack_packer *pk,
                               const assay_rtmsg_dispatch *d)
{
    msgpack_pack_map(pk, 6);
    assay_codec_pack_kv_str(pk, "job", d->job);
    assay_codec_pack_kv_int(pk, "attempt", d->attempt);
    assay_codec_pack_kv_str(pk, "action", d->action);
    assay_codec_pack_kv_str(pk, "version", d->version);
    assay_codec_pack_str(pk, "params");
    assay_codec_pack_raw(pk, d->params, d->params_len);
    assay_codec_pack_kv_int(pk, "timeout_ms", d->timeout_ms);
}

void assay_rtmsg_pack_attempt(msgpack_packer *pk,
                              const assay_rtmsg_attempt *a)
{
    msgpack_pack_map(pk, 2 + a->stale);
    assay_codec_pack_kv_str(pk, "job", a->job);
    assay_codec_pack_kv_int(pk, "attempt", a->attempt);
    if (a->stale) {
        assay_codec_pack_str(pk, "stale");
        msgpack_pack_true(pk);
    }
}

static void s_pack_credit(msgpack_packer *pk, const assay_rtmsg_credit *c)
{
    assay_codec_pack_kv_str(pk, "id", c->id);
    assay_codec_pack_kv_int(pk, "limit", c->limit);
    if (c->mem_available_mb >= 0)
        assay_codec_pack_kv_int(pk, "mem_available_mb", c->mem_available_mb);
    if (c->why)
        assay_codec_pack_kv_str(pk, "why", c->why);
}

void assay_rtmsg_pack_register(msgpack_packer *pk,
                               const assay_rtmsg_register *r,
                               size_t nrunning)
{
    msgpack_pack_map(pk, 7 + !!r->host);
    assay_codec_pack_kv_str(pk, "id", r->id);
    if (r->host)
        assay_codec_pack_kv_json(pk, "host", r->host);
    assay_codec_pack_kv_int(pk, "heartbeat_ms", r->heartbeat_ms);
    assay_codec_pack_kv_json(pk, "labels", r->labels);
    assay_codec_pack_str(pk, "capacity");
    msgpack_pack_map(pk, 2 + (r->memory_total_mb > 0) + (r->executors > 0) +
                             (r->cpus > 0));
    assay_codec_pack_kv_int(pk, "slots", r->slots);
    if (r->executors > 0)
        assay_codec_pack_kv_int(pk, "executors", r->executors);
    if (r->cpus > 0)
        assay_codec_pack_kv_int(pk, "cpus", r->cpus);
    assay_codec_pack_kv_int(pk, "memory_mb", r->memory_mb);
    if (r->memory_total_mb > 0)
        assay_codec_pack_kv_int(pk, "memory_total_mb", r->memory_total_mb);
    assay_codec_pack_kv_json(pk, "catalog", r->catalog);
    assay_codec_pack_str(pk, "acks_in_dispatch");
    msgpack_pack_true(pk);
    assay_codec_pack_str(pk, "running");
    msgpack_pack_array(pk, nrunning);
}

void assay_rtmsg_pack_heartbeat(msgpack_packer *pk,
                                const assay_rtmsg_credit *c, size_t nrunning)
{
    msgpack_pack_map(pk, 3 + (c->mem_available_mb >= 0) + (c->why != NULL));
    s_pack_credit(pk, c);
    assay_codec_pack_str(pk, "running");
    msgpack_pack_array(pk, nrunning);
}

void assay_rtmsg_pack_catalog(msgpack_packer *pk, const char *id,
                              const json_t *catalog)
{
    msgpack_pack_map(pk, 2);
    assay_codec_pack_kv_str(pk, "id", id);
    assay_codec_pack_kv_json(pk, "catalog", catalog);
}

void assay_rtmsg_pack_results(msgpack_packer *pk, const char *id,
                              int64_t limit, size_t n)
{
    msgpack_pack_map(pk, 3);
    s_pack_credit(pk, &(assay_rtmsg_credit){.id = id,
                                            .limit = limit,
                                            .mem_available_mb = -1});
    assay_codec_pack_str(pk, "results");
    msgpack_pack_array(pk, n);
}

void assay_rtmsg_pack_report(msgpack_packer *pk, const char *job,
                             int64_t attempt)
{
    msgpack_pack_map(pk, 3);
    assay_codec_pack_kv_str(pk, "job", job);
    assay_codec_pack_kv_int(pk, "attempt", attempt);
    assay_codec_pack_str(pk, "result");
}

static const char *s_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t s_int(const json_t *o, const char *k, int64_t absent)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : absent;
}

bool assay_rtmsg_read_attempt(const json_t *item, assay_rtmsg_attempt *a)
{
    *a = (assay_rtmsg_attempt){.job = s_str(item, "job"),
                               .attempt = s_int(item, "attempt", 0),
                               .stale = json_is_true(
                                   json_object_get(item, "stale"))};
    return a->job != NULL;
}

bool assay_rtmsg_read_dispatch(const json_t *item, assay_rtmsg_dispatch *d)
{
    *d = (assay_rtmsg_dispatch){.job = s_str(item, "job"),
                                .action = s_str(item, "action"),
                                .version = s_str(item, "version"),
                                .attempt = s_int(item, "attempt", 0),
                                .timeout_ms = s_int(item, "timeout_ms", 0),
                                .params_json = json_object_get(item,
                                                               "params")};
    return d->job && strlen(d->job) <= ASSAY_RTMSG_JOB_MAX &&
           d->attempt >= 1 && d->timeout_ms >= 1 &&
           json_is_object(d->params_json);
}

void assay_rtmsg_read_alive(const json_t *body, assay_rtmsg_alive *a)
{
    const json_t *running = json_object_get(body, "running");
    *a = (assay_rtmsg_alive){.limit = s_int(body, "limit", -1),
                             .mem_available_mb =
                                 s_int(body, "mem_available_mb", -1),
                             .why = s_str(body, "why"),
                             .running = json_is_array(running) ? running
                                                               : NULL};
    /* Negative counts say nothing. */
    if (a->limit < 0)
        a->limit = -1;
    if (a->mem_available_mb < 0)
        a->mem_available_mb = -1;
}

void assay_rtmsg_read_result(const json_t *item, assay_rtmsg_result *r)
{
    json_t *res = json_object_get(item, "result");
    *r = (assay_rtmsg_result){.job = s_str(item, "job"),
                              .attempt = s_int(item, "attempt", 0),
                              .result = json_is_object(res) ? res : NULL};
}
