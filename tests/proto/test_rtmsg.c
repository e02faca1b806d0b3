/* tests/proto/test_rtmsg.c - core/proto/rtmsg.c on its own: what the
 * member packs for a runtime, and a runtime for the member, reads back
 * the same, and the readers take hostile items apart without trusting
 * them. */
#include <criterion/criterion.h>
#include <string.h>

#include "base/codec.h"
#include "cluster/registration.h"
#include "proto/rtmsg.h"

/* What a packer wrote, decoded as the other side's link decodes it. */
static json_t *decoded(msgpack_sbuffer *sb)
{
    json_t *v = NULL;
    char err[256];
    cr_assert_eq(assay_codec_decode(sb->data, sb->size, &v, err, sizeof err),
                 0, "%s", err);
    msgpack_sbuffer_destroy(sb);
    return v;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    cr_assert_not_null(v, "%s", e.text);
    return v;
}

Test(rtmsg, a_dispatch_reads_back_as_packed)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* params as the log holds them: {"path": "/etc/passwd"} */
    const char params[] = "\x81\xa4path\xab/etc/passwd";
    assay_rtmsg_pack_dispatch(&pk, &(assay_rtmsg_dispatch){
                                       .job = "spec-0",
                                       .attempt = 2,
                                       .action = "file.exists",
                                       .version = "1.0.0",
                                       .params = params,
                                       .params_len = sizeof params - 1,
                                       .timeout_ms = 30000});
    json_t *item = decoded(&sb);
    assay_rtmsg_dispatch d;
    cr_assert(assay_rtmsg_read_dispatch(item, &d));
    cr_expect_str_eq(d.job, "spec-0");
    cr_expect_eq(d.attempt, 2);
    cr_expect_str_eq(d.action, "file.exists");
    cr_expect_str_eq(d.version, "1.0.0");
    cr_expect_eq(d.timeout_ms, 30000);
    cr_expect_str_eq(json_string_value(json_object_get(d.params_json,
                                                       "path")),
                     "/etc/passwd");
    json_decref(item);
}

Test(rtmsg, acks_read_back_with_their_staleness)
{
    for (int stale = 0; stale < 2; stale++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        assay_rtmsg_pack_attempt(&pk, &(assay_rtmsg_attempt){"j-1", 3, stale});
        json_t *item = decoded(&sb);
        cr_expect_eq(json_object_size(item), 2u + (unsigned)stale,
                     "a fresh ack carries no stale field");
        assay_rtmsg_attempt a;
        cr_assert(assay_rtmsg_read_attempt(item, &a));
        cr_expect_str_eq(a.job, "j-1");
        cr_expect_eq(a.attempt, 3);
        cr_expect_eq(a.stale, stale);
        json_decref(item);
    }
}

Test(rtmsg, malformed_dispatches_are_refused)
{
    char longest[200];
    memset(longest, 'j', ASSAY_RTMSG_JOB_MAX + 1);
    longest[ASSAY_RTMSG_JOB_MAX + 1] = '\0';
    json_t *fine = parse("{\"job\": \"a-0\", \"attempt\": 1, \"timeout_ms\": "
                         "5, \"params\": {}}");
    assay_rtmsg_dispatch d;
    cr_expect(assay_rtmsg_read_dispatch(fine, &d));
    cr_expect_null(d.action, "absent: NULL, for the runtime to refuse");
    const char *bad[][2] = {{"job", NULL},
                            {"attempt", "0"},
                            {"timeout_ms", "0"},
                            {"params", "[]"},
                            {"job", "7"},
                            {"attempt", "\"1\""}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *item = json_deep_copy(fine);
        if (bad[i][1])
            json_object_set_new(item, bad[i][0], parse(bad[i][1]));
        else
            json_object_del(item, bad[i][0]);
        cr_expect_not(assay_rtmsg_read_dispatch(item, &d), "%s: %s",
                      bad[i][0], bad[i][1] ? bad[i][1] : "(absent)");
        json_decref(item);
    }
    json_object_set_new(fine, "job", json_string(longest));
    cr_expect_not(assay_rtmsg_read_dispatch(fine, &d), "job id too long");
    longest[ASSAY_RTMSG_JOB_MAX] = '\0';
    json_object_set_new(fine, "job", json_string(longest));
    cr_expect(assay_rtmsg_read_dispatch(fine, &d), "the longest job id");
    json_decref(fine);
    assay_rtmsg_attempt a;
    json_t *nojob = parse("{\"attempt\": 1}");
    cr_expect_not(assay_rtmsg_read_attempt(nojob, &a));
    json_decref(nojob);
}

