/*
 * `heapgrow run` and `heapgrow check`: run a program with libheapgrow.so
 * preloaded; run says where its trace went and summarizes it, check applies
 * the CI gate (gate.c) to it. It owns the child's environment (LD_PRELOAD, HEAPGROW_*),
 * signal forwarding and the shell-like exit status; it never touches the trace
 * except to read it afterwards for the short report. It refuses programs the
 * loader cannot preload into (static executables) rather than run them
 * silently untraced. Contract for users: docs/USAGE.md.
 */
#include "launch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gelf.h>
#include <libelf.h>

#include "heapgrow/estimate.h"

#include "escape.h"
#include "family.h"
#include "gate.h"
#include "reader.h"
#include "report.h"
#include "sarif.h"

#ifndef HG_LIBDIR
#define HG_LIBDIR "/usr/local/lib/heapgrow"
#endif

#define LIB_NAME "libheapgrow.so"

/* Signals a user sends to heapgrow that the program should get instead. */
static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof(forwarded_signals) / sizeof(forwarded_signals[0]))

/* The running child, for the signal handler (0 before fork). */
static volatile sig_atomic_t child_pid;

/* ------------------------------------------------------------------------ */
/* Inspecting the program                                                    */

static enum hg_exe_kind inspect_elf(int fd)
{
    enum hg_exe_kind kind = HG_EXE_UNKNOWN;
    if (elf_version(EV_CURRENT) == EV_NONE)
        return HG_EXE_UNKNOWN;
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (e == NULL)
        return HG_EXE_UNKNOWN;
    GElf_Ehdr eh;
    size_t nph = 0, shstrndx = 0;
    if (elf_kind(e) != ELF_K_ELF || gelf_getehdr(e, &eh) == NULL ||
        (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) || elf_getphdrnum(e, &nph) != 0)
        goto out;
    bool has_interp = false;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(e, (int)i, &ph) != NULL && ph.p_type == PT_INTERP)
            has_interp = true;
    }
    /* Go marks its binaries with a .go.buildinfo section (Go >= 1.13) and a
     * Go build-id note. */
    bool is_go = false;
    if (elf_getshdrstrndx(e, &shstrndx) == 0) {
        for (Elf_Scn *scn = elf_nextscn(e, NULL); scn != NULL; scn = elf_nextscn(e, scn)) {
            GElf_Shdr sh;
            const char *name;
            if (gelf_getshdr(scn, &sh) == NULL ||
                (name = elf_strptr(e, shstrndx, sh.sh_name)) == NULL)
                continue;
            if (strcmp(name, ".go.buildinfo") == 0 || strcmp(name, ".note.go.buildid") == 0)
                is_go = true;
        }
    }
    if (!has_interp)
        kind = is_go ? HG_EXE_STATIC_GO : HG_EXE_STATIC;
    else
        kind = is_go ? HG_EXE_GO : HG_EXE_DYNAMIC;
out:
    elf_end(e);
    return kind;
}

enum hg_exe_kind hg_launch_inspect(const char *path)
{
    enum hg_exe_kind kind = HG_EXE_UNKNOWN;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return HG_EXE_UNKNOWN;
    char head[256];
    ssize_t n = pread(fd, head, sizeof(head) - 1, 0);
    if (n > 2 && head[0] == '#' && head[1] == '!') {
        /* A script: what matters is its interpreter ("#!/bin/sh -e"). One
         * level only, as the kernel allows interpreters that are scripts
         * only to a small depth anyway. */
        head[n] = '\0';
        char *p = head + 2;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, " \t\n");
        p[len] = '\0';
        if (len > 0) {
            int ifd = open(p, O_RDONLY | O_CLOEXEC);
            if (ifd >= 0) {
                kind = inspect_elf(ifd);
                close(ifd);
            }
        }
    } else if (n > 0) {
        kind = inspect_elf(fd);
    }
    close(fd);
    return kind;
}

/* execvp's search, without executing: the path of the file execvp would run,
 * into buf. Returns 0 or -ENOENT. */
static int resolve_program(const char *prog, char *buf, size_t len)
{
    if (strchr(prog, '/') != NULL) {
        snprintf(buf, len, "%s", prog);
        return 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/bin:/usr/bin";
    for (const char *p = path;; p++) {
        const char *colon = strchrnul(p, ':');
        int dlen = (int)(colon - p);
        /* An empty PATH element is the current directory. */
        snprintf(buf, len, "%.*s%s%s", dlen, p, dlen > 0 ? "/" : "", prog);
        struct stat st;
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
            return 0;
        if (*colon == '\0')
            break;
        p = colon;
    }
    return -ENOENT;
}

/* ------------------------------------------------------------------------ */
/* The library                                                               */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int hg_launch_find_library(char *buf, size_t len)
{
    const char *env = getenv("HEAPGROW_LIB");
    if (env != NULL && env[0] != '\0') {
        if (!is_file(env)) {
            snprintf(buf, len, "HEAPGROW_LIB=%s: no such file", env);
            return -ENOENT;
        }
        if (realpath(env, buf) == NULL || strlen(buf) >= len)
            snprintf(buf, len, "%s", env);
        return 0;
    }
    /* The build tree: <build>/analyzer/heapgrow next to <build>/preload/. */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            char cand[PATH_MAX + 32];
            snprintf(cand, sizeof(cand), "%s/../preload/" LIB_NAME, self);
            char real[PATH_MAX];
            if (is_file(cand) && realpath(cand, real) != NULL && strlen(real) < len) {
                snprintf(buf, len, "%s", real);
                return 0;
            }
        }
    }
