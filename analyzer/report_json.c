/*
 * The JSON report (`heapgrow report --format json`): formatting only. The
 * schema is DESIGN.md "Interfaces", documented field by field in
 * docs/REPORT.md; this file must stay its exact twin.
 *
 * JSON is written by hand with a tiny emitter that tracks nesting and commas.
 * Strings are escaped per RFC 8259 and made valid UTF-8 (a byte that is not
 * part of a well-formed sequence becomes U+FFFD), numbers are numbers, and
 * values that are unknown or not finite are null.
 */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "heapgrow/format.h"

#define JW_MAX_DEPTH 32

/* Emitter state: one "has a member been written at this depth" flag per open
 * object/array, so that commas and newlines come out right. */
typedef struct jw {
    FILE *f;
    int depth;
    bool has_member[JW_MAX_DEPTH];
    bool is_inline[JW_MAX_DEPTH]; /* arrays of numbers stay on one line */
} jw_t;

static void jw_indent(jw_t *w)
{
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->f);
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 if the bytes at s
 * do not start one (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

static void jw_string_raw(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s != '\0') {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            s++;
        } else if (c < 0x20) {
            switch (c) {
            case '\n':
                fputs("\\n", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            case '\b':
                fputs("\\b", f);
                break;
            case '\f':
                fputs("\\f", f);
                break;
            default:
                fprintf(f, "\\u%04x", c);
                break;
            }
            s++;
        } else {
            /* The NUL terminator stops utf8_len's look-ahead: a truncated
             * sequence fails its continuation-byte test at the NUL. */
            size_t n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
            } else {
                fwrite(s, 1, n, f);
                s += n;
            }
        }
    }
    fputc('"', f);
}

/* Starts a member: comma and newline as needed, then "key": when key != NULL
 * (inside objects) or nothing (inside arrays). */
static void jw_member(jw_t *w, const char *key)
{
    if (w->depth > 0) {
        bool is_inline = w->is_inline[w->depth - 1];
        if (w->has_member[w->depth - 1])
            fputs(is_inline ? ", " : ",", w->f);
        w->has_member[w->depth - 1] = true;
        if (!is_inline)
            jw_indent(w);
    }
    if (key != NULL) {
        jw_string_raw(w->f, key);
        fputs(": ", w->f);
    }
}

static void jw_open(jw_t *w, const char *key, char bracket, bool is_inline)
{
    jw_member(w, key);
    fputc(bracket, w->f);
    if (w->depth < JW_MAX_DEPTH) {
        w->has_member[w->depth] = false;
        w->is_inline[w->depth] = is_inline;
    }
    w->depth++;
}

static void jw_close(jw_t *w, char bracket)
{
    w->depth--;
    bool had = w->depth < JW_MAX_DEPTH && w->has_member[w->depth];
    bool is_inline = w->depth < JW_MAX_DEPTH && w->is_inline[w->depth];
    if (had && !is_inline)
        jw_indent(w);
    fputc(bracket, w->f);
}

static void jw_obj(jw_t *w, const char *key)
{
    jw_open(w, key, '{', false);
}

static void jw_obj_end(jw_t *w)
{
    jw_close(w, '}');
}

static void jw_arr(jw_t *w, const char *key, bool is_inline)
{
    jw_open(w, key, '[', is_inline);
}

static void jw_arr_end(jw_t *w)
{
    jw_close(w, ']');
}

static void jw_null(jw_t *w, const char *key)
{
    jw_member(w, key);
    fputs("null", w->f);
}

static void jw_str(jw_t *w, const char *key, const char *v)
{
    jw_member(w, key);
    if (v == NULL)
        fputs("null", w->f);
    else
        jw_string_raw(w->f, v);
}

static void jw_u64(jw_t *w, const char *key, uint64_t v)
{
    jw_member(w, key);
    fprintf(w->f, "%" PRIu64, v);
}

