/* core/obs/httpd.c - read-only HTTP on the daemon's loop: see httpd.h. */
#include "obs/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "base/errtext.h"
#include "obs/bearer.h"

/* Bytes a connection may hold (its request line and headers). */
#define CONN_MEMORY (32 * 1024)

struct assay_httpd {
    struct MHD_Daemon *mhd;
    assay_loop *loop;
    int epfd, port, timer;
    assay_httpd_fn fn;
    void *arg;
    assay_httpd_auth_fn auth;
    void *auth_arg;
};

void assay_httpd_set_auth(assay_httpd *self, assay_httpd_auth_fn fn,
                          void *arg)
{
    self->auth = fn;
    self->auth_arg = arg;
}


/* Answers with body: malloc'd (freed when sent) when `owned`, else a
 * constant. */
static enum MHD_Result s_answer(struct MHD_Connection *c, unsigned status,
                                char *body, size_t len, bool owned,
                                const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    if (status == MHD_HTTP_UNAUTHORIZED) {
        /* Basic so that a browser asks (the token as password). */
        MHD_add_response_header(r, "WWW-Authenticate",
                                "Basic realm=\"assay\", charset=\"UTF-8\"");
        MHD_add_response_header(r, "WWW-Authenticate",
                                "Bearer realm=\"assay\"");
    }
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result s_request(void *cls, struct MHD_Connection *c,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_len, void **state)
{
    (void)version;
    (void)upload;
    (void)state;
    assay_httpd *self = cls;
    static char not_allowed[] = "only GET and HEAD\n", none[] = "not found\n";
    /* A body is never wanted: answered at once, MHD drops the rest. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) &&
        strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        *upload_len = 0;
        return s_answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
                        sizeof not_allowed - 1, false, "text/plain");
    }
    if (self->auth) {
        static char who[] = "a token is needed: assayctl keys token NAME\n",
                    denied[] = "this token's role may not read\n";
        char buf[512];
        unsigned st = self->auth(
            self->auth_arg,
            assay_bearer_from_header(
                MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                            MHD_HTTP_HEADER_AUTHORIZATION),
                buf, sizeof buf));
        sodium_memzero(buf, sizeof buf);
        if (st == MHD_HTTP_UNAUTHORIZED)
            return s_answer(c, st, who, sizeof who - 1, false, "text/plain");
        if (st != MHD_HTTP_OK)
            return s_answer(c, MHD_HTTP_FORBIDDEN, denied, sizeof denied - 1,
                            false, "text/plain");
    }
    size_t len = 0;
    const char *type = "text/plain; charset=utf-8";
    char *body = self->fn(self->arg, url, &len, &type);
    if (!body)
        return s_answer(c, MHD_HTTP_NOT_FOUND, none, sizeof none - 1, false,
                        "text/plain");
    return s_answer(c, MHD_HTTP_OK, body, len, true, type);
}

static void s_readable(void *arg, int fd, short revents)
{
    (void)fd;
    (void)revents;
    MHD_run(((assay_httpd *)arg)->mhd);
}

/* Idle connections are timed out by MHD_run: once a second does. */
static void s_tick(void *arg) { MHD_run(((assay_httpd *)arg)->mhd); }

/* HOST:PORT into addr; false if it is not one. */
static bool s_address(const char *where, struct sockaddr_storage *addr,
                      socklen_t *len)
{
    const char *colon = strrchr(where, ':');
    if (!colon || colon == where || !colon[1])
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return false;
    char host[64];
    size_t hl = (size_t)(colon - where);
    if (hl >= sizeof host)
        return false;
    memcpy(host, where, hl);
    host[hl] = '\0';
    memset(addr, 0, sizeof *addr);
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return true;
    }
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons((uint16_t)port);
            *len = sizeof *v6;
            return true;
        }
    }
    return false;
}

int assay_httpd_new(assay_loop *loop, const char *where, const char *what,
                    assay_httpd_fn fn, void *arg, assay_httpd **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage addr;
    socklen_t alen = 0;
    if (!where || !s_address(where, &addr, &alen))
        return assay_errf(err, errlen, ASSAY_EINVAL,
                          "%s: '%.100s' is not HOST:PORT (a numeric IPv4 "
                          "address, [IPv6] or localhost, and a port)",
                          what, where ? where : "");
    /* Bound here, not by MHD: a port in use is then said as such. */
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, alen) < 0 ||
        listen(fd, 64) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return assay_errf(err, errlen,
                          e == EADDRINUSE ? ASSAY_EBUSY : ASSAY_EIO,
                          "%s: cannot listen on %s: %s", what, where,
                          strerror(e));
    }
    struct sockaddr_storage got;
    socklen_t glen = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &glen);
    assay_httpd *self = calloc(1, sizeof *self);
    if (!self) {
        close(fd);
        return assay_errf(err, errlen, ASSAY_ENOMEM, "%s: out of memory",
                          what);
    }
    self->fn = fn;
    self->arg = arg;
    self->port = ntohs(got.ss_family == AF_INET6
                           ? ((struct sockaddr_in6 *)&got)->sin6_port
                           : ((struct sockaddr_in *)&got)->sin_port);
    self->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, s_request, self, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)ASSAY_HTTPD_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ASSAY_HTTPD_IDLE_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        self->mhd ? MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_EPOLL_FD)
                  : NULL;
    self->epfd = info ? info->epoll_fd : -1;
    self->loop = loop;
    if (self->epfd < 0 ||
        assay_loop_add_fd(loop, self->epfd, POLLIN, s_readable, self) ||
        (self->timer = assay_loop_add_timer(loop, 1000, 1000, s_tick,
                                            self)) <= 0) {
        if (self->epfd >= 0)
            assay_loop_remove_fd(loop, self->epfd);
        if (self->mhd)
            MHD_stop_daemon(self->mhd);
        else
            close(fd);
        free(self);
        return assay_errf(err, errlen, ASSAY_EIO,
                          "%s: cannot serve HTTP on %s", what, where);
    }
    *out = self;
    return 0;
}

int assay_httpd_port(const assay_httpd *self) { return self->port; }

void assay_httpd_destroy(assay_httpd **self_p)
{
    if (!*self_p)
        return;
    assay_httpd *self = *self_p;
    assay_loop_remove_fd(self->loop, self->epfd);
    assay_loop_cancel_timer(self->loop, self->timer);
    MHD_stop_daemon(self->mhd);
    free(self);
    *self_p = NULL;
}
