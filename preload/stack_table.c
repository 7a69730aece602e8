/*
 * The stack table (contract in stack_table.h): interns call stacks into dense
 * ids and keeps each stack's counters. Insert-only and lock-free. Pure data
 * structure: no stdio, no locks, memory only from hg_os_map, never unmapped
 * while the table lives (records and frames stay valid for the process).
 *
 * Structure
 *   - Index: a chain of levels; level L has (LEVEL0_SLOTS << L) 8-byte slots,
 *     each 0 (EMPTY) or (hash_hi32 << 32 | id). A stack is looked for in the
 *     8 slots of one cache line per level (the line holding hash & mask), level
 *     after level; the first EMPTY slot seen ends the search. Levels are
 *     created on demand by CAS on levels[L] (the loser unmaps its copy), so
 *     the index grows without a global lock and nothing ever moves.
 *   - Records: id -> record {counters, hash, nframes, frames, is_published},
 *     64-byte aligned so two stacks' counters never share a line, kept in a
 *     segmented directory (segment s holds SEG0_RECORDS << s records), segments
 *     created by CAS. Lookup by id is O(1) (a count-leading-zeros).
 *   - Frames: copied into a bump arena of mmap'd chunks (fetch_add on the
 *     chunk's offset; a new chunk is installed by CAS when one is full).
 *
 * Slot state machine: EMPTY -> (hash_hi, id) by one CAS (release), then never
 * changes. intern(): hash the frames once; per level, scan the line: a slot
 * with our hash_hi whose record has our frames -> return its id; EMPTY -> take
 * a fresh id (fetch_add), fill its record, CAS the slot from EMPTY (the
 * LINEARIZATION point of a new stack). If the CAS loses, re-read that slot:
 * the winner may be the same stack (then its id is returned and ours is left
 * without a stack: ids are dense except for such lost races). After the win
 * the record is marked published (release) for hg_stack_frames(); a racing
 * interner that sees the slot (acquire, pairs with the CAS release) can read
 * the frames without waiting for that mark. Work per call: one hash of the
 * frames, one cache line per level probed.
 */
#include "stack_table.h"

#include <errno.h>
#include <string.h>

#include "heapgrow/format.h"
#include "os.h"

#define LEVEL0_SHIFT 14u /* 16384 slots = 128 KiB */
#define LEVEL_COUNT  20u
#define LINE_SLOTS   8u
#define SEG0_SHIFT   10u /* 1024 records = 64 KiB */
#define SEG_COUNT    22u
#define CHUNK_BYTES  ((size_t)1 << 20)

typedef struct record {
    hg_stack_counters_t counters;
    /* Written before the index CAS that publishes the id (release). */
    uint64_t hash;
    const uintptr_t *frames;
    uint32_t nframes;
    /* 0 until the id won its slot; release store, acquire in hg_stack_frames */
    _Atomic uint32_t is_published;
} __attribute__((aligned(64))) record_t;

typedef struct chunk {
    struct chunk *prev; /* older chunk (kept for accounting only) */
    size_t bytes;
    _Atomic size_t used;
} chunk_t;

struct hg_stack_table {
    _Atomic(_Atomic uint64_t *) levels[LEVEL_COUNT];
    _Atomic(record_t *) segs[SEG_COUNT];
    _Atomic(chunk_t *) chunk;
    _Alignas(64) _Atomic uint32_t next_id; /* next id to hand out (from 1) */
    _Alignas(64) _Atomic size_t memory_bytes;
    record_t unknown; /* id 0 */
};

/* One multiply per frame: every bit of a frame reaches all higher bits of
 * h, and the final fold brings the high half (which depends on every bit of
 * every frame) down to the low bits that pick the index line. */
static inline uint64_t hash_frames(const uintptr_t *frames, uint32_t n)
{
    uint64_t h = 0x243f6a8885a308d3ull ^ n;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (uint64_t)frames[i]) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

/* Publishes a mapping of `bytes` in *slot unless another thread did first.
 * Returns what *slot holds afterwards, NULL when out of memory. */
static void *install(hg_stack_table_t *t, void *_Atomic *slot, size_t bytes)
{
    /* acquire: pairs with the release CAS below in another thread */
    void *p = atomic_load_explicit(slot, memory_order_acquire);
    if (p != NULL)
        return p;
    void *fresh = hg_os_map(bytes);
    if (fresh == NULL)
        return NULL;
    void *expected = NULL;
    /* release: publishes the zeroed mapping; pairs with acquire above */
    if (atomic_compare_exchange_strong_explicit(slot, &expected, fresh, memory_order_acq_rel,
                                                memory_order_acquire)) {
        atomic_fetch_add_explicit(&t->memory_bytes, bytes, memory_order_relaxed);
        return fresh;
    }
    hg_os_unmap(fresh, bytes);
    return expected;
}

