/* Code shared by the benchmarks: a cheap clock, a log-linear latency
 * histogram, medians and option parsing. Header-only, C11. */
#ifndef UMS_BENCH_COMMON_H
#define UMS_BENCH_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_HAVE_TSC 1
#endif

/* ---- clock ----
 * On x86 the time stamp counter (invariant on every machine we run on), fenced
 * so the timed load cannot move across the reads, calibrated once against
 * CLOCK_MONOTONIC. Elsewhere CLOCK_MONOTONIC in nanoseconds. */

static inline uint64_t bench_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t bench_ticks(void) {
#ifdef BENCH_HAVE_TSC
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#else
    return bench_mono_ns();
#endif
}

/* ticks per nanosecond, set by bench_clock_calibrate() */
static double bench_tpns = 1.0;

static inline void bench_clock_calibrate(void) {
#ifdef BENCH_HAVE_TSC
    double sum = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t n0 = bench_mono_ns(), t0 = bench_ticks();
        struct timespec ts = {0, 30 * 1000000L};
        nanosleep(&ts, NULL);
        uint64_t n1 = bench_mono_ns(), t1 = bench_ticks();
        sum += (double)(t1 - t0) / (double)(n1 - n0);
    }
    bench_tpns = sum / 3;
#else
    bench_tpns = 1.0;
#endif
}

static inline double bench_ticks_to_us(uint64_t t) { return (double)t / bench_tpns / 1000.0; }
static inline double bench_ticks_to_ns(uint64_t t) { return (double)t / bench_tpns; }
static inline uint64_t bench_us_to_ticks(double us) { return (uint64_t)(us * 1000.0 * bench_tpns); }

/* ---- histogram ----
 * Log-linear in ticks: values below 64 exactly, then 32 sub-buckets per
 * power of two (about 3 % resolution), up to 2^46 ticks. */
#define BH_SUB 32
#define BH_NB (64 + 40 * BH_SUB)

static inline unsigned bh_index(uint64_t v) {
    if (v < 64) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
    if (e > 45) return BH_NB - 1;
    unsigned sub = (unsigned)(v >> (e - 5)) & (BH_SUB - 1);
    return 64u + (e - 6u) * BH_SUB + sub;
}

/* Lower bound and width of bucket i, in ticks. */
static inline void bh_bounds(unsigned i, double *lo, double *width) {
    if (i < 64) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned e = (i - 64) / BH_SUB + 6, sub = (i - 64) % BH_SUB;
    double base = ldexp(1.0, (int)e), w = ldexp(1.0, (int)e - 5);
    *lo = base + sub * w;
    *width = w;
}

typedef struct bench_hist {
    uint64_t b[BH_NB];
    uint64_t n;
    uint64_t max;
} bench_hist;

static inline void bh_add(bench_hist *h, uint64_t v) {
    h->b[bh_index(v)]++;
    h->n++;
    if (v > h->max) h->max = v;
}

static inline void bh_merge(bench_hist *into, const bench_hist *from) {
    for (unsigned i = 0; i < BH_NB; i++) into->b[i] += from->b[i];
    into->n += from->n;
    if (from->max > into->max) into->max = from->max;
}

/* Quantile q in [0,1] in microseconds (middle of the bucket it falls in). */
static inline double bh_quantile_us(const bench_hist *h, double q) {
    if (h->n == 0) return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->n);
    if (want == 0) want = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < BH_NB; i++) {
        acc += h->b[i];
        if (acc >= want) {
            double lo, w;
            bh_bounds(i, &lo, &w);
            double v = lo + w / 2;
            if (v > (double)h->max) v = (double)h->max;
            return bench_ticks_to_us((uint64_t)v);
        }
    }
    return bench_ticks_to_us(h->max);
}

/* ---- small statistics ---- */

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (the array is sorted in place). */
static inline double bench_median(double *v, size_t n) {
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Quantile of n values (sorted in place), nearest rank. */
static inline double bench_quantile(double *v, size_t n, double q) {
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    size_t k = (size_t)ceil(q * (double)n);
    if (k == 0) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

/* xorshift64*: cheap, good enough to pick cache lines. */
static inline uint64_t bench_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Parse a positive integer option value, or exit with a message. */
static inline long bench_parse_long(const char *opt, const char *v, long min, long max) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < min || x > max) {
        fprintf(stderr, "%s: expected an integer in [%ld, %ld]\n", opt, min, max);
        exit(2);
    }
    return x;
}

#endif
