/*
 * Unit tests of preload/stack_table.c: interning (same frames -> same id,
 * different -> different, dense ids from 1), frames and counters by id,
 * growth over many stacks (levels and directory segments), and the 0 result
 * when memory runs out (fault injection through the HG_TESTING hg_os table).
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "heapgrow/format.h"
#include "os.h"
#include "stack_table.h"

static hg_stack_table_t *make(void)
{
    hg_stack_table_t *t = NULL;
    ck_assert_int_eq(hg_stack_create(&t), 0);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Stack k: 1..16 frames derived from k. */
static uint32_t stack_of(uint32_t k, uintptr_t *frames)
{
    uint32_t n = 1 + k % 16;
    for (uint32_t i = 0; i < n; i++)
        frames[i] = 0x400000 + (uintptr_t)k * 0x100 + i * 8;
    return n;
}

START_TEST(same_and_different)
{
    hg_stack_table_t *t = make();
    uintptr_t a[3] = {0x401000, 0x402000, 0x403000};
    uintptr_t a_copy[3] = {0x401000, 0x402000, 0x403000};
    uintptr_t b[3] = {0x401000, 0x402000, 0x403008};
    ck_assert_uint_eq(hg_stack_id_limit(t), 1);
    uint32_t ia = hg_stack_intern(t, a, 3);
    ck_assert_uint_eq(ia, 1);
    ck_assert_uint_eq(hg_stack_intern(t, a_copy, 3), 1);
    uint32_t ib = hg_stack_intern(t, b, 3);
    ck_assert_uint_eq(ib, 2);
    /* a prefix is a different stack */
    ck_assert_uint_eq(hg_stack_intern(t, a, 2), 3);
    ck_assert_uint_eq(hg_stack_intern(t, a, 0), 4);
    ck_assert_uint_eq(hg_stack_intern(t, a, 0), 4);
    ck_assert_uint_eq(hg_stack_id_limit(t), 5);
    const uintptr_t *f = NULL;
    ck_assert_uint_eq(hg_stack_frames(t, 2, &f), 3);
    ck_assert_uint_eq(f[0], 0x401000);
    ck_assert_uint_eq(f[2], 0x403008);
    ck_assert_uint_eq(hg_stack_frames(t, 3, &f), 2);
    ck_assert_uint_eq(hg_stack_frames(t, 4, &f), 0); /* empty stack has no frames */
    ck_assert_uint_eq(hg_stack_frames(t, 0, &f), 0);
    ck_assert_uint_eq(hg_stack_frames(t, 5, &f), 0);
    ck_assert_uint_eq(hg_stack_frames(t, 1000000, &f), 0);
    /* the table keeps its own copy */
    a[0] = 0;
    ck_assert_uint_eq(hg_stack_frames(t, 1, &f), 3);
    ck_assert_uint_eq(f[0], 0x401000);
}
END_TEST

START_TEST(counters)
{
    hg_stack_table_t *t = make();
    uintptr_t a[2] = {1, 2};
    uint32_t id = hg_stack_intern(t, a, 2);
    hg_stack_counters_t *c = hg_stack_counters(t, id);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(atomic_load(&c->live_bytes), 0);
    atomic_fetch_add_explicit(&c->live_bytes, 100, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->alloc_count, 1, memory_order_relaxed);
    ck_assert_ptr_eq(hg_stack_counters(t, id), c);
    ck_assert_int_eq(atomic_load(&hg_stack_counters(t, id)->live_bytes), 100);
    ck_assert_uint_eq(atomic_load(&hg_stack_counters(t, id)->alloc_count), 1);
    hg_stack_counters_t *unknown = hg_stack_counters(t, 0);
    ck_assert_ptr_nonnull(unknown);
    ck_assert_ptr_ne(unknown, c);
    ck_assert_ptr_null(hg_stack_counters(t, id + 1));
    ck_assert_ptr_null(hg_stack_counters(t, 123456));
    /* counters of different stacks never share a cache line */
    uintptr_t b[1] = {3};
    hg_stack_counters_t *d = hg_stack_counters(t, hg_stack_intern(t, b, 1));
    uintptr_t dist =
        (uintptr_t)d > (uintptr_t)c ? (uintptr_t)d - (uintptr_t)c : (uintptr_t)c - (uintptr_t)d;
    ck_assert_uint_ge(dist, 64);
}
END_TEST

START_TEST(many_stacks)
{
    hg_stack_table_t *t = make();
    size_t mem0 = hg_stack_memory_bytes(t);
#if defined(__SANITIZE_ADDRESS__)
    const uint32_t n = 100000; /* > level 0 and several directory segments */
#else
    const uint32_t n = 300000;
#endif
    uintptr_t f[16];
    for (uint32_t k = 0; k < n; k++) {
        uint32_t nf = stack_of(k, f);
        ck_assert_uint_eq(hg_stack_intern(t, f, nf), k + 1);
    }
    ck_assert_uint_eq(hg_stack_id_limit(t), n + 1);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t nf = stack_of(k, f);
        ck_assert_uint_eq(hg_stack_intern(t, f, nf), k + 1);
        const uintptr_t *g = NULL;
        ck_assert_uint_eq(hg_stack_frames(t, k + 1, &g), nf);
        ck_assert_int_eq(memcmp(g, f, nf * sizeof *f), 0);
        ck_assert_ptr_nonnull(hg_stack_counters(t, k + 1));
    }
    ck_assert_uint_gt(hg_stack_memory_bytes(t), mem0);
}
END_TEST

