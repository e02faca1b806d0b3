/* tests/consensus/test_raft_fixture.c - the replicated state machine
 * (core/state.c) under canonical raft's deterministic in-memory
 * raft_fixture: commands travel as msgpack log entries through a raft_fsm
 * adapter shaped like the real member's (core/member/consensus.c mb_fsm_apply,
 * s_fsm_snapshot, s_fsm_restore), and every member must end with the same
 * state through leader crashes, deposals, partitions and snapshot installs.
 *
 * Why here rather than with real processes: the fixture's time is
 * simulated and its event order fixed, so each failure scenario is replayed
 * exactly and bounded in simulated milliseconds, never in wall time. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>
#include <raft/fixture.h>

#include <assay/error.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "state/fsm.h"
#include "state/schedule.h"
#include "state/state.h"

/* Bound of every step_until, in simulated ms: a few election timeouts
 * (the fixture's default is 1000 ms, randomised to 1000 + 100 * index). */
#define STEP_MS 10000

#define MAX_MEMBERS 3
#define MAX_PENDING 64

/* ---- The FSM adapter ----------------------------------------------------- */

/* One member: its state machine, and what the adapter saw happen to it. */
typedef struct member {
    assay_state *state;
    /* Every apply result, owned here: raft hands a result to a callback
     * only on the member that proposed the entry and drops it elsewhere,
     * so the adapter cannot give raft ownership without leaking. */
    json_t *results;
    unsigned applies;   /* commands applied */
    unsigned refused;   /* entries apply refused */
    unsigned snapshots; /* snapshots taken */
    unsigned restores;  /* snapshots installed */
    unsigned completed; /* job.completed events */
} member;

static void on_event(void *arg, const char *topic, const void *body,
                     size_t len)
{
    member *m = arg;

    (void)body;
    (void)len;
    if (!strcmp(topic, "job.completed"))
        m->completed++;
}

/* The member's own adapter (core/state/fsm.c), under raft_fsm. Canonical
 * raft takes an apply error as fatal to the member (see
 * malformed_entries), so every command proposed through raft below is
 * one the state accepts, fenced batch items included (those apply with
 * "applied": false). */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    member *m = fsm->data;
    json_t *res = NULL;
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_fsm_apply(m->state, buf->base, buf->len, &res, err,
                             sizeof err);

    *result = NULL;
    if (rc) {
        json_decref(res);
        m->refused++;
        return rc;
    }
    m->applies++;
    if (res) {
        json_array_append_new(m->results, res);
        *result = res; /* borrowed: the callback takes its own reference */
    }
    return 0;
}

/* Raft frees the buffers with raft_free: the member's bytes are copied. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    member *m = fsm->data;
    char *enc;
    size_t len;
    int rc = assay_fsm_snapshot(m->state, &enc, &len);

    if (rc)
        return rc;
    *bufs = raft_malloc(sizeof **bufs);
    void *base = raft_malloc(len);
    if (!*bufs || !base) {
        raft_free(*bufs);
        raft_free(base);
        free(enc);
        return RAFT_NOMEM;
    }
    memcpy(base, enc, len);
    free(enc);
    (*bufs)[0].base = base;
    (*bufs)[0].len = len;
    *n_bufs = 1;
    m->snapshots++;
    return 0;
}

/* The buffer is ours to free once restored. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    member *m = fsm->data;
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_fsm_restore(m->state, buf->base, buf->len, err,
                               sizeof err);

    if (rc)
        return rc;
    raft_free(buf->base);
    m->restores++;
    return 0;
}

static void member_init(member *m, struct raft_fsm *fsm)
{
    m->state = assay_state_new(on_event, m);
    m->results = json_array();
    cr_assert(m->state && m->results);
    *fsm = (struct raft_fsm){.version = 1,
                             .data = m,
                             .apply = fsm_apply,
                             .snapshot = fsm_snapshot,
                             .restore = fsm_restore};
}

static void member_fini(member *m)
{
    assay_state_destroy(&m->state);
    json_decref(m->results);
}

/* ---- Commands ------------------------------------------------------------ */

/* JSON from printf-style text with ' for " (keeps the literals legible). */
__attribute__((format(printf, 1, 2))) static json_t *J(const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    json_error_t je;

    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n < sizeof text);
    for (char *p = text; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    cr_assert_not_null(v, "bad test JSON %s: %s", text, je.text);
    return v;
}

/* A registration as s_on_register commits it (no capacity sent: null). */
static json_t *cmd_runtime(const char *id, int heartbeat_ms, const char *zone)
{
    return J("{'op':'runtime', 'id':'%s', 'heartbeat_ms':%d, "
             "'labels':{'zone':'%s'}, 'capacity':null, "
             "'catalog':{'plugins':[{'name':'noop', 'version':'1.2.0', "
             "'actions':[{'name':'run', 'params':[{'name':'n', "
             "'type':'int', 'required':false}]}]}]}}",
             id, heartbeat_ms, zone);
}

/* A JobSpec as s_svc_submit commits it: jobs "<spec>-<i>" (the ids of
 * assay_jobspec_job_id), the version already resolved. */
static json_t *cmd_submit(const char *spec, int njobs, int priority,
                          int max_attempts)
{
    json_t *c = J("{'op':'submit', 'spec':{'id':'%s', 'action':'noop.run', "
                  "'version':'^1', 'resolved':'1.2.0', "
                  "'labels':{'team':'ml'}, 'selector':{'zone':'a'}, "
                  "'timeout_ms':60000, 'max_attempts':%d, 'priority':%d, "
                  "'memory_mb':0}, 'jobs':[]}",
                  spec, max_attempts, priority);
    for (int i = 0; i < njobs; i++)
        json_array_append_new(json_object_get(c, "jobs"),
                              J("{'id':'%s-%d', 'params':{'n':%d}}", spec, i,
                                i));
    return c;
}

/* One-item batches, the shapes of s_plan, s_on_result, s_requeue_item. */
static json_t *cmd_dispatch(const char *job, int attempt, const char *rt)
{
    return J("{'op':'dispatch', 'items':[{'job':'%s', 'attempt':%d, "
             "'runtime':'%s', 'version':'1.2.0'}]}",
             job, attempt, rt);
}

static json_t *cmd_result(const char *job, int attempt, const char *rt,
                          int value)
{
    return J("{'op':'result', 'items':[{'job':'%s', 'attempt':%d, "
             "'result':{'ok':true, 'value':%d}, 'runtime':'%s'}]}",
             job, attempt, value, rt);
}

static json_t *cmd_requeue(const char *job, int attempt, const char *reason)
{
    return J("{'op':'requeue', 'items':[{'job':'%s', 'attempt':%d, "
             "'reason':'%s'}]}",
             job, attempt, reason);
}

/* What a member commits on taking the lead, before it acts (s_role). */
static json_t *cmd_leader(unsigned i)
{
    return J("{'op':'leader', 'id':'node-%u', "
             "'endpoint':'tcp://10.0.0.%u:5555', "
             "'events':'tcp://10.0.0.%u:5556', 'member':%u}",
             i, i + 1, i + 1, i + 1);
}

/* The bytes of a log entry: what s_commit proposes. Takes cmd. */
static void encode(json_t *cmd, char **buf, size_t *len)
{
    json_object_set_new(
        cmd, "v",
        json_integer(assay_state_op_version(
            json_string_value(json_object_get(cmd, "op")))));
    cr_assert_eq(assay_codec_encode(cmd, buf, len), 0);
    json_decref(cmd);
}

/* ---- Cluster ------------------------------------------------------------- */

/* A proposal; outlives the fixture, whose close may still call back. */
typedef struct pending {
    struct raft_apply req;
    bool done;
    int status;
    json_t *result; /* status 0: the apply result (own reference) or NULL */
} pending;

typedef struct cluster {
    struct raft_fixture f;
    struct raft_fsm fsms[MAX_MEMBERS];
    member m[MAX_MEMBERS];
    unsigned n;
    pending pend[MAX_PENDING];
    unsigned npend;
    bool cut[MAX_MEMBERS]; /* isolated: not waited for */
} cluster;

static void on_applied(struct raft_apply *req, int status, void *result)
{
    pending *p = req->data;

    p->done = true;
    p->status = status;
    p->result = status == 0 && result ? json_incref(result) : NULL;
}

/* n voters, bootstrapped and started; snapshot_threshold 0: raft's. */
static cluster *cluster_new(unsigned n, unsigned snapshot_threshold,
                            unsigned snapshot_trailing)
{
    cluster *c = calloc(1, sizeof *c);
    struct raft_configuration conf;

    cr_assert_not_null(c);
    cr_assert(n <= MAX_MEMBERS);
    c->n = n;
    cr_assert_eq(raft_fixture_initialize(&c->f), 0);
    for (unsigned i = 0; i < n; i++) {
        member_init(&c->m[i], &c->fsms[i]);
        cr_assert_eq(raft_fixture_grow(&c->f, &c->fsms[i]), 0);
        if (snapshot_threshold) {
            struct raft *r = raft_fixture_get(&c->f, i);
            raft_set_snapshot_threshold(r, snapshot_threshold);
            raft_set_snapshot_trailing(r, snapshot_trailing);
        }
    }
    cr_assert_eq(raft_fixture_configuration(&c->f, n, &conf), 0);
    cr_assert_eq(raft_fixture_bootstrap(&c->f, &conf), 0);
    raft_configuration_close(&conf);
    cr_assert_eq(raft_fixture_start(&c->f), 0);
    return c;
}

