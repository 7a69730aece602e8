/*
 * The SARIF 2.1.0 log of `heapgrow check --sarif FILE`, for code-scanning
 * dashboards: one run, one result per failing site and kind (the findings of
 * gate.h). Formatting only: the command (launch.c) chooses the file and
 * writes it atomically. What each field holds is documented in docs/CI.md;
 * the specification is OASIS "Static Analysis Results Interchange Format
 * (SARIF) Version 2.1.0".
 */
#ifndef HEAPGROW_ANALYZER_SARIF_H
#define HEAPGROW_ANALYZER_SARIF_H

#include <stdio.h>

#include "gate.h"
#include "report.h"

typedef struct hg_sarif_run {
    /* The gate and what it found; in and res are NULL when nothing was
     * checked (the program did not run, or left no readable trace). */
    const hg_gate_t *gate;
    const hg_report_input_t *in;
    const hg_gate_result_t *res;
    /* Absolute directory that source paths are made relative to (as
     * "%SRCROOT%"): heapgrow's working directory. NULL: every path is an
     * absolute file: URI. */
    const char *base_dir;
    /* heapgrow's own command line and exit status, for the invocation. */
    char *const *argv;
    int argc;
    int exit_code;
    /* NULL, or why nothing was checked (the invocation then did not
     * succeed, and says this). */
    const char *error;
} hg_sarif_run_t;

/* Writes the log to out. Returns 0, or -EIO when a write failed. */
int hg_sarif_write(FILE *out, const hg_sarif_run_t *run);

/* Writes path (a file name, absolute or relative) as a URI reference into
 * buf: bytes other than RFC 3986's unreserved characters and '/' are
 * percent-encoded; an absolute path becomes "file://" + the encoded path.
 * Returns 0, or -ENAMETOOLONG when buf is too small. */
int hg_sarif_path_uri(const char *path, char *buf, size_t len);

#endif /* HEAPGROW_ANALYZER_SARIF_H */
