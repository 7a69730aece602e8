/*
 * Unit tests of sampling mode: the estimator (include/heapgrow/estimate.h),
 * the sampler's draws and decisions (preload/sample.c, fixed seeds, so every
 * count below is deterministic), the page map and the estimated counters.
 * The statistical checks compare a deterministic outcome with its expectation
 * at a tolerance of at least 4 standard deviations, stated at each one: a
 * biased sampler (a wrong mean, a wrong p(s)) misses them by far.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "heapgrow/estimate.h"
#include "sample.h"

#define R 524288u

/* A range whose pages always answer "maybe" (the bootstrap arena's part). */
static unsigned char kept[3 * 4096] __attribute__((aligned(4096)));

/* Sampling on at R (once per process: Check may run every test in one). */
static void start(void)
{
    if (hg_sample_rate() == 0 && atomic_load(&hg_sample_top) == NULL)
        ck_assert_uint_eq(
            hg_sample_init(R, 1, (uintptr_t)kept + 100, (uintptr_t)kept + 2 * 4096 + 1), R);
    ck_assert_uint_eq(hg_sample_rate(), R);
}

/* ---- estimator ---- */

START_TEST(one_minus_exp_matches_libm)
{
    for (double x = 1e-12; x < 60; x *= 1.37) {
        double want = -expm1(-x);
        double got = hg_est_one_minus_exp_neg(x);
        ck_assert_msg(fabs(got - want) <= 4e-16 * want, "x=%g: %.17g vs %.17g", x, got, want);
    }
    ck_assert(hg_est_one_minus_exp_neg(0) == 0);
    ck_assert(hg_est_one_minus_exp_neg(-1) == 0);
    ck_assert(hg_est_one_minus_exp_neg(NAN) == 0);
    ck_assert(hg_est_one_minus_exp_neg(40) == 1);
}
END_TEST

/* The integers of docs/FORMAT.md's worked values, at R = 512 KiB: bytes
 * round(s / p(s)), count round(4096 / p(s)); computed independently with
 * Python's math.expm1 (none of them is within 1e-3 of a rounding tie). */
START_TEST(weights_exact)
{
    static const struct {
        uint64_t size, bytes, count;
    } v[] = {
        {16, 524296, 134219776},  {64, 524320, 33556480},     {1000, 524788, 2149532},
        {4096, 526339, 526339},   {65536, 557738, 34859},     {524288, 829411, 6480},
        {1048576, 1212697, 4737}, {10000000, 10000000, 4096},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint64_t b, c;
        hg_est_weigh(v[i].size, R, &b, &c);
        ck_assert_uint_eq(b, v[i].bytes);
        ck_assert_uint_eq(c, v[i].count);
    }
    uint64_t b, c;
    hg_est_weigh(1, R, &b, &c); /* 524288.50000016: a near tie, either side */
    ck_assert(b == 524288 || b == 524289);
    ck_assert_uint_eq(c, 2147485696);
}
END_TEST

START_TEST(weights_edges)
{
    uint64_t b, c;
    hg_est_weigh(0, R, &b, &c); /* never sampled: weighs as itself */
    ck_assert_uint_eq(b, 0);
    ck_assert_uint_eq(c, HG_EST_COUNT_ONE);
    hg_est_weigh(1234, 0, &b, &c); /* exact mode */
    ck_assert_uint_eq(b, 1234);
    ck_assert_uint_eq(c, HG_EST_COUNT_ONE);
    hg_est_weigh(40ull * R, R, &b, &c); /* p = 1 to double precision */
    ck_assert_uint_eq(b, 40ull * R);
    ck_assert_uint_eq(c, HG_EST_COUNT_ONE);
    hg_est_weigh(UINT64_MAX, R, &b, &c);
    ck_assert_uint_eq(b, UINT64_MAX);
    hg_est_weigh(1, HG_SAMPLE_MAX_BYTES, &b, &c);  /* the largest weights */
    ck_assert_uint_eq(b, HG_SAMPLE_MAX_BYTES + 1); /* R + 1/2, rounded up */
    ck_assert_uint_eq(c, HG_SAMPLE_MAX_BYTES * HG_EST_COUNT_ONE + HG_EST_COUNT_ONE / 2);
    ck_assert(c < (1ull << 53));
}
END_TEST

