/* core/member/evidence.c - a job as evidence (docs/evidence.md): the
 * record `assay.jobs` returns with view "evidence", which `assayctl
 * export` turns into OSCAL, JSON or JUnit and `assayctl drift` reads.
 * Built from the replicated records alone, so every member gives the
 * same record, and the same id, for the same job. */
#include "member/internal.h"

#include <time.h>

#include "base/uuid.h"

/* ms since the epoch as RFC 3339 UTC with milliseconds (OSCAL's
 * date-time), or nil for 0 (unknown). */
static void s_time(msgpack_packer *pk, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char text[40];
    if (ms <= 0 || !gmtime_r(&t, &tm)) {
        msgpack_pack_nil(pk);
        return;
    }
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%03dZ", (int)(ms % 1000));
    assay_codec_pack_str(pk, text);
}

/* s as a string, or nil for NULL (and for "" when `empty_nil`). */
static void s_str_or_nil(msgpack_packer *pk, const char *s, bool empty_nil)
{
    if (s && (*s || !empty_nil))
        assay_codec_pack_str(pk, s);
    else
        msgpack_pack_nil(pk);
}

/* A schedule run's fire time from its JobSpec's id (SCHEDULE.YYYYMMDD
 * THHMMSSZ, or a trigger's SCHEDULE.tYYYYMMDDTHHMMSS.mmmZ): RFC 3339, or
 * nil. */
static void s_fire_time(msgpack_packer *pk, const assay_spec_rec *s)
{
    size_t n = strlen(s->schedule);
    const char *p = s->id + n + 1;
    int y, mo, d, h, mi, sec, ms = 0, used = 0;
    if (!n || strncmp(s->id, s->schedule, n) || s->id[n] != '.' ||
        sscanf(p + (*p == 't'), "%4d%2d%2dT%2d%2d%2d%n", &y, &mo, &d, &h,
               &mi, &sec, &used) != 6) {
        msgpack_pack_nil(pk);
        return;
    }
    p += (*p == 't') + used;
    if (*p == '.')
        sscanf(p + 1, "%3d", &ms);
    char text[40];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo,
             d, h, mi, sec, ms);
    assay_codec_pack_str(pk, text);
}

/* The value at key k of map o, or NULL. */
static const msgpack_object *s_get(const msgpack_object *o, const char *k)
{
    size_t len = strlen(k);
    for (uint32_t i = 0; o && o->type == MSGPACK_OBJECT_MAP &&
                         i < o->via.map.size;
         i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR &&
            kv->key.via.str.size == len &&
            !memcmp(kv->key.via.str.ptr, k, len))
            return &kv->val;
    }
    return NULL;
}

static int64_t s_int(const msgpack_object *o)
{
    return !o                                      ? 0
           : o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)o->via.u64
           : o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64
                                                        : 0;
}

/* The value packed at bytes as it is, or `dflt` (an empty map or array,
 * or nil) when there is none: kept values were checked when applied. */
static void s_raw(msgpack_packer *pk, const unsigned char *bytes, size_t len,
                  char dflt)
{
    if (bytes && len)
        pk->callback(pk->data, (const char *)bytes, len);
    else if (dflt == '{')
        msgpack_pack_map(pk, 0);
    else if (dflt == '[')
        msgpack_pack_array(pk, 0);
    else
        msgpack_pack_nil(pk);
}

/* o as it is, or `dflt` when it is absent or not of type `type`. */
static void s_obj(msgpack_packer *pk, const msgpack_object *o,
                  msgpack_object_type type, char dflt)
{
    if (o && o->type == type)
        msgpack_pack_object(pk, *o);
    else
        s_raw(pk, NULL, 0, dflt);
}

/* The controls that apply to job `index` of JobSpec s: those without
 * targets, and those listing it ({catalog, id}). */
static void s_controls(msgpack_packer *pk, const assay_spec_rec *s,
                       size_t index, msgpack_zone *zone)
{
    msgpack_object all = {0};
    if (!s->controls ||
        assay_codec_unpack(s->controls, s->controls_len, zone, &all, NULL,
                           0) ||
        all.type != MSGPACK_OBJECT_ARRAY) {
        msgpack_pack_array(pk, 0);
        return;
    }
    bool applies[all.via.array.size ? all.via.array.size : 1];
    uint32_t n = 0;
    for (uint32_t i = 0; i < all.via.array.size; i++) {
        const msgpack_object *targets = s_get(&all.via.array.ptr[i],
                                              "targets");
        applies[i] = !targets || targets->type != MSGPACK_OBJECT_ARRAY;
        for (uint32_t k = 0; !applies[i] && k < targets->via.array.size; k++)
            applies[i] = s_int(&targets->via.array.ptr[k]) == (int64_t)index;
        n += applies[i];
    }
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < all.via.array.size; i++) {
        if (!applies[i])
            continue;
        msgpack_pack_map(pk, 2);
        assay_codec_pack_str(pk, "catalog");
        s_obj(pk, s_get(&all.via.array.ptr[i], "catalog"),
              MSGPACK_OBJECT_STR, 0);
        assay_codec_pack_str(pk, "id");
        s_obj(pk, s_get(&all.via.array.ptr[i], "id"), MSGPACK_OBJECT_STR, 0);
    }
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

