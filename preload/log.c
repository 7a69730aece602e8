/*
 * Once-only messages (see log.h). A 64-bit mask records which codes were
 * logged; the line is assembled in a stack buffer and written with one
 * write(2) so that concurrent messages never interleave mid-line.
 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

#include "fmt.h"
#include "os.h"

/* Bit n set once code n was logged (relaxed: fetch_or is the only operation). */
static _Atomic uint64_t logged_mask;
static _Atomic bool is_quiet_flag;
static _Atomic int log_fd = 2;

void hg_log_set_quiet(bool is_quiet)
{
    atomic_store_explicit(&is_quiet_flag, is_quiet, memory_order_relaxed);
}

void hg_log_set_fd(int fd)
{
    atomic_store_explicit(&log_fd, fd, memory_order_relaxed);
}

bool hg_log_once(int code, const char *msg)
{
    uint64_t bit = 1ull << ((unsigned)code & 63u);
    uint64_t old = atomic_fetch_or_explicit(&logged_mask, bit, memory_order_relaxed);
    if (old & bit)
        return false;
    if (atomic_load_explicit(&is_quiet_flag, memory_order_relaxed))
        return true;
    char line[512];
    hg_fmt_t f;
    hg_fmt_init(&f, line, sizeof line);
    hg_fmt_str(&f, "heapgrow: ");
    hg_fmt_str(&f, msg);
    hg_fmt_str(&f, "\n");
    /* A truncated line still ends with a newline. */
    if (f.is_truncated)
        line[hg_fmt_len(&f) - 1] = '\n';
    int saved = errno;
    (void)hg_os.write(atomic_load_explicit(&log_fd, memory_order_relaxed), line, hg_fmt_len(&f));
    errno = saved;
    return true;
}
