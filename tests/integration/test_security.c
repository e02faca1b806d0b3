/* tests/integration/test_security.c - security on real processes
 * (docs/security.md): assayctl keys, a member that will not start on a
 * reachable address without keys, security = none said loudly, and
 * refusals of whoever lacks an allowed key - another local user, an
 * unknown key. Every wait is bounded; every daemon is stopped. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "harness.h"

#define CTL HARNESS_BIN "assayctl"
#define D HARNESS_BIN "assayd"

static cluster c;
static char *dir;

static void setup(void) { dir = harness_tmpdir(); }

static void teardown(void)
{
    cluster_stop(&c);
    free(dir);
}

TestSuite(security, .init = setup, .fini = teardown, .timeout = 120);

/* Runs cmd; expects exit code `code` and `needle` in the output. */
static void expect(int code, const char *needle, const char *cmd)
{
    char *out;
    int rc = harness_sh(&out, "%s", cmd);
    cr_expect_eq(rc, code, "`%s` exited %d, want %d:\n%s", cmd, rc, code,
                 out);
    cr_expect(strstr(out, needle), "`%s` output lacks '%s':\n%s", cmd, needle,
              out);
    free(out);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    return st.st_mode & 0777;
}

Test(security, keys_are_made_listed_allowed_and_revoked)
{
    char cmd[8192], path[4300], other[4200];
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys init", dir);
    expect(0, "made", cmd);
    expect(0, "kept", cmd); /* a second init changes nothing */
    snprintf(path, sizeof path, "%s/k/operator.key_secret", dir);
    cr_expect_eq(mode_of(path), 0600);
    snprintf(path, sizeof path, "%s/k", dir);
    cr_expect_eq(mode_of(path), 0700);

    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys new runtime-rt7 "
                              "runtime rt7", dir);
    expect(0, "role runtime", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys new x superuser",
             dir);
    expect(64, "ROLE: submit, read", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys list", dir);
    expect(0, "runtime-rt7", cmd);
    expect(0, "operator", cmd);

    /* A key made elsewhere is allowed by its public half only. */
    snprintf(other, sizeof other, "%s/other", dir);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s keys new alice submit",
             other);
    expect(0, "made", cmd);
    snprintf(cmd, sizeof cmd,
             CTL " --keys-dir %s/k keys allow %s/alice.key_secret", dir,
             other);
    expect(64, "never NAME.key_secret", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys allow %s/alice.key",
             dir, other);
    expect(0, "allowed", cmd);
    expect(65, "already allowed", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys list", dir);
    expect(0, "alice", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys revoke alice", dir);
    expect(0, "revoked", cmd);
    expect(65, "No such file", cmd);
    snprintf(cmd, sizeof cmd, CTL " --keys-dir %s/k keys revoke ../x", dir);
    expect(65, "not a key name", cmd);
}

/* Listening on every address with no keys: nothing is made, nothing is
 * bound, and the error says how to make them. */
Test(security, a_reachable_member_without_keys_refuses_to_start)
{
    char cmd[8192];
    int p1 = harness_port(), p2 = harness_port();
    snprintf(cmd, sizeof cmd,
             "timeout 20 " D " --listen tcp://0.0.0.0:%d --events "
             "tcp://0.0.0.0:%d --node-id m1 --set keys_dir=%s/none "
             "--executors 0",
             p1, p2, dir);
    expect(69, "assayctl keys init", cmd);
    char path[4300];
    snprintf(path, sizeof path, "%s/none/cluster.key_secret", dir);
    cr_expect_neq(access(path, F_OK), 0, "a key was made for a reachable "
                                         "member");
}

Test(security, security_none_is_said_loudly)
{
    cluster_start(&c, "--set security=none");
    cr_expect(cluster_log_has(&c.nodes[0], "security = none", 5000));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, CTL " --security none --endpoint %s cluster",
             c.endpoint);
    expect(0, "security: NONE", cmd);
    /* A client expecting CURVE gets no answer from it. */
    snprintf(cmd, sizeof cmd, CTL " --timeout-ms 1000 --endpoint %s cluster",
             c.endpoint);
    expect(69, "no answer", cmd);
}

Test(security, a_secure_member_says_so_and_lets_in_its_operator)
{
    cluster_start(&c, NULL);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, CTL " --endpoint %s cluster", c.endpoint);
    expect(0, "security: curve", cmd);
    /* Without CURVE, or with a key it does not know: nothing. */
    snprintf(cmd, sizeof cmd,
             CTL " --security none --timeout-ms 1000 --endpoint %s cluster",
             c.endpoint);
    expect(69, "no answer", cmd);
    snprintf(cmd, sizeof cmd,
             "cp %s/cluster.key %s/ && " CTL " --keys-dir %s keys new "
             "mallory admin >/dev/null && " CTL " --keys-dir %s --key mallory "
             "--timeout-ms 1000 --endpoint %s cluster",
             getenv("ASSAY_KEYS_DIR"), dir, dir, dir, c.endpoint);
    expect(69, "no answer", cmd);
    cr_expect(cluster_log_has(&c.nodes[0], "no such key", 5000),
              "the refusal was not logged");
}

/* Another local user (nobody) cannot read the operator's keys, so has
 * nothing to present; and plain TCP gets it nowhere. Needs root to act as
 * another user. */
Test(security, another_local_user_gets_nothing)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to run a command as nobody");
    char *out;
    if (harness_sh(&out, "command -v runuser") != 0) {
        free(out);
        cr_skip_test("no runuser");
    }
    free(out);
    cluster_start(&c, NULL);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "runuser -u nobody -- " CTL " --timeout-ms 1000 --endpoint %s "
             "jobs",
             c.endpoint);
    expect(69, "operator.key_secret", cmd);
    snprintf(cmd, sizeof cmd,
             "runuser -u nobody -- " CTL " --security none --timeout-ms 1000 "
             "--endpoint %s jobs",
             c.endpoint);
    expect(69, "no answer", cmd);
}
