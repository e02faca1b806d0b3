/* tests/integration/test_hotload.c - hot plugin loading end to end: a
 * member and one runtime (rt1) as real processes, the runtime watching a
 * plugins directory of its own (DIR, under the cluster's temp dir) that
 * the tests change under it: drops, slow copies, upgrades, removals,
 * immutable versions, broken files, SIGHUP and `plugins --rescan`.
 *
 * Every file is copied into DIR (never symlinked), through a temporary
 * name that does not end in .so and a rename, as the documentation says,
 * unless a test is about another way. Each wait is bounded and each test
 * stops what it started (cluster_stop). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cluster.h"
#include "harness.h"

#define VERSIONS HARNESS_FIXTURES "versions/"
#define BROKEN HARNESS_FIXTURES "broken/"
#define UNLOADABLE HARNESS_FIXTURES "unloadable/"
#define NOOP HARNESS_PLUGINS "/assay-action_noop.so"
#define RT "rt1"

/* ---- Fixture ---------------------------------------------------------- */

static cluster c;
static char pdir[256]; /* rt1's plugins directory */
static cluster_node *rt;

static void teardown(void) { cluster_stop(&c); }

TestSuite(hotload, .fini = teardown, .timeout = 240);

/* ---- Helpers: files --------------------------------------------------- */

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *s_get(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* DIR/name (static buffer, one at a time per call site). */
static const char *in_dir(const char *name)
{
    static char path[4][320];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", pdir, name);
    return p;
}

/* Reads a whole file; *len its size. Caller frees. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Writes src's bytes, then `tail` (may be NULL), to dst in one open. */
static void copy_file(const char *src, const char *dst, const char *tail)
{
    size_t len;
    char *buf = slurp(src, &len);
    FILE *f = fopen(dst, "wb");
    cr_assert_not_null(f, "cannot write %s: %s", dst, strerror(errno));
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    if (tail)
        fputs(tail, f);
    cr_assert_eq(fclose(f), 0);
    free(buf);
}

/* The documented safe drop: copy to DIR/.NAME.tmp (ignored: not *.so),
 * then rename it to DIR/NAME (IN_MOVED_TO). `tail` as for copy_file. */
static void drop(const char *src, const char *name, const char *tail)
{
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", pdir, name);
    copy_file(src, tmp, tail);
    cr_assert_eq(rename(tmp, in_dir(name)), 0, "rename: %s", strerror(errno));
}

static bool same_bytes(const char *a, const char *b)
{
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    bool same = la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

static void sh(const char *cmd)
{
    char *out;
    int rc = harness_sh(&out, "%s", cmd);
    cr_assert_eq(rc, 0, "%s: %s", cmd, out);
    free(out);
}

/* ---- Helpers: processes ----------------------------------------------- */

static pid_t s_ppid(pid_t pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
    char *close = ok ? strrchr(line, ')') : NULL;
    int ppid;
    return close && sscanf(close + 1, " %*c %d", &ppid) == 1 ? ppid : -1;
}

static int s_pid_cmp(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

/* The children of `parent` (what `pgrep -P` lists), sorted; their count. */
static int children(pid_t parent, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (s_ppid((pid_t)pid) == parent)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    qsort(out, (size_t)n, sizeof *out, s_pid_cmp);
    return n;
}

#define MAX_KIDS 16

typedef struct {
    pid_t pid[MAX_KIDS];
    int n;
} kids;

static kids executors(void)
{
    kids k;
    k.n = children(rt->pid, k.pid, MAX_KIDS);
    return k;
}

static void expect_same_executors(const kids *before, const char *when)
{
    kids now = executors();
    cr_expect_eq(now.n, before->n, "%s: %d executors, %d before", when,
                 now.n, before->n);
    for (int i = 0; i < now.n && i < before->n; i++)
        cr_expect_eq(now.pid[i], before->pid[i],
                     "%s: executor %d was restarted (pid %d, was %d)", when,
                     i, (int)now.pid[i], (int)before->pid[i]);
}

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "%s: %s", path, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int count_maps(pid_t pid)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strchr(line, '\n') != NULL;
    fclose(f);
    return n;
}

/* Some line of node's log holds both a and b. */
static bool log_line_has2(const cluster_node *n, const char *a, const char *b)
{
    FILE *f = fopen(n->log, "r");
    char line[8192];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, a) && strstr(line, b);
    if (f)
        fclose(f);
    return found;
}

static bool wait_log_line_has2(const cluster_node *n, const char *a,
                               const char *b, int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    while (!log_line_has2(n, a, b)) {
        if (assay_now_ms() >= deadline)
            return false;
        s_sleep_ms(50);
    }
    return true;
}

/* ---- Helpers: the cluster --------------------------------------------- */

/* A member and rt1 (`extra` assayd arguments beside its own plugins dir,
 * which holds noop and, if `src`, src copied as `name` before start). */
static void start(const char *extra, const char *src, const char *name)
{
    cluster_start(&c, NULL);
    snprintf(pdir, sizeof pdir, "%s/plugins", c.dir);
    char cmd[640];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", pdir);
    sh(cmd);
    copy_file(NOOP, in_dir("assay-action_noop.so"), NULL);
    if (src)
        copy_file(src, in_dir(name), NULL);
    char args[1024];
    snprintf(args, sizeof args, "%s --plugins-dir %s", extra, pdir);
    rt = cluster_runtime(&c, RT, args);
}

/* rt1's catalogue as the leader has it (caller decrefs); NULL if none. */
static json_t *catalog(void)
{
    json_t *r = cluster_ctl(&c, NULL, "plugins");
    json_t *out = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "runtimes"), i, x)
        if (!strcmp(s_get(x, "runtime"), RT) && !out)
            out = json_incref(json_object_get(x, "catalog"));
    json_decref(r);
    return out;
}

