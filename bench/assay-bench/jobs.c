/* bench/assay-bench/jobs.c - the JobSpecs of run and memory: their ids
 * ("<prefix>-<spec>", jobs "<prefix>-<spec>-<k>"), bodies, submits sent
 * without waiting, their replies, and the jobs' events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "bench.h"

bool bench_parse_id(const s_bench *b, const char *id, long *spec, long *k)
{
    if (!id || strncmp(id, b->prefix, b->prefix_len) ||
        id[b->prefix_len] != '-')
        return false;
    const char *p = id + b->prefix_len + 1;
    char *end;
    errno = 0;
    long s = strtol(p, &end, 10);
    if (end == p || errno || s < 0 || s >= b->nspecs)
        return false;
    *spec = s;
    if (!k)
        return *end == '\0';
    if (*end != '-')
        return false;
    p = end + 1;
    long kk = strtol(p, &end, 10);
    if (end == p || *end || kk < 0)
        return false;
    *k = kk;
    return true;
}

long bench_spec_jobs(const s_bench *b, long spec)
{
    long left = b->o.jobs - spec * b->per_spec;
    return left < b->per_spec ? left : b->per_spec;
}

long bench_ended(const s_bench *b) { return b->completed + b->failed; }

/* n targets, each {} (the action takes its params from the JobSpec). */
static json_t *s_empty_targets(long n)
{
    json_t *t = json_array();
    for (long i = 0; t && i < n; i++)
        json_array_append_new(t, json_object());
    return t;
}

int bench_specs_init(s_bench *b, long per_spec)
{
    b->per_spec = per_spec;
    b->nspecs = (b->o.jobs + b->per_spec - 1) / b->per_spec;
    b->spec_sent_us = calloc((size_t)b->nspecs, sizeof *b->spec_sent_us);
    b->spec_acked = calloc((size_t)b->nspecs, 1);
    if (b->per_spec > 1)
        b->targets = s_empty_targets(b->per_spec);
    return b->spec_sent_us && b->spec_acked ? 0 : -1;
}

json_t *bench_spec_body(s_bench *b, const char *id, long targets)
{
    json_t *s = json_pack("{s:s, s:s}", "id", id, "action", b->o.action);
    if (!s)
        return NULL;
    if (b->params)
        json_object_set(s, "params", b->params);
    if (targets > 1) {
        if (b->targets && (long)json_array_size(b->targets) == targets)
            json_object_set(s, "targets", b->targets);
        else
            json_object_set_new(s, "targets", s_empty_targets(targets));
    }
    return s;
}

/* Sent without waiting: its reply comes to bench_on_submit_reply. */
int bench_submit(s_bench *b, const char *id, long targets)
{
    json_t *spec = bench_spec_body(b, id, targets);
    int rc = spec ? assay_client_send(b->cl, ASSAY_SVC_SUBMIT, spec, NULL)
                  : ASSAY_ENOMEM;
    b->cl_dirty = true;
    json_decref(spec);
    return rc;
}

void bench_mark_done(s_bench *b, long spec, long k, const char *state,
                     const json_t *job, int64_t now, bool from_event)
{
    long j = spec * b->per_spec + k;
    if (k >= bench_spec_jobs(b, spec))
        return;
    if (b->done[j]) {
        b->dup_events += from_event;
        return;
    }
    b->done[j] = 1;
    if (!strcmp(state, "completed")) {
        b->completed++;
        const char *st = json_string_value(
            json_object_get(json_object_get(job, "result"), "status"));
        b->passed += st && !strcmp(st, "pass");
    } else {
        b->failed++;
        bench_error(b, "job %s-%ld-%ld %s: %s", b->prefix, spec, k, state,
                    json_string_value(json_object_get(job, "reason")));
    }
    if (!from_event) {
        b->reconciled++;
        return;
    }
    b->last_event_us = now;
    if (b->lat_us)
        b->lat_us[j] = b->o.rate > 0
                           ? now - (b->t0_us + (int64_t)((double)spec * 1e6 /
                                                          b->o.rate))
                           : now - b->spec_sent_us[spec];
}

static bool s_is_warm(const s_bench *b, const char *spec)
{
    return spec && !strncmp(spec, b->prefix, b->prefix_len) &&
           !strncmp(spec + b->prefix_len, "-warm", 5);
}

void bench_on_event(s_bench *b, const char *topic, const json_t *body,
                    int64_t now)
{
    if (!strcmp(topic, ASSAY_EV_RUNTIME_DEAD)) {
        const char *id = json_string_value(json_object_get(body, "id"));
        if (id && b->rt_prefix[0] &&
            !strncmp(id, b->rt_prefix, strlen(b->rt_prefix)))
            b->dead_events++;
        return;
    }
    const char *spec = json_string_value(json_object_get(body, "spec"));
    if (s_is_warm(b, spec)) {
        b->warm = true;
        return;
    }
    long si, k;
    if (!b->done ||
        !bench_parse_id(b, json_string_value(json_object_get(body, "id")),
                        &si, &k))
        return;
    const char *state = !strcmp(topic, ASSAY_EV_JOB_COMPLETED) ? "completed"
                        : !strcmp(topic, ASSAY_EV_JOB_FAILED)  ? "failed"
                                                        : "cancelled";
    bench_mark_done(b, si, k, state, body, now, true);
}

/* The reply to a bench_submit: `body` NULL when the client gave up on it
 * (status says why). */
void bench_on_submit_reply(s_bench *b, int status, const json_t *body)
{
    assay_cp_reply r;
    assay_cp_read_reply(body, &r);
    const char *spec = r.spec;
    bool ok = r.ok;
    long i;
    if (!b->spec_acked)
        return; /* failover's submits are calls: a late one's reply */
    if (!b->measuring) {
        /* Only warm-up submits are out: a refusal ends the run (one not
         * answered is sent again under a new id anyway). */
        if (body && !ok && !b->fatal[0])
            bench_fmt(b->fatal, sizeof b->fatal,
                      "warm-up submit refused: %s (%s)", r.message, r.error);
        return;
    }
    if (s_is_warm(b, spec))
        return;
    if (spec && bench_parse_id(b, spec, &i, NULL)) {
        b->replied++;
        if (ok && !b->spec_acked[i]) {
            b->spec_acked[i] = 1;
            b->acked_specs++;
            b->submitted += bench_spec_jobs(b, i);
        }
    } else if (!ok) {
        b->replied++; /* an error names no spec: the oldest submit's */
    }
    if (!ok) {
        b->submit_errors++;
        if (body)
            bench_error(b, "submit refused: %s (%s)", r.message, r.error);
        else
            bench_error(b, "submit: no answer (%s)",
                        assay_client_strerror(status));
    }
}

void bench_submit_spec(s_bench *b, long i)
{
    char id[96];
    snprintf(id, sizeof id, "%s-%ld", b->prefix, i);
    int rc;
    if (b->o.mix) {
        char action[32];
        json_t *spec = bench_spec_body(b, id, bench_spec_jobs(b, i));
        json_object_set_new(spec, "action",
                            json_string(bench_mix_action(i, action,
                                                         sizeof action)));
        rc = assay_client_send(b->cl, ASSAY_SVC_SUBMIT, spec, NULL);
        b->cl_dirty = true;
        json_decref(spec);
    } else {
        rc = bench_submit(b, id, bench_spec_jobs(b, i));
    }
    int64_t now = assay_now_us();
    if (rc) {
        b->submit_errors++;
        b->replied++;
        bench_error(b, "submit %s: %s", id, assay_strerror(rc));
    }
    b->spec_sent_us[i] = now;
    b->last_send_us = now;
    b->sent++;
}
