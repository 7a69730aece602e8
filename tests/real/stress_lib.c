/* dlopen'ed and dlclose'd in a loop by stress.c: allocates for its caller. */
#include <stdlib.h>
#include <string.h>

void *stress_lib_alloc(size_t n);

void *stress_lib_alloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}
