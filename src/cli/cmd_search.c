/* clipsearch search: text -> images, --image -> images, both mixed; a REPL when no query
 * is given on a terminal (the model and the store are opened once). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_model.h"
#include "cli/cli_options.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/search_output.h"
#include "cli/search_cli.h"
#include "clipsearch/query.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: clipsearch search [options] \"TEXT\"\n"
        "       clipsearch search [options] --image FILE [\"TEXT\"]\n"
        "       clipsearch search [options] -- \"2:dog + ./park.jpg -fruit\"\n"
        "       clipsearch search [options] --like ID\n"
        "       clipsearch search [options]            (interactive, on a terminal)\n"
        "\n"
        "Finds the records nearest to a text, an image, or a mix of several. The score is the\n"
        "cosine similarity (1 - cosine_distance). A query is one or more terms, each a text\n"
        "or an image with a weight (negative: away from it); the query vector is\n"
        "  q = normalize(sum of weight * normalize(embedding))\n"
        "Query text syntax: '+' or '-' at the start of a word begins a term (\"dog -fruit\",\n"
        "\"cat + dog\"); \"W:\" before a term weighs it (\"2:dog\", \"0.5:./a.jpg\"); a term\n"
        "starting with /, ./, ../ or ~/ is an image file. Put -- before a query that starts\n"
        "with '-'.\n"
        "\n"
        "options:\n"
        "  --image FILE          query image (repeatable); \"-FILE\" or \"W:FILE\" weigh it\n"
        "                        (when no file has that literal name)\n"
        "  --like ID             the records nearest an indexed one (its id: the path it\n"
        "                        was indexed under); nothing is encoded\n"
        "  --text-weight W       multiplies every text term's weight (default 0.5)\n"
        "  --image-weight W      multiplies every image term's weight (default 0.5)\n"
        "  -k N                  number of results, 1..1000 (default 10)\n"
        "  --filter JSON         vecs metadata filter, e.g. '{\"type\":{\"$eq\":\"jpg\"}}'\n"
        "  --min-score S         drop results whose score is below S\n"
        "  --ef-search N         with an HNSW index: its search beam, 1..1000 (default 40;\n"
        "                        100-200 finds more of the true nearest in large collections)\n"
        "  --no-exif-orientation embed the query image as stored, ignoring EXIF rotation\n"
        "  --json                one JSON object per line: rank, id, score, metadata\n"
        "  --paths               only the files' paths, one per line (for xargs)\n"
        "  --include-missing     keep results whose files no longer exist (flagged\n"
        "                        \"missing\": true in JSON, marked in the table); by default\n"
        "                        they are dropped, with a count on stderr\n"
        "  --preview             thumbnails in the terminal (chafa; only on a terminal)\n"
        "  --html FILE           also write a self-contained HTML gallery to FILE\n"
        "  --db URL              store (default $CLIPSEARCH_DB or the user data dir)\n"
        "  --collection NAME     collection (default image_vectors)\n"
        "  --model DIR           CLIP model directory (default $CLIPSEARCH_MODEL or cache)\n"
        "  --precision P         fp32 (default, the reference numbers) or bf16 (faster on\n"
        "                        CPUs with AVX512-BF16 or AMX; refused elsewhere)\n"
        "\n"
        "Interactive mode: each line is a query (same syntax); ':image PATH' queries by\n"
        "image, ':like ID' by an indexed record, ':help' lists the commands; Ctrl-D quits.\n");
}

int search_cli_run(cs__search_cli *s, const cs_query_terms *terms, const char *title,
                   const char *image, cs_error *err)
{
    cs_search_request req = s->base;
    req.terms = terms;
    cs_hits hits = {0};
    int rc = cs_search_session_run(s->session, NULL, &req, &hits, err);
    if (rc == 0) rc = search_print(stdout, &s->out, &hits, title, image, err);
    cs_hits_free(&hits);
    return rc;
}

/* An --image value: the file of that name when there is one; else "[-|+][W:]PATH"
 * weighs it ("-./x.jpg": away from x.jpg). A missing file is the decoder's error. */
