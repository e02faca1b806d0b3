/* core/proto/cpmsg.c - the control plane's messages: see cpmsg.h. */
#include "proto/cpmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/errtext.h"
#include "base/ident.h"

static const char *s_str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

json_t *assay_cp_ok(json_t *body)
{
    json_object_set_new(body, "ok", json_true());
    return body;
}

json_t *assay_cp_error(int code, const char *fmt, ...)
{
    char msg[ASSAY_ERRMSG_SIZE * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:b, s:s, s:i, s:s}", "ok", 0, "error",
                     assay_err_name(code), "code", code, "message", msg);
}

void assay_cp_read_reply(const json_t *body, assay_cp_reply *out)
{
    memset(out, 0, sizeof *out);
    out->ok = json_is_true(json_object_get(body, "ok"));
    out->error = out->message = "";
    out->spec = s_str(body, "spec");
    if (out->ok)
        return;
    const json_t *code = json_object_get(body, "code");
    out->code = json_is_integer(code) && json_integer_value(code) < 0 &&
                        json_integer_value(code) > -1000
                    ? (int)json_integer_value(code)
                    : ASSAY_EPROTO;
    /* The member's name for its code: a newer member's code may be one
     * this side's table lacks. */
    const char *name = s_str(body, "error");
    out->error = name && *name ? name : assay_err_name(out->code);
    out->message = s_str(body, "message") ? s_str(body, "message") : "";
    if (out->code == ASSAY_ENOTLEADER) {
        out->leader = s_str(body, "leader");
        out->events = s_str(body, "events");
    }
}

json_t *assay_cp_pack_job(const char *id)
{
    return id ? json_pack("{s:s}", "id", id) : NULL;
}

const char *assay_cp_read_job(const json_t *body)
{
    return s_str(body, "id");
}

/* The string at k, or NULL; false when k is there but is no string. */
static bool s_opt_str(const json_t *o, const char *k, const char **out)
{
    const json_t *v = json_object_get(o, k);
    *out = json_string_value(v);
    return !v || *out;
}

static const char *const s_jobs_ops[] = {"list", "cancel", "restart"};

const char *assay_cp_jobs_op_name(int op)
{
    return op >= 0 && (size_t)op < sizeof s_jobs_ops / sizeof *s_jobs_ops
               ? s_jobs_ops[op]
               : NULL;
}

json_t *assay_cp_pack_jobs(const assay_cp_jobs *req)
{
    json_t *o = json_object();
    const struct {
        const char *k, *v;
    } strs[] = {{"state", req->state},       {"spec", req->spec},
                {"schedule", req->schedule}, {"action", req->action},
                {"runtime", req->runtime},   {"after", req->after}};
    for (size_t i = 0; o && i < sizeof strs / sizeof *strs; i++)
        if (strs[i].v)
            json_object_set_new(o, strs[i].k, json_string(strs[i].v));
    if (o && req->op)
        json_object_set_new(o, "op",
                            json_string(assay_cp_jobs_op_name(req->op)));
    if (o && req->labels)
        json_object_set(o, "labels", (json_t *)req->labels);
    if (o && req->since_ms)
        json_object_set_new(o, "since_ms", json_integer(req->since_ms));
    if (o && req->until_ms)
        json_object_set_new(o, "until_ms", json_integer(req->until_ms));
    if (o && req->limit)
        json_object_set_new(o, "limit", json_integer(req->limit));
    if (o && req->dry_run)
        json_object_set_new(o, "dry_run", json_true());
    if (o && req->evidence)
        json_object_set_new(o, "view", json_string("evidence"));
    return o;
}

int assay_cp_read_jobs(const json_t *body, assay_cp_jobs *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *op = NULL;
    if (!s_opt_str(body, "state", &out->state) |
        !s_opt_str(body, "spec", &out->spec) |
        !s_opt_str(body, "schedule", &out->schedule) |
        !s_opt_str(body, "action", &out->action) |
        !s_opt_str(body, "runtime", &out->runtime) |
        !s_opt_str(body, "after", &out->after) |
        !s_opt_str(body, "op", &op))
        return assay_errf(err, errlen, ASSAY_ETYPE,
                          "op, state, spec, schedule, action, runtime and "
                          "after must be strings");
    size_t i = 0, n = sizeof s_jobs_ops / sizeof *s_jobs_ops;
    while (op && i < n && strcmp(op, s_jobs_ops[i]))
        i++;
    if (i == n)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "op: list, cancel or restart, not '%.32s'", op);
    out->op = op ? (assay_cp_jobs_op)i : ASSAY_CP_JOBS_LIST;
    out->labels = json_object_get(body, "labels");
    if (out->labels && !json_is_object(out->labels))
        return assay_errf(err, errlen, ASSAY_ETYPE,
                          "labels: expected object of strings");
    const json_t *since = json_object_get(body, "since_ms"),
                 *until = json_object_get(body, "until_ms");
    if ((since && (!json_is_integer(since) || json_integer_value(since) < 0)) ||
        (until && (!json_is_integer(until) || json_integer_value(until) < 0)))
        return assay_errf(err, errlen, ASSAY_ETYPE,
                          "since_ms and until_ms: ms since the epoch");
    out->since_ms = json_integer_value(since);
    out->until_ms = json_integer_value(until);
    if (out->until_ms && out->until_ms < out->since_ms)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "until_ms: before since_ms");
    out->limit = json_integer_value(json_object_get(body, "limit"));
    out->dry_run = json_is_true(json_object_get(body, "dry_run"));
    const json_t *view = json_object_get(body, "view");
    if (view && (!json_is_string(view) ||
                 (strcmp(json_string_value(view), "job") &&
                  strcmp(json_string_value(view), "evidence"))))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "view: \"job\" (the default) or \"evidence\"");
    out->evidence = view && !strcmp(json_string_value(view), "evidence");
    return 0;
}

