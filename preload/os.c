/*
 * The preload library's only door to the kernel (see os.h). Under HG_TESTING
 * the table is writable so tests can inject failures.
 */
#include "os.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int os_open(const char *path, int flags, int mode)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

#ifndef HG_TESTING
const
#endif
    hg_os_ops_t hg_os = {
        .mmap = mmap,
        .munmap = munmap,
        .madvise = madvise,
        .open = os_open,
        .write = write,
        .read = read,
        .close = close,
};

void *hg_os_map(size_t len)
{
    void *p = hg_os.mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Out of core dumps, and told apart from the program's own anonymous
     * memory by that flag ("dd" in /proc/self/smaps): reach.c scans the
     * program's, never ours (our tables hold every block's address). */
    hg_os.madvise(p, len, MADV_DONTDUMP);
    return p;
}

void hg_os_unmap(void *p, size_t len)
{
    if (p != NULL)
        hg_os.munmap(p, len);
}
