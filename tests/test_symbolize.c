/*
 * Unit tests of the offline symbolizer (analyzer/symbolize.c).
 *
 * The fixture library tests/symbolize_fixtures/libhgsymfix.so (built -O2 -g by
 * meson) is dlopen'ed here; its functions store their own return addresses,
 * so the test gets real return addresses at known source lines (the
 * "LINE-MARK: name" comments, read from the fixture sources at run time) and
 * the library's real load bias and range (dl_iterate_phdr), exactly as the
 * tracer records them. Copies of the library stripped in various ways share
 * its layout and build-id, so the same addresses are resolved against them.
 */
#include <check.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demangle.h"
#include "symbolize.h"

#ifndef HG_SYMFIX_DIR
#error "HG_SYMFIX_DIR (build dir of the fixtures) must be defined by meson"
#endif

#define FIX_LIB       HG_SYMFIX_DIR "/libhgsymfix.so"
#define FIX_STRIPPED  HG_SYMFIX_DIR "/libhgsymfix-stripped.so"
#define FIX_NODEBUG   HG_SYMFIX_DIR "/libhgsymfix-nodebug.so"
#define FIX_DBGLINK   HG_SYMFIX_DIR "/libhgsymfix-dbglink.so"
#define FIX_DEBUG     HG_SYMFIX_DIR "/libhgsymfix.debug"
#define FIX_MINIDEBUG HG_SYMFIX_DIR "/libhgsymfix-minidebug.so"
#define FIX_SPLIT     HG_SYMFIX_DIR "/libhgsymfix_split.so"
#define FIX_C         HG_SYMFIX_SRCDIR "/fix.c"
#define FIX_CLONE_C   HG_SYMFIX_SRCDIR "/fix_clone.c"
#define FIX_CXX       HG_SYMFIX_SRCDIR "/fix_cxx.cc"

#define INSERT_NAME                                                                                \
    "ns::Cache::insert(std::__cxx11::basic_string<char, std::char_traits<char>, "                  \
    "std::allocator<char> > const&)"

/* Slots of hg_fix_ret[] (see the fixture sources). */
enum {
    SLOT_EXPORTED = 0,
    SLOT_STATIC = 1,
    SLOT_INLINED = 2,
    SLOT_CLONE = 3,
    SLOT_INSERT = 4,
    SLOT_TWICE = 5,
    SLOT_ALIAS = 6
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

/* Line number of the "LINE-MARK: name " comment in `path`. */
static uint32_t mark_line(const char *path, const char *name)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char want[256];
    snprintf(want, sizeof(want), "LINE-MARK: %s */", name);
    char buf[1024];
    uint32_t line = 0, found = 0;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        line++;
        if (strstr(buf, want) != NULL) {
            ck_assert_msg(found == 0, "mark %s twice in %s", name, path);
            found = line;
        }
    }
    fclose(f);
    ck_assert_msg(found != 0, "no mark %s in %s", name, path);
    return found;
}

static const char *base_name(const char *path)
{
    if (path == NULL)
        return NULL;
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* A loaded object as the tracer records it. */
typedef struct loaded {
    const char *want_name; /* dlpi_name to match ("" = main program) */
    uint64_t bias;
    uint64_t start;
    uint64_t end;
    uint8_t build_id[64];
    size_t build_id_len;
    bool is_found;
} loaded_t;

static void read_build_id(const struct dl_phdr_info *info, loaded_t *l)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
        const char *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof(*nh);
            const char *desc = name + ((nh->n_namesz + 3) & ~3u);
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz <= sizeof(l->build_id)) {
                memcpy(l->build_id, desc, nh->n_descsz);
                l->build_id_len = nh->n_descsz;
                return;
            }
            p = desc + ((nh->n_descsz + 3) & ~3u);
        }
    }
}

static int find_loaded_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    loaded_t *l = arg;
    if (strcmp(info->dlpi_name, l->want_name) != 0)
        return 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        if (ph->p_vaddr < lo)
            lo = ph->p_vaddr;
        if (ph->p_vaddr + ph->p_memsz > hi)
            hi = ph->p_vaddr + ph->p_memsz;
    }
    l->bias = info->dlpi_addr;
    l->start = info->dlpi_addr + lo;
    l->end = info->dlpi_addr + hi;
    read_build_id(info, l);
    l->is_found = true;
    return 1;
}

static loaded_t find_loaded(const char *dlpi_name)
{
    loaded_t l;
    memset(&l, 0, sizeof(l));
    l.want_name = dlpi_name;
    dl_iterate_phdr(find_loaded_cb, &l);
    ck_assert_msg(l.is_found, "%s not loaded", dlpi_name);
    ck_assert_uint_gt(l.build_id_len, 0);
    return l;
}

/* The fixture library, loaded and exercised: ret[] holds one return address
 * per scenario slot. */
typedef struct fixture {
    void *handle;
    loaded_t mod;
    uintptr_t ret[16];
} fixture_t;

