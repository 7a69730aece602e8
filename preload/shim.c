/*
 * The interposed symbols: the malloc family, the C++ operators new/delete in
 * all their forms, dlopen/dlclose, _exit/_Exit and exec*. Each forwards to the next
 * definition (real.h) and, when the tracer is ACTIVE and this thread is not
 * already inside it, records the allocation: stack (unwind.h) -> stack id
 * (stack_table.h) -> live entry (live_table.h) + the stack's counters. In
 * sampling mode (sample.h) only the allocations that hold a sample point are
 * recorded, and a free consults the page map before the live table.
 *
 * Contracts kept (STYLE.md §4): errno is whatever the real allocator left
 * (our work is bracketed by save/restore); free() erases before forwarding;
 * realloc() detaches first and re-attaches on failure with size > 0;
 * calloc/reallocarray overflow -> NULL + ENOMEM; posix_memalign returns the
 * code and leaves *memptr alone on error. Nothing here takes a lock.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "heapgrow/format.h"

#include "arena.h"
#include "core.h"
#include "counts.h"
#include "guard.h"
#include "log.h"
#include "real.h"
#include "sample.h"
#include "unwind.h"
#include "writer.h"

/* HEAPGROW_UNWIND=fp walks frame pointers through these functions. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-omit-frame-pointer")
#endif

#define PAGE_BYTES 4096u

/* ------------------------------------------------------------------------ */
/* Tracing                                                                   */

/* True when this call should be recorded: the tracer is ACTIVE and this
 * thread is not inside it. Runs the lazy initialisation on the first call. */
static inline bool should_trace(void)
{
    if (hg_guard_is_set())
        return false;
    /* acquire: pairs with the release store of the state in hg_core_init() */
    int state = atomic_load_explicit(&hg_core.state, memory_order_acquire);
    if (__builtin_expect(state == HG_STATE_UNINIT, 0))
        state = hg_core_init();
    return state == HG_STATE_ACTIVE;
}

static void count_dropped(int code, const char *msg)
{
    atomic_fetch_add_explicit(&hg_core.dropped_count, 1, memory_order_relaxed);
    if (hg_log_once(code, msg))
        hg_writer_warn(code, msg);
}

/* Puts e into the live table, and into the page map when sampling. False
 * (and the drop counted, said once) when either has no room. */
static bool track(const hg_live_entry_t *e)
{
    bool is_sampling = hg_sample_rate() != 0;
    if (is_sampling && hg_sample_mark(e->address, e->stack_id) != 0) {
        count_dropped(HG_WARN_ARENA, "internal memory exhausted; allocations go untraced");
        return false;
    }
    if (hg_live_insert(hg_core.live, e) != 0) {
        if (is_sampling)
            hg_sample_unmark(e->address);
        count_dropped(HG_WARN_LIVE_FULL, "live table cannot take an entry (it cannot grow, or "
                                         "a block of 512 GiB or more); allocations go untraced");
        return false;
    }
    return true;
}

/* Records p (non-NULL) of `size` requested bytes, allocated from the stack
 * frames[0..n). Guard held by the caller; errno saved by the caller. */
static void record(void *p, size_t size, const uintptr_t *frames, uint32_t n)
{
    uint32_t id = 0;
    if (n > 0) {
        id = hg_stack_intern(hg_core.stacks, frames, n);
        if (id == 0 && hg_log_once(HG_WARN_STACK_FULL, "stack table full; new stacks are "
                                                       "counted as unknown"))
            hg_writer_warn(HG_WARN_STACK_FULL, "stack table full");
    }
    hg_live_entry_t e = {
        .address = (uintptr_t)p,
        .size = size,
        .stack_id = id,
        .alloc_time_ms = hg_core_clock_ms(),
    };
    if (!track(&e))
        return;
    if (hg_sample_rate() != 0)
        hg_sample_count(&e, +1, true);
    hg_counts_alloc(id, size);
}

