/* Duplicate groups over unit vectors in memory (clipsearch/duplicates.h): exact links by
 * content key, near links by a blocked all-pairs GEMM that keeps only pairs at or above
 * the threshold, union-find over both, then exact per-group statistics. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/duplicates_internal.h"
#include "base/simd.h"
#include "clipsearch/duplicates.h"

#define PANEL CS_DUP_PANEL
#define SLACK CS_DUP_SLACK

void cs_dup_options_init(cs_dup_options *opt)
{
    opt->threshold = CS_DUP_DEFAULT_THRESHOLD;
    opt->block_rows = 1024;
    opt->int8_prefilter = true;
}

int cs_dup_options_check(const cs_dup_options *opt, cs_error *err)
{
    if (!(opt->threshold > 0 && opt->threshold <= 1))
        return cs_error_set(err, CS_E_ARG,
                            "threshold must be a cosine similarity in (0, 1], got %g",
                            opt->threshold);
    if (opt->block_rows < 16 || opt->block_rows > 65536)
        return cs_error_set(err, CS_E_ARG, "block_rows must be 16..65536, got %d",
                            opt->block_rows);
    return 0;
}

int cs__dup_options_take(const cs_dup_options *opt, cs_dup_options *out, cs_error *err)
{
    if (opt) *out = *opt;
    else cs_dup_options_init(out);
    return cs_dup_options_check(out, err);
}

const char *cs_dup_group_kind(const cs_dup_group *g)
{
    size_t copies = 0;
    for (size_t i = 0; i < g->n; i++) copies += g->members[i].copy != 0;
    if (copies == g->n && g->copy_sets == 1) return "exact";
    return copies == 0 ? "near" : "mixed";
}

void cs_dup_groups_free(cs_dup_groups *groups)
{
    if (!groups) return;
    for (size_t i = 0; i < groups->n; i++) {
        cs_dup_group *g = &groups->items[i];
        for (size_t j = 0; j < g->n; j++) {
            free(g->members[j].id);
            free(g->members[j].hash);
        }
        free(g->members);
    }
    free(groups->items);
    memset(groups, 0, sizeof *groups);
}

/* ---- blocked all-pairs ------------------------------------------------------------ */

/* Number of entries of s[0..n) at or above t: a branch-free pass the compiler
 * vectorises, so the common row without a match costs one streaming read. */
CS_HOT_LOOP CS_SIMD_CLONES
static size_t count_at_least(const float *s, size_t n, float t)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] >= t;
    return c;
}

/* Called with the product S = X[r0 .. r0+nr) X[c0 .. c0+nc)^T (row stride nc): every
 * pair (r0 + i, c0 + j) with c0 + j > r0 + i is new. */
typedef void (*block_fn)(void *ctx, const float *s, size_t r0, size_t nr, size_t c0,
                         size_t nc);

/* Visits every pair i < j of the n rows of x once, a block product at a time. scratch
 * holds block * PANEL * block floats. */
static void all_pairs(const float *x, size_t n, int dim, size_t block, float *scratch,
                      block_fn fn, void *ctx)
{
    size_t panel = block * PANEL;
    for (size_t r0 = 0; r0 < n; r0 += block) {
        size_t nr = n - r0 < block ? n - r0 : block;
        /* Columns start at the block's own first row: the diagonal block's lower half
         * is computed too (less than 1/(2 PANEL) extra) and skipped by fn. */
        for (size_t c0 = r0; c0 < n; c0 += panel) {
            size_t nc = n - c0 < panel ? n - c0 : panel;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)nc, dim, 1.0f,
                        x + r0 * (size_t)dim, dim, x + c0 * (size_t)dim, dim, 0.0f, scratch,
                        (int)nc);
            fn(ctx, scratch, r0, nr, c0, nc);
        }
    }
}

typedef struct {
    size_t *parent;
    float t;
    size_t pairs;
} link_ctx;

