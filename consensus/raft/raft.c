/* consensus/raft - the replicated, durable consensus module: canonical raft
 * (libraft 0.15) on libuv, with raft's own TCP transport (secured by
 * secure.c when the config gives a key) and on-disk log under `data_dir`. It owns the raft instance, its loop and thread, the
 * queues between that thread and the host's, and the framing of commands
 * in log entries. The host owns the state machine.
 *
 * Threads. Raft runs on a thread of its own with its own uv_loop_t (raft
 * and libuv are single-threaded, and the host's loop is not libuv). The
 * host calls every op from one thread, and every host callback (fsm.apply,
 * .snapshot, .restore, commit and member callbacks) runs on that thread
 * inside process(). The two threads meet in three places:
 *  - the inbox (in_mu): submitted commands, one membership request and the
 *    close request, handed to the raft thread with uv_async_send();
 *  - the outbox (out_mu): an ordered queue of ops the raft thread pushes
 *    for process(), announced through the eventfd that fd() returns. The
 *    raft_fsm given to raft only queues: APPLY carries a copy of a committed
 *    entry, RESTORE a snapshot to load, SNAPSHOT asks for the host's state
 *    and blocks the raft thread (out_cv) until process() reaches it, so the
 *    state matches exactly what raft has applied (the host's buffer is
 *    copied into raft's memory: raft_fsm version 1, raft frees it on every
 *    path; then released with the host's snapshot_free, if any). The host
 *    may answer ASSAY_EBUSY (a snapshot being made elsewhere): raft asks
 *    again after a later entry. FAIL carries commands
 *    that will never be applied here, MEMBER_DONE the end of a membership
 *    change, MARK an applied index reached without a command (barrier or
 *    configuration entries, snapshot restore);
 *  - the status copy (st_mu, plus an atomic role), which the raft thread
 *    refreshes on every loop iteration (uv_prepare_t and uv_check_t) for
 *    status(), leader() and is_leader(); a change of role or leader also
 *    signals the eventfd. A new leader appends a barrier so that entries
 *    of earlier terms commit without waiting for a new command.
 * open() runs raft_init/bootstrap/start on the calling thread (so their
 * errors reach errbuf) before it starts the raft thread with every signal
 * but the fault signals blocked, leaving signals to the host's threads.
 *
 * Group commit. submit() only copies the command into the inbox. The raft
 * thread drains everything pending into as few log entries as the caps
 * allow (ENTRY_MAX_CMDS commands, ENTRY_MAX_BYTES bytes) and raft_apply()s
 * each. Entry framing, all integers little-endian:
 *
 *     u8  magic 'A'        u8  format 1          u16 reserved, 0
 *     u32 count            u64 origin            u64 seq
 *     count x { u32 len, len bytes }
 *     zeros up to a multiple of 8 bytes
 *
 * The padding is raft's: libraft 0.15 cannot reload a closed segment that
 * holds an entry whose length is not a multiple of 8.
 * `origin` is random per open() and `seq` counts entries it proposed. When
 * raft applies an entry whose origin is this instance and whose seq is still
 * in flight, the entry is ours: its submitters' callbacks travel with the
 * APPLY op and receive the per-command results in process(). This does not
 * depend on when raft fires its apply callback, and a leader that lost
 * leadership (its callbacks already failed) and later applies the entry as
 * a follower simply applies it. Any other entry's results go to
 * cfg->release. Decoding is defensive: a malformed entry is logged and
 * skipped on every member alike.
 *
 * Close. close() refuses new work, wakes a snapshot waiter, and asks the
 * raft thread to close: it proposes nothing more, lets the log writes in
 * flight settle (see begin_close), then raft_close()s; that callback closes
 * raft's io and transport and our handles, the loop ends, and the thread
 * is joined. The host thread then drains the outbox and inbox without
 * applying anything: every pending commit callback gets ASSAY_ECANCELLED
 * (a membership callback gets its result if it has one). Raft frees its
 * own memory.
 *
 * Re-entrancy: callbacks may call submit(), member(), status(); a nested
 * process() returns ASSAY_EBUSY; callbacks must not call close(). */
#define _GNU_SOURCE
#include <assay.h>

#include <errno.h>
#include <netdb.h>
#include <limits.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <sodium.h>
#include <zmq.h>

#include "entry.h"
#include "secure.h"
#include "storage.h"

/* Largest command accepted, as in `none`: a command is a state-machine
 * operation, and one this large is a bug, not data. */
#define MAX_CMD ((size_t)64 << 20)
/* Group-commit caps per log entry (a single larger command goes alone). */
#define ENTRY_MAX_CMDS 4096
#define ENTRY_MAX_BYTES ((size_t)16 << 20)
/* Work per process() call, so that a burst cannot starve the host loop. */
#define PROCESS_MAX_OPS 256
#define PROCESS_MAX_CMDS 65536
/* Longest close() waits for the log writes in flight (see begin_close). */
#define CLOSE_DRAIN_MS 3000

#define DEFAULT_ELECTION_MS 1000
#define DEFAULT_HEARTBEAT_MS 100
#define DEFAULT_SNAPSHOT_THRESHOLD 8192
#define DEFAULT_SNAPSHOT_TRAILING 4096

#define ADDR_MAX 256 /* assay_consensus_member.address */

/* Log segment size, set rather than left to libraft's default: the free
 * space a member keeps in reserve is counted in segments (storage.h). */
#define SEGMENT_SIZE ((size_t)8 << 20)
/* How often the raft thread looks at data_dir's free space. */
#define SPACE_CHECK_MS 1000
/* The election timeout of a member short of space: it does not stand. */
#define SHORT_ELECTION_MS (24u * 3600u * 1000u)

/* What a member says when its data_dir lost what it had: never start on
 * it, and point at the one recovery that keeps acknowledged commands. */
#define DAMAGED_FMT                                                            \
    "the log in %s is damaged (%s); this member will not start on a log "    \
    "that lost entries: recover it from the other members as "               \
    "docs/operations.md#recovering-a-member says"
/* What a member short of space says: path, free, reserve, the cause. */
#define SHORT_FMT                                                              \
    "data_dir %s has %.1f MiB free, raft keeps %.1f MiB in reserve to "       \
    "write its log (ENOSPC, no space left on storage)"

typedef struct waiter {
    assay_commit_cb cb;
    void *arg;
} waiter;

/* A submitted command waiting for the raft thread (inbox). */
typedef struct pending {
    struct pending *next;
    assay_commit_cb cb;
    void *arg;
    size_t len;
    unsigned char data[];
} pending;

/* One raft_apply() in flight (raft thread only). Lives until raft's apply
 * callback; `w` moves to the APPLY op when the entry is applied here. */
typedef struct batch {
    struct raft_apply req;
    struct assay_consensus *self;
    struct batch *prev, *next;
    uint64_t seq;
    uint32_t n;
    waiter *w;
} batch;

enum { OP_APPLY, OP_FAIL, OP_RESTORE, OP_SNAPSHOT, OP_MARK, OP_MEMBER_DONE };

/* An outbox entry, raft thread -> host thread, handled in order. */
typedef struct qop {
    struct qop *next;
    int kind;
    int status;     /* FAIL, MEMBER_DONE */
    uint64_t index; /* APPLY, MARK: raft index the host's state reaches */
    void *buf;      /* APPLY: entry copy (malloc); RESTORE: raft_malloc'd */
    size_t len;
    waiter *w; /* APPLY (NULL: not submitted here), FAIL */
    uint32_t n;
    /* SNAPSHOT, under out_mu: the raft thread waits for `done`, or marks
     * the op `abandoned` at close and leaves it to the host to free. */
    bool done;
    bool abandoned;
    int snap_rc;
    void *snap_buf; /* released with snap_free() */
    size_t snap_len;
} qop;

/* The membership change being run by the raft thread. */
typedef struct member_req {
    struct assay_consensus *self;
    int op;
    uint64_t id;
    char *address;
    struct raft_change change;
    struct raft_transfer transfer;
} member_req;

typedef struct peer {
    uint64_t id;
    const char *address;
} peer;