static int add_image_arg(cs_query_terms *terms, const char *arg, cs_error *err)
{
    if (access(arg, F_OK) == 0) return cs_query_terms_add(terms, CS_TERM_IMAGE, arg, 1, err);
    double w = 1;
    const char *p = arg;
    if (*p == '-' || *p == '+') w = *p++ == '-' ? -1 : 1;
    const char *colon = strchr(p, ':');
    if (colon && colon > p) {
        char *end;
        double v = strtod(p, &end);
        if (end == colon) {
            w *= v;
            p = colon + 1;
        }
    }
    return cs_query_terms_add(terms, CS_TERM_IMAGE, *p ? p : arg, (float)w, err);
}

/* "TEXT", "PATH", "TEXT + image PATH + image PATH2": the heading of the results. */
static char *query_title(const char *text, const char *const *images, size_t n)
{
    size_t len = (text ? strlen(text) : 0) + 1;
    for (size_t i = 0; i < n; i++) len += strlen(images[i]) + 16;
    char *t = calloc(1, len);
    if (!t) return NULL;
    if (text) strcat(t, text);
    for (size_t i = 0; i < n; i++) {
        if (*t) strcat(t, " + image ");
        strcat(t, images[i]);
    }
    return t;
}

static bool parse_float(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* --text-weight, --image-weight (float) */
static const char *parse_weight(const char *s, void *target)
{
    double d;
    if (!parse_float(s, &d) || d < 0) return "needs a number >= 0, got '%s'";
    *(float *)target = (float)d;
    return NULL;
}

static const char *parse_min_score(const char *s, void *target)
{
    cs_search_request *req = target;
    if (!parse_float(s, &req->min_score)) return "needs a number, got '%s'";
    req->has_min_score = true;
    return NULL;
}

int cmd_search(int argc, char **argv)
{
    cs__search_cli s;
    memset(&s, 0, sizeof s);
    cs_search_request_init(&s.base);
    const char *db = NULL, *coll_name = "image_vectors", *model_dir = NULL;
    int precision = CS_PRECISION_FP32;
    /* --image values, in order (at most one per argument). */
    cs__cli_list image_args = {calloc((size_t)argc + 1, sizeof *image_args.items), 0};
    if (!image_args.items) return 1;
    const cs__cli_option opts[] = {
        CLI_LIST("--image", &image_args),
        CLI_STRING("--like", &s.base.like_id),
        CLI_PARSE("--text-weight", &s.base.text_weight, parse_weight),
        CLI_PARSE("--image-weight", &s.base.image_weight, parse_weight),
        CLI_STRING("--filter", &s.base.filter_json),
        CLI_STRING("--under", &s.base.under),
        CLI_STRING("--name", &s.base.name),
        CLI_STRING("--after", &s.base.after),
        CLI_STRING("--before", &s.base.before),
        CLI_PARSE("--min-score", &s.base, parse_min_score),
        CLI_CLEAR("--no-exif-orientation", &s.base.apply_exif_orientation),
        CLI_SET("--json", &s.out.json),
        CLI_SET("--paths", &s.out.paths),
        CLI_SET("--include-missing", &s.base.include_missing),
        CLI_SET("--preview", &s.out.preview),
        CLI_STRING("--html", &s.out.html_path),
        CLI_STRING("--db", &db),
        CLI_STRING("--collection", &coll_name),
        CLI_STRING("--model", &model_dir),
        CLI_PRECISION("--precision", &precision),
        CLI_INT("-k", &s.base.k, 1, 1000, "needs an integer 1..1000, got '%s'"),
        CLI_INT("--ef-search", &s.base.ef_search, 1, 1000, "needs an integer 1..1000, got '%s'"),
        CLI_END};
    int first, status = cli_parse_options("search", usage, CLI_SEE_HELP | CLI_NAME_LETTER, opts,
                                          argc, argv, &first);
    const char **images = image_args.items;
    size_t n_images = image_args.n;
    if (status != CLI_GO_ON) {
        free(images);
        return status;
    }
    s.out.apply_exif = s.base.apply_exif_orientation;
    if (s.out.json && s.out.paths) {
        free(images);
        return cli_usage_error("search", "--json and --paths are two output formats: pick one");
    }
    {
        /* Dates and folders are checked before the model loads: a typo is a usage error. */
        cs_error ferr = {0};
        char *filter = NULL;
        int frc = cs_search_filter_json(&s.base, &filter, &ferr);
        free(filter);
        if (frc == CS_E_ARG) {
            free(images);
            return cli_usage_error("search", "%s", ferr.msg);
        }
        if (frc != 0) {
            free(images);
            return cli_fail(&ferr);
        }
    }
    if (s.base.text_weight + s.base.image_weight <= 0) {
        free(images);
        return cli_usage_error("search", "--text-weight and --image-weight cannot both be 0");
    }

    /* Words after the options form the query text, so `search red car` works unquoted. */
    char *text = NULL;
    size_t tlen = 0;
    for (int i = first; i < argc; i++) tlen += strlen(argv[i]) + 1;
    if (tlen) {
        text = calloc(1, tlen);
        if (!text) {
            free(images);
            return 1;
        }
        for (int i = first; i < argc; i++) {
            if (i > first) strcat(text, " ");
            strcat(text, argv[i]);
        }
    }
    if (s.base.like_id && (text || n_images)) {
        free(text);
        free(images);
        return cli_usage_error("search", "--like searches near an indexed record: give it "
                                         "alone, without a text or --image");
    }
    /* No query in the arguments: queries come from stdin (a terminal or a pipe). */
    bool interactive = !text && !n_images && !s.base.like_id;
    cs_error err = {0};
    cs_query_terms terms = {0};
    char *title = NULL;
    if (!interactive && !s.base.like_id) {
        int rc = text ? cs_query_terms_parse(text, &terms, &err) : 0;
        for (size_t i = 0; i < n_images && rc == 0; i++) rc = add_image_arg(&terms, images[i], &err);
        if (rc == 0 && !(title = query_title(text, images, n_images)))
            rc = cs_error_set(&err, CS_E_NOMEM, "out of memory");
        if (rc != 0) {
            cs_query_terms_free(&terms);
            free(text);
            free(images);
            if (rc == CS_E_NOMEM) return cli_fail(&err);
            return cli_usage_error("search", "%s", err.msg);
        }
    }

    /* The session opens the collection (nothing indexed yet: said here, before the model
     * loads) and reads its vectors on a thread of its own while this one loads the model. */
    cs_clip *model = NULL;
    status = cli_open_search(db, coll_name, s.base.apply_exif_orientation, &s.session);
    if (status == 0) {
        model = cli_load_model(model_dir, precision, &err);
        int rc = model ? cs_search_session_set_model(s.session, model, &err) : err.code;
        /* Interactive: a model that does not fit is said before anything is typed. */
        if (rc == 0 && interactive) rc = cs_search_session_check(s.session, NULL, &err);
        if (rc != 0) status = cli_fail(&err);
        else if (interactive) status = search_repl(&s, isatty(STDIN_FILENO) != 0);
        else if (search_cli_run(&s, s.base.like_id ? NULL : &terms,
                                s.base.like_id ? s.base.like_id : title,
                                n_images == 1 ? images[0] : NULL, &err) != 0)
            status = cli_fail(&err);
    }
    cs_search_session_close(s.session);
    if (model) cs_clip_free(model);
    cs_query_terms_free(&terms);
    free(title);
    free(text);
    free(images);
    return status;
}
