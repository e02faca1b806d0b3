/* tests/member/member_fixture.c - the member's suites' shared fixture (see
 * member_fixture.h): the member under test started, stepped and stopped,
 * and runtimes on real DEALER links that pack what they say with
 * proto/rtmsg.h and read what the member sends them. */
#include "member_fixture.h"

#include <stdio.h>
#include <string.h>

#include "base/codec.h"
#include "base/conf.h"
#include "harness.h"

assay_conf conf;
assay_loop *loop;
assay_leader *m;

static mf_rt rts[4];
static int nrts;

/* ---- the member -------------------------------------------------------- */

void mf_conf_init(void)
{
    cr_assert_eq(assay_conf_init(&conf), 0);
    conf.member_id = 1;
    /* these suites test the member's logic; security has its own suites */
    conf.security = ASSAY_SECURITY_NONE;
}

void mf_start(int64_t feature_level)
{
    char err[512];
    mf_conf_init();
    conf.feature_level = feature_level;
    cr_assert_not_null(loop = assay_loop_new());
    int rc = ASSAY_EBUSY;
    /* A port taken meanwhile by another process: try fresh ones. */
    for (int t = 0; t < 5 && rc == ASSAY_EBUSY; t++) {
        snprintf(conf.listen, sizeof conf.listen, "tcp://127.0.0.1:%d",
                 harness_port());
        snprintf(conf.events, sizeof conf.events, "tcp://127.0.0.1:%d",
                 harness_port());
        rc = assay_leader_new(&conf, "m1", loop, &m, err, sizeof err);
    }
    cr_assert_eq(rc, 0, "%s", err);
    UNTIL(m->leading, "the member never took the lead");
}

void mf_setup(void)
{
    mf_start(0);
}

void mf_teardown(void)
{
    for (int i = 0; i < nrts; i++)
        assay_link_destroy(&rts[i].link);
    nrts = 0;
    assay_leader_destroy(&m);
    assay_loop_destroy(&loop);
    assay_conf_fini(&conf);
}

/* Runtimes with beat_ms send heartbeats (listing nothing) while the test
 * steps the member. */
static void s_keepalive(void)
{
    int64_t now = assay_now_ms();
    for (int i = 0; i < nrts; i++) {
        mf_rt *r = &rts[i];
        if (r->beat_ms && now >= r->beat_at) {
            r->beat_at = now + r->beat_ms;
            mf_rt_heartbeat(r, NULL);
        }
    }
}

void mf_step(void)
{
    s_keepalive();
    if (loop)
        cr_assert_eq(assay_loop_once(loop, 2), 0);
    else if (!mb_drain(m))
        harness_sleep_ms(1);
}

void mf_bare_new(void)
{
    cr_assert_not_null(m = calloc(1, sizeof *m));
    m->audit.fd = -1; /* none; test_member_audit opens one */
    cr_assert_not_null(m->state = assay_state_new(NULL, NULL));
    mb_offers_reset(m, true);
    cr_assert_eq(mb_scheds_new(m), 0);
    mf_link_new(&m->link);
}

void mf_bare_free(void)
{
    mb_audit_close(m);
    mb_catalog_disarm(m);
    mb_forget_runtimes(m);
    mb_offers_reset(m, false);
    mb_scheds_destroy(m);
    assay_index_destroy(&m->rts);
    mb_batch_clear(&m->results);
    mb_batch_clear(&m->requeues);
    assay_link_destroy(&m->link);
    assay_state_destroy(&m->state);
    free(m);
    m = NULL;
}

void mf_link_new(assay_link **link)
{
    char err[512];
    cr_assert_eq(assay_link_new(NULL, "zmq", NULL, 1u << 20, link, err,
                                sizeof err),
                 0, "%s", err);
}

int mf_link_connect(assay_link **link)
{
    char err[512];
    mf_link_new(link);
    int id = assay_link_open(*link, ASSAY_LINK_CLIENT, conf.listen, err,
                             sizeof err);
    cr_assert_geq(id, 0, "%s", err);
    return id;
}

/* ---- runtimes ---------------------------------------------------------- */

mf_rt *mf_rt_open(const char *name)
{
    cr_assert_lt(nrts, 4);
    mf_rt *r = &rts[nrts++];
    *r = (mf_rt){.mem = -1};
    strlcpy(r->name, name, sizeof r->name);
    r->id = mf_link_connect(&r->link);
    return r;
}

mf_rt *mf_rt_up(const char *name, int64_t hb, json_t *labels)
{
    mf_rt *r = mf_rt_open(name);
    mf_rt_register_ok(r, hb, labels);
    return r;
}

