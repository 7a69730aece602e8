/*
 * Helpers of the end-to-end programs run under LD_PRELOAD=libheapgrow.so by
 * run.py. A failed CHECK prints "FAIL file:line: expr" on stderr and makes the
 * program exit with status 99 at the end; LEAK prints "LEAK <addr> <size>" on
 * stdout so that run.py can find the block in the trace's final live set.
 */
#ifndef HEAPGROW_TESTS_E2E_H
#define HEAPGROW_TESTS_E2E_H

#include <stdint.h>
#include <stdio.h>

static int e2e_failures __attribute__((unused));

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #expr);                        \
            e2e_failures++;                                                                        \
        }                                                                                          \
    } while (0)

#define LEAK(p, size)                                                                              \
    do {                                                                                           \
        printf("LEAK 0x%llx %llu\n", (unsigned long long)(uintptr_t)(p),                           \
               (unsigned long long)(size));                                                        \
        fflush(stdout);                                                                            \
    } while (0)

/* The exit status: `status` when every CHECK passed, 99 otherwise. */
#define E2E_STATUS(status) (e2e_failures == 0 ? (status) : 99)

#endif
