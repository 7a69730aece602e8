/*
 * Symbolizer fixture: functions that gcc -O2 emits as clones with a suffixed
 * symbol name (clone_fn.constprop.0, part_fn.part.0). Built apart from fix.c
 * because fix.c needs -fno-toplevel-reorder, which also stops these clones.
 * The test asserts the suffixed names in .symtab, so a compiler that stops
 * cloning fails loudly instead of testing nothing.
 */
#include <stdint.h>

void hg_fix_record(int slot);
int hg_fix_clone(int x);

#define BARRIER() __asm__ volatile("" ::: "memory")

/* Always called with mode == 7: IPA constant propagation clones it. */
static __attribute__((noinline)) int clone_fn(int mode, int x)
{
    int r = x;
    if (mode == 7) {
        hg_fix_record(3); /* LINE-MARK: clone_fn */
        BARRIER();
        r += mode;
    }
    for (int i = 0; i < x; i++) {
        BARRIER();
        r ^= i * mode;
    }
    return r;
}

__attribute__((visibility("default"), noinline)) int hg_fix_clone(int x)
{
    int r = clone_fn(7, x);
    BARRIER();
    r += clone_fn(7, x + 1);
    BARRIER();
    return r;
}
