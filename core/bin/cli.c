/* core/bin/cli.c - shared by the programs: config loading, exit codes. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <assay/error.h>

#include "base/prefix.h"

int assay_cli_conf(assay_conf *conf, const char *path, char **sets,
                   int nsets, const char *program, char *used,
                   size_t usedlen)
{
    char err[ASSAY_ERRMSG_SIZE * 2], installed[4096];
    /* Like most daemons: the installed file when there is one. One this
     * user may not read (an operator's 0600 file) is not theirs to use:
     * skipped, as if absent, so that `assayctl --local` still works. */
    if (!path && assay_prefix_path(ASSAY_PART_CONFIG, installed,
                                   sizeof installed) == 0 &&
        access(installed, R_OK) == 0)
        path = installed;
    if (path && !*path)
        path = NULL; /* --no-config */
    snprintf(used, usedlen, "%s", path ? path : "");
    if (path && assay_conf_load(conf, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err);
        return -1;
    }
    for (int i = 0; i < nsets; i++) {
        if (assay_conf_set_kv(conf, sets[i], err, sizeof err) != 0) {
            fprintf(stderr, "%s: --set %s: %s\n", program, sets[i], err);
            return -1;
        }
    }
    return 0;
}

int assay_cli_exit_code(const json_t *results)
{
    int code = ASSAY_EXIT_OK;
    size_t i;
    json_t *r;
    /* Only "pass" and "fail" are verdicts; anything else (error, a job
     * that failed or was cancelled before it had a result, no status at
     * all) means the check did not run to its end. */
    json_array_foreach(results, i, r) {
        const char *s = json_string_value(json_object_get(r, "status"));
        if (s && !strcmp(s, "fail")) {
            if (code == ASSAY_EXIT_OK)
                code = ASSAY_EXIT_FAIL;
        } else if (!s || strcmp(s, "pass")) {
            code = ASSAY_EXIT_ERROR;
        }
    }
    return code;
}
