/*
 * Symbolizer fixture library (C++ part): a method of a class in a namespace and
 * a function template, both recording their return address like fix.c does.
 */
#include <cstdint>
#include <string>
#include <vector>

extern "C" void hg_fix_record(int slot);

#define BARRIER() __asm__ volatile("" ::: "memory")

namespace ns
{

class Cache
{
  public:
    void insert(const std::string &key);
    size_t size() const
    {
        return keys_.size();
    }

  private:
    std::vector<std::string> keys_;
};

__attribute__((noinline)) void Cache::insert(const std::string &key)
{
    keys_.push_back(key);
    hg_fix_record(4); /* LINE-MARK: Cache::insert */
    BARRIER();
}

template <typename T> __attribute__((noinline)) T twice(T v)
{
    hg_fix_record(5); /* LINE-MARK: twice */
    BARRIER();
    return v + v;
}

} // namespace ns

extern "C" __attribute__((visibility("default"))) int hg_fix_cxx(void);
extern "C" __attribute__((visibility("default"))) int hg_fix_cxx(void)
{
    ns::Cache c;
    c.insert(std::string("key"));
    return (int)c.size() + ns::twice<int>(20);
}
