/* consensus/raft/entry.c - the framing of commands in raft log entries;
 * see entry.h. Fuzzed by tests/fuzz/fuzz_entry.c. */
#include "entry.h"

void entry_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void entry_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t entry_get32(const unsigned char *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

uint64_t entry_get64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void entry_header(unsigned char *p, uint32_t count, uint64_t origin,
                  uint64_t seq)
{
    entry_put64(p, 0);
    p[0] = ENTRY_MAGIC;
    p[1] = ENTRY_FORMAT;
    entry_put32(p + 4, count);
    entry_put64(p + 8, origin);
    entry_put64(p + 16, seq);
}

bool entry_origin(const unsigned char *p, size_t len, uint64_t *origin,
                  uint64_t *seq)
{
    if (len < ENTRY_HEADER || p[0] != ENTRY_MAGIC || p[1] != ENTRY_FORMAT)
        return false;
    *origin = entry_get64(p + 8);
    *seq = entry_get64(p + 16);
    return true;
}

bool entry_check(const unsigned char *p, size_t len, uint32_t *count)
{
    size_t off = ENTRY_HEADER;
    uint32_t n;

    if (len < ENTRY_HEADER || p[0] != ENTRY_MAGIC || p[1] != ENTRY_FORMAT)
        return false;
    n = entry_get32(p + 4);
    if (n > (len - ENTRY_HEADER) / 4)
        return false;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t l;

        if (len - off < 4)
            return false;
        l = entry_get32(p + off);
        off += 4;
        if (len - off < l)
            return false;
        off += l;
    }
    if (len - off >= 8)
        return false;
    for (; off < len; off++)
        if (p[off])
            return false;
    *count = n;
    return true;
}

const unsigned char *entry_next(const unsigned char *p, size_t *off,
                                uint32_t *len)
{
    const unsigned char *cmd;

    *len = entry_get32(p + *off);
    cmd = p + *off + 4;
    *off += 4 + *len;
    return cmd;
}
