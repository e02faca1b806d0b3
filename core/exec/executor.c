/* core/exec/executor.c - the executor process's job loop (see executor.h). */
#include "exec/executor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "base/log.h"
#include "exec/frame.h"
#include "plugin/catalog.h"
#include "plugin/hostapi.h"
#include "plugin/invoke.h"
#include "plugin/params.h"

typedef struct {
    const assay_action *action;
    assay_invoker *invoker;
} s_cached;

typedef struct {
    assay_catalog *catalog;
    s_cached *cache;
    size_t ncache, capcache;
} s_executor;

static int s_invoker(s_executor *self, const assay_action *a,
                     assay_invoker **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < self->ncache; i++)
        if (self->cache[i].action == a) {
            *out = self->cache[i].invoker;
            return 0;
        }
    if (self->ncache == self->capcache) {
        size_t cap = self->capcache ? self->capcache * 2 : 16;
        s_cached *grown = reallocarray(self->cache, cap, sizeof *grown);
        if (!grown)
            return ASSAY_ENOMEM;
        self->cache = grown;
        self->capcache = cap;
    }
    int rc = assay_invoker_new(a, out, err, errlen);
    if (rc)
        return rc;
    self->cache[self->ncache++] = (s_cached){a, *out};
    return 0;
}

/* Resolves the plugin (loading it on first use) and the action. */
static int s_lookup(s_executor *self, const char *path, const char *name,
                    assay_plugin **plugin, const assay_action **action,
                    char *err, size_t errlen)
{
    const assay_plugin *p = assay_catalog_find_path(self->catalog, path);
    if (!p) {
        int rc = assay_catalog_load(self->catalog, path, &p, err, errlen);
        if (rc)
            return rc;
    }
    /* The catalog hands out const plugins; init state is ours to keep. */
    assay_plugin *mp = (assay_plugin *)p;
    if (!mp->initialized) {
        mp->initialized = true;
        char why[ASSAY_ERRMSG_SIZE] = "";
        const char *prev = assay_host_label(mp->name);
        mp->init_rc = mp->module->init
                          ? mp->module->init(&mp->state, why, sizeof why)
                          : 0;
        assay_host_label(prev);
        if (mp->init_rc)
            return assay_errf(err, errlen, ASSAY_EINVAL, "%s init failed: %s",
                              mp->name, why);
    } else if (mp->init_rc) {
        return assay_errf(err, errlen, ASSAY_EINVAL, "%s init failed earlier",
                          mp->name);
    }
    *action = assay_plugin_action(mp, name);
    if (!*action)
        return assay_errf(err, errlen, ASSAY_ENOENT, "%s has no action '%s'",
                          mp->name, name);
    *plugin = mp;
    return 0;
}

/* Forgets a withdrawn plugin: its invokers, then the module itself. */
static void s_unload(s_executor *self, const char *path)
{
    const assay_plugin *p =
        path ? assay_catalog_find_path(self->catalog, path) : NULL;
    if (!p)
        return;
    for (size_t i = 0; i < self->ncache;) {
        bool mine = false;
        for (const assay_action *a = p->module->actions; a->name; a++)
            mine = mine || self->cache[i].action == a;
        if (mine) {
            assay_invoker_destroy(&self->cache[i].invoker);
            self->cache[i] = self->cache[--self->ncache];
        } else {
            i++;
        }
    }
    const char *prev = assay_host_label(p->name); /* its fini() may log */
    assay_catalog_unload(self->catalog, p);
    assay_host_label(prev);
}

static void s_set_cpu_limit(int64_t cpu_s)
{
    if (cpu_s <= 0)
        return;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    rlim_t used = (rlim_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec);
    struct rlimit rl;
    getrlimit(RLIMIT_CPU, &rl);
    rl.rlim_cur = used + (rlim_t)cpu_s;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_CPU, &rl);
}

static const char *s_status_name(int status)
{
    return status == ASSAY_PASS ? "pass"
           : status == ASSAY_FAIL ? "fail"
                                  : "error";
}

/* Runs one job frame and returns its result frame (never NULL unless out
 * of memory). */
