/* keyring/allowlist.c - the allow-list of a directory of certificates
 * (allowlist.h). */
#define _GNU_SOURCE
#include "allowlist.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

/* A certificate as read, before duplicates go: its file, and its place
 * in the reading order (the first file of a key wins, as before). */
typedef struct s_read {
    assay_allowed a;
    char *path;
    size_t seq;
} s_read;

struct assay_allowlist {
    char *dir;
    void (*warn)(const char *msg);
    assay_allowed *keys; /* sorted by key: found by bsearch */
    size_t n;
    s_read *reading; /* while the directory is read */
    size_t nread;
    uint64_t signature; /* of what was read; 0: nothing yet */
};

assay_allowlist *assay_allowlist_new(const char *dir,
                                     void (*warn)(const char *msg))
{
    assay_allowlist *self = calloc(1, sizeof *self);
    if (!self || !(self->dir = strdup(dir))) {
        free(self);
        return NULL;
    }
    self->warn = warn;
    return self;
}

void assay_allowlist_destroy(assay_allowlist **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->keys);
    free((*self_p)->dir);
    free(*self_p);
    *self_p = NULL;
}

static void s_warn(const assay_allowlist *self, const char *fmt,
                   const char *path)
{
    char msg[PATH_MAX + 128];
    if (!self->warn)
        return;
    snprintf(msg, sizeof msg, fmt, path);
    self->warn(msg);
}

/* Calls fn for each certificate file of dir (top level, not hidden, a
 * regular NAME.key): returns the files' signature (identity, size and
 * times), 1 for a directory that is gone or empty. */
static uint64_t s_scan(const char *dir,
                       void (*fn)(assay_allowlist *self, const char *path),
                       assay_allowlist *arg)
{
    DIR *d = opendir(dir);
    uint64_t sig = 1;
    if (!d)
        return sig;
    char path[PATH_MAX];
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || n <= 4 ||
            strcmp(e->d_name + n - 4, ".key"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        uint64_t h = (uint64_t)st.st_ino * 0x9e3779b97f4a7c15ull ^
                     (uint64_t)st.st_size * 0xc2b2ae3d27d4eb4full ^
                     ((uint64_t)st.st_mtim.tv_sec * 1000000000ull +
                      (uint64_t)st.st_mtim.tv_nsec) ^
                     ((uint64_t)st.st_ctim.tv_sec * 1000000000ull +
                      (uint64_t)st.st_ctim.tv_nsec) * 31;
        sig += h | 1; /* order-free: readdir's order may change */
        if (fn)
            fn(arg, path);
    }
    closedir(d);
    return sig;
}

static void s_add(assay_allowlist *self, const char *path)
{
    zconfig_t *root = assay_zpl_load(path);
    const char *pub = root ? zconfig_get(root, "/curve/public-key", NULL)
                           : NULL;
    uint8_t bin[32];
    s_read *grown;
    if (!pub || strlen(pub) != ASSAY_Z85_KEY || !zmq_z85_decode(bin, pub)) {
        s_warn(self, "allow-list: %s is not a certificate: ignored", path);
    } else if ((grown = realloc(self->reading,
                                (self->nread + 1) * sizeof *grown))) {
        self->reading = grown;
        s_read *r = &self->reading[self->nread];
        if (!(r->path = strdup(path))) {
            zconfig_destroy(&root);
            return;
        }
        r->seq = self->nread++;
        assay_allowed *k = &r->a;
        snprintf(k->key, sizeof k->key, "%s", pub);
        snprintf(k->name, sizeof k->name, "%s",
                 zconfig_get(root, "/metadata/name", ""));
        snprintf(k->role, sizeof k->role, "%s",
                 zconfig_get(root, "/metadata/role", ""));
    }
    zconfig_destroy(&root);
}

static int s_by_key(const void *a, const void *b)
{
    return strcmp(((const assay_allowed *)a)->key,
                  ((const assay_allowed *)b)->key);
}

/* By key, then in the order read. */
static int s_by_key_seq(const void *a, const void *b)
{
    const s_read *x = a, *y = b;
    int c = strcmp(x->a.key, y->a.key);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

bool assay_allowlist_refresh(assay_allowlist *self)
{
    uint64_t sig = s_scan(self->dir, NULL, NULL);
    if (sig == self->signature)
        return false;
    self->nread = 0;
    self->signature = s_scan(self->dir, s_add, self);
    /* Sorted, a key in two files shows as neighbours: the first read is
     * kept, the others said and dropped. */
    if (self->nread)
        qsort(self->reading, self->nread, sizeof *self->reading,
              s_by_key_seq);
    assay_allowed *keys = realloc(self->keys,
                                  (self->nread + 1) * sizeof *keys);
    self->n = 0;
    if (keys)
        self->keys = keys;
    for (size_t i = 0; i < self->nread; i++) {
        s_read *r = &self->reading[i];
        if (i && !strcmp(self->reading[i - 1].a.key, r->a.key))
            s_warn(self, "allow-list: %s holds a key another file holds "
                   "too: ignored", r->path);
        else if (keys)
            self->keys[self->n++] = r->a;
        free(r->path);
    }
    free(self->reading);
    self->reading = NULL;
    self->nread = 0;
    return true;
}

const assay_allowed *assay_allowlist_find(const assay_allowlist *self,
                                          const char *key)
{
    assay_allowed probe;
    if (!self->n || !key)
        return NULL;
    snprintf(probe.key, sizeof probe.key, "%s", key);
    return bsearch(&probe, self->keys, self->n, sizeof *self->keys,
                   s_by_key);
}

zconfig_t *assay_zpl_load(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *text = malloc(ASSAY_KEY_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, ASSAY_KEY_FILE_MAX + 1, f) : 0;
    fclose(f);
    zconfig_t *root = NULL;
    if (text && n <= ASSAY_KEY_FILE_MAX && !memchr(text, '\0', n)) {
        text[n] = '\0';
        root = zconfig_str_load(text);
    }
    if (text)
        explicit_bzero(text, n < ASSAY_KEY_FILE_MAX + 1
                                 ? n
                                 : ASSAY_KEY_FILE_MAX + 1);
    free(text);
    return root;
}
