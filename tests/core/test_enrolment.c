/* tests/core/test_enrolment.c - enrolment in the replicated state
 * (core/state/enrolment.c) and its tokens (core/proto/token.c): a token
 * is used once, only with its hash and before it expires; revoking
 * removes a key or a token; both are bounded; snapshots carry them from
 * format 4 on only; and tokens are read back as they are written, with
 * anything else refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "proto/token.h"
#include "state/command.h"
#include "state/fsm.h"
#include "state/state.h"

#define KEY_A "rq:rM>}U?@Lns47E1-kR.o@n-FcmmsL/@{H8]yf7"
#define KEY_B "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
#define HASH(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define HASH_A HASH("a1")
#define HASH_B HASH("b2")

static int apply_cmd(assay_state *st, assay_cmd *cmd, json_t **res)
{
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_not_null(cmd);
    int rc = assay_fsm_apply(st, assay_cmd_data(cmd), assay_cmd_size(cmd),
                             res, err, sizeof err);
    assay_cmd_destroy(&cmd);
    return rc;
}

static int apply(assay_state *st, assay_cmd *cmd)
{
    json_t *res = NULL;
    int rc = apply_cmd(st, cmd, &res);
    json_decref(res);
    return rc;
}

static assay_state *at_level(int level)
{
    assay_state *st = assay_state_new(NULL, NULL);
    cr_assert_eq(apply(st, assay_cmd_leader("m1", "tcp://a:1", "tcp://a:2",
                                            1, level)),
                 0);
    return st;
}

static assay_cmd *token(const char *name, const char *hash, int64_t expires,
                        int64_t at)
{
    return assay_cmd_token(name, "runtime", hash, expires, at, "alice",
                           "admin");
}

/* rt-7 enrolled with KEY_A, a token pending for rt-8. */
static assay_state *enrolled_and_pending(void)
{
    assay_state *st = at_level(ASSAY_LEVEL_ENROLMENT);
    cr_assert_eq(apply(st, token("rt-7", HASH_A, 5000, 1000)), 0);
    cr_assert_eq(apply(st, assay_cmd_enrol("rt-7", KEY_A, HASH_A, 1100)), 0);
    cr_assert_eq(apply(st, token("rt-8", HASH_B, 5000, 1200)), 0);
    return st;
}

Test(enrolment, a_token_is_used_once_with_its_hash_before_it_expires)
{
    assay_state *st = at_level(ASSAY_LEVEL_ENROLMENT);
    cr_assert_eq(apply(st, token("rt-7", HASH_A, 5000, 1000)), 0);
    cr_expect_eq(assay_state_tokens_live(st, 1000), 1);
    /* Another hash (a token made anew meanwhile, a guess): refused. */
    cr_expect_eq(apply(st, assay_cmd_enrol("rt-7", KEY_A, HASH_B, 2000)),
                 ASSAY_EPERM);
    /* Past its time: refused. */
    cr_expect_eq(apply(st, assay_cmd_enrol("rt-7", KEY_A, HASH_A, 5000)),
                 ASSAY_EPERM);
    cr_expect_null(assay_state_enrolled(st, "rt-7"));
    json_t *res = NULL;
    cr_assert_eq(apply_cmd(st, assay_cmd_enrol("rt-7", KEY_A, HASH_A, 4999),
                           &res),
                 0);
    cr_expect_str_eq(json_string_value(json_object_get(res, "role")),
                     "runtime");
    json_decref(res);
    const assay_enrolled_rec *e = assay_state_enrolled(st, "rt-7");
    cr_assert_not_null(e);
    cr_expect_str_eq(e->key, KEY_A);
    cr_expect_str_eq(e->by_name, "alice");
    cr_expect_eq(assay_state_enrolled_key(st, KEY_A), e);
    /* Used: a replay is refused, even from another key. */
    cr_expect_null(assay_state_token(st, "rt-7"));
    cr_expect_eq(apply(st, assay_cmd_enrol("rt-7", KEY_B, HASH_A, 4999)),
                 ASSAY_EPERM);
    /* A name enrolled gets no new token until revoked. */
    cr_expect_eq(apply(st, token("rt-7", HASH_B, 9000, 6000)), ASSAY_EEXIST);
    /* One key, one name. */
    cr_assert_eq(apply(st, token("rt-8", HASH_B, 9000, 6000)), 0);
    cr_expect_eq(apply(st, assay_cmd_enrol("rt-8", KEY_A, HASH_B, 6001)),
                 ASSAY_EEXIST);
    assay_state_destroy(&st);
}

