/*
 * In-process tests of preload/writer.c, with hg_core and the tables replaced by
 * fakes (test_writer_fakes.c) holding exactly known stacks, counters and live
 * entries. Each test decodes the gzip trace with test_writer_decode.c (not the
 * analyzer) and checks the exact record sequence of docs/FORMAT.md. Check forks
 * per test, so each test gets a fresh writer (the writer is one per process).
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <heapgrow/estimate.h>
#include <heapgrow/format.h>

#include "os.h"
#include "sample.h"
#include "test_writer_decode.h"
#include "test_writer_fakes.h"
#include "writer.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/hgw.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void path_in_dir(char *dst, size_t cap, const char *name)
{
    snprintf(dst, cap, "%s/%s", dir, name);
}

/* Waits (bounded: 20 s) until fn() reaches at least want. A condition wait,
 * not a timing assumption: the test fails only if the writer never gets there. */
static void wait_for(uint64_t (*fn)(void), uint64_t want)
{
    for (int i = 0; i < 20000 && fn() < want; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_ge(fn(), want);
}

static void self_exe(char *dst, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", dst, cap - 1);
    ck_assert_int_gt(n, 0);
    dst[n] = '\0';
}

typedef struct header {
    uint64_t pid, ppid, start_real_ns, start_mono_ns, argc;
    char exe[PATH_MAX];
    char arg0[PATH_MAX];
    uint64_t interval_ms, max_frames, sample_bytes, unwinder, dump_signal, flags;
    char wrappers[64];
} header_t;

static header_t parse_header(const trace_rec_t *r)
{
    header_t h;
    memset(&h, 0, sizeof h);
    ck_assert_uint_eq(r->tag, HG_REC_HEADER);
    cur_t c = cur_of(r);
    h.pid = cur_u(&c);
    h.ppid = cur_u(&c);
    h.start_real_ns = cur_u(&c);
    h.start_mono_ns = cur_u(&c);
    cur_str(&c, h.exe, sizeof h.exe);
    h.argc = cur_u(&c);
    for (uint64_t i = 0; i < h.argc; i++) {
        char arg[PATH_MAX];
        cur_str(&c, arg, sizeof arg);
        if (i == 0)
            strcpy(h.arg0, arg);
    }
    h.interval_ms = cur_u(&c);
    h.max_frames = cur_u(&c);
    h.sample_bytes = cur_u(&c);
    h.unwinder = cur_u(&c);
    cur_str(&c, h.wrappers, sizeof h.wrappers);
    h.dump_signal = cur_u(&c);
    h.flags = cur_u(&c);
    ck_assert(!c.is_bad);
    ck_assert_ptr_eq(c.p, c.end);
    return h;
}

typedef struct snap_entry {
    uint64_t id, live_bytes, live_count, alloc_count, alloc_bytes;
} snap_entry_t;

typedef struct snap {
    uint64_t time_ns, rss, alloc_count, alloc_bytes, free_count, free_bytes, live_bytes, live_count,
        peak, dropped, n;
    snap_entry_t e[FAKE_MAX_STACKS];
} snap_t;

static snap_t parse_snapshot(const trace_rec_t *r)
{
    snap_t s;
    memset(&s, 0, sizeof s);
    ck_assert_uint_eq(r->tag, HG_REC_SNAPSHOT);
    cur_t c = cur_of(r);
    s.time_ns = cur_u(&c);
    s.rss = cur_u(&c);
    s.alloc_count = cur_u(&c);
    s.alloc_bytes = cur_u(&c);
    s.free_count = cur_u(&c);
    s.free_bytes = cur_u(&c);
    s.live_bytes = cur_u(&c);
    s.live_count = cur_u(&c);
    s.peak = cur_u(&c);
    s.dropped = cur_u(&c);
    s.n = cur_u(&c);
    ck_assert_uint_le(s.n, FAKE_MAX_STACKS);
    for (uint64_t i = 0; i < s.n; i++) {
        s.e[i].id = cur_u(&c);
        s.e[i].live_bytes = cur_u(&c);
        s.e[i].live_count = cur_u(&c);
        s.e[i].alloc_count = cur_u(&c);
        s.e[i].alloc_bytes = cur_u(&c);
    }
    ck_assert(!c.is_bad);
    ck_assert_ptr_eq(c.p, c.end);
    return s;
}

/* The time field of records that have one, or UINT64_MAX. */
static uint64_t record_time(const trace_rec_t *r)
{
    cur_t c = cur_of(r);
    switch (r->tag) {
    case HG_REC_MODULE_LOAD:
    case HG_REC_MODULE_UNLOAD:
        cur_u(&c);
        return cur_u(&c);
    case HG_REC_SNAPSHOT:
    case HG_REC_LIVE_BEGIN:
    case HG_REC_END:
    case HG_REC_WARNING:
        return cur_u(&c);
    default:
        return UINT64_MAX;
    }
}

static void check_times_nondecreasing(const trace_t *t)
{
    uint64_t prev = 0;
    for (size_t i = 0; i < t->n; i++) {
        uint64_t v = record_time(&t->recs[i]);
        if (v == UINT64_MAX)
            continue;
        ck_assert_uint_ge(v, prev);
        prev = v;
    }
}

/* Stacks used by most tests: ids 1 and 3 have frames, 2 is a hole (an id
 * left unused by a lost race), 0 is the unknown stack. */
static const uintptr_t frames1[] = {0x401000, 0x401100, 0x400f00};
static const uintptr_t frames3[] = {0x7f0000001000};

static void setup_stacks(void)
{
    ck_assert_uint_eq(fake_stack_add(frames1, 3), 1);
    ck_assert_uint_eq(fake_stack_add_hole(), 2);
    ck_assert_uint_eq(fake_stack_add(frames3, 1), 3);
    fake_stack_set(0, 8, 1, 1, 8);
    fake_stack_set(1, 300, 3, 5, 500);
    fake_stack_set(3, 40, 1, 1, 40);
    fake_live_add(0x10000, 100, 1, 5);
    fake_live_add(0x10100, 100, 1, 6);
    fake_live_add(0x10200, 100, 1, 7);
    fake_live_add(0x20000, 40, 3, 9);
    fake_live_add(0x30000, 8, 0, 10);
    fake_live_add(0x40000, 16, 2, 11); /* a stack never defined: skipped */
}

/* Checks LIVE_BEGIN ... LIVE_END at index i against setup_stacks(). */
static size_t check_live_set(const trace_t *t, size_t i, uint64_t reason)
{
    cur_t c = cur_of(&t->recs[i]);
    ck_assert_uint_eq(t->recs[i].tag, HG_REC_LIVE_BEGIN);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), reason);
    ck_assert_uint_eq(cur_u(&c), 6);
    i++;
    ck_assert_uint_eq(t->recs[i].tag, HG_REC_LIVE_CHUNK);
    c = cur_of(&t->recs[i]);
    ck_assert_uint_eq(cur_u(&c), 5);
    const uint64_t addr[] = {0x10000, 0x10100, 0x10200, 0x20000, 0x30000};
    const uint64_t size[] = {100, 100, 100, 40, 8};
    const uint64_t stack[] = {1, 1, 1, 3, 0};
    const uint64_t ms[] = {5, 6, 7, 9, 10};
    uint64_t a = 0;
    for (int k = 0; k < 5; k++) {
        a += (uint64_t)cur_s(&c);
        ck_assert_uint_eq(a, addr[k]);
        ck_assert_uint_eq(cur_u(&c), size[k]);
        ck_assert_uint_eq(cur_u(&c), stack[k]);
        ck_assert_uint_eq(cur_u(&c), ms[k]);
    }
    ck_assert_ptr_eq(c.p, c.end);
    i++;
    ck_assert_uint_eq(t->recs[i].tag, HG_REC_LIVE_END);
    c = cur_of(&t->recs[i]);
    ck_assert_uint_eq(cur_u(&c), 5);
    return i + 1;
}

/* Captures what the writer prints on fd 2. */
static int saved_stderr = -1;
static char err_path[128];

