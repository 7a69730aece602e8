/*
 * Stack capture for the shim: return addresses of the calling thread,
 * innermost first, with the tracer's own frames removed so that the first is
 * the address in the function that called malloc/new. Three unwinders: the
 * default walk over cached .eh_frame rules (HEAPGROW_UNWIND=dwarf,
 * unwind_dwarf.c), which gives libunwind's answer and hands it the stacks it
 * cannot do; libunwind's unw_backtrace on every stack (libunwind;
 * UNW_LOCAL_ONLY); and a frame-pointer walk (fp) that falls back to the
 * .eh_frame walk when the chain leaves the thread's stack, breaks before its
 * end, or passes through code built without frame pointers (libc,
 * libstdc++). Called with the shim guard held: whatever the unwinders
 * allocate is forwarded untraced.
 *
 * Every frame costs the walk time, so the tracer's own frames are kept few:
 * hg_unwind_capture() is inlined into the interposed function (malloc,
 * operator new...), which calls the unwinder through one pointer; the frames
 * inside libheapgrow.so are then removed by address.
 */
#ifndef HEAPGROW_PRELOAD_UNWIND_H
#define HEAPGROW_PRELOAD_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

#include "heapgrow/format.h"

/* An unwinder: fills frames[0..max) with return addresses, innermost first
 * (starting with its caller's), returns the count (<= 0: none). */
typedef int (*hg_unwind_fn)(void **frames, int max);

/* Written once by hg_unwind_init (before the tracer turns ACTIVE, which
 * publishes it with release); read-only afterwards. */
typedef struct hg_unwind_conf {
    hg_unwind_fn fn;            /* unw_backtrace or hg_unwind_fp_capture */
    uintptr_t self_lo, self_hi; /* [lo, hi) of libheapgrow.so's segments */
} hg_unwind_conf_t;

extern hg_unwind_conf_t hg_unwind_conf;

/* Chooses the unwinder (enum hg_unwinder), records the address range of
 * libheapgrow.so and sets libunwind's per-thread caching. Call once, from
 * hg_core_init. */
void hg_unwind_init(uint32_t unwinder);

/* Extra room hg_unwind_capture needs in frames[] for the tracer's own frames,
 * which it captures and then skips. */
#define HG_UNWIND_SLACK 8u

/* Captures up to `max` (<= HG_MAX_FRAMES) frames into frames[], which must
 * hold max + HG_UNWIND_SLACK entries. Returns the count and sets *first to
 * the index of the first frame that is not the tracer's (the frames are
 * frames[*first .. *first + count)); 0 when nothing could be unwound.
 * Always inlined, so that the interposed function calling it is the tracer's
 * only frame. Thread-safe; not async-signal-safe with libunwind (it may
 * allocate, forwarded untraced). */
static inline __attribute__((always_inline)) uint32_t
hg_unwind_capture(uintptr_t *frames, uint32_t max, uint32_t *first)
{
    if (max > HG_MAX_FRAMES)
        max = HG_MAX_FRAMES;
    int n = hg_unwind_conf.fn((void **)frames, (int)(max + HG_UNWIND_SLACK));
    uintptr_t lo = hg_unwind_conf.self_lo, span = hg_unwind_conf.self_hi - lo;
    int skip = 0;
    while (skip < n && frames[skip] - lo < span)
        skip++;
    *first = (uint32_t)skip;
    uint32_t count = n > skip ? (uint32_t)(n - skip) : 0;
    return count < max ? count : max;
}

/* Each unwinder alone, raw (own frames included), for tests.
 * hg_unwind_libunwind is unw_backtrace; hg_unwind_fp returns -1 when the chain
 * was unusable (the caller falls back); hg_unwind_fp_capture is the fp mode's
 * hg_unwind_fn: the walk, or hg_unwind_dwarf_capture when the walk cannot be
 * trusted. */
int hg_unwind_libunwind(void **frames, int max);
int hg_unwind_fp(uintptr_t *frames, int max);
int hg_unwind_fp_capture(void **frames, int max);

/* Records the address ranges hg_unwind_fp needs: the tracer's [lo, hi), libc's
 * and those of the other loaded libraries built without frame pointers
 * (called by hg_unwind_init). */
void hg_unwind_fp_init(uintptr_t tracer_lo, uintptr_t tracer_hi);

/* Number of times the frame-pointer walk fell back to the .eh_frame walk
 * (tests). */
uint64_t hg_unwind_fallback_count(void);

/* This thread's stack [lo, hi), hi == 0 until found (unwind_fp.c). */
extern __thread uintptr_t hg_unwind_stack_lo __attribute__((tls_model("initial-exec")));
extern __thread uintptr_t hg_unwind_stack_hi __attribute__((tls_model("initial-exec")));

/* Finds this thread's stack; false when it cannot (called once per thread). */
bool hg_unwind_thread_stack_find(void);

/* This thread's stack [*lo, *hi); false when unknown (the walks then leave
 * the stack to libunwind). Two thread-local loads once found. */
static inline bool hg_unwind_thread_stack(uintptr_t *lo, uintptr_t *hi)
{
    if (__builtin_expect(hg_unwind_stack_hi == 0, 0) && !hg_unwind_thread_stack_find())
        return false;
    *lo = hg_unwind_stack_lo;
    *hi = hg_unwind_stack_hi;
    return true;
}

/* The default unwinder (unwind_dwarf.c): libunwind's fast trace with a shared
 * cache of the plain .eh_frame rules. hg_unwind_dwarf is the walk alone (own
 * frames included; -1 when a frame needs libunwind), hg_unwind_dwarf_capture
 * the hg_unwind_fn (the walk, or libunwind). */
int hg_unwind_dwarf(uintptr_t *frames, int max);
int hg_unwind_dwarf_capture(void **frames, int max);

/* Code was unmapped (dlclose): cached rules are not used again. */
void hg_unwind_dwarf_forget(void);

/* Number of stacks the walk handed to libunwind (tests). */
uint64_t hg_unwind_dwarf_fallback_count(void);

#endif /* HEAPGROW_PRELOAD_UNWIND_H */
