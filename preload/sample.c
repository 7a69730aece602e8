/*
 * Sampling mode (contract in sample.h). Owns the choice of which allocations
 * are recorded, the page map that lets a free skip the live table, and the
 * estimated per-stack counters. Never allocates through the traced malloc
 * (memory comes from hg_os_map), never takes a lock, never calls libm.
 *
 * ======================================================================
 * Which allocations: a Poisson process over bytes
 * ======================================================================
 * As in tcmalloc and Go's runtime, each thread counts down the bytes it
 * allocates (hg_sample_left, initial-exec TLS); the allocation that brings the
 * count to zero holds a sample point and is recorded, and the next countdown is
 * drawn from an exponential distribution of mean R. The gaps between sample
 * points in the stream of allocated bytes are then independent exponentials:
 * a Poisson process of rate 1/R. An allocation of s bytes holds a point with
 * probability p(s) = 1 - exp(-s/R) whatever came before it (the exponential
 * is memoryless, so the countdown left over from earlier allocations, and a
 * fresh draw after a sampled one, are equally right), which is what the
 * estimator (include/heapgrow/estimate.h) divides by. Integers: a countdown
 * is floor(X) + 1 for X ~ Exp(R), and an allocation is sampled when
 * size >= countdown, i.e. when X < size: exactly probability p(size).
 *
 * The generator is splitmix64 per thread (state in TLS), seeded on the
 * thread's first allocation from a process seed (the kernel's AT_RANDOM bytes
 * and the clock, or HEAPGROW_SAMPLE_SEED) mixed with the thread's index; no
 * allocation, no lock, one relaxed fetch_add per thread. Draws take a
 * logarithm of our own (hg_sample_ln, 1e-14 relative) since libheapgrow does
 * not link libm. A fork child re-seeds its one thread (hg_sample_after_fork)
 * so that parent and child do not sample the same points. Allocations the
 * tracer makes itself (guard set) never move a countdown.
 *
 * ======================================================================
 * The page map: a free without a probe
 * ======================================================================
 * Most frees are of unsampled blocks, and probing the live table for them
 * would cost a cache miss each. The map keeps, for every 4 KiB page, the
 * number of sampled live blocks whose *start address* lies in it (16 bits,
 * saturating), in leaves of 2^16 pages mapped on first use under a top level
 * of leaf pointers (sample.h has the geometry). A free reads the page's count
 * (two dependent loads); 0 means "certainly not a sampled block" and the free
 * goes straight to the allocator. Non-zero is only "maybe": blocks smaller
 * than a page share it, so the free then probes the live table as in exact
 * mode. The count is exact, so a page's "maybe" clears when its last sampled
 * block is freed: over a long run the share of frees that probe stays the
 * share of pages holding a sampled live block (with R = 512 KiB about one page
 * per 512 KiB of live heap), instead of growing with every page that ever
 * held one. A count that reaches 65535 (impossible for 4 KiB of distinct
 * block starts, but a program can free blocks behind our back) stays there:
 * the page then always probes, which is safe. Addresses above 2^47 share the
 * counts of their aliases 2^47 lower (extra "maybe"s, never a wrong "no").
 * Order: a sampled block is counted before its
 * live-table insert and uncounted after its erase, both before the allocator
 * call that gives the address (back) to the program or allocator.
 *
 * Why relaxed is enough. While a sampled block b is live its page count is at
 * least 1 in every value a free of b can read: b's increment is sequenced
 * before the malloc that returned b, which happens-before the free by the
 * program's own synchronisation, so coherence lets the free read only that
 * value or a later one; and a later value can lack b's +1 only after b's own
 * decrement, which follows b's erase. Every other decrement follows the erase
 * that found its block, which acquired that block's insert, which followed
 * its increment, so decrements never run ahead of their increments in the
 * count's modification order. The same argument covers the leaf pointer,
 * written once. For an unsampled block every answer is right: "no" skips a
 * probe that would find nothing, "maybe" probes and finds nothing.
 *
 * ======================================================================
 * Estimated counters
 * ======================================================================
 * The stack table's counters stay raw (sampled allocations and their bytes).
 * Next to them this file keeps, per stack id, the sums of the per-allocation
 * estimates hg_est_weigh() gives (live and allocated, bytes and fixed-point
 * counts), in a segmented array (segment s holds 1024 << s ids, mapped by CAS
 * on first use, never moved). A free subtracts the weight of the size its live
 * entry recorded, which is the very integer its allocation added, so the live
 * estimates return to exactly 0 when everything is freed. Only sampled
 * allocations touch them: no contention to speak of.
 */
