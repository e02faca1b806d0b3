/* tests/lib/zones.c - see zones.h. */
#include "zones.h"

#include <criterion/criterion.h>
#include <time.h>

#include <assay/error.h>

int64_t zones_utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

assay_tz *zones_load(const char *name)
{
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_tz *tz = NULL;
    cr_assert_eq(assay_tz_load(NULL, name, &tz, err, sizeof err), 0, "%s: %s",
                 name, err);
    cr_assert_str_eq(assay_tz_name(tz), name);
    return tz;
}
