/* tests/lib/cluster.h - real assayd processes on 127.0.0.1 for the
 * integration suites: start members and runtimes on free ports, wait on
 * their logs, talk to them with assayctl, and always stop them. */
#ifndef ASSAY_TEST_CLUSTER_H
#define ASSAY_TEST_CLUSTER_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "cluster/link.h"

#define CLUSTER_MAX_NODES 8

/* What every node started here gets: fast heartbeats (100 ms, 10 misses)
 * and a short kill grace so failure tests stay short, and the resource
 * monitor's gates off (no CPU threshold, no memory floor, no cgroup): a
 * busy test machine must hold no work back, and a test depends on what it
 * sets, not on the host. A test about a gate sets its own values after
 * these (a later --set wins); one starting a daemon itself uses them too. */
#define CLUSTER_NODE_FLAGS                                                     \
    "--set heartbeat_ms=100 --set heartbeat_misses=10 "                        \
    "--set kill_grace_ms=200 --set max_cpu_percent=100 "                       \
    "--set min_mem_free_percent=0 --set cgroup_root="

typedef struct cluster_node {
    pid_t pid;
    char id[32];
    char log[256];
} cluster_node;

#define CLUSTER_MAX_MEMBERS 5

typedef struct cluster {
    char dir[128];      /* temp dir for logs and files */
    char endpoint[256]; /* members' control planes, comma-separated */
    char events[64];    /* first member's event stream */
    char join[256];     /* what runtimes join: members, space-separated */
    cluster_node nodes[CLUSTER_MAX_NODES + CLUSTER_MAX_MEMBERS];
    int n;
    /* Raft members (cluster_start_raft): node index, endpoints, args. */
    int members;
    int member_node[CLUSTER_MAX_MEMBERS + 1];
    char member_ep[CLUSTER_MAX_MEMBERS + 1][64];
    char member_raft[CLUSTER_MAX_MEMBERS + 1][64];
    char member_ev[CLUSTER_MAX_MEMBERS + 1][64];
    char member_args[CLUSTER_MAX_MEMBERS + 1][1024];
} cluster;

/* Starts a member (runs no jobs) with `extra` assayd arguments after
 * CLUSTER_NODE_FLAGS; waits (bounded) until it serves. Every process
 * started here has CLUSTER_DIR (c->dir) in its environment, so that a
 * command it runs (notify_command) can write into the test's directory.
 * A port taken between harness_port() and the bind (the daemon exits 69,
 * "address already in use") is retried on fresh ports, a few times. */
void cluster_start(cluster *c, const char *extra);
/* Starts `n` raft members (ids 1..n, data under DIR/mID), waits until one
 * leads, and points c->endpoint and c->join at all of them. A port taken
 * meanwhile starts them all again on fresh ports, a few times. */
void cluster_start_raft(cluster *c, int n, const char *extra);
/* Starts member `id` (1-based) again after a kill, same data and ports. */
void cluster_member_restart(cluster *c, int id);
/* Starts member `id` not in the initial members (for `cluster add`) and
 * waits (bounded) until it serves; c->member_raft[id] is its address,
 * fresh ones if a port was taken meanwhile. */
cluster_node *cluster_member_extra(cluster *c, int id);
/* Waits (bounded) until member `id` exits and reaps it: its exit status
 * (128 + N for a signal N), or -1 if it still runs at the deadline. */
int cluster_member_wait(cluster *c, int id, int timeout_ms);
/* kill(2)s member `id`; SIGKILL also reaps it. */
void cluster_member_kill(cluster *c, int id, int sig);
/* The id of the member that leads and serves, polling until one does
 * (bounded by timeout_ms); 0 if none did. */
int cluster_leader(cluster *c, int timeout_ms);
/* Runs assayctl against one member's endpoint only (no failover). */
json_t *cluster_ctl_member(cluster *c, int id, int *code, const char *fmt,
                           ...) __attribute__((format(printf, 4, 5)));

/* Starts a runtime joining the member(s); waits until it is registered
 * (bounded, 10 s; fails at once if it exits). */
cluster_node *cluster_runtime(cluster *c, const char *id, const char *extra);
/* Runs a shell command in the background (output to DIR/ID.log); it is
 * stopped with the cluster. */