static void jw_i64(jw_t *w, const char *key, int64_t v)
{
    jw_member(w, key);
    fprintf(w->f, "%" PRId64, v);
}

static void jw_bool(jw_t *w, const char *key, bool v)
{
    jw_member(w, key);
    fputs(v ? "true" : "false", w->f);
}

/* Finite doubles with enough digits to round-trip what a person reads
 * (9 significant); NaN and infinities are null (JSON has neither). */
static void jw_double(jw_t *w, const char *key, double v)
{
    jw_member(w, key);
    if (!isfinite(v)) {
        fputs("null", w->f);
        return;
    }
    if (v == 0)
        v = 0; /* no "-0" */
    fprintf(w->f, "%.9g", v);
}

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

static void write_frame(jw_t *w, const hg_frame_info_t *fr)
{
    jw_obj(w, NULL);
    jw_str(w, "function", fr->function);
    jw_str(w, "file", fr->file);
    if (fr->line == 0)
        jw_null(w, "line");
    else
        jw_u64(w, "line", fr->line);
    jw_str(w, "module", fr->module);
    jw_u64(w, "address", fr->address);
    if (fr->module == NULL)
        jw_null(w, "module_offset");
    else
        jw_u64(w, "module_offset", fr->module_offset);
    jw_bool(w, "inlined", fr->is_inlined);
    jw_bool(w, "build_id_mismatch", fr->is_build_id_mismatch);
    jw_obj_end(w);
}

static void write_frames(jw_t *w, const char *key, const hg_stack_view_t *sv)
{
    jw_arr(w, key, false);
    for (size_t i = 0; sv != NULL && i < sv->nframes; i++)
        write_frame(w, &sv->frames[i]);
    jw_arr_end(w);
}

static void write_series(jw_t *w, const char *key, const hg_series_t *s)
{
    jw_arr(w, key, false);
    for (size_t i = 0; i < s->n; i++) {
        const hg_series_point_t *p = &s->pts[i];
        jw_arr(w, NULL, true);
        jw_double(w, NULL, p->t_start_s);
        jw_double(w, NULL, p->t_end_s);
        jw_double(w, NULL, p->min);
        jw_double(w, NULL, p->max);
        jw_double(w, NULL, p->last);
        jw_arr_end(w);
    }
    jw_arr_end(w);
}

static void write_growth(jw_t *w, const hg_growth_t *g)
{
    jw_obj(w, "growth");
    jw_bool(w, "growing", g->is_growing);
    jw_double(w, "slope_bytes_per_s", g->slope_bytes_per_s);
    jw_double(w, "confidence", g->confidence);
    jw_double(w, "p_value", g->p_value);
    jw_double(w, "late_slope_bytes_per_s", g->late_slope_bytes_per_s);
    jw_double(w, "late_p_value", g->late_p_value);
    jw_double(w, "mk_z", g->mk_z);
    jw_double(w, "net_gain_bytes", g->net_gain_bytes);
    jw_u64(w, "n_windows", g->n_windows);
    jw_str(w, "reason", g->reason);
    jw_obj_end(w);
}

/* The raw numbers behind a sampled process's estimates; null when exact. */
static void write_site_samples(jw_t *w, const hg_model_t *m, const hg_site_t *s)
{
    if (m->sample_bytes == 0) {
        jw_null(w, "samples");
        return;
    }
    jw_obj(w, "samples");
    jw_u64(w, "alloc_count", s->sampled_alloc_count);
    jw_u64(w, "end_live_count", s->sampled_end_live_count);
    if (s->sampled_leak_count < 0)
        jw_null(w, "leaked_count");
    else
        jw_i64(w, "leaked_count", s->sampled_leak_count);
    jw_obj_end(w);
}

