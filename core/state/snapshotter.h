/* core/state/snapshotter.h - snapshots made off the member's loop.
 *
 * Encoding the whole state takes time in proportion to it (1.6 s for
 * 200,000 jobs), and the loop must not wait for it. So, as Redis's
 * BGSAVE does, a snapshot is made by a forked child: fork() gives it a
 * frozen copy of the state (copy-on-write), it encodes that into a memfd
 * and exits, while the member goes on applying commands. The commands
 * applied since the fork are kept, and the snapshot the consensus module
 * gets is the child's encoding plus those commands (fsm.h's container),
 * which restore replays: the same state as a stop-the-world dump at the
 * index the module asked for. The loop pays for fork() and mmap(), not
 * for the encoding. */
#ifndef ASSAY_CORE_STATE_SNAPSHOTTER_H
#define ASSAY_CORE_STATE_SNAPSHOTTER_H

#include <stddef.h>

#include "state/state.h"

typedef struct assay_snapshotter assay_snapshotter;

assay_snapshotter *assay_snapshotter_new(void);
/* Kills and reaps a child still encoding. */
void assay_snapshotter_destroy(assay_snapshotter **self_p);

/* Call after applying each command (its log bytes), refused or not. */
int assay_snapshotter_applied(assay_snapshotter *self, const void *cmd,
                              size_t len);

/* The consensus module asks for a snapshot of `st` as it is now. Returns
 * 0 with a snapshot (*buf, *len; release it with assay_snapshot_free) once
 * a child has encoded one; ASSAY_EBUSY while one is being made (the first
 * call forks the child: ask again after more commands); another error if
 * the child failed (the next call tries again). */
int assay_snapshotter_take(assay_snapshotter *self, const assay_state *st,
                           void **buf, size_t *len);

/* The state was replaced (a snapshot restored): what is being made is
 * stale. */
void assay_snapshotter_reset(assay_snapshotter *self);

/* Snapshots made and failed since creation (metrics): how long each took
 * from the fork until the member collected the child's encoding, in
 * buckets of ASSAY_SNAPSHOT_BOUNDS_S (the last: above every bound); the
 * last one's size and the loop's pause for its fork. */
#define ASSAY_SNAPSHOT_BUCKETS 10
extern const double ASSAY_SNAPSHOT_BOUNDS_S[ASSAY_SNAPSHOT_BUCKETS - 1];
typedef struct assay_snapshot_stats {
    uint64_t made, failed;
    uint64_t counts[ASSAY_SNAPSHOT_BUCKETS];
    double sum_s;
    size_t last_bytes;
    double last_fork_s;
} assay_snapshot_stats;
const assay_snapshot_stats *
assay_snapshotter_stats(const assay_snapshotter *self);

/* Releases a snapshot assay_snapshotter_take returned; any thread. */
void assay_snapshot_free(void *buf, size_t len);

#endif
