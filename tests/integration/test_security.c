/* tests/integration/test_security.c - security on real processes
 * (docs/security.md): assayctl keys, a member that will not start on a
 * reachable address without keys, security = none said loudly, and
 * refusals of whoever lacks an allowed key - another local user, an
 * unknown key - and of a key revoked while connected. Every wait is
 * bounded; every daemon is stopped. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "base/clock.h"
#include "cluster/keys.h"
#include "cluster/link.h"
#include "harness.h"

#define CTL HARNESS_BIN "assayctl"
#define D HARNESS_BIN "assayd"

static cluster c;
static char *dir;

static void setup(void) { dir = harness_tmpdir(); }

static void teardown(void)
{
    cluster_stop(&c);
    free(dir);
}

TestSuite(security, .init = setup, .fini = teardown, .timeout = 120);


static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    return st.st_mode & 0777;
}

Test(security, keys_are_made_listed_allowed_and_revoked)
{
    char cmd[20000], path[4300], other[4200];
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys init", dir);
    harness_expect(0, "made", cmd);
    harness_expect(0, "kept", cmd); /* a second init changes nothing */
    snprintf(path, sizeof path, "%s/k/operator.key_secret", dir);
    cr_expect_eq(mode_of(path), 0600);
    snprintf(path, sizeof path, "%s/k", dir);
    cr_expect_eq(mode_of(path), 0700);

    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys new runtime-rt7 "
                              "runtime rt7", dir);
    harness_expect(0, "role runtime", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys new x superuser",
             dir);
    harness_expect(64, "ROLE: submit, read", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys list", dir);
    harness_expect(0, "runtime-rt7", cmd);
    harness_expect(0, "operator", cmd);

    /* A key made elsewhere is allowed by its public half only. */
    snprintf(other, sizeof other, "%s/other", dir);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s keys new alice submit",
             other);
    harness_expect(0, "made", cmd);
    snprintf(cmd, sizeof cmd,
             CTL " --keys-dir %s/k keys allow %s/alice.key_secret", dir,
             other);
    harness_expect(64, "never NAME.key_secret", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys allow %s/alice.key",
             dir, other);
    harness_expect(0, "allowed", cmd);
    harness_expect(65, "allowed already, as alice", cmd);
    /* The same key under another name is refused too. */
    snprintf(cmd, sizeof cmd,
             "cp %s/alice.key %s/bob.key && " CTL
             " --keys-dir %s/k keys allow %s/bob.key",
             other, other, dir, other);
    harness_expect(65, "allowed already, as alice", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys list", dir);
    harness_expect(0, "alice", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k --endpoint "
             "tcp://127.0.0.1:9 --timeout-ms 300 keys revoke alice", dir);
    harness_expect(0, "revoked", cmd);
    /* Not here: an enrolled key of that name is asked for (no cluster). */
    harness_expect(69, "no such file here, and the cluster", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys revoke ../x", dir);
    harness_expect(65, "not a key name", cmd);
}

/* Listening on every address with no keys: nothing is made, nothing is
 * bound, and the error says how to make them. */
Test(security, a_reachable_member_without_keys_refuses_to_start)
{
    char cmd[8192];
    int p1 = harness_port(), p2 = harness_port();
    snprintf(cmd, sizeof cmd,
             "timeout 20 " D " --listen tcp://0.0.0.0:%d --events "
             "tcp://0.0.0.0:%d --node-id m1 --set keys_dir=%s/none "
             "--executors 0",
             p1, p2, dir);
    harness_expect(69, "assayctl keys init", cmd);
    char path[4300];
    snprintf(path, sizeof path, "%s/none/cluster.key_secret", dir);
    cr_expect_neq(access(path, F_OK), 0, "a key was made for a reachable "
                                         "member");
}

Test(security, security_none_is_said_loudly)
{
    cluster_start(&c, "--set security=none");
    cr_expect(cluster_log_has(&c.nodes[0], "security = none", 5000));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, CTL " --security none --endpoint %s cluster",
             c.endpoint);
    harness_expect(0, "security: NONE", cmd);
    /* A client expecting CURVE gets no answer from it. */
    snprintf(cmd, sizeof cmd, CTL " --timeout-ms 1000 --endpoint %s cluster",
             c.endpoint);
    harness_expect(69, "no answer from", cmd);
}