msgpack_packer *mf_pk_init(mf_packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
    return &p->pk;
}

void mf_rt_send_packed(mf_rt *r, const char *verb, mf_packed *p)
{
    assay_bytes body = {(const uint8_t *)p->sb.data, p->sb.size};
    cr_assert_eq(assay_link_send_raw(r->link, r->id, NULL,
                                     ASSAY_RUNTIME_PROTO, verb, &body),
                 0);
    msgpack_sbuffer_destroy(&p->sb);
}

void mf_rt_send_json(mf_rt *r, const char *verb, json_t *body)
{
    cr_assert_eq(assay_link_send(r->link, r->id, NULL, ASSAY_RUNTIME_PROTO,
                                 verb, body),
                 0);
    json_decref(body);
}

/* Appends the attempts of `running` ([{job, attempt}]), as runtime.c does. */
static void s_pack_running(msgpack_packer *pk, const json_t *running)
{
    size_t i;
    json_t *x;
    json_array_foreach(running, i, x) {
        assay_rtmsg_pack_attempt(
            pk, &(assay_rtmsg_attempt){
                    mb_str(x, "job"),
                    json_integer_value(json_object_get(x, "attempt")), false});
    }
}

json_t *mf_catalog(const char *version)
{
    return json_pack("{s:[{s:s, s:s, s:[{s:s, s:[]}, {s:s, s:[]}]}]}",
                     "plugins", "name", "typed", "version", version,
                     "actions", "name", "echo", "params", "name", "sleep",
                     "params");
}

void mf_rt_register(mf_rt *r, int64_t hb, json_t *labels, json_t *cat,
                    json_t *running)
{
    mf_packed p;
    msgpack_packer *pk = mf_pk_init(&p);
    assay_rtmsg_pack_register(pk,
                              &(assay_rtmsg_register){.id = r->name,
                                                      .heartbeat_ms = hb,
                                                      .labels = labels,
                                                      .slots = 2,
                                                      .memory_mb = 1024,
                                                      .memory_total_mb =
                                                          r->total,
                                                      .executors =
                                                          r->executors,
                                                      .cpus = r->cpus,
                                                      .catalog = cat},
                              json_array_size(running));
    s_pack_running(pk, running);
    mf_rt_send_packed(r, ASSAY_RT_REGISTER, &p);
    json_decref(labels);
    json_decref(cat);
    json_decref(running);
}

void mf_rt_register_ok(mf_rt *r, int64_t hb, json_t *labels)
{
    mf_rt_register(r, hb, labels, mf_catalog("1.0.0"), NULL);
    json_t *b = mf_rt_expect(r, ASSAY_RT_REGISTERED);
    cr_assert_str_eq(mb_str(b, "leader"), "m1");
    json_decref(b);
}

void mf_rt_heartbeat(mf_rt *r, json_t *running)
{
    mf_packed p;
    msgpack_packer *pk = mf_pk_init(&p);
    assay_rtmsg_pack_heartbeat(pk,
                               &(assay_rtmsg_credit){.id = r->name,
                                                     .limit = r->limit,
                                                     .mem_available_mb =
                                                         r->mem,
                                                     .why = ""},
                               json_array_size(running));
    s_pack_running(pk, running);
    mf_rt_send_packed(r, ASSAY_RT_HEARTBEAT, &p);
    json_decref(running);
}

void mf_rt_result(mf_rt *r, const char *job, int64_t attempt,
                  json_t *result)
{
    mf_packed p;
    msgpack_packer *pk = mf_pk_init(&p);
    assay_rtmsg_pack_results(pk, r->name, r->limit, 1);
    assay_rtmsg_pack_report(pk, job, attempt);
    cr_assert_eq(assay_codec_pack(pk, result), 0);
    mf_rt_send_packed(r, ASSAY_RT_RESULT, &p);
    json_decref(result);
}

json_t *mf_rt_expect(mf_rt *r, const char *want)
{
    char err[512];
    int64_t until = assay_now_ms() + WAIT_MS;
    for (int n = 0;; n++) {
        assay_link_msg msg;
        int rc = assay_link_recv(r->link, &msg, err, sizeof err);
        cr_assert_geq(rc, 0, "runtime %s: %s", r->name, err);
        if (rc == 1) {
            bool skip = !strcmp(msg.verb, ASSAY_RT_PULSE) &&
                        strcmp(want, ASSAY_RT_PULSE);
            cr_assert(skip || !strcmp(msg.verb, want),
                      "runtime %s: got '%s' while waiting for '%s'", r->name,
                      msg.verb, want);
            json_t *b = skip ? NULL : json_incref(msg.body);
            assay_link_msg_fini(&msg);
            if (!skip)
                return b;
            continue;
        }
        if (n >= MAX_STEPS || assay_now_ms() > until)
            cr_assert_fail("runtime %s: no '%s' came", r->name, want);
        mf_step();
    }
}

