/*
 * Reachability of the live set (reach.h), the way valgrind's memcheck
 * classifies leaks. docs/LEAKS.md says what is and is not seen.
 *
 * Parent side (the calling thread, shim guard set): collect the roots while
 * the process still has its threads and the loader is usable:
 *   - the writable PT_LOAD segments (.data, .bss, .got) of every loaded
 *     module except libheapgrow itself (its tables hold every block address);
 *   - the calling thread's stack from its stack pointer up, and its static TLS
 *     (for the main thread that block is outside the stack mapping);
 *   - every other thread blocked in a system call: /proc/self/task/T/syscall
 *     gives its user stack pointer; its stack is scanned from there up to its
 *     thread control block (glibc puts static TLS and the TCB at the top of a
 *     thread's stack mapping). Running threads (no stack pointer to be had) and
 *     the thread named by exclude_tid (the writer) are not roots.
 *   - the program's anonymous private read-write mappings (its mmap'ed pools,
 *     ld.so's early memory), as valgrind scans them, except: those holding a
 *     block (malloc's arenas, whose freed chunks hold stale pointers, and its
 *     mmap'ed chunks), those holding a thread stack scanned precisely, the
 *     writer thread's stack, and the tracer's own memory, which os.c marks
 *     MADV_DONTDUMP ("dd" in /proc/self/smaps): its tables hold every block's
 *     address and would make everything reachable.
 * Each range is clipped to the readable mappings of /proc/self/smaps.
 *
 * Then clone() without CLONE_VM and without glibc's fork (no atfork handlers:
 * the tracer must not start a trace for this child): the child owns a
 * copy-on-write snapshot of the heap. It only reads memory, computes in mmap'd
 * scratch, makes no call that could allocate or take a lock of the parent,
 * writes per-stack totals into a MAP_SHARED mapping, wakes the parent with a
 * futex and exits. The parent waits a bounded time, then kills it.
 *
 * Classification (memcheck's mc_leakcheck.c semantics, reimplemented):
 *   1. A word in a root that equals a block's start makes it REACHABLE; a word
 *      pointing inside it (start excluded, end excluded) makes it POSSIBLE
 *      unless already REACHABLE. Blocks are then scanned transitively: a start
 *      pointer found in a REACHABLE block passes REACHABLE on; any pointer
 *      found in a POSSIBLE block, and any interior pointer, passes only
 *      POSSIBLE on. An upgrade POSSIBLE -> REACHABLE rescans the block.
 *   2. The blocks still unreached are lost. In address order, each unreached
 *      block starts a "clique": every unreached block reachable from it (by
 *      start or interior pointers, transitively) becomes INDIRECT and the
 *      leader stays DEFINITE (lost). A later leader that reaches an earlier
 *      clique's leader absorbs it (the earlier leader becomes indirect): so a
 *      list that lost its head gives 1 definite + n-1 indirect, and a cycle
 *      gives 1 definite (its lowest address) + the rest indirect.
 * Zero-size blocks are reached only by a pointer equal to their address.
 */
#include "reach.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

#define PAGE_BYTES     4096u
#define WORD_BYTES     sizeof(uintptr_t)
#define TCB_BYTES      2304u /* glibc 2.36 x86-64 sizeof(struct pthread), rounded */
/* Root ranges: writable module segments, two per thread (stack and TLS),
 * link maps. 65,536 covers 30,000 threads; the array is touched page by page
 * as it fills. */
#define MAX_ROOTS      65536u
#define MAPS_BYTES     ((size_t)4 << 20)
#define MAPS_MAX_BYTES ((size_t)1 << 30)

enum { ST_UNREACHED = 0, ST_POSSIBLE = 1, ST_REACHABLE = 2, ST_INDIRECT = 3 };

typedef struct block {
    uintptr_t addr;
    uint64_t size;
    uint32_t stack_id;
    uint32_t state;
    uint64_t clique; /* leader index + 1 while in phase 2, else 0 */
} block_t;

typedef struct range {
    uintptr_t lo;
    uintptr_t hi;
    bool is_thread_stack; /* clip at the thread control block (in the child) */
    bool is_start_only;   /* only start pointers count (libc's data: see module_cb) */
} range_t;

