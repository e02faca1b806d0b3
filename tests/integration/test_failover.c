/* tests/integration/test_failover.c - raft members as real processes on
 * 127.0.0.1: election, redirects, leader kills under submissions, a
 * leader cut off by SIGSTOP, membership changes, leadership transfer and a
 * whole-cluster restart. Each test would fail without the consensus module
 * or the member role's leader handling (core/member/). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "harness.h"
#include "state/state.h"

#define NOOP_SPEC(id, n)                                                       \
    "{\"id\": \"" id "\", \"action\": \"noop.pass\", \"targets\": ["         \
    n "]}"

/* Every job of JobSpec `id` completed; *n gets how many jobs it has. */
static bool s_spec_done(cluster *c, const char *id, size_t *n)
{
    json_t *jobs = cluster_wait(c, id, 60000);
    size_t i;
    json_t *j;
    bool ok = json_array_size(jobs) > 0;
    json_array_foreach(jobs, i, j) ok =
        ok && !strcmp(json_string_value(json_object_get(j, "state")) ?: "",
                      "completed");
    *n = json_array_size(jobs);
    json_decref(jobs);
    return ok;
}

typedef struct {
    cluster *c;
    int id;
} s_member;

/* Member a->id is back and follows: not serving, and naming a leader. */
static bool s_follows(void *arg)
{
    s_member *a = arg;
    json_t *st = cluster_ctl_member(a->c, a->id, NULL, "cluster");
    bool follows = st && !json_is_true(json_object_get(st, "serving")) &&
                   json_object_get(st, "leader");
    json_decref(st);
    return follows;
}

/* A member's `cluster` status field `key` (an integer), -1 if none. */
static size_t s_all_jobs(cluster *c)
{
    json_t *r = cluster_ctl(c, NULL, "--timeout-ms 15000 jobs");
    size_t n = json_array_size(json_object_get(r, "jobs"));
    json_decref(r);
    return n;
}

Test(failover, three_members_elect_one_leader_and_redirect)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    int lead = cluster_leader(&c, 10000);
    json_t *st = cluster_ctl_member(&c, lead, NULL, "cluster");
    cr_assert_eq(json_array_size(json_object_get(st, "members")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(st, "role")),
                     "leader");
    cr_assert_gt(json_integer_value(json_object_get(st, "term")), 0);
    json_decref(st);
    /* A follower answers "not the leader" and names it. */
    int other = lead % 3 + 1, code;
    st = cluster_ctl_member(&c, other, NULL, "cluster");
    cr_assert_str_eq(json_string_value(json_object_get(st, "role")),
                     "follower");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(st, "leader"), "endpoint")),
                     c.member_ep[lead]);
    json_decref(st);
    /* Submitted to the follower alone: assayctl follows the redirect. */
    json_t *r = cluster_ctl_member(
        &c, other, &code, "submit %s",
        cluster_spec(&c, "r.json", NOOP_SPEC("redirected", "{},{}")));
    cr_assert_eq(code, 0, "submit through a follower failed");
    json_decref(r);
    size_t n;
    cr_assert(s_spec_done(&c, "redirected", &n));
    cr_assert_eq(n, 2);
    cluster_stop(&c);
}

/* Guarantees 1 and 2: acknowledged JobSpecs survive ten leader kills;
 * every job completes and none appears twice. */
