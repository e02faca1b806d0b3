/* core/bin/ctl_keys.c - assayctl keys: the keys directory of this machine
 * (cluster/keys.h, docs/security.md; members re-read allowed/ when it
 * changes), and the cluster's enrolment (assay.keys): tokens, enrolled
 * keys and their revocation. */
#include "ctl_keys.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/errtext.h"
#include "base/ident.h"
#include "cli.h"
#include "base/clock.h"
#include "cluster/keys.h"
#include "obs/bearer.h"
#include "proto/cpmsg.h"
#include "proto/names.h"
#include "proto/token.h"

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

/* allowed/'s certificates: file, name, role, public key; and its HTTP
 * tokens: file, name, role. */
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
        char name[128], role[64];
        if (e->d_name[0] != '.' && n > 6 &&
            !strcmp(e->d_name + n - 6, ".token") &&
            !assay_bearer_read(allowed, e->d_name, name, role))
            printf("%-24s %-16s %-8s (an HTTP token)\n", e->d_name, name,
                   role);
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
    const char *held = assay_keys_allowed_find(o->modules_dir, "zmq", to,
                                               k.public_key, NULL, NULL);
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

/* "90", "90s", "15m", "1h", "7d": seconds, or -1. */
static long long s_duration(const char *text)
{
    char *end;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : -1;
    if (!text || errno || end == text || v <= 0)
        return -1;
    long long unit = !*end || !strcmp(end, "s") ? 1
                     : !strcmp(end, "m")        ? 60
                     : !strcmp(end, "h")        ? 3600
                     : !strcmp(end, "d")        ? 86400
                                                : -1;
    return unit < 0 || v > ASSAY_CP_TOKEN_TTL_MAX ? -1 : v * unit;
}