/* Unbiased: p(s) times the weight is s bytes and one allocation, to the
 * rounding of the weight (half a byte, half a 4096th), for every size; the
 * weights never go below the block itself. */
START_TEST(weights_unbiased)
{
    for (uint64_t s = 1; s < 100ull * R; s = s * 3 / 2 + 1) {
        uint64_t b, c;
        hg_est_weigh(s, R, &b, &c);
        double p = -expm1(-(double)s / R);
        ck_assert(b >= s && c >= HG_EST_COUNT_ONE);
        ck_assert_msg(fabs(p * (double)b - (double)s) <= 0.5 * p + 1e-9 * s, "s=%llu",
                      (unsigned long long)s);
        ck_assert_msg(fabs(p * (double)c - HG_EST_COUNT_ONE) <= 0.5 * p + 1e-9, "s=%llu",
                      (unsigned long long)s);
    }
}
END_TEST

/* ---- sampler ---- */

START_TEST(ln_matches_libm)
{
    for (double x = 0x1p-53; x <= 1; x *= 1.09)
        ck_assert_msg(fabs(hg_sample_ln(x) - log(x)) <= 1e-14 * fabs(log(x)) + 1e-16, "x=%g", x);
    ck_assert(hg_sample_ln(1) == 0);
}
END_TEST

/* Countdowns are floor(Exp(R)) + 1: mean R + 1/2, standard deviation R.
 * 1,000,000 draws: the mean's standard error is R/1000 (0.1%); tolerance
 * 0.5%. The spread's is about 0.14%; tolerance 1%. */
START_TEST(draws_exponential)
{
    start();
    hg_sample_test_seed(12345, 0);
    const int n = 1000000;
    double sum = 0, sum2 = 0;
    uint64_t below_mean = 0;
    for (int i = 0; i < n; i++) {
        uint64_t d = hg_sample_test_draw();
        ck_assert(d >= 1);
        sum += (double)d;
        sum2 += (double)d * (double)d;
        below_mean += d <= R;
    }
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    ck_assert_msg(fabs(mean / R - 1) < 0.005, "mean %f", mean);
    ck_assert_msg(fabs(sd / R - 1) < 0.01, "sd %f", sd);
    /* P(X <= R) = 1 - 1/e = 0.6321; standard error 0.00048; tolerance 0.003 */
    ck_assert_msg(fabs((double)below_mean / n - (1 - exp(-1))) < 0.003, "%llu",
                  (unsigned long long)below_mean);
}
END_TEST

START_TEST(draws_reproducible)
{
    start();
    uint64_t a[16], b[16];
    hg_sample_test_seed(99, 3);
    for (int i = 0; i < 16; i++)
        a[i] = hg_sample_test_draw();
    hg_sample_test_seed(99, 3);
    for (int i = 0; i < 16; i++)
        b[i] = hg_sample_test_draw();
    ck_assert_mem_eq(a, b, sizeof a);
    hg_sample_test_seed(99, 4); /* another thread index: another sequence */
    int same = 0;
    for (int i = 0; i < 16; i++)
        same += hg_sample_test_draw() == a[i];
    ck_assert_int_lt(same, 2);
}
END_TEST

/* Through the allocation path: an allocation of s bytes is sampled with
 * probability 1 - exp(-s/R), whatever the sizes around it. n allocations of
 * each size, interleaved with others; tolerance 5 standard deviations of the
 * binomial count. */
