/*
 * Unit tests of preload/counts.c: per-thread counter deltas merged into the
 * stack table's counters, exactly: one thread, a thread whose stacks outgrow
 * its block, threads that free what others allocated, the blocks of exited
 * threads merged once more and reused, a free taken back, repeated merges,
 * a fork child, and the fallback to the shared counters when no block can be
 * mapped (fault injection through the HG_TESTING hg_os table).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "counts.h"
#include "os.h"
#include "stack_table.h"

#define NSTACKS 24

#if defined(__SANITIZE_THREAD__)
#define IS_TSAN 1
#else
#define IS_TSAN 0
#endif

static hg_stack_table_t *table;
static uint32_t ids[NSTACKS];

/* A fresh stack table with NSTACKS stacks, counts bound to it. */
static void setup(void)
{
    ck_assert_int_eq(hg_stack_create(&table), 0);
    for (uint32_t k = 0; k < NSTACKS; k++) {
        uintptr_t f[3] = {0x400000 + k * 0x40, 0x500000, 0x600000 + k};
        ids[k] = hg_stack_intern(table, f, 3);
        ck_assert_uint_ne(ids[k], 0);
    }
    ck_assert_int_eq(hg_counts_init(table), 0);
}

typedef struct want {
    int64_t live_bytes, live_count;
    uint64_t alloc_count, alloc_bytes;
} want_t;

static void check(uint32_t id, want_t w)
{
    hg_stack_counters_t *c = hg_stack_counters(table, id);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(atomic_load(&c->live_bytes), w.live_bytes);
    ck_assert_int_eq(atomic_load(&c->live_count), w.live_count);
    ck_assert_uint_eq(atomic_load(&c->alloc_count), w.alloc_count);
    ck_assert_uint_eq(atomic_load(&c->alloc_bytes), w.alloc_bytes);
}

START_TEST(one_thread)
{
    setup();
    for (int i = 0; i < 10; i++)
        hg_counts_alloc(ids[0], 100);
    for (int i = 0; i < 4; i++)
        hg_counts_free(ids[0], 100);
    hg_counts_alloc(ids[1], 7);
    hg_counts_alloc(0, 5); /* the unknown stack */
    /* Nothing reaches the shared counters before a merge. */
    check(ids[0], (want_t){0, 0, 0, 0});
    hg_counts_merge();
    check(ids[0], (want_t){600, 6, 10, 1000});
    check(ids[1], (want_t){7, 1, 1, 7});
    check(0, (want_t){5, 1, 1, 5});
    /* A second merge adds only what happened since. */
    hg_counts_merge();
    check(ids[0], (want_t){600, 6, 10, 1000});
    hg_counts_free(ids[1], 7);
    hg_counts_merge();
    check(ids[1], (want_t){0, 0, 1, 7});
    check(ids[0], (want_t){600, 6, 10, 1000});
}
END_TEST

/* A free undone (realloc failed): live again, allocation counts unchanged,
 * whether the merge saw the free or not. */
START_TEST(free_undo)
{
    setup();
    hg_counts_alloc(ids[2], 64);
    hg_counts_free(ids[2], 64);
    hg_counts_free_undo(ids[2], 64);
    hg_counts_merge();
    check(ids[2], (want_t){64, 1, 1, 64});
    hg_counts_free(ids[2], 64);
    hg_counts_merge();
    check(ids[2], (want_t){0, 0, 1, 64});
    hg_counts_free_undo(ids[2], 64);
    hg_counts_merge();
    check(ids[2], (want_t){64, 1, 1, 64});
}
END_TEST

/* One thread touching more stacks than its first block holds (128 slots,
 * growth at 3/4): it moves to bigger blocks, the old ones are merged a last
 * time. */
