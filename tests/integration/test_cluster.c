/* tests/integration/test_cluster.c - the cluster end to end: a member and
 * runtimes as real processes on 127.0.0.1, talking real ZeroMQ. Each test
 * bounds its waits and stops what it started (cluster_stop). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "cluster.h"
#include "cluster/link.h"
#include "harness.h"

/* ---- Fixture ---------------------------------------------------------- */

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(cluster, .fini = teardown, .timeout = 240);

/* ---- Helpers ---------------------------------------------------------- */

static const char *s_get(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_t *submit(const char *name, const char *json)
{
    int code;
    json_t *r = cluster_ctl(&c, &code, "submit %s",
                            cluster_spec(&c, name, json));
    cr_assert_eq(code, 0, "submit %s exited %d", name, code);
    cr_assert_not_null(r);
    return r;
}

/* Submitting `json` is refused (exit 65) with `message` in the error. */
static void expect_refused(const char *name, const char *json,
                           const char *message)
{
    int code;
    json_decref(cluster_ctl(&c, &code, "submit %s",
                            cluster_spec(&c, name, json)));
    cr_expect_eq(code, 65, "submit %s exited %d", name, code);
    char *err;
    harness_sh(&err, "cat %s/ctl.err", c.dir);
    cr_expect(strstr(err, message), "%s lacks '%s'", err, message);
    free(err);
}

/* Every job ended in `state`; returns how many. */
static size_t expect_all(const json_t *jobs, const char *state)
{
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j)
        cr_expect_str_eq(s_get(j, "state"), state, "job %s: %s (%s)",
                         s_get(j, "id"), s_get(j, "state"),
                         s_get(j, "reason"));
    return json_array_size(jobs);
}

/* Counts lines of a watch log naming job `id` (exact, quoted). */
static int events_for(const cluster_node *watch, const char *id)
{
    FILE *f = fopen(watch->log, "r");
    char line[65536], needle[128];
    snprintf(needle, sizeof needle, "\"id\":\"%s\"", id);
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Starts `assayctl watch` on topic and makes sure it is subscribed: warm-up
 * specs until one of their events arrives (PUB drops until it joins). */
static cluster_node *watch(const char *topic)
{
    cluster_node *w = cluster_bg(&c, "watch",
                                 "%sassayctl --events %s --json watch "
                                 "--topic %s --wait-ms 200000",
                                 HARNESS_BIN, c.events, topic);
    for (int i = 0; i < 40; i++) {
        char name[48], json[128], id[32];
        snprintf(id, sizeof id, "warm%d", i);
        snprintf(name, sizeof name, "%s.json", id);
        snprintf(json, sizeof json, "{\"id\": \"%s\", \"action\": "
                                    "\"noop.pass\"}", id);
        json_decref(submit(name, json));
        json_decref(cluster_wait(&c, id, 10000));
        snprintf(id, sizeof id, "warm%d-0", i);
        if (cluster_log_has(w, id, 200))
            return w;
    }
    cr_assert_fail("watch never subscribed");
    return NULL;
}

static bool has_state(const json_t *jobs, void *arg)
{
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) if (!strcmp(s_get(j, "state"), arg)) return true;
    return false;
}

/* Some job is running on runtime `arg` (for cluster_until). */
static bool runs_on(const json_t *jobs, void *arg)
{
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) if (!strcmp(s_get(j, "state"), "running") &&
                                       !strcmp(s_get(j, "runtime"), arg))
        return true;
    return false;
}

/* Runtime `id` as `assayctl runtimes` lists it (caller decrefs); NULL if
 * it is not listed. */
static json_t *runtime_rec(const char *id)
{
    json_t *r = cluster_ctl(&c, NULL, "runtimes"), *out = NULL;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "runtimes"), i, x)
        if (!out && !strcmp(s_get(x, "id"), id))
            out = json_incref(x);
    json_decref(r);
    return out;
}

/* Runtime `arg` is listed alive (for harness_until). */
static bool runtime_alive(void *arg)
{
    json_t *x = runtime_rec(arg);
    bool alive = json_is_true(json_object_get(x, "alive"));
    json_decref(x);
    return alive;
}