/* The record of id in an existing segment, or NULL (no install). */
static inline record_t *record_at(hg_stack_table_t *t, uint32_t id)
{
    uint64_t x = ((uint64_t)id - 1 + ((uint64_t)1 << SEG0_SHIFT)) >> SEG0_SHIFT;
    unsigned s = 63u - (unsigned)__builtin_clzll(x);
    if (s >= SEG_COUNT)
        return NULL;
    size_t base = (((size_t)1 << s) - 1) << SEG0_SHIFT;
    /* acquire: pairs with the release CAS in install() */
    record_t *seg = atomic_load_explicit(&t->segs[s], memory_order_acquire);
    return seg != NULL ? &seg[(size_t)id - 1 - base] : NULL;
}

static record_t *record_of(hg_stack_table_t *t, uint32_t id, bool is_create)
{
    /* ids 1.. map to index id-1; segment s holds [(2^s - 1) << S0, ...) */
    uint64_t x = ((uint64_t)id - 1 + ((uint64_t)1 << SEG0_SHIFT)) >> SEG0_SHIFT;
    unsigned s = 63u - (unsigned)__builtin_clzll(x);
    if (s >= SEG_COUNT)
        return NULL;
    size_t base = (((size_t)1 << s) - 1) << SEG0_SHIFT;
    size_t count = (size_t)1 << (SEG0_SHIFT + s);
    /* acquire: pairs with the release CAS in install() */
    record_t *seg = atomic_load_explicit(&t->segs[s], memory_order_acquire);
    if (seg == NULL) {
        if (!is_create)
            return NULL;
        seg = install(t, (void *_Atomic *)&t->segs[s], count * sizeof(record_t));
        if (seg == NULL)
            return NULL;
    }
    return &seg[(size_t)id - 1 - base];
}

static uintptr_t *frames_alloc(hg_stack_table_t *t, uint32_t n)
{
    size_t need = (size_t)n * sizeof(uintptr_t);
    for (;;) {
        /* acquire: pairs with the release CAS installing a chunk */
        chunk_t *c = atomic_load_explicit(&t->chunk, memory_order_acquire);
        if (c != NULL) {
            size_t off = atomic_fetch_add_explicit(&c->used, need, memory_order_relaxed);
            if (off + need <= c->bytes)
                return (uintptr_t *)((char *)c + off);
        }
        chunk_t *fresh = hg_os_map(CHUNK_BYTES);
        if (fresh == NULL)
            return NULL;
        fresh->prev = c;
        fresh->bytes = CHUNK_BYTES;
        atomic_store_explicit(&fresh->used, (sizeof(chunk_t) + 63) & ~(size_t)63,
                              memory_order_relaxed);
        /* release: publishes the chunk header; pairs with acquire above */
        if (atomic_compare_exchange_strong_explicit(&t->chunk, &c, fresh, memory_order_acq_rel,
                                                    memory_order_acquire))
            atomic_fetch_add_explicit(&t->memory_bytes, CHUNK_BYTES, memory_order_relaxed);
        else
            hg_os_unmap(fresh, CHUNK_BYTES);
    }
}

static inline bool same_stack(const record_t *r, uint64_t h, const uintptr_t *frames, uint32_t n)
{
    if (r->hash != h || r->nframes != n)
        return false;
    const uintptr_t *mine = r->frames;
    for (uint32_t i = 0; i < n; i++)
        if (mine[i] != frames[i])
            return false;
    return true;
}

/* The id of a stack already interned whose slot is in level 0 (where every
 * stack of a program with up to a few thousand stacks is), or 0. The common
 * case of hg_stack_intern(): reads only, no call. */
