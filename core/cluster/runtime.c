/* core/cluster/runtime.c - the runtime role (see runtime.h). */
#include "cluster/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/errtext.h"
#include "base/hostfacts.h"
#include "base/index.h"
#include "base/log.h"
#include "cluster/keys.h"
#include "cluster/link.h"
#include "exec/monitor.h"
#include "exec/pool.h"
#include "exec/runner.h"
#include "obs/expo.h"
#include "plugin/params.h"
#include "proto/cpmsg.h"
#include "proto/names.h"
#include "proto/rtmsg.h"

/* The monitor reads /proc at most this often: results can arrive by the
 * thousand per second and each carries a fresh limit, and a CPU figure
 * over fewer than 100 ticks of 10 ms is noise. */
#define SAMPLE_MS 1000
/* Unanswered registrations before trying the next `join` endpoint. */
#define JOIN_TRIES 3

/* A dispatched attempt, from dispatch until the leader acknowledges it. */
typedef struct s_attempt {
    struct assay_runtime *rt;
    char job[ASSAY_RTMSG_JOB_MAX + 1];
    int64_t attempt;
    char key[128];  /* "job#attempt": the pool's job id */
    json_t *result; /* set when done, kept until acked */
    bool unsent;    /* done, not yet reported */
    struct s_attempt *prev, *next;
} s_attempt;

struct assay_runtime {
    const assay_conf *conf;
    assay_keys keys; /* what its links present (every reconnect) */
    /* The body of the message being packed (see s_send_packed). */
    msgpack_sbuffer out;
    msgpack_packer pk;
    char id[64];
    assay_loop *loop;
    assay_runner *runner;
    assay_link *link;
    int dealer;
    assay_monitor *monitor;
    json_t *labels;
    json_t *host; /* its host facts, sent with each registration */
    bool registered;
    uint64_t received; /* dispatches received this session */
    uint64_t slots;    /* executors x depth */
    s_attempt *attempts;
    /* Lookups per dispatch and ack: by "job#attempt", and a job's latest
     * attempt. With a hundred attempts outstanding, scanning the list was
     * most of a busy runtime's string compares. */
    assay_index *by_key, *by_job;
    size_t unsent; /* attempts done and not yet reported */
    int hb_timer, reg_timer;
    bool failed; /* it cannot go on (an enrolment refused) */
    bool leaving; /* said goodbye: registers no more */
    char endpoints[8][256]; /* members to try, in turn, until one answers */
    int nendpoints, current, unanswered;
    int64_t heard_ms;       /* when the leader last sent anything */
    char redirect[256];     /* leader endpoint a member pointed us to */
    uint32_t credit;
    const char *why;
    assay_monitor_sample sample;
    int64_t sampled_ms;
    bool more; /* the drain stopped at its bound */
    int64_t mem_available_mb;
};

int assay_labels_parse(const char *text, json_t **out, char *err,
                       size_t errlen)
{
    json_t *o = json_object();
    char *copy = strdup(text ? text : ""), *save = NULL;
    int rc = o && copy ? 0 : ASSAY_ENOMEM;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !rc;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = '\0';
        if (!eq || !assay_name_valid(tok, true) || strlen(eq + 1) > 255)
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "labels: '%.64s' is not key=value with key "
                            "[a-z][a-z0-9_-]*",
                            tok);
        else
            json_object_set_new(o, tok, json_string(eq + 1));
    }
    free(copy);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* Sends what was packed with self->pk (proto/rtmsg.h), and empties it. */
static void s_send_packed(assay_runtime *self, const char *verb)
{
    assay_bytes b = {(const uint8_t *)self->out.data, self->out.size};
    int rc = assay_link_send_raw(self->link, self->dealer, NULL,
                                 ASSAY_RUNTIME_PROTO, verb, &b);
    if (rc)
        assay_debug("send %s: %s", verb, assay_strerror(rc));
    msgpack_sbuffer_clear(&self->out);
}

/* How many dispatches in total the leader may have sent us by now. */
static uint64_t s_limit(assay_runtime *self)
{
    size_t busy = assay_pool_outstanding(assay_runner_pool(self->runner));
    uint32_t free_slots = busy < self->slots ? (uint32_t)(self->slots - busy)
                                             : 0;
    int64_t now = assay_now_ms();
    if (now - self->sampled_ms >= SAMPLE_MS) {
        char err[ASSAY_ERRMSG_SIZE];
        if (assay_monitor_sample_now(self->monitor, &self->sample, err,
                                     sizeof err) == 0)
            self->sampled_ms = now;
        else
            assay_warn("resource monitor: %s", err);
        self->mem_available_mb = (int64_t)(self->sample.mem_available >> 20);
    }
    self->credit = assay_monitor_credit(self->monitor, &self->sample,
                                        free_slots, &self->why);
    return self->received + self->credit;
}

