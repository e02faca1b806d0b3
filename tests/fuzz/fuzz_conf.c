/* tests/fuzz/fuzz_conf.c - arbitrary bytes as an assayd configuration file.
 *
 * assay_conf_load reads a path, so each input goes to a memfd opened
 * through /proc/self/fd: no files on disk, nothing left behind. A load that
 * fails must leave the configuration as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <assay/error.h>

#include "base/conf.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ASSAY_ERRMSG_SIZE], path[64];
    assay_conf c, before;
    int fd = memfd_create("assay-fuzz-conf", MFD_CLOEXEC);

    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (assay_conf_init(&c) != 0)
        abort();
    before = c;
    if (assay_conf_load(&c, path, err, sizeof err) != 0 &&
        memcmp(&c, &before, sizeof c) != 0)
        abort();
    assay_conf_fini(&c);
    close(fd);
    return 0;
}
