/* core/exec/monitor.c - CPU and memory figures from /proc and cgroup v2 (see
 * monitor.h).
 *
 * Files are read line by line through a fixed buffer, never whole: the
 * kernel's own files are small, but a fixture or a misconfigured root may
 * hold anything, and a sample must fail with a message rather than crash
 * or allocate without bound. Numbers are parsed strictly (no sign, no
 * overflow), since strtoull would turn "-5" into a huge value. */
#include "exec/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errtext.h"

/* Longest line accepted; the lines read here are under 300 bytes. */
#define LINE_MAX_BYTES 4096
/* Bytes read from one file at most, so that an endless file fails. */
#define FILE_MAX_BYTES (1024 * 1024)

/* One level of the cgroup path, from the process's cgroup up to the root. */
typedef struct {
    size_t cut;          /* the level's directory is cg_dir[0..cut) */
    bool have_usage;     /* usage holds a reading (a quota was set) */
    uint64_t usage;      /* cpu.stat usage_usec at the previous sample */
    bool next_have;      /* the reading of the sample in progress, */
    uint64_t next_usage; /* committed only if the whole sample succeeds */
} s_level;

/* The aggregate "cpu" line of /proc/stat, in clock ticks. */
typedef struct {
    uint64_t busy, idle; /* idle includes iowait */
    unsigned ncpu;       /* "cpuN" lines */
} s_cpu;

struct assay_monitor {
    char *proc_root;
    char *cg_dir; /* cgroup root + own cgroup path; NULL = no cgroups */
    s_level *levels;
    size_t nlevels;
    double max_cpu, min_mem_free;
    long hz;         /* clock ticks per second in /proc/stat */
    s_cpu cpu;       /* counters at the previous sample */
    double cpu_busy; /* previous result */
    char why[160];   /* room for both reasons at their longest */
};

typedef struct {
    char path[PATH_MAX];
    int fd;
    char buf[LINE_MAX_BYTES];
    size_t start, end, total;
    bool eof;
    unsigned lineno;
} s_file;

static int s_fail(const s_file *f, unsigned line, char *err, size_t errlen,
                  int code, const char *fmt, ...) ASSAY_PRINTF(6, 7);

/* "PATH:LINE: what" (or "PATH: what" when line is 0), returning code. */
static int s_fail(const s_file *f, unsigned line, char *err, size_t errlen,
                  int code, const char *fmt, ...)
{
    char msg[ASSAY_ERRMSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line)
        return assay_errf(err, errlen, code, "%s:%u: %s", f->path, line, msg);
    return assay_errf(err, errlen, code, "%s: %s", f->path, msg);
}

static int s_open(s_file *f, bool may_miss, char *err, size_t errlen,
                  const char *fmt, ...) ASSAY_PRINTF(5, 6);

/* Opens the file named by fmt. With may_miss, a missing file is
 * ASSAY_ENOENT without a message: the caller treats it as "no limit". */
static int s_open(s_file *f, bool may_miss, char *err, size_t errlen,
                  const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(f->path, sizeof f->path, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof f->path)
        return assay_errf(err, errlen, ASSAY_ETOOBIG, "path too long: %.64s...",
                          f->path);
    f->start = f->end = f->total = 0;
    f->eof = false;
    f->lineno = 0;
    /* O_NONBLOCK: a FIFO planted in a fixture must not hang the daemon. */
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd >= 0)
        return 0;
    if (errno == ENOENT && may_miss)
        return ASSAY_ENOENT;
    rc = errno == ENOENT                     ? ASSAY_ENOENT
         : errno == EACCES || errno == EPERM ? ASSAY_EPERM
                                             : ASSAY_EIO;
    return s_fail(f, 0, err, errlen, rc, "cannot open: %s", strerror(errno));
}

static void s_close(s_file *f) { close(f->fd); }

/* The next line, NUL-terminated without its '\n' (a last line without one
 * counts too). Returns 1, 0 at the end of the file, or an error. */
