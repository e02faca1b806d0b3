/* core/member/leader.h - the member role: owns the control-plane endpoint, the
 * event stream, the replicated state (through the consensus module), the
 * queue, the dispatcher, leases, heartbeats and the notification hook.
 * Protocol: docs/protocol.md. */
#ifndef ASSAY_CORE_LEADER_H
#define ASSAY_CORE_LEADER_H

#include <stddef.h>

#include "base/conf.h"
#include "base/loop.h"

typedef struct assay_leader assay_leader;

/* Binds conf->listen and conf->events, loads the consensus module and
 * plugs everything into `loop`. */
int assay_leader_new(const assay_conf *conf, const char *node_id,
                     assay_loop *loop, assay_leader **out, char *err,
                     size_t errlen);
void assay_leader_destroy(assay_leader **self_p);
/* One line for systemd's STATUS=: "member ID leads" or "member ID
 * follows LEADER" (or "... no leader known"). */
void assay_leader_status(assay_leader *self, char *buf, size_t len);
/* GET /api/v1/status: the member, its cluster, stats, runtimes and the
 * latest failures as JSON (malloc'd), or NULL (core/member/status.c). */
char *assay_leader_status_json(assay_leader *self, size_t *len);
/* Appends the member's metrics (docs/operations.md#metrics) to e
 * (core/member/metrics.c). */
struct assay_expo;
void assay_leader_metrics(assay_leader *self, struct assay_expo *e);
/* The wall clock (ms since the epoch) schedules fire by; NULL: the
 * system's. For tests and benchmarks that must not wait for fire times. */
void assay_leader_set_clock(assay_leader *self, int64_t (*wall)(void *arg),
                            void *arg);

#endif
