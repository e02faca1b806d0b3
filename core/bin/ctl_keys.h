/* core/bin/ctl_keys.h - assayctl keys: make, list, allow and revoke the
 * keys of this machine's keys directory (docs/security.md). */
#ifndef ASSAY_CTL_KEYS_H
#define ASSAY_CTL_KEYS_H

#include "ctl_cluster.h"

/* keys init | new FILE ROLE [NAME] | list | allow PATH | revoke NAME;
 * returns the process exit code. */
int assay_ctl_keys(char **args, int n, const assay_ctl_opts *o);

#endif
