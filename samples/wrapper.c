/*
 * wrapper: allocation through the program's own wrapper.
 *
 * Like many C code bases, this one never calls malloc directly: every
 * allocation goes through my_alloc(), which counts bytes for its own
 * statistics, zeroes the memory and aborts on failure (and my_free() for the
 * way back). To a tracer that stops at the first frame above malloc, every
 * allocation in the program comes from one place, my_alloc, and the growing
 * structure hides among the churn. Told that my_alloc is a wrapper
 * (`heapgrow report --wrapper my_alloc`), heapgrow reports its callers
 * instead, and the growth is where it belongs: audit_log_append, which keeps
 * one record per request in an audit log that is never trimmed.
 *
 * Built twice (samples/meson.build):
 *   wrapper        the bug: the audit log keeps every record.
 *   wrapper_fixed  -DFIXED: the log keeps the last AUDIT_KEEP records (a ring)
 *                  and is freed at exit.
 *
 * Exact numbers (the end-to-end test asserts them):
 *   wrapper: REQUESTS = 10000 records of sizeof(struct audit_record) = 168
 *     bytes are live at exit: 1680000 bytes in 10000 blocks leaked from
 *     audit_log_append (the GROWS line; from my_alloc without --wrapper).
 *   wrapper_fixed: nothing leaked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define REQUESTS   10000L
#define AUDIT_KEEP 128 /* (FIXED) records kept */

static size_t bytes_in_use; /* my_alloc's own statistics */

/* The program's allocator wrapper: never returns NULL, returns zeroed memory. */
SAMPLE_NOINLINE void *my_alloc(size_t size);
SAMPLE_NOINLINE void my_free(void *p, size_t size);

SAMPLE_NOINLINE void *my_alloc(size_t size)
{
    void *p = malloc(size);
    if (!p)
        abort();
    memset(p, 0, size);
    bytes_in_use += size;
    return p;
}

SAMPLE_NOINLINE void my_free(void *p, size_t size)
{
    if (p)
        bytes_in_use -= size;
    free(p);
}

struct audit_record {
    struct audit_record *next; /* newest first */
    uint64_t request_id;
    int status;
    char user[32];
    char action[112];
};

struct audit_log {
    struct audit_record *newest;
    size_t count;
};

static uint64_t rng = 0xa0d17ULL;

static SAMPLE_NOINLINE void audit_log_append(struct audit_log *log, uint64_t id, const char *user,
                                             const char *action, int status)
{
    struct audit_record *r = my_alloc(sizeof *r); /* GROWS */
    r->request_id = id;
    r->status = status;
    snprintf(r->user, sizeof r->user, "%s", user);
    snprintf(r->action, sizeof r->action, "%s", action);
    r->next = log->newest;
    log->newest = r;
    log->count++;
#ifdef FIXED
    if (log->count > AUDIT_KEEP) { /* the fix: drop the oldest record */
        struct audit_record **link = &log->newest;
        while ((*link)->next)
            link = &(*link)->next;
        my_free(*link, sizeof **link);
        *link = NULL;
        log->count--;
    }
#endif
}

#ifdef FIXED
static void audit_log_free(struct audit_log *log)
{
    while (log->newest) {
        struct audit_record *r = log->newest;
        log->newest = r->next;
        my_free(r, sizeof *r);
    }
    log->count = 0;
}
#endif

static void handle_request(struct audit_log *log, uint64_t n)
{
    size_t len = 256 + rng_below(&rng, 2048);
    char *body = my_alloc(len); /* the request body: churn */
    snprintf(body, len, "user=u%u&action=update&field=%u", rng_below(&rng, 900),
             rng_below(&rng, 40));
    char *user = my_alloc(32);
    memcpy(user, body + 5, strcspn(body + 5, "&") < 31 ? strcspn(body + 5, "&") : 31);
    char *action = my_alloc(128);
    snprintf(action, 128, "update field %s", strrchr(body, '=') + 1);
    audit_log_append(log, n, user, action, 200);
    my_free(action, 128);
    my_free(user, 32);
    my_free(body, len);
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    struct audit_log log = {0};
    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        handle_request(&log, (uint64_t)n);
    }
    sample_say("audit log: %ld requests, %zu records at exit, %zu bytes in use", REQUESTS,
               log.count, bytes_in_use);
#ifdef FIXED
    audit_log_free(&log);
#endif
    return 0;
}
