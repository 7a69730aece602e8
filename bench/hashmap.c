/* hashmap: a chained hash map that only grows. Each insert mallocs a node,
 * strdup's its key and mallocs a value; the bucket array is realloc'd to
 * twice its size when the load factor reaches 1. One operation in four
 * overwrites the value of an existing key instead (malloc new, free old),
 * so there is some churn alongside the growth. Everything is freed at exit,
 * unless a second argument "keep" asks to leave the map allocated, as a
 * leaking service would (tests/e2e_sampling.py: growth verdicts without the
 * teardown at the end). */
#include "common.h"

#include <string.h>

struct node {
    char *key;
    char *value;
    size_t value_len;
    uint64_t hash;
    struct node *next;
};

struct map {
    struct node **buckets;
    size_t bucket_count; /* a power of two */
    size_t size;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void *xcheck(void *p)
{
    if (p == NULL) {
        fprintf(stderr, "hashmap: out of memory\n");
        exit(1);
    }
    return p;
}

static BENCH_NOINLINE char *make_value(uint64_t r, size_t *len)
{
    size_t n = 8 + r % 57;
    char *v = xcheck(malloc(n));
    memset(v, 'a' + (int)(r % 26), n - 1);
    v[n - 1] = '\0';
    *len = n - 1;
    return v;
}

/* Doubles the bucket array in place with realloc, then splits each old chain
 * between bucket i and bucket i + old_count. */
static BENCH_NOINLINE void map_grow(struct map *m)
{
    size_t old = m->bucket_count;
    m->buckets = xcheck(realloc(m->buckets, 2 * old * sizeof *m->buckets));
    memset(m->buckets + old, 0, old * sizeof *m->buckets);
    m->bucket_count = 2 * old;
    for (size_t i = 0; i < old; i++) {
        struct node *n = m->buckets[i], *stay = NULL, *move = NULL;
        while (n != NULL) {
            struct node *next = n->next;
            if (n->hash & old) {
                n->next = move;
                move = n;
            } else {
                n->next = stay;
                stay = n;
            }
            n = next;
        }
        m->buckets[i] = stay;
        m->buckets[i + old] = move;
    }
}

static struct node *map_find(const struct map *m, const char *key, uint64_t h)
{
    for (struct node *n = m->buckets[h & (m->bucket_count - 1)]; n != NULL; n = n->next)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

static BENCH_NOINLINE void map_put(struct map *m, const char *key, uint64_t r)
{
    uint64_t h = hash_str(key);
    struct node *n = map_find(m, key, h);
    if (n != NULL) {
        free(n->value);
        n->value = make_value(r, &n->value_len);
        return;
    }
    if (m->size >= m->bucket_count)
        map_grow(m);
    n = xcheck(malloc(sizeof *n));
    n->key = xcheck(strdup(key));
    n->value = make_value(r, &n->value_len);
    n->hash = h;
    size_t b = h & (m->bucket_count - 1);
    n->next = m->buckets[b];
    m->buckets[b] = n;
    m->size++;
}

int main(int argc, char **argv)
{
    unsigned long count = bench_count(argc, argv, 1000000);
    struct map m = { xcheck(calloc(16, sizeof(struct node *))), 16, 0 };
    uint64_t state = 0xC0FFEE1234567ULL;
    unsigned long inserted = 0;
    char key[48];

    for (unsigned long i = 0; i < count; i++) {
        uint64_t r = bench_rand(&state);
        unsigned long k = (r % 4 == 0 && inserted > 0) ? (r >> 8) % inserted : inserted++;
        snprintf(key, sizeof key, "key-%lu-%08lx", k, k * 2654435761UL);
        map_put(&m, key, r >> 16);
    }

    int is_keep = argc > 2 && strcmp(argv[2], "keep") == 0;
    uint64_t sum = m.size;
    for (size_t b = 0; b < m.bucket_count; b++) {
        struct node *n = m.buckets[b];
        while (n != NULL) {
            struct node *next = n->next;
            sum += n->hash ^ n->value_len ^ (unsigned char)n->value[0];
            if (!is_keep) {
                free(n->key);
                free(n->value);
                free(n);
            }
            n = next;
        }
    }
    if (!is_keep)
        free(m.buckets);
    bench_print_checksum("hashmap", count, sum);
    return 0;
}
