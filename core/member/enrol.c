/* core/member/enrol.c - enrolment (docs/security.md#enrolment): an admin
 * asks assay.keys for a one-time token; a new host presents its secret
 * once on assay.enrol, from a key no certificate allows yet (a "guest",
 * let in only while some token is pending, and only to this service);
 * the leader commits the enrolment, and every member writes the key
 * into its allow-list as allowed/enrolled-NAME.key. Revoking one
 * (assay.keys revoke) removes that file on every member, which cuts the
 * key's live connections as any revocation does. */
#include "member/internal.h"

#include <dirent.h>

#include <sodium.h>

#include "proto/token.h"

#define ENROLLED_PREFIX "enrolled-"

/* ---- the allow-list's enrolled certificates ---------------------------- */

static void s_cert_file(const char *name, char *out, size_t len)
{
    snprintf(out, len, ENROLLED_PREFIX "%s", name);
}

static void s_write_cert(const assay_enrolled_rec *e, void *arg)
{
    assay_leader *self = arg;
    char file[128], err[ASSAY_ERRMSG_SIZE * 2];
    s_cert_file(e->name, file, sizeof file);
    assay_transport_key k = {.struct_size = sizeof k,
                             .dir = self->allow_dir,
                             .file = file,
                             .name = e->name,
                             .role = e->role,
                             .create = 1,
                             .certify = e->key};
    int rc = assay_link_key(self->conf->modules_dir, self->conf->transport,
                            &k, err, sizeof err);
    if (rc == ASSAY_EEXIST) { /* a stale one: the enrolment is the truth */
        char path[4400];
        snprintf(path, sizeof path, "%s/%s.key", self->allow_dir, file);
        unlink(path);
        rc = assay_link_key(self->conf->modules_dir, self->conf->transport,
                            &k, err, sizeof err);
    }
    if (rc)
        assay_error("enrolled key %s: not allowed here: %s", e->name, err);
    else if (k.created)
        assay_info("enrolled key %s (role %s) allowed: %s/%s.key", e->name,
                   e->role, self->allow_dir, file);
}

static void s_remove_cert(assay_leader *self, const char *name)
{
    char file[128], path[4400];
    s_cert_file(name, file, sizeof file);
    snprintf(path, sizeof path, "%s/%s.key", self->allow_dir, file);
    if (unlink(path) == 0)
        assay_info("enrolled key %s revoked: %s removed", name, path);
    else if (errno != ENOENT)
        assay_error("enrolled key %s: cannot remove %s: %s", name, path,
                    strerror(errno));
}

/* Makes allowed/'s enrolled-*.key files what the state says: after a
 * snapshot is installed (the commands in between were not seen here). */
void mb_enrolled_sync(assay_leader *self)
{
    self->keys_gen = assay_state_keys_gen(self->state);
    mb_guests_check(self);
    if (!self->allow_dir[0])
        return;
    DIR *d = opendir(self->allow_dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name), p = strlen(ENROLLED_PREFIX);
        if (n <= p + 4 || strncmp(e->d_name, ENROLLED_PREFIX, p) ||
            strcmp(e->d_name + n - 4, ".key") || n - p - 4 >= 64)
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(n - p - 4), e->d_name + p);
        if (!assay_state_enrolled(self->state, name))
            s_remove_cert(self, name);
    }
    if (d)
        closedir(d);
    assay_state_enrolled_each(self->state, s_write_cert, self);
}

/* After a command is applied: the one token, enrolment or revocation it
 * made, as its result tells (a new token lets guests in at once: a
 * refused handshake is not tried again by libzmq). */
void mb_enrolled_applied(assay_leader *self, const json_t *result)
{
    uint64_t gen = assay_state_keys_gen(self->state);
    if (gen == self->keys_gen)
        return;
    self->keys_gen = gen;
    mb_guests_check(self);
    const char *name = mb_str(result, "name");
    const assay_enrolled_rec *e = assay_state_enrolled(self->state, name);
    if (!self->allow_dir[0] || !name)
        return;
    if (e)
        s_write_cert(e, self);
    else
        s_remove_cert(self, name);
}

/* Guests are let in while some token is pending, and only then. */
void mb_guests_check(assay_leader *self)
{
    bool want = self->secure &&
                assay_state_level(self->state) >= ASSAY_LEVEL_ENROLMENT &&
                assay_state_tokens_live(self->state, assay_wall_ms()) > 0;
    if (want == self->guests || !self->link)
        return;
    int rc = assay_link_guests(self->link, want);
    if (rc)
        assay_warn("enrolment: the transport cannot let guests in: %s",
                   assay_strerror(rc));
    else
        self->guests = want;
}

/* ---- assay.keys --------------------------------------------------------- */

/* Enrolment needs security, and a cluster at its level. */
static bool s_ready(assay_leader *self, const assay_bytes *route,
                    const char *verb)
{
    int64_t level = assay_state_level(self->state);
    if (!self->secure)
        mb_reply(self, route, verb,
                 assay_cp_error(ASSAY_EUNSUPP,
                                "%s: security = none: there are no keys to "
                                "enrol", verb));
    else if (level < ASSAY_LEVEL_ENROLMENT)
        mb_reply(self, route, verb,
                 assay_cp_error(ASSAY_EUNSUPP,
                                "%s: the cluster is at feature level %lld; "
                                "enrolment needs %d (`assayctl cluster "
                                "upgrade` once every member runs this "
                                "release)",
                                verb, (long long)level,
                                ASSAY_LEVEL_ENROLMENT));
    return self->secure && level >= ASSAY_LEVEL_ENROLMENT;
}

