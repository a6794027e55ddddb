/* Query algebra: a query text split into weighted text and image terms (rclip's syntax,
 * documented in query.h), and the terms' combined query vector. */
#include "clipsearch/query.h"
#include "app/query_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cs_query_terms_free(cs_query_terms *terms)
{
    if (!terms) return;
    for (size_t i = 0; i < terms->n; i++) free(terms->items[i].value);
    free(terms->items);
    terms->items = NULL;
    terms->n = 0;
}

int cs_query_terms_add(cs_query_terms *terms, cs_term_kind kind, const char *value,
                       float weight, cs_error *err)
{
    if (!isfinite(weight) || weight == 0)
        return cs_error_set(err, CS_E_ARG, "the weight of '%s' must be a finite number other "
                                           "than 0 (got %g)", value, weight);
    if (!value || !*value)
        return cs_error_set(err, CS_E_ARG, "a query term is empty");
    cs_query_term *items = realloc(terms->items, (terms->n + 1) * sizeof *items);
    if (!items) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    terms->items = items;
    char *copy = strdup(value);
    if (!copy) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    items[terms->n++] = (cs_query_term){kind, copy, weight, NULL};
    return 0;
}

static bool is_image_term(const char *s)
{
    return s[0] == '/' || !strncmp(s, "./", 2) || !strncmp(s, "../", 3) || !strncmp(s, "~/", 2);
}

/* One term's text (between operators, untrimmed), its sign from the operator before it. */
static int add_piece(cs_query_terms *terms, const char *p, size_t len, float sign, char op,
                     cs_error *err)
{
    while (len && isspace((unsigned char)*p)) p++, len--;
    while (len && isspace((unsigned char)p[len - 1])) len--;
    if (!len) {
        if (op) return cs_error_set(err, CS_E_ARG, "nothing after '%c' in the query", op);
        return cs_error_set(err, CS_E_ARG, "the query is empty");
    }
    char *piece = strndup(p, len);
    if (!piece) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    /* "W:term": W is a number written up to the colon, nothing else. */
    double w = 1;
    char *body = piece, *colon = strchr(piece, ':');
    if (colon && colon > piece) {
        char *end;
        double v = strtod(piece, &end);
        if (end == colon) {
            if (!isfinite(v) || v == 0) {
                int rc = cs_error_set(err, CS_E_ARG, "the weight in '%s' must be a finite "
                                                     "number other than 0", piece);
                free(piece);
                return rc;
            }
            w = v;
            body = colon + 1;
            while (isspace((unsigned char)*body)) body++;
        }
    }
    int rc = 0;
    if (!*body) {
        rc = cs_error_set(err, CS_E_ARG, "the query term '%s' has a weight but nothing to weigh",
                          piece);
    } else if (is_image_term(body)) {
        char *path = body;
        char *expanded = NULL;
        if (!strncmp(body, "~/", 2)) {
            const char *home = getenv("HOME");
            if (!home || !*home) {
                rc = cs_error_set(err, CS_E_ARG, "cannot expand '%s': $HOME is not set", body);
            } else if ((expanded = malloc(strlen(home) + strlen(body))) == NULL) {
                rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            } else {
                strcpy(expanded, home);
                strcat(expanded, body + 1);
                path = expanded;
            }
        }
        if (rc == 0) rc = cs_query_terms_add(terms, CS_TERM_IMAGE, path, (float)(sign * w), err);
        free(expanded);
    } else {
        rc = cs_query_terms_add(terms, CS_TERM_TEXT, body, (float)(sign * w), err);
    }
    free(piece);
    return rc;
}

