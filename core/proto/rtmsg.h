/* core/proto/rtmsg.h - the runtime link's messages, typed
 * (docs/protocol.md, "Runtime protocol"): what a dispatch, an ack, a
 * cancel, a heartbeat and a result hold, packed and read here and nowhere
 * else. Readers take the decoded body and fill a struct whose strings
 * point into it; they never fail on a missing optional field, and say
 * false when a required one is missing or mistyped. */
#ifndef ASSAY_CORE_PROTO_RTMSG_H
#define ASSAY_CORE_PROTO_RTMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <msgpack.h>

/* A job id's bytes at most (the member's ASSAY_JOB_ID_MAX). */
#define ASSAY_RTMSG_JOB_MAX 95

/* A job's attempt, as acks, cancels and "running" lists name it. */
typedef struct assay_rtmsg_attempt {
    const char *job;
    int64_t attempt;
    bool stale; /* acks: what was reported was not the current attempt */
} assay_rtmsg_attempt;

/* One job of a "dispatch". */
typedef struct assay_rtmsg_dispatch {
    const char *job, *action, *version;
    int64_t attempt, timeout_ms;
    /* Packing: the params map as msgpack (as the log holds it). */
    const void *params;
    size_t params_len;
    /* Reading: the params map. */
    const json_t *params_json;
} assay_rtmsg_dispatch;

/* Credit and liveness, which heartbeats and results carry. */
typedef struct assay_rtmsg_alive {
    int64_t limit;            /* dispatches it may have had in all; -1: none */
    int64_t mem_available_mb; /* -1: not said */
    const char *why;          /* why it grants no credit; NULL: not said */
    const json_t *running;    /* the attempts it holds (array), or NULL */
} assay_rtmsg_alive;

/* One report of a "result". */
typedef struct assay_rtmsg_result {
    const char *job; /* NULL when the item names none */
    int64_t attempt;
    json_t *result;  /* the result map, or NULL when it is not one */
} assay_rtmsg_result;

/* ---- member -> runtime ------------------------------------------------- */

/* Appends one item of a dispatch's "jobs". */
void assay_rtmsg_pack_dispatch(msgpack_packer *pk,
                               const assay_rtmsg_dispatch *d);
/* Appends one ack: {job, attempt[, stale: true]}. */
void assay_rtmsg_pack_ack(msgpack_packer *pk, const assay_rtmsg_attempt *a);

/* One item of a dispatch's "jobs": false when malformed (a job id over
 * ASSAY_RTMSG_JOB_MAX bytes, no attempt or timeout, params not a map). */
bool assay_rtmsg_read_dispatch(const json_t *item, assay_rtmsg_dispatch *d);
/* An ack, a cancel's body, or an item of a "running" list: false without
 * a job id. */
bool assay_rtmsg_read_attempt(const json_t *item, assay_rtmsg_attempt *a);

/* ---- runtime -> member ------------------------------------------------- */

/* The credit and liveness fields of a heartbeat's or a result's body. */
void assay_rtmsg_read_alive(const json_t *body, assay_rtmsg_alive *a);
/* One item of a result's "results". */
void assay_rtmsg_read_result(const json_t *item, assay_rtmsg_result *r);

#endif
