/* core/bin/cli.c - configuration loading shared by the programs. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include <assay/error.h>

int assay_cli_conf(assay_conf *conf, const char *path, char **sets,
                   int nsets, const char *program)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    if (path && assay_conf_load(conf, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err);
        return -1;
    }
    for (int i = 0; i < nsets; i++) {
        char key[128];
        const char *eq = strchr(sets[i], '=');
        if (!eq || (size_t)(eq - sets[i]) >= sizeof key) {
            fprintf(stderr, "%s: --set wants KEY=VALUE, got '%s'\n", program,
                    sets[i]);
            return -1;
        }
        memcpy(key, sets[i], (size_t)(eq - sets[i]));
        key[eq - sets[i]] = '\0';
        if (assay_conf_set(conf, key, eq + 1, err, sizeof err) != 0) {
            fprintf(stderr, "%s: --set %s: %s\n", program, sets[i], err);
            return -1;
        }
    }
    return 0;
}
