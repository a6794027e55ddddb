/* clipsearch vec upsert | fetch | get | delete | query (see cmd_vec.c for the contract). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/vec_util.h"

int vec_cmd_upsert(cs__vec_ctx *c, int argc, char **argv)
{
    if (argc != 2 || !strncmp(argv[1], "--", 2))
        return vec_arg_error(c, "usage: vec upsert NAME < records.jsonl");
    if (vec_open_collection(c, argv[1], false)) return vec_fail(c);
    /* The whole input is one upsert call (= one transaction): parse everything first, so
     * a bad line leaves the collection untouched. */
    cs_record_buf *bufs = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &lcap, stdin)) >= 0) {
        lineno++;
        size_t l = (size_t)len;
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' ')) l--;
        if (l == 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            cs_record_buf *p = realloc(bufs, cap * sizeof *p);
            if (!p) {
                rc = cs_error_set(&c->err, CS_E_NOMEM, "out of memory reading records");
                break;
            }
            bufs = p;
        }
        if ((rc = cs_record_parse_json(line, l, &bufs[n], &c->err))) {
            cs_error_prefix(&c->err, "stdin line %zu", lineno);
            break;
        }
        n++;
    }
    free(line);
    cs_record_in *recs = NULL;
    int *dims = NULL;
    if (!rc && n) {
        recs = malloc(n * sizeof *recs);
        dims = malloc(n * sizeof *dims);
        if (!recs || !dims) rc = cs_error_set(&c->err, CS_E_NOMEM, "out of memory");
        for (size_t i = 0; !rc && i < n; i++) {
            recs[i] = (cs_record_in){bufs[i].id, bufs[i].vector, bufs[i].metadata_json};
            dims[i] = bufs[i].dim;
        }
        if (!rc) rc = cs_collection_upsert_dims(c->coll, recs, dims, n, &c->err);
    }
    for (size_t i = 0; i < n; i++) cs_record_buf_free(&bufs[i]);
    free(bufs);
    free(recs);
    free(dims);
    if (rc) return vec_fail(c);
    printf("{\"upserted\":%zu}\n", n);
    return 0;
}

int vec_cmd_fetch(cs__vec_ctx *c, int argc, char **argv)
{
    if (argc < 2) return vec_arg_error(c, "usage: vec fetch NAME ID...");
    if (vec_open_collection(c, argv[1], true)) return vec_fail(c);
    cs_records recs;
    int rc = cs_collection_fetch(c->coll, (const char *const *)argv + 2, (size_t)argc - 2, &recs,
                                 &c->err);
    for (size_t i = 0; !rc && i < recs.n; i++)
        vec_print_record(stdout, &recs.items[i], false, true, true, cs_collection_dimension(c->coll));
    cs_records_free(&recs);
    return rc ? vec_fail(c) : 0;
}

int vec_cmd_get(cs__vec_ctx *c, int argc, char **argv)
{
    if (argc != 3) return vec_arg_error(c, "usage: vec get NAME ID");
    if (vec_open_collection(c, argv[1], true)) return vec_fail(c);
    cs_records recs;
    int rc = cs_collection_get_record(c->coll, argv[2], &recs, &c->err);
    if (!rc)
        vec_print_record(stdout, &recs.items[0], false, true, true, cs_collection_dimension(c->coll));
    cs_records_free(&recs);
    return rc ? vec_fail(c) : 0;
}

int vec_cmd_delete(cs__vec_ctx *c, int argc, char **argv)
{
    if (argc < 2 || !strncmp(argv[1], "--", 2)) return vec_arg_error(c, "usage: vec delete NAME (--ids ID... | --filter JSON)");
    const char **ids = calloc((size_t)argc, sizeof *ids);
    if (!ids) return 1;
    size_t nids = 0;
    bool have_ids = false;
    const char *filter = NULL;
    int rc = 0;
    for (int i = 2; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--ids")) {
            have_ids = true;
            while (i + 1 < argc && strcmp(argv[i + 1], "--filter") && strcmp(argv[i + 1], "--ids"))
                ids[nids++] = argv[++i];
        } else if (!strcmp(argv[i], "--filter") && i + 1 < argc) {
            if (filter) rc = cs_error_set(&c->err, CS_E_ARG, "--filter given twice");
            filter = argv[++i];
        } else {
            rc = cs_error_set(&c->err, CS_E_ARG, "vec delete: unexpected argument '%s'", argv[i]);
        }
    }
    /* vecs' order (spec §4.5): both absent, then both present (even if empty). */
    if (!rc && !have_ids && !filter)
        rc = cs_error_set(&c->err, CS_E_ARG, "Either ids or filters must be provided");
    if (!rc && have_ids && filter)
        rc = cs_error_set(&c->err, CS_E_ARG, "Either ids or filters must be provided, not both");
    if (!rc) rc = vec_open_collection(c, argv[1], false);
    cs_records out;
    memset(&out, 0, sizeof out);
    if (!rc) {
        if (have_ids) rc = cs_collection_delete_ids(c->coll, ids, nids, &out, &c->err);
        else rc = cs_collection_delete_filter(c->coll, filter, &out, &c->err);
    }
    for (size_t i = 0; !rc && i < out.n; i++) {
        fputs("{\"id\":", stdout);
        vec_print_string(stdout, out.items[i].id);
        fputs("}\n", stdout);
    }
    cs_records_free(&out);
    free(ids);
    return rc ? vec_fail(c) : 0;
}

