/*
 * listeners: references kept alive by registered callbacks never removed.
 *
 * A server has an event bus for configuration reloads. Each request, while it
 * runs, wants to hear about a reload (to re-read its limits), so it registers a
 * listener: a `struct request_watch` that captures the request's context and
 * embeds the bus's list link (the intrusive style of wl_listener or the Linux
 * notifier chains). The request finishes a few requests later and releases its
 * other resources, but nobody unregisters the watch: the bus still points at
 * it, so it can never be freed, and every reload calls more and more dead
 * listeners.
 *
 * Built twice (samples/meson.build):
 *   listeners             the bug: watches stay registered forever.
 *   listeners_unregister  -DFIXED: request_finish() unregisters the watch and
 *                         frees it; at exit the requests still in flight are
 *                         finished the same way.
 *
 * Exact numbers (the end-to-end test asserts them):
 *   listeners: one watch per request, REQUESTS = 10000 watches of
 *     sizeof(struct request_watch) = 200 bytes, are live at exit: 2000000
 *     bytes in 10000 blocks leaked from request_watch_config (the GROWS line).
 *   listeners_unregister: nothing leaked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"

#define REQUESTS     10000L
#define IN_FLIGHT    16  /* a request finishes 16 requests after it started */
#define RELOAD_EVERY 500 /* a configuration reload every 500 requests       */

/* The bus: a doubly linked list of listeners, each embedded in its owner. */
struct listener {
    struct listener *prev, *next;
    void (*notify)(struct listener *l, int config_version);
};

struct bus {
    struct listener head; /* sentinel */
    size_t count;
};

static void bus_init(struct bus *b)
{
    b->head.prev = b->head.next = &b->head;
    b->count = 0;
}

static void bus_subscribe(struct bus *b, struct listener *l)
{
    l->next = &b->head;
    l->prev = b->head.prev;
    b->head.prev->next = l;
    b->head.prev = l;
    b->count++;
}

#ifdef FIXED
static void bus_unsubscribe(struct bus *b, struct listener *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
    b->count--;
}
#endif

static void bus_publish(struct bus *b, int config_version)
{
    for (struct listener *l = b->head.next; l != &b->head; l = l->next)
        l->notify(l, config_version);
}

/* A request's context, captured by its listener. */
struct request_watch {
    struct listener link; /* must stay first: container_of is a cast */
    uint64_t request_id;
    int config_version;
    unsigned limits[16];
    char client[96];
};

struct request {
    uint64_t id;
    char *body;                  /* freed when the request finishes */
    struct request_watch *watch; /* registered on the bus           */
};

static struct bus config_bus;
static uint64_t rng = 0x11573e5ULL;

static void on_config_reload(struct listener *l, int config_version)
{
    struct request_watch *w = (struct request_watch *)l;
    w->config_version = config_version;
    for (int i = 0; i < 16; i++)
        w->limits[i] = (unsigned)config_version * 10 + (unsigned)i;
}

/* Registers the request for reload notifications. One allocation per watch. */
static SAMPLE_NOINLINE struct request_watch *request_watch_config(struct request *r,
                                                                  const char *client)
{
    struct request_watch *w = malloc(sizeof *w); /* GROWS */
    if (!w)
        abort();
    memset(w, 0, sizeof *w);
    w->link.notify = on_config_reload;
    w->request_id = r->id;
    snprintf(w->client, sizeof w->client, "%s", client);
    bus_subscribe(&config_bus, &w->link);
    return w;
}

static void request_start(struct request *r, uint64_t id)
{
    r->id = id;
    size_t len = 200 + rng_below(&rng, 1800);
    r->body = malloc(len);
    if (!r->body)
        abort();
    snprintf(r->body, len, "POST /upload id=%llu client=host%u", (unsigned long long)id,
             rng_below(&rng, 5000));
    char *client = strdup(strstr(r->body, "client=") + 7); /* parse: temporary */
    if (!client)
        abort();
    r->watch = request_watch_config(r, client);
    free(client);
}

static void request_finish(struct request *r)
{
    free(r->body);
    r->body = NULL;
#ifdef FIXED
    bus_unsubscribe(&config_bus, &r->watch->link); /* the fix */
    free(r->watch);
#endif
    r->watch = NULL; /* the bug: the bus still holds it */
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    bus_init(&config_bus);
    struct request in_flight[IN_FLIGHT];
    memset(in_flight, 0, sizeof in_flight);

    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    int config_version = 1;
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        struct request *slot = &in_flight[n % IN_FLIGHT];
        if (slot->body)
            request_finish(slot); /* the request started IN_FLIGHT ago is done */
        request_start(slot, (uint64_t)n);
        if (n % RELOAD_EVERY == RELOAD_EVERY - 1)
            bus_publish(&config_bus, ++config_version);
    }
    for (int i = 0; i < IN_FLIGHT; i++)
        if (in_flight[i].body)
            request_finish(&in_flight[i]);
    sample_say("listeners: %ld requests, %zu listeners registered at exit", REQUESTS,
               config_bus.count);
    return 0;
}
