/*
 * heapgrow's public API, for programs that want to talk to the tracer when it
 * is loaded (LD_PRELOAD=libheapgrow.so, or `heapgrow run`) and to run
 * unchanged when it is not. Nothing here needs linking with heapgrow:
 *
 *   #include <heapgrow/heapgrow.h>
 *   ...
 *   hg_request_dump_if_loaded();   // no-op (-1) without the tracer
 *
 * hg_request_dump is declared weak: a program that references it links
 * without libheapgrow.so and sees its address as NULL unless the tracer is
 * preloaded. This holds for position-independent executables (the default of
 * Debian's, Ubuntu's and Fedora's compilers) and for shared libraries. A
 * non-PIE executable (-no-pie) has the NULL resolved at link time and never
 * sees the tracer: build it with -fPIE -pie, or look the function up with
 * dlsym(RTLD_DEFAULT, "hg_request_dump") instead.
 */
#ifndef HEAPGROW_INCLUDE_HEAPGROW_H
#define HEAPGROW_INCLUDE_HEAPGROW_H

#ifdef __cplusplus
extern "C" {
#endif

/* Asks the tracer for a snapshot and a dump of the live set as soon as its
 * writer can (trace records LIVE_BEGIN reason HG_DUMP_API). Returns 0 when an
 * active tracer took the request, -1 when it is passive (or finished).
 * Async-signal-safe and allocation-free; callable from any thread. */
#ifdef HG_BUILDING_LIBHEAPGROW
int hg_request_dump(void);
#else
int hg_request_dump(void) __attribute__((weak));
#endif

#ifndef HG_BUILDING_LIBHEAPGROW
/* hg_request_dump() when the tracer is loaded, -1 otherwise. */
static inline int hg_request_dump_if_loaded(void)
{
    return hg_request_dump ? hg_request_dump() : -1;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* HEAPGROW_INCLUDE_HEAPGROW_H */
