// cxx_map: std::unordered_map<std::string, std::vector<int>> under inserts
// and erases. Keys are longer than the small-string buffer, so every key is a
// heap allocation; each value vector grows by push_back (several reallocations);
// the map keeps a sliding window of about WINDOW keys, erasing the oldest as
// it inserts, and rehashes as it first fills.
#include "common.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace {

constexpr unsigned long kWindow = 50000;

std::string make_key(unsigned long k)
{
    return "bench-cxx-map-key-" + std::to_string(k * 2654435761UL) + "-" + std::to_string(k);
}

}  // namespace

int main(int argc, char **argv)
{
    unsigned long count = bench_count(argc, argv, 1000000);
    std::unordered_map<std::string, std::vector<int>> map;
    uint64_t state = 0x5EED5EED5EEDULL;
    uint64_t sum = 0;

    for (unsigned long i = 0; i < count; i++) {
        uint64_t r = bench_rand(&state);
        std::vector<int> &v = map[make_key(i)];
        int n = 1 + static_cast<int>(r % 24);
        for (int j = 0; j < n; j++)
            v.push_back(static_cast<int>(i) + j);
        if (i >= kWindow) {
            auto it = map.find(make_key(i - kWindow));
            if (it != map.end()) {
                sum += it->second.size() + static_cast<uint64_t>(it->second.back());
                map.erase(it);
            }
        }
    }
    for (const auto &kv : map)
        sum += kv.first.size() + kv.second.size();
    sum = sum * 31 + map.size();
    bench_print_checksum("cxx_map", count, sum);
    return 0;
}