/* The catalogue entry for name@version (any version if NULL). */
static const json_t *find_plugin(const json_t *cat, const char *name,
                                 const char *version)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(cat, "plugins"), i, p)
        if (!strcmp(s_get(p, "name"), name) &&
            (!version || !strcmp(s_get(p, "version"), version)))
            return p;
    return NULL;
}

/* The refused entry for path, NULL if none. */
static const json_t *find_refused(const json_t *cat, const char *path)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(cat, "refused"), i, r)
        if (!strcmp(s_get(r, "path"), path))
            return r;
    return NULL;
}

/* Polls until name@version is listed (present) or no longer is. */
static bool wait_plugin(const char *name, const char *version, bool present,
                        int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        json_t *cat = catalog();
        bool there = cat && find_plugin(cat, name, version) != NULL;
        json_decref(cat);
        if (cat && there == present)
            return true;
        if (assay_now_ms() >= deadline)
            return false;
        s_sleep_ms(20);
    }
}

/* Polls until path is listed as refused; returns its reason (static) or
 * NULL after timeout_ms. */
static const char *wait_refused(const char *path, int timeout_ms)
{
    static char reason[1024];
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        json_t *cat = catalog();
        const json_t *r = find_refused(cat, path);
        if (r)
            snprintf(reason, sizeof reason, "%s", s_get(r, "reason"));
        json_decref(cat);
        if (r)
            return reason;
        if (assay_now_ms() >= deadline)
            return NULL;
        s_sleep_ms(20);
    }
}

/* A positive signal for "X did not happen": the runtime handles its
 * directory's events in order, and its catalogue reaches the leader in
 * order. So once plugin `plugin` (from HARNESS_PLUGINS, not otherwise in
 * DIR), dropped as DIR/name after X's cause, is advertised, the runtime
 * has handled everything before it; what X would have changed is in the
 * catalogue returned (caller decrefs) or never will be. */
static json_t *after_marker(const char *plugin, const char *name)
{
    char src[320];
    snprintf(src, sizeof src, "%s/assay-action_%s.so", HARNESS_PLUGINS,
             plugin);
    drop(src, name, NULL);
    cr_assert(wait_plugin(plugin, NULL, true, 10000),
              "marker %s (%s) was never advertised", name, plugin);
    json_t *cat = catalog();
    cr_assert_not_null(cat);
    return cat;
}

static json_t *submit(const char *name, const char *json)
{
    int code;
    json_t *r = cluster_ctl(&c, &code, "submit %s",
                            cluster_spec(&c, name, json));
    cr_assert_eq(code, 0, "submit %s exited %d", name, code);
    cr_assert_not_null(r);
    return r;
}

/* What assayctl wrote to stderr on the last call (caller frees). */
static char *ctl_err(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/ctl.err", c.dir);
    size_t len;
    char *s = slurp(path, &len);
    s = realloc(s, len + 1);
    s[len] = '\0';
    return s;
}

/* The one job of a single-target spec, once terminal (caller decrefs). */
static json_t *finish(const char *spec_id, int timeout_ms)
{
    json_t *jobs = cluster_wait(&c, spec_id, timeout_ms);
    cr_assert_eq(json_array_size(jobs), 1, "spec %s", spec_id);
    json_t *j = json_incref(json_array_get(jobs, 0));
    json_decref(jobs);
    return j;
}

static const char *message(const json_t *job)
{
    return s_get(json_object_get(job, "result"), "message");
}