Test(security, a_secure_member_says_so_and_lets_in_its_operator)
{
    int port = harness_port();
    char extra[64];
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", port);
    cluster_start(&c, extra);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s cluster", c.endpoint);
    harness_expect(0, "security: curve", cmd);
    /* Without CURVE, or with a key it does not know: nothing. */
    snprintf(cmd, sizeof cmd,
             CTL " --security none --timeout-ms 1000 --endpoint %s cluster",
             c.endpoint);
    harness_expect(69, "no answer from", cmd);
    snprintf(cmd, sizeof cmd,
             "cp %s/cluster.key %s/ && " CTL " --keys-dir %s keys new "
             "mallory admin >/dev/null && " CTL " --keys-dir %s --key mallory "
             "--timeout-ms 1000 --endpoint %s cluster",
             getenv("ASSAY_KEYS_DIR"), dir, dir, dir, c.endpoint);
    harness_expect(69, "no answer from", cmd);
    cr_expect(cluster_log_has(&c.nodes[0], "no such key", 5000),
              "the refusal was not logged");
    /* Counted, as what it was: a plain-text client never reaches the
     * handler (its mechanism does not match). */
    json_t *m = cluster_metrics(port);
    cr_expect_geq(cluster_metric(m, "assay_auth_failures_total",
                                 "reason=unknown_key"),
                  1);
    cr_expect_eq(
        cluster_metric(m, "assay_auth_failures_total", "reason=role"), 0);
    json_decref(m);
}

/* Another local user (nobody) cannot read the operator's keys, so has
 * nothing to present; and plain TCP gets it nowhere. Needs root to act as
 * another user. */
Test(security, another_local_user_gets_nothing)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run a command as nobody");
    char *out;
    if (harness_sh(&out, "command -v runuser") != 0) {
        free(out);
        cr_skip_test("no runuser");
    }
    free(out);
    cluster_start(&c, NULL);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "runuser -u nobody -- " CTL " --timeout-ms 1000 --endpoint %s "
             "jobs",
             c.endpoint);
    harness_expect(69, "must be this user's", cmd);
    snprintf(cmd, sizeof cmd,
             "runuser -u nobody -- " CTL " --security none --timeout-ms 1000 "
             "--endpoint %s jobs",
             c.endpoint);
    harness_expect(69, "no answer from", cmd);
}

/* Keys "reader" (role read) and "writer" (role submit), allowed here. */
static void s_reader_and_writer(void)
{
    harness_expect(0, "",
                   CTL " keys new reader read >/dev/null && " CTL
                       " keys new writer submit >/dev/null");
}

/* Roles: read lists, submit submits, only admin cancels or changes the
 * cluster; each refusal is ASSAY_EPERM naming the key and role (exit 77). */