/* Shared with the child (MAP_SHARED). */
typedef struct shared_hdr {
    _Atomic uint32_t done; /* 0 running, 1 done (futex word) */
    uint32_t status;       /* 0 ok, else a positive errno     */
    uint64_t n;            /* stats written                   */
    uint64_t nblocks;
    uint64_t cap;          /* stats capacity = blocks capacity */
} shared_hdr_t;

/* The parent's collection, read by the child. */
typedef struct scan {
    range_t *maps; /* readable mappings, address order */
    size_t nmaps;
    size_t maps_len; /* bytes mapped for maps */
    range_t *roots;
    size_t nroots;
    range_t *anon; /* the program's anonymous read-write mappings */
    size_t nanon;
    uintptr_t private_stack; /* an address on the writer thread's stack */
    uint32_t threads_unseen;
    /* child scratch */
    block_t *blocks;
    size_t nblocks;
    size_t cap;
    uint32_t *stack;
    size_t nstack;
    uintptr_t lo_addr, hi_addr; /* span of all blocks */
} scan_t;

static size_t page_up(size_t n)
{
    return (n + PAGE_BYTES - 1) & ~(size_t)(PAGE_BYTES - 1);
}

/* ------------------------------------------------------------------------ */
/* Parsing helpers (no libc that could allocate)                             */

static const char *parse_hex(const char *p, const char *end, uintptr_t *out)
{
    uintptr_t v = 0;
    if (p + 1 < end && p[0] == '0' && p[1] == 'x')
        p += 2;
    for (; p < end; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else
            break;
        v = v * 16 + (uintptr_t)d;
    }
    *out = v;
    return p;
}

/* Reads a /proc file into an mmap'd buffer of `cap` bytes (*len bytes read,
 * NUL-terminated; at most cap - 1, so *len == cap - 1 may mean truncated).
 * Returns it or NULL. */
