/* bench/assay-bench/sim.c - simulated runtimes: each a DEALER link that
 * speaks the runtime protocol of docs/protocol.md (register, heartbeats
 * with a credit limit, a pass result for every dispatch, acks, pulses,
 * redirects, reregistration and a silent leader, as core/cluster/runtime.c
 * does), GROUP_LINKS of them to one assay_link instance; the hooks
 * loop.c polls them with; and what they did, for the reports. The
 * runtime-protocol code is kept as it was: it is to move to a protocol
 * module. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/errtext.h"
#include "bench.h"
#include "cluster/keys.h"
#include "cluster/link.h"
#include "proto/rtmsg.h"

#define JOIN_TRIES 3 /* unanswered registrations before the next member */
#define RESULT_BATCH 2000 /* result items per message (well under 1 MiB) */

typedef struct {
    char job[96];
    int64_t attempt;
    int64_t due_us; /* still running until then (sim.msN); 0: ended */
    bool unsent, bad;
} s_held;

/* A simulated runtime. */
typedef struct s_srt {
    char id[64];
    int group, link, ep;
    bool registered;
    uint64_t received;
    int unanswered;
    int64_t next_us, heard_us, last_hb_us;
    s_held *held;
    size_t nheld, cap, unsent;
    size_t running; /* held jobs not yet due (sim.msN) */
} s_srt;

typedef struct s_group {
    assay_link *link;
    int fd, n;
    bool dirty, reconnect;
    int rt[GROUP_LINKS];      /* runtime indices */
    int by_link[GROUP_LINKS]; /* link id -> runtime index */
} s_group;

/* Credit: --slots jobs at once; a job of sim.msN holds its slot until
 * it is due. */
static uint64_t s_rt_limit(const s_bench *b, const s_srt *r)
{
    return r->received - r->running + (uint64_t)b->slots;
}

static void s_rt_send(s_bench *b, s_srt *r, const char *verb,
                      const msgpack_sbuffer *sb)
{
    s_group *g = &b->groups[r->group];
    assay_bytes body = {(const uint8_t *)sb->data, sb->size};
    if (g->link)
        assay_link_send_raw(g->link, r->link, NULL, ASSAY_RUNTIME_PROTO, verb,
                            &body);
    g->dirty = true;
}

static void s_pk_running(msgpack_packer *pk, const s_srt *r)
{
    for (size_t i = 0; i < r->nheld; i++)
        assay_rtmsg_pack_attempt(pk, &(assay_rtmsg_attempt){
                                         .job = r->held[i].job,
                                         .attempt = r->held[i].attempt});
}

static void s_rt_register(s_bench *b, s_srt *r, int64_t now)
{
    int64_t hb = (int64_t)b->o.heartbeat_ms * 1000;
    if (++r->unanswered > JOIN_TRIES && b->neps > 1) {
        /* As core/cluster/runtime.c: the member is silent, try the next one. */
        r->ep = (r->ep + 1) % b->neps;
        r->unanswered = 1;
        b->groups[r->group].reconnect = true;
        r->next_us = now + hb;
        return;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    json_t *labels = json_object();
    assay_rtmsg_pack_register(
        &pk,
        &(assay_rtmsg_register){.id = r->id,
                                .heartbeat_ms = b->o.heartbeat_ms,
                                .labels = labels,
                                .slots = b->slots,
                                .memory_mb = 1024,
                                /* nothing runs: all of them at once */
                                .executors = b->slots,
                                .catalog = b->catalog},
        r->nheld);
    s_pk_running(&pk, r);
    json_decref(labels);
    s_rt_send(b, r, ASSAY_RT_REGISTER, &sb);
    msgpack_sbuffer_destroy(&sb);
    r->next_us = now + hb;
}

static void s_rt_heartbeat(s_bench *b, s_srt *r, int64_t now)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assay_rtmsg_pack_heartbeat(
        &pk,
        &(assay_rtmsg_credit){.id = r->id,
                              .limit = (int64_t)s_rt_limit(b, r),
                              .mem_available_mb = 1024,
                              .why = b->slots ? ""
                                              : "simulated: grants no credit"},
        r->nheld);
    s_pk_running(&pk, r);
    s_rt_send(b, r, ASSAY_RT_HEARTBEAT, &sb);
    msgpack_sbuffer_destroy(&sb);
    if (r->last_hb_us && b->measuring && now - r->last_hb_us > b->hb_gap_max_us)
        b->hb_gap_max_us = now - r->last_hb_us;
    r->last_hb_us = now;
    b->sim_heartbeats++;
}