Test(security, each_role_may_do_what_it_is_for)
{
    char audit[4096];
    int port = harness_port();
    snprintf(audit, sizeof audit,
             "--set audit_log=%s/audit.log --set metrics_listen=127.0.0.1:%d",
             dir, port);
    cluster_start(&c, audit);
    cluster_runtime(&c, "rt1", NULL);
    s_reader_and_writer();
    char cmd[8192];
    const char *spec = cluster_spec(&c, "s.json", "{\"id\": \"s1\", "
                                    "\"action\": \"noop.pass\"}");
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key reader submit %s",
             c.endpoint, spec);
    harness_expect(77, "key reader has role read, which may not", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key writer submit %s",
             c.endpoint, spec);
    harness_expect(0, "s1", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key reader job s1-0",
             c.endpoint);
    harness_expect(0, "submitted by writer (submit)", cmd);
    /* A submitter cancels what it submitted, and nothing else. */
    const char *other = cluster_spec(&c, "o.json", "{\"id\": \"o1\", "
                                     "\"action\": \"sleep.sleep\", "
                                     "\"params\": {\"ms\": 60000}}");
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s submit %s", c.endpoint,
             other);
    harness_expect(0, "o1", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key writer cancel o1",
             c.endpoint);
    harness_expect(77, "o1 was submitted by operator; key writer (role "
                       "submit) may cancel only what it submitted", cmd);
    const char *mine = cluster_spec(&c, "m.json", "{\"id\": \"m1\", "
                                    "\"action\": \"sleep.sleep\", "
                                    "\"params\": {\"ms\": 60000}}");
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key writer submit %s && "
             CTL " --endpoint %s --key writer cancel m1 && " CTL
             " --endpoint %s --key reader job m1-0 --json",
             c.endpoint, mine, c.endpoint, c.endpoint);
    harness_expect(0, "cancelled by writer (submit)", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key reader cluster "
                              "remove 2", c.endpoint);
    harness_expect(77, "role read", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key reader cluster",
             c.endpoint);
    harness_expect(0, "security: curve", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s cancel s1", c.endpoint);
    harness_expect(0, "", cmd); /* the operator is admin */
    cr_expect(cluster_log_has(&c.nodes[0], "refused assay.submit from key "
                                           "reader (role read)", 5000));
    /* The audit log has the refusals and the admin actions. */
    snprintf(cmd, sizeof cmd,
             "grep '\"key\":\"reader\",\"role\":\"read\","
             "\"service\":\"assay.submit\",\"outcome\":\"refused\"' "
             "%s/audit.log && grep '\"key\":\"writer\".*\"service\":"
             "\"assay.cancel\",\"outcome\":\"refused\"' %s/audit.log && "
             "grep '\"key\":\"operator\",\"role\":\"admin\","
             "\"service\":\"assay.cancel\",\"outcome\":\"asked\"' "
             "%s/audit.log",
             dir, dir, dir);
    harness_expect(0, "", cmd);
    /* The three refusals, for the asker's role and by their code. */
    json_t *m = cluster_metrics(port);
    cr_expect_eq(
        cluster_metric(m, "assay_auth_failures_total", "reason=role"), 3);
    cr_expect_geq(cluster_metric(m, "assay_requests_refused_total",
                                 "reason=ASSAY_EPERM"),
                  3);
    json_decref(m);
}

/* Schedules and changes by filter belong to who made them: a reader
 * lists and shows; a submitter changes its own schedules and jobs, and a
 * change by filter leaves the others' jobs alone, saying how many. */
Test(security, schedules_and_bulk_changes_belong_to_who_made_them)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt1", NULL);
    s_reader_and_writer();
    char cmd[8192];
    const char *def = cluster_spec(
        &c, "op.json",
        "{\"id\": \"op-s\", \"cron\": \"0 * * * *\", \"spec\": "
        "{\"action\": \"noop.pass\"}}");
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s schedule create %s",
             c.endpoint, def);
    harness_expect(0, "op-s created", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key reader schedule list",
             c.endpoint);
    harness_expect(0, "op-s", cmd);
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --key reader schedule pause op-s",
             c.endpoint);
    harness_expect(77, "role read", cmd);
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --key writer schedule pause op-s",
             c.endpoint);
    harness_expect(77, "schedule op-s was made by operator", cmd);
    const char *mine = cluster_spec(
        &c, "w.json",
        "{\"id\": \"w-s\", \"cron\": \"0 * * * *\", \"spec\": "
        "{\"action\": \"noop.pass\"}}");
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --key writer schedule create %s && " CTL
                 " --endpoint %s --key writer schedule pause w-s",
             c.endpoint, mine, c.endpoint);
    harness_expect(0, "w-s paused", cmd);
    /* By filter: the writer's job cancelled, the operator's left. */
    const char *o = cluster_spec(&c, "o.json", "{\"id\": \"o1\", "
                                 "\"action\": \"sleep.sleep\", "
                                 "\"params\": {\"ms\": 60000}}");
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s submit %s", c.endpoint, o);
    harness_expect(0, "o1", cmd);
    const char *w = cluster_spec(&c, "wj.json", "{\"id\": \"w1\", "
                                 "\"action\": \"sleep.sleep\", "
                                 "\"params\": {\"ms\": 60000}}");
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --key writer submit %s >/dev/null && " CTL
                 " --endpoint %s --key writer jobs --action sleep.sleep "
                 "--cancel --dry-run",
             c.endpoint, w, c.endpoint);
    harness_expect(0, "2 jobs match; would 1 cancel (1 submitted by other "
                      "keys left alone)",
                   cmd);
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --key writer jobs --action sleep.sleep "
                 "--cancel && " CTL " --endpoint %s --key reader jobs "
                 "--state cancelled",
             c.endpoint, c.endpoint);
    harness_expect(0, "w1-0", cmd);
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --key reader jobs --state cancelled --json",
             c.endpoint);
    harness_expect(0, "\"total\": 1", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --key reader stats",
             c.endpoint);
    harness_expect(0, "schedules: 2", cmd);
}

