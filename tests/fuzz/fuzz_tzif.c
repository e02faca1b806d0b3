/* tests/fuzz/fuzz_tzif.c - bytes through assay_tz_parse; a zone that
 * parses answers offset() and instants() across the whole int64 range:
 * offsets within +-167:59:59, at most two instants, each reading the local
 * time asked for, and a gap's instant a jump over it. */
#include <stdlib.h>
#include <string.h>

#include <assay/error.h>

#include "fuzz.h"
#include "sched/tz.h"

#define MAX_OFF (168 * 3600 - 1)

static void s_check(const assay_tz *tz, int64_t local)
{
    int64_t out[2] = {0, 0}, back;
    int n = assay_tz_instants(tz, local, out);

    if (n < 0 || n > 2 || (n == 2 && out[0] >= out[1]))
        abort();
    for (int i = 0; i < n; i++)
        if (__builtin_add_overflow(out[i], assay_tz_offset(tz, out[i]),
                                   &back) ||
            back != local)
            abort();
    /* a gap: the clock jumped from before `local` to after it at out[0]
     * (far beyond any calendar an instant may not exist at all) */
    if (n == 0 && local > -((int64_t)1 << 58) && local < (int64_t)1 << 58 &&
        !(out[0] + assay_tz_offset(tz, out[0] - 1) <= local &&
          local < out[0] + assay_tz_offset(tz, out[0])))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t at[] = {
        INT64_MIN,
        INT64_MIN / 2,
        -((int64_t)1 << 40),
        -2208988800,
        -1,
        0,
        1,
        1774746000,
        1792890000,
        4000000000,
        (int64_t)1 << 40,
        INT64_MAX / 2,
        INT64_MAX,
    };
    char err[ASSAY_ERRMSG_SIZE] = "";
    assay_tz *tz = NULL;

    if (assay_tz_parse("fuzz", data, size, &tz, err, sizeof err) != 0) {
        if (tz || !strstr(err, "time zone 'fuzz': "))
            abort();
        return 0;
    }
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        int32_t o = assay_tz_offset(tz, at[i]);
        if (o < -MAX_OFF || o > MAX_OFF)
            abort();
        /* wall-clock readings within two days of the one at at[i] */
        for (int64_t d = -2 * 86400; d <= 2 * 86400; d += 3 * 3600 + 900) {
            int64_t local;
            if (!__builtin_add_overflow(at[i], (int64_t)o + d, &local))
                s_check(tz, local);
        }
    }
    assay_tz_destroy(&tz);
    return 0;
}