static void link_block(void *vctx, const float *s, size_t r0, size_t nr, size_t c0,
                       size_t nc)
{
    link_ctx *c = vctx;
    for (size_t i = 0; i < nr; i++) {
        size_t row = r0 + i;
        /* Only columns after the row: the pair (row, col) with col > row. */
        size_t j0 = row + 1 > c0 ? row + 1 - c0 : 0;
        if (j0 >= nc) continue;
        const float *si = s + i * nc;
        if (!count_at_least(si + j0, nc - j0, c->t)) continue;
        for (size_t j = j0; j < nc; j++)
            if (si[j] >= c->t) {
                c->pairs++;
                cs__dup_union(c->parent, row, c0 + j);
            }
    }
}

typedef struct {
    double max, min;
    float *best;     /* per member */
} stats_ctx;

static void stats_block(void *vctx, const float *s, size_t r0, size_t nr, size_t c0,
                        size_t nc)
{
    stats_ctx *c = vctx;
    for (size_t i = 0; i < nr; i++) {
        size_t row = r0 + i;
        for (size_t j = row + 1 > c0 ? row + 1 - c0 : 0; j < nc; j++) {
            float v = s[i * nc + j];
            if (v > c->max) c->max = v;
            if (v < c->min) c->min = v;
            if (v > c->best[row]) c->best[row] = v;
            if (v > c->best[c0 + j]) c->best[c0 + j] = v;
        }
    }
}

static double clamp1(double v)
{
    return v > 1 ? 1 : v < -1 ? -1 : v;
}

/* ---- groups ----------------------------------------------------------------------- */

static int cmp_key(const void *a, const void *b, void *keys)
{
    const char *const *k = keys;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(k[i], k[j]);
    return c ? c : (i > j) - (i < j);
}

static int cmp_group(const void *a, const void *b)
{
    const cs_dup_group *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    if (x->max_similarity != y->max_similarity)
        return x->max_similarity > y->max_similarity ? -1 : 1;
    return (x->members[0].row > y->members[0].row) - (x->members[0].row < y->members[0].row);
}

/* Links rows with equal content keys. */
static int link_exact(const char *const *keys, size_t n, size_t *parent, cs_error *err)
{
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return cs_error_set(err, CS_E_NOMEM, "out of memory for %zu records", n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keys[i] && *keys[i]) order[m++] = i;
    qsort_r(order, m, sizeof *order, cmp_key, (void *)keys);
    for (size_t i = 1; i < m; i++)
        if (!strcmp(keys[order[i]], keys[order[i - 1]]))
            cs__dup_union(parent, order[i - 1], order[i]);
    free(order);
    return 0;
}

/* Numbers the content sets with more than one member of g in member order. */
static void label_copies(cs_dup_group *g, const char *const *keys)
{
    g->copy_sets = 0;
    for (size_t i = 0; i < g->n; i++) g->members[i].copy = 0;
    if (!keys) return;
    for (size_t i = 0; i < g->n; i++) {
        const char *ki = keys[g->members[i].row];
        if (g->members[i].copy || !ki || !*ki) continue;
        int label = 0;
        for (size_t j = i + 1; j < g->n; j++) {
            const char *kj = keys[g->members[j].row];
            if (kj && !strcmp(ki, kj)) {
                if (!label) label = (int)++g->copy_sets;
                g->members[j].copy = label;
            }
        }
        g->members[i].copy = label;
    }
}

/* Max/min similarity over every pair of the group and each member's best, with the
 * same blocked GEMM over the members' gathered vectors. */
