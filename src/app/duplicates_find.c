/* Duplicate groups of a stored collection: every record with its vector through the
 * store API (both backends), normalised into one matrix, content keys from the
 * indexer's metadata, then the core (duplicates.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/duplicates_internal.h"
#include "base/hash.h"
#include "clipsearch/clip.h"
#include "clipsearch/duplicates.h"

static int64_t meta_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) return (int64_t)json_integer_value(v);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d < 9e18 && d == (double)(int64_t)d) return (int64_t)d;
    }
    return -1;
}

typedef struct {
    char *hash;        /* metadata "hash" or NULL */
    int64_t bytes;
    int width, height;
} rec_info;

static void parse_meta(const char *text, rec_info *ri)
{
    memset(ri, 0, sizeof *ri);
    ri->bytes = ri->width = ri->height = -1;
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        return;
    }
    const char *h = json_string_value(json_object_get(o, "hash"));
    if (h && *h) ri->hash = strdup(h);
    ri->bytes = meta_int(o, "bytes");
    int64_t w = meta_int(o, "width"), hh = meta_int(o, "height");
    ri->width = w >= 0 && w <= 1 << 30 ? (int)w : -1;
    ri->height = hh >= 0 && hh <= 1 << 30 ? (int)hh : -1;
    json_decref(o);
}

/* The content key: "h:" + the hash, or "v:" + XXH3-128 of the raw vector + ":" + bytes
 * for a record without a hash. */
static char *content_key(const rec_info *ri, const float *vec, int dim)
{
    size_t n = ri->hash ? strlen(ri->hash) + 3 : CS_HASH_HEX_LEN + 32;
    char *k = malloc(n);
    if (!k) return NULL;
    if (ri->hash) {
        snprintf(k, n, "h:%s", ri->hash);
    } else {
        char hex[CS_HASH_HEX_LEN + 1];
        cs__hash128_hex(vec, (size_t)dim * sizeof *vec, hex);
        snprintf(k, n, "v:%s:%lld", hex, (long long)ri->bytes);
    }
    return k;
}

static int cmp_member(const void *a, const void *b)
{
    const cs_dup_member *x = a, *y = b;
    int64_t px = x->width >= 0 && x->height >= 0 ? (int64_t)x->width * x->height : -1;
    int64_t py = y->width >= 0 && y->height >= 0 ? (int64_t)y->width * y->height : -1;
    if (px != py) return px > py ? -1 : 1;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int cmp_group(const void *a, const void *b)
{
    const cs_dup_group *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    if (x->max_similarity != y->max_similarity)
        return x->max_similarity > y->max_similarity ? -1 : 1;
    return strcmp(x->members[0].id, y->members[0].id);
}

/* Renumbers the copy sets in the order members now appear (1, 2, ...). */
static void renumber_copies(cs_dup_group *g)
{
    int map[64] = {0};
    int next = 0;
    size_t sets = g->copy_sets;
    int *m = sets < 64 ? map : calloc(sets + 1, sizeof *m);
    if (!m) return;   /* keep the core's numbering: still consistent */
    for (size_t i = 0; i < g->n; i++) {
        int c = g->members[i].copy;
        if (!c) continue;
        if (!m[c]) m[c] = ++next;
        g->members[i].copy = m[c];
    }
    if (m != map) free(m);
}

int cs_duplicates_find(cs_collection *coll, const cs_dup_options *opt, cs_dup_groups *out,
                       cs_error *err)
{
    memset(out, 0, sizeof *out);
    cs_dup_options o;   /* checked before the scan, which can take long */
    int rc = cs__dup_options_take(opt, &o, err);
    if (rc) return rc;
    int dim = cs_collection_dimension(coll);
    cs_records recs = {0};
    if ((rc = cs_collection_scan(coll, NULL, true, &recs, err)) != 0) return rc;
    size_t n = recs.n;
    if (n > 0 && dim < 1) {
        cs_records_free(&recs);
        return cs_error_set(err, CS_E_ARG, "collection '%s' has no fixed dimension",
                            cs_collection_name(coll));
    }
    float *unit = malloc((n ? n : 1) * (size_t)(dim > 0 ? dim : 1) * sizeof *unit);
    char **keys = calloc(n ? n : 1, sizeof *keys);
    rec_info *info = calloc(n ? n : 1, sizeof *info);
    if (!unit || !keys || !info) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory for %zu vectors", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cs_record *r = &recs.items[i];
        float *u = unit + i * (size_t)dim;
        if (!r->vector) {
            rc = cs_error_set(err, CS_E_INTERNAL, "record '%s' came back without a vector",
                              r->id);
            goto done;
        }
        parse_meta(r->metadata_json, &info[i]);
        keys[i] = content_key(&info[i], r->vector, dim);
        if (!keys[i]) {
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            goto done;
        }
        memcpy(u, r->vector, (size_t)dim * sizeof *u);
        cs_l2_normalize(u, (size_t)dim);
        /* The matrix is the copy that stays: hand the record's back now. */
        free(r->vector);
        r->vector = NULL;
        free(r->metadata_json);
        r->metadata_json = NULL;
    }
    rc = cs_duplicates_group(unit, n, dim, (const char *const *)keys, &o, out, err);
    if (rc) goto done;
    for (size_t g = 0; g < out->n; g++) {
        cs_dup_group *grp = &out->items[g];
        for (size_t j = 0; j < grp->n; j++) {
            cs_dup_member *m = &grp->members[j];
            rec_info *ri = &info[m->row];
            m->id = strdup(recs.items[m->row].id);
            m->hash = ri->hash;
            ri->hash = NULL;
            m->bytes = ri->bytes;
            m->width = ri->width;
            m->height = ri->height;
            if (!m->id) {
                rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
                goto done;
            }
        }
        qsort(grp->members, grp->n, sizeof *grp->members, cmp_member);
        renumber_copies(grp);
    }
    if (out->n) qsort(out->items, out->n, sizeof *out->items, cmp_group);
done:
    if (rc) cs_dup_groups_free(out);
    for (size_t i = 0; i < n; i++) {
        if (keys) free(keys[i]);
        if (info) free(info[i].hash);
    }
    free(keys);
    free(info);
    free(unit);
    cs_records_free(&recs);
    return rc;
}
