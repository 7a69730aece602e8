/*
 * Builds the analyzer's model of one traced process (contract: model.h) by
 * streaming the trace once through the reader: modules go to the symbolizer,
 * every stack is symbolized when it is defined and mapped to its call site
 * (sites.c), snapshots update per-stack and per-site counters and the windowed
 * series, the exit live set gives the leaks. Nothing is kept per snapshot or
 * per allocation: memory is O(stacks x frames + sites x HG_SERIES_MAX_POINTS).
 * At the end every site is judged from its series exported into scratch;
 * only the sites a report will show (hg_model_opts_t.detail_top) get their
 * series and stacks copied out.
 *
 * It never prints; errors come back as a code and a one-line message.
 */
#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uthash.h"

#include "heapgrow/estimate.h"
#include "heapgrow/format.h"
#include "reader.h"
#include "sites.h"

/*
 * Every frame the tracer records is a return address (docs/FORMAT.md, STACK):
 * the unwinders capture the shim's own frames too and drop them, so even the
 * innermost recorded frame is the address after the call into the allocator.
 * Looking it up as address - 1 names the call's line rather than the next one.
 */
#define INNERMOST_IS_RETURN_ADDRESS true

/* Inlined frames kept per address (deeper inlining chains are cut). */
#define MAX_INLINE 32
/* Ids below 2 x (stacks defined) + DENSE_SLACK are looked up in an array. */
#define DENSE_SLACK 65536
/* Trace WARNING records kept verbatim; the rest are counted. */
#define MAX_TRACE_WARNINGS 64

/* ---- windowed series ---- */

/*
 * Windowed series. All series share one grid: window W covers snapshots
 * [W * width, (W + 1) * width) by snapshot index. When a snapshot would open
 * window HG_SERIES_MAX_POINTS, every series merges adjacent pairs and width
 * doubles, so each series keeps at most HG_SERIES_MAX_POINTS windows however
 * long the run. A series is sparse: it stores only the windows in which its
 * value was updated, in order; a window not stored held the value the stored
 * window before it ended with (0 before the first one: the site had no live
 * bytes yet). A site is touched only when one of its stacks changes, so a
 * site that changed in ten snapshots of a long run costs ten windows, not
 * 256 (with --group-by stack, 100k of them: docs/REPORT.md).
 */
typedef struct win {
    uint64_t min, max, last;
    uint32_t idx; /* window index on the grid */
} win_t;

typedef struct ser {
    win_t *w;
    uint32_t n, cap;
    uint64_t cur; /* the latest value: w[n - 1].last, or 0 */
} ser_t;

typedef struct grid {
    uint64_t width; /* snapshots per window          */
    uint32_t nwin;  /* windows opened so far         */
    double t_start[HG_SERIES_MAX_POINTS];
    double t_end[HG_SERIES_MAX_POINTS];
} grid_t;

static int ser_push(ser_t *s, uint32_t idx, uint64_t v)
{
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 4;
        if (cap > HG_SERIES_MAX_POINTS)
            cap = HG_SERIES_MAX_POINTS;
        win_t *w = realloc(s->w, cap * sizeof(*w));
        if (!w)
            return -ENOMEM;
        s->w = w;
        s->cap = cap;
    }
    s->w[s->n++] = (win_t){v, v, v, idx};
    return 0;
}

/* Records value v at snapshot k, which falls in window W of width `width`. */
static int ser_update(ser_t *s, uint32_t W, uint64_t k, uint64_t width, uint64_t v)
{
    if (s->n == 0 || s->w[s->n - 1].idx != W) {
        /* Opening window W: earlier snapshots of W saw the carried value. */
        if (ser_push(s, W, k > (uint64_t)W * width ? s->cur : v) < 0)
            return -ENOMEM;
    }
    win_t *w = &s->w[s->n - 1];
    if (v < w->min)
        w->min = v;
    if (v > w->max)
        w->max = v;
    w->last = v;
    s->cur = v;
    return 0;
}

/* Merges adjacent pairs of windows (global pairs 2p, 2p + 1). */
static void ser_halve(ser_t *s)
{
    uint32_t nn = 0;
    uint64_t carried = 0; /* what a window not stored held: the last value before it */
    for (uint32_t j = 0; j < s->n; j++) {
        win_t w = s->w[j];
        uint64_t last = w.last;
        uint32_t g = w.idx;
        w.idx = g / 2;
        if (nn > 0 && s->w[nn - 1].idx == w.idx) {
            win_t *o = &s->w[nn - 1];
            if (w.min < o->min)
                o->min = w.min;
            if (w.max > o->max)
                o->max = w.max;
            o->last = w.last;
        } else {
            if (g & 1) {
                /* Its partner g - 1 was not stored: it held the carried value
                 * (a partner g + 1 not stored holds w.last, already in). */
                if (carried < w.min)
                    w.min = carried;
                if (carried > w.max)
                    w.max = carried;
            }
            s->w[nn++] = w;
        }
        carried = last;
    }
    s->n = nn;
}

static void grid_halve(grid_t *g)
{
    uint32_t nn = (g->nwin + 1) / 2;
    for (uint32_t p = 0; p < nn; p++) {
        g->t_start[p] = g->t_start[2 * p];
        g->t_end[p] = 2 * p + 1 < g->nwin ? g->t_end[2 * p + 1] : g->t_end[2 * p];
    }
    g->nwin = nn;
    g->width *= 2;
}

/* Writes a series over the whole grid into pts[0..g->nwin). */
static void ser_fill(const ser_t *s, const grid_t *g, hg_series_point_t *pts)
{
    uint32_t j = 0;
    uint64_t carried = 0;
    for (uint32_t i = 0; i < g->nwin; i++) {
        hg_series_point_t *p = &pts[i];
        p->t_start_s = g->t_start[i];
        p->t_end_s = g->t_end[i];
        win_t w = {carried, carried, carried, i};
        if (j < s->n && s->w[j].idx == i) {
            w = s->w[j++];
            carried = w.last;
        }
        p->min = (double)w.min;
        p->max = (double)w.max;
        p->last = (double)w.last;
    }
}

