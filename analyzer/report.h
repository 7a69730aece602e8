/*
 * Reports: the text answer for a person (report_text.c) and the JSON answer for
 * machines (report_json.c), both formatting only. They read hg_model_t values
 * built by hg_model_load (model.h) and never change them. The JSON schema is
 * documented field by field in docs/REPORT.md; bump HG_REPORT_JSON_VERSION on
 * any change a consumer could misread. The `report` subcommand that drives them
 * (options, loading, process families) is in report.c.
 */
#ifndef HEAPGROW_ANALYZER_REPORT_H
#define HEAPGROW_ANALYZER_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "model.h"

#define HG_REPORT_JSON_VERSION 1
#define HG_REPORT_DEFAULT_TOP  10
/* Sites per process in the JSON report without --top (--top 0: all). A
 * site's entry is a few KiB (stacks and series); a program with 100k stacks
 * under --group-by stack would otherwise write gigabytes (docs/REPORT.md). */
#define HG_REPORT_JSON_DEFAULT_TOP 100
/* Windows of a series in the JSON report (sites and totals): the model's
 * windows (up to HG_SERIES_MAX_POINTS) are merged down to this many. */
#define HG_REPORT_SERIES_POINTS 64

/* What one report covers: the main process and the descendants found for it
 * (family.h), each already loaded. */
typedef struct hg_report_input {
    const hg_model_t *main;
    const hg_model_t *const *children; /* descendants, in pid order     */
    size_t nchildren;
    const char *const *warnings; /* extra warnings (unreadable
                                    descendant traces...), may be NULL */
    size_t nwarnings;
} hg_report_input_t;

typedef struct hg_report_opts {
    size_t top;                /* sites shown per list (text) or per process (JSON);
                                  0 = all (brief text: 0 = 3). JSON says how
                                  many were left out (sites_omitted) */
    bool is_color;             /* text: ANSI bold/red/yellow */
    bool is_brief;             /* text: headline and top growing/leaking sites only
                                  (what `heapgrow run` prints) */
    enum hg_group_by group_by; /* recorded in the JSON */
} hg_report_opts_t;

/* Writes the report to `out`. Returns 0, or -EIO when a write failed. */
int hg_report_text(FILE *out, const hg_report_input_t *in, const hg_report_opts_t *opts);
int hg_report_json(FILE *out, const hg_report_input_t *in, const hg_report_opts_t *opts);

/* The one-line verdict of a process ("2 sites grow, 1 site leaks: 3.1 MiB
 * gained in 10.2 s" / "no growth, no leaks"), without colour, into buf.
 * Returns buf. */
char *hg_report_headline(const hg_model_t *m, char *buf, size_t len);

/* A main trace and its descendants, loaded (report.c). */
typedef struct hg_report_set {
    hg_model_t *main;
    hg_model_t **children;
    size_t nchildren;
    char **warnings; /* descendant traces that could not be read */
    size_t nwarnings;
} hg_report_set_t;

typedef struct hg_report_load_opts {
    enum hg_group_by group_by;
    const char *const *wrappers; /* --wrapper globs */
    size_t nwrappers;
    bool is_no_children; /* --no-children */
    size_t detail_top;   /* hg_model_opts_t.detail_top: the report's top N
                            (0: details for every site) */
} hg_report_load_opts_t;

/* Loads the trace at path with wrappers from opts, from the trace's recorded
 * HEAPGROW_WRAPPERS and from the HEAPGROW_WRAPPERS environment variable, and
 * (unless is_no_children) its descendants (family.h). Returns 0, or the error
 * of hg_model_load for the main trace with its message in err. */
int hg_report_load(const char *path, const hg_report_load_opts_t *opts, hg_report_set_t *out,
                   char *err, size_t errlen);
void hg_report_set_free(hg_report_set_t *set);

/* Whether colour is wanted on the stream: a terminal, NO_COLOR unset or empty
 * (https://no-color.org). */
bool hg_report_want_color(FILE *f);

/* The `report` subcommand (report.c): argv[0] is "report". Returns the exit
 * status (0, or 2 for usage and input errors). */
int hg_report_main(int argc, char **argv);

#endif /* HEAPGROW_ANALYZER_REPORT_H */
