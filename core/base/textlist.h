/* core/base/textlist.h - bounded ", "-separated lists of names for messages
 * that say what exists ("installed: exec, file, noop"). A list never
 * overflows its buffer: when an item does not fit, the list ends in
 * ", ..." (room for it is always kept) and takes nothing more. */
#ifndef ASSAY_CORE_TEXTLIST_H
#define ASSAY_CORE_TEXTLIST_H

#include <stdbool.h>
#include <stddef.h>

/* True if `item` is one of the items of `list`. */
bool assay_textlist_has(const char *list, const char *item);
/* Appends `item` unless it is listed already. */
void assay_textlist_add(char *list, size_t len, const char *item);
/* Inserts `item` before the item that starts at `at` (a position in
 * `list`; at its end: appends), for lists kept in an order. */
void assay_textlist_insert(char *list, size_t len, char *at,
                           const char *item);

#endif
