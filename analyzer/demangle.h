/*
 * C-callable wrapper around the C++ ABI demangler (abi::__cxa_demangle), so
 * that the symbolizer, written in C, can show "ns::Cache::insert(...)" instead
 * of "_ZN2ns5Cache6insert...". Lives in demangle.cc; linking it pulls in
 * libstdc++, which the analyzer may use (it is a normal program).
 */
#ifndef HEAPGROW_ANALYZER_DEMANGLE_H
#define HEAPGROW_ANALYZER_DEMANGLE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Demangles an Itanium C++ ABI name ("_Z..."), including Rust's legacy
 * symbols, which come out as Rust paths ("alloc::vec::Vec<T>::push", hash
 * dropped). Returns the demangled text, malloc'd (the caller frees it), or
 * NULL when `mangled` is NULL, is not a mangled name, or memory ran out.
 * Thread-safe. */
char *hg_demangle(const char *mangled);

#ifdef __cplusplus
}
#endif

#endif /* HEAPGROW_ANALYZER_DEMANGLE_H */
