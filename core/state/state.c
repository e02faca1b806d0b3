/* core/state/state.c - the state's records, lists, queries and events
 * (see state.h); ops are in apply.c, snapshots in snapshot.c. */
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <sodium.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "base/log.h"

/* A runtime's running jobs: registrations, deaths and assay.runtimes ask
 * for them, and walking every running job for each of 1,000 runtimes
 * was quadratic. Keyed by the job's runtime string, which need not be
 * registered (a restored snapshot lists jobs before runtimes). */
typedef struct {
    assay_job *head;
    size_t count;
    int64_t memory_mb; /* their JobSpecs' memory requests, summed */
    int64_t cpu_milli; /* and CPU requests */
} s_rt_list;

static void s_free_rt_list(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

static const char *s_state_names[] = {"queued", "running", "completed",
                                      "failed", "cancelled"};

/* Notes are capped like the fixed buffers they replaced. */
#define NOTE_MAX 255

/* How much of s[0..len) fits in max bytes without splitting a UTF-8
 * character: views and events decode what a record holds, and refuse
 * invalid UTF-8. */
static size_t s_utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

void assay_job_note(char **field, const char *text)
{
    size_t n = text ? s_utf8_cut(text, strnlen(text, NOTE_MAX + 1), NOTE_MAX)
                    : 0;
    if (*field && text && strlen(*field) == n && !strncmp(*field, text, n))
        return; /* unchanged: the planner notes the same reason often */
    free(*field);
    *field = n ? strndup(text, n) : NULL;
}

const char *assay_job_state_name(assay_job_state s)
{
    return (unsigned)s < 5 ? s_state_names[s] : "unknown";
}

int assay_job_state_parse(const char *name)
{
    for (int i = 0; name && i < 5; i++)
        if (!strcasecmp(name, s_state_names[i]))
            return i;
    return ASSAY_EINVAL;
}

const msgpack_object *st_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    const msgpack_object *found = NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            !memcmp(k->via.str.ptr, key, n))
            found = &map->via.map.ptr[i].val;
    }
    return found;
}

bool st_is(const msgpack_object *o, msgpack_object_type type)
{
    return o && o->type == type;
}

int64_t st_int(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = st_get(map, key);
    if (st_is(v, MSGPACK_OBJECT_POSITIVE_INTEGER))
        return v->via.u64 <= INT64_MAX ? (int64_t)v->via.u64 : 0;
    return st_is(v, MSGPACK_OBJECT_NEGATIVE_INTEGER) ? v->via.i64 : 0;
}

const char *st_text(const msgpack_object *map, const char *key, char *buf,
                    size_t size, bool cut)
{
    const msgpack_object *v = st_get(map, key);
    if (!st_is(v, MSGPACK_OBJECT_STR) || !size ||
        (v->via.str.size >= size && !cut))
        return NULL;
    size_t n = s_utf8_cut(v->via.str.ptr, v->via.str.size, size - 1);
    if (n)
        memcpy(buf, v->via.str.ptr, n);
    buf[n] = '\0';
    return buf;
}

void st_by_read(assay_state *self, const msgpack_object *o,
                const char **name, const char **role)
{
    const msgpack_object *by = st_get(o, "by");
    char n[128], r[64];
    *name = *role = NULL;
    if (st_is(by, MSGPACK_OBJECT_MAP) &&
        st_text(by, "name", n, sizeof n, true) && *n &&
        st_text(by, "role", r, sizeof r, true)) {
        *name = st_intern(self, n);
        *role = st_intern(self, r);
    }
}

json_t *st_json(const msgpack_object *o)
{
    json_t *j = NULL;
    return o && assay_codec_to_json(o, &j, NULL, 0) == 0 ? j : NULL;
}

/* Packs o into the state's scratch buffer. */
static const msgpack_sbuffer *s_packed(assay_state *self,
                                       const msgpack_object *o)
{
    msgpack_sbuffer_clear(&self->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &self->scratch, msgpack_sbuffer_write);
    if (o)
        msgpack_pack_object(&pk, *o);
    else
        msgpack_pack_map(&pk, 0);
    return &self->scratch;
}

assay_state *assay_state_new(assay_state_event_fn on_event, void *arg)
{
    assay_state *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->jobs = assay_index_new();
    self->specs = assay_index_new();
    self->runtimes = assay_index_new();
    self->running_on = assay_index_new();
    self->runtime_ids = json_array();
    self->strings = assay_index_new();
    self->catalogs = assay_index_new();
    self->classes = assay_index_new();
    self->estimates = assay_index_new();
    self->by[0] = assay_index_new();
    self->by[1] = assay_index_new();
    self->latency = assay_index_new();
    self->cancelled = assay_index_new();
    self->zone = msgpack_zone_new(ASSAY_CODEC_ZONE_CHUNK);
    self->empty = json_object();
    self->keys = st_keys_new();
    self->scheds = st_scheds_new();
    self->hosts = assay_index_new();
    self->stream = st_stream_new();
    self->drift = st_drift_new();
    msgpack_sbuffer_init(&self->scratch);
    self->on_event = on_event;
    self->arg = arg;
    if (!self->jobs || !self->specs || !self->runtimes || !self->runtime_ids ||
        !self->running_on || !self->strings || !self->catalogs ||
        !self->classes || !self->estimates || !self->by[0] || !self->by[1] ||
        !self->latency || !self->cancelled ||
        !self->zone || !self->empty || !self->keys ||
        !self->scheds || !self->hosts || !self->stream || !self->drift)
        assay_state_destroy(&self);
    return self;
}