/* Exports a series over the whole grid into a new array. */
static int ser_export(const ser_t *s, const grid_t *g, hg_series_t *out)
{
    out->pts = NULL;
    out->n = 0;
    if (g->nwin == 0)
        return 0;
    out->pts = calloc(g->nwin, sizeof(*out->pts));
    if (!out->pts)
        return -ENOMEM;
    ser_fill(s, g, out->pts);
    out->n = g->nwin;
    return 0;
}

/* ---- state ---- */

/* One resolved address (all the source frames at it, inlined first). */
struct addr_entry {
    uint64_t address;
    hg_frame_info_t *frames;
    uint32_t n;
    UT_hash_handle hh;
    struct addr_entry *next_all;
};

struct stack_entry {
    uint32_t id;
    uint32_t site;
    uint32_t site_frame; /* index of the site frame among the expanded frames */
    uint32_t nraw;
    struct addr_entry **raw;
    /* What the model counts: the tracer's counters, or in a sampled trace
     * their estimates (counts rounded to whole allocations). */
    uint64_t live_bytes, live_count, alloc_count, alloc_bytes;
    /* Sampled trace: the raw sampled counts behind them. */
    uint64_t raw_live_count, raw_alloc_count;
    uint64_t leak_bytes, leak_count;
    uint64_t leak_count_fp;                /* sampled trace: estimated, HG_EST_COUNT_ONE units */
    uint64_t kind_bytes[4], kind_count[4]; /* REACH of the exit dump */
    struct stack_entry *next_in_site;
    UT_hash_handle hh;
};

struct msite {
    hg_frame_info_t frame;
    uint64_t live_bytes, live_count, alloc_count, alloc_bytes, peak_live_bytes;
    uint64_t raw_live_count, raw_alloc_count; /* sampled trace */
    uint64_t touched;                         /* 1 + index of the last snapshot that touched it */
    struct stack_entry *stacks;
    size_t nstacks;
    ser_t ser;
    /* filled when the trace has been read (finish) */
    hg_leak_t leaked, leak_kinds[4];
    int64_t sampled_leak_count; /* sampled trace: hg_site_t's */
    hg_growth_t growth;
    uint32_t rank;   /* position in the ranking */
    bool has_detail; /* gets its series and stacks (model.h, detail_top) */
};

/* One distinct site series. Sites whose series are equal (the many that are
 * all zeros, or that changed together) share one array, so the exported
 * series cost memory per distinct shape, not per site. */
struct series_blob {
    hg_series_point_t *pts;
    UT_hash_handle hh; /* keyed by the bytes of pts */
};

/* hg_model_t is the first member: hg_model_free() gets the rest back. */
typedef struct model_priv {
    hg_model_t pub;
    hg_sym_t *sym;
    struct series_blob *blobs; /* owners of every site's series.pts */
} model_priv_t;

typedef struct loader {
    const hg_model_opts_t *opts;
    model_priv_t *mp;
    hg_model_t *m;
    hg_sites_t *sites;
    struct addr_entry *cache;     /* current resolutions (cleared on module changes) */
    struct addr_entry *all_addrs; /* every entry ever made (stacks point to them) */
    struct stack_entry *stacks;   /* every stack, by id                       */
    /* Fast path for the dense low ids the writer hands out: by_id[id] for id
     * < by_id_cap, which is at most 2 x (stacks) + DENSE_SLACK. */
    struct stack_entry **by_id;
    size_t by_id_cap, nstacks;
    struct msite *ms;
    size_t nms, ms_cap;
    uint32_t *touched;
    size_t touched_cap;
    hg_frame_info_t *scratch; /* expanded frames of one stack */
    size_t scratch_cap;
    grid_t grid;
    ser_t live_ser, rss_ser;
    bool is_in_exit_dump, has_exit_dump;
    bool has_exit_reach; /* REACH records classified the last exit dump */
    size_t ntrace_warnings;
    bool has_write_error; /* a WARNING HG_WARN_WRITE_FAILED was read */
    /* Modules loaded before libheapgrow.so (the lookup order: the program,
     * then LD_PRELOAD in order), the first few; see check_lookup_order. */
    char *before_tracer[8];
    size_t nbefore_tracer;
    bool has_tracer_module;
    uint64_t write_error_ns; /* ... at this time */
    char *err;
    size_t errlen;
} loader_t;

__attribute__((format(printf, 2, 3))) static int add_warning(hg_model_t *m, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char **w = realloc(m->warnings, (m->nwarnings + 1) * sizeof(*w));
    if (!w)
        return -ENOMEM;
    m->warnings = w;
    if (!(w[m->nwarnings] = strdup(buf)))
        return -ENOMEM;
    m->nwarnings++;
    return 0;
}

