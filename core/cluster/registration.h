/* core/cluster/registration.h - what a runtime's registration must be before a
 * member records it: every member holds each runtime's labels, capacity
 * and catalogue (they are replicated), so what one registration may make
 * them hold is bounded here, at the door (docs/protocol.md, Runtime
 * protocol). Pure functions of the decoded body; fuzzed by
 * tests/fuzz/fuzz_register.c. */
#ifndef ASSAY_REGISTRATION_H
#define ASSAY_REGISTRATION_H

#include <jansson.h>

/* A catalogue as compact JSON, and its plugins and actions per plugin. */
#define ASSAY_CATALOG_MAX_BYTES ((size_t)128 << 10)
#define ASSAY_CATALOG_MAX_PLUGINS 256
#define ASSAY_CATALOG_MAX_ACTIONS 256
/* Labels (keys of 1 to 63 bytes, values of at most 255) and capacity
 * entries (numbers). */
#define ASSAY_LABELS_MAX 64
#define ASSAY_LABEL_VALUE_MAX 255
#define ASSAY_CAPACITY_MAX 16

/* What is wrong with a registration body (NULL: nothing), in words for
 * the log: its id, heartbeat_ms, acks_in_dispatch, labels, capacity and
 * catalog. */
const char *assay_registration_fault(const json_t *body);
/* What is wrong with a catalogue (NULL: nothing); also for updates. */
const char *assay_catalog_fault(const json_t *catalog);

#endif
