/*
 * HEAPGROW_* settings (hg_config_t in core.h), read once at init. The parser
 * is allocation-free and does not call getenv: it walks an environment array,
 * so it works before libc has finished starting and is testable in-process.
 *
 *   HEAPGROW_OUTPUT       trace path pattern (%p pid, %e exe name),
 *                         default "heapgrow.%e.%p.hgt"; at most 4095 bytes
 *   HEAPGROW_INTERVAL_MS  snapshot interval, 1..3600000, default 100
 *   HEAPGROW_MAX_FRAMES   deepest frames kept per stack, 1..256, default 64
 *   HEAPGROW_SAMPLE_BYTES 0 = every allocation (default); else the mean
 *                         bytes between sampled allocations, 1..2^40, digits
 *                         with an optional B, K/KiB, M/MiB, G/GiB suffix
 *                         (binary; KB/MB/GB are refused as ambiguous)
 *   HEAPGROW_SAMPLE_SEED  the sampler's seed, 0 (default) = random; any
 *                         other value makes the sample points reproducible
 *   HEAPGROW_UNWIND       "libunwind" or "fp" (default: the meson option)
 *   HEAPGROW_SIGNAL       dump signal: number, "USR2"/"SIGUSR2"-style name, or
 *                         "0"/"off"/"none"; default SIGUSR2
 *   HEAPGROW_WRAPPERS     free text recorded in the header (analyzer patterns)
 *   HEAPGROW_QUIET        "1"/"yes"/"true": no messages on stderr
 * An invalid value keeps the default and is reported once on stderr.
 */
#ifndef HEAPGROW_PRELOAD_CONFIG_H
#define HEAPGROW_PRELOAD_CONFIG_H

#include "core.h"

/* Fills *cfg with the defaults, then applies the HEAPGROW_* entries of envp
 * (a NULL-terminated "NAME=value" array; NULL = none). Returns the number of
 * invalid values (each left at its default). Pure, allocation-free. */
int hg_config_parse(hg_config_t *cfg, char *const *envp);

/* hg_config_parse() on the process environment: `environ` when libc has set
 * it, otherwise /proc/self/environ read into a static buffer. Call once. */
int hg_config_load(hg_config_t *cfg);

#endif /* HEAPGROW_PRELOAD_CONFIG_H */
