/*
 * A program that frees everything it allocates, under LD_PRELOAD: every
 * function of the malloc family, realloc chains (realloc(p, 0) included),
 * aligned blocks, strdup, and 4 threads that free blocks other threads
 * allocated. No stdio streams (their buffers stay allocated until exit): it
 * writes its one line with write(2). So run.py
 * expects the trace's final live set to hold exactly the known runtime
 * blocks: one thread-local-storage vector (DTV) per thread stack that glibc
 * keeps cached after the join, allocated by the dynamic loader, and nothing
 * whose innermost frame is in this program. The program counts its own
 * allocations ("TOTALS <count> <bytes>" on stdout).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

#define THREADS 4
#define ROUNDS  5000
#define RING    256

static _Atomic(unsigned char *) ring[RING];
static _Atomic unsigned long long alloc_count, alloc_bytes;

static void count(size_t size)
{
    atomic_fetch_add(&alloc_count, 1);
    atomic_fetch_add(&alloc_bytes, size);
}

/* Allocates, then swaps the block into a shared slot: what comes out was
 * allocated by any thread, and is freed here. */
static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 7u;
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t size = 1 + (seed >> 8) % 3000;
        unsigned char *p = malloc(size);
        CHECK(p != NULL);
        if (p == NULL)
            continue;
        count(size);
        p[0] = (unsigned char)size;
        unsigned char *old = atomic_exchange(&ring[(seed >> 4) % RING], p);
        free(old);
    }
    return NULL;
}

/* Hides constant sizes from the compiler. */
static size_t opaque(size_t v)
{
    volatile size_t x = v;
    return x;
}

int main(void)
{
    void *a = malloc(opaque(100));
    void *c = calloc(opaque(10), 30);
    count(100);
    count(300);
    char *r = realloc(NULL, opaque(10));
    count(10);
    for (size_t n = 20; n <= 20000; n *= 10) {
        r = realloc(r, n);
        count(n);
    }
    r = realloc(r, 0); /* glibc: frees, returns NULL */
    CHECK(r == NULL);
    void *pm = NULL;
    CHECK(posix_memalign(&pm, 64, opaque(640)) == 0);
    count(640);
    void *al = aligned_alloc(128, opaque(256));
    void *me = memalign(32, opaque(96));
    void *va = valloc(opaque(5000));
    void *pv = pvalloc(opaque(100));
    count(256);
    count(96);
    count(5000);
    count(100); /* the tracer records the size asked for */
    char *s = strdup("a string to copy");
    count(sizeof("a string to copy"));
    int *arr = reallocarray(NULL, opaque(8), sizeof(int));
    count(8 * sizeof(int));
    free(a);
    free(c);
    free(pm);
    free(al);
    free(me);
    free(va);
    free(pv);
    free(s);
    free(arr);

    /* Small stacks: glibc's cache of joined threads' stacks (40 MiB) keeps
     * all of them, so exactly THREADS DTVs stay allocated at exit. */
    pthread_attr_t attr;
    CHECK(pthread_attr_init(&attr) == 0);
    CHECK(pthread_attr_setstacksize(&attr, 256 * 1024) == 0);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], &attr, worker, (void *)i) == 0);
    pthread_attr_destroy(&attr);
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    for (int i = 0; i < RING; i++)
        free(atomic_exchange(&ring[i], NULL));

    char line[64];
    int n = snprintf(line, sizeof line, "TOTALS %llu %llu\n",
                     (unsigned long long)atomic_load(&alloc_count),
                     (unsigned long long)atomic_load(&alloc_bytes));
    CHECK(write(1, line, (size_t)n) == n);
    return E2E_STATUS(0);
}
