/*
 * Unit tests of process families (analyzer/family.c): descendant trace names,
 * reading a trace's HEADER, and finding a main trace's descendants by name and
 * parent pid, with traces crafted by the encoder (preload/encode.c) in a
 * temporary directory.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "encode.h"
#include "family.h"
#include "heapgrow/format.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/hg_test_family_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes <dir>/<name>: a gzip'd trace with only a HEADER record. */
static void write_trace(const char *name, uint64_t pid, uint64_t ppid, uint64_t start_real_ns,
                        const char *wrappers)
{
    static uint8_t payload[4096], out[8192];
    hg_enc_t p, e;
    hg_enc_init(&p, payload, sizeof(payload));
    hg_enc_u(&p, pid);
    hg_enc_u(&p, ppid);
    hg_enc_u(&p, start_real_ns);
    hg_enc_u(&p, 5); /* start_mono_ns */
    hg_enc_str(&p, "/bin/prog");
    hg_enc_u(&p, 2); /* argc */
    hg_enc_str(&p, "prog");
    hg_enc_str(&p, "a b");
    hg_enc_u(&p, 100); /* interval_ms */
    hg_enc_u(&p, 64);  /* max_frames */
    hg_enc_u(&p, 0);   /* sample_bytes */
    hg_enc_u(&p, 0);   /* unwinder */
    hg_enc_str(&p, wrappers);
    hg_enc_u(&p, 12);        /* dump_signal */
    hg_enc_u(&p, ppid != 1); /* flags */
    ck_assert(!p.is_overflow);
    hg_enc_init(&e, out, sizeof(out));
    hg_enc_preamble(&e, HG_FORMAT_VERSION_EXACT);
    hg_enc_record(&e, HG_REC_HEADER, payload, p.len);
    ck_assert(!e.is_overflow);

    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, out, (unsigned)e.len), (int)e.len);
    ck_assert_int_eq(gzclose(gz), Z_OK);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* The found paths' base names joined by ' '. */
static char *found(const char *main_name)
{
    static char buf[1024];
    char path[256];
    hg_family_t fam;
    snprintf(path, sizeof(path), "%s/%s", dir, main_name);
    ck_assert_int_eq(hg_family_find(path, &fam), 0);
    buf[0] = '\0';
    for (size_t i = 0; i < fam.n; i++) {
        ck_assert(strncmp(fam.paths[i], dir, strlen(dir)) == 0);
        strcat(buf, i > 0 ? " " : "");
        strcat(buf, strrchr(fam.paths[i], '/') + 1);
    }
    hg_family_free(&fam);
    return buf;
}

START_TEST(child_names)
{
    char b[256];
    hg_family_child_name("out.hgt", 42, b, sizeof(b));
    ck_assert_str_eq(b, "out.42.hgt");
    hg_family_child_name("/a.b/trace", 42, b, sizeof(b));
    ck_assert_str_eq(b, "/a.b/trace.42");
    hg_family_child_name("d/x.v1.hgt", 7, b, sizeof(b));
    ck_assert_str_eq(b, "d/x.v1.7.hgt");
    hg_family_child_name("d/.hgt", 7, b, sizeof(b));
    ck_assert_str_eq(b, "d/.hgt.7");
}
END_TEST

START_TEST(peek_header)
{
    make_dir();
    write_trace("t.hgt", 1234, 1000, 5555, "xmalloc,pool_*");
    write_file("text.hgt", "not a trace\n");
    char path[256];
    hg_trace_header_t h;
    snprintf(path, sizeof(path), "%s/t.hgt", dir);
    ck_assert_int_eq(hg_family_peek(path, &h), 0);
    ck_assert_uint_eq(h.pid, 1234);
    ck_assert_uint_eq(h.ppid, 1000);
    ck_assert_uint_eq(h.start_real_ns, 5555);
    ck_assert_str_eq(h.wrappers, "xmalloc,pool_*");
    free(h.wrappers);
    snprintf(path, sizeof(path), "%s/text.hgt", dir);
    ck_assert_int_eq(hg_family_peek(path, &h), -HG_EFORMAT);
    snprintf(path, sizeof(path), "%s/none.hgt", dir);
    ck_assert_int_eq(hg_family_peek(path, &h), -ENOENT);
    remove_dir();
}
END_TEST