/* The fixture first (its close fails pending proposals through
 * on_applied), then the state machines it was driving. */
static void cluster_free(cluster *c)
{
    raft_fixture_close(&c->f);
    for (unsigned i = 0; i < c->n; i++)
        member_fini(&c->m[i]);
    for (unsigned i = 0; i < c->npend; i++)
        json_decref(c->pend[i].result);
    free(c);
}

/* raft_apply of cmd (taken) on member i; the raft return code. */
static int try_propose(cluster *c, unsigned i, json_t *cmd, pending **out)
{
    char *enc;
    size_t len;
    struct raft_buffer buf;

    cr_assert_lt(c->npend, MAX_PENDING);
    pending *p = &c->pend[c->npend];
    encode(cmd, &enc, &len);
    buf.base = raft_malloc(len);
    buf.len = len;
    cr_assert_not_null(buf.base);
    memcpy(buf.base, enc, len);
    free(enc);
    p->req.data = p;
    int rc = raft_apply(raft_fixture_get(&c->f, i), &p->req, &buf, 1,
                        on_applied);
    if (rc) {
        raft_free(buf.base); /* not taken on failure */
        return rc;
    }
    c->npend++;
    *out = p;
    return 0;
}

static pending *propose(cluster *c, unsigned i, json_t *cmd)
{
    pending *p = NULL;
    int rc = try_propose(c, i, cmd, &p);

    cr_assert_eq(rc, 0, "raft_apply on %u: %s", i, raft_strerror(rc));
    return p;
}

typedef struct waiter {
    cluster *c;
    const pending *p; /* NULL: none */
    raft_index index;
} waiter;

/* p called back, and index applied on every live, reachable member. */
static bool applied_everywhere(struct raft_fixture *f, void *arg)
{
    const waiter *w = arg;

    if (w->p && !w->p->done)
        return false;
    for (unsigned i = 0; i < w->c->n; i++)
        if (raft_fixture_alive(f, i) && !w->c->cut[i] &&
            raft_last_applied(raft_fixture_get(f, i)) < w->index)
            return false;
    return true;
}

static unsigned leader(cluster *c)
{
    unsigned l = raft_fixture_leader_index(&c->f);

    cr_assert_lt(l, c->n, "no stable leader");
    return l;
}

/* Commits cmd (taken) through the leader and waits until every live member
 * applied it; the apply result, owned by the cluster. */
static json_t *commit(cluster *c, json_t *cmd)
{
    pending *p = propose(c, leader(c), cmd);
    waiter w = {c, p, p->req.index};

    cr_assert(raft_fixture_step_until(&c->f, applied_everywhere, &w, STEP_MS),
              "entry %llu not applied everywhere",
              (unsigned long long)p->req.index);
    cr_assert_eq(p->status, 0, "commit failed: %s",
                 raft_strerror(p->status));
    return p->result;
}

/* Waits until every live member applied everything up to member i's
 * last applied entry (after a heal or a revive). */
static void converge(cluster *c, unsigned i)
{
    waiter w = {c, NULL, raft_last_applied(raft_fixture_get(&c->f, i))};

    cr_assert(raft_fixture_step_until(&c->f, applied_everywhere, &w, STEP_MS),
              "members did not catch up with entry %llu",
              (unsigned long long)w.index);
}

typedef struct other_leader {
    cluster *c;
    unsigned not;
} other_leader;

/* A stable leader other than `not`. */
static bool has_other_leader(struct raft_fixture *f, void *arg)
{
    const other_leader *o = arg;
    unsigned l = raft_fixture_leader_index(f);

    return l < o->c->n && l != o->not;
}

/* The current leader announces itself, as a new leader does first. */
static unsigned claim(cluster *c)
{
    unsigned l = leader(c);

    commit(c, cmd_leader(l));
    return l;
}

static unsigned elect_other(cluster *c, unsigned not)
{
    other_leader o = {c, not};

    cr_assert(raft_fixture_step_until(&c->f, has_other_leader, &o, STEP_MS),
              "no new leader");
    return leader(c);
}

static bool is_done(struct raft_fixture *f, void *arg)
{
    (void)f;
    return ((const pending *)arg)->done;
}

static void wait_done(cluster *c, pending *p)
{
    cr_assert(raft_fixture_step_until(&c->f, is_done, p, STEP_MS),
              "proposal never called back");
}

/* ---- Dumps --------------------------------------------------------------- */

static char *jtext(const json_t *v)
{
    return json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
}

/* Every member's dump equals member 0's. */
static void expect_same(cluster *c)
{
    json_t *ref = assay_state_dump(c->m[0].state);

    for (unsigned i = 1; i < c->n; i++) {
        json_t *d = assay_state_dump(c->m[i].state);
        if (!json_equal(ref, d)) {
            char *a = jtext(ref), *b = jtext(d);
            cr_expect(0, "member %u differs:\n  0: %s\n  %u: %s", i, a, i, b);
            free(a);
            free(b);
        }
        json_decref(d);
    }
    json_decref(ref);
}

/* Calls fn on every job record of a dump (format 2: under its JobSpec). */
static void each_job(const json_t *dump, void (*fn)(json_t *job, void *arg),
                     void *arg)
{
    size_t i, k;
    json_t *entry, *j;

    json_array_foreach(json_object_get(dump, "specs"), i, entry)
        json_array_foreach(json_object_get(entry, "jobs"), k, j) fn(j, arg);
}

typedef struct {
    const char *id;
    json_t *found;
    size_t count;
} job_find;

static void find_job(json_t *j, void *arg)
{
    job_find *f = arg;

    if (!strcmp(json_string_value(json_object_get(j, "id")), f->id)) {
        f->found = j;
        f->count++;
    }
}

/* The record of job `id` in a dump, NULL if absent. */
static json_t *dump_job(const json_t *dump, const char *id)
{
    job_find f = {id, NULL, 0};

    each_job(dump, find_job, &f);
    return f.found;
}

/* How many records of JobSpec or job `id` a dump holds. */
static size_t dump_count(const json_t *dump, const char *what,
                         const char *id)
{
    size_t i, n = 0;
    json_t *x;

    if (!strcmp(what, "jobs")) {
        job_find f = {id, NULL, 0};
        each_job(dump, find_job, &f);
        return f.count;
    }
    json_array_foreach(json_object_get(dump, what), i, x)
        n += !strcmp(json_string_value(json_object_get(
                         json_object_get(x, "spec"), "id")),
                     id);
    return n;
}

static void expect_job(const json_t *dump, const char *id, const char *state,
                       int attempt)
{
    json_t *j = dump_job(dump, id);

    cr_assert_not_null(j, "no job %s", id);
    cr_expect_str_eq(json_string_value(json_object_get(j, "state")), state,
                     "job %s", id);
    cr_expect_eq(json_integer_value(json_object_get(j, "attempt")), attempt,
                 "job %s attempt", id);
}

static const char *job_str(const json_t *dump, const char *id,
                           const char *key)
{
    const char *s = json_string_value(json_object_get(dump_job(dump, id), key));
    return s ? s : "";
}

/* The member a dump's "leader" record names. */
static const char *dump_leader(const json_t *dump)
{
    const char *s =
        json_string_value(json_object_get(json_object_get(dump, "leader"), "id"));
    return s ? s : "";
}

/* A batch result's applied[i]. */
static bool applied(const json_t *res, size_t i)
{
    return json_is_true(json_array_get(json_object_get(res, "applied"), i));
}

/* ---- 1. Replication --------------------------------------------------------- */

