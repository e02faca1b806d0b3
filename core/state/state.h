/* core/state/state.h - the replicated state machine: JobSpecs, Jobs and
 * their transitions, the runtime registry (with each runtime's heartbeat
 * interval: the configuration store of seed 002), retention.
 *
 * Every change is a command (msgpack in the log, built by command.h,
 * decoded and applied through the op table in apply.c) applied in log
 * order on every member, so any member can take over. Only the leader's
 * bookkeeping (leases, credit, last heartbeat) lives outside. Applying a
 * command that does not fit the current state (a result for an old
 * attempt, a dispatch of a job no longer queued) changes nothing and
 * returns ASSAY_ERANGE: that is the fencing of invariant 2.
 *
 * Versions (docs/architecture.md#state-format-and-upgrades): every command
 * carries its op's encoding version "v" and every snapshot the format
 * version; a member reads every version up to the ones it was built with
 * and refuses a newer one with ASSAY_EUNSUPP, naming it. The cluster's
 * feature level (assay_state_level) says which ops the leader may emit:
 * an op new at level N is only committed once the level is N, raised by
 * the "level" op (assayctl cluster upgrade) when every member reads it.
 *
 * Commands (fields; "at" is the leader's clock in ms, 0 when absent):
 *   submit  {spec:{id, action, version, resolved, labels, selector,
 *                  timeout_ms, max_attempts, priority, memory_mb,
 *                  retain_seconds?, by?},
 *            jobs:[{id, params}], at?}
 *     by (level 4): {name, role} of the key that asked.
 *   dispatch {items:[{job, attempt, runtime, version, at?}]}
 *   result   {items:[{job, attempt, result, runtime, at?}]}
 *   requeue  {items:[{job, attempt, reason, runtime?, at?}]}
 *   cancel   {jobs:[id], at?, by?} (by: level 4, as submit's)
 *   runtime  {id, heartbeat_ms, labels, capacity, catalog}
 *   runtime_state {id, alive}
 *   leader   {id, endpoint, events, member, level?}: a member took the
 *     lead; committed by each new leader before it acts, so it is also the
 *     barrier after which its state is complete. The first one a state
 *     applies sets its feature level from "level" (a new cluster starts at
 *     its first leader's level; a log without it stays at level 1).
 *   expire  {jobs:[id]} (level 2): forgets terminal jobs, and a JobSpec
 *     with its last job (retention.c chooses them).
 *   level   {level} (level 2): raises the feature level.
 *   forget  {runtimes:[id]} (level 3): forgets runtimes that are dead and
 *     hold no running job (the leader chooses them:
 *     retain_runtime_seconds); publishes runtime.gone for each.
 *   token   {name, role, hash, expires_ms, at, by?} (level 5): an
 *     enrolment token (enrolment.c): the key that presents its secret
 *     (hash: BLAKE2b-256 of it, hex) before expires_ms is enrolled as
 *     `name` with `role`; replaces a pending one of that name.
 *   enrol   {name, key, hash, at} (level 5): the token of that name and
 *     hash is used up by `key`, now enrolled.
 *   unenrol {name, at, by?} (level 5): revokes the key enrolled as name,
 *     or the token pending for it.
 *   restart {jobs:[id], at, by?} (level 7): failed or cancelled jobs are
 *     queued again for a new series of attempts (their history kept).
 *   Schedules' ops (level 7): state/schedule.h. A submit's spec may say
 *   submitted_ms from level 7. */
#ifndef ASSAY_CORE_STATE_H
#define ASSAY_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <msgpack.h>

#include "base/index.h"

/* Snapshot format this build writes (it reads 1 up to this). Format 3: a
 * JobSpec may name who submitted it. Format 4: enrolment tokens and
 * enrolled keys. Format 5: actions' duration estimates. Format 6:
 * schedules, and the schedule a JobSpec is a run of. Format 7: evidence
 * (JobSpecs' title, description, series, controls; ended jobs' records;
 * hosts; the drift table; the stream's last position). */
