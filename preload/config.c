/*
 * HEAPGROW_* parsing (see config.h for every variable and its default). Never
 * allocates and never calls getenv (which is not safe before libc's start-up
 * completes); invalid values keep their default and are logged once.
 */
#include "config.h"

#include <fcntl.h>
#include <unistd.h>
#include <signal.h>
#include <string.h>

#include "log.h"
#include "os.h"
#include "heapgrow/estimate.h"
#include "heapgrow/format.h"

#define DEFAULT_OUTPUT "heapgrow.%e.%p.hgt"

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static bool str_ieq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char ca = (*a >= 'a' && *a <= 'z') ? (char)(*a - 32) : *a;
        char cb = (*b >= 'a' && *b <= 'z') ? (char)(*b - 32) : *b;
        if (ca != cb)
            return false;
    }
    return *a == *b;
}

/* Decimal u64 in [lo, hi]; false on anything else (empty, sign, overflow). */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10u)
            return false;
        v = v * 10u + d;
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* A byte size: decimal digits, then optionally B, K/KiB, M/MiB or G/GiB
 * (binary multiples; letters in either case), in [0, hi]. "KB", "MB" and
 * "GB" are refused: they mean 1000 to some tools and 1024 to others. */
static bool parse_size(const char *s, uint64_t hi, uint64_t *out)
{
    char digits[24];
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9' && n < sizeof digits - 1) {
        digits[n] = s[n];
        n++;
    }
    digits[n] = '\0';
    const char *suffix = s + n;
    unsigned shift = 0;
    if (str_ieq(suffix, "") || str_ieq(suffix, "B"))
        shift = 0;
    else if (str_ieq(suffix, "K") || str_ieq(suffix, "KiB"))
        shift = 10;
    else if (str_ieq(suffix, "M") || str_ieq(suffix, "MiB"))
        shift = 20;
    else if (str_ieq(suffix, "G") || str_ieq(suffix, "GiB"))
        shift = 30;
    else
        return false;
    uint64_t v;
    if (n == 0 || !parse_u64(digits, 0, UINT64_MAX >> shift, &v) || (v << shift) > hi)
        return false;
    *out = v << shift;
    return true;
}

static const struct {
    const char *name;
    int signo;
} signal_names[] = {
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2},   {"HUP", SIGHUP}, {"QUIT", SIGQUIT},
    {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"URG", SIGURG}, {"PWR", SIGPWR},
};

