/* consensus/raft/storage.h - checks of a member's data_dir that libraft
 * does not make itself, so that a damaged or full disk is refused with the
 * file named instead of hanging, crashing or losing entries. */
#ifndef ASSAY_RAFT_STORAGE_H
#define ASSAY_RAFT_STORAGE_H

#include <stddef.h>

/* The snapshot raft would load from `dir` is whole: 0, or ASSAY_ECORRUPT
 * with the file and the fault in `why`. libraft 0.15 spins forever in
 * LZ4F_decompress() on a truncated frame, so this walks the frame's block
 * headers before raft_start(). */
int storage_snapshot_check(const char *dir, char *why, size_t len);

#endif
