/* core/state/evidence.c - what an ended job holds as evidence (level 8;
 * docs/evidence.md): its place in the result stream, the host it ran on
 * (held once per distinct host, counted by its users), the digest of the
 * plugin file that ran, and its drift (drift.c). Everything here is
 * derived on apply from replicated state, so every member holds the same
 * record. */
#include "state/internal.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/codec.h"
#include "base/errtext.h"

/* A host fact's bytes at most (longer ones are cut). */
#define S_FACT_MAX 255

static const char *const s_facts[] = {"hostname", "os", "kernel",
                                      "machine_id"};

/* The facts of map `facts` ({hostname, os, kernel, machine_id}) as held
 * by the state: a shared record, NULL when none is said (or no memory). */
const assay_host *st_host_share(assay_state *self,
                                const msgpack_object *facts)
{
    if (!st_is(facts, MSGPACK_OBJECT_MAP))
        return NULL;
    char val[4][S_FACT_MAX + 1];
    size_t len[4], total = 0;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 16);
    for (size_t i = 0; i < 4; i++) {
        if (!st_text(facts, s_facts[i], val[i], sizeof val[i], true))
            val[i][0] = '\0';
        len[i] = strlen(val[i]);
        total += len[i] + 1;
        crypto_generichash_update(&h, (const unsigned char *)val[i],
                                  len[i] + 1);
    }
    if (total == 4)
        return NULL; /* nothing said */
    unsigned char d[16];
    char key[33];
    crypto_generichash_final(&h, d, sizeof d);
    sodium_bin2hex(key, sizeof key, d, sizeof d);
    assay_host *host = assay_index_get(self->hosts, key);
    if (host) {
        host->users++;
        return host;
    }
    if (!(host = calloc(1, sizeof *host + total)))
        return NULL;
    char *p = host->text;
    const char **field[4] = {&host->hostname, &host->os, &host->kernel,
                             &host->machine_id};
    for (size_t i = 0; i < 4; i++) {
        memcpy(p, val[i], len[i] + 1);
        *field[i] = p;
        p += len[i] + 1;
    }
    memcpy(host->key, key, sizeof key);
    host->users = 1;
    if (assay_index_put(self->hosts, key, host)) {
        free(host);
        return NULL;
    }
    return host;
}

void st_host_drop(assay_state *self, const assay_host **host_p)
{
    assay_host *host = (assay_host *)*host_p;
    *host_p = NULL;
    if (host && !--host->users) {
        assay_index_remove(self->hosts, host->key);
        free(host);
    }
}

void st_host_pack(msgpack_packer *pk, const assay_host *host)
{
    msgpack_pack_map(pk, 4);
    assay_codec_pack_kv_str(pk, "hostname", host->hostname);
    assay_codec_pack_kv_str(pk, "os", host->os);
    assay_codec_pack_kv_str(pk, "kernel", host->kernel);
    assay_codec_pack_kv_str(pk, "machine_id", host->machine_id);
}

/* The SHA-256 the runtime's catalogue gives the plugin of j's action at
 * the version that ran, interned; "" when it does not say. */
static const char *s_sha(assay_state *self, const assay_runtime_rec *r,
                         const assay_job *j)
{
    const char *dot = strchr(j->spec->action, '.');
    size_t n = dot ? (size_t)(dot - j->spec->action) : 0;
    const json_t *plugins =
        r ? json_object_get(json_object_get(r->info, "catalog"), "plugins")
          : NULL;
    size_t i;
    const json_t *p;
    json_array_foreach(plugins, i, p) {
        const char *name = json_string_value(json_object_get(p, "name")),
                   *ver = json_string_value(json_object_get(p, "version")),
                   *sha = json_string_value(json_object_get(p, "sha256"));
        if (name && ver && sha && strlen(name) == n &&
            !strncmp(name, j->spec->action, n) && !strcmp(ver, j->version) &&
            strlen(sha) == 64) {
            const char *in = st_intern(self, sha);
            return in ? in : "";
        }
    }
    return "";
}

