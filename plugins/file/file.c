/* file - actions about one filesystem path: existence, permission bits,
 * ownership, SHA-256 of the content, a line matching a regex, and age.
 *
 * Only `exists` turns a missing path into a verdict; the other actions
 * cannot observe their property on a missing path and report ASSAY_ERROR
 * naming it. Every verdict carries a finding whose evidence shows the
 * observed value ("actual" or the property's name) next to the expected
 * one. */
#define _GNU_SOURCE
#include <assay.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longest line `contains` matches. getline() would grow without bound on
 * a file with no newlines; the tail of a longer line is skipped instead. */
#define LINE_CAP (1u << 20)

/* libsodium's hash functions work without it, but its documentation
 * requires sodium_init() before any other call; init() runs once per
 * process. */
static int file_init(void **state, char *errbuf, size_t errlen)
{
    *state = NULL;
    if (sodium_init() < 0) {
        snprintf(errbuf, errlen, "libsodium failed to initialise");
        return ASSAY_EIO;
    }
    return 0;
}

static const char *type_name(mode_t m)
{
    if (S_ISREG(m))
        return "file";
    if (S_ISDIR(m))
        return "directory";
    if (S_ISLNK(m))
        return "symlink";
    if (S_ISFIFO(m))
        return "fifo";
    if (S_ISSOCK(m))
        return "socket";
    if (S_ISCHR(m))
        return "char-device";
    if (S_ISBLK(m))
        return "block-device";
    return "unknown";
}

/* Reports a failed system call on `path` (errno intact); ASSAY_ERROR. */
static int path_error(assay_ctx *ctx, const char *what, const char *path)
{
    assay_message(ctx, "cannot %s %s: %s", what, path, strerror(errno));
    return ASSAY_ERROR;
}

/* Opens a regular file for reading; anything else is refused because a
 * FIFO or a device could block or never end. O_NONBLOCK keeps open() from
 * waiting for a FIFO's writer. Returns the fd, or -1 with the message set. */
