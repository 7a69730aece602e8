/*
 * The tracer's process-wide state (hg_core) and its life cycle: one-time
 * initialisation, fork handlers, and the three ways a traced process ends
 * (exit/return from main, _exit/_Exit in shim.c, signals in signals.c). Owns no
 * allocation path; never calls abort() or exit().
 *
 * Exit status: glibc's on_exit(3) hands its handler the status given to
 * exit(), so the END record carries the true status without interposing
 * exit() itself. The handler is registered during init (our constructor runs
 * from ld.so before __libc_start_main registers _dl_fini), so it runs last of
 * all exit handlers: after the program's atexit handlers, its static
 * destructors and every library destructor. A late destructor is the fallback
 * (status unknown -> 0) only when on_exit() failed.
 */
#define HG_BUILDING_LIBHEAPGROW 1
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "heapgrow/format.h"
#include "heapgrow/heapgrow.h"

#include "config.h"
#include "counts.h"
#include "guard.h"
#include "log.h"
#include "real.h"
#include "signals.h"
#include "sample.h"
#include "unwind.h"
#include "writer.h"

hg_core_t hg_core;

/* Initial capacity of the live table, also the floor under which its
 * rebuilds never shrink it: 4,096 entries -> 8,192 slots of 16 bytes (128
 * KiB of address space, touched page by page as addresses land). Erased
 * entries leave tombstones, and a table whose slots fill up with them is
 * rebuilt into a fresh mapping. A program that churns through a few thousand
 * distinct addresses with few blocks live (the usual malloc/free pattern)
 * fills 1,024 slots with tombstones every few tens of thousands of calls:
 * measured on the churn benchmarks, 170 rebuilds in 5 million pairs, each an
 * mmap, a copy and a MAP_FIXED replacement whose TLB shootdown interrupts
 * every other thread of the program, and two threads' blocks sharing the few
 * cache lines of such a table. 8,192 slots cut that to about 15 and made
 * churn 8 % and the 2-thread churn 25 % faster (bench/RESULTS.md). When
 * sampling, the live set is the sampled blocks (a few per R bytes of live
 * heap), and the table still stays in cache. */
#define LIVE_INITIAL_CAPACITY 4096u

/* getpid() of the process owning the trace; relaxed (written by init and the
 * fork child handler, before other threads exist in the child). */
static _Atomic int owner_pid;

int hg_core_owner_pid(void)
{
    return atomic_load_explicit(&owner_pid, memory_order_relaxed);
}

static bool is_owner(void)
{
    return getpid() == hg_core_owner_pid();
}

static bool is_active(void)
{
    /* acquire: pairs with the release store of ACTIVE in hg_core_init() */
    return atomic_load_explicit(&hg_core.state, memory_order_acquire) == HG_STATE_ACTIVE;
}

/* ------------------------------------------------------------------------ */
/* Clocks                                                                    */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t hg_core_now_ns(void)
{
    return mono_ns() - hg_core.start_mono_ns;
}

uint32_t hg_core_now_ms(void)
{
    return (uint32_t)(hg_core_now_ns() / 1000000u);
}