Test(raft_fixture, replicated_lifecycle)
{
    cluster *c = cluster_new(3, 0, 0);
    pending *p = NULL;
    json_t *res;

    raft_fixture_elect(&c->f, 0);
    cr_assert_eq(claim(c), 0);

    /* Only the leader takes proposals; the entry stays the caller's. */
    cr_expect_eq(try_propose(c, 1, cmd_runtime("rt-x", 1000, "a"), &p),
                 RAFT_NOTLEADER);

    commit(c, cmd_runtime("rt-a", 1000, "a"));
    commit(c, cmd_runtime("rt-b", 500, "b"));
    res = commit(c, cmd_submit("batch", 4, 0, 3));
    cr_expect(json_is_false(json_object_get(res, "duplicate")));
    cr_expect_eq(json_array_size(json_object_get(res, "jobs")), 4);
    commit(c, cmd_submit("urgent", 2, 10, 1));

    /* A plan of four dispatches in one entry, each fenced on its own. */
    json_t *plan = cmd_dispatch("urgent-0", 1, "rt-a");
    json_t *items = json_object_get(plan, "items");
    json_array_append_new(items, J("{'job':'batch-0', 'attempt':1, "
                                   "'runtime':'rt-a', 'version':'1.2.0'}"));
    json_array_append_new(items, J("{'job':'batch-1', 'attempt':1, "
                                   "'runtime':'rt-b', 'version':'1.2.0'}"));
    json_array_append_new(items, J("{'job':'batch-2', 'attempt':1, "
                                   "'runtime':'rt-b', 'version':'1.2.0'}"));
    res = commit(c, plan);
    for (size_t i = 0; i < 4; i++)
        cr_expect(applied(res, i), "dispatch item %zu", i);

    cr_expect(applied(commit(c, cmd_result("batch-0", 1, "rt-a", 42)), 0));
    cr_expect(applied(commit(c, cmd_requeue("batch-1", 1,
                                            "runtime restarted")), 0));
    /* max_attempts 1: a lost attempt fails the job. */
    cr_expect(applied(commit(c, cmd_requeue("urgent-0", 1, "lease expired")),
                      0));
    res = commit(c, J("{'op':'cancel', 'jobs':['batch-2', 'batch-3', "
                      "'urgent-1', 'batch-0', 'nope']}"));
    /* Only live jobs are cancelled; the completed and unknown ones not. */
    json_t *was = J("{'batch-2':'running', 'batch-3':'queued', "
                    "'urgent-1':'queued'}");
    cr_expect(json_equal(json_object_get(res, "was"), was));
    json_decref(was);
    commit(c, J("{'op':'runtime_state', 'id':'rt-b', 'alive':false}"));
    cr_expect(applied(commit(c, cmd_dispatch("batch-1", 2, "rt-a")), 0));

    /* Fencing: a repeated dispatch and a result for a cancelled attempt
     * are committed but change nothing. */
    cr_expect(!applied(commit(c, cmd_dispatch("batch-1", 2, "rt-a")), 0));
    cr_expect(!applied(commit(c, cmd_result("batch-2", 1, "rt-b", 7)), 0));

    expect_same(c);
    json_t *d = assay_state_dump(c->m[2].state);
    expect_job(d, "batch-0", "completed", 1);
    json_t *want = J("{'ok':true, 'value':42}");
    cr_expect(json_equal(json_object_get(dump_job(d, "batch-0"), "result"),
                         want));
    json_decref(want);
    expect_job(d, "batch-1", "running", 2);
    cr_expect_str_eq(job_str(d, "batch-1", "runtime"), "rt-a");
    expect_job(d, "batch-2", "cancelled", 1);
    expect_job(d, "batch-3", "cancelled", 0);
    expect_job(d, "urgent-0", "failed", 1);
    cr_expect_str_eq(job_str(d, "urgent-0", "reason"), "lease expired");
    expect_job(d, "urgent-1", "cancelled", 0);
    cr_expect_str_eq(dump_leader(d), "node-0");
    json_t *rts = json_object_get(d, "runtimes");
    cr_expect(json_is_true(json_object_get(json_array_get(rts, 0), "alive")));
    cr_expect(json_is_false(json_object_get(json_array_get(rts, 1), "alive")));
    json_decref(d);

    /* The derived indexes agree too: nothing queued, batch-1 alone runs. */
    for (unsigned i = 0; i < c->n; i++) {
        cr_expect_null(assay_state_classes(c->m[i].state));
        assay_job *r = assay_state_running(c->m[i].state);
        cr_assert_not_null(r);
        cr_expect_str_eq(r->id, "batch-1");
        cr_expect_null(r->next);
        /* ... and so does each runtime's own list. */
        size_t n;
        cr_expect_eq(assay_state_running_on(c->m[i].state, "rt-a", &n), r);
        cr_expect_eq(n, 1);
        cr_expect_null(r->rt_next);
        cr_expect_null(assay_state_running_on(c->m[i].state, "rt-b", &n));
        cr_expect_eq(n, 0);
        cr_expect_eq(c->m[i].refused, 0);
        cr_expect_eq(c->m[i].applies, c->m[0].applies);
        cr_expect_eq(c->m[i].completed, 1);
    }
    cluster_free(c);
}

/* Invariant 2 in the state machine alone: a job whose first attempt was
 * given up (lease expired) runs again, attempt 2, on another runtime; the
 * first attempt's result and loss arrive late. The job is still running,
 * so only the attempt comparison can refuse them (core/state.c s_result
 * and s_requeue): every other check (job known, running, result an object)
 * lets them through. */
Test(raft_fixture, stale_attempt_of_a_running_job_is_fenced)
{
    cluster *c = cluster_new(3, 0, 0);

    raft_fixture_elect(&c->f, 0);
    claim(c);
    commit(c, cmd_runtime("rt-a", 1000, "a"));
    commit(c, cmd_runtime("rt-b", 1000, "a"));
    commit(c, cmd_submit("fence", 1, 0, 3));
    cr_assert(applied(commit(c, cmd_dispatch("fence-0", 1, "rt-a")), 0));
    cr_assert(applied(commit(c, cmd_requeue("fence-0", 1, "lease expired")),
                      0));
    cr_assert(applied(commit(c, cmd_dispatch("fence-0", 2, "rt-b")), 0));

    /* Attempt 1's result, then its loss: both committed, neither applied,
     * on any member; the job still runs attempt 2 on rt-b, no result. */
    cr_expect(!applied(commit(c, cmd_result("fence-0", 1, "rt-a", 1)), 0),
              "a result for attempt 1 applied while attempt 2 runs");
    cr_expect(!applied(commit(c, cmd_requeue("fence-0", 1, "runtime dead")),
                       0),
              "a loss of attempt 1 applied while attempt 2 runs");
    /* Nor does an attempt that was never dispatched. */
    cr_expect(!applied(commit(c, cmd_result("fence-0", 3, "rt-b", 3)), 0),
              "a result for attempt 3 applied while attempt 2 runs");
    expect_same(c);
    for (unsigned i = 0; i < c->n; i++) {
        json_t *d = assay_state_dump(c->m[i].state);
        expect_job(d, "fence-0", "running", 2);
        cr_expect_str_eq(job_str(d, "fence-0", "runtime"), "rt-b",
                         "member %u", i);
        cr_expect_null(json_object_get(dump_job(d, "fence-0"), "result"),
                       "member %u recorded a stale result", i);
        json_decref(d);
        const assay_job *j = assay_state_job(c->m[i].state, "fence-0");
        cr_assert_not_null(j);
        cr_expect_eq(j->state, ASSAY_JOB_RUNNING, "member %u", i);
        cr_expect_eq(j->attempt, 2, "member %u", i);
        cr_expect_eq(assay_state_running(c->m[i].state), j, "member %u", i);
        cr_expect_null(assay_state_classes(c->m[i].state));
        cr_expect_eq(c->m[i].completed, 0, "member %u", i);
        cr_expect_eq(c->m[i].refused, 0, "member %u", i);
    }

    /* Attempt 2's own result is recorded. */
    cr_expect(applied(commit(c, cmd_result("fence-0", 2, "rt-b", 2)), 0));
    expect_same(c);
    for (unsigned i = 0; i < c->n; i++) {
        json_t *d = assay_state_dump(c->m[i].state);
        expect_job(d, "fence-0", "completed", 2);
        json_t *want = J("{'ok':true, 'value':2}");
        cr_expect(json_equal(json_object_get(dump_job(d, "fence-0"),
                                             "result"),
                             want),
                  "member %u", i);
        json_decref(want);
        json_decref(d);
        cr_expect_eq(c->m[i].completed, 1, "member %u", i);
        cr_expect_null(assay_state_running(c->m[i].state));
    }
    cluster_free(c);
}

/* ---- 2. Leader changes ---------------------------------------------------- */

/* The shared prologue: runtime, JobSpec, two dispatches, one result. */
static void prologue(cluster *c)
{
    commit(c, cmd_runtime("rt-a", 1000, "a"));
    commit(c, cmd_submit("batch", 3, 0, 3));
    commit(c, cmd_dispatch("batch-0", 1, "rt-a"));
    commit(c, cmd_dispatch("batch-1", 1, "rt-a"));
    cr_expect(applied(commit(c, cmd_result("batch-0", 1, "rt-a", 1)), 0));
}

/* Checks after a leader change and the clients' retries: one copy of
 * everything, each member applied each entry once. */
static void expect_once(cluster *c, unsigned l)
{
    char lid[16];

    snprintf(lid, sizeof lid, "node-%u", l);
    expect_same(c);
    for (unsigned i = 0; i < c->n; i++) {
        json_t *d = assay_state_dump(c->m[i].state);
        cr_expect_str_eq(dump_leader(d), lid, "member %u", i);
        cr_expect_eq(dump_count(d, "specs", "late"), 1);
        cr_expect_eq(dump_count(d, "jobs", "late-0"), 1);
        cr_expect_eq(dump_count(d, "jobs", "batch-1"), 1);
        expect_job(d, "batch-0", "completed", 1);
        expect_job(d, "batch-1", "completed", 1);
        expect_job(d, "late-0", "queued", 0);
        json_decref(d);
        /* Two completions ever, whatever was sent twice. */
        cr_expect_eq(c->m[i].completed, 2, "member %u", i);
        cr_expect_eq(c->m[i].applies, c->m[0].applies, "member %u", i);
        cr_expect_eq(c->m[i].refused, 0);
    }
}

