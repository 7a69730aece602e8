/*
 * Frame-pointer walk (HEAPGROW_UNWIND=fp). Follows the chain of saved frame
 * pointers [fp] -> caller's fp, [fp + 8] -> return address, and gives up (-1,
 * the caller falls back to libunwind) as soon as a link leaves the thread's
 * stack, is misaligned or does not move outward, so it never reads memory
 * that is not stack. Code built without frame pointers makes the chain break
 * or skip frames; the bound checks catch the first, nothing can catch the
 * second (documented in the README).
 */
#include "unwind.h"

#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The walk must start from a frame that has a frame pointer. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-omit-frame-pointer")
#endif

/* Set by ld.so: the stack pointer at process start (top of the main stack). */
extern void *__libc_stack_end;

/* [lo, hi) of libc's segments: the outermost frames (__libc_start_call_main,
 * start_thread) are libc code built without frame pointers, so a chain that
 * breaks right after a return address into libc has simply reached its end.
 * Written once by hg_unwind_fp_init (before the tracer turns ACTIVE). */
static uintptr_t libc_lo, libc_hi;
static uintptr_t self_lo, self_hi; /* libheapgrow.so */

static int find_range(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t probe = (uintptr_t)arg;
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
    if (probe < lo || probe >= hi)
        return 0;
    libc_lo = lo;
    libc_hi = hi;
    return 1;
}

void hg_unwind_fp_init(uintptr_t tracer_lo, uintptr_t tracer_hi)
{
    self_lo = tracer_lo;
    self_hi = tracer_hi;
    /* getpid's address is libc's own (taken through the GOT). */
    dl_iterate_phdr(find_range, (void *)(uintptr_t)&getpid);
}

static bool in_libc(uintptr_t a)
{
    return a >= libc_lo && a < libc_hi;
}

/* A chain that breaks just after a return into libc ends normally when the
 * frame before it is the program's (main or a thread function called from
 * libc's start code); when it is the tracer's, libc itself called malloc and
 * the walk lost the program's frames. */
static bool is_natural_end(const uintptr_t *frames, int n)
{
    if (n < 2 || !in_libc(frames[n - 1]))
        return false;
    uintptr_t prev = frames[n - 2];
    return !in_libc(prev) && !(prev >= self_lo && prev < self_hi);
}

/* This thread's stack [stack_lo, stack_hi), computed once per thread
 * (stack_hi == 0: not yet). Static initial-exec TLS: nothing registered,
 * nothing to free when the thread ends. A walk starts only from a frame inside
 * it (not on a signal stack, not on a fiber's stack) and never reads past
 * stack_hi; everything between the current frame and stack_hi is mapped. */
static __thread uintptr_t stack_lo __attribute__((tls_model("initial-exec")));
static __thread uintptr_t stack_hi __attribute__((tls_model("initial-exec")));

static bool thread_stack(uintptr_t *lo, uintptr_t *hi)
{
    if (stack_hi == 0) {
        if (syscall(SYS_gettid) == getpid()) {
            /* The main thread (pthread_getattr_np would parse /proc/self/maps):
             * every frame lies below the stack pointer _start received. */
            struct rlimit rl;
            uintptr_t top = (uintptr_t)__libc_stack_end;
            uintptr_t span = (uintptr_t)1 << 30;
            if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
                rl.rlim_cur < span)
                span = (uintptr_t)rl.rlim_cur;
            stack_lo = top > span ? top - span : 0;
            stack_hi = top;
        } else {
            pthread_attr_t attr;
            void *addr;
            size_t size;
            if (pthread_getattr_np(pthread_self(), &attr) != 0)
                return false;
            if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                stack_lo = (uintptr_t)addr;
                stack_hi = (uintptr_t)addr + size;
            }
            pthread_attr_destroy(&attr);
        }
    }
    *lo = stack_lo;
    *hi = stack_hi;
    return stack_hi != 0;
}

__attribute__((noinline)) int hg_unwind_fp(uintptr_t *frames, int max)
{
    uintptr_t bottom, top;
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t lo = fp;
    int n = 0;
    if (!thread_stack(&bottom, &top) || fp < bottom || fp >= top)
        return -1; /* not on this thread's stack: libunwind knows better */
    while (n < max) {
        if ((fp & (sizeof(uintptr_t) - 1)) != 0 || fp < lo || fp > top - 2 * sizeof(uintptr_t)) {
            /* Left the stack: the end when the last frame was libc's start
             * code, a broken chain otherwise. */
            if (is_natural_end(frames, n))
                break;
            return -1;
        }
        const uintptr_t *link = (const uintptr_t *)fp;
        uintptr_t next = link[0];
        uintptr_t ret = link[1];
        if (ret == 0)
            break;
        frames[n++] = ret;
        if (next == 0)
            break; /* the outermost frame (_start, clone) clears the chain */
        if (next <= fp) {
            if (is_natural_end(frames, n))
                break;
            return -1;
        }
        fp = next;
    }
    /* A chain that ends right away means the frames above us lack frame
     * pointers: let libunwind do it properly. */
    return n < 3 ? -1 : n;
}
