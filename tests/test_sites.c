/*
 * Unit tests of call-site grouping (analyzer/sites.c): allocator and wrapper
 * frames skipped, user globs, base names of demangled C++ names, and the three
 * groupings.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sites.h"

#define LIBC   "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define STDCXX "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
#define PROG   "/home/u/prog"

static hg_frame_info_t fr(const char *fn, const char *file, uint32_t line, const char *module,
                          uint64_t off)
{
    hg_frame_info_t f;
    memset(&f, 0, sizeof(f));
    f.function = fn;
    f.file = file;
    f.line = line;
    f.module = module;
    f.address = 0x400000 + off;
    f.module_offset = off;
    return f;
}

static hg_sites_t *mk(enum hg_group_by g, const char *csv)
{
    hg_sites_t *t;
    ck_assert_int_eq(hg_sites_create(g, NULL, 0, csv, &t), 0);
    return t;
}

START_TEST(test_malloc_xmalloc_user)
{
    hg_sites_t *t = mk(HG_GROUP_SITE, NULL);
    hg_frame_info_t s[4] = {
        fr("malloc", NULL, 0, LIBC, 0x100),
        fr("xmalloc", "xmalloc.c", 10, PROG, 0x200),
        fr("load_config", "config.c", 42, PROG, 0x300),
        fr("main", "main.c", 5, PROG, 0x400),
    };
    ck_assert_uint_eq(hg_sites_site_frame(t, s, 4), 2);
    hg_sites_destroy(t);
}
END_TEST

START_TEST(test_new_vector_user)
{
    hg_sites_t *t = mk(HG_GROUP_SITE, NULL);
    hg_frame_info_t s[6] = {
        fr("operator new(unsigned long)", NULL, 0, STDCXX, 0x10),
        fr("__gnu_cxx::new_allocator<int>::allocate(unsigned long, void const*)", "new_allocator.h",
           127, PROG, 0x20),
        fr("void std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>("
           "__gnu_cxx::__normal_iterator<int*, std::vector<int, std::allocator<int> > >, "
           "int const&)",
           "vector.tcc", 440, PROG, 0x30),
        fr("std::vector<int, std::allocator<int> >::push_back(int const&)", "stl_vector.h", 1198,
           PROG, 0x40),
        fr("Registry::add(int)", "registry.cc", 17, PROG, 0x50),
        fr("main", "main.cc", 9, PROG, 0x60),
    };
    ck_assert_uint_eq(hg_sites_site_frame(t, s, 6), 4);
    hg_sites_destroy(t);
}
END_TEST

START_TEST(test_user_wrapper_glob)
{
    hg_frame_info_t s[3] = {
        fr("my_pool_alloc", "pool.c", 3, PROG, 0x10),
        fr("cache_put", "cache.c", 30, PROG, 0x20),
        fr("main", "main.c", 9, PROG, 0x30),
    };
    hg_sites_t *t = mk(HG_GROUP_SITE, NULL);
    ck_assert_uint_eq(hg_sites_site_frame(t, s, 3), 0);
    hg_sites_destroy(t);
    t = mk(HG_GROUP_SITE, " other , my_pool_*");
    ck_assert_uint_eq(hg_sites_site_frame(t, s, 3), 1);
    hg_sites_destroy(t);
    const char *w[1] = {"cache_*"};
    ck_assert_int_eq(hg_sites_create(HG_GROUP_SITE, w, 1, "my_pool_alloc", &t), 0);
    ck_assert_uint_eq(hg_sites_site_frame(t, s, 3), 2);
    hg_sites_destroy(t);
}
END_TEST

START_TEST(test_wrapper_glob_cxx_params)
{
    hg_frame_info_t s[2] = {
        fr("Arena::allocate(unsigned long)", "arena.cc", 3, PROG, 0x10),
        fr("Parser::parse()", "parse.cc", 30, PROG, 0x20),
    };
    hg_sites_t *t = mk(HG_GROUP_SITE, "Arena::allocate");
    ck_assert_uint_eq(hg_sites_site_frame(t, s, 2), 1);
    hg_sites_destroy(t);
}
END_TEST

START_TEST(test_all_allocator)
{
    hg_sites_t *t = mk(HG_GROUP_SITE, NULL);
    hg_frame_info_t s[2] = {
        fr("malloc", NULL, 0, LIBC, 0x100),
        fr("strdup", NULL, 0, LIBC, 0x200),
    };
    ck_assert_uint_eq(hg_sites_site_frame(t, s, 2), 1);
    hg_sites_destroy(t);
}
END_TEST

START_TEST(test_modules)
{
    hg_sites_t *t = mk(HG_GROUP_SITE, NULL);
    hg_frame_info_t a = fr(NULL, NULL, 0, "/opt/lib/libheapgrow.so", 0x10);
    hg_frame_info_t b = fr("some_internal", NULL, 0, STDCXX, 0x10);
    hg_frame_info_t c = fr(NULL, NULL, 0, LIBC, 0x10);
    hg_frame_info_t d = fr("fopen", NULL, 0, LIBC, 0x10);
    hg_frame_info_t e = fr(NULL, NULL, 0, PROG, 0x10);
    hg_frame_info_t f = fr(NULL, NULL, 0, NULL, 0x10);
    ck_assert(hg_sites_is_allocator(t, &a));
    ck_assert(hg_sites_is_allocator(t, &b));
    ck_assert(hg_sites_is_allocator(t, &c));
    ck_assert(!hg_sites_is_allocator(t, &d));
    ck_assert(!hg_sites_is_allocator(t, &e));
    ck_assert(!hg_sites_is_allocator(t, &f));
    hg_sites_destroy(t);
}
END_TEST

START_TEST(test_builtin_names)
{
    static const char *const yes[] = {
        "calloc",
        "__libc_malloc",
        "operator new[](unsigned long)",
        "operator new(unsigned long, std::align_val_t, std::nothrow_t const&)",
        ("std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::_M_create"
         "(unsigned long&, unsigned long)"),
        "g_malloc0",
        "g_strdup_printf",
        "xstrdup",
        "PyMem_RawMalloc",
        "_PyObject_GC_New",
        "zmalloc_usable",
        "ztrymalloc_usable",
        "sqlite3MallocZero",
        "sqlite3DbMallocRawNN",
        "sqlite3_malloc64",
        "je_malloc",
        "__strdup",
        "asprintf",
        "alloc::raw_vec::RawVecInner<A>::try_allocate_in",
        "<alloc::vec::Vec<T,A> as core::clone::Clone>::clone",
        "core::ptr::drop_in_place<alloc::string::String>",
        "<std::collections::hash::map::HashMap<K,V,S>>::insert",
        "__rust_alloc",
        "__rdl_alloc",
    };
    static const char *const no[] = {
        "main",
        "mallocate_things",
        "Foo::operator()(int)",
        "my::std::thing",
        "__libc_start_main",
        "PyObject_GetAttr",
        "operator delete(void*)",
        "newfangled",
        "r::main",
        "<myapp::Session as core::clone::Clone>::clone",
        "myapp::alloc::pool",
    };
    hg_sites_t *t = mk(HG_GROUP_SITE, NULL);
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        hg_frame_info_t f = fr(yes[i], NULL, 0, PROG, 0);
        ck_assert_msg(hg_sites_is_allocator(t, &f), "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        hg_frame_info_t f = fr(no[i], NULL, 0, PROG, 0);
        ck_assert_msg(!hg_sites_is_allocator(t, &f), "%s", no[i]);
    }
    hg_sites_destroy(t);
}
END_TEST

/* Rust's standard library by source path: its inlined frames have bare names
 * (alloc_impl, allocate) that only the file tells apart from a program's. */
