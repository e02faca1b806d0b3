/* core/state/fsm.h - the state machine at the level of bytes: a log
 * entry (one msgpack command) in, a snapshot (msgpack) out and back. The
 * one adapter the member (core/member/consensus.c), the raft fixture tests and the
 * fuzz targets share, so that what they test is what runs. */
#ifndef ASSAY_CORE_STATE_FSM_H
#define ASSAY_CORE_STATE_FSM_H

#include <stddef.h>

#include <jansson.h>

#include "state/state.h"

/* Applies one log entry, decoded straight into the state's records (no
 * JSON tree). err says why an entry was refused, naming it. */
int assay_fsm_apply(assay_state *st, const void *buf, size_t len,
                    json_t **result, char *err, size_t errlen);

/* The op of a log entry, copied into op (NULL if it has none). */
const char *assay_fsm_op(assay_state *st, const void *buf, size_t len,
                         char *op, size_t size);

/* The whole state, encoded into a malloc'd buffer (*buf; caller frees):
 * format 1 while the cluster is at level 1, else this build's. */
int assay_fsm_snapshot(const assay_state *st, char **buf, size_t *len);

/* A snapshot made off the loop (snapshotter.h) is a container: the state
 * as a forked child encoded it, then the commands applied since the fork,
 * which restore replays on top. All integers little-endian:
 *
 *     8 bytes "ASSAYSNP"   u32 container version (1)   u32 reserved, 0
 *     u64 base length      base: a plain snapshot (assay_fsm_snapshot)
 *     u32 count            count x { u32 len, len bytes: a log entry }
 *
 * A plain snapshot (what assay_fsm_snapshot writes) starts with a msgpack
 * map, never with "A". */
#define ASSAY_SNAPSHOT_MAGIC "ASSAYSNP"
#define ASSAY_SNAPSHOT_HEADER 24
/* The container version snapshotter.c writes and fsm.c reads. */
#define ASSAY_SNAPSHOT_CONTAINER 1

/* Replaces the state with a snapshot's (plain or container). */
int assay_fsm_restore(assay_state *st, const void *buf, size_t len,
                      char *err, size_t errlen);

#endif
