/* core/member/services.c - the control-plane services a member answers:
 * assay.submit, .job, .runtimes, .plugins and .rescan (docs/protocol.md);
 * job queries and changes are jobs.c's. */
#include "member/internal.h"

#include "base/ident.h"

static void s_submitted(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_bytes route = mb_route(p);
    json_t *res = result;
    if (status) {
        json_t *r = assay_cp_error(status, "not committed: %s",
                             assay_strerror(status));
        json_object_set(r, "spec", p->data);
        mb_reply(p->leader, &route, p->verb, r);
    } else
        mb_reply(p->leader, &route, p->verb, assay_cp_ok(json_incref(res)));
    json_decref(res);
    mb_pending_free(p);
}

/* A refusal of a submission names its JobSpec when the id is sound, so
 * that a client with several in flight knows which one failed. */
static void s_refuse(assay_leader *self, const assay_bytes *route,
                     const char *verb, const json_t *body, int rc,
                     const char *err)
{
    json_t *r = assay_cp_error(rc, "%s", err);
    const char *id = mb_str(body, "id");
    if (id && assay_ident_valid(id, ASSAY_ID_MAX))
        json_object_set_new(r, "spec", json_string(id));
    mb_reply(self, route, verb, r);
}

int mb_spec_build(assay_leader *self, const assay_jobspec *spec,
                  const char **resolved, assay_cmd_list **jobs, char *err,
                  size_t errlen)
{
    *jobs = NULL;
    /* Members of the releases before would neither keep nor honour
     * them. */
    const struct {
        const char *field;
        bool given;
        int64_t level;
    } gated[] = {
        {"resources.cpus", spec->cpu_milli > 0, ASSAY_LEVEL_PLANNER},
        {"placement \"pack\"", spec->pack, ASSAY_LEVEL_PLANNER},
        {"title", spec->title, ASSAY_LEVEL_EVIDENCE},
        {"description", spec->description, ASSAY_LEVEL_EVIDENCE},
        {"series", *spec->series, ASSAY_LEVEL_EVIDENCE},
        {"controls", spec->controls, ASSAY_LEVEL_EVIDENCE},
    };
    int64_t at = assay_state_level(self->state);
    for (size_t i = 0; i < sizeof gated / sizeof *gated; i++)
        if (gated[i].given && at < gated[i].level)
            return assay_errf(err, errlen, ASSAY_EUNSUPP,
                              "%s needs feature level %lld (the cluster is "
                              "at %lld): `assayctl cluster upgrade` once "
                              "every member runs this release",
                              gated[i].field, (long long)gated[i].level,
                              (long long)at);
    const json_t *decl_json = NULL;
    assay_param *decl = NULL;
    json_t *norms = NULL;
    /* The version is fixed here, cluster-wide: the params were checked
     * against its declaration, so only runtimes with it may run them. The
     * check is the local runner's, so a refusal names the same place. */
    int rc = mb_resolve_cached(self, spec, &decl_json, resolved, err, errlen);
    if (!rc)
        rc = assay_params_from_json(decl_json, &decl, err, errlen);
    if (!rc)
        rc = assay_jobspec_check_params(spec, decl, &norms, err, errlen);
    free(decl);
    if (rc)
        return rc;
    *jobs = assay_cmd_list_new();
    json_t *norm;
    size_t i;
    json_array_foreach(norms, i, norm) {
        char id[ASSAY_ID_MAX + 32];
        assay_jobspec_job_id(spec, i, id, sizeof id);
        if (*jobs && assay_cmd_list_job(*jobs, id, norm) != 0)
            assay_cmd_list_destroy(jobs);
    }
    json_decref(norms);
    return *jobs ? 0 : ASSAY_ENOMEM;
}

assay_cmd_spec mb_spec_fields(const assay_leader *self,
                              const assay_jobspec *spec, const char *resolved)
{
    return (assay_cmd_spec){
        .id = spec->id,
        .action = spec->action,
        .version = spec->version,
        .resolved = resolved,
        .labels = spec->labels,
        .selector = spec->selector,
        .timeout_ms = spec->timeout_ms ? spec->timeout_ms
                                       : self->conf->default_timeout_ms,
        .max_attempts = spec->max_attempts ? spec->max_attempts
                                           : self->conf->max_attempts,
        .priority = spec->priority,
        .memory_mb = spec->memory_mb,
        .cpu_milli = spec->cpu_milli,
        .pack = spec->pack,
        .retain_seconds = spec->retain_seconds,
        .by_name = mb_attribution(self),
        .by_role = self->asker_role,
        .submitted_ms =
            assay_state_level(self->state) >= ASSAY_LEVEL_SCHEDULES
                ? assay_wall_ms()
                : 0,
        .title = spec->title,
        .description = spec->description,
        .series = spec->series,
        .controls = spec->controls};
}

void mb_svc_submit(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    assay_jobspec *spec;
    int rc = assay_jobspec_parse(body, &spec, err, sizeof err);
    if (rc) {
        s_refuse(self, route, verb, body, rc, err);
        return;
    }
    assay_spec_rec *old = assay_state_spec(self->state, spec->id);
    if (old) { /* a retried submission: answer with the original ids */
        mb_reply(self, route, verb,
                 assay_cp_ok(json_pack("{s:s, s:o, s:b}", "spec", old->id, "jobs",
                                 assay_spec_job_ids(old), "duplicate", 1)));
        assay_jobspec_destroy(&spec);
        return;
    }
    const char *resolved = NULL;
    assay_cmd_list *jobs = NULL;
    rc = mb_spec_build(self, spec, &resolved, &jobs, err, sizeof err);
    if (rc) {
        s_refuse(self, route, verb, body, rc, err);
        assay_jobspec_destroy(&spec);
        return;
    }
    assay_cmd_spec fields = mb_spec_fields(self, spec, resolved);
    assay_cmd *cmd = assay_cmd_submit(&fields, &jobs);
    s_pending *p = mb_pending_new(self, route, verb, json_string(spec->id));
    assay_jobspec_destroy(&spec);
    rc = p ? mb_commit(self, cmd, s_submitted, p) : ASSAY_ENOMEM;
    if (rc) {
        snprintf(err, sizeof err, "cannot commit: %s", assay_strerror(rc));
        s_refuse(self, route, verb, body, rc, err);
        if (p)
            mb_pending_free(p);
    }
}