json_t *assay_cp_pack_cancel(const char *const *ids, size_t n, char *err,
                             size_t errlen)
{
    if (!n || !ids || n > ASSAY_CP_MAX_IDS) {
        assay_errf(err, errlen, ASSAY_EINVAL,
                   "from 1 to %d ids are needed",
                   ASSAY_CP_MAX_IDS);
        return NULL;
    }
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *s = ids[i] ? json_string(ids[i]) : NULL;
        if (!s || json_array_append_new(a, s)) {
            json_decref(a);
            assay_errf(err, errlen, ASSAY_EINVAL, "id %zu is %s", i,
                       ids[i] ? "not UTF-8" : "NULL");
            return NULL;
        }
    }
    json_t *body = a ? json_pack("{s:o}", "ids", a) : NULL;
    if (!body)
        assay_errf(err, errlen, ASSAY_ENOMEM, "out of memory");
    return body;
}

int assay_cp_read_cancel(const json_t *body, const json_t **ids, char *err,
                         size_t errlen)
{
    *ids = json_object_get(body, "ids");
    if (!json_is_array(*ids) || json_array_size(*ids) > ASSAY_CP_MAX_IDS)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "ids: expected an array of job or JobSpec ids");
    return 0;
}

static const char *const s_ops[] = {"status",   "add",     "remove",
                                    "transfer", "upgrade", "demote"};
#define NOPS (sizeof s_ops / sizeof *s_ops)

const char *assay_cp_cluster_op_name(int op)
{
    return op >= 0 && (size_t)op < NOPS ? s_ops[op] : NULL;
}

json_t *assay_cp_pack_cluster(const assay_cp_cluster *req)
{
    const char *op = assay_cp_cluster_op_name((int)req->op);
    json_t *o = op ? json_pack("{s:s}", "op", op) : NULL;
    if (o && req->id >= 0)
        json_object_set_new(o, "id", json_integer(req->id));
    if (o && req->address)
        json_object_set_new(o, "address", json_string(req->address));
    if (o && req->level > 0)
        json_object_set_new(o, "level", json_integer(req->level));
    return o;
}

int assay_cp_read_cluster(const json_t *body, assay_cp_cluster *out,
                          char *err, size_t errlen)
{
    const char *op = s_str(body, "op") ? s_str(body, "op") : "status";
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < NOPS && strcmp(op, s_ops[i]))
        i++;
    if (i == NOPS)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "unknown cluster op '%.32s' (status, add, remove, "
                          "transfer, upgrade, demote)",
                          op);
    out->op = (assay_cp_cluster_op)i;
    const json_t *id = json_object_get(body, "id"),
                 *level = json_object_get(body, "level");
    out->id = json_is_integer(id) && json_integer_value(id) >= 0
                  ? json_integer_value(id)
                  : -1;
    out->address = s_str(body, "address");
    out->level = json_is_integer(level) && json_integer_value(level) > 0
                     ? json_integer_value(level)
                     : 0;
    return 0;
}

static const char *const s_keys_ops[] = {"list", "enroll", "revoke"};

json_t *assay_cp_pack_keys(const assay_cp_keys *req)
{
    if ((size_t)req->op >= sizeof s_keys_ops / sizeof *s_keys_ops)
        return NULL;
    json_t *o = json_pack("{s:s}", "op", s_keys_ops[req->op]);
    if (o && req->name)
        json_object_set_new(o, "name", json_string(req->name));
    if (o && req->role)
        json_object_set_new(o, "role", json_string(req->role));
    if (o && req->ttl_s)
        json_object_set_new(o, "ttl_s", json_integer(req->ttl_s));
    return o;
}

