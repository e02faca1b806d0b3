/* core/cluster/leader.c - the member role (see leader.h and docs/protocol.md).
 *
 * Everything that changes job or runtime state is a command committed
 * through the consensus module and applied to assay_state; replies and
 * dispatches leave only after their command is applied. What changes by
 * the millisecond (last heartbeat, credit, leases) stays here in memory. */
#include "cluster/leader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
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
#include "cluster/link.h"
#include "cluster/registration.h"
#include "job/jobspec.h"
#include "plugin/hostapi.h"
#include "plugin/loader.h"
#include "plugin/params.h"
#include "state/command.h"
#include "state/fsm.h"
#include "state/snapshotter.h"
#include "state/state.h"

extern char **environ;

#define MAX_DISPATCH_BATCH 4096
/* Message bodies one loop turn decodes at most (then polls again). */
#define DRAIN_BYTES ((size_t)2 << 20)
/* Jobs one "expire" forgets: at a tick every TICK_MS, 80,000 a second. */
#define MAX_EXPIRE_BATCH 4096
#define MAX_QUEUE_SCAN 20000
#define TICK_MS 50
/* Refused registrations are logged at most this often. */
#define REFUSAL_LOG_MS 10000
#define MAX_LIST 100000
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
    char why[128];  /* why it grants no credit, "" if it does */
    /* Dispatches collected this loop turn (their entries of the message's
     * "jobs" list, packed), sent as one message before the next poll, with
     * the acks collected so far (docs/protocol.md). */
    msgpack_sbuffer out_jobs;
    size_t n_jobs;
    struct s_ack *acks;
    size_t n_acks, cap_acks;
    assay_runtime_rec *rec; /* its registry entry once known (s_rt_rec) */
    bool acks_ride; /* it takes acks inside dispatches (acks_in_dispatch) */
    struct s_rt *next;     /* every s_rt, to free them */
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
    s_rt *rt_list;
    s_rt *out_list; /* flushed before the next poll, then emptied */
    assay_index *choice;     /* offer class -> s_choices (s_offers_reset) */
    assay_index *resolved;   /* "action\nrange" -> s_resolved */
    s_batch results, requeues; /* waiting for the next commit */
    int tick;
    int64_t started_ms;
    pid_t hooks[64]; /* notify_command processes not yet reaped */
    int nhooks;
    bool more;  /* the transport drain stopped at its bound */
    bool dirty; /* queue or credit changed since the last plan */
    bool committed; /* submitted to consensus since s_prepare looked */
    /* Leading: the consensus module says we lead AND our "leader" command
     * is applied, so the state holds everything committed before us.
     * Claiming: that command is in flight. */
    bool leading, claiming;
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
    int64_t forget_check_ms; /* when dead runtimes are looked at next */
    assay_snapshotter *snap;
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

/* ---- Replies and helpers ------------------------------------------------ */

static void s_rt_free(assay_leader *self, s_rt *r)
{
    assay_index_remove(self->rts, r->id);
    msgpack_sbuffer_destroy(&r->out_jobs);
    free(r->acks);
    free(r);
}

static void s_forget_runtimes(assay_leader *self)
{
    for (s_rt *r = self->rt_list, *next; r; r = next) {
        next = r->next;
        s_rt_free(self, r);
    }
    self->rt_list = NULL;
    self->out_list = NULL;
}

/* Drops the sessions of runtimes silent for twice their allowance (marked
 * dead by then): a flood of registrations that never heartbeat cannot
 * fill the table. A runtime that comes back registers again. */
static void s_expire_sessions(assay_leader *self, int64_t now)
{
    for (s_rt **pp = &self->rt_list, *r; (r = *pp);) {
        if (r->out_listed ||
            now - r->last_seen_ms <=
                2 * r->heartbeat_ms * self->conf->heartbeat_misses) {
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        assay_debug("runtime %s: session dropped after %lld ms of silence",
                    r->id, (long long)(now - r->last_seen_ms));
        s_rt_free(self, r);
    }
}

/* Says that a registration was refused, at most every REFUSAL_LOG_MS. */
static void s_refused(assay_leader *self, const char *id)
{
    int64_t now = assay_now_ms();
    self->refused++;
    if (now - self->refused_logged_ms < REFUSAL_LOG_MS)
        return;
    assay_warn("refused registration from %s: max_runtimes (%lld) sessions "
               "held (%llu refused since the last such line)",
               id, (long long)self->conf->max_runtimes,
               (unsigned long long)(self->refused - self->refused_said));
    self->refused_logged_ms = now;
    self->refused_said = self->refused;
}

static const char *s_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void s_reply(assay_leader *self, const assay_bytes *route,
                    const char *service, json_t *body)
{
    int rc = assay_link_send(self->link, self->server, route,
                             ASSAY_MDP_CLIENT, service, body);
    if (rc)
        assay_debug("reply %s: %s", service, assay_strerror(rc));
    json_decref(body);
}

static json_t *s_error(int code, const char *fmt, ...) ASSAY_PRINTF(2, 3);

static json_t *s_error(int code, const char *fmt, ...)
{
    char msg[ASSAY_ERRMSG_SIZE * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s, s:i, s:s}", "ok", 0, "error",
                     assay_err_name(code), "code", code, "message", msg);
}

static json_t *s_ok(json_t *body)
{
    json_object_set_new(body, "ok", json_true());
    return body;
}

/* A routing id saved across a commit. */
typedef struct {
    assay_leader *leader;
    uint8_t route[256];
    size_t route_len;
    char verb[64];
    json_t *data;
    s_batch batch; /* a batch command's entries */
} s_pending;

static s_pending *s_pending_new(assay_leader *self, const assay_bytes *route,
                                const char *verb, json_t *data)
{
    s_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->leader = self;
    p->route_len = route && route->len <= sizeof p->route ? route->len : 0;
    if (p->route_len)
        memcpy(p->route, route->data, p->route_len);
    strlcpy(p->verb, verb, sizeof p->verb);
    p->data = data;
    return p;
}

static void s_batch_clear(s_batch *b)
{
    assay_cmd_list_destroy(&b->list);
    free(b->items);
    *b = (s_batch){0};
}

/* Notes one more entry of b, which the caller then appends to b->list;
 * false without memory. */
static bool s_batch_add(s_batch *b, const char *job, int64_t attempt,
                        const char *runtime)
{
    if (!b->list && !(b->list = assay_cmd_list_new()))
        return false;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        s_item *items = realloc(b->items, cap * sizeof *items);
        if (!items)
            return false;
        b->items = items;
        b->cap = cap;
    }
    s_item *it = &b->items[b->n++];
    strlcpy(it->job, job, sizeof it->job);
    strlcpy(it->runtime, runtime ? runtime : "", sizeof it->runtime);
    it->attempt = attempt;
    return true;
}

static void s_pending_free(s_pending *p)
{
    json_decref(p->data);
    s_batch_clear(&p->batch);
    free(p);
}

static assay_bytes s_route(const s_pending *p)
{
    return (assay_bytes){p->route, p->route_len};
}

static int s_commit(assay_leader *self, assay_cmd *cmd, assay_commit_cb cb,
                    void *arg)
{
    if (!cmd)
        return ASSAY_ENOMEM;
    int rc = S_COP(self, submit, self->cons, assay_cmd_data(cmd),
                   assay_cmd_size(cmd), cb, arg);
    self->committed = self->committed || rc == 0;
    assay_cmd_destroy(&cmd);
    return rc;
}

/* Fire-and-forget commits: the result is only freed. */
static void s_ignore(void *arg, int status, void *result)
{
    (void)arg;
    if (status)
        assay_warn("commit failed: %s", assay_strerror(status));
    json_decref(result);
}

/* Says (at debug level) that a message to r could not be sent. */
static void s_send_rt_failed(const s_rt *r, const char *verb, int rc)
{
    if (rc)
        assay_debug("to runtime %s: %s: %s", r->id, verb,
                    assay_strerror(rc));
}

static void s_send_rt(assay_leader *self, const s_rt *r, const char *verb,
                      const json_t *body)
{
    assay_bytes route = {r->route, r->route_len};
    s_send_rt_failed(r, verb,
                     assay_link_send(self->link, self->server, &route,
                                     ASSAY_RUNTIME_PROTO, verb, body));
}

/* r's registry entry, looked up once: entries live until the state is
 * cleared, when a snapshot is restored (s_fsm_restore forgets them). */
static assay_runtime_rec *s_rt_rec(assay_leader *self, s_rt *r)
{
    if (!r->rec)
        r->rec = assay_state_runtime(self->state, r->id);
    return r->rec;
}

/* Puts r on the list of runtimes with something to send; s_prepare sends
 * it. Only those are visited there: with a thousand runtimes, walking
 * all of them every loop turn was a fifth of the idle leader's CPU. */
static void s_out_list(assay_leader *self, s_rt *r)
{
    if (!r->out_listed) {
        r->out_listed = true;
        r->out_next = self->out_list;
        self->out_list = r;
    }
}

static void s_queue_ack(assay_leader *self, s_rt *r, const char *job,
                        int64_t attempt, bool stale)
{
    if (r->n_acks == r->cap_acks) {
        size_t cap = r->cap_acks ? 2 * r->cap_acks : 64;
        s_ack *a = realloc(r->acks, cap * sizeof *a);
        if (!a) {
            /* Unacked, the runtime reports again when it re-registers. */
            assay_warn("out of memory acking %.96s", job);
            return;
        }
        r->acks = a;
        r->cap_acks = cap;
    }
    s_ack *a = &r->acks[r->n_acks++];
    strlcpy(a->job, job, sizeof a->job);
    a->attempt = attempt;
    a->stale = stale;
    s_out_list(self, r);
}

/* The dispatch of j's current attempt, packed straight from its record
 * (its params as the log held them): {job, attempt, action, version,
 * params, timeout_ms}. */
static void s_queue_dispatch(assay_leader *self, s_rt *r, const assay_job *j)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r->out_jobs, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    assay_codec_pack_kv_str(&pk, "job", j->id);
    assay_codec_pack_kv_int(&pk, "attempt", j->attempt);
    assay_codec_pack_kv_str(&pk, "action", j->spec->action);
    assay_codec_pack_kv_str(&pk, "version", j->version);
    assay_codec_pack_str(&pk, "params");
    assay_codec_pack_raw(&pk, j->params, j->params_len);
    assay_codec_pack_kv_int(&pk, "timeout_ms", j->spec->timeout_ms);
    r->n_jobs++;
    s_out_list(self, r);
}

/* Packs acks[from, from + n) of r as an array. */
static void s_pack_acks(msgpack_packer *pk, const s_rt *r, size_t from,
                        size_t n)
{
    msgpack_pack_array(pk, n);
    for (size_t k = from; k < from + n; k++) {
        const s_ack *a = &r->acks[k];
        msgpack_pack_map(pk, 2 + a->stale);
        assay_codec_pack_kv_str(pk, "job", a->job);
        assay_codec_pack_kv_int(pk, "attempt", a->attempt);
        if (a->stale) {
            assay_codec_pack_str(pk, "stale");
            msgpack_pack_true(pk);
        }
    }
}

/* Sends r a message whose body a packer wrote into sb, and frees it. */
static void s_send_rt_packed(assay_leader *self, const s_rt *r,
                             const char *verb, msgpack_sbuffer *sb)
{
    assay_bytes route = {r->route, r->route_len},
                body = {(const uint8_t *)sb->data, sb->size};
    s_send_rt_failed(r, verb,
                     assay_link_send_raw(self->link, self->server, &route,
                                         ASSAY_RUNTIME_PROTO, verb, &body));
    msgpack_sbuffer_destroy(sb);
}

/* The most acks one message carries: an ack is at most ~128 bytes
 * encoded (a job id of up to 96 characters and an attempt), and every
 * message must stay inside max_message_kb. */
static size_t s_ack_chunk(const assay_leader *self)
{
    size_t room = (size_t)self->conf->max_message_kb * 1024;
    return room > 2048 ? (room - 1024) / 128 : 8;
}

