/* assay/client.h - libassay-client: a control plane's connection to an
 * Assay cluster (docs/client.md; the wire protocol is docs/protocol.md).
 *
 * One assay_client talks to the members named in its options: requests go
 * to one member, a reply "not the leader" is followed to the leader it
 * names, a member that stays silent is left for the next, and a JobSpec
 * without an id is given one before it is first sent, so that a request
 * sent again after a leader change never submits twice. Calls are
 * synchronous (assay_client_submit ... assay_client_wait) or asynchronous
 * (assay_client_send, then assay_client_next from any loop that polls
 * assay_client_fd). Events of the members' streams arrive through
 * assay_client_next too.
 *
 * Functions return 0 or a negative ASSAY_E* code (assay/error.h): the
 * member's own code when it refused a request (ASSAY_ENOENT, ASSAY_EINVAL,
 * ...), else ASSAY_ETIMEOUT (no answer in time), ASSAY_EINVAL (a bad
 * argument; nothing was sent), ASSAY_EIO or ASSAY_ENOMEM.
 * assay_client_error() says what failed, naming the input or the member.
 *
 * Bodies are jansson values. What a call returns through a json_t ** is
 * the caller's (json_decref); what assay_client_next fills in belongs to
 * the client and stays valid until its next call (json_incref to keep).
 * One client is used by one thread at a time; only assay_client_interrupt
 * may be called meanwhile, from any thread or a signal handler. */
#ifndef ASSAY_CLIENT_H
#define ASSAY_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <assay/error.h>
#include <assay/version.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a declaration below changes incompatibly; structs only grow
 * at their end, and the library reads no field past the `size` given. */
#define ASSAY_CLIENT_ABI 1

typedef struct assay_client assay_client;

typedef struct assay_client_opts {
    uint32_t abi;  /* ASSAY_CLIENT_ABI */
    uint32_t size; /* sizeof(assay_client_opts) */
    /* The members' control-plane endpoints, separated by commas or spaces
     * (at most 8): "tcp://10.0.0.1:7400,tcp://10.0.0.2:7400". NULL or ""
     * for a client that only reads events. */
    const char *endpoints;
    /* The members' event endpoints (at most 15), or NULL for none. */
    const char *events;
    /* A request's whole budget, redirects and retries included; 0: 10000. */
    int64_t timeout_ms;
    /* A member that has not answered the oldest request for this long is
     * left for the next endpoint (when there are several); 0: 1000. */
    int64_t silence_ms;
    /* Largest message accepted; 0: 64 MiB. */
    size_t max_message;
    /* Where the transport module is; NULL: the install this library
     * belongs to. */
    const char *modules_dir;
    /* Security (appended). With ASSAY_CLIENT_SECURITY_CURVE, the default,
     * every link is encrypted, the client presents key `key` (NULL:
     * "operator") from `keys_dir` (NULL: $ASSAY_KEYS_DIR, else
     * $XDG_CONFIG_HOME/assay/keys, else ~/.config/assay/keys) and trusts
     * only the cluster's key there (cluster.key). _NONE talks plain TCP
     * to a cluster run with security = none (docs/security.md). */
    const char *keys_dir;
    const char *key;
    int security;
} assay_client_opts;

enum { ASSAY_CLIENT_SECURITY_CURVE = 0, ASSAY_CLIENT_SECURITY_NONE = 1 };

#define ASSAY_CLIENT_OPTS_INIT {ASSAY_CLIENT_ABI, sizeof(assay_client_opts), \
                                NULL, NULL, 0, 0, 0, NULL, NULL, NULL, 0}

/* Opens a client (no member is contacted yet). On failure *out is NULL
 * and err (when not NULL) says why. */
ASSAY_API int assay_client_new(const assay_client_opts *opts,
                               assay_client **out, char *err, size_t errlen);
ASSAY_API void assay_client_destroy(assay_client **self_p);

/* What the last call that failed on this client said. */
ASSAY_API const char *assay_client_error(const assay_client *self);
/* Static text for an ASSAY_E* code, and its symbolic name. */
ASSAY_API const char *assay_client_strerror(int code);
ASSAY_API const char *assay_client_errname(int code);

/* ---- Synchronous calls ------------------------------------------------ */

/* Calls `service` (e.g. "assay.runtimes") with `body` (a JSON object, not
 * consumed; NULL: {}) and waits for its reply. 0: *reply is the reply map
 * ({"ok": true, ...}). A refusal returns the member's code and, when
 * `reply` is not NULL, the refusal itself ({"ok": false, "error",
 * "code", "message"}). Replies and events for other requests that arrive
 * meanwhile wait for assay_client_next. */
ASSAY_API int assay_client_call(assay_client *self, const char *service,
                                const json_t *body, json_t **reply);

/* assay.submit. A JobSpec without "id" is sent with a random one; the
 * reply's "spec" and "jobs" name what was stored. */
ASSAY_API int assay_client_submit(assay_client *self, const json_t *jobspec,
                                  json_t **reply);
