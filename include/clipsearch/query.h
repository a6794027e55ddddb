/* Queries over a collection of CLIP embeddings: text -> images, image -> images, mixed
 * text + image. Owned by src/app/query*.c and search_json.c. Zero-shot labels are in
 * labels.h, text collections in text_collection.h, the HTML gallery in gallery.h.
 *
 * Scores are cosine similarities (1 - cosine_distance), so 1 means "same direction".
 * Query vectors are L2-normalised: a mixed query is
 *     normalise(w_text * normalise(text_emb) + w_image * normalise(image_emb)),
 * which keeps each modality's contribution proportional to its weight whatever the raw
 * embedding norms are. */
#ifndef CLIPSEARCH_QUERY_H
#define CLIPSEARCH_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/clip.h"
#include "clipsearch/error.h"
#include "clipsearch/image.h"
#include "clipsearch/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- search ---------------------------------------------------------------------- */

/* ---- query algebra ----------------------------------------------------------------
 * Several texts and images in one query, each with a weight that may be negative:
 *     q = normalize(sum_i w_i * normalize(embedding_i))
 * (texts' weights are also multiplied by text_weight, images' by image_weight). The
 * query text syntax (rclip's): terms are separated by '+' or '-' at the start of a word
 * ("dog + ./park.jpg - fruit", "dog -fruit"); a term may start with a weight "W:"
 * ("2:dog", "0.5:./a.jpg"); a term that starts with "/", "./", "../" or "~/" is an
 * image file ("~/" expands to $HOME), any other is a text. A text term keeps its inner
 * words, so "red car" is one term. */
typedef enum { CS_TERM_TEXT, CS_TERM_IMAGE } cs_term_kind;

typedef struct cs_query_term {
    cs_term_kind kind;
    char *value;                /* the text, or the image's path (~ expanded) or name */
    float weight;               /* signed, never 0 */
    const cs_image *image;      /* an image term already decoded (not owned; wins over
                                   the path: an upload names no file) */
} cs_query_term;

typedef struct cs_query_terms {
    cs_query_term *items;
    size_t n;
} cs_query_terms;

/* Parses a query text into terms, appended to *terms (which may already hold some).
 * CS_E_ARG for an empty term ("dog +"), a weight that is 0 or not finite, "~/" without
 * $HOME; nothing is appended then. */
int cs_query_terms_parse(const char *query, cs_query_terms *terms, cs_error *err);
/* The index of the first image term, or -1: for front ends that take only texts in the
 * query (the web API: a path there would read the server's files). */
int cs_query_terms_first_image(const cs_query_terms *terms);
/* Appends one term (value copied). CS_E_ARG when weight is 0 or not finite. */
int cs_query_terms_add(cs_query_terms *terms, cs_term_kind kind, const char *value,
                       float weight, cs_error *err);
void cs_query_terms_free(cs_query_terms *terms);

typedef struct cs_search_request {
    /* Terms of an algebra query (used instead of text/image/image_path, which must then
     * be unset); NULL or empty = the single text/image fields below. */
    const cs_query_terms *terms;
    const char *text;           /* NULL/"" = no text part */
    const char *image_path;     /* NULL = no image part (or use image) */
    const cs_image *image;      /* an already decoded image (wins over image_path) */
    /* The id of a stored record whose vector is the query ("more like this one"):
     * nothing is encoded; terms/text/image must then be unset. */
    const char *like_id;
    float text_weight;          /* default 0.5; used only when both parts are given */
    float image_weight;         /* default 0.5 */
    int k;                      /* default 10; 1..1000 */
    /* The beam of a search through the collection's HNSW index (1..1000; more finds more
     * of the true nearest at more cost); 0 = the store's default (40, as pgvector). */
    int ef_search;
    const char *filter_json;    /* vecs filter language; NULL or "{}" = none */
    /* Filters people use, ANDed with filter_json (NULL or "" = not used). They read the
     * metadata `index` writes (records written by other tools lack it and never match): */
    const char *under;          /* a folder: files anywhere below it ("dirs" $contains) */
    const char *name;           /* text in the file name, ASCII case-insensitive */
    const char *after;          /* a date: taken at or after its start ("taken" $gte) */
    const char *before;         /* a date: taken before its start ("taken" $lt) */
    bool has_min_score;         /* drop hits with score < min_score */
    double min_score;
    bool apply_exif_orientation;  /* default true (images are embedded as displayed) */
    /* Records of image files that no longer exist (the id names an absolute path that is
     * gone) are dropped by default, and the store is asked for more so that k hits come
     * back where the collection has them (cs_hits.missing_skipped counts the dropped
     * ones). true keeps them, flagged cs_hit.missing. Text records are never checked. */
    bool include_missing;
} cs_search_request;

