/* tests/core/test_schedule.c - schedules in the replicated state
 * (core/state/schedule.c): a due fire applies once (the cursor fences a
 * second proposal of it, from this leader or the next); each overlap
 * policy with a run still going; keep_runs forgets the oldest ended run;
 * pause, resume, delete; missed and nonexistent fires counted; the run
 * ids a trigger and a backfill get; a snapshot keeps all of it; below
 * level 7 nothing of it applies. Commands are built by command.c and
 * applied as log bytes, as a member does. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <assay/error.h>

#include "base/errtext.h"
#include "state/command.h"
#include "state/fsm.h"
#include "state/schedule.h"
#include "statecmd.h"

#define T0 1798761600000LL /* 2027-01-01T00:00:00Z */
#define MIN 60000LL

/* Applies cmd (destroyed); the op's status, and in *applied (if not
 * NULL) whether its first item applied. */
static int apply(assay_state *st, assay_cmd *cmd, bool *applied)
{
    cr_assert_not_null(cmd);
    json_t *res = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";
    int rc = assay_fsm_apply(st, assay_cmd_data(cmd), assay_cmd_size(cmd),
                             &res, err, sizeof err);
    if (applied)
        *applied = json_is_true(
            json_array_get(json_object_get(res, "applied"), 0));
    json_decref(res);
    assay_cmd_destroy(&cmd);
    return rc;
}

static void create(assay_state *st, const char *id, const char *overlap,
                   int keep_runs, int64_t at)
{
    json_t *def = json_pack("{s:s, s:i, s:i, s:[s]}", "overlap", overlap,
                            "keep_runs", keep_runs, "max_runs", 0, "cron",
                            "* * * * *");
    cr_assert_eq(apply(st, assay_cmd_schedule(id, def, at, "alice", "admin"),
                       NULL),
                 0);
    json_decref(def);
}

/* A fire of schedule sid at nominal, of `kind`, running a JobSpec of one
 * job; true if it applied. */
static bool fire(assay_state *st, const char *sid, int64_t nominal, int kind)
{
    char id[96], jid[128];
    assay_sched_run_id(sid, nominal, kind, id, sizeof id);
    snprintf(jid, sizeof jid, "%s-0", id);
    json_t *empty = json_object();
    assay_cmd_list *jobs = assay_cmd_list_new();
    cr_assert_eq(assay_cmd_list_job(jobs, jid, empty), 0);
    assay_cmd_spec spec = {.id = id, .action = "noop.pass", .version = "",
                           .resolved = "1.0.0", .labels = empty,
                           .selector = empty, .timeout_ms = 1000,
                           .max_attempts = 1, .schedule = sid};
    assay_cmd_list *items = assay_cmd_list_new();
    cr_assert_eq(assay_cmd_list_fire(items,
                                     &(assay_cmd_fire){.schedule = sid,
                                                       .nominal = nominal,
                                                       .kind = kind,
                                                       .spec = &spec},
                                     &jobs),
                 0);
    bool applied = false;
    cr_assert_eq(apply(st, assay_cmd_fire_batch(&items, nominal + 5),
                       &applied),
                 0);
    json_decref(empty);
    return applied;
}

static bool due(assay_state *st, const char *sid, int64_t nominal)
{
    return fire(st, sid, nominal, ASSAY_FIRE_DUE);
}

/* Ends the run of sid at nominal: its job dispatched and completed. */
static void finish(assay_state *st, const char *sid, int64_t nominal)
{
    char id[96], jid[128];
    assay_sched_run_id(sid, nominal, ASSAY_FIRE_DUE, id, sizeof id);
    snprintf(jid, sizeof jid, "%s-0", id);
    cr_assert_not_null(assay_state_job(st, jid), "%s", jid);
    sc_ok(st, json_pack("{s:i, s:s, s:[{s:s, s:i, s:s, s:s, s:I}]}", "v", 1,
                        "op", "dispatch", "items", "job", jid, "attempt", 1,
                        "runtime", "rt", "version", "1.0.0", "at",
                        (json_int_t)nominal + 10));
    sc_ok(st, json_pack("{s:i, s:s, s:[{s:s, s:i, s:{}, s:s, s:I}]}", "v", 1,
                        "op", "result", "items", "job", jid, "attempt", 1,
                        "result", "runtime", "rt", "at",
                        (json_int_t)nominal + 20));
}