#include "sample.h"

#include <errno.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "heapgrow/estimate.h"

#include "os.h"

_Atomic uint64_t hg_sample_rate_bytes;
_Atomic(hg_sample_leaf_ref_t *) hg_sample_top;
/* The same map, for this file's own use once sampling runs (written before
 * hg_sample_top is published). */
static hg_sample_leaf_ref_t *top_map;
__thread uint64_t hg_sample_left __attribute__((tls_model("initial-exec")));

/* splitmix64 state of this thread's generator; 0 = not seeded yet. */
static __thread uint64_t prng_state __attribute__((tls_model("initial-exec")));

/* Process seed and thread numbering, written by hg_sample_init (before
 * ACTIVE) and by hg_sample_after_fork (one thread); read on a thread's first
 * allocation. */
static uint64_t base_seed;
static bool is_fixed_seed;
static _Atomic uint64_t thread_index;

#define GOLDEN_GAMMA 0x9e3779b97f4a7c15ull

/* ------------------------------------------------------------------------ */
/* Generator and draws                                                       */

/* splitmix64's output function (Steele, Lea, Flood 2014). */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t next_u64(void)
{
    prng_state += GOLDEN_GAMMA;
    return mix64(prng_state);
}

static void seed_thread(uint64_t index)
{
    uint64_t s = mix64(base_seed ^ mix64(index + GOLDEN_GAMMA));
    prng_state = s != 0 ? s : 1;
}

/*
 * ln(x) for x in (0, 1]. x = m * 2^e with m in [sqrt(1/2), sqrt(2)), and
 * ln(m) = 2 atanh(z), z = (m - 1) / (m + 1), |z| < 0.172: the series
 * 2 (z + z^3/3 + ... + z^15/15) leaves out less than 1e-14 of it. x is a
 * normal double here (at least 2^-53), never 0 or subnormal.
 */
double hg_sample_ln(double x)
{
    const double ln2 = 0.69314718055994530942, sqrt2 = 1.41421356237309504880;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1023 << 52);
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > sqrt2) {
        m *= 0.5;
        e++;
    }
    double z = (m - 1) / (m + 1), z2 = z * z, t = z, sum = 0;
    for (int n = 1; n <= 15; n += 2) {
        sum += t / n;
        t *= z2;
    }
    return 2 * sum + e * ln2;
}

/* A countdown: floor(X) + 1 for X ~ Exp(R), from a uniform in (0, 1]. */
static uint64_t draw(void)
{
    double u = (double)((next_u64() >> 11) + 1) * 0x1p-53;
    double x = -hg_sample_ln(u) * (double)hg_sample_rate();
    if (!(x < 0x1p62))
        return (uint64_t)1 << 62;
    return (uint64_t)x + 1;
}

bool hg_sample_decide(uint64_t size)
{
    if (prng_state == 0) {
        /* This thread's first allocation: start its countdown, then decide
         * as the fast path would have. */
        seed_thread(atomic_fetch_add_explicit(&thread_index, 1, memory_order_relaxed));
        uint64_t left = draw();
        if (size < left) {
            hg_sample_left = left - size;
            return false;
        }
    }
    /* A sample point falls in this allocation; the next one is Exp(R) bytes
     * after its end (memorylessness: where in the block it fell is moot). */
    hg_sample_left = draw();
    return true;
}

static uint64_t random_seed(void)
{
    uint64_t s = 0;
    const void *rnd = (const void *)getauxval(AT_RANDOM); /* 16 bytes from the kernel */
    if (rnd != NULL)
        memcpy(&s, rnd, sizeof s);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mix64(s ^ ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec));
}

static _Atomic uint16_t *leaf_of(uintptr_t address, bool is_create);

