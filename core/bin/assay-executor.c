/* assay-executor - runs actions for assayd/assayctl in a separate process.
 * Started by the executor pool only; see core/exec/executor.h. */
#include <ctype.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <assay/version.h>

#include "base/log.h"
#include "exec/confine.h"
#include "exec/executor.h"
#include "plugin/describe.h"

/* In sanitizer builds, leave crash signals to the kernel: the pool must see
 * "killed by SIGSEGV" exactly as it does from a production build, not an
 * ASan report and exit(1). Unused when built without ASan. */
ASSAY_API const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0";
}

ASSAY_API const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0";
}

/* Exactly 2 * n hex digits into n bytes. */
static bool s_hex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            if (!isxdigit((unsigned char)c))
                return false;
            v = v << 4 | (unsigned)(isdigit((unsigned char)c)
                                        ? c - '0'
                                        : tolower((unsigned char)c) - 'a' + 10);
        }
        out[i] = (unsigned char)v;
    }
    return true;
}

int main(int argc, char **argv)
{
    char err[512];
    /* The daemon learns what a plugin declares without loading it: its
     * constructors run here, confined like jobs (its answer goes to 3). */
    if (argc == 3 && !strcmp(argv[1], "--describe")) {
        if (assay_confine_self(&(assay_confine){.keep_fds = 4}, err,
                               sizeof err)) {
            fprintf(stderr, "assay-executor: %s\n", err);
            return 71;
        }
        return assay_describe_answer(argv[2], 3);
    }
    assay_executor_opts opts = {.fd = -1};
    assay_confine confine = {.keep_fds = 5};
    int level = ASSAY_LOG_WARN, log_fd = 2;
    bool marked = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--fd"))
            opts.fd = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--memory-mb"))
            opts.memory_mb = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--log-level"))
            level = assay_log_level_parse(argv[i + 1]);
        else if (!strcmp(argv[i], "--log-fd"))
            log_fd = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--output-mark"))
            marked = s_hex(argv[i + 1], opts.token, sizeof opts.token);
        else if (!strcmp(argv[i], "--user"))
            confine.user = argv[i + 1];
        else if (!strcmp(argv[i], "--private-tmp"))
            confine.private_tmp = !strcmp(argv[i + 1], "1");
        else if (!strcmp(argv[i], "--seccomp"))
            confine.all_syscalls = !strcmp(argv[i + 1], "0");
    }
    if (opts.fd < 0 || level < 0 || !marked) {
        fprintf(stderr, "assay-executor: started by assayd, not by hand "
                        "(usage: assay-executor --fd N --output-mark HEX "
                        "[--memory-mb M] [--log-level error|warn|info|debug] "
                        "[--log-fd N] [--user NAME] [--private-tmp 1] "
                        "[--seccomp 0]; or "
                        "assay-executor --describe FILE)\n");
        return 64;
    }
    /* The daemon's level and log: its stderr (fd 2 here) is the running
     * job's captured output, which is no place for log lines. */
    assay_log_init("assay-executor", level);
    assay_log_set_fd(log_fd);
    /* Before any plugin code: nothing runs with more than it needs. */
    if (assay_confine_self(&confine, err, sizeof err)) {
        assay_error("executor cannot confine itself: %s", err);
        return 71;
    }
    /* Not for what a job starts: a plugin's system() or popen() must not
     * hold the protocol socket or write into the daemon's log. */
    fcntl(opts.fd, F_SETFD, FD_CLOEXEC);
    if (log_fd > 2)
        fcntl(log_fd, F_SETFD, FD_CLOEXEC);
    return assay_executor_main(&opts);
}
