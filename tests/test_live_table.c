/*
 * Unit tests of preload/live_table.c: exact insert/find/erase results, growth
 * across several generations, tombstone rebuilds, foreach (also across a
 * migration) and -ENOSPC when a growth cannot get memory (fault injection
 * through the writable hg_os table of the HG_TESTING build).
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "live_table.h"
#include "os.h"

/* Sanitizer builds run the same tests on fewer entries (still several
 * generations and rebuilds). */
#if defined(__SANITIZE_ADDRESS__)
#define SLOW 3
#else
#define SLOW 1
#endif

/* Deterministic payload of address a, representable exactly: whole seconds
 * below 16 MiB; every 7th entry 16 MiB or more (no time kept). */
static hg_live_entry_t entry_for(uintptr_t a)
{
    hg_live_entry_t e = {
        .address = a,
        .size = (a >> 4) * 3 + 1,
        .stack_id = (uint32_t)(a >> 4) % 977u + 1,
        .alloc_time_ms = ((uint32_t)(a >> 4) ^ 0x5a5au) % 32768u * 1000u,
    };
    if ((a >> 4) % 7 == 0) {
        e.size = ((uint64_t)1 << 24) + (a >> 4);
        e.alloc_time_ms = HG_LIVE_TIME_UNKNOWN;
    }
    return e;
}

static uintptr_t addr_of(size_t i)
{
    return (uintptr_t)0x10000 + (uintptr_t)i * 16;
}

static void check_present(hg_live_table_t *t, uintptr_t a)
{
    hg_live_entry_t want = entry_for(a), got;
    memset(&got, 0, sizeof got);
    ck_assert(hg_live_find(t, a, &got));
    ck_assert_uint_eq(got.address, a);
    ck_assert_uint_eq(got.size, want.size);
    ck_assert_uint_eq(got.stack_id, want.stack_id);
    ck_assert_uint_eq(got.alloc_time_ms, want.alloc_time_ms);
}

static hg_live_table_t *make(size_t cap)
{
    hg_live_table_t *t = NULL;
    ck_assert_int_eq(hg_live_create(&t, cap), 0);
    ck_assert_ptr_nonnull(t);
    return t;
}

START_TEST(insert_find_erase)
{
    hg_live_table_t *t = make(16);
    hg_live_entry_t e = {
        .address = 0x7f0000001000, .size = 4096, .stack_id = 7, .alloc_time_ms = 123000};
    ck_assert_int_eq(hg_live_insert(t, &e), 0);
    ck_assert_uint_eq(hg_live_count(t), 1);
    hg_live_entry_t got;
    ck_assert(hg_live_find(t, 0x7f0000001000, &got));
    ck_assert_uint_eq(got.address, 0x7f0000001000);
    ck_assert_uint_eq(got.size, 4096);
    ck_assert_uint_eq(got.stack_id, 7);
    ck_assert_uint_eq(got.alloc_time_ms, 123000);
    /* find does not remove */
    ck_assert(hg_live_find(t, 0x7f0000001000, NULL));
    memset(&got, 0, sizeof got);
    ck_assert(hg_live_erase(t, 0x7f0000001000, &got));
    ck_assert_uint_eq(got.size, 4096);
    ck_assert_uint_eq(got.stack_id, 7);
    ck_assert_uint_eq(got.alloc_time_ms, 123000);
    ck_assert_uint_eq(hg_live_count(t), 0);
    ck_assert(!hg_live_find(t, 0x7f0000001000, NULL));
    ck_assert(!hg_live_erase(t, 0x7f0000001000, NULL));
    /* reinsert the same address (the allocator reused it) */
    e.size = 8;
    ck_assert_int_eq(hg_live_insert(t, &e), 0);
    ck_assert(hg_live_erase(t, 0x7f0000001000, &got));
    ck_assert_uint_eq(got.size, 8);
}
END_TEST

