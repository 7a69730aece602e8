/*
 * Growth statistics: whether a call site's live bytes rise in a sustained way.
 * Owns the verdict and the numbers behind it (growth.h); pure computation on a
 * windowed series, no I/O, only scratch memory freed before return. Everything
 * is computed on the window floors (minima), so churn neither hides nor fakes a
 * trend. The method, every threshold and why it has its value are in
 * docs/GROWTH.md; this file says how, that document says why.
 */
#include "growth.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reasons: static strings, the reports print them as they are. */
#define REASON_TOO_FEW      "too few snapshots"
#define REASON_GRADUAL      "floor rises, significant over the whole run and its later part"
#define REASON_STEPS        "floor rises in steps that continue into the later part"
#define REASON_GRADUAL_EXIT REASON_GRADUAL " (freed at exit)"
#define REASON_STEPS_EXIT   REASON_STEPS " (freed at exit)"
#define REASON_PLATEAU      "warm-up then plateau: no trend in the later part"
#define REASON_CHURN        "sawtooth/churn: floor is flat"
#define REASON_FLAT         "floor is flat: no significant trend"
#define REASON_FALLS        "floor falls"
#define REASON_FALLBACK     "sawtooth: the floor falls back in the later part"
#define REASON_ONE_JUMP     "one jump, not a trend: the floor rose once and held"
#define REASON_SMALL        "gain too small"

hg_growth_params_t hg_growth_default_params(void)
{
    hg_growth_params_t p = {
        .alpha = 0.01,
        .late_fraction = 0.5,
        .min_net_gain_bytes = 64.0 * 1024.0,
        .min_rel_gain = 0.05,
        .min_windows = 8,
        .min_late_share = 0.2,
    };
    return p;
}

/* ------------------------------------------------------------------------ */
/* Order statistics                                                          */
/* ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * Quickselect (Hoare): rearranges v[0..n) so that v[k] holds the value a full
 * sort would put there, everything before it is <= and everything after >=.
 * Expected O(n); the pivot is the median of three, which keeps sorted and
 * constant inputs (common here: exact lines, steps) linear too. Used for the
 * Theil-Sen median over up to 32,640 pairwise slopes, where a full sort would
 * cost more than the rest of the analysis.
 */
static void select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        /* median of three into v[mid] */
        if (v[mid] < v[lo]) {
            double t = v[mid];
            v[mid] = v[lo];
            v[lo] = t;
        }
        if (v[hi] < v[lo]) {
            double t = v[hi];
            v[hi] = v[lo];
            v[lo] = t;
        }
        if (v[hi] < v[mid]) {
            double t = v[hi];
            v[hi] = v[mid];
            v[mid] = t;
        }
        double pivot = v[mid];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        /* now v[lo..j] <= pivot <= v[i..hi], and j < i */
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return; /* j < k < i: v[k] == pivot, in place */
    }
}

/* Median of v[0..n) (n > 0); reorders v. Even n: mean of the two middle. */
static double median_inplace(double *v, size_t n)
{
    size_t k = n / 2;
    select_kth(v, n, k);
    if (n % 2)
        return v[k];
    double lower = v[0];
    for (size_t i = 1; i < k; i++)
        if (v[i] > lower)
            lower = v[i];
    return (lower + v[k]) / 2.0;
}

