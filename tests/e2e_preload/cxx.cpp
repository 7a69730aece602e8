// C++ operators new/delete in all their forms under LD_PRELOAD: plain, array,
// nothrow, aligned (C++17), sized delete; failure paths (std::bad_alloc thrown
// through the shim, nullptr from the nothrow forms); containers. Leaks a few
// objects on purpose (LEAK lines) and exits with status 3.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <map>
#include <new>
#include <string>
#include <vector>

static int failures;
#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #expr);                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)
#define LEAK(p, size)                                                                              \
    std::printf("LEAK 0x%llx %llu\n", (unsigned long long)(uintptr_t)(p),                          \
                (unsigned long long)(size))

struct alignas(128) Wide {
    char bytes[300];
};

static bool aligned(const void *p, std::size_t a)
{
    return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0;
}

static std::size_t opaque(std::size_t v)
{
    volatile std::size_t x = v;
    return x;
}

int main()
{
    // Plain and array forms, sized delete.
    int *one = new int(5);
    CHECK(one != nullptr && *one == 5);
    delete one;
    char *arr = new char[2222];
    LEAK(arr, 2222);
    double *darr = new double[10];
    delete[] darr;

    // Aligned forms (C++17 over-aligned types).
    Wide *w = new Wide;
    CHECK(aligned(w, 128));
    delete w;
    Wide *wa = new Wide[3];
    CHECK(aligned(wa, 128));
    delete[] wa;
    Wide *wl = new Wide;
    LEAK(wl, sizeof(Wide));

    // Explicit operator calls: every form, including the sized/aligned deletes.
    void *p = ::operator new(100);
    ::operator delete(p, 100);
    p = ::operator new[](100);
    ::operator delete[](p, 100);
    p = ::operator new(100, std::align_val_t(64));
    CHECK(aligned(p, 64));
    ::operator delete(p, 100, std::align_val_t(64));
    p = ::operator new[](100, std::align_val_t(64));
    CHECK(aligned(p, 64));
    ::operator delete[](p, std::align_val_t(64));
    p = ::operator new(100, std::nothrow);
    ::operator delete(p, std::nothrow);
    p = ::operator new[](100, std::nothrow);
    ::operator delete[](p, std::nothrow);
    p = ::operator new(100, std::align_val_t(256), std::nothrow);
    CHECK(aligned(p, 256));
    ::operator delete(p, std::align_val_t(256), std::nothrow);
    p = ::operator new[](100, std::align_val_t(256), std::nothrow);
    CHECK(aligned(p, 256));
    ::operator delete[](p, std::align_val_t(256), std::nothrow);
    // new(0) gives a unique pointer.
    void *z1 = ::operator new(0);
    void *z2 = ::operator new(0);
    CHECK(z1 != nullptr && z2 != nullptr && z1 != z2);
    ::operator delete(z1);
    ::operator delete(z2);

    // Failure: bad_alloc from the throwing forms, nullptr from nothrow ones.
    std::size_t huge = opaque(SIZE_MAX / 4);
    bool thrown = false;
    try {
        void *q = ::operator new(huge);
        ::operator delete(q);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown);
    thrown = false;
    try {
        void *q = ::operator new[](huge, std::align_val_t(64));
        ::operator delete[](q, std::align_val_t(64));
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown);
    CHECK(::operator new(huge, std::nothrow) == nullptr);
    CHECK(::operator new[](huge, std::align_val_t(64), std::nothrow) == nullptr);

    // A new_handler runs on failure, as the standard requires.
    static int handler_calls;
    std::set_new_handler([] {
        handler_calls++;
        std::set_new_handler(nullptr); // next failure throws
    });
    thrown = false;
    try {
        void *q = ::operator new(huge);
        ::operator delete(q);
    } catch (const std::bad_alloc &) {
        thrown = true;
    }
    CHECK(thrown && handler_calls == 1);

    // Containers.
    std::vector<std::string> v;
    for (int i = 0; i < 1000; i++)
        v.push_back(std::string(40, 'a' + i % 26));
    std::map<int, std::vector<int>> m;
    for (int i = 0; i < 1000; i++)
        m[i].assign(i % 17, i);
    CHECK(v.size() == 1000 && m.size() == 1000 && m[20].size() == 3);

    std::fflush(stdout);
    return failures == 0 ? 3 : 99;
}
