/*
 * A library whose constructor starts threads that allocate while the process
 * is still starting (possibly while the tracer initialises, or before it
 * does): they must run undisturbed. early.c joins them and checks their work.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EARLY_THREADS 4
#define EARLY_ROUNDS  20000

int early_join(void);

static pthread_t threads[EARLY_THREADS];
static int started;

static void *churn(void *arg)
{
    uintptr_t bad = 0;
    unsigned char *keep[16] = {0};
    for (int i = 0; i < EARLY_ROUNDS; i++) {
        size_t size = 8 + (size_t)(i * 37 + (int)(uintptr_t)arg) % 500;
        unsigned char *p = malloc(size);
        if (p == NULL) {
            bad++;
            continue;
        }
        memset(p, (int)(size & 0xff), size);
        unsigned char **slot = &keep[i % 16];
        if (*slot != NULL) {
            if ((*slot)[0] != (*slot)[1])
                bad++;
            free(*slot);
        }
        *slot = p;
    }
    for (int i = 0; i < 16; i++)
        free(keep[i]);
    return (void *)bad;
}

__attribute__((constructor)) static void start(void)
{
    for (int i = 0; i < EARLY_THREADS; i++)
        if (pthread_create(&threads[i], NULL, churn, (void *)(uintptr_t)i) == 0)
            started++;
}

/* Returns the number of threads that ran cleanly. */
int early_join(void)
{
    int clean = 0;
    for (int i = 0; i < started; i++) {
        void *bad = NULL;
        pthread_join(threads[i], &bad);
        clean += bad == NULL;
    }
    return clean;
}
