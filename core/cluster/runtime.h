/* core/cluster/runtime.h - the runtime role: joins a member over the transport,
 * registers (id, labels, capacity, plugin catalogue, heartbeat interval),
 * grants credit from its resource monitor, runs dispatched jobs through
 * the local runner's executor pool, reports results until acknowledged,
 * and pulses heartbeats. Protocol: docs/protocol.md. */
#ifndef ASSAY_CORE_RUNTIME_H
#define ASSAY_CORE_RUNTIME_H

#include <stddef.h>

#include "base/conf.h"
#include "base/loop.h"
#include "exec/runner.h"

typedef struct assay_runtime assay_runtime;

/* `endpoints`: the members to join, space-separated; tried in turn until
 * one answers the registration. */
int assay_runtime_new(const assay_conf *conf, const char *node_id,
                      const char *endpoints, assay_loop *loop,
                      assay_runner *runner, assay_runtime **out, char *err,
                      size_t errlen);
void assay_runtime_destroy(assay_runtime **self_p);
/* An orderly shutdown begins: the leader is told (so that the runtime
 * gets no more jobs and what it runs moves at once, without waiting for
 * missed heartbeats), and it registers and beats no more. Best effort:
 * the loop should turn a little before the runtime is destroyed. */
void assay_runtime_leave(assay_runtime *self);
/* Whether it stopped the loop because it cannot go on (its enrolment was
 * refused): the daemon then exits with a failure. */
bool assay_runtime_failed(const assay_runtime *self);

/* One line for systemd's STATUS=: "runtime ID registered with EP" or
 * "runtime ID looking for a leader". */
void assay_runtime_status(const assay_runtime *self, char *buf, size_t len);
/* Appends the runtime's metrics (docs/operations.md#metrics) to e. */
struct assay_expo;
void assay_runtime_metrics(const assay_runtime *self, struct assay_expo *e);

/* Compares the plugins directory with the catalogue and advertises any
 * change (SIGHUP, `assayctl plugins --rescan`). */
void assay_runtime_rescan(assay_runtime *self);

/* "k=v,k2=v2" -> {"k": "v", ...}; keys [a-z][a-z0-9_-]*. */
int assay_labels_parse(const char *text, json_t **out, char *err,
                       size_t errlen);

#endif
