/*
 * A library that dlopen.c loads at run time: it allocates, and it tells which
 * malloc it is bound to (with RTLD_DEEPBIND it would be libc's, not the
 * tracer's).
 */
#include <stdlib.h>

void *alloclib_alloc(size_t size);
void *(*alloclib_malloc_address(void))(size_t);

void *alloclib_alloc(size_t size)
{
    char *p = malloc(size);
    /* Not a tail call: the innermost frame must be in this library. */
    if (p != NULL && size > 0)
        p[0] = 1;
    return p;
}

void *(*alloclib_malloc_address(void))(size_t)
{
    return malloc;
}
