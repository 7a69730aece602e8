/*
 * Per-thread deltas of the per-stack counters (contract in counts.h).
 *
 * Why: four atomic adds per allocation and two per free on the stack's shared
 * counters cost a locked instruction each, and when two threads allocate from
 * the same stacks (the common case: one code path, many worker threads) the
 * counters' cache line bounces between their cores on every call.
 *
 * Layout. Each thread that allocates owns one *block*: an open-addressing
 * table (linear probing, power-of-two capacity) of slots
 *     {key = stack id + 1 (0: empty), alloc_count, alloc_bytes,
 *      free_count, free_bytes}
 * and, beside it, the writer's `seen` copy of each slot's values at the last
 * merge. Slot values only grow; the owner is their only writer (relaxed load +
 * relaxed store, no read-modify-write) and the writer only reads them, so the
 * allocation path never waits and never writes a line another thread writes.
 * Block headers come from the arena and are linked, push-only, into one
 * registry list; their slot arrays are separate mappings.
 *
 * Block states (header field `state`):
 *   FREE     -> OWNED     claim (CAS, acquire) by a thread without a block
 *   OWNED    -> RETIRED   the owner: its thread exits (pthread key destructor),
 *                         or it moves to a bigger block (its stacks filled 3/4
 *                         of this one); release, after its last write
 *   OWNED    -> RETIRED   a fork child, for every block but the forking
 *                         thread's (their owners do not exist there)
 *   RETIRED  -> FREE      the writer, after its last merge of the block has
 *                         read everything (acquire on RETIRED) and the slots
 *                         were zeroed (release)
 * A thread that allocates again after its key destructor ran (a later
 * destructor of another library) simply claims a block again.
 *
 * Merge (writer, serialised by io_lock): for every non-FREE block, for every
 * used slot, the difference between the slot and `seen` is added to the
 * stack's shared counters (live = alloc - free), and `seen` catches up. A
 * slot's key is published with release before its first values, so the
 * writer never attributes values to the wrong stack.
 *
 * Memory: BLOCK_INITIAL_SLOTS slots of 72 bytes (40 the owner's, 32 the
 * writer's) per thread that ever allocated at the same time as the others,
 * doubling for a thread that touches many stacks; pages are touched only
 * where slots are used. Retired blocks are zeroed with MADV_DONTNEED (their
 * pages go back to the kernel) and reused by later threads, so a program that
 * starts and ends threads keeps as many blocks as it had threads at once.
 */
#include "counts.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>

#include "arena.h"
#include "os.h"

#define BLOCK_INITIAL_SLOTS 128u /* 5 KiB of slots, 4 KiB of `seen` */

enum block_state { B_FREE = 0, B_OWNED, B_RETIRED };

typedef struct cslot {
    /* stack id + 1, 0 = empty: written once by the owner (release) */
    _Atomic uint64_t key;
    /* Written only by the owner (relaxed load + store), read by the writer. */
    _Atomic uint64_t alloc_count;
    _Atomic uint64_t alloc_bytes;
    _Atomic uint64_t free_count;
    _Atomic uint64_t free_bytes;
} cslot_t;

/* The writer's copy of a slot's values at the last merge (writer only). */
typedef struct seen {
    uint64_t alloc_count;
    uint64_t alloc_bytes;
    uint64_t free_count;
    uint64_t free_bytes;
} seen_t;

typedef struct block {
    /* Set before the block is pushed on the registry, never changed: */
    struct block *next;
    uint32_t cap;   /* slots, a power of two */
    uint32_t shift; /* 32 - log2(cap): Fibonacci hashing of ids */
    size_t map_bytes;
    cslot_t *slots; /* cap slots, then cap seen_t (one mapping) */
    seen_t *seen;
    /* enum block_state; transitions at the top of the file. */
    _Atomic int state;
    /* Owner only: used slots. */
    uint32_t used;
} block_t;

/* Push-only list of every block ever made (acquire/release on the head). */
static _Atomic(block_t *) registry;
/* Written by hg_counts_init (before tracing starts), then read-only. */
static hg_stack_table_t *stacks;
static pthread_key_t exit_key;
static bool has_exit_key;