Test(raft_fixture, leader_crash)
{
    cluster *c = cluster_new(3, 0, 0);

    raft_fixture_elect(&c->f, 0);
    claim(c);
    prologue(c);

    /* Mid-stream: two proposals still in the leader's outbox when it dies,
     * so nobody else ever sees them. */
    pending *x1 = propose(c, 0, cmd_result("batch-1", 1, "rt-a", 2));
    pending *x2 = propose(c, 0, cmd_submit("late", 1, 0, 3));
    raft_fixture_kill(&c->f, 0);
    elect_other(c, 0);
    unsigned l = claim(c);

    /* The clients retry on the new leader; the runtime re-sends every
     * result it has no ack for, and the one committed before the crash
     * (batch-0) is fenced. */
    cr_expect(applied(commit(c, cmd_result("batch-1", 1, "rt-a", 2)), 0));
    json_t *res = commit(c, cmd_submit("late", 1, 0, 3));
    cr_expect(json_is_false(json_object_get(res, "duplicate")));
    cr_expect(!applied(commit(c, cmd_result("batch-0", 1, "rt-a", 1)), 0));
    /* A retried submission answers with the first one's jobs. */
    res = commit(c, cmd_submit("batch", 3, 0, 3));
    cr_expect(json_is_true(json_object_get(res, "duplicate")));

    /* The old leader comes back, learns the new term, drops its
     * uncommitted tail and catches up. */
    raft_fixture_revive(&c->f, 0);
    wait_done(c, x1);
    wait_done(c, x2);
    cr_expect_neq(x1->status, 0, "a lost proposal reported success");
    cr_expect_neq(x2->status, 0, "a lost proposal reported success");
    converge(c, l);
    cr_expect_neq(raft_state(raft_fixture_get(&c->f, 0)), RAFT_LEADER);
    expect_once(c, l);
    cluster_free(c);
}

Test(raft_fixture, leader_deposed)
{
    cluster *c = cluster_new(3, 0, 0);

    raft_fixture_elect(&c->f, 0);
    claim(c);
    prologue(c);

    /* The followers stop acknowledging: the leader steps down with the
     * proposals unconfirmed, though they may already sit in the
     * followers' logs and commit under the next leader. */
    pending *x1 = propose(c, 0, cmd_result("batch-1", 1, "rt-a", 2));
    pending *x2 = propose(c, 0, cmd_submit("late", 1, 0, 3));
    raft_fixture_depose(&c->f);
    cr_assert(x1->done && x2->done);
    cr_expect_neq(x1->status, 0);
    cr_expect_neq(x2->status, 0);
    raft_fixture_elect(&c->f, 1);
    cr_assert_eq(claim(c), 1);

    /* A failed callback does not mean "not committed": the client retries
     * and the state machine's idempotence keeps one copy either way. */
    json_t *res = commit(c, cmd_submit("late", 1, 0, 3));
    bool had_late = json_is_true(json_object_get(res, "duplicate"));
    res = commit(c, cmd_result("batch-1", 1, "rt-a", 2));
    cr_expect_eq(applied(res, 0), !had_late,
                 "the retried result applies iff its first copy did not");
    converge(c, 1);
    expect_once(c, 1);
    cluster_free(c);
}

/* ---- 3. Partition --------------------------------------------------------- */

/* Drops all traffic between member i and the others, both ways.
 * Saturation rather than disconnection: the fixture's leader detection
 * then leaves i out of the new leader's quorum count. */
static void isolate(cluster *c, unsigned i, bool on)
{
    c->cut[i] = on;
    for (unsigned j = 0; j < c->n; j++) {
        if (j == i)
            continue;
        if (on) {
            raft_fixture_saturate(&c->f, i, j);
            raft_fixture_saturate(&c->f, j, i);
        } else {
            raft_fixture_desaturate(&c->f, i, j);
            raft_fixture_desaturate(&c->f, j, i);
        }
    }
}

static bool not_leader(struct raft_fixture *f, void *arg)
{
    return raft_state(raft_fixture_get(f, *(unsigned *)arg)) != RAFT_LEADER;
}

Test(raft_fixture, partitioned_leader)
{
    cluster *c = cluster_new(3, 0, 0);
    unsigned old = 0;

    raft_fixture_elect(&c->f, 0);
    claim(c);
    commit(c, cmd_runtime("rt-a", 1000, "a"));
    commit(c, cmd_submit("batch", 2, 0, 3));

    /* Cut the leader off; it still believes it leads and takes these. */
    isolate(c, old, true);
    pending *g1 = propose(c, old, cmd_submit("ghost", 1, 0, 3));
    pending *g2 = propose(c, old, J("{'op':'cancel', 'jobs':['batch-0']}"));

    /* The majority elects a leader of its own and commits without it. */
    elect_other(c, old);
    unsigned l = claim(c);
    cr_expect(applied(commit(c, cmd_dispatch("batch-0", 1, "rt-a")), 0));
    cr_expect(applied(commit(c, cmd_result("batch-0", 1, "rt-a", 5)), 0));

    /* Without a quorum the old leader steps down: its proposals fail. */
    cr_assert(raft_fixture_step_until(&c->f, not_leader, &old, STEP_MS),
              "the isolated leader never stepped down");
    cr_expect(g1->done && g2->done);
    cr_expect_neq(g1->status, 0);
    cr_expect_neq(g2->status, 0);
    cr_expect_eq(c->m[old].applies, 3, "the isolated member applied more");

    /* Heal. The old leader's higher term may unseat the new one; whoever
     * leads then claims, and that commit brings everyone level. */
    isolate(c, old, false);
    cr_assert(raft_fixture_step_until_has_leader(&c->f, STEP_MS));
    l = claim(c);
    converge(c, l);
    cr_expect_neq(l, old, "a member with a stale log was elected");
    char lid[16];
    snprintf(lid, sizeof lid, "node-%u", l);

    expect_same(c);
    for (unsigned i = 0; i < c->n; i++) {
        json_t *d = assay_state_dump(c->m[i].state);
        cr_expect_eq(dump_count(d, "specs", "ghost"), 0, "member %u", i);
        cr_expect_null(dump_job(d, "ghost-0"));
        expect_job(d, "batch-0", "completed", 1);
        cr_expect_str_eq(dump_leader(d), lid);
        json_decref(d);
        cr_expect_eq(c->m[i].refused, 0);
        cr_expect_eq(c->m[i].applies, 7, "member %u", i);
    }
    cluster_free(c);
}

/* ---- 4. Snapshots --------------------------------------------------------- */

/* Commands leaving jobs in every state (queued, running, completed,
 * failed, cancelled), both runtimes' liveness and a leader record. */
static const int n_every = 12;

static json_t *cmd_every(int k)
{
    switch (k) {
    case 0: return cmd_runtime("rt-a", 1000, "a");
    case 1: return cmd_runtime("rt-b", 250, "b");
    case 2: return cmd_submit("batch", 5, 0, 3);
    case 3: return cmd_submit("urgent", 1, -5, 1);
    case 4: return cmd_dispatch("batch-0", 1, "rt-a");
    case 5: return cmd_dispatch("batch-1", 1, "rt-b");
    case 6: return cmd_dispatch("urgent-0", 1, "rt-b");
    case 7: return cmd_result("batch-0", 1, "rt-a", 9);
    case 8: return cmd_requeue("urgent-0", 1, "lease expired");
    case 9: return J("{'op':'cancel', 'jobs':['batch-2', 'batch-3']}");
    case 10: return J("{'op':'runtime_state', 'id':'rt-b', 'alive':false}");
    case 11: return cmd_leader(0);
    default: cr_assert_fail("no command %d", k);
    }
    return NULL;
}

static void expect_every(const json_t *d)
{
    expect_job(d, "batch-0", "completed", 1);
    expect_job(d, "batch-2", "cancelled", 0);
    expect_job(d, "batch-3", "cancelled", 0);
    expect_job(d, "batch-4", "queued", 0);
    expect_job(d, "urgent-0", "failed", 1);
}

Test(raft_fixture, snapshot_install)
{
    /* A snapshot every 4 entries keeping 2: a member away for a dozen
     * entries finds them compacted and gets the snapshot instead. */
    cluster *c = cluster_new(3, 4, 2);
    raft_fixture_elect(&c->f, 0);

    claim(c);
    commit(c, cmd_every(0));
    commit(c, cmd_every(1));
    raft_fixture_kill(&c->f, 2);
    for (int k = 2; k < n_every; k++)
        commit(c, cmd_every(k));
    /* batch-1 back and forth through requeues with attempts left, and
     * more entries to push the log start well past the dead member. */
    commit(c, cmd_requeue("batch-1", 1, "runtime restarted"));
    commit(c, cmd_dispatch("batch-1", 2, "rt-a"));
    commit(c, cmd_requeue("batch-1", 2, "runtime restarted"));
    commit(c, J("{'op':'runtime_state', 'id':'rt-b', 'alive':true}"));
    commit(c, J("{'op':'runtime_state', 'id':'rt-b', 'alive':false}"));
    cr_expect_gt(c->m[0].snapshots, 0, "the leader took no snapshot");

    raft_fixture_revive(&c->f, 2);
    converge(c, 0);
    cr_expect_gt(c->m[2].restores, 0, "the lagging member got no snapshot");
    cr_expect_lt(c->m[2].applies, c->m[0].applies);
    expect_same(c);

    /* After the install it applies entries like the others. */
    cr_expect(applied(commit(c, cmd_dispatch("batch-1", 3, "rt-a")), 0));
    cr_expect(applied(commit(c, cmd_result("batch-1", 3, "rt-a", 3)), 0));
    expect_same(c);
    json_t *d = assay_state_dump(c->m[2].state);
    expect_job(d, "batch-0", "completed", 1);
    expect_job(d, "batch-1", "completed", 3);
    expect_job(d, "urgent-0", "failed", 1);
    expect_job(d, "batch-2", "cancelled", 0);
    expect_job(d, "batch-4", "queued", 0);
    cr_expect_str_eq(dump_leader(d), "node-0");
    json_decref(d);
    cr_expect_eq(c->m[2].refused, 0);
    cluster_free(c);
}

/* A standalone member, no raft: the adapter called directly. */
typedef struct solo {
    member m;
    struct raft_fsm fsm;
} solo;

