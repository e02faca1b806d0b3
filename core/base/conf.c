/* core/base/conf.c - the configuration schema and its three front ends: the
 * libconfig file, text overrides and the help table.
 *
 * Both front ends funnel into apply_text/apply_int, so a value is checked
 * the same way wherever it comes from; errors name their origin (file and
 * line, when there is one) and the key. */
#include "base/conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <libconfig.h>

#include <assay/host.h>

#include "base/errtext.h"
#include "base/prefix.h"

/* log_level stores the index into log_levels[]. */
_Static_assert(ASSAY_LOG_ERROR == 0 && ASSAY_LOG_WARN == 1 &&
                   ASSAY_LOG_INFO == 2 && ASSAY_LOG_DEBUG == 3,
               "log_levels[] order must match ASSAY_LOG_*");
static const char *const log_levels[] = {"error", "warn", "info", "debug",
                                         NULL};
/* security stores the index into securities[] (ASSAY_SECURITY_*). */
static const char *const securities[] = {"none", "curve", NULL};
/* metrics_auth stores the index into metrics_auths[] (ASSAY_HTTP_AUTH_*). */
static const char *const metrics_auths[] = {"auto", "token", "none", NULL};

enum conf_type { CONF_STRING, CONF_INT, CONF_ENUM };

static const char *const type_names[] = {
    [CONF_STRING] = "string",
    [CONF_INT] = "integer",
    [CONF_ENUM] = "enum",
};

struct conf_key {
    const char *name;
    enum conf_type type;
    const char *def;  /* default as text, checked like any other value */
    int64_t min, max; /* CONF_INT */
    const char *const *values; /* CONF_ENUM, NULL-terminated */
    const char *help;
    size_t off;  /* offsetof(assay_conf, field) */
    size_t size; /* sizeof the field: CONF_STRING's capacity */
    /* CONF_STRING: what an empty value means, found when it is set (the
     * text stays "" in the table, where no machine's path belongs). */
    void (*if_empty)(char *buf, size_t len);
};

#define KEY(f, t, dflt, lo, hi, vals, text)                                    \
    {                                                                          \
        .name = #f, .type = t, .def = dflt, .min = lo, .max = hi,              \
        .values = vals, .help = text, .off = offsetof(assay_conf, f),          \
        .size = sizeof(((assay_conf *)0)->f)                                   \
    }
#define STRING(f, dflt, text) KEY(f, CONF_STRING, dflt, 0, 0, NULL, text)
#define FOUND(f, fn, text)                                                     \
    {                                                                          \
        .name = #f, .type = CONF_STRING, .def = "", .help = text,             \
        .off = offsetof(assay_conf, f),                                        \
        .size = sizeof(((assay_conf *)0)->f), .if_empty = fn                   \
    }

static void s_stock_plugins(char *buf, size_t len)
{
    assay_prefix_path(ASSAY_PART_PLUGINS, buf, len);
}
#define INT(f, dflt, lo, hi, text) KEY(f, CONF_INT, dflt, lo, hi, NULL, text)
#define ENUM(f, dflt, vals, text) KEY(f, CONF_ENUM, dflt, 0, 0, vals, text)

