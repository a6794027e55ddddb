/* The model record (clipsearch/model_record.h), kept as {"model_record": {...}} in the
 * collection's attributes:
 *   {"model": {"name", "path", "fingerprint", "dim"},
 *    "preprocess": {"exif_orientation", "fast_decode"},
 *    "precision": ["fp32", "bf16"],           every precision that wrote vectors
 *    "reembed_from": {"model", "preprocess"}}  only while a re-embedding is unfinished
 * Precision is recorded but never refused: bf16 vectors agree with fp32 ones to a cosine
 * of ~0.99999, so mixing them is visible (vec describe) rather than an error. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "clipsearch/model_record.h"

static const char *precision_name(int p) { return p == CS_PRECISION_BF16 ? "bf16" : "fp32"; }

int cs_model_identity_init(cs_model_identity *id, const cs_clip *model, bool exif_orientation,
                           bool fast_decode, cs_error *err)
{
    memset(id, 0, sizeof *id);
    int rc = cs_clip_fingerprint(model, id->fingerprint, err);
    if (rc) return rc;
    const char *dir = cs_clip_model_dir(model);
    /* Absolute, so that the path in a mismatch message works from any folder. */
    char *abs = realpath(dir, NULL);
    snprintf(id->path, sizeof id->path, "%s", abs ? abs : dir);
    free(abs);
    /* The folder's own name, without trailing slashes. */
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(id->name, sizeof id->name, "%.*s", (int)(n - b), dir + b);
    id->dim = cs_clip_embed_dim(model);
    id->precision = cs_clip_precision(model);
    id->exif_orientation = exif_orientation;
    id->fast_decode = fast_decode;
    return 0;
}

void cs_model_identity_key(const cs_model_identity *id, char out[17])
{
    char buf[128], hex[CS_HASH_HEX_LEN + 1];
    int n = snprintf(buf, sizeof buf, "%s/%s/%d/%d", id->fingerprint, precision_name(id->precision),
                     id->exif_orientation, id->fast_decode);
    cs__hash128_hex(buf, (size_t)n, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

/* ---- JSON ---- */

static json_t *model_json(const cs_model_identity *id)
{
    return json_pack("{s:s, s:s, s:s, s:i}", "name", id->name, "path", id->path, "fingerprint",
                     id->fingerprint, "dim", id->dim);
}

static json_t *preprocess_json(const cs_model_identity *id)
{
    return json_pack("{s:b, s:b}", "exif_orientation", id->exif_orientation, "fast_decode",
                     id->fast_decode);
}

/* The collection's attributes (an object, new when none) and the record inside (NULL when
 * none). */
static int load(cs_collection *coll, json_t **attrs, json_t **rec, cs_error *err)
{
    char *text = NULL;
    *attrs = NULL;
    *rec = NULL;
    int rc = cs_collection_get_attrs(coll, &text, err);
    if (rc) return rc;
    *attrs = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!json_is_object(*attrs)) {
        json_decref(*attrs);
        *attrs = json_object();
        if (!*attrs) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    }
    *rec = json_object_get(*attrs, "model_record");
    if (!json_is_object(*rec)) *rec = NULL;
    return 0;
}

static int save(cs_collection *coll, json_t *attrs, cs_error *err)
{
    char *text = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    int rc = cs_collection_set_attrs(coll, text, err);
    free(text);
    return rc;
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    const char *s = json_string_value(b ? json_object_get(v, b) : v);
    return s ? s : "";
}

static int bool_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(o, a), b);
    return json_is_boolean(v) ? json_is_true(v) : -1;
}

/* "'NAME' (PATH, fingerprint 0123456789ab)" of a stored model object. */
static void describe_stored(json_t *holder, char *buf, size_t size)
{
    snprintf(buf, size, "'%s' (%s, fingerprint %.12s)", str_at(holder, "model", "name"),
             str_at(holder, "model", "path"), str_at(holder, "model", "fingerprint"));
}

