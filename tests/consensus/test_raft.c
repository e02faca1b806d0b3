/* tests/consensus/test_raft.c - the `raft` consensus module, loaded as the
 * core loads it, with real TCP on 127.0.0.1 and data dirs under /tmp:
 * election and replication across three members in one process, follower
 * refusals, leader failover and a member restored from snapshot + log,
 * single-member durability, status and membership changes, cancellation
 * at close, and config refusals; and secured links (raft_secure): members
 * let in only allowed member keys, each for its own id, cut a member off
 * when its key is revoked, and tell a stranger why. Each instance's
 * process() is driven from a poll loop bounded in wall time; nothing
 * asserts on timing. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <assay.h>

#include "harness.h"
#include "plugin/hostapi.h"

/* ---- Fixture ---------------------------------------------------------- */

/* The host table with alloc/free counted, so that a snapshot buffer the
 * module leaks, or frees with something other than host->free, shows. */
static assay_host_api host;
static void *handle;
static const assay_module *mod;
static const assay_consensus_ops *ops;

/* What the module logged (from its thread too), for the tests that wait
 * for a line; each line goes to stderr as well. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logged[16384];

static void test_log(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%d] %s\n", level, line);
    pthread_mutex_lock(&log_mu);
    size_t have = strlen(logged);
    if (have + strlen(line) + 2 < sizeof logged)
        snprintf(logged + have, sizeof logged - have, "%s\n", line);
    pthread_mutex_unlock(&log_mu);
}

static bool log_has(const char *needle)
{
    pthread_mutex_lock(&log_mu);
    bool yes = strstr(logged, needle) != NULL;
    pthread_mutex_unlock(&log_mu);
    return yes;
}

static void load(void)
{
    /* As assayd does: raft's TCP transport may write to a closed peer. */
    signal(SIGPIPE, SIG_IGN);
    host = harness_counting_host();
    host.log = test_log;
    logged[0] = '\0';
    mod = harness_module_load(RAFT_MODULE_PATH, &host, &handle);
    ops = mod->consensus;
    cr_assert_not_null(ops);
}

static void unload(void)
{
    if (handle)
        dlclose(handle);
}

TestSuite(raft, .init = load, .fini = unload, .timeout = 60);

/* ---- A state machine: the list of int64 commands applied --------------- */

typedef struct list_fsm {
    int64_t *vals;
    size_t n, cap;
    int snapshots; /* successful snapshot() calls */
    int restores;
    bool fail_snapshot;
    bool fail_restore;
    long results; /* results allocated and not yet freed */
} list_fsm;

/* The result is the list's new length, allocated so that a result the
 * module forgets to hand over or release shows as a leak. */
static int fsm_apply(void *data, const void *cmd, size_t len, void **result)
{
    list_fsm *f = data;
    uint64_t *r;

    if (len != sizeof(int64_t))
        return ASSAY_EPARSE;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->vals = realloc(f->vals, f->cap * sizeof *f->vals);
        cr_assert_not_null(f->vals);
    }
    memcpy(&f->vals[f->n++], cmd, sizeof(int64_t));
    r = malloc(sizeof *r);
    cr_assert_not_null(r);
    *r = f->n;
    f->results++;
    *result = r;
    return 0;
}

static void fsm_release(void *data, void *result)
{
    list_fsm *f = data;

    f->results--;
    free(result);
}

static int fsm_snapshot(void *data, void **buf, size_t *len)
{
    list_fsm *f = data;
    size_t size = 8 + f->n * 8;

    if (f->fail_snapshot)
        return ASSAY_EIO;
    *buf = host.alloc(size);
    if (!*buf)
        return ASSAY_ENOMEM;
    memcpy(*buf, &(uint64_t){f->n}, 8);
    if (f->n)
        memcpy((char *)*buf + 8, f->vals, f->n * 8);
    *len = size;
    f->snapshots++;
    return 0;
}

static int fsm_restore(void *data, const void *buf, size_t len)
{
    list_fsm *f = data;
    uint64_t n;

    if (len < 8 || f->fail_restore)
        return ASSAY_EPARSE;
    memcpy(&n, buf, 8);
    if (len != 8 + n * 8)
        return ASSAY_EPARSE;
    free(f->vals);
    f->vals = malloc(n ? n * 8 : 1);
    cr_assert_not_null(f->vals);
    if (n)
        memcpy(f->vals, (const char *)buf + 8, n * 8);
    f->n = f->cap = n;
    f->restores++;
    return 0;
}

static void fsm_reset(list_fsm *f)
{
    free(f->vals);
    *f = (list_fsm){0};
}

/* ---- Members in one process ------------------------------------------ */

#define MAX_NODES 4

typedef struct node {
    uint64_t id;
    char addr[64];
    char peer[80]; /* "ID@ADDR" */
    char *dir;
    list_fsm fsm;
    assay_consensus *c;
    char secret[41]; /* its member key; "" for plain links */
} node;

static node nodes[MAX_NODES];
static const char *peers[MAX_NODES + 1];
static uint32_t snapshot_threshold; /* 0: module default */
static char *allow_dir;             /* of secured members */

