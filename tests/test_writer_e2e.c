/*
 * End-to-end tests of the trace writer inside a real process: runs
 * tests/test_writer_target.c under LD_PRELOAD=libheapgrow.so (paths from the
 * environment: HG_LIB, HG_TARGET) and decodes its traces with
 * test_writer_decode.c, independently of the analyzer. Checks the record
 * sequence of docs/FORMAT.md, exit statuses, SIGKILL mid-run, an unwritable
 * output, and a fork child's own trace.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <heapgrow/format.h>

#include "test_writer_decode.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/hgwe.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    ck_assert_msg(v != NULL && v[0] != '\0', "%s is not set", name);
    return v;
}

/* Starts the target under the tracer; stderr goes to err_path. */
static pid_t spawn_target(const char *mode, const char *output, const char *interval_ms,
                          const char *err_path)
{
    const char *lib = env_or_fail("HG_LIB");
    const char *target = env_or_fail("HG_TARGET");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char self[32];
        snprintf(self, sizeof self, "%d", (int)getpid());
        setenv("LD_PRELOAD", lib, 1);
        setenv("HEAPGROW_OUTPUT", output, 1);
        setenv("HEAPGROW_ROOT_PID", self, 1); /* as `heapgrow run` does */
        setenv("HEAPGROW_INTERVAL_MS", interval_ms, 1);
        unsetenv("HEAPGROW_QUIET");
        int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            close(fd);
        }
        execl(target, target, mode, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static void read_text(const char *path, char *dst, size_t cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(dst, 1, cap - 1, f);
    dst[n] = '\0';
    fclose(f);
}

static void check_times_nondecreasing(const trace_t *t)
{
    uint64_t prev = 0;
    for (size_t i = 0; i < t->n; i++) {
        cur_t c = cur_of(&t->recs[i]);
        uint64_t v;
        switch (t->recs[i].tag) {
        case HG_REC_MODULE_LOAD:
        case HG_REC_MODULE_UNLOAD:
            cur_u(&c);
            v = cur_u(&c);
            break;
        case HG_REC_SNAPSHOT:
        case HG_REC_LIVE_BEGIN:
        case HG_REC_END:
        case HG_REC_WARNING:
            v = cur_u(&c);
            break;
        default:
            continue;
        }
        ck_assert_uint_ge(v, prev);
        prev = v;
    }
}

typedef struct hdr {
    uint64_t pid, ppid, flags;
    char exe[PATH_MAX];
} hdr_t;

static hdr_t header_of(const trace_t *t)
{
    hdr_t h;
    ck_assert_uint_ge(t->n, 1);
    ck_assert_uint_eq(t->recs[0].tag, HG_REC_HEADER);
    cur_t c = cur_of(&t->recs[0]);
    h.pid = cur_u(&c);
    h.ppid = cur_u(&c);
    cur_u(&c);
    cur_u(&c);
    cur_str(&c, h.exe, sizeof h.exe);
    uint64_t argc = cur_u(&c);
    for (uint64_t i = 0; i < argc; i++) {
        const uint8_t *p;
        cur_b(&c, &p);
    }
    for (int i = 0; i < 4; i++)
        cur_u(&c);
    const uint8_t *p;
    cur_b(&c, &p);
    cur_u(&c);
    h.flags = cur_u(&c);
    ck_assert(!c.is_bad);
    return h;
}

/* Build-id length of the MODULE_LOAD whose path is `path`, or -1. */
static long module_build_id_len(const trace_t *t, const char *path)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->recs[i].tag != HG_REC_MODULE_LOAD)
            continue;
        cur_t c = cur_of(&t->recs[i]);
        for (int k = 0; k < 5; k++)
            cur_u(&c);
        char p[PATH_MAX];
        cur_str(&c, p, sizeof p);
        const uint8_t *bid;
        size_t n = cur_b(&c, &bid);
        if (!c.is_bad && strcmp(p, path) == 0)
            return (long)n;
    }
    return -1;
}

