/* core/dir.h - directories the daemon and its tools create and remove. */
#ifndef ASSAY_CORE_DIR_H
#define ASSAY_CORE_DIR_H

/* Removes `path` and everything under it, depth first, without following
 * symbolic links. Best effort: what cannot be removed is left. */
void assay_dir_remove(const char *path);

#endif
