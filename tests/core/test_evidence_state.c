/* tests/core/test_evidence_state.c - what the state keeps as evidence (level
 * 8): each ended job's stream position (in order, gone when it is
 * forgotten, new when it ends again), the host it ran on and its
 * plugin's digest from the runtime's registration, drift across three
 * runs of a series (new, regressed with the evidence that changed,
 * fixed), a check per host, finding.* events, JobSpecs' title and
 * controls, the stream's durable consumers and what they hold back, and
 * all of it through a snapshot; nothing of it below level 8. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "state/command.h"
#include "state/fsm.h"
#include "statecmd.h"

#define SHA "5555555555555555555555555555555555555555555555555555555555555555"

/* Registers runtime `id` on host `machine` (its catalogue: noop 1.0.0
 * with a digest). */
static void runtime(assay_state *st, const char *id, const char *machine)
{
    sc_ok(st, json_pack("{s:i, s:s, s:s, s:i, s:{}, s:{s:i}, "
                        "s:{s:[{s:s, s:s, s:s, s:[]}], s:[]}, "
                        "s:{s:s, s:s, s:s, s:s}}",
                        "v", 1, "op", "runtime", "id", id, "heartbeat_ms",
                        1000, "labels", "capacity", "slots", 4, "catalog",
                        "plugins", "name", "noop", "version", "1.0.0",
                        "sha256", SHA, "actions", "refused", "host",
                        "hostname", id, "os", "Debian GNU/Linux 13",
                        "kernel", "Linux 6.1", "machine_id", machine));
}

/* JobSpec sid of series `series` (NULL: none), one job with params
 * {path: /etc/passwd}, run on `rt` to a result of `status` with evidence
 * actual = `actual`, at `at`. */
static void run(assay_state *st, const char *sid, const char *series,
                const char *rt, const char *status, const char *actual,
                int64_t at)
{
    char jid[80];
    snprintf(jid, sizeof jid, "%s-0", sid);
    json_t *spec = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:[{s:s, s:s}]}", "id", sid,
        "action", "noop.pass", "resolved", "1.0.0", "timeout_ms", 1000,
        "max_attempts", 1, "priority", 0, "title", "passwd mode", "controls",
        "catalog", "NIST_SP-800-53_rev5", "id", "ac-6.1");
    if (series)
        json_object_set_new(spec, "series", json_string(series));
    sc_ok(st, json_pack("{s:i, s:s, s:o, s:[{s:s, s:{s:s}}]}", "v", 1, "op",
                        "submit", "spec", spec, "jobs", "id", jid, "params",
                        "path", "/etc/passwd"));
    sc_ok(st, json_pack("{s:i, s:s, s:[{s:s, s:i, s:s, s:s, s:I}]}", "v", 1,
                        "op", "dispatch", "items", "job", jid, "attempt", 1,
                        "runtime", rt, "version", "1.0.0", "at",
                        (json_int_t)at));
    sc_ok(st, json_pack("{s:i, s:s, s:[{s:s, s:i, s:s, s:I, s:{s:s, "
                        "s:[{s:s, s:{s:s, s:s}}]}}]}",
                        "v", 1, "op", "result", "items", "job", jid,
                        "attempt", 1, "runtime", rt, "at",
                        (json_int_t)at + 10, "result", "status", status,
                        "findings", "state", status, "evidence", "actual",
                        actual, "expected", "0644"));
}

static const assay_end *end_of(assay_state *st, const char *sid)
{
    char jid[80];
    snprintf(jid, sizeof jid, "%s-0", sid);
    const assay_job *j = assay_state_job(st, jid);
    cr_assert_not_null(j, "%s", jid);
    return j->end;
}

/* The end record's changed keys as one text ("a b"). */
static void changed_text(const assay_end *e, char *out, size_t size)
{
    out[0] = '\0';
    json_t *v = NULL;
    if (!e->changed ||
        assay_codec_decode(e->changed, e->changed_len, &v, NULL, 0))
        return;
    size_t i;
    json_t *k;
    json_array_foreach(v, i, k) {
        if (i)
            strncat(out, " ", size - strlen(out) - 1);
        strncat(out, json_string_value(k), size - strlen(out) - 1);
    }
    json_decref(v);
}