struct assay_consensus {
    /* ---- immutable after open() ---- */
    assay_fsm fsm;
    void (*release)(void *data, void *result);
    void (*snap_free)(void *data, void *buf, size_t len);
    uint64_t id;
    char *address;
    uint64_t origin;
    int efd;
    char *data_dir;
    uint32_t election_ms;

    /* ---- raft thread (and open()/close() while it is not running) ---- */
    uv_loop_t loop;
    struct raft_uv_transport transport;
    bool secure; /* transport is secure.c's */
    struct raft_io io;
    struct raft_fsm rfsm;
    struct raft raft;
    struct raft_tracer tracer;
    uv_async_t wake;
    uv_prepare_t prepare;
    uv_check_t check;
    struct raft_barrier barrier;
    bool barrier_pending;
    bool loop_ok, transport_ok, io_ok, raft_ok, handles_ok;
    bool raft_started;
    bool close_wait; /* close requested, waiting for writes to settle */
    uint64_t close_deadline;
    bool raft_closing;
    pthread_t thread;
    bool thread_ok;
    bool running; /* set before the thread starts: snapshots may wait */
    bool snap_failing;
    batch *fl_head, *fl_tail; /* in-flight batches, in seq order */
    uint64_t next_seq;
    uint64_t published; /* highest index queued for the host */
    int seen_role;
    uint64_t seen_leader;
    member_req active; /* valid while active.op != 0 */
    uv_timer_t space_timer;
    uint64_t snap_bytes; /* the latest snapshot's size, for the reserve */
    bool space_slow;     /* election timeout raised: short of space */
    struct raft_transfer space_xfer;
    bool space_xfer_busy;

    /* ---- inbox ---- */
    pthread_mutex_t in_mu;
    pending *in_head, *in_tail;
    bool member_posted;
    member_req posted;
    bool close_requested;

    /* ---- outbox ---- */
    pthread_mutex_t out_mu;
    pthread_cond_t out_cv;
    qop *out_head, *out_tail;
    bool out_closing;

    /* ---- status copy ---- */
    pthread_mutex_t st_mu;
    assay_consensus_status st;
    atomic_int role;
    /* data_dir's free space at the last check, and the reserve; short
     * once free fell below need (until it is a segment above again). */
    _Atomic uint64_t space_free, space_need;
    atomic_bool space_short;
    /* Why raft's last write of our entries failed (io.errmsg), if it did. */
    char write_err[RAFT_ERRMSG_BUF_SIZE];

    bool mu_ok;

    /* ---- host thread only ---- */
    bool processing;
    bool closing;
    bool space_said; /* what process() last logged: short or not */
    bool write_said; /* a failed write was logged; cleared by a success */
    int failed; /* sticky error after a failed restore */
    uint64_t applied;
    bool member_busy;
    assay_commit_cb member_cb;
    void *member_arg;
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

static const char *errstr(int code)
{
    if (assay_host && assay_host->strerror)
        return assay_host->strerror(code);
    return "error";
}

static void host_free(void *p)
{
    if (assay_host && assay_host->free)
        assay_host->free(p);
    else
        free(p);
}

/* The host's snapshot buffer goes back the way the host asked. */
static void snap_free(assay_consensus *self, qop *o)
{
    if (o->snap_buf && self->snap_free)
        self->snap_free(self->fsm.data, o->snap_buf, o->snap_len);
    else
        host_free(o->snap_buf);
    o->snap_buf = NULL;
}

/* Raft's codes in ours; anything about storage or the network is EIO. */
static int map_raft(int rv)
{
    switch (rv) {
    case 0:
        return 0;
    case RAFT_NOMEM:
        return ASSAY_ENOMEM;
    case RAFT_BADID:
    case RAFT_BADROLE:
    case RAFT_INVALID:
    case RAFT_NAMETOOLONG:
        return ASSAY_EINVAL;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
    case RAFT_CANTBOOTSTRAP:
        return ASSAY_EEXIST;
    case RAFT_MALFORMED:
        return ASSAY_EPARSE;
    case RAFT_NOTLEADER:
    case RAFT_LEADERSHIPLOST:
        return ASSAY_ENOTLEADER;
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED:
        return ASSAY_ECANCELLED;
    case RAFT_CANTCHANGE:
    case RAFT_BUSY:
        return ASSAY_EBUSY;
    case RAFT_TOOBIG:
        return ASSAY_ETOOBIG;
    case RAFT_NOTFOUND:
        return ASSAY_ENOENT;
    case RAFT_UNAUTHORIZED:
        return ASSAY_EPERM;
    case RAFT_TOOMANY:
        return ASSAY_ERANGE;
    case RAFT_NOSPACE:
        return ASSAY_ENOSPC;
    case RAFT_CORRUPT:
        return ASSAY_ECORRUPT;
    default:
        return ASSAY_EIO;
    }
}

/* Makes the fd readable (an eventfd adds, so repeated signals are one
 * wake-up). Only counter overflow could fail, after 2^64 - 2 signals. */
static int signal_fd(assay_consensus *self)
{
    uint64_t one = 1;

    return write(self->efd, &one, sizeof one) == sizeof one ? 0 : ASSAY_EIO;
}

/* ---- Outbox (raft thread pushes, host thread pops) --------------------- */

static void push_locked(assay_consensus *self, qop *o)
{
    o->next = NULL;
    if (self->out_tail)
        self->out_tail->next = o;
    else
        self->out_head = o;
    self->out_tail = o;
}

static void push(assay_consensus *self, qop *o)
{
    pthread_mutex_lock(&self->out_mu);
    push_locked(self, o);
    pthread_mutex_unlock(&self->out_mu);
    signal_fd(self);
}

static qop *pop(assay_consensus *self)
{
    qop *o;

    pthread_mutex_lock(&self->out_mu);
    o = self->out_head;
    if (o) {
        self->out_head = o->next;
        if (!self->out_head)
            self->out_tail = NULL;
    }
    pthread_mutex_unlock(&self->out_mu);
    return o;
}

/* Queues callbacks for commands that will not be applied here. Without
 * memory for the op the callbacks would be lost, so it is retried. */
static void push_fail(assay_consensus *self, waiter *w, uint32_t n, int status)
{
    qop *o;

    if (!w)
        return;
    while (!(o = calloc(1, sizeof *o)))
        usleep(1000);
    o->kind = OP_FAIL;
    o->status = status;
    o->w = w;
    o->n = n;
    push(self, o);
}

static void push_member_done(assay_consensus *self, int status)
{
    qop *o;

    free(self->active.address);
    self->active.address = NULL;
    self->active.op = 0;
    while (!(o = calloc(1, sizeof *o)))
        usleep(1000);
    o->kind = OP_MEMBER_DONE;
    o->status = status;
    push(self, o);
}

/* ---- raft_fsm: runs on the raft thread, only queues for the host -------- */

static void fl_unlink(assay_consensus *self, batch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        self->fl_head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        self->fl_tail = b->prev;
    b->prev = b->next = NULL;
}

static void fl_append(assay_consensus *self, batch *b)
{
    b->next = NULL;
    b->prev = self->fl_tail;
    if (self->fl_tail)
        self->fl_tail->next = b;
    else
        self->fl_head = b;
    self->fl_tail = b;
}

/* Never fails once the copy exists: a non-zero return stops raft's apply
 * loop. `*result` is unused (the submitters are found by origin and seq). */
static int rfsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                      void **result)
{
    assay_consensus *self = fsm->data;
    const unsigned char *p = buf->base;
    qop *o = calloc(1, sizeof *o);

    *result = NULL;
    if (!o || !(o->buf = malloc(buf->len ? buf->len : 1))) {
        free(o);
        fprintf(stderr, "raft: out of memory applying entry %llu\n",
                raft_last_applied(&self->raft) + 1);
        return RAFT_NOMEM;
    }
    if (buf->len)
        memcpy(o->buf, buf->base, buf->len);
    o->len = buf->len;
    o->kind = OP_APPLY;
    o->index = raft_last_applied(&self->raft) + 1;
    uint64_t origin, seq;
    if (entry_origin(p, buf->len, &origin, &seq) && origin == self->origin) {
        for (batch *b = self->fl_head; b; b = b->next)
            if (b->seq == seq && b->w) {
                o->w = b->w;
                o->n = b->n;
                b->w = NULL;
                break;
            }
    }
    self->published = o->index;
    push(self, o);
    return 0;
}