void st_end_begin(assay_state *self, assay_job *j)
{
    st_end_free(self, j);
    assay_end *e = calloc(1, sizeof *e);
    if (!e)
        return; /* the job is ended all the same, without its record */
    j->end = e;
    e->pos = ++self->stream_pos;
    e->sha256 = "";
    if (*j->runtime) {
        const assay_runtime_rec *r = assay_state_runtime(self, j->runtime);
        if (r && r->host) {
            ((assay_host *)r->host)->users++;
            e->host = r->host;
        }
        e->sha256 = s_sha(self, r, j);
    }
    st_drift_judge(self, j);
    st_stream_add(self, j);
}

void st_end_free(assay_state *self, assay_job *j)
{
    assay_end *e = j->end;
    if (!e)
        return;
    st_stream_remove(self, j);
    st_host_drop(self, &e->host);
    free(e->changed);
    free(e);
    j->end = NULL;
}

const char *assay_drift_name(int change)
{
    static const char *const names[] = {"", "new", "fixed", "regressed",
                                        "unchanged"};
    return change >= 0 && change <= ASSAY_DRIFT_UNCHANGED ? names[change]
                                                          : "";
}

const char *assay_status_name(int status)
{
    static const char *const names[] = {NULL, "pass", "fail", "error"};
    return status > 0 && status <= ASSAY_STATUS_ERROR ? names[status] : NULL;
}

size_t assay_end_fields(const assay_job *j)
{
    const assay_end *e = j->end;
    return e ? 1 + !!e->host + !!*e->sha256 + (e->change != 0) : 0;
}

void assay_end_pack(msgpack_packer *pk, const assay_job *j)
{
    const assay_end *e = j->end;
    if (!e)
        return;
    assay_codec_pack_kv_int(pk, "position", (int64_t)e->pos);
    if (e->host) {
        assay_codec_pack_str(pk, "host");
        st_host_pack(pk, e->host);
    }
    if (*e->sha256)
        assay_codec_pack_kv_str(pk, "plugin_sha256", e->sha256);
    if (e->change) {
        assay_codec_pack_str(pk, "drift");
        msgpack_pack_map(pk, 3);
        assay_codec_pack_str(pk, "previous");
        const char *prev = assay_status_name(e->previous);
        if (prev)
            assay_codec_pack_str(pk, prev);
        else
            msgpack_pack_nil(pk);
        assay_codec_pack_kv_str(pk, "change", assay_drift_name(e->change));
        assay_codec_pack_str(pk, "changed");
        if (e->changed)
            assay_codec_pack_raw(pk, e->changed, e->changed_len);
        else
            msgpack_pack_array(pk, 0);
    }
}

/* ---- Snapshots (format 7) ------------------------------------------------ */

/* Hosts are numbered in the order they are packed (by key): a job's record
 * names its host by that number. */
typedef struct {
    const assay_host **list;
    size_t n;
} s_numbering;

static void s_number(const char *key, void *value, void *arg)
{
    (void)key;
    s_numbering *num = arg;
    num->list[num->n++] = value;
}

static int s_by_key(const void *a, const void *b)
{
    return strcmp((*(const assay_host *const *)a)->key,
                  (*(const assay_host *const *)b)->key);
}

int st_hosts_pack(const assay_state *self, msgpack_packer *pk,
                  const assay_host ***order, size_t *n)
{
    size_t count = assay_index_size(self->hosts);
    s_numbering num = {.list = count ? malloc(count * sizeof *num.list)
                                     : NULL};
    if (count && !num.list)
        return ASSAY_ENOMEM;
    assay_index_each(self->hosts, s_number, &num);
    /* By key: the same state packs the same bytes on every member. */
    if (num.n)
        qsort(num.list, num.n, sizeof *num.list, s_by_key);
    msgpack_pack_array(pk, num.n);
    for (size_t i = 0; i < num.n; i++)
        st_host_pack(pk, num.list[i]);
    *order = num.list;
    *n = num.n;
    return 0;
}