/* Sends acks[from, from + n) as one "ack" message. */
static void s_send_acks(assay_leader *self, s_rt *r, size_t from, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    assay_codec_pack_str(&pk, "jobs");
    s_pack_acks(&pk, r, from, n);
    s_send_rt_packed(self, r, "ack", &sb);
}

/* Sends r's outboxes: dispatches, with the acks collected so far riding
 * along when the runtime said it takes them there. Acks alone wait for
 * the tick (`force`) unless ACK_BATCH piled up: an ack only lets the
 * runtime forget a result, and a message of its own per job was one in
 * six of the messages a job costs at low rates. More acks than one
 * message holds go first, on their own, in parts; so do all acks to a
 * runtime that did not say it takes them in dispatches, at once. */
static void s_flush_rt(assay_leader *self, s_rt *r, bool force)
{
    size_t nd = r->n_jobs, na = r->n_acks;
    if (!nd && (!na || (!force && na < ACK_BATCH && r->acks_ride)))
        return;
    size_t chunk = s_ack_chunk(self);
    if (na && (!nd || na > chunk || !r->acks_ride)) {
        for (size_t i = 0; i < na; i += chunk)
            s_send_acks(self, r, i, na - i < chunk ? na - i : chunk);
        r->n_acks = na = 0;
    }
    if (!nd)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, na ? 2 : 1);
    assay_codec_pack_str(&pk, "jobs");
    msgpack_pack_array(&pk, nd);
    assay_codec_pack_raw(&pk, r->out_jobs.data, r->out_jobs.size);
    if (na) {
        assay_codec_pack_str(&pk, "acks");
        s_pack_acks(&pk, r, 0, na);
    }
    s_send_rt_packed(self, r, "dispatch", &sb);
    msgpack_sbuffer_clear(&r->out_jobs);
    r->n_jobs = 0;
    r->n_acks = 0;
}

/* ---- Catalogue: what the registered runtimes offer ---------------------- */

/* What the runtimes offer, remembered until a catalogue may have changed
 * (every runtime.alive, taking the lead, restoring a snapshot): per offer
 * class (action, resolved version, selector) the version each runtime
 * would run its jobs with (s_choices, by the runtime's registration
 * position), and per action and version range what a submit resolves to
 * (s_resolved). Both were worked out again for every JobSpec over every
 * runtime's catalogue: with 1,000 runtimes, one-job JobSpecs went through
 * at 600 a second. */
typedef struct {
    size_t n;
    const char **v; /* into the catalogues; NULL not asked, "" cannot */
} s_choices;

typedef struct {
    char *version;
    json_t *decl; /* the action's params declaration */
} s_resolved;

static void s_free_choices(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    s_choices *c = value;
    free(c->v);
    free(c);
}

static void s_free_resolved(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    s_resolved *r = value;
    free(r->version);
    json_decref(r->decl);
    free(r);
}

/* Forgets what was remembered; with `renew`, starts remembering anew
 * (without memory to, lookups are worked out every time). */
static void s_offers_reset(assay_leader *self, bool renew)
{
    assay_index_each(self->choice, s_free_choices, NULL);
    assay_index_destroy(&self->choice);
    assay_index_each(self->resolved, s_free_resolved, NULL);
    assay_index_destroy(&self->resolved);
    if (renew) {
        self->choice = assay_index_new();
        self->resolved = assay_index_new();
    }
}

/* Highest version of plugin `name` in `catalog` that matches `range` and
 * has `action`; returns the plugin object or NULL. */
static const json_t *s_pick(const json_t *catalog, const char *name,
                            const char *action,
                            const assay_semver_range *range,
                            assay_semver *best)
{
    const json_t *found = NULL;
    assay_semver_pick pick = {0};
    size_t i, k;
    json_t *p, *a;
    json_array_foreach(json_object_get(catalog, "plugins"), i, p) {
        assay_semver v;
        const char *pn = s_str(p, "name"), *pv = s_str(p, "version");
        if (!pn || !pv || strcmp(pn, name) || assay_semver_parse(pv, &v))
            continue;
        bool has = false;
        json_array_foreach(json_object_get(p, "actions"), k, a)
            has = has || (s_str(a, "name") && !strcmp(s_str(a, "name"),
                                                      action));
        if (has && assay_semver_pick_offer(&pick, range, &v))
            found = p;
    }
    if (found)
        *best = pick.best;
    return found;
}

/* Bytes of each list in a refusal: three lists and the names around them
 * fit the submit reply's 2 * ASSAY_ERRMSG_SIZE. */
#define REFUSAL_LIST (ASSAY_ERRMSG_SIZE / 2)

/* Why no registered runtime offers `spec`, worked out for refusals only
 * (a walk of every catalogue): no runtime has the plugin, none has a
 * version in the range, or the versions in it lack the action. Each says
 * which runtimes were asked and what they have. */
static int s_unresolved(assay_leader *self, const assay_jobspec *spec,
                        const char *name, const char *action,
                        const assay_semver_range *range, char *err,
                        size_t errlen)
{
    char asked[REFUSAL_LIST] = "", plugins[REFUSAL_LIST] = "",
         versions[REFUSAL_LIST] = "", actions[REFUSAL_LIST] = "";
    bool matched = false;
    const json_t *ids = assay_state_runtime_ids(self->state);
    size_t i, k, m;
    json_t *id, *p, *a;
    json_array_foreach(ids, i, id) {
        assay_runtime_rec *r =
            assay_state_runtime(self->state, json_string_value(id));
        assay_textlist_add(asked, sizeof asked, r->id);
        json_array_foreach(
            json_object_get(json_object_get(r->info, "catalog"), "plugins"), k,
            p) {
            const char *pn = s_str(p, "name"), *pv = s_str(p, "version");
            assay_semver v;
            if (!pn || !pv)
                continue;
            if (strcmp(pn, name)) {
                assay_textlist_add(plugins, sizeof plugins, pn);
                continue;
            }
            assay_semver_list_add(versions, sizeof versions, pv);
            if (assay_semver_parse(pv, &v) ||
                (range && !assay_semver_range_match(range, &v)))
                continue;
            matched = true;
            json_array_foreach(json_object_get(p, "actions"), m, a)
                if (s_str(a, "name"))
                    assay_textlist_add(actions, sizeof actions, s_str(a, "name"));
        }
    }
    const char *many = json_array_size(ids) == 1 ? "" : "s";
    if (!versions[0])
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "no runtime offers plugin '%s' (asked: %s; known "
                          "plugins: %s)",
                          name, asked[0] ? asked : "none",
                          plugins[0] ? plugins : "none");
    if (!matched)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "no version of '%s' matches '%s' on runtime%s %s "
                          "(offered: %s)",
                          name, spec->version, many, asked, versions);
    return assay_errf(err, errlen, ASSAY_ENOENT,
                      "plugin '%s'%s%s has no action '%.64s' on runtime%s %s "
                      "(actions: %s)",
                      name, spec->version[0] ? " " : "", spec->version, action,
                      many, asked, actions);
}

/* Finds the action declaration across every registered runtime: the
 * highest version that matches. Errors list what exists. */
static int s_resolve(assay_leader *self, const assay_jobspec *spec,
                     const json_t **decl, const char **version, char *err,
                     size_t errlen)
{
    char name[64];
    const char *action;
    if (!assay_action_ref_split(spec->action, name, sizeof name, &action))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "action '%s' is not of the form plugin.action",
                          spec->action);
    assay_semver_range *range = NULL;
    char why[ASSAY_ERRMSG_SIZE];
    if (spec->version[0] &&
        assay_semver_range_parse(spec->version, &range, why, sizeof why))
        return assay_errf(err, errlen, ASSAY_EINVAL, "version '%s': %s",
                          spec->version, why);
    const json_t *best_p = NULL;
    assay_semver_pick across = {0};
    size_t i;
    json_t *id;
    json_array_foreach(assay_state_runtime_ids(self->state), i, id) {
        assay_runtime_rec *r =
            assay_state_runtime(self->state, json_string_value(id));
        assay_semver v;
        const json_t *p = s_pick(json_object_get(r->info, "catalog"), name,
                                 action, range, &v);
        if (p && assay_semver_pick_offer(&across, NULL, &v))
            best_p = p;
    }
    if (!best_p) {
        int rc = s_unresolved(self, spec, name, action, range, err, errlen);
        assay_semver_range_destroy(&range);
        return rc;
    }
    assay_semver_range_destroy(&range);
    size_t k;
    json_t *a;
    json_array_foreach(json_object_get(best_p, "actions"), k, a)
        if (!strcmp(s_str(a, "name"), action))
            *decl = json_object_get(a, "params");
    *version = s_str(best_p, "version");
    return 0;
}

/* s_resolve, remembered per action and version range until a catalogue
 * may have changed (s_offers_reset). *decl and *version stay valid until
 * then. Refusals are not remembered: they list what exists now. */
static int s_resolve_cached(assay_leader *self, const assay_jobspec *spec,
                            const json_t **decl, const char **version,
                            char *err, size_t errlen)
{
    char key[sizeof spec->action + sizeof spec->version + 1];
    snprintf(key, sizeof key, "%s\n%s", spec->action, spec->version);
    s_resolved *r = self->resolved ? assay_index_get(self->resolved, key)
                                   : NULL;
    if (!r) {
        int rc = s_resolve(self, spec, decl, version, err, errlen);
        if (rc || !self->resolved || !(r = calloc(1, sizeof *r)))
            return rc;
        r->version = strdup(*version);
        r->decl = json_incref((json_t *)*decl);
        if (!r->version || assay_index_put(self->resolved, key, r) != 0) {
            s_free_resolved(key, r, NULL);
            return 0; /* resolved, just not remembered */
        }
    }
    *decl = r->decl;
    *version = r->version;
    return 0;
}

/* ---- Control-plane services --------------------------------------------- */

static void s_submitted(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_bytes route = s_route(p);
    json_t *res = result;
    if (status)
        s_reply(p->leader, &route, p->verb,
                s_error(status, "not committed: %s", assay_strerror(status)));
    else
        s_reply(p->leader, &route, p->verb, s_ok(json_incref(res)));
    json_decref(res);
    s_pending_free(p);
}

static void s_svc_submit(assay_leader *self, const assay_bytes *route,
                         const char *verb, const json_t *body)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_jobspec *spec;
    int rc = assay_jobspec_parse(body, &spec, err, sizeof err);
    if (rc) {
        s_reply(self, route, verb, s_error(rc, "%s", err));
        return;
    }
    assay_spec_rec *old = assay_state_spec(self->state, spec->id);
    if (old) { /* a retried submission: answer with the original ids */
        s_reply(self, route, verb,
                s_ok(json_pack("{s:s, s:o, s:b}", "spec", old->id, "jobs",
                               assay_spec_job_ids(old), "duplicate", 1)));
        assay_jobspec_destroy(&spec);
        return;
    }
    const json_t *decl_json = NULL;
    const char *resolved = NULL;
    assay_param *decl = NULL;
    json_t *norms = NULL;
    /* The version is fixed here, cluster-wide: the params were checked
     * against its declaration, so only runtimes with it may run them. The
     * check is the local runner's, so a refusal names the same place. */
    rc = s_resolve_cached(self, spec, &decl_json, &resolved, err, sizeof err);
    if (!rc)
        rc = assay_params_from_json(decl_json, &decl, err, sizeof err);
    if (!rc)
        rc = assay_jobspec_check_params(spec, decl, &norms, err, sizeof err);
    free(decl);
    if (rc) {
        s_reply(self, route, verb, s_error(rc, "%s", err));
        assay_jobspec_destroy(&spec);
        return;
    }
    assay_cmd_list *jobs = assay_cmd_list_new();
    json_t *norm;
    size_t i;
    json_array_foreach(norms, i, norm) {
        char id[ASSAY_ID_MAX + 32];
        assay_jobspec_job_id(spec, i, id, sizeof id);
        if (jobs)
            assay_cmd_list_job(jobs, id, norm);
    }
    json_decref(norms);
    assay_cmd *cmd = assay_cmd_submit(
        &(assay_cmd_spec){
            .id = spec->id,
            .action = spec->action,
            .version = spec->version,
            .resolved = resolved,
            .labels = spec->labels,
            .selector = spec->selector,
            .timeout_ms = spec->timeout_ms ? spec->timeout_ms
                                           : self->conf->default_timeout_ms,
            .max_attempts = spec->max_attempts ? spec->max_attempts
                                               : self->conf->max_attempts,
            .priority = spec->priority,
            .memory_mb = spec->memory_mb,
            .retain_seconds = spec->retain_seconds},
        &jobs);
    assay_jobspec_destroy(&spec);
    s_pending *p = s_pending_new(self, route, verb, NULL);
    rc = p ? s_commit(self, cmd, s_submitted, p) : ASSAY_ENOMEM;
    if (rc) {
        s_reply(self, route, verb, s_error(rc, "cannot commit: %s",
                                           assay_strerror(rc)));
        if (p)
            s_pending_free(p);
    }
}

