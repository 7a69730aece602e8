/*
 * The trace writer (writer.h): owns the output file, the zlib deflate stream and
 * the background thread that appends a snapshot every interval. It is the only
 * part of libheapgrow.so that does file I/O, and it must never allocate through
 * the traced malloc: every buffer here, zlib's state included, comes from mmap
 * (hg_os_map). The bytes it writes are specified by docs/FORMAT.md and
 * include/heapgrow/format.h.
 *
 * Concurrency. One mutex, io_lock, serialises everything that touches the zlib
 * stream, the file and the bookkeeping below (module map, defined stacks, last
 * written counters): the writer thread holds it for one tick, hg_writer_finish
 * takes it (with a bounded wait) for the final records, and the fork prepare
 * handler takes it so that no zlib state is mid-write when the child is made.
 * Everything the shim or a signal handler touches (dump requests, finish
 * requests, the wake word, warnings) is a lock-free atomic.
 *
 * The final records are written once (is_finished: the first caller claims
 * them), by the claiming thread, or by the writer thread itself when a
 * terminating signal asked for them (hg_writer_request_finish: the signal
 * handler only sets a word and waits). finish_done tells every other caller
 * when they are written, so that an exit racing with a signal (or two
 * signals) waits for them instead of cutting them short.
 *
 * Output naming (hg_writer_format_path). HEAPGROW_OUTPUT is a pattern: "%p" is
 * the pid, "%e" the executable's base name, "%%" a percent sign. When the
 * pattern has no "%p" and this process is a descendant, ".<pid>" is inserted
 * before the extension of the file name ("out.hgt" -> "out.1234.hgt", "trace"
 * -> "trace.1234"), so two processes never share a file. A process is a
 * descendant when it is a fork child, or when HEAPGROW_ROOT_PID is set (the
 * launcher sets it to the pid of the program it starts) and differs from
 * getpid(). A name that exists already is never overwritten: the writer then
 * inserts ".<pid>" as above unless the name carries the pid already, then
 * ".<pid>.1", ".<pid>.2"... up to ".<pid>.99" ("out.1234.2.hgt"; a
 * descendant's "out.1234.hgt" goes on with "out.1234.1.hgt"), and gives up
 * after that. This covers exec'd images (exec keeps the pid, so an image
 * exec'd by the root process or by a descendant finds its predecessor's
 * file) and descendants under plain LD_PRELOAD (no HEAPGROW_ROOT_PID): each
 * still gets a file of its own.
 *
 * Crash tolerance. Compressed bytes are collected in memory and written at
 * each Z_SYNC_FLUSH (one per tick, after its SNAPSHOT or live set), so the
 * file holds whole flushed ticks: a SIGKILL leaves a prefix that inflates to
 * complete records ending with a SNAPSHOT (or a live set). Only a live-set
 * dump larger than OUT_WRITE_THRESHOLD is written in pieces before its flush.
 */
#include "writer.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include <heapgrow/format.h>

#include "core.h"
#include "counts.h"
#include "encode.h"
#include "guard.h"
#include "os.h"
#include "reach.h"
#include "signals.h"
#include "sample.h"

/* ------------------------------------------------------------------------ */
/* Constants                                                                 */

#define MAX_INTERVAL_MS        60000u     /* FORMAT.md: widening stops at 60 s  */
#define SNAPSHOTS_PER_DOUBLING 1000u      /* FORMAT.md: 1,000 per spacing       */
#define LIVE_ENTRIES_PER_CHUNK 4096u      /* well under HG_MAX_LIVE_PER_REC     */
#define LIVE_ENTRY_MAX_BYTES   40u        /* s + u + u + u, each <= 10 bytes     */
#define OUT_WRITE_THRESHOLD    (1u << 20) /* write pending output past 1 MiB */
#define ZLIB_OUT_STEP          (64u * 1024u)
#define FINISH_WAIT_NS         (3ull * 1000000000ull)
#define FATAL_WAIT_NS          (300ull * 1000000ull)
#define FORK_WAIT_NS           (5ull * 1000000000ull)
#define REACH_WAIT_NS          (30ull * 1000000000ull) /* bound on the scan child */
/* ... for a dump request: the tick holds io_lock meanwhile, and an exit waits
 * only FINISH_WAIT_NS for it. */
#define REACH_DUMP_WAIT_NS     (2ull * 1000000000ull)
#define STACK_RETRIES          8u /* ticks an id without frames is retried */
#define MAX_WARNINGS           8u
#define MAX_NAME_TRIES         100u /* pid-suffixed names tried on EEXIST  */
/* SNAPSHOT entries per record: each takes at most 5 varints (45 bytes, bound
 * 50; 9 varints in a sampled trace, bound 100), so this keeps the payload
 * under HG_MAX_RECORD_BYTES; never above HG_MAX_STACKS_PER_SNAP. Stacks past
 * it wait for the next snapshot. */
#define SNAPSHOT_ENTRY_BOUND         50u
#define SNAPSHOT_ENTRY_BOUND_SAMPLED 100u
#define MAX_SNAPSHOT_ENTRIES(bound)                                                                \
    ((HG_MAX_RECORD_BYTES - 1024u) / (bound) < HG_MAX_STACKS_PER_SNAP                              \
         ? (HG_MAX_RECORD_BYTES - 1024u) / (bound)                                                 \
         : HG_MAX_STACKS_PER_SNAP)

/* defined[] byte per stack id. */
#define STACK_UNKNOWN 0u    /* 1..STACK_RETRIES-1: ticks seen without frames */
#define STACK_DEAD    0xfeu /* given up (a lost race); revived if published */
#define STACK_DEFINED 0xffu /* STACK record written in this trace            */

/* ------------------------------------------------------------------------ */
/* mmap-backed growable buffers                                              */

typedef struct buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} buf_t;

static size_t page_round(size_t n)
{
    size_t page = 4096;
    return (n + page - 1) & ~(page - 1);
}