/* Appends the attempts this runtime holds (the "running" list). */
static void s_pack_running(const assay_runtime *self, msgpack_packer *pk)
{
    for (const s_attempt *a = self->attempts; a; a = a->next)
        assay_rtmsg_pack_attempt(pk, &(assay_rtmsg_attempt){
                                         .job = a->job, .attempt = a->attempt});
}

static size_t s_nrunning(const assay_runtime *self)
{
    size_t n = 0;
    for (const s_attempt *a = self->attempts; a; a = a->next)
        n++;
    return n;
}

static void s_register(void *arg);

/* The leader we registered with is gone or no longer leads: register
 * again, which moves on to the next member if this one stays silent. */
static void s_enrol(void *arg);

static void s_rejoin(assay_runtime *self, const char *why)
{
    if (self->keys.enrol_secret[0]) { /* not a runtime yet: enrol first */
        self->unanswered = 0;
        s_enrol(self);
        return;
    }
    assay_warn("%s: registering again", why);
    self->registered = false;
    self->received = 0; /* a new session: the leader counts from zero */
    self->unanswered = 0;
    s_register(self);
}

static void s_heartbeat(void *arg)
{
    assay_runtime *self = arg;
    if (!self->registered)
        return;
    /* The leader answers every heartbeat; silence over a few intervals
     * means it died or was cut off from us. */
    if (assay_now_ms() - self->heard_ms >
        self->conf->heartbeat_ms * (JOIN_TRIES + 1)) {
        s_rejoin(self, "leader silent");
        return;
    }
    assay_rtmsg_pack_heartbeat(
        &self->pk,
        &(assay_rtmsg_credit){.id = self->id,
                              .limit = (int64_t)s_limit(self),
                              .mem_available_mb = self->mem_available_mb,
                              .why = self->why ? self->why : ""},
        s_nrunning(self));
    s_pack_running(self, &self->pk);
    s_send_packed(self, ASSAY_RT_HEARTBEAT);
}

static void s_on_message(void *arg, int fd, short revents);

/* (Re)connects the link to endpoints[current]. */
static int s_connect(assay_runtime *self, char *err, size_t errlen)
{
    if (self->link) {
        assay_loop_remove_fd(self->loop, assay_link_fd(self->link));
        assay_link_destroy(&self->link);
    }
    assay_link_conf lc = {
        .modules_dir = self->conf->modules_dir,
        .transport = self->conf->transport,
        .max_message = (size_t)self->conf->max_message_kb * 1024};
    assay_keys_apply(&self->keys, &lc);
    int rc = assay_link_new_conf(&lc, &self->link, err, errlen);
    if (!rc && (self->dealer = assay_link_open(
                    self->link, ASSAY_LINK_CLIENT,
                    self->endpoints[self->current], err, errlen)) < 0)
        rc = self->dealer;
    if (!rc)
        assay_loop_add_fd(self->loop, assay_link_fd(self->link), POLLIN,
                          s_on_message, self);
    return rc;
}

static void s_next_endpoint(assay_runtime *self)
{
    const char *was = self->endpoints[self->current];
    self->current = (self->current + 1) % self->nendpoints;
    self->unanswered = 1;
    if (self->keys.enrol_secret[0])
        assay_warn("enrolment: no answer from %s (members let a key they "
                   "do not know in only while a token is pending: was "
                   "this one used, revoked or let expire?): trying %s",
                   was, self->endpoints[self->current]);
    else
        assay_warn("no answer from %s: trying %s", was,
                   self->endpoints[self->current]);
    char err[ASSAY_ERRMSG_SIZE];
    if (s_connect(self, err, sizeof err) != 0)
        assay_error("%s", err);
}

/* Asks again after an interval unless answered, trying the next `join`
 * endpoint (or the same one, connected anew) after JOIN_TRIES unanswered
 * asks: libzmq does not reconnect after a refused handshake, and the key
 * may be allowed since (an enrolment's guests, an operator's `keys
 * allow`). */
