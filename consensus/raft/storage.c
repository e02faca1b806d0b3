/* consensus/raft/storage.c - checks of a member's data_dir that libraft
 * does not make itself. See storage.h. */
#define _GNU_SOURCE
#include "storage.h"

#include <assay.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define LZ4_MAGIC 0x184D2204u
#define LZ4_FLG_DICT_ID 0x01
#define LZ4_FLG_CONTENT_SUM 0x04
#define LZ4_FLG_CONTENT_SIZE 0x08
#define LZ4_FLG_BLOCK_SUM 0x10
#define LZ4_BLOCK_RAW 0x80000000u

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
    return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Walks an LZ4 frame's block headers (no decompression): 0 if the frame
 * ends, end mark and checksums included, within `size` bytes. */
static int lz4_frame_check(int fd, uint64_t size, const char *name,
                           char *why, size_t len)
{
    unsigned char h[4];
    uint64_t off = 4;
    unsigned char flg;

    if (!read_at(fd, h, 2, off))
        goto truncated;
    flg = h[0];
    if ((flg >> 6) != 1) {
        snprintf(why, len, "snapshot %s: LZ4 frame version %u is not 1",
                 name, flg >> 6);
        return ASSAY_ECORRUPT;
    }
    off += 2 + (flg & LZ4_FLG_CONTENT_SIZE ? 8 : 0) +
           (flg & LZ4_FLG_DICT_ID ? 4 : 0) + 1;
    for (;;) {
        uint32_t block;
        if (off + 4 > size || !read_at(fd, h, 4, off))
            goto truncated;
        off += 4;
        block = le32(h) & ~LZ4_BLOCK_RAW;
        if (block == 0)
            break;
        off += block + (flg & LZ4_FLG_BLOCK_SUM ? 4 : 0);
    }
    off += flg & LZ4_FLG_CONTENT_SUM ? 4 : 0;
    if (off > size)
        goto truncated;
    return 0;

truncated:
    snprintf(why, len,
             "snapshot %s is truncated: its LZ4 frame goes past the file's "
             "%" PRIu64 " bytes",
             name, size);
    return ASSAY_ECORRUPT;
}

/* Is `a` (term, index, timestamp) after `b`, as libraft orders them? */
static bool snap_after(const uint64_t a[3], const uint64_t b[3])
{
    for (int i = 0; i < 3; i++)
        if (a[i] != b[i])
            return a[i] > b[i];
    return false;
}

int storage_snapshot_check(const char *dir, uint64_t *size, char *why,
                           size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t best[3] = {0}, key[3];
    char name[NAME_MAX + 1] = "", path[PATH_MAX];
    unsigned char magic[4];
    struct stat st;
    int n, fd, rc = 0;

    *size = 0;
    if (!d)
        return 0; /* raft reports an unreadable data_dir itself */
    while ((e = readdir(d))) {
        /* The one raft loads: the latest whose metadata file is there. */
        if (sscanf(e->d_name, "snapshot-%" SCNu64 "-%" SCNu64 "-%" SCNu64 "%n",
                   &key[0], &key[1], &key[2], &n) != 3 ||
            strcmp(e->d_name + n, ".meta") != 0)
            continue;
        if (!*name || snap_after(key, best)) {
            memcpy(best, key, sizeof best);
            snprintf(name, sizeof name, "%.*s", n, e->d_name);
        }
    }
    closedir(d);
    if (!*name)
        return 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* a missing data file: raft ignores the metadata */
    if (fstat(fd, &st) == 0) {
        *size = (uint64_t)st.st_size;
        if (read_at(fd, magic, 4, 0) && le32(magic) == LZ4_MAGIC)
            rc = lz4_frame_check(fd, *size, name, why, len);
    }
    close(fd);
    return rc;
}

int storage_free(const char *dir, uint64_t *out)
{
    struct statvfs vfs;

    if (statvfs(dir, &vfs) != 0)
        return ASSAY_EIO;
    *out = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    return 0;
}

uint64_t storage_need(uint64_t segment, uint64_t snapshot)
{
    return 3 * segment + 2 * snapshot + ((uint64_t)1 << 20);
}
