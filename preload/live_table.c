/*
 * The live table (contract in live_table.h): pointer -> (size, stack id, time)
 * for every live traced allocation. Lock-free open addressing with linear
 * probing and incremental, cooperative growth. Pure data structure: no stdio,
 * no locks, no syscall except hg_os mmap/munmap/madvise for generations.
 * It must never allocate through malloc (it runs inside the shim).
 *
 * ======================================================================
 * Layout
 * ======================================================================
 * A *generation* is one mmap'd array of `cap` 16-byte slots {key, meta}
 * (meta packs size, stack id and time: pack_meta()) plus a small header kept in a ring
 * inside the table struct (headers are never unmapped, so a late reader can
 * always follow header->next). Indexing: an address's 4 KiB region picks a
 * base slot by fastrange (base = (mixed region hash * cap) >> 64, so `cap`
 * need not be a power of two and growth can be ~1.5x), and its 16-byte
 * granule within the region is the offset from the base (hash_addr()):
 * neighbouring blocks get neighbouring slots, and a migration, which walks
 * the old generation in order, writes the new one almost in order too.
 *
 * ======================================================================
 * Slot state machine (the key word; addresses are 8-aligned so the low three
 * bits are free)
 * ======================================================================
 *   EMPTY   0           fresh slot; ends a probe sequence
 *   SEALED  1           was EMPTY when migration passed; ends probes, never
 *                       claimed again
 *   TOMB    2           erased; probes continue; insert may reuse it
 *   DEAD    3           was TOMB when migration passed; probes continue
 *   a       (a|0)       LIVE: entry for address a
 *   a|1     BUSY        an inserter claimed the slot and is writing meta
 *   a|2     BUSYREQ     BUSY, and a migrator asked the inserter to move it
 *   a|3     FROZEN      LIVE entry being copied to the next generation
 *   a|4     MOVED       copy done; the entry lives in the next generation
 *
 * Transitions and who makes them:
 *   EMPTY|TOMB -> a|BUSY      insert (CAS); BUSY is invisible to lookups
 *   a|BUSY -> a               insert (CAS, release): LINEARIZATION of insert
 *   a|BUSY -> a|BUSYREQ       migrator (CAS); final for the migration: the
 *                             inserter's publishing CAS then fails, it turns
 *                             the slot DEAD and inserts into the newest
 *                             generation instead (its linearization moves
 *                             there), so a migration never waits for it
 *   a -> TOMB                 erase (CAS, acq_rel): LINEARIZATION of erase
 *   a -> a|FROZEN             migrator (CAS); the payload of a published slot
 *                             never changes, so the freezer copies it freely
 *   a|FROZEN -> a|MOVED       the freezer, once its copy is LIVE in the
 *                             newest generation (store, release)
 *   EMPTY -> SEALED, TOMB -> DEAD    migrator (CAS)
 * On x86-64 an insert skips BUSY: one CMPXCHG16B takes EMPTY|TOMB to a with
 * its meta (LINEARIZATION of insert), see cas16(). A migrator then only ever
 * sees the slot before (EMPTY/TOMB) or after (LIVE), as if the two CASes had
 * run back to back. The one difference is a claim made in a retired
 * generation's fresh zero memory (see Retirement): it is LIVE, not BUSY, for
 * the moment before its inserter sees the state and abandons it, so a late
 * helper that freezes it must not copy it (migrate_slot()), and the inserter
 * tells that case from a legitimate claim that the migration moved on by
 * what the slot holds afterwards (insert_into()).
 * find() linearizes at its acquire load of the key that shows `a` LIVE (or at
 * the load that ends its search).
 *
 * Where a thread can wait for another (everything else is lock-free):
 *   - erase/find of the one key being copied wait for its freezer (a place()
 *     and a store). Copies are not helped: a helper writing the payload could
 *     hit a slot that was erased and reused meanwhile.
 *   - an insert into a generation past 15/16 waits for the thread that is
 *     mapping its successor (the slack from 3/4 to 15/16 makes this rare).
 *   - foreach waits until every migration is done before it walks.
 * Inserts, erases of other keys and the migration of other slots go on.
 *
 * ======================================================================
 * Growth protocol
 * ======================================================================
 * Each generation estimates its non-EMPTY slot count (`used`) by sampling 1/8
 * of the claims by hash bits (an exact shared counter would be a hot line).
 * There is no live counter at all: every insert and erase would write it.
 * When `used` passes 3/4 of cap (4/5 for big generations, see
 * DENSE_GROWTH_LIVE), the inserter that sees it CASes next from
 * NULL to CREATING, estimates the live count by reading a sample of slots
 * (live_estimate()), maps the next generation with
 *     new_cap = max(min_cap, 2 * live + 8192, cap / 4)
 * (load ~1/2 after migration: growth by <= 1.5x since live <= used <= 3/4 cap,
 * a same-size or smaller rebuild when tombstones dominate; the 8192 slots of
 * headroom absorb inserts while a helper is descheduled; below 65,536 live
 * entries new_cap = max(min_cap, 4 * live, cap / 4); from 4M live entries on
 * new_cap = 1.6 * live + 8192 and growth starts at 4/5 of cap, see
 * DENSE_GROWTH_LIVE) and publishes it
 * (release). From then on inserts go to the newest generation, and every
 * insert and erase that sees a migration in flight migrates one chunk of 64
 * source slots (claimed by fetch_add on a cursor): O(64) extra work per call,
 * plus the copies, which are inserts into the newest generation.
 * hg_live_maintain() (writer thread) migrates whatever is left.
 * `remaining` counts source slots not yet final; each slot is counted by the
 * thread whose CAS made it final (SEALED, DEAD, BUSYREQ, MOVED), so helpers
 * may overlap; a chunk's slots are subtracted together at its end. When the
 * chunks run out but a claimer was descheduled mid-chunk, sweep() (one thread
 * at a time, in foreach and maintain) finishes its slots; the ones it had
 * made final are counted when it runs again.
 * remaining == 0 makes the migration done; `cur` then moves past every done
 * generation in order. The newest generation may start its own growth while
 * an older migration still waits for a descheduled copier (nested
 * migrations: copies always go to the newest generation, and a generation
 * that finishes first is retired first, lookups pass over it). If the mapping
 * fails, inserts continue up to 15/16 of cap and then return -ENOSPC; copies
 * may use the last 1/16.
 *
 * Lookups start at `cur` and follow `next`: found LIVE -> done; MOVED or end
 * of probe -> continue in next (if any), else absent.
 *
 * Retirement: once a generation's migration is done nothing writes it any
 * more except CASes bound to fail, and every reader treats any of its slots as
 * "go on to next". So its memory is replaced at once (or by maintain when a
 * foreach walk holds it) by a fresh MAP_FIXED|MAP_NORESERVE zero mapping, read
 * write so a late CAS never faults: a late reader sees EMPTY and moves on; a
 * late inserter that claims a zero slot sees `state` DONE right after its
 * claim, turns it TOMB and goes on to the next generation. Hence no grace
 * period is needed. Headers live in a ring of 1024 and one is reused only
 * after its generation was retired, which assumes no thread sleeps inside one
 * table call across 1023 generations.
 *
 * foreach: finishes all migrations, walks the one generation it then finds (a
 * `walkers` count defers that generation's retirement) and reports LIVE and
 * FROZEN slots; a slot found MOVED (migrated during the walk) is looked up in
 * the newer generations and reported from there iff its payload is unchanged.
 * Each source slot is visited once, so an entry present for the whole walk is
 * reported exactly once.
 *
 * fork: a child has only the forking thread, so a slot another thread had
 * FROZEN, BUSY or a generation it was mapping would wait forever there.
 * hg_live_after_fork() (from the atfork child handler) redoes such copies,
 * drops inserts whose malloc never returned, and finishes the migrations.
 *
 * ======================================================================
 * Memory bound
 * ======================================================================
 * 16 bytes per slot. Up to 4M live entries the load is between ~1/2 (just
 * after a migration) and 3/4: 21..32 bytes per entry in steady state, and
 * while a migration runs both generations exist (the old one is released
 * when it ends): up to 16 / (3/4) + 16 * 2 = 53 bytes per entry at the
 * moment growth starts. From 4M on (DENSE_GROWTH_LIVE) the load is between
 * 5/8 and 4/5: 20..25.6 bytes per entry, at most 45.6 during a migration.
 * Measured with `stress_tables --scale N` (hg_live_memory_bytes / count,
 * table struct and headers included, after the last migration): 5M live
 * entries 22.3 bytes/entry, 10M 23.4, 20M 24.6 (24-byte slots: 43.5 at 10M).
 * The peak RSS of bench/live10m, all processes, is in bench/RESULTS.md.
 */
