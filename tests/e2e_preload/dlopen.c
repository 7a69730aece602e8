/*
 * dlopen/dlclose of a library that allocates (argv[1]), then the same library
 * with RTLD_DEEPBIND: the tracer drops the flag (one message on stderr, one
 * WARNING record), so the library's malloc is the interposed one. Leaks 3333
 * bytes allocated inside the library (the library stays loaded) and 4444 from
 * the first load (unloaded before exit). argv[2] is the library's bare name,
 * found through this program's RUNPATH: dlopen must search the caller's
 * RUNPATH, not the tracer's.
 */
#include <dlfcn.h>
#include <stdlib.h>

#include "e2e.h"

typedef void *(*alloc_fn)(size_t);
typedef void *(*(*addr_fn)(void))(size_t);

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    if (argc != 3)
        return 99;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    if (h == NULL)
        return 99;
    alloc_fn f = (alloc_fn)dlsym(h, "alloclib_alloc");
    CHECK(f != NULL);
    void *p = f(4444);
    CHECK(p != NULL);
    LEAK(p, 4444);
    CHECK(dlclose(h) == 0);

    /* By bare name, through the caller's RUNPATH. */
    void *b = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    CHECK(b != NULL);
    if (b != NULL)
        CHECK(dlclose(b) == 0);

    /* A missing library: NULL and a dlerror() message, as without the tracer. */
    CHECK(dlopen("/nonexistent/libnothing.so", RTLD_NOW) == NULL);
    CHECK(dlerror() != NULL);

    void *d = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    CHECK(d != NULL);
    if (d == NULL)
        return 99;
    addr_fn which = (addr_fn)dlsym(d, "alloclib_malloc_address");
    CHECK(which != NULL);
    void *(*global_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "malloc");
    CHECK(which() == global_malloc);
    alloc_fn g = (alloc_fn)dlsym(d, "alloclib_alloc");
    void *q = g(3333);
    CHECK(q != NULL);
    LEAK(q, 3333);
    return E2E_STATUS(0);
}
