/* sysctl - an out-of-tree Assay action plugin: the complete example of
 * docs/plugin-guide.md. Checks a kernel parameter under /proc/sys.
 *
 * Build against an installed Assay:
 *   cc $(pkg-config --cflags assay-plugin) -o sysctl.so sysctl.c \
 *      $(pkg-config --libs assay-plugin)
 */
#include <assay.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* "net.ipv4.ip_forward" -> "/proc/sys/net/ipv4/ip_forward" */
static int key_path(const char *key, char *buf, size_t len)
{
    if (strstr(key, "..") || key[0] == '.' || key[0] == '/')
        return -1;
    int n = snprintf(buf, len, "/proc/sys/%s", key);
    if (n < 0 || (size_t)n >= len)
        return -1;
    for (char *p = buf + strlen("/proc/sys/"); *p; p++)
        if (*p == '.')
            *p = '/';
    return 0;
}

/* The action: a plain C function. The host type-checks the JobSpec's
 * params against the declaration below and passes them as C arguments. */
static int sysctl_equals(assay_ctx *ctx, const char *key, const char *expected)
{
    char path[512], actual[256] = "";
    if (key_path(key, path, sizeof path) != 0) {
        assay_message(ctx, "invalid sysctl key '%s'", key);
        return ASSAY_ERROR;
    }
    /* Shown by `assayctl run --local -v` as "sysctl.equals: reading ..." */
    assay_log(ASSAY_LOG_DEBUG, "reading %s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        assay_message(ctx, "cannot read %s: %s", path, strerror(errno));
        return ASSAY_ERROR;
    }
    if (!fgets(actual, sizeof actual, f))
        actual[0] = '\0';
    fclose(f);
    actual[strcspn(actual, "\n")] = '\0';

    int ok = strcmp(actual, expected) == 0;
    int f_idx = assay_finding(ctx, ok ? ASSAY_SATISFIED : ASSAY_NOT_SATISFIED,
                              "kernel parameter", key);
    assay_evidence(ctx, f_idx, "actual", "%s", actual);
    assay_evidence(ctx, f_idx, "expected", "%s", expected);
    assay_message(ctx, "%s = %s (expected %s)", key, actual, expected);
    return ok ? ASSAY_PASS : ASSAY_FAIL;
}

/* Each param by the C type the function takes, in the function's order:
 * the compiler refuses a declaration that does not match the function. */
static const assay_action actions[] = {
    ASSAY_ACTION(sysctl_equals, "equals",
                 "passes if the kernel parameter has the expected value",
                 ASSAY_ARG(const char *, "key", ASSAY_PARAM_REQUIRED, NULL,
                           "dotted sysctl name, e.g. net.ipv4.ip_forward"),
                 ASSAY_ARG(const char *, "expected", ASSAY_PARAM_REQUIRED,
                           NULL, "required value")),
    {0},
};

static const assay_module desc = {
    ASSAY_MODULE_HEADER,
    .kind = ASSAY_KIND_ACTION,
    .name = "sysctl",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "kernel parameter checks",
    .actions = actions,
};

ASSAY_MODULE_DEFINE(desc)
