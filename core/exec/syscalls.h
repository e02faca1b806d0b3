/* core/exec/syscalls.h - the system calls an executor gives up
 * (docs/security.md#executors): a seccomp filter, inherited by whatever
 * a job starts, answers EPERM to those that change the kernel, mounts,
 * namespaces, the clock or swap, or reach into other processes. Checks
 * read the host's state and need none of them. */
#ifndef ASSAY_CORE_EXEC_SYSCALLS_H
#define ASSAY_CORE_EXEC_SYSCALLS_H

#include <stddef.h>

/* Installs the filter (no_new_privs must be set); 0, or -1 with the
 * reason in err. */
int assay_syscalls_deny(char *err, size_t errlen);

#endif