/* Runtime `arg` says it grants no work for lack of memory. */
static bool runtime_short_of_memory(void *arg)
{
    json_t *x = runtime_rec(arg);
    bool why = strstr(s_get(x, "why"), "memory") != NULL;
    json_decref(x);
    return why;
}

/* File `arg` holds a whole line (a hook's event, written and closed). */
static bool file_has_line(void *arg)
{
    FILE *f = fopen(arg, "r");
    char line[4096];
    bool whole = f && fgets(line, sizeof line, f) && strchr(line, '\n');
    if (f)
        fclose(f);
    return whole;
}

typedef struct {
    const cluster_node *node;
    const char *needle;
    int count;
} log_count;

/* At least a->count lines of a node's log hold a->needle. */
static bool log_count_reached(void *arg)
{
    const log_count *a = arg;
    return cluster_log_count(a->node, a->needle) >= a->count;
}

/* Submits a one-job noop JobSpec `id` and waits until its job.completed
 * reaches watch log w: events are published in order, so every event
 * published before the submission is in w's log by then. */
static void watch_barrier(const cluster_node *w, const char *id)
{
    char name[64], json[160], want[96];
    snprintf(name, sizeof name, "%s.json", id);
    snprintf(json, sizeof json, "{\"id\": \"%s\", \"action\": "
                                "\"noop.pass\"}", id);
    json_decref(submit(name, json));
    snprintf(want, sizeof want, "\"id\":\"%s-0\"", id);
    cr_assert(cluster_log_has(w, want, 20000), "watch never saw %s", want);
}

/* A runtime whose resource monitor sees a starved machine: 1% memory. */
static const char *starved_proc(void)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "%s/proc", c.dir);
    char *d;
    cr_assert_neq(asprintf(&d, "mkdir -p %s/self && printf 'cpu  1 0 1 100 0 "
                               "0 0 0 0 0\\ncpu0 1 0 1 100 0 0 0 0 0 0\\n' "
                               ">%s/stat && printf 'MemTotal: 1000000 kB\\n"
                               "MemAvailable: 10000 kB\\n' >%s/meminfo",
                           dir, dir, dir),
                  -1);
    char *out;
    cr_assert_eq(harness_sh(&out, "%s", d), 0, "%s", out);
    free(out);
    free(d);
    return dir;
}

/* ---- Tests ------------------------------------------------------------ */

Test(cluster, thousand_jobs_each_recorded_once)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt1", NULL);
    cluster_runtime(&c, "rt2", NULL);
    cluster_node *w = watch("job.completed");
    json_t *targets = json_array();
    for (int i = 0; i < 1000; i++)
        json_array_append_new(targets, json_object());
    json_t *spec = json_pack("{s:s, s:s, s:o}", "id", "k", "action",
                             "noop.pass", "targets", targets);
    char *text = json_dumps(spec, 0);
    json_decref(submit("k.json", text));
    free(text);
    json_decref(spec);
    json_t *jobs = cluster_wait(&c, "k", 120000);
    cr_assert_eq(expect_all(jobs, "completed"), 1000);
    /* Both runtimes took work. */
    int on[2] = {0, 0};
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) on[!strcmp(s_get(j, "runtime"), "rt2")]++;
    cr_expect(on[0] > 0 && on[1] > 0, "rt1 %d, rt2 %d", on[0], on[1]);
    /* One job.completed event per job: the last one arrives, then none
     * is doubled. */
    cr_assert(cluster_log_has(w, "\"id\":\"k-999\"", 20000));
    for (int k = 0; k < 1000; k++) {
        char id[16];
        snprintf(id, sizeof id, "k-%d", k);
        cr_expect_eq(events_for(w, id), 1, "%s recorded %d times", id,
                     events_for(w, id));
    }
    json_decref(jobs);
}