/* Counts entries of the last live-set dump with the given size. */
static uint64_t live_entries_of_size(const trace_t *t, uint64_t size, uint64_t *reason)
{
    size_t begin = t->n;
    for (size_t i = 0; i < t->n; i++)
        if (t->recs[i].tag == HG_REC_LIVE_BEGIN)
            begin = i;
    ck_assert_uint_lt(begin, t->n);
    cur_t c = cur_of(&t->recs[begin]);
    cur_u(&c);
    *reason = cur_u(&c);
    uint64_t n_match = 0, n_total = 0;
    size_t i = begin + 1;
    for (; i < t->n && t->recs[i].tag == HG_REC_LIVE_CHUNK; i++) {
        c = cur_of(&t->recs[i]);
        uint64_t n = cur_u(&c);
        for (uint64_t k = 0; k < n; k++) {
            cur_s(&c);
            n_match += cur_u(&c) == size;
            cur_u(&c);
            cur_u(&c);
            n_total++;
        }
        ck_assert(!c.is_bad);
        ck_assert_ptr_eq(c.p, c.end);
    }
    ck_assert_uint_lt(i, t->n);
    ck_assert_uint_eq(t->recs[i].tag, HG_REC_LIVE_END);
    c = cur_of(&t->recs[i]);
    ck_assert_uint_eq(cur_u(&c), n_total);
    return n_match;
}

static void check_end(const trace_t *t, uint64_t reason, int64_t status)
{
    ck_assert(t->has_trailer);
    ck_assert_uint_eq(t->tail_bytes, 0);
    ck_assert_uint_eq(t->recs[t->n - 1].tag, HG_REC_END);
    cur_t c = cur_of(&t->recs[t->n - 1]);
    cur_u(&c);
    ck_assert_uint_eq(cur_u(&c), reason);
    ck_assert_int_eq(cur_s(&c), status);
}

