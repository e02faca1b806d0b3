/* client/client.c - the client's connection: endpoints, requests in flight
 * and how their replies are matched, redirects and silent members,
 * events, and assay_client_next (docs/client.md). */
#include "client/internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/errtext.h"
#include "base/prefix.h"
#include "proto/cpmsg.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_SILENCE_MS 1000
#define DEFAULT_MAX_MESSAGE ((size_t)64 << 20)
/* Redirects and endpoint switches one request may take. */
#define MAX_HOPS 32
/* Pause before asking again when no member knows a leader (an election). */
#define NO_LEADER_PAUSE_MS 100
/* Replies and events waiting for assay_client_next; events past it are
 * dropped (a reader that never reads must not grow without bound). */
#define MAX_QUEUED 65536
/* Messages one pump takes from a link before looking at the other. */
#define DRAIN_BOUND 1024
/* A request given up on waits this long for its reply (see cl_req.ghost). */
#define GHOST_MS 60000

int cl_fail(assay_client *self, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
    return code;
}

const char *assay_client_error(const assay_client *self)
{
    return self ? self->error : "no client";
}

const char *assay_client_strerror(int code) { return assay_strerror(code); }
const char *assay_client_errname(int code) { return assay_err_name(code); }

void cl_release(assay_client *self)
{
    json_decref(self->held);
    self->held = NULL;
}

/* Splits a list of endpoints ("a,b c") into out; -1 when one is too long
 * or there are more than max. */
static int s_split(const char *list, char out[][CL_ENDPOINT_MAX], int max)
{
    int n = 0;
    const char *p = list ? list : "";
    for (;;) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (!len)
            return n;
        if (n == max || len >= CL_ENDPOINT_MAX)
            return -1;
        memcpy(out[n], p, len);
        out[n++][len] = '\0';
        p += len;
    }
}

/* The modules directory of the install this library belongs to: its bin/
 * is found from the shared library's own file; the static one, linked
 * into a program, goes by the program's (dladdr would name the program,
 * which is not in the library directory ASSAY_REL_LIB_TO_BIN starts from:
 * with a multiarch lib/<triplet> that missed the modules). */
static void s_modules_dir(char *buf, size_t len)
{
    Dl_info info;
    char bin[PATH_MAX];
    if (!ASSAY_CLIENT_SHARED || !dladdr((void *)s_modules_dir, &info) ||
        !info.dli_fname || !strchr(info.dli_fname, '/')) {
        assay_prefix_path(ASSAY_PART_MODULES, buf, len);
        return;
    }
    snprintf(bin, sizeof bin, "%s", info.dli_fname);
    *strrchr(bin, '/') = '\0';
    size_t used = strlen(bin);
    snprintf(bin + used, sizeof bin - used, "/%s", ASSAY_REL_LIB_TO_BIN);
    assay_prefix_path_at(bin, ASSAY_PART_MODULES, buf, len);
}

static int s_watch_fd(assay_client *self, int op, assay_link *link)
{
    struct epoll_event ev = {.events = EPOLLIN};
    return epoll_ctl(self->epfd, op, assay_link_fd(link), &ev);
}

void cl_endpoints(const assay_client *self, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int k = 0; k < self->nendpoints; k++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s", k ? "," : "",
                 self->endpoints[k]);
    }
}

/* A fresh DEALER to endpoints[i]: no late reply of the old one can be
 * taken for an answer. */
static int s_link_new(assay_client *self, assay_link **out, char *err,
                      size_t errlen)
{
    assay_link_conf lc = {.modules_dir = self->modules,
                          .transport = "zmq",
                          .max_message = self->max_message};
    assay_keys_apply(&self->keys, &lc);
    return assay_link_new_conf(&lc, out, err, errlen);
}

