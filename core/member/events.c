/* core/member/events.c - the state's events as the member sees them:
 * published by the leader, planning made dirty, offers reset, and
 * runtime.plugins worked out around a catalogue change. */
#include "member/internal.h"

/* Event bodies are built only for topics some subscriber wants. */
bool mb_wants(void *arg, const char *topic)
{
    assay_leader *self = arg;
    return (self->link && assay_link_wanted(self->link, self->pub, topic)) ||
           mb_notify_wants(self, topic);
}

/* Before a "runtime" command (a registration or catalogue update) is
 * applied: keeps the runtime's catalogue as it is, so that the change can
 * be published once the command has replaced it. */
void mb_catalog_arm(assay_leader *self, const void *cmd, size_t len)
{
    char op[16];
    json_t *j = NULL;
    /* Decoded only for a registration someone listens for. */
    if (!self->leading || !mb_wants(self, ASSAY_EV_RUNTIME_PLUGINS) ||
        !assay_fsm_op(self->state, cmd, len, op, sizeof op) ||
        strcmp(op, "runtime") || assay_codec_decode(cmd, len, &j, NULL, 0))
        return;
    const char *id = mb_str(j, "id");
    assay_runtime_rec *rec = assay_state_runtime(self->state, id);
    if (id) {
        self->cat_armed = true;
        strlcpy(self->cat_id, id, sizeof self->cat_id);
        self->cat_before =
            rec ? json_incref(json_object_get(rec->info, "catalog")) : NULL;
    }
    json_decref(j);
}

void mb_catalog_disarm(assay_leader *self)
{
    self->cat_armed = false;
    json_decref(self->cat_before);
    self->cat_before = NULL;
}

/* The entries of `list` in `now` that `before` lacks; plugins compare by
 * name and version, other entries (refusals) as a whole. */
static json_t *s_catalog_new_entries(const json_t *now, const json_t *before,
                                     const char *list)
{
    json_t *out = json_array();
    size_t i, k;
    json_t *a, *b;
    bool plugins = !strcmp(list, "plugins");
    json_array_foreach(json_object_get(now, list), i, a) {
        bool known = false;
        json_array_foreach(json_object_get(before, list), k, b) {
            const char *an = mb_str(a, "name"), *bn = mb_str(b, "name"),
                       *av = mb_str(a, "version"), *bv = mb_str(b, "version");
            known = plugins ? an && bn && av && bv && !strcmp(an, bn) &&
                                  !strcmp(av, bv)
                            : json_equal(a, b);
            if (known)
                break;
        }
        if (known)
            continue;
        json_array_append_new(
            out, plugins ? json_pack("{s:O?, s:O?}", "name",
                                     json_object_get(a, "name"), "version",
                                     json_object_get(a, "version"))
                         : json_deep_copy(a));
    }
    return out;
}

/* Publishes runtime.plugins for the armed runtime when its catalogue
 * changed: plugins added and removed, and files newly refused. */
static void s_catalog_publish(assay_leader *self)
{
    assay_runtime_rec *rec = assay_state_runtime(self->state, self->cat_id);
    const json_t *now = rec ? json_object_get(rec->info, "catalog") : NULL;
    json_t *body = json_pack(
        "{s:s, s:o, s:o, s:o}", "id", self->cat_id, "added",
        s_catalog_new_entries(now, self->cat_before, "plugins"), "removed",
        s_catalog_new_entries(self->cat_before, now, "plugins"), "refused",
        s_catalog_new_entries(now, self->cat_before, "refused"));
    if (body && (json_array_size(json_object_get(body, "added")) ||
                 json_array_size(json_object_get(body, "removed")) ||
                 json_array_size(json_object_get(body, "refused")))) {
        int rc = assay_link_publish(self->link, self->pub, ASSAY_EV_RUNTIME_PLUGINS,
                                    body);
        if (rc)
            assay_debug("publish runtime.plugins: %s", assay_strerror(rc));
    }
    json_decref(body);
}

void mb_on_event(void *arg, const char *topic, const void *body, size_t len)
{
    assay_leader *self = arg;
    /* New work, or a runtime back: worth planning again. A runtime's
     * (re)registration or catalogue update is applied here too, so what
     * may run where is recomputed from the new state. */
    if (!strcmp(topic, ASSAY_EV_JOB_QUEUED) || !strcmp(topic, ASSAY_EV_RUNTIME_ALIVE))
        self->dirty = true;
    /* Offers are cached by registry position, which a forgotten runtime
     * changes. */
    if (!strcmp(topic, ASSAY_EV_RUNTIME_ALIVE) ||
        !strcmp(topic, ASSAY_EV_RUNTIME_GONE))
        mb_offers_reset(self, true);
    if (body && self->leading) {
        int rc = assay_link_publish_raw(self->link, self->pub, topic,
                                        &(assay_bytes){body, len});
        if (rc)
            assay_debug("publish %s: %s", topic, assay_strerror(rc));
    }
    if (self->leading && mb_notify_wants(self, topic))
        mb_notify(self, topic, body, len);
    /* What changed follows the runtime.alive that says it registered. */
    if (!strcmp(topic, ASSAY_EV_RUNTIME_ALIVE) && self->cat_armed) {
        s_catalog_publish(self);
        mb_catalog_disarm(self);
    }
}