static void fixture_load(fixture_t *fx)
{
    memset(fx, 0, sizeof(*fx));
    fx->handle = dlopen(FIX_LIB, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(fx->handle != NULL, "dlopen: %s", dlerror());
    void (*exported_before)(void) = (void (*)(void))dlsym(fx->handle, "hg_fix_exported_before");
    void (*exported_after)(int) = (void (*)(int))dlsym(fx->handle, "hg_fix_exported_after");
    void (*outer)(void) = (void (*)(void))dlsym(fx->handle, "hg_fix_outer");
    int (*clone)(int) = (int (*)(int))dlsym(fx->handle, "hg_fix_clone");
    int (*cxx)(void) = (int (*)(void))dlsym(fx->handle, "hg_fix_cxx");
    void (*alias)(void) = (void (*)(void))dlsym(fx->handle, "hg_fix_public");
    uintptr_t *ret = dlsym(fx->handle, "hg_fix_ret");
    ck_assert(exported_before && exported_after && outer && clone && cxx && alias && ret);
    exported_before();
    exported_after(3);
    outer();
    ck_assert_int_ne(clone(2), 0);
    ck_assert_int_eq(cxx(), 41);
    alias();
    memcpy(fx->ret, ret, sizeof(fx->ret));
    for (int i = SLOT_EXPORTED; i <= SLOT_ALIAS; i++)
        ck_assert_msg(fx->ret[i] != 0, "slot %d not recorded", i);
    fx->mod = find_loaded(FIX_LIB);
}

static void fixture_unload(fixture_t *fx)
{
    dlclose(fx->handle);
}

/* Declares the fixture's mapping under `path` (a copy of it with the same
 * layout) as module `id`. */
static void add_fixture_module(hg_sym_t *s, const fixture_t *fx, uint32_t id, const char *path)
{
    ck_assert_int_eq(hg_sym_add_module(s, id, path, fx->mod.bias, fx->mod.start, fx->mod.end,
                                       fx->mod.build_id, fx->mod.build_id_len),
                     0);
}

/* Value and size of `name` in the .symtab (or .dynsym when is_dyn) of `path`;
 * false when absent. */
static bool elf_symbol(const char *path, bool is_dyn, const char *name, uint64_t *value,
                       uint64_t *size)
{
    elf_version(EV_CURRENT);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    ck_assert(elf != NULL);
    bool found = false;
    Elf_Scn *scn = NULL;
    while (!found && (scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        gelf_getshdr(scn, &sh);
        if (sh.sh_type != (is_dyn ? SHT_DYNSYM : SHT_SYMTAB) || sh.sh_entsize == 0)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Sym sym;
            gelf_getsym(data, (int)i, &sym);
            const char *n = elf_strptr(elf, sh.sh_link, sym.st_name);
            if (n != NULL && strcmp(n, name) == 0) {
                *value = sym.st_value;
                *size = sym.st_size;
                found = true;
                break;
            }
        }
    }
    elf_end(elf);
    close(fd);
    return found;
}

/* The closest sized FUNC symbol of .dynsym at or below `offset` in `path`,
 * which a careless symbolizer would name the address after. */
static bool nearest_dynsym_below(const char *path, uint64_t offset, char *name, size_t cap,
                                 uint64_t *value, uint64_t *size)
{
    elf_version(EV_CURRENT);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    ck_assert(elf != NULL);
    bool found = false;
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        gelf_getshdr(scn, &sh);
        if (sh.sh_type != SHT_DYNSYM || sh.sh_entsize == 0)
            continue;
        Elf_Data *data = elf_getdata(scn, NULL);
        for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Sym sym;
            gelf_getsym(data, (int)i, &sym);
            if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_value == 0 || sym.st_size == 0 ||
                sym.st_value > offset)
                continue;
            if (!found || sym.st_value > *value) {
                found = true;
                *value = sym.st_value;
                *size = sym.st_size;
                snprintf(name, cap, "%s", elf_strptr(elf, sh.sh_link, sym.st_name));
            }
        }
    }
    elf_end(elf);
    close(fd);
    return found;
}

static size_t nwarnings(hg_sym_t *s)
{
    const char *const *lines;
    return hg_sym_warnings(s, &lines);
}

static const char *warning(hg_sym_t *s, size_t i)
{
    const char *const *lines;
    size_t n = hg_sym_warnings(s, &lines);
    ck_assert_uint_lt(i, n);
    return lines[i];
}

/* Asserts one resolved frame field by field. */
static void check_frame(const hg_frame_info_t *f, const char *function, const char *file_base,
                        uint32_t line, const char *module, bool is_inlined)
{
    if (function == NULL)
        ck_assert_ptr_null(f->function);
    else
        ck_assert_str_eq(f->function, function);
    if (file_base == NULL)
        ck_assert_ptr_null(f->file);
    else
        ck_assert_str_eq(base_name(f->file), file_base);
    ck_assert_uint_eq(f->line, line);
    if (module == NULL)
        ck_assert_ptr_null(f->module);
    else
        ck_assert_str_eq(f->module, module);
    ck_assert_int_eq(f->is_inlined, is_inlined);
}

/* ------------------------------------------------------------------------ */
/* DWARF: static, inlined, clone, C++                                        */

START_TEST(test_static_function)
{
    fixture_t fx;
    fixture_load(&fx);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    add_fixture_module(s, &fx, 1, FIX_LIB);
    hg_frame_info_t f[8];
    size_t n = hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8);
    ck_assert_uint_eq(n, 1);
    check_frame(&f[0], "static_fn", "fix.c", mark_line(FIX_C, "static_fn"), FIX_LIB, false);
    ck_assert_uint_eq(f[0].address, fx.ret[SLOT_STATIC]);
    ck_assert_uint_eq(f[0].module_offset, fx.ret[SLOT_STATIC] - fx.mod.bias);
    ck_assert(!f[0].is_build_id_mismatch);
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

START_TEST(test_inlined_function)
{
    fixture_t fx;
    fixture_load(&fx);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    add_fixture_module(s, &fx, 1, FIX_LIB);
    hg_frame_info_t f[8];
    size_t n = hg_sym_resolve(s, fx.ret[SLOT_INLINED], true, f, 8);
    ck_assert_uint_eq(n, 2);
    check_frame(&f[0], "inlined_fn", "fix.c", mark_line(FIX_C, "inlined_fn"), FIX_LIB, true);
    check_frame(&f[1], "hg_fix_outer", "fix.c", mark_line(FIX_C, "outer_fn"), FIX_LIB, false);
    ck_assert_uint_eq(f[0].address, fx.ret[SLOT_INLINED]);
    ck_assert_uint_eq(f[1].address, fx.ret[SLOT_INLINED]);
    /* With room for one frame only, the innermost one. */
    n = hg_sym_resolve(s, fx.ret[SLOT_INLINED], true, f, 1);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(f[0].function, "inlined_fn");
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_INLINED], true, f, 0), 0);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

