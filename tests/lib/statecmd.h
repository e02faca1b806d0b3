/* tests/lib/statecmd.h - commands applied to a bare state the way a
 * member applies them (log bytes through core/state/fsm.c), for the
 * suites of the state machine itself: a state at a feature level, and a
 * JobSpec run from submission to results with the clocks a leader would
 * have recorded. */
#ifndef ASSAY_TESTS_STATECMD_H
#define ASSAY_TESTS_STATECMD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "state/state.h"

/* Applies cmd (taken) as log bytes; the op's status, err says why. */
int sc_apply(assay_state *st, json_t *cmd, char *err, size_t errlen);
/* sc_apply, asserted to succeed. */
void sc_ok(assay_state *st, json_t *cmd);
/* A new state whose first leader set feature level `level`. */
assay_state *sc_at_level(int64_t level);

/* How sc_run runs a JobSpec: of `action` (NULL: noop.pass), each job
 * dispatched at `start` and its result `took[i]` ms later (took NULL:
 * took_all), kept retain_seconds when above 0. */
typedef struct {
    const char *action;
    int64_t start;
    const int64_t *took;
    int64_t took_all;
    int64_t retain_seconds;
} sc_run_opts;

/* JobSpec `sid` of n jobs (sid-0 ...), submitted, dispatched and ended
 * with a result, each a command of its own. */
void sc_run(assay_state *st, const char *sid, int n, sc_run_opts o);

#endif
