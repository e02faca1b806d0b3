/* tests/lib/harness.h - runs JobSpecs through the real runner (catalogue +
 * executor processes) for the suites, with the build tree's plugins. */
#ifndef ASSAY_HARNESS_H
#define ASSAY_HARNESS_H

#include <assay/error.h>
#include <assay/host.h>
#include <assay/module.h>
#include <jansson.h>
#include <stdbool.h>

#include "base/conf.h"
#include "exec/runner.h"

/* Fixture plugin folders under the build tree (tests/CMakeLists.txt). */
#define HARNESS_PLUGINS HARNESS_BUILD_DIR "/plugins-out"
#define HARNESS_FIXTURES HARNESS_BUILD_DIR "/test-plugins/"
#define HARNESS_BIN HARNESS_BUILD_DIR "/bin/"

/* Test defaults: 2 executors, short kill grace, the build's executor. */
void harness_conf(assay_conf *c, const char *plugins_dir);

/* Runs spec_json with the in-tree plugins; returns the results array
 * (caller decrefs) or NULL after printing why the spec was refused. */
json_t *harness_run(const char *spec_json);
/* Same with a given config. */
json_t *harness_run_conf(const assay_conf *c, const char *spec_json);
/* Same on an existing runner (to check one pool across jobs). */
json_t *harness_run_on(assay_runner *r, const char *spec_json);

/* The first result's string field, "" if absent. */
const char *harness_field(const json_t *results, size_t i, const char *key);

/* A fresh temporary directory, removed at exit; caller frees the path. */
char *harness_tmpdir(void);
/* Writes text to dir/name; returns the malloc'd path. */
char *harness_write(const char *dir, const char *name, const char *text);

/* A free TCP port on 127.0.0.1 below the kernel's ephemeral range,
 * claimed for this process: no other suite picks it, and no bind to
 * port 0 or outgoing connection can take it between the pick and the
 * daemon's bind (or across a daemon's restart). */
int harness_port(void);

/* Polls `pred(arg)` until it holds or timeout_ms passes, sleeping a few
 * milliseconds between tries (so a bound is a time, never a number of
 * calls that a fast machine runs through at once). The last try starts
 * after the deadline; true if pred held. */
bool harness_until(int timeout_ms, bool (*pred)(void *arg), void *arg);
/* Sleeps ms milliseconds. */
void harness_sleep_ms(int ms);

/* Loads the module at `path` (dlopen + its entry) with `host`, which must
 * outlive it; asserts each step. *handle is for dlclose. */
const assay_module *harness_module_load(const char *path,
                                        const assay_host_api *host,
                                        void **handle);
/* The host table with alloc/free counted (thread-safe), for modules that
 * must free every buffer the host gave them. */
assay_host_api harness_counting_host(void);
/* Host buffers allocated through that table and not freed yet. */
long harness_host_live(void);

/* Keys (docs/security.md). Every suite runs with ASSAY_KEYS_DIR set to a
 * directory of its own, made at start and removed at exit, which every
 * process it starts inherits: members make the cluster's keys there and
 * an operator key that assayctl and the client library find. */
/* A link presenting key `file` (made with `name` and `role` and allowed
 * when absent; NULL: the operator's) and trusting the cluster's key. A
 * member must have started (it makes the cluster key). Its max_message
 * is 1 MiB unless `max_message` says otherwise (0). */
struct assay_link;
struct assay_link *harness_link(const char *file, const char *name,
                                const char *role, size_t max_message);
/* A link as fake runtimes of any id (a runtime key named "*"). */
#define HARNESS_RUNTIME_LINK(max)                                              \
    harness_link("runtime-any", "*", "runtime", (max))

/* Runs cmd (a shell command); expects exit code `code` and `needle` in
 * its output (stdout and stderr). */
void harness_expect(int code, const char *needle, const char *cmd);

/* Runs a shell command, captures stdout+stderr into *out (caller frees);
 * returns the exit status (or -1). */
int harness_sh(char **out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
