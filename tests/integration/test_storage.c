/* tests/integration/test_storage.c - a member's data_dir damaged while it
 * was stopped: bytes flipped in a closed log segment, a truncated
 * snapshot, a member whose data was lost brought back. Real raft members
 * on 127.0.0.1; each test fails without the checks of consensus/raft
 * (storage.c, auto-recovery off) or without `cluster demote`. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

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

/* Member id leads: asked to take the lead unless it does already (a
 * member just restarted may win the election by itself, and a transfer to
 * the leader is refused). */
static void s_take_lead(cluster *c, int id, const char *what)
{
    int code = 0;
    if (cluster_leader(c, 10000) != id)
        json_decref(cluster_ctl_until(c, 30000, &code,
                                      "--timeout-ms 15000 cluster transfer %d",
                                      id));
    cr_assert(code == 0 || cluster_leader(c, 10000) == id, "%s", what);
    cr_assert_eq(cluster_leader(c, 10000), id);
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
    s_take_lead(&c, lost, "transfer failed");
    for (int s = 0; s < 20; s++) {
        r = cluster_ctl_member(&c, lost, &code, "job s%d", s);
        cr_assert_eq(code, 0, "member %d lost JobSpec s%d", lost, s);
        cr_assert_eq(json_array_size(json_object_get(r, "jobs")), 1);
        json_decref(r);
    }
    cluster_stop(&c);
}

/* ---- A full disk --------------------------------------------------------
 * Each test below runs in a mount namespace of its own (Criterion runs
 * every test in a process of its own; the daemons it starts inherit the
 * namespace), where a member's data_dir is a small tmpfs. */

/* The reserve a member keeps: 3 log segments of 8 MiB and 1 MiB; no
 * snapshot is taken in these tests (the default threshold is not met).
 * Their tmpfs holds it, the segments raft has already allocated (up to
 * 3) and the segment above the reserve a short member waits for. */
#define RESERVE_MIB 25

static void s_private_mounts(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root for a mount namespace and tmpfs");
    cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare: %s", strerror(errno));
    cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0,
                 "mount --make-rprivate /: %s", strerror(errno));
}

/* Mounts a tmpfs of `mib` MiB on member id's data_dir, with what it held;
 * the member must be stopped. */
static void s_tmpfs_data_dir(cluster *c, int id, int mib)
{
    char dir[256], keep[256], opts[32];
    char *out = NULL;
    snprintf(dir, sizeof dir, "%s/m%d", c->dir, id);
    snprintf(keep, sizeof keep, "%s/m%d.keep", c->dir, id);
    snprintf(opts, sizeof opts, "size=%dm,mode=0700", mib);
    cr_assert_eq(harness_sh(&out, "mkdir -p %s && cp -a %s/. %s/ 2>&1", keep,
                            dir, keep),
                 0, "copy: %s", out);
    free(out);
    cr_assert_eq(mount("tmpfs", dir, "tmpfs", 0, opts), 0, "mount %s: %s",
                 dir, strerror(errno));
    cr_assert_eq(harness_sh(&out, "cp -a %s/. %s/ 2>&1", keep, dir), 0,
                 "copy back: %s", out);
    free(out);
}

/* The tmpfs goes with the test's namespace; detached now, so that the
 * harness removes the directory under it. */
static void s_untmpfs(cluster *c, int id)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/m%d", c->dir, id);
    umount2(dir, MNT_DETACH);
}

/* Member id does not take the lead when asked (raft's transfer to it
 * times out: it does not stand). */
static void s_transfer_refused(cluster *c, int id)
{
    int code;
    json_decref(
        cluster_ctl(c, &code, "--timeout-ms 8000 cluster transfer %d", id));
    cr_assert_neq(cluster_leader(c, 10000), id, "member %d took the lead", id);
}

static uint64_t s_free_bytes(const char *dir)
{
    struct statvfs v;
    cr_assert_eq(statvfs(dir, &v), 0);
    return (uint64_t)v.f_bavail * v.f_frsize;
}

/* Leaves `left` bytes free on member id's tmpfs with a filler file. */
static void s_fill(cluster *c, int id, uint64_t left)
{
    char dir[256], *out = NULL;
    snprintf(dir, sizeof dir, "%s/m%d", c->dir, id);
    uint64_t free_b = s_free_bytes(dir);
    cr_assert_gt(free_b, left);
    cr_assert_eq(harness_sh(&out, "fallocate -l %llu %s/filler 2>&1",
                            (unsigned long long)(free_b - left), dir),
                 0, "fallocate: %s", out);
    free(out);
}

static bool s_storage_short(cluster *c, int id)
{
    json_t *st = cluster_ctl_member(c, id, NULL, "cluster");
    bool is = json_is_true(
        json_object_get(json_object_get(st, "storage"), "short"));
    json_decref(st);
    return is;
}

typedef struct {
    cluster *c;
    int id;
    bool want;
} s_short_arg;

static bool s_short_is(void *arg)
{
    s_short_arg *a = arg;
    return s_storage_short(a->c, a->id) == a->want;
}

/* A member other than a->id leads and serves. */
static bool s_other_leads(void *arg)
{
    s_short_arg *a = arg;
    int lead = cluster_leader(a->c, 1000);
    return lead && lead != a->id;
}

