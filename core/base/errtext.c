/* core/base/errtext.c - assay_strerror and friends, generated from ASSAY_ERRNO_MAP. */
#include "base/errtext.h"

#include <stdarg.h>
#include <stdio.h>

const char *assay_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define X(name, num, text)                                                     \
    case ASSAY_E##name:                                                        \
        return text;
        ASSAY_ERRNO_MAP(X)
#undef X
    default:
        return "unknown error";
    }
}

const char *assay_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define X(name, num, text)                                                     \
    case ASSAY_E##name:                                                        \
        return "ASSAY_E" #name;
        ASSAY_ERRNO_MAP(X)
#undef X
    default:
        return "ASSAY_EUNKNOWN";
    }
}

int assay_errf(char *buf, size_t len, int code, const char *fmt, ...)
{
    if (buf && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
    }
    return code;
}