Test(cluster, killed_runtime_jobs_finish_elsewhere)
{
    cluster_start(&c, NULL);
    cluster_node *r1 = cluster_runtime(&c, "rt1", NULL);
    cluster_runtime(&c, "rt2", NULL);
    cluster_node *w = watch("job.completed");
    json_decref(submit("s.json",
                       "{\"id\": \"s\", \"action\": \"sleep.sleep\", "
                       "\"params\": {\"ms\": 400}, \"timeout_ms\": 20000, "
                       "\"targets\": [{}, {}, {}, {}, {}, {}, {}, {}, {}, "
                       "{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}]}"));
    /* Kill rt1 while it holds running jobs. */
    cr_assert(cluster_until(&c, 20000, runs_on, "rt1"), "rt1 never ran a job");
    kill(r1->pid, SIGKILL);
    json_t *jobs = cluster_wait(&c, "s", 60000);
    cr_expect_eq(expect_all(jobs, "completed"), 20);
    int moved = 0;
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) {
        cr_expect_eq(events_for(w, s_get(j, "id")), 1, "%s", s_get(j, "id"));
        moved += json_integer_value(json_object_get(j, "attempt")) > 1;
    }
    cr_expect_gt(moved, 0, "no job was retried after the kill");
    cr_expect(cluster_log_has(&c.nodes[0], "runtime rt1 missed", 1000));
    json_decref(jobs);
}

/* A runtime stopped in order (SIGTERM) tells the leader: it is dead at
 * once, and its running jobs move with the reason "runtime left", not
 * after heartbeats are missed. */
Test(cluster, a_runtime_that_leaves_says_so_and_its_jobs_move)
{
    cluster_start(&c, NULL);
    cluster_node *r1 = cluster_runtime(&c, "rt1", NULL);
    cluster_runtime(&c, "rt2", NULL);
    json_decref(submit("l.json",
                       "{\"id\": \"l\", \"action\": \"sleep.sleep\", "
                       "\"params\": {\"ms\": 300}, \"timeout_ms\": 60000, "
                       "\"targets\": [{}, {}, {}, {}, {}, {}, {}, {}]}"));
    cr_assert(cluster_until(&c, 20000, runs_on, "rt1"), "rt1 never ran a job");
    kill(r1->pid, SIGTERM);
    cr_assert(cluster_log_has(&c.nodes[0], "runtime rt1 leaves", 10000),
              "the leader was not told");
    json_t *jobs = cluster_wait(&c, "l", 60000);
    cr_expect_eq(expect_all(jobs, "completed"), 8);
    json_decref(jobs);
    /* The attempts it held ended so, in the jobs' history. */
    json_t *hist = cluster_ctl(&c, NULL, "job l");
    char *text = json_dumps(hist, 0);
    json_decref(hist);
    cr_expect(text && strstr(text, "runtime left"), "%s", text);
    free(text);
    cr_expect_eq(cluster_log_count(&c.nodes[0], "runtime rt1 missed"), 0,
                 "rt1 was judged by its heartbeats");
    cr_expect(cluster_log_has(r1, "told the leader", 0));
}

