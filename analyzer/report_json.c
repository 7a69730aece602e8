/*
 * The JSON report (`heapgrow report --format json`): formatting only. The
 * schema is DESIGN.md "Interfaces", documented field by field in
 * docs/REPORT.md; this file must stay its exact twin.
 *
 * JSON is written with the small writer of json.h (escaping, valid UTF-8,
 * null for unknown or non-finite values).
 */
#include "report.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "heapgrow/format.h"
#include "json.h"

/* ------------------------------------------------------------------------ */

static const char *end_reason_name(int reason)
{
    switch (reason) {
    case HG_END_EXIT:
        return "exit";
    case HG_END_UEXIT:
        return "_exit";
    case HG_END_SIGNAL:
        return "signal";
    case HG_END_EXEC:
        return "exec";
    default:
        return "unknown";
    }
}

static const char *group_by_name(enum hg_group_by g)
{
    switch (g) {
    case HG_GROUP_FUNCTION:
        return "function";
    case HG_GROUP_STACK:
        return "stack";
    default:
        return "site";
    }
}

static void write_frame(hg_json_t *w, const hg_frame_info_t *fr)
{
    hg_json_obj(w, NULL);
    hg_json_str(w, "function", fr->function);
    hg_json_str(w, "file", fr->file);
    if (fr->line == 0)
        hg_json_null(w, "line");
    else
        hg_json_u64(w, "line", fr->line);
    hg_json_str(w, "module", fr->module);
    hg_json_u64(w, "address", fr->address);
    if (fr->module == NULL)
        hg_json_null(w, "module_offset");
    else
        hg_json_u64(w, "module_offset", fr->module_offset);
    hg_json_bool(w, "inlined", fr->is_inlined);
    hg_json_bool(w, "build_id_mismatch", fr->is_build_id_mismatch);
    hg_json_obj_end(w);
}

static void write_frames(hg_json_t *w, const char *key, const hg_stack_view_t *sv)
{
    hg_json_arr(w, key, false);
    for (size_t i = 0; sv != NULL && i < sv->nframes; i++)
        write_frame(w, &sv->frames[i]);
    hg_json_arr_end(w);
}

/* Merges the windows of s into at most max_points windows (max_points > 0) of
 * consecutive windows, as even in count as they divide: each keeps the first
 * window's t_start_s, the last one's t_end_s and last, the lowest min and
 * the highest max. out has room for max_points. Returns the number written
 * (s->n when it is at most max_points: a copy). */
static size_t downsample(const hg_series_t *s, size_t max_points, hg_series_point_t *out)
{
    if (s->n <= max_points) {
        if (s->n)
            memcpy(out, s->pts, s->n * sizeof(*out));
        return s->n;
    }
    for (size_t b = 0; b < max_points; b++) {
        size_t lo = b * s->n / max_points, hi = (b + 1) * s->n / max_points;
        hg_series_point_t p = s->pts[lo];
        for (size_t i = lo + 1; i < hi; i++) {
            const hg_series_point_t *q = &s->pts[i];
            p.t_end_s = q->t_end_s;
            p.last = q->last;
            p.min = q->min < p.min ? q->min : p.min;
            p.max = q->max > p.max ? q->max : p.max;
        }
        out[b] = p;
    }
    return max_points;
}

/* A series as windows [t_start_s, t_end_s, min, max, last], merged down to
 * at most HG_REPORT_SERIES_POINTS. */
static void write_series(hg_json_t *w, const char *key, const hg_series_t *s)
{
    hg_series_point_t pts[HG_REPORT_SERIES_POINTS];
    size_t n = downsample(s, HG_REPORT_SERIES_POINTS, pts);
    hg_json_arr(w, key, false);
    for (size_t i = 0; i < n; i++) {
        const hg_series_point_t *p = &pts[i];
        hg_json_arr(w, NULL, true);
        hg_json_double(w, NULL, p->t_start_s);
        hg_json_double(w, NULL, p->t_end_s);
        hg_json_double(w, NULL, p->min);
        hg_json_double(w, NULL, p->max);
        hg_json_double(w, NULL, p->last);
        hg_json_arr_end(w);
    }
    hg_json_arr_end(w);
}

static void write_growth(hg_json_t *w, const hg_growth_t *g)
{
    hg_json_obj(w, "growth");
    hg_json_bool(w, "growing", g->is_growing);
    hg_json_double(w, "slope_bytes_per_s", g->slope_bytes_per_s);
    hg_json_double(w, "confidence", g->confidence);
    hg_json_double(w, "p_value", g->p_value);
    hg_json_double(w, "late_slope_bytes_per_s", g->late_slope_bytes_per_s);
    hg_json_double(w, "late_p_value", g->late_p_value);
    hg_json_double(w, "mk_z", g->mk_z);
    hg_json_double(w, "net_gain_bytes", g->net_gain_bytes);
    hg_json_u64(w, "n_windows", g->n_windows);
    hg_json_str(w, "reason", g->reason);
    hg_json_obj_end(w);
}

