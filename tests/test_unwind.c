/*
 * The default unwinder (preload/unwind_dwarf.c) against libunwind's
 * unw_backtrace, called from the same functions: both must give the same
 * return addresses (the first aside: it is each call's own call site), and the
 * cached walk must do it without handing the stack to libunwind, except where
 * it must (a signal frame). Built -O2 without frame pointers, so the frames
 * are the %rsp-based ones most code has; alloca and a large frame give
 * %rbp-based and far CFAs.
 */
#define UNW_LOCAL_ONLY
#include <alloca.h>
#include <check.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unwind.h"

#define MAX_FRAMES 256

typedef struct pair {
    void *lib[MAX_FRAMES];
    uintptr_t walk[MAX_FRAMES];
    int lib_n, walk_n;
} pair_t;

/* Both unwinders from one frame. */
__attribute__((noinline)) static void capture(pair_t *p, int max)
{
    p->lib_n = unw_backtrace(p->lib, max);
    p->walk_n = hg_unwind_dwarf(p->walk, max);
    __asm__ volatile("" ::: "memory");
}

static void check_same(const pair_t *p, const char *what)
{
    ck_assert_msg(p->walk_n >= 0, "%s: the walk fell back to libunwind", what);
    ck_assert_msg(p->lib_n == p->walk_n, "%s: libunwind %d frames, walk %d", what, p->lib_n,
                  p->walk_n);
    ck_assert_int_gt(p->lib_n, 2);
    for (int i = 1; i < p->lib_n; i++)
        ck_assert_msg((uintptr_t)p->lib[i] == p->walk[i], "%s: frame %d: libunwind %p, walk %p",
                      what, i, p->lib[i], (void *)p->walk[i]);
}

__attribute__((noinline)) static int recurse(pair_t *p, int depth, int max)
{
    if (depth == 0) {
        capture(p, max);
        return 1;
    }
    int r = recurse(p, depth - 1, max);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
    return r + 1;
}

START_TEST(test_depths)
{
    static pair_t p;
    static const int depths[] = {0, 1, 7, 30, 100, 200};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        /* twice: the first walk fills the cache, the second uses it */
        for (int round = 0; round < 2; round++) {
            memset(&p, 0, sizeof p);
            recurse(&p, depths[i], MAX_FRAMES);
            check_same(&p, "recursion");
            ck_assert_int_ge(p.lib_n, depths[i] + 3);
        }
    }
}
END_TEST

START_TEST(test_truncated)
{
    static pair_t p;
    recurse(&p, 20, 5);
    ck_assert_int_eq(p.walk_n, 5);
    check_same(&p, "max 5");
}
END_TEST

/* %rbp-based CFA: a frame whose size is known only at run time. */
__attribute__((noinline)) static int with_alloca(pair_t *p, size_t n, int depth)
{
    volatile char *buf = alloca(n);
    buf[0] = 1;
    buf[n - 1] = 2;
    int r = depth > 0 ? with_alloca(p, n * 2 + 8, depth - 1) : recurse(p, 2, MAX_FRAMES);
    return r + buf[0];
}

/* A CFA far from %rsp. */
__attribute__((noinline)) static int with_big_frame(pair_t *p, int i)
{
    volatile char big[70000];
    big[i] = 1;
    int r = with_alloca(p, 24, 3);
    return r + big[i];
}

START_TEST(test_frame_layouts)
{
    static pair_t p;
    for (int round = 0; round < 2; round++) {
        memset(&p, 0, sizeof p);
        with_big_frame(&p, round);
        check_same(&p, "alloca and a 70 KB frame");
    }
}
END_TEST

/* Through libc's own frames (built without frame pointers). */
static pair_t *sort_pair;
static int sort_calls;

static int compare(const void *a, const void *b)
{
    if (sort_calls++ == 3)
        capture(sort_pair, MAX_FRAMES);
    return *(const int *)a - *(const int *)b;
}

START_TEST(test_through_libc)
{
    static pair_t p;
    int v[64];
    for (int i = 0; i < 64; i++)
        v[i] = (i * 37) % 64;
    sort_pair = &p;
    sort_calls = 0;
    qsort(v, 64, sizeof v[0], compare);
    check_same(&p, "qsort comparator");
}
END_TEST

static void *thread_main(void *arg)
{
    recurse(arg, 12, MAX_FRAMES);
    return NULL;
}

START_TEST(test_thread)
{
    static pair_t p;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, thread_main, &p), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    check_same(&p, "thread");
}
END_TEST

/* A signal frame is not a plain layout: the walk hands it to libunwind, and
 * the capture function then gives libunwind's answer. */
static pair_t sig_pair;
static void *sig_capture[MAX_FRAMES];
static int sig_capture_n;

static void on_signal(int sig)
{
    (void)sig;
    capture(&sig_pair, MAX_FRAMES);
    sig_capture_n = hg_unwind_dwarf_capture(sig_capture, MAX_FRAMES);
}

START_TEST(test_signal_frame)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    uint64_t before = hg_unwind_dwarf_fallback_count();
    raise(SIGUSR1);
    ck_assert_int_eq(sig_pair.walk_n, -1);
    ck_assert_uint_eq(hg_unwind_dwarf_fallback_count(), before + 1);
    /* libunwind's stack of the handler, past the signal frame; the capture
     * has its own frame or two on top (the shim drops those by address),
     * and calls from another site of on_signal (lib[1]). */
    ck_assert_int_ge(sig_capture_n, sig_pair.lib_n);
    ck_assert_int_le(sig_capture_n, sig_pair.lib_n + 2);
    for (int k = 1; k < sig_pair.lib_n - 1; k++)
        ck_assert_ptr_eq(sig_capture[sig_capture_n - k], sig_pair.lib[sig_pair.lib_n - k]);
}
END_TEST

START_TEST(test_forget)
{
    static pair_t p;
    recurse(&p, 4, MAX_FRAMES);
    check_same(&p, "before forget");
    hg_unwind_dwarf_forget();
    memset(&p, 0, sizeof p);
    recurse(&p, 4, MAX_FRAMES);
    check_same(&p, "after forget");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("unwind");
    TCase *tc = tcase_create("dwarf");
    tcase_add_test(tc, test_depths);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_frame_layouts);
    tcase_add_test(tc, test_through_libc);
    tcase_add_test(tc, test_thread);
    tcase_add_test(tc, test_signal_frame);
    tcase_add_test(tc, test_forget);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
