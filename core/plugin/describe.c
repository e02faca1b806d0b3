/* core/plugin/describe.c - a plugin described by a helper process (describe.h). */
#include "plugin/describe.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/child.h"
#include "base/clock.h"
#include "base/codec.h"
#include "base/errtext.h"
#include "plugin/loader.h"

struct assay_describe {
    pid_t pid;
    int pidfd;
    int answer; /* the memfd the helper writes */
    int64_t timeout_ms, deadline_ms;
};

int assay_describe_start(const char *helper, const char *path,
                         int64_t timeout_ms, assay_describe **out, char *err,
                         size_t errlen)
{
    assay_describe *self = calloc(1, sizeof *self);
    if (!self)
        return ASSAY_ENOMEM;
    self->pidfd = -1;
    self->answer = memfd_create("assay-describe", MFD_CLOEXEC);
    if (self->answer < 0) {
        int e = errno;
        free(self);
        return assay_errf(err, errlen, ASSAY_EIO, "memfd_create: %s",
                          strerror(e));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* Whatever the plugin prints at load goes nowhere: not into our log,
     * not into the answer. */
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, self->answer, 3);
    char *argv[] = {(char *)helper, "--describe", (char *)path, NULL};
    int rc = assay_child_spawn(&self->pid, helper, &fa, argv);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        close(self->answer);
        free(self);
        return assay_errf(err, errlen, ASSAY_EIO,
                          "cannot start plugin describer %s: %s", helper,
                          strerror(rc));
    }
    self->pidfd = (int)syscall(SYS_pidfd_open, self->pid, 0);
    self->timeout_ms = timeout_ms;
    self->deadline_ms = assay_now_ms() + timeout_ms;
    *out = self;
    return 0;
}

int assay_describe_fd(const assay_describe *self) { return self->pidfd; }

int64_t assay_describe_deadline(const assay_describe *self)
{
    return self->deadline_ms;
}

int assay_describe_parse(const void *buf, size_t len,
                         assay_description **out, char *err, size_t errlen)
{
    json_t *ans = NULL;
    char why[ASSAY_ERRMSG_SIZE];
    int rc = len > ASSAY_DESCRIBE_MAX
                 ? ASSAY_ETOOBIG
                 : assay_codec_decode(buf, len, &ans, why, sizeof why);
    const json_t *module = json_object_get(ans, "module");
    const char *refused = json_string_value(json_object_get(ans, "error"));
    json_int_t code = json_integer_value(json_object_get(ans, "code"));
    if (rc || (!module && !refused))
        rc = assay_errf(err, errlen, ASSAY_EPROTO,
                        "the describer's answer is garbled (does the plugin "
                        "write to fd 3 while it loads?)");
    else if (refused)
        rc = assay_errf(err, errlen,
                        code < 0 && code >= ASSAY_ECORRUPT ? (int)code
                                                            : ASSAY_EINVAL,
                        "%s", refused);
    else
        rc = assay_description_new(module, out, err, errlen);
    json_decref(ans);
    return rc;
}

/* The answer the helper left in fd; 1 if it left none. */
static int s_read_answer(int fd, assay_description **out, char *err,
                         size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size == 0)
        return 1;
    if ((size_t)st.st_size > ASSAY_DESCRIBE_MAX)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "answered with more than %zu bytes",
                          ASSAY_DESCRIBE_MAX);
    char *buf = malloc((size_t)st.st_size);
    if (!buf)
        return ASSAY_ENOMEM;
    int rc = pread(fd, buf, (size_t)st.st_size, 0) == st.st_size
                 ? assay_describe_parse(buf, (size_t)st.st_size, out, err,
                                        errlen)
                 : assay_errf(err, errlen, ASSAY_EIO,
                              "cannot read the describer's answer");
    free(buf);
    return rc;
}

int assay_describe_finish(assay_describe **self_p, assay_description **out,
                          char *err, size_t errlen)
{
    assay_describe *self = *self_p;
    *self_p = NULL;
    int status = 0;
    /* Looked at, not reaped: until it is, its pid (the group's id) cannot
     * be reused, so the kill below reaches its group and no other. */
    siginfo_t si = {0};
    bool late = waitid(P_PID, (id_t)self->pid, &si,
                       WEXITED | WNOHANG | WNOWAIT) != 0 ||
                si.si_pid == 0;
    /* Also whatever a constructor started in the helper's group. */
    kill(-self->pid, SIGKILL);
    while (waitpid(self->pid, &status, 0) < 0 && errno == EINTR)
        ;
    int rc;
    if (late)
        rc = assay_errf(err, errlen, ASSAY_ETIMEOUT,
                        "still loading after %lld ms, killed (does a "
                        "constructor block? plugin_load_timeout_ms sets "
                        "the limit)",
                        (long long)self->timeout_ms);
    else if (WIFSIGNALED(status))
        rc = assay_errf(err, errlen, ASSAY_ECRASH,
                        "loading it killed the describer with %s (a "
                        "constructor or the entry point crashed?)",
                        sigabbrev_np(WTERMSIG(status))
                            ? sigabbrev_np(WTERMSIG(status))
                            : "a signal");
    else if ((rc = s_read_answer(self->answer, out, err, errlen)) == 1)
        rc = assay_errf(err, errlen, ASSAY_ECRASH,
                        "loading it ended the describer with status %d "
                        "before it could answer (does a constructor or the "
                        "entry point call exit()?)",
                        WEXITSTATUS(status));
    if (self->pidfd >= 0)
        close(self->pidfd);
    close(self->answer);
    free(self);
    return rc;
}

/* ---- The helper's side ------------------------------------------------ */

static void s_write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

int assay_describe_answer(const char *path, int fd)
{
    /* Not a describer left behind by a daemon that was killed. */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        return 70;
    /* Bounds what a plugin could make this file hold. */
    struct rlimit fsize = {ASSAY_DESCRIBE_MAX, ASSAY_DESCRIBE_MAX};
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_FSIZE, &fsize);
    setrlimit(RLIMIT_CORE, &core);
    void *dl = NULL;
    const assay_module *m = NULL;
    char why[ASSAY_ERRMSG_SIZE] = "";
    int rc = assay_module_open(path, ASSAY_KIND_ACTION, &dl, &m, why,
                               sizeof why);
    json_t *ans = rc ? json_pack("{s:i, s:s}", "code", rc, "error", why)
                     : json_pack("{s:o}", "module", assay_module_json(m));
    char *buf = NULL;
    size_t len = 0;
    if (!ans || assay_codec_encode(ans, &buf, &len) != 0 ||
        len > ASSAY_DESCRIBE_MAX) {
        free(buf);
        buf = NULL;
        json_decref(ans);
        ans = json_pack("{s:i, s:s}", "code", ASSAY_ETOOBIG, "error",
                        "descriptor too large to describe (over 1 MiB)");
        if (!ans || assay_codec_encode(ans, &buf, &len) != 0)
            return 70;
    }
    s_write_all(fd, buf, len);
    free(buf);
    json_decref(ans);
    return 0;
}