static const assay_job *run_job(assay_state *st, const char *sid,
                                int64_t nominal)
{
    char id[96], jid[128];
    assay_sched_run_id(sid, nominal, ASSAY_FIRE_DUE, id, sizeof id);
    snprintf(jid, sizeof jid, "%s-0", id);
    return assay_state_job(st, jid);
}

Test(schedule, run_ids_name_the_schedule_and_the_utc_fire_time)
{
    char id[96];
    assay_sched_run_id("nightly", T0 + 90061001, ASSAY_FIRE_DUE, id,
                       sizeof id);
    cr_expect_str_eq(id, "nightly.20270102T010101Z");
    assay_sched_run_id("nightly", T0 + 90061001, ASSAY_FIRE_BACKFILL, id,
                       sizeof id);
    cr_expect_str_eq(id, "nightly.20270102T010101Z");
    assay_sched_run_id("nightly", T0 + 90061001, ASSAY_FIRE_TRIGGER, id,
                       sizeof id);
    cr_expect_str_eq(id, "nightly.t20270102T010101.001Z");
    assay_sched_run_id("leap", 951782400000LL, ASSAY_FIRE_DUE, id,
                       sizeof id); /* 2000-02-29 */
    cr_expect_str_eq(id, "leap.20000229T000000Z");
}

Test(schedule, a_due_fire_applies_once)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "allow_all", 100, T0);
    cr_expect(due(st, "s", T0 + MIN));
    /* A second proposal of the same fire (a new leader that did not see
     * the first commit) changes nothing; nor does an earlier one. */
    cr_expect_not(due(st, "s", T0 + MIN));
    cr_expect_not(due(st, "s", T0 + MIN - 1000));
    cr_expect(due(st, "s", T0 + 2 * MIN));
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->started, 2);
    cr_expect_eq(r->cursor_ms, T0 + 2 * MIN);
    cr_expect_eq(assay_state_spec_count(st), 2);
    const assay_job *j = run_job(st, "s", T0 + MIN);
    cr_assert_not_null(j);
    cr_expect_str_eq(j->spec->schedule, "s");
    cr_expect_eq(j->spec->sched, r);
    /* A fire before the schedule was made is not due. */
    cr_expect_not(due(st, "s", T0 - MIN));
    assay_state_destroy(&st);
}

Test(schedule, overlap_skip_skips_while_the_run_goes_on)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "skip", 100, T0);
    cr_expect(due(st, "s", T0 + MIN));
    cr_expect(due(st, "s", T0 + 2 * MIN)); /* applied: recorded skipped */
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->started, 1);
    cr_expect_eq(r->skipped, 1);
    cr_expect_null(run_job(st, "s", T0 + 2 * MIN));
    const assay_sched_run *last = assay_sched_run_at(r, 0);
    cr_expect_eq(last->outcome, ASSAY_RUN_SKIPPED);
    cr_expect(strstr(last->reason, "overlap skip"), "%s", last->reason);
    finish(st, "s", T0 + MIN);
    cr_expect_eq(r->n_active, 0);
    cr_expect(due(st, "s", T0 + 3 * MIN));
    cr_expect_eq(r->started, 2);
    assay_state_destroy(&st);
}

