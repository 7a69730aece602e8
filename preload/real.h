/*
 * The next allocator in the lookup chain (dlsym(RTLD_NEXT): libc's, or
 * jemalloc's/tcmalloc's when the program brings one), and the bootstrap arena
 * that answers the allocations made before dlsym has answered (dlsym itself
 * may call calloc/malloc). Contract of the bootstrap: blocks are never reused,
 * free() of them is ignored, realloc() of them copies out into real memory.
 */
#ifndef HEAPGROW_PRELOAD_REAL_H
#define HEAPGROW_PRELOAD_REAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hg_real {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*reallocarray)(void *, size_t, size_t); /* NULL if libc lacks it */
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
    void *(*dlopen)(const char *, int);
    int (*dlclose)(void *);
    void (*exit_)(int); /* _exit */
    void (*Exit_)(int); /* _Exit */
} hg_real_t;

/* Filled once by hg_real_resolve(); read-only afterwards. Read a pointer only
 * after hg_real_is_ready() returned true (acquire). */
extern hg_real_t hg_real;

/* Resolves every symbol once (first caller wins; idempotent). Returns true when
 * hg_real is usable; false while resolution is running (in this thread: dlsym
 * is allocating; in another: it will be ready shortly), in which case the
 * caller serves the request from the bootstrap arena. Allocation-free,
 * lock-free apart from dlsym's own. */
bool hg_real_resolve(void);

/* For the two inline checks below, which every malloc and free make (real.c
 * owns them): the resolution state (RESOLVE_DONE = 2 once hg_real is filled)
 * and the bootstrap arena. */
extern _Atomic int hg_real_resolve_state;
extern unsigned char hg_real_boot_buf[];
#define HG_REAL_BOOT_BYTES (256u * 1024u)

/* Cheap check (acquire load): true once hg_real is filled. */
static inline bool hg_real_is_ready(void)
{
    /* acquire: pairs with the release store of RESOLVE_DONE in hg_real_resolve() */
    return atomic_load_explicit(&hg_real_resolve_state, memory_order_acquire) == 2;
}

/* Looks a symbol up with dlsym(RTLD_NEXT) (for rarely needed symbols such as
 * libstdc++'s operator new on its failure path). NULL when absent. */
void *hg_real_sym(const char *name);

/* Bootstrap arena: `size` bytes aligned to `align` (a power of two <= 4096),
 * zeroed, or NULL when the arena is exhausted (logged once). Thread-safe,
 * lock-free. */
void *hg_real_boot_alloc(size_t size, size_t align);

/* True when p points into the bootstrap arena. */
static inline bool hg_real_is_boot(const void *p)
{
    return (uintptr_t)p - (uintptr_t)hg_real_boot_buf < HG_REAL_BOOT_BYTES;
}

/* The address range of the bootstrap arena, [*lo, *hi). */
static inline void hg_real_boot_bounds(uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)hg_real_boot_buf;
    *hi = (uintptr_t)hg_real_boot_buf + HG_REAL_BOOT_BYTES;
}

/* The size requested for bootstrap block p. */
size_t hg_real_boot_size(const void *p);

/* Bytes of the bootstrap arena used so far (tests). */
size_t hg_real_boot_used(void);

#endif /* HEAPGROW_PRELOAD_REAL_H */
