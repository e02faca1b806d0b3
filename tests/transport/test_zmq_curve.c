/* tests/transport/test_zmq_curve.c - the ZeroMQ transport's security:
 * key files (made once, private, checked when read), CURVE links whose
 * messages name their sender's certificate, and refusals - a key not in
 * the allow-list, a client without CURVE, a subscriber without a key,
 * configs that ask for what cannot be done. One test drives libzmq itself
 * to show what ZMQ_ZAP_ENFORCE_DOMAIN is for: without it, a CURVE server
 * whose ZAP handler is missing lets any key in.
 *
 * Waits are bounded by WAIT_MS; nothing asserts on timing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <assay/error.h>

#include "harness.h"
#include "zmq_fixture.h"

static char *dir;

static void setup(void)
{
    zmq_setup();
    dir = harness_tmpdir();
    zmq_logged[0] = '\0';
}

static void teardown(void)
{
    free(dir);
}

TestSuite(zmq_curve, .init = setup, .fini = teardown);

/* The pair dir/FILE.key, made when absent with that name and role. */
static assay_transport_key key(const char *file, const char *role, int allow)
{
    assay_transport_key k = {.struct_size = sizeof k,
                             .dir = dir,
                             .file = file,
                             .name = file,
                             .role = role,
                             .create = 1,
                             .allow = allow};
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(ops->key(&k, err, sizeof err), 0, "%s", err);
    return k;
}

static assay_transport *open_cfg(const assay_transport_config *cfg)
{
    assay_transport *t = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";
    cr_assert_eq(ops->open(cfg, &t, err, sizeof err), 0, "%s", err);
    return t;
}

/* A server holding `server`'s secret, letting in dir/allowed. */
static assay_transport *open_server(const assay_transport_key *server)
{
    char allowed[4096];
    snprintf(allowed, sizeof allowed, "%s/allowed", dir);
    assay_transport_config cfg = {.struct_size = sizeof cfg,
                                  .curve_secret_key = server->secret_key,
                                  .allow_dir = allowed};
    return open_cfg(&cfg);
}

/* A client presenting `own`, trusting `server`. */
static assay_transport *open_client(const assay_transport_key *own,
                                    const assay_transport_key *server)
{
    assay_transport_config cfg = {.struct_size = sizeof cfg,
                                  .curve_secret_key = own->secret_key,
                                  .curve_public_key = own->public_key,
                                  .curve_server_key = server->public_key};
    return open_cfg(&cfg);
}

/* Serves `server` (answering handshakes) until zmq_logged holds `needle`;
 * fails if a message arrives meanwhile. */
static void refused_until_logged(assay_transport *server, const char *needle)
{
    int64_t until = now_ms() + WAIT_MS;
    while (!strstr(zmq_logged, needle)) {
        int link;
        assay_frames msg;
        int rc = ops->recv(server, &link, &msg);
        cr_assert_neq(rc, 0, "a refused client's message arrived");
        cr_assert_eq(rc, ASSAY_EBUSY);
        cr_assert(wait_fd(server, until) || strstr(zmq_logged, needle),
                  "not refused within %d ms:\n%s", WAIT_MS, zmq_logged);
    }
}

