/* clipsearch duplicates: exact copies and near-duplicate groups of one collection
 * (clipsearch/duplicates.h) as a table, JSON lines or an HTML gallery page. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pathid.h"
#include "cli/cli_model.h"
#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "clipsearch/duplicates.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: clipsearch duplicates [options]\n"
        "\n"
        "Groups the records of a collection that are exact copies (same content hash in\n"
        "the metadata, as `index` writes; without a hash: identical vector and size) or\n"
        "near-duplicates (cosine similarity >= the threshold: bursts, resized or\n"
        "re-encoded copies). Pairs are joined into groups transitively. Largest groups\n"
        "first; in a group the largest image (pixels, then bytes) first. Every pair is\n"
        "compared exactly (blocked matrix products).\n"
        "\n"
        "options:\n"
        "  --threshold S         cosine similarity for near-duplicates, 0 < S <= 1\n"
        "                        (default %.2f)\n"
        "  --limit N             print (and put in --html) only the first N groups\n"
        "  --json                one JSON object per group per line: group, kind, size,\n"
        "                        max_similarity, min_similarity, members[{id, path, bytes,\n"
        "                        width, height, hash, copy, similarity}]\n"
        "  --html FILE           also write a self-contained HTML page of the groups\n"
        "  --db URL              store (default $CLIPSEARCH_DB or the user data dir)\n"
        "  --collection NAME     collection (default image_vectors)\n"
        "\n"
        "In the table, members marked =K (copy K in JSON) are exact copies of each other;\n"
        "'best' is a member's highest similarity to another member of its group.\n",
        CS_DUP_DEFAULT_THRESHOLD);
}

static json_t *int_or_null(int64_t v)
{
    return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

static void print_json(FILE *out, const cs_dup_group *g, size_t index)
{
    json_t *o = json_object();
    json_object_set_new(o, "group", json_integer((json_int_t)index));
    json_object_set_new(o, "kind", json_string(cs_dup_group_kind(g)));
    json_object_set_new(o, "size", json_integer((json_int_t)g->n));
    json_object_set_new(o, "max_similarity", json_real(g->max_similarity));
    json_object_set_new(o, "min_similarity", json_real(g->min_similarity));
    json_t *members = json_array();
    for (size_t i = 0; i < g->n; i++) {
        const cs_dup_member *m = &g->members[i];
        json_t *mo = json_object();
        char *path = NULL;
        json_object_set_new(mo, "id", json_string(m->id));
        /* The file the id names (base/pathid.h); a path that is not UTF-8 cannot be a
         * JSON string, so it stays null and the id (lossless) is the reference. */
        json_t *p = cs__path_from_id(m->id, &path, NULL) == 0 ? json_string(path) : NULL;
        json_object_set_new(mo, "path", p ? p : json_null());
        free(path);
        json_object_set_new(mo, "bytes", int_or_null(m->bytes));
        json_object_set_new(mo, "width", int_or_null(m->width));
        json_object_set_new(mo, "height", int_or_null(m->height));
        json_object_set_new(mo, "hash", m->hash ? json_string(m->hash) : json_null());
        json_object_set_new(mo, "copy", json_integer(m->copy));
        json_object_set_new(mo, "similarity", json_real(m->similarity));
        json_array_append_new(members, mo);
    }
    json_object_set_new(o, "members", members);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (s) fprintf(out, "%s\n", s);
    free(s);
    json_decref(o);
}

