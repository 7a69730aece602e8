/*
 * A deterministic stand-in for analyzer/symbolize.c in the fuzz target: the
 * model is fuzzed, not libdw, and a fuzzed MODULE_LOAD must never make the
 * fuzzer open arbitrary files (a FIFO or a device would hang it). Names are
 * derived from the address, so sites group and split as with real symbols.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize.h"

struct hg_sym {
    char names[16][24]; /* "fn_<n>" for the 16 address buckets */
    unsigned nmodules;
};

static const char *const fake_sym_warnings[] = {"fuzz: fake symbolizer"};

int hg_sym_create(hg_sym_t **out)
{
    hg_sym_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    for (int i = 0; i < 16; i++)
        snprintf(s->names[i], sizeof(s->names[i]), "fn_%d", i);
    *out = s;
    return 0;
}

void hg_sym_destroy(hg_sym_t *s)
{
    free(s);
}

int hg_sym_add_module(hg_sym_t *s, uint32_t module_id, const char *path, uint64_t bias,
                      uint64_t start, uint64_t end, const uint8_t *build_id,
                      size_t build_id_len)
{
    (void)module_id, (void)bias, (void)start, (void)end;
    /* Touch every byte the model hands over, so ASan sees a bad length. */
    size_t n = path ? strlen(path) : 0;
    for (size_t i = 0; i < build_id_len; i++)
        n += build_id[i];
    s->nmodules += (unsigned)(n & 1);
    return 0;
}

void hg_sym_remove_module(hg_sym_t *s, uint32_t module_id)
{
    (void)s, (void)module_id;
}

int hg_sym_set_debuginfo_path(hg_sym_t *s, const char *path)
{
    (void)s, (void)path;
    return 0;
}

size_t hg_sym_resolve(hg_sym_t *s, uint64_t address, bool is_return_address,
                      hg_frame_info_t *out, size_t max)
{
    if (max == 0)
        return 0;
    uint64_t a = is_return_address ? address - 1 : address;
    size_t n = (a & 0x100) && max >= 2 ? 2 : 1; /* some addresses have an inlined frame */
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        out[i].address = address;
        out[i].module_offset = a & 0xffff;
        out[i].is_inlined = i + 1 < n;
        if (a & 0x10) { /* unknown: module+offset only */
            out[i].module = (a & 0x20) ? "/fuzz/libm.so" : NULL;
            continue;
        }
        out[i].function = s->names[(a >> 4 ^ i) & 15];
        out[i].file = (a & 0x40) ? "fuzz.c" : NULL;
        out[i].line = (uint32_t)(a & 0xff);
        out[i].module = "/fuzz/prog";
    }
    return n;
}

size_t hg_sym_warnings(const hg_sym_t *s, const char *const **lines)
{
    *lines = fake_sym_warnings;
    return s->nmodules & 1;
}

const char *hg_sym_display_name(hg_sym_t *s, const char *raw)
{
    (void)s;
    return raw && *raw ? raw : NULL;
}

bool hg_sym_file_exports(const char *path, const char *name)
{
    (void)path, (void)name;
    return false; /* never opens a file */
}
