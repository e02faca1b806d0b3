/* core/state/enrolment.c - enrolment tokens and the keys they enrolled
 * (docs/security.md#enrolment), replicated so that every member lets in
 * a key any leader enrolled, and a token is used once cluster-wide.
 *
 * A token is held as the BLAKE2b hash of its secret (the secret never
 * enters the log), with the name and role the key it enrols gets and
 * when it expires; at most one per name (a new one replaces it). An
 * enrolled key is {name, role, key}: each member writes it into its
 * allow-list (member/enrolled.c). Both are bounded: tokens by count and
 * expiry (expired ones fall out at the next token op), enrolled keys by
 * count and revocation ("unenrol"). */
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "base/ident.h"

struct st_keys {
    assay_index *tokens;   /* name -> assay_token_rec */
    assay_index *enrolled; /* name -> assay_enrolled_rec */
    assay_index *by_key;   /* key -> assay_enrolled_rec */
    uint64_t gen;          /* bumped by every change it holds */
};

st_keys *st_keys_new(void)
{
    st_keys *self = calloc(1, sizeof *self);
    if (self && (!(self->tokens = assay_index_new()) ||
                 !(self->enrolled = assay_index_new()) ||
                 !(self->by_key = assay_index_new())))
        st_keys_destroy(&self);
    return self;
}

static void s_free(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void st_keys_destroy(st_keys **self_p)
{
    if (!self_p || !*self_p)
        return;
    st_keys *self = *self_p;
    assay_index_each(self->tokens, s_free, NULL);
    assay_index_each(self->enrolled, s_free, NULL);
    assay_index_destroy(&self->tokens);
    assay_index_destroy(&self->enrolled);
    assay_index_destroy(&self->by_key);
    free(self);
    *self_p = NULL;
}

bool assay_enrol_role(const char *role)
{
    static const char *const ok[] = {"runtime", "submit", "read", "admin"};
    for (size_t i = 0; role && i < sizeof ok / sizeof *ok; i++)
        if (!strcmp(role, ok[i]))
            return true;
    return false;
}

/* ---- lists, sorted by name (snapshots and views do not depend on a
 * hash table's history) ------------------------------------------------ */

typedef struct {
    const void **v;
    size_t n;
} s_list;

static void s_collect(const char *key, void *value, void *arg)
{
    (void)key;
    s_list *l = arg;
    l->v[l->n++] = value;
}

/* The names are each record's first field. */
static int s_by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static s_list s_sorted(const assay_index *idx)
{
    s_list l = {calloc(assay_index_size(idx) + 1, sizeof(void *)), 0};
    if (l.v) {
        assay_index_each(idx, s_collect, &l);
        qsort(l.v, l.n, sizeof *l.v, s_by_name);
    }
    return l;
}

void st_keys_clear(st_keys *self)
{
    s_list t = s_sorted(self->tokens), e = s_sorted(self->enrolled);
    for (size_t i = 0; i < t.n; i++)
        free(assay_index_remove(self->tokens,
                                ((const assay_token_rec *)t.v[i])->name));
    for (size_t i = 0; i < e.n; i++) {
        const assay_enrolled_rec *r = e.v[i];
        assay_index_remove(self->by_key, r->key);
        free(assay_index_remove(self->enrolled, r->name));
    }
    free(t.v);
    free(e.v);
    self->gen++;
}

static void s_pack_by(msgpack_packer *pk, const char *by_name,
                      const char *by_role)
{
    if (by_name && *by_name)
        st_by_pack(pk, by_name, by_role);
}

static void s_token_pack(msgpack_packer *pk, const assay_token_rec *t)
{
    msgpack_pack_map(pk, 5 + !!*t->by_name);
    assay_codec_pack_kv_str(pk, "name", t->name);
    assay_codec_pack_kv_str(pk, "role", t->role);
    assay_codec_pack_kv_str(pk, "hash", t->hash);
    assay_codec_pack_kv_int(pk, "expires_ms", t->expires_ms);
    assay_codec_pack_kv_int(pk, "at", t->at_ms);
    s_pack_by(pk, t->by_name, t->by_role);
}

static void s_enrolled_pack(msgpack_packer *pk, const assay_enrolled_rec *e)
{
    msgpack_pack_map(pk, 4 + !!*e->by_name);
    assay_codec_pack_kv_str(pk, "name", e->name);
    assay_codec_pack_kv_str(pk, "role", e->role);
    assay_codec_pack_kv_str(pk, "key", e->key);
    assay_codec_pack_kv_int(pk, "at", e->at_ms);
    s_pack_by(pk, e->by_name, e->by_role);
}

int st_keys_pack(const st_keys *self, msgpack_packer *pk)
{
    s_list t = s_sorted(self->tokens), e = s_sorted(self->enrolled);
    int rc = t.v && e.v ? 0 : ASSAY_ENOMEM;
    if (!rc) {
        msgpack_pack_map(pk, 2);
        assay_codec_pack_str(pk, "tokens");
        msgpack_pack_array(pk, t.n);
        for (size_t i = 0; i < t.n; i++)
            s_token_pack(pk, t.v[i]);
        assay_codec_pack_str(pk, "enrolled");
        msgpack_pack_array(pk, e.n);
        for (size_t i = 0; i < e.n; i++)
            s_enrolled_pack(pk, e.v[i]);
    }
    free(t.v);
    free(e.v);
    return rc;
}

/* ---- records from commands and snapshots ------------------------------ */

static bool s_hex_hash(const char *h)
{
    if (!h || strlen(h) != 2 * ASSAY_TOKEN_HASH_BYTES)
        return false;
    for (; *h; h++)
        if (!strchr("0123456789abcdef", *h))
            return false;
    return true;
}

/* A Z85 CURVE public key. */
static bool s_z85(const char *k)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
                              "KLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    return k && strlen(k) == 40 && strspn(k, z85) == 40;
}

