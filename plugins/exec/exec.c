/* exec - the `exec.run` action: runs a provider binary and turns its exit
 * code, and optionally a JSON report on its stdout, into a result.
 *
 * The executor may run threads, so the provider is started with
 * posix_spawn (never fork). It gets exactly the environment it is given,
 * stdin on /dev/null, none of the executor's descriptors, and its own
 * process group so that a timeout kills everything it started. Every path
 * out of run() after a successful spawn has reaped the child.
 *
 * The report, when stdout is one, is a JSON object:
 *   {"status": "pass"|"fail"|"error", "message": "...",
 *    "findings": [{"title": "...", "subject": "...",
 *                  "state": "satisfied"|"not-satisfied"|"info",
 *                  "evidence": {"key": string|number|bool}}]}
 * with every field optional except a finding's title and state. */
#define _GNU_SOURCE
#include <assay.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_OUTPUT_LIMIT (16 << 20) /* largest max_output accepted */
#define KILL_GRACE_MS 500           /* from SIGTERM to SIGKILL */
#define TICK_MS 20 /* waitpid() retry period when pidfd_open is refused */

enum { EXIT_CODES = 256 };

/* Indexed by ASSAY_PASS / ASSAY_FAIL / ASSAY_ERROR. */
static const char *const status_names[] = {"pass", "fail", "error", NULL};
/* Indexed by ASSAY_SATISFIED - 1 ... ASSAY_INFO - 1. */
static const char *const state_names[] = {"satisfied", "not-satisfied",
                                          "info", NULL};

/* Index of `s` in the NULL-ended `names`, or -1. */
static int name_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- parameters -------------------------------------------------------- */

/* Fills table[code] with a status: the default 0 -> pass, 1 -> fail,
 * anything else -> error, overridden entry by entry by `map`. Returns false
 * with the message set on a bad entry. */
static bool build_exit_map(assay_ctx *ctx, const assay_map *map,
                           int table[EXIT_CODES])
{
    for (int i = 0; i < EXIT_CODES; i++)
        table[i] = ASSAY_ERROR;
    table[0] = ASSAY_PASS;
    table[1] = ASSAY_FAIL;
    for (size_t i = 0; map && i < map->count; i++) {
        const char *key = map->items[i].key, *value = map->items[i].value;
        size_t len = strlen(key);
        unsigned long code = EXIT_CODES;
        if (len >= 1 && len <= 3 && strspn(key, "0123456789") == len)
            code = strtoul(key, NULL, 10);
        int status = name_index(status_names, value);
        if (code >= EXIT_CODES || status < 0) {
            assay_message(ctx,
                          "exit_codes: bad entry \"%s\": \"%s\" (want an exit "
                          "code 0-255 mapped to pass, fail or error)",
                          key, value);
            return false;
        }
        table[code] = status;
    }
    return true;
}

/* Builds the NULL-ended "KEY=value" array in one allocation (a single
 * free() releases it). Returns 0, ASSAY_ENOMEM, or ASSAY_ERROR with the
 * message set on a bad name. */
static int build_env(assay_ctx *ctx, const assay_map *env, char ***envp)
{
    size_t n = env ? env->count : 0, bytes = (n + 1) * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        const char *key = env->items[i].key;
        if (!key[0] || strchr(key, '=')) {
            assay_message(ctx, "env: bad variable name \"%s\"", key);
            return ASSAY_ERROR;
        }
        bytes += strlen(key) + strlen(env->items[i].value) + 2;
    }
    char **vec = malloc(bytes);
    if (!vec)
        return ASSAY_ENOMEM;
    char *p = (char *)(vec + n + 1);
    for (size_t i = 0; i < n; i++) {
        vec[i] = p;
        p += sprintf(p, "%s=%s", env->items[i].key, env->items[i].value) + 1;
    }
    vec[n] = NULL;
    *envp = vec;
    return 0;
}

/* ---- running the provider --------------------------------------------- */

/* Starts the provider with stdout/stderr on the given pipe ends. Returns 0
 * or an errno value (including the child's failure to chdir or exec). */
