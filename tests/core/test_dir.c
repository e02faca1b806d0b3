/* tests/core/test_dir.c - what a killed daemon left in /tmp is swept by the
 * next one, and nothing else is. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/dir.h"
#include "harness.h"

/* A pid that ran and ended: a reaped child's. */
static int dead_pid(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    return (int)pid;
}

static char *make(const char *dir, const char *fmt, int pid, bool as_dir)
{
    char name[128], *path;
    snprintf(name, sizeof name, fmt, pid);
    if (!as_dir)
        return harness_write(dir, name, "x");
    cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
    cr_assert_eq(mkdir(path, 0700), 0);
    free(harness_write(path, "copy.so", "x")); /* not empty */
    return path;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

Test(dir, sweep_removes_only_dead_daemons_directories)
{
    char *dir = harness_tmpdir();
    int dead = dead_pid(), live = (int)getpid();
    char *gone = make(dir, "assay-plugins-%d-abc123", dead, true);
    char *mine = make(dir, "assay-plugins-%d-def456", live, true);
    char *file = make(dir, "assay-plugins-%d-file", dead, false);
    char *old = make(dir, "assay-plugins-%dXYZ", dead, true); /* no '-' */
    char *other = make(dir, "other-%d-abc", dead, true);
    assay_dir_sweep(dir, "assay-plugins-");
    cr_expect(!exists(gone), "a dead daemon's directory stays: %s", gone);
    cr_expect(exists(mine), "a live daemon's directory went: %s", mine);
    cr_expect(exists(file), "a file went: %s", file);
    cr_expect(exists(old), "a name without pid- went: %s", old);
    cr_expect(exists(other), "another prefix went: %s", other);
    assay_dir_remove(dir);
    free(gone), free(mine), free(file), free(old), free(other), free(dir);
}
