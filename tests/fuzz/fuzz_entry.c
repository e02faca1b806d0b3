/* tests/fuzz/fuzz_entry.c - raft log entries as a member reads them
 * (consensus/raft/entry.c), then every command of a well-formed one
 * through the state machine, as the raft module hands them to it. The
 * input is taken twice: as an entry as it is, and as commands (split at
 * every 0xff byte) framed into an entry, which must check with the same
 * count and give back the same bytes. Whatever the bytes: no crash, no
 * read past the entry, no leak. */
#include <stdlib.h>
#include <string.h>

#include "base/errtext.h"
#include "entry.h"
#include "fuzz.h"
#include "state/fsm.h"
#include "state/state.h"

static void s_apply_all(const unsigned char *p, size_t len, uint32_t count)
{
    assay_state *st = assay_state_new(NULL, NULL);
    size_t off = ENTRY_HEADER;
    if (!st)
        abort();
    for (uint32_t i = 0; i < count; i++) {
        uint32_t l;
        const unsigned char *cmd = entry_next(p, &off, &l);
        char err[ASSAY_ERRMSG_SIZE];
        json_t *result = NULL;
        if (off > len)
            abort(); /* a checked entry's commands lie inside it */
        assay_fsm_apply(st, cmd, l, &result, err, sizeof err);
        json_decref(result);
    }
    assay_state_destroy(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t count = 0;
    if (entry_check(data, size, &count))
        s_apply_all(data, size, count);

    /* Framed by us: always well formed, commands back as they went in. */
    uint32_t n = 1;
    for (size_t i = 0; i < size; i++)
        n += data[i] == 0xff;
    size_t bytes = size - (n - 1); /* the 0xff separators are not kept */
    size_t total = (ENTRY_HEADER + 4 * (size_t)n + bytes + 7) & ~(size_t)7;
    unsigned char *e = calloc(1, total);
    if (!e)
        return 0;
    entry_header(e, n, 42, 7);
    unsigned char *w = e + ENTRY_HEADER;
    for (size_t start = 0, i = 0; i <= size; i++) {
        if (i < size && data[i] != 0xff)
            continue;
        entry_put32(w, (uint32_t)(i - start));
        memcpy(w + 4, data + start, i - start);
        w += 4 + (i - start);
        start = i + 1;
    }
    uint64_t origin, seq;
    if (!entry_check(e, total, &count) || count != n ||
        !entry_origin(e, total, &origin, &seq) || origin != 42 || seq != 7)
        abort();
    size_t off = ENTRY_HEADER, start = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t l;
        const unsigned char *cmd = entry_next(e, &off, &l);
        if (start + l > size || memcmp(cmd, data + start, l) ||
            (start + l < size && data[start + l] != 0xff))
            abort();
        start += l + 1;
    }
    free(e);
    return 0;
}