void hg_core_tick_clock(void)
{
    atomic_store_explicit(&hg_core.clock_ms, hg_core_now_ms(), memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* fork                                                                      */

static void atfork_prepare(void)
{
    if (is_active())
        hg_writer_atfork_prepare();
}

static void atfork_parent(void)
{
    if (is_active())
        hg_writer_atfork_parent();
}

static void atfork_child(void)
{
    /* The child keeps the live table it inherited: those allocations are its
     * starting live set. The writer opens the child's own trace. */
    if (is_active()) {
        atomic_store_explicit(&owner_pid, (int)getpid(), memory_order_relaxed);
        hg_counts_atfork_child();
        /* A migration other threads were helping would wait for them forever. */
        hg_live_after_fork(hg_core.live);
        hg_sample_after_fork();
        hg_writer_atfork_child();
    }
}

/* ------------------------------------------------------------------------ */
/* Exit                                                                      */

static void on_exit_handler(int status, void *arg)
{
    (void)arg;
    if (!is_active() || !is_owner())
        return;
    bool was = hg_guard_enter();
    int saved = errno;
    hg_writer_finish(HG_END_EXIT, status);
    errno = saved;
    hg_guard_leave(was);
}

/* Whether on_exit() took our handler (written once during init). */
static bool has_exit_handler;

/*
 * Fallback when on_exit() failed. Not the normal path: our handler is
 * registered by the constructor, before __libc_start_main registers _dl_fini,
 * so at exit() destructors (ours included) run first and our on_exit handler
 * runs last, with the status. Priority 101 = the last of this library's
 * destructors.
 */
__attribute__((destructor(101))) static void core_destructor(void)
{
    if (!has_exit_handler)
        on_exit_handler(0, NULL);
}

/* ------------------------------------------------------------------------ */
/* Initialisation                                                            */

static int init_locked(void)
{
    /* Secure execution (setuid/setgid, capabilities): write nothing. */
    if (getauxval(AT_SECURE) != 0)
        return HG_STATE_PASSIVE;

    hg_config_load(&hg_core.cfg);
    hg_unwind_init(hg_core.cfg.unwinder);
    if (hg_core.cfg.sample_bytes != 0) {
        /* The header must tell the truth: the rate in effect, 0 when the
         * page map could not be mapped and every allocation is traced. */
        uintptr_t boot_lo, boot_hi;
        hg_real_boot_bounds(&boot_lo, &boot_hi);
        hg_core.cfg.sample_bytes =
            hg_sample_init(hg_core.cfg.sample_bytes, hg_core.cfg.sample_seed, boot_lo, boot_hi);
        if (hg_core.cfg.sample_bytes == 0)
            hg_log_once(HG_LOG_SAMPLE_FAILED, "cannot map the sampling page map; tracing every "
                                              "allocation");
    }
    hg_core.start_mono_ns = mono_ns();
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        hg_core.start_real_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    if (hg_live_create(&hg_core.live, LIVE_INITIAL_CAPACITY) != 0 ||
        hg_stack_create(&hg_core.stacks) != 0) {
        hg_log_once(HG_LOG_INIT_FAILED, "cannot create the tracer's tables; not tracing");
        return HG_STATE_PASSIVE;
    }
    /* Failure only keeps exited threads' counter blocks from being reused. */
    (void)hg_counts_init(hg_core.stacks);
    atomic_store_explicit(&owner_pid, (int)getpid(), memory_order_relaxed);
    if (hg_writer_start() != 0)
        return HG_STATE_PASSIVE; /* the writer said why */
    /* Both may allocate; the guard forwards those untraced. Failure of
     * either only loses a feature (fork child trace, exit status). */
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    has_exit_handler = on_exit(on_exit_handler, NULL) == 0;
    hg_signals_install();
    return HG_STATE_ACTIVE;
}

int hg_core_init(void)
{
    /* acquire: pairs with the release store of the final state below */
    int state = atomic_load_explicit(&hg_core.state, memory_order_acquire);
    if (state != HG_STATE_UNINIT)
        return state;
    bool was = hg_guard_enter();
    int saved = errno;
    /* The next allocator must be known first: until it is, allocations go to
     * the bootstrap arena and initialising would only make that last longer. */
    if (!hg_real_resolve()) {
        errno = saved;
        hg_guard_leave(was);
        return HG_STATE_UNINIT;
    }
    if (atomic_compare_exchange_strong_explicit(&hg_core.state, &state, HG_STATE_INITIALIZING,
                                                memory_order_acq_rel, memory_order_acquire)) {
        state = init_locked();
        /* release: publishes hg_core.cfg, live, stacks and the start times to
         * every thread that sees ACTIVE (acquire in the shim). */
        atomic_store_explicit(&hg_core.state, state, memory_order_release);
    }
    errno = saved;
    hg_guard_leave(was);
    return state;
}

/* Initialise at load time too, so that a program that allocates late (or only
 * from threads) still gets its header and module map early. */
__attribute__((constructor)) static void core_constructor(void)
{
    hg_core_init();
}

/* ------------------------------------------------------------------------ */
/* Public API (include/heapgrow/heapgrow.h)                                  */

HG_EXPORT int hg_request_dump(void)
{
    if (!is_active())
        return -1;
    hg_writer_request_dump(HG_DUMP_API);
    return 0;
}