void mf_rt_sync(mf_rt *r)
{
    mf_rt_heartbeat(r, NULL);
    json_decref(mf_rt_expect(r, ASSAY_RT_PULSE));
}

void mf_rt_credit(mf_rt *r, int64_t limit)
{
    r->limit = limit;
    mf_rt_sync(r);
}

s_rt *mf_session(const char *id)
{
    return assay_index_get(m->rts, id);
}

/* ---- jobs -------------------------------------------------------------- */

void mf_submit_spec(const char *id, int n, mf_spec o)
{
    assay_cmd_list *jobs = assay_cmd_list_new();
    char jid[96];
    json_t *params = o.params ? o.params : json_object();
    json_t *selector = o.selector ? o.selector : json_object();
    for (int i = 0; i < n; i++) {
        snprintf(jid, sizeof jid, "%s-%d", id, i);
        cr_assert_eq(assay_cmd_list_job(jobs, jid, params), 0);
    }
    json_t *empty = json_object();
    assay_cmd_spec spec = {.id = id,
                           .action = o.action ? o.action : "typed.echo",
                           .version = "",
                           .resolved = o.resolved ? o.resolved : "1.0.0",
                           .labels = empty,
                           .selector = selector,
                           .timeout_ms = o.timeout_ms ? o.timeout_ms : 30000,
                           .max_attempts = 3,
                           .priority = o.priority,
                           .memory_mb = o.memory_mb,
                           .cpu_milli = o.cpu_milli,
                           .pack = o.pack};
    cr_assert_eq(mb_commit(m, assay_cmd_submit(&spec, &jobs), mb_ignore,
                           NULL),
                 0);
    json_decref(empty);
    json_decref(params);
    json_decref(selector);
    UNTIL(assay_state_job(m->state, jid), "JobSpec %s never applied", id);
}

void mf_submit(const char *id, int n, int64_t timeout_ms)
{
    mf_submit_spec(id, n, (mf_spec){.timeout_ms = timeout_ms});
}

json_t *mf_ok_result(const char *answer)
{
    return json_pack("{s:s, s:[], s:{s:s}, s:b}", "status", "ok", "findings",
                     "data", "answer", answer, "retryable", 0);
}

void mf_expect_ack(mf_rt *r, const char *job, int64_t attempt, bool stale)
{
    json_t *b = mf_rt_expect(r, ASSAY_RT_ACK);
    const json_t *jobs = json_object_get(b, "jobs");
    cr_assert_eq(json_array_size(jobs), 1, "one ack, got %zu",
                 json_array_size(jobs));
    assay_rtmsg_attempt a;
    cr_assert(assay_rtmsg_read_attempt(json_array_get(jobs, 0), &a));
    cr_expect_str_eq(a.job, job);
    cr_expect_eq(a.attempt, attempt);
    cr_expect_eq(a.stale, stale, "ack of %s: stale %d, want %d", job, a.stale,
                 stale);
    json_decref(b);
}

json_t *mf_link_next(assay_link *link, const char *proto, const char *verb,
                     char *text, size_t cap)
{
    char err[512];
    int64_t until = assay_now_ms() + WAIT_MS;
    for (int n = 0;; n++) {
        assay_link_msg msg;
        int rc = assay_link_recv(link, &msg, err, sizeof err);
        cr_assert_geq(rc, 0, "%s", err);
        if (rc == 1) {
            cr_assert_str_eq(msg.proto, proto);
            cr_assert_str_eq(msg.verb, verb, "got %s, want %s", msg.verb,
                             verb);
            if (text) {
                size_t len = msg.raw_body ? msg.raw_body->len : 0;
                cr_assert_lt(len, cap);
                memcpy(text, len ? (const char *)msg.raw_body->data : "",
                       len);
                text[len] = '\0';
            }
            json_t *b = json_incref(msg.body);
            assay_link_msg_fini(&msg);
            return b;
        }
        if (n >= MAX_STEPS || assay_now_ms() > until)
            cr_assert_fail("no %s %s came", proto, verb);
        mf_step();
    }
}

json_t *mf_request(assay_link *link, int id, const char *service,
                   json_t *body)
{
    cr_assert_eq(assay_link_send(link, id, NULL, ASSAY_MDP_CLIENT, service,
                                 body),
                 0);
    json_decref(body);
    return mf_link_next(link, ASSAY_MDP_CLIENT, service, NULL, 0);
}
