/* core/cluster/link.c - transport module loading and protocol framing (link.h). */
#include "cluster/link.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "base/codec.h"
#include "base/errtext.h"
#include "base/prefix.h"
#include "plugin/hostapi.h"
#include "plugin/loader.h"

struct assay_link {
    void *dl;
    const assay_transport_ops *ops;
    assay_transport *t;
    int kinds[32];
    char label[80]; /* "transport NAME", for what the module logs */
};

/* Calls transport op `op` (they all return int) with the host's log label
 * naming the module, so its lines read "transport zmq: ...". */
#define S_OP(self, op, ...)                                                    \
    ASSAY_HOST_LABELLED((self)->label, (self)->ops->op(__VA_ARGS__))

void assay_module_path(const char *dir, const char *kind, const char *name,
                       char *buf, size_t len)
{
    char found[PATH_MAX];
    if (!dir || !*dir) {
        assay_prefix_path(ASSAY_PART_MODULES, found, sizeof found);
        dir = found;
    }
    int n = snprintf(buf, len, "%s/assay-%s_%s.so", dir, kind, name);
    if (n < 0 || (size_t)n >= len) /* cut short it would name another file */
        snprintf(buf, len, "(module path longer than %zu bytes)", len - 1);
}

int assay_link_new(const char *modules_dir, const char *transport,
                   const char *identity, size_t max_message,
                   assay_link **out, char *err, size_t errlen)
{
    assay_link_conf conf = {.modules_dir = modules_dir,
                            .transport = transport,
                            .identity = identity,
                            .max_message = max_message};
    return assay_link_new_conf(&conf, out, err, errlen);
}

int assay_link_new_conf(const assay_link_conf *conf, assay_link **out,
                        char *err, size_t errlen)
{
    const char *transport = conf->transport;
    char path[PATH_MAX], why[ASSAY_ERRMSG_SIZE];
    assay_module_path(conf->modules_dir, "transport", transport, path,
                      sizeof path);
    assay_link *self = calloc(1, sizeof *self);
    if (!self)
        return ASSAY_ENOMEM;
    const assay_module *m;
    int rc = assay_module_open(path, ASSAY_KIND_TRANSPORT, &self->dl, &m, why,
                               sizeof why);
    if (rc) {
        free(self);
        return assay_errf(err, errlen, rc, "transport %s: %s", path, why);
    }
    self->ops = m->transport;
    snprintf(self->label, sizeof self->label, "transport %s", m->name);
    assay_transport_config cfg = {.struct_size = sizeof cfg,
                                  .identity = conf->identity,
                                  .max_message = conf->max_message,
                                  .publish_buffer = conf->publish_buffer,
                                  .publish_stall_ms = conf->publish_stall_ms,
                                  .curve_secret_key = conf->curve_secret,
                                  .curve_public_key = conf->curve_public,
                                  .curve_server_key = conf->curve_server,
                                  .allow_dir = conf->allow_dir,
                                  .publish_roles = conf->publish_roles};
    rc = S_OP(self, open, &cfg, &self->t, why, sizeof why);
    if (rc) {
        dlclose(self->dl);
        free(self);
        return assay_errf(err, errlen, rc, "transport %s: %s", transport,
                          why);
    }
    *out = self;
    return 0;
}

/* Whether the module's ops table reaches `op` (appended in a later
 * version than the module may have been built against). */
#define S_HAS(ops, op)                                                         \
    ((ops)->struct_size >=                                                     \
         offsetof(assay_transport_ops, op) + sizeof(ops)->op &&                \
     (ops)->op)