/* Removes p from the live table (if traced) and returns whether it was. */
static bool untrack(void *p, hg_live_entry_t *out)
{
    if (!hg_live_erase(hg_core.live, (uintptr_t)p, out))
        return false;
    if (hg_sample_rate() != 0) {
        hg_sample_unmark(out->address);
        hg_sample_count(out, -1, false);
    }
    hg_counts_free(out->stack_id, out->size);
    return true;
}

/* Puts back entry e of a block that a failed realloc left allocated: undoes
 * untrack(). errno saved by the caller. */
static void retrack(const hg_live_entry_t *e)
{
    if (!track(e))
        return;
    if (hg_sample_rate() != 0)
        hg_sample_count(e, +1, false);
    hg_counts_free_undo(e->stack_id, e->size);
}

/*
 * Records the result of an allocation call made with the guard held. Always
 * inlined, down to the unwinder call, into the interposed function: the
 * tracer then adds one frame to every stack libunwind walks (see unwind.h).
 * So are the do_* helpers below that call it.
 */
#define HG_INLINE static inline __attribute__((always_inline))

HG_INLINE void *finish_alloc(void *p, size_t size)
{
    if (p != NULL) {
        int saved = errno;
        /* The insert's cache miss (large tables) overlaps with the unwinding. */
        hg_live_prefetch(hg_core.live, (uintptr_t)p);
        uintptr_t frames[HG_MAX_FRAMES + HG_UNWIND_SLACK];
        uint32_t first;
        uint32_t n = hg_unwind_capture(frames, hg_core.cfg.max_frames, &first);
        record(p, size, frames + first, n);
        errno = saved;
    }
    return p;
}