#define ASSAY_STATE_VERSION 7
/* Highest feature level this build speaks. */
#define ASSAY_STATE_LEVEL 8
/* The feature level that brought retention (the "expire" op). */
#define ASSAY_LEVEL_RETENTION 2
/* The feature level that brought forgetting dead runtimes ("forget"). */
#define ASSAY_LEVEL_FORGET 3
/* The feature level that brought attribution (submit's and cancel's
 * "by"). */
#define ASSAY_LEVEL_ATTRIBUTION 4
/* The feature level that brought enrolment ("token", "enrol",
 * "unenrol"). */
#define ASSAY_LEVEL_ENROLMENT 5
/* The feature level that brought the planner's records: duration
 * estimates (learned from results as they are applied; kept in
 * snapshots), and JobSpecs' CPU requests and placement. */
#define ASSAY_LEVEL_PLANNER 6
/* The feature level that brought schedules (state/schedule.h). */
#define ASSAY_LEVEL_SCHEDULES 7
/* The feature level that brought evidence (docs/evidence.md): JobSpecs'
 * title, description, series and controls; runtimes' host facts; every
 * ended job's stream position, host, plugin digest and drift. */
#define ASSAY_LEVEL_EVIDENCE 8
/* Attempts a job's history keeps (JobSpecs allow at most 100). */
#define ASSAY_ATTEMPTS_MAX 100

typedef enum {
    ASSAY_JOB_QUEUED = 0,
    ASSAY_JOB_RUNNING,
    ASSAY_JOB_COMPLETED,
    ASSAY_JOB_FAILED,
    ASSAY_JOB_CANCELLED,
} assay_job_state;

/* Longest job id, in bytes. */
#define ASSAY_JOB_ID_MAX 95

typedef struct assay_job assay_job;
typedef struct assay_class assay_class;
/* Jobs linked by prev/next, oldest first. */
typedef struct assay_job_list {
    assay_job *head, *tail;
} assay_job_list;

typedef struct assay_spec_rec {
    char id[65];
    /* Interned by the state: many JobSpecs share them. */
    const char *action, *version, *resolved;
    json_t *labels, *selector; /* objects; the empty ones shared */
    /* Its first job not yet expired: its jobs are one run of the
     * submission-order list (assay_spec_jobs walks them). */
    assay_job *first;
    int64_t timeout_ms, max_attempts, priority, memory_mb;
    int64_t cpu_milli; /* resources.cpus in thousandths; 0: any */
    bool pack;         /* placement "pack": fill a runtime, not spread */
    int64_t retain_ms; /* its own retention by age; 0: the member's */
    /* Who submitted it (key name and role; interned), NULL if the log
     * does not say (before level 4, or security = none). */
    const char *by_name, *by_role;
    size_t live; /* its jobs not yet expired */
    size_t unfinished; /* its jobs queued or running */
    assay_class *placement; /* where its queued jobs wait */
    /* The schedule whose run it is (interned id; level 7), NULL if none;
     * while that schedule is held, its record and the list of its runs. */
    const char *schedule;
    struct assay_sched_rec *sched;
    struct assay_spec_rec *sched_prev, *sched_next;
    /* When it was submitted (the leader's wall clock, level 7; 0:
     * unknown). */
    int64_t submitted_ms;
    /* Evidence metadata (level 8): NULL when not given; series interned
 * ("": none; a schedule's runs compare by the schedule's id); controls
 * the msgpack array the log held. */
    char *title, *description;
    const char *series;
    unsigned char *controls;
    uint32_t controls_len;
    /* The JobSpecs of its action and of its schedule, in submission
     * order (assay_state_specs_by): what job queries walk. */
    struct assay_spec_rec *by_prev[2], *by_next[2];
    struct assay_spec_rec *prev, *next; /* submission order */
} assay_spec_rec;

/* A placement class (core/state/placement.c): the queued jobs of the
 * JobSpecs alike in everything placement depends on (action, resolved
 * version, selector, memory request, priority), FIFO. Derived from the
 * JobSpecs on every member, not replicated: the planner looks at the head
 * of each class with work instead of walking the whole queue, and a class
 * no live runtime can take is parked, costing nothing until woken. */
