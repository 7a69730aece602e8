/*
 * libunwind side of unwind.h, and the common entry point hg_unwind_capture()
 * (unwinder choice, removal of the tracer's own frames). Uses the local-only
 * fast path of libunwind (unw_backtrace). Never called without the shim guard.
 */
#define UNW_LOCAL_ONLY
#include "unwind.h"

#include <link.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <libunwind.h>

#include "heapgrow/format.h"

#include "log.h"

/* hg_unwind_capture sits between the shim and the frame-pointer walk: it must
 * keep the chain intact. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-omit-frame-pointer")
#endif

/* Written once by hg_unwind_init (before the tracer turns ACTIVE, which
 * publishes them with release); read-only afterwards. */
static uint32_t chosen_unwinder = HG_UNWIND_LIBUNWIND;
static uintptr_t self_lo, self_hi; /* [lo, hi) of libheapgrow.so's segments */
static _Atomic uint64_t fallback_count;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t probe = (uintptr_t)arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        uintptr_t end = start + ph->p_memsz;
        if (start < lo)
            lo = start;
        if (end > hi)
            hi = end;
    }
    if (probe >= lo && probe < hi) {
        self_lo = lo;
        self_hi = hi;
        return 1;
    }
    return 0;
}

void hg_unwind_init(uint32_t unwinder)
{
    chosen_unwinder = unwinder;
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&hg_unwind_init);
    if (unwinder == HG_UNWIND_FP)
        hg_unwind_fp_init(self_lo, self_hi);
}

int hg_unwind_libunwind(uintptr_t *frames, int max)
{
    return unw_backtrace((void **)frames, max);
}

uint64_t hg_unwind_fallback_count(void)
{
    return atomic_load_explicit(&fallback_count, memory_order_relaxed);
}

uint32_t hg_unwind_capture(uintptr_t *frames, uint32_t max)
{
    /* The tracer's own frames (shim, C++ operators, unwinder) sit innermost;
     * capture them too, then drop them. */
    uintptr_t *buf = frames;
    if (max > HG_MAX_FRAMES)
        max = HG_MAX_FRAMES;
    int want = (int)(max + HG_UNWIND_SLACK);
    int n = -1;
    if (chosen_unwinder == HG_UNWIND_FP) {
        n = hg_unwind_fp(buf, want);
        if (n < 0) {
            atomic_fetch_add_explicit(&fallback_count, 1, memory_order_relaxed);
            hg_log_once(HG_LOG_UNWIND, "HEAPGROW_UNWIND=fp: a frame-pointer chain was broken "
                                       "(code built without frame pointers?); libunwind "
                                       "unwinds those stacks");
        }
    }
    if (n < 0)
        n = hg_unwind_libunwind(buf, want);
    if (n <= 0)
        return 0;
    int skip = 0;
    while (skip < n && buf[skip] >= self_lo && buf[skip] < self_hi)
        skip++;
    uint32_t count = (uint32_t)(n - skip);
    if (count > max)
        count = max;
    if (skip > 0)
        memmove(frames, buf + skip, count * sizeof *frames);
    return count;
}
