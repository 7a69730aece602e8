/*
 * The launcher: `heapgrow run` and `heapgrow check` start a program with
 * libheapgrow.so preloaded, forward signals to it, wait for it and exit with
 * its status (check: or the gate's, gate.h). Command line and environment:
 * docs/USAGE.md.
 */
#ifndef HEAPGROW_ANALYZER_LAUNCH_H
#define HEAPGROW_ANALYZER_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

/* How the loader will treat an executable under LD_PRELOAD. */
enum hg_exe_kind {
    HG_EXE_DYNAMIC = 0, /* has a program interpreter: preloading works      */
    HG_EXE_STATIC,      /* no PT_INTERP: the loader never runs, no preload   */
    HG_EXE_STATIC_GO,   /* the same, and a Go program                       */
    HG_EXE_GO,          /* a dynamically linked Go program: only C (cgo)
                           allocations are seen, not the Go heap            */
    HG_EXE_UNKNOWN,     /* not ELF (a script...) or unreadable              */
};

/* Inspects the ELF file at path (a "#!" script: its interpreter). */
enum hg_exe_kind hg_launch_inspect(const char *path);

/* Finds libheapgrow.so: $HEAPGROW_LIB, else beside the build tree's
 * executable (build/analyzer/heapgrow -> build/preload/libheapgrow.so), else
 * the installed HG_LIBDIR. Returns 0 or -ENOENT, with the path (or, on
 * failure, a message) in buf. */
int hg_launch_find_library(char *buf, size_t len);

/* `heapgrow run`: argv[0] is "run". Returns the exit status. */
int hg_launch_run_main(int argc, char **argv);

/* Parses a byte size for option `opt` (--sample): digits and an optional B,
 * K/KiB, M/MiB, G/GiB suffix (binary, any case), 0..HG_SAMPLE_MAX_BYTES.
 * Returns 0 with *out set, or -EINVAL after a one-line message on stderr. */
int hg_launch_parse_size(const char *opt, const char *s, uint64_t *out);

/* `heapgrow check`: argv[0] is "check". Returns the program's failing exit
 * status, else --error-exitcode (23) when the gate fails, else 0; 2 for
 * usage errors and when there is nothing to check. */
int hg_launch_check_main(int argc, char **argv);

#endif /* HEAPGROW_ANALYZER_LAUNCH_H */
