/* core/base/index.h - string-keyed hash map of pointers (jobs and JobSpecs by id,
 * runtimes by id). Keys are copied; values are the caller's. */
#ifndef ASSAY_CORE_INDEX_H
#define ASSAY_CORE_INDEX_H

#include <stddef.h>

typedef struct assay_index assay_index;

assay_index *assay_index_new(void);
/* Frees the map (not the values). */
void assay_index_destroy(assay_index **self_p);
/* Inserts or replaces; 0 or ASSAY_ENOMEM. */
int assay_index_put(assay_index *self, const char *key, void *value);
/* NULL for an absent (or NULL) key. */
void *assay_index_get(const assay_index *self, const char *key);
/* Removes and returns the value (NULL if absent). */
void *assay_index_remove(assay_index *self, const char *key);
size_t assay_index_size(const assay_index *self);
/* Calls fn for every entry, in no particular order; fn must not change
 * the map. */
void assay_index_each(const assay_index *self,
                      void (*fn)(const char *key, void *value, void *arg),
                      void *arg);

#endif
