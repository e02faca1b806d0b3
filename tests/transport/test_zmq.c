/* tests/transport/test_zmq.c - the ZeroMQ transport module driven through
 * its vtable, loaded the way the daemon loads it: request/reply with
 * routing ids, unroutable sends, pub/sub filtering, size limits, draining
 * after one wakeup (ZMQ_FD is edge-like), refused configs and endpoints
 * (CURVE is test_zmq_curve.c's).
 *
 * Every wait is a poll() on the module's fd bounded by WAIT_MS, which only
 * a hang reaches; nothing asserts on timing. Ports come from the kernel:
 * bind port 0, read it back, close, use it. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <assay/error.h>

#include "harness.h"
#include "plugin/hostapi.h"
#include "plugin/loader.h"
#include "zmq_fixture.h"

TestSuite(zmq, .init = zmq_setup, .fini = zmq_teardown);

/* ---- Tests ------------------------------------------------------------ */

Test(zmq, descriptor_is_a_complete_transport)
{
    cr_expect_eq(zmq_mod->kind, ASSAY_KIND_TRANSPORT);
    cr_expect_str_eq(zmq_mod->name, "zmq");
    cr_expect_null(zmq_mod->actions);
    cr_expect_null(zmq_mod->consensus);
    cr_expect_eq(ops->version, ASSAY_TRANSPORT_VERSION);
    cr_expect_eq(ops->struct_size, sizeof(assay_transport_ops));
    cr_expect(ops->open && ops->close && ops->link && ops->fd && ops->send &&
              ops->recv && ops->subscribe);
}

Test(zmq, request_reply_with_routing_ids)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *server = open_t("leader", 0);
    assay_transport *client = open_t("runtime-1", 0);
    int s = link_ok(server, ASSAY_LINK_SERVER, ep);
    int c = link_ok(client, ASSAY_LINK_CLIENT, ep);
    cr_assert_geq(ops->fd(server), 0);

    /* Binary and empty frames survive as they are. */
    assay_bytes req[] = {BYTES("job"), {(const uint8_t *)"a\0b", 3},
                         {NULL, 0}};
    cr_assert_eq(ops->send(client, c, &(assay_frames){req, 3}), 0);
    int link = -1;
    assay_frames msg;
    next_msg(server, &link, &msg);
    cr_assert_eq(link, s);
    cr_assert_eq(msg.count, 4);
    cr_expect(frame_is(&msg.frames[0], "runtime-1"));
    cr_expect(frame_is(&msg.frames[1], "job"));
    cr_expect(msg.frames[2].len == 3 && !memcmp(msg.frames[2].data, "a\0b", 3));
    cr_expect_eq(msg.frames[3].len, 0);

    cr_assert_eq(SEND(server, s, "runtime-1", "result", "ok"), 0);
    next_msg(client, &link, &msg);
    cr_assert_eq(link, c);
    cr_assert_eq(msg.count, 2);
    cr_expect(frame_is(&msg.frames[0], "result"));
    cr_expect(frame_is(&msg.frames[1], "ok"));

    ops->close(&client);
    ops->close(&server);
    cr_expect_null(client);
    cr_expect_null(server);
}

Test(zmq, client_without_identity_gets_a_routing_id)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *server = open_t(NULL, 0);
    assay_transport *client = open_t(NULL, 0);
    int s = link_ok(server, ASSAY_LINK_SERVER, ep);
    int c = link_ok(client, ASSAY_LINK_CLIENT, ep);
    cr_assert_eq(SEND(client, c, "hello"), 0);
    int link;
    assay_frames msg;
    next_msg(server, &link, &msg);
    cr_assert_eq(msg.count, 2);
    cr_assert_gt(msg.frames[0].len, 0);

    /* Reply to whatever id the ROUTER made up (copy it: recv reuses). */
    uint8_t id[256];
    size_t idlen = msg.frames[0].len;
    memcpy(id, msg.frames[0].data, idlen);
    assay_bytes reply[] = {{id, idlen}, BYTES("back")};
    cr_assert_eq(ops->send(server, s, &(assay_frames){reply, 2}), 0);
    next_msg(client, &link, &msg);
    cr_assert_eq(msg.count, 1);
    cr_expect(frame_is(&msg.frames[0], "back"));
    ops->close(&client);
    ops->close(&server);
}

