/*
 * Stress test of both tables (prints TAP).
 *   stress_tables [THREADS [OPS_PER_THREAD [SEED]]]
 *   stress_tables --scale N     (memory per live entry at N live entries)
 * Live table: THREADS threads insert and erase concurrently; a third of the
 * erases are of entries another thread inserted (handed over through
 * single-producer/single-consumer rings). The live set grows through several
 * generations while this runs, and the main thread walks it with foreach and
 * runs maintain meanwhile. At the end every entry that must be live is found
 * with its exact payload, foreach reports each exactly once, and the count is
 * exact. Stack table: THREADS threads intern overlapping stack sets in
 * different orders; every distinct stack must get one id. A microbenchmark
 * (not asserted) closes the run.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/wait.h>
#include <unistd.h>

#include "live_table.h"
#include "stack_table.h"

#if defined(__SANITIZE_THREAD__)
#define HAS_FORK 0 /* TSan does not follow a multithreaded fork child */
#else
#define HAS_FORK 1
#endif

static int test_no;
static hg_live_table_t *arg_table;
static int failures;

static void tap(int ok, const char *what)
{
    printf("%s %d - %s\n", ok ? "ok" : "not ok", ++test_no, what);
    if (!ok)
        failures++;
    fflush(stdout);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Address of the i-th entry of thread t: unique, 16-aligned. */
static uintptr_t addr_of(unsigned t, uint64_t i)
{
    return ((uintptr_t)(t + 1) << 40) | (uintptr_t)(i << 4);
}

static hg_live_entry_t entry_for(uintptr_t a)
{
    hg_live_entry_t e = {
        .address = a,
        .size = (a >> 4) % 100003u + (a >> 40),
        .stack_id = (uint32_t)((a >> 4) * 2654435761u) & HG_LIVE_STACK_ID_MAX,
        /* whole seconds: what the table keeps (live_table.h) */
        .alloc_time_ms = ((uint32_t)(a >> 7) ^ (uint32_t)(a >> 40)) % 32768u * 1000u,
    };
    return e;
}

/* ---- SPSC ring: thread t sends to thread (t + 1) % n ---- */
#define RING_SIZE 4096u
typedef struct ring {
    _Alignas(64) _Atomic uint64_t head; /* written by the consumer */
    _Alignas(64) _Atomic uint64_t tail; /* written by the producer */
    uintptr_t items[RING_SIZE];
} ring_t;

static bool ring_push(ring_t *r, uintptr_t a)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    /* acquire: pairs with the release store of head in ring_pop() */
    if (tail - atomic_load_explicit(&r->head, memory_order_acquire) == RING_SIZE)
        return false;
    r->items[tail % RING_SIZE] = a;
    /* release: publishes items[tail]; pairs with acquire in ring_pop() */
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return true;
}

static bool ring_pop(ring_t *r, uintptr_t *a)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    /* acquire: pairs with the release store of tail in ring_push() */
    if (head == atomic_load_explicit(&r->tail, memory_order_acquire))
        return false;
    *a = r->items[head % RING_SIZE];
    /* release: the slot may be reused; pairs with acquire in ring_push() */
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return true;
}

typedef struct worker {
    pthread_t th;
    unsigned id, nthreads;
    uint64_t ops, seed;
    hg_live_table_t *t;
    ring_t *rings;
    uintptr_t *mine; /* live entries this thread will erase (stack) */
    size_t nmine;
    uint64_t inserted, erased, bad, bad_insert, bad_unknown;
} worker_t;

static _Atomic int running_workers;

static void erase_checked(worker_t *w, uintptr_t a)
{
    hg_live_entry_t got, want = entry_for(a);
    if (!hg_live_erase(w->t, a, &got) || got.address != a || got.size != want.size ||
        got.stack_id != want.stack_id || got.alloc_time_ms != want.alloc_time_ms)
        w->bad++;
    else
        w->erased++;
}

static void *live_worker(void *arg)
{
    worker_t *w = arg;
    ring_t *out = &w->rings[(w->id + 1) % w->nthreads];
    ring_t *in = &w->rings[w->id];
    uint64_t s = w->seed;
    for (uint64_t i = 0; i < w->ops; i++) {
        uint64_t r = splitmix(&s) % 100;
        uintptr_t a;
        if (r < 60) { /* insert: 60 %, so the live set grows */
            a = addr_of(w->id, i);
            hg_live_entry_t e = entry_for(a);
            if (hg_live_insert(w->t, &e) != 0) {
                w->bad_insert++;
                continue;
            }
            w->inserted++;
            if (r < 20 && ring_push(out, a))
                continue;
            w->mine[w->nmine++] = a;
        } else if (r < 75 && ring_pop(in, &a)) { /* erase another thread's */
            erase_checked(w, a);
        } else if (w->nmine > 0) { /* erase a random one of ours */
            size_t k = splitmix(&s) % w->nmine;
            a = w->mine[k];
            w->mine[k] = w->mine[--w->nmine];
            erase_checked(w, a);
        }
        if (r == 99 && hg_live_erase(w->t, addr_of(w->id, i) + 8, NULL)) /* unknown */
            w->bad_unknown++;
    }
    atomic_fetch_sub_explicit(&running_workers, 1, memory_order_release);
    return NULL;
}

