/* tests/fuzz/fuzz_scheddef.c - JSON text through assay_sched_def_parse, as
 * assay.schedule create reads a definition: whatever the text, no crash
 * or leak; a definition accepted normalizes to one that is accepted again
 * (as the state's copy is, by every later leader) and normalizes the same;
 * its events come strictly in order, within bounds, from an instant and
 * ten years on. */
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "fuzz.h"
#include "sched/def.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
                            &je);
    if (!in)
        return 0;
    char err[ASSAY_ERRMSG_SIZE * 2];
    /* 2026-01-01T00:00:00Z, at most one fire a minute. */
    assay_sched_limits lim = {.min_interval_s = 60,
                              .now_ms = 1767225600000LL};
    assay_sched_def *d = NULL;
    if (assay_sched_def_parse(in, &lim, true, &d, err, sizeof err) != 0) {
        if (!*err)
            abort(); /* a refusal that does not say why */
        json_decref(in);
        return 0;
    }
    json_t *norm = assay_sched_def_json(d), *norm2 = NULL;
    assay_sched_def *again = NULL;
    if (!norm ||
        assay_sched_def_parse(norm, &lim, false, &again, err, sizeof err) ||
        !(norm2 = assay_sched_def_json(again)) || !json_equal(norm, norm2))
        abort(); /* what the state holds would not plan the same */
    int64_t after = lim.now_ms, until = after + 10LL * 366 * 86400 * 1000;
    assay_sched_event ev;
    for (int i = 0; i < 50 && assay_sched_def_next(d, after, until, &ev);
         i++) {
        if (ev.at_ms <= after || ev.at_ms > until || (!ev.fire && !ev.gap_count))
            abort();
        int64_t j = assay_sched_def_jitter_ms(d, ev.at_ms);
        if (j < 0 || j > d->jitter_s * 1000)
            abort();
        after = ev.at_ms;
    }
    json_decref(norm);
    json_decref(norm2);
    assay_sched_def_destroy(&again);
    assay_sched_def_destroy(&d);
    json_decref(in);
    return 0;
}
