/*
 * A minimal, analyzer-independent decoder of heapgrow traces for the writer's
 * tests: inflates a (possibly truncated) gzip file and splits it into records
 * (docs/FORMAT.md). Uses malloc freely: it runs in the test, not the target.
 */
#ifndef HEAPGROW_TESTS_TEST_WRITER_DECODE_H
#define HEAPGROW_TESTS_TEST_WRITER_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct trace_rec {
    uint8_t tag;
    const uint8_t *p;
    size_t len;
} trace_rec_t;

typedef struct trace {
    uint8_t *data; /* decompressed bytes */
    size_t len;
    bool has_trailer; /* the gzip stream ended properly (Z_STREAM_END) */
    bool is_magic_ok;
    uint64_t version;
    trace_rec_t *recs;
    size_t n;
    size_t tail_bytes; /* bytes after the last complete record */
} trace_t;

/* Returns 0, or -1 when the file cannot be read or is not gzip at all. */
int trace_load(const char *path, trace_t *t);
void trace_free(trace_t *t);
/* Index of the first record with `tag` at or after `from`, or t->n. */
size_t trace_find(const trace_t *t, uint8_t tag, size_t from);
size_t trace_count(const trace_t *t, uint8_t tag);

/* Field cursor over one payload. Reading past the end sets is_bad. */
typedef struct cur {
    const uint8_t *p;
    const uint8_t *end;
    bool is_bad;
} cur_t;

cur_t cur_of(const trace_rec_t *r);
uint64_t cur_u(cur_t *c);
int64_t cur_s(cur_t *c);
/* Returns the length and points *out at the bytes. */
size_t cur_b(cur_t *c, const uint8_t **out);
/* Copies a "b" field into a NUL-terminated string (cut to cap - 1). */
void cur_str(cur_t *c, char *dst, size_t cap);

#endif /* HEAPGROW_TESTS_TEST_WRITER_DECODE_H */
