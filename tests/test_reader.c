/*
 * Unit tests of the trace reader (analyzer/reader.c): a valid trace decoded
 * exactly, every kind of corrupt input rejected with its specific message,
 * truncation at every byte (decompressed and compressed) handled without a
 * crash. Also built with AddressSanitizer + UBSan (test_reader_asan).
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "craft.h"
#include "reader.h"

/* ---- helpers ---- */

typedef struct result {
    int rc; /* last hg_reader_next() result */
    size_t nrecords;
    unsigned tags[64]; /* first 64 tags */
    char msg[320];
    bool is_ended_early;
    bool is_gzip_truncated;
    bool has_trailing;
    uint64_t nskipped;
} result_t;

/* Reads a compressed buffer to its end. */
static result_t read_gz(const uint8_t *gz, size_t n)
{
    result_t res;
    memset(&res, 0, sizeof(res));
    int fd = craft_memfd(gz, n);
    hg_reader_t *r;
    ck_assert_int_eq(hg_reader_open_fd(fd, &r), 0);
    hg_record_t rec;
    while ((res.rc = hg_reader_next(r, &rec)) > 0) {
        if (res.nrecords < 64)
            res.tags[res.nrecords] = rec.tag;
        res.nrecords++;
        ck_assert_uint_lt(res.nrecords, 100000); /* never an endless loop */
    }
    snprintf(res.msg, sizeof(res.msg), "%s", hg_reader_error(r));
    if (res.rc < 0) {
        /* The error is sticky. */
        ck_assert_int_eq(hg_reader_next(r, &rec), res.rc);
    } else {
        ck_assert_int_eq(hg_reader_next(r, &rec), 0);
        ck_assert_str_eq(res.msg, "");
    }
    res.is_ended_early = hg_reader_ended_early(r);
    res.is_gzip_truncated = hg_reader_is_gzip_truncated(r);
    res.has_trailing = hg_reader_has_trailing_bytes(r);
    res.nskipped = hg_reader_skipped_count(r);
    hg_reader_close(r);
    close(fd);
    return res;
}

/* Gzips a raw stream and reads it. */
static result_t read_raw(const craft_t *c)
{
    uint8_t *gz;
    size_t n;
    craft_gzip(c->buf, c->len, &gz, &n);
    result_t res = read_gz(gz, n);
    free(gz);
    return res;
}

static const uint64_t totals0[8] = {0};

/* A small valid trace; *record_ends gets the end offset of each record. */
static size_t build_valid(craft_t *c, size_t *record_ends)
{
    size_t k = 0;
    craft_init(c);
    craft_preamble(c);
    craft_header(c, "my_alloc*");
    record_ends[k++] = c->len;
    static const uint8_t bid[4] = {0xde, 0xad, 0xbe, 0xef};
    craft_module(c, 1, 10, 0x400000, 0x400000, 0x500000, "/bin/prog", bid, sizeof(bid));
    record_ends[k++] = c->len;
    uint64_t f1[3] = {0x401000, 0x400800, 0x7f0000001000};
    craft_stack(c, 1, 3, f1);
    record_ends[k++] = c->len;
    uint64_t f2[1] = {0x402000};
    craft_stack(c, 2, 1, f2);
    record_ends[k++] = c->len;
    uint64_t tot[8] = {10, 1000, 4, 400, 600, 6, 700, 0};
    craft_counter_t kc[2] = {{1, 500, 5, 8, 800}, {2, 100, 1, 2, 200}};
    craft_snapshot(c, 100000000, 1 << 20, tot, 2, kc);
    record_ends[k++] = c->len;
    craft_warning(c, 100000001, HG_WARN_LIVE_FULL, "live table full");
    record_ends[k++] = c->len;
    craft_live_begin(c, 200000000, HG_DUMP_EXIT, 2);
    record_ends[k++] = c->len;
    craft_live_t le[2] = {{0x10000, 64, 1, 5}, {0x8000, 32, 2, 7}};
    craft_live_chunk(c, 2, le);
    record_ends[k++] = c->len;
    craft_live_end(c, 2);
    record_ends[k++] = c->len;
    craft_unload(c, 1, 200000001);
    record_ends[k++] = c->len;
    craft_end(c, 200000002, HG_END_EXIT, -3);
    record_ends[k++] = c->len;
    return k;
}

/* ---- valid input ---- */

