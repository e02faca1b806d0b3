/* transport/zmq/keyset.c - see keyset.h. */
#include "keyset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void keyset_init(keyset *self, size_t max)
{
    *self = (keyset){.max = max ? max : 1};
}

void keyset_fini(keyset *self)
{
    free(self->keys);
    *self = (keyset){0};
}

static size_t s_find(const keyset *self, const char *key)
{
    for (size_t i = 0; i < self->n; i++)
        if (!strcmp(self->keys[i], key))
            return i;
    return self->n;
}

bool keyset_has(const keyset *self, const char *key)
{
    return key && s_find(self, key) < self->n;
}

static void s_drop(keyset *self, size_t i)
{
    memmove(self->keys[i], self->keys[i + 1],
            (self->n - i - 1) * sizeof *self->keys);
    self->n--;
}

int keyset_add(keyset *self, const char *key)
{
    if (keyset_has(self, key))
        return 0;
    if (self->n == self->max)
        s_drop(self, 0);
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        void *grown = realloc(self->keys, cap * sizeof *self->keys);
        if (!grown)
            return -1;
        self->keys = grown;
        self->cap = cap;
    }
    snprintf(self->keys[self->n++], KEYSET_KEY, "%s", key);
    return 0;
}

void keyset_remove(keyset *self, const char *key)
{
    size_t i = s_find(self, key);
    if (i < self->n)
        s_drop(self, i);
}
