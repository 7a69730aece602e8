/*
 * The default unwinder (HEAPGROW_UNWIND=dwarf): libunwind's fast trace, done
 * with a smaller, shared cache.
 *
 * unw_backtrace walks a stack by looking up, for every return address, how
 * that function's frame is laid out (where the caller's CFA, return address
 * and %rbp are), in a per-thread cache it fills from the .eh_frame rules. On
 * this project's machine that costs about 7 ns a frame, most of a traced
 * malloc. The walk below does the same with less: one global table of
 * packed rules (16-byte slots, filled once for the whole process), and a
 * loop that is a hash, a load and two stack reads a frame.
 *
 * A rule is read from the function's FDE, found by libgcc's _Unwind_Find_FDE
 * (the lookup C++ exceptions use), by running its call-frame program up to
 * the return address. Only the plain layouts are taken: the CFA is %rsp or
 * %rbp plus a constant, the return address is at CFA - 8, and %rbp is either
 * untouched or saved at a constant offset from the CFA. The stack ends where
 * the return address is undefined (_start, clone). Everything else (signal
 * frames, CFA expressions, stack realignment, code without an FDE, a table
 * too full to take a rule, a stack that is not the thread's own) hands the
 * whole stack to libunwind, which knows those cases; so the result is the
 * same array of return addresses libunwind would give, only sooner
 * (tests/test_unwind.c compares them).
 *
 * Memory safety does not rest on the rules being right: every read is inside
 * this thread's stack, between the current frame and its top, and each CFA
 * must lie above the previous one, so a wrong rule at worst ends in the
 * libunwind fallback.
 *
 * dlclose can unmap code whose rules are cached and map other code at the same
 * address: hg_unwind_dwarf_forget() (called by the shim's dlclose) moves to a
 * new epoch, part of every key, so that old rules are not found again (the
 * 16-bit epoch comes back after 65,536 dlcloses; the slots old rules hold are
 * not reclaimed, so a program that keeps loading and unloading code ends up
 * with a full table and libunwind's speed, never a wrong rule from an
 * earlier epoch unless the same address holds other code 65,536 epochs
 * later).
 */
#include "unwind.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Frame pointers: the walk starts from this function's own frame. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-omit-frame-pointer")
#endif

/* libgcc_s (unwind-dw2-fde.h): the FDE covering pc, and the bases its pointer
 * encodings are relative to; func is the start of the function. */
struct dwarf_eh_bases {
    void *tbase;
    void *dbase;
    void *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

/* DWARF register numbers of x86-64. */
enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* A packed rule (0 = empty slot, never a rule):
 *   bits 0-1   kind: RULE_STEP, RULE_LAST (no caller), RULE_OTHER (libunwind)
 *   bit  2     the CFA is %rbp + cfa_off (else %rsp + cfa_off)
 *   bit  3     the caller's %rbp is saved at CFA + rbp_off
 *   bits 16-31 rbp_off, signed
 *   bits 32-63 cfa_off, signed */
enum { RULE_STEP = 1, RULE_LAST = 2, RULE_OTHER = 3 };
#define RULE_KIND(r)    ((unsigned)((r)&3u))
#define RULE_CFA_BP     (1u << 2)
#define RULE_RBP_SAVED  (1u << 3)
#define RULE_RBP_OFF(r) ((int64_t)(int16_t)(uint16_t)((r) >> 16))
#define RULE_CFA_OFF(r) ((int64_t)(int32_t)(uint32_t)((r) >> 32))

static uint64_t pack_step(bool is_cfa_bp, int64_t cfa_off, bool is_rbp_saved, int64_t rbp_off)
{
    return RULE_STEP | (is_cfa_bp ? RULE_CFA_BP : 0) | (is_rbp_saved ? RULE_RBP_SAVED : 0) |
           (uint64_t)(uint16_t)(int16_t)rbp_off << 16 | (uint64_t)(uint32_t)(int32_t)cfa_off << 32;
}

/* ------------------------------------------------------------------------ */
/* The call-frame program (DWARF 5 §6.4, and the .eh_frame variant of the   */
/* LSB): just enough of it to know the CFA, %rbp and the return address.    */

typedef struct cursor {
    const uint8_t *p, *end;
    bool is_bad; /* read past end, or an encoding we do not know */
} cursor_t;

static uint64_t get_uleb(cursor_t *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; c->p < c->end; shift += 7) {
        uint8_t b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return v;
    }
    c->is_bad = true;
    return 0;
}

