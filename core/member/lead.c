/* core/member/lead.c - the member among members: membership changes and
 * cluster status (assay.cluster), redirects while another member leads,
 * taking the lead (the "leader" command as a barrier) and losing it, and
 * the dispatch of client requests to the services. */
#include "member/internal.h"

int mb_status(assay_leader *self, assay_consensus_status *st)
{
    memset(st, 0, sizeof *st);
    st->struct_size = sizeof *st;
    return self->cops->version >= 2 ? S_COP(self, status, self->cons, st)
                                    : ASSAY_EUNSUPP;
}

/* The "leader" record of the member the consensus module says leads, or
 * NULL while none is known or it has not announced itself yet. */
const json_t *mb_known_leader(assay_leader *self)
{
    const json_t *l = assay_state_leader(self->state);
    assay_consensus_status st;
    if (!l || mb_status(self, &st) || !st.leader_id ||
        st.leader_id !=
            (uint64_t)json_integer_value(json_object_get(l, "member")) ||
        !strcmp(mb_str(l, "id"), self->id))
        return NULL;
    return l;
}

/* Control-plane requests that need the leader, on a member that does not
 * lead: ASSAY_ENOTLEADER, with the leader's endpoints when known. */
/* Admin actions go to the audit log as they are asked: a cancel, a
 * schedule changed (not listed or shown), a rescan, a cluster change
 * (not its status), a token made or a key revoked, with the request's
 * body. */
static void s_audit_asked(assay_leader *self, const assay_link_msg *m)
{
    assay_cp_cluster req;
    char err[ASSAY_ERRMSG_SIZE];
    assay_cp_keys keys;
    assay_cp_sched sched;
    assay_cp_jobs jobs;
    assay_cp_stream stream;
    bool change = !strcmp(m->verb, ASSAY_SVC_CANCEL) ||
                  !strcmp(m->verb, ASSAY_SVC_RESTART) ||
                  (!strcmp(m->verb, ASSAY_SVC_JOBS) &&
                   !assay_cp_read_jobs(m->body, &jobs, err, sizeof err) &&
                   jobs.op != ASSAY_CP_JOBS_LIST && !jobs.dry_run) ||
                  (!strcmp(m->verb, ASSAY_SVC_SCHEDULE) &&
                   !assay_cp_read_sched(m->body, &sched, err, sizeof err) &&
                   sched.op != ASSAY_CP_SCHED_LIST &&
                   sched.op != ASSAY_CP_SCHED_SHOW) ||
                  !strcmp(m->verb, ASSAY_SVC_RESCAN) ||
                  (!strcmp(m->verb, ASSAY_SVC_STREAM) &&
                   !assay_cp_read_stream(m->body, &stream, err, sizeof err) &&
                   stream.op == ASSAY_CP_STREAM_DELETE) ||
                  (!strcmp(m->verb, ASSAY_SVC_KEYS) &&
                   !assay_cp_read_keys(m->body, &keys, err, sizeof err) &&
                   keys.op != ASSAY_CP_KEYS_LIST) ||
                  (!strcmp(m->verb, ASSAY_SVC_CLUSTER) &&
                   !assay_cp_read_cluster(m->body, &req, err, sizeof err) &&
                   req.op != ASSAY_CP_CLUSTER_STATUS);
    if (!change)
        return;
    char *body = json_dumps(m->body, JSON_COMPACT);
    mb_audit(self, m->peer, m->role, m->verb, "asked", "%.512s",
             body ? body : "");
    free(body);
}

static void s_not_leader(assay_leader *self, const assay_bytes *route,
                         const char *verb)
{
    const json_t *l = mb_known_leader(self);
    json_t *e;
    if (l) {
        e = assay_cp_error(ASSAY_ENOTLEADER,
                     "member %s does not lead: %s does, at %s", self->id,
                     mb_str(l, "id"), mb_str(l, "endpoint"));
        json_object_set_new(e, "leader", json_string(mb_str(l, "endpoint")));
        json_object_set_new(e, "events", json_string(mb_str(l, "events")));
    } else {
        e = assay_cp_error(ASSAY_ENOTLEADER,
                     "member %s does not lead and no leader is known yet: "
                     "retry shortly",
                     self->id);
    }
    mb_reply(self, route, verb, e);
}

static const char *s_role_name(int role)
{
    switch (role) {
    case ASSAY_ROLE_FOLLOWER: return "follower";
    case ASSAY_ROLE_CANDIDATE: return "candidate";
    case ASSAY_ROLE_LEADER: return "leader";
    default: return "unavailable";
    }
}

/* The feature level this member speaks: its build's, or less when
 * feature_level holds it back (a cluster older members may join). */
