/*
 * Trace decoder for the writer's tests (see test_writer_decode.h).
 */
#include "test_writer_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <heapgrow/format.h>

static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (n == cap)
            b = realloc(b, cap *= 2);
        size_t got = fread(b + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *out = b;
    *len = n;
    return 0;
}

static int inflate_all(const uint8_t *in, size_t in_len, trace_t *t)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return -1;
    size_t cap = 1 << 16;
    t->data = malloc(cap);
    t->len = 0;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)in_len;
    int rc;
    do {
        if (t->len == cap)
            t->data = realloc(t->data, cap *= 2);
        zs.next_out = t->data + t->len;
        zs.avail_out = (uInt)(cap - t->len);
        rc = inflate(&zs, Z_NO_FLUSH);
        t->len = cap - zs.avail_out;
    } while (rc == Z_OK || (rc == Z_BUF_ERROR && zs.avail_out == 0));
    t->has_trailer = rc == Z_STREAM_END;
    inflateEnd(&zs);
    /* Z_BUF_ERROR with input exhausted is a truncated stream: keep the prefix. */
    return (rc == Z_STREAM_END || rc == Z_BUF_ERROR) ? 0 : -1;
}

cur_t cur_of(const trace_rec_t *r)
{
    return (cur_t){r->p, r->p + r->len, false};
}

uint64_t cur_u(cur_t *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (c->p >= c->end) {
            c->is_bad = true;
            return 0;
        }
        uint8_t b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->is_bad = true;
    return 0;
}

int64_t cur_s(cur_t *c)
{
    uint64_t u = cur_u(c);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

size_t cur_b(cur_t *c, const uint8_t **out)
{
    uint64_t n = cur_u(c);
    if (n > (uint64_t)(c->end - c->p)) {
        c->is_bad = true;
        *out = c->p;
        return 0;
    }
    *out = c->p;
    c->p += n;
    return (size_t)n;
}

void cur_str(cur_t *c, char *dst, size_t cap)
{
    const uint8_t *p;
    size_t n = cur_b(c, &p);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

int trace_load(const char *path, trace_t *t)
{
    memset(t, 0, sizeof *t);
    uint8_t *raw;
    size_t raw_len;
    if (read_all(path, &raw, &raw_len) != 0)
        return -1;
    int rc = inflate_all(raw, raw_len, t);
    free(raw);
    if (rc != 0)
        return -1;
    t->is_magic_ok = t->len >= HG_MAGIC_LEN && memcmp(t->data, HG_MAGIC, HG_MAGIC_LEN) == 0;
    cur_t c = {t->data + HG_MAGIC_LEN, t->data + t->len, false};
    if (!t->is_magic_ok)
        return 0;
    t->version = cur_u(&c);
    size_t cap = 64;
    t->recs = malloc(cap * sizeof *t->recs);
    while (c.p < c.end) {
        const uint8_t *start = c.p;
        uint8_t tag = *c.p++;
        uint64_t len = cur_u(&c);
        if (c.is_bad || len > (uint64_t)(c.end - c.p)) {
            t->tail_bytes = (size_t)(c.end - start);
            break;
        }
        if (t->n == cap)
            t->recs = realloc(t->recs, (cap *= 2) * sizeof *t->recs);
        t->recs[t->n++] = (trace_rec_t){tag, c.p, (size_t)len};
        c.p += len;
    }
    return 0;
}

void trace_free(trace_t *t)
{
    free(t->data);
    free(t->recs);
    memset(t, 0, sizeof *t);
}

size_t trace_find(const trace_t *t, uint8_t tag, size_t from)
{
    for (size_t i = from; i < t->n; i++)
        if (t->recs[i].tag == tag)
            return i;
    return t->n;
}

size_t trace_count(const trace_t *t, uint8_t tag)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->recs[i].tag == tag;
    return n;
}