START_TEST(test_valid_exact)
{
    craft_t c;
    size_t ends[16];
    size_t nrec = build_valid(&c, ends);
    uint8_t *gz;
    size_t n;
    craft_gzip(c.buf, c.len, &gz, &n);
    int fd = craft_memfd(gz, n);
    hg_reader_t *r;
    ck_assert_int_eq(hg_reader_open_fd(fd, &r), 0);
    hg_record_t rec;

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_HEADER);
    ck_assert_uint_eq(rec.offset, 9);
    ck_assert_uint_eq(rec.u.header.pid, 42);
    ck_assert_uint_eq(rec.u.header.ppid, 1);
    ck_assert_uint_eq(rec.u.header.start_real_ns, 1700000000000000000ull);
    ck_assert_uint_eq(rec.u.header.start_mono_ns, 5000);
    ck_assert_str_eq(rec.u.header.exe, "/bin/prog");
    ck_assert_uint_eq(rec.u.header.argc, 2);
    ck_assert_str_eq(rec.u.header.argv[0], "prog");
    ck_assert_str_eq(rec.u.header.argv[1], "-x");
    ck_assert_uint_eq(rec.u.header.interval_ms, 100);
    ck_assert_uint_eq(rec.u.header.max_frames, 64);
    ck_assert_str_eq(rec.u.header.wrappers, "my_alloc*");
    ck_assert_uint_eq(rec.u.header.dump_signal, 12);
    ck_assert_uint_eq(hg_reader_version(r), 1);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_MODULE_LOAD);
    ck_assert_uint_eq(rec.offset, ends[0]);
    ck_assert_uint_eq(rec.u.module_load.module_id, 1);
    ck_assert_uint_eq(rec.u.module_load.time_ns, 10);
    ck_assert_uint_eq(rec.u.module_load.load_bias, 0x400000);
    ck_assert_uint_eq(rec.u.module_load.start, 0x400000);
    ck_assert_uint_eq(rec.u.module_load.end, 0x500000);
    ck_assert_str_eq(rec.u.module_load.path, "/bin/prog");
    ck_assert_uint_eq(rec.u.module_load.build_id_len, 4);
    ck_assert_uint_eq(rec.u.module_load.build_id[3], 0xef);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_STACK);
    ck_assert_uint_eq(rec.u.stack.stack_id, 1);
    ck_assert_uint_eq(rec.u.stack.nframes, 3);
    ck_assert_uint_eq(rec.u.stack.frames[0], 0x401000);
    ck_assert_uint_eq(rec.u.stack.frames[1], 0x400800);
    ck_assert_uint_eq(rec.u.stack.frames[2], 0x7f0000001000);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_uint_eq(rec.u.stack.stack_id, 2);
    ck_assert_uint_eq(rec.u.stack.nframes, 1);
    ck_assert_uint_eq(rec.u.stack.frames[0], 0x402000);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_SNAPSHOT);
    ck_assert_uint_eq(rec.u.snapshot.time_ns, 100000000);
    ck_assert_uint_eq(rec.u.snapshot.rss_bytes, 1 << 20);
    ck_assert_uint_eq(rec.u.snapshot.alloc_count, 10);
    ck_assert_uint_eq(rec.u.snapshot.alloc_bytes, 1000);
    ck_assert_uint_eq(rec.u.snapshot.free_count, 4);
    ck_assert_uint_eq(rec.u.snapshot.free_bytes, 400);
    ck_assert_uint_eq(rec.u.snapshot.live_bytes, 600);
    ck_assert_uint_eq(rec.u.snapshot.live_count, 6);
    ck_assert_uint_eq(rec.u.snapshot.peak_live_bytes, 700);
    ck_assert_uint_eq(rec.u.snapshot.n, 2);
    ck_assert_uint_eq(rec.u.snapshot.counters[0].stack_id, 1);
    ck_assert_uint_eq(rec.u.snapshot.counters[0].live_bytes, 500);
    ck_assert_uint_eq(rec.u.snapshot.counters[0].live_count, 5);
    ck_assert_uint_eq(rec.u.snapshot.counters[0].alloc_count, 8);
    ck_assert_uint_eq(rec.u.snapshot.counters[0].alloc_bytes, 800);
    ck_assert_uint_eq(rec.u.snapshot.counters[1].stack_id, 2);
    ck_assert_uint_eq(rec.u.snapshot.counters[1].alloc_bytes, 200);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_WARNING);
    ck_assert_uint_eq(rec.u.warning.code, HG_WARN_LIVE_FULL);
    ck_assert_str_eq(rec.u.warning.message, "live table full");
    ck_assert_uint_eq(rec.u.warning.message_len, 15);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_LIVE_BEGIN);
    ck_assert_uint_eq(rec.u.live_begin.reason, HG_DUMP_EXIT);
    ck_assert_uint_eq(rec.u.live_begin.count, 2);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_LIVE_CHUNK);
    ck_assert_uint_eq(rec.u.live_chunk.n, 2);
    ck_assert_uint_eq(rec.u.live_chunk.entries[0].address, 0x10000);
    ck_assert_uint_eq(rec.u.live_chunk.entries[0].size, 64);
    ck_assert_uint_eq(rec.u.live_chunk.entries[0].stack_id, 1);
    ck_assert_uint_eq(rec.u.live_chunk.entries[0].alloc_time_ms, 5);
    ck_assert_uint_eq(rec.u.live_chunk.entries[1].address, 0x8000);
    ck_assert_uint_eq(rec.u.live_chunk.entries[1].stack_id, 2);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_LIVE_END);
    ck_assert_uint_eq(rec.u.live_end.count, 2);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_MODULE_UNLOAD);
    ck_assert_uint_eq(rec.u.module_unload.module_id, 1);

    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_END);
    ck_assert_uint_eq(rec.u.end.reason, HG_END_EXIT);
    ck_assert_int_eq(rec.u.end.status, -3);
    ck_assert_uint_eq(rec.offset, ends[nrec - 2]);

    ck_assert_int_eq(hg_reader_next(r, &rec), 0);
    ck_assert(!hg_reader_ended_early(r));
    ck_assert(!hg_reader_is_gzip_truncated(r));
    ck_assert(!hg_reader_has_trailing_bytes(r));
    ck_assert_uint_eq(hg_reader_offset(r), c.len);
    hg_reader_close(r);
    close(fd);
    free(gz);
    craft_free(&c);
}
END_TEST