/* A held job's report: a pass, or (an action or version this runtime
 * does not offer) a retryable error, as core/cluster/runtime.c reports. */
static void s_pk_result(msgpack_packer *pk, const s_held *h)
{
    assay_rtmsg_pack_report(pk, h->job, h->attempt);
    if (h->bad) {
        static const char why[] = "simulated runtime offers noop.pass and "
                                  "sim.msN 1.0.0 only";
        msgpack_pack_map(pk, 6);
        assay_codec_pack_kv_str(pk, "status", "error");
        assay_codec_pack_kv_str(pk, "reason", why);
        assay_codec_pack_kv_str(pk, "message", why);
        assay_codec_pack_str(pk, "retryable");
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_map(pk, 5);
        assay_codec_pack_kv_str(pk, "status", "pass");
        assay_codec_pack_kv_str(pk, "message", "ok");
        assay_codec_pack_kv_int(pk, "duration_us", 1);
    }
    assay_codec_pack_str(pk, "findings");
    msgpack_pack_array(pk, 0);
    assay_codec_pack_str(pk, "data");
    msgpack_pack_map(pk, 0);
}

static void s_rt_flush(s_bench *b, s_srt *r)
{
    while (r->unsent) {
        size_t n = r->unsent < RESULT_BATCH ? r->unsent : RESULT_BATCH;
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        assay_rtmsg_pack_results(&pk, r->id, (int64_t)s_rt_limit(b, r), n);
        size_t done = 0;
        for (size_t i = 0; i < r->nheld && done < n; i++)
            if (r->held[i].unsent) {
                s_pk_result(&pk, &r->held[i]);
                r->held[i].unsent = false;
                done++;
            }
        s_rt_send(b, r, ASSAY_RT_RESULT, &sb);
        msgpack_sbuffer_destroy(&sb);
        r->unsent -= done;
        b->sim_results += done;
        if (done < n) { /* cannot happen: counts out of step */
            r->unsent = 0;
            break;
        }
    }
}

static void s_rt_session_lost(s_srt *r)
{
    r->registered = false;
    r->received = 0;
}

static void s_rt_tick(s_bench *b, s_srt *r, int64_t now)
{
    int64_t hb = (int64_t)b->o.heartbeat_ms * 1000;
    if (!r->registered) {
        s_rt_register(b, r, now);
        return;
    }
    if (now - r->heard_us > hb * (JOIN_TRIES + 1)) {
        /* The leader answers every heartbeat: it died or was cut off. */
        b->sim_silent++;
        s_rt_session_lost(r);
        r->unanswered = 0;
        s_rt_register(b, r, now);
        return;
    }
    s_rt_heartbeat(b, r, now);
    r->next_us += hb;
    if (r->next_us <= now)
        r->next_us = now + hb;
}

/* Jobs due by `now` end: their results go out with the next flush.
 * Returns when the next one is due (INT64_MAX: none). */
static int64_t s_rt_due(s_srt *r, int64_t now)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; r->running && i < r->nheld; i++) {
        s_held *h = &r->held[i];
        if (!h->due_us)
            continue;
        if (h->due_us <= now) {
            h->due_us = 0;
            h->unsent = true;
            r->unsent++;
            r->running--;
        } else if (h->due_us < next) {
            next = h->due_us;
        }
    }
    return next;
}

void bench_sim_timers(s_bench *b, int64_t now)
{
    if (!b->nrts || now < b->sim_next_us)
        return;
    int64_t next = now + SEC;
    for (int i = 0; i < b->nrts; i++) {
        s_srt *r = &b->rts[i];
        if (r->running) {
            int64_t due = s_rt_due(r, now);
            if (r->registered && r->unsent)
                s_rt_flush(b, r);
            if (due < next)
                next = due;
        }
        if (r->next_us <= now)
            s_rt_tick(b, r, now);
        if (r->next_us < next)
            next = r->next_us;
    }
    b->sim_next_us = next;
}

static void s_rt_hold(s_srt *r, const char *job, int64_t attempt, bool bad,
                      int64_t due_us)
{
    for (size_t i = 0; i < r->nheld; i++)
        if (r->held[i].attempt == attempt && !strcmp(r->held[i].job, job))
            return; /* a duplicate of one we hold */
    if (r->nheld == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        s_held *h = realloc(r->held, cap * sizeof *h);
        if (!h)
            return;
        r->held = h;
        r->cap = cap;
    }
    s_held *h = &r->held[r->nheld++];
    snprintf(h->job, sizeof h->job, "%s", job);
    h->attempt = attempt;
    h->bad = bad;
    h->due_us = bad ? 0 : due_us;
    h->unsent = !h->due_us;
    if (h->due_us)
        r->running++;
    else
        r->unsent++;
}