/* A runtime key registers only as the runtime it is named for, and only a
 * runtime key speaks the runtime protocol. */
Test(security, a_runtime_key_is_bound_to_its_runtime)
{
    cluster_start(&c, NULL);
    const char *keys = getenv("ASSAY_KEYS_DIR");
    char cmd[8192];
    /* rt7's key, in a keys directory of a runtime that says it is rt8. */
    snprintf(cmd, sizeof cmd,
             CTL " keys new runtime-rt7 runtime rt7 >/dev/null && "
             "mkdir -m 700 %s/k && cp %s/cluster.key %s/k/ && "
             "cp %s/runtime-rt7.key %s/k/runtime-rt8.key && "
             "cp %s/runtime-rt7.key_secret %s/k/runtime-rt8.key_secret",
             dir, keys, dir, keys, dir, keys, dir);
    harness_expect(0, "", cmd);
    cluster_node *rt8 =
        cluster_bg(&c, "rt8",
                   HARNESS_BIN "assayd --node-id rt8 --join '%s' --executors "
                   "1 --plugins-dir %s --set keys_dir=%s/k",
                   c.join, HARNESS_PLUGINS, dir);
    cr_expect(cluster_log_has(&c.nodes[0], "refused registration as runtime "
                                           "rt8 from key rt7",
                              10000),
              "no refusal of rt7's key as rt8");
    /* Refused, not only logged: it tries again at each heartbeat. */
    cr_expect_not(cluster_log_has(rt8, "registered with", 2500),
                  "rt7's key registered as rt8");
    /* The operator's key (admin) speaking the runtime protocol. */
    assay_link *l = harness_link(NULL, NULL, NULL, 0);
    char err[512];
    int d = assay_link_open(l, ASSAY_LINK_CLIENT, c.endpoint, err, sizeof err);
    cr_assert_geq(d, 0, "%s", err);
    json_t *hb = json_pack("{s:s, s:i}", "id", "ghost", "limit", 1);
    cr_assert_eq(assay_link_send(l, d, NULL, ASSAY_RUNTIME_PROTO, "heartbeat",
                                 hb),
                 0);
    json_decref(hb);
    cr_expect(cluster_log_has(&c.nodes[0], "refused runtime message "
                                           "heartbeat from key operator "
                                           "(role admin, not runtime)",
                              10000));
    assay_link_destroy(&l);
}

/* A second key cannot take over a live runtime's session, even one whose
 * name covers the id (a fleet key, "*"). */
