/* core/bin/ctl_keys.c - assayctl keys: the keys directory of this machine
 * (cluster/keys.h, docs/security.md). Nothing here talks to a cluster:
 * members re-read allowed/ when it changes. */
#include "ctl_keys.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errtext.h"
#include "base/ident.h"
#include "cli.h"
#include "cluster/keys.h"

static const char *const s_roles[] = {"submit", "read", "admin", "runtime",
                                      "member", NULL};

static bool s_role(const char *r)
{
    for (int i = 0; s_roles[i]; i++)
        if (!strcmp(r, s_roles[i]))
            return true;
    return false;
}

/* Reads or makes key `file` in dir, allowed there; prints what happened. */
static int s_make(const assay_ctl_opts *o, const char *dir, const char *file,
                  const char *name, const char *role)
{
    assay_transport_key k = {.struct_size = sizeof k,
                             .dir = dir,
                             .file = file,
                             .name = name,
                             .role = role,
                             .create = 1,
                             .allow = 1};
    char err[ASSAY_ERRMSG_SIZE * 2];
    int rc = assay_link_key(o->modules_dir, "zmq", &k, err, sizeof err);
    if (rc) {
        fprintf(stderr, "assayctl: keys: %s\n", err);
        return ASSAY_EXIT_CONFIG;
    }
    printf("%s %s/%s.key (%s, role %s)%s\n", k.created ? "made" : "kept",
           dir, file, k.cert_name, k.cert_role,
           k.created ? ", allowed" : "");
    explicit_bzero(k.secret_key, sizeof k.secret_key);
    return 0;
}

/* allowed/'s certificates: file, name, role, public key. */
static int s_list(const assay_ctl_opts *o, const char *dir)
{
    char allowed[4200];
    snprintf(allowed, sizeof allowed, "%s/%s", dir, ASSAY_KEYS_ALLOWED);
    DIR *d = opendir(allowed);
    if (!d) {
        fprintf(stderr, "assayctl: keys: %s: %s\n", allowed, strerror(errno));
        return ASSAY_EXIT_UNAVAILABLE;
    }
    int code = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n <= 4 || strcmp(e->d_name + n - 4, ".key"))
            continue;
        char file[256];
        snprintf(file, sizeof file, "%.*s", (int)(n - 4), e->d_name);
        assay_transport_key k = {.struct_size = sizeof k,
                                 .dir = allowed,
                                 .file = file,
                                 .public_only = 1};
        char err[ASSAY_ERRMSG_SIZE * 2];
        if (assay_link_key(o->modules_dir, "zmq", &k, err, sizeof err)) {
            fprintf(stderr, "assayctl: keys: %s\n", err);
            code = ASSAY_EXIT_CONFIG;
            continue;
        }
        printf("%-24s %-16s %-8s %s\n", file, k.cert_name, k.cert_role,
               k.public_key);
    }
    closedir(d);
    return code;
}

/* The file of allowed/ that holds `key` already, or NULL. */
static const char *s_allowed_as(const assay_ctl_opts *o, const char *allowed,
                                const char *key)
{
    static char found[256];
    DIR *d = opendir(allowed);
    const char *as = NULL;
    for (struct dirent *e; d && !as && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n <= 4 || n - 4 >= sizeof found ||
            strcmp(e->d_name + n - 4, ".key"))
            continue;
        snprintf(found, sizeof found, "%.*s", (int)(n - 4), e->d_name);
        assay_transport_key k = {.struct_size = sizeof k,
                                 .dir = allowed,
                                 .file = found,
                                 .public_only = 1};
        char err[ASSAY_ERRMSG_SIZE * 2];
        if (!assay_link_key(o->modules_dir, "zmq", &k, err, sizeof err) &&
            !strcmp(k.public_key, key))
            as = found;
    }
    if (d)
        closedir(d);
    return as;
}

/* Copies the certificate at `path` (NAME.key) into allowed/, once it
 * reads as one. */
