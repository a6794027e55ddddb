/* Private to src/store/: the handles behind the opaque public types and the
 * backend-independent validation helpers shared by store.c and collection*.c. */
#ifndef CS_STORE_INTERNAL_H
#define CS_STORE_INTERNAL_H

#include "clipsearch/store.h"
#include "store/backend.h"

struct cs_store {
    cs__backend *backend;
    bool read_only;
};

/* CS_E_ARG when the store was opened read-only (what names the refused operation). */
int cs__store_check_writable(const cs_store *store, const char *what, cs_error *err);

struct cs_collection {
    cs_store *store;
    char *name;
    int dim;
};

#define CS_NAME_MAX_BYTES 63
#define CS_DIM_MAX 16000
#define CS_UPSERT_BATCH 500
#define CS_QUERY_LIMIT_MAX 1000

/* Collection names: 1..63 bytes of valid UTF-8; allow_underscore false also rejects a
 * leading '_' (hidden by vecs' listing rule, so refused up front). CS_E_INVALID_NAME. */
int cs__validate_name(const char *name, bool allow_underscore, cs_error *err);

/* Checks every record before anything is written (spec §4.2): id present and valid
 * UTF-8 without NUL, vector of dims[i] (NULL: dim) finite floats, metadata valid JSON. On success
 * *norm_meta[i] holds the normalised compact metadata text (caller frees each and the
 * array). */
int cs__validate_records(const cs_collection *coll, const cs_record_in *recs, const int *dims,
                        size_t n, char ***norm_meta, cs_error *err);

/* Parses JSON metadata text with jsonb-like normalisation (duplicate keys: last wins;
 * NaN/Infinity refused; U+0000 refused) and re-serialises it compactly. NULL -> "{}". */
int cs__metadata_normalize(const char *json_text, char **out, cs_error *err);

/* create_index argument rules of spec §8 (vecs' order), resolving auto. */
int cs__index_spec_validate(const cs_index_spec *in, bool hnsw_available, cs_index_spec *out,
                           cs_error *err);
/* pgvector's range rules (spec §8), shared by the SQLite backend to emulate the server. */
int cs__index_spec_check_ranges(const cs_index_spec *spec, int dimension, cs_error *err);
/* Index name per spec §1.4 with 7 random hex digits from suffix_src. */
int cs__index_name_format(const cs_index_spec *spec, int lists, char *buf, size_t bufsize);
/* The IVFFlat default lists for n rows (spec §8). */
int cs__ivfflat_default_lists(int64_t rows);
/* Whether an index name covers measure m (substring rule of spec §1.4). */
bool cs__index_covers(const char *index_name, cs_measure m);

void cs__records_init(cs_records *r);
/* Appends a zeroed record; returns it or NULL on OOM. */
cs_record *cs__records_push(cs_records *r, cs_error *err);

#endif
