/* bench/assay-bench/cp.c - the control-plane client: one libassay-client
 * client (assay/client.h) of every member, the leader's first, which
 * follows redirects and leaves a silent member for the next itself. Its
 * messages are taken in the bench's loop (loop.c): replies to the submits
 * jobs.c sends, the reply a call awaits, and the leader's events. Also:
 * finding the leader, and the runtimes it reports. */
#include <string.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "bench.h"

/* The events every run follows (jobs.c's bench_on_event). */
static const char *const s_topics[] = {ASSAY_EV_JOB_COMPLETED, ASSAY_EV_JOB_FAILED,
                                       ASSAY_EV_JOB_CANCELLED, ASSAY_EV_RUNTIME_DEAD};

/* The client, to every member (the leader first) and, unless `events` is
 * NULL or "", to that event stream. silence_ms: how long a member may
 * leave a request unanswered before the next is tried (0: the client's
 * default). Requests are bounded by the calls themselves (bench_call),
 * so the client's own budget is the whole --timeout. */
int bench_cp_open(s_bench *b, const char *events, int64_t silence_ms)
{
    char list[MAX_EPS * sizeof b->eps[0]], err[ASSAY_ERRMSG_SIZE * 2];
    size_t len = 0;
    for (int k = -1; k < b->neps; k++) {
        int i = k < 0 ? b->leader : k;
        if (i >= 0 && (k < 0 || i != b->leader))
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                    len ? "," : "", b->eps[i]);
    }
    assay_client_opts o = ASSAY_CLIENT_OPTS_INIT;
    o.endpoints = list;
    o.events = events;
    o.timeout_ms = (int64_t)b->o.timeout_s * 1000;
    o.silence_ms = silence_ms;
    o.max_message = MAX_MESSAGE;
    o.security = b->o.plain ? ASSAY_CLIENT_SECURITY_NONE
                            : ASSAY_CLIENT_SECURITY_CURVE;
    assay_client_destroy(&b->cl);
    int rc = assay_client_new(&o, &b->cl, err, sizeof err);
    for (size_t i = 0;
         !rc && events && *events && i < sizeof s_topics / sizeof *s_topics;
         i++)
        rc = assay_client_subscribe(b->cl, s_topics[i]);
    if (rc) {
        bench_fmt(b->fatal, sizeof b->fatal, "control plane: %s",
                  b->cl ? assay_client_error(b->cl) : err);
        assay_client_destroy(&b->cl);
        return -1;
    }
    b->cl_dirty = true;
    return 0;
}

static void s_message(s_bench *b, const assay_client_msg *m, int64_t now)
{
    if (m->kind == ASSAY_CLIENT_EVENT) {
        if (m->body)
            bench_on_event(b, m->name, m->body, now);
    } else if (m->kind != ASSAY_CLIENT_REPLY) {
        return; /* LIVE: the warm-up's completion event tells as much */
    } else if (b->awaiting && m->ticket == b->await) {
        b->awaiting = false;
        b->reply = json_incref(m->body); /* NULL: the client gave up */
    } else if (!strcmp(m->name, ASSAY_SVC_SUBMIT)) {
        bench_on_submit_reply(b, m->status, m->body);
    }
}

void bench_cp_drain(s_bench *b)
{
    b->cl_dirty = false;
    for (int n = 0; b->cl && n < DRAIN_BOUND; n++) {
        assay_client_msg m = {.size = sizeof m};
        int rc = assay_client_next(b->cl, &m, 0);
        if (rc == 0)
            return;
        if (rc < 0) {
            bench_note("control plane: %s", assay_client_error(b->cl));
            return;
        }
        s_message(b, &m, assay_now_us());
    }
    b->cl_dirty = true; /* bound reached: more may wait */
}

/* One request to whichever member leads, the loop pumped while it waits:
 * the reply (owned; ok or a refusal) or NULL when none came within
 * `wait_us`. A request the client gave up on (redirected too often) is
 * sent again meanwhile: a JobSpec keeps its id, so never runs twice. */
json_t *bench_call(s_bench *b, const char *service, const json_t *body,
                   int64_t wait_us)
{
    int64_t until = assay_now_us() + wait_us;
    if (until > b->deadline)
        until = b->deadline;
    json_t *r = NULL;
    while (!r && assay_now_us() < until && !bench_interrupted &&
           !b->fatal[0] &&
           assay_client_send(b->cl, service, body, &b->await) == 0) {
        b->awaiting = true;
        b->cl_dirty = true;
        while (b->awaiting && assay_now_us() < until && !bench_interrupted &&
               !b->fatal[0])
            bench_pump(b, until);
        r = b->reply;
        b->reply = NULL;
    }
    b->awaiting = false;
    return r;
}

