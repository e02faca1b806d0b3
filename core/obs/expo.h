/* core/obs/expo.h - the Prometheus text exposition format, version 0.0.4
 * (docs/operations.md#metrics): families with their HELP and TYPE, then
 * samples with escaped label values. No Debian package offers a C
 * Prometheus client; this is all a member or runtime needs of one.
 *
 *   assay_expo *e = assay_expo_new();
 *   assay_expo_family(e, "assay_jobs", "gauge", "Jobs held, by state.");
 *   assay_expo_sample(e, "assay_jobs", (const char *[]){"state", "queued",
 *                     NULL}, 12);
 *   size_t len; const char *text = assay_expo_text(e, &len);
 *   assay_expo_destroy(&e);
 */
#ifndef ASSAY_CORE_OBS_EXPO_H
#define ASSAY_CORE_OBS_EXPO_H

#include <stddef.h>
#include <stdint.h>

typedef struct assay_expo assay_expo;

assay_expo *assay_expo_new(void);
void assay_expo_destroy(assay_expo **self_p);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void assay_expo_family(assay_expo *self, const char *name, const char *type,
                       const char *help);
/* "name{k="v",...} value": labels is NULL or NULL-terminated pairs. */
void assay_expo_sample(assay_expo *self, const char *name,
                       const char *const *labels, double value);
/* A histogram's samples: name_bucket{...,le="b"} for each of the n upper
 * bounds and +Inf, then name_sum and name_count. counts holds n + 1
 * counts per bucket (the last: above every bound), made cumulative here. */
void assay_expo_histogram(assay_expo *self, const char *name,
                          const char *const *labels, const double *bounds,
                          const uint64_t *counts, size_t n, double sum);

/* The text so far, NUL-terminated (NULL if memory ran out at any point). */
const char *assay_expo_text(const assay_expo *self, size_t *len);

#endif
