/* tests/integration/test_storage.c - a member's data_dir damaged while it
 * was stopped: bytes flipped in a closed log segment, a truncated
 * snapshot, a member whose data was lost brought back. Real raft members
 * on 127.0.0.1; each test fails without the checks of consensus/raft
 * (storage.c, auto-recovery off) or without `cluster demote`. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "harness.h"

/* A member that refuses its data_dir exits 69 (EX_UNAVAILABLE). */
#define EXIT_REFUSED 69

/* Submits `n` one-job JobSpecs s0..s(n-1) and stops member 1 cleanly. */
static void s_fill_and_stop(cluster *c, int n)
{
    cluster_runtime(c, "rt1", NULL);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        cr_assert(cluster_submit(c, id, 1));
    }
    cluster_member_kill(c, 1, SIGTERM);
    cr_assert_eq(cluster_member_wait(c, 1, 20000), 0, "member 1 did not stop");
}

/* Restarts member 1 on its damaged data_dir and expects it to refuse,
 * naming `file`, within a bound. libraft leaks on this fatal path of
 * raft_start(): that leak is not ours to report. */
static void s_expect_refusal(cluster *c, const char *file, const char *fault)
{
    char *asan = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    cluster_member_restart(c, 1);
    if (asan)
        setenv("ASAN_OPTIONS", asan, 1);
    free(asan);
    int code = cluster_member_wait(c, 1, 20000);
    cluster_node *m = &c->nodes[c->member_node[1]];
    if (code != EXIT_REFUSED)
        cluster_print_logs(c, 10);
    cr_assert_eq(code, EXIT_REFUSED, "member 1 %s (want exit %d)",
                 code < 0 ? "still runs on a damaged data_dir" : "exited",
                 EXIT_REFUSED);
    cr_assert(cluster_log_has(m, file, 0), "the refusal does not name %s",
              file);
    cr_assert(cluster_log_has(m, fault, 0), "the refusal does not say '%s'",
              fault);
    cr_assert(cluster_log_has(m, "docs/operations.md#recovering-a-member", 0),
              "the refusal does not say how to recover");
}

/* libraft would set the segment aside as corrupt-* and serve an empty
 * state; the member must refuse and leave the files as they were. */
Test(storage, damaged_closed_segment_refuses_to_start)
{
    cluster c;
    cluster_start_raft(&c, 1, NULL);
    s_fill_and_stop(&c, 30);
    char *seg = NULL, *out = NULL;
    /* The largest closed segment (FIRST-LAST, 16 digits each). */
    harness_sh(&seg,
               "cd %s/m1 && ls -S | grep -E '^[0-9]{16}-[0-9]{16}$' | head -1",
               c.dir);
    seg[strcspn(seg, "\n")] = '\0';
    cr_assert(*seg, "no closed segment to damage");
    cr_assert_eq(harness_sh(&out,
                            "f=%s/m1/%s; printf '\\377\\377\\377\\377\\377"
                            "\\377\\377\\377' | dd of=$f bs=1 seek=$(($(stat "
                            "-c %%s $f) / 2)) conv=notrunc 2>&1",
                            c.dir, seg),
                 0, "dd: %s", out);
    free(out);
    s_expect_refusal(&c, seg, "is damaged");
    harness_sh(&out, "ls %s/m1", c.dir);
    cr_assert(!strstr(out, "corrupt-"), "a segment was set aside: %s", out);
    cr_assert(strstr(out, seg), "segment %s is gone: %s", seg, out);
    free(out);
    free(seg);
    cluster_stop(&c);
}

/* libraft 0.15 spins forever decompressing a truncated LZ4 snapshot. */
Test(storage, truncated_snapshot_refuses_to_start)
{
    cluster c;
    cluster_start_raft(&c, 1,
                       "--set snapshot_threshold=16 --set snapshot_trailing=4");
    s_fill_and_stop(&c, 30);
    char *snap = NULL, *out = NULL;
    /* The one raft loads: the latest by term, then index. */
    harness_sh(&snap,
               "cd %s/m1 && ls | grep -E '^snapshot-[0-9-]+$' | "
               "sort -t- -k2,2n -k3,3n -k4,4n | tail -1",
               c.dir);
    snap[strcspn(snap, "\n")] = '\0';
    cr_assert(*snap, "no snapshot was written");
    /* Compressed, as libraft writes it when built with LZ4 (Debian's is). */
    harness_sh(&out, "od -An -tx1 -N4 %s/m1/%s", c.dir, snap);
    cr_assert(strstr(out, "04 22 4d 18"), "%s is not an LZ4 frame: %s", snap,
              out);
    free(out);
    cr_assert_eq(harness_sh(&out, "f=%s/m1/%s; truncate -s $(($(stat -c %%s "
                                  "$f) * 2 / 3)) $f 2>&1",
                            c.dir, snap),
                 0, "truncate: %s", out);
    free(out);
    s_expect_refusal(&c, snap, "is truncated");
    free(snap);
    cluster_stop(&c);
}

/* What operations.md says to do with a member whose data_dir is lost:
 * demote it, start it empty, promote it once caught up. It ends up with
 * every acknowledged JobSpec, and never voted while it lacked them. */
Test(storage, lost_member_rejoins_as_standby_then_voter)
{
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        cr_assert(cluster_submit(&c, id, 1));
    }
    int lead = cluster_leader(&c, 10000);
    int lost = lead == 3 ? 2 : 3, code;
    json_t *r = cluster_ctl(&c, &code, "cluster demote %d", lead);
    cr_assert_neq(code, 0, "the leader demoted itself");
    json_decref(r);

    cluster_member_kill(&c, lost, SIGKILL);
    r = cluster_ctl_until(&c, 30000, &code, "--timeout-ms 15000 cluster "
                                            "demote %d",
                          lost);
    cr_assert_eq(code, 0, "demote failed");
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(r, "members"), i, m)
        if (json_integer_value(json_object_get(m, "id")) == lost)
            cr_assert(json_is_false(json_object_get(m, "voter")),
                      "member %d still votes", lost);
    json_decref(r);

    char *out = NULL;
    harness_sh(&out, "rm -rf %s/m%d", c.dir, lost);
    free(out);
    cluster_member_restart(&c, lost);
    char add[128];
    snprintf(add, sizeof add, "--timeout-ms 15000 cluster add %d %s", lost,
             c.member_raft[lost]);
    r = cluster_ctl_until(&c, 60000, &code, "%s", add);
    cr_assert_eq(code, 0, "promote failed");
    size_t voters = 0;
    json_array_foreach(json_object_get(r, "members"), i, m)
        voters += json_is_true(json_object_get(m, "voter"));
    cr_assert_eq(voters, 3);
    json_decref(r);

    /* Led by the recovered member, the cluster still has every JobSpec:
     * asked alone, a member that leads answers from its own state. */
    cr_assert(cluster_applied_until(
        &c, lost, cluster_status_int(&c, lead, "commit_index"), 20000));
    json_decref(cluster_ctl_until(&c, 30000, &code,
                                  "--timeout-ms 15000 cluster transfer %d",
                                  lost));
    cr_assert_eq(code, 0, "transfer failed");
    cr_assert_eq(cluster_leader(&c, 10000), lost);
    for (int s = 0; s < 20; s++) {
        r = cluster_ctl_member(&c, lost, &code, "job s%d", s);
        cr_assert_eq(code, 0, "member %d lost JobSpec s%d", lost, s);
        cr_assert_eq(json_array_size(json_object_get(r, "jobs")), 1);
        json_decref(r);
    }
    cluster_stop(&c);
}