struct assay_class {
    const char *action, *resolved; /* the state's interned copies */
    const json_t *selector;        /* its first JobSpec's */
    int64_t memory_mb, cpu_milli, priority;
    bool pack;
    assay_job_list jobs; /* queued, oldest first */
    size_t queued;
    /* The leader's bookkeeping, not replicated (assay_state_reset_marks
     * and assay_state_replan clear it). */
    assay_job *taken;  /* the last of the jobs at its head being
                          dispatched: the planner goes on after it */
    assay_job *stamped; /* the job the planner last found next, */
    int64_t stamped_ms; /* and when (monotonic): how long it waits */
    bool parked;       /* no live runtime can take it: not planned */
    char *waiting;     /* why, shown with its jobs (NULL: nothing to say) */
    const char **offers; /* by runtime position: the version it would run
                            (into its catalogue), "" none, NULL not asked */
    size_t n_offers;
    size_t *offering;   /* the positions of those that offer it, */
    size_t n_offering;  /* once asked of every runtime */
    bool offering_known;
    struct assay_class *prev, *next; /* with work: planned or parked */
    size_t refs;                     /* JobSpecs held of it */
    char key[];
};

/* One attempt of a job, as the log recorded it. */
typedef struct assay_attempt {
    int64_t start_ms, end_ms; /* wall clock, ms; 0: unknown (or running) */
    const char *runtime; /* interned by the state */
    char *reason; /* why it ended, if not with a result; or NULL */
    uint8_t outcome; /* assay_job_state it ended in; RUNNING: not ended,
                        QUEUED: handed back for another attempt */
} assay_attempt;

/* A job. Strings a million queued jobs would repeat are interned by the
 * state (runtime, version) and the id is sized to fit: the record is
 * what memory per queued job is made of (docs/benchmarks.md). */
struct assay_job {
    assay_spec_rec *spec;
    /* Values are kept as the msgpack the log held: one allocation each
     * (the params inside the record's own), not a tree of JSON nodes a
     * heap of retained jobs fragments into (docs/benchmarks.md). */
    const unsigned char *params; /* a map */
    unsigned char *result; /* COMPLETED: the result (a map), else NULL */
    uint32_t params_len, result_len;
    assay_job_state state;
    int64_t attempt;  /* attempt of the latest dispatch; 0 = never */
    const char *runtime; /* where the latest attempt runs or ran; "" */
    const char *version; /* plugin version of the latest attempt; "" */
    char *reason;     /* FAILED / CANCELLED / requeue reason, or NULL */
    struct assay_end *end; /* ended at level 8: its evidence record */
    uint64_t seq;     /* submission order */
    int64_t ended_ms; /* terminal: when (leader's clock; 0 unknown) */
    assay_attempt *attempts; /* history, oldest first */
    uint8_t n_attempts;
    uint32_t heap_pos; /* finished, of a JobSpec with retain_ms: where in
                          the state's expiry heap */
    /* Leader bookkeeping, not replicated. */
    int64_t lease_ms;
    bool dispatching;
    bool reported; /* a result or requeue for this attempt is committing */
    /* Replicated: the attempt its current series started after (a
     * restart starts a new one; max_attempts counts from there). */
    uint32_t base;
    /* QUEUED: its placement class's list; RUNNING: running list links;
     * terminal: the retention list (oldest end first). */
    struct assay_job *prev, *next;
    /* RUNNING: the list of its runtime (assay_state_running_on). */
    struct assay_job *rt_prev, *rt_next;
    struct assay_job *all_prev, *all_next; /* every job, submission order */
    char id[]; /* at most ASSAY_JOB_ID_MAX bytes */
};

/* What a runtime said of its host (level 8), held once for every job
 * that ran there (evidence.c). Strings "" when not said. */
typedef struct assay_host {
    size_t users;
    const char *hostname, *os, *kernel, *machine_id;
    char key[33]; /* in the state's set of hosts */
    char text[];
} assay_host;

/* Drift (drift.c): a result compared with the previous one of the same
 * check (series or schedule, params, host). */
