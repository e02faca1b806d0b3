/* core/base/uuid.h - name-based UUIDs (RFC 9562 section 5.5, version 5).
 *
 * Evidence ids and the ids an export gives what it derives from evidence
 * are UUIDv5: the same name in the same namespace always gives the same
 * id, so exporting the same evidence twice gives the same documents. */
#ifndef ASSAY_CORE_UUID_H
#define ASSAY_CORE_UUID_H

#include <stddef.h>

/* Assay's evidence namespace: every id Assay derives (evidence records,
 * and the results, findings, hosts and targets of an export) is a UUIDv5
 * in this namespace. A fixed value: changing it changes every id. */
#define ASSAY_UUID_NS "2f3c4a8e-5b1d-5e7a-9c41-6a7e3d2b9f10"

/* Namespaces of RFC 9562 appendix A, for names of those kinds. */
#define ASSAY_UUID_NS_DNS "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
#define ASSAY_UUID_NS_URL "6ba7b811-9dad-11d1-80b4-00c04fd430c8"

/* Canonical text: 36 characters and the terminating NUL. */
#define ASSAY_UUID_TEXT_SIZE 37

/* Reads canonical text (8-4-4-4-12 hex digits, either case, no braces or
 * "urn:uuid:"); 0 or ASSAY_EINVAL. Any version and variant is accepted. */
int assay_uuid_parse(const char *text, unsigned char out[16]);
/* Lowercase canonical text of u. */
void assay_uuid_format(const unsigned char u[16], char out[37]);
/* The version nibble (5 for UUIDv5), or -1 when u is not of the RFC
 * variant (10xx in the variant bits). */
int assay_uuid_version(const unsigned char u[16]);

/* The UUIDv5 of `len` bytes of `name` in namespace ns, as lowercase text;
 * 0, or ASSAY_EINVAL for a NULL name with len > 0. */
int assay_uuid5(const unsigned char ns[16], const void *name, size_t len,
                char out[37]);
/* The same with the namespace as text and a NUL-terminated name; 0 or
 * ASSAY_EINVAL (a malformed namespace). */
int assay_uuid5_text(const char *ns_text, const char *name, char out[37]);

#endif
