/* tests/member/member_fixture.h - what the member's suites share: a real
 * in-process member (m1, member_id 1, consensus `none`, on fresh
 * 127.0.0.1 ports) that the test steps itself; runtimes that are real
 * DEALER links packing their messages with proto/rtmsg.h; JobSpecs
 * committed the way assay.submit commits them; and a member's bare struct
 * for suites that build one by hand. Every wait is bounded by WAIT_MS and
 * MAX_STEPS, and fails the test when it runs out. */
#ifndef ASSAY_TESTS_MEMBER_FIXTURE_H
#define ASSAY_TESTS_MEMBER_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "base/clock.h"
#include "member/internal.h"

#define WAIT_MS 10000
#define MAX_STEPS 200000

extern assay_conf conf;  /* the member's configuration */
extern assay_loop *loop; /* its loop; NULL for a member built by hand */
extern assay_leader *m;  /* the member under test */

/* Steps the member until cond holds, bounded in steps and time. */
#define UNTIL(cond, ...)                                                       \
    do {                                                                       \
        int64_t until_ = assay_now_ms() + WAIT_MS;                             \
        for (int n_ = 0; !(cond); n_++) {                                      \
            if (n_ >= MAX_STEPS || assay_now_ms() > until_)                    \
                cr_assert_fail(__VA_ARGS__);                                   \
            mf_step();                                                         \
        }                                                                      \
    } while (0)

/* ---- the member -------------------------------------------------------- */

/* conf's defaults for member 1, security none: these suites test the
 * member's logic; security has its own suites. */
void mf_conf_init(void);
/* Starts m (m1 on the `none` module, at feature_level; 0: all) on fresh
 * ports, trying others while one is taken, and waits until it leads. */
void mf_start(int64_t feature_level);
/* Criterion .init of a suite on a leading member: mf_start(0). */
void mf_setup(void);
/* Criterion .fini after mf_start: the runtimes' links, then the member,
 * its loop and conf. */
void mf_teardown(void);
/* One turn of the member: runtimes with beat_ms beat first; then a loop
 * turn, or for a hand-built member a drain of what it received. */
void mf_step(void);

/* m as a bare struct, no loop nor consensus: a state, fresh offers, no
 * schedules and a zmq link with nothing opened; the suite adds what it
 * tests. */
void mf_bare_new(void);
/* Frees what mf_bare_new made and whatever the suite added to it
 * (sessions, their index, batches, an armed catalogue). */
void mf_bare_free(void);

/* A zmq link as the member makes them (1 MiB messages), asserted. */
void mf_link_new(assay_link **link);
/* A new link with a client (DEALER) connection to conf.listen; returns
 * the connection's id. */
int mf_link_connect(assay_link **link);

/* The next message on link, stepping the member meanwhile: asserts its
 * protocol and verb; its body (NULL: none) goes to the caller, an MMI
 * text body into text (may be NULL). */
json_t *mf_link_next(assay_link *link, const char *proto, const char *verb,
                     char *text, size_t cap);
/* A control-plane request on link's connection `id`; steals body (NULL:
 * no body frame); returns the reply's body. */
json_t *mf_request(assay_link *link, int id, const char *service,
                   json_t *body);

/* ---- runtimes: DEALER links speaking the runtime protocol ------------- */

typedef struct {
    assay_link *link;
    int id;
    char name[64];
    int64_t limit, mem;       /* what its heartbeats say; mem -1: not said */
    int64_t total;            /* memory_total_mb it registers with; 0: none */
    int64_t executors;        /* executors it registers with; 0: none */
    int64_t cpus;             /* CPUs it registers with; 0: none */
    int64_t beat_ms, beat_at; /* heartbeats on its own (0: silent) */
} mf_rt;

/* A runtime `name` connected to the member (up to 4 a test), closed by
 * mf_teardown; it says nothing until told to. */
mf_rt *mf_rt_open(const char *name);
/* mf_rt_open, then mf_rt_register_ok; steals labels. */
mf_rt *mf_rt_up(const char *name, int64_t hb, json_t *labels);

/* A body being packed, for mf_rt_send_packed. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} mf_packed;

/* Starts p empty; returns the packer to pack its body with. */
msgpack_packer *mf_pk_init(mf_packed *p);
/* Sends p's bytes as the body of `verb`, then frees them. */
void mf_rt_send_packed(mf_rt *r, const char *verb, mf_packed *p);
/* Sends a body given as JSON (NULL: no body frame); steals it. */
void mf_rt_send_json(mf_rt *r, const char *verb, json_t *body);

/* typed@version offering actions echo and sleep, in assay_catalog_json's
 * shape. */
json_t *mf_catalog(const char *version);
/* Sends a registration; steals labels, cat and running (may be NULL). */
void mf_rt_register(mf_rt *r, int64_t hb, json_t *labels, json_t *cat,
                    json_t *running);
/* Registers r offering typed@1.0.0 and asserts m1 took it; steals
 * labels. */
void mf_rt_register_ok(mf_rt *r, int64_t hb, json_t *labels);
/* Sends a heartbeat with r's credit; steals running (may be NULL). */
void mf_rt_heartbeat(mf_rt *r, json_t *running);
/* Sends one result report; steals result. */
void mf_rt_result(mf_rt *r, const char *job, int64_t attempt,
                  json_t *result);

/* The next message to r, stepping the member meanwhile; pulses are
 * skipped unless `want` is one. Asserts its verb; returns its body (NULL:
 * none), which the caller frees. */
json_t *mf_rt_expect(mf_rt *r, const char *want);
/* A heartbeat round trip: whatever the member meant to send r before
 * arrives first, so getting the pulse first proves it sent nothing (for
 * a runtime that does not beat on its own meanwhile). */
void mf_rt_sync(mf_rt *r);
/* Gives r the credit `limit` in a heartbeat round trip (mf_rt_sync). */
void mf_rt_credit(mf_rt *r, int64_t limit);
/* The member's session of runtime `id`, or NULL. */
s_rt *mf_session(const char *id);

/* ---- jobs -------------------------------------------------------------- */

/* How a JobSpec differs from a plain typed.echo@1.0.0 one. */
typedef struct {
    const char *action;   /* NULL: "typed.echo" */
    const char *resolved; /* NULL: "1.0.0" */
    json_t *selector;     /* stolen; NULL: {} */
    json_t *params;       /* stolen; every job's; NULL: {} */
    int64_t priority, memory_mb, cpu_milli;
    bool pack;
    int64_t timeout_ms; /* 0: 30000 */
} mf_spec;

/* Commits JobSpec `id` of n jobs (id-0 ...) as assay.submit would once it
 * resolved and checked it, and waits until it is queued. */
void mf_submit_spec(const char *id, int n, mf_spec o);
/* mf_submit_spec of a plain typed.echo@1.0.0 JobSpec with that timeout. */
void mf_submit(const char *id, int n, int64_t timeout_ms);

/* An "ok" result whose data says answer (and retryable false). */
json_t *mf_ok_result(const char *answer);
/* Takes the next "ack" to r and checks it is the one ack of
 * job/attempt, stale or not. */
void mf_expect_ack(mf_rt *r, const char *job, int64_t attempt, bool stale);

#endif
