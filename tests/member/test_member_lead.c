/* tests/member/test_member_lead.c - core/member/lead.c: the control-plane
 * entry (mb_on_client), assay.cluster, redirects while another member
 * leads, and mb_role taking and losing the lead. Two members: a real one
 * (consensus `none`, on 127.0.0.1) that leads, and a member's struct
 * built by hand around a fake consensus module that says who leads,
 * with a real ROUTER link. Clients are real DEALER links. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "member_fixture.h"
#include "state/fsm.h"

/* The other member, which leads in the follower's view. */
#define M2_ENDPOINT "tcp://127.0.0.1:7500"
#define M2_EVENTS "tcp://127.0.0.1:7501"

static assay_link *cp; /* a client: control plane, or runtime */
static int cp_id;

static json_t *cp_next(const char *proto, const char *verb, char *text,
                       size_t cap)
{
    return mf_link_next(cp, proto, verb, text, cap);
}

/* A control-plane request; steals body (NULL: no body frame). */
static json_t *request(const char *service, json_t *body)
{
    return mf_request(cp, cp_id, service, body);
}

/* mmi.service: whether the member serves `service`, as RFC 8 text. */
static void mmi(const char *verb, const char *service, char *code,
                size_t cap)
{
    cr_assert_eq(assay_link_send_text(cp, cp_id, NULL, ASSAY_MDP_CLIENT, verb,
                                      service),
                 0);
    json_decref(cp_next(ASSAY_MDP_CLIENT, verb, code, cap));
}

static json_t *cluster(json_t *body)
{
    return request(ASSAY_SVC_CLUSTER, body);
}

/* Asserts an error reply with `code` whose message holds `says`. */
static void expect_error(json_t *reply, int code, const char *says)
{
    cr_assert_not_null(reply, "no body");
    cr_expect(json_is_false(json_object_get(reply, "ok")), "not an error");
    cr_expect_eq(json_integer_value(json_object_get(reply, "code")), code,
                 "code %lld (%s), want %d",
                 (long long)json_integer_value(json_object_get(reply, "code")),
                 mb_str(reply, "message"), code);
    cr_expect_str_eq(mb_str(reply, "error"), assay_err_name(code));
    const char *msg = mb_str(reply, "message");
    cr_expect(msg && strstr(msg, says), "message '%s' lacks '%s'",
              msg ? msg : "(none)", says);
    json_decref(reply);
}

/* ---- a member that leads (consensus none) ------------------------------ */

static int64_t start_level; /* feature_level to start at; 0: all */

static void setup(void)
{
    mf_start(start_level);
    cp_id = mf_link_connect(&cp);
}

static void setup_level2(void)
{
    start_level = 2;
    setup();
}

static void teardown(void)
{
    assay_link_destroy(&cp);
    mf_teardown();
}

TestSuite(member_lead, .init = setup, .fini = teardown);

Test(member_lead, cluster_status_describes_the_leader)
{
    json_t *r = cluster(json_object()); /* op defaults to status */
    cr_assert(json_is_true(json_object_get(r, "ok")), "%s",
              mb_str(r, "message"));
    cr_expect_str_eq(mb_str(r, "member"), "m1");
    cr_expect_eq(json_integer_value(json_object_get(r, "member_id")), 1);
    cr_expect_str_eq(mb_str(r, "consensus"), "none");
    cr_expect_str_eq(mb_str(r, "role"), "leader");
    cr_expect(json_is_true(json_object_get(r, "serving")));
    cr_expect_eq(json_integer_value(json_object_get(r, "level")),
                 ASSAY_STATE_LEVEL);
    cr_expect_eq(json_integer_value(json_object_get(r, "speaks")),
                 ASSAY_STATE_LEVEL);
    const json_t *members = json_object_get(r, "members");
    cr_assert_eq(json_array_size(members), 1);
    cr_expect(json_is_true(
        json_object_get(json_array_get(members, 0), "leader")));
    const json_t *l = json_object_get(r, "leader");
    cr_expect_str_eq(mb_str(l, "id"), "m1");
    cr_expect_str_eq(mb_str(l, "endpoint"), conf.listen);
    cr_expect_str_eq(mb_str(l, "events"), conf.events);
    json_decref(r);

    /* feature_level holds back what it says it speaks. */
    conf.feature_level = 2;
    r = cluster(json_pack("{s:s}", "op", "status"));
    cr_expect_eq(json_integer_value(json_object_get(r, "speaks")), 2);
    json_decref(r);
}

