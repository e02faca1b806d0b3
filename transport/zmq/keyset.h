/* transport/zmq/keyset.h - a bounded set of CURVE public keys (Z85): the
 * keys let in since start, and those revoked while connected. At `max`
 * the oldest goes, so a set never grows with churn. */
#ifndef ASSAY_ZMQ_KEYSET_H
#define ASSAY_ZMQ_KEYSET_H

#include <stdbool.h>
#include <stddef.h>

#define KEYSET_KEY 41 /* Z85 key and its NUL */

typedef struct keyset {
    char (*keys)[KEYSET_KEY]; /* oldest first */
    size_t n, cap, max;
} keyset;

void keyset_init(keyset *self, size_t max);
void keyset_fini(keyset *self);
bool keyset_has(const keyset *self, const char *key);
/* Adds key unless present; 0, or -1 out of memory. */
int keyset_add(keyset *self, const char *key);
void keyset_remove(keyset *self, const char *key);

#endif
