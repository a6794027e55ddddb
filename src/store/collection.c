/* Collection operations: vecs' validation order (spec §4, §6, §8) in one place so both
 * backends behave the same; the backend only sees validated input (backend.h). */
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B(c) ((c)->store->backend)

void cs__records_init(cs_records *r)
{
    memset(r, 0, sizeof *r);
}

cs_record *cs__records_push(cs_records *r, cs_error *err)
{
    /* cs_records has no capacity field: the capacity is 8, then the next power of two,
     * so it is full exactly when n is 0 or a power of two >= 8. */
    size_t n = r->n;
    if (n == 0 || (n >= 8 && (n & (n - 1)) == 0)) {
        size_t cap = n ? n * 2 : 8;
        cs_record *p = realloc(r->items, cap * sizeof *p);
        if (!p) {
            cs_error_set(err, CS_E_NOMEM, "out of memory for %zu records", cap);
            return NULL;
        }
        r->items = p;
    }
    cs_record *rec = &r->items[r->n++];
    memset(rec, 0, sizeof *rec);
    rec->value = NAN;
    return rec;
}

void cs_records_free(cs_records *recs)
{
    if (!recs) return;
    for (size_t i = 0; i < recs->n; i++) {
        free(recs->items[i].id);
        free(recs->items[i].vector);
        free(recs->items[i].metadata_json);
    }
    free(recs->items);
    free(recs->warning);
    memset(recs, 0, sizeof *recs);
}

int cs_collection_count(cs_collection *coll, int64_t *count, cs_error *err)
{
    *count = 0;
    return B(coll)->ops->count(B(coll), coll->name, count, err);
}

int cs_collection_index(cs_collection *coll, char **index_name, cs_error *err)
{
    *index_name = NULL;
    return B(coll)->ops->index_name(B(coll), coll->name, index_name, err);
}

int cs_collection_upsert_dims(cs_collection *coll, const cs_record_in *recs,
                              const int *vector_dims, size_t n, cs_error *err)
{
    if (n == 0) return 0;   /* an empty input is a no-op (spec §4.2) */
    int rc = cs__store_check_writable(coll->store, "upsert", err);
    if (rc) return rc;
    char **meta = NULL;
    rc = cs__validate_records(coll, recs, vector_dims, n, &meta, err);
    if (rc) return rc;
    cs_record_in *norm = malloc(n * sizeof *norm);
    if (!norm) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory for %zu records", n);
    } else {
        for (size_t i = 0; i < n; i++) {
            norm[i] = recs[i];
            norm[i].metadata_json = meta[i];
        }
        rc = B(coll)->ops->upsert(B(coll), coll->name, coll->dim, norm, n, err);
    }
    free(norm);
    for (size_t i = 0; i < n; i++) free(meta[i]);
    free(meta);
    return rc;
}

int cs_collection_upsert(cs_collection *coll, const cs_record_in *recs, size_t n,
                         cs_error *err)
{
    return cs_collection_upsert_dims(coll, recs, NULL, n, err);
}

static int id_pos_cmp(const void *a, const void *b, void *ctx)
{
    const char *const *ids = ctx;
    int c = strcmp(ids[*(const size_t *)a], ids[*(const size_t *)b]);
    if (c) return c;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int pos_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Rejects NULL ids and removes repeats, keeping the first occurrence's position
 * (deviation: vecs returns a row per 12-id batch in which an id repeats). */
static int unique_ids(const char *const *ids, size_t n, const char ***out, size_t *nout,
                      cs_error *err)
{
    *out = NULL;
    *nout = 0;
    if (n && !ids) return cs_error_set(err, CS_E_ARG, "ids is NULL");
    for (size_t i = 0; i < n; i++)
        if (!ids[i]) return cs_error_set(err, CS_E_ARG, "id %zu is not a string", i);
    const char **u = malloc((n ? n : 1) * sizeof *u);
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!u || !ord) {
        free(u);
        free(ord);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    /* Sort positions by id, keep the first position of each run, restore input order. */
    for (size_t i = 0; i < n; i++) ord[i] = i;
    qsort_r(ord, n, sizeof *ord, id_pos_cmp, (void *)ids);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(ids[ord[i]], ids[ord[i - 1]])) ord[k++] = ord[i];
    qsort(ord, k, sizeof *ord, pos_cmp);
    for (size_t i = 0; i < k; i++) u[i] = ids[ord[i]];
    free(ord);
    *out = u;
    *nout = k;
    return 0;
}

int cs_collection_fetch(cs_collection *coll, const char *const *ids, size_t n,
                        cs_records *out, cs_error *err)
{
    cs__records_init(out);
    const char **u;
    size_t nu;
    int rc = unique_ids(ids, n, &u, &nu, err);
    if (rc) return rc;
    if (nu) rc = B(coll)->ops->fetch(B(coll), coll->name, coll->dim, u, nu, out, err);
    free(u);
    if (rc) cs_records_free(out);
    return rc;
}

int cs_collection_get_record(cs_collection *coll, const char *id, cs_records *out,
                             cs_error *err)
{
    cs__records_init(out);
    if (!id) return cs_error_set(err, CS_E_ARG, "id must be a string");
    int rc = cs_collection_fetch(coll, &id, 1, out, err);
    if (rc) return rc;
    if (out->n == 0)
        return cs_error_set(err, CS_E_NOT_FOUND, "no record with id '%s' in collection '%s'", id,
                            coll->name);
    return 0;
}