Test(schedule, buffer_one_keeps_one_run_and_starts_it_when_the_run_ends)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "buffer_one", 100, T0);
    due(st, "s", T0 + MIN);
    due(st, "s", T0 + 2 * MIN);
    due(st, "s", T0 + 3 * MIN);
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->started, 1);
    cr_expect_eq(r->buffered, 1);
    cr_expect_eq(r->skipped, 1);
    cr_expect_eq(r->n_buffer, 1);
    cr_expect_null(run_job(st, "s", T0 + 2 * MIN));
    finish(st, "s", T0 + MIN);
    /* The buffered run started as the first ended. */
    const assay_job *j = run_job(st, "s", T0 + 2 * MIN);
    cr_assert_not_null(j);
    cr_expect_eq(j->state, ASSAY_JOB_QUEUED);
    cr_expect_eq(r->started, 2);
    cr_expect_eq(r->n_buffer, 0);
    cr_expect_eq(r->n_active, 1);
    assay_state_destroy(&st);
}

Test(schedule, buffer_all_runs_them_one_after_another)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "buffer_all", 100, T0);
    for (int i = 1; i <= 4; i++)
        due(st, "s", T0 + i * MIN);
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->n_buffer, 3);
    for (int i = 1; i <= 4; i++) {
        cr_expect_eq(r->n_active, 1);
        finish(st, "s", T0 + i * MIN);
    }
    cr_expect_eq(r->started, 4);
    cr_expect_eq(r->n_active, 0);
    cr_expect_eq(r->n_buffer, 0);
    assay_state_destroy(&st);
}

Test(schedule, cancel_other_cancels_the_run_going_on)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "cancel_other", 100, T0);
    due(st, "s", T0 + MIN);
    due(st, "s", T0 + 2 * MIN);
    const assay_job *old = run_job(st, "s", T0 + MIN);
    cr_expect_eq(old->state, ASSAY_JOB_CANCELLED);
    cr_expect(strstr(old->reason, "cancel_other"), "%s", old->reason);
    cr_expect_eq(run_job(st, "s", T0 + 2 * MIN)->state, ASSAY_JOB_QUEUED);
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->started, 2);
    cr_expect_eq(r->n_active, 1);
    assay_state_destroy(&st);
}

Test(schedule, allow_all_runs_side_by_side)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "allow_all", 100, T0);
    due(st, "s", T0 + MIN);
    due(st, "s", T0 + 2 * MIN);
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->n_active, 2);
    cr_expect_eq(run_job(st, "s", T0 + MIN)->state, ASSAY_JOB_QUEUED);
    assay_state_destroy(&st);
}

Test(schedule, keep_runs_forgets_the_oldest_ended_run)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "skip", 2, T0);
    for (int i = 1; i <= 5; i++) {
        due(st, "s", T0 + i * MIN);
        finish(st, "s", T0 + i * MIN);
    }
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->n_held, 2);
    cr_expect_eq(assay_state_spec_count(st), 2);
    cr_expect_null(run_job(st, "s", T0 + 3 * MIN));
    cr_expect_not_null(run_job(st, "s", T0 + 4 * MIN));
    cr_expect_eq(r->started, 5);
    /* A run going on is kept whatever the bound. */
    create(st, "a", "allow_all", 1, T0);
    due(st, "a", T0 + MIN);
    due(st, "a", T0 + 2 * MIN);
    cr_expect_eq(assay_state_schedule(st, "a")->n_held, 2);
    finish(st, "a", T0 + MIN);
    cr_expect_eq(assay_state_schedule(st, "a")->n_held, 1);
    cr_expect_null(run_job(st, "a", T0 + MIN));
    /* An older run going on keeps no newer ended one: the run of 2 goes
     * on, those of 3 and 4 end; the newest (4) and the one going on stay,
     * 3 goes. */
    due(st, "a", T0 + 3 * MIN);
    finish(st, "a", T0 + 3 * MIN);
    due(st, "a", T0 + 4 * MIN);
    finish(st, "a", T0 + 4 * MIN);
    cr_expect_not_null(run_job(st, "a", T0 + 2 * MIN));
    cr_expect_null(run_job(st, "a", T0 + 3 * MIN));
    cr_expect_not_null(run_job(st, "a", T0 + 4 * MIN));
    cr_expect_eq(assay_state_schedule(st, "a")->n_held, 2);
    assay_state_destroy(&st);
}