static void s_svc_job(assay_leader *self, const assay_bytes *route,
                      const char *verb, const json_t *body)
{
    const char *id = s_str(body, "id");
    assay_job *j = assay_state_job(self->state, id);
    assay_spec_rec *s = assay_state_spec(self->state, id);
    if (j) {
        s_reply(self, route, verb,
                s_ok(json_pack("{s:o}", "job",
                               assay_job_json(j, ASSAY_JOB_RESULT |
                                                     ASSAY_JOB_HISTORY))));
    } else if (s) {
        json_t *jobs = json_array();
        for (const assay_job *sj = assay_spec_jobs(s); sj;
             sj = assay_spec_next(sj))
            json_array_append_new(
                jobs, assay_job_json(sj, ASSAY_JOB_RESULT | ASSAY_JOB_HISTORY));
        s_reply(self, route, verb,
                s_ok(json_pack("{s:o, s:o}", "spec", assay_spec_json(s),
                               "jobs", jobs)));
    } else {
        s_reply(self, route, verb,
                s_error(ASSAY_ENOENT, "no job or JobSpec '%.96s'",
                        id ? id : "(id missing)"));
    }
}

static bool s_labels_match(const json_t *want, const json_t *have)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        const char *h = s_str(have, k);
        if (!h || !json_is_string(v) || strcmp(h, json_string_value(v)))
            return false;
    }
    return true;
}

/* Does j match the assay.jobs filters (state < 0 and NULL: any)? The
 * JobSpec filter is the walk itself: it goes over that JobSpec's jobs. */
static bool s_jobs_match(const assay_job *j, int state, const json_t *labels)
{
    return (state < 0 || (int)j->state == state) &&
           (!labels || s_labels_match(labels, j->spec->labels));
}

/* assay.jobs: one bounded page in submission order, from the start or
 * after the job named by `after` (the `next` of the previous page). A
 * JobSpec filter walks that JobSpec's jobs only; `total` is given when it
 * costs no walk of every job (not with labels). */
static void s_svc_jobs(assay_leader *self, const assay_bytes *route,
                       const char *verb, const json_t *body)
{
    const char *st = s_str(body, "state"), *spec = s_str(body, "spec"),
               *after = s_str(body, "after");
    if ((json_object_get(body, "state") && !st) ||
        (json_object_get(body, "spec") && !spec) ||
        (json_object_get(body, "after") && !after)) {
        s_reply(self, route, verb,
                s_error(ASSAY_ETYPE, "state, spec and after must be strings"));
        return;
    }
    const json_t *labels = json_object_get(body, "labels");
    json_int_t limit = json_integer_value(json_object_get(body, "limit"));
    int want = st ? assay_job_state_parse(st) : -1;
    if (st && want < 0) {
        s_reply(self, route, verb,
                s_error(ASSAY_EINVAL, "state '%.32s': want queued, running, "
                                      "completed, failed or cancelled", st));
        return;
    }
    if (labels && !json_is_object(labels)) {
        s_reply(self, route, verb,
                s_error(ASSAY_ETYPE, "labels: expected object of strings"));
        return;
    }
    if (limit <= 0 || limit > JOBS_PAGE)
        limit = JOBS_PAGE;
    const assay_spec_rec *s = spec ? assay_state_spec(self->state, spec) : NULL;
    const assay_job *j = spec ? (s ? assay_spec_jobs(s) : NULL)
                              : assay_state_jobs(self->state);
    if (after) {
        const assay_job *a = assay_state_job(self->state, after);
        if (!a) {
            s_reply(self, route, verb,
                    s_error(ASSAY_ENOENT,
                            "after: job '%.96s' is not held (forgotten by "
                            "retention?): list again from the start",
                            after));
            return;
        }
        if (spec && a->spec != s) {
            s_reply(self, route, verb,
                    s_error(ASSAY_EINVAL,
                            "after: job '%.96s' is not of JobSpec '%.64s'",
                            after, spec));
            return;
        }
        j = spec ? assay_spec_next(a) : a->all_next;
    }
    json_t *jobs = json_array();
    const assay_job *last = NULL;
    for (size_t scanned = 0;
         j && (json_int_t)json_array_size(jobs) < limit && scanned < JOBS_SCAN;
         last = j, j = spec ? assay_spec_next(j) : j->all_next, scanned++)
        if (s_jobs_match(j, want, labels))
            json_array_append_new(jobs, assay_job_json(j, 0));
    json_t *o = json_pack("{s:o}", "jobs", jobs);
    if (j && last)
        json_object_set_new(o, "next", json_string(last->id));
    if (s) {
        json_int_t total = 0;
        for (const assay_job *k = assay_spec_jobs(s); k; k = assay_spec_next(k))
            total += s_jobs_match(k, want, labels);
        json_object_set_new(o, "total", json_integer(total));
    } else if (spec) {
        json_object_set_new(o, "total", json_integer(0));
    } else if (!labels) {
        json_object_set_new(
            o, "total",
            json_integer((json_int_t)(want < 0
                                          ? assay_state_job_count(self->state)
                                          : assay_state_count(self->state,
                                                              want))));
    }
    s_reply(self, route, verb, s_ok(o));
}

static void s_cancelled(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    assay_bytes route = s_route(p);
    json_t *res = result;
    if (status) {
        s_reply(self, &route, p->verb, s_error(status, "not committed"));
    } else {
        json_t *was = json_object_get(res, "was"), *cancelled = json_array();
        const char *id;
        json_t *prev;
        json_object_foreach(was, id, prev) {
            json_array_append_new(cancelled, json_string(id));
            assay_job *j = assay_state_job(self->state, id);
            s_rt *r = j ? assay_index_get(self->rts, j->runtime) : NULL;
            if (r && !strcmp(json_string_value(prev), "running")) {
                json_t *b = json_pack("{s:s, s:I}", "job", id, "attempt",
                                      (json_int_t)j->attempt);
                s_send_rt(self, r, "cancel", b);
                json_decref(b);
            }
        }
        s_reply(self, &route, p->verb,
                s_ok(json_pack("{s:o, s:O}", "cancelled", cancelled,
                               "unknown", json_object_get(p->data,
                                                          "unknown"))));
    }
    json_decref(res);
    s_pending_free(p);
}

static void s_svc_cancel(assay_leader *self, const assay_bytes *route,
                         const char *verb, const json_t *body)
{
    const json_t *ids = json_object_get(body, "ids");
    if (!json_is_array(ids) || json_array_size(ids) > MAX_LIST) {
        s_reply(self, route, verb,
                s_error(ASSAY_EINVAL, "ids: expected an array of job or "
                                      "JobSpec ids"));
        return;
    }
    json_t *jobs = json_array(), *unknown = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        const char *s = json_string_value(id);
        /* A job id first, as assay.job does, then a JobSpec id. */
        assay_spec_rec *spec = assay_state_spec(self->state, s);
        if (assay_state_job(self->state, s))
            json_array_append(jobs, id);
        else if (spec)
            for (const assay_job *sj = assay_spec_jobs(spec); sj;
                 sj = assay_spec_next(sj))
                json_array_append_new(jobs, json_string(sj->id));
        else
            json_array_append_new(unknown, json_string(s ? s : "(not a "
                                                                "string)"));
    }
    s_pending *p = s_pending_new(self, route, verb,
                                 json_pack("{s:o}", "unknown", unknown));
    int rc = p ? s_commit(self, assay_cmd_cancel(jobs, assay_wall_ms()),
                          s_cancelled, p)
               : ASSAY_ENOMEM;
    json_decref(jobs);
    if (rc) {
        s_reply(self, route, verb, s_error(rc, "cannot commit"));
        if (p)
            s_pending_free(p);
    }
}

static void s_svc_runtimes(assay_leader *self, const assay_bytes *route,
                           const char *verb, const json_t *body)
{
    (void)body;
    json_t *list = json_array();
    size_t i;
    json_t *id;
    int64_t now = assay_now_ms();
    json_array_foreach(assay_state_runtime_ids(self->state), i, id) {
        assay_runtime_rec *r =
            assay_state_runtime(self->state, json_string_value(id));
        s_rt *live = assay_index_get(self->rts, r->id);
        json_t *o = json_pack(
            "{s:s, s:b, s:I, s:O, s:O}", "id", r->id, "alive", r->alive,
            "heartbeat_ms", (json_int_t)r->heartbeat_ms, "labels",
            json_object_get(r->info, "labels"), "capacity",
            json_object_get(r->info, "capacity"));
        size_t running;
        assay_state_running_on(self->state, r->id, &running);
        json_object_set_new(o, "running", json_integer((json_int_t)running));
        if (live) {
            json_object_set_new(o, "last_seen_ms_ago",
                                json_integer(now - live->last_seen_ms));
            json_object_set_new(
                o, "credit",
                json_integer(live->limit > live->sent
                                 ? (json_int_t)(live->limit - live->sent)
                                 : 0));
            json_object_set_new(o, "why", json_string(live->why));
        }
        json_array_append_new(list, o);
    }
    s_reply(self, route, verb,
            s_ok(json_pack("{s:o, s:I}", "runtimes", list,
                           "refused_registrations", (json_int_t)self->refused)));
}

static void s_svc_plugins(assay_leader *self, const assay_bytes *route,
                          const char *verb, const json_t *body)
{
    (void)body;
    json_t *list = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(assay_state_runtime_ids(self->state), i, id) {
        assay_runtime_rec *r =
            assay_state_runtime(self->state, json_string_value(id));
        json_array_append_new(
            list, json_pack("{s:s, s:b, s:O}", "runtime", r->id, "alive",
                            r->alive, "catalog",
                            json_object_get(r->info, "catalog")));
    }
    s_reply(self, route, verb, s_ok(json_pack("{s:o}", "runtimes", list)));
}

/* Asks every connected runtime to rescan its plugins directory; the
 * answers arrive as catalogue updates. */
static void s_svc_rescan(assay_leader *self, const assay_bytes *route,
                         const char *verb, const json_t *body)
{
    (void)body;
    json_t *asked = json_array(), *empty = json_object();
    size_t i;
    json_t *id;
    json_array_foreach(assay_state_runtime_ids(self->state), i, id) {
        assay_runtime_rec *rec =
            assay_state_runtime(self->state, json_string_value(id));
        s_rt *r = assay_index_get(self->rts, rec->id);
        if (r && rec->alive) {
            s_send_rt(self, r, "rescan", empty);
            json_array_append(asked, id);
        }
    }
    json_decref(empty);
    s_reply(self, route, verb, s_ok(json_pack("{s:o}", "runtimes", asked)));
}

/* ---- Cluster: membership, redirects, taking the lead -------------------- */

static int s_status(assay_leader *self, assay_consensus_status *st)
{
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    return self->cops->version >= 2 ? S_COP(self, status, self->cons, st)
                                    : ASSAY_EUNSUPP;
}

/* The "leader" record of the member the consensus module says leads, or
 * NULL while none is known or it has not announced itself yet. */
static const json_t *s_known_leader(assay_leader *self)
{
    const json_t *l = assay_state_leader(self->state);
    assay_consensus_status st;
    if (!l || s_status(self, &st) || !st.leader_id ||
        st.leader_id != (uint64_t)json_integer_value(
                            json_object_get(l, "member")) ||
        !strcmp(s_str(l, "id"), self->id))
        return NULL;
    return l;
}

