/* bench-e2e - a control plane that measures a running cluster end to end:
 * assay.submit on the member's control plane -> job.completed on its event
 * stream (docs/benchmarks.md, "Cluster end to end").
 *
 * Usage: bench-e2e --endpoint EP --events EP [--jobs N] [--per-spec K]
 *                  [--rate R] [--window W] [--backlog B] [--timeout S]
 *                  [--prefix P] [--trace FILE] [--json]
 *
 * Throughput mode (no --rate): N noop.pass jobs as ceil(N/K) JobSpecs of K
 * targets, sent pipelined with at most W submits awaiting their reply (and,
 * with --backlog, at most B jobs submitted but not yet ended). jobs/s =
 * N / (first submit -> last job.completed event).
 *
 * Latency mode (--rate R): N JobSpecs of one job each, offered open loop:
 * spec i is sent at t0 + i/R whatever the replies do, and its latency is
 * the receive time of its job.completed event minus that scheduled time,
 * so a stalled cluster (or a late sender) shows up in the figures instead
 * of slowing the offered load (no coordinated omission).
 *
 * Before measuring it subscribes to job.completed and job.failed and
 * submits warm-up JobSpecs until one's event arrives: the subscription is
 * live and runtimes are serving. Everything is bounded by --timeout
 * (default 120 s); past it, what was measured is reported and the exit
 * status is 1, as after a refused submit (its jobs would never end). Exit
 * 0 only when every job completed and no submit failed. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "error.h"
#include "link.h"

#define DEFAULT_JOBS 100000
#define DEFAULT_PER_SPEC 100
#define DEFAULT_WINDOW 8
#define DEFAULT_TIMEOUT_S 120
#define WARMUP_RETRY_US 500000

static volatile sig_atomic_t s_interrupted;

static void s_on_signal(int sig)
{
    (void)sig;
    s_interrupted = 1;
}

static int64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct {
    const char *endpoint, *events, *prefix, *trace;
    long jobs, per_spec, window, backlog;
    double rate;
    int timeout_s;
    bool json;
} s_opts;

typedef struct {
    s_opts o;
    assay_link *link;
    int cp, sub;
    char prefix[48];
    size_t prefix_len;
    int64_t deadline_ns;
    long nspecs;
    /* Progress. */
    long sent, replied, submit_errors;
    long completed, failed, dup_events, foreign_events;
    uint8_t *done;      /* per job: its terminal event was seen */
    int64_t first_send_ns, last_send_ns, last_reply_ns, last_event_ns;
    /* Latency mode. */
    int64_t t0_ns;
    int64_t *latency_ns; /* per spec (one job each), -1 until seen */
    int64_t max_send_lag_ns;
    /* Warm-up. */
    bool warm, measuring;
    int warm_sent;
    char first_error[256];
} s_bench;

static void s_usage(FILE *out)
{
    fputs("usage: bench-e2e --endpoint EP --events EP [OPTIONS]\n"
          "  --jobs N       jobs to run (default 100000)\n"
          "  --per-spec K   targets per JobSpec, throughput mode (default "
          "100)\n"
          "  --rate R       latency mode: offer R JobSpecs/s of one job each,\n"
          "                 open loop (--per-spec is 1)\n"
          "  --window W     throughput mode: submits awaiting a reply "
          "(default 8)\n"
          "  --backlog B    throughput mode: at most B jobs submitted and not\n"
          "                 yet ended (default 0: no bound)\n"
          "  --timeout S    give up after S seconds (default 120)\n"
          "  --prefix P     JobSpec id prefix (default b<pid>)\n"
          "  --trace FILE   latency mode: one line per JobSpec, \"i "
          "scheduled_us\n"
          "                 latency_us\" (-1: no event), for plotting\n"
          "  --json         one JSON object on stdout\n",
          out);
}

/* ---- Ids: "<prefix>-<spec>" for JobSpecs, "<spec id>-<k>" for jobs ------ */

/* Parses "-<spec>[-<k>]" after the prefix; false if it is not ours. */
static bool s_parse_id(const s_bench *b, const char *id, long *spec, long *k)
{
    if (!id || strncmp(id, b->prefix, b->prefix_len) ||
        id[b->prefix_len] != '-')
        return false;
    const char *p = id + b->prefix_len + 1;
    char *end;
    errno = 0;
    long s = strtol(p, &end, 10);
    if (end == p || errno || s < 0 || s >= b->nspecs)
        return false;
    *spec = s;
    if (!k)
        return *end == '\0';
    if (*end != '-')
        return false;
    p = end + 1;
    long kk = strtol(p, &end, 10);
    if (end == p || *end || kk < 0)
        return false;
    *k = kk;
    return true;
}

