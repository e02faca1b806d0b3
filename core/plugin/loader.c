/* core/plugin/loader.c - loading one module file of any kind: dlopen, the entry
 * symbol, and every check a descriptor must pass (see module.h). */
#include "plugin/loader.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bsd/string.h>

#include "base/errtext.h"
#include "base/semver.h"
#include "plugin/hostapi.h"
#include "plugin/params.h"

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

/* Every declaration problem of a module, in one bounded line, so that an
 * author fixes them all in one round instead of one per build. */
typedef struct {
    char *buf;  /* NULL: only the code is wanted */
    size_t cap; /* bytes problems may fill; the rest is for the count */
    size_t len;
    int rc;     /* the first problem's code */
    int untold; /* problems that did not fit */
} s_problems;

/* Room kept for " (and N more)". */
#define UNTOLD_ROOM 24

static void s_problem(s_problems *ps, int rc, const char *fmt, ...)
    ASSAY_PRINTF(3, 4);
static void s_problem(s_problems *ps, int rc, const char *fmt, ...)
{
    if (!ps->rc)
        ps->rc = rc;
    if (!ps->buf)
        return;
    char one[ASSAY_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(one, sizeof one, fmt, ap);
    va_end(ap);
    const char *sep = ps->buf[0] ? "; " : "";
    /* The first problem is told even if cut; later ones whole or not at
     * all, in order. */
    if (ps->buf[0] &&
        (ps->untold || strlen(ps->buf) + 2 + strlen(one) >= ps->cap)) {
        ps->untold++;
        return;
    }
    strlcat(ps->buf, sep, ps->cap);
    strlcat(ps->buf, one, ps->cap);
}

static int s_problems_end(s_problems *ps, size_t errlen)
{
    if (ps->buf && ps->untold) {
        char more[UNTOLD_ROOM];
        snprintf(more, sizeof more, " (and %d more)", ps->untold);
        strlcat(ps->buf, more, errlen);
    }
    return ps->rc;
}

/* Each param of `decl` on its own, then, if each is fine, the list as a
 * whole (count, duplicates): `what` names the owner ("action 'x'"). */
static void s_check_params(s_problems *ps, const char *what,
                           const assay_param *decl)
{
    char why[ASSAY_ERRMSG_SIZE];
    bool each_ok = true;
    for (size_t i = 0; decl && decl[i].name && i < ASSAY_MAX_PARAMS; i++) {
        const assay_param one[2] = {decl[i], {0}};
        int rc = assay_params_validate_decl(one, why, sizeof why);
        if (rc) {
            s_problem(ps, rc, "%s: %s", what, why);
            each_ok = false;
        }
    }
    int rc = each_ok ? assay_params_validate_decl(decl, why, sizeof why) : 0;
    if (rc)
        s_problem(ps, rc, "%s: %s", what, why);
}

static void s_check_actions(s_problems *ps, const assay_module *m)
{
    if (!m->actions || !m->actions[0].name) {
        s_problem(ps, ASSAY_EINVAL, "declares no actions");
        return;
    }
    for (size_t i = 0; m->actions[i].name; i++) {
        const assay_action *a = &m->actions[i];
        if (i >= MAX_ACTIONS) {
            s_problem(ps, ASSAY_ETOOBIG, "more than %d actions", MAX_ACTIONS);
            return;
        }
        char what[ASSAY_NAME_MAX + 16];
        snprintf(what, sizeof what, "action '%.*s'", ASSAY_NAME_MAX, a->name);
        if (!assay_name_valid(a->name, false))
            s_problem(ps, ASSAY_EINVAL, "invalid action name '%.64s'",
                      a->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m->actions[j].name, a->name)) {
                s_problem(ps, ASSAY_EEXIST, "%s declared twice", what);
                break;
            }
        if (!a->fn)
            s_problem(ps, ASSAY_EINVAL, "%s has no function", what);
        if (!s_text_ok(a->help, 1024))
            s_problem(ps, ASSAY_EINVAL, "%s has no help text", what);
        s_check_params(ps, what, a->params);
    }
}

int assay_module_validate(const assay_module *m, int kind, char *err,
                          size_t errlen)
{
    /* Past these three, the other fields cannot be trusted to mean
     * anything: stop at the first. */
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
    s_problems ps = {.buf = errlen ? err : NULL,
                     .cap = errlen > 2 * UNTOLD_ROOM ? errlen - UNTOLD_ROOM
                                                     : errlen};
    if (ps.buf)
        ps.buf[0] = '\0';
    if (!assay_name_valid(m->name, true))
        s_problem(&ps, ASSAY_EINVAL,
                  "invalid module name '%.64s' (want [a-z][a-z0-9_-]*)",
                  m->name ? m->name : "(null)");
    assay_semver v;
    if (!m->version || assay_semver_parse(m->version, &v) != 0)
        s_problem(&ps, ASSAY_EINVAL, "invalid semantic version '%.64s'",
                  m->version ? m->version : "(null)");
    if (!s_text_ok(m->license, 128))
        s_problem(&ps, ASSAY_EINVAL, "no license declared");
    if (!s_text_ok(m->description, 1024))
        s_problem(&ps, ASSAY_EINVAL, "no description");
    s_check_params(&ps, "config", m->config);
    char why[ASSAY_ERRMSG_SIZE];
    int rc = 0;
    switch (kind) {
    case ASSAY_KIND_ACTION:
        s_check_actions(&ps, m);
        break;
    case ASSAY_KIND_TRANSPORT:
        rc = s_validate_transport(m->transport, why, sizeof why);
        break;
    default:
        rc = s_validate_consensus(m->consensus, why, sizeof why);
        break;
    }
    if (rc)
        s_problem(&ps, rc, "%s", why);
    return s_problems_end(&ps, errlen);
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
