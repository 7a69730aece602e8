/*
 * The trace reader: gzip (zlib inflate, auto-detected header) in fixed chunks,
 * then records decoded and validated one at a time (docs/FORMAT.md). Contract
 * in reader.h.
 *
 * It must never crash, loop or allocate without bound on hostile input: every
 * length and count is checked against format.h's limits and against the bytes
 * that remain in the record *before* memory is allocated for it, and the
 * payload buffer grows only as decompressed bytes actually arrive, so a record
 * that claims 64 MiB but is cut short costs what was really there. Memory kept
 * across records is the set of defined stack ids and loaded module ids.
 */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include "uthash.h"

#define IN_CHUNK    65536
#define DENSE_SLACK 65536
#define OUT_CHUNK   65536

/* Internal results of reading a raw record. */
enum { RAW_EOF = 0, RAW_RECORD = 1, RAW_PARTIAL = 2, RAW_SKIPPED = 3 };

struct id_entry {
    uint32_t id;
    UT_hash_handle hh;
};

struct hg_reader {
    int fd;
    bool owns_fd;
    /* inflate state */
    z_stream zs;
    bool is_zs_init;
    bool is_in_eof;      /* read() returned 0                              */
    bool is_member_done; /* inflate reported the end of a gzip member       */
    bool is_z_done;      /* no more decompressed bytes will come            */
    bool is_gzip_truncated;
    bool is_gzip_magic; /* the file starts with the gzip magic 1f 8b       */
    uint64_t in_total;  /* compressed bytes read                           */
    uint8_t in[IN_CHUNK];
    uint8_t out[OUT_CHUNK];
    size_t out_pos, out_len;
    uint64_t offset; /* decompressed bytes consumed                     */
    /* stream state */
    int err; /* sticky error, 0 when none                        */
    char msg[320];
    bool is_done; /* returned 0 once                                  */
    bool has_preamble;
    uint64_t version;
    bool has_header, has_end, is_ended_early, has_trailing;
    bool is_in_live;
    uint64_t last_time_ns;
    uint64_t nskipped; /* records of unknown types */
    /* Defined stack ids: a bitmap for the dense low ids the writer hands out,
     * a hash for the rest. The bitmap covers at most 2 x (ids defined) +
     * DENSE_SLACK ids, so its size is bounded by the input. */
    uint64_t *stack_bits;
    size_t stack_nbits;
    size_t nstacks;
    struct id_entry *stacks;
    struct id_entry *modules; /* loaded module ids  */
    /* buffers for the current record */
    uint8_t *pay;
    size_t pay_cap;
    char *str;
    size_t str_cap, str_len;
    const char **argv;
    size_t argv_cap;
    uint64_t frames[HG_MAX_FRAMES];
    hg_rec_counter_t *counters;
    size_t counters_cap;
    hg_rec_live_t *lives;
    size_t lives_cap;
    hg_rec_reach_t *reaches;
    size_t reaches_cap;
};

static const char *const tag_names[] = {
    [HG_REC_HEADER] = "HEADER",
    [HG_REC_MODULE_LOAD] = "MODULE_LOAD",
    [HG_REC_MODULE_UNLOAD] = "MODULE_UNLOAD",
    [HG_REC_STACK] = "STACK",
    [HG_REC_SNAPSHOT] = "SNAPSHOT",
    [HG_REC_LIVE_BEGIN] = "LIVE_BEGIN",
    [HG_REC_LIVE_CHUNK] = "LIVE_CHUNK",
    [HG_REC_LIVE_END] = "LIVE_END",
    [HG_REC_END] = "END",
    [HG_REC_WARNING] = "WARNING",
    [HG_REC_REACH] = "REACH",
};

const char *hg_reader_tag_name(unsigned tag)
{
    if (tag < sizeof(tag_names) / sizeof(tag_names[0]) && tag_names[tag])
        return tag_names[tag];
    return "?";
}

static bool is_known_tag(unsigned tag)
{
    return tag >= HG_REC_HEADER && tag <= HG_REC_REACH;
}

/* ---- errors ---- */

__attribute__((format(printf, 3, 4))) static int fail(hg_reader_t *r, uint64_t off, const char *fmt,
                                                      ...)
{
    if (r->err)
        return r->err;
    int n = snprintf(r->msg, sizeof(r->msg), "offset %" PRIu64 ": ", off);
    if (n < 0 || (size_t)n >= sizeof(r->msg))
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg + n, sizeof(r->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    r->err = -HG_EFORMAT;
    return r->err;
}

static int fail_errno(hg_reader_t *r, int e, const char *what)
{
    if (r->err)
        return r->err;
    snprintf(r->msg, sizeof(r->msg), "offset %" PRIu64 ": %s: %s", r->offset, what, strerror(e));
    r->err = -e;
    return r->err;
}

/* Grows *buf to hold at least `need` elements of `size` bytes. */
static int reserve(void **buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > SIZE_MAX / size)
        return -ENOMEM;
    void *p = realloc(*buf, ncap * size);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = ncap;
    return 0;
}

/* ---- opening ---- */

int hg_reader_open_fd(int fd, hg_reader_t **out)
{
    hg_reader_t *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->fd = fd;
    /* 15 + 32: accept gzip (and zlib) headers, 32 KiB window (zlib manual). */
    if (inflateInit2(&r->zs, 15 + 32) != Z_OK) {
        free(r);
        return -ENOMEM;
    }
    r->is_zs_init = true;
    *out = r;
    return 0;
}

int hg_reader_open(const char *path, hg_reader_t **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = hg_reader_open_fd(fd, out);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    (*out)->owns_fd = true;
    return 0;
}

static void free_ids(struct id_entry **set)
{
    struct id_entry *e, *tmp;
    HASH_ITER(hh, *set, e, tmp) {
        HASH_DEL(*set, e);
        free(e);
    }
}

