/*
 * high_cardinality_keys: keys of the wrong kind make a small map huge.
 *
 * A service counts requests per "route" in a metrics map, to export them later.
 * The map was meant to hold a few hundred series: method x route x status. But
 * the key is built from the raw request line, and the raw line carries the
 * request id ("?rid=..."): every request is a new key, and a map that should
 * hold a few hundred counters holds one per request ever served - millions, in
 * a service that runs for days.
 *
 * Built twice (samples/meson.build):
 *   high_cardinality_keys  the bug: the key contains the request id.
 *   normalized_keys        -DFIXED: the key is normalized first (the query
 *                          string and the numeric path segment are dropped:
 *                          "GET /users/:id 200"), so the map holds at most
 *                          4 x 8 x 6 = 192 series. It is freed at exit.
 *
 * Exact numbers (the end-to-end test asserts them):
 *   high_cardinality_keys: every request adds one series: REQUESTS = 12000
 *     entries of sizeof(struct series) = 128 bytes are live at exit: 1536000
 *     bytes in 12000 blocks leaked from metrics_series_get (the GROWS line),
 *     plus the bucket array, 8192 bytes in 1 block, from metrics_init.
 *   normalized_keys: nothing leaked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define REQUESTS 12000L
#define NBUCKETS 1024 /* fixed: plenty for a few hundred series */

struct series {
    struct series *next; /* hash chain */
    uint64_t count;
    uint64_t bytes;
    char key[104];
};

struct metrics {
    struct series **buckets;
    size_t count;
};

static uint64_t rng = 0x4c4a4d5ULL;
static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};
static const char *const routes[] = {"/users",  "/orders",  "/items",  "/carts",
                                     "/search", "/reviews", "/photos", "/stores"};
static const int statuses[] = {200, 201, 304, 400, 404, 500};

static size_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % NBUCKETS);
}

static SAMPLE_NOINLINE void metrics_init(struct metrics *m)
{
    m->buckets = calloc(NBUCKETS, sizeof *m->buckets);
    if (!m->buckets)
        abort();
    m->count = 0;
}

/* Finds the series for `key`, creating it on first use. One allocation per
 * series, key inline. */
static SAMPLE_NOINLINE struct series *metrics_series_get(struct metrics *m, const char *key)
{
    size_t b = hash_key(key);
    for (struct series *s = m->buckets[b]; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    struct series *s = malloc(sizeof *s); /* GROWS */
    if (!s)
        abort();
    memset(s, 0, sizeof *s);
    snprintf(s->key, sizeof s->key, "%s", key);
    s->next = m->buckets[b];
    m->buckets[b] = s;
    m->count++;
    return s;
}

#ifdef FIXED
/* The fix: "GET /users/1234?rid=99 200" -> "GET /users/:id 200". Returns a
 * new string (the caller frees it). */
static char *normalize_key(const char *raw)
{
    char *key = malloc(strlen(raw) + 8);
    if (!key)
        abort();
    const char *q = strchr(raw, '?');
    const char *status = strrchr(raw, ' ');
    const char *slash = strchr(strchr(raw, '/') + 1, '/');
    size_t prefix = (size_t)((slash ? slash : q) - raw);
    sprintf(key, "%.*s/:id%s", (int)prefix, raw, status);
    return key;
}

static void metrics_destroy(struct metrics *m)
{
    for (size_t b = 0; b < NBUCKETS; b++) {
        while (m->buckets[b]) {
            struct series *s = m->buckets[b];
            m->buckets[b] = s->next;
            free(s);
        }
    }
    free(m->buckets);
}
#endif

static void handle_request(struct metrics *m, uint64_t n)
{
    /* The request line as it arrived, in a temporary buffer. */
    char *line = malloc(128);
    if (!line)
        abort();
    snprintf(line, 128, "%s %s/%u?rid=%llu %d", methods[rng_below(&rng, 4)],
             routes[rng_below(&rng, 8)], rng_below(&rng, 100000), (unsigned long long)n,
             statuses[rng_below(&rng, 6)]);
    size_t body = 100 + rng_below(&rng, 4000);
    char *payload = malloc(body); /* the request body, parsed then dropped */
    if (!payload)
        abort();
    memset(payload, 'x', body);

#ifdef FIXED
    char *key = normalize_key(line);
#else
    char *key = strdup(line); /* the bug: the raw line, request id and all */
    if (!key)
        abort();
#endif
    struct series *s = metrics_series_get(m, key);
    s->count++;
    s->bytes += body;
    free(key);
    free(payload);
    free(line);
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    struct metrics metrics;
    metrics_init(&metrics);
    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        handle_request(&metrics, (uint64_t)n);
    }
    sample_say("metrics: %ld requests, %zu series at exit", REQUESTS, metrics.count);
#ifdef FIXED
    metrics_destroy(&metrics);
#endif
    return 0;
}
