/* core/state/command.c - the state's commands, built (see command.h). */
#include "state/command.h"

#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "state/internal.h"

/* msgpack bytes being written; a failed write (no memory) is remembered,
 * since msgpack-c's packers do not report it. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    bool failed;
} s_buf;

static int s_write(void *data, const char *buf, size_t len)
{
    s_buf *b = data;
    if (!b->failed && msgpack_sbuffer_write(&b->sb, buf, len) != 0)
        b->failed = true;
    return b->failed ? -1 : 0;
}

static void s_buf_init(s_buf *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, b, s_write);
    b->failed = false;
}

struct assay_cmd {
    s_buf b;
};

struct assay_cmd_list {
    s_buf b;
    size_t count;
};

const void *assay_cmd_data(const assay_cmd *self) { return self->b.sb.data; }

size_t assay_cmd_size(const assay_cmd *self) { return self->b.sb.size; }

void assay_cmd_destroy(assay_cmd **self_p)
{
    if (!self_p || !*self_p)
        return;
    msgpack_sbuffer_destroy(&(*self_p)->b.sb);
    free(*self_p);
    *self_p = NULL;
}

assay_cmd_list *assay_cmd_list_new(void)
{
    assay_cmd_list *self = calloc(1, sizeof *self);
    if (self)
        s_buf_init(&self->b);
    return self;
}

void assay_cmd_list_destroy(assay_cmd_list **self_p)
{
    if (!self_p || !*self_p)
        return;
    msgpack_sbuffer_destroy(&(*self_p)->b.sb);
    free(*self_p);
    *self_p = NULL;
}

size_t assay_cmd_list_count(const assay_cmd_list *self)
{
    return self->count;
}

/* Ends an entry of the list. */
static int s_added(assay_cmd_list *self)
{
    self->count++;
    return self->b.failed ? ASSAY_ENOMEM : 0;
}

int assay_cmd_list_job(assay_cmd_list *self, const char *id,
                       const json_t *params)
{
    msgpack_packer *pk = &self->b.pk;
    msgpack_pack_map(pk, 2);
    assay_codec_pack_kv_str(pk, "id", id);
    assay_codec_pack_kv_json(pk, "params", params);
    return s_added(self);
}

/* Starts a batch entry about job's attempt: a map of `fields` entries,
 * job and attempt first. */
static msgpack_packer *s_item(assay_cmd_list *self, size_t fields,
                              const char *job, int64_t attempt)
{
    msgpack_packer *pk = &self->b.pk;
    msgpack_pack_map(pk, fields);
    assay_codec_pack_kv_str(pk, "job", job);
    assay_codec_pack_kv_int(pk, "attempt", attempt);
    return pk;
}

int assay_cmd_list_dispatch(assay_cmd_list *self, const char *job,
                            int64_t attempt, const char *runtime,
                            const char *version, int64_t at)
{
    msgpack_packer *pk = s_item(self, 5, job, attempt);
    assay_codec_pack_kv_str(pk, "runtime", runtime);
    assay_codec_pack_kv_str(pk, "version", version);
    assay_codec_pack_kv_int(pk, "at", at);
    return s_added(self);
}

int assay_cmd_list_result(assay_cmd_list *self, const char *job,
                          int64_t attempt, const json_t *result,
                          const char *runtime, int64_t at)
{
    msgpack_packer *pk = s_item(self, 5, job, attempt);
    assay_codec_pack_kv_json(pk, "result", result);
    assay_codec_pack_kv_str(pk, "runtime", runtime);
    assay_codec_pack_kv_int(pk, "at", at);
    return s_added(self);
}

int assay_cmd_list_requeue(assay_cmd_list *self, const char *job,
                           int64_t attempt, const char *reason,
                           const char *runtime, int64_t at)
{
    msgpack_packer *pk = s_item(self, 4 + !!runtime, job, attempt);
    assay_codec_pack_kv_str(pk, "reason", reason);
    if (runtime)
        assay_codec_pack_kv_str(pk, "runtime", runtime);
    assay_codec_pack_kv_int(pk, "at", at);
    return s_added(self);
}

/* A new command: a map of `fields` entries after op and v, which the
 * caller packs into the returned packer. */