static int s_line(s_file *f, char **line, char *err, size_t errlen)
{
    for (;;) {
        char *s = f->buf + f->start;
        size_t avail = f->end - f->start;
        char *nl = memchr(s, '\n', avail);

        if (nl || (f->eof && avail)) {
            size_t n = nl ? (size_t)(nl - s) : avail;

            f->lineno++;
            if (memchr(s, '\0', n))
                return s_fail(f, f->lineno, err, errlen, ASSAY_EPARSE,
                              "NUL byte");
            /* Without '\n' the buffer still has its spare last byte. */
            s[n] = '\0';
            f->start += nl ? n + 1 : n;
            *line = s;
            return 1;
        }
        if (f->eof)
            return 0;
        memmove(f->buf, s, avail);
        f->start = 0;
        f->end = avail;
        if (f->end == sizeof f->buf - 1)
            return s_fail(f, f->lineno + 1, err, errlen, ASSAY_ETOOBIG,
                          "line longer than %d bytes", LINE_MAX_BYTES - 1);
        ssize_t got = read(f->fd, f->buf + f->end, sizeof f->buf - 1 - f->end);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return s_fail(f, 0, err, errlen, ASSAY_EIO, "cannot read: %s",
                          strerror(errno));
        if (got == 0)
            f->eof = true;
        f->end += (size_t)got;
        f->total += (size_t)got;
        if (f->total > FILE_MAX_BYTES)
            return s_fail(f, 0, err, errlen, ASSAY_ETOOBIG,
                          "larger than %d bytes", FILE_MAX_BYTES);
    }
}

static const char *s_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A decimal number after optional blanks, ending at a blank or the end of
 * the line. Returns 0 (advancing *p), ASSAY_EPARSE or ASSAY_ERANGE. */
static int s_u64(const char **p, uint64_t *v)
{
    const char *s = s_blanks(*p);
    uint64_t n = 0;

    if (*s < '0' || *s > '9')
        return ASSAY_EPARSE;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (n > (UINT64_MAX - d) / 10)
            return ASSAY_ERANGE;
        n = n * 10 + d;
    }
    if (*s && *s != ' ' && *s != '\t')
        return ASSAY_EPARSE;
    *v = n;
    *p = s;
    return 0;
}

/* s_u64 with the error message: "bad number" or "number too large". */
static int s_num(const s_file *f, const char **p, uint64_t *v, char *err,
                 size_t errlen)
{
    int rc = s_u64(p, v);

    if (rc == ASSAY_ERANGE)
        return s_fail(f, f->lineno, err, errlen, rc,
                      "number too large: '%.24s'", s_blanks(*p));
    if (rc)
        return s_fail(f, f->lineno, err, errlen, rc, "bad number: '%.24s'",
                      s_blanks(*p));
    return 0;
}

/* Nothing but blanks may follow. */
static int s_end(const s_file *f, const char *p, char *err, size_t errlen)
{
    p = s_blanks(p);
    if (*p)
        return s_fail(f, f->lineno, err, errlen, ASSAY_EPARSE,
                      "unexpected '%.24s'", p);
    return 0;
}

/* "cpu  user nice system idle [iowait [irq [softirq [steal [guest
 * [guest_nice]]]]]]" (fewer fields on old kernels, maybe more on new
 * ones). guest and guest_nice are already part of user and nice. */
static int s_parse_cpu(const s_file *f, const char *p, s_cpu *out, char *err,
                       size_t errlen)
{
    uint64_t v[8] = {0}, total = 0;
    unsigned n;
    int rc;

    for (n = 0; *s_blanks(p); n++) {
        uint64_t x;

        if ((rc = s_num(f, &p, &x, err, errlen)))
            return rc;
        if (n < 8)
            v[n] = x;
    }
    if (n < 4)
        return s_fail(f, f->lineno, err, errlen, ASSAY_EPARSE,
                      "%u cpu fields, expected at least 4", n);
    for (unsigned i = 0; i < 8; i++)
        if (__builtin_add_overflow(total, v[i], &total))
            return s_fail(f, f->lineno, err, errlen, ASSAY_ERANGE,
                          "cpu counters overflow");
    out->idle = v[3] + v[4];
    out->busy = total - out->idle;
    return 0;
}

