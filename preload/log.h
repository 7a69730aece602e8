/*
 * Once-only messages of the preload library. The only output the tracer makes
 * besides the trace: one line "heapgrow: <msg>\n" on stderr with write(2), the
 * first time each code is logged. No stdio, no allocation, async-signal-safe.
 */
#ifndef HEAPGROW_PRELOAD_LOG_H
#define HEAPGROW_PRELOAD_LOG_H

#include <stdbool.h>

/* Codes 1..31 are enum hg_warn (include/heapgrow/format.h); the ones below are
 * messages that have no WARNING record. Codes must be < 64. */
enum hg_log_code {
    HG_LOG_NO_NEXT = 32,       /* dlsym(RTLD_NEXT) found no allocator     */
    HG_LOG_INIT_FAILED = 33,   /* tables could not be created            */
    HG_LOG_CONFIG = 34,        /* a HEAPGROW_* value was invalid         */
    HG_LOG_UNWIND = 35,        /* unwinder fell back / failed            */
    HG_LOG_SAMPLE_FAILED = 36, /* sampling could not start: exact mode   */
};

/* Writes "heapgrow: msg\n" to the log fd (2) if `code` was never logged and the
 * log is not quiet. Returns true when this call was the first for `code`
 * (whether or not it printed). Thread-safe, async-signal-safe. */
bool hg_log_once(int code, const char *msg);

/* HEAPGROW_QUIET: suppresses the output (codes are still marked). */
void hg_log_set_quiet(bool is_quiet);

/* Redirects the output (tests). Default 2. */
void hg_log_set_fd(int fd);

#endif /* HEAPGROW_PRELOAD_LOG_H */
