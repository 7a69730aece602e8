/*
 * Threads under LD_PRELOAD: 4 workers allocate and free with cross-thread
 * frees (blocks handed over through a shared ring), then 500 short-lived
 * threads each leak one 777-byte block (run.py counts exactly 500 in the
 * final live set). Payloads carry a cookie that is checked before free. At the
 * end it prints "TOTALS <allocations> <bytes>": every successful malloc and
 * realloc it made and the bytes it asked for, which run.py compares exactly
 * with the counters of the stacks whose innermost frame is in this program.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

#define WORKERS       4
#define ROUNDS        20000
#define RING          1024
#define SHORT_THREADS 500

static _Atomic(unsigned char *) ring[RING];
static _Atomic int bad_cookies;
static _Atomic unsigned long long alloc_count, alloc_bytes;

static void count(size_t size)
{
    atomic_fetch_add(&alloc_count, 1);
    atomic_fetch_add(&alloc_bytes, size);
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1u;
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t size = 16 + (seed >> 8) % 2000;
        unsigned char *p = malloc(size);
        if (p == NULL)
            continue;
        count(size);
        memset(p, (int)(size & 0xff), size);
        p[0] = (unsigned char)(size & 0xff);
        memcpy(p + 1, &size, sizeof size);
        unsigned char *old = atomic_exchange(&ring[(seed >> 4) % RING], p);
        if (old != NULL) {
            size_t osize;
            memcpy(&osize, old + 1, sizeof osize);
            if (old[0] != (unsigned char)(osize & 0xff) || old[osize - 1] != (osize & 0xff))
                atomic_fetch_add(&bad_cookies, 1);
            if (seed & 1) {
                free(old);
            } else {
                unsigned char *r = realloc(old, osize + 8);
                if (r != NULL)
                    count(osize + 8);
                free(r);
            }
        }
    }
    return NULL;
}

static void *short_lived(void *arg)
{
    (void)arg;
    char *p = malloc(777);
    /* Not a tail call: the innermost frame must be in this function. */
    if (p != NULL) {
        p[0] = 1;
        count(777);
    }
    return p;
}

int main(void)
{
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < RING; i++)
        free(atomic_load(&ring[i]));
    CHECK(atomic_load(&bad_cookies) == 0);

    for (int i = 0; i < SHORT_THREADS; i++) {
        pthread_t s;
        void *leaked = NULL;
        CHECK(pthread_create(&s, NULL, short_lived, NULL) == 0);
        pthread_join(s, &leaked);
        CHECK(leaked != NULL);
        LEAK(leaked, 777);
    }
    printf("TOTALS %llu %llu\n", atomic_load(&alloc_count), atomic_load(&alloc_bytes));
    return E2E_STATUS(0);
}
