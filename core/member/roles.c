/* core/member/roles.c - who may do what (docs/security.md#roles). Every
 * message from a secure link names its sender's key and the role its
 * certificate gives; these rules decide, before any service or runtime
 * handler runs. Without security no message names a key, and everything
 * is allowed, as before; with it, a message that names none (a transport
 * that cannot tell) is refused.
 *
 *   read     assay.job, .jobs, .runtimes, .plugins, cluster status
 *   submit   read's, assay.submit, and assay.cancel of what it submitted
 *            (mb_may_cancel)
 *   admin    everything on the control plane: assay.cancel, .rescan,
 *            cluster changes
 *   runtime  the runtime protocol, as the runtime its key is named for
 *   member   nothing here (raft peers)
 *   guest    a key no certificate allows, let in while an enrolment
 *            token is pending: assay.enrol alone (enrol.c) */
#include "member/internal.h"

static bool s_is(const char *role, const char *want)
{
    return role && !strcmp(role, want);
}

/* Records a refusal of `service` asked by key/role in the audit log, and
 * says it in the log at the 1st, 2nd, 4th... one: a peer that keeps
 * asking cannot flood either. */
static void s_denied(assay_leader *self, const char *key, const char *role,
                     const char *service, const char *fmt, ...)
    ASSAY_PRINTF(5, 6);
