/* tests/lib/zones.h - what the time zone and cron suites share: instants
 * written as dates, and zones loaded from the system's tzdata. */
#ifndef ASSAY_TESTS_ZONES_H
#define ASSAY_TESTS_ZONES_H

#include <stdint.h>

#include "sched/tz.h"

/* Unix seconds of a UTC date and time; also the "local seconds" of a
 * wall-clock reading (timegm reads no TZ). */
int64_t zones_utc(int y, int mo, int d, int h, int mi, int s);
/* The zone `name` from /usr/share/zoneinfo, asserted to load. */
assay_tz *zones_load(const char *name);

#endif
