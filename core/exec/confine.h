/* core/exec/confine.h - what an executor gives up before any plugin code
 * runs in it (docs/security.md#executors): descriptors it did not mean
 * to inherit, core dumps (a job's memory may hold secrets), the power to
 * gain privileges through set-user-ID programs (no_new_privs), and, when
 * asked, root (it becomes executor_user) and the host's /tmp; and, but
 * when asked to keep them, the system calls exec/syscalls.h denies. */
#ifndef ASSAY_CORE_EXEC_CONFINE_H
#define ASSAY_CORE_EXEC_CONFINE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct assay_confine {
    int keep_fds;       /* descriptors 0..keep_fds-1 stay open */
    const char *user;   /* NULL: stay who we are */
    bool private_tmp;   /* a tmpfs /tmp in a mount namespace of our own */
    bool all_syscalls;  /* no seccomp filter (executor_seccomp = 0) */
} assay_confine;

/* 0, or -1 with the reason in err: the caller must not go on to run
 * plugin code (a confinement asked for and not had is a refusal). */
int assay_confine_self(const assay_confine *c, char *err, size_t errlen);

#endif
