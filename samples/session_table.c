/*
 * session_table: a map that only ever gains keys.
 *
 * A login server keeps one `struct session` per session id in a chained hash
 * table. Every 4th request is a login and creates a session; the others look up
 * a recent session and touch it. Nothing ever removes a session: the table
 * gains a key per login for as long as the process lives.
 *
 * Built twice (samples/meson.build):
 *   session_table      the bug: sessions are never expired.
 *   session_table_ttl  -DFIXED: sessions idle for SESSION_TTL requests are
 *                      expired by a sweep every SWEEP_EVERY requests, and the
 *                      table is torn down at exit.
 *
 * Exact numbers (the end-to-end test asserts them):
 *   session_table: REQUESTS / 4 = 3500 sessions, sizeof(struct session) = 224
 *     bytes each, are live at exit: 784000 bytes in 3500 blocks leaked from
 *     session_table_insert (the GROWS line), plus the bucket array, 32768 bytes
 *     in 1 block, from session_table_init.
 *   session_table_ttl: nothing leaked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define REQUESTS      14000L
#define NBUCKETS      4096 /* fixed: sized for the expected load, never resized */
#define SESSION_TTL   2000 /* requests a session may stay idle (FIXED)          */
#define SWEEP_EVERY   250  /* requests between two sweeps (FIXED)               */
#define RECENT_WINDOW 400  /* lookups touch one of the last 400 sessions        */

struct session {
    struct session *next; /* hash chain */
    uint64_t id;
    uint64_t last_seen; /* request number of the last touch */
    char user[32];
    unsigned char state[168]; /* opaque per-session state (tokens, prefs...) */
};

struct session_table {
    struct session **buckets;
    size_t count;
};

static uint64_t rng = 0x5e5510a7ab1eULL;

static size_t bucket_of(uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ULL) >> 52) % NBUCKETS;
}

static SAMPLE_NOINLINE void session_table_init(struct session_table *t)
{
    t->buckets = calloc(NBUCKETS, sizeof *t->buckets);
    if (!t->buckets)
        abort();
    t->count = 0;
}

/* Creates the session `id` for `user`. One allocation per session: the key and
 * the state live inside the node. */
static SAMPLE_NOINLINE struct session *session_table_insert(struct session_table *t, uint64_t id,
                                                            const char *user, uint64_t now)
{
    struct session *s = malloc(sizeof *s); /* GROWS */
    if (!s)
        abort();
    s->id = id;
    s->last_seen = now;
    snprintf(s->user, sizeof s->user, "%s", user);
    memset(s->state, (int)(id & 0xff), sizeof s->state);
    size_t b = bucket_of(id);
    s->next = t->buckets[b];
    t->buckets[b] = s;
    t->count++;
    return s;
}

static struct session *session_table_find(struct session_table *t, uint64_t id)
{
    for (struct session *s = t->buckets[bucket_of(id)]; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

#ifdef FIXED
/* The fix: forget sessions nobody has used for SESSION_TTL requests. */
static void session_table_sweep(struct session_table *t, uint64_t now)
{
    for (size_t b = 0; b < NBUCKETS; b++) {
        struct session **link = &t->buckets[b];
        while (*link) {
            struct session *s = *link;
            if (now - s->last_seen > SESSION_TTL) {
                *link = s->next;
                free(s);
                t->count--;
            } else {
                link = &s->next;
            }
        }
    }
}

static void session_table_destroy(struct session_table *t)
{
    session_table_sweep(t, UINT64_MAX / 2); /* everything is expired by then */
    free(t->buckets);
    t->buckets = NULL;
}
#endif

/* One request: the raw text is parsed into a short-lived buffer, a response is
 * built in another, both freed before the next request (the churn around the
 * growth). */
static void handle_request(struct session_table *t, uint64_t n, uint64_t *next_id)
{
    size_t raw_len = 256 + rng_below(&rng, 768);
    char *raw = malloc(raw_len);
    if (!raw)
        abort();
    int is_login = (n % 4 == 0);
    uint64_t id;
    if (is_login)
        id = (*next_id)++;
    else
        id = *next_id > RECENT_WINDOW ? *next_id - 1 - rng_below(&rng, RECENT_WINDOW)
                                      : rng_below(&rng, (uint32_t)*next_id + 1);
    snprintf(raw, raw_len, "%s /session HTTP/1.1\r\nCookie: sid=%llu\r\nUser: user%u\r\n\r\n",
             is_login ? "POST" : "GET", (unsigned long long)id, rng_below(&rng, 100000));

    /* "Parse": copy the user name out into a temporary string. */
    const char *u = strstr(raw, "User: ");
    char *user = u ? strndup(u + 6, strcspn(u + 6, "\r")) : strdup("anonymous");
    if (!user)
        abort();

    struct session *s = is_login ? session_table_insert(t, id, user, n) : session_table_find(t, id);
    if (s)
        s->last_seen = n;

    char *response = malloc(128 + raw_len / 4);
    if (!response)
        abort();
    snprintf(response, 128 + raw_len / 4, "200 OK session=%llu user=%s", (unsigned long long)id,
             s ? s->user : "?");
    free(response);
    free(user);
    free(raw);
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    struct session_table table;
    session_table_init(&table);

    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    uint64_t next_id = 0;
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        handle_request(&table, (uint64_t)n, &next_id);
#ifdef FIXED
        if (n % SWEEP_EVERY == SWEEP_EVERY - 1)
            session_table_sweep(&table, (uint64_t)n);
#endif
    }
    sample_say("session_table: %ld requests, %zu sessions in the table at exit", REQUESTS,
               table.count);
#ifdef FIXED
    session_table_destroy(&table);
#endif
    return 0;
}
