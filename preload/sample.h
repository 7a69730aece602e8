/*
 * Sampling mode (HEAPGROW_SAMPLE_BYTES = R > 0): which allocations the shim
 * records, how a free tells an unsampled pointer without a hash-table probe,
 * and the estimated per-stack counters that scale the samples back. The design
 * essay is at the top of sample.c; the estimator itself is
 * include/heapgrow/estimate.h; the user-facing description docs/USAGE.md.
 *
 * Hot-path contract: with R = 0 (exact mode) every inline function below is
 * one load of a read-only global and a predictable branch, and the shim
 * behaves exactly as without this file. With R > 0 the shim asks first, before
 * anything else: an unsampled allocation costs a thread-local compare and
 * subtract (hg_sample_fast_skip), an unsampled free two dependent loads from
 * the page map (hg_sample_fast_free), and both are then forwarded at once;
 * neither unwinds, touches the stack table or the live table, takes a lock or
 * makes a system call. Nothing here allocates through the traced malloc.
 */
#ifndef HEAPGROW_PRELOAD_SAMPLE_H
#define HEAPGROW_PRELOAD_SAMPLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "live_table.h"

/* Page map geometry: a count per 4 KiB page of the 47-bit user address space,
 * in leaves of 2^16 pages (256 MiB of address space, 128 KiB of counts each)
 * under a top level of 2^19 leaf pointers (4 MiB, mapped when sampling
 * starts; untouched parts cost no memory). An address above 2^47 (5-level
 * paging) shares the count of the one 2^47 below it: aliases only add
 * "maybe"s, and every address is marked and looked up the same way. */
#define HG_SAMPLE_PAGE_SHIFT 12u
#define HG_SAMPLE_LEAF_SHIFT 16u
#define HG_SAMPLE_ADDR_BITS  47u
#define HG_SAMPLE_TOP_COUNT                                                                        \
    ((size_t)1 << (HG_SAMPLE_ADDR_BITS - HG_SAMPLE_PAGE_SHIFT - HG_SAMPLE_LEAF_SHIFT))
#define HG_SAMPLE_LEAF_COUNT ((size_t)1 << HG_SAMPLE_LEAF_SHIFT)
#define HG_SAMPLE_COUNT_MAX  UINT16_MAX /* a saturated count is never lowered */

/* Mean bytes between samples, R; 0 = exact mode. Stored once (release) by
 * hg_sample_init(), after the page map and the seed, and before the tracer
 * turns ACTIVE; read with hg_sample_rate(). */
extern _Atomic uint64_t hg_sample_rate_bytes;

/* The rate; 0 in exact mode and before init. acquire: pairs with the release
 * store in hg_sample_init(), so a thread that sees a rate sees the page map
 * and hg_real (resolved before init) too. A plain load on x86-64. */
static inline uint64_t hg_sample_rate(void)
{
    return atomic_load_explicit(&hg_sample_rate_bytes, memory_order_acquire);
}

/* The page map's top level (NULL in exact mode); same publication as above.
 * Leaves are installed by CAS and never removed. */
typedef _Atomic(_Atomic uint16_t *) hg_sample_leaf_ref_t;
extern _Atomic(hg_sample_leaf_ref_t *) hg_sample_top;

/* This thread's countdown: bytes it may still allocate before its next sample
 * point. 0 = not started yet (the thread's first allocation takes the slow
 * path, which seeds its generator). Initial-exec TLS: one %fs-relative load. */
extern __thread uint64_t hg_sample_left __attribute__((tls_model("initial-exec")));

/* Starts sampling at mean interval rate_bytes (0: exact mode, nothing to do)
 * with generator seed `seed` (0: seeded from the kernel's AT_RANDOM bytes and
 * the clock; otherwise every run draws the same sample points for the same
 * sequence of allocations per thread). Maps the page map's top level, and
 * makes the pages of [keep_lo, keep_hi) answer "maybe" for good (the
 * bootstrap arena: frees of its blocks must reach the shim, which ignores
 * them). Returns the rate in effect: rate_bytes, or 0 when the map could not
 * be mapped (the caller logs it and traces every allocation). Call once,
 * before ACTIVE. */
uint64_t hg_sample_init(uint64_t rate_bytes, uint64_t seed, uintptr_t keep_lo, uintptr_t keep_hi);

/* In a fork child (atfork child handler, one thread): gives the surviving
 * thread a new generator and a fresh countdown, so that parent and child do
 * not draw the same sample points. */
void hg_sample_after_fork(void);

/* Slow path of hg_sample_skip: seeds this thread on its first call and draws
 * the next countdown. Returns true when the allocation of `size` bytes holds
 * a sample point (record it). */
bool hg_sample_decide(uint64_t size);

/* Allocation path: true when an allocation of `size` bytes is NOT sampled (the
 * caller forwards it untraced); always false in exact mode. Moves this
 * thread's countdown. Call only when the tracer is ACTIVE and the guard is
 * not set (the tracer's own allocations never move the countdown). */
static inline bool hg_sample_skip(size_t size)
{
    if (hg_sample_rate() == 0)
        return false;
    uint64_t left = hg_sample_left;
    if (__builtin_expect((uint64_t)size < left, 1)) {
        hg_sample_left = left - (uint64_t)size;
        return true;
    }
    return !hg_sample_decide(size);
}

