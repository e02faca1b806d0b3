/* core/bin/ctl_cluster.h - assayctl's commands that talk to a cluster
 * member over the control-plane protocol (docs/protocol.md). */
#ifndef ASSAY_CTL_CLUSTER_H
#define ASSAY_CTL_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

typedef struct assay_ctl_opts {
    bool json, wait, rescan;
    const char *endpoint;    /* --endpoint, $ASSAY_ENDPOINT, default */
    const char *events;      /* --events, $ASSAY_EVENTS, default */
    const char *modules_dir; /* where the transport module is */
    const char *state;       /* jobs --state */
    const char *topic;       /* watch --topic */
    json_t *labels;          /* jobs --label k=v (object) */
    long count;              /* watch --count: stop after N events */
    int64_t timeout_ms;      /* per request */
    int64_t wait_ms;         /* wait/submit --wait/watch bound; 0 = none */
    const char *keys_dir;    /* --keys-dir; NULL: cluster/keys.h's default */
    const char *key;         /* --key; NULL: operator */
    bool plain;              /* --security none ($ASSAY_SECURITY) */
    const char *name, *role, *ttl; /* keys enroll --name, --role, --ttl */
    const char *note;             /* schedule pause --note */
    /* jobs --schedule, --action, --runtime, --since, --until, --limit
     * (0: all), --cancel / --restart (by filter) */
    const char *schedule, *action, *runtime, *since, *until;
    long limit;
    int bulk; /* assay_cp_jobs_op */
    const char *from, *to;        /* schedule backfill --from, --to */
    bool dry_run;                 /* schedule backfill --dry-run */
    const char *format, *run;     /* export --format, --run */
    const char *consumer;         /* watch --consumer */
} assay_ctl_opts;

/* Runs submit, job, jobs, wait, cancel, runtimes, plugins or watch;
 * returns the process exit code. */
int assay_ctl_cluster(const char *cmd, char **args, int nargs,
                      const assay_ctl_opts *o);

/* A connection for several requests (pages): open gives 0 or the exit
 * code after saying why; call gives the reply body (the caller's) or NULL
 * with *code set after saying why. */
typedef struct assay_ctl_session assay_ctl_session;
int assay_ctl_open(const assay_ctl_opts *o, assay_ctl_session **out);
json_t *assay_ctl_call(assay_ctl_session *self, const char *service,
                       json_t *body, int *code);
/* The same in two steps, so that several requests are in flight: send
 * gives 0 and a ticket or the exit code after saying why; await gives
 * that ticket's reply like call. Mind that replies of one service come
 * back in the order asked (MDP has no request ids). */
int assay_ctl_send(assay_ctl_session *self, const char *service,
                   json_t *body, uint64_t *ticket);
json_t *assay_ctl_await(assay_ctl_session *self, uint64_t ticket, int *code);
void assay_ctl_close(assay_ctl_session **self_p);

/* One request to the cluster: 0 and *reply (the caller's), or the exit
 * code after saying why on stderr. */
int assay_ctl_request(const assay_ctl_opts *o, const char *service,
                      json_t *body, json_t **reply);

#endif
