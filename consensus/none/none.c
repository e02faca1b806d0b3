/* consensus/none - the single-node, in-memory consensus module: an
 * in-memory queue of commands, applied to the host's state machine in
 * order. Nothing is durable and nothing is ever restored, so applied
 * commands are dropped at once and no snapshot is taken: a snapshot costs
 * time in proportion to the whole state, which here would only add pauses.
 *
 * It is always the leader of a cluster of one, yet it behaves like the
 * asynchronous raft module so that the core drives both with the same code:
 * submit() only queues, and commands are applied and acknowledged in
 * process(), which the core calls when fd() turns readable.
 *
 * Re-entrancy: callbacks (and fsm.apply) may call submit(). A command
 * submitted while process() runs is applied by the next process() call,
 * never the current one, as with raft, where committing it needs another
 * turn of the event loop. A nested process() returns ASSAY_EBUSY, and
 * callbacks must not call close(). */
#define _GNU_SOURCE
#include <assay.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Largest command accepted; commands are state-machine operations, and one
 * this large is a bug, not data. */
#define NONE_MAX_CMD ((size_t)64 << 20)
/* Commands applied per process() call, so that a burst of submissions
 * cannot starve the other fds of the core's event loop. */
#define NONE_BATCH_MAX 65536

typedef struct entry {
    void *cmd;
    size_t len;
    assay_commit_cb cb;
    void *arg;
} entry;

struct assay_consensus {
    assay_fsm fsm;
    void (*release)(void *data, void *result);
    uint64_t id;
    uint64_t applied_total; /* commands applied since open */
    char *address;   /* never NULL; "" when the config gave none */
    int efd;         /* eventfd: non-zero while commands are pending */
    entry *log;      /* [0, applied) applied, [applied, count) pending */
    size_t count;
    size_t cap;
    size_t applied;
    bool processing; /* inside process(): a nested call is refused */
    bool closing;    /* inside close(): new commands are refused */
};

static int fail(char *errbuf, size_t errlen, int code, const char *fmt, ...)
    ASSAY_PRINTF(4, 5);

static int fail(char *errbuf, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (errbuf && errlen) {
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Makes the fd readable (an eventfd adds, so repeated signals are one
 * wake-up). Only counter overflow could fail, after 2^64 - 2 signals. */
static int signal_fd(assay_consensus *self)
{
    uint64_t one = 1;

    return write(self->efd, &one, sizeof one) == sizeof one ? 0 : ASSAY_EIO;
}

static void free_self(assay_consensus *self)
{
    for (size_t i = 0; i < self->count; i++)
        free(self->log[i].cmd);
    free(self->log);
    if (self->efd >= 0)
        close(self->efd);
    free(self->address);
    free(self);
}

static int none_open(const assay_consensus_config *cfg, assay_consensus **out,
                     char *errbuf, size_t errlen)
{
    assay_consensus *self;
    size_t npeers = 0;
    int err;

    if (!out)
        return fail(errbuf, errlen, ASSAY_EINVAL, "no instance pointer");
    *out = NULL;
    if (!cfg)
        return fail(errbuf, errlen, ASSAY_EINVAL, "no config");
    /* A host built against an older consensus.h passes a shorter config;
     * refuse it rather than read past its end. */
    if (cfg->struct_size < offsetof(assay_consensus_config, fsm) +
                               sizeof(assay_fsm))
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "consensus config is %u bytes, need %zu",
                    cfg->struct_size,
                    offsetof(assay_consensus_config, fsm) + sizeof(assay_fsm));
    /* All three are required even though `none` never restores: the core
     * must work unchanged with raft, which calls all three and would crash
     * later, far from the cause, on a NULL one. */
    if (!cfg->fsm.apply)
        return fail(errbuf, errlen, ASSAY_EINVAL, "fsm.apply is NULL");
    if (!cfg->fsm.snapshot)
        return fail(errbuf, errlen, ASSAY_EINVAL, "fsm.snapshot is NULL");
    if (!cfg->fsm.restore)
        return fail(errbuf, errlen, ASSAY_EINVAL, "fsm.restore is NULL");
    /* Several nodes each running `none` would each be leader of its own
     * log: a split brain. Refuse the configuration that asks for it. */
    for (const char *const *p = cfg->peers; p && *p; p++)
        npeers++;
    if (npeers > 1)
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "consensus 'none' is single-node, but %zu peers are "
                    "configured (use 'raft')",
                    npeers);

    self = calloc(1, sizeof *self);
    if (!self)
        return fail(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    self->efd = -1;
    self->fsm = cfg->fsm;
    self->id = cfg->id;
    if (cfg->struct_size >= offsetof(assay_consensus_config, release) +
                                sizeof cfg->release)
        self->release = cfg->release;
    self->address = strdup(cfg->address ? cfg->address : "");
    if (!self->address) {
        free_self(self);
        return fail(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    }
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        err = errno;
        free_self(self);
        return fail(errbuf, errlen, ASSAY_EIO, "eventfd: %s", strerror(err));
    }
    *out = self;
    return 0;
}

/* Pending commands are acknowledged as cancelled, as raft does for
 * commands still uncommitted at shutdown, so no submitter waits forever. */
static void none_close(assay_consensus **self_p)
{
    assay_consensus *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    /* A callback below may submit again; `closing` refuses it, which also
     * keeps the log from growing (and moving) under this loop. */
    self->closing = true;
    for (size_t i = self->applied; i < self->count; i++)
        if (self->log[i].cb)
            self->log[i].cb(self->log[i].arg, ASSAY_ECANCELLED, NULL);
    free_self(self);
    *self_p = NULL;
}

/* `cb` may be NULL for a command whose outcome nobody waits for. */
static int none_submit(assay_consensus *self, const void *cmd, size_t len,
                       assay_commit_cb cb, void *arg)
{
    void *copy;
    int rc;

    if (!self || !cmd || len == 0)
        return ASSAY_EINVAL;
    if (len > NONE_MAX_CMD)
        return ASSAY_ETOOBIG;
    if (self->closing)
        return ASSAY_ECANCELLED;
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        entry *log = reallocarray(self->log, cap, sizeof *log);

        if (!log)
            return ASSAY_ENOMEM;
        self->log = log;
        self->cap = cap;
    }
    copy = malloc(len);
    if (!copy)
        return ASSAY_ENOMEM;
    memcpy(copy, cmd, len);
    rc = signal_fd(self);
    if (rc < 0) {
        free(copy);
        return rc;
    }
    self->log[self->count++] = (entry){copy, len, cb, arg};
    return 0;
}

