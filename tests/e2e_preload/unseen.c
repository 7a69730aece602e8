/*
 * free() and realloc() of pointers the tracer never saw, under LD_PRELOAD:
 * blocks that came from glibc's allocator by a route that bypasses the
 * interposed symbols -- glibc's exported __libc_malloc/__libc_calloc/
 * __libc_memalign (which some programs and malloc-debugging libraries call
 * directly), and libc's own "malloc" looked up through a dlopen handle of
 * libc.so.6 rather than by the usual symbol resolution. The tracer must
 * forward such frees silently: errno kept, nothing on stderr, and the memory
 * really returned to glibc (the next malloc of the same size in the same
 * thread gets the same block back from glibc's per-thread cache). realloc of
 * such a block is an allocation the tracer sees: the new block is traced
 * (LEAK line, run.py finds it in the final live set). glibc only.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t nmemb, size_t size);
void *__libc_memalign(size_t align, size_t size);

/* Frees p, which the tracer never saw, then checks that glibc got it back:
 * the next malloc of the same size in this thread is served from the tcache
 * with that very block (sizes up to 1032 bytes). */
static void free_unseen(void *p, size_t size)
{
    errno = 4242;
    free(p);
    CHECK(errno == 4242);
    void *q = malloc(size);
    CHECK(q == p);
    free(q);
}

int main(void)
{
    free_unseen(__libc_malloc(333), 333);
    free_unseen(__libc_calloc(3, 111), 333);

    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    CHECK(libc != NULL);
    void *(*libc_malloc)(size_t) = libc ? (void *(*)(size_t))dlsym(libc, "malloc") : NULL;
    CHECK(libc_malloc != NULL);
    /* Under the tracer, the usual resolution of "malloc" finds the tracer's. */
    CHECK(getenv("E2E_TRACED") == NULL || libc_malloc != malloc);
    if (libc_malloc != NULL)
        free_unseen(libc_malloc(555), 555);

    /* Aligned, larger than the tcache: just freed without complaint. */
    void *al = __libc_memalign(4096, 20000);
    CHECK(al != NULL);
    errno = 4242;
    free(al);
    CHECK(errno == 4242);

    /* realloc of an unseen block: the result is a new, traced block. */
    char *r = __libc_malloc(100);
    CHECK(r != NULL);
    strcpy(r, "kept across realloc");
    r = realloc(r, 6543);
    CHECK(r != NULL && strcmp(r, "kept across realloc") == 0);
    LEAK(r, 6543);

    /* realloc(unseen, 0) frees it (glibc), like free. */
    void *z = __libc_malloc(777);
    errno = 4242;
    CHECK(realloc(z, 0) == NULL);
    CHECK(errno == 4242);
    void *z2 = malloc(777);
    CHECK(z2 == z);
    free(z2);

    if (libc != NULL)
        dlclose(libc);
    return E2E_STATUS(0);
}
