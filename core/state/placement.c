/* core/state/placement.c - placement classes: queued jobs grouped by what
 * decides where they may run, each group FIFO. The planner used to walk
 * the queue from its head; 20,000 jobs no runtime could take ahead of
 * runnable ones starved them, and a long queue made every plan slow. A
 * class is derived from its JobSpecs (the same on every member, nothing
 * replicated) and lives while a JobSpec of it is held. */
#include <stdlib.h>
#include <string.h>

#include "base/errtext.h"
#include "state/internal.h"

/* What placement depends on, as one string: action, resolved version,
 * selector (canonical JSON), memory and CPU requests, placement and
 * priority. NULL without memory. */
static char *s_key(const assay_state *self, const assay_spec_rec *s)
{
    char *sel = s->selector == self->empty
                    ? NULL
                    : json_dumps(s->selector, JSON_COMPACT | JSON_SORT_KEYS);
    if (s->selector != self->empty && !sel)
        return NULL;
    char *key = NULL;
    if (asprintf(&key, "%s\n%s\n%s\n%lld\n%lld\n%d\n%lld", s->action,
                 s->resolved, sel ? sel : "", (long long)s->memory_mb,
                 (long long)s->cpu_milli, s->pack,
                 (long long)s->priority) < 0)
        key = NULL;
    free(sel);
    return key;
}

static void s_forget_offers(assay_class *c)
{
    free(c->offers);
    c->offers = NULL;
    c->n_offers = 0;
    free(c->offering);
    c->offering = NULL;
    c->n_offering = 0;
    c->offering_known = false;
}

static void s_free(assay_class *c)
{
    s_forget_offers(c);
    free(c->waiting);
    json_decref((json_t *)c->selector);
    free(c);
}

int st_class_attach(assay_state *self, assay_spec_rec *s)
{
    char *key = s_key(self, s);
    if (!key)
        return ASSAY_ENOMEM;
    assay_class *c = assay_index_get(self->classes, key);
    if (!c) {
        size_t len = strlen(key);
        if (!(c = calloc(1, sizeof *c + len + 1))) {
            free(key);
            return ASSAY_ENOMEM;
        }
        memcpy(c->key, key, len + 1);
        if (assay_index_put(self->classes, key, c) != 0) {
            free(c);
            free(key);
            return ASSAY_ENOMEM;
        }
        c->action = s->action;
        c->resolved = s->resolved;
        c->selector = json_incref(s->selector);
        c->memory_mb = s->memory_mb;
        c->cpu_milli = s->cpu_milli;
        c->pack = s->pack;
        c->priority = s->priority;
    }
    free(key);
    c->refs++;
    s->placement = c;
    return 0;
}

void st_class_detach(assay_state *self, assay_spec_rec *s)
{
    assay_class *c = s->placement;
    s->placement = NULL;
    if (!c || --c->refs)
        return;
    assay_index_remove(self->classes, c->key);
    s_free(c);
}

/* The list c belongs on while it has queued jobs. */
static assay_class **s_list(assay_state *self, const assay_class *c)
{
    return c->parked ? &self->parked : &self->planned;
}

static void s_link(assay_state *self, assay_class *c)
{
    assay_class **head = s_list(self, c);
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void s_unlink(assay_state *self, assay_class *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        *s_list(self, c) = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

void st_class_push(assay_state *self, assay_job *j)
{
    assay_class *c = j->spec->placement;
    st_list_append(&c->jobs, j);
    if (!c->queued++)
        s_link(self, c);
}

void st_class_pull(assay_state *self, assay_job *j)
{
    assay_class *c = j->spec->placement;
    /* Every job before the last one taken is taken too. */
    if (c->taken == j)
        c->taken = j->prev;
    if (c->stamped == j)
        c->stamped = NULL;
    st_list_unlink(&c->jobs, j);
    if (--c->queued)
        return;
    /* Nothing queued: nothing to plan or to say until jobs come again. */
    s_unlink(self, c);
    c->parked = false;
    assay_job_note(&c->waiting, NULL);
}

static void s_free_entry(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    s_free(value);
}

void st_classes_clear(assay_state *self)
{
    assay_index_each(self->classes, s_free_entry, NULL);
    assay_index_destroy(&self->classes);
    self->classes = assay_index_new();
    self->planned = self->parked = NULL;
}

assay_class *assay_state_classes(const assay_state *self)
{
    return self->planned;
}

assay_class *assay_state_parked(const assay_state *self)
{
    return self->parked;
}

void assay_state_park(assay_state *self, assay_class *c, bool parked,
                      const char *why)
{
    assay_job_note(&c->waiting, why);
    if (c->parked == parked || !c->queued) {
        c->parked = parked && c->queued;
        return;
    }
    s_unlink(self, c);
    c->parked = parked;
    s_link(self, c);
}

static void s_replan(const char *key, void *value, void *arg)
{
    (void)key;
    assay_class *c = value;
    s_forget_offers(c);
    if (c->parked) { /* its note stays until the planner looks again */
        s_unlink(arg, c);
        c->parked = false;
        s_link(arg, c);
    }
}

void assay_state_replan(assay_state *self)
{
    assay_index_each(self->classes, s_replan, self);
}

static void s_reset(const char *key, void *value, void *arg)
{
    (void)key;
    assay_class *c = value;
    s_replan(key, c, arg);
    c->taken = c->stamped = NULL;
    assay_job_note(&c->waiting, NULL);
}

void st_classes_reset_marks(assay_state *self)
{
    assay_index_each(self->classes, s_reset, self);
}