static int64_t get_sleb(cursor_t *c)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (; c->p < c->end; shift += 7) {
        uint8_t b = *c->p++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            if (shift + 7 < 64 && (b & 0x40) != 0)
                v |= ~(uint64_t)0 << (shift + 7);
            return (int64_t)v;
        }
    }
    c->is_bad = true;
    return 0;
}

static uint64_t get_fixed(cursor_t *c, unsigned bytes)
{
    if ((size_t)(c->end - c->p) < bytes) {
        c->is_bad = true;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, bytes); /* little-endian */
    c->p += bytes;
    return v;
}

static void skip(cursor_t *c, uint64_t bytes)
{
    if ((uint64_t)(c->end - c->p) < bytes) {
        c->is_bad = true;
        return;
    }
    c->p += bytes;
}

/* Skips a value of pointer encoding enc (DW_EH_PE_*: the low nibble is the
 * format; the application bits do not change the size). */
static void skip_encoded(cursor_t *c, uint8_t enc)
{
    if (enc == 0xff) /* DW_EH_PE_omit */
        return;
    switch (enc & 0x0f) {
    case 0x00:
        skip(c, sizeof(uintptr_t));
        break; /* absptr */
    case 0x01: /* uleb128 */
    case 0x09:
        (void)get_uleb(c);
        break; /* sleb128 */
    case 0x02: /* udata2 */
    case 0x0a:
        skip(c, 2);
        break; /* sdata2 */
    case 0x03: /* udata4 */
    case 0x0b:
        skip(c, 4);
        break; /* sdata4 */
    case 0x04: /* udata8 */
    case 0x0c:
        skip(c, 8);
        break; /* sdata8 */
    default:
        c->is_bad = true;
        break;
    }
}

/* How one register is recovered in the caller. */
enum { HOW_SAME, HOW_OFFSET, HOW_UNDEFINED, HOW_OTHER };

/* The registers a row follows, by index; the others' rules are skipped. */
enum { R_RBP, R_RSP, R_RA, R_COUNT };

static int index_of(uint64_t reg)
{
    return reg == REG_RBP ? R_RBP : reg == REG_RSP ? R_RSP : reg == REG_RA ? R_RA : -1;
}

typedef struct row {
    uint8_t cfa_reg;
    bool is_cfa_other; /* a CFA expression */
    int64_t cfa_off;
    uint8_t how[R_COUNT];
    int64_t off[R_COUNT]; /* from the CFA, for HOW_OFFSET */
} row_t;

typedef struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint64_t ra_reg;
    uint8_t fde_enc;
    bool has_aug_len, is_signal;
    cursor_t program; /* the initial instructions */
} cie_t;

static bool parse_cie(const uint8_t *at, cie_t *cie)
{
    uint32_t len32;
    memcpy(&len32, at, 4);
    if (len32 == 0 || len32 == 0xffffffffu)
        return false; /* a terminator, or the 64-bit format .eh_frame never uses */
    cursor_t c = {at + 4, at + 4 + len32, false};
    if (get_fixed(&c, 4) != 0)
        return false; /* not a CIE */
    uint8_t version = (uint8_t)get_fixed(&c, 1);
    if (version != 1 && version != 3)
        return false;
    const char *aug = (const char *)c.p;
    size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
    skip(&c, aug_len + 1);
    if (c.is_bad || strstr(aug, "eh") != NULL)
        return false; /* pre-GCC-3 layout */
    cie->code_align = get_uleb(&c);
    cie->data_align = get_sleb(&c);
    cie->ra_reg = version == 1 ? get_fixed(&c, 1) : get_uleb(&c);
    cie->fde_enc = 0; /* absptr */
    cie->has_aug_len = aug[0] == 'z';
    cie->is_signal = false;
    if (cie->has_aug_len) {
        uint64_t n = get_uleb(&c);
        if (c.is_bad || (uint64_t)(c.end - c.p) < n)
            return false;
        cursor_t a = {c.p, c.p + n, false};
        for (const char *s = aug + 1; *s != '\0' && !a.is_bad; s++) {
            if (*s == 'R')
                cie->fde_enc = (uint8_t)get_fixed(&a, 1);
            else if (*s == 'L')
                skip(&a, 1);
            else if (*s == 'P')
                skip_encoded(&a, (uint8_t)get_fixed(&a, 1));
            else if (*s == 'S')
                cie->is_signal = true;
            else if (*s != 'B')
                return false; /* an augmentation we cannot size */
        }
        if (a.is_bad)
            return false;
        c.p += n;
    } else if (aug[0] != '\0') {
        return false;
    }
    cie->program = c;
    return !c.is_bad && cie->fde_enc != 0xff;
}

