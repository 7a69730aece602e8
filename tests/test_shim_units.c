/*
 * Unit tests of the shim's support modules, in-process: hg_fmt_* formatting,
 * HEAPGROW_* parsing (config.c), the mmap arena, the once-only log and the
 * bootstrap arena of real.c.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapgrow/format.h"

#include "arena.h"
#include "config.h"
#include "fmt.h"
#include "log.h"
#include "real.h"

/* ---- fmt ---------------------------------------------------------------- */

START_TEST(fmt_numbers)
{
    char buf[128];
    hg_fmt_t f;
    hg_fmt_init(&f, buf, sizeof buf);
    hg_fmt_u64(&f, 0);
    hg_fmt_char(&f, ' ');
    hg_fmt_u64(&f, UINT64_MAX);
    hg_fmt_char(&f, ' ');
    hg_fmt_i64(&f, INT64_MIN);
    hg_fmt_char(&f, ' ');
    hg_fmt_i64(&f, 42);
    hg_fmt_char(&f, ' ');
    hg_fmt_hex(&f, 0);
    hg_fmt_char(&f, ' ');
    hg_fmt_hex(&f, 0xdeadbeef0ull);
    ck_assert_str_eq(buf, "0 18446744073709551615 -9223372036854775808 42 0x0 0xdeadbeef0");
    ck_assert_uint_eq(hg_fmt_len(&f), strlen(buf));
    ck_assert(!f.is_truncated);
}
END_TEST

START_TEST(fmt_truncation)
{
    char buf[8];
    hg_fmt_t f;
    hg_fmt_init(&f, buf, sizeof buf);
    hg_fmt_str(&f, "abc");
    ck_assert(!f.is_truncated);
    hg_fmt_u64(&f, 123456);
    ck_assert(f.is_truncated);
    ck_assert_str_eq(buf, "abc1234");
    ck_assert_uint_eq(hg_fmt_len(&f), 7);
    hg_fmt_str(&f, "more");
    ck_assert_str_eq(buf, "abc1234");
}
END_TEST

START_TEST(fmt_raw)
{
    char buf[20];
    ck_assert_uint_eq(hg_fmt_u64_raw(buf, 9), 1);
    ck_assert_int_eq(buf[0], '9');
    ck_assert_uint_eq(hg_fmt_u64_raw(buf, 1000), 4);
    ck_assert_int_eq(memcmp(buf, "1000", 4), 0);
}
END_TEST

/* ---- config ------------------------------------------------------------- */

START_TEST(config_defaults)
{
    hg_config_t c;
    ck_assert_int_eq(hg_config_parse(&c, NULL), 0);
    ck_assert_str_eq(c.output, "heapgrow.%e.%p.hgt");
    ck_assert_uint_eq(c.interval_ms, 100);
    ck_assert_uint_eq(c.max_frames, 64);
    ck_assert_uint_eq(c.sample_bytes, 0);
    ck_assert_uint_eq(c.unwinder, HG_UNWIND_DWARF);
    ck_assert_int_eq(c.dump_signal, SIGUSR2);
    ck_assert_str_eq(c.wrappers, "");
    ck_assert(!c.is_quiet);
}
END_TEST

