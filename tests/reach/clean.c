/* A clean C program: stdio, environment, threads, a dlopen-free run that
 * frees what it allocates. `heapgrow check` must pass it with no
 * suppressions of the user's (tests/reach/run.py). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *table[16]; /* not static: the stores must stay */

static void *worker(void *arg)
{
    char *buf = malloc(1000);
    snprintf(buf, 1000, "worker %ld", (long)(size_t)arg);
    free(buf);
    return NULL;
}

int main(void)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 16; i++)
        table[i] = strdup("kept in a global until exit");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    printf("clean C: %d entries, year %d\n", 16, tm.tm_year > 0 ? 1 : 0);
    fflush(stdout);
    return 0;
}
