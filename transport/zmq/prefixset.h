/* transport/zmq/prefixset.h - the topic prefixes a PUBLISH link's
 * subscribers want, in a hash set: a subscription is O(1) and asking
 * whether a topic is wanted costs one lookup per prefix length of the
 * topic, whatever the number of subscriptions (a list scan froze the loop
 * for seconds under 40,000 of them). */
#ifndef ASSAY_ZMQ_PREFIXSET_H
#define ASSAY_ZMQ_PREFIXSET_H

#include <stdbool.h>
#include <stddef.h>

/* Prefixes longer than this never match a topic (topics are short). */
#define PREFIXSET_KEY_MAX 64
/* Distinct prefixes held at most; more are not recorded. */
#define PREFIXSET_MAX 65536

typedef struct prefixset {
    char **slots; /* NULL empty, PREFIXSET_GONE removed, else a key */
    size_t cap;   /* a power of two, or 0 */
    size_t live, used; /* keys; keys and tombstones */
} prefixset;

/* Adds prefix p (n bytes, no NUL): 0 added or already there, ASSAY_ERANGE
 * over PREFIXSET_KEY_MAX or PREFIXSET_MAX, ASSAY_ENOMEM. */
int prefixset_add(prefixset *s, const char *p, size_t n);
void prefixset_remove(prefixset *s, const char *p, size_t n);
/* Whether some prefix held begins `topic` (the empty prefix: every topic). */
bool prefixset_matches(const prefixset *s, const char *topic);
void prefixset_fini(prefixset *s);

#endif
