/* client/calls.c - the requests a control plane makes: any service
 * (assay_client_send, assay_client_call) and the typed ones, submit, job,
 * jobs, cancel and wait (docs/client.md). */
#include "client/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/errtext.h"
#include "proto/cpmsg.h"

/* What the member bounds a service name to (docs/protocol.md). */
#define SERVICE_MAX 63
/* assay_client_wait asks again after this long, doubling to the most. */
#define WAIT_FIRST_MS 10
#define WAIT_MOST_MS 250

/* The JobSpec to send: `spec` itself, or a copy given a random id (a
 * retried request must not submit twice). *id names it. */
static int s_with_id(assay_client *self, const json_t *spec, json_t **out,
                     const char **id)
{
    if (!json_is_object(spec))
        return cl_fail(self, ASSAY_EINVAL,
                       "assay.submit: the JobSpec must be a JSON object");
    const json_t *given = json_object_get(spec, "id");
    if (given) {
        *id = json_string_value(given);
        if (!*id || strlen(*id) >= CL_SPEC_MAX)
            return cl_fail(self, ASSAY_EINVAL, "assay.submit: id must be a "
                           "string of 1 to %d characters", CL_SPEC_MAX - 1);
        *out = json_incref((json_t *)spec);
        return 0;
    }
    unsigned char rnd[12];
    char hex[sizeof rnd * 2 + 1];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return cl_fail(self, ASSAY_EIO, "getrandom: %m");
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    *out = json_copy((json_t *)spec);
    if (!*out || json_object_set_new(*out, "id", json_string(hex))) {
        json_decref(*out);
        return cl_fail(self, ASSAY_ENOMEM, "out of memory");
    }
    *id = json_string_value(json_object_get(*out, "id"));
    return 0;
}

int assay_client_send(assay_client *self, const char *service,
                      const json_t *body, uint64_t *ticket)
{
    if (!self)
        return ASSAY_EINVAL;
    cl_release(self);
    if (!service || !*service || strlen(service) > SERVICE_MAX)
        return cl_fail(self, ASSAY_EINVAL,
                       "service: a name of 1 to %d bytes", SERVICE_MAX);
    if (body && !json_is_object(body))
        return cl_fail(self, ASSAY_EINVAL, "%s: the body must be a JSON "
                       "object", service);
    json_t *sent = NULL;
    const char *spec = NULL;
    int rc = 0;
    if (!strcmp(service, ASSAY_SVC_SUBMIT))
        rc = s_with_id(self, body, &sent, &spec);
    else
        sent = body ? json_incref((json_t *)body) : json_object();
    if (rc)
        return rc;
    char *buf = NULL;
    size_t len = 0;
    rc = sent ? assay_codec_encode(sent, &buf, &len) : ASSAY_ENOMEM;
    if (rc) {
        json_decref(sent);
        return cl_fail(self, rc, "%s: the body cannot be encoded: %s",
                       service, assay_strerror(rc));
    }
    /* spec points into `sent`: copied by cl_send_encoded before the drop. */
    rc = cl_send_encoded(self, service, spec, buf, len, ticket);
    json_decref(sent);
    return rc;
}

int assay_client_call(assay_client *self, const char *service,
                      const json_t *body, json_t **reply)
{
    if (reply)
        *reply = NULL;
    uint64_t ticket;
    int rc = assay_client_send(self, service, body, &ticket);
    return rc ? rc : assay_client_await(self, ticket, reply);
}

int assay_client_await(assay_client *self, uint64_t ticket, json_t **reply)
{
    if (reply)
        *reply = NULL;
    json_t *r = NULL;
    char service[64] = "";
    int rc = cl_await(self, ticket, &r, service, sizeof service);
    if (rc && r) {
        assay_cp_reply why;
        assay_cp_read_reply(r, &why);
        cl_fail(self, rc, "%s: %s (%s)", service, why.message, why.error);
    } else if (rc == ASSAY_ECANCELLED) {
        cl_fail(self, rc, "%s: interrupted", service);
    } else if (rc) {
        char list[CL_MAX_ENDPOINTS * CL_ENDPOINT_MAX];
        cl_endpoints(self, list, sizeof list);
        cl_fail(self, rc, "%s: no answer from %s: %s", service, list,
                assay_strerror(rc));
    }
    if (reply)
        *reply = r;
    else
        json_decref(r);
    return rc;
}

int assay_client_submit(assay_client *self, const json_t *jobspec,
                        json_t **reply)
{
    return assay_client_call(self, ASSAY_SVC_SUBMIT, jobspec, reply);
}

