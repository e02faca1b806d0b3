/* core/state/stream.c - the result stream's positions (level 8;
 * docs/evidence.md#the-result-stream). Every job that ends gets the next
 * position (assay_end.pos), the same on every member; a reader asks for
 * what comes after a position and walks on from each job's. The ended
 * jobs held are kept here in position order: an array of (position,
 * job) appended as jobs end, a job that leaves (expired, restarted)
 * leaving a hole, the holes squeezed out once they are half the array.
 * Jobs of JobSpecs with their own retention end in the same order, so
 * one array serves both retention lists. */
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

struct st_stream {
    struct s_slot {
        uint64_t pos;
        assay_job *job; /* NULL: a hole */
    } *v;
    size_t len, cap, live;
};

st_stream *st_stream_new(void) { return calloc(1, sizeof(st_stream)); }

void st_stream_clear(st_stream *self)
{
    free(self->v);
    memset(self, 0, sizeof *self);
}

void st_stream_destroy(st_stream **self_p)
{
    if (*self_p)
        st_stream_clear(*self_p);
    free(*self_p);
    *self_p = NULL;
}

uint64_t assay_state_stream_end(const assay_state *self)
{
    return self->stream_pos;
}

/* The first slot whose position is above `after`. */
static size_t s_after(const st_stream *self, uint64_t after)
{
    size_t lo = 0, hi = self->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->v[mid].pos <= after)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void s_squeeze(st_stream *self)
{
    size_t w = 0;
    for (size_t r = 0; r < self->len; r++)
        if (self->v[r].job)
            self->v[w++] = self->v[r];
    self->len = w;
}

void st_stream_add(assay_state *self, assay_job *j)
{
    st_stream *s = self->stream;
    /* Positions only grow, but a snapshot's jobs come in any order:
     * st_stream_sort puts them right once all are in. */
    if (s->len == s->cap) {
        if (s->live < s->len / 2 + 1 && s->len >= 1024) {
            s_squeeze(s);
        } else {
            size_t cap = s->cap ? 2 * s->cap : 1024;
            struct s_slot *v = realloc(s->v, cap * sizeof *v);
            if (!v)
                return; /* not listed: readers skip it; no loss of state */
            s->v = v;
            s->cap = cap;
        }
    }
    s->v[s->len++] = (struct s_slot){j->end->pos, j};
    s->live++;
}

void st_stream_remove(assay_state *self, assay_job *j)
{
    st_stream *s = self->stream;
    size_t i = s_after(s, j->end->pos - 1);
    if (i < s->len && s->v[i].job == j) {
        s->v[i].job = NULL;
        s->live--;
    }
    if (!s->live)
        s->len = 0;
}

static int s_by_pos(const void *a, const void *b)
{
    uint64_t x = ((const struct s_slot *)a)->pos,
             y = ((const struct s_slot *)b)->pos;
    return x < y ? -1 : x > y;
}

void st_stream_sort(assay_state *self)
{
    st_stream *s = self->stream;
    s_squeeze(s);
    if (s->len)
        qsort(s->v, s->len, sizeof *s->v, s_by_pos);
}

assay_job *assay_state_stream_after(const assay_state *self, uint64_t after)
{
    const st_stream *s = self->stream;
    for (size_t i = s_after(s, after); i < s->len; i++)
        if (s->v[i].job)
            return s->v[i].job;
    return NULL;
}
