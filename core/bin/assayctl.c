/* assayctl - the command-line client: cluster commands over the
 * control-plane protocol (ctl_cluster.c), and `--local` commands that list
 * this machine's plugins or run JobSpecs through the same executors assayd
 * uses (the plugin author's inner loop). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errtext.h"
#include "base/log.h"
#include "cli.h"
#include "ctl_cluster.h"
#include "ctl_keys.h"
#include "ctl_evidence.h"
#include "ctl_stream.h"
#include "ctl_schedule.h"
#include "proto/cpmsg.h"
#include "exec/runner.h"
#include "flagspec.h"
#include "job/jobspec.h"
#include "plugin/plugdir.h"
#include "render.h"
#include "scaffold.h"

static void s_usage(FILE *out)
{
    fputs("usage: assayctl [OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "cluster commands (talk to any member, see docs/cli.md):\n"
          "  submit SPEC.json [--wait]  submit a JobSpec; prints its id and "
          "job ids\n"
          "  job ID                     one job, or every job of a JobSpec\n"
          "  jobs [--state S] [--label K=V]... [--schedule ID] [--action A]\n"
          "       [--runtime R] [--since T] [--until T] [--limit N]\n"
          "                             list jobs; with --cancel or --restart\n"
          "                             [--dry-run]: change every job matched\n"
          "  restart ID...              failed or cancelled jobs, queued again\n"
          "  stats                      queue depth, rates, latency, schedules\n"
          "  wait ID...                 wait until the jobs end, print "
          "results\n"
          "  cancel ID...               cancel jobs or JobSpecs\n"
          "  runtimes                   runtimes, liveness and credit\n"
          "  plugins [--rescan]         every runtime's plugin catalogue (or\n"
          "                             ask runtimes to rescan their plugins)\n"
          "  watch [--topic T] [--count N]  print events as they happen\n"
          "  watch --from POS | --consumer NAME [--count N]\n"
          "                             results from a stream position (or "
          "a\n"
          "                             durable consumer's), then as they "
          "end\n"
          "  consumers [delete NAME]    the stream's durable consumers\n"
          "  export [--format oscal-ar|json|junit] [--run ID | --schedule ID]\n"
          "       [--since T] [--until T]  evidence as one document (stdout)\n"
          "  drift [--schedule ID] [--since T]  what regressed or was fixed\n"
          "  schedule create FILE.json | list | show ID | delete ID\n"
          "  schedule pause ID [--note TEXT] | resume ID | trigger ID\n"
          "  schedule backfill ID --from TIME --to TIME [--dry-run]\n"
          "                             schedules: JobSpecs run on cron or "
          "intervals\n"
          "  cluster [status]           members, roles, leader, term, "
          "indexes\n"
          "  cluster add ID HOST:PORT | remove ID | demote ID | transfer "
          "[ID]\n"
          "                             change membership, hand over the "
          "lead\n"
          "  cluster upgrade [LEVEL]    raise the feature level once every "
          "member\n"
          "                             (all given with --endpoint) speaks it\n"
          "\n"
          "local commands (this machine, no cluster):\n"
          "  plugins --local            list plugins, actions and refused "
          "files\n"
          "  run --local SPEC.json...   run JobSpecs here (all are checked "
          "before any runs)\n"
          "  plugin new NAME [--dir DIR] a new plugin project (source, test, "
          "CMake)\n"
          "  keys init                  this cluster's keys: the members' "
          "and an admin's\n"
          "  keys new FILE ROLE [NAME]  a key pair, allowed here (ROLE: "
          "submit, read,\n"
          "                             admin, runtime, member)\n"
          "  keys list | allow PATH/NAME.key | revoke NAME\n"
          "                             the keys members here let in (revoke:\n"
          "                             an enrolled key, on every member)\n"
          "  keys enroll --name NAME --role ROLE [--ttl 1h]\n"
          "                             a one-time token a new host enrols "
          "with\n"
          "  keys enrolled              the cluster's enrolled keys and "
          "tokens\n"
          "  keys redeem TOKEN --name NAME\n"
          "                             make key NAME here and enrol it "
          "with a token\n"
          "  run --local --action PLUGIN.ACTION[@RANGE] [--param K=V]...\n"
          "      [--target K=V[,K=V]...]...  run one action, no JSON file\n"
          "\n"
          "options:\n"
          "  --endpoint EP[,EP...]      members to talk to ($ASSAY_ENDPOINT, "
          "tcp://127.0.0.1:7400)\n"
          "  --events EP[,EP...]        event streams ($ASSAY_EVENTS, "
          "tcp://127.0.0.1:7401)\n"
          "  --timeout-ms N             per request (5000)\n"
          "  --wait-ms N                bound for wait, submit --wait, watch\n"
          "  --modules-dir DIR          where the transport module is\n"
          "  --keys-dir DIR             keys ($ASSAY_KEYS_DIR, "
          "~/.config/assay/keys)\n"
          "  --key NAME                 the key presented (operator)\n"
          "  --security curve|none      none: a cluster run without "
          "security\n"
          "                             ($ASSAY_SECURITY; default curve)\n"
          "  --json                     machine-readable output\n"
          "  --config FILE, --no-config, --set KEY=VALUE, --plugins-dir DIR\n"
          "                             (--local; default config: the "
          "installed assayd.conf)\n"
          "  -v, --verbose              log at debug level\n"
          "  -h, --help                 this text\n"
          "\n"
          "exit codes: 0 all passed, 1 a check failed, 2 a job ended in "
          "error,\n"
          "  64 usage, 65 bad JobSpec or unknown id, 69 unavailable, 75 wait "
          "timed out,\n  77 the key's role may not do that, 78 bad config\n",
          out);
}

typedef struct {
    bool local, json;
    const char *config;
    char *sets[64];
    int nsets;
    assay_flagspec flags; /* run --local --action ... */
    const char *dir;      /* plugin new --dir */
    char *params[64], *targets[1024];
} s_opts;

