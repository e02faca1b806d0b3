/* tests/core/test_monitor.c - CPU and memory figures, cgroup limits,
 * credit and its reasons, and refusal of every malformed file.
 *
 * Each test builds a fake /proc (stat, meminfo, self/cgroup) and a fake
 * cgroup v2 tree in a fresh mkdtemp directory and rewrites files between
 * samples. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <assay/error.h>

#include "exec/monitor.h"

#define GiB (1024ULL * 1024 * 1024)
#define MiB (1024ULL * 1024)

/* 16 GiB of which 4 GiB available. */
static const char meminfo[] = "MemTotal:       16777216 kB\n"
                              "MemFree:          100000 kB\n"
                              "MemAvailable:    4194304 kB\n"
                              "Buffers:           12345 kB\n"
                              "HugePages_Total:       0\n";

static char dir[64];
static char proc_root[96], cg_root[96];

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    strcpy(dir, "/tmp/assay-monitor-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(proc_root, sizeof proc_root, "%s/proc", dir);
    snprintf(cg_root, sizeof cg_root, "%s/cg", dir);
}

static void teardown(void) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

TestSuite(monitor, .init = setup, .fini = teardown);

/* dir/REL as a static string (one of four slots). */
static const char *at(const char *rel)
{
    static char path[4][256];
    static int slot;
    char *p = path[slot++ % 4];

    snprintf(p, sizeof path[0], "%s/%s", dir, rel);
    return p;
}

/* Writes len bytes to dir/REL, creating the directories on the way. */
static void put_n(const char *rel, const char *text, size_t len)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        cr_assert(mkdir(path, 0700) == 0 || errno == EEXIST, "mkdir %s", path);
        *s = '/';
    }
    f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void put(const char *rel, const char *text)
{
    put_n(rel, text, strlen(text));
}

/* proc/stat with the aggregate fields `agg`, ncpu per-CPU lines and the
 * lines that follow them on a real kernel. */
static void put_stat(unsigned ncpu, const char *agg)
{
    char text[2048];
    int n = snprintf(text, sizeof text, "cpu  %s\n", agg);

    for (unsigned i = 0; i < ncpu; i++)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "cpu%u 1 0 1 10 0 0 0 0 0 0\n", i);
    snprintf(text + n, sizeof text - (size_t)n,
             "intr 12345 0 0 7\nctxt 999\nbtime 1700000000\n");
    put("proc/stat", text);
}

/* A machine 20% busy since boot, 16 GiB, process in cgroup /a/b with no
 * limits anywhere. */
static void good_tree(void)
{
    put_stat(2, "100 0 100 700 100 0 0 0 0 0");
    put("proc/meminfo", meminfo);
    put("proc/self/cgroup", "0::/a/b\n");
    put("cg/a/b/cgroup.procs", "1\n");
}

static assay_monitor_config config(bool cgroups)
{
    return (assay_monitor_config){
        .proc_root = proc_root,
        .cgroup_root = cgroups ? cg_root : NULL,
        .max_cpu = 0.9,
        .min_mem_free = 0.1,
    };
}