Test(enrolment, revoking_removes_a_key_or_a_token)
{
    assay_state *st = enrolled_and_pending();
    uint64_t gen = assay_state_keys_gen(st);
    json_t *res = NULL;
    cr_assert_eq(apply_cmd(st, assay_cmd_unenrol("rt-7", 1300, NULL, NULL),
                           &res),
                 0);
    cr_expect_str_eq(json_string_value(json_object_get(res, "was")), "key");
    json_decref(res);
    cr_expect_neq(assay_state_keys_gen(st), gen);
    cr_expect_null(assay_state_enrolled(st, "rt-7"));
    cr_expect_null(assay_state_enrolled_key(st, KEY_A));
    cr_assert_eq(apply(st, assay_cmd_unenrol("rt-8", 1300, NULL, NULL)), 0);
    cr_expect_eq(apply(st, assay_cmd_enrol("rt-8", KEY_B, HASH_B, 1400)),
                 ASSAY_EPERM);
    cr_expect_eq(apply(st, assay_cmd_unenrol("rt-9", 1300, NULL, NULL)),
                 ASSAY_ENOENT);
    /* Revoked, a name may be enrolled again, with another key. */
    cr_assert_eq(apply(st, token("rt-7", HASH_B, 9000, 2000)), 0);
    cr_expect_eq(apply(st, assay_cmd_enrol("rt-7", KEY_B, HASH_B, 2100)), 0);
    assay_state_destroy(&st);
}

Test(enrolment, pending_tokens_are_bounded_and_expired_ones_fall_out)
{
    assay_state *st = at_level(ASSAY_LEVEL_ENROLMENT);
    char name[32];
    for (int i = 0; i < ASSAY_TOKENS_MAX; i++) {
        snprintf(name, sizeof name, "t%d", i);
        cr_assert_eq(apply(st, token(name, HASH_A, 5000, 1000)), 0);
    }
    cr_expect_eq(apply(st, token("one-more", HASH_A, 5000, 1000)),
                 ASSAY_ERANGE);
    /* Replacing one of the same name is no new one. */
    cr_expect_eq(apply(st, token("t0", HASH_B, 6000, 1000)), 0);
    cr_expect_str_eq(assay_state_token(st, "t0")->hash, HASH_B);
    /* Once they expired, the next token drops them. */
    cr_expect_eq(apply(st, token("late", HASH_A, 9000, 5000)), 0);
    cr_expect_null(assay_state_token(st, "t1"));
    cr_expect_not_null(assay_state_token(st, "t0")); /* until 6000 */
    cr_expect_eq(assay_state_tokens_live(st, 5000), 2);
    assay_state_destroy(&st);
}

Test(enrolment, ops_wait_for_level_5_and_refuse_malformed_records)
{
    assay_state *st = at_level(ASSAY_LEVEL_ATTRIBUTION);
    cr_expect_eq(apply(st, token("rt-7", HASH_A, 5000, 1000)), ASSAY_EUNSUPP);
    assay_state_destroy(&st);
    st = at_level(ASSAY_LEVEL_ENROLMENT);
    cr_expect_eq(apply(st, token("rt/7", HASH_A, 5000, 1000)), ASSAY_EINVAL);
    cr_expect_eq(apply(st, token("rt-7", "abc", 5000, 1000)), ASSAY_EINVAL);
    cr_expect_eq(apply(st, token("rt-7", HASH_A, 0, 1000)), ASSAY_EINVAL);
    cr_expect_eq(apply(st, assay_cmd_token("rt-7", "member", HASH_A, 5000,
                                           1000, NULL, NULL)),
                 ASSAY_EINVAL);
    cr_assert_eq(apply(st, token("rt-7", HASH_A, 5000, 1000)), 0);
    cr_expect_eq(apply(st, assay_cmd_enrol("rt-7", "not-a-key", HASH_A,
                                           1100)),
                 ASSAY_EINVAL);
    cr_expect_not_null(assay_state_token(st, "rt-7"));
    assay_state_destroy(&st);
}

