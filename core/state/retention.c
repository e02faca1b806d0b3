/* core/state/retention.c - which terminal jobs fall out of the state.
 *
 * The leader asks, then commits what falls out as an "expire" command, so
 * every member forgets the same jobs whatever its clock says: the choice
 * is the leader's, the forgetting is replicated. */
#include "internal.h"

/* How many held jobs one call walks past per job it may return. */
#define SCAN_FACTOR 4

size_t assay_state_expirable(const assay_state *self,
                             const assay_retention *policy, int64_t now_ms,
                             json_t *ids, size_t max)
{
    size_t n = 0, scanned = 0, over = 0;
    if (policy->keep_jobs > 0 && self->n_done > (size_t)policy->keep_jobs)
        over = self->n_done - (size_t)policy->keep_jobs;
    int64_t cutoff = policy->keep_ms > 0 ? now_ms - policy->keep_ms : 0;
    for (const assay_job *j = self->done.head;
         j && n < max && scanned < max * SCAN_FACTOR; j = j->next) {
        scanned++;
        /* The list is in end order: past the first young job, only the
         * count bound can still take more. */
        bool old = cutoff && j->ended_ms < cutoff;
        if (!old && n >= over)
            break;
        if (policy->hold && policy->hold(policy->arg, j))
            continue;
        json_array_append_new(ids, json_string(j->id));
        n++;
    }
    return n;
}
