// A clean C++ program: iostream, std::string, exceptions, threads, a
// global container. `heapgrow check` must pass it with no suppressions of
// the user's (tests/reach/run.py).
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static std::map<std::string, std::vector<int>> registry;

static int thrower(int i)
{
    if (i % 3 == 0)
        throw std::runtime_error("divisible by three: " + std::to_string(i));
    return i;
}

int main()
{
    int caught = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([t, &caught] {
            std::string s(100, 'x');
            try {
                thrower(t * 3);
            } catch (const std::exception &e) {
                s += e.what();
            }
            (void)s;
        });
    for (auto &th : threads)
        th.join();
    for (int i = 0; i < 10; i++) {
        try {
            thrower(i);
        } catch (const std::runtime_error &e) {
            caught++;
        }
    }
    registry["a long key that does not fit the small string buffer"] = {1, 2, 3};
    auto owned = std::make_unique<std::string>(200, 'y');
    std::cout << "clean C++: caught " << caught << ", " << registry.size() << " entry, "
              << owned->size() << " chars" << std::endl;
    return 0;
}
