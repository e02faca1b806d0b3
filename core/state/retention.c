/* core/state/retention.c - which terminal jobs fall out of the state.
 *
 * The leader asks, then commits what falls out as an "expire" command, so
 * every member forgets the same jobs whatever its clock says: the choice
 * is the leader's, the forgetting is replicated. */
#include "state/internal.h"

#include <stdlib.h>

/* How many held jobs one call walks past per job it may return. */
#define SCAN_FACTOR 4

/* Jobs of JobSpecs with their own retention: the expired part of the heap
 * is a subtree at its root (a node not yet due has no due child), so a
 * walk from the root that stops at nodes not due visits only what is due,
 * and their children. */
static size_t s_from_heap(const assay_state *self,
                          const assay_retention *policy, int64_t now_ms,
                          json_t *ids, size_t max, size_t *scanned)
{
    size_t n = 0, budget = max * SCAN_FACTOR;
    size_t *stack = self->heap_len ? malloc(budget * sizeof *stack) : NULL;
    size_t top = 0;
    if (stack && budget)
        stack[top++] = 0;
    while (top && n < max && *scanned < budget) {
        size_t i = stack[--top];
        const assay_job *j = self->heap[i];
        ++*scanned;
        if (st_expiry(j) >= now_ms)
            continue;
        if (!policy->hold || !policy->hold(policy->arg, j)) {
            json_array_append_new(ids, json_string(j->id));
            n++;
        }
        for (size_t c = 2 * i + 1; c <= 2 * i + 2 && c < self->heap_len; c++)
            if (top < budget)
                stack[top++] = c;
    }
    free(stack);
    return n;
}

size_t assay_state_expirable(const assay_state *self,
                             const assay_retention *policy, int64_t now_ms,
                             json_t *ids, size_t max)
{
    size_t scanned = 0;
    size_t n = s_from_heap(self, policy, now_ms, ids, max, &scanned);
    size_t over = 0;
    if (policy->keep_jobs > 0 && self->n_done > (size_t)policy->keep_jobs)
        over = self->n_done - (size_t)policy->keep_jobs;
    int64_t cutoff = policy->keep_ms > 0 ? now_ms - policy->keep_ms : 0;
    size_t taken = 0;
    for (const assay_job *j = self->done.head;
         j && n < max && scanned < max * SCAN_FACTOR; j = j->next) {
        scanned++;
        /* The list is in end order: past the first young job, only the
         * count bound can still take more. */
        bool old = cutoff && j->ended_ms < cutoff;
        if (!old && taken >= over)
            break;
        if (policy->hold && policy->hold(policy->arg, j))
            continue;
        json_array_append_new(ids, json_string(j->id));
        n++;
        taken++;
    }
    return n;
}