Test(evidence_state, positions_follow_the_order_jobs_end_in)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_EVIDENCE);
    runtime(st, "rt-a", "m-a");
    run(st, "r1", NULL, "rt-a", "pass", "0644", 1000);
    run(st, "r2", NULL, "rt-a", "fail", "0600", 2000);
    sc_ok(st, json_pack("{s:i, s:s, s:{s:s, s:s, s:s, s:i, s:i, s:i}, "
                        "s:[{s:s, s:{}}]}",
                        "v", 1, "op", "submit", "spec", "id", "c", "action",
                        "noop.pass", "resolved", "1.0.0", "timeout_ms", 1000,
                        "max_attempts", 1, "priority", 0, "jobs", "id", "c-0",
                        "params"));
    sc_ok(st, json_pack("{s:i, s:s, s:[s], s:i}", "v", 1, "op", "cancel",
                        "jobs", "c-0", "at", 3000));
    cr_expect_eq(end_of(st, "r1")->pos, 1);
    cr_expect_eq(end_of(st, "r2")->pos, 2);
    cr_expect_eq(end_of(st, "c")->pos, 3);
    cr_expect_eq(assay_state_stream_end(st), 3);
    cr_expect_str_eq(assay_state_stream_after(st, 0)->id, "r1-0");
    cr_expect_str_eq(assay_state_stream_after(st, 1)->id, "r2-0");
    cr_expect_null(assay_state_stream_after(st, 3));
    /* Provenance: the host the runtime registered, the plugin's digest. */
    const assay_end *e = end_of(st, "r1");
    cr_assert_not_null(e->host);
    cr_expect_str_eq(e->host->machine_id, "m-a");
    cr_expect_str_eq(e->sha256, SHA);
    cr_expect_null(end_of(st, "c")->host); /* never ran */
    /* r2 forgotten: the stream goes from r1 to c. */
    sc_ok(st, json_pack("{s:i, s:s, s:[s]}", "v", 1, "op", "expire", "jobs",
                        "r2-0"));
    cr_expect_str_eq(assay_state_stream_after(st, 1)->id, "c-0");
    /* c restarted and cancelled again: a new position, after the end. */
    sc_ok(st, json_pack("{s:i, s:s, s:[s], s:i}", "v", 1, "op", "restart",
                        "jobs", "c-0", "at", 4000));
    cr_expect_null(end_of(st, "c"));
    cr_expect_null(assay_state_stream_after(st, 1));
    sc_ok(st, json_pack("{s:i, s:s, s:[s], s:i}", "v", 1, "op", "cancel",
                        "jobs", "c-0", "at", 5000));
    cr_expect_eq(end_of(st, "c")->pos, 4);
    /* A snapshot keeps positions, hosts and the stream's end. */
    json_t *dump = assay_state_dump(st);
    assay_state *back = assay_state_new(NULL, NULL);
    char err[256];
    cr_assert_eq(assay_state_load(back, dump, err, sizeof err), 0, "%s", err);
    cr_expect_eq(assay_state_stream_end(back), 4);
    cr_expect_str_eq(assay_state_stream_after(back, 0)->id, "r1-0");
    cr_expect_str_eq(assay_state_stream_after(back, 1)->id, "c-0");
    cr_expect_str_eq(end_of(back, "r1")->host->hostname, "rt-a");
    cr_expect_str_eq(end_of(back, "r1")->sha256, SHA);
    json_t *again = assay_state_dump(back);
    cr_expect(json_equal(dump, again));
    json_decref(again);
    json_decref(dump);
    assay_state_destroy(&back);
    assay_state_destroy(&st);
}

/* What the state published: topics in order. */
typedef struct {
    char topics[64][32];
    int n;
} seen;

static void on_event(void *arg, const char *topic, const void *body,
                     size_t len)
{
    (void)body;
    (void)len;
    seen *s = arg;
    if (s->n < 64)
        snprintf(s->topics[s->n++], sizeof s->topics[0], "%s", topic);
}