int cs_query_terms_parse(const char *query, cs_query_terms *terms, cs_error *err)
{
    size_t n0 = terms->n;
    const char *start = query;
    float sign = 1;
    char op = 0;
    int rc = 0;
    for (const char *p = query;; p++) {
        /* '+' or '-' at the start of a word begins a term ("t-shirt" stays one word). */
        bool at_word = p == query || isspace((unsigned char)p[-1]);
        bool is_op = *p && (*p == '+' || *p == '-') && at_word;
        if (!*p || is_op) {
            bool blank = true;
            for (const char *q = start; q < p; q++) blank = blank && isspace((unsigned char)*q);
            /* A leading operator ("-fruit", "+ dog") has nothing before it to close. */
            if (!(is_op && blank && start == query && op == 0 && terms->n == n0))
                rc = add_piece(terms, start, (size_t)(p - start), sign, op, err);
            if (rc != 0 || !*p) break;
            sign = *p == '-' ? -1.0f : 1.0f;
            op = *p;
            start = p + 1;
        }
    }
    if (rc != 0) {
        /* Nothing appended on error. */
        while (terms->n > n0) free(terms->items[--terms->n].value);
    }
    return rc;
}

int cs_query_terms_first_image(const cs_query_terms *terms)
{
    for (size_t i = 0; i < terms->n; i++)
        if (terms->items[i].kind == CS_TERM_IMAGE) return (int)i;
    return -1;
}

static int embed_image_term(const cs_clip *model, const char *path, bool exif, float *out,
                            cs_error *err)
{
    cs_image_options opt;
    cs_image_options_init(&opt);
    opt.apply_exif_orientation = exif;
    cs_image img = {0};
    int rc = cs_image_decode_file(path, &opt, &img, NULL, err);
    if (rc == 0) rc = cs_clip_embed_image(model, &img, out, err);
    cs_image_free(&img);
    if (rc != 0) cs_error_prefix(err, "query image %s", path);
    return rc;
}

int cs__query_embed_terms(const cs_clip *model, const cs_search_request *req, float *out,
                          cs_error *err)
{
    const cs_query_terms *t = req->terms;
    float wt = req->text_weight, wi = req->image_weight;
    if (!isfinite(wt) || !isfinite(wi) || wt < 0 || wi < 0 || wt + wi <= 0)
        return cs_error_set(err, CS_E_ARG,
                            "text and image weights must be finite, >= 0 and not both 0 "
                            "(got %g and %g)", wt, wi);
    size_t dim = (size_t)cs_clip_embed_dim(model);
    float *part = malloc(dim * sizeof *part);
    if (!part) return cs_error_set(err, CS_E_NOMEM, "out of memory (query vector)");
    memset(out, 0, dim * sizeof *out);
    int rc = 0;
    for (size_t i = 0; i < t->n && rc == 0; i++) {
        const cs_query_term *term = &t->items[i];
        if (term->kind == CS_TERM_TEXT) {
            const char *text = term->value;
            rc = cs_clip_embed_texts(model, &text, 1, part, err);
        } else if (term->image) {
            rc = cs_clip_embed_image(model, term->image, part, err);
        } else {
            rc = embed_image_term(model, term->value, req->apply_exif_orientation, part, err);
        }
        if (rc != 0) break;
        if (t->n == 1 && term->weight > 0) {
            /* One term: its own direction, exactly as a plain text or image query. */
            cs_l2_normalize(part, dim);
            memcpy(out, part, dim * sizeof *out);
            free(part);
            return 0;
        }
        /* Each part normalised first, so the weights, not the raw norms, set the mix. */
        cs_l2_normalize(part, dim);
        float w = term->weight * (term->kind == CS_TERM_TEXT ? wt : wi);
        for (size_t j = 0; j < dim; j++) out[j] += w * part[j];
    }
    free(part);
    if (rc != 0) return rc;
    double norm2 = 0;
    for (size_t j = 0; j < dim; j++) norm2 += (double)out[j] * out[j];
    /* "dog - dog": no direction left to search in. */
    if (!(norm2 > 1e-12))
        return cs_error_set(err, CS_E_ARG, "the query's terms cancel out: nothing left to "
                                           "search for");
    cs_l2_normalize(out, dim);
    return 0;
}