int assay_cp_read_keys(const json_t *body, assay_cp_keys *out, char *err,
                       size_t errlen)
{
    const char *op = s_str(body, "op") ? s_str(body, "op") : "list";
    memset(out, 0, sizeof *out);
    size_t i = 0, n = sizeof s_keys_ops / sizeof *s_keys_ops;
    while (i < n && strcmp(op, s_keys_ops[i]))
        i++;
    if (i == n)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.keys: unknown op '%.32s' (list, enroll, "
                          "revoke)",
                          op);
    out->op = (assay_cp_keys_op)i;
    out->name = s_str(body, "name");
    out->role = s_str(body, "role");
    const json_t *ttl = json_object_get(body, "ttl_s");
    out->ttl_s = ttl ? (json_is_integer(ttl) ? json_integer_value(ttl) : -1)
                     : ASSAY_CP_TOKEN_TTL_DEFAULT;
    if (out->op == ASSAY_CP_KEYS_LIST)
        return 0;
    if (!out->name || !assay_ident_valid(out->name, 63))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.keys %s: name: an identifier of at most 63 "
                          "bytes (letters, digits, '.', '-', '_') is needed",
                          op);
    if (out->op == ASSAY_CP_KEYS_REVOKE)
        return 0;
    static const char *const roles[] = {"runtime", "submit", "read", "admin"};
    bool role = false;
    for (size_t k = 0; out->role && k < 4; k++)
        role = role || !strcmp(out->role, roles[k]);
    if (!role)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.keys enroll: role: runtime, submit, read or "
                          "admin (members are added with keys of their own, "
                          "docs/security.md)");
    if (out->ttl_s < 1 || out->ttl_s > ASSAY_CP_TOKEN_TTL_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.keys enroll: ttl_s: from 1 to %d seconds",
                          ASSAY_CP_TOKEN_TTL_MAX);
    return 0;
}

static const char *const s_sched_ops[] = {
    "list", "show", "create", "pause", "resume", "trigger", "backfill",
    "delete"};

const char *assay_cp_sched_op_name(int op)
{
    return op >= 0 && (size_t)op < sizeof s_sched_ops / sizeof *s_sched_ops
               ? s_sched_ops[op]
               : NULL;
}

json_t *assay_cp_pack_sched(const assay_cp_sched *req)
{
    const char *name = assay_cp_sched_op_name(req->op);
    json_t *o = name ? json_pack("{s:s}", "op", name) : NULL;
    if (o && req->id)
        json_object_set_new(o, "id", json_string(req->id));
    if (o && req->schedule)
        json_object_set(o, "schedule", (json_t *)req->schedule);
    if (o && req->note)
        json_object_set_new(o, "note", json_string(req->note));
    if (o && req->from)
        json_object_set_new(o, "from", json_string(req->from));
    if (o && req->to)
        json_object_set_new(o, "to", json_string(req->to));
    if (o && req->dry_run)
        json_object_set_new(o, "dry_run", json_true());
    if (o && req->after)
        json_object_set_new(o, "after", json_string(req->after));
    if (o && req->limit)
        json_object_set_new(o, "limit", json_integer(req->limit));
    return o;
}

int assay_cp_read_sched(const json_t *body, assay_cp_sched *out, char *err,
                        size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *op = s_str(body, "op") ? s_str(body, "op") : "list";
    size_t i = 0, n = sizeof s_sched_ops / sizeof *s_sched_ops;
    while (i < n && strcmp(op, s_sched_ops[i]))
        i++;
    if (i == n)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.schedule: unknown op '%.32s' (list, show, "
                          "create, pause, resume, trigger, backfill, "
                          "delete)",
                          op);
    out->op = (assay_cp_sched_op)i;
    out->id = s_str(body, "id");
    out->schedule = json_object_get(body, "schedule");
    out->note = s_str(body, "note");
    out->from = s_str(body, "from");
    out->to = s_str(body, "to");
    out->dry_run = json_is_true(json_object_get(body, "dry_run"));
    out->after = s_str(body, "after");
    const json_t *limit = json_object_get(body, "limit");
    out->limit = limit ? (json_is_integer(limit) ? json_integer_value(limit)
                                                 : -1)
                       : ASSAY_CP_SCHED_PAGE;
    switch (out->op) {
    case ASSAY_CP_SCHED_LIST:
        if (out->limit < 1 || out->limit > ASSAY_CP_SCHED_PAGE)
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "assay.schedule list: limit: from 1 to %d",
                              ASSAY_CP_SCHED_PAGE);
        return 0;
    case ASSAY_CP_SCHED_CREATE:
        if (!json_is_object(out->schedule))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "assay.schedule create: schedule: the "
                              "definition (an object, docs/schedules.md)");
        return 0;
    default:
        break;
    }
    if (!out->id || !assay_ident_valid(out->id, 40))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.schedule %s: id: a schedule id (at most 40 "
                          "letters, digits, '.', '_', '-') is needed",
                          op);
    if (json_object_get(body, "note") &&
        (!out->note || strlen(out->note) > 500))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.schedule %s: note: text of at most 500 "
                          "bytes",
                          op);
    if (out->op == ASSAY_CP_SCHED_BACKFILL && (!out->from || !out->to))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.schedule backfill: from and to (RFC 3339 "
                          "times) are needed");
    return 0;
}

