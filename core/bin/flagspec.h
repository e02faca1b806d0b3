/* core/bin/flagspec.h - a JobSpec written with assayctl's flags:
 * `run --local --action A [--param K=V]... [--target K=V[,K=V]...]...`,
 * so trying an action needs no JSON file. */
#ifndef ASSAY_FLAGSPEC_H
#define ASSAY_FLAGSPEC_H

#include <stddef.h>

#include <jansson.h>

#include "plugin/catalog.h"

typedef struct {
    const char *action; /* "plugin.action" or "plugin.action@RANGE" */
    char **params;      /* "K=V" each */
    int nparams;
    char **targets;     /* "K=V[,K=V...]" or a JSON object, each a target */
    int ntargets;
} assay_flagspec;

/* Builds the JobSpec (id "inline") as JSON. Each value is text, read as
 * the type the action declares for its key (numbers, booleans; lists and
 * maps as JSON); undeclared keys stay text and are refused later, with
 * the JobSpec's own message. Errors name the flag and the value. */
int assay_flagspec_json(const assay_flagspec *f, const assay_catalog *cat,
                        json_t **out, char *err, size_t errlen);

#endif
