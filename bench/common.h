/* Shared helpers of the benchmark workloads: a deterministic PRNG, argument
 * parsing and the checksum line every workload prints. Header-only so each
 * workload stays one translation unit. */
#ifndef HEAPGROW_BENCH_COMMON_H
#define HEAPGROW_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__) && !defined(__clang__)
#define BENCH_NOINLINE __attribute__((noinline, noclone))
#else
#define BENCH_NOINLINE __attribute__((noinline))
#endif

/* xorshift64*: fast, deterministic, good enough to pick sizes and slots. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The iteration count: argv[1] if given (a positive decimal), else the default. */
static inline unsigned long bench_count(int argc, char **argv, unsigned long dflt)
{
    if (argc < 2)
        return dflt;
    char *end;
    unsigned long n = strtoul(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || n == 0) {
        fprintf(stderr, "usage: %s [COUNT]  (COUNT a positive integer)\n", argv[0]);
        exit(2);
    }
    return n;
}

/* What the harness compares between untraced and traced runs. */
static inline void bench_print_checksum(const char *name, unsigned long count, uint64_t sum)
{
    printf("%s count=%lu checksum=%016llx\n", name, count, (unsigned long long)sum);
}

#endif
