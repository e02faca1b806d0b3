/* core/base/dir.h - directories the daemon and its tools create and remove. */
#ifndef ASSAY_CORE_DIR_H
#define ASSAY_CORE_DIR_H

/* Removes `path` and everything under it, depth first, without following
 * symbolic links. Best effort: what cannot be removed is left. */
void assay_dir_remove(const char *path);

/* Removes what processes killed before they could clean up left in
 * `parent`: every directory named PREFIX<pid>-... that this user owns and
 * whose <pid> no longer runs. A live pid (even a reused one) keeps its
 * directory. */
void assay_dir_sweep(const char *parent, const char *prefix);

#endif
