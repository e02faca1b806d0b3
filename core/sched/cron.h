/* core/sched/cron.h - cron expressions, and when they fire in a time zone.
 *
 * An expression has 5 fields (minute hour day-of-month month day-of-week)
 * or 6 (second first). A field is '*', a number, a range a-b, a step
 * (star/n, a-b/n, a/n: a to the field's end) or a comma list of those.
 * Months take JAN-DEC and weekdays SUN-SAT (any case, in ranges too);
 * weekdays are 0-7, 0 and 7 both Sunday; '?' is '*' in the two day fields.
 * Named expressions: @yearly @annually @monthly @weekly @daily @midnight
 * @hourly. When both day fields are restricted (neither starts with '*'
 * or '?'), a day matches if either does (Vixie cron's rule); otherwise
 * both must. Intervals ("@every 5m") are not cron: schedules give them
 * separately.
 *
 * The expression matches local wall-clock time. A matching local time
 * fires at its instant; in a fold (clocks going back) at the earlier of
 * its two instants only; in a gap (clocks jumping forward) not at all: it
 * is reported as skipped on the event at the instant of the jump. */
#ifndef ASSAY_CORE_CRON_H
#define ASSAY_CORE_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched/tz.h"

/* Longest expression accepted, in bytes. */
#define ASSAY_CRON_MAX 256

typedef struct assay_cron assay_cron;

/* Parses `expr` into *out. ASSAY_EINVAL names the expression, the field by
 * position and name, and the bad token ("cron '0 0 32 * *': field 3 (day
 * of month) '32': out of range 1-31"); ASSAY_ENOMEM. */
int assay_cron_parse(const char *expr, assay_cron **out, char *err,
                     size_t errlen);
void assay_cron_destroy(assay_cron **self_p);

/* Whether the expression has a seconds field (6 fields). */
bool assay_cron_has_seconds(const assay_cron *self);

/* What happens at one instant (Unix seconds) on a cron schedule read in a
 * time zone. */
typedef struct assay_cron_event {
    int64_t at;         /* the instant */
    bool fire;          /* a local time the expression matches falls on `at` */
    int64_t gap_local;  /* gap_count > 0: the first matching local time
                           (local seconds, as assay_tz_instants) that did not
                           exist because the clock jumped forward to `at` */
    uint32_t gap_count; /* matching local times skipped by that jump */
} assay_cron_event;

/* The first instant strictly after `after` and at most `until` at which
 * something happens: returns 1 and fills *ev, or 0 if nothing happens in
 * (after, until]. Calling it again with after = ev->at gives the next
 * event: each once, in order. The work is bounded whatever the span (an
 * expression that can never match, "0 0 30 2 *", returns 0 at once).
 * Instants beyond +-2^55 s are never reported. */
int assay_cron_next(const assay_cron *self, const assay_tz *tz, int64_t after,
                    int64_t until, assay_cron_event *ev);

#endif