Test(zmq, send_to_unknown_peer_is_enoent)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *server = open_t("leader", 0);
    int s = link_ok(server, ASSAY_LINK_SERVER, ep);
    cr_expect_eq(SEND(server, s, "nobody", "hello"), ASSAY_ENOENT);
    /* A lone routing id has no body to deliver. */
    cr_expect_eq(SEND(server, s, "nobody"), ASSAY_EINVAL);
    ops->close(&server);
}

Test(zmq, pubsub_filters_topics)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *pub = open_t("leader", 0);
    assay_transport *sub = open_t("watcher", 0);
    int p = link_ok(pub, ASSAY_LINK_PUBLISH, ep);
    int s = link_ok(sub, ASSAY_LINK_SUBSCRIBE, ep);
    cr_assert_eq(ops->subscribe(sub, s, "job."), 0);
    cr_expect_eq(ops->subscribe(pub, p, "job."), ASSAY_EINVAL);
    cr_expect_eq(SEND(sub, s, "job.x"), ASSAY_EINVAL);

    /* PUB drops everything until the subscription reaches it: publish a
     * sync topic until one arrives. */
    int64_t until = now_ms() + WAIT_MS;
    bool synced = false;
    int link;
    assay_frames msg;
    while (!synced) {
        cr_assert_lt(now_ms(), until, "subscription never took effect");
        cr_assert_eq(SEND(pub, p, "job.sync"), 0);
        wait_fd(sub, now_ms() + 50);
        while (ops->recv(sub, &link, &msg) == 0)
            synced = true;
    }

    /* One pipe keeps order: seeing job.done proves other.x was filtered. */
    cr_assert_eq(SEND(pub, p, "other.x", "no"), 0);
    cr_assert_eq(SEND(pub, p, "job.done", "yes"), 0);
    for (;;) {
        next_msg(sub, &link, &msg);
        cr_assert_eq(link, s);
        cr_assert(!frame_is(&msg.frames[0], "other.x"));
        if (!frame_is(&msg.frames[0], "job.sync"))
            break;
    }
    cr_assert_eq(msg.count, 2);
    cr_expect(frame_is(&msg.frames[0], "job.done"));
    cr_expect(frame_is(&msg.frames[1], "yes"));

    /* A PUB link never yields messages, and its fd (woken by the incoming
     * subscription) settles too. */
    cr_expect_eq(ops->recv(pub, &link, &msg), ASSAY_EBUSY);
    assert_settles(pub);
    assert_settles(sub);
    ops->close(&sub);
    ops->close(&pub);
}

Test(zmq, oversized_messages_are_dropped)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *server = open_t("leader", 1024);
    assay_transport *client = open_t("c", 0);
    int s = link_ok(server, ASSAY_LINK_SERVER, ep);
    int c = link_ok(client, ASSAY_LINK_CLIENT, ep);

    /* Each frame fits, the sum does not. */
    char big[601];
    memset(big, 'x', 600);
    big[600] = '\0';
    cr_assert_eq(SEND(client, c, big, big), 0);
    /* 17 frames once the routing id is added. */
    const char *many[17];
    for (int i = 0; i < 16; i++)
        many[i] = "f";
    many[16] = NULL;
    cr_assert_eq(send_strs(client, c, many), 0);
    cr_assert_eq(SEND(client, c, "ok"), 0);
    /* 16 frames with the routing id: the most that passes. */
    many[15] = NULL;
    cr_assert_eq(send_strs(client, c, many), 0);

    int link;
    assay_frames msg;
    next_msg(server, &link, &msg);
    cr_assert_eq(link, s);
    cr_assert_eq(msg.count, 2);
    cr_expect(frame_is(&msg.frames[1], "ok"));
    next_msg(server, &link, &msg);
    cr_assert_eq(msg.count, 16);
    cr_expect_eq(ops->recv(server, &link, &msg), ASSAY_EBUSY);
    cr_expect(strstr(zmq_logged, "dropped"), "%s", zmq_logged);
    ops->close(&client);
    ops->close(&server);
}