static void s_free_string(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

const char *st_intern(assay_state *self, const char *s)
{
    if (!s || !*s)
        return "";
    char *v = assay_index_get(self->strings, s);
    if (!v && (v = strdup(s)) && assay_index_put(self->strings, s, v) != 0) {
        free(v);
        v = NULL;
    }
    return v;
}

/* A catalogue held once, and how many runtime records use it. */
typedef struct st_shared {
    json_t *catalog;
    size_t users;
} st_shared;

void st_catalog_share(assay_state *self, assay_runtime_rec *r)
{
    json_t *cat = json_object_get(r->info, "catalog");
    unsigned char h[16];
    char *text = cat ? json_dumps(cat, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    r->catalog_key[0] = '\0';
    if (!text)
        return; /* none, or no memory: r keeps its own */
    crypto_generichash(h, sizeof h, (const unsigned char *)text, strlen(text),
                       NULL, 0);
    free(text);
    sodium_bin2hex(r->catalog_key, sizeof r->catalog_key, h, sizeof h);
    st_shared *s = assay_index_get(self->catalogs, r->catalog_key);
    if (s) {
        json_object_set(r->info, "catalog", s->catalog);
    } else if (!(s = calloc(1, sizeof *s)) ||
               assay_index_put(self->catalogs, r->catalog_key, s) != 0) {
        free(s);
        r->catalog_key[0] = '\0';
        return;
    } else {
        s->catalog = json_incref(cat);
    }
    s->users++;
}

void st_catalog_drop(assay_state *self, assay_runtime_rec *r)
{
    st_shared *s = r->catalog_key[0]
                       ? assay_index_get(self->catalogs, r->catalog_key)
                       : NULL;
    if (s && --s->users == 0) {
        assay_index_remove(self->catalogs, r->catalog_key);
        json_decref(s->catalog);
        free(s);
    }
    r->catalog_key[0] = '\0';
}

assay_job *st_job_new(assay_state *self, assay_spec_rec *s, const char *id,
                      const msgpack_object *params)
{
    size_t n = strnlen(id, ASSAY_JOB_ID_MAX + 1);
    const msgpack_sbuffer *p = s_packed(self, params);
    assay_job *j = n <= ASSAY_JOB_ID_MAX && p->size <= UINT32_MAX
                       ? calloc(1, sizeof *j + n + 1 + p->size)
                       : NULL;
    if (!j)
        return NULL;
    memcpy(j->id, id, n);
    unsigned char *bytes = (unsigned char *)j->id + n + 1;
    memcpy(bytes, p->data, p->size);
    j->params = bytes;
    j->params_len = (uint32_t)p->size;
    j->spec = s;
    j->runtime = j->version = "";
    j->state = ASSAY_JOB_QUEUED;
    j->seq = ++self->seq;
    s->unfinished++;
    self->n_submitted++;
    st_stats_submitted(self, s);
    return j;
}

bool st_pack_copy(const msgpack_object *o, unsigned char **out,
                  uint32_t *len)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, *o) || !sb.data || sb.size > UINT32_MAX) {
        msgpack_sbuffer_destroy(&sb);
        return false;
    }
    *len = (uint32_t)sb.size;
    *out = (unsigned char *)msgpack_sbuffer_release(&sb);
    return true;
}

bool st_job_result(assay_state *self, assay_job *j,
                   const msgpack_object *result)
{
    const msgpack_sbuffer *p = s_packed(self, result);
    unsigned char *copy = p->size <= UINT32_MAX ? malloc(p->size) : NULL;
    if (!copy)
        return false;
    memcpy(copy, p->data, p->size);
    free(j->result);
    j->result = copy;
    j->result_len = (uint32_t)p->size;
    return true;
}

static void s_free_job(assay_job *j)
{
    if (j->end) /* its host's share goes with the hosts (st_clear) */
        free(j->end->changed);
    free(j->end);
    for (uint8_t i = 0; i < j->n_attempts; i++)
        free(j->attempts[i].reason);
    free(j->attempts);
    free(j->result);
    free(j->reason);
    free(j);
}

/* The key of s in posting list `by`, or NULL (none). */
static const char *s_by_key(const assay_spec_rec *s, int by)
{
    return by == ASSAY_SPECS_BY_ACTION ? s->action
           : *s->schedule              ? s->schedule
                                       : NULL;
}

/* s joins the end of its lists. Without memory for a new list it is on
 * none of that kind: queries walk past it as if it did not match. */