START_TEST(test_rust_library_files)
{
    hg_sites_t *t = mk(HG_GROUP_SITE, NULL);
    static const char *const yes[] = {
        "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/alloc/src/alloc.rs",
        "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/"
        "library/core/src/ptr/mod.rs",
        "/usr/src/rustc-1.63.0/library/alloc/src/raw_vec.rs",
        "/rust/deps/hashbrown-0.15.2/src/raw/mod.rs",
    };
    static const char *const no[] = {"/tmp/r.rs", "/home/me/src/library/alloc.rs",
                                     "/work/rustc/src/main.rs"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        hg_frame_info_t f = fr("allocate", yes[i], 10, PROG, 0);
        ck_assert_msg(hg_sites_is_allocator(t, &f), "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        hg_frame_info_t f = fr("allocate", no[i], 10, PROG, 0);
        ck_assert_msg(!hg_sites_is_allocator(t, &f), "%s", no[i]);
    }
    hg_sites_destroy(t);
}
END_TEST

START_TEST(test_base_name)
{
    char b[256];
    ck_assert_str_eq(hg_sites_base_name("malloc", b, sizeof(b)), "malloc");
    ck_assert_str_eq(hg_sites_base_name("operator new(unsigned long)", b, sizeof(b)),
                     "operator new");
    ck_assert_str_eq(hg_sites_base_name("void std::vector<int, std::allocator<int> >::"
                                        "_M_realloc_insert<int const&>(int const&)",
                                        b, sizeof(b)),
                     "std::vector<int, std::allocator<int> >::_M_realloc_insert<int const&>");
    ck_assert_str_eq(hg_sites_base_name("(anonymous namespace)::helper(int)", b, sizeof(b)),
                     "(anonymous namespace)::helper");
    ck_assert_str_eq(hg_sites_base_name("main::{lambda()#1}::operator()() const", b, sizeof(b)),
                     "main::{lambda()#1}::operator()");
    ck_assert_str_eq(hg_sites_base_name("std::operator<<(std::ostream&, int)", b, sizeof(b)),
                     "std::operator<<");
    ck_assert_str_eq(hg_sites_base_name("unsigned long Foo::size() const", b, sizeof(b)),
                     "Foo::size");
    ck_assert_str_eq(hg_sites_base_name("operator delete[](void*)", b, 7), "operat");
}
END_TEST

START_TEST(test_group_site)
{
    hg_sites_t *t = mk(HG_GROUP_SITE, NULL);
    hg_frame_info_t s1[3] = {fr("malloc", NULL, 0, LIBC, 1), fr("put", "c.c", 10, PROG, 0x10),
                             fr("main", "m.c", 3, PROG, 0x20)};
    hg_frame_info_t s2[3] = {fr("malloc", NULL, 0, LIBC, 1), fr("put", "c.c", 10, PROG, 0x11),
                             fr("other", "m.c", 7, PROG, 0x30)};
    hg_frame_info_t s3[2] = {fr("malloc", NULL, 0, LIBC, 1), fr("put", "c.c", 11, PROG, 0x18)};
    hg_frame_info_t s4[2] = {fr("malloc", NULL, 0, LIBC, 1), fr(NULL, NULL, 0, PROG, 0x99)};
    hg_frame_info_t s5[2] = {fr("malloc", NULL, 0, LIBC, 1), fr(NULL, NULL, 0, PROG, 0x99)};
    size_t sf;
    bool is_new;
    ck_assert_int_eq(hg_sites_intern(t, s1, 3, &sf, &is_new), 0);
    ck_assert(is_new);
    ck_assert_uint_eq(sf, 1);
    ck_assert_int_eq(hg_sites_intern(t, s2, 3, &sf, &is_new), 0); /* same function/file/line */
    ck_assert(!is_new);
    ck_assert_int_eq(hg_sites_intern(t, s3, 2, &sf, &is_new), 1); /* other line */
    ck_assert_int_eq(hg_sites_intern(t, s4, 2, &sf, &is_new), 2); /* module+offset */
    ck_assert_int_eq(hg_sites_intern(t, s5, 2, &sf, &is_new), 2);
    ck_assert_int_eq(hg_sites_intern(t, NULL, 0, &sf, &is_new), 3); /* unknown stack */
    ck_assert(is_new);
    ck_assert_uint_eq(sf, 0);
    ck_assert_uint_eq(hg_sites_count(t), 4);
    hg_sites_destroy(t);

    t = mk(HG_GROUP_FUNCTION, NULL);
    ck_assert_int_eq(hg_sites_intern(t, s1, 3, &sf, &is_new), 0);
    ck_assert_int_eq(hg_sites_intern(t, s3, 2, &sf, &is_new), 0); /* same function */
    ck_assert_int_eq(hg_sites_intern(t, s4, 2, &sf, &is_new), 1);
    hg_sites_destroy(t);

    t = mk(HG_GROUP_STACK, NULL);
    ck_assert_int_eq(hg_sites_intern(t, s1, 3, &sf, &is_new), 0);
    ck_assert_int_eq(hg_sites_intern(t, s2, 3, &sf, &is_new), 1); /* other caller */
    ck_assert_int_eq(hg_sites_intern(t, s1, 3, &sf, &is_new), 0);
    ck_assert_uint_eq(hg_sites_count(t), 2);
    hg_sites_destroy(t);
}
END_TEST

static Suite *sites_suite(void)
{
    Suite *s = suite_create("sites");
    TCase *tc = tcase_create("skip");
    tcase_add_test(tc, test_malloc_xmalloc_user);
    tcase_add_test(tc, test_new_vector_user);
    tcase_add_test(tc, test_user_wrapper_glob);
    tcase_add_test(tc, test_wrapper_glob_cxx_params);
    tcase_add_test(tc, test_all_allocator);
    tcase_add_test(tc, test_modules);
    tcase_add_test(tc, test_builtin_names);
    tcase_add_test(tc, test_rust_library_files);
    tcase_add_test(tc, test_base_name);
    suite_add_tcase(s, tc);
    tc = tcase_create("group");
    tcase_add_test(tc, test_group_site);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sites_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
