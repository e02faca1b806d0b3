/* tests/fuzz/fuzz_bearer.c - an HTTP Authorization header value, as any
 * client may send to metrics_listen, through assay_bearer_from_header and
 * the token check against a directory holding one real token file: what
 * comes out fits its buffer and is a C string, and only that token (or
 * none) is let in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <assay/error.h>

#include "fuzz.h"
#include "obs/bearer.h"

static char dir[64], real[ASSAY_BEARER_LEN + 1];
static assay_bearers *set;

static void s_cleanup(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/fuzz.token", dir);
    unlink(path);
    rmdir(dir);
    assay_bearers_destroy(&set);
}

/* One token, made once, in a directory removed at exit. */
static void s_dir(void)
{
    char err[ASSAY_ERRMSG_SIZE];
    if (dir[0])
        return;
    snprintf(dir, sizeof dir, "/tmp/fuzz-bearer-XXXXXX");
    if (!mkdtemp(dir) || assay_bearer_make(dir, "fuzz", "read", real,
                                           sizeof real, err, sizeof err) ||
        !(set = assay_bearers_new(dir)))
        abort();
    atexit(s_cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char header[1025], buf[512], name[128], role[64];
    size_t n = size < 1024 ? size : 1024;
    s_dir();
    memcpy(header, data, n);
    header[n] = '\0';
    const char *t = assay_bearer_from_header(header, buf, sizeof buf);
    if (!t)
        return 0;
    if (t < buf || t >= buf + sizeof buf || strlen(t) >= sizeof buf)
        abort();
    int rc = assay_bearers_check(set, t, name, role);
    if (rc == 0 && (strcmp(t, real) || strcmp(name, "fuzz") ||
                    strcmp(role, "read")))
        abort();
    if (rc != 0 && rc != ASSAY_EPERM)
        abort();
    return 0;
}
