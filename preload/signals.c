/*
 * Signals (signals.h): the handlers that end the trace when a signal kills the
 * process, and the interposed sigaction(), signal(), bsd_signal(), ssignal(),
 * sysv_signal(), __sysv_signal() and sigset() that keep them out of the
 * program's sight. Never allocates; never waits without a bound.
 *
 * Hiding. A program may decide from the disposition it finds: CPython
 * installs its SIGINT handler (KeyboardInterrupt) only where it finds SIG_DFL,
 * and libraries that "install a handler unless the application has one" do
 * the same for SIGTERM or SIGHUP. So every query answers what the program
 * would see untraced: where the kernel holds one of our handlers, the answer
 * is SIG_DFL, with the flags, mask and restorer of the SIG_DFL action ours
 * replaced (the shadow: zero after exec, or what the program last set).
 * Setting a handler (or SIG_IGN) simply replaces ours: the signal is the
 * program's from then on. Setting SIG_DFL on one of our signals installs ours
 * again ("takes it back"): our handler ends in the default action, so it is
 * SIG_DFL plus a complete trace, and a program that restores SIG_DFL and
 * re-raises (CPython after an uncaught KeyboardInterrupt, a handler chaining
 * to the SIG_DFL it was told of) still leaves one. glibc's signal(), sigset()
 * and sysv_signal() call sigaction internally, not through the PLT, hence one
 * wrapper per public name. Each wrapper calls the next definition first and
 * takes back after it, so the shadow is the program's exact SIG_DFL action; a
 * signal arriving in between (microseconds) takes the default action
 * untraced, as it would untraced. Not covered: raw rt_sigaction system calls
 * (a static runtime), the SigCgt line of /proc/self/status, the compat-only
 * sigvec(), siginterrupt() (it changes the flags of our handler instead; our
 * handler never returns, so they do not matter).
 *
 * Terminating signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT, and the other
 * signals whose default action ends the process without a fault: SIGPIPE,
 * SIGALRM, SIGUSR1, SIGUSR2 unless it is the dump signal, SIGVTALRM, SIGPROF,
 * SIGXCPU, SIGIO, SIGPWR, SIGSTKFLT; see kind_of). Most come from
 * outside; SIGPIPE comes from the program's own write to a closed pipe. The
 * interrupted thread may be anywhere: in a malloc holding an arena lock, or
 * in the middle of moving a live-table entry that a walk of the table waits
 * for. So the handler writes nothing itself: it asks the writer thread, which
 * blocks these signals (hg_writer_request_finish), and waits on a futex
 * (hg_writer_wait_finished). The writer writes the records as at exit:
 * snapshot, live set, reachability, END with the signal. Then SIG_DFL,
 * unblock, raise: the process dies of the same signal (128+N for a shell),
 * and the interrupted thread did nothing more meanwhile, as untraced.
 *   - When the signal interrupted the tracer itself (the thread's guard is
 *     set), the writer may need that very thread to finish its step. After
 *     INSIDE_WAIT_NS the handler returns: the thread finishes its step, the
 *     program runs on until the records are written, and the writer then ends
 *     the process with the signal (hg_writer_signal_when_finished,
 *     hg_signals_deliver).
 *   - If the writer is stuck otherwise (on a lock the interrupted thread
 *     holds: the loader's, during the few instructions where dlopen links a
 *     library in), the wait ends after what the records may take at most
 *     (~43 s) and the process dies with a trace that ends early, as before.
 *   - While the handler waits, every other signal is blocked (sa_mask full: a
 *     program's handler must not run on top of ours and longjmp away from a
 *     death the program did not ask to escape), except our own terminating
 *     signals: a second one, in this thread or another, is absorbed when it
 *     is the same request delivered twice (within TERM_REPEAT_NS) and kills
 *     at once when it comes later (a second Ctrl-C does not wait).
 *   - No SA_ONSTACK: the handler only waits, and a program's small alternate
 *     stack is for its own stack overflows.
 *
 * Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS): the
 * process state may be broken and the faulting thread cannot wait for
 * another, so the handler finishes the trace itself, the best-effort way
 * (hg_writer_finish with HG_END_SIGNAL: a short lock wait, no loader lock, no
 * scan), on the alternate stack if the program has one (SA_ONSTACK: a stack
 * overflow), then the default action.
 */
