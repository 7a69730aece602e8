/*
 * Frame-pointer walk (HEAPGROW_UNWIND=fp). Follows the chain of saved frame
 * pointers [fp] -> caller's fp, [fp + 8] -> return address, and gives up
 * (the caller, hg_unwind_fp_capture, falls back to the .eh_frame walk of
 * unwind_dwarf.c, which hands what it cannot do to libunwind) as soon as a
 * link leaves the thread's stack, is misaligned or does not move outward, so
 * it never reads memory that is not stack.
 *
 * Code built without frame pointers does not break the chain, it bends it: a
 * function that does not set up %rbp leaves its caller's frame pointer in
 * place, so the walk silently skips its caller (or, if it used %rbp for
 * data, follows garbage). Debian builds libc, libstdc++, libgcc_s and libm
 * without frame pointers, and they allocate for the program (strdup, fopen,
 * std::string, iostreams), so a return address into one of them is trusted
 * only as the last frame of a chain that ends right there (libc's start code
 * calling main or a thread function); anywhere else the stack goes to the
 * .eh_frame walk. Other libraries without frame pointers can still bend the
 * chain unnoticed (documented in the README).
 */
#include "unwind.h"

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* The walk must start from a frame that has a frame pointer. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-omit-frame-pointer")
#endif

/* Set by ld.so: the stack pointer at process start (top of the main stack). */
extern void *__libc_stack_end;

/* [lo, hi) of the loaded libraries known to be built without frame pointers
 * (NOFP_NAMES; libc also found by address), and their hull for a quick
 * rejection. Written once by hg_unwind_fp_init (before the tracer turns
 * ACTIVE); read-only afterwards. */
#define NOFP_MAX 8
static struct {
    uintptr_t lo, hi;
} nofp[NOFP_MAX];
static unsigned nofp_count;
static uintptr_t nofp_lo = UINTPTR_MAX, nofp_hi;
static uintptr_t self_lo, self_hi; /* libheapgrow.so */
static _Atomic uint64_t fallback_count;

static const char *const NOFP_NAMES[] = {"libc.so", "libstdc++.so", "libgcc_s.so", "libm.so"};

static bool has_nofp_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    for (size_t i = 0; i < sizeof NOFP_NAMES / sizeof NOFP_NAMES[0]; i++)
        if (strncmp(base, NOFP_NAMES[i], strlen(NOFP_NAMES[i])) == 0)
            return true;
    return false;
}

static int find_nofp(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t libc_probe = (uintptr_t)arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (start < lo)
            lo = start;
        if (start + ph->p_memsz > hi)
            hi = start + ph->p_memsz;
    }
    bool is_libc = libc_probe >= lo && libc_probe < hi;
    if (lo >= hi || nofp_count == NOFP_MAX ||
        !(is_libc || (info->dlpi_name != NULL && has_nofp_name(info->dlpi_name))))
        return 0;
    nofp[nofp_count].lo = lo;
    nofp[nofp_count].hi = hi;
    nofp_count++;
    if (lo < nofp_lo)
        nofp_lo = lo;
    if (hi > nofp_hi)
        nofp_hi = hi;
    return 0;
}

void hg_unwind_fp_init(uintptr_t tracer_lo, uintptr_t tracer_hi)
{
    self_lo = tracer_lo;
    self_hi = tracer_hi;
    /* getpid's address is libc's own (taken through the GOT): libc is found
     * whatever its file is called. */
    dl_iterate_phdr(find_nofp, (void *)(uintptr_t)&getpid);
}

/* Is a inside a library built without frame pointers? */
static inline bool is_nofp(uintptr_t a)
{
    if (a - nofp_lo >= nofp_hi - nofp_lo)
        return false; /* outside the hull: the program's own code, mostly */
    for (unsigned i = 0; i < nofp_count; i++)
        if (a - nofp[i].lo < nofp[i].hi - nofp[i].lo)
            return true;
    return false;
}

static inline bool is_self(uintptr_t a)
{
    return a - self_lo < self_hi - self_lo;
}

uint64_t hg_unwind_fallback_count(void)
{
    return atomic_load_explicit(&fallback_count, memory_order_relaxed);
}