/* Fast timeouts; ASan makes each member slower, not the network. */
#define ELECTION_MS 600
#define HEARTBEAT_MS 60

static void setup_nodes(int n, int npeers)
{
    for (int i = 0; i < n; i++) {
        node *m = &nodes[i];
        int port = harness_port(); /* members reopen on it */

        m->id = (uint64_t)i + 1;
        snprintf(m->addr, sizeof m->addr, "127.0.0.1:%d", port);
        snprintf(m->peer, sizeof m->peer, "%llu@127.0.0.1:%d",
                 (unsigned long long)m->id, port);
        m->dir = harness_tmpdir();
        if (i < npeers)
            peers[i] = m->peer;
    }
    peers[npeers] = NULL;
}

static assay_consensus_config node_config(node *m)
{
    return (assay_consensus_config){
        .struct_size = sizeof(assay_consensus_config),
        .id = m->id,
        .address = m->addr,
        .data_dir = m->dir,
        .peers = peers,
        .fsm = {.data = &m->fsm,
                .apply = fsm_apply,
                .snapshot = fsm_snapshot,
                .restore = fsm_restore},
        .release = fsm_release,
        .election_ms = ELECTION_MS,
        .heartbeat_ms = HEARTBEAT_MS,
        .snapshot_threshold = snapshot_threshold,
        .snapshot_trailing = snapshot_threshold ? snapshot_threshold / 2 : 0,
        .secret_key = m->secret[0] ? m->secret : NULL,
        .allow_dir = allow_dir,
    };
}

static void node_open(node *m)
{
    assay_consensus_config cfg = node_config(m);
    char err[ASSAY_ERRMSG_SIZE] = "";

    cr_assert_null(m->c);
    cr_assert_eq(ops->open(&cfg, &m->c, err, sizeof err), 0,
                 "open member %llu: %s", (unsigned long long)m->id, err);
    cr_assert_not_null(m->c);
}

static void node_close(node *m)
{
    ops->close(&m->c);
    cr_assert_null(m->c);
}

/* Closes every member, then checks the fsm handed over or released
 * every result, and that every snapshot buffer went back to host->free. */
static void teardown(void)
{
    for (int i = 0; i < MAX_NODES; i++)
        if (nodes[i].c)
            node_close(&nodes[i]);
    for (int i = 0; i < MAX_NODES; i++) {
        cr_expect_eq(nodes[i].fsm.results, 0,
                     "member %d: %ld results neither handed over nor "
                     "released",
                     i + 1, nodes[i].fsm.results);
        fsm_reset(&nodes[i].fsm);
        free(nodes[i].dir);
        nodes[i].dir = NULL;
        nodes[i].secret[0] = '\0';
    }
    free(allow_dir);
    allow_dir = NULL;
    cr_expect_eq(harness_host_live(), 0,
                 "snapshot buffers not freed with host->free");
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One turn of the host loop: poll every open member's fd and process the
 * readable ones. */
static void pump(int ms)
{
    struct pollfd p[MAX_NODES];

    for (int i = 0; i < MAX_NODES; i++) {
        p[i].fd = nodes[i].c ? ops->fd(nodes[i].c) : -1;
        p[i].events = POLLIN;
        p[i].revents = 0;
    }
    cr_assert_geq(poll(p, MAX_NODES, ms), 0);
    for (int i = 0; i < MAX_NODES; i++)
        if (nodes[i].c && (p[i].revents & POLLIN))
            cr_assert_eq(ops->process(nodes[i].c), 0, "member %d", i + 1);
}

/* Pumps until `cond` holds, failing after `ms` of wall time. */
#define WAIT_FOR(cond, ms)                                                     \
    do {                                                                       \
        double deadline_ = now_ms() + (ms);                                    \
        while (!(cond)) {                                                      \
            cr_assert_lt(now_ms(), deadline_, "timed out waiting for %s",      \
                         #cond);                                               \
            pump(10);                                                          \
        }                                                                      \
    } while (0)

#define WAIT_MS 20000

/* The one leader among the open members, once all of them agree on it;
 * NULL while there is none or they disagree. */
static node *agreed_leader(void)
{
    node *leader = NULL;
    char buf[64];

    for (int i = 0; i < MAX_NODES; i++)
        if (nodes[i].c && ops->is_leader(nodes[i].c)) {
            if (leader)
                return NULL;
            leader = &nodes[i];
        }
    if (!leader)
        return NULL;
    for (int i = 0; i < MAX_NODES; i++)
        if (nodes[i].c && (ops->leader(nodes[i].c, buf, sizeof buf) != 0 ||
                           strcmp(buf, leader->addr) != 0))
            return NULL;
    return leader;
}

static node *wait_leader(void)
{
    node *leader;

    WAIT_FOR((leader = agreed_leader()) != NULL, WAIT_MS);
    return leader;
}

/* ---- Submissions ------------------------------------------------------- */

typedef struct slot {
    int calls;
    int status;
    uint64_t result; /* list length after this command; 0: none */
} slot;

static void record(void *arg, int status, void *result)
{
    slot *s = arg;

    s->calls++;
    s->status = status;
    if (result) {
        s->result = *(uint64_t *)result;
        free(result);
    }
}

/* Results handed to a callback leave the fsm's books. */
static void record_owned(node *m, slot *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i].result)
            m->fsm.results--;
}

