/* core/member/offers.c - what the registered runtimes offer: the version a
 * JobSpec resolves to across every catalogue (cached per action and
 * range), why none does (refusals), and per placement class the version
 * each runtime would run (cached until a catalogue may have changed). */
#include "member/internal.h"

typedef struct {
    char *version;
    json_t *decl; /* the action's params declaration */
} s_resolved;

static void s_free_resolved(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    s_resolved *r = value;
    free(r->version);
    json_decref(r->decl);
    free(r);
}

/* Forgets what was remembered; with `renew`, starts remembering anew
 * (without memory to, lookups are worked out every time). Parked classes
 * are planned again: a runtime that could take them may have come. */
void mb_offers_reset(assay_leader *self, bool renew)
{
    if (self->state)
        assay_state_replan(self->state);
    assay_index_each(self->resolved, s_free_resolved, NULL);
    assay_index_destroy(&self->resolved);
    if (renew)
        self->resolved = assay_index_new();
}

/* The plugin version runtime rec would run class c's jobs with, "" if it
 * cannot. */
static const char *s_offer_now(const assay_class *c,
                               const assay_runtime_rec *rec)
{
    char name[64];
    const char *action;
    const char *version = "";
    assay_semver_range *range = NULL;
    char want[80];
    snprintf(want, sizeof want, "=%s", c->resolved);
    if (assay_action_ref_split(c->action, name, sizeof name, &action) &&
        mb_labels_match(c->selector, json_object_get(rec->info, "labels")) &&
        !assay_semver_range_parse(want, &range, NULL, 0)) {
        assay_semver v;
        const json_t *p = mb_pick(json_object_get(rec->info, "catalog"), name,
                                  action, range, &v);
        if (p)
            version = mb_str(p, "version");
    }
    assay_semver_range_destroy(&range);
    return version ? version : "";
}

const char *mb_offer(assay_leader *self, assay_class *c,
                     const assay_runtime_rec *rec)
{
    if (rec->pos >= c->n_offers) {
        size_t n = json_array_size(assay_state_runtime_ids(self->state));
        n = n > rec->pos ? n : rec->pos + 1;
        const char **v = reallocarray(c->offers, n, sizeof *v);
        if (!v)
            return s_offer_now(c, rec);
        memset(v + c->n_offers, 0, (n - c->n_offers) * sizeof *v);
        c->offers = v;
        c->n_offers = n;
    }
    if (!c->offers[rec->pos])
        c->offers[rec->pos] = s_offer_now(c, rec);
    return c->offers[rec->pos];
}

const size_t *mb_offering(assay_leader *self, assay_class *c, size_t *n)
{
    if (!c->offering_known) {
        size_t cap = json_array_size(assay_state_runtime_ids(self->state));
        size_t *v = calloc(cap ? cap : 1, sizeof *v), k = 0;
        assay_runtime_rec *rec;
        for (size_t i = 0; v && (rec = assay_state_runtime_at(self->state, i));
             i++)
            if (*mb_offer(self, c, rec) && k < cap)
                v[k++] = rec->pos;
        if (!v) {
            *n = 0;
            return NULL;
        }
        free(c->offering);
        c->offering = v;
        c->n_offering = k;
        c->offering_known = true;
    }
    *n = c->n_offering;
    return c->offering;
}

/* Highest version of plugin `name` in `catalog` that matches `range` and
 * has `action`; returns the plugin object or NULL. */
const json_t *mb_pick(const json_t *catalog, const char *name,
                      const char *action, const assay_semver_range *range,
                      assay_semver *best)
{
    const json_t *found = NULL;
    assay_semver_pick pick = {0};
    size_t i, k;
    json_t *p, *a;
    json_array_foreach(json_object_get(catalog, "plugins"), i, p) {
        assay_semver v;
        const char *pn = mb_str(p, "name"), *pv = mb_str(p, "version");
        if (!pn || !pv || strcmp(pn, name) || assay_semver_parse(pv, &v))
            continue;
        bool has = false;
        json_array_foreach(json_object_get(p, "actions"), k, a)
            has = has || (mb_str(a, "name") &&
                          !strcmp(mb_str(a, "name"), action));
        if (has && assay_semver_pick_offer(&pick, range, &v))
            found = p;
    }
    if (found)
        *best = pick.best;
    return found;
}

/* Bytes of each list in a refusal: three lists and the names around them
 * fit the submit reply's 2 * ASSAY_ERRMSG_SIZE. */
#define REFUSAL_LIST (ASSAY_ERRMSG_SIZE / 2)

/* Why no registered runtime offers `spec`, worked out for refusals only
 * (a walk of every catalogue): no runtime has the plugin, none has a
 * version in the range, or the versions in it lack the action. Each says
 * which runtimes were asked and what they have. */