static const struct conf_key keys[] = {
    FOUND(plugins_dir, s_stock_plugins,
          "Directory searched for action plugins; empty: the stock "
          "plugins of this install (lib/assay/plugins beside its bin/)."),
    STRING(executor_path, "",
           "assay-executor program; empty: the one beside the running "
           "binary, else this install's libexec/assay/assay-executor."),
    INT(plugin_load_timeout_ms, "10000", 100, 600000,
        "Time a plugin file may take to load (its constructors and entry "
        "point, run in a helper process) before it is refused, in "
        "milliseconds."),
    INT(executors, "-1", -1, 256,
        "Executor processes running jobs; -1: one per CPU; 0: none (a "
        "member that runs no jobs)."),
    INT(jobs_per_executor, "16", 1, 1024,
        "Jobs queued to one executor at once (pipelining)."),
    INT(default_timeout_ms, "30000", 1, 86400000,
        "Job timeout when the JobSpec sets none, in milliseconds."),
    INT(kill_grace_ms, "2000", 0, 60000,
        "Wait between SIGTERM and SIGKILL for a timed-out job, in "
        "milliseconds."),
    INT(job_memory_mb, "0", 0, 1048576,
        "Address space limit per executor (RLIMIT_AS), in MiB; 0: "
        "unlimited."),
    INT(job_cpu_seconds, "0", 0, 86400,
        "CPU time limit per job (RLIMIT_CPU), in seconds; 0: unlimited."),
    INT(output_limit_kb, "1024", 1, 1048576,
        "Bytes a job may write to stdout and stderr, in KiB."),
    STRING(executor_user, "",
           "User the executors, and so all plugin code, run as when assayd "
           "runs as root (with its primary group and no other); empty: "
           "assayd's own user (checks that read what only root may need "
           "it)."),
    STRING(run_as, "",
           "Plugins whose executors run as another user than "
           "executor_user: space-separated PLUGIN=USER, e.g. \"file=root\" "
           "for checks that read what only root may (needs assayd run as "
           "root); each such user gets executors on demand."),
    INT(executor_private_tmp, "0", 0, 1,
        "1: executors get a /tmp of their own, an empty tmpfs in a mount "
        "namespace of their own (needs root); 0: the host's /tmp, which "
        "checks of /tmp need."),
    INT(executor_seccomp, "1", 0, 1,
        "1: executors, and what jobs start, get EPERM from the system calls "
        "that change the kernel, mounts, namespaces, the clock or swap, or "
        "reach into other processes (docs/security.md#executors); 0: every "
        "system call their user may make."),
    INT(max_attempts, "3", 1, 100,
        "Attempts per job when the JobSpec sets none."),
    ENUM(log_level, "info", log_levels, "Least severe log messages shown."),
    STRING(modules_dir, "",
           "Directory of transport and consensus modules; empty: beside "
           "the running binary's build tree, else the installed one."),
    STRING(transport, "zmq", "Transport module name (assay-transport_NAME.so)."),
    STRING(consensus, "none",
           "Consensus module name (assay-consensus_NAME.so)."),
    STRING(node_id, "",
           "This node's id; empty: HOSTNAME-PID. Runtimes are known by it."),
    STRING(listen, "tcp://127.0.0.1:7400",
           "Endpoint a member binds for control planes and runtimes."),
    STRING(events, "tcp://127.0.0.1:7401",
           "Endpoint a member binds to publish job and runtime events."),
    STRING(join, "",
           "Member endpoint(s) to join as a runtime, space-separated; "
           "empty: this node is a member (leader-capable)."),
    STRING(labels, "",
           "This runtime's labels, k=v[,k=v...], matched by JobSpec "
           "selectors."),
    INT(heartbeat_ms, "1000", 10, 600000,
        "Interval between this runtime's heartbeats, in milliseconds."),
    INT(heartbeat_misses, "5", 1, 1000,
        "Intervals a runtime may miss before the leader marks it dead."),
    INT(max_runtimes, "4096", 1, 65536,
        "Runtime sessions a leader holds at once; registrations beyond "
        "are refused (logged and counted)."),
    INT(lease_grace_ms, "5000", 0, 3600000,
        "Time past a job's timeout before the leader takes it back, in "
        "milliseconds."),
    INT(retain_jobs, "100000", 0, 100000000,
        "Finished jobs a member keeps (with their results and attempt "
        "history) before the oldest are forgotten; 0: no bound by count."),
    INT(retain_seconds, "604800", 0, 3153600000,
        "Seconds a finished job is kept after it ended; 0: no bound by "
        "age."),
    STRING(metrics_listen, "auto",
           "HOST:PORT this node serves Prometheus metrics (GET /metrics) "
           "and a member its status page on, from its own loop; auto: "
           "127.0.0.1:7402 on a member, 127.0.0.1:7403 on a runtime, "
           "left out with a warning when another process holds it; "
           "empty: none. Bind it to loopback unless a scraper elsewhere "
           "needs it."),
    ENUM(metrics_auth, "auto", metrics_auths,
         "Who may read metrics_listen: token: only a request with a token "
         "of role read, submit or admin (`assayctl keys token`, "
         "docs/security.md#http-tokens); none: anyone who reaches it; "
         "auto: token, unless security is none."),
    INT(stream_max_lag, "100000", 1, 100000000,
        "Results a durable stream consumer may fall behind (the stream's "
        "end less its acknowledged position) while retention keeps them "
        "for it; beyond, it is marked behind and holds nothing back."),
    INT(retain_runtime_seconds, "604800", 0, 3153600000,
        "Seconds a runtime stays in the registry after the leader saw it "
        "dead (and it holds no running job) before it is forgotten; 0: "
        "kept forever."),
    INT(max_schedules, "10000", 0, 100000,
        "Schedules the cluster holds at most; creating one more is "
        "refused (docs/schedules.md)."),
    INT(schedule_min_interval, "10", 1, 86400,
        "Seconds a schedule's fires must be apart at least; a schedule "
        "that would fire more often is refused."),
    INT(schedule_backfill_max, "1000", 1, 100000,
        "Fires one `schedule backfill` may run at most; a longer range is "
        "refused, saying how many it holds."),
    INT(max_message_kb, "1024", 1, 65536,
        "Largest protocol message accepted, in KiB."),
    INT(events_buffer_mb, "64", 1, 65536,
        "Events a member holds for subscribers that lag, in MiB (the "
        "backlog of the one furthest behind); past it, events are dropped "
        "until it catches up or stalls out."),
    INT(events_stall_ms, "10000", 100, 3600000,
        "Time an events subscriber may take no data before the member "
        "disconnects it (TCP_USER_TIMEOUT), in milliseconds."),
    INT(max_cpu_percent, "100", 1, 100,
        "A runtime grants no new work while machine CPU use is above this; "
        "100: no limit (its own jobs fill the CPUs under full load, so set "
        "this on hosts shared with other work)."),
    INT(min_mem_free_percent, "5", 0, 99,
        "A runtime grants no new work while free memory is below this."),
    STRING(proc_root, "/proc",
           "Where the resource monitor reads stat and meminfo."),
    STRING(cgroup_root, "/sys/fs/cgroup",
           "cgroup v2 mount the monitor reads limits from; empty: ignore "
           "cgroups."),
    STRING(notify_command, "",
           "Shell command the leader runs for each event of notify_topics "
           "(topic in ASSAY_EVENT, the runtime or job in ASSAY_RUNTIME or "
           "ASSAY_JOB, the event as JSON on stdin)."),
    STRING(notify_topics, "runtime.dead",
           "Event topics that start notify_command, space-separated "
           "prefixes (e.g. \"runtime.dead finding.regressed\")."),
    INT(member_id, "0", 0, 1000000,
        "This member's consensus id (raft: its entry in members); 0: none."),
    STRING(members, "",
           "Initial voting members for raft, space-separated ID@HOST:PORT "
           "(their raft addresses); a member not listed waits to be added."),
    STRING(raft_address, "",
           "HOST:PORT this member's raft binds; empty: its entry in members."),
    STRING(data_dir, "",
           "Directory of this member's durable state (raft log and "
           "snapshots); required by raft."),
    STRING(advertise, "",
           "Endpoint clients and runtimes are redirected to when this member "
           "leads; empty: listen."),
    STRING(advertise_events, "",
           "Events endpoint announced when this member leads; empty: events."),
    INT(election_ms, "600", 50, 60000,
        "Raft election timeout in milliseconds (randomised up to twice "
        "this): how long followers wait for a silent leader."),
    INT(raft_heartbeat_ms, "100", 10, 10000,
        "Interval between the raft leader's heartbeats, in milliseconds."),
    INT(snapshot_threshold, "8192", 16, 100000000,
        "Raft log entries between snapshots of the state (member N "
        "waits (N mod 4)/4 of it more: members do not snapshot at once)."),
    INT(snapshot_trailing, "4096", 0, 100000000,
        "Raft log entries kept after a snapshot, for slow followers."),
    INT(feature_level, "0", 0, 1000,
        "Highest state feature level this member speaks, and the one a new "
        "cluster it leads starts at; 0: all its build speaks. Set it to the "
        "older release's level to start a cluster older members can join."),
    ENUM(security, "curve", securities,
         "curve: every link encrypted and every peer authenticated by its "
         "key (docs/security.md); none: plain TCP, anyone who reaches an "
         "endpoint may do anything - for labs only."),
    STRING(keys_dir, "",
           "Directory of this node's keys and of the keys it lets in "
           "(allowed/); empty: $ASSAY_KEYS_DIR, else "
           "$XDG_CONFIG_HOME/assay/keys, else ~/.config/assay/keys."),
    STRING(asset_id, "",
           "The id this runtime's results name its host by in evidence "
           "(docs/evidence.md); empty: /etc/machine-id."),
    STRING(enrol_token, "",
           "A runtime without a key of its own: the one-time token of "
           "`assayctl keys enroll` (docs/security.md#enrolment). It makes "
           "its key, trusts the cluster key the token names, and presents "
           "the token once to have its key allowed on every member."),
    STRING(audit_log, "",
           "File of the audit log: a JSON line per admin action and per "
           "refused request (docs/security.md#audit-log); empty: "
           "data_dir/audit.log, or none without a data_dir; \"-\": none."),
    INT(audit_log_mb, "64", 1, 65536,
        "Size of the audit log past which it is renamed FILE.1 (the one "
        "before is dropped) and begun again, in MiB."),
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* Where a value came from; file NULL for command-line overrides. */
struct origin {
    const char *file;
    unsigned line;
};

static int fail(char *err, size_t errlen, int code, const struct origin *at,
                const char *fmt, ...) ASSAY_PRINTF(5, 6);

static int fail(char *err, size_t errlen, int code, const struct origin *at,
                const char *fmt, ...)
{
    size_t n = 0;
    va_list ap;

    if (!err || !errlen)
        return code;
    if (at->file) {
        int w = at->line ? snprintf(err, errlen, "%s:%u: ", at->file, at->line)
                         : snprintf(err, errlen, "%s: ", at->file);

        n = w < 0 ? 0 : (size_t)w;
        if (n >= errlen)
            return code;
    }
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - n, fmt, ap);
    va_end(ap);
    return code;
}