/* The raw numbers behind a sampled process's estimates; null when exact. */
static void write_site_samples(hg_json_t *w, const hg_model_t *m, const hg_site_t *s)
{
    if (m->sample_bytes == 0) {
        hg_json_null(w, "samples");
        return;
    }
    hg_json_obj(w, "samples");
    hg_json_u64(w, "alloc_count", s->sampled_alloc_count);
    hg_json_u64(w, "end_live_count", s->sampled_end_live_count);
    if (s->sampled_leak_count < 0)
        hg_json_null(w, "leaked_count");
    else
        hg_json_i64(w, "leaked_count", s->sampled_leak_count);
    hg_json_obj_end(w);
}

static void write_site(hg_json_t *w, const hg_model_t *m, const hg_site_t *s)
{
    bool has_reachability = m->has_reachability;
    hg_json_obj(w, NULL);
    hg_json_str(w, "function", s->frame.function);
    hg_json_str(w, "file", s->frame.file);
    if (s->frame.line == 0)
        hg_json_null(w, "line");
    else
        hg_json_u64(w, "line", s->frame.line);
    hg_json_str(w, "module", s->frame.module);
    hg_json_u64(w, "address", s->frame.address);
    write_frames(w, "stack", s->nstacks_shown > 0 ? &s->stacks[0] : NULL);
    hg_json_u64(w, "nstacks", s->nstacks_total);
    hg_json_arr(w, "stacks", false);
    for (size_t i = 0; i < s->nstacks_shown && i < HG_SITE_TOP_STACKS; i++) {
        hg_json_obj(w, NULL);
        hg_json_u64(w, "end_live_bytes", s->stacks[i].end_live_bytes);
        hg_json_u64(w, "alloc_bytes", s->stacks[i].alloc_bytes);
        write_frames(w, "frames", &s->stacks[i]);
        hg_json_obj_end(w);
    }
    hg_json_arr_end(w);
    hg_json_u64(w, "alloc_count", s->alloc_count);
    hg_json_u64(w, "alloc_bytes", s->alloc_bytes);
    hg_json_u64(w, "peak_live_bytes", s->peak_live_bytes);
    hg_json_u64(w, "end_live_bytes", s->end_live_bytes);
    hg_json_u64(w, "end_live_count", s->end_live_count);
    hg_json_obj(w, "leaked");
    if (s->leaked.bytes < 0)
        hg_json_null(w, "bytes");
    else
        hg_json_i64(w, "bytes", s->leaked.bytes);
    if (s->leaked.count < 0)
        hg_json_null(w, "count");
    else
        hg_json_i64(w, "count", s->leaked.count);
    /* By reachability (docs/LEAKS.md); absent when the tracer did not say. */
    static const char *const kinds[] = {"definite", "indirect", "possible", "reachable"};
    for (int k = 0; k < 4 && has_reachability; k++) {
        hg_json_obj(w, kinds[k]);
        hg_json_i64(w, "bytes", s->leak_kinds[k].bytes);
        hg_json_i64(w, "count", s->leak_kinds[k].count);
        hg_json_obj_end(w);
    }
    hg_json_obj_end(w);
    write_site_samples(w, m, s);
    write_growth(w, &s->growth);
    write_series(w, "series", &s->series);
    hg_json_obj_end(w);
}

static void write_totals(hg_json_t *w, const hg_model_t *m)
{
    const hg_totals_t *t = &m->totals;
    hg_json_obj(w, "totals");
    hg_json_u64(w, "alloc_count", t->alloc_count);
    hg_json_u64(w, "alloc_bytes", t->alloc_bytes);
    hg_json_u64(w, "free_count", t->free_count);
    hg_json_u64(w, "free_bytes", t->free_bytes);
    hg_json_u64(w, "peak_live_bytes", t->peak_live_bytes);
    hg_json_u64(w, "end_live_bytes", t->end_live_bytes);
    hg_json_u64(w, "end_live_count", t->end_live_count);
    hg_json_u64(w, "end_rss_bytes", t->end_rss_bytes);
    hg_json_u64(w, "peak_rss_bytes", t->peak_rss_bytes);
    hg_json_i64(w, "rss_minus_live_bytes", (int64_t)t->end_rss_bytes - (int64_t)t->end_live_bytes);
    hg_json_u64(w, "dropped_count", t->dropped_count);
    write_series(w, "live_series", &m->live_series);
    write_series(w, "rss_series", &m->rss_series);
    if (m->sample_bytes == 0) {
        hg_json_null(w, "samples");
    } else {
        hg_json_obj(w, "samples");
        hg_json_u64(w, "alloc_count", t->sampled_alloc_count);
        hg_json_obj_end(w);
    }
    hg_json_obj_end(w);
}