static void describe_id(const cs_model_identity *id, char *buf, size_t size)
{
    snprintf(buf, size, "'%s' (%s, fingerprint %.12s)", id->name, id->path, id->fingerprint);
}

/* The collection's vectors come from another model (stored at path). */
static int other_model(cs_error *err, const char *name, const char *have, const char *want,
                       const char *path, const char *why)
{
    return cs_error_set_remedy(err, CS_E_MODEL_MISMATCH, CS_REMEDY_MATCH_MODEL,
                               "collection '%s' was built with model %s, not %s: %s. Use the "
                               "model that built it (%s), re-embed the collection with this "
                               "one, or use another collection",
                               name, have, want, why, path);
}

/* The collection was indexed with (had) or without a preprocessing option that this run
 * does (verb) otherwise. */
static int other_preprocess(cs_error *err, const char *name, int had, const char *option,
                            const char *verb)
{
    return cs_error_set_remedy(err, CS_E_MODEL_MISMATCH, CS_REMEDY_MATCH_PREPROCESS,
                               "collection '%s' was indexed %s %s; this run %s it. Use the "
                               "same option, re-embed every record with this one, or use "
                               "another collection",
                               name, had ? "with" : "without", option, verb);
}

int cs_model_record_check(cs_collection *coll, const cs_model_identity *id, cs_model_use use,
                          char **warning, cs_error *err)
{
    *warning = NULL;
    json_t *attrs, *rec;
    int rc = load(coll, &attrs, &rec, err);
    if (rc) return rc;
    const char *name = cs_collection_name(coll);
    char have[4500], want[4500], msg[9500];
    describe_id(id, want, sizeof want);
    if (!rec) {
        snprintf(msg, sizeof msg,
                 "collection '%s' has no model record (written by Python vecs or an older "
                 "clipsearch): cannot check that model %s built it",
                 name, want);
        json_decref(attrs);
        if (!(*warning = strdup(msg))) return cs_error_set(err, CS_E_NOMEM, "out of memory");
        return 0;
    }
    describe_stored(rec, have, sizeof have);
    json_t *from = json_object_get(rec, "reembed_from");
    bool pending = json_is_object(from);
    bool same_model = !strcmp(str_at(rec, "model", "fingerprint"), id->fingerprint);
    bool from_model = pending && !strcmp(str_at(from, "model", "fingerprint"), id->fingerprint);
    if (use == CS_MODEL_USE_QUERY) {
        if (same_model || from_model) {
            if (pending) {
                char old[4500];
                describe_stored(from, old, sizeof old);
                snprintf(msg, sizeof msg,
                         "collection '%s' is being re-embedded from model %s to %s "
                         "(a re-embedding was interrupted): results mix both "
                         "models until it is run again to the end",
                         name, old, have);
                if (!(*warning = strdup(msg))) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
            }
        } else {
            rc = other_model(err, name, have, want, str_at(rec, "model", "path"),
                             "its vectors cannot be compared with this model's");
        }
        json_decref(attrs);
        return rc;
    }
    /* Indexing without re-embedding: the same model and the same preprocessing. */
    if (!same_model) {
        rc = other_model(err, name, have, want, str_at(rec, "model", "path"),
                         "adding this model's vectors would mix incomparable numbers");
    } else if (pending) {
        rc = cs_error_set_remedy(err, CS_E_MODEL_MISMATCH, CS_REMEDY_FINISH_REEMBED,
                                 "collection '%s' is in the middle of a re-embedding with model "
                                 "%s (it was interrupted): run the re-embedding again to "
                                 "finish it",
                                 name, have);
    } else {
        int exif = bool_at(rec, "preprocess", "exif_orientation");
        int fast = bool_at(rec, "preprocess", "fast_decode");
        if (exif >= 0 && exif != id->exif_orientation)
            rc = other_preprocess(err, name, exif, "EXIF orientation",
                                  id->exif_orientation ? "applies" : "ignores");
        else if (fast >= 0 && fast != id->fast_decode)
            rc = other_preprocess(err, name, fast, "fast decoding",
                                  id->fast_decode ? "uses" : "does not use");
    }
    json_decref(attrs);
    return rc;
}

