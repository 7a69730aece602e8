/*
 * Signals under the tracer, chosen by argv[1]:
 *   "wait [THREADS [BLOCKS]]": leaks 7001 and 7002 bytes, keeps BLOCKS more
 *     blocks of 24 bytes (reachable from a global), starts THREADS threads
 *     that allocate and free without end, prints "ready" and waits for a
 *     signal.
 *     run.py sends SIGINT, SIGHUP, SIGQUIT or SIGTERM and checks the exit
 *     status (killed by it), the END record and the final live set.
 *   "grow": leaks 7001 and 7002 bytes, prints "ready", then allocates 32-byte
 *     blocks without end (kept in a list, up to 4 million), so that the
 *     tracer's live table is growing, and moving entries, most of the time:
 *     a signal then often lands in the middle of such a move.
 *   "pipe": leaks 7001 and 7002 bytes, then writes into a pipe whose reading
 *     end is closed: killed by its own SIGPIPE, as `prog | head` often is.
 *   "alarm": leaks 7001 and 7002 bytes, then alarm(1) and waits: killed by
 *     SIGALRM.
 *   "query": what the program sees of the dispositions through sigaction(),
 *     signal(), bsd_signal(), ssignal(), sysv_signal(), __sysv_signal() and
 *     sigset(), printed line by line; run.py runs it with and without the
 *     tracer and wants the same lines. Under the tracer (E2E_TRACED=1) it also
 *     checks with the raw system call that the tracer's handlers are really
 *     there while hidden. Ends by restoring SIG_DFL for SIGINT and raising
 *     it: killed by SIGINT, with a complete trace under the tracer.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "e2e.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* sigset() */

/* Declared by <signal.h> only in some feature modes. */
void (*bsd_signal(int sig, void (*fn)(int)))(int);

static volatile sig_atomic_t hits[NSIG];

static void on_signal(int sig)
{
    hits[sig]++;
}

static const char *name_of(void (*fn)(int))
{
    if (fn == SIG_DFL)
        return "DFL";
    if (fn == SIG_IGN)
        return "IGN";
    if (fn == SIG_HOLD)
        return "HOLD";
    if (fn == SIG_ERR)
        return "ERR";
    if (fn == on_signal)
        return "on_signal";
    return "other";
}

static void show(const char *what, int sig, const struct sigaction *a)
{
    unsigned long long mask = 0;
    for (int s = 1; s <= 64; s++)
        if (sigismember(&a->sa_mask, s) == 1)
            mask |= 1ull << (s - 1);
    printf("%s %d handler=%s flags=%#x mask=%#llx restorer=%s\n", what, sig, name_of(a->sa_handler),
           (unsigned)a->sa_flags, mask, a->sa_restorer == NULL ? "none" : "set");
}

static void show_query(const char *what, int sig)
{
    struct sigaction a;
    memset(&a, 0x5a, sizeof a);
    CHECK(sigaction(sig, NULL, &a) == 0);
    show(what, sig, &a);
}

/* The handler the kernel holds for sig, past any interposed function. */
static void *kernel_handler(int sig)
{
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        uint64_t mask;
    } k;
    memset(&k, 0, sizeof k);
    CHECK(syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof k.mask) == 0);
    return k.handler;
}

static bool is_traced(void)
{
    return getenv("E2E_TRACED") != NULL;
}

/* Under the tracer: the kernel holds a handler of the tracer's for sig. */
static void check_tracer_holds(int sig)
{
    if (is_traced()) {
        void *h = kernel_handler(sig);
        if (h == (void *)SIG_DFL || h == (void *)SIG_IGN || h == (void *)on_signal)
            fprintf(stderr, "FAIL signal %d: the kernel holds %p, not the tracer's handler\n", sig,
                    h);
        CHECK(h != (void *)SIG_DFL && h != (void *)SIG_IGN && h != (void *)on_signal);
    }
}

