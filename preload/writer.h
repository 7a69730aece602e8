/*
 * The writer: the only part of the preload library that does file I/O. It owns
 * the trace file, the zlib stream and a background thread that writes a
 * snapshot every interval (docs/FORMAT.md). The shim calls it only at the
 * points below; none of these is on the allocation hot path.
 */
#ifndef HEAPGROW_PRELOAD_WRITER_H
#define HEAPGROW_PRELOAD_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens the output file named by hg_core.cfg.output (exclusive create, mode
 * 0600, no symlink following), writes the header and the module map, and
 * starts the thread. Called once from hg_core_init with the shim guard held.
 * Returns 0 or -errno; on failure it has printed one line on stderr and the
 * caller turns the tracer passive. */
int hg_writer_start(void);

/* Asks the writer thread for a snapshot + live-set dump as soon as possible.
 * Async-signal-safe (sets a flag and wakes the thread). */
void hg_writer_request_dump(int reason /* enum hg_dump_reason */);

/* The module map may have changed (dlopen/dlclose returned). Cheap; the writer
 * rescans at its next snapshot. */
void hg_writer_modules_changed(void);

/* Final snapshot, live set, END record, close. Runs in the calling thread (exit
 * path or fatal-signal handler), waits for nothing the target holds. After it,
 * the tracer is passive. Idempotent: only the first call writes, so the first
 * caller's status is the one recorded. Beware (glibc): for a preloaded
 * library, destructors run BEFORE an on_exit/atexit handler that its
 * constructor registered, because __libc_start_main registers _dl_fini after
 * the preloaded constructors ran; a destructor that calls this with status 0
 * therefore wins over the on_exit handler that knows the real exit status.
 * Reason HG_END_EXEC (before execve) is accepted too: the image being
 * replaced gets a complete trace and the tracer goes passive. Reason
 * HG_END_SIGNAL means "from a fault's handler": no module rescan, no
 * reachability, live set HG_DUMP_FATAL. A later caller, while the first one's
 * records are still being written by another thread, waits for them
 * (hg_writer_wait_finished()) before it returns. */
void hg_writer_finish(int reason /* enum hg_end_reason */, int status);

/* For a terminating signal that came from outside (SIGINT, SIGTERM...): asks
 * the writer thread to write the final records as at exit (snapshot, live set
 * HG_DUMP_EXIT with its reachability, END HG_END_SIGNAL with signo), so that
 * the handler itself takes no lock and waits for nothing the interrupted code
 * may hold. Async-signal-safe: claims the final records, sets a word, wakes
 * the thread. Returns 1 when the thread will write them (wait with
 * hg_writer_wait_finished()); 0 when there is nothing to do here (no trace,
 * not the trace's owner, or another caller claimed them first: waiting for it
 * is what hg_writer_wait_finished() does); -1 when the trace is open but no
 * writer thread runs (the caller may call hg_writer_finish() itself). */
int hg_writer_request_finish(int signo);

/* Waits until the final records claimed by another thread are written or
 * given up on, at most max_ns and at most what they can take (~43 s;
 * milliseconds normally; UINT64_MAX: that). Returns true when they are (or
 * none were claimed), false on timeout or when the calling thread is the one
 * writing them (nested in it). Async-signal-safe (futex). */
bool hg_writer_wait_finished(uint64_t max_ns);

/* For a handler that cannot wait any longer for the final records it asked
 * for (its thread may hold what they need): once they are written, the
 * writer ends the process with signo (hg_signals_deliver), and the handler
 * returns meanwhile. Returns true when that is arranged, false when they are
 * written already (the handler ends the process itself). Async-signal-safe. */
bool hg_writer_signal_when_finished(int signo);

/* fork support, registered with pthread_atfork by hg_core_init: prepare quiesces
 * the writer thread, parent resumes it, child starts a new trace (own file,
 * fork flag in header, inherited live set) and a new thread. */
void hg_writer_atfork_prepare(void);
void hg_writer_atfork_parent(void);
void hg_writer_atfork_child(void);

/* Records a WARNING (code = enum hg_warn, msg copied, at most 119 bytes) in the
 * trace at the next snapshot. Async-signal-safe, lock-free; at most 8 warnings
 * can be pending at once (more are dropped: the caller logs them anyway). */
void hg_writer_warn(int code, const char *msg);

/* Expands an output pattern: "%p" -> pid, "%e" -> exe_name, "%%" -> "%". When
 * the pattern has no "%p" and is_descendant is true, ".<pid>" is inserted
 * before the extension of the last path component ("out.hgt" ->
 * "out.<pid>.hgt", "trace" -> "trace.<pid>", ".hgt" -> ".hgt.<pid>").
 * Descendants are fork children, and exec'd programs whose environment has
 * HEAPGROW_ROOT_PID (set by `heapgrow run` to the pid of the program it
 * starts) different from their pid. (When the resulting name exists, the
 * writer never overwrites it: it tries the ".<pid>" form unless the name
 * carries the pid already (from "%p" or inserted for a descendant), then
 * ".<pid>.1" ... ".<pid>.99" ("out.<pid>.1.hgt"), so images exec'd in one pid
 * (exec keeps the pid) each get a file.)
 * Returns 0, -ENAMETOOLONG or -EINVAL. */
int hg_writer_format_path(char *dst, size_t cap, const char *pattern, const char *exe_name,
                          long pid, bool is_descendant);

/* Snapshot spacing after `periodic_snapshots` periodic snapshots, for a base
 * interval base_ms (0 = default): doubles every 1,000 snapshots, up to 60 s
 * (docs/FORMAT.md). Pure. */
uint32_t hg_writer_interval_ms(uint32_t base_ms, uint64_t periodic_snapshots);

/* Statistics of the current trace (relaxed reads; for tests): snapshots and
 * live-set dumps written so far, and the trace's file name ("" before start). */
uint64_t hg_writer_snapshot_count(void);
uint64_t hg_writer_dump_count(void);
const char *hg_writer_path(void);

#endif /* HEAPGROW_PRELOAD_WRITER_H */