#ifdef HG_LIBDIR_FROM_BINDIR
    /* An install moved as a whole (or staged with DESTDIR): the library
     * directory relative to this executable's. */
    if (n > 0 && self[0] == '/') {
        char cand[PATH_MAX + 64];
        snprintf(cand, sizeof(cand), "%s/" HG_LIBDIR_FROM_BINDIR "/" LIB_NAME, self);
        char real[PATH_MAX];
        if (is_file(cand) && realpath(cand, real) != NULL && strlen(real) < len) {
            snprintf(buf, len, "%s", real);
            return 0;
        }
    }
#endif
    if (is_file(HG_LIBDIR "/" LIB_NAME)) {
        snprintf(buf, len, "%s", HG_LIBDIR "/" LIB_NAME);
        return 0;
    }
    snprintf(buf, len,
             "cannot find " LIB_NAME
             " (looked beside this executable's build tree and in " HG_LIBDIR
             "); set HEAPGROW_LIB to its path");
    return -ENOENT;
}

/* ------------------------------------------------------------------------ */
/* The output name                                                           */

/* Expands %p (pid), %e (executable name) and %% of -o's pattern into an
 * absolute path: the launcher decides the name, so that it can say where the
 * trace went. Returns 0, -EINVAL for another '%' sequence, -ENAMETOOLONG. */
static int expand_output(const char *pattern, long pid, const char *exe_name, char *buf, size_t len)
{
    size_t o = 0;
    if (pattern[0] != '/') {
        if (getcwd(buf, len) == NULL)
            return -errno;
        o = strlen(buf);
        if (o + 1 < len && (o == 0 || buf[o - 1] != '/'))
            buf[o++] = '/';
    }
    for (const char *p = pattern; *p != '\0'; p++) {
        char tmp[64];
        const char *ins = NULL;
        if (*p == '%') {
            if (p[1] == 'p') {
                snprintf(tmp, sizeof(tmp), "%ld", pid);
                ins = tmp;
            } else if (p[1] == 'e') {
                ins = exe_name;
            } else if (p[1] == '%') {
                ins = "%";
            } else {
                return -EINVAL;
            }
            p++;
        } else {
            tmp[0] = *p;
            tmp[1] = '\0';
            ins = tmp;
        }
        size_t n = strlen(ins);
        if (o + n >= len)
            return -ENAMETOOLONG;
        memcpy(buf + o, ins, n);
        o += n;
    }
    buf[o] = '\0';
    return 0;
}

/* Whether the directory of the absolute file name `path` exists and is
 * writable; says why not on stderr ("cannot write <what> in DIR: ...").
 * Returns 0 or -1. */
static int check_output_dir(const char *path, const char *what)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    if (dir[0] == '\0')
        snprintf(dir, sizeof(dir), "/");
    struct stat st;
    const char *why = NULL;
    if (stat(dir, &st) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    else if (access(dir, W_OK | X_OK) != 0)
        why = strerror(errno);
    if (why != NULL) {
        fprintf(stderr, "heapgrow: cannot write %s in %s: %s\n", what, dir, why);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Running                                                                   */

/* Forwards a signal that someone sent to heapgrow (kill, sigqueue: si_code <=
 * 0). Signals that the kernel generated for the terminal's foreground process
 * group (Ctrl-C, Ctrl-\, hangup: si_code SI_KERNEL) have reached the child
 * already, as it shares our process group; forwarding those would deliver
 * them twice. Async-signal-safe: kill(2) only. */
static void forward_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    pid_t pid = (pid_t)child_pid;
    if (pid > 0 && si->si_code <= 0 && si->si_pid != pid) {
        int saved = errno;
        kill(pid, sig);
        errno = saved;
    }
}

typedef struct run_opts {
    const char *output;   /* -o pattern, NULL for the default */
    const char *interval; /* validated strings, passed to the library */
    const char *sample;   /* decimal bytes (sample_buf), suffix already applied */
    char sample_buf[24];
    const char *max_frames;
    char *wrappers; /* comma-separated --wrapper values, or NULL */
    const char **wrapper_v;
    size_t nwrappers;
    bool is_no_report;
    bool is_force;
    size_t top;
} run_opts_t;

static void usage(FILE *f)
{
    fputs("usage: heapgrow run [-o FILE] [--force] [--interval MS] [--sample BYTES]\n"
          "                    [--max-frames N] [--wrapper GLOB]... [--no-report] [--top N]\n"
          "                    -- PROGRAM [ARGS...]\n",
          f);
}

static int parse_number(const char *opt, const char *s, unsigned long long lo,
                        unsigned long long hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        fprintf(stderr, "heapgrow: %s: expected a number from %llu to %llu, got '%s'\n", opt, lo,
                hi, s);
        return -EINVAL;
    }
    return 0;
}