/* A member on a disk too small for its reserve refuses to start (exit 69,
 * the path and ENOSPC named) instead of spinning or crashing in libraft. */
Test(storage, member_without_space_refuses_to_start)
{
    s_private_mounts();
    cluster c;
    cluster_start_raft(&c, 1, NULL);
    cluster_member_kill(&c, 1, SIGTERM);
    cr_assert_eq(cluster_member_wait(&c, 1, 20000), 0);
    s_tmpfs_data_dir(&c, 1, 8);
    cluster_member_restart(&c, 1);
    int code = cluster_member_wait(&c, 1, 20000);
    cluster_node *m = &c.nodes[c.member_node[1]];
    cr_assert_eq(code, EXIT_REFUSED, "exit %d", code);
    char said[256];
    snprintf(said, sizeof said, "data_dir %s/m1 has", c.dir);
    cr_assert(cluster_log_has(m, said, 0), "the path is not named");
    cr_assert(cluster_log_has(m, "ENOSPC", 0), "the cause is not named");
    cr_assert_eq(cluster_log_count(m, "ENOSPC"), 1);
    cluster_stop(&c);
    s_untmpfs(&c, 1);
}

/* A leader whose disk fills hands the lead on and stops standing, logging
 * it once; the cluster goes on without it; freed, it stands again, and it
 * has every acknowledged JobSpec. */
Test(storage, leader_short_of_space_hands_on_the_lead_and_comes_back)
{
    s_private_mounts();
    cluster c;
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt1", NULL);
    int full = cluster_leader(&c, 10000), code;
    cluster_member_kill(&c, full, SIGTERM);
    cr_assert_eq(cluster_member_wait(&c, full, 20000), 0);
    s_tmpfs_data_dir(&c, full, RESERVE_MIB + 48);
    cluster_member_restart(&c, full);
    s_take_lead(&c, full, "transfer to the member with little space failed");
    cr_assert(cluster_submit(&c, "before", 1));

    s_fill(&c, full, (uint64_t)(RESERVE_MIB - 4) << 20);
    s_short_arg a = {&c, full, true};
    cr_assert(harness_until(10000, s_short_is, &a), "member %d not short",
              full);
    cluster_node *m = &c.nodes[c.member_node[full]];
    cr_assert(cluster_log_has(m, "ENOSPC", 10000));
    s_short_arg other = {&c, full, false};
    cr_assert(harness_until(30000, s_other_leads, &other),
              "member %d kept the lead", full);
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "during%d", i);
        cr_assert(cluster_submit(&c, id, 1));
    }
    /* It does not stand: asked to take the lead, it refuses in raft. */
    s_transfer_refused(&c, full);
    cr_assert_eq(cluster_log_count(m, "ENOSPC"), 1, "said more than once");

    char *out = NULL;
    harness_sh(&out, "rm -f %s/m%d/filler", c.dir, full);
    free(out);
    a.want = false;
    cr_assert(harness_until(10000, s_short_is, &a), "member %d still short",
              full);
    cr_assert(cluster_log_has(m, "MiB free again", 0));
    s_take_lead(&c, full, "the member freed does not take the lead again");
    const char *ids[] = {"before", "during0", "during4"};
    for (size_t i = 0; i < 3; i++) {
        json_t *r = cluster_ctl_member(&c, full, &code, "job %s", ids[i]);
        cr_assert_eq(code, 0, "member %d lost JobSpec %s", full, ids[i]);
        json_decref(r);
    }
    cluster_stop(&c);
    s_untmpfs(&c, full);
}

/* The only member, short of space, keeps the lead but refuses commands
 * with ASSAY_ENOSPC; freed, it takes them again. */
Test(storage, lone_member_short_of_space_refuses_commands_clearly)
{
    s_private_mounts();
    cluster c;
    cluster_start_raft(&c, 1, NULL);
    cluster_runtime(&c, "rt1", NULL);
    cluster_member_kill(&c, 1, SIGTERM);
    cr_assert_eq(cluster_member_wait(&c, 1, 20000), 0);
    s_tmpfs_data_dir(&c, 1, RESERVE_MIB + 48);
    cluster_member_restart(&c, 1);
    cr_assert_eq(cluster_leader(&c, 20000), 1);
    cr_assert(cluster_submit(&c, "before", 1));
    s_fill(&c, 1, (uint64_t)(RESERVE_MIB - 4) << 20);
    s_short_arg a = {&c, 1, true};
    cr_assert(harness_until(10000, s_short_is, &a), "member 1 not short");
    char *err = NULL;
    int code = harness_sh(&err, "%sassayctl --endpoint %s --timeout-ms 5000 "
                                "submit %s 2>&1",
                          HARNESS_BIN, c.member_ep[1],
                          cluster_spec(&c, "full.json",
                                       "{\"id\": \"full\", \"action\": "
                                       "\"noop.pass\", \"targets\": [{}]}"));
    cr_assert_neq(code, 0);
    cr_assert(strstr(err, "ASSAY_ENOSPC"), "not a clear error: %s", err);
    free(err);
    char *out = NULL;
    harness_sh(&out, "rm -f %s/m1/filler", c.dir);
    free(out);
    a.want = false;
    cr_assert(harness_until(10000, s_short_is, &a), "member 1 still short");
    cr_assert(cluster_submit(&c, "after", 1));
    cluster_stop(&c);
    s_untmpfs(&c, 1);
}