/* A job ran to completion on typed `version` (record and the code run). */
static void expect_ran(const json_t *job, const char *version)
{
    char want[64];
    snprintf(want, sizeof want, "typed %s", version);
    cr_expect_str_eq(s_get(job, "state"), "completed", "job %s: %s (%s)",
                     s_get(job, "id"), s_get(job, "state"),
                     s_get(job, "reason"));
    cr_expect_str_eq(s_get(job, "version"), version, "job %s",
                     s_get(job, "id"));
    cr_expect_str_eq(message(job), want, "job %s", s_get(job, "id"));
}

static const char *job_state(const char *job_id)
{
    static char state[32];
    json_t *r = cluster_ctl(&c, NULL, "job %s", job_id);
    snprintf(state, sizeof state, "%s",
             s_get(json_object_get(r, "job"), "state"));
    json_decref(r);
    return state;
}

static bool wait_job_state(const char *job_id, const char *state,
                           int timeout_ms)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    while (strcmp(job_state(job_id), state)) {
        if (assay_now_ms() >= deadline)
            return false;
        s_sleep_ms(20);
    }
    return true;
}

static bool has_state(const json_t *jobs, void *arg)
{
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) if (!strcmp(s_get(j, "state"), arg)) return true;
    return false;
}

/* ---- Tests ------------------------------------------------------------ */

Test(hotload, drop_plugin_then_run)
{
    start("--executors 2", NULL, NULL);
    json_t *cat = catalog();
    cr_assert_not_null(cat, "rt1 has no catalogue");
    cr_assert_not_null(find_plugin(cat, "noop", NULL));
    cr_assert_null(find_plugin(cat, "typed", NULL));
    json_decref(cat);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp %s %s/.tmp && mv %s/.tmp %s/typed.so",
             VERSIONS "typed_1_2_0.so", pdir, pdir, pdir);
    sh(cmd);
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000),
              "typed 1.2.0 was never advertised");

    cat = catalog();
    const json_t *p = find_plugin(cat, "typed", "1.2.0");
    cr_assert_not_null(p);
    /* source: the file in DIR; path: the private copy it was loaded from,
     * the same bytes. */
    cr_expect_str_eq(s_get(p, "source"), in_dir("typed.so"));
    const char *path = s_get(p, "path");
    cr_expect(path[0] && strcmp(path, s_get(p, "source")),
              "path '%s' is not a private copy", path);
    cr_expect(path[0] && access(path, R_OK) == 0, "cache copy %s: %s", path,
              strerror(errno));
    if (path[0] && access(path, R_OK) == 0)
        cr_expect(same_bytes(path, VERSIONS "typed_1_2_0.so"),
                  "cache copy %s differs from what was dropped", path);
    cr_expect_not_null(json_object_get(p, "loaded_at"));
    const char *want[] = {"echo", "greet", "nap"};
    for (size_t k = 0; k < 3; k++) {
        bool has = false;
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(p, "actions"), i, a)
            has = has || !strcmp(s_get(a, "name"), want[k]);
        cr_expect(has, "typed 1.2.0 lacks action %s", want[k]);
    }
    /* The temporary name never counted: nothing refused. */
    cr_expect_eq(json_array_size(json_object_get(cat, "refused")), 0);
    json_decref(cat);

    json_decref(submit("e.json", "{\"id\": \"e\", \"action\": \"typed.echo\", "
                                 "\"params\": {\"s\": \"x\"}}"));
    json_t *j = finish("e", 30000);
    expect_ran(j, "1.2.0");
    json_decref(j);
}