Test(schedule, pause_stops_due_fires_and_resume_records_what_it_skipped)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "allow_all", 100, T0);
    cr_assert_eq(apply(st,
                       assay_cmd_schedule_state("s", true, "maintenance", 0,
                                                0, T0 + 10, "bob", "admin"),
                       NULL),
                 0);
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect(r->paused);
    cr_expect_str_eq(r->note, "maintenance");
    cr_expect_not(due(st, "s", T0 + MIN));
    cr_assert_eq(apply(st,
                       assay_cmd_schedule_state("s", false, NULL, 9, T0 + MIN,
                                                T0 + 10 * MIN, NULL, NULL),
                       NULL),
                 0);
    cr_expect_not(r->paused);
    cr_expect_null(r->note);
    cr_expect_eq(r->skipped, 9);
    cr_expect_eq(r->cursor_ms, T0 + 10 * MIN);
    cr_expect_not(due(st, "s", T0 + 9 * MIN));
    cr_expect(due(st, "s", T0 + 11 * MIN));
    assay_state_destroy(&st);
}

Test(schedule, delete_leaves_its_runs_going)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "allow_all", 100, T0);
    due(st, "s", T0 + MIN);
    cr_assert_eq(apply(st, assay_cmd_unschedule("s", T0 + 2 * MIN, NULL,
                                                NULL),
                       NULL),
                 0);
    cr_expect_null(assay_state_schedule(st, "s"));
    cr_expect_eq(assay_state_schedule_count(st), 0);
    const assay_job *j = run_job(st, "s", T0 + MIN);
    cr_assert_not_null(j);
    cr_expect_null(j->spec->sched);
    cr_expect_str_eq(j->spec->schedule, "s"); /* still says whose */
    finish(st, "s", T0 + MIN);
    cr_expect_not(due(st, "s", T0 + 3 * MIN));
    cr_expect_eq(apply(st, assay_cmd_unschedule("s", T0, NULL, NULL), NULL),
                 ASSAY_ENOENT);
    /* The id is free again. */
    create(st, "s", "skip", 100, T0 + 5 * MIN);
    assay_state_destroy(&st);
}

Test(schedule, missed_and_nonexistent_fires_are_recorded_and_counted)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "skip", 100, T0);
    assay_cmd_list *items = assay_cmd_list_new();
    cr_assert_eq(
        assay_cmd_list_fire(items,
                            &(assay_cmd_fire){
                                .schedule = "s", .nominal = T0 + 600 * MIN,
                                .kind = ASSAY_FIRE_DUE,
                                .skipped_count = 540, .skipped_first = T0 + MIN,
                                .skipped_outcome = ASSAY_RUN_MISSED,
                                .skipped_reason = "older than the catch-up "
                                                  "window (1h)"},
                            NULL),
        0);
    cr_assert_eq(
        assay_cmd_list_fire(items,
                            &(assay_cmd_fire){
                                .schedule = "s", .nominal = T0 + 601 * MIN,
                                .kind = ASSAY_FIRE_DUE,
                                .reason = "no runtime offers noop.pass"},
                            NULL),
        0);
    cr_assert_eq(apply(st, assay_cmd_fire_batch(&items, T0 + 660 * MIN),
                       NULL),
                 0);
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->missed, 540);
    cr_expect_eq(r->failed, 1);
    cr_expect_eq(r->cursor_ms, T0 + 601 * MIN);
    const assay_sched_run *m = assay_sched_run_at(r, 1);
    cr_expect_eq(m->outcome, ASSAY_RUN_MISSED);
    cr_expect_eq(m->count, 540);
    cr_expect_eq(m->nominal_ms, T0 + MIN);
    cr_expect_str_eq(assay_sched_run_at(r, 0)->reason,
                     "no runtime offers noop.pass");
    assay_state_destroy(&st);
}