static void set_reg(row_t *r, uint64_t reg, uint8_t how, int64_t off)
{
    int i = index_of(reg);
    if (i >= 0) {
        r->how[i] = how;
        r->off[i] = off;
    }
}

/* Runs a call-frame program on *row up to (and including) the rows that
 * apply at target, starting at address *loc. init is the row after the CIE's
 * initial instructions (for DW_CFA_restore). Returns false on anything it
 * does not understand. */
static bool run_program(cursor_t c, const cie_t *cie, uintptr_t *loc, uintptr_t target, row_t *row,
                        const row_t *init)
{
    row_t saved[8];
    unsigned depth = 0;
    while (c.p < c.end && !c.is_bad) {
        uint8_t op = *c.p++;
        uint64_t reg, delta = 0;
        switch (op >> 6) {
        case 1:
            delta = op & 0x3f;
            goto advance;
        case 2:
            set_reg(row, op & 0x3f, HOW_OFFSET, (int64_t)get_uleb(&c) * cie->data_align);
            continue;
        case 3:
            reg = op & 0x3f;
            goto restore;
        default:
            break;
        }
        switch (op) {
        case 0x00:
            continue; /* nop */
        case 0x02:
            delta = get_fixed(&c, 1);
            goto advance;
        case 0x03:
            delta = get_fixed(&c, 2);
            goto advance;
        case 0x04:
            delta = get_fixed(&c, 4);
            goto advance;
        case 0x05: /* offset_extended */
            reg = get_uleb(&c);
            set_reg(row, reg, HOW_OFFSET, (int64_t)get_uleb(&c) * cie->data_align);
            continue;
        case 0x06:
            reg = get_uleb(&c);
            goto restore;
        case 0x07:
            set_reg(row, get_uleb(&c), HOW_UNDEFINED, 0);
            continue;
        case 0x08:
            set_reg(row, get_uleb(&c), HOW_SAME, 0);
            continue;
        case 0x09: /* register: reg in another register */
            reg = get_uleb(&c);
            (void)get_uleb(&c);
            set_reg(row, reg, HOW_OTHER, 0);
            continue;
        case 0x0a: /* remember_state */
            if (depth == sizeof saved / sizeof saved[0])
                return false;
            saved[depth++] = *row;
            continue;
        case 0x0b: /* restore_state (the CFA rule included, as GCC emits it
                    * around an epilogue in the middle of a function) */
            if (depth == 0)
                return false;
            *row = saved[--depth];
            continue;
        case 0x0c: /* def_cfa */
            row->cfa_reg = (uint8_t)get_uleb(&c);
            row->cfa_off = (int64_t)get_uleb(&c);
            row->is_cfa_other = false;
            continue;
        case 0x0d:
            row->cfa_reg = (uint8_t)get_uleb(&c);
            continue;
        case 0x0e:
            row->cfa_off = (int64_t)get_uleb(&c);
            continue;
        case 0x0f: /* def_cfa_expression */
            row->is_cfa_other = true;
            skip(&c, get_uleb(&c));
            continue;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = get_uleb(&c);
            set_reg(row, reg, HOW_OTHER, 0);
            skip(&c, get_uleb(&c));
            continue;
        case 0x11: /* offset_extended_sf */
            reg = get_uleb(&c);
            set_reg(row, reg, HOW_OFFSET, get_sleb(&c) * cie->data_align);
            continue;
        case 0x12: /* def_cfa_sf */
            row->cfa_reg = (uint8_t)get_uleb(&c);
            row->cfa_off = get_sleb(&c) * cie->data_align;
            row->is_cfa_other = false;
            continue;
        case 0x13:
            row->cfa_off = get_sleb(&c) * cie->data_align;
            continue;
        case 0x14: /* val_offset */
            reg = get_uleb(&c);
            (void)get_uleb(&c);
            set_reg(row, reg, HOW_OTHER, 0);
            continue;
        case 0x15: /* val_offset_sf */
            reg = get_uleb(&c);
            (void)get_sleb(&c);
            set_reg(row, reg, HOW_OTHER, 0);
            continue;
        case 0x2e:
            (void)get_uleb(&c);
            continue; /* GNU_args_size */
        case 0x2f:    /* GNU_negative_offset_extended */
            reg = get_uleb(&c);
            set_reg(row, reg, HOW_OFFSET, -(int64_t)get_uleb(&c) * cie->data_align);
            continue;
        default:
            return false; /* set_loc and anything newer */
        }
    advance:
        *loc += delta * cie->code_align;
        if (*loc > target)
            return true;
        continue;
    restore:
        if (init == NULL)
            return false; /* DW_CFA_restore in a CIE */
        if (index_of(reg) >= 0)
            set_reg(row, reg, init->how[index_of(reg)], init->off[index_of(reg)]);
    }
    return !c.is_bad;
}