START_TEST(many_stacks)
{
    ck_assert_int_eq(hg_stack_create(&table), 0);
    ck_assert_int_eq(hg_counts_init(table), 0);
    enum { N = 1000 };
    static uint32_t many[N];
    for (uint32_t k = 0; k < N; k++) {
        uintptr_t f[2] = {0x700000 + k * 8, 0x800000};
        many[k] = hg_stack_intern(table, f, 2);
        ck_assert_uint_ne(many[k], 0);
        hg_counts_alloc(many[k], k + 1);
        if (k == N / 2)
            hg_counts_merge(); /* a merge in the middle of the growth */
    }
    for (uint32_t k = 0; k < N; k += 2)
        hg_counts_free(many[k], k + 1);
    size_t blocks = hg_counts_block_count();
    hg_counts_merge();
    for (uint32_t k = 0; k < N; k++) {
        int64_t live = k % 2 == 0 ? 0 : 1;
        check(many[k], (want_t){live * (k + 1), live, 1, k + 1});
    }
    ck_assert_uint_ge(blocks, 4); /* 128 -> 256 -> 512 -> 1024 -> 2048 slots */
}
END_TEST

#define NTHREADS 4
#define NOPS     20000

typedef struct worker {
    pthread_t th;
    unsigned id;
} worker_t;

/* Thread i allocates NOPS blocks on stack (i + j) % NSTACKS (size j % 50 + 1)
 * and frees the blocks thread (i + 1) allocated with even j: frees of other
 * threads' blocks, counted by the thread that frees. */
static void *work(void *arg)
{
    worker_t *w = arg;
    unsigned other = (w->id + 1) % NTHREADS;
    for (unsigned j = 0; j < NOPS; j++) {
        hg_counts_alloc(ids[(w->id + j) % NSTACKS], j % 50 + 1);
        if (j % 2 == 0)
            hg_counts_free(ids[(other + j) % NSTACKS], j % 50 + 1);
    }
    return NULL;
}

static void expect_threads(want_t *want)
{
    for (unsigned i = 0; i < NTHREADS; i++)
        for (unsigned j = 0; j < NOPS; j++) {
            want_t *w = &want[(i + j) % NSTACKS];
            w->alloc_count++;
            w->alloc_bytes += j % 50 + 1;
            w->live_count++;
            w->live_bytes += j % 50 + 1;
            if (j % 2 == 0) {
                want_t *f = &want[((i + 1) % NTHREADS + j) % NSTACKS];
                f->live_count--;
                f->live_bytes -= j % 50 + 1;
            }
        }
}

