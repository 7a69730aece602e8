/*
 * Deterministic leak shapes for tests/reach/run.py, which runs each case
 * under heapgrow and under valgrind and compares the classification
 * (docs/LEAKS.md). Usage: reach_cases CASE. Each allocating function is
 * named site_* so the test finds its site in both reports; no stdio is used
 * (its buffers would be blocks of libc's).
 *
 *   list       a 10-node list (48-byte nodes) loses its head:
 *              definite 48/1, indirect 432/9
 *   cycle      a 3-node cycle (64-byte nodes) loses its last pointer:
 *              definite 64/1, indirect 128/2
 *   interior   a global keeps a pointer 16 bytes into a 200-byte block:
 *              possible 200/1
 *   hidden     global -> 32-byte block -> 500-byte block: both reachable;
 *              plus a 77-byte block referenced only from a lost block:
 *              definite 40/1 (the lost holder), indirect 77/1
 *   data       an initialised global (.data) and a .bss global keep
 *              300 and 301 bytes: reachable 300/1, 301/1
 *   thread     a thread keeps 123 bytes only in a local and 124 bytes in a
 *              __thread variable, and is blocked in read() at exit:
 *              reachable 123/1 and 124/1
 *   dlopen     libreach_lib.so keeps 555 bytes in its .bss: reachable 555/1
 *   tls        the main thread keeps 222 bytes in a __thread variable:
 *              reachable 222/1
 *   tree       a 7-node binary tree (24-byte nodes) loses its root:
 *              definite 24/1, indirect 144/6
 *   chain      a global points 8 bytes into a 96-byte block that holds the
 *              start of a 33-byte block: possible 96/1 and 33/1 (what a
 *              possibly lost block points to is possibly lost too)
 *   mmap       a block's only pointer is in a page the program mmap'ed:
 *              reachable 66/1
 *   manymaps   an 88-byte block's only pointer is in the first of 30,000
 *              small mappings (/proc/self/smaps then passes 20 MB, and that
 *              mapping, the highest of them, comes after the others in it):
 *              reachable 88/1
 *   exitthread a thread calls exit() while main, blocked in pthread_join,
 *              keeps 111 bytes in a local; the thread dropped 99 bytes:
 *              reachable 111/1, definite 99/1
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
    struct node *next;
    char pad[40];
};

struct ring {
    struct ring *next;
    char pad[56];
};

void *keep_data = (void *)1; /* .data */
void *keep_bss;              /* .bss  */
char *keep_interior;
char *keep_chain_interior;
void **keep_chain;
__thread void *main_tls;

/* Overwrites the stack below the caller, where the sites' frames were, so
 * that no stale copy of a pointer survives there. */
__attribute__((noinline)) static void scrub_stack(void)
{
    volatile char buf[16384];
    memset((char *)buf, 0, sizeof buf);
}

__attribute__((noinline)) static void site_list(void)
{
    struct node *head = NULL;
    for (int i = 0; i < 10; i++) {
        struct node *n = malloc(sizeof *n);
        memset(n, 0, sizeof *n);
        n->next = head;
        head = n;
    }
    __asm__ volatile("" : : "r"(head) : "memory");
}

__attribute__((noinline)) static void site_cycle(void)
{
    struct ring *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *c = calloc(1, sizeof *c);
    a->next = b;
    b->next = c;
    c->next = a;
    __asm__ volatile("" : : "r"(a) : "memory");
}

__attribute__((noinline)) static void site_interior(void)
{
    char *p = calloc(1, 200);
    keep_interior = p + 16;
}

__attribute__((noinline)) static void site_hidden_inner(void **holder)
{
    holder[0] = calloc(1, 500);
}

__attribute__((noinline)) static void site_hidden(void)
{
    keep_chain = calloc(1, 32);
    site_hidden_inner(keep_chain);
}

__attribute__((noinline)) static void site_lost_inner(void **holder)
{
    holder[1] = calloc(1, 77);
}

__attribute__((noinline)) static void site_lost_holder(void)
{
    void **h = calloc(1, 40);
    site_lost_inner(h);
    __asm__ volatile("" : : "r"(h) : "memory");
}

struct tree {
    struct tree *left, *right;
    long value;
};

__attribute__((noinline)) static struct tree *site_tree(int depth)
{
    struct tree *t = calloc(1, sizeof *t);
    if (depth > 1) {
        t->left = site_tree(depth - 1);
        t->right = site_tree(depth - 1);
    }
    return t;
}

__attribute__((noinline)) static void site_chain_inner(void **holder)
{
    holder[3] = calloc(1, 33);
}

__attribute__((noinline)) static void site_chain(void)
{
    void **p = calloc(1, 96);
    site_chain_inner(p);
    keep_chain_interior = (char *)p + 8;
}

void **keep_page;

__attribute__((noinline)) static void site_mmap(void)
{
    keep_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (keep_page == MAP_FAILED)
        abort();
    keep_page[7] = calloc(1, 66);
}

