/* core/cluster/keys.c - whose keys each role presents: see keys.h. */
#include "cluster/keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/errtext.h"
#include "base/log.h"

int assay_keys_dir(const char *configured, char *out, size_t len, char *err,
                   size_t errlen)
{
    const char *env = getenv("ASSAY_KEYS_DIR"),
               *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;
    if (configured && *configured)
        n = snprintf(out, len, "%s", configured);
    else if (env && *env)
        n = snprintf(out, len, "%s", env);
    else if (xdg && *xdg == '/')
        n = snprintf(out, len, "%s/assay/keys", xdg);
    else if (home && *home == '/')
        n = snprintf(out, len, "%s/.config/assay/keys", home);
    else
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "keys_dir: not set, and neither are "
                          "ASSAY_KEYS_DIR, XDG_CONFIG_HOME nor HOME");
    if (n < 0 || (size_t)n >= len)
        return assay_errf(err, errlen, ASSAY_ETOOBIG,
                          "keys_dir: longer than %zu bytes", len - 1);
    return 0;
}

bool assay_endpoint_local(const char *ep)
{
    static const char *const local[] = {"tcp://127.", "tcp://localhost:",
                                        "tcp://[::1]:", "ipc://",
                                        "inproc://"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        if (!strncmp(ep, local[i], strlen(local[i])))
            return true;
    return false;
}

bool assay_raft_local(const assay_conf *c)
{
    char copy[sizeof c->members + sizeof c->raft_address + 2], *save;
    char ep[300];
    snprintf(copy, sizeof copy, "%s %s", c->raft_address, c->members);
    for (char *t = strtok_r(copy, " ,\t", &save); t;
         t = strtok_r(NULL, " ,\t", &save)) {
        const char *at = strchr(t, '@');
        snprintf(ep, sizeof ep, "tcp://%s", at ? at + 1 : t);
        if (!assay_endpoint_local(ep))
            return false;
    }
    return true;
}

/* Every space- or comma-separated endpoint of `list` is local. */
static bool s_all_local(const char *list)
{
    char copy[1024], *save;
    strlcpy(copy, list, sizeof copy);
    for (char *t = strtok_r(copy, " ,\t", &save); t;
         t = strtok_r(NULL, " ,\t", &save))
        if (!assay_endpoint_local(t))
            return false;
    return true;
}

typedef struct {
    const char *modules_dir, *transport, *dir;
} s_where;

/* Reads (or makes) one key with the transport's key files. */
static int s_key(const s_where *w, assay_transport_key *k, char *err,
                 size_t errlen)
{
    k->struct_size = sizeof *k;
    k->dir = w->dir;
    return assay_link_key(w->modules_dir, w->transport, k, err, errlen);
}

/* The cluster's public key, for a node that connects to members. */
static int s_server_key(const s_where *w, assay_keys *out, char *err,
                        size_t errlen)
{
    assay_transport_key k = {.file = ASSAY_KEY_CLUSTER, .public_only = 1};
    int rc = s_key(w, &k, err, errlen);
    if (rc == ASSAY_ENOENT)
        return assay_errf(err, errlen, rc,
                          "%s/%s.key: no cluster key to trust: copy the "
                          "cluster's public key (cluster.key, never its "
                          "_secret) from a member's keys directory "
                          "(docs/security.md)",
                          w->dir, ASSAY_KEY_CLUSTER);
    if (!rc)
        strlcpy(out->server, k.public_key, sizeof out->server);
    out->allow[0] = '\0'; /* it binds nothing: no one to let in */
    return rc;
}

static void s_take(assay_keys *out, const assay_transport_key *k)
{
    strlcpy(out->secret, k->secret_key, sizeof out->secret);
    strlcpy(out->public_, k->public_key, sizeof out->public_);
}

static int s_start(const assay_conf *c, assay_keys *out, s_where *w,
                   char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (c->security == ASSAY_SECURITY_NONE)
        return 1;
    int rc = assay_keys_dir(c->keys_dir, out->dir, sizeof out->dir, err,
                            errlen);
    *w = (s_where){c->modules_dir, c->transport, out->dir};
    snprintf(out->allow, sizeof out->allow, "%s/%s", out->dir,
             ASSAY_KEYS_ALLOWED);
    out->secure = !rc;
    return rc;
}

int assay_keys_init(const char *modules_dir, const char *transport,
                    const char *dir, int *made, char *err, size_t errlen)
{
    s_where w = {modules_dir, transport, dir};
    assay_transport_key k[2] = {{.file = ASSAY_KEY_CLUSTER,
                                 .name = ASSAY_KEY_CLUSTER,
                                 .role = "member",
                                 .create = 1},
                                {.file = ASSAY_KEY_OPERATOR,
                                 .name = ASSAY_KEY_OPERATOR,
                                 .role = "admin",
                                 .create = 1,
                                 .allow = 1}};
    *made = 0;
    int rc = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        rc = s_key(&w, &k[i], err, errlen);
        *made |= k[i].created ? 1 << i : 0;
        explicit_bzero(k[i].secret_key, sizeof k[i].secret_key);
    }
    return rc;
}

