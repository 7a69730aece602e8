/*
 * heapgrow trace format: the single definition of record tags, field order and
 * version. Shared by the writer (preload/writer.c) and the reader
 * (analyzer/reader.c). docs/FORMAT.md is the prose twin of this file; change both
 * in the same commit and bump HG_FORMAT_VERSION on any incompatible change.
 *
 * Encoding summary (details in docs/FORMAT.md):
 *   file   = gzip( magic[8] varint(version) record* )
 *   record = u8 tag, varint payload_len, payload[payload_len]
 *   fields = unsigned LEB128 varints ("u"), zigzag LEB128 ("s"),
 *            strings/blobs as varint length + bytes ("b").
 * A reader skips records with unknown tags (payload_len makes that possible) and
 * ignores trailing fields it does not know inside a known record.
 */
#ifndef HEAPGROW_INCLUDE_FORMAT_H
#define HEAPGROW_INCLUDE_FORMAT_H

#include <stdint.h>

/* First 8 bytes of the decompressed stream. */
#define HG_MAGIC     "HEAPGRW\x01"
#define HG_MAGIC_LEN 8

/*
 * Versions. Bumped on every incompatible change; a reader accepts
 * HG_FORMAT_VERSION_MIN..HG_FORMAT_VERSION and rejects the others, naming
 * both. The version also says which layout a trace's records have:
 *   1  exact: every allocation traced (HEADER sample_bytes is 0)
 *   2  sampled (HEADER sample_bytes > 0): SNAPSHOT carries estimated totals
 *      and estimated per-stack counters after the raw ones (see
 *      HG_REC_SNAPSHOT and include/heapgrow/estimate.h)
 * The writer writes version 1 for exact traces, so they stay byte for byte
 * what earlier tracers wrote and every earlier analyzer reads them, and
 * version 2 only when sampling, so an earlier analyzer refuses a sampled trace
 * rather than presenting its samples as every allocation.
 */
#define HG_FORMAT_VERSION         2
#define HG_FORMAT_VERSION_MIN     1
#define HG_FORMAT_VERSION_EXACT   1
#define HG_FORMAT_VERSION_SAMPLED 2

/* Upper bounds a reader enforces (a writer never exceeds them). */
#define HG_MAX_RECORD_BYTES  (64u * 1024u * 1024u) /* one record's payload     */
#define HG_MAX_FRAMES        256u                  /* frames in one stack      */
#define HG_MAX_STRING_BYTES  (1u * 1024u * 1024u)  /* one string or blob field */
#define HG_MAX_BUILD_ID      64u                   /* bytes of a build-id      */
#define HG_MAX_LIVE_PER_REC  65536u                /* entries in LIVE_CHUNK    */
#define HG_MAX_REACH_PER_REC 65536u                /* entries in REACH         */
#define HG_MAX_STACKS_PER_SNAP (1u << 22)          /* entries in SNAPSHOT      */

/* LIVE_CHUNK's alloc_time_ms of a block whose time was not kept. */
#define HG_ALLOC_TIME_UNKNOWN 4294967295u

/*
 * Record tags. Payload fields are listed in order; "u" = unsigned varint,
 * "s" = zigzag signed varint, "b" = length-prefixed bytes, "[...]*n" = repeated.
 * All times are nanoseconds of CLOCK_MONOTONIC since the header's start_mono_ns,
 * except start_real_ns (CLOCK_REALTIME, ns since the epoch).
 */