START_TEST(test_clone_function)
{
    fixture_t fx;
    fixture_load(&fx);
    /* The test is only meaningful if gcc really emitted a clone. */
    uint64_t value, size;
    ck_assert_msg(elf_symbol(FIX_LIB, false, "clone_fn.constprop.0", &value, &size),
                  "gcc emitted no clone_fn.constprop.0");
    ck_assert_uint_ge(fx.ret[SLOT_CLONE] - fx.mod.bias, value);
    ck_assert_uint_lt(fx.ret[SLOT_CLONE] - fx.mod.bias, value + size);

    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    add_fixture_module(s, &fx, 1, FIX_LIB);
    hg_frame_info_t f[8];
    size_t n = hg_sym_resolve(s, fx.ret[SLOT_CLONE], true, f, 8);
    ck_assert_uint_eq(n, 1);
    check_frame(&f[0], "clone_fn", "fix_clone.c", mark_line(FIX_CLONE_C, "clone_fn"), FIX_LIB,
                false);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

START_TEST(test_cxx_names)
{
    fixture_t fx;
    fixture_load(&fx);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    add_fixture_module(s, &fx, 1, FIX_LIB);
    hg_frame_info_t f[8];
    size_t n = hg_sym_resolve(s, fx.ret[SLOT_INSERT], true, f, 8);
    ck_assert_uint_eq(n, 1);
    check_frame(&f[0], INSERT_NAME, "fix_cxx.cc", mark_line(FIX_CXX, "Cache::insert"), FIX_LIB,
                false);
    n = hg_sym_resolve(s, fx.ret[SLOT_TWICE], true, f, 8);
    ck_assert_uint_eq(n, 1);
    check_frame(&f[0], "int ns::twice<int>(int)", "fix_cxx.cc", mark_line(FIX_CXX, "twice"),
                FIX_LIB, false);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

/* Rust's legacy symbols (Itanium names with a hash and $-escapes) come out
 * as Rust paths; C++ names and non-mangled names are not touched by it. */
START_TEST(test_rust_names)
{
    static const struct {
        const char *mangled, *want;
    } cases[] = {
        {"_ZN1r4main17h086b0cfd890a8ea9E", "r::main"},
        {"_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17ha86af84d9cc65291E",
         "std::rt::lang_start::{{closure}}"},
        {"_ZN4core3ptr65drop_in_place$LT$alloc..vec..Vec$LT$alloc..string..String$GT$$GT$"
         "17h1aff18789bca12a8E",
         "core::ptr::drop_in_place<alloc::vec::Vec<alloc::string::String>>"},
        {"_ZN79_$LT$hashbrown..raw..RawTable$LT$T$C$A$GT$$u20$as$u20$core..ops..drop..Drop"
         "$GT$4drop17h526741ff713c54adE",
         "<hashbrown::raw::RawTable<T,A> as core::ops::drop::Drop>::drop"},
        /* not Rust: a C++ name keeps its form; a hash is 16 hex digits */
        {"_ZN2ns5Cache6insertEi", "ns::Cache::insert(int)"},
        {"_ZN1a16h086b0cfd890a8eaE", "a::h086b0cfd890a8ea"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = hg_demangle(cases[i].mangled);
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, cases[i].want);
        free(got);
    }
    ck_assert_ptr_null(hg_demangle("main"));
    ck_assert_ptr_null(hg_demangle("_RNvCs1234_1r4main")); /* v0: left to the caller */
}
END_TEST

/* ------------------------------------------------------------------------ */
/* ELF symbols only                                                          */

/* .symtab without DWARF: static and clone names from the symbol table,
 * suffix dropped, C++ demangled; no file or line. */
START_TEST(test_symtab_only)
{
    fixture_t fx;
    fixture_load(&fx);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_set_debuginfo_path(s, "/nonexistent-debug"), 0);
    add_fixture_module(s, &fx, 1, FIX_NODEBUG);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], "static_fn", NULL, 0, FIX_NODEBUG, false);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_CLONE], true, f, 8), 1);
    check_frame(&f[0], "clone_fn", NULL, 0, FIX_NODEBUG, false);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_INSERT], true, f, 8), 1);
    check_frame(&f[0], INSERT_NAME, NULL, 0, FIX_NODEBUG, false);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_TWICE], true, f, 8), 1);
    check_frame(&f[0], "int ns::twice<int>(int)", NULL, 0, FIX_NODEBUG, false);
    /* The inlined function has no symbol: its caller names the frame. */
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_INLINED], true, f, 8), 1);
    check_frame(&f[0], "hg_fix_outer", NULL, 0, FIX_NODEBUG, false);

    /* A .cold part, when gcc split one off: named after its function. */
    uint64_t value, size;
    if (elf_symbol(FIX_NODEBUG, false, "hg_fix_cxx.cold", &value, &size) && size > 1) {
        ck_assert_uint_eq(hg_sym_resolve(s, fx.mod.bias + value + 1, false, f, 8), 1);
        check_frame(&f[0], "hg_fix_cxx", NULL, 0, FIX_NODEBUG, false);
    }
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

/* The key test: only .dynsym left. The static function lies right after an
 * exported function and an exported sizeless label; it must come out unnamed
 * (module+offset), not as either of them. */
START_TEST(test_stripped_not_nearest_export)
{
    fixture_t fx;
    fixture_load(&fx);
    uint64_t static_off = fx.ret[SLOT_STATIC] - 1 - fx.mod.bias;
    char near_name[256];
    uint64_t near_value = 0, near_size = 0;
    ck_assert(nearest_dynsym_below(FIX_STRIPPED, static_off, near_name, sizeof(near_name),
                                   &near_value, &near_size));
    ck_assert_str_eq(near_name, "hg_fix_exported_before");
    ck_assert_uint_ge(static_off, near_value + near_size); /* outside its extent */
    uint64_t v, sz;
    ck_assert(!elf_symbol(FIX_STRIPPED, false, "static_fn", &v, &sz)); /* no .symtab */
    /* A sizeless exported label sits between them, closer still. */
    ck_assert(elf_symbol(FIX_STRIPPED, true, "hg_fix_sizeless", &v, &sz));
    ck_assert_uint_eq(sz, 0);
    ck_assert_uint_gt(v, near_value);
    ck_assert_uint_lt(v, static_off);

    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_set_debuginfo_path(s, "/nonexistent-debug"), 0);
    add_fixture_module(s, &fx, 1, FIX_STRIPPED);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, FIX_STRIPPED, false);
    ck_assert_uint_eq(f[0].module_offset, fx.ret[SLOT_STATIC] - fx.mod.bias);
    ck_assert_uint_eq(f[0].address, fx.ret[SLOT_STATIC]);
    /* Inside an exported function, .dynsym names it. */
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_EXPORTED], true, f, 8), 1);
    check_frame(&f[0], "hg_fix_exported_before", NULL, 0, FIX_STRIPPED, false);
    /* The clone and the inlined function's caller are exported or not. */
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_CLONE], true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, FIX_STRIPPED, false);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_INLINED], true, f, 8), 1);
    check_frame(&f[0], "hg_fix_outer", NULL, 0, FIX_STRIPPED, false);
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

