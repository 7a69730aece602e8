/*
 * The tracer's process-wide state (hg_core) and its life cycle: one-time
 * initialisation, fork handlers, and the three ways a traced process ends
 * (exit/return from main, _exit/_Exit in shim.c, fatal signals). Owns no
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
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "heapgrow/format.h"
#include "heapgrow/heapgrow.h"

#include "config.h"
#include "guard.h"
#include "log.h"
#include "real.h"
#include "sample.h"
#include "unwind.h"
#include "writer.h"

hg_core_t hg_core;

/* Initial capacity of the live table; it grows on demand. */
#define LIVE_INITIAL_CAPACITY (1u << 16)
/* ... when sampling: the live set is the sampled blocks, a few per R bytes of
 * live heap, and a table that stays in cache keeps a sample cheap. */
#define LIVE_INITIAL_CAPACITY_SAMPLED (1u << 10)

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
        hg_sample_after_fork();
        hg_writer_atfork_child();
    }
}

/* ------------------------------------------------------------------------ */
/* Exit and fatal signals                                                    */

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

/*
 * Signals whose default action kills the process and which the program may
 * raise itself or receive from outside. SIGINT, SIGHUP and SIGQUIT are
 * deliberately absent: interpreters such as CPython install their own SIGINT
 * handler only when the disposition they find is SIG_DFL, so a handler of ours
 * would change the program's behaviour (no KeyboardInterrupt).
 */
static const int fatal_signals[] = {SIGSEGV, SIGBUS,  SIGFPE, SIGILL,
                                    SIGABRT, SIGTRAP, SIGSYS, SIGTERM};

/*
 * Stands in for the default action: finish the trace, then perform the
 * default action for real. It may also be reached by chaining: a program that
 * installed its own handler later and calls the previous one (ours) for
 * signals it does not want. So SIG_DFL is set explicitly (not only through
 * SA_RESETHAND, which the program's sigaction replaced) and the signal is
 * unblocked before it is raised again; raising it with the program's handler
 * still in place would recurse.
 */
static void fatal_handler(int signo)
{
    int saved = errno;
    if (is_active() && is_owner()) {
        bool was = hg_guard_enter();
        hg_writer_finish(HG_END_SIGNAL, signo);
        hg_guard_leave(was);
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(signo, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(signo);
    /* Still here: the signal is ignored or blocked by other means (a fault
     * recurs on return and then takes the default action). */
    errno = saved;
}

static void install_fatal_handlers(void)
{
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
        struct sigaction old;
        if (sigaction(fatal_signals[i], NULL, &old) != 0)
            continue;
        if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
            continue; /* the program has its own: leave it alone */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = fatal_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK | SA_RESTART;
        sigaction(fatal_signals[i], &sa, NULL);
    }
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
    if (hg_live_create(&hg_core.live, hg_core.cfg.sample_bytes != 0 ? LIVE_INITIAL_CAPACITY_SAMPLED
                                                                    : LIVE_INITIAL_CAPACITY) != 0 ||
        hg_stack_create(&hg_core.stacks) != 0) {
        hg_log_once(HG_LOG_INIT_FAILED, "cannot create the tracer's tables; not tracing");
        return HG_STATE_PASSIVE;
    }
    atomic_store_explicit(&owner_pid, (int)getpid(), memory_order_relaxed);
    if (hg_writer_start() != 0)
        return HG_STATE_PASSIVE; /* the writer said why */
    /* Both may allocate; the guard forwards those untraced. Failure of
     * either only loses a feature (fork child trace, exit status). */
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    has_exit_handler = on_exit(on_exit_handler, NULL) == 0;
    install_fatal_handlers();
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