static void s_by(assay_state *self, const msgpack_object *o,
                 const char **name, const char **role)
{
    st_by_read(self, o, name, role);
    if (!*name)
        *name = *role = "";
}

/* A token record of a "token" command or a snapshot. */
static int s_token_read(assay_state *self, const msgpack_object *o,
                        assay_token_rec *t, const char *what, char *err,
                        size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!st_text(o, "name", t->name, sizeof t->name, false) ||
        !assay_ident_valid(t->name, sizeof t->name - 1) ||
        !st_text(o, "role", t->role, sizeof t->role, false) ||
        !assay_enrol_role(t->role) ||
        !st_text(o, "hash", t->hash, sizeof t->hash, false) ||
        !s_hex_hash(t->hash) ||
        (t->expires_ms = st_int(o, "expires_ms")) <= 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: a token needs a name (an identifier of at "
                          "most %zu bytes), a role (runtime, submit, read "
                          "or admin), a hash (%d hex digits) and "
                          "expires_ms",
                          what, sizeof t->name - 1,
                          2 * ASSAY_TOKEN_HASH_BYTES);
    t->at_ms = st_int(o, "at");
    s_by(self, o, &t->by_name, &t->by_role);
    return t->by_name ? 0 : ASSAY_ENOMEM;
}

static int s_enrolled_read(assay_state *self, const msgpack_object *o,
                           assay_enrolled_rec *e, const char *what,
                           char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    if (!st_text(o, "name", e->name, sizeof e->name, false) ||
        !assay_ident_valid(e->name, sizeof e->name - 1) ||
        !st_text(o, "role", e->role, sizeof e->role, false) ||
        !assay_enrol_role(e->role) ||
        !st_text(o, "key", e->key, sizeof e->key, false) || !s_z85(e->key))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: an enrolled key needs a name, a role "
                          "(runtime, submit, read or admin) and a key (40 "
                          "characters of Z85)",
                          what);
    e->at_ms = st_int(o, "at");
    s_by(self, o, &e->by_name, &e->by_role);
    return e->by_name ? 0 : ASSAY_ENOMEM;
}

static int s_token_put(st_keys *self, const assay_token_rec *t)
{
    assay_token_rec *copy = malloc(sizeof *copy);
    if (!copy)
        return ASSAY_ENOMEM;
    *copy = *t;
    free(assay_index_remove(self->tokens, t->name));
    if (assay_index_put(self->tokens, t->name, copy)) {
        free(copy);
        return ASSAY_ENOMEM;
    }
    return 0;
}

static int s_enrolled_put(st_keys *self, const assay_enrolled_rec *e)
{
    assay_enrolled_rec *copy = malloc(sizeof *copy);
    if (!copy)
        return ASSAY_ENOMEM;
    *copy = *e;
    if (assay_index_put(self->enrolled, e->name, copy)) {
        free(copy);
        return ASSAY_ENOMEM;
    }
    if (assay_index_put(self->by_key, e->key, copy)) {
        assay_index_remove(self->enrolled, e->name);
        free(copy);
        return ASSAY_ENOMEM;
    }
    return 0;
}