static int query(void)
{
    void *p = malloc(3001);
    LEAK(p, 3001);
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGABRT, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        show_query("initial", sigs[i]);
        check_tracer_holds(sigs[i]);
    }

    /* sigaction: the previous action is SIG_DFL; ours is replaced. */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    memset(&old, 0x5a, sizeof old);
    CHECK(sigaction(SIGINT, &sa, &old) == 0);
    show("replaced", SIGINT, &old);
    CHECK(kernel_handler(SIGINT) == (void *)on_signal);
    raise(SIGINT);
    printf("SIGINT handled %d time(s)\n", (int)hits[SIGINT]);
    show_query("now", SIGINT);

    /* signal(), both ways: the program's handler runs; SIG_DFL gives the
     * signal back to the tracer, and is what a query answers. */
    printf("signal(SIGHUP, on_signal) -> %s\n", name_of(signal(SIGHUP, on_signal)));
    raise(SIGHUP);
    printf("SIGHUP handled %d time(s)\n", (int)hits[SIGHUP]);
    printf("signal(SIGHUP, DFL) -> %s\n", name_of(signal(SIGHUP, SIG_DFL)));
    check_tracer_holds(SIGHUP);
    show_query("after signal(DFL)", SIGHUP);

    /* The other names of the family, on SIGQUIT. */
    printf("sysv_signal(SIGQUIT, on_signal) -> %s\n", name_of(sysv_signal(SIGQUIT, on_signal)));
    raise(SIGQUIT); /* one-shot: back to SIG_DFL in the kernel afterwards */
    printf("SIGQUIT handled %d time(s)\n", (int)hits[SIGQUIT]);
    show_query("after one-shot", SIGQUIT);
    printf("bsd_signal(SIGQUIT, on_signal) -> %s\n", name_of(bsd_signal(SIGQUIT, on_signal)));
    printf("ssignal(SIGQUIT, DFL) -> %s\n", name_of(ssignal(SIGQUIT, SIG_DFL)));
    check_tracer_holds(SIGQUIT);
    printf("__sysv_signal(SIGQUIT, DFL) -> %s\n", name_of(__sysv_signal(SIGQUIT, SIG_DFL)));
    printf("sigset(SIGQUIT, on_signal) -> %s\n", name_of(sigset(SIGQUIT, on_signal)));
    printf("sigset(SIGQUIT, DFL) -> %s\n", name_of(sigset(SIGQUIT, SIG_DFL)));
    check_tracer_holds(SIGQUIT);
    printf("sigset(SIGQUIT, HOLD) -> %s\n", name_of(sigset(SIGQUIT, SIG_HOLD)));
    printf("sigset(SIGQUIT, DFL) -> %s\n", name_of(sigset(SIGQUIT, SIG_DFL)));
    check_tracer_holds(SIGQUIT);

    /* SIG_DFL set with flags and a mask: a query answers them. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    memset(&old, 0x5a, sizeof old);
    CHECK(sigaction(SIGTERM, &sa, &old) == 0);
    show("before dfl+flags", SIGTERM, &old);
    check_tracer_holds(SIGTERM);
    show_query("dfl+flags", SIGTERM);

    /* The dump signal: hidden too, and SIG_DFL makes it the program's. */
    printf("signal(SIGUSR2, DFL) -> %s\n", name_of(signal(SIGUSR2, SIG_DFL)));
    CHECK(kernel_handler(SIGUSR2) == (void *)SIG_DFL);
    show_query("usr2", SIGUSR2);

    /* Errors pass through. */
    printf("sigaction(SIGKILL) -> %d\n", sigaction(SIGKILL, &sa, NULL));
    printf("signal(0) -> %s\n", name_of(signal(0, on_signal)));

    fflush(stdout);
    if (e2e_failures != 0)
        return 99;
    /* Restore SIG_DFL and re-raise, as a program whose handler is done. */
    signal(SIGINT, SIG_DFL);
    check_tracer_holds(SIGINT);
    raise(SIGINT);
    return 98;
}

static void *churn(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    void *keep[16] = {0};
    for (unsigned i = 0;; i++) {
        unsigned k = (i * 7 + n) % 16;
        free(keep[k]);
        keep[k] = malloc(16 + (i * 13 + n) % 1000);
    }
    return NULL;
}

__attribute__((noinline)) static void *leak_a(void)
{
    return malloc(7001);
}

__attribute__((noinline)) static void *leak_b(void)
{
    return malloc(7002);
}

static void **kept;

static int wait_for_signal(int threads, int blocks)
{
    void *a = leak_a(), *b = leak_b();
    LEAK(a, 7001);
    LEAK(b, 7002);
    kept = calloc((size_t)blocks + 1, sizeof *kept);
    for (int i = 0; i < blocks; i++)
        kept[i] = malloc(24);
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, churn, (void *)(uintptr_t)i) == 0);
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
    return 0; /* not reached */
}

struct node {
    struct node *next;
    char pad[24];
};

static struct node *list;

static int grow(void)
{
    void *a = leak_a(), *b = leak_b();
    LEAK(a, 7001);
    LEAK(b, 7002);
    printf("ready\n");
    fflush(stdout);
    for (long i = 0; i < 4000000; i++) {
        struct node *n = malloc(sizeof *n);
        n->next = list;
        list = n;
    }
    for (;;)
        pause();
    return 0; /* not reached */
}

static int own_signal(bool is_pipe)
{
    void *a = leak_a(), *b = leak_b();
    LEAK(a, 7001);
    LEAK(b, 7002);
    fflush(stdout);
    if (is_pipe) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        close(fds[0]);
        char c = 'x';
        for (;;)
            (void)!write(fds[1], &c, 1);
    }
    alarm(1);
    for (;;)
        pause();
    return 0; /* not reached */
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "wait") == 0)
        return wait_for_signal(argc >= 3 ? atoi(argv[2]) : 0, argc >= 4 ? atoi(argv[3]) : 0);
    if (argc == 2 && (strcmp(argv[1], "pipe") == 0 || strcmp(argv[1], "alarm") == 0))
        return own_signal(argv[1][0] == 'p');
    if (argc == 2 && strcmp(argv[1], "grow") == 0)
        return grow();
    if (argc == 2 && strcmp(argv[1], "query") == 0)
        return query();
    return 97;
}
