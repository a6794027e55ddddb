/* HNSW graph: insertion, removal and search (see hnsw.h; layout in hnsw_internal.h;
 * the file format in hnsw_file.c).
 *
 * The algorithms are the paper's (Malkov & Yashunin, arXiv:1603.09320) as hnswlib and
 * pgvector implement them: a random level with multiplier 1/ln(m); a greedy descent on the
 * layers above the node's level; on each of its layers a beam search with ef_construction
 * candidates, neighbours chosen with the heuristic (Algorithm 4, without keeping pruned
 * candidates, as hnswlib) and links made both ways, an overfull list being shrunk with the
 * same heuristic. Search descends greedily to layer 0 and beam-searches it with ef.
 *
 * Distances are ordered through dkey(): a double mapped to a uint64 whose unsigned order
 * is the numeric order with every NaN last, so that NaN (a zero vector under cosine) is
 * simply the worst distance and no comparison ever sees it (a NaN compared with `<` is
 * false both ways, which would stall a greedy descent or let a beam loop on it). */
#include "store/hnsw.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/pool.h"
#include "store/hnsw_internal.h"
#include "store/vscan.h"

/* ---- ordering ---------------------------------------------------------------------- */

static inline uint64_t dkey(double d)
{
    if (isnan(d)) return UINT64_MAX;
    if (d == 0) d = 0.0;   /* -0.0 is the same distance as +0.0 (ties then go by key) */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
}

/* A heap entry: a distance key and a node. */
typedef struct {
    uint64_t key;
    uint32_t node;
} hent;

/* Ties by node so that every ordering is total, hence reproducible. */
static inline bool hless(hent a, hent b)
{
    return a.key < b.key || (a.key == b.key && a.node < b.node);
}

/* Binary min-heap on hless. The result set, a max-heap, stores ~key (min-heap of the
 * complement) so that one set of heap functions serves both. */
static void hpush(hent *a, size_t *n, hent x)
{
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (!hless(x, a[p])) break;
        a[i] = a[p];
        i = p;
    }
    a[i] = x;
}

static hent hpop(hent *a, size_t *n)
{
    hent top = a[0], x = a[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= m) break;
        size_t c = l + 1 < m && hless(a[l + 1], a[l]) ? l + 1 : l;
        if (!hless(a[c], x)) break;
        a[i] = a[c];
        i = c;
    }
    if (m) a[i] = x;
    return top;
}

static int hent_cmp(const void *x, const void *y)
{
    hent a = *(const hent *)x, b = *(const hent *)y;
    return hless(a, b) ? -1 : hless(b, a) ? 1 : 0;
}

/* ---- node access ------------------------------------------------------------------- */

static inline const float *vec_of(const cs__hnsw *h, uint32_t node)
{
    return h->vecs + (size_t)node * h->dim;
}

static inline int level_of(const cs__hnsw *h, uint32_t node)
{
    return h->info[node] & HNSW_LEVEL;
}

/* Node's list on layer lc: count, then the slots. */
static inline uint32_t *links_at(const cs__hnsw *h, uint32_t node, int lc)
{
    return lc == 0 ? h->links0 + (size_t)node * h->stride0
                   : h->pool + h->uoff[node] + (size_t)(lc - 1) * h->strideu;
}

static inline double node_dist(const cs__hnsw *h, uint32_t a, uint32_t b)
{
    return cs__vscan_distance(h->p.measure, vec_of(h, a), h->norms2[a], vec_of(h, b),
                              h->norms2[b], h->dim);
}

/* ---- walker: the scratch of one search (one per thread) ---------------------------- */

typedef struct {
    const cs__hnsw *h;
    const float *q;
    float qn;
    atomic_flag *locks;          /* per-node list locks during a parallel batch, else NULL */
    uint32_t *set;               /* visited nodes: open addressing, HNSW_NONE empty */
    size_t set_cap, set_n;
    unsigned set_shift;
    hent *cand, *res;            /* candidates (min-heap), results (max-heap via ~key) */
    size_t ncand, nres, cand_cap, res_cap;
    hent *wl;                    /* insertion: each layer's results, ef_construction apart */
    size_t wl_cap, wn[HNSW_MAX_LEVEL + 1];
    uint32_t *sel;               /* insertion: each layer's chosen neighbours, m apart */
    size_t sel_cap, ns[HNSW_MAX_LEVEL + 1];
    bool oom;
    uint32_t nbuf[1 + 2 * CS_HNSW_MAX_M];   /* a list copied under its lock */
    hent tmp[1 + 2 * CS_HNSW_MAX_M];        /* a list being shrunk, with distances */
} walker;

