/* Exact copies and near-duplicates within one collection: records with the same content
 * (the indexer's metadata "hash") and records whose vectors have a cosine similarity
 * >= a threshold (bursts, resized or re-encoded copies), joined into groups (union-find
 * over every such pair). Owned by src/app/duplicates*.c.
 *
 * All pairs are compared, exactly: the L2-normalised vectors are multiplied block by
 * block (row blocks of block_rows against panels of 4 * block_rows, one GEMM each via the
 * project's sgemm wrapper), and only pairs at or above the threshold are kept, so memory
 * is the vectors plus one block product (16 MiB by default), never an n x n matrix. The
 * work is n^2/2 dot products (bench/bench_duplicates.c).
 *
 * With int8_prefilter (the default) and a build with oneDNN, the products are computed in
 * int8 (vectors quantised with one scale, 7 bits, oneDNN's u8s8s32 GEMM: about twice the
 * float rate) to pick candidates: every pair whose int8 estimate is within the proven
 * quantisation error bound of the threshold is recomputed in float and kept only if it
 * reaches it. The groups are the same as the float pass's (up to float rounding at the
 * threshold itself); thresholds too low for the bound to prune (below about 0.6) and
 * builds without oneDNN use the float pass. */
#ifndef CLIPSEARCH_DUPLICATES_H
#define CLIPSEARCH_DUPLICATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clipsearch/error.h"
#include "clipsearch/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CS_DUP_DEFAULT_THRESHOLD 0.95

typedef struct cs_dup_options {
    double threshold;           /* cosine similarity, 0 < t <= 1 (default 0.95) */
    int block_rows;             /* rows per GEMM block, 16..65536 (default 1024) */
    bool int8_prefilter;        /* default true: see below */
} cs_dup_options;

void cs_dup_options_init(cs_dup_options *opt);
/* CS_E_ARG naming the field when an option is out of range (a NaN threshold too). */
int cs_dup_options_check(const cs_dup_options *opt, cs_error *err);

typedef struct cs_dup_member {
    size_t row;                 /* index of the record in the input (core) */
    int copy;                   /* 0: no other member has this content; k >= 1: members
                                   with the same k are exact copies (same content key),
                                   numbered in member order */
    double similarity;          /* highest cosine similarity to another member */
    /* Filled by cs_duplicates_find (NULL / -1 from cs_duplicates_group): */
    char *id;
    char *hash;                 /* metadata "hash", NULL when the record has none */
    int64_t bytes;              /* metadata "bytes", -1 when unknown */
    int width, height;          /* metadata "width"/"height", -1 when unknown */
} cs_dup_member;

typedef struct cs_dup_group {
    cs_dup_member *members;
    size_t n;                   /* >= 2 */
    double max_similarity;      /* over every pair of members (not only the linking */
    double min_similarity;      /*   pairs: a chain a~b~c can have a, c further apart) */
    size_t copy_sets;           /* distinct contents with more than one member */
} cs_dup_group;

/* "exact" (all members are one content), "near" (no two share content) or "mixed". */
const char *cs_dup_group_kind(const cs_dup_group *g);

typedef struct cs_dup_groups {
    cs_dup_group *items;        /* largest first, then higher max_similarity, then the
                                   first member (row, or id for cs_duplicates_find) */
    size_t n;
    size_t records;             /* records compared */
    size_t pairs;               /* pairs at or above the threshold (exact links aside) */
    const char *pass;           /* how they were found: "int8" (prefilter) or "float" */
} cs_dup_groups;

void cs_dup_groups_free(cs_dup_groups *groups);

/* The core, on vectors in memory: unit holds n rows of dim floats, each L2-normalised
 * (cs_l2_normalize; an all-zero row matches nothing by similarity). content_keys (NULL,
 * or n entries that may be NULL) links rows with equal keys as exact copies whatever
 * their vectors. Similarities are float32 dot products; a pair within 1e-6 below the
 * threshold counts (rounding), so threshold 1 finds identical vectors. */
int cs_duplicates_group(const float *unit, size_t n, int dim, const char *const *content_keys,
                        const cs_dup_options *opt, cs_dup_groups *out, cs_error *err);

/* Every record of coll with its vector (cs_collection_scan, both backends), grouped as
 * above. The content key of a record is its metadata "hash" (a non-empty string, as the
 * indexer writes); a record without one (written by `vec upsert` or Python vecs) is
 * keyed by its exact vector bits plus its metadata "bytes", so identical vectors of
 * equal size count as exact copies. Members come sorted largest image first (width x
 * height, then bytes), then by id. */
int cs_duplicates_find(cs_collection *coll, const cs_dup_options *opt, cs_dup_groups *out,
                       cs_error *err);

typedef struct cs_dup_html_options {
    const char *title;          /* e.g. the collection name */
    double threshold;           /* shown on the page */
    size_t records;             /* records compared, shown on the page */
    int thumb_size;             /* default 160 */
    bool apply_exif_orientation;  /* default true */
} cs_dup_html_options;

void cs_dup_html_options_init(cs_dup_html_options *opt);

/* A self-contained HTML page of the first n groups (thumbnails as data: URIs; every
 * string escaped), written atomically (temp file + rename). Members whose id is not a
 * readable image are shown as text. */
int cs_duplicates_write_html(const char *path, const cs_dup_group *groups, size_t n,
                             const cs_dup_html_options *opt, cs_error *err);

#ifdef __cplusplus
}
#endif
#endif