/* Median of a short run y[0..n) (n <= 8), without touching y. */
static double median_small(const double *y, size_t n)
{
    double tmp[8];
    memcpy(tmp, y, n * sizeof tmp[0]);
    qsort(tmp, n, sizeof tmp[0], cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
}

/* ------------------------------------------------------------------------ */
/* Mann-Kendall                                                              */
/* ------------------------------------------------------------------------ */

typedef struct mk {
    double s;      /* sum over i < j of sign(y[j] - y[i]) */
    double var;    /* Var(S) under H0, tie-corrected      */
    double z;      /* continuity-corrected normal score   */
    double p_up;   /* one-sided p for an upward trend     */
    double p_down; /* one-sided p for a downward trend    */
} mk_t;

/* Upper tail of the standard normal, 1 - Phi(z). */
static double normal_upper(double z)
{
    return 0.5 * erfc(z / sqrt(2.0));
}

/*
 * Mann-Kendall trend test on y[0..n): S counts rising minus falling pairs.
 * Under "no trend" (exchangeable values) S has mean 0 and, with tie groups of
 * sizes t (runs of equal values in the sorted data),
 *     Var(S) = [n(n-1)(2n+5) - sum t(t-1)(2t+5)] / 18.
 * S is approximated as normal with a continuity correction of 1 (S moves in
 * steps of 2, so 1 is half a step): z = (S - 1)/sd for S > 0, (S + 1)/sd for
 * S < 0, 0 for S = 0. A degenerate series (all equal, or n < 2) has Var = 0:
 * no evidence either way, both p are 1. `tmp` holds n doubles of scratch.
 */
static void mann_kendall(const double *y, size_t n, double *tmp, mk_t *out)
{
    memset(out, 0, sizeof *out);
    out->p_up = out->p_down = 1.0;
    if (n < 2)
        return;
    long long s = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++)
            s += (y[j] > y[i]) - (y[j] < y[i]);

    memcpy(tmp, y, n * sizeof tmp[0]);
    qsort(tmp, n, sizeof tmp[0], cmp_double);
    double dn = (double)n;
    double var = dn * (dn - 1.0) * (2.0 * dn + 5.0);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && tmp[j] == tmp[i])
            j++;
        double t = (double)(j - i);
        var -= t * (t - 1.0) * (2.0 * t + 5.0);
        i = j;
    }
    var /= 18.0;

    out->s = (double)s;
    out->var = var;
    if (var <= 0.0)
        return;
    double sd = sqrt(var);
    if (s > 0)
        out->z = ((double)s - 1.0) / sd;
    else if (s < 0)
        out->z = ((double)s + 1.0) / sd;
    out->p_up = normal_upper(out->z);
    out->p_down = normal_upper(-out->z);
}

/*
 * Theil-Sen slope: the median of (y[j]-y[i])/(x[j]-x[i]) over pairs i < j
 * with distinct x. O(n^2) slopes (32,640 for 256 windows) and a linear-time
 * selection. `tmp` holds n(n-1)/2 doubles. Returns 0 when no pair qualifies.
 */
static double theil_sen(const double *x, const double *y, size_t n, double *tmp)
{
    size_t m = 0;
    for (size_t i = 0; i + 1 < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (x[j] != x[i])
                tmp[m++] = (y[j] - y[i]) / (x[j] - x[i]);
    return m ? median_inplace(tmp, m) : 0.0;
}

/*
 * One-sided Mann-Whitney p that the values in b[0..k) are larger than those in
 * a[0..k) (normal approximation, continuity-corrected, tie-corrected). Used to
 * give a step verdict a p-value: the k floors just before the later part
 * against the k last floors.
 */
static double mann_whitney_up(const double *a, const double *b, size_t k)
{
    double u = 0.0;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < k; j++)
            u += b[j] > a[i] ? 1.0 : b[j] == a[i] ? 0.5 : 0.0;
    double nn = 2.0 * (double)k;
    double all[16];
    memcpy(all, a, k * sizeof all[0]);
    memcpy(all + k, b, k * sizeof all[0]);
    qsort(all, 2 * k, sizeof all[0], cmp_double);
    double ties = 0.0;
    for (size_t i = 0; i < 2 * k;) {
        size_t j = i + 1;
        while (j < 2 * k && all[j] == all[i])
            j++;
        double t = (double)(j - i);
        ties += t * t * t - t;
        i = j;
    }
    double kk = (double)k;
    double var = kk * kk / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0)));
    if (var <= 0.0)
        return 1.0;
    double d = u - kk * kk / 2.0;
    double z = d > 0.0 ? (d - 0.5) / sqrt(var) : d < 0.0 ? (d + 0.5) / sqrt(var) : 0.0;
    return normal_upper(z);
}