__attribute__((noinline)) static void site_manymaps(void)
{
    void **first = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (first == MAP_FAILED)
        abort();
    first[3] = calloc(1, 88);
    /* Alternating protections: neighbours never merge into one mapping. */
    for (int i = 0; i < 30000; i++)
        if (mmap(NULL, 4096, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
            abort();
}

__attribute__((noinline)) static void site_data(void)
{
    keep_data = calloc(1, 300);
    keep_bss = calloc(1, 301);
}

__attribute__((noinline)) static void site_main_tls(void)
{
    main_tls = calloc(1, 222);
}

static int pipe_ready[2], pipe_block[2];
__thread void *thread_tls;

__attribute__((noinline)) static void *site_thread_local(void)
{
    return calloc(1, 123);
}

__attribute__((noinline)) static void site_thread_tls(void)
{
    thread_tls = calloc(1, 124);
}

static void *thread_main(void *arg)
{
    (void)arg;
    void *volatile mine = site_thread_local();
    site_thread_tls();
    char c = 'r';
    if (write(pipe_ready[1], &c, 1) != 1)
        abort();
    /* Blocked here until the process exits; `mine` stays on this stack. */
    if (read(pipe_block[0], &c, 1) < 0)
        abort();
    __asm__ volatile("" : : "r"(mine) : "memory");
    return NULL;
}

/* Waits until thread `tid` sleeps in the kernel (state S in its stat). */
static void wait_blocked(pid_t tid)
{
    char path[64] = "/proc/self/task/", num[16];
    int n = 0;
    for (pid_t v = tid; v > 0; v /= 10)
        num[n++] = (char)('0' + v % 10);
    size_t len = strlen(path);
    while (n > 0)
        path[len++] = num[--n];
    memcpy(path + len, "/stat", 6);
    for (;;) {
        char buf[512];
        int fd = open(path, 0);
        ssize_t r = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (r > 0) {
            buf[r] = '\0';
            char *p = strrchr(buf, ')');
            if (p != NULL && p[1] == ' ' && p[2] == 'S')
                return;
        }
        sched_yield();
    }
}

static pid_t thread_tid;

static void *tid_main(void *arg)
{
    thread_tid = gettid();
    return thread_main(arg);
}

static void run_thread(void)
{
    pthread_t t;
    char c;
    if (pipe(pipe_ready) != 0 || pipe(pipe_block) != 0)
        abort();
    if (pthread_create(&t, NULL, tid_main, NULL) != 0)
        abort();
    if (read(pipe_ready[0], &c, 1) != 1)
        abort();
    wait_blocked(thread_tid);
}

__attribute__((noinline)) static void *site_exit_main_local(void)
{
    return calloc(1, 111);
}

__attribute__((noinline)) static void *site_exit_lost(void)
{
    return calloc(1, 99);
}

static void *exit_thread_main(void *arg)
{
    (void)arg;
    volatile char pad[8192]; /* as main's: the exit path finds no stale copy */
    memset((char *)pad, 0, sizeof pad);
    void *volatile lost = site_exit_lost();
    lost = NULL;
    (void)lost;
    /* Only a thread blocked in a system call is a root (docs/LEAKS.md):
     * wait until main sleeps in pthread_join. */
    wait_blocked(getpid());
    exit(0);
}

static void run_exit_thread(void)
{
    void *volatile mine = site_exit_main_local();
    pthread_t t;
    if (pthread_create(&t, NULL, exit_thread_main, NULL) != 0)
        abort();
    pthread_join(t, NULL); /* never returns: the thread exits the process */
    (void)mine;
}

static void run_dlopen(const char *self)
{
    char path[4096];
    size_t n = strlen(self);
    while (n > 0 && self[n - 1] != '/')
        n--;
    memcpy(path, self, n);
    strcpy(path + n, "libreach_lib.so");
    void *h = dlopen(path, RTLD_NOW);
    if (h == NULL)
        abort();
    void (*keep)(size_t) = (void (*)(size_t))dlsym(h, "reach_lib_keep");
    if (keep == NULL)
        abort();
    keep(555);
}

__attribute__((noinline)) static int run_case(const char *c, const char *self)
{
    if (strcmp(c, "list") == 0)
        site_list();
    else if (strcmp(c, "cycle") == 0)
        site_cycle();
    else if (strcmp(c, "interior") == 0)
        site_interior();
    else if (strcmp(c, "hidden") == 0) {
        site_hidden();
        site_lost_holder();
    } else if (strcmp(c, "data") == 0)
        site_data();
    else if (strcmp(c, "thread") == 0)
        run_thread();
    else if (strcmp(c, "dlopen") == 0)
        run_dlopen(self);
    else if (strcmp(c, "tls") == 0)
        site_main_tls();
    else if (strcmp(c, "tree") == 0) {
        struct tree *root = site_tree(3);
        __asm__ volatile("" : : "r"(root) : "memory");
    } else if (strcmp(c, "chain") == 0)
        site_chain();
    else if (strcmp(c, "mmap") == 0)
        site_mmap();
    else if (strcmp(c, "manymaps") == 0)
        site_manymaps();
    else if (strcmp(c, "exitthread") == 0)
        run_exit_thread();
    else
        return 2;
    scrub_stack();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    /* The cases run 8 KiB below main's frame: the exit path (exit, the
     * tracer's handler, valgrind's exit) reuses the stack just under main's
     * caller, which must hold no stale copy of a pointer. */
    volatile char pad[8192];
    memset((char *)pad, 0, sizeof pad);
    int rc = run_case(argv[1], argv[0]);
    __asm__ volatile("" : : "r"(pad) : "memory");
    return rc;
}
