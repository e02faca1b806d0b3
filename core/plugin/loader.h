/* core/plugin/loader.h - loading and validating one module file of any kind
 * (action plugin, transport, consensus). The catalogue uses it for the
 * plugins directory; the daemon for its transport and consensus modules. */
#ifndef ASSAY_CORE_LOADER_H
#define ASSAY_CORE_LOADER_H

#include <stddef.h>

#include <assay/module.h>

/* Checks a descriptor: ABI major, size for its minor, kind, name, semver,
 * license, description, config declarations, then the kind's own table. */
int assay_module_validate(const assay_module *m, int kind, char *err,
                          size_t errlen);

/* dlopen(RTLD_NOW|RTLD_LOCAL) + entry + validation. On success *dl is the
 * handle to dlclose() when done. err gets the reason, without the path. */
int assay_module_open(const char *path, int kind, void **dl,
                      const assay_module **out, char *err, size_t errlen);

#endif
