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

static const assay_param equals_params[] = {
    {.name = "key", .type = ASSAY_TYPE_STRING, .flags = ASSAY_PARAM_REQUIRED,
     .help = "dotted sysctl name, e.g. net.ipv4.ip_forward"},
    {.name = "expected", .type = ASSAY_TYPE_STRING,
     .flags = ASSAY_PARAM_REQUIRED, .help = "required value"},
    {0},
};

static const assay_action actions[] = {
    {.name = "equals",
     .help = "passes if the kernel parameter has the expected value",
     .params = equals_params,
     .fn = ASSAY_FN(sysctl_equals)},
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
