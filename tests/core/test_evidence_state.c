/* tests/core/test_evidence_state.c - what the state keeps as evidence (level
 * 8): each ended job's stream position (in order, gone when it is
 * forgotten, new when it ends again), the host it ran on and its
 * plugin's digest from the runtime's registration, drift across three
 * runs of a series (new, regressed with the evidence that changed,
 * fixed), a check per host, finding.* events, JobSpecs' title and
 * controls, and all of it through a snapshot; nothing of it below level
 * 8. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "base/codec.h"
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
