/* Linked with -static by tests/meson.build: `heapgrow run` must refuse it,
 * since no dynamic loader runs to honour LD_PRELOAD. */
#include <stdio.h>

int main(void)
{
    puts("hello");
    return 0;
}
