/* assay/module.h - the descriptor every module exports, and its entry.
 *
 * A module .so exports exactly one symbol, assay_module_v1 (see
 * ASSAY_MODULE_DEFINE in action.h), returning a pointer to a static
 * assay_module. The descriptor starts with ABI major, ABI minor and its own
 * size; the host refuses another major, refuses a descriptor smaller than
 * what its minor promises, and reads only fields it knows. */
#ifndef ASSAY_MODULE_H
#define ASSAY_MODULE_H

#include "consensus.h"
#include "host.h"
#include "transport.h"
#include "types.h"
#include "version.h"

#define ASSAY_MODULE_ENTRY "assay_module_v1"

typedef enum assay_module_kind {
    ASSAY_KIND_ACTION = 1,
    ASSAY_KIND_TRANSPORT = 2,
    ASSAY_KIND_CONSENSUS = 3,
} assay_module_kind;

/* Generic action pointer; the real signature is
 * int fn(assay_ctx *ctx, <one C argument per declared param, in order>). */
typedef void (*assay_fn)(void);
#define ASSAY_FN(f) ((assay_fn)(void (*)(void))(f))

typedef struct assay_action {
    const char *name;          /* [a-z][a-z0-9_]* */
    const char *help;          /* one line */
    const assay_param *params; /* ends with {NULL}; NULL = no params */
    assay_fn fn;
} assay_action;

typedef struct assay_module {
    uint16_t abi_major;   /* ASSAY_ABI_MAJOR the module was built with */
    uint16_t abi_minor;   /* ASSAY_ABI_MINOR the module was built with */
    uint32_t struct_size; /* sizeof(assay_module) the module was built with */

    /* ---- ABI 1.0 ---------------------------------------------------- */
    uint32_t kind;           /* assay_module_kind */
    uint32_t flags;          /* reserved, 0 */
    const char *name;        /* [a-z][a-z0-9_-]*, at most 63 bytes */
    const char *version;     /* semantic version, e.g. "1.4.2" */
    const char *license;     /* SPDX identifier */
    const char *description; /* one line */
    const assay_param *config; /* plugin config keys; ends with {NULL} */
    /* Optional: called once in each process that runs the module, before
     * any action; *state is handed back through host->state(). */
    int (*init)(void **state, char *errbuf, size_t errlen);
    void (*fini)(void *state);
    const assay_action *actions;             /* ACTION: ends with {NULL} */
    const assay_transport_ops *transport;    /* TRANSPORT */
    const assay_consensus_ops *consensus;    /* CONSENSUS */
} assay_module;

typedef const assay_module *(*assay_module_entry_fn)(
    const assay_host_api *host);

/* The entry every module exports (defined by ASSAY_MODULE_DEFINE). It only
 * records `host` and returns the static descriptor: no other work, because
 * the host calls it just to read the catalogue. */
ASSAY_API const assay_module *assay_module_v1(const assay_host_api *host);

#endif