int vec_cmd_query(cs__vec_ctx *c, int argc, char **argv)
{
    if (argc < 2 || !strncmp(argv[1], "--", 2)) return vec_arg_error(c, "usage: vec query NAME --vector JSON [options]");
    cs_query q;
    cs_query_init(&q);
    const char *vector = NULL, *measure = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--include-value")) { q.include_value = true; continue; }
        if (!strcmp(a, "--include-metadata")) { q.include_metadata = true; continue; }
        if (!strcmp(a, "--include-vector")) { q.include_vector = true; continue; }
        if (!v) return vec_arg_error(c, "vec query: %s needs a value", a);
        i++;
        if (!strcmp(a, "--vector")) vector = v;
        else if (!strcmp(a, "--filter")) q.filter_json = v;
        else if (!strcmp(a, "--measure")) measure = v;
        else if (!strcmp(a, "--limit")) { if (!vec_int_opt(c, a, v, &q.limit)) return vec_fail(c); }
        else if (!strcmp(a, "--probes")) { if (!vec_int_opt(c, a, v, &q.probes)) return vec_fail(c); }
        else if (!strcmp(a, "--ef-search")) { if (!vec_int_opt(c, a, v, &q.ef_search)) return vec_fail(c); }
        else return vec_arg_error(c, "vec query: unknown option '%s'", a);
    }
    if (!vector) return vec_arg_error(c, "vec query needs --vector JSON");
    /* An unknown measure travels as an out-of-range value so the library reports it in
     * vecs' order (after probes and limit). */
    if (measure && cs_measure_parse(measure, &q.measure, &c->err)) q.measure = (cs_measure)99;
    float *vec = NULL;
    int dim = 0;
    if (cs_vector_parse_json(vector, &vec, &dim, &c->err)) return vec_fail(c);
    q.vector = vec;
    q.vector_dim = dim;
    cs_records out;
    memset(&out, 0, sizeof out);
    int rc = vec_open_collection(c, argv[1], true);
    if (!rc) rc = cs_collection_query(c->coll, &q, &out, &c->err);
    if (rc && rc == CS_E_ARG && measure && (int)q.measure == 99 && strstr(c->err.msg, "index measure"))
        cs_error_set(&c->err, CS_E_ARG, "Invalid index measure '%s'", measure);
    if (!rc) {
        /* The library words this warning as vecs does (it names the Python method); the
         * CLI names its own command. */
        if (out.warning && strstr(out.warning, "covering index"))
            fprintf(stderr, "clipsearch: warning: no index of '%s' covers %s queries: this one "
                            "was an exact scan (clipsearch vec create-index %s --measure %s)\n",
                    argv[1], cs_measure_name(q.measure), argv[1], cs_measure_name(q.measure));
        else if (out.warning)
            fprintf(stderr, "clipsearch: warning: %s\n", out.warning);
        /* After the query: a filter that does not parse was reported by it. */
        char *fw = NULL;
        cs_error ignored = {0};
        if (q.filter_json && cs_collection_filter_warnings(c->coll, q.filter_json, &fw, &ignored) == 0 && fw)
            fprintf(stderr, "clipsearch: warning: filter: %s\n", fw);
        free(fw);
        for (size_t i = 0; i < out.n; i++)
            vec_print_record(stdout, &out.items[i], q.include_value, q.include_metadata,
                             q.include_vector, dim);
    }
    cs_records_free(&out);
    free(vec);
    return rc ? vec_fail(c) : 0;
}