/*
 * Serial-correlation correction of Var(S) (Hamed & Rao, J. Hydrology 204,
 * 1998). Mann-Kendall assumes independent values; floors of a process that
 * wanders slowly (a queue, a cache with expiry) are positively correlated from
 * window to window, which makes S vary more than Var(S) says and lets a
 * wandering series pass for a trend. The correction removes the trend (the
 * Theil-Sen slope), ranks the residuals, takes the autocorrelation rho_k of the
 * ranks at each lag k, keeps the lags significant at the 5% level
 * (|rho_k| > 1.96/sqrt(m)), and returns the factor
 *     n/n* = 1 + 2/(m(m-1)(m-2)) * sum_k (m-k)(m-k-1)(m-k-2) rho_k
 * by which Var(S) is multiplied. We never let it go below 1: negative
 * correlation is not taken as extra evidence. Residuals are rounded to 1/1000
 * of the range of the floors first, so the last bits of an exact line's
 * arithmetic do not become a rank pattern. r and rank hold m doubles each.
 */
static double autocorr_factor(const double *x, const double *y, size_t m, double slope, double *r,
                              double *rank)
{
    if (m < 3)
        return 1.0;
    double lo = y[0], hi = y[0];
    for (size_t i = 1; i < m; i++) {
        lo = y[i] < lo ? y[i] : lo;
        hi = y[i] > hi ? y[i] : hi;
    }
    double q = (hi - lo) / 1000.0;
    if (!(q > 0.0))
        return 1.0;
    for (size_t i = 0; i < m; i++)
        r[i] = round((y[i] - slope * (x[i] - x[0])) / q);
    /* average ranks (1-based) through a sorted copy */
    memcpy(rank, r, m * sizeof rank[0]);
    qsort(rank, m, sizeof rank[0], cmp_double);
    for (size_t i = 0; i < m; i++) {
        size_t a = 0, b = m; /* first index >= r[i] */
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            if (rank[mid] < r[i])
                a = mid + 1;
            else
                b = mid;
        }
        size_t first = a;
        b = m; /* first index > r[i] */
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            if (rank[mid] <= r[i])
                a = mid + 1;
            else
                b = mid;
        }
        /* positions first..a-1 share the value: mean 1-based rank */
        r[i] = ((double)first + (double)a + 1.0) / 2.0;
    }
    double mean = ((double)m + 1.0) / 2.0, denom = 0.0;
    for (size_t i = 0; i < m; i++) {
        r[i] -= mean;
        denom += r[i] * r[i];
    }
    if (!(denom > 0.0))
        return 1.0;
    double dm = (double)m, limit = 1.96 / sqrt(dm), sum = 0.0;
    for (size_t k = 1; k + 2 < m; k++) {
        double c = 0.0;
        for (size_t i = 0; i + k < m; i++)
            c += r[i] * r[i + k];
        double rho = c / denom;
        if (fabs(rho) > limit) {
            double dk = (double)k;
            sum += (dm - dk) * (dm - dk - 1.0) * (dm - dk - 2.0) * rho;
        }
    }
    double f = 1.0 + 2.0 * sum / (dm * (dm - 1.0) * (dm - 2.0));
    return f > 1.0 ? f : 1.0;
}

/* Re-derives z and p of `t` with Var(S) multiplied by f. */
static void mk_inflate(mk_t *t, double f)
{
    if (t->var <= 0.0 || f <= 1.0)
        return;
    t->var *= f;
    double sd = sqrt(t->var);
    t->z = t->s > 0 ? (t->s - 1.0) / sd : t->s < 0 ? (t->s + 1.0) / sd : 0.0;
    t->p_up = normal_upper(t->z);
    t->p_down = normal_upper(-t->z);
}

/* ------------------------------------------------------------------------ */
/* The verdict                                                               */
/* ------------------------------------------------------------------------ */

static int check_input(const hg_series_point_t *pts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const hg_series_point_t *p = &pts[i];
        if (!isfinite(p->t_start_s) || !isfinite(p->t_end_s) || !isfinite(p->min) ||
            !isfinite(p->max) || !isfinite(p->last))
            return -EINVAL;
        if (p->t_end_s < p->t_start_s)
            return -EINVAL;
        if (i > 0 && p->t_start_s < pts[i - 1].t_start_s)
            return -EINVAL;
    }
    return 0;
}

/*
 * Windows are merged pairwise as a run gets long, so the last window may hold
 * fewer snapshots than the others; its minimum is then taken over fewer values
 * and sits higher under noise, a small upward bias right where the sustained
 * test looks. A last window shorter than half the median span of the others
 * is left out. Spans are 0 while every window is a single snapshot: then all
 * windows are alike and nothing is dropped.
 */
