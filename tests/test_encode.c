/*
 * Unit tests of preload/encode.c: exact bytes of every field encoding and of
 * whole records (docs/FORMAT.md), and the overflow contract of hg_enc_t.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <heapgrow/format.h>

#include "encode.h"

/* Encodes v with fn into a fresh buffer and compares with the expected bytes. */
#define CHECK_BYTES(enc, ...)                                                                      \
    do {                                                                                           \
        const uint8_t expect_[] = {__VA_ARGS__};                                                   \
        ck_assert_uint_eq((enc).len, sizeof expect_);                                              \
        ck_assert_int_eq(memcmp((enc).buf, expect_, sizeof expect_), 0);                           \
        ck_assert(!(enc).is_overflow);                                                             \
    } while (0)

static uint8_t buf[256];

static hg_enc_t fresh(void)
{
    hg_enc_t e;
    memset(buf, 0xee, sizeof buf);
    hg_enc_init(&e, buf, sizeof buf);
    return e;
}

START_TEST(u_zero)
{
    hg_enc_t e = fresh();
    hg_enc_u(&e, 0);
    CHECK_BYTES(e, 0x00);
}
END_TEST

START_TEST(u_127_128)
{
    hg_enc_t e = fresh();
    hg_enc_u(&e, 127);
    CHECK_BYTES(e, 0x7f);
    e = fresh();
    hg_enc_u(&e, 128);
    CHECK_BYTES(e, 0x80, 0x01);
    e = fresh();
    hg_enc_u(&e, 300);
    CHECK_BYTES(e, 0xac, 0x02);
    e = fresh();
    hg_enc_u(&e, 16384);
    CHECK_BYTES(e, 0x80, 0x80, 0x01);
}
END_TEST

START_TEST(u_large)
{
    hg_enc_t e = fresh();
    hg_enc_u(&e, UINT64_C(1) << 63);
    CHECK_BYTES(e, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01);
    e = fresh();
    hg_enc_u(&e, UINT64_MAX);
    CHECK_BYTES(e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    e = fresh();
    hg_enc_u(&e, UINT32_MAX);
    CHECK_BYTES(e, 0xff, 0xff, 0xff, 0xff, 0x0f);
}
END_TEST

START_TEST(s_zigzag)
{
    hg_enc_t e = fresh();
    hg_enc_s(&e, 0);
    hg_enc_s(&e, -1);
    hg_enc_s(&e, 1);
    hg_enc_s(&e, -2);
    hg_enc_s(&e, 63);
    hg_enc_s(&e, -64);
    hg_enc_s(&e, 64);
    CHECK_BYTES(e, 0x00, 0x01, 0x02, 0x03, 0x7e, 0x7f, 0x80, 0x01);
}
END_TEST

START_TEST(s_extremes)
{
    hg_enc_t e = fresh();
    hg_enc_s(&e, INT64_MIN); /* zigzag -> UINT64_MAX */
    CHECK_BYTES(e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    e = fresh();
    hg_enc_s(&e, INT64_MAX); /* zigzag -> UINT64_MAX - 1 */
    CHECK_BYTES(e, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    e = fresh();
    hg_enc_s(&e, -4096); /* 8191 */
    CHECK_BYTES(e, 0xff, 0x3f);
}
END_TEST

START_TEST(b_and_str)
{
    hg_enc_t e = fresh();
    hg_enc_str(&e, "ab");
    hg_enc_b(&e, "\0x", 2);
    hg_enc_str(&e, "");
    CHECK_BYTES(e, 0x02, 'a', 'b', 0x02, 0x00, 'x', 0x00);
}
END_TEST

START_TEST(record_and_preamble)
{
    hg_enc_t e = fresh();
    const uint8_t payload[] = {0x05, 0x06};
    hg_enc_preamble(&e, HG_FORMAT_VERSION_EXACT);
    hg_enc_record(&e, HG_REC_MODULE_UNLOAD, payload, sizeof payload);
    CHECK_BYTES(e, 'H', 'E', 'A', 'P', 'G', 'R', 'W', 0x01, 0x01, 0x03, 0x02, 0x05, 0x06);
}
END_TEST

START_TEST(record_long_payload)
{
    static uint8_t big[200];
    static uint8_t out[300];
    hg_enc_t e;
    memset(big, 0x5a, sizeof big);
    hg_enc_init(&e, out, sizeof out);
    hg_enc_record(&e, HG_REC_STACK, big, sizeof big);
    ck_assert(!e.is_overflow);
    ck_assert_uint_eq(e.len, 1 + 2 + 200);
    ck_assert_uint_eq(out[0], HG_REC_STACK);
    ck_assert_uint_eq(out[1], 0xc8); /* 200 = 0x48 | 0x80, 0x01 */
    ck_assert_uint_eq(out[2], 0x01);
    ck_assert_uint_eq(out[3], 0x5a);
    ck_assert_uint_eq(out[202], 0x5a);
}
END_TEST

START_TEST(overflow_sets_flag_and_drops)
{
    uint8_t small[4];
    hg_enc_t e;
    hg_enc_init(&e, small, sizeof small);
    hg_enc_u(&e, 1000); /* 2 bytes */
    ck_assert(!e.is_overflow);
    hg_enc_u(&e, UINT64_C(1) << 30); /* 5 bytes: does not fit, dropped whole */
    ck_assert(e.is_overflow);
    ck_assert_uint_eq(e.len, 2);
    hg_enc_byte(&e, 7);
    hg_enc_byte(&e, 8);
    ck_assert_uint_eq(e.len, 4);
    hg_enc_byte(&e, 9);
    ck_assert_uint_eq(e.len, 4);
    ck_assert_uint_eq(small[3], 8);
    hg_enc_raw(&e, "x", SIZE_MAX); /* a length that would wrap len + n */
    ck_assert_uint_eq(e.len, 4);
    ck_assert(e.is_overflow);
}
END_TEST

START_TEST(zero_capacity)
{
    hg_enc_t e;
    hg_enc_init(&e, NULL, 0);
    hg_enc_raw(&e, "", 0);
    ck_assert(!e.is_overflow);
    hg_enc_u(&e, 0);
    ck_assert(e.is_overflow);
    ck_assert_uint_eq(e.len, 0);
}
END_TEST

static Suite *encode_suite(void)
{
    Suite *s = suite_create("encode");
    TCase *tc = tcase_create("varint");
    tcase_add_test(tc, u_zero);
    tcase_add_test(tc, u_127_128);
    tcase_add_test(tc, u_large);
    tcase_add_test(tc, s_zigzag);
    tcase_add_test(tc, s_extremes);
    suite_add_tcase(s, tc);
    tc = tcase_create("record");
    tcase_add_test(tc, b_and_str);
    tcase_add_test(tc, record_and_preamble);
    tcase_add_test(tc, record_long_payload);
    suite_add_tcase(s, tc);
    tc = tcase_create("overflow");
    tcase_add_test(tc, overflow_sets_flag_and_drops);
    tcase_add_test(tc, zero_capacity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(encode_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