static long s_spec_jobs(const s_bench *b, long spec)
{
    long k = b->o.per_spec, left = b->o.jobs - spec * k;
    return left < k ? left : k;
}

/* ---- Sending ------------------------------------------------------------ */

static int s_submit(s_bench *b, const char *id, long targets)
{
    json_t *t = json_array();
    for (long i = 0; i < targets; i++)
        json_array_append_new(t, json_object());
    json_t *spec = json_pack("{s:s, s:s, s:o}", "id", id, "action",
                             "noop.pass", "targets", t);
    int rc = spec ? assay_link_send(b->link, b->cp, NULL, ASSAY_MDP_CLIENT,
                                    "assay.submit", spec)
                  : ASSAY_ENOMEM;
    json_decref(spec);
    return rc;
}

static int s_submit_spec(s_bench *b, long i)
{
    char id[96];
    snprintf(id, sizeof id, "%s-%ld", b->prefix, i);
    return s_submit(b, id, s_spec_jobs(b, i));
}

/* ---- Receiving ---------------------------------------------------------- */

static void s_on_reply(s_bench *b, const assay_link_msg *m, int64_t now)
{
    const char *spec = json_string_value(json_object_get(m->body, "spec"));
    long i;
    if (!b->measuring || (spec && !strncmp(spec, b->prefix, b->prefix_len) &&
                          !strncmp(spec + b->prefix_len, "-warm", 5)))
        return; /* only the warm-up's event matters */
    if (!strcmp(m->verb, "assay.submit") && spec && s_parse_id(b, spec, &i,
                                                                NULL)) {
        b->replied++;
        b->last_reply_ns = now;
    } else if (!json_is_true(json_object_get(m->body, "ok"))) {
        /* An error reply names no spec: it answers the oldest submit. */
        b->replied++;
        b->last_reply_ns = now;
    }
    if (!json_is_true(json_object_get(m->body, "ok"))) {
        b->submit_errors++;
        if (!b->first_error[0])
            snprintf(b->first_error, sizeof b->first_error, "%s: %s (%s)",
                     m->verb,
                     json_string_value(json_object_get(m->body, "message")),
                     json_string_value(json_object_get(m->body, "error")));
    }
}

static void s_on_event(s_bench *b, const assay_link_msg *m, int64_t now)
{
    const char *spec = json_string_value(json_object_get(m->body, "spec"));
    const char *id = json_string_value(json_object_get(m->body, "id"));
    bool failed = !strcmp(m->proto, "job.failed");
    if (spec && !strncmp(spec, b->prefix, b->prefix_len) &&
        !strncmp(spec + b->prefix_len, "-warm", 5)) {
        b->warm = true;
        return;
    }
    long si, k;
    if (!s_parse_id(b, id, &si, &k) || k >= s_spec_jobs(b, si)) {
        b->foreign_events++;
        return;
    }
    long j = si * b->o.per_spec + k;
    if (b->done[j]) {
        b->dup_events++;
        return;
    }
    b->done[j] = 1;
    b->last_event_ns = now;
    if (failed) {
        b->failed++;
        if (!b->first_error[0])
            snprintf(b->first_error, sizeof b->first_error,
                     "job %s failed: %s", id,
                     json_string_value(json_object_get(m->body, "reason")));
        return;
    }
    b->completed++;
    if (b->latency_ns)
        b->latency_ns[si] = now - (b->t0_ns + (int64_t)((double)si * 1e9 /
                                                         b->o.rate));
}

/* Takes everything waiting (the transport fd is edge-triggered: only a
 * drained link re-arms it). */
static void s_drain(s_bench *b)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    for (;;) {
        assay_link_msg m;
        int rc = assay_link_recv(b->link, &m, err, sizeof err);
        if (rc == 0)
            return;
        if (rc < 0) {
            fprintf(stderr, "bench-e2e: dropped a malformed message: %s\n",
                    err);
            continue;
        }
        int64_t now = s_now_ns();
        if (m.id == b->sub)
            s_on_event(b, &m, now);
        else if (m.body)
            s_on_reply(b, &m, now);
        assay_link_msg_fini(&m);
    }
}

/* Waits for the transport fd, at most until `until_ns` (and 100 ms). */
static void s_wait(s_bench *b, int64_t until_ns)
{
    int64_t left = until_ns - s_now_ns();
    if (left <= 0)
        return;
    if (left > 100000000)
        left = 100000000;
    struct timespec ts = {left / 1000000000, left % 1000000000};
    struct pollfd p = {assay_link_fd(b->link), POLLIN, 0};
    ppoll(&p, 1, &ts, NULL);
}

