/*
 * The analyzer's scaling workload (docs/REPORT.md, "Many sites and stacks"):
 * 2^BITS + 1 distinct allocation stacks over a paced run of SECONDS seconds.
 *
 *   many_stacks [SECONDS [BITS [ROUNDS]]]     defaults: 60 s, 17 bits, 10 rounds
 *
 * A recursion BITS levels deep branches on the bits of a leaf index through
 * two functions, so every leaf is reached by a stack of its own (2^17 =
 * 131,072 of them, plus main's one allocation of the slot table). ROUNDS times
 * over the run every leaf replaces its block (free the old one, malloc a new
 * one), and one replacement in eight keeps the old block instead: every stack
 * changes in about ROUNDS snapshots and creeps up a little, the worst shape
 * for the analyzer (no two series alike, none constant). The work is paced
 * with clock_nanosleep so that it spreads evenly over the run. Prints the
 * usual checksum line (bench/common.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

static void **slots;
static uint64_t checksum;

BENCH_NOINLINE static void *branch_b(unsigned i, int depth);

BENCH_NOINLINE static void *branch_a(unsigned i, int depth)
{
    if (depth == 0)
        return malloc(16 + i % 64);
    void *p = (i >> (depth - 1) & 1) ? branch_b(i, depth - 1) : branch_a(i, depth - 1);
    __asm__ volatile("" ::: "memory"); /* not a tail call: every level is a frame */
    return p;
}

BENCH_NOINLINE static void *branch_b(unsigned i, int depth)
{
    if (depth == 0)
        return malloc(32 + i % 64);
    void *p = (i >> (depth - 1) & 1) ? branch_a(i, depth - 1) : branch_b(i, depth - 1);
    __asm__ volatile("" ::: "memory");
    return p;
}

static unsigned long arg(int argc, char **argv, int i, unsigned long dflt, unsigned long max)
{
    if (argc <= i)
        return dflt;
    char *end;
    unsigned long v = strtoul(argv[i], &end, 10);
    if (argv[i][0] == '\0' || *end != '\0' || v == 0 || v > max) {
        fprintf(stderr, "usage: %s [SECONDS [BITS (1..20) [ROUNDS]]]\n", argv[0]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    unsigned long seconds = arg(argc, argv, 1, 60, 86400);
    int bits = (int)arg(argc, argv, 2, 17, 20);
    unsigned long rounds = arg(argc, argv, 3, 10, 1000);
    unsigned long n = 1ul << bits, total = n * rounds;
    slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return 1;
    /* 100 batches a second, each due at its share of the run. */
    unsigned long nbatches = seconds * 100, done = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long b = 1; b <= nbatches; b++) {
        unsigned long until = total * b / nbatches;
        for (; done < until; done++) {
            unsigned i = (unsigned)(done % n);
            void *p = branch_a(i, bits);
            if (p == NULL)
                return 1;
            checksum += (uint64_t)i * 2654435761u + done / n;
            if ((i + done / n) % 8 != 7) /* one in eight is kept: a slow creep */
                free(slots[i]);
            slots[i] = p;
        }
        uint64_t ns = (uint64_t)t0.tv_nsec + b * 10000000ull;
        struct timespec due = {t0.tv_sec + (time_t)(ns / 1000000000ull),
                               (long)(ns % 1000000000ull)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL);
    }
    bench_print_checksum("many_stacks", total, checksum);
    return 0;
}
