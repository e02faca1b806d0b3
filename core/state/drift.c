/* core/state/drift.c - each result compared with the previous one of the
 * same check (docs/evidence.md#drift). A check is a series (a JobSpec's
 * `series`, or the schedule it is a run of), a job's params and the host
 * it ran on (its machine id, else its runtime id); the state remembers
 * each check's last status and evidence, applied in log order on every
 * member, so every member judges alike. Bounded: at most ASSAY_DRIFT_MAX
 * checks, the one least recently seen forgotten first, and a check not
 * seen for S_KEEP_MS is forgotten as later results are applied. */
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/codec.h"
#include "base/errtext.h"

/* A check not seen for this long is forgotten: 90 days. */
#define S_KEEP_MS (90LL * 86400 * 1000)
/* Checks forgotten by age per result at most (the rest go with later
 * ones): no stall however many fell out at once. */
#define S_EVICT_BATCH 16
/* Changed evidence keys listed per result at most. */
#define S_CHANGED_MAX 32

typedef struct st_check {
    struct st_check *prev, *next; /* least recently seen first */
    int64_t at;                   /* when it was last seen */
    unsigned char *evidence;      /* [evidence map per finding], or NULL */
    uint32_t len;
    uint8_t status;
    char key[33];
} st_check;

struct st_drift {
    assay_index *by_key;
    st_check *head, *tail;
    size_t n;
};

st_drift *st_drift_new(void)
{
    st_drift *self = calloc(1, sizeof *self);
    if (self && !(self->by_key = assay_index_new())) {
        free(self);
        self = NULL;
    }
    return self;
}

void st_drift_clear(st_drift *self)
{
    for (st_check *c = self->head, *next; c; c = next) {
        next = c->next;
        assay_index_remove(self->by_key, c->key);
        free(c->evidence);
        free(c);
    }
    self->head = self->tail = NULL;
    self->n = 0;
}

void st_drift_destroy(st_drift **self_p)
{
    st_drift *self = *self_p;
    if (!self)
        return;
    st_drift_clear(self);
    assay_index_destroy(&self->by_key);
    free(self);
    *self_p = NULL;
}

size_t assay_state_drift_count(const assay_state *self)
{
    return self->drift->n;
}

static void s_unlink(st_drift *self, st_check *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        self->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        self->tail = c->prev;
    c->prev = c->next = NULL;
}

static void s_append(st_drift *self, st_check *c)
{
    c->prev = self->tail;
    if (self->tail)
        self->tail->next = c;
    else
        self->head = c;
    self->tail = c;
}

static void s_forget(st_drift *self, st_check *c)
{
    s_unlink(self, c);
    assay_index_remove(self->by_key, c->key);
    free(c->evidence);
    free(c);
    self->n--;
}

/* The status a result map says, as drift compares it (any other text,
 * or none: error). */
static uint8_t s_status(const msgpack_object *result)
{
    char text[8];
    const char *s = st_text(result, "status", text, sizeof text, false);
    if (s && !strcmp(s, "pass"))
        return ASSAY_STATUS_PASS;
    if (s && !strcmp(s, "fail"))
        return ASSAY_STATUS_FAIL;
    return ASSAY_STATUS_ERROR;
}

/* [evidence map of each finding] of a result map, packed into sb (nil
 * entries for findings without one). */
static void s_evidence(const msgpack_object *result, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    const msgpack_object *f = st_get(result, "findings");
    uint32_t n = st_is(f, MSGPACK_OBJECT_ARRAY) ? f->via.array.size : 0;
    msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *ev = st_get(&f->via.array.ptr[i], "evidence");
        if (st_is(ev, MSGPACK_OBJECT_MAP))
            msgpack_pack_object(&pk, *ev);
        else
            msgpack_pack_nil(&pk);
    }
}

typedef struct {
    msgpack_packer pk;
    msgpack_sbuffer sb;
    size_t n;
} s_changes;

static void s_changed(s_changes *c, uint32_t finding, const msgpack_object *k)
{
    if (c->n >= S_CHANGED_MAX || k->type != MSGPACK_OBJECT_STR)
        return;
    char text[128];
    int len = snprintf(text, sizeof text, "findings[%u].evidence.%.*s",
                       finding, (int)(k->via.str.size > 64 ? 64
                                                           : k->via.str.size),
                       k->via.str.ptr);
    if (len > 0) {
        assay_codec_pack_str(&c->pk, text);
        c->n++;
    }
}