/* Control-plane requests that need the leader, on a member that does not
 * lead: ASSAY_ENOTLEADER, with the leader's endpoints when known. */
static void s_not_leader(assay_leader *self, const assay_bytes *route,
                         const char *verb)
{
    const json_t *l = s_known_leader(self);
    json_t *e;
    if (l) {
        e = s_error(ASSAY_ENOTLEADER, "member %s does not lead: %s does, at %s",
                    self->id, s_str(l, "id"), s_str(l, "endpoint"));
        json_object_set_new(e, "leader", json_string(s_str(l, "endpoint")));
        json_object_set_new(e, "events", json_string(s_str(l, "events")));
    } else {
        e = s_error(ASSAY_ENOTLEADER,
                    "member %s does not lead and no leader is known yet: "
                    "retry shortly",
                    self->id);
    }
    s_reply(self, route, verb, e);
}

static const char *s_role_name(int role)
{
    switch (role) {
    case ASSAY_ROLE_FOLLOWER: return "follower";
    case ASSAY_ROLE_CANDIDATE: return "candidate";
    case ASSAY_ROLE_LEADER: return "leader";
    default: return "unavailable";
    }
}

/* The feature level this member speaks: its build's, or less when
 * feature_level holds it back (a cluster older members may join). */
static int64_t s_speaks(const assay_leader *self)
{
    int64_t cap = self->conf->feature_level;
    return cap > 0 && cap < ASSAY_STATE_LEVEL ? cap : ASSAY_STATE_LEVEL;
}

static json_t *s_cluster_json(assay_leader *self)
{
    assay_consensus_status st;
    int rc = s_status(self, &st);
    if (rc)
        return s_error(rc, "consensus module %s reports no status",
                       self->conf->consensus);
    const json_t *l = assay_state_leader(self->state);
    json_t *members = json_array();
    for (uint32_t i = 0; i < st.n_members && i < ASSAY_CONSENSUS_MAX_MEMBERS;
         i++)
        json_array_append_new(
            members,
            json_pack("{s:I, s:s, s:b, s:b}", "id", (json_int_t)st.members[i].id,
                      "address", st.members[i].address, "voter",
                      st.members[i].voter, "leader",
                      st.members[i].id == st.leader_id));
    json_t *o = json_pack(
        "{s:s, s:I, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:s, s:o}",
        "member", self->id, "member_id", (json_int_t)st.id, "consensus",
        self->conf->consensus, "role", s_role_name(st.role), "serving",
        self->leading && st.role == ASSAY_ROLE_LEADER, "term", (json_int_t)st.term, "commit_index",
        (json_int_t)st.commit_index, "applied_index",
        (json_int_t)st.applied_index, "last_index", (json_int_t)st.last_index,
        "leader_id", (json_int_t)st.leader_id, "leader_address",
        st.leader_address, "members", members);
    /* What a rolling upgrade needs to know (docs/operations.md). */
    json_object_set_new(o, "level",
                        json_integer(assay_state_level(self->state)));
    json_object_set_new(o, "speaks", json_integer(s_speaks(self)));
    if (st.storage_need)
        json_object_set_new(
            o, "storage",
            json_pack("{s:I, s:I, s:b}", "free", (json_int_t)st.storage_free,
                      "reserve", (json_int_t)st.storage_need, "short",
                      st.storage_short != 0));
    if (l && (uint64_t)json_integer_value(json_object_get(l, "member")) ==
                 st.leader_id)
        json_object_set(o, "leader", (json_t *)l);
    return s_ok(o);
}

static void s_member_done(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_bytes route = s_route(p);
    (void)result;
    if (status)
        s_reply(p->leader, &route, p->verb,
                s_error(status, "cluster %s: %s", s_str(p->data, "op"),
                        assay_strerror(status)));
    else
        s_reply(p->leader, &route, p->verb, s_cluster_json(p->leader));
    s_pending_free(p);
}

/* {op: "upgrade", level}: raises the cluster's feature level, once the
 * caller (assayctl cluster upgrade) has seen every member speak it. */
static void s_upgrade(assay_leader *self, const assay_bytes *route,
                      const char *verb, const json_t *body)
{
    const json_t *lv = json_object_get(body, "level");
    json_int_t level = json_integer_value(lv);
    if (!json_is_integer(lv) || level < 1 || level > s_speaks(self)) {
        s_reply(self, route, verb,
                s_error(json_is_integer(lv) && level > s_speaks(self)
                            ? ASSAY_EUNSUPP
                            : ASSAY_EINVAL,
                        "cluster upgrade: level must be an integer from 1 "
                        "to %lld (what the leader speaks)",
                        (long long)s_speaks(self)));
        return;
    }
    if (level <= assay_state_level(self->state)) {
        s_reply(self, route, verb, s_cluster_json(self));
        return;
    }
    s_pending *p = s_pending_new(self, route, verb,
                                 json_pack("{s:s}", "op", "upgrade"));
    int rc = p ? s_commit(self, assay_cmd_level(level, assay_wall_ms()),
                          s_member_done, p)
               : ASSAY_ENOMEM;
    if (rc) {
        s_reply(self, route, verb,
                s_error(rc, "cluster upgrade: %s", assay_strerror(rc)));
        if (p)
            s_pending_free(p);
    }
}

/* assay.cluster: {op: "status"} on any member; {op: "add", id, address},
 * {op: "remove", id}, {op: "transfer", id}, {op: "upgrade", level} and
 * {op: "demote", id} on the leader. */
static void s_svc_cluster(assay_leader *self, const assay_bytes *route,
                          const char *verb, const json_t *body)
{
    const char *op = s_str(body, "op") ? s_str(body, "op") : "status";
    static const char *const ops[] = {"status",   "add",     "remove",
                                      "transfer", "upgrade", "demote"};
    int kind = -1;
    for (int i = 0; i < 6; i++)
        if (!strcmp(op, ops[i]))
            kind = i;
    if (kind < 0) {
        s_reply(self, route, verb,
                s_error(ASSAY_EINVAL,
                        "unknown cluster op '%.32s' (status, add, remove, "
                        "transfer, upgrade, demote)",
                        op));
        return;
    }
    if (kind == 0) {
        s_reply(self, route, verb, s_cluster_json(self));
        return;
    }
    if (!self->leading) {
        s_not_leader(self, route, verb);
        return;
    }
    if (kind == 4) {
        s_upgrade(self, route, verb, body);
        return;
    }
    if (self->cops->version < 2) {
        s_reply(self, route, verb,
                s_error(ASSAY_EUNSUPP, "consensus module %s has no "
                                       "membership changes",
                        self->conf->consensus));
        return;
    }
    const json_t *idv = json_object_get(body, "id");
    const char *addr = s_str(body, "address");
    if (!json_is_integer(idv) || json_integer_value(idv) < 0 ||
        (kind != 3 && json_integer_value(idv) == 0) ||
        (kind == 1 && (!addr || !*addr || strlen(addr) > 255))) {
        s_reply(self, route, verb,
                s_error(ASSAY_EINVAL,
                        "cluster %s: needs a member id (a positive integer)%s",
                        op, kind == 1 ? " and an address HOST:PORT" : ""));
        return;
    }
    if (kind == 5 && json_integer_value(idv) == self->conf->member_id) {
        s_reply(self, route, verb,
                s_error(ASSAY_EINVAL,
                        "cluster demote: member %lld leads: hand the lead "
                        "on first (assayctl cluster transfer)",
                        (long long)json_integer_value(idv)));
        return;
    }
    static const int codes[] = {0,
                                ASSAY_MEMBER_ADD,
                                ASSAY_MEMBER_REMOVE,
                                ASSAY_MEMBER_TRANSFER,
                                0,
                                ASSAY_MEMBER_DEMOTE};
    s_pending *p = s_pending_new(self, route, verb,
                                 json_pack("{s:s}", "op", op));
    int rc = p ? S_COP(self, member, self->cons, codes[kind],
                       (uint64_t)json_integer_value(idv), addr, s_member_done,
                       p)
               : ASSAY_ENOMEM;
    if (rc) {
        s_reply(self, route, verb,
                s_error(rc, "cluster %s: %s", op, assay_strerror(rc)));
        if (p)
            s_pending_free(p);
    }
}

#define S_CLAIM_RETRY_MS 1000

static void s_claim_failed(assay_leader *self, int status)
{
    self->claim_at = assay_now_ms() + S_CLAIM_RETRY_MS;
    if (status != self->claim_failed)
        assay_warn("member %s: taking the lead failed: %s%s", self->id,
                   assay_strerror(status),
                   status == ASSAY_ECANCELLED ? "" : " (retried every second)");
    self->claim_failed = status;
}

static void s_claimed(void *arg, int status, void *result)
{
    assay_leader *self = arg;
    json_decref(result);
    self->claiming = false;
    if (status) {
        s_claim_failed(self, status);
        return;
    }
    self->claim_failed = 0;
    if (!S_COP(self, is_leader, self->cons))
        return;
    /* Runtimes register again with us; jobs running before get fresh
     * leases at the next tick, and heartbeats are counted from now. */
    assay_state_reset_marks(self->state);
    s_forget_runtimes(self);
    s_offers_reset(self, true);
    self->started_ms = assay_now_ms();
    self->leading = true;
    self->dirty = true;
    assay_info("member %s leads: control plane on %s", self->id,
               self->endpoint);
}

/* Follows the consensus module's view each loop turn: a new leader first
 * commits its "leader" command (announcing its endpoints) and serves only
 * once that is applied; a member that lost the lead drops what it kept. */
static void s_role(assay_leader *self)
{
    bool lead = S_COP(self, is_leader, self->cons);
    if (lead && !self->leading && !self->claiming &&
        assay_now_ms() >= self->claim_at) {
        assay_cmd *cmd = assay_cmd_leader(self->id, self->endpoint,
                                          self->events_ep,
                                          self->conf->member_id,
                                          s_speaks(self));
        int rc = s_commit(self, cmd, s_claimed, self);
        self->claiming = rc == 0;
        if (rc)
            s_claim_failed(self, rc);
    } else if (!lead && self->leading) {
        self->leading = false;
        assay_state_reset_marks(self->state);
        s_forget_runtimes(self);
        s_batch_clear(&self->results);
        s_batch_clear(&self->requeues);
        assay_warn("member %s no longer leads", self->id);
    }
}

typedef void (*s_service_fn)(assay_leader *self, const assay_bytes *route,
                             const char *verb, const json_t *body);

static const struct {
    const char *name;
    s_service_fn fn;
} s_services[] = {
    {"assay.submit", s_svc_submit},     {"assay.job", s_svc_job},
    {"assay.jobs", s_svc_jobs},         {"assay.cancel", s_svc_cancel},
    {"assay.runtimes", s_svc_runtimes}, {"assay.plugins", s_svc_plugins},
    {"assay.rescan", s_svc_rescan},     {"assay.cluster", s_svc_cluster},
};

#define NSERVICES (sizeof s_services / sizeof *s_services)

static void s_on_client(assay_leader *self, const assay_link_msg *m)
{
    if (!strncmp(m->verb, "mmi.", 4) && strcmp(m->verb, "mmi.service")) {
        assay_link_send_text(self->link, self->server, &m->route,
                             ASSAY_MDP_CLIENT, m->verb, "501");
        return;
    }
    if (!strcmp(m->verb, "mmi.service")) { /* RFC 8 */
        const char *code = "404";
        for (size_t i = 0; m->raw_body && i < NSERVICES; i++)
            if (m->raw_body->len == strlen(s_services[i].name) &&
                !memcmp(m->raw_body->data, s_services[i].name,
                        m->raw_body->len))
                code = "200";
        assay_link_send_text(self->link, self->server, &m->route,
                             ASSAY_MDP_CLIENT, m->verb, code);
        return;
    }
    for (size_t i = 0; i < NSERVICES; i++) {
        if (strcmp(m->verb, s_services[i].name))
            continue;
        if (!json_is_object(m->body)) {
            s_reply(self, &m->route, m->verb,
                    s_error(ASSAY_EPROTO, "%s: body must be a msgpack map",
                            m->verb));
            return;
        }
        if (!self->leading && s_services[i].fn != s_svc_cluster)
            s_not_leader(self, &m->route, m->verb);
        else
            s_services[i].fn(self, &m->route, m->verb, m->body);
        return;
    }
    s_reply(self, &m->route, m->verb,
            s_error(ASSAY_ENOENT,
                    "unknown service '%.64s' (services: assay.submit, "
                    "assay.job, assay.jobs, assay.cancel, assay.runtimes, "
                    "assay.plugins, assay.rescan, assay.cluster, mmi.service)",
                    m->verb));
}

