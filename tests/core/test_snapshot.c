/* tests/core/test_snapshot.c - snapshots made off the loop
 * (core/state/snapshotter.c) and their container (core/state/fsm.c): a
 * snapshot made by a forked child while commands keep being applied must
 * restore to the same state as a stop-the-world dump taken when it is
 * handed over; a damaged container is refused, naming what is wrong; the
 * typed records keep every field through both snapshot formats. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "state/fsm.h"
#include "state/snapshotter.h"
#include "state/state.h"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    cr_assert_not_null(v, "bad test JSON %s: %s", text, je.text);
    return v;
}

/* Applies a command as the member does: log bytes through the adapter,
 * then told to the snapshotter. */
static void apply(assay_state *st, assay_snapshotter *sn, json_t *cmd)
{
    char *enc, err[ASSAY_ERRMSG_SIZE];
    size_t len;
    json_t *res = NULL;
    cr_assert_eq(assay_codec_encode(cmd, &enc, &len), 0);
    json_decref(cmd);
    int rc = assay_fsm_apply(st, enc, len, &res, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    if (sn)
        assay_snapshotter_applied(sn, enc, len);
    json_decref(res);
    free(enc);
}

static void submit(assay_state *st, assay_snapshotter *sn, const char *spec,
                   int jobs)
{
    char text[256];
    snprintf(text, sizeof text,
             "{\"v\":1, \"op\":\"submit\", \"spec\":{\"id\":\"%s\", "
             "\"action\":\"noop.pass\", \"resolved\":\"1.0.0\", "
             "\"timeout_ms\":1000, \"max_attempts\":2, \"priority\":0}, "
             "\"jobs\":[]}",
             spec);
    json_t *cmd = J(text);
    for (int i = 0; i < jobs; i++) {
        char id[96];
        snprintf(id, sizeof id, "%s-%d", spec, i);
        json_array_append_new(json_object_get(cmd, "jobs"),
                              json_pack("{s:s, s:{s:i}}", "id", id, "params",
                                        "n", i));
    }
    apply(st, sn, cmd);
}

static void job_cmd(assay_state *st, assay_snapshotter *sn, const char *op,
                    const char *job, int attempt, int64_t at)
{
    json_t *it = json_pack("{s:s, s:i, s:s, s:s, s:I}", "job", job,
                           "attempt", attempt, "runtime", "rt-a", "version",
                           "1.0.0", "at", (json_int_t)at);
    if (!strcmp(op, "result"))
        json_object_set_new(it, "result", json_pack("{s:s}", "status",
                                                    "pass"));
    apply(st, sn, json_pack("{s:i, s:s, s:[o]}", "v", 1, "op", op, "items",
                            it));
}

/* A base state: a runtime, a level-2 cluster, 300 jobs, some run. */
static void base(assay_state *st)
{
    apply(st, NULL,
          J("{\"v\":1, \"op\":\"leader\", \"id\":\"m1\", \"endpoint\":"
            "\"tcp://a:1\", \"events\":\"tcp://a:2\", \"member\":1, "
            "\"level\":2}"));
    apply(st, NULL,
          J("{\"v\":1, \"op\":\"runtime\", \"id\":\"rt-a\", "
            "\"heartbeat_ms\":100, \"labels\":{}, \"capacity\":null, "
            "\"catalog\":{\"plugins\":[]}}"));
    for (int s = 0; s < 3; s++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", s);
        submit(st, NULL, id, 100);
    }
    for (int i = 0; i < 50; i++) {
        char id[16];
        snprintf(id, sizeof id, "s0-%d", i);
        job_cmd(st, NULL, "dispatch", id, 1, 1000 + i);
        job_cmd(st, NULL, "result", id, 1, 2000 + i);
    }
}

/* Asks until the snapshot is ready, at most 10 s. */
static int take(assay_snapshotter *sn, assay_state *st, void **buf,
                size_t *len)
{
    int rc = ASSAY_EBUSY;
    for (int i = 0; i < 1000 && rc == ASSAY_EBUSY; i++) {
        rc = assay_snapshotter_take(sn, st, buf, len);
        if (rc == ASSAY_EBUSY)
            nanosleep(&(struct timespec){0, 10000000L}, NULL);
    }
    return rc;
}

static void expect_same(const assay_state *a, const assay_state *b);

/* The snapshot restores, into a fresh state, to the same state as st. */
static void expect_restores_as(const assay_state *st, const void *buf,
                               size_t len)
{
    assay_state *back = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_fsm_restore(back, buf, len, err, sizeof err), 0, "%s",
                 err);
    expect_same(st, back);
    assay_state_destroy(&back);
}

