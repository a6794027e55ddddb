/* add-text: lines of text -> a collection (id = the text, metadata {"type":"text"}), so
 * that an image query over it is image -> text and a text query is text -> text. */
#include <stdlib.h>
#include <string.h>

#include "clipsearch/text_collection.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int cs_add_texts(const cs_clip *model, cs_collection *coll, const char *const *texts,
                 size_t n, size_t batch, cs_add_text_stats *stats, cs_error *err)
{
    cs_add_text_stats st = {n, 0, 0, 0};
    if (stats) *stats = st;
    int dim = cs_clip_embed_dim(model);
    int cdim = cs_collection_dimension(coll);
    if (cdim > 0 && cdim != dim)
        return cs_error_set(err, CS_E_MISMATCHED_DIMENSION,
                            "collection '%s' holds %d-d vectors but the model embeds %d-d",
                            cs_collection_name(coll), cdim, dim);
    if (n == 0) return 0;
    if (batch == 0) batch = 64;
    /* A repeated id inside one upsert batch is a DatabaseError in vecs; one text is one
     * record anyway, so keep the first of each. */
    const char **uniq = malloc(n * sizeof *uniq);
    float *vecs = malloc(batch * (size_t)dim * sizeof *vecs);
    cs_record_in *recs = malloc(batch * sizeof *recs);
    int rc = 0;
    if (!uniq || !vecs || !recs) {
        rc = cs_error_set(err, CS_E_NOMEM, "out of memory (%zu texts)", n);
        goto done;
    }
    memcpy(uniq, texts, n * sizeof *uniq);
    qsort(uniq, n, sizeof *uniq, cmp_str);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || strcmp(uniq[m - 1], uniq[i]) != 0) uniq[m++] = uniq[i];
    st.duplicates = n - m;
    for (size_t at = 0; at < m; at += batch) {
        size_t cnt = m - at < batch ? m - at : batch;
        if ((rc = cs_clip_embed_texts(model, uniq + at, cnt, vecs, err)) != 0) goto done;
        for (size_t i = 0; i < cnt; i++) {
            cs_l2_normalize(vecs + i * (size_t)dim, (size_t)dim);
            recs[i].id = uniq[at + i];
            recs[i].vector = vecs + i * (size_t)dim;
            recs[i].metadata_json = "{\"type\":\"text\"}";
        }
        /* Which of these the collection already holds (re-written, not new). */
        cs_records old = {0};
        if ((rc = cs_collection_fetch(coll, uniq + at, cnt, &old, err)) != 0) goto done;
        size_t existing = old.n;
        cs_records_free(&old);
        if ((rc = cs_collection_upsert(coll, recs, cnt, err)) != 0) goto done;
        st.upserted += cnt;
        st.added += cnt - existing;
    }
done:
    if (stats) *stats = st;
    free(uniq);
    free(vecs);
    free(recs);
    return rc;
}
