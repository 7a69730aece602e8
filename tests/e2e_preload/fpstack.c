/*
 * A program built with frame pointers: main -> mid -> leaf -> malloc. run.py
 * checks that both unwinders (libunwind and HEAPGROW_UNWIND=fp) record the
 * leaked block's stack as leaf, mid, main, innermost first, and, in a thread,
 * worker as the innermost frame.
 */
#include <pthread.h>
#include <stdlib.h>

#include "e2e.h"

__attribute__((noinline)) static char *leaf(size_t n)
{
    char *p = malloc(n);
    if (p != NULL)
        p[0] = 1;
    return p;
}

__attribute__((noinline)) static char *mid(size_t n)
{
    char *p = leaf(n);
    if (p != NULL)
        p[1] = 2;
    return p;
}

__attribute__((noinline)) static void *worker(void *arg)
{
    char *p = malloc(8888);
    if (p != NULL)
        p[0] = (char)(uintptr_t)arg;
    return p;
}

int main(void)
{
    char *p = mid(7777);
    CHECK(p != NULL);
    LEAK(p, 7777);
    pthread_t t;
    void *q = NULL;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    pthread_join(t, &q);
    LEAK(q, 8888);
    return E2E_STATUS(0);
}
