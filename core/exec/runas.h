/* core/exec/runas.h - which user each plugin's executors run as
 * (docs/security.md#executors): executor_user for every plugin, but for
 * those `run_as` names ("PLUGIN=USER ...", e.g. "file=root" for checks
 * that read what only root may). Users are checked when read: they exist,
 * and only an assayd run as root runs executors as another user. */
#ifndef ASSAY_CORE_EXEC_RUNAS_H
#define ASSAY_CORE_EXEC_RUNAS_H

#include <stdbool.h>
#include <stddef.h>

/* Plugins run_as may name, and users it may name besides the default. */
#define ASSAY_RUNAS_MAX 64
#define ASSAY_RUNAS_USERS 8

typedef struct assay_runas assay_runas;

/* `spec`: NULL or "" for none; `user`: executor_user (NULL: assayd's
 * own). ASSAY_EINVAL naming the entry for a malformed spec or unknown
 * user, ASSAY_EPERM for another user when assayd is not root. */
int assay_runas_new(const char *spec, const char *user, assay_runas **out,
                    char *err, size_t errlen);
void assay_runas_destroy(assay_runas **self_p);
/* The user plugin's executors run as (NULL: assayd's own). Each user is
 * held once: compare the pointers. */
const char *assay_runas_user(const assay_runas *self, const char *plugin);
/* Whether some plugin runs as another user than the rest. */
bool assay_runas_any(const assay_runas *self);

#endif
