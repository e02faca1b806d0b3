/* bench/bench_snapshot.c - what a snapshot of a large state costs the
 * member's loop, and what restoring it costs (issue 12).
 *
 * Builds a state of N jobs (JobSpecs of 100 jobs, half of them run to a
 * result) from encoded log commands, then measures:
 *  - replay: applying those commands to an empty state (what a member
 *    without a snapshot does);
 *  - stop-the-world: encoding the state on the loop (assay_fsm_snapshot,
 *    what every snapshot cost before the snapshotter);
 *  - the snapshotter: the first ask (fork), the longest of the asks
 *    while the child encodes (1 ms apart, a command applied between
 *    each, as a busy member does; also with that command's apply, which
 *    pays copy-on-write faults), and the final ask (the container
 *    mapped): the loop's share; and the child's wall time;
 *  - restore of the container into an empty state.
 * Like assayd, it runs with its heap in transparent huge pages; set
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=0 to see 4 KiB pages.
 * Usage: bench-snapshot [N] (default 1000000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/errtext.h"
#include "base/hugepages.h"
#include "state/fsm.h"
#include "state/snapshotter.h"
#include "state/state.h"

#define PER_SPEC 100

typedef struct {
    char **cmd;
    size_t *len, n, cap;
} s_log;

static void s_log_add(s_log *l, json_t *cmd)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->cmd = realloc(l->cmd, l->cap * sizeof *l->cmd);
        l->len = realloc(l->len, l->cap * sizeof *l->len);
        if (!l->cmd || !l->len)
            abort();
    }
    if (assay_codec_encode(cmd, &l->cmd[l->n], &l->len[l->n]) != 0)
        abort();
    l->n++;
    json_decref(cmd);
}

static void s_apply(assay_state *st, const char *buf, size_t len)
{
    json_t *res = NULL;
    char err[ASSAY_ERRMSG_SIZE];
    if (assay_fsm_apply(st, buf, len, &res, err, sizeof err) != 0) {
        fprintf(stderr, "bench-snapshot: refused: %s\n", err);
        exit(1);
    }
    json_decref(res);
}

int main(int argc, char **argv)
{
    assay_hugepages_exec(argv); /* as assayd does */
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    if (n < PER_SPEC) {
        fprintf(stderr, "usage: bench-snapshot [N >= %d]\n", PER_SPEC);
        return 64;
    }
    s_log log = {0};
    s_log_add(&log, json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:i}", "v", 1,
                              "op", "leader", "id", "m1", "endpoint",
                              "tcp://a:1", "events", "tcp://a:2", "member",
                              1, "level", ASSAY_STATE_LEVEL));
    for (long s = 0; s < n / PER_SPEC; s++) {
        char sid[32];
        snprintf(sid, sizeof sid, "spec-%ld", s);
        json_t *jobs = json_array();
        for (int i = 0; i < PER_SPEC; i++) {
            char jid[48];
            snprintf(jid, sizeof jid, "%s-%d", sid, i);
            json_array_append_new(jobs, json_pack("{s:s, s:{}}", "id", jid,
                                                  "params"));
        }
        s_log_add(&log,
                  json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:{}, s:{}, s:i, "
                            "s:i, s:i}, s:o}",
                            "v", 1, "op", "submit", "spec", "id", sid,
                            "action", "noop.pass", "resolved", "1.0.0",
                            "labels", "selector", "timeout_ms", 30000,
                            "max_attempts", 3, "priority", 0, "jobs", jobs));
        json_t *disp = json_array(), *res = json_array();
        for (int i = 0; i < PER_SPEC / 2; i++) {
            char jid[48];
            snprintf(jid, sizeof jid, "%s-%d", sid, i);
            json_array_append_new(disp, json_pack("{s:s, s:i, s:s, s:s, s:I}",
                                                  "job", jid, "attempt", 1,
                                                  "runtime", "rt-a", "version",
                                                  "1.0.0", "at",
                                                  (json_int_t)s));
            json_array_append_new(
                res, json_pack("{s:s, s:i, s:{s:s, s:s}, s:s, s:I}", "job",
                               jid, "attempt", 1, "result", "status", "pass",
                               "message", "", "runtime", "rt-a", "at",
                               (json_int_t)s + 1));
        }
        s_log_add(&log, json_pack("{s:i, s:s, s:o}", "v", 1, "op",
                                  "dispatch", "items", disp));
        s_log_add(&log, json_pack("{s:i, s:s, s:o}", "v", 1, "op", "result",
                                  "items", res));
    }

    assay_state *st = assay_state_new(NULL, NULL);
    int64_t t0 = assay_now_us();
    for (size_t i = 0; i < log.n; i++)
        s_apply(st, log.cmd[i], log.len[i]);
    int64_t replay = assay_now_us() - t0;

    /* The loop's share: every ask, with commands applied in between. */
    assay_snapshotter *sn = assay_snapshotter_new();
    void *buf = NULL;
    size_t len = 0;
    int64_t first = 0, longest = 0, last = 0, turn = 0,
            t_fork = assay_now_us();
    int rc = ASSAY_EBUSY, asks = 0;
    long extra = 0;
    while (rc == ASSAY_EBUSY) {
        t0 = assay_now_us();
        rc = assay_snapshotter_take(sn, st, &buf, &len);
        int64_t took = assay_now_us() - t0;
        if (!asks++)
            first = took;
        else if (rc == ASSAY_EBUSY && took > longest)
            longest = took;
        else
            last = took;
        if (rc != ASSAY_EBUSY)
            break;
        /* A busy member: a one-job JobSpec applied between asks (its
         * writes pay the copy-on-write of what the child still shares). */
        int64_t t1 = assay_now_us();
        char sid[32];
        snprintf(sid, sizeof sid, "late-%ld", extra++);
        json_t *c = json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:i, s:i, s:i}, "
                              "s:[{s:s, s:{}}]}",
                              "v", 1, "op", "submit", "spec", "id", sid,
                              "action", "noop.pass", "resolved", "1.0.0",
                              "timeout_ms", 30000, "max_attempts", 1,
                              "priority", 0, "jobs", "id", sid, "params");
        char *e;
        size_t el;
        assay_codec_encode(c, &e, &el);
        json_decref(c);
        s_apply(st, e, el);
        assay_snapshotter_applied(sn, e, el);
        free(e);
        if (assay_now_us() - t1 + took > turn)
            turn = assay_now_us() - t1 + took;
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    }
    int64_t child = assay_now_us() - t_fork;
    if (rc) {
        fprintf(stderr, "bench-snapshot: snapshot failed: %s\n",
                assay_strerror(rc));
        return 1;
    }
    /* After the snapshotter: freeing the encoded tree leaves the heap in
     * fragments that the next large malloc consolidates, touching pages a
     * child would then share (copy-on-write), which no member does
     * before a snapshot. */
    char *plain;
    size_t plain_len;
    t0 = assay_now_us();
    if (assay_fsm_snapshot(st, &plain, &plain_len) != 0)
        return 1;
    int64_t stw = assay_now_us() - t0;
    free(plain);

    assay_state *back = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    t0 = assay_now_us();
    rc = assay_fsm_restore(back, buf, len, err, sizeof err);
    int64_t restore = assay_now_us() - t0;
    if (rc) {
        fprintf(stderr, "bench-snapshot: restore: %s\n", err);
        return 1;
    }
    printf("bench-snapshot: %ld jobs (%zu log commands): replay %.2f s; "
           "stop-the-world encode %.3f s (%.1f MB)\n",
           n, log.n, replay / 1e6, stw / 1e6, plain_len / 1e6);
    printf("bench-snapshot: off the loop: fork %.2f ms, longest ask while "
           "encoding %.3f ms (with the command applied after it: %.2f ms), "
           "final ask %.2f ms; child %.2f s, %ld commands applied meanwhile "
           "(%.1f MB)\n",
           first / 1e3, longest / 1e3, turn / 1e3, last / 1e3, child / 1e6,
           extra, len / 1e6);
    printf("bench-snapshot: restore %.2f s (%.2fx replay); %zu jobs back\n",
           restore / 1e6, (double)restore / (double)replay,
           assay_state_job_count(back));
    assay_snapshot_free(buf, len);
    assay_snapshotter_destroy(&sn);
    assay_state_destroy(&back);
    assay_state_destroy(&st);
    for (size_t i = 0; i < log.n; i++)
        free(log.cmd[i]);
    free(log.cmd);
    free(log.len);
    return 0;
}
