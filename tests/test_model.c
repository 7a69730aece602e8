/*
 * Unit tests of the model (analyzer/model.c) on crafted traces, with a fake
 * symbolizer defined here (symbolize.h's functions over a fixed table of
 * address ranges) so the results depend only on model.c, sites.c, reader.c
 * and growth.c: exact per-site counters, leaks, ended-early traces,
 * downsampling of a 10,000-snapshot run into at most 256 windows, and the
 * details (stacks, series) kept only for the sites a report shows.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "craft.h"
#include "model.h"

/* ---- fake symbolizer ---- */

#define PROG "/bin/prog"
#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

typedef struct fake_fn {
    uint64_t lo, hi;
    const char *function, *file;
    uint32_t line;
    const char *module;
    const char *inlined; /* function inlined at this range, or NULL */
    uint32_t inlined_line;
} fake_fn_t;

static const fake_fn_t fake_fns[] = {
    {0x7f0000001000, 0x7f0000002000, "malloc", NULL, 0, LIBC, NULL, 0},
    {0x401000, 0x401100, "xmalloc", "x.c", 5, PROG, NULL, 0},
    {0x402000, 0x402100, "grow_cache", "cache.c", 42, PROG, NULL, 0},
    {0x403000, 0x403100, "churn", "churn.c", 7, PROG, NULL, 0},
    {0x404000, 0x404100, "main", "main.c", 3, PROG, NULL, 0},
    /* push_back inlined into add_listener */
    {0x405000, 0x405100, "add_listener", "listen.cc", 20, PROG,
     "std::vector<int, std::allocator<int> >::push_back(int const&)", 1198},
};

struct hg_sym {
    int nmodules;
    int nresolved;
};

