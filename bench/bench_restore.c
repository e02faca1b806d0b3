/* bench/bench_restore.c - time to dump and to restore the replicated
 * state (core/state/) holding N one-job JobSpecs, the shape that made
 * restore quadratic. Usage: bench-restore [N] (default 20000). */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/codec.h"
#include "state/fsm.h"

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    if (n < 1) {
        fprintf(stderr, "usage: bench-restore [N >= 1]\n");
        return 64;
    }
    assay_state *s = assay_state_new(NULL, NULL);
    for (int i = 0; i < n; i++) {
        char id[32], jid[40];
        snprintf(id, sizeof id, "s%d", i);
        snprintf(jid, sizeof jid, "s%d-0", i);
        json_t *cmd = json_pack(
            "{s:i, s:s, s:{s:s, s:s, s:s, s:{}, s:{}, s:i, s:i, s:i}, "
            "s:[{s:s, s:{}}]}",
            "v", 1, "op", "submit", "spec", "id", id,
            "action", "noop.pass", "resolved", "1.0.0", "labels", "selector",
            "timeout_ms", 1000, "max_attempts", 1, "priority", 0, "jobs",
            "id", jid, "params");
        json_t *r = NULL;
        char *enc = NULL;
        size_t len = 0;
        if (assay_codec_encode(cmd, &enc, &len) != 0 ||
            assay_fsm_apply(s, enc, len, &r, NULL, 0) != 0) {
            fprintf(stderr, "bench-restore: submit %d refused\n", i);
            return 1;
        }
        free(enc);
        json_decref(r);
        json_decref(cmd);
    }
    int64_t t0 = assay_now_us();
    char *dump = NULL;
    size_t len = 0;
    int rc = assay_fsm_snapshot(s, &dump, &len);
    int64_t t1 = assay_now_us();
    assay_state *back = assay_state_new(NULL, NULL);
    if (!rc)
        rc = assay_fsm_restore(back, dump, len, NULL, 0);
    int64_t t2 = assay_now_us();
    printf("bench-restore: %d JobSpecs of one job: dump %.3f s, restore "
           "%.3f s%s\n",
           n, (t1 - t0) / 1e6, (t2 - t1) / 1e6, rc ? " (refused)" : "");
    free(dump);
    assay_state_destroy(&s);
    assay_state_destroy(&back);
    return rc ? 1 : 0;
}
