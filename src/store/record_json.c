/* Records and vectors from JSON text (store.h: cs_record_parse_json). Parsed with jval's
 * lenient mode so that NaN/Infinity tokens reach the upsert validation, which refuses
 * them in vecs' order (dimension errors first, then values). */
#include "store/store_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/jval.h"

static int vector_from(const cs__jv *v, float **out, int *dim, cs_error *err)
{
    *out = NULL;
    *dim = 0;
    if (v->type != JV_ARRAY) return cs_error_set(err, CS_E_ARG, "vector must be a list of numbers");
    if (v->n > 1000000) return cs_error_set(err, CS_E_ARG, "vector has too many components");
    float *f = malloc((v->n ? v->n : 1) * sizeof *f);
    if (!f) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    for (size_t i = 0; i < v->n; i++) {
        const cs__jv *e = &v->items[i];
        if (e->type != JV_NUMBER) {
            free(f);
            return cs_error_set(err, CS_E_ARG, "vector component %zu is not a number", i);
        }
        /* Like pgvector-python: to float32 first (values beyond its range overflow to
         * infinity and are refused later). */
        f[i] = (float)strtod(e->s, NULL);
    }
    *out = f;
    *dim = (int)v->n;
    return 0;
}

int cs_vector_parse_json(const char *text, float **vector, int *dim, cs_error *err)
{
    *vector = NULL;
    *dim = 0;
    if (!text) return cs_error_set(err, CS_E_ARG, "vector is missing");
    cs__jv v;
    cs__jv_error je;
    int rc = cs__jv_parse(text, strlen(text), true, &v, &je);
    if (rc == JV_ERR_NOMEM) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (rc == JV_ERR_SYNTAX) return cs_error_set(err, CS_E_ARG, "vector is not valid JSON: %s", je.msg);
    rc = vector_from(&v, vector, dim, err);
    cs__jv_free(&v);
    return rc;
}

void cs_record_buf_free(cs_record_buf *r)
{
    if (!r) return;
    free(r->id);
    free(r->vector);
    free(r->metadata_json);
    memset(r, 0, sizeof *r);
}

/* Whether the value of key in the record's text holds a string that cannot be text. */
static bool field_not_text(const char *text, size_t len, const char *key)
{
    const char *vs;
    size_t vl;
    if (cs__jv_text_find_key(text, len, key, strlen(key), &vs, &vl) != 1) return false;
    cs__jv v;
    cs__jv_error je;
    if (cs__jv_parse(vs, vl, false, &v, &je) == 0) {
        cs__jv_free(&v);
        return false;
    }
    return je.not_text;
}

/* A string of the record cannot be stored as text. Lenient parsing has dropped or
 * kept what it could not decode, so going on would store an altered id or key: refused,
 * saying where. */
static int not_text_error(const char *text, size_t len, const cs__jv_error *je, cs_error *err)
{
    const char *where = field_not_text(text, len, "id")         ? "record id"
                        : field_not_text(text, len, "metadata") ? "record metadata"
                                                                 : "record";
    return cs_error_set(err, CS_E_ARG,
                        "%s is not text (%s): ids and metadata keys and values must not "
                        "contain \\u0000, unpaired surrogates or bytes that are not UTF-8",
                        where, je->text_msg);
}

int cs_record_parse_json(const char *text, size_t len, cs_record_buf *out, cs_error *err)
{
    memset(out, 0, sizeof *out);
    cs__jv v;
    cs__jv_error je;
    int rc = cs__jv_parse(text, len, true, &v, &je);
    if (rc == JV_ERR_NOMEM) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (rc == JV_ERR_SYNTAX) return cs_error_set(err, CS_E_ARG, "record is not valid JSON: %s", je.msg);
    const cs__jv *id = cs__jv_object_get(&v, "id", 2), *vec = cs__jv_object_get(&v, "vector", 6);
    if (v.type != JV_OBJECT) rc = cs_error_set(err, CS_E_ARG, "record must be a JSON object");
    else if (!id || id->type != JV_STRING) rc = cs_error_set(err, CS_E_ARG, "record id must be a string");
    else if (je.not_text) rc = not_text_error(text, len, &je, err);
    else if (!vec) rc = cs_error_set(err, CS_E_ARG, "record '%s' has no vector", id->s);
    else if (!(out->id = strdup(id->s))) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    else if ((rc = vector_from(vec, &out->vector, &out->dim, err)))
        cs_error_prefix(err, "record '%s'", id->s);
    const cs__jv *meta = cs__jv_object_get(&v, "metadata", 8);
    /* null metadata is "no metadata": vecs' default adapter turns it into {}. */
    if (!rc && meta && meta->type != JV_NULL) {
        /* Verbatim text of the metadata value; the upsert normalises and validates it. */
        const char *ms;
        size_t ml;
        if (cs__jv_text_find_key(text, len, "metadata", 8, &ms, &ml) != 1 || !(out->metadata_json = strndup(ms, ml)))
            rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    cs__jv_free(&v);
    if (rc) cs_record_buf_free(out);
    return rc;
}