/* This thread's block (NULL: none yet). Initial-exec TLS: one %fs load. */
static __thread block_t *my_block __attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------------------ */
/* Blocks                                                                    */

static block_t *block_map(uint32_t cap)
{
    block_t *b = hg_arena_alloc(sizeof *b, 64);
    if (b == NULL)
        return NULL;
    size_t bytes = (size_t)cap * (sizeof(cslot_t) + sizeof(seen_t));
    bytes = (bytes + 4095) & ~(size_t)4095;
    void *p = hg_os_map(bytes);
    if (p == NULL)
        return NULL; /* the header stays in the arena, unused (rare) */
    b->cap = cap;
    b->shift = 32u - (uint32_t)__builtin_ctz(cap);
    b->map_bytes = bytes;
    b->slots = p;
    b->seen = (seen_t *)(b->slots + cap);
    b->used = 0;
    atomic_store_explicit(&b->state, B_OWNED, memory_order_relaxed);
    /* release: publishes the header's fields to registry walkers. */
    block_t *head = atomic_load_explicit(&registry, memory_order_relaxed);
    do {
        b->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&registry, &head, b, memory_order_release,
                                                    memory_order_relaxed));
    return b;
}

/* A FREE block of at least `cap` slots, now OWNED by the caller, or NULL. */
static block_t *block_reuse(uint32_t cap)
{
    /* acquire: pairs with the release push in block_map() */
    for (block_t *b = atomic_load_explicit(&registry, memory_order_acquire); b != NULL;
         b = b->next) {
        if (b->cap < cap || atomic_load_explicit(&b->state, memory_order_relaxed) != B_FREE)
            continue;
        int expected = B_FREE;
        /* acquire: pairs with the release store of FREE in reset(), so the
         * zeroed slots are what this thread sees. */
        if (atomic_compare_exchange_strong_explicit(&b->state, &expected, B_OWNED,
                                                    memory_order_acquire, memory_order_relaxed)) {
            b->used = 0;
            return b;
        }
    }
    return NULL;
}

static void retire(block_t *b)
{
    /* release: every value this thread wrote into b is visible to the merge
     * that sees RETIRED (acquire). */
    atomic_store_explicit(&b->state, B_RETIRED, memory_order_release);
}

/* pthread key destructor: the thread is exiting. */
static void on_thread_exit(void *arg)
{
    block_t *b = arg;
    if (my_block == b)
        my_block = NULL;
    retire(b);
}

/* Gives this thread a block of at least `cap` slots (retiring the one it
 * had). NULL when no memory: the caller counts in the shared counters. */
static block_t *claim(uint32_t cap)
{
    block_t *b = block_reuse(cap);
    if (b == NULL)
        b = block_map(cap);
    if (b == NULL)
        return NULL;
    block_t *old = my_block;
    my_block = b;
    if (old != NULL)
        retire(old);
    /* May allocate (keys past the first 32): the guard is held, so that is
     * forwarded untraced. Without the key, exit is not seen: the block is
     * merged forever but never reused. */
    if (has_exit_key)
        pthread_setspecific(exit_key, b);
    return b;
}

/* ------------------------------------------------------------------------ */
/* The allocation path                                                       */

/* The slot of stack id in this thread's block, created if needed; NULL when
 * no block can be had. */