Test(failover, leader_killed_ten_times_loses_nothing, .timeout = 400)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    cluster_runtime(&c, "rt2", NULL);
    char ids[40][32];
    size_t per_spec[40];
    int acked = 0, jobs = 0;
    for (int round = 0; round < 10; round++) {
        int lead = cluster_leader(&c, 20000);
        cr_assert(lead, "round %d: no leader", round);
        for (int k = 0; k < 2; k++) {
            snprintf(ids[acked], sizeof ids[acked], "r%d-%d", round, k);
            cr_assert(cluster_submit(&c, ids[acked], 3), "%s not acknowledged",
                      ids[acked]);
            per_spec[acked] = 3;
            acked++;
            jobs += 3;
        }
        cluster_member_kill(&c, lead, SIGKILL);
        /* Submitted while the members elect a new leader. */
        snprintf(ids[acked], sizeof ids[acked], "r%d-during", round);
        cr_assert(cluster_submit(&c, ids[acked], 2), "%s not acknowledged",
                  ids[acked]);
        per_spec[acked] = 2;
        acked++;
        jobs += 2;
        cluster_member_restart(&c, lead);
    }
    for (int i = 0; i < acked; i++) {
        size_t n;
        cr_assert(s_spec_done(&c, ids[i], &n), "%s did not complete", ids[i]);
        cr_assert_eq(n, per_spec[i], "%s has %zu jobs, %zu acknowledged",
                     ids[i], n, per_spec[i]);
    }
    cr_assert_eq(s_all_jobs(&c), (size_t)jobs,
                 "jobs listed != jobs acknowledged");
    cluster_stop(&c);
}

/* Guarantee 3: a leader cut off by SIGSTOP is replaced; when it returns
 * it follows, and requests sent to it are redirected. */
/* The stopped leader also finds every runtime silent when it resumes; if
 * it judges them before it hears of the new term, its verdict never
 * commits, so it runs no notify_command (each member's hook writes a file
 * named by the member's pid, its parent). Whether it judges first is a
 * race: stopping the other members too while it resumed made it certain,
 * but then all three held an election, which on a busy machine sometimes
 * took over a minute. */
Test(failover, stopped_leader_is_replaced_and_steps_down)
{
    cluster c;
    cluster_start_raft(&c, 3,
                       "--set 'notify_command=cat > "
                       "\"$CLUSTER_DIR/dead-by-$PPID.json\"'");
    cluster_runtime(&c, "rt1", NULL);
    int old = cluster_leader(&c, 10000);
    cluster_member_kill(&c, old, SIGSTOP);
    cr_assert(cluster_submit(&c, "while-stopped", 2));
    int lead = cluster_leader(&c, 20000);
    cr_assert(lead && lead != old);
    /* Longer than heartbeat_ms x heartbeat_misses (1 s): on its clock
     * rt1 has been silent too long. */
    usleep(1500 * 1000);
    cluster_member_kill(&c, old, SIGCONT);
    s_member m = {&c, old};
    cr_assert(harness_until(60000, s_follows, &m),
              "old leader did not step down");
    int code;
    json_t *r = cluster_ctl_member(
        &c, old, &code, "submit %s",
        cluster_spec(&c, "a.json", NOOP_SPEC("after-return", "{}")));
    cr_assert_eq(code, 0);
    json_decref(r);
    size_t n;
    cr_assert(s_spec_done(&c, "while-stopped", &n));
    cr_assert(s_spec_done(&c, "after-return", &n));
    char hook[512];
    snprintf(hook, sizeof hook, "%s/dead-by-%d.json", c.dir,
             (int)c.nodes[c.member_node[old]].pid);
    cr_expect_neq(access(hook, F_OK), 0,
                  "the deposed leader announced a runtime's death");
    cluster_stop(&c);
}

/* Guarantee 4: every member killed, then started again: nothing
 * acknowledged is lost and unfinished jobs resume. */
Test(failover, whole_cluster_restart_resumes_everything)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    cr_assert(cluster_submit(&c, "before", 4));
    int code;
    json_t *r = cluster_ctl(
        &c, &code, "submit %s",
        cluster_spec(&c, "slow.json",
                     "{\"id\": \"slow\", \"action\": \"sleep.sleep\", "
                     "\"params\": {\"ms\": 1500}, \"targets\": [{}, {}]}"));
    cr_assert_eq(code, 0);
    json_decref(r);
    for (int i = 1; i <= 3; i++)
        cluster_member_kill(&c, i, SIGKILL);
    for (int i = 1; i <= 3; i++)
        cluster_member_restart(&c, i);
    cr_assert(cluster_leader(&c, 20000), "no leader after the restart");
    cr_assert(cluster_submit(&c, "after", 2));
    size_t n;
    cr_assert(s_spec_done(&c, "before", &n));
    cr_assert_eq(n, 4);
    cr_assert(s_spec_done(&c, "slow", &n));
    cr_assert(s_spec_done(&c, "after", &n));
    cr_assert_eq(s_all_jobs(&c), 8);
    cluster_stop(&c);
}