static int rfsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    assay_consensus *self = fsm->data;
    qop *o = calloc(1, sizeof *o);

    if (!o)
        return RAFT_NOMEM;
    /* On success the buffer is ours (raft frees it only on failure). */
    self->snap_bytes = buf->len;
    o->kind = OP_RESTORE;
    o->buf = buf->base;
    o->len = buf->len;
    push(self, o);
    return 0;
}

/* Waits for process() to serialise the host's state at exactly this point
 * of the op stream, then copies it into raft_malloc'd memory: with version
 * 1 raft frees the snapshot itself on every path, failures included.
 * Every failure returns RAFT_BUSY, which raft treats as transient (it
 * retries after the next applied entry) rather than as an apply error;
 * the host's ASSAY_EBUSY ("being made") is not logged as one. */
static int rfsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                         unsigned *n_bufs)
{
    assay_consensus *self = fsm->data;
    struct raft_buffer *out = NULL;
    qop *o;
    int rc;

    /* raft_start() runs in open(), on the host thread, and may want a
     * snapshot at once: waiting for process() there would deadlock. */
    if (!self->running)
        return RAFT_BUSY;
    o = calloc(1, sizeof *o);
    if (!o)
        return RAFT_BUSY;
    o->kind = OP_SNAPSHOT;
    pthread_mutex_lock(&self->out_mu);
    if (self->out_closing) {
        pthread_mutex_unlock(&self->out_mu);
        free(o);
        return RAFT_BUSY;
    }
    push_locked(self, o);
    signal_fd(self);
    while (!o->done && !self->out_closing)
        pthread_cond_wait(&self->out_cv, &self->out_mu);
    if (!o->done) {
        o->abandoned = true; /* still queued: close() frees it */
        pthread_mutex_unlock(&self->out_mu);
        return RAFT_BUSY;
    }
    pthread_mutex_unlock(&self->out_mu);

    rc = o->snap_rc;
    if (rc == 0 && (!(out = raft_malloc(sizeof *out)) ||
                    !(out->base = raft_malloc(o->snap_len ? o->snap_len : 1))))
        rc = ASSAY_ENOMEM;
    if (rc < 0) {
        raft_free(out);
        snap_free(self, o);
        free(o);
        /* Raft retries after every entry: say it once per failing streak;
         * "being made" (the host encodes it elsewhere) is no failure. */
        if (rc == ASSAY_EBUSY)
            return RAFT_BUSY;
        if (!self->snap_failing)
            fprintf(stderr,
                    "raft: snapshot of the state machine failed: %s; the "
                    "log grows until one succeeds\n",
                    errstr(rc));
        self->snap_failing = true;
        return RAFT_BUSY;
    }
    self->snap_failing = false;
    self->snap_bytes = o->snap_len;
    memcpy(out->base, o->snap_buf, o->snap_len);
    out->len = o->snap_len;
    snap_free(self, o);
    free(o);
    *bufs = out;
    *n_bufs = 1;
    return 0;
}

/* ---- Raft thread ------------------------------------------------------- */

static void maybe_close(assay_consensus *self);

static void on_barrier(struct raft_barrier *req, int status)
{
    assay_consensus *self = req->data;

    self->barrier_pending = false;
}

/* Refreshes the status copy; runs on every loop iteration. A leader that
 * was just elected appends a barrier, so that entries of earlier terms
 * commit (and reach the host) without waiting for a new command. */
static void refresh(assay_consensus *self)
{
    struct raft *r = &self->raft;
    assay_consensus_status *st = &self->st;
    int role = raft_state(r);
    raft_id lid = 0;
    const char *laddr = NULL;
    bool changed;
    uint32_t n = 0;

    if (self->close_wait && !self->raft_closing)
        maybe_close(self);
    /* Between raft_close() and its callback raft's state is going away. */
    if (self->raft_closing) {
        atomic_store(&self->role, RAFT_UNAVAILABLE);
        return;
    }
    raft_leader(r, &lid, &laddr);
    pthread_mutex_lock(&self->st_mu);
    st->role = role == RAFT_LEADER      ? ASSAY_ROLE_LEADER
               : role == RAFT_CANDIDATE ? ASSAY_ROLE_CANDIDATE
               : role == RAFT_FOLLOWER  ? ASSAY_ROLE_FOLLOWER
                                        : ASSAY_ROLE_UNAVAILABLE;
    st->term = r->current_term;
    st->commit_index = r->commit_index;
    st->last_index = raft_last_index(r);
    st->leader_id = lid;
    snprintf(st->leader_address, sizeof st->leader_address, "%s",
             lid && laddr ? laddr : "");
    for (unsigned i = 0; i < r->configuration.n; i++) {
        const struct raft_server *s = &r->configuration.servers[i];

        if (n == ASSAY_CONSENSUS_MAX_MEMBERS)
            break;
        st->members[n].id = s->id;
        snprintf(st->members[n].address, sizeof st->members[n].address, "%s",
                 s->address ? s->address : "");
        st->members[n].voter = s->role == RAFT_VOTER;
        n++;
    }
    st->n_members = n;
    pthread_mutex_unlock(&self->st_mu);

    changed = role != self->seen_role || lid != self->seen_leader;
    if (role == RAFT_LEADER && self->seen_role != RAFT_LEADER &&
        !self->barrier_pending && !self->close_wait) {
        self->barrier.data = self;
        if (raft_barrier(r, &self->barrier, on_barrier) == 0)
            self->barrier_pending = true;
    }
    self->seen_role = role;
    self->seen_leader = lid;
    atomic_store(&self->role, role);

    if (raft_last_applied(r) > self->published) {
        qop *o = calloc(1, sizeof *o);

        if (o) {
            o->kind = OP_MARK;
            o->index = raft_last_applied(r);
            self->published = o->index;
            push(self, o);
        }
    }
    if (changed)
        signal_fd(self);
}

static void on_prepare(uv_prepare_t *h) { refresh(h->data); }

static void on_check(uv_check_t *h) { refresh(h->data); }

static void on_applied(struct raft_apply *req, int status, void *result)
{
    batch *b = req->data;
    assay_consensus *self = b->self;

    fl_unlink(self, b);
    if (b->w) {
        /* Not applied here. Status 0 would mean raft applied the entry
         * without our fsm recognising it: committed, results unknown. */
        if (status == 0)
            fprintf(stderr, "raft: entry %llu applied unrecognised\n",
                    req->index);
        if (status == RAFT_IOERR || status == RAFT_NOSPACE) {
            pthread_mutex_lock(&self->st_mu);
            snprintf(self->write_err, sizeof self->write_err, "%s",
                     *self->io.errmsg ? self->io.errmsg
                                      : raft_errmsg(&self->raft));
            pthread_mutex_unlock(&self->st_mu);
        }
        push_fail(self, b->w, b->n,
                  status == 0          ? 0
                  : self->raft_closing ? ASSAY_ECANCELLED
                                       : map_raft(status));
    }
    free(b);
}