static void s_by_link(assay_state *self, assay_spec_rec *s)
{
    for (int by = 0; by < 2; by++) {
        const char *key = s_by_key(s, by);
        st_posting *p = key ? assay_index_get(self->by[by], key) : NULL;
        if (key && !p && (p = calloc(1, sizeof *p)) &&
            assay_index_put(self->by[by], key, p) != 0) {
            free(p);
            p = NULL;
        }
        if (!p)
            continue;
        s->by_prev[by] = p->tail;
        s->by_next[by] = NULL;
        if (p->tail)
            p->tail->by_next[by] = s;
        else
            p->head = s;
        p->tail = s;
    }
}

static void s_by_unlink(assay_state *self, assay_spec_rec *s)
{
    for (int by = 0; by < 2; by++) {
        const char *key = s_by_key(s, by);
        st_posting *p = key ? assay_index_get(self->by[by], key) : NULL;
        if (!p || (p->head != s && !s->by_prev[by]))
            continue; /* not on it */
        if (s->by_prev[by])
            s->by_prev[by]->by_next[by] = s->by_next[by];
        else
            p->head = s->by_next[by];
        if (s->by_next[by])
            s->by_next[by]->by_prev[by] = s->by_prev[by];
        else
            p->tail = s->by_prev[by];
        if (!p->head) {
            assay_index_remove(self->by[by], key);
            free(p);
        }
    }
}

void st_spec_unschedule(assay_state *self, assay_spec_rec *s)
{
    s_by_unlink(self, s);
    s->schedule = "";
    s_by_link(self, s);
}

assay_spec_rec *assay_state_specs_by(const assay_state *self, int by,
                                     const char *key)
{
    const st_posting *p = (by == 0 || by == 1) && key
                              ? assay_index_get(self->by[by], key)
                              : NULL;
    return p ? p->head : NULL;
}

assay_spec_rec *assay_state_specs(const assay_state *self)
{
    return self->specs_head;
}

static void s_free_spec(assay_state *self, assay_spec_rec *s)
{
    s_by_unlink(self, s);
    st_class_detach(self, s);
    st_sched_detach(self, s);
    json_decref(s->labels);
    json_decref(s->selector);
    st_spec_free_meta(s);
    free(s);
}

void st_spec_free_meta(assay_spec_rec *s)
{
    free(s->title);
    free(s->description);
    free(s->controls);
}