START_TEST(skip_probability)
{
    start();
    static const uint64_t sizes[] = {64, 4096, 100000, 524288, 4u << 20};
    const long n = 400000;
    hg_sample_test_seed(777, 0);
    hg_sample_left = hg_sample_test_draw();
    long hits[5] = {0};
    for (long i = 0; i < n; i++) {
        for (int k = 0; k < 5; k++) {
            if (!hg_sample_skip(sizes[k]))
                hits[k]++;
            (void)hg_sample_skip(24); /* a small one between */
        }
    }
    for (int k = 0; k < 5; k++) {
        double p = -expm1(-(double)sizes[k] / R), want = n * p;
        double sd = sqrt(n * p * (1 - p));
        ck_assert_msg(fabs(hits[k] - want) <= 5 * sd + 1, "size %llu: %ld sampled, expected %.1f",
                      (unsigned long long)sizes[k], hits[k], want);
    }
    /* An allocation of 0 bytes never holds a sample point. */
    for (long i = 0; i < 100000; i++)
        ck_assert(hg_sample_skip(0));
}
END_TEST

/* The estimate over a stream of mixed sizes: the sum of weights of the
 * sampled ones against the bytes really allocated. 2,000,000 allocations of
 * 16..4111 bytes (4.1 GB): about 7,900 samples, relative standard error
 * sqrt(R / bytes) = 1.1%; tolerance 5%. */
START_TEST(estimate_of_stream)
{
    start();
    hg_sample_test_seed(4242, 0);
    hg_sample_left = hg_sample_test_draw();
    uint64_t x = 88172645463325252ull, total = 0;
    double est = 0, est_n = 0;
    const long n = 2000000;
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t s = 16 + x % 4096;
        total += s;
        if (!hg_sample_skip(s)) {
            uint64_t b, c;
            hg_est_weigh(s, R, &b, &c);
            est += (double)b;
            est_n += (double)c / HG_EST_COUNT_ONE;
        }
    }
    ck_assert_msg(fabs(est / (double)total - 1) < 0.05, "bytes %f vs %llu", est,
                  (unsigned long long)total);
    ck_assert_msg(fabs(est_n / n - 1) < 0.10, "count %f vs %ld", est_n, n);
}
END_TEST

/* The front doors: an allocation without a sample point is skipped there
 * (and the countdown moves); one with a sample point is left to the traced
 * path, whose hg_sample_skip() then decides it once; with no countdown (exact
 * mode, a new thread) nothing is skipped. A free skips the shim unless the
 * page says "maybe", which the kept range always does. */
START_TEST(front_doors)
{
    start();
    hg_sample_test_seed(5, 0); /* this thread's generator started */
    hg_sample_left = 1000;
    ck_assert(hg_sample_fast_skip(600));
    ck_assert_uint_eq(hg_sample_left, 400);
    ck_assert(!hg_sample_fast_skip(400)); /* holds the sample point */
    ck_assert_uint_eq(hg_sample_left, 400);
    ck_assert(!hg_sample_skip(400)); /* sampled, once */
    ck_assert_uint_ge(hg_sample_left, 1);
    hg_sample_left = 0; /* exact mode, or a thread that never allocated */
    ck_assert(!hg_sample_fast_skip(0));
    ck_assert(!hg_sample_fast_skip(1));

    uintptr_t a = 0x5555bbb01010;
    ck_assert(hg_sample_fast_free((void *)a));
    ck_assert_int_eq(hg_sample_mark(a, 1), 0);
    ck_assert(!hg_sample_fast_free((void *)a));
    hg_sample_unmark(a);
    ck_assert(hg_sample_fast_free((void *)a));
    ck_assert(hg_sample_fast_free(NULL)); /* free(NULL) goes straight through */
    for (int k = 0; k < 3; k++)
        ck_assert(!hg_sample_fast_free(kept + k * 4096));
    ck_assert(hg_sample_fast_free(kept + 3 * 4096));
    ck_assert_uint_eq(hg_sample_page_count((uintptr_t)kept), HG_SAMPLE_COUNT_MAX);
}
END_TEST