void mb_svc_job(assay_leader *self, const assay_bytes *route, const char *verb,
                const json_t *body)
{
    const char *id = assay_cp_read_job(body);
    assay_job *j = assay_state_job(self->state, id);
    assay_spec_rec *s = assay_state_spec(self->state, id);
    if (j) {
        mb_reply(self, route, verb,
                 assay_cp_ok(json_pack(
                     "{s:o}", "job",
                     assay_job_json(j, ASSAY_JOB_RESULT | ASSAY_JOB_HISTORY))));
    } else if (s) {
        json_t *jobs = json_array();
        for (const assay_job *sj = assay_spec_jobs(s); sj;
             sj = assay_spec_next(sj))
            json_array_append_new(
                jobs, assay_job_json(sj, ASSAY_JOB_RESULT | ASSAY_JOB_HISTORY));
        mb_reply(self, route, verb,
                 assay_cp_ok(json_pack("{s:o, s:o}", "spec", assay_spec_json(s),
                                 "jobs", jobs)));
    } else {
        mb_reply(self, route, verb,
                 assay_cp_error(ASSAY_ENOENT, "no job or JobSpec '%.96s'",
                          id ? id : "(id missing)"));
    }
}

bool mb_labels_match(const json_t *want, const json_t *have)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
        const char *h = mb_str(have, k);
        if (!h || !json_is_string(v) || strcmp(h, json_string_value(v)))
            return false;
    }
    return true;
}

json_t *mb_runtimes_json(assay_leader *self)
{
    json_t *list = json_array();
    int64_t now = assay_now_ms();
    assay_runtime_rec *r;
    for (size_t i = 0; (r = assay_state_runtime_at(self->state, i)); i++) {
        s_rt *live = assay_index_get(self->rts, r->id);
        json_t *o = json_pack(
            "{s:s, s:b, s:I, s:O, s:O}", "id", r->id, "alive", r->alive,
            "heartbeat_ms", (json_int_t)r->heartbeat_ms, "labels",
            json_object_get(r->info, "labels"), "capacity",
            json_object_get(r->info, "capacity"));
        size_t running;
        assay_state_running_on(self->state, r->id, &running);
        json_object_set_new(o, "running", json_integer((json_int_t)running));
        if (live) {
            json_object_set_new(o, "last_seen_ms_ago",
                                json_integer(now - live->last_seen_ms));
            json_object_set_new(
                o, "credit",
                json_integer(live->limit > live->sent
                                 ? (json_int_t)(live->limit - live->sent)
                                 : 0));
            json_object_set_new(o, "why", json_string(live->why));
        }
        json_array_append_new(list, o);
    }
    return json_pack("{s:o, s:I}", "runtimes", list, "refused_registrations",
                     (json_int_t)self->refused);
}

void mb_svc_runtimes(assay_leader *self, const assay_bytes *route,
                     const char *verb, const json_t *body)
{
    (void)body;
    mb_reply(self, route, verb, assay_cp_ok(mb_runtimes_json(self)));
}

void mb_svc_plugins(assay_leader *self, const assay_bytes *route,
                    const char *verb, const json_t *body)
{
    (void)body;
    json_t *list = json_array();
    assay_runtime_rec *r;
    for (size_t i = 0; (r = assay_state_runtime_at(self->state, i)); i++) {
        json_array_append_new(
            list, json_pack("{s:s, s:b, s:O}", "runtime", r->id, "alive",
                            r->alive, "catalog",
                            json_object_get(r->info, "catalog")));
    }
    /* How long each action's jobs take, as learned from their results. */
    json_t *durations = json_object();
    const assay_estimate **v = NULL;
    size_t n = 0;
    if (assay_state_estimates(self->state, &v, &n) == 0)
        for (size_t k = 0; k < n; k++)
            json_object_set_new(
                durations, v[k]->action,
                json_pack("{s:I, s:f, s:f, s:I}", "results", (json_int_t)v[k]->n,
                          "mean_ms", (double)v[k]->mean_us / 1000, "p90_ms",
                          (double)v[k]->p90_us / 1000, "last_ms",
                          (json_int_t)v[k]->at));
    free(v);
    mb_reply(self, route, verb,
             assay_cp_ok(json_pack("{s:o, s:o}", "runtimes", list,
                                   "durations", durations)));
}

/* Asks every connected runtime to rescan its plugins directory; the
 * answers arrive as catalogue updates. */
void mb_svc_rescan(assay_leader *self, const assay_bytes *route,
                   const char *verb, const json_t *body)
{
    (void)body;
    json_t *asked = json_array(), *empty = json_object();
    assay_runtime_rec *rec;
    for (size_t i = 0; (rec = assay_state_runtime_at(self->state, i)); i++) {
        s_rt *r = assay_index_get(self->rts, rec->id);
        if (r && rec->alive) {
            mb_send_rt(self, r, ASSAY_RT_RESCAN, empty);
            json_array_append_new(asked, json_string(rec->id));
        }
    }
    json_decref(empty);
    mb_reply(self, route, verb, assay_cp_ok(json_pack("{s:o}", "runtimes", asked)));
}