#include "live_table.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "os.h"

#define ST_EMPTY  ((uintptr_t)0)
#define ST_SEALED ((uintptr_t)1)
#define ST_TOMB   ((uintptr_t)2)
#define ST_DEAD   ((uintptr_t)3)

#define TAG_MASK    ((uintptr_t)7)
#define TAG_LIVE    ((uintptr_t)0)
#define TAG_BUSY    ((uintptr_t)1)
#define TAG_BUSYREQ ((uintptr_t)2)
#define TAG_FROZEN  ((uintptr_t)3)
#define TAG_MOVED   ((uintptr_t)4)

#define RING_COUNT       1024u
#define CHUNK_SLOTS      64u
#define MIN_CAP          1024u
/* Below this many slots (512 KiB) a generation fits in a core's L2 cache next
 * to the program's data, and hg_live_prefetch() would only add the hash and
 * the multiply it repeats; above it, the insert's slot is usually a miss. */
#define PREFETCH_MIN_CAP ((size_t)1 << 15)
#define HEADROOM_SLOTS   8192u
#define FAST_GROWTH_LIVE 65536u /* below: a new generation of 4x the live count */
/* From 4M live entries on, memory per entry counts more than the number of
 * migrations: the next generation has 1.6x the live count and a generation
 * of DENSE_CAP slots or more grows at 4/5 instead of 3/4, so that while both
 * exist they hold at most 16 / 0.8 + 16 * 1.6 = 45.6 bytes per entry. */
#define DENSE_GROWTH_LIVE (1u << 22)
#define DENSE_CAP         ((size_t)DENSE_GROWTH_LIVE * 8 / 5)
#define HUGE_MIN_BYTES    ((size_t)4 << 20)
#define META_LARGE        ((uint64_t)1 << 63)
#define SMALL_SIZE_LIMIT  ((uint64_t)1 << 24)
#define TIME_MAX_S        ((uint64_t)0x7fff)
#define ESTIMATE_SAMPLES  8192u /* slots read to estimate the live count */
#define SAMPLE_SHIFT      3u    /* 1/8 of claims are counted, by weight 8 */

#if defined(__SANITIZE_THREAD__)
#define HG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HG_TSAN 1
#endif
#endif
#ifndef HG_TSAN
#define HG_TSAN 0
#endif

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

typedef struct slot {
    _Atomic uintptr_t key;
    _Atomic uint64_t meta; /* size, stack id and time, packed: see pack_meta() */
} __attribute__((aligned(16))) slot_t;

/*
 * x86-64: an insert claims and publishes its slot with one CMPXCHG16B (key and
 * payload together: EMPTY|TOMB -> a, meta) instead of two CASes on the key
 * (-> a|BUSY, payload, -> a). A locked instruction is a large part of an
 * insert's cost. The instruction is atomic with the 8-byte CASes and loads of
 * the key that everything else uses (same cache line, locked RMW); C11 has
 * no name for that, hence the asm. Not under ThreadSanitizer, which cannot
 * see inside asm: it checks the portable protocol.
 */
#if defined(__x86_64__) && !HG_TSAN
#define HAS_CAS16 1
/* Whether the CPU has CMPXCHG16B (CPUID.1:ECX bit 13; every x86-64 CPU since
 * 2006 or so). Set once by hg_live_create, before any insert. */
static bool use_cas16;

static bool cpu_has_cas16(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_CMPXCHG16B) != 0;
}

static inline bool cas16(slot_t *s, uint64_t key_old, uint64_t meta_old, uint64_t key_new,
                         uint64_t meta_new)
{
    bool ok;
    __asm__ __volatile__("lock cmpxchg16b %1"
                         : "=@ccz"(ok), "+m"(*(volatile slot_t *)s), "+a"(key_old), "+d"(meta_old)
                         : "b"(key_new), "c"(meta_new)
                         : "memory");
    return ok;
}
#else
#define HAS_CAS16 0
#endif

