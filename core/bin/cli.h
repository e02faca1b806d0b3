/* core/bin/cli.h - what assayd and assayctl share: exit codes and the
 * configuration sources (file, then flags). */
#ifndef ASSAY_CLI_H
#define ASSAY_CLI_H

#include <stddef.h>

#include "base/conf.h"

/* sysexits(3) values, documented in README.md and docs/cli.md. */
enum {
    ASSAY_EXIT_OK = 0,
    ASSAY_EXIT_FAIL = 1,   /* a job failed its check */
    ASSAY_EXIT_ERROR = 2,  /* a job ended in error */
    ASSAY_EXIT_USAGE = 64,
    ASSAY_EXIT_DATA = 65,  /* bad JobSpec */
    ASSAY_EXIT_UNAVAILABLE = 69, /* no plugins/executors, or no member */
    ASSAY_EXIT_IO = 74,          /* could not write the output */
    ASSAY_EXIT_TEMPFAIL = 75,    /* wait ran out of time */
    ASSAY_EXIT_NOPERM = 77,      /* the key's role may not do it */
    ASSAY_EXIT_CONFIG = 78,
};

/* Loads `path` into conf, then applies each "key=value" override; prints
 * the error and returns non-zero on failure. A NULL path means the
 * installed assayd.conf (prefix.h) when it exists, "" means no file. The
 * file read, or "" for none, is written to `used`. */
int assay_cli_conf(assay_conf *conf, const char *path, char **sets,
                   int nsets, const char *program, char *used,
                   size_t usedlen);

/* Exit code for an array of results ({status, ...}): the worst wins;
 * "pass" is 0, "fail" 1, and any other status (error, failed, cancelled)
 * or none is 2. */
int assay_cli_exit_code(const json_t *results);

#endif