static int64_t s_speaks(const assay_leader *self)
{
    int64_t cap = self->conf->feature_level;
    return cap > 0 && cap < ASSAY_STATE_LEVEL ? cap : ASSAY_STATE_LEVEL;
}

json_t *mb_cluster_json(assay_leader *self)
{
    assay_consensus_status st;
    int rc = mb_status(self, &st);
    if (rc)
        return assay_cp_error(rc, "consensus module %s reports no status",
                        self->conf->consensus);
    const json_t *l = assay_state_leader(self->state);
    json_t *members = json_array();
    for (uint32_t i = 0; i < st.n_members && i < ASSAY_CONSENSUS_MAX_MEMBERS;
         i++)
        json_array_append_new(
            members,
            json_pack("{s:I, s:s, s:b, s:b}", "id", (json_int_t)st.members[i].id,
                      "address", st.members[i].address, "voter",
                      st.members[i].voter, "leader",
                      st.members[i].id == st.leader_id));
    json_t *o = json_pack(
        "{s:s, s:I, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:s, s:o}",
        "member", self->id, "member_id", (json_int_t)st.id, "consensus",
        self->conf->consensus, "role", s_role_name(st.role), "serving",
        self->leading && st.role == ASSAY_ROLE_LEADER, "term", (json_int_t)st.term, "commit_index",
        (json_int_t)st.commit_index, "applied_index",
        (json_int_t)st.applied_index, "last_index", (json_int_t)st.last_index,
        "leader_id", (json_int_t)st.leader_id, "leader_address",
        st.leader_address, "members", members);
    /* What a rolling upgrade needs to know (docs/operations.md). */
    json_object_set_new(o, "level",
                        json_integer(assay_state_level(self->state)));
    json_object_set_new(o, "speaks", json_integer(s_speaks(self)));
    json_object_set_new(o, "security",
                        json_string(self->secure ? "curve" : "none"));
    if (st.storage_need)
        json_object_set_new(
            o, "storage",
            json_pack("{s:I, s:I, s:b}", "free", (json_int_t)st.storage_free,
                      "reserve", (json_int_t)st.storage_need, "short",
                      st.storage_short != 0));
    if (l && (uint64_t)json_integer_value(json_object_get(l, "member")) ==
                 st.leader_id)
        json_object_set(o, "leader", (json_t *)l);
    return assay_cp_ok(o);
}

static void s_member_done(void *arg, int status, void *result)
{
    s_pending *p = arg;
    assay_bytes route = mb_route(p);
    (void)result;
    if (status)
        mb_reply(p->leader, &route, p->verb,
                 assay_cp_error(status, "cluster %s: %s", mb_str(p->data, "op"),
                          assay_strerror(status)));
    else
        mb_reply(p->leader, &route, p->verb, mb_cluster_json(p->leader));
    mb_pending_free(p);
}

/* upgrade: raises the cluster's feature level, once the caller (assayctl
 * cluster upgrade) has seen every member speak it. */
static void s_upgrade(assay_leader *self, const assay_bytes *route,
                      const char *verb, int64_t level)
{
    if (level < 1 || level > s_speaks(self)) {
        mb_reply(self, route, verb,
                 assay_cp_error(level > s_speaks(self) ? ASSAY_EUNSUPP
                                                       : ASSAY_EINVAL,
                                "cluster upgrade: level must be an integer "
                                "from 1 to %lld (what the leader speaks)",
                                (long long)s_speaks(self)));
        return;
    }
    if (level <= assay_state_level(self->state)) {
        mb_reply(self, route, verb, mb_cluster_json(self));
        return;
    }
    s_pending *p =
        mb_pending_new(self, route, verb, json_pack("{s:s}", "op", "upgrade"));
    int rc = p ? mb_commit(self, assay_cmd_level(level, assay_wall_ms()),
                           s_member_done, p)
               : ASSAY_ENOMEM;
    if (rc) {
        mb_reply(self, route, verb,
                 assay_cp_error(rc, "cluster upgrade: %s", assay_strerror(rc)));
        if (p)
            mb_pending_free(p);
    }
}

/* assay.cluster: status on any member; add, remove, transfer, upgrade and
 * demote on the leader (proto/cpmsg.h). */