/* Packs up to the caps from *list into one entry and proposes it. */
static void propose(assay_consensus *self, pending **list)
{
    size_t total = ENTRY_HEADER;
    uint32_t n = 0;
    pending *p, *next;
    batch *b = NULL;
    unsigned char *buf = NULL, *w = NULL;
    struct raft_buffer rb;
    int rv = RAFT_NOMEM;

    for (p = *list; p && n < ENTRY_MAX_CMDS; p = p->next) {
        if (n && total + 4 + p->len > ENTRY_MAX_BYTES)
            break;
        total += 4 + p->len;
        n++;
    }
    total = (total + 7) & ~(size_t)7;
    /* The waiters must not be lost; only the entry may fail (ENOMEM). */
    while (!(b = calloc(1, sizeof *b)) || !(b->w = calloc(n, sizeof *b->w))) {
        free(b);
        usleep(1000);
    }
    buf = raft_malloc(total);
    if (buf) {
        memset(buf + total - 8, 0, 8); /* the padding */
        b->seq = ++self->next_seq;
        entry_header(buf, n, self->origin, b->seq);
        w = buf + ENTRY_HEADER;
    }
    p = *list;
    for (uint32_t i = 0; i < n; i++, p = next) {
        next = p->next;
        b->w[i] = (waiter){p->cb, p->arg};
        if (buf) {
            entry_put32(w, (uint32_t)p->len);
            memcpy(w + 4, p->data, p->len);
            w += 4 + p->len;
        }
        free(p);
    }
    *list = p;
    if (!buf) {
        push_fail(self, b->w, n, ASSAY_ENOMEM);
        free(b);
        return;
    }
    b->n = n;
    b->self = self;
    b->req.data = b;
    fl_append(self, b);
    rb.base = buf;
    rb.len = total;
    if (raft_state(&self->raft) == RAFT_LEADER)
        rv = raft_apply(&self->raft, &b->req, &rb, 1, on_applied);
    else
        rv = RAFT_NOTLEADER;
    if (rv != 0) {
        fl_unlink(self, b);
        raft_free(buf);
        push_fail(self, b->w, n, map_raft(rv));
        free(b);
    }
}

static void on_member_changed(struct raft_change *req, int status)
{
    member_req *m = req->data;

    push_member_done(m->self, map_raft(status));
}

/* A new member joins as a spare; assigning it the voter role makes the
 * leader catch it up first, then count it. */
static void on_member_added(struct raft_change *req, int status)
{
    member_req *m = req->data;
    int rv;

    if (status != 0) {
        push_member_done(m->self, map_raft(status));
        return;
    }
    rv = raft_assign(&m->self->raft, &m->change, m->id, RAFT_VOTER,
                     on_member_changed);
    if (rv != 0)
        push_member_done(m->self, map_raft(rv));
}

static void on_transferred(struct raft_transfer *req)
{
    member_req *m = req->data;
    struct raft *r = &m->self->raft;
    raft_id lid = 0;
    const char *laddr = NULL;
    int status = 0;

    /* Raft reports the end, not the outcome: judge it by who leads. */
    raft_leader(r, &lid, &laddr);
    if (raft_state(r) == RAFT_LEADER)
        status = ASSAY_ETIMEOUT;
    else if (m->id && lid && lid != m->id)
        status = ASSAY_ETIMEOUT;
    push_member_done(m->self, status);
}

static const struct raft_server *config_find(const struct raft *r,
                                             raft_id id)
{
    for (unsigned i = 0; i < r->configuration.n; i++)
        if (r->configuration.servers[i].id == id)
            return &r->configuration.servers[i];
    return NULL;
}

static void start_member(assay_consensus *self)
{
    member_req *m = &self->active;
    struct raft *r = &self->raft;
    int rv;

    m->self = self;
    m->change.data = m;
    m->transfer.data = m;
    switch (m->op) {
    case ASSAY_MEMBER_ADD: {
        /* Retrying an add whose catch-up failed (the new member was not
         * up yet) finds it a spare: only the promotion is left to do. A
         * voter at that address is already added. */
        const struct raft_server *known = config_find(r, m->id);
        if (!known)
            rv = raft_add(r, &m->change, m->id, m->address, on_member_added);
        else if (strcmp(known->address, m->address))
            rv = RAFT_DUPLICATEID;
        else if (known->role != RAFT_VOTER)
            rv = raft_assign(r, &m->change, m->id, RAFT_VOTER,
                             on_member_changed);
        else {
            push_member_done(self, 0);
            return;
        }
        break;
    }
    case ASSAY_MEMBER_REMOVE:
        rv = raft_remove(r, &m->change, m->id, on_member_changed);
        break;
    case ASSAY_MEMBER_DEMOTE: {
        const struct raft_server *known = config_find(r, m->id);
        if (known && known->role == RAFT_STANDBY) {
            push_member_done(self, 0);
            return;
        }
        rv = known ? raft_assign(r, &m->change, m->id, RAFT_STANDBY,
                                 on_member_changed)
                   : RAFT_NOTFOUND;
        break;
    }
    default:
        rv = raft_transfer(r, &m->transfer, m->id, on_transferred);
        break;
    }
    if (rv != 0)
        push_member_done(self, map_raft(rv));
}

/* ---- Free space ---------------------------------------------------------
 * libraft 0.15 does not survive a full disk (it spins, leads without
 * committing, crashes, or stays failed after space returns), so a member
 * never lets it get there: below the reserve (storage_need) it is short
 * of space. A short member hands the lead on, does not stand for
 * election (its timeout is raised), and its submit() says ASSAY_ENOSPC;
 * it still follows, writing into the reserve. A segment's worth above
 * the reserve again, it is a member like the others. */

static void on_space_transferred(struct raft_transfer *req)
{
    ((assay_consensus *)req->data)->space_xfer_busy = false;
}

static void space_check(assay_consensus *self)
{
    struct raft *r = &self->raft;
    uint64_t free_b, need = storage_need(SEGMENT_SIZE, self->snap_bytes);
    bool was = atomic_load(&self->space_short), now, slow;

    if (self->raft_closing || storage_free(self->data_dir, &free_b) != 0)
        return;
    now = free_b < need + (was ? SEGMENT_SIZE : 0);
    atomic_store(&self->space_free, free_b);
    atomic_store(&self->space_need, need);
    if (now != was) {
        atomic_store(&self->space_short, now);
        signal_fd(self);
    }
    /* With no other voter the transfer fails: the member keeps the lead
     * and refuses commands instead. */
    if (now && raft_state(r) == RAFT_LEADER && !self->space_xfer_busy) {
        self->space_xfer.data = self;
        self->space_xfer_busy =
            raft_transfer(r, &self->space_xfer, 0, on_space_transferred) == 0;
    }
    slow = now && raft_state(r) != RAFT_LEADER;
    if (slow != self->space_slow) {
        raft_set_election_timeout(r, slow ? SHORT_ELECTION_MS
                                          : self->election_ms);
        self->space_slow = slow;
    }
}

static void on_space_timer(uv_timer_t *t) { space_check(t->data); }

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes raft's I/O and transport (those opened) and our handles, so
 * that the loop runs dry. */
static void close_io(assay_consensus *self)
{
    if (self->io_ok)
        raft_uv_close(&self->io);
    if (self->transport_ok)
    {
        if (self->secure)
            secure_transport_destroy(&self->transport);
        else
            raft_uv_tcp_close(&self->transport);
    }
    self->io_ok = self->transport_ok = false;
    if (self->handles_ok) {
        close_handle((uv_handle_t *)&self->wake);
        close_handle((uv_handle_t *)&self->prepare);
        close_handle((uv_handle_t *)&self->check);
        close_handle((uv_handle_t *)&self->space_timer);
    }
}

static void on_raft_closed(struct raft *r)
{
    close_io(r->data);
}

static void start_close(assay_consensus *self)
{
    if (self->raft_closing)
        return;
    self->raft_closing = true;
    raft_close(&self->raft, on_raft_closed);
}

static void maybe_close(assay_consensus *self)
{
    struct raft *r = &self->raft;

    uv_update_time(&self->loop);
    if (r->last_stored >= raft_last_index(r) ||
        uv_now(&self->loop) >= self->close_deadline)
        start_close(self);
}

/* Closes raft once no log write is in flight, waiting CLOSE_DRAIN_MS at
 * most. libraft 0.15 crashes when raft_close() cancels two or more of a
 * leader's pending writes: the first cancelled write truncates the log
 * from its index, and the next then releases entries no longer there.
 * Nothing new is proposed meanwhile, so the wait is one disk write. */
static void begin_close(assay_consensus *self)
{
    if (self->close_wait || self->raft_closing)
        return;
    self->close_wait = true;
    uv_update_time(&self->loop);
    self->close_deadline = uv_now(&self->loop) + CLOSE_DRAIN_MS;
    maybe_close(self);
}

