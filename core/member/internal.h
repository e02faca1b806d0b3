/* core/member/internal.h - what the member role's files share: the
 * member's struct, a runtime's session, batches, and the functions one
 * part calls in another (mb_*). Nothing outside member/ includes it. The
 * parts, bottom up: reply.c (replies, pending commands, batches, runtime
 * sessions' outboxes), roles.c, offers.c, services.c, enrol.c, lead.c,
 * sessions.c,
 * dispatch.c, tick.c, events.c, consensus.c, leader.c (lifecycle). */
#ifndef ASSAY_MEMBER_INTERNAL_H
#define ASSAY_MEMBER_INTERNAL_H

#include "member/leader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/errtext.h"
#include "base/index.h"
#include "base/log.h"
#include "base/semver.h"
#include "base/textlist.h"
#include "cluster/keys.h"
#include "cluster/link.h"
#include "cluster/registration.h"
#include "job/jobspec.h"
#include "plugin/hostapi.h"
#include "plugin/loader.h"
#include "plugin/params.h"
#include "proto/cpmsg.h"
#include "proto/rtmsg.h"
#include "state/command.h"
#include "state/fsm.h"
#include "state/snapshotter.h"
#include "state/state.h"

/* Codes ASSAY_ERRNO_MAP has, and one for any other. */
#define MB_REFUSAL_COUNT_(name, num, text) +1
#define MB_REFUSAL_CODES (1 ASSAY_ERRNO_MAP(MB_REFUSAL_COUNT_))

#define MAX_DISPATCH_BATCH 4096
/* Message bodies one loop turn decodes at most (then polls again). */
#define DRAIN_BYTES ((size_t)2 << 20)
/* Jobs one "expire" forgets: at a tick every TICK_MS, 80,000 a second. */
#define MAX_EXPIRE_BATCH 4096
#define TICK_MS 50
/* Ticks between two looks for silent runtimes (one is declared dead at
 * most this much later than its heartbeats allow). */
#define LIVENESS_TICKS 4
/* Refused registrations are logged at most this often. */
#define REFUSAL_LOG_MS 10000
/* assay.jobs: jobs in a page, and jobs looked at to fill one, so that no
 * request holds the loop for long whatever the state holds. */
#define JOBS_PAGE 1000
#define JOBS_SCAN 100000
/* Heartbeat intervals a runtime gets, beyond heartbeat_misses, to register
 * with a new leader: it notices silence after JOIN_TRIES + 1 intervals
 * (core/cluster/runtime.c), then tries members JOIN_TRIES times each. */
#define REJOIN_GRACE_BEATS 12

/* Acks waiting for a dispatch to ride on are sent alone at this many. */
#define ACK_BATCH 256

/* A runtime as the leader sees it between heartbeats. */
/* An ack owed to a runtime: its report of job's attempt is recorded, or
 * was stale. */
typedef struct s_ack {
    char job[ASSAY_JOB_ID_MAX + 1];
    int64_t attempt;
    bool stale;
} s_ack;

typedef struct s_rt {
    char id[64];
    uint8_t route[256];
    size_t route_len;
    int64_t last_seen_ms;
    int64_t heartbeat_ms; /* as registered */
    uint64_t sent;  /* dispatches sent in this session */
    uint64_t limit; /* the runtime's grant: may send while sent < limit */
    int64_t mem_available_mb;
    /* Memory jobs' requests are reserved against (0: not said), and what
     * its dispatches being committed requested. */
    int64_t mem_total_mb, inflight_mb;
    int64_t executors; /* jobs it runs at once (registration; at least 1) */
    /* CPUs (thousandths) jobs' requests are reserved against (0: not
     * said), and what its dispatches being committed requested. */
    int64_t cpu_total_milli, inflight_cpu_milli;
    char why[128];  /* why it grants no credit, "" if it does */
    /* Dispatches collected this loop turn (their entries of the message's
     * "jobs" list, packed), sent as one message before the next poll, with
     * the acks collected so far (docs/protocol.md). */
    msgpack_sbuffer out_jobs;
    size_t n_jobs;
    struct s_ack *acks;
    size_t n_acks, cap_acks;
    assay_runtime_rec *rec; /* its registry entry once known (mb_rt_rec) */
    char key[128]; /* the key it registered with ("": no security) */
    bool acks_ride;    /* it takes acks inside dispatches (acks_in_dispatch) */
    struct s_rt *next; /* every s_rt, to free them */
    struct s_rt *out_next; /* runtimes with something in an outbox */
    bool out_listed;
} s_rt;