void hg_reader_close(hg_reader_t *r)
{
    if (!r)
        return;
    if (r->is_zs_init)
        inflateEnd(&r->zs);
    if (r->owns_fd)
        close(r->fd);
    free_ids(&r->stacks);
    free(r->stack_bits);
    free_ids(&r->modules);
    free(r->pay);
    free(r->str);
    free(r->argv);
    free(r->counters);
    free(r->lives);
    free(r->reaches);
    free(r);
}

/* ---- decompression ---- */

/*
 * Makes decompressed bytes available in r->out. Returns 1 when there are some,
 * 0 when the stream is over (cleanly or cut short), or a negative error.
 * Every iteration either consumes input, produces output or ends, so it cannot
 * loop forever.
 */
static int fill(hg_reader_t *r)
{
    while (r->out_pos == r->out_len) {
        if (r->is_z_done)
            return 0;
        if (r->zs.avail_in == 0 && !r->is_in_eof) {
            ssize_t n;
            do {
                n = read(r->fd, r->in, sizeof(r->in));
            } while (n < 0 && errno == EINTR);
            if (n < 0)
                return fail_errno(r, errno, "read");
            if (n == 0) {
                r->is_in_eof = true;
            } else {
                if (r->in_total == 0)
                    r->is_gzip_magic = n >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b;
                r->zs.next_in = r->in;
                r->zs.avail_in = (uInt)n;
                r->in_total += (uint64_t)n;
            }
        }
        if (r->zs.avail_in == 0 && r->is_in_eof) {
            if (r->in_total == 0)
                return fail(r, 0, "empty file, not a heapgrow trace");
            if (!r->is_member_done)
                r->is_gzip_truncated = true;
            r->is_z_done = true;
            return 0;
        }
        if (r->is_member_done) {
            /* Input after a complete gzip member: another member (as zcat
             * reads concatenated files) if it starts like one, else padding
             * we ignore. */
            if (r->zs.next_in[0] != 0x1f) {
                r->has_trailing = true;
                r->is_z_done = true;
                return 0;
            }
            if (inflateReset(&r->zs) != Z_OK)
                return fail(r, r->offset, "cannot restart inflate");
            r->is_member_done = false;
        }
        r->zs.next_out = r->out;
        r->zs.avail_out = sizeof(r->out);
        int zr = inflate(&r->zs, Z_NO_FLUSH);
        r->out_pos = 0;
        r->out_len = sizeof(r->out) - r->zs.avail_out;
        switch (zr) {
        case Z_STREAM_END:
            r->is_member_done = true;
            break;
        case Z_OK:
        case Z_BUF_ERROR: /* needs more input: read it on the next turn */
            break;
        case Z_MEM_ERROR:
            return fail_errno(r, ENOMEM, "inflate");
        default:
            if (!r->is_gzip_magic && r->offset == 0 && r->out_len == 0)
                return fail(r, 0, "not a heapgrow trace (not gzip: %s)",
                            r->zs.msg ? r->zs.msg : "bad data");
            return fail(r, r->offset + r->out_len, "corrupt gzip data (%s)",
                        r->zs.msg ? r->zs.msg : "bad data");
        }
    }
    return 1;
}

/* One decompressed byte: 1, 0 at the end of the stream, or an error. */
static int get_byte(hg_reader_t *r, uint8_t *b)
{
    int rc = fill(r);
    if (rc <= 0)
        return rc;
    *b = r->out[r->out_pos++];
    r->offset++;
    return 1;
}

/* A LEB128 varint from the stream. Returns 1, 0 when the stream ended inside
 * or before it, or an error. */