Test(hotload, slow_copy_is_never_loaded_half_written)
{
    start("--executors 2", NULL, NULL);
    size_t len;
    char *bytes = slurp(VERSIONS "typed_1_2_0.so", &len);
    size_t half = len / 2;
    /* Straight into DIR/typed.so: created, half written and synced, a
     * pause, the rest, closed. Only the close makes it complete. */
    FILE *f = fopen(in_dir("typed.so"), "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, half, f), half);
    cr_assert_eq(fflush(f), 0);
    cr_assert_eq(fsync(fileno(f)), 0);
    /* What the half-written file caused so far (its creation, its
     * writes) was handled before a marker dropped after it. */
    json_t *half_cat = after_marker("sleep", "marker.so");
    cr_expect_null(find_plugin(half_cat, "typed", NULL),
                   "typed loaded from a half-written file");
    cr_expect_null(find_refused(half_cat, in_dir("typed.so")),
                   "half-written file refused");
    json_decref(half_cat);
    cr_assert_eq(fwrite(bytes + half, 1, len - half, f), len - half);
    cr_assert_eq(fclose(f), 0);
    free(bytes);

    cr_assert(wait_plugin("typed", "1.2.0", true, 5000),
              "typed 1.2.0 was never loaded once complete");
    json_t *cat = catalog();
    cr_expect_eq(json_array_size(json_object_get(cat, "refused")), 0);
    json_decref(cat);
    cr_expect(!log_line_has2(rt, "refused", in_dir("typed.so")),
              "the runtime refused the file while it was being written");
    json_decref(submit("e.json", "{\"id\": \"e\", \"action\": \"typed.echo\", "
                                 "\"params\": {\"s\": \"x\"}}"));
    json_t *j = finish("e", 30000);
    expect_ran(j, "1.2.0");
    json_decref(j);
}

Test(hotload, upgrade_under_load)
{
    start("--executors 2", VERSIONS "typed_1_2_0.so", "typed_1_2_0.so");
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000));
    kids before = executors();
    cr_assert_eq(before.n, 2, "%d executors", before.n);

    json_t *targets = json_array();
    for (int i = 0; i < 200; i++)
        json_array_append_new(targets, json_object());
    /* 200 naps of 80 ms on 2 executors: 8 s of work, so that the upgrade
     * (a file described by a helper process, then advertised) lands while
     * the spec is worked through, even on a loaded machine. */
    json_t *spec = json_pack("{s:s, s:s, s:{s:i}, s:i, s:o}", "id", "u",
                             "action", "typed.nap", "params", "ms", 80,
                             "timeout_ms", 60000, "targets", targets);
    char *text = json_dumps(spec, 0);
    json_decref(submit("u.json", text));
    free(text);
    json_decref(spec);

    cr_assert(cluster_until(&c, 10000, has_state, "running"));
    drop(VERSIONS "typed_1_4_1.so", "typed_1_4_1.so", NULL);
    cr_assert(wait_plugin("typed", "1.4.1", true, 5000),
              "typed 1.4.1 was never advertised");
    /* The upgrade landed while the spec was still being worked through. */
    json_t *jobs = cluster_ctl(&c, NULL, "job u");
    size_t i, done = 0;
    json_t *j;
    json_array_foreach(json_object_get(jobs, "jobs"), i, j)
        done += !strcmp(s_get(j, "state"), "completed");
    json_decref(jobs);
    cr_expect_lt(done, 200, "every job had finished before the upgrade");

    jobs = cluster_wait(&c, "u", 120000);
    cr_assert_eq(json_array_size(jobs), 200);
    json_array_foreach(jobs, i, j) expect_ran(j, "1.2.0");
    json_decref(jobs);
    expect_same_executors(&before, "after the upgrade");

    json_decref(submit("n.json", "{\"id\": \"n\", \"action\": \"typed.nap\", "
                                 "\"params\": {\"ms\": 1}}"));
    json_decref(submit("o.json", "{\"id\": \"o\", \"action\": \"typed.nap\", "
                                 "\"version\": \"~1.2\", \"params\": "
                                 "{\"ms\": 1}}"));
    j = finish("n", 30000);
    expect_ran(j, "1.4.1");
    json_decref(j);
    j = finish("o", 30000);
    expect_ran(j, "1.2.0");
    json_decref(j);
}

Test(hotload, delete_while_running)
{
    start("--executors 2", VERSIONS "typed_1_2_0.so", "typed_1_2_0.so");
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000));
    json_decref(submit("d.json", "{\"id\": \"d\", \"action\": \"typed.nap\", "
                                 "\"params\": {\"ms\": 3000}, "
                                 "\"timeout_ms\": 30000}"));
    cr_assert(wait_job_state("d-0", "running", 10000));
    kids before = executors();
    cr_assert_eq(before.n, 2, "%d executors", before.n);

    cr_assert_eq(unlink(in_dir("typed_1_2_0.so")), 0);
    cr_assert(cluster_log_has(rt, "withdrew typed 1.2.0", 5000),
              "no 'withdrew typed 1.2.0' in %s", rt->log);
    cr_assert(wait_plugin("typed", "1.2.0", false, 5000),
              "typed 1.2.0 still advertised after its file was removed");
    cr_expect_str_eq(job_state("d-0"), "running",
                     "the job did not outlive the withdrawal");

    json_t *j = finish("d", 30000);
    expect_ran(j, "1.2.0");
    json_decref(j);
    expect_same_executors(&before, "after the removal");

    int code;
    json_decref(cluster_ctl(&c, &code, "submit %s",
                            cluster_spec(&c, "p.json",
                                         "{\"id\": \"p\", \"action\": "
                                         "\"typed.nap\", \"version\": "
                                         "\"=1.2.0\", \"params\": "
                                         "{\"ms\": 1}}")));
    cr_expect_eq(code, 65);
    char *err = ctl_err();
    cr_expect(strstr(err, "no runtime offers"), "%s", err);
    free(err);
}

