/* The collection's attributes (store.h): validated as a JSON object and stored compact,
 * so what a backend keeps is always parseable whatever the caller passed; and its other
 * clipsearch-only setting, the compressed vector copy. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

int cs_collection_get_attrs(cs_collection *coll, char **json, cs_error *err)
{
    *json = NULL;
    cs__backend *b = coll->store->backend;
    return b->ops->get_attrs(b, coll->name, json, err);
}

int cs_collection_set_attrs(cs_collection *coll, const char *json, cs_error *err)
{
    cs__backend *b = coll->store->backend;
    int rc = cs__store_check_writable(coll->store, "set collection attributes", err);
    if (rc) return rc;
    if (!json) return b->ops->set_attrs(b, coll->name, NULL, err);
    json_error_t je;
    json_t *v = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!v || !json_is_object(v)) {
        json_decref(v);
        return cs_error_set(err, CS_E_ARG, "collection attributes must be a JSON object%s%s",
                            v ? "" : ": ", v ? "" : je.text);
    }
    char *compact = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(v);
    if (!compact) return cs_error_set(err, CS_E_NOMEM, "out of memory");
    rc = b->ops->set_attrs(b, coll->name, compact, err);
    free(compact);
    return rc;
}

static const char *const COPY_NAMES[] = {"none", "fp16", "int8"};

const char *cs_vector_copy_name(cs_vector_copy c)
{
    return (unsigned)c < 3 ? COPY_NAMES[c] : "unknown";
}

int cs_vector_copy_parse(const char *name, cs_vector_copy *out, cs_error *err)
{
    for (unsigned i = 0; i < 3; i++)
        if (name && !strcmp(name, COPY_NAMES[i])) {
            *out = (cs_vector_copy)i;
            return 0;
        }
    return cs_error_set(err, CS_E_ARG, "invalid vector copy '%s' (none, fp16 or int8)",
                        name ? name : "");
}

int cs_collection_set_vector_copy(cs_collection *coll, cs_vector_copy copy, cs_error *err)
{
    cs__backend *b = coll->store->backend;
    if ((unsigned)copy > CS_VECTOR_COPY_INT8)
        return cs_error_set(err, CS_E_ARG, "invalid vector copy %d", (int)copy);
    int rc = cs__store_check_writable(coll->store, "set the vector copy", err);
    if (rc) return rc;
    if (!b->ops->set_vector_copy)
        return cs_error_set(err, CS_E_ARG, "compressed vector copies are a feature of the SQLite "
                            "store (the %s store scans its own vectors)", b->ops->name);
    return b->ops->set_vector_copy(b, coll->name, copy, err);
}

int cs_collection_vector_copy(cs_collection *coll, cs_vector_copy *copy, cs_error *err)
{
    cs__backend *b = coll->store->backend;
    *copy = CS_VECTOR_COPY_NONE;
    return b->ops->vector_copy ? b->ops->vector_copy(b, coll->name, copy, err) : 0;
}