static int s_plugins(assay_conf *conf, const s_opts *o)
{
    assay_catalog *cat = assay_catalog_new();
    char err[ASSAY_ERRMSG_SIZE];
    if (!cat)
        return ASSAY_EXIT_UNAVAILABLE;
    int rc = assay_plugdir_scan(cat, conf->plugins_dir, err, sizeof err);
    if (rc) {
        fprintf(stderr, "assayctl: %s\n", err);
        assay_catalog_destroy(&cat);
        return ASSAY_EXIT_UNAVAILABLE;
    }
    json_t *j = assay_catalog_json(cat);
    if (o->json)
        json_dumpf(j, stdout, JSON_INDENT(2)), fputc('\n', stdout);
    else
        assay_render_catalog(stdout, j);
    json_decref(j);
    /* A plugin author's check: any refused file fails it, and an empty
     * directory is not a silent success. */
    size_t loaded = assay_catalog_count(cat),
           refused = assay_catalog_refused_count(cat);
    int code = ASSAY_EXIT_OK;
    if (refused) {
        fprintf(stderr, "assayctl: %zu of %zu plugin files in %s were "
                        "refused (reasons above)\n",
                refused, loaded + refused, conf->plugins_dir);
        code = ASSAY_EXIT_DATA;
    } else if (!loaded) {
        fprintf(stderr, "assayctl: no plugins in %s: copy plugin .so files "
                        "there, or point --plugins-dir at the directory "
                        "that holds them\n", conf->plugins_dir);
        code = ASSAY_EXIT_UNAVAILABLE;
    }
    assay_catalog_destroy(&cat);
    return code;
}

/* Runs each SPEC file in order, then the JobSpec written with flags (if
 * any); every one is parsed and resolved before any runs, so one bad
 * input means nothing runs. */
