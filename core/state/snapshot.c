/* core/state/snapshot.c - the whole state as one value, and back.
 *
 * Format 2: {v: 2, level, specs: [{spec, jobs: [job]}], runtimes, leader?}
 * where each JobSpec carries its jobs in submission order and a job is
 * {id, params, state, attempt, runtime?, version?, reason?, result?,
 * ended_ms?, attempts?}; runtimes are [{id, heartbeat_ms, labels,
 * capacity, catalog, alive}]. Format 1 (still loaded, and still written
 * while the cluster is at level 1) lists the jobs apart, each with its
 * JobSpec's id and fields copied; the previous release wrote it without
 * level, ended_ms and attempts. tests/fixtures/state/ holds one of each.
 * Restore is linear in the jobs. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "error.h"

static json_t *s_job_dump(const assay_job *j)
{
    json_t *o = json_pack("{s:s, s:O, s:s, s:I}", "id", j->id, "params",
                          j->params, "state", assay_job_state_name(j->state),
                          "attempt", (json_int_t)j->attempt);
    if (!o)
        return NULL;
    if (*j->runtime)
        json_object_set_new(o, "runtime", json_string(j->runtime));
    if (*j->version)
        json_object_set_new(o, "version", json_string(j->version));
    if (j->reason)
        json_object_set_new(o, "reason", json_string(j->reason));
    if (j->result)
        json_object_set(o, "result", j->result);
    if (j->ended_ms)
        json_object_set_new(o, "ended_ms", json_integer(j->ended_ms));
    if (j->n_attempts)
        json_object_set_new(o, "attempts", st_attempts_json(j));
    return o;
}

/* Format 1, for a cluster still at level 1: what the previous release
 * reads (its members may have to install it). The attempt history, the
 * end time and the level go in fields it ignores, so nothing is lost
 * between members of this release either. */
static json_t *s_specs_v1(const assay_state *self, json_t **jobs)
{
    json_t *specs = json_array();
    *jobs = json_array();
    for (const assay_spec_rec *s = self->specs_head; s; s = s->next)
        json_array_append(specs, s->spec);
    for (const assay_job *j = self->all_head; j; j = j->all_next) {
        json_t *o = assay_job_json(j, ASSAY_JOB_RESULT);
        json_object_del(o, "waiting"); /* the leader's note, not state */
        json_object_set(o, "params", j->params);
        if (j->ended_ms)
            json_object_set_new(o, "ended_ms", json_integer(j->ended_ms));
        if (j->n_attempts)
            json_object_set_new(o, "attempts", st_attempts_json(j));
        json_array_append_new(*jobs, o);
    }
    return specs;
}

json_t *assay_state_dump_format(const assay_state *self, int version)
{
    json_t *specs, *jobs = NULL, *rts = json_array();
    if (version < 2)
        specs = s_specs_v1(self, &jobs);
    else {
        specs = json_array();
        /* A JobSpec's jobs are one run of the submission-order list. */
        const assay_job *j = self->all_head;
        for (const assay_spec_rec *s = self->specs_head; s; s = s->next) {
            json_t *list = json_array();
            for (; j && j->spec == s; j = j->all_next)
                json_array_append_new(list, s_job_dump(j));
            json_array_append_new(specs, json_pack("{s:O, s:o}", "spec",
                                                   s->spec, "jobs", list));
        }
    }
    size_t i;
    json_t *id;
    json_array_foreach(self->runtime_ids, i, id) {
        assay_runtime_rec *r = assay_index_get(self->runtimes,
                                               json_string_value(id));
        json_t *o = json_deep_copy(r->info);
        json_object_set_new(o, "alive", json_boolean(r->alive));
        json_array_append_new(rts, o);
    }
    json_t *dump = version < 2
                       ? json_pack("{s:i, s:I, s:o, s:o, s:o}", "v", 1,
                                   "level", (json_int_t)self->level, "specs",
                                   specs, "jobs", jobs, "runtimes", rts)
                       : json_pack("{s:i, s:I, s:o, s:o}", "v",
                                   ASSAY_STATE_VERSION, "level",
                                   (json_int_t)self->level, "specs", specs,
                                   "runtimes", rts);
    if (dump && self->leader)
        json_object_set(dump, "leader", self->leader);
    return dump;
}

json_t *assay_state_dump(const assay_state *self)
{
    return assay_state_dump_format(self, ASSAY_STATE_VERSION);
}

/* Terminal jobs go on the retention list oldest end first, as they were
 * appended while live (ties: submission order). */
static int s_by_end(const void *a, const void *b)
{
    const assay_job *x = *(assay_job *const *)a, *y = *(assay_job *const *)b;
    if (x->ended_ms != y->ended_ms)
        return x->ended_ms < y->ended_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct {
    assay_job **done; /* terminal jobs, placed last in end order */
    size_t n;
} s_done;

/* Puts the job the dump record `rec` describes where the dump had it
 * (submission left it queued). */
static int s_place(assay_state *self, const json_t *rec, s_done *done,
                   char *err, size_t errlen)
{
    assay_job *job = assay_state_job(self, st_str(rec, "id"));
    int st = assay_job_state_parse(st_str(rec, "state"));
    if (!job || st < 0 ||
        !st_attempts_load(self, job, json_object_get(rec, "attempts")))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: a job without its JobSpec, a known "
                          "state or well-formed attempts");
    st_leave(self, job);
    job->state = st;
    job->attempt = st_int(rec, "attempt");
    job->ended_ms = st_int(rec, "ended_ms");
    const char *rt = st_intern(self, st_str(rec, "runtime")),
               *v = st_intern(self, st_str(rec, "version"));
    if (!rt || !v)
        return ASSAY_ENOMEM;
    job->runtime = rt;
    job->version = v;
    assay_job_note(&job->reason, st_str(rec, "reason"));
    json_decref(job->result);
    job->result = json_incref(json_object_get(rec, "result"));
    if (st == ASSAY_JOB_QUEUED || st == ASSAY_JOB_RUNNING)
        return st_place(self, job) ? 0 : ASSAY_ENOMEM;
    done->done[done->n++] = job;
    return 0;
}

