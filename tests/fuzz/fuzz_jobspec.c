/* tests/fuzz/fuzz_jobspec.c - JSON text through assay_jobspec_parse, and
 * every job's merged params through assay_params_check against one
 * declaration of each type, as resolution would. */
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "fuzz.h"
#include "job/jobspec.h"
#include "plugin/params.h"

static const assay_param decl[] = {
    {"path", ASSAY_TYPE_STRING, ASSAY_PARAM_REQUIRED, NULL, ""},
    {"mode", ASSAY_TYPE_INT64, 0, "420", ""},
    {"ratio", ASSAY_TYPE_DOUBLE, 0, "0.5", ""},
    {"follow", ASSAY_TYPE_BOOL, 0, "false", ""},
    {"blob", ASSAY_TYPE_BYTES, 0, "aGk=", ""},
    {"tags", ASSAY_TYPE_STRLIST, 0, "[\"a\"]", ""},
    {"env", ASSAY_TYPE_MAP, 0, "{}", ""},
    {NULL, 0, 0, NULL, NULL},
};

static void check_job(const assay_jobspec *s, size_t i)
{
    char err[ASSAY_ERRMSG_SIZE], id[ASSAY_ID_MAX + 32];
    json_t *merged = json_copy(s->params), *norm = NULL;

    if (!merged)
        abort();
    if (s->targets)
        json_object_update(merged, json_array_get(s->targets, i));
    if (assay_params_check(decl, merged, &norm, err, sizeof err) == 0) {
        /* every declared param with a value or default is present */
        if (json_object_size(norm) != 7)
            abort();
        json_decref(norm);
    }
    json_decref(merged);
    assay_jobspec_job_id(s, i, id, sizeof id);
    if (strncmp(id, s->id, strlen(s->id)) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ASSAY_ERRMSG_SIZE];
    assay_jobspec *s = NULL;
    json_t *j = json_loadb((const char *)data, size,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);

    if (!j)
        return 0;
    if (assay_jobspec_parse(j, &s, err, sizeof err) == 0) {
        size_t n = assay_jobspec_jobs(s);

        if (n < 1 || n > ASSAY_MAX_TARGETS || !strchr(s->action, '.'))
            abort();
        for (size_t i = 0; i < n; i++)
            check_job(s, i);
        assay_jobspec_destroy(&s);
    }
    json_decref(j);
    return 0;
}