Test(cluster, frozen_runtime_is_dead_then_back_and_its_results_fenced)
{
    /* The hook writes into the cluster's directory (CLUSTER_DIR, set for
     * every process the cluster starts), removed with it. */
    const char *rt = "frz";
    cluster_start(&c, "--set 'notify_command=cat > "
                      "\"$CLUSTER_DIR/hook-$ASSAY_RUNTIME.json\"'");
    cluster_node *r1 = cluster_runtime(&c, rt, NULL);
    cluster_runtime(&c, "rt2", NULL);
    cluster_node *w = watch("job.completed");
    /* Jobs long enough that the one frz runs is still running when it is
     * frozen: its executor (not frozen) finishes it meanwhile, and frz
     * sends that result, now stale, once it is back. */
    json_decref(submit("f.json",
                       "{\"id\": \"f\", \"action\": \"sleep.sleep\", "
                       "\"params\": {\"ms\": 1000}, \"timeout_ms\": 20000, "
                       "\"targets\": [{}, {}, {}, {}, {}, {}, {}, {}]}"));
    cr_assert(cluster_until(&c, 20000, runs_on, (void *)rt),
              "%s never ran a job", rt);
    kill(r1->pid, SIGSTOP);
    /* Dead within heartbeat_ms x misses (+ scheduling slack). */
    char msg[64];
    snprintf(msg, sizeof msg, "runtime %s missed", rt);
    cr_assert(cluster_log_has(&c.nodes[0], msg, 10000));
    char hookfile[256], *out;
    snprintf(hookfile, sizeof hookfile, "%s/hook-%s.json", c.dir, rt);
    cr_assert(harness_until(10000, file_has_line, hookfile),
              "the hook wrote no event to %s", hookfile);
    cr_assert_eq(harness_sh(&out, "cat %s", hookfile), 0);
    cr_expect(strstr(out, "\"event\":\"runtime.dead\""), "%s", out);
    cr_expect(strstr(out, rt), "%s", out);
    free(out);
    json_t *before = cluster_wait(&c, "f", 60000);
    cr_assert_eq(expect_all(before, "completed"), 8);

    /* Back: alive again, and what it finished meanwhile is stale. */
    kill(r1->pid, SIGCONT);
    snprintf(msg, sizeof msg, "from %s (job completed)", rt);
    cr_assert(cluster_log_has(&c.nodes[0], msg, 10000),
              "stale results were not fenced");
    cr_expect(harness_until(10000, runtime_alive, (void *)rt),
              "runtime did not come back");
    /* Every stale result named a job that another attempt finished on
     * rt2. */
    FILE *f = fopen(c.nodes[0].log, "r");
    cr_assert_not_null(f);
    char line[4096];
    int fenced = 0;
    while (fgets(line, sizeof line, f)) {
        char job[64];
        long long attempt;
        const char *at = strstr(line, "ignored result for ");
        if (!at || !strstr(line, msg) ||
            sscanf(at, "ignored result for %63s attempt %lld", job,
                   &attempt) != 2)
            continue;
        fenced++;
        size_t i;
        json_t *j;
        bool seen = false;
        json_array_foreach(before, i, j) if (!strcmp(s_get(j, "id"), job))
        {
            seen = true;
            cr_expect_gt(json_integer_value(json_object_get(j, "attempt")),
                         attempt, "%s: its stale attempt %lld is the last",
                         job, attempt);
            cr_expect_str_eq(s_get(j, "runtime"), "rt2", "%s", job);
        }
        cr_expect(seen, "fenced a result for %s, not a job of f", job);
    }
    fclose(f);
    cr_expect_gt(fenced, 0);
    /* The stale results changed nothing: each job's record (state,
     * attempt, runtime, result) is what it was before frz came back... */
    json_t *after = cluster_wait(&c, "f", 10000);
    cr_assert_eq(json_array_size(after), 8);
    size_t i;
    json_t *j;
    json_array_foreach(before, i, j) {
        json_t *a = NULL, *x;
        size_t k;
        json_array_foreach(after, k, x) if (!strcmp(s_get(x, "id"),
                                                    s_get(j, "id"))) a = x;
        cr_expect(a && json_equal(a, j), "%s changed after the fencing",
                  s_get(j, "id"));
    }
    /* ...and each was recorded once: every event published before a
     * later job's has reached the watch. */
    watch_barrier(w, "after-fence");
    json_array_foreach(before, i, j)
        cr_expect_eq(events_for(w, s_get(j, "id")), 1, "%s recorded %d times",
                     s_get(j, "id"), events_for(w, s_get(j, "id")));
    json_decref(before);
    json_decref(after);
}

Test(cluster, job_past_its_timeout_is_retried_then_failed)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "rt1", NULL);
    json_decref(submit("t.json",
                       "{\"id\": \"t\", \"action\": \"sleep.sleep\", "
                       "\"params\": {\"ms\": 60000}, \"timeout_ms\": 300, "
                       "\"max_attempts\": 2}"));
    json_t *jobs = cluster_wait(&c, "t", 60000);
    cr_assert_eq(expect_all(jobs, "failed"), 1);
    json_t *j = json_array_get(jobs, 0);
    cr_expect_eq(json_integer_value(json_object_get(j, "attempt")), 2);
    cr_expect(strstr(s_get(j, "reason"), "timeout"), "%s", s_get(j, "reason"));
    json_decref(jobs);
    /* A CI gate built on assayctl sees it: failed is an error (2). */
    int code;
    json_decref(cluster_ctl(&c, &code, "wait t"));
    cr_expect_eq(code, 2, "wait on a failed job exited %d", code);
}