Test(member_lead, cluster_ops_are_checked)
{
    expect_error(cluster(json_pack("{s:s}", "op", "bogus")), ASSAY_EINVAL,
                 "unknown cluster op 'bogus'");
    expect_error(cluster(json_pack("{s:s, s:i}", "op", "add", "id", 2)),
                 ASSAY_EINVAL, "and an address HOST:PORT");
    expect_error(cluster(json_pack("{s:s, s:i}", "op", "remove", "id", 0)),
                 ASSAY_EINVAL, "needs a member id");
    expect_error(cluster(json_pack("{s:s, s:s}", "op", "remove", "id", "2")),
                 ASSAY_EINVAL, "needs a member id");
    expect_error(cluster(json_pack("{s:s, s:i}", "op", "demote", "id", 1)),
                 ASSAY_EINVAL, "hand the lead on first");
    /* Well-formed, but a cluster of one has no membership to change. */
    expect_error(cluster(json_pack("{s:s, s:i, s:s}", "op", "add", "id", 2,
                                   "address", "127.0.0.1:7600")),
                 ASSAY_EUNSUPP, "cluster add");
    expect_error(cluster(json_pack("{s:s, s:s}", "op", "upgrade", "level",
                                   "3")),
                 ASSAY_EINVAL, "level must be an integer");
    expect_error(cluster(json_pack("{s:s, s:i}", "op", "upgrade", "level", 0)),
                 ASSAY_EINVAL, "level must be an integer");
    expect_error(cluster(json_pack("{s:s, s:i}", "op", "upgrade", "level",
                                   ASSAY_STATE_LEVEL + 1)),
                 ASSAY_EUNSUPP, "what the leader speaks");
    /* At that level already: the status, nothing committed. */
    json_t *r = cluster(
        json_pack("{s:s, s:i}", "op", "upgrade", "level", ASSAY_STATE_LEVEL));
    cr_expect(json_is_true(json_object_get(r, "ok")));
    cr_expect_eq(json_integer_value(json_object_get(r, "level")),
                 ASSAY_STATE_LEVEL);
    json_decref(r);
}

/* A cluster started at level 2 is raised by "upgrade" once committed; the
 * reply is the status after it. (A suite of its own: a test's .init runs
 * after its suite's, not instead.) */
TestSuite(member_lead_level2, .init = setup_level2, .fini = teardown);

Test(member_lead_level2, upgrade_raises_the_level)
{
    cr_assert_eq(assay_state_level(m->state), 2);
    expect_error(cluster(json_pack("{s:s, s:i}", "op", "upgrade", "level", 3)),
                 ASSAY_EUNSUPP, "from 1 to 2");
    conf.feature_level = 0; /* this build speaks 3 again */
    json_t *r = cluster(json_pack("{s:s, s:i}", "op", "upgrade", "level", 3));
    cr_expect(json_is_true(json_object_get(r, "ok")), "%s",
              mb_str(r, "message"));
    cr_expect_eq(json_integer_value(json_object_get(r, "level")), 3);
    json_decref(r);
    cr_expect_eq(assay_state_level(m->state), 3);
}

Test(member_lead, unknown_services_and_bodies_get_clear_errors)
{
    expect_error(request("assay.nope", json_object()), ASSAY_ENOENT,
                 "unknown service 'assay.nope' (services: assay.submit");
    expect_error(request(ASSAY_SVC_CLUSTER, NULL), ASSAY_EPROTO,
                 "assay.cluster: body must be a msgpack map");
    expect_error(request(ASSAY_SVC_JOBS, json_pack("[i]", 1)), ASSAY_EPROTO,
                 "assay.jobs: body must be a msgpack map");
    /* A known service is served. */
    json_t *r = request(ASSAY_SVC_RUNTIMES, json_object());
    cr_expect(json_is_true(json_object_get(r, "ok")), "%s",
              mb_str(r, "message"));
    json_decref(r);
}

