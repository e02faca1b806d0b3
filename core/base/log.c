/* core/base/log.c - stderr logging with a level threshold.
 *
 * One write() per line, so lines from the daemon and its executors (which
 * share the log: the pool hands each executor a copy of its stderr) do not
 * interleave mid-line. Under systemd, when stderr is the journal's stream
 * ($JOURNAL_STREAM names it), lines go to the journal as entries with
 * their PRIORITY and the program and level as fields; a line the journal
 * does not take is written to stderr after all. */
#include "base/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "base/errtext.h"

static const char *s_program = "assay";
static int s_level = ASSAY_LOG_INFO;
static int s_fd = 2;
static const char *const s_names[] = {"error", "warn", "info", "debug"};
/* Whether s_fd is the journal's stream: -1 not yet known. */
static int s_journal = -1;

static bool s_to_journal(void)
{
    if (s_journal < 0) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        /* sd_journal_send drops entries silently when the journal's
         * socket is not there: then stderr it is. */
        s_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
                    fstat(s_fd, &st) == 0 &&
                    (unsigned long long)st.st_dev == dev &&
                    (unsigned long long)st.st_ino == ino &&
                    access("/run/systemd/journal/socket", W_OK) == 0;
    }
    return s_journal;
}

void assay_log_init(const char *program, int level)
{
    s_program = program;
    s_level = level;
}

void assay_log_set_level(int level) { s_level = level; }

int assay_log_level(void) { return s_level; }

void assay_log_set_fd(int fd)
{
    s_fd = fd;
    s_journal = -1;
}

int assay_log_fd(void) { return s_fd; }

const char *assay_log_level_name(int level)
{
    return s_names[level < 0 ? 0 : level > 3 ? 3 : level];
}

int assay_log_level_parse(const char *name)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, s_names[i]))
            return i;
    return ASSAY_EINVAL;
}

static void s_vlog(int level, const char *job, const char *runtime,
                   const char *fmt, va_list ap) ASSAY_PRINTF(4, 0);
static void s_vlog(int level, const char *job, const char *runtime,
                   const char *fmt, va_list ap)
{
    if (level > s_level)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* syslog's priorities: err, warning, info, debug. */
    static const int prio[] = {3, 4, 6, 7};
    int l = level < 0 ? 0 : level > 3 ? 3 : level;
    if (s_to_journal()) {
        /* Fields with no id are left out: the list ends at the first
         * NULL, so the ids come last, the one present first. */
        const char *f1 = job ? "ASSAY_JOB=%s" : runtime ? "ASSAY_RUNTIME=%s"
                                                        : NULL;
        const char *v1 = job ? job : runtime;
        const char *f2 = job && runtime ? "ASSAY_RUNTIME=%s" : NULL;
        if (sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio[l],
                            "SYSLOG_IDENTIFIER=%s", s_program,
                            "ASSAY_LEVEL=%s", s_names[l], f1, v1, f2,
                            runtime, NULL) >= 0)
            return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char line[1200];
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s[%d] %s: %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, s_program,
                     (int)getpid(), assay_log_level_name(level), msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    line[len - 1] = '\n'; /* a cut line still ends its line */
    /* A failed write has nowhere to be reported. */
    (void)!write(s_fd, line, len);
}

void assay_logf(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vlog(level, NULL, NULL, fmt, ap);
    va_end(ap);
}

void assay_logf_ids(int level, const char *job, const char *runtime,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vlog(level, job, runtime, fmt, ap);
    va_end(ap);
}

void assay_log_tail(const char *path, const char *name, int lines,
                    FILE *out)
{
    enum { KEEP = 64 };
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (lines > KEEP)
        lines = KEEP;
    char *ring[KEEP] = {0}, line[1024];
    long n = 0;
    while (fgets(line, sizeof line, f)) {
        free(ring[n % KEEP]);
        ring[n % KEEP] = strdup(line);
        n++;
    }
    fclose(f);
    if (n && lines > 0) {
        fprintf(out, "--- %s (last lines of %s)\n", name, path);
        for (long k = n > lines ? n - lines : 0; k < n; k++)
            if (ring[k % KEEP])
                fputs(ring[k % KEEP], out);
    }
    for (int k = 0; k < KEEP; k++)
        free(ring[k]);
}