Test(failover, membership_change_and_leadership_transfer)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    int lead = cluster_leader(&c, 10000), to = lead % 3 + 1, code;
    json_t *r = cluster_ctl(&c, &code, "cluster transfer %d", to);
    cr_assert_eq(code, 0, "transfer failed");
    json_decref(r);
    cr_assert_eq(cluster_leader(&c, 10000), to);

    /* A JobSpec the new member can only know from the replicated log. */
    cr_assert(cluster_submit(&c, "before-add", 2));
    size_t n;
    cr_assert(s_spec_done(&c, "before-add", &n));
    cr_assert_eq(n, 2);
    long long upto = cluster_status_int(&c, to, "commit_index");
    cr_assert_gt(upto, 0);

    cluster_member_extra(&c, 4); /* serving when it returns */
    /* Right after a leader change raft may still be committing the new
     * term's configuration: the add is refused (busy) until then. */
    char add[128];
    snprintf(add, sizeof add, "--timeout-ms 15000 cluster add 4 %s",
             c.member_raft[4]);
    r = cluster_ctl_until(&c, 30000, &code, "%s", add);
    char *why = NULL;
    harness_sh(&why, "cat %s/ctl.err", c.dir);
    cr_assert_eq(code, 0, "add failed (exit %d): %s", code, why);
    free(why);
    size_t voters = 0, i;
    json_t *m;
    json_array_foreach(json_object_get(r, "members"), i, m)
        voters += json_is_true(json_object_get(m, "voter"));
    cr_assert_eq(voters, 4);
    json_decref(r);
    /* The new member holds the replicated state: it applied the log past
     * the JobSpec, and once it leads it answers for that JobSpec from its
     * own state (asked alone: a member that leads is not redirected). */
    cr_assert(cluster_applied_until(&c, 4, upto, 20000),
              "member 4 did not apply the log up to %lld (applied %lld)",
              upto, cluster_status_int(&c, 4, "applied_index"));
    json_decref(cluster_ctl_until(&c, 30000, &code,
                                  "--timeout-ms 15000 cluster transfer 4"));
    cr_assert_eq(code, 0, "transfer to 4 failed");
    cr_assert_eq(cluster_leader(&c, 10000), 4);
    r = cluster_ctl_member(&c, 4, &code, "job before-add");
    cr_assert_eq(code, 0, "member 4 does not know JobSpec before-add");
    cr_assert_eq(json_array_size(json_object_get(r, "jobs")), 2);
    json_array_foreach(json_object_get(r, "jobs"), i, m)
        cr_expect_str_eq(json_string_value(json_object_get(m, "state")),
                         "completed");
    json_decref(r);
    /* Hand the lead back before member 4 leaves. */
    char back[64];
    snprintf(back, sizeof back, "--timeout-ms 15000 cluster transfer %d", to);
    json_decref(cluster_ctl_until(&c, 30000, &code, "%s", back));
    cr_assert_eq(code, 0, "transfer back failed");
    cr_assert_eq(cluster_leader(&c, 10000), to);

    r = cluster_ctl(&c, &code, "cluster remove 4");
    cr_assert_eq(code, 0, "remove failed");
    cr_assert_eq(json_array_size(json_object_get(r, "members")), 3);
    json_decref(r);
    cr_assert(cluster_submit(&c, "after-changes", 1));
    cluster_stop(&c);
}