static char *slurp(const char *path, size_t cap, size_t *len)
{
    int fd = hg_os.open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    char *buf = hg_os_map(cap);
    size_t n = 0;
    if (buf != NULL) {
        while (n < cap - 1) {
            ssize_t r = hg_os.read(fd, buf + n, cap - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        buf[n] = '\0';
    }
    hg_os.close(fd);
    *len = n;
    return buf;
}

/* /proc/self/smaps whole (about 700 bytes per mapping): a buffer of MAPS_BYTES,
 * read again in one 4 times larger while it comes back full, up to
 * MAPS_MAX_BYTES. A mapping cut off would be a root missed, and blocks only
 * it points to would be called lost; past the limit the scan is not made
 * (NULL, *cap 0). *cap: the buffer's size, for hg_os_unmap. */
static char *slurp_smaps(size_t *len, size_t *cap)
{
    for (size_t c = MAPS_BYTES; c <= MAPS_MAX_BYTES; c *= 4) {
        char *buf = slurp("/proc/self/smaps", c, len);
        if (buf == NULL)
            break;
        if (*len < c - 1) {
            *cap = c;
            return buf;
        }
        hg_os_unmap(buf, c);
    }
    *cap = 0;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Roots (parent)                                                            */

static void add_root_ex(scan_t *s, uintptr_t lo, uintptr_t hi, bool is_thread_stack,
                        bool is_start_only)
{
    lo = (lo + WORD_BYTES - 1) & ~(uintptr_t)(WORD_BYTES - 1);
    if (hi <= lo || s->nroots >= MAX_ROOTS)
        return;
    /* Clip to the readable mappings. */
    for (size_t i = 0; i < s->nmaps && s->nroots < MAX_ROOTS; i++) {
        uintptr_t a = s->maps[i].lo > lo ? s->maps[i].lo : lo;
        uintptr_t b = s->maps[i].hi < hi ? s->maps[i].hi : hi;
        if (a < b)
            s->roots[s->nroots++] = (range_t){a, b, is_thread_stack, is_start_only};
    }
}

static void add_root(scan_t *s, uintptr_t lo, uintptr_t hi, bool is_thread_stack)
{
    add_root_ex(s, lo, hi, is_thread_stack, false);
}

static bool has_libc_name(const char *path)
{
    const char *base = path;
    for (const char *p = path; *p; p++)
        if (*p == '/')
            base = p + 1;
    return strncmp(base, "libc.so", 7) == 0 || strncmp(base, "libc-", 5) == 0;
}

/* End of the mapping that contains addr (0 when none). */
static const range_t *mapping_of(const scan_t *s, uintptr_t addr)
{
    for (size_t i = 0; i < s->nmaps; i++)
        if (addr >= s->maps[i].lo && addr < s->maps[i].hi)
            return &s->maps[i];
    return NULL;
}

/* Parses /proc/self/smaps: the readable mappings (merged when adjacent),
 * and the candidates for anonymous roots: private read-write mappings without
 * a name and without the "dd" flag (the tracer's own carry it: os.c). */
static int read_maps(scan_t *s, char *buf, size_t len)
{
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    s->maps_len = lines * sizeof(range_t);
    s->maps = hg_os_map(s->maps_len);
    s->anon = hg_os_map(s->maps_len);
    if (s->maps == NULL || s->anon == NULL)
        return -ENOMEM;
    const char *p = buf, *end = buf + len;
    bool is_candidate = false;
    uintptr_t cand_lo = 0, cand_hi = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if (eol - p > 8 && memcmp(p, "VmFlags:", 8) == 0) {
            bool is_dd = false;
            for (const char *f = p + 8; f + 2 <= eol; f++)
                if (f[-1] == ' ' && f[0] == 'd' && f[1] == 'd' && (f + 2 == eol || f[2] == ' '))
                    is_dd = true;
            if (is_candidate && !is_dd)
                s->anon[s->nanon++] = (range_t){cand_lo, cand_hi, false, false};
            is_candidate = false;
            p = eol + 1;
            continue;
        }
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            p = eol + 1; /* another smaps field */
            continue;
        }
        uintptr_t lo, hi;
        const char *q = parse_hex(p, eol, &lo);
        if (q < eol && *q == '-') {
            q = parse_hex(q + 1, eol, &hi);
            /* "lo-hi rw-p offset dev inode [path]" */
            is_candidate = false;
            if (q + 5 < eol && memcmp(q + 1, "rw-p", 4) == 0 && hi > lo) {
                int field = 0;
                const char *f = q + 5;
                bool is_named = false, is_inode = false;
                while (f < eol) {
                    while (f < eol && *f == ' ')
                        f++;
                    if (f >= eol)
                        break;
                    field++;
                    if (field == 3 && !(f[0] == '0' && (f + 1 == eol || f[1] == ' ')))
                        is_inode = true;
                    if (field >= 4)
                        is_named = true;
                    while (f < eol && *f != ' ')
                        f++;
                }
                is_candidate = !is_named && !is_inode;
                cand_lo = lo;
                cand_hi = hi;
            }
            if (q + 1 < eol && q[1] == 'r' && hi > lo) {
                /* Merge adjacent readable mappings. */
                if (s->nmaps > 0 && s->maps[s->nmaps - 1].hi == lo)
                    s->maps[s->nmaps - 1].hi = hi;
                else
                    s->maps[s->nmaps++] = (range_t){lo, hi, false, false};
            }
        }
        p = eol + 1;
    }
    return 0;
}

static int module_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    scan_t *s = arg;
    uintptr_t self = (uintptr_t)&hg_reach_scan;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && self >= lo && self < lo + ph->p_memsz)
            return 0; /* libheapgrow: its tables are not roots */
    }
    /* glibc malloc's main arena lives in libc's .data: its pointers to chunk
     * headers (the top chunk, free lists) fall 16 bytes before a chunk, often
     * inside the requested size of the block before it. valgrind has no such
     * words (it replaces malloc), so from libc's data only start pointers
     * count (libc's real references to blocks, e.g. stdio buffers, are). */
    bool is_libc = info->dlpi_name != NULL && has_libc_name(info->dlpi_name);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        add_root_ex(s, lo, lo + ph->p_memsz, false, is_libc);
    }
    return 0;
}

