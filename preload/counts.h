/*
 * Per-thread deltas of the per-stack counters. The allocation path of a
 * thread adds to counters that only that thread writes (plain loads and
 * stores, no atomic read-modify-write, no cache line shared with another
 * thread); the writer folds every thread's new deltas into the stack table's
 * counters (hg_stack_counters) before it reads them. Counts stay exact: a
 * thread's deltas are merged whether it is running, has exited (its block is
 * merged a last time, then reused) or was left behind by fork. State machine
 * and memory bound at the top of counts.c.
 */
#ifndef HEAPGROW_PRELOAD_COUNTS_H
#define HEAPGROW_PRELOAD_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "stack_table.h"

/* Prepares the thread-exit hook (a pthread key). Returns 0 or -errno; on
 * failure the counters still work, but a block is reused only when its
 * thread's exit is seen (so blocks of exited threads are kept). Call once,
 * from hg_core_init, before tracing starts. */
int hg_counts_init(hg_stack_table_t *stacks);

/* One allocation of `bytes` from stack `id` (one free with hg_counts_free).
 * Called with the shim guard held, from the allocating (freeing) thread. No
 * lock; the first call of a thread, and a thread whose stacks outgrow its
 * block, map memory. When that fails the stack's shared counters are updated
 * directly (atomically), so nothing is lost. */
void hg_counts_alloc(uint32_t id, uint64_t bytes);
void hg_counts_free(uint32_t id, uint64_t bytes);
/* Takes back a hg_counts_free() of this thread (realloc failed: the block is
 * still allocated). */
void hg_counts_free_undo(uint32_t id, uint64_t bytes);

/* Adds every thread's deltas since the previous merge to the stacks'
 * counters. Exact for every thread whose last allocation or free happened
 * before this call (e.g. a joined thread); a thread running meanwhile is
 * caught up by the next merge. Callers are serialised (the writer's
 * io_lock). */
void hg_counts_merge(void);

/* Fork child (from the atfork child handler, io_lock held by the forking
 * thread): the blocks of the threads that do not exist in the child are
 * retired, so the next merge takes their last deltas and reuses them. */
void hg_counts_atfork_child(void);

/* Number of blocks made so far, free or not (tests). */
size_t hg_counts_block_count(void);

#endif /* HEAPGROW_PRELOAD_COUNTS_H */
