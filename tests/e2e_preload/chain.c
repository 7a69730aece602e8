/*
 * A program that installs its own SIGTERM handler after the tracer and chains
 * to the previous one, as runtimes do for signals they do not handle:
 *   - no argument: the previous action it is told of is SIG_DFL (the tracer's
 *     handler is hidden), so it restores that and raises the signal again.
 *     The restored SIG_DFL gives the signal back to the tracer: killed by
 *     SIGTERM, with a complete trace.
 *   - "raw": it reads the previous handler with the raw system call, past the
 *     interposed sigaction() (as a statically linked runtime would), finds
 *     the tracer's and calls it. That must end the process by SIGTERM with a
 *     complete trace too, not recurse into this handler.
 * Untraced, both end by SIGTERM.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "e2e.h"

static struct sigaction previous;
static void (*raw_previous)(int);

static void handler(int signo)
{
    if (raw_previous != SIG_DFL && raw_previous != SIG_IGN) {
        raw_previous(signo);
        _Exit(96); /* the tracer's handler returned */
    }
    if (previous.sa_handler == SIG_DFL) {
        /* Blocked while in this handler: delivered when it returns. */
        sigaction(signo, &previous, NULL);
        raise(signo);
        return;
    }
    _Exit(95);
}

int main(int argc, char **argv)
{
    void *p = malloc(4321);
    LEAK(p, 4321);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    if (argc > 1 && strcmp(argv[1], "raw") == 0) {
        struct {
            void *handler;
            unsigned long flags;
            void *restorer;
            uint64_t mask;
        } k;
        memset(&k, 0, sizeof k);
        CHECK(syscall(SYS_rt_sigaction, SIGTERM, NULL, &k, sizeof k.mask) == 0);
        raw_previous = (void (*)(int))k.handler;
    }
    CHECK(sigaction(SIGTERM, &sa, &previous) == 0);
    CHECK(previous.sa_handler == SIG_DFL);
    raise(SIGTERM);
    return 98;
}
