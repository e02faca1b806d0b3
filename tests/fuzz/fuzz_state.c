/* tests/fuzz/fuzz_state.c - replicated-log entries through the state
 * machine: the input is a sequence of JSON commands, one per line, applied
 * in order (as a log would be), then the state is dumped, loaded into a
 * fresh machine and dumped again; both dumps must be equal. Whatever the
 * commands, applying them must not crash or leak, and a refused command
 * must leave the dump unchanged. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_state *st = assay_state_new(NULL, NULL);
    if (!st)
        abort();
    size_t off = 0;
    while (off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
        json_t *cmd = json_loadb((const char *)data + off, len,
                                 JSON_REJECT_DUPLICATES, NULL);
        off += len + 1;
        if (!cmd)
            continue;
        json_t *before = assay_state_dump(st), *result = NULL;
        int rc = assay_state_apply(st, cmd, &result);
        json_t *after = assay_state_dump(st);
        if (rc < 0 && !json_equal(before, after))
            abort(); /* a refused command changed the state */
        json_decref(before);
        json_decref(after);
        json_decref(result);
        json_decref(cmd);
    }
    json_t *dump = assay_state_dump(st);
    assay_state *copy = assay_state_new(NULL, NULL);
    if (!copy || assay_state_load(copy, dump) != 0)
        abort();
    json_t *again = assay_state_dump(copy);
    if (!json_equal(dump, again))
        abort();
    json_decref(dump);
    json_decref(again);
    assay_state_destroy(&copy);
    assay_state_destroy(&st);
    return 0;
}
