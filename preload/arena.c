/*
 * The arena (see arena.h). State: `current` points at the chunk requests are
 * carved from; each chunk has an atomic fill offset. A request reserves its
 * range with a CAS on the offset (linearization point). When it does not fit,
 * the thread maps a chunk twice as large and tries to install it with a CAS on
 * `current`; the loser unmaps its chunk and retries on the winner's. Old
 * chunks stay mapped (their blocks are in use). Work per call: one CAS loop,
 * plus at most one mmap.
 */
#include "arena.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include "os.h"

#define CHUNK_MIN (64u * 1024u)
#define CHUNK_MAX (16u * 1024u * 1024u)
#define PAGE      4096u

typedef struct chunk {
    _Atomic size_t used; /* bytes of the chunk reserved, header included */
    size_t cap;          /* bytes of the mapping */
} chunk_t;

/* acquire/release: a chunk's header is initialised before it is published. */
static _Atomic(chunk_t *) current;
static _Atomic size_t mapped_bytes;

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static void *map_bytes(size_t len)
{
    void *p = hg_os_map(len);
    if (p != NULL)
        atomic_fetch_add_explicit(&mapped_bytes, len, memory_order_relaxed);
    return p;
}

/* Carves [size, align] out of c, or returns NULL when it does not fit. */
static void *carve(chunk_t *c, size_t size, size_t align)
{
    size_t used = atomic_load_explicit(&c->used, memory_order_relaxed);
    for (;;) {
        size_t off = round_up(used, align);
        if (off > c->cap || c->cap - off < size)
            return NULL;
        if (atomic_compare_exchange_weak_explicit(&c->used, &used, off + size, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (unsigned char *)c + off;
    }
}

void *hg_arena_alloc(size_t size, size_t align)
{
    int saved = errno;
    if (align == 0 || align > PAGE || (align & (align - 1)) != 0 || size > SIZE_MAX / 2)
        return NULL;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (size == 0)
        size = 1;
    /* Large requests: a mapping of their own (page aligned, zeroed). */
    if (size > CHUNK_MAX / 4) {
        void *p = map_bytes(round_up(size, PAGE));
        errno = saved;
        return p;
    }
    for (;;) {
        /* acquire: pairs with the release CAS that installed the chunk */
        chunk_t *c = atomic_load_explicit(&current, memory_order_acquire);
        if (c != NULL) {
            void *p = carve(c, size, align);
            if (p != NULL)
                return p;
        }
        size_t cap = c == NULL ? CHUNK_MIN : c->cap * 2;
        if (cap > CHUNK_MAX)
            cap = CHUNK_MAX;
        while (cap < size + align + sizeof(chunk_t))
            cap *= 2;
        chunk_t *n = map_bytes(cap);
        if (n == NULL) {
            errno = saved;
            return NULL;
        }
        atomic_init(&n->used, sizeof(chunk_t));
        n->cap = cap;
        /* release: publishes n's header; pairs with the acquire load above */
        if (!atomic_compare_exchange_strong_explicit(&current, &c, n, memory_order_release,
                                                     memory_order_relaxed)) {
            hg_os_unmap(n, cap);
            atomic_fetch_sub_explicit(&mapped_bytes, cap, memory_order_relaxed);
        }
        errno = saved;
    }
}

size_t hg_arena_mapped_bytes(void)
{
    return atomic_load_explicit(&mapped_bytes, memory_order_relaxed);
}
