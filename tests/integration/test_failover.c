/* tests/integration/test_failover.c - raft members as real processes on
 * 127.0.0.1: election, redirects, leader kills under submissions, a
 * leader cut off by SIGSTOP, membership changes, leadership transfer and a
 * whole-cluster restart. Each test would fail without the consensus module
 * or the member role's leader handling (core/leader.c). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "harness.h"

#define NOOP_SPEC(id, n)                                                       \
    "{\"id\": \"" id "\", \"action\": \"noop.pass\", \"targets\": ["         \
    n "]}"

/* Submits JobSpec `id` with `jobs` noop jobs through any member (assayctl
 * follows redirects and retries other members); true once acknowledged. */
static bool s_submit(cluster *c, const char *id, int jobs)
{
    char body[1024] = "";
    for (int i = 0; i < jobs; i++) {
        size_t l = strlen(body);
        snprintf(body + l, sizeof body - l, "%s{}", i ? "," : "");
    }
    char json[1200], name[96];
    snprintf(json, sizeof json,
             "{\"id\": \"%s\", \"action\": \"noop.pass\", \"targets\": [%s]}",
             id, body);
    snprintf(name, sizeof name, "%s.json", id);
    int code;
    json_t *r = cluster_ctl(c, &code, "--timeout-ms 15000 submit %s",
                            cluster_spec(c, name, json));
    bool ok = code == 0 && json_array_size(json_object_get(r, "jobs")) ==
                               (size_t)jobs;
    if (!ok) {
        char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
        fprintf(stderr, "submit %s: assayctl exit %d: %s\n", id, code,
                text ? text : "(no JSON)");
        free(text);
        cluster_print_logs(c, 30);
    }
    json_decref(r);
    return ok;
}

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
    int acked = 0, jobs = 0;
    for (int round = 0; round < 10; round++) {
        int lead = cluster_leader(&c, 20000);
        cr_assert(lead, "round %d: no leader", round);
        for (int k = 0; k < 2; k++) {
            snprintf(ids[acked], sizeof ids[acked], "r%d-%d", round, k);
            cr_assert(s_submit(&c, ids[acked], 3), "%s not acknowledged",
                      ids[acked]);
            acked++;
            jobs += 3;
        }
        cluster_member_kill(&c, lead, SIGKILL);
        /* Submitted while the members elect a new leader. */
        snprintf(ids[acked], sizeof ids[acked], "r%d-during", round);
        cr_assert(s_submit(&c, ids[acked], 2), "%s not acknowledged",
                  ids[acked]);
        acked++;
        jobs += 2;
        cluster_member_restart(&c, lead);
    }
    for (int i = 0; i < acked; i++) {
        size_t n;
        cr_assert(s_spec_done(&c, ids[i], &n), "%s did not complete", ids[i]);
    }
    cr_assert_eq(s_all_jobs(&c), (size_t)jobs,
                 "jobs listed != jobs acknowledged");
    cluster_stop(&c);
}

/* Guarantee 3: a leader cut off by SIGSTOP is replaced; when it returns
 * it follows, and requests sent to it are redirected. */
Test(failover, stopped_leader_is_replaced_and_steps_down)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    int old = cluster_leader(&c, 10000);
    cluster_member_kill(&c, old, SIGSTOP);
    cr_assert(s_submit(&c, "while-stopped", 2));
    int lead = cluster_leader(&c, 20000);
    cr_assert(lead && lead != old);
    cluster_member_kill(&c, old, SIGCONT);
    json_t *st = NULL;
    bool follows = false;
    for (int i = 0; i < 100 && !follows; i++) {
        json_decref(st);
        st = cluster_ctl_member(&c, old, NULL, "cluster");
        follows = !json_is_true(json_object_get(st, "serving")) &&
                  json_object_get(st, "leader");
    }
    cr_assert(follows, "old leader did not step down");
    json_decref(st);
    int code;
    json_t *r = cluster_ctl_member(
        &c, old, &code, "submit %s",
        cluster_spec(&c, "a.json", NOOP_SPEC("after-return", "{}")));
    cr_assert_eq(code, 0);
    json_decref(r);
    size_t n;
    cr_assert(s_spec_done(&c, "while-stopped", &n));
    cr_assert(s_spec_done(&c, "after-return", &n));
    cluster_stop(&c);
}

