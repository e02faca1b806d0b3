/* core/plugin/describe.h - what a plugin file declares, learned without running
 * its code in this process.
 *
 * Loading a shared object runs its ELF constructors, and its entry point is
 * plugin code too: a constructor that calls exit(), blocks or crashes would
 * take the daemon with it. So the daemon never dlopens an action plugin.
 * It starts a helper (`assay-executor --describe FILE`) that loads the file
 * and answers with the descriptor's JSON form (description.h), msgpack on
 * fd 3, a memfd the daemon reads once the helper has ended. A helper that
 * exits without an answer, dies of a signal or outlives its time is the
 * plugin's fault, told in the refusal; the daemon goes on serving. */
#ifndef ASSAY_CORE_DESCRIBE_H
#define ASSAY_CORE_DESCRIBE_H

#include <stddef.h>
#include <stdint.h>

#include "plugin/description.h"

/* The most an answer may hold (the helper refuses a larger descriptor). */
#define ASSAY_DESCRIBE_MAX ((size_t)1 << 20)
/* Default time a plugin may take to load (plugin_load_timeout_ms). */
#define ASSAY_DESCRIBE_TIMEOUT_MS 10000

typedef struct assay_describe assay_describe;

/* Starts `helper` on `path`. err names the helper if it cannot start. */
int assay_describe_start(const char *helper, const char *path,
                         int64_t timeout_ms, assay_describe **out, char *err,
                         size_t errlen);
/* Readable once the helper has ended (a pidfd). */
int assay_describe_fd(const assay_describe *self);
/* When the helper's time is up (monotonic ms, assay_now_ms()). */
int64_t assay_describe_deadline(const assay_describe *self);
/* Collects the answer and frees the helper; one still running has had its
 * time and is killed, with its process group. err gets the reason a file
 * is refused, without the path. */
int assay_describe_finish(assay_describe **self_p, assay_description **out,
                          char *err, size_t errlen);

/* Reads an answer: the description, or the refusal the helper gave. A
 * plugin's code ran in the helper, so the answer is checked as hostile
 * input (tests/fuzz/fuzz_describe.c). */
int assay_describe_parse(const void *buf, size_t len,
                         assay_description **out, char *err, size_t errlen);

/* The helper's side: loads `path` and writes the answer to `fd`. Returns
 * the helper's exit status. */
int assay_describe_answer(const char *path, int fd);

#endif