/* The page map's answer for p, sampling mode only: false when p certainly is
 * not a sampled live block, so a free needs no live-table probe; true when it
 * may be (probe). A count per page says how many sampled live blocks start in
 * it: a non-zero count is only a "maybe" (an unsampled block may share the
 * page). */
static inline bool hg_sample_page_maybe_in(hg_sample_leaf_ref_t *top, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    /* relaxed: a sampled block's leaf and count were stored before the
     * malloc that returned it did, which happens-before this free by the
     * program's own synchronisation (sample.c, "Why relaxed is enough"). */
    _Atomic uint16_t *leaf = atomic_load_explicit(
        &top[(a >> (HG_SAMPLE_PAGE_SHIFT + HG_SAMPLE_LEAF_SHIFT)) & (HG_SAMPLE_TOP_COUNT - 1)],
        memory_order_relaxed);
    if (leaf == NULL)
        return false;
    return atomic_load_explicit(&leaf[(a >> HG_SAMPLE_PAGE_SHIFT) & (HG_SAMPLE_LEAF_COUNT - 1)],
                                memory_order_relaxed) != 0;
}

/* The same for the traced path: always true in exact mode (probe). */
static inline bool hg_sample_may_hold(const void *p)
{
    /* acquire: pairs with the release store in hg_sample_init(); the map is
     * published before the rate, so NULL means exact mode. */
    hg_sample_leaf_ref_t *top = atomic_load_explicit(&hg_sample_top, memory_order_acquire);
    return top == NULL || hg_sample_page_maybe_in(top, p);
}

/* The shim's front door, asked before anything else (readiness, the guard,
 * the tracer's state): true when an allocation of `size` bytes holds no
 * sample point, and the caller forwards it at once (the countdown moves).
 * False when it holds one: the countdown is then left for hg_sample_skip()
 * on the traced path to decide with, exactly once. The countdown doubles as
 * the mode: it is 0 in exact mode, before init and in a thread that has not
 * allocated yet, so those always take the traced path (where
 * hg_sample_decide() starts the countdown once the tracer is ACTIVE, which
 * also means hg_real is ready). The guard is not looked at: an allocation the
 * tracer makes for itself on a program thread (rare: libunwind's first use)
 * is forwarded either way, and at worst moves this thread's countdown by its
 * size. */
static inline bool hg_sample_fast_skip(size_t size)
{
    uint64_t left = hg_sample_left;
    if (__builtin_expect((uint64_t)size < left, 1)) {
        hg_sample_left = left - (uint64_t)size;
        return true;
    }
    return false;
}

/* The front door of free: true when p certainly is not a sampled block, and
 * the caller hands it to the next allocator at once. False in exact mode and
 * for a "maybe" (the bootstrap arena's pages are always one). Whatever the
 * tracer's state: an unsampled block is never the shim's business. */
static inline bool hg_sample_fast_free(const void *p)
{
    hg_sample_leaf_ref_t *top = atomic_load_explicit(&hg_sample_top, memory_order_acquire);
    return top != NULL && !hg_sample_page_maybe_in(top, p);
}

/* Before a sampled block's live-table insert: counts it in its page (maps a
 * leaf on first use) and makes sure its stack has estimated counters. Returns
 * 0, or -ENOMEM (nothing changed: the caller drops the allocation). 0 at once
 * in exact mode. */
int hg_sample_mark(uintptr_t address, uint32_t stack_id);

/* Undoes hg_sample_mark: after the block's live-table erase (a free), or when
 * its insert failed. No-op in exact mode. */
void hg_sample_unmark(uintptr_t address);

/* Adds sign (+1/-1) times the estimate of live entry e (hg_est_weigh of its
 * size) to its stack's estimated live counters, and with is_alloc also to its
 * allocation counters. Pairs with the raw counters the shim keeps. No-op in
 * exact mode. */
void hg_sample_count(const hg_live_entry_t *e, int sign, bool is_alloc);

/* A stack's estimated counters: bytes in whole bytes, counts in
 * HG_EST_COUNT_ONE units (include/heapgrow/estimate.h). Relaxed atomics,
 * updated only for sampled allocations. */
typedef struct hg_sample_est {
    _Atomic int64_t live_bytes;
    _Atomic int64_t live_count;
    _Atomic uint64_t alloc_count;
    _Atomic uint64_t alloc_bytes;
} hg_sample_est_t;

/* Estimated counters of stack `id` (0 = the unknown stack), or NULL when no
 * sampled allocation of an id in its range was made yet (all zero). */
const hg_sample_est_t *hg_sample_est(uint32_t id);

/* Test support: the count of `address`'s page (0 when it has no leaf), and a
 * thread's generator driven directly: hg_sample_test_seed() seeds this
 * thread as hg_sample_init's seed would for thread index `index`, and
 * hg_sample_test_draw() returns the next countdown it would draw. */
unsigned hg_sample_page_count(uintptr_t address);
void hg_sample_test_seed(uint64_t seed, uint64_t index);
uint64_t hg_sample_test_draw(void);
/* Natural logarithm of x in (0, 1], without libm (the sampler's draws). */
double hg_sample_ln(double x);

#endif /* HEAPGROW_PRELOAD_SAMPLE_H */
