/* tests/lib/harness.c - see harness.h. */
#include "harness.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/socket.h>

#include <bsd/string.h>

#include "base/clock.h"
#include "base/dir.h"
#include "cluster/keys.h"
#include "job/jobspec.h"
#include "plugin/hostapi.h"

void harness_conf(assay_conf *c, const char *plugins_dir)
{
    cr_assert_eq(assay_conf_init(c), 0);
    strlcpy(c->plugins_dir, plugins_dir, sizeof c->plugins_dir);
    strlcpy(c->executor_path, HARNESS_BIN "assay-executor",
            sizeof c->executor_path);
    c->executors = 2;
    c->kill_grace_ms = 200;
    c->default_timeout_ms = 20000;
}

json_t *harness_run_on(assay_runner *r, const char *spec_json)
{
    json_error_t je;
    json_t *j = json_loads(spec_json, 0, &je);
    cr_assert_not_null(j, "bad test JSON: %s", je.text);
    assay_jobspec *spec;
    char err[512];
    int rc = assay_jobspec_parse(j, &spec, err, sizeof err);
    json_decref(j);
    if (rc) {
        cr_log_info("spec refused: %s", err);
        return NULL;
    }
    json_t *results = NULL;
    rc = assay_runner_run(r, spec, &results, err, sizeof err);
    assay_jobspec_destroy(&spec);
    if (rc) {
        cr_log_info("run refused: %s", err);
        return NULL;
    }
    return results;
}

json_t *harness_run_conf(const assay_conf *c, const char *spec_json)
{
    assay_runner *r;
    char err[512];
    cr_assert_eq(assay_runner_new(c, false, &r, err, sizeof err), 0, "%s", err);
    json_t *results = harness_run_on(r, spec_json);
    assay_runner_destroy(&r);
    return results;
}

json_t *harness_run(const char *spec_json)
{
    assay_conf c;
    harness_conf(&c, HARNESS_PLUGINS);
    json_t *results = harness_run_conf(&c, spec_json);
    assay_conf_fini(&c);
    return results;
}

const char *harness_field(const json_t *results, size_t i, const char *key)
{
    const char *s =
        json_string_value(json_object_get(json_array_get(results, i), key));
    return s ? s : "";
}

static char **s_dirs;
static size_t s_ndirs;
static char s_keys[64];
static pid_t s_keys_owner;

/* The suite's keys directory (harness.h): made in the first process;
 * test processes and daemons started from it inherit it. */
__attribute__((constructor)) static void s_keys_dir(void)
{
    if (getenv("ASSAY_TEST_KEYS"))
        return;
    snprintf(s_keys, sizeof s_keys, "/tmp/assay-keys-XXXXXX");
    if (!mkdtemp(s_keys))
        abort();
    s_keys_owner = getpid();
    setenv("ASSAY_KEYS_DIR", s_keys, 1);
    setenv("ASSAY_TEST_KEYS", "1", 1);
}

__attribute__((destructor)) static void s_keys_gone(void)
{
    if (s_keys_owner && getpid() == s_keys_owner)
        assay_dir_remove(s_keys);
}

assay_link *harness_link(const char *file, const char *name,
                         const char *role, size_t max_message)
{
    char err[1024];
    assay_keys k;
    if (file) {
        /* A runtime's key is made for it; any other, made the same way. */
        assay_transport_key tk = {.struct_size = sizeof tk,
                                  .dir = getenv("ASSAY_KEYS_DIR"),
                                  .file = file,
                                  .name = name,
                                  .role = role,
                                  .create = 1,
                                  .allow = 1};
        cr_assert_eq(assay_link_key(NULL, "zmq", &tk, err, sizeof err), 0,
                     "%s", err);
    }
    cr_assert_eq(assay_keys_client(NULL, "zmq", NULL, file, &k, err,
                                   sizeof err),
                 0, "%s", err);
    assay_link_conf lc = {.transport = "zmq",
                          .max_message = max_message ? max_message
                                                     : 1u << 20};
    assay_keys_apply(&k, &lc);
    assay_link *l = NULL;
    cr_assert_eq(assay_link_new_conf(&lc, &l, err, sizeof err), 0, "%s",
                 err);
    return l;
}

static void s_cleanup(void)
{
    for (size_t i = 0; i < s_ndirs; i++) {
        assay_dir_remove(s_dirs[i]);
        free(s_dirs[i]);
    }
    free(s_dirs);
}