static void capture_stderr(void)
{
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static void release_stderr(char *dst, size_t cap)
{
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(err_path, "r");
    size_t n = fread(dst, 1, cap - 1, f);
    dst[n] = '\0';
    fclose(f);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

START_TEST(roundtrip_exact_records)
{
    char out[256], exe[PATH_MAX];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    unsetenv("HEAPGROW_ROOT_PID");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert_int_eq(hg_writer_start(), 0);
    ck_assert_str_eq(hg_writer_path(), out);
    hg_writer_warn(HG_WARN_DEEPBIND, "RTLD_DEEPBIND dropped");
    hg_writer_finish(HG_END_EXIT, 7);
    ck_assert_int_eq(atomic_load(&hg_core.state), HG_STATE_PASSIVE);

    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    hg_writer_finish(HG_END_EXIT, 9); /* idempotent: writes nothing */
    struct stat st2;
    ck_assert_int_eq(stat(out, &st2), 0);
    ck_assert_int_eq(st.st_size, st2.st_size);

    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.has_trailer);
    ck_assert(t.is_magic_ok);
    ck_assert_uint_eq(t.version, HG_FORMAT_VERSION_EXACT);
    ck_assert_uint_eq(t.tail_bytes, 0);

    header_t h = parse_header(&t.recs[0]);
    self_exe(exe, sizeof exe);
    ck_assert_uint_eq(h.pid, (uint64_t)getpid());
    ck_assert_uint_eq(h.ppid, (uint64_t)getppid());
    ck_assert_uint_eq(h.start_real_ns, hg_core.start_real_ns);
    ck_assert_uint_eq(h.start_mono_ns, hg_core.start_mono_ns);
    ck_assert_str_eq(h.exe, exe);
    ck_assert_uint_ge(h.argc, 1);
    ck_assert_ptr_nonnull(strstr(h.arg0, strrchr(exe, '/') + 1));
    ck_assert_uint_eq(h.interval_ms, 60000);
    ck_assert_uint_eq(h.max_frames, 64);
    ck_assert_uint_eq(h.sample_bytes, 0);
    ck_assert_uint_eq(h.unwinder, 0);
    ck_assert_str_eq(h.wrappers, "xmalloc");
    ck_assert_uint_eq(h.dump_signal, 0);
    ck_assert_uint_eq(h.flags, 0);
    ck_assert_uint_eq(trace_count(&t, HG_REC_HEADER), 1);

    /* Modules: right after the header; the main exe with its build-id, the
     * vdso, unique ids, start < end. */
    size_t i = 1;
    bool has_exe = false, has_vdso = false;
    uint64_t ids_seen = 0;
    for (; i < t.n && t.recs[i].tag == HG_REC_MODULE_LOAD; i++) {
        cur_t c = cur_of(&t.recs[i]);
        uint64_t id = cur_u(&c);
        cur_u(&c);
        cur_u(&c); /* bias */
        uint64_t start = cur_u(&c), end = cur_u(&c);
        char path[PATH_MAX];
        cur_str(&c, path, sizeof path);
        const uint8_t *bid;
        size_t bid_len = cur_b(&c, &bid);
        ck_assert(!c.is_bad);
        ck_assert_uint_lt(start, end);
        ck_assert_uint_lt(id, 64);
        ck_assert(!(ids_seen & (1ull << id)));
        ids_seen |= 1ull << id;
        if (strcmp(path, exe) == 0) {
            has_exe = true;
            ck_assert_uint_eq(bid_len, 20); /* GNU ld's default sha1 build-id */
            ck_assert_uint_le(start, (uintptr_t)&roundtrip_exact_records);
            ck_assert_uint_gt(end, (uintptr_t)&roundtrip_exact_records);
        }
        if (strstr(path, "vdso") != NULL)
            has_vdso = true;
    }
    ck_assert_uint_ge(i, 4);
    ck_assert(has_exe);
    ck_assert(has_vdso);

    /* Final records: WARNING, STACK 1, STACK 3, SNAPSHOT, live set, END. */
    ck_assert_uint_eq(t.recs[i].tag, HG_REC_WARNING);
    cur_t c = cur_of(&t.recs[i]);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), HG_WARN_DEEPBIND);
    char msg[128];
    cur_str(&c, msg, sizeof msg);
    ck_assert_str_eq(msg, "RTLD_DEEPBIND dropped");
    i++;

    ck_assert_uint_eq(t.recs[i].tag, HG_REC_STACK);
    c = cur_of(&t.recs[i]);
    ck_assert_uint_eq(cur_u(&c), 1);
    ck_assert_uint_eq(cur_u(&c), 3);
    ck_assert_uint_eq(cur_u(&c), 0x401000);
    ck_assert_int_eq(cur_s(&c), 0x100);
    ck_assert_int_eq(cur_s(&c), -0x200);
    ck_assert_ptr_eq(c.p, c.end);
    i++;
    ck_assert_uint_eq(t.recs[i].tag, HG_REC_STACK);
    c = cur_of(&t.recs[i]);
    ck_assert_uint_eq(cur_u(&c), 3);
    ck_assert_uint_eq(cur_u(&c), 1);
    ck_assert_uint_eq(cur_u(&c), 0x7f0000001000);
    i++;

    snap_t s = parse_snapshot(&t.recs[i++]);
    ck_assert_uint_eq(s.alloc_count, 7);
    ck_assert_uint_eq(s.alloc_bytes, 548);
    ck_assert_uint_eq(s.live_bytes, 348);
    ck_assert_uint_eq(s.live_count, 5);
    ck_assert_uint_eq(s.free_count, 2);
    ck_assert_uint_eq(s.free_bytes, 200);
    ck_assert_uint_eq(s.peak, 348);
    ck_assert_uint_eq(s.dropped, 0);
    ck_assert_uint_gt(s.rss, 0);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_uint_eq(s.e[0].id, 0);
    ck_assert_uint_eq(s.e[0].live_bytes, 8);
    ck_assert_uint_eq(s.e[1].id, 1);
    ck_assert_uint_eq(s.e[1].live_bytes, 300);
    ck_assert_uint_eq(s.e[1].live_count, 3);
    ck_assert_uint_eq(s.e[1].alloc_count, 5);
    ck_assert_uint_eq(s.e[1].alloc_bytes, 500);
    ck_assert_uint_eq(s.e[2].id, 3);
    ck_assert_uint_eq(s.e[2].alloc_bytes, 40);

    i = check_live_set(&t, i, HG_DUMP_EXIT);
    ck_assert_uint_eq(i, t.n - 1);
    c = cur_of(&t.recs[i]);
    ck_assert_uint_eq(t.recs[i].tag, HG_REC_END);
    ck_assert_uint_ge(cur_u(&c), s.time_ns);
    ck_assert_uint_eq(cur_u(&c), HG_END_EXIT);
    ck_assert_int_eq(cur_s(&c), 7);
    check_times_nondecreasing(&t);
    ck_assert_uint_ge(fake_live_maintain_calls(), 0);
    trace_free(&t);
}
END_TEST

START_TEST(snapshot_lists_changed_stacks_only)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert_int_eq(hg_writer_start(), 0);
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 1);
    fake_stack_set(1, 200, 2, 6, 600); /* stack 1 changes, 0 and 3 do not */
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 2);
    ck_assert_uint_ge(fake_live_maintain_calls(), 2);
    hg_writer_finish(HG_END_UEXIT, 0);

    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.has_trailer);
    ck_assert_uint_eq(trace_count(&t, HG_REC_SNAPSHOT), 3);
    ck_assert_uint_eq(trace_count(&t, HG_REC_STACK), 2);
    ck_assert_uint_eq(trace_count(&t, HG_REC_LIVE_BEGIN), 3);
    size_t i = trace_find(&t, HG_REC_SNAPSHOT, 0);
    snap_t s1 = parse_snapshot(&t.recs[i]);
    ck_assert_uint_eq(s1.n, 3);
    i = check_live_set(&t, i + 1, HG_DUMP_API);
    snap_t s2 = parse_snapshot(&t.recs[i]);
    ck_assert_uint_eq(s2.n, 1);
    ck_assert_uint_eq(s2.e[0].id, 1);
    ck_assert_uint_eq(s2.e[0].live_bytes, 200);
    ck_assert_uint_eq(s2.e[0].alloc_count, 6);
    ck_assert_uint_eq(s2.live_bytes, 248);
    ck_assert_uint_eq(s2.peak, 348); /* the maximum over snapshots */
    ck_assert_uint_eq(s2.free_count, 8 - 4);
    i = check_live_set(&t, i + 1, HG_DUMP_API);
    snap_t s3 = parse_snapshot(&t.recs[i]);
    ck_assert_uint_eq(s3.n, 0);
    ck_assert_uint_eq(s3.live_bytes, 248);
    i = check_live_set(&t, i + 1, HG_DUMP_EXIT);
    cur_t c = cur_of(&t.recs[i]);
    ck_assert_uint_eq(t.recs[i].tag, HG_REC_END);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), HG_END_UEXIT);
    check_times_nondecreasing(&t);
    trace_free(&t);
}
END_TEST