/* The bootstrap answer to a request made before dlsym answered. */
static void *boot_alloc(size_t size, size_t align)
{
    void *p = hg_real_boot_alloc(size, align);
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

static inline bool is_ready(void)
{
    return hg_real_is_ready() || hg_real_resolve();
}

/* ------------------------------------------------------------------------ */
/* The malloc family                                                         */

HG_INLINE void *do_malloc(size_t size)
{
    if (__builtin_expect(!is_ready(), 0))
        return boot_alloc(size, 16);
    if (!should_trace() || hg_sample_skip(size))
        return hg_real.malloc(size);
    bool was = hg_guard_enter();
    void *p = finish_alloc(hg_real.malloc(size), size);
    hg_guard_leave(was);
    return p;
}

__attribute__((noinline)) static void do_free(void *p)
{
    if (p == NULL || hg_real_is_boot(p))
        return; /* free(NULL) is a no-op; bootstrap blocks are never reused */
    if (__builtin_expect(!hg_real_is_ready(), 0))
        return; /* cannot happen: only the bootstrap exists before */
    /* Reached from front_free only, which already asked the page map. */
    if (!should_trace()) {
        hg_real.free(p);
        return;
    }
    bool was = hg_guard_enter();
    int saved = errno;
    hg_live_entry_t e;
    /* Erase before the real free: once freed, the address can be handed out
     * again (to another thread) and inserted anew. */
    untrack(p, &e);
    errno = saved;
    hg_real.free(p);
    hg_guard_leave(was);
}

/* Sampling mode's front doors (sample.h): an allocation without a sample
 * point, a free of a block that certainly was not sampled, go to the next
 * allocator here, before any other work, so that this path is a few
 * instructions and a tail call. In exact mode the check is one thread-local
 * load and a branch (the countdown is 0). The traced path is out of line
 * (traced_malloc, do_free) so that its frame setup (the unwinder's buffer,
 * saved registers) stays off the fast path; it is reached by a tail call, so
 * it replaces the interposed function's frame and stays the tracer's only
 * frame on the stack the unwinder walks (unwind.h). */
__attribute__((noinline)) static void *traced_malloc(size_t size)
{
    return do_malloc(size);
}

HG_INLINE void *front_malloc(size_t size)
{
    if (hg_sample_fast_skip(size))
        return hg_real.malloc(size);
    return traced_malloc(size);
}

HG_INLINE void front_free(void *p)
{
    if (hg_sample_fast_free(p)) {
        hg_real.free(p);
        return;
    }
    do_free(p);
}

/* Aligned allocation through the best primitive the next allocator has;
 * returns NULL with errno set like memalign. */
static void *real_aligned(size_t align, size_t size)
{
    return hg_real.memalign(align, size);
}

HG_INLINE void *do_realloc(void *p, size_t size, size_t nmemb, size_t elem, bool is_array)
{
    if (p != NULL && hg_real_is_boot(p)) {
        /* Copy out of the bootstrap arena (the old block is simply left). */
        if (size == 0)
            return NULL; /* glibc semantics: realloc(p, 0) frees p */
        void *q = do_malloc(size);
        if (q != NULL) {
            size_t old = hg_real_boot_size(p);
            memcpy(q, p, old < size ? old : size);
        }
        return q;
    }
    if (__builtin_expect(!is_ready(), 0)) {
        if (p == NULL)
            return boot_alloc(size, 16);
        errno = ENOMEM;
        return NULL;
    }
    void *(*next_realloc)(void *, size_t) = hg_real.realloc;
    bool is_traced = should_trace();
    /* Sampling: the new block is recorded only if it holds a sample point,
     * the old one is looked up only if the page map says it may be ours. */
    bool is_sampled = is_traced && !hg_sample_skip(size);
    if (!is_traced || (!is_sampled && (p == NULL || !hg_sample_may_hold(p))))
        return is_array && hg_real.reallocarray != NULL ? hg_real.reallocarray(p, nmemb, elem)
                                                        : next_realloc(p, size);
    bool was = hg_guard_enter();
    int saved = errno;
    hg_live_entry_t old;
    /* Detach first: on success the old address may be reused at once. */
    bool had = p != NULL && hg_sample_may_hold(p) && untrack(p, &old);
    errno = saved;
    void *q = is_array && hg_real.reallocarray != NULL ? hg_real.reallocarray(p, nmemb, elem)
                                                       : next_realloc(p, size);
    if (q != NULL) {
        if (is_sampled)
            q = finish_alloc(q, size);
    } else if (had && size > 0) {
        /* Failed: p is still allocated and still ours. */
        saved = errno;
        retrack(&old);
        errno = saved;
    }
    /* q == NULL with size == 0: realloc freed p (glibc); nothing to restore. */
    hg_guard_leave(was);
    return q;
}

HG_EXPORT void *malloc(size_t size)
{
    return front_malloc(size);
}

HG_EXPORT void free(void *p)
{
    front_free(p);
}

/* calloc past its front door (see front_malloc); total = nmemb * size. */
__attribute__((noinline)) static void *traced_calloc(size_t nmemb, size_t size, size_t total)
{
    if (__builtin_expect(!is_ready(), 0))
        return boot_alloc(total, 16); /* .bss: already zero */
    if (!should_trace() || hg_sample_skip(total))
        return hg_real.calloc(nmemb, size);
    bool was = hg_guard_enter();
    void *p = finish_alloc(hg_real.calloc(nmemb, size), total);
    hg_guard_leave(was);
    return p;
}

HG_EXPORT void *calloc(size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (hg_sample_fast_skip(total))
        return hg_real.calloc(nmemb, size);
    return traced_calloc(nmemb, size, total);
}

HG_EXPORT void *realloc(void *p, size_t size)
{
    return do_realloc(p, size, 0, 0, false);
}

HG_EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return do_realloc(p, total, nmemb, size, true);
}

static bool is_valid_memalign(size_t align)
{
    return align >= sizeof(void *) && (align & (align - 1)) == 0;
}