static const struct conf_key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static void join_values(const char *const *values, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = 0; values[i]; i++) {
        if (i)
            strlcat(buf, ", ", size);
        strlcat(buf, values[i], size);
    }
}

static int apply_int(assay_conf *c, const struct conf_key *k, int64_t v,
                     const struct origin *at, char *err, size_t errlen)
{
    if (v < k->min || v > k->max)
        return fail(err, errlen, ASSAY_ERANGE, at,
                    "key '%s': %lld out of range %lld..%lld", k->name,
                    (long long)v, (long long)k->min, (long long)k->max);
    *(int64_t *)((char *)c + k->off) = v;
    return 0;
}

static int apply_text(assay_conf *c, const struct conf_key *k, const char *text,
                      const struct origin *at, char *err, size_t errlen)
{
    char list[128];
    size_t len;

    switch (k->type) {
    case CONF_STRING:
        len = strlen(text);
        if (len >= k->size)
            return fail(err, errlen, ASSAY_ETOOBIG, at,
                        "key '%s': value of %zu bytes exceeds the limit of "
                        "%zu",
                        k->name, len, k->size - 1);
        memcpy((char *)c + k->off, text, len + 1);
        if (!len && k->if_empty)
            k->if_empty((char *)c + k->off, k->size);
        return 0;
    case CONF_INT: {
        char *end;
        long long v;

        /* strtoll would also take leading blanks; a value is the number */
        errno = 0;
        v = strtoll(text, &end, 10);
        if (end == text || *end ||
            (*text != '-' && *text != '+' && (*text < '0' || *text > '9')))
            return fail(err, errlen, ASSAY_ETYPE, at,
                        "key '%s': expected integer, got '%s'", k->name, text);
        if (errno == ERANGE)
            return fail(err, errlen, ASSAY_ERANGE, at,
                        "key '%s': %s out of range %lld..%lld", k->name, text,
                        (long long)k->min, (long long)k->max);
        return apply_int(c, k, v, at, err, errlen);
    }
    case CONF_ENUM:
        for (int i = 0; k->values[i]; i++) {
            if (strcmp(k->values[i], text) == 0) {
                *(int *)((char *)c + k->off) = i;
                return 0;
            }
        }
        join_values(k->values, list, sizeof list);
        return fail(err, errlen, ASSAY_EINVAL, at,
                    "key '%s': '%s' is not one of %s", k->name, text, list);
    }
    return ASSAY_EINVAL;
}