static int s_run(assay_conf *conf, const s_opts *o, char **paths, int nfiles)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    int n = nfiles + (o->flags.action != NULL);
    assay_jobspec **specs = calloc((size_t)n, sizeof *specs);
    json_t *all = json_array();
    assay_runner *runner = NULL;
    int code = ASSAY_EXIT_OK;
    if (!specs || !all)
        code = ASSAY_EXIT_UNAVAILABLE;
    for (int i = 0; i < nfiles && code == ASSAY_EXIT_OK; i++)
        if (assay_jobspec_load(paths[i], &specs[i], err, sizeof err) != 0) {
            fprintf(stderr, "assayctl: %s\n", err);
            code = ASSAY_EXIT_DATA;
        }
    if (code == ASSAY_EXIT_OK &&
        assay_runner_new(conf, false, &runner, err, sizeof err) != 0) {
        fprintf(stderr, "assayctl: %s\n", err);
        code = ASSAY_EXIT_UNAVAILABLE;
    }
    if (code == ASSAY_EXIT_OK && o->flags.action) {
        json_t *j = NULL;
        if (assay_flagspec_json(&o->flags, assay_runner_catalog(runner), &j,
                                err, sizeof err) != 0 ||
            assay_jobspec_parse(j, &specs[nfiles], err, sizeof err) != 0) {
            fprintf(stderr, "assayctl: %s\n", err);
            code = ASSAY_EXIT_DATA;
        }
        json_decref(j);
    }
    for (int i = 0; i < n && code == ASSAY_EXIT_OK; i++) {
        const assay_plugin *p;
        const assay_action *a;
        json_t *params = NULL;
        if (assay_jobspec_resolve(specs[i], assay_runner_catalog(runner), &p,
                                  &a, &params, err, sizeof err) != 0) {
            fprintf(stderr, "assayctl: %s: %s\n",
                    i < nfiles ? paths[i] : o->flags.action, err);
            code = ASSAY_EXIT_DATA;
        }
        json_decref(params);
    }
    for (int i = 0; i < n && code == ASSAY_EXIT_OK; i++) {
        json_t *results;
        if (assay_runner_run(runner, specs[i], &results, err, sizeof err)) {
            fprintf(stderr, "assayctl: %s: %s\n",
                    i < nfiles ? paths[i] : o->flags.action, err);
            code = ASSAY_EXIT_DATA;
            break;
        }
        json_array_extend(all, results);
        json_decref(results);
    }
    if (code == ASSAY_EXIT_OK) {
        code = assay_cli_exit_code(all);
        if (o->json) {
            json_t *doc = json_pack("{s:O}", "results", all);
            json_dumpf(doc, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(doc);
        } else {
            assay_render_results(stdout, all);
        }
    }
    assay_runner_destroy(&runner);
    for (int i = 0; specs && i < n; i++)
        assay_jobspec_destroy(&specs[i]);
    free(specs);
    json_decref(all);
    return code;
}

/* plugin new NAME [--dir DIR]: a plugin project to start from. */
static int s_plugin_new(char **args, int n, const char *dir)
{
    if (n != 2 || strcmp(args[0], "new")) {
        fprintf(stderr, "assayctl: usage: plugin new NAME [--dir DIR]\n");
        return ASSAY_EXIT_USAGE;
    }
    char err[ASSAY_ERRMSG_SIZE * 2];
    if (!dir)
        dir = args[1];
    int rc = assay_scaffold(args[1], dir, err, sizeof err);
    if (rc) {
        fprintf(stderr, "assayctl: %s\n", err);
        /* The user's input, or this machine's install or disk. */
        return rc == ASSAY_EINVAL || rc == ASSAY_EEXIST
                   ? ASSAY_EXIT_DATA
                   : ASSAY_EXIT_UNAVAILABLE;
    }
    printf("wrote %s/%s.c, %s/test_%s.c and %s/CMakeLists.txt\n"
           "next:\n"
           "  cmake -S %s -B %s/build && cmake --build %s/build && "
           "ctest --test-dir %s/build\n"
           "  assayctl run --local --plugins-dir %s/build --action "
           "%s.contains --param text=... --target path=...\n",
           dir, args[1], dir, args[1], dir, dir, dir, dir, dir, dir,
           args[1]);
    return ASSAY_EXIT_OK;
}

