/*
 * The CI gate (gate.h): suppressions, the decision, and the report in the
 * shape developers know from LeakSanitizer. It reads models only; the command
 * line (`heapgrow check`) is in launch.c.
 */
#include "gate.h"

#include <errno.h>
#include <fnmatch.h>
#include <heapgrow/format.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

/*
 * Built-in suppressions: allocations the C and C++ runtimes make once per
 * process and never free by design (they stay reachable from the runtime's
 * globals until exit; valgrind and LeakSanitizer call them "still reachable"
 * and do not fail on them). Each applies only when it names the site frame
 * itself (the innermost frame outside the allocator), never a caller, so a
 * leak of the program's own that merely passes through these functions is
 * still reported.
 */
static const struct builtin {
    const char *rule;
    const char *reason;
} builtins[] = {
    {"leak:_nl_*", "glibc locale data, loaded once by setlocale()"},
    {"leak:setlocale", "glibc's current locale names"},
    {"leak:read_alias_file", "glibc locale alias table"},
    {"leak:extend_alias_table", "glibc locale alias table"},
    {"leak:new_composite_name", "glibc locale names"},
    {"leak:_IO_file_doallocate", "stdio stream buffers, kept until exit"},
    {"leak:set_binding_values", "gettext domain bindings (bindtextdomain)"},
    {"leak:__textdomain", "gettext's current domain (textdomain)"},
    {"leak:__tzfile_read", "glibc time zone data, loaded once"},
    {"leak:tzset_internal", "glibc time zone name"},
    {"leak:_dl_*", "the dynamic loader's own data"},
    {"leak:ld-linux*.so*", "the dynamic loader's own data"},
    {"leak:*pool::pool*", "libstdc++'s emergency pool for exceptions"},
};

bool hg_gate_builtin(size_t i, const char **rule, const char **reason)
{
    if (i >= sizeof(builtins) / sizeof(builtins[0]))
        return false;
    *rule = builtins[i].rule;
    *reason = builtins[i].reason;
    return true;
}