enum gen_state { GEN_FREE = 0, GEN_ACTIVE, GEN_DONE, GEN_RETIRED };

/* Sentinel for next while one inserter maps the next generation. */
#define NEXT_CREATING ((struct gen *)1)

typedef struct gen {
    /* Written once before the generation is published (release on the
     * predecessor's next or on cur); read-only while ACTIVE. */
    slot_t *slots;
    size_t cap;
    size_t map_bytes;
    uint64_t id;
    /* CAS NULL -> CREATING -> gen by the inserter that triggers growth. */
    _Atomic(struct gen *) next;
    /* enum gen_state; seq_cst, see retire_or_defer(). */
    _Atomic int state;
    _Alignas(64) _Atomic uint64_t used; /* sampled non-EMPTY slot estimate */
    _Alignas(64) _Atomic size_t cursor; /* next source slot to migrate */
    _Atomic size_t remaining;           /* source slots not yet final */
    _Atomic bool is_sweeping;           /* one sweep() at a time */
} gen_t;

struct hg_live_table {
    _Atomic(gen_t *) cur; /* oldest generation that may hold entries */
    size_t min_cap;
    _Atomic size_t memory_bytes;
    _Atomic int walkers; /* foreach walks in progress (defer retirement) */
    gen_t ring[RING_COUNT];
};

/* Where an address goes: its 4 KiB region picks a random base (a mixed hash
 * of the region number, bits 8..63 of h), its 16-byte granule within the
 * region the offset from that base (bits 0..7). Blocks malloc handed out
 * next to each other land in slots next to each other, so a program that
 * allocates (or frees) a run of neighbouring blocks touches a few
 * consecutive cache lines of the table, which the hardware prefetcher
 * streams in, instead of one random line each: with 10 million live blocks
 * (a table of 256 MB) that is most of the table's cost. */
static inline uint64_t hash_addr(uintptr_t a)
{
    uint64_t h = (uint64_t)a >> 12;
    h ^= h >> 31;
    h *= 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    return (h & ~(uint64_t)0xff) | (((uint64_t)a >> 4) & 0xff);
}

static inline size_t home_of(uint64_t h, size_t cap)
{
    size_t i = (size_t)(((unsigned __int128)(h & ~(uint64_t)0xff) * cap) >> 64) + (h & 0xff);
    return i < cap ? i : i % cap;
}

/* 1/8 of the addresses, spread over the granules of a region too (a region's
 * blocks share bits 8..63). */
static inline bool is_sampled(uint64_t h)
{
    uint32_t x = (uint32_t)(h >> 8) ^ ((uint32_t)(h & 0xff) * 0x9e3779b1u);
    return (x >> (32 - SAMPLE_SHIFT)) == 0;
}

/*
 * The payload word. Bits 0..23 are the stack id. Bit 63 chooses the rest:
 *   0  bits 24..47 the size (< 16 MiB), bits 48..62 the time in whole seconds
 *      (saturating at 32767 s, about 9 hours);
 *   1  bits 24..62 the size (< 512 GiB); no time (reads back as
 *      HG_LIVE_TIME_UNKNOWN).
 * Returns false when the entry cannot be packed (see hg_live_insert()).
 */
static inline bool pack_meta(const hg_live_entry_t *e, uint64_t *meta)
{
    if (e->stack_id > HG_LIVE_STACK_ID_MAX || e->size > HG_LIVE_SIZE_MAX)
        return false;
    uint64_t id = e->stack_id, size = e->size;
    if (size < SMALL_SIZE_LIMIT) {
        uint64_t s =
            e->alloc_time_ms == HG_LIVE_TIME_UNKNOWN ? TIME_MAX_S : e->alloc_time_ms / 1000u;
        if (s > TIME_MAX_S)
            s = TIME_MAX_S;
        *meta = s << 48 | size << 24 | id;
    } else {
        *meta = META_LARGE | size << 24 | id;
    }
    return true;
}

static inline void unpack(uintptr_t a, uint64_t meta, hg_live_entry_t *out)
{
    out->address = a;
    out->stack_id = (uint32_t)(meta & HG_LIVE_STACK_ID_MAX);
    if (meta & META_LARGE) {
        out->size = (meta & ~META_LARGE) >> 24;
        out->alloc_time_ms = HG_LIVE_TIME_UNKNOWN;
    } else {
        out->size = (meta >> 24) & (SMALL_SIZE_LIMIT - 1);
        out->alloc_time_ms = (uint32_t)(meta >> 48) * 1000u;
    }
}

static size_t round_cap(size_t cap)
{
    /* Multiple of 8 slots: 192 bytes, three cache lines. */
    return (cap + 7) & ~(size_t)7;
}

/* The `used` count at which a generation of cap slots starts to grow. */
static inline size_t grow_at(size_t cap)
{
    return cap >= DENSE_CAP ? cap - cap / 5 : cap - cap / 4;
}

static gen_t *gen_next(gen_t *g)
{
    /* acquire: pairs with the release store of next in start_migration() */
    gen_t *n = atomic_load_explicit(&g->next, memory_order_acquire);
    return n == NEXT_CREATING ? NULL : n;
}

/* ---------------------------------------------------------------------- */
/* Generations                                                             */
/* ---------------------------------------------------------------------- */

static int gen_init(hg_live_table_t *t, gen_t *g, uint64_t id, size_t cap)
{
    size_t bytes = cap * sizeof(slot_t);
    bytes = (bytes + 4095) & ~(size_t)4095;
    void *p = hg_os_map(bytes);
    if (p == NULL)
        return -ENOSPC;
    /* Big generations are touched at random: huge pages save most of the
     * page faults and TLB misses (a hint; failure is harmless). */
    if (bytes >= HUGE_MIN_BYTES)
        hg_os.madvise(p, bytes, MADV_HUGEPAGE);
    g->slots = p;
    g->cap = cap;
    g->map_bytes = bytes;
    g->id = id;
    atomic_store_explicit(&g->next, NULL, memory_order_relaxed);
    atomic_store_explicit(&g->used, 0, memory_order_relaxed);
    atomic_store_explicit(&g->cursor, 0, memory_order_relaxed);
    atomic_store_explicit(&g->remaining, cap, memory_order_relaxed);
    atomic_store_explicit(&g->is_sweeping, false, memory_order_relaxed);
    atomic_store_explicit(&g->state, GEN_ACTIVE, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->memory_bytes, bytes, memory_order_relaxed);
    return 0;
}

