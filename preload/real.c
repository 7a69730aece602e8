/*
 * dlsym(RTLD_NEXT) resolution of the next allocator and the bootstrap arena
 * (see real.h). Owns the reentrancy flag (guard.h). Must never allocate through
 * the traced allocator and never wait for another thread: while resolution
 * runs, requests are served from the bootstrap arena instead.
 */
#include "real.h"

#include <dlfcn.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "guard.h"
#include "log.h"
#include "heapgrow/format.h"

__thread bool hg_guard_in_shim __attribute__((tls_model("initial-exec")));

hg_real_t hg_real;

enum { RESOLVE_NONE = 0, RESOLVE_RUNNING = 1, RESOLVE_DONE = 2 };

/* RESOLVE_*: the thread that wins the CAS from NONE fills hg_real and then
 * stores DONE with release; readers pair with an acquire load. */
static _Atomic int resolve_state;

bool hg_real_is_ready(void)
{
    /* acquire: pairs with the release store of RESOLVE_DONE in hg_real_resolve() */
    return atomic_load_explicit(&resolve_state, memory_order_acquire) == RESOLVE_DONE;
}

void *hg_real_sym(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

bool hg_real_resolve(void)
{
    if (hg_real_is_ready())
        return true;
    int expected = RESOLVE_NONE;
    if (!atomic_compare_exchange_strong_explicit(&resolve_state, &expected, RESOLVE_RUNNING,
                                                 memory_order_acq_rel, memory_order_acquire))
        return expected == RESOLVE_DONE;

    /* dlsym may allocate (its error buffer, TLS); with the state RUNNING those
     * requests are answered from the bootstrap arena. */
    bool was = hg_guard_enter();
    hg_real_t r;
    /* Converting void * to function pointers is what dlsym(3) prescribes
     * (POSIX requires it to work). */
    *(void **)&r.malloc = dlsym(RTLD_NEXT, "malloc");
    *(void **)&r.free = dlsym(RTLD_NEXT, "free");
    *(void **)&r.calloc = dlsym(RTLD_NEXT, "calloc");
    *(void **)&r.realloc = dlsym(RTLD_NEXT, "realloc");
    *(void **)&r.reallocarray = dlsym(RTLD_NEXT, "reallocarray");
    *(void **)&r.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    *(void **)&r.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    *(void **)&r.memalign = dlsym(RTLD_NEXT, "memalign");
    *(void **)&r.valloc = dlsym(RTLD_NEXT, "valloc");
    *(void **)&r.pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    *(void **)&r.malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
    *(void **)&r.dlopen = dlsym(RTLD_NEXT, "dlopen");
    *(void **)&r.dlclose = dlsym(RTLD_NEXT, "dlclose");
    *(void **)&r.exit_ = dlsym(RTLD_NEXT, "_exit");
    *(void **)&r.Exit_ = dlsym(RTLD_NEXT, "_Exit");
    hg_guard_leave(was);

    if (r.malloc == NULL || r.free == NULL || r.calloc == NULL || r.realloc == NULL ||
        r.posix_memalign == NULL || r.memalign == NULL || r.exit_ == NULL) {
        /* Nothing to forward to: a static or exotic libc. Stay on the
         * bootstrap arena forever (the RUNNING state is never left). */
        hg_log_once(HG_LOG_NO_NEXT, "no next allocator found with dlsym(RTLD_NEXT); "
                                    "heapgrow cannot work in this process");
        return false;
    }
    hg_real = r;
    /* release: publishes hg_real; pairs with the acquire in hg_real_is_ready() */
    atomic_store_explicit(&resolve_state, RESOLVE_DONE, memory_order_release);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Bootstrap arena                                                          */
/* ------------------------------------------------------------------------ */

/* glibc's dlsym needs a few hundred bytes at most; 256 KiB also absorbs
 * allocations of other threads that race with resolution at start-up. */
#define BOOT_BYTES (256u * 1024u)
#define BOOT_HDR   16u /* size_t size at p - 8; keeps 16-byte alignment */

static alignas(4096) unsigned char boot_buf[BOOT_BYTES];
/* Bytes of boot_buf handed out (relaxed: the CAS is the only coordination). */
static _Atomic size_t boot_used;

void *hg_real_boot_alloc(size_t size, size_t align)
{
    if (align == 0 || align > 4096 || (align & (align - 1)) != 0 || size > BOOT_BYTES)
        return NULL;
    if (align < BOOT_HDR)
        align = BOOT_HDR;
    size_t used = atomic_load_explicit(&boot_used, memory_order_relaxed);
    for (;;) {
        uintptr_t base = (uintptr_t)boot_buf + used + BOOT_HDR;
        uintptr_t p = (base + align - 1) & ~(uintptr_t)(align - 1);
        size_t end = (size_t)(p - (uintptr_t)boot_buf) + ((size + 15u) & ~(size_t)15u);
        if (end > BOOT_BYTES) {
            hg_log_once(HG_WARN_BOOTSTRAP, "bootstrap arena exhausted; an allocation "
                                           "made during start-up failed");
            return NULL;
        }
        if (atomic_compare_exchange_weak_explicit(&boot_used, &used, end, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            size_t sz = size;
            memcpy((void *)(p - sizeof(size_t)), &sz, sizeof sz);
            return (void *)p; /* .bss: already zero, never reused */
        }
    }
}

bool hg_real_is_boot(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    return a >= (uintptr_t)boot_buf && a < (uintptr_t)boot_buf + BOOT_BYTES;
}

void hg_real_boot_bounds(uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)boot_buf;
    *hi = (uintptr_t)boot_buf + BOOT_BYTES;
}

size_t hg_real_boot_size(const void *p)
{
    size_t sz;
    memcpy(&sz, (const unsigned char *)p - sizeof(size_t), sizeof sz);
    return sz;
}

size_t hg_real_boot_used(void)
{
    return atomic_load_explicit(&boot_used, memory_order_relaxed);
}
