/* core/bin/scaffold.h - `assayctl plugin new NAME`: a new plugin's
 * project, from the installed template (plugin-api/template/): NAME.c, its
 * test with libassay-testing, and a CMakeLists.txt using find_package(Assay). */
#ifndef ASSAY_SCAFFOLD_H
#define ASSAY_SCAFFOLD_H

#include <stddef.h>

/* Writes the project into `dir` (created; refused when it exists and is
 * not empty: nothing is overwritten), all or nothing. ASSAY_EINVAL: a bad
 * name; ASSAY_EEXIST: `dir` is not empty; ASSAY_ENOENT: no template
 * installed; others: the file system. */
int assay_scaffold(const char *name, const char *dir, char *err,
                   size_t errlen);

#endif