/* Stacks of the other threads that sit in a system call. */
static void add_other_threads(scan_t *s, int self_tid, int exclude_tid)
{
    int dfd = hg_os.open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dfd < 0)
        return;
    char *dents = hg_os_map(64 * 1024);
    if (dents == NULL) {
        hg_os.close(dfd);
        return;
    }
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, dents, 64 * 1024);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(dents + off);
            off += d->d_reclen;
            long tid = 0;
            const char *q = d->d_name;
            for (; *q >= '0' && *q <= '9'; q++)
                tid = tid * 10 + (*q - '0');
            if (*q != '\0' || tid == 0 || tid == self_tid || tid == exclude_tid)
                continue;
            char path[64] = "/proc/self/task/";
            size_t pl = strlen(path);
            memcpy(path + pl, d->d_name, (size_t)(q - d->d_name));
            memcpy(path + pl + (size_t)(q - d->d_name), "/syscall", 9);
            size_t len = 0;
            /* The writer thread, also before it recorded its tid: by name. */
            memcpy(path + pl + (size_t)(q - d->d_name), "/comm", 6);
            char *comm = slurp(path, PAGE_BYTES, &len);
            bool is_writer = comm != NULL && len >= 15 && memcmp(comm, "heapgrow-writer", 15) == 0;
            if (comm != NULL)
                hg_os_unmap(comm, PAGE_BYTES);
            if (is_writer)
                continue;
            memcpy(path + pl + (size_t)(q - d->d_name), "/syscall", 9);
            char *text = slurp(path, PAGE_BYTES, &len);
            if (text == NULL) {
                s->threads_unseen++;
                continue;
            }
            /* "nr a1 a2 a3 a4 a5 a6 sp pc", "-1 sp pc", or "running". */
            const char *p = text, *end = text + len;
            const char *tok[9];
            int ntok = 0;
            while (p < end && ntok < 9) {
                while (p < end && (*p == ' ' || *p == '\n'))
                    p++;
                if (p >= end)
                    break;
                tok[ntok++] = p;
                while (p < end && *p != ' ' && *p != '\n')
                    p++;
            }
            uintptr_t sp = 0;
            if (ntok == 3 && tok[0][0] == '-')
                parse_hex(tok[1], end, &sp);
            else if (ntok == 9)
                parse_hex(tok[7], end, &sp);
            const range_t *m = sp ? mapping_of(s, sp) : NULL;
            if (m != NULL)
                add_root(s, sp, m->hi, true);
            else
                s->threads_unseen++;
            hg_os_unmap(text, PAGE_BYTES);
        }
    }
    hg_os_unmap(dents, 64 * 1024);
    hg_os.close(dfd);
}

static uintptr_t current_sp(void)
{
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
    volatile char here;
    sp = (uintptr_t)&here;
#endif
    return sp;
}

/* The loader's link maps of the modules loaded at start live in its own
 * memory (not blocks), yet point to the maps of dlopen'ed modules (blocks):
 * each is a root, as valgrind sees them in the loader's mappings. */
#define LINK_MAP_BYTES 1152u /* glibc 2.36 x86-64 sizeof(struct link_map), rounded */

static void add_link_maps(scan_t *s)
{
    size_t n = 0;
    for (struct link_map *l = _r_debug.r_map; l != NULL && n < 4096; l = l->l_next, n++)
        add_root(s, (uintptr_t)l, (uintptr_t)l + LINK_MAP_BYTES, false);
}

/* Static TLS of the calling thread when it is not inside its stack mapping
 * (the main thread: ld.so allocates it). */
static void add_self_tls(scan_t *s, uintptr_t stack_lo, uintptr_t stack_hi)
{
    uintptr_t tp = (uintptr_t)__builtin_thread_pointer();
    if (tp >= stack_lo && tp < stack_hi)
        return;
    size_t tls_bytes = 4 * PAGE_BYTES, align = 0;
    void (*info)(size_t *, size_t *) =
        (void (*)(size_t *, size_t *))dlsym(RTLD_DEFAULT, "_dl_get_tls_static_info");
    if (info != NULL)
        info(&tls_bytes, &align);
    add_root(s, tp > tls_bytes ? tp - tls_bytes : 0, tp + TCB_BYTES, false);
}