Test(cluster, runtime_short_of_memory_gets_no_work)
{
    cluster_start(&c, NULL);
    char extra[512];
    snprintf(extra, sizeof extra,
             "--executors 1 --set proc_root=%s --set cgroup_root= "
             "--set min_mem_free_percent=5",
             starved_proc());
    cluster_runtime(&c, "starved", extra);
    cr_expect(harness_until(10000, runtime_short_of_memory, "starved"));
    json_t *x = runtime_rec("starved");
    cr_expect_eq(json_integer_value(json_object_get(x, "credit")), 0);
    cr_expect(strstr(s_get(x, "why"), "memory"), "why: %s", s_get(x, "why"));
    json_decref(x);
    json_decref(submit("m.json", "{\"id\": \"m\", \"action\": \"noop.pass\"}"));
    cr_assert(cluster_until(&c, 2000, has_state, "queued"));
    /* A healthy runtime takes it: it was waiting for credit. */
    cluster_runtime(&c, "healthy", NULL);
    json_t *jobs = cluster_wait(&c, "m", 30000);
    cr_assert_eq(expect_all(jobs, "completed"), 1);
    cr_expect_str_eq(s_get(json_array_get(jobs, 0), "runtime"), "healthy");
    json_decref(jobs);
}

Test(cluster, cancel_queued_and_running)
{
    cluster_start(&c, NULL);
    cluster_node *rt = cluster_runtime(&c, "rt1", NULL);
    /* No runtime matches the selector: it stays queued. */
    json_decref(submit("q.json", "{\"id\": \"q\", \"action\": "
                                 "\"noop.pass\", \"selector\": {\"zone\": "
                                 "\"nowhere\"}}"));
    int code;
    json_t *r = cluster_ctl(&c, &code, "cancel q");
    cr_expect_eq(code, 0);
    json_decref(r);
    json_t *jobs = cluster_wait(&c, "q", 5000);
    expect_all(jobs, "cancelled");
    json_decref(jobs);
    json_decref(cluster_ctl(&c, &code, "wait q"));
    cr_expect_eq(code, 2, "wait on a cancelled job exited %d", code);

    json_decref(submit("r.json", "{\"id\": \"r\", \"action\": \"sleep.sleep\", "
                                 "\"params\": {\"ms\": 60000}, "
                                 "\"timeout_ms\": 120000}"));
    cr_assert(cluster_until(&c, 10000, has_state, "running"));
    json_decref(cluster_ctl(&c, &code, "cancel r-0"));
    jobs = cluster_wait(&c, "r", 10000);
    expect_all(jobs, "cancelled");
    json_decref(jobs);
    /* The runtime killed the executor running it. */
    cr_expect(cluster_log_has(rt, "ended running r-0#1: cancelled", 5000));
    r = cluster_ctl(&c, &code, "cancel nope");
    cr_expect_eq(code, 65);
    json_decref(r);
}

Test(cluster, label_selector_picks_runtimes)
{
    cluster_start(&c, NULL);
    cluster_runtime(&c, "ra", "--executors 1 --labels zone=a");
    cluster_runtime(&c, "rb", "--executors 1 --labels zone=b,tier=gold");
    json_decref(submit("l.json",
                       "{\"id\": \"l\", \"action\": \"noop.pass\", "
                       "\"selector\": {\"zone\": \"b\"}, \"targets\": [{}, "
                       "{}, {}, {}, {}, {}, {}, {}, {}, {}]}"));
    json_t *jobs = cluster_wait(&c, "l", 30000);
    cr_assert_eq(expect_all(jobs, "completed"), 10);
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) cr_expect_str_eq(s_get(j, "runtime"), "rb");
    json_decref(jobs);
}

