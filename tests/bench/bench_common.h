/*
 * What every benchmark here needs: the median they report (of per-batch
 * averages, robust to a stray slow batch), clocks in milliseconds, and a
 * way to give up that names the program. Define BENCH_NAME first.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#ifndef BENCH_NAME
#error "define BENCH_NAME, the program's name in its messages, before bench_common.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int bench_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place; the middle value. */
static inline double bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_compare_doubles);
    return v[n / 2];
}

static inline double bench_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Wall time for intervals: CLOCK_MONOTONIC, in ms. */
static inline double bench_now_ms(void)
{
    return bench_clock_ms(CLOCK_MONOTONIC);
}

/* The CPU this process has used, in ms. */
static inline double bench_cpu_ms(void)
{
    return bench_clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static inline void bench_die(const char *what)
{
    fprintf(stderr, "%s: %s\n", BENCH_NAME, what);
    exit(1);
}

#endif
