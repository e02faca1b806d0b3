/* core/base/prefix.c - the running program's parts, found from its own
 * location (prefix.h). */
#include "base/prefix.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/errtext.h"

/* Install places relative to bin/, set by CMake from GNUInstallDirs. */
#ifndef ASSAY_REL_LIBEXEC
#define ASSAY_REL_LIBEXEC "../libexec/assay"
#define ASSAY_REL_MODULES "../lib/assay/modules"
#define ASSAY_REL_PLUGINS "../lib/assay/plugins"
#define ASSAY_REL_SYSCONF "../etc/assay"
#define ASSAY_REL_TEMPLATE "../share/assay/plugin-template"
#endif

static const struct {
    const char *build;   /* relative to bin/ in a build tree, or NULL */
    const char *install; /* relative to bin/ in an install */
} parts[] = {
    [ASSAY_PART_EXECUTOR] = {"assay-executor",
                             ASSAY_REL_LIBEXEC "/assay-executor"},
    [ASSAY_PART_MODULES] = {"../modules-out", ASSAY_REL_MODULES},
    [ASSAY_PART_PLUGINS] = {"../plugins-out", ASSAY_REL_PLUGINS},
    [ASSAY_PART_CONFIG] = {NULL, ASSAY_REL_SYSCONF "/assayd.conf"},
    [ASSAY_PART_TEMPLATE] = {"../plugin-template", ASSAY_REL_TEMPLATE},
};

int assay_prefix_path_at(const char *bindir, assay_part part, char *buf,
                         size_t len)
{
    char bin[PATH_MAX];
    if (!realpath(bindir, bin))
        snprintf(bin, sizeof bin, "%s", bindir);
    if (parts[part].build) {
        char rel[PATH_MAX], found[PATH_MAX];
        if (snprintf(rel, sizeof rel, "%s/%s", bin, parts[part].build) <
                (int)sizeof rel &&
            realpath(rel, found)) {
            snprintf(buf, len, "%s", found);
            return 0;
        }
    }
    /* A packager's absolute place (SYSCONFDIR=/etc) is where it says. */
    const char *rel = parts[part].install;
    if (rel[0] == '/') {
        snprintf(buf, len, "%s", rel);
        return access(buf, F_OK) == 0 ? 0 : ASSAY_ENOENT;
    }
    /* Tidier in messages than bin/../lib: drop the leading "../"s. */
    while (strncmp(rel, "../", 3) == 0) {
        char *slash = strrchr(bin, '/');
        if (!slash || slash == bin)
            break;
        *slash = '\0';
        rel += 3;
    }
    snprintf(buf, len, "%s/%s", bin, rel);
    return access(buf, F_OK) == 0 ? 0 : ASSAY_ENOENT;
}

int assay_prefix_path(assay_part part, char *buf, size_t len)
{
    char bin[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", bin, sizeof bin - 1);
    if (n <= 0) {
        snprintf(buf, len, "%s", parts[part].install);
        return ASSAY_ENOENT;
    }
    bin[n] = '\0';
    *strrchr(bin, '/') = '\0';
    return assay_prefix_path_at(bin, part, buf, len);
}