static void s_when(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

static int s_enroll(const assay_ctl_opts *o)
{
    long long ttl = o->ttl ? s_duration(o->ttl) : ASSAY_CP_TOKEN_TTL_DEFAULT;
    if (!o->name || !o->role || ttl < 0) {
        fprintf(stderr, "assayctl: keys enroll --name NAME --role ROLE "
                        "[--ttl DURATION]: ROLE runtime, submit, read or "
                        "admin; DURATION like 90s, 15m, 1h, 7d (at most "
                        "7d; default 1h)\n");
        return ASSAY_EXIT_USAGE;
    }
    json_t *reply = NULL;
    int code = assay_ctl_request(
        o, ASSAY_SVC_KEYS,
        assay_cp_pack_keys(&(assay_cp_keys){.op = ASSAY_CP_KEYS_ENROLL,
                                            .name = o->name,
                                            .role = o->role,
                                            .ttl_s = ttl}),
        &reply);
    if (code)
        return code;
    const char *token = json_string_value(json_object_get(reply, "token"));
    if (o->json) {
        json_dumpf(reply, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else {
        char until[32];
        s_when(json_integer_value(json_object_get(reply, "expires_ms")),
               until, sizeof until);
        printf("token for %s (role %s), usable once until %s:\n%s\n\n",
               o->name, o->role, until, token ? token : "?");
        if (!strcmp(o->role, "runtime"))
            printf("On the new host: assayd --set enrol_token=TOKEN (or "
                   "enrol_token in its\nconfiguration), with node_id %s "
                   "and join naming the members.\n", o->name);
        else
            printf("On the new host: assayctl keys redeem TOKEN --name "
                   "%s --endpoint MEMBER\n", o->name);
    }
    json_decref(reply);
    return 0;
}

/* The other side of a token for a person or a tool: makes key NAME here
 * (not allowed here: the cluster allows it), trusts the cluster key the
 * token names, and presents the token from the new key. */
static int s_redeem(const assay_ctl_opts *o, const char *dir,
                    const char *token)
{
    char server[41], secret[ASSAY_TOKEN_SECRET_HEX], err[ASSAY_ERRMSG_SIZE];
    if (!o->name || !assay_ident_valid(o->name, 63)) {
        fprintf(stderr, "assayctl: keys redeem TOKEN --name NAME: the "
                        "name the token was made for\n");
        return ASSAY_EXIT_USAGE;
    }
    if (assay_token_read(token, server, secret, err, sizeof err)) {
        fprintf(stderr, "assayctl: keys redeem: %s\n", err);
        return ASSAY_EXIT_USAGE;
    }
    char e2[ASSAY_ERRMSG_SIZE * 2];
    assay_transport_key srv = {.struct_size = sizeof srv,
                               .dir = dir,
                               .file = ASSAY_KEY_CLUSTER,
                               .name = ASSAY_KEY_CLUSTER,
                               .create = 1,
                               .certify = server},
                        k = {.struct_size = sizeof k,
                             .dir = dir,
                             .file = o->name,
                             .name = o->name,
                             .create = 1};
    if (assay_link_key(o->modules_dir, "zmq", &srv, e2, sizeof e2) ||
        assay_link_key(o->modules_dir, "zmq", &k, e2, sizeof e2)) {
        fprintf(stderr, "assayctl: keys redeem: %s\n", e2);
        return ASSAY_EXIT_CONFIG;
    }
    explicit_bzero(k.secret_key, sizeof k.secret_key);
    assay_ctl_opts as = *o;
    as.key = o->name;
    as.keys_dir = dir;
    json_t *reply = NULL;
    int code = assay_ctl_request(
        &as, ASSAY_SVC_ENROL,
        assay_cp_pack_enrol(&(assay_cp_enrol){.name = o->name,
                                              .secret = secret}),
        &reply);
    explicit_bzero(secret, sizeof secret);
    if (code)
        return code;
    printf("enrolled %s/%s.key as %s (role %s): use it with --key %s\n",
           dir, o->name, o->name,
           json_string_value(json_object_get(reply, "role")), o->name);
    json_decref(reply);
    return 0;
}

static int s_enrolled(const assay_ctl_opts *o)
{
    json_t *reply = NULL;
    int code = assay_ctl_request(
        o, ASSAY_SVC_KEYS,
        assay_cp_pack_keys(&(assay_cp_keys){.op = ASSAY_CP_KEYS_LIST}),
        &reply);
    if (code)
        return code;
    if (o->json) {
        json_dumpf(reply, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(reply);
        return 0;
    }
    size_t i;
    json_t *r;
    char when[32];
    json_array_foreach(json_object_get(reply, "enrolled"), i, r) {
        s_when(json_integer_value(json_object_get(r, "at_ms")), when,
               sizeof when);
        printf("enrolled %-20s %-8s %s  %s\n",
               json_string_value(json_object_get(r, "name")),
               json_string_value(json_object_get(r, "role")),
               json_string_value(json_object_get(r, "key")), when);
    }
    json_array_foreach(json_object_get(reply, "tokens"), i, r) {
        s_when(json_integer_value(json_object_get(r, "expires_ms")), when,
               sizeof when);
        printf("token    %-20s %-8s pending until %s\n",
               json_string_value(json_object_get(r, "name")),
               json_string_value(json_object_get(r, "role")), when);
    }
    json_decref(reply);
    return 0;
}

/* A key the cluster enrolled (or a token pending for it): revoked on
 * every member. */
static int s_revoke_enrolled(const assay_ctl_opts *o, const char *name)
{
    json_t *reply = NULL;
    int code = assay_ctl_request(
        o, ASSAY_SVC_KEYS,
        assay_cp_pack_keys(&(assay_cp_keys){.op = ASSAY_CP_KEYS_REVOKE,
                                            .name = name}),
        &reply);
    if (code)
        return code;
    const char *was = json_string_value(json_object_get(reply, "was"));
    printf("revoked %s on every member: %s\n", name,
           was && !strcmp(was, "token")
               ? "its pending token can no longer be used"
               : "its connections are cut and new ones refused");
    json_decref(reply);
    return 0;
}

static int s_revoke(const assay_ctl_opts *o, const char *dir,
                    const char *file)
{
    char path[4400];
    size_t p = strlen("enrolled-");
    /* Enrolled keys are the cluster's: a file removed here alone would
     * come back, and the other members would still let the key in. */
    if (!strncmp(file, "enrolled-", p) && file[p])
        return s_revoke_enrolled(o, file + p);
    snprintf(path, sizeof path, "%s/%s/%s.token", dir, ASSAY_KEYS_ALLOWED,
             file);
    /* An HTTP token of that name: its file is all there is of it (and a
     * key of the name, made after it, goes too). */
    bool token = assay_ident_valid(file, 128) && unlink(path) == 0;
    if (token)
        printf("revoked %s: the token is refused from its next request\n",
               path);
    snprintf(path, sizeof path, "%s/%s/%s.key", dir, ASSAY_KEYS_ALLOWED,
             file);
    if (token && access(path, F_OK) < 0)
        return 0;
    if (assay_ident_valid(file, 128) && access(path, F_OK) < 0 &&
        errno == ENOENT) {
        int code = s_revoke_enrolled(o, file);
        if (code)
            fprintf(stderr, "assayctl: keys revoke: %s: no such file here, "
                            "and the cluster (%s) revoked no enrolled %s\n",
                    path, o->endpoint, file);
        return code;
    }
    if (!assay_ident_valid(file, 128) || unlink(path) < 0) {
        fprintf(stderr, "assayctl: keys revoke: %s: %s\n", path,
                assay_ident_valid(file, 128) ? strerror(errno)
                                             : "not a key name");
        return ASSAY_EXIT_DATA;
    }
    printf("revoked %s: new connections with it are refused\n", path);
    return 0;
}

/* An HTTP token for metrics_listen (core/obs/bearer.h): printed once. */
static int s_token(const char *dir, const char *name, const char *role)
{
    if (strcmp(role, "read") && strcmp(role, "submit") &&
        strcmp(role, "admin")) {
        fprintf(stderr, "assayctl: keys token: role '%s': read, submit or "
                        "admin (an HTTP token only reads)\n",
                role);
        return ASSAY_EXIT_USAGE;
    }
    char allowed[4200], token[ASSAY_BEARER_LEN + 1], err[ASSAY_ERRMSG_SIZE];
    snprintf(allowed, sizeof allowed, "%s/%s", dir, ASSAY_KEYS_ALLOWED);
    /* One name space with the keys: `keys revoke NAME` must mean one
     * thing, and enrolled-NAME is the cluster's. */
    char key[4400];
    snprintf(key, sizeof key, "%s/%s.key", allowed, name);
    if (assay_ident_valid(name, 128) &&
        (!strncmp(name, "enrolled-", 9) || name[0] == '.' ||
         access(key, F_OK) == 0)) {
        fprintf(stderr, "assayctl: keys token: name '%s': %s\n", name,
                name[0] == '.' || !strncmp(name, "enrolled-", 9)
                    ? "reserved"
                    : "a key of that name is allowed here (a token needs a "
                      "name of its own)");
        return ASSAY_EXIT_DATA;
    }
    if (assay_bearer_make(allowed, name, role, token, sizeof token, err,
                         sizeof err)) {
        fprintf(stderr, "assayctl: keys token: %s\n", err);
        return ASSAY_EXIT_DATA;
    }
    printf("%s\n", token);
    fprintf(stderr, "made %s/%s.token (role %s): the token above is shown "
                    "once; present it as 'Authorization: Bearer TOKEN'\n",
            allowed, name, role);
    explicit_bzero(token, sizeof token);
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
        return s_revoke(o, dir, args[1]);
    if (!strcmp(sub, "token") && (n == 2 || n == 3))
        return s_token(dir, args[1], n == 3 ? args[2] : "read");
    if (!strcmp(sub, "enroll") && n == 1)
        return s_enroll(o);
    if (!strcmp(sub, "enrolled") && n == 1)
        return s_enrolled(o);
    if (!strcmp(sub, "redeem") && n == 2)
        return s_redeem(o, dir, args[1]);
    fprintf(stderr,
            "assayctl: usage: keys init | new FILE ROLE [NAME] | list | "
            "allow PATH/NAME.key | revoke NAME | token NAME [ROLE] | enroll --name NAME --role "
            "ROLE [--ttl 1h] | enrolled | redeem TOKEN --name NAME (ROLE: submit, read, admin, "
            "runtime, member)\n");
    return ASSAY_EXIT_USAGE;
}