static void on_wake(uv_async_t *h)
{
    assay_consensus *self = h->data;
    pending *list = NULL;
    bool member = false, closing;

    pthread_mutex_lock(&self->in_mu);
    closing = self->close_requested;
    /* At close, what is still here is cancelled by close() itself. */
    if (!closing) {
        list = self->in_head;
        self->in_head = self->in_tail = NULL;
        if (self->member_posted) {
            self->active = self->posted;
            self->posted.address = NULL;
            self->member_posted = false;
            member = true;
        }
    }
    pthread_mutex_unlock(&self->in_mu);

    while (list)
        propose(self, &list);
    if (member)
        start_member(self);
    if (closing)
        begin_close(self);
}

static void walk_close(uv_handle_t *h, void *arg) { close_handle(h); }

/* Runs the loop to its end and closes it, whatever is left open. */
static void finish_loop(assay_consensus *self)
{
    uv_run(&self->loop, UV_RUN_DEFAULT);
    while (uv_loop_close(&self->loop) == UV_EBUSY) {
        uv_walk(&self->loop, walk_close, NULL);
        uv_run(&self->loop, UV_RUN_DEFAULT);
    }
    self->loop_ok = false;
}

static void *raft_thread(void *arg)
{
    assay_consensus *self = arg;

    finish_loop(self);
    return NULL;
}

static void trace_emit(struct raft_tracer *t, const char *file, int line,
                       const char *message)
{
    fprintf(stderr, "raft: trace %s:%d %s\n", file, line, message);
}

/* ---- Tear-down (host thread, raft thread gone) -------------------------- */

static void cancel_waiters(waiter *w, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (w[i].cb)
            w[i].cb(w[i].arg, ASSAY_ECANCELLED, NULL);
}

static void free_op(assay_consensus *self, qop *o)
{
    if (o->kind == OP_RESTORE)
        raft_free(o->buf);
    else
        free(o->buf);
    snap_free(self, o);
    free(o->w);
    free(o);
}

/* Stops raft and its loop when the thread never started (open() failed
 * half-way) by running the loop on the calling thread. */
static void stop_unthreaded(assay_consensus *self)
{
    if (self->raft_ok && self->raft_started) {
        /* Runs on_prepare, hence maybe_close(), until raft is closed. */
        begin_close(self);
        self->raft_ok = false;
    } else if (self->raft_ok) {
        self->raft_closing = true;
        raft_close(&self->raft, on_raft_closed);
        self->raft_ok = false;
    } else {
        close_io(self);
    }
    if (self->loop_ok)
        finish_loop(self);
}

/* Frees everything; callbacks still pending get ASSAY_ECANCELLED. */
static void free_self(assay_consensus *self)
{
    qop *o;

    if (self->thread_ok) {
        pthread_join(self->thread, NULL);
        self->thread_ok = false;
    } else {
        stop_unthreaded(self);
    }
    atomic_store(&self->role, RAFT_UNAVAILABLE);
    /* A callback below that calls process() gets ASSAY_EBUSY. */
    self->processing = true;

    /* Raft has called back every request by now; anything left is ours. */
    while (self->fl_head) {
        batch *b = self->fl_head;

        fl_unlink(self, b);
        if (b->w) {
            cancel_waiters(b->w, b->n);
            free(b->w);
        }
        free(b);
    }
    if (self->mu_ok) {
        while ((o = pop(self))) {
            if (o->kind == OP_APPLY || o->kind == OP_FAIL)
                if (o->w)
                    cancel_waiters(o->w, o->n);
            if (o->kind == OP_MEMBER_DONE && self->member_busy) {
                self->member_busy = false;
                if (self->member_cb)
                    self->member_cb(self->member_arg, o->status, NULL);
            }
            free_op(self, o);
        }
        while (self->in_head) {
            pending *p = self->in_head;

            self->in_head = p->next;
            if (p->cb)
                p->cb(p->arg, ASSAY_ECANCELLED, NULL);
            free(p);
        }
    }
    if (self->member_busy) {
        self->member_busy = false;
        if (self->member_cb)
            self->member_cb(self->member_arg, ASSAY_ECANCELLED, NULL);
    }
    free(self->posted.address);
    free(self->active.address);
    if (self->mu_ok) {
        pthread_mutex_destroy(&self->in_mu);
        pthread_mutex_destroy(&self->out_mu);
        pthread_mutex_destroy(&self->st_mu);
        pthread_cond_destroy(&self->out_cv);
    }
    if (self->efd >= 0)
        close(self->efd);
    free(self->address);
    free(self->data_dir);
    free(self);
}

/* ---- open() ------------------------------------------------------------ */

/* Raft's own words for a failure, the most specific it has. */
static const char *raft_reason(assay_consensus *self, int rv)
{
    if (self->raft_ok && *self->raft.errmsg)
        return self->raft.errmsg;
    if (self->io_ok && *self->io.errmsg)
        return self->io.errmsg;
    return raft_strerror(rv);
}

/* Why raft could not listen on HOST:PORT, when libraft says only "I/O
 * error": a bind of our own on the same address names the cause. */
static const char *bind_reason(const char *address)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= sizeof host)
        return NULL;
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
        return NULL;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), e = 0,
        on = 1;
    /* As libuv binds: connections of a killed member in TIME_WAIT do not
     * count, only a listener does. */
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return e == EADDRINUSE ? "address already in use; another member may "
                             "be running: stop it or change raft_address"
           : e             ? strerror(e)
                           : NULL;
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *path, char *errbuf, size_t errlen)
{
    char *copy = strdup(path);
    struct stat sb;
    int err = 0;

    if (!copy)
        return fail(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;

        *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST)
            err = errno;
        else if (stat(copy, &sb) != 0)
            err = errno;
        else if (!S_ISDIR(sb.st_mode))
            err = ENOTDIR;
        *p = c;
        if (err || c == '\0')
            break;
    }
    free(copy);
    if (err)
        return fail(errbuf, errlen, ASSAY_EIO,
                    "cannot create data_dir '%s': %s", path, strerror(err));
    return 0;
}

/* "ID@HOST:PORT": ID a positive decimal uint64, address non-empty. */
static int parse_peer(const char *s, peer *out, char *errbuf, size_t errlen)
{
    const char *at = strchr(s, '@');
    uint64_t id = 0;
    size_t alen;

    if (!at)
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "peer '%s': expected ID@HOST:PORT", s);
    if (at == s)
        return fail(errbuf, errlen, ASSAY_EINVAL, "peer '%s': missing id", s);
    for (const char *p = s; p < at; p++) {
        uint64_t digit = (uint64_t)(*p - '0');

        if (*p < '0' || *p > '9' || id > (UINT64_MAX - digit) / 10)
            return fail(errbuf, errlen, ASSAY_EINVAL,
                        "peer '%s': id must be a positive integer", s);
        id = id * 10 + digit;
    }
    if (id == 0)
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "peer '%s': id must be a positive integer", s);
    alen = strlen(at + 1);
    if (alen == 0)
        return fail(errbuf, errlen, ASSAY_EINVAL, "peer '%s': missing address",
                    s);
    if (alen >= ADDR_MAX)
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "peer '%s': address longer than %d bytes", s, ADDR_MAX - 1);
    out->id = id;
    out->address = at + 1;
    return 0;
}

/* Fields past the caller's struct_size read as 0/NULL. */
#define CFG_HAS(cfg, field)                                                    \
    ((cfg)->struct_size >=                                                     \
     offsetof(assay_consensus_config, field) + sizeof((cfg)->field))

static uint64_t random_origin(void)
{
    uint64_t v = 0;
    struct timespec ts;

    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == sizeof v && v)
        return v;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&v;
}