cluster_node *cluster_bg(cluster *c, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Stops every process still running: SIGTERM, then SIGKILL after 5 s. */
void cluster_stop(cluster *c);

/* Copies the last `lines` lines of every node's log to stderr, so that a
 * failure's report shows what the daemons said. */
void cluster_print_logs(const cluster *c, int lines);
/* Waits (bounded, timeout_ms) until `needle` shows up in node's log. */
bool cluster_log_has(const cluster_node *n, const char *needle,
                     int timeout_ms);

/* How many lines of node's log hold `needle` now (0 if no log). */
int cluster_log_count(const cluster_node *n, const char *needle);

/* A runtime `id` on a host of its own (its keys in `keys_dir`, empty at
 * first) that enrols with `token` (its text, or shell printing it:
 * "$(cat FILE)"), given as enrol_token or, with `env`, in
 * $ASSAY_ENROL_TOKEN; its log is LOGNAME.log. */
cluster_node *cluster_enrolling_runtime(cluster *c, const char *id,
                                        const char *logname,
                                        const char *keys_dir,
                                        const char *token, bool env);
/* Runs `assayctl --endpoint E --events E --json ARGS`; returns the parsed
 * stdout (caller decrefs; NULL if not JSON) and the exit code in *code. */
json_t *cluster_ctl(cluster *c, int *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs `assayctl --endpoint E ARGS` and expects it to exit `code` with
 * `says` in what it printed (a refusal). */
void cluster_ctl_refused(cluster *c, const char *args, int code,
                         const char *says);

/* Runs `assayctl ARGS` through any member until it exits 0 or timeout_ms
 * passes (a membership change is refused while another settles); returns
 * the last reply (caller decrefs) and its exit code in *code. */
json_t *cluster_ctl_until(cluster *c, int timeout_ms, int *code,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Integer `key` of member `id`'s `cluster` status; -1 if absent. */
long long cluster_status_int(cluster *c, int id, const char *key);
/* Polls (bounded) until member `id` has applied the log up to `index`. */
bool cluster_applied_until(cluster *c, int id, long long index,
                           int timeout_ms);
/* Submits JobSpec `id` with `jobs` noop jobs through any member (assayctl
 * follows redirects and retries other members); true once acknowledged,
 * else it says why on stderr, with the members' logs. */
bool cluster_submit(cluster *c, const char *id, int jobs);

/* Polls `job ID` until every job is in a terminal state or timeout_ms
 * passes; returns the job list (array) either way. */
json_t *cluster_wait(cluster *c, const char *id, int timeout_ms);

/* Polls until `pred` holds for the `jobs --json` list, bounded. */
bool cluster_until(cluster *c, int timeout_ms,
                   bool (*pred)(const json_t *jobs, void *arg), void *arg);

/* Writes a JobSpec file under c->dir and returns its path (static). */
const char *cluster_spec(cluster *c, const char *name, const char *json);

/* A subscriber to the events endpoint `events` for `topics` (NULL-
 * terminated), subscribed to assay.welcome last and live when it returns:
 * the member's welcome arrived, so every later event of those topics
 * reaches it (protocol.md). Bounded: 10 s. Destroy with
 * assay_link_destroy(). */
assay_link *cluster_subscribe(const char *events, const char *const *topics);
/* The same, presenting key `file` (harness_link: made as `name` with
 * `role` when absent). */
assay_link *cluster_subscribe_as(const char *events,
                                 const char *const *topics, const char *file,
                                 const char *name, const char *role);

/* A scrape of the metrics endpoint at 127.0.0.1:port, parsed by a real
 * Prometheus parser (tests/integration/metrics_probe.py), as
 * {name: {"label=value,...": value}}, presenting cluster_http_auth();
 * asserts it answered. */
json_t *cluster_metrics(int port);
/* Makes HTTP token `name` (role read) in the test's keys directory
 * (`assayctl keys token`) and puts it in token (128 bytes). */
void cluster_http_token(const char *name, char token[128]);
/* "Bearer TOKEN" of a read token of this test process's own, made on
 * first use: what a scraper presents (metrics_auth = auto asks for one
 * while security is on). */
const char *cluster_http_auth(void);
/* One sample of such a scrape; asserts it is there. */
double cluster_metric(const json_t *m, const char *name, const char *labels);

/* A raw control-plane client of a member over the transport module (not
 * assayctl): what a third-party control plane would send. */
typedef struct cluster_cp {
    assay_link *link;
    int id; /* its CLIENT link */
} cluster_cp;

/* Connects to `endpoint`; cluster_cp_close() releases it. */
void cluster_cp_open(cluster_cp *cp, const char *endpoint);
void cluster_cp_close(cluster_cp *cp);
/* Sends a request (takes `body`) and returns the next reply's body
 * (caller decrefs), waiting at most 10 s. */
json_t *cluster_cp_call(cluster_cp *cp, const char *service, json_t *body);
/* Submits a JobSpec given as JSON text; asserts it was accepted. */
void cluster_cp_submit(cluster_cp *cp, const char *spec);
/* The job record of `id` as assay.job gives it (caller decrefs). */
json_t *cluster_cp_job(cluster_cp *cp, const char *id);

#endif