void mb_svc_keys(assay_leader *self, const assay_bytes *route,
                 const char *verb, const json_t *body)
{
    assay_cp_keys req;
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_cp_read_keys(body, &req, err, sizeof err);
    if (rc) {
        mb_reply(self, route, verb, assay_cp_error(rc, "%s", err));
        return;
    }
    if (!s_ready(self, route, verb))
        return;
    int64_t now = assay_wall_ms();
    if (req.op == ASSAY_CP_KEYS_LIST) {
        mb_reply(self, route, verb,
                 assay_cp_ok(assay_state_keys_json(self->state, now)));
        return;
    }
    const char *by = mb_attribution(self);
    if (req.op == ASSAY_CP_KEYS_REVOKE) {
        if (!assay_state_enrolled(self->state, req.name) &&
            !assay_state_token(self->state, req.name)) {
            mb_reply(self, route, verb,
                     assay_cp_error(ASSAY_ENOENT,
                                    "%s revoke: no key enrolled and no "
                                    "token pending as %s (a key allowed "
                                    "by hand is revoked where it was: "
                                    "assayctl keys revoke on that host)",
                                    verb, req.name));
            return;
        }
        mb_commit_reply(self, route, verb,
                 assay_cmd_unenrol(req.name, now, by, self->asker_role),
                 json_object());
        return;
    }
    if (assay_state_enrolled(self->state, req.name)) {
        mb_reply(self, route, verb,
                 assay_cp_error(ASSAY_EEXIST,
                                "%s enroll: a key is enrolled as %s "
                                "already: revoke it first "
                                "(assayctl keys revoke %s)",
                                verb, req.name, req.name));
        return;
    }
    /* A key allowed by hand (not enrolled) that an enrolled one would
     * pass for. */
    const char *held = assay_keys_allowed_find(
        self->conf->modules_dir, self->conf->transport, self->allow_dir,
        NULL, req.name, ENROLLED_PREFIX);
    if (held) {
        mb_reply(self, route, verb,
                 assay_cp_error(ASSAY_EEXIST,
                                "%s enroll: %s/%s.key names a key %s "
                                "already: an enrolled one may not pass "
                                "for it (choose another name)",
                                verb, self->allow_dir, held, req.name));
        return;
    }
    char token[ASSAY_TOKEN_TEXT_SIZE], hash[ASSAY_TOKEN_HASH_HEX];
    if ((rc = assay_token_new(self->public_key, token, hash))) {
        mb_reply(self, route, verb,
                 assay_cp_error(rc, "%s enroll: cannot make a token", verb));
        return;
    }
    int64_t expires = now + req.ttl_s * 1000;
    mb_commit_reply(self, route, verb,
             assay_cmd_token(req.name, req.role, hash, expires, now, by,
                             self->asker_role),
             json_pack("{s:s}", "token", token));
    sodium_memzero(token, sizeof token);
}

/* ---- assay.enrol -------------------------------------------------------- */

/* A refusal of an enrolment: the same answer to the guest whatever the
 * cause (it learns nothing about tokens), the cause in the audit log. */
static void s_refuse(assay_leader *self, const assay_bytes *route,
                     const char *verb, const char *name, const char *why)
{
    uint64_t n = ++self->enrol_refused;
    mb_audit(self, self->asker, self->asker_role, verb, "refused",
             "enrolment as %s: %s", name, why);
    if (!(n & (n - 1)))
        assay_warn("refused an enrolment as %s from key %s: %s (%llu "
                   "refused so far)",
                   name, self->asker, why, (unsigned long long)n);
    mb_reply(self, route, verb,
             assay_cp_error(ASSAY_EPERM,
                            "%s: refused: no pending token for %s matches "
                            "(never made, used, revoked or expired)",
                            verb, name));
}

void mb_svc_enrol(assay_leader *self, const assay_bytes *route,
                  const char *verb, const json_t *body)
{
    assay_cp_enrol req;
    char err[ASSAY_ERRMSG_SIZE], hash[ASSAY_TOKEN_HASH_HEX];
    int rc = assay_cp_read_enrol(body, &req, err, sizeof err);
    if (rc) {
        mb_reply(self, route, verb, assay_cp_error(rc, "%s", err));
        return;
    }
    if (!s_ready(self, route, verb))
        return;
    const assay_token_rec *t = assay_state_token(self->state, req.name);
    const char *key = self->asker; /* a guest is named by its key */
    const assay_enrolled_rec *done = assay_state_enrolled_key(self->state,
                                                              key);
    /* Asked again (its answer was lost, it reconnected): the same. */
    if (done && !strcmp(done->name, req.name)) {
        mb_reply(self, route, verb,
                 assay_cp_ok(json_pack("{s:s, s:s, s:s}", "name", done->name,
                                       "role", done->role, "key",
                                       done->key)));
        return;
    }
    if (assay_token_hash(req.secret, hash))
        s_refuse(self, route, verb, req.name, "a secret that is not hex");
    else if (!t)
        s_refuse(self, route, verb, req.name, "no token pending");
    else if (sodium_memcmp(hash, t->hash, sizeof hash - 1))
        s_refuse(self, route, verb, req.name, "wrong secret");
    else if (t->expires_ms <= assay_wall_ms())
        s_refuse(self, route, verb, req.name, "token expired");
    else if (!key || assay_state_enrolled_key(self->state, key))
        s_refuse(self, route, verb, req.name, "its key is enrolled already");
    else {
        mb_audit(self, key, self->asker_role, verb, "asked",
                 "enrolment as %s (role %s)", req.name, t->role);
        mb_commit_reply(self, route, verb,
                 assay_cmd_enrol(req.name, key, hash, assay_wall_ms()),
                 json_object());
    }
}
