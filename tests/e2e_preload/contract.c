/*
 * Every interposed C function and its contract, under LD_PRELOAD: errno kept,
 * realloc(p, 0) and realloc(NULL, n), calloc/reallocarray overflow -> NULL +
 * ENOMEM, posix_memalign's codes and untouched *memptr, alignment of every
 * aligned allocator, malloc_usable_size, the public API. Built twice: plain
 * (glibc) and linked with jemalloc (-DE2E_JEMALLOC); run.py also runs it with
 * tcmalloc preloaded after heapgrow (E2E_TCMALLOC=1). Leaks a few blocks on
 * purpose (LEAK lines) and exits with status 7.
 */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <heapgrow/heapgrow.h>

#include "e2e.h"

/* The test uses blocks after realloc/reallocarray calls that are made to fail:
 * then the block stays valid, which the compiler's heuristic cannot know. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

#ifdef E2E_JEMALLOC
#include <jemalloc/jemalloc.h>
static uint64_t jemalloc_thread_allocated(void)
{
    uint64_t v = 0;
    size_t sz = sizeof v;
    CHECK(mallctl("thread.allocated", &v, &sz, NULL, 0) == 0);
    return v;
}
#endif

/* Bytes the preloaded tcmalloc has handed out, through its C API. */
static size_t tcmalloc_allocated(void)
{
    int (*get)(const char *, size_t *) =
        (int (*)(const char *, size_t *))dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty");
    size_t v = 0;
    CHECK(get != NULL);
    if (get != NULL)
        CHECK(get("generic.current_allocated_bytes", &v) == 1);
    return v;
}

/* Hides constant sizes from the compiler's allocation-size warnings. */
static size_t opaque(size_t v)
{
    volatile size_t x = v;
    return x;
}

static int is_aligned(const void *p, size_t a)
{
    return ((uintptr_t)p & (a - 1)) == 0;
}

int main(void)
{
    const size_t huge = opaque(SIZE_MAX / 2);
    long page = sysconf(_SC_PAGESIZE);
    int is_tcmalloc = getenv("E2E_TCMALLOC") != NULL;
    int is_traced = getenv("E2E_TRACED") != NULL;

    /* malloc / free, errno untouched on success */
    errno = 4242;
    char *p = malloc(100);
    CHECK(p != NULL && errno == 4242);
    memset(p, 'x', 100);
    CHECK(malloc_usable_size(p) >= 100);
    free(p);
    CHECK(errno == 4242);
    free(NULL);
    CHECK(errno == 4242);

    /* malloc failure: NULL + ENOMEM */
    errno = 0;
    CHECK(malloc(huge) == NULL);
    CHECK(errno == ENOMEM);

    /* calloc: zeroed; overflow -> NULL + ENOMEM without calling anyone */
    errno = 4242;
    unsigned char *z = calloc(7, 1000);
    CHECK(z != NULL && errno == 4242);
    int is_zero = 1;
    for (size_t i = 0; i < 7000; i++)
        is_zero &= z[i] == 0;
    CHECK(is_zero);
    LEAK(z, 7000);
    errno = 0;
    CHECK(calloc(opaque(SIZE_MAX / 2), 3) == NULL);
    CHECK(errno == ENOMEM);

    /* realloc chain, contents kept; realloc(NULL, n) is malloc */
    char *r = realloc(NULL, 10);
    CHECK(r != NULL);
    memcpy(r, "abcdefghi", 10);
    r = realloc(r, 100);
    CHECK(r != NULL && strcmp(r, "abcdefghi") == 0);
    r = realloc(r, 100000);
    CHECK(r != NULL && strcmp(r, "abcdefghi") == 0);
    r = realloc(r, 54321);
    CHECK(r != NULL && strcmp(r, "abcdefghi") == 0);
    LEAK(r, 54321);

    /* realloc failure: NULL + ENOMEM, the block is intact (and still traced) */
    char *keep = malloc(1234);
    CHECK(keep != NULL);
    keep[0] = 'k';
    errno = 0;
    CHECK(realloc(keep, huge) == NULL);
#ifndef E2E_JEMALLOC
    CHECK(errno == ENOMEM); /* jemalloc leaves errno alone here */
#endif
    CHECK(keep[0] == 'k');
    LEAK(keep, 1234);

    /* reallocarray: overflow -> NULL + ENOMEM, block untouched */
    int *arr = reallocarray(NULL, 10, sizeof(int));
    CHECK(arr != NULL);
    arr[9] = 9;
    errno = 0;
    CHECK(reallocarray(arr, opaque(SIZE_MAX / 2), 4) == NULL);
    CHECK(errno == ENOMEM && arr[9] == 9);
    arr = reallocarray(arr, 20, sizeof(int));
    CHECK(arr != NULL && arr[9] == 9);
    free(arr);

    /* posix_memalign: the code is returned, *memptr untouched on error */
    void *m = (void *)0x1234;
    errno = 4242;
    CHECK(posix_memalign(&m, 3, 10) == EINVAL);
    CHECK(m == (void *)0x1234);
    CHECK(posix_memalign(&m, 0, 10) == EINVAL);
    CHECK(posix_memalign(&m, sizeof(void *) / 2, 10) == EINVAL);
    CHECK(m == (void *)0x1234);
    CHECK(posix_memalign(&m, 64, huge) == ENOMEM);
    CHECK(m == (void *)0x1234);
    CHECK(posix_memalign(&m, 64, 4444) == 0);
    CHECK(m != (void *)0x1234 && is_aligned(m, 64));
    LEAK(m, 4444);
    void *m2 = NULL;
    CHECK(posix_memalign(&m2, 4096, 100) == 0 && is_aligned(m2, 4096));
    free(m2);

    /* aligned_alloc, memalign, valloc, pvalloc */
    void *a = aligned_alloc(256, 512);
    CHECK(a != NULL && is_aligned(a, 256));
    LEAK(a, 512);
    void *ma = memalign(128, 3000);
    CHECK(ma != NULL && is_aligned(ma, 128));
    free(ma);
    void *v = valloc(100);
    CHECK(v != NULL && is_aligned(v, (size_t)page));
    free(v);
#ifndef E2E_JEMALLOC /* jemalloc has no pvalloc: glibc's would be freed by jemalloc */
    void *pv = pvalloc(100);
    CHECK(pv != NULL && is_aligned(pv, (size_t)page));
    CHECK(malloc_usable_size(pv) >= (size_t)page);
    free(pv);
#endif

    /* The next allocator really serves the calls. */
#ifdef E2E_JEMALLOC
    uint64_t before = jemalloc_thread_allocated();
    void *big = malloc(1 << 20);
    CHECK(jemalloc_thread_allocated() - before >= (1u << 20));
    free(big);
#endif
    if (is_tcmalloc) {
        size_t t0 = tcmalloc_allocated();
        void *tc_big = malloc(1 << 20);
        CHECK(tcmalloc_allocated() - t0 >= (1u << 20));
        free(tc_big);
    }

    /* The public API through its weak symbol. */
    CHECK(hg_request_dump_if_loaded() == (is_traced ? 0 : -1));

    /* realloc(p, 0): glibc frees and returns NULL; other allocators may return
     * a minimal block, which must then be freeable. Either way the 4321-byte
     * block (no other allocation here has that size) leaves the live set:
     * run.py checks the trace. Last, so that no later allocation reuses the
     * address (an entry left behind would then be hidden by the new block's). */
    char *zero = malloc(opaque(4321));
    CHECK(zero != NULL);
    zero = realloc(zero, 0);
    free(zero);

    return E2E_STATUS(7);
}