/* One snapshot listing a thousand changed stacks (more than the writer's
 * first 64 KiB scratch buffer holds, so it grows mid-snapshot): every entry
 * keeps its id and counters. Before the fix the buffer's growth dropped the
 * entries already listed, which went out as id 0 with zero counters. */
START_TEST(snapshot_with_a_thousand_changed_stacks)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    const uint64_t n = 1000;
    uintptr_t fr[4];
    for (uint64_t st = 1; st <= n; st++) {
        for (uintptr_t k = 0; k < 4; k++)
            fr[k] = 0x400000 + st * 0x40 + k * 0x10000;
        ck_assert_uint_eq(fake_stack_add(fr, 4), st);
        fake_stack_set((uint32_t)st, (int64_t)st * 16, (int64_t)st, st + 5, (st + 5) * 32);
    }
    ck_assert_int_eq(hg_writer_start(), 0);
    hg_writer_finish(HG_END_EXIT, 0);

    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert_uint_eq(trace_count(&t, HG_REC_STACK), n);
    snap_t s = parse_snapshot(&t.recs[trace_find(&t, HG_REC_SNAPSHOT, 0)]);
    ck_assert_uint_eq(s.n, n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = i + 1;
        ck_assert_uint_eq(s.e[i].id, id);
        ck_assert_uint_eq(s.e[i].live_bytes, id * 16);
        ck_assert_uint_eq(s.e[i].live_count, id);
        ck_assert_uint_eq(s.e[i].alloc_count, id + 5);
        ck_assert_uint_eq(s.e[i].alloc_bytes, (id + 5) * 32);
    }
    ck_assert_uint_eq(s.live_count, n * (n + 1) / 2);
    trace_free(&t);
}
END_TEST

/* A sampled trace (format 2): the header says the rate; every SNAPSHOT has
 * the estimated totals after the raw ones and each listed stack its
 * estimated counters after its raw ones; a stack whose estimates changed is
 * listed again. The estimates are sums of hg_est_weigh() of the sampled
 * blocks (sample.c keeps them as the shim reports allocations and frees). */
START_TEST(sampled_snapshot_carries_estimates)
{
    const uint64_t rate = 4096;
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    hg_core.cfg.sample_bytes = hg_sample_init(rate, 1, 0, 0);
    ck_assert_uint_eq(hg_core.cfg.sample_bytes, rate);
    setup_stacks();
    /* Stack 1: three sampled blocks of 100 bytes, one freed; stack 3: one
     * of 40000. The raw counters are setup_stacks()'s. */
    hg_live_entry_t a = {.address = 0x10000, .size = 100, .stack_id = 1};
    hg_live_entry_t b = {.address = 0x20000, .size = 40000, .stack_id = 3};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(hg_sample_mark(a.address + 256 * (uint64_t)k, 1), 0);
        hg_sample_count(&a, +1, true);
    }
    hg_sample_count(&a, -1, false);
    ck_assert_int_eq(hg_sample_mark(b.address, 3), 0);
    hg_sample_count(&b, +1, true);
    uint64_t ab, ac, bb, bc;
    hg_est_weigh(100, rate, &ab, &ac);
    hg_est_weigh(40000, rate, &bb, &bc);

    ck_assert_int_eq(hg_writer_start(), 0);
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 1);
    hg_sample_count(&a, -1, false); /* only an estimate changes */
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 2);
    hg_writer_finish(HG_END_UEXIT, 0);

    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert_uint_eq(t.version, HG_FORMAT_VERSION_SAMPLED);
    cur_t c = cur_of(&t.recs[0]);
    for (int k = 0; k < 4; k++)
        cur_u(&c);
    char str[256];
    cur_str(&c, str, sizeof str);
    uint64_t argc = cur_u(&c);
    for (uint64_t k = 0; k < argc; k++)
        cur_str(&c, str, sizeof str);
    cur_u(&c);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), rate);

    size_t i = trace_find(&t, HG_REC_SNAPSHOT, 0);
    c = cur_of(&t.recs[i]);
    uint64_t v[10];
    for (int k = 0; k < 10; k++)
        v[k] = cur_u(&c);
    ck_assert_uint_eq(v[2], 7);   /* raw alloc_count: 1 + 5 + 1 */
    ck_assert_uint_eq(v[6], 348); /* raw live bytes */
    uint64_t est[7];
    for (int k = 0; k < 7; k++)
        est[k] = cur_u(&c);
    ck_assert_uint_eq(est[0], 3 * ac + bc); /* est_alloc_count */
    ck_assert_uint_eq(est[1], 3 * ab + bb); /* est_alloc_bytes */
    ck_assert_uint_eq(est[2], ac);          /* est_free_count  */
    ck_assert_uint_eq(est[3], ab);          /* est_free_bytes  */
    ck_assert_uint_eq(est[4], 2 * ab + bb); /* est_live_bytes  */
    ck_assert_uint_eq(est[5], 2 * ac + bc); /* est_live_count  */
    ck_assert_uint_eq(est[6], 2 * ab + bb); /* est_peak        */
    ck_assert_uint_eq(cur_u(&c), 3);        /* stacks 0, 1, 3  */
    uint64_t e[3][9];
    for (int k = 0; k < 3; k++)
        for (int f = 0; f < 9; f++)
            e[k][f] = cur_u(&c);
    ck_assert(!c.is_bad && c.p == c.end);
    ck_assert_uint_eq(e[0][0], 0);
    ck_assert_uint_eq(e[0][5] + e[0][6] + e[0][7] + e[0][8], 0);
    ck_assert_uint_eq(e[1][0], 1);
    ck_assert_uint_eq(e[1][1], 300); /* raw live bytes */
    ck_assert_uint_eq(e[1][5], 2 * ab);
    ck_assert_uint_eq(e[1][6], 2 * ac);
    ck_assert_uint_eq(e[1][7], 3 * ac);
    ck_assert_uint_eq(e[1][8], 3 * ab);
    ck_assert_uint_eq(e[2][0], 3);
    ck_assert_uint_eq(e[2][5], bb);
    ck_assert_uint_eq(e[2][8], bb);

    i = trace_find(&t, HG_REC_SNAPSHOT, i + 1);
    c = cur_of(&t.recs[i]);
    for (int k = 0; k < 17; k++)
        v[k % 10] = cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), 1); /* stack 1 only: its estimate changed */
    ck_assert_uint_eq(cur_u(&c), 1);
    for (int f = 1; f < 5; f++)
        cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), ab);
    ck_assert_uint_eq(cur_u(&c), ac);
    check_times_nondecreasing(&t);
    trace_free(&t);
}
END_TEST

START_TEST(dump_signal_requests_live_set)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, SIGUSR2);
    setup_stacks();
    ck_assert_int_eq(hg_writer_start(), 0);
    raise(SIGUSR2); /* would kill the process without the writer's handler */
    wait_for(hg_writer_dump_count, 1);
    hg_writer_finish(HG_END_EXIT, 0);
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert_uint_eq(parse_header(&t.recs[0]).dump_signal, SIGUSR2);
    size_t i = trace_find(&t, HG_REC_LIVE_BEGIN, 0);
    ck_assert_uint_lt(i, t.n);
    check_live_set(&t, i, HG_DUMP_SIGNAL);
    trace_free(&t);
}
END_TEST

