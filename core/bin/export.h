/* core/bin/export.h - evidence records streamed out as one document
 * (`assayctl export`): NIST OSCAL assessment results ("oscal-ar"),
 * Assay's own JSON ("json") or JUnit XML ("junit"). docs/evidence.md
 * ("Export formats", "The OSCAL mapping") says what each holds.
 *
 * Records are written as they arrive; memory does not grow with their
 * number. They come grouped by run: consecutive records with the same
 * "spec" are one run (an OSCAL result, a JUnit testsuite). */
#ifndef ASSAY_EXPORT_H
#define ASSAY_EXPORT_H

#include <stdio.h>

#include <jansson.h>

/* The formats, as an error message lists them. */
#define ASSAY_EXPORT_FORMATS "oscal-ar, json, junit"

/* Distinct hosts one run may name (an OSCAL result keeps their ids to
 * define each once); more is refused with ASSAY_ETOOBIG. */
#define ASSAY_EXPORT_HOSTS_MAX 65536

typedef struct assay_export assay_export;

/* A new document on `out` (not closed by the exporter). meta:
 * {"generated": RFC 3339 date-time with a time zone (required),
 *  "tool_version": text (required), "title": text, "member": text}.
 * NULL on an unknown format (err names it and lists the known ones), bad
 * meta, no memory or a failed write; err says which. */
assay_export *assay_export_new(FILE *out, const char *format,
                               const json_t *meta, char *err, size_t errlen);
/* Writes one evidence record (docs/evidence.md). A record refused for
 * what it holds (ASSAY_EINVAL: not an object, no "uuid", a control id
 * that is not an OSCAL token; ASSAY_ETOOBIG: too many distinct controls
 * or hosts in its run) leaves the document as it was and the exporter
 * usable. Any other error (ASSAY_EIO, ASSAY_ENOMEM) ends the export:
 * later calls return it again. */
int assay_export_record(assay_export *self, const json_t *record, char *err,
                        size_t errlen);
/* Closes the document (the last run, then the document itself) and
 * flushes `out`; 0, or the error that ended the export. With no record
 * the document is still complete and valid. */
int assay_export_finish(assay_export *self, char *err, size_t errlen);
/* Frees the exporter and its temporary files; an unfinished document
 * stays unfinished. */
void assay_export_destroy(assay_export **self_p);

#endif
