/* core/plugin/plugdir.c - the watched plugins directory (see plugdir.h). */
#include "plugin/plugdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bsd/string.h>
#include <sodium.h>

#include "base/clock.h"
#include "base/dir.h"
#include "base/errtext.h"
#include "base/log.h"
#include "base/prefix.h"
#include "plugin/describe.h"

#define MAX_FILE ((off_t)256 << 20)

/* One file of the directory that was loaded. */
typedef struct s_file {
    char source[PATH_MAX];
    unsigned char hash[crypto_hash_sha256_BYTES];
    const assay_plugin *plugin;
    struct s_file *next;
} s_file;

/* Every name+version loaded since start, with its bytes: a version stays
 * immutable even across a removal (`install` unlinks before writing). */
typedef struct s_seen {
    char key[130]; /* "name version" */
    unsigned char hash[crypto_hash_sha256_BYTES];
    struct s_seen *next;
} s_seen;

/* A name of the directory waiting for its turn to be described. */
typedef struct s_name {
    char name[NAME_MAX + 1];
    struct s_name *next;
} s_name;

/* The file being described: one at a time, in the order names came. */
typedef struct {
    assay_describe *d; /* NULL: none */
    char source[PATH_MAX + NAME_MAX + 2];
    char load[PATH_MAX + NAME_MAX + 16];
    unsigned char hash[crypto_hash_sha256_BYTES];
} s_current;

struct assay_plugdir {
    s_seen *seen;
    assay_plugdir_accept_fn accept;
    void *accept_arg;
    assay_catalog *cat;
    char dir[PATH_MAX];
    char cache[PATH_MAX]; /* "" when not watching: load in place */
    char describer[PATH_MAX];
    int64_t timeout_ms;
    int ifd;
    /* Watching: an epoll set of ifd, the running describer's pidfd and
     * its deadline (tfd), so the loop hears of each through one fd. */
    int efd, tfd;
    unsigned copies;
    s_file *files;
    s_name *queue;
    s_current cur;
};

static bool s_is_so(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && name[0] != '.' && !strcmp(name + n - 3, ".so");
}

/* Reads the whole file (bounded) and hashes it; optionally copies it. */
static int s_read(const char *path, unsigned char *hash, const char *copy_to)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return ASSAY_ENOENT;
    struct stat st;
    int out = -1, rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE)
        rc = ASSAY_EINVAL;
    else if (st.st_mode & S_IWOTH)
        rc = ASSAY_EPERM; /* anyone could change the code we would run */
    if (!rc && copy_to &&
        (out = open(copy_to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0500)) <
            0)
        rc = ASSAY_EIO;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    char buf[65536];
    ssize_t n;
    while (!rc && (n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            rc = errno == EINTR ? 0 : ASSAY_EIO;
            continue;
        }
        crypto_hash_sha256_update(&h, (unsigned char *)buf, (size_t)n);
        if (out >= 0 && write(out, buf, (size_t)n) != n)
            rc = ASSAY_EIO;
    }
    crypto_hash_sha256_final(&h, hash);
    close(fd);
    if (out >= 0)
        close(out);
    return rc;
}

static s_file *s_tracked(assay_plugdir *self, const char *source)
{
    for (s_file *f = self->files; f; f = f->next)
        if (!strcmp(f->source, source))
            return f;
    return NULL;
}