int assay_link_key(const char *modules_dir, const char *transport,
                   assay_transport_key *key, char *err, size_t errlen)
{
    char path[PATH_MAX], why[ASSAY_ERRMSG_SIZE * 2];
    assay_module_path(modules_dir, "transport", transport, path, sizeof path);
    void *dl;
    const assay_module *m;
    int rc = assay_module_open(path, ASSAY_KIND_TRANSPORT, &dl, &m, why,
                               sizeof why);
    if (rc)
        return assay_errf(err, errlen, rc, "transport %s: %s", path, why);
    if (!S_HAS(m->transport, key))
        rc = assay_errf(err, errlen, ASSAY_EUNSUPP,
                        "transport %s has no key files (no security)",
                        transport);
    else if (key->certify && !S_HAS(m->transport, guests))
        /* Before version 4 a module would make a new pair instead. */
        rc = assay_errf(err, errlen, ASSAY_EUNSUPP,
                        "transport %s cannot write someone else's "
                        "certificate (version 4 can): upgrade it",
                        transport);
    else if ((rc = m->transport->key(key, why, sizeof why)))
        assay_errf(err, errlen, rc, "%s", why);
    dlclose(dl);
    return rc;
}

void assay_link_destroy(assay_link **self_p)
{
    if (!self_p || !*self_p)
        return;
    assay_link *self = *self_p;
    const char *prev = assay_host_label(self->label);
    self->ops->close(&self->t);
    assay_host_label(prev);
    dlclose(self->dl);
    free(self);
    *self_p = NULL;
}

int assay_link_open(assay_link *self, int kind, const char *endpoint,
                    char *err, size_t errlen)
{
    int id = S_OP(self, link, self->t, kind, endpoint);
    if (id < 0)
        return assay_errf(err, errlen, id, "%s: %s", endpoint,
                          assay_strerror(id));
    if (id < 32)
        self->kinds[id] = kind;
    return id;
}

int assay_link_fd(assay_link *self) { return S_OP(self, fd, self->t); }

int assay_link_guests(assay_link *self, bool allow)
{
    if (!S_HAS(self->ops, guests))
        return allow ? ASSAY_EUNSUPP : 0;
    return S_OP(self, guests, self->t, allow);
}

int assay_link_refusals(assay_link *self, assay_transport_refusals *out)
{
    *out = (assay_transport_refusals){.struct_size = sizeof *out};
    if (!S_HAS(self->ops, refusals))
        return ASSAY_EUNSUPP;
    return S_OP(self, refusals, self->t, out);
}

bool assay_link_wanted(assay_link *self, int id, const char *topic)
{
    /* Transports without the slot (or that cannot tell) publish always. */
    if (self->ops->struct_size <
            offsetof(assay_transport_ops, wanted) + sizeof self->ops->wanted ||
        !self->ops->wanted)
        return true;
    return S_OP(self, wanted, self->t, id, topic) != 0;
}

int assay_link_subscribe(assay_link *self, int id, const char *prefix)
{
    return S_OP(self, subscribe, self->t, id, prefix);
}

static assay_bytes s_str(const char *s)
{
    return (assay_bytes){(const uint8_t *)s, strlen(s)};
}

int assay_link_send_raw(assay_link *self, int id, const assay_bytes *route,
                        const char *proto, const char *verb,
                        const assay_bytes *body)
{
    assay_bytes f[5];
    size_t n = 0;
    if (route)
        f[n++] = *route;
    f[n++] = s_str("");
    f[n++] = s_str(proto);
    f[n++] = s_str(verb);
    if (body)
        f[n++] = *body;
    assay_frames msg = {f, n};
    return S_OP(self, send, self->t, id, &msg);
}

int assay_link_send(assay_link *self, int id, const assay_bytes *route,
                    const char *proto, const char *verb, const json_t *body)
{
    if (!body)
        return assay_link_send_raw(self, id, route, proto, verb, NULL);
    char *buf;
    size_t len;
    int rc = assay_codec_encode(body, &buf, &len);
    if (rc)
        return rc;
    assay_bytes b = {(const uint8_t *)buf, len};
    rc = assay_link_send_raw(self, id, route, proto, verb, &b);
    free(buf);
    return rc;
}