START_TEST(config_values)
{
    char *env[] = {"PATH=/bin",
                   "HEAPGROW_OUTPUT=/tmp/x.%p.hgt",
                   "HEAPGROW_INTERVAL_MS=250",
                   "HEAPGROW_MAX_FRAMES=256",
                   "HEAPGROW_SAMPLE_BYTES=4096",
                   "HEAPGROW_UNWIND=fp",
                   "HEAPGROW_SIGNAL=SIGUSR1",
                   "HEAPGROW_WRAPPERS=xmalloc,*_alloc",
                   "HEAPGROW_QUIET=yes",
                   "HEAPGROW_UNKNOWN=whatever",
                   "HEAPGROW_NOEQUALS",
                   NULL};
    hg_config_t c;
    ck_assert_int_eq(hg_config_parse(&c, env), 0);
    ck_assert_str_eq(c.output, "/tmp/x.%p.hgt");
    ck_assert_uint_eq(c.interval_ms, 250);
    ck_assert_uint_eq(c.max_frames, 256);
    ck_assert_uint_eq(c.sample_bytes, 4096);
    ck_assert_uint_eq(c.unwinder, HG_UNWIND_FP);
    char *names[] = {"HEAPGROW_UNWIND=libunwind", "HEAPGROW_UNWIND=DWARF", NULL};
    hg_config_t u;
    ck_assert_int_eq(hg_config_parse(&u, names), 0);
    ck_assert_uint_eq(u.unwinder, HG_UNWIND_DWARF);
    char *lib[] = {"HEAPGROW_UNWIND=libunwind", NULL};
    ck_assert_int_eq(hg_config_parse(&u, lib), 0);
    ck_assert_uint_eq(u.unwinder, HG_UNWIND_LIBUNWIND);
    ck_assert_int_eq(c.dump_signal, SIGUSR1);
    ck_assert_str_eq(c.wrappers, "xmalloc,*_alloc");
    ck_assert(c.is_quiet);
}
END_TEST

START_TEST(config_signals)
{
    hg_config_t c;
    char *off[] = {"HEAPGROW_SIGNAL=off", NULL};
    ck_assert_int_eq(hg_config_parse(&c, off), 0);
    ck_assert_int_eq(c.dump_signal, 0);
    char *num[] = {"HEAPGROW_SIGNAL=10", NULL};
    ck_assert_int_eq(hg_config_parse(&c, num), 0);
    ck_assert_int_eq(c.dump_signal, 10);
    char *name[] = {"HEAPGROW_SIGNAL=hup", NULL};
    ck_assert_int_eq(hg_config_parse(&c, name), 0);
    ck_assert_int_eq(c.dump_signal, SIGHUP);
    char *kill9[] = {"HEAPGROW_SIGNAL=9", NULL};
    ck_assert_int_eq(hg_config_parse(&c, kill9), 1);
    ck_assert_int_eq(c.dump_signal, SIGUSR2);
}
END_TEST

/* HEAPGROW_SAMPLE_BYTES takes binary suffixes (docs/USAGE.md), up to 1 TiB;
 * KB/MB/GB and other units are refused; HEAPGROW_SAMPLE_SEED is a number. */
START_TEST(config_sample_sizes)
{
    static const struct {
        const char *env;
        uint64_t bytes;
        int invalid;
    } v[] = {
        {"HEAPGROW_SAMPLE_BYTES=0", 0, 0},
        {"HEAPGROW_SAMPLE_BYTES=524288", 524288, 0},
        {"HEAPGROW_SAMPLE_BYTES=512K", 524288, 0},
        {"HEAPGROW_SAMPLE_BYTES=512k", 524288, 0},
        {"HEAPGROW_SAMPLE_BYTES=512KiB", 524288, 0},
        {"HEAPGROW_SAMPLE_BYTES=1M", 1048576, 0},
        {"HEAPGROW_SAMPLE_BYTES=2mib", 2097152, 0},
        {"HEAPGROW_SAMPLE_BYTES=1G", 1073741824, 0},
        {"HEAPGROW_SAMPLE_BYTES=1024G", 1099511627776ull, 0},
        {"HEAPGROW_SAMPLE_BYTES=100B", 100, 0},
        {"HEAPGROW_SAMPLE_BYTES=1025G", 0, 1},
        {"HEAPGROW_SAMPLE_BYTES=1099511627777", 0, 1},
        {"HEAPGROW_SAMPLE_BYTES=512KB", 0, 1},
        {"HEAPGROW_SAMPLE_BYTES=1MB", 0, 1},
        {"HEAPGROW_SAMPLE_BYTES=1T", 0, 1},
        {"HEAPGROW_SAMPLE_BYTES=K", 0, 1},
        {"HEAPGROW_SAMPLE_BYTES= 1K", 0, 1},
        {"HEAPGROW_SAMPLE_BYTES=99999999999999999999999999K", 0, 1},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *env[] = {(char *)v[i].env, NULL};
        hg_config_t c;
        ck_assert_msg(hg_config_parse(&c, env) == v[i].invalid, "%s", v[i].env);
        ck_assert_msg(c.sample_bytes == v[i].bytes, "%s", v[i].env);
    }
    char *seed[] = {"HEAPGROW_SAMPLE_SEED=18446744073709551615", NULL};
    hg_config_t c;
    ck_assert_int_eq(hg_config_parse(&c, seed), 0);
    ck_assert_uint_eq(c.sample_seed, UINT64_MAX);
    char *bad_seed[] = {"HEAPGROW_SAMPLE_SEED=x", NULL};
    ck_assert_int_eq(hg_config_parse(&c, bad_seed), 1);
    ck_assert_uint_eq(c.sample_seed, 0);
}
END_TEST

