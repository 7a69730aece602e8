/*
 * The CI gate behind `heapgrow check` (the command itself is in launch.c):
 * suppressions, the pass/fail decision over a loaded process family, and the
 * LeakSanitizer-shaped report on stderr. Pure over the models: no I/O but the
 * suppressions file and the stream it prints to.
 *
 * When the trace classifies reachability (docs/LEAKS.md), a site fails on the
 * bytes of the selected leak kinds (default definite and possible, as
 * valgrind's --errors-for-leak-kinds); otherwise on everything still
 * allocated at exit.
 */
#ifndef HEAPGROW_ANALYZER_GATE_H
#define HEAPGROW_ANALYZER_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

enum hg_gate_kind { HG_GATE_LEAK = 0, HG_GATE_GROWTH = 1 };

typedef struct hg_gate_rule {
    enum hg_gate_kind kind;
    char *pattern;   /* glob (fnmatch) */
    bool is_builtin; /* from the built-in list: matched on the site frame only */
} hg_gate_rule_t;

typedef struct hg_gate {
    hg_gate_rule_t *rules;
    size_t nrules;
    uint64_t max_leak_bytes; /* unsuppressed leaked bytes allowed (default 0) */
    unsigned leak_kinds;     /* bit per enum hg_reach_category that fails the
                                gate; hg_gate_init: definite | possible */
    bool is_fail_on_growth;
} hg_gate_t;

/* Starts a gate with the built-in suppressions (one-time allocations of the C
 * and C++ runtimes, listed in gate.c with their reasons). Returns 0 or
 * -ENOMEM. */
int hg_gate_init(hg_gate_t *g);
void hg_gate_free(hg_gate_t *g);

/* Parses a --leak-kinds list: comma-separated definite, indirect, possible,
 * reachable, or "all" / "none" (valgrind's spelling). Returns 0 with the
 * bitmask in *out, or -EINVAL. */
int hg_gate_parse_kinds(const char *list, unsigned *out);

/* Adds one rule "leak:PATTERN" or "growth:PATTERN". Returns 0, -EINVAL for
 * another shape, -ENOMEM. */
int hg_gate_add_rule(hg_gate_t *g, const char *line);

/* Reads a suppressions file: one rule per line, blank lines and lines
 * starting with '#' ignored, surrounding blanks trimmed. Returns 0, -errno
 * (file), or -EINVAL with "<path>:<line>: <what>" in err. */
int hg_gate_load_suppressions(hg_gate_t *g, const char *path, char *err, size_t errlen);

typedef struct hg_gate_result {
    uint64_t leak_bytes; /* unsuppressed, over the whole family */
    uint64_t leak_count;
    size_t nleak_sites;
    size_t ngrowing_sites; /* unsuppressed growing sites */
    size_t nsuppressed;    /* sites that a rule matched */
    bool is_leak_unknown;  /* some process has no final live set */
    size_t nsampled;       /* sampled processes: growth only, leaks unchecked */
    bool is_failed;
} hg_gate_result_t;

/* Applies the gate to a process family and prints, on out, one block per
 * failing site ("Leak of 4096 byte(s) in 16 object(s) allocated from:" and
 * its frames), each process named, then a SUMMARY line. */
void hg_gate_evaluate(FILE *out, const hg_gate_t *g, const hg_report_input_t *in,
                      hg_gate_result_t *res);

#endif /* HEAPGROW_ANALYZER_GATE_H */
