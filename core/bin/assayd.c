/* assayd - the Assay daemon.
 *
 * Loads its configuration (file, then flags), scans the plugins directory
 * and starts the executor pool. Without `join` it is a member: it binds the
 * control-plane and event endpoints, keeps the replicated state and
 * dispatches jobs (docs/architecture.md); unless it has 0 executors it also
 * runs jobs, as a runtime of itself. With `join` it is a runtime of that
 * member. `--check` validates config and plugins and exits. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/errtext.h"
#include "base/hugepages.h"
#include "base/ident.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/prefix.h"
#include "cli.h"
#include "member/leader.h"
#include "obs/expo.h"
#include "obs/httpd.h"
#include "obs/bearer.h"
#include "obs/page.h"
#include "obs/sd.h"
#include "cluster/keys.h"
#include "cluster/runtime.h"
#include "exec/runner.h"

/* Signals reach the loop through a pipe, so handlers do no real work. */
static int s_sigpipe[2] = {-1, -1};

#define MAX_SETS 64

static void s_on_signal(int sig)
{
    char c = (char)sig;
    if (write(s_sigpipe[1], &c, 1) < 0)
        return;
}

typedef struct {
    assay_loop *loop;
    assay_runtime *runtime;
    assay_leader *leader;
    bool leaving;
    assay_bearers *tokens; /* HTTP tokens, when metrics_auth asks */
} s_daemon;

/* A request to metrics_listen when tokens are asked for: a token in
 * allowed/ whose role may read (docs/security.md#http-tokens). */
static unsigned s_http_auth(void *arg, const char *token)
{
    const s_daemon *d = arg;
    char name[128], role[64];
    if (assay_bearers_check(d->tokens, token, name, role))
        return 401;
    return !strcmp(role, "read") || !strcmp(role, "submit") ||
                   !strcmp(role, "admin")
               ? 200
               : 403;
}

/* Whether metrics_listen wants tokens: metrics_auth, and for auto
 * whether security is on - on loopback too, since every local user
 * reaches loopback, and reading is a role like any other. */
static bool s_http_tokens(const assay_conf *c)
{
    if (c->metrics_auth != ASSAY_HTTP_AUTH_AUTO)
        return c->metrics_auth == ASSAY_HTTP_AUTH_TOKEN;
    return c->security != ASSAY_SECURITY_NONE;
}

/* GET /metrics: the member's and the runtime's, as this node runs them;
 * GET / and /api/v1/status: the status page and what it reads (a
 * member's). */
static char *s_http(void *arg, const char *path, size_t *len,
                    const char **type)
{
    const s_daemon *d = arg;
    if (d->leader && !strcmp(path, "/")) {
        const char *page = assay_status_page(len);
        *type = "text/html; charset=utf-8";
        return strndup(page, *len);
    }
    if (d->leader && !strcmp(path, "/api/v1/status")) {
        *type = "application/json";
        return assay_leader_status_json(d->leader, len);
    }
    if (strcmp(path, "/metrics"))
        return NULL;
    assay_expo *e = assay_expo_new();
    if (!e)
        return NULL;
    if (d->leader)
        assay_leader_metrics(d->leader, e);
    if (d->runtime)
        assay_runtime_metrics(d->runtime, e);
    const char *text = assay_expo_text(e, len);
    char *body = text ? strndup(text, *len) : NULL;
    assay_expo_destroy(&e);
    *type = "text/plain; version=0.0.4; charset=utf-8";
    return body;
}

/* How long a runtime that said goodbye turns its loop before stopping:
 * time for the message to leave (the transport does not linger). */
#define LEAVE_MS 200

static void s_stop(void *arg)
{
    s_daemon *d = arg;
    assay_loop_stop(d->loop);
}

/* SIGHUP rescans the plugins directory; SIGTERM and SIGINT stop: a
 * runtime tells its leader first, unless a second signal comes. */
/* The node's role and leader in a line, for systemd's STATUS=. */
static void s_status(const s_daemon *d, char *buf, size_t len)
{
    if (d->leader)
        assay_leader_status(d->leader, buf, len);
    else if (d->runtime)
        assay_runtime_status(d->runtime, buf, len);
    else
        snprintf(buf, len, "starting");
}

/* From the loop: STATUS= when it changed, and WATCHDOG=1, so that a loop
 * that stalls stops feeding systemd's watchdog. */
