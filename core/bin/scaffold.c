/* core/bin/scaffold.c - a new plugin project from the template
 * (scaffold.h). */
#include "scaffold.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "params.h"
#include "prefix.h"

#define TEMPLATE_MAX (64 * 1024)

static const struct {
    const char *from, *to; /* to: printf format of NAME */
} files[] = {
    {"plugin.c.in", "%s.c"},
    {"test.c.in", "test_%s.c"},
    {"CMakeLists.txt.in", "CMakeLists.txt"},
};

/* Copies `from` to `to`, every "@NAME@" replaced by name. */
static int s_copy(const char *from, const char *to, const char *name,
                  char *err, size_t errlen)
{
    FILE *in = fopen(from, "r");
    if (!in)
        return assay_errf(err, errlen, ASSAY_EIO, "template %s: %s", from,
                          strerror(errno));
    char *text = malloc(TEMPLATE_MAX + 1);
    size_t n = text ? fread(text, 1, TEMPLATE_MAX + 1, in) : 0;
    fclose(in);
    if (!text || n > TEMPLATE_MAX) {
        free(text);
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "template %s: larger than %d bytes", from,
                          TEMPLATE_MAX);
    }
    text[n] = '\0';
    FILE *out = fopen(to, "wx");
    if (!out) {
        free(text);
        return assay_errf(err, errlen, ASSAY_EIO, "%s: %s", to,
                          strerror(errno));
    }
    for (const char *p = text, *at; *p; p = at + strlen("@NAME@")) {
        at = strstr(p, "@NAME@");
        if (!at) {
            fputs(p, out);
            break;
        }
        fwrite(p, 1, (size_t)(at - p), out);
        fputs(name, out);
    }
    free(text);
    return fclose(out) == 0 ? 0
                            : assay_errf(err, errlen, ASSAY_EIO, "%s: %s", to,
                                         strerror(errno));
}

static bool s_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

int assay_scaffold(const char *name, const char *dir, char *err,
                   size_t errlen)
{
    if (!assay_name_valid(name, true))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "plugin name '%.64s': use a lowercase letter, then "
                          "lowercase letters, digits, '_' or '-' (at most "
                          "%d)",
                          name, ASSAY_NAME_MAX);
    char tdir[PATH_MAX];
    if (assay_prefix_path(ASSAY_PART_TEMPLATE, tdir, sizeof tdir) != 0)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "plugin template %s: not installed (reinstall "
                          "Assay)",
                          tdir);
    if (mkdir(dir, 0755) != 0 && !(errno == EEXIST && s_empty_dir(dir)))
        return assay_errf(err, errlen, ASSAY_EEXIST,
                          "%s: %s; nothing written (choose a new or empty "
                          "directory with --dir)",
                          dir,
                          errno == EEXIST ? "exists and is not empty"
                                          : strerror(errno));
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char from[PATH_MAX], to[PATH_MAX], base[128];
        snprintf(base, sizeof base, files[i].to, name);
        if (snprintf(from, sizeof from, "%s/%s", tdir, files[i].from) >=
                (int)sizeof from ||
            snprintf(to, sizeof to, "%s/%s", dir, base) >= (int)sizeof to)
            return assay_errf(err, errlen, ASSAY_ETOOBIG,
                              "%s: path too long", dir);
        int rc = s_copy(from, to, name, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}