START_TEST(leak_run_trace)
{
    char out[256], err[256], exe[PATH_MAX];
    make_dir();
    snprintf(out, sizeof out, "%s/t.hgt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    pid_t pid = spawn_target("leak", out, "100", err);
    int status = wait_status(pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 5);

    trace_t t;
    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(t.is_magic_ok);
    ck_assert_uint_eq(t.version, HG_FORMAT_VERSION_EXACT);
    hdr_t h = header_of(&t);
    ck_assert_uint_eq(h.pid, (uint64_t)pid);
    ck_assert_uint_eq(h.ppid, (uint64_t)getpid());
    ck_assert_uint_eq(h.flags, 0);
    ck_assert_ptr_nonnull(realpath(env_or_fail("HG_TARGET"), exe));
    ck_assert_str_eq(h.exe, exe);
    ck_assert_int_gt(module_build_id_len(&t, exe), 0);
    ck_assert_uint_eq(trace_count(&t, HG_REC_HEADER), 1);
    ck_assert_uint_ge(trace_count(&t, HG_REC_SNAPSHOT), 1);
    check_times_nondecreasing(&t);
    uint64_t reason;
    /* Ten leaked blocks of 4321 bytes; the 777-byte ones were freed. */
    ck_assert_uint_eq(live_entries_of_size(&t, 4321, &reason), 10);
    ck_assert_uint_eq(live_entries_of_size(&t, 777, &reason), 0);
    ck_assert_uint_eq(reason, HG_DUMP_EXIT);
    check_end(&t, HG_END_EXIT, 5);
    trace_free(&t);
}
END_TEST

START_TEST(sigkill_mid_run)
{
    char out[256], err[256];
    make_dir();
    snprintf(out, sizeof out, "%s/t.hgt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    pid_t pid = spawn_target("loop", out, "1", err);
    /* Wait (bounded) until the trace holds 5 snapshots: a condition on the
     * file, not a timing assumption. */
    trace_t t;
    size_t snaps = 0;
    for (int i = 0; i < 20000 && snaps < 5; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        if (trace_load(out, &t) == 0) {
            snaps = trace_count(&t, HG_REC_SNAPSHOT);
            trace_free(&t);
        }
    }
    ck_assert_uint_ge(snaps, 5);
    kill(pid, SIGKILL);
    int status = wait_status(pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGKILL);

    ck_assert_int_eq(trace_load(out, &t), 0);
    ck_assert(!t.has_trailer);
    ck_assert_uint_eq(t.tail_bytes, 0);
    ck_assert_uint_eq(header_of(&t).pid, (uint64_t)pid);
    ck_assert_uint_ge(trace_count(&t, HG_REC_SNAPSHOT), 5);
    ck_assert_uint_eq(trace_count(&t, HG_REC_END), 0);
    ck_assert_uint_eq(t.recs[t.n - 1].tag, HG_REC_SNAPSHOT);
    check_times_nondecreasing(&t);
    trace_free(&t);
}
END_TEST

START_TEST(unwritable_output)
{
    char out[256], err[256], text[1024], expect[512];
    make_dir();
    snprintf(out, sizeof out, "%s/missing/t.hgt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    pid_t pid = spawn_target("leak", out, "100", err);
    int status = wait_status(pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 5);
    read_text(err, text, sizeof text);
    snprintf(expect, sizeof expect, "heapgrow: cannot write trace %s: No such file or directory\n",
             out);
    ck_assert_str_eq(text, expect);
}
END_TEST

START_TEST(fork_child_trace)
{
    char out[256], err[256], child_out[PATH_MAX] = "";
    make_dir();
    snprintf(out, sizeof out, "%s/t.hgt", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    pid_t pid = spawn_target("fork", out, "100", err);
    int status = wait_status(pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);

    /* The child's trace is "t.<childpid>.hgt", the only other .hgt file. */
    DIR *d = opendir(dir);
    struct dirent *de;
    int n_traces = 0;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".hgt") == 0) {
            n_traces++;
            if (strcmp(de->d_name, "t.hgt") != 0)
                snprintf(child_out, sizeof child_out, "%s/%s", dir, de->d_name);
        }
    }
    closedir(d);
    ck_assert_int_eq(n_traces, 2);

    trace_t t;
    ck_assert_int_eq(trace_load(child_out, &t), 0);
    hdr_t h = header_of(&t);
    ck_assert_uint_eq(h.ppid, (uint64_t)pid);
    ck_assert_uint_eq(h.flags, HG_HDR_FORKED);
    char expect[PATH_MAX];
    snprintf(expect, sizeof expect, "%s/t.%llu.hgt", dir, (unsigned long long)h.pid);
    ck_assert_str_eq(child_out, expect);
    uint64_t reason;
    /* Inherited: 3 x 4321; its own: 2 x 999. */
    ck_assert_uint_eq(live_entries_of_size(&t, 4321, &reason), 3);
    ck_assert_uint_eq(live_entries_of_size(&t, 999, &reason), 2);
    check_end(&t, HG_END_EXIT, 0);
    check_times_nondecreasing(&t);
    trace_free(&t);

    ck_assert_int_eq(trace_load(out, &t), 0);
    h = header_of(&t);
    ck_assert_uint_eq(h.pid, (uint64_t)pid);
    ck_assert_uint_eq(h.flags, 0);
    ck_assert_uint_eq(live_entries_of_size(&t, 4321, &reason), 3);
    ck_assert_uint_eq(live_entries_of_size(&t, 999, &reason), 0);
    check_end(&t, HG_END_EXIT, 0);
    trace_free(&t);
}
END_TEST

static Suite *writer_e2e_suite(void)
{
    Suite *s = suite_create("writer_e2e");
    TCase *tc = tcase_create("preload");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, leak_run_trace);
    tcase_add_test(tc, sigkill_mid_run);
    tcase_add_test(tc, unwritable_output);
    tcase_add_test(tc, fork_child_trace);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(writer_e2e_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