/* An entry of a batch command: the job and attempt it is about, and the
 * runtime to answer once it is applied ("": none). */
typedef struct {
    char job[ASSAY_JOB_ID_MAX + 1];
    char runtime[64];
    int64_t attempt;
} s_item;

/* A dispatch, result or requeue batch being gathered: its command's
 * entries, and what each is about. */
typedef struct {
    assay_cmd_list *list;
    s_item *items;
    size_t n, cap;
} s_batch;

/* A housekeeping command the leader commits now and then: in flight or
 * not, and what to call it if it fails. */
typedef struct {
    bool busy;
    const char *what;
} s_chore;

/* A pace of audit lines: a token bucket, and what it left out. */
typedef struct mb_audit_pace {
    double tokens;       /* lines it may write now */
    int64_t refilled_ms; /* when tokens were last topped up */
    uint64_t suppressed; /* lines left out since the last written */
} mb_audit_pace;

/* The audit log's file and paces (audit.c): guests (unknown keys while a
 * token is pending) have a pace of their own, so that a flood of them
 * cannot crowd out what keys the cluster knows do. */
typedef struct mb_audit_log {
    int fd; /* -1: no audit log */
    char path[4096];
    int64_t size, max;
    mb_audit_pace known, guests;
    bool failing;        /* a write failed (said once per streak) */
} mb_audit_log;

struct assay_leader {
    const assay_conf *conf;
    char id[64];
    assay_loop *loop;
    assay_link *link;
    int server, pub;
    void *cdl;
    const assay_consensus_ops *cops;
    assay_consensus *cons;
    char clabel[80]; /* "consensus NAME", for what the module logs */
    assay_state *state;
    assay_index *rts;        /* id -> s_rt */
    /* Runtimes whose liveness change is being committed (mb_commit_liveness):
     * id -> its s_flip. */
    assay_index *flipping;
    s_rt *rt_list;
    s_rt *out_list; /* flushed before the next poll, then emptied */
    assay_index *resolved;     /* "action\nrange" -> s_resolved */
    s_batch results, requeues; /* waiting for the next commit */
    int tick;
    int64_t started_ms;
    pid_t hooks[64]; /* notify_command processes not yet reaped */
    int nhooks;
    bool more;  /* the transport drain stopped at its bound */
    bool dirty; /* queue or credit changed since the last plan */
    bool committed; /* submitted to consensus since mb_prepare looked */
    /* Leading: the consensus module says we lead AND our "leader" command
     * is applied, so the state holds everything committed before us.
     * Claiming: that command is in flight. */
    bool leading, claiming;
    uint64_t denied; /* requests and registrations its roles refused */
    /* Error replies sent, by code (index -code; 0: a code past the
     * table): assay_requests_refused_total{reason}. */
    uint64_t refusals[MB_REFUSAL_CODES];
    /* Who sent the request a service is handling (its key's name and
     * role; NULL without security), set around each service call. */
    const char *asker, *asker_role;
    mb_audit_log audit;
    int64_t denied_said_ms; /* when a refusal was last logged */
    /* Registrations refused (max_runtimes), and what was logged of them. */
    uint64_t refused, refused_said;
    int64_t refused_logged_ms;
    /* A claim that failed is retried a second later, and said once per
     * cause: a member that cannot write must not spin or flood its log. */
    int64_t claim_at;
    int claim_failed;
    /* Housekeeping commands, each one in flight at a time. */
    s_chore expiring;   /* "expire": finished jobs past retention */
    s_chore forgetting; /* "forget": runtimes dead past retention */
    /* Schedules (schedules.c): when each is next due. */
    struct mb_scheds *scheds;
    /* assay.stream's parked reads and chore (stream.c). */
    struct mb_stream *stream;
    /* assay.stats's ring of the state's counters (stats.c). */
    struct mb_rates *rates;
    /* The wall clock schedules fire by: assay_wall_ms unless a test sets
     * its own (no test sleeps until a fire time). */
    int64_t (*wall)(void *arg);
    void *wall_arg;
    int64_t forget_check_ms; /* when dead runtimes are looked at next */
    assay_snapshotter *snap;
    bool secure; /* its links are CURVE (security = curve) */
    /* Enrolment (enrol.c): the allow-list enrolled keys are written to
     * ("" without security), the key the cluster serves with (tokens
     * carry it), the state's enrolment generation the files follow,
     * whether guests are let in, and enrolments refused. */
    char allow_dir[4200], public_key[41];
    uint64_t keys_gen;
    bool guests;
    uint64_t ticks; /* mb_tick's calls */
    uint64_t enrol_refused;
    char endpoint[256], events_ep[256]; /* announced when leading */
    /* While a registration or catalogue update is applied: its runtime
     * and the catalogue it had before (NULL: none), for runtime.plugins. */
    bool cat_armed;
    char cat_id[64];
    json_t *cat_before;
};

