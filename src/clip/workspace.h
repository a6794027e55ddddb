/* A model's reusable scratch block. A forward pass of 32 images needs ~45 MB of scratch;
 * glibc hands out blocks that large with mmap and returns them with munmap, so every
 * batch faulted in and zeroed 11,000 fresh pages (7% of the time of a batch-32 forward
 * on a 2-core Zen 5). The workspace keeps the last few blocks given back and hands the
 * smallest that fits to the next caller. Thread-safe: concurrent callers get distinct
 * blocks (one that finds none allocates its own). Internal to src/clip. */
#ifndef CS_CLIP_WORKSPACE_H
#define CS_CLIP_WORKSPACE_H

#include <stddef.h>

typedef struct cs__workspace cs__workspace;

cs__workspace *cs__workspace_create(void);
void cs__workspace_free(cs__workspace *ws);

/* A block of at least `bytes`, 64-byte aligned, uninitialised; NULL when out of memory.
 * ws may be NULL (a plain allocation). Give it back with cs__workspace_give. */
void *cs__workspace_take(cs__workspace *ws, size_t bytes);
/* Returns a block from cs__workspace_take (NULL is ignored): the workspace keeps it, in
 * place of a smaller one when it is full, or frees it. */
void cs__workspace_give(cs__workspace *ws, void *block);

#endif