struct cs__hnsw_scratch {
    walker w;
};

static void walker_free(walker *w)
{
    free(w->set);
    free(w->cand);
    free(w->res);
    free(w->wl);
    free(w->sel);
}

static inline double qdist(const walker *w, uint32_t node)
{
    const cs__hnsw *h = w->h;
    return cs__vscan_distance(h->p.measure, w->q, w->qn, vec_of(h, node), h->norms2[node],
                              h->dim);
}

/* Sized for about `expect` visits; a multiplicative hash over a power-of-two table, which
 * costs a memset of the table per search instead of an O(n) visited array. */
static int set_alloc(walker *w, size_t expect)
{
    size_t cap = 256;
    unsigned bits = 8;
    while (cap < 2 * expect && bits < 31) cap <<= 1, bits++;
    if (w->set_cap >= cap) return 0;
    uint32_t *s = malloc(cap * sizeof *s);
    if (!s) return -1;
    free(w->set);
    w->set = s;
    w->set_cap = cap;
    w->set_shift = 32 - bits;
    w->set_n = 0;
    return 0;
}

static void set_clear(walker *w)
{
    memset(w->set, 0xFF, w->set_cap * sizeof *w->set);
    w->set_n = 0;
}

static inline size_t set_home(const walker *w, uint32_t node)
{
    return (uint32_t)(node * 0x9E3779B1u) >> w->set_shift;
}

/* Doubles the set, keeping its members. */
static int set_grow(walker *w)
{
    uint32_t *old = w->set;
    size_t old_cap = w->set_cap;
    if (w->set_shift == 1) return -1;   /* 2^31 visits: cannot happen below 2^32 nodes */
    uint32_t *s = malloc(2 * old_cap * sizeof *s);
    if (!s) return -1;
    memset(s, 0xFF, 2 * old_cap * sizeof *s);
    w->set = s;
    w->set_cap = 2 * old_cap;
    w->set_shift--;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] == HNSW_NONE) continue;
        size_t j = set_home(w, old[i]);
        while (s[j] != HNSW_NONE) j = (j + 1) & (w->set_cap - 1);
        s[j] = old[i];
    }
    free(old);
    return 0;
}

/* Marks node visited: true the first time. Out of memory sets w->oom (and says "seen",
 * so the search winds down). */
static bool visit(walker *w, uint32_t node)
{
    size_t mask = w->set_cap - 1, i = set_home(w, node);
    for (;; i = (i + 1) & mask) {
        if (w->set[i] == node) return false;
        if (w->set[i] == HNSW_NONE) break;
    }
    if (2 * (w->set_n + 1) > w->set_cap) {
        if (set_grow(w)) {
            w->oom = true;
            return false;
        }
        return visit(w, node);
    }
    w->set[i] = node;
    w->set_n++;
    return true;
}

static int grow_hents(hent **a, size_t *cap, size_t want)
{
    if (want <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < want) c *= 2;
    hent *p = realloc(*a, c * sizeof *p);
    if (!p) return -1;
    *a = p;
    *cap = c;
    return 0;
}

/* ---- list locks (parallel batch only) ---------------------------------------------- */

static inline void lock_node(walker *w, uint32_t node)
{
    if (!w->locks) return;
    /* Critical sections are a few dozen words long: spinning is cheaper than sleeping,
     * and yielding keeps an oversubscribed machine moving. */
    while (atomic_flag_test_and_set_explicit(&w->locks[node], memory_order_acquire))
        sched_yield();
}

static inline void unlock_node(walker *w, uint32_t node)
{
    if (w->locks) atomic_flag_clear_explicit(&w->locks[node], memory_order_release);
}

/* Node's list on layer lc as it is now: the list itself, or a copy taken under the lock
 * while other threads may be rewriting it. */
static const uint32_t *read_links(walker *w, uint32_t node, int lc)
{
    const uint32_t *l = links_at(w->h, node, lc);
    if (!w->locks) return l;
    lock_node(w, node);
    memcpy(w->nbuf, l, (1 + (size_t)l[0]) * sizeof *l);
    unlock_node(w, node);
    return w->nbuf;
}

/* ---- search ------------------------------------------------------------------------ */

/* Greedy descent from ep (its key *epk) through layers from..to+1: on each, move to the
 * nearest neighbour while one is nearer. Strictly decreasing keys: it always ends. */
static uint32_t descend(walker *w, uint32_t ep, uint64_t *epk, int from, int to)
{
    for (int lc = from; lc > to; lc--)
        for (bool moved = true; moved;) {
            moved = false;
            const uint32_t *l = read_links(w, ep, lc);
            for (uint32_t i = 1; i <= l[0]; i++) {
                uint64_t k = dkey(qdist(w, l[i]));
                if (k < *epk) {
                    *epk = k;
                    ep = l[i];
                    moved = true;
                }
            }
        }
    return ep;
}