Test(schedule, trigger_and_backfill)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "skip", 100, T0);
    cr_expect(due(st, "s", T0 + MIN));
    finish(st, "s", T0 + MIN);
    cr_expect(due(st, "s", T0 + 3 * MIN));
    /* Backfilling a time that ran is a duplicate; one that did not runs
     * (buffered behind the run going on); a future one is not a
     * backfill. */
    cr_expect(fire(st, "s", T0 + MIN, ASSAY_FIRE_BACKFILL));
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(assay_sched_run_at(r, 0)->outcome, ASSAY_RUN_SKIPPED);
    cr_expect(strstr(assay_sched_run_at(r, 0)->reason, "already ran"));
    cr_expect(fire(st, "s", T0 + 2 * MIN, ASSAY_FIRE_BACKFILL));
    cr_expect_eq(assay_sched_run_at(r, 0)->outcome, ASSAY_RUN_BUFFERED);
    cr_expect_not(fire(st, "s", T0 + 9 * MIN, ASSAY_FIRE_BACKFILL));
    /* A trigger runs now (the overlap policy applies: skipped here). */
    cr_expect(fire(st, "s", T0 + 4 * MIN + 123, ASSAY_FIRE_TRIGGER));
    cr_expect_eq(assay_sched_run_at(r, 0)->outcome, ASSAY_RUN_SKIPPED);
    finish(st, "s", T0 + 3 * MIN);
    cr_expect_not_null(run_job(st, "s", T0 + 2 * MIN));
    finish(st, "s", T0 + 2 * MIN);
    cr_expect(fire(st, "s", T0 + 5 * MIN + 123, ASSAY_FIRE_TRIGGER));
    cr_expect_not_null(assay_state_spec(st, "s.t20270101T000500.123Z"));
    assay_state_destroy(&st);
}

Test(schedule, a_snapshot_keeps_schedules_and_their_runs)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "buffer_all", 3, T0);
    create(st, "p", "skip", 5, T0);
    for (int i = 1; i <= 4; i++)
        due(st, "s", T0 + i * MIN);
    finish(st, "s", T0 + MIN);
    apply(st, assay_cmd_schedule_state("p", true, "why", 0, 0, T0, NULL, NULL),
          NULL);
    json_t *dump = assay_state_dump(st);
    assay_state *copy = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_state_load(copy, dump, err, sizeof err), 0, "%s", err);
    json_t *again = assay_state_dump(copy);
    cr_expect(json_equal(dump, again));
    const assay_sched_rec *r = assay_state_schedule(copy, "s");
    cr_assert_not_null(r);
    cr_expect_eq(r->n_held, 2);
    cr_expect_eq(r->n_active, 1);
    cr_expect_eq(r->n_buffer, 2);
    cr_expect_eq(r->started, 2);
    cr_expect(assay_state_schedule(copy, "p")->paused);
    /* It goes on as the original would. */
    finish(copy, "s", T0 + 2 * MIN);
    finish(st, "s", T0 + 2 * MIN);
    json_decref(dump);
    json_decref(again);
    dump = assay_state_dump(st);
    again = assay_state_dump(copy);
    cr_expect(json_equal(dump, again));
    cr_expect_not_null(run_job(copy, "s", T0 + 3 * MIN));
    json_decref(dump);
    json_decref(again);
    assay_state_destroy(&st);
    assay_state_destroy(&copy);
}

