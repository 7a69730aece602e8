/*
 * A small JSON writer shared by the JSON report (report_json.c) and the SARIF
 * log of `heapgrow check` (sarif.c): it tracks nesting and commas, escapes
 * strings per RFC 8259 and makes them valid UTF-8 (a byte that is not part of
 * a well-formed sequence becomes U+FFFD), writes numbers as numbers and
 * values that are unknown or not finite as null. Formatting only: errors of
 * the stream are left for the caller to see (ferror) at the end.
 */
#ifndef HEAPGROW_ANALYZER_JSON_H
#define HEAPGROW_ANALYZER_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define HG_JSON_MAX_DEPTH 32

/* Writer state: one "has a member been written at this depth" flag per open
 * object/array, so that commas and newlines come out right. Start with
 * {.f = stream}, everything else zero. */
typedef struct hg_json {
    FILE *f;
    int depth;
    bool has_member[HG_JSON_MAX_DEPTH];
    bool is_inline[HG_JSON_MAX_DEPTH]; /* arrays of numbers stay on one line */
} hg_json_t;

/* In each call, key is the member's name inside an object, NULL inside an
 * array (and for the outermost value). */
void hg_json_obj(hg_json_t *w, const char *key);
void hg_json_obj_end(hg_json_t *w);
/* is_inline: the members stay on the array's line ("[1, 2, 3]"). */
void hg_json_arr(hg_json_t *w, const char *key, bool is_inline);
void hg_json_arr_end(hg_json_t *w);
void hg_json_null(hg_json_t *w, const char *key);
/* v NULL: null. */
void hg_json_str(hg_json_t *w, const char *key, const char *v);
void hg_json_u64(hg_json_t *w, const char *key, uint64_t v);
void hg_json_i64(hg_json_t *w, const char *key, int64_t v);
void hg_json_bool(hg_json_t *w, const char *key, bool v);
/* Finite doubles with 9 significant digits; NaN and infinities are null. */
void hg_json_double(hg_json_t *w, const char *key, double v);

#endif /* HEAPGROW_ANALYZER_JSON_H */
