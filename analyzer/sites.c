/*
 * Call-site grouping: which frames are on the allocation path, and the table
 * that maps a stack's site key to a dense site index. Contract in sites.h; the
 * built-in list below is documented entry by entry in docs/SITES.md (change
 * both together).
 *
 * Names are matched on their "base name": the qualified function name without
 * the return type that demangled template functions carry and without the
 * parameter list, so "void std::vector<int>::_M_realloc_insert<int>(...)"
 * matches "std::*" and "operator new[](unsigned long)" matches "operator new*".
 */
#include "sites.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uthash.h"

/* Functions on the allocation path, as fnmatch patterns on the base name. */
static const char *const builtin_functions[] = {
    /* libc malloc family */
    "malloc",
    "calloc",
    "realloc",
    "free",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "__libc_*alloc*",
    "__libc_memalign",
    "__libc_free",
    "__posix_memalign",
    /* C++ allocation functions, every overload */
    "operator new*",
    "__cxa_allocate_exception",
    "__cxa_allocate_dependent_exception",
    /* C++ standard library (libstdc++, libc++) */
    "std::*",
    "__gnu_cxx::*",
    "__cxxabiv1::*",
    /* libc string and formatting allocators */
    "strdup",
    "strndup",
    "__strdup",
    "__strndup",
    "wcsdup",
    "asprintf",
    "vasprintf",
    "__asprintf",
    "__vasprintf",
    "__asprintf_chk",
    "__vasprintf_chk",
    "__vasprintf_internal",
    /* GLib */
    "g_malloc*",
    "g_try_malloc*",
    "g_realloc*",
    "g_try_realloc*",
    "g_new*",
    "g_strdup*",
    "g_strndup",
    "g_memdup*",
    "g_slice_alloc*",
    /* libiberty / gnulib style wrappers */
    "xmalloc",
    "xcalloc",
    "xrealloc",
    "xzalloc",
    "xstrdup",
    "xstrndup",
    "xmemdup",
    /* CPython */
    "PyMem_*",
    "_PyMem_*",
    "PyObject_Malloc",
    "PyObject_Calloc",
    "PyObject_Realloc",
    "_PyObject_Malloc*",
    "_PyObject_Calloc*",
    "_PyObject_Realloc*",
    "_PyObject_New*",
    "_PyObject_GC_Malloc",
    "_PyObject_GC_Calloc",
    "_PyObject_GC_New*",
    "_PyObject_GC_Resize",
    "PyObject_GC_*Alloc*",
    /* Redis */
    "zmalloc*",
    "zcalloc*",
    "zrealloc*",
    "ztrymalloc*",
    "ztrycalloc*",
    "ztryrealloc*",
    "zstrdup",
    /* SQLite */
    "sqlite3Malloc*",
    "sqlite3DbMalloc*",
    "sqlite3_malloc*",
    "sqlite3Realloc*",
    "sqlite3DbRealloc*",
    "sqlite3_realloc*",
    "sqlite3DbStrDup",
    "sqlite3DbStrNDup",
    /* jemalloc, tcmalloc entry points */
    "je_*",
    "tc_*",
    /* Rust's standard library (std::* is above) and its allocator shims */
    "alloc::*",
    "core::*",
    "<alloc::*",
    "<core::*",
    "<std::*",
    "__rust_alloc*",
    "__rust_realloc",
    "__rdl_*",
    "__rg_*",
};

/* Source files (fnmatch on the whole path) whose frames are on the path:
 * Rust's standard library, as the Rust project's toolchains (/rustc/<commit>),
 * the rust-src component and distributions' rustc packages record it, and
 * the crates it vendors (hashbrown behind HashMap). Its inlined frames carry
 * bare names (alloc_impl, allocate, reserve) that no name pattern could
 * claim without also claiming a program's own functions. */
static const char *const builtin_files[] = {
    "/rustc/*/library/*",
    "*/rustlib/src/rust/library/*",
    "/usr/src/rustc-*/library/*",
    "/rust/deps/*",
};

/* Modules (fnmatch on the file name) whose every frame is on the path. */
static const char *const builtin_modules[] = {
    "libheapgrow.so*",
    "libstdc++.so*",
    "libc++.so*",
    "libc++abi.so*",
};

/* Modules whose *unnamed* frames are on the path (libc/loader internals that
 * call malloc for an exported function further out, e.g. fopen). */
