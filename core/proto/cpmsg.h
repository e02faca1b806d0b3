/* core/proto/cpmsg.h - the control plane's messages, typed
 * (docs/protocol.md, "Control-plane services"): the reply envelope every
 * service answers with, and the requests of assay.job, assay.jobs,
 * assay.cancel, assay.cluster, assay.keys and assay.enrol, packed and read here and nowhere else
 * (a JobSpec, assay.submit's body, is job/jobspec's). The member reads
 * requests with these and replies with the envelope; the client library,
 * assayctl and assay-bench pack requests and read replies with them.
 *
 * Readers fill a struct whose strings point into the body they were
 * given; on bad input they return ASSAY_EINVAL or ASSAY_ETYPE and say in
 * err what is wrong, naming the service and the field. */
#ifndef ASSAY_CORE_PROTO_CPMSG_H
#define ASSAY_CORE_PROTO_CPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/errtext.h"

/* The most ids one assay.cancel names. */
#define ASSAY_CP_MAX_IDS 100000

/* ---- replies -------------------------------------------------------- */

/* body with "ok": true; takes the reference. */
json_t *assay_cp_ok(json_t *body);
/* {ok: false, error: NAME, code, message}. */
json_t *assay_cp_error(int code, const char *fmt, ...) ASSAY_PRINTF(2, 3);

/* What a reply says besides its service's own fields. */
typedef struct assay_cp_reply {
    bool ok;
    int code;            /* 0 when ok; ASSAY_EPROTO when a refusal has none */
    const char *error;   /* the code's name, "" when ok */
    const char *message; /* "" when ok or not said */
    const char *spec;    /* the JobSpec a submit reply is about, or NULL */
    const char *leader;  /* ASSAY_ENOTLEADER: where the leader is, or NULL */
    const char *events;  /* ... and its event stream, or NULL */
} assay_cp_reply;

/* Reads the envelope of `body`; anything that is not a map is a refusal
 * with ASSAY_EPROTO. */
void assay_cp_read_reply(const json_t *body, assay_cp_reply *out);

/* ---- requests ------------------------------------------------------- */

/* assay.job: {id}, a job's or a JobSpec's. The reader gives NULL when
 * there is no string id (the member answers that no such job exists). */
json_t *assay_cp_pack_job(const char *id);
const char *assay_cp_read_job(const json_t *body);

/* assay.jobs: a page of jobs, or (op cancel / restart) every job a
 * filter matches, changed or (dry_run) counted. The reader checks types;
 * the state's name and the ids are the member's to check against what it
 * holds. */
typedef enum assay_cp_jobs_op {
    ASSAY_CP_JOBS_LIST,
    ASSAY_CP_JOBS_CANCEL,
    ASSAY_CP_JOBS_RESTART,
} assay_cp_jobs_op;

typedef struct assay_cp_jobs {
    assay_cp_jobs_op op;
    const char *state;    /* a job state's name, or NULL: any */
    const char *spec;     /* only this JobSpec's jobs, or NULL */
    const char *schedule; /* only the runs of this schedule, or NULL */
    const char *action;   /* only jobs of this "plugin.action", or NULL */
    const char *runtime;  /* only jobs whose latest attempt ran there */
    const char *after;    /* the previous page's "next", or NULL */
    const json_t *labels; /* a map of strings every job's labels hold */
    int64_t since_ms, until_ms; /* submitted within; 0: unbounded */
    int64_t limit;        /* jobs in the page; 0: the member's most */
    bool dry_run;         /* cancel, restart: only count */
    bool evidence;        /* list: each job as its evidence record
                             (view "evidence"; docs/evidence.md) */
} assay_cp_jobs;

/* The op's name, or NULL out of range. */
const char *assay_cp_jobs_op_name(int op);
json_t *assay_cp_pack_jobs(const assay_cp_jobs *req);

int assay_cp_read_jobs(const json_t *body, assay_cp_jobs *out, char *err,
                       size_t errlen);

/* assay.cancel: {ids: [job or JobSpec id, ...]}. Ids that are not strings
 * are reported back as unknown, so reading checks only the list. */
json_t *assay_cp_pack_cancel(const char *const *ids, size_t n, char *err,
                             size_t errlen);
int assay_cp_read_cancel(const json_t *body, const json_t **ids, char *err,
                         size_t errlen);

/* assay.cluster: {op[, id][, address][, level]}. */
typedef enum assay_cp_cluster_op {
    ASSAY_CP_CLUSTER_STATUS,
    ASSAY_CP_CLUSTER_ADD,
    ASSAY_CP_CLUSTER_REMOVE,
    ASSAY_CP_CLUSTER_TRANSFER,
    ASSAY_CP_CLUSTER_UPGRADE,
    ASSAY_CP_CLUSTER_DEMOTE,
} assay_cp_cluster_op;

/* What an op needs (a member id, an address, a level in the range the
 * leader speaks) is the member's to check, after it knows it leads: the
 * reader gives -1, NULL and 0 for what is missing or mistyped. */
typedef struct assay_cp_cluster {
    assay_cp_cluster_op op;
    int64_t id;          /* add, remove, demote: > 0; transfer: 0 = any */
    const char *address; /* add: HOST:PORT */
    int64_t level;       /* upgrade: from 1 to what the leader speaks */
} assay_cp_cluster;

