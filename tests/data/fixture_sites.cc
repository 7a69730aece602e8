// Fixture for tests/test_sites_e2e.py: records real stacks the way the tracer
// does (its own frames dropped), with the module map, so that a crafted trace
// can be symbolized by the real symbolizer and grouped into sites. It
// interposes malloc itself (like libheapgrow.so) and prints, per case,
// "STACK <case> <addr>..." after "MODULE <path> <bias> <start> <end>" lines.
// Lines marked SITE(<case>) are the expected sites. Built with -O0 -g.
#include <execinfo.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vector>

extern "C" void *__libc_malloc(size_t);

static const char *capture_case;

__attribute__((noinline)) static void capture(void)
{
    void *buf[64];
    const char *name = capture_case;
    capture_case = NULL; // backtrace() may allocate on first use
    int n = backtrace(buf, 64);
    // buf[0] is in capture(), buf[1] in malloc(): the "tracer's own" frames.
    printf("STACK %s", name);
    for (int i = 2; i < n; i++)
        printf(" 0x%lx", (unsigned long)buf[i]);
    printf("\n");
}

extern "C" void *malloc(size_t n)
{
    if (capture_case)
        capture();
    return __libc_malloc(n);
}

static int print_module(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    char path[4096];
    const char *name = info->dlpi_name;
    if (name[0] == '\0') {
        ssize_t len = readlink("/proc/self/exe", path, sizeof(path) - 1);
        if (len <= 0)
            return 0;
        path[len] = '\0';
        name = path;
    }
    unsigned long lo = ~0ul, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        if (ph->p_vaddr < lo)
            lo = ph->p_vaddr;
        if (ph->p_vaddr + ph->p_memsz > hi)
            hi = ph->p_vaddr + ph->p_memsz;
    }
    if (hi > lo && strstr(name, "linux-vdso") == NULL)
        printf("MODULE %s 0x%lx 0x%lx 0x%lx\n", name, (unsigned long)info->dlpi_addr,
               (unsigned long)info->dlpi_addr + lo, (unsigned long)info->dlpi_addr + hi);
    return 0;
}

extern "C" __attribute__((noinline)) void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

extern "C" __attribute__((noinline)) void *pool_alloc(size_t n)
{
    return malloc(n);
}

__attribute__((noinline)) void *user_c(void)
{
    capture_case = "c_wrapper";
    return xmalloc(100); // SITE(c_wrapper)
}

__attribute__((noinline)) void *user_dup(void)
{
    capture_case = "strdup";
    return strdup("some text"); // SITE(strdup)
}

__attribute__((noinline)) void *user_pool(void)
{
    capture_case = "user_wrapper";
    return pool_alloc(64); // SITE(user_wrapper)
}

__attribute__((noinline)) static void *static_helper(void)
{
    capture_case = "static";
    return malloc(48); // SITE(static)
}

struct Registry {
    std::vector<long> items;
    __attribute__((noinline)) void add(long x)
    {
        capture_case = "cxx_vector";
        items.push_back(x); // SITE(cxx_vector)
    }
};

int main(void)
{
    void *a = user_c(), *b = user_dup(), *c = user_pool(), *d = static_helper();
    Registry r;
    r.add(1);
    dl_iterate_phdr(print_module, NULL);
    free(a);
    free(b);
    free(c);
    free(d);
    return 0;
}
