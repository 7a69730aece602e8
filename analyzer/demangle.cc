/*
 * hg_demangle(): the one place the analyzer touches C++, a thin wrapper around
 * abi::__cxa_demangle (see demangle.h for the contract). No exception crosses
 * into C: __cxa_demangle reports failure through its status argument only.
 *
 * Rust's legacy symbols are Itanium names too ("_ZN5alloc7raw_vec...17h<16
 * hex digits>E"): __cxa_demangle gives "alloc::raw_vec::RawVec$LT$T$GT$::
 * grow::h0123456789abcdef". Such a result (recognised by its last component,
 * "h" and 16 hex digits) is finished the way rustc-demangle does: the hash
 * dropped, "$LT$"-style escapes and "$uXX$" code points decoded, ".." made
 * "::". Rust's v0 symbols ("_R...") are left as they are.
 */
#include "demangle.h"

#include <cxxabi.h>
#include <cstdlib>
#include <cstring>

namespace {

/* Length of s without a trailing "::h" + 16 hex digits, or 0 when there is
 * none (then s is not a Rust legacy name). */
size_t rust_hash_cut(const char *s, size_t n)
{
    if (n < 19 || std::strncmp(s + n - 19, "::h", 3) != 0)
        return 0;
    for (size_t i = n - 16; i < n; i++)
        if (!std::strchr("0123456789abcdef", s[i]))
            return 0;
    return n - 19;
}

/* The character a "$...$" escape at s stands for, and its length in *len;
 * 0 when s does not start a known escape. */
char rust_escape(const char *s, size_t *len)
{
    static const struct {
        const char *esc;
        char c;
    } fixed[] = {{"$SP$", '@'}, {"$BP$", '*'}, {"$RF$", '&'}, {"$LT$", '<'},
                 {"$GT$", '>'}, {"$LP$", '('}, {"$RP$", ')'}, {"$C$", ','}};
    for (const auto &f : fixed)
        if (std::strncmp(s, f.esc, std::strlen(f.esc)) == 0) {
            *len = std::strlen(f.esc);
            return f.c;
        }
    if (s[0] == '$' && s[1] == 'u') {
        unsigned v = 0;
        size_t i = 2;
        for (; i < 4 && std::strchr("0123456789abcdef", s[i]) && s[i] != '\0'; i++)
            v = v * 16 + (unsigned)(s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10);
        if (i > 2 && s[i] == '$' && v >= 0x20 && v < 0x7f) {
            *len = i + 1;
            return (char)v;
        }
    }
    return 0;
}

/* Rewrites a demangled Rust legacy name in place (it only gets shorter). */
void rust_finish(char *s)
{
    size_t n = rust_hash_cut(s, std::strlen(s));
    if (n == 0)
        return;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        char c = s[i] == '$' ? rust_escape(s + i, &len) : 0;
        if (c != 0) {
            s[o++] = c;
            i += len;
        } else if (s[i] == '_' && s[i + 1] == '$' && (i == 0 || s[i - 1] == ':') &&
                   rust_escape(s + i + 1, &len) != 0) {
            i++; /* an identifier starting with an escape gets a '_' prefix */
        } else if (s[i] == '.' && s[i + 1] == '.') {
            s[o++] = ':';
            s[o++] = ':';
            i += 2;
        } else {
            s[o++] = s[i++];
        }
    }
    s[o] = '\0';
}

} // namespace

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
    rust_finish(out);
    return out;
}
