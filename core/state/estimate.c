/* core/state/estimate.c - how long each action's jobs take, learned from
 * the results the log records (from an attempt's dispatch `at` to its
 * result's `at`): seed 003's runtime predictor. The planner takes the
 * longest predicted jobs of a burst first (core/member/dispatch.c);
 * assay.plugins shows the figures. Integer arithmetic only, so that every
 * member computes the same figures from the same log; kept from feature
 * level 6 on, in snapshots from format 5. Bounded: ESTIMATES_MAX actions,
 * the one updated longest ago making room. */
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "state/internal.h"

#define ESTIMATES_MAX 4096
/* Samples averaged plainly before the mean becomes a moving one. */
#define EWMA_N 64
/* A sample above a day is a clock jump, not a duration. */
#define SAMPLE_MAX_MS 86400000LL
/* What a figure can reach from such samples (the percentile may step
 * past the largest by a few steps); a snapshot saying more is refused. */
#define FIGURE_MAX_US (2 * SAMPLE_MAX_MS * 1000)

static void s_free(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void st_estimates_clear(assay_state *self)
{
    assay_index_each(self->estimates, s_free, NULL);
    assay_index_destroy(&self->estimates);
    self->estimates = assay_index_new();
}

typedef struct {
    assay_estimate *oldest;
} s_oldest;

static void s_find_oldest(const char *key, void *value, void *arg)
{
    (void)key;
    s_oldest *o = arg;
    assay_estimate *e = value;
    if (!o->oldest || e->at < o->oldest->at ||
        (e->at == o->oldest->at && strcmp(e->action, o->oldest->action) < 0))
        o->oldest = e;
}

/* action's estimate, made empty if new; NULL without memory. */
static assay_estimate *s_get(assay_state *self, const char *action)
{
    assay_estimate *e = assay_index_get(self->estimates, action);
    if (e)
        return e;
    if (assay_index_size(self->estimates) >= ESTIMATES_MAX) {
        s_oldest o = {0};
        assay_index_each(self->estimates, s_find_oldest, &o);
        free(assay_index_remove(self->estimates, o.oldest->action));
    }
    size_t len = strlen(action);
    if (!(e = calloc(1, sizeof *e + len + 1)))
        return NULL;
    memcpy(e->action, action, len + 1);
    if (assay_index_put(self->estimates, e->action, e) != 0) {
        free(e);
        return NULL;
    }
    return e;
}

void st_estimate_sample(assay_state *self, const char *action, int64_t ms,
                        int64_t at)
{
    if (self->level < ASSAY_LEVEL_PLANNER || ms < 0 || ms > SAMPLE_MAX_MS)
        return;
    assay_estimate *e = s_get(self, action);
    if (!e)
        return;
    int64_t us = ms * 1000;
    e->n++;
    e->at = at;
    if (e->n == 1) {
        e->mean_us = e->p90_us = us;
        return;
    }
    /* A plain mean at first, then a moving one that follows change. */
    int64_t k = e->n < EWMA_N ? (int64_t)e->n : EWMA_N;
    e->mean_us += (us - e->mean_us) / k;
    /* The 90th percentile by stochastic approximation: nine steps up for
     * a sample above it, one down for one below, so it settles where a
     * tenth of the samples lie above. */
    int64_t step = e->mean_us / 256 > 1 ? e->mean_us / 256 : 1;
    if (us > e->p90_us)
        e->p90_us += 9 * step;
    else if (us < e->p90_us)
        e->p90_us = e->p90_us > step ? e->p90_us - step : 0;
}

const assay_estimate *assay_state_estimate(const assay_state *self,
                                           const char *action)
{
    return action ? assay_index_get(self->estimates, action) : NULL;
}

static int s_by_action(const void *a, const void *b)
{
    const assay_estimate *x = *(assay_estimate *const *)a,
                         *y = *(assay_estimate *const *)b;
    return strcmp(x->action, y->action);
}

typedef struct {
    const assay_estimate **v;
    size_t n;
} s_all;

static void s_collect(const char *key, void *value, void *arg)
{
    (void)key;
    s_all *all = arg;
    all->v[all->n++] = value;
}

int assay_state_estimates(const assay_state *self,
                          const assay_estimate ***out, size_t *n)
{
    size_t size = assay_index_size(self->estimates);
    s_all all = {calloc(size ? size : 1, sizeof *all.v), 0};
    if (!all.v)
        return ASSAY_ENOMEM;
    assay_index_each(self->estimates, s_collect, &all);
    qsort(all.v, all.n, sizeof *all.v, s_by_action);
    *out = all.v;
    *n = all.n;
    return 0;
}

int st_estimates_pack(const assay_state *self, msgpack_packer *pk)
{
    const assay_estimate **v;
    size_t n;
    int rc = assay_state_estimates(self, &v, &n);
    if (rc)
        return rc;
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_map(pk, 5);
        assay_codec_pack_kv_str(pk, "action", v[i]->action);
        assay_codec_pack_kv_int(pk, "n", (int64_t)v[i]->n);
        assay_codec_pack_kv_int(pk, "mean_us", v[i]->mean_us);
        assay_codec_pack_kv_int(pk, "p90_us", v[i]->p90_us);
        assay_codec_pack_kv_int(pk, "at", v[i]->at);
    }
    free(v);
    return 0;
}

int st_estimates_load(assay_state *self, const msgpack_object *list,
                      char *err, size_t errlen)
{
    if (!list)
        return 0;
    if (!st_is(list, MSGPACK_OBJECT_ARRAY) ||
        list->via.array.size > ESTIMATES_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: estimates must be an array of at most "
                          "%d",
                          ESTIMATES_MAX);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        char action[256];
        int64_t n = st_int(o, "n"), mean = st_int(o, "mean_us"),
                p90 = st_int(o, "p90_us");
        if (!st_text(o, "action", action, sizeof action, false) ||
            !*action || n < 1 || mean < 0 || p90 < 0 ||
            mean > FIGURE_MAX_US || p90 > FIGURE_MAX_US)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "snapshot: estimate %u lacks an action, or "
                              "has a count below 1 or a figure outside 0 "
                              "to %lld us",
                              i, (long long)FIGURE_MAX_US);
        assay_estimate *e = s_get(self, action);
        if (!e)
            return ASSAY_ENOMEM;
        e->n = (uint64_t)n;
        e->mean_us = mean;
        e->p90_us = p90;
        e->at = st_int(o, "at");
    }
    return 0;
}
