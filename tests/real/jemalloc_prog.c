/*
 * Linked with jemalloc (Debian's libjemalloc, which exports malloc itself) and
 * doing what redis does with it: asks malloc_usable_size of its own blocks and
 * uses the whole usable size. Exits 4 after printing a checksum.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    unsigned long sum = 0;
    void *keep[1000] = {0};
    for (int i = 0; i < 200000; i++) {
        size_t n = 1 + (size_t)(i * 37 % 5000);
        char *p = malloc(n);
        if (!p)
            return 1;
        size_t u = malloc_usable_size(p);
        if (u < n)
            return 2;
        memset(p, 0x5a, u); /* the whole usable size is the program's */
        sum += u >= n;
        p = realloc(p, n * 2);
        if (!p)
            return 3;
        int k = i % 1000;
        free(keep[k]);
        keep[k] = p;
    }
    for (int k = 0; k < 1000; k++)
        free(keep[k]);
    printf("ok %lu\n", sum);
    return 4;
}