Test(failover, bad_cluster_requests_are_refused)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    int code;
    json_t *r = cluster_ctl(&c, &code, "cluster add 0 127.0.0.1:1");
    cr_assert_eq(code, 64, "id 0 accepted");
    json_decref(r);
    r = cluster_ctl(&c, &code, "cluster frobnicate");
    cr_assert_eq(code, 64);
    json_decref(r);
    r = cluster_ctl(&c, &code, "cluster remove 42");
    cr_assert_neq(code, 0, "removing an unknown member succeeded");
    json_decref(r);
    r = cluster_ctl(&c, &code, "cluster upgrade two");
    cr_assert_eq(code, 64, "a level that is no number accepted");
    json_decref(r);
    /* Only one member's endpoint given: the others were not asked. */
    r = cluster_ctl_member(&c, 1, &code, "cluster upgrade 2");
    cr_assert_eq(code, 64, "upgrade without asking every member: exit %d",
                 code);
    json_decref(r);
    r = cluster_ctl(&c, NULL, "cluster");
    cr_assert_eq(json_array_size(json_object_get(r, "members")), 3);
    json_decref(r);
    cluster_stop(&c);
}

/* raft without a data_dir, or with a bad member list, does not start. */
Test(failover, bad_raft_config_is_refused)
{
    /* Everything else is valid (plugins, executors, endpoints), so the
     * refusal can only be for the reason asserted; exit 69 for a consensus
     * module that cannot open (docs/cli.md). */
    char *out;
    int rc = harness_sh(&out,
                        "%sassayd --plugins-dir %s --executors 0 "
                        "--set consensus=raft --set member_id=1 "
                        "--set members='1@127.0.0.1:%d' --listen "
                        "tcp://127.0.0.1:%d --events tcp://127.0.0.1:%d 2>&1",
                        HARNESS_BIN, HARNESS_PLUGINS, harness_port(),
                        harness_port(), harness_port());
    cr_assert_eq(rc, 69, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "consensus raft: raft needs a data_dir for its log"),
              "not refused for its data_dir: %s", out);
    free(out);
    char *d = harness_tmpdir();
    rc = harness_sh(&out,
                    "%sassayd --plugins-dir %s --executors 0 "
                    "--set consensus=raft --set member_id=1 "
                    "--set members='1@' --set data_dir=%s/m --listen "
                    "tcp://127.0.0.1:%d --events tcp://127.0.0.1:%d 2>&1",
                    HARNESS_BIN, HARNESS_PLUGINS, d, harness_port(),
                    harness_port());
    cr_assert_eq(rc, 69, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "consensus raft: peer '1@': missing address"),
              "bad member not named: %s", out);
    free(out);
    free(d);
}

/* examples/cp.py, given a follower first, is redirected to the leader and
 * sees its JobSpec through. */
Test(failover, control_plane_example_follows_redirect)
{
    char *out;
    /* scripts/install-deps installs python3-zmq and python3-msgpack: a
     * missing module fails the test, it does not skip it. */
    cr_assert_eq(harness_sh(&out, "/usr/bin/python3 -c 'import zmq, msgpack'"),
                 0, "/usr/bin/python3 lacks zmq or msgpack (scripts/"
                    "install-deps installs python3-zmq and python3-msgpack): "
                    "%s", out);
    free(out);
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    int lead = cluster_leader(&c, 10000), other = lead % 3 + 1;
    int rc = harness_sh(
        &out,
        "timeout 60 /usr/bin/python3 %s/examples/cp.py --endpoint %s,%s "
        "--timeout 30 %s 2>&1",
        ASSAY_SOURCE_DIR, c.member_ep[other], c.member_ep[lead],
        cluster_spec(&c, "cp.json", NOOP_SPEC("cp-raft", "{},{}")));
    cr_expect_eq(rc, 0, "cp.py failed: %s", out);
    cr_expect(strstr(out, "cp-raft-1 completed pass"), "%s", out);
    free(out);
    cluster_stop(&c);
}