static int count(const seen *s, const char *topic)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += !strcmp(s->topics[i], topic);
    return n;
}

Test(evidence_state, drift_across_three_runs_of_a_series)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_EVIDENCE);
    seen ev = {0};
    /* A state whose events are seen, at the level. */
    assay_state *live = assay_state_new(on_event, &ev);
    json_t *dump = assay_state_dump(st);
    char err[256];
    cr_assert_eq(assay_state_load(live, dump, err, sizeof err), 0, "%s", err);
    json_decref(dump);
    assay_state_destroy(&st);
    st = live;
    runtime(st, "rt-a", "m-a");
    runtime(st, "rt-b", "m-b");
    run(st, "n1", "nightly", "rt-a", "pass", "0644", 1000);
    run(st, "n2", "nightly", "rt-a", "fail", "0777", 2000);
    run(st, "n3", "nightly", "rt-a", "pass", "0644", 3000);
    const assay_end *e1 = end_of(st, "n1"), *e2 = end_of(st, "n2"),
                    *e3 = end_of(st, "n3");
    cr_expect_eq(e1->change, ASSAY_DRIFT_NEW);
    cr_expect_eq(e1->previous, 0);
    cr_expect_eq(e2->change, ASSAY_DRIFT_REGRESSED);
    cr_expect_eq(e2->previous, ASSAY_STATUS_PASS);
    char text[256];
    changed_text(e2, text, sizeof text);
    cr_expect_str_eq(text, "findings[0].evidence.actual");
    cr_expect_eq(e3->change, ASSAY_DRIFT_FIXED);
    cr_expect_eq(e3->previous, ASSAY_STATUS_FAIL);
    /* The same check on another host is a check of its own. */
    run(st, "n4", "nightly", "rt-b", "pass", "0644", 4000);
    cr_expect_eq(end_of(st, "n4")->change, ASSAY_DRIFT_NEW);
    /* No series: not compared. */
    run(st, "adhoc", NULL, "rt-a", "fail", "0777", 5000);
    cr_expect_eq(end_of(st, "adhoc")->change, ASSAY_DRIFT_NONE);
    cr_expect_eq(assay_state_drift_count(st), 2);
    /* Only the changes are news of their own. */
    cr_expect_eq(count(&ev, "finding.regressed"), 1);
    cr_expect_eq(count(&ev, "finding.fixed"), 1);
    cr_expect_eq(count(&ev, "job.completed"), 5);
    /* Through a snapshot the table compares alike. */
    dump = assay_state_dump(st);
    assay_state *back = assay_state_new(NULL, NULL);
    cr_assert_eq(assay_state_load(back, dump, err, sizeof err), 0, "%s", err);
    json_decref(dump);
    run(back, "n5", "nightly", "rt-a", "fail", "0600", 6000);
    cr_expect_eq(end_of(back, "n5")->change, ASSAY_DRIFT_REGRESSED);
    const assay_spec_rec *s = assay_state_spec(back, "n5");
    cr_expect_str_eq(s->title, "passwd mode");
    cr_expect_str_eq(s->series, "nightly");
    cr_expect_not_null(s->controls);
    assay_state_destroy(&back);
    assay_state_destroy(&st);
}

Test(evidence_state, none_of_it_below_level_8)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    runtime(st, "rt-a", "m-a");
    run(st, "n1", "nightly", "rt-a", "pass", "0644", 1000);
    cr_expect_null(end_of(st, "n1"));
    const assay_spec_rec *s = assay_state_spec(st, "n1");
    cr_expect_null(s->title);
    cr_expect_str_eq(s->series, "");
    cr_expect_null(s->controls);
    cr_expect_null(assay_state_runtime(st, "rt-a")->host);
    cr_expect_eq(assay_state_stream_end(st), 0);
    json_t *dump = assay_state_dump(st);
    char *text = json_dumps(dump, JSON_COMPACT);
    cr_expect_null(strstr(text, "machine_id"), "%s", text);
    free(text);
    json_decref(dump);
    assay_state_destroy(&st);
}