static size_t usable_windows(const hg_series_point_t *pts, size_t n, double *tmp)
{
    if (n < 3)
        return n;
    for (size_t i = 0; i + 1 < n; i++)
        tmp[i] = pts[i].t_end_s - pts[i].t_start_s;
    double med = median_inplace(tmp, n - 1);
    double last = pts[n - 1].t_end_s - pts[n - 1].t_start_s;
    return med > 0.0 && last < 0.5 * med ? n - 1 : n;
}

/* Does the series show churn: peaks well above the floors? */
static bool has_churn(const hg_series_point_t *pts, size_t n)
{
    size_t above = 0;
    for (size_t i = 0; i < n; i++)
        if (pts[i].max > pts[i].min)
            above++;
    return above * 2 >= n;
}

/*
 * The verdict on the windows pts[0..n) as they are (n already reduced by
 * usable_windows). `prm` is validated; `buf` holds at least
 * 4n + max(n, n(n-1)/2) + 1 doubles of scratch. Fills all of *out.
 */
static void judge(const hg_series_point_t *pts, size_t n, const hg_growth_params_t *params,
                  double *buf, hg_growth_t *out)
{
    memset(out, 0, sizeof *out);
    out->reason = REASON_TOO_FEW;
    out->p_value = 1.0;
    out->late_p_value = 1.0;
    hg_growth_params_t prm = *params;
    double *x = buf, *y = buf + n, *r = buf + 2 * n, *rank = buf + 3 * n, *tmp = buf + 4 * n;
    bool is_too_few = true;
    size_t k = 1;

    out->n_windows = n;
    if (n < 2)
        goto out;
    bool is_constant = true;
    for (size_t i = 0; i < n; i++) {
        x[i] = (pts[i].t_start_s + pts[i].t_end_s) / 2.0;
        y[i] = pts[i].min;
        is_constant = is_constant && y[i] == y[0];
    }
    if (is_constant) {
        /* Most sites of a real program: every statistic is known (S = 0,
         * Var(S) = 0 so p = 1, slopes and gain 0); skip the O(n^2) work. */
        is_too_few = n < prm.min_windows || n < 4;
        out->reason = has_churn(pts, n) ? REASON_CHURN : REASON_FLAT;
        goto out;
    }

    /* Whole run: trend test, slope, net gain between robust ends. */
    mk_t whole;
    mann_kendall(y, n, tmp, &whole);
    out->mk_z = whole.z;
    out->mk_s = whole.s;
    out->p_value = whole.p_up;
    out->slope_bytes_per_s = theil_sen(x, y, n, tmp);
    k = n / 8;
    k = k < 3 ? 3 : k > 5 ? 5 : k;
    if (k > n)
        k = n;
    double start_floor = median_small(y, k);
    double end_floor = median_small(y + n - k, k);
    out->net_gain_bytes = end_floor - start_floor;

    if (n < prm.min_windows || n < 4)
        goto out;
    is_too_few = false;

    /* The later part: the last late_fraction of the windows. */
    size_t late_n = (size_t)ceil(prm.late_fraction * (double)n);
    if (late_n < 4)
        late_n = 4;
    size_t ls = n - late_n;
    mk_t late;
    mann_kendall(y + ls, late_n, tmp, &late);
    out->late_slope_bytes_per_s = theil_sen(x + ls, y + ls, late_n, tmp);
    mk_inflate(&late,
               autocorr_factor(x + ls, y + ls, late_n, out->late_slope_bytes_per_s, r, rank));
    out->late_p_value = late.p_up;

    if (whole.p_up >= prm.alpha) {
        if (whole.p_down < prm.alpha)
            out->reason = REASON_FALLS;
        else if (has_churn(pts, n))
            out->reason = REASON_CHURN;
        else
            out->reason = REASON_FLAT;
        goto out;
    }

    double min_gain = prm.min_net_gain_bytes;
    if (prm.min_rel_gain * end_floor > min_gain)
        min_gain = prm.min_rel_gain * end_floor;
    if (!(out->net_gain_bytes >= min_gain) || out->net_gain_bytes <= 0.0) {
        out->reason = REASON_SMALL;
        goto out;
    }
    double min_late_gain = prm.min_late_share * out->net_gain_bytes;

    /*
     * Falling back. While windows are single snapshots (short runs, before any
     * merge) a sawtooth with a few long teeth has floors that ramp up inside
     * each tooth, and its last tooth alone looks like growth. What gives it
     * away is the drop: somewhere in the later part the floor goes back at
     * least halfway to where the run started. Growing memory never does that;
     * churn above a growing floor dips by its noise, not by half the gain. To
     * keep noise from posing as a drop, the comparison is between medians of
     * blocks of max(k, n/16) windows (noise in a block median shrinks with the
     * block, so its extremes do not grow with n), which still resolves a drop
     * in any sawtooth of fewer than eight teeth; with more teeth, the trend
     * tests already see no trend. The last k/2 windows are not looked at (a
     * clean-up before exit is not a fall back; the end floor ignores them too).
     */
    size_t nb_end = n - k / 2, bsz = k > n / 16 ? k : n / 16;
    double run_max = 0.0, fallback = 0.0;
    for (size_t b0 = 0; b0 < nb_end; b0 += bsz) {
        size_t len = b0 + bsz <= nb_end ? bsz : nb_end - b0;
        memcpy(tmp, y + b0, len * sizeof tmp[0]);
        double med = median_inplace(tmp, len);
        if (b0 > 0 && b0 + bsz > ls && run_max - med > fallback)
            fallback = run_max - med;
        run_max = b0 == 0 || med > run_max ? med : run_max;
    }
    if (fallback >= 0.5 * out->net_gain_bytes) {
        out->reason = REASON_FALLBACK;
        goto out;
    }

    /*
     * One jump is not a trend. A buffer allocated once, late in the run, and
     * kept (or a site born late with one allocation) makes every floor after
     * it higher than every floor before: rank tests read that as a strong
     * trend, and if it happened in the later part, as a sustained one. Growth
     * rises more than once: take away the largest rise across any point of
     * the run (median of the bsz windows after it minus median of the bsz
     * windows before it; medians, so that noise does not make the rise) and
     * what is left of the net gain must still matter by the same thresholds.
     * A doubling series keeps its earlier steps (1 -> 8 MiB in three steps
     * leaves 3 MiB); a single step leaves nothing.
     */
    double max_rise = 0.0;
    size_t h = bsz < n / 2 ? bsz : n / 2;
    for (size_t i = h; i + h <= n; i++) {
        memcpy(tmp, y + i - h, h * sizeof tmp[0]);
        double before = median_inplace(tmp, h);
        memcpy(tmp, y + i, h * sizeof tmp[0]);
        double after = median_inplace(tmp, h);
        max_rise = after - before > max_rise ? after - before : max_rise;
    }
    /* A veto on the growing verdicts below; a series that is not sustained
     * anyway keeps the plainer "warm-up then plateau" reason. */
    bool is_one_jump = !(out->net_gain_bytes - max_rise >= min_gain);

    /*
     * Sustained, gradually: the trend test on the later part alone is
     * significant, and the later part carries a real share of the gain (a
     * saturating curve stays strictly monotone, hence "significant", while
     * adding almost nothing).
     */
    size_t lk = k < late_n ? k : late_n;
    double late_start_floor = median_small(y + ls, lk);
    if (late.p_up < prm.alpha && end_floor - late_start_floor >= min_late_gain) {
        out->is_growing = !is_one_jump;
        out->reason = is_one_jump ? REASON_ONE_JUMP : REASON_GRADUAL;
        goto out;
    }

    /*
     * Sustained, in steps: a container that doubles its capacity as it fills
     * steps at geometric times, so the last step of a run of length T happened
     * after T/2, and the later part may hold that one step and nothing else:
     * too few distinct values for the rank test. The whole-run test is already
     * significant; the step rule asks that the end floor stands above every
     * floor before the later part, by at least the late share of the gain. A
     * step right at the boundary falls in a window whose minimum is the lower
     * level, so it is still seen; a warm-up that ended well before the later
     * part leaves plateau-level floors before it and fails the rule.
     */
    double before_max = y[0];
    for (size_t i = 1; i < ls; i++)
        if (y[i] > before_max)
            before_max = y[i];
    /*
     * A staircase holds what it gains: a container's capacity does not shrink
     * while it grows, so once the floor has risen it stays up, give or take the
     * churn above the container. A series that merely wanders can end high by
     * chance, but it falls back on the way. So in the later part the floor must
     * never fall back (drawdown: largest drop below an earlier floor, counting
     * from the last window before the later part) by as much as it rose above
     * everything before the later part. The last k/2 windows are left out, as
     * the end floor's median leaves them out: a clean-up just before exit is
     * not a fall back.
     */
    double drawdown = 0.0, peak = ls > 0 ? y[ls - 1] : y[0];
    for (size_t i = ls; i + k / 2 < n; i++) {
        peak = y[i] > peak ? y[i] : peak;
        drawdown = peak - y[i] > drawdown ? peak - y[i] : drawdown;
    }
    if (ls > 0 && end_floor > before_max && end_floor - before_max >= min_late_gain &&
        drawdown < end_floor - before_max) {
        if (is_one_jump) {
            out->reason = REASON_ONE_JUMP;
            goto out;
        }
        out->is_growing = true;
        out->reason = REASON_STEPS;
        size_t sk = k < ls ? k : ls;
        double p_step = mann_whitney_up(y + ls - sk, y + n - sk, sk);
        if (p_step < out->late_p_value)
            out->late_p_value = p_step;
        goto out;
    }
    out->reason = REASON_PLATEAU;

out:
    if (out->is_growing && out->slope_bytes_per_s <= 0.0) {
        /*
         * Theil-Sen's median is 0 when more than half of the pairwise slopes
         * are 0, as in a series of a few long flat steps. Report the average
         * rate between the robust ends instead, so a growing site never shows
         * a rate of 0.
         */
        double dt = (x[n - 1] + x[n - k]) / 2.0 - (x[0] + x[k - 1]) / 2.0;
        if (dt > 0.0)
            out->slope_bytes_per_s = out->net_gain_bytes / dt;
    }
    if (n < 2) {
        /* No pair of windows: no statistic exists. Unknown is NaN (the JSON
         * report prints null), never a made-up 0 or 1. */
        out->slope_bytes_per_s = out->mk_z = out->mk_s = out->p_value = NAN;
        out->net_gain_bytes = NAN;
    }
    if (is_too_few) {
        /* The later part was not tested, so neither it nor the confidence
         * that depends on it is known. */
        out->reason = REASON_TOO_FEW;
        out->is_too_few = true;
        out->late_slope_bytes_per_s = out->late_p_value = NAN;
        out->confidence = NAN;
    } else {
        double pmax = out->p_value > out->late_p_value ? out->p_value : out->late_p_value;
        out->confidence = 1.0 - pmax;
    }
}

