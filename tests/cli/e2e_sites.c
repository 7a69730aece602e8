/*
 * Known allocation sites of the kinds a symbolizer gets wrong, traced by
 * tests/cli/test_e2e.py through `heapgrow run` and reported as JSON. Built
 * with -O2 -g. Every step allocates one block at each site and keeps it, so
 * every site grows and leaks STEPS blocks at exit:
 *   - add_entry: inlined into main (always_inline, and the test checks that no
 *     out-of-line copy exists): the site's function is add_entry, its line the
 *     malloc inside it;
 *   - static_grow: a static function between two exported ones, so that a
 *     symbolizer that names an address after the nearest exported symbol
 *     before it says sites_before;
 *   - wrapped_grow: allocates through my_alloc_or_die, a wrapper that the test
 *     names with --wrapper: the site is then wrapped_grow, the wrapper's
 *     caller (without it, the wrapper itself);
 *   - plug_static_grow (e2e_plug.c): a static function of a library that is
 *     dlopen'ed at start and dlclose'd before exit (argv[1] is its path).
 * The markers "SITE:<name>" give the test the source line of each call.
 * The steps are paced (nanosleep) so that the tracer's snapshots see the
 * growth over time; nothing waits on the tracer.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STEPS 60

struct blk {
    struct blk *next;
};

void sites_before(void);
void sites_after(void);
void *my_alloc_or_die(size_t size);

static struct blk *inline_list, *static_list, *wrapped_list;
static void *plug_list;

static inline __attribute__((always_inline)) void add_entry(size_t size)
{
    struct blk *b = malloc(size); /* SITE:inline */
    if (b == NULL)
        abort();
    memset(b, 1, size);
    b->next = inline_list;
    inline_list = b;
}

/* Exported, so that they are in .dynsym around static_grow. */
__attribute__((noinline)) void sites_before(void)
{
    static_list = NULL;
}

__attribute__((noinline)) static void static_grow(void)
{
    struct blk *b = malloc(2560); /* SITE:static */
    if (b == NULL)
        abort();
    memset(b, 2, 2560);
    b->next = static_list;
    static_list = b;
}

__attribute__((noinline)) void sites_after(void)
{
    wrapped_list = NULL;
}

/* A user's allocation wrapper: not a tail call (it checks the result). */
__attribute__((noinline)) void *my_alloc_or_die(size_t size)
{
    void *p = malloc(size); /* SITE:wrapper */
    if (p == NULL) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return p;
}

__attribute__((noinline)) static void wrapped_grow(void)
{
    struct blk *b = my_alloc_or_die(3072); /* SITE:wrapped */
    memset(b, 3, 3072);
    b->next = wrapped_list;
    wrapped_list = b;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: e2e_sites PLUGIN.so\n", stderr);
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    void *(*plug_grow)(void *) = (void *(*)(void *))dlsym(h, "plug_grow");
    if (plug_grow == NULL)
        return 2;
    sites_before();
    sites_after();
    for (int i = 0; i < STEPS; i++) {
        add_entry(2048);
        static_grow();
        wrapped_grow();
        plug_list = plug_grow(plug_list);
        struct timespec ts = {0, 15 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* The library's blocks outlive it: it is really unloaded. */
    if (dlclose(h) != 0 || dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD) != NULL)
        return 3;
    return 0;
}