/* Makes room for `need` bytes in total. Returns 0 or -ENOMEM. Keeps content. */
static int buf_reserve(buf_t *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 64 * 1024;
    while (cap < need)
        cap *= 2;
    cap = page_round(cap);
    uint8_t *p = hg_os_map(cap);
    if (p == NULL)
        return -ENOMEM;
    if (b->len > 0)
        memcpy(p, b->p, b->len);
    hg_os_unmap(b->p, b->cap);
    b->p = p;
    b->cap = cap;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* State                                                                     */

typedef struct module {
    uint64_t id;
    uintptr_t bias;
    uintptr_t start;
    uintptr_t end;
    uint64_t name_hash;
    size_t path_off; /* into the pool of the array that holds it */
    size_t path_len;
    uint8_t build_id[HG_MAX_BUILD_ID];
    uint32_t build_id_len;
    bool is_seen;
} module_t;

/* What the previous snapshot wrote for one stack. */
typedef struct last_counters {
    int64_t live_bytes;
    int64_t live_count;
    uint64_t alloc_count;
    uint64_t alloc_bytes;
    /* Sampling mode: the stack's estimated counters (sample.h); 0 otherwise. */
    int64_t est_live_bytes;
    int64_t est_live_count;
    uint64_t est_alloc_count;
    uint64_t est_alloc_bytes;
} last_counters_t;

typedef struct changed {
    uint32_t id;
    last_counters_t c;
} changed_t;

typedef struct warning_slot {
    /* 0 free, 1 being filled by hg_writer_warn, 2 ready for the writer.
     * release by the filler, acquire by the writer (and the reverse for 0). */
    _Atomic int state;
    uint32_t code;
    char msg[120];
} warning_slot_t;

static struct {
    /* Protected by io_lock (or owned by the only thread before the writer
     * thread exists / after a fork): */
    int fd;
    dev_t fd_dev; /* identity of the trace file behind fd (see write_out) */
    ino_t fd_ino;
    z_stream zs;
    bool is_zs_ready;
    bool is_broken; /* an I/O error happened: write nothing more       */
    uint64_t file_len;   /* bytes written to fd                          */
    uint64_t synced_len; /* file_len at the last flush point (whole ticks) */
    char path[HG_PATH_MAX];
    buf_t out;      /* compressed bytes not yet written               */
    buf_t rec;      /* payload of the record being encoded            */
    buf_t chunk;    /* LIVE_CHUNK entries being encoded               */
    buf_t mods;     /* module_t[] of loaded modules (with ids)        */
    buf_t mod_pool; /* their paths                                    */
    buf_t scan;     /* module_t[] filled by dl_iterate_phdr           */
    buf_t scan_pool;
    buf_t tmp;     /* cmdline, changed_t[]                           */
    buf_t last;    /* last_counters_t per stack id                   */
    buf_t defined; /* uint8_t per stack id                            */
    uint64_t next_module_id;
    unsigned long long dl_adds;
    unsigned long long dl_subs;
    uint32_t stack_scan_from;
    uint64_t peak_live_bytes;
    uint64_t peak_est_live_bytes; /* sampling mode: of the estimated live bytes */
    uint64_t periodic_at_spacing; /* periodic snapshots since the last doubling */
    uint32_t spacing_ms;
    char exe[HG_PATH_MAX];
    bool is_fork_child;
    int dump_signal; /* installed handler's signal, 0 = none */
    int owner_pid;   /* the process this trace belongs to */

    pthread_mutex_t io_lock;
    pthread_t thread;
    /* Written before the thread starts / after it is known stopped. */
    bool is_thread_running;

    /* Lock-free, touched by the shim and signal handlers: */
    _Atomic bool is_active;     /* started, not finished, not broken      */
    _Atomic bool is_finished;   /* hg_writer_finish ran (first call wins) */
    _Atomic bool is_stopping;   /* the thread must exit                   */
    _Atomic bool is_in_tick;    /* the thread is inside a tick            */
    _Atomic uint32_t wake_word; /* futex: bumped to wake the thread       */
    _Atomic uint32_t dump_mask; /* bit per enum hg_dump_reason requested  */
    _Atomic bool is_modules_dirty;
    _Atomic int finish_signo;        /* hg_writer_request_finish: the thread ends the trace */
    _Atomic int finisher_tid;        /* the thread writing the final records          */
    _Atomic uint32_t finish_done;    /* futex: 1 once they are written or given up on */
    _Atomic int deliver_signo;       /* then end the process with it (handler returned) */
    _Atomic uint64_t snapshot_count; /* for tests and stats */
    _Atomic uint64_t dump_count;
    warning_slot_t warnings[MAX_WARNINGS];
} w = {.fd = -1, .io_lock = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

/* The shim's per-thread guard: while set, allocations of this thread are
 * forwarded untraced. The writer sets it around its own work and for its
 * thread's whole life. */
static bool guard_set(void)
{
    return hg_guard_enter();
}

static void guard_restore(bool was_set)
{
    hg_guard_leave(was_set);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t fmt_u64(char *dst, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

/* strerror() may translate (and allocate); these are the errors an output
 * path realistically meets. */
static const struct {
    int err;
    const char *text;
} errno_texts[] = {
    {ENOENT, "No such file or directory"},
    {EACCES, "Permission denied"},
    {EPERM, "Operation not permitted"},
    {EEXIST, "File exists"},
    {ENOSPC, "No space left on device"},
    {EDQUOT, "Disk quota exceeded"},
    {EROFS, "Read-only file system"},
    {ENOTDIR, "Not a directory"},
    {EISDIR, "Is a directory"},
    {ELOOP, "Too many levels of symbolic links"},
    {ENAMETOOLONG, "File name too long"},
    {EMFILE, "Too many open files"},
    {ENFILE, "Too many open files in system"},
    {EIO, "Input/output error"},
    {EFBIG, "File too large"},
    {ENOMEM, "Cannot allocate memory"},
    {EINVAL, "Invalid argument"},
    {EBADF, "Bad file descriptor"},
};

static const char *errno_text(int err)
{
    for (size_t i = 0; i < sizeof errno_texts / sizeof errno_texts[0]; i++)
        if (errno_texts[i].err == err)
            return errno_texts[i].text;
    return NULL;
}

/* One line on stderr, without stdio: "heapgrow: cannot write trace P: E". */
static void report_io_error(const char *path, int err)
{
    if (hg_core.cfg.is_quiet)
        return;
    char line[HG_PATH_MAX + 128];
    size_t n = 0;
    const char *parts[] = {"heapgrow: cannot write trace ", path, ": "};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t len = strnlen(parts[i], HG_PATH_MAX);
        memcpy(line + n, parts[i], len);
        n += len;
    }
    const char *text = errno_text(err);
    if (text != NULL) {
        size_t len = strlen(text);
        memcpy(line + n, text, len);
        n += len;
    } else {
        memcpy(line + n, "error ", 6);
        n += 6;
        n += fmt_u64(line + n, (uint64_t)(err < 0 ? -err : err));
    }
    line[n++] = '\n';
    ssize_t rc = hg_os.write(2, line, n);
    (void)rc;
}

static void futex_wake(_Atomic uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void futex_wait(_Atomic uint32_t *word, uint32_t seen, uint64_t timeout_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000ull),
                          .tv_nsec = (long)(timeout_ns % 1000000000ull)};
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}

static void wake_thread(void)
{
    /* release: pairs with the acquire load of wake_word in writer_main(). */
    atomic_fetch_add_explicit(&w.wake_word, 1, memory_order_release);
    futex_wake(&w.wake_word);
}

/* ------------------------------------------------------------------------ */
/* Output path                                                               */

/* Inserts ".<pid>" (".<pid>.<seq>" when seq > 0; ".<seq>" when pid < 0)
 * before the extension of the last path component of the NUL-terminated dst
 * (a leading dot does not start an extension), or appends it. Returns 0 or
 * -ENAMETOOLONG. */
static int insert_pid(char *dst, size_t cap, long pid, unsigned seq)
{
    char num[48];
    size_t num_len = pid >= 0 ? fmt_u64(num, (uint64_t)pid) : 0;
    if (seq > 0) {
        if (num_len > 0)
            num[num_len++] = '.';
        num_len += fmt_u64(num + num_len, seq);
    }
    size_t n = strnlen(dst, cap);
    size_t base = 0;
    for (size_t i = 0; i < n; i++)
        if (dst[i] == '/')
            base = i + 1;
    size_t at = n;
    for (size_t i = n; i > base + 1; i--)
        if (dst[i - 1] == '.') {
            at = i - 1;
            break;
        }
    if (n >= cap || num_len + 1 >= cap - n)
        return -ENAMETOOLONG;
    memmove(dst + at + 1 + num_len, dst + at, n - at + 1);
    dst[at] = '.';
    memcpy(dst + at + 1, num, num_len);
    return 0;
}

/* hg_writer_format_path, also saying whether the name carries the pid (from
 * "%p" or inserted for a descendant). */
static int format_path(char *dst, size_t cap, const char *pattern, const char *exe_name, long pid,
                       bool is_descendant, bool *has_pid_out)
{
    size_t n = 0;
    bool has_pid = false;
    char num[24];
    size_t num_len = fmt_u64(num, (uint64_t)pid);

#define PUT(src, len)                                                                              \
    do {                                                                                           \
        if ((len) >= cap - n)                                                                      \
            return -ENAMETOOLONG;                                                                  \
        memcpy(dst + n, (src), (len));                                                             \
        n += (len);                                                                                \
    } while (0)

    if (cap == 0)
        return -ENAMETOOLONG;
    for (const char *p = pattern; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'p') {
            PUT(num, num_len);
            has_pid = true;
            p++;
        } else if (p[0] == '%' && p[1] == 'e') {
            PUT(exe_name, strlen(exe_name));
            p++;
        } else if (p[0] == '%' && p[1] == '%') {
            PUT("%", 1);
            p++;
        } else {
            PUT(p, 1);
        }
    }
    dst[n] = '\0';
#undef PUT
    if (n == 0)
        return -EINVAL;
    *has_pid_out = has_pid || is_descendant;
    if (has_pid || !is_descendant)
        return 0;
    return insert_pid(dst, cap, pid, 0);
}

int hg_writer_format_path(char *dst, size_t cap, const char *pattern, const char *exe_name,
                          long pid, bool is_descendant)
{
    bool has_pid;
    return format_path(dst, cap, pattern, exe_name, pid, is_descendant, &has_pid);
}

/* ------------------------------------------------------------------------ */
/* zlib with mmap memory                                                     */

/* Each zlib allocation is its own mapping with its size in front (deflate
 * makes five of them per stream, so the page rounding costs nothing). */
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    size_t n = (size_t)items * size + 16;
    uint8_t *p = hg_os_map(n);
    if (p == NULL)
        return Z_NULL;
    memcpy(p, &n, sizeof n);
    return p + 16;
}

static void z_free(voidpf opaque, voidpf address)
{
    (void)opaque;
    if (address == Z_NULL)
        return;
    uint8_t *p = (uint8_t *)address - 16;
    size_t n;
    memcpy(&n, p, sizeof n);
    hg_os_unmap(p, n);
}

static int write_fully(const uint8_t *p, size_t len);

/* Why the trace stops, in the trace itself, so that a reader can tell "the
 * tracer could not write" from "the process was killed" (FORMAT.md, "What the
 * writer guarantees"). The file is cut back to the last flush point, which
 * holds whole ticks and ends on a deflate block boundary, and one WARNING
 * record (HG_WARN_WRITE_FAILED, the error's text) is appended as a stored
 * deflate block: a stored block needs none of the compressor's state, so it
 * inflates after the last whole tick. The gzip trailer stays missing: the
 * trace is incomplete and reads so. Best effort, about 40 bytes: they go into
 * the space the failed tick had taken (with a full disk, into the file's last
 * block, which is allocated already); where even that fails the trace reads
 * as if the process had been killed. */
static void mark_failure(int err)
{
    if (w.fd < 0 || w.synced_len == 0 || w.synced_len > (uint64_t)INT64_MAX)
        return; /* not ours, or not even the header is whole */
    if (ftruncate(w.fd, (off_t)w.synced_len) != 0 ||
        lseek(w.fd, (off_t)w.synced_len, SEEK_SET) != (off_t)w.synced_len)
        return;
    w.file_len = w.synced_len;
    char msg[40];
    const char *text = errno_text(err);
    size_t n = 0;
    if (text == NULL) {
        memcpy(msg, "error ", 6);
        n = 6 + fmt_u64(msg + 6, (uint64_t)(err < 0 ? -err : err));
        msg[n] = '\0';
        text = msg;
    }
    uint8_t payload[96], block[128];
    hg_enc_t e;
    hg_enc_init(&e, payload, sizeof payload);
    hg_enc_u(&e, hg_core_now_ns());
    hg_enc_u(&e, HG_WARN_WRITE_FAILED);
    hg_enc_str(&e, text);
    if (e.is_overflow)
        return;
    size_t plen = e.len;
    hg_enc_init(&e, block + 5, sizeof block - 5);
    hg_enc_record(&e, HG_REC_WARNING, payload, plen);
    if (e.is_overflow)
        return;
    /* RFC 1951 3.2.4: after a sync flush the stream is byte-aligned, so the
     * block header (BFINAL 0, BTYPE 00) and its padding are one zero byte,
     * then LEN and its complement NLEN, little-endian. */
    uint16_t len = (uint16_t)e.len;
    block[0] = 0;
    block[1] = (uint8_t)(len & 0xff);
    block[2] = (uint8_t)(len >> 8);
    block[3] = (uint8_t)(~len & 0xff);
    block[4] = (uint8_t)((uint16_t)~len >> 8);
    (void)write_fully(block, 5 + e.len);
}

