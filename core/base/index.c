/* core/base/index.c - open-addressing hash map with linear probing and
 * tombstones, FNV-1a hashed (see index.h). Each slot keeps its key's
 * hash, so a probe compares strings only when the hashes agree: with
 * a million jobs, strcmp on every probed slot was a tenth of the
 * leader's time. */
#include "base/index.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/errtext.h"

#define TOMBSTONE ((char *)1)

typedef struct {
    char *key; /* NULL = empty, TOMBSTONE = deleted */
    void *value;
    uint64_t hash;
} s_slot;

struct assay_index {
    s_slot *slots;
    size_t cap, size, used; /* used counts tombstones too */
};

static uint64_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

assay_index *assay_index_new(void)
{
    assay_index *self = calloc(1, sizeof *self);
    if (self && !(self->slots = calloc(self->cap = 64, sizeof(s_slot)))) {
        free(self);
        return NULL;
    }
    return self;
}

void assay_index_destroy(assay_index **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_index *self = *self_p;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].key && self->slots[i].key != TOMBSTONE)
            free(self->slots[i].key);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

static s_slot *s_find(const assay_index *self, const char *key,
                      uint64_t hash)
{
    size_t mask = self->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        s_slot *s = &self->slots[i];
        if (!s->key)
            return NULL;
        if (s->hash == hash && s->key != TOMBSTONE && !strcmp(s->key, key))
            return s;
    }
}

static s_slot *s_lookup(const assay_index *self, const char *key)
{
    return key ? s_find(self, key, s_hash(key)) : NULL;
}

static int s_grow(assay_index *self)
{
    size_t cap = self->size * 4 > self->cap ? self->cap * 2 : self->cap;
    s_slot *old = self->slots, *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return ASSAY_ENOMEM;
    size_t oldcap = self->cap;
    self->slots = slots;
    self->cap = cap;
    self->used = self->size;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key || old[i].key == TOMBSTONE)
            continue;
        size_t j = old[i].hash & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    free(old);
    return 0;
}

int assay_index_put(assay_index *self, const char *key, void *value)
{
    if (!key)
        return ASSAY_EINVAL;
    uint64_t hash = s_hash(key);
    s_slot *s = s_find(self, key, hash);
    if (s) {
        s->value = value;
        return 0;
    }
    if ((self->used + 1) * 4 > self->cap * 3 && s_grow(self) != 0)
        return ASSAY_ENOMEM;
    char *k = strdup(key);
    if (!k)
        return ASSAY_ENOMEM;
    size_t mask = self->cap - 1, i = hash & mask;
    while (self->slots[i].key && self->slots[i].key != TOMBSTONE)
        i = (i + 1) & mask;
    if (!self->slots[i].key)
        self->used++;
    self->slots[i] = (s_slot){k, value, hash};
    self->size++;
    return 0;
}

void *assay_index_get(const assay_index *self, const char *key)
{
    s_slot *s = s_lookup(self, key);
    return s ? s->value : NULL;
}

void *assay_index_remove(assay_index *self, const char *key)
{
    s_slot *s = s_lookup(self, key);
    if (!s)
        return NULL;
    void *v = s->value;
    free(s->key);
    s->key = TOMBSTONE;
    s->value = NULL;
    self->size--;
    return v;
}

size_t assay_index_size(const assay_index *self) { return self->size; }

void assay_index_each(const assay_index *self,
                      void (*fn)(const char *key, void *value, void *arg),
                      void *arg)
{
    for (size_t i = 0; self && i < self->cap; i++)
        if (self->slots[i].key && self->slots[i].key != TOMBSTONE)
            fn(self->slots[i].key, self->slots[i].value, arg);
}
