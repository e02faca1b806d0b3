/* core/base/dir.c - see dir.h. */
#include "base/dir.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int s_remove_one(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void assay_dir_remove(const char *path)
{
    nftw(path, s_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void assay_dir_sweep(const char *parent, const char *prefix)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, plen))
            continue;
        char *end;
        errno = 0;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (errno || end == e->d_name + plen || *end != '-' || pid <= 0 ||
            pid > INT_MAX || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", parent, e->d_name) <
                (int)sizeof path &&
            lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
            st.st_uid == getuid())
            assay_dir_remove(path);
    }
    closedir(d);
}
