/*
 * Streaming pull reader of heapgrow traces (docs/FORMAT.md): inflates the gzip
 * file in fixed-size chunks and hands out one decoded, validated record per
 * call. It never holds the whole file in memory: its buffers are bounded by the
 * largest record actually present in the input, and every length and count is
 * checked against format.h's bounds and against the bytes that remain in the
 * record before anything is allocated for it (the reader is fuzzed).
 *
 * A trace that stops mid-record or mid-gzip (process killed) is not an error:
 * hg_reader_next() returns 0 at the last complete record and
 * hg_reader_ended_early() says so. Everything else wrong is an error with a
 * one-line message that starts with the decompressed byte offset.
 */
#ifndef HEAPGROW_ANALYZER_READER_H
#define HEAPGROW_ANALYZER_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "heapgrow/estimate.h"
#include "heapgrow/format.h"

typedef struct hg_reader hg_reader_t;

/* Error code for anything wrong inside a trace (same value as model.h's). */
#define HG_EFORMAT 1000

/* One counter line of a SNAPSHOT. The est_ fields are those of a sampled
 * (version 2) trace: estimated bytes, and counts in HG_EST_COUNT_ONE units
 * (include/heapgrow/estimate.h); 0 in an exact trace. */
typedef struct hg_rec_counter {
    uint32_t stack_id;
    uint64_t live_bytes;
    uint64_t live_count;
    uint64_t alloc_count;
    uint64_t alloc_bytes;
    uint64_t est_live_bytes, est_live_count, est_alloc_count, est_alloc_bytes;
} hg_rec_counter_t;

/* One entry of a LIVE_CHUNK; the address is absolute (deltas already summed). */
typedef struct hg_rec_live {
    uint64_t address;
    uint64_t size;
    uint32_t stack_id;
    uint64_t alloc_time_ms;
} hg_rec_live_t;

/* One entry of a REACH record: bytes and count per enum hg_reach_category. */
typedef struct hg_rec_reach {
    uint32_t stack_id;
    uint64_t bytes[4];
    uint64_t count[4];
} hg_rec_reach_t;

/*
 * A decoded record. Strings are NUL-terminated (a string with an embedded NUL
 * reads as its prefix; *_len gives the full length); every pointer is owned
 * by the reader and valid until the next hg_reader_next() or hg_reader_close().
 */
typedef struct hg_record {
    enum hg_record_tag tag;
    uint64_t offset; /* decompressed offset of the record's tag byte */
    union {
        struct {
            uint64_t pid, ppid, start_real_ns, start_mono_ns;
            const char *exe;
            size_t argc;
            const char *const *argv;
            uint64_t interval_ms, max_frames, sample_bytes, unwinder;
            const char *wrappers;
            uint64_t dump_signal, flags;
        } header;
        struct {
            uint32_t module_id;
            uint64_t time_ns, load_bias, start, end;
            const char *path;
            const uint8_t *build_id;
            size_t build_id_len;
        } module_load;
        struct {
            uint32_t module_id;
            uint64_t time_ns;
        } module_unload;
        struct {
            uint32_t stack_id;
            size_t nframes;
            const uint64_t *frames; /* absolute, innermost first */
        } stack;
        struct {
            uint64_t time_ns, rss_bytes;
            uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
            uint64_t live_bytes, live_count, peak_live_bytes, dropped_count;
            /* has_estimates: a sampled trace; est holds its estimated totals
             * (counts in HG_EST_COUNT_ONE units), else all 0. */
            bool has_estimates;
            struct {
                uint64_t alloc_count, alloc_bytes, free_count, free_bytes;
                uint64_t live_bytes, live_count, peak_live_bytes;
            } est;
            size_t n;
            const hg_rec_counter_t *counters;
        } snapshot;
        struct {
            uint64_t time_ns, reason, count;
        } live_begin;
        struct {
            size_t n;
            const hg_rec_live_t *entries;
        } live_chunk;
        struct {
            uint64_t count;
        } live_end;
        struct {
            uint64_t time_ns, reason;
            int64_t status;
        } end;
        struct {
            uint64_t time_ns, code;
            const char *message;
            size_t message_len;
        } warning;
        struct {
            uint64_t time_ns, reason, status, threads_unseen;
            size_t n;
            const hg_rec_reach_t *entries;
        } reach;
    } u;
} hg_record_t;

