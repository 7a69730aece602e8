/*
 * Encoding of trace fields and records (docs/FORMAT.md) into caller-owned
 * buffers. No allocation, no I/O, async-signal-safe: used by the writer, and by
 * tests that craft traces (good and hostile) for the reader.
 */
#ifndef HEAPGROW_PRELOAD_ENCODE_H
#define HEAPGROW_PRELOAD_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A bounded output buffer. Writes past cap set is_overflow and are dropped;
 * check it once after encoding a record. */
typedef struct hg_enc {
    uint8_t *buf;
    size_t len;
    size_t cap;
    bool is_overflow;
} hg_enc_t;

void hg_enc_init(hg_enc_t *e, uint8_t *buf, size_t cap);
void hg_enc_byte(hg_enc_t *e, uint8_t v);
void hg_enc_u(hg_enc_t *e, uint64_t v);                 /* LEB128 */
void hg_enc_s(hg_enc_t *e, int64_t v);                  /* zigzag LEB128 */
void hg_enc_b(hg_enc_t *e, const void *p, size_t n);    /* length + bytes */
void hg_enc_str(hg_enc_t *e, const char *s);            /* hg_enc_b of strlen */
void hg_enc_raw(hg_enc_t *e, const void *p, size_t n);  /* bytes, no length */

/* Appends one record (tag, payload length, payload) to e. */
void hg_enc_record(hg_enc_t *e, uint8_t tag, const uint8_t *payload, size_t len);

/* Appends the stream preamble: magic + format `version`
 * (HG_FORMAT_VERSION_EXACT or HG_FORMAT_VERSION_SAMPLED, format.h). */
void hg_enc_preamble(hg_enc_t *e, uint64_t version);

#endif /* HEAPGROW_PRELOAD_ENCODE_H */