static int set_plugin(assay_conf *c, const char *plugin, const char *key,
                      const char *text, const struct origin *at, char *err,
                      size_t errlen)
{
    json_t *obj = json_object_get(c->plugin, plugin);
    /* JSON strings are UTF-8; jansson refuses anything else (and fails
     * the same way for lack of memory, which it does not tell apart).
     * Made first, so that a refusal leaves no empty plugin object. */
    json_t *v = json_string(text);

    if (!v)
        return fail(err, errlen, ASSAY_EINVAL, at,
                    "key 'plugin.%s.%s': value is not valid UTF-8", plugin,
                    key);
    if (!obj) {
        obj = json_object();
        if (json_object_set_new(c->plugin, plugin, obj) < 0) {
            json_decref(v);
            return fail(err, errlen, ASSAY_ENOMEM, at, "key 'plugin.%s': %s",
                        plugin, assay_strerror(ASSAY_ENOMEM));
        }
    }
    if (json_object_set_new(obj, key, v) < 0)
        return fail(err, errlen, ASSAY_ENOMEM, at, "key 'plugin.%s.%s': %s",
                    plugin, key, assay_strerror(ASSAY_ENOMEM));
    return 0;
}

/* Plugin and key names share libconfig's setting-name alphabet, so that
 * what --set accepts could also be written in the file. */
