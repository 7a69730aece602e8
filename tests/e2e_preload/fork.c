/*
 * fork under LD_PRELOAD. The parent leaks 1111 bytes before forking. Child 1
 * leaks 2222 and leaves with exit(5); child 2 leaks 3333 and leaves with
 * _exit(6). run.py expects three traces: the parent's (1111, not 2222/3333,
 * END exit 0), child 1's (1111 inherited + 2222, END exit 5) and child 2's
 * (1111 + 3333, END _exit 6). LEAK lines are prefixed by the pid.
 *
 * `fork daemon`: the parent leaks 1111 and forks a child that leaks 4444,
 * then closes every descriptor as a daemon does, opens /dev/null on 0, 1 and
 * 2, leaks 5555 (its line goes nowhere: run.py finds it by size) and leaves
 * with exit(7). Its trace must go on past the closing, to its END.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"

#define PLEAK(p, size)                                                                             \
    do {                                                                                           \
        printf("PID %d ", (int)getpid());                                                          \
        LEAK(p, size);                                                                             \
    } while (0)

static int run_daemon(void)
{
    void *a = malloc(1111);
    PLEAK(a, 1111);
    pid_t c = fork();
    if (c == 0) {
        void *b = malloc(4444);
        PLEAK(b, 4444);
        for (int fd = 0; fd < 1024; fd++)
            close(fd);
        int null = open("/dev/null", O_RDWR);
        if (null != 0 || dup(null) != 1 || dup(null) != 2)
            _exit(98); /* a descriptor of ours took a low number */
        void *d = malloc(5555);
        __asm__ volatile("" : : "r"(d) : "memory");
        exit(7);
    }
    printf("DAEMON %d\n", (int)c);
    int st = 0;
    CHECK(waitpid(c, &st, 0) == c);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    return E2E_STATUS(0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "daemon") == 0)
        return run_daemon();
    void *a = malloc(1111);
    PLEAK(a, 1111);
    pid_t c1 = fork();
    if (c1 == 0) {
        void *b = malloc(2222);
        PLEAK(b, 2222);
        exit(5);
    }
    pid_t c2 = fork();
    if (c2 == 0) {
        void *c = malloc(3333);
        PLEAK(c, 3333);
        _exit(6);
    }
    int st1 = 0, st2 = 0;
    CHECK(waitpid(c1, &st1, 0) == c1);
    CHECK(waitpid(c2, &st2, 0) == c2);
    CHECK(WIFEXITED(st1) && WEXITSTATUS(st1) == 5);
    CHECK(WIFEXITED(st2) && WEXITSTATUS(st2) == 6);
    printf("CHILDREN %d %d\n", (int)c1, (int)c2);
    return E2E_STATUS(0);
}
