/* tests/member/test_member_tick.c - core/member/tick.c: the member's
 * timers, on a real member (consensus `none`, on 127.0.0.1) whose
 * runtimes are real DEALER links. A runtime whose heartbeats stop is
 * marked dead after heartbeat_misses intervals, its running jobs are
 * requeued and notify_command hears of it (and is reaped); speaking again
 * brings it back; its session is dropped later, and the runtime itself
 * forgotten after retain_runtime_seconds. Overdue results cost the attempt
 * (cancel + requeue); finished jobs past retain_jobs are expired. Waits
 * are bounded; only outcomes are asserted, never how long they took. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/codec.h"
#include "harness.h"
#include "member/internal.h"

#define WAIT_MS 10000
#define MAX_STEPS 200000

static assay_conf conf;
static assay_loop *loop;
static assay_leader *m;

static void keepalive(void);

static void step(void)
{
    keepalive();
    cr_assert_eq(assay_loop_once(loop, 2), 0);
}

/* Steps the member until cond holds, bounded in steps and time. */
#define UNTIL(cond, ...)                                                       \
    do {                                                                       \
        int64_t until_ = assay_now_ms() + WAIT_MS;                             \
        for (int n_ = 0; !(cond); n_++) {                                      \
            if (n_ >= MAX_STEPS || assay_now_ms() > until_)                    \
                cr_assert_fail(__VA_ARGS__);                                   \
            step();                                                            \
        }                                                                      \
    } while (0)

/* ---- runtimes: DEALER links speaking the runtime protocol ------------- */

typedef struct {
    assay_link *link;
    int id;
    char name[64];
    int64_t limit, mem; /* what its heartbeats say; mem -1: not said */
    int64_t beat_ms, beat_at; /* heartbeats on its own (0: silent) */
} rt_t;

static rt_t rts[4];
static int nrts;

static rt_t *rt_open(const char *name)
{
    char err[512];
    cr_assert_lt(nrts, 4);
    rt_t *r = &rts[nrts++];
    *r = (rt_t){.mem = -1};
    strlcpy(r->name, name, sizeof r->name);
    cr_assert_eq(assay_link_new(NULL, "zmq", NULL, 1u << 20, &r->link, err,
                                sizeof err),
                 0, "%s", err);
    r->id = assay_link_open(r->link, ASSAY_LINK_CLIENT, conf.listen, err,
                            sizeof err);
    cr_assert_geq(r->id, 0, "%s", err);
    return r;
}

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} packed;

static msgpack_packer *pk_init(packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
    return &p->pk;
}

static void rt_send_packed(rt_t *r, const char *verb, packed *p)
{
    assay_bytes body = {(const uint8_t *)p->sb.data, p->sb.size};
    cr_assert_eq(assay_link_send_raw(r->link, r->id, NULL,
                                     ASSAY_RUNTIME_PROTO, verb, &body),
                 0);
    msgpack_sbuffer_destroy(&p->sb);
}

/* Appends the attempts of `running` ([{job, attempt}]), as runtime.c does. */
static void pack_running(msgpack_packer *pk, const json_t *running)
{
    size_t i;
    json_t *x;
    json_array_foreach(running, i, x) {
        assay_rtmsg_pack_attempt(
            pk, &(assay_rtmsg_attempt){
                    mb_str(x, "job"),
                    json_integer_value(json_object_get(x, "attempt")), false});
    }
}

/* typed@version offering action echo, in assay_catalog_json's shape. */
static json_t *catalog(const char *version)
{
    return json_pack("{s:[{s:s, s:s, s:[{s:s, s:[]}]}]}", "plugins", "name",
                     "typed", "version", version, "actions", "name", "echo",
                     "params");
}

/* Sends a registration; steals labels, cat and running (may be NULL). */
static void rt_register(rt_t *r, int64_t hb, json_t *labels, json_t *cat,
                        json_t *running)
{
    packed p;
    msgpack_packer *pk = pk_init(&p);
    assay_rtmsg_pack_register(pk,
                              &(assay_rtmsg_register){.id = r->name,
                                                      .heartbeat_ms = hb,
                                                      .labels = labels,
                                                      .slots = 2,
                                                      .memory_mb = 1024,
                                                      .catalog = cat},
                              json_array_size(running));
    pack_running(pk, running);
    rt_send_packed(r, ASSAY_RT_REGISTER, &p);
    json_decref(labels);
    json_decref(cat);
    json_decref(running);
}

