/*
 * Threads started by a library constructor before main (early_lib.c) allocate
 * while the process starts; main joins them. Exit status 0 when all 4 ran
 * cleanly.
 */
#include "e2e.h"

int early_join(void);

int main(void)
{
    CHECK(early_join() == 4);
    return E2E_STATUS(0);
}