/* Whether key k holds an entry that has not moved on to a newer generation
 * (LIVE, FROZEN, or an insert in progress). */
static inline bool holds_entry(uintptr_t k)
{
    uintptr_t tag = k & TAG_MASK;
    return k > ST_DEAD && (tag == TAG_LIVE || tag == TAG_FROZEN || tag == TAG_BUSY);
}

/*
 * Estimated number of entries in generations cur..g, for sizing g's
 * successor. There is no shared live counter (it would be a hot line written
 * by every insert and erase): a generation of at most ESTIMATE_SAMPLES slots
 * is counted exactly, a larger one by reading ESTIMATE_SAMPLES slots evenly
 * spread over it (a relative error of about 1 % at the loads where growth
 * starts; an underestimate only makes the next growth come sooner).
 */
static size_t live_estimate(hg_live_table_t *t, gen_t *last)
{
    size_t n = 0;
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    for (; g != NULL; g = gen_next(g)) {
        size_t cap = g->cap, step = cap <= ESTIMATE_SAMPLES ? 1 : cap / ESTIMATE_SAMPLES;
        size_t seen = 0, found = 0;
        for (size_t i = 0; i < cap; i += step, seen++)
            found += holds_entry(atomic_load_explicit(&g->slots[i].key, memory_order_relaxed));
        n += step == 1 ? found : (size_t)((unsigned __int128)found * cap / seen);
        if (g == last)
            break;
    }
    return n;
}

/* Starts the migration of g (the newest generation) into a new one.
 * Returns 0 when a migration is running or was started, -ENOSPC when the
 * next generation could not be mapped. */
static int start_migration(hg_live_table_t *t, gen_t *g)
{
    gen_t *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&g->next, &expected, NEXT_CREATING,
                                                 memory_order_acq_rel, memory_order_acquire))
        return 0; /* someone else is creating or has created it */
    gen_t *n = &t->ring[(g->id + 1) % RING_COUNT];
    /* seq_cst: pairs with the retirement in retire_gen(); a header is reused
     * only once its generation is retired. */
    int st = atomic_load_explicit(&n->state, memory_order_seq_cst);
    if (st != GEN_FREE && st != GEN_RETIRED) {
        atomic_store_explicit(&g->next, NULL, memory_order_release);
        return -ENOSPC;
    }
    size_t live = live_estimate(t, g);
    /* + headroom: inserts keep arriving while the migration runs, at most
     * cap/64 from helping, more if a helper is descheduled in a copy. A
     * small table grows faster (load 1/4 after its migration): a program
     * that builds up its live set from nothing then pays for a few
     * migrations, not a dozen, and a small table costs little memory. */
    size_t cap = live < FAST_GROWTH_LIVE    ? 4 * live
                 : live < DENSE_GROWTH_LIVE ? 2 * live + HEADROOM_SLOTS
                                            : live + live * 3 / 5 + HEADROOM_SLOTS;
    if (cap < g->cap / 4)
        cap = g->cap / 4;
    if (cap < t->min_cap)
        cap = t->min_cap;
    cap = round_cap(cap);
    if (gen_init(t, n, g->id + 1, cap) != 0) {
        /* release: pairs with acquire in gen_next() (nothing published) */
        atomic_store_explicit(&g->next, NULL, memory_order_release);
        return -ENOSPC;
    }
    /* release: publishes n's header and zeroed slots; pairs with the acquire
     * in gen_next(). */
    atomic_store_explicit(&g->next, n, memory_order_release);
    return 0;
}