/* ------------------------------------------------------------------------ */
/* The child                                                                 */

static int collect_cb(const hg_live_entry_t *e, void *arg)
{
    scan_t *s = arg;
    if (s->nblocks >= s->cap)
        return 1;
    s->blocks[s->nblocks++] = (block_t){e->address, e->size, e->stack_id, ST_UNREACHED, 0};
    return 0;
}

typedef int (*cmp_fn)(const block_t *, const block_t *);

static int by_addr(const block_t *a, const block_t *b)
{
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

static int by_stack(const block_t *a, const block_t *b)
{
    return a->stack_id < b->stack_id ? -1 : a->stack_id > b->stack_id;
}

static void sift(block_t *v, size_t root, size_t n, cmp_fn cmp)
{
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            return;
        if (c + 1 < n && cmp(&v[c], &v[c + 1]) < 0)
            c++;
        if (cmp(&v[root], &v[c]) >= 0)
            return;
        block_t t = v[root];
        v[root] = v[c];
        v[c] = t;
        root = c;
    }
}

/* Heapsort: no recursion, no allocation (qsort may malloc). */
static void sort_blocks(block_t *v, size_t n, cmp_fn cmp)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(v, i, n, cmp);
    for (size_t end = n; end-- > 1;) {
        block_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift(v, 0, end, cmp);
    }
}

/* Index of the block that `p` points into, or -1; *is_start says whether
 * it points at the start. */
static long find_block(const scan_t *s, uintptr_t p, bool *is_start)
{
    if (p < s->lo_addr || p >= s->hi_addr)
        return -1;
    size_t lo = 0, hi = s->nblocks; /* last block with addr <= p */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->blocks[mid].addr <= p)
            lo = mid;
        else
            hi = mid;
    }
    const block_t *b = &s->blocks[lo];
    if (p == b->addr) {
        *is_start = true;
        return (long)lo;
    }
    if (p > b->addr && p - b->addr < b->size) {
        *is_start = false;
        return (long)lo;
    }
    return -1;
}

static void push(scan_t *s, size_t i)
{
    if (s->nstack < 2 * s->cap + 16)
        s->stack[s->nstack++] = (uint32_t)i;
}

/* Phase 1: marks what [lo, hi) points to. is_definite: the memory itself is a
 * root or a REACHABLE block; is_start_only: interior pointers are ignored. */
static void scan_mark(scan_t *s, uintptr_t lo, uintptr_t hi, bool is_definite, bool is_start_only)
{
    lo = (lo + WORD_BYTES - 1) & ~(uintptr_t)(WORD_BYTES - 1);
    for (uintptr_t a = lo; a + WORD_BYTES <= hi; a += WORD_BYTES) {
        bool is_start;
        long i = find_block(s, *(const uintptr_t *)a, &is_start);
        if (i < 0 || (is_start_only && !is_start))
            continue;
        block_t *b = &s->blocks[i];
        if (is_start && is_definite) {
            if (b->state != ST_REACHABLE) {
                b->state = ST_REACHABLE;
                push(s, (size_t)i);
            }
        } else if (b->state == ST_UNREACHED) {
            b->state = ST_POSSIBLE;
            push(s, (size_t)i);
        }
    }
}

/* Phase 2: gathers the unreached blocks [lo, hi) points to into `leader`'s
 * clique. */
static void scan_clique(scan_t *s, uintptr_t lo, uintptr_t hi, size_t leader)
{
    lo = (lo + WORD_BYTES - 1) & ~(uintptr_t)(WORD_BYTES - 1);
    for (uintptr_t a = lo; a + WORD_BYTES <= hi; a += WORD_BYTES) {
        bool is_start;
        long i = find_block(s, *(const uintptr_t *)a, &is_start);
        if (i < 0 || (size_t)i == leader)
            continue;
        block_t *b = &s->blocks[i];
        if (b->state == ST_UNREACHED) {
            /* Unreached, or the leader of an earlier clique: either way it
             * is now part of this one. */
            b->state = ST_INDIRECT;
            push(s, (size_t)i);
        }
    }
}