static int mod_open(const assay_consensus_config *cfg, assay_consensus **out,
                    char *errbuf, size_t errlen)
{
    assay_consensus *self = NULL;
    peer *peers = NULL;
    size_t npeers = 0;
    const peer *mine = NULL;
    const char *address;
    uint32_t election_ms = 0, heartbeat_ms = 0, threshold = 0, trailing = 0;
    uint8_t secret[32];
    bool secure = false;
    struct raft_configuration conf;
    sigset_t all, old;
    int rc, rv, err;

    if (!out)
        return fail(errbuf, errlen, ASSAY_EINVAL, "no instance pointer");
    *out = NULL;
    if (!cfg)
        return fail(errbuf, errlen, ASSAY_EINVAL, "no config");
    if (!CFG_HAS(cfg, fsm))
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "consensus config is %u bytes, need %zu", cfg->struct_size,
                    offsetof(assay_consensus_config, fsm) + sizeof(assay_fsm));
    if (!cfg->fsm.apply)
        return fail(errbuf, errlen, ASSAY_EINVAL, "fsm.apply is NULL");
    if (!cfg->fsm.snapshot)
        return fail(errbuf, errlen, ASSAY_EINVAL, "fsm.snapshot is NULL");
    if (!cfg->fsm.restore)
        return fail(errbuf, errlen, ASSAY_EINVAL, "fsm.restore is NULL");
    if (cfg->id == 0)
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "member id must be a positive integer");
    if (!cfg->data_dir || !*cfg->data_dir)
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "raft needs a data_dir for its log");
    if (CFG_HAS(cfg, election_ms))
        election_ms = cfg->election_ms;
    if (CFG_HAS(cfg, heartbeat_ms))
        heartbeat_ms = cfg->heartbeat_ms;
    if (CFG_HAS(cfg, snapshot_threshold))
        threshold = cfg->snapshot_threshold;
    if (CFG_HAS(cfg, snapshot_trailing))
        trailing = cfg->snapshot_trailing;
    election_ms = election_ms ? election_ms : DEFAULT_ELECTION_MS;
    heartbeat_ms = heartbeat_ms ? heartbeat_ms : DEFAULT_HEARTBEAT_MS;
    threshold = threshold ? threshold : DEFAULT_SNAPSHOT_THRESHOLD;
    trailing = trailing ? trailing : DEFAULT_SNAPSHOT_TRAILING;
    if (heartbeat_ms >= election_ms)
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "heartbeat_ms (%u) must be below election_ms (%u)",
                    heartbeat_ms, election_ms);
    if (CFG_HAS(cfg, secret_key) && cfg->secret_key) {
        bool key = strlen(cfg->secret_key) == 40 &&
                   zmq_z85_decode(secret, cfg->secret_key);
        sodium_memzero(secret, sizeof secret); /* decoded again when used */
        if (!key)
            return fail(errbuf, errlen, ASSAY_EINVAL,
                        "secret_key is not a CURVE key (40 characters of "
                        "Z85)");
        if (!cfg->allow_dir || !*cfg->allow_dir)
            return fail(errbuf, errlen, ASSAY_EINVAL,
                        "secured raft links need an allow_dir");
        secure = true;
    }

    for (const char *const *p = cfg->peers; p && *p; p++)
        npeers++;
    if (npeers && !(peers = calloc(npeers, sizeof *peers)))
        return fail(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    for (size_t i = 0; i < npeers; i++) {
        rc = parse_peer(cfg->peers[i], &peers[i], errbuf, errlen);
        for (size_t j = 0; rc == 0 && j < i; j++) {
            if (peers[j].id == peers[i].id)
                rc = fail(errbuf, errlen, ASSAY_EINVAL,
                          "peer '%s': id %llu appears twice", cfg->peers[i],
                          (unsigned long long)peers[i].id);
            else if (strcmp(peers[j].address, peers[i].address) == 0)
                rc = fail(errbuf, errlen, ASSAY_EINVAL,
                          "peer '%s': address appears twice", cfg->peers[i]);
        }
        if (rc < 0) {
            free(peers);
            return rc;
        }
        if (peers[i].id == cfg->id)
            mine = &peers[i];
    }
    address = cfg->address && *cfg->address ? cfg->address
              : mine                        ? mine->address
                                            : NULL;
    if (!address) {
        free(peers);
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "member %llu has no address (none configured and not "
                    "in peers)",
                    (unsigned long long)cfg->id);
    }
    if (mine && strcmp(address, mine->address) != 0) {
        rc = fail(errbuf, errlen, ASSAY_EINVAL,
                  "address '%s' differs from this member's peers entry "
                  "'%llu@%s'",
                  address, (unsigned long long)cfg->id, mine->address);
        free(peers);
        return rc;
    }
    if (strlen(address) >= ADDR_MAX) {
        free(peers);
        return fail(errbuf, errlen, ASSAY_EINVAL,
                    "address longer than %d bytes", ADDR_MAX - 1);
    }
    rc = make_dirs(cfg->data_dir, errbuf, errlen);
    if (rc < 0) {
        free(peers);
        return rc;
    }

    self = calloc(1, sizeof *self);
    if (!self) {
        free(peers);
        return fail(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
    }
    self->efd = -1;
    self->secure = secure;
    self->fsm = cfg->fsm;
    self->release = CFG_HAS(cfg, release) ? cfg->release : NULL;
    self->snap_free = CFG_HAS(cfg, snapshot_free) ? cfg->snapshot_free : NULL;
    self->id = cfg->id;
    self->origin = random_origin();
    self->seen_role = -1;
    atomic_init(&self->role, RAFT_UNAVAILABLE);
    self->address = strdup(address);
    self->data_dir = strdup(cfg->data_dir);
    self->election_ms = election_ms;
    if (!self->address || !self->data_dir) {
        rc = fail(errbuf, errlen, ASSAY_ENOMEM, "out of memory");
        goto err;
    }
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        err = errno;
        rc = fail(errbuf, errlen, ASSAY_EIO, "eventfd: %s", strerror(err));
        goto err;
    }
    pthread_mutex_init(&self->in_mu, NULL);
    pthread_mutex_init(&self->out_mu, NULL);
    pthread_mutex_init(&self->st_mu, NULL);
    pthread_cond_init(&self->out_cv, NULL);
    self->mu_ok = true;
    self->st.id = cfg->id;

    /* Threads started from here on (ours, libuv's pool) inherit a full
     * mask, so the host's signals stay on the host's threads. Faults stay
     * deliverable: a blocked SIGSEGV kills without a word (or a sanitizer
     * report). */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGTRAP);
    sigdelset(&all, SIGABRT);
    sigdelset(&all, SIGSYS);
    pthread_sigmask(SIG_BLOCK, &all, &old);

    rv = uv_loop_init(&self->loop);
    if (rv != 0) {
        rc = fail(errbuf, errlen, ASSAY_EIO, "uv_loop_init: %s",
                  uv_strerror(rv));
        goto err_mask;
    }
    self->loop_ok = true;
    uv_async_init(&self->loop, &self->wake, on_wake);
    uv_prepare_init(&self->loop, &self->prepare);
    uv_check_init(&self->loop, &self->check);
    uv_timer_init(&self->loop, &self->space_timer);
    self->wake.data = self->prepare.data = self->check.data = self;
    self->space_timer.data = self;
    self->handles_ok = true;

    if (self->secure) {
        char why[256];
        zmq_z85_decode(secret, cfg->secret_key);
        rv = secure_transport_init(&self->transport, &self->loop, secret,
                                   cfg->allow_dir, why, sizeof why);
        sodium_memzero(secret, sizeof secret);
        if (rv != 0) {
            rc = fail(errbuf, errlen, map_raft(rv), "raft transport: %s",
                      why);
            goto err_mask;
        }
    } else if ((rv = raft_uv_tcp_init(&self->transport, &self->loop))) {
        rc = fail(errbuf, errlen, map_raft(rv), "raft transport: %s",
                  raft_strerror(rv));
        goto err_mask;
    }
    self->transport_ok = true;
    rv = raft_uv_init(&self->io, &self->loop, cfg->data_dir, &self->transport);
    if (rv != 0) {
        rc =
            fail(errbuf, errlen, map_raft(rv), "raft storage: %s (data_dir %s)",
                 *self->io.errmsg ? self->io.errmsg : raft_strerror(rv),
                 cfg->data_dir);
        goto err_mask;
    }
    self->io_ok = true;
    /* libraft would set a damaged closed segment aside and start on what
     * is left: committed entries gone without a word. A torn write at the
     * end of the open segment (a crash) is still truncated, as it must. */
    raft_uv_set_auto_recovery(&self->io, false);
    raft_uv_set_segment_size(&self->io, SEGMENT_SIZE);

    self->rfsm.version = 1;
    self->rfsm.data = self;
    self->rfsm.apply = rfsm_apply;
    self->rfsm.snapshot = rfsm_snapshot;
    self->rfsm.restore = rfsm_restore;
    rv = raft_init(&self->raft, &self->io, &self->rfsm, cfg->id, address);
    if (rv != 0) {
        rc = fail(errbuf, errlen, map_raft(rv), "raft_init: %s",
                  raft_reason(self, rv));
        goto err_mask;
    }
    self->raft_ok = true;
    self->raft.data = self;
    raft_set_election_timeout(&self->raft, election_ms);
    raft_set_heartbeat_timeout(&self->raft, heartbeat_ms);
    raft_set_snapshot_threshold(&self->raft, threshold);
    raft_set_snapshot_trailing(&self->raft, trailing);
    /* An InstallSnapshot lost on the way (or dropped by a follower busy
     * with another) is sent again after this; raft's default, 30 s, left
     * a member coming back behind the log that long. Not so short that a
     * large snapshot still in flight is sent twice. */
    raft_set_install_snapshot_timeout(
        &self->raft, (unsigned)(10 * election_ms > 10000 ? 10 * election_ms
                                                         : 10000));
    /* A member back from a partition must not depose a working leader. */
    raft_set_pre_vote(&self->raft, true);
    if (getenv("ASSAY_RAFT_TRACE") &&
        strcmp(getenv("ASSAY_RAFT_TRACE"), "1") == 0) {
        self->tracer = (struct raft_tracer){NULL, true, trace_emit};
        self->raft.tracer = &self->tracer;
        raft_uv_set_tracer(&self->io, &self->tracer);
    }

    /* Only the initial members bootstrap; a member added later starts
     * empty and waits for the leader. */
    if (mine) {
        raft_configuration_init(&conf);
        rv = 0;
        for (size_t i = 0; rv == 0 && i < npeers; i++)
            rv = raft_configuration_add(&conf, peers[i].id, peers[i].address,
                                        RAFT_VOTER);
        if (rv == 0)
            rv = raft_bootstrap(&self->raft, &conf);
        raft_configuration_close(&conf);
        if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
            rc = fail(errbuf, errlen, map_raft(rv), "raft_bootstrap: %s",
                      raft_reason(self, rv));
            goto err_mask;
        }
    }
    free(peers);
    peers = NULL;

    {
        char why[512];
        uint64_t free_b;
        if ((rc = storage_snapshot_check(cfg->data_dir, &self->snap_bytes, why,
                                         sizeof why))) {
            fail(errbuf, errlen, rc, DAMAGED_FMT, cfg->data_dir, why);
            goto err_mask;
        }
        uint64_t need = storage_need(SEGMENT_SIZE, self->snap_bytes);
        if (storage_free(cfg->data_dir, &free_b) == 0 && free_b < need) {
            rc = fail(errbuf, errlen, ASSAY_ENOSPC,
                      SHORT_FMT "; free space there and start it again",
                      cfg->data_dir, free_b / 1048576.0, need / 1048576.0);
            goto err_mask;
        }
    }
    uv_prepare_start(&self->prepare, on_prepare);
    uv_check_start(&self->check, on_check);
    rv = raft_start(&self->raft);
    if (rv == RAFT_CORRUPT) {
        rc = fail(errbuf, errlen, ASSAY_ECORRUPT, DAMAGED_FMT, cfg->data_dir,
                  raft_reason(self, rv));
        goto err_mask;
    }
    if (rv != 0) {
        const char *why = bind_reason(address);
        rc = fail(errbuf, errlen, map_raft(rv), "raft_start on %s: %s", address,
                  why ? why : raft_reason(self, rv));
        goto err_mask;
    }
    self->raft_started = true;
    uv_timer_start(&self->space_timer, on_space_timer, SPACE_CHECK_MS,
                   SPACE_CHECK_MS);
    refresh(self);

    self->running = true;
    rv = pthread_create(&self->thread, NULL, raft_thread, self);
    if (rv != 0) {
        self->running = false;
        rc =
            fail(errbuf, errlen, ASSAY_EIO, "pthread_create: %s", strerror(rv));
        goto err_mask;
    }
    self->thread_ok = true;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    *out = self;
    return 0;