static void s_ask_again(assay_runtime *self, void (*ask)(void *))
{
    if (++self->unanswered > JOIN_TRIES)
        s_next_endpoint(self);
    assay_loop_cancel_timer(self->loop, self->reg_timer);
    self->reg_timer = assay_loop_add_timer(self->loop, self->conf->heartbeat_ms,
                                           0, ask, self);
}

/* Enrolling (docs/security.md#enrolment): presents the token's secret
 * from its new key, a guest's, until a member answers. */
static void s_enrol(void *arg)
{
    assay_runtime *self = arg;
    if (!self->keys.enrol_secret[0])
        return;
    json_t *b = assay_cp_pack_enrol(&(assay_cp_enrol){
        .name = self->id, .secret = self->keys.enrol_secret});
    int rc = b ? assay_link_send(self->link, self->dealer, NULL,
                                 ASSAY_MDP_CLIENT, ASSAY_SVC_ENROL, b)
               : ASSAY_ENOMEM;
    json_decref(b);
    if (rc)
        assay_debug("enrolment: cannot send yet: %s", assay_strerror(rc));
    s_ask_again(self, s_enrol);
}

/* The answer to s_enrol: enrolled (connect again, now as a runtime, and
 * register), sent to the leader, or refused (nothing more to try). */
static void s_on_enrolled(assay_runtime *self, const json_t *body)
{
    assay_cp_reply r;
    assay_cp_read_reply(body, &r);
    const char *leader = json_string_value(json_object_get(body, "leader"));
    if (!self->keys.enrol_secret[0])
        return; /* an answer to a repeated ask */
    if (!r.ok && r.code == ASSAY_ENOTLEADER) {
        if (leader && *leader && strlen(leader) < sizeof self->redirect)
            strlcpy(self->redirect, leader, sizeof self->redirect);
        return;
    }
    if (!r.ok && r.code != ASSAY_EPERM) { /* not now: asked again */
        assay_warn("enrolment as %s: %s", self->id, r.message);
        return;
    }
    if (!r.ok) {
        assay_error("enrolment as %s refused: %s: make a new token "
                    "(assayctl keys enroll --name %s --role runtime) and "
                    "start again with it (docs/security.md#enrolment)",
                    self->id, r.message, self->id);
        self->failed = true;
        assay_loop_stop(self->loop);
        return;
    }
    if (unlink(self->keys.enrol_marker) < 0 && errno != ENOENT)
        assay_warn("%s: %s", self->keys.enrol_marker, strerror(errno));
    explicit_bzero(self->keys.enrol_secret, sizeof self->keys.enrol_secret);
    assay_info("enrolled as %s: every member allows this runtime's key",
               self->id);
    char err[ASSAY_ERRMSG_SIZE];
    if (s_connect(self, err, sizeof err)) /* a handshake as a runtime */
        assay_error("%s", err);
    self->unanswered = 0;
    s_register(self);
}

static void s_register(void *arg)
{
    assay_runtime *self = arg;
    if (self->registered || self->leaving || self->keys.enrol_secret[0])
        return;
    json_t *cat = assay_catalog_json(assay_runner_catalog(self->runner));
    /* Jobs it runs at once: the leader sends that many together. */
    int64_t executors =
        (int64_t)(self->slots / (uint64_t)self->conf->jobs_per_executor);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    assay_rtmsg_pack_register(
        &self->pk,
        &(assay_rtmsg_register){.id = self->id,
                                .heartbeat_ms = self->conf->heartbeat_ms,
                                .labels = self->labels,
                                .slots = (int64_t)self->slots,
                                .memory_mb = self->mem_available_mb,
                                .memory_total_mb =
                                    (int64_t)(self->sample.mem_total >> 20),
                                .executors = executors,
                                .cpus = ncpu > 0 ? ncpu : 0,
                                .catalog = cat,
                                .host = self->host},
        s_nrunning(self));
    s_pack_running(self, &self->pk);
    s_send_packed(self, ASSAY_RT_REGISTER);
    json_decref(cat);
    /* Until "registered" arrives, ask again (the leader may be starting);
     * one pending retry at a time. */
    s_ask_again(self, s_register);
}

/* Packs the reports of as[0..n) as one "result" message, with the
 * current credit limit; returns its size. */