static assay_cmd *s_cmd(const char *op, size_t fields, msgpack_packer **pk)
{
    assay_cmd *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    s_buf_init(&self->b);
    *pk = &self->b.pk;
    msgpack_pack_map(*pk, fields + 2);
    assay_codec_pack_kv_str(*pk, "op", op);
    assay_codec_pack_kv_int(*pk, "v", assay_state_op_version(op));
    return self;
}

/* The command, or NULL if packing it ran out of memory. */
static assay_cmd *s_done(assay_cmd *self)
{
    if (self && self->b.failed)
        assay_cmd_destroy(&self);
    return self;
}

/* Packs a list (taken) as an array under key k. */
static void s_list(assay_cmd *self, const char *k, assay_cmd_list **list_p)
{
    assay_cmd_list *list = list_p ? *list_p : NULL;
    if (!list || list->b.failed) {
        self->b.failed = true;
    } else {
        assay_codec_pack_str(&self->b.pk, k);
        msgpack_pack_array(&self->b.pk, list->count);
        assay_codec_pack_raw(&self->b.pk, list->b.sb.data, list->b.sb.size);
    }
    assay_cmd_list_destroy(list_p);
}

void st_spec_fields_pack(msgpack_packer *pk, const assay_cmd_spec *s)
{
    /* retain_seconds, by, cpu_milli and placement are absent unless set:
     * a member of a level before them never sees the fields. */
    bool title = s->title && *s->title,
         desc = s->description && *s->description,
         series = s->series && *s->series,
         controls = s->controls_raw || json_array_size(s->controls);
    msgpack_pack_map(pk, 10 + (s->retain_seconds > 0) + !!s->by_name +
                             (s->cpu_milli > 0) + s->pack +
                             !!(s->schedule && *s->schedule) +
                             (s->submitted_ms > 0) + title + desc + series +
                             controls);
    assay_codec_pack_kv_str(pk, "id", s->id);
    assay_codec_pack_kv_str(pk, "action", s->action);
    assay_codec_pack_kv_str(pk, "version", s->version);
    assay_codec_pack_kv_str(pk, "resolved", s->resolved);
    assay_codec_pack_kv_json(pk, "labels", s->labels);
    assay_codec_pack_kv_json(pk, "selector", s->selector);
    assay_codec_pack_kv_int(pk, "timeout_ms", s->timeout_ms);
    assay_codec_pack_kv_int(pk, "max_attempts", s->max_attempts);
    assay_codec_pack_kv_int(pk, "priority", s->priority);
    assay_codec_pack_kv_int(pk, "memory_mb", s->memory_mb);
    if (s->retain_seconds > 0)
        assay_codec_pack_kv_int(pk, "retain_seconds", s->retain_seconds);
    if (s->cpu_milli > 0)
        assay_codec_pack_kv_int(pk, "cpu_milli", s->cpu_milli);
    if (s->pack)
        assay_codec_pack_kv_str(pk, "placement", "pack");
    if (s->by_name)
        st_by_pack(pk, s->by_name, s->by_role);
    if (s->schedule && *s->schedule)
        assay_codec_pack_kv_str(pk, "schedule", s->schedule);
    if (s->submitted_ms > 0)
        assay_codec_pack_kv_int(pk, "submitted_ms", s->submitted_ms);
    if (title)
        assay_codec_pack_kv_str(pk, "title", s->title);
    if (desc)
        assay_codec_pack_kv_str(pk, "description", s->description);
    if (series)
        assay_codec_pack_kv_str(pk, "series", s->series);
    if (s->controls_raw) {
        assay_codec_pack_str(pk, "controls");
        assay_codec_pack_raw(pk, s->controls_raw, s->controls_raw_len);
    } else if (controls) {
        assay_codec_pack_kv_json(pk, "controls", s->controls);
    }
}

void st_by_pack(msgpack_packer *pk, const char *name, const char *role)
{
    assay_codec_pack_str(pk, "by");
    msgpack_pack_map(pk, 2);
    assay_codec_pack_kv_str(pk, "name", name);
    assay_codec_pack_kv_str(pk, "role", role ? role : "");
}

assay_cmd *assay_cmd_submit(const assay_cmd_spec *s, assay_cmd_list **jobs)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("submit", 2, &pk);
    if (!self) {
        assay_cmd_list_destroy(jobs);
        return NULL;
    }
    assay_codec_pack_str(pk, "spec");
    st_spec_fields_pack(pk, s);
    s_list(self, "jobs", jobs);
    return s_done(self);
}