/* An I/O error: say so once, mark the trace, write nothing more, turn the
 * tracer passive. */
static void fail_io(int err)
{
    if (w.is_broken)
        return;
    w.is_broken = true;
    report_io_error(w.path, err);
    mark_failure(err);
    if (w.fd >= 0)
        hg_os.close(w.fd);
    w.fd = -1;
    atomic_store_explicit(&w.is_active, false, memory_order_relaxed);
    /* release: pairs with the shim's acquire load of hg_core.state. */
    atomic_store_explicit(&hg_core.state, HG_STATE_PASSIVE, memory_order_release);
}

/* reopen_trace(): the lowest descriptor number it takes. */
#define REOPEN_MIN_FD 100

/* Whether fd still refers to the file we created. A daemon may close every
 * descriptor (or dup2 over ours) and then open files of its own: the number
 * would then name one of the program's files, which we must never write. */
static bool is_fd_ours(void)
{
    struct stat st;
    return w.fd >= 0 && fstat(w.fd, &st) == 0 && st.st_dev == w.fd_dev && st.st_ino == w.fd_ino;
}

/* Writes len bytes to the trace. Returns 0 or an errno value (EIO for a write
 * that wrote nothing).
 *
 * RLIMIT_FSIZE (`ulimit -f`): a write past the limit fails with EFBIG *and*
 * raises SIGXFSZ in the writing thread, whose default action kills the process
 * (setrlimit(2)). The writer thread runs with it blocked, but the final records
 * are written by hg_writer_finish on the program's own thread at exit, where a
 * large live set used to meet the limit and turn the program's exit into a
 * death by SIGXFSZ (its buffered stdout lost). So SIGXFSZ is blocked around
 * every trace write, and the one our write raised is taken back (unless one
 * was pending already: that one is the program's). */
static int write_fully(const uint8_t *p, size_t len)
{
    int saved_errno = errno; /* hg_writer_finish runs inside the program */
    sigset_t xfsz, old, pending;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &xfsz, &old);
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ) == 1;
    int err = 0;
    size_t off = 0;
    while (off < len) {
        ssize_t n = hg_os.write(w.fd, p + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            break;
        }
        if (n == 0) {
            err = EIO;
            break;
        }
        off += (size_t)n;
    }
    w.file_len += off;
    if (err == EFBIG && !was_pending) {
        const struct timespec zero = {0, 0};
        (void)sigtimedwait(&xfsz, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved_errno;
    return err;
}

/*
 * Our descriptor is gone (a daemon closed every descriptor, or dup2'd over
 * ours): opens the trace again by its path, so that a service which
 * daemonises keeps its trace. Only the very file we created and wrote (same
 * device and inode, exactly the bytes we wrote: nobody else touched it) is
 * taken back, never created or truncated; the new descriptor goes to
 * REOPEN_MIN_FD or above, away from the low numbers a daemon expects its next
 * open() to return. Returns whether w.fd is ours again.
 */
static bool reopen_trace(void)
{
    int fd = hg_os.open(w.path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev != w.fd_dev || st.st_ino != w.fd_ino ||
        (uint64_t)st.st_size != w.file_len ||
        lseek(fd, (off_t)w.file_len, SEEK_SET) != (off_t)w.file_len) {
        hg_os.close(fd);
        return false;
    }
    int high = fcntl(fd, F_DUPFD_CLOEXEC, REOPEN_MIN_FD);
    if (high >= 0) {
        hg_os.close(fd);
        fd = high;
    }
    w.fd = fd;
    return true;
}

static void write_out(void)
{
    if (!w.is_broken && w.out.len > 0 && !is_fd_ours()) {
        w.fd = -1; /* not ours any more: do not close it either */
        if (!reopen_trace())
            fail_io(EBADF);
    }
    if (!w.is_broken && w.out.len > 0) {
        int err = write_fully(w.out.p, w.out.len);
        if (err != 0)
            fail_io(err);
    }
    w.out.len = 0;
}

/* Feeds n bytes to deflate with `flush`; compressed output accumulates in
 * w.out and is written at every flush point (and past OUT_WRITE_THRESHOLD),
 * so between snapshots the file holds whole, flushed ticks only. */
static void z_feed(const void *p, size_t n, int flush)
{
    if (w.is_broken || !w.is_zs_ready)
        return;
    w.zs.next_in = (Bytef *)(uintptr_t)p;
    w.zs.avail_in = (uInt)n;
    for (;;) {
        if (buf_reserve(&w.out, w.out.len + ZLIB_OUT_STEP) != 0) {
            fail_io(ENOMEM);
            return;
        }
        w.zs.next_out = w.out.p + w.out.len;
        w.zs.avail_out = (uInt)(w.out.cap - w.out.len);
        uInt before = w.zs.avail_out;
        int rc = deflate(&w.zs, flush);
        w.out.len += before - w.zs.avail_out;
        if (rc == Z_STREAM_ERROR) {
            fail_io(EIO);
            return;
        }
        if (flush == Z_FINISH) {
            if (rc == Z_STREAM_END)
                break;
            continue;
        }
        /* Done when all input is consumed and deflate left output room
         * (zlib manual: call again while avail_out == 0 after a flush). */
        if (w.zs.avail_in == 0 && w.zs.avail_out != 0)
            break;
    }
    if (flush != Z_NO_FLUSH || w.out.len >= OUT_WRITE_THRESHOLD)
        write_out();
    if (flush != Z_NO_FLUSH && !w.is_broken)
        w.synced_len = w.file_len;
}

/* Emits one record: tag, payload_len, then the concatenation of two parts. */
static void emit2(uint8_t tag, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    uint8_t head[16];
    hg_enc_t e;
    hg_enc_init(&e, head, sizeof head);
    hg_enc_byte(&e, tag);
    hg_enc_u(&e, a_len + b_len);
    z_feed(head, e.len, Z_NO_FLUSH);
    z_feed(a, a_len, Z_NO_FLUSH);
    if (b_len > 0)
        z_feed(b, b_len, Z_NO_FLUSH);
}

/* Starts encoding a payload of at most `max_len` bytes into w.rec. */
static bool rec_begin(hg_enc_t *e, size_t max_len)
{
    if (buf_reserve(&w.rec, max_len) != 0) {
        fail_io(ENOMEM);
        return false;
    }
    hg_enc_init(e, w.rec.p, w.rec.cap);
    return true;
}

static void rec_emit(uint8_t tag, const hg_enc_t *e)
{
    if (e->is_overflow) /* a bound below is wrong: never write half a record */
        return;
    emit2(tag, e->buf, e->len, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Header                                                                    */

static ssize_t read_file(const char *path, buf_t *b)
{
    int fd = hg_os.open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    b->len = 0;
    for (;;) {
        if (buf_reserve(b, b->len + 4096) != 0)
            break;
        ssize_t n = hg_os.read(fd, b->p + b->len, b->cap - b->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        b->len += (size_t)n;
    }
    hg_os.close(fd);
    return (ssize_t)b->len;
}

static void emit_header(void)
{
    read_file("/proc/self/cmdline", &w.tmp);
    uint64_t argc = 0;
    for (size_t i = 0; i < w.tmp.len; i++)
        if (w.tmp.p[i] == '\0')
            argc++;
    if (w.tmp.len > 0 && w.tmp.p[w.tmp.len - 1] != '\0')
        argc++; /* unterminated last argument (a truncated read) */

    const hg_config_t *cfg = &hg_core.cfg;
    hg_enc_t e;
    size_t max = 256 + strlen(w.exe) + w.tmp.len + argc * 10 + sizeof cfg->wrappers;
    if (!rec_begin(&e, max))
        return;
    hg_enc_u(&e, (uint64_t)getpid());
    hg_enc_u(&e, (uint64_t)getppid());
    hg_enc_u(&e, hg_core.start_real_ns);
    hg_enc_u(&e, hg_core.start_mono_ns);
    hg_enc_str(&e, w.exe);
    hg_enc_u(&e, argc);
    size_t from = 0;
    for (size_t i = 0; i <= w.tmp.len && argc > 0; i++) {
        if (i == w.tmp.len || w.tmp.p[i] == '\0') {
            if (i == w.tmp.len && from == i)
                break;
            hg_enc_b(&e, w.tmp.p + from, i - from);
            from = i + 1;
        }
    }
    hg_enc_u(&e, cfg->interval_ms ? cfg->interval_ms : HG_DEFAULT_INTERVAL_MS);
    hg_enc_u(&e, cfg->max_frames);
    hg_enc_u(&e, cfg->sample_bytes);
    hg_enc_u(&e, cfg->unwinder);
    hg_enc_b(&e, cfg->wrappers, strnlen(cfg->wrappers, sizeof cfg->wrappers));
    hg_enc_u(&e, (uint64_t)(cfg->dump_signal > 0 ? cfg->dump_signal : 0));
    hg_enc_u(&e, w.is_fork_child ? HG_HDR_FORKED : 0);
    rec_emit(HG_REC_HEADER, &e);
}

/* ------------------------------------------------------------------------ */
/* Module map                                                                */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Copies the GNU build-id note of a loaded object, read from its PT_NOTE
 * segments in memory (the note is part of a PT_LOAD segment). */
static uint32_t find_build_id(const struct dl_phdr_info *info, uint8_t *out)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
        size_t left = ph->p_memsz;
        size_t align = ph->p_align > 4 ? 8 : 4;
        while (left >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) nh;
            memcpy(&nh, p, sizeof nh);
            size_t name_sz = (nh.n_namesz + align - 1) & ~(align - 1);
            size_t desc_sz = (nh.n_descsz + align - 1) & ~(align - 1);
            size_t total = sizeof nh + name_sz + desc_sz;
            if (total > left)
                break;
            if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
                memcmp(p + sizeof nh, "GNU", 4) == 0 && nh.n_descsz <= HG_MAX_BUILD_ID) {
                memcpy(out, p + sizeof nh + name_sz, nh.n_descsz);
                return nh.n_descsz;
            }
            p += total;
            left -= total;
        }
    }
    return 0;
}