static void s_free_host(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

/* Frees runtime record r (out of the registry already). */
static void s_free_runtime(assay_state *self, assay_runtime_rec *r)
{
    st_catalog_drop(self, r);
    st_host_drop(self, &r->host);
    json_decref(r->info);
    free(r);
}

void st_clear(assay_state *self)
{
    st_scheds_clear(self->scheds);
    for (assay_job *j = self->all_head, *next; j; j = next) {
        next = j->all_next;
        assay_index_remove(self->jobs, j->id);
        s_free_job(j);
    }
    for (assay_spec_rec *s = self->specs_head, *next; s; s = next) {
        next = s->next;
        assay_index_remove(self->specs, s->id);
        s_free_spec(self, s);
    }
    self->all_head = self->all_tail = NULL;
    self->specs_head = self->specs_tail = NULL;
    self->n_jobs = self->n_specs = self->n_done = 0;
    memset(self->n_state, 0, sizeof self->n_state);
    self->level = 0;
    json_decref(self->leader);
    self->leader = NULL;
    st_keys_clear(self->keys);
    size_t i;
    json_t *id;
    json_array_foreach(self->runtime_ids, i, id) {
        assay_runtime_rec *r =
            assay_index_remove(self->runtimes, json_string_value(id));
        if (r)
            s_free_runtime(self, r);
    }
    json_array_clear(self->runtime_ids);
    /* Every job and runtime went, and with them every host's users. */
    assay_index_each(self->hosts, s_free_host, NULL);
    assay_index_destroy(&self->hosts);
    self->hosts = assay_index_new();
    st_stream_clear(self->stream);
    st_drift_clear(self->drift);
    self->stream_pos = 0;
    self->n_consumers = 0;
    /* Every job went, and what they interned with them. */
    assay_index_each(self->strings, s_free_string, NULL);
    assay_index_destroy(&self->strings);
    self->strings = assay_index_new();
    st_classes_clear(self);
    st_estimates_clear(self);
    self->running = self->done = (st_list){0};
    self->heap_len = 0;
    assay_index_each(self->running_on, s_free_rt_list, NULL);
    assay_index_destroy(&self->running_on);
    self->running_on = assay_index_new();
}

void assay_state_destroy(assay_state **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_state *self = *self_p;
    if (self->jobs && self->specs && self->runtimes && self->runtime_ids &&
        self->running_on && self->strings && self->catalogs && self->keys &&
        self->classes && self->estimates && self->scheds && self->by[0] &&
        self->by[1] && self->latency && self->cancelled && self->hosts &&
        self->stream && self->drift)
        st_clear(self);
    st_stream_destroy(&self->stream);
    st_drift_destroy(&self->drift);
    assay_index_each(self->hosts, s_free_host, NULL);
    assay_index_destroy(&self->hosts);
    st_keys_destroy(&self->keys);
    st_scheds_destroy(&self->scheds);
    assay_index_each(self->strings, s_free_string, NULL);
    assay_index_destroy(&self->strings);
    if (self->zone)
        msgpack_zone_free(self->zone);
    json_decref(self->empty);
    msgpack_sbuffer_destroy(&self->scratch);
    free(self->heap);
    assay_index_each(self->running_on, s_free_rt_list, NULL);
    assay_index_destroy(&self->running_on);
    assay_index_destroy(&self->catalogs); /* emptied by st_clear */
    assay_index_destroy(&self->classes);  /* so too */
    assay_index_destroy(&self->estimates); /* so too */
    assay_index_destroy(&self->by[0]);     /* so too: with the JobSpecs */
    assay_index_destroy(&self->by[1]);
    st_stats_clear(self);
    assay_index_destroy(&self->latency);
    assay_index_destroy(&self->cancelled);
    assay_index_destroy(&self->jobs);
    assay_index_destroy(&self->specs);
    assay_index_destroy(&self->runtimes);
    json_decref(self->runtime_ids);
    free(self);
    *self_p = NULL;
}

/* ---- Lists ------------------------------------------------------------- */

void st_list_append(st_list *l, assay_job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
}

void st_list_unlink(st_list *l, assay_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
}

bool st_rt_link(assay_state *self, assay_job *j)
{
    if (!self->running_on)
        return false;
    s_rt_list *l = assay_index_get(self->running_on, j->runtime);
    if (!l) {
        if (!(l = calloc(1, sizeof *l)) ||
            assay_index_put(self->running_on, j->runtime, l) != 0) {
            free(l);
            return false;
        }
    }
    j->rt_prev = NULL;
    j->rt_next = l->head;
    if (l->head)
        l->head->rt_prev = j;
    l->head = j;
    l->count++;
    l->memory_mb += j->spec->memory_mb;
    l->cpu_milli += j->spec->cpu_milli;
    return true;
}

static void s_rt_unlink(assay_state *self, assay_job *j)
{
    s_rt_list *l = self->running_on
                       ? assay_index_get(self->running_on, j->runtime)
                       : NULL;
    if (!l)
        return;
    if (j->rt_prev)
        j->rt_prev->rt_next = j->rt_next;
    else if (l->head == j)
        l->head = j->rt_next;
    else
        return; /* never linked (out of memory when it started) */
    if (j->rt_next)
        j->rt_next->rt_prev = j->rt_prev;
    j->rt_prev = j->rt_next = NULL;
    l->memory_mb -= j->spec->memory_mb;
    l->cpu_milli -= j->spec->cpu_milli;
    if (!--l->count)
        free(assay_index_remove(self->running_on, j->runtime));
}

int64_t assay_state_reserved_mb(const assay_state *self, const char *id)
{
    s_rt_list *l = id && self->running_on
                       ? assay_index_get(self->running_on, id)
                       : NULL;
    return l ? l->memory_mb : 0;
}

int64_t assay_state_reserved_cpu(const assay_state *self, const char *id)
{
    s_rt_list *l = id && self->running_on
                       ? assay_index_get(self->running_on, id)
                       : NULL;
    return l ? l->cpu_milli : 0;
}

assay_job *assay_state_running_on(const assay_state *self, const char *id,
                                  size_t *count)
{
    s_rt_list *l = id && self->running_on
                       ? assay_index_get(self->running_on, id)
                       : NULL;
    if (count)
        *count = l ? l->count : 0;
    return l ? l->head : NULL;
}

void st_enqueue(assay_state *self, assay_job *j)
{
    self->n_state[ASSAY_JOB_QUEUED]++;
    st_class_push(self, j);
}

static bool s_terminal(assay_job_state st)
{
    return st != ASSAY_JOB_QUEUED && st != ASSAY_JOB_RUNNING;
}

/* ---- The expiry heap ------------------------------------------------------ */

int64_t st_expiry(const assay_job *j)
{
    return j->ended_ms + j->spec->retain_ms;
}

static void s_heap_set(assay_state *self, size_t i, assay_job *j)
{
    self->heap[i] = j;
    j->heap_pos = (uint32_t)i;
}

static void s_heap_up(assay_state *self, size_t i)
{
    assay_job *j = self->heap[i];
    while (i > 0 && st_expiry(self->heap[(i - 1) / 2]) > st_expiry(j)) {
        s_heap_set(self, i, self->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    s_heap_set(self, i, j);
}

static void s_heap_down(assay_state *self, size_t i)
{
    assay_job *j = self->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= self->heap_len)
            break;
        if (c + 1 < self->heap_len &&
            st_expiry(self->heap[c + 1]) < st_expiry(self->heap[c]))
            c++;
        if (st_expiry(self->heap[c]) >= st_expiry(j))
            break;
        s_heap_set(self, i, self->heap[c]);
        i = c;
    }
    s_heap_set(self, i, j);
}

static bool s_heap_push(assay_state *self, assay_job *j)
{
    if (self->heap_len == self->heap_cap) {
        size_t cap = self->heap_cap ? self->heap_cap * 2 : 64;
        assay_job **h = cap <= UINT32_MAX ? realloc(self->heap,
                                                    cap * sizeof *h)
                                          : NULL;
        if (!h)
            return false;
        self->heap = h;
        self->heap_cap = cap;
    }
    self->heap[self->heap_len] = j;
    s_heap_up(self, self->heap_len++);
    return true;
}

static void s_heap_remove(assay_state *self, assay_job *j)
{
    size_t i = j->heap_pos;
    if (i >= self->heap_len || self->heap[i] != j)
        return; /* never pushed (out of memory when it ended) */
    assay_job *last = self->heap[--self->heap_len];
    if (last == j)
        return;
    s_heap_set(self, i, last);
    s_heap_up(self, i);
    s_heap_down(self, last->heap_pos);
}

/* Terminal: on the heap with its JobSpec's own retention, else on the
 * retention list. Out of memory for the heap: on the list. */
static void s_done_add(assay_state *self, assay_job *j)
{
    self->n_state[j->state]++;
    j->spec->unfinished--;
    if (j->spec->retain_ms > 0 && s_heap_push(self, j))
        return;
    st_list_append(&self->done, j);
    self->n_done++;
}

void st_leave(assay_state *self, assay_job *j)
{
    self->n_state[j->state]--;
    if (j->state == ASSAY_JOB_QUEUED)
        st_class_pull(self, j);
    else if (j->state == ASSAY_JOB_RUNNING) {
        st_list_unlink(&self->running, j);
        s_rt_unlink(self, j);
    } else if (j->spec->retain_ms > 0 && j->heap_pos < self->heap_len &&
               self->heap[j->heap_pos] == j) {
        s_heap_remove(self, j);
    } else {
        st_list_unlink(&self->done, j);
        self->n_done--;
    }
}

void st_finish(assay_state *self, assay_job *j, assay_job_state st,
               int64_t at)
{
    j->state = st;
    j->ended_ms = at;
    s_done_add(self, j);
    self->n_ended++;
    st_stats_ended(self, j);
    if (self->level >= ASSAY_LEVEL_EVIDENCE)
        st_end_begin(self, j);
    if (!j->spec->unfinished && j->spec->sched)
        st_sched_run_ended(self, j->spec, at);
}

void st_reopen(assay_state *self, assay_job *j)
{
    st_end_free(self, j); /* it ends again, at a new position */
    if (!j->spec->unfinished++ && j->spec->sched)
        j->spec->sched->n_active++;
}

bool st_place(assay_state *self, assay_job *j)
{
    if (j->state == ASSAY_JOB_QUEUED)
        st_enqueue(self, j);
    else if (j->state == ASSAY_JOB_RUNNING)
        return st_run(self, j);
    else
        s_done_add(self, j);
    return true;
}

bool st_run(assay_state *self, assay_job *j)
{
    st_list_append(&self->running, j);
    self->n_state[ASSAY_JOB_RUNNING]++;
    return st_rt_link(self, j);
}

size_t assay_state_count(const assay_state *self, assay_job_state st)
{
    return (unsigned)st <= ASSAY_JOB_CANCELLED ? self->n_state[st] : 0;
}

void st_add_spec(assay_state *self, assay_spec_rec *s)
{
    assay_index_put(self->specs, s->id, s);
    s->prev = self->specs_tail;
    s->next = NULL;
    if (self->specs_tail)
        self->specs_tail->next = s;
    else
        self->specs_head = s;
    self->specs_tail = s;
    self->n_specs++;
    s_by_link(self, s);
}

void st_add_job(assay_state *self, assay_job *j)
{
    assay_index_put(self->jobs, j->id, j);
    j->all_prev = self->all_tail;
    j->all_next = NULL;
    if (self->all_tail)
        self->all_tail->all_next = j;
    else
        self->all_head = j;
    self->all_tail = j;
    if (!j->spec->first)
        j->spec->first = j;
    j->spec->live++;
    self->n_jobs++;
}

assay_job *assay_spec_jobs(const assay_spec_rec *s) { return s->first; }

assay_job *assay_spec_next(const assay_job *j)
{
    return j->all_next && j->all_next->spec == j->spec ? j->all_next : NULL;
}

json_t *assay_spec_job_ids(const assay_spec_rec *s)
{
    json_t *ids = json_array();
    for (const assay_job *j = s->first; ids && j; j = assay_spec_next(j))
        json_array_append_new(ids, json_string(j->id));
    return ids;
}

void st_forget(assay_state *self, assay_job *j)
{
    if (j->spec->first == j)
        j->spec->first = assay_spec_next(j);
    st_leave(self, j);
    assay_index_remove(self->jobs, j->id);
    if (j->all_prev)
        j->all_prev->all_next = j->all_next;
    else
        self->all_head = j->all_next;
    if (j->all_next)
        j->all_next->all_prev = j->all_prev;
    else
        self->all_tail = j->all_prev;
    self->n_jobs--;
    assay_spec_rec *s = j->spec;
    st_end_free(self, j);
    s_free_job(j);
    if (--s->live)
        return;
    assay_index_remove(self->specs, s->id);
    if (s->prev)
        s->prev->next = s->next;
    else
        self->specs_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        self->specs_tail = s->prev;
    self->n_specs--;
    s_free_spec(self, s);
}

/* ---- Attempts ------------------------------------------------------------ */

bool st_attempt_begin(assay_state *self, assay_job *j, int64_t at,
                      const char *runtime)
{
    const char *rt = st_intern(self, runtime);
    if (!rt)
        return false;
    if (j->n_attempts == ASSAY_ATTEMPTS_MAX) { /* keep the latest */
        free(j->attempts[0].reason);
        memmove(j->attempts, j->attempts + 1,
                (ASSAY_ATTEMPTS_MAX - 1) * sizeof *j->attempts);
        j->n_attempts--;
    }
    assay_attempt *a = realloc(j->attempts,
                               (j->n_attempts + 1u) * sizeof *a);
    if (!a)
        return false;
    j->attempts = a;
    a[j->n_attempts++] = (assay_attempt){
        .start_ms = at, .runtime = rt, .outcome = ASSAY_JOB_RUNNING};
    return true;
}

void st_attempt_end(assay_job *j, int64_t at, assay_job_state outcome,
                    const char *reason)
{
    if (!j->n_attempts)
        return;
    assay_attempt *a = &j->attempts[j->n_attempts - 1];
    if (a->outcome != ASSAY_JOB_RUNNING)
        return;
    a->end_ms = at;
    a->outcome = outcome;
    assay_job_note(&a->reason, reason);
}

/* ---- Queries ------------------------------------------------------------- */

assay_job *assay_state_running(const assay_state *self)
{
    return self->running.head;
}

assay_job *assay_state_done(const assay_state *self, size_t *count)
{
    if (count)
        *count = self->n_done;
    return self->done.head;
}

assay_job *assay_state_done_newest(const assay_state *self)
{
    return self->done.tail;
}

assay_job *assay_state_jobs(const assay_state *self) { return self->all_head; }

size_t assay_state_job_count(const assay_state *self) { return self->n_jobs; }

size_t assay_state_spec_count(const assay_state *self)
{
    return self->n_specs;
}

int64_t assay_state_level(const assay_state *self)
{
    return self->level ? self->level : 1;
}

assay_job *assay_state_job(const assay_state *self, const char *id)
{
    return id ? assay_index_get(self->jobs, id) : NULL;
}

assay_spec_rec *assay_state_spec(const assay_state *self, const char *id)
{
    return id ? assay_index_get(self->specs, id) : NULL;
}

assay_runtime_rec *assay_state_runtime(const assay_state *self,
                                       const char *id)
{
    return id ? assay_index_get(self->runtimes, id) : NULL;
}

const json_t *assay_state_runtime_ids(const assay_state *self)
{
    return self->runtime_ids;
}

assay_runtime_rec *assay_state_runtime_at(const assay_state *self,
                                          size_t pos)
{
    const char *id = json_string_value(json_array_get(self->runtime_ids, pos));
    return id ? assay_index_get(self->runtimes, id) : NULL;
}

const json_t *assay_state_leader(const assay_state *self)
{
    return self->leader;
}

/* Cancellations the leader has not looked at, at most: a member that
 * does not lead lets them go. */
#define CANCELLED_MAX 262144

void st_note_cancelled(assay_state *self, const assay_job *j)
{
    if (assay_index_size(self->cancelled) >= CANCELLED_MAX) {
        assay_index_destroy(&self->cancelled);
        self->cancelled = assay_index_new();
    }
    if (self->cancelled)
        assay_index_put(self->cancelled, j->id, self);
}

typedef struct {
    assay_state *st;
    void (*fn)(void *arg, const assay_job *j);
    void *arg;
} s_drain;

static void s_drain_one(const char *key, void *value, void *arg)
{
    (void)value;
    s_drain *d = arg;
    const assay_job *j = assay_state_job(d->st, key);
    if (j && j->state == ASSAY_JOB_CANCELLED)
        d->fn(d->arg, j);
}

void assay_state_cancelled_drain(assay_state *self,
                                 void (*fn)(void *arg, const assay_job *j),
                                 void *arg)
{
    if (!self->cancelled || !assay_index_size(self->cancelled))
        return;
    assay_index *list = self->cancelled;
    self->cancelled = assay_index_new();
    if (fn)
        assay_index_each(list, s_drain_one,
                         &(s_drain){.st = self, .fn = fn, .arg = arg});
    assay_index_destroy(&list);
}

void assay_state_reset_marks(assay_state *self)
{
    for (assay_job *j = self->all_head; j; j = j->all_next) {
        j->lease_ms = 0;
        j->dispatching = false;
        j->reported = false;
    }
    st_classes_reset_marks(self);
    size_t i;
    json_t *id;
    json_array_foreach(self->runtime_ids, i, id) {
        assay_runtime_rec *r =
            assay_index_get(self->runtimes, json_string_value(id));
        if (r)
            r->dead_seen_ms = 0;
    }
}

void st_runtime_forget(assay_state *self, assay_runtime_rec *r)
{
    st_runtime_event(self, r, ASSAY_EV_RUNTIME_GONE);
    assay_index_remove(self->runtimes, r->id);
    json_array_remove(self->runtime_ids, r->pos);
    for (size_t i = r->pos; i < json_array_size(self->runtime_ids); i++) {
        assay_runtime_rec *o = assay_index_get(
            self->runtimes,
            json_string_value(json_array_get(self->runtime_ids, i)));
        if (o)
            o->pos = i;
    }
    s_free_runtime(self, r);
}

/* ---- Events ------------------------------------------------------------ */

static const char *s_outcome(const assay_attempt *at)
{
    return at->outcome == ASSAY_JOB_QUEUED ? "requeued"
                                           : assay_job_state_name(at->outcome);
}

void st_attempts_pack(msgpack_packer *pk, const assay_job *j)
{
    msgpack_pack_array(pk, j->n_attempts);
    for (uint8_t i = 0; i < j->n_attempts; i++) {
        const assay_attempt *at = &j->attempts[i];
        msgpack_pack_map(pk, at->reason ? 5 : 4);
        assay_codec_pack_str(pk, "runtime");
        assay_codec_pack_str(pk, at->runtime ? at->runtime : "");
        assay_codec_pack_str(pk, "start_ms");
        msgpack_pack_int64(pk, at->start_ms);
        assay_codec_pack_str(pk, "end_ms");
        msgpack_pack_int64(pk, at->end_ms);
        assay_codec_pack_str(pk, "outcome");
        assay_codec_pack_str(pk, s_outcome(at));
        if (at->reason) {
            assay_codec_pack_str(pk, "reason");
            assay_codec_pack_str(pk, at->reason);
        }
    }
}

bool st_attempts_load(assay_state *self, assay_job *j,
                      const msgpack_object *list)
{
    if (!list)
        return true;
    if (!st_is(list, MSGPACK_OBJECT_ARRAY) ||
        list->via.array.size > ASSAY_ATTEMPTS_MAX)
        return false;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        char out[16], rt[256], why[1024];
        const char *name = st_text(o, "outcome", out, sizeof out, false);
        int st = name && !strcmp(name, "requeued")
                     ? (int)ASSAY_JOB_QUEUED
                     : assay_job_state_parse(name);
        if (st < 0 || !st_text(o, "runtime", rt, sizeof rt, false) ||
            !st_attempt_begin(self, j, st_int(o, "start_ms"), rt))
            return false;
        if (st != ASSAY_JOB_RUNNING)
            st_attempt_end(j, st_int(o, "end_ms"), st,
                           st_text(o, "reason", why, sizeof why, true));
    }
    return true;
}

