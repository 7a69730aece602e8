/*
 * uthash_map: a map that only gains keys, built with uthash.
 *
 * A presence service remembers, per user name, when that user was last seen,
 * in a uthash table (the header-only hash table many C programs embed). Users
 * keep arriving; nobody is ever deleted.
 *
 * Two allocation sites grow here, both in user_touch: our malloc of the user
 * record (the GROWS line), and uthash's own bucket array, which HASH_ADD_STR
 * doubles as the table fills (its line is marked "GROWS (also)": the tests
 * accept it as flagged or not, since a doubling array grows in a few big steps
 * whose count depends on the run's length).
 *
 * Built twice (samples/meson.build):
 *   uthash_map         the bug: users are never deleted.
 *   uthash_map_delete  -DFIXED: users idle for more than IDLE_LIMIT requests
 *                      are deleted (HASH_DEL + free) by a sweep every
 *                      SWEEP_EVERY requests; everything is deleted at exit
 *                      and HASH_CLEAR frees uthash's own memory.
 *
 * Exact numbers (the end-to-end test asserts them):
 *   uthash_map: 1 request in 3 is from a new user: 4000 newcomers and the
 *     200 regulars, 4200 users of sizeof(struct user) = 104 bytes, are live
 *     at exit: 436800 bytes in 4200 blocks leaked from user_touch (the GROWS
 *     line), and uthash's table (one UT_hash_table, 64 bytes) and bucket
 *     array (1024 buckets of 16 bytes: 16384 bytes), 16448 bytes in 2 blocks
 *     from the HASH_ADD_STR line.
 *   uthash_map_delete: nothing leaked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"
#include "uthash.h"

#define REQUESTS    12000L
#define REGULARS    200  /* users who come back all the time          */
#define IDLE_LIMIT  1500 /* (FIXED) requests before a user is deleted */
#define SWEEP_EVERY 300  /* (FIXED)                                   */

struct user {
    char name[32];      /* the key */
    uint64_t last_seen; /* request number */
    uint64_t visits;
    UT_hash_handle hh;
};

static struct user *users; /* the uthash head */
static uint64_t rng = 0x07ba54ULL;

/* Records a visit by `name`, adding the user on first sight. */
static SAMPLE_NOINLINE struct user *user_touch(const char *name, uint64_t now)
{
    struct user *u;
    HASH_FIND_STR(users, name, u);
    if (!u) {
        u = malloc(sizeof *u); /* GROWS */
        if (!u)
            abort();
        memset(u, 0, sizeof *u);
        snprintf(u->name, sizeof u->name, "%s", name);
        HASH_ADD_STR(users, name, u); /* GROWS (also): uthash's bucket array */
    }
    u->last_seen = now;
    u->visits++;
    return u;
}

#ifdef FIXED
/* The fix: forget users idle for longer than `idle` requests. */
static void users_sweep(uint64_t now, uint64_t idle)
{
    struct user *u, *tmp;
    HASH_ITER(hh, users, u, tmp) {
        if (now - u->last_seen > idle) {
            HASH_DEL(users, u);
            free(u);
        }
    }
}
#endif

static void handle_request(uint64_t n, unsigned *new_users)
{
    char *line = malloc(160); /* the request, parsed from a temporary buffer */
    if (!line)
        abort();
    if (n % 3 == 0)
        snprintf(line, 160, "HELLO newcomer%u from 10.0.%u.%u", (*new_users)++,
                 rng_below(&rng, 256), rng_below(&rng, 256));
    else
        snprintf(line, 160, "HELLO regular%u from 10.1.%u.%u", rng_below(&rng, REGULARS),
                 rng_below(&rng, 256), rng_below(&rng, 256));
    char *name = strndup(line + 6, strcspn(line + 6, " "));
    if (!name)
        abort();
    struct user *u = user_touch(name, n);
    char *reply = malloc(96);
    if (!reply)
        abort();
    snprintf(reply, 96, "WELCOME %s visit %llu", u->name, (unsigned long long)u->visits);
    free(reply);
    free(name);
    free(line);
}

int main(int argc, char **argv)
{
    double seconds = sample_seconds(argc, argv);
    struct pacer pacer;
    pacer_start(&pacer, REQUESTS, seconds);
    unsigned new_users = 0;
    for (long n = 0; n < REQUESTS; n++) {
        pacer_wait(&pacer, n);
        handle_request((uint64_t)n, &new_users);
#ifdef FIXED
        if (n % SWEEP_EVERY == SWEEP_EVERY - 1)
            users_sweep((uint64_t)n, IDLE_LIMIT);
#endif
    }
    sample_say("presence: %ld requests, %u users in the table at exit", REQUESTS,
               HASH_COUNT(users));
#ifdef FIXED
    users_sweep(UINT64_MAX / 2, 0);
    HASH_CLEAR(hh, users); /* frees uthash's table (empty by now) */
#endif
    return 0;
}