Test(security, a_live_runtime_keeps_its_session)
{
    cluster_start(&c, NULL);
    cluster_node *rt1 = cluster_runtime(&c, "rt1", NULL);
    assay_link *l = HARNESS_RUNTIME_LINK(0);
    char err[512];
    int d = assay_link_open(l, ASSAY_LINK_CLIENT, c.endpoint, err, sizeof err);
    cr_assert_geq(d, 0, "%s", err);
    json_t *reg = json_pack("{s:s, s:i, s:{}, s:{s:[]}}", "id", "rt1",
                            "heartbeat_ms", 1000, "labels", "catalog",
                            "plugins");
    cr_assert_eq(assay_link_send(l, d, NULL, ASSAY_RUNTIME_PROTO, "register",
                                 reg),
                 0);
    json_decref(reg);
    cr_expect(cluster_log_has(&c.nodes[0], "refused registration as runtime "
                                           "rt1 from key *: key rt1 holds "
                                           "its live session",
                              10000));
    /* Had the session been taken, rt1's next heartbeat would be told to
     * register again. */
    harness_sleep_ms(2500);
    cr_expect_eq(cluster_log_count(rt1, "registered with"), 1,
                 "rt1 lost its session");
    assay_link_destroy(&l);
}

/* Events naming `id` ("": any message) the subscriber gets within ms
 * (bounded). */
static int events_of(assay_link *sub, const char *id, int ms)
{
    int n = 0;
    int64_t deadline = assay_now_ms() + ms;
    for (;;) {
        assay_link_msg m;
        char err[512];
        int rc = assay_link_recv(sub, &m, err, sizeof err);
        if (rc == 1) {
            char *text = m.body ? json_dumps(m.body, 0) : NULL;
            n += !*id || (text && strstr(text, id));
            free(text);
            assay_link_msg_fini(&m);
            continue;
        }
        int64_t left = deadline - assay_now_ms();
        if (left <= 0)
            return n;
        struct pollfd p = {assay_link_fd(sub), POLLIN, 0};
        poll(&p, 1, (int)left);
    }
}

/* Revoking a key cuts what is connected with it, not only what comes
 * later: a client's next request is refused, a runtime loses its session
 * and is declared dead, a subscriber is cut off and let in no more. The
 * others go on. */
Test(security, a_revoked_key_is_cut_off_while_connected)
{
    cluster_start(&c, NULL);
    /* Keys of its own: the suite's tests share a keys directory. */
    cluster_runtime(&c, "rtrev", NULL);
    harness_expect(0, "", CTL " keys new temp submit >/dev/null");
    assay_link *l = harness_link("temp", NULL, NULL, 0);
    char err[512], cmd[8192];
    int d = assay_link_open(l, ASSAY_LINK_CLIENT, c.endpoint, err, sizeof err);
    cr_assert_geq(d, 0, "%s", err);
    cluster_cp cp = {l, d};
    json_t *r = cluster_cp_call(&cp, "assay.jobs", json_object());
    cr_assert(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    const char *topics[] = {"job.", NULL};
    assay_link *sub = cluster_subscribe_as(c.events, topics, "watcher",
                                           "watcher", "read");
    const char *spec = cluster_spec(&c, "a.json", "{\"id\": \"a1\", "
                                    "\"action\": \"noop.pass\"}");
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s submit --wait %s",
             c.endpoint, spec);
    harness_expect(0, "a1", cmd);
    cr_expect_gt(events_of(sub, "\"a1-", 2000), 0, "the watcher saw nothing");

    harness_expect(0, "", CTL " keys revoke temp && " CTL " keys revoke "
                          "watcher && " CTL " keys revoke runtime-rtrev");
    /* The member looks at its allow-list every second. */
    bool cut = false;
    for (int i = 0; i < 50 && !cut; i++) {
        r = cluster_cp_call(&cp, "assay.jobs", json_object());
        const char *msg = json_string_value(json_object_get(r, "message"));
        cut = json_is_false(json_object_get(r, "ok")) && msg &&
              strstr(msg, "key temp was revoked");
        json_decref(r);
        if (!cut)
            harness_sleep_ms(200);
    }
    cr_expect(cut, "a revoked key's connection was still served");
    cr_expect(cluster_log_has(&c.nodes[0], "cut 1 subscriber connection",
                              5000));
    cr_expect(cluster_log_has(&c.nodes[0], "runtime rtrev: its key rtrev was "
                                           "revoked", 10000));
    cr_expect(cluster_log_has(&c.nodes[0], "runtime rtrev missed", 10000),
              "the revoked runtime was not declared dead");
    spec = cluster_spec(&c, "b.json", "{\"id\": \"b1\", "
                        "\"action\": \"noop.pass\"}");
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s submit %s", c.endpoint,
             spec);
    harness_expect(0, "b1", cmd); /* the operator goes on */
    cr_expect_eq(events_of(sub, "\"b1-", 1500), 0,
                 "a revoked subscriber still gets events");
    cr_expect(cluster_log_has(&c.nodes[0], "refused a client", 5000),
              "the revoked subscriber was not refused when it came back");
    assay_link_destroy(&sub);
    assay_link_destroy(&l);
}

