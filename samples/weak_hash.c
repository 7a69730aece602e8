/*
 * weak_hash: a weak hash piles keys into few buckets while the table keeps
 * resizing.
 *
 * A message consumer drops duplicates: it remembers the ids of the last WINDOW
 * messages in a chained hash table (older ids are forgotten, so the set of
 * entries is bounded). The table grows its bucket array by GROW_STEP buckets
 * whenever an insert lands in a chain longer than MAX_CHAIN, which is a fine
 * policy with a good hash. But its hash looks only at the first 8 characters
 * of a key, written when ids were short; today every id starts with
 * "message:", so all keys share one bucket. The chain never gets shorter, every
 * new id triggers another resize, and the bucket array grows for as long as
 * messages arrive, while the number of entries stays at WINDOW.
 *
 * Built twice (samples/meson.build):
 *   weak_hash  the bug: hash of the first 8 characters.
 *   good_hash  -DFIXED: FNV-1a over the whole key. Same table, same resize
 *              policy, same bounded window: a few resizes while it warms up,
 *              then a plateau. (The window bounds the entries in both
 *              programs: only the hash differs, so the hash is the cause.)
 *
 * The table lives as long as the process, in a static variable: neither
 * program tears it down, and a leak checker that reports only unreachable
 * memory sees nothing wrong in either.
 *
 * Exact numbers (the end-to-end test asserts them): at exit both hold the
 * WINDOW = 256 entries of sizeof(struct seen) = 48 bytes (12288 bytes in 256
 * blocks, from dedup_check) and one bucket array, from dedup_resize (the GROWS
 * line):
 *   weak_hash: INITIAL_BUCKETS + 692 * GROW_STEP = 177216 buckets (one resize
 *     per new id once the single chain holds MAX_CHAIN ids): 1417728 bytes in
 *     1 block. In all 1430016 bytes in 257 blocks.
 *   good_hash: 320 buckets after 1 resize while warming up: 2560 bytes in 1
 *     block. In all 14848 bytes in 257 blocks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define REQUESTS        14000L
#define NEW_ID_EVERY    20  /* 1 request in 20 carries a new message id  */
#define WINDOW          256 /* ids remembered                             */
#define INITIAL_BUCKETS 64
#define MAX_CHAIN       8
#define GROW_STEP       256 /* buckets added per resize                   */

struct seen {
    struct seen *next; /* hash chain */
    uint64_t first_seen;
    char id[32];
};

struct dedup {
    struct seen **buckets;
    size_t nbuckets;
    size_t resizes;
    struct seen *window[WINDOW]; /* FIFO of the remembered ids */
    size_t window_next;
};

static uint64_t rng = 0xdedc0deULL;

#ifdef FIXED
static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, every character */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}
#else
static uint64_t hash_id(const char *s)
{
    uint64_t h = 0; /* the bug: only the first 8 characters count */
    for (int i = 0; i < 8 && s[i]; i++)
        h = h * 31 + (unsigned char)s[i];
    return h;
}
#endif

static void dedup_init(struct dedup *d)
{
    memset(d, 0, sizeof *d);
    d->nbuckets = INITIAL_BUCKETS;
    d->buckets = calloc(d->nbuckets, sizeof *d->buckets);
    if (!d->buckets)
        abort();
}

/* Grows the bucket array by GROW_STEP and rehashes every entry into it. */
static SAMPLE_NOINLINE void dedup_resize(struct dedup *d)
{
    size_t n = d->nbuckets + GROW_STEP;
    struct seen **fresh = calloc(n, sizeof *fresh); /* GROWS */
    if (!fresh)
        abort();
    for (size_t b = 0; b < d->nbuckets; b++) {
        while (d->buckets[b]) {
            struct seen *s = d->buckets[b];
            d->buckets[b] = s->next;
            size_t nb = (size_t)(hash_id(s->id) % n);
            s->next = fresh[nb];
            fresh[nb] = s;
        }
    }
    free(d->buckets);
    d->buckets = fresh;
    d->nbuckets = n;
    d->resizes++;
}

static void dedup_forget(struct dedup *d, struct seen *old)
{
    struct seen **link = &d->buckets[hash_id(old->id) % d->nbuckets];
    while (*link != old)
        link = &(*link)->next;
    *link = old->next;
    free(old);
}

/* Returns 1 if `id` was seen within the window, else remembers it and
 * returns 0. */
static int dedup_check(struct dedup *d, const char *id, uint64_t now)
{
    size_t chain = 0;
    for (struct seen *s = d->buckets[hash_id(id) % d->nbuckets]; s; s = s->next, chain++)
        if (strcmp(s->id, id) == 0)
            return 1;
    if (chain >= MAX_CHAIN)
        dedup_resize(d);

    struct seen *old = d->window[d->window_next];
    if (old)
        dedup_forget(d, old);
    struct seen *s = malloc(sizeof *s);
    if (!s)
        abort();
    s->first_seen = now;
    snprintf(s->id, sizeof s->id, "%s", id);
    size_t b = hash_id(id) % d->nbuckets;
    s->next = d->buckets[b];
    d->buckets[b] = s;
    d->window[d->window_next] = s;
    d->window_next = (d->window_next + 1) % WINDOW;
    return 0;
}

static void handle_message(struct dedup *d, uint64_t n, uint64_t *next_id)
{
    /* The message is decoded into a temporary buffer. */
    size_t len = 300 + rng_below(&rng, 1200);
    char *msg = malloc(len);
    if (!msg)
        abort();
    uint64_t id;
    if (n % NEW_ID_EVERY == 0 || *next_id == 0)
        id = (*next_id)++;
    else /* a redelivery of a recent message */
        id = *next_id - 1 - rng_below(&rng, (uint32_t)(*next_id < 200 ? *next_id : 200));
    snprintf(msg, len, "{\"id\":\"message:%016llx\",\"payload\":\"...\"}", (unsigned long long)id);

    char *key = strndup(msg + 7, 24); /* "message:" + 16 hex digits */
    if (!key)
        abort();
    if (!dedup_check(d, key, n)) {
        char *ack = malloc(64); /* process it: an acknowledgement to send */
        if (!ack)
            abort();
        snprintf(ack, 64, "ACK %s", key);
        free(ack);
    }
    free(key);
    free(msg);
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    static struct dedup dedup;
    dedup_init(&dedup);
    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    uint64_t next_id = 0;
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        handle_message(&dedup, (uint64_t)n, &next_id);
    }
    sample_say("dedup: %ld messages, %llu ids, %zu buckets after %zu resizes", REQUESTS,
               (unsigned long long)next_id, dedup.nbuckets, dedup.resizes);
    return 0;
}