static void expect_same(const assay_state *a, const assay_state *b)
{
    json_t *da = assay_state_dump(a), *db = assay_state_dump(b);
    char *ta = json_dumps(da, JSON_SORT_KEYS | JSON_COMPACT),
         *tb = json_dumps(db, JSON_SORT_KEYS | JSON_COMPACT);
    cr_expect(json_equal(da, db), "\n  live:     %.2000s\n  restored: %.2000s",
              ta, tb);
    free(ta);
    free(tb);
    json_decref(da);
    json_decref(db);
}

Test(snapshot, made_while_commands_apply_restores_as_a_stop_the_world_dump)
{
    assay_state *st = assay_state_new(NULL, NULL);
    assay_snapshotter *sn = assay_snapshotter_new();
    base(st);
    void *buf;
    size_t len;
    /* The first ask forks the child and comes back at once. */
    cr_assert_eq(assay_snapshotter_take(sn, st, &buf, &len), ASSAY_EBUSY);
    /* Meanwhile the member goes on: every kind of change. */
    submit(st, sn, "late", 20);
    for (int i = 50; i < 80; i++) {
        char id[16];
        snprintf(id, sizeof id, "s0-%d", i);
        job_cmd(st, sn, "dispatch", id, 1, 3000 + i);
        if (i % 2)
            job_cmd(st, sn, "result", id, 1, 4000 + i);
        else
            job_cmd(st, sn, "requeue", id, 1, 4000 + i);
    }
    apply(st, sn, J("{\"v\":1, \"op\":\"cancel\", \"jobs\":[\"s1-0\", "
                    "\"s1-1\", \"late-3\"], \"at\":5000}"));
    apply(st, sn, J("{\"v\":1, \"op\":\"expire\", \"jobs\":[\"s0-0\", "
                    "\"s0-1\", \"s0-2\"]}"));
    apply(st, sn, J("{\"v\":1, \"op\":\"runtime_state\", \"id\":\"rt-a\", "
                    "\"alive\":false}"));
    cr_assert_eq(take(sn, st, &buf, &len), 0);
    cr_expect(len > ASSAY_SNAPSHOT_HEADER &&
              !memcmp(buf, ASSAY_SNAPSHOT_MAGIC, 8));
    assay_state *back = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_fsm_restore(back, buf, len, err, sizeof err), 0, "%s",
                 err);
    expect_same(st, back);
    cr_expect_null(assay_state_job(back, "s0-1"));
    cr_expect_eq(assay_state_job(back, "late-3")->state, ASSAY_JOB_CANCELLED);
    assay_snapshot_free(buf, len);

    /* The next one starts afresh: nothing of the last tail is in it. */
    cr_assert_eq(take(sn, st, &buf, &len), 0);
    expect_restores_as(st, buf, len);
    assay_snapshot_free(buf, len);
    assay_state_destroy(&back);
    assay_snapshotter_destroy(&sn);
    assay_state_destroy(&st);
}

/* A restore meanwhile makes what was being made stale: reset drops it,
 * and the next ask forks anew. */