static bool valid_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static const char *setting_type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:
        return "group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "integer";
    case CONFIG_TYPE_FLOAT:
        return "float";
    case CONFIG_TYPE_STRING:
        return "string";
    case CONFIG_TYPE_BOOL:
        return "boolean";
    case CONFIG_TYPE_ARRAY:
        return "array";
    case CONFIG_TYPE_LIST:
        return "list";
    default:
        return "nothing";
    }
}

static struct origin setting_origin(const config_setting_t *s, const char *path)
{
    return (struct origin){path, config_setting_source_line(s)};
}

/* A plugin value as text: strings as they are, numbers in the shortest
 * form that reads back to the same value. */
static const char *scalar_text(const config_setting_t *s, char *buf,
                               size_t size)
{
    double d;

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING:
        return config_setting_get_string(s);
    case CONFIG_TYPE_BOOL:
        return config_setting_get_bool(s) ? "true" : "false";
    case CONFIG_TYPE_FLOAT:
        d = config_setting_get_float(s);
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, size, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return buf;
    default:
        snprintf(buf, size, "%lld", config_setting_get_int64(s));
        return buf;
    }
}

static int load_setting(assay_conf *c, const config_setting_t *s,
                        const char *path, char *err, size_t errlen)
{
    struct origin at = setting_origin(s, path);
    const char *name = config_setting_name(s);
    const struct conf_key *k = find_key(name);
    int t = config_setting_type(s);

    if (!k)
        return fail(err, errlen, ASSAY_EINVAL, &at, "unknown key '%s'", name);
    if (k->type == CONF_INT) {
        if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
            return fail(err, errlen, ASSAY_ETYPE, &at,
                        "key '%s': expected integer, got %s", name,
                        setting_type_name(s));
        return apply_int(c, k, config_setting_get_int64(s), &at, err, errlen);
    }
    if (t != CONFIG_TYPE_STRING)
        return fail(err, errlen, ASSAY_ETYPE, &at,
                    "key '%s': expected string, got %s", name,
                    setting_type_name(s));
    return apply_text(c, k, config_setting_get_string(s), &at, err, errlen);
}