/* ---- Runtimes ------------------------------------------------------------ */

/* The catalogue a runtime advertises must have the shape the planner and
 * type checker read; anything else is refused at registration. */
static void s_registered(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    json_decref(result);
    s_rt *r = assay_index_get(self->rts, s_str(p->data, "id"));
    if (!status && r) {
        json_t *b = json_pack("{s:s}", "leader", self->id);
        s_send_rt(self, r, "registered", b);
        json_decref(b);
    }
    s_pending_free(p);
}

/* Queues a requeue of j's current attempt; `ack_to` (may be NULL) is the
 * runtime whose lost-attempt report this answers. */
static void s_requeue_item(assay_leader *self, assay_job *j,
                           const char *reason, const char *ack_to)
{
    j->reported = true;
    if (!s_batch_add(&self->requeues, j->id, j->attempt, ack_to) ||
        assay_cmd_list_requeue(self->requeues.list, j->id, j->attempt,
                               reason, ack_to, assay_wall_ms()))
        assay_warn("out of memory queueing the requeue of %s", j->id);
}

static void s_on_register(assay_leader *self, const assay_link_msg *m)
{
    const json_t *b = m->body;
    const char *id = s_str(b, "id");
    json_int_t hb = json_integer_value(json_object_get(b, "heartbeat_ms"));
    const json_t *ride = json_object_get(b, "acks_in_dispatch");
    const char *fault = m->route.len > sizeof((s_rt *)0)->route
                            ? "routing id too long"
                            : assay_registration_fault(b);
    if (fault) {
        assay_warn("refused registration from %.64s: %s", id ? id : "(no id)",
                   fault);
        return;
    }
    s_rt *r = assay_index_get(self->rts, id);
    if (!r) {
        if (assay_index_size(self->rts) >= (size_t)self->conf->max_runtimes) {
            s_refused(self, id);
            return;
        }
        if (!(r = calloc(1, sizeof *r))) {
            assay_warn("refused registration from %s: out of memory", id);
            return;
        }
        strlcpy(r->id, id, sizeof r->id);
        assay_index_put(self->rts, id, r);
        r->next = self->rt_list;
        self->rt_list = r;
    }
    memcpy(r->route, m->route.data, m->route.len);
    r->route_len = m->route.len;
    r->last_seen_ms = assay_now_ms();
    r->heartbeat_ms = hb;
    r->sent = 0; /* a new session: the runtime counts from zero too */
    r->limit = 0;
    r->acks_ride = json_is_true(ride);
    /* Jobs the state has running there that the runtime no longer holds
     * at their current attempt (it restarted, or it is not the session
     * that ran them) are lost attempts. */
    assay_index *held = assay_index_new();
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(b, "running"), i, x)
        if (held && s_str(x, "job"))
            assay_index_put(held, s_str(x, "job"), x);
    for (assay_job *j = assay_state_running_on(self->state, id, NULL); j;
         j = j->rt_next) {
        const json_t *h = held ? assay_index_get(held, j->id) : NULL;
        if (held && !j->reported &&
            (!h || json_integer_value(json_object_get(h, "attempt")) !=
                       j->attempt))
            s_requeue_item(self, j, "runtime restarted", NULL);
    }
    assay_index_destroy(&held);
    assay_cmd *cmd = assay_cmd_runtime(id, hb, json_object_get(b, "labels"),
                                    json_object_get(b, "capacity"),
                                    json_object_get(b, "catalog"));
    s_pending *p = s_pending_new(self, &m->route, "register",
                                 json_pack("{s:s}", "id", id));
    int rc = ASSAY_ENOMEM;
    if (p)
        rc = s_commit(self, cmd, s_registered, p);
    else
        assay_cmd_destroy(&cmd);
    if (rc) {
        /* A member short of space said so once; the runtime retries. */
        if (rc == ASSAY_ENOSPC)
            assay_debug("cannot commit registration of %s: %s", id,
                        assay_strerror(rc));
        else
            assay_warn("cannot commit registration of %s: %s", id,
                       assay_strerror(rc));
        if (p)
            s_pending_free(p);
        return;
    }
    assay_info("runtime %s registered (heartbeat %lld ms)", id,
               (long long)hb);
}

/* Credit and liveness, carried by heartbeats and results alike. */
static void s_on_alive(assay_leader *self, s_rt *r, const json_t *b)
{
    r->last_seen_ms = assay_now_ms();
    json_t *limit = json_object_get(b, "limit");
    if (json_is_integer(limit) && json_integer_value(limit) >= 0) {
        uint64_t l = (uint64_t)json_integer_value(limit);
        self->dirty = self->dirty || l > r->limit;
        r->limit = l;
    }
    json_t *mem = json_object_get(b, "mem_available_mb");
    if (json_is_integer(mem)) {
        self->dirty = self->dirty || json_integer_value(mem) >
                                         r->mem_available_mb;
        r->mem_available_mb = json_integer_value(mem);
    }
    /* Jobs it reports holding keep their lease: one may wait behind
     * others in an executor queue; silence is what the heartbeat rule
     * catches. */
    size_t i;
    json_t *h;
    int64_t now = assay_now_ms();
    json_array_foreach(json_object_get(b, "running"), i, h) {
        assay_job *j = assay_state_job(self->state, s_str(h, "job"));
        if (j && j->state == ASSAY_JOB_RUNNING && !j->reported &&
            j->attempt == json_integer_value(json_object_get(h, "attempt")) &&
            !strcmp(j->runtime, r->id))
            j->lease_ms = now + j->spec->timeout_ms +
                          self->conf->lease_grace_ms;
    }
    if (s_str(b, "why"))
        strlcpy(r->why, s_str(b, "why"), sizeof r->why);
    assay_runtime_rec *rec = assay_state_runtime(self->state, r->id);
    if (rec && !rec->alive)
        s_commit(self, assay_cmd_runtime_state(r->id, true),
                 s_ignore, NULL);
}

/* Levels of nesting in v (a scalar is 1); the decoder bounds it. */
static int s_depth(const json_t *v)
{
    int d = 0;
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, k, x) {
            int c = s_depth(x);
            d = c > d ? c : d;
        }
    else if (json_is_array(v))
        json_array_foreach(v, i, x) {
            int c = s_depth(x);
            d = c > d ? c : d;
        }
    return d + 1;
}

/* A result sits deeper in a snapshot ({specs:[{jobs:[{result}]}]}) than
 * in the message that brought it; nested beyond this it could not be
 * decoded from the snapshot again. */
#define RESULT_MAX_DEPTH (ASSAY_CODEC_MAX_DEPTH - 8)

static void s_on_result(assay_leader *self, s_rt *r, const json_t *b)
{
    const char *jid = s_str(b, "job");
    json_int_t attempt = json_integer_value(json_object_get(b, "attempt"));
    const json_t *res = json_object_get(b, "result");
    assay_job *j = assay_state_job(self->state, jid);
    if (!j || !json_is_object(res) || j->state != ASSAY_JOB_RUNNING ||
        j->attempt != attempt || strcmp(j->runtime, r->id) || j->reported) {
        /* Fencing: a late or foreign result changes nothing. */
        assay_info("ignored result for %.96s attempt %lld from %s (job %s)",
                   jid ? jid : "(none)", (long long)attempt, r->id,
                   j ? assay_job_state_name(j->state) : "unknown");
        s_queue_ack(self, r, jid ? jid : "", attempt, true);
        return;
    }
    if (json_is_true(json_object_get(res, "retryable"))) {
        s_requeue_item(self, j,
                       s_str(res, "reason") ? s_str(res, "reason")
                                            : "attempt lost",
                       r->id);
    } else {
        j->reported = true; /* recorded once: later copies are stale */
        json_object_del((json_t *)res, "retryable"); /* the message's own */
        json_t *deep = NULL;
        if (s_depth(res) > RESULT_MAX_DEPTH) {
            assay_warn("runtime %s: result of %s nested deeper than %d "
                       "levels: recorded as an error",
                       r->id, j->id, RESULT_MAX_DEPTH);
            deep = json_pack("{s:s, s:s, s:s, s:[], s:{}}", "status",
                             "error", "reason", "result too deep", "message",
                             "the runtime's result was nested deeper than "
                             "the member keeps",
                             "findings", "data");
        }
        if (!s_batch_add(&self->results, j->id, attempt, r->id) ||
            assay_cmd_list_result(self->results.list, j->id, attempt,
                                  deep ? deep : res, r->id, assay_wall_ms()))
            assay_warn("out of memory queueing the result of %s", j->id);
        json_decref(deep);
    }
}

/* A runtime's plugins changed (hot loading): commit what it offers now;
 * what may run where is then planned anew. */
static void s_on_catalog(assay_leader *self, s_rt *r, const json_t *b)
{
    const json_t *cat = json_object_get(b, "catalog");
    assay_runtime_rec *rec = assay_state_runtime(self->state, r->id);
    const char *fault = rec ? assay_catalog_fault(cat) : "not registered";
    if (fault) {
        assay_warn("runtime %s: catalogue update refused: %s", r->id, fault);
        return;
    }
    s_commit(self,
             assay_cmd_runtime(rec->id, rec->heartbeat_ms,
                               json_object_get(rec->info, "labels"),
                               json_object_get(rec->info, "capacity"),
                               cat),
             s_ignore, NULL);
    assay_info("runtime %s: catalogue updated", r->id);
}

static void s_on_runtime(assay_leader *self, const assay_link_msg *m)
{
    if (!json_is_object(m->body)) {
        assay_warn("runtime message %s without a map body: dropped", m->verb);
        return;
    }
    if (!self->leading) {
        /* Sent to the leader we were, or to any member it joined: point
         * it at the leader; while none is known it tries its next one. */
        const json_t *l = s_known_leader(self);
        if (l) {
            json_t *b = json_pack("{s:s}", "leader", s_str(l, "endpoint"));
            assay_link_send(self->link, self->server, &m->route,
                            ASSAY_RUNTIME_PROTO, "redirect", b);
            json_decref(b);
        }
        return;
    }
    if (!strcmp(m->verb, "register")) {
        s_on_register(self, m);
        return;
    }
    s_rt *r = assay_index_get(self->rts, s_str(m->body, "id"));
    if (!r || r->route_len != m->route.len ||
        memcmp(r->route, m->route.data, m->route.len)) {
        /* Unknown here (we restarted, or it reconnected): register again. */
        assay_link_send(self->link, self->server, &m->route,
                        ASSAY_RUNTIME_PROTO, "reregister", NULL);
        return;
    }
    if (!strcmp(m->verb, "heartbeat")) {
        s_on_alive(self, r, m->body);
        /* Lets the runtime tell a silent (dead, cut-off) leader apart. */
        s_send_rt(self, r, "pulse", NULL);
    }
    else if (!strcmp(m->verb, "catalog"))
        s_on_catalog(self, r, m->body);
    else if (!strcmp(m->verb, "result")) {
        s_on_alive(self, r, m->body);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(m->body, "results"), i, it)
            s_on_result(self, r, it);
    } else
        assay_warn("runtime %s: unknown command '%s': dropped", r->id,
                   m->verb);
}

/* Handles what arrived; returns how many messages there were. Bounded,
 * so a flood cannot starve timers; `more` makes the next poll return at
 * once. */