Test(zmq, oversized_publication_is_dropped_by_subscriber)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *pub = open_t(NULL, 0);
    assay_transport *sub = open_t(NULL, 1024);
    int p = link_ok(pub, ASSAY_LINK_PUBLISH, ep);
    int s = link_ok(sub, ASSAY_LINK_SUBSCRIBE, ep);
    cr_assert_eq(ops->subscribe(sub, s, ""), 0);
    int64_t until = now_ms() + WAIT_MS;
    bool synced = false;
    int link;
    assay_frames msg;
    while (!synced) {
        cr_assert_lt(now_ms(), until, "subscription never took effect");
        cr_assert_eq(SEND(pub, p, "sync"), 0);
        wait_fd(sub, now_ms() + 50);
        while (ops->recv(sub, &link, &msg) == 0)
            synced = true;
    }
    static char big[2001];
    memset(big, 'x', 2000);
    cr_assert_eq(SEND(pub, p, "big", big), 0);
    cr_assert_eq(SEND(pub, p, "after"), 0);
    do
        next_msg(sub, &link, &msg);
    while (frame_is(&msg.frames[0], "sync"));
    cr_assert_eq(msg.count, 1);
    cr_expect(frame_is(&msg.frames[0], "after"));
    ops->close(&sub);
    ops->close(&pub);
}

/* A single frame over the limit is refused by libzmq on the server before
 * it is buffered, which drops that connection: the client reconnects and
 * its later messages get through. */
Test(zmq, oversized_frame_costs_only_the_connection)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *server = open_t("leader", 1024);
    assay_transport *client = open_t("c", 0);
    int s = link_ok(server, ASSAY_LINK_SERVER, ep);
    int c = link_ok(client, ASSAY_LINK_CLIENT, ep);
    static char big[4097];
    memset(big, 'x', 4096);
    cr_assert_eq(SEND(client, c, big), 0);

    int64_t until = now_ms() + WAIT_MS;
    int link;
    assay_frames msg;
    for (bool got = false; !got;) {
        cr_assert_lt(now_ms(), until, "client never got through again");
        cr_assert_eq(SEND(client, c, "again"), 0);
        wait_fd(server, now_ms() + 50);
        while (ops->recv(server, &link, &msg) == 0) {
            cr_assert_eq(link, s);
            cr_assert(frame_is(&msg.frames[1], "again"));
            got = true;
        }
    }
    ops->close(&client);
    ops->close(&server);
}

/* A server with two SERVER links, "a" and "b", and a client on each. */
typedef struct {
    assay_transport *server, *ca, *cb;
    int la, lb, a, b;
} two_links;

static two_links two_links_open(void)
{
    two_links t;
    char ep_a[64], ep_b[64];
    free_endpoint(ep_a, sizeof ep_a);
    free_endpoint(ep_b, sizeof ep_b);
    t.server = open_t("leader", 0);
    t.la = link_ok(t.server, ASSAY_LINK_SERVER, ep_a);
    t.lb = link_ok(t.server, ASSAY_LINK_SERVER, ep_b);
    t.ca = open_t("a", 0);
    t.cb = open_t("b", 0);
    t.a = link_ok(t.ca, ASSAY_LINK_CLIENT, ep_a);
    t.b = link_ok(t.cb, ASSAY_LINK_CLIENT, ep_b);
    return t;
}

static void two_links_close(two_links *t)
{
    ops->close(&t->ca);
    ops->close(&t->cb);
    ops->close(&t->server);
}

/* ZMQ_FD is edge-like: after one wakeup, recv() must hand over every
 * message already queued, on every link, or the fd never wakes again. The
 * links are lopsided so that one runs dry while the other still holds most
 * of its messages. */