static void s_svc_cluster(assay_leader *self, const assay_bytes *route,
                          const char *verb, const json_t *body)
{
    assay_cp_cluster req;
    char err[ASSAY_ERRMSG_SIZE];
    int rc = assay_cp_read_cluster(body, &req, err, sizeof err);
    if (rc) {
        mb_reply(self, route, verb, assay_cp_error(rc, "%s", err));
        return;
    }
    const char *op = assay_cp_cluster_op_name((int)req.op);
    if (req.op == ASSAY_CP_CLUSTER_STATUS) {
        mb_reply(self, route, verb, mb_cluster_json(self));
        return;
    }
    if (!self->leading) {
        s_not_leader(self, route, verb);
        return;
    }
    if (req.op == ASSAY_CP_CLUSTER_UPGRADE) {
        s_upgrade(self, route, verb, req.level);
        return;
    }
    if (self->cops->version < 2) {
        mb_reply(self, route, verb,
                 assay_cp_error(ASSAY_EUNSUPP,
                                "consensus module %s has no "
                                "membership changes",
                                self->conf->consensus));
        return;
    }
    bool add = req.op == ASSAY_CP_CLUSTER_ADD;
    if (req.id < 0 || (req.op != ASSAY_CP_CLUSTER_TRANSFER && req.id == 0) ||
        (add && (!req.address || !*req.address || strlen(req.address) > 255))) {
        mb_reply(self, route, verb,
                 assay_cp_error(ASSAY_EINVAL,
                                "cluster %s: needs a member id (a positive "
                                "integer)%s",
                                op, add ? " and an address HOST:PORT" : ""));
        return;
    }
    if (req.op == ASSAY_CP_CLUSTER_DEMOTE && req.id == self->conf->member_id) {
        mb_reply(self, route, verb,
                 assay_cp_error(ASSAY_EINVAL,
                                "cluster demote: member %lld leads: hand the "
                                "lead on first (assayctl cluster transfer)",
                                (long long)req.id));
        return;
    }
    static const int codes[] = {
        [ASSAY_CP_CLUSTER_ADD] = ASSAY_MEMBER_ADD,
        [ASSAY_CP_CLUSTER_REMOVE] = ASSAY_MEMBER_REMOVE,
        [ASSAY_CP_CLUSTER_TRANSFER] = ASSAY_MEMBER_TRANSFER,
        [ASSAY_CP_CLUSTER_DEMOTE] = ASSAY_MEMBER_DEMOTE};
    s_pending *p =
        mb_pending_new(self, route, verb, json_pack("{s:s}", "op", op));
    rc = p ? S_COP(self, member, self->cons, codes[req.op], (uint64_t)req.id,
                   req.address, s_member_done, p)
           : ASSAY_ENOMEM;
    if (rc) {
        mb_reply(self, route, verb,
                 assay_cp_error(rc, "cluster %s: %s", op, assay_strerror(rc)));
        if (p)
            mb_pending_free(p);
    }
}

#define S_CLAIM_RETRY_MS 1000

static void s_claim_failed(assay_leader *self, int status)
{
    self->claim_at = assay_now_ms() + S_CLAIM_RETRY_MS;
    if (status != self->claim_failed)
        assay_warn("member %s: taking the lead failed: %s%s", self->id,
                   assay_strerror(status),
                   status == ASSAY_ECANCELLED ? "" : " (retried every second)");
    self->claim_failed = status;
}

static void s_claimed(void *arg, int status, void *result)
{
    assay_leader *self = arg;
    json_decref(result);
    self->claiming = false;
    if (status) {
        s_claim_failed(self, status);
        return;
    }
    self->claim_failed = 0;
    if (!S_COP(self, is_leader, self->cons))
        return;
    /* Runtimes register again with us; jobs running before get fresh
     * leases at the next tick, and heartbeats are counted from now. */
    assay_state_reset_marks(self->state);
    assay_state_cancelled_drain(self->state, NULL, NULL); /* not ours */
    mb_forget_runtimes(self);
    mb_offers_reset(self, true);
    mb_scheds_reset(self);
    self->started_ms = assay_now_ms();
    self->leading = true;
    self->dirty = true;
    assay_info("member %s leads: control plane on %s", self->id,
               self->endpoint);
}

/* Follows the consensus module's view each loop turn: a new leader first
 * commits its "leader" command (announcing its endpoints) and serves only
 * once that is applied; a member that lost the lead drops what it kept. */
void mb_role(assay_leader *self)
{
    bool lead = S_COP(self, is_leader, self->cons);
    if (lead && !self->leading && !self->claiming &&
        assay_now_ms() >= self->claim_at) {
        assay_cmd *cmd = assay_cmd_leader(self->id, self->endpoint,
                                          self->events_ep,
                                          self->conf->member_id,
                                          s_speaks(self));
        int rc = mb_commit(self, cmd, s_claimed, self);
        self->claiming = rc == 0;
        if (rc)
            s_claim_failed(self, rc);
    } else if (!lead && self->leading) {
        self->leading = false;
        assay_state_reset_marks(self->state);
        mb_forget_runtimes(self);
        mb_batch_clear(&self->results);
        mb_batch_clear(&self->requeues);
        assay_warn("member %s no longer leads", self->id);
    }
}