/* RFC 8 service discovery, answered in plain text. */
Test(member_lead, mmi_service_says_what_is_served)
{
    char code[16];
    mmi(ASSAY_SVC_MMI_SERVICE, ASSAY_SVC_SUBMIT, code, sizeof code);
    cr_expect_str_eq(code, "200");
    mmi(ASSAY_SVC_MMI_SERVICE, ASSAY_SVC_CLUSTER, code, sizeof code);
    cr_expect_str_eq(code, "200");
    mmi(ASSAY_SVC_MMI_SERVICE, "assay.nope", code, sizeof code);
    cr_expect_str_eq(code, "404");
    mmi(ASSAY_SVC_MMI_SERVICE, "assay.submitx", code, sizeof code);
    cr_expect_str_eq(code, "404", "a prefix of the name is not the name");
    mmi("mmi.other", "x", code, sizeof code);
    cr_expect_str_eq(code, "501");
}

/* ---- a member built by hand, around a fake consensus module ------------ */

static int fake_leads;            /* what is_leader says */
static uint64_t fake_leader_id;   /* whom status names as leader (0: none) */
static int fake_submits;          /* commands submitted */
static char fake_op[32];          /* the op of the last one */
static assay_commit_cb fake_cb;   /* its callback, called by the test */
static void *fake_arg;

static int f_submit(assay_consensus *c, const void *cmd, size_t len,
                    assay_commit_cb cb, void *arg)
{
    (void)c;
    fake_submits++;
    if (!assay_fsm_op(m->state, cmd, len, fake_op, sizeof fake_op))
        *fake_op = '\0';
    fake_cb = cb;
    fake_arg = arg;
    return 0;
}

static int f_is_leader(assay_consensus *c)
{
    (void)c;
    return fake_leads;
}

static int f_status(assay_consensus *c, assay_consensus_status *st)
{
    (void)c;
    uint32_t size = st->struct_size;
    memset(st, 0, size);
    st->struct_size = size;
    st->id = 1;
    st->role = fake_leads ? ASSAY_ROLE_LEADER : ASSAY_ROLE_FOLLOWER;
    st->term = 4;
    st->leader_id = fake_leader_id;
    st->n_members = 2;
    st->members[0] = (assay_consensus_member){1, "127.0.0.1:7402", 1};
    st->members[1] = (assay_consensus_member){2, "127.0.0.1:7502", 1};
    return 0;
}

static int f_member(assay_consensus *c, int op, uint64_t id,
                    const char *address, assay_commit_cb cb, void *arg)
{
    (void)c, (void)op, (void)id, (void)address, (void)cb, (void)arg;
    return ASSAY_EIO;
}

static const assay_consensus_ops fake_ops = {
    .version = ASSAY_CONSENSUS_VERSION,
    .struct_size = sizeof(assay_consensus_ops),
    .submit = f_submit,
    .is_leader = f_is_leader,
    .status = f_status,
    .member = f_member,
};

/* Applies a command to the hand-built member's state, as if committed. */
static void apply(assay_cmd *cmd)
{
    char err[ASSAY_ERRMSG_SIZE];
    json_t *res = NULL;
    cr_assert_not_null(cmd);
    cr_assert_eq(assay_fsm_apply(m->state, assay_cmd_data(cmd),
                                 assay_cmd_size(cmd), &res, err, sizeof err),
                 0, "%s", err);
    json_decref(res);
    assay_cmd_destroy(&cmd);
}

/* Member m1 (consensus id 1) that does not lead; m2 (id 2) committed its
 * "leader" command, and the module names 2 as leader. */
static void follower_setup(void)
{
    char err[512];
    mf_conf_init();
    strlcpy(conf.consensus, "fake", sizeof conf.consensus);
    fake_leads = 0;
    fake_leader_id = 2;
    mf_bare_new();
    m->conf = &conf;
    strlcpy(m->id, "m1", sizeof m->id);
    m->cops = &fake_ops;
    m->cons = (assay_consensus *)&fake_ops; /* never looked into */
    strlcpy(m->clabel, "consensus fake", sizeof m->clabel);
    cr_assert_not_null(m->rts = assay_index_new());
    m->server = ASSAY_EBUSY;
    for (int t = 0; t < 5 && m->server == ASSAY_EBUSY; t++) {
        snprintf(conf.listen, sizeof conf.listen, "tcp://127.0.0.1:%d",
                 harness_port());
        m->server = assay_link_open(m->link, ASSAY_LINK_SERVER, conf.listen,
                                    err, sizeof err);
    }
    cr_assert_geq(m->server, 0, "%s", err);
    strlcpy(m->endpoint, conf.listen, sizeof m->endpoint);
    apply(assay_cmd_leader("m2", M2_ENDPOINT, M2_EVENTS, 2, 3));
    cp_id = mf_link_connect(&cp);
}