static int submit(node *m, int64_t v, slot *s)
{
    return ops->submit(m->c, &v, sizeof v, record, s);
}

static bool all_called(const slot *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!s[i].calls)
            return false;
    return true;
}

static bool all_reach(size_t n)
{
    for (int i = 0; i < MAX_NODES; i++)
        if (nodes[i].c && nodes[i].fsm.n < n)
            return false;
    return true;
}

/* Commits values first..first+count-1 through `leader` in rounds of
 * `per_round` (each round becomes at least one log entry), checking every
 * callback: once, status 0, the list length after its own command. */
static void commit_rounds(node *leader, int64_t first, int count, int per_round)
{
    slot *s = calloc((size_t)count, sizeof *s);
    size_t base = leader->fsm.n;

    cr_assert_not_null(s);
    for (int done = 0; done < count; done += per_round) {
        int k = count - done < per_round ? count - done : per_round;

        for (int i = 0; i < k; i++)
            cr_assert_eq(submit(leader, first + done + i, &s[done + i]), 0);
        WAIT_FOR(all_called(s + done, k), WAIT_MS);
    }
    for (int i = 0; i < count; i++) {
        cr_expect_eq(s[i].calls, 1, "command %d: %d callbacks", i, s[i].calls);
        cr_expect_eq(s[i].status, 0, "command %d: status %d", i, s[i].status);
        cr_expect_eq(s[i].result, base + (uint64_t)i + 1,
                     "command %d: result %llu", i,
                     (unsigned long long)s[i].result);
    }
    record_owned(leader, s, count);
    free(s);
}

/* Every open member holds exactly the values 1..n, in order. */
static void expect_sequence(size_t n)
{
    WAIT_FOR(all_reach(n), WAIT_MS);
    for (int i = 0; i < MAX_NODES; i++) {
        list_fsm *f = &nodes[i].fsm;

        if (!nodes[i].c)
            continue;
        cr_assert_eq(f->n, n, "member %d has %zu values", i + 1, f->n);
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(f->vals[k], (int64_t)k + 1,
                         "member %d: value %zu is %lld", i + 1, k,
                         (long long)f->vals[k]);
    }
}

/* ---- Tests ------------------------------------------------------------ */

Test(raft, descriptor)
{
    cr_expect_eq(mod->abi_major, ASSAY_ABI_MAJOR);
    cr_expect_eq(mod->kind, ASSAY_KIND_CONSENSUS);
    cr_expect_str_eq(mod->name, "raft");
    cr_expect_str_eq(mod->version, "1.0.0");
    cr_expect_str_eq(mod->license, "Apache-2.0");
    cr_expect_str_eq(mod->description,
                     "canonical raft + libuv: replicated, durable log");
    cr_expect_eq(ops->version, ASSAY_CONSENSUS_VERSION);
    cr_expect_geq(ops->struct_size, sizeof(assay_consensus_ops));
    cr_expect(ops->open && ops->close && ops->submit && ops->is_leader &&
              ops->leader && ops->fd && ops->process && ops->status &&
              ops->member);
}

Test(raft, three_members_replicate_in_order, .fini = teardown)
{
    enum { N = 1000 };
    slot *s = calloc(N, sizeof *s);
    slot refused = {0};
    node *leader;

    cr_assert_not_null(s);
    setup_nodes(3, 3);
    for (int i = 0; i < 3; i++)
        node_open(&nodes[i]);
    leader = wait_leader();

    /* Followers refuse; their refusals never call back. */
    for (int i = 0; i < 3; i++)
        if (&nodes[i] != leader)
            cr_expect_eq(submit(&nodes[i], 7, &refused), ASSAY_ENOTLEADER);

    for (int i = 0; i < N; i++)
        cr_assert_eq(submit(leader, i + 1, &s[i]), 0);
    WAIT_FOR(all_called(s, N), WAIT_MS);
    expect_sequence(N);
    for (int i = 0; i < N; i++) {
        cr_expect_eq(s[i].calls, 1, "command %d: %d callbacks", i, s[i].calls);
        cr_expect_eq(s[i].status, 0, "command %d: status %d", i, s[i].status);
        cr_expect_eq(s[i].result, (uint64_t)i + 1, "command %d: result %llu", i,
                     (unsigned long long)s[i].result);
    }
    record_owned(leader, s, N);
    /* Still exactly one leader, and nothing more was called back. */
    cr_expect_eq(agreed_leader(), leader);
    cr_expect_eq(refused.calls, 0);
    free(s);
}