/*
 * Teardown at exit. Many programs free their structures just before they end
 * (a service's shutdown, a test that frees everything), and the tracer's last
 * snapshot comes after that. So the last window, and the one before it when a
 * snapshot lands during the teardown, can hold a floor near zero under a site
 * that grew for the whole run. docs/GROWTH.md, "Teardown at exit", has the
 * reasoning; in short, the last d windows (d = 1 or 2: a teardown shorter than
 * one window's span touches at most the window it starts in and the last one)
 * are a terminal drop when the m = n - d windows before them rose (end floor
 * above start floor) and each of the d floors is
 *   - at or below the midpoint of the start and end floors of the m windows
 *     (the drop undid at least half of the gain, as in falling back) and at
 *     or below half the end floor (it freed at least half of what the site
 *     held: a teardown frees the structure, noise does not halve a level),
 *   - at least half the gain below the floor of window m - 1: the drop is
 *     abrupt, across one window boundary; a decline spread over several
 *     windows is not a teardown and is never cut, and
 *   - below the trend of the m windows (Theil-Sen line, intercept the median
 *     residual) by more than twice the deepest dip below that trend among the
 *     m windows: the drop is not noise. Under noise a new value falls below
 *     every earlier dip with probability 1/(m+1) and twice as deep far less
 *     often; a teardown to (near) zero is far below any dip.
 * `buf` is the scratch of hg_growth_analyze (enough for m windows).
 */