START_TEST(find_by_ppid_chain)
{
    make_dir();
    write_trace("out.hgt", 100, 50, 1000, "");
    write_trace("out.101.hgt", 101, 100, 1001, "");   /* child            */
    write_trace("out.102.hgt", 102, 101, 1002, "");   /* grandchild       */
    write_trace("out.103.hgt", 103, 999, 1003, "");   /* unrelated        */
    write_trace("out.104.hgt", 104, 100, 999, "");    /* older: stale     */
    write_trace("out.105.1.hgt", 105, 102, 1004, ""); /* second name form */
    write_trace("out.106.txt", 106, 100, 1005, "");   /* other extension  */
    write_trace("other.107.hgt", 107, 100, 1005, ""); /* other stem       */
    write_file("out.108.hgt", "garbage");             /* not a trace      */
    write_trace("out.x.hgt", 109, 100, 1005, "");     /* no pid group     */
    ck_assert_str_eq(found("out.hgt"), "out.101.hgt out.102.hgt out.105.1.hgt");
    /* the same pid as the main process: its exec'd image */
    write_trace("out.100.hgt", 100, 50, 1006, "");
    ck_assert_str_eq(found("out.hgt"), "out.100.hgt out.101.hgt out.102.hgt out.105.1.hgt");
    remove_dir();
}
END_TEST

START_TEST(find_default_pattern_siblings)
{
    make_dir();
    /* "heapgrow.%e.%p.hgt" under plain LD_PRELOAD: descendants carry their own
     * pid where the main trace has its pid. */
    write_trace("heapgrow.prog.100.hgt", 100, 1, 1000, "");
    write_trace("heapgrow.prog.101.hgt", 101, 100, 1001, "");
    write_trace("heapgrow.prog.200.hgt", 200, 1, 1001, "");
    write_trace("heapgrow.prog.100.102.hgt", 102, 101, 1002, "");
    ck_assert_str_eq(found("heapgrow.prog.100.hgt"),
                     "heapgrow.prog.101.hgt heapgrow.prog.100.102.hgt");
    remove_dir();
}
END_TEST

START_TEST(find_no_extension_and_errors)
{
    make_dir();
    write_trace("trace", 100, 1, 1000, "");
    write_trace("trace.101", 101, 100, 1001, "");
    ck_assert_str_eq(found("trace"), "trace.101");
    hg_family_t fam;
    char path[256];
    snprintf(path, sizeof(path), "%s/missing.hgt", dir);
    ck_assert_int_eq(hg_family_find(path, &fam), -ENOENT);
    ck_assert_uint_eq(fam.n, 0);
    remove_dir();
}
END_TEST

START_TEST(find_in_current_directory)
{
    make_dir();
    write_trace("out.hgt", 100, 1, 1000, "");
    write_trace("out.101.hgt", 101, 100, 1001, "");
    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(dir), 0);
    hg_family_t fam;
    ck_assert_int_eq(hg_family_find("out.hgt", &fam), 0);
    ck_assert_uint_eq(fam.n, 1);
    ck_assert_str_eq(fam.paths[0], "out.101.hgt");
    hg_family_free(&fam);
    ck_assert_int_eq(chdir(cwd), 0);
    remove_dir();
}
END_TEST

static Suite *family_suite(void)
{
    Suite *s = suite_create("family");
    TCase *n = tcase_create("names");
    tcase_add_test(n, child_names);
    tcase_add_test(n, peek_header);
    suite_add_tcase(s, n);
    TCase *f = tcase_create("find");
    tcase_add_test(f, find_by_ppid_chain);
    tcase_add_test(f, find_default_pattern_siblings);
    tcase_add_test(f, find_no_extension_and_errors);
    tcase_add_test(f, find_in_current_directory);
    suite_add_tcase(s, f);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(family_suite());
    srunner_run_all(sr, CK_ENV);
    int nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