START_TEST(test_unknown_tag_and_extra_fields)
{
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_header(&c, "");
    static const uint8_t junk[5] = {1, 2, 3, 4, 5};
    craft_record(&c, 77, junk, sizeof(junk)); /* unknown: skipped */
    craft_record(&c, 200, NULL, 0);           /* unknown, empty */
    /* MODULE_UNLOAD-like END with two extra trailing bytes in its payload. */
    static const uint8_t end_payload[] = {5, 0, 2, 0xaa, 0xbb};
    craft_record(&c, HG_REC_END, end_payload, sizeof(end_payload));
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, 0);
    ck_assert_uint_eq(res.nrecords, 2);
    ck_assert_uint_eq(res.tags[0], HG_REC_HEADER);
    ck_assert_uint_eq(res.tags[1], HG_REC_END);
    ck_assert(!res.is_ended_early);
    ck_assert_uint_eq(res.nskipped, 2);
    craft_free(&c);
}
END_TEST

START_TEST(test_trailing_after_end)
{
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_header(&c, "");
    craft_end(&c, 1, HG_END_EXIT, 0);
    craft_end(&c, 2, HG_END_EXIT, 0);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, 0);
    ck_assert_uint_eq(res.nrecords, 2);
    ck_assert(res.has_trailing);
    ck_assert(!res.is_ended_early);
    craft_free(&c);
}
END_TEST

START_TEST(test_no_end_is_early)
{
    craft_t c;
    size_t ends[16];
    size_t nrec = build_valid(&c, ends);
    c.len = ends[nrec - 2]; /* drop END */
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, 0);
    ck_assert_uint_eq(res.nrecords, nrec - 1);
    ck_assert(res.is_ended_early);
    ck_assert(!res.is_gzip_truncated);
    craft_free(&c);
}
END_TEST

START_TEST(test_concatenated_members)
{
    craft_t c;
    size_t ends[16];
    size_t nrec = build_valid(&c, ends);
    uint8_t *g1, *g2;
    size_t n1, n2;
    craft_gzip(c.buf, ends[3], &g1, &n1);
    craft_gzip(c.buf + ends[3], c.len - ends[3], &g2, &n2);
    uint8_t *both = malloc(n1 + n2);
    memcpy(both, g1, n1);
    memcpy(both + n1, g2, n2);
    result_t res = read_gz(both, n1 + n2);
    ck_assert_int_eq(res.rc, 0);
    ck_assert_uint_eq(res.nrecords, nrec);
    ck_assert(!res.is_ended_early);
    free(both);
    free(g1);
    free(g2);
    craft_free(&c);
}
END_TEST

/* ---- bad input ---- */

static void expect_error(const craft_t *c, const char *msg)
{
    result_t res = read_raw(c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_str_eq(res.msg, msg);
}

/* Starts a trace with preamble + header; returns the header's end offset. */
static size_t start(craft_t *c)
{
    craft_init(c);
    craft_preamble(c);
    craft_header(c, "");
    return c->len;
}

START_TEST(test_not_gzip)
{
    static const char text[] = "this is not a trace at all, just some text\n";
    result_t res = read_gz((const uint8_t *)text, sizeof(text) - 1);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_str_eq(res.msg, "offset 0: not a heapgrow trace (not gzip: incorrect header check)");
}
END_TEST

START_TEST(test_empty_file)
{
    result_t res = read_gz((const uint8_t *)"", 0);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_str_eq(res.msg, "offset 0: empty file, not a heapgrow trace");
}
END_TEST

START_TEST(test_gzip_of_other)
{
    craft_t c;
    craft_init(&c);
    craft_bytes(&c, "hello world, plain text gzipped\n", 32);
    expect_error(&c, "offset 0: not a heapgrow trace (bad magic)");
    craft_free(&c);
}
END_TEST

START_TEST(test_future_version)
{
    craft_t c;
    craft_init(&c);
    craft_bytes(&c, HG_MAGIC, HG_MAGIC_LEN);
    uint8_t v = 3;
    craft_bytes(&c, &v, 1);
    craft_header(&c, "");
    expect_error(&c, "offset 8: trace format 3, this heapgrow reads formats 1 to 2");
    craft_free(&c);
    craft_init(&c);
    craft_bytes(&c, HG_MAGIC, HG_MAGIC_LEN);
    v = 0;
    craft_bytes(&c, &v, 1);
    craft_header(&c, "");
    expect_error(&c, "offset 8: trace format 0, this heapgrow reads formats 1 to 2");
    craft_free(&c);
}
END_TEST

/* ---- sampled traces (format 2) ---- */

/* A version-2 SNAPSHOT carries estimated totals and per-stack estimates after
 * the raw ones; the reader hands out both. */
START_TEST(test_sampled_snapshot)
{
    craft_t c;
    craft_init(&c);
    craft_preamble_version(&c, HG_FORMAT_VERSION_SAMPLED);
    craft_header_sampled(&c, "", 524288);
    uint64_t f1[1] = {0x401000};
    craft_stack(&c, 1, 1, f1);
    uint64_t tot[8] = {2, 96, 1, 32, 64, 1, 96, 3};
    uint64_t est[7] = {11, 22, 33, 44, 55, 66, 77};
    craft_counter_t kc[1] = {{1, 64, 1, 2, 96}};
    craft_est_t ke[1] = {{1048608, 33558528, 67117056, 2097216}};
    craft_snapshot_sampled(&c, 5, 4096, tot, est, 1, kc, ke);
    craft_end(&c, 6, HG_END_EXIT, 0);
    uint8_t *gz;
    size_t n;
    craft_gzip(c.buf, c.len, &gz, &n);
    int fd = craft_memfd(gz, n);
    hg_reader_t *r;
    ck_assert_int_eq(hg_reader_open_fd(fd, &r), 0);
    hg_record_t rec;
    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_uint_eq(rec.u.header.sample_bytes, 524288);
    ck_assert_uint_eq(hg_reader_version(r), 2);
    ck_assert_int_eq(hg_reader_next(r, &rec), 1); /* STACK */
    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_SNAPSHOT);
    ck_assert(rec.u.snapshot.has_estimates);
    ck_assert_uint_eq(rec.u.snapshot.dropped_count, 3);
    ck_assert_uint_eq(rec.u.snapshot.est.alloc_count, 11);
    ck_assert_uint_eq(rec.u.snapshot.est.alloc_bytes, 22);
    ck_assert_uint_eq(rec.u.snapshot.est.free_count, 33);
    ck_assert_uint_eq(rec.u.snapshot.est.free_bytes, 44);
    ck_assert_uint_eq(rec.u.snapshot.est.live_bytes, 55);
    ck_assert_uint_eq(rec.u.snapshot.est.live_count, 66);
    ck_assert_uint_eq(rec.u.snapshot.est.peak_live_bytes, 77);
    ck_assert_uint_eq(rec.u.snapshot.n, 1);
    const hg_rec_counter_t *k = &rec.u.snapshot.counters[0];
    ck_assert_uint_eq(k->live_bytes, 64);
    ck_assert_uint_eq(k->alloc_bytes, 96);
    ck_assert_uint_eq(k->est_live_bytes, 1048608);
    ck_assert_uint_eq(k->est_live_count, 33558528);
    ck_assert_uint_eq(k->est_alloc_count, 67117056);
    ck_assert_uint_eq(k->est_alloc_bytes, 2097216);
    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_END);
    ck_assert_int_eq(hg_reader_next(r, &rec), 0);
    hg_reader_close(r);
    close(fd);
    free(gz);
    craft_free(&c);
}
END_TEST

