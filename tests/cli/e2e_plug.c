/*
 * The library that tests/cli/e2e_sites.c dlopens, calls and dlcloses before it
 * exits: its growing site is the static function plug_static_grow, which the
 * report names with this file and line although the library is gone.
 */
#include <stdlib.h>
#include <string.h>

void *plug_grow(void *head);

struct pblk {
    struct pblk *next;
};

__attribute__((noinline)) static struct pblk *plug_static_grow(struct pblk *head)
{
    struct pblk *b = malloc(1536); /* SITE:plug */
    if (b == NULL)
        abort();
    memset(b, 4, 1536);
    b->next = head;
    return b;
}

void *plug_grow(void *head)
{
    return plug_static_grow(head);
}