static struct addr_entry *resolve(loader_t *L, uint64_t address)
{
    struct addr_entry *e;
    HASH_FIND(hh, L->cache, &address, sizeof(address), e);
    if (e)
        return e;
    hg_frame_info_t tmp[MAX_INLINE];
    size_t n = hg_sym_resolve(L->mp->sym, address, INNERMOST_IS_RETURN_ADDRESS, tmp, MAX_INLINE);
    if (n == 0) {
        /* The contract promises one frame; make one if it did not. */
        memset(&tmp[0], 0, sizeof(tmp[0]));
        tmp[0].address = address;
        n = 1;
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->frames = malloc(n * sizeof(*e->frames));
    if (!e->frames) {
        free(e);
        return NULL;
    }
    memcpy(e->frames, tmp, n * sizeof(*e->frames));
    e->n = (uint32_t)n;
    e->address = address;
    HASH_ADD(hh, L->cache, address, sizeof(e->address), e);
    e->next_all = L->all_addrs;
    L->all_addrs = e;
    return e;
}

/* Forgets cached resolutions: a module appeared or went away, so an address
 * may now mean something else. Entries stay alive for the stacks using them. */
static void cache_clear(loader_t *L)
{
    HASH_CLEAR(hh, L->cache);
}

/* Expands a stack's raw frames into L->scratch; returns the count or -ENOMEM. */
static long expand(loader_t *L, struct addr_entry *const *raw, size_t nraw)
{
    size_t total = 0;
    for (size_t i = 0; i < nraw; i++)
        total += raw[i]->n;
    if (total > L->scratch_cap) {
        hg_frame_info_t *s = realloc(L->scratch, total * sizeof(*s));
        if (!s)
            return -ENOMEM;
        L->scratch = s;
        L->scratch_cap = total;
    }
    size_t k = 0;
    for (size_t i = 0; i < nraw; i++) {
        memcpy(L->scratch + k, raw[i]->frames, raw[i]->n * sizeof(*L->scratch));
        k += raw[i]->n;
    }
    return (long)k;
}

static int new_msite(loader_t *L, const hg_frame_info_t *frame)
{
    if (L->nms == L->ms_cap) {
        size_t cap = L->ms_cap ? L->ms_cap * 2 : 64;
        struct msite *ms = realloc(L->ms, cap * sizeof(*ms));
        if (!ms)
            return -ENOMEM;
        L->ms = ms;
        L->ms_cap = cap;
    }
    struct msite *s = &L->ms[L->nms++];
    memset(s, 0, sizeof(*s));
    if (frame)
        s->frame = *frame;
    return 0;
}

/* Creates the entry of stack `id` from its raw frames and maps it to a site. */
static int add_stack(loader_t *L, uint32_t id, const uint64_t *frames, size_t nframes,
                     struct stack_entry **out)
{
    struct stack_entry *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->id = id;
    if (nframes) {
        st->raw = malloc(nframes * sizeof(*st->raw));
        if (!st->raw) {
            free(st);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < nframes; i++) {
        if (!(st->raw[i] = resolve(L, frames[i]))) {
            free(st->raw);
            free(st);
            return -ENOMEM;
        }
    }
    st->nraw = (uint32_t)nframes;
    long n = expand(L, st->raw, nframes);
    size_t sf = 0;
    bool is_new = false;
    long site = n < 0 ? n : hg_sites_intern(L->sites, L->scratch, (size_t)n, &sf, &is_new);
    if (site < 0 || (is_new && new_msite(L, n > 0 ? &L->scratch[sf] : NULL) < 0)) {
        free(st->raw);
        free(st);
        return -ENOMEM;
    }
    st->site = (uint32_t)site;
    st->site_frame = (uint32_t)sf;
    struct msite *ms = &L->ms[site];
    st->next_in_site = ms->stacks;
    ms->stacks = st;
    ms->nstacks++;
    HASH_ADD(hh, L->stacks, id, sizeof(st->id), st);
    L->nstacks++;
    if (id >= L->by_id_cap && id < 2 * (uint64_t)L->nstacks + DENSE_SLACK) {
        size_t cap = L->by_id_cap ? L->by_id_cap * 2 : DENSE_SLACK;
        while (cap <= id)
            cap *= 2;
        struct stack_entry **v = realloc(L->by_id, cap * sizeof(*v));
        if (!v)
            return -ENOMEM; /* st stays in the hash and is freed with it */
        memset(v + L->by_id_cap, 0, (cap - L->by_id_cap) * sizeof(*v));
        L->by_id = v;
        L->by_id_cap = cap;
        struct stack_entry *e, *tmp;
        HASH_ITER(hh, L->stacks, e, tmp) {
            if (e->id < cap)
                v[e->id] = e;
        }
    }
    if (id < L->by_id_cap)
        L->by_id[id] = st;
    if (out)
        *out = st;
    return 0;
}

/* The entry of a referenced stack; id 0 (unknown) is created on first use. */
static struct stack_entry *get_stack(loader_t *L, uint32_t id)
{
    struct stack_entry *st;
    if (id < L->by_id_cap)
        st = L->by_id[id];
    else
        HASH_FIND(hh, L->stacks, &id, sizeof(id), st);
    if (!st && id == 0 && add_stack(L, 0, NULL, 0, &st) < 0)
        return NULL;
    return st;
}

/* ---- records ---- */

static int on_header(loader_t *L, const hg_record_t *rec)
{
    hg_model_t *m = L->m;
    m->pid = rec->u.header.pid;
    m->ppid = rec->u.header.ppid;
    m->start_real_ns = rec->u.header.start_real_ns;
    m->interval_ms =
        rec->u.header.interval_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)rec->u.header.interval_ms;
    m->sample_bytes = rec->u.header.sample_bytes;
    m->is_fork_child = (rec->u.header.flags & HG_HDR_FORKED) != 0;
    if (!(m->exe = strdup(rec->u.header.exe)) || !(m->wrappers = strdup(rec->u.header.wrappers)))
        return -ENOMEM;
    m->argv = calloc(rec->u.header.argc + 1, sizeof(*m->argv));
    if (!m->argv)
        return -ENOMEM;
    for (size_t i = 0; i < rec->u.header.argc; i++) {
        if (!(m->argv[i] = strdup(rec->u.header.argv[i])))
            return -ENOMEM;
        m->argc = i + 1;
    }
    return hg_sites_add_wrappers(L->sites, rec->u.header.wrappers);
}

/* An estimated count (HG_EST_COUNT_ONE units) in whole allocations. */
static uint64_t est_count(uint64_t fp)
{
    return (fp >> HG_EST_COUNT_SHIFT) + ((fp >> (HG_EST_COUNT_SHIFT - 1)) & 1);
}

static int on_snapshot(loader_t *L, const hg_record_t *rec)
{
    hg_model_t *m = L->m;
    grid_t *g = &L->grid;
    uint64_t k = m->nsnapshots;
    uint64_t W = k / g->width;
    if (W >= HG_SERIES_MAX_POINTS) {
        grid_halve(g);
        for (size_t i = 0; i < L->nms; i++)
            ser_halve(&L->ms[i].ser);
        ser_halve(&L->live_ser);
        ser_halve(&L->rss_ser);
        W = k / g->width;
    }
    double t = (double)rec->u.snapshot.time_ns / 1e9;
    if (W == g->nwin) {
        g->t_start[W] = t;
        g->nwin++;
    }
    g->t_end[W] = t;

    if (rec->u.snapshot.n > L->touched_cap) {
        uint32_t *tp = realloc(L->touched, rec->u.snapshot.n * sizeof(*tp));
        if (!tp)
            return -ENOMEM;
        L->touched = tp;
        L->touched_cap = rec->u.snapshot.n;
    }
    size_t ntouched = 0;
    for (size_t i = 0; i < rec->u.snapshot.n; i++) {
        const hg_rec_counter_t *c = &rec->u.snapshot.counters[i];
        struct stack_entry *st = get_stack(L, c->stack_id);
        if (!st)
            return -ENOMEM; /* the reader checked the id: only allocation fails */
        struct msite *s = &L->ms[st->site];
        /* A sampled trace is read through its estimates (the raw counts
         * are kept for the report's "samples"). */
        hg_rec_counter_t v = *c;
        if (rec->u.snapshot.has_estimates) {
            v.live_bytes = c->est_live_bytes;
            v.live_count = est_count(c->est_live_count);
            v.alloc_count = est_count(c->est_alloc_count);
            v.alloc_bytes = c->est_alloc_bytes;
            s->raw_live_count += c->live_count - st->raw_live_count;
            s->raw_alloc_count += c->alloc_count - st->raw_alloc_count;
            st->raw_live_count = c->live_count;
            st->raw_alloc_count = c->alloc_count;
        }
        /* Counters are absolute: apply the change since this stack's last
         * values (unsigned wrap-around keeps the sums exact). */
        s->live_bytes += v.live_bytes - st->live_bytes;
        s->live_count += v.live_count - st->live_count;
        s->alloc_count += v.alloc_count - st->alloc_count;
        s->alloc_bytes += v.alloc_bytes - st->alloc_bytes;
        st->live_bytes = v.live_bytes;
        st->live_count = v.live_count;
        st->alloc_count = v.alloc_count;
        st->alloc_bytes = v.alloc_bytes;
        if (s->touched != k + 1) {
            s->touched = k + 1;
            L->touched[ntouched++] = st->site;
        }
    }
    for (size_t i = 0; i < ntouched; i++) {
        struct msite *s = &L->ms[L->touched[i]];
        if (ser_update(&s->ser, (uint32_t)W, k, g->width, s->live_bytes) < 0)
            return -ENOMEM;
        if (s->live_bytes > s->peak_live_bytes)
            s->peak_live_bytes = s->live_bytes;
    }
    /* Totals: the tracer's, or their estimates in a sampled trace. */
    uint64_t alloc_count = rec->u.snapshot.alloc_count, alloc_bytes = rec->u.snapshot.alloc_bytes;
    uint64_t free_count = rec->u.snapshot.free_count, free_bytes = rec->u.snapshot.free_bytes;
    uint64_t live_bytes = rec->u.snapshot.live_bytes, live_count = rec->u.snapshot.live_count;
    uint64_t peak_live_bytes = rec->u.snapshot.peak_live_bytes;
    if (rec->u.snapshot.has_estimates) {
        alloc_count = est_count(rec->u.snapshot.est.alloc_count);
        alloc_bytes = rec->u.snapshot.est.alloc_bytes;
        free_bytes = rec->u.snapshot.est.free_bytes;
        live_bytes = rec->u.snapshot.est.live_bytes;
        live_count = est_count(rec->u.snapshot.est.live_count);
        /* Rounded each on its own, the three counts could miss
         * allocations - frees = live by one: frees follow from the others. */
        free_count = alloc_count >= live_count ? alloc_count - live_count
                                               : est_count(rec->u.snapshot.est.free_count);
        peak_live_bytes = rec->u.snapshot.est.peak_live_bytes;
        m->totals.sampled_alloc_count = rec->u.snapshot.alloc_count;
    }
    if (ser_update(&L->live_ser, (uint32_t)W, k, g->width, live_bytes) < 0 ||
        ser_update(&L->rss_ser, (uint32_t)W, k, g->width, rec->u.snapshot.rss_bytes) < 0)
        return -ENOMEM;

    hg_totals_t *tt = &m->totals;
    tt->alloc_count = alloc_count;
    tt->alloc_bytes = alloc_bytes;
    tt->free_count = free_count;
    tt->free_bytes = free_bytes;
    tt->end_live_bytes = live_bytes;
    tt->end_live_count = live_count;
    tt->end_rss_bytes = rec->u.snapshot.rss_bytes;
    tt->dropped_count = rec->u.snapshot.dropped_count;
    if (live_bytes > tt->peak_live_bytes)
        tt->peak_live_bytes = live_bytes;
    if (peak_live_bytes > tt->peak_live_bytes)
        tt->peak_live_bytes = peak_live_bytes;
    if (rec->u.snapshot.rss_bytes > tt->peak_rss_bytes)
        tt->peak_rss_bytes = rec->u.snapshot.rss_bytes;
    m->duration_s = t;
    m->nsnapshots++;
    return 0;
}

/* Remembers the modules loaded before the tracer's own library. */
static int note_module_order(loader_t *L, const char *path)
{
    if (L->has_tracer_module)
        return 0;
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (strncmp(base, "libheapgrow", strlen("libheapgrow")) == 0) {
        L->has_tracer_module = true;
        return 0;
    }
    size_t max = sizeof(L->before_tracer) / sizeof(L->before_tracer[0]);
    if (path[0] != '/' || L->nbefore_tracer == max)
        return 0; /* "linux-vdso.so.1", "[unnamed]": not files */
    if (!(L->before_tracer[L->nbefore_tracer] = strdup(path)))
        return -ENOMEM;
    L->nbefore_tracer++;
    return 0;
}

static int on_record(loader_t *L, const hg_record_t *rec)
{
    hg_model_t *m = L->m;
    switch (rec->tag) {
    case HG_REC_HEADER:
        return on_header(L, rec);
    case HG_REC_MODULE_LOAD: {
        int rc = hg_sym_add_module(L->mp->sym, rec->u.module_load.module_id,
                                   rec->u.module_load.path, rec->u.module_load.load_bias,
                                   rec->u.module_load.start, rec->u.module_load.end,
                                   rec->u.module_load.build_id, rec->u.module_load.build_id_len);
        cache_clear(L);
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0)
            return add_warning(m, "module %s: cannot use it (%s)", rec->u.module_load.path,
                               strerror(-rc));
        return note_module_order(L, rec->u.module_load.path);
    }
    case HG_REC_MODULE_UNLOAD:
        hg_sym_remove_module(L->mp->sym, rec->u.module_unload.module_id);
        cache_clear(L);
        return 0;
    case HG_REC_STACK:
        return add_stack(L, rec->u.stack.stack_id, rec->u.stack.frames, rec->u.stack.nframes, NULL);
    case HG_REC_SNAPSHOT:
        return on_snapshot(L, rec);
    case HG_REC_LIVE_BEGIN:
        L->is_in_exit_dump = rec->u.live_begin.reason == HG_DUMP_EXIT;
        if (L->is_in_exit_dump) {
            /* The last exit dump is the final live set. */
            L->has_exit_dump = false;
            L->has_exit_reach = false;
            struct stack_entry *st, *tmp;
            HASH_ITER(hh, L->stacks, st, tmp) {
                st->leak_bytes = 0;
                st->leak_count = 0;
                st->leak_count_fp = 0;
                memset(st->kind_bytes, 0, sizeof st->kind_bytes);
                memset(st->kind_count, 0, sizeof st->kind_count);
            }
        }
        return 0;
    case HG_REC_LIVE_CHUNK:
        if (!L->is_in_exit_dump)
            return 0;
        for (size_t i = 0; i < rec->u.live_chunk.n; i++) {
            struct stack_entry *st = get_stack(L, rec->u.live_chunk.entries[i].stack_id);
            if (!st)
                return -ENOMEM;
            uint64_t size = rec->u.live_chunk.entries[i].size;
            st->leak_count++;
            if (m->sample_bytes == 0) {
                st->leak_bytes += size;
                continue;
            }
            /* A sampled block stands for the same estimate it added to the
             * live counters when it was allocated (estimate.h). */
            uint64_t bytes, count_fp;
            hg_est_weigh(size, m->sample_bytes, &bytes, &count_fp);
            st->leak_bytes += bytes;
            st->leak_count_fp += count_fp;
        }
        return 0;
    case HG_REC_LIVE_END:
        if (L->is_in_exit_dump)
            L->has_exit_dump = true;
        L->is_in_exit_dump = false;
        return 0;
    case HG_REC_REACH:
        /* Classifies the exit dump just read (a REACH of a requested dump
         * is not the final word on leaks). */
        if (rec->u.reach.reason != HG_DUMP_EXIT || !L->has_exit_dump)
            return 0;
        if (rec->u.reach.status != 0)
            return add_warning(m, "the tracer could not classify reachability at exit (%s)",
                               strerror((int)rec->u.reach.status));
        L->has_exit_reach = true;
        m->reach_threads_unseen += rec->u.reach.threads_unseen;
        for (size_t i = 0; i < rec->u.reach.n; i++) {
            const hg_rec_reach_t *e = &rec->u.reach.entries[i];
            struct stack_entry *st = get_stack(L, e->stack_id);
            if (!st)
                return -ENOMEM;
            for (int k = 0; k < 4; k++) {
                st->kind_bytes[k] += e->bytes[k];
                st->kind_count[k] += e->count[k];
            }
        }
        return 0;
    case HG_REC_END:
        m->has_end = true;
        m->end_reason = (int)rec->u.end.reason;
        m->end_status = (int)rec->u.end.status;
        if ((double)rec->u.end.time_ns / 1e9 > m->duration_s)
            m->duration_s = (double)rec->u.end.time_ns / 1e9;
        return 0;
    case HG_REC_WARNING:
        if (rec->u.warning.code == HG_WARN_WRITE_FAILED && !L->has_write_error) {
            /* The tracer's last record when it could not go on writing
             * (FORMAT.md): the cause of the early end, not a warning. */
            L->has_write_error = true;
            L->write_error_ns = rec->u.warning.time_ns;
            free(m->write_error);
            if (!(m->write_error = strdup(rec->u.warning.message)))
                return -ENOMEM;
            return 0;
        }
        if (L->ntrace_warnings++ < MAX_TRACE_WARNINGS)
            return add_warning(m, "tracer warning at %.1f s: %s (code %" PRIu64 ")",
                               (double)rec->u.warning.time_ns / 1e9, rec->u.warning.message,
                               rec->u.warning.code);
        return 0;
    }
    return 0;
}