static _Atomic int program_handler_calls;
static void program_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&program_handler_calls, 1);
}

START_TEST(dump_signal_keeps_program_handler)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, SIGUSR2);
    signal(SIGUSR2, program_handler);
    ck_assert_int_eq(hg_writer_start(), 0);
    struct sigaction sa;
    sigaction(SIGUSR2, NULL, &sa);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)program_handler);
    raise(SIGUSR2);
    ck_assert_int_eq(atomic_load(&program_handler_calls), 1);
    hg_writer_finish(HG_END_EXIT, 0);
}
END_TEST

START_TEST(path_patterns)
{
    char p[64];
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "heapgrow.%e.%p.hgt", "prog", 42, false),
                     0);
    ck_assert_str_eq(p, "heapgrow.prog.42.hgt");
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "heapgrow.%e.%p.hgt", "prog", 42, true), 0);
    ck_assert_str_eq(p, "heapgrow.prog.42.hgt");
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "out.hgt", "prog", 42, false), 0);
    ck_assert_str_eq(p, "out.hgt");
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "out.hgt", "prog", 42, true), 0);
    ck_assert_str_eq(p, "out.42.hgt");
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "d.x/trace", "prog", 7, true), 0);
    ck_assert_str_eq(p, "d.x/trace.7");
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "/t/.hgt", "prog", 7, true), 0);
    ck_assert_str_eq(p, "/t/.hgt.7");
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "a.tar.gz", "prog", 7, true), 0);
    ck_assert_str_eq(p, "a.tar.7.gz");
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "%e-100%%.%x", "p", 7, false), 0);
    ck_assert_str_eq(p, "p-100%.%x");
    ck_assert_int_eq(hg_writer_format_path(p, sizeof p, "", "p", 7, false), -EINVAL);
    ck_assert_int_eq(hg_writer_format_path(p, 8, "%e%e", "abcd", 7, false), -ENAMETOOLONG);
    ck_assert_int_eq(hg_writer_format_path(p, 8, "abc.hgt", "p", 7, false), 0);
    ck_assert_int_eq(hg_writer_format_path(p, 8, "abc.hgt", "p", 7, true), -ENAMETOOLONG);
}
END_TEST

START_TEST(exec_descendant_gets_pid_name)
{
    char out[256], expect[256];
    make_dir();
    path_in_dir(out, sizeof out, "x.%e.hgt");
    setenv("HEAPGROW_ROOT_PID", "1", 1); /* the launched program was pid 1 */
    fake_core_init(out, 60000, 0);
    ck_assert_int_eq(hg_writer_start(), 0);
    char exe[PATH_MAX];
    self_exe(exe, sizeof exe);
    snprintf(expect, sizeof expect, "%s/x.%s.%d.hgt", dir, strrchr(exe, '/') + 1, (int)getpid());
    ck_assert_str_eq(hg_writer_path(), expect);
    hg_writer_finish(HG_END_EXIT, 0);
    ck_assert_int_eq(access(expect, R_OK), 0);
}
END_TEST

START_TEST(existing_file_is_never_overwritten)
{
    char out[256], out2[256], err[512], expect[512], pid[16];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    FILE *f = fopen(out, "w");
    fputs("keep", f);
    fclose(f);
    /* Every fallback name is taken too. */
    snprintf(out2, sizeof out2, "%s/t.%d.hgt", dir, (int)getpid());
    close(open(out2, O_WRONLY | O_CREAT, 0600));
    for (int k = 1; k < 100; k++) {
        snprintf(out2, sizeof out2, "%s/t.%d.%d.hgt", dir, (int)getpid(), k);
        close(open(out2, O_WRONLY | O_CREAT, 0600));
    }
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("HEAPGROW_ROOT_PID", pid, 1);
    fake_core_init(out, 60000, 0);
    capture_stderr();
    ck_assert_int_eq(hg_writer_start(), -EEXIST);
    release_stderr(err, sizeof err);
    snprintf(expect, sizeof expect, "heapgrow: cannot write trace %s: File exists\n", out);
    ck_assert_str_eq(err, expect);
    f = fopen(out, "r");
    char text[16] = {0};
    ck_assert_ptr_nonnull(fgets(text, sizeof text, f));
    fclose(f);
    ck_assert_str_eq(text, "keep");
    hg_writer_finish(HG_END_EXIT, 0); /* nothing started: a no-op */
}
END_TEST