START_TEST(exact_mode_is_inert)
{
    /* Before (or without) hg_sample_init, and with the rate at 0, nothing is
     * skipped and every free probes. */
    uint64_t saved = hg_sample_rate();
    hg_sample_leaf_ref_t *saved_top = atomic_load(&hg_sample_top);
    atomic_store(&hg_sample_rate_bytes, 0);
    atomic_store(&hg_sample_top, NULL);
    ck_assert(!hg_sample_skip(1));
    ck_assert(!hg_sample_skip(1u << 30));
    ck_assert(hg_sample_may_hold((void *)0x1000));
    ck_assert_int_eq(hg_sample_mark(0x1000, 1), 0);
    ck_assert_uint_eq(hg_sample_page_count(0x1000), 0);
    ck_assert(!hg_sample_fast_skip(1));
    ck_assert(!hg_sample_fast_free((void *)0x1000));
    ck_assert_uint_eq(hg_sample_init(0, 1, 0, 0), 0);
    atomic_store(&hg_sample_rate_bytes, saved);
    atomic_store(&hg_sample_top, saved_top);
}
END_TEST

/* ---- page map ---- */

START_TEST(page_map_counts)
{
    start();
    uintptr_t a = 0x5555aaa01010, same_page = 0x5555aaa01ff0, next_page = 0x5555aaa02000;
    ck_assert(!hg_sample_may_hold((void *)a));
    ck_assert_int_eq(hg_sample_mark(a, 1), 0);
    ck_assert(hg_sample_may_hold((void *)a));
    ck_assert(hg_sample_may_hold((void *)same_page)); /* a "maybe": same page */
    ck_assert(!hg_sample_may_hold((void *)next_page));
    ck_assert_int_eq(hg_sample_mark(same_page, 1), 0);
    ck_assert_uint_eq(hg_sample_page_count(a), 2);
    hg_sample_unmark(a);
    ck_assert(hg_sample_may_hold((void *)same_page));
    hg_sample_unmark(same_page);
    /* The last sampled block of the page is gone: the page answers "no". */
    ck_assert_uint_eq(hg_sample_page_count(a), 0);
    ck_assert(!hg_sample_may_hold((void *)a));
    hg_sample_unmark(a); /* never below 0 */
    ck_assert_uint_eq(hg_sample_page_count(a), 0);
    /* Far apart: leaves of their own. */
    ck_assert(!hg_sample_may_hold((void *)0x10));
    ck_assert_int_eq(hg_sample_mark(0x10, 0), 0);
    ck_assert(hg_sample_may_hold((void *)0x10));
    ck_assert_int_eq(hg_sample_mark(0x7ffffffff000, 0), 0);
    ck_assert(hg_sample_may_hold((void *)0x7fffffffffff));
    hg_sample_unmark(0x10);
    hg_sample_unmark(0x7ffffffff000);
    ck_assert(!hg_sample_may_hold((void *)0x10));
    ck_assert(!hg_sample_may_hold((void *)0x7ffffffff000));
}
END_TEST

START_TEST(page_map_out_of_range_and_saturation)
{
    start();
    /* Above the 47-bit map: counted with its alias 2^47 lower, so the alias
     * may answer "maybe" for it, never the reverse. */
    uintptr_t high = ((uintptr_t)1 << 50) + 0x123000, alias = 0x123000;
    ck_assert(!hg_sample_may_hold((void *)high));
    ck_assert_int_eq(hg_sample_mark(high, 1), 0);
    ck_assert(hg_sample_may_hold((void *)high));
    ck_assert(hg_sample_may_hold((void *)alias));
    hg_sample_unmark(high);
    ck_assert(!hg_sample_may_hold((void *)high));
    /* A count that reaches its maximum stays there: a "maybe" for good. */
    uintptr_t a = 0x600000123000;
    for (unsigned i = 0; i < HG_SAMPLE_COUNT_MAX + 10u; i++)
        ck_assert_int_eq(hg_sample_mark(a, 1), 0);
    ck_assert_uint_eq(hg_sample_page_count(a), HG_SAMPLE_COUNT_MAX);
    for (unsigned i = 0; i < HG_SAMPLE_COUNT_MAX + 10u; i++)
        hg_sample_unmark(a);
    ck_assert_uint_eq(hg_sample_page_count(a), HG_SAMPLE_COUNT_MAX);
    ck_assert(hg_sample_may_hold((void *)a));
}
END_TEST

