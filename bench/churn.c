/* churn: malloc/free churn with a small live window, the allocation made
 * about CHURN_DEPTH frames below main (noinline recursion), by CHURN_THREADS
 * threads each doing COUNT free+malloc pairs on a window of its own.
 *
 * Built three times by bench/meson.build: churn8 (depth 8, 1 thread),
 * churn30 (depth 30, 1 thread), churn_mt (depth 8, 2 threads).
 *
 * Sizes are mixed, 16..4096 bytes: three in four from 16..256 (tcache-sized),
 * one in four from 257..4096. Four leaf functions allocate, one per size
 * class, so the tracer sees four distinct stacks per thread. */
#include "common.h"

#include <pthread.h>
#include <string.h>

#ifndef CHURN_DEPTH
#define CHURN_DEPTH 8
#endif
#ifndef CHURN_THREADS
#define CHURN_THREADS 1
#endif

/* Frames around the recursion, as the tracer records them: the leaf,
 * churn_run, then main and libc's three start frames, or start_thread and
 * clone3 in a thread; descend adds one frame per level plus one. */
#define CHURN_FIXED_FRAMES (CHURN_THREADS > 1 ? 5 : 7)
#define CHURN_LEVELS (CHURN_DEPTH > CHURN_FIXED_FRAMES ? CHURN_DEPTH - CHURN_FIXED_FRAMES : 0)
#define CHURN_WINDOW 64

static BENCH_NOINLINE void *alloc_tiny(size_t n) { return malloc(n); }
static BENCH_NOINLINE void *alloc_small(size_t n) { return malloc(n); }
static BENCH_NOINLINE void *alloc_medium(size_t n) { return malloc(n); }
static BENCH_NOINLINE void *alloc_large(size_t n) { return malloc(n); }

static BENCH_NOINLINE void *descend(int levels, size_t size)
{
    void *p;
    if (levels == 0) {
        if (size <= 64)
            p = alloc_tiny(size);
        else if (size <= 256)
            p = alloc_small(size);
        else if (size <= 1024)
            p = alloc_medium(size);
        else
            p = alloc_large(size);
    } else {
        p = descend(levels - 1, size);
    }
    /* Use p after the call so that it is not a tail call. */
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

struct churn_arg {
    unsigned long count;
    uint64_t seed;
    uint64_t sum;
};

static void *churn_run(void *varg)
{
    struct churn_arg *arg = varg;
    unsigned char *window[CHURN_WINDOW] = { 0 };
    size_t sizes[CHURN_WINDOW] = { 0 };
    uint64_t state = arg->seed;
    uint64_t sum = 0;

    for (unsigned long i = 0; i < arg->count; i++) {
        uint64_t r = bench_rand(&state);
        unsigned slot = (unsigned)(r % CHURN_WINDOW);
        size_t size = (r >> 8) % 4 != 0 ? 16 + (r >> 16) % 241 : 257 + (r >> 16) % 3840;
        if (window[slot] != NULL) {
            sum += window[slot][0] + window[slot][sizes[slot] - 1];
            free(window[slot]);
        }
        unsigned char *p = descend(CHURN_LEVELS, size);
        if (p == NULL) {
            fprintf(stderr, "churn: out of memory\n");
            exit(1);
        }
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)(i >> 8);
        window[slot] = p;
        sizes[slot] = size;
        sum = sum * 31 + size;
    }
    for (unsigned slot = 0; slot < CHURN_WINDOW; slot++)
        free(window[slot]);
    arg->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long count = bench_count(argc, argv, 1000000);
    struct churn_arg args[CHURN_THREADS];
    pthread_t threads[CHURN_THREADS];

    for (int t = 0; t < CHURN_THREADS; t++) {
        args[t].count = count;
        args[t].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(t + 1);
        args[t].sum = 0;
    }
    if (CHURN_THREADS == 1) {
        churn_run(&args[0]);
    } else {
        for (int t = 0; t < CHURN_THREADS; t++) {
            int err = pthread_create(&threads[t], NULL, churn_run, &args[t]);
            if (err != 0) {
                fprintf(stderr, "churn: pthread_create: %s\n", strerror(err));
                return 1;
            }
        }
        for (int t = 0; t < CHURN_THREADS; t++)
            pthread_join(threads[t], NULL);
    }
    uint64_t sum = 0;
    for (int t = 0; t < CHURN_THREADS; t++)
        sum = sum * 1000003 + args[t].sum;
    bench_print_checksum("churn", count, sum);
    return 0;
}
