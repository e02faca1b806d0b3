/* bench/assay-bench/bench.h - what the files of assay-bench share: its
 * state (s_bench, one instance, main.c's) and the functions they call in
 * each other. The program's documentation is main.c's header comment.
 *
 *   main.c      options, usage, main; small helpers every file uses
 *               (notes, errors, the deadline, the JSON report)
 *   procs.c     processes: finding assayd, ports, starting and stopping
 *               children, their logs, the leader's /proc figures
 *   cluster.c   starting members and real runtimes; the members'
 *               endpoints
 *   cp.c        the control-plane client (libassay-client): opening it,
 *               its messages, synchronous calls, the leader, runtimes
 *   loop.c      the one loop: the client and the simulated runtimes
 *               polled together, timers, progress
 *   jobs.c      the JobSpecs of run and memory: ids, bodies, submits,
 *               their replies and the jobs' events
 *   sim.c       simulated runtimes (the runtime protocol on assay_link)
 *   run.c       `run`: warm-up, throughput, latency, idle, the report
 *   memory.c    `memory`
 *   failover.c  `failover` */
#ifndef ASSAY_BENCH_H
#define ASSAY_BENCH_H

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <assay/client.h>
#include <jansson.h>

#include "proto/cpmsg.h"
#include "proto/names.h"

#define MAX_EPS 8
#define MAX_REAL_RUNTIMES 64
#define MAX_SIM_RUNTIMES 16384
#define SIM_PER_PROC 4096 /* ~2 descriptors each, under a 20,000 limit */
#define GROUP_LINKS 16        /* transport/zmq MAX_LINKS: links per instance */
#define MAX_GROUPS ((MAX_SIM_RUNTIMES + GROUP_LINKS - 1) / GROUP_LINKS)
#define MAX_PROCS (3 + MAX_REAL_RUNTIMES)
#define MAX_ARGS 48
#define MAX_MESSAGE ((size_t)256 << 20)
#define DRAIN_BOUND 4096
#define SEC 1000000LL

enum { CMD_RUN = 1, CMD_FAILOVER, CMD_MEMORY };

typedef struct {
    int cmd;
    long jobs, runtimes, per_spec, window, backlog, queued, jobs_per_kill,
        slots, unplaceable;
    bool simulated, json, keep, per_spec_given, jobs_given;
    bool mix; /* --mix durations: jobs of mixed lengths (mix.c) */
    bool plain; /* --security none: every process and link without CURVE */
    double rate, idle_s, settle_s;
    int members, heartbeat_ms, timeout_s, kills, executors, depth;
    const char *endpoint, *events, *action, *params;
    const char *member_sets[8]; /* --member-set KEY=VALUE, in order */
    int n_member_sets;
} s_opts;

typedef struct {
    pid_t pid; /* 0: not running */
    char name[32];
    char *argv[MAX_ARGS];
    char log[PATH_MAX];
    bool member;
} s_proc;

struct s_srt;   /* a simulated runtime (sim.c) */
struct s_group; /* the assay_link instance of up to GROUP_LINKS of them */

typedef struct {
    s_opts o;
    char exe_dir[PATH_MAX], assayd[PATH_MAX], plugins[PATH_MAX];
    char tmp[PATH_MAX];
    int64_t t_start, deadline;
    char fatal[512];
    /* Members: control-plane and event endpoints (ours, or --endpoint). */
    char eps[MAX_EPS][256], evs[MAX_EPS][256], raft[3][64];
    int neps, leader; /* leader: index into eps, -1 unknown */
    bool own;         /* we started the cluster */
    int consensus_members;
    s_proc procs[MAX_PROCS];
    int nprocs;
    int member_proc[3]; /* index into procs */
    char rt_prefix[32]; /* ids of our runtimes start with it */
    /* Control plane (cp.c): the client, and the ticket a call awaits. */
    assay_client *cl;
    bool cl_dirty; /* sent on or readable since the last drain */
    bool awaiting;
    uint64_t await;
    json_t *reply;
    /* Simulated runtimes. */
    struct s_srt *rts;
    int nrts;
    struct s_group *groups;
    int ngroups;
    int64_t sim_next_us;
    json_t *catalog;
    long slots;
    uint64_t sim_sessions, sim_dispatched, sim_results, sim_heartbeats,
        sim_pulses, sim_reregisters, sim_redirects, sim_silent, sim_acks;
    int64_t hb_gap_max_us;
    /* Simulated runtimes in child processes (simproc.c): each child's
     * pid and pipes, and what they counted while measuring. */
    struct s_kid *kids;
    int nkids;
    /* Jobs (run). */
    char prefix[40];
    size_t prefix_len;
    long nspecs, per_spec;
    json_t *params, *targets;
    int64_t *spec_sent_us;
    uint8_t *spec_acked, *done;
    int64_t *lat_us;
    long sent, replied, acked_specs, submitted, completed, failed,
        submit_errors, passed, dup_events, reconciled;
    int64_t first_send_us, last_send_us, last_event_us, t0_us,
        max_send_lag_us;
    bool warm, measuring;
    long warm_sent, dead_events;
    char first_error[512];
    /* Progress. */
    const char *phase;
    int64_t progress_next;
    double cpu_prev;
    int64_t cpu_prev_us;
    pid_t cpu_prev_pid;
} s_bench;

/* The leader's CPU seconds over [t0, t1] and peak RSS. */
typedef struct {
    pid_t pid;
    double cpu0, cpu1;
    int64_t t0, t1;
} s_cpu;