int hg_sym_create(hg_sym_t **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void hg_sym_destroy(hg_sym_t *s)
{
    free(s);
}

int hg_sym_add_module(hg_sym_t *s, uint32_t module_id, const char *path, uint64_t bias,
                      uint64_t start, uint64_t end, const uint8_t *build_id, size_t build_id_len)
{
    (void)module_id, (void)path, (void)bias, (void)start, (void)end, (void)build_id;
    (void)build_id_len;
    s->nmodules++;
    return 0;
}

/* Only the fake preloaded allocator of test_allocator_before_tracer. */
bool hg_sym_file_exports(const char *path, const char *name)
{
    return strcmp(path, "/usr/lib/libtcmalloc_minimal.so.4") == 0 && strcmp(name, "malloc") == 0;
}

void hg_sym_remove_module(hg_sym_t *s, uint32_t module_id)
{
    (void)module_id;
    s->nmodules--;
}

size_t hg_sym_resolve(hg_sym_t *s, uint64_t address, bool is_return_address, hg_frame_info_t *out,
                      size_t max)
{
    s->nresolved++;
    uint64_t a = is_return_address ? address - 1 : address;
    if (max == 0)
        return 0;
    memset(out, 0, sizeof(*out));
    out->address = address;
    for (size_t i = 0; i < sizeof(fake_fns) / sizeof(fake_fns[0]); i++) {
        const fake_fn_t *f = &fake_fns[i];
        if (a < f->lo || a >= f->hi)
            continue;
        size_t n = 0;
        if (f->inlined && max >= 2) {
            out[n].function = f->inlined;
            out[n].file = "stl_vector.h";
            out[n].line = f->inlined_line;
            out[n].module = f->module;
            out[n].address = address;
            out[n].is_inlined = true;
            n++;
        }
        memset(&out[n], 0, sizeof(out[n]));
        out[n].function = f->function;
        out[n].file = f->file;
        out[n].line = f->line;
        out[n].module = f->module;
        out[n].address = address;
        out[n].module_offset = address - (strcmp(f->module, PROG) == 0 ? 0x400000 : 0x7f0000000000);
        return n + 1;
    }
    return 1; /* unknown */
}

static const char *const fake_warnings[] = {"fake symbolizer warning"};

size_t hg_sym_warnings(const hg_sym_t *s, const char *const **lines)
{
    (void)s;
    *lines = fake_warnings;
    return 1;
}

/* ---- helpers ---- */

static char trace_path[64];

static void write_trace(const craft_t *c)
{
    uint8_t *gz;
    size_t n;
    craft_gzip(c->buf, c->len, &gz, &n);
    snprintf(trace_path, sizeof(trace_path), "/tmp/hg_test_model_%d.hgt", (int)getpid());
    ck_assert_int_eq(craft_write_file(trace_path, gz, n), 0);
    free(gz);
}

static hg_model_t *load(const craft_t *c, enum hg_group_by g)
{
    write_trace(c);
    hg_model_opts_t o = {.group_by = g, .growth = hg_growth_default_params()};
    hg_model_t *m = NULL;
    char err[256];
    int rc = hg_model_load(trace_path, &o, &m, err, sizeof(err));
    ck_assert_msg(rc == 0, "load: %d %s", rc, err);
    unlink(trace_path);
    return m;
}

static const hg_site_t *find_site(const hg_model_t *m, const char *fn)
{
    for (size_t i = 0; i < m->nsites; i++)
        if (m->sites[i].frame.function && strcmp(m->sites[i].frame.function, fn) == 0)
            return &m->sites[i];
    return NULL;
}

static void prelude(craft_t *c)
{
    craft_init(c);
    craft_preamble(c);
    craft_header(c, "");
    craft_module(c, 1, 0, 0x400000, 0x400000, 0x500000, PROG, NULL, 0);
    craft_module(c, 2, 0, 0x7f0000000000, 0x7f0000000000, 0x7f0000100000, LIBC, NULL, 0);
    /* stack 1: xmalloc <- grow_cache <- main; stack 2: grow_cache <- main
     * (same site line); stack 3: churn <- main. Addresses are return
     * addresses (+1 past the call). */
    uint64_t s1[3] = {0x401011, 0x402011, 0x404011};
    uint64_t s2[2] = {0x402021, 0x404021};
    uint64_t s3[2] = {0x403011, 0x404031};
    craft_stack(c, 1, 3, s1);
    craft_stack(c, 2, 2, s2);
    craft_stack(c, 3, 2, s3);
}

/*
 * 100 snapshots 0.1 s apart: stack 1 gains 1000 bytes (1 alloc) per snapshot,
 * stack 2 gains 10 bytes (1 alloc) every snapshot, stack 3 alternates 500
 * bytes live / freed with one allocation per snapshot.
 */
static void two_sites(craft_t *c, bool with_end)
{
    prelude(c);
    for (uint64_t i = 1; i <= 100; i++) {
        uint64_t live3 = (i % 2) ? 500 : 0;
        craft_counter_t k[3] = {
            {1, 1000 * i, i, i, 1000 * i},
            {2, 10 * i, i, i, 10 * i},
            {3, live3, live3 ? 1 : 0, i, 500 * i},
        };
        uint64_t live = 1010 * i + live3;
        uint64_t tot[8] = {3 * i, 1510 * i, 0, 0, live, 0, live, 0};
        craft_snapshot(c, i * 100000000ull, (1 << 20) + 4096 * i, tot, 3, k);
    }
    if (!with_end)
        return;
    craft_live_begin(c, 100000000001ull, HG_DUMP_EXIT, 4);
    craft_live_t l[4] = {
        {0x10000, 1000, 1, 1},
        {0x20000, 3000, 1, 2},
        {0x30000, 10, 2, 3},
        {0x40000, 7, 0, 4},
    };
    craft_live_chunk(c, 4, l);
    craft_live_end(c, 4);
    craft_end(c, 100000000002ull, HG_END_EXIT, 0);
}

/* ---- tests ---- */

START_TEST(test_two_sites)
{
    craft_t c;
    two_sites(&c, true);
    hg_model_t *m = load(&c, HG_GROUP_SITE);
    ck_assert_uint_eq(m->pid, 42);
    ck_assert_str_eq(m->exe, "/bin/prog");
    ck_assert_uint_eq(m->argc, 2);
    ck_assert_str_eq(m->argv[1], "-x");
    ck_assert_uint_eq(m->interval_ms, 100);
    ck_assert(m->has_end);
    ck_assert_int_eq(m->end_reason, HG_END_EXIT);
    ck_assert(m->has_final_live_set);
    ck_assert_ptr_null(m->ended_early);
    ck_assert_uint_eq(m->nsnapshots, 100);
    ck_assert(fabs(m->duration_s - 100.000000002) < 1e-6);

    /* grow_cache (stacks 1 and 2), churn (stack 3), unknown (stack 0 from the
     * live set). */
    ck_assert_uint_eq(m->nsites, 3);
    const hg_site_t *g = &m->sites[0];
    ck_assert_str_eq(g->frame.function, "grow_cache");
    ck_assert_str_eq(g->frame.file, "cache.c");
    ck_assert_uint_eq(g->frame.line, 42);
    ck_assert_str_eq(g->frame.module, PROG);
    ck_assert_uint_eq(g->alloc_count, 200);
    ck_assert_uint_eq(g->alloc_bytes, 101000);
    ck_assert_uint_eq(g->end_live_bytes, 101000);
    ck_assert_uint_eq(g->end_live_count, 200);
    ck_assert_uint_eq(g->peak_live_bytes, 101000);
    ck_assert_int_eq(g->leaked.bytes, 4010);
    ck_assert_int_eq(g->leaked.count, 3);
    ck_assert(g->growth.is_growing);
    ck_assert_uint_eq(g->nstacks_total, 2);
    ck_assert_uint_eq(g->nstacks_shown, 2);
    /* Largest stack first, from the site frame outward (xmalloc left out). */
    ck_assert_uint_eq(g->stacks[0].end_live_bytes, 100000);
    ck_assert_uint_eq(g->stacks[0].nframes, 2);
    ck_assert_str_eq(g->stacks[0].frames[0].function, "grow_cache");
    ck_assert_str_eq(g->stacks[0].frames[1].function, "main");
    ck_assert_uint_eq(g->stacks[1].end_live_bytes, 1000);
    ck_assert_uint_eq(g->series.n, 100);
    ck_assert(g->series.pts[99].last == 101000.0);

    const hg_site_t *ch = find_site(m, "churn");
    ck_assert_ptr_nonnull(ch);
    ck_assert_uint_eq(ch->alloc_count, 100);
    ck_assert_uint_eq(ch->alloc_bytes, 50000);
    ck_assert_uint_eq(ch->end_live_bytes, 0);
    ck_assert_uint_eq(ch->end_live_count, 0);
    ck_assert_uint_eq(ch->peak_live_bytes, 500);
    ck_assert_int_eq(ch->leaked.bytes, 0);
    ck_assert_int_eq(ch->leaked.count, 0);
    ck_assert(!ch->growth.is_growing);

    const hg_site_t *u = &m->sites[2];
    ck_assert_ptr_null(u->frame.function);
    ck_assert_int_eq(u->leaked.bytes, 7);
    ck_assert_int_eq(u->leaked.count, 1);

    ck_assert_uint_eq(m->totals.alloc_count, 300);
    ck_assert_uint_eq(m->totals.alloc_bytes, 151000);
    ck_assert_uint_eq(m->totals.end_live_bytes, 101000);
    ck_assert_uint_eq(m->totals.peak_live_bytes, 101000);
    ck_assert_uint_eq(m->totals.end_rss_bytes, (1 << 20) + 409600);
    ck_assert_uint_eq(m->totals.peak_rss_bytes, (1 << 20) + 409600);
    ck_assert_uint_eq(m->live_series.n, 100);
    ck_assert_uint_eq(m->rss_series.n, 100);
    ck_assert_uint_eq(m->nwarnings, 1);
    ck_assert_str_eq(m->warnings[0], "fake symbolizer warning");
    hg_model_free(m);
    craft_free(&c);
}
END_TEST

/* REACH after the exit dump splits each site's leak by reachability. */
START_TEST(test_reach_kinds)
{
    craft_t c;
    two_sites(&c, false);
    craft_live_begin(&c, 100000000001ull, HG_DUMP_EXIT, 2);
    craft_live_t l[2] = {{0x10000, 1000, 1, 1}, {0x30000, 10, 2, 3}};
    craft_live_chunk(&c, 2, l);
    craft_live_end(&c, 2);
    craft_reach_t e[2] = {{1, {1000, 0, 0, 0}, {1, 0, 0, 0}}, {2, {0, 0, 0, 10}, {0, 0, 0, 1}}};
    craft_reach(&c, 100000000001ull, HG_DUMP_EXIT, 0, 1, 2, e);
    craft_end(&c, 100000000002ull, HG_END_EXIT, 0);
    hg_model_t *m = load(&c, HG_GROUP_SITE);
    ck_assert(m->has_final_live_set);
    ck_assert(m->has_reachability);
    ck_assert_uint_eq(m->reach_threads_unseen, 1);
    const hg_site_t *g = find_site(m, "grow_cache");
    ck_assert_int_eq(g->leaked.bytes, 1010);
    ck_assert_int_eq(g->leak_kinds[HG_CAT_DEFINITE].bytes, 1000);
    ck_assert_int_eq(g->leak_kinds[HG_CAT_DEFINITE].count, 1);
    ck_assert_int_eq(g->leak_kinds[HG_CAT_REACHABLE].bytes, 10);
    ck_assert_int_eq(g->leak_kinds[HG_CAT_INDIRECT].bytes, 0);
    hg_model_free(m);
    craft_free(&c);
}
END_TEST

START_TEST(test_ended_early)
{
    craft_t c;
    two_sites(&c, false);
    craft_warning(&c, 10000000000ull, HG_WARN_LIVE_FULL, "live table full");
    hg_model_t *m = load(&c, HG_GROUP_SITE);
    ck_assert(!m->has_end);
    ck_assert(!m->has_final_live_set);
    ck_assert_str_eq(m->ended_early,
                     "trace ends at 10.0 s without an end marker (process killed?)");
    ck_assert_uint_eq(m->nsites, 2);
    for (size_t i = 0; i < m->nsites; i++) {
        ck_assert_int_eq(m->sites[i].leaked.bytes, -1);
        ck_assert_int_eq(m->sites[i].leaked.count, -1);
    }
    ck_assert_uint_eq(m->nwarnings, 2);
    ck_assert_str_eq(m->warnings[0], "tracer warning at 10.0 s: live table full (code 2)");
    hg_model_free(m);
    craft_free(&c);
}
END_TEST

/* The writer's write-failure marker (FORMAT.md): 100 snapshots, then a cut
 * and a WARNING HG_WARN_WRITE_FAILED in a stored block. The early end says
 * why, the cause is in write_error, and it is not listed as a warning. */
START_TEST(test_write_failed)
{
    craft_t c, tail;
    two_sites(&c, false);
    craft_init(&tail);
    craft_warning(&tail, 10050000000ull, HG_WARN_WRITE_FAILED, "File too large");
    uint8_t *gz;
    size_t n;
    craft_gzip_cut(c.buf, c.len, tail.buf, tail.len, &gz, &n);
    snprintf(trace_path, sizeof(trace_path), "/tmp/hg_test_model_%d.hgt", (int)getpid());
    ck_assert_int_eq(craft_write_file(trace_path, gz, n), 0);
    free(gz);
    hg_model_opts_t o = {.group_by = HG_GROUP_SITE, .growth = hg_growth_default_params()};
    hg_model_t *m = NULL;
    char err[256];
    ck_assert_int_eq(hg_model_load(trace_path, &o, &m, err, sizeof(err)), 0);
    unlink(trace_path);
    ck_assert(!m->has_end);
    ck_assert_str_eq(m->ended_early, "trace incomplete: writing it stopped at 10.1 s (File too "
                                     "large); data up to 10.0 s");
    ck_assert_str_eq(m->write_error, "File too large");
    ck_assert_uint_eq(m->nsites, 2);
    ck_assert_int_eq(m->sites[0].leaked.bytes, -1);
    ck_assert_uint_eq(m->nwarnings, 1); /* the fake symbolizer's only */
    ck_assert_str_eq(m->warnings[0], "fake symbolizer warning");
    hg_model_free(m);
    craft_free(&tail);
    craft_free(&c);
}
END_TEST

START_TEST(test_signal_dump_is_not_leak)
{
    craft_t c;
    two_sites(&c, false);
    craft_live_begin(&c, 100000000001ull, HG_DUMP_SIGNAL, 1);
    craft_live_t l = {0x10000, 1000, 1, 1};
    craft_live_chunk(&c, 1, &l);
    craft_live_end(&c, 1);
    craft_end(&c, 100000000002ull, HG_END_SIGNAL, 9);
    hg_model_t *m = load(&c, HG_GROUP_SITE);
    ck_assert(m->has_end);
    ck_assert(!m->has_final_live_set);
    ck_assert_ptr_null(m->ended_early);
    ck_assert_int_eq(m->sites[0].leaked.bytes, -1);
    hg_model_free(m);
    craft_free(&c);
}
END_TEST

/* A terminating signal from outside: the tracer writes the final live set as
 * at exit (reason exit) before END signal; that is the final live set. A
 * fault's best-effort live set (reason fatal) is not, nor an exit dump
 * before END exec. */
START_TEST(test_signal_end_has_final_live_set)
{
    static const struct {
        uint64_t dump;
        uint64_t end;
        bool is_final;
    } cases[] = {
        {HG_DUMP_EXIT, HG_END_SIGNAL, true},
        {HG_DUMP_FATAL, HG_END_SIGNAL, false},
        {HG_DUMP_EXIT, HG_END_EXEC, false},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        craft_t c;
        two_sites(&c, false);
        craft_live_begin(&c, 100000000001ull, cases[k].dump, 1);
        craft_live_t l = {0x10000, 1000, 1, 1};
        craft_live_chunk(&c, 1, &l);
        craft_live_end(&c, 1);
        craft_end(&c, 100000000002ull, cases[k].end, 2);
        hg_model_t *m = load(&c, HG_GROUP_SITE);
        ck_assert(m->has_end);
        ck_assert_ptr_null(m->ended_early);
        ck_assert_int_eq(m->has_final_live_set, cases[k].is_final);
        const hg_site_t *g = find_site(m, "grow_cache");
        ck_assert_int_eq(g->leaked.bytes, cases[k].is_final ? 1000 : -1);
        ck_assert_int_eq(g->leaked.count, cases[k].is_final ? 1 : -1);
        hg_model_free(m);
        craft_free(&c);
    }
}
END_TEST

START_TEST(test_group_by_stack)
{
    /* grow_cache called from main directly and through churn: one site, two
     * stacks; stacks 1 and 2 of two_sites() symbolize identically. */
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_header(&c, "");
    craft_module(&c, 1, 0, 0x400000, 0x400000, 0x500000, PROG, NULL, 0);
    uint64_t a[2] = {0x402011, 0x404011}, b[3] = {0x402021, 0x403021, 0x404021},
             d[2] = {0x402031, 0x404031};
    craft_stack(&c, 1, 2, a);
    craft_stack(&c, 2, 3, b);
    craft_stack(&c, 3, 2, d);
    craft_end(&c, 2000, HG_END_EXIT, 0);
    hg_model_t *m = load(&c, HG_GROUP_SITE);
    ck_assert_uint_eq(m->nsites, 1);
    ck_assert_uint_eq(m->sites[0].nstacks_total, 3);
    hg_model_free(m);
    m = load(&c, HG_GROUP_STACK);
    ck_assert_uint_eq(m->nsites, 2);
    hg_model_free(m);
    m = load(&c, HG_GROUP_FUNCTION);
    ck_assert_uint_eq(m->nsites, 1);
    hg_model_free(m);
    craft_free(&c);
}
END_TEST

START_TEST(test_inlined_std_frame)
{
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_header(&c, "");
    craft_module(&c, 1, 0, 0x400000, 0x400000, 0x500000, PROG, NULL, 0);
    uint64_t s[2] = {0x405011, 0x404011};
    craft_stack(&c, 1, 2, s);
    craft_counter_t k = {1, 64, 1, 1, 64};
    uint64_t tot[8] = {1, 64, 0, 0, 64, 1, 64, 0};
    craft_snapshot(&c, 1000, 0, tot, 1, &k);
    craft_end(&c, 2000, HG_END_EXIT, 0);
    hg_model_t *m = load(&c, HG_GROUP_SITE);
    ck_assert_uint_eq(m->nsites, 1);
    ck_assert_str_eq(m->sites[0].frame.function, "add_listener");
    ck_assert_uint_eq(m->sites[0].frame.line, 20);
    ck_assert_uint_eq(m->sites[0].stacks[0].nframes, 2);
    /* END without a live dump: leaks unknown. */
    ck_assert(!m->has_final_live_set);
    ck_assert_int_eq(m->sites[0].leaked.bytes, -1);
    hg_model_free(m);
    craft_free(&c);
}
END_TEST

/* The wrapper setting recorded in the header is applied. */
/* An allocator preloaded before the tracer takes its calls: the report says
 * so (warning), and only when it is before libheapgrow.so in the module
 * order, which is the lookup order. */
START_TEST(test_allocator_before_tracer)
{
    static const char *const tc = "/usr/lib/libtcmalloc_minimal.so.4";
    static const char *const hg = "/opt/lib/heapgrow/libheapgrow.so";
    for (int is_before = 1; is_before >= 0; is_before--) {
        craft_t c;
        craft_init(&c);
        craft_preamble(&c);
        craft_header(&c, "");
        craft_module(&c, 1, 0, 0x400000, 0x400000, 0x500000, PROG, NULL, 0);
        craft_module(&c, 2, 0, 0x7e0000000000, 0x7e0000000000, 0x7e0000100000, is_before ? tc : hg,
                     NULL, 0);
        craft_module(&c, 3, 0, 0x7d0000000000, 0x7d0000000000, 0x7d0000100000, is_before ? hg : tc,
                     NULL, 0);
        craft_end(&c, 2000, HG_END_EXIT, 0);
        hg_model_t *m = load(&c, HG_GROUP_SITE);
        ck_assert_uint_eq(m->nwarnings, 1 + (size_t)is_before); /* + the fake symbolizer's */
        if (is_before)
            ck_assert_str_eq(m->warnings[0],
                             "/usr/lib/libtcmalloc_minimal.so.4 defines malloc and comes before "
                             "libheapgrow.so in the symbol lookup order: the allocations it "
                             "serves are not traced (put libheapgrow.so first in LD_PRELOAD, as "
                             "heapgrow run does)");
        hg_model_free(m);
        craft_free(&c);
    }
}
END_TEST

START_TEST(test_header_wrappers)
{
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_header(&c, "grow_*");
    craft_module(&c, 1, 0, 0x400000, 0x400000, 0x500000, PROG, NULL, 0);
    uint64_t s[2] = {0x402011, 0x404011};
    craft_stack(&c, 1, 2, s);
    craft_end(&c, 2000, HG_END_EXIT, 0);
    hg_model_t *m = load(&c, HG_GROUP_SITE);
    ck_assert_uint_eq(m->nsites, 1);
    ck_assert_str_eq(m->sites[0].frame.function, "main");
    hg_model_free(m);
    craft_free(&c);
}
END_TEST

#define NSNAP 10000

static uint64_t f1(uint64_t k)
{
    return ((k / 3) * 7919) % 1000 + k / 3;
}

static uint64_t f2(uint64_t k)
{
    return (k / 1000) * 100;
}

static uint64_t f3(uint64_t k)
{
    return k < 5024 ? 0 : 50;
}

START_TEST(test_downsampling)
{
    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_header(&c, "");
    craft_module(&c, 1, 0, 0x400000, 0x400000, 0x500000, PROG, NULL, 0);
    uint64_t s1[1] = {0x402011}, s2[1] = {0x403011}, s3[1] = {0x404011};
    craft_stack(&c, 1, 1, s1);
    craft_stack(&c, 2, 1, s2);
    for (uint64_t k = 0; k < NSNAP; k++) {
        if (k == 5024)
            craft_stack(&c, 3, 1, s3);
        craft_counter_t kc[3];
        size_t n = 0;
        if (k == 0 || f1(k) != f1(k - 1))
            kc[n++] = (craft_counter_t){1, f1(k), 1, k, k};
        if (k == 0 || f2(k) != f2(k - 1))
            kc[n++] = (craft_counter_t){2, f2(k), 1, k, k};
        if (k >= 5024 && (k == 5024 || f3(k) != f3(k - 1)))
            kc[n++] = (craft_counter_t){3, f3(k), 1, 1, 50};
        uint64_t live = f1(k) + f2(k) + f3(k);
        uint64_t tot[8] = {k, k, 0, 0, live, 3, live, 0};
        craft_snapshot(&c, k * 1000000ull, 4096 * k, tot, n, kc);
    }
    craft_end(&c, NSNAP * 1000000ull, HG_END_EXIT, 0);
    hg_model_t *m = load(&c, HG_GROUP_SITE);
    ck_assert_uint_eq(m->nsnapshots, NSNAP);
    ck_assert_uint_eq(m->nsites, 3);
    /* width 64 snapshots: ceil(10000 / 64) windows */
    const uint64_t width = 64, nwin = (NSNAP + width - 1) / width;
    ck_assert_uint_le(nwin, HG_SERIES_MAX_POINTS);
    uint64_t (*fns[3])(uint64_t) = {f1, f2, f3};
    const char *names[3] = {"grow_cache", "churn", "main"};
    for (int s = 0; s < 3; s++) {
        const hg_site_t *site = find_site(m, names[s]);
        ck_assert_ptr_nonnull(site);
        ck_assert_uint_eq(site->series.n, nwin);
        for (uint64_t w = 0; w < nwin; w++) {
            uint64_t lo = w * width, hi = lo + width < NSNAP ? lo + width : NSNAP;
            uint64_t mn = UINT64_MAX, mx = 0;
            for (uint64_t k = lo; k < hi; k++) {
                uint64_t v = fns[s](k);
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }
            const hg_series_point_t *p = &site->series.pts[w];
            ck_assert_msg(p->min == (double)mn && p->max == (double)mx &&
                              p->last == (double)fns[s](hi - 1),
                          "site %s window %lu: %g/%g/%g want %lu/%lu/%lu", names[s],
                          (unsigned long)w, p->min, p->max, p->last, (unsigned long)mn,
                          (unsigned long)mx, (unsigned long)fns[s](hi - 1));
            ck_assert(p->t_start_s == (double)(lo * 1000000ull) / 1e9);
            ck_assert(p->t_end_s == (double)((hi - 1) * 1000000ull) / 1e9);
        }
    }
    ck_assert_uint_eq(m->live_series.n, nwin);
    ck_assert(m->live_series.pts[nwin - 1].last ==
              (double)(f1(NSNAP - 1) + f2(NSNAP - 1) + f3(NSNAP - 1)));
    ck_assert(m->rss_series.pts[0].max == 4096.0 * 63);
    ck_assert_uint_eq(m->totals.peak_rss_bytes, 4096 * (NSNAP - 1));
    hg_model_free(m);
    craft_free(&c);
}
END_TEST

/*
 * --top K applied before details are built (hg_model_opts_t.detail_top): 300
 * stacks, grouped by stack. Stacks 1..5 grow (stack s by s x 64 KiB a snapshot),
 * the others hold s * 10 bytes from the first snapshot on, and at exit stacks
 * 150..153 leak 1,000,000 / 900,000 / 800,000 / 700,000 bytes. With K = 3 the
 * first three in ranking order (the fastest growing: 5, 4, 3) and the three
 * largest leaks (150, 151, 152) get stacks and series, nothing else does;
 * every site's counters, leaks and verdict are the same as with K = 0.
 */
#define NDETAIL_STACKS 300
#define NDETAIL_SNAPS  40

static void detail_trace(craft_t *c)
{
    craft_init(c);
    craft_preamble(c);
    craft_header(c, "");
    craft_module(c, 1, 0, 0x400000, 0x400000, 0x500000, PROG, NULL, 0);
    for (uint64_t s = 1; s <= NDETAIL_STACKS; s++) {
        /* grow_cache <- an unknown caller of its own: one stack each */
        uint64_t fr[2] = {0x402011, 0x600000 + s * 16};
        craft_stack(c, s, 2, fr);
    }
    static craft_counter_t k[NDETAIL_STACKS];
    for (uint64_t i = 0; i < NDETAIL_SNAPS; i++) {
        size_t n = 0;
        for (uint64_t s = 1; s <= NDETAIL_STACKS; s++) {
            if (s <= 5)
                k[n++] =
                    (craft_counter_t){s, (i + 1) * s * 65536, i + 1, i + 1, (i + 1) * s * 65536};
            else if (i == 0)
                k[n++] = (craft_counter_t){s, s * 10, 1, 1, s * 10};
        }
        uint64_t tot[8] = {0};
        craft_snapshot(c, (i + 1) * 100000000ull, 1 << 20, tot, n, k);
    }
    craft_live_begin(c, 4100000000ull, HG_DUMP_EXIT, 4);
    craft_live_t l[4] = {
        {0x10000, 1000000, 150, 1},
        {0x20000, 900000, 151, 1},
        {0x30000, 800000, 152, 1},
        {0x40000, 700000, 153, 1},
    };
    craft_live_chunk(c, 4, l);
    craft_live_end(c, 4);
    craft_end(c, 4100000001ull, HG_END_EXIT, 0);
}

static hg_model_t *load_top(const craft_t *c, size_t detail_top)
{
    write_trace(c);
    hg_model_opts_t o = {
        .group_by = HG_GROUP_STACK, .growth = hg_growth_default_params(), .detail_top = detail_top};
    hg_model_t *m = NULL;
    char err[256];
    int rc = hg_model_load(trace_path, &o, &m, err, sizeof(err));
    ck_assert_msg(rc == 0, "load: %d %s", rc, err);
    unlink(trace_path);
    return m;
}

/* The caller frame's address identifies the stack (0x600000 + 16 s). */
static uint64_t stack_of(const hg_site_t *full)
{
    ck_assert_uint_eq(full->nstacks_shown, 1);
    ck_assert_uint_eq(full->stacks[0].nframes, 2);
    return (full->stacks[0].frames[1].address - 0x600000) / 16;
}

START_TEST(test_detail_top)
{
    craft_t c;
    detail_trace(&c);
    hg_model_t *all = load_top(&c, 0), *top = load_top(&c, 3);
    ck_assert_uint_eq(all->nsites, NDETAIL_STACKS);
    ck_assert_uint_eq(top->nsites, NDETAIL_STACKS);
    size_t ndetail = 0;
    for (size_t j = 0; j < all->nsites; j++) {
        const hg_site_t *a = &all->sites[j], *t = &top->sites[j];
        /* same ranking, counters, leaks and verdicts */
        ck_assert(a->has_detail);
        ck_assert_uint_eq(a->frame.address, t->frame.address);
        ck_assert_uint_eq(a->end_live_bytes, t->end_live_bytes);
        ck_assert_uint_eq(a->alloc_bytes, t->alloc_bytes);
        ck_assert_uint_eq(a->peak_live_bytes, t->peak_live_bytes);
        ck_assert_uint_eq(a->nstacks_total, t->nstacks_total);
        ck_assert_int_eq(a->leaked.bytes, t->leaked.bytes);
        ck_assert_int_eq(a->growth.is_growing, t->growth.is_growing);
        ck_assert_str_eq(a->growth.reason, t->growth.reason);
        ck_assert(a->growth.slope_bytes_per_s == t->growth.slope_bytes_per_s);
        ck_assert_uint_eq(a->series.n, NDETAIL_SNAPS);
        uint64_t st = stack_of(a);
        bool want = j < 3 || st == 150 || st == 151 || st == 152;
        ck_assert_msg(t->has_detail == want, "site %zu (stack %lu): has_detail %d", j,
                      (unsigned long)st, t->has_detail);
        if (j < 5) {
            /* the growing stacks first, fastest first */
            ck_assert(a->growth.is_growing);
            ck_assert_uint_eq(st, 5 - j);
        }
        if (!want) {
            ck_assert_uint_eq(t->nstacks_shown, 0);
            ck_assert_uint_eq(t->series.n, 0);
            continue;
        }
        ndetail++;
        ck_assert_uint_eq(t->nstacks_shown, 1);
        ck_assert_uint_eq(t->stacks[0].nframes, 2);
        ck_assert_uint_eq(t->stacks[0].frames[1].address, a->stacks[0].frames[1].address);
        ck_assert_uint_eq(t->series.n, a->series.n);
        ck_assert_int_eq(memcmp(t->series.pts, a->series.pts, a->series.n * sizeof(*a->series.pts)),
                         0);
    }
    ck_assert_uint_eq(ndetail, 6);
    hg_model_free(all);
    hg_model_free(top);
    /* K at least the number of sites: every site has details */
    top = load_top(&c, NDETAIL_STACKS);
    for (size_t j = 0; j < top->nsites; j++)
        ck_assert(top->sites[j].has_detail);
    hg_model_free(top);
    craft_free(&c);
}
END_TEST

START_TEST(test_errors)
{
    hg_model_opts_t o = {.group_by = HG_GROUP_SITE, .growth = hg_growth_default_params()};
    hg_model_t *m = (hg_model_t *)1;
    char err[256];
    ck_assert_int_eq(hg_model_load("/nonexistent/x.hgt", &o, &m, err, sizeof(err)), -ENOENT);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(err, "No such file or directory");

    craft_t c;
    craft_init(&c);
    craft_preamble(&c);
    craft_header(&c, "");
    craft_counter_t k = {17, 1, 1, 1, 1};
    uint64_t tot[8] = {0};
    craft_snapshot(&c, 1, 0, tot, 1, &k);
    write_trace(&c);
    ck_assert_int_eq(hg_model_load(trace_path, &o, &m, err, sizeof(err)), -HG_EFORMAT);
    ck_assert_str_eq(strstr(err, ": stack 17 referenced before it was defined"),
                     ": stack 17 referenced before it was defined");
    ck_assert_int_eq(strncmp(err, "offset ", 7), 0);
    unlink(trace_path);
    craft_free(&c);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, test_two_sites);
    tcase_add_test(tc, test_ended_early);
    tcase_add_test(tc, test_write_failed);
    tcase_add_test(tc, test_reach_kinds);
    tcase_add_test(tc, test_signal_dump_is_not_leak);
    tcase_add_test(tc, test_signal_end_has_final_live_set);
    tcase_add_test(tc, test_group_by_stack);
    tcase_add_test(tc, test_inlined_std_frame);
    tcase_add_test(tc, test_header_wrappers);
    tcase_add_test(tc, test_allocator_before_tracer);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_detail_top);
    suite_add_tcase(s, tc);
    tc = tcase_create("series");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_downsampling);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