Test(raft, leader_failover_and_restore, .fini = teardown)
{
    node *leader, *next;
    int gone;

    snapshot_threshold = 16; /* snapshots every 16 entries, keep 8 */
    setup_nodes(3, 3);
    for (int i = 0; i < 3; i++)
        node_open(&nodes[i]);
    leader = wait_leader();
    commit_rounds(leader, 1, 120, 3); /* >= 40 entries */
    expect_sequence(120);
    for (int i = 0; i < 3; i++)
        cr_expect_gt(nodes[i].fsm.snapshots, 0, "member %d took no snapshot",
                     i + 1);

    /* A crash, as far as the others can tell. */
    gone = (int)(leader - nodes);
    node_close(leader);
    fsm_reset(&nodes[gone].fsm);
    next = wait_leader();
    cr_assert_neq(next, leader);
    commit_rounds(next, 121, 60, 3);
    expect_sequence(180);

    /* Back with its data dir: snapshot + log, then the rest from the
     * leader. Its fsm starts empty, so all of it comes from raft. */
    node_open(&nodes[gone]);
    expect_sequence(180);
    cr_expect_gt(nodes[gone].fsm.restores, 0, "member %d restored nothing",
                 gone + 1);
    next = wait_leader();
    commit_rounds(next, 181, 20, 5);
    expect_sequence(200);
}

static int nested_rc = 1;
static slot chained[2];

/* A callback may submit, and may not re-enter process(). */
static void resubmit(void *arg, int status, void *result)
{
    node *m = arg;

    record(&chained[0], status, result);
    m->fsm.results -= result != NULL;
    nested_rc = ops->process(m->c);
    cr_assert_eq(submit(m, 42, &chained[1]), 0);
}

Test(raft, single_member_survives_restart, .fini = teardown)
{
    node *m = &nodes[0];
    int64_t v = 41;

    snapshot_threshold = 4;
    setup_nodes(1, 1);
    node_open(m);
    WAIT_FOR(ops->is_leader(m->c), WAIT_MS);
    commit_rounds(m, 1, 40, 2);
    expect_sequence(40);
    node_close(m);
    cr_expect_gt(m->fsm.snapshots, 0);

    fsm_reset(&m->fsm);
    node_open(m);
    expect_sequence(40);
    cr_expect_gt(m->fsm.restores, 0);
    WAIT_FOR(ops->is_leader(m->c), WAIT_MS);

    /* Re-entrancy from a commit callback. */
    cr_assert_eq(ops->submit(m->c, &v, sizeof v, resubmit, m), 0);
    WAIT_FOR(chained[1].calls, WAIT_MS);
    cr_expect_eq(nested_rc, ASSAY_EBUSY);
    cr_expect_eq(chained[0].status, 0);
    cr_expect_eq(chained[1].status, 0);
    cr_expect_eq(chained[1].result, 42);
    m->fsm.results--;
    cr_expect_eq(m->fsm.vals[40], 41);
    cr_expect_eq(m->fsm.vals[41], 42);
}

static void status_of(node *m, assay_consensus_status *st)
{
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    cr_assert_eq(ops->status(m->c, st), 0);
}

static bool has_member(const assay_consensus_status *st, uint64_t id, int voter)
{
    for (uint32_t i = 0; i < st->n_members; i++)
        if (st->members[i].id == id && st->members[i].voter == voter)
            return true;
    return false;
}

typedef struct done {
    int calls;
    int status;
} done;

static void member_done(void *arg, int status, void *result)
{
    done *d = arg;

    d->calls++;
    d->status = status;
    cr_expect_null(result);
}

static bool leader_sees(node *leader, uint32_t n, uint64_t id, int present)
{
    assay_consensus_status st;

    status_of(leader, &st);
    return st.n_members == n && has_member(&st, id, 1) == present;
}