typedef enum {
    ASSAY_DRIFT_NONE = 0, /* no series: not compared */
    ASSAY_DRIFT_NEW,
    ASSAY_DRIFT_FIXED,
    ASSAY_DRIFT_REGRESSED,
    ASSAY_DRIFT_UNCHANGED,
} assay_drift;
/* A result's status as drift compares it: 0 none, or these. */
enum { ASSAY_STATUS_PASS = 1, ASSAY_STATUS_FAIL, ASSAY_STATUS_ERROR };

/* What an ended job holds as evidence (level 8; evidence.c): NULL for a
 * job that has not ended, or ended before the level. */
typedef struct assay_end {
    uint64_t pos;             /* its place in the result stream */
    const assay_host *host;   /* where it ran, NULL: unknown */
    const char *sha256;       /* of the plugin file that ran; "" unknown */
    uint8_t status, previous; /* ASSAY_STATUS_*; the previous run's */
    uint8_t change;           /* assay_drift */
    /* The evidence keys that changed ("findings[0].evidence.actual"):
     * a msgpack array, NULL when none. */
    unsigned char *changed;
    uint32_t changed_len;
} assay_end;

typedef struct assay_runtime_rec {
    char id[64];
    json_t *info; /* {id, heartbeat_ms, labels, capacity, catalog} */
    char catalog_key[33]; /* its catalogue's in the shared set ("": none) */
    int64_t heartbeat_ms;
    bool alive;
    const assay_host *host; /* its host facts (level 8), NULL: none */
    size_t pos; /* its index in assay_state_runtime_ids */
    /* The leader's bookkeeping, not replicated (assay_state_reset_marks
     * clears it): when it first saw this runtime dead, monotonic ms. */
    int64_t dead_seen_ms;
} assay_runtime_rec;

typedef struct assay_state assay_state;

/* Called after each applied transition with topic (job.queued, job.running,
 * job.completed, job.failed, job.cancelled, runtime.alive, runtime.dead,
 * runtime.gone)
 * and a body (msgpack, owned by the state, valid during the call), or
 * NULL when the wants filter said nobody listens to that topic. */
typedef void (*assay_state_event_fn)(void *arg, const char *topic,
                                     const void *body, size_t len);
/* Whether an event body for `topic` is worth building (same arg). */
typedef bool (*assay_state_wants_fn)(void *arg, const char *topic);

assay_state *assay_state_new(assay_state_event_fn on_event, void *arg);
void assay_state_destroy(assay_state **self_p);
void assay_state_set_wants(assay_state *self, assay_state_wants_fn wants);

/* Applies one command; *result (may be NULL) gets a new object describing
 * what happened (e.g. submit: {spec, jobs, duplicate}). A refusal says
 * why in err (may be NULL), naming the op and field or version. */
int assay_state_apply(assay_state *self, const msgpack_object *cmd,
                      json_t **result, char *err, size_t errlen);

/* The newest encoding version of `op` this build reads and writes, or
 * ASSAY_ENOENT for an op it does not know (command.c stamps commands). */
int assay_state_op_version(const char *op);

/* Whole state as one msgpack value, and back (snapshots; snapshot.c),
 * in format `version` (1: what the previous release reads, no attempt
 * history or level; 2: this one's). A dump of any earlier format version
 * loads. */
int assay_state_pack(const assay_state *self, int version,
                     msgpack_packer *pk);
int assay_state_unpack(assay_state *self, const msgpack_object *dump,
                       char *err, size_t errlen);
/* The same as JSON (tests and tools compare states with it). */
json_t *assay_state_dump(const assay_state *self);
json_t *assay_state_dump_format(const assay_state *self, int version);
int assay_state_load(assay_state *self, const json_t *dump, char *err,
                     size_t errlen);

/* The cluster's feature level: 1 for a log written before levels. */
int64_t assay_state_level(const assay_state *self);
/* The JobSpecs held, in submission order (linked by next). */
assay_spec_rec *assay_state_specs(const assay_state *self);
/* The JobSpecs of one action ("plugin.action"), or of one schedule (by
 * id, deleted or not), in submission order, linked by by_next[by]; NULL
 * if none. */
enum { ASSAY_SPECS_BY_ACTION = 0, ASSAY_SPECS_BY_SCHEDULE = 1 };
assay_spec_rec *assay_state_specs_by(const assay_state *self, int by,
                                     const char *key);
