/*
 * The text report, for a person: a headline verdict, growing sites ranked by
 * rate, leaked sites ranked by bytes, totals, warnings; then the same, shorter,
 * for each descendant process. Formatting only (reads the model, never changes
 * it). Colour codes are written only when the caller says so (a terminal
 * without NO_COLOR: report.c and launch.c decide). Every string that comes
 * from the trace goes out through escape.h, so trace content never drives
 * the terminal.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "heapgrow/format.h"

#define SPARK_WIDTH    16
#define FRAMES_SHOWN   3 /* frames under a site, after the site frame */
#define BRIEF_TOP      3 /* sites per list in the brief form (heapgrow run) */
#define BRIEF_CHILDREN 3 /* descendants shown in full in the brief form */

typedef struct tx {
    FILE *f;
    bool is_color;
} tx_t;

static const char *c_on(const tx_t *t, const char *code)
{
    return t->is_color ? code : "";
}

static const char *c_off(const tx_t *t)
{
    return t->is_color ? "\033[0m" : "";
}

#define BOLD   "\033[1m"
#define RED    "\033[1;31m"
#define YELLOW "\033[33m"

/* "123 B", "1.5 KiB", "3.1 MiB", "2.0 GiB" (binary units, one decimal). */
static char *fmt_bytes(double v, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    const char *sign = v < 0 ? "-" : "";
    double a = fabs(v);
    size_t u = 0;
    if (!isfinite(a)) {
        snprintf(buf, len, "?");
        return buf;
    }
    while (a >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        a /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%s%.0f B", sign, a);
    else
        snprintf(buf, len, "%s%.1f %s", sign, a, units[u]);
    return buf;
}

/* "12,345,678": counts read better grouped. */
static char *fmt_count(uint64_t v, char *buf, size_t len)
{
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* module+0xoffset (module's file name only) or 0xaddress: how a frame without
 * a function name reads (DESIGN.md "Symbols"). */
static char *fmt_function(const hg_frame_info_t *fr, char *buf, size_t len)
{
    if (fr->function != NULL) {
        hg_escape_str(fr->function, buf, len);
    } else if (fr->module != NULL) {
        const char *base = strrchr(fr->module, '/');
        char name[256];
        snprintf(buf, len, "%s+0x%" PRIx64,
                 hg_escape_str(base != NULL ? base + 1 : fr->module, name, sizeof(name)),
                 fr->module_offset);
    } else {
        snprintf(buf, len, "0x%" PRIx64, fr->address);
    }
    return buf;
}

/* "function at file:line (module)": the parts that are known. */
static void put_frame(const tx_t *t, const hg_frame_info_t *fr, bool is_bold)
{
    char fn[512];
    fmt_function(fr, fn, sizeof(fn));
    fprintf(t->f, "%s%s%s", is_bold ? c_on(t, BOLD) : "", fn, is_bold ? c_off(t) : "");
    if (fr->file != NULL) {
        fputs(" at ", t->f);
        hg_escape_put(t->f, fr->file);
        if (fr->line != 0)
            fprintf(t->f, ":%" PRIu32, fr->line);
    }
    if (fr->function != NULL && fr->module != NULL) {
        const char *base = strrchr(fr->module, '/');
        fputs(" (", t->f);
        hg_escape_put(t->f, base != NULL ? base + 1 : fr->module);
        fputc(')', t->f);
    }
    if (fr->is_inlined)
        fputs(" [inlined]", t->f);
    if (fr->is_build_id_mismatch)
        fputs(" [build-id mismatch]", t->f);
    fputc('\n', t->f);
}

/* The frames under the site frame (the site's largest stack). */
static void put_callers(const tx_t *t, const hg_site_t *s, size_t nframes)
{
    if (s->nstacks_shown == 0)
        return;
    const hg_stack_view_t *sv = &s->stacks[0];
    for (size_t i = 1; i < sv->nframes && i <= nframes; i++) {
        /* What calls main (libc's start-up code) says nothing. */
        const char *prev = sv->frames[i - 1].function;
        if (prev != NULL && strcmp(prev, "main") == 0)
            break;
        fputs("         from ", t->f);
        put_frame(t, &sv->frames[i], false);
    }
    if (s->nstacks_total > 1)
        fprintf(t->f, "         (%zu distinct stacks meet here)\n", s->nstacks_total);
}

/* A sparkline of a series: SPARK_WIDTH buckets (fewer when the series has
 * fewer windows), each the lowest window floor (min) in it, or with is_peak
 * the highest window max, scaled between the lowest and the highest bucket,
 * which go to *lo and *hi. Prints nothing for an empty series. */
static void put_sparkline_of(const tx_t *t, const hg_series_t *s, bool is_peak, double *lo,
                             double *hi)
{
    static const char *const bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    double v[SPARK_WIDTH];
    size_t nb = s->n < SPARK_WIDTH ? s->n : SPARK_WIDTH;
    *lo = *hi = 0;
    if (nb == 0)
        return;
    for (size_t b = 0; b < nb; b++) {
        size_t from = b * s->n / nb, to = (b + 1) * s->n / nb;
        v[b] = is_peak ? s->pts[from].max : s->pts[from].min;
        for (size_t i = from + 1; i < to; i++) {
            double x = is_peak ? s->pts[i].max : s->pts[i].min;
            if (is_peak ? x > v[b] : x < v[b])
                v[b] = x;
        }
    }
    double mn = v[0], mx = v[0];
    for (size_t b = 1; b < nb; b++) {
        mn = v[b] < mn ? v[b] : mn;
        mx = v[b] > mx ? v[b] : mx;
    }
    for (size_t b = 0; b < nb; b++) {
        size_t k = 0;
        if (mx > mn)
            k = (size_t)((v[b] - mn) / (mx - mn) * 7.0 + 0.5);
        fputs(bars[k > 7 ? 7 : k], t->f);
    }
    *lo = mn;
    *hi = mx;
}

/* The sparkline of a site: its floors, the series the growth test reads. */
static void put_sparkline(const tx_t *t, const hg_series_t *s)
{
    double lo, hi;
    put_sparkline_of(t, s, false, &lo, &hi);
}

static bool site_leaks(const hg_site_t *s)
{
    return s->leaked.bytes > 0;
}

/* Both orders break ties by the model's ranking (the sites' order in the
 * array), as hg_model_load does when it picks the sites that get details. */
static int cmp_rank(const hg_site_t *x, const hg_site_t *y)
{
    return x < y ? -1 : x > y;
}

static int cmp_slope(const void *a, const void *b)
{
    const hg_site_t *x = *(const hg_site_t *const *)a, *y = *(const hg_site_t *const *)b;
    if (x->growth.slope_bytes_per_s != y->growth.slope_bytes_per_s)
        return x->growth.slope_bytes_per_s > y->growth.slope_bytes_per_s ? -1 : 1;
    return cmp_rank(x, y);
}

static int cmp_leaked(const void *a, const void *b)
{
    const hg_site_t *x = *(const hg_site_t *const *)a, *y = *(const hg_site_t *const *)b;
    if (x->leaked.bytes != y->leaked.bytes)
        return x->leaked.bytes > y->leaked.bytes ? -1 : 1;
    return cmp_rank(x, y);
}

/* Sites matching the predicate, sorted; caller frees. */
static const hg_site_t **select_sites(const hg_model_t *m, bool (*pred)(const hg_site_t *),
                                      int (*cmp)(const void *, const void *), size_t *n)
{
    const hg_site_t **v = calloc(m->nsites + 1, sizeof(*v));
    *n = 0;
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < m->nsites; i++)
        if (pred(&m->sites[i]))
            v[(*n)++] = &m->sites[i];
    qsort(v, *n, sizeof(*v), cmp);
    return v;
}

static bool site_grows(const hg_site_t *s)
{
    return s->growth.is_growing;
}

char *hg_report_headline(const hg_model_t *m, char *buf, size_t len)
{
    size_t ngrow = 0, nleak = 0;
    bool is_too_few = false;
    double gain = 0;
    int64_t leaked = 0;
    bool is_leak_known = m->has_final_live_set;
    for (size_t i = 0; i < m->nsites; i++) {
        const hg_site_t *s = &m->sites[i];
        is_too_few = is_too_few || s->growth.is_too_few;
        if (s->growth.is_growing) {
            ngrow++;
            if (isfinite(s->growth.net_gain_bytes))
                gain += s->growth.net_gain_bytes;
        }
        if (s->leaked.bytes > 0) {
            nleak++;
            leaked += s->leaked.bytes;
        }
    }
    char grow[64], leak[96], b1[32], b2[32];
    if (ngrow == 0 && is_too_few)
        snprintf(grow, sizeof(grow), "growth unknown (too few snapshots)");
    else if (ngrow == 0)
        snprintf(grow, sizeof(grow), "no growth");
    else
        snprintf(grow, sizeof(grow), "%zu site%s grow%s", ngrow, ngrow == 1 ? "" : "s",
                 ngrow == 1 ? "s" : "");
    if (!is_leak_known && nleak == 0)
        snprintf(leak, sizeof(leak), "leaks unknown");
    else if (nleak == 0 && m->sample_bytes != 0)
        snprintf(leak, sizeof(leak), "no leaks sampled"); /* small ones may go unseen */
    else if (nleak == 0)
        snprintf(leak, sizeof(leak), "no leaks");
    else
        snprintf(leak, sizeof(leak), "%zu site%s leak%s %s", nleak, nleak == 1 ? "" : "s",
                 nleak == 1 ? "s" : "", fmt_bytes((double)leaked, b1, sizeof(b1)));
    if (ngrow > 0)
        snprintf(buf, len, "%s, %s: %s gained in %.1f s", grow, leak,
                 fmt_bytes(gain, b2, sizeof(b2)), m->duration_s);
    else
        snprintf(buf, len, "%s, %s", grow, leak);
    return buf;
}

static void put_process_line(const tx_t *t, const hg_model_t *m, bool is_child)
{
    fprintf(t->f, "%s%s %" PRIu64 "%s", c_on(t, BOLD), is_child ? "Process" : "heapgrow: process",
            m->pid, c_off(t));
    if (is_child)
        fprintf(t->f, " (%s of %" PRIu64 ")", m->is_fork_child ? "fork child" : "child", m->ppid);
    fputc(' ', t->f);
    hg_escape_put(t->f, m->exe != NULL ? m->exe : "?");
    fprintf(t->f, ", %.1f s", m->duration_s);
    if (m->has_end) {
        switch (m->end_reason) {
        case HG_END_EXIT:
            fprintf(t->f, ", exited with %d", m->end_status);
            break;
        case HG_END_UEXIT:
            fprintf(t->f, ", _exit(%d)", m->end_status);
            break;
        case HG_END_SIGNAL:
            fprintf(t->f, ", killed by signal %d", m->end_status);
            break;
        case HG_END_EXEC:
            fputs(", exec'd another program", t->f);
            break;
        default:
            break;
        }
    }
    fputc('\n', t->f);
}

/* A sampled process: say once, right under its process line, that every
 * figure is an estimate, at what rate, and from how many samples. */
static void put_sampling(const tx_t *t, const hg_model_t *m)
{
    if (m->sample_bytes == 0)
        return;
    char r[32], n[32];
    fprintf(t->f,
            "%sestimates%s: sampled run, one allocation per %s allocated on average; every count "
            "and byte figure below is estimated from %s sampled allocation%s\n",
            c_on(t, YELLOW), c_off(t), fmt_bytes((double)m->sample_bytes, r, sizeof(r)),
            fmt_count(m->totals.sampled_alloc_count, n, sizeof(n)),
            m->totals.sampled_alloc_count == 1 ? "" : "s");
}

/* "  (12 samples)" after a site's figures in a sampled process. */
static void put_site_samples(const tx_t *t, const hg_model_t *m, uint64_t nsamples)
{
    char n[32];
    if (m->sample_bytes != 0)
        fprintf(t->f, "(%s sample%s)  ", fmt_count(nsamples, n, sizeof(n)),
                nsamples == 1 ? "" : "s");
}

static void put_growing(const tx_t *t, const hg_model_t *m, size_t top, bool is_brief)
{
    size_t n;
    const hg_site_t **v = select_sites(m, site_grows, cmp_slope, &n);
    if (v == NULL || n == 0) {
        free(v);
        return;
    }
    fprintf(t->f, "\n%sGrowing sites%s (by rate)\n", c_on(t, BOLD), c_off(t));
    size_t shown = top > 0 && top < n ? top : n;
    for (size_t i = 0; i < shown; i++) {
        const hg_site_t *s = v[i];
        char rate[32], gain[32], live[32];
        fmt_bytes(s->growth.slope_bytes_per_s, rate, sizeof(rate));
        fmt_bytes(s->growth.net_gain_bytes, gain, sizeof(gain));
        fmt_bytes((double)s->end_live_bytes, live, sizeof(live));
        fprintf(t->f, "%3zu. %s%s%s/s%s  confidence %.0f%%  gained %s  live %s  ", i + 1,
                c_on(t, RED), s->growth.slope_bytes_per_s >= 0 ? "+" : "", rate, c_off(t),
                isfinite(s->growth.confidence) ? s->growth.confidence * 100 : 0.0, gain, live);
        put_site_samples(t, m, s->sampled_end_live_count);
        put_sparkline(t, &s->series);
        fputs("\n     ", t->f);
        put_frame(t, &s->frame, true);
        put_callers(t, s, is_brief ? 1 : FRAMES_SHOWN);
    }
    if (shown < n)
        fprintf(t->f, "     ... %zu more growing site%s (--top)\n", n - shown,
                n - shown == 1 ? "" : "s");
    free(v);
}

/* "definitely lost 48 B (1 block), indirectly lost 432 B (9 blocks)": the
 * site's blocks by reachability (docs/LEAKS.md), the non-empty categories. */
static void put_kinds(const tx_t *t, const hg_model_t *m, const hg_site_t *s)
{
    static const char *const names[] = {"definitely lost", "indirectly lost", "possibly lost",
                                        "still reachable"};
    if (!m->has_reachability)
        return;
    const char *sep = "       ";
    for (int k = 0; k < 4; k++) {
        if (s->leak_kinds[k].count <= 0)
            continue;
        char b[32], c[32];
        fprintf(t->f, "%s%s %s (%s block%s)", sep, names[k],
                fmt_bytes((double)s->leak_kinds[k].bytes, b, sizeof(b)),
                fmt_count((uint64_t)s->leak_kinds[k].count, c, sizeof(c)),
                s->leak_kinds[k].count == 1 ? "" : "s");
        sep = ", ";
    }
    if (sep[0] == ',')
        fputc('\n', t->f);
}

static void put_leaked(const tx_t *t, const hg_model_t *m, size_t top, bool is_brief)
{
    size_t n;
    const hg_site_t **v = select_sites(m, site_leaks, cmp_leaked, &n);
    if (v == NULL || n == 0) {
        free(v);
        return;
    }
    fprintf(t->f, "\n%sLeaked at exit%s (by bytes)\n", c_on(t, BOLD), c_off(t));
    size_t shown = top > 0 && top < n ? top : n;
    for (size_t i = 0; i < shown; i++) {
        const hg_site_t *s = v[i];
        char b[32], c[32];
        fprintf(t->f, "%3zu. %s%s%s in %s block%s  ", i + 1, c_on(t, RED),
                fmt_bytes((double)s->leaked.bytes, b, sizeof(b)), c_off(t),
                fmt_count((uint64_t)s->leaked.count, c, sizeof(c)),
                s->leaked.count == 1 ? "" : "s");
        put_site_samples(t, m, s->sampled_leak_count > 0 ? (uint64_t)s->sampled_leak_count : 0);
        put_frame(t, &s->frame, true);
        put_kinds(t, m, s);
        put_callers(t, s, is_brief ? 1 : FRAMES_SHOWN);
    }
    if (shown < n)
        fprintf(t->f, "     ... %zu more leaking site%s (--top)\n", n - shown,
                n - shown == 1 ? "" : "s");
    free(v);
}

/* "  RSS over time  ▁▂▄▆██  (1.2 MiB .. 3.4 MiB)": how high memory was in each
 * part of the run (the highest value of each window), when there are at
 * least two windows. */
static void put_over_time(const tx_t *t, const char *label, const hg_series_t *s)
{
    if (s->n < 2)
        return;
    char a[32], b[32];
    double lo, hi;
    fprintf(t->f, "  %s over time  ", label);
    put_sparkline_of(t, s, true, &lo, &hi);
    fprintf(t->f, "  (%s .. %s)\n", fmt_bytes(lo, a, sizeof(a)), fmt_bytes(hi, b, sizeof(b)));
}

static void put_totals(const tx_t *t, const hg_model_t *m)
{
    const hg_totals_t *tot = &m->totals;
    char a[32], b[32], c[32], d[32], e[32];
    fprintf(t->f, "\n%sTotals%s\n", c_on(t, BOLD), c_off(t));
    fprintf(
        t->f, "  allocations %s (%s), frees %s (%s)\n", fmt_count(tot->alloc_count, a, sizeof(a)),
        fmt_bytes((double)tot->alloc_bytes, b, sizeof(b)), fmt_count(tot->free_count, c, sizeof(c)),
        fmt_bytes((double)tot->free_bytes, d, sizeof(d)));
    /* Both "highest" values are maxima over the snapshots, not running peaks
     * (docs/FORMAT.md): the label says so. */
    fprintf(t->f, "  live: highest at a snapshot %s, at end %s in %s blocks\n",
            fmt_bytes((double)tot->peak_live_bytes, a, sizeof(a)),
            fmt_bytes((double)tot->end_live_bytes, b, sizeof(b)),
            fmt_count(tot->end_live_count, c, sizeof(c)));
    fprintf(t->f, "  RSS: highest at a snapshot %s, at end %s; RSS - live %s\n",
            fmt_bytes((double)tot->peak_rss_bytes, d, sizeof(d)),
            fmt_bytes((double)tot->end_rss_bytes, e, sizeof(e)),
            fmt_bytes((double)tot->end_rss_bytes - (double)tot->end_live_bytes, a, sizeof(a)));
    put_over_time(t, "live", &m->live_series);
    put_over_time(t, "RSS ", &m->rss_series);
    if (tot->dropped_count > 0)
        fprintf(t->f, "  %sdropped%s: %s allocations were not traced (see warnings)\n",
                c_on(t, YELLOW), c_off(t), fmt_count(tot->dropped_count, a, sizeof(a)));
}

/* "note: ..." / "warning: ...": the text may hold module paths and tracer
 * messages from the trace. */
static void put_note(const tx_t *t, const char *what, const char *text)
{
    fprintf(t->f, "%s%s%s: ", c_on(t, YELLOW), what, c_off(t));
    hg_escape_put(t->f, text);
    fputc('\n', t->f);
}

static void put_warnings(const tx_t *t, const hg_model_t *m, const char *const *extra,
                         size_t nextra)
{
    if (m->ended_early != NULL || m->nwarnings > 0 || nextra > 0)
        fputc('\n', t->f);
    if (m->ended_early != NULL)
        put_note(t, "note", m->ended_early);
    for (size_t i = 0; i < m->nwarnings; i++)
        put_note(t, "warning", m->warnings[i]);
    for (size_t i = 0; i < nextra; i++)
        put_note(t, "warning", extra[i]);
}

static void put_headline(const tx_t *t, const hg_model_t *m)
{
    char h[256];
    bool is_bad = false;
    for (size_t i = 0; i < m->nsites; i++)
        is_bad = is_bad || site_grows(&m->sites[i]) || site_leaks(&m->sites[i]);
    hg_report_headline(m, h, sizeof(h));
    fprintf(t->f, "%s%s%s\n", c_on(t, is_bad ? RED : BOLD), h, c_off(t));
}

/* Whether a process has growth, leaks, warnings or an early end to show. */
static bool has_news(const hg_model_t *m)
{
    if (m->ended_early != NULL || m->nwarnings > 0)
        return true;
    for (size_t i = 0; i < m->nsites; i++)
        if (site_grows(&m->sites[i]) || site_leaks(&m->sites[i]))
            return true;
    return false;
}

int hg_report_text(FILE *out, const hg_report_input_t *in, const hg_report_opts_t *opts)
{
    tx_t t = {.f = out, .is_color = opts->is_color};
    const hg_model_t *m = in->main;
    size_t top = opts->top;
    if (opts->is_brief && top == 0)
        top = BRIEF_TOP;

    put_process_line(&t, m, false);
    put_sampling(&t, m);
    put_headline(&t, m);
    put_growing(&t, m, top, opts->is_brief);
    put_leaked(&t, m, top, opts->is_brief);
    if (!opts->is_brief) {
        put_totals(&t, m);
    }
    put_warnings(&t, m, in->warnings, in->nwarnings);

    /* Descendants: each one with something to say in full (in the brief form
     * only the first BRIEF_CHILDREN), the quiet ones counted on one line, so
     * that a program which starts thousands of processes stays readable. */
    size_t nquiet = 0, nshown = 0, nmore = 0;
    for (size_t i = 0; i < in->nchildren; i++) {
        const hg_model_t *c = in->children[i];
        if (!has_news(c)) {
            nquiet++;
            continue;
        }
        if (opts->is_brief && nshown == BRIEF_CHILDREN) {
            nmore++;
            continue;
        }
        nshown++;
        fputc('\n', out);
        put_process_line(&t, c, true);
        put_sampling(&t, c);
        put_headline(&t, c);
        put_growing(&t, c, top, opts->is_brief);
        put_leaked(&t, c, top, opts->is_brief);
        put_warnings(&t, c, NULL, 0);
    }
    if (nmore > 0)
        fprintf(out, "\n... %zu more descendant process%s with growth, leaks or warnings\n", nmore,
                nmore == 1 ? "" : "es");
    if (nquiet > 0)
        fprintf(out, "\n%zu %sdescendant process%s: no growth, no leaks\n", nquiet,
                nshown + nmore > 0 ? "other " : "", nquiet == 1 ? "" : "es");
    if (fflush(out) != 0 || ferror(out))
        return -EIO;
    return 0;
}
