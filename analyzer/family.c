/*
 * Process families (family.h): finds the descendant traces of a main trace by
 * name and by the parent pid in their headers. It reads only the HEADER record
 * of each candidate (hg_family_peek); the full analysis is hg_model_load's.
 * The header's field order is format.h's (HG_REC_HEADER); a reader rejects
 * what it does not understand, so a candidate that is not a trace is skipped.
 */
#include "family.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "heapgrow/format.h"

/* A HEADER larger than this is not worth peeking at (the argv of a real
 * program fits many times over; the reader enforces the format's limits). */
#define PEEK_MAX_HEADER (4u * 1024u * 1024u)

typedef struct cursor {
    const uint8_t *p, *end;
    bool is_bad;
} cursor_t;

static uint64_t get_u(cursor_t *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (c->p >= c->end) {
            c->is_bad = true;
            return 0;
        }
        uint8_t b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return v;
    }
    c->is_bad = true; /* more than 10 bytes */
    return 0;
}

/* Reads exactly n bytes; returns 0 or -HG_EFORMAT/-EIO. */
static int read_exact(gzFile gz, void *buf, size_t n)
{
    int got = gzread(gz, buf, (unsigned)n);
    if (got < 0)
        return -HG_EFORMAT; /* not gzip, or corrupt */
    return (size_t)got == n ? 0 : -HG_EFORMAT;
}

static int read_varint(gzFile gz, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b;
        int rc = read_exact(gz, &b, 1);
        if (rc != 0)
            return rc;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return 0;
    }
    return -HG_EFORMAT;
}

int hg_family_peek(const char *path, hg_trace_header_t *h)
{
    int rc = 0;
    uint8_t *payload = NULL;
    memset(h, 0, sizeof(*h));
    gzFile gz = gzopen(path, "rb");
    if (gz == NULL)
        return errno != 0 ? -errno : -ENOMEM;

    char magic[HG_MAGIC_LEN];
    uint64_t version, len;
    uint8_t tag;
    if ((rc = read_exact(gz, magic, sizeof(magic))) != 0)
        goto out;
    if (memcmp(magic, HG_MAGIC, HG_MAGIC_LEN) != 0) {
        rc = -HG_EFORMAT;
        goto out;
    }
    if ((rc = read_varint(gz, &version)) != 0)
        goto out;
    if (version < HG_FORMAT_VERSION_MIN || version > HG_FORMAT_VERSION ||
        (rc = read_exact(gz, &tag, 1)) != 0 || tag != HG_REC_HEADER ||
        (rc = read_varint(gz, &len)) != 0 || len > PEEK_MAX_HEADER) {
        rc = -HG_EFORMAT;
        goto out;
    }
    payload = malloc(len + 1);
    if (payload == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = read_exact(gz, payload, len)) != 0)
        goto out;

    cursor_t c = {payload, payload + len, false};
    h->pid = get_u(&c);
    h->ppid = get_u(&c);
    h->start_real_ns = get_u(&c);
    (void)get_u(&c);        /* start_mono_ns */
    uint64_t n = get_u(&c); /* exe_path */
    if (n > (uint64_t)(c.end - c.p))
        c.is_bad = true;
    else
        c.p += n;
    uint64_t argc = get_u(&c);
    for (uint64_t i = 0; i < argc && !c.is_bad; i++) {
        n = get_u(&c);
        if (n > (uint64_t)(c.end - c.p))
            c.is_bad = true;
        else
            c.p += n;
    }
    for (int i = 0; i < 4; i++) /* interval_ms, max_frames, sample_bytes, unwinder */
        (void)get_u(&c);
    n = get_u(&c); /* wrappers */
    if (c.is_bad || n > (uint64_t)(c.end - c.p)) {
        rc = -HG_EFORMAT;
        goto out;
    }
    h->wrappers = strndup((const char *)c.p, n);
    if (h->wrappers == NULL)
        rc = -ENOMEM;
out:
    free(payload);
    gzclose(gz);
    return rc;
}

void hg_family_child_name(const char *path, uint64_t pid, char *buf, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot == NULL || dot == base) /* no extension (a leading dot is none) */
        snprintf(buf, len, "%s.%llu", path, (unsigned long long)pid);
    else
        snprintf(buf, len, "%.*s.%llu%s", (int)(dot - path), path, (unsigned long long)pid, dot);
}

/* Whether `name` is stem "." digits ("." digits)* ext. */
static bool is_candidate(const char *name, const char *stem, size_t stem_len, const char *ext)
{
    if (strncmp(name, stem, stem_len) != 0 || name[stem_len] != '.')
        return false;
    const char *p = name + stem_len;
    bool has_group = false;
    while (*p == '.' && p[1] >= '0' && p[1] <= '9') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
        has_group = true;
    }
    return has_group && strcmp(p, ext) == 0;
}