int st_keys_load(assay_state *self, const msgpack_object *keys, char *err,
                 size_t errlen)
{
    const msgpack_object *t = st_get(keys, "tokens"),
                         *e = st_get(keys, "enrolled");
    int rc = 0;
    for (uint32_t i = 0; st_is(t, MSGPACK_OBJECT_ARRAY) &&
                         i < t->via.array.size && !rc;
         i++) {
        assay_token_rec rec;
        rc = s_token_read(self, &t->via.array.ptr[i], &rec, "snapshot",
                          err, errlen);
        if (!rc)
            rc = s_token_put(self->keys, &rec);
    }
    for (uint32_t i = 0; st_is(e, MSGPACK_OBJECT_ARRAY) &&
                         i < e->via.array.size && !rc;
         i++) {
        assay_enrolled_rec rec;
        rc = s_enrolled_read(self, &e->via.array.ptr[i], &rec, "snapshot",
                             err, errlen);
        if (!rc && (assay_index_get(self->keys->enrolled, rec.name) ||
                    assay_index_get(self->keys->by_key, rec.key)))
            rc = assay_errf(err, errlen, ASSAY_EINVAL,
                            "snapshot: enrolled key %s listed twice",
                            rec.name);
        if (!rc)
            rc = s_enrolled_put(self->keys, &rec);
    }
    return rc;
}

/* ---- ops -------------------------------------------------------------- */

typedef struct {
    st_keys *keys;
    int64_t now;
    json_t *gone;
} s_prune;

static void s_expired(const char *key, void *value, void *arg)
{
    s_prune *p = arg;
    const assay_token_rec *t = value;
    if (t->expires_ms <= p->now)
        json_array_append_new(p->gone, json_string(key));
}

/* Forgets tokens expired at `now` (the command's clock). */
static void s_prune_expired(st_keys *self, int64_t now)
{
    s_prune p = {self, now, json_array()};
    if (!p.gone)
        return;
    assay_index_each(self->tokens, s_expired, &p);
    size_t i;
    json_t *name;
    json_array_foreach(p.gone, i, name)
        free(assay_index_remove(self->tokens, json_string_value(name)));
    json_decref(p.gone);
}

int st_token(assay_state *self, const msgpack_object *cmd, json_t **result,
             char *err, size_t errlen)
{
    assay_token_rec t;
    int rc = s_token_read(self, cmd, &t, "token", err, errlen);
    if (rc)
        return rc;
    st_keys *k = self->keys;
    /* Refusals first: a refused command changes nothing. */
    if (assay_index_get(k->enrolled, t.name))
        return assay_errf(err, errlen, ASSAY_EEXIST,
                          "token: a key is enrolled as %s already: revoke "
                          "it first",
                          t.name);
    if (!assay_index_get(k->tokens, t.name) &&
        assay_state_tokens_live(self, t.at_ms) >= ASSAY_TOKENS_MAX)
        return assay_errf(err, errlen, ASSAY_ERANGE,
                          "token: %d tokens are pending already: let some "
                          "be used or expire, or revoke them",
                          ASSAY_TOKENS_MAX);
    s_prune_expired(k, t.at_ms);
    if ((rc = s_token_put(k, &t)))
        return rc;
    k->gen++;
    if (result)
        *result = json_pack("{s:s, s:s, s:I}", "name", t.name, "role",
                            t.role, "expires_ms", (json_int_t)t.expires_ms);
    return 0;
}

int st_enrol(assay_state *self, const msgpack_object *cmd, json_t **result,
             char *err, size_t errlen)
{
    char name[64], key[41], hash[2 * ASSAY_TOKEN_HASH_BYTES + 1];
    int64_t at = st_int(cmd, "at");
    if (!st_text(cmd, "name", name, sizeof name, false) ||
        !st_text(cmd, "key", key, sizeof key, false) || !s_z85(key) ||
        !st_text(cmd, "hash", hash, sizeof hash, false) || !s_hex_hash(hash))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "enrol: needs a name, a key (Z85) and the hash "
                          "of the token used");
    st_keys *k = self->keys;
    const assay_token_rec *t = assay_index_get(k->tokens, name);
    /* The hash binds the use to the token the leader checked: one made
     * anew for the name meanwhile is not used up by an older secret. */
    if (!t || strcmp(t->hash, hash) || t->expires_ms <= at)
        return assay_errf(err, errlen, ASSAY_EPERM,
                          "enrol: no pending token for %s (never made, "
                          "used, revoked or expired)",
                          name);
    const assay_enrolled_rec *held = assay_index_get(k->by_key, key);
    if (held || assay_index_get(k->enrolled, name))
        return assay_errf(err, errlen, ASSAY_EEXIST,
                          "enrol: %s is enrolled already%s%s", held ? key : name,
                          held ? ", as " : "", held ? held->name : "");
    if (assay_index_size(k->enrolled) >= ASSAY_ENROLLED_MAX)
        return assay_errf(err, errlen, ASSAY_ERANGE,
                          "enrol: %d keys are enrolled: revoke some first",
                          ASSAY_ENROLLED_MAX);
    assay_enrolled_rec e = {.at_ms = at,
                            .by_name = t->by_name,
                            .by_role = t->by_role};
    strcpy(e.name, name);
    strcpy(e.role, t->role);
    strcpy(e.key, key);
    int rc = s_enrolled_put(k, &e);
    if (rc)
        return rc;
    free(assay_index_remove(k->tokens, name));
    s_prune_expired(k, at);
    k->gen++;
    if (result)
        *result = json_pack("{s:s, s:s, s:s}", "name", e.name, "role",
                            e.role, "key", e.key);
    return 0;
}

