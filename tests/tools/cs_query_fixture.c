/* Test helper for the query-side integration tests: builds an image collection without
 * the indexer (so search tests do not depend on it) — id = absolute path, metadata
 * {"type": extension, "name": file name, "n": position} — or an empty collection of a
 * given dimension.
 *   cs_query_fixture images DB MODEL COLLECTION IMAGE...
 *   cs_query_fixture empty DB COLLECTION DIM */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clipsearch/query.h"

static int fail(const cs_error *e)
{
    fprintf(stderr, "cs_query_fixture: %s: %s\n", cs_error_category(e->code), e->msg);
    return 1;
}

int main(int argc, char **argv)
{
    cs_error err = {0};
    cs_store *s = NULL;
    cs_collection *c = NULL;
    if (argc == 5 && !strcmp(argv[1], "empty")) {
        if (cs_store_open(argv[2], &s, &err) ||
            cs_store_get_or_create(s, argv[3], atoi(argv[4]), &c, &err))
            return fail(&err);
        cs_collection_free(c);
        cs_store_close(s);
        return 0;
    }
    if (argc < 6 || strcmp(argv[1], "images") != 0) {
        fprintf(stderr, "usage: cs_query_fixture images DB MODEL COLLECTION IMAGE...\n"
                        "       cs_query_fixture empty DB COLLECTION DIM\n");
        return 2;
    }
    cs_clip_options opt;
    cs_clip_options_init(&opt);
    cs_clip *m = NULL;
    if (cs_clip_load(argv[3], &opt, &m, &err) || cs_store_open(argv[2], &s, &err) ||
        cs_store_get_or_create(s, argv[4], cs_clip_embed_dim(m), &c, &err))
        return fail(&err);
    int n = argc - 5, d = cs_clip_embed_dim(m);
    float *v = malloc(sizeof(float) * (size_t)d * (size_t)n);
    cs_record_in *recs = calloc((size_t)n, sizeof *recs);
    for (int i = 0; i < n; i++) {
        char abs[PATH_MAX];
        if (!realpath(argv[5 + i], abs)) {
            fprintf(stderr, "cs_query_fixture: %s: not found\n", argv[5 + i]);
            return 1;
        }
        cs_search_request r;
        cs_search_request_init(&r);
        r.image_path = abs;
        if (cs_query_embed(m, &r, v + (size_t)i * d, &err)) return fail(&err);
        const char *name = strrchr(abs, '/') + 1, *dot = strrchr(name, '.');
        json_t *meta = json_pack("{s:s,s:s,s:i}", "type", dot ? dot + 1 : "", "name", name, "n", i);
        recs[i].id = strdup(abs);
        recs[i].vector = v + (size_t)i * d;
        recs[i].metadata_json = json_dumps(meta, JSON_COMPACT);
        json_decref(meta);
    }
    int rc = cs_collection_upsert(c, recs, (size_t)n, &err) ? fail(&err) : 0;
    for (int i = 0; i < n; i++) {
        free((char *)recs[i].id);
        free((char *)recs[i].metadata_json);
    }
    free(recs);
    free(v);
    cs_collection_free(c);
    cs_store_close(s);
    cs_clip_free(m);
    return rc;
}