static json_t *s_run(s_executor *self, const json_t *job)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    json_int_t seq = json_integer_value(json_object_get(job, "seq"));
    const char *path = json_string_value(json_object_get(job, "plugin"));
    const char *aname = json_string_value(json_object_get(job, "action"));
    const json_t *config = json_object_get(job, "config");
    int64_t timeout = json_integer_value(json_object_get(job, "timeout_ms"));
    int64_t start = assay_now_us();
    assay_plugin *p = NULL;
    const assay_action *a = NULL;
    assay_invoker *inv = NULL;
    json_t *params = NULL;
    int ret = 0, rc;

    if (!path || !aname)
        rc = assay_errf(err, sizeof err, ASSAY_EPROTO,
                        "job frame lacks plugin or action");
    else
        rc = s_lookup(self, path, aname, &p, &a, err, sizeof err);
    if (!rc)
        rc = assay_params_check(a->params, json_object_get(job, "params"),
                                &params, err, sizeof err);
    if (!rc)
        rc = s_invoker(self, a, &inv, err, sizeof err);

    assay_ctx ctx;
    if (!rc && !(rc = assay_ctx_init(&ctx, json_is_object(config) ? config
                                                                  : NULL,
                                     p->module->config,
                                     assay_now_ms() + timeout, p->state))) {
        s_set_cpu_limit(json_integer_value(json_object_get(job, "cpu_s")));
        char label[2 * ASSAY_NAME_MAX + 2]; /* plugin.action */
        snprintf(label, sizeof label, "%s.%s", p->name, a->name);
        const char *prev = assay_host_label(label);
        rc = assay_invoker_call(inv, &ctx, params, &ret, err, sizeof err);
        assay_host_label(prev);
        fflush(stdout);
        fflush(stderr);
    }
    json_decref(params);

    json_t *res;
    if (rc) { /* the host could not make the call */
        res = json_pack("{s:[], s:{}}", "findings", "data");
        json_object_set_new(res, "status", json_string("error"));
        json_object_set_new(res, "reason", json_string(err));
        json_object_set_new(res, "message", json_string(err));
    } else {
        res = ctx.result;
        ctx.result = NULL;
        assay_ctx_fini(&ctx);
        const char *msg = json_string_value(json_object_get(res, "message"));
        if (ret < 0) {
            json_object_set_new(res, "status", json_string("error"));
            json_object_set_new(res, "reason",
                                json_string(assay_strerror(ret)));
        } else if (ret > ASSAY_ERROR) {
            snprintf(err, sizeof err, "action returned invalid status %d",
                     ret);
            json_object_set_new(res, "status", json_string("error"));
            json_object_set_new(res, "reason", json_string(err));
        } else {
            json_object_set_new(res, "status",
                                json_string(s_status_name(ret)));
            if (ret == ASSAY_ERROR)
                json_object_set_new(
                    res, "reason",
                    json_string(msg ? msg : "action reported an error"));
        }
        if (!json_object_get(res, "message"))
            json_object_set_new(res, "message", json_string(""));
    }
    json_object_set_new(res, "t", json_string("result"));
    json_object_set_new(res, "seq", json_integer(seq));
    json_object_set_new(res, "duration_us",
                        json_integer(assay_now_us() - start));
    return res;
}

static void s_set_memory_limit(int64_t mb)
{
    if (mb <= 0)
        return;
    struct rlimit rl = {.rlim_cur = (rlim_t)mb << 20,
                        .rlim_max = (rlim_t)mb << 20};
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        assay_warn("executor: cannot set RLIMIT_AS to %lld MiB: %m",
                   (long long)mb);
}

/* Ends job seq's output: what it left in stdio, then its mark (see
 * executor.h) into the pipe, in one write of fewer than PIPE_BUF bytes, so
 * that nothing a job's children write can land inside it. */
static int s_end_output(int fd, const unsigned char *token, json_int_t seq)
{
    fflush(stdout);
    fflush(stderr);
    unsigned char mark[ASSAY_EXECUTOR_MARK];
    memcpy(mark, token, ASSAY_EXECUTOR_TOKEN);
    for (int i = 0; i < 8; i++)
        mark[ASSAY_EXECUTOR_TOKEN + i] = (unsigned char)((uint64_t)seq >>
                                                         (56 - 8 * i));
    for (;;) {
        ssize_t n = write(fd, mark, sizeof mark);
        if (n == (ssize_t)sizeof mark)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) { /* a plugin made the pipe
                                          non-blocking: wait for room */
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, -1);
            continue;
        }
        return ASSAY_EIO; /* a short write cannot happen below PIPE_BUF */
    }
}

int assay_executor_main(const assay_executor_opts *opts)
{
    /* Our own descriptor of the output pipe, for the marks. */
    int mark_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (mark_fd < 0)
        return 1;
    s_executor self = {.catalog = assay_catalog_new()};
    if (!self.catalog) {
        close(mark_fd);
        return 1;
    }
    s_set_memory_limit(opts->memory_mb);
    assay_buf in = {0}, out = {0};
    int code = 0;
    for (;;) {
        int n = assay_frame_fill(opts->fd, &in);
        if (n == 0)
            break; /* pool closed the socket: orderly shutdown */
        if (n < 0) {
            code = 1;
            break;
        }
        json_t *job;
        char err[ASSAY_ERRMSG_SIZE];
        int got;
        while ((got = assay_frame_next(&in, ASSAY_FRAME_MAX, &job, err,
                                       sizeof err)) == 1) {
            const char *t = json_string_value(json_object_get(job, "t"));
            if (t && !strcmp(t, "unload")) {
                s_unload(&self,
                         json_string_value(json_object_get(job, "plugin")));
                json_decref(job);
                continue;
            }
            json_int_t seq = json_integer_value(json_object_get(job, "seq"));
            json_t *res = s_run(&self, job);
            json_decref(job);
            /* Its output ends before its result: when the pool reads the
             * result, the pipe already holds the mark. */
            int rc = s_end_output(mark_fd, opts->token, seq);
            if (!rc)
                rc = res ? assay_frame_put(&out, res) : ASSAY_ENOMEM;
            if (rc == ASSAY_ETOOBIG) {
                json_t *small = json_pack(
                    "{s:s, s:O, s:s, s:s, s:s, s:[], s:{}}", "t", "result",
                    "seq", json_object_get(res, "seq"), "status", "error",
                    "reason", "result larger than the frame limit", "message",
                    "", "findings", "data");
                rc = small ? assay_frame_put(&out, small) : ASSAY_ENOMEM;
                json_decref(small);
            }
            json_decref(res);
            if (rc) {
                code = 1;
                goto done;
            }
            /* Each result leaves before the next job starts: if that job
             * kills the process, the pool must know which one it was. */
            if (assay_frame_flush(opts->fd, &out) != 0) {
                code = 1;
                goto done;
            }
        }
        if (got < 0) {
            assay_error("executor: bad frame from pool: %s", err);
            code = 1;
            break;
        }
    }
done:
    for (size_t i = 0; i < self.ncache; i++)
        assay_invoker_destroy(&self.cache[i].invoker);
    free(self.cache);
    assay_catalog_destroy(&self.catalog);
    assay_buf_fini(&in);
    assay_buf_fini(&out);
    close(mark_fd);
    return code;
}