static int s_drain(assay_leader *self)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_link_msg m;
    int i;
    size_t bytes = 0;
    self->more = true;
    /* Bounded per turn, in messages and in bytes decoded, so that a flood
     * of large messages cannot hold the loop: the rest waits a turn. */
    for (i = 0; i < 4096 && bytes < DRAIN_BYTES; i++) {
        int rc = assay_link_recv(self->link, &m, err, sizeof err);
        if (rc == 0) {
            self->more = false;
            break;
        }
        if (rc < 0) {
            if (!strcmp(m.proto, ASSAY_MDP_CLIENT) && m.route.len)
                s_reply(self, &m.route, m.verb, s_error(rc, "%s", err));
            else
                assay_warn("dropped message: %s", err);
        } else if (!strcmp(m.proto, ASSAY_MDP_CLIENT)) {
            s_on_client(self, &m);
        } else if (!strcmp(m.proto, ASSAY_RUNTIME_PROTO)) {
            s_on_runtime(self, &m);
        } else {
            assay_warn("dropped message with unknown protocol '%.16s'",
                       m.proto);
        }
        bytes += m.raw_body ? m.raw_body->len : 0;
        assay_link_msg_fini(&m);
    }
    return i;
}

static void s_on_transport(void *arg, int fd, short revents)
{
    (void)fd;
    (void)revents;
    s_drain(arg);
}

/* ---- Dispatcher ---------------------------------------------------------- */

/* The plugin version runtime rec would run job j with, "" if it cannot. */
static const char *s_choose_now(const assay_job *j,
                                const assay_runtime_rec *rec)
{
    const assay_spec_rec *spec = j->spec;
    char name[64];
    const char *action;
    const char *version = "";
    assay_semver_range *range = NULL;
    char want[80];
    snprintf(want, sizeof want, "=%s", spec->resolved);
    if (assay_action_ref_split(spec->action, name, sizeof name, &action) &&
        s_labels_match(spec->selector, json_object_get(rec->info, "labels")) &&
        !assay_semver_range_parse(want, &range, NULL, 0)) {
        assay_semver v;
        const json_t *p = s_pick(json_object_get(rec->info, "catalog"), name,
                                 action, range, &v);
        if (p)
            version = s_str(p, "version");
    }
    assay_semver_range_destroy(&range);
    return version ? version : "";
}

/* The offer class of j's JobSpec: the jobs of JobSpecs alike in action,
 * resolved version and selector can run on the same runtimes, with the
 * same version. Written into buf when it fits (no selector, usually),
 * else into a heap string the caller frees: compare the result to buf. */
static char *s_class_key(const assay_job *j, char *buf, size_t cap)
{
    const json_t *sel = j->spec->selector;
    char *dump = json_object_size(sel)
                     ? json_dumps(sel, JSON_COMPACT | JSON_SORT_KEYS)
                     : NULL;
    const char *a = j->spec->action, *v = j->spec->resolved;
    size_t len = strlen(a) + strlen(v) + (dump ? strlen(dump) : 0) + 3;
    char *key = len <= cap ? buf : malloc(len);
    if (key)
        snprintf(key, len, "%s\n%s\n%s", a, v, dump ? dump : "");
    free(dump);
    return key;
}

/* The remembered choices for j's offer class, made empty on first use;
 * NULL when they cannot be remembered. */
static s_choices *s_choices_for(assay_leader *self, const assay_job *j)
{
    if (!self->choice)
        return NULL;
    char buf[256];
    char *key = s_class_key(j, buf, sizeof buf);
    s_choices *c = key ? assay_index_get(self->choice, key) : NULL;
    if (key && !c && (c = calloc(1, sizeof *c)) &&
        assay_index_put(self->choice, key, c) != 0) {
        free(c);
        c = NULL;
    }
    if (key != buf)
        free(key);
    return c;
}

/* s_choose_now, worked out once per offer class and runtime (c may be
 * NULL: then every time). */
static const char *s_choose(assay_leader *self, s_choices *c,
                            const assay_job *j, const assay_runtime_rec *rec)
{
    if (!c)
        return s_choose_now(j, rec);
    if (rec->pos >= c->n) {
        size_t n = json_array_size(assay_state_runtime_ids(self->state));
        n = n > rec->pos ? n : rec->pos + 1;
        const char **v = reallocarray(c->v, n, sizeof *v);
        if (!v)
            return s_choose_now(j, rec);
        memset(v + c->n, 0, (n - c->n) * sizeof *v);
        c->v = v;
        c->n = n;
    }
    if (!c->v[rec->pos])
        c->v[rec->pos] = s_choose_now(j, rec);
    return c->v[rec->pos];
}

static void s_dispatched(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    json_t *applied = json_object_get(result, "applied");
    for (size_t i = 0; i < p->batch.n; i++) {
        const s_item *it = &p->batch.items[i];
        assay_job *j = assay_state_job(self->state, it->job);
        s_rt *r = assay_index_get(self->rts, it->runtime);
        if (status || !json_is_true(json_array_get(applied, i))) {
            if (j)
                j->dispatching = false;
            if (r && r->sent)
                r->sent--;
            self->dirty = true;
            continue;
        }
        j->lease_ms = assay_now_ms() + j->spec->timeout_ms +
                      self->conf->lease_grace_ms;
        if (!r)
            continue; /* gone since: the lease takes the job back */
        s_queue_dispatch(self, r, j);
    }
    json_decref(result);
    s_pending_free(p);
}

/* Whether some live runtime offers what j's offer class (c) needs. */
static bool s_any_live(assay_leader *self, s_choices *c, const assay_job *j)
{
    size_t i;
    json_t *id;
    json_array_foreach(assay_state_runtime_ids(self->state), i, id) {
        assay_runtime_rec *rec =
            assay_state_runtime(self->state, json_string_value(id));
        if (rec->alive && *s_choose(self, c, j, rec))
            return true;
    }
    return false;
}

/* Says why a job no runtime took is waiting, when no live runtime could
 * take it even with credit (shown by assay.job / assay.jobs); waiting
 * only for credit is not worth a note. */
static void s_note_waiting(assay_job *j, bool any_live)
{
    if (any_live) {
        assay_job_note(&j->waiting, NULL);
        return;
    }
    char note[160];
    snprintf(note, sizeof note,
             "no live runtime offers %s %s with the labels it selects",
             j->spec->action, j->spec->resolved);
    assay_job_note(&j->waiting, note);
}

/* Plans dispatches for the queued jobs over the runtimes that may take
 * work now (`ready`, `recs`: arrays with room for every runtime). */
static void s_plan(assay_leader *self, s_rt **ready,
                   assay_runtime_rec **recs)
{
    /* Credit changes with every result: most plans find nothing queued,
     * and with 1,000 runtimes, looking at them all first was the cost. */
    if (!assay_state_queue_first(self->state))
        return;
    int n = 0;
    for (s_rt *r = self->rt_list; r; r = r->next) {
        assay_runtime_rec *rec = r->sent < r->limit ? s_rt_rec(self, r)
                                                    : NULL;
        if (rec && rec->alive) {
            ready[n] = r;
            recs[n++] = rec;
        }
    }
    if (!n)
        return;
    uint64_t credit = 0;
    int64_t now = assay_wall_ms(); /* recorded: the wall clock */
    for (int k = 0; k < n; k++)
        credit += ready[k]->limit - ready[k]->sent;
    s_pending *p = s_pending_new(self, NULL, "dispatch", NULL);
    if (!p) {
        self->dirty = true; /* try again next turn */
        return;
    }
    /* Queued jobs come in runs of one JobSpec: its offer class is looked
     * up once per run. */
    s_choices *choices = NULL;
    const assay_spec_rec *choices_for = NULL;
    int any_live = -1; /* for choices_for, once asked: every runtime */
    int scanned = 0;
    for (assay_job *j = assay_state_queue_first(self->state);
         j && credit && scanned < MAX_QUEUE_SCAN &&
         p->batch.n < MAX_DISPATCH_BATCH;
         j = assay_state_queue_next(self->state, j), scanned++) {
        if (j->dispatching)
            continue;
        if (j->spec != choices_for) {
            choices = s_choices_for(self, j);
            choices_for = j->spec;
            any_live = -1;
        }
        int best = -1;
        const char *version = NULL;
        int64_t mem = j->spec->memory_mb;
        for (int k = 0; k < n; k++) {
            s_rt *r = ready[k];
            if (r->sent >= r->limit || (mem && r->mem_available_mb < mem))
                continue;
            const char *v = s_choose(self, choices, j, recs[k]);
            if (!*v)
                continue;
            /* Most credit left wins: spreads work across runtimes. */
            if (best < 0 || r->limit - r->sent >
                                ready[best]->limit - ready[best]->sent) {
                best = k;
                version = v;
            }
        }
        if (best < 0) {
            if (any_live < 0)
                any_live = s_any_live(self, choices, j);
            s_note_waiting(j, any_live);
            continue;
        }
        assay_job_note(&j->waiting, NULL);
        ready[best]->sent++;
        credit--;
        j->dispatching = true;
        if (!s_batch_add(&p->batch, j->id, j->attempt + 1,
                         ready[best]->id)) {
            j->dispatching = false;
            ready[best]->sent--;
            break;
        }
        /* Without memory the command is refused, and s_dispatched
         * hands the whole batch back. */
        if (assay_cmd_list_dispatch(p->batch.list, j->id, j->attempt + 1,
                                    ready[best]->id, version, now))
            break;
    }
    if (!p->batch.n) {
        s_pending_free(p);
        return;
    }
    if (p->batch.n == MAX_DISPATCH_BATCH)
        self->dirty = true; /* more may fit: plan again next turn */
    if (s_commit(self, assay_cmd_batch("dispatch", &p->batch.list),
                 s_dispatched, p) != 0) {
        assay_warn("cannot commit dispatches");
        s_dispatched(p, ASSAY_EIO, NULL);
    }
}

static void s_schedule(assay_leader *self)
{
    self->dirty = false;
    size_t nrt = json_array_size(assay_state_runtime_ids(self->state));
    s_rt **ready = calloc(nrt ? nrt : 1, sizeof *ready);
    assay_runtime_rec **recs = calloc(nrt ? nrt : 1, sizeof *recs);
    if (ready && recs)
        s_plan(self, ready, recs);
    else
        self->dirty = true; /* try again next turn */
    free(ready);
    free(recs);
}

/* Acknowledges each reported result or lost attempt once its command is
 * applied; one the state refused (cancelled meanwhile) is acked stale.
 * Without an ack the runtime keeps the report and sends it again when it
 * next registers; the lease covers the job meanwhile. */
static void s_reports_committed(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_leader *self = p->leader;
    json_t *applied = json_object_get(result, "applied");
    for (size_t i = 0; i < p->batch.n; i++) {
        const s_item *it = &p->batch.items[i];
        s_rt *r = *it->runtime ? assay_index_get(self->rts, it->runtime)
                               : NULL;
        if (!r || status)
            continue;
        s_queue_ack(self, r, it->job, it->attempt,
                    !json_is_true(json_array_get(applied, i)));
    }
    json_decref(result);
    s_pending_free(p);
}

static void s_flush_one(assay_leader *self, s_batch *batch, const char *op)
{
    if (!batch->n)
        return;
    s_pending *p = s_pending_new(self, NULL, op, NULL);
    if (!p) {
        assay_warn("cannot commit %s", op);
        s_batch_clear(batch);
        return;
    }
    p->batch = *batch;
    *batch = (s_batch){0};
    if (s_commit(self, assay_cmd_batch(op, &p->batch.list),
                 s_reports_committed, p) != 0) {
        assay_warn("cannot commit %s", op);
        s_pending_free(p);
    }
}

/* Commits what the last messages and timers collected, in two commands. */
static void s_flush(assay_leader *self)
{
    s_flush_one(self, &self->results, "result");
    s_flush_one(self, &self->requeues, "requeue");
}

/* Before every poll: commit what was collected, plan dispatches if
 * anything changed, send, then drain the transport (ZMQ_FD is
 * edge-triggered and sends can swallow its edge). */