static int s_connect(assay_client *self, int i)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    if (self->link) {
        epoll_ctl(self->epfd, EPOLL_CTL_DEL, assay_link_fd(self->link), NULL);
        assay_link_destroy(&self->link);
    }
    self->current = i;
    int rc = s_link_new(self, &self->link, err, sizeof err);
    if (!rc && (self->dealer = assay_link_open(self->link, ASSAY_LINK_CLIENT,
                                               self->endpoints[i], err,
                                               sizeof err)) < 0)
        rc = self->dealer;
    if (!rc && s_watch_fd(self, EPOLL_CTL_ADD, self->link) < 0)
        rc = assay_errf(err, sizeof err, ASSAY_EIO, "epoll: %m");
    if (rc) {
        assay_link_destroy(&self->link);
        return cl_fail(self, rc, "%s", err);
    }
    return 0;
}

static int s_open_events(assay_client *self)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    int rc = s_link_new(self, &self->evlink, err, sizeof err);
    /* Link i is events[i]: ids count up from 0. */
    for (int i = 0; !rc && i < self->nevents; i++) {
        int id = assay_link_open(self->evlink, ASSAY_LINK_SUBSCRIBE,
                                 self->events[i], err, sizeof err);
        rc = id < 0 ? id : id != i ? ASSAY_EIO : 0;
    }
    if (!rc && s_watch_fd(self, EPOLL_CTL_ADD, self->evlink) < 0)
        rc = assay_errf(err, sizeof err, ASSAY_EIO, "epoll: %m");
    return rc ? cl_fail(self, rc, "%s", err) : 0;
}

/* The option's value where the caller's struct has it, else 0/NULL. */
#define S_OPT(opts, field)                                                     \
    ((opts)->size >= offsetof(assay_client_opts, field) + sizeof(opts)->field \
         ? (opts)->field                                                       \
         : 0)

/* The keys the links present, unless the caller asked for none. */
static int s_keys(assay_client *self, const assay_client_opts *opts)
{
    int security = S_OPT(opts, security);
    if (security == ASSAY_CLIENT_SECURITY_NONE)
        return 0;
    if (security != ASSAY_CLIENT_SECURITY_CURVE)
        return cl_fail(self, ASSAY_EINVAL, "security: %d is neither "
                       "ASSAY_CLIENT_SECURITY_CURVE nor _NONE", security);
    char err[ASSAY_ERRMSG_SIZE * 4];
    int rc = assay_keys_client(self->modules, "zmq", S_OPT(opts, keys_dir),
                               S_OPT(opts, key), &self->keys, err,
                               sizeof err);
    return rc ? cl_fail(self, rc, "%s", err) : 0;
}

