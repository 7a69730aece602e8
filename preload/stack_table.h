/*
 * The stack table: interns call stacks (arrays of return addresses) into small
 * integer ids and keeps each stack's counters. Insert-only and lock-free: two
 * threads interning the same new stack get the same id. Ids start at 1 and are
 * dense enough to iterate (a few ids may be left unused by lost races; those
 * have no stack). Memory comes from hg_os mmap only. State machine and growth
 * at the top of stack_table.c.
 */
#ifndef HEAPGROW_PRELOAD_STACK_TABLE_H
#define HEAPGROW_PRELOAD_STACK_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hg_stack_table hg_stack_table_t;

/* Per-stack counters, updated with relaxed atomics from the allocation path. */
typedef struct hg_stack_counters {
    _Atomic int64_t live_bytes;
    _Atomic int64_t live_count;
    _Atomic uint64_t alloc_count;
    _Atomic uint64_t alloc_bytes;
} hg_stack_counters_t;

/* The largest id handed out: the live table packs ids into 24 bits
 * (HG_LIVE_STACK_ID_MAX in live_table.h); past it the table is full. */
#define HG_STACK_ID_MAX ((1u << 24) - 1)

/* Returns 0 or -errno. Not thread-safe (call once). */
int hg_stack_create(hg_stack_table_t **out);

/* Returns the id of frames[0..nframes) (nframes <= HG_MAX_FRAMES), inserting it
 * if new; 0 when the table is full (HG_STACK_ID_MAX ids) or out of memory (the
 * caller folds the allocation into the "unknown" stack 0). Thread-safe, no
 * lock; a known stack costs one hash of the frames, one read-only cache line
 * of the index and one comparison with its record (no write). */
uint32_t hg_stack_intern(hg_stack_table_t *t, const uintptr_t *frames, uint32_t nframes);

/* Counters of stack `id` (0 included: the "unknown" stack). NULL for an id
 * that has no stack (yet). The pointer stays valid for the process's life. */
hg_stack_counters_t *hg_stack_counters(hg_stack_table_t *t, uint32_t id);

/* Frames of stack `id`: returns the frame count and sets *frames, or 0 when the
 * id has no stack. Acquire: a stack returned by hg_stack_intern in any thread
 * is visible here once its id is. */
uint32_t hg_stack_frames(hg_stack_table_t *t, uint32_t id, const uintptr_t **frames);

/* One past the highest id handed out so far (acquire). The writer iterates
 * 1..hg_stack_id_limit() and skips ids without a stack. */
uint32_t hg_stack_id_limit(const hg_stack_table_t *t);

/* Bytes of memory the table holds. */
size_t hg_stack_memory_bytes(const hg_stack_table_t *t);

#endif /* HEAPGROW_PRELOAD_STACK_TABLE_H */
