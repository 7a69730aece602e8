/*
 * shared_map: a map shared by several threads, locked correctly, that grows.
 *
 * A gateway keeps per-client rate-limit state in one hash map shared by its
 * WORKERS worker threads. Lookups take the read lock, inserts the write lock:
 * there is no race here, the locking is right. The bug is the growth: every
 * client address ever seen keeps its entry, and all threads insert at the same
 * call site (client_map_insert), so the report shows one site fed by every
 * thread.
 *
 * Built twice (samples/meson.build):
 *   shared_map          the bug: entries are never removed.
 *   shared_map_bounded  -DFIXED: at most MAP_CAPACITY entries; inserting into a
 *                       full map evicts the oldest entry (a FIFO list kept
 *                       under the same write lock). The map is torn down at
 *                       exit.
 *
 * Each worker handles REQUESTS / WORKERS requests; every 3rd one comes from a
 * client address nobody used before (the worker's own address range, so the
 * set of addresses, and hence every count below, does not depend on how the
 * threads interleave). The others come from a small set of regulars.
 *
 * Exact numbers (the end-to-end test asserts them):
 *   shared_map: 4 workers x 3000 requests / 3 = 4000 new clients, plus the
 *     64 regulars, 4064 entries of sizeof(struct client) = 256 bytes, are live
 *     at exit: 1040384 bytes in 4064 blocks leaked from client_map_insert (the
 *     GROWS line), plus the bucket array, 8192 bytes in 1 block, from
 *     client_map_init.
 *   shared_map_bounded: nothing leaked.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define WORKERS      4
#define REQUESTS     12000L /* in total, split evenly over the workers */
#define NBUCKETS     1024   /* fixed: never resized                    */
#define REGULARS     64     /* clients that come back again and again  */
#define MAP_CAPACITY 512    /* (FIXED) entries at most                 */

struct client {
    struct client *next;      /* hash chain                    */
    struct client *fifo_next; /* insertion order (FIXED)       */
    char addr[24];            /* "10.w.x.y"                    */
    uint64_t tokens;          /* the rate limiter's bucket     */
    uint64_t hits;
    unsigned char history[200]; /* recent request fingerprints */
};

struct client_map {
    pthread_rwlock_t lock; /* protects everything below */
    struct client **buckets;
    struct client *fifo_head, *fifo_tail;
    size_t count;
};

static struct client_map map;

static size_t hash_addr(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h % NBUCKETS);
}

static SAMPLE_NOINLINE void client_map_init(struct client_map *m)
{
    memset(m, 0, sizeof *m);
    if (pthread_rwlock_init(&m->lock, NULL) != 0)
        abort();
    m->buckets = calloc(NBUCKETS, sizeof *m->buckets);
    if (!m->buckets)
        abort();
}

/* Caller holds the lock (read or write). */
static struct client *find_locked(struct client_map *m, const char *addr)
{
    for (struct client *c = m->buckets[hash_addr(addr)]; c; c = c->next)
        if (strcmp(c->addr, addr) == 0)
            return c;
    return NULL;
}

#ifdef FIXED
/* Caller holds the write lock. Removes the oldest entry. */
static void evict_oldest_locked(struct client_map *m)
{
    struct client *old = m->fifo_head;
    struct client **link = &m->buckets[hash_addr(old->addr)];
    while (*link != old)
        link = &(*link)->next;
    *link = old->next;
    m->fifo_head = old->fifo_next;
    if (!m->fifo_head)
        m->fifo_tail = NULL;
    m->count--;
    free(old);
}

static void client_map_destroy(struct client_map *m)
{
    while (m->fifo_head)
        evict_oldest_locked(m);
    free(m->buckets);
    pthread_rwlock_destroy(&m->lock);
}
#endif

/* Takes the write lock; inserts `addr` unless another thread did meanwhile.
 * One allocation per client, key inline. */
static SAMPLE_NOINLINE struct client *client_map_insert(struct client_map *m, const char *addr)
{
    pthread_rwlock_wrlock(&m->lock);
    struct client *c = find_locked(m, addr);
    if (!c) {
#ifdef FIXED
        if (m->count >= MAP_CAPACITY)
            evict_oldest_locked(m); /* the fix: the map is bounded */
#endif
        c = malloc(sizeof *c); /* GROWS */
        if (!c)
            abort();
        memset(c, 0, sizeof *c);
        snprintf(c->addr, sizeof c->addr, "%s", addr);
        c->tokens = 100;
        size_t b = hash_addr(addr);
        c->next = m->buckets[b];
        m->buckets[b] = c;
        if (m->fifo_tail)
            m->fifo_tail->fifo_next = c;
        else
            m->fifo_head = c;
        m->fifo_tail = c;
        m->count++;
    }
    c->hits++;
    pthread_rwlock_unlock(&m->lock);
    return c;
}

/* Returns 1 when the client is known (and counts the hit), under the read
 * lock: the common, cheap path. */
static int client_map_touch(struct client_map *m, const char *addr)
{
    pthread_rwlock_rdlock(&m->lock);
    struct client *c = find_locked(m, addr);
    if (c)
        __atomic_fetch_add(&c->hits, 1, __ATOMIC_RELAXED); /* hits is a statistic only */
    pthread_rwlock_unlock(&m->lock);
    return c != NULL;
}

struct worker {
    pthread_t thread;
    int index;
    double seconds;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = 0x5ba7edULL + (uint64_t)w->index * 7919;
    long per_worker = REQUESTS / WORKERS;
    unsigned new_clients = 0;
    struct pacer pacer;
    pacer_start(&pacer, per_worker, w->seconds);
    for (long n = 0; n < per_worker; n++) {
        pacer_wait(&pacer, n);
        /* The request line is read into a temporary buffer and parsed. */
        char *line = malloc(96 + rng_below(&rng, 160));
        if (!line)
            abort();
        if (n % 3 == 0) {
            sprintf(line, "GET /api 10.%d.%u.%u", w->index, new_clients / 250, new_clients % 250);
            new_clients++;
        } else {
            sprintf(line, "GET /api 10.99.0.%u", rng_below(&rng, REGULARS));
        }
        char *addr = strdup(strrchr(line, ' ') + 1);
        if (!addr)
            abort();
        if (!client_map_touch(&map, addr))
            client_map_insert(&map, addr);
        free(addr);
        free(line);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    client_map_init(&map);
    struct worker workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i].index = i;
        workers[i].seconds = seconds;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
            abort();
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(workers[i].thread, NULL);
    sample_say("shared_map: %d workers, %ld requests, %zu clients in the map at exit", WORKERS,
               REQUESTS, map.count);
#ifdef FIXED
    client_map_destroy(&map);
#endif
    return 0;
}