static int spawn(pid_t *pid, char **args, char **envp, const char *cwd,
                 int out_w, int err_w)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc)
        return rc;
    if ((rc = posix_spawnattr_init(&attr))) {
        posix_spawn_file_actions_destroy(&fa);
        return rc;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    /* The signal mask and ignored signals are inherited across exec; the
     * executor's must not leak into the provider. The provider stays in
     * the executor's process group, so that when the pool kills the
     * executor (timeout, cancel) the provider and its children die too. */
    rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                             POSIX_SPAWN_SETSIGDEF);
    if (!rc)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (!rc)
        rc = posix_spawnattr_setsigdefault(&attr, &all);
    /* dup2 before opening fd 0, in case a pipe end got fd 0 because the
     * executor runs with its standard descriptors closed. */
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
    if (!rc)
        rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
                                              O_RDONLY, 0);
    /* Sockets and other jobs' descriptors stay in the executor. */
    if (!rc)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (!rc && cwd)
        rc = posix_spawn_file_actions_addchdir_np(&fa, cwd);
    if (!rc)
        rc = posix_spawn(pid, args[0], &fa, &attr, args, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

/* One captured output stream. */
typedef struct stream {
    int fd; /* non-blocking read end; -1 once at EOF */
    char *buf;
    size_t len, cap;
    uint64_t dropped; /* bytes read beyond max_output and discarded */
} stream;

/* Reads what is available, keeping at most `limit` bytes in total.
 * Returns 0 or an errno value. */
static int stream_read(stream *s, size_t limit)
{
    char chunk[16384];
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : errno;
    if (n == 0) {
        close(s->fd);
        s->fd = -1;
        return 0;
    }
    size_t keep = (size_t)n < limit - s->len ? (size_t)n : limit - s->len;
    s->dropped += (size_t)n - keep;
    if (keep == 0)
        return 0;
    if (keep > s->cap - s->len) {
        size_t cap = s->cap ? s->cap * 2 : sizeof chunk;
        if (cap < s->len + keep)
            cap = s->len + keep;
        if (cap > limit)
            cap = limit;
        char *p = realloc(s->buf, cap);
        if (!p)
            return ENOMEM;
        s->buf = p;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, chunk, keep);
    s->len += keep;
    return 0;
}

/* Collects both streams until the provider exits, then reaps it. At the
 * deadline it sends SIGTERM to the provider, and SIGKILL KILL_GRACE_MS later
 * (children it left behind die with the executor's process group).
 * Once the provider has exited only output already in the pipes is read:
 * a child it left behind may hold them open. Returns 0 with *wstatus set,
 * or an errno value; the child is reaped either way. */
static int supervise(pid_t pid, stream *s, size_t limit, int64_t timeout_ms,
                     int *wstatus, bool *timed_out)
{
    /* Without a pidfd (old kernel, seccomp) waitpid is polled every tick. */
    int pidfd = pidfd_open(pid, 0);
    int64_t start = now_ms(), deadline;
    if (__builtin_add_overflow(start, timeout_ms, &deadline))
        deadline = INT64_MAX;
    bool exited = false;
    int rc = 0;
    *timed_out = false;
    while (rc == 0) {
        int64_t now = now_ms();
        if (now >= deadline) {
            if (exited || *timed_out)
                break;
            kill(pid, SIGTERM);
            *timed_out = true;
            deadline = now + KILL_GRACE_MS;
            continue;
        }
        struct pollfd pfd[3];
        stream *owner[3];
        nfds_t n = 0;
        int pid_slot = -1;
        for (int i = 0; i < 2; i++)
            if (s[i].fd >= 0) {
                owner[n] = &s[i];
                pfd[n++] = (struct pollfd){.fd = s[i].fd, .events = POLLIN};
            }
        if (!exited && pidfd >= 0) {
            pid_slot = (int)n;
            pfd[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        }
        if (exited && n == 0)
            break;
        int64_t wait = exited ? 0 : deadline - now;
        if (!exited && pidfd < 0 && wait > TICK_MS)
            wait = TICK_MS;
        int r = poll(pfd, n, wait > INT_MAX ? INT_MAX : (int)wait);
        if (r < 0) {
            if (errno != EINTR)
                rc = errno;
            continue;
        }
        if (exited && r == 0)
            break;
        for (nfds_t i = 0; i < n && rc == 0; i++)
            if (pfd[i].revents && (int)i != pid_slot)
                rc = stream_read(owner[i], limit);
        if (!exited && (pidfd < 0 || pfd[pid_slot].revents)) {
            pid_t w = waitpid(pid, wstatus, WNOHANG);
            if (w == pid)
                exited = true;
            else if (w < 0 && errno != EINTR)
                rc = errno;
        }
    }
    if (!exited) {
        kill(pid, SIGKILL);
        while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR)
            ;
    }
    if (pidfd >= 0)
        close(pidfd);
    return rc;
}

/* ---- reporting -------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs,
 * surrogates or code points past U+10FFFF), or 0. NUL counts as invalid
 * since the text travels as a C string. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : lo, hi = c == 0xED ? 0x9F : hi;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : lo, hi = c == 0xF4 ? 0x8F : hi;
    else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* The stream as text for the result: results carry UTF-8 strings, and the
 * output may be binary or cut mid-character by max_output, so NULs and
 * invalid bytes become U+FFFD. NULL when out of memory. */
static char *stream_text(const stream *s)
{
    char *out = malloc(s->len * 3 + 1);
    if (!out)
        return NULL;
    const unsigned char *in = (const unsigned char *)s->buf;
    size_t o = 0;
    for (size_t i = 0; i < s->len;) {
        size_t n = utf8_seq(in + i, s->len - i);
        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, in + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* Sets data[key] to the stream's text; ASSAY_ENOMEM or 0. */
static int data_stream(assay_ctx *ctx, const char *key, const stream *s)
{
    char *text = stream_text(s);
    if (!text)
        return ASSAY_ENOMEM;
    assay_data(ctx, key, "%s", text);
    free(text);
    return 0;
}

/* Why a report object cannot be used, or NULL if it can. A report is
 * applied whole or not at all. */
static const char *report_invalid(json_t *root)
{
    json_t *v = json_object_get(root, "status");
    if (v && (!json_is_string(v) ||
              name_index(status_names, json_string_value(v)) < 0))
        return "status is not \"pass\", \"fail\" or \"error\"";
    v = json_object_get(root, "message");
    if (v && !json_is_string(v))
        return "message is not a string";
    json_t *list = json_object_get(root, "findings"), *f;
    if (list && !json_is_array(list))
        return "findings is not an array";
    size_t i;
    json_array_foreach(list, i, f) {
        if (!json_is_object(f))
            return "a finding is not an object";
        if (!json_is_string(json_object_get(f, "title")))
            return "a finding's title is not a string";
        v = json_object_get(f, "subject");
        if (v && !json_is_string(v))
            return "a finding's subject is not a string";
        v = json_object_get(f, "state");
        if (!json_is_string(v) ||
            name_index(state_names, json_string_value(v)) < 0)
            return "a finding's state is not \"satisfied\", "
                   "\"not-satisfied\" or \"info\"";
        json_t *ev = json_object_get(f, "evidence"), *x;
        if (ev && !json_is_object(ev))
            return "a finding's evidence is not an object";
        const char *key;
        json_object_foreach(ev, key, x) {
            if (!json_is_string(x) && !json_is_number(x) &&
                !json_is_boolean(x))
                return "an evidence value is not a string, number or "
                       "boolean";
        }
    }
    return NULL;
}

/* Parses stdout as a report. NULL when it is not a JSON object or does not
 * fit the shape (noted in data "report"); stdout is not required to be a
 * report, so neither is an error. */
static json_t *report_load(assay_ctx *ctx, const stream *out)
{
    if (out->len == 0)
        return NULL;
    json_t *root = json_loadb(out->buf, out->len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    const char *why = report_invalid(root);
    if (why) {
        assay_data(ctx, "report", "ignored: %s", why);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Adds the report's findings; returns how many, or a negative ASSAY_E*
 * when the host refuses one (e.g. too many). */
static int report_findings(assay_ctx *ctx, json_t *report,
                           const char *subject)
{
    json_t *list = json_object_get(report, "findings"), *f;
    size_t i;
    json_array_foreach(list, i, f) {
        json_t *sub = json_object_get(f, "subject");
        const char *state = json_string_value(json_object_get(f, "state"));
        int idx = assay_finding(ctx, 1 + name_index(state_names, state),
                                json_string_value(json_object_get(f, "title")),
                                sub ? json_string_value(sub) : subject);
        if (idx < 0)
            return idx;
        const char *key;
        json_t *x;
        json_object_foreach(json_object_get(f, "evidence"), key, x) {
            int rc;
            if (json_is_string(x))
                rc = assay_evidence(ctx, idx, key, "%s", json_string_value(x));
            else if (json_is_integer(x))
                rc = assay_evidence(ctx, idx, key, "%" JSON_INTEGER_FORMAT,
                                    json_integer_value(x));
            else if (json_is_real(x))
                /* %.15g prints decimal input such as 0.1 as written. */
                rc = assay_evidence(ctx, idx, key, "%.15g", json_real_value(x));
            else
                rc = assay_evidence(ctx, idx, key, "%s",
                                    json_is_true(x) ? "true" : "false");
            if (rc < 0)
                return rc;
        }
    }
    return (int)json_array_size(list);
}

/* Turns the finished provider into the result. */
static int report(assay_ctx *ctx, const char *prog, const stream *s,
                  const int table[EXIT_CODES], int wstatus, bool timed_out,
                  int64_t timeout_ms)
{
    int rc;
    if (WIFEXITED(wstatus))
        assay_data(ctx, "exit_code", "%d", WEXITSTATUS(wstatus));
    if ((rc = data_stream(ctx, "stdout", &s[0])) ||
        (rc = data_stream(ctx, "stderr", &s[1])))
        return rc;
    if (s[0].dropped)
        assay_data(ctx, "stdout_truncated", "%" PRIu64, s[0].dropped);
    if (s[1].dropped)
        assay_data(ctx, "stderr_truncated", "%" PRIu64, s[1].dropped);

    if (timed_out) {
        assay_message(ctx, "provider timed out after %" PRId64 " ms",
                      timeout_ms);
        return ASSAY_ERROR;
    }
    if (WIFSIGNALED(wstatus)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(wstatus));
        if (abbrev)
            assay_message(ctx, "provider killed by SIG%s", abbrev);
        else
            assay_message(ctx, "provider killed by signal %d",
                          WTERMSIG(wstatus));
        return ASSAY_ERROR;
    }

    int code = WEXITSTATUS(wstatus), status = table[code];
    json_t *rep = report_load(ctx, &s[0]);
    json_t *v = json_object_get(rep, "status");
    if (v)
        status = name_index(status_names, json_string_value(v));
    if ((v = json_object_get(rep, "message")))
        assay_message(ctx, "%s", json_string_value(v));
    else
        assay_message(ctx, "provider exited with code %d (%s)", code,
                      status_names[status]);
    int added = rep ? report_findings(ctx, rep, prog) : 0;
    json_decref(rep);
    if (added < 0)
        return added;

    /* The provider's findings speak for themselves; otherwise the verdict
     * itself becomes the finding. */
    if (added == 0 && status != ASSAY_ERROR) {
        int f = assay_finding(
            ctx, status == ASSAY_PASS ? ASSAY_SATISFIED : ASSAY_NOT_SATISFIED,
            "provider result", prog);
        assay_evidence(ctx, f, "actual", "%s", status_names[status]);
        assay_evidence(ctx, f, "expected", "pass");
        assay_evidence(ctx, f, "exit_code", "%d", code);
        if (s[0].dropped)
            assay_evidence(ctx, f, "stdout_truncated", "%" PRIu64,
                           s[0].dropped);
        if (s[1].dropped)
            assay_evidence(ctx, f, "stderr_truncated", "%" PRIu64,
                           s[1].dropped);
    }
    return status;
}

/* ---- the action ------------------------------------------------------- */

static int exec_run(assay_ctx *ctx, const assay_strlist *argv,
                    const assay_map *env, const char *cwd, int64_t timeout_ms,
                    const assay_map *exit_codes, int64_t max_output)
{
    if (argv->count == 0 || !argv->items[0][0]) {
        assay_message(ctx, "argv must start with the provider's path");
        return ASSAY_ERROR;
    }
    if (timeout_ms <= 0) {
        assay_message(ctx, "timeout_ms must be positive (got %" PRId64 ")",
                      timeout_ms);
        return ASSAY_ERROR;
    }
    if (max_output < 0 || max_output > MAX_OUTPUT_LIMIT) {
        assay_message(ctx,
                      "max_output must be 0 to %d bytes (got %" PRId64 ")",
                      MAX_OUTPUT_LIMIT, max_output);
        return ASSAY_ERROR;
    }
    int table[EXIT_CODES];
    if (!build_exit_map(ctx, exit_codes, table))
        return ASSAY_ERROR;
    /* Stop the provider a little before the job's own deadline, so that
     * this action reports "provider timed out" instead of the pool
     * killing the whole executor. */
    int64_t left = assay_host->remaining_ms(ctx);
    if (left > 0 && left < timeout_ms)
        timeout_ms = left * 9 / 10;

    const char *prog = argv->items[0];
    stream s[2] = {{.fd = -1}, {.fd = -1}};
    int wr[2] = {-1, -1}; /* write ends: the provider's stdout, stderr */
    char **envp = NULL;
    char **args = malloc((argv->count + 1) * sizeof *args);
    int status = args ? build_env(ctx, env, &envp) : ASSAY_ENOMEM;
    if (status != 0)
        goto out;
    for (size_t i = 0; i < argv->count; i++)
        args[i] = (char *)argv->items[i];
    args[argv->count] = NULL;

    for (int i = 0; i < 2; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) {
            assay_message(ctx, "cannot create pipe: %s", strerror(errno));
            status = ASSAY_ERROR;
            goto out;
        }
        s[i].fd = p[0];
        wr[i] = p[1];
        /* Only our end: the provider's writes must block, not fail. */
        fcntl(p[0], F_SETFL, O_NONBLOCK);
    }
    pid_t pid;
    int rc = spawn(&pid, args, envp, cwd, wr[0], wr[1]);
    /* Closed here so that the provider's exit is seen as EOF. */
    for (int i = 0; i < 2; i++) {
        close(wr[i]);
        wr[i] = -1;
    }
    if (rc != 0) {
        if (cwd)
            assay_message(ctx, "cannot run %s in %s: %s", prog, cwd,
                          strerror(rc));
        else
            assay_message(ctx, "cannot run %s: %s", prog, strerror(rc));
        status = ASSAY_ERROR;
        goto out;
    }

    int wstatus = 0;
    bool timed_out;
    rc = supervise(pid, s, (size_t)max_output, timeout_ms, &wstatus,
                   &timed_out);
    if (rc != 0) {
        assay_message(ctx, "lost track of %s: %s", prog, strerror(rc));
        status = ASSAY_ERROR;
        goto out;
    }
    status = report(ctx, prog, s, table, wstatus, timed_out, timeout_ms);
out:
    for (int i = 0; i < 2; i++) {
        if (wr[i] >= 0)
            close(wr[i]);
        if (s[i].fd >= 0)
            close(s[i].fd);
        free(s[i].buf);
    }
    free(envp);
    free(args);
    return status;
}

static const assay_action actions[] = {
    ASSAY_ACTION(
        exec_run, "run", "runs a provider binary and maps its outcome",
        ASSAY_ARG(const assay_strlist *, "argv", ASSAY_PARAM_REQUIRED, NULL,
                  "provider path and its arguments (no shell, no PATH "
                  "search)"),
        ASSAY_ARG(const assay_map *, "env", 0, NULL,
                  "the provider's entire environment (empty when absent)"),
        ASSAY_ARG(const char *, "cwd", 0, NULL,
                  "working directory of the provider"),
        ASSAY_ARG(int64_t, "timeout_ms", 0, "10000",
                  "SIGTERM after this, SIGKILL 500 ms later; result error"),
        ASSAY_ARG(const assay_map *, "exit_codes", 0, NULL,
                  "exit code -> pass/fail/error, over 0:pass 1:fail "
                  "else:error"),
        ASSAY_ARG(int64_t, "max_output", 0, "65536",
                  "bytes of stdout and of stderr kept (excess counted)")),
    {0},
};

static const assay_module desc = {
    ASSAY_MODULE_HEADER,
    .kind = ASSAY_KIND_ACTION,
    .name = "exec",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "runs external provider binaries",
    .actions = actions,
};

ASSAY_MODULE_DEFINE(desc)
