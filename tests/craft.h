/*
 * Test helper: crafts trace byte streams (good and hostile) for the reader and
 * model tests, through preload/encode.h, and gzips them into memory files.
 * Test-only; aborts on allocation failure.
 */
#ifndef HEAPGROW_TESTS_CRAFT_H
#define HEAPGROW_TESTS_CRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heapgrow/format.h"

/* A growable decompressed stream. */
typedef struct craft {
    uint8_t *buf;
    size_t len, cap;
} craft_t;

/* One SNAPSHOT counter line. */
typedef struct craft_counter {
    uint64_t stack_id, live_bytes, live_count, alloc_count, alloc_bytes;
} craft_counter_t;

typedef struct craft_live {
    uint64_t address, size, stack_id, alloc_time_ms;
} craft_live_t;

void craft_init(craft_t *c);
void craft_free(craft_t *c);
void craft_bytes(craft_t *c, const void *p, size_t n);
/* Magic + HG_FORMAT_VERSION_EXACT, or + `version`. */
void craft_preamble(craft_t *c);
void craft_preamble_version(craft_t *c, uint64_t version);
/* A record with an arbitrary payload. */
void craft_record(craft_t *c, uint8_t tag, const uint8_t *payload, size_t len);
/* HEADER with pid 42, ppid 1, exe "/bin/prog", args "prog" "-x", interval 100,
 * max_frames 64, wrappers `wrappers` (may be ""). */
void craft_header(craft_t *c, const char *wrappers);
/* The same with sample_bytes (0 = exact). */
void craft_header_sampled(craft_t *c, const char *wrappers, uint64_t sample_bytes);
void craft_module(craft_t *c, uint64_t id, uint64_t t_ns, uint64_t bias, uint64_t start,
                  uint64_t end, const char *path, const uint8_t *build_id, size_t build_id_len);
void craft_unload(craft_t *c, uint64_t id, uint64_t t_ns);
void craft_stack(craft_t *c, uint64_t id, size_t n, const uint64_t *frames);
/* SNAPSHOT whose totals are given in order: alloc_count, alloc_bytes,
 * free_count, free_bytes, live_bytes, live_count, peak_live_bytes, dropped. */
void craft_snapshot(craft_t *c, uint64_t t_ns, uint64_t rss, const uint64_t totals[8], size_t n,
                    const craft_counter_t *k);
/* Version-2 SNAPSHOT: est_totals are est_alloc_count, est_alloc_bytes,
 * est_free_count, est_free_bytes, est_live_bytes, est_live_count,
 * est_peak_live_bytes; est[i] the estimated counters of k[i]. */
typedef struct craft_est {
    uint64_t live_bytes, live_count, alloc_count, alloc_bytes;
} craft_est_t;
void craft_snapshot_sampled(craft_t *c, uint64_t t_ns, uint64_t rss, const uint64_t totals[8],
                            const uint64_t est_totals[7], size_t n, const craft_counter_t *k,
                            const craft_est_t *est);
void craft_live_begin(craft_t *c, uint64_t t_ns, uint64_t reason, uint64_t count);
void craft_live_chunk(craft_t *c, size_t n, const craft_live_t *e);
void craft_live_end(craft_t *c, uint64_t count);
void craft_end(craft_t *c, uint64_t t_ns, uint64_t reason, int64_t status);
void craft_warning(craft_t *c, uint64_t t_ns, uint64_t code, const char *msg);
/* REACH entry: stack id, then bytes/count per enum hg_reach_category. */
typedef struct craft_reach {
    uint64_t stack_id;
    uint64_t bytes[4], count[4];
} craft_reach_t;
void craft_reach(craft_t *c, uint64_t t_ns, uint64_t reason, uint64_t status,
                 uint64_t threads_unseen, size_t n, const craft_reach_t *e);

/* gzip of data[0..n) into a new buffer (*out, caller frees). */
void craft_gzip(const uint8_t *data, size_t n, uint8_t **out, size_t *outlen);
/* What the writer leaves after a write failure (FORMAT.md): the gzip of
 * data[0..n) sync-flushed but not finished, then tail[0..tail_n) (raw
 * decompressed bytes, e.g. a WARNING record) in one stored deflate block, no
 * gzip trailer. *out is new (caller frees). */
void craft_gzip_cut(const uint8_t *data, size_t n, const uint8_t *tail, size_t tail_n,
                    uint8_t **out, size_t *outlen);
/* A memory file (memfd) holding data[0..n), positioned at 0. */
int craft_memfd(const uint8_t *data, size_t n);
/* Writes data[0..n) to path; returns 0 or -errno. */
int craft_write_file(const char *path, const uint8_t *data, size_t n);

#endif /* HEAPGROW_TESTS_CRAFT_H */