static size_t s_pack_results(assay_runtime *self, s_attempt *const *as,
                             size_t n)
{
    msgpack_sbuffer_clear(&self->out);
    assay_rtmsg_pack_results(&self->pk, self->id, (int64_t)s_limit(self), n);
    for (size_t i = 0; i < n; i++) {
        assay_rtmsg_pack_report(&self->pk, as[i]->job, as[i]->attempt);
        if (assay_codec_pack(&self->pk, as[i]->result))
            msgpack_pack_nil(&self->pk); /* the leader records none */
    }
    return self->out.size;
}

/* Sends every finished attempt marked `unsent` (all unacknowledged ones
 * when `all`), in one message when it fits the leader's message limit.
 * A result that alone exceeds it would cost this runtime its connection
 * on every resend: it is replaced by an error naming its size. */
static void s_flush_results(assay_runtime *self, bool all)
{
    if (!all && !self->unsent)
        return; /* the common case, every loop turn */
    size_t max = (size_t)self->conf->max_message_kb * 1024 - 1024, n = 0;
    for (s_attempt *a = self->attempts; a; a = a->next)
        n += a->result && (all || a->unsent);
    s_attempt **as = n ? malloc(n * sizeof *as) : NULL;
    if (!as)
        return; /* nothing to send, or sent at the next turn */
    n = 0;
    for (s_attempt *a = self->attempts; a; a = a->next)
        if (a->result && (all || a->unsent))
            as[n++] = a;
    if (s_pack_results(self, as, n) <= max) {
        s_send_packed(self, ASSAY_RT_RESULT);
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t len = s_pack_results(self, &as[i], 1);
            if (len > max) {
                char why[160];
                snprintf(why, sizeof why,
                         "result of %zu bytes exceeds the protocol limit "
                         "(%zu)",
                         len, max);
                json_decref(as[i]->result);
                as[i]->result = json_pack(
                    "{s:s, s:s, s:s, s:[], s:{}}", "status", "error",
                    "reason", why, "message", why, "findings", "data");
                s_pack_results(self, &as[i], 1);
            }
            s_send_packed(self, ASSAY_RT_RESULT);
        }
    }
    free(as);
    for (s_attempt *a = self->attempts; a; a = a->next)
        a->unsent = false;
    self->unsent = 0;
}

static void s_done(void *arg, json_t *result)
{
    s_attempt *a = arg;
    json_object_del(result, "job");
    /* When the action ran, on this host's clock: evidence of when it was
     * observed (docs/evidence.md). The executor timed the call. */
    int64_t now = assay_wall_ms(),
            took = json_integer_value(json_object_get(result, "duration_us"));
    json_object_set_new(result, "started_ms",
                        json_integer(now - (took > 0 ? took / 1000 : 0)));
    json_object_set_new(result, "ended_ms", json_integer(now));
    a->result = result;
    if (!a->unsent) { /* sent with the others before the next poll */
        a->unsent = true;
        a->rt->unsent++;
    }
}

/* Attempt `attempt` of `job`, or with attempt < 0 its latest one. */
static s_attempt *s_find(assay_runtime *self, const char *job,
                         int64_t attempt)
{
    if (attempt < 0)
        return assay_index_get(self->by_job, job);
    char key[sizeof ((s_attempt *)0)->key];
    snprintf(key, sizeof key, "%s#%lld", job, (long long)attempt);
    return assay_index_get(self->by_key, key);
}

static void s_forget(assay_runtime *self, s_attempt *gone)
{
    if (gone->prev)
        gone->prev->next = gone->next;
    else
        self->attempts = gone->next;
    if (gone->next)
        gone->next->prev = gone->prev;
    assay_index_remove(self->by_key, gone->key);
    if (assay_index_get(self->by_job, gone->job) == gone)
        assay_index_remove(self->by_job, gone->job);
    if (gone->unsent)
        self->unsent--;
    json_decref(gone->result);
    free(gone);
}

/* Finds the loaded plugin for "plugin.action" at exactly `version`. */
static const assay_plugin *s_plugin(assay_runtime *self, const char *ref,
                                    const char *version, const char **action)
{
    char name[ASSAY_NAME_MAX + 1];
    if (!version || !assay_action_ref_split(ref, name, sizeof name, action))
        return NULL;
    for (const assay_plugin *p =
             assay_catalog_first(assay_runner_catalog(self->runner));
         p; p = p->next)
        if (!strcmp(p->name, name) && !strcmp(p->version, version) &&
            assay_plugin_action(p, *action))
            return p;
    return NULL;
}

