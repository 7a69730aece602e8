/*
 * hg_demangle(): the one place the analyzer touches C++, a thin wrapper around
 * abi::__cxa_demangle (see demangle.h for the contract). No exception crosses
 * into C: __cxa_demangle reports failure through its status argument only.
 */
#include "demangle.h"

#include <cxxabi.h>
#include <cstdlib>

extern "C" char *hg_demangle(const char *mangled)
{
    if (mangled == nullptr || mangled[0] != '_' || mangled[1] != 'Z')
        return nullptr;
    int status = 0;
    /* With a NULL buffer, the result is malloc'd: exactly our contract. */
    char *out = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
    if (status != 0) {
        std::free(out);
        return nullptr;
    }
    return out;
}
