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
/* Appends one attempt: {job, attempt[, stale: true]} (an ack, or an item
 * of a "running" list). */
void assay_rtmsg_pack_attempt(msgpack_packer *pk,
                              const assay_rtmsg_attempt *a);

/* One item of a dispatch's "jobs": false when malformed (a job id over
 * ASSAY_RTMSG_JOB_MAX bytes, no attempt or timeout, params not a map). */
bool assay_rtmsg_read_dispatch(const json_t *item, assay_rtmsg_dispatch *d);
/* An ack, a cancel's body, or an item of a "running" list: false without
 * a job id. */
bool assay_rtmsg_read_attempt(const json_t *item, assay_rtmsg_attempt *a);

/* ---- runtime -> member ------------------------------------------------- */

/* Credit and liveness as a runtime sends them. */
typedef struct assay_rtmsg_credit {
    const char *id;
    int64_t limit;
    int64_t mem_available_mb; /* < 0: not sent */
    const char *why;          /* NULL: not sent */
} assay_rtmsg_credit;

/* A registration's fields besides those the packer is given. */
typedef struct assay_rtmsg_register {
    const char *id;
    int64_t heartbeat_ms;
    const json_t *labels;  /* a map of strings */
    int64_t slots, memory_mb;
    int64_t memory_total_mb; /* what jobs' requests are reserved against;
                                0: not said */
    int64_t executors;       /* jobs it runs at once; 0: not said */
    int64_t cpus;            /* CPUs jobs' requests are reserved against;
                                0: not said */
    const json_t *catalog; /* assay_catalog_json's shape */
    /* {hostname, os, kernel, machine_id} (assay_hostfacts); NULL: none. */
    const json_t *host;
} assay_rtmsg_register;

/* A registration; then "running": the caller appends nrunning attempts
 * (assay_rtmsg_pack_attempt). It says acks may ride on dispatches. */
void assay_rtmsg_pack_register(msgpack_packer *pk,
                               const assay_rtmsg_register *r,
                               size_t nrunning);
/* A heartbeat; then "running" as above. */
void assay_rtmsg_pack_heartbeat(msgpack_packer *pk,
                                const assay_rtmsg_credit *c,
                                size_t nrunning);
/* A catalogue update: {id, catalog}. */
void assay_rtmsg_pack_catalog(msgpack_packer *pk, const char *id,
                              const json_t *catalog);
/* A "result" message carrying n reports, which the caller appends: each
 * assay_rtmsg_pack_report, then its result map. */
void assay_rtmsg_pack_results(msgpack_packer *pk, const char *id,
                              int64_t limit, size_t n);
void assay_rtmsg_pack_report(msgpack_packer *pk, const char *job,
                             int64_t attempt);

/* The credit and liveness fields of a heartbeat's or a result's body. */
void assay_rtmsg_read_alive(const json_t *body, assay_rtmsg_alive *a);
/* One item of a result's "results". */
void assay_rtmsg_read_result(const json_t *item, assay_rtmsg_result *r);

#endif