static void s_on_dispatch(assay_runtime *self, const json_t *b)
{
    assay_rtmsg_dispatch d;
    self->received++; /* counted by the leader either way */
    if (!assay_rtmsg_read_dispatch(b, &d)) {
        assay_warn("malformed dispatch dropped");
        return;
    }
    const char *job = d.job, *ref = d.action, *version = d.version;
    int64_t attempt = d.attempt, timeout = d.timeout_ms;
    const json_t *params = d.params_json;
    if (s_find(self, job, attempt))
        return; /* a duplicate of one we hold */
    s_attempt *older = s_find(self, job, -1);
    if (older && !older->result) /* superseded: the leader moved on */
        assay_pool_cancel(assay_runner_pool(self->runner), older->key);
    s_attempt *a = calloc(1, sizeof *a);
    if (!a)
        return;
    a->rt = self;
    strlcpy(a->job, job, sizeof a->job);
    a->attempt = attempt;
    snprintf(a->key, sizeof a->key, "%s#%lld", job, (long long)attempt);
    if (assay_index_put(self->by_key, a->key, a) ||
        assay_index_put(self->by_job, a->job, a)) {
        assay_index_remove(self->by_key, a->key);
        free(a);
        return;
    }
    a->next = self->attempts;
    if (a->next)
        a->next->prev = a;
    self->attempts = a;
    const char *action = NULL;
    const assay_plugin *p = s_plugin(self, ref, version, &action);
    if (!p) {
        char why[256];
        snprintf(why, sizeof why, "%.64s %.32s is not installed on %s",
                 ref ? ref : "(none)", version ? version : "", self->id);
        a->result = json_pack("{s:s, s:s, s:s, s:b, s:[], s:{}}", "status",
                              "error", "reason", why, "message", why,
                              "retryable", 1, "findings", "data");
        a->unsent = true;
        self->unsent++;
        return;
    }
    assay_task t = {.job_id = a->key,
                    .plugin = p->name,
                    .plugin_path = p->path,
                    .action = action,
                    .params = params,
                    .config = assay_runner_plugin_config(self->runner,
                                                         p->name),
                    .timeout_ms = timeout};
    if (assay_pool_submit(assay_runner_pool(self->runner), &t, s_done, a))
        assay_error("cannot queue %s", a->key);
}

/* Forgets the results the leader acknowledged: [{"job", "attempt"}...]. */
static void s_on_acks(assay_runtime *self, const json_t *items)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        assay_rtmsg_attempt ack;
        s_attempt *a = assay_rtmsg_read_attempt(it, &ack)
                           ? s_find(self, ack.job, ack.attempt)
                           : NULL;
        if (a && a->result)
            s_forget(self, a);
    }
}

/* Handles what the leader sent; returns how many messages there were. */
static int s_drain(assay_runtime *self)
{
    assay_link_msg m;
    char err[ASSAY_ERRMSG_SIZE];
    int n;
    self->more = true;
    for (n = 0; n < 4096; n++) {
        int rc = assay_link_recv(self->link, &m, err, sizeof err);
        if (rc == 0) {
            self->more = false;
            break;
        }
        self->heard_ms = assay_now_ms();
        if (rc > 0 && !strcmp(m.proto, ASSAY_MDP_CLIENT) &&
            !strcmp(m.verb, ASSAY_SVC_ENROL)) {
            s_on_enrolled(self, m.body);
        } else if (rc < 0 || strcmp(m.proto, ASSAY_RUNTIME_PROTO)) {
            assay_warn("dropped message from leader: %s",
                       rc < 0 ? err : "unknown protocol");
        } else if (!strcmp(m.verb, ASSAY_RT_PULSE)) {
            /* heard_ms is all it carries */
        } else if (!strcmp(m.verb, ASSAY_RT_REDIRECT)) {
            /* Handled after the drain, which reconnects the link. */
            const char *ep = json_string_value(json_object_get(m.body,
                                                               "leader"));
            if (ep && *ep && strlen(ep) < sizeof self->redirect)
                strlcpy(self->redirect, ep, sizeof self->redirect);
            assay_link_msg_fini(&m);
            break;
        } else if (!strcmp(m.verb, ASSAY_RT_DISPATCH)) {
            size_t i;
            json_t *it;
            s_on_acks(self, json_object_get(m.body, "acks"));
            json_array_foreach(json_object_get(m.body, "jobs"), i, it)
                s_on_dispatch(self, it);
            assay_pool_flush(assay_runner_pool(self->runner));
        } else if (!strcmp(m.verb, ASSAY_RT_ACK)) {
            s_on_acks(self, json_object_get(m.body, "jobs"));
        } else if (!strcmp(m.verb, ASSAY_RT_CANCEL)) {
            assay_rtmsg_attempt c;
            s_attempt *a = assay_rtmsg_read_attempt(m.body, &c)
                               ? s_find(self, c.job, c.attempt)
                               : NULL;
            if (a && !a->result)
                assay_pool_cancel(assay_runner_pool(self->runner), a->key);
        } else if (!strcmp(m.verb, ASSAY_RT_REGISTERED)) {
            if (!self->registered)
                assay_info("registered with %s",
                           json_string_value(json_object_get(m.body,
                                                             "leader")));
            self->registered = true;
            self->unanswered = 0;
            self->heard_ms = assay_now_ms();
            s_flush_results(self, true); /* unacknowledged: tell again */
            s_heartbeat(self);
        } else if (!strcmp(m.verb, ASSAY_RT_RESCAN)) {
            assay_runtime_rescan(self);
        } else if (!strcmp(m.verb, ASSAY_RT_REREGISTER)) {
            if (self->registered)
                assay_warn("leader does not know us: registering again");
            self->registered = false;
            self->received = 0;
            s_register(self);
        } else {
            assay_warn("unknown command '%s' from leader", m.verb);
        }
        assay_link_msg_fini(&m);
    }
    return n;
}