Test(snapshot, reset_drops_a_snapshot_being_made)
{
    assay_state *st = assay_state_new(NULL, NULL);
    assay_snapshotter *sn = assay_snapshotter_new();
    base(st);
    void *buf;
    size_t len;
    cr_assert_eq(assay_snapshotter_take(sn, st, &buf, &len), ASSAY_EBUSY);
    assay_snapshotter_reset(sn);
    cr_assert_eq(assay_snapshotter_take(sn, st, &buf, &len), ASSAY_EBUSY);
    cr_assert_eq(take(sn, st, &buf, &len), 0);
    expect_restores_as(st, buf, len);
    assay_snapshot_free(buf, len);
    assay_snapshotter_destroy(&sn); /* with no child: nothing to reap */
    assay_state_destroy(&st);
}

/* A damaged container changes nothing it cannot finish, and says why. */
Test(snapshot, damaged_container_is_refused)
{
    assay_state *st = assay_state_new(NULL, NULL);
    assay_snapshotter *sn = assay_snapshotter_new();
    base(st);
    void *buf;
    size_t len;
    cr_assert_eq(assay_snapshotter_take(sn, st, &buf, &len), ASSAY_EBUSY);
    job_cmd(st, sn, "dispatch", "s2-0", 1, 9000);
    cr_assert_eq(take(sn, st, &buf, &len), 0);
    unsigned char *copy = malloc(len + 1);
    char err[ASSAY_ERRMSG_SIZE];
    assay_state *back = assay_state_new(NULL, NULL);
    memcpy(copy, buf, len);
    /* Cut anywhere in the tail. */
    cr_expect_eq(assay_fsm_restore(back, copy, len - 1, err, sizeof err),
                 ASSAY_EPARSE);
    cr_expect(strstr(err, "truncated"), "%s", err);
    /* A byte too many. */
    copy[len] = 0;
    cr_expect_eq(assay_fsm_restore(back, copy, len + 1, err, sizeof err),
                 ASSAY_EPARSE);
    cr_expect(strstr(err, "past its end"), "%s", err);
    /* A newer container version. */
    copy[8] = 2;
    cr_expect_eq(assay_fsm_restore(back, copy, len, err, sizeof err),
                 ASSAY_EUNSUPP);
    cr_expect(strstr(err, "version"), "%s", err);
    copy[8] = 1;
    /* A base length past the end. */
    copy[23] = 0x7f;
    cr_expect_eq(assay_fsm_restore(back, copy, len, err, sizeof err),
                 ASSAY_EPARSE);
    free(copy);
    assay_snapshot_free(buf, len);
    assay_state_destroy(&back);
    assay_snapshotter_destroy(&sn);
    assay_state_destroy(&st);
}

/* A cluster still at level 1 may have members of the previous release,
 * which read format 1 only: its snapshots are format 1 (no container),
 * with the history in fields that release ignores, and lose nothing. */
Test(snapshot, at_level_1_the_previous_release_s_format)
{
    assay_state *st = assay_state_new(NULL, NULL);
    apply(st, NULL,
          J("{\"v\":1, \"op\":\"leader\", \"id\":\"m1\", \"endpoint\":"
            "\"tcp://a:1\", \"events\":\"tcp://a:2\", \"member\":1}"));
    apply(st, NULL,
          J("{\"v\":1, \"op\":\"runtime\", \"id\":\"rt-a\", "
            "\"heartbeat_ms\":100, \"labels\":{}, \"capacity\":null, "
            "\"catalog\":{\"plugins\":[]}}"));
    submit(st, NULL, "s", 3);
    job_cmd(st, NULL, "dispatch", "s-0", 1, 1000);
    job_cmd(st, NULL, "requeue", "s-0", 1, 1100);
    job_cmd(st, NULL, "dispatch", "s-1", 1, 1200);
    job_cmd(st, NULL, "result", "s-1", 1, 1300);
    cr_assert_eq(assay_state_level(st), 1);
    char *buf;
    size_t len;
    cr_assert_eq(assay_fsm_snapshot(st, &buf, &len), 0);
    json_t *dump;
    cr_assert_eq(assay_codec_decode(buf, len, &dump, NULL, 0), 0);
    cr_expect_eq(json_integer_value(json_object_get(dump, "v")), 1);
    cr_expect_eq(json_array_size(json_object_get(dump, "jobs")), 3,
                 "format 1 lists the jobs apart");
    json_decref(dump);
    expect_restores_as(st, buf, len);
    free(buf);
    assay_state_destroy(&st);
}

