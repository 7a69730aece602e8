/*
 * Test helper: see craft.h. Payloads are encoded with preload/encode.h, the
 * writer's own encoder, so crafted traces are byte-identical to real ones.
 */
#include "craft.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "../preload/encode.h"

#define PAYLOAD_MAX (1u << 22)

static void die(const char *what)
{
    fprintf(stderr, "craft: %s\n", what);
    abort();
}

void craft_init(craft_t *c)
{
    memset(c, 0, sizeof(*c));
}

void craft_free(craft_t *c)
{
    free(c->buf);
    memset(c, 0, sizeof(*c));
}

void craft_bytes(craft_t *c, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < c->len + n)
            cap *= 2;
        c->buf = realloc(c->buf, cap);
        if (!c->buf)
            die("out of memory");
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

void craft_preamble_version(craft_t *c, uint64_t version)
{
    uint8_t b[32];
    hg_enc_t e;
    hg_enc_init(&e, b, sizeof(b));
    hg_enc_preamble(&e, version);
    craft_bytes(c, b, e.len);
}

void craft_preamble(craft_t *c)
{
    craft_preamble_version(c, HG_FORMAT_VERSION_EXACT);
}

void craft_record(craft_t *c, uint8_t tag, const uint8_t *payload, size_t len)
{
    uint8_t h[16];
    hg_enc_t e;
    hg_enc_init(&e, h, sizeof(h));
    hg_enc_byte(&e, tag);
    hg_enc_u(&e, len);
    craft_bytes(c, h, e.len);
    craft_bytes(c, payload, len);
}

/* Encodes a payload into a static buffer and appends it as a record. */
static uint8_t pbuf[PAYLOAD_MAX];

static void begin(hg_enc_t *e)
{
    hg_enc_init(e, pbuf, sizeof(pbuf));
}

static void finish(craft_t *c, hg_enc_t *e, uint8_t tag)
{
    if (e->is_overflow)
        die("payload overflow");
    craft_record(c, tag, e->buf, e->len);
}

void craft_header(craft_t *c, const char *wrappers)
{
    craft_header_sampled(c, wrappers, 0);
}

void craft_header_sampled(craft_t *c, const char *wrappers, uint64_t sample_bytes)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, 42);
    hg_enc_u(&e, 1);
    hg_enc_u(&e, 1700000000000000000ull);
    hg_enc_u(&e, 5000);
    hg_enc_str(&e, "/bin/prog");
    hg_enc_u(&e, 2);
    hg_enc_str(&e, "prog");
    hg_enc_str(&e, "-x");
    hg_enc_u(&e, 100);
    hg_enc_u(&e, 64);
    hg_enc_u(&e, sample_bytes);
    hg_enc_u(&e, 0);
    hg_enc_str(&e, wrappers);
    hg_enc_u(&e, 12);
    hg_enc_u(&e, 0);
    finish(c, &e, HG_REC_HEADER);
}

void craft_module(craft_t *c, uint64_t id, uint64_t t_ns, uint64_t bias, uint64_t start,
                  uint64_t end, const char *path, const uint8_t *build_id, size_t build_id_len)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, id);
    hg_enc_u(&e, t_ns);
    hg_enc_u(&e, bias);
    hg_enc_u(&e, start);
    hg_enc_u(&e, end);
    hg_enc_str(&e, path);
    hg_enc_b(&e, build_id, build_id_len);
    finish(c, &e, HG_REC_MODULE_LOAD);
}

void craft_unload(craft_t *c, uint64_t id, uint64_t t_ns)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, id);
    hg_enc_u(&e, t_ns);
    finish(c, &e, HG_REC_MODULE_UNLOAD);
}

void craft_stack(craft_t *c, uint64_t id, size_t n, const uint64_t *frames)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, id);
    hg_enc_u(&e, n);
    for (size_t i = 0; i < n; i++) {
        if (i == 0)
            hg_enc_u(&e, frames[0]);
        else
            hg_enc_s(&e, (int64_t)(frames[i] - frames[i - 1]));
    }
    finish(c, &e, HG_REC_STACK);
}

void craft_snapshot(craft_t *c, uint64_t t_ns, uint64_t rss, const uint64_t totals[8], size_t n,
                    const craft_counter_t *k)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, t_ns);
    hg_enc_u(&e, rss);
    for (int i = 0; i < 8; i++)
        hg_enc_u(&e, totals[i]);
    hg_enc_u(&e, n);
    for (size_t i = 0; i < n; i++) {
        hg_enc_u(&e, k[i].stack_id);
        hg_enc_u(&e, k[i].live_bytes);
        hg_enc_u(&e, k[i].live_count);
        hg_enc_u(&e, k[i].alloc_count);
        hg_enc_u(&e, k[i].alloc_bytes);
    }
    finish(c, &e, HG_REC_SNAPSHOT);
}