#include "signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "heapgrow/format.h"

#include "core.h"
#include "guard.h"
#include "real.h"
#include "writer.h"

typedef void (*handler_fn)(int);
typedef void (*restorer_fn)(void);
typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef handler_fn (*signal_fn)(int, handler_fn);

/* glibc's own name for its sigaction, for when dlsym cannot answer. */
extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* Declared by <signal.h> only in some feature modes. */
handler_fn bsd_signal(int sig, handler_fn fn);
handler_fn ssignal(int sig, handler_fn fn);
handler_fn sysv_signal(int sig, handler_fn fn);
handler_fn __sysv_signal(int sig, handler_fn fn);
handler_fn sigset(int sig, handler_fn fn);

enum { KIND_NONE = 0, KIND_FAULT, KIND_TERM };

static int kind_of(int sig)
{
    switch (sig) {
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
    case SIGABRT:
    case SIGTRAP:
    case SIGSYS:
        return KIND_FAULT;
    /* KIND_TERM: every signal whose default action ends the process and that is not a
     * fault, except SIGXFSZ (the writer's own writes can raise it: it is blocked
     * around them, see writer.c) and the real-time signals (glibc reserves some;
     * programs that use the others install handlers). The dump signal is left
     * out where installing (hg_signals_install). */
    case SIGINT:
    case SIGTERM:
    case SIGHUP:
    case SIGQUIT:
    case SIGPIPE:
    case SIGALRM:
    case SIGUSR1:
    case SIGUSR2:
    case SIGVTALRM:
    case SIGPROF:
    case SIGXCPU:
    case SIGIO:
    case SIGPWR:
    case SIGSTKFLT:
        return KIND_TERM;
    default:
        return KIND_NONE;
    }
}

/* ------------------------------------------------------------------------ */
/* State                                                                     */

/* The handler the tracer installed for each signal, NULL = none: what a query
 * hides. Written before the handler is installed (release), read by the
 * wrappers (acquire). */
static _Atomic(handler_fn) installed[NSIG];

/* The SIG_DFL action ours replaced, as the kernel reported it: what a query
 * answers instead of ours. Relaxed: a program that sets SIG_DFL and queries
 * the same signal from two threads at once may see a mix of the two. */
typedef struct shadow {
    _Atomic int flags;
    _Atomic uint64_t mask; /* signals 1..64, bit sig-1 */
    _Atomic(restorer_fn) restorer;
} shadow_t;
static shadow_t shadows[NSIG];

/* getpid() of the process whose terminating signal is being handled (0 =
 * none), and when that began (CLOCK_MONOTONIC): a later one in the same
 * process is a repeat (see term_handler). A pid rather than a flag, so that a
 * fork child starts clean. */
static _Atomic int term_pid;
static _Atomic uint64_t term_start_ns;

/* A terminating signal this long after the first is a person or a supervisor
 * insisting; sooner, it is the same request delivered twice. */
#define TERM_REPEAT_NS (1000ull * 1000000ull)

/* How long a handler that interrupted the tracer itself waits for the final
 * records before it lets its thread go on (see the file comment): they take
 * a few milliseconds for a small heap. */
#define INSIDE_WAIT_NS (100ull * 1000000ull)

/* ------------------------------------------------------------------------ */
/* The next definitions                                                      */