int assay_client_new(const assay_client_opts *opts, assay_client **out,
                     char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (!opts || !out)
        return assay_errf(err, errlen, ASSAY_EINVAL, "assay_client_new: "
                                                     "opts and out needed");
    if (opts->abi != ASSAY_CLIENT_ABI ||
        opts->size < offsetof(assay_client_opts, modules_dir) +
                         sizeof opts->modules_dir)
        return assay_errf(err, errlen, ASSAY_EABI,
                          "assay_client_opts: ABI %u, size %u; this library "
                          "is ABI %d (size %zu): rebuild against its header",
                          opts->abi, opts->size, ASSAY_CLIENT_ABI,
                          sizeof *opts);
    if (opts->timeout_ms < 0 || opts->silence_ms < 0)
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "timeout_ms and silence_ms must not be negative");
    assay_client *self = calloc(1, sizeof *self);
    if (!self)
        return assay_errf(err, errlen, ASSAY_ENOMEM, "out of memory");
    self->epfd = self->wake = -1;
    self->timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    self->opts_timeout_ms = self->timeout_ms;
    self->silence_ms = opts->silence_ms ? opts->silence_ms : DEFAULT_SILENCE_MS;
    self->max_message = opts->max_message ? opts->max_message
                                          : DEFAULT_MAX_MESSAGE;
    int rc = 0;
    self->nendpoints = s_split(opts->endpoints, self->endpoints,
                               CL_MAX_ENDPOINTS);
    self->nevents = s_split(opts->events, self->events, CL_MAX_EVENTS);
    if (self->nendpoints < 0)
        rc = cl_fail(self, ASSAY_EINVAL,
                     "endpoints: at most %d, each under %d bytes: '%.200s'",
                     CL_MAX_ENDPOINTS, CL_ENDPOINT_MAX, opts->endpoints);
    else if (self->nevents < 0)
        rc = cl_fail(self, ASSAY_EINVAL,
                     "events: at most %d, each under %d bytes: '%.200s'",
                     CL_MAX_EVENTS, CL_ENDPOINT_MAX, opts->events);
    else if (!self->nendpoints && !self->nevents)
        rc = cl_fail(self, ASSAY_EINVAL, "no endpoint and no events endpoint "
                                         "given");
    if (!rc) {
        if (opts->modules_dir && *opts->modules_dir)
            snprintf(self->modules, sizeof self->modules, "%s",
                     opts->modules_dir);
        else
            s_modules_dir(self->modules, sizeof self->modules);
        rc = s_keys(self, opts);
    }
    if (!rc) {
        self->epfd = epoll_create1(EPOLL_CLOEXEC);
        self->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        if (self->epfd < 0 || self->wake < 0 ||
            epoll_ctl(self->epfd, EPOLL_CTL_ADD, self->wake, &ev))
            rc = cl_fail(self, ASSAY_EIO, "epoll, eventfd: %m");
    }
    if (!rc && self->nendpoints)
        rc = s_connect(self, 0);
    if (!rc && self->nevents)
        rc = s_open_events(self);
    if (rc) {
        assay_errf(err, errlen, rc, "%s", self->error);
        assay_client_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void assay_client_destroy(assay_client **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_client *self = *self_p;
    cl_release(self);
    for (size_t i = 0; i < self->nreqs; i++)
        free(self->reqs[i].body);
    free(self->reqs);
    while (self->head) {
        cl_done *d = self->head;
        self->head = d->next;
        json_decref(d->body);
        free(d);
    }
    assay_link_destroy(&self->link);
    assay_link_destroy(&self->evlink);
    explicit_bzero(self->keys.secret, sizeof self->keys.secret);
    if (self->epfd >= 0)
        close(self->epfd);
    if (self->wake >= 0)
        close(self->wake);
    free(self);
    *self_p = NULL;
}

int assay_client_fd(const assay_client *self) { return self ? self->epfd : -1; }

/* ---- Requests in flight ---------------------------------------------- */

static int s_transmit(assay_client *self, cl_req *r)
{
    assay_bytes body = {(const uint8_t *)r->body, r->len};
    r->sent_ms = assay_now_ms();
    r->retry_ms = 0;
    return assay_link_send_raw(self->link, self->dealer, NULL,
                               ASSAY_MDP_CLIENT, r->service, &body);
}

static void s_queue(assay_client *self, cl_done *d)
{
    if (self->tail)
        self->tail->next = d;
    else
        self->head = d;
    self->tail = d;
    self->nqueued++;
}

static void s_forget(assay_client *self, size_t i)
{
    cl_req *r = &self->reqs[i];
    free(r->body);
    memmove(r, r + 1, (self->nreqs - i - 1) * sizeof *r);
    self->nreqs--;
}

/* r, abandoned or timed out, only waits for its reply from now on. */
static void s_ghost(cl_req *r)
{
    r->ghost = true;
    r->sent_ms = assay_now_ms();
    r->retry_ms = 0;
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* Queues r's end with `status` and the reply body (a reference taken);
 * nothing for a ghost. */
static void s_report(assay_client *self, const cl_req *r, int status,
                     json_t *body)
{
    cl_done *d = r->ghost ? NULL : calloc(1, sizeof *d);
    if (d) {
        d->kind = ASSAY_CLIENT_REPLY;
        d->ticket = r->ticket;
        d->status = status;
        snprintf(d->name, sizeof d->name, "%s", r->service);
        d->body = json_incref(body);
        s_queue(self, d);
    }
}

static void s_complete(assay_client *self, size_t i, int status, json_t *body)
{
    s_report(self, &self->reqs[i], status, body);
    s_forget(self, i);
}

/* Talks to endpoint i from now on, and sends every request in flight
 * again there (each one hop more). */
static void s_switch(assay_client *self, int i)
{
    int rc = s_connect(self, i);
    for (size_t k = 0; k < self->nreqs;) {
        cl_req *r = &self->reqs[k];
        if (r->ghost) { /* its reply would come on the old link */
            s_forget(self, k);
        } else if (rc || ++r->hops > MAX_HOPS || s_transmit(self, r)) {
            s_complete(self, k, rc ? rc : ASSAY_ETIMEOUT, NULL);
        } else {
            k++;
        }
    }
}

/* The member a not-leader reply names: added to the endpoints if new. */
static void s_redirect(assay_client *self, const char *leader)
{
    int i = 0;
    while (i < self->nendpoints && strcmp(self->endpoints[i], leader))
        i++;
    if (i == self->nendpoints) {
        if (self->nendpoints < CL_MAX_ENDPOINTS)
            self->nendpoints++;
        else
            i = self->current;
        snprintf(self->endpoints[i], CL_ENDPOINT_MAX, "%s", leader);
    }
    s_switch(self, i);
}

int cl_send_encoded(assay_client *self, const char *service, const char *spec,
                    char *body, size_t len, uint64_t *ticket)
{
    if (!self->link) {
        free(body);
        return cl_fail(self, ASSAY_EINVAL,
                       "%s: this client has no control endpoint", service);
    }
    if (self->nreqs == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        cl_req *grown = realloc(self->reqs, cap * sizeof *grown);
        if (!grown) {
            free(body);
            return cl_fail(self, ASSAY_ENOMEM, "out of memory");
        }
        self->reqs = grown;
        self->cap = cap;
    }
    cl_req *r = &self->reqs[self->nreqs];
    *r = (cl_req){.ticket = ++self->tickets, .body = body, .len = len};
    snprintf(r->service, sizeof r->service, "%s", service);
    snprintf(r->spec, sizeof r->spec, "%s", spec ? spec : "");
    int rc = s_transmit(self, r);
    /* No connection to queue on yet (one just dropped, e.g. a refused
     * handshake): the request waits its turn as one parked for a leader,
     * within its own budget. */
    if (rc == ASSAY_EBUSY) {
        r->retry_ms = r->sent_ms + NO_LEADER_PAUSE_MS;
        rc = 0;
    }
    if (rc) {
        free(body);
        return cl_fail(self, rc, "%s: cannot send to %s: %s", service,
                       self->endpoints[self->current], assay_strerror(rc));
    }
    r->deadline_ms = r->sent_ms + self->timeout_ms;
    self->nreqs++;
    if (ticket)
        *ticket = r->ticket;
    return 0;
}

/* The request a reply answers: assay.submit by JobSpec id, the others
 * (and a submit refusal that names no JobSpec) the oldest of the service. */
static long s_match(const assay_client *self, const char *service,
                    const char *spec)
{
    if (strcmp(service, ASSAY_SVC_SUBMIT))
        spec = NULL;
    for (size_t i = 0; i < self->nreqs; i++)
        if (!strcmp(self->reqs[i].service, service) &&
            (!spec || !strcmp(self->reqs[i].spec, spec)))
            return (long)i;
    return -1;
}

static void s_on_reply(assay_client *self, const assay_link_msg *m)
{
    if (!json_is_object(m->body))
        return; /* no request takes a reply without a map (mmi.service) */
    assay_cp_reply r;
    assay_cp_read_reply(m->body, &r);
    long i = s_match(self, m->verb, r.spec);
    if (i < 0)
        return; /* a request long given up on */
    if (r.code != ASSAY_ENOTLEADER || self->reqs[i].ghost) {
        s_complete(self, (size_t)i, r.code, m->body);
        return;
    }
    if (r.leader && *r.leader && strlen(r.leader) < CL_ENDPOINT_MAX &&
        strcmp(r.leader, self->endpoints[self->current])) {
        s_redirect(self, r.leader);
        return;
    }
    /* An election is under way: ask again a little later. */
    self->reqs[i].retry_ms = assay_now_ms() + NO_LEADER_PAUSE_MS;
}

/* ---- Events ------------------------------------------------------------ */

int assay_client_subscribe(assay_client *self, const char *prefix)
{
    if (!self)
        return ASSAY_EINVAL;
    cl_release(self);
    if (!self->evlink)
        return cl_fail(self, ASSAY_EINVAL,
                       "subscribe: this client has no events endpoint");
    if (!prefix || strlen(prefix) > 255)
        return cl_fail(self, ASSAY_EINVAL,
                       "subscribe: a topic prefix of at most 255 bytes");
    /* The welcome (the member's answer to a subscription, which says the
     * ones before it are live) is subscribed to last, after every prefix: one already
     * subscribed would not be welcomed again, so prefixes come before. */
    if (self->subscribed)
        return cl_fail(self, ASSAY_EBUSY,
                       "subscribe: every prefix must be given before the "
                       "first call to assay_client_next");
    for (int i = 0; i < self->nevents; i++) {
        int rc = assay_link_subscribe(self->evlink, i, prefix);
        if (rc)
            return cl_fail(self, rc, "subscribe %s: %s", self->events[i],
                           assay_strerror(rc));
    }
    return 0;
}

/* Subscribes to the welcome once the prefixes are in. */
static void s_welcome(assay_client *self)
{
    if (self->subscribed || !self->evlink)
        return;
    self->subscribed = true;
    for (int i = 0; i < self->nevents; i++)
        assay_link_subscribe(self->evlink, i, ASSAY_EV_WELCOME);
}

static void s_on_event(assay_client *self, const assay_link_msg *m)
{
    bool welcome = !strcmp(m->proto, ASSAY_EV_WELCOME);
    if (m->id < 0 || m->id >= self->nevents ||
        (welcome && self->live[m->id]))
        return;
    if (!welcome && self->nqueued >= MAX_QUEUED)
        return;
    cl_done *d = calloc(1, sizeof *d);
    if (!d)
        return;
    self->live[m->id] = self->live[m->id] || welcome;
    d->kind = welcome ? ASSAY_CLIENT_LIVE : ASSAY_CLIENT_EVENT;
    d->ep = m->id;
    snprintf(d->name, sizeof d->name, "%s", welcome ? "" : m->proto);
    d->body = json_incref(m->body);
    s_queue(self, d);
}

/* ---- The pump ------------------------------------------------------------ */

static void s_drain(assay_client *self, assay_link *link, bool events)
{
    char err[ASSAY_ERRMSG_SIZE * 2];
    for (int n = 0; link && n < DRAIN_BOUND; n++) {
        assay_link_msg m;
        int rc = assay_link_recv(link, &m, err, sizeof err);
        if (rc == 0)
            return;
        if (rc < 0)
            continue; /* malformed: dropped */
        if (events)
            s_on_event(self, &m);
        else
            s_on_reply(self, &m);
        assay_link_msg_fini(&m);
        /* A redirect replaced the link: what the old one holds is stale. */
        if (!events && link != self->link)
            return;
    }
}

/* Deadlines, parked requests, and a member that stays silent. */
static void s_timers(assay_client *self, int64_t now)
{
    for (size_t i = 0; i < self->nreqs;) {
        cl_req *r = &self->reqs[i];
        if (r->ghost && now - r->sent_ms >= GHOST_MS) {
            s_forget(self, i);
            continue;
        }
        if (!r->ghost && now >= r->deadline_ms) {
            s_report(self, r, ASSAY_ETIMEOUT, NULL);
            s_ghost(r); /* in its place, to take a late reply */
        }
        i++;
    }
    bool parked = false, silent = false;
    for (size_t i = 0; i < self->nreqs; i++) {
        const cl_req *r = &self->reqs[i];
        if (r->ghost)
            continue;
        parked = parked || (r->retry_ms && now >= r->retry_ms);
        silent = silent || (!r->retry_ms && now - r->sent_ms >=
                                                self->silence_ms);
    }
    if (self->nendpoints > 1 && (parked || silent)) {
        s_switch(self, (self->current + 1) % self->nendpoints);
        return;
    }
    for (size_t i = 0; parked && i < self->nreqs;) {
        cl_req *r = &self->reqs[i];
        int rc = 0;
        if (r->retry_ms && now >= r->retry_ms &&
            (++r->hops > MAX_HOPS || (rc = s_transmit(self, r)))) {
            if (rc == ASSAY_EBUSY && r->hops <= MAX_HOPS) {
                r->retry_ms = now + NO_LEADER_PAUSE_MS; /* still no room */
                i++;
                continue;
            }
            s_complete(self, i, ASSAY_ETIMEOUT, NULL);
        } else {
            i++;
        }
    }
}

int64_t assay_client_timeout(const assay_client *self)
{
    if (!self || self->head)
        return 0;
    int64_t now = assay_now_ms(), at = INT64_MAX;
    for (size_t i = 0; i < self->nreqs; i++) {
        const cl_req *r = &self->reqs[i];
        if (r->ghost)
            continue;
        int64_t t = r->retry_ms ? r->retry_ms
                    : self->nendpoints > 1
                        ? r->sent_ms + self->silence_ms
                        : r->deadline_ms;
        at = t < at ? t : at;
        at = r->deadline_ms < at ? r->deadline_ms : at;
    }
    return at == INT64_MAX ? -1 : at <= now ? 0 : at - now;
}

static void s_pump(assay_client *self)
{
    s_welcome(self);
    s_drain(self, self->link, false);
    s_drain(self, self->evlink, true);
    s_timers(self, assay_now_ms());
}

/* Waits for the client's descriptor at most `ms` (< 0: its own timeout). */
static void s_poll(assay_client *self, int64_t ms)
{
    int64_t t = assay_client_timeout(self);
    if (t >= 0 && (ms < 0 || t < ms))
        ms = t;
    struct epoll_event ev;
    epoll_wait(self->epfd, &ev, 1, ms < 0 || ms > 1000 ? 1000 : (int)ms);
}

static void s_hand_out(assay_client *self, cl_done *d, assay_client_msg *msg)
{
    self->head = d->next;
    if (!self->head)
        self->tail = NULL;
    self->nqueued--;
    /* Fields the caller's struct has room for (it may be older). */
    assay_client_msg out = {.size = msg->size,
                            .kind = d->kind,
                            .ticket = d->ticket,
                            .status = d->status,
                            .endpoint = d->kind == ASSAY_CLIENT_REPLY
                                            ? NULL
                                            : self->events[d->ep],
                            .body = d->body};
    snprintf(out.name, sizeof out.name, "%s", d->name);
    size_t n = msg->size < sizeof out ? msg->size : sizeof out;
    memcpy(msg, &out, n);
    self->held = d->body;
    free(d);
}

int assay_client_next(assay_client *self, assay_client_msg *msg,
                      int64_t timeout_ms)
{
    if (!self || !msg ||
        msg->size < offsetof(assay_client_msg, body) + sizeof msg->body)
        return self ? cl_fail(self, ASSAY_EINVAL, "assay_client_next: msg "
                              "needs its size set (sizeof(assay_client_msg))")
                    : ASSAY_EINVAL;
    cl_release(self);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX
                                      : assay_now_ms() + timeout_ms;
    for (;;) {
        /* What is queued goes first: a pump per message handed out costs
         * libzmq a poll on each link for nothing. */
        if (!self->head)
            s_pump(self);
        if (self->head) {
            s_hand_out(self, self->head, msg);
            return 1;
        }
        int rc = cl_interrupted(self);
        if (rc)
            return rc;
        int64_t left = deadline - assay_now_ms();
        if (left <= 0)
            return 0;
        s_poll(self, left);
    }
}

/* Takes ticket's reply out of the queue, or NULL when none is there. */
static cl_done *s_take_reply(assay_client *self, uint64_t ticket)
{
    for (cl_done **p = &self->head, *prev = NULL; *p;
         prev = *p, p = &(*p)->next) {
        cl_done *d = *p;
        if (d->kind != ASSAY_CLIENT_REPLY || d->ticket != ticket)
            continue;
        *p = d->next;
        if (self->tail == d)
            self->tail = prev;
        self->nqueued--;
        return d;
    }
    return NULL;
}

/* Takes an interrupt, if one is pending. */
static bool s_interrupted(assay_client *self)
{
    uint64_t n = 0;
    return read(self->wake, &n, sizeof n) == (ssize_t)sizeof n && n;
}

int cl_interrupted(assay_client *self)
{
    return s_interrupted(self)
               ? cl_fail(self, ASSAY_ECANCELLED, "interrupted")
               : 0;
}

int cl_sleep(assay_client *self, int64_t ms)
{
    struct pollfd p = {self->wake, POLLIN, 0};
    poll(&p, 1, ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms);
    return cl_interrupted(self);
}

int assay_client_interrupt(assay_client *self)
{
    if (!self)
        return ASSAY_EINVAL;
    uint64_t one = 1;
    /* Only write(2): async-signal-safe. A full counter is pending anyway. */
    return write(self->wake, &one, sizeof one) == (ssize_t)sizeof one ||
                   errno == EAGAIN
               ? 0
               : ASSAY_EIO;
}

int assay_client_set_timeout(assay_client *self, int64_t timeout_ms)
{
    if (!self)
        return ASSAY_EINVAL;
    if (timeout_ms < 0)
        return cl_fail(self, ASSAY_EINVAL, "timeout_ms must not be negative");
    self->timeout_ms = timeout_ms ? timeout_ms : self->opts_timeout_ms;
    return 0;
}

int assay_client_abandon(assay_client *self, uint64_t ticket)
{
    if (!self)
        return ASSAY_EINVAL;
    cl_release(self);
    for (size_t i = 0; i < self->nreqs; i++)
        if (self->reqs[i].ticket == ticket && !self->reqs[i].ghost) {
            s_ghost(&self->reqs[i]);
            return 0;
        }
    cl_done *d = s_take_reply(self, ticket);
    if (d) {
        json_decref(d->body);
        free(d);
        return 0;
    }
    return cl_fail(self, ASSAY_ENOENT, "ticket %llu: no such request in "
                   "flight", (unsigned long long)ticket);
}

int cl_await(assay_client *self, uint64_t ticket, json_t **reply,
             char *service, size_t len)
{
    for (;;) {
        s_pump(self);
        cl_done *d = s_take_reply(self, ticket);
        if (d) {
            int status = d->status;
            if (reply)
                *reply = d->body;
            else
                json_decref(d->body);
            snprintf(service, len, "%s", d->name);
            free(d);
            return status;
        }
        int rc = cl_interrupted(self);
        if (rc) {
            assay_client_abandon(self, ticket);
            return rc;
        }
        s_poll(self, -1);
    }
}