/* "k=v" appended to an object; false if malformed. */
static bool s_label(json_t *labels, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv || (size_t)(eq - kv) > 63)
        return false;
    char key[64];
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    return json_object_set_new(labels, key, json_string(eq + 1)) == 0;
}

/* A whole non-negative decimal number, or -1. */
static long long s_number(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || end == s || *end || v < 0 ? -1 : v;
}

static const char *s_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"local", no_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"config", required_argument, NULL, 'c'},
        {"no-config", no_argument, NULL, 'C'},
        {"set", required_argument, NULL, 's'},
        {"plugins-dir", required_argument, NULL, 'p'},
        {"endpoint", required_argument, NULL, 'e'},
        {"events", required_argument, NULL, 'E'},
        {"modules-dir", required_argument, NULL, 'M'},
        {"keys-dir", required_argument, NULL, 'K'},
        {"key", required_argument, NULL, 'k'},
        {"security", required_argument, NULL, 'X'},
        {"wait", no_argument, NULL, 'w'},
        {"rescan", no_argument, NULL, 'R'},
        {"state", required_argument, NULL, 'S'},
        {"label", required_argument, NULL, 'L'},
        {"topic", required_argument, NULL, 'T'},
        {"count", required_argument, NULL, 'n'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"wait-ms", required_argument, NULL, 'W'},
        {"action", required_argument, NULL, 'a'},
        {"dir", required_argument, NULL, 'D'},
        {"param", required_argument, NULL, 'P'},
        {"target", required_argument, NULL, 'G'},
        {"name", required_argument, NULL, 'N'},
        {"role", required_argument, NULL, 'O'},
        {"ttl", required_argument, NULL, 'Y'},
        {"note", required_argument, NULL, 'o'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'u'},
        {"dry-run", no_argument, NULL, 'y'},
        {"schedule", required_argument, NULL, 'b'},
        {"runtime", required_argument, NULL, 'r'},
        {"since", required_argument, NULL, 'i'},
        {"until", required_argument, NULL, 'U'},
        {"limit", required_argument, NULL, 'm'},
        {"cancel", no_argument, NULL, 'x'},
        {"restart", no_argument, NULL, 'z'},
        {"format", required_argument, NULL, 'F'},
        {"run", required_argument, NULL, 'Q'},
        {"consumer", required_argument, NULL, 'H'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    s_opts o = {0};
    o.flags.params = o.params;
    o.flags.targets = o.targets;
    assay_ctl_opts co = {
        .endpoint = s_env("ASSAY_ENDPOINT", "tcp://127.0.0.1:7400"),
        .events = s_env("ASSAY_EVENTS", "tcp://127.0.0.1:7401"),
        .timeout_ms = 5000,
    };
    const char *security = s_env("ASSAY_SECURITY", "curve");
    char pdir[4200];
    int level = ASSAY_LOG_WARN, c, code = ASSAY_EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': o.local = true; break;
        case 'j': o.json = co.json = true; break;
        case 'c': o.config = optarg; break;
        case 'a': o.flags.action = optarg; break;
        case 'D': o.dir = optarg; break;
        case 'P':
        case 'G': {
            bool param = c == 'P';
            int *n = param ? &o.flags.nparams : &o.flags.ntargets;
            int max = param ? 64 : 1024;
            if (*n == max) {
                fprintf(stderr, "assayctl: more than %d %s\n", max,
                        param ? "--param" : "--target");
                goto out;
            }
            (param ? o.params : o.targets)[(*n)++] = optarg;
            break;
        }
        case 'C': o.config = ""; break;
        case 'v': level = ASSAY_LOG_DEBUG; break;
        case 'h': s_usage(stdout); code = ASSAY_EXIT_OK; goto out;
        case 'e': co.endpoint = optarg; break;
        case 'E': co.events = optarg; break;
        case 'M': co.modules_dir = optarg; break;
        case 'K': co.keys_dir = optarg; break;
        case 'k': co.key = optarg; break;
        case 'N': co.name = optarg; break;
        case 'O': co.role = optarg; break;
        case 'Y': co.ttl = optarg; break;
        case 'o': co.note = optarg; break;
        case 'f': co.from = optarg; break;
        case 'u': co.to = optarg; break;
        case 'y': co.dry_run = true; break;
        case 'b': co.schedule = optarg; break;
        case 'r': co.runtime = optarg; break;
        case 'i': co.since = optarg; break;
        case 'U': co.until = optarg; break;
        case 'x': co.bulk = ASSAY_CP_JOBS_CANCEL; break;
        case 'z': co.bulk = ASSAY_CP_JOBS_RESTART; break;
        case 'X': security = optarg; break;
        case 'F': co.format = optarg; break;
        case 'Q': co.run = optarg; break;
        case 'H': co.consumer = optarg; break;
        case 'w': co.wait = true; break;
        case 'R': co.rescan = true; break;
        case 'S': co.state = optarg; break;
        case 'T': co.topic = optarg; break;
        case 'n':
        case 'm':
        case 't':
        case 'W': {
            long long v = s_number(optarg);
            if (v < 0) {
                fprintf(stderr, "assayctl: %s wants a number, got '%s'\n",
                        argv[optind - 1], optarg);
                goto out;
            }
            if (c == 'n')
                co.count = (long)v;
            else if (c == 'm')
                co.limit = (long)v;
            else if (c == 't')
                co.timeout_ms = v;
            else
                co.wait_ms = v;
            break;
        }
        case 'L':
            if (!co.labels)
                co.labels = json_object();
            if (!s_label(co.labels, optarg)) {
                fprintf(stderr, "assayctl: --label wants KEY=VALUE\n");
                goto out;
            }
            break;
        case 's':
        case 'p':
            if (o.nsets == (int)(sizeof o.sets / sizeof *o.sets)) {
                fprintf(stderr, "assayctl: too many --set options\n");
                goto out;
            }
            if (c == 'p') {
                snprintf(pdir, sizeof pdir, "plugins_dir=%s", optarg);
                o.sets[o.nsets++] = pdir;
            } else {
                o.sets[o.nsets++] = optarg;
            }
            break;
        default: s_usage(stderr); goto out;
        }
    }
    assay_log_init("assayctl", level);
    if (optind >= argc) {
        s_usage(stderr);
        goto out;
    }
    const char *cmd = argv[optind++];
    if (strcmp(security, "curve") && strcmp(security, "none")) {
        fprintf(stderr, "assayctl: --security (or ASSAY_SECURITY) is curve "
                        "or none, not '%s'\n", security);
        goto out;
    }
    co.plain = !strcmp(security, "none");
    if (co.timeout_ms <= 0) {
        fprintf(stderr, "assayctl: --timeout-ms must be positive\n");
        goto out;
    }
    bool is_plugins = !strcmp(cmd, "plugins"), is_run = !strcmp(cmd, "run"),
         is_new = !strcmp(cmd, "plugin");
    bool is_jobs = !strcmp(cmd, "jobs"),
         is_evidence = !strcmp(cmd, "export") || !strcmp(cmd, "drift");
    /* jobs, export and drift filter by action; run --local runs one. */
    if ((is_jobs || is_evidence) && !o.local) {
        co.action = o.flags.action;
        o.flags.action = NULL;
    }
    /* These change what runs: ignoring them elsewhere would mislead. */
    if ((o.flags.action || o.flags.nparams || o.flags.ntargets) &&
        !(is_run && o.local)) {
        fprintf(stderr, "assayctl: --action, --param and --target are for "
                        "run --local (and --action filters jobs)\n");
        goto out;
    }
    if (((co.schedule || co.runtime || co.since || co.until) && !is_jobs &&
         !is_evidence) ||
        ((co.limit || co.bulk) && !is_jobs)) {
        fprintf(stderr, "assayctl: --schedule, --runtime, --since and "
                        "--until are for jobs, export and drift; --limit, "
                        "--cancel and --restart for jobs\n");
        goto out;
    }
    if ((co.format || co.run) && strcmp(cmd, "export")) {
        fprintf(stderr, "assayctl: --format and --run are for export\n");
        goto out;
    }
    if (is_evidence && optind != argc) {
        fprintf(stderr, "assayctl: %s takes options, not arguments\n", cmd);
        goto out;
    }
    bool is_stream = !strcmp(cmd, "watch") && (co.from || co.consumer);
    if (co.consumer && !is_stream) {
        fprintf(stderr, "assayctl: --consumer is for watch\n");
        goto out;
    }
    if (is_stream && (co.topic || optind != argc)) {
        fprintf(stderr, "assayctl: watch --from or --consumer reads the "
                        "result stream: no --topic, no arguments\n");
        goto out;
    }
    if (is_stream || !strcmp(cmd, "consumers")) {
        code = is_stream ? assay_ctl_stream_watch(&co)
                         : assay_ctl_consumers(argv + optind, argc - optind,
                                               &co);
        goto out;
    }
    if (is_evidence) {
        code = !strcmp(cmd, "export") ? assay_ctl_export(&co)
                                      : assay_ctl_drift(&co);
        goto out;
    }
    if (co.dry_run && !co.bulk && strcmp(cmd, "schedule")) {
        fprintf(stderr, "assayctl: --dry-run is for jobs --cancel or "
                        "--restart, and schedule backfill\n");
        goto out;
    }
    if (o.dir && !is_new) {
        fprintf(stderr, "assayctl: --dir is for plugin new\n");
        goto out;
    }
    if (is_new) {
        code = s_plugin_new(argv + optind, argc - optind, o.dir);
        goto out;
    }
    if (!strcmp(cmd, "keys")) {
        code = assay_ctl_keys(argv + optind, argc - optind, &co);
        goto out;
    }
    if (!strcmp(cmd, "schedule")) {
        code = assay_ctl_schedule(argv + optind, argc - optind, &co);
        goto out;
    }
    if (!o.local) {
        code = assay_ctl_cluster(cmd, argv + optind, argc - optind, &co);
        goto out;
    }
    if (!is_plugins && !is_run) {
        fprintf(stderr, "assayctl: --local supports plugins and run, not "
                        "'%s'\n", cmd);
        goto out;
    }
    if (is_run && optind == argc && !o.flags.action) {
        fprintf(stderr, "assayctl: run --local needs a SPEC.json or "
                        "--action\n");
        goto out;
    }
    if ((o.flags.nparams || o.flags.ntargets) && !o.flags.action) {
        fprintf(stderr, "assayctl: --param and --target need --action\n");
        goto out;
    }
    if (is_plugins && optind != argc) {
        fprintf(stderr, "assayctl: plugins takes no arguments\n");
        goto out;
    }
    assay_conf conf;
    if (assay_conf_init(&conf) != 0) {
        code = ASSAY_EXIT_UNAVAILABLE;
        goto out;
    }
    code = ASSAY_EXIT_CONFIG;
    char conf_file[4096];
    if (assay_cli_conf(&conf, o.config, o.sets, o.nsets, "assayctl",
                       conf_file, sizeof conf_file) == 0)
        code = is_run ? s_run(&conf, &o, argv + optind, argc - optind)
                      : s_plugins(&conf, &o);
    assay_conf_fini(&conf);
out:
    json_decref(co.labels);
    return code;
}