/* ---- finishing ---- */

static int cmp_stack(const void *a, const void *b)
{
    const struct stack_entry *x = *(struct stack_entry *const *)a;
    const struct stack_entry *y = *(struct stack_entry *const *)b;
    if (x->live_bytes != y->live_bytes)
        return x->live_bytes > y->live_bytes ? -1 : 1;
    if (x->alloc_bytes != y->alloc_bytes)
        return x->alloc_bytes > y->alloc_bytes ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The ranking of sites (model.h): growing first by slope, then by end live
 * bytes, then by bytes allocated; ties by function name and address. */
static int cmp_msite(const void *a, const void *b)
{
    const struct msite *x = *(struct msite *const *)a, *y = *(struct msite *const *)b;
    if (x->growth.is_growing != y->growth.is_growing)
        return x->growth.is_growing ? -1 : 1;
    if (x->growth.is_growing && x->growth.slope_bytes_per_s != y->growth.slope_bytes_per_s)
        return x->growth.slope_bytes_per_s > y->growth.slope_bytes_per_s ? -1 : 1;
    if (x->live_bytes != y->live_bytes)
        return x->live_bytes > y->live_bytes ? -1 : 1;
    if (x->alloc_bytes != y->alloc_bytes)
        return x->alloc_bytes > y->alloc_bytes ? -1 : 1;
    /* Stable and deterministic: by function name, then address. */
    const char *fx = x->frame.function ? x->frame.function : "";
    const char *fy = y->frame.function ? y->frame.function : "";
    int c = strcmp(fx, fy);
    if (c)
        return c;
    return x->frame.address < y->frame.address ? -1 : x->frame.address > y->frame.address;
}

/* Makes *ser point at the shared copy of its content (freeing its own array
 * when there already is one). Returns 0 or -ENOMEM (then *ser is empty). */
static int share_series(model_priv_t *mp, hg_series_t *ser)
{
    if (!ser->pts)
        return 0;
    size_t len = ser->n * sizeof(*ser->pts);
    struct series_blob *b;
    HASH_FIND(hh, mp->blobs, ser->pts, len, b);
    if (b) {
        free(ser->pts);
        ser->pts = b->pts;
        return 0;
    }
    if (!(b = calloc(1, sizeof(*b)))) {
        free(ser->pts);
        ser->pts = NULL;
        ser->n = 0;
        return -ENOMEM;
    }
    b->pts = ser->pts;
    HASH_ADD_KEYPTR(hh, mp->blobs, b->pts, len, b);
    return 0;
}

/* Fills the shown stacks of site `s` from model site `ms`. */
static int fill_stacks(loader_t *L, const struct msite *ms, hg_site_t *s)
{
    if (ms->nstacks == 0)
        return 0;
    struct stack_entry **v = malloc(ms->nstacks * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t n = 0;
    for (struct stack_entry *st = ms->stacks; st; st = st->next_in_site)
        v[n++] = st;
    qsort(v, n, sizeof(*v), cmp_stack);
    int rc = 0;
    for (size_t i = 0; i < n && i < HG_SITE_TOP_STACKS; i++) {
        long nf = expand(L, v[i]->raw, v[i]->nraw);
        if (nf < 0) {
            rc = -ENOMEM;
            break;
        }
        hg_stack_view_t *sv = &s->stacks[i];
        size_t from = v[i]->site_frame < (size_t)nf ? v[i]->site_frame : 0;
        sv->nframes = (size_t)nf - from;
        sv->end_live_bytes = v[i]->live_bytes;
        sv->alloc_bytes = v[i]->alloc_bytes;
        if (sv->nframes) {
            sv->frames = malloc(sv->nframes * sizeof(*sv->frames));
            if (!sv->frames) {
                rc = -ENOMEM;
                break;
            }
            memcpy(sv->frames, L->scratch + from, sv->nframes * sizeof(*sv->frames));
        }
        s->nstacks_shown = i + 1;
    }
    free(v);
    return rc;
}

/* An object before libheapgrow.so in the lookup order that defines malloc
 * (a hand-made LD_PRELOAD=libtcmalloc.so:libheapgrow.so, or a program with
 * its own exported malloc) gets the calls the tracer should see: the trace is
 * then nearly empty, for no visible reason. Say why. heapgrow run puts the
 * tracer first, so only plain preload meets this. */
static int check_lookup_order(loader_t *L)
{
    if (!L->has_tracer_module)
        return 0;
    for (size_t i = 0; i < L->nbefore_tracer; i++) {
        if (!hg_sym_file_exports(L->before_tracer[i], "malloc"))
            continue;
        int rc = add_warning(L->m,
                             "%s defines malloc and comes before libheapgrow.so in the symbol "
                             "lookup order: the allocations it serves are not traced (put "
                             "libheapgrow.so first in LD_PRELOAD, as heapgrow run does)",
                             L->before_tracer[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * Growth verdicts of every site. A site's series is exported into scratch,
 * never kept: what a report does not show costs no memory (with --group-by
 * stack a 60 s trace can have 131,073 entries; docs/REPORT.md, "Many sites
 * and stacks"). Sites whose stored windows are equal (all zeros, or changed
 * together) have equal series and get the verdict of the first of them: a
 * memo keyed by a hash of the windows, checked against that first site's, so
 * that a hash collision costs a computation, never a wrong verdict.
 */
struct growth_memo {
    uint64_t hash;
    uint32_t site; /* index into loader_t.ms of the series this verdict is of */
    hg_growth_t growth;
    UT_hash_handle hh;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t ser_hash(const ser_t *s)
{
    uint64_t h = s->n;
    for (uint32_t i = 0; i < s->n; i++) {
        const win_t *w = &s->w[i];
        h = mix(mix(mix(mix(h, w->idx), w->min), w->max), w->last);
    }
    return h;
}

static bool ser_equal(const ser_t *a, const ser_t *b)
{
    if (a->n != b->n)
        return false;
    for (uint32_t i = 0; i < a->n; i++) {
        const win_t *x = &a->w[i], *y = &b->w[i];
        if (x->idx != y->idx || x->min != y->min || x->max != y->max || x->last != y->last)
            return false;
    }
    return true;
}

static int analyze_sites(loader_t *L)
{
    size_t nwin = L->grid.nwin;
    hg_series_point_t *pts = calloc(nwin + 1, sizeof(*pts));
    struct growth_memo *memo = NULL, *e, *tmp;
    int rc = 0;
    if (!pts) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < L->nms; i++) {
        struct msite *ms = &L->ms[i];
        uint64_t h = ser_hash(&ms->ser);
        HASH_FIND(hh, memo, &h, sizeof(h), e);
        if (e && ser_equal(&ms->ser, &L->ms[e->site].ser)) {
            ms->growth = e->growth;
            continue;
        }
        ser_fill(&ms->ser, &L->grid, pts);
        int grc = hg_growth_analyze(pts, nwin, &L->opts->growth, &ms->growth);
        if (grc == -ENOMEM) {
            rc = grc;
            goto out;
        }
        if (grc < 0) {
            hg_growth_t *g = &ms->growth;
            memset(g, 0, sizeof(*g));
            g->slope_bytes_per_s = g->mk_z = g->mk_s = g->p_value = NAN;
            g->late_slope_bytes_per_s = g->late_p_value = g->net_gain_bytes = NAN;
            g->confidence = NAN;
            g->reason = "statistics unavailable";
        }
        if (!e) {
            if (!(e = calloc(1, sizeof(*e)))) {
                rc = -ENOMEM;
                goto out;
            }
            e->hash = h;
            e->site = (uint32_t)i;
            e->growth = ms->growth;
            HASH_ADD(hh, memo, hash, sizeof(e->hash), e);
        }
    }
out:
    HASH_ITER(hh, memo, e, tmp) {
        HASH_DEL(memo, e);
        free(e);
    }
    free(pts);
    return rc;
}

/* Leaked bytes of the sites, the larger first; equal ones in ranking order. */
static int cmp_leak_rank(const void *a, const void *b)
{
    const struct msite *x = *(struct msite *const *)a, *y = *(struct msite *const *)b;
    if (x->leaked.bytes != y->leaked.bytes)
        return x->leaked.bytes > y->leaked.bytes ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/*
 * Which sites get their details (series and stacks): with detail_top = K > 0,
 * the first K in ranking order and the K that leaked most (what the text
 * report lists and the JSON report writes); every site when K = 0. Sets
 * ms->has_detail; `order` is the ranking.
 */
static int choose_details(loader_t *L, struct msite **order, size_t n)
{
    size_t k = L->opts->detail_top;
    for (size_t j = 0; j < n; j++)
        order[j]->has_detail = k == 0 || j < k;
    if (k == 0 || n <= k)
        return 0;
    struct msite **leaks = malloc(n * sizeof(*leaks));
    if (!leaks)
        return -ENOMEM;
    size_t nl = 0;
    for (size_t j = 0; j < n; j++)
        if (order[j]->leaked.bytes > 0)
            leaks[nl++] = order[j];
    qsort(leaks, nl, sizeof(*leaks), cmp_leak_rank);
    for (size_t j = 0; j < nl && j < k; j++)
        leaks[j]->has_detail = true;
    free(leaks);
    return 0;
}

static int finish(loader_t *L, hg_reader_t *r)
{
    hg_model_t *m = L->m;
    int rc;
    /* An exit dump (not a fault's best-effort HG_DUMP_FATAL) followed by the
     * END of an exit, an _exit or a terminating signal from outside (the
     * tracer writes those as at exit). */
    m->has_final_live_set = L->has_exit_dump && m->has_end &&
                            (m->end_reason == HG_END_EXIT || m->end_reason == HG_END_UEXIT ||
                             m->end_reason == HG_END_SIGNAL);
    m->has_reachability = m->has_final_live_set && L->has_exit_reach;
    if (hg_reader_ended_early(r)) {
        char buf[320];
        if (m->write_error != NULL)
            snprintf(buf, sizeof(buf),
                     "trace incomplete: writing it stopped at %.1f s (%s); data up to %.1f s",
                     (double)L->write_error_ns / 1e9, m->write_error, m->duration_s);
        else
            snprintf(buf, sizeof(buf),
                     "trace ends at %.1f s without an end marker (process killed?)", m->duration_s);
        if (!(m->ended_early = strdup(buf)))
            return -ENOMEM;
    } else if (hg_reader_is_gzip_truncated(r)) {
        if ((rc = add_warning(m, "the gzip stream ends without its trailer")) < 0)
            return rc;
    }
    if (hg_reader_skipped_count(r) &&
        (rc = add_warning(
             m, "%" PRIu64 " record(s) of unknown type skipped (written by a newer tracer?)",
             hg_reader_skipped_count(r))) < 0)
        return rc;
    if (hg_reader_has_trailing_bytes(r) &&
        (rc = add_warning(m, "bytes after the end of the trace were ignored")) < 0)
        return rc;
    if (L->ntrace_warnings > MAX_TRACE_WARNINGS &&
        (rc = add_warning(m, "%zu more tracer warnings not shown",
                          L->ntrace_warnings - MAX_TRACE_WARNINGS)) < 0)
        return rc;
    if ((rc = check_lookup_order(L)) < 0)
        return rc;
    const char *const *lines;
    size_t nl = hg_sym_warnings(L->mp->sym, &lines);
    for (size_t i = 0; i < nl; i++)
        if ((rc = add_warning(m, "%s", lines[i])) < 0)
            return rc;

    if (ser_export(&L->live_ser, &L->grid, &m->live_series) < 0 ||
        ser_export(&L->rss_ser, &L->grid, &m->rss_series) < 0)
        return -ENOMEM;
    if (L->nms == 0)
        return 0;

    /* Leaks and verdicts of every site, then the ranking, then the details
     * of the sites a report will show. */
    for (size_t i = 0; i < L->nms; i++) {
        struct msite *ms = &L->ms[i];
        ms->leaked = (hg_leak_t){-1, -1};
        ms->sampled_leak_count = m->sample_bytes != 0 ? -1 : 0;
        if (!m->has_final_live_set)
            continue;
        ms->leaked = (hg_leak_t){0, 0};
        ms->sampled_leak_count = 0;
        uint64_t count_fp = 0;
        for (struct stack_entry *st = ms->stacks; st; st = st->next_in_site) {
            ms->leaked.bytes += (int64_t)st->leak_bytes;
            if (m->sample_bytes != 0) {
                /* Estimated bytes and counts; no kinds (no reachability). */
                ms->sampled_leak_count += (int64_t)st->leak_count;
                count_fp += st->leak_count_fp;
                continue;
            }
            ms->leaked.count += (int64_t)st->leak_count;
            for (int k = 0; k < 4; k++) {
                ms->leak_kinds[k].bytes += (int64_t)st->kind_bytes[k];
                ms->leak_kinds[k].count += (int64_t)st->kind_count[k];
            }
        }
        if (m->sample_bytes != 0)
            ms->leaked.count = (int64_t)est_count(count_fp);
    }
    if ((rc = analyze_sites(L)) < 0)
        return rc;
    struct msite **order = malloc(L->nms * sizeof(*order));
    m->sites = calloc(L->nms, sizeof(*m->sites));
    if (!order || !m->sites) {
        free(order);
        return -ENOMEM;
    }
    for (size_t i = 0; i < L->nms; i++)
        order[i] = &L->ms[i];
    qsort(order, L->nms, sizeof(*order), cmp_msite);
    for (size_t j = 0; j < L->nms; j++)
        order[j]->rank = (uint32_t)j;
    if ((rc = choose_details(L, order, L->nms)) < 0) {
        free(order);
        return rc;
    }
    for (size_t j = 0; j < L->nms; j++) {
        const struct msite *ms = order[j];
        hg_site_t *s = &m->sites[j];
        m->nsites = j + 1;
        s->frame = ms->frame;
        s->nstacks_total = ms->nstacks;
        s->alloc_count = ms->alloc_count;
        s->alloc_bytes = ms->alloc_bytes;
        s->peak_live_bytes = ms->peak_live_bytes;
        s->end_live_bytes = ms->live_bytes;
        s->end_live_count = ms->live_count;
        s->sampled_alloc_count = ms->raw_alloc_count;
        s->sampled_end_live_count = ms->raw_live_count;
        s->sampled_leak_count = ms->sampled_leak_count;
        s->leaked = ms->leaked;
        memcpy(s->leak_kinds, ms->leak_kinds, sizeof(s->leak_kinds));
        s->growth = ms->growth;
        if (!ms->has_detail)
            continue;
        s->has_detail = true;
        if ((rc = fill_stacks(L, ms, s)) < 0 ||
            (rc = ser_export(&ms->ser, &L->grid, &s->series)) < 0 ||
            (rc = share_series(L->mp, &s->series)) < 0)
            break;
    }
    free(order);
    return rc;
}

static void loader_free(loader_t *L)
{
    for (size_t i = 0; i < L->nbefore_tracer; i++)
        free(L->before_tracer[i]);
    hg_sites_destroy(L->sites);
    struct stack_entry *st, *tmp;
    HASH_ITER(hh, L->stacks, st, tmp) {
        HASH_DEL(L->stacks, st);
        free(st->raw);
        free(st);
    }
    HASH_CLEAR(hh, L->cache);
    for (struct addr_entry *e = L->all_addrs, *next; e; e = next) {
        next = e->next_all;
        free(e->frames);
        free(e);
    }
    for (size_t i = 0; i < L->nms; i++)
        free(L->ms[i].ser.w);
    free(L->ms);
    free(L->by_id);
    free(L->touched);
    free(L->scratch);
    free(L->live_ser.w);
    free(L->rss_ser.w);
}

int hg_model_load(const char *path, const hg_model_opts_t *opts, hg_model_t **out, char *err,
                  size_t errlen)
{
    loader_t L;
    memset(&L, 0, sizeof(L));
    L.opts = opts;
    L.grid.width = 1;
    hg_reader_t *r = NULL;
    if (errlen)
        err[0] = '\0';
    *out = NULL;

    model_priv_t *mp = calloc(1, sizeof(*mp));
    if (!mp)
        return -ENOMEM;
    L.mp = mp;
    L.m = &mp->pub;
    int rc = -ENOMEM;
    if (!(mp->pub.path = strdup(path)))
        goto out;
    if ((rc = hg_sym_create(&mp->sym)) < 0)
        goto out;
    if ((rc = hg_sites_create(opts->group_by, opts->wrappers, opts->nwrappers, NULL, &L.sites)) < 0)
        goto out;
    if ((rc = hg_reader_open(path, &r)) < 0) {
        snprintf(err, errlen, "%s", strerror(-rc));
        goto out;
    }
    hg_record_t rec;
    while ((rc = hg_reader_next(r, &rec)) > 0) {
        if ((rc = on_record(&L, &rec)) < 0)
            break;
    }
    if (rc < 0) {
        if (errlen && err[0] == '\0')
            snprintf(err, errlen, "%s", hg_reader_error(r)[0] ? hg_reader_error(r) : strerror(-rc));
        goto out;
    }
    rc = finish(&L, r);
out:
    if (rc < 0 && errlen && err[0] == '\0')
        snprintf(err, errlen, "%s", strerror(-rc));
    hg_reader_close(r);
    loader_free(&L);
    if (rc < 0) {
        hg_model_free(&mp->pub);
        return rc;
    }
    *out = &mp->pub;
    return 0;
}

void hg_model_free(hg_model_t *m)
{
    if (!m)
        return;
    model_priv_t *mp = (model_priv_t *)m;
    free((char *)m->path);
    free(m->exe);
    if (m->argv)
        for (size_t i = 0; i < m->argc; i++)
            free(m->argv[i]);
    free(m->argv);
    free(m->wrappers);
    free(m->ended_early);
    free(m->write_error);
    free(m->live_series.pts);
    free(m->rss_series.pts);
    for (size_t i = 0; i < m->nsites; i++) {
        for (size_t j = 0; j < m->sites[i].nstacks_shown; j++)
            free(m->sites[i].stacks[j].frames);
    }
    struct series_blob *b, *tmp;
    HASH_ITER(hh, mp->blobs, b, tmp) {
        HASH_DEL(mp->blobs, b);
        free(b->pts);
        free(b);
    }
    free(m->sites);
    for (size_t i = 0; i < m->nwarnings; i++)
        free(m->warnings[i]);
    free(m->warnings);
    hg_sym_destroy(mp->sym);
    free(mp);
}
