/*
 * Symbolizer fixture library (C), dlopen'ed by tests/test_symbolize.c. Each
 * scenario calls hg_fix_record(slot), which stores its own return address: an
 * address inside the caller, on the line marked LINE-MARK, exactly like the
 * return address of a malloc call in a traced stack. The test reads the marks
 * from this file to know the expected lines. Built -O2 -g (see
 * tests/meson.build); the asm barrier after each call keeps it from becoming a
 * tail call, which would leave no return address in the caller. Also built by
 * clang and with other DWARF versions (test_dwarf_variants), where gcc-only
 * things (noipa, -fno-toplevel-reorder) do not apply: those variants check the
 * three DWARF frames only.
 */
#include <stdint.h>

#define HG_FIX_SLOTS 16

__attribute__((visibility("default"))) uintptr_t hg_fix_ret[HG_FIX_SLOTS];

#define BARRIER() __asm__ volatile("" ::: "memory")

__attribute__((visibility("default"), noinline, noipa)) void hg_fix_record(int slot);
__attribute__((visibility("default"), noinline, noipa)) void hg_fix_record(int slot)
{
    hg_fix_ret[slot] = (uintptr_t)__builtin_return_address(0);
}

/* Exported, right before the static function in .text: the fixture is built
 * with -fno-toplevel-reorder, and the test checks the order itself. */
__attribute__((visibility("default"), noinline)) void hg_fix_exported_before(void);
__attribute__((visibility("default"), noinline)) void hg_fix_exported_before(void)
{
    hg_fix_record(0); /* LINE-MARK: exported_before */
    BARRIER();
}

/* An exported label without a size, between the two: libdwfl offers such a
 * symbol for any address above it, but nothing says where its code ends, so
 * it must not name static_fn either. (Top-level asm stays in place thanks to
 * -fno-toplevel-reorder.) */
__asm__(".text\n"
        ".globl hg_fix_sizeless\n"
        ".type hg_fix_sizeless, @function\n"
        "hg_fix_sizeless:\n"
        "\tnop\n");

/* A static function: in a copy stripped down to .dynsym it has no symbol, and
 * must not be named after hg_fix_exported_before or hg_fix_sizeless. */
static __attribute__((noinline)) void static_fn(int n)
{
    for (int i = 0; i < n; i++)
        BARRIER();
    hg_fix_record(1); /* LINE-MARK: static_fn */
    BARRIER();
}

__attribute__((visibility("default"), noinline)) void hg_fix_exported_after(int n);
__attribute__((visibility("default"), noinline)) void hg_fix_exported_after(int n)
{
    static_fn(n);
    BARRIER();
}

/* Inlined into outer_fn even without optimization. */
static inline __attribute__((always_inline)) void inlined_fn(void)
{
    hg_fix_record(2); /* LINE-MARK: inlined_fn */
    BARRIER();
}

__attribute__((visibility("default"), noinline)) void hg_fix_outer(void);
__attribute__((visibility("default"), noinline)) void hg_fix_outer(void)
{
    BARRIER();
    inlined_fn(); /* LINE-MARK: outer_fn */
    BARRIER();
}

/* A function defined under a reserved name with a public alias of the same
 * extent, as glibc defines __libc_malloc and malloc: frames show the public
 * name whether or not debug information is there. */
__attribute__((visibility("default"), noinline)) void __hg_fix_impl(void);
__attribute__((visibility("default"), noinline)) void __hg_fix_impl(void)
{
    hg_fix_record(6); /* LINE-MARK: __hg_fix_impl */
    BARRIER();
}
__attribute__((visibility("default"), alias("__hg_fix_impl"))) void hg_fix_public(void);