Test(schedule, refused_below_level_7_and_by_plain_submit)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_PLANNER);
    json_t *def = json_pack("{s:s, s:i}", "overlap", "skip", "keep_runs", 1);
    cr_expect_eq(apply(st, assay_cmd_schedule("s", def, T0, NULL, NULL),
                       NULL),
                 ASSAY_EUNSUPP);
    assay_state_destroy(&st);
    st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    char err[ASSAY_ERRMSG_SIZE];
    cr_expect_eq(sc_apply(st,
                          json_pack("{s:i, s:s, s:{s:s, s:s, s:s}, s:[{s:s}]}",
                                    "v", 1, "op", "submit", "spec", "id", "x",
                                    "action", "noop.pass", "schedule", "s",
                                    "jobs", "id", "x-0"),
                          err, sizeof err),
                 ASSAY_EINVAL);
    cr_expect(strstr(err, "spec.schedule"), "%s", err);
    /* Malformed definitions and ids change nothing. */
    json_t *bad = json_pack("{s:s, s:i}", "overlap", "sometimes",
                            "keep_runs", 1);
    cr_expect_eq(apply(st, assay_cmd_schedule("s", bad, T0, NULL, NULL), NULL),
                 ASSAY_EINVAL);
    cr_expect_eq(apply(st, assay_cmd_schedule("../x", def, T0, NULL, NULL),
                       NULL),
                 ASSAY_EINVAL);
    json_object_set_new(def, "keep_runs", json_integer(0));
    cr_expect_eq(apply(st, assay_cmd_schedule("s", def, T0, NULL, NULL), NULL),
                 ASSAY_EINVAL);
    cr_expect_eq(assay_state_schedule_count(st), 0);
    json_decref(def);
    json_decref(bad);
    assay_state_destroy(&st);
}

Test(schedule, one_fire_time_is_never_held_twice)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "skip", 100, T0);
    cr_expect(due(st, "s", T0 + 2 * MIN));
    /* The same past time backfilled twice while a run goes on: buffered
     * once, the second recorded as waiting already. */
    cr_expect(fire(st, "s", T0 + MIN, ASSAY_FIRE_BACKFILL));
    cr_expect(fire(st, "s", T0 + MIN, ASSAY_FIRE_BACKFILL));
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->n_buffer, 1);
    cr_expect(strstr(assay_sched_run_at(r, 0)->reason, "already waiting"));
    finish(st, "s", T0 + 2 * MIN);
    finish(st, "s", T0 + MIN);
    cr_expect_eq(r->n_held, 2);
    cr_expect_eq(r->started, 2);
    cr_expect_eq(r->n_active, 0);
    assay_state_destroy(&st);
}

Test(schedule, cancel_other_leaves_ended_jobs_alone)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "cancel_other", 100, T0);
    /* A run of two jobs, one of them done. */
    char id[96];
    assay_sched_run_id("s", T0 + MIN, ASSAY_FIRE_DUE, id, sizeof id);
    json_t *cmd = json_pack(
        "{s:i, s:s, s:[{s:s, s:I, s:s, s:{s:s, s:s, s:s, s:s, s:i, s:i}, "
        "s:[{s:s+, s:{}}, {s:s+, s:{}}]}], s:I}",
        "v", 1, "op", "fire", "items", "schedule", "s", "nominal",
        (json_int_t)(T0 + MIN), "kind", "due", "spec", "id", id, "action",
        "noop.pass", "resolved", "1.0.0", "schedule", "s", "timeout_ms", 1000,
        "max_attempts", 1, "jobs", "id", id, "-0", "params", "id", id, "-1",
        "params", "at", (json_int_t)(T0 + MIN));
    sc_ok(st, cmd);
    finish(st, "s", T0 + MIN); /* s-...-0 completes */
    cr_expect(due(st, "s", T0 + 2 * MIN));
    char j1[128];
    snprintf(j1, sizeof j1, "%s-1", id);
    const assay_job *done = run_job(st, "s", T0 + MIN);
    cr_expect_eq(done->state, ASSAY_JOB_COMPLETED);
    cr_expect_eq(assay_state_job(st, j1)->state, ASSAY_JOB_CANCELLED);
    cr_expect_eq(done->spec->unfinished, 0);
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->n_active, 1);
    assay_state_destroy(&st);
}