Test(rtmsg, alive_fields_say_nothing_when_absent_or_negative)
{
    json_t *b = parse("{\"limit\": 12, \"mem_available_mb\": 800, \"why\": "
                      "\"cpu 99% > 95%\", \"running\": [{\"job\": \"a-0\", "
                      "\"attempt\": 1}]}");
    assay_rtmsg_alive a;
    assay_rtmsg_read_alive(b, &a);
    cr_expect_eq(a.limit, 12);
    cr_expect_eq(a.mem_available_mb, 800);
    cr_expect_str_eq(a.why, "cpu 99% > 95%");
    cr_expect_eq(json_array_size(a.running), 1);
    json_decref(b);
    b = parse("{\"limit\": -4, \"mem_available_mb\": \"lots\", \"why\": 3, "
              "\"running\": {}}");
    assay_rtmsg_read_alive(b, &a);
    cr_expect_eq(a.limit, -1);
    cr_expect_eq(a.mem_available_mb, -1);
    cr_expect_null(a.why);
    cr_expect_null(a.running, "not an array: nothing held");
    json_decref(b);
}

Test(rtmsg, a_result_that_is_not_a_map_is_none)
{
    json_t *b = parse("{\"job\": \"a-0\", \"attempt\": 2, \"result\": "
                      "\"pass\"}");
    assay_rtmsg_result r;
    assay_rtmsg_read_result(b, &r);
    cr_expect_str_eq(r.job, "a-0");
    cr_expect_eq(r.attempt, 2);
    cr_expect_null(r.result);
    json_object_set_new(b, "result", parse("{\"status\": \"pass\"}"));
    assay_rtmsg_read_result(b, &r);
    cr_expect_str_eq(json_string_value(json_object_get(r.result, "status")),
                     "pass");
    json_decref(b);
}

/* What a runtime packs is what the member reads: a registration the
 * member's checks accept, a heartbeat's credit and running list, and
 * result reports. */
Test(rtmsg, a_runtime_s_messages_read_back_as_packed)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    json_t *labels = parse("{\"zone\": \"a\"}");
    json_t *catalog = parse("{\"plugins\": [], \"refused\": []}");
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assay_rtmsg_pack_register(&pk,
                              &(assay_rtmsg_register){.id = "rt1",
                                                      .heartbeat_ms = 1000,
                                                      .labels = labels,
                                                      .slots = 4,
                                                      .memory_mb = 512,
                                                      .catalog = catalog},
                              1);
    assay_rtmsg_pack_attempt(&pk, &(assay_rtmsg_attempt){"a-0", 2, false});
    json_t *reg = decoded(&sb);
    const char *fault = assay_registration_fault(reg);
    cr_expect_null(fault, "%s", fault);
    cr_expect(json_is_true(json_object_get(reg, "acks_in_dispatch")));
    assay_rtmsg_alive a;
    assay_rtmsg_read_alive(reg, &a);
    assay_rtmsg_attempt held;
    cr_assert(assay_rtmsg_read_attempt(json_array_get(a.running, 0), &held));
    cr_expect_str_eq(held.job, "a-0");
    cr_expect_eq(held.attempt, 2);
    json_decref(reg);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assay_rtmsg_pack_heartbeat(&pk,
                               &(assay_rtmsg_credit){.id = "rt1",
                                                     .limit = 9,
                                                     .mem_available_mb = -1,
                                                     .why = NULL},
                               0);
    json_t *hb = decoded(&sb);
    assay_rtmsg_read_alive(hb, &a);
    cr_expect_eq(a.limit, 9);
    cr_expect_eq(a.mem_available_mb, -1, "not sent: not said");
    cr_expect_null(a.why);
    cr_expect_eq(json_array_size(a.running), 0);
    cr_expect_str_eq(json_string_value(json_object_get(hb, "id")), "rt1");
    json_decref(hb);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assay_rtmsg_pack_results(&pk, "rt1", 12, 1);
    assay_rtmsg_pack_report(&pk, "a-0", 2);
    assay_codec_pack(&pk, labels); /* any map stands for a result */
    json_t *res = decoded(&sb);
    assay_rtmsg_read_alive(res, &a);
    cr_expect_eq(a.limit, 12);
    assay_rtmsg_result r;
    assay_rtmsg_read_result(
        json_array_get(json_object_get(res, "results"), 0), &r);
    cr_expect_str_eq(r.job, "a-0");
    cr_expect_eq(r.attempt, 2);
    cr_expect(json_equal(r.result, labels));
    json_decref(res);

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    assay_rtmsg_pack_catalog(&pk, "rt1", catalog);
    json_t *cat = decoded(&sb);
    cr_expect(json_equal(json_object_get(cat, "catalog"), catalog));
    json_decref(cat);
    json_decref(labels);
    json_decref(catalog);
}