/* Records are typed at apply (C fields, params and results kept as
 * msgpack): what was submitted and reported is what views show, before
 * and after a snapshot, in both formats. */
Test(snapshot, typed_records_keep_what_the_log_said)
{
    static const char *spec_text =
        "{\"id\":\"t\", \"action\":\"demo.check\", \"version\":\"^1\", "
        "\"resolved\":\"1.2.0\", \"labels\":{\"team\":\"sec\"}, "
        "\"selector\":{\"os\":\"linux\"}, \"timeout_ms\":1500, "
        "\"max_attempts\":3, \"priority\":7, \"memory_mb\":64, "
        "\"retain_seconds\":3600}";
    static const char *params_text =
        "{\"path\":\"/etc/\\u00e9\", \"n\":-5, \"ratio\":0.25, "
        "\"deep\":{\"list\":[1, \"two\", null, true]}}";
    static const char *result_text =
        "{\"status\":\"fail\", \"findings\":[{\"id\":\"f1\"}], "
        "\"data\":{\"k\":\"v\"}}";
    for (int level = 1; level <= 2; level++) {
        assay_state *st = assay_state_new(NULL, NULL);
        char lead[256];
        snprintf(lead, sizeof lead,
                 "{\"v\":1, \"op\":\"leader\", \"id\":\"m1\", \"endpoint\":"
                 "\"tcp://a:1\", \"events\":\"tcp://a:2\", \"member\":1, "
                 "\"level\":%d}",
                 level);
        apply(st, NULL, J(lead));
        json_t *cmd = json_pack("{s:i, s:s, s:o, s:[{s:s, s:o}]}", "v", 1,
                                "op", "submit", "spec", J(spec_text), "jobs",
                                "id", "t-0", "params", J(params_text));
        apply(st, NULL, cmd);
        job_cmd(st, NULL, "dispatch", "t-0", 1, 1000);
        apply(st, NULL,
              json_pack("{s:i, s:s, s:[{s:s, s:i, s:o, s:s, s:I}]}", "v", 1,
                        "op", "result", "items", "job", "t-0", "attempt", 1,
                        "result", J(result_text), "runtime", "rt-a", "at",
                        (json_int_t)2000));
        char *buf;
        size_t len;
        cr_assert_eq(assay_fsm_snapshot(st, &buf, &len), 0);
        assay_state *back = assay_state_new(NULL, NULL);
        char err[ASSAY_ERRMSG_SIZE] = "";
        cr_assert_eq(assay_fsm_restore(back, buf, len, err, sizeof err), 0,
                     "%s", err);
        free(buf);
        assay_state *states[] = {st, back};
        for (int k = 0; k < 2; k++) {
            const assay_job *j = assay_state_job(states[k], "t-0");
            cr_assert_not_null(j);
            json_t *spec = assay_spec_json(j->spec);
            json_t *want_spec = J(spec_text);
            /* Params are kept as the log held them; the dump shows them. */
            json_t *dump = assay_state_dump(states[k]);
            json_t *params = json_incref(json_object_get(
                json_array_get(
                    json_object_get(
                        json_array_get(json_object_get(dump, "specs"), 0),
                        "jobs"),
                    0),
                "params"));
            json_decref(dump);
            json_t *want_params = J(params_text);
            json_t *view =
                assay_job_json(j, ASSAY_JOB_RESULT | ASSAY_JOB_HISTORY);
            json_t *want_result = J(result_text);
            cr_expect(json_equal(spec, want_spec), "level %d, %s: spec",
                      level, k ? "restored" : "applied");
            cr_expect(json_equal(params, want_params), "params");
            cr_expect(json_equal(json_object_get(view, "result"),
                                 want_result),
                      "result");
            cr_expect_str_eq(json_string_value(json_object_get(view,
                                                               "action")),
                             "demo.check");
            cr_expect_eq(json_array_size(json_object_get(view, "attempts")),
                         1);
            cr_expect_eq(j->spec->memory_mb, 64);
            cr_expect_eq(j->spec->retain_ms, 3600000);
            json_decref(spec);
            json_decref(want_spec);
            json_decref(params);
            json_decref(want_params);
            json_decref(view);
            json_decref(want_result);
        }
        assay_state_destroy(&back);
        assay_state_destroy(&st);
    }
}