Test(cluster, version_pinning_across_runtimes)
{
    cluster_start(&c, NULL);
    char *out;
    cr_assert_eq(harness_sh(&out,
                            "mkdir -p %s/v1 %s/v2 && "
                            "ln -s %s/typed_1_2_0.so %s/v1/ && "
                            "ln -s %s/typed_2_0_0.so %s/v2/",
                            c.dir, c.dir, HARNESS_FIXTURES "versions", c.dir,
                            HARNESS_FIXTURES "versions", c.dir),
                 0, "%s", out);
    free(out);
    char extra[512];
    snprintf(extra, sizeof extra, "--executors 1 --plugins-dir %s/v1", c.dir);
    cluster_runtime(&c, "old", extra);
    snprintf(extra, sizeof extra, "--executors 1 --plugins-dir %s/v2", c.dir);
    cluster_runtime(&c, "new", extra);
    json_decref(submit("p1.json", "{\"id\": \"p1\", \"action\": \"typed.echo\", "
                                  "\"version\": \"^1\", \"params\": {\"s\": "
                                  "\"x\"}, \"targets\": [{}, {}, {}, {}]}"));
    json_decref(submit("p2.json", "{\"id\": \"p2\", \"action\": \"typed.echo\", "
                                  "\"params\": {\"s\": \"x\"}, \"targets\": "
                                  "[{}, {}, {}, {}]}"));
    json_t *jobs = cluster_wait(&c, "p1", 30000);
    cr_assert_eq(expect_all(jobs, "completed"), 4);
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) {
        cr_expect_str_eq(s_get(j, "runtime"), "old");
        cr_expect_str_eq(s_get(j, "version"), "1.2.0");
    }
    json_decref(jobs);
    jobs = cluster_wait(&c, "p2", 30000);
    cr_assert_eq(expect_all(jobs, "completed"), 4);
    json_array_foreach(jobs, i, j) cr_expect_str_eq(s_get(j, "version"),
                                                    "2.0.0");
    json_decref(jobs);
    /* A refusal names the runtimes asked and what they have. */
    expect_refused("p3.json",
                   "{\"action\": \"typed.echo\", \"version\": \"^3\", "
                   "\"params\": {\"s\": \"x\"}}",
                   "no version of 'typed' matches '^3' on runtimes old, new "
                   "(offered: 1.2.0, 2.0.0)");
    expect_refused("p4.json", "{\"action\": \"nope.x\"}",
                   "no runtime offers plugin 'nope' (asked: old, new; known "
                   "plugins: typed)");
    expect_refused("p5.json",
                   "{\"action\": \"typed.nope\", \"version\": \"^1\"}",
                   "plugin 'typed' ^1 has no action 'nope' on runtimes old, "
                   "new (actions: echo, greet, nap");
}

/* A runtime killed and restarted under the same id before the leader
 * declares it dead: its registration lists no running attempts, so the
 * jobs the leader had on it are requeued at once ("runtime restarted")
 * and finish; none is lost or recorded twice. */
Test(cluster, restarted_runtime_gets_its_lost_jobs_requeued)
{
    cluster_start(&c, NULL);
    cluster_node *r1 = cluster_runtime(&c, "rt1", NULL);
    cluster_node *w = watch("job.completed");
    json_decref(submit("x.json", "{\"id\": \"x\", \"action\": \"sleep.sleep\", "
                                 "\"params\": {\"ms\": 500}, \"timeout_ms\": "
                                 "60000, \"targets\": [{}, {}, {}, {}]}"));
    cr_assert(cluster_until(&c, 10000, has_state, "running"));
    /* The member logs each registration: one more after the restart. */
    log_count regs = {&c.nodes[0], "runtime rt1 registered", 0};
    regs.count = cluster_log_count(regs.node, regs.needle) + 1;
    cr_assert_geq(regs.count, 2, "the member never logged rt1's registration");
    kill(r1->pid, SIGKILL);
    waitpid(r1->pid, NULL, 0);
    r1->pid = 0;
    /* Same id, at once: well inside heartbeat_ms x heartbeat_misses. */
    cluster_runtime(&c, "rt1", NULL);
    cr_expect(harness_until(10000, log_count_reached, &regs),
              "the member did not log rt1 registering again");
    json_t *jobs = cluster_wait(&c, "x", 60000);
    cr_expect_eq(expect_all(jobs, "completed"), 4);
    size_t i;
    json_t *j;
    int again = 0;
    json_array_foreach(jobs, i, j) {
        cr_expect_eq(events_for(w, s_get(j, "id")), 1, "%s", s_get(j, "id"));
        again += json_integer_value(json_object_get(j, "attempt")) > 1;
    }
    cr_expect_gt(again, 0, "no job was requeued after the restart");
    json_decref(jobs);
}

/* --join is repeatable: a runtime whose first member does not answer
 * tries the next one. */
