#include "clip/workspace.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* Each block starts with a header recording its usable size; the caller's pointer is
 * the first 64-byte boundary after it. */
#define HEADER 64

/* Blocks kept at most: a forward pass holds the encoder's scratch and, inside it, a
 * GEMM's converted input and oneDNN scratchpad at once. */
#define KEPT 4

struct cs__workspace {
    pthread_mutex_t mu;
    char *kept[KEPT];        /* blocks given back (the callers' pointers), NULL: none */
};

static size_t block_size(const char *p) { return *(const size_t *)(const void *)(p - HEADER); }

cs__workspace *cs__workspace_create(void)
{
    cs__workspace *ws = calloc(1, sizeof *ws);
    if (ws && pthread_mutex_init(&ws->mu, NULL) != 0) {
        free(ws);
        return NULL;
    }
    return ws;
}

static void block_free(char *p)
{
    if (p) free(p - HEADER);
}

void cs__workspace_free(cs__workspace *ws)
{
    if (!ws) return;
    for (int i = 0; i < KEPT; i++) block_free(ws->kept[i]);
    pthread_mutex_destroy(&ws->mu);
    free(ws);
}

void *cs__workspace_take(cs__workspace *ws, size_t bytes)
{
    if (ws) {
        /* The smallest kept block that fits. */
        char *fit = NULL;
        int at = -1;
        pthread_mutex_lock(&ws->mu);
        for (int i = 0; i < KEPT; i++)
            if (ws->kept[i] && block_size(ws->kept[i]) >= bytes &&
                (!fit || block_size(ws->kept[i]) < block_size(fit))) {
                fit = ws->kept[i];
                at = i;
            }
        if (fit) ws->kept[at] = NULL;
        pthread_mutex_unlock(&ws->mu);
        if (fit) return fit;
    }
    if (bytes > SIZE_MAX - 2 * HEADER) return NULL;
    size_t size = (bytes + HEADER - 1) / HEADER * HEADER;
    char *raw = aligned_alloc(HEADER, size + HEADER);
    if (!raw) return NULL;
    *(size_t *)(void *)raw = size;
    return raw + HEADER;
}

void cs__workspace_give(cs__workspace *ws, void *block)
{
    char *p = block;
    if (!p) return;
    if (!ws) {
        block_free(p);
        return;
    }
    /* Kept in a free slot, else in place of the smallest kept block if that is smaller
     * (which is then freed). */
    pthread_mutex_lock(&ws->mu);
    int slot = -1;
    for (int i = 0; i < KEPT && slot < 0; i++)
        if (!ws->kept[i]) slot = i;
    if (slot < 0)
        for (int i = 0; i < KEPT; i++)
            if (block_size(ws->kept[i]) < block_size(p) &&
                (slot < 0 || block_size(ws->kept[i]) < block_size(ws->kept[slot])))
                slot = i;
    if (slot >= 0) {
        char *old = ws->kept[slot];
        ws->kept[slot] = p;
        p = old;
    }
    pthread_mutex_unlock(&ws->mu);
    block_free(p);
}
