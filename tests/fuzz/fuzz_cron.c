/* tests/fuzz/fuzz_cron.c - text through assay_cron_parse; an expression
 * that parses is walked 50 events with assay_cron_next in UTC and in
 * Europe/Berlin (UTC alone without /usr/share/zoneinfo), from New Year and
 * from just before Berlin's spring and autumn jumps: each event strictly
 * after the one before, within the bound, and about something. */
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "fuzz.h"
#include "sched/cron.h"
#include "sched/tz.h"

static assay_tz *zones[2];
static int nzones;

/* Loaded once, kept for the process (reachable, so never a leak). */
static void s_zones(void)
{
    char err[ASSAY_ERRMSG_SIZE];

    if (nzones)
        return;
    if (assay_tz_load(NULL, "UTC", &zones[0], err, sizeof err) != 0)
        abort();
    nzones = 1;
    if (assay_tz_load(NULL, "Europe/Berlin", &zones[1], err, sizeof err) == 0)
        nzones = 2;
}

static void s_walk(const assay_cron *c, const assay_tz *tz, int64_t after)
{
    const int64_t until = after + 10LL * 366 * 86400;
    assay_cron_event ev;

    for (int i = 0; i < 50; i++) {
        if (assay_cron_next(c, tz, after, until, &ev) != 1)
            return;
        if (ev.at <= after || ev.at > until || (!ev.fire && !ev.gap_count))
            abort();
        after = ev.at;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 2026-01-01, and an hour before 2026-03-29 and 2026-10-25 01:00Z */
    static const int64_t starts[] = {1767225600, 1774742400, 1792882800};
    char expr[301], err[ASSAY_ERRMSG_SIZE] = "";
    size_t n = size < 300 ? size : 300;
    assay_cron *c = NULL;

    s_zones();
    memcpy(expr, data, n);
    expr[n] = '\0';
    if (assay_cron_parse(expr, &c, err, sizeof err) != 0) {
        if (c || strncmp(err, "cron", 4) != 0)
            abort();
        return 0;
    }
    for (int z = 0; z < nzones; z++)
        for (size_t s = 0; s < sizeof starts / sizeof *starts; s++)
            s_walk(c, zones[z], starts[s]);
    assay_cron_destroy(&c);
    return 0;
}