/* Threads marking and unmarking blocks on the same few pages: every count
 * comes back to exactly 0. */
#define NTHREADS 4
#define ROUNDS   200000

static void *churn_pages(void *arg)
{
    uintptr_t base = 0x700000000000 + (uintptr_t)arg * 16;
    for (int i = 0; i < ROUNDS; i++) {
        uintptr_t p = base + (uintptr_t)(i % 3) * 4096;
        ck_assert_int_eq(hg_sample_mark(p, 1), 0);
        ck_assert(hg_sample_may_hold((void *)p)); /* ours is counted */
        hg_sample_unmark(p);
    }
    return NULL;
}

START_TEST(page_map_threads)
{
    start();
    pthread_t t[NTHREADS];
    for (uintptr_t i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, churn_pages, (void *)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    for (int k = 0; k < 3; k++)
        ck_assert_uint_eq(hg_sample_page_count(0x700000000000 + (uintptr_t)k * 4096), 0);
}
END_TEST

/* ---- estimated counters ---- */

START_TEST(estimated_counters)
{
    start();
    static const uint32_t ids[] = {0, 7, 1023, 1024, 3071, 3072, 100000, 5000000};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint32_t id = ids[i];
        hg_live_entry_t e = {.address = 0x5000000 + i * 64, .size = 64 + i, .stack_id = id};
        uint64_t b, c;
        hg_est_weigh(e.size, R, &b, &c);
        ck_assert_int_eq(hg_sample_mark(e.address, id), 0);
        const hg_sample_est_t *est = hg_sample_est(id);
        ck_assert_ptr_nonnull(est);
        hg_sample_count(&e, +1, true);
        hg_sample_count(&e, +1, true);
        ck_assert_int_eq(atomic_load(&est->live_bytes), (int64_t)(2 * b));
        ck_assert_int_eq(atomic_load(&est->live_count), (int64_t)(2 * c));
        ck_assert_uint_eq(atomic_load(&est->alloc_bytes), 2 * b);
        ck_assert_uint_eq(atomic_load(&est->alloc_count), 2 * c);
        /* Two frees of the same size bring the live estimate to exactly 0. */
        hg_sample_count(&e, -1, false);
        hg_sample_count(&e, -1, false);
        ck_assert_int_eq(atomic_load(&est->live_bytes), 0);
        ck_assert_int_eq(atomic_load(&est->live_count), 0);
        ck_assert_uint_eq(atomic_load(&est->alloc_bytes), 2 * b);
        hg_sample_unmark(e.address);
        /* Neighbouring ids have their own counters. */
        if (id > 0)
            ck_assert_ptr_ne(hg_sample_est(id - 1), est);
    }
    ck_assert_ptr_null(hg_sample_est(2000000000u)); /* a segment never touched */
}
END_TEST

static Suite *sample_suite(void)
{
    Suite *s = suite_create("sample");
    TCase *tc = tcase_create("estimator");
    tcase_add_test(tc, one_minus_exp_matches_libm);
    tcase_add_test(tc, weights_exact);
    tcase_add_test(tc, weights_edges);
    tcase_add_test(tc, weights_unbiased);
    suite_add_tcase(s, tc);
    tc = tcase_create("sampler");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, exact_mode_is_inert);
    tcase_add_test(tc, front_doors);
    tcase_add_test(tc, ln_matches_libm);
    tcase_add_test(tc, draws_exponential);
    tcase_add_test(tc, draws_reproducible);
    tcase_add_test(tc, skip_probability);
    tcase_add_test(tc, estimate_of_stream);
    suite_add_tcase(s, tc);
    tc = tcase_create("page map");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, page_map_counts);
    tcase_add_test(tc, page_map_out_of_range_and_saturation);
    tcase_add_test(tc, page_map_threads);
    tcase_add_test(tc, estimated_counters);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sample_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
