/*
 * libunwind side of unwind.h and the unwinder choice (hg_unwind_init). Uses
 * the local-only fast path of libunwind (unw_backtrace, which walks with a
 * per-thread cache of each return address's frame layout). Never called
 * without the shim guard.
 */
#define UNW_LOCAL_ONLY
#include "unwind.h"

#include <link.h>
#include <stdbool.h>

#include <libunwind.h>

#include "heapgrow/format.h"

hg_unwind_conf_t hg_unwind_conf = {.fn = unw_backtrace};

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
        hg_unwind_conf.self_lo = lo;
        hg_unwind_conf.self_hi = hi;
        return 1;
    }
    return 0;
}

void hg_unwind_init(uint32_t unwinder)
{
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&hg_unwind_init);
    /* The default (global) cache serialises every thread's cache misses on
     * one lock, taken with all signals blocked (two sigprocmask calls per
     * step); per-thread caches need neither. unw_backtrace's own frame cache
     * is per-thread already. */
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    if (unwinder == HG_UNWIND_FP) {
        hg_unwind_fp_init(hg_unwind_conf.self_lo, hg_unwind_conf.self_hi);
        hg_unwind_conf.fn = hg_unwind_fp_capture;
    } else if (unwinder == HG_UNWIND_DWARF) {
        hg_unwind_conf.fn = hg_unwind_dwarf_capture;
    } else {
        hg_unwind_conf.fn = unw_backtrace;
    }
}

int hg_unwind_libunwind(void **frames, int max)
{
    return unw_backtrace(frames, max);
}