/* Only .dynsym, plus MiniDebugInfo (.gnu_debugdata: an xz'd .symtab of the
 * static functions), as distributions ship binaries: static and clone names
 * come from it. */
START_TEST(test_minidebuginfo)
{
    fixture_t fx;
    fixture_load(&fx);
    uint64_t v, sz;
    ck_assert(!elf_symbol(FIX_MINIDEBUG, false, "static_fn", &v, &sz)); /* no .symtab */
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_set_debuginfo_path(s, "/nonexistent-debug"), 0);
    add_fixture_module(s, &fx, 1, FIX_MINIDEBUG);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], "static_fn", NULL, 0, FIX_MINIDEBUG, false);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_CLONE], true, f, 8), 1);
    check_frame(&f[0], "clone_fn", NULL, 0, FIX_MINIDEBUG, false);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_EXPORTED], true, f, 8), 1);
    check_frame(&f[0], "hg_fix_exported_before", NULL, 0, FIX_MINIDEBUG, false);
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Separate debug files                                                      */

START_TEST(test_debuglink)
{
    fixture_t fx;
    fixture_load(&fx);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    add_fixture_module(s, &fx, 1, FIX_DBGLINK);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_INLINED], true, f, 8), 2);
    check_frame(&f[0], "inlined_fn", "fix.c", mark_line(FIX_C, "inlined_fn"), FIX_DBGLINK, true);
    check_frame(&f[1], "hg_fix_outer", "fix.c", mark_line(FIX_C, "outer_fn"), FIX_DBGLINK, false);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

/* Split DWARF (-gsplit-dwarf): names and inlined frames come from the .dwo
 * file the skeleton unit points to. */
START_TEST(test_split_dwarf)
{
    void *h = dlopen(FIX_SPLIT, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
    void (*outer)(void) = (void (*)(void))dlsym(h, "hg_fix_outer");
    void (*exported_after)(int) = (void (*)(int))dlsym(h, "hg_fix_exported_after");
    uintptr_t *ret = dlsym(h, "hg_fix_ret");
    ck_assert(outer && exported_after && ret);
    outer();
    exported_after(2);
    loaded_t mod = find_loaded(FIX_SPLIT);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_add_module(s, 1, FIX_SPLIT, mod.bias, mod.start, mod.end, mod.build_id,
                                       mod.build_id_len),
                     0);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, ret[SLOT_INLINED], true, f, 8), 2);
    check_frame(&f[0], "inlined_fn", "fix.c", mark_line(FIX_C, "inlined_fn"), FIX_SPLIT, true);
    check_frame(&f[1], "hg_fix_outer", "fix.c", mark_line(FIX_C, "outer_fn"), FIX_SPLIT, false);
    ck_assert_uint_eq(hg_sym_resolve(s, ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], "static_fn", "fix.c", mark_line(FIX_C, "static_fn"), FIX_SPLIT, false);
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);
    dlclose(h);
}
END_TEST

/* fix.c built by other compilers and DWARF flavours (tests/meson.build). */
static const char *const dwarf_variants[] = {
    HG_SYMFIX_DIR "/libhgsymfix_cc_dwarf4.so", /* the C compiler (gcc), -gdwarf-4 */
    HG_SYMFIX_DIR "/libhgsymfix_cc_dwarf5.so", /* -gdwarf-5 */
#ifdef HG_SYMFIX_CLANG
    HG_SYMFIX_DIR "/libhgsymfix_clang_dwarf4.so", /* clang -gdwarf-4 */
    HG_SYMFIX_DIR "/libhgsymfix_clang_dwarf5.so", /* clang -gdwarf-5 */
    HG_SYMFIX_DIR "/libhgsymfix_clang_split.so",  /* clang -gdwarf-5 -gsplit-dwarf */
    HG_SYMFIX_DIR "/libhgsymfix_mixed.so",        /* fix.c by clang, fix_clone.c by gcc */
#endif
};

/* Function, file and line of a plain exported function, a static function and
 * an inlined one with its caller, whichever compiler and DWARF version built
 * the code. clang emits no .debug_aranges; libdw 0.188 found no CU without
 * them, so clang-built frames had their ELF name but no file or line. */
START_TEST(test_dwarf_variants)
{
    const char *path = dwarf_variants[_i];
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
    void (*before)(void) = (void (*)(void))dlsym(h, "hg_fix_exported_before");
    void (*outer)(void) = (void (*)(void))dlsym(h, "hg_fix_outer");
    void (*exported_after)(int) = (void (*)(int))dlsym(h, "hg_fix_exported_after");
    uintptr_t *ret = dlsym(h, "hg_fix_ret");
    ck_assert(before && outer && exported_after && ret);
    before();
    outer();
    exported_after(2);
    loaded_t mod = find_loaded(path);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(
        hg_sym_add_module(s, 1, path, mod.bias, mod.start, mod.end, mod.build_id, mod.build_id_len),
        0);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, ret[SLOT_EXPORTED], true, f, 8), 1);
    check_frame(&f[0], "hg_fix_exported_before", "fix.c", mark_line(FIX_C, "exported_before"), path,
                false);
    ck_assert_str_eq(f[0].file, FIX_C);
    ck_assert_uint_eq(hg_sym_resolve(s, ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], "static_fn", "fix.c", mark_line(FIX_C, "static_fn"), path, false);
    ck_assert_uint_eq(hg_sym_resolve(s, ret[SLOT_INLINED], true, f, 8), 2);
    check_frame(&f[0], "inlined_fn", "fix.c", mark_line(FIX_C, "inlined_fn"), path, true);
    check_frame(&f[1], "hg_fix_outer", "fix.c", mark_line(FIX_C, "outer_fn"), path, false);
    ck_assert_str_eq(f[0].file, FIX_C);
    ck_assert_str_eq(f[1].file, FIX_C);
    /* The mixed library: its other CU, the one .debug_aranges cover. */
    int (*clone)(int) = (int (*)(int))dlsym(h, "hg_fix_clone");
    if (clone != NULL) {
        ck_assert_int_ne(clone(2), 0);
        ck_assert_uint_eq(hg_sym_resolve(s, ret[SLOT_CLONE], true, f, 8), 1);
        check_frame(&f[0], "clone_fn", "fix_clone.c", mark_line(FIX_CLONE_C, "clone_fn"), path,
                    false);
    }
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);
    dlclose(h);
}
END_TEST

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    ck_assert(in != NULL && out != NULL);
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, k, out), k);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

