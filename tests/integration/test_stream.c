/* tests/integration/test_stream.c - the result stream (docs/protocol.md
 * #assaystream) with real processes: read from a position in pages and
 * then live; a durable consumer that resumes after a leader's kill -9
 * with every result exactly once and the same evidence ids from the new
 * leader; a consumer that does not acknowledge holding retention back up
 * to stream_max_lag, then marked behind and told what it lost; and bad
 * input refused with nothing changed.
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "cluster.h"
#include "harness.h"

#define WAIT_MS 30000
/* Positions a test looks at, at most. */
#define MAX_POS 256

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(stream, .fini = teardown, .timeout = 300);

/* What a watch printed (its --json lines, in `path`): how often each
 * position came, and each one's evidence id. */
typedef struct {
    int seen[MAX_POS + 1];
    char uuid[MAX_POS + 1][40];
    int lines, other;
} s_got;

static void s_read(const char *path, s_got *g)
{
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_t *r = line[0] == '{' ? json_loads(line, 0, NULL) : NULL;
        json_int_t pos = json_integer_value(json_object_get(r, "position"));
        if (r && pos > 0 && pos <= MAX_POS) {
            g->seen[pos]++;
            snprintf(g->uuid[pos], sizeof g->uuid[pos], "%s",
                     json_string_value(json_object_get(r, "uuid")));
            g->lines++;
        } else {
            g->other++;
        }
        json_decref(r);
    }
    free(line);
    if (f)
        fclose(f);
}

/* Every position from..to came exactly once in a and b together, and no
 * other. */
static void s_expect_once(const s_got *a, const s_got *b, int from, int to)
{
    for (int p = 1; p <= MAX_POS; p++) {
        int n = a->seen[p] + (b ? b->seen[p] : 0);
        cr_expect_eq(n, p >= from && p <= to, "position %d came %d times", p,
                     n);
    }
}

/* Runs a watch in the foreground (bounded by --wait-ms), its lines into
 * c.dir/NAME. */
static int s_watch(const char *name, const char *args)
{
    char *out;
    int rc = harness_sh(&out,
                        "%sassayctl --endpoint %s --timeout-ms 5000 --json "
                        "--wait-ms %d watch %s >%s/%s",
                        HARNESS_BIN, c.endpoint, WAIT_MS, args, c.dir, name);
    free(out);
    return rc;
}

static void s_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", c.dir, name);
}

/* Polls (bounded) until `path` holds `want` records. */
static bool s_until_lines(const char *path, int want)
{
    int64_t until = assay_now_ms() + WAIT_MS;
    s_got g;
    do {
        s_read(path, &g);
        if (g.lines >= want)
            return true;
        usleep(50 * 1000);
    } while (assay_now_ms() < until);
    return false;
}

static long long s_total(void)
{
    int code;
    json_t *r = cluster_ctl(&c, &code, "jobs");
    long long n = json_integer_value(json_object_get(r, "total"));
    json_decref(r);
    return code ? -1 : n;
}

static bool s_total_is(long long want)
{
    int64_t until = assay_now_ms() + WAIT_MS;
    while (assay_now_ms() < until) {
        if (s_total() == want)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

/* Consumer `name` as `assayctl consumers` lists it (new), or NULL. */
static json_t *s_consumer(const char *name)
{
    int code;
    json_t *r = cluster_ctl(&c, &code, "consumers"), *found = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r, "consumers"), i, it)
        if (!strcmp(json_string_value(json_object_get(it, "name")), name))
            found = json_incref(it);
    json_decref(r);
    return found;
}