Test(hotload, executors_keep_running_across_changes)
{
    start("--executors 2", VERSIONS "typed_1_2_0.so", "typed_1_2_0.so");
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000));
    json_decref(submit("l.json", "{\"id\": \"l\", \"action\": \"typed.nap\", "
                                 "\"params\": {\"ms\": 4000}, "
                                 "\"timeout_ms\": 30000}"));
    cr_assert(wait_job_state("l-0", "running", 10000));
    kids before = executors();
    cr_assert_eq(before.n, 2, "%d executors", before.n);

    /* A new version, a broken file and a removal while the job naps. */
    drop(VERSIONS "typed_1_4_1.so", "typed_1_4_1.so", NULL);
    cr_assert(wait_plugin("typed", "1.4.1", true, 5000));
    drop(BROKEN "abi2.so", "abi2.so", NULL);
    cr_assert_not_null(wait_refused(in_dir("abi2.so"), 5000));
    cr_assert_eq(unlink(in_dir("typed_1_2_0.so")), 0);
    cr_assert(cluster_log_has(rt, "withdrew typed 1.2.0", 5000));
    expect_same_executors(&before, "while the job ran");
    cr_expect_str_eq(job_state("l-0"), "running");

    json_t *j = finish("l", 30000);
    expect_ran(j, "1.2.0");
    json_decref(j);
    /* The same executors run the new version. */
    json_decref(submit("m.json", "{\"id\": \"m\", \"action\": \"typed.nap\", "
                                 "\"params\": {\"ms\": 1}, \"targets\": "
                                 "[{}, {}, {}, {}]}"));
    json_t *jobs = cluster_wait(&c, "m", 30000);
    cr_assert_eq(json_array_size(jobs), 4);
    size_t i;
    json_array_foreach(jobs, i, j) expect_ran(j, "1.4.1");
    json_decref(jobs);
    expect_same_executors(&before, "after the new version ran");
}

Test(hotload, replace_in_place_refused)
{
    start("--executors 2", NULL, NULL);
    drop(VERSIONS "typed_1_2_0.so", "typed.so", NULL);
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000));

    /* The same bytes under another name: not a replacement, no error. */
    drop(VERSIONS "typed_1_2_0.so", "same.so", NULL);
    /* Other bytes (trailing junk: still a loadable ELF) declaring 1.2.0. */
    drop(VERSIONS "typed_1_2_0.so", "typed_b.so", "trailing junk\n");
    const char *why = wait_refused(in_dir("typed_b.so"), 5000);
    cr_assert_not_null(why, "a second typed 1.2.0 was not refused");
    cr_expect(strstr(why, "immutable"), "reason: %s", why);
    cr_expect(wait_log_line_has2(rt, "refused", in_dir("typed_b.so"), 2000),
              "no warning naming %s", in_dir("typed_b.so"));
    /* Events come in order: same.so was handled before typed_b.so. */
    json_t *cat = catalog();
    cr_expect_null(find_refused(cat, in_dir("same.so")),
                   "identical bytes were refused");
    json_decref(cat);
    cr_expect(!log_line_has2(rt, "refused", in_dir("same.so")));

    /* A itself overwritten in place with the other bytes. */
    copy_file(VERSIONS "typed_1_2_0.so", in_dir("typed.so"),
              "other junk\n");
    why = wait_refused(in_dir("typed.so"), 5000);
    cr_assert_not_null(why, "overwriting typed 1.2.0 in place was not "
                            "refused");
    cr_expect(strstr(why, "immutable"), "reason: %s", why);

    /* The loaded version stays in service. */
    cat = catalog();
    cr_expect_not_null(find_plugin(cat, "typed", "1.2.0"));
    json_decref(cat);
    json_decref(submit("e.json", "{\"id\": \"e\", \"action\": \"typed.echo\", "
                                 "\"version\": \"=1.2.0\", \"params\": "
                                 "{\"s\": \"x\"}}"));
    json_t *j = finish("e", 30000);
    expect_ran(j, "1.2.0");
    json_decref(j);
}

