/* What the collection holds before the run: one scan (metadata only), indexed by id
 * for the unchanged check and by content hash for reuse of moved/duplicate files. */
#include <stdlib.h>
#include <string.h>

#include "app/indexer_internal.h"

int cs__ix_db_load(cs_collection *coll, const char *only_embedder, cs__ix_db *db, cs_error *err)
{
    memset(db, 0, sizeof *db);
    db->by_id = cs__strmap_new();
    db->by_hash = cs__strmap_new();
    if (!db->by_id || !db->by_hash) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    cs_records recs;
    int rc = cs_collection_scan(coll, NULL, false, &recs, err);
    if (rc != 0) return cs_error_prefix(err, "reading collection %s", cs_collection_name(coll));
    db->recs = calloc(recs.n ? recs.n : 1, sizeof *db->recs);
    if (!db->recs) {
        cs_records_free(&recs);
        return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < recs.n; i++) {
        cs__ix_stored *s = &db->recs[db->n];
        /* Take the id string over instead of copying it. */
        s->id = recs.items[i].id;
        recs.items[i].id = NULL;
        if (!s->id) continue;
        db->n++;
        cs__ix_meta_parse(recs.items[i].metadata_json, s);
        if (cs__strmap_put(db->by_id, s->id, s) != 0 ||
            (s->hash[0] && (!only_embedder || !strcmp(s->embedder, only_embedder)) &&
             !cs__strmap_put_if_absent(db->by_hash, s->hash, s))) {
            cs_records_free(&recs);
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
    }
    cs_records_free(&recs);
    return 0;
}

void cs__ix_db_free(cs__ix_db *db)
{
    for (size_t i = 0; i < db->n; i++) free(db->recs[i].id);
    free(db->recs);
    cs__strmap_free(db->by_id);
    cs__strmap_free(db->by_hash);
    memset(db, 0, sizeof *db);
}