/* Format 1: jobs apart from their JobSpecs, gathered in one pass. */
static int s_load_v1(assay_state *self, const json_t *dump, s_done *done,
                     char *err, size_t errlen)
{
    size_t i;
    json_t *spec, *j;
    json_t *jobs = json_object_get(dump, "jobs");
    json_t *by_spec = json_object();
    if (!by_spec)
        return ASSAY_ENOMEM;
    json_array_foreach(jobs, i, j) {
        const char *sid = st_str(j, "spec");
        json_t *list = json_object_get(by_spec, sid ? sid : "");
        if (!list) {
            list = json_array();
            json_object_set_new(by_spec, sid ? sid : "", list);
        }
        json_array_append(list, j);
    }
    int rc = 0;
    json_array_foreach(json_object_get(dump, "specs"), i, spec) {
        const char *sid = st_str(spec, "id");
        json_t *list = json_object_get(by_spec, sid ? sid : "");
        if (!rc)
            rc = st_submit(self, spec, list, NULL, err, errlen);
    }
    json_decref(by_spec);
    if (!rc && assay_state_job_count(self) != json_array_size(jobs))
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "snapshot: a job without its JobSpec");
    json_array_foreach(jobs, i, j)
        if (!rc)
            rc = s_place(self, j, done, err, errlen);
    return rc;
}

static int s_load_v2(assay_state *self, const json_t *dump, s_done *done,
                     char *err, size_t errlen)
{
    size_t i, k;
    json_t *entry, *j;
    int rc = 0;
    json_array_foreach(json_object_get(dump, "specs"), i, entry) {
        const json_t *jobs = json_object_get(entry, "jobs");
        /* Each JobSpec once: a second entry would place its jobs again. */
        if (!rc && assay_state_spec(self, st_str(json_object_get(entry, "spec"),
                                                 "id")))
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "snapshot: a JobSpec listed twice");
        if (!rc)
            rc = st_submit(self, json_object_get(entry, "spec"), jobs, NULL,
                           err, errlen);
        json_array_foreach(jobs, k, j)
            if (!rc)
                rc = s_place(self, j, done, err, errlen);
    }
    return rc;
}

static size_t s_count_jobs(const json_t *dump, int64_t v)
{
    if (v < 2)
        return json_array_size(json_object_get(dump, "jobs"));
    size_t n = 0, i;
    json_t *entry;
    json_array_foreach(json_object_get(dump, "specs"), i, entry)
        n += json_array_size(json_object_get(entry, "jobs"));
    return n;
}

int assay_state_load(assay_state *self, const json_t *dump, char *err,
                     size_t errlen)
{
    int64_t v = st_int(dump, "v");
    if (v < 1)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: no format version");
    if (v > ASSAY_STATE_VERSION)
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                          "snapshot: format version %lld is newer than this "
                          "member reads (up to %d): upgrade it",
                          (long long)v, ASSAY_STATE_VERSION);
    int64_t level = st_int(dump, "level");
    if (level < 0 || level > ASSAY_STATE_LEVEL)
        return assay_errf(err, errlen, ASSAY_EUNSUPP,
                          "snapshot: feature level above what this member "
                          "speaks");
    s_done done = {calloc(s_count_jobs(dump, v) + 1, sizeof(assay_job *)), 0};
    if (!done.done)
        return ASSAY_ENOMEM;
    assay_state_event_fn ev = self->on_event;
    self->on_event = NULL; /* restoring is not news */
    st_clear(self);
    int rc = v < 2 ? s_load_v1(self, dump, &done, err, errlen)
                   : s_load_v2(self, dump, &done, err, errlen);
    qsort(done.done, done.n, sizeof *done.done, s_by_end);
    for (size_t k = 0; k < done.n; k++)
        st_place(self, done.done[k]);
    free(done.done);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(dump, "runtimes"), i, r) {
        json_t *cmd = json_deep_copy(r);
        json_object_set_new(cmd, "op", json_string("runtime"));
        json_object_set_new(cmd, "v", json_integer(1));
        if (!rc)
            rc = assay_state_apply(self, cmd, NULL, err, errlen);
        assay_runtime_rec *rec = assay_state_runtime(self, st_str(r, "id"));
        if (rec)
            rec->alive = json_is_true(json_object_get(r, "alive"));
        json_decref(cmd);
    }
    json_t *lead = json_object_get(dump, "leader");
    if (lead && !rc) {
        json_t *cmd = json_deep_copy(lead);
        json_object_set_new(cmd, "op", json_string("leader"));
        json_object_set_new(cmd, "v", json_integer(1));
        rc = assay_state_apply(self, cmd, NULL, err, errlen);
        json_decref(cmd);
    }
    /* Format 1 had no levels: a state that had a leader was at level 1. */
    self->level = level ? level : self->leader ? 1 : 0;
    self->on_event = ev;
    return rc;
}
