/*
 * libFuzzer target for the analyzer's input path: the reader (every record to
 * the end), then hg_model_load on the same bytes (sites, series, growth), with
 * the fake symbolizer of fake_sym.c, then the text and JSON reports of the
 * model. Built by tests/meson.build
 * ("robustness") when clang supports -fsanitize=fuzzer:
 *
 *   ninja -C build tests/fuzz_trace
 *   build/tests/fuzz_trace -max_len=65536 -max_total_time=600 \
 *       /tmp/corpus tests/fuzz/corpus
 *
 * Input: the first byte selects. Bit 0 clear: the rest is the decompressed
 * stream, gzipped here, so that mutations reach the records; set: the rest is
 * the file as written (the gzip layer). Bits 1-2: --group-by (site, function,
 * stack). The analyzer must return for every input — a trace or an error —
 * never crash, hang, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "model.h"
#include "reader.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_reader(int fd)
{
    hg_reader_t *r;
    lseek(fd, 0, SEEK_SET);
    if (hg_reader_open_fd(fd, &r) != 0)
        return;
    hg_record_t rec;
    while (hg_reader_next(r, &rec) > 0)
        ;
    (void)hg_reader_ended_early(r);
    hg_reader_close(r);
}

/* Renders both reports into memory (so every byte is really written). */
static void fuzz_reports(const hg_model_t *m, enum hg_group_by group_by, unsigned flags)
{
    hg_report_input_t in;
    memset(&in, 0, sizeof(in));
    in.main = m;
    hg_report_opts_t ro;
    memset(&ro, 0, sizeof(ro));
    ro.top = flags & 4 ? 0 : 3;
    ro.is_color = flags & 1;
    ro.is_brief = flags & 2;
    ro.group_by = group_by;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return;
    (void)hg_report_text(f, &in, &ro);
    (void)hg_report_json(f, &in, &ro);
    char line[256];
    (void)hg_report_headline(m, line, sizeof(line));
    fclose(f);
    free(buf);
}

static void fuzz_model(int fd, enum hg_group_by group_by, unsigned flags)
{
    char path[64], err[256];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    hg_model_opts_t opts;
    memset(&opts, 0, sizeof(opts));
    opts.group_by = group_by;
    const char *wrappers[] = {"fn_3", "fn_1*"};
    opts.wrappers = wrappers;
    opts.nwrappers = 2;
    opts.growth = hg_growth_default_params();
    hg_model_t *m = NULL;
    if (hg_model_load(path, &opts, &m, err, sizeof(err)) == 0) {
        /* Read what a report would read. */
        volatile uint64_t sum = m->totals.alloc_count + m->nsnapshots;
        for (size_t i = 0; i < m->nsites; i++) {
            const hg_site_t *s = &m->sites[i];
            sum += s->end_live_bytes + s->series.n;
            for (size_t j = 0; j < s->nstacks_shown; j++)
                for (size_t k = 0; k < s->stacks[j].nframes; k++)
                    sum += s->stacks[j].frames[k].line;
        }
        for (size_t i = 0; i < m->nwarnings; i++)
            sum += strlen(m->warnings[i]);
        if (m->ended_early)
            sum += strlen(m->ended_early);
        (void)sum;
        fuzz_reports(m, group_by, flags);
        hg_model_free(m);
    } else {
        err[sizeof(err) - 1] = '\0';
        volatile size_t n = strlen(err);
        (void)n;
    }
}

static void fuzz_file(const uint8_t *file, size_t n, enum hg_group_by group_by,
                      unsigned flags)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (n && write(fd, file, n) != (ssize_t)n) {
        close(fd);
        return;
    }
    fuzz_reader(fd);
    fuzz_model(fd, group_by, flags);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum hg_group_by group_by = (enum hg_group_by)((data[0] >> 1 & 3) % 3);
    unsigned flags = data[0] >> 3 & 7;
    if (data[0] & 1) {
        fuzz_file(data + 1, size - 1, group_by, flags);
        return 0;
    }
    uLong cap = compressBound(size) + 64;
    uint8_t *gz = malloc(cap);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (gz && deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
        zs.next_in = (Bytef *)data + 1;
        zs.avail_in = (uInt)(size - 1);
        zs.next_out = gz;
        zs.avail_out = (uInt)cap;
        if (deflate(&zs, Z_FINISH) == Z_STREAM_END)
            fuzz_file(gz, cap - zs.avail_out, group_by, flags);
        deflateEnd(&zs);
    }
    free(gz);
    return 0;
}
