/* tests/transport/zmq_fixture.h - what the ZeroMQ transport's suites
 * share: the module loaded the way the daemon loads it (host log captured
 * in zmq_logged), and helpers that wait the way the core does, each wait a
 * poll() on the module's fd bounded by WAIT_MS. */
#ifndef ASSAY_TESTS_ZMQ_FIXTURE_H
#define ASSAY_TESTS_ZMQ_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <assay.h>

#define WAIT_MS 10000

extern const assay_module *zmq_mod;
extern const assay_transport_ops *ops;
/* What the module logged (link() and ZAP refusals name their reasons). */
extern char zmq_logged[8192];

/* Criterion .init/.fini of every suite. */
void zmq_setup(void);
void zmq_teardown(void);

int64_t now_ms(void);
/* "tcp://127.0.0.1:<port>" with a port the kernel just had free. */
void free_endpoint(char *buf, size_t size);
assay_transport *open_t(const char *identity, size_t max_message);
int link_ok(assay_transport *t, int kind, const char *endpoint);

#define BYTES(s) ((assay_bytes){(const uint8_t *)(s), strlen(s)})

bool frame_is(const assay_bytes *f, const char *s);
/* Sends the NULL-ended list of strings as one message. */
int send_strs(assay_transport *t, int link, const char *const *strs);

#define SEND(t, link, ...)                                                     \
    send_strs((t), (link), (const char *const[]){__VA_ARGS__, NULL})

/* Waits for one readiness of fd(); false when `until` passed first. */
bool wait_fd(assay_transport *t, int64_t until);
/* The next message, the way the core gets it: recv until EBUSY, then
 * poll. Fails the test after WAIT_MS without one. */
void next_msg(assay_transport *t, int *link, assay_frames *msg);
/* Nothing is left, and fd() stops signalling once recv() has said so. */
void assert_settles(assay_transport *t);

#endif