static bool s_expired(const s_bench *b)
{
    return s_interrupted || s_now_ns() >= b->deadline_ns;
}

static long s_ended(const s_bench *b) { return b->completed + b->failed; }

/* ---- Phases ------------------------------------------------------------- */

/* Submits one-job warm-up specs until an event for one of them arrives. */
static int s_warmup(s_bench *b)
{
    char id[96];
    snprintf(id, sizeof id, "%s-warm", b->prefix);
    int64_t next = 0;
    while (!b->warm && !s_expired(b)) {
        int64_t now = s_now_ns();
        if (now >= next) {
            /* A fresh id each time: a repeated one would be a duplicate
             * submission, which runs nothing and publishes nothing. */
            char one[112];
            snprintf(one, sizeof one, "%s%d", id, b->warm_sent++);
            int rc = s_submit(b, one, 1);
            if (rc)
                fprintf(stderr, "bench-e2e: warm-up submit: %s\n",
                        assay_strerror(rc));
            next = now + WARMUP_RETRY_US * 1000LL;
        }
        s_drain(b);
        if (!b->warm)
            s_wait(b, next);
    }
    s_drain(b);
    return b->warm ? 0 : 1;
}

static void s_throughput(s_bench *b)
{
    long next = 0;
    b->first_send_ns = s_now_ns();
    while (s_ended(b) < b->o.jobs && !b->submit_errors && !s_expired(b)) {
        bool progress = false;
        while (next < b->nspecs && b->sent - b->replied < b->o.window &&
               (!b->o.backlog ||
                next * b->o.per_spec - s_ended(b) < b->o.backlog)) {
            int rc = s_submit_spec(b, next);
            if (rc == ASSAY_EBUSY)
                break; /* high-water mark: let replies drain first */
            if (rc) {
                fprintf(stderr, "bench-e2e: submit: %s\n",
                        assay_strerror(rc));
                b->deadline_ns = 0;
                break;
            }
            next++;
            b->sent++;
            b->last_send_ns = s_now_ns();
            progress = true;
        }
        long before = b->replied + s_ended(b);
        s_drain(b);
        if (!progress && b->replied + s_ended(b) == before)
            s_wait(b, b->deadline_ns);
    }
    s_drain(b);
}

static void s_latency(s_bench *b)
{
    long next = 0;
    double step_ns = 1e9 / b->o.rate;
    b->t0_ns = s_now_ns() + 1000000; /* 1 ms to settle */
    b->first_send_ns = b->t0_ns;
    while (s_ended(b) < b->o.jobs && !b->submit_errors && !s_expired(b)) {
        int64_t now = s_now_ns();
        while (next < b->nspecs &&
               b->t0_ns + (int64_t)((double)next * step_ns) <= now) {
            int64_t sched = b->t0_ns + (int64_t)((double)next * step_ns);
            int rc = s_submit_spec(b, next);
            if (rc) {
                fprintf(stderr, "bench-e2e: submit: %s\n",
                        assay_strerror(rc));
                b->deadline_ns = 0;
                break;
            }
            now = s_now_ns();
            if (now - sched > b->max_send_lag_ns)
                b->max_send_lag_ns = now - sched;
            next++;
            b->sent++;
            b->last_send_ns = now;
        }
        s_drain(b);
        int64_t wake = next < b->nspecs
                           ? b->t0_ns + (int64_t)((double)next * step_ns)
                           : b->deadline_ns;
        s_wait(b, wake < b->deadline_ns ? wake : b->deadline_ns);
    }
    s_drain(b);
}

/* ---- Report ------------------------------------------------------------- */

static int s_cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double s_pct_us(const int64_t *v, long n, double p)
{
    if (n <= 0)
        return NAN;
    long r = (long)ceil(p / 100.0 * (double)n);
    if (r < 1)
        r = 1;
    return (double)v[r - 1] / 1e3;
}

