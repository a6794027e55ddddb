/* Byte-pair merging over token ids, exactly as SimpleTokenizer.bpe: repeatedly take
 * the adjacent pair with the lowest merge rank and merge ALL its non-overlapping
 * occurrences left to right, until no adjacent pair has a rank.
 *
 * Two implementations with identical results (tests check this on random words):
 *  - scan: keeps the rank of every adjacent pair in an array and rescans for the
 *    minimum; O(n^2) but tiny constants, used for ordinary words;
 *  - heap: linked list + binary heap of (rank, position), O(n log n), for long pieces
 *    (a single "word" can be megabytes). To keep the pass semantics, pairs created
 *    while merging rank r are pushed only after every rank-r occurrence is merged. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

static bool ws_is_inline(const cs__tok_bpe_ws *ws) { return ws->sym == ws->inline_buf; }

void cs__tok_bpe_ws_init(cs__tok_bpe_ws *ws)
{
    ws->sym = ws->rank = ws->aux = NULL;
    ws->heap = NULL;
    ws->cap = ws->heap_cap = 0;
}

void cs__tok_bpe_ws_free(cs__tok_bpe_ws *ws)
{
    if (!ws_is_inline(ws)) {
        free(ws->sym);
        free(ws->rank);
        free(ws->aux);
    }
    free(ws->heap);
    ws->sym = ws->rank = ws->aux = NULL;
    ws->heap = NULL;
    ws->cap = ws->heap_cap = 0;
}

bool cs__tok_bpe_reserve(cs__tok_bpe_ws *ws, size_t n)
{
    if (n <= ws->cap)
        return true;
    if (ws->cap == 0 && n <= CS_TOK_WS_INLINE) {
        ws->sym = ws->inline_buf;
        ws->rank = ws->inline_buf + CS_TOK_WS_INLINE;
        ws->aux = ws->inline_buf + 2 * CS_TOK_WS_INLINE;
        ws->cap = CS_TOK_WS_INLINE;
        return true;
    }
    size_t cap = 2 * CS_TOK_WS_INLINE;
    while (cap < n)
        cap *= 2;
    if (!ws_is_inline(ws)) {
        free(ws->sym);
        free(ws->rank);
        free(ws->aux);
    }
    ws->sym = malloc(cap * sizeof *ws->sym);
    ws->rank = malloc(cap * sizeof *ws->rank);
    ws->aux = malloc(2 * cap * sizeof *ws->aux);
    ws->cap = cap;
    if (!ws->sym || !ws->rank || !ws->aux) {
        free(ws->sym);
        free(ws->rank);
        free(ws->aux);
        ws->sym = ws->rank = ws->aux = NULL;
        ws->cap = 0;
        return false;
    }
    return true;
}

/* ---- scan ---------------------------------------------------------------------- */

static size_t bpe_scan(const cs_tokenizer *t, int32_t *sym, int32_t *rank, int32_t *mid,
                       uint8_t *merged, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        rank[i] = cs__tok_merge_lookup(t, sym[i], sym[i + 1], &mid[i]);
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (rank[i] < rank[best])
                best = i;
        int32_t r = rank[best];
        if (r == CS_TOK_NO_RANK)
            break;
        int32_t x = mid[best];
        /* One pass: every occurrence of the pair (ranks identify pairs uniquely). */
        size_t w = best, j = best;
        while (j < n) {
            if (j + 1 < n && rank[j] == r) {
                sym[w] = x;
                merged[w] = 1;
                j += 2;
            } else {
                sym[w] = sym[j];
                rank[w] = rank[j];
                mid[w] = mid[j];
                merged[w] = 0;
                j += 1;
            }
            w++;
        }
        n = w;
        /* Pairs touching a merged symbol are new; the others keep their rank. */
        for (size_t i = best ? best - 1 : 0; i + 1 < n; i++)
            if ((i >= best && merged[i]) || merged[i + 1])
                rank[i] = cs__tok_merge_lookup(t, sym[i], sym[i + 1], &mid[i]);
    }
    return n;
}