START_TEST(existing_file_plain_preload_falls_back)
{
    char out[256], expect[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    close(open(out, O_WRONLY | O_CREAT, 0600));
    unsetenv("HEAPGROW_ROOT_PID");
    fake_core_init(out, 60000, 0);
    ck_assert_int_eq(hg_writer_start(), 0);
    snprintf(expect, sizeof expect, "%s/t.%d.hgt", dir, (int)getpid());
    ck_assert_str_eq(hg_writer_path(), expect);
    hg_writer_finish(HG_END_EXIT, 0);
}
END_TEST

/* An image exec'd by the root process keeps its pid and finds the file of
 * the image before it: it writes beside it under the pid-suffixed name. */
START_TEST(existing_file_exec_image_falls_back)
{
    char out[256], expect[256], pid[16];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    close(open(out, O_WRONLY | O_CREAT, 0600));
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("HEAPGROW_ROOT_PID", pid, 1);
    fake_core_init(out, 60000, 0);
    ck_assert_int_eq(hg_writer_start(), 0);
    snprintf(expect, sizeof expect, "%s/t.%d.hgt", dir, (int)getpid());
    ck_assert_str_eq(hg_writer_path(), expect);
    hg_writer_finish(HG_END_EXIT, 0);
    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_int_eq(st.st_size, 0); /* the first file is untouched */
}
END_TEST

/* A third image in the same pid: "t.<pid>.1.hgt". */
START_TEST(existing_file_exec_chain_numbers)
{
    char out[256], expect[256], pid[16];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    close(open(out, O_WRONLY | O_CREAT, 0600));
    snprintf(expect, sizeof expect, "%s/t.%d.hgt", dir, (int)getpid());
    close(open(expect, O_WRONLY | O_CREAT, 0600));
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("HEAPGROW_ROOT_PID", pid, 1);
    fake_core_init(out, 60000, 0);
    ck_assert_int_eq(hg_writer_start(), 0);
    snprintf(expect, sizeof expect, "%s/t.%d.1.hgt", dir, (int)getpid());
    ck_assert_str_eq(hg_writer_path(), expect);
    hg_writer_finish(HG_END_EXIT, 0);
}
END_TEST

/* A descendant's name carries its pid already ("t.<pid>.hgt"): when an image
 * it exec'd finds that name taken, it writes "t.<pid>.1.hgt", not the pid a
 * second time ("t.<pid>.<pid>.hgt", what a `bash -c` child that exec'd the
 * program used to get). */
START_TEST(existing_file_descendant_numbers)
{
    char out[256], expect[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    snprintf(expect, sizeof expect, "%s/t.%d.hgt", dir, (int)getpid());
    close(open(expect, O_WRONLY | O_CREAT, 0600));
    setenv("HEAPGROW_ROOT_PID", "1", 1); /* the launched program was pid 1 */
    fake_core_init(out, 60000, 0);
    ck_assert_int_eq(hg_writer_start(), 0);
    snprintf(expect, sizeof expect, "%s/t.%d.1.hgt", dir, (int)getpid());
    ck_assert_str_eq(hg_writer_path(), expect);
    hg_writer_finish(HG_END_EXIT, 0);
    ck_assert_int_eq(access(expect, R_OK), 0);
}
END_TEST

/* The same with the pid from "%p" (the default pattern's form). */
START_TEST(existing_file_pid_pattern_numbers)
{
    char out[256], expect[256], pid[16];
    make_dir();
    path_in_dir(out, sizeof out, "x.%p.hgt");
    snprintf(expect, sizeof expect, "%s/x.%d.hgt", dir, (int)getpid());
    close(open(expect, O_WRONLY | O_CREAT, 0600));
    snprintf(expect, sizeof expect, "%s/x.%d.1.hgt", dir, (int)getpid());
    close(open(expect, O_WRONLY | O_CREAT, 0600));
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("HEAPGROW_ROOT_PID", pid, 1);
    fake_core_init(out, 60000, 0);
    ck_assert_int_eq(hg_writer_start(), 0);
    snprintf(expect, sizeof expect, "%s/x.%d.2.hgt", dir, (int)getpid());
    ck_assert_str_eq(hg_writer_path(), expect);
    hg_writer_finish(HG_END_EXIT, 0);
}
END_TEST

START_TEST(symlink_is_not_followed)
{
    char out[256], target[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    path_in_dir(target, sizeof target, "victim");
    ck_assert_int_eq(symlink(target, out), 0);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("HEAPGROW_ROOT_PID", pid, 1);
    fake_core_init(out, 60000, 0);
    /* O_EXCL|O_NOFOLLOW: the link counts as an existing name; the trace goes
     * to the pid-suffixed name and the link's target is never created. */
    ck_assert_int_eq(hg_writer_start(), 0);
    hg_writer_finish(HG_END_EXIT, 0);
    ck_assert_int_eq(access(target, F_OK), -1);
    char expect[256];
    snprintf(expect, sizeof expect, "%s/t.%d.hgt", dir, (int)getpid());
    ck_assert_str_eq(hg_writer_path(), expect);
}
END_TEST

START_TEST(unwritable_path_one_message)
{
    char out[256], err[512], expect[512];
    make_dir();
    path_in_dir(out, sizeof out, "missing/t.hgt");
    fake_core_init(out, 60000, 0);
    capture_stderr();
    ck_assert_int_eq(hg_writer_start(), -ENOENT);
    hg_writer_request_dump(HG_DUMP_API); /* harmless when not started */
    hg_writer_warn(HG_WARN_ARENA, "x");
    hg_writer_finish(HG_END_EXIT, 0);
    release_stderr(err, sizeof err);
    snprintf(expect, sizeof expect, "heapgrow: cannot write trace %s: No such file or directory\n",
             out);
    ck_assert_str_eq(err, expect);
}
END_TEST

/* The disk is full for the trace; stderr still works. */
static ssize_t failing_write(int fd, const void *buf, size_t len)
{
    if (fd == 2)
        return write(fd, buf, len);
    errno = ENOSPC;
    return -1;
}

START_TEST(full_disk_goes_passive_with_one_message)
{
    char out[256], err[512], expect[512];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert_int_eq(hg_writer_start(), 0);
    capture_stderr();
    hg_os.write = failing_write;
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 1);
    hg_writer_finish(HG_END_EXIT, 0);
    release_stderr(err, sizeof err);
    snprintf(expect, sizeof expect, "heapgrow: cannot write trace %s: No space left on device\n",
             out);
    ck_assert_str_eq(err, expect);
    ck_assert_int_eq(atomic_load(&hg_core.state), HG_STATE_PASSIVE);
}
END_TEST

/* `ulimit -f` met by the final live set, which hg_writer_finish writes on the
 * calling thread (here the test's, SIGXFSZ at its default action: killing).
 * The process survives, says so once, and the trace ends with the final
 * snapshot, then a WARNING naming the cause, without END or gzip trailer. */
START_TEST(file_size_limit_at_exit_marks_the_trace)
{
    char out[256], err[512], expect[512];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    /* A live set far larger than the limit below: scattered addresses. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 15000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        fake_live_add((uintptr_t)(0x100000000ull + (x & 0xffffffff0ull)), 16 + (x >> 60), 1,
                      (uint32_t)i);
    }
    ck_assert_int_eq(hg_writer_start(), 0);
    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    const rlim_t limit = (rlim_t)st.st_size + 1024; /* room for the snapshot */
    struct rlimit old_lim, lim = {limit, limit};
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    lim.rlim_max = old_lim.rlim_max;
    capture_stderr();
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    hg_writer_finish(HG_END_EXIT, 0);
    lim.rlim_cur = old_lim.rlim_cur;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    release_stderr(err, sizeof err);
    snprintf(expect, sizeof expect, "heapgrow: cannot write trace %s: File too large\n", out);
    ck_assert_str_eq(err, expect);
    sigset_t pending;
    ck_assert_int_eq(sigpending(&pending), 0);
    ck_assert(!sigismember(&pending, SIGXFSZ));

    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_int_le(st.st_size, (off_t)limit);
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(!t.has_trailer);
    ck_assert_uint_eq(t.tail_bytes, 0);
    ck_assert_uint_ge(t.n, 3);
    ck_assert_uint_eq(trace_count(&t, HG_REC_END), 0);
    ck_assert_uint_eq(trace_count(&t, HG_REC_LIVE_BEGIN), 0);
    ck_assert_uint_eq(t.recs[t.n - 2].tag, HG_REC_SNAPSHOT); /* the final one */
    cur_t c = cur_of(&t.recs[t.n - 2]);
    cur_u(&c);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), 7); /* alloc_count: setup_stacks' 1 + 5 + 1 */
    ck_assert_uint_eq(t.recs[t.n - 1].tag, HG_REC_WARNING);
    c = cur_of(&t.recs[t.n - 1]);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), HG_WARN_WRITE_FAILED);
    char msg[64];
    cur_str(&c, msg, sizeof msg);
    ck_assert_str_eq(msg, "File too large");
    ck_assert(!c.is_bad && c.p == c.end);
    trace_free(&t);
    ck_assert_int_eq(atomic_load(&hg_core.state), HG_STATE_PASSIVE);
}
END_TEST

/* A daemon closes every descriptor and opens a file of its own that gets our
 * trace's number: the writer notices and never writes into that file. */
/* The descriptor number of the trace file `out` in this process, or -1. */
static int trace_fd_of(const char *out)
{
    for (int fd = 3; fd < 1024; fd++) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strcmp(target, out) == 0)
                return fd;
        }
    }
    return -1;
}

/* A daemon closes every descriptor (or dup2s over ours) and opens its own
 * files: the writer never writes the program's file under our old number,
 * never closes it, and opens its own trace again by path (the same inode,
 * exactly the bytes it wrote), at a high number, and goes on. */
START_TEST(replaced_descriptor_is_never_written)
{
    char out[256], other[256], err[512];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    path_in_dir(other, sizeof other, "program.dat");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert_int_eq(hg_writer_start(), 0);
    int trace_fd = trace_fd_of(out);
    ck_assert_int_ge(trace_fd, 3);
    int ofd = open(other, O_WRONLY | O_CREAT, 0600);
    ck_assert_int_ge(ofd, 0);
    capture_stderr();
    ck_assert_int_eq(dup2(ofd, trace_fd), trace_fd);
    close(ofd);
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 1);
    int again = trace_fd_of(out);
    ck_assert_int_ge(again, 100); /* out of the low numbers */
    ck_assert_int_eq(atomic_load(&hg_core.state), HG_STATE_ACTIVE);
    hg_writer_finish(HG_END_EXIT, 0);
    release_stderr(err, sizeof err);
    ck_assert_str_eq(err, "");
    struct stat st;
    ck_assert_int_eq(stat(other, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    /* Still open: the writer did not close the program's descriptor. */
    ck_assert_int_ne(fcntl(trace_fd, F_GETFD), -1);
    ck_assert_int_eq(trace_fd_of(out), -1); /* ours closed at the end */
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.has_trailer);
    ck_assert_uint_eq(trace_count(&t, HG_REC_LIVE_BEGIN), 2); /* the dump, the exit */
    ck_assert_uint_eq(trace_count(&t, HG_REC_END), 1);
    trace_free(&t);
}
END_TEST

/* The same, with the trace's path now naming another file: nothing is written
 * to either file, one message says why, and the tracer turns passive. */