/* The aggregate line and the number of per-CPU lines. The kernel prints
 * the "cpu" lines first, so reading stops at the first other line and
 * never reaches the long "intr" line of a big machine. */
static int s_read_stat(assay_monitor *self, s_cpu *out, char *err,
                       size_t errlen)
{
    s_file f;
    char *line;
    bool agg = false;
    int rc;

    out->ncpu = 0;
    if ((rc = s_open(&f, false, err, errlen, "%s/stat", self->proc_root)))
        return rc;
    while ((rc = s_line(&f, &line, err, errlen)) > 0) {
        if (strncmp(line, "cpu", 3) != 0)
            break;
        if (line[3] >= '0' && line[3] <= '9') {
            out->ncpu++;
        } else if (line[3] == ' ' && !agg) {
            if ((rc = s_parse_cpu(&f, line + 3, out, err, errlen)))
                break;
            agg = true;
        } else {
            rc = s_fail(&f, f.lineno, err, errlen, ASSAY_EPARSE,
                        "unexpected '%.24s'", line);
            break;
        }
    }
    if (rc >= 0 && !agg)
        rc = s_fail(&f, 0, err, errlen, ASSAY_EPARSE, "no \"cpu\" line");
    else if (rc >= 0 && !out->ncpu)
        rc = s_fail(&f, 0, err, errlen, ASSAY_EPARSE, "no \"cpuN\" lines");
    s_close(&f);
    return rc < 0 ? rc : 0;
}

/* "NUMBER kB" after the colon of a meminfo line, in bytes. */
static int s_parse_kb(const s_file *f, const char *p, uint64_t *bytes,
                      char *err, size_t errlen)
{
    uint64_t kb;
    int rc;

    if ((rc = s_num(f, &p, &kb, err, errlen)))
        return rc;
    p = s_blanks(p);
    if (strncmp(p, "kB", 2) != 0)
        return s_fail(f, f->lineno, err, errlen, ASSAY_EPARSE,
                      "expected kB, got '%.24s'", p);
    if (kb > UINT64_MAX / 1024)
        return s_fail(f, f->lineno, err, errlen, ASSAY_ERANGE,
                      "number too large: %llu kB", (unsigned long long)kb);
    *bytes = kb * 1024;
    return s_end(f, p + 2, err, errlen);
}

static int s_read_meminfo(assay_monitor *self, assay_monitor_sample *out,
                          char *err, size_t errlen)
{
    static const char total_key[] = "MemTotal:", avail_key[] = "MemAvailable:";
    bool have_total = false, have_avail = false;
    s_file f;
    char *line;
    int rc;

    if ((rc = s_open(&f, false, err, errlen, "%s/meminfo", self->proc_root)))
        return rc;
    while (!(have_total && have_avail) &&
           (rc = s_line(&f, &line, err, errlen)) > 0) {
        if (!have_total && !strncmp(line, total_key, sizeof total_key - 1)) {
            rc = s_parse_kb(&f, line + sizeof total_key - 1, &out->mem_total,
                            err, errlen);
            have_total = true;
        } else if (!have_avail &&
                   !strncmp(line, avail_key, sizeof avail_key - 1)) {
            rc = s_parse_kb(&f, line + sizeof avail_key - 1,
                            &out->mem_available, err, errlen);
            have_avail = true;
        }
        if (rc < 0)
            break;
    }
    if (rc >= 0 && !(have_total && have_avail))
        rc = s_fail(&f, 0, err, errlen, ASSAY_EPARSE, "no %s",
                    have_total ? "MemAvailable" : "MemTotal");
    else if (rc >= 0 && out->mem_total == 0)
        rc = s_fail(&f, 0, err, errlen, ASSAY_EPARSE, "MemTotal is 0");
    else if (rc >= 0 && out->mem_available > out->mem_total)
        rc = s_fail(&f, 0, err, errlen, ASSAY_EPARSE,
                    "MemAvailable exceeds MemTotal");
    s_close(&f);
    return rc < 0 ? rc : 0;
}