/* Connects to the leader a member named, adding it to the endpoints. */
static void s_follow_redirect(assay_runtime *self)
{
    char ep[256];
    strlcpy(ep, self->redirect, sizeof ep);
    self->redirect[0] = '\0';
    int i = 0;
    while (i < self->nendpoints && strcmp(self->endpoints[i], ep))
        i++;
    if (i == self->nendpoints) {
        if (self->nendpoints < 8)
            self->nendpoints++;
        else
            i = self->current; /* full: the member that redirected us */
        strlcpy(self->endpoints[i], ep, sizeof self->endpoints[i]);
    }
    if (i != self->current || self->registered) {
        assay_info("redirected to the leader at %s", ep);
        self->current = i;
        char err[ASSAY_ERRMSG_SIZE];
        if (s_connect(self, err, sizeof err) != 0)
            assay_error("%s", err);
    }
    s_rejoin(self, "redirected");
}

static void s_on_message(void *arg, int fd, short revents)
{
    (void)fd;
    (void)revents;
    assay_runtime *self = arg;
    s_drain(self);
    if (self->redirect[0])
        s_follow_redirect(self);
}

/* ---- Hot loading --------------------------------------------------------- */

static void s_withdraw(void *arg, const char *path)
{
    assay_runtime *self = arg;
    assay_pool_unload(assay_runner_pool(self->runner), path);
}

/* Tells the leader what this runtime offers now. */
static void s_advertise(assay_runtime *self)
{
    if (!self->registered)
        return; /* the next registration carries it */
    json_t *cat = assay_catalog_json(assay_runner_catalog(self->runner));
    assay_rtmsg_pack_catalog(&self->pk, self->id, cat);
    s_send_packed(self, ASSAY_RT_CATALOG);
    json_decref(cat);
}

static void s_on_plugdir(void *arg, int fd, short revents)
{
    (void)fd;
    (void)revents;
    assay_runtime *self = arg;
    if (assay_plugdir_process(assay_runner_plugdir(self->runner), s_withdraw,
                              self))
        s_advertise(self);
}

void assay_runtime_rescan(assay_runtime *self)
{
    assay_info("rescanning %s", self->conf->plugins_dir);
    if (assay_plugdir_rescan(assay_runner_plugdir(self->runner), s_withdraw,
                             self))
        s_advertise(self);
}

/* Before every poll: the transport fd is edge-triggered, and sends since
 * the last drain can swallow its edge, so every poll follows a drain. */
static int s_prepare(void *arg, struct pollfd *pfd, int max,
                     int64_t *deadline_ms)
{
    (void)pfd;
    (void)max;
    assay_runtime *self = arg;
    if (self->registered)
        s_flush_results(self, false);
    /* Last, after every send: a send on a ZeroMQ socket can take the
     * wake-up of a message that arrived meanwhile, so what is waiting is
     * read now, and if anything was, the loop comes straight back. */
    if (s_drain(self) > 0 || self->more)
        *deadline_ms = 0;
    if (self->redirect[0]) {
        s_follow_redirect(self); /* sends: drained on the next turn */
        *deadline_ms = 0;
    }
    return 0;
}