/* A kept value as JSON (new). */
static json_t *s_value_json(const unsigned char *bytes, size_t len)
{
    json_t *v = NULL;
    return assay_codec_decode(bytes, len, &v, NULL, 0) == 0 ? v : NULL;
}

/* What a packer over sb holds, as JSON (new); sb is destroyed. */
static json_t *s_packed_json(msgpack_sbuffer *sb)
{
    json_t *o = s_value_json((const unsigned char *)sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);
    return o;
}

json_t *assay_job_json(const assay_job *j, unsigned what)
{
    const char *note = j->state == ASSAY_JOB_QUEUED
                           ? j->spec->placement->waiting
                           : NULL;
    bool waiting = note,
         history = (what & ASSAY_JOB_HISTORY) && s_terminal(j->state);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    st_job_view_pack(&pk, j, what & ASSAY_JOB_RESULT,
                     waiting + 2 * history);
    if (waiting)
        assay_codec_pack_kv_str(&pk, "waiting", note);
    if (history) {
        assay_codec_pack_kv_int(&pk, "ended_ms", j->ended_ms);
        assay_codec_pack_str(&pk, "attempts");
        st_attempts_pack(&pk, j);
    }
    return s_packed_json(&sb);
}

void assay_state_set_wants(assay_state *self, assay_state_wants_fn wants)
{
    self->wants = wants;
}

