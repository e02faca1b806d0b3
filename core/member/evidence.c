/* core/member/evidence.c - a job as evidence (docs/evidence.md): the
 * record `assay.jobs` returns with view "evidence", which `assayctl
 * export` turns into OSCAL, JSON or JUnit and `assayctl drift` reads.
 * Built from the replicated records alone, so every member gives the
 * same record, and the same id, for the same job. */
#include "member/internal.h"

#include <time.h>

#include "base/uuid.h"

/* ms since the epoch as RFC 3339 UTC with milliseconds (OSCAL's
 * date-time), or JSON null for 0 (unknown). */
static json_t *s_time(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char text[40];
    if (!gmtime_r(&t, &tm))
        return json_null();
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%03dZ", (int)(ms % 1000));
    return json_string(text);
}

/* A schedule run's fire time from its JobSpec's id (SCHEDULE.YYYYMMDD
 * THHMMSSZ, or a trigger's SCHEDULE.tYYYYMMDDTHHMMSS.mmmZ): RFC 3339, or
 * JSON null. */
static json_t *s_fire_time(const assay_spec_rec *s)
{
    size_t n = strlen(s->schedule);
    if (!n || strncmp(s->id, s->schedule, n) || s->id[n] != '.')
        return json_null();
    const char *p = s->id + n + 1;
    if (*p == 't')
        p++;
    int y, mo, d, h, mi, sec, ms = 0, used = 0;
    if (sscanf(p, "%4d%2d%2dT%2d%2d%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &used) != 6)
        return json_null();
    if (p[used] == '.')
        sscanf(p + used + 1, "%3d", &ms);
    char text[40];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo,
             d, h, mi, sec, ms);
    return json_string(text);
}

/* The value packed at bytes as JSON (new), or `dflt` (taken). */
static json_t *s_packed(const unsigned char *bytes, size_t len, json_t *dflt)
{
    json_t *v = NULL;
    if (!bytes || assay_codec_decode(bytes, len, &v, NULL, 0))
        return dflt;
    json_decref(dflt);
    return v;
}

/* The controls that apply to job `index` of JobSpec s: those without
 * targets, and those listing it ({catalog, id}). */
static json_t *s_controls(const assay_spec_rec *s, size_t index)
{
    json_t *all = s_packed(s->controls, s->controls_len, json_array()),
           *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(all, i, c) {
        const json_t *targets = json_object_get(c, "targets");
        bool applies = !targets;
        size_t k;
        json_t *t;
        json_array_foreach(targets, k, t)
            applies = applies || json_integer_value(t) == (json_int_t)index;
        if (applies)
            json_array_append_new(
                out, json_pack("{s:O, s:O}", "catalog",
                               json_object_get(c, "catalog"), "id",
                               json_object_get(c, "id")));
    }
    json_decref(all);
    return out;
}

/* The job's index in its JobSpec: its id is SPEC-INDEX. */
static size_t s_index(const assay_job *j)
{
    const char *dash = strrchr(j->id, '-');
    return dash ? (size_t)strtoull(dash + 1, NULL, 10) : 0;
}

/* The evidence id (UUIDv5): the job (its JobSpec, which for a schedule's
 * run names the schedule and the fire time, and its target) and the host
 * it ran on. */
static void s_uuid(const assay_job *j, char out[37])
{
    const assay_host *h = j->end ? j->end->host : NULL;
    const char *who = h && *h->machine_id ? h->machine_id : j->runtime;
    char name[ASSAY_JOB_ID_MAX + 300];
    snprintf(name, sizeof name, "assay/evidence/1/%s/%s", j->id, who);
    if (assay_uuid5_text(ASSAY_UUID_NS, name, out))
        out[0] = '\0';
}

json_t *mb_evidence_record(const assay_job *j)
{
    const assay_spec_rec *s = j->spec;
    const assay_end *e = j->end;
    char uuid[ASSAY_UUID_TEXT_SIZE];
    s_uuid(j, uuid);
    json_t *result = s_packed(j->result, j->result_len, json_null());
    json_t *r = json_object();
    json_object_set_new(r, "uuid", json_string(uuid));
    json_object_set_new(r, "job", json_string(j->id));
    json_object_set_new(r, "spec", json_string(s->id));
    json_object_set_new(r, "index", json_integer((json_int_t)s_index(j)));
    json_object_set_new(r, "schedule", *s->schedule
                                           ? json_string(s->schedule)
                                           : json_null());
    json_object_set_new(r, "fire_time", s_fire_time(s));
    json_object_set_new(r, "series",
                        *s->series ? json_string(s->series)
                        : *s->schedule ? json_string(s->schedule)
                                       : json_null());
    json_object_set_new(r, "action", json_string(s->action));
    json_object_set_new(r, "title",
                        s->title ? json_string(s->title) : json_null());
    json_object_set_new(r, "description", s->description
                                              ? json_string(s->description)
                                              : json_null());
    json_object_set(r, "labels", s->labels);
    json_object_set_new(r, "controls", s_controls(s, s_index(j)));
    json_object_set_new(r, "target",
                        s_packed(j->params, j->params_len, json_object()));
    json_object_set_new(r, "state",
                        json_string(assay_job_state_name(j->state)));
    const json_t *status = json_object_get(result, "status");
    json_object_set_new(r, "status", json_is_string(status)
                                         ? json_incref((json_t *)status)
                                         : json_null());
    const json_t *msg = json_object_get(result, "message");
    json_object_set_new(r, "message", json_is_string(msg)
                                          ? json_incref((json_t *)msg)
                                          : json_null());
    json_object_set_new(r, "reason", j->reason ? json_string(j->reason)
                                               : json_null());
    const json_t *findings = json_object_get(result, "findings");
    json_object_set_new(r, "findings", json_is_array(findings)
                                           ? json_incref((json_t *)findings)
                                           : json_array());
    json_object_set_new(r, "submitted", s_time(s->submitted_ms));
    /* When the action ran, by the runtime's clock; else the leader's
     * dispatch and end of the last attempt. */
    const assay_attempt *a =
        j->n_attempts ? &j->attempts[j->n_attempts - 1] : NULL;
    json_int_t t0 = json_integer_value(json_object_get(result, "started_ms")),
               t1 = json_integer_value(json_object_get(result, "ended_ms"));
    json_object_set_new(r, "started", s_time(t0 > 0 ? t0
                                             : a    ? a->start_ms
                                                    : 0));
    json_object_set_new(r, "ended", s_time(t1 > 0 ? t1 : j->ended_ms));
    json_object_set_new(r, "expires",
                        s->retain_ms && j->ended_ms
                            ? s_time(j->ended_ms + s->retain_ms)
                            : json_null());
    json_object_set_new(r, "attempt", json_integer(j->attempt));
    json_object_set_new(r, "runtime", *j->runtime ? json_string(j->runtime)
                                                  : json_null());
    const assay_host *h = e ? e->host : NULL;
    json_object_set_new(
        r, "host",
        h ? json_pack("{s:s, s:s, s:s, s:s}", "hostname", h->hostname, "os",
                      h->os, "kernel", h->kernel, "machine_id",
                      h->machine_id)
          : json_null());
    const char *dot = strchr(s->action, '.');
    json_object_set_new(
        r, "plugin",
        *j->version ? json_pack("{s:s%, s:s, s:s?}", "name", s->action,
                                dot ? (size_t)(dot - s->action)
                                    : strlen(s->action),
                                "version", j->version, "sha256",
                                e && *e->sha256 ? e->sha256 : NULL)
                    : json_null());
    json_object_set_new(r, "submitted_by",
                        s->by_name ? json_pack("{s:s, s:s}", "name",
                                               s->by_name, "role", s->by_role)
                                   : json_null());
    if (e && e->change) {
        const char *prev = assay_status_name(e->previous);
        json_object_set_new(
            r, "drift",
            json_pack("{s:s?, s:s, s:o}", "previous", prev, "change",
                      assay_drift_name(e->change), "changed",
                      s_packed(e->changed, e->changed_len, json_array())));
    } else {
        json_object_set_new(r, "drift", json_null());
    }
    json_object_set_new(r, "position", e ? json_integer((json_int_t)e->pos)
                                         : json_null());
    json_decref(result);
    return r;
}
