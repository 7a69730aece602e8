/*
 * Stand-ins for the parts of libheapgrow.so that the writer reads (hg_core,
 * the stack and live tables, the shim's guard), so that tests/test_writer.c can
 * drive preload/writer.c in-process with exactly known counters, stacks and
 * live entries. Single-threaded set-up by the test; the writer thread only
 * reads. Not thread-safe beyond that, and not meant to be.
 */
#include "test_writer_fakes.h"

#include "counts.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

hg_core_t hg_core;
__thread bool hg_guard_in_shim __attribute__((tls_model("initial-exec")));

static uint64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t hg_core_now_ns(void)
{
    return mono_now() - hg_core.start_mono_ns;
}

uint32_t hg_core_now_ms(void)
{
    return (uint32_t)(hg_core_now_ns() / 1000000u);
}

void hg_core_tick_clock(void)
{
    atomic_store_explicit(&hg_core.clock_ms, hg_core_now_ms(), memory_order_relaxed);
}

/* --- per-thread counters (counts.h): the fakes' counters are set directly --- */

void hg_counts_merge(void)
{
}

/* --- stack table ---------------------------------------------------------- */

struct hg_stack_table {
    _Atomic uint32_t limit;
    uint32_t nframes[FAKE_MAX_STACKS];
    uintptr_t frames[FAKE_MAX_STACKS][FAKE_MAX_FRAMES];
    hg_stack_counters_t counters[FAKE_MAX_STACKS];
};

static struct hg_stack_table stacks = {.limit = 1};

uint32_t fake_stack_add(const uintptr_t *frames, uint32_t nframes)
{
    uint32_t id = atomic_load_explicit(&stacks.limit, memory_order_relaxed);
    memcpy(stacks.frames[id], frames, nframes * sizeof *frames);
    stacks.nframes[id] = nframes;
    atomic_store_explicit(&stacks.limit, id + 1, memory_order_release);
    return id;
}

uint32_t fake_stack_add_hole(void)
{
    uint32_t id = atomic_load_explicit(&stacks.limit, memory_order_relaxed);
    atomic_store_explicit(&stacks.limit, id + 1, memory_order_release);
    return id;
}

void fake_stack_publish(uint32_t id, const uintptr_t *frames, uint32_t nframes)
{
    memcpy(stacks.frames[id], frames, nframes * sizeof *frames);
    stacks.nframes[id] = nframes;
}

void fake_stack_set(uint32_t id, int64_t live_bytes, int64_t live_count, uint64_t alloc_count,
                    uint64_t alloc_bytes)
{
    hg_stack_counters_t *c = &stacks.counters[id];
    atomic_store_explicit(&c->live_bytes, live_bytes, memory_order_relaxed);
    atomic_store_explicit(&c->live_count, live_count, memory_order_relaxed);
    atomic_store_explicit(&c->alloc_count, alloc_count, memory_order_relaxed);
    atomic_store_explicit(&c->alloc_bytes, alloc_bytes, memory_order_relaxed);
}

int hg_stack_create(hg_stack_table_t **out)
{
    *out = &stacks;
    return 0;
}

uint32_t hg_stack_intern(hg_stack_table_t *t, const uintptr_t *frames, uint32_t nframes)
{
    (void)t;
    return fake_stack_add(frames, nframes);
}

hg_stack_counters_t *hg_stack_counters(hg_stack_table_t *t, uint32_t id)
{
    if (id >= atomic_load_explicit(&t->limit, memory_order_acquire))
        return NULL;
    if (id != 0 && t->nframes[id] == 0)
        return NULL;
    return &t->counters[id];
}

uint32_t hg_stack_frames(hg_stack_table_t *t, uint32_t id, const uintptr_t **frames)
{
    if (id == 0 || id >= atomic_load_explicit(&t->limit, memory_order_acquire) ||
        t->nframes[id] == 0)
        return 0;
    *frames = t->frames[id];
    return t->nframes[id];
}

uint32_t hg_stack_id_limit(const hg_stack_table_t *t)
{
    return atomic_load_explicit(&t->limit, memory_order_acquire);
}

size_t hg_stack_memory_bytes(const hg_stack_table_t *t)
{
    return sizeof *t;
}

/* --- live table ----------------------------------------------------------- */

struct hg_live_table {
    size_t n;
    hg_live_entry_t e[FAKE_MAX_LIVE];
    _Atomic uint64_t maintain_calls;
};

static struct hg_live_table live;

void fake_live_add(uintptr_t address, uint64_t size, uint32_t stack_id, uint32_t time_ms)
{
    live.e[live.n++] = (hg_live_entry_t){address, size, stack_id, time_ms};
}

uint64_t fake_live_maintain_calls(void)
{
    return atomic_load_explicit(&live.maintain_calls, memory_order_relaxed);
}

int hg_live_create(hg_live_table_t **out, size_t initial_capacity)
{
    (void)initial_capacity;
    *out = &live;
    return 0;
}

size_t hg_live_count(hg_live_table_t *t)
{
    return t->n;
}

int hg_live_foreach(hg_live_table_t *t, int (*fn)(const hg_live_entry_t *e, void *arg), void *arg)
{
    for (size_t i = 0; i < t->n; i++) {
        int rc = fn(&t->e[i], arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void hg_live_maintain(hg_live_table_t *t, uint64_t now_ms)
{
    (void)now_ms;
    atomic_fetch_add_explicit(&t->maintain_calls, 1, memory_order_relaxed);
}

/* --- set-up ---------------------------------------------------------------- */

void fake_core_init(const char *output, uint32_t interval_ms, int dump_signal)
{
    memset(&hg_core.cfg, 0, sizeof hg_core.cfg);
    strncpy(hg_core.cfg.output, output, sizeof hg_core.cfg.output - 1);
    hg_core.cfg.interval_ms = interval_ms;
    hg_core.cfg.max_frames = 64;
    hg_core.cfg.dump_signal = dump_signal;
    strcpy(hg_core.cfg.wrappers, "xmalloc");
    hg_stack_create(&hg_core.stacks);
    hg_live_create(&hg_core.live, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    hg_core.start_real_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    hg_core.start_mono_ns = mono_now();
    atomic_store_explicit(&hg_core.state, HG_STATE_ACTIVE, memory_order_release);
}