HG_EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
{
    if (__builtin_expect(!is_ready(), 0)) {
        if (!is_valid_memalign(align))
            return EINVAL;
        void *p = hg_real_boot_alloc(size, align);
        if (p == NULL)
            return ENOMEM;
        *memptr = p;
        return 0;
    }
    if (!should_trace() || hg_sample_skip(size))
        return hg_real.posix_memalign(memptr, align, size);
    bool was = hg_guard_enter();
    void *p = NULL;
    int rc = hg_real.posix_memalign(&p, align, size);
    if (rc == 0) {
        *memptr = finish_alloc(p, size);
    }
    hg_guard_leave(was);
    return rc;
}

/* Shared body of aligned_alloc, memalign, valloc and pvalloc: `fn` is the
 * next allocator's function, or NULL to use memalign(align, size). */
HG_INLINE void *do_aligned(void *(*fn)(size_t, size_t), size_t align, size_t size)
{
    if (__builtin_expect(!is_ready(), 0)) {
        if (align == 0 || (align & (align - 1)) != 0 || align > PAGE_BYTES) {
            errno = EINVAL;
            return NULL;
        }
        return boot_alloc(size, align);
    }
    if (fn == NULL)
        fn = real_aligned;
    if (!should_trace() || hg_sample_skip(size))
        return fn(align, size);
    bool was = hg_guard_enter();
    void *p = finish_alloc(fn(align, size), size);
    hg_guard_leave(was);
    return p;
}

HG_EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return do_aligned(hg_real_is_ready() ? hg_real.aligned_alloc : NULL, align, size);
}

HG_EXPORT void *memalign(size_t align, size_t size)
{
    return do_aligned(NULL, align, size);
}

static void *next_valloc(size_t align, size_t size)
{
    (void)align;
    return hg_real.valloc(size);
}

static void *next_pvalloc(size_t align, size_t size)
{
    (void)align;
    return hg_real.pvalloc(size);
}

HG_EXPORT void *valloc(size_t size)
{
    bool has = hg_real_is_ready() && hg_real.valloc != NULL;
    return do_aligned(has ? next_valloc : NULL, PAGE_BYTES, size);
}

