/* tests/integration/test_errors.c - error messages of the programs, run as
 * a user runs them: each names the option or input at fault and its
 * value, and says what to do. A member is started for real (cluster.h)
 * so that its ports are really taken. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster.h"
#include "harness.h"

/* ---- Fixture ---------------------------------------------------------- */

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(errors, .fini = teardown, .timeout = 120);

/* ---- Helpers ---------------------------------------------------------- */

/* Runs a second member with `listen` and `events`; returns its exit code
 * and its output (caller frees). It must stop by itself: timeout only
 * bounds a daemon that wrongly came up. */
static int second_member(const char *listen, const char *events, char **out)
{
    return harness_sh(out,
                      "timeout -k 2 20 %sassayd --node-id m2 --executors 0 "
                      "--listen %s --events %s 2>&1",
                      HARNESS_BIN, listen, events);
}

/* ---- Tests ------------------------------------------------------------ */

Test(errors, taken_listen_port_names_the_option_and_the_fix)
{
    cluster_start(&c, NULL);
    char events[64], want[512];
    snprintf(events, sizeof events, "tcp://127.0.0.1:%d", harness_port());
    char *out;
    int code = second_member(c.endpoint, events, &out);
    cr_expect_eq(code, 69, "exit %d (want 69, EX_UNAVAILABLE):\n%s", code,
                 out);
    snprintf(want, sizeof want,
             "error: listen %s: address already in use; another assayd may "
             "be running — stop it or choose another port with --listen",
             c.endpoint);
    cr_expect(strstr(out, want), "no '%s' in:\n%s", want, out);
    cr_expect(!strstr(out, "resource busy"), "%s", out);
    free(out);
}

Test(errors, taken_events_port_names_the_option_and_the_fix)
{
    cluster_start(&c, NULL);
    char listen[64], want[512];
    snprintf(listen, sizeof listen, "tcp://127.0.0.1:%d", harness_port());
    char *out;
    int code = second_member(listen, c.events, &out);
    cr_expect_eq(code, 69, "exit %d (want 69):\n%s", code, out);
    snprintf(want, sizeof want,
             "error: events %s: address already in use; another assayd may "
             "be running — stop it or choose another port with --events",
             c.events);
    cr_expect(strstr(out, want), "no '%s' in:\n%s", want, out);
    free(out);
}

Test(errors, unusable_listen_endpoint_names_the_option)
{
    char events[64];
    snprintf(events, sizeof events, "tcp://127.0.0.1:%d", harness_port());
    char *out;
    int code = second_member("tcp://127.0.0.1:port", events, &out);
    cr_expect_eq(code, 69, "exit %d (want 69):\n%s", code, out);
    cr_expect(strstr(out, "error: listen tcp://127.0.0.1:port: "), "%s", out);
    free(out);
}

Test(errors, taken_raft_port_says_so)
{
    /* The port is held by this test, listening, as another member would. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              listen(fd, 1) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    char *dir = harness_tmpdir(), *out, want[256];
    int port = ntohs(a.sin_port);
    int code = harness_sh(
        &out,
        "timeout -k 2 20 %sassayd --node-id m1 --executors 0 --listen "
        "tcp://127.0.0.1:%d --events tcp://127.0.0.1:%d --set consensus=raft "
        "--set member_id=1 --set members=1@127.0.0.1:%d --set data_dir=%s/m1 "
        "2>&1",
        HARNESS_BIN, harness_port(), harness_port(), port, dir);
    close(fd);
    cr_expect_eq(code, 69, "exit %d (want 69):\n%s", code, out);
    snprintf(want, sizeof want,
             "raft_start on 127.0.0.1:%d: address already in use; another "
             "member may be running: stop it or change raft_address",
             port);
    cr_expect(strstr(out, want), "no '%s' in:\n%s", want, out);
    free(out);
    free(dir);
}
