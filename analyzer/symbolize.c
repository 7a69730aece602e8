/*
 * Offline symbolizer (contract: symbolize.h). Owns the module map the trace
 * declared, one libdwfl session per module (opened on the first address that
 * falls in it), the per-address cache and the interned strings that every
 * hg_frame_info_t points into. It never reads the traced process: only the
 * files named in the trace, and the debug files libdwfl finds for them.
 *
 * Why one Dwfl per module rather than one for all: a trace can map two files
 * at the same addresses one after the other (dlopen, dlclose, dlopen), and one
 * Dwfl cannot hold overlapping modules. We map address -> module ourselves
 * (sorted array of loaded modules) and ask that module's own Dwfl.
 *
 * Naming rule (DESIGN.md "Symbols"): a frame is named by DWARF, or else by an
 * ELF symbol (.symtab, .dynsym, MiniDebugInfo) whose [value, value + size)
 * contains the address. Never by the nearest symbol before it.
 *
 * Speed: libdw's own per-address lookups (dwarf_getscopes, addrinfo) scan a
 * whole CU or symbol table each time; each module instead gets two indexes
 * built on first use, one of its ELF function symbols and one per CU of its
 * function DIEs (see elf_syms_build and cu_index_get).
 *
 * Which CU holds an address is also ours to answer (cu_at): libdw 0.188 only
 * looks in .debug_aranges, which clang does not emit unless asked
 * (-gdwarf-aranges), so for clang-built code it found no CU at all.
 */
#include "symbolize.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include "uthash.h"

#include "heapgrow/format.h"
#include "demangle.h"

/* Inline depth kept per address; deeper chains keep their innermost frames and
 * the outermost function (the one that owns the code). */
#define MAX_FRAMES_PER_ADDRESS 64

/* ------------------------------------------------------------------------ */
/* State                                                                      */

typedef struct intern {
    UT_hash_handle hh;
    char s[];
} intern_t;

typedef struct sym_module {
    uint32_t id;
    const char *path; /* interned */
    uint64_t bias;
    uint64_t start;
    uint64_t end;
    uint8_t build_id[HG_MAX_BUILD_ID];
    size_t build_id_len;
    bool is_loaded;            /* not removed yet */
    bool is_opened;            /* opening was attempted (lazily, once) */
    bool is_build_id_mismatch; /* the file on disk is not the traced one */
    Dwfl *dwfl;                /* NULL when the file could not be used */
    Dwfl_Module *mod;
    struct cu_index *cus;     /* DWARF function index per CU, built lazily */
    struct cu_span *cu_spans; /* address ranges of the CUs, sorted, built lazily */
    size_t ncu_spans;
    Dwarf_Addr cu_spans_bias; /* the Dwarf's bias (module address - DWARF address) */
    bool is_cu_spans_built;
    struct elf_sym *syms; /* ELF function symbols by address, built lazily */
    size_t nsyms;
    bool is_syms_built;
    UT_hash_handle hh; /* in hg_sym.by_id while loaded */
} sym_module_t;

/* Cache key: the address as recorded and how it is looked up. Explicit
 * padding-free layout, zeroed before use, since uthash hashes the bytes. */
typedef struct cache_key {
    uint64_t address;
    uint64_t is_return_address;
} cache_key_t;

typedef struct cache_entry {
    cache_key_t key;
    /* The module the lookup address fell in when this was resolved (NULL:
     * none). A later hit in another module (a library mapped there since) is a
     * miss. */
    const sym_module_t *module;
    size_t nframes;
    hg_frame_info_t *frames;
    UT_hash_handle hh;
} cache_entry_t;

struct hg_sym {
    intern_t *strings;
    /* Every module ever declared, in declaration order; owns them. */
    sym_module_t **modules;
    size_t nmodules;
    size_t cap_modules;
    /* Loaded modules sorted by start, for the address lookup. */
    sym_module_t **live;
    size_t nlive;
    size_t cap_live;
    sym_module_t *by_id; /* loaded modules by module_id */
    cache_entry_t *cache;
    const char **warnings; /* interned */
    size_t nwarnings;
    size_t cap_warnings;
    char *debuginfo_path; /* NULL: libdwfl's default */
    Dwfl_Callbacks callbacks;
};

/* ------------------------------------------------------------------------ */
/* Interned strings, warnings                                                 */

static const char *intern_n(hg_sym_t *s, const char *str, size_t len)
{
    intern_t *e = NULL;
    HASH_FIND(hh, s->strings, str, len, e);
    if (e != NULL)
        return e->s;
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL)
        return NULL;
    memcpy(e->s, str, len);
    e->s[len] = '\0';
    HASH_ADD_KEYPTR(hh, s->strings, e->s, len, e);
    return e->s;
}

static const char *intern(hg_sym_t *s, const char *str)
{
    return str == NULL ? NULL : intern_n(s, str, strlen(str));
}

static bool grow_array(void *arrayp, size_t *cap, size_t need, size_t elem_size)
{
    void **array = arrayp;
    if (need <= *cap)
        return true;
    size_t ncap = *cap != 0 ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*array, ncap * elem_size);
    if (p == NULL)
        return false;
    *array = p;
    *cap = ncap;
    return true;
}

/* Adds one warning line, once: the same text twice (a library dlopen'ed in a
 * loop) is reported once. */
__attribute__((format(printf, 2, 3))) static void add_warning(hg_sym_t *s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    const char *line = intern(s, buf);
    if (line == NULL)
        return;
    for (size_t i = 0; i < s->nwarnings; i++)
        if (s->warnings[i] == line)
            return;
    if (!grow_array(&s->warnings, &s->cap_warnings, s->nwarnings + 1, sizeof(*s->warnings)))
        return;
    s->warnings[s->nwarnings++] = line;
}

/* ------------------------------------------------------------------------ */
/* Names                                                                      */

static bool is_clone_word(const char *p, size_t len)
{
    static const char *const words[] = {"constprop", "isra",  "part", "cold",
                                        "lto_priv",  "clone", "llvm", "localalias"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i]) == len && memcmp(words[i], p, len) == 0)
            return true;
    return false;
}