typedef struct cand {
    char *path;
    hg_trace_header_t h;
    bool is_member;
} cand_t;

static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->h.pid != y->h.pid)
        return x->h.pid < y->h.pid ? -1 : 1;
    if (x->h.start_real_ns != y->h.start_real_ns)
        return x->h.start_real_ns < y->h.start_real_ns ? -1 : 1;
    return strcmp(x->path, y->path);
}

static bool in_set(const uint64_t *v, size_t n, uint64_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x)
            return true;
    return false;
}

int hg_family_find(const char *path, hg_family_t *out)
{
    int rc = 0;
    cand_t *cands = NULL;
    size_t ncands = 0, cap = 0;
    uint64_t *pids = NULL;
    size_t npids = 0;
    DIR *d = NULL;
    char *dir = NULL, *stem = NULL;
    hg_trace_header_t root = {0};
    out->paths = NULL;
    out->n = 0;

    rc = hg_family_peek(path, &root);
    if (rc != 0)
        return rc;

    /* Split path into directory, stem (base without extension) and ext. */
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    dir = slash != NULL ? strndup(path, (size_t)(slash - path) + 1) : strdup("./");
    const char *dot = strrchr(base, '.');
    const char *ext = dot != NULL && dot != base ? dot : "";
    stem = strndup(base, (size_t)(ext[0] != '\0' ? dot - base : (ptrdiff_t)strlen(base)));
    if (dir == NULL || stem == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    /* A main trace named with its own pid (the library's default pattern
     * "heapgrow.%e.%p.hgt") has its descendants beside it with their pid in
     * that place instead: "heapgrow.prog.100.hgt" -> "heapgrow.prog.101.hgt". */
    char pidgroup[32];
    snprintf(pidgroup, sizeof(pidgroup), ".%llu", (unsigned long long)root.pid);
    const char *pg = NULL;
    for (const char *q = strstr(base, pidgroup); q != NULL; q = strstr(q + 1, pidgroup)) {
        char next = q[strlen(pidgroup)];
        if (next == '.' || next == '\0')
            pg = q;
    }
    size_t stem2_len = pg != NULL ? (size_t)(pg - base) : 0;
    const char *ext2 = pg != NULL ? pg + strlen(pidgroup) : NULL;
    d = opendir(dir);
    if (d == NULL) {
        rc = -errno;
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, base) == 0)
            continue;
        if (!is_candidate(e->d_name, stem, strlen(stem), ext) &&
            !(pg != NULL && is_candidate(e->d_name, base, stem2_len, ext2)))
            continue;
        if (ncands == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            cand_t *n = realloc(cands, ncap * sizeof(*n));
            if (n == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            cands = n;
            cap = ncap;
        }
        cand_t *c = &cands[ncands];
        memset(c, 0, sizeof(*c));
        if (asprintf(&c->path, "%s%s", slash != NULL ? dir : "", e->d_name) < 0) {
            rc = -ENOMEM;
            goto out;
        }
        /* Not a trace, or one written before the main one (a stale file of
         * an earlier run): not part of this family. */
        if (hg_family_peek(c->path, &c->h) != 0 || c->h.start_real_ns < root.start_real_ns) {
            free(c->path);
            free(c->h.wrappers);
            continue;
        }
        ncands++;
    }
    qsort(cands, ncands, sizeof(*cands), cmp_cand);

    /* Grow the family to a fixed point: a trace belongs to it when its parent
     * or its own pid (an exec'd image) is a member's pid. At most ncands
     * rounds, each adding at least one member. */
    pids = calloc(ncands + 1, sizeof(*pids));
    if (pids == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    pids[npids++] = root.pid;
    for (bool is_changed = true; is_changed;) {
        is_changed = false;
        for (size_t i = 0; i < ncands; i++) {
            cand_t *c = &cands[i];
            if (c->is_member || !(in_set(pids, npids, c->h.ppid) || in_set(pids, npids, c->h.pid)))
                continue;
            c->is_member = true;
            is_changed = true;
            if (!in_set(pids, npids, c->h.pid))
                pids[npids++] = c->h.pid;
        }
    }
    out->paths = calloc(ncands + 1, sizeof(*out->paths));
    if (out->paths == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < ncands; i++) {
        if (cands[i].is_member) {
            out->paths[out->n++] = cands[i].path;
            cands[i].path = NULL;
        }
    }
out:
    for (size_t i = 0; i < ncands; i++) {
        free(cands[i].path);
        free(cands[i].h.wrappers);
    }
    free(cands);
    free(pids);
    free(root.wrappers);
    free(dir);
    free(stem);
    if (d != NULL)
        closedir(d);
    return rc;
}

void hg_family_free(hg_family_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->paths[i]);
    free(f->paths);
    f->paths = NULL;
    f->n = 0;
}