/* DIR/.build-id/xx/yyyy.debug, the layout of /usr/lib/debug. */
START_TEST(test_build_id_debug_dir)
{
    fixture_t fx;
    fixture_load(&fx);
    char dir[] = "/tmp/hg-symdbg-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[PATH_MAX], sub[PATH_MAX];
    snprintf(sub, sizeof(sub), "%s/.build-id", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/.build-id/%02x", dir, fx.mod.build_id[0]);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    int len = snprintf(path, sizeof(path), "%s/", sub);
    for (size_t i = 1; i < fx.mod.build_id_len; i++)
        len += snprintf(path + len, sizeof(path) - (size_t)len, "%02x", fx.mod.build_id[i]);
    snprintf(path + len, sizeof(path) - (size_t)len, ".debug");
    copy_file(FIX_DEBUG, path);

    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_set_debuginfo_path(s, dir), 0);
    add_fixture_module(s, &fx, 1, FIX_STRIPPED);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], "static_fn", "fix.c", mark_line(FIX_C, "static_fn"), FIX_STRIPPED, false);
    hg_sym_destroy(s);

    unlink(path);
    rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/.build-id", dir);
    rmdir(sub);
    rmdir(dir);
    fixture_unload(&fx);
}
END_TEST

/* HEAPGROW_DEBUG_DIRS names the debug roots instead of /usr/lib/debug: the
 * stripped module is named from DIR's build-id file; set but empty (or to
 * relative entries only, which are ignored), nothing outside the module is
 * read and the static function shows as module+offset, not as a wrong name. */
START_TEST(test_debug_dirs_env)
{
    fixture_t fx;
    fixture_load(&fx);
    char dir[] = "/tmp/hg-symdbg-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[PATH_MAX], sub[PATH_MAX], env[PATH_MAX + 64];
    snprintf(sub, sizeof(sub), "%s/.build-id", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(sub, sizeof(sub), "%s/.build-id/%02x", dir, fx.mod.build_id[0]);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    int len = snprintf(path, sizeof(path), "%s/", sub);
    for (size_t i = 1; i < fx.mod.build_id_len; i++)
        len += snprintf(path + len, sizeof(path) - (size_t)len, "%02x", fx.mod.build_id[i]);
    snprintf(path + len, sizeof(path) - (size_t)len, ".debug");
    copy_file(FIX_DEBUG, path);

    /* The root among others, a relative entry skipped. */
    snprintf(env, sizeof(env), "/nonexistent-debug:relative/dir::%s", dir);
    const char *values[] = {env, "", "relative:+x"};
    for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
        ck_assert_int_eq(setenv("HEAPGROW_DEBUG_DIRS", values[v], 1), 0);
        hg_sym_t *s;
        ck_assert_int_eq(hg_sym_create(&s), 0);
        add_fixture_module(s, &fx, 1, FIX_STRIPPED);
        hg_frame_info_t f[8];
        ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
        if (v == 0) {
            check_frame(&f[0], "static_fn", "fix.c", mark_line(FIX_C, "static_fn"), FIX_STRIPPED,
                        false);
        } else {
            check_frame(&f[0], NULL, NULL, 0, FIX_STRIPPED, false);
        }
        hg_sym_destroy(s);
    }
    unsetenv("HEAPGROW_DEBUG_DIRS");

    unlink(path);
    rmdir(sub);
    snprintf(sub, sizeof(sub), "%s/.build-id", dir);
    rmdir(sub);
    rmdir(dir);
    fixture_unload(&fx);
}
END_TEST

/* hg_sym_file_exports: defined functions of .dynsym only. */
START_TEST(test_file_exports)
{
    ck_assert(hg_sym_file_exports(FIX_STRIPPED, "hg_fix_exported_before"));
    ck_assert(hg_sym_file_exports(FIX_LIB, "hg_fix_exported_before"));
    ck_assert(!hg_sym_file_exports(FIX_LIB, "static_fn"));      /* .symtab only */
    ck_assert(!hg_sym_file_exports(FIX_LIB, "malloc"));         /* undefined there */
    ck_assert(!hg_sym_file_exports(FIX_DEBUG, "hg_fix_outer")); /* no .dynsym content */
    ck_assert(!hg_sym_file_exports("/nonexistent/lib.so", "malloc"));
    ck_assert(!hg_sym_file_exports("/dev/null", "malloc"));
    ck_assert(!hg_sym_file_exports(HG_SYMFIX_DIR, "malloc")); /* a directory */
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Module map                                                                 */

START_TEST(test_build_id_mismatch)
{
    fixture_t fx;
    fixture_load(&fx);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    uint8_t other[20];
    memset(other, 0xab, sizeof(other));
    ck_assert_int_eq(hg_sym_add_module(s, 7, FIX_LIB, fx.mod.bias, fx.mod.start, fx.mod.end, other,
                                       sizeof(other)),
                     0);
    ck_assert_uint_eq(nwarnings(s), 0); /* opened lazily */
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], "static_fn", "fix.c", mark_line(FIX_C, "static_fn"), FIX_LIB, false);
    ck_assert(f[0].is_build_id_mismatch);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_INLINED], true, f, 8), 2);
    ck_assert(f[0].is_build_id_mismatch && f[1].is_build_id_mismatch);
    ck_assert_uint_eq(nwarnings(s), 1);
    ck_assert_str_eq(warning(s, 0),
                     "module " FIX_LIB
                     ": build-id differs from the traced one; its frames may be wrong");
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