static int get_varint(hg_reader_t *r, uint64_t *v)
{
    uint64_t start = r->offset, x = 0;
    for (unsigned i = 0; i < 10; i++) {
        uint8_t b;
        int rc = get_byte(r, &b);
        if (rc <= 0)
            return rc;
        if (i == 9 && b > 1)
            return fail(r, start, "varint exceeds 64 bits");
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return fail(r, start, "varint longer than 10 bytes");
}

/* Copies into r->pay (keep) or drops n decompressed bytes. Returns 1, 0 when
 * the stream ended first, or an error. r->pay grows with the bytes that
 * actually arrive, never ahead of them. */
static int get_bytes(hg_reader_t *r, uint64_t n, bool keep)
{
    size_t got = 0;
    while (got < n) {
        int rc = fill(r);
        if (rc <= 0)
            return rc;
        size_t avail = r->out_len - r->out_pos;
        size_t take = (size_t)(n - got) < avail ? (size_t)(n - got) : avail;
        if (keep) {
            if (got + take > r->pay_cap) {
                size_t want = r->pay_cap ? r->pay_cap * 2 : 4096;
                if (want < got + take)
                    want = got + take;
                if (want > n)
                    want = (size_t)n;
                uint8_t *p = realloc(r->pay, want);
                if (!p)
                    return fail_errno(r, ENOMEM, "record buffer");
                r->pay = p;
                r->pay_cap = want;
            }
            memcpy(r->pay + got, r->out + r->out_pos, take);
        }
        r->out_pos += take;
        r->offset += take;
        got += take;
    }
    return 1;
}

/* ---- payload decoding ---- */

/* A cursor over the current record's payload. */
typedef struct cur {
    hg_reader_t *r;
    const uint8_t *p, *end, *base;
    uint64_t base_off; /* stream offset of base */
    const char *rec;   /* record name for messages */
} cur_t;

static uint64_t cur_off(const cur_t *c)
{
    return c->base_off + (uint64_t)(c->p - c->base);
}

static size_t cur_left(const cur_t *c)
{
    return (size_t)(c->end - c->p);
}

static int cur_u(cur_t *c, uint64_t *v, const char *field)
{
    uint64_t x = 0;
    const uint8_t *start = c->p;
    *v = 0; /* defined on every path (fail() is opaque to the compiler) */
    for (unsigned i = 0; i < 10; i++) {
        if (c->p == c->end) {
            c->p = start;
            return fail(c->r, cur_off(c), "%s record too short for its %s field", c->rec, field);
        }
        uint8_t b = *c->p++;
        if (i == 9 && b > 1) {
            c->p = start;
            return fail(c->r, cur_off(c), "%s: varint %s exceeds 64 bits", c->rec, field);
        }
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    c->p = start;
    return fail(c->r, cur_off(c), "%s: varint %s longer than 10 bytes", c->rec, field);
}

static int cur_s(cur_t *c, int64_t *v, const char *field)
{
    uint64_t z;
    int rc = cur_u(c, &z, field);
    if (rc < 0)
        return rc;
    *v = (int64_t)((z >> 1) ^ (~(z & 1) + 1));
    return 0;
}

/* A "b" field of at most `max` bytes; returns its bytes in place. */
static int cur_b(cur_t *c, const uint8_t **p, size_t *len, uint64_t max, const char *field)
{
    uint64_t at = cur_off(c), n;
    *p = NULL;
    *len = 0;
    int rc = cur_u(c, &n, field);
    if (rc < 0)
        return rc;
    if (n > max)
        return fail(c->r, at, "%s: %s length %" PRIu64 " exceeds the limit of %" PRIu64, c->rec,
                    field, n, max);
    if (n > cur_left(c))
        return fail(c->r, at, "%s: %s length %" PRIu64 " exceeds the %zu bytes left in the record",
                    c->rec, field, n, cur_left(c));
    *p = c->p;
    *len = (size_t)n;
    c->p += n;
    return 0;
}

/* A "b" field copied as a NUL-terminated string into r->str (reserved by the
 * caller for the whole record). */
static int cur_str(cur_t *c, const char **s, size_t *lenp, const char *field)
{
    const uint8_t *p;
    size_t len;
    int rc = cur_b(c, &p, &len, HG_MAX_STRING_BYTES, field);
    if (rc < 0)
        return rc;
    hg_reader_t *r = c->r;
    char *d = r->str + r->str_len;
    memcpy(d, p, len);
    d[len] = '\0';
    r->str_len += len + 1;
    *s = d;
    if (lenp)
        *lenp = len;
    return 0;
}

/* A count field that announces `n` entries of at least `min_bytes` each. */
static int cur_count(cur_t *c, uint64_t *n, uint64_t max, size_t min_bytes, const char *field)
{
    uint64_t at = cur_off(c);
    int rc = cur_u(c, n, field);
    if (rc < 0)
        return rc;
    if (*n > max)
        return fail(c->r, at, "%s: %s %" PRIu64 " exceeds the limit of %" PRIu64, c->rec, field, *n,
                    max);
    if (*n > cur_left(c) / min_bytes)
        return fail(c->r, at, "%s: %s %" PRIu64 " does not fit in the %zu bytes left in the record",
                    c->rec, field, *n, cur_left(c));
    return 0;
}

static int check_time(cur_t *c, uint64_t at, uint64_t t)
{
    hg_reader_t *r = c->r;
    if (t < r->last_time_ns)
        return fail(r, at, "%s: time goes backwards (%" PRIu64 " ns after %" PRIu64 " ns)", c->rec,
                    t, r->last_time_ns);
    r->last_time_ns = t;
    return 0;
}

static int cur_time(cur_t *c, uint64_t *t)
{
    uint64_t at = cur_off(c);
    int rc = cur_u(c, t, "time_ns");
    return rc < 0 ? rc : check_time(c, at, *t);
}

static struct id_entry *find_id(struct id_entry *set, uint32_t id)
{
    struct id_entry *e;
    HASH_FIND(hh, set, &id, sizeof(id), e);
    return e;
}

static int add_id(hg_reader_t *r, struct id_entry **set, uint32_t id)
{
    struct id_entry *e = malloc(sizeof(*e));
    if (!e)
        return fail_errno(r, ENOMEM, "id table");
    e->id = id;
    HASH_ADD(hh, *set, id, sizeof(e->id), e);
    return 0;
}

static bool is_stack_defined(const hg_reader_t *r, uint32_t id)
{
    if (id < r->stack_nbits)
        return (r->stack_bits[id / 64] >> (id % 64)) & 1;
    return find_id(r->stacks, id) != NULL;
}

static int define_stack(hg_reader_t *r, uint32_t id)
{
    uint64_t bound = 2 * (uint64_t)r->nstacks + DENSE_SLACK;
    if (id >= r->stack_nbits && id < bound) {
        /* Grow the bitmap and move the hashed ids it now covers into it. */
        size_t nbits = r->stack_nbits ? r->stack_nbits * 2 : DENSE_SLACK;
        while (nbits <= id)
            nbits *= 2;
        uint64_t *bits = realloc(r->stack_bits, nbits / 8);
        if (!bits)
            return fail_errno(r, ENOMEM, "stack table");
        memset(bits + r->stack_nbits / 64, 0, (nbits - r->stack_nbits) / 8);
        r->stack_bits = bits;
        r->stack_nbits = nbits;
        struct id_entry *e, *tmp;
        HASH_ITER(hh, r->stacks, e, tmp) {
            if (e->id < nbits) {
                bits[e->id / 64] |= 1ull << (e->id % 64);
                HASH_DEL(r->stacks, e);
                free(e);
            }
        }
    }
    r->nstacks++;
    if (id < r->stack_nbits) {
        r->stack_bits[id / 64] |= 1ull << (id % 64);
        return 0;
    }
    return add_id(r, &r->stacks, id);
}

/* A stack id referenced by a counter or live entry: defined earlier, or 0. */
static int cur_stack_ref(cur_t *c, uint32_t *id)
{
    uint64_t at = cur_off(c), v;
    int rc = cur_u(c, &v, "stack_id");
    if (rc < 0)
        return rc;
    if (v > UINT32_MAX)
        return fail(c->r, at, "%s: stack id %" PRIu64 " out of range", c->rec, v);
    if (v != 0 && !is_stack_defined(c->r, (uint32_t)v))
        return fail(c->r, at, "stack %" PRIu64 " referenced before it was defined", v);
    *id = (uint32_t)v;
    return 0;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
    } while (0)

static int dec_header(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    uint64_t argc;
    TRY(cur_u(c, &rec->u.header.pid, "pid"));
    TRY(cur_u(c, &rec->u.header.ppid, "ppid"));
    TRY(cur_u(c, &rec->u.header.start_real_ns, "start_real_ns"));
    TRY(cur_u(c, &rec->u.header.start_mono_ns, "start_mono_ns"));
    TRY(cur_str(c, &rec->u.header.exe, NULL, "exe_path"));
    TRY(cur_count(c, &argc, HG_MAX_RECORD_BYTES, 1, "argc"));
    if (reserve((void **)&r->argv, &r->argv_cap, (size_t)argc + 1, sizeof(*r->argv)) < 0)
        return fail_errno(r, ENOMEM, "argv");
    for (uint64_t i = 0; i < argc; i++)
        TRY(cur_str(c, &r->argv[i], NULL, "arg"));
    r->argv[argc] = NULL;
    rec->u.header.argc = (size_t)argc;
    rec->u.header.argv = r->argv;
    TRY(cur_u(c, &rec->u.header.interval_ms, "interval_ms"));
    TRY(cur_u(c, &rec->u.header.max_frames, "max_frames"));
    TRY(cur_u(c, &rec->u.header.sample_bytes, "sample_bytes"));
    TRY(cur_u(c, &rec->u.header.unwinder, "unwinder"));
    TRY(cur_str(c, &rec->u.header.wrappers, NULL, "wrappers"));
    TRY(cur_u(c, &rec->u.header.dump_signal, "dump_signal"));
    TRY(cur_u(c, &rec->u.header.flags, "flags"));
    /* The version says how SNAPSHOT records are laid out; the sampling rate
     * says how to read their numbers: they must agree. */
    uint64_t rate = rec->u.header.sample_bytes;
    if (r->version == HG_FORMAT_VERSION_EXACT && rate != 0)
        return fail(r, c->base_off,
                    "HEADER: sample_bytes %" PRIu64 " in a format-1 trace (sampled traces are "
                    "format 2)",
                    rate);
    if (r->version == HG_FORMAT_VERSION_SAMPLED && (rate == 0 || rate > HG_SAMPLE_MAX_BYTES))
        return fail(r, c->base_off,
                    "HEADER: sample_bytes %" PRIu64 " in a format-2 trace (expected 1 to %" PRIu64
                    ")",
                    rate, (uint64_t)HG_SAMPLE_MAX_BYTES);
    return 0;
}

static int dec_module_load(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    uint64_t at = cur_off(c), id;
    TRY(cur_u(c, &id, "module_id"));
    if (id > UINT32_MAX)
        return fail(r, at, "MODULE_LOAD: module id %" PRIu64 " out of range", id);
    TRY(cur_time(c, &rec->u.module_load.time_ns));
    TRY(cur_u(c, &rec->u.module_load.load_bias, "load_bias"));
    TRY(cur_u(c, &rec->u.module_load.start, "start"));
    TRY(cur_u(c, &rec->u.module_load.end, "end"));
    TRY(cur_str(c, &rec->u.module_load.path, NULL, "path"));
    TRY(cur_b(c, &rec->u.module_load.build_id, &rec->u.module_load.build_id_len, HG_MAX_BUILD_ID,
              "build_id"));
    if (rec->u.module_load.start >= rec->u.module_load.end)
        return fail(r, at,
                    "MODULE_LOAD: module %" PRIu64 " has start 0x%" PRIx64
                    " not below end 0x%" PRIx64,
                    id, rec->u.module_load.start, rec->u.module_load.end);
    if (find_id(r->modules, (uint32_t)id))
        return fail(r, at, "module %" PRIu64 " loaded while already loaded", id);
    TRY(add_id(r, &r->modules, (uint32_t)id));
    rec->u.module_load.module_id = (uint32_t)id;
    return 0;
}

static int dec_module_unload(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    uint64_t at = cur_off(c), id;
    TRY(cur_u(c, &id, "module_id"));
    TRY(cur_time(c, &rec->u.module_unload.time_ns));
    struct id_entry *e = id <= UINT32_MAX ? find_id(r->modules, (uint32_t)id) : NULL;
    if (!e)
        return fail(r, at, "module %" PRIu64 " unloaded but not loaded", id);
    HASH_DEL(r->modules, e);
    free(e);
    rec->u.module_unload.module_id = (uint32_t)id;
    return 0;
}

static int dec_stack(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    uint64_t at = cur_off(c), id, n;
    TRY(cur_u(c, &id, "stack_id"));
    if (id == 0 || id > UINT32_MAX)
        return fail(r, at, "STACK: stack id %" PRIu64 " cannot be defined", id);
    if (is_stack_defined(r, (uint32_t)id))
        return fail(r, at, "stack %" PRIu64 " defined twice", id);
    TRY(cur_count(c, &n, HG_MAX_FRAMES, 1, "nframes"));
    uint64_t addr = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (i == 0) {
            TRY(cur_u(c, &addr, "frame"));
        } else {
            int64_t d;
            TRY(cur_s(c, &d, "frame delta"));
            addr += (uint64_t)d; /* wraps modulo 2^64, as the writer's delta did */
        }
        r->frames[i] = addr;
    }
    TRY(define_stack(r, (uint32_t)id));
    rec->u.stack.stack_id = (uint32_t)id;
    rec->u.stack.nframes = (size_t)n;
    rec->u.stack.frames = r->frames;
    return 0;
}

static int dec_snapshot(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    uint64_t n;
    TRY(cur_time(c, &rec->u.snapshot.time_ns));
    TRY(cur_u(c, &rec->u.snapshot.rss_bytes, "rss_bytes"));
    TRY(cur_u(c, &rec->u.snapshot.alloc_count, "alloc_count"));
    TRY(cur_u(c, &rec->u.snapshot.alloc_bytes, "alloc_bytes"));
    TRY(cur_u(c, &rec->u.snapshot.free_count, "free_count"));
    TRY(cur_u(c, &rec->u.snapshot.free_bytes, "free_bytes"));
    TRY(cur_u(c, &rec->u.snapshot.live_bytes, "live_bytes"));
    TRY(cur_u(c, &rec->u.snapshot.live_count, "live_count"));
    TRY(cur_u(c, &rec->u.snapshot.peak_live_bytes, "peak_live_bytes"));
    TRY(cur_u(c, &rec->u.snapshot.dropped_count, "dropped_count"));
    bool is_sampled = r->version == HG_FORMAT_VERSION_SAMPLED;
    rec->u.snapshot.has_estimates = is_sampled;
    memset(&rec->u.snapshot.est, 0, sizeof rec->u.snapshot.est);
    if (is_sampled) {
        TRY(cur_u(c, &rec->u.snapshot.est.alloc_count, "est_alloc_count"));
        TRY(cur_u(c, &rec->u.snapshot.est.alloc_bytes, "est_alloc_bytes"));
        TRY(cur_u(c, &rec->u.snapshot.est.free_count, "est_free_count"));
        TRY(cur_u(c, &rec->u.snapshot.est.free_bytes, "est_free_bytes"));
        TRY(cur_u(c, &rec->u.snapshot.est.live_bytes, "est_live_bytes"));
        TRY(cur_u(c, &rec->u.snapshot.est.live_count, "est_live_count"));
        TRY(cur_u(c, &rec->u.snapshot.est.peak_live_bytes, "est_peak_live_bytes"));
    }
    TRY(cur_count(c, &n, HG_MAX_STACKS_PER_SNAP, is_sampled ? 9 : 5, "counter count"));
    if (reserve((void **)&r->counters, &r->counters_cap, (size_t)n, sizeof(*r->counters)) < 0)
        return fail_errno(r, ENOMEM, "snapshot counters");
    for (uint64_t i = 0; i < n; i++) {
        hg_rec_counter_t *k = &r->counters[i];
        TRY(cur_stack_ref(c, &k->stack_id));
        TRY(cur_u(c, &k->live_bytes, "live_bytes"));
        TRY(cur_u(c, &k->live_count, "live_count"));
        TRY(cur_u(c, &k->alloc_count, "alloc_count"));
        TRY(cur_u(c, &k->alloc_bytes, "alloc_bytes"));
        k->est_live_bytes = k->est_live_count = k->est_alloc_count = k->est_alloc_bytes = 0;
        if (is_sampled) {
            TRY(cur_u(c, &k->est_live_bytes, "est_live_bytes"));
            TRY(cur_u(c, &k->est_live_count, "est_live_count"));
            TRY(cur_u(c, &k->est_alloc_count, "est_alloc_count"));
            TRY(cur_u(c, &k->est_alloc_bytes, "est_alloc_bytes"));
        }
    }
    rec->u.snapshot.n = (size_t)n;
    rec->u.snapshot.counters = r->counters;
    return 0;
}

static int dec_live_begin(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    if (r->is_in_live)
        return fail(r, c->base_off, "LIVE_BEGIN inside another live-set dump");
    TRY(cur_time(c, &rec->u.live_begin.time_ns));
    TRY(cur_u(c, &rec->u.live_begin.reason, "reason"));
    TRY(cur_u(c, &rec->u.live_begin.count, "count"));
    r->is_in_live = true;
    return 0;
}

static int dec_live_chunk(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    uint64_t n;
    if (!r->is_in_live)
        return fail(r, c->base_off, "LIVE_CHUNK outside LIVE_BEGIN..LIVE_END");
    TRY(cur_count(c, &n, HG_MAX_LIVE_PER_REC, 4, "entry count"));
    if (reserve((void **)&r->lives, &r->lives_cap, (size_t)n, sizeof(*r->lives)) < 0)
        return fail_errno(r, ENOMEM, "live entries");
    uint64_t addr = 0;
    for (uint64_t i = 0; i < n; i++) {
        hg_rec_live_t *e = &r->lives[i];
        int64_t d;
        TRY(cur_s(c, &d, "address delta"));
        addr += (uint64_t)d;
        e->address = addr;
        TRY(cur_u(c, &e->size, "size"));
        TRY(cur_stack_ref(c, &e->stack_id));
        TRY(cur_u(c, &e->alloc_time_ms, "alloc_time_ms"));
    }
    rec->u.live_chunk.n = (size_t)n;
    rec->u.live_chunk.entries = r->lives;
    return 0;
}

static int dec_live_end(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    if (!r->is_in_live)
        return fail(r, c->base_off, "LIVE_END without LIVE_BEGIN");
    TRY(cur_u(c, &rec->u.live_end.count, "count"));
    r->is_in_live = false;
    return 0;
}

static int dec_reach(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    uint64_t n;
    if (r->is_in_live)
        return fail(r, c->base_off, "REACH inside a live-set dump");
    if (r->version == HG_FORMAT_VERSION_SAMPLED)
        return fail(r, c->base_off, "REACH in a sampled trace (the scan needs every block)");
    TRY(cur_time(c, &rec->u.reach.time_ns));
    TRY(cur_u(c, &rec->u.reach.reason, "reason"));
    TRY(cur_u(c, &rec->u.reach.status, "status"));
    TRY(cur_u(c, &rec->u.reach.threads_unseen, "threads_unseen"));
    TRY(cur_count(c, &n, HG_MAX_REACH_PER_REC, 9, "entry count"));
    if (reserve((void **)&r->reaches, &r->reaches_cap, (size_t)n, sizeof(*r->reaches)) < 0)
        return fail_errno(r, ENOMEM, "reach entries");
    for (uint64_t i = 0; i < n; i++) {
        hg_rec_reach_t *e = &r->reaches[i];
        TRY(cur_stack_ref(c, &e->stack_id));
        for (int k = 0; k < 4; k++) {
            TRY(cur_u(c, &e->bytes[k], "bytes"));
            TRY(cur_u(c, &e->count[k], "count"));
        }
    }
    rec->u.reach.n = (size_t)n;
    rec->u.reach.entries = r->reaches;
    return 0;
}

static int dec_end(cur_t *c, hg_record_t *rec)
{
    hg_reader_t *r = c->r;
    if (r->is_in_live)
        return fail(r, c->base_off, "END inside a live-set dump");
    TRY(cur_time(c, &rec->u.end.time_ns));
    TRY(cur_u(c, &rec->u.end.reason, "reason"));
    TRY(cur_s(c, &rec->u.end.status, "status"));
    return 0;
}

static int dec_warning(cur_t *c, hg_record_t *rec)
{
    TRY(cur_time(c, &rec->u.warning.time_ns));
    TRY(cur_u(c, &rec->u.warning.code, "code"));
    TRY(cur_str(c, &rec->u.warning.message, &rec->u.warning.message_len, "message"));
    return 0;
}

/* ---- records ---- */

/* Reads the magic and version. Returns 1, 0 if the stream ended first, or an
 * error. */
static int read_preamble(hg_reader_t *r)
{
    uint8_t magic[HG_MAGIC_LEN];
    for (size_t i = 0; i < HG_MAGIC_LEN; i++) {
        int rc = get_byte(r, &magic[i]);
        if (rc <= 0)
            return rc;
        if (magic[i] != (uint8_t)HG_MAGIC[i])
            return fail(r, 0, "not a heapgrow trace (bad magic)");
    }
    uint64_t v;
    int rc = get_varint(r, &v);
    if (rc <= 0)
        return rc;
    if (v < HG_FORMAT_VERSION_MIN || v > HG_FORMAT_VERSION)
        return fail(r, HG_MAGIC_LEN,
                    "trace format %" PRIu64 ", this heapgrow reads formats %d to %d", v,
                    HG_FORMAT_VERSION_MIN, HG_FORMAT_VERSION);
    r->version = v;
    r->has_preamble = true;
    return 1;
}

/* Reads one raw record. Returns RAW_RECORD (payload in r->pay), RAW_SKIPPED
 * (unknown tag, payload dropped), RAW_EOF at a record boundary, RAW_PARTIAL
 * when the stream ended inside the record, or an error. */
static int read_raw(hg_reader_t *r, uint8_t *tag, uint64_t *len)
{
    uint64_t start = r->offset;
    int rc = get_byte(r, tag);
    if (rc <= 0)
        return rc < 0 ? rc : RAW_EOF;
    rc = get_varint(r, len);
    if (rc <= 0)
        return rc < 0 ? rc : RAW_PARTIAL;
    if (*len > HG_MAX_RECORD_BYTES)
        return fail(r, start, "record length %" PRIu64 " exceeds the limit of %u", *len,
                    HG_MAX_RECORD_BYTES);
    bool keep = is_known_tag(*tag);
    rc = get_bytes(r, *len, keep);
    if (rc <= 0)
        return rc < 0 ? rc : RAW_PARTIAL;
    return keep ? RAW_RECORD : RAW_SKIPPED;
}

static int finish(hg_reader_t *r)
{
    r->is_done = true;
    if (!r->has_header)
        return fail(r, r->offset, "trace ends before its header record");
    if (!r->has_end)
        r->is_ended_early = true;
    return 0;
}

int hg_reader_next(hg_reader_t *r, hg_record_t *rec)
{
    if (r->err)
        return r->err;
    if (r->is_done)
        return 0;
    if (r->has_end) {
        /* Nothing follows END; anything that does is ignored but noted. */
        int rc = fill(r);
        if (rc < 0)
            return rc;
        if (rc > 0)
            r->has_trailing = true;
        r->is_done = true;
        return 0;
    }
    if (!r->has_preamble) {
        int rc = read_preamble(r);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return finish(r);
    }
    for (;;) {
        uint64_t start = r->offset, len;
        uint8_t tag;
        int rc = read_raw(r, &tag, &len);
        if (rc < 0)
            return rc;
        if (rc == RAW_EOF || rc == RAW_PARTIAL)
            return finish(r);
        if (!r->has_header && tag != HG_REC_HEADER)
            return fail(r, start, "first record is %s (tag %u), not HEADER",
                        hg_reader_tag_name(tag), tag);
        if (rc == RAW_SKIPPED) {
            r->nskipped++;
            continue;
        }

        memset(rec, 0, sizeof(*rec));
        rec->tag = (enum hg_record_tag)tag;
        rec->offset = start;
        /* An empty payload may have no buffer at all: point at "" then. */
        const uint8_t *pay = len ? r->pay : (const uint8_t *)"";
        cur_t c = {
            .r = r,
            .p = pay,
            .end = pay + len,
            .base = pay,
            .base_off = r->offset - len,
            .rec = hg_reader_tag_name(tag),
        };
        /* Strings: at most len bytes of text plus one NUL per length prefix. */
        if (tag == HG_REC_HEADER || tag == HG_REC_MODULE_LOAD || tag == HG_REC_WARNING) {
            if (reserve((void **)&r->str, &r->str_cap, (size_t)len * 2 + 1, 1) < 0)
                return fail_errno(r, ENOMEM, "string buffer");
            r->str_len = 0;
        }
        switch (tag) {
        case HG_REC_HEADER:
            if (r->has_header)
                return fail(r, start, "second HEADER record");
            rc = dec_header(&c, rec);
            r->has_header = true;
            break;
        case HG_REC_MODULE_LOAD:
            rc = dec_module_load(&c, rec);
            break;
        case HG_REC_MODULE_UNLOAD:
            rc = dec_module_unload(&c, rec);
            break;
        case HG_REC_STACK:
            rc = dec_stack(&c, rec);
            break;
        case HG_REC_SNAPSHOT:
            rc = dec_snapshot(&c, rec);
            break;
        case HG_REC_LIVE_BEGIN:
            rc = dec_live_begin(&c, rec);
            break;
        case HG_REC_LIVE_CHUNK:
            rc = dec_live_chunk(&c, rec);
            break;
        case HG_REC_LIVE_END:
            rc = dec_live_end(&c, rec);
            break;
        case HG_REC_END:
            rc = dec_end(&c, rec);
            r->has_end = true;
            break;
        case HG_REC_WARNING:
            rc = dec_warning(&c, rec);
            break;
        case HG_REC_REACH:
            rc = dec_reach(&c, rec);
            break;
        default:
            rc = fail(r, start, "internal: unhandled tag %u", tag);
            break;
        }
        return rc < 0 ? rc : 1;
    }
}

const char *hg_reader_error(const hg_reader_t *r)
{
    return r->err ? r->msg : "";
}

bool hg_reader_ended_early(const hg_reader_t *r)
{
    return r->is_ended_early;
}

bool hg_reader_is_gzip_truncated(const hg_reader_t *r)
{
    return r->is_gzip_truncated;
}

bool hg_reader_has_trailing_bytes(const hg_reader_t *r)
{
    return r->has_trailing;
}

uint64_t hg_reader_skipped_count(const hg_reader_t *r)
{
    return r->nskipped;
}

uint64_t hg_reader_offset(const hg_reader_t *r)
{
    return r->offset;
}

uint64_t hg_reader_version(const hg_reader_t *r)
{
    return r->version;
}

/* ---- text dump (tests/hgdump, `heapgrow dump`) ---- */

void hg_reader_print_record(FILE *f, const hg_record_t *rec)
{
    switch (rec->tag) {
    case HG_REC_HEADER:
        fprintf(f,
                "HEADER pid=%" PRIu64 " ppid=%" PRIu64 " start_real_ns=%" PRIu64
                " start_mono_ns=%" PRIu64 " exe=%s argc=%zu",
                rec->u.header.pid, rec->u.header.ppid, rec->u.header.start_real_ns,
                rec->u.header.start_mono_ns, rec->u.header.exe, rec->u.header.argc);
        for (size_t i = 0; i < rec->u.header.argc; i++)
            fprintf(f, " arg%zu=%s", i, rec->u.header.argv[i]);
        fprintf(f,
                " interval_ms=%" PRIu64 " max_frames=%" PRIu64 " sample_bytes=%" PRIu64
                " unwinder=%" PRIu64 " wrappers=%s dump_signal=%" PRIu64 " flags=%" PRIu64 "\n",
                rec->u.header.interval_ms, rec->u.header.max_frames, rec->u.header.sample_bytes,
                rec->u.header.unwinder, rec->u.header.wrappers, rec->u.header.dump_signal,
                rec->u.header.flags);
        break;
    case HG_REC_MODULE_LOAD:
        fprintf(f,
                "MODULE_LOAD id=%" PRIu32 " t=%" PRIu64 " bias=0x%" PRIx64 " start=0x%" PRIx64
                " end=0x%" PRIx64 " path=%s build_id=",
                rec->u.module_load.module_id, rec->u.module_load.time_ns,
                rec->u.module_load.load_bias, rec->u.module_load.start, rec->u.module_load.end,
                rec->u.module_load.path);
        for (size_t i = 0; i < rec->u.module_load.build_id_len; i++)
            fprintf(f, "%02x", rec->u.module_load.build_id[i]);
        fprintf(f, "\n");
        break;
    case HG_REC_MODULE_UNLOAD:
        fprintf(f, "MODULE_UNLOAD id=%" PRIu32 " t=%" PRIu64 "\n", rec->u.module_unload.module_id,
                rec->u.module_unload.time_ns);
        break;
    case HG_REC_STACK:
        fprintf(f, "STACK id=%" PRIu32 " frames=", rec->u.stack.stack_id);
        for (size_t i = 0; i < rec->u.stack.nframes; i++)
            fprintf(f, "%s0x%" PRIx64, i ? "," : "", rec->u.stack.frames[i]);
        fprintf(f, "\n");
        break;
    case HG_REC_SNAPSHOT:
        fprintf(f,
                "SNAPSHOT t=%" PRIu64 " rss=%" PRIu64 " alloc_count=%" PRIu64
                " alloc_bytes=%" PRIu64 " free_count=%" PRIu64 " free_bytes=%" PRIu64
                " live_bytes=%" PRIu64 " live_count=%" PRIu64 " peak_live_bytes=%" PRIu64
                " dropped=%" PRIu64 " stacks=%zu [",
                rec->u.snapshot.time_ns, rec->u.snapshot.rss_bytes, rec->u.snapshot.alloc_count,
                rec->u.snapshot.alloc_bytes, rec->u.snapshot.free_count, rec->u.snapshot.free_bytes,
                rec->u.snapshot.live_bytes, rec->u.snapshot.live_count,
                rec->u.snapshot.peak_live_bytes, rec->u.snapshot.dropped_count, rec->u.snapshot.n);
        for (size_t i = 0; i < rec->u.snapshot.n; i++) {
            const hg_rec_counter_t *k = &rec->u.snapshot.counters[i];
            fprintf(f, "%s%" PRIu32 ":%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64, i ? " " : "",
                    k->stack_id, k->live_bytes, k->live_count, k->alloc_count, k->alloc_bytes);
            if (rec->u.snapshot.has_estimates)
                fprintf(f, "~%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64, k->est_live_bytes,
                        k->est_live_count, k->est_alloc_count, k->est_alloc_bytes);
        }
        fprintf(f, "]");
        if (rec->u.snapshot.has_estimates)
            fprintf(f,
                    " est_alloc_count=%" PRIu64 " est_alloc_bytes=%" PRIu64
                    " est_free_count=%" PRIu64 " est_free_bytes=%" PRIu64 " est_live_bytes=%" PRIu64
                    " est_live_count=%" PRIu64 " est_peak_live_bytes=%" PRIu64,
                    rec->u.snapshot.est.alloc_count, rec->u.snapshot.est.alloc_bytes,
                    rec->u.snapshot.est.free_count, rec->u.snapshot.est.free_bytes,
                    rec->u.snapshot.est.live_bytes, rec->u.snapshot.est.live_count,
                    rec->u.snapshot.est.peak_live_bytes);
        fprintf(f, "\n");
        break;
    case HG_REC_LIVE_BEGIN:
        fprintf(f, "LIVE_BEGIN t=%" PRIu64 " reason=%" PRIu64 " count=%" PRIu64 "\n",
                rec->u.live_begin.time_ns, rec->u.live_begin.reason, rec->u.live_begin.count);
        break;
    case HG_REC_LIVE_CHUNK:
        fprintf(f, "LIVE_CHUNK n=%zu\n", rec->u.live_chunk.n);
        for (size_t i = 0; i < rec->u.live_chunk.n; i++) {
            const hg_rec_live_t *e = &rec->u.live_chunk.entries[i];
            fprintf(f, "LIVE id=%" PRIu32 " size=%" PRIu64 " addr=0x%" PRIx64 " t_ms=%" PRIu64 "\n",
                    e->stack_id, e->size, e->address, e->alloc_time_ms);
        }
        break;
    case HG_REC_LIVE_END:
        fprintf(f, "LIVE_END count=%" PRIu64 "\n", rec->u.live_end.count);
        break;
    case HG_REC_END: {
        static const char *const reasons[] = {"exit", "_exit", "signal", "exec"};
        const char *reason = rec->u.end.reason < 4 ? reasons[rec->u.end.reason] : "?";
        fprintf(f, "END t=%" PRIu64 " reason=%s status=%" PRId64 "\n", rec->u.end.time_ns, reason,
                rec->u.end.status);
        break;
    }
    case HG_REC_WARNING:
        fprintf(f, "WARNING t=%" PRIu64 " code=%" PRIu64 " message=%s\n", rec->u.warning.time_ns,
                rec->u.warning.code, rec->u.warning.message);
        break;
    case HG_REC_REACH:
        fprintf(f,
                "REACH t=%" PRIu64 " reason=%" PRIu64 " status=%" PRIu64 " threads_unseen=%" PRIu64
                " n=%zu\n",
                rec->u.reach.time_ns, rec->u.reach.reason, rec->u.reach.status,
                rec->u.reach.threads_unseen, rec->u.reach.n);
        for (size_t i = 0; i < rec->u.reach.n; i++) {
            const hg_rec_reach_t *e = &rec->u.reach.entries[i];
            fprintf(f,
                    "REACH id=%" PRIu32 " definite=%" PRIu64 "/%" PRIu64 " indirect=%" PRIu64
                    "/%" PRIu64 " possible=%" PRIu64 "/%" PRIu64 " reachable=%" PRIu64 "/%" PRIu64
                    "\n",
                    e->stack_id, e->bytes[0], e->count[0], e->bytes[1], e->count[1], e->bytes[2],
                    e->count[2], e->bytes[3], e->count[3]);
        }
        break;
    }
}

int hg_reader_dump(const char *path, FILE *out, char *err, size_t errlen)
{
    hg_reader_t *r;
    int rc = hg_reader_open(path, &r);
    if (rc < 0) {
        snprintf(err, errlen, "%s", strerror(-rc));
        return rc;
    }
    hg_record_t rec;
    while ((rc = hg_reader_next(r, &rec)) > 0)
        hg_reader_print_record(out, &rec);
    if (rc < 0) {
        snprintf(err, errlen, "%s", hg_reader_error(r));
    } else if (hg_reader_ended_early(r)) {
        fprintf(out, "ENDED_EARLY offset=%" PRIu64 "%s\n", hg_reader_offset(r),
                hg_reader_is_gzip_truncated(r) ? " gzip_truncated" : "");
    } else if (hg_reader_has_trailing_bytes(r)) {
        fprintf(out, "TRAILING_BYTES\n");
    }
    hg_reader_close(r);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The write-failure marker at the tail                                       */

/* LEB128 from p[*i] within n bytes; false when cut short or over 64 bits. */
static bool tail_u(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *i < n; shift += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return shift < 63 || b <= 1;
    }
    return false;
}

/* The marker is small (writer.c builds it in 128 bytes); 256 bytes of tail are
 * plenty. It is recognised only when every byte agrees: a stored block header
 * (a zero byte, LEN, NLEN = ~LEN) whose LEN bytes reach exactly the end of the
 * file and hold exactly one WARNING record with code HG_WARN_WRITE_FAILED. */
#define TAIL_BYTES 256

int hg_reader_tail_failure(const char *path, uint64_t *time_ns, char *msg, size_t msglen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint8_t buf[TAIL_BYTES];
    off_t size = lseek(fd, 0, SEEK_END);
    size_t n = size < 0 ? 0 : size < TAIL_BYTES ? (size_t)size : TAIL_BYTES;
    ssize_t got = size < 0 ? -1 : pread(fd, buf, n, size - (off_t)n);
    int err = errno;
    close(fd);
    if (got < 0)
        return -err;
    n = (size_t)got;
    for (size_t at = 0; at + 5 <= n; at++) {
        size_t len = (size_t)buf[at + 1] | (size_t)buf[at + 2] << 8;
        size_t nlen = (size_t)buf[at + 3] | (size_t)buf[at + 4] << 8;
        if (buf[at] != 0 || at + 5 + len != n || len + nlen != 0xffff) /* NLEN = ~LEN */
            continue;
        size_t i = at + 5;
        uint64_t plen, t, code, mlen;
        if (buf[i++] != HG_REC_WARNING || !tail_u(buf, n, &i, &plen) || plen != n - i ||
            !tail_u(buf, n, &i, &t) || !tail_u(buf, n, &i, &code) || code != HG_WARN_WRITE_FAILED ||
            !tail_u(buf, n, &i, &mlen) || mlen != n - i)
            continue;
        *time_ns = t;
        if (msglen > 0) {
            size_t k = mlen < msglen - 1 ? (size_t)mlen : msglen - 1;
            memcpy(msg, buf + i, k);
            msg[k] = '\0';
        }
        return 1;
    }
    return 0;
}