int assay_client_job(assay_client *self, const char *id, json_t **reply)
{
    if (reply)
        *reply = NULL;
    if (!self)
        return ASSAY_EINVAL;
    json_t *body = assay_cp_pack_job(id);
    if (!body)
        return cl_fail(self, ASSAY_EINVAL, "assay.job: the id %s",
                       id ? "is not UTF-8" : "is missing");
    int rc = assay_client_call(self, ASSAY_SVC_JOB, body, reply);
    json_decref(body);
    return rc;
}

int assay_client_jobs(assay_client *self, const json_t *filter,
                      json_t **reply)
{
    return assay_client_call(self, ASSAY_SVC_JOBS, filter, reply);
}

/* {ids: [...]}, or NULL (error set, naming `what`) when an id is bad. */
static json_t *s_ids(assay_client *self, const char *what,
                     const char *const *ids, size_t n)
{
    char err[ASSAY_ERRMSG_SIZE];
    json_t *body = assay_cp_pack_cancel(ids, n, err, sizeof err);
    if (!body)
        cl_fail(self, ASSAY_EINVAL, "%s: %s", what, err);
    return body;
}

int assay_client_cancel(assay_client *self, const char *const *ids, size_t n,
                        json_t **reply)
{
    if (reply)
        *reply = NULL;
    if (!self)
        return ASSAY_EINVAL;
    json_t *body = s_ids(self, ASSAY_SVC_CANCEL, ids, n);
    if (!body)
        return ASSAY_EINVAL;
    int rc = assay_client_call(self, ASSAY_SVC_CANCEL, body, reply);
    json_decref(body);
    return rc;
}

static bool s_ended(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "state"));
    return s && (!strcmp(s, "completed") || !strcmp(s, "failed") ||
                 !strcmp(s, "cancelled"));
}

/* One look at every id: their jobs appended to `jobs`; *done when all
 * have ended. */
static int s_look(assay_client *self, const char *const *ids, size_t n,
                  json_t *jobs, bool *done)
{
    *done = true;
    for (size_t i = 0; i < n; i++) {
        json_t *r;
        int rc = assay_client_job(self, ids[i], &r);
        if (rc) {
            json_decref(r);
            return rc;
        }
        json_t *one = json_object_get(r, "job");
        json_t *many = json_object_get(r, "jobs");
        size_t k;
        json_t *j;
        if (one) {
            json_array_append(jobs, one);
            *done = *done && s_ended(one);
        }
        json_array_foreach(many, k, j) {
            json_array_append(jobs, j);
            *done = *done && s_ended(j);
        }
        json_decref(r);
    }
    return 0;
}

int assay_client_wait(assay_client *self, const char *const *ids, size_t n,
                      int64_t timeout_ms, json_t **jobs)
{
    return assay_client_wait_progress(self, ids, n, timeout_ms, jobs, NULL,
                                      NULL);
}

int assay_client_wait_progress(assay_client *self, const char *const *ids,
                               size_t n, int64_t timeout_ms, json_t **jobs,
                               assay_client_progress_fn fn, void *arg)
{
    if (jobs)
        *jobs = NULL;
    if (!self)
        return ASSAY_EINVAL;
    json_t *check = s_ids(self, "wait", ids, n);
    if (!check)
        return ASSAY_EINVAL;
    json_decref(check);
    int64_t deadline = timeout_ms > 0 ? assay_now_ms() + timeout_ms
                                      : INT64_MAX;
    for (int64_t pause = WAIT_FIRST_MS;;) {
        json_t *seen = json_array();
        bool done = false;
        int rc = seen ? s_look(self, ids, n, seen, &done) : ASSAY_ENOMEM;
        if (!rc && fn)
            fn(arg, seen);
        if (!rc && !done && assay_now_ms() >= deadline)
            rc = cl_fail(self, ASSAY_ETIMEOUT, "wait: jobs still queued or "
                         "running after %lld ms", (long long)timeout_ms);
        if (rc || done) {
            if (jobs && (!rc || rc == ASSAY_ETIMEOUT))
                *jobs = seen;
            else
                json_decref(seen);
            return rc;
        }
        json_decref(seen);
        int64_t left = deadline - assay_now_ms();
        rc = cl_sleep(self, pause < left ? pause : left);
        if (rc)
            return rc;
        pause = pause * 2 > WAIT_MOST_MS ? WAIT_MOST_MS : pause * 2;
    }
}
