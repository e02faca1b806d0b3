/* core/obs/page.h - the status page (docs/operations.md#the-status-page):
 * one self-contained HTML document (no CDN, no build step) that reads
 * /api/v1/status every two seconds and draws members, runtimes and
 * their plugins, the queue, throughput over the last minutes,
 * schedules with their next fire times and recent failures. Every
 * value is set as text, never as markup: job ids and reasons come from
 * anyone who may submit. */
#ifndef ASSAY_CORE_OBS_PAGE_H
#define ASSAY_CORE_OBS_PAGE_H

#include <stddef.h>

/* The page, NUL-terminated, with its length. */
const char *assay_status_page(size_t *len);

#endif