int st_unenrol(assay_state *self, const msgpack_object *cmd, json_t **result,
               char *err, size_t errlen)
{
    char name[64];
    if (!st_text(cmd, "name", name, sizeof name, false))
        return assay_errf(err, errlen, ASSAY_EINVAL, "unenrol: needs a name");
    st_keys *k = self->keys;
    if (!assay_index_get(k->enrolled, name) &&
        !assay_index_get(k->tokens, name))
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "unenrol: no key enrolled and no token pending "
                          "as %s",
                          name);
    assay_enrolled_rec *e = assay_index_remove(k->enrolled, name);
    assay_token_rec *t = assay_index_remove(k->tokens, name);
    s_prune_expired(k, st_int(cmd, "at"));
    if (result)
        *result = json_pack("{s:s, s:s, s:s?}", "name", name, "was",
                            e ? "key" : "token", "key", e ? e->key : NULL);
    if (e)
        assay_index_remove(k->by_key, e->key);
    k->gen++;
    free(e);
    free(t);
    return 0;
}

/* ---- reading ---------------------------------------------------------- */

const assay_token_rec *assay_state_token(const assay_state *self,
                                         const char *name)
{
    return name ? assay_index_get(self->keys->tokens, name) : NULL;
}

const assay_enrolled_rec *assay_state_enrolled(const assay_state *self,
                                               const char *name)
{
    return name ? assay_index_get(self->keys->enrolled, name) : NULL;
}

const assay_enrolled_rec *assay_state_enrolled_key(const assay_state *self,
                                                   const char *key)
{
    return key ? assay_index_get(self->keys->by_key, key) : NULL;
}

typedef struct {
    int64_t now;
    size_t n;
} s_live;

static void s_count_live(const char *key, void *value, void *arg)
{
    (void)key;
    s_live *l = arg;
    l->n += ((const assay_token_rec *)value)->expires_ms > l->now;
}

size_t assay_state_tokens_live(const assay_state *self, int64_t now_ms)
{
    s_live l = {now_ms, 0};
    assay_index_each(self->keys->tokens, s_count_live, &l);
    return l.n;
}

uint64_t assay_state_keys_gen(const assay_state *self)
{
    return self->keys->gen;
}

void assay_state_enrolled_each(const assay_state *self,
                               void (*fn)(const assay_enrolled_rec *e,
                                          void *arg),
                               void *arg)
{
    s_list l = s_sorted(self->keys->enrolled);
    for (size_t i = 0; i < l.n; i++)
        fn(l.v[i], arg);
    free(l.v);
}

static json_t *s_by_json(const char *name, const char *role)
{
    return *name ? json_pack("{s:s, s:s}", "name", name, "role", role)
                 : json_null();
}

json_t *assay_state_keys_json(const assay_state *self, int64_t now_ms)
{
    s_list t = s_sorted(self->keys->tokens),
           e = s_sorted(self->keys->enrolled);
    json_t *tokens = json_array(), *enrolled = json_array();
    for (size_t i = 0; i < t.n; i++) {
        const assay_token_rec *r = t.v[i];
        if (r->expires_ms > now_ms)
            json_array_append_new(
                tokens, json_pack("{s:s, s:s, s:I, s:I, s:o}", "name",
                                  r->name, "role", r->role, "expires_ms",
                                  (json_int_t)r->expires_ms, "made_ms",
                                  (json_int_t)r->at_ms, "by",
                                  s_by_json(r->by_name, r->by_role)));
    }
    for (size_t i = 0; i < e.n; i++) {
        const assay_enrolled_rec *r = e.v[i];
        json_array_append_new(
            enrolled, json_pack("{s:s, s:s, s:s, s:I, s:o}", "name", r->name,
                                "role", r->role, "key", r->key, "at_ms",
                                (json_int_t)r->at_ms, "by",
                                s_by_json(r->by_name, r->by_role)));
    }
    free(t.v);
    free(e.v);
    return json_pack("{s:o, s:o}", "tokens", tokens, "enrolled", enrolled);
}