/* The limits of the packed payload (live_table.h). */
START_TEST(packing_limits)
{
    hg_live_table_t *t = make(16);
    hg_live_entry_t got, e = {.address = 0x1000, .size = 100, .stack_id = 5, .alloc_time_ms = 1999};
    /* Below 16 MiB: whole seconds, rounded down. */
    ck_assert_int_eq(hg_live_insert(t, &e), 0);
    ck_assert(hg_live_find(t, 0x1000, &got));
    ck_assert_uint_eq(got.alloc_time_ms, 1000);
    /* ...saturating at 32,767 s; HG_LIVE_TIME_UNKNOWN saturates too. */
    e.address = 0x2000;
    e.alloc_time_ms = 40000000;
    ck_assert_int_eq(hg_live_insert(t, &e), 0);
    ck_assert(hg_live_find(t, 0x2000, &got));
    ck_assert_uint_eq(got.alloc_time_ms, 32767000);
    /* The largest small size keeps its time; the smallest large one does not. */
    e.address = 0x3000;
    e.size = ((uint64_t)1 << 24) - 1;
    e.alloc_time_ms = 5000;
    ck_assert_int_eq(hg_live_insert(t, &e), 0);
    ck_assert(hg_live_find(t, 0x3000, &got));
    ck_assert_uint_eq(got.size, ((uint64_t)1 << 24) - 1);
    ck_assert_uint_eq(got.alloc_time_ms, 5000);
    e.address = 0x4000;
    e.size = (uint64_t)1 << 24;
    ck_assert_int_eq(hg_live_insert(t, &e), 0);
    ck_assert(hg_live_find(t, 0x4000, &got));
    ck_assert_uint_eq(got.size, (uint64_t)1 << 24);
    ck_assert_uint_eq(got.alloc_time_ms, HG_LIVE_TIME_UNKNOWN);
    /* The largest size and stack id fit; one more does not. */
    e.address = 0x5000;
    e.size = HG_LIVE_SIZE_MAX;
    e.stack_id = HG_LIVE_STACK_ID_MAX;
    ck_assert_int_eq(hg_live_insert(t, &e), 0);
    ck_assert(hg_live_erase(t, 0x5000, &got));
    ck_assert_uint_eq(got.size, HG_LIVE_SIZE_MAX);
    ck_assert_uint_eq(got.stack_id, HG_LIVE_STACK_ID_MAX);
    e.size = HG_LIVE_SIZE_MAX + 1;
    ck_assert_int_eq(hg_live_insert(t, &e), -EFBIG);
    e.size = 1;
    e.stack_id = HG_LIVE_STACK_ID_MAX + 1;
    ck_assert_int_eq(hg_live_insert(t, &e), -EFBIG);
    ck_assert(!hg_live_find(t, 0x5000, NULL));
    ck_assert_uint_eq(hg_live_count(t), 4);
}
END_TEST

START_TEST(erase_unknown)
{
    hg_live_table_t *t = make(16);
    for (size_t i = 0; i < 100; i++) {
        hg_live_entry_t e = entry_for(addr_of(i));
        ck_assert_int_eq(hg_live_insert(t, &e), 0);
    }
    for (size_t i = 100; i < 10000; i++) {
        ck_assert(!hg_live_erase(t, addr_of(i), NULL));
        ck_assert(!hg_live_find(t, addr_of(i), NULL));
    }
    ck_assert_uint_eq(hg_live_count(t), 100);
    /* neighbours of live addresses (same home, other low bits) */
    ck_assert(!hg_live_erase(t, addr_of(5) + 8, NULL));
}
END_TEST

START_TEST(grow_generations)
{
    hg_live_table_t *t = make(16); /* 1024 slots: 4-6 growths */
    size_t mem0 = hg_live_memory_bytes(t);
    const size_t n = 120000 / SLOW;
    for (size_t i = 0; i < n; i++) {
        hg_live_entry_t e = entry_for(addr_of(i));
        ck_assert_int_eq(hg_live_insert(t, &e), 0);
        if (i % 9973 == 0) /* mid-migration lookups of earlier entries */
            check_present(t, addr_of(i / 2));
    }
    ck_assert_uint_eq(hg_live_count(t), n);
    ck_assert_uint_gt(hg_live_memory_bytes(t), mem0);
    /* a fork child's repair keeps a quiescent table (maybe mid-migration) */
    hg_live_after_fork(t);
    ck_assert_uint_eq(hg_live_count(t), n);
    for (size_t i = 0; i < n; i++)
        check_present(t, addr_of(i));
    hg_live_maintain(t, 0);
    for (size_t i = 0; i < n; i++)
        check_present(t, addr_of(i));
    /* steady state: at most 48 bytes/entry for the slots once migrated */
    ck_assert_uint_le(hg_live_memory_bytes(t), n * 48 + 512 * 1024);
    for (size_t i = 0; i < n; i += 2) {
        hg_live_entry_t got;
        ck_assert(hg_live_erase(t, addr_of(i), &got));
        ck_assert_uint_eq(got.size, entry_for(addr_of(i)).size);
    }
    ck_assert_uint_eq(hg_live_count(t), n / 2);
    for (size_t i = 0; i < n; i++) {
        if (i % 2)
            check_present(t, addr_of(i));
        else
            ck_assert(!hg_live_find(t, addr_of(i), NULL));
    }
}
END_TEST