int cs_collection_delete_ids(cs_collection *coll, const char *const *ids, size_t n,
                             cs_records *out, cs_error *err)
{
    cs_records tmp;
    if (!out) out = &tmp;
    cs__records_init(out);
    const char **u;
    size_t nu;
    int rc = unique_ids(ids, n, &u, &nu, err);
    if (rc) return rc;
    if (nu) rc = cs__store_check_writable(coll->store, "delete", err);
    if (nu && !rc) rc = B(coll)->ops->delete_ids(B(coll), coll->name, u, nu, out, err);
    free(u);
    /* Nothing was deleted when it failed (one transaction): no ids to return either. */
    if (out == &tmp || rc) cs_records_free(out);
    return rc;
}

int cs_collection_delete_filter(cs_collection *coll, const char *filter_json,
                                cs_records *out, cs_error *err)
{
    cs_records tmp;
    if (!out) out = &tmp;
    cs__records_init(out);
    if (!filter_json)
        return cs_error_set(err, CS_E_ARG, "Either ids or filters must be provided");
    cs__filter *f = NULL;
    int rc = cs__filter_parse(filter_json, &f, err);
    if (!rc && f) rc = cs__store_check_writable(coll->store, "delete", err);
    if (!rc && f) rc = B(coll)->ops->delete_filter(B(coll), coll->name, f, out, err);
    cs__filter_free(f);
    if (out == &tmp || rc) cs_records_free(out);
    return rc;
}

void cs_query_init(cs_query *q)
{
    memset(q, 0, sizeof *q);
    q->limit = 10;
    q->measure = CS_MEASURE_COSINE;
    q->probes = 10;
    q->ef_search = 40;
}

int cs_collection_query(cs_collection *coll, const cs_query *q, cs_records *out, cs_error *err)
{
    cs__records_init(out);
    /* vecs' order (spec §6), then what the server would refuse. */
    if (q->probes < 1) return cs_error_set(err, CS_E_ARG, "probes must be >= 1 (got %d)", q->probes);
    if (q->ef_search < 1 || q->ef_search > 1000)   /* deviation: vecs leaves it to the server */
        return cs_error_set(err, CS_E_ARG, "ef_search must be between 1 and 1000 (got %d)",
                            q->ef_search);
    if (q->limit > CS_QUERY_LIMIT_MAX)
        return cs_error_set(err, CS_E_ARG, "limit must be <= %d (got %d)", CS_QUERY_LIMIT_MAX,
                            q->limit);
    if ((unsigned)q->measure > CS_MEASURE_L1)
        return cs_error_set(err, CS_E_ARG, "Invalid index measure %d", (int)q->measure);
    char *ix = NULL;
    int rc = B(coll)->ops->index_name(B(coll), coll->name, &ix, err);
    if (rc) return rc;
    if (!cs__index_covers(ix, q->measure)) {
        char w[256];
        snprintf(w, sizeof w,
                 "Query does not have a covering index for %s. See Collection.create_index",
                 cs_measure_name(q->measure));
        out->warning = strdup(w);
    }
    free(ix);
    cs__filter *f = NULL;
    if (!q->vector) {
        rc = cs_error_set(err, CS_E_ARG, "Failed to produce exactly one query vector from input");
        goto done;
    }
    if ((rc = cs__filter_parse(q->filter_json, &f, err))) goto done;
    if (q->vector_dim != coll->dim) {
        rc = cs_error_set(err, CS_E_DIMENSION, "query vector: expected %d dimensions, not %d",
                          coll->dim, q->vector_dim);
        goto done;
    }
    if (q->probes > 32768) {
        rc = cs_error_set(err, CS_E_DATABASE,
                          "%d is outside the valid range for parameter \"ivfflat.probes\" (1 .. 32768)",
                          q->probes);
        goto done;
    }
    for (int i = 0; i < q->vector_dim; i++)
        if (!isfinite(q->vector[i])) {
            rc = cs_error_set(err, CS_E_DATABASE, "query vector: %s not allowed in vector",
                              isnan(q->vector[i]) ? "NaN" : "infinite value");
            goto done;
        }
    if (q->limit < 0) {
        rc = cs_error_set(err, CS_E_DATABASE, "LIMIT must not be negative (got %d)", q->limit);
        goto done;
    }
    if (q->limit > 0) rc = B(coll)->ops->query(B(coll), coll->name, coll->dim, q, f, out, err);
done:
    cs__filter_free(f);
    if (rc) cs_records_free(out);
    return rc;
}

int cs_collection_scan(cs_collection *coll, const char *filter_json, bool include_vector,
                       cs_records *out, cs_error *err)
{
    cs__records_init(out);
    cs__filter *f = NULL;
    int rc = cs__filter_parse(filter_json, &f, err);
    if (!rc) rc = B(coll)->ops->scan(B(coll), coll->name, coll->dim, f, include_vector, 0, out, err);
    cs__filter_free(f);
    if (rc) cs_records_free(out);   /* an error returns nothing, not the rows read so far */
    return rc;
}

int cs_collection_create_index(cs_collection *coll, const cs_index_spec *spec, cs_error *err)
{
    cs_index_spec def, resolved;
    if (!spec) {
        cs_index_spec_init(&def);
        spec = &def;
    }
    int rc = cs__index_spec_validate(spec, B(coll)->ops->hnsw_available(B(coll)), &resolved, err);
    if (rc) return rc;
    if ((rc = cs__store_check_writable(coll->store, "create an index", err))) return rc;
    return B(coll)->ops->create_index(B(coll), coll->name, &resolved, err);
}

int cs_collection_refresh_index(cs_collection *coll, cs_error *err)
{
    return B(coll)->ops->refresh_index ? B(coll)->ops->refresh_index(B(coll), coll->name, err) : 0;
}
