/* assay/version.h - product version and plugin ABI version.
 *
 * Same ABI major = binary compatible: a module built against ABI 1.x loads
 * into any host of ABI 1.y. The minor grows when the host appends entries to
 * assay_host_api or fields to a descriptor; it never removes or reorders. */
#ifndef ASSAY_VERSION_H
#define ASSAY_VERSION_H

#define ASSAY_VERSION_MAJOR 0
#define ASSAY_VERSION_MINOR 1
#define ASSAY_VERSION_PATCH 0
#define ASSAY_VERSION_STRING "0.1.0"
#define ASSAY_VERSION_HEX                                                      \
    ((ASSAY_VERSION_MAJOR << 16) | (ASSAY_VERSION_MINOR << 8) |                \
     ASSAY_VERSION_PATCH)

#define ASSAY_ABI_MAJOR 1
#define ASSAY_ABI_MINOR 0

#if defined(__GNUC__)
#define ASSAY_API __attribute__((visibility("default")))
#define ASSAY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define ASSAY_API
#define ASSAY_PRINTF(f, a)
#endif

#endif