static bool is_all_digits(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return len > 0;
}

/* True when `p` (at a '.') starts a chain of compiler clone suffixes that runs
 * to the end of the name: ".constprop.0", ".isra.0", ".part.0", ".cold",
 * ".lto_priv.0", ".llvm.12345", and chains such as ".constprop.0.isra.0". */
static bool is_clone_chain(const char *p)
{
    while (*p == '.') {
        p++;
        size_t len = strcspn(p, ".");
        if (!is_clone_word(p, len) && !is_all_digits(p, len))
            return false;
        p += len;
    }
    return *p == '\0';
}

/* Length of `name` without its trailing clone suffixes. Identifiers and
 * Itanium-mangled names contain no '.', so the first '.' that starts a clone
 * chain is where the source-level name ends. */
static size_t name_len_without_clone(const char *name)
{
    for (const char *dot = strchr(name, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
        if (dot != name && is_clone_chain(dot))
            return (size_t)(dot - name);
    return strlen(name);
}

/* The displayed, interned form of a symbol or DWARF name: clone suffixes
 * dropped, then demangled when it is a C++ name. NULL for NULL or "". */
static const char *clean_name(hg_sym_t *s, const char *raw)
{
    if (raw == NULL || raw[0] == '\0')
        return NULL;
    size_t len = name_len_without_clone(raw);
    char stack_buf[512];
    char *base = len < sizeof(stack_buf) ? stack_buf : malloc(len + 1);
    if (base == NULL)
        return NULL;
    memcpy(base, raw, len);
    base[len] = '\0';
    const char *out;
    char *demangled = hg_demangle(base);
    if (demangled != NULL) {
        out = intern(s, demangled);
        free(demangled);
    } else {
        out = intern_n(s, base, len);
    }
    if (base != stack_buf)
        free(base);
    return out;
}

/* Function name of a subprogram or inlined-subroutine DIE, following
 * DW_AT_abstract_origin and DW_AT_specification: the demangled linkage name
 * when there is one (C++: qualified, with parameters), else DW_AT_name. */
static const char *die_function_name(hg_sym_t *s, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    const char *linkage = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) != NULL ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr) != NULL)
        linkage = dwarf_formstring(&attr);
    if (linkage != NULL && linkage[0] == '_' && linkage[1] == 'Z') {
        /* A C++ name: demangled it says more than DW_AT_name (namespace,
         * class, parameters). clean_name returns it as is if it does not
         * demangle, in which case DW_AT_name is better. */
        const char *out = clean_name(s, linkage);
        if (out != NULL && !(out[0] == '_' && out[1] == 'Z'))
            return out;
    }
    const char *name = NULL;
    if (dwarf_attr_integrate(die, DW_AT_name, &attr) != NULL)
        name = dwarf_formstring(&attr);
    if (name != NULL)
        return clean_name(s, name);
    return clean_name(s, linkage);
}

/*
 * Per-module index of the ELF function symbols with a size, sorted by address.
 *
 * dwfl_module_addrinfo scans the whole symbol table on every call (160 us per
 * address in libstdc++'s .dynsym, milliseconds in a large .symtab), so the
 * first ELF lookup in a module reads its table once (dwfl_module_getsym_info:
 * .symtab, else .dynsym, plus MiniDebugInfo's, whichever libdwfl found) and
 * keeps only what may name code: FUNC, IFUNC or NOTYPE symbols with a size,
 * defined in a section. Sizeless symbols are left out on purpose: nothing
 * says where their code ends (DESIGN.md "Symbols"). Of aliases (same start),
 * the sort puts the preferred name first: a public name over a reserved one
 * ("calloc" over "__libc_calloc"), then global over weak over local, then
 * the shorter name.
 */
typedef struct elf_sym {
    uint64_t lo; /* module addresses (bias applied), [lo, hi) */
    uint64_t hi;
    const char *name; /* in libdwfl's string table, lives as long as the Dwfl */
    int rank;         /* lower is preferred among aliases */
} elf_sym_t;

static int compare_elf_sym(const void *a, const void *b)
{
    const elf_sym_t *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    size_t xlen = strlen(x->name), ylen = strlen(y->name);
    if (xlen != ylen) /* "free" over its compat alias "cfree" */
        return xlen < ylen ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int alias_rank(const GElf_Sym *sym, const char *name)
{
    int bind = GELF_ST_BIND(sym->st_info);
    int rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
    return (name[0] == '_') * 3 + rank;
}

static void elf_syms_build(sym_module_t *m)
{
    m->is_syms_built = true;
    int n = dwfl_module_getsymtab(m->mod);
    if (n <= 1)
        return;
    m->syms = malloc((size_t)n * sizeof(*m->syms));
    if (m->syms == NULL)
        return;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr = 0;
        GElf_Word shndx = 0;
        const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &addr, &shndx, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info);
        if (name == NULL || name[0] == '\0' || sym.st_size == 0 || shndx == SHN_UNDEF ||
            shndx == SHN_ABS || (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE))
            continue;
        if (addr + sym.st_size < addr)
            continue;
        m->syms[m->nsyms++] = (elf_sym_t){
            .lo = addr, .hi = addr + sym.st_size, .name = name, .rank = alias_rank(&sym, name)};
    }
    qsort(m->syms, m->nsyms, sizeof(*m->syms), compare_elf_sym);
}

/* Index in m->syms of the preferred symbol whose extent contains `addr`, or
 * SIZE_MAX. Never the nearest symbol below an address outside its extent. */