assay_cmd *assay_cmd_batch(const char *op, assay_cmd_list **items)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd(op, 1, &pk);
    if (self)
        s_list(self, "items", items);
    else
        assay_cmd_list_destroy(items);
    return s_done(self);
}

/* cancel and restart: jobs, at, by. */
static assay_cmd *s_jobs_cmd(const char *op, const json_t *jobs, int64_t at,
                             const char *by_name, const char *by_role)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd(op, 2 + !!by_name, &pk);
    if (self) {
        assay_codec_pack_kv_json(pk, "jobs", jobs);
        assay_codec_pack_kv_int(pk, "at", at);
        if (by_name)
            st_by_pack(pk, by_name, by_role);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_cancel(const json_t *jobs, int64_t at,
                            const char *by_name, const char *by_role)
{
    return s_jobs_cmd("cancel", jobs, at, by_name, by_role);
}

assay_cmd *assay_cmd_restart(const json_t *jobs, int64_t at,
                             const char *by_name, const char *by_role)
{
    return s_jobs_cmd("restart", jobs, at, by_name, by_role);
}

assay_cmd *assay_cmd_expire(const json_t *jobs)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("expire", 1, &pk);
    if (self)
        assay_codec_pack_kv_json(pk, "jobs", jobs);
    return s_done(self);
}

assay_cmd *assay_cmd_forget(const json_t *runtimes)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("forget", 1, &pk);
    if (self)
        assay_codec_pack_kv_json(pk, "runtimes", runtimes);
    return s_done(self);
}

assay_cmd *assay_cmd_runtime(const char *id, int64_t heartbeat_ms,
                             const json_t *labels, const json_t *capacity,
                             const json_t *catalog, const json_t *host)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("runtime", 5 + !!host, &pk);
    if (self) {
        if (host)
            assay_codec_pack_kv_json(pk, "host", host);
        assay_codec_pack_kv_str(pk, "id", id);
        assay_codec_pack_kv_int(pk, "heartbeat_ms", heartbeat_ms);
        assay_codec_pack_kv_json(pk, "labels", labels);
        assay_codec_pack_kv_json(pk, "capacity", capacity); /* NULL: nil */
        assay_codec_pack_kv_json(pk, "catalog", catalog);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_runtime_state(const char *id, bool alive)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("runtime_state", 2, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "id", id);
        assay_codec_pack_str(pk, "alive");
        if (alive)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_leader(const char *id, const char *endpoint,
                            const char *events, int64_t member,
                            int64_t level)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("leader", 5, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "id", id);
        assay_codec_pack_kv_str(pk, "endpoint", endpoint);
        assay_codec_pack_kv_str(pk, "events", events);
        assay_codec_pack_kv_int(pk, "member", member);
        assay_codec_pack_kv_int(pk, "level", level);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_level(int64_t level, int64_t at)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("level", 2, &pk);
    if (self) {
        assay_codec_pack_kv_int(pk, "level", level);
        assay_codec_pack_kv_int(pk, "at", at);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_token(const char *name, const char *role,
                           const char *hash, int64_t expires_ms, int64_t at,
                           const char *by_name, const char *by_role)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("token", 5 + !!by_name, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "name", name);
        assay_codec_pack_kv_str(pk, "role", role);
        assay_codec_pack_kv_str(pk, "hash", hash);
        assay_codec_pack_kv_int(pk, "expires_ms", expires_ms);
        assay_codec_pack_kv_int(pk, "at", at);
        if (by_name)
            st_by_pack(pk, by_name, by_role);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_enrol(const char *name, const char *key,
                           const char *hash, int64_t at)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("enrol", 4, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "name", name);
        assay_codec_pack_kv_str(pk, "key", key);
        assay_codec_pack_kv_str(pk, "hash", hash);
        assay_codec_pack_kv_int(pk, "at", at);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_unenrol(const char *name, int64_t at,
                             const char *by_name, const char *by_role)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("unenrol", 2 + !!by_name, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "name", name);
        assay_codec_pack_kv_int(pk, "at", at);
        if (by_name)
            st_by_pack(pk, by_name, by_role);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_consumer(const char *name, uint64_t acked, bool behind,
                              int64_t at)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("consumer", 4, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "name", name);
        assay_codec_pack_kv_int(pk, "acked", (int64_t)acked);
        assay_codec_pack_kv_bool(pk, "behind", behind);
        assay_codec_pack_kv_int(pk, "at", at);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_unconsumer(const char *name, int64_t at)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("unconsumer", 2, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "name", name);
        assay_codec_pack_kv_int(pk, "at", at);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_schedule(const char *id, const json_t *def, int64_t at,
                              const char *by_name, const char *by_role)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("schedule", 3 + !!by_name, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "id", id);
        assay_codec_pack_kv_json(pk, "def", def);
        assay_codec_pack_kv_int(pk, "at", at);
        if (by_name)
            st_by_pack(pk, by_name, by_role);
    }
    return s_done(self);
}

