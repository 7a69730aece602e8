/*
 * A small program for tests/test_writer_e2e.c, run under LD_PRELOAD with a
 * known allocation pattern. Usage: test_writer_target MODE
 *   leak    10 x malloc(4321) kept (leaked), 5 x malloc(777) freed; exit 5
 *   loop    allocates and frees forever (killed by the test)
 *   fork    leaks 3 x malloc(4321), forks a child that leaks 2 x malloc(999)
 *           and exits 0; the parent waits and exits 0
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *keep[64];

/* noinline: a frame of our own on every allocation stack. */
__attribute__((noinline)) static void *make(size_t n)
{
    void *p = malloc(n);
    if (p != NULL)
        memset(p, 0x5a, n);
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (strcmp(argv[1], "leak") == 0) {
        for (int i = 0; i < 10; i++)
            keep[i] = make(4321);
        for (int i = 0; i < 5; i++)
            free(make(777));
        return 5;
    }
    if (strcmp(argv[1], "loop") == 0) {
        for (unsigned long i = 0;; i++) {
            void *p = make(64 + i % 512);
            if (i % 1000 == 0)
                keep[(i / 1000) % 64] = p; /* a slow leak */
            else
                free(p);
        }
    }
    if (strcmp(argv[1], "fork") == 0) {
        for (int i = 0; i < 3; i++)
            keep[i] = make(4321);
        pid_t pid = fork();
        if (pid < 0)
            return 3;
        if (pid == 0) {
            keep[10] = make(999);
            keep[11] = make(999);
            exit(0);
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 4;
        return 0;
    }
    return 2;
}