/* member-ID, made (and allowed) when everything is on this host. */
static int s_raft_key(const assay_conf *c, const s_where *w, bool make,
                      assay_keys *out, char *err, size_t errlen)
{
    char file[128], name[32];
    snprintf(name, sizeof name, "%lld", (long long)c->member_id);
    snprintf(file, sizeof file, "%s%s", ASSAY_KEY_MEMBER_PREFIX, name);
    assay_transport_key k = {.file = file,
                             .name = name,
                             .role = "member",
                             .create = make,
                             .allow = 1};
    int rc = s_key(w, &k, err, errlen);
    if (rc == ASSAY_ENOENT)
        return assay_errf(err, errlen, rc,
                          "%s/%s.key_secret: no raft key for member %s, and "
                          "its raft links are not all on this host, so none "
                          "is made: make it with `assayctl --keys-dir %s "
                          "keys new %s member %s`, and allow its %s.key on "
                          "every other member, and theirs here "
                          "(docs/security.md)",
                          out->dir, file, name, out->dir, file, name, file);
    if (rc)
        return rc;
    strlcpy(out->raft_secret, k.secret_key, sizeof out->raft_secret);
    explicit_bzero(k.secret_key, sizeof k.secret_key);
    if (k.created)
        assay_info("keys: made member %s's raft key in %s (allowed)", name,
                   out->dir);
    return 0;
}

int assay_keys_member(const assay_conf *c, assay_keys *out, char *err,
                      size_t errlen)
{
    s_where w;
    int rc = s_start(c, out, &w, err, errlen);
    if (rc)
        return rc < 0 ? rc : 0;
    bool local = assay_endpoint_local(c->listen) &&
                 assay_endpoint_local(c->events);
    int made = 0;
    if (local && (rc = assay_keys_init(w.modules_dir, w.transport, out->dir,
                                       &made, err, errlen)))
        return rc;
    if (made & ASSAY_KEYS_MADE_CLUSTER)
        assay_info("keys: made the cluster key in %s", out->dir);
    if (made & ASSAY_KEYS_MADE_OPERATOR)
        assay_info("keys: made an admin key for assayctl, %s/%s.key_secret "
                   "(only this user can read it)",
                   out->dir, ASSAY_KEY_OPERATOR);
    assay_transport_key k = {.file = ASSAY_KEY_CLUSTER};
    rc = s_key(&w, &k, err, errlen);
    if (rc == ASSAY_ENOENT)
        return assay_errf(err, errlen, rc,
                          "%s/%s.key_secret: no cluster key, and listen %s "
                          "or events %s is not on this host, so none is "
                          "made: make the keys with `assayctl keys init "
                          "--keys-dir %s` and give every member the same "
                          "(docs/security.md)",
                          out->dir, ASSAY_KEY_CLUSTER, c->listen, c->events,
                          out->dir);
    if (rc)
        return rc;
    s_take(out, &k);
    struct stat st;
    if (!local && (stat(out->allow, &st) < 0 || !S_ISDIR(st.st_mode)))
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "%s: no allow-list, and listen %s or events %s "
                          "is not on this host: allow keys with `assayctl "
                          "keys allow` (docs/security.md)",
                          out->allow, c->listen, c->events);
    return strcmp(c->consensus, "raft")
               ? 0
               : s_raft_key(c, &w, local && assay_raft_local(c), out, err,
                            errlen);
}