enum {
    NEXT_SIGACTION,
    NEXT_SIGNAL,
    NEXT_BSD_SIGNAL,
    NEXT_SSIGNAL,
    NEXT_SYSV_SIGNAL,
    NEXT_SYSV_SIGNAL2,
    NEXT_SIGSET,
    NEXT_COUNT
};
static const char *const next_names[NEXT_COUNT] = {
    "sigaction", "signal", "bsd_signal", "ssignal", "sysv_signal", "__sysv_signal", "sigset",
};
/* Resolved by hg_signals_install() (before any handler of ours can run), or
 * by the first call that comes earlier; release/acquire. */
static _Atomic(void *) nexts[NEXT_COUNT];

static void *next_fn(int which)
{
    void *fn = atomic_load_explicit(&nexts[which], memory_order_acquire);
    if (fn != NULL)
        return fn;
    /* dlsym may allocate (its error state): untraced. */
    bool was = hg_guard_enter();
    int saved = errno;
    fn = hg_real_sym(next_names[which]);
    errno = saved;
    hg_guard_leave(was);
    if (fn != NULL)
        atomic_store_explicit(&nexts[which], fn, memory_order_release);
    return fn;
}

static int real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    sigaction_fn fn = (sigaction_fn)next_fn(NEXT_SIGACTION);
    return (fn != NULL ? fn : __sigaction)(sig, act, old);
}

/* ------------------------------------------------------------------------ */
/* Hiding                                                                    */

static bool is_default(const struct sigaction *a)
{
    return a->sa_handler == SIG_DFL; /* also sa_sigaction == NULL (a union) */
}

static bool is_ours(int sig, handler_fn fn)
{
    /* acquire: pairs with the release store in take() / hg_signals_install_handler() */
    return fn != SIG_DFL && fn == atomic_load_explicit(&installed[sig], memory_order_acquire);
}

static void remember(int sig, const struct sigaction *a)
{
    uint64_t mask = 0;
    for (int s = 1; s <= 64 && s < NSIG; s++)
        if (sigismember(&a->sa_mask, s) == 1)
            mask |= 1ull << (s - 1);
    atomic_store_explicit(&shadows[sig].flags, a->sa_flags, memory_order_relaxed);
    atomic_store_explicit(&shadows[sig].mask, mask, memory_order_relaxed);
    atomic_store_explicit(&shadows[sig].restorer, a->sa_restorer, memory_order_relaxed);
}

/* Turns our action in *a into the SIG_DFL action it replaced. */
static void conceal(int sig, struct sigaction *a)
{
    uint64_t mask = atomic_load_explicit(&shadows[sig].mask, memory_order_relaxed);
    memset(a, 0, sizeof *a);
    a->sa_handler = SIG_DFL;
    a->sa_flags = atomic_load_explicit(&shadows[sig].flags, memory_order_relaxed);
    sigemptyset(&a->sa_mask);
    for (int s = 1; s <= 64 && s < NSIG; s++)
        if (mask & (1ull << (s - 1)))
            sigaddset(&a->sa_mask, s);
    a->sa_restorer = atomic_load_explicit(&shadows[sig].restorer, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Dying                                                                     */

/* The default action for real: SIG_DFL set explicitly (the program may have
 * installed our handler anew, or chained to it), the signal unblocked, raised
 * again. Returns only if the signal is ignored or still blocked by other
 * means (a fault then recurs on return and takes the default action). */
static void die(int signo)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    real_sigaction(signo, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(signo);
}

static bool is_owner_active(void)
{
    /* acquire: pairs with the release stores of hg_core.state */
    return atomic_load_explicit(&hg_core.state, memory_order_acquire) == HG_STATE_ACTIVE &&
           (int)syscall(SYS_getpid) == hg_core_owner_pid();
}

/* A fault: finish here (see the file comment), then the default action. It
 * may also be reached by a program that obtained our handler by other means
 * than the wrappers (a raw system call) and chains to it. */
static void fault_handler(int signo)
{
    int saved = errno;
    if (is_owner_active()) {
        bool was = hg_guard_enter();
        hg_writer_finish(HG_END_SIGNAL, signo);
        hg_guard_leave(was);
    }
    die(signo);
    errno = saved;
}

/* Unblocks those of our terminating signals that are still ours, so that a
 * second one ends the wait at once. */
static void unblock_own_term_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction cur;
        if (kind_of(sig) == KIND_TERM && real_sigaction(sig, NULL, &cur) == 0 &&
            is_ours(sig, cur.sa_handler))
            sigaddset(&set, sig);
    }
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hg_signals_deliver(int signo)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    real_sigaction(signo, &dfl, NULL);
    kill((pid_t)syscall(SYS_getpid), signo);
}