START_TEST(max_frames)
{
    hg_stack_table_t *t = make();
    static uintptr_t f[HG_MAX_FRAMES];
    for (uint32_t i = 0; i < HG_MAX_FRAMES; i++)
        f[i] = 0x1000 + i;
    uint32_t id = hg_stack_intern(t, f, HG_MAX_FRAMES);
    ck_assert_uint_eq(id, 1);
    f[HG_MAX_FRAMES - 1]++;
    ck_assert_uint_eq(hg_stack_intern(t, f, HG_MAX_FRAMES), 2);
    const uintptr_t *g = NULL;
    ck_assert_uint_eq(hg_stack_frames(t, 1, &g), HG_MAX_FRAMES);
    ck_assert_uint_eq(g[HG_MAX_FRAMES - 1], 0x1000 + HG_MAX_FRAMES - 1);
}
END_TEST

static int mmap_budget = -1;
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);

static void *failing_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (mmap_budget == 0) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    if (mmap_budget > 0)
        mmap_budget--;
    return real_mmap(addr, len, prot, flags, fd, off);
}

START_TEST(out_of_memory)
{
    real_mmap = hg_os.mmap;
    hg_os.mmap = failing_mmap;
    mmap_budget = 0;
    hg_stack_table_t *t = NULL;
    ck_assert_int_eq(hg_stack_create(&t), -ENOMEM);
    mmap_budget = 1;
    t = make(); /* uses the one mmap allowed */
    uintptr_t f[2] = {1, 2};
    ck_assert_uint_eq(hg_stack_intern(t, f, 2), 0); /* no level 0 */
    mmap_budget = 2;                                /* level 0 + segment, no frames */
    ck_assert_uint_eq(hg_stack_intern(t, f, 2), 0);
    mmap_budget = -1;
    uint32_t id = hg_stack_intern(t, f, 2);
    ck_assert_uint_ne(id, 0);
    ck_assert_uint_eq(hg_stack_intern(t, f, 2), id);
    const uintptr_t *g = NULL;
    ck_assert_uint_eq(hg_stack_frames(t, id, &g), 2);
    ck_assert_ptr_nonnull(hg_stack_counters(t, 0));
    hg_os.mmap = real_mmap;
}
END_TEST

/* The per-thread memo (stack_table.c) remembers ids per table: two tables
 * that gave the same frames different ids keep answering their own, and a
 * stack that shares its two innermost frames with the memo's entry (same
 * memo slot) but differs further out is not taken for it. */
START_TEST(memo_per_table)
{
    hg_stack_table_t *a = make(), *b = make();
    uintptr_t x[4] = {0x401000, 0x402000, 0x403000, 0x404000};
    uintptr_t y[4] = {0x501000, 0x502000, 0x503000, 0x504000};
    uint32_t ax = hg_stack_intern(a, x, 4), ay = hg_stack_intern(a, y, 4);
    uint32_t by = hg_stack_intern(b, y, 4), bx = hg_stack_intern(b, x, 4);
    ck_assert_uint_eq(ax, 1);
    ck_assert_uint_eq(ay, 2);
    ck_assert_uint_eq(by, 1);
    ck_assert_uint_eq(bx, 2);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(hg_stack_intern(a, y, 4), ay);
        ck_assert_uint_eq(hg_stack_intern(b, y, 4), by);
        ck_assert_uint_eq(hg_stack_intern(a, x, 4), ax);
        ck_assert_uint_eq(hg_stack_intern(b, x, 4), bx);
    }
    /* Same two innermost frames, another outer frame or another depth. */
    uintptr_t x2[4] = {0x401000, 0x402000, 0x403000, 0x404008};
    uint32_t ax2 = hg_stack_intern(a, x2, 4), ax3 = hg_stack_intern(a, x, 3);
    ck_assert_uint_ne(ax2, ax);
    ck_assert_uint_ne(ax3, ax);
    ck_assert_uint_ne(ax3, ax2);
    ck_assert_uint_eq(hg_stack_intern(a, x, 4), ax);
    ck_assert_uint_eq(hg_stack_intern(a, x2, 4), ax2);
    ck_assert_uint_eq(hg_stack_intern(a, x, 3), ax3);
}
END_TEST

static Suite *stack_table_suite(void)
{
    Suite *s = suite_create("stack_table");
    TCase *tc = tcase_create("intern");
    tcase_add_test(tc, same_and_different);
    tcase_add_test(tc, memo_per_table);
    tcase_add_test(tc, counters);
    tcase_add_test(tc, max_frames);
    suite_add_tcase(s, tc);
    tc = tcase_create("grow");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, many_stacks);
    tcase_add_test(tc, out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stack_table_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