/* The enrolment token: enrol_token, else $ASSAY_ENROL_TOKEN (which,
 * unlike a command line, other users cannot read in /proc); NULL. */
static const char *s_enrol_token(const assay_conf *c)
{
    const char *env = getenv("ASSAY_ENROL_TOKEN");
    return c->enrol_token[0] ? c->enrol_token : env && *env ? env : NULL;
}

/* A runtime given an enrolment token: trusts the cluster key it names,
 * makes its own key (not allowed here: the cluster allows it), and while
 * FILE.enrolling says the token was not yet accepted, keeps its secret
 * in out->enrol_secret for the runtime to present. */
static int s_enrolling(const assay_conf *c, const s_where *w,
                       const char *id, const char *file, assay_keys *out,
                       char *err, size_t errlen)
{
    char secret[ASSAY_TOKEN_SECRET_HEX];
    assay_transport_key srv = {.file = ASSAY_KEY_CLUSTER,
                               .name = ASSAY_KEY_CLUSTER,
                               .create = 1,
                               .certify = out->server};
    int rc = assay_token_read(s_enrol_token(c), out->server, secret, err,
                              errlen);
    if (rc)
        return rc;
    if ((rc = s_key(w, &srv, err, errlen)))
        return rc == ASSAY_EEXIST
                   ? assay_errf(err, errlen, rc,
                                "%s/%s.key holds another cluster's key than "
                                "the enrolment token names: the token is "
                                "for another cluster, or the file is stale",
                                w->dir, ASSAY_KEY_CLUSTER)
                   : rc;
    snprintf(out->enrol_marker, sizeof out->enrol_marker,
             "%s/%s.enrolling", w->dir, file);
    assay_transport_key k = {.file = file, .name = id, .role = "runtime"};
    rc = s_key(w, &k, err, errlen);
    if (rc == ASSAY_ENOENT) {
        /* The marker first (the directory is there: cluster.key is): a
         * key made without one would never enrol. */
        int fd = open(out->enrol_marker, O_WRONLY | O_CREAT | O_CLOEXEC,
                      0600);
        if (fd < 0)
            return assay_errf(err, errlen, ASSAY_EIO, "%s: %s",
                              out->enrol_marker, strerror(errno));
        close(fd);
        k.create = 1;
        rc = s_key(w, &k, err, errlen);
        if (!rc)
            assay_info("keys: made runtime %s's key in %s, to enrol", id,
                       out->dir);
    }
    if (rc)
        return rc;
    s_take(out, &k);
    explicit_bzero(k.secret_key, sizeof k.secret_key);
    struct stat st;
    if (stat(out->enrol_marker, &st) == 0)
        memcpy(out->enrol_secret, secret, sizeof secret);
    else
        out->enrol_marker[0] = '\0'; /* enrolled before */
    explicit_bzero(secret, sizeof secret);
    out->allow[0] = '\0';
    return 0;
}