typedef struct scan_ctx {
    bool is_first;
    bool is_failed;
    size_t count;
} scan_ctx_t;

/* dl_iterate_phdr callback: runs with the loader lock held, so it copies
 * everything it needs (names can be freed by a dlclose right after). It calls
 * no allocator: only memcpy and, when a buffer grows, mmap. */
static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    scan_ctx_t *ctx = arg;
    bool is_first = ctx->is_first;
    ctx->is_first = false;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        w.dl_adds = info->dlpi_adds;
        w.dl_subs = info->dlpi_subs;
    }
    uintptr_t start = UINTPTR_MAX, end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (s < start)
            start = s;
        if (s + ph->p_memsz > end)
            end = s + ph->p_memsz;
    }
    if (start >= end)
        return 0;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (is_first || name[0] == '\0')
        name = is_first ? w.exe : "[unnamed]";
    size_t name_len = strnlen(name, HG_MAX_STRING_BYTES - 1);
    size_t idx = w.scan.len / sizeof(module_t);
    if (buf_reserve(&w.scan, w.scan.len + sizeof(module_t)) != 0 ||
        buf_reserve(&w.scan_pool, w.scan_pool.len + name_len) != 0) {
        ctx->is_failed = true;
        return 1;
    }
    module_t *m = (module_t *)w.scan.p + idx;
    memset(m, 0, sizeof *m);
    m->bias = info->dlpi_addr;
    m->start = start;
    m->end = end;
    m->name_hash = hash_bytes(name, name_len);
    m->path_off = w.scan_pool.len;
    m->path_len = name_len;
    memcpy(w.scan_pool.p + w.scan_pool.len, name, name_len);
    w.scan_pool.len += name_len;
    m->build_id_len = find_build_id(info, m->build_id);
    w.scan.len += sizeof(module_t);
    ctx->count++;
    return 0;
}

/* Reads only the adds/subs counters (the first object is enough). */
static int count_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    unsigned long long *v = arg;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        v[0] = info->dlpi_adds;
        v[1] = info->dlpi_subs;
    }
    return 1;
}

static bool same_module(const module_t *a, const module_t *b)
{
    return a->bias == b->bias && a->start == b->start && a->end == b->end &&
           a->name_hash == b->name_hash;
}

static void emit_module_load(const module_t *m, const uint8_t *pool, uint64_t now)
{
    hg_enc_t e;
    if (!rec_begin(&e, 80 + m->path_len + HG_MAX_BUILD_ID))
        return;
    hg_enc_u(&e, m->id);
    hg_enc_u(&e, now);
    hg_enc_u(&e, m->bias);
    hg_enc_u(&e, m->start);
    hg_enc_u(&e, m->end);
    hg_enc_b(&e, pool + m->path_off, m->path_len);
    hg_enc_b(&e, m->build_id, m->build_id_len);
    rec_emit(HG_REC_MODULE_LOAD, &e);
}

/* Rescans the loaded objects when their set may have changed and writes
 * MODULE_UNLOAD for the ones gone, MODULE_LOAD for the new ones. Must not be
 * called while holding anything the shim or the loader may wait for. */
static void update_modules(uint64_t now, bool is_forced)
{
    unsigned long long counts[2] = {0, 0};
    bool is_dirty = atomic_exchange_explicit(&w.is_modules_dirty, false, memory_order_relaxed);
    if (!is_forced && !is_dirty) {
        dl_iterate_phdr(count_cb, counts);
        if (counts[0] == w.dl_adds && counts[1] == w.dl_subs)
            return;
    }
    w.scan.len = 0;
    w.scan_pool.len = 0;
    scan_ctx_t ctx = {.is_first = true};
    dl_iterate_phdr(scan_cb, &ctx);
    if (ctx.is_failed)
        return; /* out of memory: keep the old map, retry next tick */

    module_t *old = (module_t *)w.mods.p;
    size_t n_old = w.mods.len / sizeof(module_t);
    module_t *cur = (module_t *)w.scan.p;
    size_t n_cur = w.scan.len / sizeof(module_t);
    for (size_t i = 0; i < n_old; i++)
        old[i].is_seen = false;
    for (size_t j = 0; j < n_cur; j++) {
        cur[j].id = 0;
        for (size_t i = 0; i < n_old; i++)
            if (!old[i].is_seen && same_module(&old[i], &cur[j])) {
                old[i].is_seen = true;
                cur[j].id = old[i].id;
                break;
            }
    }
    for (size_t i = 0; i < n_old; i++) {
        if (old[i].is_seen)
            continue;
        hg_enc_t e;
        if (!rec_begin(&e, 32))
            return;
        hg_enc_u(&e, old[i].id);
        hg_enc_u(&e, now);
        rec_emit(HG_REC_MODULE_UNLOAD, &e);
    }
    for (size_t j = 0; j < n_cur; j++) {
        if (cur[j].id != 0)
            continue;
        cur[j].id = ++w.next_module_id; /* ids are never reused */
        emit_module_load(&cur[j], w.scan_pool.p, now);
    }
    /* The scan becomes the current map: swap the buffers. */
    buf_t t = w.mods;
    w.mods = w.scan;
    w.scan = t;
    t = w.mod_pool;
    w.mod_pool = w.scan_pool;
    w.scan_pool = t;
}

/* ------------------------------------------------------------------------ */
/* Stacks and snapshots                                                      */

static bool ensure_stack_arrays(uint32_t limit)
{
    size_t need_last = (size_t)limit * sizeof(last_counters_t);
    size_t need_def = limit;
    if (buf_reserve(&w.last, need_last) != 0 || buf_reserve(&w.defined, need_def) != 0)
        return false;
    /* New mappings are zero-filled and buf_reserve copies only len bytes:
     * keep len == cap so that growth preserves everything. */
    w.last.len = w.last.cap;
    w.defined.len = w.defined.cap;
    return true;
}

/* Writes a STACK record for every id that got frames since the last call.
 * Ids below stack_scan_from are all settled (defined or dead). */
static void define_stacks(void)
{
    hg_stack_table_t *t = hg_core.stacks;
    if (t == NULL)
        return;
    uint32_t limit = hg_stack_id_limit(t);
    if (limit <= 1 || !ensure_stack_arrays(limit))
        return;
    if (w.stack_scan_from == 0)
        w.stack_scan_from = 1;
    bool is_settled = true;
    for (uint32_t id = w.stack_scan_from; id < limit; id++) {
        uint8_t *st = &w.defined.p[id];
        if (*st == STACK_DEFINED || *st == STACK_DEAD) {
            if (is_settled)
                w.stack_scan_from = id + 1;
            continue;
        }
        const uintptr_t *frames = NULL;
        uint32_t nframes = hg_stack_frames(t, id, &frames);
        if (nframes == 0 || frames == NULL) {
            if (++*st >= STACK_RETRIES)
                *st = STACK_DEAD; /* an id left unused by a lost race */
            is_settled = is_settled && *st == STACK_DEAD;
            if (is_settled)
                w.stack_scan_from = id + 1;
            continue;
        }
        if (nframes > HG_MAX_FRAMES)
            nframes = HG_MAX_FRAMES;
        hg_enc_t e;
        if (!rec_begin(&e, 32 + (size_t)nframes * 10))
            return;
        hg_enc_u(&e, id);
        hg_enc_u(&e, nframes);
        hg_enc_u(&e, frames[0]);
        for (uint32_t i = 1; i < nframes; i++)
            hg_enc_s(&e, (int64_t)(frames[i] - frames[i - 1]));
        rec_emit(HG_REC_STACK, &e);
        *st = STACK_DEFINED;
        if (is_settled)
            w.stack_scan_from = id + 1;
    }
}

static bool is_stack_writable(uint32_t id)
{
    return id == 0 || (id < w.defined.len && w.defined.p[id] == STACK_DEFINED);
}

static uint64_t clamp_u(int64_t v)
{
    return v < 0 ? 0 : (uint64_t)v;
}