static void s_withdraw(assay_plugdir *self, s_file *f,
                       assay_plugdir_withdraw_fn withdraw, void *arg)
{
    for (s_file **pp = &self->files; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    assay_info("withdrew %s %s (%s removed or replaced)", f->plugin->name,
               f->plugin->version, f->source);
    if (withdraw)
        withdraw(arg, f->plugin->path);
    assay_catalog_unload(self->cat, f->plugin);
    free(f);
}

/* Starts on one file of the directory: reads it (copying it to the cache
 * when watching) and, unless its bytes are already loaded, starts its
 * describer. Returns true if the catalogue changed already (a refusal, or
 * a refusal dropped). */
static bool s_begin(assay_plugdir *self, const char *name)
{
    s_current *c = &self->cur;
    unsigned char *hash = c->hash;
    snprintf(c->source, sizeof c->source, "%s/%s", self->dir, name);
    const char *source = c->source;
    s_file *old = s_tracked(self, source);
    strlcpy(c->load, source, sizeof c->load);
    if (self->cache[0])
        snprintf(c->load, sizeof c->load, "%s/%u-%s", self->cache,
                 ++self->copies, name);
    if (access(source, F_OK) != 0) /* gone before its turn */
        return assay_catalog_forget(self->cat, source) > 0;
    int rc = s_read(source, hash, self->cache[0] ? c->load : NULL);
    if (rc) {
        if (self->cache[0])
            unlink(c->load);
        char why[PATH_MAX + 96];
        snprintf(why, sizeof why, "%.4096s: %s", source,
                 rc == ASSAY_EPERM ? "writable by every user (chmod o-w it)"
                                   : "cannot read it");
        assay_catalog_forget(self->cat, source);
        assay_catalog_refuse(self->cat, source, why);
        return true;
    }
    if (old && !memcmp(old->hash, hash, crypto_hash_sha256_BYTES)) {
        if (self->cache[0])
            unlink(c->load);
        /* Same bytes as loaded; a refusal of other bytes in between is
         * over now. */
        return assay_catalog_forget(self->cat, source) > 0;
    }
    for (s_file *f = self->files; !old && f; f = f->next)
        if (!memcmp(f->hash, hash, crypto_hash_sha256_BYTES)) {
            /* A second copy of a loaded file is not a new version. */
            if (self->cache[0])
                unlink(c->load);
            assay_info("%s: same bytes as %s, already loaded", source,
                       f->source);
            return assay_catalog_forget(self->cat, source) > 0;
        }
    char err[ASSAY_ERRMSG_SIZE + PATH_MAX];
    rc = assay_describe_start(self->describer, c->load, self->timeout_ms,
                              &c->d, err, sizeof err);
    if (rc) {
        if (self->cache[0])
            unlink(c->load);
        char why[sizeof err + PATH_MAX + 8];
        snprintf(why, sizeof why, "%.4096s: %s", source, err);
        assay_catalog_forget(self->cat, source);
        assay_catalog_refuse(self->cat, source, why);
        return true;
    }
    if (self->efd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN};
        epoll_ctl(self->efd, EPOLL_CTL_ADD, assay_describe_fd(c->d), &ev);
        struct itimerspec at = {
            .it_value = {.tv_sec = self->timeout_ms / 1000,
                         .tv_nsec = self->timeout_ms % 1000 * 1000000}};
        timerfd_settime(self->tfd, 0, &at, NULL);
    }
    return false;
}

/* Finishes the file being described: loads it, or refuses it. Always true:
 * a load, a withdrawal or a refusal is news for the leader. */
static bool s_end(assay_plugdir *self, assay_plugdir_withdraw_fn withdraw,
                  void *arg)
{
    s_current *c = &self->cur;
    const char *source = c->source;
    if (self->efd >= 0) {
        epoll_ctl(self->efd, EPOLL_CTL_DEL, assay_describe_fd(c->d), NULL);
        struct itimerspec off = {0};
        timerfd_settime(self->tfd, 0, &off, NULL);
    }
    assay_description *desc = NULL;
    char why[ASSAY_ERRMSG_SIZE];
    int rc = assay_describe_finish(&c->d, &desc, why, sizeof why);
    s_file *old = s_tracked(self, source);
    char err[ASSAY_ERRMSG_SIZE + 2 * PATH_MAX];
    assay_catalog_forget(self->cat, source);
    if (access(source, F_OK) != 0) {
        /* Removed while it was described: its removal was handled. */
        rc = ASSAY_ENOENT;
    } else if (rc) {
        /* The file no longer holds a plugin: the one it held goes. */
        if (old)
            s_withdraw(self, old, withdraw, arg);
        snprintf(err, sizeof err, "%.4096s: %s", source, why);
        assay_catalog_refuse(self->cat, source, err);
    } else if (old) {
        /* A changed file may hold a new version (withdraw the old one
         * first, or the new one would be a duplicate of it) or the same
         * version with other bytes, which is refused: the old one stays. */
        const assay_module *m = assay_description_module(desc);
        if (!strcmp(m->name, old->plugin->name) &&
            !strcmp(m->version, old->plugin->version)) {
            snprintf(err, sizeof err,
                     "%.4096s: %s %s changed in place (versions are "
                     "immutable: bump the version); the loaded copy stays",
                     source, old->plugin->name, old->plugin->version);
            assay_catalog_refuse(self->cat, source, err);
            rc = ASSAY_EEXIST;
        } else {
            s_withdraw(self, old, withdraw, arg);
        }
    }
    const assay_plugin *p = NULL;
    if (rc || assay_catalog_add(self->cat, c->load, source, &desc, &p, err,
                                sizeof err) != 0) {
        assay_description_destroy(&desc);
        if (self->cache[0])
            unlink(c->load);
        return true;
    }
    char key[sizeof((s_seen *)0)->key];
    snprintf(key, sizeof key, "%s %s", p->name, p->version);
    s_seen *seen = self->seen;
    while (seen && strcmp(seen->key, key))
        seen = seen->next;
    if (seen && memcmp(seen->hash, c->hash, sizeof c->hash)) {
        snprintf(err, sizeof err,
                 "%.4096s: %s was loaded before with other bytes (versions "
                 "are immutable: bump the version)",
                 source, key);
        assay_catalog_unload(self->cat, p);
        assay_catalog_refuse(self->cat, source, err);
        return true;
    }
    if (self->accept && self->accept(self->accept_arg, p, why, sizeof why)) {
        snprintf(err, sizeof err, "%.4096s: %s", source, why);
        assay_catalog_unload(self->cat, p);
        assay_catalog_refuse(self->cat, source, err);
        return true;
    }
    if (!seen && (seen = calloc(1, sizeof *seen))) {
        strlcpy(seen->key, key, sizeof seen->key);
        memcpy(seen->hash, c->hash, sizeof c->hash);
        seen->next = self->seen;
        self->seen = seen;
    }
    s_file *f = calloc(1, sizeof *f);
    if (!f) {
        assay_catalog_unload(self->cat, p);
        return true;
    }
    strlcpy(f->source, source, sizeof f->source);
    memcpy(f->hash, c->hash, sizeof c->hash);
    f->plugin = p;
    f->next = self->files;
    self->files = f;
    assay_info("loaded %s %s from %s", p->name, p->version, source);
    return true;
}

