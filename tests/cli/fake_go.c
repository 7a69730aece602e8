/* Not Go: a C program carrying the section Go's linker writes
 * (.go.buildinfo), so that tests can check how `heapgrow run` treats Go
 * programs without needing a Go toolchain. */
#include <stdio.h>

__attribute__((used, section(".go.buildinfo"))) static const char buildinfo[32] =
    "\xff Go buildinf:";

int main(void)
{
    puts("fake go");
    return 0;
}