/* ---- heap ------------------------------------------------------------------------ */

typedef struct {
    int32_t rank;
    int32_t pos;         /* left symbol (its original index) */
    int32_t left, right; /* ids when pushed: a stale entry no longer matches */
} heap_entry;

static bool entry_less(const heap_entry *a, const heap_entry *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(heap_entry *h, size_t *n, heap_entry e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!entry_less(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static heap_entry heap_pop(heap_entry *h, size_t *n)
{
    heap_entry top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && entry_less(&h[c + 1], &h[c]))
            c++;
        if (!entry_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

static size_t bpe_heap(const cs_tokenizer *t, int32_t *sym, int32_t *prev, int32_t *next,
                       heap_entry *heap, size_t n)
{
    /* Capacity 3n: n-1 initial pairs plus at most 2 per merge (< n merges). The pending
     * pairs of the current pass are kept at the far end of the same array. */
    size_t hn = 0, cap = 3 * n, pending = 0;
    heap_entry *pend = heap + cap; /* grows downwards: pend[-1], pend[-2], ... */
    int32_t merged_id = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = cs__tok_merge_lookup(t, sym[i], sym[i + 1], &merged_id);
        if (r != CS_TOK_NO_RANK)
            heap_push(heap, &hn, (heap_entry){r, (int32_t)i, sym[i], sym[i + 1]});
    }
    while (hn > 0) {
        int32_t r = heap[0].rank;
        while (hn > 0 && heap[0].rank == r) {
            heap_entry e = heap_pop(heap, &hn);
            int32_t p = e.pos, q = next[p];
            if (sym[p] != e.left || q < 0 || sym[q] != e.right || prev[p] == -2)
                continue; /* stale */
            cs__tok_merge_lookup(t, e.left, e.right, &merged_id);
            sym[p] = merged_id;
            next[p] = next[q];
            if (next[q] >= 0)
                prev[next[q]] = p;
            prev[q] = -2; /* dead */
            int32_t a = prev[p], b = next[p];
            if (a >= 0) {
                int32_t rr = cs__tok_merge_lookup(t, sym[a], sym[p], &merged_id);
                if (rr != CS_TOK_NO_RANK)
                    pend[-(int32_t)++pending] = (heap_entry){rr, a, sym[a], sym[p]};
            }
            if (b >= 0) {
                int32_t rr = cs__tok_merge_lookup(t, sym[p], sym[b], &merged_id);
                if (rr != CS_TOK_NO_RANK)
                    pend[-(int32_t)++pending] = (heap_entry){rr, p, sym[p], sym[b]};
            }
        }
        for (; pending > 0; pending--)
            heap_push(heap, &hn, pend[-(int32_t)pending]);
    }
    size_t o = 0;
    for (int32_t i = 0; i >= 0; i = next[i])
        sym[o++] = sym[i];
    return o;
}

long cs__tok_bpe(const cs_tokenizer *t, cs__tok_bpe_ws *ws, size_t n, int path)
{
    if (n <= 1)
        return (long)n;
    if (path == 1 || (path == 0 && n <= CS_TOK_BPE_SCAN_MAX)) {
        /* aux holds the merged ids (n) then the merged flags (n bytes). */
        return (long)bpe_scan(t, ws->sym, ws->rank, ws->aux, (uint8_t *)(ws->aux + ws->cap),
                              n);
    }
    size_t need = 3 * n;
    if (need > ws->heap_cap) {
        void *h = realloc(ws->heap, need * sizeof(heap_entry));
        if (!h)
            return -1;
        ws->heap = h;
        ws->heap_cap = need;
    }
    return (long)bpe_heap(t, ws->sym, ws->aux, ws->aux + ws->cap, ws->heap, n);
}