/* ---- main.c ------------------------------------------------------------ */

extern volatile sig_atomic_t bench_interrupted;

void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* snprintf that truncates quietly (paths and messages are bounded). */
void bench_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Interrupted, a fatal error, or past --timeout. */
bool bench_stopping(const s_bench *b);
/* Keeps the first error of the run (for the report). */
void bench_error(s_bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
json_t *bench_real(double x);
/* Writes the one JSON object of --json (and drops it). */
void bench_emit(json_t *r);

/* ---- procs.c ----------------------------------------------------------- */

int bench_locate(s_bench *b);
int bench_keys(s_bench *b);
int bench_free_port(void);
s_proc *bench_proc_new(s_bench *b, const char *name, bool member);
void bench_arg(s_proc *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int bench_spawn(s_bench *b, s_proc *p);
void bench_kill9(s_proc *p);
void bench_stop_all(s_bench *b);
void bench_check_children(s_bench *b);
void bench_show_logs(s_bench *b, bool tails);
double bench_cpu_s(pid_t pid);
long bench_status_kb(pid_t pid, const char *key);
pid_t bench_leader_pid(const s_bench *b);
void bench_cpu_start(s_bench *b, s_cpu *c);
void bench_cpu_stop(s_cpu *c);
json_t *bench_leader_json(const s_cpu *c);
void bench_print_leader(const s_cpu *c);

/* ---- cluster.c --------------------------------------------------------- */

int bench_start_member(s_bench *b, int i);
int bench_start_cluster(s_bench *b, int members);
int bench_start_real_runtimes(s_bench *b, long n);
int bench_ep_index(s_bench *b, const char *ep);

/* ---- cp.c -------------------------------------------------------------- */

int bench_cp_open(s_bench *b, const char *events, int64_t silence_ms);
void bench_cp_drain(s_bench *b);
json_t *bench_call(s_bench *b, const char *service, const json_t *body,
                   int64_t wait_us);
bool bench_ok(const json_t *r);
int bench_find_leader(s_bench *b, int64_t until);
long bench_runtimes_alive(s_bench *b, long *dead);
int bench_wait_runtimes(s_bench *b, long want);

/* ---- loop.c ------------------------------------------------------------ */

void bench_pump(s_bench *b, int64_t until);
void bench_sleep(s_bench *b, int64_t us);

/* ---- jobs.c ------------------------------------------------------------ */

bool bench_parse_id(const s_bench *b, const char *id, long *spec, long *k);
long bench_spec_jobs(const s_bench *b, long spec);
long bench_ended(const s_bench *b);
json_t *bench_spec_body(s_bench *b, const char *id, long targets);
int bench_submit(s_bench *b, const char *id, long targets);
void bench_submit_spec(s_bench *b, long i);
/* N jobs as JobSpecs of per_spec targets: nspecs and what is kept of each
 * JobSpec; -1 when out of memory. */
int bench_specs_init(s_bench *b, long per_spec);
void bench_mark_done(s_bench *b, long spec, long k, const char *state,
                     const json_t *job, int64_t now, bool from_event);
void bench_on_event(s_bench *b, const char *topic, const json_t *body,
                    int64_t now);
void bench_on_submit_reply(s_bench *b, int status, const json_t *body);

/* ---- sim.c ------------------------------------------------------------- */

/* R simulated runtimes, all first joining member `ep`: up to
 * SIM_PER_PROC in this process, the rest in child processes of as many
 * each (simproc.c), since each costs this process two descriptors. */
int bench_sim_start(s_bench *b, long n, int ep, long slots);
int bench_sim_slice(s_bench *b, long first, long n, int ep, long slots);
/* The child processes' runtimes start counting heartbeats, pulses and
 * gaps: the measured period begins; then they stop, and their counts are
 * added to this process's (heartbeats and pulses: those measured; the
 * rest: all). Idempotent. */
void bench_sim_measure(s_bench *b);
void bench_sim_collect(s_bench *b);
/* The runtime key the simulated runtimes share, made now (before child
 * processes would race to make it). */
int bench_sim_key_ready(s_bench *b);
void bench_sim_destroy(s_bench *b);
void bench_sim_timers(s_bench *b, int64_t now);
bool bench_sim_process(s_bench *b);
int bench_sim_pollfds(const s_bench *b, struct pollfd *pfd, bool *dirty);
void bench_sim_polled(s_bench *b, const struct pollfd *pfd);
long bench_sim_registered(const s_bench *b);

/* mix.c: --mix durations. The action of spec i (into buf); how long a
 * simulated runtime holds a job of `action` (ms; 0 for noop.pass, -1 if
 * it offers none such); the sim plugin's actions for the catalogue;
 * teaching the leader each action's duration before the run; the lower
 * bound on the run's makespan (s). */
const char *bench_mix_action(long spec, char *buf, size_t cap);
int64_t bench_mix_ms(const char *action);
json_t *bench_mix_catalog_actions(void);
int bench_mix_teach(s_bench *b);
double bench_mix_bound_s(const s_bench *b);
json_t *bench_sim_json(const s_bench *b);
void bench_print_sim(const s_bench *b);

/* ---- run.c, memory.c, failover.c --------------------------------------- */

int bench_cmd_run(s_bench *b);
int bench_cmd_memory(s_bench *b);
int bench_cmd_failover(s_bench *b);

#endif