static inline cslot_t *slot_of(uint32_t id)
{
    block_t *b = my_block;
    if (__builtin_expect(b == NULL, 0)) {
        b = claim(BLOCK_INITIAL_SLOTS);
        if (b == NULL)
            return NULL;
    }
    uint64_t key = (uint64_t)id + 1;
    for (;;) {
        uint32_t mask = b->cap - 1;
        uint32_t i = (uint32_t)(((uint32_t)id * 0x9e3779b1u) >> b->shift);
        for (;;) {
            cslot_t *s = &b->slots[i];
            /* relaxed: this thread is the only writer of its keys */
            uint64_t k = atomic_load_explicit(&s->key, memory_order_relaxed);
            if (__builtin_expect(k == key, 1))
                return s;
            if (k == 0)
                break;
            i = (i + 1) & mask;
        }
        if (b->used < b->cap - b->cap / 4) {
            b->used++;
            cslot_t *s = &b->slots[i];
            /* release: the writer that sees the key (acquire) reads this
             * slot's values as this stack's. */
            atomic_store_explicit(&s->key, key, memory_order_release);
            return s;
        }
        /* 3/4 full: move to a block twice as big; the old one's values are
         * merged a last time once it is retired. */
        b = claim(b->cap * 2);
        if (b == NULL)
            return NULL;
    }
}