/* The first line of a cgroup file: a number or, where `limited` is given,
 * "max" (*limited = false); with `second`, a number after it (cpu.max:
 * "QUOTA PERIOD"). */
static int s_read_limit(const assay_monitor *self, const s_level *lv,
                        const char *name, bool may_miss, bool *limited,
                        uint64_t *v, uint64_t *second, char *err,
                        size_t errlen)
{
    s_file f;
    char *line;
    const char *p;
    int rc;

    if ((rc = s_open(&f, may_miss, err, errlen, "%.*s/%s", (int)lv->cut,
                     self->cg_dir, name)))
        return rc;
    rc = s_line(&f, &line, err, errlen);
    if (rc == 0)
        rc = s_fail(&f, 0, err, errlen, ASSAY_EPARSE, "empty");
    if (rc < 0)
        goto out;
    p = s_blanks(line);
    if (limited)
        *limited = strncmp(p, "max", 3) != 0;
    if (limited && !*limited)
        p += 3;
    else if ((rc = s_num(&f, &p, v, err, errlen)))
        goto out;
    if (second && (rc = s_num(&f, &p, second, err, errlen)))
        goto out;
    rc = s_end(&f, p, err, errlen);
out:
    s_close(&f);
    return rc;
}

/* The value of `key` in a flat-keyed file such as memory.stat or
 * cpu.stat ("key value" lines); *found says whether it was there. */
static int s_read_key(const assay_monitor *self, const s_level *lv,
                      const char *name, bool may_miss, const char *key,
                      bool *found, uint64_t *v, char *err, size_t errlen)
{
    size_t klen = strlen(key);
    s_file f;
    char *line;
    int rc;

    *found = false;
    if ((rc = s_open(&f, may_miss, err, errlen, "%.*s/%s", (int)lv->cut,
                     self->cg_dir, name)))
        return rc;
    while ((rc = s_line(&f, &line, err, errlen)) > 0) {
        const char *p;

        if (strncmp(line, key, klen) != 0 ||
            (line[klen] != ' ' && line[klen] != '\t'))
            continue;
        p = line + klen;
        if (!(rc = s_num(&f, &p, v, err, errlen)))
            rc = s_end(&f, p, err, errlen);
        *found = rc == 0;
        break;
    }
    s_close(&f);
    return rc < 0 ? rc : 0;
}

