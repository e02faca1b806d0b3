/* core/sched/tz.h - IANA time zones read from TZif files (RFC 8536).
 *
 * A zone answers two questions: which UTC offset is in force at an
 * instant, and which instants a wall-clock reading stands for (none when
 * the clocks jump forward over it, two when they go back over it).
 * Instants are Unix seconds; a "local" time is the wall-clock reading
 * counted in seconds as if it were UTC (2026-03-29 02:30 local is
 * 1774751400 whatever the zone). Nothing here reads TZ, localtime or
 * mktime: a zone is immutable once loaded and may be shared by threads.
 *
 * Limits: zone names of at most ASSAY_TZ_NAME_MAX bytes, files of at most
 * ASSAY_TZ_FILE_MAX bytes, 10000 transitions, 256 local time types, UTC
 * offsets within +-167:59:59. Beyond +-2^56 s (two billion years) the
 * offset is the one at that limit. */
#ifndef ASSAY_CORE_TZ_H
#define ASSAY_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

#define ASSAY_TZ_NAME_MAX 64
#define ASSAY_TZ_FILE_MAX (512 * 1024)
#define ASSAY_TZ_DIR "/usr/share/zoneinfo"

typedef struct assay_tz assay_tz;

/* The IANA zone `name` read from `dir` (NULL: ASSAY_TZ_DIR); "UTC" and
 * "Etc/UTC" need no file. ASSAY_EINVAL for a name that is empty, longer
 * than ASSAY_TZ_NAME_MAX, starts with '/', contains "..", or has bytes
 * other than letters, digits and "/_+-"; ASSAY_ENOENT for a zone with no
 * file ("unknown time zone 'Mars/Base': no /usr/share/zoneinfo/Mars/Base");
 * ASSAY_EPARSE for a file over ASSAY_TZ_FILE_MAX or not TZif; ASSAY_EIO
 * when it cannot be read. Messages name the zone. */
int assay_tz_load(const char *dir, const char *name, assay_tz **out, char *err,
                  size_t errlen);

/* The same from the bytes of a TZif file (tests, fuzzing); `name` is only
 * a label. ASSAY_EPARSE, naming the zone, for anything malformed. */
int assay_tz_parse(const char *name, const void *data, size_t len,
                   assay_tz **out, char *err, size_t errlen);

void assay_tz_destroy(assay_tz **self_p);

const char *assay_tz_name(const assay_tz *self);

/* Seconds east of UTC in force at instant t. */
int32_t assay_tz_offset(const assay_tz *self, int64_t t);

/* The instants, earliest first, at which the wall clock reads `local`:
 * returns 1 normally, 2 in a fold (the repeated hour when clocks go back),
 * 0 in a gap (a time the clocks skip), and then out[0] is the instant of
 * that jump, the first one after the gap. A file contrived to repeat a
 * time more than twice gets the earliest two. */
int assay_tz_instants(const assay_tz *self, int64_t local, int64_t out[2]);

/* The proleptic Gregorian calendar (Howard Hinnant's algorithms), shared
 * with cron.c: days since 1970-01-01 of y-m-d (m 1-12, d 1-31), and back. */
int64_t assay_tz_days_from_civil(int64_t y, unsigned m, unsigned d);
void assay_tz_civil_from_days(int64_t days, int64_t *y, unsigned *m,
                              unsigned *d);

#endif