typedef void (*s_service_fn)(assay_leader *self, const assay_bytes *route,
                             const char *verb, const json_t *body);

static const struct {
    const char *name;
    s_service_fn fn;
} s_services[] = {
    {ASSAY_SVC_SUBMIT, mb_svc_submit},     {ASSAY_SVC_JOB, mb_svc_job},
    {ASSAY_SVC_JOBS, mb_svc_jobs},         {ASSAY_SVC_CANCEL, mb_svc_cancel},
    {ASSAY_SVC_RUNTIMES, mb_svc_runtimes}, {ASSAY_SVC_PLUGINS, mb_svc_plugins},
    {ASSAY_SVC_RESCAN, mb_svc_rescan},     {ASSAY_SVC_CLUSTER, s_svc_cluster},
    {ASSAY_SVC_KEYS, mb_svc_keys},         {ASSAY_SVC_ENROL, mb_svc_enrol},
    {ASSAY_SVC_SCHEDULE, mb_svc_schedule}, {ASSAY_SVC_RESTART, mb_svc_restart},
    {ASSAY_SVC_STATS, mb_svc_stats},       {ASSAY_SVC_STREAM, mb_svc_stream},
};

#define NSERVICES (sizeof s_services / sizeof *s_services)

void mb_on_client(assay_leader *self, const assay_link_msg *m)
{
    if (!strncmp(m->verb, ASSAY_SVC_MMI_PREFIX, strlen(ASSAY_SVC_MMI_PREFIX)) && strcmp(m->verb, ASSAY_SVC_MMI_SERVICE)) {
        assay_link_send_text(self->link, self->server, &m->route,
                             ASSAY_MDP_CLIENT, m->verb, "501");
        return;
    }
    if (!strcmp(m->verb, ASSAY_SVC_MMI_SERVICE)) { /* RFC 8 */
        const char *code = "404";
        for (size_t i = 0; m->raw_body && i < NSERVICES; i++)
            if (m->raw_body->len == strlen(s_services[i].name) &&
                !memcmp(m->raw_body->data, s_services[i].name,
                        m->raw_body->len))
                code = "200";
        assay_link_send_text(self->link, self->server, &m->route,
                             ASSAY_MDP_CLIENT, m->verb, code);
        return;
    }
    for (size_t i = 0; i < NSERVICES; i++) {
        if (strcmp(m->verb, s_services[i].name))
            continue;
        if (!json_is_object(m->body)) {
            mb_reply(self, &m->route, m->verb,
                     assay_cp_error(ASSAY_EPROTO, "%s: body must be a msgpack map",
                              m->verb));
            return;
        }
        if (!mb_may_call(self, m)) {
            bool revoked = m->role && !strcmp(m->role, ASSAY_ROLE_NAME_REVOKED);
            mb_reply(self, &m->route, m->verb,
                     revoked ? assay_cp_error(
                                   ASSAY_EPERM,
                                   "%s: key %s was revoked "
                                   "(docs/security.md#rotation-and-revocation)",
                                   m->verb, m->peer)
                             : assay_cp_error(
                                   ASSAY_EPERM,
                                   "%s: key %s has role %s, which may not "
                                   "(docs/security.md#roles)",
                                   m->verb, m->peer,
                                   m->role ? m->role : "none"));
            return;
        }
        self->asker = m->peer;
        self->asker_role = m->role;
        s_audit_asked(self, m);
        if (!self->leading && s_services[i].fn != s_svc_cluster)
            s_not_leader(self, &m->route, m->verb);
        else
            s_services[i].fn(self, &m->route, m->verb, m->body);
        self->asker = self->asker_role = NULL;
        return;
    }
    mb_reply(
        self, &m->route, m->verb,
        assay_cp_error(ASSAY_ENOENT,
                 "unknown service '%.64s' (services: assay.submit, "
                 "assay.job, assay.jobs, assay.cancel, assay.restart, "
                 "assay.runtimes, assay.plugins, assay.rescan, "
                 "assay.cluster, assay.keys, assay.enrol, assay.schedule, "
                 "assay.stats, assay.stream, mmi.service)",
                 m->verb));
}

void assay_leader_status(assay_leader *self, char *buf, size_t len)
{
    const json_t *l = mb_known_leader(self);
    const char *who = json_string_value(json_object_get(l, "id"));
    if (self->leading)
        snprintf(buf, len, "member %s leads", self->id);
    else if (who)
        snprintf(buf, len, "member %s follows %s", self->id, who);
    else
        snprintf(buf, len, "member %s: no leader known", self->id);
}