static int s_allow(const assay_ctl_opts *o, const char *dir, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    char from[4096], file[256], to[4400];
    if (n <= 4 || n - 4 >= sizeof file || strcmp(base + n - 4, ".key")) {
        fprintf(stderr, "assayctl: keys allow: %s: want a certificate file "
                        "NAME.key (the public half, never NAME.key_secret)\n",
                path);
        return ASSAY_EXIT_USAGE;
    }
    snprintf(file, sizeof file, "%.*s", (int)(n - 4), base);
    snprintf(from, sizeof from, "%.*s", base == path ? 1 : (int)(base - path - 1),
             base == path ? "." : path);
    assay_transport_key k = {.struct_size = sizeof k,
                             .dir = from,
                             .file = file,
                             .public_only = 1};
    char err[ASSAY_ERRMSG_SIZE * 2];
    if (assay_link_key(o->modules_dir, "zmq", &k, err, sizeof err)) {
        fprintf(stderr, "assayctl: keys allow: %s\n", err);
        return ASSAY_EXIT_DATA;
    }
    if (!s_role(k.cert_role)) {
        fprintf(stderr, "assayctl: keys allow: %s: role '%s' is none of "
                        "submit, read, admin, runtime, member\n",
                path, k.cert_role);
        return ASSAY_EXIT_DATA;
    }
    snprintf(to, sizeof to, "%s/%s", dir, ASSAY_KEYS_ALLOWED);
    mkdir(dir, 0700);
    mkdir(to, 0700);
    const char *held = s_allowed_as(o, to, k.public_key);
    if (held) {
        fprintf(stderr, "assayctl: keys allow: %s: its key is allowed "
                        "already, as %s\n", path, held);
        return ASSAY_EXIT_DATA;
    }
    /* Written under a hidden name (which no allow-list reads), then
     * linked into place: never half a certificate, never one replaced. */
    char tmp[4400 + 300];
    snprintf(tmp, sizeof tmp, "%s/.%s.key.%ld.tmp", to, file, (long)getpid());
    snprintf(to, sizeof to, "%s/%s/%s.key", dir, ASSAY_KEYS_ALLOWED, file);
    FILE *in = fopen(path, "re"), *out = in ? fopen(tmp, "wxe") : NULL;
    int code = 0;
    bool copied = false;
    if (out) {
        char buf[4096];
        copied = true;
        for (size_t r; (r = fread(buf, 1, sizeof buf, in));)
            copied = copied && fwrite(buf, 1, r, out) == r;
        copied = !fclose(out) && copied && !ferror(in);
    }
    if (!copied || link(tmp, to) < 0) {
        fprintf(stderr, "assayctl: keys allow: %s: %s\n",
                !in ? path : copied ? to : tmp,
                errno == EEXIST ? "already allowed (revoke it first to "
                                  "replace it)"
                                : strerror(errno));
        code = errno == EEXIST ? ASSAY_EXIT_DATA : ASSAY_EXIT_CONFIG;
    } else
        printf("allowed %s (%s, role %s)\n", to, k.cert_name, k.cert_role);
    unlink(tmp);
    if (in)
        fclose(in);
    return code;
}

static int s_revoke(const char *dir, const char *file)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/%s.key", dir, ASSAY_KEYS_ALLOWED,
             file);
    if (!assay_ident_valid(file, 128) || unlink(path) < 0) {
        fprintf(stderr, "assayctl: keys revoke: %s: %s\n", path,
                assay_ident_valid(file, 128) ? strerror(errno)
                                             : "not a key name");
        return ASSAY_EXIT_DATA;
    }
    printf("revoked %s: new connections with it are refused\n", path);
    return 0;
}

int assay_ctl_keys(char **args, int n, const assay_ctl_opts *o)
{
    char dir[4096], err[ASSAY_ERRMSG_SIZE];
    if (assay_keys_dir(o->keys_dir, dir, sizeof dir, err, sizeof err)) {
        fprintf(stderr, "assayctl: keys: %s\n", err);
        return ASSAY_EXIT_CONFIG;
    }
    const char *sub = n ? args[0] : "";
    if (!strcmp(sub, "init") && n == 1) {
        int made;
        if (assay_keys_init(o->modules_dir, "zmq", dir, &made, err,
                            sizeof err)) {
            fprintf(stderr, "assayctl: keys: %s\n", err);
            return ASSAY_EXIT_CONFIG;
        }
        printf("%s %s/%s.key (every member serves with it)\n"
               "%s %s/%s.key (role admin, allowed)\n",
               made & ASSAY_KEYS_MADE_CLUSTER ? "made" : "kept", dir,
               ASSAY_KEY_CLUSTER, made & ASSAY_KEYS_MADE_OPERATOR ? "made" : "kept",
               dir, ASSAY_KEY_OPERATOR);
        return 0;
    }
    if (!strcmp(sub, "new") && (n == 3 || n == 4) && s_role(args[2]))
        return s_make(o, dir, args[1], n == 4 ? args[3] : args[1], args[2]);
    if (!strcmp(sub, "list") && n == 1)
        return s_list(o, dir);
    if (!strcmp(sub, "allow") && n == 2)
        return s_allow(o, dir, args[1]);
    if (!strcmp(sub, "revoke") && n == 2)
        return s_revoke(dir, args[1]);
    fprintf(stderr,
            "assayctl: usage: keys init | new FILE ROLE [NAME] | list | "
            "allow PATH/NAME.key | revoke NAME (ROLE: submit, read, admin, "
            "runtime, member)\n");
    return ASSAY_EXIT_USAGE;
}