/* Version and rate must agree: format 1 is exact, format 2 is sampled at a
 * rate of 1 byte to 1 TiB. An exact-layout SNAPSHOT in a format-2 trace is
 * too short, and a REACH record has no place in one. */
START_TEST(test_sampled_mismatch)
{
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_header_sampled(&c, "", 4096);
    expect_error(&c, "offset 11: HEADER: sample_bytes 4096 in a format-1 trace (sampled traces "
                     "are format 2)");
    craft_free(&c);

    craft_init(&c);
    craft_preamble_version(&c, HG_FORMAT_VERSION_SAMPLED);
    craft_header(&c, "");
    expect_error(&c, "offset 11: HEADER: sample_bytes 0 in a format-2 trace (expected 1 to "
                     "1099511627776)");
    craft_free(&c);

    craft_init(&c);
    craft_preamble_version(&c, HG_FORMAT_VERSION_SAMPLED);
    craft_header_sampled(&c, "", HG_SAMPLE_MAX_BYTES + 1);
    expect_error(&c, "offset 11: HEADER: sample_bytes 1099511627777 in a format-2 trace "
                     "(expected 1 to 1099511627776)");
    craft_free(&c);

    craft_init(&c);
    craft_preamble_version(&c, HG_FORMAT_VERSION_SAMPLED);
    craft_header_sampled(&c, "", 4096);
    size_t at = c.len;
    craft_snapshot(&c, 5, 0, totals0, 0, NULL);
    /* tag, length, then time 5, rss 0, 8 totals 0, n 0: the n is read as
     * est_alloc_count and the payload ends at est_alloc_bytes. */
    char msg[128];
    snprintf(msg, sizeof msg, "offset %zu: SNAPSHOT record too short for its est_alloc_bytes field",
             at + 2 + 11);
    expect_error(&c, msg);
    craft_free(&c);

    craft_init(&c);
    craft_preamble_version(&c, HG_FORMAT_VERSION_SAMPLED);
    craft_header_sampled(&c, "", 4096);
    at = c.len;
    craft_reach(&c, 5, HG_DUMP_EXIT, 0, 0, 0, NULL);
    snprintf(msg, sizeof msg, "offset %zu: REACH in a sampled trace (the scan needs every block)",
             at + 2);
    expect_error(&c, msg);
    craft_free(&c);
}
END_TEST

START_TEST(test_corrupt_deflate)
{
    craft_t c;
    size_t ends[16];
    build_valid(&c, ends);
    uint8_t *gz;
    size_t n;
    craft_gzip(c.buf, c.len, &gz, &n);
    gz[10] = 0xff; /* first deflate block: BFINAL=1, BTYPE=11 (reserved) */
    result_t res = read_gz(gz, n);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_str_eq(res.msg, "offset 0: corrupt gzip data (invalid block type)");
    free(gz);
    craft_free(&c);
}
END_TEST

START_TEST(test_corrupt_crc)
{
    craft_t c;
    size_t ends[16];
    build_valid(&c, ends);
    uint8_t *gz;
    size_t n;
    craft_gzip(c.buf, c.len, &gz, &n);
    gz[n - 8] ^= 0x55; /* CRC32 in the trailer */
    result_t res = read_gz(gz, n);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "corrupt gzip data (incorrect data check)"));
    free(gz);
    craft_free(&c);
}
END_TEST

START_TEST(test_record_too_long)
{
    craft_t c;
    size_t at = start(&c);
    uint8_t h[] = {HG_REC_SNAPSHOT, 0x81, 0x80, 0x80, 0x20}; /* 64 MiB + 1 */
    craft_bytes(&c, h, sizeof(h));
    char msg[128];
    snprintf(msg, sizeof(msg), "offset %zu: record length 67108865 exceeds the limit of 67108864",
             at);
    expect_error(&c, msg);
    craft_free(&c);
}
END_TEST