static int load_plugins(assay_conf *c, const config_setting_t *group,
                        const char *path, char *err, size_t errlen)
{
    struct origin at = setting_origin(group, path);

    if (!config_setting_is_group(group))
        return fail(err, errlen, ASSAY_ETYPE, &at,
                    "key 'plugin': expected group, got %s",
                    setting_type_name(group));
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *p = config_setting_get_elem(group, i);
        const char *plugin = config_setting_name(p);

        at = setting_origin(p, path);
        if (!config_setting_is_group(p))
            return fail(err, errlen, ASSAY_ETYPE, &at,
                        "key 'plugin.%s': expected group, got %s", plugin,
                        setting_type_name(p));
        for (int j = 0; j < config_setting_length(p); j++) {
            const config_setting_t *leaf = config_setting_get_elem(p, j);
            const char *key = config_setting_name(leaf);
            char buf[32];
            int rc;

            at = setting_origin(leaf, path);
            if (!config_setting_is_scalar(leaf))
                return fail(err, errlen, ASSAY_ETYPE, &at,
                            "key 'plugin.%s.%s': expected scalar, got %s",
                            plugin, key, setting_type_name(leaf));
            rc = set_plugin(c, plugin, key, scalar_text(leaf, buf, sizeof buf),
                            &at, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int load_root(assay_conf *c, const config_setting_t *root,
                     const char *path, char *err, size_t errlen)
{
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, i);
        int rc = strcmp(config_setting_name(s), "plugin") == 0
                     ? load_plugins(c, s, path, err, errlen)
                     : load_setting(c, s, path, err, errlen);

        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The whole file as a C string, refusing more than ASSAY_CONF_MAX_BYTES
 * while reading (not from a prior stat) so that a file growing meanwhile
 * or a pipe is bounded too. */
static int read_file(const char *path, char **out, char *err, size_t errlen)
{
    struct origin at = {path, 0};
    size_t cap = 0, len = 0;
    char *buf = NULL, *nul;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT                     ? ASSAY_ENOENT
             : errno == EACCES || errno == EPERM ? ASSAY_EPERM
                                                 : ASSAY_EIO;
        return fail(err, errlen, rc, &at, "cannot open: %s", strerror(errno));
    }
    for (;;) {
        ssize_t n;

        if (len + 1 >= cap) {
            size_t bigger = cap ? cap * 2 : 4096;
            char *p = realloc(buf, bigger);

            if (!p) {
                rc = fail(err, errlen, ASSAY_ENOMEM, &at, "%s",
                          assay_strerror(ASSAY_ENOMEM));
                break;
            }
            buf = p;
            cap = bigger;
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fail(err, errlen, ASSAY_EIO, &at, "cannot read: %s",
                      strerror(errno));
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > ASSAY_CONF_MAX_BYTES) {
            rc = fail(err, errlen, ASSAY_ETOOBIG, &at, "larger than %d bytes",
                      ASSAY_CONF_MAX_BYTES);
            break;
        }
    }
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    /* libconfig would silently stop at a NUL and ignore the rest. */
    nul = memchr(buf, '\0', len);
    if (nul) {
        at.line = 1;
        for (const char *p = buf; p < nul; p++)
            at.line += *p == '\n';
        free(buf);
        return fail(err, errlen, ASSAY_EPARSE, &at, "syntax error: NUL byte");
    }
    *out = buf;
    return 0;
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_xdigit(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Setting names: [A-Za-z*][-A-Za-z0-9_*]*. Skipping them whole keeps
 * digits inside names from looking like numbers. */
static bool is_name_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '*';
}

static bool is_name_char(char ch)
{
    return is_name_start(ch) || is_digit(ch) || ch == '_' || ch == '-';
}

/* Length of the integer literal at *p when its magnitude exceeds what
 * libconfig stores (INT32_MAX, or INT64_MAX with an L suffix), else 0.
 * Advances *p past the literal, or past a whole float. */
static size_t oversized_int(const char **p)
{
    const char *start = *p, *s = *p;
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    unsigned base = hex ? 16 : 10;
    uint64_t v = 0;
    bool over = false;

    for (s += hex ? 2 : 0; hex ? is_xdigit(*s) : is_digit(*s); s++) {
        unsigned d = is_digit(*s) ? (unsigned)(*s - '0')
                                  : (unsigned)((*s | 0x20) - 'a' + 10);

        over = over || v > (UINT64_MAX - d) / base;
        v = v * base + d;
    }
    if (!hex && (*s == '.' || *s == 'e' || *s == 'E')) {
        for (; is_digit(*s) || *s == '.' || *s == 'e' || *s == 'E'; s++)
            if ((*s == 'e' || *s == 'E') && (s[1] == '+' || s[1] == '-'))
                s++; /* the exponent's sign */
        *p = s;
        return 0;
    }
    over = over || v > (*s == 'L' ? INT64_MAX : INT32_MAX);
    while (*s == 'L')
        s++;
    *p = s;
    return over ? (size_t)(s - start) : 0;
}

/* Brackets open at once that the pre-scan tracks. The schema nests two
 * deep (plugin = { name = { key = value; }; };), so deeper text is refused
 * here rather than tracked without bound. */
#define MAX_NESTING 64

static char closer_of(char open)
{
    return open == '{' ? '}' : open == '[' ? ']' : ')';
}

static char opener_of(char close)
{
    return close == '}' ? '{' : close == ']' ? '[' : '(';
}

/* Checks libconfig does not make, on the raw text before parsing:
 * - libconfig 1.5 silently wraps integer literals that overflow its int
 *   (4294967297 reads as 1), which would turn a typo into a valid value;
 * - @include would pull in files that escape the size limit and, in 1.5,
 *   report errors without their file name, so it is refused;
 * - an unterminated string, comment or bracket is reported where it
 *   starts, with what is missing: libconfig reports it where it gave up
 *   (often the end of the file), and an unterminated comment silently
 *   drops the rest of the file. A string therefore ends on the line it
 *   starts on (adjacent strings are joined: "a" "b"). */
static int check_text(const char *text, const char *path, char *err,
                      size_t errlen)
{
    struct origin at = {path, 1};
    struct {
        char ch;
        unsigned line;
    } open[MAX_NESTING];
    size_t depth = 0;
    const char *p = text;

    while (*p) {
        if (*p == '\n') {
            at.line++;
            p++;
        } else if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\0' || *p == '\n')
                    return fail(err, errlen, ASSAY_EPARSE, &at,
                                "unterminated string (a '\"' is missing)");
                if (*p == '\\' && p[1] && p[1] != '\n')
                    p++;
            }
            p++;
        } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            struct origin from = at;

            for (p += 2; !(p[0] == '*' && p[1] == '/'); p++) {
                if (*p == '\0')
                    return fail(err, errlen, ASSAY_EPARSE, &from,
                                "unterminated comment (a '*/' is missing)");
                at.line += *p == '\n';
            }
            p += 2;
        } else if (*p == '{' || *p == '[' || *p == '(') {
            if (depth == MAX_NESTING)
                return fail(err, errlen, ASSAY_ETOOBIG, &at,
                            "nested deeper than %d levels", MAX_NESTING);
            open[depth].ch = *p++;
            open[depth++].line = at.line;
        } else if (*p == '}' || *p == ']' || *p == ')') {
            if (!depth)
                return fail(err, errlen, ASSAY_EPARSE, &at,
                            "'%c' closes nothing (no '%c' is open)", *p,
                            opener_of(*p));
            depth--;
            if (*p != closer_of(open[depth].ch))
                return fail(err, errlen, ASSAY_EPARSE, &at,
                            "'%c' cannot close the '%c' of line %u (a '%c' "
                            "is missing)",
                            *p, open[depth].ch, open[depth].line,
                            closer_of(open[depth].ch));
            p++;
        } else if (*p == '@') {
            return fail(err, errlen, ASSAY_EUNSUPP, &at,
                        "@include is not supported");
        } else if (is_name_start(*p)) {
            while (is_name_char(*p))
                p++;
        } else if (is_digit(*p) || (*p == '.' && is_digit(p[1]))) {
            const char *start = p;
            size_t n = oversized_int(&p);

            if (n)
                return fail(err, errlen, ASSAY_ERANGE, &at,
                            "integer %.*s does not fit in %s", (int)n, start,
                            start[n - 1] == 'L' ? "64 bits"
                                                : "32 bits (use an L suffix)");
        } else {
            p++;
        }
    }
    if (depth) {
        at.line = open[depth - 1].line;
        return fail(err, errlen, ASSAY_EPARSE, &at,
                    "'%c' is never closed (a '%c' is missing)",
                    open[depth - 1].ch, closer_of(open[depth - 1].ch));
    }
    return 0;
}