START_TEST(config_invalid_keeps_defaults)
{
    char *env[] = {"HEAPGROW_INTERVAL_MS=0",
                   "HEAPGROW_MAX_FRAMES=257",
                   "HEAPGROW_SAMPLE_BYTES=-1",
                   "HEAPGROW_UNWIND=dwarves",
                   "HEAPGROW_SIGNAL=NOPE",
                   "HEAPGROW_QUIET=maybe",
                   "HEAPGROW_OUTPUT=",
                   "HEAPGROW_INTERVAL_MS=99999999999999999999999",
                   NULL};
    hg_config_t c;
    ck_assert_int_eq(hg_config_parse(&c, env), 8);
    ck_assert_uint_eq(c.interval_ms, 100);
    ck_assert_uint_eq(c.max_frames, 64);
    ck_assert_uint_eq(c.sample_bytes, 0);
    ck_assert_uint_eq(c.unwinder, HG_UNWIND_DWARF);
    ck_assert_int_eq(c.dump_signal, SIGUSR2);
    ck_assert(!c.is_quiet);
    ck_assert_str_eq(c.output, "heapgrow.%e.%p.hgt");
}
END_TEST

START_TEST(config_output_too_long)
{
    static char long_env[HG_PATH_MAX + 64];
    memcpy(long_env, "HEAPGROW_OUTPUT=", 16);
    memset(long_env + 16, 'a', HG_PATH_MAX);
    long_env[16 + HG_PATH_MAX] = '\0';
    char *env[] = {long_env, NULL};
    hg_config_t c;
    ck_assert_int_eq(hg_config_parse(&c, env), 1);
    ck_assert_str_eq(c.output, "heapgrow.%e.%p.hgt");
    /* 4095 characters fit. */
    long_env[16 + HG_PATH_MAX - 1] = '\0';
    ck_assert_int_eq(hg_config_parse(&c, env), 0);
    ck_assert_uint_eq(strlen(c.output), HG_PATH_MAX - 1);
}
END_TEST

/* ---- arena -------------------------------------------------------------- */

START_TEST(arena_alignment_and_zero)
{
    size_t aligns[] = {1, 8, 16, 64, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        unsigned char *p = hg_arena_alloc(100 + i, aligns[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % (aligns[i] < 8 ? 8 : aligns[i]), 0);
        for (size_t j = 0; j < 100 + i; j++)
            ck_assert_uint_eq(p[j], 0);
        memset(p, 0xff, 100 + i);
    }
    ck_assert_ptr_null(hg_arena_alloc(10, 3));
    ck_assert_ptr_null(hg_arena_alloc(10, 8192));
}
END_TEST

START_TEST(arena_growth)
{
    /* 3 MiB in 1000-byte pieces: several chunks, distinct, non-overlapping. */
    unsigned char *prev = NULL;
    size_t before = hg_arena_mapped_bytes();
    for (int i = 0; i < 3000; i++) {
        unsigned char *p = hg_arena_alloc(1000, 8);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_ne(p, prev);
        memset(p, i & 0xff, 1000);
        prev = p;
    }
    size_t mapped = hg_arena_mapped_bytes() - before;
    ck_assert_uint_ge(mapped, 3000u * 1000u);
    /* Geometric chunks: waste stays under 2x. */
    ck_assert_uint_le(mapped, 2u * 3000u * 1000u + 64u * 1024u);
    /* A large request gets its own mapping. */
    unsigned char *big = hg_arena_alloc(8u << 20, 64);
    ck_assert_ptr_nonnull(big);
    big[(8u << 20) - 1] = 1;
}
END_TEST

/* ---- log ---------------------------------------------------------------- */

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    return len;
}

