/* core/base/clock.h - monotonic time, the only clock deadlines are measured
 * on; and wall time, for what the replicated state records (when an
 * attempt started and ended, retention by age), which every member and
 * every later leader must read alike. */
#ifndef ASSAY_CORE_CLOCK_H
#define ASSAY_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t assay_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t assay_now_ms(void) { return assay_now_us() / 1000; }

/* Milliseconds since the Unix epoch. */
static inline int64_t assay_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
