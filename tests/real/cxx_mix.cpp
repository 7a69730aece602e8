// A C++ program that uses what real C++ services use: iostreams, exceptions
// thrown and caught in several threads, std::thread, containers that grow.
// Prints a checksum the test compares with an untraced run; exits with 5.
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::mutex mu;
static std::map<std::string, long> registry;

static long work(int id)
{
    long sum = 0;
    for (int i = 0; i < 2000; i++) {
        try {
            std::ostringstream os;
            os << "thread " << id << " item " << i;
            if (i % 7 == 0)
                throw std::runtime_error(os.str());
            sum += static_cast<long>(os.str().size());
        } catch (const std::exception &e) {
            sum += static_cast<long>(std::string(e.what()).size()) * 2;
        }
        if (i % 10 == 0) {
            std::lock_guard<std::mutex> g(mu);
            registry["k" + std::to_string(id) + "_" + std::to_string(i)] = i;
        }
    }
    return sum;
}

int main()
{
    std::vector<std::thread> ts;
    std::vector<long> sums(8);
    for (int t = 0; t < 8; t++)
        ts.emplace_back([t, &sums] { sums[t] = work(t); });
    for (auto &t : ts)
        t.join();
    long total = 0;
    for (long s : sums)
        total += s;
    std::cout << "sum " << total << " keys " << registry.size() << std::endl;
    return 5;
}
