/*
 * Growth statistics: decides from a site's time series of live bytes whether it
 * grows in a sustained way (DESIGN.md, "What growing means"). Pure functions: no
 * I/O, no allocation beyond scratch freed before return. The method, its
 * thresholds and the reasoning are in docs/GROWTH.md.
 */
#ifndef HEAPGROW_ANALYZER_GROWTH_H
#define HEAPGROW_ANALYZER_GROWTH_H

#include <stdbool.h>
#include <stddef.h>

/* One window of the series: the live bytes of a site seen at every snapshot
 * between t_start_s and t_end_s, summarised. */
typedef struct hg_series_point {
    double t_start_s; /* time of the window's first snapshot, s since start */
    double t_end_s;   /* time of its last snapshot                          */
    double min;       /* lowest live bytes in the window (the floor)         */
    double max;       /* highest                                             */
    double last;      /* value at t_end_s                                    */
} hg_series_point_t;

/* The verdict and the statistics behind it (docs/GROWTH.md explains each).
 * All statistics are of the window floors (hg_series_point_t.min). */
typedef struct hg_growth {
    bool is_growing;
    bool is_too_few;               /* fewer windows than min_windows: no verdict
                                      could be reached (reason "too few
                                      snapshots"); statistics that were not
                                      computed are NaN                         */
    const char *reason;            /* static one-line explanation of the verdict */
    size_t n_windows;              /* windows the test used (fewer than given
                                      when a short last window or a teardown at
                                      exit was left out)                       */
    double slope_bytes_per_s;      /* Theil-Sen slope of the floors, whole run;
                                      for a growing site whose Theil-Sen median
                                      is 0 (long flat steps), the average rate
                                      between the start and end floors         */
    double mk_z;                   /* Mann-Kendall statistic (normal approx.)    */
    double mk_s;                   /* Mann-Kendall S (rising minus falling pairs) */
    double p_value;                /* one-sided, whole run                       */
    double late_slope_bytes_per_s; /* Theil-Sen slope over the later part        */
    double late_p_value;           /* Mann-Kendall one-sided p, later part,
                                      corrected for serial correlation; for a
                                      step verdict, the smaller of that and a
                                      Mann-Whitney p (floors before the later
                                      part against the last floors)            */
    double net_gain_bytes;         /* floor at the end minus floor at the start
                                      (medians of a few floors at each end)     */
    double confidence;             /* 1 - max(p_value, late_p_value), 0..1;
                                      NaN when there are too few windows        */
} hg_growth_t;

/* Thresholds; hg_growth_default_params() gives the documented defaults. */
typedef struct hg_growth_params {
    double alpha;              /* significance level of each trend test         */
    double late_fraction;      /* the "later part": last fraction of the run    */
    double min_net_gain_bytes; /* absolute floor on net gain to matter          */
    double min_rel_gain;       /* net gain relative to the end floor             */
    size_t min_windows;        /* fewer windows: never growing                  */
    double min_late_share;     /* the later part must carry at least this share
                                  of the net gain (saturation is not growth)    */
} hg_growth_params_t;

hg_growth_params_t hg_growth_default_params(void);

/* The analyzer keeps 256 windows per series; this is a generous ceiling. */
#define HG_GROWTH_MAX_WINDOWS 65536

/* Analyses pts[0..n) (in time order). Returns 0, or -EINVAL for NULL
 * arguments / unordered times / non-finite values, -E2BIG for more than
 * HG_GROWTH_MAX_WINDOWS windows (the cost is O(n^2)), -ENOMEM if scratch
 * memory cannot be had; on n < min_windows the verdict is "not growing" with reason
 * "too few snapshots" and is_too_few set: the whole-run statistics that n
 * allows are still filled in (none when n < 2), the later part's statistics
 * and the confidence are NaN (unknown). params == NULL means hg_growth_default_params(). A last
 * window much shorter than the others (a partial merge) is left out; so is a
 * teardown at exit (an abrupt drop in the last one or two windows) when the
 * windows before it are growing by the same test: the verdict and statistics
 * are then theirs and the reason ends in "(freed at exit)". n_windows says how
 * many windows were used. Thread-safe; allocates only scratch. */
int hg_growth_analyze(const hg_series_point_t *pts, size_t n, const hg_growth_params_t *params,
                      hg_growth_t *out);

#endif /* HEAPGROW_ANALYZER_GROWTH_H */