/* Sets the record's model and preprocessing to id (keeping the precision list). */
static int set_identity(json_t *rec, const cs_model_identity *id)
{
    return json_object_set_new(rec, "model", model_json(id)) ||
           json_object_set_new(rec, "preprocess", preprocess_json(id));
}

static int add_precision(json_t *rec, const cs_model_identity *id)
{
    json_t *list = json_object_get(rec, "precision");
    if (!json_is_array(list)) {
        list = json_array();
        if (!list || json_object_set_new(rec, "precision", list)) return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (!strcmp(json_string_value(v) ? json_string_value(v) : "",
                                               precision_name(id->precision))) return 0;
    return json_array_append_new(list, json_string(precision_name(id->precision)));
}

int cs_model_record_update(cs_collection *coll, const cs_model_identity *id, bool create,
                           bool *recorded, cs_error *err)
{
    *recorded = false;
    json_t *attrs, *rec;
    int rc = load(coll, &attrs, &rec, err);
    if (rc) return rc;
    if (!rec) {
        if (!create) {
            json_decref(attrs);
            return 0;
        }
        rec = json_object();
        if (!rec || json_object_set_new(attrs, "model_record", rec) || set_identity(rec, id)) {
            json_decref(attrs);
            return cs_error_set(err, CS_E_NOMEM, "out of memory");
        }
    } else if (strcmp(str_at(rec, "model", "fingerprint"), id->fingerprint) != 0) {
        json_decref(attrs);   /* another model's collection: cs_model_record_check refuses */
        return 0;
    }
    if (add_precision(rec, id)) rc = cs_error_set(err, CS_E_NOMEM, "out of memory");
    if (!rc) rc = save(coll, attrs, err);
    *recorded = rc == 0;
    json_decref(attrs);
    return rc;
}

int cs_model_record_begin_reembed(cs_collection *coll, const cs_model_identity *id,
                                  cs_error *err)
{
    json_t *attrs, *rec;
    int rc = load(coll, &attrs, &rec, err);
    if (rc) return rc;
    bool oom = false;
    if (!rec) {
        /* No record: what was there before is unknown. */
        rec = json_object();
        oom = !rec || json_object_set_new(attrs, "model_record", rec) ||
              json_object_set_new(rec, "reembed_from",
                                  json_pack("{s:{s:s, s:s, s:s}}", "model", "name", "unknown",
                                            "path", "unknown", "fingerprint", "unknown"));
    } else if (!json_is_object(json_object_get(rec, "reembed_from"))) {
        json_t *from = json_pack("{s:O?, s:O?}", "model", json_object_get(rec, "model"),
                                 "preprocess", json_object_get(rec, "preprocess"));
        oom = !from || json_object_set_new(rec, "reembed_from", from);
    }
    /* From now on the record names the new model; the precisions start over. */
    oom = oom || set_identity(rec, id) || json_object_set_new(rec, "precision", json_array()) ||
          add_precision(rec, id);
    rc = oom ? cs_error_set(err, CS_E_NOMEM, "out of memory") : save(coll, attrs, err);
    json_decref(attrs);
    return rc;
}

int cs_model_record_finish_reembed(cs_collection *coll, cs_error *err)
{
    json_t *attrs, *rec;
    int rc = load(coll, &attrs, &rec, err);
    if (rc == 0 && rec && json_object_get(rec, "reembed_from")) {
        json_object_del(rec, "reembed_from");
        rc = save(coll, attrs, err);
    }
    json_decref(attrs);
    return rc;
}