static int s_unresolved(assay_leader *self, const assay_jobspec *spec,
                        const char *name, const char *action,
                        const assay_semver_range *range, char *err,
                        size_t errlen)
{
    char asked[REFUSAL_LIST] = "", plugins[REFUSAL_LIST] = "",
         versions[REFUSAL_LIST] = "", actions[REFUSAL_LIST] = "";
    bool matched = false;
    const json_t *ids = assay_state_runtime_ids(self->state);
    size_t k, m;
    json_t *p, *a;
    assay_runtime_rec *r;
    for (size_t i = 0; (r = assay_state_runtime_at(self->state, i)); i++) {
        assay_textlist_add(asked, sizeof asked, r->id);
        json_array_foreach(
            json_object_get(json_object_get(r->info, "catalog"), "plugins"), k,
            p) {
            const char *pn = mb_str(p, "name"), *pv = mb_str(p, "version");
            assay_semver v;
            if (!pn || !pv)
                continue;
            if (strcmp(pn, name)) {
                assay_textlist_add(plugins, sizeof plugins, pn);
                continue;
            }
            assay_semver_list_add(versions, sizeof versions, pv);
            if (assay_semver_parse(pv, &v) ||
                (range && !assay_semver_range_match(range, &v)))
                continue;
            matched = true;
            json_array_foreach(json_object_get(p, "actions"), m, a)
                if (mb_str(a, "name"))
                    assay_textlist_add(actions, sizeof actions,
                                       mb_str(a, "name"));
        }
    }
    const char *many = json_array_size(ids) == 1 ? "" : "s";
    if (!versions[0])
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "no runtime offers plugin '%s' (asked: %s; known "
                          "plugins: %s)",
                          name, asked[0] ? asked : "none",
                          plugins[0] ? plugins : "none");
    if (!matched)
        return assay_errf(err, errlen, ASSAY_ENOENT,
                          "no version of '%s' matches '%s' on runtime%s %s "
                          "(offered: %s)",
                          name, spec->version, many, asked, versions);
    return assay_errf(err, errlen, ASSAY_ENOENT,
                      "plugin '%s'%s%s has no action '%.64s' on runtime%s %s "
                      "(actions: %s)",
                      name, spec->version[0] ? " " : "", spec->version, action,
                      many, asked, actions);
}

/* Finds the action declaration across every registered runtime: the
 * highest version that matches. Errors list what exists. */
static int s_resolve(assay_leader *self, const assay_jobspec *spec,
                     const json_t **decl, const char **version, char *err,
                     size_t errlen)
{
    char name[64];
    const char *action;
    if (!assay_action_ref_split(spec->action, name, sizeof name, &action))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "action '%s' is not of the form plugin.action",
                          spec->action);
    assay_semver_range *range = NULL;
    char why[ASSAY_ERRMSG_SIZE];
    if (spec->version[0] &&
        assay_semver_range_parse(spec->version, &range, why, sizeof why))
        return assay_errf(err, errlen, ASSAY_EINVAL, "version '%s': %s",
                          spec->version, why);
    const json_t *best_p = NULL;
    assay_semver_pick across = {0};
    assay_runtime_rec *r;
    for (size_t i = 0; (r = assay_state_runtime_at(self->state, i)); i++) {
        assay_semver v;
        const json_t *p = mb_pick(json_object_get(r->info, "catalog"), name,
                                  action, range, &v);
        if (p && assay_semver_pick_offer(&across, NULL, &v))
            best_p = p;
    }
    if (!best_p) {
        int rc = s_unresolved(self, spec, name, action, range, err, errlen);
        assay_semver_range_destroy(&range);
        return rc;
    }
    assay_semver_range_destroy(&range);
    size_t k;
    json_t *a;
    json_array_foreach(json_object_get(best_p, "actions"), k, a)
        if (!strcmp(mb_str(a, "name"), action))
            *decl = json_object_get(a, "params");
    *version = mb_str(best_p, "version");
    return 0;
}

/* s_resolve, remembered per action and version range until a catalogue
 * may have changed (mb_offers_reset). *decl and *version stay valid until
 * then. Refusals are not remembered: they list what exists now. */
int mb_resolve_cached(assay_leader *self, const assay_jobspec *spec,
                      const json_t **decl, const char **version, char *err,
                      size_t errlen)
{
    char key[sizeof spec->action + sizeof spec->version + 1];
    snprintf(key, sizeof key, "%s\n%s", spec->action, spec->version);
    s_resolved *r = self->resolved ? assay_index_get(self->resolved, key)
                                   : NULL;
    if (!r) {
        int rc = s_resolve(self, spec, decl, version, err, errlen);
        if (rc || !self->resolved || !(r = calloc(1, sizeof *r)))
            return rc;
        r->version = strdup(*version);
        r->decl = json_incref((json_t *)*decl);
        if (!r->version || assay_index_put(self->resolved, key, r) != 0) {
            s_free_resolved(key, r, NULL);
            return 0; /* resolved, just not remembered */
        }
    }
    *decl = r->decl;
    *version = r->version;
    return 0;
}