enum hg_record_tag {
    /* u pid, u ppid, u start_real_ns, u start_mono_ns, b exe_path,
     * u argc, b arg * argc,
     * u interval_ms, u max_frames, u sample_bytes (0 = exact, in version 1;
     * the mean bytes between samples, 1..HG_SAMPLE_MAX_BYTES, in version 2), u unwinder
     * (enum hg_unwinder), b wrappers (HEAPGROW_WRAPPERS, may be empty),
     * u dump_signal (0 = off), u flags (HG_HDR_*) */
    HG_REC_HEADER = 1,
    /* u module_id, u time_ns, u load_bias (l_addr), u start, u end (address
     * range covered by its PT_LOAD segments, end exclusive), b path, b build_id */
    HG_REC_MODULE_LOAD = 2,
    /* u module_id, u time_ns */
    HG_REC_MODULE_UNLOAD = 3,
    /* u stack_id, u nframes, then nframes return addresses, innermost first:
     * the first as u, each next as s (delta from the previous one). Frames of
     * the shim itself are already removed. A stack is defined before any
     * record refers to it. Ids are < 2^32; id 0 is the "unknown" stack. */
    HG_REC_STACK = 4,
    /* u time_ns, u rss_bytes, then totals:
     *   u alloc_count, u alloc_bytes, u free_count, u free_bytes,
     *   u live_bytes, u live_count,
     *   u peak_live_bytes (the highest live_bytes of this and every earlier
     *     snapshot of the process: sampled at snapshots, not a running peak),
     *   u dropped_count (allocations forwarded untraced since start),
     * version 2 only: estimated totals
     *   u est_alloc_count, u est_alloc_bytes, u est_free_count,
     *   u est_free_bytes, u est_live_bytes, u est_live_count,
     *   u est_peak_live_bytes,
     * then u n, [u stack_id, u live_bytes, u live_count, u alloc_count,
     *            u alloc_bytes,
     *            version 2 only: u est_live_bytes, u est_live_count,
     *            u est_alloc_count, u est_alloc_bytes] * n
     * for every stack whose counters changed since the previous snapshot
     * (absolute values, not deltas; a stack absent from a snapshot kept its
     * previous values). In version 2 the plain counters are raw: sampled
     * allocations and their bytes; the est_ ones are sums of hg_est_weigh()
     * over those allocations (estimate.h): bytes in bytes, counts in
     * HG_EST_COUNT_ONE units (1/4096 of an allocation). dropped_count counts
     * sampled allocations that could not be recorded. */
    HG_REC_SNAPSHOT = 5,
    /* u time_ns, u reason (enum hg_dump_reason), u count: starts a live-set
     * dump of `count` entries spread over the LIVE_CHUNK records that follow. */
    HG_REC_LIVE_BEGIN = 6,
    /* u n, then n entries [s address delta from the previous entry's address
     * (the first from 0), u size, u stack_id, u alloc_time_ms]. Entries are in
     * no particular order. alloc_time_ms is kept to the second, saturating at
     * 32767000; HG_ALLOC_TIME_UNKNOWN when not kept (blocks of 16 MiB or more). */
    HG_REC_LIVE_CHUNK = 7,
    /* u count (entries written; equals LIVE_BEGIN's count unless the live set
     * changed while it was dumped, in which case this one is the truth) */
    HG_REC_LIVE_END = 8,
    /* u time_ns, u reason (enum hg_end_reason), s status (exit status, or
     * signal number for HG_END_SIGNAL) */
    HG_REC_END = 9,
    /* u time_ns, u code (enum hg_warn), b message: something the tracer could
     * not do. An output that cannot be created gets none (nothing is
     * written); one that fails later ends with HG_WARN_WRITE_FAILED. */
    HG_REC_WARNING = 10,
    /* u time_ns, u reason (enum hg_dump_reason of the live-set dump it
     * classifies), u status (0 = classified; else an errno value: the scan
     * failed and n is 0), u threads_unseen (threads whose stack was not a
     * root), u n, then n entries [u stack_id, then bytes and count of each
     * category in enum hg_reach_category order: u definite_bytes,
     * u definite_count, u indirect_bytes, u indirect_count, u possible_bytes,
     * u possible_count, u reachable_bytes, u reachable_count]. Never in a
     * sampled trace (the scan needs every block). Follows the
     * LIVE_END of that dump; one classification may span several REACH
     * records (n <= HG_MAX_REACH_PER_REC each): their entries add up.
     * docs/LEAKS.md defines the categories (valgrind memcheck's). */
    HG_REC_REACH = 11,
};

/* Leak categories of a REACH record, valgrind's. */
enum hg_reach_category {
    HG_CAT_DEFINITE = 0,  /* nothing points to it                     */
    HG_CAT_INDIRECT = 1,  /* reachable only from lost blocks          */
    HG_CAT_POSSIBLE = 2,  /* reachable only through interior pointers */
    HG_CAT_REACHABLE = 3, /* a start pointer chain from a root        */
};

enum hg_unwinder {
    HG_UNWIND_LIBUNWIND = 0,
    HG_UNWIND_FP = 1,
    HG_UNWIND_DWARF = 2, /* cached .eh_frame rules, libunwind for the rest */
};

enum hg_header_flags {
    HG_HDR_FORKED = 1u << 0, /* this process is a fork child of ppid; its
                               * first snapshot counts the inherited live set */
};

enum hg_dump_reason {
    HG_DUMP_EXIT = 0,    /* final live set at normal exit (leaks)        */
    HG_DUMP_SIGNAL = 1,  /* requested with the dump signal               */
    HG_DUMP_API = 2,     /* hg_request_dump()                            */
    HG_DUMP_FATAL = 3,   /* written from a fatal signal, best effort     */
};

enum hg_end_reason {
    HG_END_EXIT = 0,  /* exit() or return from main; status = exit code  */
    HG_END_UEXIT = 1, /* _exit()/_Exit(); status = exit code             */
    HG_END_SIGNAL = 2, /* fatal signal; status = signal number           */
    HG_END_EXEC = 3,  /* the process called exec*; its new image traces
                       * into a file of its own                          */
};

enum hg_warn {
    HG_WARN_DEEPBIND = 1,   /* dlopen(RTLD_DEEPBIND) flag dropped          */
    HG_WARN_LIVE_FULL = 2,  /* live table could not grow; entries dropped */
    HG_WARN_STACK_FULL = 3, /* stack table full; stacks folded into id 0   */
    HG_WARN_ARENA = 4,      /* internal memory exhausted                   */
    HG_WARN_BOOTSTRAP = 5,  /* bootstrap arena exhausted                   */
    HG_WARN_WRITE_FAILED = 6, /* writing the trace failed; message: the
                               * error ("File too large"). The last record:
                               * the trace stops here, without END and
                               * without its gzip trailer (FORMAT.md)      */
};

#endif /* HEAPGROW_INCLUDE_FORMAT_H */