static void solo_apply(solo *s, json_t *cmd)
{
    char *enc;
    size_t len;
    void *res;

    encode(cmd, &enc, &len);
    struct raft_buffer buf = {enc, len};
    int rc = fsm_apply(&s->fsm, &buf, &res);
    free(enc);
    cr_assert_eq(rc, 0, "apply: %s", assay_strerror(rc));
}

Test(raft_fixture, snapshot_round_trip)
{
    solo a, b;
    struct raft_buffer *bufs;
    unsigned n;

    member_init(&a.m, &a.fsm);
    member_init(&b.m, &b.fsm);
    for (int k = 0; k < n_every; k++)
        solo_apply(&a, cmd_every(k));
    solo_apply(&a, cmd_requeue("batch-1", 1, "runtime restarted"));
    /* b holds something else, which the restore must replace. */
    solo_apply(&b, cmd_submit("other", 2, 3, 1));

    cr_assert_eq(fsm_snapshot(&a.fsm, &bufs, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(fsm_restore(&b.fsm, &bufs[0]), 0); /* frees bufs[0].base */
    raft_free(bufs);

    json_t *da = assay_state_dump(a.m.state);
    json_t *db = assay_state_dump(b.m.state);
    char *ta = jtext(da), *tb = jtext(db);
    cr_expect(json_equal(da, db), "\n  before: %s\n  after:  %s", ta, tb);
    free(ta);
    free(tb);
    expect_every(db);
    expect_job(db, "batch-1", "queued", 1);
    cr_expect_str_eq(dump_leader(db), "node-0");
    cr_expect_null(assay_state_spec(b.m.state, "other"));
    cr_expect_null(assay_state_job(b.m.state, "other-0"));
    cr_expect_eq(json_array_size(json_object_get(db, "runtimes")), 2);
    json_decref(da);
    json_decref(db);

    /* The derived indexes are rebuilt: urgent-0 failed, batch-1 and -4
     * queued at priority 0, nothing running. */
    size_t queued = 0;
    for (const assay_class *c = assay_state_classes(b.m.state); c;
         c = c->next)
        for (const assay_job *q = c->jobs.head; q; q = q->next) {
            cr_expect_eq(q->state, ASSAY_JOB_QUEUED);
            cr_expect_eq(q->spec->placement, c);
            queued++;
        }
    cr_expect_eq(queued, 2);
    cr_expect_null(assay_state_running(b.m.state));

    /* A restored member keeps applying. */
    solo_apply(&b, cmd_dispatch("batch-4", 1, "rt-a"));
    cr_expect_eq(assay_state_job(b.m.state, "batch-4")->state,
                 ASSAY_JOB_RUNNING);
    size_t on;
    const assay_job *r = assay_state_running_on(b.m.state, "rt-a", &on);
    cr_expect(r && !strcmp(r->id, "batch-4") && on == 1);

    /* Restored with a job running, a member knows where it runs. */
    cr_assert_eq(fsm_snapshot(&b.fsm, &bufs, &n), 0);
    cr_assert_eq(fsm_restore(&a.fsm, &bufs[0]), 0);
    raft_free(bufs);
    r = assay_state_running_on(a.m.state, "rt-a", &on);
    cr_expect(r && !strcmp(r->id, "batch-4") && on == 1);
    cr_expect_null(r ? r->rt_next : NULL);
    cr_expect_null(assay_state_running_on(a.m.state, "rt-b", &on));
    cr_expect_eq(on, 0);

    /* A dump from another state version is refused, the state untouched. */
    json_t *before = assay_state_dump(b.m.state);
    json_t *v2 = json_deep_copy(before);
    json_object_set_new(v2, "v", json_integer(ASSAY_STATE_VERSION + 1));
    char *enc;
    size_t len;
    cr_assert_eq(assay_codec_encode(v2, &enc, &len), 0);
    json_decref(v2);
    struct raft_buffer buf = {raft_malloc(len), len};
    memcpy(buf.base, enc, len);
    free(enc);
    cr_expect_neq(fsm_restore(&b.fsm, &buf), 0);
    raft_free(buf.base); /* still ours after a failed restore */
    json_t *after = assay_state_dump(b.m.state);
    cr_expect(json_equal(before, after));
    json_decref(before);
    json_decref(after);

    member_fini(&a.m);
    member_fini(&b.m);
}

/* ---- 5. Malformed entries --------------------------------------------------- */

/* Applies raw bytes; expects a refusal that leaves no trace. */
static void expect_refused(solo *s, const void *bytes, size_t len,
                           const char *what)
{
    json_t *before = assay_state_dump(s->m.state);
    size_t nres = json_array_size(s->m.results);
    unsigned applies = s->m.applies;
    void *res = (void *)1;
    struct raft_buffer buf = {(void *)bytes, len};

    int rc = fsm_apply(&s->fsm, &buf, &res);
    cr_expect_neq(rc, 0, "%s: applied", what);
    cr_expect_null(res, "%s: a result", what);
    json_t *after = assay_state_dump(s->m.state);
    cr_expect(json_equal(before, after), "%s: state changed", what);
    cr_expect_eq(json_array_size(s->m.results), nres);
    cr_expect_eq(s->m.applies, applies);
    json_decref(before);
    json_decref(after);
}

/* The same for a JSON value, encoded as is (no "v" added). */
static void expect_refused_json(solo *s, json_t *v, const char *what)
{
    char *enc;
    size_t len;

    cr_assert_eq(assay_codec_encode(v, &enc, &len), 0, "%s", what);
    json_decref(v);
    expect_refused(s, enc, len, what);
    free(enc);
}

/* Called directly, not proposed through raft: canonical raft 0.15 never
 * skips an entry its FSM refuses; in the fixture the followers that hit
 * one go RAFT_UNAVAILABLE and the leader steps down, leaving no quorum.
 * So the adapter's refusal is what is checked here. */
Test(raft_fixture, malformed_entries)
{
    solo s;
    unsigned char junk[256];
    uint32_t x = 2463534242u;

    member_init(&s.m, &s.fsm);
    for (int k = 0; k < n_every; k++)
        solo_apply(&s, cmd_every(k));
    unsigned refused = s.m.refused;

    /* Random bytes (xorshift: the same every run). */
    for (int round = 0; round < 64; round++) {
        for (size_t i = 0; i < sizeof junk; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            junk[i] = (unsigned char)x;
        }
        expect_refused(&s, junk, 1 + (size_t)round * 4, "random bytes");
    }
    expect_refused(&s, "", 0, "empty entry");

    /* Hostile msgpack: 4 G-element array with no elements, deep nesting. */
    static const unsigned char huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    expect_refused(&s, huge, sizeof huge, "huge declared array");
    unsigned char deep[200];
    memset(deep, 0x91, sizeof deep - 1); /* [[[...nil...]]] */
    deep[sizeof deep - 1] = 0xc0;
    expect_refused(&s, deep, sizeof deep, "deep nesting");

    /* A valid command cut short, and one with a trailing byte. */
    char *enc;
    size_t len;
    encode(cmd_dispatch("batch-4", 1, "rt-a"), &enc, &len);
    expect_refused(&s, enc, len - 1, "truncated entry");
    char *longer = malloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = (char)0xc0;
    expect_refused(&s, longer, len + 1, "trailing byte");
    free(longer);
    free(enc);

    /* Decodable, but not a command. */
    expect_refused_json(&s, J("[1, 2, 3]"), "array");
    expect_refused_json(&s, J("'submit'"), "string");
    expect_refused_json(&s, J("{}"), "empty map");
    expect_refused_json(&s, J("{'op':'dispatch', 'items':[]}"), "no v");
    expect_refused_json(&s, J("{'op':'cancel', 'v':2, 'jobs':['batch-4']}"),
                        "v 2");
    expect_refused_json(&s, J("{'op':'cancel', 'v':'1', 'jobs':['batch-4']}"),
                        "v string");
    expect_refused_json(&s, J("{'op':'explode', 'v':1}"), "unknown op");
    expect_refused_json(&s, J("{'op':7, 'v':1}"), "op not a string");
    expect_refused_json(&s, J("{'op':'dispatch', 'v':1, 'items':{}}"),
                        "items not an array");
    expect_refused_json(&s, J("{'op':'cancel', 'v':1, 'jobs':'batch-4'}"),
                        "jobs not an array");
    expect_refused_json(&s, J("{'op':'runtime', 'v':1, 'id':'rt-c', "
                              "'heartbeat_ms':0}"),
                        "heartbeat 0");
    expect_refused_json(&s, J("{'op':'runtime_state', 'v':1, 'id':'rt-z', "
                              "'alive':true}"),
                        "unknown runtime");
    expect_refused_json(&s, J("{'op':'runtime_state', 'v':1, 'id':'rt-b', "
                              "'alive':false}"),
                        "runtime state unchanged");
    expect_refused_json(&s, J("{'op':'leader', 'v':1, 'id':'node-9', "
                              "'events':''}"),
                        "leader without endpoint");

    /* Submissions the state refuses whole: nothing half-created. */
    json_t *sub = cmd_submit("bad", 2, 0, 1);
    json_object_set_new(sub, "v", json_integer(1));
    json_object_set_new(json_object_get(sub, "spec"), "priority",
                        json_integer(5000));
    expect_refused_json(&s, sub, "priority out of range");
    sub = cmd_submit("bad", 2, 0, 1);
    json_object_set_new(sub, "v", json_integer(1));
    json_array_append_new(json_object_get(sub, "jobs"),
                          J("{'id':'bad-0'}"));
    expect_refused_json(&s, sub, "a job id twice");
    sub = cmd_submit("bad", 1, 0, 1);
    json_object_set_new(sub, "v", json_integer(1));
    json_array_append_new(json_object_get(sub, "jobs"),
                          J("{'id':'batch-0'}"));
    expect_refused_json(&s, sub, "another spec's job id");
    sub = cmd_submit("bad", 0, 0, 1);
    json_object_set_new(sub, "v", json_integer(1));
    expect_refused_json(&s, sub, "no jobs");
    sub = cmd_submit("bad", 1, 0, 1);
    json_object_set_new(sub, "v", json_integer(1));
    json_object_del(json_object_get(sub, "spec"), "action");
    expect_refused_json(&s, sub, "no action");
    cr_expect_null(assay_state_spec(s.m.state, "bad"));

    cr_expect_gt(s.m.refused, refused);
    /* And the member still applies good entries afterwards. */
    solo_apply(&s, cmd_dispatch("batch-4", 1, "rt-a"));
    member_fini(&s.m);
}

/* ---- 6. Formats every later version must read ----------------------------- */

/* tests/fixtures/state/vN/ holds what state format N wrote from
 * fixture_cmd(N, ...): log.bin, its log entries as s_commit proposes them
 * (each a 4-byte big-endian length, then the entry), and snapshot.bin,
 * the snapshot s_fsm_snapshot made after them. Every later version must
 * replay each log and load each snapshot to one and the same state, with
 * the jobs where version N left them. Add a directory per format change;
 * never rewrite an old one. ASSAY_WRITE_STATE_FIXTURE=DIR writes this
 * version's files into DIR. */
#define STATE_FIXTURES ASSAY_SOURCE_DIR "/tests/fixtures/state"

/* Format 1 logged cmd_every(); format 2 goes on to raise the feature
 * level, run batch-4 with clocks in the log and expire batch-2; format 3
 * raises it to 4 and has a JobSpec submitted, and one of its jobs
 * cancelled, by named keys; format 4 raises it to 5, makes three
 * enrolment tokens, enrols a key with one, revokes another token and
 * keeps the third pending; format 5 raises it to 6, runs batch-4 again,
 * to a result 250 ms after its dispatch, its action's first duration
 * estimate, and has a JobSpec ask for 1.5 CPUs, packed; format 6 raises
 * it to 7, makes a schedule (buffer_one), fires it twice (a run started,
 * the next buffered behind it, three fires missed before it) and pauses
 * it; then the first run's job is dispatched, cancelled (the buffered run
 * waits: paused) and restarted (a new series of attempts after the
 * first); format 7 raises it to 8, registers a runtime with its host
 * facts and a plugin's digest, and runs two JobSpecs of one series with
 * a title and a control there, the first passing and the second failing
 * (drift: regressed, its evidence changed), and has two stream consumers
 * acknowledge, one marked behind. */
static int fixture_len(int version)
{
    return n_every + (version >= 2) * 4 + (version >= 3) * 3 +
           (version >= 4) * 6 + (version >= 5) * 4 + (version >= 6) * 8 +
           (version >= 7) * 10;
}

#define FIXTURE_SHA FIXTURE_HASH("5")

/* A JobSpec of the format 7 fixture's series, with evidence metadata. */
static json_t *fixture_evidence_spec(const char *id)
{
    json_t *c = cmd_submit(id, 1, 0, 1);
    json_t *spec = json_object_get(c, "spec");
    json_object_set_new(spec, "title", json_string("passwd is 0644"));
    json_object_set_new(spec, "series", json_string("nightly"));
    json_object_set_new(spec, "controls",
                        J("[{'catalog':'NIST_SP-800-53_rev5', "
                          "'id':'ac-6.1'}]"));
    return c;
}

/* Its job's result: status, and evidence `actual`. */
static json_t *fixture_evidence_result(const char *job, const char *status,
                                       const char *actual, int at)
{
    return J("{'op':'result', 'items':[{'job':'%s', 'attempt':1, "
             "'result':{'status':'%s', 'findings':[{'state':'%s', "
             "'evidence':{'actual':'%s', 'expected':'0644'}}], "
             "'started_ms':%d, 'ended_ms':%d}, 'runtime':'rt-h', 'at':%d}]}",
             job, status, status, actual, at - 10, at - 5, at);
}

/* A due fire of the fixture's schedule at hour h (format 6). */
static json_t *fixture_fire(int h, const char *skipped)
{
    char id[64];
    snprintf(id, sizeof id, "hourly.19700101T%02d0000Z", h);
    json_t *spec = J("{'action':'noop.pass', 'version':'', "
                     "'resolved':'1.0.0', 'labels':{}, 'selector':{}, "
                     "'timeout_ms':1000, 'max_attempts':1, 'priority':0, "
                     "'memory_mb':0, 'schedule':'hourly'}");
    json_object_set_new(spec, "id", json_string(id));
    json_object_set_new(spec, "submitted_ms", json_integer(6000 + 100 * h));
    json_t *item = json_pack("{s:s, s:i, s:s, s:o, s:[{s:s+, s:{}}]}",
                             "schedule", "hourly", "nominal", h * 3600000,
                             "kind", "due", "spec", spec, "jobs", "id", id,
                             "-0", "params");
    if (skipped)
        json_object_set_new(item, "skipped", J(skipped));
    return json_pack("{s:s, s:[o], s:i}", "op", "fire", "items", item, "at",
                     6000 + 100 * h);
}

#define FIXTURE_HASH8(c) c c c c c c c c
#define FIXTURE_HASH(c)                                                        \
    "'" FIXTURE_HASH8(c) FIXTURE_HASH8(c) FIXTURE_HASH8(c) FIXTURE_HASH8(c)    \
        FIXTURE_HASH8(c) FIXTURE_HASH8(c) FIXTURE_HASH8(c) FIXTURE_HASH8(c) "'"
#define FIXTURE_KEY "'rq:rM>}U?@Lns47E1-kR.o@n-FcmmsL/@{H8]yf7'"

static json_t *fixture_cmd(int version, int k)
{
    (void)version;
    json_t *c;
    switch (k - n_every) {
    case 25: return J("{'op':'level', 'level':8, 'at':8000}");
    case 26:
        return J("{'op':'runtime', 'id':'rt-h', 'heartbeat_ms':1000, "
                 "'labels':{'zone':'a'}, 'capacity':{'slots':2}, "
                 "'catalog':{'plugins':[{'name':'noop', 'version':'1.2.0', "
                 "'sha256':" FIXTURE_SHA ", 'actions':[{'name':'run', "
                 "'params':[]}]}], 'refused':[]}, 'host':{'hostname':'h1', "
                 "'os':'Debian GNU/Linux 13 (trixie)', 'kernel':'Linux 6.1', "
                 "'machine_id':'0123456789abcdef0123456789abcdef'}}");
    case 27: return fixture_evidence_spec("nightly-1");
    case 28:
        return J("{'op':'dispatch', 'items':[{'job':'nightly-1-0', "
                 "'attempt':1, 'runtime':'rt-h', 'version':'1.2.0', "
                 "'at':8100}]}");
    case 29: return fixture_evidence_result("nightly-1-0", "pass", "0644", 8200);
    case 30: return fixture_evidence_spec("nightly-2");
    case 31:
        return J("{'op':'dispatch', 'items':[{'job':'nightly-2-0', "
                 "'attempt':1, 'runtime':'rt-h', 'version':'1.2.0', "
                 "'at':8300}]}");
    case 32: return fixture_evidence_result("nightly-2-0", "fail", "0777", 8400);
    case 33:
        return J("{'op':'consumer', 'name':'siem', 'acked':1, "
                 "'behind':false, 'at':8500}");
    case 34:
        return J("{'op':'consumer', 'name':'audit', 'acked':0, "
                 "'behind':true, 'at':8600}");
    case 17: return J("{'op':'level', 'level':7, 'at':6000}");
    case 18:
        return J("{'op':'schedule', 'id':'hourly', 'def':{'overlap':"
                 "'buffer_one', 'keep_runs':5, 'max_runs':0, 'cron':"
                 "['0 * * * *'], 'timezone':'Europe/Berlin', 'spec':"
                 "{'action':'noop.pass'}}, 'at':6000, "
                 "'by':{'name':'alice', 'role':'admin'}}");
    case 19: return fixture_fire(1, NULL);
    case 20:
        return fixture_fire(5, "{'outcome':'missed', 'count':3, "
                               "'first':7200000, 'reason':'older than the "
                               "catch-up window (3600 s)'}");
    case 21:
        return J("{'op':'schedule_state', 'id':'hourly', 'paused':true, "
                 "'note':'maintenance', 'at':6900}");
    case 22:
        return J("{'op':'dispatch', 'items':[{'job':"
                 "'hourly.19700101T010000Z-0', 'attempt':1, 'runtime':'rt-a', "
                 "'version':'1.0.0', 'at':7000}]}");
    case 23:
        return J("{'op':'cancel', 'jobs':['hourly.19700101T010000Z-0'], "
                 "'at':7100}");
    case 24:
        return J("{'op':'restart', 'jobs':['hourly.19700101T010000Z-0'], "
                 "'at':7200, 'by':{'name':'alice', 'role':'admin'}}");
    case 13: return J("{'op':'level', 'level':6, 'at':5000}");
    case 14:
        return J("{'op':'dispatch', 'items':[{'job':'batch-4', 'attempt':2, "
                 "'runtime':'rt-a', 'version':'1.2.0', 'at':5000}]}");
    case 15:
        return J("{'op':'result', 'items':[{'job':'batch-4', 'attempt':2, "
                 "'result':{'ok':true, 'value':5}, 'runtime':'rt-a', "
                 "'at':5250}]}");
    case 16:
        c = cmd_submit("packed", 1, 0, 1);
        json_object_set_new(json_object_get(c, "spec"), "cpu_milli",
                            json_integer(1500));
        json_object_set_new(json_object_get(c, "spec"), "placement",
                            json_string("pack"));
        return c;
    case 7: return J("{'op':'level', 'level':5, 'at':4000}");
    case 8:
    case 9:
    case 10:
        return J(k - n_every == 8
                     ? "{'op':'token', 'name':'rt-7', 'role':'runtime', "
                       "'hash':" FIXTURE_HASH("a") ", 'expires_ms':90000, "
                       "'at':4100, 'by':{'name':'alice', 'role':'admin'}}"
                 : k - n_every == 9
                     ? "{'op':'token', 'name':'rt-8', 'role':'runtime', "
                       "'hash':" FIXTURE_HASH("b") ", 'expires_ms':90000, "
                       "'at':4200}"
                     : "{'op':'token', 'name':'ci-2', 'role':'submit', "
                       "'hash':" FIXTURE_HASH("c") ", 'expires_ms':90000, "
                       "'at':4300}");
    case 11:
        return J("{'op':'enrol', 'name':'rt-7', 'key':" FIXTURE_KEY
                 ", 'hash':" FIXTURE_HASH("a") ", 'at':4400}");
    case 12:
        return J("{'op':'unenrol', 'name':'rt-8', 'at':4500, "
                 "'by':{'name':'alice', 'role':'admin'}}");
    case 4: return J("{'op':'level', 'level':4, 'at':3000}");
    case 5:
        c = cmd_submit("ci", 2, 0, 1);
        json_object_set_new(json_object_get(c, "spec"), "by",
                            J("{'name':'ci-bot', 'role':'submit'}"));
        return c;
    case 6:
        return J("{'op':'cancel', 'jobs':['ci-1'], 'at':3500, "
                 "'by':{'name':'alice', 'role':'admin'}}");
    case 0: return J("{'op':'level', 'level':2, 'at':1000}");
    case 1:
        return J("{'op':'dispatch', 'items':[{'job':'batch-4', 'attempt':1, "
                 "'runtime':'rt-a', 'version':'1.2.0', 'at':2000}]}");
    case 2:
        return J("{'op':'requeue', 'items':[{'job':'batch-4', 'attempt':1, "
                 "'reason':'exit 3', 'at':2500}]}");
    case 3: return J("{'op':'expire', 'jobs':['batch-2', 'nope']}");
    default: return cmd_every(k);
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: missing", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_state_fixture(const char *dir)
{
    char path[4096];
    solo a;
    member_init(&a.m, &a.fsm);
    snprintf(path, sizeof path, "%s/log.bin", dir);
    FILE *log = fopen(path, "wb");
    cr_assert_not_null(log, "%s", path);
    for (int k = 0; k < fixture_len(ASSAY_STATE_VERSION); k++) {
        char *enc;
        size_t len;
        json_t *cmd = fixture_cmd(ASSAY_STATE_VERSION, k);
        encode(json_incref(cmd), &enc, &len); /* both take a reference */
        unsigned char be[4] = {(unsigned char)(len >> 24),
                               (unsigned char)(len >> 16),
                               (unsigned char)(len >> 8), (unsigned char)len};
        cr_assert_eq(fwrite(be, 1, 4, log), 4);
        cr_assert_eq(fwrite(enc, 1, len, log), len);
        free(enc);
        solo_apply(&a, cmd);
    }
    fclose(log);
    struct raft_buffer *bufs;
    unsigned n;
    cr_assert_eq(fsm_snapshot(&a.fsm, &bufs, &n), 0);
    snprintf(path, sizeof path, "%s/snapshot.bin", dir);
    FILE *snap = fopen(path, "wb");
    cr_assert_not_null(snap, "%s", path);
    cr_assert_eq(fwrite(bufs[0].base, 1, bufs[0].len, snap), bufs[0].len);
    fclose(snap);
    raft_free(bufs[0].base);
    raft_free(bufs);
    member_fini(&a.m);
}

/* Format 1 kept no attempt history: a replay of its log has some. */
static void drop_attempts(json_t *j, void *arg)
{
    (void)arg;
    json_object_del(j, "attempts");
}

static void drop_history(json_t *dump)
{
    each_job(dump, drop_attempts, NULL);
}

/* Replays vN/log.bin into a and loads vN/snapshot.bin into b. */
static void load_fixture(int version, solo *a, solo *b)
{
    char path[256];
    size_t len, off = 0;
    int entries = 0;
    member_init(&a->m, &a->fsm);
    member_init(&b->m, &b->fsm);
    snprintf(path, sizeof path, STATE_FIXTURES "/v%d/log.bin", version);
    char *log = slurp(path, &len);
    while (off < len) {
        cr_assert_leq(off + 4, len, "%s: a truncated length", path);
        const unsigned char *p = (const unsigned char *)log + off;
        size_t n = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
                   (size_t)p[2] << 8 | p[3];
        cr_assert_leq(off + 4 + n, len, "%s: a truncated entry", path);
        struct raft_buffer buf = {(void *)(p + 4), n};
        void *res;
        int rc = fsm_apply(&a->fsm, &buf, &res);
        cr_assert_eq(rc, 0, "%s entry %d: %s", path, entries,
                     assay_strerror(rc));
        off += 4 + n;
        entries++;
    }
    free(log);
    cr_expect_eq(entries, fixture_len(version));
    snprintf(path, sizeof path, STATE_FIXTURES "/v%d/snapshot.bin", version);
    char *snap = slurp(path, &len);
    struct raft_buffer buf = {raft_malloc(len), len};
    memcpy(buf.base, snap, len);
    free(snap);
    cr_assert_eq(fsm_restore(&b->fsm, &buf), 0, "%s does not load", path);
}

static void expect_same_dumps(json_t *da, json_t *db)
{
    char *ta = jtext(da), *tb = jtext(db);
    cr_expect(json_equal(da, db), "\n  replayed: %s\n  restored: %s", ta, tb);
    free(ta);
    free(tb);
}

Test(raft_fixture, version_1_log_and_snapshot_still_load)
{
    const char *out = getenv("ASSAY_WRITE_STATE_FIXTURE");
    if (out && *out) {
        write_state_fixture(out);
        return;
    }
    solo a, b;
    load_fixture(1, &a, &b);
    json_t *da = assay_state_dump(a.m.state), *db = assay_state_dump(b.m.state);
    drop_history(da);
    drop_history(db);
    expect_same_dumps(da, db);
    /* Where version 1 left the jobs, in both; a log from before feature
     * levels is at level 1. */
    expect_every(da);
    expect_every(db);
    expect_job(db, "batch-1", "running", 1);
    cr_expect_str_eq(dump_leader(db), "node-0");
    cr_expect_eq(assay_state_level(a.m.state), 1);
    cr_expect_eq(assay_state_level(b.m.state), 1);
    json_decref(da);
    json_decref(db);
    member_fini(&a.m);
    member_fini(&b.m);
}

Test(raft_fixture, version_7_log_and_snapshot_still_load)
{
    solo a, b;
    load_fixture(7, &a, &b);
    json_t *da = assay_state_dump(a.m.state), *db = assay_state_dump(b.m.state);
    expect_same_dumps(da, db);
    cr_expect_eq(assay_state_level(b.m.state), 8);
    for (int i = 0; i < 2; i++) {
        assay_state *st = i ? b.m.state : a.m.state;
        const assay_spec_rec *s = assay_state_spec(st, "nightly-2");
        cr_assert_not_null(s);
        cr_expect_str_eq(s->title, "passwd is 0644");
        cr_expect_str_eq(s->series, "nightly");
        cr_expect_not_null(s->controls);
        const assay_job *j1 = assay_state_job(st, "nightly-1-0"),
                        *j2 = assay_state_job(st, "nightly-2-0");
        cr_assert(j1 && j1->end && j2 && j2->end);
        cr_expect_eq(j1->end->change, ASSAY_DRIFT_NEW);
        cr_expect_eq(j2->end->change, ASSAY_DRIFT_REGRESSED);
        cr_expect_eq(j2->end->previous, ASSAY_STATUS_PASS);
        cr_expect_eq(j2->end->status, ASSAY_STATUS_FAIL);
        cr_expect_not_null(j2->end->changed);
        cr_expect_eq(j2->end->pos, j1->end->pos + 1);
        cr_assert_not_null(j2->end->host);
        cr_expect_str_eq(j2->end->host->hostname, "h1");
        cr_expect_eq(strlen(j2->end->sha256), 64);
        cr_expect_eq(assay_state_stream_after(st, j1->end->pos), j2);
        cr_expect_eq(assay_state_stream_end(st), j2->end->pos);
        cr_expect_eq(assay_state_drift_count(st), 1);
        const assay_consumer_rec *siem = assay_state_consumer(st, "siem"),
                                 *audit = assay_state_consumer(st, "audit");
        cr_assert(siem && audit);
        cr_expect_eq(siem->acked, 1);
        cr_expect_not(siem->behind);
        cr_expect_eq(siem->acked_ms, 8500);
        cr_expect(audit->behind);
        cr_expect_eq(assay_state_stream_hold(st), 1);
    }
    /* Evidence stays out of format 6, which a member of the release
     * before reads. */
    json_t *v6 = assay_state_dump_format(b.m.state, 6);
    char *t6 = jtext(v6);
    cr_expect_null(strstr(t6, "\"end\""), "%s", t6);
    cr_expect_null(strstr(t6, "\"series\""), "%s", t6);
    cr_expect_null(json_object_get(v6, "hosts"));
    free(t6);
    json_decref(v6);
    json_decref(da);
    json_decref(db);
    member_fini(&a.m);
    member_fini(&b.m);
}

Test(raft_fixture, version_6_log_and_snapshot_still_load)
{
    solo a, b;
    load_fixture(6, &a, &b);
    json_t *da = assay_state_dump(a.m.state), *db = assay_state_dump(b.m.state);
    expect_same_dumps(da, db);
    cr_expect_eq(assay_state_level(b.m.state), 7);
    for (int i = 0; i < 2; i++) {
        assay_state *st = i ? b.m.state : a.m.state;
        const assay_sched_rec *r = assay_state_schedule(st, "hourly");
        cr_assert_not_null(r);
        cr_expect(r->paused);
        cr_expect_str_eq(r->note, "maintenance");
        cr_expect_eq(r->cursor_ms, 5 * 3600000);
        /* The first run was cancelled and restarted; the buffered one
         * waits, the schedule being paused. */
        cr_expect_eq(r->started, 1);
        cr_expect_eq(r->buffered, 1);
        cr_expect_eq(r->missed, 3);
        cr_expect_eq(r->n_active, 1);
        cr_expect_eq(r->n_buffer, 1);
        cr_expect_eq(r->overlap, ASSAY_OVERLAP_BUFFER_ONE);
        const assay_spec_rec *s = assay_state_spec(st, "hourly.19700101T010000Z");
        cr_assert_not_null(s);
        cr_expect_eq(s->sched, r);
        cr_expect_eq(s->submitted_ms, 6100);
        cr_expect_str_eq(r->by_name, "alice");
        const assay_job *j = assay_state_job(st, "hourly.19700101T010000Z-0");
        cr_assert_not_null(j);
        cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
        cr_expect_eq(j->attempt, 1);
        cr_expect_eq(j->base, 1);
        cr_expect_eq(j->n_attempts, 1);
        cr_expect_str_eq(j->reason, "restarted by alice (admin)");
        cr_expect_eq(assay_state_specs_by(st, ASSAY_SPECS_BY_SCHEDULE,
                                          "hourly"),
                     s);
    }
    /* Schedules stay out of format 5, which a member of the release
     * before reads. */
    json_t *v5 = assay_state_dump_format(b.m.state, 5);
    cr_expect_null(json_object_get(v5, "schedules"));
    char *t5 = jtext(v5);
    cr_expect_null(strstr(t5, "\"schedule\""), "%s", t5);
    free(t5);
    json_decref(v5);
    json_decref(da);
    json_decref(db);
    member_fini(&a.m);
    member_fini(&b.m);
}

Test(raft_fixture, version_5_log_and_snapshot_still_load)
{
    solo a, b;
    load_fixture(5, &a, &b);
    json_t *da = assay_state_dump(a.m.state), *db = assay_state_dump(b.m.state);
    expect_same_dumps(da, db);
    cr_expect_eq(assay_state_level(b.m.state), 6);
    for (int i = 0; i < 2; i++) {
        assay_state *st = i ? b.m.state : a.m.state;
        expect_job(i ? db : da, "batch-4", "completed", 2);
        const assay_job *j = assay_state_job(st, "batch-4");
        cr_assert_not_null(j);
        const assay_estimate *e = assay_state_estimate(st, j->spec->action);
        cr_assert_not_null(e, "no estimate for %s", j->spec->action);
        cr_expect_eq(e->n, 1);
        cr_expect_eq(e->mean_us, 250000);
        cr_expect_eq(e->p90_us, 250000);
        cr_expect_eq(e->at, 5250);
        const assay_spec_rec *p = assay_state_spec(st, "packed");
        cr_assert_not_null(p);
        cr_expect_eq(p->cpu_milli, 1500);
        cr_expect(p->pack);
    }
    /* Estimates, CPU requests and placement stay out of format 4, which
     * a member of the release before reads. */
    json_t *v4 = assay_state_dump_format(b.m.state, 4);
    cr_expect_null(json_object_get(v4, "estimates"));
    char *t4 = jtext(v4);
    cr_expect_null(strstr(t4, "cpu_milli"), "%s", t4);
    cr_expect_null(strstr(t4, "placement"), "%s", t4);
    free(t4);
    cr_expect_not_null(json_object_get(db, "estimates"));
    json_decref(v4);
    json_decref(da);
    json_decref(db);
    member_fini(&a.m);
    member_fini(&b.m);
}

Test(raft_fixture, version_4_log_and_snapshot_still_load)
{
    solo a, b;
    load_fixture(4, &a, &b);
    json_t *da = assay_state_dump(a.m.state), *db = assay_state_dump(b.m.state);
    expect_same_dumps(da, db);
    cr_expect_eq(assay_state_level(b.m.state), 5);
    for (int i = 0; i < 2; i++) {
        assay_state *st = i ? b.m.state : a.m.state;
        const assay_enrolled_rec *e = assay_state_enrolled(st, "rt-7");
        cr_assert_not_null(e);
        cr_expect_str_eq(e->role, "runtime");
        cr_expect_str_eq(e->by_name, "alice");
        cr_expect_eq(assay_state_enrolled_key(st, e->key), e);
        /* Used up, revoked; the third still pending. */
        cr_expect_null(assay_state_token(st, "rt-7"));
        cr_expect_null(assay_state_token(st, "rt-8"));
        const assay_token_rec *t = assay_state_token(st, "ci-2");
        cr_assert_not_null(t);
        cr_expect_str_eq(t->role, "submit");
        cr_expect_eq(t->expires_ms, 90000);
        cr_expect_eq(assay_state_tokens_live(st, 89999), 1);
        cr_expect_eq(assay_state_tokens_live(st, 90000), 0);
    }
    /* Keys stay out of format 3, which a member of the release before
     * reads. */
    json_t *v3 = assay_state_dump_format(b.m.state, 3);
    char *text = jtext(v3);
    cr_expect_null(strstr(text, "rt-7"), "%s", text);
    free(text);
    json_decref(v3);
    json_decref(da);
    json_decref(db);
    member_fini(&a.m);
    member_fini(&b.m);
}

Test(raft_fixture, version_3_log_and_snapshot_still_load)
{
    solo a, b;
    load_fixture(3, &a, &b);
    json_t *da = assay_state_dump(a.m.state), *db = assay_state_dump(b.m.state);
    expect_same_dumps(da, db);
    cr_expect_eq(assay_state_level(b.m.state), 4);
    for (int i = 0; i < 2; i++) {
        assay_state *st = i ? b.m.state : a.m.state;
        const assay_spec_rec *s = assay_state_spec(st, "ci");
        cr_assert_not_null(s);
        cr_expect_str_eq(s->by_name ? s->by_name : "", "ci-bot");
        cr_expect_str_eq(s->by_role ? s->by_role : "", "submit");
        const assay_job *j = assay_state_job(st, "ci-1");
        cr_assert_not_null(j);
        cr_expect_eq(j->state, ASSAY_JOB_CANCELLED);
        cr_expect_str_eq(j->reason ? j->reason : "",
                         "cancelled by alice (admin)");
    }
    /* Who submitted stays out of format 2, which a member of the
     * release before reads. */
    json_t *v2 = assay_state_dump_format(b.m.state, 2);
    char *text = jtext(v2);
    cr_expect_null(strstr(text, "ci-bot"), "%s", text);
    free(text);
    json_decref(v2);
    json_decref(da);
    json_decref(db);
    member_fini(&a.m);
    member_fini(&b.m);
}

Test(raft_fixture, version_2_log_and_snapshot_still_load)
{
    solo a, b;
    load_fixture(2, &a, &b);
    json_t *da = assay_state_dump(a.m.state), *db = assay_state_dump(b.m.state);
    expect_same_dumps(da, db);
    /* batch-2 expired, the rest where version 1 left them, and batch-4's
     * history (one attempt, with its clock) came through the snapshot. */
    cr_expect_null(dump_job(db, "batch-2"));
    cr_expect_null(assay_state_job(b.m.state, "batch-2"));
    expect_job(db, "batch-0", "completed", 1);
    expect_job(db, "batch-4", "queued", 1);
    const assay_job *j = assay_state_job(b.m.state, "batch-4");
    cr_assert_not_null(j);
    cr_assert_eq(j->n_attempts, 1);
    cr_expect_eq(j->attempts[0].start_ms, 2000);
    cr_expect_eq(j->attempts[0].end_ms, 2500);
    cr_expect_str_eq(j->attempts[0].runtime, "rt-a");
    cr_expect_str_eq(j->attempts[0].reason, "exit 3");
    cr_expect_eq(assay_state_level(b.m.state), 2);
    /* Jobs that ended before clocks count from the upgrade. */
    cr_expect_eq(assay_state_job(b.m.state, "batch-0")->ended_ms, 1000);
    json_decref(da);
    json_decref(db);
    member_fini(&a.m);
    member_fini(&b.m);
}