/* Sends a heartbeat with r's credit; steals running (may be NULL). */
static void rt_heartbeat(rt_t *r, json_t *running)
{
    packed p;
    msgpack_packer *pk = pk_init(&p);
    assay_rtmsg_pack_heartbeat(pk,
                               &(assay_rtmsg_credit){.id = r->name,
                                                     .limit = r->limit,
                                                     .mem_available_mb =
                                                         r->mem,
                                                     .why = ""},
                               json_array_size(running));
    pack_running(pk, running);
    rt_send_packed(r, ASSAY_RT_HEARTBEAT, &p);
    json_decref(running);
}

/* Sends one result report; steals result. */
static void rt_result(rt_t *r, const char *job, int64_t attempt,
                      json_t *result)
{
    packed p;
    msgpack_packer *pk = pk_init(&p);
    assay_rtmsg_pack_results(pk, r->name, r->limit, 1);
    assay_rtmsg_pack_report(pk, job, attempt);
    cr_assert_eq(assay_codec_pack(pk, result), 0);
    rt_send_packed(r, ASSAY_RT_RESULT, &p);
    json_decref(result);
}

/* Runtimes with beat_ms send heartbeats (listing nothing) while the
 * test steps the member. */
static void keepalive(void)
{
    int64_t now = assay_now_ms();
    for (int i = 0; i < nrts; i++) {
        rt_t *r = &rts[i];
        if (r->beat_ms && now >= r->beat_at) {
            r->beat_at = now + r->beat_ms;
            rt_heartbeat(r, NULL);
        }
    }
}

/* The next message to r, stepping the member meanwhile; pulses are
 * skipped unless `want` is one. Asserts its verb; returns its body (NULL:
 * none), which the caller frees. */
static json_t *rt_expect(rt_t *r, const char *want)
{
    char err[512];
    int64_t until = assay_now_ms() + WAIT_MS;
    for (int n = 0;; n++) {
        assay_link_msg msg;
        int rc = assay_link_recv(r->link, &msg, err, sizeof err);
        cr_assert_geq(rc, 0, "runtime %s: %s", r->name, err);
        if (rc == 1) {
            bool skip = !strcmp(msg.verb, ASSAY_RT_PULSE) &&
                        strcmp(want, ASSAY_RT_PULSE);
            cr_assert(skip || !strcmp(msg.verb, want),
                      "runtime %s: got '%s' while waiting for '%s'", r->name,
                      msg.verb, want);
            json_t *b = skip ? NULL : json_incref(msg.body);
            assay_link_msg_fini(&msg);
            if (!skip)
                return b;
            continue;
        }
        if (n >= MAX_STEPS || assay_now_ms() > until)
            cr_assert_fail("runtime %s: no '%s' came", r->name, want);
        step();
    }
}

/* A heartbeat round trip: whatever the member meant to send r before
 * arrives first, so getting the pulse first proves it sent nothing (for
 * a runtime that does not beat on its own meanwhile). */
static void rt_sync(rt_t *r)
{
    rt_heartbeat(r, NULL);
    json_decref(rt_expect(r, ASSAY_RT_PULSE));
}

static void rt_register_ok(rt_t *r, int64_t hb, json_t *labels)
{
    rt_register(r, hb, labels, catalog("1.0.0"), NULL);
    json_t *b = rt_expect(r, ASSAY_RT_REGISTERED);
    cr_assert_str_eq(mb_str(b, "leader"), "m1");
    json_decref(b);
}

static s_rt *session(const char *id)
{
    return assay_index_get(m->rts, id);
}

/* ---- jobs -------------------------------------------------------------- */

/* Commits a JobSpec `id` of n jobs of typed.echo@1.0.0, as assay.submit
 * would once it resolved and checked it, and waits until it is queued. */
static void submit(const char *id, int n, int64_t timeout_ms)
{
    assay_cmd_list *jobs = assay_cmd_list_new();
    char jid[96];
    json_t *params = json_object();
    for (int i = 0; i < n; i++) {
        snprintf(jid, sizeof jid, "%s-%d", id, i);
        cr_assert_eq(assay_cmd_list_job(jobs, jid, params), 0);
    }
    json_t *empty = json_object();
    assay_cmd_spec spec = {.id = id,
                           .action = "typed.echo",
                           .version = "",
                           .resolved = "1.0.0",
                           .labels = empty,
                           .selector = empty,
                           .timeout_ms = timeout_ms,
                           .max_attempts = 3};
    cr_assert_eq(mb_commit(m, assay_cmd_submit(&spec, &jobs), mb_ignore,
                           NULL),
                 0);
    json_decref(empty);
    json_decref(params);
    UNTIL(assay_state_job(m->state, jid), "JobSpec %s never applied", id);
}