Test(raft, status_transfer_add_remove, .fini = teardown)
{
    node *leader, *target = NULL, *joiner = &nodes[3];
    assay_consensus_status st;
    done d = {0}, busy = {0};
    char buf[8];

    setup_nodes(4, 3); /* member 4 is not an initial peer */
    for (int i = 0; i < 3; i++)
        node_open(&nodes[i]);
    leader = wait_leader();
    commit_rounds(leader, 1, 10, 10);
    expect_sequence(10);

    for (int i = 0; i < 3; i++) {
        status_of(&nodes[i], &st);
        cr_expect_eq(st.id, nodes[i].id);
        cr_expect_gt(st.term, 0);
        cr_expect_eq(st.leader_id, leader->id);
        cr_expect_str_eq(st.leader_address, leader->addr);
        cr_expect_eq(st.role, &nodes[i] == leader ? ASSAY_ROLE_LEADER
                                                  : ASSAY_ROLE_FOLLOWER);
        cr_expect_eq(st.n_members, 3);
        for (int k = 0; k < 3; k++)
            cr_expect(has_member(&st, nodes[k].id, 1), "member %d lacks %d",
                      i + 1, k + 1);
        cr_expect_geq(st.commit_index, st.applied_index);
        cr_expect_geq(st.last_index, st.commit_index);
        cr_expect_gt(st.applied_index, 0);
    }
    cr_expect_eq(ops->leader(leader->c, buf, sizeof buf), ASSAY_ERANGE);

    /* Refusals: arguments, followers, one change at a time. */
    for (int i = 0; i < 3 && !target; i++)
        if (&nodes[i] != leader)
            target = &nodes[i];
    cr_expect_eq(ops->member(target->c, ASSAY_MEMBER_TRANSFER, leader->id, NULL,
                             member_done, &d),
                 ASSAY_ENOTLEADER);
    cr_expect_eq(ops->member(leader->c, 99, 1, NULL, member_done, &d),
                 ASSAY_EINVAL);
    cr_expect_eq(
        ops->member(leader->c, ASSAY_MEMBER_ADD, 0, "x:1", member_done, &d),
        ASSAY_EINVAL);
    cr_expect_eq(
        ops->member(leader->c, ASSAY_MEMBER_ADD, 9, NULL, member_done, &d),
        ASSAY_EINVAL);
    cr_expect_eq(
        ops->member(leader->c, ASSAY_MEMBER_REMOVE, 0, NULL, member_done, &d),
        ASSAY_EINVAL);

    /* Leadership moves to the chosen member. */
    cr_assert_eq(ops->member(leader->c, ASSAY_MEMBER_TRANSFER, target->id, NULL,
                             member_done, &d),
                 0);
    cr_expect_eq(ops->member(leader->c, ASSAY_MEMBER_TRANSFER, target->id, NULL,
                             member_done, &busy),
                 ASSAY_EBUSY);
    WAIT_FOR(d.calls, WAIT_MS);
    cr_expect_eq(d.status, 0);
    WAIT_FOR(agreed_leader() == target, WAIT_MS);
    leader = target;
    commit_rounds(leader, 11, 10, 10);

    /* A fourth member, not in peers, starts empty and joins. */
    node_open(joiner);
    cr_expect(!ops->is_leader(joiner->c));
    d = (done){0};
    cr_assert_eq(ops->member(leader->c, ASSAY_MEMBER_ADD, joiner->id,
                             joiner->addr, member_done, &d),
                 0);
    WAIT_FOR(d.calls, WAIT_MS);
    cr_assert_eq(d.status, 0);
    WAIT_FOR(leader_sees(leader, 4, joiner->id, 1), WAIT_MS);
    expect_sequence(20);
    commit_rounds(leader, 21, 10, 10);
    expect_sequence(30);
    status_of(joiner, &st);
    cr_expect_eq(st.leader_id, leader->id);
    cr_expect(has_member(&st, joiner->id, 1));

    /* And leaves again. */
    d = (done){0};
    cr_assert_eq(ops->member(leader->c, ASSAY_MEMBER_REMOVE, joiner->id, NULL,
                             member_done, &d),
                 0);
    WAIT_FOR(d.calls, WAIT_MS);
    cr_expect_eq(d.status, 0);
    WAIT_FOR(leader_sees(leader, 3, joiner->id, 0), WAIT_MS);
    node_close(joiner);
    commit_rounds(leader, 31, 10, 10);
    expect_sequence(40);
    cr_expect_eq(busy.calls, 0);
}

Test(raft, close_cancels_what_was_not_applied, .fini = teardown)
{
    enum { N = 200 };
    slot s[N] = {{0}};
    node *m = &nodes[0];

    setup_nodes(1, 1);
    node_open(m);
    WAIT_FOR(ops->is_leader(m->c), WAIT_MS);
    for (int i = 0; i < N; i++)
        cr_assert_eq(submit(m, i + 1, &s[i]), 0);
    /* Closed without a process(): nothing reaches the fsm, and every
     * callback runs once, cancelled. */
    node_close(m);
    cr_expect_eq(m->fsm.n, 0);
    for (int i = 0; i < N; i++) {
        cr_expect_eq(s[i].calls, 1, "command %d: %d callbacks", i, s[i].calls);
        cr_expect_eq(s[i].status, ASSAY_ECANCELLED);
    }
    cr_expect_eq(ops->submit(NULL, "x", 1, NULL, NULL), ASSAY_EINVAL);
}

/* Opens with `cfg`, expecting `code` and an error naming `needle`. */
static void refused(const assay_consensus_config *cfg, int code,
                    const char *needle)
{
    assay_consensus *c = (assay_consensus *)&c;
    char err[ASSAY_ERRMSG_SIZE] = "";

    cr_expect_eq(ops->open(cfg, &c, err, sizeof err), code,
                 "expected %d for '%s' (%s)", code, needle, err);
    cr_expect_null(c);
    cr_expect(strstr(err, needle), "'%s' should mention '%s'", err, needle);
}