static int open_regular(assay_ctx *ctx, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        path_error(ctx, "open", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        path_error(ctx, "stat", path);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        assay_message(ctx, "%s is a %s, not a regular file", path,
                      type_name(st.st_mode));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- exists ----------------------------------------------------------- */

static int file_exists(assay_ctx *ctx, const char *path, bool follow)
{
    struct stat st;
    int rc = follow ? stat(path, &st) : lstat(path, &st);
    /* ENOENT/ENOTDIR are the answer "absent"; anything else (EACCES,
     * ELOOP) means the question could not be answered. */
    if (rc != 0 && errno != ENOENT && errno != ENOTDIR)
        return path_error(ctx, "stat", path);
    bool found = rc == 0;
    assay_message(ctx, "%s %s", path, found ? "exists" : "does not exist");
    int f = assay_finding(ctx, found ? ASSAY_SATISFIED : ASSAY_NOT_SATISFIED,
                          "path exists", path);
    assay_evidence(ctx, f, "actual", "%s", found ? "present" : "absent");
    assay_evidence(ctx, f, "expected", "present");
    if (found)
        assay_evidence(ctx, f, "type", "%s", type_name(st.st_mode));
    return found ? ASSAY_PASS : ASSAY_FAIL;
}

/* ---- mode ------------------------------------------------------------- */

static int file_mode(assay_ctx *ctx, const char *path, int64_t mode)
{
    if (mode < 0 || mode > 07777) {
        assay_message(ctx, "mode %" PRId64 " is out of range (0 to 07777)",
                      mode);
        return ASSAY_ERROR;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return path_error(ctx, "stat", path);
    unsigned actual = st.st_mode & 07777, expected = (unsigned)mode;
    bool ok = actual == expected;
    /* "0%03o" writes octal literals: "0644", and "01777" with sticky. */
    assay_message(ctx, "%s has mode 0%03o, expected 0%03o", path, actual,
                  expected);
    int f = assay_finding(ctx, ok ? ASSAY_SATISFIED : ASSAY_NOT_SATISFIED,
                          "permission bits", path);
    assay_evidence(ctx, f, "actual", "0%03o", actual);
    assay_evidence(ctx, f, "expected", "0%03o", expected);
    return ok ? ASSAY_PASS : ASSAY_FAIL;
}

/* ---- owner ------------------------------------------------------------ */

/* A user or group account: an id and, when the database has one, its name
 * (empty otherwise). */
typedef struct account {
    bool group; /* group database instead of passwd */
    unsigned id;
    char name[256];
} account;

static const char *account_kind(const account *a)
{
    return a->group ? "group" : "user";
}

/* Fills the id from a->name (by_name) or the name from a->id. The buffer
 * grows on ERANGE since group entries with many members can be large.
 * Returns 0 if found, ASSAY_ENOENT if not, ASSAY_ENOMEM, or ASSAY_EIO with
 * errno set when the database could not be read. */
static int account_lookup(account *a, bool by_name)
{
    for (size_t len = 4096;; len *= 4) {
        char *buf = malloc(len);
        if (!buf)
            return ASSAY_ENOMEM;
        const char *name = NULL;
        int rc;
        if (a->group) {
            struct group gr, *res = NULL;
            rc = by_name ? getgrnam_r(a->name, &gr, buf, len, &res)
                         : getgrgid_r(a->id, &gr, buf, len, &res);
            if (res)
                a->id = gr.gr_gid, name = gr.gr_name;
        } else {
            struct passwd pw, *res = NULL;
            rc = by_name ? getpwnam_r(a->name, &pw, buf, len, &res)
                         : getpwuid_r(a->id, &pw, buf, len, &res);
            if (res)
                a->id = pw.pw_uid, name = pw.pw_name;
        }
        if (name)
            snprintf(a->name, sizeof a->name, "%s", name);
        free(buf);
        if (name)
            return 0;
        if (rc == ERANGE && len < (1u << 24))
            continue;
        /* Not-found is rc 0 in glibc; POSIX also allows these. */
        if (rc == 0 || rc == ENOENT || rc == ESRCH)
            return ASSAY_ENOENT;
        errno = rc;
        return ASSAY_EIO;
    }
}

/* Name, or the decimal id when the account has no name. */
static const char *account_text(const account *a, char *buf, size_t cap)
{
    if (a->name[0])
        return a->name;
    snprintf(buf, cap, "%u", a->id);
    return buf;
}

/* Resolves the expected owner `text`, a decimal id or a name. A name the
 * database does not know is an error: the check cannot be evaluated. */
static int account_expect(assay_ctx *ctx, account *a, const char *text)
{
    size_t len = strlen(text);
    if (len > 0 && strspn(text, "0123456789") == len) {
        errno = 0;
        unsigned long long v = strtoull(text, NULL, 10);
        /* (uid_t)-1 is the "no change" marker, never a real owner. */
        if (errno != 0 || v >= UINT32_MAX) {
            assay_message(ctx, "%s id %s is out of range", account_kind(a),
                          text);
            return ASSAY_ERROR;
        }
        a->id = (unsigned)v;
        return 0;
    }
    /* No account has a name that long; copying it would truncate it. */
    int rc = ASSAY_ENOENT;
    if (len < sizeof a->name) {
        memcpy(a->name, text, len + 1);
        rc = account_lookup(a, true);
    }
    if (rc == ASSAY_ENOENT)
        assay_message(ctx, "no such %s: %s", account_kind(a), text);
    else if (rc != 0)
        assay_message(ctx, "cannot look up %s %s: %s", account_kind(a), text,
                      rc == ASSAY_EIO ? strerror(errno) : "out of memory");
    return rc == 0 ? 0 : ASSAY_ERROR;
}

static int file_owner(assay_ctx *ctx, const char *path, const char *user,
                      const char *group)
{
    if (!user && !group) {
        assay_message(ctx, "owner needs a user, a group or both");
        return ASSAY_ERROR;
    }
    account want_user = {.group = false}, want_group = {.group = true};
    if (user && account_expect(ctx, &want_user, user) != 0)
        return ASSAY_ERROR;
    if (group && account_expect(ctx, &want_group, group) != 0)
        return ASSAY_ERROR;
    struct stat st;
    if (stat(path, &st) != 0)
        return path_error(ctx, "stat", path);

    account have_user = {.group = false, .id = st.st_uid};
    account have_group = {.group = true, .id = st.st_gid};
    /* An id without a name is shown as the number; not an error. */
    (void)account_lookup(&have_user, false);
    (void)account_lookup(&have_group, false);
    bool ok = (!user || have_user.id == want_user.id) &&
              (!group || have_group.id == want_group.id);

    char ubuf[16], gbuf[16];
    const char *utext = account_text(&have_user, ubuf, sizeof ubuf);
    const char *gtext = account_text(&have_group, gbuf, sizeof gbuf);
    assay_message(ctx, "%s is owned by %s:%s%s", path, utext, gtext,
                  ok ? "" : ", not the expected owner");
    int f = assay_finding(ctx, ok ? ASSAY_SATISFIED : ASSAY_NOT_SATISFIED,
                          "file owner", path);
    assay_evidence(ctx, f, "user", "%s", utext);
    assay_evidence(ctx, f, "group", "%s", gtext);
    if (user)
        assay_evidence(ctx, f, "expected_user", "%s", user);
    if (group)
        assay_evidence(ctx, f, "expected_group", "%s", group);
    return ok ? ASSAY_PASS : ASSAY_FAIL;
}

/* ---- sha256 ----------------------------------------------------------- */

static int file_sha256(assay_ctx *ctx, const char *path, const char *expected)
{
    enum { HEX_LEN = 2 * crypto_hash_sha256_BYTES };
    if (strlen(expected) != HEX_LEN ||
        strspn(expected, "0123456789abcdefABCDEF") != HEX_LEN) {
        assay_message(ctx, "expected must be %d hex digits, got \"%.80s\"",
                      HEX_LEN, expected);
        return ASSAY_ERROR;
    }
    int fd = open_regular(ctx, path);
    if (fd < 0)
        return ASSAY_ERROR;

    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            path_error(ctx, "read", path);
            close(fd);
            return ASSAY_ERROR;
        }
        crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
    }
    close(fd);
    unsigned char sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, sum);
    char actual[HEX_LEN + 1];
    sodium_bin2hex(actual, sizeof actual, sum, sizeof sum);

    bool ok = strcasecmp(actual, expected) == 0;
    assay_message(ctx, "sha256 of %s %s", path,
                  ok ? "matches" : "does not match");
    int f = assay_finding(ctx, ok ? ASSAY_SATISFIED : ASSAY_NOT_SATISFIED,
                          "content sha256", path);
    assay_evidence(ctx, f, "actual", "%s", actual);
    assay_evidence(ctx, f, "expected", "%s", expected);
    return ok ? ASSAY_PASS : ASSAY_FAIL;
}

