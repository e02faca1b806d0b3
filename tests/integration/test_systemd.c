/* tests/integration/test_systemd.c - assayd under a service manager: it
 * says READY=1 once it serves, STATUS= with its role, feeds the watchdog
 * from its loop when WATCHDOG_USEC asks, and says STOPPING=1 when told
 * to stop - read from a notification socket of the test's own, as
 * systemd would (sd_notify(3)); and the shipped units pass
 * `systemd-analyze verify`.
 *
 * Every wait is bounded; every process is stopped (cluster_stop). */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "cluster.h"
#include "harness.h"

#define WAIT_MS 15000

static cluster c;

static void teardown(void) { cluster_stop(&c); }

TestSuite(systemd, .fini = teardown, .timeout = 120);

/* What came on fd until `want` did (or WAIT_MS), appended to seen. */
static bool s_until(int fd, const char *want, char *seen, size_t cap)
{
    int64_t until = assay_now_ms() + WAIT_MS;
    while (!strstr(seen, want)) {
        int64_t left = until - assay_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return false;
        char msg[512];
        ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
        if (n <= 0)
            continue;
        msg[n] = '\0';
        size_t l = strlen(seen);
        snprintf(seen + l, cap - l, "%s\n", msg);
    }
    return true;
}

Test(systemd, ready_status_watchdog_and_stopping)
{
    char *dir = harness_tmpdir();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", dir);
    cr_assert_lt(n, (int)sizeof sa.sun_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    memset(&c, 0, sizeof c);
    snprintf(c.dir, sizeof c.dir, "%s", dir);
    cluster_node *m = cluster_bg(
        &c, "m1",
        "env NOTIFY_SOCKET=%s WATCHDOG_USEC=300000 %sassayd --node-id m1 "
        "--executors 0 --listen tcp://127.0.0.1:%d --events "
        "tcp://127.0.0.1:%d",
        sa.sun_path, HARNESS_BIN, harness_port(), harness_port());
    static char seen[1 << 16];
    seen[0] = '\0';
    /* Nothing at all means the daemon did not start: its log says why. */
    bool ready = s_until(fd, "READY=1", seen, sizeof seen);
    if (!ready)
        cluster_print_logs(&c, 40);
    cr_assert(ready, "no READY=1; got: %s", seen);
    cr_expect(s_until(fd, "member m1 leads", seen, sizeof seen), "%s",
              seen);
    /* Fed from the loop, every 150 ms: a few within seconds. */
    for (int k = 0; k < 3; k++) {
        char *w = strstr(seen, "WATCHDOG=1");
        if (w)
            memmove(w, "watchdog-1", 10);
        cr_expect(s_until(fd, "WATCHDOG=1", seen, sizeof seen),
                  "watchdog %d: %s", k, seen);
    }
    cr_assert_eq(kill(m->pid, SIGTERM), 0);
    cr_expect(s_until(fd, "STOPPING=1", seen, sizeof seen), "%s", seen);
    close(fd);
    free(dir);
}

/* The units the build fills in are valid (verify wants the program to
 * be there: this build's, in place of the installed path). */
Test(systemd, the_units_verify)
{
    char *out, *dir = harness_tmpdir();
    int rc = harness_sh(&out,
                        "for u in assayd.service assayd@.service; do sed "
                        "'s#^ExecStart=[^ ]*/assayd #ExecStart=%sassayd #' "
                        "%s/systemd/$u >%s/$u || exit 1; done && cd %s && mv "
                        "assayd@.service assayd@member.service && "
                        "systemd-analyze verify --man=no assayd.service "
                        "assayd@member.service 2>&1",
                        HARNESS_BIN, HARNESS_BUILD_DIR, dir, dir);
    cr_expect_eq(rc, 0, "%s", out);
    free(out);
    free(dir);
}

/* Under systemd stderr is the journal's stream ($JOURNAL_STREAM): lines
 * go to the journal as entries; when the journal does not take them (no
 * journald here) they are written to stderr after all, not lost. */
Test(systemd, a_line_the_journal_does_not_take_goes_to_stderr)
{
    if (access("/run/systemd/journal/socket", F_OK) == 0)
        cr_skip_test("a journald runs here: lines go to it");
    char *out, *dir = harness_tmpdir();
    cr_assert_eq(harness_sh(&out,
                        "exec 2>%s/err; JOURNAL_STREAM=$(stat -c %%d:%%i "
                        "%s/err) %sassayd --executors 0 --listen "
                        "tcp://127.0.0.1:%d --events tcp://127.0.0.1:%d "
                        "--set metrics_listen=nonsense; echo $?",
                        dir, dir, HARNESS_BIN, harness_port(),
                        harness_port()),
                 0);
    cr_expect_eq(atoi(out), 69, "%s", out);
    free(out);
    cr_assert_eq(harness_sh(&out, "cat %s/err", dir), 0);
    cr_expect(strstr(out, "error: metrics_listen: 'nonsense'"), "%s", out);
    free(out);
    free(dir);
}

/* The entry (blank-line separated fields, as journal_sink.py writes
 * them) holding `needle`, copied with a newline before its first field;
 * NULL if none. */
static char *s_entry(const char *all, const char *needle)
{
    const char *at = strstr(all, needle);
    if (!at)
        return NULL;
    const char *start = at;
    while (start > all && !(start[-1] == '\n' && start - 1 > all &&
                            start[-2] == '\n'))
        start--;
    const char *end = strstr(at, "\n\n");
    size_t n = end ? (size_t)(end - start) + 1 : strlen(start);
    char *e = malloc(n + 2);
    e[0] = '\n';
    memcpy(e + 1, start, n);
    e[n + 1] = '\0';
    return e;
}

/* Under systemd, a line about a runtime or a job carries its id as a
 * field of its own (ASSAY_RUNTIME, ASSAY_JOB), as well as PRIORITY and
 * SYSLOG_IDENTIFIER. No journald runs here: in a mount namespace of its
 * own, with a tmpfs over /run, a socket of the test's stands in for the
 * journal's (tests/integration/journal_sink.py). Needs root. */
Test(systemd, journal_entries_carry_runtime_and_job_ids)
{
    if (geteuid() != 0)
        cr_skip_test("needs root for a mount namespace");
    char *out, *dir = harness_tmpdir();
    char *spec = harness_write(
        dir, "t.json",
        "{\"id\": \"jt\", \"action\": \"sleep.sleep\", \"params\": {\"ms\": "
        "60000}, \"timeout_ms\": 300, \"max_attempts\": 1}");
    int port = harness_port(), ev = harness_port();
    int rc = harness_sh(
        &out,
        "unshare -m sh -c 'mount -t tmpfs tmpfs /run && "
        "mkdir -p /run/systemd/journal && "
        "{ /usr/bin/python3 %s/tests/integration/journal_sink.py "
        "/run/systemd/journal/socket %s/entries & s=$!; } && "
        "i=0; while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 200 ]; "
        "do sleep 0.05; i=$((i+1)); done; : >%s/err; "
        "JOURNAL_STREAM=$(stat -c %%d:%%i %s/err) %sassayd --node-id m1 "
        "--executors 1 --plugins-dir %s " CLUSTER_NODE_FLAGS " --listen "
        "tcp://127.0.0.1:%d --events tcp://127.0.0.1:%d 2>>%s/err & d=$!; "
        "%sassayctl --endpoint tcp://127.0.0.1:%d --wait-ms 15000 submit "
        "%s --wait >/dev/null 2>&1; kill $d; wait $d; kill $s; wait $s; "
        "true' 2>&1",
        ASSAY_SOURCE_DIR, dir, dir, dir, HARNESS_BIN, HARNESS_PLUGINS, port,
        ev, dir, HARNESS_BIN, port, spec);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert_eq(harness_sh(&out, "cat %s/entries", dir), 0);
    /* Entries are blank-line separated: the fields are checked within
     * the entry of the line they belong to. */
    char *reg = s_entry(out, "MESSAGE=runtime m1 registered");
    cr_expect(reg && strstr(reg, "\nASSAY_RUNTIME=m1\n") &&
                  strstr(reg, "\nSYSLOG_IDENTIFIER=assayd\n") &&
                  strstr(reg, "\nPRIORITY=6\n") && !strstr(reg, "ASSAY_JOB"),
              "%s", out);
    char *ex = s_entry(out, "MESSAGE=executor ");
    cr_expect(ex && strstr(ex, "ended running jt-0#1: timeout") &&
                  strstr(ex, "\nASSAY_JOB=jt-0\n") &&
                  strstr(ex, "\nPRIORITY=4\n"),
              "%s", out);
    free(reg);
    free(ex);
    free(out);
    cr_assert_eq(harness_sh(&out, "cat %s/err", dir), 0);
    cr_expect(!strstr(out, "registered"),
              "a line the journal took went to stderr too: %s", out);
    free(out);
    free(spec);
    free(dir);
}
