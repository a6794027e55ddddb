/* clipsearch vec: raw vecs operations (DESIGN.md §3.5). JSON lines on stdout; errors as
 * one "clipsearch: <Category>: <message>" line on stderr with a non-zero exit. This file:
 * dispatch, --db, output helpers, and the collection-level commands (list, create,
 * describe, drop, create-index); record commands live in cmd_vec_records.c. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/vec_util.h"

int vec_open_store(cs__vec_ctx *c, bool read_only)
{
    char *url = cli_resolve_db(c->db, !read_only, &c->err);
    if (!url) return c->err.code ? c->err.code : CS_E_NOMEM;
    int rc = cs_store_open_ex(url, read_only ? CS_STORE_READ_ONLY : 0, &c->store, &c->err);
    if (rc == CS_E_STORE_NOT_FOUND) {
        char cmd[2048];
        cli_index_command(c->db, NULL, NULL, cmd, sizeof cmd);
        size_t n = strlen(c->err.msg);
        snprintf(c->err.msg + n, sizeof c->err.msg - n,
                 " (nothing indexed yet: run %s, or vec create)", cmd);
    }
    free(url);
    return rc;
}

int vec_open_collection(cs__vec_ctx *c, const char *name, bool read_only)
{
    int rc = vec_open_store(c, read_only);
    return rc ? rc : cs_store_get(c->store, name, &c->coll, &c->err);
}

void vec_close(cs__vec_ctx *c)
{
    cs_collection_free(c->coll);
    cs_store_close(c->store);
    c->coll = NULL;
    c->store = NULL;
}

int vec_arg_error(cs__vec_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    c->err.code = CS_E_ARG;
    c->err.remedy = CS_REMEDY_NONE;   /* not a hint left by an earlier error */
    return cli_fail(&c->err);
}

int vec_fail(cs__vec_ctx *c)
{
    return cli_fail(&c->err);
}

bool vec_int_opt(cs__vec_ctx *c, const char *opt, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    /* INT_MIN is kept out: the library reads it as "not given" (CS_INDEX_ARG_DEFAULT). */
    if (!s || !*s || *end || errno || v <= INT_MIN || v > INT_MAX) {
        cs_error_set(&c->err, CS_E_ARG, "%s needs an integer, not '%s'", opt, s ? s : "");
        return false;
    }
    *out = (int)v;
    return true;
}

void vec_print_string(FILE *f, const char *s)
{
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    fputs(t ? t : "null", f);
    free(t);
    json_decref(j);
}

void vec_print_vector(FILE *f, const float *v, int dim)
{
    fputc('[', f);
    for (int i = 0; i < dim; i++) fprintf(f, i ? ",%.9g" : "%.9g", (double)v[i]);
    fputc(']', f);
}

void vec_print_record(FILE *f, const cs_record *r, bool value, bool metadata, bool vector, int dim)
{
    fputs("{\"id\":", f);
    vec_print_string(f, r->id);
    if (value) {
        /* A NaN distance (zero-norm vector under cosine) prints as NaN, as Python's json
         * module writes vecs' float('nan'). */
        if (r->value != r->value) fputs(",\"value\":NaN", f);
        else fprintf(f, ",\"value\":%.17g", r->value);
    }
    /* vecs' column order: id, value, vector, metadata (spec §6). */
    if (vector && r->vector) {
        fputs(",\"vector\":", f);
        vec_print_vector(f, r->vector, dim);
    }
    if (metadata) fprintf(f, ",\"metadata\":%s", r->metadata_json ? r->metadata_json : "{}");
    fputs("}\n", f);
}

static int need_name(cs__vec_ctx *c, int argc, char **argv, const char *cmd)
{
    if (argc < 2 || !strncmp(argv[1], "--", 2)) {
        vec_arg_error(c, "vec %s needs a collection NAME", cmd);
        return -1;
    }
    return 0;
}

static int cmd_list(cs__vec_ctx *c, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) return vec_arg_error(c, "vec list takes no arguments");
    cs_collection_info *infos = NULL;
    size_t n = 0;
    if (vec_open_store(c, true) || cs_store_list(c->store, &infos, &n, &c->err)) return vec_fail(c);
    for (size_t i = 0; i < n; i++) {
        fputs("{\"name\":", stdout);
        vec_print_string(stdout, infos[i].name);
        printf(",\"dimension\":%d}\n", infos[i].dimension);
    }
    cs_collection_info_free(infos, n);
    return 0;
}