static uint64_t s_min(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t s_sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

/* One cgroup level's limits applied to *out. wall_us is the time since
 * the previous sample (0 = unknown), for the CPU quota. */
static int s_read_level(assay_monitor *self, s_level *lv, double wall_us,
                        assay_monitor_sample *out, char *err, size_t errlen)
{
    uint64_t max, cur, inactive = 0, quota, period, usage;
    bool limited, found;
    int rc;

    rc = s_read_limit(self, lv, "memory.max", true, &limited, &max, NULL, err,
                      errlen);
    if (rc == 0 && limited) {
        if ((rc = s_read_limit(self, lv, "memory.current", false, NULL, &cur,
                               NULL, err, errlen)))
            return rc;
        rc = s_read_key(self, lv, "memory.stat", true, "inactive_file",
                        &found, &inactive, err, errlen);
        if (rc && rc != ASSAY_ENOENT)
            return rc;
        out->mem_total = s_min(out->mem_total, max);
        out->mem_available = s_min(out->mem_available,
                                   s_sub0(max, s_sub0(cur, inactive)));
    } else if (rc && rc != ASSAY_ENOENT) {
        return rc;
    }

    lv->next_have = false;
    rc = s_read_limit(self, lv, "cpu.max", true, &limited, &quota, &period,
                      err, errlen);
    if (rc == ASSAY_ENOENT || (rc == 0 && !limited))
        return 0;
    if (rc)
        return rc;
    if ((rc = s_read_key(self, lv, "cpu.stat", false, "usage_usec", &found,
                         &usage, err, errlen)))
        return rc;
    if (!found)
        return assay_errf(err, errlen, ASSAY_EPARSE,
                          "%.*s/cpu.stat: no usage_usec", (int)lv->cut,
                          self->cg_dir);
    if (lv->have_usage && wall_us > 0 && quota > 0 && period > 0) {
        double cpus = (double)quota / (double)period;
        double busy = (double)s_sub0(usage, lv->usage) / (wall_us * cpus);

        if (busy > 1)
            busy = 1; /* cpu.max.burst lets usage overshoot the quota */
        if (busy > out->cpu_busy)
            out->cpu_busy = busy;
    }
    lv->next_have = true;
    lv->next_usage = usage;
    return 0;
}

static int s_measure(assay_monitor *self, assay_monitor_sample *out, char *err,
                     size_t errlen)
{
    assay_monitor_sample s;
    s_cpu now;
    int rc;

    if ((rc = s_read_stat(self, &now, err, errlen)) ||
        (rc = s_read_meminfo(self, &s, err, errlen)))
        return rc;
    /* Counters that went backwards (iowait can, on some kernels) count as
     * unchanged rather than as a huge delta. */
    uint64_t d_busy = s_sub0(now.busy, self->cpu.busy);
    double ticks = (double)d_busy + (double)s_sub0(now.idle, self->cpu.idle);
    /* /proc/stat sums all CPUs: per CPU, its ticks are wall-clock time. */
    double wall_us = ticks / now.ncpu * 1e6 / (double)self->hz;

    s.cpu_busy = ticks > 0 ? (double)d_busy / ticks : self->cpu_busy;
    for (size_t i = 0; i < self->nlevels; i++)
        if ((rc = s_read_level(self, &self->levels[i], wall_us, &s, err,
                               errlen)))
            return rc;
    for (size_t i = 0; i < self->nlevels; i++) {
        self->levels[i].have_usage = self->levels[i].next_have;
        self->levels[i].usage = self->levels[i].next_usage;
    }
    self->cpu = now;
    self->cpu_busy = s.cpu_busy;
    *out = s;
    return 0;
}

/* cg_dir = root + path, with repeated slashes squeezed, and one level per
 * directory from there up to root. A path with "." or ".." components lies
 * outside our cgroup namespace, where the mount cannot show it: no levels
 * then, as on a host without cgroup v2. */
static int s_set_cgroup(assay_monitor *self, const char *root, const char *p)
{
    size_t rootlen = strlen(root), len, n = 1;

    while (rootlen > 1 && root[rootlen - 1] == '/')
        rootlen--;
    self->cg_dir = malloc(rootlen + strlen(p) + 1);
    if (!self->cg_dir)
        return ASSAY_ENOMEM;
    memcpy(self->cg_dir, root, rootlen);
    for (len = rootlen;; n++) {
        size_t clen;

        p += strspn(p, "/");
        clen = strcspn(p, "/");
        if (!clen)
            break;
        if (clen <= 2 && !strncmp(p, "..", clen)) { /* "." or ".." */
            free(self->cg_dir);
            self->cg_dir = NULL;
            return 0;
        }
        self->cg_dir[len++] = '/';
        memcpy(self->cg_dir + len, p, clen);
        len += clen;
        p += clen;
    }
    self->cg_dir[len] = '\0';
    self->levels = calloc(n, sizeof *self->levels);
    if (!self->levels)
        return ASSAY_ENOMEM;
    /* Innermost first: cut at the end, then at each '/' after the root. */
    for (size_t i = len; i > rootlen; i--)
        if (i == len || self->cg_dir[i] == '/')
            self->levels[self->nlevels++].cut = i;
    self->levels[self->nlevels++].cut = rootlen;
    return 0;
}

/* The process's cgroup: the "0::/path" line of <proc_root>/self/cgroup;
 * without one (no cgroup v2) there are no levels. */
static int s_find_cgroup(assay_monitor *self, const char *root, char *err,
                         size_t errlen)
{
    s_file f;
    char *line;
    int rc;

    if ((rc = s_open(&f, false, err, errlen, "%s/self/cgroup",
                     self->proc_root)))
        return rc;
    while ((rc = s_line(&f, &line, err, errlen)) > 0 &&
           strncmp(line, "0::", 3) != 0)
        ;
    if (rc > 0 && line[3] != '/')
        rc = s_fail(&f, f.lineno, err, errlen, ASSAY_EPARSE,
                    "cgroup path '%.24s' is not absolute", line + 3);
    else if (rc > 0)
        rc = s_set_cgroup(self, root, line + 3);
    s_close(&f);
    return rc < 0 ? rc : 0;
}

static bool s_fraction(double x) { return x >= 0 && x <= 1; }

int assay_monitor_new(const assay_monitor_config *cfg, assay_monitor **out,
                      char *err, size_t errlen)
{
    assay_monitor_sample ignored;
    int rc;

    if (!cfg->proc_root || !*cfg->proc_root)
        return assay_errf(err, errlen, ASSAY_EINVAL, "monitor: no proc_root");
    if (!s_fraction(cfg->max_cpu) || !s_fraction(cfg->min_mem_free))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "monitor: max_cpu and min_mem_free must be within "
                          "0..1 (got %g, %g)",
                          cfg->max_cpu, cfg->min_mem_free);
    assay_monitor *self = calloc(1, sizeof *self);
    if (!self)
        return assay_errf(err, errlen, ASSAY_ENOMEM, "%s",
                          assay_strerror(ASSAY_ENOMEM));
    self->max_cpu = cfg->max_cpu;
    self->min_mem_free = cfg->min_mem_free;
    self->hz = sysconf(_SC_CLK_TCK);
    if (self->hz <= 0)
        self->hz = 100; /* USER_HZ on every Linux architecture */
    self->proc_root = strdup(cfg->proc_root);
    rc = self->proc_root ? 0 : ASSAY_ENOMEM;
    if (!rc && cfg->cgroup_root)
        rc = s_find_cgroup(self, cfg->cgroup_root, err, errlen);
    if (!rc)
        rc = s_measure(self, &ignored, err, errlen);
    if (rc) {
        if (rc == ASSAY_ENOMEM)
            assay_errf(err, errlen, rc, "%s", assay_strerror(rc));
        assay_monitor_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void assay_monitor_destroy(assay_monitor **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_monitor *self = *self_p;
    free(self->proc_root);
    free(self->cg_dir);
    free(self->levels);
    free(self);
    *self_p = NULL;
}

int assay_monitor_sample_now(assay_monitor *self, assay_monitor_sample *out,
                             char *err, size_t errlen)
{
    return s_measure(self, out, err, errlen);
}

/* a and b as percentages with just enough decimals (up to 3) to differ,
 * so that a message never reads "cpu 90% > 90%". */
static void s_percents(double a, double b, char *pa, char *pb, size_t len)
{
    for (int d = 0; d <= 3; d++) {
        snprintf(pa, len, "%.*f", d, a * 100);
        snprintf(pb, len, "%.*f", d, b * 100);
        if (strcmp(pa, pb) != 0)
            break;
    }
}

uint32_t assay_monitor_credit(assay_monitor *self,
                              const assay_monitor_sample *s,
                              uint32_t free_slots, const char **why)
{
    double free_frac = s->mem_total
                           ? (double)s->mem_available / (double)s->mem_total
                           : 0;
    char a[32], b[32];
    size_t len = 0;

    self->why[0] = '\0';
    /* Negated comparisons, so that a NaN figure grants nothing. */
    if (!(s->cpu_busy <= self->max_cpu)) {
        s_percents(s->cpu_busy, self->max_cpu, a, b, sizeof a);
        len = (size_t)snprintf(self->why, sizeof self->why, "cpu %s%% > %s%%",
                               a, b);
    }
    if (!(free_frac >= self->min_mem_free)) {
        s_percents(free_frac, self->min_mem_free, a, b, sizeof a);
        snprintf(self->why + len, sizeof self->why - len,
                 "%smemory %s%% free < %s%%", len ? ", " : "", a, b);
    }
    if (why)
        *why = self->why;
    return self->why[0] ? 0 : free_slots;
}
