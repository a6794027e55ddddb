/* Collection operations: vecs' validation order (spec §4, §6, §8) in one place so both
 * backends behave the same; the backend only sees validated input (backend.h). */
#include "store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B(c) ((c)->store->backend)

void cs_records_init(cs_records *r)
{
    memset(r, 0, sizeof *r);
}

cs_record *cs_records_push(cs_records *r, cs_error *err)
{
    /* Grow geometrically; capacity is implied by powers of two of n. */
    size_t n = r->n;
    if ((n & (n - 1)) == 0) {
        size_t cap = n ? n * 2 : 8;
        if (n && n < 8) cap = 8;
        if (n == 0 || n >= 8) {
            cs_record *p = realloc(r->items, cap * sizeof *p);
            if (!p) {
                cs_error_set(err, CS_E_NOMEM, "out of memory for %zu records", cap);
                return NULL;
            }
            r->items = p;
        }
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
