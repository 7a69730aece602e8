/*
 * The tracer's process-wide state, shared by the shim (shim.c, init in core.c)
 * and the writer (writer.c). One instance, hg_core, zero-initialised in .bss so
 * it is usable before any constructor runs. Fields are labelled with who writes
 * them and what protects them.
 */
#ifndef HEAPGROW_PRELOAD_CORE_H
#define HEAPGROW_PRELOAD_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "live_table.h"
#include "stack_table.h"

#define HG_DEFAULT_INTERVAL_MS 100u
#define HG_DEFAULT_MAX_FRAMES  64u
#define HG_PATH_MAX            4096

/* HEAPGROW_* settings, read once at init (config.c); read-only afterwards. */
typedef struct hg_config {
    char output[HG_PATH_MAX];   /* HEAPGROW_OUTPUT pattern (%p pid, %e exe name);
                                   default "heapgrow.%e.%p.hgt" */
    uint32_t interval_ms;       /* HEAPGROW_INTERVAL_MS, default 100        */
    uint32_t max_frames;        /* HEAPGROW_MAX_FRAMES, 1..256, default 64  */
    uint64_t sample_bytes;      /* HEAPGROW_SAMPLE_BYTES, 0 = exact; after init
                                   the rate in effect (sample.h)           */
    uint64_t sample_seed;       /* HEAPGROW_SAMPLE_SEED, 0 = random         */
    uint32_t unwinder;          /* HEAPGROW_UNWIND=libunwind|fp (hg_unwinder) */
    int dump_signal;            /* HEAPGROW_SIGNAL: number/name, 0 = off; default SIGUSR2 */
    char wrappers[1024];        /* HEAPGROW_WRAPPERS, recorded in the header */
    bool is_quiet;              /* HEAPGROW_QUIET=1: no messages on stderr   */
} hg_config_t;

enum hg_core_state {
    HG_STATE_UNINIT = 0,   /* nothing done yet                               */
    HG_STATE_INITIALIZING, /* one thread runs hg_core_init; others forward   */
    HG_STATE_ACTIVE,       /* tracing                                        */
    HG_STATE_PASSIVE,      /* forwarding only (secure mode, failure, finished) */
};

typedef struct hg_core {
    /* Written by hg_core_init before state becomes ACTIVE (release); read-only
     * after that: */
    hg_config_t cfg;
    hg_live_table_t *live;
    hg_stack_table_t *stacks;
    uint64_t start_mono_ns;  /* CLOCK_MONOTONIC at init               */
    uint64_t start_real_ns;  /* CLOCK_REALTIME at init                */
    /* enum hg_core_state; release on the transition to ACTIVE, acquire by
     * the shim on every call. */
    _Atomic int state;
    /* Allocations forwarded untraced while ACTIVE (table full, arena
     * exhausted...): relaxed counter, recorded in every snapshot. */
    _Alignas(64) _Atomic uint64_t dropped_count;
    /* Milliseconds since start at the writer's last tick (hg_core_tick_clock;
     * relaxed): the allocation time of live entries, which keep whole
     * seconds anyway, without a clock read per allocation. Its own line: the
     * shim reads it on every allocation, the writer writes it every tick. */
    _Alignas(64) _Atomic uint32_t clock_ms;
} hg_core_t;

extern hg_core_t hg_core;

/* Milliseconds since start (vDSO clock read). */
uint32_t hg_core_now_ms(void);

/* Milliseconds since start as of the writer's last tick (at most one
 * interval old): one load, for the allocation path. */
static inline uint32_t hg_core_clock_ms(void)
{
    return atomic_load_explicit(&hg_core.clock_ms, memory_order_relaxed);
}

/* Sets the clock read by hg_core_clock_ms() to now (the writer, each tick). */
void hg_core_tick_clock(void);
/* Nanoseconds of CLOCK_MONOTONIC since start. */
uint64_t hg_core_now_ns(void);

/* Symbols that leave the library (interposed libc/C++ names, public API).
 * Everything else is hidden (meson: gnu_symbol_visibility hidden). */
#define HG_EXPORT __attribute__((visibility("default")))

/* Runs the one-time initialisation (core.c) and returns the state it leaves
 * (enum hg_core_state). UNINIT -> INITIALIZING (one thread; the others forward
 * untraced meanwhile) -> ACTIVE, or PASSIVE in secure-execution mode, when the
 * tables cannot be created or hg_writer_start() fails. Safe to call from any
 * thread, before main, and repeatedly (cheap once decided). */
int hg_core_init(void);

/* pid of the process that owns the current trace (updated in fork children).
 * The exit paths write the END record only when getpid() equals it, so a
 * vfork child or a raw clone never finishes its parent's trace. */
int hg_core_owner_pid(void);

#endif /* HEAPGROW_PRELOAD_CORE_H */