static int cmd_create(cs__vec_ctx *c, int argc, char **argv)
{
    if (need_name(c, argc, argv, "create")) return 1;
    int dim = 0;
    bool have_dim = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--dim") && i + 1 < argc) {
            if (!vec_int_opt(c, "--dim", argv[++i], &dim)) return vec_fail(c);
            have_dim = true;
        } else {
            return vec_arg_error(c, "vec create: unexpected argument '%s'", argv[i]);
        }
    }
    if (!have_dim) return vec_arg_error(c, "vec create needs --dim N");
    if (vec_open_store(c, false) || cs_store_get_or_create(c->store, argv[1], dim, &c->coll, &c->err))
        return vec_fail(c);
    fputs("{\"name\":", stdout);
    vec_print_string(stdout, cs_collection_name(c->coll));
    printf(",\"dimension\":%d}\n", cs_collection_dimension(c->coll));
    return 0;
}

static int cmd_describe(cs__vec_ctx *c, int argc, char **argv)
{
    if (need_name(c, argc, argv, "describe")) return 1;
    if (argc > 2) return vec_arg_error(c, "vec describe: unexpected argument '%s'", argv[2]);
    int64_t count = 0;
    char *ix = NULL, *attrs = NULL;
    if (vec_open_collection(c, argv[1], true) || cs_collection_count(c->coll, &count, &c->err) ||
        cs_collection_index(c->coll, &ix, &c->err) ||
        cs_collection_get_attrs(c->coll, &attrs, &c->err)) {
        free(ix);
        return vec_fail(c);
    }
    fputs("{\"name\":", stdout);
    vec_print_string(stdout, cs_collection_name(c->coll));
    printf(",\"dimension\":%d,\"count\":%lld,\"index\":", cs_collection_dimension(c->coll),
           (long long)count);
    if (ix) vec_print_string(stdout, ix);
    else fputs("null", stdout);
    /* The model record (model_record.h) as stored, null when the collection has none
     * (e.g. written by Python vecs). The attributes are a JSON object by construction. */
    const char *rec = attrs ? strstr(attrs, "\"model_record\":") : NULL;
    fputs(",\"model_record\":", stdout);
    if (rec) {
        json_t *a = json_loads(attrs, 0, NULL);
        char *r = a ? json_dumps(json_object_get(a, "model_record"), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        fputs(r ? r : "null", stdout);
        free(r);
        json_decref(a);
    } else {
        fputs("null", stdout);
    }
    cs_vector_copy copy = CS_VECTOR_COPY_NONE;
    if (cs_collection_vector_copy(c->coll, &copy, &c->err)) {
        free(ix);
        free(attrs);
        return vec_fail(c);
    }
    printf(",\"vector_copy\":\"%s\"}\n", cs_vector_copy_name(copy));
    free(ix);
    free(attrs);
    return 0;
}

/* clipsearch extension: the compressed copy the exact scan reads first (store.h). */
static int cmd_vector_copy(cs__vec_ctx *c, int argc, char **argv)
{
    if (need_name(c, argc, argv, "vector-copy")) return 1;
    if (argc != 3) return vec_arg_error(c, "vec vector-copy needs NAME and one of none, fp16, int8");
    cs_vector_copy copy;
    if (cs_vector_copy_parse(argv[2], &copy, &c->err)) return vec_fail(c);
    if (vec_open_collection(c, argv[1], false) ||
        cs_collection_set_vector_copy(c->coll, copy, &c->err))
        return vec_fail(c);
    fputs("{\"name\":", stdout);
    vec_print_string(stdout, cs_collection_name(c->coll));
    printf(",\"vector_copy\":\"%s\"}\n", cs_vector_copy_name(copy));
    return 0;
}

static int cmd_drop(cs__vec_ctx *c, int argc, char **argv)
{
    if (need_name(c, argc, argv, "drop")) return 1;
    if (argc > 2) return vec_arg_error(c, "vec drop: unexpected argument '%s'", argv[2]);
    if (vec_open_store(c, false) || cs_store_drop(c->store, argv[1], &c->err)) return vec_fail(c);
    return 0;
}

static int cmd_create_index(cs__vec_ctx *c, int argc, char **argv)
{
    if (need_name(c, argc, argv, "create-index")) return 1;
    cs_index_spec spec;
    cs_index_spec_init(&spec);
    const char *method = NULL, *measure = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-replace")) { spec.replace = false; continue; }
        if (!v) return vec_arg_error(c, "vec create-index: %s needs a value", a);
        i++;
        if (!strcmp(a, "--method")) method = v;
        else if (!strcmp(a, "--measure")) measure = v;
        else if (!strcmp(a, "--m")) { if (!vec_int_opt(c, a, v, &spec.m)) return vec_fail(c); }
        else if (!strcmp(a, "--ef-construction")) { if (!vec_int_opt(c, a, v, &spec.ef_construction)) return vec_fail(c); }
        else if (!strcmp(a, "--n-lists")) { if (!vec_int_opt(c, a, v, &spec.n_lists)) return vec_fail(c); }
        else return vec_arg_error(c, "vec create-index: unknown option '%s'", a);
    }
    /* Unknown names travel as out-of-range values so that the library reports them in
     * vecs' order (method first, measure last). */
    if (method) {
        if (!strcmp(method, "auto")) spec.method = CS_INDEX_AUTO;
        else if (!strcmp(method, "hnsw")) spec.method = CS_INDEX_HNSW;
        else if (!strcmp(method, "ivfflat")) spec.method = CS_INDEX_IVFFLAT;
        else spec.method = (cs_index_method)99;
    }
    if (measure && cs_measure_parse(measure, &spec.measure, &c->err)) spec.measure = (cs_measure)99;
    int rc = vec_open_collection(c, argv[1], false);
    if (!rc) rc = cs_collection_create_index(c->coll, &spec, &c->err);
    if (rc) {
        if (rc == CS_E_ARG && method && (int)spec.method == 99 && strstr(c->err.msg, "index method"))
            cs_error_set(&c->err, CS_E_ARG, "invalid index method '%s' (auto, hnsw or ivfflat)", method);
        else if (rc == CS_E_ARG && measure && (int)spec.measure == 99 && strstr(c->err.msg, "index measure"))
            cs_error_set(&c->err, CS_E_ARG, "Unknown index measure '%s'", measure);
        return vec_fail(c);
    }
    char *ix = NULL;
    if (cs_collection_index(c->coll, &ix, &c->err)) return vec_fail(c);
    fputs("{\"name\":", stdout);
    vec_print_string(stdout, cs_collection_name(c->coll));
    fputs(",\"index\":", stdout);
    vec_print_string(stdout, ix ? ix : "");
    fputs("}\n", stdout);
    free(ix);
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: clipsearch vec <command> [--db URL] ...\n"
          "  list                                   collections as {\"name\",\"dimension\"}\n"
          "  create NAME --dim N                    get or create a collection\n"
          "  describe NAME                          {\"name\",\"dimension\",\"count\",\"index\",\"model_record\",\n"
          "                                          \"vector_copy\"}\n"
          "  drop NAME                              delete a collection (missing is fine)\n"
          "  upsert NAME < records.jsonl            {\"id\",\"vector\",\"metadata\"} per line, one transaction\n"
          "  fetch NAME ID...                       records {\"id\",\"vector\",\"metadata\"}\n"
          "  get NAME ID                            one record or NotFound\n"
          "  delete NAME (--ids ID... | --filter JSON)   prints the deleted ids\n"
          "  query NAME --vector JSON [--limit K] [--filter JSON] [--measure M]\n"
          "        [--include-value] [--include-metadata] [--include-vector]\n"
          "        [--probes N] [--ef-search N]\n"
          "  create-index NAME [--method auto|hnsw|ivfflat] [--measure M] [--m N]\n"
          "        [--ef-construction N] [--n-lists N] [--no-replace]\n"
          "  vector-copy NAME none|fp16|int8        SQLite: a compressed copy the exact query scans\n"
          "                                         first (same results, fewer bytes read)\n"
          "measures: cosine_distance (default), l2_distance, max_inner_product, l1_distance\n",
          f);
}