/* Calls consensus op `op` (all but close return int) with the host's log
 * label naming the module, so its lines read "consensus raft: ...", as
 * core/cluster/link.c does for transports. */
#define S_COP(self, op, ...)                                                   \
    ASSAY_HOST_LABELLED((self)->clabel, (self)->cops->op(__VA_ARGS__))

/* A routing id saved across a commit. */
typedef struct {
    assay_leader *leader;
    uint8_t route[256];
    size_t route_len;
    char verb[64];
    json_t *data;
    s_batch batch; /* a batch command's entries */
} s_pending;




/* reply.c: replies, pending commands, batches, sessions and their outboxes */
void mb_forget_runtimes(assay_leader *self);
void mb_expire_sessions(assay_leader *self, int64_t now);
void mb_refused(assay_leader *self, const char *id);
const char *mb_str(const json_t *o, const char *k);
void mb_reply(assay_leader *self, const assay_bytes *route, const char *service,
              json_t *body);
s_pending *mb_pending_new(assay_leader *self, const assay_bytes *route,
                          const char *verb, json_t *data);
void mb_batch_clear(s_batch *b);
bool mb_batch_add(s_batch *b, const char *job, int64_t attempt,
                  const char *runtime);
void mb_pending_free(s_pending *p);
assay_bytes mb_route(const s_pending *p);
int mb_commit(assay_leader *self, assay_cmd *cmd, assay_commit_cb cb,
              void *arg);
void mb_ignore(void *arg, int status, void *result);
/* Commits cmd, answering the request with `data` (taken) merged with
 * the command's result once it is applied, or with why not. */
void mb_commit_reply(assay_leader *self, const assay_bytes *route,
                     const char *verb, assay_cmd *cmd, json_t *data);
/* The bodies of assay.cluster (an ok or error reply), assay.stats and
 * assay.runtimes (lead.c, stats.c, services.c), which the status page's
 * API serves as well (status.c). */
json_t *mb_cluster_json(assay_leader *self);
json_t *mb_stats_json(assay_leader *self);
json_t *mb_runtimes_json(assay_leader *self);
/* stats.c: schedules held (active, paused, ended) and their fires by
 * outcome (started, buffered, skipped, missed, nonexistent, failed). */
void mb_sched_counts(assay_leader *self, json_int_t n[3], uint64_t c[6]);
/* lead.c: the consensus module's view (0, or why not). */
int mb_status(assay_leader *self, assay_consensus_status *st);
/* tick.c: a housekeeping command's end (arg: its s_chore). */
void mb_chore_done(void *arg, int status, void *result);
/* stream.c: assay.stream; parked reads answered and consumers too far
 * behind marked, at each tick; retention's hold for what consumers have
 * not acknowledged (*low: where it starts, kept while policy is used). */
int mb_stream_new(assay_leader *self);
void mb_stream_destroy(assay_leader *self);
void mb_svc_stream(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body);
void mb_stream_tick(assay_leader *self, int64_t now);
void mb_stream_hold(assay_leader *self, assay_retention *policy,
                    uint64_t *low);
/* evidence.c: ended job j as its evidence record (docs/evidence.md):
 * packed (the result's parts decoded into zone, cleared first), or as a
 * JSON tree (new). */
void mb_evidence_pack(msgpack_packer *pk, const assay_job *j,
                      msgpack_zone *zone);
json_t *mb_evidence_record(const assay_job *j);
/* notify.c: whether events of `topic` start notify_command; runs it for
 * one (its msgpack body, or NULL); reaps the hooks that ended. */
bool mb_notify_wants(const assay_leader *self, const char *topic);
void mb_notify(assay_leader *self, const char *topic, const void *body,
               size_t len);
void mb_notify_reap(assay_leader *self);
int mb_commit_liveness(assay_leader *self, const char *id, bool alive,
                       assay_commit_cb cb, void *arg);
void mb_send_rt(assay_leader *self, const s_rt *r, const char *verb,
                const json_t *body);
assay_runtime_rec *mb_rt_rec(assay_leader *self, s_rt *r);
void mb_queue_ack(assay_leader *self, s_rt *r, const char *job, int64_t attempt,
                  bool stale);
