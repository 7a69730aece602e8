/* A library whose .bss is the only root of a block (tests/reach/reach_cases.c). */
#include <stdlib.h>

void *reach_lib_block; /* .bss */
void reach_lib_keep(size_t n);

__attribute__((noinline)) static void *site_lib(size_t n)
{
    return calloc(1, n);
}

void reach_lib_keep(size_t n)
{
    reach_lib_block = site_lib(n);
}