/* foreach checker: each reported entry decoded to (thread, index). */
typedef struct seen {
    uint8_t **bits;
    uint64_t ops;
    unsigned nthreads;
    size_t count, dup, bad;
} seen_t;

static int on_entry(const hg_live_entry_t *e, void *arg)
{
    seen_t *s = arg;
    unsigned t = (unsigned)(e->address >> 40) - 1;
    uint64_t i = (e->address & (((uintptr_t)1 << 40) - 1)) >> 4;
    hg_live_entry_t want = entry_for(e->address);
    if (t >= s->nthreads || i >= s->ops || e->size != want.size || e->stack_id != want.stack_id ||
        e->alloc_time_ms != want.alloc_time_ms) {
        s->bad++;
        return 0;
    }
    if (s->bits[t][i / 8] & (1u << (i % 8)))
        s->dup++;
    s->bits[t][i / 8] |= (uint8_t)(1u << (i % 8));
    s->count++;
    return 0;
}

static void seen_clear(seen_t *s);

static int erase_each(const hg_live_entry_t *e, void *arg)
{
    size_t *bad = arg;
    hg_live_entry_t got;
    if (!hg_live_erase(arg_table, e->address, &got) || got.size != e->size)
        ++*bad;
    return 0;
}

/* Forks while the workers run. The child (where they do not exist) repairs
 * the table, walks it (each entry once, exact payloads), erases everything it
 * walked, and must then walk an empty table. Returns the child's status. */
static int fork_check(hg_live_table_t *t, seen_t *seen)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        hg_live_after_fork(t);
        seen_clear(seen);
        hg_live_foreach(t, on_entry, seen);
        if (seen->dup != 0 || seen->bad != 0)
            _exit(1);
        size_t bad = 0;
        arg_table = t;
        hg_live_foreach(t, erase_each, &bad);
        if (bad != 0)
            _exit(2);
        seen_clear(seen);
        hg_live_foreach(t, on_entry, seen);
        _exit(seen->count == 0 ? 0 : 3);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void seen_clear(seen_t *s)
{
    for (unsigned t = 0; t < s->nthreads; t++)
        memset(s->bits[t], 0, s->ops / 8 + 1);
    s->count = s->dup = s->bad = 0;
}