static void print_text(FILE *out, const cs_dup_group *g, size_t index)
{
    const char *kind = cs_dup_group_kind(g);
    fprintf(out, "group %zu: %zu records, %s, similarity %.4f-%.4f\n", index, g->n,
            !strcmp(kind, "exact") ? "exact copies"
            : !strcmp(kind, "near") ? "near-duplicates"
                                    : "exact copies and near-duplicates",
            g->min_similarity, g->max_similarity);
    fprintf(out, "  %-4s %6s %12s %11s  %s\n", "copy", "best", "bytes", "size", "path");
    for (size_t i = 0; i < g->n; i++) {
        const cs_dup_member *m = &g->members[i];
        char copy[16] = "", bytes[24] = "-", dims[32] = "-";
        if (m->copy) snprintf(copy, sizeof copy, "=%d", m->copy);
        if (m->bytes >= 0) snprintf(bytes, sizeof bytes, "%lld", (long long)m->bytes);
        if (m->width >= 0 && m->height >= 0)
            snprintf(dims, sizeof dims, "%dx%d", m->width, m->height);
        fprintf(out, "  %-4s %6.4f %12s %11s  %s\n", copy, m->similarity, bytes, dims, m->id);
    }
    fputc('\n', out);
}

static const char *parse_threshold(const char *s, void *target)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0 && v <= 1))
        return "needs a cosine similarity in (0, 1], got '%s'";
    *(double *)target = v;
    return NULL;
}

int cmd_duplicates(int argc, char **argv)
{
    cs_dup_options dopt;
    cs_dup_options_init(&dopt);
    const char *db = NULL, *coll_name = "image_vectors", *html = NULL;
    bool json = false;
    int limit = 0;
    const cs__cli_option opts[] = {
        CLI_PARSE("--threshold", &dopt.threshold, parse_threshold),
        CLI_INT("--limit", &limit, 1, 1000000000, "needs an integer >= 1, got '%s'"),
        CLI_SET("--json", &json),
        CLI_STRING("--html", &html),
        CLI_STRING("--db", &db),
        CLI_STRING("--collection", &coll_name),
        CLI_END};
    int first, status = cli_parse_options("duplicates", usage, CLI_SEE_HELP | CLI_NAME_LETTER,
                                          opts, argc, argv, &first);
    if (status != CLI_GO_ON) return status;
    if (first < argc)
        return cli_usage_error("duplicates", "unexpected argument '%s' (see --help)", argv[first]);

    cs_error err = {0};
    cs_store *store = NULL;
    cs_collection *coll = NULL;
    cs_dup_groups groups = {0};
    /* Read-only: a missing database or collection says what to index and creates
     * nothing (the helper prints it). */
    status = cli_open_collection(db, coll_name, &store, &coll);
    if (status == 0 && cs_duplicates_find(coll, &dopt, &groups, &err) != 0) {
        status = cli_fail(&err);
    } else if (status == 0) {
        size_t shown = limit > 0 && (size_t)limit < groups.n ? (size_t)limit : groups.n;
        size_t in_groups = 0;
        for (size_t i = 0; i < groups.n; i++) in_groups += groups.items[i].n;
        for (size_t i = 0; i < shown; i++) {
            if (json) print_json(stdout, &groups.items[i], i + 1);
            else print_text(stdout, &groups.items[i], i + 1);
        }
        if (!json) {
            if (groups.n == 0)
                printf("no duplicates among %zu records (threshold %.4f)\n", groups.records,
                       dopt.threshold);
            else
                printf("%zu group%s (%zu shown), %zu records in groups, of %zu compared "
                       "(threshold %.4f)\n",
                       groups.n, groups.n == 1 ? "" : "s", shown, in_groups, groups.records,
                       dopt.threshold);
        }
        fflush(stdout);
        if (html) {
            cs_dup_html_options h;
            cs_dup_html_options_init(&h);
            h.title = coll_name;
            h.threshold = dopt.threshold;
            h.records = groups.records;
            if (cs_duplicates_write_html(html, groups.items, shown, &h, &err) != 0)
                status = cli_fail(&err);
            else
                fprintf(stderr, "clipsearch: wrote %s\n", html);
        }
    }
    cs_dup_groups_free(&groups);
    if (coll) cs_collection_free(coll);
    if (store) cs_store_close(store);
    return status;
}
