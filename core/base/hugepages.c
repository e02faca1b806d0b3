/* core/base/hugepages.c - a heap in transparent huge pages (hugepages.h). */
#include "base/hugepages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What GLIBC_TUNABLES was before the re-exec ("unset" or "set:VALUE"),
 * so that the member's children (executors, notify_command, the plugins
 * they start) get the environment the operator gave, not these heap
 * settings: glibc has read them by the time main() runs. */
#define WAS "ASSAY_GLIBC_TUNABLES_WAS"

void assay_hugepages_exec(char **argv)
{
    const char *was = getenv(WAS);
    if (was) {
        if (!strncmp(was, "set:", 4))
            setenv("GLIBC_TUNABLES", was + 4, 1);
        else
            unsetenv("GLIBC_TUNABLES");
        unsetenv(WAS);
        return;
    }
    const char *t = getenv("GLIBC_TUNABLES");
    if (t && strstr(t, "glibc.malloc.hugetlb"))
        return;
    char old[4096] = "", v[4096], mark[4100];
    if (t)
        snprintf(old, sizeof old, "%s", t);
    snprintf(mark, sizeof mark, "%s%s", t ? "set:" : "unset", old);
    if (snprintf(v, sizeof v,
                 "%s%sglibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold="
                 "33554432:glibc.malloc.trim_threshold=268435456",
                 old, *old ? ":" : "") >= (int)sizeof v ||
        setenv("GLIBC_TUNABLES", v, 1) != 0 || setenv(WAS, mark, 1) != 0)
        return;
    /* The binary's own path, not /proc/self/exe: the process name (what
     * ps, pgrep and top show) comes from the path executed. */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        execv(self, argv);
    }
    /* No exec: go on as we are, with the environment as it was. */
    unsetenv(WAS);
    if (t)
        setenv("GLIBC_TUNABLES", old, 1);
    else
        unsetenv("GLIBC_TUNABLES");
}