/* Applies cmd (taken) the way a member applies a log entry. */
static int apply(assay_state *st, assay_cmd *cmd, char *err, size_t errlen)
{
    cr_assert_not_null(cmd);
    json_t *res = NULL;
    int rc = assay_fsm_apply(st, assay_cmd_data(cmd), assay_cmd_size(cmd),
                             &res, err, errlen);
    cr_expect(rc ? !res : res != NULL, "rc %d: a result iff applied", rc);
    json_decref(res);
    assay_cmd_destroy(&cmd);
    return rc;
}

static void ack(assay_state *st, const char *name, uint64_t pos, bool behind,
                int64_t at)
{
    char err[ASSAY_ERRMSG_SIZE];
    int rc = apply(st, assay_cmd_consumer(name, pos, behind, at), err,
                   sizeof err);
    cr_assert_eq(rc, 0, "%s: %s", name, err);
}

/* A level-8 state whose stream holds three ended jobs (positions 1-3). */
static assay_state *streamed(void)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_EVIDENCE);
    runtime(st, "rt-a", "m-a");
    run(st, "r1", NULL, "rt-a", "pass", "0644", 1000);
    run(st, "r2", NULL, "rt-a", "pass", "0644", 2000);
    run(st, "r3", NULL, "rt-a", "fail", "0600", 3000);
    cr_assert_eq(assay_state_stream_end(st), 3);
    return st;
}