Test(hotload, broken_so_refused_daemon_fine)
{
    start("--executors 2", NULL, NULL);
    drop(BROKEN "abi2.so", "abi2.so", NULL);
    drop(BROKEN "notelf.so", "notelf.so", NULL);
    const char *why = wait_refused(in_dir("abi2.so"), 5000);
    cr_assert_not_null(why, "abi2.so not listed as refused");
    cr_expect(strstr(why, "ABI major 2"), "reason: %s", why);
    why = wait_refused(in_dir("notelf.so"), 5000);
    cr_assert_not_null(why, "notelf.so not listed as refused");
    cr_expect(strstr(why, "cannot load"), "reason: %s", why);
    cr_expect(wait_log_line_has2(rt, "refused", in_dir("abi2.so"), 2000));
    cr_expect(wait_log_line_has2(rt, "refused", in_dir("notelf.so"), 2000));
    cr_expect(log_line_has2(rt, "warn", "refused"));

    json_t *cat = catalog();
    cr_expect_null(find_plugin(cat, "abi2", NULL));
    json_decref(cat);
    cr_expect_eq(kill(rt->pid, 0), 0, "the runtime died");
    json_decref(submit("n.json", "{\"id\": \"n\", \"action\": "
                                 "\"noop.pass\"}"));
    json_t *j = finish("n", 30000);
    cr_expect_str_eq(s_get(j, "state"), "completed", "%s", s_get(j, "reason"));
    json_decref(j);
}

/* Loading a plugin runs its code (constructors, the entry point): a
 * runtime does that in a describer process, so a plugin that exits or
 * crashes as it loads costs that plugin, at start as at hot load. Before,
 * load_exit.so stopped the runtime with status 0 and no log line. */
Test(hotload, load_faults_cost_one_plugin)
{
    start("--executors 1", UNLOADABLE "load_exit.so", "load_exit.so");
    const char *why = wait_refused(in_dir("load_exit.so"), 10000);
    cr_assert_not_null(why, "load_exit.so (there at start) not refused");
    cr_expect(strstr(why, "before it could answer"), "reason: %s", why);
    drop(UNLOADABLE "load_crash.so", "load_crash.so", NULL);
    drop(UNLOADABLE "entry_exit.so", "entry_exit.so", NULL);
    why = wait_refused(in_dir("load_crash.so"), 10000);
    cr_assert_not_null(why, "load_crash.so (hot) not refused");
    cr_expect(strstr(why, "killed the describer with SEGV"), "reason: %s",
              why);
    why = wait_refused(in_dir("entry_exit.so"), 10000);
    cr_assert_not_null(why, "entry_exit.so (hot) not refused");
    cr_expect(strstr(why, "before it could answer"), "reason: %s", why);
    drop(UNLOADABLE "load_fine.so", "load_fine.so", NULL);
    cr_assert(wait_plugin("load_fine", "1.0.0", true, 10000));
    cr_expect_eq(kill(rt->pid, 0), 0, "the runtime died");
    /* The plugin described elsewhere runs in an executor as any other. */
    json_decref(submit("f.json", "{\"id\": \"f\", \"action\": "
                                 "\"load_fine.ok\"}"));
    json_t *j = finish("f", 30000);
    cr_expect_str_eq(s_get(j, "state"), "completed", "%s", s_get(j, "reason"));
    cr_expect_str_eq(message(j), "loaded");
    json_decref(j);
}

/* Whether any process's command line holds `needle`. */
static bool process_with_arg(const char *needle)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        char path[300], cmd[1024];
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++) /* arguments end with NULs */
            found = found || strstr(cmd + i, needle) != NULL;
    }
    closedir(d);
    return found;
}

/* A constructor that never returns holds its describer, not the runtime:
 * jobs keep running while it loads (with no end in sight: the limit is
 * the longest allowed), and stopping the runtime stops the describer. */
Test(hotload, hanging_load_never_stalls_the_runtime)
{
    start("--executors 1 --set plugin_load_timeout_ms=600000", NULL, NULL);
    drop(UNLOADABLE "load_hang.so", "load_hang.so", NULL);
    int64_t deadline = assay_now_ms() + 10000;
    while (!process_with_arg("load_hang.so") && assay_now_ms() < deadline)
        s_sleep_ms(20);
    cr_assert(process_with_arg("load_hang.so"), "no describer started");
    json_decref(submit("n.json", "{\"id\": \"n\", \"action\": "
                                 "\"noop.pass\"}"));
    json_t *j = finish("n", 30000);
    cr_expect_str_eq(s_get(j, "state"), "completed", "%s", s_get(j, "reason"));
    json_decref(j);
    cr_expect(process_with_arg("load_hang.so"), "the describer ended early");
    cluster_stop(&c);
    cr_expect_not(process_with_arg("load_hang.so"),
                  "the describer outlived the runtime");
}

/* One load and withdrawal of typed 1.2.0; false if either timed out. */
static bool cycle(int i)
{
    drop(VERSIONS "typed_1_2_0.so", "typed.so", NULL);
    bool in = wait_plugin("typed", "1.2.0", true, 5000);
    cr_expect(in, "cycle %d: never loaded", i);
    cr_assert_eq(unlink(in_dir("typed.so")), 0);
    bool out = wait_plugin("typed", "1.2.0", false, 5000);
    cr_expect(out, "cycle %d: never withdrawn", i);
    return in && out;
}