static int none_is_leader(assay_consensus *self) { return self != NULL; }

static int none_leader(assay_consensus *self, char *buf, size_t cap)
{
    size_t n;

    if (!self || !buf)
        return ASSAY_EINVAL;
    n = strlen(self->address);
    if (n >= cap) {
        if (cap)
            buf[0] = '\0';
        return ASSAY_ERANGE;
    }
    memcpy(buf, self->address, n + 1);
    return 0;
}

static int none_fd(assay_consensus *self)
{
    return self ? self->efd : ASSAY_EINVAL;
}

/* Drops the applied entries: this module never replays them. */
static void compact(assay_consensus *self)
{
    size_t n = self->applied;
    if (!n)
        return;
    for (size_t i = 0; i < n; i++)
        free(self->log[i].cmd);
    memmove(self->log, self->log + n, (self->count - n) * sizeof *self->log);
    self->count -= n;
    self->applied = 0;
}

static int none_process(assay_consensus *self)
{
    uint64_t ignored;
    size_t end;

    if (!self)
        return ASSAY_EINVAL;
    if (self->processing)
        return ASSAY_EBUSY;
    /* Drain before applying: a submit() from a callback below signals
     * again, so the fd stays readable for what it adds. EAGAIN is a
     * spurious call with nothing pending. */
    if (read(self->efd, &ignored, sizeof ignored) < 0 && errno != EAGAIN)
        return ASSAY_EIO;

    end = self->count;
    if (end - self->applied > NONE_BATCH_MAX)
        end = self->applied + NONE_BATCH_MAX;
    self->processing = true;
    while (self->applied < end) {
        /* A copy: a callback's submit() may move the log. */
        entry e = self->log[self->applied++];
        void *result = NULL;
        int rc = self->fsm.apply(self->fsm.data, e.cmd, e.len, &result);

        self->applied_total++;
        if (e.cb)
            e.cb(e.arg, rc < 0 ? rc : 0, result);
        else if (result && self->release)
            self->release(self->fsm.data, result);
    }
    self->processing = false;

    compact(self);
    /* What the batch limit left over has had its signal drained above. */
    if (self->applied < self->count)
        return signal_fd(self);
    return 0;
}

/* Always the leader of its one-member cluster; term 1 from the start. */
static int none_status(assay_consensus *self, assay_consensus_status *out)
{
    if (!self || !out ||
        out->struct_size < offsetof(assay_consensus_status, members))
        return ASSAY_EINVAL;
    uint32_t size = out->struct_size;
    memset(out, 0, size);
    out->struct_size = size;
    out->id = self->id;
    out->role = ASSAY_ROLE_LEADER;
    out->term = 1;
    out->commit_index = out->applied_index = self->applied_total;
    out->last_index = self->applied_total + (self->count - self->applied);
    out->leader_id = self->id;
    snprintf(out->leader_address, sizeof out->leader_address, "%s",
             self->address);
    if (size >= offsetof(assay_consensus_status, members) +
                    sizeof(assay_consensus_member)) {
        out->n_members = 1;
        out->members[0].id = self->id;
        out->members[0].voter = 1;
        snprintf(out->members[0].address, sizeof out->members[0].address,
                 "%s", self->address);
    }
    return 0;
}

/* A cluster of one has nobody to add, remove or hand over to. */
static int none_member(assay_consensus *self, int op, uint64_t id,
                       const char *address, assay_commit_cb cb, void *arg)
{
    (void)op;
    (void)id;
    (void)address;
    (void)cb;
    (void)arg;
    return self ? ASSAY_EUNSUPP : ASSAY_EINVAL;
}

static const assay_consensus_ops ops = {
    .version = ASSAY_CONSENSUS_VERSION,
    .struct_size = sizeof(assay_consensus_ops),
    .open = none_open,
    .close = none_close,
    .submit = none_submit,
    .is_leader = none_is_leader,
    .leader = none_leader,
    .fd = none_fd,
    .process = none_process,
    .status = none_status,
    .member = none_member,
};

static const assay_module desc = {
    ASSAY_MODULE_HEADER,
    .kind = ASSAY_KIND_CONSENSUS,
    .name = "none",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "single node, in memory (tests and development)",
    .consensus = &ops,
};

ASSAY_MODULE_DEFINE(desc)