int assay_runtime_new(const assay_conf *conf, const char *node_id,
                      const char *endpoints, assay_loop *loop,
                      assay_runner *runner, assay_runtime **out, char *err,
                      size_t errlen)
{
    assay_runtime *self = calloc(1, sizeof *self);
    if (!self)
        return ASSAY_ENOMEM;
    msgpack_sbuffer_init(&self->out);
    msgpack_packer_init(&self->pk, &self->out, msgpack_sbuffer_write);
    self->conf = conf;
    self->loop = loop;
    self->runner = runner;
    strlcpy(self->id, node_id, sizeof self->id);
    self->slots = assay_pool_capacity(assay_runner_pool(runner));
    self->by_key = assay_index_new();
    self->by_job = assay_index_new();
    self->host = assay_hostfacts(conf->asset_id);
    int rc = self->by_key && self->by_job && self->host
                 ? assay_labels_parse(conf->labels, &self->labels, err, errlen)
                 : ASSAY_ENOMEM;
    assay_monitor_config mc = {
        .proc_root = conf->proc_root,
        .cgroup_root = conf->cgroup_root[0] ? conf->cgroup_root : NULL,
        .max_cpu = (double)conf->max_cpu_percent / 100.0,
        .min_mem_free = (double)conf->min_mem_free_percent / 100.0};
    if (!rc)
        rc = assay_monitor_new(&mc, &self->monitor, err, errlen);
    /* `endpoints`: one or more, space-separated. */
    for (const char *p = endpoints; !rc && *p && self->nendpoints < 8;) {
        size_t n = strcspn(p, " ");
        if (n && n < sizeof self->endpoints[0])
            memcpy(self->endpoints[self->nendpoints++], p, n);
        else if (n)
            rc = assay_errf(err, errlen, ASSAY_ETOOBIG,
                            "join endpoint too long: %.64s...", p);
        p += n + strspn(p + n, " ");
    }
    if (!rc && !self->nendpoints)
        rc = assay_errf(err, errlen, ASSAY_EINVAL, "no endpoint to join");
    if (!rc)
        rc = assay_keys_runtime(conf, self->id, endpoints, &self->keys, err,
                                errlen);
    if (!rc)
        rc = s_connect(self, err, errlen);
    if (rc) {
        assay_runtime_destroy(&self);
        return rc;
    }
    assay_loop_source src = {s_prepare, NULL, self};
    int pfd = assay_plugdir_fd(assay_runner_plugdir(runner));
    if (pfd >= 0)
        assay_loop_add_fd(loop, pfd, POLLIN, s_on_plugdir, self);
    assay_loop_add_source(loop, &src);
    self->hb_timer = assay_loop_add_timer(loop, conf->heartbeat_ms,
                                          conf->heartbeat_ms, s_heartbeat,
                                          self);
    s_limit(self); /* first sample: memory figure for registration */
    if (self->keys.enrol_secret[0]) {
        assay_info("runtime %s enrolling with %s", self->id,
                   self->endpoints[0]);
        s_enrol(self);
    } else
        s_register(self);
    assay_info("runtime %s joining %s", self->id, self->endpoints[0]);
    *out = self;
    return 0;
}

void assay_runtime_leave(assay_runtime *self)
{
    if (!self || !self->link)
        return;
    assay_loop_cancel_timer(self->loop, self->hb_timer);
    assay_loop_cancel_timer(self->loop, self->reg_timer);
    self->hb_timer = self->reg_timer = -1;
    self->leaving = true;
    if (!self->registered)
        return;
    self->registered = false;
    json_t *b = json_pack("{s:s}", "id", self->id);
    if (b && assay_link_send(self->link, self->dealer, NULL,
                             ASSAY_RUNTIME_PROTO, ASSAY_RT_BYE, b) == 0)
        assay_info("runtime %s leaving: told the leader", self->id);
    json_decref(b);
}

bool assay_runtime_failed(const assay_runtime *self)
{
    return self && self->failed;
}