static void s_sd_tick(void *arg)
{
    char status[256];
    s_status(arg, status, sizeof status);
    assay_sd_status(status);
    if (assay_sd_watchdog_ms())
        assay_sd_watchdog();
}

static void s_on_sigpipe(void *arg, int fd, short revents)
{
    (void)revents;
    s_daemon *d = arg;
    char c;
    while (read(fd, &c, 1) == 1) {
        if (c == SIGHUP) {
            if (d->runtime)
                assay_runtime_rescan(d->runtime);
        } else if (d->runtime && !d->leaving) {
            d->leaving = true;
            assay_runtime_leave(d->runtime);
            assay_loop_add_timer(d->loop, LEAVE_MS, 0, s_stop, d);
        } else {
            assay_loop_stop(d->loop);
        }
    }
}

static int s_pool_prepare(void *arg, struct pollfd *pfd, int max,
                          int64_t *deadline_ms)
{
    return assay_pool_prepare(arg, pfd, max, deadline_ms);
}

static void s_pool_dispatch(void *arg, const struct pollfd *pfd, int n)
{
    assay_pool_dispatch(arg, pfd, n);
}

static void s_usage(FILE *out)
{
    char installed[4096];
    int rc = assay_prefix_path(ASSAY_PART_CONFIG, installed,
                               sizeof installed);
    if (rc)
        strlcat(installed, " (not there now)", sizeof installed);
    fprintf(out, "usage: assayd [OPTIONS]\n"
          "  --config FILE        configuration file (see --help-config);\n"
          "                       default: the installed one, if any:\n"
          "                       %s\n"
          "  --no-config          read no configuration file\n"
          "  --set KEY=VALUE      override a config key (repeatable)\n"
          "  --plugins-dir DIR    same as --set plugins_dir=DIR\n"
          "  --executors N        same as --set executors=N (0: run no jobs)\n"
          "  --join ENDPOINT      join that member as a runtime (repeatable)\n"
          "  --listen ENDPOINT    control-plane/runtime endpoint (members)\n"
          "  --events ENDPOINT    event stream endpoint (members)\n"
          "  --node-id ID         this node's id\n"
          "  --labels K=V,...     this runtime's labels\n"
          "  --check              validate config and plugins, then exit\n"
          "  --help-config        list every config key with type, default, "
          "help\n"
          "  --version            print the version\n"
          "  -h, --help           this text\n",
          installed);
}

/* Says how this node's links would be secured, changing nothing (keys
 * are not made); non-zero when it would refuse to start for want of
 * them. `join`: NULL for a member. */
static int s_check_security(const assay_conf *c, const char *node,
                            const char *join)
{
    if (c->security == ASSAY_SECURITY_NONE) {
        printf("security: NONE - plain TCP on %s: anyone who reaches it "
               "may do anything (docs/security.md)\n",
               join ? join : c->listen);
        return 0;
    }
    char dir[4096], err[ASSAY_ERRMSG_SIZE * 2], file[128];
    if (assay_keys_dir(c->keys_dir, dir, sizeof dir, err, sizeof err)) {
        printf("security: curve, but %s\n", err);
        return 1;
    }
    snprintf(file, sizeof file, "%s%s", join ? ASSAY_KEY_RUNTIME_PREFIX : "",
             join ? node : ASSAY_KEY_CLUSTER);
    assay_transport_key k = {.struct_size = sizeof k, .dir = dir,
                             .file = file};
    int rc = assay_link_key(c->modules_dir, c->transport, &k, err,
                            sizeof err);
    explicit_bzero(k.secret_key, sizeof k.secret_key);
    bool local = join ? true : assay_endpoint_local(c->listen) &&
                                   assay_endpoint_local(c->events);
    for (const char *p = join; p && *p;) {
        char ep[256];
        size_t n = strcspn(p, " ,");
        snprintf(ep, sizeof ep, "%.*s", (int)n, p);
        local = local && (!n || assay_endpoint_local(ep));
        p += n + (p[n] != '\0');
    }
    bool fails = rc && !(rc == ASSAY_ENOENT && local);
    printf("security: curve (links encrypted, peers authenticated); keys in "
           "%s\n  %s.key: %s%s\n",
           dir, file,
           !rc ? "ok"
           : rc == ASSAY_ENOENT && local ? "none yet: made on first start"
                                         : err,
           fails && rc == ASSAY_ENOENT
               ? " - assayd would not start: make it with `assayctl keys "
                 "init` or `keys new` (docs/security.md)"
               : "");
    if (!join) {
        char allowed[4200];
        snprintf(allowed, sizeof allowed, "%s/%s", dir, ASSAY_KEYS_ALLOWED);
        int n = 0;
        DIR *d = opendir(allowed);
        for (struct dirent *e; d && (e = readdir(d));)
            n += e->d_name[0] != '.' && strstr(e->d_name, ".key") &&
                 !strstr(e->d_name, "_secret");
        if (d)
            closedir(d);
        printf("  allowed keys: %d in %s\n", n, allowed);
        if (!strcmp(c->consensus, "raft")) {
            bool made = local && assay_raft_local(c);
            snprintf(file, sizeof file, "%s%lld", ASSAY_KEY_MEMBER_PREFIX,
                     (long long)c->member_id);
            k = (assay_transport_key){.struct_size = sizeof k, .dir = dir,
                                      .file = file};
            rc = assay_link_key(c->modules_dir, c->transport, &k, err,
                                sizeof err);
            explicit_bzero(k.secret_key, sizeof k.secret_key);
            bool raft_fails = rc && !(rc == ASSAY_ENOENT && made);
            printf("  raft links (%s): encrypted, members authenticated by "
                   "their member keys\n  %s.key: %s%s\n",
                   c->raft_address[0] ? c->raft_address : "members", file,
                   !rc ? "ok"
                   : rc == ASSAY_ENOENT && made
                       ? "none yet: made on first start"
                       : err,
                   raft_fails && rc == ASSAY_ENOENT
                       ? " - assayd would not start: make it with "
                         "`assayctl keys new` (docs/security.md)"
                       : "");
            fails = fails || raft_fails;
        }
    }
    return fails;
}