/*
 * --sample BYTES: digits with an optional B, K/KiB, M/MiB or G/GiB suffix
 * (binary multiples, letters in either case; "512K" = "512KiB" = 524288),
 * 0 (exact) to HG_SAMPLE_MAX_BYTES. KB, MB and GB are refused: dd reads them
 * as powers of 1000, most memory tools as powers of 1024. Returns 0 with the
 * value in *out, or -EINVAL after printing why. The tracer parses
 * HEAPGROW_SAMPLE_BYTES the same way (preload/config.c).
 */
int hg_launch_parse_size(const char *opt, const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"", 0},   {"b", 0},    {"k", 10}, {"kib", 10},
                 {"m", 20}, {"mib", 20}, {"g", 30}, {"gib", 30}};
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    bool is_ok = s[0] >= '0' && s[0] <= '9' && errno == 0;
    unsigned shift = 0;
    bool is_unit = false;
    for (size_t i = 0; is_ok && i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            shift = units[i].shift;
            is_unit = true;
        }
    }
    if (is_ok && is_unit && v <= (HG_SAMPLE_MAX_BYTES >> shift)) {
        *out = (uint64_t)v << shift;
        return 0;
    }
    if (is_ok &&
        (strcasecmp(end, "kb") == 0 || strcasecmp(end, "mb") == 0 || strcasecmp(end, "gb") == 0))
        fprintf(stderr,
                "heapgrow: %s: '%s': KB/MB/GB are ambiguous (1000 or 1024?); use K, M, G or "
                "KiB, MiB, GiB (1024)\n",
                opt, s);
    else
        fprintf(stderr,
                "heapgrow: %s: expected a byte count from 0 to %llu (1 TiB), optionally with a "
                "suffix K, M, G (KiB, MiB, GiB), got '%s'\n",
                opt, (unsigned long long)HG_SAMPLE_MAX_BYTES, s);
    return -EINVAL;
}

static int set_sample(run_opts_t *o, const char *arg)
{
    uint64_t v;
    if (hg_launch_parse_size("--sample", arg, &v) != 0)
        return -EINVAL;
    snprintf(o->sample_buf, sizeof(o->sample_buf), "%" PRIu64, v);
    o->sample = o->sample_buf;
    return 0;
}

static int append_wrapper(run_opts_t *o, const char *w)
{
    size_t old = o->wrappers != NULL ? strlen(o->wrappers) : 0;
    char *n = realloc(o->wrappers, old + strlen(w) + 2);
    const char **v = realloc(o->wrapper_v, (o->nwrappers + 1) * sizeof(*v));
    if (n == NULL || v == NULL) {
        free(n != NULL ? n : o->wrappers);
        o->wrappers = NULL;
        free(v != NULL ? v : o->wrapper_v);
        o->wrapper_v = NULL;
        return -ENOMEM;
    }
    o->wrappers = n;
    o->wrapper_v = v;
    sprintf(o->wrappers + old, "%s%s", old > 0 ? "," : "", w);
    o->wrapper_v[o->nwrappers++] = w;
    return 0;
}

/* Sets up the child's environment; called in the child between fork and
 * exec (heapgrow is single-threaded, so setenv's allocation is safe). */