int assay_link_send_text(assay_link *self, int id, const assay_bytes *route,
                         const char *proto, const char *verb,
                         const char *text)
{
    assay_bytes b = s_str(text);
    return assay_link_send_raw(self, id, route, proto, verb, &b);
}

int assay_link_publish_raw(assay_link *self, int id, const char *topic,
                           const assay_bytes *body)
{
    assay_bytes f[2] = {s_str(topic), *body};
    assay_frames msg = {f, 2};
    return S_OP(self, send, self->t, id, &msg);
}

int assay_link_publish(assay_link *self, int id, const char *topic,
                       const json_t *body)
{
    char *buf;
    size_t len;
    int rc = assay_codec_encode(body, &buf, &len);
    if (rc)
        return rc;
    rc = assay_link_publish_raw(self, id, topic,
                                &(assay_bytes){(const uint8_t *)buf, len});
    free(buf);
    return rc;
}

/* Copies a frame into a NUL-terminated field, refusing what does not fit
 * or holds NUL bytes. */
static bool s_field(const assay_bytes *f, char *dst, size_t cap)
{
    if (f->len >= cap || memchr(f->data, '\0', f->len))
        return false;
    memcpy(dst, f->data, f->len);
    dst[f->len] = '\0';
    return true;
}

int assay_link_recv(assay_link *self, assay_link_msg *msg, char *err,
                    size_t errlen)
{
    memset(msg, 0, sizeof *msg);
    assay_frames fr;
    int id;
    int rc = S_OP(self, recv, self->t, &id, &fr);
    if (rc == ASSAY_EBUSY)
        return 0;
    if (rc)
        return assay_errf(err, errlen, rc, "transport: %s",
                          assay_strerror(rc));
    msg->id = id;
    if (S_HAS(self->ops, peer))
        S_OP(self, peer, self->t, &msg->peer, &msg->role);
    const assay_bytes *f = fr.frames;
    size_t n = fr.count;
    int kind = id >= 0 && id < 32 ? self->kinds[id] : 0;
    if (kind == ASSAY_LINK_SUBSCRIBE) {
        if (n != 2 || !s_field(&f[0], msg->proto, sizeof msg->proto))
            return assay_errf(err, errlen, ASSAY_EPROTO,
                              "event: want [topic][body]");
        msg->raw_body = &f[1];
        return assay_codec_decode(f[1].data, f[1].len, &msg->body, err,
                                  errlen) == 0
                   ? 1
                   : ASSAY_EPROTO;
    }
    if (kind == ASSAY_LINK_SERVER) {
        if (n < 1)
            return assay_errf(err, errlen, ASSAY_EPROTO, "no routing id");
        msg->route = f[0];
        f++;
        n--;
    }
    if (n < 3 || n > 4 || f[0].len != 0)
        return assay_errf(err, errlen, ASSAY_EPROTO,
                          "want [\"\"][protocol][verb][body], got %zu frames",
                          n);
    if (!s_field(&f[1], msg->proto, sizeof msg->proto) ||
        !s_field(&f[2], msg->verb, sizeof msg->verb))
        return assay_errf(err, errlen, ASSAY_EPROTO,
                          "protocol or verb frame malformed");
    if (n == 4) {
        msg->raw_body = &f[3];
        if (!strncmp(msg->verb, ASSAY_SVC_MMI_PREFIX,
                      strlen(ASSAY_SVC_MMI_PREFIX)))
            return 1; /* RFC 8: MMI bodies are plain text */
        char why[ASSAY_ERRMSG_SIZE];
        rc = assay_codec_decode(f[3].data, f[3].len, &msg->body, why,
                                sizeof why);
        if (rc)
            return assay_errf(err, errlen, rc, "%s %s: body: %s", msg->proto,
                              msg->verb, why);
    }
    return 1;
}

void assay_link_msg_fini(assay_link_msg *msg)
{
    json_decref(msg->body);
    msg->body = NULL;
}
