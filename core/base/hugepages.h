/* core/base/hugepages.h - a heap in transparent huge pages.
 *
 * A member's snapshots fork it (core/state/snapshotter.h), and fork()
 * copies the page tables of the whole heap: 35 ms for a 1,000,000-job
 * state in 4 KiB pages, 1.4 ms in 2 MiB pages (docs/benchmarks.md). glibc
 * backs malloc with transparent huge pages only when told before the
 * program starts (GLIBC_TUNABLES=glibc.malloc.hugetlb=1). Huge pages cost
 * zeroing 2 MiB whenever the heap grows into a fresh one, so large buffers
 * come from the heap rather than from mmap (mmap_threshold 32 MiB) and the
 * heap's top is kept rather than returned and faulted in again
 * (trim_threshold 256 MiB); even so, a member's bulk throughput is about
 * a tenth lower, which is why only raft members (the ones that fork for
 * snapshots) run this way. */
#ifndef ASSAY_CORE_HUGEPAGES_H
#define ASSAY_CORE_HUGEPAGES_H

/* Starts this program again, once, with those three tunables added to
 * GLIBC_TUNABLES, unless the environment already sets
 * glibc.malloc.hugetlb (then the environment stands as it is). Returns
 * only if it did not (or could not) exec. In the program started again,
 * call it as early: it puts GLIBC_TUNABLES back as it was, for children. */
void assay_hugepages_exec(char **argv);

#endif