static int child_environment(const char *lib, const char *output, const run_opts_t *o)
{
    const char *pre = getenv("LD_PRELOAD");
    char *ld = NULL, *escaped = NULL;
    char pid[32];
    /* HEAPGROW_OUTPUT is a pattern to the library (preload/writer.c): a '%'
     * of the expanded name must reach it as "%%". */
    size_t npct = 0;
    for (const char *p = output; *p != '\0'; p++)
        npct += *p == '%';
    escaped = malloc(strlen(output) + npct + 1);
    if (escaped == NULL)
        return -ENOMEM;
    char *q = escaped;
    for (const char *p = output; *p != '\0'; p++) {
        *q++ = *p;
        if (*p == '%')
            *q++ = '%';
    }
    *q = '\0';
    if (asprintf(&ld, "%s%s%s", lib, pre != NULL && pre[0] != '\0' ? ":" : "",
                 pre != NULL ? pre : "") < 0)
        return -ENOMEM;
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    if (setenv("LD_PRELOAD", ld, 1) != 0 || setenv("HEAPGROW_OUTPUT", escaped, 1) != 0 ||
        setenv("HEAPGROW_ROOT_PID", pid, 1) != 0)
        return -errno;
    if (o->interval != NULL && setenv("HEAPGROW_INTERVAL_MS", o->interval, 1) != 0)
        return -errno;
    if (o->sample != NULL && setenv("HEAPGROW_SAMPLE_BYTES", o->sample, 1) != 0)
        return -errno;
    if (o->max_frames != NULL && setenv("HEAPGROW_MAX_FRAMES", o->max_frames, 1) != 0)
        return -errno;
    if (o->wrappers != NULL) {
        const char *old = getenv("HEAPGROW_WRAPPERS");
        char *w = NULL;
        if (asprintf(&w, "%s%s%s", old != NULL ? old : "", old != NULL && old[0] != '\0' ? "," : "",
                     o->wrappers) < 0)
            return -ENOMEM;
        if (setenv("HEAPGROW_WRAPPERS", w, 1) != 0)
            return -errno;
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* Room for a path escaped for a message (escape.h: at most 4 bytes out per
 * byte in). Trace paths hold the program's name (%e), so messages after a
 * run show them escaped, like the report does. */
#define SHOWN_PATH_MAX (4 * PATH_MAX)

/* After the program: where the trace went, and the short report. */
static void summarize(const char *output, const run_opts_t *o)
{
    char shown[SHOWN_PATH_MAX];
    hg_escape_str(output, shown, sizeof(shown));
    if (access(output, F_OK) != 0) {
        fprintf(stderr,
                "heapgrow: no trace was written to %s (the program may have cleared "
                "LD_PRELOAD, or the tracer could not start: see its messages above)\n",
                shown);
        return;
    }
    hg_family_t fam = {0};
    (void)hg_family_find(output, &fam);
    /* A tracer that could not write further left its reason as the trace's
     * last bytes (FORMAT.md): "written to" would be wrong. Cheap for any
     * size, so --no-report says it too. */
    uint64_t fail_ns = 0;
    char why[128];
    if (hg_reader_tail_failure(output, &fail_ns, why, sizeof(why)) == 1) {
        fputs("heapgrow: trace incomplete: writing it stopped at ", stderr);
        fprintf(stderr, "%.1f s (", (double)fail_ns / 1e9);
        hg_escape_put(stderr, why);
        fprintf(stderr, "); what was written is in %s", shown);
    } else {
        fprintf(stderr, "heapgrow: trace written to %s", shown);
    }
    fprintf(stderr, " (%zu descendant trace%s)\n", fam.n, fam.n == 1 ? "" : "s");
    hg_family_free(&fam);
    if (o->is_no_report)
        return;

    hg_report_set_t set;
    char err[512];
    hg_report_load_opts_t lo = {.wrappers = o->wrapper_v, .nwrappers = o->nwrappers};
    if (hg_report_load(output, &lo, &set, err, sizeof(err)) != 0) {
        fprintf(stderr, "heapgrow: %s: %s\n", shown, err);
        return;
    }
    hg_report_input_t in = {.main = set.main,
                            .children = (const hg_model_t *const *)set.children,
                            .nchildren = set.nchildren,
                            .warnings = (const char *const *)set.warnings,
                            .nwarnings = set.nwarnings};
    hg_report_opts_t ro = {
        .top = o->top, .is_brief = true, .is_color = hg_report_want_color(stderr)};
    fputc('\n', stderr);
    hg_report_text(stderr, &in, &ro);
    fprintf(stderr, "\nheapgrow: full report: heapgrow report %s\n", shown);
    hg_report_set_free(&set);
}

/* Runs the program traced. Returns its exit status (shell-style), or 2, 126,
 * 127 when it did not run; `traced` gets the main trace's path when it ran,
 * "" otherwise; *pid_out the program's pid (0 when it was never forked). */
static int run_program(char **argv, const run_opts_t *o, char *traced, size_t traced_len,
                       long *pid_out)
{
    char lib[PATH_MAX + 256], exe[PATH_MAX], output[PATH_MAX];
    traced[0] = '\0';
    *pid_out = 0;
    const char *pattern = o->output != NULL ? o->output : "heapgrow.%e.%p.hgt";
    int rc;

    if (hg_launch_find_library(lib, sizeof(lib)) != 0) {
        fprintf(stderr, "heapgrow: %s\n", lib);
        return 2;
    }
    if (strpbrk(lib, " :") != NULL) {
        fprintf(stderr, "heapgrow: %s: LD_PRELOAD cannot hold a path with ' ' or ':'\n", lib);
        return 2;
    }
    /* Check the pattern now (pid 0 stands in), so that errors come before
     * the program runs. */
    if ((rc = expand_output(pattern, 0, "x", output, sizeof(output))) != 0) {
        fprintf(stderr, "heapgrow: -o %s: %s\n", pattern,
                rc == -EINVAL ? "only %p (pid), %e (program name) and %% may follow '%'"
                              : strerror(-rc));
        return 2;
    }

    if (resolve_program(argv[0], exe, sizeof(exe)) == 0) {
        struct stat st;
        switch (hg_launch_inspect(exe)) {
        case HG_EXE_STATIC:
            fprintf(stderr,
                    "heapgrow: %s is statically linked: the dynamic loader never runs, so "
                    "LD_PRELOAD cannot trace it (rebuild it dynamically linked)\n",
                    exe);
            return 2;
        case HG_EXE_STATIC_GO:
            fprintf(stderr,
                    "heapgrow: %s is a statically linked Go program: LD_PRELOAD cannot "
                    "trace it, and Go's heap does not use malloc (use Go's pprof)\n",
                    exe);
            return 2;
        case HG_EXE_GO:
            fprintf(stderr,
                    "heapgrow: warning: %s is a Go program: only its C allocations (cgo) "
                    "are traced, not Go's own heap\n",
                    exe);
            break;
        default:
            break;
        }
        if (stat(exe, &st) == 0 && (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
                                    ((st.st_mode & S_ISGID) && st.st_gid != getegid())))
            fprintf(stderr,
                    "heapgrow: warning: %s is set-user/group-ID: the loader ignores "
                    "LD_PRELOAD in secure-execution mode, so it runs untraced\n",
                    exe);
    }
    const char *exe_name = base_name(argv[0]);

    /* An explicit output file is never overwritten (--force removes it). */
    if (o->output != NULL && strstr(o->output, "%p") == NULL) {
        if ((rc = expand_output(pattern, 0, exe_name, output, sizeof(output))) != 0)
            return 2;
        struct stat st;
        if (lstat(output, &st) == 0) {
            if (!o->is_force) {
                fprintf(stderr, "heapgrow: %s exists; not overwriting it (use --force)\n", output);
                return 2;
            }
            if (unlink(output) != 0) {
                fprintf(stderr, "heapgrow: %s: %s\n", output, strerror(errno));
                return 2;
            }
        }
    }

    /* The trace's directory must exist and be writable: better said now than
     * after a long run that leaves no trace. */
    if ((rc = expand_output(pattern, 0, exe_name, output, sizeof(output))) != 0)
        return 2;
    if (check_output_dir(output, "the trace") != 0)
        return 2;

    /* exec failure comes back through a close-on-exec pipe: EOF means the
     * exec happened. */
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, "heapgrow: pipe: %s\n", strerror(errno));
        return 2;
    }
    struct sigaction sa = {.sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigset_t block, old_mask;
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&block, forwarded_signals[i]);
    /* Blocked across fork: a signal that arrives before child_pid is set is
     * delivered (and forwarded) once it is. */
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded_signals[i], &sa, NULL);
    fflush(NULL);

    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "heapgrow: fork: %s\n", strerror(errno));
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        return 2;
    }
    if (pid == 0) {
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (size_t i = 0; i < NFORWARDED; i++)
            sigaction(forwarded_signals[i], &dfl, NULL);
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        close(pfd[0]);
        int err = 0;
        if (expand_output(pattern, (long)getpid(), exe_name, output, sizeof(output)) != 0 ||
            child_environment(lib, output, o) != 0)
            err = ENOMEM;
        else
            execvp(argv[0], argv);
        if (err == 0)
            err = errno;
        ssize_t w = write(pfd[1], &err, sizeof(err));
        (void)w;
        _exit(err == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    *pid_out = (long)pid;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    close(pfd[1]);
    int exec_err = 0;
    ssize_t n;
    do
        n = read(pfd[0], &exec_err, sizeof(exec_err));
    while (n < 0 && errno == EINTR);
    close(pfd[0]);

    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    child_pid = 0;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded_signals[i], &dfl, NULL);

    if (n == (ssize_t)sizeof(exec_err)) {
        if (exec_err == ENOENT)
            fprintf(stderr, "heapgrow: %s: command not found\n", argv[0]);
        else
            fprintf(stderr, "heapgrow: %s: %s\n", argv[0], strerror(exec_err));
        return exec_err == ENOENT ? 127 : 126;
    }
    int code = WIFEXITED(status)     ? WEXITSTATUS(status)
               : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                     : 2;
    expand_output(pattern, (long)pid, exe_name, output, sizeof(output));
    snprintf(traced, traced_len, "%s", output);
    return code;
}