START_TEST(test_missing_file)
{
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    const char *gone = "/nonexistent/libgone.so";
    ck_assert_int_eq(
        hg_sym_add_module(s, 3, gone, 0x7f0000000000, 0x7f0000001000, 0x7f0000005000, NULL, 0), 0);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, 0x7f0000001234, true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, gone, false);
    ck_assert_uint_eq(f[0].module_offset, 0x1234);
    ck_assert_uint_eq(f[0].address, 0x7f0000001234);
    ck_assert_uint_eq(hg_sym_resolve(s, 0x7f0000002000, false, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, gone, false);
    ck_assert_uint_eq(nwarnings(s), 1);
    const char *prefix = "module /nonexistent/libgone.so: cannot read it";
    ck_assert_msg(strncmp(warning(s, 0), prefix, strlen(prefix)) == 0, "got: %s", warning(s, 0));
    /* A file that is not ELF: the same. */
    ck_assert_int_eq(
        hg_sym_add_module(s, 4, FIX_C, 0x7f1000000000, 0x7f1000000000, 0x7f1000001000, NULL, 0), 0);
    ck_assert_uint_eq(hg_sym_resolve(s, 0x7f1000000100, true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, FIX_C, false);
    ck_assert_uint_eq(nwarnings(s), 2);
    prefix = "module " FIX_C ": cannot read it";
    ck_assert_msg(strncmp(warning(s, 1), prefix, strlen(prefix)) == 0, "got: %s", warning(s, 1));
    hg_sym_destroy(s);
}
END_TEST

START_TEST(test_vdso_and_unknown)
{
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_add_module(s, 1, "[vdso]", 0x7ffd1000, 0x7ffd1000, 0x7ffd3000, NULL, 0),
                     0);
    ck_assert_int_eq(
        hg_sym_add_module(s, 2, "linux-vdso.so.1", 0x7ffe0000, 0x7ffe0000, 0x7ffe2000, NULL, 0), 0);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, 0x7ffd1a00, true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, "[vdso]", false);
    ck_assert_uint_eq(f[0].module_offset, 0xa00);
    ck_assert_uint_eq(hg_sym_resolve(s, 0x7ffe0010, false, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, "linux-vdso.so.1", false);
    ck_assert_uint_eq(f[0].module_offset, 0x10);
    /* Outside every module. */
    ck_assert_uint_eq(hg_sym_resolve(s, 0x10, true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, NULL, false);
    ck_assert_uint_eq(f[0].address, 0x10);
    ck_assert_uint_eq(hg_sym_resolve(s, 0x7ffd3000, false, f, 8), 1); /* end is exclusive */
    ck_assert_ptr_null(f[0].module);
    /* A return address at a module's start belongs to what precedes it. */
    ck_assert_uint_eq(hg_sym_resolve(s, 0x7ffd1000, true, f, 8), 1);
    ck_assert_ptr_null(f[0].module);
    ck_assert_uint_eq(hg_sym_resolve(s, 0x7ffd1000, false, f, 8), 1);
    ck_assert_str_eq(f[0].module, "[vdso]");
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);
}
END_TEST

/* This process's own vdso, as the tracer records it: bias and range from
 * dl_iterate_phdr, build-id from its PT_NOTE. */
typedef struct vdso_info {
    uint64_t bias, start, end;
    uint8_t build_id[64];
    size_t build_id_len;
} vdso_info_t;

static int find_vdso(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    vdso_info_t *v = arg;
    if (info->dlpi_name == NULL || strncmp(info->dlpi_name, "linux-vdso", 10) != 0)
        return 0;
    v->bias = info->dlpi_addr;
    v->start = UINT64_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uint64_t a = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD) {
            if (a < v->start)
                v->start = a;
            if (a + ph->p_memsz > v->end)
                v->end = a + ph->p_memsz;
        } else if (ph->p_type == PT_NOTE) {
            for (uint64_t off = 0; off + sizeof(ElfW(Nhdr)) <= ph->p_memsz;) {
                const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)(uintptr_t)(a + off);
                uint64_t name_sz = (n->n_namesz + 3u) & ~3u, desc_sz = (n->n_descsz + 3u) & ~3u;
                const uint8_t *desc = (const uint8_t *)(n + 1) + name_sz;
                if (n->n_type == NT_GNU_BUILD_ID && n->n_descsz <= sizeof(v->build_id)) {
                    memcpy(v->build_id, desc, n->n_descsz);
                    v->build_id_len = n->n_descsz;
                }
                off += sizeof(*n) + name_sz + desc_sz;
            }
        }
    }
    return 1;
}

/* A function of the vdso: its address and every dynamic symbol name the
 * vdso gives that address (clock_gettime and __vdso_clock_gettime). */
static uint64_t vdso_function(const vdso_info_t *v, char names[4][64], size_t *nnames)
{
    elf_version(EV_CURRENT);
    /* The image runs to its section headers, past the end of its PT_LOAD. */
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)(uintptr_t)v->start;
    size_t size = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
    Elf *e = elf_memory((char *)(uintptr_t)v->start, size);
    ck_assert_ptr_nonnull(e);
    uint64_t addr = 0;
    *nnames = 0;
    for (int pass = 0; pass < 2; pass++) {
        Elf_Scn *scn = NULL;
        while ((scn = elf_nextscn(e, scn)) != NULL) {
            GElf_Shdr sh;
            if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_DYNSYM)
                continue;
            Elf_Data *d = elf_getdata(scn, NULL);
            for (size_t i = 0; d != NULL && i < sh.sh_size / sh.sh_entsize; i++) {
                GElf_Sym sym;
                gelf_getsym(d, (int)i, &sym);
                const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
                if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_size == 0 || name == NULL)
                    continue;
                if (pass == 0 && addr == 0 && strstr(name, "clock_gettime") != NULL)
                    addr = v->bias + sym.st_value;
                else if (pass == 1 && v->bias + sym.st_value == addr && *nnames < 4)
                    snprintf(names[(*nnames)++], 64, "%s", name);
            }
        }
    }
    elf_end(e);
    return addr;
}