/* Beam search of layer lc from ep (key epk) with ef results: leaves them in w->res
 * (a max-heap of ~key). live_only: tombstoned nodes route but are not results (then the
 * search goes on until it holds ef live ones or runs out of graph, as hnswlib does). */
static void search_layer(walker *w, uint32_t ep, uint64_t epk, int lc, size_t ef,
                         bool live_only)
{
    const cs__hnsw *h = w->h;
    w->ncand = w->nres = 0;
    if (grow_hents(&w->res, &w->res_cap, ef + 1) || grow_hents(&w->cand, &w->cand_cap, ef)) {
        w->oom = true;
        return;
    }
    set_clear(w);
    visit(w, ep);
    hpush(w->cand, &w->ncand, (hent){epk, ep});
    if (!live_only || !(h->info[ep] & HNSW_DEAD)) hpush(w->res, &w->nres, (hent){~epk, ep});
    while (w->ncand && !w->oom) {
        uint64_t worst = w->nres ? ~w->res[0].key : UINT64_MAX;
        if (w->nres >= ef && w->cand[0].key > worst) break;   /* nothing nearer is left */
        hent c = hpop(w->cand, &w->ncand);
        const uint32_t *l = read_links(w, c.node, lc);
        uint32_t cnt = l[0];
        for (uint32_t i = 1; i <= cnt; i++) {
            uint32_t nb = l[i];
            /* The next vector is a cache miss in a large index: start loading it now. */
            if (i < cnt) __builtin_prefetch(vec_of(h, l[i + 1]));
            if (!visit(w, nb)) continue;
            uint64_t k = dkey(qdist(w, nb));
            worst = w->nres ? ~w->res[0].key : UINT64_MAX;
            if (w->nres >= ef && k >= worst) continue;
            if (w->ncand == w->cand_cap && grow_hents(&w->cand, &w->cand_cap, w->ncand + 1)) {
                w->oom = true;
                return;
            }
            hpush(w->cand, &w->ncand, (hent){k, nb});
            if (live_only && (h->info[nb] & HNSW_DEAD)) continue;
            hpush(w->res, &w->nres, (hent){~k, nb});
            if (w->nres > ef) hpop(w->res, &w->nres);
        }
    }
}

/* Candidate of the final ranking: distance key, then the caller's key. */
typedef struct {
    uint64_t dk;
    int64_t key;
    uint32_t node;
} ranked;

static int ranked_cmp(const void *x, const void *y)
{
    const ranked *a = x, *b = y;
    if (a->dk != b->dk) return a->dk < b->dk ? -1 : 1;
    return a->key < b->key ? -1 : a->key > b->key;
}

long cs__hnsw_search(const cs__hnsw *h, const float *q, size_t k, size_t ef, cs__hnsw_hit *hits)
{
    if (k == 0 || h->live == 0) return 0;
    if (ef < k) ef = k;
    walker w = {.h = h, .q = q};
    w.qn = h->p.measure == CS_MEASURE_COSINE ? cs__vscan_norm2(q, h->dim) : 0;
    size_t nf = 0;
    ranked *r;
    if (h->n <= ef) {
        /* No more nodes than candidates: scanning them all is cheaper than the graph, and
         * exact (a small graph need not be fully reachable from its entry point). */
        r = malloc(h->live * sizeof *r);
        if (!r) return -1;
        for (uint32_t i = 0; i < h->n; i++)
            if (!(h->info[i] & HNSW_DEAD))
                r[nf++] = (ranked){dkey(qdist(&w, i)), h->keys[i], i};
    } else {
        if (set_alloc(&w, ef * h->m0 < h->n ? ef * h->m0 : h->n)) return -1;
        uint64_t epk = dkey(qdist(&w, h->entry));
        uint32_t ep = descend(&w, h->entry, &epk, h->maxlevel, 0);
        search_layer(&w, ep, epk, 0, ef, true);
        r = w.oom ? NULL : malloc((w.nres ? w.nres : 1) * sizeof *r);
        if (!r) {
            walker_free(&w);
            return -1;
        }
        for (size_t i = 0; i < w.nres; i++)
            r[nf++] = (ranked){~w.res[i].key, h->keys[w.res[i].node], w.res[i].node};
        walker_free(&w);
    }
    qsort(r, nf, sizeof *r, ranked_cmp);
    if (nf > k) nf = k;
    /* Recomputed rather than decoded from dk: the hit carries the scan's own double,
     * the sign of a zero included. */
    for (size_t i = 0; i < nf; i++)
        hits[i] = (cs__hnsw_hit){r[i].key, cs__vscan_distance(h->p.measure, q, w.qn,
                                                             vec_of(h, r[i].node),
                                                             h->norms2[r[i].node], h->dim)};
    free(r);
    return (long)nf;
}