Test(zmq, one_wakeup_drains_every_link)
{
    static const int sent[2] = {100, 3};
    two_links t = two_links_open();
    assay_transport *server = t.server, *ca = t.ca, *cb = t.cb;
    int la = t.la, lb = t.lb, a = t.a, b = t.b;
    for (int i = 0; i < sent[0] || i < sent[1]; i++) {
        char body[16];
        snprintf(body, sizeof body, "%d", i);
        if (i < sent[0])
            cr_assert_eq(SEND(ca, a, body), 0);
        if (i < sent[1])
            cr_assert_eq(SEND(cb, b, body), 0);
    }

    int next[2] = {0, 0}; /* next expected body per link: order is kept */
    int total = 0;
    int64_t until = now_ms() + WAIT_MS;
    while (total < sent[0] + sent[1]) {
        cr_assert(wait_fd(server, until),
                  "fd silent with %d of %d messages received", total,
                  sent[0] + sent[1]);
        int link, rc;
        assay_frames msg;
        while ((rc = ops->recv(server, &link, &msg)) == 0) {
            cr_assert(link == la || link == lb);
            int which = link == la ? 0 : 1;
            cr_assert_lt(next[which], sent[which]);
            char body[16];
            snprintf(body, sizeof body, "%d", next[which]++);
            cr_assert_eq(msg.count, 2);
            cr_assert(frame_is(&msg.frames[0], which ? "b" : "a"));
            cr_assert(frame_is(&msg.frames[1], body));
            total++;
        }
        cr_assert_eq(rc, ASSAY_EBUSY);
    }
    assert_settles(server);
    two_links_close(&t);
}

/* A send processes the socket's pending commands, and with them the
 * signal of a message that arrived meanwhile: a link sent on in the middle
 * of a receive round must be read again in that round, or its message
 * waits with the fd silent. Link a runs dry first; then a message arrives
 * on it and the server replies on it while b still has messages. */
Test(zmq, a_send_mid_round_reads_its_link_again)
{
    two_links t = two_links_open();
    assay_transport *server = t.server, *ca = t.ca, *cb = t.cb;
    int la = t.la, lb = t.lb, a = t.a, b = t.b;
    /* a's route is known to the server once its first message is read. */
    cr_assert_eq(SEND(ca, a, "hello"), 0);
    int link;
    assay_frames msg;
    int64_t until = now_ms() + WAIT_MS;
    int rc;
    while ((rc = ops->recv(server, &link, &msg)) != 0) {
        cr_assert_eq(rc, ASSAY_EBUSY);
        cr_assert(wait_fd(server, until), "no hello");
    }
    cr_assert_eq(link, la);
    cr_assert_eq(ops->recv(server, &link, &msg), ASSAY_EBUSY);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(SEND(cb, b, "x"), 0);
    harness_sleep_ms(200); /* b's messages are queued at the server */
    /* Two of b's: on the way to the second, a was found dry. */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(ops->recv(server, &link, &msg), 0);
        cr_assert_eq(link, lb, "b's turn: a has nothing");
    }
    cr_assert_eq(SEND(ca, a, "late"), 0);
    harness_sleep_ms(200); /* a's message and its signal are there */
    cr_assert_eq(SEND(server, la, "a", "reply"), 0);
    bool late = false;
    int seen_b = 2;
    until = now_ms() + WAIT_MS;
    while (!late) {
        while ((rc = ops->recv(server, &link, &msg)) == 0) {
            if (link == la) {
                cr_assert(frame_is(&msg.frames[1], "late"));
                late = true;
            } else {
                seen_b++;
            }
        }
        cr_assert_eq(rc, ASSAY_EBUSY);
        cr_assert(late || wait_fd(server, until),
                  "a's message is stranded: read %d of b's, fd silent",
                  seen_b);
    }
    two_links_close(&t);
}

/* A PUB link receives nothing, yet its ZMQ_FD fires on every connection
 * and subscription; recv() must still let that signal settle. */