bool bench_ok(const json_t *r)
{
    assay_cp_reply why;
    assay_cp_read_reply(r, &why);
    return why.ok;
}

/* What member i says of the cluster (`q`: assay.cluster status), asked on
 * a client of its own: the shared one talks to the member it reached
 * last. The reply, a refusal, or NULL after 500 ms (members answer at
 * once: the loop is not pumped meanwhile). */
static json_t *s_status_of(s_bench *b, int i, const json_t *q)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_client_opts o = ASSAY_CLIENT_OPTS_INIT;
    assay_client *cl;
    json_t *r = NULL;
    o.endpoints = b->eps[i];
    o.timeout_ms = 500;
    o.security = b->o.plain ? ASSAY_CLIENT_SECURITY_NONE
                            : ASSAY_CLIENT_SECURITY_CURVE;
    if (assay_client_new(&o, &cl, err, sizeof err)) {
        bench_fmt(b->fatal, sizeof b->fatal, "control plane: %s", err);
        return NULL;
    }
    assay_client_call(cl, ASSAY_SVC_CLUSTER, q, &r);
    assay_client_destroy(&cl);
    return r;
}

/* The member that serves as leader (its index), asking each in turn; -1 if
 * none did before `until`. Fills in its events endpoint when unknown. */
int bench_find_leader(s_bench *b, int64_t until)
{
    json_t *q = assay_cp_pack_cluster(
        &(assay_cp_cluster){ASSAY_CP_CLUSTER_STATUS, -1, NULL, 0});
    int found = -1;
    while (found < 0 && assay_now_us() < until && !bench_stopping(b)) {
        for (int i = 0; i < b->neps && found < 0 && !b->fatal[0]; i++) {
            if (b->own && i < b->consensus_members &&
                b->procs[b->member_proc[i]].pid <= 0)
                continue;
            json_t *r = s_status_of(b, i, q);
            const json_t *leader = json_object_get(r, "leader");
            if (bench_ok(r) && json_is_true(json_object_get(r, "serving"))) {
                found = i;
                const char *ev =
                    json_string_value(json_object_get(leader, "events"));
                if (!b->evs[i][0] && ev)
                    snprintf(b->evs[i], sizeof b->evs[i], "%s", ev);
            } else if (r) {
                /* A follower names the leader: ask it next. */
                bench_ep_index(b, json_string_value(
                                      json_object_get(leader, "endpoint")));
            }
            json_decref(r);
        }
        if (found < 0)
            bench_sleep(b, 200000);
    }
    json_decref(q);
    if (found >= 0)
        b->leader = found;
    return found;
}

/* How many of our runtimes (any runtime when we started none) the leader
 * reports alive, and in *dead how many not; -1 on no answer. */
long bench_runtimes_alive(s_bench *b, long *dead)
{
    json_t *q = json_object();
    json_t *r = bench_call(b, ASSAY_SVC_RUNTIMES, q, 5 * SEC);
    json_decref(q);
    if (!r || !bench_ok(r)) {
        json_decref(r);
        return -1;
    }
    long alive = 0, gone = 0;
    size_t plen = strlen(b->rt_prefix), i;
    json_t *it;
    json_array_foreach(json_object_get(r, "runtimes"), i, it) {
        const char *id = json_string_value(json_object_get(it, "id"));
        if (plen && (!id || strncmp(id, b->rt_prefix, plen)))
            continue;
        if (json_is_true(json_object_get(it, "alive")))
            alive++;
        else
            gone++;
    }
    json_decref(r);
    if (dead)
        *dead = gone;
    return alive;
}

/* Polls assay.runtimes until `want` of our runtimes are alive. */
int bench_wait_runtimes(s_bench *b, long want)
{
    b->phase = "waiting for the runtimes";
    int64_t until = assay_now_us() + 60 * SEC + want * 20000;
    while (assay_now_us() < until && !bench_stopping(b)) {
        long alive = bench_runtimes_alive(b, NULL);
        if (alive >= want)
            return 0;
        /* Each answer lists every runtime: with thousands registering,
         * asking often slowed the leader that registers them. */
        bench_sleep(b, want > 1000 ? want * 100 : 300000);
    }
    if (!b->fatal[0] && !bench_interrupted)
        bench_fmt(b->fatal, sizeof b->fatal,
                  "%ld runtimes not alive within %.0f s", want,
                  (double)(until - b->t_start) / 1e6);
    return -1;
}
