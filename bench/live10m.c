/* live10m: holds COUNT allocations live at once (default 10 million), the
 * scale of the tracer's live table. Sizes 16..64 bytes from two call sites;
 * the pointer array itself is one large malloc. Every block is written, all
 * are checked, then all are freed. */
#include "common.h"

static BENCH_NOINLINE unsigned char *alloc_even(size_t n) { return malloc(n); }
static BENCH_NOINLINE unsigned char *alloc_odd(size_t n) { return malloc(n); }

int main(int argc, char **argv)
{
    unsigned long count = bench_count(argc, argv, 10000000);
    unsigned char **blocks = malloc(count * sizeof *blocks);
    uint64_t state = 0x11FE11FE11FEULL;
    uint64_t sum = 0;

    if (blocks == NULL) {
        fprintf(stderr, "live10m: out of memory\n");
        return 1;
    }
    for (unsigned long i = 0; i < count; i++) {
        size_t n = 16 + bench_rand(&state) % 49;
        unsigned char *p = (i & 1) ? alloc_odd(n) : alloc_even(n);
        if (p == NULL) {
            fprintf(stderr, "live10m: out of memory\n");
            return 1;
        }
        p[0] = (unsigned char)n;
        p[n - 1] = (unsigned char)i;
        blocks[i] = p;
    }
    for (unsigned long i = 0; i < count; i++)
        sum = sum * 31 + blocks[i][0];
    for (unsigned long i = 0; i < count; i++)
        free(blocks[i]);
    free(blocks);
    bench_print_checksum("live10m", count, sum);
    return 0;
}
