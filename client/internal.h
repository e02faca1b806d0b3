/* client/internal.h - what the client library's files share: the client's
 * struct and the request machinery calls.c builds its calls on. */
#ifndef ASSAY_CLIENT_INTERNAL_H
#define ASSAY_CLIENT_INTERNAL_H

#include <assay/client.h>

#include <stdbool.h>

#include "cluster/keys.h"
#include "cluster/link.h"

#define CL_MAX_ENDPOINTS 8
/* One transport instance holds 16 links. */
#define CL_MAX_EVENTS 15
#define CL_ENDPOINT_MAX 256
/* A JobSpec id (ASSAY_ID_MAX) and its NUL. */
#define CL_SPEC_MAX 65

/* A request in flight, kept encoded to be sent again after a redirect. */
typedef struct cl_req {
    uint64_t ticket;
    char service[64];
    char spec[CL_SPEC_MAX]; /* assay.submit: the JobSpec id */
    char *body;
    size_t len;
    int64_t sent_ms, deadline_ms;
    int64_t retry_ms; /* no leader known: when to ask again (0: not parked) */
    int hops;
    /* Abandoned or timed out: kept only to take its reply when it comes,
     * which would otherwise be taken for the next of its service (MDP has
     * no request ids); never sent again, dropped with the link. */
    bool ghost;
} cl_req;

/* A reply or event waiting for assay_client_next. */
typedef struct cl_done {
    struct cl_done *next;
    uint32_t kind;
    uint64_t ticket;
    int status;
    int ep; /* events: the endpoint's index */
    char name[64];
    json_t *body;
} cl_done;

struct assay_client {
    int64_t timeout_ms, silence_ms;
    int64_t opts_timeout_ms; /* what the options said */
    size_t max_message;
    char modules[4096];
    char endpoints[CL_MAX_ENDPOINTS][CL_ENDPOINT_MAX];
    int nendpoints, current;
    char events[CL_MAX_EVENTS][CL_ENDPOINT_MAX];
    bool live[CL_MAX_EVENTS];
    int nevents;
    bool subscribed;
    assay_keys keys;  /* what its links present (secure: CURVE) */
    assay_link *link; /* requests: a DEALER to endpoints[current] */
    int dealer;
    assay_link *evlink; /* events: SUB link i reads events[i] */
    int epfd;           /* both links' descriptors and `wake` */
    int wake;           /* an eventfd assay_client_interrupt writes */
    cl_req *reqs;       /* in flight, oldest first */
    size_t nreqs, cap;
    cl_done *head, *tail;
    size_t nqueued;
    json_t *held; /* the body assay_client_next handed out last */
    uint64_t tickets;
    char error[512];
};

/* Sets self->error; returns code. */
int cl_fail(assay_client *self, int code, const char *fmt, ...)
    ASSAY_PRINTF(3, 4);
/* The endpoints known, comma-separated (for messages). */
void cl_endpoints(const assay_client *self, char *buf, size_t len);
/* Releases what assay_client_next handed out (every call starts so). */
void cl_release(assay_client *self);
/* Sends a request whose body is already encoded (consumed). */
int cl_send_encoded(assay_client *self, const char *service,
                    const char *spec, char *body, size_t len,
                    uint64_t *ticket);
/* ASSAY_ECANCELLED (error set) when assay_client_interrupt was called
 * since the last look, else 0. */
int cl_interrupted(assay_client *self);
/* Sleeps ms, or less when interrupted: cl_interrupted's answer. */
int cl_sleep(assay_client *self, int64_t ms);
/* Waits for ticket's reply: its status; *reply gets its body. An
 * interrupt abandons it and returns ASSAY_ECANCELLED. */
/* Waits for ticket's reply: its status, body (*reply) and service. */
int cl_await(assay_client *self, uint64_t ticket, json_t **reply,
             char *service, size_t len);

#endif