/* The number of `host` in `order` (sorted by key). */
static size_t s_host_no(const assay_host *host, const assay_host **order,
                        size_t n)
{
    const assay_host **p =
        n ? bsearch(&host, order, n, sizeof *order, s_by_key) : NULL;
    return p ? (size_t)(p - order) : 0;
}

void st_end_pack_snap(msgpack_packer *pk, const assay_end *e,
                      const assay_host **order, size_t n)
{
    msgpack_pack_map(pk, 1 + !!e->host + !!*e->sha256 + !!e->status +
                             (e->change ? 2 + !!e->changed : 0));
    assay_codec_pack_kv_int(pk, "pos", (int64_t)e->pos);
    if (e->host)
        assay_codec_pack_kv_int(pk, "host",
                                (int64_t)s_host_no(e->host, order, n));
    if (*e->sha256)
        assay_codec_pack_kv_str(pk, "sha256", e->sha256);
    if (e->status)
        assay_codec_pack_kv_int(pk, "status", e->status);
    if (e->change) {
        assay_codec_pack_kv_int(pk, "change", e->change);
        assay_codec_pack_kv_int(pk, "previous", e->previous);
        if (e->changed) {
            assay_codec_pack_str(pk, "changed");
            assay_codec_pack_raw(pk, e->changed, e->changed_len);
        }
    }
}

bool st_end_load(assay_state *self, assay_job *j, const msgpack_object *rec,
                 const assay_host **hosts, size_t n)
{
    if (!rec)
        return true;
    int64_t pos = st_int(rec, "pos"), host = st_int(rec, "host"),
            status = st_int(rec, "status"), change = st_int(rec, "change"),
            prev = st_int(rec, "previous");
    const msgpack_object *hn = st_get(rec, "host"),
                         *changed = st_get(rec, "changed");
    char sha[65];
    if (!st_is(rec, MSGPACK_OBJECT_MAP) || pos < 1 ||
        (hn && (host < 0 || (size_t)host >= n)) || status < 0 ||
        status > ASSAY_STATUS_ERROR || change < 0 ||
        change > ASSAY_DRIFT_UNCHANGED || prev < 0 ||
        prev > ASSAY_STATUS_ERROR ||
        (changed && !st_is(changed, MSGPACK_OBJECT_ARRAY)))
        return false;
    assay_end *e = calloc(1, sizeof *e);
    if (!e)
        return false;
    e->pos = (uint64_t)pos;
    e->status = (uint8_t)status;
    e->change = (uint8_t)change;
    e->previous = (uint8_t)prev;
    const char *s = st_intern(self, st_text(rec, "sha256", sha, sizeof sha,
                                            false));
    e->sha256 = s ? s : "";
    if (hn) {
        e->host = hosts[host];
        ((assay_host *)e->host)->users++;
    }
    if (changed && !st_pack_copy(changed, &e->changed, &e->changed_len)) {
        free(e);
        return false;
    }
    j->end = e;
    if (e->pos > self->stream_pos)
        self->stream_pos = e->pos;
    return true;
}

/* The hosts list of a snapshot, shared; *out holds one reference each
 * (st_hosts_release drops them once the jobs took theirs). */
int st_hosts_load(assay_state *self, const msgpack_object *list,
                  const assay_host ***out, size_t *n, char *err,
                  size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (!list)
        return 0;
    if (!st_is(list, MSGPACK_OBJECT_ARRAY))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "snapshot: hosts must be an array");
    uint32_t count = list->via.array.size;
    const assay_host **hosts = count ? calloc(count, sizeof *hosts) : NULL;
    if (count && !hosts)
        return ASSAY_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        if (!(hosts[i] = st_host_share(self, &list->via.array.ptr[i]))) {
            *out = hosts;
            *n = i;
            return assay_errf(err, errlen, ASSAY_EINVAL,
                              "snapshot: hosts[%u] is not a host", i);
        }
    }
    *out = hosts;
    *n = count;
    return 0;
}

void st_hosts_release(assay_state *self, const assay_host **hosts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        st_host_drop(self, &hosts[i]);
    free(hosts);
}