void cs_search_request_init(cs_search_request *req);

/* The filter a request runs with: filter_json ANDed with the clauses under/name/after/
 * before stand for, e.g. under "/photos/2024" and after "2024-06" ->
 *   {"$and":[{"dirs":{"$contains":"/photos/2024"}},{"taken":{"$gte":1717192800}}]}
 * *out is malloc'd, NULL when there is no filter. under is resolved like the indexer's
 * ids (realpath; a folder that no longer exists is made absolute textually). CS_E_ARG for
 * a date that cs_search_parse_date refuses or after >= before; CS_E_FILTER when
 * filter_json is not JSON (the store checks the rest when the query runs). */
int cs_search_filter_json(const cs_search_request *req, char **out, cs_error *err);

/* An ISO date or date-time in local time -- YYYY, YYYY-MM, YYYY-MM-DD,
 * YYYY-MM-DDTHH:MM[:SS] (a space may replace the T) -- as seconds since the epoch of its
 * first instant. CS_E_ARG otherwise (the message shows the accepted forms). */
int cs_search_parse_date(const char *text, int64_t *out, cs_error *err);

typedef struct cs_hit {
    int rank;                   /* 1-based */
    char *id;
    double score;               /* cosine similarity = 1 - cosine_distance */
    char *metadata_json;        /* never NULL ("{}" at least) */
    bool missing;               /* the file the id names no longer exists (include_missing) */
} cs_hit;

typedef struct cs_hits {
    cs_hit *items;
    size_t n;
    size_t missing_skipped;     /* records ranked among these whose files are gone, dropped */
    char *warning;              /* what is suspicious about the filter (a type that never
                                   matches, a key no record has), or NULL:
                                   cs_collection_filter_warnings */
} cs_hits;

/* Whether a record names an image file that no longer exists: its id decodes
 * (base/pathid.h) to an absolute path that is not there. Text records (metadata type
 * "text") and ids that name no local path are never missing. */
bool cs_record_file_missing(const char *id, const char *metadata_json);

void cs_hits_free(cs_hits *hits);

/* Builds the normalised query vector (cs_clip_embed_dim floats) of a request: text only,
 * image only, or the weighted mix. CS_E_ARG when neither part is given or the weights
 * are not finite / both zero; image errors name the file. */
int cs_query_embed(const cs_clip *model, const cs_search_request *req, float *out,
                   cs_error *err);

/* Top-k of a ready query vector: the store's cosine top-k, turned into hits, cut at
 * min_score, without records of vanished files unless include_missing. dim must equal the collection's dimension (CS_E_MISMATCHED_DIMENSION
 * otherwise, naming both numbers). */
int cs_query_vector(cs_collection *coll, const float *vec, int dim,
                    const cs_search_request *req, cs_hits *out, cs_error *err);

/* cs_query_embed + cs_query_vector (or, with req->like_id, the stored record's vector +
 * cs_query_vector). The collection's dimension is checked against the model's before
 * anything is embedded. */
int cs_query_run(const cs_clip *model, cs_collection *coll, const cs_search_request *req,
                 cs_hits *out, cs_error *err);

/* Makes the backend load what it keeps in memory for queries (the SQLite backend reads
 * every vector of the collection on its first query) by running a limit-1 query. Meant
 * to run on another thread while the model loads and embeds the query: the store must
 * not be used by anyone else meanwhile. */
int cs_query_warm(cs_collection *coll, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
