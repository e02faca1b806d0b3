/* assay/action.h - conveniences for action plugin authors.
 *
 * In exactly one .c file of the plugin:
 *
 *     static const assay_module desc = { ASSAY_MODULE_HEADER, ... };
 *     ASSAY_MODULE_DEFINE(desc)
 *
 * Other files of the same plugin may use the result macros after
 * including this header (the host table pointer is a hidden global). */
#ifndef ASSAY_ACTION_H
#define ASSAY_ACTION_H

#include "module.h"

/* The first three fields of every descriptor. */
#define ASSAY_MODULE_HEADER                                                    \
    .abi_major = ASSAY_ABI_MAJOR, .abi_minor = ASSAY_ABI_MINOR,                \
    .struct_size = sizeof(assay_module)

/* The host table, set by the entry point before any other call. Hidden so
 * that two plugins loaded RTLD_LOCAL never share it. */
__attribute__((visibility("hidden"))) extern const assay_host_api *assay_host;

#define ASSAY_MODULE_DEFINE(desc)                                              \
    __attribute__((visibility("hidden"))) const assay_host_api *assay_host;    \
    ASSAY_API const assay_module *assay_module_v1(const assay_host_api *host)  \
    {                                                                          \
        assay_host = host;                                                     \
        return &(desc);                                                        \
    }

#define assay_message(ctx, ...) assay_host->message((ctx), __VA_ARGS__)
#define assay_finding(ctx, state, title, subject)                              \
    assay_host->finding((ctx), (state), (title), (subject))
#define assay_evidence(ctx, f, key, ...)                                       \
    assay_host->evidence((ctx), (f), (key), __VA_ARGS__)
#define assay_data(ctx, key, ...) assay_host->data((ctx), (key), __VA_ARGS__)
#define assay_config(ctx, key) assay_host->config((ctx), (key))
#define assay_log(level, ...) assay_host->log((level), __VA_ARGS__)

#endif
