/* core/base/prefix.h - where the running program's parts are: its executor,
 * modules, stock plugins and installed configuration.
 *
 * Nothing is looked up at an absolute path fixed at build time: a build
 * tree keeps its parts beside bin/ (modules-out/, plugins-out/), and an
 * install keeps them at the same place relative to its bin/ whatever the
 * prefix, so an install moved with `cmake --install --prefix` works. */
#ifndef ASSAY_CORE_PREFIX_H
#define ASSAY_CORE_PREFIX_H

#include <stddef.h>

typedef enum {
    ASSAY_PART_EXECUTOR, /* the assay-executor program */
    ASSAY_PART_MODULES,  /* transport and consensus modules */
    ASSAY_PART_PLUGINS,  /* the stock action plugins */
    ASSAY_PART_CONFIG,   /* the installed assayd.conf */
    ASSAY_PART_TEMPLATE, /* the plugin scaffold `assayctl plugin new` copies */
} assay_part;

/* Writes the path of `part` to buf: the build tree's when the running
 * binary sits in one and it exists there, else the install's (relative
 * to the binary). Returns 0 when the path exists, else ASSAY_ENOENT with
 * buf still naming the install's place (for the error message). */
int assay_prefix_path(assay_part part, char *buf, size_t len);
/* The same for a program or library whose bin/ is `bindir`. */
int assay_prefix_path_at(const char *bindir, assay_part part, char *buf,
                         size_t len);

#endif
