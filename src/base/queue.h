/* Bounded blocking queue of pointers (many producers, one or more consumers). The
 * bound is what keeps the indexer's memory flat: decoders block once the model falls
 * behind, instead of decoding the whole folder ahead. */
#ifndef CS_BASE_QUEUE_H
#define CS_BASE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cs__queue cs__queue;

/* NULL on OOM or capacity 0. */
cs__queue *cs__queue_new(size_t capacity);
/* Items still inside are not freed (drain first). */
void cs__queue_free(cs__queue *q);
/* Blocks while full. false (item not taken) once the queue is closed. */
bool cs__queue_push(cs__queue *q, void *item);
/* 1: *item set; 0: timed out (timeout_ms >= 0); -1: closed and empty. timeout_ms < 0
 * waits without limit. */
int cs__queue_pop(cs__queue *q, void **item, int timeout_ms);
/* No more pushes: wakes blocked producers (their push fails) and lets consumers drain. */
void cs__queue_close(cs__queue *q);
size_t cs__queue_len(cs__queue *q);

#endif
