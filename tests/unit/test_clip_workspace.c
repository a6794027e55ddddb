/* The model's scratch workspace (clip/workspace.h): a block given back is handed to the
 * next caller it fits, the smallest that fits first; blocks are 64-byte aligned and
 * writable over their whole size; at most a few are kept and the largest win; a NULL
 * workspace is plain allocation; threads taking and giving at once never share a block. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "clip/workspace.h"
#include "test.h"

static int aligned(const void *p) { return ((uintptr_t)p & 63) == 0; }

typedef struct {
    cs__workspace *ws;
    int id, bad;
} user;

/* Fills its block with its own id and checks nobody else wrote into it meanwhile. */
static void *use_blocks(void *arg)
{
    user *u = arg;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1024 + (size_t)(round % 7) * 4096;
        unsigned char *b = cs__workspace_take(u->ws, n);
        if (!b) {
            u->bad++;
            continue;
        }
        memset(b, u->id, n);
        for (size_t i = 0; i < n; i += 97) u->bad += b[i] != u->id;
        cs__workspace_give(u->ws, b);
    }
    return NULL;
}

int main(void)
{
    cs__workspace *ws = cs__workspace_create();
    CHECK(ws != NULL);

    void *a = cs__workspace_take(ws, 1000);
    CHECK(a != NULL && aligned(a));
    memset(a, 0xAB, 1000);
    cs__workspace_give(ws, a);
    CHECK(cs__workspace_take(ws, 900) == a); /* reused: it fits */
    void *b = cs__workspace_take(ws, 900);   /* a is out: a new block */
    CHECK(b != NULL && b != a && aligned(b));
    cs__workspace_give(ws, a);
    cs__workspace_give(ws, b);
    void *big = cs__workspace_take(ws, 1 << 20); /* neither fits */
    CHECK(big != a && big != b && aligned(big));
    memset(big, 1, 1 << 20);
    cs__workspace_give(ws, big);
    void *small = cs__workspace_take(ws, 10); /* the smallest that fits, not the big one */
    CHECK(small == a || small == b);
    cs__workspace_give(ws, small);

    /* Full (4 kept): a larger block replaces the smallest, a smaller one is freed (ASan
     * reports a leak if it is not). */
    void *blk[6];
    for (int i = 0; i < 6; i++) blk[i] = cs__workspace_take(ws, (size_t)(i + 1) << 16);
    for (int i = 0; i < 6; i++) cs__workspace_give(ws, blk[i]);
    CHECK(cs__workspace_take(ws, (size_t)6 << 16) == blk[5]);
    cs__workspace_give(ws, blk[5]);

    /* Absurd sizes fail cleanly. */
    CHECK(cs__workspace_take(ws, SIZE_MAX) == NULL);
    CHECK(cs__workspace_take(ws, SIZE_MAX - 10) == NULL);
    CHECK(cs__workspace_take(ws, SIZE_MAX - 100) == NULL); /* its header would wrap */

    /* No workspace: plain allocation and free. */
    void *p = cs__workspace_take(NULL, 128);
    CHECK(p != NULL && aligned(p));
    cs__workspace_give(NULL, p);
    cs__workspace_give(ws, NULL);

    pthread_t t[4];
    user u[4];
    for (int i = 0; i < 4; i++) {
        u[i] = (user){ws, i + 1, 0};
        pthread_create(&t[i], NULL, use_blocks, &u[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(u[i].bad == 0, "thread %d saw %d foreign bytes", i, u[i].bad);
    }
    cs__workspace_free(ws);
    cs__workspace_free(NULL);
    return TEST_RESULT();
}