/* Whether to build an event body for `topic`: only when someone wants it. */
static bool s_wanted(const assay_state *self, const char *topic)
{
    return !self->wants || self->wants(self->arg, topic);
}

void st_spec_pack(msgpack_packer *pk, const assay_spec_rec *s, int version)
{
    bool by = version >= 3 && s->by_name;
    st_spec_fields_pack(pk, &(assay_cmd_spec){
                                .id = s->id,
                                .action = s->action,
                                .version = s->version,
                                .resolved = s->resolved,
                                .labels = s->labels,
                                .selector = s->selector,
                                .timeout_ms = s->timeout_ms,
                                .max_attempts = s->max_attempts,
                                .priority = s->priority,
                                .memory_mb = s->memory_mb,
                                .cpu_milli = version >= 5 ? s->cpu_milli : 0,
                                .pack = version >= 5 && s->pack,
                                .retain_seconds = s->retain_ms / 1000,
                                .by_name = by ? s->by_name : NULL,
                                .by_role = by ? s->by_role : NULL,
                                .schedule = version >= 6 ? s->schedule
                                                         : NULL,
                                .submitted_ms =
                                    version >= 6 ? s->submitted_ms : 0,
                                .title = version >= 7 ? s->title : NULL,
                                .description =
                                    version >= 7 ? s->description : NULL,
                                .series = version >= 7 ? s->series : NULL,
                                .controls_raw =
                                    version >= 7 ? s->controls : NULL,
                                .controls_raw_len = s->controls_len});
}