Test(zmq, publisher_fd_settles_after_subscriber_joins)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *pub = open_t(NULL, 0), *sub = open_t(NULL, 0);
    link_ok(pub, ASSAY_LINK_PUBLISH, ep);
    assert_settles(pub);
    int s = link_ok(sub, ASSAY_LINK_SUBSCRIBE, ep);
    cr_assert_eq(ops->subscribe(sub, s, "job."), 0);
    cr_assert(wait_fd(pub, now_ms() + WAIT_MS), "publisher never woke");
    assert_settles(pub);
    ops->close(&sub);
    ops->close(&pub);
}

/* Drains pub (as the core does) until wanted(topic) == want, bounded. */
static bool wanted_becomes(assay_transport *pub, int link, const char *topic,
                           int want)
{
    int64_t until = now_ms() + WAIT_MS;
    for (;;) {
        int l;
        assay_frames m;
        while (ops->recv(pub, &l, &m) == 0)
            cr_assert_fail("a subscription surfaced as a message");
        if (ops->wanted(pub, link, topic) == want)
            return true;
        if (!wait_fd(pub, until))
            return false;
    }
}

Test(zmq, publisher_knows_which_topics_are_wanted)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *pub = open_t(NULL, 0), *sub = open_t(NULL, 0);
    int p = link_ok(pub, ASSAY_LINK_PUBLISH, ep);
    cr_expect_eq(ops->wanted(pub, p, "job.completed"), 0);
    int s = link_ok(sub, ASSAY_LINK_SUBSCRIBE, ep);
    cr_assert_eq(ops->subscribe(sub, s, "job.completed"), 0);
    cr_assert(wanted_becomes(pub, p, "job.completed", 1));
    cr_expect_eq(ops->wanted(pub, p, "job.queued"), 0);
    cr_expect_eq(ops->wanted(pub, p, "runtime.dead"), 0);
    cr_expect_eq(ops->wanted(pub, 7, "x"), ASSAY_EINVAL); /* no such link */
    /* The last subscriber gone: nobody wants it any more. */
    ops->close(&sub);
    cr_assert(wanted_becomes(pub, p, "job.completed", 0));
    ops->close(&pub);
}

/* Runs pub's loop (recv until EBUSY, as the core does) until sub has a
 * message; fails the test after WAIT_MS. */
static void pump_until_message(assay_transport *pub, assay_transport *sub,
                               int *link, assay_frames *msg)
{
    int64_t until = now_ms() + WAIT_MS;
    for (;;) {
        int l;
        assay_frames m;
        while (ops->recv(pub, &l, &m) == 0)
            cr_assert_fail("a subscription surfaced as a message");
        int rc = ops->recv(sub, link, msg);
        if (rc == 0)
            return;
        cr_assert_eq(rc, ASSAY_EBUSY, "recv: %d\n%s", rc, zmq_logged);
        int64_t left = until - now_ms();
        cr_assert_gt(left, 0, "no message within %d ms", WAIT_MS);
        struct pollfd p[2] = {{.fd = ops->fd(pub), .events = POLLIN},
                              {.fd = ops->fd(sub), .events = POLLIN}};
        cr_assert_geq(poll(p, 2, (int)left), 0, "poll: %s", strerror(errno));
    }
}

