/* core/member/leader.c - the member role's lifecycle (see leader.h and
 * docs/protocol.md): binding its endpoints, loading the consensus module,
 * starting and stopping.
 *
 * Everything that changes job or runtime state is a command committed
 * through the consensus module and applied to assay_state; replies and
 * dispatches leave only after their command is applied. What changes by
 * the millisecond (last heartbeat, credit, leases) stays here in memory.
 * The parts of the role are in this folder, bottom up as internal.h
 * lists them. */
#include "member/internal.h"

/* The endpoint others reach us at: `advertise`, else what we bind with a
 * wildcard host replaced by this host's name. */
static void s_advertised(const char *advertise, const char *bind, char *out,
                         size_t cap)
{
    if (*advertise) {
        strlcpy(out, advertise, cap);
        return;
    }
    const char *host = strstr(bind, "://");
    host = host ? host + 3 : bind;
    const char *port = strrchr(host, ':');
    size_t hl = port ? (size_t)(port - host) : strlen(host);
    if ((hl == 1 && *host == '*') || (hl == 7 && !strncmp(host, "0.0.0.0", 7))) {
        char name[HOST_NAME_MAX + 1] = "localhost";
        gethostname(name, sizeof name);
        name[HOST_NAME_MAX] = '\0';
        snprintf(out, cap, "%.*s%s%s", (int)(host - bind), bind, name,
                 port ? port : "");
    } else {
        strlcpy(out, bind, cap);
    }
}

/* Binds the member's `listen` or `events` socket. The error names the
 * option and its value, and for a port in use (another member on it,
 * most often) says what to do. */
static int s_bind(assay_leader *self, int kind, const char *option,
                  const char *endpoint, char *err, size_t errlen)
{
    char why[ASSAY_ERRMSG_SIZE];
    int id = assay_link_open(self->link, kind, endpoint, why, sizeof why);
    if (id == ASSAY_EBUSY)
        return assay_errf(err, errlen, id,
                          "%s %s: address already in use; another assayd "
                          "may be running — stop it or choose another port "
                          "with --%s",
                          option, endpoint, option);
    if (id < 0)
        return assay_errf(err, errlen, id, "%s %s", option, why);
    return id;
}