/* Jobs and JobSpecs held (retention keeps these bounded). */
size_t assay_state_job_count(const assay_state *self);
/* Jobs held in state `st`. */
size_t assay_state_count(const assay_state *self, assay_job_state st);
size_t assay_state_spec_count(const assay_state *self);
/* Terminal jobs, oldest end first (linked by next), and how many; the
 * newest (walk back by prev). */
assay_job *assay_state_done(const assay_state *self, size_t *count);
assay_job *assay_state_done_newest(const assay_state *self);

assay_job *assay_state_job(const assay_state *self, const char *id);
assay_spec_rec *assay_state_spec(const assay_state *self, const char *id);
assay_runtime_rec *assay_state_runtime(const assay_state *self,
                                       const char *id);
/* The placement classes with queued jobs that are not parked, and those
 * that are, linked by next (no order). */
assay_class *assay_state_classes(const assay_state *self);
assay_class *assay_state_parked(const assay_state *self);
/* Parks c (it has queued jobs) saying why, or notes why it waits while
 * planned (parked false); a note NULL says nothing. */
void assay_state_park(assay_state *self, assay_class *c, bool parked,
                      const char *why);
/* What runtimes offer may have changed: every class forgets the offers
 * it remembered and the parked ones are planned again. */
void assay_state_replan(assay_state *self);
assay_job *assay_state_running(const assay_state *self);
/* The running jobs whose latest attempt is on runtime `id`, linked by
 * rt_next (NULL if none), and in *count how many. */
assay_job *assay_state_running_on(const assay_state *self, const char *id,
                                  size_t *count);
/* How long an action's jobs take (core/state/estimate.c): learned from
 * every result applied at level ASSAY_LEVEL_PLANNER on, from its
 * attempt's dispatch to its result (both the leader's wall clock). */
typedef struct assay_estimate {
    uint64_t n;      /* results learned from */
    int64_t mean_us; /* the mean, moving once there are a few */
    int64_t p90_us;  /* the 90th percentile, estimated */
    int64_t at;      /* the last result's time (wall ms) */
    char action[];   /* "plugin.action" */
} assay_estimate;

/* action's estimate, or NULL if none was learned. */
const assay_estimate *assay_state_estimate(const assay_state *self,
                                           const char *action);
/* Every estimate, by action (*out: the caller frees the array). */
int assay_state_estimates(const assay_state *self,
                          const assay_estimate ***out, size_t *n);

/* What assay.stats reports (core/state/stats.c; derived on every member
 * as it applies, not replicated, so counted from its start): jobs
 * submitted and jobs ended (completed, failed, cancelled) so far; and
 * per action {queued_to_running, running_to_done}: {n, p50, p90, p99} in
 * ms over its last ASSAY_STATS_SAMPLES (at most ASSAY_STATS_ACTIONS
 * actions). */
#define ASSAY_STATS_SAMPLES 256
#define ASSAY_STATS_ACTIONS 1024
/* Jobs submitted and ended, by their JobSpec's action (metrics), under
 * the same bound: actions past ASSAY_STATS_ACTIONS count together as
 * ASSAY_STATS_OTHER. */
#define ASSAY_STATS_OTHER "(other)"
typedef struct assay_action_counts {
    char action[2 * 64 + 2]; /* plugin.action, as jobspec.h bounds it */
    uint64_t submitted, completed, failed, cancelled;
} assay_action_counts;
void assay_state_action_counts(const assay_state *self,
                               void (*fn)(void *arg,
                                          const assay_action_counts *c),
                               void *arg);
uint64_t assay_state_submitted(const assay_state *self);
uint64_t assay_state_ended(const assay_state *self);
json_t *assay_state_latency_json(const assay_state *self);
/* Every wait (kind 0: queued to running) and run (kind 1: running to a
 * result) in buckets of ASSAY_LATENCY_BOUNDS_MS, every action together,
 * since this member started (metrics' histograms). */