static assay_monitor *monitor(bool cgroups)
{
    assay_monitor_config cfg = config(cgroups);
    assay_monitor *m = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";

    cr_assert_eq(assay_monitor_new(&cfg, &m, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(m);
    return m;
}

static assay_monitor_sample sample(assay_monitor *m)
{
    assay_monitor_sample s;
    char err[ASSAY_ERRMSG_SIZE] = "";

    cr_assert_eq(assay_monitor_sample_now(m, &s, err, sizeof err), 0, "%s",
                 err);
    return s;
}

static void expect_busy(assay_monitor *m, double want)
{
    assay_monitor_sample s = sample(m);

    cr_expect(fabs(s.cpu_busy - want) < 1e-9, "cpu_busy %g, want %g",
              s.cpu_busy, want);
}

static void expect_mem(assay_monitor *m, uint64_t total, uint64_t avail)
{
    assay_monitor_sample s = sample(m);

    cr_expect_eq(s.mem_total, total, "mem_total %llu, want %llu",
                 (unsigned long long)s.mem_total, (unsigned long long)total);
    cr_expect_eq(s.mem_available, avail, "mem_available %llu, want %llu",
                 (unsigned long long)s.mem_available,
                 (unsigned long long)avail);
}

Test(monitor, cpu_busy_between_samples)
{
    assay_monitor *m;

    good_tree();
    m = monitor(false);
    /* +150 user +50 system against +200 idle +100 iowait; the guest
     * fields are part of user and nice already and must not count. */
    put_stat(2, "250 0 150 900 200 0 0 0 1000 1000");
    expect_busy(m, 0.4);
    /* Against the previous sample, not against new(). */
    put_stat(2, "550 0 250 1000 200 0 0 0 1000 1000");
    expect_busy(m, 0.8);
    /* No tick since: the previous figure stands. */
    expect_busy(m, 0.8);
    /* irq, softirq and steal are busy too. */
    put_stat(2, "550 0 250 1100 200 30 30 40 1000 1000");
    expect_busy(m, 0.5);
    assay_monitor_destroy(&m);
    cr_expect_null(m);
    assay_monitor_destroy(&m);
}

Test(monitor, cpu_counters_backwards_and_old_kernels)
{
    assay_monitor *m;

    good_tree();
    m = monitor(false);
    /* iowait can go backwards on some kernels: no negative or huge delta. */
    put_stat(2, "150 0 100 800 50 0 0 0 0 0");
    expect_busy(m, 0.5);
    assay_monitor_destroy(&m);

    /* Kernels before 2.5.41 have four fields only. */
    put_stat(1, "100 0 100 800");
    m = monitor(false);
    put_stat(1, "100 0 200 1100");
    expect_busy(m, 0.25);
    assay_monitor_destroy(&m);
}

Test(monitor, memory_from_meminfo)
{
    assay_monitor *m;

    good_tree();
    m = monitor(false);
    expect_mem(m, 16 * GiB, 4 * GiB);
    /* Only the two keys count, in whatever order, other lines skipped. */
    put("proc/meminfo", "Foo: 1 kB\nMemAvailable: 1024 kB\nZswap: 0 kB\n"
                        "MemTotal: 4096 kB\n");
    expect_mem(m, 4 * MiB, 1 * MiB);
    assay_monitor_destroy(&m);
}

Test(monitor, cgroup_limit_lower_than_memtotal_wins)
{
    assay_monitor *m;

    good_tree();
    put("cg/a/b/memory.max", "1073741824\n");
    put("cg/a/b/memory.current", "268435456\n");
    m = monitor(true);
    expect_mem(m, 1 * GiB, 768 * MiB);

    /* A limit above the machine's memory does not raise it... */
    put("cg/a/b/memory.max", "68719476736\n");
    expect_mem(m, 16 * GiB, 4 * GiB);
    /* ...and "max" means no limit at all. */
    put("cg/a/b/memory.max", "max\n");
    expect_mem(m, 16 * GiB, 4 * GiB);

    /* Usage over the limit (the kernel lets it overshoot) leaves nothing. */
    put("cg/a/b/memory.max", "1073741824");
    put("cg/a/b/memory.current", "2147483648");
    expect_mem(m, 1 * GiB, 0);
    assay_monitor_destroy(&m);
}

Test(monitor, cgroup_ancestors_and_root)
{
    assay_monitor *m;

    good_tree();
    put("cg/a/memory.max", "536870912\n");
    put("cg/a/memory.current", "134217728\n");
    put("cg/a/b/memory.max", "max\n");
    m = monitor(true);
    expect_mem(m, 512 * MiB, 384 * MiB);

    /* The tightest room wins, even under a higher limit. */
    put("cg/a/b/memory.max", "1073741824\n");
    put("cg/a/b/memory.current", "1006632960\n"); /* 960 MiB */
    expect_mem(m, 512 * MiB, 64 * MiB);
    assay_monitor_destroy(&m);

    /* In a cgroup namespace the process sits at "/", whose files are the
     * container's own limits. */
    put("proc/self/cgroup", "0::/\n");
    put("cg/memory.max", "2147483648\n");
    put("cg/memory.current", "1073741824\n");
    m = monitor(true);
    expect_mem(m, 2 * GiB, 1 * GiB);
    assay_monitor_destroy(&m);

    /* Repeated and trailing slashes name the same cgroups; a cgroup root
     * given with a trailing slash too. */
    put("proc/self/cgroup", "0:://a//b/\n");
    put("cg/a/b/memory.current", "268435456\n");
    strcat(cg_root, "/");
    m = monitor(true);
    expect_mem(m, 512 * MiB, 384 * MiB);
    assay_monitor_destroy(&m);
}

Test(monitor, inactive_page_cache_is_free)
{
    assay_monitor *m;

    good_tree();
    put("cg/a/b/memory.max", "1073741824\n");
    put("cg/a/b/memory.current", "536870912\n");
    put("cg/a/b/memory.stat", "anon 1000\nfile 400000000\n"
                              "inactive_file 134217728\nactive_file 7\n");
    m = monitor(true);
    expect_mem(m, 1 * GiB, 640 * MiB);
    /* More inactive cache than usage (racy reads) is no usage at all. */
    put("cg/a/b/memory.stat", "inactive_file 999999999999\n");
    expect_mem(m, 1 * GiB, 1 * GiB);
    assay_monitor_destroy(&m);
}

Test(monitor, cgroups_ignored)
{
    assay_monitor *m;

    good_tree();
    put("cg/a/b/memory.max", "1073741824\n");
    put("cg/a/b/memory.current", "268435456\n");

    /* cgroup_root NULL: the tree is not read, self/cgroup not needed. */
    cr_assert_eq(unlink(at("proc/self/cgroup")), 0);
    m = monitor(false);
    expect_mem(m, 16 * GiB, 4 * GiB);
    assay_monitor_destroy(&m);

    /* A cgroup v1 host has no "0::" line. */
    put("proc/self/cgroup", "4:memory:/a/b\n1:cpu:/\n");
    m = monitor(true);
    expect_mem(m, 16 * GiB, 4 * GiB);
    assay_monitor_destroy(&m);

    /* Outside our cgroup namespace: not visible under the mount. */
    put("proc/self/cgroup", "1:cpu:/\n0::/../../a/b\n");
    m = monitor(true);
    expect_mem(m, 16 * GiB, 4 * GiB);
    assay_monitor_destroy(&m);

    /* A cgroup directory that does not exist has no limits. */
    put("proc/self/cgroup", "0::/gone/away\n");
    m = monitor(true);
    expect_mem(m, 16 * GiB, 4 * GiB);
    assay_monitor_destroy(&m);
}

Test(monitor, cgroup_cpu_quota)
{
    long hz = sysconf(_SC_CLK_TCK);
    char agg[128];
    assay_monitor *m;

    cr_assert_gt(hz, 0);
    good_tree();
    put_stat(4, "100 0 100 700 100 0 0 0 0 0");
    put("cg/a/b/cpu.max", "50000 100000\n");
    put("cg/a/b/cpu.stat", "usage_usec 1000000\nuser_usec 1\n");
    m = monitor(true);

    /* One second passes on 4 idle CPUs while the cgroup uses 0.4 CPU
     * seconds of its 0.5 CPUs: 80% busy. */
    snprintf(agg, sizeof agg, "100 0 100 %ld 100 0 0 0 0 0", 700 + 4 * hz);
    put_stat(4, agg);
    put("cg/a/b/cpu.stat", "usage_usec 1400000\nuser_usec 1\n");
    expect_busy(m, 0.8);

    /* Bursting past the quota still reads 100%. */
    snprintf(agg, sizeof agg, "100 0 100 %ld 100 0 0 0 0 0", 700 + 8 * hz);
    put_stat(4, agg);
    put("cg/a/b/cpu.stat", "usage_usec 2400000\n");
    expect_busy(m, 1.0);

    /* When the machine is busier than the cgroup, the machine counts;
     * a quota on an ancestor counts like one on our own cgroup. */
    put("cg/a/b/cpu.max", "max 100000\n");
    put("cg/a/cpu.max", "400000 100000\n");
    put("cg/a/cpu.stat", "usage_usec 0\n");
    snprintf(agg, sizeof agg, "%ld 0 100 %ld 100 0 0 0 0 0", 100 + 2 * hz,
             700 + 10 * hz);
    put_stat(4, agg);
    expect_busy(m, 0.5);
    snprintf(agg, sizeof agg, "%ld 0 100 %ld 100 0 0 0 0 0", 100 + 3 * hz,
             700 + 13 * hz);
    put("cg/a/cpu.stat", "usage_usec 3000000\n");
    put_stat(4, agg);
    expect_busy(m, 0.75);
    assay_monitor_destroy(&m);
}

/* Credit and reasons on hand-made samples. */
static uint32_t credit(assay_monitor *m, double cpu, uint64_t total,
                       uint64_t avail, const char *want_why)
{
    assay_monitor_sample s = {cpu, total, avail};
    const char *why = NULL;
    uint32_t c = assay_monitor_credit(m, &s, 5, &why);

    cr_assert_not_null(why);
    cr_expect_str_eq(why, want_why, "cpu %g mem %llu/%llu", cpu,
                     (unsigned long long)avail, (unsigned long long)total);
    return c;
}

Test(monitor, credit)
{
    assay_monitor *m;

    good_tree();
    m = monitor(false);
    cr_expect_eq(credit(m, 0.5, 100, 50, ""), 5);
    cr_expect_eq(credit(m, 0.97, 100, 50, "cpu 97% > 90%"), 0);
    cr_expect_eq(credit(m, 0.5, 100, 3, "memory 3% free < 10%"), 0);
    cr_expect_eq(credit(m, 0.97, 100, 3, "cpu 97% > 90%, memory 3% free < 10%"),
                 0);
    /* The thresholds themselves are still fine. */
    cr_expect_eq(credit(m, 0.9, 100, 10, ""), 5);
    /* Just enough decimals to tell the numbers apart. */
    cr_expect_eq(credit(m, 0.9004, 100, 50, "cpu 90.04% > 90.00%"), 0);
    cr_expect_eq(credit(m, 0.5, 1000, 99, "memory 9.9% free < 10.0%"), 0);
    /* Samples that make no sense grant nothing. */
    cr_expect_eq(credit(m, NAN, 100, 50, "cpu nan% > 90%"), 0);
    cr_expect_eq(credit(m, 0.5, 0, 0, "memory 0% free < 10%"), 0);

    assay_monitor_sample s = {0.1, 100, 100};
    cr_expect_eq(assay_monitor_credit(m, &s, 7, NULL), 7);
    cr_expect_eq(assay_monitor_credit(m, &s, 0, NULL), 0);
    assay_monitor_destroy(&m);
}

Test(monitor, credit_thresholds_at_the_ends)
{
    assay_monitor_config cfg = config(false);
    assay_monitor_sample s = {1.0, 100, 0};
    assay_monitor *m = NULL;
    const char *why;

    good_tree();
    cfg.max_cpu = 1;
    cfg.min_mem_free = 0;
    cr_assert_eq(assay_monitor_new(&cfg, &m, NULL, 0), 0);
    cr_expect_eq(assay_monitor_credit(m, &s, 3, &why), 3, "never refuses");
    cr_expect_str_empty(why);
    assay_monitor_destroy(&m);

    cfg.max_cpu = 0;
    cfg.min_mem_free = 1;
    cr_assert_eq(assay_monitor_new(&cfg, &m, NULL, 0), 0);
    s = (assay_monitor_sample){0.0, 100, 100};
    cr_expect_eq(assay_monitor_credit(m, &s, 3, &why), 3, "idle and empty");
    s = (assay_monitor_sample){0.001, 100, 99};
    cr_expect_eq(assay_monitor_credit(m, &s, 3, &why), 0);
    cr_expect_str_eq(why, "cpu 0.1% > 0.0%, memory 99% free < 100%");
    assay_monitor_destroy(&m);
}

Test(monitor, bad_config)
{
    static const double bad[] = {-0.1, 1.5, NAN};
    assay_monitor_config cfg = config(false);
    assay_monitor *m = NULL;
    char err[ASSAY_ERRMSG_SIZE];

    good_tree();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = config(false);
        cfg.max_cpu = bad[i];
        cr_expect_eq(assay_monitor_new(&cfg, &m, err, sizeof err),
                     ASSAY_EINVAL, "max_cpu %g", bad[i]);
        cr_expect_not_null(strstr(err, "max_cpu"), "%s", err);
        cfg = config(false);
        cfg.min_mem_free = bad[i];
        cr_expect_eq(assay_monitor_new(&cfg, &m, err, sizeof err),
                     ASSAY_EINVAL, "min_mem_free %g", bad[i]);
    }
    cfg = config(false);
    cfg.proc_root = NULL;
    cr_expect_eq(assay_monitor_new(&cfg, &m, err, sizeof err), ASSAY_EINVAL);
    cfg.proc_root = "";
    cr_expect_eq(assay_monitor_new(&cfg, &m, err, sizeof err), ASSAY_EINVAL);
    cr_expect_null(m);
}

/* One broken file: REL gets TEXT (LEN bytes, or all of it when 0; NULL
 * text deletes the file), and both new() and a later sample must fail
 * with CODE and a one-line message naming the file and containing WANT. */
typedef struct {
    const char *rel, *text;
    size_t len;
    int code;
    const char *want;
} bad_case;

static void apply(const bad_case *c)
{
    if (!c->text)
        cr_assert_eq(unlink(at(c->rel)), 0, "%s", c->rel);
    else
        put_n(c->rel, c->text, c->len ? c->len : strlen(c->text));
}

static void expect_err(const bad_case *c, const char *when, int rc,
                       const char *err)
{
    const char *path = at(c->rel);

    cr_expect_eq(rc, c->code, "%s %s: got %d (%s), want %d", when, c->rel, rc,
                 err, c->code);
    cr_expect_eq(strncmp(err, path, strlen(path)), 0,
                 "%s %s: '%s' does not start with the path", when, c->rel, err);
    cr_expect_not_null(strstr(err, c->want), "%s %s: '%s' lacks '%s'", when,
                       c->rel, err, c->want);
    cr_expect_null(strchr(err, '\n'), "%s: '%s' is not one line", when, err);
}

/* setup: NULL-terminated pairs of file and text written before new(). */
static void run_bad(const bad_case *c, const char *const *setup)
{
    assay_monitor_config cfg = config(true);
    assay_monitor_sample s = {0.25, 1, 1}, before = s;
    assay_monitor *m = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";
    int rc;

    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    cr_assert_eq(mkdir(dir, 0700), 0);
    good_tree();
    for (; setup && *setup; setup += 2)
        put(setup[0], setup[1]);

    /* While sampling. */
    m = monitor(true);
    apply(c);
    rc = assay_monitor_sample_now(m, &s, err, sizeof err);
    expect_err(c, "sample", rc, err);
    cr_expect_eq(memcmp(&s, &before, sizeof s), 0, "%s: sample changed",
                 c->rel);
    assay_monitor_destroy(&m);

    /* At creation. */
    err[0] = '\0';
    rc = assay_monitor_new(&cfg, &m, err, sizeof err);
    expect_err(c, "new", rc, err);
    cr_expect_null(m);
}

#define LONG_LINE_LEN 6000
#define NUL_STAT "cpu  1 2 3 4\0 5\ncpu0 1\n"

Test(monitor, malformed_proc_files)
{
    static char long_line[LONG_LINE_LEN];
    static const bad_case cases[] = {
        {"proc/stat", NULL, 0, ASSAY_ENOENT, "cannot open"},
        {"proc/stat", "", 0, ASSAY_EPARSE, "no \"cpu\" line"},
        {"proc/stat", "intr 1 2\ncpu  1 2 3 4\ncpu0 1\n", 0, ASSAY_EPARSE,
         "no \"cpu\" line"},
        {"proc/stat", "cpu  1 2 3 4\n", 0, ASSAY_EPARSE, "no \"cpuN\" lines"},
        {"proc/stat", "cpu  abc 0 0 0\ncpu0 1\n", 0, ASSAY_EPARSE,
         ":1: bad number: 'abc 0 0 0'"},
        {"proc/stat", "cpu  1 2 3\ncpu0 1\n", 0, ASSAY_EPARSE,
         ":1: 3 cpu fields, expected at least 4"},
        {"proc/stat", "cpu  1 2 3", 0, ASSAY_EPARSE, "3 cpu fields"},
        {"proc/stat", "cpu  -5 0 0 0\ncpu0 1\n", 0, ASSAY_EPARSE,
         "bad number: '-5"},
        {"proc/stat", "cpu  +5 0 0 0\ncpu0 1\n", 0, ASSAY_EPARSE,
         "bad number: '+5"},
        {"proc/stat", "cpu  1 2x 3 4\ncpu0 1\n", 0, ASSAY_EPARSE,
         "bad number: '2x"},
        {"proc/stat", "cpu  1 2 3 4 0.5\ncpu0 1\n", 0, ASSAY_EPARSE,
         "bad number: '0.5"},
        {"proc/stat", "cpu  99999999999999999999999 0 0 0\ncpu0 1\n", 0,
         ASSAY_ERANGE, "number too large"},
        {"proc/stat", "cpu  18446744073709551615 1 0 0\ncpu0 1\n", 0,
         ASSAY_ERANGE, "cpu counters overflow"},
        {"proc/stat", NUL_STAT, sizeof NUL_STAT - 1, ASSAY_EPARSE,
         ":1: NUL byte"},
        {"proc/stat", "cpu  1 2 3 4\ncpu0 1\ncpu  1 2 3 4\n", 0, ASSAY_EPARSE,
         ":3: unexpected 'cpu  1 2 3 4'"},
        {"proc/stat", "cpufreq 1\n", 0, ASSAY_EPARSE, ":1: unexpected"},
        {"proc/stat", long_line, 0, ASSAY_ETOOBIG, ":1: line longer than"},
        {"proc/meminfo", NULL, 0, ASSAY_ENOENT, "cannot open"},
        {"proc/meminfo", "MemTotal: 100 kB\n", 0, ASSAY_EPARSE,
         "no MemAvailable"},
        {"proc/meminfo", "MemAvailable: 100 kB\n", 0, ASSAY_EPARSE,
         "no MemTotal"},
        {"proc/meminfo", "MemTotal: 0 kB\nMemAvailable: 0 kB\n", 0,
         ASSAY_EPARSE, "MemTotal is 0"},
        {"proc/meminfo", "MemTotal: 100 kB\nMemAvailable: 200 kB\n", 0,
         ASSAY_EPARSE, "MemAvailable exceeds MemTotal"},
        {"proc/meminfo", "MemTotal: 100 MB\nMemAvailable: 1 kB\n", 0,
         ASSAY_EPARSE, ":1: expected kB, got 'MB'"},
        {"proc/meminfo", "MemTotal: 100\nMemAvailable: 1 kB\n", 0,
         ASSAY_EPARSE, "expected kB"},
        {"proc/meminfo", "MemTotal: 100 kB junk\nMemAvailable: 1 kB\n", 0,
         ASSAY_EPARSE, "unexpected 'junk'"},
        {"proc/meminfo", "MemTotal:\nMemAvailable: 1 kB\n", 0, ASSAY_EPARSE,
         "bad number"},
        {"proc/meminfo",
         "MemTotal: 100 kB\nMemAvailable: 99999999999999999999 kB\n", 0,
         ASSAY_ERANGE, ":2: number too large"},
        {"proc/meminfo", "MemTotal: 18014398509481984 kB\nMemAvailable: 1 kB\n",
         0, ASSAY_ERANGE, "number too large: 18014398509481984 kB"},
        {"proc/self/cgroup", NULL, 0, ASSAY_ENOENT, "cannot open"},
        {"proc/self/cgroup", "0::a/b\n", 0, ASSAY_EPARSE, "not absolute"},
    };

    memset(long_line, '1', sizeof long_line - 1);
    memcpy(long_line, "cpu  ", 5);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* self/cgroup is read once, at creation only. */
        if (strcmp(cases[i].rel, "proc/self/cgroup") == 0) {
            assay_monitor_config cfg = config(true);
            assay_monitor *m = NULL;
            char err[ASSAY_ERRMSG_SIZE] = "";

            good_tree();
            apply(&cases[i]);
            expect_err(&cases[i], "new",
                       assay_monitor_new(&cfg, &m, err, sizeof err), err);
            cr_expect_null(m);
            continue;
        }
        run_bad(&cases[i], NULL);
    }
}