static void follower_teardown(void)
{
    assay_link_destroy(&cp);
    mf_bare_free();
    assay_conf_fini(&conf);
}

TestSuite(member_lead_follower, .init = follower_setup,
          .fini = follower_teardown);

Test(member_lead_follower, clients_are_pointed_at_the_leader)
{
    json_t *r = request(ASSAY_SVC_SUBMIT,
                        json_pack("{s:s, s:s}", "id", "s", "action",
                                  "typed.echo"));
    cr_expect_str_eq(mb_str(r, "leader"), M2_ENDPOINT);
    cr_expect_str_eq(mb_str(r, "events"), M2_EVENTS);
    expect_error(r, ASSAY_ENOTLEADER,
                 "member m1 does not lead: m2 does, at " M2_ENDPOINT);
    expect_error(cluster(json_pack("{s:s, s:i, s:s}", "op", "add", "id", 3,
                                   "address", "127.0.0.1:7700")),
                 ASSAY_ENOTLEADER, "m2 does");
    cr_expect_eq(fake_submits, 0, "a follower committed something");

    /* Status is any member's to give. */
    r = cluster(json_object());
    cr_assert(json_is_true(json_object_get(r, "ok")), "%s",
              mb_str(r, "message"));
    cr_expect_str_eq(mb_str(r, "role"), "follower");
    cr_expect(json_is_false(json_object_get(r, "serving")));
    cr_expect_eq(json_integer_value(json_object_get(r, "leader_id")), 2);
    cr_expect_str_eq(mb_str(json_object_get(r, "leader"), "id"), "m2");
    cr_expect_eq(json_array_size(json_object_get(r, "members")), 2);
    json_decref(r);
}

Test(member_lead_follower, runtimes_are_redirected_to_the_leader)
{
    json_t *reg = json_pack("{s:s, s:i, s:{}, s:{s:[]}}", "id", "rt1",
                            "heartbeat_ms", 1000, "labels", "catalog",
                            "plugins");
    cr_assert_eq(assay_link_send(cp, cp_id, NULL, ASSAY_RUNTIME_PROTO,
                                 ASSAY_RT_REGISTER, reg),
                 0);
    json_decref(reg);
    json_t *b = cp_next(ASSAY_RUNTIME_PROTO, ASSAY_RT_REDIRECT, NULL, 0);
    cr_expect_str_eq(mb_str(b, "leader"), M2_ENDPOINT);
    json_decref(b);
    cr_expect_eq(assay_index_size(m->rts), 0, "a follower opened a session");
    cr_expect_null(assay_state_runtime(m->state, "rt1"));
    cr_expect_eq(fake_submits, 0);
}

/* No leader known (an election, or the leader's "leader" command not yet
 * seen): clients are told to retry; runtimes get nothing and move on. */
Test(member_lead_follower, no_leader_known_yet)
{
    fake_leader_id = 0;
    json_t *r = request(ASSAY_SVC_JOB, json_pack("{s:s}", "id", "s-0"));
    cr_expect_null(json_object_get(r, "leader"));
    expect_error(r, ASSAY_ENOTLEADER, "no leader is known yet");
    /* The leader record names a member the module does not call leader. */
    r = cluster(json_object());
    cr_expect_null(json_object_get(r, "leader"));
    json_decref(r);

    json_t *hb = json_pack("{s:s, s:i}", "id", "rt1", "limit", 4);
    cr_assert_eq(assay_link_send(cp, cp_id, NULL, ASSAY_RUNTIME_PROTO,
                                 ASSAY_RT_HEARTBEAT, hb),
                 0);
    json_decref(hb);
    /* Answered in order: had the heartbeat been answered, that answer
     * would come before this one's. */
    char code[16];
    mmi(ASSAY_SVC_MMI_SERVICE, ASSAY_SVC_JOBS, code, sizeof code);
    cr_expect_str_eq(code, "200");
}

/* mb_role: the consensus module says we lead; the member commits its
 * "leader" command and serves only once that is applied. */