#define ASSAY_LATENCY_BUCKETS 12
extern const int64_t ASSAY_LATENCY_BOUNDS_MS[ASSAY_LATENCY_BUCKETS - 1];
typedef struct assay_latency_hist {
    uint64_t counts[ASSAY_LATENCY_BUCKETS]; /* the last: above every bound */
    int64_t sum_ms;
} assay_latency_hist;
const assay_latency_hist *assay_state_latency_hist(const assay_state *self,
                                                   int kind);

/* The memory (MB) and CPUs (thousandths) its running jobs' JobSpecs
 * requested: reserved for them until their results or requeues are
 * applied. */
int64_t assay_state_reserved_mb(const assay_state *self, const char *id);
int64_t assay_state_reserved_cpu(const assay_state *self, const char *id);
assay_job *assay_state_jobs(const assay_state *self);
/* Calls fn for each job cancelled while running (by assay.cancel, or a
 * schedule's cancel_other) since the last call and still held, and
 * forgets them: the leader tells their runtimes to stop. */
void assay_state_cancelled_drain(assay_state *self,
                                 void (*fn)(void *arg, const assay_job *j),
                                 void *arg);
/* Clears every job's leader bookkeeping (lease, dispatching, reported),
 * every placement class's and every runtime's (dead_seen_ms): a member starting or
 * ceasing to lead trusts none of it. */
void assay_state_reset_marks(assay_state *self);
/* The last "leader" command applied: {id, endpoint, events, member}, or
 * NULL. */
const json_t *assay_state_leader(const assay_state *self);
/* Runtimes in registration order (json array of ids). */
const json_t *assay_state_runtime_ids(const assay_state *self);
/* The runtime at position `pos` of that order, NULL past the end: walk
 * them with for (i = 0; (r = assay_state_runtime_at(st, i)); i++). */
assay_runtime_rec *assay_state_runtime_at(const assay_state *self,
                                          size_t pos);

/* The jobs of JobSpec s still held, in order: for (j = assay_spec_jobs(s);
 * j; j = assay_spec_next(j)). */
assay_job *assay_spec_jobs(const assay_spec_rec *s);
assay_job *assay_spec_next(const assay_job *j);
/* Their ids as a JSON array (new). */
json_t *assay_spec_job_ids(const assay_spec_rec *s);
/* The JobSpec as submitted (new): {id, action, version, resolved, labels,
 * selector, timeout_ms, max_attempts, priority, memory_mb,
 * retain_seconds?, by?}. */
json_t *assay_spec_json(const assay_spec_rec *s);

/* Retention (retention.c): which terminal jobs fall out. A job goes when
 * more than `keep_jobs` terminal jobs are held (0: no bound by count) or
 * it ended more than `keep_ms` before `now_ms` (0: no bound by age),
 * unless `hold` (may be NULL) says a consumer still needs it. A job of a
 * JobSpec with its own retain_seconds goes by that age alone, and does
 * not count towards keep_jobs. */
typedef struct assay_retention {
    int64_t keep_jobs;
    int64_t keep_ms;
    bool (*hold)(void *arg, const assay_job *job);
    void *arg;
} assay_retention;

/* Appends to `ids` (a JSON array) the ids of at most `max` jobs that fall
 * out now, oldest end first; returns how many. Looks at no more than a
 * few times `max` jobs, so a long run of held jobs cannot stall a turn. */
size_t assay_state_expirable(const assay_state *self,
                             const assay_retention *policy, int64_t now_ms,
                             json_t *ids, size_t max);

/* Enrolment (enrolment.c). Tokens pending at once, and keys enrolled,
 * at most: */
#define ASSAY_TOKENS_MAX 1024
#define ASSAY_ENROLLED_MAX 65536
/* Bytes of a token's hash (BLAKE2b), held as hex. */
#define ASSAY_TOKEN_HASH_BYTES 32

/* The name is each record's first field (enrolment.c sorts by it). */
typedef struct assay_token_rec {
    char name[64];
    char role[16];
    char hash[2 * ASSAY_TOKEN_HASH_BYTES + 1];
    int64_t expires_ms, at_ms;
    const char *by_name, *by_role; /* who made it ("": unknown) */
} assay_token_rec;