Test(hotload, cycles_leak_nothing)
{
    start("--executors 2", NULL, NULL);
    /* Warm-up: first-use allocations (dlopen, the cache, sanitizers). */
    for (int i = 0; i < 3; i++)
        cr_assert(cycle(i));
    kids ex = executors();
    cr_assert_eq(ex.n, 2, "%d executors", ex.n);
    int fds = count_fds(rt->pid), maps = count_maps(rt->pid);
    int ex_fds[MAX_KIDS], ex_maps[MAX_KIDS];
    for (int k = 0; k < ex.n; k++) {
        ex_fds[k] = count_fds(ex.pid[k]);
        ex_maps[k] = count_maps(ex.pid[k]);
    }

    for (int i = 0; i < 100; i++)
        cr_assert(cycle(i), "cycle %d timed out", i);

    int fds2 = count_fds(rt->pid), maps2 = count_maps(rt->pid);
    cr_log_info("runtime fds %d -> %d, maps %d -> %d", fds, fds2, maps,
                maps2);
    cr_expect_leq(fds2, fds + 5, "runtime fds %d -> %d", fds, fds2);
    cr_expect_leq(maps2, maps + 20, "runtime maps %d -> %d", maps, maps2);
    /* The executors load and unload plugins too. */
    expect_same_executors(&ex, "after the cycles");
    kids now = executors();
    for (int k = 0; k < ex.n && k < now.n; k++) {
        if (now.pid[k] != ex.pid[k])
            continue;
        int f = count_fds(ex.pid[k]), m = count_maps(ex.pid[k]);
        cr_expect_leq(f, ex_fds[k] + 5, "executor %d fds %d -> %d",
                      (int)ex.pid[k], ex_fds[k], f);
        cr_expect_leq(m, ex_maps[k] + 20, "executor %d maps %d -> %d",
                      (int)ex.pid[k], ex_maps[k], m);
    }
    /* And it still works. */
    drop(VERSIONS "typed_1_2_0.so", "typed.so", NULL);
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000));
    json_decref(submit("e.json", "{\"id\": \"e\", \"action\": \"typed.echo\", "
                                 "\"params\": {\"s\": \"x\"}}"));
    json_t *j = finish("e", 30000);
    expect_ran(j, "1.2.0");
    json_decref(j);
}

Test(hotload, sighup_rescans)
{
    start("--executors 2", NULL, NULL);
    /* Staged on the same file system, outside DIR. */
    char stage1[256], stage2[256];
    snprintf(stage1, sizeof stage1, "%s/stage1.so", c.dir);
    snprintf(stage2, sizeof stage2, "%s/stage2.so", c.dir);
    copy_file(VERSIONS "typed_1_2_0.so", stage1, NULL);
    copy_file(VERSIONS "typed_1_4_1.so", stage2, NULL);

    /* A hard link: IN_CREATE only, no close after writing, no move in. */
    cr_assert_eq(link(stage1, in_dir("typed.so")), 0, "link: %s",
                 strerror(errno));
    json_t *cat = after_marker("sleep", "marker.so");
    cr_assert_null(find_plugin(cat, "typed", "1.2.0"),
                   "a hard link was loaded without a rescan");
    json_decref(cat);
    cr_assert_eq(kill(rt->pid, SIGHUP), 0);
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000),
              "SIGHUP did not rescan");
    cr_expect_eq(kill(rt->pid, 0), 0, "SIGHUP stopped the runtime");

    cr_assert_eq(link(stage2, in_dir("typed2.so")), 0, "link: %s",
                 strerror(errno));
    cat = after_marker("file", "marker2.so");
    cr_assert_null(find_plugin(cat, "typed", "1.4.1"),
                   "a hard link was loaded without a rescan");
    json_decref(cat);
    int code;
    json_t *r = cluster_ctl(&c, &code, "plugins --rescan");
    cr_expect_eq(code, 0);
    bool listed = false;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "runtimes"), i, x)
        listed = listed || (json_is_string(x) &&
                            !strcmp(json_string_value(x), RT)) ||
                 !strcmp(s_get(x, "runtime"), RT) ||
                 !strcmp(s_get(x, "id"), RT);
    cr_expect(listed, "rescan reply does not list %s", RT);
    json_decref(r);
    cr_assert(wait_plugin("typed", "1.4.1", true, 5000),
              "plugins --rescan did not rescan");
    /* Rescanning met the loaded file again: the same bytes, no error. */
    cat = catalog();
    cr_expect_null(find_refused(cat, in_dir("typed.so")),
                   "a rescan refused the already loaded file");
    cr_expect_not_null(find_plugin(cat, "typed", "1.2.0"));
    json_decref(cat);

    json_decref(submit("n.json", "{\"id\": \"n\", \"action\": \"typed.nap\", "
                                 "\"params\": {\"ms\": 1}}"));
    json_t *j = finish("n", 30000);
    expect_ran(j, "1.4.1");
    json_decref(j);
}