/* Events tell what every job found: a runtime's key may not subscribe
 * (its handshake is refused), a reader's may. */
Test(security, a_runtime_key_may_not_subscribe)
{
    int port = harness_port();
    char extra[64];
    snprintf(extra, sizeof extra, "--set metrics_listen=127.0.0.1:%d", port);
    cluster_start(&c, extra);
    assay_link *l = harness_link("runtime-sub", "sub", "runtime", 0);
    char err[512];
    int id = assay_link_open(l, ASSAY_LINK_SUBSCRIBE, c.events, err,
                             sizeof err);
    cr_assert_geq(id, 0, "%s", err);
    cr_assert_eq(assay_link_subscribe(l, id, "assay.welcome"), 0);
    cr_expect(cluster_log_has(&c.nodes[0], "its role may not subscribe",
                              10000),
              "the runtime key's subscription was not refused");
    cr_expect_eq(events_of(l, "", 1000), 0, "a runtime key got events");
    assay_link_destroy(&l);
    json_t *m = cluster_metrics(port);
    cr_expect_geq(cluster_metric(m, "assay_auth_failures_total",
                                 "reason=may_not_subscribe"),
                  1);
    json_decref(m);
    const char *topics[] = {"job.", NULL};
    l = cluster_subscribe_as(c.events, topics, "reader-sub", "rsub", "read");
    assay_link_destroy(&l);
}

/* assayd --check says how the links would be secured, makes nothing, and
 * fails where the daemon would not start. */
Test(security, check_says_how_links_are_secured)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             D " --check --executors 0 --set keys_dir=%s/k --listen "
             "tcp://0.0.0.0:1 --events tcp://0.0.0.0:2",
             dir);
    harness_expect(78, "assayd would not start", cmd);
    snprintf(cmd, sizeof cmd, D " --check --executors 0 --set keys_dir=%s/k",
             dir);
    harness_expect(0, "made on first start", cmd);
    char path[4300];
    snprintf(path, sizeof path, "%s/k/cluster.key_secret", dir);
    cr_expect_neq(access(path, F_OK), 0, "--check made a key");
    harness_expect(0, "security: NONE",
                   D " --check --executors 0 --set security=none");
}

/* A flood of handshakes with a key the member does not know: every one is
 * refused, the member goes on serving its operator meanwhile, and the log
 * says so at a doubling pace, not once per handshake. */
Test(security, a_flood_of_refused_handshakes_costs_no_service)
{
    cluster_start(&c, NULL);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "mkdir -m 700 %s/m && cp %s/cluster.key %s/m/ && " CTL
             " --keys-dir %s/m keys new mallory admin",
             dir, getenv("ASSAY_KEYS_DIR"), dir, dir);
    harness_expect(0, "made", cmd);
    assay_keys k;
    char err[1024], mdir[4200];
    snprintf(mdir, sizeof mdir, "%s/m", dir);
    cr_assert_eq(assay_keys_client(NULL, "zmq", mdir, "mallory", &k, err,
                                   sizeof err),
                 0, "%s", err);
    assay_link_conf lc = {.transport = "zmq", .max_message = 1u << 20};
    assay_keys_apply(&k, &lc);
    assay_link *flood = NULL;
    cr_assert_eq(assay_link_new_conf(&lc, &flood, err, sizeof err), 0, "%s",
                 err);
    /* 16 links, each refused and reconnecting every 100 ms. */
    for (int i = 0; i < 16; i++)
        cr_assert_geq(assay_link_open(flood, ASSAY_LINK_CLIENT, c.endpoint,
                                      err, sizeof err),
                      0, "%s", err);
    cluster_cp cp;
    cluster_cp_open(&cp, c.endpoint);
    int64_t until = assay_now_ms() + 3000;
    int served = 0;
    while (assay_now_ms() < until) {
        json_t *r = cluster_cp_call(&cp, "assay.runtimes", json_object());
        served += json_is_true(json_object_get(r, "ok"));
        json_decref(r);
        harness_sleep_ms(50);
    }
    cluster_cp_close(&cp);
    assay_link_destroy(&flood);
    cr_expect_gt(served, 10, "the operator was served %d times", served);
    int lines = cluster_log_count(&c.nodes[0], "refused a client");
    cr_expect_geq(lines, 4, "%d refusals logged", lines);
    /* 1, 2, 4 ... 2^15: a line per doubling up to 32,768 refusals. */
    cr_expect_leq(lines, 16, "%d refusal lines: not paced", lines);
}