HG_EXPORT void *pvalloc(size_t size)
{
    if (hg_real_is_ready() && hg_real.pvalloc != NULL)
        return do_aligned(next_pvalloc, PAGE_BYTES, size);
    /* No pvalloc below: round up to whole pages ourselves. */
    size_t rounded = (size + PAGE_BYTES - 1) & ~(size_t)(PAGE_BYTES - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return do_aligned(NULL, PAGE_BYTES, rounded == 0 ? PAGE_BYTES : rounded);
}

HG_EXPORT size_t malloc_usable_size(void *p)
{
    if (p == NULL)
        return 0;
    if (hg_real_is_boot(p))
        return hg_real_boot_size(p);
    if (!hg_real_is_ready() || hg_real.malloc_usable_size == NULL)
        return 0;
    return hg_real.malloc_usable_size(p);
}

/* ------------------------------------------------------------------------ */
/* C++ operators new and delete (Itanium C++ ABI names, 64-bit size_t)       */

/*
 * new/new[] allocate through the same path as malloc, so a program that uses
 * both sees one allocator. On failure, the request is handed to the next
 * definition of the same operator (libstdc++'s, or tcmalloc's/jemalloc's):
 * it runs the std::new_handler loop and throws std::bad_alloc (or returns
 * NULL for the nothrow forms) exactly as the standard requires; an allocation
 * that succeeds there comes back through our malloc and is recorded. Without
 * a next definition (no C++ runtime, cannot happen for a C++ caller) NULL is
 * returned.
 */
typedef void *(*new_fn)(size_t);
typedef void *(*new_nt_fn)(size_t, const void *);
typedef void *(*new_al_fn)(size_t, size_t);
typedef void *(*new_al_nt_fn)(size_t, size_t, const void *);

static void *next_op(const char *name)
{
    bool was = hg_guard_enter();
    void *fn = hg_real_sym(name);
    hg_guard_leave(was);
    return fn;
}

/* operator new(size) proper: C++ requires a unique pointer for size 0, which
 * malloc(0) gives with glibc, jemalloc and tcmalloc; if an allocator returns
 * NULL for 0, ask for one byte. */
static void *new_plain(size_t size)
{
    /* The front door of malloc, with the traced path inlined: this call is
     * not a tail call, so an out-of-line one would add a tracer frame. */
    void *p = hg_sample_fast_skip(size) ? hg_real.malloc(size) : do_malloc(size);
    if (p == NULL && size == 0)
        p = do_malloc(1);
    return p;
}

static void *new_aligned(size_t size, size_t align)
{
    if (align < sizeof(void *))
        align = sizeof(void *);
    void *p = NULL;
    if (posix_memalign(&p, align, size == 0 ? 1 : size) != 0)
        return NULL;
    return p;
}

#define DEFINE_NEW(sym)                                                                            \
    HG_EXPORT void *sym(size_t size);                                                              \
    HG_EXPORT void *sym(size_t size)                                                               \
    {                                                                                              \
        void *p = new_plain(size);                                                                 \
        if (__builtin_expect(p != NULL, 1))                                                        \
            return p;                                                                              \
        new_fn next = (new_fn)next_op(#sym);                                                       \
        return next != NULL ? next(size) : NULL;                                                   \
    }

#define DEFINE_NEW_NOTHROW(sym)                                                                    \
    HG_EXPORT void *sym(size_t size, const void *nt);                                              \
    HG_EXPORT void *sym(size_t size, const void *nt)                                               \
    {                                                                                              \
        void *p = new_plain(size);                                                                 \
        if (__builtin_expect(p != NULL, 1))                                                        \
            return p;                                                                              \
        new_nt_fn next = (new_nt_fn)next_op(#sym);                                                 \
        return next != NULL ? next(size, nt) : NULL;                                               \
    }

#define DEFINE_NEW_ALIGNED(sym)                                                                    \
    HG_EXPORT void *sym(size_t size, size_t align);                                                \
    HG_EXPORT void *sym(size_t size, size_t align)                                                 \
    {                                                                                              \
        void *p = new_aligned(size, align);                                                        \
        if (__builtin_expect(p != NULL, 1))                                                        \
            return p;                                                                              \
        new_al_fn next = (new_al_fn)next_op(#sym);                                                 \
        return next != NULL ? next(size, align) : NULL;                                            \
    }

#define DEFINE_NEW_ALIGNED_NOTHROW(sym)                                                            \
    HG_EXPORT void *sym(size_t size, size_t align, const void *nt);                                \
    HG_EXPORT void *sym(size_t size, size_t align, const void *nt)                                 \
    {                                                                                              \
        void *p = new_aligned(size, align);                                                        \
        if (__builtin_expect(p != NULL, 1))                                                        \
            return p;                                                                              \
        new_al_nt_fn next = (new_al_nt_fn)next_op(#sym);                                           \
        return next != NULL ? next(size, align, nt) : NULL;                                        \
    }

/* new(size_t), new[](size_t) */
DEFINE_NEW(_Znwm)
DEFINE_NEW(_Znam)
/* new(size_t, const std::nothrow_t &), and [] */
DEFINE_NEW_NOTHROW(_ZnwmRKSt9nothrow_t)
DEFINE_NEW_NOTHROW(_ZnamRKSt9nothrow_t)
/* new(size_t, std::align_val_t), and [] (C++17) */
DEFINE_NEW_ALIGNED(_ZnwmSt11align_val_t)
DEFINE_NEW_ALIGNED(_ZnamSt11align_val_t)
/* new(size_t, std::align_val_t, const std::nothrow_t &), and [] */
DEFINE_NEW_ALIGNED_NOTHROW(_ZnwmSt11align_val_tRKSt9nothrow_t)
DEFINE_NEW_ALIGNED_NOTHROW(_ZnamSt11align_val_tRKSt9nothrow_t)

/* Every delete form frees: sizes and alignments are hints to the allocator,
 * and free() accepts memory from memalign/posix_memalign. */
#define DEFINE_DELETE(sym, ...)                                                                    \
    HG_EXPORT void sym(void *p, ##__VA_ARGS__);                                                    \
    HG_EXPORT void sym(void *p, ##__VA_ARGS__)                                                     \
    {                                                                                              \
        front_free(p);                                                                             \
    }

/* The size/alignment/nothrow parameters are part of the ABI, unused here. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
DEFINE_DELETE(_ZdlPv)               /* delete(void *)        */
DEFINE_DELETE(_ZdaPv)               /* delete[](void *)      */
DEFINE_DELETE(_ZdlPvm, size_t size) /* sized (C++14)         */
DEFINE_DELETE(_ZdaPvm, size_t size)
DEFINE_DELETE(_ZdlPvRKSt9nothrow_t, const void *nt) /* nothrow               */
DEFINE_DELETE(_ZdaPvRKSt9nothrow_t, const void *nt)
DEFINE_DELETE(_ZdlPvSt11align_val_t, size_t align) /* aligned (C++17)       */
DEFINE_DELETE(_ZdaPvSt11align_val_t, size_t align)
DEFINE_DELETE(_ZdlPvmSt11align_val_t, size_t size, size_t align) /* sized + aligned       */
DEFINE_DELETE(_ZdaPvmSt11align_val_t, size_t size, size_t align)
DEFINE_DELETE(_ZdlPvSt11align_val_tRKSt9nothrow_t, size_t align, const void *nt)
DEFINE_DELETE(_ZdaPvSt11align_val_tRKSt9nothrow_t, size_t align, const void *nt)
#pragma GCC diagnostic pop

/* ------------------------------------------------------------------------ */
/* The loader                                                                */

/*
 * dlopen must look as if the program called libc's dlopen itself: glibc takes
 * the caller's return address to decide whose RUNPATH/RPATH to search, what
 * $ORIGIN means and which namespace to load into. A C wrapper would make the
 * tracer the caller (a program that loads plugins by bare name through its
 * RUNPATH would fail), so on x86-64 dlopen is a trampoline: it asks
 * hg_shim_dlopen_mode() for the flags, then jumps to the next dlopen with the
 * caller's return address still on the stack. The module map change is
 * signalled before the call; the writer also notices it by itself
 * (dl_iterate_phdr's adds/subs counters), so nothing is missed.
 */
typedef void *(*dlopen_fn)(const char *, int);
/* Where the trampoline jumps. Every dlopen stores the same value once the
 * next allocator is known; relaxed atomics keep concurrent calls well
 * defined (the trampoline's plain 8-byte load is atomic on x86-64). */
_Atomic(dlopen_fn) hg_shim_next_dlopen __attribute__((visibility("hidden")));
int hg_shim_dlopen_mode(int mode) __attribute__((visibility("hidden"), used));

static void *dlopen_unavailable(const char *file, int mode)
{
    (void)file;
    (void)mode;
    return NULL;
}

/* Returns the flags to use (RTLD_DEEPBIND dropped) and sets
 * hg_shim_next_dlopen. errno is preserved. */
int hg_shim_dlopen_mode(int mode)
{
    int saved = errno;
    dlopen_fn next = is_ready() && hg_real.dlopen != NULL ? hg_real.dlopen : dlopen_unavailable;
    atomic_store_explicit(&hg_shim_next_dlopen, next, memory_order_relaxed);
    int state = atomic_load_explicit(&hg_core.state, memory_order_acquire);
    if ((mode & RTLD_DEEPBIND) && state != HG_STATE_PASSIVE) {
        /* RTLD_DEEPBIND makes the library resolve malloc & co. in its own
         * dependencies first (libc), bypassing the tracer: its frees of our
         * pointers would go untraced and its allocations unseen. */
        mode &= ~RTLD_DEEPBIND;
        if (hg_log_once(HG_WARN_DEEPBIND, "dlopen(RTLD_DEEPBIND): flag dropped so that the "
                                          "library's allocations stay traced"))
            hg_writer_warn(HG_WARN_DEEPBIND, "dlopen RTLD_DEEPBIND flag dropped");
    }
    if (state == HG_STATE_ACTIVE)
        hg_writer_modules_changed();
    errno = saved;
    return mode;
}

#if defined(__x86_64__)
/* The stack is 16-byte aligned at the call after one push (entry: 8 mod 16). */
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, @function\n"
        "dlopen:\n"
        "    .cfi_startproc\n"
#ifdef __CET__
        "    endbr64\n"
#endif
        "    pushq %rdi\n"
        "    .cfi_adjust_cfa_offset 8\n"
        "    movl %esi, %edi\n"
        "    call hg_shim_dlopen_mode\n"
        "    movl %eax, %esi\n"
        "    popq %rdi\n"
        "    .cfi_adjust_cfa_offset -8\n"
        "    jmp *hg_shim_next_dlopen(%rip)\n"
        "    .cfi_endproc\n"
        ".size dlopen, .-dlopen\n");
#else
/* Elsewhere a C wrapper: the caller seen by the loader is the tracer. */
HG_EXPORT void *dlopen(const char *file, int mode)
{
    mode = hg_shim_dlopen_mode(mode);
    return atomic_load_explicit(&hg_shim_next_dlopen, memory_order_relaxed)(file, mode);
}
#endif

HG_EXPORT int dlclose(void *handle)
{
    if (!is_ready())
        return -1;
    int rc = hg_real.dlclose(handle);
    /* Code may be gone, and other code mapped where it was. */
    hg_unwind_dwarf_forget();
    if (atomic_load_explicit(&hg_core.state, memory_order_acquire) == HG_STATE_ACTIVE) {
        int saved = errno;
        hg_writer_modules_changed();
        errno = saved;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* _exit and _Exit: the END record with reason HG_END_UEXIT                  */

static void uexit_finish(int status)
{
    if (atomic_load_explicit(&hg_core.state, memory_order_acquire) != HG_STATE_ACTIVE)
        return;
    /* A vfork child shares the parent's memory: never finish the parent's
     * trace from it. */
    if ((int)syscall(SYS_getpid) != hg_core_owner_pid())
        return;
    bool was = hg_guard_enter();
    hg_writer_finish(HG_END_UEXIT, status);
    hg_guard_leave(was);
}

HG_EXPORT void _exit(int status)
{
    uexit_finish(status);
    if (hg_real_is_ready())
        hg_real.exit_(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

HG_EXPORT void _Exit(int status)
{
    uexit_finish(status);
    if (hg_real_is_ready() && hg_real.Exit_ != NULL)
        hg_real.Exit_(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

/* ------------------------------------------------------------------------ */
/* exec*: the END record with reason HG_END_EXEC                             */

/*
 * exec replaces the image without running exit handlers, so the trace would
 * end without its last snapshot, live set and END record. The exec family is
 * interposed to finish the trace first. A failed exec would leave the process
 * untraced from then on, so the trace is finished only when the call is
 * likely to succeed: the file (or a PATH candidate for the p variants) is
 * executable. glibc's execl* and execvp* call execve internally, not through
 * the PLT, hence one wrapper per public name.
 */
extern char **environ;

static bool is_exec_candidate(const char *file, bool is_path_search)
{
    if (file == NULL || file[0] == '\0')
        return false;
    if (!is_path_search || strchr(file, '/') != NULL)
        return access(file, X_OK) == 0;
    const char *path = NULL;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, "PATH=", 5) == 0) {
            path = *e + 5;
            break;
        }
    }
    if (path == NULL)
        path = "/bin:/usr/bin";
    size_t file_len = strlen(file);
    char buf[HG_PATH_MAX];
    while (*path != '\0') {
        const char *colon = strchr(path, ':');
        size_t dir_len = colon != NULL ? (size_t)(colon - path) : strlen(path);
        if (dir_len == 0) {
            buf[0] = '.';
            dir_len = 1;
        } else if (dir_len < sizeof buf) {
            memcpy(buf, path, dir_len);
        }
        if (dir_len + 1 + file_len < sizeof buf) {
            buf[dir_len] = '/';
            memcpy(buf + dir_len + 1, file, file_len + 1);
            if (access(buf, X_OK) == 0)
                return true;
        }
        if (colon == NULL)
            break;
        path = colon + 1;
    }
    return false;
}

static void exec_finish(const char *file, bool is_path_search)
{
    if (atomic_load_explicit(&hg_core.state, memory_order_acquire) != HG_STATE_ACTIVE)
        return;
    /* A vfork child must not finish its parent's trace. */
    if ((int)syscall(SYS_getpid) != hg_core_owner_pid())
        return;
    int saved = errno;
    bool was = hg_guard_enter();
    if (is_exec_candidate(file, is_path_search))
        hg_writer_finish(HG_END_EXEC, 0);
    hg_guard_leave(was);
    errno = saved;
}

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execv_fn)(const char *, char *const[]);

static void *exec_next(const char *name)
{
    void *fn = next_op(name);
    if (fn == NULL)
        errno = ENOSYS;
    return fn;
}

HG_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    exec_finish(path, false);
    execve_fn next = (execve_fn)exec_next("execve");
    return next != NULL ? next(path, argv, envp) : -1;
}

HG_EXPORT int execv(const char *path, char *const argv[])
{
    exec_finish(path, false);
    execv_fn next = (execv_fn)exec_next("execv");
    return next != NULL ? next(path, argv) : -1;
}

HG_EXPORT int execvp(const char *file, char *const argv[])
{
    exec_finish(file, true);
    execv_fn next = (execv_fn)exec_next("execvp");
    return next != NULL ? next(file, argv) : -1;
}

HG_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    exec_finish(file, true);
    execve_fn next = (execve_fn)exec_next("execvpe");
    return next != NULL ? next(file, argv, envp) : -1;
}

HG_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    if (fd >= 0)
        exec_finish("/", false); /* "/" is always searchable: finish */
    int (*next)(int, char *const[], char *const[]) =
        (int (*)(int, char *const[], char *const[]))exec_next("fexecve");
    return next != NULL ? next(fd, argv, envp) : -1;
}

/* Collects the variadic arguments of execl* (arg0 first, up to the NULL) into
 * an array from the arena; *envp_out receives execle's trailing envp. NULL
 * (errno set) when the arena is exhausted. */
static char **collect_args(const char *arg0, va_list ap, bool has_envp, char *const **envp_out)
{
    va_list count_ap;
    va_copy(count_ap, ap);
    size_t n = 1;
    if (arg0 != NULL)
        while (va_arg(count_ap, const char *) != NULL)
            n++;
    va_end(count_ap);
    char **argv = hg_arena_alloc((n + 1) * sizeof *argv, sizeof *argv);
    if (argv == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    argv[0] = (char *)arg0;
    for (size_t i = 1; i < n; i++)
        argv[i] = va_arg(ap, char *);
    if (arg0 != NULL)
        (void)va_arg(ap, char *); /* the terminating NULL */
    argv[n] = NULL;
    if (has_envp)
        *envp_out = va_arg(ap, char *const *);
    return argv;
}

HG_EXPORT int execl(const char *path, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    char **argv = collect_args(arg0, ap, false, NULL);
    va_end(ap);
    return argv != NULL ? execv(path, argv) : -1;
}

HG_EXPORT int execlp(const char *file, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    char **argv = collect_args(arg0, ap, false, NULL);
    va_end(ap);
    return argv != NULL ? execvp(file, argv) : -1;
}

HG_EXPORT int execle(const char *path, const char *arg0, ...)
{
    va_list ap;
    char *const *envp = NULL;
    va_start(ap, arg0);
    char **argv = collect_args(arg0, ap, true, &envp);
    va_end(ap);
    return argv != NULL ? execve(path, argv, envp) : -1;
}