static void stress_live(unsigned nthreads, uint64_t ops, uint64_t seed)
{
    hg_live_table_t *t;
    if (hg_live_create(&t, 1024) != 0) {
        tap(0, "live: create");
        return;
    }
    ring_t *rings = calloc(nthreads, sizeof(ring_t));
    worker_t *w = calloc(nthreads, sizeof(worker_t));
    seen_t seen = {.bits = calloc(nthreads, sizeof(uint8_t *)), .ops = ops, .nthreads = nthreads};
    for (unsigned i = 0; i < nthreads; i++)
        seen.bits[i] = calloc(ops / 8 + 1, 1);
    atomic_store(&running_workers, (int)nthreads);
    for (unsigned i = 0; i < nthreads; i++) {
        w[i] = (worker_t){.id = i,
                          .nthreads = nthreads,
                          .ops = ops,
                          .seed = seed * 1000 + i,
                          .t = t,
                          .rings = rings,
                          .mine = malloc(ops * sizeof(uintptr_t))};
        pthread_create(&w[i].th, NULL, live_worker, &w[i]);
    }
    /* Meanwhile: walks (no duplicate within one walk, payloads exact) and
     * maintenance, as the writer thread does. */
    size_t walks = 0, walk_dups = 0, walk_bad = 0, forks = 0, fork_bad = 0;
    while (atomic_load_explicit(&running_workers, memory_order_acquire) > 0) {
        seen_clear(&seen);
        hg_live_foreach(t, on_entry, &seen);
        walk_dups += seen.dup;
        walk_bad += seen.bad;
        walks++;
        hg_live_maintain(t, now_ns() / 1000000);
        if (HAS_FORK && (walks == 2 || walks == 5 || walks == 9)) {
            forks++;
            fork_bad += fork_check(t, &seen) != 0;
        }
    }
    uint64_t inserted = 0, erased = 0, bad = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(w[i].th, NULL);
        inserted += w[i].inserted;
        erased += w[i].erased;
        bad += w[i].bad + w[i].bad_insert + w[i].bad_unknown;
        if (w[i].bad + w[i].bad_insert + w[i].bad_unknown)
            printf("# thread %u: %" PRIu64 " bad erases, %" PRIu64 " failed inserts, %" PRIu64
                   " unknown erased\n",
                   i, w[i].bad, w[i].bad_insert, w[i].bad_unknown);
    }
    printf("# live: %u threads x %" PRIu64 " ops: %" PRIu64 " inserted, %" PRIu64
           " erased, %zu concurrent walks\n",
           nthreads, ops, inserted, erased, walks);
    tap(bad == 0, "live: every insert succeeded and every erase found its exact entry");
    tap(walk_dups == 0 && walk_bad == 0, "live: concurrent walks saw no duplicate or bad entry");
    if (HAS_FORK) {
        printf("# live: %zu forks during the run\n", forks);
        tap(fork_bad == 0, "live: fork children repaired, walked and emptied the table");
    } else {
        tap(1, "live: fork check # SKIP under ThreadSanitizer");
    }

    /* Expected live set: each thread's own + what is still in the rings. */
    size_t expect = 0, missing = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        uintptr_t a;
        while (ring_pop(&rings[i], &a))
            w[i].mine[w[i].nmine++] = a;
        expect += w[i].nmine;
    }
    tap(hg_live_count(t) == expect && inserted - erased == expect, "live: exact final count");
    seen_clear(&seen);
    hg_live_foreach(t, on_entry, &seen);
    for (unsigned i = 0; i < nthreads; i++)
        for (size_t k = 0; k < w[i].nmine; k++) {
            uintptr_t a = w[i].mine[k];
            unsigned owner = (unsigned)(a >> 40) - 1; /* ring leftovers: another's */
            uint64_t idx = (a & (((uintptr_t)1 << 40) - 1)) >> 4;
            hg_live_entry_t got, want = entry_for(a);
            if (!hg_live_find(t, a, &got) || got.size != want.size ||
                got.stack_id != want.stack_id || !(seen.bits[owner][idx / 8] & (1u << (idx % 8))))
                missing++;
        }
    printf("# live: %zu entries live at the end, %zu bytes (%.1f bytes/entry)\n", expect,
           hg_live_memory_bytes(t), (double)hg_live_memory_bytes(t) / (double)(expect + 1));
    if (missing || seen.count != expect || seen.dup || seen.bad)
        printf("# live: %zu missing, walk saw %zu (%zu duplicates, %zu bad)\n", missing, seen.count,
               seen.dup, seen.bad);
    tap(missing == 0 && seen.count == expect && seen.dup == 0 && seen.bad == 0,
        "live: final content exact (find and foreach, once each)");
    for (unsigned i = 0; i < nthreads; i++) {
        free(w[i].mine);
        free(seen.bits[i]);
    }
    free(seen.bits);
    free(w);
    free(rings);
}

/* ---- stack table ---- */
typedef struct sworker {
    pthread_t th;
    unsigned id;
    uint32_t nstacks;
    hg_stack_table_t *t;
    uint32_t *ids; /* ids[k] for stack k */
} sworker_t;

