/* core/exec/syscalls.c - see syscalls.h. A classic BPF program: the
 * architecture first (a 32-bit or x32 call could name another syscall
 * by the same number), then each denied number answers EPERM; anything
 * else is allowed. */
#include "exec/syscalls.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#define S_ARCH AUDIT_ARCH_X86_64
#define S_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define S_ARCH AUDIT_ARCH_AARCH64
#endif

/* What a check of the host's state never needs, and what changes the
 * host or reaches into other processes: the kernel (modules, kexec,
 * BPF, perf, keyrings, its log), mounts and namespaces (clone's are
 * checked apart), the clock, swap, reboot, I/O ports, other processes'
 * memory, descriptors and tracing. */
static const int s_denied[] = {
#ifdef S_ARCH
    SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_kexec_load,
#ifdef SYS_kexec_file_load
    SYS_kexec_file_load,
#endif
    SYS_reboot, SYS_swapon, SYS_swapoff, SYS_mount, SYS_umount2,
    SYS_pivot_root, SYS_chroot, SYS_unshare, SYS_setns,
#ifdef SYS_fsopen
    SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick, SYS_move_mount,
    SYS_open_tree,
#endif
    SYS_bpf, SYS_perf_event_open,
/* LeakSanitizer stops the world with ptrace when a sanitized executor
 * exits: the test build leaves it out; every other build denies it. */
#ifndef __SANITIZE_ADDRESS__
    SYS_ptrace,
#endif
    SYS_process_vm_readv,
    SYS_process_vm_writev, SYS_userfaultfd, SYS_keyctl, SYS_add_key,
    SYS_request_key, SYS_open_by_handle_at, SYS_settimeofday,
    SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex, SYS_sethostname,
    SYS_setdomainname, SYS_acct, SYS_quotactl, SYS_kcmp, SYS_syslog,
#ifdef SYS_pidfd_getfd
    SYS_pidfd_getfd,
#endif
#ifdef SYS_process_madvise
    SYS_process_madvise,
#endif
#ifdef SYS_iopl
    SYS_iopl, SYS_ioperm,
#endif
#endif
};

/* clone() may make threads and processes, not namespaces. */
#define S_CLONE_NEW                                                            \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |               \
     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

#define S_N (sizeof s_denied / sizeof *s_denied)

int assay_syscalls_deny(char *err, size_t errlen)
{
#ifndef S_ARCH
    snprintf(err, errlen, "executor_seccomp: no filter for this "
                          "architecture (set executor_seccomp = 0)");
    return -1;
#else
    struct sock_filter prog[16 + 2 * S_N];
    size_t n = 0;
#define S_STMT(code, k) prog[n++] = (struct sock_filter)BPF_STMT((code), (k))
#define S_JUMP(code, k, t, f)                                                  \
    prog[n++] = (struct sock_filter)BPF_JUMP((code), (k), (t), (f))
    S_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    S_JUMP(BPF_JMP | BPF_JEQ | BPF_K, S_ARCH, 1, 0);
    S_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    S_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#ifdef S_X32_BIT
    S_JUMP(BPF_JMP | BPF_JGE | BPF_K, S_X32_BIT, 0, 1);
    S_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
#endif
    /* clone3 hides its flags in memory a filter cannot read: ENOSYS, and
     * the C library falls back to clone, whose flags are checked. */
#ifdef SYS_clone3
    S_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
    S_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
#endif
    S_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3);
    S_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    S_JUMP(BPF_JMP | BPF_JSET | BPF_K, S_CLONE_NEW, 0, 1);
    S_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    S_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < S_N; i++) {
        S_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)s_denied[i], 0, 1);
        S_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    }
    S_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
#undef S_STMT
#undef S_JUMP
    struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0) {
        snprintf(err, errlen, "executor_seccomp: %s", strerror(errno));
        return -1;
    }
    return 0;
#endif
}