int cmd_vec(int argc, char **argv)
{
    int status = cli_dispatch_help(argc, argv, usage);
    if (status != CLI_GO_ON) return status;
    cs__vec_ctx c = {0};
    /* --db URL / --db=URL may appear anywhere; remove it before the sub-command parses. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) return 1;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc) c.db = argv[++i];
        else if (!strncmp(argv[i], "--db=", 5)) c.db = argv[i] + 5;
        else args[n++] = argv[i];
    }
    static const struct {
        const char *name;
        int (*run)(cs__vec_ctx *, int, char **);
    } CMDS[] = {
        {"list", cmd_list}, {"create", cmd_create}, {"describe", cmd_describe},
        {"drop", cmd_drop}, {"create-index", cmd_create_index}, {"vector-copy", cmd_vector_copy}, {"upsert", vec_cmd_upsert},
        {"fetch", vec_cmd_fetch}, {"get", vec_cmd_get}, {"delete", vec_cmd_delete},
        {"query", vec_cmd_query},
    };
    int rc = -1;
    for (size_t i = 0; i < sizeof CMDS / sizeof CMDS[0]; i++)
        if (n > 0 && !strcmp(args[0], CMDS[i].name)) rc = CMDS[i].run(&c, n, args);
    if (rc == -1) rc = vec_arg_error(&c, "unknown vec command '%s' (see clipsearch vec --help)",
                                     n > 0 ? args[0] : "");
    vec_close(&c);
    free(args);
    if (fflush(stdout) && !rc) {
        fprintf(stderr, "clipsearch: IOError: cannot write to stdout\n");
        rc = 1;
    }
    return rc;
}