static void run_threads(void)
{
    worker_t w[NTHREADS];
    for (unsigned i = 0; i < NTHREADS; i++) {
        w[i].id = i;
        ck_assert_int_eq(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
    }
    /* Merges while they run: counts must still come out exact. */
    for (int m = 0; m < 20; m++)
        hg_counts_merge();
    for (unsigned i = 0; i < NTHREADS; i++)
        pthread_join(w[i].th, NULL);
}

START_TEST(threads_exact_and_blocks_reused)
{
    setup();
    want_t want[NSTACKS] = {{0}};
    run_threads();
    hg_counts_merge(); /* takes the exited threads' last deltas, frees the blocks */
    expect_threads(want);
    for (unsigned k = 0; k < NSTACKS; k++)
        check(ids[k], want[k]);
    /* A second generation of threads: exact again. */
    run_threads();
    hg_counts_merge();
    expect_threads(want);
    for (unsigned k = 0; k < NSTACKS; k++)
        check(ids[k], want[k]);
    /* Threads one after another reuse the exited threads' blocks: no new
     * block once the merge has freed theirs. */
    size_t blocks = hg_counts_block_count();
    for (int i = 0; i < 10; i++) {
        worker_t one = {.id = 0};
        ck_assert_int_eq(pthread_create(&one.th, NULL, work, &one), 0);
        pthread_join(one.th, NULL);
        hg_counts_merge();
    }
    ck_assert_uint_eq(hg_counts_block_count(), blocks);
}
END_TEST

/* A fork child has only the forking thread: the blocks of the others are
 * retired there, and their deltas (made before the fork, not yet merged)
 * still count. */
static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_state; /* 0 start, 1 counted, 2 may exit */

static void *count_then_wait(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        hg_counts_alloc(ids[5], 3);
    pthread_mutex_lock(&gate);
    gate_state = 1;
    pthread_cond_broadcast(&gate_cv);
    while (gate_state != 2)
        pthread_cond_wait(&gate_cv, &gate);
    pthread_mutex_unlock(&gate);
    return NULL;
}

static void *count_a_little(void *arg)
{
    (void)arg;
    hg_counts_alloc(ids[5], 3);
    return NULL;
}

START_TEST(fork_child)
{
    setup();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, count_then_wait, NULL), 0);
    pthread_mutex_lock(&gate);
    while (gate_state != 1)
        pthread_cond_wait(&gate_cv, &gate);
    pthread_mutex_unlock(&gate);
    hg_counts_alloc(ids[5], 10);
    size_t blocks = hg_counts_block_count();
    pid_t pid = fork();
    if (pid == 0) {
        hg_counts_atfork_child();
        hg_counts_merge();
        hg_stack_counters_t *c = hg_stack_counters(table, ids[5]);
        bool is_exact = atomic_load(&c->alloc_count) == 1001 &&
                        atomic_load(&c->alloc_bytes) == 3010 && atomic_load(&c->live_count) == 1001;
        /* The other thread's block is free again: a new thread takes it.
         * (Not the gate: its condition variable has a waiter that does not
         * exist in the child.) */
        pthread_t t2;
        bool is_reused = pthread_create(&t2, NULL, count_a_little, NULL) == 0 &&
                         pthread_join(t2, NULL) == 0 && hg_counts_block_count() == blocks;
        _exit(is_exact && is_reused ? 0 : 1);
    }
    ck_assert_int_gt(pid, 0);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    pthread_mutex_lock(&gate);
    gate_state = 2;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate);
    pthread_join(th, NULL);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    hg_counts_merge();
    check(ids[5], (want_t){3010, 1001, 1001, 3010}); /* the child's thread was the child's */
}
END_TEST

/* No memory for a block: the thread counts in the shared counters (atomic
 * adds), nothing is lost and the merge does not count it twice. */
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);

static void *failing_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    (void)addr, (void)len, (void)prot, (void)flags, (void)fd, (void)off;
    errno = ENOMEM;
    return MAP_FAILED;
}

static void *count_without_memory(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++)
        hg_counts_alloc(ids[7], 11);
    for (int i = 0; i < 40; i++)
        hg_counts_free(ids[7], 11);
    return NULL;
}

START_TEST(no_memory_fallback)
{
    setup();
    real_mmap = hg_os.mmap;
    hg_os.mmap = failing_mmap;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, count_without_memory, NULL), 0);
    pthread_join(th, NULL);
    hg_os.mmap = real_mmap;
    /* Already in the shared counters, before any merge (unless a block was
     * left free by an earlier test of this process: CK_FORK=no). */
    const char *fork_mode = getenv("CK_FORK");
    if (fork_mode == NULL || fork_mode[0] != 'n')
        check(ids[7], (want_t){660, 60, 100, 1100});
    hg_counts_merge();
    check(ids[7], (want_t){660, 60, 100, 1100});
}
END_TEST

static Suite *counts_suite(void)
{
    Suite *s = suite_create("counts");
    TCase *tc = tcase_create("merge");
    tcase_add_test(tc, one_thread);
    tcase_add_test(tc, free_undo);
    tcase_add_test(tc, many_stacks);
    suite_add_tcase(s, tc);
    tc = tcase_create("threads");
    tcase_add_test(tc, threads_exact_and_blocks_reused);
    if (!IS_TSAN) /* ThreadSanitizer does not follow a fork while other threads run */
        tcase_add_test(tc, fork_child);
    tcase_add_test(tc, no_memory_fallback);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(counts_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