void mb_queue_dispatch(assay_leader *self, s_rt *r, const assay_job *j);
/* Sends r's outboxes; dispatches that cannot reach r (its connection is
 * gone) are requeued at once. */
void mb_flush_rt(assay_leader *self, s_rt *r, bool force);
/* Queues a requeue of j's current attempt; `ack_to` (may be NULL) is the
 * runtime whose lost-attempt report this answers. */
void mb_requeue_item(assay_leader *self, assay_job *j, const char *reason,
                     const char *ack_to);

/* audit.c: the audit log of admin actions and refused requests */
int mb_audit_open(assay_leader *self, char *err, size_t errlen);
void mb_audit_close(assay_leader *self);
/* One line (rate-limited): `outcome` "asked" or "refused", and why. */
void mb_audit(assay_leader *self, const char *key, const char *role,
              const char *service, const char *outcome, const char *fmt, ...)
    ASSAY_PRINTF(6, 7);

/* roles.c: who may do what */
bool mb_may_call(assay_leader *self, const assay_link_msg *m);
bool mb_may_run(assay_leader *self, const assay_link_msg *m);
bool mb_may_be(assay_leader *self, const assay_link_msg *m, const char *id);
/* Inside a service: whether the asker may cancel JobSpec s's jobs (an
 * admin any, a submitter those it submitted); a refusal is logged. */
bool mb_may_cancel(assay_leader *self, const assay_spec_rec *s);
/* Inside a service: whether the asker may change what key `owner` made
 * (an admin anything, a submitter its own); `what` names it in the
 * refusal logged. */
bool mb_may_manage(assay_leader *self, const char *owner,
                   const char *service, const char *what);
/* Inside a service: the asker's key name to record with a command (the
 * cluster at the attribution level), else NULL. */
const char *mb_attribution(const assay_leader *self);

/* offers.c: what the runtimes offer */
void mb_offers_reset(assay_leader *self, bool renew);
/* The plugin version runtime rec would run class c's jobs with ("" if it
 * cannot), remembered in c by the runtime's registration position until
 * a catalogue may have changed (mb_offers_reset): worked out again for
 * every JobSpec over every catalogue, with 1,000 runtimes one-job JobSpecs
 * went through at 600 a second. Valid until then. */
const char *mb_offer(assay_leader *self, assay_class *c,
                     const assay_runtime_rec *rec);
/* The registry positions of the runtimes that offer class c's jobs (*n
 * of them), remembered in c likewise; NULL without memory. */
const size_t *mb_offering(assay_leader *self, assay_class *c, size_t *n);
const json_t *mb_pick(const json_t *catalog, const char *name,
                      const char *action, const assay_semver_range *range,
                      assay_semver *best);
int mb_resolve_cached(assay_leader *self, const assay_jobspec *spec,
                      const json_t **decl, const char **version, char *err,
                      size_t errlen);

/* schedules.c: when schedules are due, and firing them */
typedef struct mb_scheds mb_scheds;
int mb_scheds_new(assay_leader *self);
void mb_scheds_destroy(assay_leader *self);
/* Forgets every plan: a member taking or losing the lead. */
void mb_scheds_reset(assay_leader *self);
/* Plans the schedules that changed and commits the fires that are due. */
void mb_scheds_tick(assay_leader *self);
/* The wall clock (ms) schedules go by. */
int64_t mb_wall_ms(const assay_leader *self);
struct assay_sched_limits mb_sched_limits(const assay_leader *self);
/* When schedule id is next due (ms), INT64_MAX if never / unknown. */
int64_t mb_sched_due(const assay_leader *self, const char *id);
/* The same for any member (status.c): a leader's plan; one that does
 * not lead works it out from rec as the leader plans it. */
int64_t mb_sched_next_due(assay_leader *self,
                          const struct assay_sched_rec *rec);
/* rec's definition compiled (NULL if it cannot be here). */
const struct assay_sched_def *mb_sched_def(assay_leader *self,
                                           const struct assay_sched_rec *rec);
/* The JobSpec of d's fire at nominal (of kind), built and checked as a
 * submit: its fields in *cs (pointing into *spec, which the caller
 * destroys), its jobs in *jobs; or why not. */
int mb_sched_run_build(assay_leader *self, const struct assay_sched_def *d,
                       int64_t nominal, int kind, assay_jobspec **spec,
                       assay_cmd_spec *cs, assay_cmd_list **jobs, char *err,
                       size_t errlen);
/* CPU time (ns) the schedules' ticks took since the member started:
 * planning, building runs, committing fires (not applying them). */