/* The next dispatch to r, of one job: its attempt of `job`. */
static int64_t expect_dispatch_of(rt_t *r, const char *job)
{
    json_t *d = rt_expect(r, ASSAY_RT_DISPATCH);
    const json_t *jobs = json_object_get(d, "jobs");
    cr_assert_eq(json_array_size(jobs), 1);
    assay_rtmsg_dispatch it;
    cr_assert(assay_rtmsg_read_dispatch(json_array_get(jobs, 0), &it));
    cr_assert_str_eq(it.job, job);
    int64_t attempt = it.attempt;
    json_decref(d);
    return attempt;
}

static bool rt_alive(const char *id)
{
    assay_runtime_rec *rec = assay_state_runtime(m->state, id);
    cr_assert_not_null(rec, "runtime %s unknown", id);
    return rec->alive;
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static json_t *ok_result(void)
{
    return json_pack("{s:s, s:[], s:{}}", "status", "ok", "findings",
                     "data");
}

static void setup(void)
{
    char err[512];
    cr_assert_eq(assay_conf_init(&conf), 0);
    conf.member_id = 1;
    cr_assert_not_null(loop = assay_loop_new());
    int rc = ASSAY_EBUSY;
    /* A port taken meanwhile by another process: try fresh ones. */
    for (int t = 0; t < 5 && rc == ASSAY_EBUSY; t++) {
        snprintf(conf.listen, sizeof conf.listen, "tcp://127.0.0.1:%d",
                 harness_port());
        snprintf(conf.events, sizeof conf.events, "tcp://127.0.0.1:%d",
                 harness_port());
        rc = assay_leader_new(&conf, "m1", loop, &m, err, sizeof err);
    }
    cr_assert_eq(rc, 0, "%s", err);
    UNTIL(m->leading, "the member never took the lead");
}

static void teardown(void)
{
    for (int i = 0; i < nrts; i++)
        assay_link_destroy(&rts[i].link);
    assay_leader_destroy(&m);
    assay_loop_destroy(&loop);
    assay_conf_fini(&conf);
}


TestSuite(member_tick, .init = setup, .fini = teardown);

/* Heartbeats stop: dead after heartbeat_misses intervals, its running job
 * requeued at once and its credit gone; a heartbeat brings it back, and
 * the job goes out again as attempt 2. */
Test(member_tick, silent_runtime_is_dead_and_its_jobs_requeued)
{
    conf.heartbeat_misses = 2;
    rt_t *r = rt_open("rt1");
    r->beat_ms = 40;
    rt_register_ok(r, 200, json_object());
    submit("s", 1, 60000);
    r->limit = 3; /* more than it will be sent */
    rt_heartbeat(r, NULL);
    cr_assert_eq(expect_dispatch_of(r, "s-0"), 1);
    assay_job *j = assay_state_job(m->state, "s-0");
    cr_assert_eq(j->state, ASSAY_JOB_RUNNING);

    r->beat_ms = 0; /* silence */
    UNTIL(!rt_alive("rt1"), "rt1 was never marked dead");
    UNTIL(j->state != ASSAY_JOB_RUNNING,
          "s-0 stayed running on a dead runtime");
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    cr_expect_str_eq(j->reason, "runtime dead");
    cr_expect_eq(j->attempt, 1);
    s_rt *s = session("rt1");
    cr_assert_not_null(s, "session dropped together with the death");
    cr_expect_eq(s->sent, 1);
    cr_expect_eq(s->limit, 1, "a dead runtime keeps no credit");

    r->limit = 4;
    rt_heartbeat(r, NULL);
    UNTIL(rt_alive("rt1"), "a heartbeat did not bring rt1 back");
    cr_expect_eq(expect_dispatch_of(r, "s-0"), 2);
    cr_expect_str_eq(j->runtime, "rt1");
}

/* notify_command runs once the death is committed, with the event on its
 * stdin and in its environment, and is reaped when it exits. */
Test(member_tick, notify_command_hears_of_a_death_and_is_reaped)
{
    char *dir = harness_tmpdir();
    snprintf(conf.notify_command, sizeof conf.notify_command,
             "cat > %s/event.json && echo \"$ASSAY_EVENT $ASSAY_RUNTIME\" > "
             "%s/env.tmp && mv %s/env.tmp %s/env",
             dir, dir, dir, dir);
    conf.heartbeat_misses = 2;
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 50, json_object());
    char env[512], ev[512];
    snprintf(env, sizeof env, "%s/env", dir);
    snprintf(ev, sizeof ev, "%s/event.json", dir);
    UNTIL(file_exists(env), "notify_command never ran");
    cr_expect_not(rt_alive("rt1"));
    char *text;
    cr_assert_eq(harness_sh(&text, "cat %s", env), 0);
    cr_expect_str_eq(text, "runtime.dead rt1\n");
    free(text);
    json_error_t je;
    json_t *e = json_load_file(ev, 0, &je);
    cr_assert_not_null(e, "event.json: %s", je.text);
    cr_expect_str_eq(mb_str(e, "event"), "runtime.dead");
    cr_expect_str_eq(mb_str(e, "runtime"), "rt1");
    cr_expect_str_eq(mb_str(e, "leader"), "m1");
    json_decref(e);
    UNTIL(m->nhooks == 0, "the hook was never reaped");
    free(dir);
}

