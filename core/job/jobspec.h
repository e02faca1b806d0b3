/* core/job/jobspec.h - the JobSpec: what a control plane asks to run.
 *
 * A JobSpec names one action ("plugin.action", optional version range),
 * base params and optional targets; it expands into one Job per target with
 * the target's params merged over the base ones (docs/jobspec.md). Parsing
 * checks shape and bounds; resolving checks the action and every job's
 * params against the catalogue, so bad input is refused before anything
 * runs. */
#ifndef ASSAY_CORE_JOBSPEC_H
#define ASSAY_CORE_JOBSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "plugin/catalog.h"

#define ASSAY_ID_MAX 64
#define ASSAY_MAX_TARGETS 10000
#define ASSAY_JOBSPEC_FILE_MAX (1u << 20)
/* resources.cpus at most. */
#define ASSAY_CPUS_MAX 1024
/* Evidence metadata (docs/evidence.md): title and description bytes at
 * most; controls at most; a control id's bytes at most. */
#define ASSAY_TITLE_MAX 256
#define ASSAY_DESCRIPTION_MAX 4096
#define ASSAY_CONTROLS_MAX 256
#define ASSAY_CONTROL_ID_MAX 64
/* retain_seconds at most: a century. */
#define ASSAY_RETAIN_SECONDS_MAX 3153600000LL

typedef struct assay_jobspec {
    char id[ASSAY_ID_MAX + 1]; /* client-given or generated */
    char action[2 * 64 + 2];   /* plugin.action */
    char version[64];          /* semver range, "" = highest */
    json_t *params;            /* object */
    json_t *targets;           /* array of objects, or NULL */
    json_t *labels;            /* object of strings */
    json_t *selector;          /* runtime labels required, object */
    int64_t memory_mb;         /* resources.memory_mb; 0 = any */
    int64_t cpu_milli;         /* resources.cpus x 1000; 0 = any */
    bool pack;                 /* placement "pack" (else "spread") */
    int64_t timeout_ms;        /* 0 = daemon default */
    int64_t max_attempts;      /* 0 = daemon default */
    int64_t priority;          /* higher runs first */
    int64_t retain_seconds;    /* finished jobs kept this long; 0 = member's
                                  retain_jobs / retain_seconds */
    /* What its results are evidence of (docs/evidence.md): NULL / "" when
     * not given. controls: [{catalog, id, targets?}]; series: the check
     * its results are compared with (drift; a schedule's runs are its
     * series). */
    char *title, *description;
    char series[ASSAY_ID_MAX + 1];
    json_t *controls;
} assay_jobspec;

int assay_jobspec_parse(const json_t *json, assay_jobspec **out, char *err,
                        size_t errlen);
/* Reads a JSON file (at most ASSAY_JOBSPEC_FILE_MAX bytes); errors name the
 * file, line and column. */
int assay_jobspec_load(const char *path, assay_jobspec **out, char *err,
                       size_t errlen);
void assay_jobspec_destroy(assay_jobspec **self_p);

size_t assay_jobspec_jobs(const assay_jobspec *self);
/* "<spec id>-<index>" */
void assay_jobspec_job_id(const assay_jobspec *self, size_t i, char *buf,
                          size_t len);

/* Type-checks every job's params (the JobSpec's params with the job's
 * target merged over them) against `decl`; on success *params is a new
 * array of normalized param objects, one per job. A refusal names the
 * action and where the value at fault was given: "file.mode: params: param
 * 'mode': ..." or "file.mode: targets[1]: param 'mode': ...", and a missing
 * required param the target that lacks it. */
int assay_jobspec_check_params(const assay_jobspec *self,
                               const assay_param *decl, json_t **params,
                               char *err, size_t errlen);

/* Resolves the action in `catalog`, then checks params as above. */
int assay_jobspec_resolve(const assay_jobspec *self,
                          const assay_catalog *catalog,
                          const assay_plugin **plugin,
                          const assay_action **action, json_t **params,
                          char *err, size_t errlen);

#endif