static inline void bump(_Atomic uint64_t *v, uint64_t by)
{
    /* One writer: a plain add, no lock prefix. */
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

/* The fallback when this thread has no block: the shared counters. */
static void add_shared(uint32_t id, int64_t count, int64_t bytes, bool is_alloc)
{
    hg_stack_counters_t *c = hg_stack_counters(stacks, id);
    if (c == NULL)
        return;
    atomic_fetch_add_explicit(&c->live_bytes, bytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->live_count, count, memory_order_relaxed);
    if (is_alloc) {
        atomic_fetch_add_explicit(&c->alloc_count, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->alloc_bytes, (uint64_t)bytes, memory_order_relaxed);
    }
}

/* The stack's slot when it sits at its home in this thread's block (the
 * common case: a thread touches few stacks), else NULL. No call, no spill. */
static inline cslot_t *home_slot(uint32_t id)
{
    block_t *b = my_block;
    if (__builtin_expect(b == NULL, 0))
        return NULL;
    cslot_t *s = &b->slots[((uint32_t)id * 0x9e3779b1u) >> b->shift];
    /* relaxed: this thread is the only writer of its keys */
    return atomic_load_explicit(&s->key, memory_order_relaxed) == (uint64_t)id + 1 ? s : NULL;
}

__attribute__((noinline)) static void alloc_slow(uint32_t id, uint64_t bytes)
{
    cslot_t *s = slot_of(id);
    if (__builtin_expect(s == NULL, 0)) {
        add_shared(id, 1, (int64_t)bytes, true);
        return;
    }
    bump(&s->alloc_count, 1);
    bump(&s->alloc_bytes, bytes);
}

__attribute__((noinline)) static void free_slow(uint32_t id, uint64_t bytes)
{
    cslot_t *s = slot_of(id);
    if (__builtin_expect(s == NULL, 0)) {
        add_shared(id, -1, -(int64_t)bytes, false);
        return;
    }
    bump(&s->free_count, 1);
    bump(&s->free_bytes, bytes);
}

void hg_counts_alloc(uint32_t id, uint64_t bytes)
{
    cslot_t *s = home_slot(id);
    if (__builtin_expect(s == NULL, 0)) {
        alloc_slow(id, bytes);
        return;
    }
    bump(&s->alloc_count, 1);
    bump(&s->alloc_bytes, bytes);
}

void hg_counts_free(uint32_t id, uint64_t bytes)
{
    cslot_t *s = home_slot(id);
    if (__builtin_expect(s == NULL, 0)) {
        free_slow(id, bytes);
        return;
    }
    bump(&s->free_count, 1);
    bump(&s->free_bytes, bytes);
}

void hg_counts_free_undo(uint32_t id, uint64_t bytes)
{
    cslot_t *s = slot_of(id);
    if (__builtin_expect(s == NULL, 0)) {
        add_shared(id, 1, (int64_t)bytes, false);
        return;
    }
    /* Values wrap: the merge's differences are taken modulo 2^64, so a free
     * undone after the merge that counted it comes out as -1. */
    bump(&s->free_count, (uint64_t)-1);
    bump(&s->free_bytes, (uint64_t)0 - bytes);
}

/* ------------------------------------------------------------------------ */
/* The writer's side                                                         */

int hg_counts_init(hg_stack_table_t *t)
{
    stacks = t;
    int rc = pthread_key_create(&exit_key, on_thread_exit);
    has_exit_key = rc == 0;
    return -rc;
}

/* Returns false when some slot's stack was not visible yet (its values wait
 * for the next merge). */
static bool merge_block(block_t *b)
{
    bool is_complete = true;
    for (uint32_t i = 0; i < b->cap; i++) {
        cslot_t *s = &b->slots[i];
        /* acquire: pairs with the release store of the key in slot_of() */
        uint64_t key = atomic_load_explicit(&s->key, memory_order_acquire);
        if (key == 0)
            continue;
        seen_t now = {
            .alloc_count = atomic_load_explicit(&s->alloc_count, memory_order_relaxed),
            .alloc_bytes = atomic_load_explicit(&s->alloc_bytes, memory_order_relaxed),
            .free_count = atomic_load_explicit(&s->free_count, memory_order_relaxed),
            .free_bytes = atomic_load_explicit(&s->free_bytes, memory_order_relaxed),
        };
        seen_t *old = &b->seen[i];
        uint64_t ac = now.alloc_count - old->alloc_count, ab = now.alloc_bytes - old->alloc_bytes;
        uint64_t fc = now.free_count - old->free_count, fb = now.free_bytes - old->free_bytes;
        if ((ac | ab | fc | fb) == 0)
            continue;
        hg_stack_counters_t *c = hg_stack_counters(stacks, (uint32_t)(key - 1));
        if (c == NULL) {
            is_complete = false; /* not visible here yet: the next merge takes it */
            continue;
        }
        atomic_fetch_add_explicit(&c->alloc_count, ac, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->alloc_bytes, ab, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->live_count, (int64_t)(ac - fc), memory_order_relaxed);
        atomic_fetch_add_explicit(&c->live_bytes, (int64_t)(ab - fb), memory_order_relaxed);
        *old = now;
    }
    return is_complete;
}

/* A RETIRED block, merged for the last time, made FREE for another thread. */
static void reset(block_t *b)
{
    /* MADV_DONTNEED on private anonymous memory: the pages read back as
     * zeros and go back to the kernel. If it fails, zero by hand. */
    if (hg_os.madvise(b->slots, b->map_bytes, MADV_DONTNEED) != 0) {
        for (uint32_t i = 0; i < b->cap; i++) {
            atomic_store_explicit(&b->slots[i].key, 0, memory_order_relaxed);
            atomic_store_explicit(&b->slots[i].alloc_count, 0, memory_order_relaxed);
            atomic_store_explicit(&b->slots[i].alloc_bytes, 0, memory_order_relaxed);
            atomic_store_explicit(&b->slots[i].free_count, 0, memory_order_relaxed);
            atomic_store_explicit(&b->slots[i].free_bytes, 0, memory_order_relaxed);
            b->seen[i] = (seen_t){0};
        }
    }
    /* release: pairs with the acquire CAS in block_reuse() */
    atomic_store_explicit(&b->state, B_FREE, memory_order_release);
}

void hg_counts_merge(void)
{
    /* acquire: pairs with the release push in block_map() */
    for (block_t *b = atomic_load_explicit(&registry, memory_order_acquire); b != NULL;
         b = b->next) {
        /* acquire: pairs with the release store of RETIRED in retire() */
        int st = atomic_load_explicit(&b->state, memory_order_acquire);
        if (st == B_FREE)
            continue;
        if (merge_block(b) && st == B_RETIRED)
            reset(b);
    }
}

size_t hg_counts_block_count(void)
{
    size_t n = 0;
    for (block_t *b = atomic_load_explicit(&registry, memory_order_acquire); b != NULL; b = b->next)
        n++;
    return n;
}

void hg_counts_atfork_child(void)
{
    block_t *mine = my_block;
    for (block_t *b = atomic_load_explicit(&registry, memory_order_acquire); b != NULL; b = b->next)
        if (b != mine && atomic_load_explicit(&b->state, memory_order_relaxed) == B_OWNED)
            retire(b);
}
