/* bench/inproc.h - a member in this process for the benchmarks that
 * drive its state machine directly (bench-schedules, bench-jobquery):
 * consensus none, security none, on free 127.0.0.1 ports; commands committed as the leader commits them, and the loop
 * turned until they are applied. */
#ifndef ASSAY_BENCH_INPROC_H
#define ASSAY_BENCH_INPROC_H

#include <stdbool.h>

#include "member/internal.h"

typedef struct {
    assay_conf conf;
    assay_loop *loop;
    assay_leader *m;
    int inflight; /* commands committed, not yet applied */
} bench_member;

/* Starts it leading (exits the program on failure); `tune` (may be NULL)
 * adjusts the configuration first. */
void bench_member_start(bench_member *b, void (*tune)(assay_conf *conf));
void bench_member_stop(bench_member *b);
/* Commits cmd (exits if it cannot, or if it fails once applied). */
void bench_member_commit(bench_member *b, assay_cmd *cmd);
/* Turns the loop until cond(arg) holds and nothing is in flight; exits
 * after 60 s of real time. */
void bench_member_until(bench_member *b, bool (*cond)(void *arg), void *arg);
/* Registers runtime `id` (never heard from again) offering
 * `plugin`@1.0.0 with `actions` (NULL-terminated), so that JobSpecs of
 * them resolve. */
void bench_member_runtime(bench_member *b, const char *id, const char *plugin,
                          const char *const *actions);
/* Process CPU (user + system) in seconds, and its resident set in KiB. */
double bench_cpu_s(void);
long bench_rss_kb(void);

#endif
