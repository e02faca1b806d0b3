/* bench/assay-bench/main.c - assay-bench starts an Assay cluster on
 * loopback (or joins one), loads it, and reports what it measured (issue
 * 5; docs/benchmarks.md).
 *
 *   assay-bench run --jobs N --runtimes R [--simulated] [--rate JOBS/S]
 *                   [--members 1|3] [--endpoint EP[,EP..] [--events EP]]
 *                   [--action A --params JSON] [--idle SECONDS] [--json]
 *   assay-bench failover --kills K [--jobs-per-kill M] [--simulated] [--json]
 *   assay-bench memory --queued N [--per-spec K] [--json]
 *
 * Cluster. Unless --endpoint is given, assay-bench starts the cluster itself:
 * `assayd` from the same build or install (beside the binary: ../bin/assayd,
 * bin/assayd, assayd; else $PATH), plugins from ../plugins-out when that
 * exists, every process bound to 127.0.0.1 on free ports, logs and raft data
 * in a temporary directory that is removed at the end (--keep keeps it).
 * Members run no jobs (--executors 0); one member uses consensus `none`,
 * three use `raft`. R real runtimes are `assayd --join <every member>`
 * (--executors E, jobs_per_executor D, no CPU or memory gate) unless
 * --simulated.
 *
 * Simulated runtimes (--simulated) live inside assay-bench: each is a real
 * DEALER link (the zmq transport holds at most 16 links per instance, so
 * they are spread over ceil(R/16) assay_link instances) that speaks the
 * runtime protocol of docs/protocol.md: register with the catalogue shape of
 * assay_catalog_json (plugin noop 1.0.0, action "pass", no params), a
 * heartbeat every --heartbeat-ms with a credit `limit` (received + --slots),
 * an immediate pass result for every dispatch (nothing runs), and ack,
 * pulse, redirect, reregister and silence handling as core/cluster/runtime.c does.
 *
 * run: N JobSpecs of --action (noop.pass) with --params. Throughput mode
 * (no --rate): ceil(N/K) JobSpecs of K targets (--per-spec, 100), at most W
 * submits awaiting their reply (--window, 8) and, with --backlog B, at most
 * B jobs submitted and not ended; with --unplaceable U, U jobs no runtime
 * can take (a selector none has; JobSpecs of 1,000) are queued first, at
 * the same priority, and stay queued; with --mix durations (simulated),
 * each JobSpec runs one of sim.ms1 .. sim.ms10000, which a simulated
 * runtime holds that long within its --slots (mix.c), the leader is taught
 * each first, and the makespan is reported against its lower bound; jobs/s = completed / (first submit -> last
 * completion event). Latency mode (--rate R): N one-job
 * JobSpecs offered open loop (spec i is sent at t0 + i/R whatever the
 * replies do), latency = completion event - *scheduled* send time, so no
 * coordinated omission. In throughput mode latency is event - send time of
 * the job's JobSpec. Events (job.completed/failed/cancelled) come from the
 * leader's stream; jobs whose event was missed are looked up with
 * assay.job. With --jobs 0 --idle S: the runtimes only heartbeat for S
 * seconds; reported: the leader's CPU % of one core over that period and
 * the runtimes assay.runtimes reports dead (alive=false).
 *
 * failover: 3 raft members and 1 runtime (real, or --simulated). K times:
 * M one-job JobSpecs submitted and acknowledged one by one (--jobs-per-kill,
 * 20), the leader killed with SIGKILL, submissions continued through the
 * members (200 ms for a silent member, redirects followed) until one is
 * acknowledged: failover time = kill -> that acknowledgement. The victim is
 * restarted and given --settle seconds (1). Then every acknowledged JobSpec
 * is looked up until its jobs completed: lost = acknowledged JobSpecs with a
 * job missing or not completed (must be 0).
 *
 * memory: one member (consensus none) and one simulated runtime that grants
 * no credit; N noop jobs as JobSpecs of K targets (--per-spec, 1000) stay
 * queued; leader VmRSS growth per queued job = (after - before) / N.
 *
 * Control plane: one libassay-client client (assay/client.h) of every
 * member, the leader's first; it follows redirects to the leader itself.
 * bench.h lists the files and what each owns.
 *
 * Leader figures (clusters it started): CPU = utime + stime from
 * /proc/PID/stat over the measured period, peak RSS = VmHWM, RSS = VmRSS.
 * Progress goes to stderr once a second; a summary (or with --json one JSON
 * object) to stdout at the end. Everything is bounded by --timeout (300 s);
 * everything started is stopped (SIGTERM, SIGKILL after 5 s), also on error
 * and SIGINT. Exit 0 when every job completed and no submit failed (and,
 * for failover, nothing was lost); 1 otherwise; 2 on a usage error. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/dir.h"
#include "bench.h"

#define DEFAULT_TIMEOUT_S 300

volatile sig_atomic_t bench_interrupted;

static s_bench B;
static bool s_emitted;

static void s_on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

void bench_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("assay-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void bench_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

bool bench_stopping(const s_bench *b)
{
    return bench_interrupted || b->fatal[0] || assay_now_us() >= b->deadline;
}

void bench_error(s_bench *b, const char *fmt, ...)
{
    if (b->first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->first_error, sizeof b->first_error, fmt, ap);
    va_end(ap);
}

json_t *bench_real(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

void bench_emit(json_t *r)
{
    s_emitted = true;
    json_dumpf(r, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(r);
}

static void s_usage(FILE *out)
{
    fputs(
        "usage: assay-bench COMMAND [OPTIONS]\n"
        "\n"
        "  run --jobs N --runtimes R [--simulated] [--rate JOBS/S]\n"
        "      [--members 1|3] [--endpoint EP[,EP..] [--events EP]]\n"
        "      [--action A --params JSON] [--idle SECONDS] [--json]\n"
        "      N jobs through a cluster it starts (or --endpoint): end-to-end\n"
        "      jobs/s, submit->completed latency p50/p90/p99/max, leader CPU\n"
        "      and peak RSS, errors. Without --rate: JobSpecs of --per-spec\n"
        "      targets, --window submits in flight; with --rate: one-job\n"
        "      JobSpecs offered open loop. --jobs 0 --idle S: runtimes only\n"
        "      heartbeat for S s; leader CPU % and runtimes reported dead.\n"
        "  failover --kills K [--jobs-per-kill M] [--simulated]\n"
        "      3 raft members + 1 runtime; kills the leader (kill -9) K times\n"
        "      while submitting: failover time min/median/max, jobs lost.\n"
        "  memory --queued N [--per-spec K]\n"
        "      1 member + 1 simulated runtime granting no credit; N queued\n"
        "      noop jobs: leader RSS growth per queued job.\n"
        "\n"
        "options:\n"
        "  --jobs N            jobs to run (run; default 10000)\n"
        "  --runtimes R        runtimes (default 2; simulated: up to 16384)\n"
        "  --simulated         runtimes simulated inside assay-bench\n"
        "  --rate R            latency mode: R one-job JobSpecs/s, open loop\n"
        "  --per-spec K        targets per JobSpec (run: 100, memory: 1000)\n"
        "  --window W          submits awaiting a reply (default 8)\n"
        "  --backlog B         throughput: at most B jobs submitted and not\n"
        "                      yet ended (default 0: no bound)\n"
        "  --unplaceable U     run: first queue U jobs no runtime can take\n"
        "                      (a selector none has), at the same priority\n"
        "  --mix durations     run, simulated: each JobSpec one of sim.ms1 ..\n"
        "                      sim.ms10000 (held that many ms), taught to\n"
        "                      the leader first; reports the makespan bound\n"
        "  --members 1|3       members started (1: consensus none; 3: raft)\n"
        "  --endpoint EP,..    use this cluster instead of starting one\n"
        "  --events EP         its leader's event stream (default: asked)\n"
        "  --action A          action of every job (default noop.pass)\n"
        "  --params JSON       params of every job (a JSON object)\n"
        "  --idle S            with --jobs 0: heartbeat only, for S seconds\n"
        "  --heartbeat-ms MS   runtimes' heartbeat interval (default 1000)\n"
        "  --slots S           simulated runtime's credit (default 128)\n"
        "  --executors E       real runtime's executors (default 2)\n"
        "  --depth D           real runtime's jobs_per_executor (default 64)\n"
        "  --kills K           failover: leader kills (default 5)\n"
        "  --jobs-per-kill M   failover: JobSpecs acked between kills (20)\n"
        "  --settle S          failover: seconds after a restart (default 1)\n"
        "  --queued N          memory: jobs to leave queued\n"
        "  --timeout S         give up after S seconds (default 300)\n"
        "  --member-set K=V    a setting for the members it starts (up to\n"
        "                      8; e.g. retain_jobs=100000)\n"
        "  --security S        curve (default) or none: the members, runtimes\n"
        "                      and its own links, all alike\n"
        "  --keep              keep the temporary directory (logs, data)\n"
        "  --json              one JSON object on stdout\n"
        "\n"
        "Exit: 0 every job completed and no submit failed (failover: and\n"
        "nothing lost); 1 otherwise; 2 usage.\n",
        out);
}

static bool s_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int s_parse(s_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'n'},
        {"runtimes", required_argument, NULL, 'R'},
        {"simulated", no_argument, NULL, 'S'},
        {"rate", required_argument, NULL, 'r'},
        {"members", required_argument, NULL, 'm'},
        {"endpoint", required_argument, NULL, 'e'},
        {"events", required_argument, NULL, 'E'},
        {"action", required_argument, NULL, 'a'},
        {"params", required_argument, NULL, 'P'},
        {"per-spec", required_argument, NULL, 'k'},
        {"window", required_argument, NULL, 'w'},
        {"backlog", required_argument, NULL, 'b'},
        {"unplaceable", required_argument, NULL, 'u'},
        {"mix", required_argument, NULL, 'D'},
        {"idle", required_argument, NULL, 'i'},
        {"heartbeat-ms", required_argument, NULL, 'H'},
        {"slots", required_argument, NULL, 's'},
        {"executors", required_argument, NULL, 'x'},
        {"depth", required_argument, NULL, 'd'},
        {"kills", required_argument, NULL, 'K'},
        {"jobs-per-kill", required_argument, NULL, 'M'},
        {"settle", required_argument, NULL, 'T'},
        {"queued", required_argument, NULL, 'q'},
        {"timeout", required_argument, NULL, 't'},
        {"member-set", required_argument, NULL, 'X'},
        {"security", required_argument, NULL, 'Y'},
        {"keep", no_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    long v;
    char *end;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bool good = true;
        switch (c) {
        case 'n': good = s_num(optarg, 0, 100000000, &o->jobs);
                  o->jobs_given = true; break;
        case 'R': good = s_num(optarg, 1, MAX_SIM_RUNTIMES, &o->runtimes);
                  break;
        case 'S': o->simulated = true; break;
        case 'r': o->rate = strtod(optarg, &end);
                  good = *end == '\0' && o->rate > 0 && o->rate <= 1e6; break;
        case 'm': good = s_num(optarg, 1, 3, &v) && v != 2;
                  o->members = (int)v; break;
        case 'e': o->endpoint = optarg; break;
        case 'E': o->events = optarg; break;
        case 'a': o->action = optarg; break;
        case 'P': o->params = optarg; break;
        case 'k': good = s_num(optarg, 1, 10000, &o->per_spec);
                  o->per_spec_given = true; break;
        case 'w': good = s_num(optarg, 1, 100000, &o->window); break;
        case 'b': good = s_num(optarg, 0, 100000000, &o->backlog); break;
        case 'u': good = s_num(optarg, 0, 100000000, &o->unplaceable);
                  break;
        case 'D': good = !strcmp(optarg, "durations"); o->mix = good; break;
        case 'i': o->idle_s = strtod(optarg, &end);
                  good = *end == '\0' && o->idle_s >= 0 && o->idle_s < 1e6;
                  break;
        case 'H': good = s_num(optarg, 10, 600000, &v);
                  o->heartbeat_ms = (int)v; break;
        case 's': good = s_num(optarg, 0, 1000000, &o->slots); break;
        case 'x': good = s_num(optarg, 1, 256, &v); o->executors = (int)v;
                  break;
        case 'd': good = s_num(optarg, 1, 1024, &v); o->depth = (int)v; break;
        case 'K': good = s_num(optarg, 1, 1000, &v); o->kills = (int)v; break;
        case 'M': good = s_num(optarg, 1, 100000, &o->jobs_per_kill); break;
        case 'T': o->settle_s = strtod(optarg, &end);
                  good = *end == '\0' && o->settle_s >= 0 &&
                         o->settle_s < 3600; break;
        case 'q': good = s_num(optarg, 1, 100000000, &o->queued); break;
        case 'Y':
            good = !strcmp(optarg, "curve") || !strcmp(optarg, "none");
            o->plain = !strcmp(optarg, "none");
            break;
        case 'X': good = strchr(optarg, '=') && o->n_member_sets < 8;
                  if (good)
                      o->member_sets[o->n_member_sets++] = optarg;
                  break;
        case 't': good = s_num(optarg, 1, 86400, &v); o->timeout_s = (int)v;
                  break;
        case 'p': o->keep = true; break;
        case 'j': o->json = true; break;
        case 'h': s_usage(stdout); exit(0);
        default: return -1;
        }
        if (!good) {
            fprintf(stderr, "assay-bench: bad value '%s' for %s\n", optarg,
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "assay-bench: unexpected argument '%s'\n",
                argv[optind]);
        return -1;
    }
    if (o->cmd == CMD_RUN) {
        if (!o->per_spec_given)
            o->per_spec = 100;
        if (o->rate > 0 && o->per_spec_given && o->per_spec != 1) {
            fprintf(stderr, "assay-bench: --rate sends one job per JobSpec\n");
            return -1;
        }
        if (!o->simulated && o->runtimes > MAX_REAL_RUNTIMES) {
            fprintf(stderr, "assay-bench: at most %d real runtimes (use "
                            "--simulated)\n", MAX_REAL_RUNTIMES);
            return -1;
        }
        if (o->mix && (!o->simulated || o->rate > 0)) {
            fprintf(stderr, "assay-bench: --mix durations needs "
                            "--simulated and throughput mode\n");
            return -1;
        }
        if (o->simulated && strcmp(o->action, "noop.pass")) {
            fprintf(stderr, "assay-bench: simulated runtimes offer "
                            "noop.pass only\n");
            return -1;
        }
        if (o->endpoint && o->members != 1) {
            fprintf(stderr, "assay-bench: --members starts a cluster; not "
                            "with --endpoint\n");
            return -1;
        }
    } else if (o->cmd == CMD_MEMORY) {
        if (!o->queued) {
            fprintf(stderr, "assay-bench: memory needs --queued N\n");
            return -1;
        }
        if (!o->per_spec_given)
            o->per_spec = o->queued < 1000 ? o->queued : 1000;
    }
    if (o->cmd != CMD_RUN && o->endpoint) {
        fprintf(stderr, "assay-bench: --endpoint is for run only\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    s_bench *b = &B;
    s_opts *o = &b->o;
    *o = (s_opts){.jobs = 10000, .runtimes = 2, .per_spec = 100, .window = 8,
                  .jobs_per_kill = 20, .slots = 128, .settle_s = 1.0,
                  .members = 1, .heartbeat_ms = 1000,
                  .timeout_s = DEFAULT_TIMEOUT_S, .kills = 5, .executors = 2,
                  .depth = 64, .action = "noop.pass"};
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    o->cmd = !strcmp(argv[1], "run")        ? CMD_RUN
             : !strcmp(argv[1], "failover") ? CMD_FAILOVER
             : !strcmp(argv[1], "memory")   ? CMD_MEMORY
                                            : 0;
    if (!o->cmd) {
        fprintf(stderr, "assay-bench: unknown command '%s'\n", argv[1]);
        s_usage(stderr);
        return 2;
    }
    if (s_parse(o, argc - 1, argv + 1)) {
        s_usage(stderr);
        return 2;
    }
    if (o->params) {
        json_error_t je;
        b->params = json_loads(o->params, 0, &je);
        if (!json_is_object(b->params)) {
            fprintf(stderr, "assay-bench: --params: want a JSON object (%s)\n",
                    je.text);
            return 2;
        }
    }
    b->leader = -1;
    b->t_start = assay_now_us();
    b->deadline = b->t_start + (int64_t)o->timeout_s * SEC;
    b->progress_next = b->t_start + SEC;
    snprintf(b->prefix, sizeof b->prefix, "ab%dx%ld", (int)getpid(),
             (long)time(NULL) % 100000);
    b->prefix_len = strlen(b->prefix);
    if (o->simulated || o->cmd == CMD_MEMORY)
        snprintf(b->rt_prefix, sizeof b->rt_prefix, "sim%d-", (int)getpid());
    else if (!o->endpoint)
        snprintf(b->rt_prefix, sizeof b->rt_prefix, "rt%d-", (int)getpid());

    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A thousand connections on each side need more than 1024 fds; the
     * children inherit the limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    bool need_cluster = !(o->cmd == CMD_RUN && o->endpoint);
    if (need_cluster && bench_locate(b)) {
        bench_note("cannot find assayd beside %s or in $PATH", argv[0]);
        return 1;
    }
    snprintf(b->tmp, sizeof b->tmp, "/tmp/assay-bench.XXXXXX");
    if (!mkdtemp(b->tmp)) {
        bench_note("mkdtemp: %s", strerror(errno));
        return 1;
    }
    /* The cluster it starts makes its keys beside its logs (members,
     * simulated and real runtimes, and its own client share them), not
     * in the user's own keys directory. */
    char keys[sizeof b->tmp + 8];
    snprintf(keys, sizeof keys, "%s/keys", b->tmp);
    if (need_cluster && !getenv("ASSAY_KEYS_DIR"))
        setenv("ASSAY_KEYS_DIR", keys, 1);
    if (need_cluster && bench_keys(b))
        return 1;
    if (need_cluster)
        bench_note("assayd %s%s%s; logs in %s", b->assayd,
                   b->plugins[0] ? ", plugins " : "", b->plugins, b->tmp);

    int code = o->cmd == CMD_RUN        ? bench_cmd_run(b)
               : o->cmd == CMD_FAILOVER ? bench_cmd_failover(b)
                                        : bench_cmd_memory(b);
    fflush(stdout);
    if (bench_interrupted)
        bench_note("interrupted");
    if (b->fatal[0])
        bench_note("%s", b->fatal);
    if (code && o->json && !s_emitted) {
        /* The caller still gets one JSON object. */
        json_t *r = json_pack("{s:s, s:s, s:b}", "command", argv[1], "error",
                              b->fatal[0] ? b->fatal : "interrupted", "ok", 0);
        bench_emit(r);
    }

    /* Stop everything; children first see their clients go. */
    assay_client_destroy(&b->cl);
    bench_sim_destroy(b);
    bench_stop_all(b);
    bench_show_logs(b, code != 0);
    if (o->keep)
        bench_note("logs and data kept in %s", b->tmp);
    else
        assay_dir_remove(b->tmp);
    for (int i = 0; i < b->nprocs; i++)
        for (int k = 0; k < MAX_ARGS && b->procs[i].argv[k]; k++)
            free(b->procs[i].argv[k]);
    json_decref(b->reply);
    json_decref(b->params);
    json_decref(b->targets);
    free(b->spec_sent_us);
    free(b->spec_acked);
    free(b->done);
    free(b->lat_us);
    return code;
}