static void write_site(jw_t *w, const hg_model_t *m, const hg_site_t *s)
{
    bool has_reachability = m->has_reachability;
    jw_obj(w, NULL);
    jw_str(w, "function", s->frame.function);
    jw_str(w, "file", s->frame.file);
    if (s->frame.line == 0)
        jw_null(w, "line");
    else
        jw_u64(w, "line", s->frame.line);
    jw_str(w, "module", s->frame.module);
    jw_u64(w, "address", s->frame.address);
    write_frames(w, "stack", s->nstacks_shown > 0 ? &s->stacks[0] : NULL);
    jw_u64(w, "nstacks", s->nstacks_total);
    jw_arr(w, "stacks", false);
    for (size_t i = 0; i < s->nstacks_shown && i < HG_SITE_TOP_STACKS; i++) {
        jw_obj(w, NULL);
        jw_u64(w, "end_live_bytes", s->stacks[i].end_live_bytes);
        jw_u64(w, "alloc_bytes", s->stacks[i].alloc_bytes);
        write_frames(w, "frames", &s->stacks[i]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_u64(w, "alloc_count", s->alloc_count);
    jw_u64(w, "alloc_bytes", s->alloc_bytes);
    jw_u64(w, "peak_live_bytes", s->peak_live_bytes);
    jw_u64(w, "end_live_bytes", s->end_live_bytes);
    jw_u64(w, "end_live_count", s->end_live_count);
    jw_obj(w, "leaked");
    if (s->leaked.bytes < 0)
        jw_null(w, "bytes");
    else
        jw_i64(w, "bytes", s->leaked.bytes);
    if (s->leaked.count < 0)
        jw_null(w, "count");
    else
        jw_i64(w, "count", s->leaked.count);
    /* By reachability (docs/LEAKS.md); absent when the tracer did not say. */
    static const char *const kinds[] = {"definite", "indirect", "possible", "reachable"};
    for (int k = 0; k < 4 && has_reachability; k++) {
        jw_obj(w, kinds[k]);
        jw_i64(w, "bytes", s->leak_kinds[k].bytes);
        jw_i64(w, "count", s->leak_kinds[k].count);
        jw_obj_end(w);
    }
    jw_obj_end(w);
    write_site_samples(w, m, s);
    write_growth(w, &s->growth);
    write_series(w, "series", &s->series);
    jw_obj_end(w);
}

static void write_totals(jw_t *w, const hg_model_t *m)
{
    const hg_totals_t *t = &m->totals;
    jw_obj(w, "totals");
    jw_u64(w, "alloc_count", t->alloc_count);
    jw_u64(w, "alloc_bytes", t->alloc_bytes);
    jw_u64(w, "free_count", t->free_count);
    jw_u64(w, "free_bytes", t->free_bytes);
    jw_u64(w, "peak_live_bytes", t->peak_live_bytes);
    jw_u64(w, "end_live_bytes", t->end_live_bytes);
    jw_u64(w, "end_live_count", t->end_live_count);
    jw_u64(w, "end_rss_bytes", t->end_rss_bytes);
    jw_u64(w, "peak_rss_bytes", t->peak_rss_bytes);
    jw_i64(w, "rss_minus_live_bytes", (int64_t)t->end_rss_bytes - (int64_t)t->end_live_bytes);
    jw_u64(w, "dropped_count", t->dropped_count);
    if (m->sample_bytes == 0) {
        jw_null(w, "samples");
    } else {
        jw_obj(w, "samples");
        jw_u64(w, "alloc_count", t->sampled_alloc_count);
        jw_obj_end(w);
    }
    jw_obj_end(w);
}

static void write_sampling(jw_t *w, uint64_t rate_bytes, bool is_estimated)
{
    jw_obj(w, "sampling");
    jw_u64(w, "rate_bytes", rate_bytes);
    jw_bool(w, "estimated", is_estimated);
    jw_obj_end(w);
}

/* The members that describe one process; shared by the top-level "process"
 * object and each entry of "processes". */
static void write_process_fields(jw_t *w, const hg_model_t *m)
{
    jw_str(w, "trace", m->path);
    jw_u64(w, "pid", m->pid);
    jw_u64(w, "parent_pid", m->ppid);
    jw_str(w, "exe", m->exe);
    jw_arr(w, "argv", false);
    for (size_t i = 0; i < m->argc; i++)
        jw_str(w, NULL, m->argv[i]);
    jw_arr_end(w);
    jw_bool(w, "is_fork_child", m->is_fork_child);
    jw_u64(w, "start_time_ns", m->start_real_ns);
    jw_u64(w, "interval_ms", m->interval_ms);
    jw_u64(w, "sample_bytes", m->sample_bytes);
    write_sampling(w, m->sample_bytes, m->sample_bytes != 0);
    jw_str(w, "wrappers", m->wrappers);
    jw_double(w, "duration_s", m->duration_s);
    jw_u64(w, "snapshots", m->nsnapshots);
    jw_bool(w, "ended_cleanly", m->has_end);
    if (m->has_end) {
        jw_str(w, "end_reason", end_reason_name(m->end_reason));
        if (m->end_reason == HG_END_EXIT || m->end_reason == HG_END_UEXIT)
            jw_i64(w, "exit_status", m->end_status);
        else
            jw_null(w, "exit_status");
        if (m->end_reason == HG_END_SIGNAL)
            jw_i64(w, "signal", m->end_status);
        else
            jw_null(w, "signal");
    } else {
        jw_null(w, "end_reason");
        jw_null(w, "exit_status");
        jw_null(w, "signal");
    }
    jw_bool(w, "has_final_live_set", m->has_final_live_set);
    jw_bool(w, "has_reachability", m->has_reachability);
    jw_str(w, "ended_early", m->ended_early);
}

static void write_sites(jw_t *w, const hg_model_t *m, size_t top)
{
    size_t n = m->nsites;
    if (top > 0 && top < n)
        n = top;
    jw_u64(w, "nsites", m->nsites);
    jw_arr(w, "sites", false);
    for (size_t i = 0; i < n; i++)
        write_site(w, m, &m->sites[i]);
    jw_arr_end(w);
}

static void write_warnings(jw_t *w, const hg_model_t *m, const char *const *extra, size_t nextra)
{
    jw_arr(w, "warnings", false);
    for (size_t i = 0; i < m->nwarnings; i++)
        jw_str(w, NULL, m->warnings[i]);
    for (size_t i = 0; i < nextra; i++)
        jw_str(w, NULL, extra[i]);
    jw_arr_end(w);
}

int hg_report_json(FILE *out, const hg_report_input_t *in, const hg_report_opts_t *opts)
{
    jw_t w = {.f = out};
    const hg_model_t *m = in->main;

    jw_obj(&w, NULL);
    jw_str(&w, "format", "heapgrow-report");
    jw_u64(&w, "version", HG_REPORT_JSON_VERSION);
    jw_str(&w, "group_by", group_by_name(opts->group_by));
    /* Whether any number below is an estimate from sampled allocations. */
    bool is_estimated = m->sample_bytes != 0;
    for (size_t i = 0; i < in->nchildren; i++)
        is_estimated = is_estimated || in->children[i]->sample_bytes != 0;
    write_sampling(&w, m->sample_bytes, is_estimated);
    jw_obj(&w, "process");
    write_process_fields(&w, m);
    jw_obj_end(&w);
    write_totals(&w, m);
    write_sites(&w, m, opts->top);
    write_warnings(&w, m, in->warnings, in->nwarnings);
    jw_arr(&w, "processes", false);
    for (size_t i = 0; i < in->nchildren; i++) {
        const hg_model_t *c = in->children[i];
        jw_obj(&w, NULL);
        write_process_fields(&w, c);
        write_totals(&w, c);
        write_sites(&w, c, opts->top);
        write_warnings(&w, c, NULL, 0);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    fputc('\n', out);
    if (fflush(out) != 0 || ferror(out))
        return -EIO;
    return 0;
}