static const msgpack_object *s_lookup(const msgpack_object *map,
                                      const msgpack_object *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (msgpack_object_equal(map->via.map.ptr[i].key, *key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

/* Keys whose values differ between two findings' evidence maps. */
static void s_diff_map(s_changes *c, uint32_t finding,
                       const msgpack_object *old, const msgpack_object *now)
{
    for (int side = 0; side < 2; side++) {
        const msgpack_object *a = side ? old : now, *b = side ? now : old;
        if (!a || a->type != MSGPACK_OBJECT_MAP)
            continue;
        for (uint32_t i = 0; i < a->via.map.size; i++) {
            const msgpack_object *k = &a->via.map.ptr[i].key,
                                 *other = s_lookup(b, k);
            if (side ? !other /* gone */
                     : !other || !msgpack_object_equal(a->via.map.ptr[i].val,
                                                       *other))
                s_changed(c, finding, k);
        }
    }
}

/* The evidence keys that changed between two packed evidence lists: a
 * packed array (malloc'd) in *out, NULL when none. */
static void s_diff(const unsigned char *old, size_t old_len,
                   const unsigned char *now, size_t now_len,
                   unsigned char **out, uint32_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    msgpack_unpacked a, b;
    msgpack_unpacked_init(&a);
    msgpack_unpacked_init(&b);
    size_t off = 0, off2 = 0;
    bool ok = msgpack_unpack_next(&a, (const char *)old, old_len, &off) ==
                  MSGPACK_UNPACK_SUCCESS &&
              msgpack_unpack_next(&b, (const char *)now, now_len, &off2) ==
                  MSGPACK_UNPACK_SUCCESS &&
              a.data.type == MSGPACK_OBJECT_ARRAY &&
              b.data.type == MSGPACK_OBJECT_ARRAY;
    s_changes c = {.n = 0};
    msgpack_sbuffer_init(&c.sb);
    msgpack_packer_init(&c.pk, &c.sb, msgpack_sbuffer_write);
    /* The entries first; their array's header once the count is known. */
    uint32_t na = ok ? a.data.via.array.size : 0,
             nb = ok ? b.data.via.array.size : 0;
    for (uint32_t i = 0; i < (na > nb ? na : nb); i++)
        s_diff_map(&c, i, i < na ? &a.data.via.array.ptr[i] : NULL,
                   i < nb ? &b.data.via.array.ptr[i] : NULL);
    if (c.n) {
        msgpack_sbuffer head;
        msgpack_sbuffer_init(&head);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &head, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, c.n);
        msgpack_sbuffer_write(&head, c.sb.data, c.sb.size);
        *out = (unsigned char *)head.data;
        *out_len = (uint32_t)head.size;
    }
    msgpack_sbuffer_destroy(&c.sb);
    msgpack_unpacked_destroy(&a);
    msgpack_unpacked_destroy(&b);
}

/* The result map of completed job j, decoded into `u`; NULL if none. */
static const msgpack_object *s_result(const assay_job *j, msgpack_unpacked *u)
{
    size_t off = 0;
    if (!j->result ||
        msgpack_unpack_next(u, (const char *)j->result, j->result_len,
                            &off) != MSGPACK_UNPACK_SUCCESS)
        return NULL;
    return &u->data;
}

/* Forgets checks not seen for S_KEEP_MS before `at`, a few at a time. */
static void s_age_out(st_drift *self, int64_t at)
{
    for (int i = 0; i < S_EVICT_BATCH && self->head &&
                    self->head->at < at - S_KEEP_MS;
         i++)
        s_forget(self, self->head);
}

void st_drift_judge(assay_state *self, assay_job *j)
{
    assay_end *e = j->end;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    const msgpack_object *result = NULL;
    if (j->state == ASSAY_JOB_COMPLETED) {
        result = s_result(j, &u);
        e->status = s_status(result);
    } else if (j->state == ASSAY_JOB_FAILED) {
        e->status = ASSAY_STATUS_ERROR;
    }
    const char *series = *j->spec->series ? j->spec->series
                                          : j->spec->schedule;
    if (!e->status || !*series) {
        msgpack_unpacked_destroy(&u);
        return;
    }
    const char *who = e->host && *e->host->machine_id ? e->host->machine_id
                                                      : j->runtime;
    crypto_generichash_state h;
    unsigned char d[16];
    char key[33];
    crypto_generichash_init(&h, NULL, 0, sizeof d);
    crypto_generichash_update(&h, (const unsigned char *)series,
                              strlen(series) + 1);
    crypto_generichash_update(&h, j->params, j->params_len);
    crypto_generichash_update(&h, (const unsigned char *)who, strlen(who));
    crypto_generichash_final(&h, d, sizeof d);
    sodium_bin2hex(key, sizeof key, d, sizeof d);

    msgpack_sbuffer ev;
    msgpack_sbuffer_init(&ev);
    if (result)
        s_evidence(result, &ev);
    msgpack_unpacked_destroy(&u);
    st_drift *dr = self->drift;
    st_check *c = assay_index_get(dr->by_key, key);
    if (!c) {
        e->change = ASSAY_DRIFT_NEW;
        if (!(c = calloc(1, sizeof *c)) ||
            assay_index_put(dr->by_key, key, c)) {
            free(c);
            msgpack_sbuffer_destroy(&ev);
            return;
        }
        memcpy(c->key, key, sizeof key);
        dr->n++;
    } else {
        e->previous = c->status;
        bool was = c->status == ASSAY_STATUS_PASS,
             is = e->status == ASSAY_STATUS_PASS;
        e->change = was == is ? ASSAY_DRIFT_UNCHANGED
                    : is      ? ASSAY_DRIFT_FIXED
                              : ASSAY_DRIFT_REGRESSED;
        if (c->evidence && ev.size)
            s_diff(c->evidence, c->len, (const unsigned char *)ev.data,
                   ev.size, &e->changed, &e->changed_len);
        s_unlink(dr, c);
    }
    free(c->evidence);
    c->evidence = ev.size ? (unsigned char *)ev.data : NULL;
    c->len = (uint32_t)ev.size;
    if (!ev.size)
        msgpack_sbuffer_destroy(&ev);
    c->status = e->status;
    c->at = j->ended_ms;
    s_append(dr, c);
    if (dr->n > ASSAY_DRIFT_MAX)
        s_forget(dr, dr->head);
    s_age_out(dr, j->ended_ms);
}

/* ---- Snapshots (format 7): [[key, status, at, evidence|nil]], least
 * recently seen first. ------------------------------------------------- */

void st_drift_pack(const assay_state *self, msgpack_packer *pk)
{
    const st_drift *dr = self->drift;
    msgpack_pack_array(pk, dr->n);
    for (const st_check *c = dr->head; c; c = c->next) {
        msgpack_pack_array(pk, 4);
        assay_codec_pack_str(pk, c->key);
        msgpack_pack_int64(pk, c->status);
        msgpack_pack_int64(pk, c->at);
        if (c->evidence)
            assay_codec_pack_raw(pk, c->evidence, c->len);
        else
            msgpack_pack_nil(pk);
    }
}

int st_drift_load(assay_state *self, const msgpack_object *list, char *err,
                  size_t errlen)
{
    if (!list)
        return 0;
    st_drift *dr = self->drift;
    uint32_t n = st_is(list, MSGPACK_OBJECT_ARRAY) ? list->via.array.size
                                                   : 0;
    if (!st_is(list, MSGPACK_OBJECT_ARRAY) || n > ASSAY_DRIFT_MAX)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: drift must be an array of at most %d "
                          "checks", ASSAY_DRIFT_MAX);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *r = &list->via.array.ptr[i];
        const msgpack_object *f = r->type == MSGPACK_OBJECT_ARRAY &&
                                          r->via.array.size == 4
                                      ? r->via.array.ptr
                                      : NULL;
        if (!f || f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size != 32 ||
            f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            f[1].via.u64 < 1 || f[1].via.u64 > ASSAY_STATUS_ERROR ||
            (f[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
             f[2].type != MSGPACK_OBJECT_NEGATIVE_INTEGER) ||
            (f[3].type != MSGPACK_OBJECT_ARRAY &&
             f[3].type != MSGPACK_OBJECT_NIL))
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "snapshot: drift[%u] is not [key, status, at, "
                              "evidence]", i);
        st_check *c = calloc(1, sizeof *c);
        if (!c)
            return ASSAY_ENOMEM;
        memcpy(c->key, f[0].via.str.ptr, 32);
        c->status = (uint8_t)f[1].via.u64;
        c->at = f[2].via.i64;
        if (f[3].type == MSGPACK_OBJECT_ARRAY &&
            !st_pack_copy(&f[3], &c->evidence, &c->len)) {
            free(c);
            return ASSAY_ENOMEM;
        }
        st_check *old = assay_index_get(dr->by_key, c->key);
        if (old)
            s_forget(dr, old); /* a key listed twice: the later stands */
        if (assay_index_put(dr->by_key, c->key, c)) {
            free(c->evidence);
            free(c);
            return ASSAY_ENOMEM;
        }
        s_append(dr, c);
        dr->n++;
    }
    return 0;
}
