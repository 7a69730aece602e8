/*
 * Offline symbolization with elfutils libdwfl: turns a return address recorded
 * in a trace into source-level frames (function, file, line, module), inlined
 * frames included. Modules come from the trace's module map; nothing is read
 * from the traced process. Every address is resolved once (cache).
 *
 * A wrong name is worse than none: a frame gets a function name only from a
 * symbol whose extent contains the address (.symtab, .dynsym, MiniDebugInfo, a
 * separate debug file found by build-id) or from DWARF; otherwise function is
 * NULL and the report prints module+0xoffset.
 *
 * Names are stable across machines: a C function that debug information names
 * by a reserved identifier with a public alias of the same extent is shown by
 * the alias ("malloc", not glibc's "__libc_malloc"), as without debug files;
 * among ELF aliases the public, then global, then shorter name wins. Debug
 * files are found locally only (build-id under the debuginfo path, or
 * .gnu_debuglink); debuginfod is used only with HEAPGROW_DEBUGINFOD=1.
 * HEAPGROW_DEBUG_DIRS (colon-separated absolute directories, read by
 * hg_sym_create) replaces the default debug root /usr/lib/debug; set but empty,
 * only files beside the module are used.
 */
#ifndef HEAPGROW_ANALYZER_SYMBOLIZE_H
#define HEAPGROW_ANALYZER_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hg_sym hg_sym_t;

/* One source-level frame. Strings are owned by the hg_sym_t (interned) and live
 * until hg_sym_destroy. */
typedef struct hg_frame_info {
    const char *function;   /* demangled, clone suffixes (.constprop.0, .isra.0,
                               .part.0, .cold, .lto_priv.0) dropped; NULL when
                               unknown */
    const char *file;       /* source file, NULL when unknown */
    uint32_t line;          /* 0 when unknown */
    const char *module;     /* path of the module, NULL when the address is in
                               no known module */
    uint64_t address;       /* the address as recorded in the trace */
    uint64_t module_offset; /* address - module load bias (for module+0x...) */
    bool is_inlined;        /* this frame was inlined into the next one */
    bool is_build_id_mismatch; /* the file on disk is not the traced one */
} hg_frame_info_t;

/* Returns 0 or -errno. Unless HEAPGROW_DEBUGINFOD=1, unsets DEBUGINFOD_URLS in
 * the environment of the (analyzer) process, so that libdwfl never downloads
 * debug files: symbolization stays offline and fast. Reads HEAPGROW_DEBUG_DIRS
 * (see above) into the debuginfo path; hg_sym_set_debuginfo_path overrides it. */
int hg_sym_create(hg_sym_t **out);
void hg_sym_destroy(hg_sym_t *s);

/* Declares a module mapped at [start, end) with load bias `bias` (the trace's
 * MODULE_LOAD). The file is opened lazily on first use. A build-id that differs
 * from the file's marks its frames and adds one warning. Returns 0 or -errno. */
int hg_sym_add_module(hg_sym_t *s, uint32_t module_id, const char *path, uint64_t bias,
                      uint64_t start, uint64_t end, const uint8_t *build_id,
                      size_t build_id_len);

/* The module's address range is no longer valid for addresses resolved after
 * this call (MODULE_UNLOAD). Results already returned stay valid. An address
 * that no loaded module covers still resolves in the most recently declared
 * unloaded module that covered it: the tracer may write a stack after the
 * dlclose that unmapped its library. The module_id may be declared again. */
void hg_sym_remove_module(hg_sym_t *s, uint32_t module_id);

/* Where libdwfl looks for separate debug files (its debuginfo_path syntax:
 * colon-separated, e.g. ":.debug:/usr/lib/debug", which is the default, used
 * when path is NULL). Applies to modules opened after the call. Returns 0 or
 * -errno. */
int hg_sym_set_debuginfo_path(hg_sym_t *s, const char *path);

/* Resolves `address` into up to `max` frames, innermost first: inlined callees
 * first, then the function that contains them (all with the same address). For
 * a return address the lookup uses address - 1, the call instruction. Every
 * frame heapgrow's tracer records is one, the innermost included (the shim's
 * own frames are dropped, so it is where malloc returns to); looking that one
 * up as-is can miss the inlined function that made the call. Always yields at
 * least one frame when max >= 1 (an unknown address gives function = NULL).
 * With fewer than the frames there are, the innermost ones are written.
 * Returns the number of frames written. */
size_t hg_sym_resolve(hg_sym_t *s, uint64_t address, bool is_return_address,
                      hg_frame_info_t *out, size_t max);

/* Whether the ELF file at `path` defines a function `name` in its dynamic
 * symbol table, i.e. other objects can bind to it (model.c asks this of the
 * objects that come before the tracer in the lookup order: one that defines
 * malloc takes the allocations the tracer would see). Reads the file (a
 * regular file only; never blocks on a FIFO); false when it cannot. */
bool hg_sym_file_exports(const char *path, const char *name);

/* Warnings collected so far (build-id mismatches, unreadable modules), one line
 * each, owned by s. */
size_t hg_sym_warnings(const hg_sym_t *s, const char *const **lines);

/* The displayed form of a raw symbol name, as frames show it: compiler clone
 * suffixes dropped (".constprop.0", ".isra.0", ".part.0", ".cold",
 * ".lto_priv.0", chains like ".constprop.0.isra.0"), then demangled when it is
 * a C++ name. Interned in s (lives until hg_sym_destroy); NULL for NULL, "" or
 * out of memory. */
const char *hg_sym_display_name(hg_sym_t *s, const char *raw);

/* Not thread-safe: one hg_sym_t is used by one thread at a time. */

#endif /* HEAPGROW_ANALYZER_SYMBOLIZE_H */