/* The op's name ("status", "add", ...), or NULL when out of range. */
const char *assay_cp_cluster_op_name(int op);
/* {op, id when >= 0, address when set, level when > 0}. */
json_t *assay_cp_pack_cluster(const assay_cp_cluster *req);
/* A missing op is "status"; an unknown one is ASSAY_EINVAL. */
int assay_cp_read_cluster(const json_t *body, assay_cp_cluster *out,
                          char *err, size_t errlen);

/* assay.keys (admin): {op: "list" | "enroll" | "revoke", name?, role?,
 * ttl_s?}. */
typedef enum assay_cp_keys_op {
    ASSAY_CP_KEYS_LIST,
    ASSAY_CP_KEYS_ENROLL,
    ASSAY_CP_KEYS_REVOKE,
} assay_cp_keys_op;

/* Longest a token may live, and how long one lives unless asked. */
#define ASSAY_CP_TOKEN_TTL_MAX (7 * 86400)
#define ASSAY_CP_TOKEN_TTL_DEFAULT 3600

typedef struct assay_cp_keys {
    assay_cp_keys_op op;
    const char *name; /* enroll, revoke: an identifier */
    const char *role; /* enroll: runtime, submit, read or admin */
    int64_t ttl_s;    /* enroll: 1 to ASSAY_CP_TOKEN_TTL_MAX */
} assay_cp_keys;

json_t *assay_cp_pack_keys(const assay_cp_keys *req);
/* Checks what each op needs; a missing op is "list", ttl_s defaults. */
int assay_cp_read_keys(const json_t *body, assay_cp_keys *out, char *err,
                       size_t errlen);

/* assay.schedule: {op, id?, schedule?, note?, from?, to?, dry_run?,
 * after?, limit?} (docs/protocol.md#assayschedule). list and show need a
 * read role; the others submit (on the schedules its key made) or
 * admin. */
typedef enum assay_cp_sched_op {
    ASSAY_CP_SCHED_LIST,
    ASSAY_CP_SCHED_SHOW,
    ASSAY_CP_SCHED_CREATE,
    ASSAY_CP_SCHED_PAUSE,
    ASSAY_CP_SCHED_RESUME,
    ASSAY_CP_SCHED_TRIGGER,
    ASSAY_CP_SCHED_BACKFILL,
    ASSAY_CP_SCHED_DELETE,
} assay_cp_sched_op;

/* A page of `schedule list`, at most. */
#define ASSAY_CP_SCHED_PAGE 1000

typedef struct assay_cp_sched {
    assay_cp_sched_op op;
    const char *id;         /* all but list and create */
    const json_t *schedule; /* create: the definition (docs/schedules.md) */
    const char *note;       /* pause: why (optional, at most 500 bytes) */
    const char *from, *to;  /* backfill: RFC 3339 times, from < to */
    bool dry_run;           /* backfill: only say how many would run */
    const char *after;      /* list: the page after this id */
    int64_t limit;          /* list: 1 .. ASSAY_CP_SCHED_PAGE */
} assay_cp_sched;

/* The op's name, or NULL out of range. */
const char *assay_cp_sched_op_name(int op);
json_t *assay_cp_pack_sched(const assay_cp_sched *req);
/* A missing op is "list"; what each op needs is checked (the definition
 * itself by core/sched/def.c). */
int assay_cp_read_sched(const json_t *body, assay_cp_sched *out, char *err,
                        size_t errlen);

/* assay.enrol (a guest): {name, secret}: the token's secret (hex) for the
 * name it was made for. */
typedef struct assay_cp_enrol {
    const char *name, *secret;
} assay_cp_enrol;

json_t *assay_cp_pack_enrol(const assay_cp_enrol *req);
int assay_cp_read_enrol(const json_t *body, assay_cp_enrol *out, char *err,
                        size_t errlen);

/* assay.stream: {op?, from?, max?, wait_ms?, consumer?, position?, ack?}
 * (docs/protocol.md#assaystream). read (the default op): ended jobs'
 * evidence records after `from` (else after the consumer's position,
 * else from the start), at most `max`, waiting up to wait_ms for one,
 * acknowledging `ack` for the consumer on the way (one request a page);
 * ack: the consumer has everything up to `position`; consumers: each
 * consumer's position and lag; delete: the consumer goes. */
typedef enum assay_cp_stream_op {
    ASSAY_CP_STREAM_READ,
    ASSAY_CP_STREAM_ACK,
    ASSAY_CP_STREAM_CONSUMERS,
    ASSAY_CP_STREAM_DELETE,
} assay_cp_stream_op;
#define ASSAY_CP_STREAM_PAGE 1000      /* records one read returns at most */
#define ASSAY_CP_STREAM_WAIT_MAX 30000 /* ms a read may wait */

typedef struct assay_cp_stream {
    assay_cp_stream_op op;
    const char *consumer; /* an identifier; ack and delete need one */
    int64_t from;         /* read: -1 when not given */
    int64_t max;          /* read: 1 to ASSAY_CP_STREAM_PAGE */
    int64_t wait_ms;      /* read: 0 to ASSAY_CP_STREAM_WAIT_MAX */
    int64_t position;     /* ack: >= 0 */
    int64_t ack;          /* read: acknowledged too (0: nothing to) */
} assay_cp_stream;

json_t *assay_cp_pack_stream(const assay_cp_stream *req);
/* Checks what each op needs; a missing op is "read", max defaults to
 * ASSAY_CP_STREAM_PAGE and wait_ms to 0. */
int assay_cp_read_stream(const json_t *body, assay_cp_stream *out, char *err,
                         size_t errlen);

#endif
