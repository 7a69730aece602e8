/*
 * Fakes of hg_core and the tables for the writer's in-process tests
 * (tests/test_writer_fakes.c).
 */
#ifndef HEAPGROW_TESTS_TEST_WRITER_FAKES_H
#define HEAPGROW_TESTS_TEST_WRITER_FAKES_H

#include <stdint.h>

#include "core.h"
#include "live_table.h"
#include "stack_table.h"

#define FAKE_MAX_STACKS 1024
#define FAKE_MAX_FRAMES 16
#define FAKE_MAX_LIVE   20000

/* Fills hg_core: config (output pattern, interval, dump signal 0 = off), the
 * fake tables, start times; state ACTIVE. */
void fake_core_init(const char *output, uint32_t interval_ms, int dump_signal);

/* Defines the next stack id with these frames; returns its id. */
uint32_t fake_stack_add(const uintptr_t *frames, uint32_t nframes);
/* Hands out an id that never gets frames (a lost interning race). */
uint32_t fake_stack_add_hole(void);
/* Gives a hole its frames later (an interner that was slow to publish). */
void fake_stack_publish(uint32_t id, const uintptr_t *frames, uint32_t nframes);
void fake_stack_set(uint32_t id, int64_t live_bytes, int64_t live_count, uint64_t alloc_count,
                    uint64_t alloc_bytes);

void fake_live_add(uintptr_t address, uint64_t size, uint32_t stack_id, uint32_t time_ms);
uint64_t fake_live_maintain_calls(void);

#endif /* HEAPGROW_TESTS_TEST_WRITER_FAKES_H */
