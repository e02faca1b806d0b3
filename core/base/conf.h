/* core/base/conf.h - the assayd configuration: defaults, file, overrides.
 *
 * One schema table in conf.c drives defaults, validation, command-line
 * overrides and `assayd --help-config`, so the three can never disagree.
 * The file is libconfig syntax: top-level `key = value;` settings plus an
 * optional `plugin = { NAME = { KEY = value; ... }; ... };` group whose
 * values are kept as text; each plugin checks its own keys when it loads.
 * One file, no @include: every error can then name its file and line. */
#ifndef ASSAY_CORE_CONF_H
#define ASSAY_CORE_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Larger configuration files are refused rather than parsed. */
#define ASSAY_CONF_MAX_BYTES (1024 * 1024)

typedef struct assay_conf {
    char plugins_dir[4096];    /* action plugin directory; set empty, it
                                  is the install's own (prefix.h) */
    char executor_path[4096];  /* "" = the running binary's own
                                  (prefix.h) */
    int64_t plugin_load_timeout_ms; /* a plugin's describer may take */
    int64_t executors;         /* -1 = one per CPU, 0 = none */
    int64_t jobs_per_executor; /* jobs queued to one executor at once */
    int64_t default_timeout_ms;
    int64_t kill_grace_ms;   /* SIGTERM to SIGKILL */
    int64_t job_memory_mb;   /* RLIMIT_AS per executor, 0 = unlimited */
    int64_t job_cpu_seconds; /* RLIMIT_CPU per job, 0 = unlimited */
    int64_t output_limit_kb; /* stdout/stderr bytes a job may write */
    int64_t max_attempts;    /* default for JobSpecs */
    int log_level;           /* ASSAY_LOG_ERROR .. ASSAY_LOG_DEBUG */
    json_t *plugin;          /* {plugin: {key: "value as text"}}; owned */
    /* The cluster (docs/configuration.md). */
    char modules_dir[4096];
    char transport[64];
    char consensus[64];
    char node_id[64];
    char listen[256];
    char events[256];
    char join[1024];
    char labels[1024];
    int64_t heartbeat_ms;
    int64_t heartbeat_misses;
    int64_t max_runtimes; /* runtime sessions a leader holds at once */
    int64_t lease_grace_ms;
    int64_t retain_jobs;    /* finished jobs kept; 0: no bound by count */
    int64_t retain_seconds; /* age of a finished job kept; 0: no bound */
    int64_t retain_runtime_seconds; /* a dead runtime kept; 0: forever */
    int64_t stream_max_lag; /* results a consumer holds back at most */
    char metrics_listen[256]; /* HOST:PORT, "auto" or "": none */
    int metrics_auth;         /* ASSAY_HTTP_AUTH_* */
    int64_t max_schedules;         /* schedules held at most */
    int64_t schedule_min_interval; /* s between two fires, at least */
    int64_t schedule_backfill_max; /* fires one backfill runs at most */
    int64_t max_message_kb;
    int64_t events_buffer_mb; /* bytes held for lagging subscribers */
    int64_t events_stall_ms;  /* a subscriber taking no data is cut */
    int64_t max_cpu_percent;
    int64_t min_mem_free_percent;
    char proc_root[256];
    char cgroup_root[256];
    char notify_command[1024];
    char notify_topics[1024]; /* event topic prefixes it runs for */
    char executor_user[64];       /* "": assayd's own */
    char run_as[1024];            /* "PLUGIN=USER ..." (exec/runas.h) */
    int64_t executor_private_tmp; /* 1: a tmpfs /tmp per executor */
    int64_t executor_seccomp;     /* 1: exec/syscalls.h's filter */
    /* Raft members (docs/configuration.md#consensus). */
    int64_t member_id;
    char members[1024];
    char raft_address[256];
    char data_dir[4096];
    char advertise[256];
    char advertise_events[256];
    int64_t election_ms;
    int64_t raft_heartbeat_ms;
    int64_t snapshot_threshold;
    int64_t snapshot_trailing;
    int64_t feature_level; /* 0: all this build speaks */
    /* Security (docs/security.md). */
    int security;        /* ASSAY_SECURITY_* */
    char keys_dir[4096]; /* "": the user's own (cluster/keys.h) */
    char enrol_token[128]; /* "": none (a runtime with its own key) */
    char asset_id[256];    /* "": /etc/machine-id names the host */
    char audit_log[4096]; /* "": data_dir/audit.log; "-": none */
    int64_t audit_log_mb;
} assay_conf;

/* conf.security: the index of its value in the schema's list. */
enum { ASSAY_SECURITY_NONE = 0, ASSAY_SECURITY_CURVE = 1 };
/* conf.metrics_auth, likewise. */
enum { ASSAY_HTTP_AUTH_AUTO = 0, ASSAY_HTTP_AUTH_TOKEN = 1,
       ASSAY_HTTP_AUTH_NONE = 2 };

/* Fills in every default. Returns 0 or ASSAY_ENOMEM. */
int assay_conf_init(assay_conf *c);
/* Releases what init/load/set allocated; safe to call twice. */
void assay_conf_fini(assay_conf *c);

/* Applies the settings of the file at `path` on top of *c (settings the
 * file omits keep their current value). All or nothing: on error *c is
 * unchanged and err holds one line naming file, line and key. Returns 0,
 * ASSAY_ENOENT / ASSAY_EPERM / ASSAY_EIO (cannot read), ASSAY_ETOOBIG
 * (file over ASSAY_CONF_MAX_BYTES or a string over its field), ASSAY_EPARSE
 * (syntax), ASSAY_EUNSUPP (@include), ASSAY_EINVAL (unknown key, bad enum
 * value, bad UTF-8 in a plugin value), ASSAY_ETYPE, ASSAY_ERANGE (including
 * integer literals libconfig cannot hold) or ASSAY_ENOMEM. */
int assay_conf_load(assay_conf *c, const char *path, char *err, size_t errlen);

/* One override given as text, e.g. ("executors", "4") or
 * ("plugin.exec.max_output", "1024"); integers are decimal. Same checks
 * and error codes as assay_conf_load, without file and line. */
int assay_conf_set(assay_conf *c, const char *key, const char *value, char *err,
                   size_t errlen);

/* Writes the table of keys: name, type, default, allowed values, help. */
/* The same for "KEY=VALUE" text (`--set`, assay_test_new's settings);
 * text without '=' or with an empty key is refused naming it. */
int assay_conf_set_kv(assay_conf *c, const char *kv, char *err,
                      size_t errlen);
void assay_conf_help(FILE *out);

/* The text value of plugin.PLUGIN.KEY, owned by c; NULL when unset. */
const char *assay_conf_plugin(const assay_conf *c, const char *plugin,
                              const char *key);

#endif
