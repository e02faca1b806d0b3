/* bench/inproc.c - see inproc.h. */
#include "inproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

static void s_die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

/* A TCP port on 127.0.0.1 the kernel had free a moment ago. */
static int s_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        s_die("no free port");
    close(fd);
    return ntohs(a.sin_port);
}

void bench_member_start(bench_member *b, void (*tune)(assay_conf *conf))
{
    memset(b, 0, sizeof *b);
    assay_log_init("bench", ASSAY_LOG_ERROR);
    if (assay_conf_init(&b->conf) != 0)
        s_die("no memory");
    b->conf.member_id = 1;
    b->conf.security = ASSAY_SECURITY_NONE;
    snprintf(b->conf.listen, sizeof b->conf.listen, "tcp://127.0.0.1:%d",
             s_free_port());
    snprintf(b->conf.events, sizeof b->conf.events, "tcp://127.0.0.1:%d",
             s_free_port());
    if (tune)
        tune(&b->conf);
    char err[512];
    if (!(b->loop = assay_loop_new()) ||
        assay_leader_new(&b->conf, "m1", b->loop, &b->m, err, sizeof err))
        s_die(err);
    int64_t until = assay_now_ms() + 60000;
    while (!b->m->leading && assay_now_ms() < until)
        assay_loop_once(b->loop, 1);
    if (!b->m->leading)
        s_die("the member never took the lead");
}

void bench_member_stop(bench_member *b)
{
    assay_leader_destroy(&b->m);
    assay_loop_destroy(&b->loop);
    assay_conf_fini(&b->conf);
}

static void s_applied(void *arg, int status, void *result)
{
    bench_member *b = arg;
    json_decref(result);
    if (status)
        s_die(assay_strerror(status));
    b->inflight--;
}

void bench_member_commit(bench_member *b, assay_cmd *cmd)
{
    b->inflight++;
    if (mb_commit(b->m, cmd, s_applied, b) != 0)
        s_die("cannot commit");
}

void bench_member_until(bench_member *b, bool (*cond)(void *arg), void *arg)
{
    int64_t until = assay_now_ms() + 60000;
    while (b->inflight || (cond && !cond(arg))) {
        if (assay_now_ms() > until)
            s_die("stuck waiting for the member");
        assay_loop_once(b->loop, 1);
    }
}

void bench_member_runtime(bench_member *b, const char *id, const char *plugin,
                          const char *const *actions)
{
    json_t *acts = json_array();
    for (size_t i = 0; actions[i]; i++)
        json_array_append_new(acts, json_pack("{s:s, s:[]}", "name",
                                              actions[i], "params"));
    json_t *cat = json_pack("{s:[{s:s, s:s, s:o}]}", "plugins", "name",
                            plugin, "version", "1.0.0", "actions", acts);
    json_t *labels = json_object();
    /* A heartbeat of ten minutes: not declared dead while it runs. */
    bench_member_commit(b, assay_cmd_runtime(id, 600000, labels, NULL, cat, NULL));
    json_decref(cat);
    json_decref(labels);
    bench_member_until(b, NULL, NULL);
}

double bench_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

long bench_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}