Test(evidence_state, a_consumer_is_made_by_its_first_ack_and_only_moves_on)
{
    assay_state *st = streamed();
    char err[ASSAY_ERRMSG_SIZE];
    cr_expect_eq(assay_state_consumers(st), 0);
    cr_expect_null(assay_state_consumer(st, "etl"));
    cr_expect_null(assay_state_consumer(st, NULL));
    ack(st, "etl", 2, false, 100);
    cr_assert_eq(assay_state_consumers(st), 1);
    const assay_consumer_rec *c = assay_state_consumer(st, "etl");
    cr_assert_not_null(c);
    cr_expect_eq(assay_state_consumer_at(st, 0), c);
    cr_expect_null(assay_state_consumer_at(st, 1));
    cr_expect_eq(c->acked, 2);
    cr_expect_eq(c->created_ms, 100);
    cr_expect_eq(c->acked_ms, 100);
    /* A late acknowledgement (a retry, another leader's) keeps the
     * higher position; a later one moves it on, the creation time kept. */
    ack(st, "etl", 1, false, 200);
    cr_expect_eq(c->acked, 2);
    ack(st, "etl", 3, false, 300);
    cr_expect_eq(c->acked, 3);
    cr_expect_eq(c->created_ms, 100);
    cr_expect_eq(c->acked_ms, 300);
    cr_expect_eq(assay_state_consumers(st), 1);
    /* Beyond the stream's end: refused, nothing changed or made. */
    cr_expect_eq(apply(st, assay_cmd_consumer("etl", 4, false, 400), err,
                       sizeof err),
                 ASSAY_EINVAL);
    cr_expect(strstr(err, "beyond the stream's end"), "%s", err);
    cr_expect_eq(c->acked, 3);
    cr_expect_eq(c->acked_ms, 300);
    cr_expect_eq(apply(st, assay_cmd_consumer("new", 4, false, 400), err,
                       sizeof err),
                 ASSAY_EINVAL);
    cr_expect_null(assay_state_consumer(st, "new"));
    cr_expect_eq(assay_state_consumers(st), 1);
    /* Names are identifiers of at most 63 bytes. */
    char longest[64], too_long[65];
    memset(longest, 'n', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memset(too_long, 'n', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    const char *bad[] = {"", "../x", "a b", "a/b", "x\n", too_long};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(apply(st, assay_cmd_consumer(bad[i], 0, false, 500), err,
                           sizeof err),
                     ASSAY_EINVAL, "'%s'", bad[i]);
        cr_expect(strstr(err, "consumer"), "%s", err);
    }
    cr_expect_eq(assay_state_consumers(st), 1);
    ack(st, longest, 0, false, 500);
    cr_expect_not_null(assay_state_consumer(st, longest));
    assay_state_destroy(&st);
}

Test(evidence_state, consumers_are_at_most_64_and_unconsumer_drops_one)
{
    assay_state *st = streamed();
    char err[ASSAY_ERRMSG_SIZE], name[16];
    for (int i = 0; i < ASSAY_CONSUMERS_MAX; i++) {
        snprintf(name, sizeof name, "c%d", i);
        ack(st, name, 1, false, i);
    }
    cr_assert_eq(assay_state_consumers(st), ASSAY_CONSUMERS_MAX);
    cr_expect_eq(apply(st, assay_cmd_consumer("one-more", 1, false, 100), err,
                       sizeof err),
                 ASSAY_ERANGE);
    cr_expect(strstr(err, "one-more"), "%s", err);
    cr_expect_null(assay_state_consumer(st, "one-more"));
    cr_expect_eq(assay_state_consumers(st), ASSAY_CONSUMERS_MAX);
    /* A full table still takes the acknowledgements of those in it. */
    ack(st, "c63", 3, false, 100);
    cr_expect_eq(assay_state_consumer(st, "c63")->acked, 3);
    /* An unknown name, or none that reads: nothing to drop. */
    cr_expect_eq(apply(st, assay_cmd_unconsumer("nobody", 200), err,
                       sizeof err),
                 ASSAY_ENOENT);
    cr_expect(strstr(err, "nobody"), "%s", err);
    cr_expect_eq(apply(st, assay_cmd_unconsumer("", 200), err, sizeof err),
                 ASSAY_ENOENT);
    cr_expect_eq(assay_state_consumers(st), ASSAY_CONSUMERS_MAX);
    /* The first goes (the last takes its place); the rest are kept, and
     * there is room again. */
    cr_assert_eq(apply(st, assay_cmd_unconsumer("c0", 200), err, sizeof err),
                 0, "%s", err);
    cr_expect_null(assay_state_consumer(st, "c0"));
    cr_expect_eq(assay_state_consumers(st), ASSAY_CONSUMERS_MAX - 1);
    for (int i = 1; i < ASSAY_CONSUMERS_MAX; i++) {
        snprintf(name, sizeof name, "c%d", i);
        cr_expect_not_null(assay_state_consumer(st, name), "%s", name);
    }
    cr_expect_eq(assay_state_consumer(st, "c63")->acked, 3);
    cr_expect_null(assay_state_consumer_at(st, ASSAY_CONSUMERS_MAX - 1));
    cr_expect_eq(apply(st, assay_cmd_unconsumer("c0", 300), err, sizeof err),
                 ASSAY_ENOENT);
    ack(st, "one-more", 2, false, 300);
    cr_expect_eq(assay_state_consumers(st), ASSAY_CONSUMERS_MAX);
    assay_state_destroy(&st);
}

Test(evidence_state, the_hold_is_the_lowest_consumer_not_behind)
{
    assay_state *st = streamed();
    char err[ASSAY_ERRMSG_SIZE];
    cr_expect_eq(assay_state_stream_hold(st), UINT64_MAX); /* none */
    ack(st, "fast", 3, false, 100);
    cr_expect_eq(assay_state_stream_hold(st), 3);
    ack(st, "slow", 1, false, 100);
    ack(st, "mid", 2, false, 100);
    cr_expect_eq(assay_state_stream_hold(st), 1);
    /* Marked behind (by the leader, at its own position): it holds
     * nothing back, the next lowest does. */
    ack(st, "slow", 1, true, 200);
    cr_expect(assay_state_consumer(st, "slow")->behind);
    cr_expect_eq(assay_state_stream_hold(st), 2);
    ack(st, "mid", 2, true, 200);
    ack(st, "fast", 3, true, 200);
    cr_expect_eq(assay_state_stream_hold(st), UINT64_MAX); /* all behind */
    /* Its own acknowledgement clears the mark, at whatever position. */
    ack(st, "slow", 1, false, 300);
    cr_expect_not(assay_state_consumer(st, "slow")->behind);
    cr_expect_eq(assay_state_stream_hold(st), 1);
    /* A deleted consumer holds nothing. */
    cr_assert_eq(apply(st, assay_cmd_unconsumer("slow", 400), err,
                       sizeof err),
                 0, "%s", err);
    cr_expect_eq(assay_state_stream_hold(st), UINT64_MAX);
    assay_state_destroy(&st);
}

/* The consumer named `name` in a snapshot's dump. */
static json_t *dumped(json_t *dump, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(dump, "consumers"), i, c) {
        if (!strcmp(json_string_value(json_object_get(c, "name")), name))
            return c;
    }
    return NULL;
}