static const char *const builtin_unnamed_modules[] = {
    "libc.so*",
    "ld-linux*.so*",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct site_entry {
    long index;
    size_t keylen;
    UT_hash_handle hh;
    char key[]; /* keylen bytes */
};

/* A distinct string of a key (function, file or module name), numbered from
 * 1: keys hold the numbers, so that a site of --group-by stack costs 4 bytes
 * per name of each of its frames, not the names' length (131,073 stacks of 20
 * frames took 265 MB of keys as text, 47 MB as numbers). */
struct str_entry {
    uint32_t id;
    UT_hash_handle hh;
    char s[];
};

struct hg_sites {
    enum hg_group_by group_by;
    char **globs;
    size_t nglobs, globs_cap;
    struct site_entry *table;
    size_t nsites;
    struct str_entry *strs;
    uint32_t nstrs;
    char *key; /* scratch key buffer */
    size_t key_cap, key_len;
    bool is_oom;
};

static int add_glob(hg_sites_t *t, const char *p, size_t len)
{
    while (len && (p[0] == ' ' || p[0] == '\t')) {
        p++;
        len--;
    }
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0)
        return 0;
    if (t->nglobs == t->globs_cap) {
        size_t cap = t->globs_cap ? t->globs_cap * 2 : 8;
        char **g = realloc(t->globs, cap * sizeof(*g));
        if (!g)
            return -ENOMEM;
        t->globs = g;
        t->globs_cap = cap;
    }
    char *s = strndup(p, len);
    if (!s)
        return -ENOMEM;
    t->globs[t->nglobs++] = s;
    return 0;
}

int hg_sites_add_wrappers(hg_sites_t *t, const char *csv)
{
    if (!csv)
        return 0;
    const char *p = csv;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int rc = add_glob(t, p, len);
        if (rc < 0)
            return rc;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int hg_sites_create(enum hg_group_by group_by, const char *const *wrappers, size_t nwrappers,
                    const char *wrappers_csv, hg_sites_t **out)
{
    hg_sites_t *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->group_by = group_by;
    int rc = 0;
    for (size_t i = 0; i < nwrappers && rc == 0; i++)
        if (wrappers[i])
            rc = add_glob(t, wrappers[i], strlen(wrappers[i]));
    if (rc == 0)
        rc = hg_sites_add_wrappers(t, wrappers_csv);
    if (rc < 0) {
        hg_sites_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

void hg_sites_destroy(hg_sites_t *t)
{
    if (!t)
        return;
    struct site_entry *e, *tmp;
    HASH_ITER(hh, t->table, e, tmp) {
        HASH_DEL(t->table, e);
        free(e);
    }
    struct str_entry *se, *stmp;
    HASH_ITER(hh, t->strs, se, stmp) {
        HASH_DEL(t->strs, se);
        free(se);
    }
    for (size_t i = 0; i < t->nglobs; i++)
        free(t->globs[i]);
    free(t->globs);
    free(t->key);
    free(t);
}

size_t hg_sites_count(const hg_sites_t *t)
{
    return t->nsites;
}

/* ---- names ---- */

static bool is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$';
}

/* If s + i starts the keyword "operator" (as a word), returns the index just
 * past the operator's symbol ("operator()", "operator<<", "operator new[]"),
 * else i. */
static size_t skip_operator(const char *s, size_t i)
{
    static const char kw[] = "operator";
    if (strncmp(s + i, kw, sizeof(kw) - 1) != 0 || (i > 0 && is_ident(s[i - 1])) ||
        is_ident(s[i + sizeof(kw) - 1]))
        return i;
    size_t j = i + sizeof(kw) - 1;
    while (s[j] == ' ')
        j++;
    if (s[j] == '(' && s[j + 1] == ')')
        return j + 2;
    if (is_ident(s[j])) {
        /* new, delete, or a conversion operator's type name */
        while (is_ident(s[j]))
            j++;
        if (s[j] == '[' && s[j + 1] == ']')
            j += 2;
        return j;
    }
    while (s[j] && strchr("+-*/%^&|~!=<>,[]", s[j]))
        j++;
    return j;
}

const char *hg_sites_base_name(const char *fn, char *buf, size_t cap)
{
    size_t start = 0, end = strlen(fn);
    int depth = 0;
    for (size_t i = 0; fn[i];) {
        size_t j = skip_operator(fn, i);
        if (j != i) {
            i = j;
            continue;
        }
        char c = fn[i];
        if (depth == 0 && strncmp(fn + i, "(anonymous namespace)", 21) == 0) {
            i += 21;
            continue;
        }
        if (c == '<' || c == '{' || c == '[') {
            depth++;
        } else if ((c == '>' || c == '}' || c == ']') && depth > 0) {
            depth--;
        } else if (c == '(' && depth == 0) {
            end = i;
            break;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && depth > 0) {
            depth--;
        } else if (c == ' ' && depth == 0) {
            start = i + 1; /* what came before was a return type */
        }
        i++;
    }
    if (start > end)
        start = end;
    size_t n = end - start;
    if (cap == 0)
        return buf;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, fn + start, n);
    buf[n] = '\0';
    return buf;
}

static const char *file_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool match_any(const char *const *pats, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(pats[i], s, 0) == 0)
            return true;
    return false;
}

