/* core/base/ident.h - what an identifier may be. JobSpec, job, node and runtime
 * ids travel into file names, log lines, the environment of
 * notify_command and command lines, so they are kept to one safe set. */
#ifndef ASSAY_CORE_IDENT_H
#define ASSAY_CORE_IDENT_H

#include <stdbool.h>
#include <stddef.h>

/* 1 to max bytes of letters, digits, '.', '_' and '-'. */
bool assay_ident_valid(const char *s, size_t max);

/* The same, starting with a letter or digit: a node's or runtime's id,
 * which must never read as a path ("..") or an option ("-rf"). */
bool assay_ident_node_valid(const char *s, size_t max);

#endif