int hg_launch_run_main(int argc, char **argv)
{
    enum {
        OPT_INTERVAL = 256,
        OPT_SAMPLE,
        OPT_MAX_FRAMES,
        OPT_NO_REPORT,
        OPT_WRAPPER,
        OPT_FORCE,
        OPT_TOP
    };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"sample", required_argument, NULL, OPT_SAMPLE},
        {"max-frames", required_argument, NULL, OPT_MAX_FRAMES},
        {"no-report", no_argument, NULL, OPT_NO_REPORT},
        {"wrapper", required_argument, NULL, OPT_WRAPPER},
        {"force", no_argument, NULL, OPT_FORCE},
        {"top", required_argument, NULL, OPT_TOP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    run_opts_t o = {0};
    int rc = 2, c;
    optind = 1;
    opterr = 0;
    /* "+": options end at PROGRAM, so its own options are never ours. */
    while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o.output = optarg;
            break;
        case OPT_INTERVAL:
            if (parse_number("--interval", optarg, 1, 3600000) != 0)
                goto out;
            o.interval = optarg;
            break;
        case OPT_SAMPLE:
            if (set_sample(&o, optarg) != 0)
                goto out;
            break;
        case OPT_MAX_FRAMES:
            if (parse_number("--max-frames", optarg, 1, 256) != 0)
                goto out;
            o.max_frames = optarg;
            break;
        case OPT_TOP:
            if (parse_number("--top", optarg, 0, 1000000) != 0)
                goto out;
            o.top = strtoul(optarg, NULL, 10);
            break;
        case OPT_NO_REPORT:
            o.is_no_report = true;
            break;
        case OPT_FORCE:
            o.is_force = true;
            break;
        case OPT_WRAPPER:
            if (optarg[0] == '\0' || strchr(optarg, ',') != NULL) {
                fprintf(stderr, "heapgrow: --wrapper: one non-empty name or glob, no ','\n");
                goto out;
            }
            if (append_wrapper(&o, optarg) != 0)
                goto out;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            fprintf(stderr, "heapgrow: run: unknown or incomplete option '%s'\n", argv[optind - 1]);
            usage(stderr);
            goto out;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "heapgrow: run: no program given\n");
        usage(stderr);
        goto out;
    }
    if (o.output != NULL && o.output[0] == '\0') {
        fprintf(stderr, "heapgrow: -o: empty file name\n");
        goto out;
    }
    char traced[PATH_MAX];
    long pid;
    rc = run_program(argv + optind, &o, traced, sizeof(traced), &pid);
    if (traced[0] != '\0')
        summarize(traced, &o);