static void s_rt_ack(s_bench *b, s_srt *r, const char *job, int64_t attempt)
{
    for (size_t i = 0; i < r->nheld; i++)
        if (r->held[i].attempt == attempt && !strcmp(r->held[i].job, job)) {
            if (r->held[i].unsent)
                r->unsent--;
            if (r->held[i].due_us)
                r->running--;
            r->held[i] = r->held[--r->nheld];
            b->sim_acks++;
            return;
        }
}

static void s_rt_acks(s_bench *b, s_srt *r, const json_t *items)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        assay_rtmsg_attempt a;
        if (assay_rtmsg_read_attempt(it, &a))
            s_rt_ack(b, r, a.job, a.attempt);
    }
}

static void s_rt_message(s_bench *b, s_group *g, const assay_link_msg *m,
                         int64_t now)
{
    if (m->id < 0 || m->id >= g->n)
        return;
    s_srt *r = &b->rts[g->by_link[m->id]];
    r->heard_us = now;
    if (strcmp(m->proto, ASSAY_RUNTIME_PROTO))
        return;
    const char *v = m->verb;
    if (!strcmp(v, ASSAY_RT_PULSE)) {
        b->sim_pulses++;
    } else if (!strcmp(v, ASSAY_RT_DISPATCH)) {
        size_t i;
        json_t *it;
        s_rt_acks(b, r, json_object_get(m->body, "acks"));
        json_array_foreach(json_object_get(m->body, "jobs"), i, it) {
            r->received++; /* counted by the leader either way */
            b->sim_dispatched++;
            assay_rtmsg_dispatch d;
            if (!assay_rtmsg_read_dispatch(it, &d) ||
                strlen(d.job) >= sizeof r->held[0].job)
                continue;
            int64_t ms = bench_mix_ms(d.action);
            s_rt_hold(r, d.job, d.attempt,
                      ms < 0 || !d.version || strcmp(d.version, "1.0.0"),
                      ms > 0 ? now + ms * 1000 : 0);
            if (ms > 0 && now + ms * 1000 < b->sim_next_us)
                b->sim_next_us = now + ms * 1000;
        }
    } else if (!strcmp(v, ASSAY_RT_ACK)) {
        s_rt_acks(b, r, json_object_get(m->body, "jobs"));
    } else if (!strcmp(v, ASSAY_RT_REGISTERED)) {
        if (!r->registered)
            b->sim_sessions++;
        r->registered = true;
        r->unanswered = 0;
        /* Unacknowledged results are told again, then a heartbeat. */
        r->unsent = r->nheld - r->running;
        for (size_t i = 0; i < r->nheld; i++)
            r->held[i].unsent = !r->held[i].due_us;
        s_rt_flush(b, r);
        s_rt_heartbeat(b, r, now);
        r->next_us = now + (int64_t)b->o.heartbeat_ms * 1000;
        if (r->next_us < b->sim_next_us)
            b->sim_next_us = r->next_us;
    } else if (!strcmp(v, ASSAY_RT_REREGISTER)) {
        b->sim_reregisters++;
        s_rt_session_lost(r);
        r->unanswered = 0;
        s_rt_register(b, r, now);
        if (r->next_us < b->sim_next_us)
            b->sim_next_us = r->next_us;
    } else if (!strcmp(v, ASSAY_RT_REDIRECT)) {
        b->sim_redirects++;
        int i = bench_ep_index(
            b, json_string_value(json_object_get(m->body, "leader")));
        if (i >= 0) {
            r->ep = i;
            r->unanswered = 0;
            g->reconnect = true;
        }
    }
    /* cancel: nothing runs; rescan: nothing changes. */
}

/* One transport instance carries a group's links, so they share a key:
 * a runtime key for every id of this run ("PREFIX*", which a member lets
 * register as any id starting with PREFIX), made and allowed in the keys
 * directory of the cluster it runs against. */
static int s_sim_keys(s_bench *b, assay_keys *keys, char *err, size_t errlen)
{
    char file[128], name[128], dir[4096];
    snprintf(file, sizeof file, "runtime-%.60sall", b->rt_prefix);
    snprintf(name, sizeof name, "%.60s*", b->rt_prefix);
    assay_transport_key tk = {.struct_size = sizeof tk,
                              .dir = dir,
                              .file = file,
                              .name = name,
                              .role = "runtime",
                              .create = 1,
                              .allow = 1};
    int rc = assay_keys_dir(NULL, dir, sizeof dir, err, errlen);
    if (!rc)
        rc = assay_link_key(NULL, "zmq", &tk, err, errlen);
    explicit_bzero(tk.secret_key, sizeof tk.secret_key);
    return rc ? rc
              : assay_keys_client(NULL, "zmq", NULL, file, keys, err, errlen);
}