/* Enrolment (docs/security.md#enrolment): a runtime on a host with no
 * key enrols once with a token and runs jobs; the same token replayed
 * from another key is refused, and that runtime stops saying why; an
 * unknown key let in while a token is pending may only enrol; revoking
 * the enrolled key cuts it off on the member. */
Test(security, a_runtime_enrols_once_with_a_token)
{
    char audit[4096], cmd[16384];
    snprintf(audit, sizeof audit, "--set audit_log=%s/audit.log", dir);
    cluster_start(&c, audit);
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s keys enroll --name rt-e1 --role runtime "
                 "--ttl 10m | sed -n 2p > %s/token && grep -q '^assay1-' "
                 "%s/token",
             c.endpoint, dir, dir);
    harness_expect(0, "", cmd);
    /* A host of its own: an empty keys directory. */
    char keys[4200], token[4200];
    snprintf(keys, sizeof keys, "%s/e1", dir);
    snprintf(token, sizeof token, "$(cat %s/token)", dir);
    cluster_node *rt = cluster_enrolling_runtime(&c, "rt-e1", "rt-e1", keys,
                                                 token, false);
    cr_assert(cluster_log_has(rt, "enrolled as rt-e1", 15000),
              "rt-e1 did not enrol");
    cr_assert(cluster_log_has(rt, "registered with", 10000));
    const char *spec = cluster_spec(&c, "e.json", "{\"id\": \"e1\", "
                                    "\"action\": \"noop.pass\"}");
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s submit --wait %s "
             ">/dev/null && " CTL " --endpoint %s job e1-0 --json",
             c.endpoint, spec, c.endpoint);
    harness_expect(0, "\"rt-e1\"", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s keys enrolled",
             c.endpoint);
    harness_expect(0, "enrolled rt-e1", cmd);
    /* A name a key allowed by hand holds is not enrolled again. */
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s keys enroll --name "
                              "operator --role submit", c.endpoint);
    harness_expect(65, "names a key operator already", cmd);

    /* An unknown key, while a token is pending: a guest, enrol only. */
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s keys enroll --name ci-7 --role submit "
                 ">/dev/null && " CTL " --keys-dir %s/g keys new stranger "
                 "submit >/dev/null && cp %s/cluster.key %s/g/",
             c.endpoint, dir, getenv("ASSAY_KEYS_DIR"), dir);
    harness_expect(0, "", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --keys-dir %s/g --key "
                              "stranger jobs", c.endpoint, dir);
    harness_expect(77, "has role guest, which may not", cmd);
    /* Nor is a guest let onto the event stream. */
    char gdir[4200], err[1024];
    snprintf(gdir, sizeof gdir, "%s/g", dir);
    assay_keys gk;
    cr_assert_eq(assay_keys_client(NULL, "zmq", gdir, "stranger", &gk, err,
                                   sizeof err),
                 0, "%s", err);
    assay_link_conf lc = {.transport = "zmq", .max_message = 1u << 20};
    assay_keys_apply(&gk, &lc);
    assay_link *sub = NULL;
    cr_assert_eq(assay_link_new_conf(&lc, &sub, err, sizeof err), 0, "%s",
                 err);
    int s = assay_link_open(sub, ASSAY_LINK_SUBSCRIBE, c.events, err,
                            sizeof err);
    cr_assert_geq(s, 0, "%s", err);
    cr_assert_eq(assay_link_subscribe(sub, s, ""), 0);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s submit --wait %s",
             c.endpoint, cluster_spec(&c, "e2.json", "{\"id\": \"e2\", "
                                      "\"action\": \"noop.pass\"}"));
    harness_expect(0, "", cmd);
    cr_expect_eq(events_of(sub, "", 1500), 0, "a guest got events");
    assay_link_destroy(&sub);

    /* Replayed (while another token lets guests in): the token was
     * used. */
    snprintf(keys, sizeof keys, "%s/e2", dir);
    cluster_node *again = cluster_enrolling_runtime(&c, "rt-e1", "rt-e1b",
                                                    keys, token, false);
    cr_expect(cluster_log_has(again, "enrolment as rt-e1 refused", 15000));
    cr_expect(cluster_log_has(&c.nodes[0], "refused an enrolment as rt-e1",
                              5000));
    int status = -1;
    for (int i = 0; i < 100 && waitpid(again->pid, &status, WNOHANG) == 0;
         i++)
        harness_sleep_ms(100);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0,
              "the refused runtime did not stop with a failure");
    again->pid = 0;

    /* Revoked: the member no longer lets rt-e1 in. */
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s keys revoke rt-e1",
             c.endpoint);
    harness_expect(0, "revoked rt-e1 on every member", cmd);
    cr_expect(cluster_log_has(&c.nodes[0], "was revoked", 10000));
    snprintf(cmd, sizeof cmd,
             "grep '\"service\":\"assay.enrol\",\"outcome\":\"refused\"' "
             "%s/audit.log && grep '\"service\":\"assay.keys\",\"outcome\":"
             "\"asked\"' %s/audit.log",
             dir, dir);
    harness_expect(0, "", cmd);
}