/* Queues a name for its turn (once: a name queued twice is read once). */
static void s_enqueue(assay_plugdir *self, const char *name)
{
    s_name **tail = &self->queue;
    for (; *tail; tail = &(*tail)->next)
        if (!strcmp((*tail)->name, name))
            return;
    s_name *n = calloc(1, sizeof *n);
    if (!n || strlcpy(n->name, name, sizeof n->name) >= sizeof n->name) {
        free(n);
        return;
    }
    *tail = n;
}

/* Works through the queue: with `block`, until it is empty; else as far
 * as it goes without waiting for a describer. True if the catalogue
 * changed. */
static bool s_pump(assay_plugdir *self, bool block,
                   assay_plugdir_withdraw_fn withdraw, void *arg)
{
    bool changed = false;
    for (;;) {
        if (self->cur.d) {
            int64_t left = assay_describe_deadline(self->cur.d) -
                           assay_now_ms();
            struct pollfd pfd = {.fd = assay_describe_fd(self->cur.d),
                                 .events = POLLIN};
            int wait = !block || left <= 0 ? 0
                       : left > 1000       ? 1000
                                           : (int)left;
            if (left > 0 && poll(&pfd, 1, wait) == 0) {
                if (!block)
                    return changed;
                continue;
            }
            changed = s_end(self, withdraw, arg) || changed;
        } else if (self->queue) {
            s_name *n = self->queue;
            self->queue = n->next;
            changed = s_begin(self, n->name) || changed;
            free(n);
        } else {
            return changed;
        }
    }
}

static bool s_remove(assay_plugdir *self, const char *name,
                     assay_plugdir_withdraw_fn withdraw, void *arg)
{
    char source[PATH_MAX + NAME_MAX + 2];
    snprintf(source, sizeof source, "%s/%s", self->dir, name);
    bool had_refusals = assay_catalog_forget(self->cat, source) > 0;
    s_file *f = s_tracked(self, source);
    if (!f)
        return had_refusals;
    s_withdraw(self, f, withdraw, arg);
    return true;
}