int bench_sim_key_ready(s_bench *b)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_keys keys = {0};
    if (b->o.plain)
        return 0;
    int rc = s_sim_keys(b, &keys, err, sizeof err);
    explicit_bzero(&keys, sizeof keys);
    if (rc)
        bench_fmt(b->fatal, sizeof b->fatal, "simulated runtimes: %s", err);
    return rc ? -1 : 0;
}

static int s_group_connect(s_bench *b, s_group *g)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_link_destroy(&g->link);
    g->reconnect = false;
    assay_keys keys = {0}; /* --security none: none to present */
    assay_link_conf lc = {.transport = "zmq", .max_message = MAX_MESSAGE};
    int rc = b->o.plain ? 0 : s_sim_keys(b, &keys, err, sizeof err);
    assay_keys_apply(&keys, &lc);
    if (rc || assay_link_new_conf(&lc, &g->link, err, sizeof err) != 0) {
        bench_fmt(b->fatal, sizeof b->fatal, "simulated runtimes: %s", err);
        return -1;
    }
    int64_t now = assay_now_us();
    for (int k = 0; k < g->n; k++) {
        s_srt *r = &b->rts[g->rt[k]];
        int id = assay_link_open(g->link, ASSAY_LINK_CLIENT, b->eps[r->ep],
                                 err, sizeof err);
        if (id < 0 || id >= GROUP_LINKS) {
            bench_fmt(b->fatal, sizeof b->fatal, "simulated runtime %s: %s",
                      r->id, err);
            return -1;
        }
        r->link = id;
        g->by_link[id] = g->rt[k];
        /* A new connection is a new session: register (again). */
        s_rt_session_lost(r);
        if (r->next_us > now)
            r->next_us = now;
    }
    g->fd = assay_link_fd(g->link);
    g->dirty = true;
    b->sim_next_us = now;
    return 0;
}

static void s_group_drain(s_bench *b, s_group *g)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    g->dirty = false;
    int n;
    for (n = 0; g->link && n < DRAIN_BOUND; n++) {
        assay_link_msg m;
        int rc = assay_link_recv(g->link, &m, err, sizeof err);
        if (rc == 0)
            break;
        if (rc < 0) {
            bench_note("simulated runtime: dropped a malformed message: %s",
                       err);
            continue;
        }
        s_rt_message(b, g, &m, assay_now_us());
        assay_link_msg_fini(&m);
    }
    if (n == DRAIN_BOUND)
        g->dirty = true;
    for (int k = 0; k < g->n; k++) {
        s_srt *r = &b->rts[g->rt[k]];
        if (r->registered && r->unsent)
            s_rt_flush(b, r);
    }
}

/* Drains every group readable or sent on, then reconnects those a
 * redirect or a silent member moved; true when one was drained. */
bool bench_sim_process(s_bench *b)
{
    bool any = false;
    for (int k = 0; k < b->ngroups; k++) {
        s_group *g = &b->groups[k];
        if (g->dirty) {
            any = true;
            s_group_drain(b, g);
        }
    }
    for (int k = 0; k < b->ngroups; k++)
        if (b->groups[k].reconnect)
            s_group_connect(b, &b->groups[k]);
    return any;
}

/* The groups' descriptors to poll (their number); *dirty set when one
 * must be drained without waiting. */
int bench_sim_pollfds(const s_bench *b, struct pollfd *pfd, bool *dirty)
{
    for (int k = 0; k < b->ngroups; k++) {
        *dirty = *dirty || b->groups[k].dirty;
        pfd[k] = (struct pollfd){b->groups[k].fd, POLLIN, 0};
    }
    return b->ngroups;
}

/* After the poll: groups whose descriptor fired are drained next. */
void bench_sim_polled(s_bench *b, const struct pollfd *pfd)
{
    for (int k = 0; k < b->ngroups; k++)
        if (pfd[k].revents)
            b->groups[k].dirty = true;
}

long bench_sim_registered(const s_bench *b)
{
    long reg = 0;
    for (int i = 0; i < b->nrts; i++)
        reg += b->rts[i].registered;
    return reg;
}