/* ---- contains --------------------------------------------------------- */

/* Reads the next line of `f` into `line` without its newline, keeping at
 * most LINE_CAP - 1 bytes. Returns false at end of file. */
static bool read_line(FILE *f, char *line)
{
    size_t len = 0;
    int c;
    bool any = false;
    while ((c = getc_unlocked(f)) != EOF && c != '\n') {
        any = true;
        if (len < LINE_CAP - 1)
            line[len++] = (char)c;
    }
    line[len] = '\0';
    return c == '\n' || any;
}

static int file_contains(assay_ctx *ctx, const char *path,
                         const char *pattern, bool present)
{
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
    if (rc != 0) {
        char why[256];
        regerror(rc, &re, why, sizeof why);
        assay_message(ctx, "bad pattern \"%s\": %s", pattern, why);
        return ASSAY_ERROR;
    }
    int status = ASSAY_ERROR;
    char *line = NULL;
    FILE *f = NULL;
    int fd = open_regular(ctx, path);
    if (fd < 0)
        goto out;
    if (!(f = fdopen(fd, "r"))) {
        path_error(ctx, "read", path);
        close(fd);
        goto out;
    }
    if (!(line = malloc(LINE_CAP))) {
        status = ASSAY_ENOMEM;
        goto out;
    }
    uintmax_t lineno = 0, match = 0;
    while (!match && read_line(f, line)) {
        lineno++;
        if (regexec(&re, line, 0, NULL, 0) == 0)
            match = lineno;
    }
    if (ferror(f)) {
        path_error(ctx, "read", path);
        goto out;
    }

    bool found = match != 0, ok = found == present;
    if (found)
        assay_message(ctx, "%s matches \"%s\" at line %ju", path, pattern,
                      match);
    else
        assay_message(ctx, "%s has no line matching \"%s\"", path, pattern);
    int fi = assay_finding(ctx, ok ? ASSAY_SATISFIED : ASSAY_NOT_SATISFIED,
                           present ? "content matches"
                                   : "content does not match",
                           path);
    assay_evidence(ctx, fi, "actual", "%s", found ? "present" : "absent");
    assay_evidence(ctx, fi, "expected", "%s", present ? "present" : "absent");
    assay_evidence(ctx, fi, "pattern", "%s", pattern);
    if (found)
        assay_evidence(ctx, fi, "line", "%ju", match);
    status = ok ? ASSAY_PASS : ASSAY_FAIL;
out:
    free(line);
    if (f)
        fclose(f);
    regfree(&re);
    return status;
}

