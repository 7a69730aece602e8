/*
 * The per-thread reentrancy guard of the preload library. While a thread is
 * inside the shim (unwinding, interning, talking to the loader or the writer),
 * every allocation it makes is forwarded untraced. The flag lives in
 * initial-exec TLS: reading it is one %fs-relative load, it never allocates and
 * it is usable before the library has initialised. Nothing is registered per
 * thread, so threads that come and go leave nothing behind.
 *
 * The writer thread sets the guard for its whole life (hg_guard_enter() at its
 * start, never left), so zlib's and libc's allocations made for it are
 * untraced.
 */
#ifndef HEAPGROW_PRELOAD_GUARD_H
#define HEAPGROW_PRELOAD_GUARD_H

#include <stdbool.h>

/* Defined in real.c. Thread-local, no atomics needed (one thread only). */
extern __thread bool hg_guard_in_shim __attribute__((tls_model("initial-exec")));

/* True while this thread is inside the shim. */
static inline bool hg_guard_is_set(void)
{
    return hg_guard_in_shim;
}

/* Marks this thread as inside the shim. Returns the previous value, for
 * hg_guard_leave(). */
static inline bool hg_guard_enter(void)
{
    bool was = hg_guard_in_shim;
    hg_guard_in_shim = true;
    return was;
}

/* Restores the value returned by the matching hg_guard_enter(). */
static inline void hg_guard_leave(bool was)
{
    hg_guard_in_shim = was;
}

#endif /* HEAPGROW_PRELOAD_GUARD_H */