err_mask:
    free_self(self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(peers);
    return rc;
err:
    free_self(self);
    free(peers);
    return rc;
}

/* ---- Host-thread ops --------------------------------------------------- */

static void mod_close(assay_consensus **self_p)
{
    assay_consensus *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    /* Callbacks below may submit again; `closing` refuses it. */
    self->closing = true;
    pthread_mutex_lock(&self->out_mu);
    self->out_closing = true;
    pthread_cond_broadcast(&self->out_cv);
    pthread_mutex_unlock(&self->out_mu);
    pthread_mutex_lock(&self->in_mu);
    self->close_requested = true;
    pthread_mutex_unlock(&self->in_mu);
    uv_async_send(&self->wake);
    free_self(self);
    *self_p = NULL;
}

static int mod_submit(assay_consensus *self, const void *cmd, size_t len,
                      assay_commit_cb cb, void *arg)
{
    pending *p;

    if (!self || !cmd || len == 0)
        return ASSAY_EINVAL;
    if (len > MAX_CMD)
        return ASSAY_ETOOBIG;
    if (self->closing)
        return ASSAY_ECANCELLED;
    if (self->failed)
        return self->failed;
    if (atomic_load(&self->role) != RAFT_LEADER)
        return ASSAY_ENOTLEADER;
    if (atomic_load(&self->space_short))
        return ASSAY_ENOSPC;
    p = malloc(sizeof *p + len);
    if (!p)
        return ASSAY_ENOMEM;
    p->next = NULL;
    p->cb = cb;
    p->arg = arg;
    p->len = len;
    memcpy(p->data, cmd, len);
    pthread_mutex_lock(&self->in_mu);
    if (self->in_tail)
        self->in_tail->next = p;
    else
        self->in_head = p;
    self->in_tail = p;
    pthread_mutex_unlock(&self->in_mu);
    uv_async_send(&self->wake);
    return 0;
}

static int mod_is_leader(assay_consensus *self)
{
    return self && atomic_load(&self->role) == RAFT_LEADER;
}

static int mod_leader(assay_consensus *self, char *buf, size_t cap)
{
    size_t n;
    int rc = 0;

    if (!self || !buf)
        return ASSAY_EINVAL;
    pthread_mutex_lock(&self->st_mu);
    n = strlen(self->st.leader_address);
    if (!self->st.leader_id || n == 0)
        rc = ASSAY_ENOENT;
    else if (n >= cap)
        rc = ASSAY_ERANGE;
    else
        memcpy(buf, self->st.leader_address, n + 1);
    pthread_mutex_unlock(&self->st_mu);
    if (rc < 0 && cap)
        buf[0] = '\0';
    return rc;
}

static int mod_fd(assay_consensus *self)
{
    return self ? self->efd : ASSAY_EINVAL;
}

/* Validates the whole entry before anything is applied, so a malformed
 * one is skipped entirely, identically on every member. */
static uint32_t handle_apply(assay_consensus *self, qop *o)
{
    const unsigned char *p = o->buf;
    uint32_t count = 0;
    size_t off = ENTRY_HEADER;

    if (!entry_check(p, o->len, &count)) {
        fprintf(stderr, "raft: skipping malformed log entry %llu (%zu bytes)\n",
                (unsigned long long)o->index, o->len);
        for (uint32_t i = 0; i < o->n; i++)
            if (o->w[i].cb)
                o->w[i].cb(o->w[i].arg, ASSAY_EPROTO, NULL);
        self->applied = o->index;
        return 1;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t l;
        const unsigned char *cmd = entry_next(p, &off, &l);
        void *result = NULL;
        int rc;

        if (self->failed)
            rc = self->failed;
        else
            rc = self->fsm.apply(self->fsm.data, cmd, l, &result);
        if (i < o->n && o->w[i].cb)
            o->w[i].cb(o->w[i].arg, rc < 0 ? rc : 0, result);
        else if (result && self->release)
            self->release(self->fsm.data, result);
    }
    for (uint32_t i = count; i < o->n; i++)
        if (o->w[i].cb)
            o->w[i].cb(o->w[i].arg, ASSAY_EPROTO, NULL);
    self->applied = o->index;
    return count;
}