static int s_prepare(void *arg, struct pollfd *pfd, int max,
                     int64_t *deadline_ms)
{
    (void)pfd;
    (void)max;
    assay_leader *self = arg;
    s_role(self);
    /* Commit, apply, plan, apply: a submit becomes a dispatch in one loop
     * turn where the consensus module applies at once (none), instead of
     * one turn per command through its fd, each turn with its syscalls.
     * Bounded: a module that applies later (raft) ends it at once. */
    for (int k = 0; k < 3 && self->leading; k++) {
        s_flush(self);
        if (self->dirty)
            s_schedule(self);
        if (!self->committed)
            break;
        self->committed = false;
        S_COP(self, process, self->cons);
        s_role(self);
    }
    if (self->leading) {
        for (s_rt *r = self->out_list; r; r = r->out_next) {
            s_flush_rt(self, r, false);
            r->out_listed = false;
        }
        self->out_list = NULL;
    }
    /* Last, after every send: a send on a ZeroMQ socket can take the
     * wake-up of a message that arrived meanwhile, so what is waiting is
     * read now, and if anything was, the loop comes straight back. */
    if (s_drain(self) > 0 || self->more || (self->leading && self->dirty))
        *deadline_ms = 0;
    return 0;
}

/* ---- Timers: leases, heartbeats, the notification hook ------------------- */