out:
    free(o.wrappers);
    free(o.wrapper_v);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* heapgrow check                                                            */

static void check_usage(FILE *f)
{
    fputs("usage: heapgrow check [--error-exitcode N] [--max-leak-bytes N] [--fail-on-growth]\n"
          "                      [--leak-kinds definite,indirect,possible,reachable|all|none]\n"
          "                      [--suppressions FILE]... [--wrapper GLOB]... [-o FILE] [--force]\n"
          "                      [--interval MS] [--sample BYTES] [--max-frames N]\n"
          "                      [--sarif FILE] -- PROGRAM [ARGS...]\n",
          f);
}

/* Removes the temporary trace directory of a check and what is in it (the
 * traces of the program and its descendants, nothing else is written
 * there). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[PATH_MAX];
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Whether two absolute file names name the same directory entry (their
 * directories resolved, so "a/../t" and a link to the directory count),
 * whether or not the file exists yet. */
static bool is_same_entry(const char *a, const char *b)
{
    char da[PATH_MAX], db[PATH_MAX], ra[PATH_MAX], rb[PATH_MAX];
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    if (sa == NULL || sb == NULL || strcmp(sa, sb) != 0)
        return false;
    snprintf(da, sizeof(da), "%.*s", (int)(sa - a), a);
    snprintf(db, sizeof(db), "%.*s", (int)(sb - b), b);
    if (realpath(da[0] != '\0' ? da : "/", ra) == NULL ||
        realpath(db[0] != '\0' ? db : "/", rb) == NULL)
        return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}

/* Whether the file at path (followed if a link) starts as a trace does: a
 * gzip stream (docs/FORMAT.md). A SARIF log never does. */