/* A session silent for twice its allowance is dropped; the runtime is
 * then a stranger, told to register again. */
Test(member_tick, silent_session_is_dropped)
{
    conf.heartbeat_misses = 2;
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 50, json_object());
    UNTIL(!session("rt1"), "the session was never dropped");
    cr_expect_not(rt_alive("rt1"), "dropped before it was dead");
    rt_heartbeat(r, NULL);
    cr_expect_null(rt_expect(r, ASSAY_RT_REREGISTER));
}

/* A result overdue past timeout + lease_grace_ms: the attempt is
 * cancelled on its runtime and the job requeued, once. */
Test(member_tick, overdue_attempt_is_cancelled_and_requeued)
{
    conf.lease_grace_ms = 0;
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 1, 100);
    r->limit = 1;
    rt_sync(r);
    cr_assert_eq(expect_dispatch_of(r, "s-0"), 1);
    json_t *c = rt_expect(r, ASSAY_RT_CANCEL);
    assay_rtmsg_attempt a;
    cr_assert(assay_rtmsg_read_attempt(c, &a));
    cr_expect_str_eq(a.job, "s-0");
    cr_expect_eq(a.attempt, 1);
    json_decref(c);
    assay_job *j = assay_state_job(m->state, "s-0");
    UNTIL(j->state == ASSAY_JOB_QUEUED, "s-0 was not requeued");
    cr_expect(j->reason && strstr(j->reason, "lease expired"), "reason: %s",
              j->reason ? j->reason : "(none)");
    cr_expect(rt_alive("rt1"), "a lost attempt is not a dead runtime");
    rt_sync(r); /* one cancel only, and no credit for a new dispatch */
}

/* A running job without a lease (running before this member led) gets
 * a fresh one from now, not an expired one. */
Test(member_tick, running_job_without_lease_gets_a_fresh_one)
{
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 1, 60000);
    r->limit = 1;
    rt_sync(r);
    cr_assert_eq(expect_dispatch_of(r, "s-0"), 1);
    assay_job *j = assay_state_job(m->state, "s-0");
    j->lease_ms = 0;
    int64_t before = assay_now_ms();
    UNTIL(j->lease_ms != 0, "no lease given");
    cr_expect_geq(j->lease_ms, before + 60000 + conf.lease_grace_ms);
    cr_expect_eq(j->state, ASSAY_JOB_RUNNING);
    cr_expect_not(j->reported);
}

/* retain_jobs: finished jobs beyond it are expired, oldest first. */
Test(member_tick, finished_jobs_past_retention_are_expired)
{
    conf.retain_jobs = 1;
    rt_t *r = rt_open("rt1");
    rt_register_ok(r, 1000, json_object());
    submit("s", 3, 60000);
    r->limit = 3;
    rt_sync(r);
    json_decref(rt_expect(r, ASSAY_RT_DISPATCH));
    rt_result(r, "s-0", 1, ok_result());
    rt_result(r, "s-1", 1, ok_result());
    rt_result(r, "s-2", 1, ok_result());
    UNTIL(assay_state_job_count(m->state) == 1 && !m->expiring.busy,
          "finished jobs beyond retain_jobs were not expired");
    assay_job *j = assay_state_job(m->state, "s-2");
    cr_assert_not_null(j, "the newest finished job was expired");
    cr_expect_eq(j->state, ASSAY_JOB_COMPLETED);
}

/* retain_runtime_seconds: a dead runtime without session or jobs is
 * forgotten; a live one is kept. */
Test(member_tick, dead_runtimes_are_forgotten)
{
    conf.heartbeat_misses = 2;
    conf.retain_runtime_seconds = 1;
    rt_t *gone = rt_open("gone"), *kept = rt_open("kept");
    kept->beat_ms = 100;
    rt_register_ok(kept, 1000, json_object());
    rt_register_ok(gone, 20, json_object());
    UNTIL(!assay_state_runtime(m->state, "gone"),
          "the dead runtime was never forgotten");
    cr_expect_null(session("gone"));
    cr_expect(rt_alive("kept"));
    cr_expect_not_null(session("kept"));
}
