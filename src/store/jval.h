/* A small JSON value model with PostgreSQL jsonb semantics, used where jansson's is not
 * enough: numbers are kept exactly as PostgreSQL numeric text (2^53+1 or 1e-7 lose
 * nothing), objects are de-duplicated (last key wins) and kept in jsonb's key order
 * (shorter keys first, then bytes), and comparison follows jsonb's btree order
 * (spec §7.3-7.5). Used to normalise metadata, to carry filter operands exactly and by
 * the SQLite backend's SQL functions. */
#ifndef CS_STORE_JVAL_H
#define CS_STORE_JVAL_H

#include <stdbool.h>
#include <stddef.h>

/* Declared in jsonb's type order: null < string < number < bool < array < object. */
typedef enum { JV_NULL, JV_STRING, JV_NUMBER, JV_BOOL, JV_ARRAY, JV_OBJECT } cs__jv_type;

typedef struct cs__jv {
    cs__jv_type type;
    bool b;              /* JV_BOOL */
    char *s;             /* JV_STRING: UTF-8 bytes; JV_NUMBER: canonical numeric text */
    size_t len;
    struct cs__jv *items;    /* JV_ARRAY: n elements; JV_OBJECT: 2n entries key, value, ... */
    size_t n;
} cs__jv;

typedef enum {
    JV_OK = 0,
    JV_ERR_SYNTAX,       /* not JSON text at all */
    JV_ERR_VALUE,        /* JSON-like, but PostgreSQL's jsonb refuses it: NaN/Infinity,
                          * U+0000, lone surrogates, invalid UTF-8, numeric overflow */
    JV_ERR_NOMEM
} cs__jv_status;

typedef struct cs__jv_error {
    cs__jv_status status;
    char msg[160];
    /* Some string (key or value) cannot be text: it holds \u0000, an unpaired surrogate
     * or bytes that are not UTF-8. Set by any such value error, also when it is not the
     * one msg describes (lenient parsing goes on past value errors); text_msg says what
     * the first was. */
    bool not_text;
    char text_msg[96];
} cs__jv_error;

/* Parses JSON text. With `lenient`, value errors (JV_ERR_VALUE) are recorded in err but
 * parsing continues, so a caller can report structural problems first (vecs checks the
 * filter's shape before the server sees its values); the returned tree is then only fit
 * for shape inspection. Returns 0 or the cs__jv_status; *out is set on success (and on a
 * lenient value error). */
int cs__jv_parse(const char *text, size_t len, bool lenient, cs__jv *out, cs__jv_error *err);
void cs__jv_free(cs__jv *v);

/* Compact serialisation (jsonb's canonical content: key order, numeric text). malloc'd. */
char *cs__jv_serialize(const cs__jv *v, size_t *len_out);

/* jsonb btree order of two top-level values (raw scalars compare as one-element
 * arrays, so [] sorts below every scalar): <0, 0, >0. */
int cs__jv_cmp(const cs__jv *a, const cs__jv *b);
/* jsonb equality (= cmp == 0). */
bool cs__jv_equal(const cs__jv *a, const cs__jv *b);
/* Top-level `a @> scalar` where a is an array: has a scalar element equal to s. */
bool cs__jv_array_has_scalar(const cs__jv *a, const cs__jv *s);
/* The value of key in the object `o` (NULL when not an object or missing). */
const cs__jv *cs__jv_object_get(const cs__jv *o, const char *key, size_t klen);

/* Finds key in the top-level object of compact/any JSON text without building the
 * whole tree: returns 1 and the value's span, 0 when absent or not an object, <0 when
 * the text is malformed. The last occurrence wins, like jsonb. */
int cs__jv_text_find_key(const char *text, size_t len, const char *key, size_t klen,
                     const char **val, size_t *vlen);

/* The same for text known to have unique keys (normalised metadata): stops at the
 * first match. */
int cs__jv_text_find_key_unique(const char *text, size_t len, const char *key, size_t klen,
                            const char **val, size_t *vlen);

/* Canonical PostgreSQL numeric text for a JSON number lexeme (1e-7 -> 0.0000001,
 * -0 -> 0, 1.50 stays 1.50). Returns malloc'd text or NULL (overflow / OOM). */
char *cs__jv_numeric_canonical(const char *lex, size_t len, bool *overflow);
/* Compares two canonical numeric texts by value. */
int cs__jv_numeric_cmp(const char *a, size_t alen, const char *b, size_t blen);

#endif
