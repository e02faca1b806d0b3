/* core/state/snapshot.c - the whole state as one value, and back.
 *
 * Format 2: {v: 2, level, specs: [{spec, jobs: [job]}], runtimes, leader?}
 * where each JobSpec carries its jobs in submission order and a job is
 * {id, params, state, attempt, runtime?, version?, reason?, result?,
 * ended_ms?, attempts?}; runtimes are [{id, heartbeat_ms, labels,
 * capacity, catalog, alive}]. Format 1 (still loaded, and still written
 * while the cluster is at level 1) lists the jobs apart, each with its
 * JobSpec's id and fields copied; the previous release wrote it without
 * level, ended_ms and attempts. Format 3 is format 2 with each JobSpec's
 * "by" (who submitted it), written from level 4 on; format 2 is written
 * at levels 2 and 3, for a member of the release before that. Format 4
 * adds "keys": {tokens, enrolled} (enrolment.c), written from level 5.
 * Format 5 adds "estimates": [{action, n, mean_us, p90_us, at}] by action
 * (estimate.c), written from level 6. Format 6 adds "schedules"
 * (schedule.c), each JobSpec's "schedule" and "submitted_ms" and each
 * restarted job's "base", written from level 7. Format 7 adds "hosts"
 * (the hosts jobs ran on, by key), each ended job's evidence record
 * "end" {pos, host (its number in hosts), sha256, status, change,
 * previous, changed}, each JobSpec's title, description, series and
 * controls, "drift" (drift.c), "stream_pos" and "consumers" [{name,
 * acked, behind, created_ms, acked_ms}] (consumer.c; absent in the
 * first format 7 snapshots: none), written from level 8.
 * tests/fixtures/state/ holds one of each. Restore is linear in the
 * jobs. */
#include "state/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/errtext.h"

/* What both formats add to a job's record beyond its fields. */
static void s_job_tail(msgpack_packer *pk, const assay_job *j)
{
    assay_codec_pack_str(pk, "params");
    assay_codec_pack_raw(pk, j->params, j->params_len);
    if (j->ended_ms)
        assay_codec_pack_kv_int(pk, "ended_ms", j->ended_ms);
    if (j->n_attempts) {
        assay_codec_pack_str(pk, "attempts");
        st_attempts_pack(pk, j);
    }
}

/* A job's record. Format 2: {id, params, state, attempt, runtime?,
 * version?, reason?, result?, ended_ms?, attempts?}. Format 1: the job as
 * events show it, with params, ended_ms? and attempts?. */
/* The hosts of a format 7 snapshot, numbered by their order. */
typedef struct {
    const assay_host **order;
    size_t n;
} s_hosts;

static void s_job_pack(msgpack_packer *pk, const assay_job *j, int version,
                       const s_hosts *hosts)
{
    size_t tail = 1 + !!j->ended_ms + !!j->n_attempts;
    if (version < 2) {
        st_job_view_pack(pk, j, true, tail);
        s_job_tail(pk, j);
        return;
    }
    bool base = version >= 6 && j->base, end = version >= 7 && j->end;
    msgpack_pack_map(pk, 3 + !!*j->runtime + !!*j->version + !!j->reason +
                             !!j->result + base + end + tail);
    assay_codec_pack_kv_str(pk, "id", j->id);
    assay_codec_pack_kv_str(pk, "state", assay_job_state_name(j->state));
    assay_codec_pack_kv_int(pk, "attempt", j->attempt);
    if (*j->runtime)
        assay_codec_pack_kv_str(pk, "runtime", j->runtime);
    if (*j->version)
        assay_codec_pack_kv_str(pk, "version", j->version);
    if (j->reason)
        assay_codec_pack_kv_str(pk, "reason", j->reason);
    if (j->result) {
        assay_codec_pack_str(pk, "result");
        assay_codec_pack_raw(pk, j->result, j->result_len);
    }
    if (base) /* format 6: its attempts since a restart */
        assay_codec_pack_kv_int(pk, "base", j->base);
    if (end) {
        assay_codec_pack_str(pk, "end");
        st_end_pack_snap(pk, j->end, hosts->order, hosts->n);
    }
    s_job_tail(pk, j);
}