/* ---- key map ----------------------------------------------------------------------- */

static inline size_t key_home(int64_t key, size_t cap)
{
    uint64_t z = (uint64_t)key;   /* splitmix64's finaliser: rowids are sequential */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (size_t)(z ^ (z >> 31)) & (cap - 1);
}

/* The slot holding key's node, or the empty slot where it would go. */
static size_t map_slot(const cs__hnsw *h, int64_t key)
{
    size_t mask = h->map_cap - 1;
    for (size_t i = key_home(key, h->map_cap);; i = (i + 1) & mask) {
        uint32_t n = h->map[i];
        if (n == HNSW_NONE || h->keys[n] == key) return i;
    }
}

int cs__hnsw_map_reserve(cs__hnsw *h, size_t live)
{
    size_t cap = 16;
    while (cap < 2 * live) cap *= 2;
    if (cap <= h->map_cap) return 0;
    uint32_t *map = malloc(cap * sizeof *map);
    if (!map) return -1;
    memset(map, 0xFF, cap * sizeof *map);
    uint32_t *old = h->map;
    size_t old_cap = h->map_cap;
    h->map = map;
    h->map_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i] != HNSW_NONE) h->map[map_slot(h, h->keys[old[i]])] = old[i];
    free(old);
    return 0;
}

uint32_t cs__hnsw_map_put(cs__hnsw *h, uint32_t node)
{
    size_t i = map_slot(h, h->keys[node]);
    uint32_t old = h->map[i];
    h->map[i] = node;
    return old;
}

/* Empties slot i, shifting back the entries after it that probed past it (linear probing
 * without tombstones: lookups stay short however many keys come and go). */