assay_cmd *assay_cmd_schedule_state(const char *id, bool paused,
                                    const char *note, int64_t skipped_count,
                                    int64_t skipped_first, int64_t at,
                                    const char *by_name, const char *by_role)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("schedule_state",
                            3 + !!note + (skipped_count > 0) + !!by_name, &pk);
    if (!self)
        return NULL;
    assay_codec_pack_kv_str(pk, "id", id);
    assay_codec_pack_str(pk, "paused");
    if (paused)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    if (note)
        assay_codec_pack_kv_str(pk, "note", note);
    if (skipped_count > 0) {
        assay_codec_pack_str(pk, "skipped");
        msgpack_pack_map(pk, 2);
        assay_codec_pack_kv_int(pk, "count", skipped_count);
        assay_codec_pack_kv_int(pk, "first", skipped_first);
    }
    assay_codec_pack_kv_int(pk, "at", at);
    if (by_name)
        st_by_pack(pk, by_name, by_role);
    return s_done(self);
}

assay_cmd *assay_cmd_unschedule(const char *id, int64_t at,
                                const char *by_name, const char *by_role)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("unschedule", 2 + !!by_name, &pk);
    if (self) {
        assay_codec_pack_kv_str(pk, "id", id);
        assay_codec_pack_kv_int(pk, "at", at);
        if (by_name)
            st_by_pack(pk, by_name, by_role);
    }
    return s_done(self);
}

int assay_cmd_list_fire(assay_cmd_list *self, const assay_cmd_fire *f,
                        assay_cmd_list **jobs)
{
    msgpack_packer *pk = &self->b.pk;
    bool run = f->spec && jobs && *jobs && !(*jobs)->b.failed;
    bool skipped = f->skipped_count > 0;
    msgpack_pack_map(pk, 3 + 2 * run + (!run && f->reason) + skipped);
    assay_codec_pack_kv_str(pk, "schedule", f->schedule);
    assay_codec_pack_kv_int(pk, "nominal", f->nominal);
    assay_codec_pack_kv_str(pk, "kind", assay_fire_kind_name(f->kind));
    if (run) {
        assay_codec_pack_str(pk, "spec");
        st_spec_fields_pack(pk, f->spec);
        assay_codec_pack_str(pk, "jobs");
        msgpack_pack_array(pk, (*jobs)->count);
        assay_codec_pack_raw(pk, (*jobs)->b.sb.data, (*jobs)->b.sb.size);
    } else if (f->reason) {
        assay_codec_pack_kv_str(pk, "reason", f->reason);
    }
    if (skipped) {
        assay_codec_pack_str(pk, "skipped");
        msgpack_pack_map(pk, 4);
        assay_codec_pack_kv_str(pk, "outcome",
                                assay_run_outcome_name(f->skipped_outcome));
        assay_codec_pack_kv_int(pk, "count", f->skipped_count);
        assay_codec_pack_kv_int(pk, "first", f->skipped_first);
        assay_codec_pack_kv_str(pk, "reason",
                                f->skipped_reason ? f->skipped_reason : "");
    }
    bool failed = jobs && *jobs && (*jobs)->b.failed;
    assay_cmd_list_destroy(jobs);
    int rc = s_added(self);
    return failed ? ASSAY_ENOMEM : rc;
}

assay_cmd *assay_cmd_fire_batch(assay_cmd_list **items, int64_t at)
{
    msgpack_packer *pk;
    assay_cmd *self = s_cmd("fire", 2, &pk);
    if (self) {
        s_list(self, "items", items);
        assay_codec_pack_kv_int(pk, "at", at);
    } else {
        assay_cmd_list_destroy(items);
    }
    return s_done(self);
}
