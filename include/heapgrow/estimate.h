/*
 * heapgrow's sampling estimator: what one sampled allocation stands for.
 * Part of the trace contract (docs/FORMAT.md, "Sampled traces"): the estimated
 * counters of a version-2 SNAPSHOT are sums of exactly the integers that
 * hg_est_weigh() returns, one per sampled allocation, and the analyzer adds up
 * the same integers over the live set it reads, so the tracer and the analyzer
 * must compute them identically. That is why this arithmetic is defined here,
 * in the shared include directory, as static inline functions (STYLE.md
 * otherwise keeps logic out of headers): it is small, pure, needs no libm
 * (libheapgrow.so links nothing but libunwind, zlib, dl and threads) and runs
 * once per *sampled* allocation, never on the hot path.
 *
 * The estimator (Horvitz-Thompson, as in tcmalloc's and Go's heap profilers):
 * allocations are chosen by a Poisson process over allocated bytes with mean
 * interval R (HEAPGROW_SAMPLE_BYTES), so an allocation of s bytes is sampled
 * with probability p(s) = 1 - exp(-s/R). Counting each sampled allocation
 * 1/p(s) times makes every sum over allocations unbiased:
 *     allocations  ~  sum over sampled allocations of 1/p(s)
 *     bytes        ~  sum over sampled allocations of s/p(s)
 * (s/p(s) is about R + s/2 for s << R and s for s >> R.) Estimated bytes are
 * whole bytes, rounded per allocation: at most 1/2 byte of error per sample
 * against a weight of at least R bytes (p(s) <= s/R), so below 1e-6 relative
 * for R >= 512 KiB. Estimated counts are fixed point, HG_EST_COUNT_ONE units
 * per allocation: at most 1/8192 of an allocation of error per sample against
 * a weight of at least 1, so below 1.3e-4 relative. Both are rounding errors,
 * far below the sampling error itself (docs/USAGE.md, "Sampling").
 */
#ifndef HEAPGROW_INCLUDE_ESTIMATE_H
#define HEAPGROW_INCLUDE_ESTIMATE_H

#include <stdint.h>
#include <string.h>

/* One allocation in the fixed-point estimated counts (12 fractional bits): a
 * per-stack uint64 count then holds 2^52 (4.5e15) estimated allocations. */
#define HG_EST_COUNT_SHIFT 12
#define HG_EST_COUNT_ONE   ((uint64_t)1 << HG_EST_COUNT_SHIFT)

/* Largest sampling interval (1 TiB): keeps every weight, and so every
 * fixed-point count weight (R/s * HG_EST_COUNT_ONE for s = 1), below 2^53. */
#define HG_SAMPLE_MAX_BYTES ((uint64_t)1 << 40)

/* 1 - exp(-x) for x >= 0, to a few ulps, without libm. Below 1/2 the Taylor
 * series of -expm1(-x) (no cancellation); above, 1 - 2^-k * exp(-r) with
 * x = k ln 2 + r, 0 <= r < ln 2, exp(-r) by its Taylor series (19 terms:
 * truncation below 1e-19). Above 40, exp(-x) < 2^-57: the result is 1. */
static inline double hg_est_one_minus_exp_neg(double x)
{
    if (!(x > 0))
        return 0;
    if (x < 0.5) {
        double term = x, sum = x;
        for (int n = 2; n <= 20; n++) {
            term *= -x / n;
            sum += term;
        }
        return sum;
    }
    if (x >= 40)
        return 1;
    const double ln2 = 0.69314718055994530942;
    int k = (int)(x / ln2);
    double r = x - k * ln2;
    double term = 1, e = 1;
    for (int n = 1; n <= 19; n++) {
        term *= -r / n;
        e += term;
    }
    uint64_t bits = (uint64_t)(1023 - k) << 52; /* 2^-k, k <= 57 */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return 1 - e * scale;
}

/* The estimate one sampled allocation of `size` bytes stands for, at mean
 * sampling interval `rate_bytes` (1..HG_SAMPLE_MAX_BYTES): *bytes whole bytes
 * (>= size) and *count_fp allocations in HG_EST_COUNT_ONE units (>= one).
 * A size of 0 (never sampled) or a rate of 0 weighs as one exact allocation. */
static inline void hg_est_weigh(uint64_t size, uint64_t rate_bytes, uint64_t *bytes,
                                uint64_t *count_fp)
{
    double x = rate_bytes != 0 ? (double)size / (double)rate_bytes : 0;
    if (size == 0 || rate_bytes == 0 || x >= 40) {
        *bytes = size; /* p(s) = 1 to double precision */
        *count_fp = HG_EST_COUNT_ONE;
        return;
    }
    double p = hg_est_one_minus_exp_neg(x);
    double b = (double)size / p + 0.5;
    double c = (double)HG_EST_COUNT_ONE / p + 0.5;
    *bytes = (uint64_t)b < size ? size : (uint64_t)b;
    *count_fp = (uint64_t)c < HG_EST_COUNT_ONE ? HG_EST_COUNT_ONE : (uint64_t)c;
}

#endif /* HEAPGROW_INCLUDE_ESTIMATE_H */