/* assayctl watch given every member's events endpoint keeps showing
 * events after the leader is killed: only the leader publishes. */
Test(failover, watch_follows_the_leader)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    char evs[256];
    snprintf(evs, sizeof evs, "%s,%s,%s", c.member_ev[1], c.member_ev[2],
             c.member_ev[3]);
    cluster_node *w = cluster_bg(&c, "watch",
                                 "%sassayctl --events %s --json watch "
                                 "--topic job.completed --wait-ms 60000",
                                 HARNESS_BIN, evs);
    /* Until the subscription is live, a submission's events are missed;
     * bounded: each probe is a fresh JobSpec. */
    bool live = false;
    for (int i = 0; i < 50 && !live; i++) {
        char id[32];
        snprintf(id, sizeof id, "probe%d", i);
        cr_assert(cluster_submit(&c, id, 1));
        size_t n;
        cr_assert(s_spec_done(&c, id, &n));
        char want[40];
        snprintf(want, sizeof want, "\"%s-0\"", id);
        live = cluster_log_has(w, want, 500);
    }
    cr_assert(live, "watch saw no event");
    cluster_member_kill(&c, cluster_leader(&c, 10000), SIGKILL);
    cr_assert(cluster_submit(&c, "after-kill", 1));
    size_t n;
    cr_assert(s_spec_done(&c, "after-kill", &n));
    cr_assert(cluster_log_has(w, "\"after-kill-0\"", 20000),
              "watch missed the new leader's events");
    cluster_stop(&c);
}

/* Every member reports feature level `level`. */
static bool s_all_at_level(cluster *c, long long level)
{
    for (int id = 1; id <= c->members; id++)
        if (cluster_status_int(c, id, "level") != level)
            return false;
    return true;
}

typedef struct {
    cluster *c;
    size_t most;
} s_bound;

static bool s_jobs_at_most(void *arg)
{
    s_bound *b = arg;
    return s_all_jobs(b->c) <= b->most;
}

/* A rolling upgrade (docs/operations.md#rolling-upgrade). The members
 * start speaking only level 1, as the previous release did
 * (feature_level=1), so the cluster starts at level 1. Each is killed and
 * started again speaking this build's level (ASSAY_STATE_LEVEL) while
 * JobSpecs keep coming in; `cluster
 * upgrade` is refused while any member speaks less, and once all speak it
 * the level rises on every member. Only then does retention forget jobs
 * (level 1 has no "expire"), and nothing acknowledged was lost. */
