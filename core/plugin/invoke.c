/* core/plugin/invoke.c - libffi call construction for actions (see invoke.h). */
#include "plugin/invoke.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ffi.h>
#include <sodium.h>

#include "base/errtext.h"
#include "plugin/params.h"

struct assay_invoker {
    const assay_action *action;
    size_t nparams;
    ffi_cif cif;
    ffi_type *types[ASSAY_MAX_PARAMS + 1];
};

/* One C argument's storage; aggregates live in the call's scratch list. */
typedef union {
    const void *ptr;
    int64_t i64;
    double dbl;
    bool b;
} s_slot;

/* Heap blocks owned by one call, freed when it returns. */
typedef struct {
    void *blocks[ASSAY_MAX_PARAMS * 2];
    size_t count;
} s_scratch;

static void *s_scratch_alloc(s_scratch *s, size_t size)
{
    void *p = calloc(1, size ? size : 1);
    if (p)
        s->blocks[s->count++] = p;
    return p;
}

static ffi_type *s_ffi_type(int type)
{
    switch (type) {
    case ASSAY_TYPE_INT64: return &ffi_type_sint64;
    case ASSAY_TYPE_DOUBLE: return &ffi_type_double;
    case ASSAY_TYPE_BOOL: return &ffi_type_uint8;
    default: return &ffi_type_pointer; /* strings and aggregates */
    }
}

int assay_invoker_new(const assay_action *action, assay_invoker **out,
                      char *err, size_t errlen)
{
    int rc = assay_params_validate_decl(action->params, err, errlen);
    if (rc)
        return rc;
    assay_invoker *self = calloc(1, sizeof *self);
    if (!self)
        return ASSAY_ENOMEM;
    self->action = action;
    self->types[0] = &ffi_type_pointer; /* assay_ctx * */
    for (; action->params && action->params[self->nparams].name;
         self->nparams++)
        self->types[self->nparams + 1] =
            s_ffi_type((int)action->params[self->nparams].type);
    if (ffi_prep_cif(&self->cif, FFI_DEFAULT_ABI,
                     (unsigned)self->nparams + 1, &ffi_type_sint,
                     self->types) != FFI_OK) {
        free(self);
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "action '%s': libffi cannot build the call",
                          action->name);
    }
    *out = self;
    return 0;
}

void assay_invoker_destroy(assay_invoker **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

static int s_marshal(const assay_param *p, const json_t *v, s_slot *slot,
                     s_scratch *scr)
{
    if (!v) { /* optional, absent, no default: only pointers get here */
        slot->ptr = NULL;
        return 0;
    }
    switch (p->type) {
    case ASSAY_TYPE_STRING:
        slot->ptr = json_string_value(v);
        return slot->ptr ? 0 : ASSAY_ETYPE;
    case ASSAY_TYPE_INT64:
        slot->i64 = json_integer_value(v);
        return 0;
    case ASSAY_TYPE_DOUBLE:
        slot->dbl = json_number_value(v);
        return 0;
    case ASSAY_TYPE_BOOL:
        slot->b = json_is_true(v);
        return 0;
    case ASSAY_TYPE_BYTES: {
        const char *b64 = json_string_value(v);
        size_t n = b64 ? strlen(b64) : 0, len = 0;
        assay_bytes *b = s_scratch_alloc(scr, sizeof *b);
        uint8_t *data = b ? s_scratch_alloc(scr, n / 4 * 3 + 3) : NULL;
        if (!data)
            return ASSAY_ENOMEM;
        if (sodium_base642bin(data, n / 4 * 3 + 3, b64, n, NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
            return ASSAY_ETYPE;
        b->data = data;
        b->len = len;
        slot->ptr = b;
        return 0;
    }
    case ASSAY_TYPE_STRLIST: {
        size_t n = json_array_size(v);
        assay_strlist *l = s_scratch_alloc(scr, sizeof *l);
        const char **items =
            l ? s_scratch_alloc(scr, (n + 1) * sizeof *items) : NULL;
        if (!items)
            return ASSAY_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if (!(items[i] = json_string_value(json_array_get(v, i))))
                return ASSAY_ETYPE;
        l->items = items;
        l->count = n;
        slot->ptr = l;
        return 0;
    }
    case ASSAY_TYPE_MAP: {
        size_t n = json_object_size(v), i = 0;
        assay_map *m = s_scratch_alloc(scr, sizeof *m);
        assay_kv *kv = m ? s_scratch_alloc(scr, (n + 1) * sizeof *kv) : NULL;
        if (!kv)
            return ASSAY_ENOMEM;
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            if (!(kv[i].value = json_string_value(item)))
                return ASSAY_ETYPE;
            kv[i++].key = key;
        }
        m->items = kv;
        m->count = n;
        slot->ptr = m;
        return 0;
    }
    }
    return ASSAY_ETYPE;
}

int assay_invoker_call(assay_invoker *self, assay_ctx *ctx,
                       const json_t *params, int *ret, char *err,
                       size_t errlen)
{
    s_slot slots[ASSAY_MAX_PARAMS];
    void *values[ASSAY_MAX_PARAMS + 1];
    s_scratch scr = {.count = 0};
    values[0] = &ctx;
    int rc = 0;
    for (size_t i = 0; i < self->nparams && !rc; i++) {
        const assay_param *p = &self->action->params[i];
        rc = s_marshal(p, json_object_get(params, p->name), &slots[i], &scr);
        if (rc)
            assay_errf(err, errlen, rc, "param '%s': cannot pass as %s",
                       p->name, assay_type_name((int)p->type));
        values[i + 1] = &slots[i];
    }
    if (!rc) {
        ffi_arg result = 0;
        ffi_call(&self->cif, FFI_FN(self->action->fn), &result, values);
        *ret = (int)result;
    }
    for (size_t i = 0; i < scr.count; i++)
        free(scr.blocks[i]);
    return rc;
}