/* This thread's stack (unwind.h), shared by both walks: computed once per
 * thread. Static initial-exec TLS: nothing registered, nothing to free when
 * the thread ends. A walk starts only from a frame inside it (not on a signal
 * stack, not on a fiber's stack) and never reads past its top; everything
 * between the current frame and the top is mapped. */
__thread uintptr_t hg_unwind_stack_lo __attribute__((tls_model("initial-exec")));
__thread uintptr_t hg_unwind_stack_hi __attribute__((tls_model("initial-exec")));

bool hg_unwind_thread_stack_find(void)
{
    if (syscall(SYS_gettid) == getpid()) {
        /* The main thread (pthread_getattr_np would parse /proc/self/maps):
         * every frame lies below the stack pointer _start received. */
        struct rlimit rl;
        uintptr_t top = (uintptr_t)__libc_stack_end;
        uintptr_t span = (uintptr_t)1 << 30;
        if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < span)
            span = (uintptr_t)rl.rlim_cur;
        hg_unwind_stack_lo = top > span ? top - span : 0;
        hg_unwind_stack_hi = top;
    } else {
        pthread_attr_t attr;
        void *addr;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) != 0)
            return false;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            hg_unwind_stack_lo = (uintptr_t)addr;
            hg_unwind_stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&attr);
    }
    return hg_unwind_stack_hi != 0;
}

/*
 * The walk reached frames[n - 1], a return address into code without frame
 * pointers. It ends well only when the program's frame came right before it
 * (not the tracer's: then libc itself called malloc) and the chain ends here
 * (libc's start code called main or a thread function). Returns n or -1.
 */
static int judge_nofp_end(const uintptr_t *frames, int n, bool is_link_end)
{
    if (n < 2 || !is_link_end)
        return -1; /* the chain bent: libunwind knows the real callers */
    uintptr_t prev = frames[n - 2];
    return is_nofp(prev) || is_self(prev) ? -1 : n;
}

__attribute__((noinline)) int hg_unwind_fp(uintptr_t *frames, int max)
{
    uintptr_t bottom, top;
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    if (!hg_unwind_thread_stack(&bottom, &top) || fp < bottom || fp >= top)
        return -1; /* not on this thread's stack: libunwind knows better */
    /* A link is followed only if it moves outward, stays below the top of
     * the stack (room for the two words read) and is aligned: then every
     * read is inside [this frame, top). */
    uintptr_t last = top - 2 * sizeof(uintptr_t);
    uintptr_t hull_lo = nofp_lo, hull_span = nofp_hi - nofp_lo;
    int n = 0;
    for (;;) {
        const uintptr_t *link = (const uintptr_t *)fp;
        uintptr_t next = link[0];
        uintptr_t ret = link[1];
        if (ret == 0)
            break;
        frames[n++] = ret;
        if (__builtin_expect(ret - hull_lo < hull_span, 0) && !is_self(ret) && is_nofp(ret))
            /* The outermost frame when the chain stops here. */
            return judge_nofp_end(frames, n, next <= fp || next > last);
        if (__builtin_expect(next <= fp || next > last, 0)) {
            if (next == 0)
                break; /* the outermost frame (_start, clone) clears the chain */
            return -1; /* broken in the middle of code with frame pointers */
        }
        if (__builtin_expect((next & (sizeof(uintptr_t) - 1)) != 0, 0))
            return -1;
        if (n == max)
            break;
        fp = next;
    }
    /* A chain that ends right away means the frames above us lack frame
     * pointers: let libunwind do it properly. */
    return n < 3 ? -1 : n;
}

int hg_unwind_fp_capture(void **frames, int max)
{
    int n = hg_unwind_fp((uintptr_t *)frames, max);
    if (__builtin_expect(n >= 0, 1))
        return n;
    atomic_fetch_add_explicit(&fallback_count, 1, memory_order_relaxed);
    hg_log_once(HG_LOG_UNWIND, "HEAPGROW_UNWIND=fp: a frame-pointer chain was broken or passed "
                               "through code built without frame pointers; those stacks are "
                               "unwound from .eh_frame");
    /* Same answer as libunwind, at a fraction of its cost once the rules of
     * the frames involved (operator new, libc) are cached. */
    return hg_unwind_dwarf_capture(frames, max);
}