uint64_t hg_sample_init(uint64_t rate_bytes, uint64_t seed, uintptr_t keep_lo, uintptr_t keep_hi)
{
    if (rate_bytes == 0)
        return 0;
    if (rate_bytes > HG_SAMPLE_MAX_BYTES)
        rate_bytes = HG_SAMPLE_MAX_BYTES;
    top_map = hg_os_map(HG_SAMPLE_TOP_COUNT * sizeof(*top_map));
    if (top_map == NULL)
        return 0;
    for (uintptr_t a = keep_lo & ~(((uintptr_t)1 << HG_SAMPLE_PAGE_SHIFT) - 1); a < keep_hi;
         a += (uintptr_t)1 << HG_SAMPLE_PAGE_SHIFT) {
        _Atomic uint16_t *leaf = leaf_of(a, true);
        if (leaf == NULL)
            return 0;
        atomic_store_explicit(&leaf[(a >> HG_SAMPLE_PAGE_SHIFT) & (HG_SAMPLE_LEAF_COUNT - 1)],
                              HG_SAMPLE_COUNT_MAX, memory_order_relaxed);
    }
    is_fixed_seed = seed != 0;
    base_seed = is_fixed_seed ? seed : random_seed();
    /* release: publish the map (the front door of free tests it for NULL),
     * then the rate with the seed; pair with the acquire loads in sample.h */
    atomic_store_explicit(&hg_sample_top, top_map, memory_order_release);
    atomic_store_explicit(&hg_sample_rate_bytes, rate_bytes, memory_order_release);
    return rate_bytes;
}

void hg_sample_after_fork(void)
{
    if (hg_sample_rate() == 0)
        return;
    /* A fixed seed stays reproducible: the child's seed is a function of the
     * parent's. Otherwise the child's pid and clock make it its own. */
    base_seed = is_fixed_seed ? mix64(base_seed + GOLDEN_GAMMA)
                              : mix64(base_seed ^ random_seed() ^ (uint64_t)getpid());
    seed_thread(atomic_fetch_add_explicit(&thread_index, 1, memory_order_relaxed));
    hg_sample_left = draw();
}

/* ------------------------------------------------------------------------ */
/* Page map                                                                  */

