/*
 * A program with known allocation sites, traced by tests/cli/test_e2e.py
 * through `heapgrow run` and reported as JSON:
 *   - grow_step: 4096 bytes per step, kept in a list that is never freed
 *     (grows, and leaks at exit: STEPS blocks);
 *   - leak_once: 3 blocks of 1000 bytes at start, never freed (leaks, does
 *     not grow);
 *   - churn: allocated and freed every step (neither).
 * The markers "SITE:<name>" give the test the source line of each malloc.
 * With the argument "kill" it ends by SIGKILL instead (no end marker, no
 * final live set); with "wait" it prints "ready" and waits to be killed by a
 * signal (SIGINT: an end marker and a final live set all the same). The
 * steps are paced (nanosleep) so that the tracer's snapshots see the growth
 * over time; nothing waits on the tracer.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STEPS 60

struct node {
    struct node *next;
    char payload[4096 - sizeof(struct node *)];
};

static struct node *kept;
static void *once[3];

__attribute__((noinline)) static void grow_step(void)
{
    struct node *n = malloc(sizeof(*n)); /* SITE:grow */
    memset(n, 1, sizeof(*n));
    n->next = kept;
    kept = n;
}

__attribute__((noinline)) static void leak_once(void)
{
    for (int i = 0; i < 3; i++) {
        once[i] = malloc(1000); /* SITE:leak */
        memset(once[i], 2, 1000);
    }
}

__attribute__((noinline)) static void churn(void)
{
    char *p = malloc(512); /* SITE:churn */
    memset(p, 3, 512);
    free(p);
}

int main(int argc, char **argv)
{
    leak_once();
    for (int i = 0; i < STEPS; i++) {
        grow_step();
        churn();
        struct timespec ts = {0, 15 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    once[0] = NULL; /* the blocks stay allocated: only the pointers go */
    once[1] = NULL;
    once[2] = NULL;
    kept = NULL;
    if (argc > 1 && strcmp(argv[1], "kill") == 0)
        raise(SIGKILL);
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        printf("ready\n");
        fflush(stdout);
        for (;;)
            pause();
    }
    return 0;
}