START_TEST(tombstone_rebuild)
{
    /* Churn with a small live window: tombstones must be swept by rebuilds
     * and memory must stay bounded. */
    hg_live_table_t *t = make(512);
    size_t mem0 = hg_live_memory_bytes(t);
    const size_t window = 300, n = 200000 / SLOW;
    for (size_t i = 0; i < n; i++) {
        hg_live_entry_t e = entry_for(addr_of(i));
        ck_assert_int_eq(hg_live_insert(t, &e), 0);
        if (i >= window) {
            hg_live_entry_t got;
            ck_assert(hg_live_erase(t, addr_of(i - window), &got));
            ck_assert_uint_eq(got.stack_id, entry_for(addr_of(i - window)).stack_id);
        }
    }
    ck_assert_uint_eq(hg_live_count(t), window);
    hg_live_maintain(t, 0);
    for (size_t i = n - window; i < n; i++)
        check_present(t, addr_of(i));
    ck_assert(!hg_live_find(t, addr_of(n - window - 1), NULL));
    /* at most one extra generation mapped besides the first one's size */
    ck_assert_uint_le(hg_live_memory_bytes(t), 2 * mem0);
}
END_TEST

typedef struct walk {
    uint8_t *seen;
    size_t n, count;
    uint64_t size_sum;
    int is_bad;
} walk_t;

static int on_entry(const hg_live_entry_t *e, void *arg)
{
    walk_t *w = arg;
    size_t i = (e->address - 0x10000) / 16;
    hg_live_entry_t want = entry_for(e->address);
    if (i >= w->n || w->seen[i] || e->size != want.size || e->stack_id != want.stack_id ||
        e->alloc_time_ms != want.alloc_time_ms)
        w->is_bad = 1;
    else
        w->seen[i] = 1;
    w->count++;
    w->size_sum += e->size;
    return 0;
}

static int stop_at_three(const hg_live_entry_t *e, void *arg)
{
    (void)e;
    size_t *k = arg;
    return ++*k == 3 ? 42 : 0;
}

START_TEST(foreach_exact)
{
    hg_live_table_t *t = make(64);
    const size_t n = 5000;
    uint64_t want_sum = 0;
    for (size_t i = 0; i < n; i++) {
        hg_live_entry_t e = entry_for(addr_of(i));
        ck_assert_int_eq(hg_live_insert(t, &e), 0);
    }
    for (size_t i = 0; i < n; i += 3)
        ck_assert(hg_live_erase(t, addr_of(i), NULL));
    for (size_t i = 0; i < n; i++)
        if (i % 3)
            want_sum += entry_for(addr_of(i)).size;
    walk_t w = {.seen = calloc(n, 1), .n = n};
    ck_assert_int_eq(hg_live_foreach(t, on_entry, &w), 0);
    ck_assert_int_eq(w.is_bad, 0);
    ck_assert_uint_eq(w.count, n - (n + 2) / 3);
    ck_assert_uint_eq(w.size_sum, want_sum);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(w.seen[i], i % 3 ? 1 : 0);
    free(w.seen);
    size_t k = 0;
    ck_assert_int_eq(hg_live_foreach(t, stop_at_three, &k), 42);
    ck_assert_uint_eq(k, 3);
}
END_TEST

/* A walk that interleaves inserts (which drive migrations) with its own
 * progress: every entry present throughout is seen exactly once. */
typedef struct busy_walk {
    walk_t w;
    hg_live_table_t *t;
    size_t next_insert;
    size_t max_memory_bytes;
} busy_walk_t;