static int s_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool assay_plugdir_rescan(assay_plugdir *self,
                          assay_plugdir_withdraw_fn withdraw, void *arg)
{
    DIR *d = opendir(self->dir);
    if (!d)
        return false;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!s_is_so(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = reallocarray(names, cap, sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        if ((names[n] = strdup(e->d_name)))
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, s_cmp_names);
    bool changed = false;
    /* Files gone since the last look are withdrawn first. */
    for (s_file *f = self->files, *next; f; f = next) {
        next = f->next;
        if (access(f->source, F_OK) != 0) {
            s_withdraw(self, f, withdraw, arg);
            changed = true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        s_enqueue(self, names[i]);
        free(names[i]);
    }
    free(names);
    /* Watching, the loop goes on while each file is described. */
    return s_pump(self, self->efd < 0, withdraw, arg) || changed;
}

int assay_plugdir_new(assay_catalog *cat, const assay_plugdir_conf *conf,
                      assay_plugdir **out, char *err, size_t errlen)
{
    const char *dir = conf->dir;
    struct stat st;
    int bad = stat(dir, &st) != 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (bad)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "plugins directory %s: %s (%spoint --plugins-dir / "
                          "plugins_dir at the directory that holds your "
                          "plugins)",
                          dir, strerror(bad),
                          bad == ENOENT ? "create it, or " : "");
    if (st.st_mode & S_IWOTH)
        return assay_errf(err, errlen, ASSAY_EPERM,
                          "plugins directory %s is writable by every user: "
                          "anyone could put code there that this daemon "
                          "would load (chmod o-w %s)",
                          dir, dir);
    assay_plugdir *self = calloc(1, sizeof *self);
    if (!self)
        return ASSAY_ENOMEM;
    self->cat = cat;
    self->ifd = self->efd = self->tfd = -1;
    strlcpy(self->dir, dir, sizeof self->dir);
    if (conf->describer && *conf->describer)
        strlcpy(self->describer, conf->describer, sizeof self->describer);
    else
        assay_prefix_path(ASSAY_PART_EXECUTOR, self->describer,
                          sizeof self->describer);
    self->timeout_ms = conf->load_timeout_ms > 0 ? conf->load_timeout_ms
                                                 : ASSAY_DESCRIBE_TIMEOUT_MS;
    if (sodium_init() < 0) {
        free(self);
        return ASSAY_EIO;
    }
    if (conf->watch) {
        /* Named by pid, so that what a killed daemon left is swept by the
         * next one instead of piling up in /tmp. */
        assay_dir_sweep("/tmp", "assay-plugins-");
        snprintf(self->cache, sizeof self->cache,
                 "/tmp/assay-plugins-%d-XXXXXX", (int)getpid());
        self->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        self->efd = epoll_create1(EPOLL_CLOEXEC);
        self->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        if (!mkdtemp(self->cache) || self->ifd < 0 || self->efd < 0 ||
            self->tfd < 0 ||
            epoll_ctl(self->efd, EPOLL_CTL_ADD, self->ifd, &ev) != 0 ||
            epoll_ctl(self->efd, EPOLL_CTL_ADD, self->tfd, &ev) != 0 ||
            inotify_add_watch(self->ifd, dir,
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE |
                                  IN_MOVED_FROM) < 0) {
            int e = errno;
            assay_plugdir_destroy(&self);
            return assay_errf(err, errlen, ASSAY_EIO,
                              "cannot watch plugins directory %s: %s", dir,
                              strerror(e));
        }
    }
    assay_catalog_add_dir(cat, dir);
    assay_plugdir_rescan(self, NULL, NULL);
    /* The first scan is whole before the daemon offers its catalogue. */
    s_pump(self, true, NULL, NULL);
    *out = self;
    return 0;
}

int assay_plugdir_scan(assay_catalog *cat, const char *dir, char *err,
                       size_t errlen)
{
    assay_plugdir *once = NULL;
    assay_plugdir_conf conf = {.dir = dir};
    int rc = assay_plugdir_new(cat, &conf, &once, err, errlen);
    assay_plugdir_destroy(&once);
    return rc;
}

void assay_plugdir_destroy(assay_plugdir **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_plugdir *self = *self_p;
    if (self->cur.d) {
        assay_description *none = NULL;
        assay_describe_finish(&self->cur.d, &none, NULL, 0);
        assay_description_destroy(&none);
    }
    while (self->queue) {
        s_name *next = self->queue->next;
        free(self->queue);
        self->queue = next;
    }
    while (self->files) {
        s_file *next = self->files->next;
        free(self->files);
        self->files = next;
    }
    while (self->seen) {
        s_seen *next = self->seen->next;
        free(self->seen);
        self->seen = next;
    }
    if (self->ifd >= 0)
        close(self->ifd);
    if (self->efd >= 0)
        close(self->efd);
    if (self->tfd >= 0)
        close(self->tfd);
    /* The copies stay mapped in whoever loaded them; only names go. */
    if (self->cache[0] && strncmp(self->cache, "/tmp/assay-plugins-", 19) == 0)
        assay_dir_remove(self->cache);
    free(self);
    *self_p = NULL;
}

int assay_plugdir_fd(const assay_plugdir *self) { return self->efd; }

void assay_plugdir_set_accept(assay_plugdir *self, assay_plugdir_accept_fn fn,
                              void *arg)
{
    self->accept = fn;
    self->accept_arg = arg;
}

bool assay_plugdir_process(assay_plugdir *self,
                           assay_plugdir_withdraw_fn withdraw, void *arg)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool changed = false, overflow = false;
    for (;;) {
        ssize_t n = read(self->ifd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW)
                overflow = true;
            if (!ev->len || !s_is_so(ev->name))
                continue;
            if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
                s_enqueue(self, ev->name);
            else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
                changed = s_remove(self, ev->name, withdraw, arg) || changed;
        }
    }
    uint64_t expirations;
    if (read(self->tfd, &expirations, sizeof expirations) < 0 &&
        errno != EAGAIN)
        assay_warn("plugins directory timer: %s", strerror(errno));
    /* Events were lost: look at the whole directory instead. */
    if (overflow)
        changed = assay_plugdir_rescan(self, withdraw, arg) || changed;
    return s_pump(self, false, withdraw, arg) || changed;
}