static inline uint32_t find_in_level0(hg_stack_table_t *t, const uintptr_t *frames, uint32_t n,
                                      uint64_t h)
{
    /* acquire: pairs with the release CAS in install() */
    _Atomic uint64_t *slots = atomic_load_explicit(&t->levels[0], memory_order_acquire);
    if (slots == NULL)
        return 0;
    size_t line = (size_t)(h & (((size_t)1 << LEVEL0_SHIFT) - 1)) & ~(size_t)(LINE_SLOTS - 1);
    for (unsigned j = 0; j < LINE_SLOTS; j++) {
        /* acquire: pairs with the release CAS that filled the slot */
        uint64_t v = atomic_load_explicit(&slots[line + j], memory_order_acquire);
        if (v == 0)
            return 0;
        if ((v >> 32) != (h >> 32))
            continue;
        record_t *r = record_at(t, (uint32_t)v);
        if (r != NULL && same_stack(r, h, frames, n)) {
            /* Help publish, see below. */
            if (atomic_load_explicit(&r->is_published, memory_order_relaxed) == 0)
                atomic_store_explicit(&r->is_published, 1, memory_order_release);
            return (uint32_t)v;
        }
    }
    return 0;
}

/*
 * Per-thread memo of the stacks this thread interned last, indexed by its
 * four innermost frames and its depth (C++ allocations share their first two
 * frames, the allocator's, across many callers: keyed by those alone, such
 * stacks evicted each other from one slot on every call): a hit is confirmed
 * by comparing the frames with the record's, so it needs neither the hash of
 * the whole stack nor the index.
 * Initial-exec TLS (2 KiB per thread), no synchronisation: records are never
 * freed or changed once published, and entries name their table.
 */
#define MEMO_SLOTS 64u

typedef struct memo {
    const hg_stack_table_t *table;
    const record_t *r;
    uint32_t id;
} memo_t;

static __thread memo_t memo[MEMO_SLOTS] __attribute__((tls_model("initial-exec")));

static inline memo_t *memo_of(const uintptr_t *frames, uint32_t n)
{
    uint64_t k = (uint64_t)frames[0] * 0x9e3779b97f4a7c15ull ^ n;
    if (n > 1)
        k ^= (uint64_t)frames[1] * 0xc2b2ae3d27d4eb4full;
    if (n > 3)
        k ^= ((uint64_t)frames[2] ^ (uint64_t)frames[3] << 17) * 0x165667b19e3779f9ull;
    return &memo[(k >> 40) % MEMO_SLOTS];
}

__attribute__((noinline)) static uint32_t intern_slow(hg_stack_table_t *t, const uintptr_t *frames,
                                                      uint32_t nframes, uint64_t h);

/* Not in the memo: the index (level 0, then the general path), then the
 * memo remembers the answer. */
__attribute__((noinline)) static uint32_t
intern_unmemoized(hg_stack_table_t *t, const uintptr_t *frames, uint32_t nframes, memo_t *m)
{
    uint64_t h = hash_frames(frames, nframes);
    uint32_t found = find_in_level0(t, frames, nframes, h);
    if (found == 0)
        found = intern_slow(t, frames, nframes, h);
    if (found != 0 && m != NULL) {
        /* Published by now (the interner or find_in_level0 made sure). */
        m->table = t;
        m->r = record_at(t, found);
        m->id = found;
    }
    return found;
}

uint32_t hg_stack_intern(hg_stack_table_t *t, const uintptr_t *frames, uint32_t nframes)
{
    if (nframes > HG_MAX_FRAMES)
        nframes = HG_MAX_FRAMES;
    if (__builtin_expect(nframes == 0, 0))
        return intern_unmemoized(t, frames, 0, NULL);
    memo_t *m = memo_of(frames, nframes);
    const record_t *r = m->r;
    if (m->table == t && r != NULL && r->nframes == nframes) {
        const uintptr_t *mine = r->frames;
        uint32_t i = 0;
        while (i < nframes && mine[i] == frames[i])
            i++;
        if (i == nframes)
            return m->id;
    }
    return intern_unmemoized(t, frames, nframes, m);
}