Test(stream, read_from_a_position_in_pages_then_live)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt", NULL);
    cr_assert(cluster_submit(&c, "a", 12));
    json_decref(cluster_wait(&c, "a", WAIT_MS));

    char path[512];
    s_got all, part, live;
    cr_assert_eq(s_watch("all", "--from 0 --count 12"), 0);
    s_path(path, sizeof path, "all");
    s_read(path, &all);
    s_expect_once(&all, NULL, 1, 12);
    cr_expect_eq(all.other, 0);
    for (int p = 1; p <= 12; p++)
        cr_expect_eq(strlen(all.uuid[p]), 36, "position %d: uuid '%s'", p,
                     all.uuid[p]);

    cr_assert_eq(s_watch("part", "--from 5 --count 3"), 0);
    s_path(path, sizeof path, "part");
    s_read(path, &part);
    s_expect_once(&part, NULL, 6, 8);

    /* From the end: it waits for what ends next. */
    s_path(path, sizeof path, "live.log");
    cluster_bg(&c, "live",
               "%sassayctl --endpoint %s --json --wait-ms %d watch --from 12 "
               "--count 3",
               HARNESS_BIN, c.endpoint, WAIT_MS);
    cr_assert(cluster_submit(&c, "b", 3));
    cr_assert(s_until_lines(path, 3), "the live watch saw too little");
    s_read(path, &live);
    s_expect_once(&live, NULL, 13, 15);
}

/* A consumer reads through a leader's kill -9: one watch live across it,
 * and one consumer that resumes from its acknowledged position on the
 * new leader; every result exactly once, and the same evidence ids from
 * both leaders (each member builds them from the replicated state). */
Test(stream, resume_across_a_leader_kill_9_loses_nothing)
{
    cluster_start_raft(&c, 3, NULL);
    cluster_runtime(&c, "rt", NULL);
    char live_path[512], first_path[512], rest_path[512];
    s_path(live_path, sizeof live_path, "live.log");
    cluster_bg(&c, "live",
               "%sassayctl --endpoint %s --json --wait-ms %d --timeout-ms "
               "5000 watch --from 0 --count 60",
               HARNESS_BIN, c.endpoint, 2 * WAIT_MS);
    cr_assert(cluster_submit(&c, "k1", 40));
    json_decref(cluster_wait(&c, "k1", WAIT_MS));
    cr_assert_eq(s_watch("first", "--consumer res --count 15"), 0);
    cr_assert(s_until_lines(live_path, 15));

    int old = cluster_leader(&c, WAIT_MS);
    cr_assert(old > 0);
    cluster_member_kill(&c, old, SIGKILL);
    cr_assert(cluster_submit(&c, "k2", 20));
    json_decref(cluster_wait(&c, "k2", WAIT_MS));
    cr_assert_eq(s_watch("rest", "--consumer res --count 45"), 0);

    s_got first, rest, live;
    s_path(first_path, sizeof first_path, "first");
    s_path(rest_path, sizeof rest_path, "rest");
    s_read(first_path, &first);
    s_read(rest_path, &rest);
    s_expect_once(&first, &rest, 1, 60);
    cr_expect(s_until_lines(live_path, 60), "the live watch stopped");
    s_read(live_path, &live);
    s_expect_once(&live, NULL, 1, 60);
    /* Ids read from the old leader, read again from the new one. */
    s_got again;
    char again_path[512];
    cr_assert_eq(s_watch("again", "--from 0 --count 15"), 0);
    s_path(again_path, sizeof again_path, "again");
    s_read(again_path, &again);
    for (int p = 1; p <= 15; p++)
        cr_expect_str_eq(again.uuid[p], first.uuid[p], "position %d", p);
    json_t *res = s_consumer("res");
    cr_expect_eq(json_integer_value(json_object_get(res, "acked")), 60);
    json_decref(res);
}

/* stream_max_lag 6, retain_jobs 2: what a consumer has not acknowledged
 * is kept, until it is more than 6 behind; then it is marked behind,
 * retention goes on, and its next read says what it lost. */