Test(cluster, runtime_tries_its_join_endpoints_in_turn)
{
    cluster_start(&c, NULL);
    cluster_node *rt = cluster_bg(
        &c, "rt1",
        "%sassayd --node-id rt1 --plugins-dir %s --executors 1 "
        CLUSTER_NODE_FLAGS " --join tcp://127.0.0.1:%d --join %s",
        HARNESS_BIN, HARNESS_PLUGINS, harness_port(), c.endpoint);
    cr_assert(cluster_log_has(rt, "no answer from", 10000), "%s", rt->log);
    cr_assert(cluster_log_has(rt, "registered with member", 10000));
    json_decref(submit("j.json", "{\"id\": \"j\", \"action\": \"noop.pass\"}"));
    json_t *jobs = cluster_wait(&c, "j", 20000);
    cr_expect_eq(expect_all(jobs, "completed"), 1);
    json_decref(jobs);
}

/* The list holds at most *arg jobs (for cluster_until). */
static bool at_most(const json_t *jobs, void *arg)
{
    return json_array_size(jobs) <= *(size_t *)arg;
}

/* Retention (retain_jobs): once more jobs have finished than a member
 * keeps, the oldest are forgotten, a JobSpec with its last job, and the
 * ones kept carry their attempt history. */
Test(cluster, retention_forgets_the_oldest_finished_jobs)
{
    cluster_start(&c, "--set retain_jobs=5");
    cluster_runtime(&c, "rt1", NULL);
    json_decref(submit("old.json", "{\"id\": \"old\", \"action\": "
                                   "\"noop.pass\", \"targets\": [{}, {}, {}]}"));
    json_t *jobs = cluster_wait(&c, "old", 30000);
    cr_assert_eq(expect_all(jobs, "completed"), 3);
    json_decref(jobs);
    json_decref(submit("new.json", "{\"id\": \"new\", \"action\": "
                                   "\"noop.pass\", \"targets\": [{}, {}, {}, "
                                   "{}, {}]}"));
    jobs = cluster_wait(&c, "new", 30000);
    cr_assert_eq(expect_all(jobs, "completed"), 5);
    json_decref(jobs);
    size_t keep = 5;
    cr_assert(cluster_until(&c, 10000, at_most, &keep),
              "more than retain_jobs finished jobs kept");
    int code;
    json_decref(cluster_ctl(&c, &code, "job old-0"));
    cr_expect_eq(code, 65, "an expired job is still known (exit %d)", code);
    json_decref(cluster_ctl(&c, &code, "job old"));
    cr_expect_eq(code, 65, "an expired JobSpec is still known (exit %d)",
                 code);
    json_t *r = cluster_ctl(&c, &code, "job new-4");
    cr_assert_eq(code, 0);
    json_t *att = json_object_get(json_object_get(r, "job"), "attempts");
    cr_assert_eq(json_array_size(att), 1, "attempt history: %zu entries",
                 json_array_size(att));
    json_t *a = json_array_get(att, 0);
    cr_expect_str_eq(s_get(a, "runtime"), "rt1");
    cr_expect_str_eq(s_get(a, "outcome"), "completed");
    json_int_t start = json_integer_value(json_object_get(a, "start_ms"));
    cr_expect_gt(start, 1600000000000, "start_ms %lld is no wall time",
                 (long long)start);
    cr_expect_geq(json_integer_value(json_object_get(a, "end_ms")), start);
    json_decref(r);
    /* A forgotten JobSpec id is free again. */
    r = submit("old.json", "{\"id\": \"old\", \"action\": \"noop.pass\"}");
    cr_expect(!json_is_true(json_object_get(r, "duplicate")));
    json_decref(r);
}

/* How many runtimes `assay.runtimes` lists, and refused registrations. */
static size_t s_runtimes(json_int_t *refused)
{
    int code;
    json_t *r = cluster_ctl(&c, &code, "runtimes");
    size_t n = json_array_size(json_object_get(r, "runtimes"));
    if (refused)
        *refused = json_integer_value(
            json_object_get(r, "refused_registrations"));
    json_decref(r);
    return n;
}

static bool s_three_listed(void *arg)
{
    (void)arg;
    return s_runtimes(NULL) >= 3;
}

/* Sends a registration for `id` with `labels`, `capacity` and `catalog`
 * (all taken) on link d of `link`. */