Test(monitor, malformed_cgroup_files)
{
    static const struct {
        bad_case c;
        const char *setup[5]; /* file, text, file, text, NULL */
    } cases[] = {
        {{"cg/a/b/memory.max", "lots\n", 0, ASSAY_EPARSE, ":1: bad number"},
         {NULL}},
        {{"cg/a/b/memory.max", "", 0, ASSAY_EPARSE, "empty"}, {NULL}},
        {{"cg/a/b/memory.max", "maximum\n", 0, ASSAY_EPARSE,
          "unexpected 'imum'"},
         {NULL}},
        {{"cg/a/b/memory.max", "100 200\n", 0, ASSAY_EPARSE,
          "unexpected '200'"},
         {NULL}},
        {{"cg/a/b/memory.max", "123456789012345678901234567890\n", 0,
          ASSAY_ERANGE, "number too large"},
         {NULL}},
        {{"cg/a/b/memory.current", NULL, 0, ASSAY_ENOENT, "cannot open"},
         {"cg/a/b/memory.max", "1073741824\n", "cg/a/b/memory.current", "1\n"}},
        {{"cg/a/b/memory.current", "max\n", 0, ASSAY_EPARSE,
          "bad number: 'max'"},
         {"cg/a/b/memory.max", "1073741824\n", "cg/a/b/memory.current", "1\n"}},
        {{"cg/a/memory.current", "-1\n", 0, ASSAY_EPARSE, "bad number"},
         {"cg/a/memory.max", "1073741824\n", "cg/a/memory.current", "1\n"}},
        {{"cg/a/b/memory.stat", "inactive_file x\n", 0, ASSAY_EPARSE,
          ":1: bad number: 'x'"},
         {"cg/a/b/memory.max", "1073741824\n", "cg/a/b/memory.current", "1\n"}},
        {{"cg/a/b/cpu.max", "50000\n", 0, ASSAY_EPARSE, "bad number: ''"},
         {NULL}},
        {{"cg/a/b/cpu.max", "max\n", 0, ASSAY_EPARSE, "bad number: ''"},
         {NULL}},
        {{"cg/a/b/cpu.max", "fifty 100000\n", 0, ASSAY_EPARSE,
          "bad number: 'fifty"},
         {NULL}},
        {{"cg/a/b/cpu.stat", NULL, 0, ASSAY_ENOENT, "cannot open"},
         {"cg/a/b/cpu.max", "50000 100000\n", "cg/a/b/cpu.stat",
          "usage_usec 1\n"}},
        {{"cg/a/b/cpu.stat", "user_usec 5\n", 0, ASSAY_EPARSE,
          "no usage_usec"},
         {"cg/a/b/cpu.max", "50000 100000\n", "cg/a/b/cpu.stat",
          "usage_usec 1\n"}},
        {{"cg/cpu.stat", "usage_usec 5 6\n", 0, ASSAY_EPARSE,
          "unexpected '6'"},
         {"cg/cpu.max", "50000 100000\n", "cg/cpu.stat", "usage_usec 1\n"}},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_bad(&cases[i].c, cases[i].setup);
}

/* Whatever a file turns out to be, reading it must neither hang nor
 * crash. */
Test(monitor, odd_file_types)
{
    assay_monitor_config cfg = config(false);
    assay_monitor *m = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";

    good_tree();
    cr_assert_eq(unlink(at("proc/stat")), 0);
    cr_assert_eq(mkfifo(at("proc/stat"), 0600), 0);
    cr_expect_eq(assay_monitor_new(&cfg, &m, err, sizeof err), ASSAY_EPARSE,
                 "a FIFO without writer reads as empty: %s", err);

    cr_assert_eq(unlink(at("proc/stat")), 0);
    cr_assert_eq(mkdir(at("proc/stat"), 0700), 0);
    cr_expect_eq(assay_monitor_new(&cfg, &m, err, sizeof err), ASSAY_EIO,
                 "%s", err);
    cr_expect_not_null(strstr(err, "cannot read"), "%s", err);
    cr_expect_null(m);
}

/* The running machine: whatever it is, the figures are consistent. */
Test(monitor, real_proc)
{
    assay_monitor_config cfg = {"/proc", "/sys/fs/cgroup", 0.9, 0.1};
    assay_monitor *m = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_monitor_sample s;

    cr_assert_eq(assay_monitor_new(&cfg, &m, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(assay_monitor_sample_now(m, &s, err, sizeof err), 0,
                     "%s", err);
        cr_expect(s.cpu_busy >= 0 && s.cpu_busy <= 1, "%g", s.cpu_busy);
        cr_expect_gt(s.mem_total, 0);
        cr_expect_leq(s.mem_available, s.mem_total);
        usleep(20000);
    }
    assay_monitor_destroy(&m);
}
