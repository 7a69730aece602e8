/*
 * samples/sample.h: the scaffolding every sample shares, so that each sample's
 * own file holds only its story (the map, the request loop, the bug and, under
 * #ifdef FIXED, the fix).
 *
 * What lives here must never decide *what* a sample allocates from anything but
 * its fixed-seed PRNG and its request counter: leaked bytes and counts are part
 * of the end-to-end tests and must be exact. Time is used only for pacing (so
 * that the growth is spread over the run the way a service spreads it over
 * days); a slower machine makes a run longer, never different.
 *
 * Nothing here allocates: output is formatted on the stack and written with
 * write(2) so that stdio's buffer does not show up as a site in the report.
 * Everything is static inline so that a sample compiles as C or as C++.
 */
#ifndef HEAPGROW_SAMPLES_SAMPLE_H
#define HEAPGROW_SAMPLES_SAMPLE_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The functions the end-to-end tests name (the one holding the GROWS line) must
 * keep their own frame, under their own name: no inlining, no cloning into
 * "foo.constprop.0" or "foo.isra.0". GCC's noipa says all of that; clang has
 * no IPA cloning worth the name and only needs noinline. */
#if defined(__clang__)
#define SAMPLE_NOINLINE __attribute__((noinline))
#else
#define SAMPLE_NOINLINE __attribute__((noipa))
#endif

/* How long a sample runs when not told: long enough for ~35 snapshots at the
 * tracer's default 100 ms interval. */
#define SAMPLE_DEFAULT_SECONDS 3.5

/* xorshift64*: small, fast, and the same sequence on every machine. */
static inline uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* A number in [0, n), n > 0. The modulo bias is irrelevant here. */
static inline uint32_t rng_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(rng_next(state) >> 32) % n;
}

/* Writes one formatted line to stdout without stdio's heap buffer. */
static inline void sample_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void sample_say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)(sizeof line - 2);
    line[n++] = '\n';
    ssize_t w = write(STDOUT_FILENO, line, (size_t)n);
    (void)w; /* a closed stdout must not change what the sample allocates */
}

/* Parses the only option a sample takes, `--seconds S` (0 < S <= 600): the
 * wall-clock length of the run. The work done is the same for every S; only
 * the pacing changes. Exits with status 2 on a bad command line. */
static inline double sample_seconds(int argc, char **argv)
{
    double seconds = SAMPLE_DEFAULT_SECONDS;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            errno = 0;
            seconds = strtod(argv[++i], &end);
            if (errno == 0 && end != argv[i] && *end == '\0' && seconds > 0 && seconds <= 600)
                continue;
        }
        sample_say("usage: %s [--seconds S]   (S in (0, 600], default %.1f)", argv[0],
                   SAMPLE_DEFAULT_SECONDS);
        exit(2);
    }
    return seconds;
}

/* Spreads `total` requests evenly over `seconds`: pacer_wait(p, i) before
 * request i sleeps until its scheduled time, checking about every 5 ms. A
 * program running behind schedule (a loaded machine, a slow tracer) does not
 * sleep at all and just takes longer. */
struct pacer {
    struct timespec t0;
    double seconds;
    long total;
    long batch; /* requests between two sleeps */
};

static inline void pacer_start(struct pacer *p, long total, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    p->seconds = seconds;
    p->total = total;
    p->batch = (long)((double)total / (seconds * 200.0));
    if (p->batch < 1)
        p->batch = 1;
}

static inline void pacer_wait(const struct pacer *p, long done)
{
    if (done == 0 || done % p->batch != 0)
        return;
    double at = p->seconds * (double)done / (double)p->total;
    struct timespec t = p->t0;
    long long ns = (long long)t.tv_nsec + (long long)(at * 1e9);
    t.tv_sec += (time_t)(ns / 1000000000LL);
    t.tv_nsec = (long)(ns % 1000000000LL);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

#endif /* HEAPGROW_SAMPLES_SAMPLE_H */
