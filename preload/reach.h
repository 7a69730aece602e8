/*
 * Reachability of the live set, as valgrind's memcheck classifies leaks
 * (docs/LEAKS.md): every live block is definitely lost, indirectly lost,
 * possibly lost or still reachable. The scan runs in a forked child (a
 * copy-on-write snapshot of the heap) so the program waits only for the
 * child's exit; the child only reads memory and writes per-stack totals into
 * a shared mapping.
 */
#ifndef HEAPGROW_PRELOAD_REACH_H
#define HEAPGROW_PRELOAD_REACH_H

#include <stddef.h>
#include <stdint.h>

#include "live_table.h"

/* Categories, in the order of the REACH record (format.h). */
enum hg_reach_kind {
    HG_REACH_DEFINITE = 0,
    HG_REACH_INDIRECT = 1,
    HG_REACH_POSSIBLE = 2,
    HG_REACH_REACHABLE = 3,
    HG_REACH_NKINDS = 4,
};

/* Totals of one stack id. */
typedef struct hg_reach_stat {
    uint32_t stack_id;
    uint32_t pad;
    uint64_t bytes[HG_REACH_NKINDS];
    uint64_t count[HG_REACH_NKINDS];
} hg_reach_stat_t;

/* A finished scan: stats[0..n) sorted by stack id, in mmap'd memory. */
typedef struct hg_reach_result {
    hg_reach_stat_t *stats;
    size_t n;
    uint64_t nblocks;        /* blocks classified                         */
    uint32_t threads_unseen; /* threads whose stack could not be scanned  */
    void *map;               /* the mapping behind stats (for release)    */
    size_t map_len;
} hg_reach_result_t;

/* Classifies every block of `t`. exclude_tid: a thread of ours (the writer)
 * whose stack is not a root (0 = none). self_stack_lo: the calling thread's
 * stack is a root from this address up (the frame where the program called
 * into the tracer: our own frames below it hold stale words of earlier
 * tracer calls); 0 = the calling thread's stack is not a root. Must be called with the shim guard set
 * and no other tracer work in flight on the table's maintenance. Waits at most
 * wait_ns for the child. Returns 0, or -errno (-ETIMEDOUT, -ENOMEM, -ECHILD
 * when the child died). */
int hg_reach_scan(hg_live_table_t *t, int exclude_tid, uintptr_t self_stack_lo, uint64_t wait_ns,
                  hg_reach_result_t *out);

/* Names the stack of a thread of the tracer's (addr: any address on it): its
 * mapping is never a root. Called by the writer thread when it starts. */
void hg_reach_note_private_stack(const void *addr);

/* Releases a result of hg_reach_scan (zeroes it). */
void hg_reach_release(hg_reach_result_t *r);

#endif /* HEAPGROW_PRELOAD_REACH_H */