START_TEST(test_vdso_image)
{
    vdso_info_t v = {0};
    if (dl_iterate_phdr(find_vdso, &v) == 0 || v.build_id_len == 0)
        return; /* no vdso in this process (vdso=0 on the kernel command line) */
    char names[4][64];
    size_t nnames;
    uint64_t fn = vdso_function(&v, names, &nnames);
    ck_assert_uint_ne(fn, 0);
    ck_assert_uint_gt(nnames, 0);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_add_module(s, 1, "linux-vdso.so.1", v.bias, v.start, v.end, v.build_id,
                                       v.build_id_len),
                     0);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fn + 1, true, f, 8), 1);
    ck_assert_ptr_nonnull(f[0].function);
    bool is_alias = false;
    for (size_t i = 0; i < nnames; i++)
        is_alias |= strcmp(f[0].function, names[i]) == 0;
    ck_assert_msg(is_alias, "named %s, not %s", f[0].function, names[0]);
    ck_assert_str_eq(f[0].module, "linux-vdso.so.1");
    ck_assert_uint_eq(f[0].module_offset, fn + 1 - v.bias);
    ck_assert(!f[0].is_build_id_mismatch);
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);

    /* Traced on another kernel: this vdso is not that one, so no names. */
    v.build_id[0] ^= 0xff;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_add_module(s, 1, "linux-vdso.so.1", v.bias, v.start, v.end, v.build_id,
                                       v.build_id_len),
                     0);
    ck_assert_uint_eq(hg_sym_resolve(s, fn + 1, true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, "linux-vdso.so.1", false);
    ck_assert_uint_eq(f[0].module_offset, fn + 1 - v.bias);
    ck_assert_uint_eq(nwarnings(s), 1);
    ck_assert_str_eq(warning(s, 0), "module linux-vdso.so.1: the traced kernel's vdso is not "
                                    "this one's; its frames show module+offset");
    hg_sym_destroy(s);
}
END_TEST

START_TEST(test_offline_by_default)
{
    setenv("DEBUGINFOD_URLS", "http://127.0.0.1:9", 1);
    unsetenv("HEAPGROW_DEBUGINFOD");
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_ptr_null(getenv("DEBUGINFOD_URLS"));
    hg_sym_destroy(s);
    setenv("DEBUGINFOD_URLS", "http://127.0.0.1:9", 1);
    setenv("HEAPGROW_DEBUGINFOD", "1", 1);
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_str_eq(getenv("DEBUGINFOD_URLS"), "http://127.0.0.1:9");
    hg_sym_destroy(s);
    unsetenv("DEBUGINFOD_URLS");
    unsetenv("HEAPGROW_DEBUGINFOD");
}
END_TEST

START_TEST(test_add_module_errors)
{
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_add_module(s, 1, "/x", 0, 0x2000, 0x1000, NULL, 0), -EINVAL);
    ck_assert_int_eq(hg_sym_add_module(s, 1, NULL, 0, 0x1000, 0x2000, NULL, 0), -EINVAL);
    ck_assert_int_eq(hg_sym_add_module(s, 1, "/x", 0, 0x1000, 0x2000, NULL, 4), -EINVAL);
    uint8_t big[65] = {0};
    ck_assert_int_eq(hg_sym_add_module(s, 1, "/x", 0, 0x1000, 0x2000, big, sizeof(big)), -EINVAL);
    ck_assert_int_eq(hg_sym_add_module(s, 1, "/x", 0, 0x1000, 0x2000, NULL, 0), 0);
    ck_assert_int_eq(hg_sym_add_module(s, 1, "/y", 0, 0x3000, 0x4000, NULL, 0), -EEXIST);
    hg_sym_remove_module(s, 1);
    hg_sym_remove_module(s, 99); /* unknown: ignored */
    ck_assert_int_eq(hg_sym_add_module(s, 1, "/y", 0, 0x3000, 0x4000, NULL, 0), 0);
    hg_sym_destroy(s);
}
END_TEST

/* dlclose, then another library at the same addresses: the cache must not
 * answer with the old module; while nothing is mapped there, the unloaded
 * module still answers. */
START_TEST(test_unload_and_reuse)
{
    fixture_t fx;
    fixture_load(&fx);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(hg_sym_set_debuginfo_path(s, "/nonexistent-debug"), 0);
    add_fixture_module(s, &fx, 1, FIX_STRIPPED);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, FIX_STRIPPED, false);
    hg_sym_remove_module(s, 1);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], NULL, NULL, 0, FIX_STRIPPED, false);
    /* The same id again, another file over the same range. */
    add_fixture_module(s, &fx, 1, FIX_LIB);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, f, 8), 1);
    check_frame(&f[0], "static_fn", "fix.c", mark_line(FIX_C, "static_fn"), FIX_LIB, false);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

/* Cached results are the same interned strings; is_return_address is part of
 * the key (address - 1 may be in another line or function). */
START_TEST(test_cache)
{
    fixture_t fx;
    fixture_load(&fx);
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    add_fixture_module(s, &fx, 1, FIX_LIB);
    hg_frame_info_t a[8], b[8];
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, a, 8), 1);
    ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_STATIC], true, b, 8), 1);
    ck_assert_ptr_eq(a[0].function, b[0].function);
    ck_assert_ptr_eq(a[0].file, b[0].file);
    ck_assert_ptr_eq(a[0].module, b[0].module);
    /* The start of an exported function, as an innermost frame: that
     * function; as a return address: whatever precedes it. */
    uint64_t value, size;
    ck_assert(elf_symbol(FIX_LIB, true, "hg_fix_exported_after", &value, &size));
    ck_assert_uint_eq(hg_sym_resolve(s, fx.mod.bias + value, false, a, 8), 1);
    ck_assert_str_eq(a[0].function, "hg_fix_exported_after");
    ck_assert_uint_eq(hg_sym_resolve(s, fx.mod.bias + value, true, b, 8), 1);
    ck_assert(b[0].function == NULL || strcmp(b[0].function, "hg_fix_exported_after") != 0);
    hg_sym_destroy(s);
    fixture_unload(&fx);
}
END_TEST

/* A function with a reserved name and a public alias (glibc's __libc_malloc
 * and malloc): the public name, from DWARF as from either symbol table. */