START_TEST(log_once_per_code)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    hg_log_set_fd(fds[1]);
    errno = 77;
    ck_assert(hg_log_once(40, "first message"));
    ck_assert_int_eq(errno, 77);
    ck_assert(!hg_log_once(40, "again"));
    ck_assert(hg_log_once(41, "other code"));
    hg_log_set_quiet(true);
    ck_assert(hg_log_once(42, "quiet"));
    close(fds[1]);
    char buf[256];
    read_all(fds[0], buf, sizeof buf);
    ck_assert_str_eq(buf, "heapgrow: first message\nheapgrow: other code\n");
}
END_TEST

/* ---- bootstrap arena ---------------------------------------------------- */

START_TEST(boot_blocks)
{
    size_t used0 = hg_real_boot_used();
    unsigned char *a = hg_real_boot_alloc(10, 1);
    unsigned char *b = hg_real_boot_alloc(100, 256);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq((uintptr_t)a % 16, 0);
    ck_assert_uint_eq((uintptr_t)b % 256, 0);
    ck_assert(hg_real_is_boot(a) && hg_real_is_boot(b));
    ck_assert(!hg_real_is_boot(&used0));
    ck_assert_uint_eq(hg_real_boot_size(a), 10);
    ck_assert_uint_eq(hg_real_boot_size(b), 100);
    ck_assert_uint_eq(a[9], 0);
    ck_assert_uint_gt(hg_real_boot_used(), used0);
    ck_assert_ptr_null(hg_real_boot_alloc(10, 3));
    ck_assert_ptr_null(hg_real_boot_alloc(10, 8192));
}
END_TEST

START_TEST(boot_exhaustion)
{
    hg_log_set_quiet(true);
    size_t n = 0;
    while (hg_real_boot_alloc(4000, 16) != NULL)
        n++;
    /* 256 KiB of 4000-byte (+16 header) blocks. */
    ck_assert_uint_ge(n, 60);
    ck_assert_uint_le(n, 66);
    ck_assert_ptr_null(hg_real_boot_alloc(4000, 16));
}
END_TEST

START_TEST(resolve_finds_libc)
{
    ck_assert(hg_real_resolve());
    ck_assert(hg_real_is_ready());
    ck_assert_ptr_nonnull(hg_real.malloc);
    void *p = hg_real.malloc(10);
    ck_assert_ptr_nonnull(p);
    hg_real.free(p);
    ck_assert_ptr_nonnull(hg_real_sym("posix_memalign"));
}
END_TEST

static Suite *shim_suite(void)
{
    Suite *s = suite_create("shim");
    TCase *tc = tcase_create("fmt");
    tcase_add_test(tc, fmt_numbers);
    tcase_add_test(tc, fmt_truncation);
    tcase_add_test(tc, fmt_raw);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, config_defaults);
    tcase_add_test(tc, config_values);
    tcase_add_test(tc, config_signals);
    tcase_add_test(tc, config_invalid_keeps_defaults);
    tcase_add_test(tc, config_sample_sizes);
    tcase_add_test(tc, config_output_too_long);
    suite_add_tcase(s, tc);
    tc = tcase_create("arena");
    tcase_add_test(tc, arena_alignment_and_zero);
    tcase_add_test(tc, arena_growth);
    suite_add_tcase(s, tc);
    tc = tcase_create("log");
    tcase_add_test(tc, log_once_per_code);
    suite_add_tcase(s, tc);
    tc = tcase_create("bootstrap");
    tcase_add_test(tc, boot_blocks);
    tcase_add_test(tc, boot_exhaustion);
    tcase_add_test(tc, resolve_finds_libc);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shim_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
