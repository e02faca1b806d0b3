/* sleep - the `sleep.sleep` action: waits a given number of milliseconds,
 * then passes. Used to exercise job deadlines and executor concurrency. */
#include <assay.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

static int sleep_sleep(assay_ctx *ctx, int64_t ms)
{
    if (ms < 0) {
        assay_message(ctx, "ms must not be negative (got %" PRId64 ")", ms);
        return ASSAY_ERROR;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct timespec left = {.tv_sec = ms / 1000,
                            .tv_nsec = (long)(ms % 1000) * 1000000L};
    /* nanosleep stores the unslept time in `left`, so a signal only
     * shortens one round, never the total. */
    while (nanosleep(&left, &left) != 0) {
        if (errno != EINTR) {
            assay_message(ctx, "nanosleep: %s", strerror(errno));
            return ASSAY_ERROR;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    int64_t slept = (int64_t)(end.tv_sec - start.tv_sec) * 1000 +
                    (end.tv_nsec - start.tv_nsec) / 1000000;
    assay_message(ctx, "slept %" PRId64 " ms", ms);
    int f = assay_finding(ctx, ASSAY_SATISFIED, "slept", "sleep");
    assay_evidence(ctx, f, "actual", "%" PRId64, slept);
    assay_evidence(ctx, f, "expected", "%" PRId64, ms);
    return ASSAY_PASS;
}

static const assay_action actions[] = {
    ASSAY_ACTION(sleep_sleep, "sleep", "sleeps ms milliseconds, then passes",
                 ASSAY_ARG(int64_t, "ms", ASSAY_PARAM_REQUIRED, NULL,
                           "milliseconds to sleep")),
    {0},
};

static const assay_module desc = {
    ASSAY_MODULE_HEADER,
    .kind = ASSAY_KIND_ACTION,
    .name = "sleep",
    .version = "1.0.0",
    .license = "Apache-2.0",
    .description = "sleeps for a while, then passes",
    .actions = actions,
};

ASSAY_MODULE_DEFINE(desc)