START_TEST(test_varint_too_long)
{
    craft_t c;
    size_t at = start(&c);
    uint8_t h[12] = {HG_REC_STACK, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0};
    craft_bytes(&c, h, sizeof(h));
    char msg[128];
    snprintf(msg, sizeof(msg), "offset %zu: varint exceeds 64 bits", at + 1);
    expect_error(&c, msg);
    craft_free(&c);
}
END_TEST

START_TEST(test_undefined_stack)
{
    craft_t c;
    start(&c);
    uint64_t f[1] = {0x1000};
    craft_stack(&c, 5, 1, f);
    size_t at = c.len;
    craft_counter_t k[2] = {{5, 1, 1, 1, 1}, {17, 2, 2, 2, 2}};
    craft_snapshot(&c, 1, 0, totals0, 2, k);
    /* tag, len, 10 totals bytes, n, first counter (5 bytes): offset of 17 */
    char msg[128];
    snprintf(msg, sizeof(msg), "offset %zu: stack 17 referenced before it was defined",
             at + 2 + 10 + 1 + 5);
    expect_error(&c, msg);
    craft_free(&c);
}
END_TEST

START_TEST(test_undefined_stack_in_live)
{
    craft_t c;
    start(&c);
    craft_live_begin(&c, 1, HG_DUMP_EXIT, 1);
    craft_live_t l = {0x1000, 8, 9, 0};
    craft_live_chunk(&c, 1, &l);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, ": stack 9 referenced before it was defined"));
    craft_free(&c);
}
END_TEST

START_TEST(test_stack_zero_reference_ok)
{
    craft_t c;
    start(&c);
    craft_counter_t k = {0, 10, 1, 1, 10};
    craft_snapshot(&c, 1, 0, totals0, 1, &k);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, 0);
    ck_assert_uint_eq(res.nrecords, 2);
    ck_assert(res.is_ended_early);
    craft_free(&c);
}
END_TEST

/* Sparse and dense stack ids (the bitmap grows and takes over hashed ids). */
START_TEST(test_stack_ids_sparse_dense)
{
    craft_t c;
    start(&c);
    uint64_t f[1] = {0x1000};
    craft_stack(&c, 1, 1, f);
    craft_stack(&c, 100000, 1, f);      /* beyond the bitmap: hashed */
    craft_stack(&c, 4000000000u, 1, f); /* far beyond: stays hashed */
    for (uint64_t id = 2; id <= 20000; id++)
        craft_stack(&c, id, 1, f);
    craft_stack(&c, 70000, 1, f); /* grows the bitmap over 100000 */
    craft_counter_t k[4] = {
        {100000, 1, 1, 1, 1}, {70000, 1, 1, 1, 1}, {4000000000u, 1, 1, 1, 1}, {20000, 1, 1, 1, 1}};
    craft_snapshot(&c, 1, 0, totals0, 4, k);
    size_t ok_len = c.len;
    craft_stack(&c, 100000, 1, f);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, ": stack 100000 defined twice"));
    ck_assert_uint_eq(res.nrecords, 1 + 3 + 19999 + 1 + 1);
    c.len = ok_len;
    craft_counter_t bad = {99999, 1, 1, 1, 1};
    craft_snapshot(&c, 2, 0, totals0, 1, &bad);
    res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, ": stack 99999 referenced before it was defined"));
    craft_free(&c);
}
END_TEST

START_TEST(test_stack_defined_twice)
{
    craft_t c;
    start(&c);
    uint64_t f[1] = {0x1000};
    craft_stack(&c, 3, 1, f);
    size_t at = c.len;
    craft_stack(&c, 3, 1, f);
    char msg[128];
    snprintf(msg, sizeof(msg), "offset %zu: stack 3 defined twice", at + 2);
    expect_error(&c, msg);
    craft_free(&c);
}
END_TEST

START_TEST(test_stack_zero_defined)
{
    craft_t c;
    start(&c);
    uint64_t f[1] = {0x1000};
    craft_stack(&c, 0, 1, f);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "STACK: stack id 0 cannot be defined"));
    craft_free(&c);
}
END_TEST

START_TEST(test_stack_id_too_big)
{
    craft_t c;
    start(&c);
    uint64_t f[1] = {0x1000};
    craft_stack(&c, 1ull << 32, 1, f);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "STACK: stack id 4294967296 cannot be defined"));
    craft_free(&c);
}
END_TEST

START_TEST(test_too_many_frames)
{
    craft_t c;
    start(&c);
    uint64_t f[257];
    for (int i = 0; i < 257; i++)
        f[i] = 0x1000 + (uint64_t)i;
    craft_stack(&c, 1, 257, f);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "STACK: nframes 257 exceeds the limit of 256"));
    craft_free(&c);
}
END_TEST

START_TEST(test_count_exceeds_payload)
{
    craft_t c;
    start(&c);
    /* SNAPSHOT claiming 1000 counters in a 13-byte payload. */
    uint8_t p[13] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xe8, 0x07, 0};
    craft_record(&c, HG_REC_SNAPSHOT, p, sizeof(p));
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(
        strstr(res.msg, "SNAPSHOT: counter count 1000 does not fit in the 1 bytes left"));
    craft_free(&c);
}
END_TEST