int assay_keys_runtime(const assay_conf *c, const char *id,
                       const char *endpoints, assay_keys *out, char *err,
                       size_t errlen)
{
    s_where w;
    int rc = s_start(c, out, &w, err, errlen);
    if (rc)
        return rc < 0 ? rc : 0;
    char file[128];
    snprintf(file, sizeof file, "%s%s", ASSAY_KEY_RUNTIME_PREFIX, id);
    if (s_enrol_token(c))
        return s_enrolling(c, &w, id, file, out, err, errlen);
    bool local = s_all_local(endpoints);
    /* Started with its member (make demo), it may come first: either one
     * makes the cluster's keys, and the other reads them. A directory
     * that has the cluster's public key already is a runtime's own. */
    int made = 0;
    char pub[4200];
    struct stat st;
    snprintf(pub, sizeof pub, "%s/%s.key", out->dir, ASSAY_KEY_CLUSTER);
    if (local && stat(pub, &st) < 0 &&
        (rc = assay_keys_init(w.modules_dir, w.transport, out->dir, &made,
                              err, errlen)))
        return rc;
    if (made & ASSAY_KEYS_MADE_CLUSTER)
        assay_info("keys: no cluster key in %s: made one (a member started "
                   "with this directory will use it; one with another will "
                   "not let this runtime in)",
                   out->dir);
    assay_transport_key k = {.file = file,
                             .name = id,
                             .role = "runtime",
                             .create = local,
                             .allow = 1};
    rc = s_key(&w, &k, err, errlen);
    if (rc == ASSAY_ENOENT)
        return assay_errf(err, errlen, rc,
                          "%s/%s.key_secret: no key for runtime %s, and the "
                          "members (%s) are not on this host, so none is "
                          "made: make it with `assayctl --keys-dir %s keys "
                          "new %s runtime %s` and allow it on the members "
                          "(docs/security.md)",
                          out->dir, file, id, endpoints, out->dir, file, id);
    if (rc)
        return rc;
    s_take(out, &k);
    if (k.created)
        assay_info("keys: made runtime %s's key in %s (allowed)", id,
                   out->dir);
    return s_server_key(&w, out, err, errlen);
}

int assay_keys_client(const char *modules_dir, const char *transport,
                      const char *dir, const char *name, assay_keys *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rc = assay_keys_dir(dir, out->dir, sizeof out->dir, err, errlen);
    if (rc)
        return rc;
    s_where w = {modules_dir, transport, out->dir};
    assay_transport_key k = {.file = name ? name : ASSAY_KEY_OPERATOR};
    rc = s_key(&w, &k, err, errlen);
    if (rc == ASSAY_ENOENT)
        return assay_errf(err, errlen, rc,
                          "%s/%s.key_secret: no such key: run as the user "
                          "that started the member (it made one), or give "
                          "a keys directory holding the cluster's public "
                          "key and yours (--keys-dir, ASSAY_KEYS_DIR; "
                          "docs/security.md)",
                          out->dir, k.file);
    if (rc)
        return rc;
    s_take(out, &k);
    out->secure = true;
    return s_server_key(&w, out, err, errlen);
}

void assay_keys_apply(const assay_keys *k, assay_link_conf *lc)
{
    if (!k->secure)
        return;
    lc->curve_secret = k->secret;
    lc->curve_public = k->public_;
    lc->curve_server = k->server[0] ? k->server : NULL;
    lc->allow_dir = k->allow[0] ? k->allow : NULL;
}

const char *assay_keys_allowed_find(const char *modules_dir,
                                    const char *transport,
                                    const char *allow_dir, const char *key,
                                    const char *name, const char *skip)
{
    static char found[256];
    DIR *d = allow_dir && *allow_dir ? opendir(allow_dir) : NULL;
    const char *as = NULL;
    for (struct dirent *e; d && !as && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n <= 4 || n - 4 >= sizeof found ||
            strcmp(e->d_name + n - 4, ".key") ||
            (skip && !strncmp(e->d_name, skip, strlen(skip))))
            continue;
        snprintf(found, sizeof found, "%.*s", (int)(n - 4), e->d_name);
        assay_transport_key k = {.struct_size = sizeof k,
                                 .dir = allow_dir,
                                 .file = found,
                                 .public_only = 1};
        char err[ASSAY_ERRMSG_SIZE * 2];
        if (!assay_link_key(modules_dir, transport, &k, err, sizeof err) &&
            (!key || !strcmp(k.public_key, key)) &&
            (!name || !strcmp(k.cert_name, name)))
            as = found;
    }
    if (d)
        closedir(d);
    return as;
}