static uint64_t read_rss_bytes(void)
{
    char text[128];
    int fd = hg_os.open("/proc/self/statm", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    ssize_t n = hg_os.read(fd, text, sizeof text - 1);
    hg_os.close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    /* "size resident shared ..." in pages */
    const char *p = text;
    while (*p >= '0' && *p <= '9')
        p++;
    while (*p == ' ')
        p++;
    uint64_t pages = 0;
    while (*p >= '0' && *p <= '9')
        pages = pages * 10 + (uint64_t)(*p++ - '0');
    unsigned long page = getauxval(AT_PAGESZ);
    return pages * (page ? page : 4096);
}

/* SNAPSHOT: totals summed over every stack's counters (the shim keeps no
 * global totals), then the defined stacks whose counters changed since the
 * previous snapshot of this trace. A sampled trace (format version 2) adds the
 * estimated totals and, per stack, the estimated counters. */
static void emit_snapshot(uint64_t now)
{
    bool is_sampled = hg_core.cfg.sample_bytes != 0;
    size_t entry_bound = is_sampled ? SNAPSHOT_ENTRY_BOUND_SAMPLED : SNAPSHOT_ENTRY_BOUND;
    int64_t est_live_bytes = 0, est_live_count = 0;
    uint64_t est_alloc_count = 0, est_alloc_bytes = 0;
    hg_stack_table_t *t = hg_core.stacks;
    /* The threads' counter deltas into the stacks' counters (io_lock held). */
    hg_counts_merge();
    uint32_t limit = t ? hg_stack_id_limit(t) : 0;
    if (limit > 0 && !ensure_stack_arrays(limit)) {
        fail_io(ENOMEM);
        return;
    }
    int64_t live_bytes = 0, live_count = 0;
    uint64_t alloc_count = 0, alloc_bytes = 0;
    size_t n_changed = 0;
    w.tmp.len = 0;
    last_counters_t *last = (last_counters_t *)w.last.p;
    for (uint32_t id = 0; id < limit; id++) {
        hg_stack_counters_t *c = hg_stack_counters(t, id);
        if (c == NULL)
            continue;
        if (id != 0 && w.defined.p[id] == STACK_DEAD) {
            /* Counters are published with the frames: this id was not a lost
             * race but an interner preempted for STACK_RETRIES ticks. Define
             * it at the next tick (it is in the totals already). */
            w.defined.p[id] = STACK_UNKNOWN;
            if (id < w.stack_scan_from)
                w.stack_scan_from = id;
        }
        last_counters_t v = {
            .live_bytes = atomic_load_explicit(&c->live_bytes, memory_order_relaxed),
            .live_count = atomic_load_explicit(&c->live_count, memory_order_relaxed),
            .alloc_count = atomic_load_explicit(&c->alloc_count, memory_order_relaxed),
            .alloc_bytes = atomic_load_explicit(&c->alloc_bytes, memory_order_relaxed),
        };
        const hg_sample_est_t *est = is_sampled ? hg_sample_est(id) : NULL;
        if (est != NULL) {
            v.est_live_bytes = atomic_load_explicit(&est->live_bytes, memory_order_relaxed);
            v.est_live_count = atomic_load_explicit(&est->live_count, memory_order_relaxed);
            v.est_alloc_count = atomic_load_explicit(&est->alloc_count, memory_order_relaxed);
            v.est_alloc_bytes = atomic_load_explicit(&est->alloc_bytes, memory_order_relaxed);
        }
        live_bytes += v.live_bytes;
        live_count += v.live_count;
        alloc_count += v.alloc_count;
        alloc_bytes += v.alloc_bytes;
        est_live_bytes += v.est_live_bytes;
        est_live_count += v.est_live_count;
        est_alloc_count += v.est_alloc_count;
        est_alloc_bytes += v.est_alloc_bytes;
        if (!is_stack_writable(id) || memcmp(&v, &last[id], sizeof v) == 0)
            continue;
        if (n_changed == MAX_SNAPSHOT_ENTRIES(entry_bound))
            continue; /* listed by a later snapshot: last[id] stays old */
        if (buf_reserve(&w.tmp, (n_changed + 1) * sizeof(changed_t)) != 0) {
            fail_io(ENOMEM);
            return;
        }
        changed_t *ch = (changed_t *)w.tmp.p + n_changed++;
        ch->id = id;
        ch->c = v;
        /* buf_reserve keeps only len bytes when it grows the buffer. */
        w.tmp.len = n_changed * sizeof(changed_t);
    }
    uint64_t live_b = clamp_u(live_bytes), live_n = clamp_u(live_count);
    if (live_b > w.peak_live_bytes)
        w.peak_live_bytes = live_b;
    uint64_t est_live_b = clamp_u(est_live_bytes), est_live_n = clamp_u(est_live_count);
    if (est_live_b > w.peak_est_live_bytes)
        w.peak_est_live_bytes = est_live_b;

    hg_enc_t e;
    if (!rec_begin(&e, 240 + n_changed * entry_bound))
        return;
    hg_enc_u(&e, now);
    hg_enc_u(&e, read_rss_bytes());
    hg_enc_u(&e, alloc_count);
    hg_enc_u(&e, alloc_bytes);
    hg_enc_u(&e, alloc_count >= live_n ? alloc_count - live_n : 0);
    hg_enc_u(&e, alloc_bytes >= live_b ? alloc_bytes - live_b : 0);
    hg_enc_u(&e, live_b);
    hg_enc_u(&e, live_n);
    hg_enc_u(&e, w.peak_live_bytes);
    hg_enc_u(&e, atomic_load_explicit(&hg_core.dropped_count, memory_order_relaxed));
    if (is_sampled) {
        hg_enc_u(&e, est_alloc_count);
        hg_enc_u(&e, est_alloc_bytes);
        hg_enc_u(&e, est_alloc_count >= est_live_n ? est_alloc_count - est_live_n : 0);
        hg_enc_u(&e, est_alloc_bytes >= est_live_b ? est_alloc_bytes - est_live_b : 0);
        hg_enc_u(&e, est_live_b);
        hg_enc_u(&e, est_live_n);
        hg_enc_u(&e, w.peak_est_live_bytes);
    }
    hg_enc_u(&e, n_changed);
    const changed_t *ch = (const changed_t *)w.tmp.p;
    for (size_t i = 0; i < n_changed; i++) {
        hg_enc_u(&e, ch[i].id);
        hg_enc_u(&e, clamp_u(ch[i].c.live_bytes));
        hg_enc_u(&e, clamp_u(ch[i].c.live_count));
        hg_enc_u(&e, ch[i].c.alloc_count);
        hg_enc_u(&e, ch[i].c.alloc_bytes);
        if (is_sampled) {
            hg_enc_u(&e, clamp_u(ch[i].c.est_live_bytes));
            hg_enc_u(&e, clamp_u(ch[i].c.est_live_count));
            hg_enc_u(&e, ch[i].c.est_alloc_count);
            hg_enc_u(&e, ch[i].c.est_alloc_bytes);
        }
        last[ch[i].id] = ch[i].c;
    }
    rec_emit(HG_REC_SNAPSHOT, &e);
    atomic_fetch_add_explicit(&w.snapshot_count, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Live-set dump                                                             */

typedef struct live_ctx {
    hg_enc_t e;
    uint32_t n;     /* entries in the current chunk */
    uintptr_t prev; /* previous address in the chunk */
    uint64_t written;
} live_ctx_t;

static void flush_chunk(live_ctx_t *ctx)
{
    if (ctx->n == 0)
        return;
    uint8_t head[10];
    hg_enc_t h;
    hg_enc_init(&h, head, sizeof head);
    hg_enc_u(&h, ctx->n);
    if (!ctx->e.is_overflow)
        emit2(HG_REC_LIVE_CHUNK, head, h.len, ctx->e.buf, ctx->e.len);
    hg_enc_init(&ctx->e, w.chunk.p, w.chunk.cap);
    ctx->n = 0;
    ctx->prev = 0;
}

_Static_assert(HG_LIVE_TIME_UNKNOWN == HG_ALLOC_TIME_UNKNOWN,
               "the live table's unknown time is the format's");

static int live_cb(const hg_live_entry_t *ent, void *arg)
{
    live_ctx_t *ctx = arg;
    /* Entries whose stack was interned after this dump's STACK records were
     * written were allocated during the dump: skipping them is what
     * hg_live_foreach allows ("may or may not be seen"). */
    if (!is_stack_writable(ent->stack_id))
        return 0;
    hg_enc_s(&ctx->e, (int64_t)(ent->address - ctx->prev));
    hg_enc_u(&ctx->e, ent->size);
    hg_enc_u(&ctx->e, ent->stack_id);
    hg_enc_u(&ctx->e, ent->alloc_time_ms);
    ctx->prev = ent->address;
    ctx->n++;
    ctx->written++;
    if (ctx->n == LIVE_ENTRIES_PER_CHUNK)
        flush_chunk(ctx);
    return w.is_broken ? 1 : 0;
}

static void emit_live_set(uint64_t now, int reason)
{
    hg_live_table_t *t = hg_core.live;
    if (t == NULL)
        return;
    if (buf_reserve(&w.chunk, LIVE_ENTRIES_PER_CHUNK * LIVE_ENTRY_MAX_BYTES) != 0) {
        fail_io(ENOMEM);
        return;
    }
    hg_enc_t e;
    if (!rec_begin(&e, 40))
        return;
    hg_enc_u(&e, now);
    hg_enc_u(&e, (uint64_t)reason);
    hg_enc_u(&e, hg_live_count(t));
    rec_emit(HG_REC_LIVE_BEGIN, &e);

    live_ctx_t ctx = {0};
    hg_enc_init(&ctx.e, w.chunk.p, w.chunk.cap);
    hg_live_foreach(t, live_cb, &ctx);
    flush_chunk(&ctx);

    if (!rec_begin(&e, 16))
        return;
    hg_enc_u(&e, ctx.written);
    rec_emit(HG_REC_LIVE_END, &e);
    atomic_fetch_add_explicit(&w.dump_count, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Reachability (reach.c, docs/LEAKS.md)                                     */

/* The writer thread's tid: its stack is not a root of the scan. */
static _Atomic int writer_tid;

/* Weak: the writer's unit tests (tests/test_writer.c) link writer.c without
 * reach.c; there no REACH record is written. */
extern __typeof__(hg_reach_scan) hg_reach_scan __attribute__((weak));
extern __typeof__(hg_reach_release) hg_reach_release __attribute__((weak));
extern __typeof__(hg_reach_note_private_stack) hg_reach_note_private_stack
    __attribute__((weak));

/* Classifies the live set just dumped and writes REACH records. io_lock held.
 * Stacks not yet defined in this trace (allocated during the dump) are
 * counted under id 0. */
static void emit_reach(uint64_t now, int reason, uintptr_t self_stack_lo)
{
    if (hg_core.live == NULL || w.is_broken || hg_reach_scan == NULL)
        return;
    /* Sampling: the live table knows only the sampled blocks, so the scan
     * could not follow pointers through the others (a sampled block that
     * only unsampled blocks point to would look lost). No classification;
     * the analyzer reports what is still allocated at exit, estimated. */
    if (hg_core.cfg.sample_bytes != 0)
        return;
    hg_reach_result_t res;
    int rc = hg_reach_scan(hg_core.live, atomic_load_explicit(&writer_tid, memory_order_relaxed),
                           self_stack_lo,
                           reason == HG_DUMP_EXIT ? REACH_WAIT_NS : REACH_DUMP_WAIT_NS, &res);
    size_t n = rc == 0 ? res.n : 0;
    size_t at = 0;
    do {
        size_t k = n - at < HG_MAX_REACH_PER_REC ? n - at : HG_MAX_REACH_PER_REC;
        hg_enc_t e;
        if (!rec_begin(&e, 64 + k * 9 * 10))
            break;
        hg_enc_u(&e, now);
        hg_enc_u(&e, (uint64_t)reason);
        hg_enc_u(&e, rc < 0 ? (uint64_t)-rc : 0);
        hg_enc_u(&e, rc == 0 ? res.threads_unseen : 0);
        hg_enc_u(&e, k);
        for (size_t i = at; i < at + k; i++) {
            const hg_reach_stat_t *st = &res.stats[i];
            hg_enc_u(&e, is_stack_writable(st->stack_id) ? st->stack_id : 0);
            for (int c = 0; c < HG_REACH_NKINDS; c++) {
                hg_enc_u(&e, st->bytes[c]);
                hg_enc_u(&e, st->count[c]);
            }
        }
        rec_emit(HG_REC_REACH, &e);
        at += k;
    } while (at < n);
    if (rc == 0)
        hg_reach_release(&res);
}

/* ------------------------------------------------------------------------ */
/* Warnings                                                                  */

void hg_writer_warn(int code, const char *msg)
{
    for (unsigned i = 0; i < MAX_WARNINGS; i++) {
        warning_slot_t *s = &w.warnings[i];
        int expect = 0;
        if (!atomic_compare_exchange_strong_explicit(&s->state, &expect, 1, memory_order_acquire,
                                                     memory_order_relaxed))
            continue;
        s->code = (uint32_t)code;
        size_t n = msg ? strnlen(msg, sizeof s->msg - 1) : 0;
        if (n > 0)
            memcpy(s->msg, msg, n);
        s->msg[n] = '\0';
        /* release: pairs with the acquire in emit_warnings(). */
        atomic_store_explicit(&s->state, 2, memory_order_release);
        return;
    }
    /* All slots pending: the warning is lost (the shim logs it once anyway). */
}

static void emit_warnings(uint64_t now)
{
    for (unsigned i = 0; i < MAX_WARNINGS; i++) {
        warning_slot_t *s = &w.warnings[i];
        /* acquire: pairs with the release in hg_writer_warn(). */
        if (atomic_load_explicit(&s->state, memory_order_acquire) != 2)
            continue;
        hg_enc_t e;
        if (rec_begin(&e, 32 + sizeof s->msg)) {
            hg_enc_u(&e, now);
            hg_enc_u(&e, s->code);
            hg_enc_str(&e, s->msg);
            rec_emit(HG_REC_WARNING, &e);
        }
        /* release: the slot's contents are no longer read. */
        atomic_store_explicit(&s->state, 0, memory_order_release);
    }
}

/* ------------------------------------------------------------------------ */
/* Ticks and the thread                                                      */

/* One interval's worth of records, ending with a sync flush. io_lock held. */
static void tick(uint32_t dump_mask, bool is_periodic)
{
    uint64_t now_ns = hg_core_now_ns();
    hg_core_tick_clock();
    if (hg_core.live != NULL)
        hg_live_maintain(hg_core.live, now_ns / 1000000u);
    emit_warnings(now_ns);
    update_modules(now_ns, false);
    define_stacks();
    emit_snapshot(now_ns);
    for (int reason = HG_DUMP_EXIT; reason <= HG_DUMP_FATAL; reason++)
        if (dump_mask & (1u << reason)) {
            /* A flush point before a live set, which may be large: if writing
             * it fails, the snapshot is kept (mark_failure cuts back to here). */
            z_feed(NULL, 0, Z_SYNC_FLUSH);
            emit_live_set(now_ns, reason);
            emit_reach(now_ns, reason, 0); /* the writer thread: not a root */
            break; /* one dump answers every pending request */
        }
    z_feed(NULL, 0, Z_SYNC_FLUSH);
    if (is_periodic && w.spacing_ms < MAX_INTERVAL_MS &&
        ++w.periodic_at_spacing >= SNAPSHOTS_PER_DOUBLING) {
        w.periodic_at_spacing = 0;
        w.spacing_ms = w.spacing_ms * 2 > MAX_INTERVAL_MS ? MAX_INTERVAL_MS : w.spacing_ms * 2;
    }
}

uint32_t hg_writer_interval_ms(uint32_t base_ms, uint64_t periodic_snapshots)
{
    uint32_t spacing = base_ms ? base_ms : HG_DEFAULT_INTERVAL_MS;
    while (periodic_snapshots >= SNAPSHOTS_PER_DOUBLING && spacing < MAX_INTERVAL_MS) {
        periodic_snapshots -= SNAPSHOTS_PER_DOUBLING;
        spacing = spacing * 2 > MAX_INTERVAL_MS ? MAX_INTERVAL_MS : spacing * 2;
    }
    return spacing;
}

static void finish_claimed(int reason, int status, bool is_async, uintptr_t self_stack_lo);

static void *writer_main(void *arg)
{
    (void)arg;
    /* This thread never returns to the target's code: the guard stays set
     * for its whole life, so anything it (or libc for it) allocates is
     * forwarded untraced. */
    (void)guard_set();
    prctl(PR_SET_NAME, "heapgrow-writer", 0, 0, 0);
    atomic_store_explicit(&writer_tid, (int)syscall(SYS_gettid), memory_order_relaxed);
    if (hg_reach_note_private_stack != NULL)
        hg_reach_note_private_stack(&arg); /* any address on this stack */
    uint64_t next = mono_ns() + (uint64_t)w.spacing_ms * 1000000u;
    for (;;) {
        /* acquire: pairs with the release fetch_add in wake_thread(). */
        uint32_t seen = atomic_load_explicit(&w.wake_word, memory_order_acquire);
        /* acquire: pairs with the release store in hg_writer_request_finish(). */
        int signo = atomic_load_explicit(&w.finish_signo, memory_order_acquire);
        if (signo != 0) {
            finish_claimed(HG_END_SIGNAL, signo, false, 0);
            break;
        }
        if (atomic_load_explicit(&w.is_stopping, memory_order_acquire))
            break;
        uint64_t now = mono_ns();
        uint32_t dumps = atomic_load_explicit(&w.dump_mask, memory_order_relaxed);
        bool is_due = now >= next;
        if (!is_due && dumps == 0) {
            futex_wait(&w.wake_word, seen, next - now);
            continue;
        }
        pthread_mutex_lock(&w.io_lock);
        if (atomic_load_explicit(&w.is_stopping, memory_order_acquire) ||
            !atomic_load_explicit(&w.is_active, memory_order_relaxed)) {
            pthread_mutex_unlock(&w.io_lock);
            break;
        }
        atomic_store_explicit(&w.is_in_tick, true, memory_order_relaxed);
        /* acquire: pairs with the release fetch_or in hg_writer_request_dump(). */
        dumps = atomic_exchange_explicit(&w.dump_mask, 0, memory_order_acquire);
        tick(dumps, is_due);
        atomic_store_explicit(&w.is_in_tick, false, memory_order_relaxed);
        pthread_mutex_unlock(&w.io_lock);
        if (is_due)
            next = mono_ns() + (uint64_t)w.spacing_ms * 1000000u;
    }
    return NULL;
}

/* Starts the writer thread with every asynchronous signal blocked, so the
 * target's handlers never run on it. Returns 0 or -errno. */
static int start_thread(void)
{
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    atomic_store_explicit(&w.is_stopping, false, memory_order_relaxed);
    int rc = pthread_create(&w.thread, &attr, writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    w.is_thread_running = rc == 0;
    return -rc;
}

/* ------------------------------------------------------------------------ */
/* Dump signal                                                               */

static void dump_signal_handler(int sig)
{
    (void)sig;
    int saved = errno;
    hg_writer_request_dump(HG_DUMP_SIGNAL);
    errno = saved;
}

/* Weak: the writer's unit tests link writer.c without signals.c. */
extern __typeof__(hg_signals_install_handler) hg_signals_install_handler __attribute__((weak));

/* Installs the dump handler unless the program already handles the signal.
 * Through signals.c when it is there, which hides the handler from the
 * program's sigaction()/signal() queries. */
static void install_dump_signal(int sig)
{
    struct sigaction old, sa;
    if (sig <= 0 || sig >= NSIG)
        return;
    if (hg_signals_install_handler != NULL) {
        if (hg_signals_install_handler(sig, dump_signal_handler, SA_RESTART))
            w.dump_signal = sig;
        return;
    }
    if (sigaction(sig, NULL, &old) != 0)
        return;
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = dump_signal_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) == 0)
        w.dump_signal = sig;
}

/* ------------------------------------------------------------------------ */
/* Start                                                                     */

static const char *exe_base_name(void)
{
    const char *base = w.exe;
    for (const char *p = w.exe; *p; p++)
        if (*p == '/')
            base = p + 1;
    return base;
}

static int open_output(bool is_descendant)
{
    const char *pattern = hg_core.cfg.output[0] ? hg_core.cfg.output : "heapgrow.%e.%p.hgt";
    long pid = (long)getpid();
    bool has_pid = false;
    int rc =
        format_path(w.path, sizeof w.path, pattern, exe_base_name(), pid, is_descendant, &has_pid);
    if (rc != 0) {
        memcpy(w.path, pattern, strnlen(pattern, sizeof w.path - 1) + 1);
        w.path[sizeof w.path - 1] = '\0';
        return rc;
    }
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = hg_os.open(w.path, flags, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* The name is taken: by an earlier image of this process (exec keeps
         * the pid), by an ancestor under plain LD_PRELOAD (no
         * HEAPGROW_ROOT_PID), or by a stale file (`heapgrow run` refuses an
         * existing output before it starts). Never overwrite: a name without
         * the pid gets it first, "<stem>.<pid><ext>"; then ".<n>" follows the
         * pid, "<stem>.<pid>.<n><ext>" for n = 1..MAX_NAME_TRIES-1 (a chain
         * of execs in one pid), else give up. A name that already carries
         * the pid ("%p", or a descendant's "out.<pid>.hgt") goes straight to
         * ".<n>": "out.<pid>.1.hgt", never "out.<pid>.<pid>.hgt". */
        char first[HG_PATH_MAX];
        memcpy(first, w.path, sizeof first);
        for (unsigned seq = has_pid ? 1 : 0; fd < 0 && errno == EEXIST && seq < MAX_NAME_TRIES;
             seq++) {
            memcpy(w.path, first, sizeof first);
            if (insert_pid(w.path, sizeof w.path, has_pid ? -1 : pid, seq) != 0)
                break;
            fd = hg_os.open(w.path, flags, 0600);
        }
        if (fd < 0) {
            int err = errno;
            memcpy(w.path, first, sizeof first); /* name what was asked for */
            return -err;
        }
    }
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        hg_os.close(fd);
        return -err;
    }
    w.fd = fd;
    w.fd_dev = st.st_dev;
    w.fd_ino = st.st_ino;
    return 0;
}

static bool is_exec_descendant(void)
{
    const char *root = getenv("HEAPGROW_ROOT_PID");
    if (root == NULL || root[0] == '\0')
        return false;
    long v = 0;
    for (const char *p = root; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
        if (v > INT_MAX)
            return false;
    }
    return v != (long)getpid();
}

/* Opens the file and writes the preamble, header and module map. io_lock is
 * held or no other writer thread exists. Returns 0 or -errno (reported). */
static int begin_trace(bool is_descendant)
{
    w.is_broken = false;
    w.out.len = 0;
    w.file_len = 0;
    w.synced_len = 0;
    w.owner_pid = (int)syscall(SYS_getpid);
    ssize_t n = readlink("/proc/self/exe", w.exe, sizeof w.exe - 1);
    w.exe[n > 0 ? n : 0] = '\0';

    int rc = open_output(is_descendant);
    if (rc != 0) {
        report_io_error(w.path, -rc);
        return rc;
    }
    memset(&w.zs, 0, sizeof w.zs);
    w.zs.zalloc = z_alloc;
    w.zs.zfree = z_free;
    /* windowBits 15 + 16: a gzip wrapper, so the file is readable with zcat.
     * Level 1: a 5-million-entry live set (random addresses) is written in
     * 1.4 s instead of 2.8 s at level 6, for a file 4% larger (36.5 MB vs
     * 34.9 MB); the exit path waits for it. */
    if (deflateInit2(&w.zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        report_io_error(w.path, ENOMEM);
        hg_os.close(w.fd);
        w.fd = -1;
        return -ENOMEM;
    }
    w.is_zs_ready = true;
    w.spacing_ms = hg_core.cfg.interval_ms ? hg_core.cfg.interval_ms : HG_DEFAULT_INTERVAL_MS;
    w.periodic_at_spacing = 0;
    w.peak_live_bytes = 0;
    w.peak_est_live_bytes = 0;
    w.next_module_id = 0;
    w.mods.len = 0;
    w.mod_pool.len = 0;
    w.stack_scan_from = 1;
    if (w.defined.p != NULL)
        memset(w.defined.p, 0, w.defined.cap);
    if (w.last.p != NULL)
        memset(w.last.p, 0, w.last.cap);
    atomic_store_explicit(&w.snapshot_count, 0, memory_order_relaxed);
    atomic_store_explicit(&w.dump_count, 0, memory_order_relaxed);

    uint8_t pre[16];
    hg_enc_t e;
    hg_enc_init(&e, pre, sizeof pre);
    /* Exact traces stay version 1 (readable by every earlier analyzer);
     * sampled ones are version 2, which earlier analyzers refuse instead of
     * presenting samples as every allocation. */
    hg_enc_preamble(&e, hg_core.cfg.sample_bytes != 0 ? HG_FORMAT_VERSION_SAMPLED
                                                      : HG_FORMAT_VERSION_EXACT);
    z_feed(pre, e.len, Z_NO_FLUSH);
    emit_header();
    update_modules(hg_core_now_ns(), true);
    if (w.is_fork_child) {
        /* FORMAT.md: the first snapshot of a fork child counts the live set
         * it inherited (the counters were copied with the address space). */
        define_stacks();
        emit_snapshot(hg_core_now_ns());
    }
    z_feed(NULL, 0, Z_SYNC_FLUSH);
    return w.is_broken ? -EIO : 0;
}

int hg_writer_start(void)
{
    if (atomic_load_explicit(&w.is_active, memory_order_relaxed))
        return 0;
    bool was = guard_set();
    w.is_fork_child = false;
    int rc = begin_trace(is_exec_descendant());
    if (rc == 0) {
        /* release: publishes the open trace to hg_writer_finish/atfork (acquire). */
        atomic_store_explicit(&w.is_active, true, memory_order_release);
        rc = start_thread();
        if (rc != 0) {
            /* No thread: the trace still gets its final records at exit. */
            rc = 0;
        }
        install_dump_signal(hg_core.cfg.dump_signal);
    }
    guard_restore(was);
    return rc;
}

void hg_writer_request_dump(int reason)
{
    if (reason < HG_DUMP_EXIT || reason > HG_DUMP_FATAL)
        reason = HG_DUMP_API;
    if (!atomic_load_explicit(&w.is_active, memory_order_relaxed))
        return;
    /* release: pairs with the acquire exchange of dump_mask in writer_main(). */
    atomic_fetch_or_explicit(&w.dump_mask, 1u << reason, memory_order_release);
    wake_thread();
}

void hg_writer_modules_changed(void)
{
    atomic_store_explicit(&w.is_modules_dirty, true, memory_order_relaxed);
}

uint64_t hg_writer_snapshot_count(void)
{
    return atomic_load_explicit(&w.snapshot_count, memory_order_relaxed);
}

uint64_t hg_writer_dump_count(void)
{
    return atomic_load_explicit(&w.dump_count, memory_order_relaxed);
}

const char *hg_writer_path(void)
{
    return w.path;
}

/* ------------------------------------------------------------------------ */
/* Finish                                                                    */

static bool lock_bounded(uint64_t wait_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t = (uint64_t)ts.tv_nsec + wait_ns;
    ts.tv_sec += (time_t)(t / 1000000000ull);
    ts.tv_nsec = (long)(t % 1000000000ull);
    return pthread_mutex_timedlock(&w.io_lock, &ts) == 0;
}

/* How long hg_writer_wait_finished() waits at most for another thread's final
 * records: what they may take (the lock, the live set, the reachability
 * scan). */
#define FINISHED_WAIT_NS (FINISH_WAIT_NS + REACH_WAIT_NS + 10ull * 1000000000ull)

/* Weak: the writer's unit tests link writer.c without signals.c. */
extern __typeof__(hg_signals_deliver) hg_signals_deliver __attribute__((weak));

/* Marks the final records written (or given up on), wakes the threads waiting
 * for them in hg_writer_wait_finished(), and ends the process with the signal
 * whose handler could not wait (hg_writer_signal_when_finished()). */
static void mark_finished(void)
{
    /* seq_cst: Dekker with hg_writer_signal_when_finished() (store done, load
     * deliver_signo / store deliver_signo, load done); it also releases the
     * records to the acquire load in hg_writer_wait_finished(). */
    atomic_store_explicit(&w.finish_done, 1, memory_order_seq_cst);
    int signo = atomic_exchange_explicit(&w.deliver_signo, 0, memory_order_seq_cst);
    /* Before the waiters wake: one waiting in an exit must die of the signal,
     * not get on to exit_group first. */
    if (signo != 0 && hg_signals_deliver != NULL)
        hg_signals_deliver(signo);
    futex_wake(&w.finish_done);
}

/*
 * Writes the final records; the caller claimed them (is_finished). is_async:
 * running in the handler of a fault, where the interrupted code may hold any
 * lock and its state may be broken: no dl_iterate_phdr (the loader lock), no
 * reachability scan (a clone and a wait), no deflateEnd, a short wait for the
 * lock and a live set marked HG_DUMP_FATAL. self_stack_lo: the calling
 * thread's stack is a root of the reachability scan from there up (0: not a
 * root, the writer thread).
 */
static void finish_claimed(int reason, int status, bool is_async, uintptr_t self_stack_lo)
{
    bool was = guard_set();
    /* release: pairs with the acquire loads of is_stopping in writer_main(). */
    atomic_store_explicit(&w.is_stopping, true, memory_order_release);
    wake_thread();
    /* A fatal signal raised by the writer thread itself, mid-tick: the zlib
     * stream is in an unknown state and io_lock is ours. Write nothing. */
    if (w.is_thread_running && pthread_equal(pthread_self(), w.thread) &&
        atomic_load_explicit(&w.is_in_tick, memory_order_relaxed)) {
        mark_finished();
        guard_restore(was);
        return;
    }
    if (!lock_bounded(is_async ? FATAL_WAIT_NS : FINISH_WAIT_NS)) {
        mark_finished();
        guard_restore(was);
        return; /* the writer is stuck: better no end than a corrupt one */
    }
    if (!w.is_broken) {
        uint64_t now = hg_core_now_ns();
        emit_warnings(now);
        if (!is_async) /* dl_iterate_phdr takes the loader lock */
            update_modules(now, false);
        define_stacks();
        emit_snapshot(now);
        z_feed(NULL, 0, Z_SYNC_FLUSH); /* the final counters, whatever follows */
        emit_live_set(now, is_async ? HG_DUMP_FATAL : HG_DUMP_EXIT);
        if (!is_async) /* a clone and a wait: not from a fault */
            emit_reach(now, HG_DUMP_EXIT, self_stack_lo);
        hg_enc_t e;
        if (rec_begin(&e, 40)) {
            hg_enc_u(&e, now);
            hg_enc_u(&e, (uint64_t)reason);
            hg_enc_s(&e, status);
            rec_emit(HG_REC_END, &e);
        }
        z_feed(NULL, 0, Z_FINISH);
        if (!is_async)
            deflateEnd(&w.zs);
        w.is_zs_ready = false;
        if (w.fd >= 0)
            hg_os.close(w.fd);
        w.fd = -1;
    }
    atomic_store_explicit(&w.is_active, false, memory_order_release);
    pthread_mutex_unlock(&w.io_lock);
    /* release: pairs with the shim's acquire load of hg_core.state. */
    atomic_store_explicit(&hg_core.state, HG_STATE_PASSIVE, memory_order_release);
    mark_finished();
    guard_restore(was);
}

void hg_writer_finish(int reason, int status)
{
    /* A vfork child shares our memory and file: it must not end our trace
     * (nor mark it finished). The raw syscall: no cached pid. */
    if ((int)syscall(SYS_getpid) != w.owner_pid)
        return;
    /* acq_rel: the first caller wins; later callers see its claim. */
    if (atomic_exchange_explicit(&w.is_finished, true, memory_order_acq_rel)) {
        /* Another thread writes them (a signal, a racing exit): going on
         * towards exit_group would cut them short. */
        (void)hg_writer_wait_finished(UINT64_MAX);
        return;
    }
    /* acquire: pairs with the release store of is_active in hg_writer_start(). */
    if (!atomic_load_explicit(&w.is_active, memory_order_acquire)) {
        mark_finished();
        return;
    }
    atomic_store_explicit(&w.finisher_tid, (int)syscall(SYS_gettid), memory_order_relaxed);
    /* Our caller's frames up are roots of the scan; ours below hold stale
     * words of earlier tracer calls. */
    finish_claimed(reason, status, reason == HG_END_SIGNAL, (uintptr_t)__builtin_frame_address(0));
}

int hg_writer_request_finish(int signo)
{
    if ((int)syscall(SYS_getpid) != w.owner_pid)
        return 0;
    /* acquire: pairs with the release store of is_active in hg_writer_start(). */
    if (!atomic_load_explicit(&w.is_active, memory_order_acquire))
        return 0;
    if (!w.is_thread_running)
        return -1;
    /* acq_rel: as in hg_writer_finish(). */
    if (atomic_exchange_explicit(&w.is_finished, true, memory_order_acq_rel))
        return 0;
    atomic_store_explicit(&w.finisher_tid, atomic_load_explicit(&writer_tid, memory_order_relaxed),
                          memory_order_relaxed);
    /* release: pairs with the acquire load in writer_main(). */
    atomic_store_explicit(&w.finish_signo, signo > 0 ? signo : SIGTERM, memory_order_release);
    wake_thread();
    return 1;
}

bool hg_writer_wait_finished(uint64_t max_ns)
{
    /* acquire: pairs with the exchanges that claim the final records. */
    if (!atomic_load_explicit(&w.is_finished, memory_order_acquire))
        return true;
    if ((int)syscall(SYS_gettid) == atomic_load_explicit(&w.finisher_tid, memory_order_relaxed))
        return false; /* nested in our own finish: it cannot go on meanwhile */
    uint64_t deadline = mono_ns() + (max_ns < FINISHED_WAIT_NS ? max_ns : FINISHED_WAIT_NS);
    for (;;) {
        /* acquire: pairs with the release store in mark_finished(). */
        if (atomic_load_explicit(&w.finish_done, memory_order_acquire) != 0)
            return true;
        uint64_t now = mono_ns();
        if (now >= deadline)
            return false;
        futex_wait(&w.finish_done, 0, deadline - now);
    }
}

bool hg_writer_signal_when_finished(int signo)
{
    /* seq_cst: see mark_finished(). */
    atomic_store_explicit(&w.deliver_signo, signo, memory_order_seq_cst);
    if (atomic_load_explicit(&w.finish_done, memory_order_seq_cst) == 0)
        return true;
    /* Finished meanwhile: take the request back, unless mark_finished()
     * took it already (and delivers). */
    return atomic_exchange_explicit(&w.deliver_signo, 0, memory_order_seq_cst) == 0;
}

/* ------------------------------------------------------------------------ */
/* fork                                                                      */

static _Atomic bool is_fork_locked;

void hg_writer_atfork_prepare(void)
{
    /* acquire: pairs with the release store of is_active in hg_writer_start(). */
    if (!atomic_load_explicit(&w.is_active, memory_order_acquire))
        return;
    /* Waits for the current tick: no zlib state is mid-write in the child.
     * Bounded, so that a stuck writer (or a fork from a signal handler that
     * interrupted our own exit path) cannot hang fork(); the child of such a
     * fork is not traced (see hg_writer_atfork_child). */
    if (lock_bounded(FORK_WAIT_NS))
        atomic_store_explicit(&is_fork_locked, true, memory_order_relaxed);
}

void hg_writer_atfork_parent(void)
{
    if (atomic_exchange_explicit(&is_fork_locked, false, memory_order_relaxed))
        pthread_mutex_unlock(&w.io_lock);
}

void hg_writer_atfork_child(void)
{
    bool was_locked = atomic_exchange_explicit(&is_fork_locked, false, memory_order_relaxed);
    /* The parent's mutex state is meaningless here (its owner may be a thread
     * that does not exist in the child): start from a fresh one. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&w.io_lock, &fresh, sizeof fresh);
    /* Final records being written by a thread of the parent: none will be
     * here, nobody may wait for them. */
    if (atomic_load_explicit(&w.is_finished, memory_order_relaxed))
        atomic_store_explicit(&w.finish_done, 1, memory_order_relaxed);
    atomic_store_explicit(&w.deliver_signo, 0, memory_order_relaxed); /* the parent's */
    if (!atomic_load_explicit(&w.is_active, memory_order_relaxed) ||
        atomic_load_explicit(&w.is_finished, memory_order_relaxed))
        return;
    if (!was_locked) {
        /* The writer's state may be mid-change: trust none of it. The
         * inherited descriptor is closed (ours only; the parent keeps its),
         * unless the program has put a file of its own under that number. */
        if (w.fd >= 0 && is_fd_ours())
            hg_os.close(w.fd);
        w.fd = -1;
        atomic_store_explicit(&w.is_active, false, memory_order_relaxed);
        /* release: pairs with the shim's acquire load of hg_core.state. */
        atomic_store_explicit(&hg_core.state, HG_STATE_PASSIVE, memory_order_release);
        return;
    }
    bool was = guard_set();
    /* Drop the inherited stream without writing a byte to the parent's file:
     * deflateEnd only unmaps our copies of zlib's state. */
    if (w.is_zs_ready)
        deflateEnd(&w.zs);
    w.is_zs_ready = false;
    if (w.fd >= 0 && is_fd_ours())
        hg_os.close(w.fd);
    w.fd = -1;
    w.is_thread_running = false;
    atomic_store_explicit(&w.is_in_tick, false, memory_order_relaxed);
    atomic_store_explicit(&w.dump_mask, 0, memory_order_relaxed);
    atomic_store_explicit(&w.is_modules_dirty, false, memory_order_relaxed);
    for (unsigned i = 0; i < MAX_WARNINGS; i++)
        atomic_store_explicit(&w.warnings[i].state, 0, memory_order_relaxed);
    w.is_fork_child = true;
    if (begin_trace(true) != 0) {
        atomic_store_explicit(&w.is_active, false, memory_order_relaxed);
        atomic_store_explicit(&hg_core.state, HG_STATE_PASSIVE, memory_order_release);
    } else {
        (void)start_thread();
    }
    guard_restore(was);
}