static void map_erase(cs__hnsw *h, size_t i)
{
    size_t mask = h->map_cap - 1;
    for (size_t j = i;;) {
        j = (j + 1) & mask;
        if (h->map[j] == HNSW_NONE) break;
        size_t home = key_home(h->keys[h->map[j]], h->map_cap);
        /* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            h->map[i] = h->map[j];
            i = j;
        }
    }
    h->map[i] = HNSW_NONE;
}

/* ---- creation and growth ----------------------------------------------------------- */

int cs__hnsw_check_params(const cs__hnsw_params *p, cs_error *err)
{
    if (p->dim < 1 || p->dim > CS_HNSW_MAX_DIM)
        return cs_error_set(err, CS_E_ARG, "hnsw: dimension %d outside 1..%d", p->dim,
                            CS_HNSW_MAX_DIM);
    if (p->m < 2 || p->m > CS_HNSW_MAX_M)
        return cs_error_set(err, CS_E_ARG, "hnsw: m %d outside 2..%d", p->m, CS_HNSW_MAX_M);
    if (p->ef_construction < 1 || p->ef_construction > CS_HNSW_MAX_EF)
        return cs_error_set(err, CS_E_ARG, "hnsw: ef_construction %d outside 1..%d",
                            p->ef_construction, CS_HNSW_MAX_EF);
    if (p->measure != CS_MEASURE_COSINE && p->measure != CS_MEASURE_L2 &&
        p->measure != CS_MEASURE_IP && p->measure != CS_MEASURE_L1)
        return cs_error_set(err, CS_E_ARG, "hnsw: unknown measure %d", (int)p->measure);
    return 0;
}

cs__hnsw *cs__hnsw_alloc(const cs__hnsw_params *p)
{
    cs__hnsw *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->p = *p;
    h->dim = (size_t)p->dim;
    h->m = (size_t)p->m;
    h->m0 = 2 * h->m;
    h->stride0 = 1 + h->m0;
    h->strideu = 1 + h->m;
    h->mult = 1.0 / log((double)p->m);
    h->rng = p->seed;
    h->entry = HNSW_NONE;
    h->own_nodes = h->own_pool = true;
    return h;
}

int cs__hnsw_new(const cs__hnsw_params *p, cs__hnsw **out, cs_error *err)
{
    *out = NULL;
    int rc = cs__hnsw_check_params(p, err);
    if (rc) return rc;
    cs__hnsw *h = cs__hnsw_alloc(p);
    if (!h || cs__hnsw_map_reserve(h, 0)) {
        cs__hnsw_free(h);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    *out = h;
    return 0;
}

/* Frees the per-node arrays but uoff, whether malloc'd or mapped by load. */
static void free_nodes(cs__hnsw *h)
{
    if (h->own_nodes) {
        free(h->vecs);
        free(h->norms2);
        free(h->keys);
        free(h->info);
        free(h->links0);
        return;
    }
    cs__hnsw_unmap_arrays(h, true, false);
}

size_t cs__hnsw_grown(size_t n, size_t least)
{
    size_t g = n + n / 2;
    return g < least ? least : g;
}

void cs__hnsw_free(cs__hnsw *h)
{
    if (!h) return;
    free_nodes(h);
    if (h->own_pool) free(h->pool);
    else cs__hnsw_unmap_arrays(h, false, true);
    free(h->uoff);
    free(h->map);
    if (h->scratch) {
        walker_free(&h->scratch->w);
        free(h->scratch);
    }
    free(h);
}

const cs__hnsw_params *cs__hnsw_get_params(const cs__hnsw *h) { return &h->p; }
size_t cs__hnsw_live(const cs__hnsw *h) { return h->live; }
size_t cs__hnsw_dead(const cs__hnsw *h) { return h->n - h->live; }

/* The vector array: 64-byte aligned; a large one 2 MiB aligned and backed by transparent
 * huge pages where the kernel offers them (as vcache.c does: a fault per 4 KiB page is
 * expensive under virtualisation, and the graph's random accesses miss the TLB less). */
static float *alloc_vectors(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    size_t rounded = (bytes + huge - 1) & ~(huge - 1);
    float *p = aligned_alloc(huge, rounded);
    if (p) madvise(p, rounded, MADV_HUGEPAGE);   /* advice only */
    return p;
}

/* Room for `want` nodes. Grows by half again (amortised copies) and never shrinks. A
 * loaded index has room already (its mapped arrays' reservations) and moves into memory
 * only when it needs more. */
static int reserve_nodes(cs__hnsw *h, size_t want)
{
    if (want <= h->cap) return 0;
    size_t cap = cs__hnsw_grown(h->cap, want < 16 ? 16 : want);
    if (cap > HNSW_MAX_NODES) cap = HNSW_MAX_NODES;
    float *vecs = alloc_vectors(cap * h->dim * sizeof(float));
    float *norms2 = malloc(cap * sizeof *norms2);
    int64_t *keys = malloc(cap * sizeof *keys);
    uint8_t *info = malloc(cap);
    uint32_t *links0 = malloc(cap * h->stride0 * sizeof *links0);
    uint64_t *uoff = malloc(cap * sizeof *uoff);
    if (!vecs || !norms2 || !keys || !info || !links0 || !uoff) {
        free(vecs);
        free(norms2);
        free(keys);
        free(info);
        free(links0);
        free(uoff);
        return -1;
    }
    if (h->n) {
        memcpy(vecs, h->vecs, h->n * h->dim * sizeof(float));
        memcpy(norms2, h->norms2, h->n * sizeof *norms2);
        memcpy(keys, h->keys, h->n * sizeof *keys);
        memcpy(info, h->info, h->n);
        memcpy(links0, h->links0, h->n * h->stride0 * sizeof *links0);
        memcpy(uoff, h->uoff, h->n * sizeof *uoff);
    }
    free_nodes(h);
    free(h->uoff);
    h->vecs = vecs;
    h->norms2 = norms2;
    h->keys = keys;
    h->info = info;
    h->links0 = links0;
    h->uoff = uoff;
    h->cap = cap;
    h->own_nodes = true;
    return 0;
}

static int reserve_pool(cs__hnsw *h, size_t want)
{
    if (want <= h->pool_cap) return 0;
    size_t cap = cs__hnsw_grown(h->pool_cap, want < 1024 ? 1024 : want);
    uint32_t *p;
    if (h->own_pool) {
        p = realloc(h->pool, cap * sizeof *p);
    } else {
        p = malloc(cap * sizeof *p);
        if (!p) return -1;
        if (h->pool_len) memcpy(p, h->pool, h->pool_len * sizeof *p);
        cs__hnsw_unmap_arrays(h, false, true);
    }
    if (!p) return -1;
    h->pool = p;
    h->pool_cap = cap;
    h->own_pool = true;
    return 0;
}

int cs__hnsw_reserve(cs__hnsw *h, size_t nodes, cs_error *err)
{
    if (nodes > HNSW_MAX_NODES)
        return cs_error_set(err, CS_E_TOO_LARGE, "hnsw: more than %u nodes", HNSW_MAX_NODES);
    if (reserve_nodes(h, nodes)) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    return 0;
}

/* splitmix64: a tiny generator of good quality whose whole state is one word (saved in
 * the file). */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* floor(-ln(U) / ln(m)): level l with probability ~ m^-l (1 - 1/m). */
static int draw_level(const cs__hnsw *h, uint64_t *rng)
{
    double u = (double)((next_random(rng) >> 11) + 1) * 0x1.0p-53;   /* (0, 1]: no log(0) */
    double l = -log(u) * h->mult;
    return l >= HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (int)l;
}

/* Writes node q's own data (its slot is reserved; the node is not yet reachable). */
static void init_node(cs__hnsw *h, uint32_t q, int64_t key, int level, uint64_t uoff)
{
    h->keys[q] = key;
    h->info[q] = (uint8_t)level;
    h->uoff[q] = uoff;
    /* Whole lists, not just the counts: the unused slots are saved too, and a file should
     * be a function of the graph (and never carry stale heap bytes). */
    memset(h->links0 + (size_t)q * h->stride0, 0, h->stride0 * sizeof *h->links0);
    if (level) memset(h->pool + uoff, 0, (size_t)level * h->strideu * sizeof *h->pool);
}

static void set_vector(cs__hnsw *h, uint32_t q, const float *vec)
{
    float *v = h->vecs + (size_t)q * h->dim;
    memcpy(v, vec, h->dim * sizeof *v);
    h->norms2[q] = cs__vscan_norm2(v, h->dim);
}

/* ---- insertion --------------------------------------------------------------------- */

/* Algorithm 4 (the heuristic) over c (nc candidates ascending by distance to the base
 * node, distances in .key): a candidate is taken when it is nearer to the base than to
 * every one taken so far, i.e. it leads somewhere they do not. Up to max nodes into out.
 *
 * Pruned candidates are not kept to fill the list (the paper's keepPrunedConnections,
 * which pgvector sets): as in hnswlib, lists stay short where the neighbourhood is
 * redundant. Full lists refuse the long links that a newly arriving cluster needs to be
 * reachable: on clustered 512-d data (20k points, 100 tight clusters) keeping them cost
 * 1 to 3 points of recall@10 at ef 40-100 and made recall plateau as ef grew. */
static size_t select_neighbors(const cs__hnsw *h, const hent *c, size_t nc, size_t max,
                               uint32_t *out)
{
    size_t r = 0;
    for (size_t i = 0; i < nc && r < max; i++) {
        bool good = true;
        for (size_t j = 0; j < r && good && nc > max; j++)
            good = dkey(node_dist(h, c[i].node, out[j])) >= c[i].key;
        if (good) out[r++] = c[i].node;
    }
    return r;
}

/* Phase 1 of inserting q (level `level`) into the graph with entry ep and top layer top:
 * the searches, which only read the graph. Each layer's ef_construction nearest go to
 * w->wl (ascending). 0 or -1 (out of memory: nothing was changed). */
static int insert_search(walker *w, uint32_t q, int level, uint32_t ep, int top)
{
    const cs__hnsw *h = w->h;
    size_t ef = (size_t)h->p.ef_construction;
    int start = level < top ? level : top;
    w->oom = false;
    w->q = vec_of(h, q);
    w->qn = h->norms2[q];
    size_t nsel = (size_t)(start + 1) * h->m;
    if (grow_hents(&w->wl, &w->wl_cap, (size_t)(start + 1) * ef) ||
        set_alloc(w, ef * h->m0))
        return -1;
    if (nsel > w->sel_cap) {
        uint32_t *p = realloc(w->sel, nsel * sizeof *p);
        if (!p) return -1;
        w->sel = p;
        w->sel_cap = nsel;
    }
    uint64_t epk = dkey(qdist(w, ep));
    ep = descend(w, ep, &epk, top, start);
    for (int lc = start; lc >= 0; lc--) {
        search_layer(w, ep, epk, lc, ef, false);
        if (w->oom) return -1;
        hent *W = w->wl + (size_t)lc * ef;
        for (size_t i = 0; i < w->nres; i++) W[i] = (hent){~w->res[i].key, w->res[i].node};
        w->wn[lc] = w->nres;
        qsort(W, w->nres, sizeof *W, hent_cmp);
        ep = W[0].node;   /* the nearest found starts the next layer's search */
        epk = W[0].key;
    }
    return 0;
}

/* Phase 2: links q to the neighbours chosen on each of its layers up to top, and them
 * to q, shrinking lists that overflow. Allocates nothing, so it cannot fail. All of q's
 * own lists are written before any node links to q: once another thread can reach q on
 * some layer, its lists on every layer are complete (an empty one would strand that
 * thread's search at q). */
static void insert_link(cs__hnsw *h, walker *w, uint32_t q, int level, int top)
{
    size_t ef = (size_t)h->p.ef_construction;
    int start = level < top ? level : top;
    for (int lc = start; lc >= 0; lc--) {
        uint32_t *sel = w->sel + (size_t)lc * h->m;
        w->ns[lc] = select_neighbors(h, w->wl + (size_t)lc * ef, w->wn[lc], h->m, sel);
        uint32_t *ql = links_at(h, q, lc);
        lock_node(w, q);
        memcpy(ql + 1, sel, w->ns[lc] * sizeof *ql);
        ql[0] = (uint32_t)w->ns[lc];
        unlock_node(w, q);
    }
    for (int lc = start; lc >= 0; lc--) {
        size_t maxc = lc ? h->m : h->m0;
        const uint32_t *sel = w->sel + (size_t)lc * h->m;
        for (size_t s = 0; s < w->ns[lc]; s++) {
            uint32_t e = sel[s];
            lock_node(w, e);
            uint32_t *el = links_at(h, e, lc), c = el[0];
            if (c < maxc) {
                el[1 + c] = q;
                el[0] = c + 1;
            } else {
                /* Full: choose maxc of its neighbours and q again, by distance to e. */
                for (uint32_t j = 0; j < c; j++)
                    w->tmp[j] = (hent){dkey(node_dist(h, e, el[1 + j])), el[1 + j]};
                w->tmp[c] = (hent){dkey(node_dist(h, e, q)), q};
                qsort(w->tmp, (size_t)c + 1, sizeof *w->tmp, hent_cmp);
                el[0] = (uint32_t)select_neighbors(h, w->tmp, (size_t)c + 1, maxc, el + 1);
            }
            unlock_node(w, e);
        }
    }
}

static int scratch_ready(cs__hnsw *h)
{
    if (!h->scratch && !(h->scratch = calloc(1, sizeof *h->scratch))) return -1;
    h->scratch->w.h = h;
    return 0;
}

int cs__hnsw_add(cs__hnsw *h, int64_t key, const float *vec, cs_error *err)
{
    if (h->n >= HNSW_MAX_NODES)
        return cs_error_set(err, CS_E_TOO_LARGE, "hnsw: more than %u nodes", HNSW_MAX_NODES);
    uint64_t rng = h->rng;   /* committed only once the add cannot fail */
    int level = draw_level(h, &rng);
    size_t upper = (size_t)level * h->strideu;
    /* Every allocation first: a failure leaves the index as it was. */
    if (reserve_nodes(h, h->n + 1) || (upper && reserve_pool(h, h->pool_len + upper)) ||
        cs__hnsw_map_reserve(h, h->live + 1) || scratch_ready(h))
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    uint32_t q = (uint32_t)h->n;
    set_vector(h, q, vec);
    init_node(h, q, key, level, h->pool_len);
    walker *w = &h->scratch->w;
    if (h->entry != HNSW_NONE && insert_search(w, q, level, h->entry, h->maxlevel))
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    h->rng = rng;
    h->n++;
    h->pool_len += upper;
    uint32_t old = cs__hnsw_map_put(h, q);
    if (old != HNSW_NONE) h->info[old] |= HNSW_DEAD;   /* an update: the old node routes on */
    else h->live++;
    if (h->entry == HNSW_NONE) {
        h->entry = q;
        h->maxlevel = level;
        return 0;
    }
    insert_link(h, w, q, level, h->maxlevel);
    if (level > h->maxlevel) {
        h->entry = q;
        h->maxlevel = level;
    }
    return 0;
}

int cs__hnsw_remove(cs__hnsw *h, int64_t key)
{
    size_t i = map_slot(h, key);
    uint32_t node = h->map[i];
    if (node == HNSW_NONE) return 0;
    map_erase(h, i);
    h->info[node] |= HNSW_DEAD;
    h->live--;
    return 1;
}

/* ---- batch insertion --------------------------------------------------------------- */

typedef struct {
    cs__hnsw *h;
    const float *vecs;            /* the batch's input rows */
    size_t first, count;          /* nodes first..first+count-1 */
    atomic_size_t next;           /* next batch row to insert */
    atomic_flag *locks;           /* per node; NULL with one thread */
    pthread_mutex_t entry_lock;   /* guards h->entry and h->maxlevel */
    uint8_t *failed;              /* per batch row: its insertion ran out of memory */
} batch;

typedef struct {
    batch *b;
    walker w;
} worker;

static void *batch_run(void *arg)
{
    worker *wk = arg;
    batch *b = wk->b;
    cs__hnsw *h = b->h;
    bool threaded = b->locks != NULL;
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&b->next, 1, memory_order_relaxed);
        if (i >= b->count) break;
        uint32_t q = (uint32_t)(b->first + i);
        int level = level_of(h, q);
        /* The node is unreachable until phase 2 links it: its vector needs no lock. */
        set_vector(h, q, b->vecs + i * h->dim);
        if (threaded) pthread_mutex_lock(&b->entry_lock);
        uint32_t ep = h->entry;
        int top = h->maxlevel;
        /* A node that becomes the new entry keeps the lock while it links itself, as in
         * hnswlib: others must not start from it before its upper lists exist. */
        bool hold = ep == HNSW_NONE || level > top;
        if (threaded && !hold) pthread_mutex_unlock(&b->entry_lock);
        bool ok = ep == HNSW_NONE || !insert_search(&wk->w, q, level, ep, top);
        if (!ok) b->failed[i] = 1;
        else if (ep != HNSW_NONE) insert_link(h, &wk->w, q, level, top);
        if (hold) {
            if (ok) {
                h->entry = q;
                h->maxlevel = level;
            }
            if (threaded) pthread_mutex_unlock(&b->entry_lock);
        }
    }
    return NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int cs__hnsw_add_batch(cs__hnsw *h, const int64_t *keys, const float *vecs, size_t count,
                       int threads, cs_error *err)
{
    if (count == 0) return 0;
    if (count > HNSW_MAX_NODES - h->n)
        return cs_error_set(err, CS_E_TOO_LARGE, "hnsw: more than %u nodes", HNSW_MAX_NODES);
    if (threads <= 0) threads = online_cpus();
    /* A thread pays off only past a few hundred insertions. */
    if ((size_t)threads > count / 256 + 1) threads = (int)(count / 256 + 1);
    size_t first = h->n;
    if (reserve_nodes(h, first + count))
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    /* Levels drawn in row order, exactly as count calls of cs__hnsw_add draw them. */
    uint64_t rng = h->rng;
    size_t upper = 0;
    for (size_t i = 0; i < count; i++) {
        int level = draw_level(h, &rng);
        h->info[first + i] = (uint8_t)level;
        upper += (size_t)level * h->strideu;
    }
    worker *wk = calloc((size_t)threads, sizeof *wk);
    pthread_t *tids = calloc((size_t)threads, sizeof *tids);
    uint8_t *failed = calloc(count, 1);
    atomic_flag *locks = threads > 1 ? malloc((first + count) * sizeof *locks) : NULL;
    batch b = {.h = h, .vecs = vecs, .first = first, .count = count, .locks = locks,
               .failed = failed};
    if (!wk || !tids || !failed || (threads > 1 && !locks) ||
        (upper && reserve_pool(h, h->pool_len + upper)) ||
        cs__hnsw_map_reserve(h, h->live + count) ||
        (threads > 1 && pthread_mutex_init(&b.entry_lock, NULL))) {
        free(wk);
        free(tids);
        free(failed);
        free(locks);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    /* Commit the nodes' metadata and keys in row order (so a key given twice ends with
     * its last row, the earlier ones tombstoned, as successive adds would leave it). */
    size_t off = h->pool_len;
    for (size_t i = 0; i < count; i++) {
        uint32_t q = (uint32_t)(first + i);
        int level = level_of(h, q);
        init_node(h, q, keys[i], level, off);
        off += (size_t)level * h->strideu;
        uint32_t old = cs__hnsw_map_put(h, q);
        if (old != HNSW_NONE) h->info[old] |= HNSW_DEAD;
        else h->live++;
    }
    h->n = first + count;
    h->pool_len = off;
    h->rng = rng;
    if (locks)
        for (size_t i = 0; i < first + count; i++) atomic_flag_clear(&locks[i]);
    atomic_init(&b.next, 0);
    for (int t = 0; t < threads; t++) wk[t] = (worker){.b = &b, .w = {.h = h, .locks = locks}};
    /* A worker whose thread cannot start runs last and finds no rows left. */
    cs__fork_join(batch_run, wk, sizeof *wk, threads, tids);
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        if (!failed[i]) continue;
        /* Never linked: take it out of the key map (its key is then absent) and keep it
         * as a dead, unreachable node. */
        uint32_t q = (uint32_t)(first + i);
        size_t s = map_slot(h, h->keys[q]);
        if (h->map[s] == q) {   /* not when a later row of the batch took the key over */
            map_erase(h, s);
            h->live--;
        }
        h->info[q] |= HNSW_DEAD;
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    for (int t = 0; t < threads; t++) walker_free(&wk[t].w);
    if (threads > 1) pthread_mutex_destroy(&b.entry_lock);
    free(wk);
    free(tids);
    free(failed);
    free(locks);
    return rc;
}
