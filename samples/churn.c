/*
 * churn: objects allocated and freed per request, heavily, and no growth.
 *
 * An HTTP-ish handler that does everything the expensive way: the request is
 * read into a fresh buffer, split into a fresh array of header structs, each
 * header name and value strdup'ed, the response built in a buffer grown with
 * realloc, and a handful of requests kept in flight for a while (a queue of
 * IN_FLIGHT finished responses waiting to be "sent"). Millions of bytes pass
 * through the allocator, live bytes swing up and down with every request, but
 * the floor never rises. This is waste, not a leak, and heapgrow must not flag
 * it: this sample is its own clean case and has no twin.
 *
 * Exact numbers (the end-to-end test asserts them): nothing leaked, and no
 * site grows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define REQUESTS  6000L
#define IN_FLIGHT 24
#define MAX_HDRS  6

struct header {
    char *name;
    char *value;
};

struct response {
    char *data;
    size_t len, cap;
};

static uint64_t rng = 0xc4e2ULL;

static void response_append(struct response *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *p = realloc(r->data, cap);
        if (!p)
            abort();
        r->data = p;
        r->cap = cap;
    }
    memcpy(r->data + r->len, s, n);
    r->len += n;
    r->data[r->len] = '\0';
}

static char *read_request(size_t *len)
{
    *len = 512 + rng_below(&rng, 3584);
    char *raw = malloc(*len);
    if (!raw)
        abort();
    size_t at = (size_t)snprintf(raw, *len, "GET /r/%u HTTP/1.1\r\n", rng_below(&rng, 1000));
    while (at + 40 < *len) {
        at += (size_t)snprintf(raw + at, *len - at, "X-H%u: v%u\r\n", rng_below(&rng, 50),
                               rng_below(&rng, 1000000));
    }
    return raw;
}

static size_t parse_headers(const char *raw, struct header **out)
{
    struct header *h = calloc(MAX_HDRS, sizeof *h);
    if (!h)
        abort();
    size_t n = 0;
    const char *line = strstr(raw, "\r\n");
    while (line && n < MAX_HDRS) {
        line += 2;
        const char *colon = strchr(line, ':');
        const char *end = strstr(line, "\r\n");
        if (!colon || !end || colon > end)
            break;
        h[n].name = strndup(line, (size_t)(colon - line));
        h[n].value = strndup(colon + 2, (size_t)(end - colon - 2));
        if (!h[n].name || !h[n].value)
            abort();
        n++;
        line = end;
    }
    *out = h;
    return n;
}

static SAMPLE_NOINLINE struct response *handle_request(void)
{
    size_t len;
    char *raw = read_request(&len);
    struct header *hdrs;
    size_t n = parse_headers(raw, &hdrs);

    struct response *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    response_append(r, "HTTP/1.1 200 OK\r\n", 17);
    for (size_t i = 0; i < n; i++) {
        char line[128];
        int k = snprintf(line, sizeof line, "Echo-%s: %s\r\n", hdrs[i].name, hdrs[i].value);
        response_append(r, line, (size_t)k);
    }
    size_t body = rng_below(&rng, 6000);
    for (size_t i = 0; i < body; i += 100)
        response_append(r,
                        "0123456789012345678901234567890123456789012345678901234567890123456789"
                        "012345678901234567890123456789",
                        100);

    for (size_t i = 0; i < n; i++) {
        free(hdrs[i].name);
        free(hdrs[i].value);
    }
    free(hdrs);
    free(raw);
    return r;
}

static void response_send(struct response *r)
{
    free(r->data);
    free(r);
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    struct response *queue[IN_FLIGHT] = {0};
    size_t sent_bytes = 0;
    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        /* Responses wait a random while before they go out. */
        size_t slot = rng_below(&rng, IN_FLIGHT);
        if (queue[slot]) {
            sent_bytes += queue[slot]->len;
            response_send(queue[slot]);
        }
        queue[slot] = handle_request();
    }
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        if (queue[i]) {
            sent_bytes += queue[i]->len;
            response_send(queue[i]);
        }
    }
    sample_say("churn: %ld requests, %zu bytes sent", REQUESTS, sent_bytes);
    return 0;
}
