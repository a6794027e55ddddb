/* HNSW (hierarchical navigable small world, Malkov & Yashunin) approximate nearest
 * neighbour index over float32 vectors, keyed by an int64 (a SQLite rowid).
 *
 * The index keeps its own copy of every vector (and its float32 norm2 for cosine) and
 * computes every distance with cs__vscan_distance, so the distance of a returned hit is
 * bit for bit the exact scan's (cs__vscan_topk). Removal tombstones a node: it keeps
 * routing searches but is never returned; an add under a live key is an update (the old
 * node is tombstoned, the new vector inserted). Tombstones accumulate: a caller rebuilds
 * when cs__hnsw_dead grows large against cs__hnsw_live.
 *
 * Threads: search may run from several threads at once (it only reads the index and
 * allocates its own scratch); add, add_batch, remove, save and free need the index to
 * themselves.
 *
 * Persistence: the index is a derived file (the SQLite rows stay the source of truth),
 * written to a temporary name and renamed into place, and trusted on load only when its
 * header, checksums and graph structure all check out; anything else reads as "absent"
 * and the caller rebuilds. A loaded index maps each of the file's arrays privately (copy
 * on write) into room for half as many nodes again: search, remove and add work on the
 * mappings directly, and add copies the arrays into memory only when it needs more. */
#ifndef CS_STORE_HNSW_H
#define CS_STORE_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"
#include "clipsearch/store.h"

#define CS_HNSW_MAX_DIM 16000   /* pgvector's limit; bounds the size arithmetic */
#define CS_HNSW_MAX_M 100       /* pgvector's limit for m */
#define CS_HNSW_MAX_EF 4096     /* ef_construction limit */
#define CS_HNSW_TAG_MAX 63      /* bytes of the tag stored in a saved file */

typedef struct cs__hnsw cs__hnsw;   /* opaque */

typedef struct cs__hnsw_params {
    int dim;               /* 1..CS_HNSW_MAX_DIM */
    cs_measure measure;
    int m;                 /* max neighbours per node on layers >= 1 (2..CS_HNSW_MAX_M); layer 0
                              keeps 2*m (as pgvector/hnswlib) */
    int ef_construction;   /* beam width while inserting (1..CS_HNSW_MAX_EF) */
    uint64_t seed;         /* level generator seed: same inputs in same order -> same graph */
} cs__hnsw_params;

typedef struct cs__hnsw_hit {
    int64_t key;
    double dist;
} cs__hnsw_hit;

/* An empty index; CS_E_ARG for parameters out of range, CS_E_NOMEM. */
int cs__hnsw_new(const cs__hnsw_params *p, cs__hnsw **out, cs_error *err);
void cs__hnsw_free(cs__hnsw *h);
const cs__hnsw_params *cs__hnsw_get_params(const cs__hnsw *h);

/* Makes room for `nodes` nodes in all (live and tombstoned), so that a bulk load does not
 * copy the vectors each time the arrays grow. 0 or CS_E_NOMEM. */
int cs__hnsw_reserve(cs__hnsw *h, size_t nodes, cs_error *err);

/* Adds a copy of vec (dim floats) under key. A key already live is first removed (an
 * update). 0, or CS_E_NOMEM / CS_E_TOO_LARGE with the index unchanged. */
int cs__hnsw_add(cs__hnsw *h, int64_t key, const float *vec, cs_error *err);

/* Adds count vectors (vecs: count * dim floats, row i under keys[i]) as count calls of
 * cs__hnsw_add in order would, inserting with `threads` worker threads (<= 0: one per
 * online CPU). With one thread the graph is exactly the one those calls build; with more
 * it depends on the threads' timing (the same quality, not the same links). On error
 * (CS_E_NOMEM) the keys whose insertion failed are not in the index, the others are. */
int cs__hnsw_add_batch(cs__hnsw *h, const int64_t *keys, const float *vecs, size_t count,
                       int threads, cs_error *err);

/* Tombstones key: it stays a routing node but is never returned. 1 removed, 0 not present. */
int cs__hnsw_remove(cs__hnsw *h, int64_t key);

size_t cs__hnsw_live(const cs__hnsw *h);   /* live nodes */
size_t cs__hnsw_dead(const cs__hnsw *h);   /* tombstoned nodes */

/* Up to k live results, ascending by distance (NaN last, ties by key), searching layer 0
 * with a candidate list of max(ef, k) (an exact scan of every node when the index has no
 * more nodes than that). Returns the count (<= k) or -1 on out of memory. Safe to call
 * from several threads at once on the same index. */
long cs__hnsw_search(const cs__hnsw *h, const float *q, size_t k, size_t ef, cs__hnsw_hit *hits);

/* Writes the index to `file` (temporary name in the same directory + rename; the directory
 * is created when missing, not its parents) with `tag` (<= CS_HNSW_TAG_MAX bytes) and `gen`
 * in the header. 0, CS_E_ARG (tag too long), CS_E_IO or CS_E_NOMEM. */
int cs__hnsw_save(const cs__hnsw *h, const char *file, const char *tag, int64_t gen,
                  cs_error *err);

/* 0 and *out (and *gen) when `file` is a valid index saved with this tag and dim; 1 when it
 * is absent, unreadable, truncated, corrupt, of another tag, dimension, format or byte
 * order (the caller rebuilds); CS_E_NOMEM (< 0) with err. The whole file is checked (a
 * checksum over every byte plus the graph's structure) before it is trusted. */
int cs__hnsw_load(const char *file, const char *tag, int dim, cs__hnsw **out, int64_t *gen,
                  cs_error *err);

#endif