/* Serves metrics_listen: "auto" is a port per role on loopback, so that
 * an endpoint is there without configuration; another process holding
 * it (a second node on the host) leaves this node without one, with a
 * warning, where a port given explicitly is an error. */
static int s_http_start(const assay_conf *conf, bool runtime,
                        s_daemon *daemon, assay_httpd **httpd,
                        assay_bearers **tokens)
{
    bool dflt = !strcmp(conf->metrics_listen, "auto");
    const char *at = !dflt     ? conf->metrics_listen
                     : runtime ? "127.0.0.1:7403"
                               : "127.0.0.1:7402";
    if (!at[0])
        return ASSAY_EXIT_OK;
    char err[ASSAY_ERRMSG_SIZE * 4];
    int rc = assay_httpd_new(daemon->loop, at, "metrics_listen", s_http,
                             daemon, httpd, err, sizeof err);
    if (rc == ASSAY_EBUSY && dflt) {
        assay_warn("%s (the default, auto): this node serves no metrics; "
                   "set metrics_listen to a free HOST:PORT, or \"\" for "
                   "none",
                   err);
        return ASSAY_EXIT_OK;
    }
    if (rc) {
        assay_error("%s", err);
        return ASSAY_EXIT_UNAVAILABLE;
    }
    bool ask = s_http_tokens(conf);
    if (ask) {
        char dir[4096];
        if (assay_keys_dir(conf->keys_dir, dir, sizeof dir - 16, err,
                           sizeof err)) {
            assay_error("metrics_auth: %s", err);
            return ASSAY_EXIT_CONFIG;
        }
        strlcat(dir, "/" ASSAY_KEYS_ALLOWED, sizeof dir);
        if (!(daemon->tokens = *tokens = assay_bearers_new(dir))) {
            assay_error("metrics_auth: out of memory");
            return ASSAY_EXIT_UNAVAILABLE;
        }
        assay_httpd_set_auth(*httpd, s_http_auth, daemon);
    }
    assay_info("metrics on http://%s/metrics (%s)", at,
               ask ? "a token of role read needed"
                   : "open to whoever reaches it");
    return ASSAY_EXIT_OK;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"no-config", no_argument, NULL, 'C'},
        {"set", required_argument, NULL, 's'},
        {"plugins-dir", required_argument, NULL, 'p'},
        {"executors", required_argument, NULL, 'e'},
        {"join", required_argument, NULL, 'J'},
        {"listen", required_argument, NULL, 'L'},
        {"events", required_argument, NULL, 'E'},
        {"node-id", required_argument, NULL, 'N'},
        {"labels", required_argument, NULL, 'B'},
        {"check", no_argument, NULL, 'k'},
        {"help-config", no_argument, NULL, 'H'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config = NULL;
    char *sets[MAX_SETS];
    char flagbuf[MAX_SETS][1100], join[1100] = "join=";
    int nflag = 0;
    int nsets = 0, c;
    bool check = false;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'C': config = ""; break;
        case 'k': check = true; break;
        case 'H': assay_conf_help(stdout); return ASSAY_EXIT_OK;
        case 'V': puts("assayd " ASSAY_VERSION_STRING); return ASSAY_EXIT_OK;
        case 'h': s_usage(stdout); return ASSAY_EXIT_OK;
        case 's':
            if (nsets == MAX_SETS) {
                fprintf(stderr, "assayd: too many overrides\n");
                return ASSAY_EXIT_USAGE;
            }
            sets[nsets++] = optarg;
            break;
        case 'J': /* repeatable: endpoints accumulate */
            if (strcmp(join, "join="))
                strlcat(join, " ", sizeof join);
            if (strlcat(join, optarg, sizeof join) >= sizeof join) {
                fprintf(stderr, "assayd: --join: too many endpoints\n");
                return ASSAY_EXIT_USAGE;
            }
            break;
        case 'p':
        case 'e':
        case 'L':
        case 'E':
        case 'N':
        case 'B': {
            /* Each of these flags is a --set of one config key. */
            const char *key = c == 'p'   ? "plugins_dir"
                              : c == 'e' ? "executors"
                              : c == 'L' ? "listen"
                              : c == 'E' ? "events"
                              : c == 'N' ? "node_id"
                                         : "labels";
            if (nsets == MAX_SETS) {
                fprintf(stderr, "assayd: too many overrides\n");
                return ASSAY_EXIT_USAGE;
            }
            if (snprintf(flagbuf[nflag], sizeof flagbuf[nflag], "%s=%s", key,
                         optarg) >= (int)sizeof flagbuf[nflag]) {
                fprintf(stderr, "assayd: %s: value too long\n", argv[optind - 1]);
                return ASSAY_EXIT_USAGE;
            }
            sets[nsets++] = flagbuf[nflag++];
            break;
        }
        default: s_usage(stderr); return ASSAY_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "assayd: unexpected argument '%s'\n", argv[optind]);
        return ASSAY_EXIT_USAGE;
    }
    if (strcmp(join, "join=")) {
        if (nsets == MAX_SETS) {
            fprintf(stderr, "assayd: too many overrides\n");
            return ASSAY_EXIT_USAGE;
        }
        sets[nsets++] = join;
    }
    assay_conf conf;
    if (assay_conf_init(&conf) != 0)
        return ASSAY_EXIT_UNAVAILABLE;
    char conf_file[4096];
    if (assay_cli_conf(&conf, config, sets, nsets, "assayd", conf_file,
                       sizeof conf_file) != 0) {
        assay_conf_fini(&conf);
        return ASSAY_EXIT_CONFIG;
    }
    assay_log_init("assayd", conf.log_level);
    if (conf_file[0])
        assay_info("configuration: %s", conf_file);
    char node[64];
    char first[256] = "";
    sscanf(conf.join, "%255s", first);
    if (first[0] && conf.executors == 0) {
        fprintf(stderr, "assayd: a runtime (join) with 0 executors would "
                        "run nothing\n");
        assay_conf_fini(&conf);
        return ASSAY_EXIT_CONFIG;
    }
    if (conf.node_id[0]) {
        if (!assay_ident_node_valid(conf.node_id, 63)) {
            fprintf(stderr, "assayd: node_id '%s': use 1 to 63 letters, "
                            "digits, '.', '_' and '-', starting with a "
                            "letter or digit\n",
                    conf.node_id);
            assay_conf_fini(&conf);
            return ASSAY_EXIT_CONFIG;
        }
        strlcpy(node, conf.node_id, sizeof node);
    } else {
        char host[48] = "node";
        gethostname(host, sizeof host - 1);
        snprintf(node, sizeof node, "%s-%d", host, (int)getpid());
    }
    /* Only raft members snapshot, by forking (core/base/hugepages.h). */
    if (!first[0] && !check && !strcmp(conf.consensus, "raft"))
        assay_hugepages_exec(argv);
    /* A member frees as much as it allocates once retention runs, in
     * small pieces among long-lived ones; glibc's fast bins then made
     * every large allocation consolidate them first (a tenth of the
     * member's time, and growing: 26,000 jobs/s after 1,000,000 jobs
     * against 36,000 without them, docs/benchmarks.md). */
    if (!first[0])
        mallopt(M_MXFAST, 0);
    char err[ASSAY_ERRMSG_SIZE * 4];
    assay_runner *runner = NULL;
    assay_loop *loop = NULL;
    assay_leader *leader = NULL;
    assay_runtime *runtime = NULL;
    assay_httpd *httpd = NULL;
    assay_bearers *tokens = NULL;
    int code = ASSAY_EXIT_OK;
    signal(SIGPIPE, SIG_IGN);
    if (conf.executors != 0 &&
        assay_runner_new(&conf, true, &runner, err, sizeof err) != 0) {
        assay_error("%s", err);
        code = ASSAY_EXIT_UNAVAILABLE;
        goto out;
    }
    if (runner) {
        const assay_catalog *cat = assay_runner_catalog(runner);
        for (const assay_plugin *p = assay_catalog_first(cat); p; p = p->next)
            assay_info("plugin %s %s (%s)", p->name, p->version, p->path);
        assay_info("%zu plugins loaded, %zu refused, from %s",
                   assay_catalog_count(cat), assay_catalog_refused_count(cat),
                   conf.plugins_dir);
    }
    if (check) {
        printf("assayd: configuration OK (%s)", conf_file[0] ? conf_file
                                                           : "no file");
        if (runner)
            printf("; %zu plugins loaded, %zu refused, from %s; executors "
                   "start\n",
                   assay_catalog_count(assay_runner_catalog(runner)),
                   assay_catalog_refused_count(assay_runner_catalog(runner)),
                   conf.plugins_dir);
        else
            printf("; runs no jobs (executors = 0): plugins not checked\n");
        if (s_check_security(&conf, node, first[0] ? conf.join : NULL))
            code = ASSAY_EXIT_CONFIG;
        goto out;
    }
    loop = assay_loop_new();
    if (!loop || pipe2(s_sigpipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        code = ASSAY_EXIT_UNAVAILABLE;
        goto out;
    }
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    s_daemon daemon = {.loop = loop};
    assay_loop_add_fd(loop, s_sigpipe[0], POLLIN, s_on_sigpipe, &daemon);
    if (runner) {
        assay_loop_source src = {s_pool_prepare, s_pool_dispatch,
                                 assay_runner_pool(runner)};
        assay_loop_add_source(loop, &src);
    }
    /* A node with nothing to join is a member; members run jobs too,
     * through their own endpoint, exactly as remote runtimes do. A runtime
     * tries its `join` endpoints in turn until one answers. */
    if (!first[0] &&
        assay_leader_new(&conf, node, loop, &leader, err, sizeof err) != 0) {
        assay_error("%s", err);
        code = ASSAY_EXIT_UNAVAILABLE;
        goto out;
    }
    if (runner && assay_runtime_new(&conf, node, first[0] ? conf.join
                                                          : conf.listen,
                                    loop, runner, &runtime, err,
                                    sizeof err) != 0) {
        assay_error("%s", err);
        code = ASSAY_EXIT_UNAVAILABLE;
        goto out;
    }
    daemon.runtime = runtime;
    daemon.leader = leader;
    if ((code = s_http_start(&conf, first[0] != '\0', &daemon, &httpd,
                             &tokens)) != ASSAY_EXIT_OK)
        goto out;
    assay_info("ready");
    char status[256];
    s_status(&daemon, status, sizeof status);
    assay_sd_ready(status);
    int64_t beat = assay_sd_watchdog_ms();
    assay_loop_add_timer(loop, beat && beat < 1000 ? beat : 1000,
                         beat && beat < 1000 ? beat : 1000, s_sd_tick,
                         &daemon);
    if (assay_loop_run(loop) != 0)
        code = ASSAY_EXIT_UNAVAILABLE;
    if (assay_runtime_failed(runtime))
        code = ASSAY_EXIT_CONFIG;
    assay_sd_stopping();
    assay_info("stopping");
out:
    assay_httpd_destroy(&httpd);
    assay_bearers_destroy(&tokens);
    assay_runtime_destroy(&runtime);
    assay_leader_destroy(&leader);
    assay_loop_destroy(&loop);
    assay_runner_destroy(&runner);
    assay_conf_fini(&conf);
    return code;
}