int assay_state_pack(const assay_state *self, int version,
                     msgpack_packer *pk)
{
    bool v1 = version < 2;
    msgpack_pack_map(pk, (v1 ? 5 : 4) + !!self->leader + (version >= 4) +
                             (version >= 5) + (version >= 6) +
                             4 * (version >= 7));
    assay_codec_pack_kv_int(pk, "v", v1 ? 1 : version);
    assay_codec_pack_kv_int(pk, "level", self->level);
    s_hosts hosts = {0};
    if (version >= 7) {
        assay_codec_pack_str(pk, "hosts");
        int rc = st_hosts_pack(self, pk, &hosts.order, &hosts.n);
        if (rc)
            return rc;
        assay_codec_pack_str(pk, "drift");
        st_drift_pack(self, pk);
        assay_codec_pack_kv_int(pk, "stream_pos", (int64_t)self->stream_pos);
        assay_codec_pack_str(pk, "consumers");
        st_consumers_pack(self, pk);
    }
    assay_codec_pack_str(pk, "specs");
    msgpack_pack_array(pk, self->n_specs);
    /* Format 2: each JobSpec with its jobs, one run of the
     * submission-order list; format 1: the JobSpecs, then every job. */
    const assay_job *j = self->all_head;
    for (const assay_spec_rec *s = self->specs_head; s; s = s->next) {
        if (v1) {
            st_spec_pack(pk, s, version);
            continue;
        }
        msgpack_pack_map(pk, 2);
        assay_codec_pack_str(pk, "spec");
        st_spec_pack(pk, s, version);
        /* Counted, not taken from s->live: a header that disagreed with
         * the entries after it would make the snapshot unreadable. */
        size_t n = 0;
        for (const assay_job *k = j; k && k->spec == s; k = k->all_next)
            n++;
        assay_codec_pack_str(pk, "jobs");
        msgpack_pack_array(pk, n);
        for (; j && j->spec == s; j = j->all_next)
            s_job_pack(pk, j, version, &hosts);
    }
    if (v1) {
        assay_codec_pack_str(pk, "jobs");
        msgpack_pack_array(pk, self->n_jobs);
        for (j = self->all_head; j; j = j->all_next)
            s_job_pack(pk, j, version, &hosts);
    }
    free(hosts.order);
    assay_codec_pack_str(pk, "runtimes");
    msgpack_pack_array(pk, json_array_size(self->runtime_ids));
    size_t i;
    json_t *id;
    json_array_foreach(self->runtime_ids, i, id) {
        assay_runtime_rec *r = assay_index_get(self->runtimes,
                                               json_string_value(id));
        const char *k;
        json_t *v;
        msgpack_pack_map(pk, json_object_size(r->info) + 1);
        json_object_foreach(r->info, k, v)
            assay_codec_pack_kv_json(pk, k, v);
        assay_codec_pack_str(pk, "alive");
        if (r->alive)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
    if (self->leader)
        assay_codec_pack_kv_json(pk, "leader", self->leader);
    if (version >= 6) {
        assay_codec_pack_str(pk, "schedules");
        int rc = st_scheds_pack(self, pk);
        if (rc)
            return rc;
    }
    if (version >= 5) {
        assay_codec_pack_str(pk, "estimates");
        int rc = st_estimates_pack(self, pk);
        if (rc)
            return rc;
    }
    if (version >= 4) {
        assay_codec_pack_str(pk, "keys");
        return st_keys_pack(self->keys, pk);
    }
    return 0;
}

json_t *assay_state_dump_format(const assay_state *self, int version)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    json_t *dump = NULL;
    if (assay_state_pack(self, version, &pk) == 0 &&
        assay_codec_decode(sb.data, sb.size, &dump, NULL, 0) != 0)
        dump = NULL;
    msgpack_sbuffer_destroy(&sb);
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
    const assay_host **hosts; /* format 7: the hosts jobs name */
    size_t n_hosts;
} s_done;