static bool parse_signal(const char *s, int *out)
{
    uint64_t v;
    if (str_ieq(s, "off") || str_ieq(s, "none")) {
        *out = 0;
        return true;
    }
    if (parse_u64(s, 0, (uint64_t)SIGRTMAX, &v)) {
        if (v == SIGKILL || v == SIGSTOP)
            return false;
        *out = (int)v;
        return true;
    }
    if (strncmp(s, "SIG", 3) == 0 || strncmp(s, "sig", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++) {
        if (str_ieq(s, signal_names[i].name)) {
            *out = signal_names[i].signo;
            return true;
        }
    }
    return false;
}

static bool parse_bool(const char *s, bool *out)
{
    if (str_eq(s, "1") || str_ieq(s, "yes") || str_ieq(s, "true") || str_ieq(s, "on")) {
        *out = true;
        return true;
    }
    if (str_eq(s, "0") || str_ieq(s, "no") || str_ieq(s, "false") || str_ieq(s, "off") ||
        str_eq(s, "")) {
        *out = false;
        return true;
    }
    return false;
}

static bool copy_str(char *dst, size_t cap, const char *src, bool is_empty_ok)
{
    size_t n = strlen(src);
    if (n >= cap || (n == 0 && !is_empty_ok))
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

static void set_defaults(hg_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    memcpy(cfg->output, DEFAULT_OUTPUT, sizeof DEFAULT_OUTPUT);
    cfg->interval_ms = HG_DEFAULT_INTERVAL_MS;
    cfg->max_frames = HG_DEFAULT_MAX_FRAMES;
    cfg->sample_bytes = 0;
#if defined(HG_DEFAULT_UNWINDER_FP)
    cfg->unwinder = HG_UNWIND_FP;
#elif defined(HG_DEFAULT_UNWINDER_LIBUNWIND)
    cfg->unwinder = HG_UNWIND_LIBUNWIND;
#else
    cfg->unwinder = HG_UNWIND_DWARF;
#endif
    cfg->dump_signal = SIGUSR2;
    cfg->wrappers[0] = '\0';
    cfg->is_quiet = false;
}

/* Applies one "NAME=value" entry (NAME already known to start HEAPGROW_).
 * Returns false when the value is invalid. */
static bool apply(hg_config_t *cfg, const char *name, size_t name_len, const char *val)
{
#define IS(lit) (name_len == sizeof(lit) - 1 && memcmp(name, lit, name_len) == 0)
    uint64_t v;
    if (IS("HEAPGROW_OUTPUT"))
        return copy_str(cfg->output, sizeof cfg->output, val, false);
    if (IS("HEAPGROW_INTERVAL_MS")) {
        if (!parse_u64(val, 1, 3600000u, &v))
            return false;
        cfg->interval_ms = (uint32_t)v;
        return true;
    }
    if (IS("HEAPGROW_MAX_FRAMES")) {
        if (!parse_u64(val, 1, HG_MAX_FRAMES, &v))
            return false;
        cfg->max_frames = (uint32_t)v;
        return true;
    }
    if (IS("HEAPGROW_SAMPLE_BYTES")) {
        if (!parse_size(val, HG_SAMPLE_MAX_BYTES, &v))
            return false;
        cfg->sample_bytes = v;
        return true;
    }
    if (IS("HEAPGROW_SAMPLE_SEED")) {
        if (!parse_u64(val, 0, UINT64_MAX, &v))
            return false;
        cfg->sample_seed = v;
        return true;
    }
    if (IS("HEAPGROW_UNWIND")) {
        if (str_ieq(val, "libunwind"))
            cfg->unwinder = HG_UNWIND_LIBUNWIND;
        else if (str_ieq(val, "fp"))
            cfg->unwinder = HG_UNWIND_FP;
        else if (str_ieq(val, "dwarf"))
            cfg->unwinder = HG_UNWIND_DWARF;
        else
            return false;
        return true;
    }
    if (IS("HEAPGROW_SIGNAL"))
        return parse_signal(val, &cfg->dump_signal);
    if (IS("HEAPGROW_WRAPPERS"))
        return copy_str(cfg->wrappers, sizeof cfg->wrappers, val, true);
    if (IS("HEAPGROW_QUIET"))
        return parse_bool(val, &cfg->is_quiet);
#undef IS
    return true; /* unknown HEAPGROW_* names are ignored */
}

int hg_config_parse(hg_config_t *cfg, char *const *envp)
{
    int invalid_count = 0;
    set_defaults(cfg);
    if (envp == NULL)
        return 0;
    for (; *envp != NULL; envp++) {
        const char *e = *envp;
        if (strncmp(e, "HEAPGROW_", 9) != 0)
            continue;
        const char *eq = strchr(e, '=');
        if (eq == NULL)
            continue;
        if (!apply(cfg, e, (size_t)(eq - e), eq + 1))
            invalid_count++;
    }
    return invalid_count;
}

/* Fallback when `environ` is not set yet: /proc/self/environ, NUL-separated. */
#define PROC_ENV_BYTES (128u * 1024u)
#define PROC_ENV_MAX   2048u
static char proc_env[PROC_ENV_BYTES + 1];
static char *proc_envp[PROC_ENV_MAX + 1];

static char *const *read_proc_environ(void)
{
    int fd = hg_os.open("/proc/self/environ", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    size_t len = 0;
    while (len < PROC_ENV_BYTES) {
        ssize_t n = hg_os.read(fd, proc_env + len, PROC_ENV_BYTES - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    hg_os.close(fd);
    proc_env[len] = '\0';
    size_t count = 0;
    for (size_t i = 0; i < len && count < PROC_ENV_MAX;) {
        proc_envp[count++] = proc_env + i;
        while (i < len && proc_env[i] != '\0')
            i++;
        i++;
    }
    proc_envp[count] = NULL;
    return proc_envp;
}

int hg_config_load(hg_config_t *cfg)
{
    char *const *envp = environ;
    if (envp == NULL)
        envp = read_proc_environ();
    int invalid_count = hg_config_parse(cfg, envp);
    hg_log_set_quiet(cfg->is_quiet);
    if (invalid_count > 0)
        hg_log_once(HG_LOG_CONFIG, "invalid HEAPGROW_* value ignored (default kept)");
    return invalid_count;
}
