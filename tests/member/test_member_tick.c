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

#include "harness.h"
#include "member_fixture.h"

/* The next dispatch to r, of one job: its attempt of `job`. */
static int64_t expect_dispatch_of(mf_rt *r, const char *job)
{
    json_t *d = mf_rt_expect(r, ASSAY_RT_DISPATCH);
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

/* A plain ok result, no data (what retention keeps or expires). */
static json_t *ok_result(void)
{
    return json_pack("{s:s, s:[], s:{}}", "status", "ok", "findings",
                     "data");
}

TestSuite(member_tick, .init = mf_setup, .fini = mf_teardown);

/* Heartbeats stop: dead after heartbeat_misses intervals, its running job
 * requeued at once and its credit gone; a heartbeat brings it back, and
 * the job goes out again as attempt 2. */
Test(member_tick, silent_runtime_is_dead_and_its_jobs_requeued)
{
    conf.heartbeat_misses = 2;
    mf_rt *r = mf_rt_open("rt1");
    r->beat_ms = 40;
    mf_rt_register_ok(r, 200, json_object());
    mf_submit("s", 1, 60000);
    r->limit = 3; /* more than it will be sent */
    mf_rt_heartbeat(r, NULL);
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
    s_rt *s = mf_session("rt1");
    cr_assert_not_null(s, "session dropped together with the death");
    cr_expect_eq(s->sent, 1);
    cr_expect_eq(s->limit, 1, "a dead runtime keeps no credit");

    r->limit = 4;
    mf_rt_heartbeat(r, NULL);
    UNTIL(rt_alive("rt1"), "a heartbeat did not bring rt1 back");
    cr_expect_eq(expect_dispatch_of(r, "s-0"), 2);
    cr_expect_str_eq(j->runtime, "rt1");
}

/* What a dead runtime held moves in one step: one requeue, then one plan
 * that places every job on a runtime still alive, in one message. */
Test(member_tick, a_dead_runtimes_jobs_are_replanned_in_one_step)
{
    conf.heartbeat_misses = 2;
    mf_rt *a = mf_rt_open("rt-a"), *b = mf_rt_open("rt-b");
    mf_rt_register_ok(a, 200, json_object());
    mf_rt_register_ok(b, 200, json_object());
    a->beat_ms = b->beat_ms = 40;
    mf_submit("s", 3, 60000);
    a->limit = 3;
    mf_rt_heartbeat(a, NULL);
    json_decref(mf_rt_expect(a, ASSAY_RT_DISPATCH));
    UNTIL(assay_state_count(m->state, ASSAY_JOB_RUNNING) == 3,
          "rt-a never ran the three jobs");
    b->limit = 3;
    a->beat_ms = 0; /* silence */
    json_t *d = mf_rt_expect(b, ASSAY_RT_DISPATCH);
    const json_t *jobs = json_object_get(d, "jobs");
    cr_expect_eq(json_array_size(jobs), 3,
                 "rt-a's jobs came to rt-b in %zu messages, not one",
                 json_array_size(jobs) ? 3 / json_array_size(jobs) : 0);
    size_t i;
    json_t *x;
    json_array_foreach(jobs, i, x) {
        assay_rtmsg_dispatch it;
        cr_assert(assay_rtmsg_read_dispatch(x, &it));
        cr_expect_eq(it.attempt, 2, "%s", it.job);
        const assay_job *j = assay_state_job(m->state, it.job);
        cr_expect_str_eq(j->attempts[0].reason, "runtime dead");
    }
    json_decref(d);
    cr_expect_not(rt_alive("rt-a"));
}

static uint64_t last_index(void)
{
    assay_consensus_status st = {.struct_size = sizeof st};
    cr_assert_eq(m->cops->status(m->cons, &st), 0);
    return st.last_index;
}

/* A silent runtime is declared dead once: ticks that come before that is
 * applied commit nothing more (with raft, each would be a log entry and
 * a warning). */
Test(member_tick, a_death_is_committed_once)
{
    mf_rt_up("rt1", 200, json_object());
    s_rt *s = mf_session("rt1");
    cr_assert_not_null(s);
    s->last_seen_ms = assay_now_ms() - 60000; /* long silent */
    uint64_t before = last_index();
    /* Two looks for silent runtimes, nothing applied in between (no
     * loop turn). */
    for (int i = 0; i < 2 * LIVENESS_TICKS; i++)
        mb_tick(m);
    cr_expect_eq(last_index(), before + 1, "the death was committed %llu "
                 "times", (unsigned long long)(last_index() - before));
    UNTIL(!rt_alive("rt1"), "rt1 was never marked dead");
    cr_expect_null(assay_index_get(m->flipping, "rt1"));
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
    mf_rt_up("rt1", 50, json_object());
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
    mf_rt *r = mf_rt_up("rt1", 50, json_object());
    UNTIL(!mf_session("rt1"), "the session was never dropped");
    cr_expect_not(rt_alive("rt1"), "dropped before it was dead");
    mf_rt_heartbeat(r, NULL);
    cr_expect_null(mf_rt_expect(r, ASSAY_RT_REREGISTER));
}

/* A result overdue past timeout + lease_grace_ms: the attempt is
 * cancelled on its runtime and the job requeued, once. */
Test(member_tick, overdue_attempt_is_cancelled_and_requeued)
{
    conf.lease_grace_ms = 0;
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit("s", 1, 100);
    mf_rt_credit(r, 1);
    cr_assert_eq(expect_dispatch_of(r, "s-0"), 1);
    json_t *c = mf_rt_expect(r, ASSAY_RT_CANCEL);
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
    mf_rt_sync(r); /* one cancel only, and no credit for a new dispatch */
}

/* A running job without a lease (running before this member led) gets
 * a fresh one from now, not an expired one. */
Test(member_tick, running_job_without_lease_gets_a_fresh_one)
{
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit("s", 1, 60000);
    mf_rt_credit(r, 1);
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
    mf_rt *r = mf_rt_up("rt1", 1000, json_object());
    mf_submit("s", 3, 60000);
    mf_rt_credit(r, 3);
    json_decref(mf_rt_expect(r, ASSAY_RT_DISPATCH));
    mf_rt_result(r, "s-0", 1, ok_result());
    mf_rt_result(r, "s-1", 1, ok_result());
    mf_rt_result(r, "s-2", 1, ok_result());
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
    mf_rt *gone = mf_rt_open("gone"), *kept = mf_rt_open("kept");
    kept->beat_ms = 100;
    mf_rt_register_ok(kept, 1000, json_object());
    mf_rt_register_ok(gone, 20, json_object());
    UNTIL(!assay_state_runtime(m->state, "gone"),
          "the dead runtime was never forgotten");
    cr_expect_null(mf_session("gone"));
    cr_expect(rt_alive("kept"));
    cr_expect_not_null(mf_session("kept"));
}