/* Puts the job the dump record `rec` describes where the dump had it
 * (submission left it queued). */
static int s_place(assay_state *self, const msgpack_object *rec,
                   s_done *done, char *err, size_t errlen)
{
    char id[ASSAY_JOB_ID_MAX + 1], state[16], rt[256], ver[256], why[1024];
    assay_job *job = assay_state_job(self, st_text(rec, "id", id, sizeof id,
                                                   false));
    int st = assay_job_state_parse(st_text(rec, "state", state, sizeof state,
                                           false));
    const msgpack_object *res = st_get(rec, "result");
    if (!job || st < 0 ||
        !st_attempts_load(self, job, st_get(rec, "attempts")))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: a job without its JobSpec, a known "
                          "state or well-formed attempts");
    st_leave(self, job);
    job->state = st;
    job->attempt = st_int(rec, "attempt");
    int64_t base = st_int(rec, "base");
    job->base = base > 0 && base <= job->attempt && base <= UINT32_MAX
                    ? (uint32_t)base
                    : 0;
    job->ended_ms = st_int(rec, "ended_ms");
    const char *irt = st_intern(self, st_text(rec, "runtime", rt, sizeof rt,
                                              false)),
               *iv = st_intern(self, st_text(rec, "version", ver, sizeof ver,
                                             false));
    if (!irt || !iv)
        return ASSAY_ENOMEM;
    job->runtime = irt;
    job->version = iv;
    assay_job_note(&job->reason,
                   st_text(rec, "reason", why, sizeof why, true));
    if (st_is(res, MSGPACK_OBJECT_MAP) && !st_job_result(self, job, res))
        return ASSAY_ENOMEM;
    if (st == ASSAY_JOB_QUEUED || st == ASSAY_JOB_RUNNING)
        return st_place(self, job) ? 0 : ASSAY_ENOMEM;
    if (self->level >= ASSAY_LEVEL_EVIDENCE &&
        !st_end_load(self, job, st_get(rec, "end"), done->hosts,
                     done->n_hosts))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: job %s has a malformed evidence record",
                          job->id);
    done->done[done->n++] = job;
    return 0;
}

static uint32_t s_len(const msgpack_object *list)
{
    return st_is(list, MSGPACK_OBJECT_ARRAY) ? list->via.array.size : 0;
}

/* A JobSpec's jobs in a format 1 dump, gathered. */
typedef struct {
    msgpack_object list; /* an array of the job records */
    uint32_t cap;
} s_group;

static void s_free_group(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    s_group *g = value;
    free(g->list.via.array.ptr);
    free(g);
}