/* ---- max_age ---------------------------------------------------------- */

static int file_max_age(assay_ctx *ctx, const char *path, int64_t seconds)
{
    if (seconds < 0) {
        assay_message(ctx, "seconds must not be negative (got %" PRId64 ")",
                      seconds);
        return ASSAY_ERROR;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return path_error(ctx, "stat", path);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age;
    /* A forged mtime far in the past must not wrap into a small age. */
    if (__builtin_sub_overflow((int64_t)now.tv_sec, (int64_t)st.st_mtim.tv_sec,
                               &age))
        age = INT64_MAX;
    bool ok = age <= seconds;
    assay_message(ctx, "%s was modified %" PRId64 " s ago (limit %" PRId64
                  " s)", path, age, seconds);
    int f = assay_finding(ctx, ok ? ASSAY_SATISFIED : ASSAY_NOT_SATISFIED,
                          "modification age", path);
    assay_evidence(ctx, f, "actual", "%" PRId64, age);
    assay_evidence(ctx, f, "expected", "<= %" PRId64, seconds);
    return ok ? ASSAY_PASS : ASSAY_FAIL;
}

/* ---- descriptor ------------------------------------------------------- */

#define PATH_ARG                                                               \
    ASSAY_ARG(const char *, "path", ASSAY_PARAM_REQUIRED, NULL,                \
              "path to inspect")

static const assay_action actions[] = {
    ASSAY_ACTION(file_exists, "exists", "passes if the path exists", PATH_ARG,
                 ASSAY_ARG(bool, "follow", 0, "true",
                           "follow a final symlink (false: the link itself "
                           "counts)")),
    ASSAY_ACTION(file_mode, "mode", "passes if the permission bits equal mode",
                 PATH_ARG,
                 ASSAY_ARG(int64_t, "mode", ASSAY_PARAM_REQUIRED, NULL,
                           "expected permission bits (st_mode & 07777)")),
    ASSAY_ACTION(file_owner, "owner",
                 "passes if the file has the given user/group", PATH_ARG,
                 ASSAY_ARG(const char *, "user", 0, NULL,
                           "expected owner, name or numeric uid"),
                 ASSAY_ARG(const char *, "group", 0, NULL,
                           "expected group, name or numeric gid")),
    ASSAY_ACTION(file_sha256, "sha256",
                 "passes if the content has the given SHA-256", PATH_ARG,
                 ASSAY_ARG(const char *, "expected", ASSAY_PARAM_REQUIRED, NULL,
                           "expected SHA-256, hex")),
    ASSAY_ACTION(file_contains, "contains",
                 "passes if a line matching pattern exists (or not, "
                 "present=false)",
                 PATH_ARG,
                 ASSAY_ARG(const char *, "pattern", ASSAY_PARAM_REQUIRED, NULL,
                           "POSIX extended regex matched against each line"),
                 ASSAY_ARG(bool, "present", 0, "true",
                           "whether a matching line must exist (false: must "
                           "not)")),
    ASSAY_ACTION(file_max_age, "max_age",
                 "passes if the file was modified at most seconds ago",
                 PATH_ARG,
                 ASSAY_ARG(int64_t, "seconds", ASSAY_PARAM_REQUIRED, NULL,
                           "largest allowed time since last modification")),
    {0},
};

static const assay_module desc = {
    ASSAY_MODULE_HEADER,
    .kind = ASSAY_KIND_ACTION,
    .name = "file",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "file checks: existence, mode, owner, hash, content, age",
    .init = file_init,
    .actions = actions,
};

ASSAY_MODULE_DEFINE(desc)
