/*
 * The monotonic clock of the benchmark programs (sign.c, micro.c), in
 * seconds as a double.
 */
#ifndef TOKEND_BENCH_CLOCK_H
#define TOKEND_BENCH_CLOCK_H

#include <time.h>

static inline double
bench_clock_seconds(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

#endif