/* assay.job: one job ({"job": ...}) or a JobSpec's ({"spec", "jobs"}). */
ASSAY_API int assay_client_job(assay_client *self, const char *id,
                               json_t **reply);
/* assay.jobs: one page; `filter` is the request ({"state", "spec",
 * "labels", "limit", "after"}; NULL: all). */
ASSAY_API int assay_client_jobs(assay_client *self, const json_t *filter,
                                json_t **reply);
/* assay.cancel of job and/or JobSpec ids. */
ASSAY_API int assay_client_cancel(assay_client *self, const char *const *ids,
                                  size_t n, json_t **reply);
/* Waits until every job of the given job or JobSpec ids has ended
 * (completed, failed or cancelled), at most timeout_ms (<= 0: no bound
 * but each request's). *jobs (when not NULL) is an array of their job
 * records, results included, as last seen: on ASSAY_ETIMEOUT some are
 * still queued or running. */
ASSAY_API int assay_client_wait(assay_client *self, const char *const *ids,
                                size_t n, int64_t timeout_ms, json_t **jobs);
/* The same, calling fn (when not NULL) after each look with the jobs as
 * just seen (the client's, valid during the call): a progress line. */
typedef void (*assay_client_progress_fn)(void *arg, const json_t *jobs);
ASSAY_API int assay_client_wait_progress(assay_client *self,
                                         const char *const *ids, size_t n,
                                         int64_t timeout_ms, json_t **jobs,
                                         assay_client_progress_fn fn,
                                         void *arg);

/* The budget of each request sent from now on (> 0), as timeout_ms in the
 * options; 0 goes back to what the options said. */
ASSAY_API int assay_client_set_timeout(assay_client *self,
                                       int64_t timeout_ms);

/* Ends a wait from anywhere: another thread, or a signal handler (it is
 * async-signal-safe). The synchronous call, assay_client_wait or
 * assay_client_next waiting on this client - or, when none is, the next
 * one that would wait or finds nothing to hand out - returns
 * ASSAY_ECANCELLED, and the request it waited for is abandoned (as by
 * assay_client_abandon). Several interrupts before that count as one. */
ASSAY_API int assay_client_interrupt(assay_client *self);

/* ---- Asynchronous calls and events ------------------------------------ */

/* Sends a request without waiting: *ticket identifies its reply. Any
 * number may be in flight (assay.submit replies are matched by JobSpec
 * id; replies of one other service come in the order sent). */
ASSAY_API int assay_client_send(assay_client *self, const char *service,
                                const json_t *body, uint64_t *ticket);

/* Waits for the reply to ticket (assay_client_send's) as
 * assay_client_call does for its own, leaving other replies and events
 * queued for assay_client_next: a caller keeps several requests in flight
 * (reading the next page while it handles this one) and takes each reply
 * in turn. */
ASSAY_API int assay_client_await(assay_client *self, uint64_t ticket,
                                 json_t **reply);

/* Gives up on ticket's request: its reply, queued or still to come, is
 * never handed out (a reply that comes is still matched to it, so that it
 * is not taken for a later request's). The member may have acted on it
 * already: abandoning is not cancelling. ASSAY_ENOENT: no such request is
 * in flight or queued. */
ASSAY_API int assay_client_abandon(assay_client *self, uint64_t ticket);

/* Subscribes to events whose topic starts with `prefix` ("" = all) on
 * every event endpoint. */
ASSAY_API int assay_client_subscribe(assay_client *self, const char *prefix);

enum {
    ASSAY_CLIENT_REPLY = 1, /* the reply to a ticket (or its failure) */
    ASSAY_CLIENT_EVENT = 2, /* an event: name = topic */
    ASSAY_CLIENT_LIVE = 3   /* an event stream's subscriptions are live */
};

typedef struct assay_client_msg {
    uint32_t size;   /* set by the caller: sizeof(assay_client_msg) */
    uint32_t kind;   /* ASSAY_CLIENT_REPLY, _EVENT or _LIVE */
    uint64_t ticket; /* REPLY: assay_client_send's ticket */
    int status;      /* REPLY: 0, the member's code, or ASSAY_ETIMEOUT */
    char name[64];   /* REPLY: service; EVENT: topic */
    /* EVENT, LIVE: the event endpoint it came from. */
    const char *endpoint;
    /* REPLY: the reply map (NULL when none came); EVENT: its body. Owned
     * by the client until its next call. */
    json_t *body;
} assay_client_msg;

/* Takes the next reply or event: 1 = *msg filled, 0 = none within
 * timeout_ms (0: do not wait; < 0: until one comes), or an error. */
ASSAY_API int assay_client_next(assay_client *self, assay_client_msg *msg,
                                int64_t timeout_ms);

/* For an outside loop: a descriptor that polls readable when
 * assay_client_next may have something, and the milliseconds after which
 * it must be called anyway (timeouts, retries; -1: no such time). Call
 * assay_client_next(..., 0) until it returns 0 whenever either happens. */
ASSAY_API int assay_client_fd(const assay_client *self);
ASSAY_API int64_t assay_client_timeout(const assay_client *self);

#ifdef __cplusplus
}
#endif

#endif
