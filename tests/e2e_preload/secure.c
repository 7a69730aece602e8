/*
 * Linked with libheapgrow.so (DT_NEEDED, found through the relative RUNPATH
 * hgsecure-lib, which the loader still honours in secure-execution mode,
 * unlike LD_PRELOAD). run.py runs a set-user-ID copy owned by nobody: the kernel
 * sets AT_SECURE, the tracer must stay passive (no trace, no message, the
 * public API answers -1) and the program must run as it would without it;
 * and a plain copy, where the same library traces (the control). Prints
 * "AT_SECURE=<0|1> API=<hg_request_dump()>" and exits 0 when its checks pass.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#include <heapgrow/heapgrow.h>

#include "e2e.h"

static void *worker(void *arg)
{
    size_t n = (size_t)arg;
    unsigned char *p = NULL;
    for (size_t i = 1; i <= n; i++) {
        p = realloc(p, i * 16);
        if (p == NULL)
            return (void *)1;
        p[i * 16 - 1] = (unsigned char)i;
    }
    free(p);
    return NULL;
}

int main(void)
{
    /* The tracer is there and serves malloc. */
    Dl_info info;
    CHECK(dladdr((void *)malloc, &info) != 0 && info.dli_fname != NULL &&
          strstr(info.dli_fname, "libheapgrow") != NULL);

    errno = 4242;
    char *s = malloc(64);
    CHECK(s != NULL && errno == 4242);
    strcpy(s, "secure");
    char *z = calloc(100, 10);
    int zero = z != NULL;
    for (int i = 0; z != NULL && i < 1000; i++)
        zero &= z[i] == 0;
    CHECK(zero);
    void *pm = NULL;
    CHECK(posix_memalign(&pm, 256, 1000) == 0 && ((uintptr_t)pm & 255) == 0);
    errno = 0;
    CHECK(malloc(SIZE_MAX / 2) == NULL && errno == ENOMEM);

    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(size_t)(200 + i)) == 0);
    for (int i = 0; i < 4; i++) {
        void *rc = (void *)1;
        pthread_join(t[i], &rc);
        CHECK(rc == NULL);
    }
    pid_t pid = fork();
    if (pid == 0) {
        char *c = malloc(10);
        _exit(c != NULL && strcmp(s, "secure") == 0 ? 5 : 6);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
          WEXITSTATUS(status) == 5);
    free(s);
    free(z);
    free(pm);

    printf("AT_SECURE=%lu API=%d\n", getauxval(AT_SECURE), hg_request_dump_if_loaded());
    return E2E_STATUS(0);
}