bool hg_sites_is_allocator(const hg_sites_t *t, const hg_frame_info_t *f)
{
    if (f->module) {
        const char *m = file_name(f->module);
        if (match_any(builtin_modules, NELEM(builtin_modules), m))
            return true;
        if (!f->function && match_any(builtin_unnamed_modules, NELEM(builtin_unnamed_modules), m))
            return true;
    }
    if (f->file && match_any(builtin_files, NELEM(builtin_files), f->file))
        return true;
    if (!f->function)
        return false;
    char base[512];
    hg_sites_base_name(f->function, base, sizeof(base));
    if (match_any(builtin_functions, NELEM(builtin_functions), base))
        return true;
    if (t && t->nglobs) {
        if (match_any((const char *const *)t->globs, t->nglobs, base) ||
            match_any((const char *const *)t->globs, t->nglobs, f->function))
            return true;
    }
    return false;
}

size_t hg_sites_site_frame(const hg_sites_t *t, const hg_frame_info_t *frames, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!hg_sites_is_allocator(t, &frames[i]))
            return i;
    return n ? n - 1 : 0;
}

/* ---- keys ---- */

static void key_add(hg_sites_t *t, const void *p, size_t n)
{
    if (t->is_oom)
        return;
    if (t->key_len + n > t->key_cap) {
        size_t cap = t->key_cap ? t->key_cap : 256;
        while (cap < t->key_len + n)
            cap *= 2;
        char *k = realloc(t->key, cap);
        if (!k) {
            t->is_oom = true;
            return;
        }
        t->key = k;
        t->key_cap = cap;
    }
    memcpy(t->key + t->key_len, p, n);
    t->key_len += n;
}

/* Adds the number of string s (0 for NULL, distinct from ""). */
static void key_str(hg_sites_t *t, const char *s)
{
    uint32_t id = 0;
    if (s && !t->is_oom) {
        size_t len = strlen(s);
        struct str_entry *e;
        HASH_FIND(hh, t->strs, s, len, e);
        if (!e) {
            if (t->nstrs == UINT32_MAX || !(e = malloc(sizeof(*e) + len + 1))) {
                t->is_oom = true;
                return;
            }
            memset(&e->hh, 0, sizeof(e->hh));
            memcpy(e->s, s, len + 1);
            e->id = ++t->nstrs;
            HASH_ADD_KEYPTR(hh, t->strs, e->s, len, e);
        }
        id = e->id;
    }
    key_add(t, &id, sizeof(id));
}

static void key_u64(hg_sites_t *t, uint64_t v)
{
    key_add(t, &v, sizeof(v));
}

static void key_frame(hg_sites_t *t, const hg_frame_info_t *f, bool with_line)
{
    if (f->function) {
        key_add(t, "F", 1);
        key_str(t, f->function);
        if (with_line) {
            key_str(t, f->file);
            key_u64(t, f->line);
        }
        key_str(t, f->module);
    } else {
        key_add(t, "O", 1);
        key_str(t, f->module);
        key_u64(t, f->module ? f->module_offset : f->address);
    }
}

long hg_sites_intern(hg_sites_t *t, const hg_frame_info_t *frames, size_t n, size_t *site_frame,
                     bool *is_new)
{
    size_t sf = n ? hg_sites_site_frame(t, frames, n) : 0;
    t->key_len = 0;
    t->is_oom = false;
    if (n == 0) {
        key_add(t, "U", 1);
    } else {
        switch (t->group_by) {
        case HG_GROUP_FUNCTION:
            if (frames[sf].function) {
                key_add(t, "F", 1);
                key_str(t, frames[sf].function);
                key_str(t, frames[sf].module);
            } else {
                key_frame(t, &frames[sf], false);
            }
            break;
        case HG_GROUP_STACK:
            key_add(t, "S", 1);
            for (size_t i = sf; i < n; i++)
                key_frame(t, &frames[i], true);
            break;
        case HG_GROUP_SITE:
        default:
            key_frame(t, &frames[sf], true);
            break;
        }
    }
    if (t->is_oom)
        return -ENOMEM;
    *site_frame = sf;
    struct site_entry *e;
    HASH_FIND(hh, t->table, t->key, t->key_len, e);
    if (e) {
        *is_new = false;
        return e->index;
    }
    e = calloc(1, sizeof(*e) + t->key_len);
    if (!e)
        return -ENOMEM;
    memcpy(e->key, t->key, t->key_len);
    e->keylen = t->key_len;
    e->index = (long)t->nsites++;
    HASH_ADD_KEYPTR(hh, t->table, e->key, e->keylen, e);
    *is_new = true;
    return e->index;
}