START_TEST(replaced_descriptor_and_path_are_never_written)
{
    char out[256], other[256], moved[256], err[512], expect[512];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    path_in_dir(other, sizeof other, "program.dat");
    path_in_dir(moved, sizeof moved, "t.moved");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert_int_eq(hg_writer_start(), 0);
    int trace_fd = trace_fd_of(out);
    ck_assert_int_ge(trace_fd, 3);
    ck_assert_int_eq(rename(out, moved), 0);
    int pfd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0600); /* the program's now */
    ck_assert_int_ge(pfd, 0);
    close(pfd);
    int ofd = open(other, O_WRONLY | O_CREAT, 0600);
    ck_assert_int_ge(ofd, 0);
    capture_stderr();
    ck_assert_int_eq(dup2(ofd, trace_fd), trace_fd);
    close(ofd);
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 1);
    hg_writer_finish(HG_END_EXIT, 0);
    release_stderr(err, sizeof err);
    snprintf(expect, sizeof expect, "heapgrow: cannot write trace %s: Bad file descriptor\n", out);
    ck_assert_str_eq(err, expect);
    struct stat st;
    ck_assert_int_eq(stat(other, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_int_eq(st.st_size, 0);
    ck_assert_int_ne(fcntl(trace_fd, F_GETFD), -1);
    ck_assert_int_eq(atomic_load(&hg_core.state), HG_STATE_PASSIVE);
}
END_TEST

/* The fatal-signal path: live set with reason FATAL, END(signal, signo). */
/* An id handed out but published only after STACK_RETRIES ticks (a slow
 * interner, not a lost race) is still defined once its frames appear. */
START_TEST(late_published_stack_is_defined)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    ck_assert_uint_eq(fake_stack_add_hole(), 1);
    ck_assert_int_eq(hg_writer_start(), 0);
    for (uint64_t k = 1; k <= 10; k++) { /* 10 ticks: id 1 is given up */
        hg_writer_request_dump(HG_DUMP_API);
        wait_for(hg_writer_dump_count, k);
    }
    fake_stack_publish(1, frames1, 3);
    fake_stack_set(1, 64, 1, 1, 64);
    hg_writer_request_dump(HG_DUMP_API); /* sees the counters: revives id 1 */
    wait_for(hg_writer_dump_count, 11);
    hg_writer_finish(HG_END_EXIT, 0); /* defines it and lists it */
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert_uint_eq(trace_count(&t, HG_REC_STACK), 1);
    size_t i = trace_find(&t, HG_REC_STACK, 0);
    cur_t c = cur_of(&t.recs[i]);
    ck_assert_uint_eq(cur_u(&c), 1);
    snap_t s = parse_snapshot(&t.recs[trace_find(&t, HG_REC_SNAPSHOT, i)]);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_uint_eq(s.e[0].id, 1);
    ck_assert_uint_eq(s.e[0].live_bytes, 64);
    trace_free(&t);
}
END_TEST

/* The size of a week-long steady run, from measured bytes per snapshot: 10 of
 * 50 stacks change every interval (a busy service), 1,500 periodic snapshots
 * at 1 ms (widening to 2 ms after 1,000), then the week's snapshot count at
 * the default 100 ms from hg_writer_interval_ms(). Printed on stderr. */
START_TEST(week_long_trace_is_bounded)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 1, 0);
    uintptr_t fr[12];
    for (uintptr_t st = 0; st < 50; st++) {
        for (uintptr_t k = 0; k < 12; k++)
            fr[k] = 0x400000 + st * 0x100 + k * 0x1000;
        ck_assert_uint_eq(fake_stack_add(fr, 12), st + 1);
    }
    ck_assert_int_eq(hg_writer_start(), 0);
    uint64_t seen = 0, n = 0;
    while (hg_writer_snapshot_count() < 1500) {
        uint64_t c = hg_writer_snapshot_count();
        if (c == seen)
            continue;
        seen = c;
        n++;
        for (uint32_t st = 1; st <= 10; st++)
            fake_stack_set(st, (int64_t)(1000 + (n * 37 + st * 11) % 500) * 16, 1000, n * 100 + st,
                           n * 6400 + st);
    }
    hg_writer_finish(HG_END_EXIT, 0);
    uint64_t snaps = hg_writer_snapshot_count();
    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    double per_snapshot = (double)st.st_size / (double)snaps;

    uint64_t t_ms = 0, week_snaps = 0;
    while (t_ms < 7ull * 24 * 3600 * 1000)
        t_ms += hg_writer_interval_ms(100, week_snaps++);
    double week_mb = per_snapshot * (double)week_snaps / 1e6;
    fprintf(stderr, "# %.1f bytes/snapshot, %llu snapshots a week: %.2f MB\n", per_snapshot,
            (unsigned long long)week_snaps, week_mb);
    ck_assert_uint_eq(week_snaps, 18375);
    ck_assert(per_snapshot < 200.0);
    ck_assert(week_mb < 4.0);
}
END_TEST

/* Waits for `n` more snapshots (changed[0..nchanged) stacks updated before
 * each), and returns the trace's growth in bytes per snapshot meanwhile. The
 * writer writes out every tick's compressed bytes at its flush, so the file
 * size follows the trace. */
static double bytes_per_snapshot(const char *out, uint32_t nchanged, uint64_t n, uint64_t *round)
{
    struct stat st;
    /* Two ticks: the first may still carry the previous phase's changes
     * (and its bytes may reach the file after its count is seen). */
    uint64_t c0 = hg_writer_snapshot_count() + 2;
    while (hg_writer_snapshot_count() < c0)
        ;
    c0 = hg_writer_snapshot_count();
    ck_assert_int_eq(stat(out, &st), 0);
    off_t s0 = st.st_size;
    uint64_t seen = c0;
    while (hg_writer_snapshot_count() < c0 + n) {
        uint64_t c = hg_writer_snapshot_count();
        if (c == seen)
            continue;
        seen = c;
        uint64_t r = ++*round;
        /* counters of a busy stack: live bytes that move, counts that grow */
        for (uint32_t id = 1; id <= nchanged; id++)
            fake_stack_set(id, (int64_t)(1000 + (r * 37 + id * 11) % 500) * 16,
                           (int64_t)(r * 7 + id) % 100, r * 100 + id, (r * 100 + id) * 48);
    }
    uint64_t c1 = hg_writer_snapshot_count();
    ck_assert_int_eq(stat(out, &st), 0);
    return (double)(st.st_size - s0) / (double)(c1 - c0);
}

/*
 * Size of a snapshot as a function of the stacks that changed since the one
 * before (docs/FORMAT.md, "Trace size"): 1,000 stacks of 12 frames, snapshots
 * with none, 100 and all 1,000 of them changed. A snapshot costs a fixed
 * part (time, RSS, totals) and a part per changed stack (five varints).
 */
START_TEST(snapshot_size_by_changed_stacks)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 1, 0);
    uintptr_t fr[12];
    for (uintptr_t st = 0; st < 1000; st++) {
        for (uintptr_t k = 0; k < 12; k++)
            fr[k] = 0x400000 + st * 0x40 + k * 0x10000;
        ck_assert_uint_eq(fake_stack_add(fr, 12), st + 1);
    }
    ck_assert_int_eq(hg_writer_start(), 0);
    uint64_t round = 0;
    /* first: the 1,000 STACK records go out with the first snapshots */
    (void)bytes_per_snapshot(out, 1000, 20, &round);
    double none = bytes_per_snapshot(out, 0, 200, &round);
    double some = bytes_per_snapshot(out, 100, 200, &round);
    double all = bytes_per_snapshot(out, 1000, 200, &round);
    hg_writer_finish(HG_END_EXIT, 0);
    double per_some = (some - none) / 100.0, per_all = (all - none) / 1000.0;
    fprintf(stderr,
            "# bytes per snapshot: %.1f with no stack changed; %.1f with 100 (%.2f per changed "
            "stack); %.1f with 1000 (%.2f per changed stack)\n",
            none, some, per_some, all, per_all);
    /* Upper bounds only: on a loaded machine this thread may miss ticks, and
     * a snapshot it did not update is smaller, never larger. */
    ck_assert(none < 64.0);
    ck_assert(per_some < 16.0);
    ck_assert(per_all < 16.0);
}
END_TEST