/* Where a thread's stack range ends: just past its thread control block
 * (x86-64/aarch64 glibc: the TCB's first word points to itself), so a
 * mapping merged with the stack's upper neighbour is not scanned. */
static uintptr_t clip_at_tcb(uintptr_t lo, uintptr_t hi)
{
    for (uintptr_t a = (lo + 63) & ~(uintptr_t)63; a + 3 * WORD_BYTES <= hi; a += 64) {
        const uintptr_t *w = (const uintptr_t *)a;
        if (w[0] == a && w[2] == a) {
            uintptr_t end = page_up(a + TCB_BYTES);
            return end < hi ? end : hi;
        }
    }
    return hi;
}

static uint32_t child_run(scan_t *s, hg_live_table_t *t, shared_hdr_t *hdr, hg_reach_stat_t *out)
{
    /* The copy of the table may hold a step another thread of the parent had
     * under way (an entry being moved by a growth): that thread is not here
     * to finish it, and the walk would wait for it forever (then the parent
     * kills the child after its wait). Redo such steps, as in a fork child. */
    hg_live_after_fork(t);
    if (hg_live_foreach(t, collect_cb, s) != 0)
        return ENOSPC;
    if (s->nblocks == 0)
        return 0;
    sort_blocks(s->blocks, s->nblocks, by_addr);
    s->lo_addr = s->blocks[0].addr;
    const block_t *last = &s->blocks[s->nblocks - 1];
    s->hi_addr = last->addr + (last->size ? last->size : 1);
    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i].addr + s->blocks[i].size > s->hi_addr)
            s->hi_addr = s->blocks[i].addr + s->blocks[i].size;

    /* Phase 1: roots, then the mark stack. The program's anonymous
     * mappings first: those that hold no block (malloc's arenas and
     * mmap'd chunks hold blocks), no thread stack scanned precisely below,
     * and not the tracer's thread's stack. */
    for (size_t a = 0; a < s->nanon; a++) {
        uintptr_t lo = s->anon[a].lo, hi = s->anon[a].hi;
        bool is_skipped = s->private_stack >= lo && s->private_stack < hi;
        for (size_t r = 0; r < s->nroots && !is_skipped; r++)
            if (s->roots[r].lo >= lo && s->roots[r].lo < hi)
                is_skipped = true;
        size_t b0 = 0, b1 = s->nblocks; /* first block with addr >= lo */
        while (b0 < b1) {
            size_t mid = b0 + (b1 - b0) / 2;
            if (s->blocks[mid].addr < lo)
                b0 = mid + 1;
            else
                b1 = mid;
        }
        if (b0 < s->nblocks && s->blocks[b0].addr < hi)
            is_skipped = true;
        if (b0 > 0 && s->blocks[b0 - 1].addr + s->blocks[b0 - 1].size > lo)
            is_skipped = true;
        if (!is_skipped)
            scan_mark(s, lo, hi, true, false);
    }
    for (size_t r = 0; r < s->nroots; r++) {
        uintptr_t hi = s->roots[r].hi;
        if (s->roots[r].is_thread_stack)
            hi = clip_at_tcb(s->roots[r].lo, hi);
        scan_mark(s, s->roots[r].lo, hi, true, s->roots[r].is_start_only);
    }
    while (s->nstack > 0) {
        block_t *b = &s->blocks[s->stack[--s->nstack]];
        scan_mark(s, b->addr, b->addr + b->size, b->state == ST_REACHABLE, false);
    }
    /* Phase 2: cliques of lost blocks, leaders in address order. */
    for (size_t i = 0; i < s->nblocks; i++) {
        if (s->blocks[i].state != ST_UNREACHED)
            continue;
        scan_clique(s, s->blocks[i].addr, s->blocks[i].addr + s->blocks[i].size, i);
        while (s->nstack > 0) {
            block_t *b = &s->blocks[s->stack[--s->nstack]];
            scan_clique(s, b->addr, b->addr + b->size, i);
        }
    }
    /* Per-stack totals. */
    sort_blocks(s->blocks, s->nblocks, by_stack);
    size_t n = 0;
    for (size_t i = 0; i < s->nblocks; i++) {
        const block_t *b = &s->blocks[i];
        if (n == 0 || out[n - 1].stack_id != b->stack_id) {
            memset(&out[n], 0, sizeof out[n]);
            out[n++].stack_id = b->stack_id;
        }
        int k = b->state == ST_UNREACHED  ? HG_REACH_DEFINITE
                : b->state == ST_INDIRECT ? HG_REACH_INDIRECT
                : b->state == ST_POSSIBLE ? HG_REACH_POSSIBLE
                                          : HG_REACH_REACHABLE;
        out[n - 1].bytes[k] += b->size;
        out[n - 1].count[k]++;
    }
    hdr->n = n;
    hdr->nblocks = s->nblocks;
    return 0;
}