static void retire_gen(hg_live_table_t *t, gen_t *g)
{
    int expected = GEN_DONE;
    if (!atomic_compare_exchange_strong_explicit(&g->state, &expected, GEN_RETIRED,
                                                 memory_order_seq_cst, memory_order_seq_cst))
        return;
        /* Replace (not unmap) the slots: late readers see EMPTY, late CASes fail
         * harmlessly, and nothing faults. If the kernel refuses, keep the memory
         * (still correct, just not released). */
#if HG_TSAN
    /* ThreadSanitizer models the mmap as a plain write racing with the late
     * readers' atomic loads (that race is the design: the kernel swaps the
     * pages whole). Keep the memory under TSan so it checks everything else. */
    void *p = MAP_FAILED;
#else
    void *p = hg_os.mmap(g->slots, g->map_bytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
#endif
    if (p != MAP_FAILED)
        atomic_fetch_sub_explicit(&t->memory_bytes, g->map_bytes, memory_order_relaxed);
}

static void retire_or_defer(hg_live_table_t *t, gen_t *g)
{
    /* seq_cst (Dekker with hg_live_foreach): we stored cur (seq_cst) before
     * reading walkers; a walker increments walkers before reading cur. Either
     * it sees the new cur or we see it and leave g to hg_live_maintain(). */
    if (atomic_load_explicit(&t->walkers, memory_order_seq_cst) == 0)
        retire_gen(t, g);
}

/* Moves cur past every generation whose migration is done, in order (a
 * nested migration may finish before the one ahead of it). */
static void advance_cur(hg_live_table_t *t)
{
    for (;;) {
        /* seq_cst: see retire_or_defer() */
        gen_t *c = atomic_load_explicit(&t->cur, memory_order_seq_cst);
        if (atomic_load_explicit(&c->state, memory_order_seq_cst) < GEN_DONE)
            return;
        gen_t *nx = gen_next(c);
        if (nx == NULL)
            return;
        atomic_compare_exchange_strong_explicit(&t->cur, &c, nx, memory_order_seq_cst,
                                                memory_order_seq_cst);
    }
}

static void finish_slots(hg_live_table_t *t, gen_t *g, size_t n)
{
    if (n == 0)
        return;
    size_t left = atomic_fetch_sub_explicit(&g->remaining, n, memory_order_acq_rel) - n;
    if (left != 0)
        return;
    /* seq_cst: DONE must be visible before cur moves and before retirement,
     * see the late-inserter check in insert_into(). */
    atomic_store_explicit(&g->state, GEN_DONE, memory_order_seq_cst);
    advance_cur(t);
    retire_or_defer(t, g);
}

/* ---------------------------------------------------------------------- */
/* Insert (also used to place the copies a migration makes)                */
/* ---------------------------------------------------------------------- */

/* Result of trying to insert into one generation. */
enum { INS_DONE, INS_NEXT, INS_FULL };

static int insert_into(gen_t *g, uintptr_t a, uint64_t meta, uint64_t h)
{
    size_t cap = g->cap;
    size_t i = home_of(h, cap);
    for (size_t n = 0; n < cap; n++) {
        slot_t *s = &g->slots[i];
        uintptr_t k = atomic_load_explicit(&s->key, memory_order_relaxed);
#if HAS_CAS16
        while (use_cas16 && (k == ST_EMPTY || k == ST_TOMB)) {
            /* Claim and publish at once; a full barrier, like the seq_cst
             * CAS below, so the load of g->state is ordered after it. */
            uint64_t m = atomic_load_explicit(&s->meta, memory_order_relaxed);
            if (!cas16(s, k, m, a, meta)) {
                k = atomic_load_explicit(&s->key, memory_order_relaxed);
                continue;
            }
            if (atomic_load_explicit(&g->state, memory_order_seq_cst) >= GEN_DONE) {
                /* Either the migration of g ended after our claim (then it
                 * moved our entry on: the slot is MOVED, or zero or someone
                 * else's once g was retired), or we claimed a zero slot of
                 * g's replaced memory (the slot still holds a, maybe frozen
                 * by a late helper that then left it, see migrate_slot()):
                 * abandon that claim and insert into the next generation.
                 * No reader looks for a there: malloc has not returned it,
                 * and a copy's source is not MOVED yet. */
                uintptr_t now = atomic_load_explicit(&s->key, memory_order_relaxed);
                if (now != a && now != (a | TAG_FROZEN))
                    return INS_DONE;
                atomic_store_explicit(&s->key, ST_TOMB, memory_order_relaxed);
                return INS_NEXT;
            }
            if (k == ST_EMPTY && is_sampled(h))
                atomic_fetch_add_explicit(&g->used, 1u << SAMPLE_SHIFT, memory_order_relaxed);
            return INS_DONE;
        }
#endif
        while (k == ST_EMPTY || k == ST_TOMB) {
            /* seq_cst: ordered before the load of g->state below (late
             * inserter vs. retirement, see the essay). */
            if (!atomic_compare_exchange_weak_explicit(&s->key, &k, a | TAG_BUSY,
                                                       memory_order_seq_cst, memory_order_relaxed))
                continue;
            if (atomic_load_explicit(&g->state, memory_order_seq_cst) >= GEN_DONE) {
                /* Claimed a zero slot of a retired generation: abandon it as
                 * a tombstone so late readers keep probing past it. */
                atomic_store_explicit(&s->key, ST_TOMB, memory_order_relaxed);
                return INS_NEXT;
            }
            if (k == ST_EMPTY && is_sampled(h))
                atomic_fetch_add_explicit(&g->used, 1u << SAMPLE_SHIFT, memory_order_relaxed);
            atomic_store_explicit(&s->meta, meta, memory_order_relaxed);
            uintptr_t busy = a | TAG_BUSY;
            /* release: publishes meta; pairs with acquire in lookup() */
            if (atomic_compare_exchange_strong_explicit(&s->key, &busy, a, memory_order_release,
                                                        memory_order_relaxed))
                return INS_DONE;
            /* A migrator set BUSYREQ (and counted the slot final): retire
             * the claim and insert into the newest generation instead. The
             * CAS may fail if g was retired meanwhile; nothing to undo then. */
            uintptr_t req = a | TAG_BUSYREQ;
            atomic_compare_exchange_strong_explicit(&s->key, &req, ST_DEAD, memory_order_relaxed,
                                                    memory_order_relaxed);
            return INS_NEXT;
        }
        if (k == ST_SEALED)
            return INS_NEXT;
        if (++i == cap)
            i = 0;
    }
    return INS_FULL;
}

/* Inserts e into the newest generation, starting the growth of that
 * generation when it passes 3/4 (even while an older migration still runs:
 * a descheduled copier must not stop inserts). A copy (is_copy) ignores the
 * 15/16 limit that protects fresh inserts and keeps trying until it lands:
 * it cannot be dropped, and the 1/16 reserve is there for it. */
static int place(hg_live_table_t *t, uintptr_t a, uint64_t meta, uint64_t h, bool is_copy)
{
    /* acquire: pairs with the seq_cst CAS of cur in advance_cur() */
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    for (;;) {
        gen_t *n = gen_next(g);
        if (n != NULL) {
            g = n;
            continue;
        }
        uint64_t used = atomic_load_explicit(&g->used, memory_order_relaxed);
        if (used >= grow_at(g->cap)) {
            int rc = start_migration(t, g);
            if (gen_next(g) != NULL)
                continue;
            /* rc == 0: another thread is mapping the next generation: keep
             * filling g up to 15/16, then wait for it. Else no memory: drop
             * past 15/16. */
            if (used >= g->cap - g->cap / 16) {
                if (rc == 0) {
                    cpu_relax();
                    continue;
                }
                if (!is_copy)
                    return -ENOSPC;
            }
        }
        int r = insert_into(g, a, meta, h);
        if (r == INS_DONE)
            return 0;
        if (r == INS_FULL && !is_copy &&
            atomic_load_explicit(&g->next, memory_order_relaxed) != NEXT_CREATING)
            return -ENOSPC;
        /* INS_NEXT: g sealed or retired, its next exists. INS_FULL for a
         * copy: retry (growth) until memory comes back. */
    }
}

/* Copies the FROZEN slot s (owned by the caller: only the freezer copies)
 * into the newest generation, then marks s MOVED. */
static void copy_frozen(hg_live_table_t *t, slot_t *s, uintptr_t a, uint64_t h)
{
    place(t, a, atomic_load_explicit(&s->meta, memory_order_relaxed), h, true);
    /* release: the copy is LIVE before anyone sees MOVED; pairs with the
     * acquire in lookup() that then searches the newer generations. */
    atomic_store_explicit(&s->key, a | TAG_MOVED, memory_order_release);
}

/* Moves source slot i of g one step towards a final state (SEALED, DEAD,
 * BUSYREQ, MOVED). Idempotent and safe for several helpers at once: only the
 * CAS into a final state counts, so each slot is counted exactly once.
 * Returns 1 when this call made the slot final. */
static size_t migrate_slot(hg_live_table_t *t, gen_t *g, size_t i)
{
    slot_t *s = &g->slots[i];
    /* acquire: pairs with the release publishing a LIVE key in insert */
    uintptr_t k = atomic_load_explicit(&s->key, memory_order_acquire);
    for (;;) {
        uintptr_t to;
        if (k == ST_SEALED || k == ST_DEAD)
            return 0;
        if (k == ST_EMPTY)
            to = ST_SEALED;
        else if (k == ST_TOMB)
            to = ST_DEAD;
        else if ((k & TAG_MASK) == TAG_LIVE)
            to = k | TAG_FROZEN;
        else if ((k & TAG_MASK) == TAG_BUSY)
            to = (k & ~TAG_MASK) | TAG_BUSYREQ;
        else
            return 0; /* BUSYREQ/MOVED final; FROZEN: its freezer copies it */
        /* acq_rel: acquire the LIVE publication (payload), release our
         * state to the inserter/eraser that races on this key. */
        if (!atomic_compare_exchange_weak_explicit(&s->key, &k, to, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        if (k > ST_DEAD && (k & TAG_MASK) == TAG_LIVE) {
            /* A helper that runs late, over a generation whose migration
             * ended and whose memory was replaced, can only find LIVE there
             * a late insert's claim (x86-64: claims are LIVE at once), whose
             * inserter re-inserts the entry itself once it sees the state:
             * copying it too would make a duplicate. No slot of a DONE
             * generation is legitimately LIVE. seq_cst load after the CAS:
             * see insert_into(). */
            if (atomic_load_explicit(&g->state, memory_order_seq_cst) >= GEN_DONE)
                return 0;
            copy_frozen(t, s, k, hash_addr(k));
        }
        /* BUSY -> BUSYREQ is final here: the inserter re-inserts its
         * entry into the newest generation itself. */
        return 1;
    }
}

/* Migrates one chunk of g if g is migrating. Returns false when there is
 * nothing left to claim. */
static bool help_chunk(hg_live_table_t *t, gen_t *g)
{
    if (gen_next(g) == NULL)
        return false;
    if (atomic_load_explicit(&g->cursor, memory_order_relaxed) >= g->cap)
        return false;
    size_t lo = atomic_fetch_add_explicit(&g->cursor, CHUNK_SLOTS, memory_order_relaxed);
    if (lo >= g->cap)
        return false;
    size_t hi = lo + CHUNK_SLOTS < g->cap ? lo + CHUNK_SLOTS : g->cap;
    /* Counted once per chunk (one atomic subtraction instead of one per
     * slot): a claimer descheduled mid-chunk holds back the end of the
     * migration by the slots it made final but has not counted yet, until it
     * runs again (sweep() finishes and counts the rest of its chunk). Inserts
     * and erases go on meanwhile; only the old generation's release waits. */
    size_t done = 0;
    for (size_t i = lo; i < hi; i++)
        done += migrate_slot(t, g, i);
    finish_slots(t, g, done);
    return true;
}

/* All chunks are claimed but some claimer was descheduled mid-chunk: finish
 * its slots for it (O(cap)). */
static void sweep(hg_live_table_t *t, gen_t *g)
{
    if (gen_next(g) == NULL)
        return;
    /* One sweeper at a time: more would only repeat the same O(cap) scan. */
    if (atomic_exchange_explicit(&g->is_sweeping, true, memory_order_acquire))
        return;
    for (size_t i = 0; i < g->cap; i++) {
        if (atomic_load_explicit(&g->state, memory_order_acquire) != GEN_ACTIVE)
            break;
        finish_slots(t, g, migrate_slot(t, g, i));
    }
    /* release: pairs with the acquire exchange above */
    atomic_store_explicit(&g->is_sweeping, false, memory_order_release);
}

/* Migrates one chunk of the oldest migration that has chunks left. Returns
 * false when no migration has chunks left to claim. */
static bool help_some(hg_live_table_t *t)
{
    /* acquire: pairs with the seq_cst CAS of cur in advance_cur() */
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    for (gen_t *n = gen_next(g); n != NULL; g = n, n = gen_next(n))
        if (help_chunk(t, g))
            return true;
    return false;
}

/* Finishes what chunks cannot: the slots of descheduled claimers. */
static void sweep_all(hg_live_table_t *t)
{
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    for (gen_t *n = gen_next(g); n != NULL; g = n, n = gen_next(n))
        sweep(t, g);
}

static inline void help_if_migrating(hg_live_table_t *t)
{
    /* acquire: pairs with the seq_cst CAS of cur in advance_cur() */
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    if (atomic_load_explicit(&g->next, memory_order_relaxed) != NULL)
        help_some(t);
}

__attribute__((noinline)) static int insert_slow(hg_live_table_t *t, uintptr_t a, uint64_t meta,
                                                 uint64_t h)
{
    help_if_migrating(t);
    return place(t, a, meta, h, false);
}

int hg_live_insert(hg_live_table_t *t, const hg_live_entry_t *e)
{
    uint64_t meta;
    if (!pack_meta(e, &meta))
        return -EFBIG;
    uint64_t h = hash_addr(e->address);
    /* The common case, without place()'s generality: no migration in
     * flight (cur is the newest generation) and room below 3/4. Anything
     * else, or an insert_into() that did not land, goes the general way. */
    /* acquire: pairs with the seq_cst CAS of cur in advance_cur() */
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    if (__builtin_expect(atomic_load_explicit(&g->next, memory_order_relaxed) == NULL, 1) &&
        atomic_load_explicit(&g->used, memory_order_relaxed) < grow_at(g->cap) &&
        insert_into(g, e->address, meta, h) == INS_DONE)
        return 0;
    return insert_slow(t, e->address, meta, h);
}

void hg_live_prefetch(hg_live_table_t *t, uintptr_t address)
{
    /* acquire: pairs with the seq_cst CAS of cur in advance_cur() */
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    gen_t *n = gen_next(g);
    if (n == NULL && g->cap < PREFETCH_MIN_CAP)
        return; /* the whole table stays in cache: nothing to hide */
    for (; n != NULL; n = gen_next(n))
        g = n;
    __builtin_prefetch(&g->slots[home_of(hash_addr(address), g->cap)], 1, 3);
}

/* ---------------------------------------------------------------------- */
/* Lookup: find and erase                                                  */
/* ---------------------------------------------------------------------- */

static bool lookup(hg_live_table_t *t, uintptr_t a, hg_live_entry_t *out, bool is_erase)
{
    uint64_t h = hash_addr(a);
    /* acquire: pairs with the seq_cst store of cur in finish_slots() */
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    while (g != NULL) {
        size_t cap = g->cap;
        size_t i = home_of(h, cap);
        /* n counts slots passed; re-reading the same slot does not count */
        for (size_t n = 0; n < cap;) {
            slot_t *s = &g->slots[i];
            /* acquire: pairs with the release that published the key */
            uintptr_t k = atomic_load_explicit(&s->key, memory_order_acquire);
            if (k == a) {
                uint64_t meta = atomic_load_explicit(&s->meta, memory_order_relaxed);
                if (is_erase) {
                    /* acq_rel: the CAS is the linearization point of erase;
                     * success proves meta above belongs to this entry. */
                    if (!atomic_compare_exchange_strong_explicit(
                            &s->key, &k, ST_TOMB, memory_order_acq_rel, memory_order_acquire))
                        continue; /* frozen or moved under us: re-read */
                } else {
                    atomic_thread_fence(memory_order_acquire);
                    if (atomic_load_explicit(&s->key, memory_order_relaxed) != a)
                        continue;
                }
                if (out != NULL)
                    unpack(a, meta, out);
                return true;
            }
            if (k == ST_EMPTY || k == ST_SEALED)
                break;
            if ((k & ~TAG_MASK) == a && k > ST_DEAD) {
                uintptr_t tag = k & TAG_MASK;
                if (tag == TAG_FROZEN) {
                    cpu_relax();
                    continue; /* the copier finishes in a few stores */
                }
                if (tag == TAG_MOVED)
                    break;
                /* BUSY/BUSYREQ: an insert not finished yet (only a racy find
                 * can see it) or a claim abandoned in a retired generation:
                 * not this entry, keep probing. */
            }
            if (++i == cap)
                i = 0;
            n++;
        }
        g = gen_next(g);
    }
    return false;
}

bool hg_live_erase(hg_live_table_t *t, uintptr_t address, hg_live_entry_t *out)
{
    help_if_migrating(t);
    return lookup(t, address, out, true);
}

bool hg_live_find(hg_live_table_t *t, uintptr_t address, hg_live_entry_t *out)
{
    return lookup(t, address, out, false);
}

/* ---------------------------------------------------------------------- */
/* Whole-table operations                                                  */
/* ---------------------------------------------------------------------- */

int hg_live_create(hg_live_table_t **out, size_t initial_capacity)
{
    size_t bytes = (sizeof(hg_live_table_t) + 4095) & ~(size_t)4095;
    hg_live_table_t *t = hg_os_map(bytes);
    if (t == NULL)
        return -ENOMEM;
#if HAS_CAS16
    use_cas16 = cpu_has_cas16();
#endif
    /* hg_os_map memory is zeroed: counters 0, ring headers GEN_FREE. */
    size_t cap = round_cap(initial_capacity * 2);
    t->min_cap = cap < MIN_CAP ? MIN_CAP : cap;
    atomic_store_explicit(&t->memory_bytes, bytes, memory_order_relaxed);
    if (gen_init(t, &t->ring[0], 0, t->min_cap) != 0) {
        hg_os_unmap(t, bytes);
        return -ENOMEM;
    }
    atomic_store_explicit(&t->cur, &t->ring[0], memory_order_release);
    *out = t;
    return 0;
}

static void finish_migration(hg_live_table_t *t);

size_t hg_live_count(hg_live_table_t *t)
{
    /* Once every migration is done, each entry is in one slot of cur. */
    finish_migration(t);
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
    size_t n = 0;
    for (; g != NULL; g = gen_next(g))
        for (size_t i = 0; i < g->cap; i++) {
            uintptr_t k = atomic_load_explicit(&g->slots[i].key, memory_order_relaxed);
            n += k > ST_DEAD && (k & TAG_MASK) == TAG_LIVE;
        }
    return n;
}

size_t hg_live_memory_bytes(const hg_live_table_t *t)
{
    return atomic_load_explicit(&t->memory_bytes, memory_order_relaxed);
}

static void retire_deferred(hg_live_table_t *t)
{
    /* seq_cst: see retire_or_defer() */
    if (atomic_load_explicit(&t->walkers, memory_order_seq_cst) != 0)
        return;
    for (unsigned i = 0; i < RING_COUNT; i++)
        if (atomic_load_explicit(&t->ring[i].state, memory_order_seq_cst) == GEN_DONE)
            retire_gen(t, &t->ring[i]);
}

/* Is a LIVE in generation g or a newer one? (fork repair only) */
static bool lookup_from(hg_live_table_t *t, gen_t *g, uintptr_t a)
{
    (void)t;
    uint64_t h = hash_addr(a);
    for (; g != NULL; g = gen_next(g)) {
        size_t cap = g->cap, i = home_of(h, cap);
        for (size_t n = 0; n < cap; n++) {
            uintptr_t k = atomic_load_explicit(&g->slots[i].key, memory_order_relaxed);
            if (k == a)
                return true;
            if (k == ST_EMPTY || k == ST_SEALED || k == (a | TAG_MOVED))
                break;
            if (++i == cap)
                i = 0;
        }
    }
    return false;
}

/* Helps until the migration out of cur (if any) is done. May wait for an
 * inserter that owns a BUSYREQ slot. */
static void finish_migration(hg_live_table_t *t)
{
    for (;;) {
        gen_t *g = atomic_load_explicit(&t->cur, memory_order_acquire);
        if (gen_next(g) == NULL)
            return;
        if (!help_some(t)) {
            sweep_all(t);
            cpu_relax(); /* a FROZEN slot's copier is finishing */
        }
    }
}

/* Reports the entry that a slot found MOVED during a walk now has in the
 * newer generations, iff its payload is still the one moved. */
static int report_moved(hg_live_table_t *t, slot_t *s, uintptr_t a,
                        int (*fn)(const hg_live_entry_t *e, void *arg), void *arg)
{
    uint64_t meta = atomic_load_explicit(&s->meta, memory_order_relaxed);
    hg_live_entry_t e, moved;
    if (!lookup(t, a, &e, false))
        return 0;
    unpack(a, meta, &moved);
    if (e.size != moved.size || e.stack_id != moved.stack_id ||
        e.alloc_time_ms != moved.alloc_time_ms)
        return 0;
    return fn(&e, arg);
}

int hg_live_foreach(hg_live_table_t *t, int (*fn)(const hg_live_entry_t *e, void *arg), void *arg)
{
    /* seq_cst: Dekker with retire_or_defer() */
    atomic_fetch_add_explicit(&t->walkers, 1, memory_order_seq_cst);
    finish_migration(t);
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_seq_cst);
    int rc = 0;
    for (size_t i = 0; i < g->cap && rc == 0; i++) {
        slot_t *s = &g->slots[i];
        /* acquire: pairs with the release that published the key */
        uintptr_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k <= ST_DEAD)
            continue;
        uintptr_t tag = k & TAG_MASK, a = k & ~TAG_MASK;
        if (tag == TAG_LIVE || tag == TAG_FROZEN) {
            hg_live_entry_t e;
            unpack(a, atomic_load_explicit(&s->meta, memory_order_relaxed), &e);
            atomic_thread_fence(memory_order_acquire);
            uintptr_t k2 = atomic_load_explicit(&s->key, memory_order_relaxed);
            /* The payload of a source slot never changes once published, so
             * it is still this entry's if the slot kept it (LIVE), froze it
             * or moved it since. */
            if (k2 == a || k2 == (a | TAG_FROZEN) || k2 == (a | TAG_MOVED))
                rc = fn(&e, arg);
            /* else erased (or reused) while we read it: erased during the walk */
        } else if (tag == TAG_MOVED) {
            rc = report_moved(t, s, a, fn, arg);
        }
    }
    /* seq_cst: pairs with the load of walkers in retire_or_defer() */
    if (atomic_fetch_sub_explicit(&t->walkers, 1, memory_order_seq_cst) == 1)
        retire_deferred(t);
    return rc;
}

void hg_live_maintain(hg_live_table_t *t, uint64_t now_ms)
{
    (void)now_ms; /* retirement needs no grace period, see the essay */
    while (help_some(t))
        ;
    sweep_all(t);
    retire_deferred(t);
}

/* Repairs what threads that do not exist in a fork child left half done.
 * The child runs this before any other thread exists, so nothing races. */
void hg_live_after_fork(hg_live_table_t *t)
{
    atomic_store_explicit(&t->walkers, 0, memory_order_relaxed);
    gen_t *g = atomic_load_explicit(&t->cur, memory_order_relaxed);
    /* No migration in flight and no generation being mapped: nothing can
     * wait for a missing thread (an abandoned BUSY claim only makes lookups
     * probe past it, and the next migration finalises it), so skip the
     * O(capacity) scan. */
    if (atomic_load_explicit(&g->next, memory_order_relaxed) == NULL)
        return;
    /* First the generation being mapped (only the newest can be): the
     * copies made below may need to grow the table past it. */
    for (gen_t *c = g; c != NULL; c = gen_next(c)) {
        atomic_store_explicit(&c->is_sweeping, false, memory_order_relaxed);
        gen_t *expected = NEXT_CREATING; /* its mapper is gone: map again later */
        if (atomic_compare_exchange_strong_explicit(&c->next, &expected, NULL, memory_order_relaxed,
                                                    memory_order_relaxed))
            atomic_store_explicit(&t->ring[(c->id + 1) % RING_COUNT].state, GEN_FREE,
                                  memory_order_relaxed); /* its mapping is lost */
    }
    for (; g != NULL; g = gen_next(g)) {
        if (atomic_load_explicit(&g->state, memory_order_relaxed) != GEN_ACTIVE)
            continue;
        for (size_t i = 0; i < g->cap; i++) {
            slot_t *s = &g->slots[i];
            uintptr_t k = atomic_load_explicit(&s->key, memory_order_relaxed);
            if (k <= ST_DEAD)
                continue;
            uintptr_t a = k & ~TAG_MASK, tag = k & TAG_MASK;
            if (tag == TAG_BUSY) {
                /* An insert whose malloc never returned in this process. */
                atomic_store_explicit(&s->key, ST_TOMB, memory_order_relaxed);
            } else if (tag == TAG_BUSYREQ) {
                atomic_store_explicit(&s->key, ST_DEAD, memory_order_relaxed);
            } else if (tag == TAG_FROZEN) {
                /* Its copier is gone: drop a half-made copy, copy again. */
                for (gen_t *n = gen_next(g); n != NULL; n = gen_next(n))
                    for (size_t j = 0; j < n->cap; j++)
                        if (atomic_load_explicit(&n->slots[j].key, memory_order_relaxed) ==
                            (a | TAG_BUSY))
                            atomic_store_explicit(&n->slots[j].key, ST_TOMB, memory_order_relaxed);
                if (!lookup_from(t, gen_next(g), a))
                    copy_frozen(t, s, a, hash_addr(a));
                atomic_store_explicit(&s->key, a | TAG_MOVED, memory_order_relaxed);
            }
        }
        if (gen_next(g) == NULL)
            continue;
        /* A thread may have made a slot final and died before counting it:
         * count again. */
        size_t left = 0;
        for (size_t i = 0; i < g->cap; i++) {
            uintptr_t k = atomic_load_explicit(&g->slots[i].key, memory_order_relaxed);
            uintptr_t tag = k & TAG_MASK;
            left += !(k == ST_SEALED || k == ST_DEAD ||
                      (k > ST_DEAD && (tag == TAG_MOVED || tag == TAG_BUSYREQ)));
        }
        atomic_store_explicit(&g->remaining, left + 1, memory_order_relaxed);
        finish_slots(t, g, 1);
    }
    finish_migration(t);
}
