/*
 * pool_leak: a free-list pool that takes objects back but never gives them out
 * again.
 *
 * To stop churning the allocator, a parser keeps its token buffers in a pool:
 * pool_get() reuses a returned buffer when there is one, and only allocates
 * when the free list is empty; pool_put() returns a buffer. Because a buffer
 * might still be read by a late logger, pool_put() does not push onto the free
 * list directly: it parks the buffer on a `retired` list, and pool_reclaim()
 * is meant to move retired buffers to the free list once per request, when no
 * reader can hold them any more. The call to pool_reclaim() was lost in a
 * refactoring. So every buffer ever handed out stays parked, pool_get() always
 * allocates, and the pool grows by every buffer a request uses.
 *
 * Like most servers, neither program tears its pool down at exit: the pool is
 * a global, so its buffers are still reachable when the process ends. A leak
 * checker that reports only unreachable memory (LeakSanitizer; valgrind's
 * "definitely lost") sees nothing wrong in either program. Only the growth
 * shows the bug.
 *
 * Built twice (samples/meson.build):
 *   pool_leak  the bug: pool_reclaim() is never called.
 *   pool_ok    -DFIXED: pool_reclaim() runs after every request; the pool
 *              holds at most the MAX_TOKENS buffers one request needs.
 *
 * Exact numbers (the end-to-end test asserts them):
 *   pool_leak: every pool_get() allocated: 19858 buffers (1 to MAX_TOKENS per
 *     request, drawn from the fixed-seed PRNG) of sizeof(struct token_buf) =
 *     496 bytes are live at exit: 9849568 bytes in 19858 blocks from pool_get
 *     (the GROWS line).
 *   pool_ok: the pool holds the MAX_TOKENS = 3 buffers the busiest request
 *     needed: 1488 bytes in 3 blocks from pool_get.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define REQUESTS   10000L
#define MAX_TOKENS 3 /* token buffers one request uses, at most */
#define TOKEN_SIZE 480

struct token_buf {
    struct token_buf *next; /* free or retired list */
    size_t len;
    char text[TOKEN_SIZE];
};

struct pool {
    struct token_buf *free_list; /* ready to hand out                 */
    struct token_buf *retired;   /* returned, waiting for reclamation */
    size_t allocated;            /* buffers the pool owns in all      */
};

static struct pool pool; /* the process-wide pool, never torn down */
static uint64_t rng = 0x9001ULL;

/* Hands out a buffer: a reused one if any, else a new one. */
static SAMPLE_NOINLINE struct token_buf *pool_get(struct pool *p)
{
    struct token_buf *t = p->free_list;
    if (t) {
        p->free_list = t->next;
        return t;
    }
    t = malloc(sizeof *t); /* GROWS */
    if (!t)
        abort();
    p->allocated++;
    return t;
}

static void pool_put(struct pool *p, struct token_buf *t)
{
    t->next = p->retired;
    p->retired = t;
}

/* Moves every retired buffer to the free list. Safe once no reader holds
 * retired buffers: between requests. (pool_leak never calls it: that is the
 * bug, hence "unused".) */
static __attribute__((unused)) void pool_reclaim(struct pool *p)
{
    while (p->retired) {
        struct token_buf *t = p->retired;
        p->retired = t->next;
        t->next = p->free_list;
        p->free_list = t;
    }
}

static void handle_request(struct pool *p)
{
    /* The raw request: a temporary buffer, as usual. */
    size_t len = 200 + rng_below(&rng, 2000);
    char *raw = malloc(len);
    if (!raw)
        abort();
    memset(raw, 'a' + (int)rng_below(&rng, 26), len - 1);
    raw[len - 1] = '\0';

    /* Tokenize into pooled buffers. */
    struct token_buf *tokens[MAX_TOKENS] = {NULL};
    unsigned ntokens = 1 + rng_below(&rng, MAX_TOKENS);
    for (unsigned i = 0; i < ntokens; i++) {
        tokens[i] = pool_get(p);
        tokens[i]->len =
            (size_t)snprintf(tokens[i]->text, TOKEN_SIZE, "%.*s", 100, raw + i * 50 % (len - 1));
    }
    char *summary = malloc(64); /* a log line about the request */
    if (!summary)
        abort();
    snprintf(summary, 64, "%u tokens, first %zu bytes", ntokens, tokens[0]->len);
    free(summary);
    for (unsigned i = 0; i < ntokens; i++)
        pool_put(p, tokens[i]);
    free(raw);
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        handle_request(&pool);
#ifdef FIXED
        pool_reclaim(&pool); /* the fix: the call that was lost */
#endif
    }
    sample_say("pool: %ld requests, %zu buffers owned by the pool at exit", REQUESTS,
               pool.allocated);
    return 0;
}