static _Atomic uint16_t *leaf_of(uintptr_t address, bool is_create)
{
    size_t i =
        (address >> (HG_SAMPLE_PAGE_SHIFT + HG_SAMPLE_LEAF_SHIFT)) & (HG_SAMPLE_TOP_COUNT - 1);
    /* acquire: pairs with the CAS below that installed the leaf */
    _Atomic uint16_t *leaf = atomic_load_explicit(&top_map[i], memory_order_acquire);
    if (leaf != NULL || !is_create)
        return leaf;
    _Atomic uint16_t *fresh = hg_os_map(HG_SAMPLE_LEAF_COUNT * sizeof(*fresh));
    if (fresh == NULL)
        return NULL;
    _Atomic uint16_t *expected = NULL;
    /* release: publishes the zero-filled leaf; pairs with the acquire above */
    if (atomic_compare_exchange_strong_explicit(&top_map[i], &expected, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    hg_os_unmap(fresh, HG_SAMPLE_LEAF_COUNT * sizeof(*fresh));
    return expected;
}

static _Atomic uint16_t *count_of(uintptr_t address, bool is_create)
{
    _Atomic uint16_t *leaf = leaf_of(address, is_create);
    if (leaf == NULL)
        return NULL;
    return &leaf[(address >> HG_SAMPLE_PAGE_SHIFT) & (HG_SAMPLE_LEAF_COUNT - 1)];
}

unsigned hg_sample_page_count(uintptr_t address)
{
    if (top_map == NULL)
        return 0;
    _Atomic uint16_t *c = count_of(address, false);
    return c != NULL ? atomic_load_explicit(c, memory_order_relaxed) : 0;
}

/* ------------------------------------------------------------------------ */
/* Estimated counters                                                        */

#define EST_SEG0_SHIFT 10u
#define EST_SEG_COUNT  23u /* ids up to (2^23 - 1) << 10 > 2^32 */

static _Atomic(hg_sample_est_t *) est_segs[EST_SEG_COUNT];

static hg_sample_est_t *est_of(uint32_t id, bool is_create)
{
    /* segment s holds ids [(2^s - 1) << 10, (2^(s+1) - 1) << 10): id is in
     * segment s exactly when (id >> 10) + 1 is in [2^s, 2^(s+1)) */
    uint64_t x = ((uint64_t)id >> EST_SEG0_SHIFT) + 1;
    unsigned s = 63u - (unsigned)__builtin_clzll(x);
    size_t base = (((size_t)1 << s) - 1) << EST_SEG0_SHIFT;
    size_t count = (size_t)1 << (EST_SEG0_SHIFT + s);
    /* acquire: pairs with the release CAS that installed the segment */
    hg_sample_est_t *seg = atomic_load_explicit(&est_segs[s], memory_order_acquire);
    if (seg == NULL && is_create) {
        hg_sample_est_t *fresh = hg_os_map(count * sizeof(*fresh));
        if (fresh == NULL)
            return NULL;
        hg_sample_est_t *expected = NULL;
        /* release: publishes the zero-filled segment */
        if (atomic_compare_exchange_strong_explicit(&est_segs[s], &expected, fresh,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            seg = fresh;
        } else {
            hg_os_unmap(fresh, count * sizeof(*fresh));
            seg = expected;
        }
    }
    return seg != NULL ? &seg[(size_t)id - base] : NULL;
}

const hg_sample_est_t *hg_sample_est(uint32_t id)
{
    return est_of(id, false);
}

/* ------------------------------------------------------------------------ */
/* The shim's hooks                                                          */

int hg_sample_mark(uintptr_t address, uint32_t stack_id)
{
    if (hg_sample_rate() == 0)
        return 0;
    if (est_of(stack_id, true) == NULL)
        return -ENOMEM;
    _Atomic uint16_t *c = count_of(address, true);
    if (c == NULL)
        return -ENOMEM;
    uint16_t v = atomic_load_explicit(c, memory_order_relaxed);
    do {
        if (v == HG_SAMPLE_COUNT_MAX)
            return 0; /* saturated: stays "maybe" for good */
    } while (!atomic_compare_exchange_weak_explicit(c, &v, (uint16_t)(v + 1), memory_order_relaxed,
                                                    memory_order_relaxed));
    return 0;
}

void hg_sample_unmark(uintptr_t address)
{
    if (hg_sample_rate() == 0)
        return;
    _Atomic uint16_t *c = count_of(address, false);
    if (c == NULL)
        return; /* cannot happen: a marked address has its leaf */
    uint16_t v = atomic_load_explicit(c, memory_order_relaxed);
    do {
        if (v == HG_SAMPLE_COUNT_MAX || v == 0)
            return; /* saturated (kept), or not ours to lower */
    } while (!atomic_compare_exchange_weak_explicit(c, &v, (uint16_t)(v - 1), memory_order_relaxed,
                                                    memory_order_relaxed));
}

void hg_sample_count(const hg_live_entry_t *e, int sign, bool is_alloc)
{
    uint64_t rate = hg_sample_rate();
    if (rate == 0)
        return;
    hg_sample_est_t *est = est_of(e->stack_id, false);
    if (est == NULL)
        return; /* cannot happen: hg_sample_mark made it */
    uint64_t bytes, count;
    hg_est_weigh(e->size, rate, &bytes, &count);
    atomic_fetch_add_explicit(&est->live_bytes, sign * (int64_t)bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&est->live_count, sign * (int64_t)count, memory_order_relaxed);
    if (is_alloc) {
        atomic_fetch_add_explicit(&est->alloc_count, count, memory_order_relaxed);
        atomic_fetch_add_explicit(&est->alloc_bytes, bytes, memory_order_relaxed);
    }
}

/* ------------------------------------------------------------------------ */
/* Test support                                                              */

void hg_sample_test_seed(uint64_t seed, uint64_t index)
{
    base_seed = seed;
    seed_thread(index);
}

uint64_t hg_sample_test_draw(void)
{
    return draw();
}
