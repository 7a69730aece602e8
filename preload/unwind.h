/*
 * Stack capture for the shim: return addresses of the calling thread,
 * innermost first, with the tracer's own frames removed so that frames[0] is
 * the address in the function that called malloc/new. Two unwinders:
 * libunwind's unw_backtrace (default; UNW_LOCAL_ONLY) and a frame-pointer walk
 * (HEAPGROW_UNWIND=fp) that falls back to libunwind when the chain leaves the
 * thread's stack or breaks before its end. Called with the shim guard held:
 * whatever the unwinders allocate is forwarded untraced.
 */
#ifndef HEAPGROW_PRELOAD_UNWIND_H
#define HEAPGROW_PRELOAD_UNWIND_H

#include <stdint.h>

/* Chooses the unwinder (enum hg_unwinder) and records the address range of
 * libheapgrow.so. Call once, from hg_core_init. */
void hg_unwind_init(uint32_t unwinder);

/* Extra room hg_unwind_capture needs in frames[] for the tracer's own frames,
 * which it captures and then removes. */
#define HG_UNWIND_SLACK 8u

/* Captures up to `max` (<= HG_MAX_FRAMES) frames into frames[], which must
 * hold max + HG_UNWIND_SLACK entries, and returns the
 * count (0 when nothing could be unwound). Thread-safe; not async-signal-safe
 * with libunwind (it may allocate, forwarded untraced). */
uint32_t hg_unwind_capture(uintptr_t *frames, uint32_t max);

/* Each unwinder alone, raw (own frames included), for hg_unwind_capture and
 * tests. hg_unwind_fp returns -1 when the chain was unusable. */
int hg_unwind_libunwind(uintptr_t *frames, int max);
int hg_unwind_fp(uintptr_t *frames, int max);

/* Records libc's address range and the tracer's [lo, hi) for hg_unwind_fp
 * (called by hg_unwind_init). */
void hg_unwind_fp_init(uintptr_t tracer_lo, uintptr_t tracer_hi);

/* Number of times the frame-pointer walk fell back to libunwind (tests). */
uint64_t hg_unwind_fallback_count(void);

#endif /* HEAPGROW_PRELOAD_UNWIND_H */