static json_t *s_sim_catalog(void)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    /* The shape of assay_catalog_json (core/plugin/catalog.c) for
     * plugins/noop, and a plugin `sim` whose actions take a set time
     * (mix.c). */
    return json_pack(
        "{s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:[]}], "
        "s:[]}, {s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:[]}], s:[]}",
        "plugins", "name", "noop", "version", "1.0.0", "license",
        "Apache-2.0", "description",
        "does nothing and passes (benchmark workload)", "path",
        "(simulated by assay-bench)", "source", "(simulated by assay-bench)",
        "loaded_at", when, "actions", "name", "pass", "help",
        "always passes", "signature", "", "params", "config", "name", "sim",
        "version", "1.0.0", "license", "Apache-2.0", "description",
        "passes after the time its action names (assay-bench --mix)", "path",
        "(simulated by assay-bench)", "source", "(simulated by assay-bench)",
        "loaded_at", when, "actions", bench_mix_catalog_actions(), "config",
        "refused");
}

/* Simulated runtimes first .. first + n - 1 of this run, in this
 * process, all first joining member `ep`. */
int bench_sim_slice(s_bench *b, long first, long n, int ep, long slots)
{
    b->catalog = s_sim_catalog();
    b->slots = slots;
    b->nrts = (int)n;
    b->ngroups = (int)((n + GROUP_LINKS - 1) / GROUP_LINKS);
    b->rts = calloc((size_t)n, sizeof *b->rts);
    b->groups = calloc((size_t)b->ngroups, sizeof *b->groups);
    if (!b->catalog || !b->rts || !b->groups)
        return -1;
    int64_t now = assay_now_us(), hb = (int64_t)b->o.heartbeat_ms * 1000;
    for (int i = 0; i < b->nrts; i++) {
        s_srt *r = &b->rts[i];
        snprintf(r->id, sizeof r->id, "%s%ld", b->rt_prefix, first + i + 1);
        r->ep = ep;
        r->group = i / GROUP_LINKS;
        /* Registrations, hence heartbeats, spread over one interval. */
        r->next_us = now + hb * i / b->nrts;
        s_group *g = &b->groups[r->group];
        g->rt[g->n++] = i;
    }
    for (int k = 0; k < b->ngroups; k++) {
        /* s_group_connect pulls every next_us to now: keep the spread. */
        int64_t keep[GROUP_LINKS];
        s_group *g = &b->groups[k];
        for (int j = 0; j < g->n; j++)
            keep[j] = b->rts[g->rt[j]].next_us;
        if (s_group_connect(b, g))
            return -1;
        for (int j = 0; j < g->n; j++)
            b->rts[g->rt[j]].next_us = keep[j];
    }
    b->sim_next_us = now;
    return 0;
}

void bench_sim_destroy(s_bench *b)
{
    bench_sim_collect(b);
    free(b->kids);
    b->kids = NULL;
    b->nkids = 0;
    for (int k = 0; k < b->ngroups; k++)
        assay_link_destroy(&b->groups[k].link);
    for (int i = 0; i < b->nrts; i++)
        free(b->rts[i].held);
    free(b->rts);
    free(b->groups);
    b->rts = NULL;
    b->groups = NULL;
    b->nrts = b->ngroups = 0;
    json_decref(b->catalog);
    b->catalog = NULL;
}

/* What the simulated runtimes did, for reports. */
json_t *bench_sim_json(const s_bench *b)
{
    if (!b->nrts)
        return json_null();
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "sessions", (json_int_t)b->sim_sessions, "heartbeats",
                     (json_int_t)b->sim_heartbeats, "pulses",
                     (json_int_t)b->sim_pulses, "dispatched",
                     (json_int_t)b->sim_dispatched, "results",
                     (json_int_t)b->sim_results, "acks",
                     (json_int_t)b->sim_acks, "reregisters",
                     (json_int_t)b->sim_reregisters, "redirects",
                     (json_int_t)b->sim_redirects, "leader_silent",
                     (json_int_t)b->sim_silent);
}

void bench_print_sim(const s_bench *b)
{
    if (!b->nrts)
        return;
    printf("  simulated runtimes: %llu sessions, %llu heartbeats, %llu "
           "pulses, %llu dispatched, %llu results, %llu acked, %llu "
           "reregister, %llu redirect, %llu leader silent\n",
           (unsigned long long)b->sim_sessions,
           (unsigned long long)b->sim_heartbeats,
           (unsigned long long)b->sim_pulses,
           (unsigned long long)b->sim_dispatched,
           (unsigned long long)b->sim_results,
           (unsigned long long)b->sim_acks,
           (unsigned long long)b->sim_reregisters,
           (unsigned long long)b->sim_redirects,
           (unsigned long long)b->sim_silent);
}