json_t *assay_spec_json(const assay_spec_rec *s)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    st_spec_pack(&pk, s, ASSAY_STATE_VERSION);
    return s_packed_json(&sb);
}

void st_job_view_pack(msgpack_packer *pk, const assay_job *j, bool result,
                      size_t extra)
{
    result = result && j->result;
    msgpack_pack_map(pk, 10 + !!j->reason + result + !!j->spec->by_name +
                             assay_end_fields(j) + extra);
    assay_codec_pack_kv_str(pk, "id", j->id);
    assay_codec_pack_kv_str(pk, "spec", j->spec->id);
    assay_codec_pack_kv_str(pk, "action", j->spec->action);
    assay_codec_pack_kv_str(pk, "state", assay_job_state_name(j->state));
    assay_codec_pack_kv_int(pk, "attempt", j->attempt);
    assay_codec_pack_kv_int(pk, "max_attempts", j->spec->max_attempts);
    assay_codec_pack_kv_str(pk, "runtime", j->runtime);
    assay_codec_pack_kv_str(pk, "version", j->version);
    assay_codec_pack_kv_json(pk, "labels", j->spec->labels);
    assay_codec_pack_kv_int(pk, "priority", j->spec->priority);
    if (j->reason)
        assay_codec_pack_kv_str(pk, "reason", j->reason);
    if (j->spec->by_name) {
        assay_codec_pack_str(pk, "submitted_by");
        msgpack_pack_map(pk, 2);
        assay_codec_pack_kv_str(pk, "name", j->spec->by_name);
        assay_codec_pack_kv_str(pk, "role", j->spec->by_role);
    }
    if (result) {
        assay_codec_pack_str(pk, "result");
        assay_codec_pack_raw(pk, j->result, j->result_len);
    }
    assay_end_pack(pk, j);
}