/* Opens `path` for reading. Returns 0 or -errno (the file could not be opened;
 * nothing is read yet). */
int hg_reader_open(const char *path, hg_reader_t **out);

/* Reads from a caller-owned open descriptor instead (fd is not closed).
 * Returns 0 or -errno. */
int hg_reader_open_fd(int fd, hg_reader_t **out);

void hg_reader_close(hg_reader_t *r);

/*
 * Decodes the next record into *rec. Returns 1 when a record was decoded, 0 at
 * the end of the trace (clean or early: see hg_reader_ended_early), or a
 * negative error: -HG_EFORMAT for a corrupt or foreign file, -errno for a read
 * error, -ENOMEM. After an error, hg_reader_error() holds the message and
 * every further call returns the same error. Unknown record tags are skipped.
 */
int hg_reader_next(hg_reader_t *r, hg_record_t *rec);

/* The last error, one line, e.g. "offset 1234: stack 17 referenced before it
 * was defined"; "" when there was none. */
const char *hg_reader_error(const hg_reader_t *r);

/* True once the end was reached without an END record (the gzip stream or a
 * record was cut short, or the writer was killed between records). */
bool hg_reader_ended_early(const hg_reader_t *r);

/* True when the gzip stream itself stopped before its trailer. */
bool hg_reader_is_gzip_truncated(const hg_reader_t *r);

/* True when bytes followed the END record (they are ignored). */
bool hg_reader_has_trailing_bytes(const hg_reader_t *r);

/* Records of unknown types skipped so far (a newer tracer's additions). */
uint64_t hg_reader_skipped_count(const hg_reader_t *r);

/* Decompressed bytes consumed so far (the offset of the next record). */
uint64_t hg_reader_offset(const hg_reader_t *r);

/* The version number found in the stream (0 before it was read). */
uint64_t hg_reader_version(const hg_reader_t *r);

/* Whether the trace at `path` ends with the tracer's write-failure marker
 * (FORMAT.md, "What the writer guarantees": a WARNING HG_WARN_WRITE_FAILED in
 * a stored deflate block, the file's last bytes), found from the file's tail
 * alone, without inflating the stream: cheap for any trace size. Returns 1 and
 * fills *time_ns and msg (NUL-terminated, cut to msglen - 1) when it does, 0
 * when it does not (or the tail is not such a marker), or -errno when the file
 * cannot be read. The full reader sees the same record in the stream. */
int hg_reader_tail_failure(const char *path, uint64_t *time_ns, char *msg, size_t msglen);

/* Printable name of a record tag ("SNAPSHOT"), "?" for unknown ones. */
const char *hg_reader_tag_name(unsigned tag);

/* Prints one record as one line of text ("SNAPSHOT t=... stacks=2 [id:live_bytes/
 * live_count/alloc_count/alloc_bytes ...]", "STACK id=5 frames=0x..,0x..",
 * "LIVE id=.. size=..", "END t=.. reason=exit status=0"); a LIVE_CHUNK prints
 * one LIVE line per entry after its own. A debugging aid whose lines tests
 * compare. */
void hg_reader_print_record(FILE *f, const hg_record_t *rec);

/* Prints every record of the trace at `path` to `out`, then "ENDED_EARLY
 * offset=N [gzip_truncated]" or "TRAILING_BYTES" when so. Returns 0, or the
 * negative error of hg_reader_open/hg_reader_next with its message in err
 * (the records before the error are printed). Backs tests/hgdump and a
 * hidden `heapgrow dump`. */
int hg_reader_dump(const char *path, FILE *out, char *err, size_t errlen);

#endif /* HEAPGROW_ANALYZER_READER_H */
