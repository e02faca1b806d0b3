/* assayd - the Assay daemon.
 *
 * Loads its configuration (file, then flags), scans the plugins directory,
 * starts the executor pool and serves until SIGTERM/SIGINT. The cluster
 * (control-plane protocol, runtimes, consensus) is added on top of this
 * in later versions; `--check` validates config and plugins and exits. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "log.h"
#include "runner.h"

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *out)
{
    fputs("usage: assayd [OPTIONS]\n"
          "  --config FILE        configuration file (see --help-config)\n"
          "  --set KEY=VALUE      override a config key (repeatable)\n"
          "  --plugins-dir DIR    same as --set plugins_dir=DIR\n"
          "  --executors N        same as --set executors=N\n"
          "  --check              validate config and plugins, then exit\n"
          "  --help-config        list every config key with type, default, "
          "help\n"
          "  --version            print the version\n"
          "  -h, --help           this text\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"plugins-dir", required_argument, NULL, 'p'},
        {"executors", required_argument, NULL, 'e'},
        {"check", no_argument, NULL, 'k'},
        {"help-config", no_argument, NULL, 'H'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config = NULL;
    char *sets[64];
    char flagbuf[2][4200];
    int nsets = 0, c;
    bool check = false;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'k': check = true; break;
        case 'H': assay_conf_help(stdout); return ASSAY_EXIT_OK;
        case 'V': puts("assayd " ASSAY_VERSION_STRING); return ASSAY_EXIT_OK;
        case 'h': s_usage(stdout); return ASSAY_EXIT_OK;
        case 's':
        case 'p':
        case 'e':
            if (nsets == (int)(sizeof sets / sizeof *sets)) {
                fprintf(stderr, "assayd: too many overrides\n");
                return ASSAY_EXIT_USAGE;
            }
            if (c == 's') {
                sets[nsets++] = optarg;
            } else {
                char *b = flagbuf[c == 'e'];
                snprintf(b, sizeof flagbuf[0], "%s=%s",
                         c == 'p' ? "plugins_dir" : "executors", optarg);
                sets[nsets++] = b;
            }
            break;
        default: s_usage(stderr); return ASSAY_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "assayd: unexpected argument '%s'\n", argv[optind]);
        return ASSAY_EXIT_USAGE;
    }
    assay_conf conf;
    if (assay_conf_init(&conf) != 0)
        return ASSAY_EXIT_UNAVAILABLE;
    if (assay_cli_conf(&conf, config, sets, nsets, "assayd") != 0) {
        assay_conf_fini(&conf);
        return ASSAY_EXIT_CONFIG;
    }
    assay_log_init("assayd", conf.log_level);
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_runner *runner;
    if (assay_runner_new(&conf, &runner, err, sizeof err) != 0) {
        assay_error("%s", err);
        assay_conf_fini(&conf);
        return ASSAY_EXIT_UNAVAILABLE;
    }
    const assay_catalog *cat = assay_runner_catalog(runner);
    for (const assay_plugin *p = assay_catalog_first(cat); p; p = p->next)
        assay_info("plugin %s %s (%s)", p->name, p->version, p->path);
    assay_info("%zu plugins loaded, %zu refused, from %s",
               assay_catalog_count(cat), assay_catalog_refused_count(cat),
               conf.plugins_dir);
    if (!check) {
        struct sigaction sa = {.sa_handler = s_on_signal};
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        assay_info("ready");
        while (!s_stop)
            assay_pool_poll(assay_runner_pool(runner), 1000);
        assay_info("stopping");
    }
    assay_runner_destroy(&runner);
    assay_conf_fini(&conf);
    return ASSAY_EXIT_OK;
}
