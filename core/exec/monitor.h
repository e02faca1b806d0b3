/* core/exec/monitor.h - the runtime's resource monitor: how busy the CPUs are,
 * how much memory is left, and so how many more jobs the runtime may offer
 * to take.
 *
 * Everything is read from files (/proc and the cgroup v2 tree) under roots
 * the caller names, so tests and operators can point it at a fixture tree.
 * Inside a container the machine-wide figures overstate what we may use,
 * so limits of the process's own cgroup and of its ancestors count too:
 *
 *   mem_total      MemTotal, or the lowest memory.max on the way to the root
 *   mem_available  MemAvailable, or the lowest memory.max - working set,
 *                  where working set = memory.current - inactive_file
 *                  (from memory.stat): inactive page cache is reclaimed
 *                  before the limit bites, so it does not count as used
 *   cpu_busy       the busier of the whole machine (/proc/stat) and each
 *                  cgroup with a cpu.max quota (cpu.stat usage_usec against
 *                  quota/period CPUs over the same interval)
 *
 * A cgroup file that does not exist means "no limit at that level" (the
 * root cgroup, a controller not enabled, a hybrid v1 host). */
#ifndef ASSAY_CORE_MONITOR_H
#define ASSAY_CORE_MONITOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct assay_monitor assay_monitor;

typedef struct assay_monitor_sample {
    double cpu_busy;        /* 0..1 since the previous sample */
    uint64_t mem_total;     /* bytes */
    uint64_t mem_available; /* bytes, <= mem_total */
} assay_monitor_sample;

typedef struct assay_monitor_config {
    const char *proc_root;   /* "/proc" normally */
    const char *cgroup_root; /* cgroup v2 mount, "/sys/fs/cgroup" normally;
                                the process's cgroup is the "0::/path" line
                                of <proc_root>/self/cgroup. NULL = ignore
                                cgroups */
    double max_cpu;          /* no credit when cpu_busy > this (0..1) */
    double min_mem_free;     /* no credit when mem_available / mem_total
                                < this (0..1) */
} assay_monitor_config;

/* Reads every file once, as the baseline of the first sample's CPU figure.
 * Returns 0, ASSAY_EINVAL (bad config), ASSAY_ENOMEM or a read error as for
 * assay_monitor_sample_now(); err holds one line naming the file. */
int assay_monitor_new(const assay_monitor_config *cfg, assay_monitor **out,
                      char *err, size_t errlen);
void assay_monitor_destroy(assay_monitor **self_p);

/* Measures now; cpu_busy covers the time since the previous successful
 * sample (or new()) and repeats the previous figure when no clock tick has
 * passed (at first, the average since boot). Returns 0 or, with *out and
 * the baseline unchanged and err naming the file (and line): ASSAY_ENOENT /
 * ASSAY_EPERM / ASSAY_EIO (cannot read), ASSAY_EPARSE (malformed),
 * ASSAY_ERANGE (number too large) or ASSAY_ETOOBIG (line or file too
 * long). */
int assay_monitor_sample_now(assay_monitor *self, assay_monitor_sample *out,
                             char *err, size_t errlen);

/* Credit the runtime may grant: free_slots when cpu_busy <= max_cpu and
 * the free memory fraction >= min_mem_free, else 0. *why (unless why is
 * NULL) is "" or says which limit and by how much, e.g. "cpu 97% > 90%",
 * "memory 3% free < 10%" or both joined by ", "; it is owned by self and
 * valid until the next call. */
uint32_t assay_monitor_credit(assay_monitor *self,
                              const assay_monitor_sample *s,
                              uint32_t free_slots, const char **why);

#endif
