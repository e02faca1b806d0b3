/* core/exec/runas.c - which user each plugin's executors run as. */
#include "exec/runas.h"

#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/errtext.h"
#include "base/ident.h"

struct assay_runas {
    char users[ASSAY_RUNAS_USERS + 1][64]; /* [0]: the default, "" = own */
    int nusers;
    struct {
        char plugin[64];
        int user;
    } map[ASSAY_RUNAS_MAX];
    int n;
};

/* Whether executors may run as `user`, said as `what`. */
static int s_check(const char *user, const char *what, char *err,
                   size_t errlen)
{
    struct passwd *pw = getpwnam(user);
    if (!pw || strlen(user) >= 64)
        return assay_errf(err, errlen, ASSAY_EINVAL, "%s: no such user",
                          what);
    if (geteuid() != 0 && pw->pw_uid != geteuid())
        return assay_errf(err, errlen, ASSAY_EPERM,
                          "%s: only assayd run as root can run its executors "
                          "as another user",
                          what);
    return 0;
}

static int s_user(assay_runas *self, const char *user)
{
    for (int i = 0; i <= self->nusers; i++)
        if (!strcmp(self->users[i], user))
            return i;
    if (self->nusers == ASSAY_RUNAS_USERS)
        return -1;
    strlcpy(self->users[++self->nusers], user, sizeof self->users[0]);
    return self->nusers;
}

int assay_runas_new(const char *spec, const char *user, assay_runas **out,
                    char *err, size_t errlen)
{
    char what[200];
    snprintf(what, sizeof what, "executor_user %.64s", user ? user : "");
    int rc = user ? s_check(user, what, err, errlen) : 0;
    assay_runas *self = rc ? NULL : calloc(1, sizeof *self);
    if (!rc && !self)
        rc = ASSAY_ENOMEM;
    if (!rc && user)
        strlcpy(self->users[0], user, sizeof self->users[0]);
    char *copy = !rc && spec ? strdup(spec) : NULL, *save = NULL;
    if (!rc && spec && !copy)
        rc = ASSAY_ENOMEM;
    for (char *t = copy ? strtok_r(copy, " \t", &save) : NULL; t && !rc;
         t = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(t, '=');
        if (eq)
            *eq = '\0';
        snprintf(what, sizeof what, "run_as %.64s=%.64s", t,
                 eq ? eq + 1 : "");
        if (!eq || !assay_ident_valid(t, 63) || !eq[1])
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "%s: want PLUGIN=USER, space-separated", what);
        else if (self->n == ASSAY_RUNAS_MAX)
            rc = assay_errf(err, errlen, ASSAY_ERANGE,
                            "run_as: more than %d plugins", ASSAY_RUNAS_MAX);
        else if (!(rc = s_check(eq + 1, what, err, errlen))) {
            int u = s_user(self, eq + 1);
            if (u < 0)
                rc = assay_errf(err, errlen, ASSAY_ERANGE,
                                "run_as: more than %d users",
                                ASSAY_RUNAS_USERS);
            for (int i = 0; !rc && i < self->n; i++)
                if (!strcmp(self->map[i].plugin, t))
                    rc = assay_errf(err, errlen, ASSAY_EINVAL,
                                    "run_as: plugin %s named twice", t);
            if (!rc) {
                strlcpy(self->map[self->n].plugin, t,
                        sizeof self->map[0].plugin);
                self->map[self->n++].user = u;
            }
        }
    }
    free(copy);
    if (rc)
        free(self);
    else
        *out = self;
    return rc;
}

void assay_runas_destroy(assay_runas **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const char *assay_runas_user(const assay_runas *self, const char *plugin)
{
    int u = 0;
    for (int i = 0; plugin && i < self->n; i++)
        if (!strcmp(self->map[i].plugin, plugin))
            u = self->map[i].user;
    return self->users[u][0] ? self->users[u] : NULL;
}

bool assay_runas_any(const assay_runas *self)
{
    return self->n > 0;
}
