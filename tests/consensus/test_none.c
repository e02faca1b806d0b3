/* tests/consensus/test_none.c - the `none` consensus module, loaded as the
 * core loads it: asynchronous apply through the fd and process(), config
 * refusals, re-entrant and bounded callbacks, cancellation at close, and
 * log compaction through FSM snapshots freed with host->free. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include <assay.h>

#include "harness.h"
#include "plugin/hostapi.h"

/* ---- Fixture ---------------------------------------------------------- */

/* The host table with alloc/free counted, so a snapshot buffer the module
 * leaks, or frees with something other than host->free, shows. */
static assay_host_api host;
static void *handle;
static const assay_module *mod;
static const assay_consensus_ops *ops;

static void load(void)
{
    host = harness_counting_host();
    mod = harness_module_load(NONE_MODULE_PATH, &host, &handle);
    ops = mod->consensus;
    cr_assert_not_null(ops);
}

static void unload(void)
{
    if (handle)
        dlclose(handle);
}

TestSuite(none, .init = load, .fini = unload);

/* ---- A state machine: a counter and a sum of int64 commands ------------ */

typedef struct counter {
    uint64_t count;
    int64_t sum;
    int snapshots;      /* successful snapshot calls */
    bool fail_snapshot; /* make snapshot() fail */
    uint64_t snap_count; /* state at the last snapshot */
    int64_t snap_sum;
    unsigned char snap[16]; /* the bytes of the last snapshot */
} counter;

static int fsm_apply(void *data, const void *cmd, size_t len, void **result)
{
    counter *c = data;
    int64_t v;

    if (len != sizeof v)
        return ASSAY_EPARSE;
    memcpy(&v, cmd, sizeof v);
    c->count++;
    c->sum += v;
    *result = (void *)(uintptr_t)c->count;
    return 0;
}

static int fsm_snapshot(void *data, void **buf, size_t *len)
{
    counter *c = data;

    if (c->fail_snapshot)
        return ASSAY_EIO;
    *buf = host.alloc(sizeof c->snap);
    if (!*buf)
        return ASSAY_ENOMEM;
    memcpy(*buf, &c->count, 8);
    memcpy((char *)*buf + 8, &c->sum, 8);
    *len = sizeof c->snap;
    memcpy(c->snap, *buf, sizeof c->snap);
    c->snap_count = c->count;
    c->snap_sum = c->sum;
    c->snapshots++;
    return 0;
}

static int fsm_restore(void *data, const void *buf, size_t len)
{
    counter *c = data;

    if (len != sizeof c->snap)
        return ASSAY_EPARSE;
    memcpy(&c->count, buf, 8);
    memcpy(&c->sum, (const char *)buf + 8, 8);
    return 0;
}

static assay_consensus_config config(counter *c)
{
    return (assay_consensus_config){
        .struct_size = sizeof(assay_consensus_config),
        .id = 1,
        .address = "127.0.0.1:7400",
        .fsm = {.data = c, .apply = fsm_apply, .snapshot = fsm_snapshot,
                .restore = fsm_restore},
    };
}

