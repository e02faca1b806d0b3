/* tests/proto/test_cpmsg.c - core/proto/cpmsg.c: the reply envelope reads
 * back as written, requests pack into what the member reads, and every
 * reader refuses mistyped fields naming them (docs/protocol.md). */
#include <criterion/criterion.h>
#include <string.h>

#include "base/errtext.h"
#include "proto/cpmsg.h"

Test(cpmsg, error_and_ok_bodies_read_back)
{
    json_t *e = assay_cp_error(ASSAY_ENOENT, "no job '%s'", "x-0");
    cr_expect(json_is_false(json_object_get(e, "ok")));
    assay_cp_reply r;
    assay_cp_read_reply(e, &r);
    cr_expect_not(r.ok);
    cr_expect_eq(r.code, ASSAY_ENOENT);
    cr_expect_str_eq(r.error, "ASSAY_ENOENT");
    cr_expect_str_eq(r.message, "no job 'x-0'");
    cr_expect_null(r.leader);
    json_decref(e);

    json_t *o = assay_cp_ok(json_pack("{s:i, s:s}", "n", 3, "spec", "s1"));
    assay_cp_read_reply(o, &r);
    cr_expect(r.ok);
    cr_expect_eq(r.code, 0);
    cr_expect_str_eq(r.message, "");
    cr_expect_str_eq(r.spec, "s1");
    cr_expect_eq(json_integer_value(json_object_get(o, "n")), 3);
    json_decref(o);
}

Test(cpmsg, a_redirect_names_the_leader)
{
    json_t *e = assay_cp_error(ASSAY_ENOTLEADER, "member 2 does not lead");
    json_object_set_new(e, "leader", json_string("tcp://127.0.0.1:7001"));
    json_object_set_new(e, "events", json_string("tcp://127.0.0.1:7002"));
    assay_cp_reply r;
    assay_cp_read_reply(e, &r);
    cr_expect_eq(r.code, ASSAY_ENOTLEADER);
    cr_expect_str_eq(r.leader, "tcp://127.0.0.1:7001");
    cr_expect_str_eq(r.events, "tcp://127.0.0.1:7002");
    json_decref(e);
}

/* A reply that is no map, or a refusal without a sound code, is a
 * protocol error, never a success or a code out of the table. */
Test(cpmsg, a_broken_reply_is_a_protocol_error)
{
    const char *bodies[] = {"[]", "{}", "{\"ok\": 1}",
                            "{\"ok\": false, \"code\": 7}",
                            "{\"ok\": false, \"code\": \"x\"}",
                            "{\"ok\": false, \"code\": -100000}"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        json_t *b = json_loads(bodies[i], 0, NULL);
        assay_cp_reply r;
        assay_cp_read_reply(b, &r);
        cr_expect_not(r.ok, "%s", bodies[i]);
        cr_expect_eq(r.code, ASSAY_EPROTO, "%s", bodies[i]);
        cr_expect_str_eq(r.error, "ASSAY_EPROTO", "%s", bodies[i]);
        json_decref(b);
    }
    assay_cp_reply r;
    assay_cp_read_reply(NULL, &r);
    cr_expect_eq(r.code, ASSAY_EPROTO);
}