START_TEST(fatal_finish_records_signal)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert_int_eq(hg_writer_start(), 0);
    hg_writer_finish(HG_END_SIGNAL, SIGSEGV);
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.has_trailer);
    size_t i = trace_find(&t, HG_REC_LIVE_BEGIN, 0);
    ck_assert_uint_lt(i, t.n);
    i = check_live_set(&t, i, HG_DUMP_FATAL);
    ck_assert_uint_eq(i, t.n - 1);
    cur_t c = cur_of(&t.recs[i]);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), HG_END_SIGNAL);
    ck_assert_int_eq(cur_s(&c), SIGSEGV);
    trace_free(&t);
}
END_TEST

/* A terminating signal from outside: the handler only asks, the writer
 * thread writes the final records as at exit (live set HG_DUMP_EXIT), with
 * the signal in END. */
START_TEST(signal_finish_by_writer_thread)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert(hg_writer_wait_finished(UINT64_MAX)); /* nothing claimed: at once */
    ck_assert_int_eq(hg_writer_start(), 0);
    ck_assert_int_eq(hg_writer_request_finish(SIGINT), 1);
    ck_assert_int_eq(hg_writer_request_finish(SIGTERM), 0); /* claimed already */
    ck_assert(hg_writer_wait_finished(UINT64_MAX));
    ck_assert_int_eq(atomic_load(&hg_core.state), HG_STATE_PASSIVE);
    /* Written already: a handler must end the process itself. */
    ck_assert(!hg_writer_signal_when_finished(SIGINT));
    hg_writer_finish(HG_END_EXIT, 0); /* done: returns at once, writes nothing */
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.has_trailer);
    size_t i = trace_find(&t, HG_REC_LIVE_BEGIN, 0);
    ck_assert_uint_lt(i, t.n);
    i = check_live_set(&t, i, HG_DUMP_EXIT);
    ck_assert_uint_eq(i, t.n - 1);
    cur_t c = cur_of(&t.recs[i]);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), HG_END_SIGNAL);
    ck_assert_int_eq(cur_s(&c), SIGINT);
    trace_free(&t);
}
END_TEST

/* An exit racing with a signal's final records: hg_writer_finish() returns
 * only once they are written (else the exit would cut them short). */
START_TEST(late_finish_waits_for_the_first)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    for (int k = 0; k < 2000; k++) /* a live set that takes the thread a while */
        fake_live_add(0x100000 + (uintptr_t)k * 64, 24, 1, 12);
    ck_assert_int_eq(hg_writer_start(), 0);
    ck_assert_int_eq(hg_writer_request_finish(SIGHUP), 1);
    hg_writer_finish(HG_END_EXIT, 3);
    trace_t t; /* read at once: complete */
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.has_trailer);
    size_t i = trace_find(&t, HG_REC_END, 0);
    ck_assert_uint_eq(i, t.n - 1);
    cur_t c = cur_of(&t.recs[i]);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), HG_END_SIGNAL); /* the first caller's */
    ck_assert_int_eq(cur_s(&c), SIGHUP);
    trace_free(&t);
}
END_TEST

/* No trace (never started): nothing for a handler to ask or wait for. */
START_TEST(signal_finish_without_trace)
{
    ck_assert_int_eq(hg_writer_request_finish(SIGINT), 0);
    ck_assert(hg_writer_wait_finished(UINT64_MAX));
}
END_TEST

/* More live entries than one LIVE_CHUNK holds: 4096 per chunk, address
 * deltas restarting in each. */
START_TEST(live_set_spans_chunks)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    ck_assert_uint_eq(fake_stack_add(frames1, 3), 1);
    fake_stack_set(1, 10000 * 48, 10000, 10000, 10000 * 48);
    for (uint32_t k = 0; k < 10000; k++)
        fake_live_add(0x100000 + (uintptr_t)k * 64, 48, 1, k);
    ck_assert_int_eq(hg_writer_start(), 0);
    hg_writer_finish(HG_END_EXIT, 0);
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    size_t i = trace_find(&t, HG_REC_LIVE_BEGIN, 0);
    ck_assert_uint_lt(i, t.n);
    const uint64_t per_chunk[] = {4096, 4096, 1808};
    uint64_t k = 0;
    for (int ch = 0; ch < 3; ch++) {
        const trace_rec_t *r = &t.recs[i + 1 + (size_t)ch];
        ck_assert_uint_eq(r->tag, HG_REC_LIVE_CHUNK);
        cur_t c = cur_of(r);
        ck_assert_uint_eq(cur_u(&c), per_chunk[ch]);
        uint64_t a = 0;
        for (uint64_t e = 0; e < per_chunk[ch]; e++, k++) {
            a += (uint64_t)cur_s(&c);
            ck_assert_uint_eq(a, 0x100000 + k * 64);
            ck_assert_uint_eq(cur_u(&c), 48);
            ck_assert_uint_eq(cur_u(&c), 1);
            ck_assert_uint_eq(cur_u(&c), k);
        }
        ck_assert_ptr_eq(c.p, c.end);
    }
    ck_assert_uint_eq(t.recs[i + 4].tag, HG_REC_LIVE_END);
    cur_t c = cur_of(&t.recs[i + 4]);
    ck_assert_uint_eq(cur_u(&c), 10000);
    trace_free(&t);
}
END_TEST

/* Eight warnings can be pending; a ninth is dropped, not corrupted. */
START_TEST(warnings_bounded)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    ck_assert_int_eq(hg_writer_start(), 0);
    for (int k = 0; k < 9; k++)
        hg_writer_warn(HG_WARN_ARENA, "arena");
    hg_writer_finish(HG_END_EXIT, 0);
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert_uint_eq(trace_count(&t, HG_REC_WARNING), 8);
    trace_free(&t);
}
END_TEST

/* A vfork child (shared memory, no fork handlers) that reaches the exit path
 * must not end the parent's trace. */
START_TEST(vfork_child_cannot_finish_parent_trace)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert_int_eq(hg_writer_start(), 0);
    pid_t pid = vfork();
    if (pid == 0) {
        hg_writer_finish(HG_END_UEXIT, 9);
        _exit(0);
    }
    ck_assert_int_gt(pid, 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    hg_writer_finish(HG_END_EXIT, 4);
    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.has_trailer);
    ck_assert_uint_eq(trace_count(&t, HG_REC_END), 1);
    cur_t c = cur_of(&t.recs[t.n - 1]);
    ck_assert_uint_eq(t.recs[t.n - 1].tag, HG_REC_END);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), HG_END_EXIT);
    ck_assert_int_eq(cur_s(&c), 4);
    trace_free(&t);
}
END_TEST

START_TEST(fork_child_writes_own_trace)
{
    char out[256], child_out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    unsetenv("HEAPGROW_ROOT_PID");
    fake_core_init(out, 60000, 0);
    setup_stacks();
    ck_assert_int_eq(
        pthread_atfork(hg_writer_atfork_prepare, hg_writer_atfork_parent, hg_writer_atfork_child),
        0);
    ck_assert_int_eq(hg_writer_start(), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        hg_writer_finish(HG_END_EXIT, 3);
        _exit(0);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(status, 0);
    hg_writer_finish(HG_END_EXIT, 0);

    snprintf(child_out, sizeof child_out, "%s/t.%d.hgt", dir, (int)pid);
    trace_t t;
    ck_assert_int_eq(trace_load(child_out, &t), 0);
    ck_assert(t.has_trailer);
    header_t h = parse_header(&t.recs[0]);
    ck_assert_uint_eq(h.pid, (uint64_t)pid);
    ck_assert_uint_eq(h.ppid, (uint64_t)getpid());
    ck_assert_uint_eq(h.flags, HG_HDR_FORKED);
    ck_assert_uint_ge(trace_count(&t, HG_REC_MODULE_LOAD), 3);
    ck_assert_uint_eq(trace_count(&t, HG_REC_STACK), 2);
    /* The first snapshot counts the inherited live set. */
    snap_t s = parse_snapshot(&t.recs[trace_find(&t, HG_REC_SNAPSHOT, 0)]);
    ck_assert_uint_eq(s.live_bytes, 348);
    ck_assert_uint_eq(s.live_count, 5);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_uint_eq(trace_count(&t, HG_REC_SNAPSHOT), 2);
    cur_t c = cur_of(&t.recs[t.n - 1]);
    ck_assert_uint_eq(t.recs[t.n - 1].tag, HG_REC_END);
    cur_u(&c);
    cur_u(&c);
    ck_assert_int_eq(cur_s(&c), 3);
    check_times_nondecreasing(&t);
    trace_free(&t);

    /* The parent's trace is whole and its own. */
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.has_trailer);
    ck_assert_uint_eq(parse_header(&t.recs[0]).pid, (uint64_t)getpid());
    ck_assert_uint_eq(trace_count(&t, HG_REC_HEADER), 1);
    ck_assert_uint_eq(trace_count(&t, HG_REC_END), 1);
    ck_assert_uint_eq(t.recs[t.n - 1].tag, HG_REC_END);
    trace_free(&t);
}
END_TEST