START_TEST(test_snapshot_count_limit)
{
    craft_t c;
    start(&c);
    /* n = 2^22 + 1, above HG_MAX_STACKS_PER_SNAP. */
    uint8_t p[14] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0x80, 0x80, 0x02};
    craft_record(&c, HG_REC_SNAPSHOT, p, sizeof(p));
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(
        strstr(res.msg, "SNAPSHOT: counter count 4194305 exceeds the limit of 4194304"));
    craft_free(&c);
}
END_TEST

START_TEST(test_live_chunk_limit)
{
    craft_t c;
    start(&c);
    craft_live_begin(&c, 1, HG_DUMP_EXIT, 1);
    uint8_t p[3] = {0x81, 0x80, 0x04}; /* 65537 */
    craft_record(&c, HG_REC_LIVE_CHUNK, p, sizeof(p));
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "LIVE_CHUNK: entry count 65537 exceeds the limit"));
    craft_free(&c);
}
END_TEST

START_TEST(test_payload_too_short)
{
    craft_t c;
    start(&c);
    uint8_t p[2] = {1, 2}; /* END with time and reason but no status */
    craft_record(&c, HG_REC_END, p, sizeof(p));
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "END record too short for its status field"));
    craft_free(&c);
}
END_TEST

/* Found by fuzzing: a known record with an empty payload (no buffer yet). */
START_TEST(test_empty_payload)
{
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_record(&c, HG_REC_HEADER, NULL, 0);
    expect_error(&c, "offset 11: HEADER record too short for its pid field");
    craft_free(&c);
}
END_TEST

START_TEST(test_string_exceeds_payload)
{
    craft_t c;
    start(&c);
    uint8_t p[5] = {1, 0, 50, 'a', 'b'}; /* WARNING, message length 50 */
    craft_record(&c, HG_REC_WARNING, p, sizeof(p));
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(
        strstr(res.msg, "WARNING: message length 50 exceeds the 2 bytes left in the record"));
    craft_free(&c);
}
END_TEST

START_TEST(test_live_chunk_outside)
{
    craft_t c;
    start(&c);
    craft_live_chunk(&c, 0, NULL);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "LIVE_CHUNK outside LIVE_BEGIN..LIVE_END"));
    craft_free(&c);
}
END_TEST

START_TEST(test_live_end_outside)
{
    craft_t c;
    start(&c);
    craft_live_end(&c, 0);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "LIVE_END without LIVE_BEGIN"));
    craft_free(&c);
}
END_TEST

START_TEST(test_nested_live_begin)
{
    craft_t c;
    start(&c);
    craft_live_begin(&c, 1, HG_DUMP_EXIT, 0);
    craft_live_begin(&c, 2, HG_DUMP_EXIT, 0);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "LIVE_BEGIN inside another live-set dump"));
    craft_free(&c);
}
END_TEST

START_TEST(test_first_not_header)
{
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_end(&c, 1, 0, 0);
    expect_error(&c, "offset 9: first record is END (tag 9), not HEADER");
    craft_free(&c);
}
END_TEST

START_TEST(test_second_header)
{
    craft_t c;
    size_t at = start(&c);
    craft_header(&c, "");
    char msg[64];
    snprintf(msg, sizeof(msg), "offset %zu: second HEADER record", at);
    expect_error(&c, msg);
    craft_free(&c);
}
END_TEST

START_TEST(test_time_backwards)
{
    craft_t c;
    start(&c);
    craft_snapshot(&c, 500, 0, totals0, 0, NULL);
    craft_snapshot(&c, 499, 0, totals0, 0, NULL);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "SNAPSHOT: time goes backwards (499 ns after 500 ns)"));
    craft_free(&c);
}
END_TEST

START_TEST(test_module_errors)
{
    craft_t c;
    start(&c);
    craft_module(&c, 1, 0, 0, 0x2000, 0x1000, "/x", NULL, 0);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "module 1 has start 0x2000 not below end 0x1000"));
    craft_free(&c);

    start(&c);
    uint8_t bid[65] = {0};
    craft_module(&c, 1, 0, 0, 0x1000, 0x2000, "/x", bid, sizeof(bid));
    res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(
        strstr(res.msg, "MODULE_LOAD: build_id length 65 exceeds the limit of 64"));
    craft_free(&c);

    start(&c);
    craft_module(&c, 1, 0, 0, 0x1000, 0x2000, "/x", NULL, 0);
    craft_module(&c, 1, 0, 0, 0x3000, 0x4000, "/y", NULL, 0);
    res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "module 1 loaded while already loaded"));
    craft_free(&c);

    start(&c);
    craft_unload(&c, 4, 0);
    res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "module 4 unloaded but not loaded"));
    craft_free(&c);

    /* An unloaded id may be reused. */
    start(&c);
    craft_module(&c, 1, 0, 0, 0x1000, 0x2000, "/x", NULL, 0);
    craft_unload(&c, 1, 1);
    craft_module(&c, 1, 2, 0, 0x3000, 0x4000, "/y", NULL, 0);
    craft_end(&c, 3, 0, 0);
    res = read_raw(&c);
    ck_assert_int_eq(res.rc, 0);
    ck_assert_uint_eq(res.nrecords, 5);
    craft_free(&c);
}
END_TEST

/* ---- truncation ---- */

/* Cut the decompressed stream at every byte: the records before the cut come
 * back, the trace reads as ended early, and only a cut before the end of the
 * header is an error. */