Test(failover, rolling_upgrade_under_load)
{
    cluster c;
    /* Snapshots every 16 entries, 4 kept: restarted members catch up by
     * installing snapshots made by a forked child while the leader went
     * on applying (core/state/snapshotter.h). */
    cluster_start_raft(&c, 3,
                       "--set feature_level=1 --set retain_jobs=4 "
                       "--set snapshot_threshold=16 --set snapshot_trailing=4");
    cluster_runtime(&c, "rt1", NULL);
    cr_expect(s_all_at_level(&c, 1));
    int code, specs = 0;
    char ids[16][32];
    /* Nothing to raise while every member speaks 1; 2 is refused. */
    json_decref(cluster_ctl(&c, &code, "cluster upgrade"));
    cr_expect_eq(code, 0, "upgrade to what all speak: exit %d", code);
    json_decref(cluster_ctl(&c, &code, "cluster upgrade 2"));
    cr_expect_eq(code, 69, "upgrade with every member at level 1: exit %d",
                 code);
    cr_expect(s_all_at_level(&c, 1));
    for (int id = 1; id <= 3; id++) {
        snprintf(ids[specs], sizeof ids[0], "before-m%d", id);
        cr_assert(cluster_submit(&c, ids[specs++], 3));
        cluster_member_kill(&c, id, SIGKILL);
        snprintf(ids[specs], sizeof ids[0], "while-m%d-down", id);
        cr_assert(cluster_submit(&c, ids[specs++], 3));
        /* The new build: the same member, speaking all it can. */
        char *cap = strstr(c.member_args[id], "feature_level=1");
        cr_assert_not_null(cap);
        cap[strlen("feature_level=")] = '0';
        cluster_member_restart(&c, id);
        int lead = cluster_leader(&c, 20000);
        cr_assert(lead);
        cr_assert(cluster_applied_until(
                      &c, id, cluster_status_int(&c, lead, "applied_index"),
                      20000),
                  "member %d did not catch up", id);
        if (id < 3) {
            json_decref(cluster_ctl(&c, &code, "cluster upgrade 2"));
            cr_expect_eq(code, 69, "upgrade with a member at level 1: exit %d",
                         code);
        }
    }
    /* Level 1 forgets nothing: every acknowledged job is there, done. */
    for (int i = 0; i < specs; i++) {
        size_t n;
        cr_expect(s_spec_done(&c, ids[i], &n), "%s not completed", ids[i]);
        cr_expect_eq(n, 3, "%s: %zu jobs", ids[i], n);
    }
    cr_expect_eq(s_all_jobs(&c), (size_t)specs * 3);
    json_t *r = cluster_ctl(&c, &code, "cluster upgrade");
    cr_assert_eq(code, 0, "upgrade once every member speaks %d: exit %d",
                 ASSAY_STATE_LEVEL, code);
    json_decref(r);
    cr_expect(s_all_at_level(&c, ASSAY_STATE_LEVEL) ||
              (harness_sleep_ms(500), s_all_at_level(&c, ASSAY_STATE_LEVEL)));
    s_bound b = {&c, 4};
    cr_expect(harness_until(20000, s_jobs_at_most, &b),
              "retention did not start after the upgrade");
    char *out;
    harness_sh(&out, "ls %s/m1 %s/m2 %s/m3 | grep -c '^snapshot-'", c.dir,
               c.dir, c.dir);
    cr_expect_gt(atoi(out), 0, "no member took a snapshot");
    free(out);
    cluster_stop(&c);
}

/* Enrolment is replicated (docs/security.md#enrolment): a token made
 * through one leader is used through the next, once; and the key it
 * enrolled is revoked through that one too. (The runtime is given its
 * token in $ASSAY_ENROL_TOKEN.) */
Test(failover, an_enrolment_token_outlives_its_leader)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    int old = cluster_leader(&c, 10000);
    cr_assert(old > 0);
    int code;
    json_t *r = cluster_ctl_member(&c, old, &code,
                                   "keys enroll --name rt-f1 --role runtime");
    cr_assert_eq(code, 0);
    const char *token = json_string_value(json_object_get(r, "token"));
    cr_assert_not_null(token);
    char tok[256];
    snprintf(tok, sizeof tok, "%s", token);
    json_decref(r);
    cluster_member_kill(&c, old, SIGSTOP);
    int lead = cluster_leader(&c, 20000);
    cr_assert(lead && lead != old);
    char *dir = harness_tmpdir();
    char keys[4200];
    snprintf(keys, sizeof keys, "%s/k", dir);
    cluster_node *rt = cluster_enrolling_runtime(&c, "rt-f1", "rt-f1", keys,
                                                 tok, true);
    cr_expect(cluster_log_has(rt, "enrolled as rt-f1", 20000),
              "the token died with its leader");
    cr_expect(cluster_log_has(rt, "registered with", 20000));
    cluster_member_kill(&c, old, SIGCONT);
    r = cluster_ctl_member(&c, lead, &code, "keys revoke rt-f1");
    cr_expect_eq(code, 0);
    json_decref(r);
    r = cluster_ctl_member(&c, lead, &code, "keys enrolled");
    cr_expect_eq(code, 0);
    cr_expect_eq(json_array_size(json_object_get(r, "enrolled")), 0);
    json_decref(r);
    cluster_stop(&c);
    free(dir);
}
