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

#include <heapgrow/format.h>

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

/* What a finding is about: a leak category (enum hg_reach_category), a leak
 * of a trace without the classification (everything still allocated at
 * exit), or growth. */
enum hg_gate_finding_kind {
    HG_FINDING_DEFINITE = HG_CAT_DEFINITE,
    HG_FINDING_INDIRECT = HG_CAT_INDIRECT,
    HG_FINDING_POSSIBLE = HG_CAT_POSSIBLE,
    HG_FINDING_REACHABLE = HG_CAT_REACHABLE,
    HG_FINDING_LEAK,
    HG_FINDING_GROWTH
};

/* One site that fails the gate, for one kind: what a code-scanning result
 * is made of (sarif.c). A site fails once per selected leak kind it has
 * bytes of, and once more for growth. Indirect leaks that are not selected
 * themselves go with the site's definite finding, as LeakSanitizer shows
 * them. Pointers into the models given to hg_gate_evaluate. */
typedef struct hg_gate_finding {
    enum hg_gate_finding_kind kind;
    const hg_model_t *process;
    bool is_descendant;
    const hg_site_t *site;
    hg_leak_t leak;     /* leak kinds: bytes and objects */
    hg_leak_t indirect; /* HG_FINDING_DEFINITE: the indirect leak shown with it */
} hg_gate_finding_t;

typedef struct hg_gate_result {
    uint64_t leak_bytes; /* unsuppressed, over the whole family */
    uint64_t leak_count;
    size_t nleak_sites;
    size_t ngrowing_sites; /* unsuppressed growing sites */
    size_t nsuppressed;    /* sites that a rule matched */
    bool is_leak_unknown;  /* some process has no final live set */
    size_t nincomplete;    /* processes whose trace the tracer could not finish
                              writing (a write error): they fail the gate, which
                              cannot vouch for what it did not see */
    size_t nsampled;       /* sampled processes: growth only, leaks unchecked */
    bool is_failed;
    hg_gate_finding_t *findings; /* in the order printed; owned */
    size_t nfindings;
} hg_gate_result_t;

/* Applies the gate to a process family and prints, on out, one block per
 * failing site ("Leak of 4096 byte(s) in 16 object(s) allocated from:" and
 * its frames), each process named, then a SUMMARY line. res gets the totals
 * and the findings; free it with hg_gate_result_free. Out of memory, the
 * gate fails (it cannot say that the program passed). */
void hg_gate_evaluate(FILE *out, const hg_gate_t *g, const hg_report_input_t *in,
                      hg_gate_result_t *res);
void hg_gate_result_free(hg_gate_result_t *res);

/* The built-in suppressions, for the documentation's test: the i-th rule
 * ("leak:PATTERN") and why the runtime never frees what it matches. Returns
 * false past the last. */
bool hg_gate_builtin(size_t i, const char **rule, const char **reason);

#endif /* HEAPGROW_ANALYZER_GATE_H */
