/*
 * A program that installs its own SIGTERM handler after the tracer and chains
 * to the previous one (the tracer's), as runtimes do for signals they do not
 * handle. The chained call must end the process by SIGTERM, not recurse.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"

static struct sigaction previous;

static void handler(int signo)
{
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN)
        previous.sa_handler(signo);
    else
        _Exit(97); /* not preloaded: no previous handler to chain to */
}

int main(void)
{
    void *p = malloc(4321);
    LEAK(p, 4321);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGTERM, &sa, &previous) == 0);
    raise(SIGTERM);
    return 98;
}
