/*
 * Internal memory of the preload library: mmap-backed, never from the traced
 * allocator, never freed (the tracer's structures live as long as the process;
 * freeing at exit is forbidden by STYLE.md §11). Chunks grow geometrically
 * (64 KiB doubling to 16 MiB), so the number of mappings stays logarithmic and
 * the waste is bounded: at most the tail of the chunk that was current when a
 * request did not fit (< the request size, and < 1/4 of a chunk since larger
 * requests get a mapping of their own).
 */
#ifndef HEAPGROW_PRELOAD_ARENA_H
#define HEAPGROW_PRELOAD_ARENA_H

#include <stddef.h>

/* Returns `size` zeroed bytes aligned to `align` (a power of two <= 4096), or
 * NULL when mmap fails (errno preserved). Thread-safe and lock-free;
 * async-signal-safe except that it may call mmap. */
void *hg_arena_alloc(size_t size, size_t align);

/* Bytes mapped by the arena so far. */
size_t hg_arena_mapped_bytes(void);

#endif /* HEAPGROW_PRELOAD_ARENA_H */