int64_t mb_scheds_cpu_ns(const assay_leader *self);
/* Schedules due now and not yet fired. */
size_t mb_scheds_due_now(const assay_leader *self);
/* stats.c: assay.stats, and the counters it sampled each second */
typedef struct mb_rates mb_rates;
int mb_rates_new(assay_leader *self);
void mb_rates_destroy(assay_leader *self);
void mb_rates_sample(assay_leader *self);
void mb_svc_stats(assay_leader *self, const assay_bytes *route,
                  const char *verb, const json_t *body);
/* schedule_service.c: assay.schedule */
void mb_svc_schedule(assay_leader *self, const assay_bytes *route,
                     const char *verb, const json_t *body);
/* services.c: control-plane services */
/* A JobSpec checked as a submit checks it (feature level, action and
 * version resolved, every job's params type-checked): the version it
 * resolved to, and its jobs (assay_cmd_list_job entries). */
int mb_spec_build(assay_leader *self, const assay_jobspec *spec,
                  const char **resolved, assay_cmd_list **jobs, char *err,
                  size_t errlen);
/* Its fields as the log holds them (the member's defaults filled in; by:
 * the asker, at the attribution level). */
assay_cmd_spec mb_spec_fields(const assay_leader *self,
                              const assay_jobspec *spec,
                              const char *resolved);
void mb_svc_submit(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body);
void mb_svc_job(assay_leader *self, const assay_bytes *route, const char *verb,
                const json_t *body);
bool mb_labels_match(const json_t *want, const json_t *have);
void mb_svc_jobs(assay_leader *self, const assay_bytes *route, const char *verb,
                 const json_t *body);
/* Tells the runtime of job j (cancelled while it ran there) to stop it. */
void mb_stop_on_runtime(void *arg, const assay_job *j);
void mb_svc_restart(assay_leader *self, const assay_bytes *route,
                    const char *verb, const json_t *body);
void mb_svc_cancel(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body);
void mb_svc_runtimes(assay_leader *self, const assay_bytes *route,
                     const char *verb, const json_t *body);
void mb_svc_plugins(assay_leader *self, const assay_bytes *route,
                    const char *verb, const json_t *body);
void mb_svc_rescan(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body);

/* enrol.c: enrolment tokens and enrolled keys */
void mb_svc_keys(assay_leader *self, const assay_bytes *route,
                 const char *verb, const json_t *body);
void mb_svc_enrol(assay_leader *self, const assay_bytes *route,
                  const char *verb, const json_t *body);
void mb_enrolled_sync(assay_leader *self);
void mb_enrolled_applied(assay_leader *self, const json_t *result);
void mb_guests_check(assay_leader *self);

/* lead.c: members, redirects, the lead */
const json_t *mb_known_leader(assay_leader *self);
void mb_role(assay_leader *self);
void mb_on_client(assay_leader *self, const assay_link_msg *m);

/* sessions.c: runtime messages */
/* What a registration's capacity says placement reserves against:
 * memory (MB; memory_total_mb, else memory_mb) and CPUs (thousandths),
 * 0 when not said, and the jobs it runs at once (at least 1). */
typedef struct {
    int64_t memory_mb, cpu_milli, executors;
} mb_capacity;
mb_capacity mb_capacity_read(const json_t *cap);
int mb_drain(assay_leader *self);
void mb_on_transport(void *arg, int fd, short revents);

/* dispatch.c: the dispatcher */
int mb_prepare(void *arg, struct pollfd *pfd, int max, int64_t *deadline_ms);

/* tick.c: timers, and a runtime's death */
void mb_tick(void *arg);
/* Runtime rec (r: its session, or NULL) is dead or left: committed dead
 * (notify_command once applied), its running jobs requeued with `why`,
 * no credit until it speaks again. */
void mb_runtime_gone(assay_leader *self, assay_runtime_rec *rec, s_rt *r,
                     const char *why);

/* events.c: events */
bool mb_wants(void *arg, const char *topic);
void mb_catalog_arm(assay_leader *self, const void *cmd, size_t len);
void mb_catalog_disarm(assay_leader *self);
void mb_on_event(void *arg, const char *topic, const void *body, size_t len);

/* consensus.c: the consensus module */
int mb_fsm_apply(void *data, const void *cmd, size_t len, void **result);
int mb_fsm_snapshot(void *data, void **buf, size_t *len);
void mb_fsm_snapshot_free(void *data, void *buf, size_t len);
int mb_fsm_restore(void *data, const void *buf, size_t len);
void mb_fsm_release(void *data, void *result);
void mb_on_consensus(void *arg, int fd, short revents);
#endif
