/*
 * Field and record encoders for the trace format (docs/FORMAT.md, format.h).
 * Pure functions over a caller-owned bounded buffer: no allocation, no I/O, no
 * locks, so they are async-signal-safe and usable by the writer thread, by a
 * fatal-signal path, and by tests that craft traces. A write that does not fit
 * sets is_overflow and drops the bytes; the caller checks once per record.
 */
#include "encode.h"

#include <string.h>

#include <heapgrow/format.h>

void hg_enc_init(hg_enc_t *e, uint8_t *buf, size_t cap)
{
    e->buf = buf;
    e->len = 0;
    e->cap = cap;
    e->is_overflow = false;
}

void hg_enc_byte(hg_enc_t *e, uint8_t v)
{
    if (e->len >= e->cap) {
        e->is_overflow = true;
        return;
    }
    e->buf[e->len++] = v;
}

void hg_enc_raw(hg_enc_t *e, const void *p, size_t n)
{
    /* Written as "n > cap - len" so that a huge n cannot wrap the sum. */
    if (e->len > e->cap || n > e->cap - e->len) {
        e->is_overflow = true;
        return;
    }
    if (n > 0)
        memcpy(e->buf + e->len, p, n);
    e->len += n;
}

/* Unsigned LEB128: 7 bits per byte, least significant group first, high bit
 * set on every byte but the last. 2^64-1 takes 10 bytes. The varint is built
 * in a local buffer so that an overflow never leaves half a varint behind. */
void hg_enc_u(hg_enc_t *e, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v != 0)
            byte |= 0x80;
        tmp[n++] = byte;
    } while (v != 0);
    hg_enc_raw(e, tmp, n);
}

/* Zigzag maps small magnitudes of either sign to small unsigned values:
 * 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3 ... The arithmetic right shift of a
 * negative int64_t is implementation-defined in C11; GCC and Clang define it
 * as arithmetic, and the unsigned form below avoids relying on it anyway. */
void hg_enc_s(hg_enc_t *e, int64_t v)
{
    uint64_t u = (uint64_t)v;
    uint64_t sign_mask = (uint64_t)0 - (u >> 63);
    hg_enc_u(e, (u << 1) ^ sign_mask);
}

void hg_enc_b(hg_enc_t *e, const void *p, size_t n)
{
    hg_enc_u(e, n);
    hg_enc_raw(e, p, n);
}

void hg_enc_str(hg_enc_t *e, const char *s)
{
    hg_enc_b(e, s, strlen(s));
}

void hg_enc_record(hg_enc_t *e, uint8_t tag, const uint8_t *payload, size_t len)
{
    hg_enc_byte(e, tag);
    hg_enc_u(e, len);
    hg_enc_raw(e, payload, len);
}

void hg_enc_preamble(hg_enc_t *e, uint64_t version)
{
    hg_enc_raw(e, HG_MAGIC, HG_MAGIC_LEN);
    hg_enc_u(e, version);
}