static void s_notify(assay_leader *self, const char *topic, const char *id)
{
    if (!self->conf->notify_command[0])
        return;
    int in[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return;
    char ev[128], rt[128];
    snprintf(ev, sizeof ev, "ASSAY_EVENT=%s", topic);
    snprintf(rt, sizeof rt, "ASSAY_RUNTIME=%s", id);
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = calloc(nenv + 3, sizeof *env);
    if (!env) {
        close(in[0]);
        close(in[1]);
        return;
    }
    memcpy(env, environ, nenv * sizeof *env);
    env[nenv] = ev;
    env[nenv + 1] = rt;
    char *argv[] = {"/bin/sh", "-c", (char *)self->conf->notify_command,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(in[0]);
    if (rc == 0) {
        if (self->nhooks < (int)(sizeof self->hooks / sizeof *self->hooks))
            self->hooks[self->nhooks++] = pid;
        json_t *ev_json = json_pack("{s:s, s:s, s:s}", "event", topic,
                                    "runtime", id, "leader", self->id);
        char *body = json_dumps(ev_json, JSON_COMPACT);
        json_decref(ev_json);
        if (body && (write(in[1], body, strlen(body)) < 0 ||
                     write(in[1], "\n", 1) < 0))
            assay_warn("notify_command: cannot write event: %m");
        free(body);
        assay_info("notify_command started (pid %d) for %s %s", (int)pid,
                   topic, id);
    } else {
        assay_error("notify_command: cannot start: %s", strerror(rc));
    }
    close(in[1]);
}

/* Reaps finished notification hooks (only ours: the executor pool reaps
 * its own children). */
static void s_reap_hooks(assay_leader *self)
{
    for (int k = 0; k < self->nhooks;)
        if (waitpid(self->hooks[k], NULL, WNOHANG) != 0)
            self->hooks[k] = self->hooks[--self->nhooks];
        else
            k++;
}

static void s_chore_done(void *arg, int status, void *result)
{
    s_chore *chore = arg;
    chore->busy = false;
    if (status)
        assay_warn("%s: %s", chore->what, assay_strerror(status));
    json_decref(result);
}

/* Retention: what fell out of retain_jobs / retain_seconds is forgotten
 * by a replicated "expire", one bounded batch in flight at a time. */
static void s_expire(assay_leader *self, int64_t now)
{
    if (self->expiring.busy ||
        assay_state_level(self->state) < ASSAY_LEVEL_RETENTION)
        return;
    assay_retention policy = {.keep_jobs = self->conf->retain_jobs,
                              .keep_ms = self->conf->retain_seconds * 1000};
    json_t *ids = json_array();
    if (!ids || !assay_state_expirable(self->state, &policy, now, ids,
                                       MAX_EXPIRE_BATCH)) {
        json_decref(ids);
        return;
    }
    self->expiring.busy = s_commit(self, assay_cmd_expire(ids), s_chore_done,
                                   &self->expiring) == 0;
    json_decref(ids);
}

/* Dead runtimes are forgotten by a replicated "forget" once this leader
 * has seen them dead for retain_runtime_seconds, when they hold no
 * running job and no session here: ids never seen again must not pile up
 * in every member. Death is timed by this leader's view (a new one starts
 * counting when it first sees them dead). Once a second, a batch at a
 * time. */
static void s_forget_dead(assay_leader *self, int64_t now)
{
    int64_t keep_ms = self->conf->retain_runtime_seconds * 1000;
    if (self->forgetting.busy || keep_ms <= 0 || now < self->forget_check_ms ||
        assay_state_level(self->state) < ASSAY_LEVEL_FORGET)
        return;
    self->forget_check_ms = now + 1000;
    json_t *ids = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(assay_state_runtime_ids(self->state), i, id) {
        assay_runtime_rec *rec =
            assay_state_runtime(self->state, json_string_value(id));
        size_t running = 0;
        if (!rec || rec->alive) {
            if (rec)
                rec->dead_seen_ms = 0;
            continue;
        }
        if (!rec->dead_seen_ms)
            rec->dead_seen_ms = now;
        assay_state_running_on(self->state, rec->id, &running);
        if (now - rec->dead_seen_ms >= keep_ms && !running &&
            !assay_index_get(self->rts, rec->id) &&
            json_array_size(ids) < MAX_EXPIRE_BATCH)
            json_array_append_new(ids, json_string(rec->id));
    }
    if (ids && json_array_size(ids))
        self->forgetting.busy = s_commit(self, assay_cmd_forget(ids),
                                         s_chore_done,
                                         &self->forgetting) == 0;
    json_decref(ids);
}

/* A runtime's death is announced (notify_command) once the log records
 * it: a leader deposed while it was stopped judges every runtime silent,
 * but its verdict never commits, and is never announced. */
static void s_dead_committed(void *arg, int status, void *result)
{
    s_pending *p = arg;
    if (!status)
        s_notify(p->leader, "runtime.dead", s_str(p->data, "id"));
    json_decref(result);
    s_pending_free(p);
}

static void s_tick(void *arg)
{
    assay_leader *self = arg;
    int64_t now = assay_now_ms();
    s_reap_hooks(self);
    if (!self->leading)
        return;
    s_expire(self, assay_wall_ms());
    s_forget_dead(self, now);
    for (s_rt *r = self->rt_list; r; r = r->next)
        s_flush_rt(self, r, true);
    /* Leases: a job whose result is overdue goes back to the queue. */
    for (assay_job *j = assay_state_running(self->state); j; j = j->next) {
        if (j->reported)
            continue; /* its requeue or result is being committed */
        if (!j->lease_ms) {
            /* Running before we led: a fresh lease from now. */
            if (!j->dispatching)
                j->lease_ms = now + j->spec->timeout_ms +
                              self->conf->lease_grace_ms;
            continue;
        }
        if (now < j->lease_ms)
            continue;
        s_rt *r = assay_index_get(self->rts, j->runtime);
        if (r) {
            json_t *b = json_pack("{s:s, s:I}", "job", j->id, "attempt",
                                  (json_int_t)j->attempt);
            s_send_rt(self, r, "cancel", b);
            json_decref(b);
        }
        s_requeue_item(self, j,
                       "lease expired: no result within timeout + grace",
                       NULL);
    }
    /* Heartbeats: silent runtimes are dead; their jobs move at once. */
    size_t i;
    json_t *id;
    json_array_foreach(assay_state_runtime_ids(self->state), i, id) {
        assay_runtime_rec *rec =
            assay_state_runtime(self->state, json_string_value(id));
        s_rt *r = assay_index_get(self->rts, rec->id);
        /* One not yet back since we took the lead gets longer: it must
         * notice the old leader's silence and find us first. */
        int64_t seen = r ? r->last_seen_ms
                         : self->started_ms +
                               rec->heartbeat_ms * REJOIN_GRACE_BEATS;
        if (!rec->alive ||
            now - seen <= rec->heartbeat_ms * self->conf->heartbeat_misses)
            continue;
        assay_warn("runtime %s missed %lld heartbeats: marking it dead",
                   rec->id, (long long)self->conf->heartbeat_misses);
        s_pending *p = s_pending_new(self, NULL, "runtime_state",
                                     json_pack("{s:s}", "id", rec->id));
        if (!p || s_commit(self, assay_cmd_runtime_state(rec->id, false),
                           s_dead_committed, p) != 0) {
            assay_warn("cannot commit the death of runtime %s", rec->id);
            if (p)
                s_pending_free(p);
        }
        for (assay_job *j = assay_state_running_on(self->state, rec->id, NULL);
             j; j = j->rt_next)
            if (!j->reported)
                s_requeue_item(self, j, "runtime dead", NULL);
        if (r)
            r->limit = r->sent; /* no credit until it speaks again */
    }
    s_expire_sessions(self, now);
}

/* ---- Events -------------------------------------------------------------- */

/* Event bodies are built only for topics some subscriber wants. */
static bool s_wants(void *arg, const char *topic)
{
    assay_leader *self = arg;
    return self->link && assay_link_wanted(self->link, self->pub, topic);
}

/* Before a "runtime" command (a registration or catalogue update) is
 * applied: keeps the runtime's catalogue as it is, so that the change can
 * be published once the command has replaced it. */
static void s_catalog_arm(assay_leader *self, const void *cmd, size_t len)
{
    char op[16];
    json_t *j = NULL;
    /* Decoded only for a registration someone listens for. */
    if (!self->leading || !s_wants(self, "runtime.plugins") ||
        !assay_fsm_op(self->state, cmd, len, op, sizeof op) ||
        strcmp(op, "runtime") || assay_codec_decode(cmd, len, &j, NULL, 0))
        return;
    const char *id = s_str(j, "id");
    assay_runtime_rec *rec = assay_state_runtime(self->state, id);
    if (id) {
        self->cat_armed = true;
        strlcpy(self->cat_id, id, sizeof self->cat_id);
        self->cat_before =
            rec ? json_incref(json_object_get(rec->info, "catalog")) : NULL;
    }
    json_decref(j);
}

static void s_catalog_disarm(assay_leader *self)
{
    self->cat_armed = false;
    json_decref(self->cat_before);
    self->cat_before = NULL;
}

/* The entries of `list` in `now` that `before` lacks; plugins compare by
 * name and version, other entries (refusals) as a whole. */
static json_t *s_catalog_new_entries(const json_t *now, const json_t *before,
                                     const char *list)
{
    json_t *out = json_array();
    size_t i, k;
    json_t *a, *b;
    bool plugins = !strcmp(list, "plugins");
    json_array_foreach(json_object_get(now, list), i, a) {
        bool known = false;
        json_array_foreach(json_object_get(before, list), k, b) {
            known = plugins ? s_str(a, "name") && s_str(b, "name") &&
                                  s_str(a, "version") && s_str(b, "version") &&
                                  !strcmp(s_str(a, "name"), s_str(b, "name")) &&
                                  !strcmp(s_str(a, "version"),
                                          s_str(b, "version"))
                            : json_equal(a, b);
            if (known)
                break;
        }
        if (known)
            continue;
        json_array_append_new(
            out, plugins ? json_pack("{s:O?, s:O?}", "name",
                                     json_object_get(a, "name"), "version",
                                     json_object_get(a, "version"))
                         : json_deep_copy(a));
    }
    return out;
}

/* Publishes runtime.plugins for the armed runtime when its catalogue
 * changed: plugins added and removed, and files newly refused. */
static void s_catalog_publish(assay_leader *self)
{
    assay_runtime_rec *rec = assay_state_runtime(self->state, self->cat_id);
    const json_t *now = rec ? json_object_get(rec->info, "catalog") : NULL;
    json_t *body = json_pack(
        "{s:s, s:o, s:o, s:o}", "id", self->cat_id, "added",
        s_catalog_new_entries(now, self->cat_before, "plugins"), "removed",
        s_catalog_new_entries(self->cat_before, now, "plugins"), "refused",
        s_catalog_new_entries(now, self->cat_before, "refused"));
    if (body && (json_array_size(json_object_get(body, "added")) ||
                 json_array_size(json_object_get(body, "removed")) ||
                 json_array_size(json_object_get(body, "refused")))) {
        int rc = assay_link_publish(self->link, self->pub, "runtime.plugins",
                                    body);
        if (rc)
            assay_debug("publish runtime.plugins: %s", assay_strerror(rc));
    }
    json_decref(body);
}

static void s_on_event(void *arg, const char *topic, const void *body,
                       size_t len)
{
    assay_leader *self = arg;
    /* New work, or a runtime back: worth planning again. A runtime's
     * (re)registration or catalogue update is applied here too, so what
     * may run where is recomputed from the new state. */
    if (!strcmp(topic, "job.queued") || !strcmp(topic, "runtime.alive"))
        self->dirty = true;
    /* Offers are cached by registry position, which a forgotten runtime
     * changes. */
    if (!strcmp(topic, "runtime.alive") ||
        !strcmp(topic, "runtime.gone"))
        s_offers_reset(self, true);
    if (body && self->leading) {
        int rc = assay_link_publish_raw(self->link, self->pub, topic,
                                        &(assay_bytes){body, len});
        if (rc)
            assay_debug("publish %s: %s", topic, assay_strerror(rc));
    }
    /* What changed follows the runtime.alive that says it registered. */
    if (!strcmp(topic, "runtime.alive") && self->cat_armed) {
        s_catalog_publish(self);
        s_catalog_disarm(self);
    }
}

/* ---- Consensus ------------------------------------------------------------ */

/* An entry this member cannot read (a newer op or version) or a snapshot
 * that does not load leaves its state unknown: it must not serve or vote
 * on, so it stops here, loudly. */
static void s_fsm_stop(assay_leader *self, const char *what, const char *why)
{
    assay_error("member %s: %s: %s; stopping (upgrade this member, or "
                "recover its data_dir %s from the other members as "
                "docs/operations.md#recovering-a-member says)",
                self->id, what, why, self->conf->data_dir);
    exit(1);
}

static int s_fsm_apply(void *data, const void *cmd, size_t len, void **result)
{
    assay_leader *self = data;
    char err[ASSAY_ERRMSG_SIZE];
    json_t *res = NULL;
    s_catalog_arm(self, cmd, len);
    int rc = assay_fsm_apply(self->state, cmd, len, &res, err, sizeof err);
    s_catalog_disarm(self); /* when the command published nothing */
    assay_snapshotter_applied(self->snap, cmd, len);
    if (rc == ASSAY_EUNSUPP)
        s_fsm_stop(self, "a committed command it cannot read", err);
    if (rc && *err)
        assay_warn("log entry refused: %s", err);
    *result = res;
    return rc;
}

/* Made by a forked child (core/state/snapshotter.h): the loop forks and
 * goes on; the module asks again until it is ready. Not while the cluster
 * is at level 1 (a member of the previous release may have to install
 * it, and reads neither format 2 nor the container), nor for a module
 * that predates ABI 3 (it would free() the mapping, and take EBUSY for a
 * failure): then on the loop, in the format level 1 reads. */
static int s_fsm_snapshot(void *data, void **buf, size_t *len)
{
    assay_leader *self = data;
    if (assay_state_level(self->state) < ASSAY_LEVEL_RETENTION ||
        self->cops->version < 3)
        return assay_fsm_snapshot(self->state, (char **)buf, len);
    return assay_snapshotter_take(self->snap, self->state, buf, len);
}

/* Either kind: a mapping from the snapshotter, or malloc'd. */
static void s_fsm_snapshot_free(void *data, void *buf, size_t len)
{
    (void)data;
    if (len >= ASSAY_SNAPSHOT_HEADER && !memcmp(buf, ASSAY_SNAPSHOT_MAGIC, 8))
        assay_snapshot_free(buf, len);
    else
        free(buf);
}

static int s_fsm_restore(void *data, const void *buf, size_t len)
{
    assay_leader *self = data;
    char err[ASSAY_ERRMSG_SIZE];
    assay_snapshotter_reset(self->snap);
    int rc = assay_fsm_restore(self->state, buf, len, err, sizeof err);
    if (rc)
        s_fsm_stop(self, "a snapshot that does not restore", err);
    s_offers_reset(self, true);
    for (s_rt *r = self->rt_list; r; r = r->next)
        r->rec = NULL; /* freed with the old state */
    return 0;
}

static void s_fsm_release(void *data, void *result)
{
    (void)data;
    json_decref(result);
}

static void s_on_consensus(void *arg, int fd, short revents)
{
    (void)fd;
    (void)revents;
    assay_leader *self = arg;
    S_COP(self, process, self->cons);
}

/* ---- Lifecycle ------------------------------------------------------------ */

/* The endpoint others reach us at: `advertise`, else what we bind with a
 * wildcard host replaced by this host's name. */
static void s_advertised(const char *advertise, const char *bind, char *out,
                         size_t cap)
{
    if (*advertise) {
        strlcpy(out, advertise, cap);
        return;
    }
    const char *host = strstr(bind, "://");
    host = host ? host + 3 : bind;
    const char *port = strrchr(host, ':');
    size_t hl = port ? (size_t)(port - host) : strlen(host);
    if ((hl == 1 && *host == '*') || (hl == 7 && !strncmp(host, "0.0.0.0", 7))) {
        char name[HOST_NAME_MAX + 1] = "localhost";
        gethostname(name, sizeof name);
        name[HOST_NAME_MAX] = '\0';
        snprintf(out, cap, "%.*s%s%s", (int)(host - bind), bind, name,
                 port ? port : "");
    } else {
        strlcpy(out, bind, cap);
    }
}

/* Binds the member's `listen` or `events` socket. The error names the
 * option and its value, and for a port in use (another member on it,
 * most often) says what to do. */
static int s_bind(assay_leader *self, int kind, const char *option,
                  const char *endpoint, char *err, size_t errlen)
{
    char why[ASSAY_ERRMSG_SIZE];
    int id = assay_link_open(self->link, kind, endpoint, why, sizeof why);
    if (id == ASSAY_EBUSY)
        return assay_errf(err, errlen, id,
                          "%s %s: address already in use; another assayd "
                          "may be running — stop it or choose another port "
                          "with --%s",
                          option, endpoint, option);
    if (id < 0)
        return assay_errf(err, errlen, id, "%s %s", option, why);
    return id;
}

int assay_leader_new(const assay_conf *conf, const char *node_id,
                     assay_loop *loop, assay_leader **out, char *err,
                     size_t errlen)
{
    assay_leader *self = calloc(1, sizeof *self);
    if (!self)
        return ASSAY_ENOMEM;
    self->conf = conf;
    self->expiring.what = "expiring finished jobs";
    self->forgetting.what = "forgetting dead runtimes";
    self->loop = loop;
    self->started_ms = assay_now_ms();
    strlcpy(self->id, node_id, sizeof self->id);
    s_advertised(conf->advertise, conf->listen, self->endpoint,
                 sizeof self->endpoint);
    s_advertised(conf->advertise_events, conf->events, self->events_ep,
                 sizeof self->events_ep);
    self->rts = assay_index_new();
    s_offers_reset(self, true);
    self->state = assay_state_new(s_on_event, self);
    self->snap = assay_snapshotter_new();
    int rc = 0;
    if (!self->rts || !self->choice ||
        !self->resolved || !self->state || !self->snap)
        rc = ASSAY_ENOMEM;
    assay_link_conf lc = {
        .modules_dir = conf->modules_dir,
        .transport = conf->transport,
        .max_message = (size_t)conf->max_message_kb * 1024,
        .publish_buffer = (size_t)conf->events_buffer_mb << 20,
        .publish_stall_ms = conf->events_stall_ms};
    if (!rc)
        rc = assay_link_new_conf(&lc, &self->link, err, errlen);
    if (!rc && (self->server = s_bind(self, ASSAY_LINK_SERVER, "listen",
                                      conf->listen, err, errlen)) < 0)
        rc = self->server;
    if (!rc && (self->pub = s_bind(self, ASSAY_LINK_PUBLISH, "events",
                                   conf->events, err, errlen)) < 0)
        rc = self->pub;
    char path[PATH_MAX], why[ASSAY_ERRMSG_SIZE * 3];
    const assay_module *m = NULL;
    if (!rc) {
        assay_module_path(conf->modules_dir, "consensus", conf->consensus,
                          path, sizeof path);
        rc = assay_module_open(path, ASSAY_KIND_CONSENSUS, &self->cdl, &m,
                               why, sizeof why);
        if (rc)
            assay_errf(err, errlen, rc, "consensus %s: %s", path, why);
    }
    if (!rc) {
        self->cops = m->consensus;
        snprintf(self->clabel, sizeof self->clabel, "consensus %s", m->name);
        char members[sizeof conf->members];
        const char *peers[ASSAY_CONSENSUS_MAX_MEMBERS + 1] = {0};
        int n = 0;
        strlcpy(members, conf->members, sizeof members);
        for (char *save, *t = strtok_r(members, " \t,", &save); t;
             t = strtok_r(NULL, " \t,", &save))
            if (n < ASSAY_CONSENSUS_MAX_MEMBERS)
                peers[n++] = t;
        assay_consensus_config cc = {
            .struct_size = sizeof cc,
            .id = (uint64_t)conf->member_id,
            /* raft: its entry in members unless set; `none` reports
             * the control-plane endpoint as its address. */
            .address = conf->raft_address[0] ? conf->raft_address
                       : strcmp(conf->consensus, "none") ? NULL
                                                         : conf->listen,
            .data_dir = conf->data_dir[0] ? conf->data_dir : NULL,
            .peers = peers,
            .fsm = {self, s_fsm_apply, s_fsm_snapshot, s_fsm_restore},
            .release = s_fsm_release,
            .snapshot_free = s_fsm_snapshot_free,
            .election_ms = (uint32_t)conf->election_ms,
            .heartbeat_ms = (uint32_t)conf->raft_heartbeat_ms,
            /* Staggered by member: members that snapshot at the same
             * entry all pause together, and commits wait for them
             * (docs/benchmarks.md, three members at 1,000 jobs/s). */
            .snapshot_threshold = (uint32_t)(conf->snapshot_threshold +
                                             conf->member_id % 4 *
                                                 (conf->snapshot_threshold /
                                                  4)),
            .snapshot_trailing = (uint32_t)conf->snapshot_trailing,
        };
        rc = S_COP(self, open, &cc, &self->cons, why, sizeof why);
        if (rc)
            assay_errf(err, errlen, rc, "consensus %s: %s", conf->consensus,
                       why);
    }
    if (!rc) {
        assay_state_set_wants(self->state, s_wants);
        assay_loop_source src = {s_prepare, NULL, self};
        assay_loop_add_fd(loop, assay_link_fd(self->link), POLLIN,
                          s_on_transport, self);
        assay_loop_add_fd(loop, S_COP(self, fd, self->cons), POLLIN,
                          s_on_consensus, self);
        assay_loop_add_source(loop, &src);
        self->tick = assay_loop_add_timer(loop, TICK_MS, TICK_MS, s_tick,
                                          self);
        assay_info("member %s: control plane on %s, events on %s", self->id,
                   conf->listen, conf->events);
    }
    if (rc) {
        assay_leader_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void assay_leader_destroy(assay_leader **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_leader *self = *self_p;
    if (self->loop && self->link) {
        assay_loop_remove_fd(self->loop, assay_link_fd(self->link));
        assay_loop_cancel_timer(self->loop, self->tick);
    }
    if (self->cons) {
        assay_loop_remove_fd(self->loop, S_COP(self, fd, self->cons));
        const char *prev = assay_host_label(self->clabel); /* close logs too */
        self->cops->close(&self->cons);
        assay_host_label(prev);
    }
    if (self->cdl)
        dlclose(self->cdl);
    assay_link_destroy(&self->link);
    s_offers_reset(self, false);
    s_forget_runtimes(self);
    assay_index_destroy(&self->rts);
    assay_state_destroy(&self->state);
    assay_snapshotter_destroy(&self->snap);
    s_batch_clear(&self->results);
    s_batch_clear(&self->requeues);
    free(self);
    *self_p = NULL;
}