/* A new packer over the state's scratch buffer, emptied. */
static void s_scratch_packer(assay_state *self, msgpack_packer *pk)
{
    msgpack_sbuffer_clear(&self->scratch);
    msgpack_packer_init(pk, &self->scratch, msgpack_sbuffer_write);
}

/* Publishes `topic` with the body in the scratch buffer, or without one
 * when nobody wants it. */
static void s_publish(assay_state *self, const char *topic, bool built)
{
    bool want = built && s_wanted(self, topic);
    self->on_event(self->arg, topic, want ? self->scratch.data : NULL,
                   want ? self->scratch.size : 0);
}

void st_job_event(assay_state *self, const char *topic, assay_job *j)
{
    if (!self->on_event)
        return;
    /* A change of a check's outcome is news of its own, with the same
     * body: an alert hook subscribes to these alone (docs/evidence.md). */
    int change = j->end ? j->end->change : 0;
    const char *news = change == ASSAY_DRIFT_REGRESSED
                           ? ASSAY_EV_FINDING_REGRESSED
                       : change == ASSAY_DRIFT_FIXED ? ASSAY_EV_FINDING_FIXED
                                                     : NULL;
    bool build = s_wanted(self, topic) || (news && s_wanted(self, news));
    /* Transitions on the way are frequent and small; the full record
     * (labels, result, evidence) goes with the end states only. The
     * attempt history stays out: building it for every completion cost a
     * quarter of a member's throughput (docs/benchmarks.md); assay.job
     * shows it. Packed straight from the record: no JSON tree per event. */
    msgpack_packer pk;
    s_scratch_packer(self, &pk);
    if (build && s_terminal(j->state)) {
        st_job_view_pack(&pk, j, true, 0);
    } else if (build) {
        msgpack_pack_map(&pk, 6);
        assay_codec_pack_kv_str(&pk, "id", j->id);
        assay_codec_pack_kv_str(&pk, "spec", j->spec->id);
        assay_codec_pack_kv_str(&pk, "state", assay_job_state_name(j->state));
        assay_codec_pack_kv_int(&pk, "attempt", j->attempt);
        assay_codec_pack_kv_str(&pk, "runtime", j->runtime);
        assay_codec_pack_kv_str(&pk, "version", j->version);
    }
    s_publish(self, topic, build);
    if (news)
        s_publish(self, news, build);
}

void st_runtime_event(assay_state *self, assay_runtime_rec *r,
                      const char *topic)
{
    if (!self->on_event)
        return;
    if (!topic)
        topic = r->alive ? ASSAY_EV_RUNTIME_ALIVE : ASSAY_EV_RUNTIME_DEAD;
    if (!s_wanted(self, topic)) {
        self->on_event(self->arg, topic, NULL, 0);
        return;
    }
    msgpack_packer pk;
    s_scratch_packer(self, &pk);
    msgpack_pack_map(&pk, 3);
    assay_codec_pack_kv_str(&pk, "id", r->id);
    assay_codec_pack_str(&pk, "alive");
    if (r->alive)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    assay_codec_pack_kv_int(&pk, "heartbeat_ms", r->heartbeat_ms);
    self->on_event(self->arg, topic, self->scratch.data, self->scratch.size);
}