static uint32_t stack_of(uint32_t k, uintptr_t *frames)
{
    uint32_t n = 1 + k % 24;
    for (uint32_t i = 0; i < n; i++)
        frames[i] = 0x400000 + (uintptr_t)(k % 977) * 0x40 + (uintptr_t)k * 0x10000 + i;
    return n;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static void *stack_worker(void *arg)
{
    sworker_t *w = arg;
    uintptr_t f[24];
    /* Thread-specific order over an overlapping set: stride permutation. */
    uint64_t stride = 2 * w->id + 1;
    while (gcd(stride, w->nstacks) != 1)
        stride += 2;
    for (uint32_t j = 0; j < w->nstacks; j++) {
        uint32_t k = (uint32_t)((j * stride + w->id * 7919u) % w->nstacks);
        uint32_t n = stack_of(k, f);
        w->ids[k] = hg_stack_intern(w->t, f, n);
        hg_stack_counters_t *c = hg_stack_counters(w->t, w->ids[k]);
        if (c != NULL)
            atomic_fetch_add_explicit(&c->alloc_count, 1, memory_order_relaxed);
    }
    return NULL;
}

static void stress_stacks(unsigned nthreads, uint32_t nstacks)
{
    hg_stack_table_t *t;
    if (hg_stack_create(&t) != 0) {
        tap(0, "stacks: create");
        return;
    }
    sworker_t *w = calloc(nthreads, sizeof(sworker_t));
    for (unsigned i = 0; i < nthreads; i++) {
        w[i] = (sworker_t){
            .id = i, .nstacks = nstacks, .t = t, .ids = calloc(nstacks, sizeof(uint32_t))};
        pthread_create(&w[i].th, NULL, stack_worker, &w[i]);
    }
    for (unsigned i = 0; i < nthreads; i++)
        pthread_join(w[i].th, NULL);
    size_t disagree = 0, zero = 0, dup = 0, wrong = 0, counts = 0;
    uint32_t limit = hg_stack_id_limit(t);
    uint8_t *used = calloc(limit + 1, 1);
    uintptr_t f[24];
    for (uint32_t k = 0; k < nstacks; k++) {
        uint32_t id = w[0].ids[k];
        for (unsigned i = 1; i < nthreads; i++)
            disagree += w[i].ids[k] != id;
        if (id == 0 || id >= limit) {
            zero++;
            continue;
        }
        dup += used[id]++;
        const uintptr_t *g;
        uint32_t n = stack_of(k, f);
        if (hg_stack_frames(t, id, &g) != n || memcmp(g, f, n * sizeof *f) != 0)
            wrong++;
        hg_stack_counters_t *c = hg_stack_counters(t, id);
        if (c == NULL || atomic_load(&c->alloc_count) != nthreads)
            counts++;
    }
    size_t unused = 0;
    for (uint32_t id = 1; id < limit; id++)
        if (!used[id]) {
            const uintptr_t *g;
            unused++;
            wrong += hg_stack_frames(t, id, &g) != 0; /* lost-race ids have no stack */
        }
    printf("# stacks: %u threads x %u stacks: id limit %u (%zu ids lost to races), %zu bytes\n",
           nthreads, nstacks, limit, unused, hg_stack_memory_bytes(t));
    tap(disagree == 0 && zero == 0 && dup == 0, "stacks: each distinct stack got exactly one id");
    tap(wrong == 0 && counts == 0, "stacks: frames and counters exact by id");
    for (unsigned i = 0; i < nthreads; i++)
        free(w[i].ids);
    free(used);
    free(w);
}

/* ---- microbenchmark (printed, not asserted) ---- */
static void bench(void)
{
    hg_live_table_t *t;
    if (hg_live_create(&t, 1 << 16) != 0)
        return;
    const uint64_t n = 2000000, window = 1000;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        hg_live_entry_t e = entry_for(addr_of(0, i));
        hg_live_insert(t, &e);
        if (i >= window)
            hg_live_erase(t, addr_of(0, i - window), NULL);
    }
    uint64_t t1 = now_ns();
    printf("# bench: insert+erase pair, live window %" PRIu64 ": %.1f ns\n", window,
           (double)(t1 - t0) / (double)n);
    hg_stack_table_t *s;
    if (hg_stack_create(&s) != 0)
        return;
    uintptr_t f[24];
    for (uint32_t k = 0; k < 1000; k++)
        hg_stack_intern(s, f, stack_of(k, f));
    t0 = now_ns();
    for (uint32_t j = 0; j < 1000000; j++) {
        uint32_t n8 = stack_of(j % 1000, f);
        hg_stack_intern(s, f, n8);
    }
    t1 = now_ns();
    printf("# bench: intern of a known stack (1..24 frames): %.1f ns\n", (double)(t1 - t0) / 1e6);
}

static int scale(uint64_t n)
{
    hg_live_table_t *t;
    if (hg_live_create(&t, 1024) != 0)
        return 1;
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        hg_live_entry_t e = entry_for(addr_of(0, i));
        if (hg_live_insert(t, &e) != 0) {
            printf("insert %" PRIu64 " failed\n", i);
            return 1;
        }
    }
    uint64_t t1 = now_ns();
    hg_live_maintain(t, 0);
    printf("%" PRIu64 " live entries: %zu bytes = %.1f bytes/entry (%.1f ns/insert)\n", n,
           hg_live_memory_bytes(t), (double)hg_live_memory_bytes(t) / (double)n,
           (double)(t1 - t0) / (double)n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--scale") == 0)
        return scale(strtoull(argv[2], NULL, 10));
    unsigned nthreads = argc > 1 ? (unsigned)atoi(argv[1]) : 8;
    uint64_t ops = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : (uint64_t)time(NULL);
    if (nthreads < 1)
        nthreads = 1;
    printf("TAP version 13\n1..7\n# seed %" PRIu64 "\n", seed);
    stress_live(nthreads, ops, seed);
    stress_stacks(nthreads, (uint32_t)(ops / 10 > 1000 ? ops / 10 : 1000));
    if (argc <= 4)
        bench();
    return failures == 0 ? 0 : 1;
}