Test(evidence_state, consumers_through_a_snapshot)
{
    assay_state *st = streamed();
    ack(st, "etl", 1, false, 100);
    ack(st, "etl", 3, false, 250);
    ack(st, "siem", 2, true, 300);
    json_t *dump = assay_state_dump(st);
    assay_state *back = assay_state_new(NULL, NULL);
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_state_load(back, dump, err, sizeof err), 0, "%s", err);
    cr_assert_eq(assay_state_consumers(back), 2);
    const assay_consumer_rec *e = assay_state_consumer(back, "etl"),
                             *s = assay_state_consumer(back, "siem");
    cr_assert_not_null(e);
    cr_assert_not_null(s);
    cr_expect_eq(e->acked, 3);
    cr_expect_not(e->behind);
    cr_expect_eq(e->created_ms, 100);
    cr_expect_eq(e->acked_ms, 250);
    cr_expect_eq(s->acked, 2);
    cr_expect(s->behind);
    cr_expect_eq(s->created_ms, 300);
    cr_expect_eq(s->acked_ms, 300);
    cr_expect_eq(assay_state_stream_hold(back), 3);
    json_t *again = assay_state_dump(back);
    cr_expect(json_equal(dump, again));
    json_decref(again);
    /* Loading replaces the consumers a state had. */
    assay_state *other = streamed();
    ack(other, "stale", 1, false, 50);
    cr_assert_eq(assay_state_load(other, dump, err, sizeof err), 0, "%s",
                 err);
    cr_expect_null(assay_state_consumer(other, "stale"));
    cr_expect_eq(assay_state_consumers(other), 2);
    assay_state_destroy(&other);
    /* A snapshot naming one twice, or a name that is no identifier, is
     * refused. */
    json_array_append(json_object_get(dump, "consumers"),
                      dumped(dump, "etl"));
    cr_expect_eq(assay_state_load(back, dump, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "etl twice"), "%s", err);
    json_array_remove(json_object_get(dump, "consumers"), 2);
    json_object_set_new(dumped(dump, "siem"), "name", json_string("../x"));
    cr_expect_eq(assay_state_load(back, dump, err, sizeof err), ASSAY_EINVAL);
    cr_expect(strstr(err, "consumers"), "%s", err);
    json_decref(dump);
    assay_state_destroy(&back);
    assay_state_destroy(&st);
}

Test(evidence_state, no_consumers_below_level_8)
{
    assay_state *st = sc_at_level(ASSAY_LEVEL_SCHEDULES);
    char err[ASSAY_ERRMSG_SIZE];
    cr_expect_eq(apply(st, assay_cmd_consumer("etl", 0, false, 100), err,
                       sizeof err),
                 ASSAY_EUNSUPP);
    cr_expect(strstr(err, "feature level 8"), "%s", err);
    cr_expect_eq(apply(st, assay_cmd_unconsumer("etl", 100), err, sizeof err),
                 ASSAY_EUNSUPP);
    cr_expect_eq(assay_state_consumers(st), 0);
    cr_expect_eq(assay_state_stream_hold(st), UINT64_MAX);
    /* Nor in its snapshot. */
    json_t *dump = assay_state_dump(st);
    cr_expect_eq(json_array_size(json_object_get(dump, "consumers")), 0);
    json_decref(dump);
    assay_state_destroy(&st);
}