/* A person's key (role submit), enrolled from another host with
 * `keys redeem`; a token past its time enrols nothing. */
Test(security, a_key_is_redeemed_once_and_tokens_expire)
{
    char cmd[16384];
    cluster_start(&c, NULL);
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s keys enroll --name ci-8 --role submit "
                 "| sed -n 2p > %s/t1 && " CTL " --endpoint %s keys enroll "
                 "--name ci-9 --role read --ttl 1s | sed -n 2p > %s/t2 && "
             CTL " --endpoint %s keys enroll --name ci-10 --role read "
                 ">/dev/null",
             c.endpoint, dir, c.endpoint, dir, c.endpoint);
    harness_expect(0, "", cmd);
    harness_sleep_ms(1500);
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --keys-dir %s/h keys redeem $(cat %s/t1) "
                 "--name ci-8",
             c.endpoint, dir, dir);
    harness_expect(0, "enrolled", cmd);
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s --keys-dir %s/h --key "
                              "ci-8 jobs && " CTL " --endpoint %s keys "
                              "enrolled", c.endpoint, dir, c.endpoint);
    harness_expect(0, "enrolled ci-8                 submit", cmd);
    /* Used once; the other expired. */
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --keys-dir %s/h2 keys redeem $(cat %s/t1) "
                 "--name ci-8",
             c.endpoint, dir, dir);
    harness_expect(77, "no pending token for ci-8", cmd);
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s --keys-dir %s/h3 keys redeem $(cat %s/t2) "
                 "--name ci-9",
             c.endpoint, dir, dir);
    harness_expect(77, "no pending token for ci-9", cmd);
    /* With no token pending, a key it does not know gets no answer. */
    snprintf(cmd, sizeof cmd,
             CTL " --endpoint %s keys revoke ci-10 && " CTL " --endpoint %s "
                 "--keys-dir %s/h4 --timeout-ms 1500 keys redeem $(cat "
                 "%s/t1) --name ci-8",
             c.endpoint, c.endpoint, dir, dir);
    harness_expect(69, "no answer", cmd);
}