START_TEST(test_public_alias)
{
    fixture_t fx;
    fixture_load(&fx);
    uint64_t v1, s1, v2, s2;
    ck_assert(elf_symbol(FIX_STRIPPED, true, "__hg_fix_impl", &v1, &s1));
    ck_assert(elf_symbol(FIX_STRIPPED, true, "hg_fix_public", &v2, &s2));
    ck_assert_uint_eq(v1, v2);
    ck_assert_uint_eq(s1, s2);
    const char *paths[] = {FIX_LIB, FIX_NODEBUG, FIX_STRIPPED};
    for (size_t i = 0; i < 3; i++) {
        hg_sym_t *s;
        ck_assert_int_eq(hg_sym_create(&s), 0);
        ck_assert_int_eq(hg_sym_set_debuginfo_path(s, "/nonexistent-debug"), 0);
        add_fixture_module(s, &fx, 1, paths[i]);
        hg_frame_info_t f[8];
        ck_assert_uint_eq(hg_sym_resolve(s, fx.ret[SLOT_ALIAS], true, f, 8), 1);
        if (i == 0)
            check_frame(&f[0], "hg_fix_public", "fix.c", mark_line(FIX_C, "__hg_fix_impl"),
                        paths[i], false);
        else
            check_frame(&f[0], "hg_fix_public", NULL, 0, paths[i], false);
        hg_sym_destroy(s);
    }
    fixture_unload(&fx);
}
END_TEST

START_TEST(test_display_name)
{
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_str_eq(hg_sym_display_name(s, "foo.constprop.0"), "foo");
    ck_assert_str_eq(hg_sym_display_name(s, "foo.isra.0"), "foo");
    ck_assert_str_eq(hg_sym_display_name(s, "foo.part.12"), "foo");
    ck_assert_str_eq(hg_sym_display_name(s, "foo.cold"), "foo");
    ck_assert_str_eq(hg_sym_display_name(s, "foo.lto_priv.0"), "foo");
    ck_assert_str_eq(hg_sym_display_name(s, "foo.constprop.0.isra.0"), "foo");
    ck_assert_str_eq(hg_sym_display_name(s, "foo.part.0.cold"), "foo");
    ck_assert_str_eq(hg_sym_display_name(s, "_Z3fooi.constprop.0.isra.0"), "foo(int)");
    ck_assert_str_eq(hg_sym_display_name(s, "_ZN2ns5Cache6insertERKi.cold"),
                     "ns::Cache::insert(int const&)");
    ck_assert_str_eq(hg_sym_display_name(s, "_Z3barv"), "bar()");
    ck_assert_str_eq(hg_sym_display_name(s, "plain"), "plain");
    ck_assert_str_eq(hg_sym_display_name(s, "not.a.suffix"), "not.a.suffix");
    ck_assert_str_eq(hg_sym_display_name(s, "foo.constprop.x"), "foo.constprop.x");
    ck_assert_str_eq(hg_sym_display_name(s, ".Lstart"), ".Lstart");
    ck_assert_str_eq(hg_sym_display_name(s, "_Zbroken"), "_Zbroken");
    ck_assert_ptr_null(hg_sym_display_name(s, ""));
    ck_assert_ptr_null(hg_sym_display_name(s, NULL));
    ck_assert_ptr_eq(hg_sym_display_name(s, "foo.cold"), hg_sym_display_name(s, "foo"));
    hg_sym_destroy(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The test program itself: a PIE executable                                 */

static uintptr_t pie_ret;

__attribute__((noinline, noipa)) static void pie_record(void)
{
    pie_ret = (uintptr_t)__builtin_return_address(0);
}

__attribute__((noinline)) static void pie_caller(void)
{
    pie_record(); /* LINE-MARK: pie_caller */
    __asm__ volatile("" ::: "memory");
}

START_TEST(test_pie_executable)
{
    pie_caller();
    loaded_t exe = find_loaded("");
    char path[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", path, sizeof(path) - 1);
    ck_assert_int_gt(k, 0);
    path[k] = '\0';
    ck_assert_uint_ne(exe.bias, 0); /* PIE, loaded at a random base */
    hg_sym_t *s;
    ck_assert_int_eq(hg_sym_create(&s), 0);
    ck_assert_int_eq(
        hg_sym_add_module(s, 0, path, exe.bias, exe.start, exe.end, exe.build_id, exe.build_id_len),
        0);
    hg_frame_info_t f[8];
    ck_assert_uint_eq(hg_sym_resolve(s, pie_ret, true, f, 8), 1);
    check_frame(&f[0], "pie_caller", "test_symbolize.c", mark_line(HG_TEST_SRC, "pie_caller"), path,
                false);
    ck_assert_uint_eq(f[0].module_offset, pie_ret - exe.bias);
    ck_assert_uint_eq(nwarnings(s), 0);
    hg_sym_destroy(s);
}
END_TEST

static Suite *symbolize_suite(void)
{
    Suite *suite = suite_create("symbolize");
    TCase *tc = tcase_create("dwarf");
    tcase_add_test(tc, test_static_function);
    tcase_add_test(tc, test_inlined_function);
    tcase_add_test(tc, test_clone_function);
    tcase_add_test(tc, test_cxx_names);
    tcase_add_test(tc, test_rust_names);
    tcase_add_test(tc, test_rust_names);
    tcase_add_test(tc, test_pie_executable);
    suite_add_tcase(suite, tc);

    tc = tcase_create("elf_symbols");
    tcase_add_test(tc, test_symtab_only);
    tcase_add_test(tc, test_stripped_not_nearest_export);
    tcase_add_test(tc, test_minidebuginfo);
    tcase_add_test(tc, test_public_alias);
    tcase_add_test(tc, test_display_name);
    suite_add_tcase(suite, tc);

    tc = tcase_create("debug_files");
    tcase_add_test(tc, test_debuglink);
    tcase_add_test(tc, test_split_dwarf);
    tcase_add_loop_test(tc, test_dwarf_variants, 0,
                        (int)(sizeof(dwarf_variants) / sizeof(dwarf_variants[0])));
    tcase_add_test(tc, test_build_id_debug_dir);
    tcase_add_test(tc, test_debug_dirs_env);
    tcase_add_test(tc, test_file_exports);
    suite_add_tcase(suite, tc);

    tc = tcase_create("modules");
    tcase_add_test(tc, test_build_id_mismatch);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_vdso_and_unknown);
    tcase_add_test(tc, test_vdso_image);
    tcase_add_test(tc, test_add_module_errors);
    tcase_add_test(tc, test_offline_by_default);
    tcase_add_test(tc, test_unload_and_reuse);
    tcase_add_test(tc, test_cache);
    suite_add_tcase(suite, tc);
    return suite;
}

int main(void)
{
    SRunner *sr = srunner_create(symbolize_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