Test(zmq, subscriber_is_welcomed_after_its_subscriptions_arrived)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *pub = open_t(NULL, 0), *sub = open_t(NULL, 0),
                    *other = open_t(NULL, 0);
    int p = link_ok(pub, ASSAY_LINK_PUBLISH, ep);
    int s = link_ok(sub, ASSAY_LINK_SUBSCRIBE, ep);
    /* The documented order: what you want first, the welcome last. */
    cr_assert_eq(ops->subscribe(sub, s, "job."), 0);
    cr_assert_eq(ops->subscribe(sub, s, "assay.welcome"), 0);
    int link;
    assay_frames msg;
    pump_until_message(pub, sub, &link, &msg);
    cr_assert_eq(link, s);
    cr_assert_eq(msg.count, 2);
    cr_expect(frame_is(&msg.frames[0], "assay.welcome"));
    /* The body is an empty msgpack map. */
    cr_expect(msg.frames[1].len == 1 && msg.frames[1].data[0] == 0x80);
    /* Welcomed means known: the publisher builds job events from now on,
     * and the subscriber gets them, with no sync topic. */
    cr_expect_eq(ops->wanted(pub, p, "job.queued"), 1);
    cr_assert_eq(SEND(pub, p, "job.queued", "j1"), 0);
    next_msg(sub, &link, &msg);
    cr_expect(frame_is(&msg.frames[0], "job.queued"));

    /* A second subscriber is welcomed too (repeated subscriptions are
     * reported), and the first gets that welcome as well. */
    int o = link_ok(other, ASSAY_LINK_SUBSCRIBE, ep);
    cr_assert_eq(ops->subscribe(other, o, "assay.welcome"), 0);
    pump_until_message(pub, other, &link, &msg);
    cr_expect(frame_is(&msg.frames[0], "assay.welcome"));
    next_msg(sub, &link, &msg);
    cr_expect(frame_is(&msg.frames[0], "assay.welcome"));
    ops->close(&other);
    ops->close(&sub);
    ops->close(&pub);
}

/* More subscriptions than one recv() reads (a flood is read in parts): the
 * publisher's fd stays readable until every one is read, the welcome
 * still comes after all of them, and then every one is known. */
Test(zmq, many_subscriptions_are_read_in_parts_then_welcomed)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *pub = open_t(NULL, 0), *sub = open_t(NULL, 0);
    int p = link_ok(pub, ASSAY_LINK_PUBLISH, ep);
    int s = link_ok(sub, ASSAY_LINK_SUBSCRIBE, ep);
    enum { N = 3000 };
    for (int i = 0; i < N; i++) {
        char t[32];
        snprintf(t, sizeof t, "t%d.", i);
        cr_assert_eq(ops->subscribe(sub, s, t), 0);
    }
    cr_assert_eq(ops->subscribe(sub, s, "assay.welcome"), 0);
    int link;
    assay_frames msg;
    pump_until_message(pub, sub, &link, &msg);
    cr_expect(frame_is(&msg.frames[0], "assay.welcome"));
    for (int i = 0; i < N; i += 7) {
        char t[32];
        snprintf(t, sizeof t, "t%d.x", i);
        cr_expect_eq(ops->wanted(pub, p, t), 1, "%s", t);
    }
    ops->close(&sub);
    ops->close(&pub);
}

Test(zmq, subscriber_of_other_topics_never_sees_a_welcome)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *pub = open_t(NULL, 0), *old = open_t(NULL, 0),
                    *sub = open_t(NULL, 0);
    int p = link_ok(pub, ASSAY_LINK_PUBLISH, ep);
    /* An older client: job events only. */
    int j = link_ok(old, ASSAY_LINK_SUBSCRIBE, ep);
    cr_assert_eq(ops->subscribe(old, j, "job."), 0);
    cr_assert(wanted_becomes(pub, p, "job.x", 1));
    /* A newer client is welcomed meanwhile... */
    int s = link_ok(sub, ASSAY_LINK_SUBSCRIBE, ep);
    cr_assert_eq(ops->subscribe(sub, s, "assay.welcome"), 0);
    int link;
    assay_frames msg;
    pump_until_message(pub, sub, &link, &msg);
    /* ...and the older one's first message is the next job event. */
    cr_assert_eq(SEND(pub, p, "job.x", "1"), 0);
    next_msg(old, &link, &msg);
    cr_expect(frame_is(&msg.frames[0], "job.x"));
    ops->close(&sub);
    ops->close(&old);
    ops->close(&pub);
}

