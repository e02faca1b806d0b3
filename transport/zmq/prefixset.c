/* transport/zmq/prefixset.c - see prefixset.h. Open addressing, linear
 * probing, tombstones; grown (and cleaned) at half full. */
#include "prefixset.h"

#include <assay.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char gone_;
#define PREFIXSET_GONE (&gone_)

static uint64_t s_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static bool s_is(const char *key, const char *p, size_t n)
{
    return key && key != PREFIXSET_GONE && strlen(key) == n &&
           !memcmp(key, p, n);
}

/* The slot holding p, or NULL. */
static char **s_find(const prefixset *s, const char *p, size_t n)
{
    if (!s->cap)
        return NULL;
    for (size_t i = s_hash(p, n) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slots[i])
            return NULL;
        if (s_is(s->slots[i], p, n))
            return &s->slots[i];
    }
}

static int s_grow(prefixset *s)
{
    size_t cap = s->cap ? s->cap * 2 : 64;
    while (cap / 2 <= s->live)
        cap *= 2;
    char **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return ASSAY_ENOMEM;
    for (size_t k = 0; k < s->cap; k++) {
        char *key = s->slots[k];
        if (!key || key == PREFIXSET_GONE)
            continue;
        size_t i = s_hash(key, strlen(key)) & (cap - 1);
        while (slots[i])
            i = (i + 1) & (cap - 1);
        slots[i] = key;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->used = s->live;
    return 0;
}

int prefixset_add(prefixset *s, const char *p, size_t n)
{
    if (n > PREFIXSET_KEY_MAX)
        return ASSAY_ERANGE;
    if (s_find(s, p, n))
        return 0;
    if (s->live >= PREFIXSET_MAX)
        return ASSAY_ERANGE;
    if ((s->used + 1) * 2 > s->cap && s_grow(s) != 0)
        return ASSAY_ENOMEM;
    char *key = malloc(n + 1);
    if (!key)
        return ASSAY_ENOMEM;
    memcpy(key, p, n);
    key[n] = '\0';
    size_t i = s_hash(p, n) & (s->cap - 1);
    while (s->slots[i] && s->slots[i] != PREFIXSET_GONE)
        i = (i + 1) & (s->cap - 1);
    if (!s->slots[i])
        s->used++;
    s->slots[i] = key;
    s->live++;
    return 0;
}

void prefixset_remove(prefixset *s, const char *p, size_t n)
{
    char **slot = n <= PREFIXSET_KEY_MAX ? s_find(s, p, n) : NULL;
    if (!slot)
        return;
    free(*slot);
    *slot = PREFIXSET_GONE;
    s->live--;
}

bool prefixset_matches(const prefixset *s, const char *topic)
{
    if (!s->live)
        return false;
    size_t len = strlen(topic);
    for (size_t n = 0; n <= len && n <= PREFIXSET_KEY_MAX; n++)
        if (s_find(s, topic, n))
            return true;
    return false;
}

void prefixset_fini(prefixset *s)
{
    for (size_t k = 0; k < s->cap; k++)
        if (s->slots[k] != PREFIXSET_GONE)
            free(s->slots[k]);
    free(s->slots);
    *s = (prefixset){0};
}
