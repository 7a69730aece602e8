/*
 * The live table: pointer -> (size, stack id, allocation time) for every live
 * allocation the shim traced. Lock-free: insert and erase take no lock and make
 * no syscall except the rare mmap that starts a growth. Pure data structure: the
 * only OS call is through hg_os (mmap/munmap/madvise). Growth, the slot state
 * machine and the memory bound are described at the top of live_table.c.
 */
#ifndef HEAPGROW_PRELOAD_LIVE_TABLE_H
#define HEAPGROW_PRELOAD_LIVE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hg_live_table hg_live_table_t;

/* What the table keeps per live allocation. The table packs size, stack id
 * and time into 8 bytes (16 per slot with the address), so not every value
 * survives: the time is kept in whole seconds (rounded down, saturating at
 * 32,767 s) for blocks below 16 MiB and not at all for larger ones, which
 * read back HG_LIVE_TIME_UNKNOWN; see hg_live_insert() for the limits. */
typedef struct hg_live_entry {
    uintptr_t address;
    uint64_t size;
    uint32_t stack_id;
    uint32_t alloc_time_ms;
} hg_live_entry_t;

#define HG_LIVE_STACK_ID_MAX ((1u << 24) - 1)          /* largest stack id kept  */
#define HG_LIVE_SIZE_MAX     (((uint64_t)1 << 39) - 1) /* largest size kept      */
#define HG_LIVE_TIME_UNKNOWN UINT32_MAX                /* alloc_time_ms not kept */

/* Creates an empty table sized for about `initial_capacity` entries; that
 * size is also the floor under which rebuilds never shrink it, so a small
 * value (a few thousand) is best: growth is cheap.
 * Returns 0 or -errno (-ENOMEM when mmap fails). Not thread-safe (call once). */
int hg_live_create(hg_live_table_t **out, size_t initial_capacity);

/* Inserts `e` (e->address must not be live in the table: the allocator never
 * returns a live address twice). Returns 0, -ENOSPC when the table could not
 * grow, or -EFBIG when e->size > HG_LIVE_SIZE_MAX or e->stack_id >
 * HG_LIVE_STACK_ID_MAX (the caller counts a dropped entry). Thread-safe,
 * async-signal-safe except for the mmap of a growth. No shared counter is
 * written: a slot and its generation's header are all it touches. */
int hg_live_insert(hg_live_table_t *t, const hg_live_entry_t *e);

/* A hint: starts loading the cache line where hg_live_insert(address) will
 * look first, so that the miss overlaps with the caller's work before the
 * insert (the shim unwinds meanwhile). Changes nothing. Thread-safe. */
void hg_live_prefetch(hg_live_table_t *t, uintptr_t address);

/* Removes `address` and copies its entry into *out. Returns true when it was
 * present; false for addresses the table never saw (the caller forwards the
 * free untraced). Thread-safe. */
bool hg_live_erase(hg_live_table_t *t, uintptr_t address, hg_live_entry_t *out);

/* Looks `address` up without removing it. Thread-safe. */
bool hg_live_find(hg_live_table_t *t, uintptr_t address, hg_live_entry_t *out);

/* Number of live entries: finishes pending migrations, then counts the
 * slots (O(capacity); for the writer and tests, not the hot path). Exact when
 * no insert/erase runs. Thread-safe. */
size_t hg_live_count(hg_live_table_t *t);

/* Bytes of memory the table holds now (all generations not yet released). */
size_t hg_live_memory_bytes(const hg_live_table_t *t);

/* Calls fn for every entry present for the whole duration of the walk; entries
 * inserted or erased during it may or may not be seen, never seen twice.
 * Stops early when fn returns non-zero and returns that value. Safe alongside
 * concurrent insert/erase (used by the writer thread for live-set dumps). */
int hg_live_foreach(hg_live_table_t *t, int (*fn)(const hg_live_entry_t *e, void *arg), void *arg);

/* Work the writer thread does off the hot path: finishes pending migrations
 * and releases old generations that a foreach walk kept alive (others are
 * released as soon as their migration ends; no grace period is needed, see
 * live_table.c). now_ms (a monotonic clock in ms) is unused for now. O(size of
 * the migrating generations). Thread-safe. */
void hg_live_maintain(hg_live_table_t *t, uint64_t now_ms);

/* In a fork child, before it starts other threads (e.g. from the atfork
 * child handler): repairs what threads that do not exist in the child left
 * half done (a copy in flight, an insert whose malloc never returned, a
 * generation being mapped) and finishes pending migrations. Without it the
 * child could wait forever on such a slot. */
void hg_live_after_fork(hg_live_table_t *t);

#endif /* HEAPGROW_PRELOAD_LIVE_TABLE_H */
