/* merges.txt reader: line 0 is skipped, then at most `limit` lines "left right"; each
 * merge becomes (left id, right id) -> (rank, merged id) in the tokenizer's table. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tokenizer/tokenizer_internal.h"

static void merge_put(cs_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = cs__tok_pair_key(a, b);
    size_t i = cs__tok_pair_hash(key) & t->merge_mask;
    while (t->merges[i].key != CS_TOK_EMPTY_KEY && t->merges[i].key != key)
        i = (i + 1) & t->merge_mask;
    /* A repeated pair takes its later rank, like dict(zip(merges, range(n))). */
    t->merges[i] = (cs__tok_merge_slot){key, rank, id};
}

static bool is_sep(uint8_t c) { return c == ' ' || c == '\t' || c == '\r'; }

/* One parsed merges.txt line. */
typedef struct {
    const uint8_t *a, *b;
    uint32_t la, lb;
    uint64_t ha, hb, hab; /* hashes of left, right, left+right */
    size_t line;          /* 0-based line number */
} merge_rec;

#define PREFETCH_AHEAD 8

static void prefetch_slot(const cs__tok_vmap *m, uint64_t h)
{
    __builtin_prefetch(&m->slots[(size_t)(h >> 32) & m->mask]);
}

/* Parses up to limit merge lines into recs (first pass: sequential, no lookups).
 * Returns the count, or -1 after setting err. */
static long parse_merges(const uint8_t *txt, size_t len, const char *path, size_t limit,
                         merge_rec *recs, cs_error *err)
{
    const uint8_t *p = txt, *end = txt + len;
    /* Line 0 is a header ("#version: 0.2"); both reference tokenizers skip it blindly. */
    while (p < end && *p != '\n')
        p++;
    size_t count = 0;
    uint8_t cat[512];
    for (size_t line = 1; p < end && count < limit; line++) {
        p++; /* the '\n' ending the previous line */
        const uint8_t *eol = p;
        while (eol < end && *eol != '\n')
            eol++;
        const uint8_t *f[3], *fe[3];
        int nf = 0;
        for (const uint8_t *q = p; q < eol;) {
            while (q < eol && is_sep(*q))
                q++;
            if (q == eol)
                break;
            if (nf == 3) {
                nf = 4;
                break;
            }
            f[nf] = q;
            while (q < eol && !is_sep(*q))
                q++;
            fe[nf++] = q;
        }
        p = eol;
        if (nf == 0) {
            /* Blank lines may only trail the file. */
            const uint8_t *q = eol;
            while (q < end && (is_sep(*q) || *q == '\n'))
                q++;
            if (q == end)
                break;
        }
        if (nf != 2) {
            cs_error_set(err, CS_E_FORMAT, "%s: line %zu: expected \"left right\"", path,
                         line + 1);
            return -1;
        }
        merge_rec *r = &recs[count++];
        r->a = f[0];
        r->b = f[1];
        r->la = (uint32_t)(fe[0] - f[0]);
        r->lb = (uint32_t)(fe[1] - f[1]);
        r->line = line;
        r->ha = XXH3_64bits(r->a, r->la);
        r->hb = XXH3_64bits(r->b, r->lb);
        r->hab = 0;
        if (r->la + r->lb <= sizeof cat) {
            memcpy(cat, r->a, r->la);
            memcpy(cat + r->la, r->b, r->lb);
            r->hab = XXH3_64bits(cat, r->la + r->lb);
        }
    }
    return (long)count;
}

int cs__tok_load_merges(cs_tokenizer *t, const cs__tok_vmap *m, const uint8_t *txt, size_t len,
                       const char *path, size_t limit, cs_error *err)
{
    size_t cap = 1024;
    while (cap < 2 * limit + 2)
        cap *= 2;
    t->merges = malloc(cap * sizeof *t->merges);
    /* At most one merge per line: the file size bounds the count too. */
    size_t max_recs = limit < len / 4 + 1 ? limit : len / 4 + 1;
    merge_rec *recs = malloc((max_recs + 1) * sizeof *recs);
    if (!t->merges || !recs) {
        free(recs);
        return cs_error_set(err, CS_E_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < cap; i++)
        t->merges[i].key = CS_TOK_EMPTY_KEY;
    t->merge_mask = cap - 1;
    long n = parse_merges(txt, len, path, max_recs, recs, err);
    if (n < 0) {
        free(recs);
        return err ? err->code : CS_E_FORMAT;
    }
    /* Second pass: the lookups, with the slots of a few lines ahead prefetched (the
     * table is larger than the cache; this roughly halves the load time). */
    uint8_t cat[512];
    int32_t pa = 0, pb = 0, pab = 0; /* the previous line's merge */
    for (long i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            const merge_rec *f = &recs[i + PREFETCH_AHEAD];
            prefetch_slot(m, f->ha);
            prefetch_slot(m, f->hb);
            prefetch_slot(m, f->hab);
        }
        const merge_rec *r = &recs[i];
        int32_t a = cs__tok_vmap_find(m, r->a, r->la, r->ha)->id;
        int32_t b = cs__tok_vmap_find(m, r->b, r->lb, r->hb)->id, ab = -1;
        if (r->la + r->lb <= sizeof cat) {
            memcpy(cat, r->a, r->la);
            memcpy(cat + r->la, r->b, r->lb);
            ab = cs__tok_vmap_find(m, cat, r->la + r->lb, r->hab)->id;
        }
        if (a < 0 || b < 0 || ab < 0) {
            int rc = cs_error_set(err, CS_E_FORMAT,
                                  "%s: line %zu: %s of merge \"%.*s %.*s\" is not in %s", path,
                                  r->line + 1,
                                  a < 0 ? "left token" : b < 0 ? "right token" : "result",
                                  (int)(r->la > 64 ? 64 : r->la), (const char *)r->a,
                                  (int)(r->lb > 64 ? 64 : r->lb), (const char *)r->b, m->path);
            free(recs);
            return rc;
        }
        /* The merge table is written one line late, after prefetching its slot. */
        uint64_t key = cs__tok_pair_key(a, b);
        __builtin_prefetch(&t->merges[cs__tok_pair_hash(key) & t->merge_mask]);
        if (i > 0)
            merge_put(t, pa, pb, (int32_t)t->n_merges++, pab);
        pa = a;
        pb = b;
        pab = ab;
    }
    if (n > 0)
        merge_put(t, pa, pb, (int32_t)t->n_merges++, pab);
    free(recs);
    return 0;
}