json_t *assay_cp_pack_enrol(const assay_cp_enrol *req)
{
    return json_pack("{s:s, s:s}", "name", req->name, "secret", req->secret);
}

int assay_cp_read_enrol(const json_t *body, assay_cp_enrol *out, char *err,
                        size_t errlen)
{
    out->name = s_str(body, "name");
    out->secret = s_str(body, "secret");
    if (!out->name || !assay_ident_valid(out->name, 63) || !out->secret)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.enrol: needs name (an identifier) and "
                          "secret (the token's)");
    return 0;
}

static const char *const s_stream_ops[] = {"read", "ack", "consumers",
                                           "delete"};

json_t *assay_cp_pack_stream(const assay_cp_stream *req)
{
    if ((size_t)req->op >= sizeof s_stream_ops / sizeof *s_stream_ops)
        return NULL;
    json_t *o = json_pack("{s:s}", "op", s_stream_ops[req->op]);
    if (o && req->consumer)
        json_object_set_new(o, "consumer", json_string(req->consumer));
    if (o && req->op == ASSAY_CP_STREAM_READ) {
        if (req->from >= 0)
            json_object_set_new(o, "from", json_integer(req->from));
        if (req->max)
            json_object_set_new(o, "max", json_integer(req->max));
        if (req->wait_ms)
            json_object_set_new(o, "wait_ms", json_integer(req->wait_ms));
        if (req->ack > 0 && req->consumer)
            json_object_set_new(o, "ack", json_integer(req->ack));
    }
    if (o && req->op == ASSAY_CP_STREAM_ACK)
        json_object_set_new(o, "position", json_integer(req->position));
    return o;
}

/* The integer at k, `dflt` when absent, -1 when not an integer. */
static int64_t s_int_or(const json_t *body, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(body, k);
    return !v ? dflt : json_is_integer(v) ? json_integer_value(v) : -1;
}

int assay_cp_read_stream(const json_t *body, assay_cp_stream *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *op = s_str(body, "op") ? s_str(body, "op") : "read";
    size_t i = 0, n = sizeof s_stream_ops / sizeof *s_stream_ops;
    while (i < n && strcmp(op, s_stream_ops[i]))
        i++;
    if (i == n)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.stream: unknown op '%.32s' (read, ack, "
                          "consumers, delete)",
                          op);
    out->op = (assay_cp_stream_op)i;
    out->consumer = s_str(body, "consumer");
    const json_t *name = json_object_get(body, "consumer");
    bool named = out->consumer && assay_ident_valid(out->consumer, 63);
    if ((name && !named) ||
        (!name && (out->op == ASSAY_CP_STREAM_ACK ||
                   out->op == ASSAY_CP_STREAM_DELETE)))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.stream %s: consumer: an identifier of at "
                          "most 63 bytes (letters, digits, '.', '-', '_') "
                          "is needed",
                          op);
    out->from = s_int_or(body, "from", -1);
    out->max = s_int_or(body, "max", ASSAY_CP_STREAM_PAGE);
    out->wait_ms = s_int_or(body, "wait_ms", 0);
    out->position = s_int_or(body, "position", -1);
    out->ack = s_int_or(body, "ack", 0);
    if (out->op == ASSAY_CP_STREAM_ACK && out->position < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.stream ack: position: the last stream "
                          "position the consumer has (an integer >= 0)");
    if (out->op != ASSAY_CP_STREAM_READ)
        return 0;
    if (json_object_get(body, "from") && out->from < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.stream read: from: a stream position (an "
                          "integer >= 0)");
    if (out->max < 1 || out->max > ASSAY_CP_STREAM_PAGE)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.stream read: max: from 1 to %d",
                          ASSAY_CP_STREAM_PAGE);
    if (out->wait_ms < 0 || out->wait_ms > ASSAY_CP_STREAM_WAIT_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.stream read: wait_ms: from 0 to %d",
                          ASSAY_CP_STREAM_WAIT_MAX);
    if (json_object_get(body, "ack") && (out->ack < 0 || !out->consumer))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "assay.stream read: ack: a stream position (an "
                          "integer >= 0), with the consumer it is for");
    return 0;
}