static void handle_snapshot(assay_consensus *self, qop *o)
{
    void *buf = NULL;
    size_t len = 0;
    int rc;

    pthread_mutex_lock(&self->out_mu);
    if (o->abandoned) {
        pthread_mutex_unlock(&self->out_mu);
        free_op(self, o);
        return;
    }
    pthread_mutex_unlock(&self->out_mu);
    if (self->failed)
        rc = self->failed;
    else
        rc = self->fsm.snapshot(self->fsm.data, &buf, &len);
    if (rc == 0 && !buf)
        rc = ASSAY_EINVAL;
    if (rc < 0) {
        host_free(buf);
        buf = NULL;
        len = 0;
    }
    /* The raft thread owns the op again from here. */
    pthread_mutex_lock(&self->out_mu);
    o->snap_rc = rc < 0 ? rc : 0;
    o->snap_buf = buf;
    o->snap_len = len;
    o->done = true;
    pthread_cond_broadcast(&self->out_cv);
    pthread_mutex_unlock(&self->out_mu);
}

/* Says once per streak that raft could not write our entries: where, and
 * why. The commands' callbacks carry the code to the clients. */
static void write_failed(assay_consensus *self, int status)
{
    char why[RAFT_ERRMSG_BUF_SIZE];

    pthread_mutex_lock(&self->st_mu);
    memcpy(why, self->write_err, sizeof why);
    pthread_mutex_unlock(&self->st_mu);
    self->write_said = true;
    if (assay_host && assay_host->log)
        assay_host->log(ASSAY_LOG_ERROR,
                        "writing the log in %s failed: %s (%s); commands "
                        "are refused until a write succeeds",
                        self->data_dir, *why ? why : "no detail",
                        errstr(status));
}

static int mod_process(assay_consensus *self)
{
    uint64_t ignored;
    size_t nops = 0, cmds = 0;
    bool more = false;
    qop *o;

    if (!self)
        return ASSAY_EINVAL;
    if (self->processing)
        return ASSAY_EBUSY;
    /* Drain before handling: ops pushed meanwhile signal again. */
    if (read(self->efd, &ignored, sizeof ignored) < 0 && errno != EAGAIN)
        return ASSAY_EIO;

    self->processing = true;
    if (atomic_load(&self->space_short) != self->space_said) {
        self->space_said = !self->space_said;
        if (!assay_host || !assay_host->log)
            ;
        else if (self->space_said)
            assay_host->log(ASSAY_LOG_ERROR,
                            SHORT_FMT "; this member hands the lead on, does "
                                      "not stand for election and refuses "
                                      "commands until space is freed",
                            self->data_dir,
                            atomic_load(&self->space_free) / 1048576.0,
                            atomic_load(&self->space_need) / 1048576.0);
        else
            assay_host->log(ASSAY_LOG_INFO,
                            "data_dir %s has %.1f MiB free again: this member "
                            "stands for election and takes commands",
                            self->data_dir,
                            atomic_load(&self->space_free) / 1048576.0);
    }
    while ((o = pop(self))) {
        switch (o->kind) {
        case OP_APPLY:
            if (o->w)
                self->write_said = false; /* our entry was written */
            cmds += handle_apply(self, o);
            break;
        case OP_FAIL:
            if ((o->status == ASSAY_EIO || o->status == ASSAY_ENOSPC) &&
                !self->write_said)
                write_failed(self, o->status);
            for (uint32_t i = 0; i < o->n; i++)
                if (o->w[i].cb)
                    o->w[i].cb(o->w[i].arg, o->status, NULL);
            break;
        case OP_RESTORE:
            if (!self->failed) {
                int rc = self->fsm.restore(self->fsm.data, o->buf, o->len);

                if (rc < 0) {
                    fprintf(stderr,
                            "raft: restoring a snapshot of %zu bytes into the "
                            "state machine failed: %s; this member's state is "
                            "unusable\n",
                            o->len, errstr(rc));
                    self->failed = rc;
                }
            }
            break;
        case OP_SNAPSHOT:
            handle_snapshot(self, o);
            o = NULL; /* freed or handed back to the raft thread */
            break;
        case OP_MARK:
            self->applied = o->index;
            break;
        case OP_MEMBER_DONE:
            if (self->member_busy) {
                self->member_busy = false;
                if (self->member_cb)
                    self->member_cb(self->member_arg, o->status, NULL);
            }
            break;
        }
        if (o)
            free_op(self, o);
        if (++nops >= PROCESS_MAX_OPS || cmds >= PROCESS_MAX_CMDS) {
            pthread_mutex_lock(&self->out_mu);
            more = self->out_head != NULL;
            pthread_mutex_unlock(&self->out_mu);
            break;
        }
    }
    self->processing = false;
    if (more)
        signal_fd(self);
    return self->failed;
}

static int mod_status(assay_consensus *self, assay_consensus_status *out)
{
    assay_consensus_status st;
    size_t n;

    if (!self || !out || out->struct_size < sizeof out->struct_size)
        return ASSAY_EINVAL;
    pthread_mutex_lock(&self->st_mu);
    st = self->st;
    pthread_mutex_unlock(&self->st_mu);
    st.id = self->id;
    st.applied_index = self->applied;
    st.storage_free = atomic_load(&self->space_free);
    st.storage_need = atomic_load(&self->space_need);
    st.storage_short = atomic_load(&self->space_short);
    /* The copy is refreshed once per loop turn; what the host applied is
     * committed even if the copy has not caught up yet. */
    if (st.commit_index < st.applied_index)
        st.commit_index = st.applied_index;
    if (st.last_index < st.commit_index)
        st.last_index = st.commit_index;
    st.struct_size = out->struct_size;
    n = out->struct_size < sizeof st ? out->struct_size : sizeof st;
    memcpy(out, &st, n);
    return 0;
}

static int mod_member(assay_consensus *self, int op, uint64_t id,
                      const char *address, assay_commit_cb cb, void *arg)
{
    char *copy = NULL;

    if (!self)
        return ASSAY_EINVAL;
    if (self->closing)
        return ASSAY_ECANCELLED;
    switch (op) {
    case ASSAY_MEMBER_ADD:
        if (!id || !address || !*address || strlen(address) >= ADDR_MAX)
            return ASSAY_EINVAL;
        break;
    case ASSAY_MEMBER_REMOVE:
        if (!id)
            return ASSAY_EINVAL;
        break;
    case ASSAY_MEMBER_DEMOTE:
        if (!id || id == self->id) /* the leader hands the lead on first */
            return ASSAY_EINVAL;
        break;
    case ASSAY_MEMBER_TRANSFER:
        if (id == self->id)
            return ASSAY_EINVAL;
        break;
    default:
        return ASSAY_EINVAL;
    }
    if (atomic_load(&self->role) != RAFT_LEADER)
        return ASSAY_ENOTLEADER;
    if (self->member_busy)
        return ASSAY_EBUSY;
    if (op == ASSAY_MEMBER_ADD && !(copy = strdup(address)))
        return ASSAY_ENOMEM;
    pthread_mutex_lock(&self->in_mu);
    free(self->posted.address);
    self->posted = (member_req){.op = op, .id = id, .address = copy};
    self->member_posted = true;
    pthread_mutex_unlock(&self->in_mu);
    self->member_busy = true;
    self->member_cb = cb;
    self->member_arg = arg;
    uv_async_send(&self->wake);
    return 0;
}

static const assay_consensus_ops ops = {
    .version = ASSAY_CONSENSUS_VERSION,
    .struct_size = sizeof(assay_consensus_ops),
    .open = mod_open,
    .close = mod_close,
    .submit = mod_submit,
    .is_leader = mod_is_leader,
    .leader = mod_leader,
    .fd = mod_fd,
    .process = mod_process,
    .status = mod_status,
    .member = mod_member,
};

static const assay_module desc = {
    ASSAY_MODULE_HEADER,
    .kind = ASSAY_KIND_CONSENSUS,
    .name = "raft",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "canonical raft + libuv: replicated, durable log",
    .consensus = &ops,
};

ASSAY_MODULE_DEFINE(desc)
