/*
 * cpp_cache: a C++ cache, std::unordered_map<std::string, std::vector<char>>,
 * that is never evicted; the memory arrives through operator new.
 *
 * A thumbnail service caches the encoded thumbnail of every asset it has
 * rendered, keyed by the asset's path and variant. The map lives in a
 * heap-allocated singleton that is never destroyed (the common way to dodge
 * the static destruction order), and nothing ever erases from it.
 *
 * One statement in cache_put, the GROWS line, allocates everything the cache
 * keeps: the map's node, the key's characters (the paths are longer than the
 * 15 characters std::string keeps inline), the vector's bytes and, now and
 * then, a bigger bucket array. Each of those is its own call site deep in the
 * standard library's templates; every one of them is reached from that line.
 *
 * Built twice (samples/meson.build):
 *   cpp_cache          the bug: entries are never erased.
 *   cpp_cache_bounded  -DFIXED: at most CAPACITY entries, the oldest erased
 *                      first (insertion order kept in a std::deque), and the
 *                      cache is destroyed at exit.
 *
 * Exact numbers (the end-to-end test asserts them; the node size and the
 * bucket count are those of GCC 12's libstdc++ on x86-64):
 *   cpp_cache: REQUESTS / 2 = 5000 thumbnails plus the 50 popular ones, 5050
 *     entries, are live at exit, each in 3 blocks from the GROWS line: the
 *     node (72 bytes), the key's characters (39 + 1 bytes), the thumbnail
 *     (THUMB_BYTES = 700 bytes); plus the bucket array (5087 buckets, 40696
 *     bytes) from the same line, and the map object itself (56 bytes) from
 *     main: 4141352 bytes in 15152 blocks in all.
 *   cpp_cache_bounded: nothing leaked.
 */
#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "sample.h"

static const long REQUESTS = 10000;
static const unsigned POPULAR = 50;
static const size_t THUMB_BYTES = 700;
#ifdef FIXED
static const size_t CAPACITY = 256;
#endif

using thumb_cache = std::unordered_map<std::string, std::vector<char>>;

static uint64_t rng = 0xc0ffeeULL;

#ifdef FIXED
static std::deque<std::string> *insertion_order; /* oldest first; owned by main */
#endif

/* Stores an encoded thumbnail under `key`. */
static SAMPLE_NOINLINE const std::vector<char> &
cache_put(thumb_cache &cache, const std::string &key, const char *bytes, size_t len)
{
#ifdef FIXED
    if (cache.size() >= CAPACITY) { /* the fix: bounded, oldest out first */
        cache.erase(insertion_order->front());
        insertion_order->pop_front();
    }
    insertion_order->push_back(key);
#endif
    auto it = cache.emplace(key, std::vector<char>(bytes, bytes + len)).first; /* GROWS */
    return it->second;
}

/* Encodes a thumbnail into a temporary buffer (churn). */
static std::vector<char> render_thumbnail(const std::string &key)
{
    std::vector<char> out(THUMB_BYTES);
    for (size_t i = 0; i < out.size(); i++)
        out[i] = static_cast<char>(key[i % key.size()] + rng_below(&rng, 7));
    return out;
}

static size_t handle_request(thumb_cache &cache, long n, unsigned *next_asset)
{
    char path[64];
    if (n % 2 == 0)
        snprintf(path, sizeof path, "/assets/uploads/%08u/thumb-128.webp", (*next_asset)++);
    else
        snprintf(path, sizeof path, "/assets/popular/%08u/thumb-128.webp",
                 rng_below(&rng, POPULAR));
    std::string key(path); /* a temporary string per request */
    auto it = cache.find(key);
    if (it != cache.end())
        return it->second.size();
    std::vector<char> thumb = render_thumbnail(key);
    return cache_put(cache, key, thumb.data(), thumb.size()).size();
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
#ifdef FIXED
    thumb_cache owned; /* destroyed when main returns, like the deque */
    thumb_cache &cache = owned;
    std::deque<std::string> order;
    insertion_order = &order;
#else
    thumb_cache &cache = *new thumb_cache; /* a singleton, never destroyed */
#endif
    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    unsigned next_asset = 0;
    size_t served = 0;
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        served += handle_request(cache, n, &next_asset);
    }
    sample_say("thumbnails: %ld requests, %zu bytes served, %zu cached at exit", REQUESTS, served,
               cache.size());
    return 0;
}