/* Format 1: jobs apart from their JobSpecs, gathered in one pass. */
static int s_load_v1(assay_state *self, const msgpack_object *dump,
                     s_done *done, char *err, size_t errlen)
{
    const msgpack_object *jobs = st_get(dump, "jobs"),
                         *specs = st_get(dump, "specs");
    assay_index *by_spec = assay_index_new();
    if (!by_spec)
        return ASSAY_ENOMEM;
    int rc = 0;
    for (uint32_t i = 0; i < s_len(jobs) && !rc; i++) {
        const msgpack_object *j = &jobs->via.array.ptr[i];
        char sid[65];
        if (!st_text(j, "spec", sid, sizeof sid, false))
            continue; /* its JobSpec is not held: counted below */
        s_group *g = assay_index_get(by_spec, sid);
        if (!g && (!(g = calloc(1, sizeof *g)) ||
                   assay_index_put(by_spec, sid, g) != 0)) {
            free(g);
            rc = ASSAY_ENOMEM;
            break;
        }
        g->list.type = MSGPACK_OBJECT_ARRAY;
        if (g->list.via.array.size == g->cap) {
            uint32_t cap = g->cap ? 2 * g->cap : 4;
            msgpack_object *p = realloc(g->list.via.array.ptr,
                                        cap * sizeof *p);
            if (!p) {
                rc = ASSAY_ENOMEM;
                break;
            }
            g->list.via.array.ptr = p;
            g->cap = cap;
        }
        g->list.via.array.ptr[g->list.via.array.size++] = *j;
    }
    for (uint32_t i = 0; i < s_len(specs) && !rc; i++) {
        const msgpack_object *spec = &specs->via.array.ptr[i];
        char sid[65];
        s_group *g = st_text(spec, "id", sid, sizeof sid, false)
                         ? assay_index_get(by_spec, sid)
                         : NULL;
        rc = st_submit(self, spec, g ? &g->list : NULL, NULL, err, errlen);
    }
    assay_index_each(by_spec, s_free_group, NULL);
    assay_index_destroy(&by_spec);
    if (!rc && assay_state_job_count(self) != s_len(jobs))
        rc = assay_errf(err, errlen, ASSAY_EINVAL,
                        "snapshot: a job without its JobSpec");
    for (uint32_t i = 0; i < s_len(jobs) && !rc; i++)
        rc = s_place(self, &jobs->via.array.ptr[i], done, err, errlen);
    return rc;
}

static int s_load_v2(assay_state *self, const msgpack_object *dump,
                     s_done *done, char *err, size_t errlen)
{
    const msgpack_object *specs = st_get(dump, "specs");
    int rc = 0;
    for (uint32_t i = 0; i < s_len(specs) && !rc; i++) {
        const msgpack_object *entry = &specs->via.array.ptr[i],
                             *spec = st_get(entry, "spec"),
                             *jobs = st_get(entry, "jobs");
        char sid[65];
        /* Each JobSpec once: a second entry would place its jobs again. */
        if (st_text(spec, "id", sid, sizeof sid, false) &&
            assay_state_spec(self, sid))
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "snapshot: a JobSpec listed twice");
        if (!rc)
            rc = st_submit(self, spec, jobs, NULL, err, errlen);
        for (uint32_t k = 0; k < s_len(jobs) && !rc; k++)
            rc = s_place(self, &jobs->via.array.ptr[k], done, err, errlen);
    }
    return rc;
}

static size_t s_count_jobs(const msgpack_object *dump, int64_t v)
{
    if (v < 2)
        return s_len(st_get(dump, "jobs"));
    const msgpack_object *specs = st_get(dump, "specs");
    size_t n = 0;
    for (uint32_t i = 0; i < s_len(specs); i++)
        n += s_len(st_get(&specs->via.array.ptr[i], "jobs"));
    return n;
}

/* What the state's level does not keep goes, as applying at that level
 * would never have made it: a snapshot that says more (made by hand, or
 * one whose level was lost) must not load into a state that its own next
 * snapshot, written in the level's format, cannot carry. */
static void s_keep_level(assay_state *self)
{
    if (self->level < ASSAY_LEVEL_ATTRIBUTION)
        for (assay_spec_rec *s = self->specs_head; s; s = s->next)
            s->by_name = s->by_role = NULL;
    if (self->level < ASSAY_LEVEL_ENROLMENT)
        st_keys_clear(self->keys);
    if (self->level < ASSAY_LEVEL_PLANNER)
        st_estimates_clear(self);
    if (self->level < ASSAY_LEVEL_SCHEDULES) {
        st_scheds_clear(self->scheds);
        for (assay_spec_rec *s = self->specs_head; s; s = s->next) {
            if (*s->schedule)
                st_spec_unschedule(self, s);
            s->submitted_ms = 0;
        }
        for (assay_job *j = self->all_head; j; j = j->all_next)
            j->base = 0;
    }
}