Test(raft, refuses_bad_config, .fini = teardown)
{
    static const char *const not_id[] = {"x@", NULL};
    static const char *const zero_id[] = {"0@a:1", NULL};
    static const char *const no_addr[] = {"2@", NULL};
    static const char *const no_at[] = {"127.0.0.1:9", NULL};
    static const char *const dup_id[] = {"1@127.0.0.1:9", "1@127.0.0.1:10",
                                         NULL};
    static const char *const others[] = {"2@127.0.0.1:9", NULL};
    assay_consensus_config cfg;
    node *m = &nodes[0];
    char path[256];

    setup_nodes(1, 1);
    cfg = node_config(m);

    cfg.peers = not_id;
    refused(&cfg, ASSAY_EINVAL, "'x@'");
    cfg.peers = zero_id;
    refused(&cfg, ASSAY_EINVAL, "'0@a:1'");
    cfg.peers = no_addr;
    refused(&cfg, ASSAY_EINVAL, "'2@'");
    cfg.peers = no_at;
    refused(&cfg, ASSAY_EINVAL, "ID@HOST:PORT");
    cfg.peers = dup_id;
    refused(&cfg, ASSAY_EINVAL, "twice");
    cfg.peers = others;
    cfg.address = NULL;
    refused(&cfg, ASSAY_EINVAL, "no address");

    cfg = node_config(m);
    cfg.fsm.apply = NULL;
    refused(&cfg, ASSAY_EINVAL, "fsm.apply");
    cfg = node_config(m);
    cfg.fsm.snapshot = NULL;
    refused(&cfg, ASSAY_EINVAL, "fsm.snapshot");
    cfg = node_config(m);
    cfg.fsm.restore = NULL;
    refused(&cfg, ASSAY_EINVAL, "fsm.restore");
    cfg = node_config(m);
    cfg.struct_size = offsetof(assay_consensus_config, fsm);
    refused(&cfg, ASSAY_EINVAL, "bytes");
    cfg = node_config(m);
    cfg.id = 0;
    refused(&cfg, ASSAY_EINVAL, "id");
    cfg = node_config(m);
    cfg.data_dir = NULL;
    refused(&cfg, ASSAY_EINVAL, "data_dir");
    cfg = node_config(m);
    cfg.data_dir = "/proc/self/no/such/dir";
    refused(&cfg, ASSAY_EIO, "/proc/self/no/such/dir");
    cfg = node_config(m);
    cfg.heartbeat_ms = cfg.election_ms;
    refused(&cfg, ASSAY_EINVAL, "heartbeat_ms");
    cfg = node_config(m);
    cfg.address = "127.0.0.1:1";
    refused(&cfg, ASSAY_EINVAL, "differs");
    cr_expect_eq(ops->open(NULL, &m->c, NULL, 0), ASSAY_EINVAL);
    cr_expect_null(m->c);

    /* A version 1 config (no release, no timeouts) opens with defaults,
     * and a missing data dir is created (mkdir -p). */
    cfg = node_config(m);
    cfg.struct_size = offsetof(assay_consensus_config, release);
    cfg.election_ms = 1; /* past struct_size: must be ignored */
    snprintf(path, sizeof path, "%s/a/b", m->dir);
    cfg.data_dir = path;
    cr_assert_eq(ops->open(&cfg, &m->c, NULL, 0), 0);
    WAIT_FOR(ops->is_leader(m->c), WAIT_MS);
    node_close(m);
}

Test(raft, group_commit_splits_large_bursts, .fini = teardown)
{
    enum { N = 10000 };
    slot *s = calloc(N, sizeof *s);
    node *m = &nodes[0];

    cr_assert_not_null(s);
    setup_nodes(1, 1);
    node_open(m);
    WAIT_FOR(ops->is_leader(m->c), WAIT_MS);
    /* More than one entry holds (4096 commands): several entries, and
     * several process() calls (256 ops, 65536 commands at most). */
    for (int i = 0; i < N; i++)
        cr_assert_eq(submit(m, i + 1, &s[i]), 0);
    WAIT_FOR(all_called(s, N), WAIT_MS);
    expect_sequence(N);
    for (int i = 0; i < N; i++) {
        cr_expect_eq(s[i].calls, 1);
        cr_expect_eq(s[i].status, 0);
        cr_expect_eq(s[i].result, (uint64_t)i + 1);
    }
    record_owned(m, s, N);
    free(s);
}

Test(raft, snapshot_failure_is_not_fatal, .fini = teardown)
{
    node *m = &nodes[0];

    snapshot_threshold = 4;
    setup_nodes(1, 1);
    node_open(m);
    WAIT_FOR(ops->is_leader(m->c), WAIT_MS);
    m->fsm.fail_snapshot = true;
    commit_rounds(m, 1, 20, 2);
    cr_expect_eq(m->fsm.snapshots, 0);
    m->fsm.fail_snapshot = false;
    commit_rounds(m, 21, 20, 2);
    cr_expect_gt(m->fsm.snapshots, 0);
    expect_sequence(40);
}

/* The host's restore fails: process() says so, and keeps saying so. */
Test(raft, failed_restore_is_reported, .fini = teardown)
{
    node *m = &nodes[0];
    double deadline;
    int rc = 0;

    snapshot_threshold = 4;
    setup_nodes(1, 1);
    node_open(m);
    WAIT_FOR(ops->is_leader(m->c), WAIT_MS);
    commit_rounds(m, 1, 20, 2);
    node_close(m);
    cr_assert_gt(m->fsm.snapshots, 0);

    fsm_reset(&m->fsm);
    m->fsm.fail_restore = true;
    node_open(m);
    deadline = now_ms() + WAIT_MS;
    while (rc == 0) {
        struct pollfd p = {.fd = ops->fd(m->c), .events = POLLIN};

        cr_assert_lt(now_ms(), deadline, "restore failure not reported");
        cr_assert_geq(poll(&p, 1, 10), 0);
        rc = ops->process(m->c);
    }
    cr_expect_eq(rc, ASSAY_EPARSE);
    cr_expect_eq(ops->process(m->c), ASSAY_EPARSE);
    cr_expect_eq(m->fsm.n, 0, "applied on top of a failed restore");
    cr_expect_eq(ops->submit(m->c, &rc, sizeof rc, NULL, NULL), ASSAY_EPARSE);
}

