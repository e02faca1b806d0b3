/* core/member/consensus.c - the glue to the consensus module: the state
 * machine callbacks (apply, snapshot, restore) and the module's fd. */
#include "member/internal.h"

/* An entry this member cannot read (a newer op or version) or a snapshot
 * that does not load leaves its state unknown: it must not serve or vote
 * on, so it stops here, loudly. */
static void s_fsm_stop(assay_leader *self, const char *what, const char *why)
{
    assay_error("member %s: %s: %s; stopping (upgrade this member, or "
                "recover its data_dir %s from the other members as "
                "docs/operations.md#recovering-a-member says)",
                self->id, what, why, self->conf->data_dir);
    exit(1);
}

int mb_fsm_apply(void *data, const void *cmd, size_t len, void **result)
{
    assay_leader *self = data;
    char err[ASSAY_ERRMSG_SIZE];
    json_t *res = NULL;
    mb_catalog_arm(self, cmd, len);
    int rc = assay_fsm_apply(self->state, cmd, len, &res, err, sizeof err);
    mb_catalog_disarm(self); /* when the command published nothing */
    assay_snapshotter_applied(self->snap, cmd, len);
    if (rc == ASSAY_EUNSUPP)
        s_fsm_stop(self, "a committed command it cannot read", err);
    if (rc && *err)
        assay_warn("log entry refused: %s", err);
    if (!rc)
        mb_enrolled_applied(self, res);
    *result = res;
    return rc;
}

/* Made by a forked child (core/state/snapshotter.h): the loop forks and
 * goes on; the module asks again until it is ready. Not while the cluster
 * is at level 1 (a member of the previous release may have to install
 * it, and reads neither format 2 nor the container), nor for a module
 * that predates ABI 3 (it would free() the mapping, and take EBUSY for a
 * failure): then on the loop, in the format level 1 reads. */
int mb_fsm_snapshot(void *data, void **buf, size_t *len)
{
    assay_leader *self = data;
    if (assay_state_level(self->state) < ASSAY_LEVEL_RETENTION ||
        self->cops->version < 3)
        return assay_fsm_snapshot(self->state, (char **)buf, len);
    return assay_snapshotter_take(self->snap, self->state, buf, len);
}

/* Either kind: a mapping from the snapshotter, or malloc'd. */
void mb_fsm_snapshot_free(void *data, void *buf, size_t len)
{
    (void)data;
    if (len >= ASSAY_SNAPSHOT_HEADER && !memcmp(buf, ASSAY_SNAPSHOT_MAGIC, 8))
        assay_snapshot_free(buf, len);
    else
        free(buf);
}

int mb_fsm_restore(void *data, const void *buf, size_t len)
{
    assay_leader *self = data;
    char err[ASSAY_ERRMSG_SIZE];
    assay_snapshotter_reset(self->snap);
    int rc = assay_fsm_restore(self->state, buf, len, err, sizeof err);
    if (rc)
        s_fsm_stop(self, "a snapshot that does not restore", err);
    mb_offers_reset(self, true);
    mb_enrolled_sync(self);
    for (s_rt *r = self->rt_list; r; r = r->next)
        r->rec = NULL; /* freed with the old state */
    return 0;
}

void mb_fsm_release(void *data, void *result)
{
    (void)data;
    json_decref(result);
}

void mb_on_consensus(void *arg, int fd, short revents)
{
    (void)fd;
    (void)revents;
    assay_leader *self = arg;
    S_COP(self, process, self->cons);
}
