/* consensus/raft/storage.h - checks of a member's data_dir that libraft
 * does not make itself, so that a damaged or full disk is refused with the
 * file named instead of hanging, crashing or losing entries. */
#ifndef ASSAY_RAFT_STORAGE_H
#define ASSAY_RAFT_STORAGE_H

#include <stddef.h>
#include <stdint.h>

/* The snapshot raft would load from `dir` is whole: 0, or ASSAY_ECORRUPT
 * with the file and the fault in `why`. libraft 0.15 spins forever in
 * LZ4F_decompress() on a truncated frame, so this walks the frame's block
 * headers before raft_start(). */
int storage_snapshot_check(const char *dir, uint64_t *size, char *why,
                           size_t len);

/* Bytes free for the member's writes in `dir`: 0, or ASSAY_EIO. */
int storage_free(const char *dir, uint64_t *out);

/* What raft may write before the next check, so that it never meets a full
 * disk (libraft 0.15 spins, leads without committing or crashes when it
 * does): the segment being filled, the next one it allocates ahead, one
 * more, and a snapshot written beside the last one. */
uint64_t storage_need(uint64_t segment, uint64_t snapshot);

#endif