static bool is_gzip_file(const char *path)
{
    unsigned char magic[2];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    bool is_gzip = read(fd, magic, 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    close(fd);
    return is_gzip;
}

/* Writes the SARIF log to `path` (absolute) atomically: into a new file
 * beside it, renamed over it when complete, so that a reader never sees half
 * a log and a failed write leaves the old one. An existing log is replaced,
 * as an explicit output name asks (compilers' -o, valgrind's --xml-file): it
 * is regenerated on every run, unlike a trace. A trace is never replaced:
 * not this run's (`trace`), nor any file that starts as one. Returns 0 or -1
 * (said on stderr). */
static int write_sarif(const char *path, const char *trace, const hg_sarif_run_t *run)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "heapgrow: --sarif %s: is a directory\n", path);
        return -1;
    }
    if ((trace != NULL && is_same_entry(path, trace)) || is_gzip_file(path)) {
        fprintf(stderr, "heapgrow: --sarif %s is a trace; not overwriting it\n", path);
        return -1;
    }
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        fprintf(stderr, "heapgrow: --sarif %s: %s\n", path, strerror(ENOMEM));
        return -1;
    }
    int rc = -1;
    FILE *f = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        fprintf(stderr, "heapgrow: --sarif %s: %s\n", tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        goto out;
    }
    int wrc = hg_sarif_write(f, run);
    if (fclose(f) != 0 && wrc == 0)
        wrc = -errno;
    if (wrc == 0 && rename(tmp, path) != 0)
        wrc = -errno;
    if (wrc != 0) {
        fprintf(stderr, "heapgrow: --sarif %s: %s\n", path, strerror(-wrc));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

/*
 * Sampling and the gate. A leak gate must fail on every leak, every time: a
 * sampled run sees a 64-byte block with probability 1 - exp(-64/R) (0.012% at
 * 512 KiB), so it would pass almost every small leak, and it cannot classify
 * reachability (the tracer does not know the unsampled blocks that may point
 * to a sampled one). So check samples only as a growth gate, and only when
 * asked for one explicitly: --leak-kinds none --fail-on-growth. Otherwise the
 * rate (from --sample, or HEAPGROW_SAMPLE_BYTES in the environment, which the
 * program would inherit) is refused with exit 2. Returns 0 or -EINVAL.
 */
static int check_sampling(const run_opts_t *o, const hg_gate_t *gate)
{
    uint64_t rate = 0;
    const char *from = "--sample";
    const char *env = getenv("HEAPGROW_SAMPLE_BYTES");
    if (o->sample != NULL) {
        rate = strtoull(o->sample, NULL, 10);
    } else if (env != NULL && env[0] != '\0') {
        from = "HEAPGROW_SAMPLE_BYTES";
        if (hg_launch_parse_size(from, env, &rate) != 0)
            return -EINVAL;
    }
    if (rate == 0 || (gate->leak_kinds == 0 && gate->is_fail_on_growth))
        return 0;
    fprintf(stderr,
            "heapgrow: check: %s %" PRIu64 ": a sampled run can only be a growth gate: it sees a "
            "64-byte leak with probability %.3g%% and cannot classify reachability, so it would "
            "pass most leaks. Add --leak-kinds none --fail-on-growth to gate on estimated "
            "growth, or trace every allocation (no --sample) for the leak gate\n",
            from, rate, 100 * hg_est_one_minus_exp_neg(64.0 / (double)rate));
    return -EINVAL;
}

int hg_launch_check_main(int argc, char **argv)
{
    enum {
        OPT_INTERVAL = 256,
        OPT_SAMPLE,
        OPT_MAX_FRAMES,
        OPT_WRAPPER,
        OPT_FORCE,
        OPT_EXITCODE,
        OPT_MAX_LEAK,
        OPT_GROWTH,
        OPT_SUPPRESSIONS,
        OPT_LEAK_KINDS,
        OPT_SARIF
    };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"sample", required_argument, NULL, OPT_SAMPLE},
        {"max-frames", required_argument, NULL, OPT_MAX_FRAMES},
        {"wrapper", required_argument, NULL, OPT_WRAPPER},
        {"force", no_argument, NULL, OPT_FORCE},
        {"error-exitcode", required_argument, NULL, OPT_EXITCODE},
        {"max-leak-bytes", required_argument, NULL, OPT_MAX_LEAK},
        {"fail-on-growth", no_argument, NULL, OPT_GROWTH},
        {"suppressions", required_argument, NULL, OPT_SUPPRESSIONS},
        {"leak-kinds", required_argument, NULL, OPT_LEAK_KINDS},
        {"sarif", required_argument, NULL, OPT_SARIF},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    run_opts_t o = {0};
    hg_gate_t gate;
    hg_report_set_t set = {0};
    int rc = 2, c, error_exitcode = 23;
    char tmpdir[PATH_MAX] = "", pattern[PATH_MAX], err[512], traced[PATH_MAX] = "";
    char cwd[PATH_MAX], sarif_path[PATH_MAX];
    const char *sarif = NULL, *why_unchecked = NULL;
    bool has_set = false, is_checked = false;
    hg_report_input_t in = {0};
    hg_gate_result_t res = {0};

    if (hg_gate_init(&gate) != 0) {
        fprintf(stderr, "heapgrow: check: %s\n", strerror(ENOMEM));
        return 2;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o.output = optarg;
            break;
        case OPT_INTERVAL:
            if (parse_number("--interval", optarg, 1, 3600000) != 0)
                goto out;
            o.interval = optarg;
            break;
        case OPT_SAMPLE:
            if (set_sample(&o, optarg) != 0)
                goto out;
            break;
        case OPT_MAX_FRAMES:
            if (parse_number("--max-frames", optarg, 1, 256) != 0)
                goto out;
            o.max_frames = optarg;
            break;
        case OPT_FORCE:
            o.is_force = true;
            break;
        case OPT_WRAPPER:
            if (optarg[0] == '\0' || strchr(optarg, ',') != NULL) {
                fprintf(stderr, "heapgrow: --wrapper: one non-empty name or glob, no ','\n");
                goto out;
            }
            if (append_wrapper(&o, optarg) != 0)
                goto out;
            break;
        case OPT_EXITCODE:
            if (parse_number("--error-exitcode", optarg, 1, 255) != 0)
                goto out;
            error_exitcode = atoi(optarg);
            break;
        case OPT_MAX_LEAK:
            if (parse_number("--max-leak-bytes", optarg, 0, UINT64_MAX) != 0)
                goto out;
            gate.max_leak_bytes = strtoull(optarg, NULL, 10);
            break;
        case OPT_GROWTH:
            gate.is_fail_on_growth = true;
            break;
        case OPT_LEAK_KINDS:
            if (hg_gate_parse_kinds(optarg, &gate.leak_kinds) != 0) {
                fprintf(stderr,
                        "heapgrow: --leak-kinds: '%s': expected a comma-separated list of "
                        "definite, indirect, possible, reachable, or all or none\n",
                        optarg);
                goto out;
            }
            break;
        case OPT_SARIF:
            if (optarg[0] == '\0') {
                fprintf(stderr, "heapgrow: --sarif: empty file name\n");
                goto out;
            }
            sarif = optarg;
            break;
        case OPT_SUPPRESSIONS:
            if (hg_gate_load_suppressions(&gate, optarg, err, sizeof(err)) != 0) {
                fprintf(stderr, "heapgrow: %s\n", err);
                goto out;
            }
            break;
        case 'h':
            check_usage(stdout);
            rc = 0;
            goto out;
        default:
            fprintf(stderr, "heapgrow: check: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            check_usage(stderr);
            goto out;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "heapgrow: check: no program given\n");
        check_usage(stderr);
        goto out;
    }
    const char *exe_name = base_name(argv[optind]);
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        fprintf(stderr, "heapgrow: check: working directory: %s\n", strerror(errno));
        goto out;
    }
    if (sarif != NULL) {
        /* The SARIF name is checked now (pid 0 stands in), so that errors
         * come before the program runs; it may never name the trace. */
        char trace0[PATH_MAX];
        int erc = expand_output(sarif, 0, exe_name, sarif_path, sizeof(sarif_path));
        if (erc != 0) {
            fprintf(stderr, "heapgrow: --sarif %s: %s\n", sarif,
                    erc == -EINVAL ? "only %p (pid), %e (program name) and %% may follow '%'"
                                   : strerror(-erc));
            goto out;
        }
        if (check_output_dir(sarif_path, "the SARIF log") != 0)
            goto out;
        struct stat st;
        if (stat(sarif_path, &st) == 0 && S_ISDIR(st.st_mode)) {
            fprintf(stderr, "heapgrow: --sarif %s: is a directory\n", sarif_path);
            goto out;
        }
        if (o.output != NULL && expand_output(o.output, 0, exe_name, trace0, sizeof(trace0)) == 0 &&
            is_same_entry(trace0, sarif_path)) {
            fprintf(stderr, "heapgrow: --sarif %s: the same file as the trace (-o)\n", sarif);
            goto out;
        }
    }
    if (check_sampling(&o, &gate) != 0)
        goto out;
    if (o.output == NULL) {
        /* No -o: the traces go to a directory of their own, removed when
         * the check passes and kept (and named) when it fails. */
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/heapgrow-check.XXXXXX",
                 t != NULL && t[0] != '\0' ? t : "/tmp");
        if (mkdtemp(tmpdir) == NULL) {
            fprintf(stderr, "heapgrow: %s: %s\n", tmpdir, strerror(errno));
            tmpdir[0] = '\0';
            goto out;
        }
        snprintf(pattern, sizeof(pattern), "%s/%%e.hgt", tmpdir);
        o.output = pattern;
    }

    long pid;
    int code = run_program(argv + optind, &o, traced, sizeof(traced), &pid);
    if (traced[0] == '\0') {
        rc = code;
        why_unchecked = "the program did not run (see heapgrow's messages on stderr)";
        goto report;
    }
    char shown[SHOWN_PATH_MAX];
    hg_escape_str(traced, shown, sizeof(shown));
    if (access(traced, F_OK) != 0) {
        fprintf(stderr, "heapgrow: check: no trace was written to %s: nothing to check\n", shown);
        rc = code != 0 ? code : 2;
        snprintf(err, sizeof(err), "no trace was written to %s: nothing was checked", traced);
        why_unchecked = err;
        goto report;
    }
    hg_report_load_opts_t lo = {.wrappers = o.wrapper_v, .nwrappers = o.nwrappers};
    if (hg_report_load(traced, &lo, &set, err, sizeof(err)) != 0) {
        fprintf(stderr, "heapgrow: %s: %s\n", shown, err);
        rc = code != 0 ? code : 2;
        why_unchecked = err;
        goto report;
    }
    has_set = true;
    in = (hg_report_input_t){.main = set.main,
                             .children = (const hg_model_t *const *)set.children,
                             .nchildren = set.nchildren,
                             .warnings = (const char *const *)set.warnings,
                             .nwarnings = set.nwarnings};
    fflush(stdout);
    hg_gate_evaluate(stderr, &gate, &in, &res);
    is_checked = true;
    /* The program's own failure comes first; then the gate's. */
    rc = code != 0 ? code : res.is_failed ? error_exitcode : 0;
report:
    if (sarif != NULL) {
        hg_sarif_run_t sr = {.gate = &gate,
                             .in = is_checked ? &in : NULL,
                             .res = is_checked ? &res : NULL,
                             .base_dir = cwd,
                             .argv = argv,
                             .argc = argc,
                             .exit_code = rc,
                             .error = why_unchecked};
        /* %p: the program's pid, or heapgrow's when it never started. */
        expand_output(sarif, pid != 0 ? pid : (long)getpid(), exe_name, sarif_path,
                      sizeof(sarif_path));
        if (write_sarif(sarif_path, traced[0] != '\0' ? traced : NULL, &sr) != 0 && rc == 0)
            rc = 2;
    }
    if (rc != 0 && tmpdir[0] != '\0' && is_checked) {
        fprintf(stderr, "heapgrow: traces kept in %s (heapgrow report %s)\n", tmpdir, shown);
        tmpdir[0] = '\0';
    }
out:
    if (tmpdir[0] != '\0')
        remove_tree(tmpdir);
    hg_gate_result_free(&res);
    if (has_set)
        hg_report_set_free(&set);
    hg_gate_free(&gate);
    free(o.wrappers);
    free(o.wrapper_v);
    return rc;
}