/*
 * A terminating signal from outside (see the file comment). A second one
 * while the first is being handled (nested here: ours are left unblocked; or
 * in another thread) is a repeat. Within TERM_REPEAT_NS it is the same
 * request delivered twice, and is absorbed (the handler returns; the first
 * one ends the process): a signal sent to a process group reaches both
 * `heapgrow run` and the program, and the launcher forwards its copy; systemd
 * signals every process of a unit. Later, it is someone who will not wait for
 * the trace: the process dies at once.
 */
static void term_handler(int signo)
{
    int saved = errno;
    bool was_inside = hg_guard_is_set();
    int pid = (int)syscall(SYS_getpid);
    /* acq_rel: the first signal of this process goes on; a later one sees
     * it. */
    if (atomic_exchange_explicit(&term_pid, pid, memory_order_acq_rel) == pid) {
        uint64_t start = atomic_load_explicit(&term_start_ns, memory_order_relaxed);
        if (start == 0 || mono_ns() - start < TERM_REPEAT_NS) {
            errno = saved;
            return;
        }
    } else {
        atomic_store_explicit(&term_start_ns, mono_ns(), memory_order_relaxed);
        unblock_own_term_signals();
        if (is_owner_active()) {
            bool was = hg_guard_enter();
            int rc = hg_writer_request_finish(signo);
            if (rc < 0 && !was_inside) {
                /* No writer thread: the best-effort way, as for a fault.
                 * (Not from inside the tracer: a table walk could wait for
                 * this very thread.) */
                hg_writer_finish(HG_END_SIGNAL, signo);
            } else if (rc >= 0 && !was_inside) {
                /* Ours, or another thread's (an exit, a fault) in flight. */
                (void)hg_writer_wait_finished(UINT64_MAX);
            } else if (rc >= 0 && !hg_writer_wait_finished(INSIDE_WAIT_NS) && rc > 0 &&
                       hg_writer_signal_when_finished(signo)) {
                /* This thread may hold up the writer: let it go on; the
                 * writer ends the process once the records are written. */
                hg_guard_leave(was);
                errno = saved;
                return;
            }
            hg_guard_leave(was);
        }
    }
    die(signo);
    errno = saved;
}

/* ------------------------------------------------------------------------ */
/* Installing                                                                */

/* Installs our handler for sig (KIND_FAULT or KIND_TERM), the program's
 * SIG_DFL action becoming the shadow. If the disposition was not SIG_DFL any
 * more (a thread of the program set one meanwhile), that action is put back:
 * the program's wins. errno is preserved. */
static void take(int sig)
{
    int saved = errno;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (kind_of(sig) == KIND_FAULT) {
        sa.sa_handler = fault_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK | SA_RESTART;
    } else {
        sa.sa_handler = term_handler;
        sigfillset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
    }
    /* release: pairs with the acquire load in is_ours() */
    atomic_store_explicit(&installed[sig], sa.sa_handler, memory_order_release);
    struct sigaction was;
    if (real_sigaction(sig, &sa, &was) == 0) {
        if (is_default(&was))
            remember(sig, &was);
        else
            real_sigaction(sig, &was, NULL);
    }
    errno = saved;
}