static void write_sampling(hg_json_t *w, uint64_t rate_bytes, bool is_estimated)
{
    hg_json_obj(w, "sampling");
    hg_json_u64(w, "rate_bytes", rate_bytes);
    hg_json_bool(w, "estimated", is_estimated);
    hg_json_obj_end(w);
}

/* The members that describe one process; shared by the top-level "process"
 * object and each entry of "processes". */
static void write_process_fields(hg_json_t *w, const hg_model_t *m)
{
    hg_json_str(w, "trace", m->path);
    hg_json_u64(w, "pid", m->pid);
    hg_json_u64(w, "parent_pid", m->ppid);
    hg_json_str(w, "exe", m->exe);
    hg_json_arr(w, "argv", false);
    for (size_t i = 0; i < m->argc; i++)
        hg_json_str(w, NULL, m->argv[i]);
    hg_json_arr_end(w);
    hg_json_bool(w, "is_fork_child", m->is_fork_child);
    hg_json_u64(w, "start_time_ns", m->start_real_ns);
    hg_json_u64(w, "interval_ms", m->interval_ms);
    hg_json_u64(w, "sample_bytes", m->sample_bytes);
    write_sampling(w, m->sample_bytes, m->sample_bytes != 0);
    hg_json_str(w, "wrappers", m->wrappers);
    hg_json_double(w, "duration_s", m->duration_s);
    hg_json_u64(w, "snapshots", m->nsnapshots);
    hg_json_bool(w, "ended_cleanly", m->has_end);
    if (m->has_end) {
        hg_json_str(w, "end_reason", end_reason_name(m->end_reason));
        if (m->end_reason == HG_END_EXIT || m->end_reason == HG_END_UEXIT)
            hg_json_i64(w, "exit_status", m->end_status);
        else
            hg_json_null(w, "exit_status");
        if (m->end_reason == HG_END_SIGNAL)
            hg_json_i64(w, "signal", m->end_status);
        else
            hg_json_null(w, "signal");
    } else {
        hg_json_null(w, "end_reason");
        hg_json_null(w, "exit_status");
        hg_json_null(w, "signal");
    }
    hg_json_bool(w, "has_final_live_set", m->has_final_live_set);
    hg_json_bool(w, "has_reachability", m->has_reachability);
    hg_json_str(w, "ended_early", m->ended_early);
    hg_json_str(w, "write_error", m->write_error);
}

static void write_sites(hg_json_t *w, const hg_model_t *m, size_t top)
{
    size_t n = m->nsites;
    if (top > 0 && top < n)
        n = top;
    hg_json_u64(w, "nsites", m->nsites);
    hg_json_u64(w, "sites_omitted", m->nsites - n);
    hg_json_arr(w, "sites", false);
    for (size_t i = 0; i < n; i++)
        write_site(w, m, &m->sites[i]);
    hg_json_arr_end(w);
}

static void write_warnings(hg_json_t *w, const hg_model_t *m, const char *const *extra, size_t nextra)
{
    hg_json_arr(w, "warnings", false);
    for (size_t i = 0; i < m->nwarnings; i++)
        hg_json_str(w, NULL, m->warnings[i]);
    for (size_t i = 0; i < nextra; i++)
        hg_json_str(w, NULL, extra[i]);
    hg_json_arr_end(w);
}

int hg_report_json(FILE *out, const hg_report_input_t *in, const hg_report_opts_t *opts)
{
    hg_json_t w = {.f = out};
    const hg_model_t *m = in->main;

    hg_json_obj(&w, NULL);
    hg_json_str(&w, "format", "heapgrow-report");
    hg_json_u64(&w, "version", HG_REPORT_JSON_VERSION);
    hg_json_str(&w, "group_by", group_by_name(opts->group_by));
    /* Whether any number below is an estimate from sampled allocations. */
    bool is_estimated = m->sample_bytes != 0;
    for (size_t i = 0; i < in->nchildren; i++)
        is_estimated = is_estimated || in->children[i]->sample_bytes != 0;
    write_sampling(&w, m->sample_bytes, is_estimated);
    hg_json_obj(&w, "process");
    write_process_fields(&w, m);
    hg_json_obj_end(&w);
    write_totals(&w, m);
    write_sites(&w, m, opts->top);
    write_warnings(&w, m, in->warnings, in->nwarnings);
    hg_json_arr(&w, "processes", false);
    for (size_t i = 0; i < in->nchildren; i++) {
        const hg_model_t *c = in->children[i];
        hg_json_obj(&w, NULL);
        write_process_fields(&w, c);
        write_totals(&w, c);
        write_sites(&w, c, opts->top);
        write_warnings(&w, c, NULL, 0);
        hg_json_obj_end(&w);
    }
    hg_json_arr_end(&w);
    hg_json_obj_end(&w);
    fputc('\n', out);
    if (fflush(out) != 0 || ferror(out))
        return -EIO;
    return 0;
}