START_TEST(test_truncate_every_raw_byte)
{
    craft_t c;
    size_t ends[16];
    size_t nrec = build_valid(&c, ends);
    size_t full = c.len;
    for (size_t cut = 0; cut <= full; cut++) {
        c.len = cut;
        result_t res = read_raw(&c);
        size_t complete = 0;
        while (complete < nrec && ends[complete] <= cut)
            complete++;
        if (cut < ends[0]) {
            ck_assert_int_eq(res.rc, -HG_EFORMAT);
            ck_assert_ptr_nonnull(strstr(res.msg, "trace ends before its header record"));
            continue;
        }
        ck_assert_int_eq(res.rc, 0);
        ck_assert_uint_eq(res.nrecords, complete);
        ck_assert(res.is_ended_early == (cut < full));
    }
    craft_free(&c);
}
END_TEST

/* Cut the gzip file at every byte: never a crash; either a clean error (cut
 * inside the gzip header or before the trace header) or an early end. */
START_TEST(test_truncate_every_gz_byte)
{
    craft_t c;
    size_t ends[16];
    size_t nrec = build_valid(&c, ends);
    uint8_t *gz;
    size_t n;
    craft_gzip(c.buf, c.len, &gz, &n);
    size_t nerr = 0, nearly = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        result_t res = read_gz(gz, cut);
        if (res.rc < 0) {
            ck_assert_int_eq(res.rc, -HG_EFORMAT);
            ck_assert_uint_gt(strlen(res.msg), 0);
            nerr++;
            continue;
        }
        ck_assert_uint_le(res.nrecords, nrec);
        if (cut < n) {
            ck_assert(res.is_gzip_truncated);
            if (res.is_ended_early)
                nearly++;
        } else {
            ck_assert(!res.is_ended_early);
            ck_assert_uint_eq(res.nrecords, nrec);
        }
    }
    /* Cutting in the trailer keeps every record: not ended early. */
    ck_assert_uint_gt(nerr, 0);
    ck_assert_uint_gt(nearly, 0);
    free(gz);
    craft_free(&c);
}
END_TEST

/* Single-byte corruption anywhere in the decompressed stream never crashes. */
START_TEST(test_flip_every_byte)
{
    craft_t c;
    size_t ends[16];
    build_valid(&c, ends);
    for (size_t i = 0; i < c.len; i++) {
        for (int v = 0; v < 3; v++) {
            uint8_t saved = c.buf[i];
            static const uint8_t vals[3] = {0x00, 0xff, 0x80};
            c.buf[i] = vals[v];
            result_t res = read_raw(&c);
            ck_assert(res.rc == 0 || res.rc == -HG_EFORMAT);
            c.buf[i] = saved;
        }
    }
    craft_free(&c);
}
END_TEST

START_TEST(test_reach_records)
{
    craft_t c;
    start(&c);
    uint64_t f[1] = {0x1000};
    craft_stack(&c, 4, 1, f);
    craft_live_begin(&c, 1, HG_DUMP_EXIT, 0);
    craft_live_end(&c, 0);
    craft_reach_t e[2] = {{4, {10, 20, 30, 40}, {1, 2, 3, 4}}, {0, {5, 0, 0, 0}, {1, 0, 0, 0}}};
    craft_reach(&c, 2, HG_DUMP_EXIT, 0, 3, 2, e);
    craft_end(&c, 3, HG_END_EXIT, 0);
    uint8_t *gz;
    size_t n;
    craft_gzip(c.buf, c.len, &gz, &n);
    int fd = craft_memfd(gz, n);
    hg_reader_t *r;
    ck_assert_int_eq(hg_reader_open_fd(fd, &r), 0);
    hg_record_t rec;
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_REACH);
    ck_assert_uint_eq(rec.u.reach.reason, HG_DUMP_EXIT);
    ck_assert_uint_eq(rec.u.reach.threads_unseen, 3);
    ck_assert_uint_eq(rec.u.reach.n, 2);
    ck_assert_uint_eq(rec.u.reach.entries[0].stack_id, 4);
    ck_assert_uint_eq(rec.u.reach.entries[0].bytes[HG_CAT_POSSIBLE], 30);
    ck_assert_uint_eq(rec.u.reach.entries[0].count[HG_CAT_REACHABLE], 4);
    ck_assert_uint_eq(rec.u.reach.entries[1].stack_id, 0);
    ck_assert_int_eq(hg_reader_next(r, &rec), 1);
    ck_assert_int_eq(rec.tag, HG_REC_END);
    ck_assert_int_eq(hg_reader_next(r, &rec), 0);
    hg_reader_close(r);
    close(fd);
    free(gz);
    craft_free(&c);

    /* inside a live dump; undefined stack */
    start(&c);
    craft_live_begin(&c, 1, HG_DUMP_EXIT, 0);
    craft_reach(&c, 2, HG_DUMP_EXIT, 0, 0, 0, NULL);
    result_t res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, "REACH inside a live-set dump"));
    craft_free(&c);
    start(&c);
    craft_reach_t bad = {9, {1, 0, 0, 0}, {1, 0, 0, 0}};
    craft_reach(&c, 2, HG_DUMP_EXIT, 0, 0, 1, &bad);
    res = read_raw(&c);
    ck_assert_int_eq(res.rc, -HG_EFORMAT);
    ck_assert_ptr_nonnull(strstr(res.msg, ": stack 9 referenced before it was defined"));
    craft_free(&c);
}
END_TEST

/* The writer's write-failure marker: the stream reads to the WARNING and ends
 * early; hg_reader_tail_failure finds it from the file's tail, and only it. */
