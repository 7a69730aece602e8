/*
 * Formatting of numbers and strings into caller-owned buffers, for the preload
 * library (which may not use stdio: STYLE.md §4). No allocation, no locale,
 * async-signal-safe. A hg_fmt_t appends to a fixed buffer, keeps it
 * NUL-terminated and remembers whether anything was cut off.
 */
#ifndef HEAPGROW_PRELOAD_FMT_H
#define HEAPGROW_PRELOAD_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hg_fmt {
    char *buf;
    size_t len; /* characters written, excluding the NUL */
    size_t cap; /* size of buf, including room for the NUL */
    bool is_truncated;
} hg_fmt_t;

/* cap must be >= 1; buf becomes "". */
void hg_fmt_init(hg_fmt_t *f, char *buf, size_t cap);
void hg_fmt_str(hg_fmt_t *f, const char *s);
void hg_fmt_strn(hg_fmt_t *f, const char *s, size_t n);
void hg_fmt_char(hg_fmt_t *f, char c);
void hg_fmt_u64(hg_fmt_t *f, uint64_t v); /* decimal */
void hg_fmt_i64(hg_fmt_t *f, int64_t v);  /* decimal, '-' when negative */
void hg_fmt_hex(hg_fmt_t *f, uint64_t v); /* "0x" + lowercase hex, no padding */
size_t hg_fmt_len(const hg_fmt_t *f);

/* Writes v in decimal into buf (no NUL) and returns the digit count; buf must
 * hold 20 characters. */
size_t hg_fmt_u64_raw(char *buf, uint64_t v);

#endif /* HEAPGROW_PRELOAD_FMT_H */