static bool is_terminal_drop(const hg_series_point_t *pts, size_t n, size_t d, double *buf)
{
    size_t m = n - d;
    double e[8];
    size_t k = m / 8;
    k = k < 3 ? 3 : k > 5 ? 5 : k;
    for (size_t i = 0; i < k; i++)
        e[i] = pts[i].min;
    double start_floor = median_small(e, k);
    for (size_t i = 0; i < k; i++)
        e[i] = pts[m - k + i].min;
    double end_floor = median_small(e, k);
    if (!(end_floor > start_floor))
        return false;
    double half = (end_floor - start_floor) / 2.0;
    double level = start_floor + half;
    if (end_floor / 2.0 < level)
        level = end_floor / 2.0;
    if (pts[m - 1].min - half < level)
        level = pts[m - 1].min - half;
    for (size_t i = m; i < n; i++)
        if (pts[i].min > level)
            return false;

    /* below the trend by more than twice the deepest dip */
    double *x = buf, *y = buf + m, *res = buf + 2 * m, *tmp = buf + 3 * m;
    for (size_t i = 0; i < m; i++) {
        x[i] = (pts[i].t_start_s + pts[i].t_end_s) / 2.0;
        y[i] = pts[i].min;
    }
    double slope = theil_sen(x, y, m, tmp);
    for (size_t i = 0; i < m; i++)
        res[i] = y[i] - slope * (x[i] - x[0]);
    memcpy(tmp, res, m * sizeof tmp[0]);
    double icept = median_inplace(tmp, m);
    double dip = 0.0;
    for (size_t i = 0; i < m; i++)
        if (res[i] - icept < dip)
            dip = res[i] - icept;
    for (size_t i = m; i < n; i++) {
        double xs = (pts[i].t_start_s + pts[i].t_end_s) / 2.0;
        double r = pts[i].min - slope * (xs - x[0]) - icept;
        if (!(r < 2.0 * dip) && !(dip == 0.0 && r < 0.0))
            return false;
    }
    return true;
}