void craft_snapshot_sampled(craft_t *c, uint64_t t_ns, uint64_t rss, const uint64_t totals[8],
                            const uint64_t est_totals[7], size_t n, const craft_counter_t *k,
                            const craft_est_t *est)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, t_ns);
    hg_enc_u(&e, rss);
    for (int i = 0; i < 8; i++)
        hg_enc_u(&e, totals[i]);
    for (int i = 0; i < 7; i++)
        hg_enc_u(&e, est_totals[i]);
    hg_enc_u(&e, n);
    for (size_t i = 0; i < n; i++) {
        hg_enc_u(&e, k[i].stack_id);
        hg_enc_u(&e, k[i].live_bytes);
        hg_enc_u(&e, k[i].live_count);
        hg_enc_u(&e, k[i].alloc_count);
        hg_enc_u(&e, k[i].alloc_bytes);
        hg_enc_u(&e, est[i].live_bytes);
        hg_enc_u(&e, est[i].live_count);
        hg_enc_u(&e, est[i].alloc_count);
        hg_enc_u(&e, est[i].alloc_bytes);
    }
    finish(c, &e, HG_REC_SNAPSHOT);
}

void craft_live_begin(craft_t *c, uint64_t t_ns, uint64_t reason, uint64_t count)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, t_ns);
    hg_enc_u(&e, reason);
    hg_enc_u(&e, count);
    finish(c, &e, HG_REC_LIVE_BEGIN);
}

void craft_live_chunk(craft_t *c, size_t n, const craft_live_t *l)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, n);
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        hg_enc_s(&e, (int64_t)(l[i].address - prev));
        prev = l[i].address;
        hg_enc_u(&e, l[i].size);
        hg_enc_u(&e, l[i].stack_id);
        hg_enc_u(&e, l[i].alloc_time_ms);
    }
    finish(c, &e, HG_REC_LIVE_CHUNK);
}

void craft_live_end(craft_t *c, uint64_t count)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, count);
    finish(c, &e, HG_REC_LIVE_END);
}

void craft_end(craft_t *c, uint64_t t_ns, uint64_t reason, int64_t status)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, t_ns);
    hg_enc_u(&e, reason);
    hg_enc_s(&e, status);
    finish(c, &e, HG_REC_END);
}

void craft_warning(craft_t *c, uint64_t t_ns, uint64_t code, const char *msg)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, t_ns);
    hg_enc_u(&e, code);
    hg_enc_str(&e, msg);
    finish(c, &e, HG_REC_WARNING);
}

void craft_reach(craft_t *c, uint64_t t_ns, uint64_t reason, uint64_t status,
                 uint64_t threads_unseen, size_t n, const craft_reach_t *r)
{
    hg_enc_t e;
    begin(&e);
    hg_enc_u(&e, t_ns);
    hg_enc_u(&e, reason);
    hg_enc_u(&e, status);
    hg_enc_u(&e, threads_unseen);
    hg_enc_u(&e, n);
    for (size_t i = 0; i < n; i++) {
        hg_enc_u(&e, r[i].stack_id);
        for (int k = 0; k < 4; k++) {
            hg_enc_u(&e, r[i].bytes[k]);
            hg_enc_u(&e, r[i].count[k]);
        }
    }
    finish(c, &e, HG_REC_REACH);
}

void craft_gzip(const uint8_t *data, size_t n, uint8_t **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: gzip wrapper (zlib manual, deflateInit2). */
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    size_t cap = deflateBound(&zs, n) + 64;
    uint8_t *buf = malloc(cap);
    if (!buf)
        die("out of memory");
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)n;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    *outlen = cap - zs.avail_out;
    *out = buf;
    deflateEnd(&zs);
}

void craft_gzip_cut(const uint8_t *data, size_t n, const uint8_t *tail, size_t tail_n,
                    uint8_t **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    if (tail_n > 0xffff)
        die("tail too long for one stored block");
    size_t cap = deflateBound(&zs, n) + 64 + 5 + tail_n;
    uint8_t *buf = malloc(cap);
    if (!buf)
        die("out of memory");
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)n;
    zs.next_out = buf;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_SYNC_FLUSH) != Z_OK || zs.avail_in != 0)
        die("deflate");
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    /* RFC 1951 3.2.4: byte-aligned after the sync flush, so BFINAL 0 and
     * BTYPE 00 with their padding are one zero byte; then LEN, NLEN. */
    buf[len++] = 0;
    buf[len++] = (uint8_t)(tail_n & 0xff);
    buf[len++] = (uint8_t)(tail_n >> 8);
    buf[len++] = (uint8_t)(~tail_n & 0xff);
    buf[len++] = (uint8_t)((~tail_n >> 8) & 0xff);
    memcpy(buf + len, tail, tail_n);
    *outlen = len + tail_n;
    *out = buf;
}

int craft_memfd(const uint8_t *data, size_t n)
{
    int fd = memfd_create("trace", MFD_CLOEXEC);
    if (fd < 0)
        die("memfd_create");
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0)
            die("write");
        off += (size_t)w;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

int craft_write_file(const char *path, const uint8_t *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        off += (size_t)w;
    }
    close(fd);
    return 0;
}
