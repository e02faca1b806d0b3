/* core/member/audit.c - the audit log (docs/security.md#audit-log): a
 * JSON line per admin action asked of this member and per request its
 * roles refused, naming the key, its role, the service and why.
 *
 * Append-only (O_APPEND, 0600), and bounded twice: at most AUDIT_RATE
 * lines a second (bursts of AUDIT_BURST), so a flood of refused requests
 * cannot fill the disk - what is left out is counted in the next line's
 * "suppressed"; and past audit_log_mb the file is renamed FILE.1 (the one
 * before goes) and begun again. Guests' lines (keys nobody knows, while an
 * enrolment token is pending) have a pace of their own, a tenth of it:
 * strangers cannot crowd out what the cluster's own keys do. */
#include "member/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUDIT_RATE 100.0
#define AUDIT_BURST 1000.0
/* Guests' lines: refusals of keys nobody knows, a tenth of the rest. */
#define GUEST_RATE 10.0
#define GUEST_BURST 100.0

static int s_open(mb_audit_log *a)
{
    a->fd = open(a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    struct stat st;
    a->size = a->fd >= 0 && fstat(a->fd, &st) == 0 ? (int64_t)st.st_size : 0;
    return a->fd >= 0 ? 0 : -errno;
}

int mb_audit_open(assay_leader *self, char *err, size_t errlen)
{
    mb_audit_log *a = &self->audit;
    const assay_conf *c = self->conf;
    a->fd = -1;
    a->known.tokens = AUDIT_BURST;
    a->guests.tokens = GUEST_BURST;
    a->max = c->audit_log_mb << 20;
    if (!strcmp(c->audit_log, "-") || (!*c->audit_log && !*c->data_dir))
        return 0;
    int n = *c->audit_log
                ? snprintf(a->path, sizeof a->path, "%s", c->audit_log)
                : snprintf(a->path, sizeof a->path, "%s/audit.log",
                           c->data_dir);
    if (n < 0 || (size_t)n >= sizeof a->path)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "audit_log: a path longer than %zu bytes",
                          sizeof a->path - 1);
    int rc = s_open(a);
    if (rc)
        return assay_errf(err, errlen, ASSAY_EIO, "audit_log %s: %s",
                          a->path, strerror(-rc));
    return 0;
}

void mb_audit_close(assay_leader *self)
{
    if (self->audit.fd >= 0)
        close(self->audit.fd);
    self->audit.fd = -1;
}

/* Takes a token of pace p (rate a second, burst) if one is left. */
static bool s_may_write(mb_audit_pace *p, double rate, double burst)
{
    int64_t now = assay_now_ms();
    p->tokens += (double)(now - p->refilled_ms) * rate / 1000.0;
    if (p->tokens > burst)
        p->tokens = burst;
    p->refilled_ms = now;
    if (p->tokens < 1.0) {
        p->suppressed++;
        return false;
    }
    p->tokens -= 1.0;
    return true;
}

static void s_rotate(mb_audit_log *a)
{
    char old[sizeof a->path + 2];
    snprintf(old, sizeof old, "%s.1", a->path);
    close(a->fd);
    if (rename(a->path, old) < 0)
        assay_warn("audit log %s: cannot rename it %s: %s", a->path, old,
                   strerror(errno));
    if (s_open(a))
        assay_warn("audit log %s: %s", a->path, strerror(errno));
}

void mb_audit(assay_leader *self, const char *key, const char *role,
              const char *service, const char *outcome, const char *fmt, ...)
{
    mb_audit_log *a = &self->audit;
    bool guest = role && !strcmp(role, ASSAY_ROLE_NAME_GUEST);
    mb_audit_pace *p = guest ? &a->guests : &a->known;
    if (a->fd < 0 || !(guest ? s_may_write(p, GUEST_RATE, GUEST_BURST)
                             : s_may_write(p, AUDIT_RATE, AUDIT_BURST)))
        return;
    char why[ASSAY_ERRMSG_SIZE * 2], when[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    int64_t ms = assay_wall_ms();
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03dZ", (int)(ms % 1000));
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "time",
                             when, "member", self->id, "key",
                             key ? key : "", "role", role ? role : "",
                             "service", service ? service : "", "outcome",
                             outcome, "detail", why);
    if (line && p->suppressed)
        json_object_set_new(line, "suppressed",
                            json_integer((json_int_t)p->suppressed));
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    text[len++] = '\n'; /* the NUL's place: one write per line */
    if (a->size + (int64_t)len > a->max)
        s_rotate(a);
    if (a->fd >= 0 && write(a->fd, text, len) == (ssize_t)len) {
        a->size += (int64_t)len;
        p->suppressed = 0;
        a->failing = false;
    } else if (!a->failing) {
        a->failing = true;
        assay_warn("audit log %s: a line could not be written: %s",
                   a->path, strerror(errno));
    }
    free(text);
}
