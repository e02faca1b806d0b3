/* core/base/hostfacts.h - what a runtime says of its host, for the
 * evidence of every result it reports (docs/evidence.md#provenance). */
#ifndef ASSAY_CORE_HOSTFACTS_H
#define ASSAY_CORE_HOSTFACTS_H

#include <jansson.h>

/* {hostname, os, kernel, machine_id} (new): gethostname(2); os-release's
 * PRETTY_NAME (else NAME VERSION_ID); uname's system and release;
 * /etc/machine-id, or `asset_id` when not empty. Facts it cannot read are
 * left out; values are cut to 255 bytes. NULL without memory. */
json_t *assay_hostfacts(const char *asset_id);

#endif