START_TEST(sigkill_leaves_readable_prefix)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fake_core_init(out, 1, 0);
        setup_stacks();
        if (hg_writer_start() != 0)
            _exit(1);
        uint64_t n = 0;
        /* Counters keep changing while the writer snapshots every 1 ms. */
        for (;;) {
            n++;
            fake_stack_set(1, (int64_t)n, 1, n, n);
            if (n % 1024 == 0 && hg_writer_snapshot_count() >= 20 && fds[1] >= 0) {
                ssize_t rc = write(fds[1], "x", 1);
                (void)rc;
                close(fds[1]);
                fds[1] = -1;
            }
        }
    }
    close(fds[1]);
    char byte;
    ck_assert_int_eq(read(fds[0], &byte, 1), 1);
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));

    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(!t.has_trailer);
    ck_assert(t.is_magic_ok);
    ck_assert_uint_eq(t.tail_bytes, 0); /* only complete records */
    ck_assert_uint_eq(t.recs[0].tag, HG_REC_HEADER);
    ck_assert_uint_ge(trace_count(&t, HG_REC_SNAPSHOT), 20);
    ck_assert_uint_eq(trace_count(&t, HG_REC_END), 0);
    ck_assert_uint_eq(t.recs[t.n - 1].tag, HG_REC_SNAPSHOT);
    for (size_t i = 0; i < t.n; i++)
        if (t.recs[i].tag == HG_REC_SNAPSHOT)
            parse_snapshot(&t.recs[i]); /* each one well-formed */
    check_times_nondecreasing(&t);
    trace_free(&t);
}
END_TEST

START_TEST(modules_load_and_unload)
{
    char out[256];
    make_dir();
    path_in_dir(out, sizeof out, "t.hgt");
    fake_core_init(out, 60000, 0);
    ck_assert_int_eq(hg_writer_start(), 0);
    void *h = dlopen("libelf.so.1", RTLD_NOW | RTLD_LOCAL);
    ck_assert_ptr_nonnull(h);
    hg_writer_modules_changed();
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 1);
    ck_assert_int_eq(dlclose(h), 0);
    hg_writer_request_dump(HG_DUMP_API);
    wait_for(hg_writer_dump_count, 2);
    hg_writer_finish(HG_END_EXIT, 0);

    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    size_t first_snap = trace_find(&t, HG_REC_SNAPSHOT, 0);
    uint64_t elf_id = 0;
    size_t at = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (t.recs[i].tag != HG_REC_MODULE_LOAD)
            continue;
        cur_t c = cur_of(&t.recs[i]);
        uint64_t id = cur_u(&c);
        cur_u(&c);
        cur_u(&c);
        cur_u(&c);
        cur_u(&c);
        char path[PATH_MAX];
        cur_str(&c, path, sizeof path);
        if (strstr(path, "libelf") != NULL) {
            elf_id = id;
            at = i;
            const uint8_t *bid;
            ck_assert_uint_eq(cur_b(&c, &bid), 20);
        }
    }
    ck_assert_uint_ne(elf_id, 0);
    ck_assert_uint_lt(at, first_snap); /* loaded in the first tick */
    bool is_unloaded = false;
    for (size_t i = first_snap + 1; i < t.n; i++) {
        if (t.recs[i].tag != HG_REC_MODULE_UNLOAD)
            continue;
        cur_t c = cur_of(&t.recs[i]);
        if (cur_u(&c) == elf_id)
            is_unloaded = true;
    }
    ck_assert(is_unloaded);
    check_times_nondecreasing(&t);
    trace_free(&t);
}
END_TEST

START_TEST(interval_widens_to_60s)
{
    ck_assert_uint_eq(hg_writer_interval_ms(100, 0), 100);
    ck_assert_uint_eq(hg_writer_interval_ms(100, 999), 100);
    ck_assert_uint_eq(hg_writer_interval_ms(100, 1000), 200);
    ck_assert_uint_eq(hg_writer_interval_ms(100, 9999), 51200);
    ck_assert_uint_eq(hg_writer_interval_ms(100, 10000), 60000);
    ck_assert_uint_eq(hg_writer_interval_ms(100, UINT64_MAX), 60000);
    ck_assert_uint_eq(hg_writer_interval_ms(0, 0), 100);
    ck_assert_uint_eq(hg_writer_interval_ms(50000, 1000), 60000);
    ck_assert_uint_eq(hg_writer_interval_ms(90000, 5000), 90000);

    /* A simulated week at the default interval: how many snapshots. */
    uint64_t t_ms = 0, n = 0;
    const uint64_t week_ms = 7ull * 24 * 3600 * 1000;
    while (t_ms < week_ms) {
        t_ms += hg_writer_interval_ms(100, n);
        n++;
    }
    /* 10 doublings x 1,000 snapshots (102,300 s), then every 60 s. */
    ck_assert_uint_eq(n, 10000 + (week_ms - 102300000 + 59999) / 60000);
}
END_TEST

static Suite *writer_suite(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tcase_create("trace");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, roundtrip_exact_records);
    tcase_add_test(tc, snapshot_lists_changed_stacks_only);
    tcase_add_test(tc, snapshot_with_a_thousand_changed_stacks);
    tcase_add_test(tc, sampled_snapshot_carries_estimates);
    tcase_add_test(tc, modules_load_and_unload);
    tcase_add_test(tc, interval_widens_to_60s);
    tcase_add_test(tc, late_published_stack_is_defined);
    tcase_add_test(tc, week_long_trace_is_bounded);
    tcase_add_test(tc, snapshot_size_by_changed_stacks);
    tcase_add_test(tc, fatal_finish_records_signal);
    tcase_add_test(tc, signal_finish_by_writer_thread);
    tcase_add_test(tc, late_finish_waits_for_the_first);
    tcase_add_test(tc, signal_finish_without_trace);
    tcase_add_test(tc, live_set_spans_chunks);
    tcase_add_test(tc, warnings_bounded);
    suite_add_tcase(s, tc);
    tc = tcase_create("signal");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, dump_signal_requests_live_set);
    tcase_add_test(tc, dump_signal_keeps_program_handler);
    suite_add_tcase(s, tc);
    tc = tcase_create("output");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, path_patterns);
    tcase_add_test(tc, exec_descendant_gets_pid_name);
    tcase_add_test(tc, existing_file_is_never_overwritten);
    tcase_add_test(tc, existing_file_plain_preload_falls_back);
    tcase_add_test(tc, existing_file_exec_image_falls_back);
    tcase_add_test(tc, existing_file_exec_chain_numbers);
    tcase_add_test(tc, existing_file_descendant_numbers);
    tcase_add_test(tc, existing_file_pid_pattern_numbers);
    tcase_add_test(tc, symlink_is_not_followed);
    tcase_add_test(tc, unwritable_path_one_message);
    tcase_add_test(tc, full_disk_goes_passive_with_one_message);
    tcase_add_test(tc, file_size_limit_at_exit_marks_the_trace);
    tcase_add_test(tc, replaced_descriptor_is_never_written);
    tcase_add_test(tc, replaced_descriptor_and_path_are_never_written);
    suite_add_tcase(s, tc);
    tc = tcase_create("process");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fork_child_writes_own_trace);
    tcase_add_test(tc, vfork_child_cannot_finish_parent_trace);
    tcase_add_test(tc, sigkill_leaves_readable_prefix);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(writer_suite());
    /* Each test needs a fresh process: the writer starts once per process. */
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
