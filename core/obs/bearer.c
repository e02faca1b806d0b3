/* core/obs/bearer.c - HTTP bearer tokens: see bearer.h. */
#include "obs/bearer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/string.h>
#include <sodium.h>

#include "base/clock.h"
#include "base/errtext.h"
#include "base/ident.h"

#define HASH_HEX (2 * crypto_generichash_BYTES + 1)
#define FILE_MAX 4096
#define FILES_MAX 1024

/* The token's hash, in hex. */
static void s_hash(const char *token, char hex[HASH_HEX])
{
    unsigned char h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof h, (const unsigned char *)token,
                       strlen(token), NULL, 0);
    sodium_bin2hex(hex, HASH_HEX, h, sizeof h);
}

int assay_bearer_make(const char *allow_dir, const char *name,
                     const char *role, char *token, size_t token_len,
                     char *err, size_t errlen)
{
    if (!assay_ident_valid(name, 128))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "token name '%.64s': letters, digits, '.', '_', "
                          "'-', at most 128",
                          name);
    if (token_len < ASSAY_BEARER_LEN + 1 || sodium_init() < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL, "no room for a token");
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(token, ASSAY_BEARER_PREFIX, sizeof ASSAY_BEARER_PREFIX - 1);
    sodium_bin2hex(token + sizeof ASSAY_BEARER_PREFIX - 1,
                   token_len - (sizeof ASSAY_BEARER_PREFIX - 1), raw,
                   sizeof raw);
    sodium_memzero(raw, sizeof raw);
    char hex[HASH_HEX], path[4400], text[512];
    s_hash(token, hex);
    snprintf(path, sizeof path, "%s/%s.token", allow_dir, name);
    int n = snprintf(text, sizeof text,
                     "# an HTTP token for metrics_listen (assayctl keys "
                     "token); only its hash is kept\nname = %s\nrole = "
                     "%s\nhash = %s\n",
                     name, role, hex);
    /* Made whole under a temporary name, then linked: never half read,
     * and an existing one is not replaced. */
    char tmp[4500];
    snprintf(tmp, sizeof tmp, "%s/.%s.token.%d", allow_dir, name,
             (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return assay_errf(err, errlen, ASSAY_EIO, "%s: %s", tmp,
                          strerror(errno));
    ssize_t w = write(fd, text, (size_t)n);
    int rc = w < 0 || fsync(fd) ? errno : w != n ? EIO : 0;
    close(fd);
    if (!rc && link(tmp, path))
        rc = errno;
    unlink(tmp);
    if (rc)
        return assay_errf(err, errlen, rc == EEXIST ? ASSAY_EEXIST : ASSAY_EIO,
                          "%s: %s", path,
                          rc == EEXIST ? "there is a token of that name "
                                         "(revoke it first)"
                                       : strerror(rc));
    return 0;
}

/* `key = value` of a token file's text, into out (at most cap bytes). */
static bool s_field(const char *text, const char *key, char *out,
                    size_t cap)
{
    size_t kl = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l) {
        if (strncmp(l, key, kl) || strncmp(l + kl, " = ", 3))
            continue;
        const char *v = l + kl + 3;
        size_t n = strcspn(v, "\n");
        if (n >= cap)
            return false;
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* Reads a regular file of at most FILE_MAX bytes. */
static bool s_read(int dirfd, const char *file, char *buf)
{
    int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                        st.st_size < FILE_MAX
                    ? read(fd, buf, FILE_MAX - 1)
                    : -1;
    close(fd);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

int assay_bearer_read(const char *allow_dir, const char *file, char *name,
                      char *role)
{
    char text[FILE_MAX];
    int dfd = open(allow_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = dfd >= 0 && s_read(dfd, file, text) &&
              s_field(text, "name", name, 128) &&
              s_field(text, "role", role, 64);
    if (dfd >= 0)
        close(dfd);
    return ok ? 0 : ASSAY_EIO;
}

typedef struct {
    char hash[HASH_HEX], name[128], role[64];
} s_entry;

struct assay_bearers {
    char dir[4200];
    s_entry *e;
    size_t n;
    struct stat seen; /* the directory when last read */
    int64_t read_ms;  /* when, by the monotonic clock; 0: never */
};

assay_bearers *assay_bearers_new(const char *allow_dir)
{
    assay_bearers *self = calloc(1, sizeof *self);
    if (self && strlcpy(self->dir, allow_dir, sizeof self->dir) >=
                    sizeof self->dir) {
        free(self);
        return NULL;
    }
    return self;
}

void assay_bearers_destroy(assay_bearers **self_p)
{
    if (!*self_p)
        return;
    free((*self_p)->e);
    free(*self_p);
    *self_p = NULL;
}

/* Reads the token files again: when the directory changed, or a second
 * after the last read (a file edited in place leaves the directory as
 * it was). A flood of requests costs a stat each, not a scan. */
static void s_refresh(assay_bearers *self)
{
    struct stat st;
    int64_t now = assay_now_ms();
    bool same = stat(self->dir, &st) == 0 && self->read_ms &&
                st.st_ino == self->seen.st_ino &&
                st.st_mtim.tv_sec == self->seen.st_mtim.tv_sec &&
                st.st_mtim.tv_nsec == self->seen.st_mtim.tv_nsec;
    if (same && now - self->read_ms < 1000)
        return;
    self->seen = st;
    self->read_ms = now;
    self->n = 0;
    DIR *d = opendir(self->dir);
    if (!d)
        return;
    char text[FILE_MAX];
    for (struct dirent *e; self->n < FILES_MAX && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n <= 6 ||
            strcmp(e->d_name + n - 6, ".token"))
            continue;
        if (!self->e && !(self->e = calloc(FILES_MAX, sizeof *self->e)))
            break;
        s_entry *t = &self->e[self->n];
        if (s_read(dirfd(d), e->d_name, text) &&
            s_field(text, "hash", t->hash, sizeof t->hash) &&
            strlen(t->hash) == HASH_HEX - 1 &&
            s_field(text, "name", t->name, sizeof t->name) &&
            s_field(text, "role", t->role, sizeof t->role))
            self->n++;
    }
    closedir(d);
}

int assay_bearers_check(assay_bearers *self, const char *token, char *name,
                        char *role)
{
    if (!token || strlen(token) != ASSAY_BEARER_LEN ||
        strncmp(token, ASSAY_BEARER_PREFIX, sizeof ASSAY_BEARER_PREFIX - 1))
        return ASSAY_EPERM;
    char want[HASH_HEX];
    s_hash(token, want);
    s_refresh(self);
    for (size_t i = 0; i < self->n; i++)
        if (sodium_memcmp(self->e[i].hash, want, HASH_HEX - 1) == 0) {
            memcpy(name, self->e[i].name, sizeof self->e[i].name);
            memcpy(role, self->e[i].role, sizeof self->e[i].role);
            return 0;
        }
    return ASSAY_EPERM;
}

const char *assay_bearer_from_header(const char *h, char *buf, size_t cap)
{
    if (!h)
        return NULL;
    if (!strncasecmp(h, "Bearer ", 7))
        return strlcpy(buf, h + 7, cap) < cap ? buf : NULL;
    size_t n;
    if (strncasecmp(h, "Basic ", 6) ||
        sodium_base642bin((unsigned char *)buf, cap - 1, h + 6, strlen(h + 6),
                          NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL))
        return NULL;
    buf[n] = '\0';
    /* user:password, the password being the token (any user name). */
    char *colon = strchr(buf, ':');
    return colon ? colon + 1 : NULL;
}