/* The general path: every level, and the insertion of a new stack. */
static uint32_t intern_slow(hg_stack_table_t *t, const uintptr_t *frames, uint32_t nframes,
                            uint64_t h)
{
    uint64_t tag = h >> 32;
    uint32_t my_id = 0; /* a prepared record not yet in the index */
    for (unsigned level = 0; level < LEVEL_COUNT; level++) {
        size_t count = (size_t)1 << (LEVEL0_SHIFT + level);
        _Atomic uint64_t *slots = atomic_load_explicit(&t->levels[level], memory_order_acquire);
        if (slots == NULL) {
            slots = install(t, (void *_Atomic *)&t->levels[level], count * sizeof(uint64_t));
            if (slots == NULL)
                return 0;
        }
        size_t line = (size_t)(h & (count - 1)) & ~(size_t)(LINE_SLOTS - 1);
        for (unsigned j = 0; j < LINE_SLOTS; j++) {
            _Atomic uint64_t *slot = &slots[line + j];
            /* acquire: pairs with the release CAS that filled the slot, so
             * the record's hash/frames are visible. */
            uint64_t v = atomic_load_explicit(slot, memory_order_acquire);
            for (;;) {
                if (v != 0) {
                    if ((v >> 32) == tag) {
                        record_t *r = record_of(t, (uint32_t)v, false);
                        if (r != NULL && same_stack(r, h, frames, nframes)) {
                            /* Help publish: the winner may not have marked
                             * it yet, and our caller will use the id now.
                             * release: pairs with acquire in
                             * hg_stack_frames()/hg_stack_counters(). */
                            if (atomic_load_explicit(&r->is_published, memory_order_relaxed) == 0)
                                atomic_store_explicit(&r->is_published, 1, memory_order_release);
                            return (uint32_t)v;
                        }
                    }
                    break; /* someone else's stack: next slot */
                }
                if (my_id == 0) {
                    /* Full: no more ids (and next_id never wraps). */
                    if (atomic_load_explicit(&t->next_id, memory_order_relaxed) > HG_STACK_ID_MAX)
                        return 0;
                    uint32_t id = atomic_fetch_add_explicit(&t->next_id, 1, memory_order_relaxed);
                    if (id == 0 || id > HG_STACK_ID_MAX)
                        return 0; /* id space exhausted */
                    record_t *r = record_of(t, id, true);
                    uintptr_t *copy = frames_alloc(t, nframes);
                    if (r == NULL || copy == NULL)
                        return 0;
                    memcpy(copy, frames, nframes * sizeof(*frames));
                    r->hash = h;
                    r->frames = copy;
                    r->nframes = nframes;
                    my_id = id;
                }
                /* release: publishes the record (hash, frames) with the id;
                 * pairs with the acquire load of the slot above. */
                if (atomic_compare_exchange_strong_explicit(
                        slot, &v, tag << 32 | my_id, memory_order_acq_rel, memory_order_acquire)) {
                    record_t *r = record_of(t, my_id, false);
                    /* release: pairs with acquire in hg_stack_frames() */
                    atomic_store_explicit(&r->is_published, 1, memory_order_release);
                    return my_id;
                }
                /* lost the slot: v now holds the winner; compare with it */
            }
        }
    }
    return 0;
}

int hg_stack_create(hg_stack_table_t **out)
{
    size_t bytes = (sizeof(hg_stack_table_t) + 4095) & ~(size_t)4095;
    hg_stack_table_t *t = hg_os_map(bytes);
    if (t == NULL)
        return -ENOMEM;
    atomic_store_explicit(&t->next_id, 1, memory_order_relaxed);
    atomic_store_explicit(&t->memory_bytes, bytes, memory_order_relaxed);
    *out = t;
    return 0;
}

hg_stack_counters_t *hg_stack_counters(hg_stack_table_t *t, uint32_t id)
{
    if (id == 0)
        return &t->unknown.counters;
    if (id >= atomic_load_explicit(&t->next_id, memory_order_relaxed))
        return NULL;
    record_t *r = record_of(t, id, false);
    /* acquire: pairs with the release store of is_published in intern */
    if (r == NULL || atomic_load_explicit(&r->is_published, memory_order_acquire) == 0)
        return NULL;
    return &r->counters;
}

uint32_t hg_stack_frames(hg_stack_table_t *t, uint32_t id, const uintptr_t **frames)
{
    if (id == 0 || id >= atomic_load_explicit(&t->next_id, memory_order_acquire))
        return 0;
    record_t *r = record_of(t, id, false);
    /* acquire: pairs with the release store of is_published in intern */
    if (r == NULL || atomic_load_explicit(&r->is_published, memory_order_acquire) == 0)
        return 0;
    *frames = r->frames;
    return r->nframes;
}

uint32_t hg_stack_id_limit(const hg_stack_table_t *t)
{
    /* acquire: ids below this were handed out; their records are read with
     * acquire on is_published. */
    uint32_t limit = atomic_load_explicit(&t->next_id, memory_order_acquire);
    return limit > HG_STACK_ID_MAX + 1 ? HG_STACK_ID_MAX + 1 : limit;
}

size_t hg_stack_memory_bytes(const hg_stack_table_t *t)
{
    return atomic_load_explicit(&t->memory_bytes, memory_order_relaxed);
}