Test(cpmsg, job_and_cancel_pack_what_is_read)
{
    json_t *b = assay_cp_pack_job("spec-1-0");
    cr_expect_str_eq(assay_cp_read_job(b), "spec-1-0");
    json_decref(b);
    json_t *bad = json_pack("{s:i}", "id", 5);
    cr_expect_null(assay_cp_read_job(bad));
    json_decref(bad);

    const char *ids[] = {"a-0", "b"};
    char err[ASSAY_ERRMSG_SIZE];
    b = assay_cp_pack_cancel(ids, 2, err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    const json_t *got;
    cr_expect_eq(assay_cp_read_cancel(b, &got, err, sizeof err), 0);
    cr_expect_eq(json_array_size(got), 2);
    cr_expect_str_eq(json_string_value(json_array_get(got, 1)), "b");
    json_decref(b);

    cr_expect_null(assay_cp_pack_cancel(ids, 0, err, sizeof err));
    cr_expect(strstr(err, "ids are needed"), "%s", err);
    const char *holes[] = {"a", NULL};
    cr_expect_null(assay_cp_pack_cancel(holes, 2, err, sizeof err));
    cr_expect(strstr(err, "id 1 is NULL"), "%s", err);
    bad = json_pack("{s:s}", "ids", "a-0");
    cr_expect_eq(assay_cp_read_cancel(bad, &got, err, sizeof err),
                 ASSAY_EINVAL);
    cr_expect(strstr(err, "ids: expected an array"), "%s", err);
    json_decref(bad);
}

Test(cpmsg, jobs_filters_are_typed)
{
    assay_cp_jobs q;
    char err[ASSAY_ERRMSG_SIZE];
    json_t *b = json_pack("{s:s, s:s, s:{s:s}, s:i}", "state", "queued",
                          "after", "s-0", "labels", "team", "x", "limit", 5);
    cr_assert_eq(assay_cp_read_jobs(b, &q, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(q.state, "queued");
    cr_expect_str_eq(q.after, "s-0");
    cr_expect_null(q.spec);
    cr_expect_str_eq(json_string_value(json_object_get(q.labels, "team")),
                     "x");
    cr_expect_eq(q.limit, 5);
    json_decref(b);

    b = json_pack("{s:i}", "spec", 3);
    cr_expect_eq(assay_cp_read_jobs(b, &q, err, sizeof err), ASSAY_ETYPE);
    cr_expect(strstr(err, "must be strings"), "%s", err);
    json_decref(b);
    b = json_pack("{s:[]}", "labels");
    cr_expect_eq(assay_cp_read_jobs(b, &q, err, sizeof err), ASSAY_ETYPE);
    cr_expect(strstr(err, "labels"), "%s", err);
    json_decref(b);
}

Test(cpmsg, cluster_ops_round_trip)
{
    char err[ASSAY_ERRMSG_SIZE];
    assay_cp_cluster req = {ASSAY_CP_CLUSTER_ADD, 4, "127.0.0.1:9004", 0}, got;
    json_t *b = assay_cp_pack_cluster(&req);
    cr_assert_eq(assay_cp_read_cluster(b, &got, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(got.op, ASSAY_CP_CLUSTER_ADD);
    cr_expect_eq(got.id, 4);
    cr_expect_str_eq(got.address, "127.0.0.1:9004");
    json_decref(b);

    req = (assay_cp_cluster){ASSAY_CP_CLUSTER_UPGRADE, -1, NULL, 3};
    b = assay_cp_pack_cluster(&req);
    cr_expect_null(json_object_get(b, "id"));
    cr_assert_eq(assay_cp_read_cluster(b, &got, err, sizeof err), 0);
    cr_expect_eq(got.level, 3);
    cr_expect_eq(got.id, -1);
    json_decref(b);

    /* No op is status; what is missing or mistyped reads as absent. */
    b = json_pack("{s:s, s:s}", "id", "4", "level", "2");
    cr_assert_eq(assay_cp_read_cluster(b, &got, err, sizeof err), 0);
    cr_expect_eq(got.op, ASSAY_CP_CLUSTER_STATUS);
    cr_expect_eq(got.id, -1);
    cr_expect_eq(got.level, 0);
    json_decref(b);

    b = json_pack("{s:s}", "op", "explode");
    cr_expect_eq(assay_cp_read_cluster(b, &got, err, sizeof err),
                 ASSAY_EINVAL);
    cr_expect(strstr(err, "unknown cluster op 'explode'"), "%s", err);
    json_decref(b);
    req.op = (assay_cp_cluster_op)99;
    cr_expect_null(assay_cp_pack_cluster(&req));
}

Test(cpmsg, keys_and_enrol_requests_are_checked)
{
    char err[256];
    assay_cp_keys k, back;
    json_t *b = json_object(); /* no op: list */
    cr_assert_eq(assay_cp_read_keys(b, &k, err, sizeof err), 0);
    cr_expect_eq(k.op, ASSAY_CP_KEYS_LIST);
    json_decref(b);
    k = (assay_cp_keys){.op = ASSAY_CP_KEYS_ENROLL, .name = "rt-7",
                        .role = "runtime", .ttl_s = 60};
    b = assay_cp_pack_keys(&k);
    cr_assert_eq(assay_cp_read_keys(b, &back, err, sizeof err), 0, "%s", err);
    cr_expect_eq(back.op, ASSAY_CP_KEYS_ENROLL);
    cr_expect_str_eq(back.name, "rt-7");
    cr_expect_str_eq(back.role, "runtime");
    cr_expect_eq(back.ttl_s, 60);
    json_decref(b);
    b = json_pack("{s:s, s:s, s:s}", "op", "enroll", "name", "rt-7", "role",
                  "runtime");
    cr_assert_eq(assay_cp_read_keys(b, &back, err, sizeof err), 0);
    cr_expect_eq(back.ttl_s, ASSAY_CP_TOKEN_TTL_DEFAULT);
    json_decref(b);
    const char *bad[] = {
        "{\"op\": \"grant\"}",
        "{\"op\": \"enroll\", \"role\": \"runtime\"}",
        "{\"op\": \"enroll\", \"name\": \"../x\", \"role\": \"runtime\"}",
        "{\"op\": \"enroll\", \"name\": \"m4\", \"role\": \"member\"}",
        "{\"op\": \"enroll\", \"name\": \"a\", \"role\": \"read\", "
        "\"ttl_s\": 0}",
        "{\"op\": \"enroll\", \"name\": \"a\", \"role\": \"read\", "
        "\"ttl_s\": 604801}",
        "{\"op\": \"enroll\", \"name\": \"a\", \"role\": \"read\", "
        "\"ttl_s\": \"1h\"}",
        "{\"op\": \"revoke\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        b = json_loads(bad[i], 0, NULL);
        cr_assert_not_null(b);
        cr_expect_eq(assay_cp_read_keys(b, &back, err, sizeof err), ASSAY_EINVAL,
                     "%s", bad[i]);
        json_decref(b);
    }
    assay_cp_enrol e = {.name = "rt-7", .secret = "00ff"}, eb;
    b = assay_cp_pack_enrol(&e);
    cr_assert_eq(assay_cp_read_enrol(b, &eb, err, sizeof err), 0);
    cr_expect_str_eq(eb.name, "rt-7");
    cr_expect_str_eq(eb.secret, "00ff");
    json_object_del(b, "secret");
    cr_expect_eq(assay_cp_read_enrol(b, &eb, err, sizeof err), ASSAY_EINVAL);
    json_decref(b);
}

Test(cpmsg, stream_requests_default_and_read_back)
{
    char err[256];
    assay_cp_stream s, back;
    json_t *b = json_object(); /* nothing: read from the start */
    cr_assert_eq(assay_cp_read_stream(b, &s, err, sizeof err), 0, "%s", err);
    cr_expect_eq(s.op, ASSAY_CP_STREAM_READ);
    cr_expect_eq(s.from, -1);
    cr_expect_eq(s.max, ASSAY_CP_STREAM_PAGE);
    cr_expect_eq(s.wait_ms, 0);
    cr_expect_null(s.consumer);
    json_decref(b);
    /* The bounds themselves are in range. */
    b = json_pack("{s:s, s:i, s:i, s:i}", "op", "read", "from", 0, "max", 1,
                  "wait_ms", ASSAY_CP_STREAM_WAIT_MAX);
    cr_assert_eq(assay_cp_read_stream(b, &s, err, sizeof err), 0, "%s", err);
    cr_expect_eq(s.from, 0);
    cr_expect_eq(s.max, 1);
    cr_expect_eq(s.wait_ms, ASSAY_CP_STREAM_WAIT_MAX);
    json_decref(b);

    s = (assay_cp_stream){.op = ASSAY_CP_STREAM_READ, .consumer = "etl",
                          .from = 42, .max = 10, .wait_ms = 5000};
    b = assay_cp_pack_stream(&s);
    cr_assert_eq(assay_cp_read_stream(b, &back, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(back.op, ASSAY_CP_STREAM_READ);
    cr_expect_str_eq(back.consumer, "etl");
    cr_expect_eq(back.from, 42);
    cr_expect_eq(back.max, 10);
    cr_expect_eq(back.wait_ms, 5000);
    json_decref(b);
    /* from -1 is "not given": left out, and read back as such. */
    s = (assay_cp_stream){.op = ASSAY_CP_STREAM_READ, .from = -1};
    b = assay_cp_pack_stream(&s);
    cr_expect_null(json_object_get(b, "from"));
    cr_assert_eq(assay_cp_read_stream(b, &back, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(back.from, -1);
    cr_expect_eq(back.max, ASSAY_CP_STREAM_PAGE);
    json_decref(b);

    s = (assay_cp_stream){.op = ASSAY_CP_STREAM_ACK, .consumer = "etl",
                          .position = 0};
    b = assay_cp_pack_stream(&s);
    cr_assert_eq(assay_cp_read_stream(b, &back, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(back.op, ASSAY_CP_STREAM_ACK);
    cr_expect_str_eq(back.consumer, "etl");
    cr_expect_eq(back.position, 0);
    json_decref(b);
    s = (assay_cp_stream){.op = ASSAY_CP_STREAM_DELETE, .consumer = "etl"};
    b = assay_cp_pack_stream(&s);
    cr_assert_eq(assay_cp_read_stream(b, &back, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(back.op, ASSAY_CP_STREAM_DELETE);
    cr_expect_str_eq(back.consumer, "etl");
    json_decref(b);
    s = (assay_cp_stream){.op = ASSAY_CP_STREAM_CONSUMERS};
    b = assay_cp_pack_stream(&s);
    cr_assert_eq(assay_cp_read_stream(b, &back, err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(back.op, ASSAY_CP_STREAM_CONSUMERS);
    cr_expect_null(back.consumer);
    json_decref(b);
    s.op = (assay_cp_stream_op)99;
    cr_expect_null(assay_cp_pack_stream(&s));
}

Test(cpmsg, stream_requests_are_checked)
{
    char err[256];
    assay_cp_stream s;
    /* Each with the field the refusal must name. */
    const char *bad[][2] = {
        {"{\"op\": \"seek\"}", "unknown op 'seek'"},
        {"{\"from\": -1}", "from:"},
        {"{\"from\": \"7\"}", "from:"},
        {"{\"from\": 1.5}", "from:"},
        {"{\"max\": 0}", "max:"},
        {"{\"max\": 1001}", "max:"},
        {"{\"max\": \"10\"}", "max:"},
        {"{\"wait_ms\": -1}", "wait_ms:"},
        {"{\"wait_ms\": 30001}", "wait_ms:"},
        {"{\"op\": \"ack\", \"consumer\": \"etl\"}", "position:"},
        {"{\"op\": \"ack\", \"consumer\": \"etl\", \"position\": -1}",
         "position:"},
        {"{\"op\": \"ack\", \"consumer\": \"etl\", \"position\": \"3\"}",
         "position:"},
        {"{\"op\": \"ack\", \"position\": 3}", "consumer:"},
        {"{\"op\": \"delete\"}", "consumer:"},
        {"{\"consumer\": \"a b\"}", "consumer:"},
        {"{\"consumer\": \"../x\"}", "consumer:"},
        {"{\"consumer\": \"\"}", "consumer:"},
        {"{\"consumer\": 7}", "consumer:"},
        {"{\"op\": \"delete\", \"consumer\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
         "consumer:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *b = json_loads(bad[i][0], 0, NULL);
        cr_assert_not_null(b, "%s", bad[i][0]);
        err[0] = '\0';
        cr_expect_eq(assay_cp_read_stream(b, &s, err, sizeof err),
                     ASSAY_EINVAL, "%s", bad[i][0]);
        cr_expect(strstr(err, bad[i][1]), "%s: %s", bad[i][0], err);
        json_decref(b);
    }
    /* 63 bytes is the longest name; a read's bounds do not bind an ack. */
    json_t *b = json_pack("{s:s, s:s, s:i, s:i}", "op", "ack", "consumer",
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                          "position", 9, "max", 0);
    cr_assert_eq(assay_cp_read_stream(b, &s, err, sizeof err), 0, "%s", err);
    cr_expect_eq(strlen(s.consumer), 63);
    cr_expect_eq(s.position, 9);
    json_decref(b);
}