int hg_gate_add_rule(hg_gate_t *g, const char *line)
{
    enum hg_gate_kind kind;
    const char *pat;
    if (strncmp(line, "leak:", 5) == 0) {
        kind = HG_GATE_LEAK;
        pat = line + 5;
    } else if (strncmp(line, "growth:", 7) == 0) {
        kind = HG_GATE_GROWTH;
        pat = line + 7;
    } else {
        return -EINVAL;
    }
    if (pat[0] == '\0')
        return -EINVAL;
    hg_gate_rule_t *r = realloc(g->rules, (g->nrules + 1) * sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    g->rules = r;
    r = &g->rules[g->nrules];
    r->kind = kind;
    r->is_builtin = false;
    r->pattern = strdup(pat);
    if (r->pattern == NULL)
        return -ENOMEM;
    g->nrules++;
    return 0;
}

static const char *const kind_names[] = {"definite", "indirect", "possible", "reachable"};

int hg_gate_parse_kinds(const char *list, unsigned *out)
{
    unsigned mask = 0;
    const char *p = list;
    if (strcmp(list, "all") == 0) {
        *out = 0xfu;
        return 0;
    }
    if (strcmp(list, "none") == 0) {
        *out = 0;
        return 0;
    }
    for (;;) {
        size_t n = strcspn(p, ",");
        bool is_known = false;
        for (unsigned k = 0; k < 4; k++)
            if (strlen(kind_names[k]) == n && strncmp(p, kind_names[k], n) == 0) {
                mask |= 1u << k;
                is_known = true;
            }
        if (!is_known)
            return -EINVAL;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    *out = mask;
    return 0;
}

int hg_gate_init(hg_gate_t *g)
{
    memset(g, 0, sizeof(*g));
    g->leak_kinds = (1u << HG_CAT_DEFINITE) | (1u << HG_CAT_POSSIBLE);
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        int rc = hg_gate_add_rule(g, builtins[i].rule);
        if (rc != 0)
            return rc;
        g->rules[g->nrules - 1].is_builtin = true;
    }
    return 0;
}

void hg_gate_free(hg_gate_t *g)
{
    for (size_t i = 0; i < g->nrules; i++)
        free(g->rules[i].pattern);
    free(g->rules);
    memset(g, 0, sizeof(*g));
}

int hg_gate_load_suppressions(hg_gate_t *g, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (size_t no = 1; getline(&line, &cap, f) >= 0; no++) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strlen(s);
        while (n > 0 &&
               (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = '\0';
        if (n == 0 || s[0] == '#')
            continue;
        rc = hg_gate_add_rule(g, s);
        if (rc != 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, no,
                     rc == -EINVAL ? "expected leak:PATTERN or growth:PATTERN" : strerror(-rc));
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static bool match_str(const char *pat, const char *s)
{
    if (s == NULL)
        return false;
    return fnmatch(pat, s, 0) == 0 || fnmatch(pat, base_name(s), 0) == 0;
}

static bool match_frame(const char *pat, const hg_frame_info_t *fr, bool is_site_only)
{
    if (match_str(pat, fr->function))
        return true;
    if (is_site_only)
        return match_str(pat, fr->module);
    return match_str(pat, fr->file) || match_str(pat, fr->module);
}

/* Whether a rule of `kind` matches the site: built-in rules on its site
 * frame, the user's on any frame of its stacks. */
static bool is_suppressed(const hg_gate_t *g, enum hg_gate_kind kind, const hg_site_t *s)
{
    for (size_t i = 0; i < g->nrules; i++) {
        const hg_gate_rule_t *r = &g->rules[i];
        if (r->kind != kind)
            continue;
        if (match_frame(r->pattern, &s->frame, r->is_builtin))
            return true;
        if (r->is_builtin)
            continue;
        for (size_t k = 0; k < s->nstacks_shown && k < HG_SITE_TOP_STACKS; k++)
            for (size_t j = 0; j < s->stacks[k].nframes; j++)
                if (match_frame(r->pattern, &s->stacks[k].frames[j], false))
                    return true;
    }
    return false;
}

static void put_frames(FILE *out, const hg_site_t *s)
{
    const hg_frame_info_t *frames = &s->frame;
    size_t n = 1;
    if (s->nstacks_shown > 0 && s->stacks[0].nframes > 0) {
        frames = s->stacks[0].frames;
        n = s->stacks[0].nframes;
    }
    for (size_t i = 0; i < n; i++) {
        const hg_frame_info_t *fr = &frames[i];
        fprintf(out, "    #%zu 0x%" PRIx64 " in ", i, fr->address);
        /* Names from the trace, escaped (escape.h). */
        if (fr->function != NULL) {
            hg_escape_put(out, fr->function);
        } else if (fr->module != NULL) {
            hg_escape_put(out, base_name(fr->module));
            fprintf(out, "+0x%" PRIx64, fr->module_offset);
        } else {
            fputs("??", out);
        }
        if (fr->file != NULL) {
            fputc(' ', out);
            hg_escape_put(out, fr->file);
            if (fr->line != 0)
                fprintf(out, ":%" PRIu32, fr->line);
        }
        if (fr->module != NULL && fr->function != NULL) {
            fputs(" (", out);
            hg_escape_put(out, base_name(fr->module));
            fputc(')', out);
        }
        fputc('\n', out);
    }
    if (s->nstacks_total > 1)
        fprintf(out, "    (and %zu more distinct stack%s)\n", s->nstacks_total - 1,
                s->nstacks_total == 2 ? "" : "s");
}

/* The kinds a failing site prints: the selected ones, and indirect leaks
 * whenever definite ones are selected (they are what the lost blocks held, as
 * LeakSanitizer's "Indirect leak"). */
static unsigned shown_kinds(unsigned kinds)
{
    return kinds | ((kinds & (1u << HG_CAT_DEFINITE)) ? 1u << HG_CAT_INDIRECT : 0u);
}

/* Bytes and count by which a site fails the gate (0 = it passes). Without a
 * reachability classification: everything still allocated at exit. */
static hg_leak_t failing(const hg_gate_t *g, const hg_model_t *m, const hg_site_t *s,
                         unsigned kinds)
{
    if (!m->has_reachability)
        return s->leaked.bytes > 0 ? s->leaked : (hg_leak_t){0, 0};
    hg_leak_t v = {0, 0};
    (void)g;
    for (unsigned k = 0; k < 4; k++)
        if (kinds & (1u << k)) {
            v.bytes += s->leak_kinds[k].bytes;
            v.count += s->leak_kinds[k].count;
        }
    return v;
}

static const hg_gate_t *sort_gate;
static const hg_model_t *sort_model;

static int cmp_leak(const void *a, const void *b)
{
    const hg_site_t *x = *(const hg_site_t *const *)a, *y = *(const hg_site_t *const *)b;
    unsigned kinds = shown_kinds(sort_gate->leak_kinds);
    int64_t bx = failing(sort_gate, sort_model, x, kinds).bytes;
    int64_t by = failing(sort_gate, sort_model, y, kinds).bytes;
    if (bx != by)
        return bx > by ? -1 : 1;
    return 0;
}

static void put_leak_head(FILE *out, const char *what, hg_leak_t v)
{
    fprintf(out, "\n%s of %" PRId64 " byte(s) in %" PRId64 " object(s) allocated from:\n", what,
            v.bytes, v.count);
}

/* Appends a finding; false when out of memory. */
static bool add_finding(hg_gate_result_t *res, const hg_gate_finding_t *f)
{
    hg_gate_finding_t *v = realloc(res->findings, (res->nfindings + 1) * sizeof(*v));
    if (v == NULL)
        return false;
    res->findings = v;
    v[res->nfindings++] = *f;
    return true;
}

/* "heapgrow check: process PID EXE" (or "descendant process PID (child of
 * PPID) EXE"), the name escaped, no newline. */
static void put_process_head(FILE *out, const hg_model_t *m, bool is_child)
{
    if (is_child)
        fprintf(out, "heapgrow check: descendant process %" PRIu64 " (child of %" PRIu64 ") ",
                m->pid, m->ppid);
    else
        fprintf(out, "heapgrow check: process %" PRIu64 " ", m->pid);
    hg_escape_put(out, m->exe != NULL ? m->exe : "?");
}

static void evaluate_process(FILE *out, const hg_gate_t *g, const hg_model_t *m, bool is_child,
                             hg_gate_result_t *res)
{
    const hg_site_t **leaks = calloc(m->nsites + 1, sizeof(*leaks));
    const hg_site_t **grows = calloc(m->nsites + 1, sizeof(*grows));
    size_t nleaks = 0, ngrows = 0;
    bool is_oom = leaks == NULL || grows == NULL;
    if (is_oom)
        goto out;
    /* A sampled process is never a leak gate (launch.c, check_sampling):
     * its growth verdicts count, its leaks are not checked. */
    bool is_leak_gated = m->sample_bytes == 0;
    if (m->write_error != NULL) {
        /* The tool's own failure, not the program's: say it, and fail. */
        put_process_head(out, m, is_child);
        fputs(": its trace is incomplete (writing it failed: ", out);
        hg_escape_put(out, m->write_error);
        fputs("), so its leaks cannot be checked\n", out);
        res->nincomplete++;
    } else if (!is_leak_gated) {
        res->nsampled++;
    } else if (!m->has_final_live_set) {
        res->is_leak_unknown = true;
    }
    for (size_t i = 0; i < m->nsites; i++) {
        const hg_site_t *s = &m->sites[i];
        bool is_counted = false;
        if (is_leak_gated && (failing(g, m, s, g->leak_kinds).bytes > 0 ||
                              (!m->has_reachability && s->leaked.bytes > 0))) {
            if (is_suppressed(g, HG_GATE_LEAK, s)) {
                res->nsuppressed++;
                is_counted = true;
            } else {
                leaks[nleaks++] = s;
            }
        }
        if (g->is_fail_on_growth && s->growth.is_growing) {
            if (is_suppressed(g, HG_GATE_GROWTH, s))
                res->nsuppressed += !is_counted;
            else
                grows[ngrows++] = s;
        }
    }
    sort_gate = g;
    sort_model = m;
    qsort(leaks, nleaks, sizeof(*leaks), cmp_leak);
    if (nleaks + ngrows > 0) {
        put_process_head(out, m, is_child);
        fputc('\n', out);
    }
    for (size_t i = 0; i < nleaks; i++) {
        const hg_site_t *s = leaks[i];
        hg_gate_finding_t f = {.process = m, .is_descendant = is_child, .site = s};
        if (!m->has_reachability) {
            put_leak_head(out, "Leak", s->leaked);
            put_frames(out, s);
            res->leak_bytes += (uint64_t)s->leaked.bytes;
            res->leak_count += s->leaked.count > 0 ? (uint64_t)s->leaked.count : 0;
            res->nleak_sites++;
            f.kind = HG_FINDING_LEAK;
            f.leak = s->leaked;
            is_oom |= !add_finding(res, &f);
            continue;
        }
        static const char *const heads[] = {"Direct leak", "Indirect leak", "Possible leak",
                                            "Reachable"};
        unsigned kinds = shown_kinds(g->leak_kinds);
        for (unsigned k = 0; k < 4; k++) {
            if (!(kinds & (1u << k)) || s->leak_kinds[k].bytes <= 0)
                continue;
            put_leak_head(out, heads[k], s->leak_kinds[k]);
            put_frames(out, s);
            /* An indirect leak that is only shown (not selected) goes with
             * the site's definite finding; when the site has none (its
             * blocks hang off another site's), it is a finding of its own. */
            if (k == HG_CAT_INDIRECT && !(g->leak_kinds & (1u << k)) &&
                s->leak_kinds[HG_CAT_DEFINITE].bytes > 0)
                continue;
            f.kind = (enum hg_gate_finding_kind)k;
            f.leak = s->leak_kinds[k];
            f.indirect = (hg_leak_t){0, 0};
            if (k == HG_CAT_DEFINITE && !(g->leak_kinds & (1u << HG_CAT_INDIRECT)))
                f.indirect = s->leak_kinds[HG_CAT_INDIRECT];
            is_oom |= !add_finding(res, &f);
        }
        hg_leak_t v = failing(g, m, s, kinds);
        res->leak_bytes += (uint64_t)v.bytes;
        res->leak_count += (uint64_t)v.count;
        res->nleak_sites++;
    }
    for (size_t i = 0; i < ngrows; i++) {
        const hg_site_t *s = grows[i];
        double c = s->growth.confidence;
        fprintf(out,
                "\n%s of %.0f byte(s)/s (confidence %.0f%%, %.0f byte(s) gained) "
                "allocated from:\n",
                m->sample_bytes != 0 ? "Estimated growth" : "Growth", s->growth.slope_bytes_per_s,
                isfinite(c) ? c * 100 : 0.0, s->growth.net_gain_bytes);
        put_frames(out, s);
        res->ngrowing_sites++;
        hg_gate_finding_t f = {
            .kind = HG_FINDING_GROWTH, .process = m, .is_descendant = is_child, .site = s};
        is_oom |= !add_finding(res, &f);
    }
    if (nleaks + ngrows > 0)
        fputc('\n', out);
out:
    if (is_oom)
        res->is_failed = true; /* cannot say it passed */
    free(leaks);
    free(grows);
}

void hg_gate_result_free(hg_gate_result_t *res)
{
    free(res->findings);
    res->findings = NULL;
    res->nfindings = 0;
}

void hg_gate_evaluate(FILE *out, const hg_gate_t *g, const hg_report_input_t *in,
                      hg_gate_result_t *res)
{
    memset(res, 0, sizeof(*res));
    evaluate_process(out, g, in->main, false, res);
    for (size_t i = 0; i < in->nchildren; i++)
        evaluate_process(out, g, in->children[i], true, res);
    if (res->leak_bytes > g->max_leak_bytes || res->ngrowing_sites > 0 || res->nincomplete > 0)
        res->is_failed = true;

    fprintf(out, "SUMMARY: heapgrow: %" PRIu64 " byte(s) leaked in %" PRIu64 " allocation(s)",
            res->leak_bytes, res->leak_count);
    if (g->is_fail_on_growth)
        fprintf(out, "; %zu growing site%s", res->ngrowing_sites,
                res->ngrowing_sites == 1 ? "" : "s");
    if (res->nsuppressed > 0)
        fprintf(out, "; %zu site%s suppressed", res->nsuppressed, res->nsuppressed == 1 ? "" : "s");
    if (g->max_leak_bytes > 0)
        fprintf(out, "; limit %" PRIu64 " byte(s)", g->max_leak_bytes);
    if (res->nincomplete > 0)
        fprintf(out, "; %zu incomplete trace%s", res->nincomplete,
                res->nincomplete == 1 ? "" : "s");
    fputs(res->is_leak_unknown ? "; leaks unknown for a process that did not exit normally" : "",
          out);
    if (res->nsampled > 0)
        fprintf(out, "; %zu sampled process%s: growth estimated, leaks not checked", res->nsampled,
                res->nsampled == 1 ? "" : "es");
    fputs(".\n", out);
}