int assay_leader_new(const assay_conf *conf, const char *node_id,
                     assay_loop *loop, assay_leader **out, char *err,
                     size_t errlen)
{
    assay_leader *self = calloc(1, sizeof *self);
    if (!self)
        return ASSAY_ENOMEM;
    self->conf = conf;
    self->audit.fd = -1;
    self->expiring.what = "expiring finished jobs";
    self->forgetting.what = "forgetting dead runtimes";
    self->loop = loop;
    self->started_ms = assay_now_ms();
    strlcpy(self->id, node_id, sizeof self->id);
    s_advertised(conf->advertise, conf->listen, self->endpoint,
                 sizeof self->endpoint);
    s_advertised(conf->advertise_events, conf->events, self->events_ep,
                 sizeof self->events_ep);
    self->rts = assay_index_new();
    self->flipping = assay_index_new();
    mb_offers_reset(self, true);
    self->state = assay_state_new(mb_on_event, self);
    self->snap = assay_snapshotter_new();
    int rc = mb_scheds_new(self);
    if (!rc)
        rc = mb_rates_new(self);
    if (!rc)
        rc = mb_stream_new(self);
    if (!self->rts || !self->flipping || !self->resolved || !self->state ||
        !self->snap)
        rc = ASSAY_ENOMEM;
    assay_link_conf lc = {
        .modules_dir = conf->modules_dir,
        .transport = conf->transport,
        .max_message = (size_t)conf->max_message_kb * 1024,
        .publish_buffer = (size_t)conf->events_buffer_mb << 20,
        .publish_stall_ms = conf->events_stall_ms,
        /* Events tell what every job found: readers' keys, not a
         * runtime's or a member's. */
        .publish_roles = "read submit admin"};
    assay_keys keys = {0};
    if (!rc)
        rc = assay_keys_member(conf, &keys, err, errlen);
    if (!rc) {
        assay_keys_apply(&keys, &lc);
        self->secure = keys.secure;
        if (keys.secure) {
            strlcpy(self->allow_dir, keys.allow, sizeof self->allow_dir);
            strlcpy(self->public_key, keys.public_, sizeof self->public_key);
        }
        rc = assay_link_new_conf(&lc, &self->link, err, errlen);
        explicit_bzero(keys.secret, sizeof keys.secret);
    }
    if (!rc && !self->secure)
        assay_warn("member %s: security = none: the control plane (%s) and "
                   "events (%s) are plain TCP and let anyone in: whoever "
                   "reaches them can run any command on every runtime and "
                   "read every result. For labs only (docs/security.md)",
                   self->id, conf->listen, conf->events);
    if (!rc && (self->server = s_bind(self, ASSAY_LINK_SERVER, "listen",
                                      conf->listen, err, errlen)) < 0)
        rc = self->server;
    if (!rc && (self->pub = s_bind(self, ASSAY_LINK_PUBLISH, "events",
                                   conf->events, err, errlen)) < 0)
        rc = self->pub;
    char path[PATH_MAX], why[ASSAY_ERRMSG_SIZE * 3];
    const assay_module *m = NULL;
    if (!rc) {
        assay_module_path(conf->modules_dir, "consensus", conf->consensus,
                          path, sizeof path);
        rc = assay_module_open(path, ASSAY_KIND_CONSENSUS, &self->cdl, &m,
                               why, sizeof why);
        if (rc)
            assay_errf(err, errlen, rc, "consensus %s: %s", path, why);
    }
    if (!rc) {
        self->cops = m->consensus;
        snprintf(self->clabel, sizeof self->clabel, "consensus %s", m->name);
        char members[sizeof conf->members];
        const char *peers[ASSAY_CONSENSUS_MAX_MEMBERS + 1] = {0};
        int n = 0;
        strlcpy(members, conf->members, sizeof members);
        for (char *save, *t = strtok_r(members, " \t,", &save); t;
             t = strtok_r(NULL, " \t,", &save))
            if (n < ASSAY_CONSENSUS_MAX_MEMBERS)
                peers[n++] = t;
        assay_consensus_config cc = {
            .struct_size = sizeof cc,
            .id = (uint64_t)conf->member_id,
            /* raft: its entry in members unless set; `none` reports
             * the control-plane endpoint as its address. */
            .address = conf->raft_address[0] ? conf->raft_address
                       : strcmp(conf->consensus, "none") ? NULL
                                                         : conf->listen,
            .data_dir = conf->data_dir[0] ? conf->data_dir : NULL,
            .peers = peers,
            .fsm = {self, mb_fsm_apply, mb_fsm_snapshot, mb_fsm_restore},
            .release = mb_fsm_release,
            .snapshot_free = mb_fsm_snapshot_free,
            .election_ms = (uint32_t)conf->election_ms,
            .heartbeat_ms = (uint32_t)conf->raft_heartbeat_ms,
            /* Staggered by member: members that snapshot at the same
             * entry all pause together, and commits wait for them
             * (docs/benchmarks.md, three members at 1,000 jobs/s). */
            .snapshot_threshold = (uint32_t)(conf->snapshot_threshold +
                                             conf->member_id % 4 *
                                                 (conf->snapshot_threshold /
                                                  4)),
            .snapshot_trailing = (uint32_t)conf->snapshot_trailing,
            .secret_key = keys.raft_secret[0] ? keys.raft_secret : NULL,
            .allow_dir = keys.allow,
        };
        rc = S_COP(self, open, &cc, &self->cons, why, sizeof why);
        explicit_bzero(keys.raft_secret, sizeof keys.raft_secret);
        if (rc)
            assay_errf(err, errlen, rc, "consensus %s: %s", conf->consensus,
                       why);
    }
    /* After the consensus module, which makes data_dir. */
    if (!rc)
        rc = mb_audit_open(self, err, errlen);
    if (!rc) {
        assay_state_set_wants(self->state, mb_wants);
        assay_loop_source src = {mb_prepare, NULL, self};
        assay_loop_add_fd(loop, assay_link_fd(self->link), POLLIN,
                          mb_on_transport, self);
        assay_loop_add_fd(loop, S_COP(self, fd, self->cons), POLLIN,
                          mb_on_consensus, self);
        assay_loop_add_source(loop, &src);
        self->tick =
            assay_loop_add_timer(loop, TICK_MS, TICK_MS, mb_tick, self);
        assay_info("member %s: control plane on %s, events on %s", self->id,
                   conf->listen, conf->events);
    }
    if (rc) {
        assay_leader_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void assay_leader_destroy(assay_leader **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_leader *self = *self_p;
    if (self->loop && self->link) {
        assay_loop_remove_fd(self->loop, assay_link_fd(self->link));
        assay_loop_cancel_timer(self->loop, self->tick);
    }
    if (self->cons) {
        assay_loop_remove_fd(self->loop, S_COP(self, fd, self->cons));
        const char *prev = assay_host_label(self->clabel); /* close logs too */
        self->cops->close(&self->cons);
        assay_host_label(prev);
    }
    if (self->cdl)
        dlclose(self->cdl);
    mb_audit_close(self);
    assay_link_destroy(&self->link);
    mb_offers_reset(self, false);
    mb_scheds_destroy(self);
    mb_rates_destroy(self);
    mb_stream_destroy(self);
    mb_forget_runtimes(self);
    assay_index_destroy(&self->rts);
    assay_index_destroy(&self->flipping); /* emptied as close cancelled */
    assay_state_destroy(&self->state);
    assay_snapshotter_destroy(&self->snap);
    mb_batch_clear(&self->results);
    mb_batch_clear(&self->requeues);
    free(self);
    *self_p = NULL;
}

void assay_leader_set_clock(assay_leader *self, int64_t (*wall)(void *arg),
                            void *arg)
{
    self->wall = wall;
    self->wall_arg = arg;
}
