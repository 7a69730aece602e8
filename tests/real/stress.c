/*
 * Stress programs run under the tracer by test_stress.py. One mode per run:
 *
 *   stress xthreads THREADS ROUNDS  threads hand blocks to each other: every
 *                                   block is freed by another thread
 *   stress threads N                N threads created and joined, 4 at a time,
 *                                   each allocating a little and exiting
 *   stress fork N                   N children forked one after another, each
 *                                   allocating and exiting through exit()
 *   stress dlopen LIB N             dlopen/dlclose LIB N times, calling its
 *                                   allocating function each time
 *   stress stacks BITS              2^BITS distinct stacks (a recursion that
 *                                   branches on the bits of i), each block
 *                                   kept live: a large trace (fault tests)
 *   stress signal MS                a 100 us SIGALRM timer interrupts malloc-
 *                                   heavy code for MS ms (the handler only
 *                                   counts)
 *   stress exitlive N               N blocks from one site, live at exit: the
 *                                   trace is small until the final live set,
 *                                   which the program's own thread writes
 *                                   at exit (fault tests: ulimit -f there)
 *
 * Prints "done <mode>" and exits 0 when every check passed.
 */

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 4096

static _Atomic(void *) slots[SLOTS];
static int xrounds;

static void *xthread(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    for (int i = 0; i < xrounds; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 8) % 512;
        char *p = malloc(n);
        if (!p)
            abort();
        p[0] = (char)i;
        /* Swap it into a shared slot; free whatever another thread put there. */
        void *old = atomic_exchange(&slots[(seed >> 4) % SLOTS], p);
        free(old);
    }
    return NULL;
}

static int mode_xthreads(int nthreads, int rounds)
{
    pthread_t t[256];
    xrounds = rounds;
    if (nthreads > 256)
        nthreads = 256;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, xthread, (void *)(uintptr_t)(i + 1)) != 0)
            return 1;
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++)
        free(atomic_exchange(&slots[i], NULL));
    return 0;
}

static void *short_thread(void *arg)
{
    char *p = malloc(64 + (size_t)(uintptr_t)arg % 256);
    if (!p)
        abort();
    memset(p, 1, 64);
    char *q = strdup("thread-local work");
    free(p);
    free(q);
    return NULL;
}

static int mode_threads(int n)
{
    for (int i = 0; i < n; i += 4) {
        pthread_t t[4];
        int k = 0;
        for (; k < 4 && i + k < n; k++)
            if (pthread_create(&t[k], NULL, short_thread, (void *)(uintptr_t)(i + k)) != 0)
                return 1;
        for (int j = 0; j < k; j++)
            pthread_join(t[j], NULL);
    }
    return 0;
}

static int mode_fork(int n)
{
    for (int i = 0; i < n; i++) {
        char *before = malloc(100);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            for (int j = 0; j < 100; j++)
                free(malloc(32 + (size_t)j));
            void *keep = malloc(1000); /* live at exit: a leak in the child */
            (void)keep;
            free(before);
            exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return 1;
        free(before);
    }
    return 0;
}

static int mode_dlopen(const char *lib, int n)
{
    for (int i = 0; i < n; i++) {
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            return 1;
        }
        void *(*fn)(size_t) = (void *(*)(size_t))dlsym(h, "stress_lib_alloc");
        if (!fn)
            return 1;
        free(fn(128)); /* allocated inside the library, freed here */
        if (dlclose(h) != 0)
            return 1;
    }
    return 0;
}

static void *keep_all[1 << 20];

__attribute__((noinline)) static void *branch_a(unsigned i, int depth);
__attribute__((noinline)) static void *branch_b(unsigned i, int depth);

__attribute__((noinline)) static void *branch_a(unsigned i, int depth)
{
    if (depth == 0)
        return malloc(16 + i % 64);
    void *p = (i >> depth & 1) ? branch_b(i, depth - 1) : branch_a(i, depth - 1);
    __asm__ volatile("" ::: "memory"); /* not a tail call: every level is a frame */
    return p;
}

__attribute__((noinline)) static void *branch_b(unsigned i, int depth)
{
    if (depth == 0)
        return malloc(32 + i % 64);
    void *p = (i >> depth & 1) ? branch_a(i, depth - 1) : branch_b(i, depth - 1);
    __asm__ volatile("" ::: "memory");
    return p;
}

static int mode_stacks(int bits)
{
    if (bits < 1 || bits > 20)
        return 1;
    unsigned n = 1u << bits;
    for (int round = 0; round < 3; round++)
        for (unsigned i = 0; i < n; i++) {
            free(keep_all[i]);
            keep_all[i] = branch_a(i, bits);
            if (!keep_all[i])
                return 1;
        }
    for (unsigned i = 0; i < n; i++)
        free(keep_all[i]);
    return 0;
}

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
    (void)sig;
    ticks++;
}

static int mode_signal(int ms)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 100}, {0, 100}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    void *keep[64] = {0};
    unsigned i = 0;
    do {
        for (int j = 0; j < 1000; j++, i++) {
            free(keep[i % 64]);
            keep[i % 64] = (i & 1) ? malloc(16 + i % 4000) : calloc(1, 8 + i % 100);
            keep[i % 64] = realloc(keep[i % 64], 24 + i % 3000);
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int j = 0; j < 64; j++)
        free(keep[j]);
    printf("ticks %s\n", ticks > 0 ? "some" : "none");
    return 0;
}

static int mode_exitlive(int n)
{
    if (n < 1)
        return 1;
    for (int i = 0; i < n; i++) {
        char *p = malloc(16 + (size_t)(i % 7) * 8);
        if (!p)
            return 1;
        p[0] = (char)i; /* never freed: live at exit */
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *m = argv[1];
    printf("ready\n"); /* test_faults.py kills the program after this */
    fflush(stdout);
    int rc;
    if (strcmp(m, "xthreads") == 0 && argc == 4)
        rc = mode_xthreads(atoi(argv[2]), atoi(argv[3]));
    else if (strcmp(m, "threads") == 0)
        rc = mode_threads(atoi(argv[2]));
    else if (strcmp(m, "fork") == 0)
        rc = mode_fork(atoi(argv[2]));
    else if (strcmp(m, "dlopen") == 0 && argc == 4)
        rc = mode_dlopen(argv[2], atoi(argv[3]));
    else if (strcmp(m, "stacks") == 0)
        rc = mode_stacks(atoi(argv[2]));
    else if (strcmp(m, "signal") == 0)
        rc = mode_signal(atoi(argv[2]));
    else if (strcmp(m, "exitlive") == 0)
        rc = mode_exitlive(atoi(argv[2]));
    else
        return 2;
    if (rc == 0)
        printf("done %s\n", m);
    return rc;
}