/* A JSON number, or null for NaN/infinity (which JSON cannot hold). */
static json_t *s_real(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static int s_report(s_bench *b)
{
    double pct[6] = {NAN, NAN, NAN, NAN, NAN, NAN}; /* offered, p50..max */
    bool ok = s_ended(b) == b->o.jobs && !b->failed && !b->submit_errors &&
              !s_interrupted;
    double secs = b->last_event_ns > b->first_send_ns
                      ? (double)(b->last_event_ns - b->first_send_ns) / 1e9
                      : NAN;
    double submit_secs =
        b->last_reply_ns > b->first_send_ns
            ? (double)(b->last_reply_ns - b->first_send_ns) / 1e9
            : NAN;
    json_t *r = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, "
                          "s:o, s:b}",
                          "mode", b->latency_ns ? "latency" : "throughput",
                          "jobs", (json_int_t)b->o.jobs, "per_spec",
                          (json_int_t)b->o.per_spec, "specs_sent",
                          (json_int_t)b->sent, "completed",
                          (json_int_t)b->completed, "failed",
                          (json_int_t)b->failed, "submit_errors",
                          (json_int_t)b->submit_errors, "duplicate_events",
                          (json_int_t)b->dup_events, "seconds", s_real(secs),
                          "submit_seconds", s_real(submit_secs), "ok", ok);
    if (!b->latency_ns) {
        json_object_set_new(r, "window", json_integer(b->o.window));
        json_object_set_new(r, "backlog", json_integer(b->o.backlog));
        json_object_set_new(r, "jobs_per_s",
                            s_real((double)b->completed / secs));
    } else {
        int64_t *v = malloc(sizeof *v * (size_t)(b->nspecs ? b->nspecs : 1));
        long n = 0;
        for (long i = 0; v && i < b->nspecs; i++)
            if (b->latency_ns[i] >= 0)
                v[n++] = b->latency_ns[i];
        qsort(v, (size_t)n, sizeof *v, s_cmp64);
        double offered = b->last_send_ns > b->first_send_ns && b->sent > 1
                             ? (double)(b->sent - 1) * 1e9 /
                                   (double)(b->last_send_ns - b->first_send_ns)
                             : NAN;
        pct[0] = offered;
        pct[1] = s_pct_us(v, n, 50);
        pct[2] = s_pct_us(v, n, 90);
        pct[3] = s_pct_us(v, n, 99);
        pct[4] = s_pct_us(v, n, 99.9);
        pct[5] = n ? (double)v[n - 1] / 1e3 : NAN;
        json_object_set_new(r, "rate", s_real(b->o.rate));
        json_object_set_new(r, "offered_per_s", s_real(offered));
        json_object_set_new(r, "max_send_lag_us",
                            s_real((double)b->max_send_lag_ns / 1e3));
        json_object_set_new(r, "samples", json_integer(n));
        json_object_set_new(r, "p50_us", s_real(pct[1]));
        json_object_set_new(r, "p90_us", s_real(pct[2]));
        json_object_set_new(r, "p99_us", s_real(pct[3]));
        json_object_set_new(r, "p999_us", s_real(pct[4]));
        json_object_set_new(r, "max_us", s_real(pct[5]));
        free(v);
    }
    if (b->first_error[0])
        json_object_set_new(r, "first_error", json_string(b->first_error));
    if (b->latency_ns && b->o.trace) {
        FILE *f = fopen(b->o.trace, "w");
        for (long i = 0; f && i < b->nspecs; i++)
            fprintf(f, "%ld %.0f %.0f\n", i, (double)i * 1e6 / b->o.rate,
                    b->latency_ns[i] < 0 ? -1.0
                                         : (double)b->latency_ns[i] / 1e3);
        if (!f || fclose(f) != 0)
            fprintf(stderr, "bench-e2e: %s: cannot write the trace\n",
                    b->o.trace);
    }
    if (b->o.json) {
        json_dumpf(r, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
        fputc('\n', stdout);
    } else if (!b->latency_ns) {
        printf("throughput: jobs=%ld per_spec=%ld window=%ld backlog=%ld "
               "completed=%ld failed=%ld submit_errors=%ld time=%.3fs "
               "(submits answered after %.3fs) rate=%.0f jobs/s%s\n",
               b->o.jobs, b->o.per_spec, b->o.window, b->o.backlog,
               b->completed, b->failed, b->submit_errors, secs, submit_secs,
               (double)b->completed / secs, ok ? "" : " INCOMPLETE");
    } else {
        printf("latency: rate=%.0f/s offered=%.0f/s jobs=%ld completed=%ld "
               "failed=%ld p50=%.0fus p90=%.0fus p99=%.0fus p99.9=%.0fus "
               "max=%.0fus (max send lag %.0fus)%s\n",
               b->o.rate, pct[0], b->o.jobs, b->completed, b->failed, pct[1],
               pct[2], pct[3], pct[4], pct[5],
               (double)b->max_send_lag_ns / 1e3, ok ? "" : " INCOMPLETE");
    }
    if (b->first_error[0])
        fprintf(stderr, "bench-e2e: first error: %s\n", b->first_error);
    if (s_ended(b) < b->o.jobs)
        fprintf(stderr, "bench-e2e: %ld of %ld jobs ended before %s\n",
                s_ended(b), b->o.jobs,
                b->submit_errors  ? "a submit was refused"
                : s_interrupted ? "the interrupt"
                                : "the timeout");
    json_decref(r);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"events", required_argument, NULL, 'E'},
        {"jobs", required_argument, NULL, 'n'},
        {"per-spec", required_argument, NULL, 'k'},
        {"rate", required_argument, NULL, 'r'},
        {"window", required_argument, NULL, 'w'},
        {"backlog", required_argument, NULL, 'b'},
        {"timeout", required_argument, NULL, 't'},
        {"prefix", required_argument, NULL, 'p'},
        {"trace", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    s_bench b = {.o = {.jobs = DEFAULT_JOBS,
                       .per_spec = DEFAULT_PER_SPEC,
                       .window = DEFAULT_WINDOW,
                       .timeout_s = DEFAULT_TIMEOUT_S}};
    bool per_spec_given = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e': b.o.endpoint = optarg; break;
        case 'E': b.o.events = optarg; break;
        case 'n': b.o.jobs = atol(optarg); break;
        case 'k': b.o.per_spec = atol(optarg); per_spec_given = true; break;
        case 'r': b.o.rate = atof(optarg); break;
        case 'w': b.o.window = atol(optarg); break;
        case 'b': b.o.backlog = atol(optarg); break;
        case 't': b.o.timeout_s = atoi(optarg); break;
        case 'p': b.o.prefix = optarg; break;
        case 'T': b.o.trace = optarg; break;
        case 'j': b.o.json = true; break;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (b.o.rate > 0) {
        if (per_spec_given && b.o.per_spec != 1) {
            fprintf(stderr, "bench-e2e: --rate sends one job per JobSpec\n");
            return 2;
        }
        b.o.per_spec = 1;
    }
    if (!b.o.endpoint || !b.o.events || optind != argc || b.o.jobs < 1 ||
        b.o.per_spec < 1 || b.o.per_spec > 10000 || b.o.window < 1 ||
        b.o.backlog < 0 || b.o.timeout_s < 1 || b.o.rate < 0) {
        s_usage(stderr);
        return 2;
    }
    if (b.o.prefix)
        snprintf(b.prefix, sizeof b.prefix, "%s", b.o.prefix);
    else
        snprintf(b.prefix, sizeof b.prefix, "b%ld", (long)getpid());
    b.prefix_len = strlen(b.prefix);
    b.nspecs = (b.o.jobs + b.o.per_spec - 1) / b.o.per_spec;
    b.done = calloc((size_t)b.o.jobs, 1);
    if (b.o.rate > 0) {
        b.latency_ns = malloc(sizeof *b.latency_ns * (size_t)b.nspecs);
        for (long i = 0; b.latency_ns && i < b.nspecs; i++)
            b.latency_ns[i] = -1;
    }
    if (!b.done || (b.o.rate > 0 && !b.latency_ns)) {
        fprintf(stderr, "bench-e2e: out of memory\n");
        return 1;
    }
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGPIPE, SIG_IGN);

    char err[ASSAY_ERRMSG_SIZE * 2];
    if (assay_link_new(NULL, "zmq", NULL, 64u << 20, &b.link, err,
                       sizeof err) != 0 ||
        (b.sub = assay_link_open(b.link, ASSAY_LINK_SUBSCRIBE, b.o.events,
                                 err, sizeof err)) < 0 ||
        (b.cp = assay_link_open(b.link, ASSAY_LINK_CLIENT, b.o.endpoint, err,
                                sizeof err)) < 0) {
        fprintf(stderr, "bench-e2e: %s\n", err);
        return 1;
    }
    assay_link_subscribe(b.link, b.sub, "job.completed");
    assay_link_subscribe(b.link, b.sub, "job.failed");
    b.deadline_ns = s_now_ns() + (int64_t)b.o.timeout_s * 1000000000LL;

    int code = s_warmup(&b);
    if (code) {
        fprintf(stderr, "bench-e2e: no job.completed event for %d warm-up "
                        "JobSpecs within %d s: is the cluster up, with a "
                        "runtime offering noop.pass and no backlog ahead of it?\n",
                b.warm_sent, b.o.timeout_s);
    } else {
        b.measuring = true;
        if (b.latency_ns)
            s_latency(&b);
        else
            s_throughput(&b);
        code = s_report(&b);
    }
    assay_link_destroy(&b.link);
    free(b.done);
    free(b.latency_ns);
    return code;
}
