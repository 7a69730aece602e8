/*
 * The JSON writer (json.h) of the JSON report and the SARIF log. Strings are
 * escaped per RFC 8259 and made valid UTF-8; nothing here allocates.
 */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>

static void put_indent(hg_json_t *w)
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

static void put_string(FILE *f, const char *str)
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
static void begin_member(hg_json_t *w, const char *key)
{
    if (w->depth > 0) {
        bool is_inline = w->is_inline[w->depth - 1];
        if (w->has_member[w->depth - 1])
            fputs(is_inline ? ", " : ",", w->f);
        w->has_member[w->depth - 1] = true;
        if (!is_inline)
            put_indent(w);
    }
    if (key != NULL) {
        put_string(w->f, key);
        fputs(": ", w->f);
    }
}

static void open_nested(hg_json_t *w, const char *key, char bracket, bool is_inline)
{
    begin_member(w, key);
    fputc(bracket, w->f);
    if (w->depth < HG_JSON_MAX_DEPTH) {
        w->has_member[w->depth] = false;
        w->is_inline[w->depth] = is_inline;
    }
    w->depth++;
}

static void close_nested(hg_json_t *w, char bracket)
{
    w->depth--;
    bool had = w->depth < HG_JSON_MAX_DEPTH && w->has_member[w->depth];
    bool is_inline = w->depth < HG_JSON_MAX_DEPTH && w->is_inline[w->depth];
    if (had && !is_inline)
        put_indent(w);
    fputc(bracket, w->f);
}

void hg_json_obj(hg_json_t *w, const char *key)
{
    open_nested(w, key, '{', false);
}

void hg_json_obj_end(hg_json_t *w)
{
    close_nested(w, '}');
}

void hg_json_arr(hg_json_t *w, const char *key, bool is_inline)
{
    open_nested(w, key, '[', is_inline);
}

void hg_json_arr_end(hg_json_t *w)
{
    close_nested(w, ']');
}

void hg_json_null(hg_json_t *w, const char *key)
{
    begin_member(w, key);
    fputs("null", w->f);
}

void hg_json_str(hg_json_t *w, const char *key, const char *v)
{
    begin_member(w, key);
    if (v == NULL)
        fputs("null", w->f);
    else
        put_string(w->f, v);
}

void hg_json_u64(hg_json_t *w, const char *key, uint64_t v)
{
    begin_member(w, key);
    fprintf(w->f, "%" PRIu64, v);
}

void hg_json_i64(hg_json_t *w, const char *key, int64_t v)
{
    begin_member(w, key);
    fprintf(w->f, "%" PRId64, v);
}

void hg_json_bool(hg_json_t *w, const char *key, bool v)
{
    begin_member(w, key);
    fputs(v ? "true" : "false", w->f);
}

/* Finite doubles with enough digits to round-trip what a person reads
 * (9 significant); NaN and infinities are null (JSON has neither). */
void hg_json_double(hg_json_t *w, const char *key, double v)
{
    begin_member(w, key);
    if (!isfinite(v)) {
        fputs("null", w->f);
        return;
    }
    if (v == 0)
        v = 0; /* no "-0" */
    fprintf(w->f, "%.9g", v);
}