Test(enrolment, snapshots_carry_them_from_format_4)
{
    assay_state *st = enrolled_and_pending();
    char *buf;
    size_t len;
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_fsm_snapshot(st, &buf, &len), 0);
    assay_state *back = assay_state_new(NULL, NULL);
    cr_assert_eq(assay_fsm_restore(back, buf, len, err, sizeof err), 0, "%s",
                 err);
    free(buf);
    cr_expect_str_eq(assay_state_enrolled(back, "rt-7")->key, KEY_A);
    cr_expect_str_eq(assay_state_token(back, "rt-8")->hash, HASH_B);
    cr_expect_eq(assay_state_enrolled_key(back, KEY_A),
                 assay_state_enrolled(back, "rt-7"));
    json_t *a = assay_state_dump(st), *b = assay_state_dump(back);
    cr_expect(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    /* Format 3 (what the release before reads) has none. */
    json_t *v3 = assay_state_dump_format(st, 3);
    cr_expect_null(json_object_get(v3, "keys"));
    json_decref(v3);
    /* A key listed twice does not load. */
    json_t *dump = assay_state_dump(st);
    json_t *enrolled = json_object_get(json_object_get(dump, "keys"),
                                       "enrolled");
    json_array_append(enrolled, json_array_get(enrolled, 0));
    cr_expect_eq(assay_state_load(back, dump, err, sizeof err), ASSAY_EINVAL);
    json_decref(dump);
    assay_state_destroy(&back);
    assay_state_destroy(&st);
}

Test(enrolment, tokens_read_back_and_nothing_else_does)
{
    char text[ASSAY_TOKEN_TEXT_SIZE], hash[ASSAY_TOKEN_HASH_HEX],
        key[41], secret[ASSAY_TOKEN_SECRET_HEX], again[ASSAY_TOKEN_HASH_HEX],
        err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_token_new(KEY_A, text, hash), 0);
    cr_expect_eq(strlen(text), ASSAY_TOKEN_TEXT_SIZE - 1);
    cr_assert_eq(assay_token_read(text, key, secret, err, sizeof err), 0,
                 "%s", err);
    cr_expect_str_eq(key, KEY_A);
    cr_assert_eq(assay_token_hash(secret, again), 0);
    cr_expect_str_eq(again, hash);
    /* Two tokens never share a secret. */
    char other[ASSAY_TOKEN_TEXT_SIZE], other_hash[ASSAY_TOKEN_HASH_HEX];
    cr_assert_eq(assay_token_new(KEY_A, other, other_hash), 0);
    cr_expect_str_neq(other_hash, hash);
    cr_expect_eq(assay_token_new("short", text, hash), ASSAY_EINVAL);
    const char *bad[] = {"", "assay1-", "assay2-00", text + 1,
                         "assay1-zz5013e75042a0e909c99e5f5e360a07821f67d97bd"
                         "2d67d9adca8f3f71fbf003d04c067e5c4b011ecc1ef2590ef5c"
                         "57"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(assay_token_read(bad[i], key, secret, err, sizeof err),
                     ASSAY_EINVAL, "%s", bad[i]);
    cr_expect_eq(assay_token_hash("0123", again), ASSAY_EINVAL);
    cr_expect_eq(assay_token_hash("zz0123456789abcdef0123456789abcd", again),
                 ASSAY_EINVAL);
}
