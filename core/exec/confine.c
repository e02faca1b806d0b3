/* core/exec/confine.c - see confine.h. Order matters: the mount namespace
 * needs root, so it comes before the user is dropped; no_new_privs last
 * would not matter (it survives setuid), but it is set after so that a
 * failure to drop is reported as such. */
#include "exec/confine.h"
#include "exec/syscalls.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static int s_fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s: %s", what, strerror(errno));
    return -1;
}

static int s_private_tmp(char *err, size_t errlen)
{
    if (unshare(CLONE_NEWNS) < 0)
        return s_fail(err, errlen, "executor_private_tmp: unshare");
    /* Our mounts stay ours, and the host's do not follow into ours. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
              "mode=1777,size=25%") < 0)
        return s_fail(err, errlen, "executor_private_tmp: mount");
    return 0;
}

static int s_become(const char *user, char *err, size_t errlen)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        snprintf(err, errlen, "executor_user %s: no such user", user);
        return -1;
    }
    if (pw->pw_uid == geteuid())
        return 0;
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0)
        return s_fail(err, errlen, "executor_user");
    /* Dropped for good: no way back to root. */
    if (setuid(0) == 0 || getuid() != pw->pw_uid || geteuid() != pw->pw_uid) {
        snprintf(err, errlen, "executor_user %s: root could be regained",
                 user);
        return -1;
    }
    if (chdir("/") < 0) /* a directory the user may not enter */
        return s_fail(err, errlen, "chdir /");
    return 0;
}

int assay_confine_self(const assay_confine *c, char *err, size_t errlen)
{
    if (close_range((unsigned)c->keep_fds, ~0u, 0) < 0 && errno != ENOSYS)
        return s_fail(err, errlen, "close_range");
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return s_fail(err, errlen, "RLIMIT_CORE");
    if (c->private_tmp && s_private_tmp(err, errlen))
        return -1;
    if (c->user && s_become(c->user, err, errlen))
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return s_fail(err, errlen, "no_new_privs");
    /* Last: unshare (private_tmp) is among what it denies. */
    return c->all_syscalls ? 0 : assay_syscalls_deny(err, errlen);
}
