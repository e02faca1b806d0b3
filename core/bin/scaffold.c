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
#include <unistd.h>

#include "base/errtext.h"
#include "base/prefix.h"
#include "plugin/params.h"

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
    if (fclose(out) == 0)
        return 0;
    int rc = assay_errf(err, errlen, ASSAY_EIO, "%s: %s", to,
                        strerror(errno));
    unlink(to); /* ours, and incomplete */
    return rc;
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
                          "plugin template %s: not installed (the Debian "
                          "package libassay-plugin-dev has it; or "
                          "reinstall Assay)",
                          tdir);
    bool made = mkdir(dir, 0755) == 0;
    if (!made && errno != EEXIST)
        return assay_errf(err, errlen, ASSAY_EIO, "%s: %s; nothing written",
                          dir, strerror(errno));
    if (!made && !s_empty_dir(dir))
        return assay_errf(err, errlen, ASSAY_EEXIST,
                          "%s: exists and is not empty; nothing written "
                          "(choose a new or empty directory with --dir)",
                          dir);
    char written[sizeof files / sizeof *files][PATH_MAX];
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof files / sizeof *files; i++) {
        char from[PATH_MAX], base[128];
        snprintf(base, sizeof base, files[i].to, name);
        if (snprintf(from, sizeof from, "%s/%s", tdir, files[i].from) >=
                (int)sizeof from ||
            snprintf(written[n], sizeof written[n], "%s/%s", dir, base) >=
                (int)sizeof written[n])
            rc = assay_errf(err, errlen, ASSAY_ETOOBIG, "%s: path too long",
                            dir);
        else
            rc = s_copy(from, written[n], name, err, errlen);
        n += !rc;
    }
    /* All or nothing: a half-written project would only block the next
     * try ("not empty"). */
    if (rc) {
        while (n)
            unlink(written[--n]);
        if (made)
            rmdir(dir);
    }
    return rc;
}
