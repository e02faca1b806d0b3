/* core/module.c - loading one module file of any kind: dlopen, the entry
 * symbol, and every check a descriptor must pass (see module.h). */
#include "module.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "host.h"
#include "params.h"
#include "semver.h"

#define MAX_ACTIONS 256

/* Bytes of assay_module that ABI 1.0 defines. */
#define MODULE_SIZE_1_0                                                        \
    (offsetof(assay_module, consensus) + sizeof(((assay_module *)0)->consensus))

static const char *s_kind_name(int kind)
{
    switch (kind) {
    case ASSAY_KIND_ACTION: return "an action plugin";
    case ASSAY_KIND_TRANSPORT: return "a transport module";
    case ASSAY_KIND_CONSENSUS: return "a consensus module";
    default: return "of no known kind";
    }
}

/* A vtable must be at least as large as version 1 and fill every slot. */
#define OPS_COVER(ops, field)                                                  \
    ((ops)->struct_size >= offsetof(__typeof__(*(ops)), field) +               \
                               sizeof((ops)->field))

static int s_validate_transport(const assay_transport_ops *t, char *err,
                                size_t errlen)
{
    if (!t || t->version < 1 || !OPS_COVER(t, subscribe))
        return assay_errf(err, errlen, ASSAY_EABI,
                          "transport vtable missing or older than version 1");
    if (!t->open || !t->close || !t->link || !t->fd || !t->send || !t->recv ||
        !t->subscribe)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "transport vtable has empty slots");
    return 0;
}

static int s_validate_consensus(const assay_consensus_ops *c, char *err,
                                size_t errlen)
{
    if (!c || c->version < 1 || !OPS_COVER(c, process))
        return assay_errf(err, errlen, ASSAY_EABI,
                          "consensus vtable missing or older than version 1");
    if (!c->open || !c->close || !c->submit || !c->is_leader || !c->leader ||
        !c->fd || !c->process)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "consensus vtable has empty slots");
    if (c->version >= 2 &&
        (!OPS_COVER(c, member) || !c->status || !c->member))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "consensus vtable version %u has empty slots",
                          c->version);
    return 0;
}

static bool s_text_ok(const char *s, size_t max)
{
    return s && *s && strnlen(s, max + 1) <= max;
}

static int s_validate_actions(const assay_module *m, char *err, size_t errlen)
{
    if (!m->actions || !m->actions[0].name)
        return assay_errf(err, errlen, ASSAY_EINVAL, "declares no actions");
    for (size_t i = 0; m->actions[i].name; i++) {
        const assay_action *a = &m->actions[i];
        char why[ASSAY_ERRMSG_SIZE];
        if (i >= MAX_ACTIONS)
            return assay_errf(err, errlen, ASSAY_ETOOBIG,
                              "more than %d actions", MAX_ACTIONS);
        if (!assay_name_valid(a->name, false))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "invalid action name '%.64s'", a->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->actions[j].name, a->name))
                return assay_errf(err, errlen, ASSAY_EEXIST,
                                  "action '%s' declared twice", a->name);
        if (!a->fn)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "action '%s' has no function", a->name);
        if (!s_text_ok(a->help, 1024))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "action '%s' has no help text", a->name);
        int rc = assay_params_validate_decl(a->params, why, sizeof why);
        if (rc)
            return assay_errf(err, errlen, rc, "action '%s': %s", a->name,
                              why);
    }
    return 0;
}

int assay_module_validate(const assay_module *m, int kind, char *err,
                          size_t errlen)
{
    if (m->abi_major != ASSAY_ABI_MAJOR)
        return assay_errf(err, errlen, ASSAY_EABI,
                          "ABI major %u, this host supports %u",
                          (unsigned)m->abi_major, ASSAY_ABI_MAJOR);
    if (m->struct_size < MODULE_SIZE_1_0)
        return assay_errf(err, errlen, ASSAY_EABI,
                          "descriptor is %u bytes, ABI %u.%u needs at least %zu",
                          (unsigned)m->struct_size, (unsigned)m->abi_major,
                          (unsigned)m->abi_minor, (size_t)MODULE_SIZE_1_0);
    if (m->kind != (uint32_t)kind)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "module kind %u (%s) is not %s", (unsigned)m->kind,
                          s_kind_name((int)m->kind), s_kind_name(kind));
    if (!assay_name_valid(m->name, true))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "invalid module name '%.64s' (want [a-z][a-z0-9_-]*)",
                          m->name ? m->name : "(null)");
    assay_semver v;
    if (!m->version || assay_semver_parse(m->version, &v) != 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "invalid semantic version '%.64s'",
                          m->version ? m->version : "(null)");
    if (!s_text_ok(m->license, 128))
        return assay_errf(err, errlen, ASSAY_EINVAL, "no license declared");
    if (!s_text_ok(m->description, 1024))
        return assay_errf(err, errlen, ASSAY_EINVAL, "no description");
    char why[ASSAY_ERRMSG_SIZE];
    int rc = assay_params_validate_decl(m->config, why, sizeof why);
    if (rc)
        return assay_errf(err, errlen, rc, "config: %s", why);
    switch (kind) {
    case ASSAY_KIND_ACTION:
        return s_validate_actions(m, err, errlen);
    case ASSAY_KIND_TRANSPORT:
        return s_validate_transport(m->transport, err, errlen);
    default:
        return s_validate_consensus(m->consensus, err, errlen);
    }
}

int assay_module_open(const char *path, int kind, void **dl,
                      const assay_module **out, char *err, size_t errlen)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return assay_errf(err, errlen, ASSAY_EIO, "cannot load: %s",
                          dlerror());
    assay_module_entry_fn entry;
    *(void **)&entry = dlsym(h, ASSAY_MODULE_ENTRY);
    int rc;
    const assay_module *m = NULL;
    if (!entry)
        rc = assay_errf(err, errlen, ASSAY_ENOENT,
                        "no entry symbol %s (not an Assay module?)",
                        ASSAY_MODULE_ENTRY);
    else if (!(m = entry(assay_host_table())))
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "entry returned no descriptor");
    else
        rc = assay_module_validate(m, kind, err, errlen);
    if (rc) {
        dlclose(h);
        return rc;
    }
    *dl = h;
    *out = m;
    return 0;
}