static int parse(config_t *cfg, const char *path, const char *text, char *err,
                 size_t errlen)
{
    struct origin at = {path, 0};
    int rc = check_text(text, path, err, errlen);

    if (rc < 0 || config_read_string(cfg, text) == CONFIG_TRUE)
        return rc;
    at.line = (unsigned)config_error_line(cfg);
    /* libconfig's most common text is "syntax error" itself, which says
     * nothing of what it wanted */
    if (strcmp(config_error_text(cfg), "syntax error") == 0)
        return fail(err, errlen, ASSAY_EPARSE, &at,
                    "syntax error (expected settings of the form "
                    "name = value;)");
    return fail(err, errlen, ASSAY_EPARSE, &at, "syntax error: %s",
                config_error_text(cfg));
}

int assay_conf_load(assay_conf *c, const char *path, char *err, size_t errlen)
{
    assay_conf tmp;
    config_t cfg;
    char *text = NULL;
    int rc;

    rc = read_file(path, &text, err, errlen);
    if (rc < 0)
        return rc;
    config_init(&cfg);
    rc = parse(&cfg, path, text, err, errlen);
    if (rc == 0) {
        /* all or nothing: work on a copy, swap it in only on success */
        tmp = *c;
        tmp.plugin = json_deep_copy(c->plugin);
        if (!tmp.plugin)
            rc = fail(err, errlen, ASSAY_ENOMEM, &(struct origin){path, 0},
                      "%s", assay_strerror(ASSAY_ENOMEM));
        else
            rc = load_root(&tmp, config_root_setting(&cfg), path, err, errlen);
        if (rc == 0) {
            json_decref(c->plugin);
            *c = tmp;
        } else {
            json_decref(tmp.plugin);
        }
    }
    config_destroy(&cfg);
    free(text);
    return rc;
}