static assay_consensus *open_ok(counter *c)
{
    assay_consensus_config cfg = config(c);
    assay_consensus *self = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";

    cr_assert_eq(ops->open(&cfg, &self, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(self);
    return self;
}

/* ---- Callbacks -------------------------------------------------------- */

#define MAX_CALLS 16

typedef struct calls {
    int n;
    int status[MAX_CALLS];
    uintptr_t result[MAX_CALLS];
} calls;

static void record(void *arg, int status, void *result)
{
    calls *k = arg;

    cr_assert_lt(k->n, MAX_CALLS);
    k->status[k->n] = status;
    k->result[k->n] = (uintptr_t)result;
    k->n++;
}

static int submit(assay_consensus *self, int64_t v, assay_commit_cb cb,
                  void *arg)
{
    return ops->submit(self, &v, sizeof v, cb, arg);
}

static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int rc = poll(&p, 1, ms);

    cr_assert_geq(rc, 0);
    return rc == 1 && (p.revents & POLLIN);
}

/* ---- Tests ------------------------------------------------------------ */

Test(none, descriptor)
{
    cr_expect_eq(mod->abi_major, ASSAY_ABI_MAJOR);
    cr_expect_geq(mod->struct_size, sizeof(assay_module));
    cr_expect_eq(mod->kind, ASSAY_KIND_CONSENSUS);
    cr_expect_str_eq(mod->name, "none");
    cr_expect_str_eq(mod->version, "1.0.0");
    cr_expect_str_eq(mod->license, "Apache-2.0");
    cr_expect_eq(ops->version, ASSAY_CONSENSUS_VERSION);
    cr_expect_geq(ops->struct_size, sizeof(assay_consensus_ops));
    cr_expect(ops->open && ops->close && ops->submit && ops->is_leader &&
              ops->leader && ops->fd && ops->process);
}

Test(none, refuses_missing_fsm_callbacks)
{
    static const char *const names[] = {"fsm.apply", "fsm.snapshot",
                                        "fsm.restore"};
    counter c = {0};

    for (int i = 0; i < 3; i++) {
        assay_consensus_config cfg = config(&c);
        assay_consensus *self = (assay_consensus *)&c;
        char err[ASSAY_ERRMSG_SIZE] = "";

        if (i == 0)
            cfg.fsm.apply = NULL;
        else if (i == 1)
            cfg.fsm.snapshot = NULL;
        else
            cfg.fsm.restore = NULL;
        cr_expect_eq(ops->open(&cfg, &self, err, sizeof err), ASSAY_EINVAL);
        cr_expect_null(self);
        cr_expect(strstr(err, names[i]), "'%s' should name %s", err,
                  names[i]);
    }
}

Test(none, refuses_short_config_and_several_peers)
{
    counter c = {0};
    assay_consensus_config cfg = config(&c);
    assay_consensus *self = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";
    static const char *const two[] = {"1@a:1", "2@b:1", NULL};
    static const char *const one[] = {"1@a:1", NULL};

    cfg.struct_size = offsetof(assay_consensus_config, fsm);
    cr_expect_eq(ops->open(&cfg, &self, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "bytes"), "%s", err);
    cr_expect_null(self);

    cfg = config(&c);
    cfg.peers = two;
    cr_expect_eq(ops->open(&cfg, &self, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "single-node"), "%s", err);
    cr_expect_null(self);

    cfg.peers = one;
    cr_assert_eq(ops->open(&cfg, &self, err, sizeof err), 0, "%s", err);
    ops->close(&self);
    cr_expect_null(self);
}

Test(none, leader_and_fd)
{
    counter c = {0};
    assay_consensus *self = open_ok(&c);
    assay_consensus_config cfg = config(&c);
    char buf[64];
    int fd = ops->fd(self);

    cr_expect_eq(ops->is_leader(self), 1);
    cr_expect_eq(ops->leader(self, buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "127.0.0.1:7400");
    cr_expect_eq(ops->leader(self, buf, 5), ASSAY_ERANGE);
    cr_expect_str_eq(buf, "");

    cr_assert_geq(fd, 0);
    cr_expect(fcntl(fd, F_GETFL) & O_NONBLOCK);
    cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    cr_expect(!readable(fd, 0), "readable with nothing pending");
    cr_expect_eq(ops->process(self), 0, "a spurious process() is harmless");
    ops->close(&self);

    cfg.address = NULL;
    cr_assert_eq(ops->open(&cfg, &self, NULL, 0), 0);
    cr_expect_eq(ops->leader(self, buf, sizeof buf), 0);
    cr_expect_str_eq(buf, "");
    ops->close(&self);
}

Test(none, applies_in_process_in_order)
{
    counter c = {0};
    calls k = {0};
    assay_consensus *self = open_ok(&c);
    int fd = ops->fd(self);

    cr_assert_eq(submit(self, 10, record, &k), 0);
    cr_assert_eq(submit(self, 20, record, &k), 0);
    cr_assert_eq(submit(self, 30, record, &k), 0);
    cr_expect_eq(c.count, 0, "applied inside submit()");
    cr_expect_eq(k.n, 0, "callback inside submit()");

    cr_assert(readable(fd, 1000), "fd not readable after submit()");
    cr_assert_eq(ops->process(self), 0);
    cr_expect_eq(c.count, 3);
    cr_expect_eq(c.sum, 60);
    cr_assert_eq(k.n, 3);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(k.status[i], 0);
        cr_expect_eq(k.result[i], (uintptr_t)(i + 1), "out of order at %d", i);
    }
    cr_expect(!readable(fd, 0), "fd readable with nothing pending");
    ops->close(&self);
    cr_expect_eq(k.n, 3, "applied commands cancelled at close");
}

Test(none, apply_error_reaches_the_callback)
{
    counter c = {0};
    calls k = {0};
    assay_consensus *self = open_ok(&c);

    cr_assert_eq(ops->submit(self, "abc", 3, record, &k), 0);
    cr_assert_eq(submit(self, 5, record, &k), 0);
    cr_assert_eq(ops->process(self), 0);
    cr_assert_eq(k.n, 2);
    cr_expect_eq(k.status[0], ASSAY_EPARSE);
    cr_expect_eq(k.status[1], 0, "an apply error stopped the log");
    cr_expect_eq(c.sum, 5);
    ops->close(&self);
}

Test(none, refuses_bad_commands)
{
    counter c = {0};
    calls k = {0};
    assay_consensus *self = open_ok(&c);
    char small[8] = {0};

    cr_expect_eq(ops->submit(self, small, 0, record, &k), ASSAY_EINVAL);
    cr_expect_eq(ops->submit(self, NULL, 8, record, &k), ASSAY_EINVAL);
    /* Refused on the length alone, before anything is read. */
    cr_expect_eq(ops->submit(self, small, ((size_t)64 << 20) + 1, record, &k),
                 ASSAY_ETOOBIG);
    cr_expect(!readable(ops->fd(self), 0));
    cr_expect_eq(ops->process(self), 0);
    ops->close(&self);
    cr_expect_eq(k.n, 0, "callback of a refused submit()");
    cr_expect_eq(c.count, 0);
}

/* Resubmits from its own callback while `left` lasts, as a core retrying a
 * command would; also tries a nested process(). */
typedef struct chain {
    assay_consensus *self;
    int left;
    int calls;
    int cancelled;
    int last_submit;
    int nested_process;
} chain;

static void resubmit(void *arg, int status, void *result)
{
    chain *ch = arg;

    ch->calls++;
    if (status == ASSAY_ECANCELLED)
        ch->cancelled++;
    else
        ch->nested_process = ops->process(ch->self);
    if (ch->left > 0) {
        ch->left--;
        ch->last_submit = submit(ch->self, 1, resubmit, ch);
    }
}

Test(none, callback_resubmits_into_the_next_process)
{
    counter c = {0};
    assay_consensus *self = open_ok(&c);
    chain ch = {.self = self, .left = 10};
    int fd = ops->fd(self);

    cr_assert_eq(submit(self, 1, resubmit, &ch), 0);
    for (int i = 1; i <= 11; i++) {
        cr_assert(readable(fd, 1000), "no wake-up for resubmit %d", i);
        cr_assert_eq(ops->process(self), 0);
        cr_expect_eq(ch.calls, i, "process() applied the resubmitted "
                                  "command in the same call");
        cr_expect_eq(ch.last_submit, 0);
        cr_expect_eq(ch.nested_process, ASSAY_EBUSY);
    }
    cr_expect(!readable(fd, 0));
    cr_expect_eq(c.count, 11);
    ops->close(&self);
}

Test(none, endless_resubmission_stays_bounded)
{
    counter c = {0};
    assay_consensus *self = open_ok(&c);
    chain ch = {.self = self, .left = 1 << 30};

    cr_assert_eq(submit(self, 1, resubmit, &ch), 0);
    for (int i = 1; i <= 100; i++)
        cr_assert_eq(ops->process(self), 0);
    cr_expect_eq(ch.calls, 100);
    cr_expect(readable(ops->fd(self), 0));
    /* The pending command is cancelled, and its resubmission refused. */
    ops->close(&self);
    cr_expect_null(self);
    cr_expect_eq(ch.cancelled, 1);
    cr_expect_eq(ch.last_submit, ASSAY_ECANCELLED);
}

Test(none, close_cancels_pending)
{
    counter c = {0};
    calls k = {0};
    assay_consensus *self = open_ok(&c);

    cr_assert_eq(submit(self, 1, record, &k), 0);
    cr_assert_eq(ops->process(self), 0);
    cr_assert_eq(submit(self, 2, record, &k), 0);
    cr_assert_eq(submit(self, 3, NULL, NULL), 0);
    cr_assert_eq(submit(self, 4, record, &k), 0);
    ops->close(&self);
    cr_expect_null(self);
    cr_assert_eq(k.n, 3);
    cr_expect_eq(k.status[0], 0);
    cr_expect_eq(k.status[1], ASSAY_ECANCELLED);
    cr_expect_eq(k.result[1], 0);
    cr_expect_eq(k.status[2], ASSAY_ECANCELLED);
    cr_expect_eq(c.count, 1, "close() applied pending commands");
    ops->close(&self); /* no-op on NULL */
}

Test(none, batch_limit_leaves_the_rest_for_the_next_call)
{
    counter c = {0};
    assay_consensus *self = open_ok(&c);

    for (int i = 0; i < 70000; i++)
        cr_assert_eq(submit(self, 1, NULL, NULL), 0);
    cr_assert_eq(ops->process(self), 0);
    cr_expect_eq(c.count, 65536);
    cr_expect(readable(ops->fd(self), 0), "no wake-up for the rest");
    cr_assert_eq(ops->process(self), 0);
    cr_expect_eq(c.count, 70000);
    cr_expect(!readable(ops->fd(self), 0));
    ops->close(&self);
    cr_expect_eq(harness_host_live(), 0, "snapshot buffers leaked");
}

