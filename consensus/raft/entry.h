/* consensus/raft/entry.h - how Assay's commands travel in raft log
 * entries (the framing raft.c's header comment describes): a 24-byte
 * header, then count x {u32 len, len bytes}, zero-padded to a multiple of
 * 8 bytes; every integer little-endian. Decoding is defensive: an entry
 * that breaks any rule is refused whole, on every member alike. */
#ifndef ASSAY_RAFT_ENTRY_H
#define ASSAY_RAFT_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENTRY_MAGIC 'A'
#define ENTRY_FORMAT 1
#define ENTRY_HEADER 24

void entry_put32(unsigned char *p, uint32_t v);
void entry_put64(unsigned char *p, uint64_t v);
uint32_t entry_get32(const unsigned char *p);
uint64_t entry_get64(const unsigned char *p);

/* Writes the header of an entry of `count` commands proposed by `origin`
 * as its `seq`-th. */
void entry_header(unsigned char *p, uint32_t count, uint64_t origin,
                  uint64_t seq);
/* The entry's origin and seq, when it has an Assay header. */
bool entry_origin(const unsigned char *p, size_t len, uint64_t *origin,
                  uint64_t *seq);
/* Whether p[0..len) is a well-formed entry; *count its commands. */
bool entry_check(const unsigned char *p, size_t len, uint32_t *count);
/* The command at *off (ENTRY_HEADER for the first) of a checked entry:
 * its bytes and length; *off moves past it. */
const unsigned char *entry_next(const unsigned char *p, size_t *off,
                                uint32_t *len);

#endif