static int group_stats(cs_dup_group *g, const float *unit, int dim, size_t block,
                       float *scratch, cs_error *err)
{
    float *x = malloc(g->n * (size_t)dim * sizeof *x);
    float *best = malloc(g->n * sizeof *best);
    if (!x || !best) {
        free(x);
        free(best);
        return cs_error_set(err, CS_E_NOMEM, "out of memory for a group of %zu", g->n);
    }
    for (size_t i = 0; i < g->n; i++) {
        memcpy(x + i * (size_t)dim, unit + g->members[i].row * (size_t)dim,
               (size_t)dim * sizeof *x);
        best[i] = -INFINITY;
    }
    stats_ctx c = {.max = -INFINITY, .min = INFINITY, .best = best};
    all_pairs(x, g->n, dim, block, scratch, stats_block, &c);
    g->max_similarity = clamp1(c.max);
    g->min_similarity = clamp1(c.min);
    for (size_t i = 0; i < g->n; i++) g->members[i].similarity = clamp1(best[i]);
    free(x);
    free(best);
    return 0;
}

int cs_duplicates_group(const float *unit, size_t n, int dim, const char *const *content_keys,
                        const cs_dup_options *opt_in, cs_dup_groups *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    cs_dup_options opt;
    int rc = cs__dup_options_take(opt_in, &opt, err);
    if (rc) return rc;
    if (dim < 1) return cs_error_set(err, CS_E_ARG, "dimension must be >= 1, got %d", dim);
    out->records = n;
    out->pass = "float";
    if (n < 2) return 0;

    size_t block = (size_t)opt.block_rows;
    size_t *parent = malloc(n * sizeof *parent);
    float *scratch = malloc(block * block * PANEL * sizeof *scratch);
    size_t *count = calloc(n, sizeof *count);
    if (!parent || !scratch || !count) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory for %zu records", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) parent[i] = i;
    if (content_keys && (rc = link_exact(content_keys, n, parent, err)) != 0) goto done;
    rc = opt.int8_prefilter ? cs__dup_link_int8(unit, n, dim, opt.threshold, block, parent,
                                               &out->pairs, err)
                            : 0;
    if (rc < 0) goto done;
    if (rc == 0) {
        link_ctx lc = {.parent = parent, .t = (float)(opt.threshold - SLACK)};
        all_pairs(unit, n, dim, block, scratch, link_block, &lc);
        out->pairs = lc.pairs;
    }
    out->pass = rc == 1 ? "int8" : "float";
    rc = 0;

    /* Groups: roots with two or more rows; members in row order. count[root] becomes
     * the group's index + 1 (0 for rows outside any group). */
    size_t ngroups = 0;
    for (size_t i = 0; i < n; i++) count[cs__dup_find(parent, i)]++;
    for (size_t i = 0; i < n; i++) ngroups += parent[i] == i && count[i] > 1;
    if (ngroups) {
        out->items = calloc(ngroups, sizeof *out->items);
        if (!out->items) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory for %zu groups", ngroups);
            goto done;
        }
        size_t g = 0;
        for (size_t i = 0; i < n; i++) {
            if (parent[i] != i) continue;
            if (count[i] < 2) {
                count[i] = 0;
                continue;
            }
            cs_dup_group *grp = &out->items[g];
            grp->members = calloc(count[i], sizeof *grp->members);
            out->n = ++g;
            if (!grp->members) {
                rc = cs_error_set(err, CS_E_NOMEM, "out of memory for a group of %zu",
                                  count[i]);
                goto done;
            }
            count[i] = g;
        }
        for (size_t i = 0; i < n; i++) {
            size_t r = cs__dup_find(parent, i);
            if (!count[r]) continue;
            cs_dup_group *grp = &out->items[count[r] - 1];
            cs_dup_member *m = &grp->members[grp->n++];
            m->row = i;
            m->bytes = -1;
            m->width = m->height = -1;
        }
        for (size_t i = 0; i < ngroups; i++) {
            cs_dup_group *grp = &out->items[i];
            label_copies(grp, content_keys);
            if ((rc = group_stats(grp, unit, dim, block, scratch, err)) != 0) goto done;
        }
        qsort(out->items, out->n, sizeof *out->items, cmp_group);
    }
done:
    if (rc) cs_dup_groups_free(out);
    free(parent);
    free(scratch);
    free(count);
    return rc;
}