typedef struct assay_enrolled_rec {
    char name[64];
    char role[16];
    char key[41]; /* Z85 */
    int64_t at_ms;
    const char *by_name, *by_role; /* who made its token ("": unknown) */
} assay_enrolled_rec;

/* Whether keys of `role` may be enrolled (runtime, submit, read, admin:
 * never member). */
bool assay_enrol_role(const char *role);
const assay_token_rec *assay_state_token(const assay_state *self,
                                         const char *name);
const assay_enrolled_rec *assay_state_enrolled(const assay_state *self,
                                               const char *name);
const assay_enrolled_rec *assay_state_enrolled_key(const assay_state *self,
                                                   const char *key);
/* Tokens not expired at now_ms. */
size_t assay_state_tokens_live(const assay_state *self, int64_t now_ms);
/* Changes with every token made, enrolment, revocation and load. */
uint64_t assay_state_keys_gen(const assay_state *self);
/* Calls fn for each enrolled key, by name. */
void assay_state_enrolled_each(const assay_state *self,
                               void (*fn)(const assay_enrolled_rec *e,
                                          void *arg),
                               void *arg);
/* {tokens: [{name, role, expires_ms, made_ms, by}] (those not expired at
 * now_ms), enrolled: [{name, role, key, at_ms, by}]}, by name. */
json_t *assay_state_keys_json(const assay_state *self, int64_t now_ms);

/* Evidence (evidence.c, drift.c, stream.c; docs/evidence.md). */
/* Names of drift changes ("new", ...; "" for NONE) and statuses ("pass",
 * "fail", "error"; NULL for 0). */
const char *assay_drift_name(int change);
const char *assay_status_name(int status);
/* The last position given to an ended job: the stream's end. */
uint64_t assay_state_stream_end(const assay_state *self);
/* The held ended job with the lowest position above `after`, or NULL;
 * walk on with assay_state_stream_after(st, j->end->pos). */
assay_job *assay_state_stream_after(const assay_state *self, uint64_t after);
/* Durable consumers of the stream (consumer.c; docs/protocol.md
 * #assaystream): the last position each acknowledged, and whether it
 * fell further behind than the leader's stream_max_lag (then it holds
 * nothing back from retention until it acknowledges again). */
#define ASSAY_CONSUMERS_MAX 64
typedef struct assay_consumer_rec {
    char name[64];
    uint64_t acked;
    int64_t created_ms, acked_ms;
    bool behind;
} assay_consumer_rec;
size_t assay_state_consumers(const assay_state *self);
const assay_consumer_rec *assay_state_consumer_at(const assay_state *self,
                                                  size_t i);
const assay_consumer_rec *assay_state_consumer(const assay_state *self,
                                               const char *name);
/* The lowest position a consumer not behind acknowledged, UINT64_MAX
 * when none: the ended jobs above it are held against retention. */
uint64_t assay_state_stream_hold(const assay_state *self);
/* Checks drift remembers (bounded by ASSAY_DRIFT_MAX). */
#define ASSAY_DRIFT_MAX 262144
size_t assay_state_drift_count(const assay_state *self);
/* A job's evidence fields packed as map entries (count them with
 * assay_end_fields): position, host, plugin, drift. */
size_t assay_end_fields(const assay_job *j);
void assay_end_pack(msgpack_packer *pk, const assay_job *j);

/* Sets a job's reason or waiting note (NULL or "" clears it). Notes live
 * on the heap: most jobs never have one, and a million queued jobs must
 * not carry room for them (docs/benchmarks.md, memory per queued job). */
void assay_job_note(char **field, const char *text);

const char *assay_job_state_name(assay_job_state s);
int assay_job_state_parse(const char *name);
/* What a job view holds beyond the record (assay_job_json's `what`). */
enum {
    ASSAY_JOB_RESULT = 1,  /* result, if any */
    ASSAY_JOB_HISTORY = 2, /* finished: ended_ms and attempts */
};
/* {id, spec, action, state, attempt, max_attempts, runtime, version,
 *  labels, priority, reason?, waiting?, result?, ended_ms?, attempts?} */
json_t *assay_job_json(const assay_job *job, unsigned what);

#endif