static size_t elf_symbol_at(sym_module_t *m, uint64_t addr)
{
    if (!m->is_syms_built)
        elf_syms_build(m);
    size_t lo = 0, hi = m->nsyms;
    while (lo < hi) { /* first symbol with start > addr */
        size_t mid = lo + (hi - lo) / 2;
        if (m->syms[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return SIZE_MAX;
    /* The symbols starting at the closest start below: the first of them is
     * the preferred alias; if it does not reach addr, a larger one (or one
     * starting lower, that encloses it) may. */
    size_t first = lo - 1;
    while (first > 0 && m->syms[first - 1].lo == m->syms[lo - 1].lo)
        first--;
    for (size_t i = first; i < lo; i++)
        if (addr < m->syms[i].hi)
            return i;
    /* Enclosing symbols that start lower (rare: nested symbols); bounded. */
    for (size_t i = first, k = 0; i-- > 0 && k < 16; k++)
        if (addr < m->syms[i].hi)
            return i;
    return SIZE_MAX;
}

static const char *elf_symbol_name(hg_sym_t *s, sym_module_t *m, uint64_t addr)
{
    size_t i = elf_symbol_at(m, addr);
    return i == SIZE_MAX ? NULL : clean_name(s, m->syms[i].name);
}

/* A C function that DWARF names by a reserved identifier ("__libc_malloc",
 * glibc's internal name) is shown by the public alias of the same symbol
 * ("malloc") when there is one, as it is without debug files: names should
 * not depend on whether a -dbg package is installed. Returns `dwarf_name`
 * otherwise. */
static const char *public_alias(hg_sym_t *s, sym_module_t *m, uint64_t addr, const char *dwarf_name)
{
    if (dwarf_name == NULL || dwarf_name[0] != '_' || strpbrk(dwarf_name, ":( <") != NULL)
        return dwarf_name;
    size_t best = elf_symbol_at(m, addr);
    if (best == SIZE_MAX || m->syms[best].name[0] == '_')
        return dwarf_name;
    const elf_sym_t *b = &m->syms[best];
    for (size_t i = best + 1; i < m->nsyms && m->syms[i].lo == b->lo; i++)
        if (m->syms[i].hi == b->hi && strcmp(m->syms[i].name, dwarf_name) == 0)
            return clean_name(s, b->name);
    return dwarf_name;
}

/* ------------------------------------------------------------------------ */
/* Modules                                                                    */

static bool is_vdso_path(const char *path)
{
    return strcmp(path, "[vdso]") == 0 || strncmp(path, "linux-vdso", 10) == 0 ||
           strncmp(path, "linux-gate", 10) == 0;
}

/* Modules with no file behind them: the vdso (named "[vdso]" by /proc maps,
 * "linux-vdso.so.1" by the loader) and other bracketed pseudo-mappings. Their
 * frames read module+0xoffset, without a warning: nothing is missing. The
 * vdso is the exception when this machine's kernel gives the traced image
 * (own_vdso_fd). */
static bool is_pseudo_path(const char *path)
{
    return path[0] == '\0' || path[0] == '[' || is_vdso_path(path);
}

/* The vdso has no file on disk, but the kernel maps the same image into every
 * process, the analyzer's own included: a copy of this process's [vdso]
 * mapping in a memfd stands in for the file. Whether it is the traced image is
 * for the build-id to say (module_open). Returns the fd, or -1 when this
 * process has no vdso or the copy fails. */
static int own_vdso_fd(void)
{
    FILE *maps = fopen("/proc/self/maps", "re");
    if (maps == NULL)
        return -1;
    char line[512];
    unsigned long lo = 0, hi = 0;
    bool is_found = false;
    while (!is_found && fgets(line, sizeof(line), maps) != NULL) {
        size_t n = strlen(line);
        is_found = n > 7 && strcmp(line + n - 7, "[vdso]\n") == 0 &&
                   sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < hi;
    }
    fclose(maps);
    if (!is_found)
        return -1;
    int fd = memfd_create("heapgrow-vdso", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = hi - lo;
    const char *image = (const char *)(uintptr_t)lo;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, image + done, len - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    return fd;
}

static void module_open(hg_sym_t *s, sym_module_t *m)
{
    m->is_opened = true;
    int fd = -1;
    if (is_vdso_path(m->path) && m->build_id_len > 0)
        fd = own_vdso_fd();
    if (fd < 0 && is_pseudo_path(m->path))
        return;
    Dwfl *dwfl = dwfl_begin(&s->callbacks);
    if (dwfl == NULL) {
        add_warning(s, "module %s: cannot read it (%s); its frames show module+offset", m->path,
                    dwfl_errmsg(-1));
        if (fd >= 0)
            close(fd);
        return;
    }
    dwfl_report_begin(dwfl);
    /* ET_DYN with add_p_vaddr: base is the load bias (l_addr), the same value
     * the trace recorded. ET_EXEC ignores base: its bias is 0. The fd, when
     * given, is the library's on success and still ours on failure. */
    Dwfl_Module *mod = dwfl_report_elf(dwfl, m->path, m->path, fd, m->bias, true);
    if (mod == NULL && fd >= 0)
        close(fd);
    if (mod == NULL || dwfl_report_end(dwfl, NULL, NULL) != 0) {
        if (fd < 0)
            add_warning(s, "module %s: cannot read it (%s); its frames show module+offset", m->path,
                        dwfl_errmsg(-1));
        dwfl_end(dwfl);
        return;
    }
    if (m->build_id_len > 0) {
        const unsigned char *bits = NULL;
        GElf_Addr vaddr = 0;
        int len = dwfl_module_build_id(mod, &bits, &vaddr);
        if (len <= 0 || (size_t)len != m->build_id_len ||
            memcmp(bits, m->build_id, m->build_id_len) != 0) {
            if (fd >= 0) {
                /* Another kernel's vdso: module+offset, as with no image. */
                add_warning(s,
                            "module %s: the traced kernel's vdso is not this one's; its frames "
                            "show module+offset",
                            m->path);
                dwfl_end(dwfl);
                return;
            }
            m->is_build_id_mismatch = true;
            add_warning(s,
                        "module %s: build-id differs from the traced one; its frames may be wrong",
                        m->path);
        }
    }
    m->dwfl = dwfl;
    m->mod = mod;
}

/* The loaded module containing `addr`; else the most recently declared
 * unloaded one that contained it (the tracer may write a stack after the
 * dlclose that unmapped its library, and nothing else was mapped there since);
 * else NULL. */
static sym_module_t *find_module(const hg_sym_t *s, uint64_t addr)
{
    size_t lo = 0, hi = s->nlive;
    while (lo < hi) { /* first live module with start > addr */
        size_t mid = lo + (hi - lo) / 2;
        if (s->live[mid]->start <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && addr < s->live[lo - 1]->end)
        return s->live[lo - 1];
    for (size_t i = s->nmodules; i-- > 0;) {
        sym_module_t *m = s->modules[i];
        if (!m->is_loaded && m->start <= addr && addr < m->end)
            return m;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Resolution                                                                 */

static uint32_t clamp_line(int line)
{
    return line > 0 ? (uint32_t)line : 0;
}

/* A source path as the user knows it: DWARF may name a file relative to the
 * compilation directory (meson builds say "../src/x.c"); join it with comp_dir
 * and fold "." and ".." lexically, so reports show one absolute path per file.
 * An absolute name is folded too: for DWARF 5 line tables libdw joins the
 * file with its directory entry itself, and clang's entry 0 is comp_dir, so a
 * file compiled as "../src/x.c" comes back as "/build/../src/x.c". */
static const char *source_path(hg_sym_t *s, const char *name, const char *comp_dir)
{
    if (name == NULL)
        return NULL;
    bool is_joined = name[0] != '/';
    if (is_joined && (comp_dir == NULL || comp_dir[0] != '/'))
        return intern(s, name);
    size_t len = (is_joined ? strlen(comp_dir) + 1 : 0) + strlen(name) + 1;
    char *joined = malloc(len);
    if (joined == NULL)
        return intern(s, name);
    if (is_joined)
        snprintf(joined, len, "%s/%s", comp_dir, name);
    else
        memcpy(joined, name, len);
    /* Fold in place: out never overtakes in. */
    char *out = joined;
    const char *in = joined;
    while (*in != '\0') {
        while (*in == '/')
            in++;
        const char *seg = in;
        while (*in != '\0' && *in != '/')
            in++;
        size_t seglen = (size_t)(in - seg);
        if (seglen == 0 || (seglen == 1 && seg[0] == '.'))
            continue;
        if (seglen == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > joined && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, seglen);
        out += seglen;
    }
    if (out == joined)
        *out++ = '/';
    *out = '\0';
    const char *r = intern(s, joined);
    free(joined);
    return r;
}

/* File named by DW_AT_call_file of an inlined subroutine, from its CU's file
 * table; NULL when absent. */
static const char *call_file(hg_sym_t *s, Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    Dwarf_Word idx;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &idx) != 0)
        return NULL;
    Dwarf_Die cu;
    if (dwarf_diecu(die, &cu, NULL, NULL) == NULL)
        return NULL;
    Dwarf_Files *files;
    size_t nfiles;
    if (dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 || idx >= nfiles)
        return NULL;
    Dwarf_Attribute cattr;
    const char *comp_dir = dwarf_formstring(dwarf_attr(&cu, DW_AT_comp_dir, &cattr));
    return source_path(s, dwarf_filesrc(files, idx, NULL, NULL), comp_dir);
}

static uint32_t call_line(Dwarf_Die *die)
{
    Dwarf_Attribute attr;
    Dwarf_Word line;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &line) != 0 || line > UINT32_MAX)
        return 0;
    return (uint32_t)line;
}

/*
 * Per-CU index of the function DIEs that own code.
 *
 * dwarf_getscopes() answers "which scopes contain this pc" by walking the CU's
 * DIE tree from its start, every time: 6 ms per address in a 2 MB C++ CU, far
 * too slow for 100k distinct addresses. So the first address that falls in a
 * CU walks its tree once and keeps just the DIEs that matter here: each
 * DW_TAG_subprogram with code (a root: whatever tree it sits in, a compiled
 * function is never inlined into its lexical parent) and each
 * DW_TAG_inlined_subroutine, linked to the nearest enclosing one of either
 * kind (lexical blocks are looked through), with its address ranges. A lookup
 * is then a binary search among the roots' ranges and a descent through the
 * children that contain the address: the innermost inlined instance and its
 * chain of callers.
 */
typedef struct fn_node {
    Dwarf_Die die;
    int32_t parent;       /* enclosing function node, -1 for a root */
    int32_t first_child;  /* -1 when none */
    int32_t next_sibling; /* -1 when none */
    uint32_t range_first; /* into cu_index.ranges */
    uint32_t range_count;
} fn_node_t;

typedef struct fn_range {
    uint64_t lo; /* DWARF addresses, [lo, hi) */
    uint64_t hi;
    int32_t node;
} fn_range_t;

typedef struct cu_index {
    Dwarf_Off cu_offset; /* key, within the module's Dwarf */
    fn_node_t *nodes;
    size_t nnodes;
    size_t cap_nodes;
    fn_range_t *ranges; /* grouped by node */
    size_t nranges;
    size_t cap_ranges;
    fn_range_t *roots; /* ranges of root nodes, sorted by lo */
    size_t nroots;
    bool is_failed; /* out of memory while building: use dwarf_getscopes */
    UT_hash_handle hh;
} cu_index_t;

/* DIE trees are shallow; a deeper one is malformed and indexed no further. */
#define MAX_DIE_DEPTH 256

static bool is_scope_container(int tag)
{
    switch (tag) {
    case DW_TAG_subprogram:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_lexical_block:
    case DW_TAG_namespace:
    case DW_TAG_class_type:
    case DW_TAG_structure_type:
    case DW_TAG_union_type:
    case DW_TAG_module:
        return true;
    default:
        return false;
    }
}

/* Adds `die` as a function node under `parent` with its ranges; returns its
 * index, -1 when it has no code, -2 when out of memory. */
static int32_t index_add_node(cu_index_t *ci, Dwarf_Die *die, int32_t parent)
{
    size_t first = ci->nranges;
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    int32_t idx = (int32_t)ci->nnodes;
    while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
        if (lo >= hi)
            continue;
        if (!grow_array(&ci->ranges, &ci->cap_ranges, ci->nranges + 1, sizeof(*ci->ranges)))
            return -2;
        ci->ranges[ci->nranges++] = (fn_range_t){.lo = lo, .hi = hi, .node = idx};
    }
    if (ci->nranges == first)
        return -1;
    if (ci->nnodes >= INT32_MAX ||
        !grow_array(&ci->nodes, &ci->cap_nodes, ci->nnodes + 1, sizeof(*ci->nodes)))
        return -2;
    fn_node_t *n = &ci->nodes[ci->nnodes++];
    n->die = *die;
    n->parent = parent;
    n->first_child = -1;
    n->next_sibling = -1;
    n->range_first = (uint32_t)first;
    n->range_count = (uint32_t)(ci->nranges - first);
    if (parent >= 0) {
        n->next_sibling = ci->nodes[parent].first_child;
        ci->nodes[parent].first_child = idx;
    }
    return idx;
}

/* Indexes the children of `die`; `parent` is the enclosing function node. */
static bool index_children(cu_index_t *ci, Dwarf_Die *die, int32_t parent, int depth)
{
    Dwarf_Die child;
    if (depth > MAX_DIE_DEPTH || dwarf_child(die, &child) != 0)
        return true;
    do {
        int tag = dwarf_tag(&child);
        if (!is_scope_container(tag))
            continue;
        int32_t inner = parent;
        if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
            inner = index_add_node(ci, &child, tag == DW_TAG_subprogram ? -1 : parent);
            if (inner == -2)
                return false;
            if (inner == -1) /* no code: a declaration or an abstract instance */
                continue;
        }
        if (!index_children(ci, &child, inner, depth + 1))
            return false;
    } while (dwarf_siblingof(&child, &child) == 0);
    return true;
}

static int compare_range_lo(const void *a, const void *b)
{
    const fn_range_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static cu_index_t *cu_index_get(sym_module_t *m, Dwarf_Die *cudie)
{
    Dwarf_Off key = dwarf_dieoffset(cudie);
    cu_index_t *ci = NULL;
    HASH_FIND(hh, m->cus, &key, sizeof(key), ci);
    if (ci != NULL)
        return ci;
    ci = calloc(1, sizeof(*ci));
    if (ci == NULL)
        return NULL;
    ci->cu_offset = key;
    if (!index_children(ci, cudie, -1, 0)) {
        ci->is_failed = true;
    } else {
        size_t nroots = 0;
        for (size_t i = 0; i < ci->nranges; i++)
            nroots += ci->nodes[ci->ranges[i].node].parent < 0;
        ci->roots = malloc((nroots != 0 ? nroots : 1) * sizeof(*ci->roots));
        if (ci->roots == NULL) {
            ci->is_failed = true;
        } else {
            for (size_t i = 0; i < ci->nranges; i++)
                if (ci->nodes[ci->ranges[i].node].parent < 0)
                    ci->roots[ci->nroots++] = ci->ranges[i];
            qsort(ci->roots, ci->nroots, sizeof(*ci->roots), compare_range_lo);
        }
    }
    HASH_ADD(hh, m->cus, cu_offset, sizeof(ci->cu_offset), ci);
    return ci;
}

static void cu_index_free_all(sym_module_t *m)
{
    cu_index_t *ci, *tmp;
    HASH_ITER(hh, m->cus, ci, tmp) {
        HASH_DEL(m->cus, ci);
        free(ci->nodes);
        free(ci->ranges);
        free(ci->roots);
        free(ci);
    }
}

static bool node_contains(const cu_index_t *ci, int32_t node, uint64_t addr)
{
    const fn_node_t *n = &ci->nodes[node];
    for (uint32_t i = 0; i < n->range_count; i++) {
        const fn_range_t *r = &ci->ranges[n->range_first + i];
        if (r->lo <= addr && addr < r->hi)
            return true;
    }
    return false;
}

/* The innermost function node containing `addr`, or -1. */
static int32_t cu_index_lookup(const cu_index_t *ci, uint64_t addr)
{
    size_t lo = 0, hi = ci->nroots;
    while (lo < hi) { /* first root range with lo > addr */
        size_t mid = lo + (hi - lo) / 2;
        if (ci->roots[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || addr >= ci->roots[lo - 1].hi)
        return -1;
    int32_t node = ci->roots[lo - 1].node;
    for (;;) {
        int32_t c = ci->nodes[node].first_child;
        while (c >= 0 && !node_contains(ci, c, addr))
            c = ci->nodes[c].next_sibling;
        if (c < 0)
            return node;
        node = c;
    }
}

/* Function DIEs containing `pc`, innermost first, through dwarf_getscopes:
 * the slow path, for what the index does not cover (split DWARF units, a CU
 * whose index could not be built). Returns a malloc'd array or NULL. */
static Dwarf_Die *scopes_chain(Dwarf_Die *cudie, uint64_t pc, int *nchain)
{
    Dwarf_Die *scopes = NULL;
    int nscopes = dwarf_getscopes(cudie, pc, &scopes);
    if (nscopes <= 0) {
        free(scopes);
        return NULL;
    }
    /* dwarf_getscopes continues past an inlined instance into the scopes of
     * its abstract definition; the concrete parents are what we want. */
    Dwarf_Die *chain = NULL;
    *nchain = dwarf_getscopes_die(&scopes[0], &chain);
    free(scopes);
    if (*nchain <= 0) {
        free(chain);
        return NULL;
    }
    return chain;
}

/*
 * Source frames of `addr` in module `m` from DWARF, innermost first; returns
 * how many were written to `out` (0 when no function DIE contains it).
 *
 * The chain of function DIEs runs from the innermost inlined instance out to
 * the DW_TAG_subprogram that was compiled. The line table gives the innermost
 * frame's file:line; each inlined subroutine's DW_AT_call_file/line is where
 * the next frame out called it, so the position moves one frame outwards at
 * each inlined level.
 */
static size_t dwarf_frames(hg_sym_t *s, sym_module_t *m, Dwarf_Die *cudie, uint64_t pc,
                           const char *file, uint32_t line, hg_frame_info_t *out, size_t max)
{
    /* Split DWARF (-gsplit-dwarf): the skeleton unit holds the line table
     * and ranges but no DIEs; the functions are in the split unit (.dwo or
     * .dwp), which libdw finds and returns as the "subdie". */
    uint8_t unit_type = 0;
    Dwarf_Die split;
    if (dwarf_cu_info(cudie->cu, NULL, &unit_type, NULL, &split, NULL, NULL, NULL) == 0 &&
        unit_type == DW_UT_skeleton && split.cu != NULL)
        cudie = &split;

    Dwarf_Die local[MAX_FRAMES_PER_ADDRESS];
    Dwarf_Die *chain = local;
    Dwarf_Die *heap_chain = NULL;
    int nchain = 0;
    cu_index_t *ci = cu_index_get(m, cudie);
    int32_t node = ci != NULL && !ci->is_failed ? cu_index_lookup(ci, pc) : -1;
    if (node >= 0) {
        for (; node >= 0 && nchain < MAX_FRAMES_PER_ADDRESS; node = ci->nodes[node].parent)
            local[nchain++] = ci->nodes[node].die;
        /* Deeper than we keep: make the last one the root all the same. */
        if (node >= 0) {
            while (ci->nodes[node].parent >= 0)
                node = ci->nodes[node].parent;
            local[nchain - 1] = ci->nodes[node].die;
        }
    } else {
        heap_chain = scopes_chain(cudie, pc, &nchain);
        if (heap_chain == NULL)
            return 0;
        chain = heap_chain;
    }

    size_t n = 0;
    for (int i = 0; i < nchain; i++) {
        int tag = dwarf_tag(&chain[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        bool is_outermost = tag == DW_TAG_subprogram;
        /* Keep room for the outermost function when the inline chain is
         * deep: middle frames are dropped, positions still move outwards. */
        if (is_outermost || n + 1 < max) {
            hg_frame_info_t *f = &out[n++];
            f->function = die_function_name(s, &chain[i]);
            f->file = file;
            f->line = line;
            f->is_inlined = !is_outermost;
        }
        if (is_outermost)
            break;
        file = call_file(s, &chain[i]);
        line = call_line(&chain[i]);
    }
    free(heap_chain);
    /* A chain without a subprogram (should not happen): the last frame is not
     * inlined into anything we know of. */
    if (n > 0 && out[n - 1].is_inlined)
        out[n - 1].is_inlined = false;
    return n;
}

/*
 * Which CU holds an address.
 *
 * dwfl_module_addrdie (and dwfl_module_getsrc, which relies on it) finds the
 * CU through .debug_aranges alone in libdw 0.188 (Debian 12): with no such
 * section it answers "address out of range" for every address. gcc emits
 * .debug_aranges, clang does not by default (DWARF 4 or 5 alike), so clang-
 * built code got no line and no DWARF frames, only its ELF symbol name. When
 * libdwfl finds no CU, the module's CUs are looked up by their own ranges
 * (DW_AT_low_pc/high_pc or DW_AT_ranges of the compile or skeleton unit),
 * indexed once per module.
 */
typedef struct cu_span {
    uint64_t lo; /* DWARF addresses, [lo, hi) */
    uint64_t hi;
    Dwarf_Die cudie;
} cu_span_t;

static int compare_cu_span(const void *a, const void *b)
{
    const cu_span_t *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void cu_spans_build(sym_module_t *m)
{
    m->is_cu_spans_built = true;
    Dwarf *dw = dwfl_module_getdwarf(m->mod, &m->cu_spans_bias);
    if (dw == NULL)
        return;
    size_t cap = 0;
    Dwarf_CU *cu = NULL;
    Dwarf_Die cudie;
    uint8_t unit_type = 0;
    while (dwarf_get_units(dw, cu, &cu, NULL, &unit_type, &cudie, NULL) == 0) {
        if (unit_type != DW_UT_compile && unit_type != DW_UT_skeleton)
            continue;
        Dwarf_Addr base, lo, hi;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(&cudie, off, &base, &lo, &hi)) > 0) {
            /* Address 0 is the ELF header, never code: such a range is a
             * function the linker dropped (--gc-sections). */
            if (lo >= hi || lo == 0)
                continue;
            if (!grow_array(&m->cu_spans, &cap, m->ncu_spans + 1, sizeof(*m->cu_spans)))
                goto out;
            m->cu_spans[m->ncu_spans++] = (cu_span_t){.lo = lo, .hi = hi, .cudie = cudie};
        }
    }
out:
    qsort(m->cu_spans, m->ncu_spans, sizeof(*m->cu_spans), compare_cu_span);
}

/* The compile (or skeleton) unit DIE whose code contains module address
 * `addr`, and the Dwarf's bias (DWARF address = addr - *dbias); NULL when none
 * does. The DIE lives as long as the module's Dwfl. */
static Dwarf_Die *cu_at(sym_module_t *m, uint64_t addr, Dwarf_Addr *dbias)
{
    /* libdwfl (0.188) searches .debug_aranges by start address only: an
     * address in a gap after one of a CU's ranges (code without DWARF, such
     * as crt1.o's _start between main in .text.startup and the rest of .text)
     * is given that CU, and then the nearest line before it. Its answer is
     * kept only when the CU's own ranges hold the address. */
    Dwarf_Die *cudie = dwfl_module_addrdie(m->mod, addr, dbias);
    if (cudie != NULL && dwarf_haspc(cudie, addr - *dbias) == 1)
        return cudie;
    if (!m->is_cu_spans_built)
        cu_spans_build(m);
    uint64_t pc = addr - m->cu_spans_bias;
    size_t lo = 0, hi = m->ncu_spans;
    while (lo < hi) { /* first span with lo > pc */
        size_t mid = lo + (hi - lo) / 2;
        if (m->cu_spans[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* CUs do not overlap: the last span starting at or below pc is the only
     * one that can contain it. */
    if (lo == 0 || pc >= m->cu_spans[lo - 1].hi)
        return NULL;
    *dbias = m->cu_spans_bias;
    return &m->cu_spans[lo - 1].cudie;
}

/* File and line of DWARF address `pc` from the line table of its CU (for
 * split DWARF, the skeleton unit's); leaves them NULL and 0 when the table has
 * no row for it. */
static void cu_line(hg_sym_t *s, Dwarf_Die *cudie, uint64_t pc, const char **file, uint32_t *line)
{
    Dwarf_Line *dl = dwarf_getsrc_die(cudie, pc);
    if (dl == NULL)
        return;
    int lineno = 0;
    Dwarf_Attribute attr;
    const char *comp_dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
    *file = source_path(s, dwarf_linesrc(dl, NULL, NULL), comp_dir);
    if (*file != NULL && dwarf_lineno(dl, &lineno) == 0)
        *line = clamp_line(lineno);
}

/* Resolves one address into `out` (at least one frame). */
static size_t resolve_frames(hg_sym_t *s, sym_module_t *m, uint64_t address, uint64_t lookup,
                             hg_frame_info_t *out, size_t max)
{
    size_t n = 0;
    if (m != NULL && !m->is_opened)
        module_open(s, m);
    if (m != NULL && m->mod != NULL) {
        const char *file = NULL;
        uint32_t line = 0;
        Dwarf_Addr dbias = 0;
        Dwarf_Die *cudie = cu_at(m, lookup, &dbias);
        if (cudie != NULL) {
            cu_line(s, cudie, lookup - dbias, &file, &line);
            n = dwarf_frames(s, m, cudie, lookup - dbias, file, line, out, max);
        }
        if (n == 0) {
            out[0].function = NULL;
            out[0].file = file;
            out[0].line = line;
            out[0].is_inlined = false;
            n = 1;
        }
        /* DWARF without a name (or no DWARF at all): the ELF symbol names the
         * function that owns the code, so only the outermost frame. */
        if (out[n - 1].function == NULL)
            out[n - 1].function = elf_symbol_name(s, m, lookup);
        else
            out[n - 1].function = public_alias(s, m, lookup, out[n - 1].function);
    } else {
        out[0].function = NULL;
        out[0].file = NULL;
        out[0].line = 0;
        out[0].is_inlined = false;
        n = 1;
    }
    for (size_t i = 0; i < n; i++) {
        out[i].module = m != NULL ? m->path : NULL;
        out[i].address = address;
        out[i].module_offset = m != NULL ? address - m->bias : 0;
        out[i].is_build_id_mismatch = m != NULL && m->is_build_id_mismatch;
    }
    return n;
}

size_t hg_sym_resolve(hg_sym_t *s, uint64_t address, bool is_return_address, hg_frame_info_t *out,
                      size_t max)
{
    if (max == 0)
        return 0;
    /* A return address points after the call; address - 1 is inside it. */
    uint64_t lookup = is_return_address && address > 0 ? address - 1 : address;
    sym_module_t *m = find_module(s, lookup);

    cache_key_t key;
    memset(&key, 0, sizeof(key));
    key.address = address;
    key.is_return_address = is_return_address;
    cache_entry_t *e = NULL;
    HASH_FIND(hh, s->cache, &key, sizeof(key), e);
    if (e != NULL && e->module != m) {
        HASH_DEL(s->cache, e);
        free(e->frames);
        free(e);
        e = NULL;
    }
    if (e == NULL) {
        hg_frame_info_t tmp[MAX_FRAMES_PER_ADDRESS];
        memset(tmp, 0, sizeof(tmp));
        size_t n = resolve_frames(s, m, address, lookup, tmp, MAX_FRAMES_PER_ADDRESS);
        e = calloc(1, sizeof(*e));
        hg_frame_info_t *frames = malloc(n * sizeof(*frames));
        if (e == NULL || frames == NULL) {
            /* Out of memory: answer without caching. */
            free(e);
            free(frames);
            size_t k = n < max ? n : max;
            memcpy(out, tmp, k * sizeof(*out));
            return k;
        }
        memcpy(frames, tmp, n * sizeof(*frames));
        e->key = key;
        e->module = m;
        e->nframes = n;
        e->frames = frames;
        HASH_ADD(hh, s->cache, key, sizeof(key), e);
    }
    size_t k = e->nframes < max ? e->nframes : max;
    memcpy(out, e->frames, k * sizeof(*out));
    return k;
}

/* ------------------------------------------------------------------------ */
/* Lifetime and module map                                                   */

/* HEAPGROW_DEBUG_DIRS: colon-separated directories that replace libdwfl's
 * default debug root (/usr/lib/debug). Each is searched for
 * .build-id/xx/yyyy.debug and, for a .gnu_debuglink name, DIR/<module's
 * directory>/<name>. The module's own directory and its .debug/ stay searched
 * (the leading ":.debug" of libdwfl's path syntax). Set but empty: no debug
 * root at all, which is how a user (or a test) sees what a machine without
 * debug packages shows. Entries that are not absolute are ignored: libdwfl
 * would take them relative to each module's directory, and a '+'/'-' prefix
 * would change its CRC checking. Unset: libdwfl's default. Returns 0 or
 * -ENOMEM. */
static int debug_dirs_from_env(hg_sym_t *s)
{
    const char *env = getenv("HEAPGROW_DEBUG_DIRS");
    if (env == NULL)
        return 0;
    size_t len = strlen(env);
    /* ":.debug", then at most one ':' per entry of env, then the NUL. */
    char *path = malloc(sizeof(":.debug") + len + 1);
    if (path == NULL)
        return -ENOMEM;
    size_t n = (size_t)sprintf(path, ":.debug");
    for (const char *p = env; *p != '\0';) {
        size_t k = strcspn(p, ":");
        if (p[0] == '/') {
            path[n++] = ':';
            memcpy(path + n, p, k);
            n += k;
        }
        p += k;
        if (*p == ':')
            p++;
    }
    path[n] = '\0';
    s->debuginfo_path = path;
    s->callbacks.debuginfo_path = &s->debuginfo_path;
    return 0;
}

int hg_sym_create(hg_sym_t **out)
{
    hg_sym_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    /* Offline by default: with DEBUGINFOD_URLS set (Debian's profile.d sets it
     * when libdebuginfod-common is installed), dwfl_standard_find_debuginfo
     * would download debug files for every module that has none locally, and
     * a report would take minutes or hang without a network. libdwfl reads the
     * variable once, at its first debuginfod lookup. HEAPGROW_DEBUGINFOD=1
     * opts in. */
    const char *opt_in = getenv("HEAPGROW_DEBUGINFOD");
    if (opt_in == NULL || strcmp(opt_in, "1") != 0)
        unsetenv("DEBUGINFOD_URLS");
    s->callbacks.find_elf = dwfl_build_id_find_elf;
    s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    s->callbacks.section_address = dwfl_offline_section_address;
    s->callbacks.debuginfo_path = NULL;
    int rc = debug_dirs_from_env(s);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int hg_sym_set_debuginfo_path(hg_sym_t *s, const char *path)
{
    char *copy = NULL;
    if (path != NULL) {
        copy = strdup(path);
        if (copy == NULL)
            return -ENOMEM;
    }
    free(s->debuginfo_path);
    s->debuginfo_path = copy;
    s->callbacks.debuginfo_path = copy != NULL ? &s->debuginfo_path : NULL;
    return 0;
}

void hg_sym_destroy(hg_sym_t *s)
{
    if (s == NULL)
        return;
    cache_entry_t *e, *etmp;
    HASH_ITER(hh, s->cache, e, etmp) {
        HASH_DEL(s->cache, e);
        free(e->frames);
        free(e);
    }
    HASH_CLEAR(hh, s->by_id);
    for (size_t i = 0; i < s->nmodules; i++) {
        cu_index_free_all(s->modules[i]);
        free(s->modules[i]->cu_spans);
        free(s->modules[i]->syms);
        if (s->modules[i]->dwfl != NULL)
            dwfl_end(s->modules[i]->dwfl);
        free(s->modules[i]);
    }
    free(s->modules);
    free(s->live);
    free(s->warnings);
    intern_t *str, *stmp;
    HASH_ITER(hh, s->strings, str, stmp) {
        HASH_DEL(s->strings, str);
        free(str);
    }
    free(s->debuginfo_path);
    free(s);
}

int hg_sym_add_module(hg_sym_t *s, uint32_t module_id, const char *path, uint64_t bias,
                      uint64_t start, uint64_t end, const uint8_t *build_id, size_t build_id_len)
{
    if (path == NULL || start >= end || build_id_len > HG_MAX_BUILD_ID ||
        (build_id_len > 0 && build_id == NULL))
        return -EINVAL;
    sym_module_t *m = NULL;
    HASH_FIND(hh, s->by_id, &module_id, sizeof(module_id), m);
    if (m != NULL)
        return -EEXIST;
    if (!grow_array(&s->modules, &s->cap_modules, s->nmodules + 1, sizeof(*s->modules)) ||
        !grow_array(&s->live, &s->cap_live, s->nlive + 1, sizeof(*s->live)))
        return -ENOMEM;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return -ENOMEM;
    m->path = intern(s, path);
    if (m->path == NULL) {
        free(m);
        return -ENOMEM;
    }
    m->id = module_id;
    m->bias = bias;
    m->start = start;
    m->end = end;
    if (build_id_len > 0)
        memcpy(m->build_id, build_id, build_id_len);
    m->build_id_len = build_id_len;
    m->is_loaded = true;

    s->modules[s->nmodules++] = m;
    size_t pos = s->nlive;
    while (pos > 0 && s->live[pos - 1]->start > start) {
        s->live[pos] = s->live[pos - 1];
        pos--;
    }
    s->live[pos] = m;
    s->nlive++;
    HASH_ADD(hh, s->by_id, id, sizeof(m->id), m);
    return 0;
}

void hg_sym_remove_module(hg_sym_t *s, uint32_t module_id)
{
    sym_module_t *m = NULL;
    HASH_FIND(hh, s->by_id, &module_id, sizeof(module_id), m);
    if (m == NULL)
        return;
    HASH_DEL(s->by_id, m);
    m->is_loaded = false;
    for (size_t i = 0; i < s->nlive; i++) {
        if (s->live[i] == m) {
            memmove(&s->live[i], &s->live[i + 1], (s->nlive - i - 1) * sizeof(*s->live));
            s->nlive--;
            break;
        }
    }
    /* Its Dwfl stays open: an address no loaded module covers still falls
     * back to it (see find_module). */
}

const char *hg_sym_display_name(hg_sym_t *s, const char *raw)
{
    return clean_name(s, raw);
}

size_t hg_sym_warnings(const hg_sym_t *s, const char *const **lines)
{
    *lines = s->warnings;
    return s->nwarnings;
}

bool hg_sym_file_exports(const char *path, const char *name)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool found = false;
    struct stat st;
    Elf *e = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || elf_version(EV_CURRENT) == EV_NONE ||
        (e = elf_begin(fd, ELF_C_READ_MMAP, NULL)) == NULL || elf_kind(e) != ELF_K_ELF)
        goto out;
    for (Elf_Scn *scn = elf_nextscn(e, NULL); scn != NULL && !found; scn = elf_nextscn(e, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_DYNSYM || sh.sh_entsize == 0)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        size_t n = d != NULL ? sh.sh_size / sh.sh_entsize : 0;
        for (size_t i = 0; i < n && !found; i++) {
            GElf_Sym sym;
            const char *sname;
            if (gelf_getsym(d, (int)i, &sym) == NULL || sym.st_shndx == SHN_UNDEF ||
                (GELF_ST_TYPE(sym.st_info) != STT_FUNC &&
                 GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC) ||
                (GELF_ST_BIND(sym.st_info) != STB_GLOBAL && GELF_ST_BIND(sym.st_info) != STB_WEAK))
                continue;
            sname = elf_strptr(e, sh.sh_link, sym.st_name);
            found = sname != NULL && strcmp(sname, name) == 0;
        }
    }
out:
    if (e != NULL)
        elf_end(e);
    close(fd);
    return found;
}