static void s_denied(assay_leader *self, const char *key, const char *role,
                     const char *service, const char *fmt, ...)
{
    char msg[ASSAY_ERRMSG_SIZE * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mb_audit(self, key, role, service, "refused", "%s", msg);
    uint64_t n = ++self->denied;
    int64_t now = assay_now_ms();
    /* Once a minute besides: a refusal after a long flood is said too. */
    if ((n & (n - 1)) && now - self->denied_said_ms < 60000)
        return;
    self->denied_said_ms = now;
    assay_warn("%s (%llu refused so far)", msg, (unsigned long long)n);
}

/* With security on, a message must name its sender. */
static bool s_anonymous(const assay_leader *self, const assay_link_msg *m)
{
    return !m->peer && !self->secure;
}

bool mb_may_call(assay_leader *self, const assay_link_msg *m)
{
    const char *v = m->verb;
    bool guest = s_is(m->role, ASSAY_ROLE_NAME_GUEST);
    /* Enrolment is for a key not allowed yet, and for nothing else. */
    if (!strcmp(v, ASSAY_SVC_ENROL) || guest) {
        /* Once no token is pending, guests still connected are refused
         * without an audit line: a flood of them writes nothing. */
        if (guest && !self->guests)
            return false;
        bool ok = guest && !strcmp(v, ASSAY_SVC_ENROL);
        if (!ok)
            s_denied(self, m->peer, m->role, v,
                     guest ? "refused %s from unknown key %s: a guest may "
                             "only enrol"
                           : "refused %s from key %s: it is allowed "
                             "already",
                     v, m->peer ? m->peer : "(unnamed)");
        return ok;
    }
    if (s_anonymous(self, m) || s_is(m->role, "admin") ||
        !strncmp(m->verb, ASSAY_SVC_MMI_PREFIX, strlen(ASSAY_SVC_MMI_PREFIX)))
        return true;
    bool reader = s_is(m->role, "read") || s_is(m->role, "submit");
    bool ok;
    if (!strcmp(v, ASSAY_SVC_SUBMIT) || !strcmp(v, ASSAY_SVC_CANCEL) ||
        !strcmp(v, ASSAY_SVC_RESTART))
        ok = s_is(m->role, "submit");
    else if (!strcmp(v, ASSAY_SVC_JOBS)) {
        assay_cp_jobs req;
        char err[ASSAY_ERRMSG_SIZE];
        /* Listing is a reader's; a bulk change a submitter's (its own). */
        ok = assay_cp_read_jobs(m->body, &req, err, sizeof err) ||
                     req.op == ASSAY_CP_JOBS_LIST
                 ? reader
                 : s_is(m->role, "submit");
    }
    else if (!strcmp(v, ASSAY_SVC_SCHEDULE)) {
        assay_cp_sched req;
        char err[ASSAY_ERRMSG_SIZE];
        /* Reading is a reader's; changing a submitter's (its own). */
        ok = assay_cp_read_sched(m->body, &req, err, sizeof err) ||
                     req.op == ASSAY_CP_SCHED_LIST ||
                     req.op == ASSAY_CP_SCHED_SHOW
                 ? reader
                 : s_is(m->role, "submit");
    }
    else if (!strcmp(v, ASSAY_SVC_STREAM)) {
        assay_cp_stream req;
        char err[ASSAY_ERRMSG_SIZE];
        /* Reading and acknowledging are a reader's (a consumer is a
         * reader's bookmark); deleting one is an admin's. */
        ok = reader && (assay_cp_read_stream(m->body, &req, err,
                                             sizeof err) ||
                        req.op != ASSAY_CP_STREAM_DELETE);
    } else if (!strcmp(v, ASSAY_SVC_CLUSTER)) {
        assay_cp_cluster req;
        char err[ASSAY_ERRMSG_SIZE];
        /* A malformed one is the service's to refuse, naming why. */
        ok = reader && (assay_cp_read_cluster(m->body, &req, err,
                                              sizeof err) ||
                        req.op == ASSAY_CP_CLUSTER_STATUS);
    } else
        ok = reader && (!strcmp(v, ASSAY_SVC_JOB) ||
                        !strcmp(v, ASSAY_SVC_STATS) ||
                        !strcmp(v, ASSAY_SVC_RUNTIMES) ||
                        !strcmp(v, ASSAY_SVC_PLUGINS));
    if (!ok)
        s_denied(self, m->peer, m->role, v, "refused %s from key %s (role %s)", v,
                 m->peer ? m->peer : "(unnamed)", m->role ? m->role : "none");
    return ok;
}

const char *mb_attribution(const assay_leader *self)
{
    return self->asker &&
                   assay_state_level(self->state) >= ASSAY_LEVEL_ATTRIBUTION
               ? self->asker
               : NULL;
}

bool mb_may_manage(assay_leader *self, const char *owner,
                   const char *service, const char *what)
{
    if (!self->asker || s_is(self->asker_role, "admin"))
        return true;
    if (owner && !strcmp(owner, self->asker))
        return true;
    s_denied(self, self->asker, self->asker_role, service,
             "refused %s of %s from key %s (role %s): made by %s", service,
             what, self->asker, self->asker_role ? self->asker_role : "none",
             owner ? owner : "an unrecorded key");
    return false;
}

bool mb_may_cancel(assay_leader *self, const assay_spec_rec *s)
{
    return mb_may_manage(self, s->by_name, ASSAY_SVC_CANCEL, s->id);
}

bool mb_may_run(assay_leader *self, const assay_link_msg *m)
{
    if (s_anonymous(self, m) || (m->peer && s_is(m->role, "runtime")))
        return true;
    s_denied(self, m->peer, m->role, m->verb,
             "refused runtime message %s from key %s (role %s, not "
             "runtime)", m->verb, m->peer ? m->peer : "(unnamed)",
             m->role ? m->role : "none");
    return false;
}

bool mb_may_be(assay_leader *self, const assay_link_msg *m, const char *id)
{
    if (s_anonymous(self, m))
        return true;
    /* "NAME*" stands for every id starting with NAME (a fleet sharing one
     * key, simulated runtimes; "*" alone: every id, for test fleets): the
     * operator's choice when making it. */
    size_t n = m->peer ? strlen(m->peer) : 0;
    bool ok = n && m->peer[n - 1] == '*' ? !strncmp(id, m->peer, n - 1)
                                         : n && !strcmp(id, m->peer);
    if (!ok)
        s_denied(self, m->peer, m->role, m->verb,
                 "refused registration as runtime %s from key %s: it "
                 "may register only as %s",
                 id, m->peer ? m->peer : "(unnamed)",
                 m->peer ? m->peer : "nothing");
    return ok;
}
