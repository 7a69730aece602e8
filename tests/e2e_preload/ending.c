/*
 * The ways a process ends, chosen by argv[1]: "return" (status 0), "exit" (exit
 * 12), "_exit" (_exit 9), "_Exit" (_Exit 10), "term" (raise SIGTERM), "segv"
 * (null dereference), "abort", "exec" (execlp of sh -c 'exit 13': END exec),
 * "execfail" (execl of a missing file fails, the process goes on traced and
 * exits 14). Leaks 5555 bytes first; run.py checks the END record and that the
 * final live set holds the leak.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return 99;
    void *p = malloc(5555);
    LEAK(p, 5555);
    const char *how = argv[1];
    if (strcmp(how, "exit") == 0)
        exit(12);
    if (strcmp(how, "_exit") == 0)
        _exit(9);
    if (strcmp(how, "_Exit") == 0)
        _Exit(10);
    if (strcmp(how, "term") == 0)
        raise(SIGTERM);
    if (strcmp(how, "segv") == 0) {
        volatile int *null = NULL;
        return *null;
    }
    if (strcmp(how, "abort") == 0)
        abort();
    if (strcmp(how, "exec") == 0) {
        execlp("sh", "sh", "-c", "exit 13", (char *)NULL);
        return 98;
    }
    if (strcmp(how, "execfail") == 0) {
        execl("/nonexistent/program", "program", (char *)NULL);
        void *q = malloc(6666);
        LEAK(q, 6666);
        exit(14);
    }
    return 0;
}