static int on_entry_inserting(const hg_live_entry_t *e, void *arg)
{
    busy_walk_t *b = arg;
    if (hg_live_memory_bytes(b->t) > b->max_memory_bytes)
        b->max_memory_bytes = hg_live_memory_bytes(b->t);
    for (int j = 0; j < 4; j++) {
        hg_live_entry_t x = entry_for(addr_of(b->next_insert++));
        if (hg_live_insert(b->t, &x) != 0)
            b->w.is_bad = 1;
    }
    return on_entry(e, &b->w);
}

START_TEST(foreach_during_growth)
{
    hg_live_table_t *t = make(16);
    const size_t n = 3000, total = n + 5 * n;
    for (size_t i = 0; i < n; i++) {
        hg_live_entry_t e = entry_for(addr_of(i));
        ck_assert_int_eq(hg_live_insert(t, &e), 0);
    }
    busy_walk_t b = {.w = {.seen = calloc(total, 1), .n = total}, .t = t, .next_insert = n};
    ck_assert_int_eq(hg_live_foreach(t, on_entry_inserting, &b), 0);
    ck_assert_int_eq(b.w.is_bad, 0);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(b.w.seen[i], 1);
    ck_assert_uint_eq(hg_live_count(t), b.next_insert);
    for (size_t i = 0; i < b.next_insert; i++)
        check_present(t, addr_of(i));
    /* generations that finished migrating during the walk were kept for it
     * and released when it ended */
    ck_assert_uint_lt(hg_live_memory_bytes(t), b.max_memory_bytes);
    hg_live_maintain(t, 0);
    for (size_t i = 0; i < b.next_insert; i++)
        check_present(t, addr_of(i));
    free(b.w.seen);
}
END_TEST

/* Fault injection: mmap fails from the Nth call on. */
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

START_TEST(enospc_when_growth_fails)
{
    real_mmap = hg_os.mmap;
    hg_os.mmap = failing_mmap;
    hg_live_table_t *t = make(16);
    mmap_budget = 0;
    size_t inserted = 0, failed = 0;
    for (size_t i = 0; i < 5000; i++) {
        hg_live_entry_t e = entry_for(addr_of(i));
        int rc = hg_live_insert(t, &e);
        if (rc == 0) {
            ck_assert_uint_eq(failed, 0); /* no success after the first failure */
            inserted++;
        } else {
            ck_assert_int_eq(rc, -ENOSPC);
            failed++;
        }
    }
    ck_assert_uint_gt(inserted, 700);  /* past the 3/4 trigger of 1024 slots */
    ck_assert_uint_lt(inserted, 1024); /* never more than the slots */
    ck_assert_uint_eq(hg_live_count(t), inserted);
    for (size_t i = 0; i < inserted; i++)
        check_present(t, addr_of(i));
    mmap_budget = -1; /* memory is back: growth resumes */
    hg_live_entry_t e = entry_for(addr_of(9999));
    ck_assert_int_eq(hg_live_insert(t, &e), 0);
    hg_live_maintain(t, 0);
    for (size_t i = 0; i < inserted; i++)
        check_present(t, addr_of(i));
    check_present(t, addr_of(9999));
    hg_os.mmap = real_mmap;
}
END_TEST

START_TEST(create_fails)
{
    real_mmap = hg_os.mmap;
    hg_os.mmap = failing_mmap;
    mmap_budget = 0;
    hg_live_table_t *t = NULL;
    ck_assert_int_eq(hg_live_create(&t, 100), -ENOMEM);
    mmap_budget = 1; /* the struct maps, the slots do not */
    ck_assert_int_eq(hg_live_create(&t, 100), -ENOMEM);
    mmap_budget = -1;
    hg_os.mmap = real_mmap;
}
END_TEST

static Suite *live_table_suite(void)
{
    Suite *s = suite_create("live_table");
    TCase *tc = tcase_create("insert");
    tcase_add_test(tc, insert_find_erase);
    tcase_add_test(tc, erase_unknown);
    tcase_add_test(tc, packing_limits);
    suite_add_tcase(s, tc);
    tc = tcase_create("grow");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grow_generations);
    tcase_add_test(tc, tombstone_rebuild);
    tcase_add_test(tc, enospc_when_growth_fails);
    tcase_add_test(tc, create_fails);
    suite_add_tcase(s, tc);
    tc = tcase_create("foreach");
    tcase_add_test(tc, foreach_exact);
    tcase_add_test(tc, foreach_during_growth);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(live_table_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