static void s_register_raw(assay_link *link, int d, const char *id,
                           json_t *labels, json_t *capacity, json_t *catalog)
{
    json_t *reg = json_pack("{s:s, s:i, s:o, s:o, s:o}", "id", id,
                            "heartbeat_ms", 1000, "labels", labels,
                            "capacity", capacity, "catalog", catalog);
    cr_assert_eq(assay_link_send(link, d, NULL, ASSAY_RUNTIME_PROTO,
                                 "register", reg),
                 0);
    json_decref(reg);
}

/* Registrations that never heartbeat (max_runtimes of them) hold the
 * leader's sessions only until they are silent twice their allowance: a
 * real runtime is refused meanwhile (logged, counted), then gets in and
 * runs jobs, without a leader change. */
Test(cluster, silent_registrations_expire_and_cannot_keep_runtimes_out)
{
    cluster_start(&c, "--set max_runtimes=3 --set heartbeat_misses=2");
    assay_link *link = NULL;
    char err[512];
    link = HARNESS_RUNTIME_LINK(1u << 20);
    int d = assay_link_open(link, ASSAY_LINK_CLIENT, c.endpoint, err,
                            sizeof err);
    cr_assert_geq(d, 0, "%s", err);
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "ghost%d", i);
        s_register_raw(link, d, id, json_object(), json_null(),
                       json_pack("{s:[]}", "plugins"));
    }
    cr_assert(harness_until(10000, s_three_listed, NULL));
    cluster_runtime(&c, "rt1", NULL); /* waits until it is registered */
    cr_assert(cluster_log_has(&c.nodes[0],
                              "refused registration from rt1: max_runtimes "
                              "(3) sessions held",
                              0),
              "rt1 was not refused while the ghosts held the sessions");
    json_int_t refused = 0;
    s_runtimes(&refused);
    cr_assert_geq(refused, 1);
    json_decref(submit("j.json", "{\"id\": \"j\", \"action\": \"noop.pass\"}"));
    json_t *jobs = cluster_wait(&c, "j", 20000);
    cr_expect_eq(expect_all(jobs, "completed"), 1);
    json_decref(jobs);
    assay_link_destroy(&link);
}

/* What a runtime makes every member hold is bounded at the door: labels,
 * capacity and catalogue over their caps are refused, each naming the
 * part, and nothing is registered. */
Test(cluster, oversized_registrations_are_refused_naming_the_part)
{
    cluster_start(&c, NULL);
    assay_link *link = NULL;
    char err[512];
    link = HARNESS_RUNTIME_LINK(4u << 20);
    int d = assay_link_open(link, ASSAY_LINK_CLIENT, c.endpoint, err,
                            sizeof err);
    cr_assert_geq(d, 0, "%s", err);
    json_t *many = json_object(), *long_value = json_object();
    for (int i = 0; i < 65; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_object_set_new(many, k, json_string("v"));
    }
    char value[300];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    json_object_set_new(long_value, "k", json_string(value));
    char *doc = malloc(200000);
    cr_assert_not_null(doc);
    memset(doc, 'd', 199999);
    doc[199999] = '\0';
    json_t *big = json_pack("{s:[{s:s, s:s, s:[{s:s, s:s}]}]}", "plugins",
                            "name", "p", "version", "1.0.0", "actions",
                            "name", "a", "doc", doc);
    free(doc);
    s_register_raw(link, d, "many-labels", many, json_null(),
                   json_pack("{s:[]}", "plugins"));
    s_register_raw(link, d, "long-label", long_value, json_null(),
                   json_pack("{s:[]}", "plugins"));
    s_register_raw(link, d, "odd-capacity", json_object(),
                   json_string("lots"), json_pack("{s:[]}", "plugins"));
    s_register_raw(link, d, "big-catalog", json_object(), json_null(), big);
    const char *lines[] = {
        "refused registration from many-labels: labels: more than 64",
        "refused registration from long-label: labels: a key not of",
        "refused registration from odd-capacity: capacity: not a map",
        "refused registration from big-catalog: catalog: over 128 KiB"};
    for (size_t i = 0; i < 4; i++)
        cr_expect(cluster_log_has(&c.nodes[0], lines[i], 5000), "%s",
                  lines[i]);
    cr_expect_eq(s_runtimes(NULL), 0);
    assay_link_destroy(&link);
}
