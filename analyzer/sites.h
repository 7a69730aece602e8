/*
 * Grouping of symbolized stacks into call sites (issue 3, "Grouping into call
 * sites"; the built-in allocator list and its reasons are in docs/SITES.md).
 *
 * The site frame of a stack is its innermost frame outside the allocator: the
 * tracer, libc's malloc family, operator new, the C++ standard library and the
 * well-known wrappers (strdup, g_malloc, xmalloc, PyMem_*, zmalloc, sqlite3Malloc
 * ...) plus user globs. A site's identity depends on the grouping: the site
 * frame's (function, file, line, module) — or (module, offset) when the
 * function is unknown —, its function alone, or the whole stack from the site
 * frame outward. Sites are numbered densely from 0 in order of first sight.
 * No I/O; the table grows with the number of distinct sites only.
 */
#ifndef HEAPGROW_ANALYZER_SITES_H
#define HEAPGROW_ANALYZER_SITES_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "symbolize.h"

typedef struct hg_sites hg_sites_t;

/* Creates a table grouping by `group_by`, with extra wrapper globs: the
 * array `wrappers` (--wrapper) and the comma-separated list `wrappers_csv`
 * (HEAPGROW_WRAPPERS, may be NULL or ""). Globs are fnmatch(3) patterns matched
 * against the function's name with and without its return type and parameter
 * list. Returns 0 or -ENOMEM. */
int hg_sites_create(enum hg_group_by group_by, const char *const *wrappers, size_t nwrappers,
                    const char *wrappers_csv, hg_sites_t **out);
void hg_sites_destroy(hg_sites_t *t);

/* Adds more comma-separated wrapper globs (e.g. from a trace header read after
 * creation). Returns 0 or -ENOMEM. */
int hg_sites_add_wrappers(hg_sites_t *t, const char *wrappers_csv);

/* True when the frame is on the allocation path (tracer, allocator, wrapper or
 * C++ standard library), not a call site. */
bool hg_sites_is_allocator(const hg_sites_t *t, const hg_frame_info_t *f);

/* The index of the site frame in frames[0..n), innermost first: the first
 * frame that is not on the allocation path, or n - 1 when all are. n > 0. */
size_t hg_sites_site_frame(const hg_sites_t *t, const hg_frame_info_t *frames, size_t n);

/* Finds or creates the site of a stack of n symbolized frames (n may be 0: the
 * unknown stack). Returns its index (>= 0) or -ENOMEM; *site_frame gets the
 * index of the site frame (0 when n == 0), *is_new whether the site was new. */
long hg_sites_intern(hg_sites_t *t, const hg_frame_info_t *frames, size_t n, size_t *site_frame,
                     bool *is_new);

/* Number of distinct sites so far. */
size_t hg_sites_count(const hg_sites_t *t);

/* Writes into buf the function's qualified name without return type and
 * parameter list ("void std::vector<int>::push_back(int const&)" ->
 * "std::vector<int>::push_back"). Returns buf (truncated to cap - 1). */
const char *hg_sites_base_name(const char *function, char *buf, size_t cap);

#endif /* HEAPGROW_ANALYZER_SITES_H */
