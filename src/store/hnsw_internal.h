/* The layout of a cs__hnsw, shared by the graph code (hnsw.c) and the file code
 * (hnsw_file.c). Not for other modules: they use hnsw.h.
 *
 * Nodes are numbered densely 0..n-1 in insertion order. Per node, in parallel arrays
 * (capacity `cap`):
 *   vecs[node*dim]        its vector                       float32
 *   norms2[node]          cs__vscan_norm2 of it (cosine)   float32
 *   keys[node]            the caller's key                 int64
 *   info[node]            level (low 7 bits) | HNSW_DEAD   uint8
 *   links0[node*stride0]  layer-0 list: count, 2m slots    uint32
 *   uoff[node]            start of its upper lists in pool uint64
 * The upper lists of a node of level L are L lists of (count, m slots) at pool[uoff[node]],
 * layer 1 first. Every array but uoff, the key map and the scratch is exactly what the
 * file stores, so a loaded index maps each of them from the file, privately, at the start
 * of its own reservation of address space with room to grow (own_nodes and own_pool
 * false: freed with cs__hnsw_unmap_arrays). Adds grow into that room without copying;
 * only growing past it copies the arrays into memory. */
#ifndef CS_STORE_HNSW_INTERNAL_H
#define CS_STORE_HNSW_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/hnsw.h"

#define HNSW_NONE UINT32_MAX             /* no node (empty index's entry, empty map slot) */
#define HNSW_DEAD 0x80u                  /* info bit: tombstoned */
#define HNSW_LEVEL 0x7Fu                 /* info bits: level */
#define HNSW_MAX_LEVEL 31                /* levels drawn above this are clamped */
#define HNSW_MAX_NODES (UINT32_MAX - 1u) /* node ids are uint32, HNSW_NONE excluded */

typedef struct cs__hnsw_scratch cs__hnsw_scratch;

struct cs__hnsw {
    cs__hnsw_params p;
    size_t dim, m, m0;           /* m0 = 2m: layer 0's list length */
    size_t stride0, strideu;     /* uint32 words per list: 1 + m0, 1 + m */
    double mult;                 /* level multiplier 1/ln(m) */
    uint64_t rng;                /* level generator state (saved, so adds after a load
                                    draw what they would have drawn without the save) */
    size_t n, cap, live;
    uint32_t entry;              /* HNSW_NONE when n == 0 */
    int maxlevel;
    float *vecs, *norms2;
    int64_t *keys;
    uint8_t *info;
    uint32_t *links0;
    uint64_t *uoff;
    uint32_t *pool;
    size_t pool_len, pool_cap;   /* in uint32 words */
    uint32_t *map;               /* live key -> node, open addressing, HNSW_NONE empty */
    size_t map_cap;              /* a power of two, at least twice the live nodes */
    bool own_nodes, own_pool;    /* arrays malloc'd (else mapped by cs__hnsw_load) */
    cs__hnsw_scratch *scratch;    /* insertion scratch of cs__hnsw_add, made on first use */
};

/* An index with parameters p and nothing allocated but the struct (for load), or NULL. */
cs__hnsw *cs__hnsw_alloc(const cs__hnsw_params *p);
/* Validates parameters: 0 or CS_E_ARG. */
int cs__hnsw_check_params(const cs__hnsw_params *p, cs_error *err);
/* Inserts node into the live key map (room already there): the node it replaces, or
 * HNSW_NONE. Used by load to rebuild the map, which the file does not store. */
uint32_t cs__hnsw_map_put(cs__hnsw *h, uint32_t node);
/* A map with room for `live` keys: 0 or -1 (OOM). */
int cs__hnsw_map_reserve(cs__hnsw *h, size_t live);
/* The room a loaded index gets for `n` nodes (or pool words), and the amortised growth
 * of either kind of array: half as much again, at least `least`. */
size_t cs__hnsw_grown(size_t n, size_t least);
/* cs__hnsw_load, with room to grow as it maps the arrays (`room`) or, as it falls back to
 * where the room is refused, without: then the first add copies them into memory. */
int cs__hnsw_load_room(const char *file, const char *tag, int dim, bool room, cs__hnsw **out,
                       int64_t *gen, cs_error *err);
/* Unmaps what cs__hnsw_load mapped: the node arrays (with the room h->cap gives) when
 * `nodes`, the pool (h->pool_cap) when `pool`. Sets their pointers to NULL; NULL ones are
 * skipped. */
void cs__hnsw_unmap_arrays(cs__hnsw *h, bool nodes, bool pool);

#endif