Test(zmq, endpoint_errors_name_the_endpoint)
{
    char ep[64];
    free_endpoint(ep, sizeof ep);
    assay_transport *first = open_t(NULL, 0), *second = open_t(NULL, 0);
    link_ok(first, ASSAY_LINK_SERVER, ep);
    cr_expect_eq(ops->link(second, ASSAY_LINK_SERVER, ep), ASSAY_EBUSY);
    cr_expect(strstr(zmq_logged, ep) && strstr(zmq_logged, "in use"), "%s", zmq_logged);
    cr_expect_eq(ops->link(second, ASSAY_LINK_PUBLISH, ep), ASSAY_EBUSY);

    zmq_logged[0] = '\0';
    cr_expect_eq(ops->link(second, ASSAY_LINK_SERVER, "tcp://127.0.0.1:port"),
                 ASSAY_EINVAL);
    cr_expect(strstr(zmq_logged, "tcp://127.0.0.1:port"), "%s", zmq_logged);
    cr_expect_eq(ops->link(second, ASSAY_LINK_CLIENT, "bogus://x"),
                 ASSAY_EINVAL);
    cr_expect(strstr(zmq_logged, "bogus://x"), "%s", zmq_logged);
    /* The failures took no link slot. */
    cr_expect_eq(link_ok(second, ASSAY_LINK_CLIENT, ep), 0);
    ops->close(&second);
    ops->close(&first);
}

Test(zmq, invalid_arguments)
{
    char err[ASSAY_ERRMSG_SIZE];
    assay_transport_config cfg = {.struct_size = sizeof cfg};
    assay_transport *t = NULL;
    cr_expect_eq(ops->open(NULL, &t, err, sizeof err), ASSAY_EINVAL);
    cr_expect_eq(ops->open(&cfg, NULL, err, sizeof err), ASSAY_EINVAL);
    char longid[300];
    memset(longid, 'i', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    cfg.identity = longid;
    cr_expect_eq(ops->open(&cfg, &t, err, sizeof err), ASSAY_EINVAL);
    cfg.identity = "";
    cr_expect_eq(ops->open(&cfg, &t, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "identity"), "%s", err);

    t = open_t(NULL, 0);
    int link;
    assay_frames msg;
    assay_bytes f = BYTES("x");
    cr_expect_eq(ops->link(NULL, ASSAY_LINK_SERVER, "inproc://a"),
                 ASSAY_EINVAL);
    cr_expect_eq(ops->link(t, 0, "inproc://a"), ASSAY_EINVAL);
    cr_expect_eq(ops->link(t, 5, "inproc://a"), ASSAY_EINVAL);
    cr_expect_eq(ops->link(t, ASSAY_LINK_SERVER, NULL), ASSAY_EINVAL);
    cr_expect_eq(ops->fd(NULL), ASSAY_EINVAL);
    cr_expect_eq(ops->send(t, 0, &(assay_frames){&f, 1}), ASSAY_EINVAL);
    cr_expect_eq(ops->send(NULL, 0, &(assay_frames){&f, 1}), ASSAY_EINVAL);
    cr_expect_eq(ops->recv(NULL, &link, &msg), ASSAY_EINVAL);
    cr_expect_eq(ops->recv(t, NULL, &msg), ASSAY_EINVAL);
    cr_expect_eq(ops->subscribe(t, 0, ""), ASSAY_EINVAL);
    cr_expect_eq(ops->recv(t, &link, &msg), ASSAY_EBUSY);

    /* 16 links, then no more. */
    for (int i = 0; i < 16; i++) {
        char ep[32];
        snprintf(ep, sizeof ep, "inproc://l%d", i);
        cr_expect_eq(ops->link(t, ASSAY_LINK_PUBLISH, ep), i);
    }
    cr_expect_eq(ops->link(t, ASSAY_LINK_PUBLISH, "inproc://one-more"),
                 ASSAY_ETOOBIG);
    cr_expect_eq(ops->send(t, 0, &(assay_frames){NULL, 0}), ASSAY_EINVAL);
    cr_expect_eq(ops->send(t, 0, NULL), ASSAY_EINVAL);
    cr_expect_eq(ops->send(t, 16, &(assay_frames){&f, 1}), ASSAY_EINVAL);
    cr_expect_eq(ops->send(t, 0, &(assay_frames){&f, 1}), 0);
    ops->close(&t);
    ops->close(&t);
    ops->close(NULL);
}
