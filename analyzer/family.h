/*
 * Process families: a traced program that forks or execs leaves one trace per
 * process. Descendant traces are written beside the main one with the pid
 * inserted before the extension ("out.hgt" -> "out.4242.hgt"; the writer,
 * preload/writer.c, decides the name) and each trace's header records its
 * parent pid. This module finds, for a main trace, every descendant trace
 * (recursively, by the ppid chain) and loads them. docs/USAGE.md states the
 * naming rule for users.
 */
#ifndef HEAPGROW_ANALYZER_FAMILY_H
#define HEAPGROW_ANALYZER_FAMILY_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* What a trace's HEADER record says, read without analysing the trace. */
typedef struct hg_trace_header {
    uint64_t pid;
    uint64_t ppid;
    uint64_t start_real_ns;
    char *wrappers; /* HEAPGROW_WRAPPERS recorded by the tracer; malloc'd, may be "" */
} hg_trace_header_t;

/* Reads the HEADER of the trace at path. Returns 0, -errno for the file, or
 * -HG_EFORMAT when it is not a heapgrow trace (or not one this version
 * reads). On success the caller frees h->wrappers. */
int hg_family_peek(const char *path, hg_trace_header_t *h);

/* The name of the trace that process `pid` writes when the main trace is
 * `path`: the pid inserted before the extension of the last path component
 * ("dir/out.hgt" -> "dir/out.<pid>.hgt", "out" -> "out.<pid>"). */
void hg_family_child_name(const char *path, uint64_t pid, char *buf, size_t len);

/* The descendants of the process that wrote the main trace `path`, as found
 * in path's directory: traces named like hg_family_child_name(path, ...)
 * (a further ".N" before the extension is accepted too), whose parent pid is
 * the main process or one of its descendants (or whose pid is one of them: a
 * program that exec'd), started no earlier than the main trace. Paths are
 * malloc'd, in pid order. Returns 0 or -errno (the directory). */
typedef struct hg_family {
    char **paths;
    size_t n;
} hg_family_t;

int hg_family_find(const char *path, hg_family_t *out);
void hg_family_free(hg_family_t *f);

#endif /* HEAPGROW_ANALYZER_FAMILY_H */
