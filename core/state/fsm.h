/* core/state/fsm.h - the state machine at the level of bytes: a log
 * entry (one msgpack command) in, a snapshot (msgpack) out and back. The
 * one adapter the member (core/leader.c), the raft fixture tests and the
 * fuzz targets share, so that what they test is what runs. */
#ifndef ASSAY_CORE_STATE_FSM_H
#define ASSAY_CORE_STATE_FSM_H

#include <stddef.h>

#include <jansson.h>

#include "state.h"

/* Applies one log entry. `decoded` (taken, may be NULL) is the same
 * command already decoded (the leader keeps what it sent), which saves
 * decoding buf. err says why an entry was refused, naming it. */
int assay_fsm_apply(assay_state *st, const void *buf, size_t len,
                    json_t *decoded, json_t **result, char *err,
                    size_t errlen);

/* The whole state, encoded into a malloc'd buffer (*buf; caller frees). */
int assay_fsm_snapshot(const assay_state *st, char **buf, size_t *len);

/* Replaces the state with a snapshot's. */
int assay_fsm_restore(assay_state *st, const void *buf, size_t len,
                      char *err, size_t errlen);

#endif