/* Guarantee 4: every member killed, then started again: nothing
 * acknowledged is lost and unfinished jobs resume. */
Test(failover, whole_cluster_restart_resumes_everything)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    cr_assert(s_submit(&c, "before", 4));
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
    cr_assert(s_submit(&c, "after", 2));
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

    cr_assert(cluster_log_has(cluster_member_extra(&c, 4), "ready", 10000));
    /* Right after a leader change raft may still be committing the new
     * term's configuration: the add is refused (busy) until then. */
    r = NULL;
    code = -1;
    for (int k = 0; k < 50 && code != 0; k++) {
        json_decref(r);
        r = cluster_ctl(&c, &code, "--timeout-ms 15000 cluster add 4 %s",
                        c.member_raft[4]);
        if (code)
            usleep(100 * 1000);
    }
    char *why = NULL;
    harness_sh(&why, "cat %s/ctl.err", c.dir);
    cr_assert_eq(code, 0, "add failed: %s", why);
    free(why);
    size_t voters = 0, i;
    json_t *m;
    json_array_foreach(json_object_get(r, "members"), i, m)
        voters += json_is_true(json_object_get(m, "voter"));
    cr_assert_eq(voters, 4);
    json_decref(r);
    /* The new member has the replicated state: it knows the leader. */
    bool knows = false;
    for (int k = 0; k < 100 && !knows; k++) {
        r = cluster_ctl_member(&c, 4, NULL, "cluster");
        knows = json_object_get(r, "leader") != NULL;
        json_decref(r);
    }
    cr_assert(knows, "member 4 did not catch up");

    r = cluster_ctl(&c, &code, "cluster remove 4");
    cr_assert_eq(code, 0, "remove failed");
    cr_assert_eq(json_array_size(json_object_get(r, "members")), 3);
    json_decref(r);
    cr_assert(s_submit(&c, "after-changes", 1));
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
    r = cluster_ctl(&c, NULL, "cluster");
    cr_assert_eq(json_array_size(json_object_get(r, "members")), 3);
    json_decref(r);
    cluster_stop(&c);
}

/* raft without a data_dir, or with a bad member list, does not start. */
Test(failover, bad_raft_config_is_refused)
{
    char *out;
    int rc = harness_sh(&out,
                        "%sassayd --set consensus=raft --set member_id=1 "
                        "--set members='1@127.0.0.1:%d' --listen "
                        "tcp://127.0.0.1:%d 2>&1",
                        HARNESS_BIN, harness_port(), harness_port());
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "data_dir"), "no mention of data_dir: %s", out);
    free(out);
    char *d = harness_tmpdir();
    rc = harness_sh(&out,
                    "%sassayd --set consensus=raft --set member_id=1 "
                    "--set members='1@' --set data_dir=%s/m --listen "
                    "tcp://127.0.0.1:%d 2>&1",
                    HARNESS_BIN, d, harness_port());
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "1@"), "bad member not named: %s", out);
    free(out);
    free(d);
}

/* examples/cp.py, given a follower first, is redirected to the leader and
 * sees its JobSpec through. */
Test(failover, control_plane_example_follows_redirect)
{
    char *out;
    if (harness_sh(&out, "/usr/bin/python3 -c 'import zmq, msgpack'") != 0) {
        free(out);
        cr_skip_test("/usr/bin/python3 lacks zmq or msgpack");
    }
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
        cr_assert(s_submit(&c, id, 1));
        size_t n;
        cr_assert(s_spec_done(&c, id, &n));
        char want[40];
        snprintf(want, sizeof want, "\"%s-0\"", id);
        live = cluster_log_has(w, want, 500);
    }
    cr_assert(live, "watch saw no event");
    cluster_member_kill(&c, cluster_leader(&c, 10000), SIGKILL);
    cr_assert(s_submit(&c, "after-kill", 1));
    size_t n;
    cr_assert(s_spec_done(&c, "after-kill", &n));
    cr_assert(cluster_log_has(w, "\"after-kill-0\"", 20000),
              "watch missed the new leader's events");
    cluster_stop(&c);
}