static _Noreturn void child_main(scan_t *s, hg_live_table_t *t, shared_hdr_t *hdr)
{
    /* Every signal blocked: the program's handlers never run here, and a
     * fault (a blocked synchronous signal) simply kills the child. */
    sigset_t all;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof(uint64_t));
    hdr->status = child_run(s, t, hdr, (hg_reach_stat_t *)(hdr + 1));
    /* release: publishes the totals to the parent's acquire load. */
    atomic_store_explicit(&hdr->done, 1, memory_order_release);
    syscall(SYS_futex, &hdr->done, FUTEX_WAKE, 1, NULL, NULL, 0);
    syscall(SYS_exit_group, 0);
    for (;;) {
    }
}

/* ------------------------------------------------------------------------ */
/* Entry                                                                     */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static _Atomic uintptr_t private_stack;

void hg_reach_note_private_stack(const void *addr)
{
    atomic_store_explicit(&private_stack, (uintptr_t)addr, memory_order_relaxed);
}

void hg_reach_release(hg_reach_result_t *r)
{
    if (r->map != NULL)
        hg_os.munmap(r->map, r->map_len);
    memset(r, 0, sizeof *r);
}

/* Whether a seccomp filter is installed (/proc/self/status "Seccomp:" not 0):
 * then clone() might kill the process (SIGSYS) or fail, so no scan is tried. */
static bool is_seccomp_on(void)
{
    size_t len = 0;
    char *st = slurp("/proc/self/status", 4 * PAGE_BYTES, &len);
    if (st == NULL)
        return false;
    bool is_on = false;
    for (size_t i = 0; i + 10 < len; i++)
        if ((i == 0 || st[i - 1] == '\n') && memcmp(st + i, "Seccomp:", 8) == 0) {
            const char *v = st + i + 8;
            while (*v == ' ' || *v == '\t')
                v++;
            is_on = *v != '0';
            break;
        }
    hg_os_unmap(st, 4 * PAGE_BYTES);
    return is_on;
}

