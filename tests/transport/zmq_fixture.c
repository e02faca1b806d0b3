/* tests/transport/zmq_fixture.c - see zmq_fixture.h. */
#include "zmq_fixture.h"

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <assay/error.h>

#include "harness.h"
#include "plugin/hostapi.h"
#include "plugin/loader.h"

static void *dl;
const assay_module *zmq_mod;
const assay_transport_ops *ops;
/* The core's host table with log() captured: link() reports its reasons
 * (naming the endpoint) there. */
static assay_host_api host;
char zmq_logged[8192];

static void capture_log(int level, const char *fmt, ...) ASSAY_PRINTF(2, 3);
static void capture_log(int level, const char *fmt, ...)
{
    size_t used = strlen(zmq_logged);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(zmq_logged + used, sizeof zmq_logged - used, fmt, ap);
    va_end(ap);
    used = strlen(zmq_logged);
    if (used + 1 < sizeof zmq_logged)
        strcpy(zmq_logged + used, "\n");
}

void zmq_setup(void)
{
    char err[ASSAY_ERRMSG_SIZE];
    cr_assert_eq(assay_module_open(ZMQ_MODULE_PATH, ASSAY_KIND_TRANSPORT, &dl,
                                   &zmq_mod, err, sizeof err),
                 0, "%s", err);
    host = *assay_host_table();
    host.log = capture_log;
    assay_module_entry_fn entry;
    *(void **)&entry = dlsym(dl, ASSAY_MODULE_ENTRY);
    cr_assert_eq(entry(&host), zmq_mod);
    ops = zmq_mod->transport;
}

void zmq_teardown(void)
{
    if (dl)
        dlclose(dl);
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "tcp://127.0.0.1:<port>" with a port the kernel just had free. */
void free_endpoint(char *buf, size_t size)
{
    snprintf(buf, size, "tcp://127.0.0.1:%d", harness_port());
}

assay_transport *open_t(const char *identity, size_t max_message)
{
    assay_transport_config cfg = {.struct_size = sizeof cfg,
                                  .identity = identity,
                                  .max_message = max_message};
    assay_transport *t = NULL;
    char err[ASSAY_ERRMSG_SIZE] = "";
    cr_assert_eq(ops->open(&cfg, &t, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(t);
    return t;
}

int link_ok(assay_transport *t, int kind, const char *endpoint)
{
    int id = ops->link(t, kind, endpoint);
    cr_assert_geq(id, 0, "link %s: %d\n%s", endpoint, id, zmq_logged);
    return id;
}

bool frame_is(const assay_bytes *f, const char *s)
{
    return f->len == strlen(s) && memcmp(f->data, s, f->len) == 0;
}

/* Sends the NULL-ended list of strings as one message. */
int send_strs(assay_transport *t, int link, const char *const *strs)
{
    assay_bytes frames[32];
    size_t n = 0;
    while (strs[n]) {
        frames[n] = BYTES(strs[n]);
        n++;
    }
    return ops->send(t, link, &(assay_frames){frames, n});
}

/* Waits for one readiness of fd(); false when `until` passed first. */
bool wait_fd(assay_transport *t, int64_t until)
{
    int64_t left = until - now_ms();
    if (left <= 0)
        return false;
    struct pollfd p = {.fd = ops->fd(t), .events = POLLIN};
    int rc = poll(&p, 1, (int)left);
    cr_assert_geq(rc, 0, "poll: %s", strerror(errno));
    return rc == 1;
}

/* The next message, the way the core gets it: recv until EBUSY, then
 * poll. Fails the test after WAIT_MS without one. */
void next_msg(assay_transport *t, int *link, assay_frames *msg)
{
    int64_t until = now_ms() + WAIT_MS;
    for (;;) {
        int rc = ops->recv(t, link, msg);
        if (rc == 0)
            return;
        cr_assert_eq(rc, ASSAY_EBUSY, "recv: %d\n%s", rc, zmq_logged);
        cr_assert(wait_fd(t, until), "no message within %d ms", WAIT_MS);
    }
}

/* Nothing is left, and fd() stops signalling once recv() has said so: a
 * spurious wakeup is allowed, one that never ends would spin the loop. */
void assert_settles(assay_transport *t)
{
    int link;
    assay_frames msg;
    for (int i = 0; i < 100; i++) {
        struct pollfd p = {.fd = ops->fd(t), .events = POLLIN};
        if (poll(&p, 1, 0) == 0)
            return;
        cr_assert_eq(ops->recv(t, &link, &msg), ASSAY_EBUSY);
    }
    cr_assert_fail("fd() stays readable with nothing to receive");
}

