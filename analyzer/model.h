/*
 * The analyzer's picture of one traced process, built by streaming a trace
 * through the reader (reader.c), the symbolizer and the site grouping
 * (sites.c) in model.c. Memory grows with the number of distinct stacks and
 * sites, not with the length of the run: every series is kept in at most
 * HG_SERIES_MAX_POINTS windows (adjacent windows merge as the run goes on).
 * Reports (report_*.c) only read it.
 */
#ifndef HEAPGROW_ANALYZER_MODEL_H
#define HEAPGROW_ANALYZER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "growth.h"
#include "symbolize.h"

#define HG_SERIES_MAX_POINTS 256
#define HG_SITE_TOP_STACKS   3

/* A windowed time series (growth.h's points), in time order. */
typedef struct hg_series {
    hg_series_point_t *pts;
    size_t n;
} hg_series_t;

enum hg_group_by { HG_GROUP_SITE = 0, HG_GROUP_FUNCTION = 1, HG_GROUP_STACK = 2 };

/* A stack as shown in a report: symbolized frames, innermost first, starting at
 * the site frame (allocator and wrapper frames above it are left out). */
typedef struct hg_stack_view {
    hg_frame_info_t *frames;
    size_t nframes;
    uint64_t end_live_bytes; /* live bytes of this stack at the end */
    uint64_t alloc_bytes;
} hg_stack_view_t;

/* Unknown values are -1 (reports print null / "unknown"). */
typedef struct hg_leak {
    int64_t bytes;
    int64_t count;
} hg_leak_t;

typedef struct hg_site {
    /* The site frame: the innermost frame outside the allocator and wrappers.
     * function/file/module may be NULL (unknown). */
    hg_frame_info_t frame;
    /* The distinct stacks that meet here, largest end_live_bytes first, at most
     * HG_SITE_TOP_STACKS; nstacks_total counts all of them. */
    hg_stack_view_t stacks[HG_SITE_TOP_STACKS];
    size_t nstacks_shown;
    size_t nstacks_total;
    uint64_t alloc_count;
    uint64_t alloc_bytes;
    uint64_t peak_live_bytes; /* highest live bytes seen at a snapshot */
    uint64_t end_live_bytes;  /* at the last snapshot               */
    uint64_t end_live_count;
    hg_leak_t leaked;         /* from the final live set of a trace that ended
                                 with exit; -1/-1 when unknown           */
    /* The same blocks split by reachability (docs/LEAKS.md), indexed by enum
     * hg_reach_category (format.h): definite, indirect, possible, reachable.
     * They add up to `leaked`. Valid when the model's has_reachability. */
    hg_leak_t leak_kinds[4];
    /* Sampled traces (model's sample_bytes > 0): every count and byte figure
     * above is an estimate (include/heapgrow/estimate.h); these are the raw
     * numbers of sampled allocations behind them: allocations sampled, those
     * live at the last snapshot, those still allocated at exit (-1 when
     * unknown). All 0 for an exact trace. */
    uint64_t sampled_alloc_count;
    uint64_t sampled_end_live_count;
    int64_t sampled_leak_count;
    hg_series_t series;       /* live bytes over time                   */
    hg_growth_t growth;       /* filled by hg_model_load                */
    /* Whether `stacks` and `series` are filled (hg_model_opts_t.detail_top):
     * without details nstacks_shown and series.n are 0; every other field,
     * the verdict included, is there for every site. */
    bool has_detail;
} hg_site_t;

typedef struct hg_totals {
    uint64_t alloc_count;
    uint64_t alloc_bytes;
    uint64_t free_count;
    uint64_t free_bytes;
    /* The highest live total seen at a snapshot: the larger of the tracer's
     * record of it and the maximum over the snapshots read. Not the running
     * peak: a block allocated and freed between two snapshots is never in it
     * (docs/FORMAT.md says why). */
    uint64_t peak_live_bytes;
    uint64_t end_live_bytes;
    uint64_t end_live_count;
    uint64_t end_rss_bytes;
    uint64_t peak_rss_bytes;  /* highest RSS seen at a snapshot */
    uint64_t dropped_count;   /* allocations the tracer had to forward untraced
                                 (sampled ones, in a sampled trace) */
    uint64_t sampled_alloc_count; /* sampled trace: allocations sampled; 0 if exact */
} hg_totals_t;

typedef struct hg_model {
    const char *path;         /* the trace file */
    /* header */
    uint64_t pid, ppid;
    char *exe;
    char **argv;
    size_t argc;
    uint64_t start_real_ns;
    uint32_t interval_ms;
    uint64_t sample_bytes;    /* 0: exact; else sampled at this mean interval
                                 and every count and byte figure (totals,
                                 sites, series, leaks) is an estimate */
    bool is_fork_child;
    char *wrappers;           /* HEAPGROW_WRAPPERS recorded by the tracer */
    /* how it ended */
    double duration_s;        /* time of the last complete snapshot or END */
    bool has_end;             /* END record present */
    int end_reason;           /* enum hg_end_reason, when has_end */
    int end_status;
    bool has_final_live_set;  /* a LIVE dump with reason exit was read */
    bool has_reachability;    /* ... and the tracer classified it (REACH) */
    uint64_t reach_threads_unseen; /* threads whose stacks were not roots */
    char *ended_early;        /* NULL, or "trace ends at 12.3 s without an end
                                 marker (process killed?)", or, when the
                                 tracer recorded that writing failed, "trace
                                 incomplete: writing it stopped at 12.4 s
                                 (File too large); data up to 12.3 s" */
    char *write_error;        /* NULL, or the error that stopped the tracer
                                 writing (HG_WARN_WRITE_FAILED's message) */
    /* totals and series */
    hg_totals_t totals;
    hg_series_t live_series;  /* total live bytes over time */
    hg_series_t rss_series;   /* RSS over time */
    size_t nsnapshots;
    /* sites, ranked: growing first by slope, then by end live bytes, then by
     * bytes allocated (ties by function name, then address) */
    hg_site_t *sites;
    size_t nsites;
    /* warnings: from the trace's WARNING records, the symbolizer, the reader */
    char **warnings;
    size_t nwarnings;
} hg_model_t;

typedef struct hg_model_opts {
    enum hg_group_by group_by;
    const char *const *wrappers; /* extra wrapper globs (--wrapper, HEAPGROW_WRAPPERS) */
    size_t nwrappers;
    hg_growth_params_t growth;
    /* Sites given their details (stacks and series): with K > 0, the first K
     * in ranking order and the K with the most leaked bytes (what a report
     * with --top K shows); 0 = every site. Every site is analysed and ranked
     * either way: K only bounds the memory and time spent on sites no report
     * shows, which is what makes --group-by stack on 100k stacks cheap. */
    size_t detail_top;
} hg_model_opts_t;

/* Reads and analyses the trace at `path`. Returns 0, or a negative error with a
 * one-line message in err ("offset 1234: record length 99999999 exceeds ...";
 * the caller prefixes "heapgrow: <file>: "). Errors: -ENOENT etc. for the
 * file, -HG_EFORMAT for anything wrong inside it. */
#define HG_EFORMAT 1000
int hg_model_load(const char *path, const hg_model_opts_t *opts, hg_model_t **out, char *err,
                  size_t errlen);
void hg_model_free(hg_model_t *m);

#endif /* HEAPGROW_ANALYZER_MODEL_H */
