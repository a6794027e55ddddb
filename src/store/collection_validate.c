/* Input checks shared by both backends, in vecs' order (spec §2.1, §4.2): names,
 * records (dimension before values, per 500-record batch, as vecs binds batch by batch)
 * and metadata normalisation with jsonb's rules. */
#include "store/store_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/jval.h"

static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t len;
        unsigned cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

int cs__validate_name(const char *name, bool allow_underscore, cs_error *err)
{
    if (!name || !*name) return cs_error_set(err, CS_E_INVALID_NAME, "collection name is empty");
    size_t n = strlen(name);
    if (n > CS_NAME_MAX_BYTES)
        return cs_error_set(err, CS_E_INVALID_NAME,
                            "collection name '%.40s...' is %zu bytes long (at most %d)", name, n,
                            CS_NAME_MAX_BYTES);
    if (!valid_utf8(name, n))
        return cs_error_set(err, CS_E_INVALID_NAME, "collection name is not valid UTF-8");
    if (!allow_underscore && name[0] == '_')
        return cs_error_set(err, CS_E_INVALID_NAME,
                            "collection name '%s' starts with '_': vecs hides such tables from "
                            "listing and lookup, so it could never be opened again",
                            name);
    return 0;
}

int cs__metadata_normalize(const char *json_text, char **out, cs_error *err)
{
    *out = NULL;
    if (!json_text) {
        if (!(*out = strdup("{}"))) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        return 0;
    }
    cs__jv v;
    cs__jv_error je;
    int rc = cs__jv_parse(json_text, strlen(json_text), false, &v, &je);
    if (rc == JV_ERR_SYNTAX) return cs_error_set(err, CS_E_ARG, "metadata is not valid JSON: %s", je.msg);
    /* A key or value that cannot be text is refused before any backend sees it (the
     * jsonb server refuses it too; vecs reports that as a database error). */
    if (rc == JV_ERR_VALUE && je.not_text)
        return cs_error_set(err, CS_E_ARG,
                            "metadata is not text (%s): keys and values must not contain "
                            "\\u0000, unpaired surrogates or bytes that are not UTF-8",
                            je.msg);
    if (rc == JV_ERR_VALUE)   /* what jsonb itself refuses: a database error in vecs */
        return cs_error_set(err, CS_E_DATABASE, "invalid metadata: %s", je.msg);
    if (rc) return cs_error_set(err, CS_E_NOMEM, "out of memory parsing metadata");
    *out = cs__jv_serialize(&v, NULL);
    cs__jv_free(&v);
    if (!*out) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    return 0;
}

static int cmp_idx_by_id(const void *a, const void *b, void *ctx)
{
    const cs_record_in *recs = ctx;
    return strcmp(recs[*(const size_t *)a].id, recs[*(const size_t *)b].id);
}

/* Sorting pointers to ids: qsort_r keeps this free of global state. */
static int find_duplicate(const cs_record_in *recs, size_t from, size_t to, size_t *dup)
{
    size_t n = to - from;
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx) return CS_E_NOMEM;
    for (size_t i = 0; i < n; i++) idx[i] = from + i;
    qsort_r(idx, n, sizeof *idx, cmp_idx_by_id, (void *)recs);
    int found = 0;
    for (size_t i = 1; i < n; i++)
        if (!strcmp(recs[idx[i - 1]].id, recs[idx[i]].id)) {
            *dup = idx[i];
            found = 1;
            break;
        }
    free(idx);
    return found;
}

static void free_meta(char **meta, size_t n)
{
    if (!meta) return;
    for (size_t i = 0; i < n; i++) free(meta[i]);
    free(meta);
}

int cs__validate_records(const cs_collection *coll, const cs_record_in *recs, const int *dims,
                        size_t n, char ***norm_meta, cs_error *err)
{
    *norm_meta = NULL;
    if (n == 0) return 0;
    if (!recs) return cs_error_set(err, CS_E_ARG, "records is NULL");
    char **meta = calloc(n, sizeof *meta);
    if (!meta) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    int dim = coll->dim, rc = 0;
    for (size_t from = 0; from < n && !rc; from += CS_UPSERT_BATCH) {
        size_t to = from + CS_UPSERT_BATCH < n ? from + CS_UPSERT_BATCH : n;
        /* Client side first: ids must be strings, vectors of length D. */
        for (size_t i = from; i < to && !rc; i++) {
            if (!recs[i].id)
                rc = cs_error_set(err, CS_E_ARG, "record %zu has no id (ids must be strings)", i);
            else if (!recs[i].vector || (dims && dims[i] != dim))
                rc = cs_error_set(err, CS_E_DIMENSION, "record '%s': expected %d dimensions, not %d",
                                  recs[i].id, dim, recs[i].vector && dims ? dims[i] : 0);
        }
        /* Then, per row, what the server would refuse while reading the values. */
        for (size_t i = from; i < to && !rc; i++) {
            const char *id = recs[i].id;
            if (!valid_utf8(id, strlen(id))) {
                /* Not text (an encoded surrogate, stray bytes): refused like such an id
                 * in JSON input (record_json.c), before any backend sees it. */
                rc = cs_error_set(err, CS_E_ARG, "record %zu: id is not valid UTF-8", i);
                break;
            }
            for (int k = 0; k < dim; k++) {
                float x = recs[i].vector[k];
                if (isnan(x)) {
                    rc = cs_error_set(err, CS_E_DATABASE, "record '%s': NaN not allowed in vector", id);
                    break;
                }
                if (isinf(x)) {
                    rc = cs_error_set(err, CS_E_DATABASE,
                                      "record '%s': infinite value not allowed in vector", id);
                    break;
                }
            }
            if (!rc && (rc = cs__metadata_normalize(recs[i].metadata_json, &meta[i], err)))
                cs_error_prefix(err, "record '%s'", id);
        }
        size_t dup;
        if (!rc) {
            int d = find_duplicate(recs, from, to, &dup);
            if (d < 0) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            else if (d)
                rc = cs_error_set(err, CS_E_DATABASE,
                                  "ON CONFLICT DO UPDATE command cannot affect row a second time: "
                                  "id '%s' appears twice in records %zu..%zu of one upsert batch",
                                  recs[dup].id, from, to - 1);
        }
    }
    if (rc) {
        free_meta(meta, n);
        return rc;
    }
    *norm_meta = meta;
    return 0;
}