Test(schedule, runs_of_a_schedule_made_again_are_not_the_new_ones)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "skip", 100, T0);
    cr_expect(due(st, "s", T0 + MIN));
    cr_assert_eq(apply(st, assay_cmd_unschedule("s", T0 + MIN + 1, NULL, NULL),
                       NULL),
                 0);
    create(st, "s", "skip", 100, T0 + MIN + 2);
    cr_expect_eq(assay_state_schedule(st, "s")->n_active, 0);
    json_t *dump = assay_state_dump(st);
    assay_state *copy = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_state_load(copy, dump, err, sizeof err), 0, "%s", err);
    cr_expect_eq(assay_state_schedule(copy, "s")->n_active, 0);
    cr_expect_eq(assay_state_schedule(copy, "s")->n_held, 0);
    /* Both start the next fire alike (skip would skip it otherwise). */
    cr_expect(due(st, "s", T0 + 2 * MIN));
    cr_expect(due(copy, "s", T0 + 2 * MIN));
    cr_expect_eq(assay_state_schedule(st, "s")->started, 1);
    cr_expect_eq(assay_state_schedule(copy, "s")->started, 1);
    json_decref(dump);
    assay_state_destroy(&copy);
    assay_state_destroy(&st);
}

Test(schedule, buffered_runs_wait_for_resume_and_stop_at_max_runs)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    json_t *def = json_pack("{s:s, s:i, s:i}", "overlap", "buffer_all",
                            "keep_runs", 100, "max_runs", 2);
    cr_assert_eq(apply(st, assay_cmd_schedule("m", def, T0, NULL, NULL), NULL),
                 0);
    json_decref(def);
    due(st, "m", T0 + MIN);
    due(st, "m", T0 + 2 * MIN);
    due(st, "m", T0 + 3 * MIN); /* beyond max_runs: not even buffered */
    const assay_sched_rec *r = assay_state_schedule(st, "m");
    cr_expect_eq(r->n_buffer, 1);
    apply(st, assay_cmd_schedule_state("m", true, NULL, 0, 0, T0, NULL, NULL),
          NULL);
    finish(st, "m", T0 + MIN);
    cr_expect_eq(r->started, 1, "a paused schedule starts nothing");
    cr_expect_eq(r->n_buffer, 1);
    apply(st, assay_cmd_schedule_state("m", false, NULL, 0, 0, T0 + 4 * MIN,
                                       NULL, NULL),
          NULL);
    cr_expect_eq(r->started, 2, "resuming starts what waited");
    cr_expect_eq(r->n_buffer, 0);
    assay_state_destroy(&st);
}

Test(schedule, a_fire_of_another_jobspec_changes_nothing)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    create(st, "s", "skip", 100, T0);
    json_t *cmd = json_pack(
        "{s:i, s:s, s:[{s:s, s:I, s:s, s:{s:s, s:s, s:s, s:s}, s:[{s:s}], "
        "s:{s:s, s:i, s:I, s:s}}], s:I}",
        "v", 1, "op", "fire", "items", "schedule", "s", "nominal",
        (json_int_t)(T0 + MIN), "kind", "due", "spec", "id", "someone-else",
        "action", "noop.pass", "resolved", "1.0.0", "schedule", "s", "jobs",
        "id", "someone-else-0", "skipped", "outcome", "missed", "count", 5,
        "first", (json_int_t)T0, "reason", "x", "at", (json_int_t)T0);
    sc_ok(st, cmd);
    const assay_sched_rec *r = assay_state_schedule(st, "s");
    cr_expect_eq(r->cursor_ms, T0);
    cr_expect_eq(r->missed, 0);
    cr_expect_null(assay_state_spec(st, "someone-else"));
    assay_state_destroy(&st);
}
