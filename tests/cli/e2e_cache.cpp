/*
 * A C++ program with known allocation sites in a method, traced by
 * tests/cli/test_e2e.py: Cache::put allocates an Entry with new (kept in a
 * list: grows and leaks STEPS blocks) and inserts it into an unordered_map,
 * whose nodes and bucket array libstdc++ allocates: that site is Cache::put
 * too (the standard library is part of the allocation path), at the line of
 * the insert. Built with -O2 -g. The markers "SITE:<name>" give the lines.
 */
#include <cstring>
#include <ctime>
#include <unordered_map>

#define STEPS 60

struct Entry {
    Entry *next;
    unsigned long key;
    char data[4000];
};

class Cache
{
  public:
    void put(unsigned long key, unsigned long salt);

  private:
    Entry *head = nullptr;
    std::unordered_map<unsigned long, Entry *> index;
};

__attribute__((noinline)) void Cache::put(unsigned long key, unsigned long salt)
{
    Entry *e = new Entry; /* SITE:put */
    e->key = key;
    std::memset(e->data, (int)(salt & 0x7f), sizeof e->data);
    e->next = head;
    head = e;
    index.emplace(key, e); /* SITE:index */
}

static Cache *cache;

int main()
{
    cache = new Cache; /* SITE:cache */
    for (unsigned long i = 0; i < STEPS; i++) {
        cache->put(i * 7919, i);
        struct timespec ts = {0, 15 * 1000 * 1000};
        nanosleep(&ts, nullptr);
    }
    return 0;
}