/* A reason longer than a note holds is cut between characters: the job's
 * view (decoded from what the record packs) stays valid UTF-8. */
Test(snapshot, long_reasons_are_cut_between_characters)
{
    assay_state *st = assay_state_new(NULL, NULL);
    submit(st, NULL, "u", 1);
    job_cmd(st, NULL, "dispatch", "u-0", 1, 1000);
    char reason[601] = "";
    for (int i = 0; i < 200; i++)
        strcat(reason, "\xc3\xa9"); /* é: 2 bytes, 255 falls inside one */
    apply(st, NULL,
          json_pack("{s:i, s:s, s:[{s:s, s:i, s:s, s:I}]}", "v", 1, "op",
                    "requeue", "items", "job", "u-0", "attempt", 1, "reason",
                    reason, "at", (json_int_t)1100));
    json_t *view = assay_job_json(assay_state_job(st, "u-0"), 0);
    cr_assert_not_null(view, "the view of a job with a long reason");
    const char *r = json_string_value(json_object_get(view, "reason"));
    cr_assert_not_null(r);
    cr_expect_eq(strlen(r), 254);
    cr_expect_eq(strncmp(r, reason, 254), 0);
    json_decref(view);
    assay_state_destroy(&st);
}

static void s_runtime(assay_state *st, const char *id, const char *plugin)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"v\":1, \"op\":\"runtime\", \"id\":\"%s\", "
             "\"heartbeat_ms\":100, \"labels\":{}, \"capacity\":null, "
             "\"catalog\":{\"plugins\":[{\"name\":\"%s\", \"version\":"
             "\"1.0.0\", \"actions\":[]}]}}",
             id, plugin);
    apply(st, NULL, J(text));
}

static const json_t *s_catalog(const assay_state *st, const char *id)
{
    return json_object_get(assay_state_runtime(st, id)->info, "catalog");
}

/* Runtimes that advertise the same plugins share one catalogue in every
 * member's memory, through registrations, updates and a restore, and a
 * runtime that changes its plugins gets a catalogue of its own. */
Test(snapshot, identical_catalogues_are_held_once)
{
    assay_state *st = assay_state_new(NULL, NULL);
    s_runtime(st, "rt-a", "file");
    s_runtime(st, "rt-b", "file");
    s_runtime(st, "rt-c", "exec");
    cr_expect_eq(s_catalog(st, "rt-a"), s_catalog(st, "rt-b"));
    cr_expect_neq(s_catalog(st, "rt-a"), s_catalog(st, "rt-c"));
    s_runtime(st, "rt-b", "exec"); /* its plugins changed */
    cr_expect_eq(s_catalog(st, "rt-b"), s_catalog(st, "rt-c"));
    cr_expect_neq(s_catalog(st, "rt-a"), s_catalog(st, "rt-b"));
    cr_expect_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(s_catalog(st, "rt-a"),
                                                        "plugins"),
                                        0),
                         "name")),
                     "file");

    char *buf, err[ASSAY_ERRMSG_SIZE];
    size_t len;
    cr_assert_eq(assay_fsm_snapshot(st, &buf, &len), 0);
    assay_state *copy = assay_state_new(NULL, NULL);
    cr_assert_eq(assay_fsm_restore(copy, buf, len, err, sizeof err), 0, "%s",
                 err);
    free(buf);
    cr_expect_eq(s_catalog(copy, "rt-b"), s_catalog(copy, "rt-c"));
    cr_expect_neq(s_catalog(copy, "rt-a"), s_catalog(copy, "rt-b"));
    assay_state_destroy(&copy);
    assay_state_destroy(&st);
}