static int tail_of(const uint8_t *data, size_t n, uint64_t *t, char *msg, size_t msglen)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/hg_test_reader_%d.hgt", (int)getpid());
    ck_assert_int_eq(craft_write_file(path, data, n), 0);
    int rc = hg_reader_tail_failure(path, t, msg, msglen);
    unlink(path);
    return rc;
}

START_TEST(test_write_failure_marker)
{
    craft_t c, tail;
    size_t ends[16];
    size_t nrec = build_valid(&c, ends);
    c.len = ends[4]; /* through the SNAPSHOT */
    craft_init(&tail);
    craft_warning(&tail, 150000000, HG_WARN_WRITE_FAILED, "No space left on device");
    uint8_t *gz;
    size_t n;
    craft_gzip_cut(c.buf, c.len, tail.buf, tail.len, &gz, &n);
    result_t res = read_gz(gz, n);
    ck_assert_int_eq(res.rc, 0);
    ck_assert_uint_eq(res.nrecords, 6);
    ck_assert_uint_eq(res.tags[4], HG_REC_SNAPSHOT);
    ck_assert_uint_eq(res.tags[5], HG_REC_WARNING);
    ck_assert(res.is_ended_early && res.is_gzip_truncated);

    uint64_t t = 0;
    char msg[64];
    ck_assert_int_eq(tail_of(gz, n, &t, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(t, 150000000);
    ck_assert_str_eq(msg, "No space left on device");
    char small[3];
    ck_assert_int_eq(tail_of(gz, n, &t, small, sizeof(small)), 1);
    ck_assert_str_eq(small, "No");
    /* Not a marker: a byte less, NLEN wrong, another warning code, a clean
     * trace, a tiny file, no file. */
    ck_assert_int_eq(tail_of(gz, n - 1, &t, msg, sizeof(msg)), 0);
    size_t nlen_at = n - tail.len - 2;
    gz[nlen_at] ^= 1;
    ck_assert_int_eq(tail_of(gz, n, &t, msg, sizeof(msg)), 0);
    gz[nlen_at] ^= 1;
    free(gz);
    craft_free(&tail);
    craft_init(&tail);
    craft_warning(&tail, 150000000, HG_WARN_LIVE_FULL, "No space left on device");
    craft_gzip_cut(c.buf, c.len, tail.buf, tail.len, &gz, &n);
    ck_assert_int_eq(tail_of(gz, n, &t, msg, sizeof(msg)), 0);
    free(gz);
    c.len = ends[nrec - 1];
    craft_gzip(c.buf, c.len, &gz, &n);
    ck_assert_int_eq(tail_of(gz, n, &t, msg, sizeof(msg)), 0);
    ck_assert_int_eq(tail_of(gz, 4, &t, msg, sizeof(msg)), 0);
    free(gz);
    ck_assert_int_eq(hg_reader_tail_failure("/nonexistent/t.hgt", &t, msg, sizeof(msg)), -ENOENT);
    craft_free(&tail);
    craft_free(&c);
}
END_TEST

START_TEST(test_open_missing)
{
    hg_reader_t *r;
    ck_assert_int_eq(hg_reader_open("/nonexistent/trace.hgt", &r), -ENOENT);
}
END_TEST

static Suite *reader_suite(void)
{
    Suite *s = suite_create("reader");
    TCase *tc = tcase_create("valid");
    tcase_add_test(tc, test_valid_exact);
    tcase_add_test(tc, test_unknown_tag_and_extra_fields);
    tcase_add_test(tc, test_trailing_after_end);
    tcase_add_test(tc, test_no_end_is_early);
    tcase_add_test(tc, test_concatenated_members);
    tcase_add_test(tc, test_stack_zero_reference_ok);
    tcase_add_test(tc, test_open_missing);
    tcase_add_test(tc, test_write_failure_marker);
    tcase_add_test(tc, test_reach_records);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad");
    tcase_add_test(tc, test_not_gzip);
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_gzip_of_other);
    tcase_add_test(tc, test_future_version);
    tcase_add_test(tc, test_sampled_snapshot);
    tcase_add_test(tc, test_sampled_mismatch);
    tcase_add_test(tc, test_corrupt_deflate);
    tcase_add_test(tc, test_corrupt_crc);
    tcase_add_test(tc, test_record_too_long);
    tcase_add_test(tc, test_varint_too_long);
    tcase_add_test(tc, test_undefined_stack);
    tcase_add_test(tc, test_undefined_stack_in_live);
    tcase_add_test(tc, test_stack_defined_twice);
    tcase_add_test(tc, test_stack_ids_sparse_dense);
    tcase_add_test(tc, test_stack_zero_defined);
    tcase_add_test(tc, test_stack_id_too_big);
    tcase_add_test(tc, test_too_many_frames);
    tcase_add_test(tc, test_count_exceeds_payload);
    tcase_add_test(tc, test_snapshot_count_limit);
    tcase_add_test(tc, test_live_chunk_limit);
    tcase_add_test(tc, test_payload_too_short);
    tcase_add_test(tc, test_string_exceeds_payload);
    tcase_add_test(tc, test_empty_payload);
    tcase_add_test(tc, test_live_chunk_outside);
    tcase_add_test(tc, test_live_end_outside);
    tcase_add_test(tc, test_nested_live_begin);
    tcase_add_test(tc, test_first_not_header);
    tcase_add_test(tc, test_second_header);
    tcase_add_test(tc, test_time_backwards);
    tcase_add_test(tc, test_module_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("truncate");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_truncate_every_raw_byte);
    tcase_add_test(tc, test_truncate_every_gz_byte);
    tcase_add_test(tc, test_flip_every_byte);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reader_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