void mb_evidence_pack(msgpack_packer *pk, const assay_job *j,
                      msgpack_zone *zone)
{
    const assay_spec_rec *s = j->spec;
    const assay_end *e = j->end;
    char uuid[ASSAY_UUID_TEXT_SIZE];
    s_uuid(j, uuid);
    msgpack_zone_clear(zone);
    msgpack_object res = {0};
    if (!j->result || assay_codec_unpack(j->result, j->result_len, zone,
                                         &res, NULL, 0))
        res.type = MSGPACK_OBJECT_NIL;
    msgpack_pack_map(pk, 29);
    assay_codec_pack_kv_str(pk, "uuid", uuid);
    assay_codec_pack_kv_str(pk, "job", j->id);
    assay_codec_pack_kv_str(pk, "spec", s->id);
    assay_codec_pack_kv_int(pk, "index", (int64_t)s_index(j));
    assay_codec_pack_str(pk, "schedule");
    s_str_or_nil(pk, s->schedule, true);
    assay_codec_pack_str(pk, "fire_time");
    s_fire_time(pk, s);
    assay_codec_pack_str(pk, "series");
    s_str_or_nil(pk, *s->series ? s->series : s->schedule, true);
    assay_codec_pack_kv_str(pk, "action", s->action);
    assay_codec_pack_str(pk, "title");
    s_str_or_nil(pk, s->title, false);
    assay_codec_pack_str(pk, "description");
    s_str_or_nil(pk, s->description, false);
    assay_codec_pack_kv_json(pk, "labels", s->labels);
    assay_codec_pack_str(pk, "controls");
    s_controls(pk, s, s_index(j), zone);
    assay_codec_pack_str(pk, "target");
    s_raw(pk, j->params, j->params_len, '{');
    assay_codec_pack_kv_str(pk, "state", assay_job_state_name(j->state));
    assay_codec_pack_str(pk, "status");
    s_obj(pk, s_get(&res, "status"), MSGPACK_OBJECT_STR, 0);
    assay_codec_pack_str(pk, "message");
    s_obj(pk, s_get(&res, "message"), MSGPACK_OBJECT_STR, 0);
    assay_codec_pack_str(pk, "reason");
    s_str_or_nil(pk, j->reason, false);
    assay_codec_pack_str(pk, "findings");
    s_obj(pk, s_get(&res, "findings"), MSGPACK_OBJECT_ARRAY, '[');
    assay_codec_pack_str(pk, "submitted");
    s_time(pk, s->submitted_ms);
    /* When the action ran, by the runtime's clock; else the leader's
     * dispatch and end of the last attempt. */
    const assay_attempt *a =
        j->n_attempts ? &j->attempts[j->n_attempts - 1] : NULL;
    int64_t t0 = s_int(s_get(&res, "started_ms")),
            t1 = s_int(s_get(&res, "ended_ms"));
    assay_codec_pack_str(pk, "started");
    s_time(pk, t0 > 0 ? t0 : a ? a->start_ms : 0);
    assay_codec_pack_str(pk, "ended");
    s_time(pk, t1 > 0 ? t1 : j->ended_ms);
    assay_codec_pack_str(pk, "expires");
    s_time(pk, s->retain_ms && j->ended_ms ? j->ended_ms + s->retain_ms : 0);
    assay_codec_pack_kv_int(pk, "attempt", j->attempt);
    assay_codec_pack_str(pk, "runtime");
    s_str_or_nil(pk, j->runtime, true);
    const assay_host *h = e ? e->host : NULL;
    assay_codec_pack_str(pk, "host");
    if (h) {
        msgpack_pack_map(pk, 4);
        assay_codec_pack_kv_str(pk, "hostname", h->hostname);
        assay_codec_pack_kv_str(pk, "os", h->os);
        assay_codec_pack_kv_str(pk, "kernel", h->kernel);
        assay_codec_pack_kv_str(pk, "machine_id", h->machine_id);
    } else {
        msgpack_pack_nil(pk);
    }
    assay_codec_pack_str(pk, "plugin");
    if (*j->version) {
        const char *dot = strchr(s->action, '.');
        size_t len = dot ? (size_t)(dot - s->action) : strlen(s->action);
        bool sha = e && *e->sha256;
        msgpack_pack_map(pk, 2 + sha);
        assay_codec_pack_str(pk, "name");
        msgpack_pack_str(pk, len);
        msgpack_pack_str_body(pk, s->action, len);
        assay_codec_pack_kv_str(pk, "version", j->version);
        if (sha)
            assay_codec_pack_kv_str(pk, "sha256", e->sha256);
    } else {
        msgpack_pack_nil(pk);
    }
    assay_codec_pack_str(pk, "submitted_by");
    if (s->by_name) {
        msgpack_pack_map(pk, 2);
        assay_codec_pack_kv_str(pk, "name", s->by_name);
        assay_codec_pack_kv_str(pk, "role", s->by_role);
    } else {
        msgpack_pack_nil(pk);
    }
    assay_codec_pack_str(pk, "drift");
    if (e && e->change) {
        const char *prev = assay_status_name(e->previous);
        msgpack_pack_map(pk, 2 + !!prev);
        if (prev)
            assay_codec_pack_kv_str(pk, "previous", prev);
        assay_codec_pack_kv_str(pk, "change", assay_drift_name(e->change));
        assay_codec_pack_str(pk, "changed");
        s_raw(pk, e->changed, e->changed_len, '[');
    } else {
        msgpack_pack_nil(pk);
    }
    assay_codec_pack_str(pk, "position");
    if (e)
        msgpack_pack_uint64(pk, e->pos);
    else
        msgpack_pack_nil(pk);
}

json_t *mb_evidence_record(const assay_job *j)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_zone *zone = msgpack_zone_new(4096);
    json_t *r = NULL;
    if (zone) {
        mb_evidence_pack(&pk, j, zone);
        if (assay_codec_decode(sb.data, sb.size, &r, NULL, 0))
            r = NULL;
        msgpack_zone_free(zone);
    }
    msgpack_sbuffer_destroy(&sb);
    return r;
}