static int set_plugin_key(assay_conf *c, const char *key, const char *value,
                          char *err, size_t errlen)
{
    const struct origin at = {NULL, 0};
    const char *plugin = key + strlen("plugin."), *dot = strchr(plugin, '.');
    char name[256];
    size_t n = dot ? (size_t)(dot - plugin) : 0;

    if (!dot || n >= sizeof name || !valid_name(plugin, n) ||
        !valid_name(dot + 1, strlen(dot + 1)))
        return fail(err, errlen, ASSAY_EINVAL, &at,
                    "key '%s': expected plugin.NAME.KEY", key);
    memcpy(name, plugin, n);
    name[n] = '\0';
    return set_plugin(c, name, dot + 1, value, &at, err, errlen);
}

int assay_conf_set(assay_conf *c, const char *key, const char *value, char *err,
                   size_t errlen)
{
    const struct origin at = {NULL, 0};
    const struct conf_key *k;

    if (strncmp(key, "plugin.", strlen("plugin.")) == 0)
        return set_plugin_key(c, key, value, err, errlen);
    k = find_key(key);
    if (!k)
        return fail(err, errlen, ASSAY_EINVAL, &at, "unknown key '%s'", key);
    return apply_text(c, k, value, &at, err, errlen);
}

static void describe(const struct conf_key *k, char *buf, size_t size)
{
    switch (k->type) {
    case CONF_STRING:
        snprintf(buf, size, "up to %zu bytes", k->size - 1);
        break;
    case CONF_INT:
        snprintf(buf, size, "%lld..%lld", (long long)k->min, (long long)k->max);
        break;
    case CONF_ENUM:
        join_values(k->values, buf, size);
        break;
    }
}

static const char *shown_default(const struct conf_key *k)
{
    return k->def[0] ? k->def : "\"\"";
}

int assay_conf_set_kv(assay_conf *c, const char *kv, char *err,
                      size_t errlen)
{
    const char *eq = strchr(kv, '=');
    char key[128];
    if (!eq || eq == kv)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "want KEY=VALUE, got '%.200s'", kv);
    if ((size_t)(eq - kv) >= sizeof key)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "key '%.64s...': no such key (too long)", kv);
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    return assay_conf_set(c, key, eq + 1, err, errlen);
}

void assay_conf_help(FILE *out)
{
    static const char plugin_key[] = "plugin.NAME.KEY";
    int wkey = (int)strlen(plugin_key), wdef = (int)strlen("DEFAULT");
    char allowed[128];

    for (size_t i = 0; i < NKEYS; i++) {
        int n = (int)strlen(keys[i].name),
            d = (int)strlen(shown_default(&keys[i]));

        wkey = n > wkey ? n : wkey;
        wdef = d > wdef ? d : wdef;
    }
    fprintf(out, "%-*s  %-7s  %-*s  %s\n", wkey, "KEY", "TYPE", wdef, "DEFAULT",
            "ALLOWED");
    for (size_t i = 0; i < NKEYS; i++) {
        const struct conf_key *k = &keys[i];

        describe(k, allowed, sizeof allowed);
        fprintf(out, "%-*s  %-7s  %-*s  %s\n", wkey, k->name,
                type_names[k->type], wdef, shown_default(k), allowed);
        fprintf(out, "%-*s  %s\n", wkey, "", k->help);
    }
    fprintf(out, "%-*s  %-7s  %-*s  %s\n", wkey, plugin_key, "text", wdef,
            "(unset)", "checked by the plugin");
    fprintf(out, "%-*s  %s\n", wkey, "",
            "Setting KEY of action plugin NAME; in the file, "
            "plugin = { NAME = { KEY = value; }; };");
}

const char *assay_conf_plugin(const assay_conf *c, const char *plugin,
                              const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(c->plugin, plugin), key));
}

int assay_conf_init(assay_conf *c)
{
    const struct origin at = {NULL, 0};

    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++) {
        int rc = apply_text(c, &keys[i], keys[i].def, &at, NULL, 0);

        if (rc < 0)
            return rc; /* a broken default: caught by the tests */
    }
    c->plugin = json_object();
    return c->plugin ? 0 : ASSAY_ENOMEM;
}

void assay_conf_fini(assay_conf *c)
{
    json_decref(c->plugin);
    c->plugin = NULL;
}
