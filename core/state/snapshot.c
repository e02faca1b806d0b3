/* core/state/snapshot.c - the whole state as one value, and back.
 *
 * Format version 2 (version 1 still loads; tests/fixtures/state/ holds one
 * of each): {v, level, specs:[spec], jobs:[{id, spec, state, attempt,
 * runtime, version, reason?, result?, params, ended_ms?, attempts?}],
 * runtimes:[{id, heartbeat_ms, labels, capacity, catalog, alive}],
 * leader?}. Jobs are in submission order; restore is linear in them. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "error.h"

json_t *assay_state_dump(const assay_state *self)
{
    json_t *specs = json_array(), *jobs = json_array(), *rts = json_array();
    for (const assay_spec_rec *s = self->specs_head; s; s = s->next)
        json_array_append(specs, s->spec);
    for (const assay_job *j = self->all_head; j; j = j->all_next) {
        json_t *o = assay_job_json(j, true);
        json_object_del(o, "waiting"); /* the leader's note, not state */
        json_object_set(o, "params", j->params);
        if (j->n_attempts && !json_object_get(o, "attempts"))
            json_object_set_new(o, "attempts", st_attempts_json(j));
        json_array_append_new(jobs, o);
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
    json_t *dump = json_pack("{s:i, s:I, s:o, s:o, s:o}", "v",
                             ASSAY_STATE_VERSION, "level",
                             (json_int_t)self->level, "specs", specs, "jobs",
                             jobs, "runtimes", rts);
    if (dump && self->leader)
        json_object_set(dump, "leader", self->leader);
    return dump;
}

static int s_fail(char *err, size_t errlen, int rc, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "snapshot: %s", what);
    return rc;
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

/* Puts each job where the dump had it (submission left all queued). */
static int s_place_jobs(assay_state *self, const json_t *jobs, char *err,
                        size_t errlen)
{
    size_t i, nd = 0;
    json_t *j;
    assay_job **done = calloc(json_array_size(jobs) + 1, sizeof *done);
    if (!done)
        return ASSAY_ENOMEM;
    int rc = 0;
    json_array_foreach(jobs, i, j) {
        assay_job *job = assay_state_job(self, st_str(j, "id"));
        int st = assay_job_state_parse(st_str(j, "state"));
        if (!job || st < 0 || !st_attempts_load(job, json_object_get(j,
                                                                 "attempts"))) {
            rc = s_fail(err, errlen, ASSAY_EINVAL,
                        "a job without its JobSpec, a known state or "
                        "well-formed attempts");
            break;
        }
        st_leave(self, job);
        job->state = st;
        job->attempt = st_int(j, "attempt");
        job->ended_ms = st_int(j, "ended_ms");
        strlcpy(job->runtime, st_str(j, "runtime") ? st_str(j, "runtime") : "",
                sizeof job->runtime);
        strlcpy(job->version, st_str(j, "version") ? st_str(j, "version") : "",
                sizeof job->version);
        assay_job_note(&job->reason, st_str(j, "reason"));
        job->result = json_incref(json_object_get(j, "result"));
        if (st == ASSAY_JOB_QUEUED || st == ASSAY_JOB_RUNNING) {
            if (!st_place(self, job))
                rc = ASSAY_ENOMEM;
        } else
            done[nd++] = job;
    }
    qsort(done, nd, sizeof *done, s_by_end);
    for (size_t k = 0; k < nd; k++)
        st_place(self, done[k]);
    free(done);
    return rc;
}

int assay_state_load(assay_state *self, const json_t *dump, char *err,
                     size_t errlen)
{
    int64_t v = st_int(dump, "v");
    if (v < 1)
        return s_fail(err, errlen, ASSAY_EINVAL, "no format version");
    if (v > ASSAY_STATE_VERSION) {
        if (err && errlen)
            snprintf(err, errlen,
                     "snapshot: format version %lld is newer than this "
                     "member reads (up to %d): upgrade it",
                     (long long)v, ASSAY_STATE_VERSION);
        return ASSAY_EUNSUPP;
    }
    assay_state_event_fn ev = self->on_event;
    self->on_event = NULL; /* restoring is not news */
    st_clear(self);
    int rc = 0;
    size_t i;
    json_t *spec;
    json_t *jobs = json_object_get(dump, "jobs");
    /* Each JobSpec's jobs, in dump order, gathered in one pass: restore is
     * linear (a scan of every job per JobSpec took minutes at 200,000). */
    json_t *by_spec = json_object(), *j;
    json_array_foreach(jobs, i, j) {
        const char *sid = st_str(j, "spec");
        json_t *list = json_object_get(by_spec, sid ? sid : "");
        if (!list) {
            list = json_array();
            json_object_set_new(by_spec, sid ? sid : "", list);
        }
        json_array_append_new(list,
                              json_pack("{s:s?, s:O?}", "id", st_str(j, "id"),
                                        "params",
                                        json_object_get(j, "params")));
    }
    json_array_foreach(json_object_get(dump, "specs"), i, spec) {
        const char *sid = st_str(spec, "id");
        json_t *list = json_object_get(by_spec, sid ? sid : "");
        json_t *cmd = json_pack("{s:i, s:s, s:O, s:o}", "v", 1, "op",
                                "submit", "spec", spec, "jobs",
                                list ? json_incref(list) : json_array());
        if (!rc)
            rc = assay_state_apply(self, cmd, NULL, err, errlen);
        json_decref(cmd);
    }
    json_decref(by_spec);
    if (!rc && assay_state_job_count(self) != json_array_size(jobs))
        rc = s_fail(err, errlen, ASSAY_EINVAL,
                    "a job without its JobSpec");
    if (!rc)
        rc = s_place_jobs(self, jobs, err, errlen);
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
    int64_t level = st_int(dump, "level");
    if (level < 0 || level > ASSAY_STATE_LEVEL)
        rc = rc ? rc : s_fail(err, errlen, ASSAY_EUNSUPP,
                              "feature level above what this member speaks");
    self->level = level ? level : self->leader ? 1 : 0;
    self->on_event = ev;
    return rc;
}
