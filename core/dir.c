/* core/dir.c - see dir.h. */
#include "dir.h"

#include <ftw.h>
#include <stdio.h>

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