Test(stream, a_consumer_that_does_not_ack_holds_expiry_up_to_the_bound)
{
    cluster_start(&c, "--set retain_jobs=2 --set stream_max_lag=6");
    cluster_runtime(&c, "rt", NULL);
    cluster_cp cp;
    cluster_cp_open(&cp, c.endpoint);
    json_t *r = cluster_cp_call(&cp, "assay.stream",
                                json_pack("{s:s, s:s, s:i}", "op", "ack",
                                          "consumer", "slow", "position", 0));
    cr_assert(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    cr_assert(cluster_submit(&c, "h", 5));
    json_decref(cluster_wait(&c, "h", WAIT_MS));
    /* Acknowledged up to 2: those two go (retain_jobs); 3..5 are held.
     * Without the hold all but two would go at once: 3 is never seen. */
    r = cluster_cp_call(&cp, "assay.stream",
                        json_pack("{s:s, s:s, s:i}", "op", "ack", "consumer",
                                  "slow", "position", 2));
    cr_assert(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    cr_expect(s_total_is(3), "held: %lld jobs, not 3", s_total());

    /* 4 more: 7 behind, more than 6. */
    cr_assert(cluster_submit(&c, "i", 4));
    json_decref(cluster_wait(&c, "i", WAIT_MS));
    int64_t until = assay_now_ms() + WAIT_MS;
    json_t *slow = NULL;
    while (assay_now_ms() < until) {
        json_decref(slow);
        slow = s_consumer("slow");
        if (json_is_true(json_object_get(slow, "behind")))
            break;
        usleep(50 * 1000);
    }
    cr_expect(json_is_true(json_object_get(slow, "behind")),
              "never marked behind");
    json_decref(slow);
    cr_expect(s_total_is(2), "retention did not go on: %lld", s_total());

    r = cluster_cp_call(&cp, "assay.stream",
                        json_pack("{s:s}", "consumer", "slow"));
    cr_expect_eq(json_integer_value(json_object_get(r, "from")), 2);
    cr_expect_eq(json_integer_value(json_object_get(r, "gone")), 5);
    cr_expect_eq(json_integer_value(json_object_get(r, "next")), 9);
    cr_expect_eq(json_array_size(json_object_get(r, "events")), 2);
    cr_expect(json_is_true(
        json_object_get(json_object_get(r, "consumer"), "behind")));
    json_decref(r);
    /* Its next acknowledgement makes it hold again. */
    r = cluster_cp_call(&cp, "assay.stream",
                        json_pack("{s:s, s:s, s:i}", "op", "ack", "consumer",
                                  "slow", "position", 9));
    cr_expect(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    slow = s_consumer("slow");
    cr_expect(json_is_false(json_object_get(slow, "behind")));
    cr_expect_eq(json_integer_value(json_object_get(slow, "acked")), 9);
    json_decref(slow);
    cluster_cp_close(&cp);
}

Test(stream, bad_requests_are_refused_and_change_nothing)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt", NULL);
    cr_assert(cluster_submit(&c, "a", 2));
    json_decref(cluster_wait(&c, "a", WAIT_MS));
    static const struct {
        const char *args;
        int code;
        const char *says;
    } bad[] = {
        {"watch --from 99", 65, "beyond the stream's end (2)"},
        {"watch --from -3", 64, "stream position"},
        {"watch --from x1", 64, "stream position"},
        {"watch --from 1 --topic job.", 64, "no --topic"},
        {"watch --consumer ../x", 65, "consumer: an identifier"},
        {"watch --consumer "
         "a123456789012345678901234567890123456789012345678901234567890123",
         65, "at most 63 bytes"},
        {"watch --consumer 'a b'", 65, "consumer: an identifier"},
        {"consumers delete nobody", 65, "no consumer nobody"},
        {"consumers frobnicate", 64, "consumers [delete NAME]"},
        {"jobs --consumer x", 64, "--consumer is for watch"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        cluster_ctl_refused(&c, bad[k].args, bad[k].code, bad[k].says);
    /* An ack beyond the end, a max out of range: refused by the member. */
    cluster_cp cp;
    cluster_cp_open(&cp, c.endpoint);
    json_t *r = cluster_cp_call(&cp, "assay.stream",
                                json_pack("{s:s, s:s, s:i}", "op", "ack",
                                          "consumer", "c", "position", 3));
    cr_expect_str_eq(json_string_value(json_object_get(r, "error")),
                     "ASSAY_EINVAL");
    json_decref(r);
    r = cluster_cp_call(&cp, "assay.stream",
                        json_pack("{s:i, s:i}", "from", 0, "max", 1001));
    cr_expect_str_eq(json_string_value(json_object_get(r, "error")),
                     "ASSAY_EINVAL");
    json_decref(r);
    cluster_cp_close(&cp);
    int code;
    r = cluster_ctl(&c, &code, "consumers");
    cr_expect_eq(code, 0);
    cr_expect_eq(json_array_size(json_object_get(r, "consumers")), 0,
                 "a refused request made a consumer");
    json_decref(r);
}
