/*
 * cache_noevict: a map used as a cache, with no eviction and no expiry.
 *
 * A product page service renders pages and caches the rendered bytes by path.
 * Half of the requests ask for one of 100 popular pages (cache hits after the
 * first time); the other half ask for a page nobody asked for before (the long
 * tail of a growing catalogue). Without eviction every tail page stays cached
 * forever: the cache is a map that only gains keys, with 1 KiB values.
 *
 * Built twice (samples/meson.build):
 *   cache_noevict  the bug: nothing ever leaves the cache.
 *   cache_lru      -DFIXED: at most CACHE_CAPACITY entries, least recently used
 *                  evicted first, and an entry older than CACHE_TTL requests is
 *                  re-rendered. Its memory warms up, then holds a plateau. The
 *                  cache is torn down at exit.
 *
 * Exact numbers (the end-to-end test asserts them):
 *   cache_noevict: REQUESTS / 2 = 7000 tail pages plus the 100 popular ones,
 *     7100 entries of sizeof(struct entry) = 1104 bytes, are live at exit:
 *     7838400 bytes in 7100 blocks leaked from cache_insert (the GROWS line),
 *     plus the bucket array, 16384 bytes in 1 block, from cache_init.
 *   cache_lru: nothing leaked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define REQUESTS       14000L
#define NBUCKETS       2048 /* fixed: never resized        */
#define POPULAR_PAGES  100
#define BODY_BYTES     1024 /* a rendered page fragment    */
#define CACHE_CAPACITY 300  /* (FIXED) entries at most     */
#define CACHE_TTL      3000 /* (FIXED) requests an entry stays fresh */

struct entry {
    struct entry *next;                /* hash chain                 */
    struct entry *lru_prev, *lru_next; /* recency list (FIXED uses it) */
    uint64_t rendered_at;              /* request number             */
    char path[40];
    size_t body_len;
    char body[BODY_BYTES];
};

struct cache {
    struct entry **buckets;
    struct entry *lru_head, *lru_tail; /* most recent at head */
    size_t count;
};

static uint64_t rng = 0xcac4e5eedULL;

static size_t hash_path(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % NBUCKETS);
}

static SAMPLE_NOINLINE void cache_init(struct cache *c)
{
    memset(c, 0, sizeof *c);
    c->buckets = calloc(NBUCKETS, sizeof *c->buckets);
    if (!c->buckets)
        abort();
}

static void lru_unlink(struct cache *c, struct entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
}

static void lru_push_front(struct cache *c, struct entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;
    if (c->lru_head)
        c->lru_head->lru_prev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

static struct entry *cache_lookup(struct cache *c, const char *path)
{
    for (struct entry *e = c->buckets[hash_path(path)]; e; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

#ifdef FIXED
/* Unlinks and frees one entry (eviction, expiry and teardown all end here). */
static void cache_remove(struct cache *c, struct entry *victim)
{
    struct entry **link = &c->buckets[hash_path(victim->path)];
    while (*link != victim)
        link = &(*link)->next;
    *link = victim->next;
    lru_unlink(c, victim);
    c->count--;
    free(victim);
}

static void cache_destroy(struct cache *c)
{
    while (c->lru_tail)
        cache_remove(c, c->lru_tail);
    free(c->buckets);
    c->buckets = NULL;
}
#endif

/* Stores a rendered page. One allocation per entry: key and body inline. */
static SAMPLE_NOINLINE struct entry *cache_insert(struct cache *c, const char *path,
                                                  const char *body, size_t len, uint64_t now)
{
#ifdef FIXED
    if (c->count >= CACHE_CAPACITY)
        cache_remove(c, c->lru_tail); /* the fix: bounded, LRU goes first */
#endif
    struct entry *e = malloc(sizeof *e); /* GROWS */
    if (!e)
        abort();
    snprintf(e->path, sizeof e->path, "%s", path);
    e->rendered_at = now;
    e->body_len = len < BODY_BYTES ? len : BODY_BYTES;
    memcpy(e->body, body, e->body_len);
    size_t b = hash_path(path);
    e->next = c->buckets[b];
    c->buckets[b] = e;
    lru_push_front(c, e);
    c->count++;
    return e;
}

/* Renders a page into a temporary buffer (churn: freed by the caller). */
static char *render_page(const char *path, size_t *len)
{
    char *html = malloc(BODY_BYTES);
    if (!html)
        abort();
    int n = snprintf(html, BODY_BYTES, "<html><h1>%s</h1>", path);
    for (size_t i = (size_t)n; i < BODY_BYTES; i++)
        html[i] = (char)('a' + (i + rng_below(&rng, 3)) % 26);
    *len = BODY_BYTES;
    return html;
}

static void handle_request(struct cache *c, uint64_t n, uint64_t *next_tail_page)
{
    /* The request's URL arrives in a temporary buffer. */
    char *url = malloc(64);
    if (!url)
        abort();
    if (n % 2 == 0)
        snprintf(url, 64, "/item/%llu", (unsigned long long)(1000 + (*next_tail_page)++));
    else
        snprintf(url, 64, "/item/%u", rng_below(&rng, POPULAR_PAGES));

    struct entry *e = cache_lookup(c, url);
#ifdef FIXED
    if (e && n - e->rendered_at > CACHE_TTL) {
        cache_remove(c, e); /* the fix, part 2: stale entries are re-rendered */
        e = NULL;
    }
#endif
    if (!e) {
        size_t len;
        char *html = render_page(url, &len);
        e = cache_insert(c, url, html, len, n);
        free(html);
    } else {
        lru_unlink(c, e);
        lru_push_front(c, e);
    }

    /* The response: headers + body copied into an output buffer. */
    char *out = malloc(e->body_len + 128);
    if (!out)
        abort();
    int h = snprintf(out, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", e->body_len);
    memcpy(out + h, e->body, e->body_len);
    free(out);
    free(url);
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    struct cache cache;
    cache_init(&cache);

    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    uint64_t next_tail_page = 0;
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        handle_request(&cache, (uint64_t)n, &next_tail_page);
    }
    sample_say("cache: %ld requests, %zu entries cached at exit", REQUESTS, cache.count);
#ifdef FIXED
    cache_destroy(&cache);
#endif
    return 0;
}