int hg_reach_scan(hg_live_table_t *t, int exclude_tid, uintptr_t self_stack_lo, uint64_t wait_ns,
                  hg_reach_result_t *out)
{
    memset(out, 0, sizeof *out);
    /* Nothing live, nothing to classify: no clone of a process that may be
     * large (a program that freed everything before exiting). */
    if (hg_live_count(t) == 0)
        return 0;
    if (is_seccomp_on())
        return -EPERM;
    scan_t s;
    memset(&s, 0, sizeof s);
    int rc = -ENOMEM;
    size_t maps_len = 0, maps_cap = 0, blocks_len = 0, stack_len = 0;
    char *maps = slurp_smaps(&maps_len, &maps_cap);
    size_t roots_len = MAX_ROOTS * sizeof(range_t);
    s.roots = hg_os_map(roots_len);
    if (maps == NULL || s.roots == NULL || read_maps(&s, maps, maps_len) != 0)
        goto done;

    /* Calling thread first (its stack from self_stack_lo up), then modules,
     * then the other threads. */
    int self_tid = (int)syscall(SYS_gettid);
    uintptr_t sp = current_sp();
    s.private_stack = atomic_load_explicit(&private_stack, memory_order_relaxed);
    if (self_tid != exclude_tid && self_stack_lo != 0) {
        const range_t *m = mapping_of(&s, sp);
        if (m != NULL) {
            add_root(&s, self_stack_lo > sp ? self_stack_lo : sp, m->hi, true);
            add_self_tls(&s, m->lo, m->hi);
        }
    }
    dl_iterate_phdr(module_cb, &s);
    add_link_maps(&s);
    add_other_threads(&s, self_tid, exclude_tid);

    size_t count = hg_live_count(t);
    s.cap = count + count / 4 + 1024;
    blocks_len = page_up(s.cap * sizeof(block_t));
    stack_len = page_up((2 * s.cap + 16) * sizeof(uint32_t));
    size_t shared_len = page_up(sizeof(shared_hdr_t) + s.cap * sizeof(hg_reach_stat_t));
    s.blocks = hg_os.mmap(NULL, blocks_len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    s.stack = hg_os.mmap(NULL, stack_len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    void *shared = hg_os.mmap(NULL, shared_len, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s.blocks == MAP_FAILED || s.stack == MAP_FAILED || shared == MAP_FAILED) {
        if (shared != MAP_FAILED)
            hg_os.munmap(shared, shared_len);
        goto done;
    }
    shared_hdr_t *hdr = shared;
    hdr->cap = s.cap;

    /* A bare clone: no atfork handlers, no SIGCHLD (exit signal 0) so the
     * program's SIGCHLD handler and wait() calls never see this child. */
    long pid = syscall(SYS_clone, 0ul, NULL, NULL, NULL, 0ul);
    if (pid == 0)
        child_main(&s, t, hdr);
    if (pid < 0) {
        rc = -errno;
        hg_os.munmap(shared, shared_len);
        goto done;
    }
    uint64_t deadline = mono_ns() + wait_ns;
    rc = -ETIMEDOUT;
    for (;;) {
        /* acquire: pairs with the child's release store of done. */
        if (atomic_load_explicit(&hdr->done, memory_order_acquire)) {
            rc = hdr->status ? -(int)hdr->status : 0;
            break;
        }
        int st;
        long w = syscall(SYS_wait4, pid, &st, WNOHANG | __WALL, NULL);
        if (w == pid || (w < 0 && errno != EINTR)) {
            pid = 0; /* reaped (or not ours to reap): gone without a result */
            rc = atomic_load_explicit(&hdr->done, memory_order_acquire)
                     ? (hdr->status ? -(int)hdr->status : 0)
                     : -ECHILD;
            break;
        }
        uint64_t now = mono_ns();
        if (now >= deadline) {
            kill((pid_t)pid, SIGKILL);
            break;
        }
        uint64_t slice = deadline - now < 10000000u ? deadline - now : 10000000u;
        struct timespec ts = {0, (long)slice};
        syscall(SYS_futex, &hdr->done, FUTEX_WAIT, 0, &ts, NULL, 0);
    }
    if (pid > 0) {
        int st;
        while (syscall(SYS_wait4, pid, &st, __WALL, NULL) < 0 && errno == EINTR) {
        }
    }
    if (rc == 0) {
        out->stats = (hg_reach_stat_t *)(hdr + 1);
        out->n = hdr->n;
        out->nblocks = hdr->nblocks;
        out->threads_unseen = s.threads_unseen;
        out->map = shared;
        out->map_len = shared_len;
    } else {
        hg_os.munmap(shared, shared_len);
    }
done:
    if (maps != NULL)
        hg_os_unmap(maps, maps_cap);
    if (s.maps != NULL)
        hg_os_unmap(s.maps, s.maps_len);
    if (s.anon != NULL)
        hg_os_unmap(s.anon, s.maps_len);
    if (s.roots != NULL)
        hg_os_unmap(s.roots, roots_len);
    if (s.blocks != NULL && s.blocks != MAP_FAILED)
        hg_os.munmap(s.blocks, blocks_len);
    if (s.stack != NULL && s.stack != MAP_FAILED)
        hg_os.munmap(s.stack, stack_len);
    return rc;
}
