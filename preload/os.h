/*
 * Every raw system call the preload library makes goes through this table, so
 * that tests built with -DHG_TESTING can make the Nth mmap/write/open fail and
 * check that the tracer degrades instead of crashing. None of these allocate
 * or take locks; all return the kernel's result (-1 + errno, or MAP_FAILED).
 */
#ifndef HEAPGROW_PRELOAD_OS_H
#define HEAPGROW_PRELOAD_OS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct hg_os_ops {
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd, off_t off);
    int (*munmap)(void *addr, size_t len);
    int (*madvise)(void *addr, size_t len, int advice);
    int (*open)(const char *path, int flags, int mode);
    ssize_t (*write)(int fd, const void *buf, size_t len);
    ssize_t (*read)(int fd, void *buf, size_t len);
    int (*close)(int fd);
} hg_os_ops_t;

#ifdef HG_TESTING
extern hg_os_ops_t hg_os;
#else
extern const hg_os_ops_t hg_os;
#endif

/* Anonymous private read-write mapping of len bytes (rounded up to pages), or
 * NULL (errno set). Never returns MAP_FAILED. */
void *hg_os_map(size_t len);
/* Releases a mapping made by hg_os_map. */
void hg_os_unmap(void *p, size_t len);

#endif /* HEAPGROW_PRELOAD_OS_H */
