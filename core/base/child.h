/* core/base/child.h - starting a helper program (an executor, a plugin
 * describer) the way every helper of the daemon starts. */
#ifndef ASSAY_CORE_CHILD_H
#define ASSAY_CORE_CHILD_H

#include <spawn.h>
#include <sys/types.h>

/* posix_spawn of `path` with `fa`, in a process group of its own (so that
 * killing the group reaches whatever it started), with no signal blocked
 * and the signals the daemon handles back at their defaults. Returns 0 or
 * an errno value. */
int assay_child_spawn(pid_t *pid, const char *path,
                const posix_spawn_file_actions_t *fa, char *const argv[]);

#endif
