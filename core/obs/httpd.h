/* core/obs/httpd.h - a small read-only HTTP server on the daemon's own
 * loop (libmicrohttpd without a thread of its own: its epoll descriptor
 * is a loop source, MHD_run is called when it is readable or its timeout
 * is due). It answers GET and HEAD with what `fn` gives for the path,
 * 404 when it gives nothing, 405 to any other method; connections are
 * bounded in number, memory and idle time, so a slow or hostile client
 * costs a bounded share and never the data path
 * (docs/operations.md#metrics). */
#ifndef ASSAY_CORE_OBS_HTTPD_H
#define ASSAY_CORE_OBS_HTTPD_H

#include <stddef.h>

#include "base/loop.h"

/* Connections at once, and seconds one may stay idle. */
#define ASSAY_HTTPD_CONNECTIONS 64
#define ASSAY_HTTPD_IDLE_S 10

typedef struct assay_httpd assay_httpd;

/* The body for `path` (malloc'd; the server frees it) with its length and
 * content type, or NULL: 404. */
typedef char *(*assay_httpd_fn)(void *arg, const char *path, size_t *len,
                                const char **type);

/* Serves on `where` ("HOST:PORT": a numeric IPv4 address, [IPv6] or
 * localhost): 0, or an error naming `what` (the setting it came from) in
 * err: ASSAY_EINVAL for an address that is not one, ASSAY_EBUSY for a
 * port in use, ASSAY_EIO for another failure to listen. */
int assay_httpd_new(assay_loop *loop, const char *where, const char *what,
                    assay_httpd_fn fn, void *arg, assay_httpd **out,
                    char *err, size_t errlen);
/* Who may ask: given the bearer token a request presents (NULL: none;
 * `Authorization: Bearer TOKEN`, or Basic with the token as password,
 * which a browser asks for), the HTTP status to answer: 200 to serve
 * it, 401 (the server then asks for credentials) or 403. Without one,
 * anyone who reaches the port is served. */
typedef unsigned (*assay_httpd_auth_fn)(void *arg, const char *token);
void assay_httpd_set_auth(assay_httpd *self, assay_httpd_auth_fn fn,
                          void *arg);

/* The port it listens on (the one given, or the one picked for :0). */
int assay_httpd_port(const assay_httpd *self);
void assay_httpd_destroy(assay_httpd **self_p);

#endif