int assay_state_unpack(assay_state *self, const msgpack_object *dump,
                       char *err, size_t errlen)
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
    s_done done = {
        .done = calloc(s_count_jobs(dump, v) + 1, sizeof(assay_job *))};
    if (!done.done)
        return ASSAY_ENOMEM;
    assay_state_event_fn ev = self->on_event;
    self->on_event = NULL; /* restoring is not news */
    /* assay.stats counts what this member applied: a restore is none. */
    uint64_t submitted = self->n_submitted;
    self->restoring = true; /* nor are its jobs submitted per action */
    st_clear(self);
    /* JobSpecs keep what this level keeps (st_submit), as applying did. */
    self->level = level;
    bool evidence = level >= ASSAY_LEVEL_EVIDENCE;
    int rc = evidence ? st_hosts_load(self, st_get(dump, "hosts"),
                                      &done.hosts, &done.n_hosts, err, errlen)
                      : 0;
    if (!rc)
        rc = v < 2 ? s_load_v1(self, dump, &done, err, errlen)
                   : s_load_v2(self, dump, &done, err, errlen);
    qsort(done.done, done.n, sizeof *done.done, s_by_end);
    for (size_t k = 0; k < done.n; k++) {
        st_place(self, done.done[k]);
        if (done.done[k]->end)
            st_stream_add(self, done.done[k]);
    }
    st_stream_sort(self);
    free(done.done);
    /* The jobs hold their own references now. */
    st_hosts_release(self, done.hosts, done.n_hosts);
    if (evidence && !rc) {
        rc = st_drift_load(self, st_get(dump, "drift"), err, errlen);
        int64_t pos = st_int(dump, "stream_pos");
        if ((uint64_t)pos > self->stream_pos)
            self->stream_pos = (uint64_t)pos;
        if (!rc)
            rc = st_consumers_load(self, st_get(dump, "consumers"), err,
                                   errlen);
    }
    const msgpack_object *rts = st_get(dump, "runtimes");
    for (uint32_t i = 0; i < s_len(rts) && !rc; i++) {
        const msgpack_object *r = &rts->via.array.ptr[i],
                             *alive = st_get(r, "alive");
        char id[64];
        rc = st_runtime_put(self, r, err, errlen);
        assay_runtime_rec *rec =
            rc ? NULL
               : assay_state_runtime(self,
                                     st_text(r, "id", id, sizeof id, false));
        if (rec)
            rec->alive = st_is(alive, MSGPACK_OBJECT_BOOLEAN) &&
                         alive->via.boolean;
    }
    const msgpack_object *lead = st_get(dump, "leader"),
                         *keys = st_get(dump, "keys");
    if (lead && !rc)
        rc = st_leader_set(self, lead, err, errlen);
    if (keys && !rc)
        rc = st_keys_load(self, keys, err, errlen);
    if (!rc)
        rc = st_estimates_load(self, st_get(dump, "estimates"), err, errlen);
    if (!rc)
        rc = st_scheds_load(self, st_get(dump, "schedules"), err, errlen);
    /* Format 1 had no levels: a state that had a leader was at level 1. */
    self->level = level ? level : self->leader ? 1 : 0;
    s_keep_level(self);
    self->n_submitted = submitted;
    self->restoring = false;
    self->on_event = ev;
    return rc;
}

int assay_state_load(assay_state *self, const json_t *dump, char *err,
                     size_t errlen)
{
    char *buf;
    size_t len;
    int rc = assay_codec_encode(dump, &buf, &len);
    if (rc)
        return rc;
    msgpack_zone *zone = msgpack_zone_new(ASSAY_CODEC_ZONE_CHUNK);
    msgpack_object obj;
    rc = zone ? assay_codec_unpack(buf, len, zone, &obj, err, errlen)
              : ASSAY_ENOMEM;
    if (!rc)
        rc = assay_state_unpack(self, &obj, err, errlen);
    if (zone)
        msgpack_zone_free(zone);
    free(buf);
    return rc;
}
