/* core/bin/ctl_evidence.h - assayctl export and drift (docs/cli.md,
 * docs/evidence.md). */
#ifndef ASSAY_CTL_EVIDENCE_H
#define ASSAY_CTL_EVIDENCE_H

#include "ctl_cluster.h"

/* export [--format oscal-ar|json|junit] [--run ID | --schedule ID]
 * [--since T] [--until T]: the evidence held, as one document on stdout;
 * returns the exit code. */
int assay_ctl_export(const assay_ctl_opts *o);
/* drift [--schedule ID] [--since T]: what regressed or was fixed. */
int assay_ctl_drift(const assay_ctl_opts *o);

#endif