Test(hotload, queued_job_says_why_it_waits)
{
    start("--executors 2 --labels zone=a", VERSIONS "typed_1_2_0.so",
          "typed_1_2_0.so");
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000));
    json_decref(submit("w.json", "{\"id\": \"w\", \"action\": \"typed.echo\", "
                                 "\"params\": {\"s\": \"x\"}, \"selector\": "
                                 "{\"zone\": \"b\"}}"));
    const char *waiting = NULL, *state = NULL;
    json_t *r = NULL;
    int64_t deadline = assay_now_ms() + 5000;
    for (;;) {
        json_decref(r);
        r = cluster_ctl(&c, NULL, "job w-0");
        const json_t *job = json_object_get(r, "job");
        state = s_get(job, "state");
        waiting = json_string_value(json_object_get(job, "waiting"));
        if ((waiting && waiting[0]) || assay_now_ms() >= deadline)
            break;
        s_sleep_ms(50);
    }
    cr_expect_str_eq(state, "queued");
    cr_expect(waiting && waiting[0], "no \"waiting\" on a job no runtime "
                                     "can take");
    json_decref(r);
}

/* A job waiting for a version that was withdrawn runs as soon as the same
 * version is back: the planner must see the new catalogue, not a plan
 * cached from the old one. rt1 (credit 1) is busy with a nap, so the job
 * waits; rt2 has credit but no typed, so the planner keeps looking. */
Test(hotload, waiting_job_runs_when_its_version_returns)
{
    start("--executors 1 --set jobs_per_executor=1",
          VERSIONS "typed_1_4_1.so", "t.so");
    cluster_runtime(&c, "rt2", "--executors 1");
    cr_assert(wait_plugin("typed", "1.4.1", true, 5000));
    json_decref(submit("n.json", "{\"id\": \"n\", \"action\": \"typed.nap\", "
                                 "\"params\": {\"ms\": 3000}, "
                                 "\"timeout_ms\": 30000}"));
    cr_assert(wait_job_state("n-0", "running", 10000));
    json_decref(submit("w.json", "{\"id\": \"w\", \"action\": \"typed.echo\", "
                                 "\"version\": \"=1.4.1\", \"params\": "
                                 "{\"s\": \"x\"}}"));
    cr_assert_eq(unlink(in_dir("t.so")), 0);
    cr_assert(wait_plugin("typed", "1.4.1", false, 5000));
    drop(VERSIONS "typed_1_4_1.so", "t.so", NULL);
    cr_assert(wait_plugin("typed", "1.4.1", true, 5000));
    json_t *w = finish("w", 30000);
    expect_ran(w, "1.4.1");
    json_decref(w);
}

/* Operator config is checked for a version loaded while running too: a
 * key it does not declare refuses it; a declared one reaches its jobs. */
Test(hotload, hot_loaded_plugin_config_is_checked)
{
    start("--executors 1 --set plugin.typed.nokey=1", NULL, NULL);
    drop(VERSIONS "typed_1_2_0.so", "typed.so", NULL);
    const char *why = wait_refused(in_dir("typed.so"), 5000);
    cr_assert_not_null(why, "typed was not refused");
    cr_expect(strstr(why, "plugin.typed.nokey") &&
                  strstr(why, "declares no such config key"),
              "reason: %s", why);
    /* The refusal is the outcome of handling the file: a catalogue that
     * lists it shows whatever else handling it did. */
    json_t *cat = catalog();
    cr_expect_not_null(find_refused(cat, in_dir("typed.so")));
    cr_expect_null(find_plugin(cat, "typed", NULL),
                   "typed advertised although refused");
    json_decref(cat);
    cluster_stop(&c);

    start("--executors 1 --set plugin.typed.greeting=bonjour", NULL, NULL);
    drop(VERSIONS "typed_1_2_0.so", "typed.so", NULL);
    cr_assert(wait_plugin("typed", "1.2.0", true, 5000));
    json_decref(submit("g.json", "{\"id\": \"g\", \"action\": \"typed.greet\"}"));
    json_t *g = finish("g", 30000);
    cr_expect_str_eq(message(g), "bonjour");
    json_decref(g);
}