char *harness_tmpdir(void)
{
    char tmpl[] = "/tmp/assay-test-XXXXXX";
    cr_assert_not_null(mkdtemp(tmpl));
    if (!s_ndirs)
        atexit(s_cleanup);
    s_dirs = realloc(s_dirs, (s_ndirs + 1) * sizeof *s_dirs);
    s_dirs[s_ndirs++] = strdup(tmpl);
    return strdup(tmpl);
}

void harness_expect(int code, const char *needle, const char *cmd)
{
    char *out;
    int rc = harness_sh(&out, "%s", cmd);
    cr_expect_eq(rc, code, "`%s` exited %d, want %d:\n%s", cmd, rc, code,
                 out);
    cr_expect(strstr(out, needle), "`%s` output lacks '%s':\n%s", cmd, needle,
              out);
    free(out);
}

char *harness_write(const char *dir, const char *name, const char *text)
{
    char *path;
    cr_assert_neq(asprintf(&path, "%s/%s", dir, name), -1);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

int harness_sh(char **out, const char *fmt, ...)
{
    char *cmd, *full;
    va_list ap;
    va_start(ap, fmt);
    cr_assert_neq(vasprintf(&cmd, fmt, ap), -1);
    va_end(ap);
    cr_assert_neq(asprintf(&full, "(%s) 2>&1", cmd), -1);
    free(cmd);
    FILE *p = popen(full, "r");
    free(full);
    cr_assert_not_null(p);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Claims `port` for this process until it exits: an flock on a file
 * named for it, which suites running side by side (ctest -j) respect
 * and the kernel drops with the process. False if another holds it. */
static bool s_claim(int port)
{
    char path[64];
    mkdir("/tmp/assay-test-ports", 0700);
    snprintf(path, sizeof path, "/tmp/assay-test-ports/%d", port);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return true; /* no claims to be had: the bind check alone */
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return true; /* kept open (and locked) until exit */
    close(fd);
    return false;
}

int harness_port(void)
{
    /* 20000..31999: under Linux's default ip_local_port_range (32768-),
     * where only tests pick ports; claimed so that two suites never pick
     * the same one between the check and the bind. */
    for (int tries = 0; tries < 200; tries++) {
        unsigned r;
        cr_assert_eq(getrandom(&r, sizeof r, 0), (ssize_t)sizeof r);
        int port = 20000 + (int)(r % 12000);
        if (!s_claim(port))
            continue;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert(fd >= 0);
        bool free_now = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (free_now)
            return port;
    }
    cr_assert_fail("no free port in 20000..31999 after 200 tries");
    return -1;
}

void harness_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

bool harness_until(int timeout_ms, bool (*pred)(void *arg), void *arg)
{
    int64_t deadline = assay_now_ms() + timeout_ms;
    for (;;) {
        /* The last try starts after the deadline has passed. */
        bool last = assay_now_ms() >= deadline;
        if (pred(arg))
            return true;
        if (last)
            return false;
        harness_sleep_ms(20);
    }
}

const assay_module *harness_module_load(const char *path,
                                        const assay_host_api *host,
                                        void **handle)
{
    assay_module_entry_fn entry;
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    cr_assert_not_null(*handle, "dlopen: %s", dlerror());
    *(void **)&entry = dlsym(*handle, ASSAY_MODULE_ENTRY);
    cr_assert_not_null(entry, "dlsym: %s", dlerror());
    const assay_module *mod = entry(host);
    cr_assert_not_null(mod, "%s: entry returned no module", path);
    return mod;
}

static long s_host_live;

static void *s_counting_alloc(size_t size)
{
    void *p = assay_host_table()->alloc(size);
    if (p)
        __atomic_add_fetch(&s_host_live, 1, __ATOMIC_RELAXED);
    return p;
}

/* Modules may free on threads of their own (raft), hence atomics. */
static void s_counting_free(void *p)
{
    if (p)
        __atomic_sub_fetch(&s_host_live, 1, __ATOMIC_RELAXED);
    assay_host_table()->free(p);
}

assay_host_api harness_counting_host(void)
{
    assay_host_api host = *assay_host_table();
    host.alloc = s_counting_alloc;
    host.free = s_counting_free;
    return host;
}

long harness_host_live(void)
{
    return __atomic_load_n(&s_host_live, __ATOMIC_RELAXED);
}
