/* core/bin/ctl_schedule.h - assayctl schedule (docs/cli.md). */
#ifndef ASSAY_CTL_SCHEDULE_H
#define ASSAY_CTL_SCHEDULE_H

#include "ctl_cluster.h"

/* schedule create FILE | list | show ID | pause ID | resume ID |
 * trigger ID | backfill ID | delete ID; returns the exit code. */
int assay_ctl_schedule(char **args, int n, const assay_ctl_opts *o);

#endif
