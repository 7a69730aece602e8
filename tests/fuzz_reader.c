/*
 * libFuzzer harness of the trace reader. Not built by meson (the project
 * builds with gcc); build and run with clang:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *       -Ianalyzer tests/fuzz_reader.c analyzer/reader.c -lz -o fuzz_reader
 *   ./fuzz_reader -max_len=4096 -max_total_time=60 CORPUS_DIR tests/data
 *
 * An input whose first byte is even is the decompressed stream (gzipped here,
 * so the fuzzer explores records); odd, the rest is the file itself (gzip
 * layer). Every record is read to the end; the reader must return, never
 * crash, hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_all(const uint8_t *file, size_t n)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (n && write(fd, file, n) != (ssize_t)n) {
        close(fd);
        return;
    }
    lseek(fd, 0, SEEK_SET);
    hg_reader_t *r;
    if (hg_reader_open_fd(fd, &r) == 0) {
        hg_record_t rec;
        while (hg_reader_next(r, &rec) > 0)
            ;
        (void)hg_reader_ended_early(r);
        hg_reader_close(r);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        read_all(data + 1, size - 1);
        return 0;
    }
    uLong cap = compressBound(size) + 32;
    uint8_t *gz = malloc(cap);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (gz && deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
        zs.next_in = (Bytef *)data + 1;
        zs.avail_in = (uInt)(size - 1);
        zs.next_out = gz;
        zs.avail_out = (uInt)cap;
        if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
            read_all(gz, cap - zs.avail_out);
        deflateEnd(&zs);
    }
    free(gz);
    return 0;
}
