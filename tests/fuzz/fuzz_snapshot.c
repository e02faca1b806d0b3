/* tests/fuzz/fuzz_snapshot.c - snapshot bytes through the member's own
 * restore (core/state/fsm.c): plain snapshots of every format and the
 * containers the snapshotter writes (base + commands replayed on top).
 * Whatever the bytes, restore must not crash or leak; what it accepts
 * must dump, restore from that dump and dump again to the same value;
 * what it refuses it must say why. The corpus holds the format fixtures
 * and a container. */
#include <stdlib.h>
#include <string.h>

#include "base/errtext.h"
#include "fuzz.h"
#include "state/fsm.h"
#include "state/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_state *st = assay_state_new(NULL, NULL);
    if (!st)
        abort();
    char err[ASSAY_ERRMSG_SIZE] = "";
    int rc = assay_fsm_restore(st, data, size, err, sizeof err);
    if (rc && !*err && rc != ASSAY_ENOMEM)
        abort(); /* a refusal that does not say why */
    if (!rc) {
        char *snap;
        size_t len;
        assay_state *copy = assay_state_new(NULL, NULL);
        if (!copy || assay_fsm_snapshot(st, &snap, &len) != 0 ||
            assay_fsm_restore(copy, snap, len, err, sizeof err) != 0)
            abort();
        json_t *a = assay_state_dump(st), *b = assay_state_dump(copy);
        if (!json_equal(a, b))
            abort();
        json_decref(a);
        json_decref(b);
        free(snap);
        assay_state_destroy(&copy);
    }
    assay_state_destroy(&st);
    return 0;
}