/* Failures inside raft come back from open() with raft's reason, and
 * leave nothing behind. */
Test(raft, refuses_what_raft_refuses, .fini = teardown)
{
    assay_consensus_config cfg;
    assay_consensus *c = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";
    char *deep = NULL;

    setup_nodes(1, 0); /* not bootstrapped */
    cfg = node_config(&nodes[0]);
    cfg.address = "192.0.2.1:4000"; /* TEST-NET-1: cannot listen there */
    cr_expect_neq(ops->open(&cfg, &c, err, sizeof err), 0);
    cr_expect_null(c);
    cr_expect(strstr(err, "raft_start on 192.0.2.1:4000"), "%s", err);

    /* Longer than raft's storage accepts (mkdir -p creates it). */
    cfg = node_config(&nodes[0]);
    cr_assert_neq(asprintf(&deep, "%s/%0200d/%0200d/%0200d/%0200d/%0200d",
                           nodes[0].dir, 1, 2, 3, 4, 5),
                  -1);
    cfg.data_dir = deep;
    cr_expect_neq(ops->open(&cfg, &c, err, sizeof err), 0);
    cr_expect_null(c);
    cr_expect(strstr(err, "raft storage"), "%s", err);
    free(deep);
}

/* ---- Secured links ----------------------------------------------------- */

TestSuite(raft_secure, .init = load, .fini = unload, .timeout = 90);

/* Writes allow_dir/FILE.key, a certificate of `public_` as member `name`
 * (czmq's zcert format, as `assayctl keys` writes it). */
static void allow_key(const char *file, const char *public_, const char *name,
                      const char *role)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.key", allow_dir, file);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "metadata\n    name = \"%s\"\n    role = \"%s\"\ncurve\n"
               "    public-key = \"%s\"\n",
            name, role, public_);
    fclose(f);
}

static void revoke_key(const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.key", allow_dir, file);
    cr_assert_eq(unlink(path), 0, "%s", path);
}

/* n members with keys of their own; the first `allowed` are in the
 * allow-list as themselves. Public keys go to pub[i]. */
static void setup_secure(int n, int allowed, char pub[][41])
{
    setup_nodes(n, n);
    allow_dir = harness_tmpdir();
    for (int i = 0; i < n; i++) {
        char name[16], file[32];
        cr_assert_eq(zmq_curve_keypair(pub[i], nodes[i].secret), 0);
        snprintf(name, sizeof name, "%d", i + 1);
        snprintf(file, sizeof file, "member-%d", i + 1);
        if (i < allowed)
            allow_key(file, pub[i], name, "member");
    }
}

/* The leader among members 0..n-1 once they agree (others may not). */
static node *leader_of(int n)
{
    char buf[64];
    node *leader = NULL;
    for (int i = 0; i < n; i++)
        if (nodes[i].c && ops->is_leader(nodes[i].c))
            leader = &nodes[i];
    for (int i = 0; leader && i < n; i++)
        if (ops->leader(nodes[i].c, buf, sizeof buf) ||
            strcmp(buf, leader->addr))
            return NULL;
    return leader;
}

/* Pumps for ms: what a member that is shut out must not receive meanwhile
 * (a bound, not a speed). */
static void pump_for(int ms)
{
    double end = now_ms() + ms;
    while (now_ms() < end)
        pump(10);
}

/* Opens the three members; members 1 and 2 commit values 1..20 while
 * member 3 is refused (the log says `why`) and gets none of them. */
static void expect_member_3_shut_out(const char *why)
{
    for (int i = 0; i < 3; i++)
        node_open(&nodes[i]);
    node *leader;
    WAIT_FOR((leader = leader_of(2)) != NULL, WAIT_MS);
    commit_rounds(leader, 1, 20, 10);
    WAIT_FOR(log_has(why), WAIT_MS);
    pump_for(500);
    cr_expect_eq(nodes[2].fsm.n, 0, "member 3 (%s) got %zu entries", why,
                 nodes[2].fsm.n);
}

Test(raft_secure, allowed_members_replicate, .fini = teardown)
{
    char pub[3][41];
    setup_secure(3, 3, pub);
    for (int i = 0; i < 3; i++)
        node_open(&nodes[i]);
    node *leader = wait_leader();
    commit_rounds(leader, 1, 300, 50);
    expect_sequence(300);
}

/* A member whose key is not allowed gets nothing, and catches up once it
 * is: the allow-list is read again without a restart. */
Test(raft_secure, unknown_member_key_is_refused_until_allowed,
     .fini = teardown)
{
    char pub[3][41];
    setup_secure(3, 2, pub);
    expect_member_3_shut_out("is not in the allow-list");
    allow_key("member-3", pub[2], "3", "member");
    expect_sequence(20);
}