/* The rule for return address ra, from its FDE. */
static uint64_t rule_of(uintptr_t ra)
{
    /* ra follows the call: the call itself (ra - 1) is in the caller's code,
     * even when it is the last instruction of a noreturn call. */
    uintptr_t target = ra - 1;
    struct dwarf_eh_bases bases;
    const uint8_t *fde = _Unwind_Find_FDE((void *)target, &bases);
    if (fde == NULL)
        return RULE_OTHER;
    uint32_t len32, cie_off;
    memcpy(&len32, fde, 4);
    if (len32 == 0 || len32 == 0xffffffffu)
        return RULE_OTHER;
    memcpy(&cie_off, fde + 4, 4);
    cie_t cie;
    if (cie_off == 0 || !parse_cie(fde + 4 - cie_off, &cie) || cie.is_signal ||
        cie.ra_reg != REG_RA)
        return RULE_OTHER;
    cursor_t c = {fde + 8, fde + 4 + len32, false};
    skip_encoded(&c, cie.fde_enc); /* pc_begin: bases.func has it decoded */
    skip_encoded(&c, cie.fde_enc & 0x0f);
    if (cie.has_aug_len)
        skip(&c, get_uleb(&c));
    if (c.is_bad)
        return RULE_OTHER;

    row_t row = {.cfa_reg = REG_RSP,
                 .how = {[R_RBP] = HOW_SAME, [R_RSP] = HOW_SAME, [R_RA] = HOW_UNDEFINED}};
    uintptr_t loc = (uintptr_t)bases.func;
    if (!run_program(cie.program, &cie, &loc, UINTPTR_MAX, &row, NULL))
        return RULE_OTHER;
    row_t init = row;
    loc = (uintptr_t)bases.func;
    if (!run_program(c, &cie, &loc, target, &row, &init))
        return RULE_OTHER;

    if (row.how[R_RA] == HOW_UNDEFINED)
        return RULE_LAST;
    uint8_t rbp_how = row.how[R_RBP];
    int64_t rbp_off = row.off[R_RBP];
    if (row.is_cfa_other || (row.cfa_reg != REG_RSP && row.cfa_reg != REG_RBP) ||
        row.how[R_RA] != HOW_OFFSET || row.off[R_RA] != -8 || row.how[R_RSP] != HOW_SAME ||
        (rbp_how != HOW_SAME && rbp_how != HOW_OFFSET) || row.cfa_off <= 0 ||
        row.cfa_off > INT32_MAX || rbp_off < INT16_MIN || rbp_off > INT16_MAX)
        return RULE_OTHER;
    return pack_step(row.cfa_reg == REG_RBP, row.cfa_off, rbp_how == HOW_OFFSET, rbp_off);
}

/* ------------------------------------------------------------------------ */
/* The rule cache                                                           */

/* Open addressing, linear probing, never deleted. A slot is claimed by a CAS
 * of its key (0 -> key), then its rule is stored (release); a reader that
 * finds the key but a rule of 0 treats it as a miss and computes the rule
 * itself. Keys are return addresses (below 2^48 in user space) with the
 * epoch in the top 16 bits. 2^14 slots (256 KiB of .bss, touched only where
 * used) hold the frames of far more call sites than a program allocates
 * from; a rule that finds no slot within PROBE_MAX sends its stack to
 * libunwind. */
#define CACHE_BITS  14
#define CACHE_SLOTS (1u << CACHE_BITS)
#define PROBE_MAX   16u
#define EPOCH_SHIFT 48

typedef struct slot {
    _Atomic uint64_t key;
    _Atomic uint64_t rule;
} slot_t;

static slot_t cache[CACHE_SLOTS];
static _Atomic uint64_t epoch_key = (uint64_t)1 << EPOCH_SHIFT;
static _Atomic uint64_t fallback_count;

static inline uint32_t home_of(uint64_t key)
{
    return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - CACHE_BITS));
}

/* The rule of ra, cached; 0 when the cache had no room. */
__attribute__((noinline)) static uint64_t miss(uint64_t key, uintptr_t ra)
{
    uint64_t rule = rule_of(ra);
    uint32_t i = home_of(key);
    for (uint32_t n = 0; n < PROBE_MAX; n++, i = (i + 1) & (CACHE_SLOTS - 1)) {
        uint64_t k = atomic_load_explicit(&cache[i].key, memory_order_relaxed);
        if (k == 0 && atomic_compare_exchange_strong_explicit(
                          &cache[i].key, &k, key, memory_order_relaxed, memory_order_relaxed))
            k = key;
        if (k == key) {
            /* release: pairs with the acquire load in lookup(); a rule is the
             * same whoever computes it, so racing stores agree. */
            atomic_store_explicit(&cache[i].rule, rule, memory_order_release);
            return rule;
        }
    }
    return 0;
}