/* Whether a SIG_DFL just set by the program on sig gives the signal back to
 * the tracer. Not in a vfork child (it shares our memory, not our trace), not
 * for the writer's dump signal, not once the trace is over. */
static bool may_take_back(int sig)
{
    return kind_of(sig) != KIND_NONE && is_owner_active() && sig != hg_core.cfg.dump_signal;
}

void hg_signals_install(void)
{
    for (int i = 0; i < NEXT_COUNT; i++)
        (void)next_fn(i); /* now: dlsym is no call for a signal handler */
    for (int sig = 1; sig < NSIG; sig++) {
        if (kind_of(sig) == KIND_NONE || sig == hg_core.cfg.dump_signal)
            continue;
        struct sigaction cur;
        if (real_sigaction(sig, NULL, &cur) != 0 || !is_default(&cur))
            continue; /* the program (or its parent: SIG_IGN) has its own */
        take(sig);
    }
}

bool hg_signals_install_handler(int sig, void (*fn)(int), int flags)
{
    struct sigaction cur, sa;
    if (sig <= 0 || sig >= NSIG || real_sigaction(sig, NULL, &cur) != 0 || !is_default(&cur))
        return false;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    /* release: pairs with the acquire load in is_ours() */
    atomic_store_explicit(&installed[sig], fn, memory_order_release);
    remember(sig, &cur);
    return real_sigaction(sig, &sa, NULL) == 0;
}

/* ------------------------------------------------------------------------ */
/* The interposed functions                                                  */

HG_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (sig <= 0 || sig >= NSIG)
        return real_sigaction(sig, act, old);
    /* Read before the call: old may be act. */
    bool sets_default = act != NULL && is_default(act);
    struct sigaction prev;
    int rc = real_sigaction(sig, act, old != NULL ? &prev : NULL);
    if (rc != 0)
        return rc;
    if (old != NULL) {
        if (is_ours(sig, prev.sa_handler))
            conceal(sig, &prev);
        memcpy(old, &prev, sizeof prev);
    }
    if (sets_default && may_take_back(sig))
        take(sig);
    return 0;
}

/* The signal() family: the next definition does the work; the old handler it
 * returns is hidden if ours, and a SIG_DFL gives the signal back. */
static handler_fn signal_common(int which, int sig, handler_fn fn)
{
    signal_fn next = (signal_fn)next_fn(which);
    if (next == NULL) {
        errno = ENOSYS;
        return SIG_ERR;
    }
    handler_fn prev = next(sig, fn);
    if (prev == SIG_ERR || sig <= 0 || sig >= NSIG)
        return prev;
    if (is_ours(sig, prev))
        prev = SIG_DFL;
    if (fn == SIG_DFL && may_take_back(sig))
        take(sig);
    return prev;
}

HG_EXPORT handler_fn signal(int sig, handler_fn fn)
{
    return signal_common(NEXT_SIGNAL, sig, fn);
}

HG_EXPORT handler_fn bsd_signal(int sig, handler_fn fn)
{
    return signal_common(NEXT_BSD_SIGNAL, sig, fn);
}

HG_EXPORT handler_fn ssignal(int sig, handler_fn fn)
{
    return signal_common(NEXT_SSIGNAL, sig, fn);
}

HG_EXPORT handler_fn sysv_signal(int sig, handler_fn fn)
{
    return signal_common(NEXT_SYSV_SIGNAL, sig, fn);
}

HG_EXPORT handler_fn __sysv_signal(int sig, handler_fn fn)
{
    return signal_common(NEXT_SYSV_SIGNAL2, sig, fn);
}

/* sigset(sig, SIG_HOLD) only blocks and answers the old disposition (or
 * SIG_HOLD): hidden the same way. */
HG_EXPORT handler_fn sigset(int sig, handler_fn fn)
{
    return signal_common(NEXT_SIGSET, sig, fn);
}