/* Member 3 presenting member 2's key is refused: a key speaks only for
 * the id its certificate names. */
Test(raft_secure, member_key_claiming_another_id_is_refused,
     .fini = teardown)
{
    char pub[3][41];
    setup_secure(3, 3, pub);
    memcpy(nodes[2].secret, nodes[1].secret, sizeof nodes[2].secret);
    expect_member_3_shut_out("key of member 2 claims to be member 3");
}

/* A key of another role (a runtime's, say) named for a member id is no
 * member key. */
Test(raft_secure, a_key_of_another_role_is_refused, .fini = teardown)
{
    char pub[3][41];
    setup_secure(3, 2, pub);
    allow_key("member-3", pub[2], "3", "runtime");
    expect_member_3_shut_out("has role runtime, not member");
}

/* Revoking a member's key cuts its live links: it gets nothing after. */
Test(raft_secure, revoked_member_is_cut_off, .fini = teardown)
{
    char pub[3][41];
    setup_secure(3, 3, pub);
    for (int i = 0; i < 3; i++)
        node_open(&nodes[i]);
    node *leader = wait_leader();
    commit_rounds(leader, 1, 10, 10);
    expect_sequence(10);
    if (leader == &nodes[2]) { /* keep a leader that stays in */
        cr_assert_eq(ops->member(leader->c, ASSAY_MEMBER_TRANSFER, 1, NULL,
                                 NULL, NULL),
                     0);
        WAIT_FOR((leader = agreed_leader()) != NULL && leader != &nodes[2],
                 WAIT_MS);
    }
    revoke_key("member-3");
    WAIT_FOR(log_has("closing the link with member 3"), WAIT_MS);
    /* That was one member; each re-reads the allow-list once a second
     * (RECHECK_MS): past two, every link with member 3 is closed. */
    pump_for(2500);
    WAIT_FOR((leader = leader_of(2)) != NULL, WAIT_MS);
    commit_rounds(leader, 11, 10, 10);
    WAIT_FOR(nodes[0].fsm.n == 20 && nodes[1].fsm.n == 20, WAIT_MS);
    pump_for(500);
    cr_expect_eq(nodes[2].fsm.n, 10, "a revoked member got %zu entries",
                 nodes[2].fsm.n);
}

/* Opens a TCP connection to a member's raft address and sends raft's own
 * handshake, as member `id` at `claimed`. */
static int raw_peer(const node *m, uint64_t id, const char *claimed)
{
    int port = atoi(strchr(m->addr, ':') + 1);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t hs[64] = {0};
    uint64_t proto = 1, len = 16;
    memcpy(hs, &proto, 8); /* raft's handshake: little-endian u64s */
    memcpy(hs + 8, &id, 8);
    memcpy(hs + 16, &len, 8);
    snprintf((char *)hs + 24, 16, "%s", claimed);
    cr_assert_eq(write(fd, hs, 24 + len), (ssize_t)(24 + len));
    return fd;
}

/* Reads until the peer closes (bounded by SO_RCVTIMEO): what it said. */
static size_t read_all(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)r;
    cr_assert_eq(read(fd, buf, 1), 0, "the member kept the connection");
    return n;
}

/* A stranger is told why, and an old member speaking plain raft is
 * closed on: neither gets anything in. */
Test(raft_secure, strangers_are_told_and_closed_on, .fini = teardown)
{
    char pub[1][41];
    setup_secure(1, 1, pub);
    node_open(&nodes[0]);
    node *leader = wait_leader();
    commit_rounds(leader, 1, 3, 3);

    int fd = raw_peer(&nodes[0], 9, "127.0.0.1:1");
    uint8_t hello[68], reply[512];
    char spub[41], ssec[41];
    memcpy(hello, "ASR1", 4);
    cr_assert_eq(zmq_curve_keypair(spub, ssec), 0);
    zmq_z85_decode(hello + 4, spub);
    memset(hello + 36, 7, 32); /* its ephemeral key: it goes no further */
    cr_assert_eq(write(fd, hello, sizeof hello), (ssize_t)sizeof hello);
    size_t n = read_all(fd, reply, sizeof reply - 1);
    close(fd);
    cr_assert_geq(n, 5);
    cr_expect_eq(memcmp(reply, "ASRN", 4), 0);
    reply[n] = '\0';
    cr_expect(strstr((char *)reply + 5, "is not in the allow-list"), "%s",
              reply + 5);

    /* Plain raft after the handshake: an AppendEntries-sized header. */
    fd = raw_peer(&nodes[0], 9, "127.0.0.1:1");
    uint8_t plain[68] = {1, 0, 0, 0, 0, 0, 0, 0, 3};
    cr_assert_eq(write(fd, plain, sizeof plain), (ssize_t)sizeof plain);
    read_all(fd, reply, sizeof reply);
    close(fd);
    WAIT_FOR(log_has("speaks no secured raft"), WAIT_MS);

    /* Still serving. */
    commit_rounds(leader, 4, 3, 3);
    expect_sequence(6);
}