Test(member_lead_follower, taking_the_lead_waits_for_the_claim)
{
    /* A session of old, which a new leader must not trust. */
    s_rt *old = calloc(1, sizeof *old);
    cr_assert_not_null(old);
    strlcpy(old->id, "rt-old", sizeof old->id);
    assay_index_put(m->rts, old->id, old);
    m->rt_list = old;

    fake_leads = 1;
    mb_role(m);
    cr_expect_eq(fake_submits, 1);
    cr_expect_str_eq(fake_op, "leader");
    cr_expect(m->claiming);
    cr_expect_not(m->leading, "serving before the claim is applied");
    mb_role(m);
    cr_expect_eq(fake_submits, 1, "claimed twice");
    expect_error(cluster(json_pack("{s:s, s:i}", "op", "upgrade", "level",
                                   3)),
                 ASSAY_ENOTLEADER, "does not lead");

    m->dirty = false;
    fake_cb(fake_arg, 0, NULL);
    cr_expect(m->leading);
    cr_expect_not(m->claiming);
    cr_expect(m->dirty, "nothing planned on taking the lead");
    cr_expect_eq(assay_index_size(m->rts), 0, "old sessions kept");
    cr_expect_null(m->rt_list);
    /* What only the leader serves is served now. */
    json_t *r = cluster(json_pack("{s:s, s:i}", "op", "upgrade", "level", 3));
    cr_expect(json_is_true(json_object_get(r, "ok")), "%s",
              mb_str(r, "message"));
    json_decref(r);
}

/* A claim that fails is retried after a pause, not every loop turn; one
 * applied after the lead was lost does not make the member serve. */
Test(member_lead_follower, failed_claims_wait_and_late_claims_do_not_serve)
{
    fake_leads = 1;
    mb_role(m);
    cr_assert_eq(fake_submits, 1);
    int64_t before = assay_now_ms();
    fake_cb(fake_arg, ASSAY_EIO, NULL);
    cr_expect_not(m->claiming);
    cr_expect_not(m->leading);
    cr_expect_gt(m->claim_at, before, "no pause before the next claim");
    mb_role(m);
    cr_expect_eq(fake_submits, 1, "retried at once");

    m->claim_at = 0; /* the pause is over */
    mb_role(m);
    cr_assert_eq(fake_submits, 2);
    fake_leads = 0; /* deposed while the claim was in flight */
    fake_cb(fake_arg, 0, NULL);
    cr_expect_not(m->leading);
    cr_expect_not(m->claiming);
}

/* Losing the lead drops what only a leader keeps. */
Test(member_lead_follower, losing_the_lead_drops_sessions_and_batches)
{
    fake_leads = 1;
    mb_role(m);
    fake_cb(fake_arg, 0, NULL);
    cr_assert(m->leading);
    s_rt *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    strlcpy(s->id, "rt1", sizeof s->id);
    assay_index_put(m->rts, s->id, s);
    m->rt_list = s;
    cr_assert(mb_batch_add(&m->results, "s-0", 1, "rt1"));
    cr_assert(mb_batch_add(&m->requeues, "s-1", 1, NULL));

    fake_leads = 0;
    mb_role(m);
    cr_expect_not(m->leading);
    cr_expect_eq(assay_index_size(m->rts), 0);
    cr_expect_null(m->rt_list);
    cr_expect_eq(m->results.n, 0);
    cr_expect_null(m->results.list);
    cr_expect_eq(m->requeues.n, 0);
    expect_error(request(ASSAY_SVC_JOBS, json_object()), ASSAY_ENOTLEADER,
                 "m2 does");
}

/* ---- a member of a cluster at level 5 ---------------------------------- */

static void setup_level5(void)
{
    start_level = ASSAY_LEVEL_ENROLMENT;
    setup();
}

TestSuite(member_lead_level5, .init = setup_level5, .fini = teardown);

/* Members of the release before would neither keep nor honour a CPU
 * request or packing: refused, saying what it takes. */
Test(member_lead_level5, cpus_and_packing_wait_for_level_6)
{
    expect_error(request(ASSAY_SVC_SUBMIT,
                         json_pack("{s:s, s:s, s:{s:f}}", "id", "s", "action",
                                   "typed.echo", "resources", "cpus", 0.5)),
                 ASSAY_EUNSUPP,
                 "resources.cpus needs feature level 6 (the cluster is at "
                 "5)");
    expect_error(request(ASSAY_SVC_SUBMIT,
                         json_pack("{s:s, s:s, s:s}", "id", "s", "action",
                                   "typed.echo", "placement", "pack")),
                 ASSAY_EUNSUPP, "placement \"pack\" needs feature level 6");
    cr_expect_null(assay_state_spec(m->state, "s"));
}