void assay_runtime_destroy(assay_runtime **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_runtime *self = *self_p;
    explicit_bzero(self->keys.secret, sizeof self->keys.secret);
    if (self->link) {
        assay_loop_remove_fd(self->loop, assay_link_fd(self->link));
        assay_loop_remove_fd(self->loop, assay_plugdir_fd(assay_runner_plugdir(
                                             self->runner)));
        assay_loop_cancel_timer(self->loop, self->hb_timer);
        assay_loop_cancel_timer(self->loop, self->reg_timer);
    }
    while (self->attempts)
        s_forget(self, self->attempts);
    assay_index_destroy(&self->by_key);
    assay_index_destroy(&self->by_job);
    assay_link_destroy(&self->link);
    assay_monitor_destroy(&self->monitor);
    json_decref(self->labels);
    json_decref(self->host);
    msgpack_sbuffer_destroy(&self->out);
    free(self);
    *self_p = NULL;
}

/* Per plugin: which plugins' jobs take executors down, and how. */
static void s_plugin_faults(const assay_runtime *self, assay_expo *e)
{
    const assay_pool *pool = assay_runner_pool(self->runner);
    const assay_pool_faults *f;
    assay_expo_family(e, "assay_runtime_executor_restarts_total", "counter",
                      "Executors that ended while running a job of the "
                      "plugin, by cause, each started again.");
    for (size_t i = 0; (f = assay_pool_faults_at(pool, i)); i++)
        for (int c = 0; c < ASSAY_POOL_CAUSES; c++)
            if (f->ended[c])
                assay_expo_sample(
                    e, "assay_runtime_executor_restarts_total",
                    (const char *[]){"runtime", self->id, "plugin",
                                     f->plugin, "cause",
                                     ASSAY_POOL_CAUSE_NAMES[c], NULL},
                    (double)f->ended[c]);
    assay_expo_family(e, "assay_runtime_plugin_faults_total", "counter",
                      "Jobs of the plugin whose result was an error (the "
                      "plugin's own, or an attempt lost with its "
                      "executor), cancelled ones aside.");
    for (size_t i = 0; (f = assay_pool_faults_at(pool, i)); i++)
        assay_expo_sample(e, "assay_runtime_plugin_faults_total",
                          (const char *[]){"runtime", self->id, "plugin",
                                           f->plugin, NULL},
                          (double)f->errors);
}

void assay_runtime_metrics(const assay_runtime *self, assay_expo *e)
{
    size_t held = 0, unsent = 0;
    for (const s_attempt *a = self->attempts; a; a = a->next) {
        held++;
        unsent += a->unsent;
    }
    const struct {
        const char *name, *help;
        double v;
    } g[] = {
        {"assay_runtime_registered",
         "1 while this runtime is registered with a leader, else 0.",
         self->registered},
        {"assay_runtime_credit",
         "Jobs this runtime last told its leader it can take.",
         (double)self->credit},
        {"assay_runtime_slots", "Executors times jobs per executor.",
         (double)self->slots},
        {"assay_runtime_attempts",
         "Attempts this runtime holds: running, or done and not yet "
         "acknowledged.",
         (double)held},
        {"assay_runtime_results_unsent",
         "Results done and not yet reported to the leader.",
         (double)unsent},
        {"assay_runtime_mem_available_mb",
         "Memory available on the host at the last sample, in MiB.",
         (double)self->mem_available_mb},
    };
    for (size_t i = 0; i < sizeof g / sizeof *g; i++) {
        assay_expo_family(e, g[i].name, "gauge", g[i].help);
        assay_expo_sample(e, g[i].name,
                          (const char *[]){"runtime", self->id, NULL},
                          g[i].v);
    }
    /* More than the executors configured: ones that died (a crash, a
     * timeout's kill, an output limit) and were started again. */
    assay_expo_family(e, "assay_runtime_executor_spawns_total", "counter",
                      "Executor processes started since this runtime "
                      "started.");
    assay_expo_sample(e, "assay_runtime_executor_spawns_total",
                      (const char *[]){"runtime", self->id, NULL},
                      (double)assay_pool_spawned(
                          assay_runner_pool(self->runner)));
    s_plugin_faults(self, e);
}

void assay_runtime_status(const assay_runtime *self, char *buf, size_t len)
{
    if (self->registered)
        snprintf(buf, len, "runtime %s registered with %s", self->id,
                 self->redirect[0] ? self->redirect
                                   : self->endpoints[self->current]);
    else
        snprintf(buf, len, "runtime %s looking for a leader", self->id);
}