/* The growing reasons, as they read when the verdict is the one of the
 * windows before a teardown at exit. */
static const char *exit_reason(const char *reason)
{
    if (strcmp(reason, REASON_GRADUAL) == 0)
        return REASON_GRADUAL_EXIT;
    if (strcmp(reason, REASON_STEPS) == 0)
        return REASON_STEPS_EXIT;
    return reason;
}

int hg_growth_analyze(const hg_series_point_t *pts, size_t n, const hg_growth_params_t *params,
                      hg_growth_t *out)
{
    if (!out || (!pts && n > 0))
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->reason = REASON_TOO_FEW;
    out->p_value = 1.0;
    out->late_p_value = 1.0;
    if (n > HG_GROWTH_MAX_WINDOWS)
        return -E2BIG;
    int rc = check_input(pts, n);
    if (rc < 0)
        return rc;
    hg_growth_params_t prm = params ? *params : hg_growth_default_params();
    if (!(prm.late_fraction > 0.0 && prm.late_fraction <= 1.0) || !(prm.alpha > 0.0))
        return -EINVAL;

    /* scratch: x, y, r, rank, and max(n, n(n-1)/2) doubles for sorting and
     * slopes */
    size_t npairs = n * (n > 0 ? n - 1 : 0) / 2;
    size_t ntmp = npairs > n ? npairs : n;
    double *buf = malloc((4 * n + ntmp + 1) * sizeof(double));
    if (!buf)
        return -ENOMEM;
    n = usable_windows(pts, n, buf);
    judge(pts, n, &prm, buf, out);

    /*
     * A terminal drop (is_terminal_drop) does not erase the growth before it:
     * when the windows before the drop are growing by the full test above, the
     * verdict and statistics are theirs, and the reason says "freed at exit".
     * The longer cut is tried first, so that a teardown that touched two
     * windows is left out whole. Nothing else is ever cut, and a series
     * whose windows before the drop are not growing (a plateau, a sawtooth
     * whose last tooth fell at the end, a decline longer than the cut) keeps
     * the verdict of the whole series.
     */
    size_t least = prm.min_windows > 4 ? prm.min_windows : 4;
    for (size_t d = 2; d >= 1; d--) {
        if (n < least + d)
            continue;
        if (!is_terminal_drop(pts, n, d, buf))
            continue;
        hg_growth_t cut;
        judge(pts, n - d, &prm, buf, &cut);
        if (cut.is_growing) {
            cut.reason = exit_reason(cut.reason);
            *out = cut;
            break;
        }
    }
    free(buf);
    return 0;
}