Test(zmq_curve, key_files_are_made_once_and_kept_private)
{
    assay_transport_key a = key("alice", "submit", 1);
    cr_expect(a.created);
    cr_expect_eq(strlen(a.public_key), 40);
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/alice.key_secret", dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600, "secret file mode %o",
                 st.st_mode & 0777);
    snprintf(path, sizeof path, "%s/allowed/alice.key", dir);
    cr_expect_eq(stat(path, &st), 0, "not allowed: %s", path);

    /* Read back, not made again. */
    assay_transport_key b = key("alice", "submit", 1);
    cr_expect_not(b.created);
    cr_expect_str_eq(b.public_key, a.public_key);
    cr_expect_str_eq(b.secret_key, a.secret_key);

    /* The public half alone, as a client reads the server's. */
    char err[ASSAY_ERRMSG_SIZE];
    assay_transport_key p = {.struct_size = sizeof p, .dir = dir,
                             .file = "alice", .public_only = 1};
    cr_assert_eq(ops->key(&p, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(p.public_key, a.public_key);
    cr_expect_eq(p.secret_key[0], '\0');

    /* A secret others may read is refused, as ssh refuses one. */
    snprintf(path, sizeof path, "%s/alice.key_secret", dir);
    cr_assert_eq(chmod(path, 0640), 0);
    assay_transport_key k = {.struct_size = sizeof k, .dir = dir,
                             .file = "alice"};
    cr_expect_eq(ops->key(&k, err, sizeof err), ASSAY_EPERM);
    cr_expect(strstr(err, "chmod 600"), "%s", err);
    cr_expect_eq(k.secret_key[0], '\0');

    /* Not a key file; no such key without create; names that leave the
     * directory. */
    free(harness_write(dir, "junk.key_secret", "curve\n  x = \"1\"\n"));
    snprintf(path, sizeof path, "%s/junk.key_secret", dir);
    chmod(path, 0600);
    k.file = "junk";
    cr_expect_eq(ops->key(&k, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "not a CURVE key pair"), "%s", err);
    k.file = "nobody";
    cr_expect_eq(ops->key(&k, err, sizeof err), ASSAY_ENOENT);
    const char *bad[] = {"../x", ".hidden", "", "a/b", NULL};
    for (int i = 0; bad[i]; i++) {
        k.file = bad[i];
        k.create = 1;
        cr_expect_eq(ops->key(&k, err, sizeof err), ASSAY_EINVAL, "%s",
                     bad[i]);
    }
    k.struct_size = 8;
    cr_expect_eq(ops->key(&k, err, sizeof err), ASSAY_EINVAL);
}

/* Members of two tests started at once make the same key in one
 * directory: every process gets the one pair, none an error. */
Test(zmq_curve, a_key_made_by_many_processes_at_once_is_one_pair)
{
    enum { PROCS = 8, ROUNDS = 20 };
    for (int round = 0; round < ROUNDS; round++) {
        char file[32];
        snprintf(file, sizeof file, "m-%d", round);
        int fds[PROCS];
        pid_t pids[PROCS];
        for (int i = 0; i < PROCS; i++) {
            int p[2];
            cr_assert_eq(pipe(p), 0);
            pids[i] = fork();
            cr_assert_neq(pids[i], -1);
            if (!pids[i]) {
                close(p[0]);
                assay_transport_key k = {.struct_size = sizeof k,
                                         .dir = dir,
                                         .file = file,
                                         .name = file,
                                         .role = "member",
                                         .create = 1,
                                         .allow = 1};
                char err[ASSAY_ERRMSG_SIZE];
                char out[ASSAY_ERRMSG_SIZE + 64];
                int rc = ops->key(&k, err, sizeof err);
                int n = snprintf(out, sizeof out, "%s", rc ? err
                                                           : k.public_key);
                _exit(write(p[1], out, (size_t)n) == n && !rc ? 0 : 1);
            }
            close(p[1]);
            fds[i] = p[0];
        }
        char first[ASSAY_ERRMSG_SIZE + 64] = "";
        for (int i = 0; i < PROCS; i++) {
            char got[ASSAY_ERRMSG_SIZE + 64] = "";
            ssize_t n = read(fds[i], got, sizeof got - 1);
            close(fds[i]);
            int status = 0;
            waitpid(pids[i], &status, 0);
            cr_assert(n > 0 && WIFEXITED(status) && !WEXITSTATUS(status),
                      "%s, process %d: %s", file, i, got);
            if (!i)
                memcpy(first, got, sizeof first);
            cr_expect_str_eq(got, first, "%s: another pair", file);
        }
    }
}

/* A certificate whose secret is not beside it is someone else's public
 * key: asked to make the pair, key() refuses (after waiting for a secret
 * another maker might still link) and leaves the certificate as it was. */
Test(zmq_curve, a_certificate_alone_is_not_replaced_by_a_new_pair)
{
    char path[512], secret[520], *before, *after;
    snprintf(path, sizeof path, "%s/alone.key", dir);
    snprintf(secret, sizeof secret, "%s_secret", path);
    assay_transport_key k = {.struct_size = sizeof k,
                             .dir = dir,
                             .file = "alone",
                             .create = 1};
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(ops->key(&k, err, sizeof err), 0, "%s", err);
    cr_assert_eq(unlink(secret), 0);
    cr_assert_eq(harness_sh(&before, "cat %s", path), 0);
    cr_expect_eq(ops->key(&k, err, sizeof err), ASSAY_EEXIST);
    cr_expect(strstr(err, "a certificate without its secret"), "%s", err);
    cr_assert_eq(harness_sh(&after, "cat %s", path), 0);
    cr_expect_str_eq(after, before);
    cr_expect_neq(access(secret, F_OK), 0, "a secret was made");
    free(before);
    free(after);
}

/* certify: a certificate of someone else's key, kept when it says the
 * same, refused when it holds another key, name or role (the caller
 * replaces it); a request of version 3's size still reads keys. */
Test(zmq_curve, a_certificate_of_another_key_is_written_as_asked)
{
    assay_transport_key a = key("alice", "submit", 0);
    char err[ASSAY_ERRMSG_SIZE];
    assay_transport_key c = {.struct_size = sizeof c, .dir = dir,
                             .file = "enrolled-bob", .name = "bob",
                             .role = "read", .create = 1,
                             .certify = a.public_key};
    cr_assert_eq(ops->key(&c, err, sizeof err), 0, "%s", err);
    cr_expect(c.created);
    cr_expect_str_eq(c.cert_role, "read");
    char path[4096];
    snprintf(path, sizeof path, "%s/enrolled-bob.key_secret", dir);
    cr_expect_neq(access(path, F_OK), 0, "a secret was written");
    cr_assert_eq(ops->key(&c, err, sizeof err), 0, "%s", err);
    cr_expect_not(c.created);
    c.role = "admin"; /* re-enrolled with another role: not kept */
    cr_expect_eq(ops->key(&c, err, sizeof err), ASSAY_EEXIST);
    c.role = "read";
    c.certify = "not a key";
    cr_expect_eq(ops->key(&c, err, sizeof err), ASSAY_EINVAL);
    /* An older caller's request (no certify) reads the public half. */
    assay_transport_key old = {.dir = dir, .file = "enrolled-bob",
                               .public_only = 1};
    old.struct_size = (uint32_t)offsetof(assay_transport_key, certify);
    cr_assert_eq(ops->key(&old, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(old.public_key, a.public_key);
    cr_expect_str_eq(old.cert_name, "bob");
}

/* A client whose key is allowed talks both ways; every message it sends
 * names its certificate's name and role. */
Test(zmq_curve, an_allowed_key_is_named_on_its_messages)
{
    assay_transport_key server = key("cluster", "member", 0),
                        alice = key("alice", "submit", 1);
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *s = open_server(&server), *c = open_client(&alice,
                                                                 &server);
    int sl = link_ok(s, ASSAY_LINK_SERVER, ep);
    int cl = link_ok(c, ASSAY_LINK_CLIENT, ep);
    cr_assert_eq(SEND(c, cl, "hello"), 0);
    int link;
    assay_frames msg;
    next_msg(s, &link, &msg);
    cr_assert_eq(link, sl);
    cr_assert(frame_is(&msg.frames[1], "hello"));
    const char *name, *role;
    cr_assert_eq(ops->peer(s, &name, &role), 0);
    cr_expect_str_eq(name, "alice");
    cr_expect_str_eq(role, "submit");
    assay_bytes reply[2] = {msg.frames[0], BYTES("welcome")};
    cr_assert_eq(ops->send(s, sl, &(assay_frames){reply, 2}), 0);
    next_msg(c, &link, &msg);
    cr_expect(frame_is(&msg.frames[0], "welcome"));
    /* The server is no certificate holder's: nothing to name. */
    cr_assert_eq(ops->peer(c, &name, &role), 0);
    cr_expect_null(name);
    ops->close(&c);
    ops->close(&s);
}

/* A key the allow-list lacks is refused at the handshake and logged; so is
 * it once its certificate is removed (the list is re-read). */
Test(zmq_curve, an_unknown_key_is_refused)
{
    assay_transport_key server = key("cluster", "member", 0),
                        mallory = key("mallory", "admin", 0);
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *s = open_server(&server),
                    *c = open_client(&mallory, &server);
    link_ok(s, ASSAY_LINK_SERVER, ep);
    int cl = link_ok(c, ASSAY_LINK_CLIENT, ep);
    cr_assert_eq(SEND(c, cl, "let me in"), 0);
    refused_until_logged(s, mallory.public_key);
    cr_expect(strstr(zmq_logged, "no such key"), "%s", zmq_logged);
    ops->close(&c);
    ops->close(&s);
}

/* A client without CURVE (the NULL mechanism: cp.py, an old assayctl)
 * gets no connection; its message never arrives while an allowed
 * client's does. */
Test(zmq_curve, a_client_without_curve_gets_nothing)
{
    assay_transport_key server = key("cluster", "member", 0),
                        alice = key("alice", "submit", 1);
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *s = open_server(&server), *plain = open_t(NULL, 0),
                    *c = open_client(&alice, &server);
    link_ok(s, ASSAY_LINK_SERVER, ep);
    int pl = link_ok(plain, ASSAY_LINK_CLIENT, ep);
    cr_assert_eq(SEND(plain, pl, "plain"), 0);
    /* Handshakes are taken in order of arrival: once alice's second
     * message is in, the plain client's attempt was answered long ago. */
    int cl = link_ok(c, ASSAY_LINK_CLIENT, ep);
    int got = 0;
    for (int i = 0; i < 2; i++)
        cr_assert_eq(SEND(c, cl, "alice"), 0);
    while (got < 2) {
        int link;
        assay_frames msg;
        next_msg(s, &link, &msg);
        cr_assert(frame_is(&msg.frames[1], "alice"), "a plain message came");
        got++;
    }
    int link;
    assay_frames msg;
    cr_expect_eq(ops->recv(s, &link, &msg), ASSAY_EBUSY);
    ops->close(&c);
    ops->close(&plain);
    ops->close(&s);
}

/* Events reach an allowed subscriber and never one whose key is unknown. */
Test(zmq_curve, a_subscriber_without_an_allowed_key_gets_no_events)
{
    assay_transport_key server = key("cluster", "member", 0),
                        reader = key("reader", "read", 1),
                        eve = key("eve", "read", 0);
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *pub = open_server(&server),
                    *ok = open_client(&reader, &server),
                    *bad = open_client(&eve, &server);
    int p = link_ok(pub, ASSAY_LINK_PUBLISH, ep);
    int ol = link_ok(ok, ASSAY_LINK_SUBSCRIBE, ep);
    int bl = link_ok(bad, ASSAY_LINK_SUBSCRIBE, ep);
    cr_assert_eq(ops->subscribe(ok, ol, "job."), 0);
    cr_assert_eq(ops->subscribe(bad, bl, "job."), 0);
    /* Publish until the allowed subscriber has three events. */
    int got = 0, link;
    assay_frames msg;
    int64_t until = now_ms() + WAIT_MS;
    while (got < 3) {
        cr_assert_lt(now_ms(), until, "no events:\n%s", zmq_logged);
        while (ops->recv(pub, &link, &msg) == 0)
            ;
        cr_assert_eq(SEND(pub, p, "job.done", "x"), 0);
        harness_sleep_ms(20);
        while (ops->recv(ok, &link, &msg) == 0)
            got += frame_is(&msg.frames[0], "job.done");
        cr_assert_eq(ops->recv(bad, &link, &msg), ASSAY_EBUSY,
                     "an unknown subscriber got an event");
    }
    refused_until_logged(pub, eve.public_key);
    cr_assert_eq(ops->recv(bad, &link, &msg), ASSAY_EBUSY);
    ops->close(&bad);
    ops->close(&ok);
    ops->close(&pub);
}

/* Sends one message from a fresh client of `own` and says whether the
 * server got it (refusals are waited for in the log). */
static bool gets_in(assay_transport *s, const assay_transport_key *own,
                    const assay_transport_key *server, const char *ep)
{
    assay_transport *c = open_client(own, server);
    int cl = link_ok(c, ASSAY_LINK_CLIENT, ep);
    cr_assert_eq(SEND(c, cl, "knock"), 0);
    int64_t until = now_ms() + WAIT_MS;
    size_t logged = strlen(zmq_logged);
    bool in = false;
    while (!in && now_ms() < until &&
           !strstr(zmq_logged + logged, own->public_key)) {
        int link;
        assay_frames msg;
        in = ops->recv(s, &link, &msg) == 0;
        if (!in)
            wait_fd(s, now_ms() + 50);
    }
    ops->close(&c);
    return in;
}

/* The allow-list holds the directory's top-level NAME.key files: a key in
 * two files is kept once (czmq's store aborted on it), hidden files do
 * not count, and a removal is seen at the next handshake. */
Test(zmq_curve, the_allow_list_is_only_its_certificates_as_they_are_now)
{
    assay_transport_key server = key("cluster", "member", 0),
                        alice = key("alice", "submit", 1),
                        mallory = key("mallory", "admin", 0);
    char ep[64], cmd[8192], *out;
    free_endpoint(ep, sizeof ep);
    assay_transport *s = open_server(&server);
    link_ok(s, ASSAY_LINK_SERVER, ep);
    snprintf(cmd, sizeof cmd,
             "cp %s/allowed/alice.key %s/allowed/alice-again.key && "
             "cp %s/mallory.key %s/allowed/.mallory.key && "
             "mkdir %s/allowed/sub && cp %s/mallory.key %s/allowed/sub/m.key",
             dir, dir, dir, dir, dir, dir, dir);
    cr_assert_eq(harness_sh(&out, "%s", cmd), 0, "%s", out);
    free(out);
    cr_expect(gets_in(s, &alice, &server, ep), "alice was refused");
    cr_expect(strstr(zmq_logged, "holds a key another file holds too"),
              "%s", zmq_logged);
    cr_expect_not(gets_in(s, &mallory, &server, ep),
                  "a hidden or nested certificate let mallory in");
    snprintf(cmd, sizeof cmd, "rm %s/allowed/alice.key %s/allowed/"
                              "alice-again.key", dir, dir);
    cr_assert_eq(harness_sh(&out, "%s", cmd), 0, "%s", out);
    free(out);
    cr_expect_not(gets_in(s, &alice, &server, ep),
                  "alice still got in once revoked");
    ops->close(&s);
}

/* A keys directory others may write is refused: they could allow a key
 * or swap the cluster's certificate. */
Test(zmq_curve, a_keys_directory_others_may_write_is_refused)
{
    key("alice", "submit", 1);
    cr_assert_eq(chmod(dir, 0777), 0);
    char err[ASSAY_ERRMSG_SIZE];
    assay_transport_key k = {.struct_size = sizeof k, .dir = dir,
                             .file = "alice"};
    cr_expect_eq(ops->key(&k, err, sizeof err), ASSAY_EPERM);
    cr_expect(strstr(err, "chmod 700"), "%s", err);
    chmod(dir, 0700);
}

Test(zmq_curve, configs_that_cannot_be_honoured_are_refused)
{
    assay_transport_key server = key("cluster", "member", 0),
                        alice = key("alice", "submit", 1);
    assay_transport *t = (assay_transport *)&t; /* open() must clear it */
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_transport_config cfg = {.struct_size = sizeof cfg,
                                  .curve_secret_key = "secret"};
    cr_expect_eq(ops->open(&cfg, &t, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "curve_secret_key: not a CURVE key"), "%s", err);
    cr_expect_null(t);
    cfg.curve_secret_key = alice.secret_key;
    cfg.curve_public_key = server.public_key;
    cr_expect_eq(ops->open(&cfg, &t, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "not the public half"), "%s", err);
    cfg = (assay_transport_config){.struct_size = sizeof cfg,
                                   .allow_dir = dir};
    cr_expect_eq(ops->open(&cfg, &t, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "need curve_secret_key"), "%s", err);

    /* A secure instance without an allow-list binds nothing; one without
     * the server's key connects nowhere. */
    char ep[64];
    free_endpoint(ep, sizeof ep);
    cfg = (assay_transport_config){.struct_size = sizeof cfg,
                                   .curve_secret_key = alice.secret_key};
    t = open_cfg(&cfg);
    cr_expect_eq(ops->link(t, ASSAY_LINK_SERVER, ep), ASSAY_EINVAL);
    cr_expect(strstr(zmq_logged, "needs allow_dir"), "%s", zmq_logged);
    cr_expect_eq(ops->link(t, ASSAY_LINK_CLIENT, ep), ASSAY_EINVAL);
    cr_expect(strstr(zmq_logged, "needs curve_server_key"), "%s",
              zmq_logged);
    ops->close(&t);

    /* Fields past struct_size are not the caller's: never read. */
    cfg = (assay_transport_config){
        .struct_size = offsetof(assay_transport_config, curve_secret_key),
        .curve_secret_key = "garbage"};
    t = open_cfg(&cfg);
    ops->close(&t);
    cfg.struct_size = offsetof(assay_transport_config, max_message);
    cr_expect_eq(ops->open(&cfg, &t, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "bytes"), "%s", err);
}

/* Raw libzmq, one ROUTER per case: a CURVE server with a ZAP domain and
 * no handler in its context. Enforced (as the module sets every binding
 * link), nobody gets in; not enforced, any key does - which is why. */
static bool raw_gets_in(bool enforce)
{
    char spub[41], ssec[41], cpub[41], csec[41], ep[64];
    cr_assert_eq(zmq_curve_keypair(spub, ssec), 0);
    cr_assert_eq(zmq_curve_keypair(cpub, csec), 0);
    free_endpoint(ep, sizeof ep);
    void *sctx = zmq_ctx_new(), *cctx = zmq_ctx_new();
    void *r = zmq_socket(sctx, ZMQ_ROUTER), *d = zmq_socket(cctx, ZMQ_DEALER);
    int one = 1, zero = 0, timeout = 200;
    zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(r, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(r, ZMQ_CURVE_SECRETKEY, ssec, 40);
    zmq_setsockopt(r, ZMQ_ZAP_DOMAIN, "assay", 5);
    if (enforce)
        cr_assert_eq(zmq_setsockopt(r, 93 /* ZMQ_ZAP_ENFORCE_DOMAIN */, &one,
                                    sizeof one),
                     0, "libzmq lacks ZMQ_ZAP_ENFORCE_DOMAIN");
    zmq_setsockopt(r, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, spub, 40);
    zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, cpub, 40);
    zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, csec, 40);
    cr_assert_eq(zmq_bind(r, ep), 0);
    cr_assert_eq(zmq_connect(d, ep), 0);
    zmq_send(d, "hi", 2, ZMQ_DONTWAIT);
    bool in = false;
    /* 25 tries of 200 ms: an open door lets the message in on the first. */
    for (int i = 0; i < 25 && !in; i++) {
        char buf[16];
        in = zmq_recv(r, buf, sizeof buf, 0) >= 0;
    }
    zmq_close(d);
    zmq_close(r);
    zmq_ctx_term(cctx);
    zmq_ctx_term(sctx);
    return in;
}

Test(zmq_curve, no_zap_handler_means_no_connection_when_enforced)
{
    cr_expect(raw_gets_in(false), "unenforced: libzmq let nobody in?");
    cr_expect_not(raw_gets_in(true), "enforced: a key got in with no "
                                     "handler to ask");
}