static inline uint64_t lookup(uint64_t key, uintptr_t ra)
{
    uint32_t i = home_of(key);
    for (uint32_t n = 0; n < PROBE_MAX; n++, i = (i + 1) & (CACHE_SLOTS - 1)) {
        uint64_t k = atomic_load_explicit(&cache[i].key, memory_order_relaxed);
        if (__builtin_expect(k == key, 1)) {
            uint64_t rule = atomic_load_explicit(&cache[i].rule, memory_order_acquire);
            return rule != 0 ? rule : miss(key, ra);
        }
        if (k == 0)
            break;
    }
    return miss(key, ra);
}

void hg_unwind_dwarf_forget(void)
{
    atomic_fetch_add_explicit(&epoch_key, (uint64_t)1 << EPOCH_SHIFT, memory_order_relaxed);
}

uint64_t hg_unwind_dwarf_fallback_count(void)
{
    return atomic_load_explicit(&fallback_count, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                 */

/* The rules this thread's last walk used, by depth: consecutive stacks of a
 * thread share most of their frames, and a hit here (same return address at
 * the same depth, same epoch) is a load from two or three cache lines the
 * walk reads in order, where a hash lookup would miss the cache. A memo of
 * rules, not of stacks: every frame is still read from the stack. */
#define MEMO_DEPTH 64

typedef struct memo_entry {
    uint64_t key; /* ra | epoch, 0 = none */
    uint64_t rule;
} memo_entry_t;

static __thread memo_entry_t memo[MEMO_DEPTH] __attribute__((tls_model("initial-exec")));

__attribute__((noinline)) int hg_unwind_dwarf(uintptr_t *frames, int max)
{
    uintptr_t lo, hi;
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    if (max <= 0 || !hg_unwind_thread_stack(&lo, &hi) || fp < lo || fp > hi - 16)
        return -1;
    /* This function's frame: saved %rbp at fp, return address above it. */
    const uintptr_t *link = (const uintptr_t *)fp;
    uintptr_t rbp = link[0];
    uintptr_t ra = link[1];
    uintptr_t sp = fp + 16; /* the caller's %rsp = this frame's CFA */
    uint64_t epoch = atomic_load_explicit(&epoch_key, memory_order_relaxed);
    int n = 0;
    while (ra != 0) {
        frames[n++] = ra;
        if (n == max)
            break;
        if (__builtin_expect(ra >> EPOCH_SHIFT != 0, 0))
            return -1;
        uint64_t key = ra | epoch, rule;
        memo_entry_t *m = n <= MEMO_DEPTH ? &memo[n - 1] : NULL;
        if (__builtin_expect(m != NULL && m->key == key, 1)) {
            rule = m->rule;
        } else {
            rule = lookup(key, ra);
            if (m != NULL && rule != 0) {
                m->key = key;
                m->rule = rule;
            }
        }
        unsigned kind = RULE_KIND(rule);
        if (__builtin_expect(kind != RULE_STEP, 0)) {
            if (kind == RULE_LAST)
                break;
            return -1; /* RULE_OTHER, or no room to cache it */
        }
        uintptr_t cfa = ((rule & RULE_CFA_BP) != 0 ? rbp : sp) + (uintptr_t)RULE_CFA_OFF(rule);
        /* Moves outward, and the words read stay inside the stack. */
        if (__builtin_expect(cfa <= sp || cfa > hi || (cfa & 7) != 0, 0))
            return -1;
        if ((rule & RULE_RBP_SAVED) != 0) {
            uintptr_t at = cfa + (uintptr_t)RULE_RBP_OFF(rule);
            if (__builtin_expect(at < sp || at > hi - sizeof(uintptr_t) || (at & 7) != 0, 0))
                return -1;
            rbp = *(const uintptr_t *)at;
        }
        ra = ((const uintptr_t *)cfa)[-1];
        sp = cfa;
    }
    return n;
}

int hg_unwind_dwarf_capture(void **frames, int max)
{
    int n = hg_unwind_dwarf((uintptr_t *)frames, max);
    if (__builtin_expect(n >= 0, 1))
        return n;
    atomic_fetch_add_explicit(&fallback_count, 1, memory_order_relaxed);
    return hg_unwind_libunwind(frames, max);
}
